//! The plant the server shows: a [`Plant`] (the caller's: the simulator in `fos demo`, a configured
//! plant in `fos serve --config`) lists its assets ([`AssetInfo`]), and each asset's health
//! ([`AssetHealth`]) is derived from the findings in the ledger.
//!
//! **Health levels** (after Augury's levels by failure risk), from the findings about the asset's
//! machines ([`AssetInfo::machines`]), never from a guess:
//!
//! | level | when |
//! | --- | --- |
//! | `alarm` | a finding was confirmed by an engineer or approver |
//! | `watch` | a finding is open or challenged (no verdict yet) |
//! | `good` | no finding, or every finding was disputed (the verdict said it was wrong) |
//!
//! The worst level over the asset's findings counts, so a later open finding never hides a confirmed
//! fault. `attention` orders assets for the overview (Senseye's attention index): confirmed findings
//! weigh 10, open ones 3 plus their score.

use std::collections::BTreeMap;

use fos_core::BearingGeometry;
use fos_site::findings::FindingState;
use serde::{Deserialize, Serialize};

/// The caller's plant: the assets to show.
pub trait Plant: Send + Sync {
    /// Every asset, in the order the overview lists them.
    fn assets(&self) -> Vec<AssetInfo>;

    /// One asset by id.
    fn asset(&self, id: &str) -> Option<AssetInfo> {
        self.assets().into_iter().find(|a| a.id == id)
    }
}

/// A fixed list of assets (a configured plant; tests).
#[derive(Debug, Clone, Default)]
pub struct StaticPlant(pub Vec<AssetInfo>);

impl Plant for StaticPlant {
    fn assets(&self) -> Vec<AssetInfo> {
        self.0.clone()
    }
}

/// One asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetInfo {
    /// Unique id (used in URLs).
    pub id: String,
    /// Name for people.
    pub name: String,
    /// What it is: `motor`, `cnc-mill`, `welding-cell`, `ambient`…
    pub kind: String,
    /// Where it is, as a path (`plant/hall-1/line-2`), for the hierarchy.
    #[serde(default)]
    pub area: String,
    /// The machine names findings and proposals use for it (default: its id).
    #[serde(default)]
    pub machines: Vec<String>,
    /// Its historian tags.
    #[serde(default)]
    pub tags: Vec<TagInfo>,
    /// Its vibration channel, for the spectrum.
    #[serde(default)]
    pub vibration: Option<VibrationInfo>,
}

impl AssetInfo {
    /// Whether a finding or proposal about `machine` is about this asset.
    pub fn has_machine(&self, machine: &str) -> bool {
        if self.machines.is_empty() {
            self.id == machine
        } else {
            self.machines.iter().any(|m| m == machine)
        }
    }
}

/// A historian tag of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagInfo {
    /// The tag in the historian's `samples` table.
    pub tag: String,
    /// Name for people.
    #[serde(default)]
    pub name: String,
    /// Unit.
    #[serde(default)]
    pub unit: String,
}

/// A vibration channel and the bearing it watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VibrationInfo {
    /// The waveform channel (`WaveformBlock::channel`).
    pub channel: String,
    /// The bearing's geometry (sets the fault frequencies).
    pub bearing: BearingGeometry,
    /// Nominal shaft speed, Hz; the spectrum refines it from the block.
    pub shaft_hz: f64,
    /// The envelope band, Hz; default: the band of highest spectral kurtosis (kurtogram).
    #[serde(default)]
    pub band_hz: Option<(f64, f64)>,
}

/// How an asset is doing. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthLevel {
    /// No live finding.
    Good,
    /// A finding waits for a verdict.
    Watch,
    /// A finding was confirmed.
    Alarm,
}

/// An asset's health, from the findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetHealth {
    /// The level.
    pub level: HealthLevel,
    /// Ordering weight for the overview (higher first).
    pub attention: f64,
    /// Findings open or challenged.
    pub open: u32,
    /// Findings confirmed.
    pub confirmed: u32,
    /// Findings disputed.
    pub disputed: u32,
    /// The latest finding: id, label, status, time.
    pub latest: Option<LatestFinding>,
}

/// The latest finding of an asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatestFinding {
    /// Finding id.
    pub id: String,
    /// The fault named.
    pub label: Option<String>,
    /// `open`, `challenged`, `confirmed`, `disputed`.
    pub status: String,
    /// RFC 3339.
    pub time: String,
}

/// The health of every asset, by id.
pub fn health(assets: &[AssetInfo], findings: &[FindingState]) -> BTreeMap<String, AssetHealth> {
    assets
        .iter()
        .map(|a| {
            let mut h =
                AssetHealth { level: HealthLevel::Good, attention: 0.0, open: 0, confirmed: 0, disputed: 0, latest: None };
            for f in findings.iter().filter(|f| a.has_machine(&f.finding.machine)) {
                match f.status {
                    "confirmed" => {
                        h.confirmed += 1;
                        h.level = h.level.max(HealthLevel::Alarm);
                        h.attention += 10.0;
                    }
                    "disputed" => h.disputed += 1,
                    _ => {
                        h.open += 1;
                        h.level = h.level.max(HealthLevel::Watch);
                        h.attention += 3.0 + f.finding.score.filter(|s| s.is_finite()).unwrap_or(0.0).max(0.0);
                    }
                }
                h.latest = Some(LatestFinding {
                    id: f.id.clone(),
                    label: f.finding.label.clone(),
                    status: f.status.to_owned(),
                    time: f.time.clone(),
                });
            }
            (a.id.clone(), h)
        })
        .collect()
}
