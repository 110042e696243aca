//! Request planning: which CIP requests read a set of addresses.
//!
//! Every read is a Multiple Service Packet (0x0A) to the Message Router, holding
//! - a Read Tag (0x4C) of one element per single address, and
//! - a Read Tag Fragmented (0x52) per run of consecutive elements of one array (`Scada[0]`,
//!   `Scada[1]`, ...), so a run costs one item instead of one per element.
//!
//! Addresses that encode to the same path are read once. Items are packed in address order
//! into as few packets as the unconnected message limit allows: both the request and the
//! largest reply it can produce must fit the [`Budget`]. Element types are unknown until the
//! first reply, so a run's reply is budgeted at 8 bytes per element (the widest atomic type) and
//! a run too long for one packet is split across packets.

use super::address::{push_element, TagAddress};
use super::codec::{encode_read_tag, encode_read_tag_fragmented, multiple_service_request_len};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Elements of one array: index → positions of the addresses naming it.
type Elements = BTreeMap<u32, Vec<usize>>;

/// Widest atomic element (LINT, ULINT, LREAL, LWORD).
pub(crate) const MAX_ELEMENT: usize = 8;
/// Reply item header: service, reserved, status, extended size (4), data type (2).
const ITEM_REPLY_HEADER: usize = 6;
/// Multiple Service Packet reply header: service, reserved, status, extended size, count.
const MULTIPLE_REPLY_HEADER: usize = 6;

/// Size limits of one request (the whole CIP request as sent) and its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Largest Multiple Service Packet request (without any Unconnected Send wrapping).
    pub(crate) request: usize,
    pub(crate) reply: usize,
}

/// One item of a Multiple Service Packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Read Tag of one element; `outputs` are the positions of the addresses it answers.
    Single { path: Vec<u8>, outputs: Vec<usize> },
    /// Read Tag Fragmented of `outputs.len()` consecutive elements from `base[start]`;
    /// `outputs[k]` are the positions of the addresses of element `start + k`.
    Range { base: Vec<u8>, start: u32, outputs: Vec<Vec<usize>> },
}

impl Item {
    /// The item's request (offset 0 for a range).
    pub(crate) fn request(&self) -> Vec<u8> {
        match self {
            Item::Single { path, .. } => encode_read_tag(path, 1),
            Item::Range { base, start, outputs } => {
                let count = u16::try_from(outputs.len()).unwrap_or(u16::MAX);
                encode_read_tag_fragmented(&element_path(base, *start), count, 0)
            }
        }
    }

    /// The largest reply item this request can produce.
    pub(crate) fn max_reply(&self) -> usize {
        match self {
            Item::Single { .. } => ITEM_REPLY_HEADER + MAX_ELEMENT,
            Item::Range { outputs, .. } => ITEM_REPLY_HEADER + MAX_ELEMENT * outputs.len(),
        }
    }

    /// The first output position (for ordering).
    fn first_output(&self) -> usize {
        match self {
            Item::Single { outputs, .. } => outputs.iter().min().copied().unwrap_or(usize::MAX),
            Item::Range { outputs, .. } => outputs.iter().flatten().min().copied().unwrap_or(usize::MAX),
        }
    }

    /// A range as one Single per element (used when a range read fails).
    pub(crate) fn into_singles(self) -> Vec<Item> {
        match self {
            single @ Item::Single { .. } => vec![single],
            Item::Range { base, start, outputs } => outputs
                .into_iter()
                .zip(start..)
                .map(|(outputs, i)| Item::Single { path: element_path(&base, i), outputs })
                .collect(),
        }
    }
}

/// The path of element `index` under `base`.
pub(crate) fn element_path(base: &[u8], index: u32) -> Vec<u8> {
    let mut p = base.to_vec();
    push_element(&mut p, index);
    p
}

/// The items reading `addresses` (before packing): duplicates merged, runs of consecutive
/// array elements made into ranges, in order of first appearance.
pub(crate) fn items(addresses: &[TagAddress]) -> Vec<Item> {
    let mut singles: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    let mut arrays: Vec<(Vec<u8>, Elements)> = Vec::new();
    let mut single_index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut array_index: HashMap<Vec<u8>, usize> = HashMap::new();
    for (pos, a) in addresses.iter().enumerate() {
        match a.range_base() {
            Some((base, index)) => {
                let k = *array_index.entry(base.clone()).or_insert_with(|| {
                    arrays.push((base, Elements::new()));
                    arrays.len() - 1
                });
                if let Some((_, m)) = arrays.get_mut(k) {
                    m.entry(index).or_default().push(pos);
                }
            }
            None => {
                let path = a.path();
                let k = *single_index.entry(path.clone()).or_insert_with(|| {
                    singles.push((path, Vec::new()));
                    singles.len() - 1
                });
                if let Some((_, o)) = singles.get_mut(k) {
                    o.push(pos);
                }
            }
        }
    }
    let mut out: Vec<Item> = singles.into_iter().map(|(path, outputs)| Item::Single { path, outputs }).collect();
    for (base, elements) in arrays {
        let mut run: Option<(u32, Vec<Vec<usize>>)> = None;
        for (index, outputs) in elements {
            match &mut run {
                Some((start, outs)) if u64::from(*start) + outs.len() as u64 == u64::from(index) => outs.push(outputs),
                _ => {
                    if let Some((start, outs)) = run.take() {
                        out.push(range_or_single(&base, start, outs));
                    }
                    run = Some((index, vec![outputs]));
                }
            }
        }
        if let Some((start, outs)) = run {
            out.push(range_or_single(&base, start, outs));
        }
    }
    out.sort_by_key(Item::first_output);
    out
}

fn range_or_single(base: &[u8], start: u32, mut outputs: Vec<Vec<usize>>) -> Item {
    if outputs.len() == 1 {
        Item::Single { path: element_path(base, start), outputs: outputs.pop().unwrap_or_default() }
    } else {
        Item::Range { base: base.to_vec(), start, outputs }
    }
}

/// Pack items into Multiple Service Packets within `budget`, splitting ranges that do not fit.
pub(crate) fn pack(items: Vec<Item>, budget: Budget) -> Vec<Vec<Item>> {
    let empty_request = multiple_service_request_len([]);
    let mut packets: Vec<Vec<Item>> = Vec::new();
    let mut cur: Vec<Item> = Vec::new();
    let (mut req_len, mut reply_len) = (empty_request, MULTIPLE_REPLY_HEADER);
    let mut queue: VecDeque<Item> = items.into();
    while let Some(item) = queue.pop_front() {
        let item_req = 2 + item.request().len();
        if req_len + item_req <= budget.request && reply_len + 2 + item.max_reply() <= budget.reply {
            req_len += item_req;
            reply_len += 2 + item.max_reply();
            cur.push(item);
            continue;
        }
        if let Item::Range { base, start, mut outputs } = item {
            // As many elements as the reply has room for here, if that is at least two.
            let room = budget.reply.saturating_sub(reply_len + 2 + ITEM_REPLY_HEADER) / MAX_ELEMENT;
            let n = room.min(usize::from(u16::MAX));
            if n >= 2 && n < outputs.len() && req_len + item_req <= budget.request {
                let rest = outputs.split_off(n);
                let rest_start = start.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                queue.push_front(range_or_single(&base, rest_start, rest));
                queue.push_front(Item::Range { base, start, outputs });
            } else if cur.is_empty() {
                // Not even two elements fit an empty packet (a tiny budget): element by element.
                for single in (Item::Range { base, start, outputs }).into_singles().into_iter().rev() {
                    queue.push_front(single);
                }
            } else {
                queue.push_front(Item::Range { base, start, outputs });
                packets.push(std::mem::take(&mut cur));
                (req_len, reply_len) = (empty_request, MULTIPLE_REPLY_HEADER);
            }
        } else if cur.is_empty() {
            // An item larger than a packet on its own goes alone (addresses are capped so that
            // this does not happen with the standard budget).
            packets.push(vec![item]);
        } else {
            queue.push_front(item);
            packets.push(std::mem::take(&mut cur));
            (req_len, reply_len) = (empty_request, MULTIPLE_REPLY_HEADER);
        }
    }
    if !cur.is_empty() {
        packets.push(cur);
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::super::address::parse_address;
    use super::super::codec::encode_multiple_service;
    use super::*;
    use proptest::prelude::*;

    const BUDGET: Budget = Budget { request: 480, reply: 490 };

    fn parse(addrs: &[String]) -> Vec<TagAddress> {
        addrs.iter().map(|a| parse_address(a).unwrap()).collect()
    }

    /// Every output position appears exactly once, and every packet respects the budget.
    fn check(packets: &[Vec<Item>], n: usize, budget: Budget) {
        let mut seen = vec![0; n];
        for p in packets {
            let reqs: Vec<Vec<u8>> = p.iter().map(Item::request).collect();
            assert!(encode_multiple_service(&reqs).len() <= budget.request, "request too large");
            let reply = MULTIPLE_REPLY_HEADER + p.iter().map(|i| 2 + i.max_reply()).sum::<usize>();
            assert!(reply <= budget.reply, "reply too large: {reply}");
            for item in p {
                match item {
                    Item::Single { outputs, .. } => outputs.iter().for_each(|&o| seen[o] += 1),
                    Item::Range { outputs, .. } => {
                        assert!(outputs.len() >= 2);
                        outputs.iter().flatten().for_each(|&o| seen[o] += 1)
                    }
                }
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
    }

    #[test]
    fn hundred_elements_and_scalars_take_two_packets() {
        let mut addrs: Vec<String> = (0..100).map(|i| format!("Scada[{i}]")).collect();
        addrs.extend(["Counter", "Temp", "Flag"].map(String::from));
        let packets = pack(items(&parse(&addrs)), BUDGET);
        check(&packets, addrs.len(), BUDGET);
        assert_eq!(packets.len(), 2, "{packets:#?}");
        assert!(matches!(&packets[0][0], Item::Range { start: 0, .. }));
    }

    #[test]
    fn runs_are_split_at_gaps_and_duplicates_read_once() {
        let addrs: Vec<String> =
            ["A[1]", "A[2]", "A[3]", "A[5]", "B", "A[2]", "B", "A[7]", "A[8]"].map(String::from).to_vec();
        let it = items(&parse(&addrs));
        assert_eq!(it.len(), 4, "{it:#?}");
        assert!(
            matches!(&it[0], Item::Range { start: 1, outputs, .. } if outputs.len() == 3 && outputs[1] == vec![1, 5])
        );
        assert!(matches!(&it[1], Item::Single { outputs, .. } if outputs == &vec![3]));
        assert!(matches!(&it[2], Item::Single { outputs, .. } if outputs == &vec![4, 6]));
        assert!(matches!(&it[3], Item::Range { start: 7, .. }));
    }

    #[test]
    fn failed_range_becomes_singles_with_element_paths() {
        let addrs: Vec<String> = ["A[254]", "A[255]", "A[256]"].map(String::from).to_vec();
        let it = items(&parse(&addrs));
        let singles = it.into_iter().next().unwrap().into_singles();
        assert_eq!(singles.len(), 3);
        let want = parse(&addrs)[2].path();
        assert!(matches!(&singles[2], Item::Single { path, outputs } if path == &want && outputs == &vec![2]));
    }

    proptest! {
        #[test]
        fn packing_covers_every_address_within_budget(
            picks in proptest::collection::vec((0u8..4, 0u32..400), 1..300),
            request in 120usize..600,
        ) {
            let names = ["Scada", "Program:MainProgram.LongerArrayName", "X", "Line[3].Speed"];
            let addrs: Vec<String> = picks.iter().map(|(n, i)| {
                if *i % 7 == 0 { names[*n as usize].to_string() } else { format!("{}[{i}]", names[*n as usize]) }
            }).collect();
            let budget = Budget { request, reply: request };
            check(&pack(items(&parse(&addrs)), budget), addrs.len(), budget);
        }
    }
}
