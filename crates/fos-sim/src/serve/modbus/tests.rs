//! Tests of the register encoding.

use super::*;

#[test]
fn words_round_trip_most_significant_first() {
    assert_eq!(encode(PointType::F32, 1.0), [0x3F80, 0x0000]);
    assert_eq!(encode(PointType::U32, 70_000.0), [0x0001, 0x1170]);
    assert_eq!(encode(PointType::U16, 7.0)[0], 7);
    assert_eq!(encode(PointType::U16, -3.0)[0], 0);
    for v in [-0.0123, 1500.25, 0.0] {
        let w = encode(PointType::F32, v);
        assert_eq!(decode(PointType::F32, &w), f64::from(v as f32));
    }
    assert_eq!(decode(PointType::U32, &[1, 0x1170]), 70_000.0);
    assert!(decode(PointType::F32, &[1]).is_nan());
}
