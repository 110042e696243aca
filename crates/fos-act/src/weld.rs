//! Welding-sequence rerouting for a robotic cell: evaluate a plan, validate it, and re-plan when a torch
//! degrades.
//!
//! # Model
//!
//! A [`Cell`] has torches (robots with a torch), welds, and precedence pairs `(before, after)`: `after` may not
//! start until `before` has finished, whichever torches do them. A [`Plan`] gives each torch an ordered list
//! of welds. Each torch starts at its `home` at t = 0 and, for each weld in its list, travels in a straight
//! line at `travel_speed_mm_s` from where it is (home, or the previous weld's position) to the weld's
//! position — leaving as soon as the previous weld is finished — waits there until every `before` weld has
//! finished, and welds for `nominal_seconds / health`. A weld is located at its `pos` (the seam's length
//! matters for its heat, not for travel). Torches do not return home, and collisions between robots are
//! not modelled (the reach lists are where a cell's programmer encodes them).
//!
//! A torch whose `health` is below [`Cell::min_usable_health`] is unusable: a plan that gives it a weld is
//! infeasible.
//!
//! # Metrics ([`PlanMetrics`])
//!
//! - `makespan_s`: the latest finish.
//! - `travel_mm`: the total straight-line travel of all torches.
//! - `distortion_index`: a heat-concentration **proxy**, not a finite-element result. Order the welds by start
//!   time; for each consecutive pair (a, b) add
//!
//!   ```text
//!   (L_a + L_b) / 2  /  (|p_a − p_b| + ℓ)  ·  exp(−max(0, start_b − finish_a) / τ)
//!   ```
//!
//!   with seam lengths L (heat input taken as proportional to length), positions p, the length scale
//!   ℓ = [`DistortionModel::length_scale_mm`] and the cooling time constant τ =
//!   [`DistortionModel::cooling_time_s`]. It grows when welds follow each other closely in space and time
//!   (including welds run at the same time on two torches: their gap is 0) and shrinks when the sequence
//!   spreads the heat. It is dimensionless and only comparable between plans of the same cell.
//!
//! # Re-planning ([`replan`])
//!
//! A list schedule on the precedence DAG (ready welds by longest remaining chain, each given to the usable torch
//! that can finish it first) followed by local search — relocating one weld to another place in any torch's
//! list, or swapping two welds — accepting only moves that keep the plan valid and strictly lower the weighted
//! objective. The search is also started from the current plan when it is feasible, and the better result is
//! kept, so the result is never worse (in the objective) than either the plain list schedule or the current
//! plan. Candidate moves are tried in an order drawn from a seeded generator: the same seed gives the same plan.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A robot with a torch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Torch {
    /// Unique id.
    pub id: String,
    /// Where it starts, mm.
    pub home: [f64; 3],
    /// Straight-line travel speed between welds, mm/s (> 0).
    pub travel_speed_mm_s: f64,
    /// 1 = nominal; lower = degraded (a weld takes `nominal_seconds / health`); in [0, 1].
    pub health: f64,
}

/// One weld seam.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weld {
    /// Unique id.
    pub id: String,
    /// Where it is, mm.
    pub pos: [f64; 3],
    /// Seam length, mm (≥ 0): its heat input in the distortion proxy.
    pub length_mm: f64,
    /// Arc time on a healthy torch, s (≥ 0).
    pub nominal_seconds: f64,
    /// The torches that can reach it.
    pub reachable_by: Vec<String>,
}

/// Parameters of the distortion proxy (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistortionModel {
    /// ℓ, mm (> 0).
    pub length_scale_mm: f64,
    /// τ, s (> 0).
    pub cooling_time_s: f64,
}

impl Default for DistortionModel {
    /// ℓ = 50 mm, τ = 60 s: a heat-affected zone of a few centimetres that cools over about a minute.
    fn default() -> Self {
        DistortionModel { length_scale_mm: 50.0, cooling_time_s: 60.0 }
    }
}

fn default_min_health() -> f64 {
    0.2
}

/// A welding cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// The torches.
    pub torches: Vec<Torch>,
    /// The welds.
    pub welds: Vec<Weld>,
    /// `(before, after)` weld ids.
    #[serde(default)]
    pub precedence: Vec<(String, String)>,
    /// A torch below this health is unusable; in (0, 1], default 0.2.
    #[serde(default = "default_min_health")]
    pub min_usable_health: f64,
    /// The distortion proxy's parameters.
    #[serde(default)]
    pub distortion: DistortionModel,
}

/// Per torch id, the welds it does, in order. Torches not named do nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Torch id → weld ids in order.
    pub sequences: BTreeMap<String, Vec<String>>,
}

impl Plan {
    /// The torch a weld is assigned to.
    pub fn torch_of(&self, weld: &str) -> Option<&str> {
        self.sequences.iter().find(|(_, ws)| ws.iter().any(|w| w == weld)).map(|(t, _)| t.as_str())
    }
}

impl fmt::Display for Plan {
    /// One line per torch: `T1: w1 → w3 → w2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (t, ws) in &self.sequences {
            writeln!(f, "{t}: {}", if ws.is_empty() { "(idle)".to_owned() } else { ws.join(" → ") })?;
        }
        Ok(())
    }
}

/// A plan's figures (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanMetrics {
    /// Latest finish, s.
    pub makespan_s: f64,
    /// Total travel, mm.
    pub travel_mm: f64,
    /// Heat-concentration proxy, dimensionless.
    pub distortion_index: f64,
}

/// One weld's place in the simulated timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledWeld {
    /// The weld.
    pub weld: String,
    /// Its torch.
    pub torch: String,
    /// Arc on, s.
    pub start_s: f64,
    /// Arc off, s.
    pub finish_s: f64,
}

/// Something wrong with a plan, naming the weld or torch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum PlanProblem {
    /// The plan names a torch the cell does not have.
    UnknownTorch {
        /// The torch id.
        torch: String,
    },
    /// The plan names a weld the cell does not have.
    UnknownWeld {
        /// The weld id.
        weld: String,
        /// The torch it was given to.
        torch: String,
    },
    /// A weld of the cell is in no torch's list.
    Missing {
        /// The weld id.
        weld: String,
    },
    /// A weld is listed more than once.
    Duplicate {
        /// The weld id.
        weld: String,
        /// How many times.
        count: usize,
    },
    /// A weld is given to a torch that cannot reach it.
    NotReachable {
        /// The weld id.
        weld: String,
        /// The torch id.
        torch: String,
    },
    /// A weld is given to a torch below the usable health.
    UnusableTorch {
        /// The weld id.
        weld: String,
        /// The torch id.
        torch: String,
        /// Its health.
        health: f64,
    },
    /// The torch orders and the precedence wait on each other: these welds can never start.
    Deadlock {
        /// A cycle of welds, each waiting for the next (by precedence or by coming later in a torch's list).
        welds: Vec<String>,
    },
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanProblem::UnknownTorch { torch } => write!(f, "torch {torch} is not in the cell"),
            PlanProblem::UnknownWeld { weld, torch } => write!(f, "weld {weld} (given to {torch}) is not in the cell"),
            PlanProblem::Missing { weld } => write!(f, "weld {weld} is not planned"),
            PlanProblem::Duplicate { weld, count } => write!(f, "weld {weld} is planned {count} times"),
            PlanProblem::NotReachable { weld, torch } => write!(f, "weld {weld} is given to {torch}, which cannot reach it"),
            PlanProblem::UnusableTorch { weld, torch, health } => {
                write!(f, "weld {weld} is given to {torch}, unusable at health {health}")
            }
            PlanProblem::Deadlock { welds } => {
                write!(f, "welds {} wait on each other (torch order against precedence)", welds.join(" → "))
            }
        }
    }
}

/// Why a cell, a plan or an objective is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WeldError {
    /// Two torches share an id.
    #[error("torch id {torch} is used twice")]
    DuplicateTorch {
        /// The id.
        torch: String,
    },
    /// Two welds share an id.
    #[error("weld id {weld} is used twice")]
    DuplicateWeld {
        /// The id.
        weld: String,
    },
    /// A weld's reach list names a torch the cell does not have.
    #[error("weld {weld}: reachable_by names unknown torch {torch}")]
    UnknownReachTorch {
        /// The weld.
        weld: String,
        /// The unknown torch.
        torch: String,
    },
    /// A precedence pair names a weld the cell does not have.
    #[error("precedence names unknown weld {weld}")]
    UnknownPrecedenceWeld {
        /// The unknown weld.
        weld: String,
    },
    /// A number is out of its range.
    #[error("{what} = {value}: {expected}")]
    InvalidValue {
        /// Which field of which torch or weld.
        what: String,
        /// Its value.
        value: f64,
        /// The allowed range.
        expected: &'static str,
    },
    /// The precedence pairs form a cycle.
    #[error("precedence cycle: {}", .welds.join(" → "))]
    PrecedenceCycle {
        /// The welds of one cycle, each before the next, the first repeated at the end.
        welds: Vec<String>,
    },
    /// No usable torch can reach a weld.
    #[error("weld {weld} cannot be done: {reason}")]
    Unreachable {
        /// The weld.
        weld: String,
        /// Why (no torch reaches it, or only unusable ones).
        reason: String,
    },
    /// The plan is not valid for the cell.
    #[error("invalid plan: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidPlan(Vec<PlanProblem>),
    /// The objective's weights are not usable.
    #[error("objective: {0}")]
    InvalidObjective(String),
}

// ---------------------------------------------------------------------------------------------------------
// Indexed model
// ---------------------------------------------------------------------------------------------------------

struct Model<'a> {
    cell: &'a Cell,
    torch_idx: BTreeMap<&'a str, usize>,
    weld_idx: BTreeMap<&'a str, usize>,
    reach: Vec<Vec<bool>>,
    usable: Vec<bool>,
    preds: Vec<Vec<usize>>,
    succs: Vec<Vec<usize>>,
}

fn dist(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn value(what: impl FnOnce() -> String, v: f64, ok: bool, expected: &'static str) -> Result<(), WeldError> {
    if ok && v.is_finite() {
        Ok(())
    } else {
        Err(WeldError::InvalidValue { what: what(), value: v, expected })
    }
}

impl<'a> Model<'a> {
    fn new(cell: &'a Cell) -> Result<Model<'a>, WeldError> {
        let m = cell.min_usable_health;
        value(|| "min_usable_health".into(), m, m > 0.0 && m <= 1.0, "in (0, 1]")?;
        let d = cell.distortion;
        value(|| "distortion.length_scale_mm".into(), d.length_scale_mm, d.length_scale_mm > 0.0, "> 0")?;
        value(|| "distortion.cooling_time_s".into(), d.cooling_time_s, d.cooling_time_s > 0.0, "> 0")?;
        let mut torch_idx = BTreeMap::new();
        for (i, t) in cell.torches.iter().enumerate() {
            if torch_idx.insert(t.id.as_str(), i).is_some() {
                return Err(WeldError::DuplicateTorch { torch: t.id.clone() });
            }
            value(|| format!("torch {} health", t.id), t.health, (0.0..=1.0).contains(&t.health), "in [0, 1]")?;
            let s = t.travel_speed_mm_s;
            value(|| format!("torch {} travel_speed_mm_s", t.id), s, s > 0.0, "> 0")?;
            for (k, c) in t.home.iter().enumerate() {
                value(|| format!("torch {} home[{k}]", t.id), *c, true, "finite")?;
            }
        }
        let mut weld_idx = BTreeMap::new();
        let mut reach = Vec::with_capacity(cell.welds.len());
        for (i, w) in cell.welds.iter().enumerate() {
            if weld_idx.insert(w.id.as_str(), i).is_some() {
                return Err(WeldError::DuplicateWeld { weld: w.id.clone() });
            }
            value(|| format!("weld {} length_mm", w.id), w.length_mm, w.length_mm >= 0.0, "≥ 0")?;
            let s = w.nominal_seconds;
            value(|| format!("weld {} nominal_seconds", w.id), s, s >= 0.0, "≥ 0")?;
            for (k, c) in w.pos.iter().enumerate() {
                value(|| format!("weld {} pos[{k}]", w.id), *c, true, "finite")?;
            }
            let mut r = vec![false; cell.torches.len()];
            for t in &w.reachable_by {
                let Some(&ti) = torch_idx.get(t.as_str()) else {
                    return Err(WeldError::UnknownReachTorch { weld: w.id.clone(), torch: t.clone() });
                };
                r[ti] = true;
            }
            reach.push(r);
        }
        let usable: Vec<bool> = cell.torches.iter().map(|t| t.health >= m).collect();
        let n = cell.welds.len();
        let mut preds = vec![Vec::new(); n];
        let mut succs = vec![Vec::new(); n];
        for (a, b) in &cell.precedence {
            let ia = *weld_idx.get(a.as_str()).ok_or_else(|| WeldError::UnknownPrecedenceWeld { weld: a.clone() })?;
            let ib = *weld_idx.get(b.as_str()).ok_or_else(|| WeldError::UnknownPrecedenceWeld { weld: b.clone() })?;
            if !preds[ib].contains(&ia) {
                preds[ib].push(ia);
                succs[ia].push(ib);
            }
        }
        let model = Model { cell, torch_idx, weld_idx, reach, usable, preds, succs };
        if let Some(cycle) = find_cycle(n, |v| model.preds[v].clone()) {
            return Err(WeldError::PrecedenceCycle { welds: cycle.iter().map(|&i| cell.welds[i].id.clone()).collect() });
        }
        for (i, w) in cell.welds.iter().enumerate() {
            if !(0..cell.torches.len()).any(|t| model.reach[i][t] && model.usable[t]) {
                let reason = if w.reachable_by.is_empty() {
                    "no torch reaches it".to_owned()
                } else {
                    format!(
                        "only {} reach{} it, below the usable health {m}",
                        w.reachable_by.join(", "),
                        if w.reachable_by.len() == 1 { "es" } else { "" }
                    )
                };
                return Err(WeldError::Unreachable { weld: w.id.clone(), reason });
            }
        }
        Ok(model)
    }

    fn n(&self) -> usize {
        self.cell.welds.len()
    }

    fn duration(&self, w: usize, t: usize) -> f64 {
        self.cell.welds[w].nominal_seconds / self.cell.torches[t].health
    }

    fn can(&self, w: usize, t: usize) -> bool {
        self.reach[w][t] && self.usable[t]
    }

    /// Check a plan and map it to indices.
    fn index_plan(&self, plan: &Plan) -> Result<Vec<Vec<usize>>, Vec<PlanProblem>> {
        let mut problems = Vec::new();
        let mut seqs = vec![Vec::new(); self.cell.torches.len()];
        let mut count = vec![0usize; self.n()];
        for (tid, ws) in &plan.sequences {
            let Some(&t) = self.torch_idx.get(tid.as_str()) else {
                problems.push(PlanProblem::UnknownTorch { torch: tid.clone() });
                continue;
            };
            for wid in ws {
                let Some(&w) = self.weld_idx.get(wid.as_str()) else {
                    problems.push(PlanProblem::UnknownWeld { weld: wid.clone(), torch: tid.clone() });
                    continue;
                };
                count[w] += 1;
                if !self.reach[w][t] {
                    problems.push(PlanProblem::NotReachable { weld: wid.clone(), torch: tid.clone() });
                } else if !self.usable[t] {
                    problems.push(PlanProblem::UnusableTorch {
                        weld: wid.clone(),
                        torch: tid.clone(),
                        health: self.cell.torches[t].health,
                    });
                }
                seqs[t].push(w);
            }
        }
        for (w, &c) in count.iter().enumerate() {
            let weld = self.cell.welds[w].id.clone();
            match c {
                0 => problems.push(PlanProblem::Missing { weld }),
                1 => {}
                count => problems.push(PlanProblem::Duplicate { weld, count }),
            }
        }
        if problems.is_empty() {
            if let Err(welds) = self.simulate(&seqs) {
                problems.push(PlanProblem::Deadlock {
                    welds: welds.iter().map(|&i| self.cell.welds[i].id.clone()).collect(),
                });
            }
        }
        if problems.is_empty() {
            Ok(seqs)
        } else {
            Err(problems)
        }
    }

    /// Start and finish of every weld, and the travel; `Err(cycle)` on a deadlock.
    fn simulate(&self, seqs: &[Vec<usize>]) -> Result<Sim, Vec<usize>> {
        let n = self.n();
        let mut seq_prev: Vec<Option<usize>> = vec![None; n];
        let mut torch_of = vec![usize::MAX; n];
        for (t, s) in seqs.iter().enumerate() {
            for (k, &w) in s.iter().enumerate() {
                torch_of[w] = t;
                seq_prev[w] = if k == 0 { None } else { Some(s[k - 1]) };
            }
        }
        let mut indeg: Vec<usize> = (0..n).map(|w| self.preds[w].len() + usize::from(seq_prev[w].is_some())).collect();
        let mut seq_next: Vec<Option<usize>> = vec![None; n];
        for (w, p) in seq_prev.iter().enumerate() {
            if let Some(p) = *p {
                seq_next[p] = Some(w);
            }
        }
        let mut stack: Vec<usize> = (0..n).filter(|&w| indeg[w] == 0).collect();
        let mut start = vec![0.0; n];
        let mut finish = vec![0.0; n];
        let mut travel = 0.0;
        let mut done = 0;
        while let Some(w) = stack.pop() {
            done += 1;
            let t = torch_of[w];
            let torch = &self.cell.torches[t];
            let (from, free) = match seq_prev[w] {
                Some(p) => (&self.cell.welds[p].pos, finish[p]),
                None => (&torch.home, 0.0),
            };
            let d = dist(from, &self.cell.welds[w].pos);
            travel += d;
            let mut s: f64 = free + d / torch.travel_speed_mm_s;
            for &p in &self.preds[w] {
                s = s.max(finish[p]);
            }
            start[w] = s;
            finish[w] = s + self.duration(w, t);
            for &v in self.succs[w].iter().chain(seq_next[w].iter()) {
                indeg[v] -= 1;
                if indeg[v] == 0 {
                    stack.push(v);
                }
            }
        }
        if done < n {
            let stuck: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
            let cycle = find_cycle(n, |v| {
                if !stuck[v] {
                    return Vec::new();
                }
                self.preds[v].iter().copied().chain(seq_prev[v]).filter(|&p| stuck[p]).collect()
            })
            .unwrap_or_else(|| (0..n).filter(|&v| stuck[v]).collect());
            return Err(cycle);
        }
        Ok(Sim { start, finish, travel })
    }

    fn metrics(&self, sim: &Sim) -> PlanMetrics {
        let n = self.n();
        let makespan_s = sim.finish.iter().copied().fold(0.0, f64::max);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| sim.start[a].total_cmp(&sim.start[b]).then(sim.finish[a].total_cmp(&sim.finish[b])).then(a.cmp(&b)));
        let dm = self.cell.distortion;
        let welds = &self.cell.welds;
        let distortion_index = order
            .windows(2)
            .map(|p| {
                let (a, b) = (p[0], p[1]);
                let heat = (welds[a].length_mm + welds[b].length_mm) / 2.0;
                let gap = (sim.start[b] - sim.finish[a]).max(0.0);
                heat / (dist(&welds[a].pos, &welds[b].pos) + dm.length_scale_mm) * (-gap / dm.cooling_time_s).exp()
            })
            .sum();
        PlanMetrics { makespan_s, travel_mm: sim.travel, distortion_index }
    }

    fn to_plan(&self, seqs: &[Vec<usize>]) -> Plan {
        Plan {
            sequences: seqs
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_empty())
                .map(|(t, s)| (self.cell.torches[t].id.clone(), s.iter().map(|&w| self.cell.welds[w].id.clone()).collect()))
                .collect(),
        }
    }

    /// The list schedule over the torches `allowed` admits (see the module documentation).
    fn list_schedule(&self, allowed: impl Fn(usize) -> bool) -> Option<Vec<Vec<usize>>> {
        let n = self.n();
        let nt = self.cell.torches.len();
        // Longest remaining chain (bottom level), with each weld at its fastest allowed torch.
        let fastest: Vec<f64> = (0..n)
            .map(|w| (0..nt).filter(|&t| self.can(w, t) && allowed(t)).map(|t| self.duration(w, t)).fold(f64::INFINITY, f64::min))
            .collect();
        if fastest.iter().any(|d| d.is_infinite()) {
            return None;
        }
        let topo = topo_order(n, &self.preds, &self.succs)?;
        let mut level = vec![0.0; n];
        for &w in topo.iter().rev() {
            level[w] = fastest[w] + self.succs[w].iter().map(|&s| level[s]).fold(0.0, f64::max);
        }
        let mut indeg: Vec<usize> = (0..n).map(|w| self.preds[w].len()).collect();
        let mut ready: BTreeSet<usize> = (0..n).filter(|&w| indeg[w] == 0).collect();
        let mut free = vec![0.0; nt];
        let mut at: Vec<[f64; 3]> = self.cell.torches.iter().map(|t| t.home).collect();
        let mut finish = vec![0.0; n];
        let mut seqs = vec![Vec::new(); nt];
        while !ready.is_empty() {
            let w = *ready
                .iter()
                .max_by(|&&a, &&b| {
                    level[a].total_cmp(&level[b]).then_with(|| self.cell.welds[b].id.cmp(&self.cell.welds[a].id))
                })
                .unwrap_or(&0);
            ready.remove(&w);
            let pos = self.cell.welds[w].pos;
            let pred_done = self.preds[w].iter().map(|&p| finish[p]).fold(0.0, f64::max);
            let mut best: Option<(f64, f64, usize)> = None;
            for t in (0..nt).filter(|&t| self.can(w, t) && allowed(t)) {
                let d = dist(&at[t], &pos);
                let s = (free[t] + d / self.cell.torches[t].travel_speed_mm_s).max(pred_done);
                let f = s + self.duration(w, t);
                if best.is_none_or(|(bf, bd, _)| f < bf - 1e-12 || (f <= bf + 1e-12 && d < bd)) {
                    best = Some((f, d, t));
                }
            }
            let (f, _, t) = best?;
            finish[w] = f;
            free[t] = f;
            at[t] = pos;
            seqs[t].push(w);
            for &s in &self.succs[w] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.insert(s);
                }
            }
        }
        Some(seqs)
    }
}

struct Sim {
    start: Vec<f64>,
    finish: Vec<f64>,
    travel: f64,
}

fn topo_order(n: usize, preds: &[Vec<usize>], succs: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut stack: Vec<usize> = (0..n).filter(|&w| indeg[w] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(w) = stack.pop() {
        out.push(w);
        for &s in &succs[w] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                stack.push(s);
            }
        }
    }
    (out.len() == n).then_some(out)
}

/// A cycle in the graph whose edges go from each node to the nodes `preds` lists, as a path in precedence
/// order (each node before the next) with its first node repeated at the end; `None` if acyclic.
fn find_cycle(n: usize, preds: impl Fn(usize) -> Vec<usize>) -> Option<Vec<usize>> {
    // Colours: 0 unvisited, 1 on the stack, 2 done. Iterative DFS along predecessor edges.
    let mut colour = vec![0u8; n];
    for root in 0..n {
        if colour[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(root, preds(root), 0)];
        colour[root] = 1;
        while let Some(top) = stack.last_mut() {
            let Some(&p) = top.1.get(top.2) else {
                colour[top.0] = 2;
                stack.pop();
                continue;
            };
            top.2 += 1;
            match colour[p] {
                0 => {
                    colour[p] = 1;
                    stack.push((p, preds(p), 0));
                }
                1 => {
                    // p is on the stack; each stack entry is a predecessor of the one below it, so the entries
                    // from p up are the cycle against precedence order: reverse them.
                    let from = stack.iter().position(|(u, _, _)| *u == p).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[from..].iter().map(|(u, _, _)| *u).collect();
                    cycle.reverse();
                    cycle.push(cycle[0]);
                    return Some(cycle);
                }
                _ => {}
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------------------------------------

/// Check a plan against its cell: the cell itself (ids, values, an acyclic precedence, every weld reachable by
/// a usable torch), then every weld done exactly once, by a torch that reaches it and is usable, with torch
/// orders that do not deadlock against the precedence. All plan problems are listed, each naming its weld.
pub fn validate(cell: &Cell, plan: &Plan) -> Result<(), WeldError> {
    let m = Model::new(cell)?;
    m.index_plan(plan).map(|_| ()).map_err(WeldError::InvalidPlan)
}

/// The metrics of a valid plan (see the module documentation).
pub fn evaluate(cell: &Cell, plan: &Plan) -> Result<PlanMetrics, WeldError> {
    let m = Model::new(cell)?;
    let seqs = m.index_plan(plan).map_err(WeldError::InvalidPlan)?;
    let sim = m.simulate(&seqs).map_err(|_| WeldError::InvalidPlan(Vec::new()))?;
    Ok(m.metrics(&sim))
}

/// The simulated timeline of a valid plan, ordered by start time.
pub fn schedule(cell: &Cell, plan: &Plan) -> Result<Vec<ScheduledWeld>, WeldError> {
    let m = Model::new(cell)?;
    let seqs = m.index_plan(plan).map_err(WeldError::InvalidPlan)?;
    let sim = m.simulate(&seqs).map_err(|_| WeldError::InvalidPlan(Vec::new()))?;
    let mut out: Vec<ScheduledWeld> = seqs
        .iter()
        .enumerate()
        .flat_map(|(t, s)| s.iter().map(move |&w| (t, w)))
        .map(|(t, w)| ScheduledWeld {
            weld: cell.welds[w].id.clone(),
            torch: cell.torches[t].id.clone(),
            start_s: sim.start[w],
            finish_s: sim.finish[w],
        })
        .collect();
    out.sort_by(|a, b| a.start_s.total_cmp(&b.start_s).then_with(|| a.weld.cmp(&b.weld)));
    Ok(out)
}

/// The plain list schedule (the construction [`replan`] starts from).
pub fn list_schedule(cell: &Cell) -> Result<Plan, WeldError> {
    let m = Model::new(cell)?;
    let seqs = m.list_schedule(|_| true).ok_or_else(|| WeldError::InvalidPlan(Vec::new()))?;
    Ok(m.to_plan(&seqs))
}

/// The objective [`replan`] minimises, `makespan_weight · makespan_s + travel_weight · travel_mm +
/// distortion_weight · distortion_index`, and the search's seed and budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Objective {
    /// Per second of makespan.
    pub makespan_weight: f64,
    /// Per mm of travel.
    pub travel_weight: f64,
    /// Per unit of the distortion index.
    pub distortion_weight: f64,
    /// Seed of the order in which moves are tried.
    pub seed: u64,
    /// Most plans evaluated by one local search.
    pub max_evaluations: usize,
}

impl Default for Objective {
    /// Makespan first (1 per s), travel as a tie-breaker (0.001 per mm), distortion ignored; seed 0;
    /// 20 000 evaluations.
    fn default() -> Self {
        Objective { makespan_weight: 1.0, travel_weight: 0.001, distortion_weight: 0.0, seed: 0, max_evaluations: 20_000 }
    }
}

impl Objective {
    /// The objective's value for `m`.
    pub fn score(&self, m: &PlanMetrics) -> f64 {
        self.makespan_weight * m.makespan_s + self.travel_weight * m.travel_mm + self.distortion_weight * m.distortion_index
    }

    fn check(&self) -> Result<(), WeldError> {
        let w = [self.makespan_weight, self.travel_weight, self.distortion_weight];
        if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(WeldError::InvalidObjective(format!("weights {w:?} must be finite and ≥ 0")));
        }
        if w.iter().all(|&x| x == 0.0) {
            return Err(WeldError::InvalidObjective("all weights are zero".into()));
        }
        Ok(())
    }
}

/// The best feasible single-torch plan, the baseline when the current plan is infeasible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// The torch doing every weld.
    pub torch: String,
    /// Its metrics.
    pub metrics: PlanMetrics,
}

/// What the current plan is worth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Baseline {
    /// The current plan is valid; its metrics.
    Feasible {
        /// The current plan's metrics.
        metrics: PlanMetrics,
    },
    /// The current plan cannot run (e.g. it gives welds to an unusable torch).
    Infeasible {
        /// Why, one line per problem, naming the weld.
        problems: Vec<String>,
        /// The best single usable torch that reaches every weld, if there is one: the gain is stated against it.
        fallback: Option<Fallback>,
    },
}

impl Baseline {
    /// The metrics the gain is measured against: the current plan's, else the fallback's.
    pub fn metrics(&self) -> Option<&PlanMetrics> {
        match self {
            Baseline::Feasible { metrics } => Some(metrics),
            Baseline::Infeasible { fallback, .. } => fallback.as_ref().map(|f| &f.metrics),
        }
    }
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Baseline::Feasible { metrics } => write!(f, "current plan: makespan {:.1} s", metrics.makespan_s),
            Baseline::Infeasible { problems, fallback: Some(fb) } => write!(
                f,
                "current plan infeasible ({}); compared with the best single-torch fallback ({}: makespan {:.1} s)",
                problems.join("; "),
                fb.torch,
                fb.metrics.makespan_s
            ),
            Baseline::Infeasible { problems, fallback: None } => {
                write!(f, "current plan infeasible ({}); no single-torch fallback", problems.join("; "))
            }
        }
    }
}

/// A weld that changes torch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedWeld {
    /// The weld.
    pub weld: String,
    /// Its torch in the current plan (`None` if the current plan did not have it).
    pub from: Option<String>,
    /// Its torch in the new plan.
    pub to: String,
}

/// The result of [`replan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replan {
    /// The new plan (valid for the cell).
    pub plan: Plan,
    /// The current plan's worth.
    pub before: Baseline,
    /// The new plan's metrics.
    pub after: PlanMetrics,
    /// The plain list schedule's metrics, for comparison.
    pub list_schedule: PlanMetrics,
    /// `before − after` makespan, s (positive = faster); `None` when the current plan is infeasible and no
    /// single-torch fallback exists.
    pub gain_s: Option<f64>,
    /// `after − before` distortion index (negative = less heat concentration); `None` as for `gain_s`.
    pub distortion_change: Option<f64>,
    /// Welds whose torch changes, by weld id.
    pub moved_welds: Vec<MovedWeld>,
}

/// Re-plan order and assignment (see the module documentation). Refuses a cell with a precedence cycle, or a
/// weld no usable torch can reach, with [`WeldError::PrecedenceCycle`] / [`WeldError::Unreachable`].
pub fn replan(cell: &Cell, current: &Plan, objective: &Objective) -> Result<Replan, WeldError> {
    objective.check()?;
    let m = Model::new(cell)?;
    let current_seqs = m.index_plan(current);
    let before = match &current_seqs {
        Ok(seqs) => match m.simulate(seqs) {
            Ok(sim) => Baseline::Feasible { metrics: m.metrics(&sim) },
            Err(_) => Baseline::Infeasible { problems: vec!["deadlock".into()], fallback: None },
        },
        Err(problems) => {
            let mut fallback: Option<Fallback> = None;
            for t in 0..cell.torches.len() {
                let Some(seqs) = m.list_schedule(|u| u == t) else { continue };
                let Ok(sim) = m.simulate(&seqs) else { continue };
                let metrics = m.metrics(&sim);
                if fallback.as_ref().is_none_or(|f| metrics.makespan_s < f.metrics.makespan_s) {
                    fallback = Some(Fallback { torch: cell.torches[t].id.clone(), metrics });
                }
            }
            Baseline::Infeasible { problems: problems.iter().map(|p| p.to_string()).collect(), fallback }
        }
    };
    let list = m.list_schedule(|_| true).ok_or_else(|| WeldError::InvalidPlan(Vec::new()))?;
    let list_metrics = m.metrics(&m.simulate(&list).map_err(|_| WeldError::InvalidPlan(Vec::new()))?);
    let mut rng = SplitMix64(objective.seed);
    let (from_list, list_score) = local_search(&m, list, objective, &mut rng);
    let best = match current_seqs {
        Ok(seqs) => {
            let (from_current, score) = local_search(&m, seqs, objective, &mut rng);
            // Ties go to the search from the current plan: fewer welds change torch.
            if score <= list_score {
                from_current
            } else {
                from_list
            }
        }
        Err(_) => from_list,
    };
    let after = m.metrics(&m.simulate(&best).map_err(|_| WeldError::InvalidPlan(Vec::new()))?);
    let plan = m.to_plan(&best);
    let moved_welds = cell
        .welds
        .iter()
        .filter_map(|w| {
            let to = plan.torch_of(&w.id)?.to_owned();
            let from = current.torch_of(&w.id).map(str::to_owned);
            (from.as_deref() != Some(to.as_str())).then(|| MovedWeld { weld: w.id.clone(), from, to })
        })
        .collect();
    let base = before.metrics().copied();
    Ok(Replan {
        plan,
        after,
        list_schedule: list_metrics,
        gain_s: base.map(|b| b.makespan_s - after.makespan_s),
        distortion_change: base.map(|b| after.distortion_index - b.distortion_index),
        moved_welds,
        before,
    })
}

/// A seeded SplitMix64 generator (the move order of the local search).
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug, Clone, Copy)]
enum Move {
    /// Take the weld at (torch, index) and insert it at (torch, index) of the list without it.
    Relocate(usize, usize, usize, usize),
    /// Exchange the welds at two places.
    Swap(usize, usize, usize, usize),
}

fn apply(seqs: &[Vec<usize>], mv: Move) -> Vec<Vec<usize>> {
    let mut s = seqs.to_vec();
    match mv {
        Move::Relocate(t1, i1, t2, i2) => {
            let w = s[t1].remove(i1);
            s[t2].insert(i2, w);
        }
        Move::Swap(t1, i1, t2, i2) => {
            let (a, b) = (s[t1][i1], s[t2][i2]);
            s[t1][i1] = b;
            s[t2][i2] = a;
        }
    }
    s
}

fn moves(m: &Model<'_>, seqs: &[Vec<usize>]) -> Vec<Move> {
    let nt = seqs.len();
    let mut out = Vec::new();
    for t1 in 0..nt {
        for (i1, &w) in seqs[t1].iter().enumerate() {
            for t2 in (0..nt).filter(|&t| m.can(w, t)) {
                let slots = if t2 == t1 { seqs[t1].len() } else { seqs[t2].len() + 1 };
                for i2 in 0..slots {
                    if !(t2 == t1 && i2 == i1) {
                        out.push(Move::Relocate(t1, i1, t2, i2));
                    }
                }
            }
            for (t2, seq2) in seqs.iter().enumerate().take(nt).skip(t1) {
                let from = if t2 == t1 { i1 + 1 } else { 0 };
                for (i2, &v) in seq2.iter().enumerate().skip(from) {
                    if t2 != t1 && (!m.can(w, t2) || !m.can(v, t1)) {
                        continue;
                    }
                    out.push(Move::Swap(t1, i1, t2, i2));
                }
            }
        }
    }
    out
}

/// First-improvement local search; returns the best plan and its score.
fn local_search(m: &Model<'_>, start: Vec<Vec<usize>>, obj: &Objective, rng: &mut SplitMix64) -> (Vec<Vec<usize>>, f64) {
    let score_of = |s: &[Vec<usize>]| m.simulate(s).ok().map(|sim| obj.score(&m.metrics(&sim)));
    let mut cur = start;
    let Some(mut cur_score) = score_of(&cur) else { return (cur, f64::INFINITY) };
    let mut budget = obj.max_evaluations;
    'outer: while budget > 0 {
        let mut cand = moves(m, &cur);
        for i in (1..cand.len()).rev() {
            cand.swap(i, rng.below(i + 1));
        }
        for mv in cand {
            if budget == 0 {
                break 'outer;
            }
            budget -= 1;
            let next = apply(&cur, mv);
            if let Some(s) = score_of(&next) {
                if s < cur_score - 1e-9 * (1.0 + cur_score.abs()) {
                    cur = next;
                    cur_score = s;
                    continue 'outer;
                }
            }
        }
        break;
    }
    (cur, cur_score)
}

#[cfg(test)]
mod tests;
