//! Unit tests of the runs of faulty windows that become findings.

use super::{runs, whole, Run};

#[test]
fn runs_bridge_short_gaps_and_keep_only_persistent_faults() {
    let f = |s: &str| s.chars().map(|c| c == 'x').collect::<Vec<bool>>();
    let r = |first, last, faulty| Run { first, last, faulty };
    // x x . x x x . . x . x x
    let w = f("xx.xxx..x.xx");
    assert_eq!(runs(&w, 1, 0), vec![r(0, 1, 2), r(3, 5, 3), r(8, 8, 1), r(10, 11, 2)]);
    assert_eq!(runs(&w, 1, 1), vec![r(0, 5, 5), r(8, 11, 3)]);
    assert_eq!(runs(&w, 2, 0), vec![r(0, 1, 2), r(3, 5, 3), r(10, 11, 2)]);
    assert_eq!(runs(&w, 4, 2), vec![r(0, 11, 8)]);
    assert_eq!(runs(&f("...."), 1, 1), vec![]);
    assert_eq!(runs(&f("x"), 2, 1), vec![]);
    assert_eq!(whole(&f("x.x.")), Some(r(0, 3, 2)));
    assert_eq!(whole(&f("x...")), None);
    assert_eq!(whole(&[]), None);
}
