//! Read planning: turn a list of addresses into as few MC requests as the frame limits allow.
//!
//! - Word-device addresses are grouped per device into runs of nearby words (gaps up to
//!   [`WORD_GAP`] words are read and discarded) and each run is one 0401 batch read in word
//!   units of at most 960 words.
//! - Runs of 1, 2 or 4 words left on their own (scattered tags) go into 0403 random reads (word
//!   points for 1 word, double-word points for 2 and 4 words), at most 192 points per request,
//!   when there are at least two of them.
//! - Bit-device addresses are grouped the same way (gaps up to [`BIT_GAP`] points); a run of up
//!   to [`BIT_UNIT_SPAN`] points is read in bit units, a longer one (X, Y, M, L, F, V, B, S, SM,
//!   SB, DX, DY only) as 16-point words from a head that is a multiple of 16, up to 960 words;
//!   timer and counter contacts/coils are read in bit units, up to 3584 points.

use super::address::{Access, Address, Device, DeviceKind};
use super::codec::{
    device_descriptor, CMD_BATCH_READ, CMD_RANDOM_READ, MAX_BATCH_BITS, MAX_BATCH_WORDS, MAX_RANDOM_POINTS, SUB_BIT,
    SUB_WORD,
};

/// Largest gap (in words) read through rather than starting a new request.
pub(crate) const WORD_GAP: u32 = 32;
/// Largest gap (in points) of a bit device read through.
pub(crate) const BIT_GAP: u32 = 64;
/// Bit runs up to this many points are read in bit units; longer ones as words where allowed.
pub(crate) const BIT_UNIT_SPAN: u32 = 256;

/// What a request's reply data holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// This many little-endian words.
    Words(usize),
    /// This many bit-unit points.
    Bits(usize),
}

/// Where an item's value lies in its request's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extract {
    /// `count` words from word `offset` (low word first).
    Words { offset: usize, count: usize },
    /// Bit `bit` of word `offset`.
    WordBit { offset: usize, bit: u8 },
    /// Point `offset` of bit-unit data.
    Bit { offset: usize },
}

/// One planned request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) command: u16,
    pub(crate) subcommand: u16,
    /// Request data after the subcommand.
    pub(crate) body: Vec<u8>,
    pub(crate) expect: Expect,
    /// (index of the address in the plan, where its value is).
    pub(crate) items: Vec<(usize, Extract)>,
    /// For messages: "0401 batch read D100..D1059 (960 words)".
    pub(crate) what: String,
}

/// A prepared plan: the parsed addresses and their requests.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) addresses: Vec<(String, Address)>,
    pub(crate) requests: Vec<Request>,
}

/// A run of one device's points read together: [head, end).
#[derive(Debug)]
struct Run {
    device: &'static Device,
    head: u32,
    end: u32,
    items: Vec<usize>,
}

/// Plan the requests for these parsed addresses.
pub(crate) fn plan(addresses: Vec<(String, Address)>) -> Plan {
    let mut word_runs = Vec::new();
    let mut bit_runs = Vec::new();
    let mut order: Vec<usize> = (0..addresses.len()).collect();
    order.sort_by_key(|&i| (addresses[i].1.device.code, addresses[i].1.number));
    for i in order {
        let a = &addresses[i].1;
        let (start, end) = (a.number, a.number + a.points());
        let (runs, gap): (&mut Vec<Run>, u32) = match a.device.kind {
            DeviceKind::Word => (&mut word_runs, WORD_GAP),
            DeviceKind::Bit => (&mut bit_runs, BIT_GAP),
        };
        let fits = |r: &Run| {
            let new_end = r.end.max(end);
            let span_ok = match a.device.kind {
                DeviceKind::Word => new_end - r.head <= MAX_BATCH_WORDS,
                DeviceKind::Bit if a.device.word_view => align_up(new_end) - align_down(r.head) <= MAX_BATCH_WORDS * 16,
                DeviceKind::Bit => new_end - r.head <= MAX_BATCH_BITS,
            };
            std::ptr::eq(r.device, a.device) && start <= r.end + gap && span_ok
        };
        match runs.last_mut() {
            Some(r) if fits(r) => {
                r.end = r.end.max(end);
                r.items.push(i);
            }
            _ => runs.push(Run { device: a.device, head: start, end, items: vec![i] }),
        }
    }

    let mut requests = Vec::new();
    // Scattered word runs go into random reads when there are at least two of them.
    let (scattered, batched): (Vec<Run>, Vec<Run>) =
        word_runs.into_iter().partition(|r| matches!(r.end - r.head, 1 | 2 | 4));
    let batched = if scattered.len() >= 2 {
        requests.extend(random_reads(&addresses, scattered));
        batched
    } else {
        batched.into_iter().chain(scattered).collect()
    };
    for r in batched {
        requests.push(word_batch(&addresses, &r));
    }
    for r in bit_runs {
        requests.push(bit_batch(&addresses, &r));
    }
    Plan { addresses, requests }
}

/// One request per address: used when a combined request was refused, so that one bad address
/// does not take its neighbours down with it.
pub(crate) fn single(addresses: &[(String, Address)], index: usize) -> Option<Request> {
    let a = &addresses.get(index)?.1;
    let run = Run { device: a.device, head: a.number, end: a.number + a.points(), items: vec![index] };
    Some(match a.device.kind {
        DeviceKind::Word => word_batch(addresses, &run),
        DeviceKind::Bit => bit_batch(addresses, &run),
    })
}

fn align_down(n: u32) -> u32 {
    n & !15
}

fn align_up(n: u32) -> u32 {
    n.div_ceil(16) * 16
}

fn batch_body(head: u32, code: u8, points: u32) -> Vec<u8> {
    let mut body = device_descriptor(head, code).to_vec();
    body.extend_from_slice(&(points as u16).to_le_bytes());
    body
}

fn name(d: &Device, n: u32) -> String {
    if d.hex {
        format!("{}{n:X}", d.name)
    } else {
        format!("{}{n}", d.name)
    }
}

fn word_batch(addresses: &[(String, Address)], r: &Run) -> Request {
    let points = r.end - r.head;
    let items = r
        .items
        .iter()
        .map(|&i| {
            let a = &addresses[i].1;
            let offset = (a.number - r.head) as usize;
            let x = match a.access {
                Access::WordBit(bit) => Extract::WordBit { offset, bit },
                _ => Extract::Words { offset, count: a.points() as usize },
            };
            (i, x)
        })
        .collect();
    Request {
        command: CMD_BATCH_READ,
        subcommand: SUB_WORD,
        body: batch_body(r.head, r.device.code, points),
        expect: Expect::Words(points as usize),
        items,
        what: format!(
            "0401 batch read {}..{} ({points} word{})",
            name(r.device, r.head),
            name(r.device, r.end - 1),
            if points == 1 { "" } else { "s" }
        ),
    }
}

fn bit_batch(addresses: &[(String, Address)], r: &Run) -> Request {
    let span = r.end - r.head;
    if r.device.word_view && span > BIT_UNIT_SPAN {
        let head = align_down(r.head);
        let words = (align_up(r.end) - head) / 16;
        let items = r
            .items
            .iter()
            .map(|&i| {
                let rel = addresses[i].1.number - head;
                (i, Extract::WordBit { offset: (rel / 16) as usize, bit: (rel % 16) as u8 })
            })
            .collect();
        return Request {
            command: CMD_BATCH_READ,
            subcommand: SUB_WORD,
            body: batch_body(head, r.device.code, words),
            expect: Expect::Words(words as usize),
            items,
            what: format!(
                "0401 batch read {}..{} ({words} words of 16 points)",
                name(r.device, head),
                name(r.device, head + words * 16 - 1)
            ),
        };
    }
    let items =
        r.items.iter().map(|&i| (i, Extract::Bit { offset: (addresses[i].1.number - r.head) as usize })).collect();
    Request {
        command: CMD_BATCH_READ,
        subcommand: SUB_BIT,
        body: batch_body(r.head, r.device.code, span),
        expect: Expect::Bits(span as usize),
        items,
        what: format!(
            "0401 batch read {}..{} ({span} point{})",
            name(r.device, r.head),
            name(r.device, r.end - 1),
            if span == 1 { "" } else { "s" }
        ),
    }
}

/// Pack scattered runs (1, 2 or 4 words each) into 0403 random reads. A reply holds all word
/// points first, then all double-word points (low word first), so each run's words stay
/// contiguous in the reply.
fn random_reads(addresses: &[(String, Address)], runs: Vec<Run>) -> Vec<Request> {
    let mut out = Vec::new();
    let mut batch: Vec<Run> = Vec::new();
    let mut points = 0;
    for r in runs {
        let p = if r.end - r.head == 4 { 2 } else { 1 };
        if points + p > MAX_RANDOM_POINTS {
            out.push(random_read(addresses, std::mem::take(&mut batch)));
            points = 0;
        }
        points += p;
        batch.push(r);
    }
    if !batch.is_empty() {
        out.push(random_read(addresses, batch));
    }
    out
}

fn random_read(addresses: &[(String, Address)], runs: Vec<Run>) -> Request {
    let (words, dwords): (Vec<&Run>, Vec<&Run>) = runs.iter().partition(|r| r.end - r.head == 1);
    let mut word_desc = Vec::new();
    let mut dword_desc = Vec::new();
    let mut items = Vec::new();
    for r in &words {
        let offset = word_desc.len();
        word_desc.push(device_descriptor(r.head, r.device.code));
        items.extend(r.items.iter().map(|&i| (i, extract_at(&addresses[i].1, offset))));
    }
    let base = words.len();
    for r in &dwords {
        let offset = base + 2 * dword_desc.len();
        let mut n = r.head;
        while n < r.end {
            dword_desc.push(device_descriptor(n, r.device.code));
            n += 2;
        }
        items.extend(
            r.items
                .iter()
                .map(|&i| (i, extract_at(&addresses[i].1, offset + (addresses[i].1.number - r.head) as usize))),
        );
    }
    let mut body = vec![word_desc.len() as u8, dword_desc.len() as u8];
    for d in word_desc.iter().chain(&dword_desc) {
        body.extend_from_slice(d);
    }
    let total = word_desc.len() + 2 * dword_desc.len();
    let list: Vec<String> = runs.iter().map(|r| name(r.device, r.head)).take(4).collect();
    Request {
        command: CMD_RANDOM_READ,
        subcommand: SUB_WORD,
        body,
        expect: Expect::Words(total),
        items,
        what: format!(
            "0403 random read of {} word and {} double-word points ({}{})",
            word_desc.len(),
            dword_desc.len(),
            list.join(", "),
            if runs.len() > 4 { ", ..." } else { "" }
        ),
    }
}

fn extract_at(a: &Address, offset: usize) -> Extract {
    match a.access {
        Access::WordBit(bit) => Extract::WordBit { offset, bit },
        _ => Extract::Words { offset, count: a.points() as usize },
    }
}

#[cfg(test)]
mod tests {
    use super::super::address::parse_address;
    use super::*;

    fn plan_of(list: &[&str]) -> Plan {
        plan(list.iter().map(|s| (s.to_string(), parse_address(s).unwrap())).collect())
    }

    #[test]
    fn two_thousand_words_take_three_requests() {
        let list: Vec<String> = (1000..3000).map(|n| format!("D{n}")).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let p = plan_of(&refs);
        assert_eq!(p.requests.len(), 3);
        assert_eq!(
            p.requests.iter().map(|r| r.expect).collect::<Vec<_>>(),
            [Expect::Words(960), Expect::Words(960), Expect::Words(80)]
        );
        assert!(p.requests[2].what.contains("D1920..D1999") || p.requests[2].what.contains("D2920..D2999"));
        assert_eq!(p.requests[2].items.last(), Some(&(1999, Extract::Words { offset: 79, count: 1 })));
    }

    #[test]
    fn nearby_words_merge_and_multiword_types_stay_whole() {
        let p = plan_of(&["D100", "D101:f32", "D120.3", "D958:f64"]);
        assert_eq!(p.requests.len(), 2, "{:#?}", p.requests);
        assert_eq!(p.requests[0].expect, Expect::Words(21));
        // A chain of small gaps up to D958:f32 ends at 960 words: one request ...
        let mut list: Vec<String> = (0..32).map(|n| format!("D{}", n * 30)).collect();
        list.push("D958:f32".into());
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        assert_eq!(plan_of(&refs).requests.len(), 1);
        // ... and D959:f32 would pass 960 words, so it starts a request of its own, whole.
        list.pop();
        list.push("D959:f32".into());
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let p = plan_of(&refs);
        assert_eq!(p.requests.len(), 2, "{:#?}", p.requests);
        assert_eq!(p.requests[1].expect, Expect::Words(2));
    }

    #[test]
    fn scattered_words_use_random_reads() {
        let p = plan_of(&["D100", "D5000:f32", "W1F", "R7:f64", "D9000.2"]);
        assert_eq!(p.requests.len(), 1, "{:#?}", p.requests);
        let r = &p.requests[0];
        assert_eq!((r.command, r.subcommand), (CMD_RANDOM_READ, SUB_WORD));
        // Word points D100, W1F, D9000; double-word points D5000, R7, R9.
        assert_eq!(r.body[..2], [3, 3]);
        assert_eq!(r.expect, Expect::Words(3 + 6));
        let by_index: std::collections::HashMap<usize, Extract> = r.items.iter().copied().collect();
        assert_eq!(by_index[&1], Extract::Words { offset: 3, count: 2 });
        assert_eq!(by_index[&3], Extract::Words { offset: 5, count: 4 });
        assert!(matches!(by_index[&4], Extract::WordBit { bit: 2, .. }));
        // A single scattered tag is a plain batch read.
        assert_eq!(plan_of(&["D100"]).requests[0].command, CMD_BATCH_READ);
    }

    #[test]
    fn random_reads_split_at_192_points() {
        let list: Vec<String> = (0..300).map(|n| format!("D{}", n * 100)).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let p = plan_of(&refs);
        assert_eq!(p.requests.len(), 2);
        assert_eq!(p.requests[0].body[0], 192);
        assert_eq!(p.requests[1].body[0], 108);
    }

    #[test]
    fn bits_read_in_bit_units_or_as_words() {
        let p = plan_of(&["M10", "M11", "M13"]);
        assert_eq!(p.requests.len(), 1);
        assert_eq!((p.requests[0].subcommand, p.requests[0].expect), (SUB_BIT, Expect::Bits(4)));
        let p = plan_of(&["M3", "M1000"]);
        assert_eq!(p.requests.len(), 2);
        let list: Vec<String> = (0..1000).map(|n| format!("M{}", n * 5 + 3)).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let p = plan_of(&refs);
        assert_eq!(p.requests.len(), 1);
        let r = &p.requests[0];
        assert_eq!((r.subcommand, r.expect), (SUB_WORD, Expect::Words(313)));
        assert_eq!(r.items[1], (1, Extract::WordBit { offset: 0, bit: 8 }));
        // Timer contacts never use the word view: 5,000 points are two bit-unit requests.
        let list: Vec<String> = (0..5000).map(|n| format!("TS{n}")).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let p = plan_of(&refs);
        assert_eq!(p.requests.iter().map(|r| r.expect).collect::<Vec<_>>(), [Expect::Bits(3584), Expect::Bits(1416)]);
        // X in hex: X10 and X1F are 16 apart.
        let p = plan_of(&["X10", "X1F"]);
        assert_eq!(p.requests[0].expect, Expect::Bits(16));
    }

    #[test]
    fn devices_never_share_a_request() {
        let p = plan_of(&["D0", "W0", "R0:i32", "M0", "L0"]);
        assert_eq!(p.requests.len(), 3, "{:#?}", p.requests);
        assert_eq!(p.requests[0].command, CMD_RANDOM_READ);
    }

    #[test]
    fn single_requests_cover_one_address() {
        let addresses = vec![("D5:f64".to_string(), parse_address("D5:f64").unwrap())];
        let r = single(&addresses, 0).unwrap();
        assert_eq!(
            (r.expect, r.items.as_slice()),
            (Expect::Words(4), [(0, Extract::Words { offset: 0, count: 4 })].as_slice())
        );
        assert!(single(&addresses, 1).is_none());
    }
}
