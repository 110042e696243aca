//! Tests of the value conversions.

use super::*;
use std::time::Duration;

#[test]
fn wall_clock_to_opcua_time() {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_nanos(123_456_700);
    assert_eq!(ua_time(t).ticks(), 116_444_736_000_000_000 + 1_700_000_000 * 10_000_000 + 1_234_567);
    assert_eq!(ua_time(UNIX_EPOCH).ticks(), 116_444_736_000_000_000);
}

#[test]
fn variants() {
    assert_eq!(variant_of(PointType::U32, 12.0), Variant::UInt32(12));
    assert_eq!(variant_of(PointType::U16, 70_000.0), Variant::UInt16(u16::MAX));
    assert_eq!(variant_of(PointType::F32, 0.5), Variant::Double(0.5));
    assert_eq!(numeric(&Variant::Float(0.25)), Some(0.25));
    assert_eq!(numeric(&Variant::UInt16(3)), Some(3.0));
    assert_eq!(numeric(&Variant::from("x")), None);
}
