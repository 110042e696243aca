//! The sort permutation against a plain comparison sort, in and out of order.

use super::sort_permutation;
use proptest::prelude::*;

fn reference(tag: &[u32], time: &[i64], rank: &[u32]) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..tag.len() as u32).collect();
    perm.sort_by_key(|&i| (rank[tag[i as usize] as usize], time[i as usize], i));
    perm
}

#[test]
fn scans_in_time_order_take_the_counting_sort_and_keep_arrival_order_of_ties() {
    // Three tags ranked 2, 0, 1; two scans; a duplicate (tag, time) keeps arrival order.
    let tag = [0, 1, 2, 0, 1, 2, 0];
    let time = [10, 10, 10, 20, 20, 20, 20];
    let rank = [2, 0, 1];
    assert_eq!(sort_permutation(&tag, &time, &rank), vec![1, 4, 2, 5, 0, 3, 6]);
}

proptest! {
    #[test]
    fn equals_a_stable_comparison_sort(
        rows in proptest::collection::vec((0u32..5, -3i64..4), 0..200),
    ) {
        let tag: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let time: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let rank = [3, 1, 4, 0, 2];
        let perm = sort_permutation(&tag, &time, &rank);
        // Keys equal a full sort's; ties may differ only in the fallback, so compare keys.
        let key = |p: &[u32]| p.iter().map(|&i| (rank[tag[i as usize] as usize], time[i as usize])).collect::<Vec<_>>();
        prop_assert_eq!(key(&perm), key(&reference(&tag, &time, &rank)));
        let mut seen = perm.clone();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..tag.len() as u32).collect::<Vec<_>>());
    }
}
