//! Bearing fault frequencies from geometry.
//!
//! For `n` rolling elements of diameter `d` on pitch diameter `D`, contact angle `φ`, outer race
//! fixed, and `r = (d/D)·cos φ`, the characteristic frequencies in **shaft orders** (multiples of
//! the shaft frequency `fr`) are
//!
//! | family | order |
//! |---|---|
//! | outer race, BPFO | `n/2 · (1 − r)` |
//! | inner race, BPFI | `n/2 · (1 + r)` |
//! | rolling-element spin, BSF | `D/(2d) · (1 − r²)` (a ball defect strikes both races: line often at 2·BSF) |
//! | cage, FTF | `½ · (1 − r)` |
//!
//! Multiply by `fr` in Hz ([`FaultOrders::hz`]) to get [`FaultFreqs`]. Real impacts slip 1–2 %
//! from these values, and the nominal speed is often a few per cent off: estimate `fr` first
//! ([`crate::speed`]).

use crate::SignalError;
use fos_core::BearingGeometry;

/// The four fault families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Outer-race defect (BPFO).
    Outer,
    /// Inner-race defect (BPFI, modulated at the shaft frequency).
    Inner,
    /// Rolling-element defect (BSF; impacts at 2·BSF, modulated at FTF).
    Ball,
    /// Cage defect (FTF).
    Cage,
}

impl FaultKind {
    /// All four, in the order of `fos_core::Label::FAULTS`.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Outer,
        FaultKind::Inner,
        FaultKind::Ball,
        FaultKind::Cage,
    ];
}

/// Characteristic fault frequencies in shaft orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultOrders {
    /// BPFO / fr.
    pub outer: f64,
    /// BPFI / fr.
    pub inner: f64,
    /// BSF / fr (ball spin; the impact line is often at 2·BSF).
    pub ball: f64,
    /// FTF / fr (cage).
    pub cage: f64,
}

/// Characteristic fault frequencies in Hz for one shaft speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultFreqs {
    /// BPFO, Hz.
    pub outer: f64,
    /// BPFI, Hz.
    pub inner: f64,
    /// BSF, Hz.
    pub ball: f64,
    /// FTF, Hz.
    pub cage: f64,
}

impl FaultOrders {
    /// Orders from a geometry. The geometry is not validated here (an impossible one gives
    /// meaningless or non-finite orders); use [`FaultOrders::try_from_geometry`] to check it.
    pub fn from_geometry(g: &BearingGeometry) -> FaultOrders {
        let n = g.elements as f64;
        let r = g.element_d / g.pitch_d * g.contact_angle_deg.to_radians().cos();
        FaultOrders {
            outer: n / 2.0 * (1.0 - r),
            inner: n / 2.0 * (1.0 + r),
            ball: g.pitch_d / (2.0 * g.element_d) * (1.0 - r * r),
            cage: 0.5 * (1.0 - r),
        }
    }

    /// Like [`FaultOrders::from_geometry`], after `BearingGeometry::validate`.
    pub fn try_from_geometry(g: &BearingGeometry) -> Result<FaultOrders, SignalError> {
        g.validate()
            .map_err(|e| SignalError::param("geometry", e))?;
        Ok(Self::from_geometry(g))
    }

    /// The order of one family's fundamental (BSF for [`FaultKind::Ball`]).
    pub fn order(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Outer => self.outer,
            FaultKind::Inner => self.inner,
            FaultKind::Ball => self.ball,
            FaultKind::Cage => self.cage,
        }
    }

    /// The order at which a defect of `kind` produces impacts: 2·BSF for a ball, else [`Self::order`].
    pub fn impact_order(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Ball => 2.0 * self.ball,
            k => self.order(k),
        }
    }

    /// The frequencies in Hz at shaft frequency `shaft_hz`.
    pub fn hz(&self, shaft_hz: f64) -> FaultFreqs {
        FaultFreqs {
            outer: self.outer * shaft_hz,
            inner: self.inner * shaft_hz,
            ball: self.ball * shaft_hz,
            cage: self.cage * shaft_hz,
        }
    }
}

impl FaultFreqs {
    /// One family's fundamental, Hz (BSF for [`FaultKind::Ball`]).
    pub fn get(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Outer => self.outer,
            FaultKind::Inner => self.inner,
            FaultKind::Ball => self.ball,
            FaultKind::Cage => self.cage,
        }
    }

    /// The highest of the four, and of 2·BSF: useful to size the envelope band (≥ 3× this).
    pub fn max_hz(&self) -> f64 {
        self.outer
            .max(self.inner)
            .max(2.0 * self.ball)
            .max(self.cage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skf6205() -> BearingGeometry {
        BearingGeometry {
            elements: 9,
            element_d: 0.3126,
            pitch_d: 1.537,
            contact_angle_deg: 0.0,
        }
    }

    #[test]
    fn skf_6205_orders() {
        let o = FaultOrders::from_geometry(&skf6205());
        assert!((o.outer - 3.5848).abs() < 1e-3, "{o:?}");
        assert!((o.inner - 5.4152).abs() < 1e-3);
        assert!((o.ball - 2.357).abs() < 1e-3);
        assert!((2.0 * o.ball - 4.714).abs() < 2e-3);
        assert!((o.cage - 0.3983).abs() < 1e-3);
        // BPFO + BPFI = n
        assert!((o.outer + o.inner - 9.0).abs() < 1e-12);
        assert_eq!(o.impact_order(FaultKind::Ball), 2.0 * o.ball);
        let f = o.hz(29.95);
        assert!((f.outer - 107.36).abs() < 0.05);
        assert!((f.get(FaultKind::Inner) - 5.4152 * 29.95).abs() < 0.05);
        assert!((f.max_hz() - f.inner).abs() < 1e-12);
    }

    #[test]
    fn contact_angle_and_validation() {
        let mut g = skf6205();
        g.contact_angle_deg = 60.0;
        let o = FaultOrders::from_geometry(&g);
        let r = 0.3126 / 1.537 * 0.5;
        assert!((o.outer - 4.5 * (1.0 - r)).abs() < 1e-12);
        g.elements = 1;
        assert!(FaultOrders::try_from_geometry(&g).is_err());
        assert!(FaultOrders::try_from_geometry(&skf6205()).is_ok());
    }
}
