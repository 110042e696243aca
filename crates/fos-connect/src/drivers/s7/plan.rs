//! Read planning: tags → byte ranges → Read Var requests that fit the negotiated PDU.
//!
//! 1. [`coalesce`]: tags of the same area (and DB) whose byte spans overlap or lie at most
//!    [`MAX_GAP`] bytes apart become one byte range (a bit is read as its byte).
//! 2. [`pack`]: ranges become items of Read Var requests. A request holds at most
//!    [`MAX_ITEMS`] items and must fit the PDU both ways: the job (12 + 12 per item bytes) and the
//!    ack-data (14 + per item 4 + data, padded to even). A range that does not fit one request
//!    is split into as many parts as needed (its first part filling what is left of the current
//!    request); a range that fits one request is never split.

use super::address::{Area, S7Address};
use super::codec::{READ_REPLY_ITEM_HEADER, READ_REPLY_OVERHEAD, READ_REQUEST_ITEM, READ_REQUEST_OVERHEAD};

/// Largest gap, in bytes, read in passing to join two tags into one item. An item costs 12 bytes
/// of request and 4 (+1 fill) of reply, so reading up to 8 unused bytes is cheaper.
pub(crate) const MAX_GAP: u32 = 8;
/// Items per Read Var job: the S7-300/400 CPUs (and Snap7) accept at most 20.
pub(crate) const MAX_ITEMS: usize = 20;
/// Do not split off a first part smaller than this just to fill a request.
const MIN_SPLIT: usize = 16;

/// A contiguous byte range of one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) area: Area,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Range {
    pub(crate) fn end(&self) -> u32 {
        self.start + self.len
    }
}

/// Part of a range read as one Read Var item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Index into the plan's ranges.
    pub(crate) range: usize,
    /// Offset of the part within its range.
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

/// Join tags into ranges. Returns the ranges and, per tag (in input order), the index of the
/// range holding it.
pub(crate) fn coalesce(tags: &[S7Address], max_gap: u32) -> (Vec<Range>, Vec<usize>) {
    let mut order: Vec<usize> = (0..tags.len()).collect();
    order.sort_by_key(|&i| (tags[i].area, tags[i].byte));
    let mut ranges: Vec<Range> = Vec::new();
    let mut of_tag = vec![0usize; tags.len()];
    for i in order {
        let t = &tags[i];
        let end = t.byte + t.byte_len();
        match ranges.last_mut() {
            Some(r) if r.area == t.area && t.byte <= r.end().saturating_add(max_gap) => {
                r.len = r.len.max(end - r.start);
            }
            _ => ranges.push(Range { area: t.area, start: t.byte, len: t.byte_len() }),
        }
        of_tag[i] = ranges.len() - 1;
    }
    (ranges, of_tag)
}

/// Largest part of a range one item may carry at this PDU size (even, so no fill byte).
pub(crate) fn max_item_data(pdu: usize) -> usize {
    pdu.saturating_sub(READ_REPLY_OVERHEAD + READ_REPLY_ITEM_HEADER) & !1
}

/// Items that fit one request at this PDU size (job side and the 20-item limit).
pub(crate) fn max_items(pdu: usize) -> usize {
    (pdu.saturating_sub(READ_REQUEST_OVERHEAD) / READ_REQUEST_ITEM).min(MAX_ITEMS)
}

/// Pack ranges into Read Var requests for PDU size `pdu` (see the module documentation).
/// Every byte of every range is covered by exactly one chunk. `pdu` must leave room for one item
/// with data (the driver refuses smaller PDUs at connect).
pub(crate) fn pack(ranges: &[Range], pdu: usize) -> Vec<Vec<Chunk>> {
    let items_cap = max_items(pdu).max(1);
    let item_cap = max_item_data(pdu).max(2);
    let mut requests = Vec::new();
    let mut cur: Vec<Chunk> = Vec::new();
    let mut reply = READ_REPLY_OVERHEAD;
    for (ri, r) in ranges.iter().enumerate() {
        let len = r.len as usize;
        let mut offset = 0usize;
        while offset < len {
            let remaining = len - offset;
            let room = if cur.len() < items_cap { pdu.saturating_sub(reply + READ_REPLY_ITEM_HEADER) & !1 } else { 0 };
            // Fits here whole; or must be split anyway (larger than any one item) and the room
            // left here is worth a part.
            let take = if remaining <= room {
                remaining
            } else if remaining > item_cap && room >= MIN_SPLIT.min(item_cap) {
                room
            } else if cur.is_empty() {
                // A fresh request: at most one full item.
                remaining.min(item_cap)
            } else {
                requests.push(std::mem::take(&mut cur));
                reply = READ_REPLY_OVERHEAD;
                continue;
            };
            cur.push(Chunk { range: ri, offset: offset as u32, len: take as u32 });
            reply += READ_REPLY_ITEM_HEADER + take + take % 2;
            offset += take;
        }
    }
    if !cur.is_empty() {
        requests.push(cur);
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::super::address::parse_address;
    use super::*;
    use proptest::prelude::*;

    fn tags(list: &[&str]) -> Vec<S7Address> {
        list.iter().map(|s| parse_address(s).unwrap()).collect()
    }

    /// The checks every plan must pass: sizes within the PDU both ways, at most 20 items, every
    /// byte of every range read exactly once (in particular the last part of a split range).
    fn check(ranges: &[Range], requests: &[Vec<Chunk>], pdu: usize) {
        let mut covered: Vec<Vec<bool>> = ranges.iter().map(|r| vec![false; r.len as usize]).collect();
        for req in requests {
            assert!(!req.is_empty());
            assert!(req.len() <= MAX_ITEMS, "{} items", req.len());
            let job = READ_REQUEST_OVERHEAD + READ_REQUEST_ITEM * req.len();
            assert!(job <= pdu, "job of {job} bytes > PDU {pdu}");
            let reply: usize = READ_REPLY_OVERHEAD
                + req.iter().map(|c| READ_REPLY_ITEM_HEADER + c.len as usize + c.len as usize % 2).sum::<usize>();
            assert!(reply <= pdu, "reply of {reply} bytes > PDU {pdu}");
            for c in req {
                assert!(c.len > 0);
                for b in c.offset..c.offset + c.len {
                    let slot = &mut covered[c.range][b as usize];
                    assert!(!*slot, "byte {b} of range {} read twice", c.range);
                    *slot = true;
                }
            }
        }
        for (i, c) in covered.iter().enumerate() {
            assert!(c.iter().all(|&x| x), "range {i} ({:?}) not fully read", ranges[i]);
        }
    }

    #[test]
    fn neighbours_join_and_far_tags_do_not() {
        let t = tags(&[
            "DB1.DBW0",
            "DB1.DBW2",
            "DB1.DBD6",
            "DB1.DBX12.3",
            "DB1.DBW100",
            "DB2.DBW0",
            "MW0",
            "M1.0",
            "IB0",
            "QB0",
        ]);
        let (ranges, of) = coalesce(&t, MAX_GAP);
        assert_eq!(
            ranges,
            [
                Range { area: Area::Inputs, start: 0, len: 1 },
                Range { area: Area::Outputs, start: 0, len: 1 },
                Range { area: Area::Merkers, start: 0, len: 2 },
                Range { area: Area::Db(1), start: 0, len: 13 },
                Range { area: Area::Db(1), start: 100, len: 2 },
                Range { area: Area::Db(2), start: 0, len: 2 },
            ]
        );
        assert_eq!(of, [3, 3, 3, 3, 4, 5, 2, 2, 0, 1]);
    }

    #[test]
    fn gap_limit_is_inclusive_and_overlaps_and_duplicates_merge() {
        // DBW0 ends at 2; DBW10 starts 8 bytes later: joined. DBW21 starts 9 bytes after 12: not.
        let (r, _) = coalesce(&tags(&["DB1.DBW0", "DB1.DBW10", "DB1.DBW21"]), MAX_GAP);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].start, r[0].len), (0, 12));
        let (r, of) = coalesce(&tags(&["DB1.DBD0", "DB1.DBW2", "DB1.DBD0", "DB1.DBX1.7", "DB1.DBL0:LREAL"]), MAX_GAP);
        assert_eq!(r, [Range { area: Area::Db(1), start: 0, len: 8 }]);
        assert_eq!(of, [0; 5]);
        let (r, _) = coalesce(&tags(&["DB1.DBW0", "DB1.DBW4"]), 0);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn limits_at_common_pdu_sizes() {
        assert_eq!((max_items(240), max_item_data(240)), (19, 222));
        assert_eq!((max_items(480), max_item_data(480)), (20, 462));
        assert_eq!((max_items(960), max_item_data(960)), (20, 942));
    }

    #[test]
    fn a_5000_byte_range_at_pdu_240_and_960() {
        let ranges = [Range { area: Area::Db(1), start: 0, len: 5000 }];
        for (pdu, want) in [(240, 23), (480, 11), (960, 6)] {
            let reqs = pack(&ranges, pdu);
            check(&ranges, &reqs, pdu);
            assert_eq!(reqs.len(), want, "PDU {pdu}");
            // The last part ends exactly at byte 5000.
            let last = reqs.last().and_then(|r| r.last()).unwrap();
            assert_eq!(last.offset + last.len, 5000, "PDU {pdu}");
        }
        // A length that is an exact multiple of the item size leaves no empty tail request.
        let ranges = [Range { area: Area::Db(1), start: 0, len: 222 * 3 }];
        let reqs = pack(&ranges, 240);
        check(&ranges, &reqs, 240);
        assert_eq!(reqs.len(), 3);
    }

    #[test]
    fn a_split_range_fills_the_rest_of_the_current_request() {
        let ranges =
            [Range { area: Area::Db(1), start: 0, len: 100 }, Range { area: Area::Db(2), start: 0, len: 1000 }];
        let reqs = pack(&ranges, 480);
        check(&ranges, &reqs, 480);
        // 1100 bytes + headers: 3 requests of ≤ 466 data+item bytes.
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].len(), 2);
        // A small range that does not fit the rest of a request starts a new one, unsplit.
        let ranges = [Range { area: Area::Db(1), start: 0, len: 400 }, Range { area: Area::Db(2), start: 0, len: 100 }];
        let reqs = pack(&ranges, 480);
        check(&ranges, &reqs, 480);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1], [Chunk { range: 1, offset: 0, len: 100 }]);
    }

    #[test]
    fn many_scattered_tags() {
        // 500 INTs, one per DB: 500 items of 2 bytes, 19 per request at PDU 240, 20 at 960.
        let list: Vec<String> = (1..=500).map(|db| format!("DB{db}.DBW0")).collect();
        let t: Vec<S7Address> = list.iter().map(|s| parse_address(s).unwrap()).collect();
        let (ranges, _) = coalesce(&t, MAX_GAP);
        assert_eq!(ranges.len(), 500);
        for (pdu, want) in [(240, 27), (480, 25), (960, 25)] {
            let reqs = pack(&ranges, pdu);
            check(&ranges, &reqs, pdu);
            assert_eq!(reqs.len(), want, "PDU {pdu}");
        }
        // 300 INTs every 20 bytes in one DB: none join.
        let list: Vec<String> = (0..300).map(|i| format!("DB1.DBW{}", i * 20)).collect();
        let t: Vec<S7Address> = list.iter().map(|s| parse_address(s).unwrap()).collect();
        let (ranges, _) = coalesce(&t, MAX_GAP);
        assert_eq!(ranges.len(), 300);
        let reqs = pack(&ranges, 240);
        check(&ranges, &reqs, 240);
        assert_eq!(reqs.len(), 16);
    }

    #[test]
    fn one_thousand_ints_in_one_db() {
        let list: Vec<String> = (0..1000).map(|i| format!("DB1.DBW{}", i * 2)).collect();
        let t: Vec<S7Address> = list.iter().map(|s| parse_address(s).unwrap()).collect();
        let (ranges, _) = coalesce(&t, MAX_GAP);
        assert_eq!(ranges, [Range { area: Area::Db(1), start: 0, len: 2000 }]);
        for (pdu, want) in [(240, 10), (480, 5), (960, 3)] {
            let reqs = pack(&ranges, pdu);
            check(&ranges, &reqs, pdu);
            assert_eq!(reqs.len(), want, "PDU {pdu}");
        }
    }

    #[test]
    fn odd_items_count_their_fill_byte() {
        // 20 one-byte ranges in distinct DBs at a PDU that fits exactly their padded size.
        let ranges: Vec<Range> = (1..=20).map(|db| Range { area: Area::Db(db), start: 0, len: 1 }).collect();
        let pdu = READ_REPLY_OVERHEAD + 20 * (READ_REPLY_ITEM_HEADER + 2);
        let pdu = pdu.max(READ_REQUEST_OVERHEAD + 20 * READ_REQUEST_ITEM);
        let reqs = pack(&ranges, pdu);
        check(&ranges, &reqs, pdu);
        assert_eq!(reqs.len(), 1);
    }

    #[test]
    fn tiny_pdu_still_covers_everything() {
        let ranges = [Range { area: Area::Db(1), start: 0, len: 300 }, Range { area: Area::Merkers, start: 3, len: 1 }];
        let reqs = pack(&ranges, 64);
        check(&ranges, &reqs, 64);
    }

    proptest! {
        #[test]
        fn every_plan_fits_and_covers(
            spans in proptest::collection::vec((0u16..6, 0u32..6000, 1u32..3000), 1..60),
            pdu in prop_oneof![Just(64usize), Just(240), Just(480), Just(960), 64usize..4000],
        ) {
            let ranges: Vec<Range> =
                spans.iter().map(|&(db, start, len)| Range { area: Area::Db(db + 1), start, len }).collect();
            let reqs = pack(&ranges, pdu);
            check(&ranges, &reqs, pdu);
            // Never more requests than reading each range on its own, part by part.
            let bound: usize = ranges.iter().map(|r| (r.len as usize).div_ceil(max_item_data(pdu))).sum();
            prop_assert!(reqs.len() <= bound);
        }

        #[test]
        fn coalesced_ranges_hold_their_tags(
            list in proptest::collection::vec((0u8..3, 0u32..400, 0u8..5), 1..80),
        ) {
            let names: Vec<String> = list.iter().map(|&(db, byte, w)| {
                let w = ["DBX", "DBB", "DBW", "DBD", "DBL"][w as usize];
                if w == "DBX" { format!("DB{}.DBX{byte}.1", db + 1) } else { format!("DB{}.{w}{byte}", db + 1) }
            }).collect();
            let t: Vec<S7Address> = names.iter().map(|s| parse_address(s).unwrap()).collect();
            let (ranges, of) = coalesce(&t, MAX_GAP);
            for (tag, &ri) in t.iter().zip(&of) {
                let r = ranges[ri];
                prop_assert_eq!(r.area, tag.area);
                prop_assert!(r.start <= tag.byte && tag.byte + tag.byte_len() <= r.end());
            }
            // Ranges of one area never overlap or sit within the gap of each other.
            for w in ranges.windows(2) {
                if w[0].area == w[1].area {
                    prop_assert!(w[1].start > w[0].end() + MAX_GAP);
                }
            }
        }
    }
}
