//! The case library: historical failure cases, each a labelled faulty recording summarised by
//! scale-free evidence, and the cases nearest to a new finding.
//!
//! # What a case holds
//!
//! A [`Signature`] is what carries across machines, sensors, gains and sample rates, and nothing else:
//!
//! | component | what | unit |
//! | --- | --- | --- |
//! | `family_excess[f]` | the excess of family `f`'s envelope-line statistic over the white-noise null of the very analysis chain: `(s − median₀) / (threshold₀ − median₀)` | the white-noise line level at the false-alarm budget (1 = the physics threshold), the same on every machine; no baseline needed |
//! | `impulsiveness` | the knock-robust spectral kurtosis of the envelope band | none (Gaussian noise = 0) |
//! | `level_rise` | `ln(level / baseline median level)`, only when the model was calibrated on the machine's baseline | natural log of a ratio |
//!
//! Absolute vibration levels, shaft speeds and sample rates are left out on purpose: they describe the
//! machine and the sensor, not the fault. A recording's signature is the median over its windows
//! ([`Signature::median_of`]); a finding's, the median over the windows of its fault run.
//!
//! # Distance
//!
//! Each component is compressed with `asinh` (linear near 0, logarithmic for large excesses: a line 30
//! times the threshold and one 60 times are both "very strong"), except `level_rise`, already a log.
//! The distance is the root mean square of the differences over the components **both** signatures
//! have (six with two calibrated models, five otherwise), so it is a metric on signatures of the same
//! kind and stays on one scale when a level is missing on one side ([`Signature::distance`]).
//!
//! # Never the recording being judged
//!
//! [`CaseLibrary::nearest`] drops every case of an excluded physical bearing (`bearing_id`) or of an
//! excluded file (by the SHA-256 of its bytes, so a copy under another name is caught too): a finding is
//! never supported by its own recording or by another recording of the same piece of steel
//! ([`Exclude::for_recording`] adds the bearing of every case cut from the very file).
//!
//! Pure: the caller reads recordings and files; this module only holds numbers and names.

use std::collections::BTreeSet;

use fos_core::Label;
use serde::{Deserialize, Serialize};

use crate::detector::MachineModel;
use crate::features::{WindowFeatures, FAMILIES};
use crate::stats::median;
use crate::Error;

/// The version written into case-library files; bumped on any incompatible change.
pub const CASE_LIBRARY_VERSION: u32 = 1;

/// Scale-free evidence of one window or recording (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Excess of each family's line statistic over the white-noise null, in [`FAMILIES`] order (outer,
    /// inner, ball, cage), in units of the null's threshold excess.
    pub family_excess: [f64; 4],
    /// Knock-robust impulsiveness (spectral kurtosis of the envelope band; Gaussian noise = 0).
    pub impulsiveness: f64,
    /// `ln(level / baseline median level)`, when the model was calibrated on a baseline.
    pub level_rise: Option<f64>,
}

/// The excess of each family's line statistic over the model's white-noise null, in units of the
/// null's threshold excess (1 = the physics threshold at the false-alarm budget).
pub fn family_excess(model: &MachineModel, f: &WindowFeatures) -> [f64; 4] {
    let s = f.statistics();
    std::array::from_fn(|i| (s[i] - model.null.median[i]) / (model.null.threshold[i] - model.null.median[i]).max(1e-6))
}

impl Signature {
    /// The signature of one window judged by `model`.
    pub fn of_window(model: &MachineModel, f: &WindowFeatures) -> Signature {
        Signature {
            family_excess: family_excess(model, f),
            impulsiveness: f.impulsiveness,
            level_rise: model.baseline.as_ref().map(|b| f.level.max(1e-300).ln() - b.log_level_median),
        }
    }

    /// The component-wise median of many windows' signatures (`level_rise` only if every window has
    /// one); `None` for no windows.
    pub fn median_of(windows: &[Signature]) -> Option<Signature> {
        if windows.is_empty() {
            return None;
        }
        let col = |get: &dyn Fn(&Signature) -> f64| median(&windows.iter().map(get).collect::<Vec<f64>>());
        let levels: Option<Vec<f64>> = windows.iter().map(|s| s.level_rise).collect();
        Some(Signature {
            family_excess: std::array::from_fn(|i| col(&|s| s.family_excess[i])),
            impulsiveness: col(&|s| s.impulsiveness),
            level_rise: levels.map(|l| median(&l)),
        })
    }

    /// The family with the largest excess.
    pub fn dominant(&self) -> Label {
        let mut best = 0;
        for i in 1..4 {
            if self.family_excess[i] > self.family_excess[best] {
                best = i;
            }
        }
        FAMILIES[best]
    }

    /// The compressed coordinates the distance is taken over.
    fn coords(&self) -> ([f64; 5], Option<f64>) {
        let e = self.family_excess;
        ([e[0].asinh(), e[1].asinh(), e[2].asinh(), e[3].asinh(), self.impulsiveness.asinh()], self.level_rise)
    }

    /// The root mean square difference of the compressed components both signatures have (see the
    /// module documentation). Symmetric, zero for equal signatures, and a metric among signatures that
    /// all have a level rise or all lack one.
    pub fn distance(&self, other: &Signature) -> f64 {
        let ((a, la), (b, lb)) = (self.coords(), other.coords());
        let mut sum: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        let mut n = a.len() as f64;
        if let (Some(x), Some(y)) = (la, lb) {
            sum += (x - y) * (x - y);
            n += 1.0;
        }
        (sum / n).sqrt()
    }

    /// Checks that every number is finite; the message names the component.
    pub fn validate(&self) -> Result<(), String> {
        for (i, v) in self.family_excess.iter().enumerate() {
            if !v.is_finite() {
                return Err(format!("family_excess[{}] ({}) is {v}", i, FAMILIES[i]));
            }
        }
        if !self.impulsiveness.is_finite() {
            return Err(format!("impulsiveness is {}", self.impulsiveness));
        }
        if let Some(l) = self.level_rise {
            if !l.is_finite() {
                return Err(format!("level_rise is {l}"));
            }
        }
        Ok(())
    }

    /// Why `case` is close to `self` (the query), in words: the dominant families, the closest family
    /// evidence, impulsiveness and level.
    fn reason(&self, case: &Signature) -> String {
        let (q, c) = (self.dominant(), case.dominant());
        let qi = FAMILIES.iter().position(|l| *l == q).unwrap_or(0);
        let ci = FAMILIES.iter().position(|l| *l == c).unwrap_or(0);
        let mut parts = Vec::new();
        if q == c {
            parts.push(format!(
                "same dominant family {q} (line excess {:.1} here, {:.1} in the case, 1 = white-noise threshold)",
                self.family_excess[qi], case.family_excess[qi]
            ));
        } else {
            parts.push(format!(
                "dominant family {c} in the case ({:.1}) but {q} here ({:.1}); closest overall",
                case.family_excess[ci], self.family_excess[qi]
            ));
        }
        let lit = |s: &Signature| -> Vec<&'static str> {
            FAMILIES.iter().zip(s.family_excess).filter(|(_, e)| *e > 1.0).map(|(l, _)| l.as_str()).collect()
        };
        let (lq, lc) = (lit(self), lit(case));
        if lq == lc {
            parts.push(format!(
                "families above threshold: {}",
                if lq.is_empty() { "none".to_owned() } else { lq.join(", ") }
            ));
        } else {
            parts.push(format!(
                "above threshold: {} here, {} in the case",
                if lq.is_empty() { "none".to_owned() } else { lq.join(", ") },
                if lc.is_empty() { "none".to_owned() } else { lc.join(", ") }
            ));
        }
        parts.push(format!("impulsiveness {:.2} here, {:.2} in the case", self.impulsiveness, case.impulsiveness));
        if let (Some(a), Some(b)) = (self.level_rise, case.level_rise) {
            parts.push(format!(
                "level {:+.0} % here, {:+.0} % in the case over each machine's baseline",
                100.0 * (a.exp() - 1.0),
                100.0 * (b.exp() - 1.0)
            ));
        }
        parts.join("; ")
    }
}

/// One historical failure case: a labelled faulty recording (one manifest row) and its signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id in the library: `<data set>/<file>#<signal>` (and `@start-end` for part of a file).
    pub id: String,
    /// The fault it had (never `normal` or `unknown`).
    pub label: Label,
    /// The machine (sensor position) it was recorded on.
    pub machine: String,
    /// The bearing type (an id of the manifest's `bearings.csv`).
    pub bearing: String,
    /// The physical bearing (specimen) recorded.
    pub bearing_id: String,
    /// The recording, as the manifest names it (relative to the manifest's folder).
    pub file: String,
    /// The signal inside the file.
    pub signal: String,
    /// SHA-256 of the recording file's bytes, 64 hex digits.
    pub file_sha256: String,
    /// The defect's size, where known (e.g. `0.014 in`).
    pub fault_size: Option<String>,
    /// Operating load, where known.
    pub load: Option<String>,
    /// Where it comes from: the manifest (data set) it was built from.
    pub source: String,
    /// Decision windows summarised.
    pub windows: u64,
    /// The median signature of its windows.
    pub signature: Signature,
}

/// What [`CaseLibrary::nearest`] must leave out: the recording being judged and its bearing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclude {
    /// Physical bearings (`bearing_id`) whose cases are left out.
    pub bearing_ids: BTreeSet<String>,
    /// Files (SHA-256 of their bytes, hex) whose cases are left out.
    pub file_sha256: BTreeSet<String>,
}

impl Exclude {
    /// Leaves out the file with SHA-256 `file_sha256`, the bearing `bearing_id` if given, and the bearing
    /// of every case of `library` cut from that very file (the library knows which bearing a file was).
    pub fn for_recording(library: &CaseLibrary, file_sha256: &str, bearing_id: Option<&str>) -> Exclude {
        let mut e = Exclude::default();
        e.file_sha256.insert(file_sha256.to_owned());
        e.bearing_ids.extend(bearing_id.map(str::to_owned));
        e.bearing_ids.extend(library.cases.iter().filter(|c| c.file_sha256 == file_sha256).map(|c| c.bearing_id.clone()));
        e
    }

    /// Whether `case` is left out.
    pub fn excludes(&self, case: &Case) -> bool {
        self.bearing_ids.contains(&case.bearing_id) || self.file_sha256.contains(&case.file_sha256)
    }
}

/// A case near a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour<'a> {
    /// The case.
    pub case: &'a Case,
    /// Its distance to the query ([`Signature::distance`]).
    pub distance: f64,
    /// Why it matches, in words.
    pub reason: String,
}

/// A set of historical failure cases (see the module documentation). Its JSON file is a rebuildable
/// cache: the same manifests and recordings give the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseLibrary {
    /// [`CASE_LIBRARY_VERSION`].
    pub format_version: u32,
    /// The cases, in the order they were added.
    pub cases: Vec<Case>,
}

impl CaseLibrary {
    /// A library of `cases`, checked: unique ids, fault labels only, finite signatures, hashes of 64 hex
    /// digits.
    pub fn new(cases: Vec<Case>) -> Result<CaseLibrary, Error> {
        let lib = CaseLibrary { format_version: CASE_LIBRARY_VERSION, cases };
        lib.validate()?;
        Ok(lib)
    }

    fn validate(&self) -> Result<(), Error> {
        if self.format_version != CASE_LIBRARY_VERSION {
            return Err(Error::Cases(format!(
                "case library format_version {} is not supported by this FOS (expects {CASE_LIBRARY_VERSION}); \
                 rebuild it with `fos cases build`",
                self.format_version
            )));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in self.cases.iter().enumerate() {
            let bad = |p: String| Error::Cases(format!("case {i} ({}): {p}", c.id));
            if c.id.is_empty() {
                return Err(bad("the id is empty".into()));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(bad("the id appears twice".into()));
            }
            if !c.label.is_fault() {
                return Err(bad(format!("label {} is not a fault; a case is a failure", c.label)));
            }
            if c.bearing_id.is_empty() {
                return Err(bad("bearing_id is empty; cases are excluded by physical bearing".into()));
            }
            if c.file_sha256.len() != 64 || !c.file_sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(bad(format!("file_sha256 {:?} is not 64 lower-case hex digits", c.file_sha256)));
            }
            c.signature.validate().map_err(|p| bad(format!("signature: {p}")))?;
        }
        Ok(())
    }

    /// The library as JSON (the cache file's content).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    /// Reads a library written by [`CaseLibrary::to_json`], checking its version and every case.
    pub fn from_json(text: &str) -> Result<CaseLibrary, Error> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Cases(format!("not a case library: {e}")))?;
        let ver = v.get("format_version").and_then(serde_json::Value::as_u64);
        if ver != Some(u64::from(CASE_LIBRARY_VERSION)) {
            return Err(Error::Cases(format!(
                "case library format_version {ver:?} is not supported by this FOS (expects {CASE_LIBRARY_VERSION}); \
                 rebuild it with `fos cases build`"
            )));
        }
        let lib: CaseLibrary = serde_json::from_value(v).map_err(|e| Error::Cases(format!("not a case library: {e}")))?;
        lib.validate()?;
        Ok(lib)
    }

    /// The `k` cases nearest to `query`, closest first (ties by id), leaving out what `exclude` names,
    /// each with its distance and the reason it matches.
    pub fn nearest(&self, query: &Signature, exclude: &Exclude, k: usize) -> Vec<Neighbour<'_>> {
        let mut found: Vec<(f64, &Case)> = self
            .cases
            .iter()
            .filter(|c| !exclude.excludes(c))
            .map(|c| (query.distance(&c.signature), c))
            .collect();
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        found
            .into_iter()
            .take(k)
            .map(|(distance, case)| Neighbour { case, distance, reason: query.reason(&case.signature) })
            .collect()
    }
}

#[cfg(test)]
mod tests;
