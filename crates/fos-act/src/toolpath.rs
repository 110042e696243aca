//! Toolpath correction: shift every work-coordinate position of a G-code program by a delta, then prove it.
//!
//! The delta (millimetres, work axes X, Y, Z) is either a work-coordinate shift (the part sits `delta` away
//! from where the program assumed) or a Z/length correction (`[0, 0, dz]`: spindle thermal growth, or length
//! wear compensated in the path). It applies to the whole program: every tool, every fixture. A correction
//! for one tool's wear belongs in its offset ([`crate::offset`]), not in the path.
//!
//! # The rule
//!
//! Positions are tracked per axis as a work coordinate, or as a machine-fixed place that is not known in
//! work coordinates: where the axis was when the program started, a reference point (after G28/G30), or a
//! G53 machine position.
//!
//! - **G90 (absolute).** In a motion block (G0/G1/G2/G3, a canned cycle, and lines with only coordinates
//!   that continue the modal motion) every `X`/`Y`/`Z` word present gets the delta of its axis. In a canned
//!   cycle (G73/74/76/81–86/89, G17 only) the `R` level is a Z position and gets the Z delta too; the G28/G30
//!   intermediate point is a work position and is shifted like a move.
//! - **G91 (incremental).** Increments are left as they are. They start from a position that is already
//!   shifted — the last absolute position, shifted by the rule above — so the shift carries through every
//!   incremental move, and the first absolute position after switching back to G90 is shifted like any
//!   other. This holds only when the axis *has* a work position: a non-zero increment from the start
//!   position, a reference point or a G53 position (e.g. `G91 G0 Z-50.` right after `G28 Z0.`) moves
//!   relative to the machine, and whether that move should follow the part is not knowable from the
//!   program; it is refused. Zero increments (`G91 G28 Z0.`) are fine. An arc must start from work positions
//!   on both axes of its plane, because its centre is relative to its start.
//! - **Unchanged:** arc centres `I`/`J`/`K` (relative to the arc's start, so they move with it), arc radii `R`,
//!   peck depths `Q`, dwell `G4 X`/`P`, G53 machine positions and reference points (machine-fixed safe
//!   places, not part features), and every other word.
//! - **Units.** The program must state G20 or G21 (and G90 or G91) before its first coordinate, and not
//!   change units; in G20 the delta is converted to inches. The delta is rounded to the written decimals
//!   (0.0001 mm, 0.00001 in); [`TransformReport::max_error_mm`] states that rounding.
//!
//! # Refused
//!
//! Programs whose meaning the transform cannot follow are refused with [`TransformError::Unsupported`],
//! listing every offending line: macro statements (`#`, `IF`, `GOTO`, `WHILE` …), subprogram calls and
//! returns (M98, M99, M198), coordinate-system setting and shifting (G92, G52, G10), macro calls (G65, G66),
//! rotation, scaling, mirroring and polar coordinates (G68, G51, G51.1, G16), G codes outside a short list of
//! understood ones, rotary axis words (a linear shift of the part does not commute with a rotation), more than
//! one work offset (one delta cannot be assumed for several fixtures), block-delete lines with words, nonzero
//! dimension words without a decimal point (their meaning depends on Fanuc parameter 3401#0), values with
//! more decimals than the unit writes (rewriting them would round them), and repeated axis words in a block.
//!
//! # Verification
//!
//! [`correct`] writes the corrected program, parses it again and runs [`verify`]: a small interpreter over
//! the same modal state simulates both programs' positions exactly, in integer counts of the written
//! increment, and checks that every motion end point (line ends, arc ends and centres, each canned-cycle hole,
//! R level, bottom and return, G28/G30 intermediate points, reference and G53 positions) of the corrected
//! program is the original's plus the delta where it is a work position and equal where it is machine-fixed;
//! that the line count is the same; and that every other item of every line is unchanged.

use std::fmt;

use crate::gcode::{
    format_fixed, format_value, parse, write, Distance, Item, Letter, Line, ModalState, Motion, ParseError, Plane, Program,
    ReturnLevel, Units, WorkOffset,
};

/// Largest absolute value (in program units) the transform handles, so that counts stay exact in `f64`.
const MAX_VALUE: f64 = 1e8;
/// Largest canned-cycle repeat count (Fanuc's K range).
const MAX_REPEAT: f64 = 9999.0;

/// What [`correct`] and [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransformReport {
    /// Lines whose text changed.
    pub lines_changed: usize,
    /// Motion end points compared between the two programs.
    pub moves_checked: usize,
    /// Largest difference between a corrected work position and the original plus the exact delta, in mm:
    /// the rounding of the delta to the written decimals (the simulation itself is exact).
    pub max_error_mm: f64,
}

/// One changed line, both sides as the writer writes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineChange {
    /// Line number, 1-based.
    pub line: usize,
    /// The original line.
    pub before: String,
    /// The corrected line.
    pub after: String,
}

/// A corrected program and its verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Corrected {
    /// The corrected program, as parsed back from `text`.
    pub program: Program,
    /// The exact text to run.
    pub text: String,
    /// The verification's figures.
    pub report: TransformReport,
    /// Every changed line.
    pub changes: Vec<LineChange>,
}

/// A line the transform cannot handle, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unsupported {
    /// Line number, 1-based.
    pub line: usize,
    /// What is not supported there.
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Why a correction was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// The delta has a non-finite component.
    #[error("delta {axis} = {value} is not a finite number of millimetres")]
    InvalidDelta {
        /// The axis.
        axis: char,
        /// Its value.
        value: f64,
    },
    /// The program uses something the transform cannot transform safely (every such line is listed).
    #[error("program not transformable: {}", list(.0))]
    Unsupported(Vec<Unsupported>),
    /// The text to verify does not parse.
    #[error("corrected program does not parse: {0}")]
    Parse(#[from] ParseError),
    /// The corrected program does not do what the correction promised. A bug, never expected: nothing may run.
    #[error("verification failed at line {line}: {reason}")]
    Verification {
        /// Line number, 1-based.
        line: usize,
        /// What differs.
        reason: String,
    },
}

fn list(items: &[Unsupported]) -> String {
    items.iter().map(|u| u.to_string()).collect::<Vec<_>>().join("; ")
}

/// A simulated position of one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisPos {
    /// A work coordinate, in counts of the written increment (0.0001 mm or 0.00001 in).
    Work(i64),
    /// Where the axis was when the program started (not known in work coordinates).
    Start,
    /// At a reference point: 1 after G28, 2–4 after G30 P2–P4.
    Reference(u8),
    /// A G53 machine coordinate, in counts.
    Machine(i64),
}

/// What kind of point an [`Endpoint`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// End of a G0 move.
    Rapid,
    /// End of a G1 move.
    Linear,
    /// End of a G2/G3 arc.
    Arc,
    /// Centre of an arc given by I/J/K.
    ArcCentre,
    /// A canned-cycle hole position (at the current Z).
    Hole,
    /// A canned cycle's R level.
    RLevel,
    /// A canned cycle's hole bottom.
    Bottom,
    /// Where a canned cycle returns (initial or R level).
    CycleReturn,
    /// A G28/G30 intermediate point.
    Intermediate,
    /// A reference point reached by G28/G30.
    Reference,
    /// A G53 machine position.
    Machine,
}

/// One simulated point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Line number, 1-based.
    pub line: usize,
    /// What the point is.
    pub kind: EndpointKind,
    /// X, Y, Z.
    pub pos: [AxisPos; 3],
}

/// The simulated points of a program.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The program's units (`None` when it has no coordinates).
    pub units: Option<Units>,
    /// Every point, in order.
    pub endpoints: Vec<Endpoint>,
}

/// A word the correction shifts: line index, item index, axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    line: usize,
    item: usize,
    axis: usize,
}

struct Run {
    sim: Simulation,
    targets: Vec<Target>,
}

/// Simulate a program's positions (the interpreter [`verify`] uses). Refuses what [`correct`] refuses.
pub fn simulate(program: &Program) -> Result<Simulation, TransformError> {
    run(program).map(|r| r.sim)
}

/// Shift `program` by `delta_mm` (X, Y, Z in millimetres) under the rule of the module documentation, and
/// verify the result.
pub fn correct(program: &Program, delta_mm: [f64; 3]) -> Result<Corrected, TransformError> {
    check_delta(delta_mm)?;
    let original = run(program)?;
    let units = original.sim.units.unwrap_or(Units::Mm);
    let d = delta_counts(delta_mm, units);
    let scale = scale(units);
    let mut out = program.clone();
    for t in &original.targets {
        if d[t.axis] == 0 {
            continue;
        }
        if let Some(Item::Word(w)) = out.lines.get_mut(t.line).and_then(|l| l.items.get_mut(t.item)) {
            w.value = (counts(w.value, scale) + d[t.axis]) as f64 / scale;
            w.decimal_point = true;
        }
    }
    let text = write(&out);
    let (corrected, report) = verify_run(program, &original, &text, delta_mm)?;
    let mut changes = Vec::new();
    let states = program.modal_states();
    for (i, ((a, b), after)) in program.lines.iter().zip(&corrected.lines).zip(&states).enumerate() {
        if a != b {
            changes.push(LineChange { line: i + 1, before: a.to_text(after), after: b.to_text(after) });
        }
    }
    Ok(Corrected { program: corrected, text, report, changes })
}

/// Check that `corrected_text` is `original` shifted by `delta_mm` (see the module documentation), so that
/// an approver can re-verify a corrected program independently of [`correct`].
pub fn verify(original: &Program, corrected_text: &str, delta_mm: [f64; 3]) -> Result<TransformReport, TransformError> {
    check_delta(delta_mm)?;
    let run_a = run(original)?;
    verify_run(original, &run_a, corrected_text, delta_mm).map(|(_, r)| r)
}

fn check_delta(delta_mm: [f64; 3]) -> Result<(), TransformError> {
    for (axis, value) in ['X', 'Y', 'Z'].into_iter().zip(delta_mm) {
        if !value.is_finite() || value.abs() > MAX_VALUE {
            return Err(TransformError::InvalidDelta { axis, value });
        }
    }
    Ok(())
}

fn scale(units: Units) -> f64 {
    10f64.powi(units.decimals() as i32)
}

fn counts(v: f64, scale: f64) -> i64 {
    (v * scale).round() as i64
}

fn delta_counts(delta_mm: [f64; 3], units: Units) -> [i64; 3] {
    let s = scale(units);
    delta_mm.map(|d| (d / units.mm() * s).round() as i64)
}

fn verify_run(
    original: &Program,
    run_a: &Run,
    text: &str,
    delta_mm: [f64; 3],
) -> Result<(Program, TransformReport), TransformError> {
    let fail = |line: usize, reason: String| TransformError::Verification { line, reason };
    let corrected = parse(text)?;
    let run_b = run(&corrected).map_err(|e| fail(0, format!("the corrected program is not transformable: {e}")))?;
    if corrected.lines.len() != original.lines.len() {
        return Err(fail(0, format!("{} lines became {}", original.lines.len(), corrected.lines.len())));
    }
    let units = run_a.sim.units.unwrap_or(Units::Mm);
    if run_b.sim.units.is_some() && run_b.sim.units != run_a.sim.units {
        return Err(fail(0, "the units changed".to_owned()));
    }
    if run_a.targets != run_b.targets {
        return Err(fail(0, "the shifted words differ between the programs".to_owned()));
    }
    let d = delta_counts(delta_mm, units);
    let scale = scale(units);
    let mut lines_changed = 0;
    let mut ti = 0;
    for (li, (a, b)) in original.lines.iter().zip(&corrected.lines).enumerate() {
        let no = li + 1;
        if a.block_delete != b.block_delete || a.items.len() != b.items.len() {
            return Err(fail(no, "the line's structure changed".to_owned()));
        }
        let mut changed = false;
        for (ii, (x, y)) in a.items.iter().zip(&b.items).enumerate() {
            let target = run_a.targets.get(ti).filter(|t| t.line == li && t.item == ii).copied();
            if target.is_some() {
                ti += 1;
            }
            match (x, y, target) {
                (Item::Word(x), Item::Word(y), Some(t)) => {
                    let want = counts(x.value, scale) + d[t.axis];
                    if x.letter != y.letter || counts(y.value, scale) != want {
                        let want = format_fixed(want as f64 / scale, units.decimals());
                        return Err(fail(no, format!("{}{} should be {}{want}", y.letter, y.value, x.letter)));
                    }
                    changed |= x.value != y.value;
                }
                (Item::Word(x), Item::Word(y), None) => {
                    if x.letter != y.letter || x.value != y.value {
                        return Err(fail(no, format!("{}{} changed to {}{}", x.letter, x.value, y.letter, y.value)));
                    }
                }
                (x, y, _) => {
                    if x != y {
                        return Err(fail(no, format!("{x:?} changed to {y:?}")));
                    }
                }
            }
        }
        lines_changed += usize::from(changed);
    }
    let (ea, eb) = (&run_a.sim.endpoints, &run_b.sim.endpoints);
    if ea.len() != eb.len() {
        return Err(fail(0, format!("{} simulated points became {}", ea.len(), eb.len())));
    }
    let mut max_error_mm: f64 = 0.0;
    for (p, q) in ea.iter().zip(eb) {
        if p.line != q.line || p.kind != q.kind {
            return Err(fail(q.line, format!("{:?} at line {} became {:?}", p.kind, p.line, q.kind)));
        }
        for axis in 0..3 {
            match (p.pos[axis], q.pos[axis]) {
                (AxisPos::Work(x), AxisPos::Work(y)) => {
                    if y - x != d[axis] {
                        return Err(fail(
                            q.line,
                            format!(
                                "{:?} {}: {} should be {}",
                                p.kind,
                                ['X', 'Y', 'Z'][axis],
                                format_fixed(y as f64 / scale, units.decimals()),
                                format_fixed((x + d[axis]) as f64 / scale, units.decimals())
                            ),
                        ));
                    }
                    let err = ((y - x) as f64 / scale * units.mm() - delta_mm[axis]).abs();
                    max_error_mm = max_error_mm.max(err);
                }
                (a, b) if a == b => {}
                (a, b) => {
                    return Err(fail(q.line, format!("{:?} {}: {a:?} became {b:?}", p.kind, ['X', 'Y', 'Z'][axis])))
                }
            }
        }
    }
    Ok((corrected, TransformReport { lines_changed, moves_checked: ea.len(), max_error_mm }))
}

// ---------------------------------------------------------------------------------------------------------
// The whitelist and the line-by-line checks
// ---------------------------------------------------------------------------------------------------------

/// G codes (in tenths) the transform understands.
const SUPPORTED_G: &[i64] = &[
    0, 10, 20, 30, 40, 90, 150, 170, 180, 190, 200, 210, 280, 300, 400, 410, 420, 430, 440, 490, 501, 530, 540, 550,
    560, 570, 580, 590, 610, 640, 670, 690, 730, 740, 760, 800, 810, 820, 830, 840, 850, 860, 890, 900, 910, 940,
    950, 980, 990,
];

fn g_refusal(code10: i64) -> Option<String> {
    if SUPPORTED_G.contains(&code10) {
        return None;
    }
    let name = if code10 % 10 == 0 { format!("G{}", code10 / 10) } else { format!("G{}.{}", code10 / 10, code10 % 10) };
    let why = match code10 {
        920 => "sets the coordinate system from the current position",
        520 => "shifts the local coordinate system",
        100 => "changes offsets from within the program",
        650 | 660 => "calls a macro",
        680 => "rotates the coordinate system: a shift in the work frame is not a shift in the rotated frame",
        510 | 511 => "scales or mirrors the coordinates",
        160 => "selects polar coordinates (X and Y become radius and angle)",
        541 => "selects an extended work offset",
        310 => "is a skip move whose end point depends on a probe",
        _ => "is not among the G codes the transform understands",
    };
    Some(format!("{name} {why}"))
}

/// Everything that can be refused by looking at the lines alone: all of it is reported.
fn line_issues(program: &Program) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let mut state = ModalState::default();
    let mut units_seen: Option<Units> = None;
    let mut offsets_seen: Vec<WorkOffset> = Vec::new();
    for (li, line) in program.lines.iter().enumerate() {
        let mut issue = |reason: String| out.push(Unsupported { line: li + 1, reason });
        if line.has_macro() {
            issue("macro statement (#, IF, GOTO, WHILE …): its values are computed at run time".to_owned());
        }
        if line.block_delete && line.words().next().is_some() {
            issue("block delete '/': whether the block runs depends on the operator's switch".to_owned());
        }
        for item in &line.items {
            if let Item::Comment(c) = item {
                if c.text.chars().any(|c| c.is_control() && c != '\t') {
                    issue("control character in a comment".to_owned());
                }
            }
        }
        let here = line.units();
        if let (Some(a), Some(b)) = (units_seen, here) {
            if a != b {
                issue(format!("units change from {} to {} within the program", g_units(a), g_units(b)));
            }
        }
        units_seen = units_seen.or(here);
        let units = here.or(state.units).unwrap_or(Units::Mm);
        let mut after = state;
        after.apply(line);
        let mut seen: Vec<Letter> = Vec::new();
        for w in line.words() {
            if Line::is_count(w, &after) {
                // A canned cycle's repeat count: checked by the interpreter, written as a count.
                continue;
            }
            let text = format!("{}{}", w.letter, format_value(w.letter, w.value, units));
            match w.letter {
                Letter::G => match w.code10() {
                    Some(c) => {
                        if let Some(why) = g_refusal(c) {
                            issue(why);
                        }
                        if let Some(o) = WorkOffset::from_g(w) {
                            if !offsets_seen.contains(&o) {
                                offsets_seen.push(o);
                                if offsets_seen.len() == 2 {
                                    issue(format!(
                                        "selects G{} after G{}: one delta cannot be assumed for several fixtures",
                                        offsets_seen[1].g_code(),
                                        offsets_seen[0].g_code()
                                    ));
                                }
                            }
                        }
                    }
                    None => issue(format!("{text} is not a G code the transform understands")),
                },
                Letter::M if w.is(Letter::M, 98) || w.is(Letter::M, 198) => {
                    issue(format!("{text} calls a subprogram"));
                }
                Letter::M if w.is(Letter::M, 99) => issue(format!("{text} returns from or repeats a program")),
                Letter::A | Letter::B | Letter::C => {
                    issue(format!("{text}: rotary axis; a linear shift of the part does not commute with a rotation"));
                }
                _ => {}
            }
            if w.letter.is_dimension() && !w.decimal_point && w.value != 0.0 {
                issue(format!(
                    "{}{} has no decimal point: it means {} or one least increment depending on the controller \
                     (Fanuc parameter 3401#0); write the point",
                    w.letter, w.value, w.value
                ));
            }
            if w.letter.is_real() {
                if w.value.abs() > MAX_VALUE {
                    issue(format!("{}{} is out of range", w.letter, w.value));
                } else if format_fixed(w.value, units.decimals()).parse::<f64>().ok() != Some(w.value) {
                    issue(format!(
                        "{}{} has more than {} decimals: rewriting would round it",
                        w.letter,
                        w.value,
                        units.decimals()
                    ));
                }
            }
            let checked = matches!(
                w.letter,
                Letter::X | Letter::Y | Letter::Z | Letter::I | Letter::J | Letter::K | Letter::R | Letter::Q
            );
            if checked {
                if seen.contains(&w.letter) {
                    issue(format!("{} appears twice in the block", w.letter));
                } else {
                    seen.push(w.letter);
                }
            }
        }
        state = after;
    }
    out
}

fn g_units(u: Units) -> &'static str {
    match u {
        Units::Inch => "G20",
        Units::Mm => "G21",
    }
}

// ---------------------------------------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct CycleData {
    initial: AxisPos,
    r: Option<f64>,
    z: Option<f64>,
}

struct Interp {
    modal: ModalState,
    pos: [AxisPos; 3],
    cycle: Option<CycleData>,
    endpoints: Vec<Endpoint>,
    targets: Vec<Target>,
}

fn run(program: &Program) -> Result<Run, TransformError> {
    let issues = line_issues(program);
    if !issues.is_empty() {
        return Err(TransformError::Unsupported(issues));
    }
    let mut it = Interp {
        modal: ModalState::default(),
        pos: [AxisPos::Start; 3],
        cycle: None,
        endpoints: Vec::new(),
        targets: Vec::new(),
    };
    let mut units = None;
    for (li, line) in program.lines.iter().enumerate() {
        it.step(li, line).map_err(|reason| TransformError::Unsupported(vec![Unsupported { line: li + 1, reason }]))?;
        units = units.or(it.modal.units);
    }
    it.targets.sort_by_key(|t| (t.line, t.item));
    Ok(Run { sim: Simulation { units, endpoints: it.endpoints }, targets: it.targets })
}

const AXES: [char; 3] = ['X', 'Y', 'Z'];

impl Interp {
    /// The position an axis word moves to, in counts.
    fn target(&self, axis: usize, v: f64, dist: Distance, scale: f64) -> Result<AxisPos, String> {
        let c = counts(v, scale);
        match dist {
            Distance::Absolute => Ok(AxisPos::Work(c)),
            Distance::Incremental => match self.pos[axis] {
                AxisPos::Work(p) => Ok(AxisPos::Work(p + c)),
                other if c == 0 => Ok(other),
                other => Err(format!(
                    "incremental {} move from {}: the position is not known in work coordinates, so whether the \
                     move should follow the part cannot be told",
                    AXES[axis],
                    describe(other)
                )),
            },
        }
    }

    fn push(&mut self, line: usize, kind: EndpointKind, pos: [AxisPos; 3]) {
        self.endpoints.push(Endpoint { line: line + 1, kind, pos });
    }

    fn step(&mut self, li: usize, line: &Line) -> Result<(), String> {
        let before = self.modal;
        let mut after = before;
        after.apply(line);
        let result = self.block(li, line, &before, &after);
        self.modal = after;
        if !matches!(after.motion, Some(Motion::Cycle(_))) {
            self.cycle = None;
        }
        result
    }

    fn block(&mut self, li: usize, line: &Line, before: &ModalState, after: &ModalState) -> Result<(), String> {
        // Axis words and the other position-bearing words, with their item index.
        let mut axis: [Option<(usize, f64)>; 3] = [None; 3];
        let mut centre: [Option<f64>; 3] = [None; 3];
        let mut r_word: Option<(usize, f64)> = None;
        let mut k_word: Option<f64> = None;
        let mut l_word = false;
        for (ii, item) in line.items.iter().enumerate() {
            let Item::Word(w) = item else { continue };
            match w.letter {
                Letter::X | Letter::Y | Letter::Z => axis[w.letter.axis().unwrap_or(0)] = Some((ii, w.value)),
                Letter::I => centre[0] = Some(w.value),
                Letter::J => centre[1] = Some(w.value),
                Letter::K => {
                    centre[2] = Some(w.value);
                    k_word = Some(w.value);
                }
                Letter::R => r_word = Some((ii, w.value)),
                Letter::L => l_word = true,
                _ => {}
            }
        }
        let has_axes = axis.iter().any(Option::is_some);
        let in_cycle = matches!(after.motion, Some(Motion::Cycle(_)));
        if self.cycle.is_some() && in_cycle && before.distance != after.distance {
            return Err("G90/G91 changes while a canned cycle is active".to_owned());
        }
        let dwell = line.has(Letter::G, 4);
        let reference = line.has(Letter::G, 28) || line.has(Letter::G, 30);
        let machine = line.has(Letter::G, 53);
        if !has_axes && (!in_cycle || r_word.is_none()) {
            return Ok(());
        }
        if dwell {
            if axis[1].is_some() || axis[2].is_some() {
                return Err("G4 dwell with Y or Z words".to_owned());
            }
            return Ok(());
        }
        let Some(units) = after.units else {
            return Err("coordinates before G20 or G21 states the units".to_owned());
        };
        let Some(dist) = after.distance else {
            return Err("coordinates before G90 or G91 states the distance mode".to_owned());
        };
        let scale = scale(units);
        if reference && machine {
            return Err("G53 and G28/G30 in one block".to_owned());
        }
        if reference {
            if in_cycle {
                return Err("G28/G30 while a canned cycle is active".to_owned());
            }
            let refn = if line.has(Letter::G, 28) {
                1
            } else {
                match line.value(Letter::P) {
                    None => 2,
                    Some(p) if p == 2.0 || p == 3.0 || p == 4.0 => p as u8,
                    Some(p) => return Err(format!("G30 P{p}: reference point must be 2, 3 or 4")),
                }
            };
            let mut inter = self.pos;
            for a in 0..3 {
                if let Some((ii, v)) = axis[a] {
                    inter[a] = self.target(a, v, dist, scale)?;
                    if dist == Distance::Absolute {
                        self.targets.push(Target { line: li, item: ii, axis: a });
                    }
                }
            }
            self.push(li, EndpointKind::Intermediate, inter);
            for a in 0..3 {
                if axis[a].is_some() {
                    inter[a] = AxisPos::Reference(refn);
                }
            }
            self.pos = inter;
            self.push(li, EndpointKind::Reference, inter);
            return Ok(());
        }
        if machine {
            if dist == Distance::Incremental {
                return Err("G53 in G91: the controller ignores it".to_owned());
            }
            for (a, word) in axis.iter().enumerate() {
                if let Some((_, v)) = *word {
                    self.pos[a] = AxisPos::Machine(counts(v, scale));
                }
            }
            self.push(li, EndpointKind::Machine, self.pos);
            return Ok(());
        }
        match after.motion {
            None => Err("coordinates but no motion mode (G0, G1, G2, G3 or a canned cycle) in effect".to_owned()),
            Some(m @ (Motion::Rapid | Motion::Linear | Motion::ArcCw | Motion::ArcCcw)) => {
                let arc = matches!(m, Motion::ArcCw | Motion::ArcCcw);
                if arc {
                    let plane = after.plane.axes();
                    for a in plane {
                        if !matches!(self.pos[a], AxisPos::Work(_)) {
                            return Err(format!(
                                "arc starting from {} on {}: its centre is relative to a position not known in \
                                 work coordinates",
                                describe(self.pos[a]),
                                AXES[a]
                            ));
                        }
                    }
                    if plane.iter().any(|&a| centre[a].is_some()) {
                        let mut c = self.pos;
                        for a in plane {
                            if let (AxisPos::Work(p), Some(off)) = (self.pos[a], centre[a]) {
                                c[a] = AxisPos::Work(p + counts(off, scale));
                            }
                        }
                        self.push(li, EndpointKind::ArcCentre, c);
                    }
                }
                let mut next = self.pos;
                for a in 0..3 {
                    if let Some((ii, v)) = axis[a] {
                        next[a] = self.target(a, v, dist, scale)?;
                        if dist == Distance::Absolute {
                            self.targets.push(Target { line: li, item: ii, axis: a });
                        }
                    }
                }
                self.pos = next;
                let kind = match m {
                    Motion::Rapid => EndpointKind::Rapid,
                    Motion::Linear => EndpointKind::Linear,
                    _ => EndpointKind::Arc,
                };
                self.push(li, kind, next);
                Ok(())
            }
            Some(Motion::Cycle(n)) => self.cycle_block(li, n, axis, r_word, k_word, l_word, after, dist, scale),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn cycle_block(
        &mut self,
        li: usize,
        n: u8,
        axis: [Option<(usize, f64)>; 3],
        r_word: Option<(usize, f64)>,
        k_word: Option<f64>,
        l_word: bool,
        after: &ModalState,
        dist: Distance,
        scale: f64,
    ) -> Result<(), String> {
        if after.plane != Plane::Xy {
            return Err(format!("canned cycle G{n} outside the G17 plane"));
        }
        if l_word {
            return Err(format!("L in canned cycle G{n}: use K for the repeat count"));
        }
        if axis.iter().all(Option::is_none) {
            return Err(format!("canned cycle G{n} block with R but no X, Y or Z"));
        }
        let repeats = match k_word {
            None => 1,
            Some(k) if (1.0..=MAX_REPEAT).contains(&k) && k.fract() == 0.0 => k as u32,
            Some(k) => return Err(format!("canned cycle repeat count K{k}: must be a whole number from 1 to 9999")),
        };
        let mut data = self.cycle.unwrap_or(CycleData { initial: self.pos[2], r: None, z: None });
        if let Some((_, r)) = r_word {
            data.r = Some(r);
        }
        if let Some((_, z)) = axis[2] {
            data.z = Some(z);
        }
        self.cycle = Some(data);
        let (Some(r), Some(z)) = (data.r, data.z) else {
            return Err(format!("canned cycle G{n} without {} (none given since the cycle started)", if data.r.is_none() { "an R level" } else { "a Z depth" }));
        };
        if dist == Distance::Absolute {
            for (a, word) in axis.iter().enumerate() {
                if let Some((ii, _)) = *word {
                    self.targets.push(Target { line: li, item: ii, axis: a });
                }
            }
            if let Some((ii, _)) = r_word {
                self.targets.push(Target { line: li, item: ii, axis: 2 });
            }
        }
        let r_level = match dist {
            Distance::Absolute => AxisPos::Work(counts(r, scale)),
            Distance::Incremental => match data.initial {
                AxisPos::Work(i) => AxisPos::Work(i + counts(r, scale)),
                other => {
                    return Err(format!(
                        "incremental R level from an initial level at {}: not known in work coordinates",
                        describe(other)
                    ))
                }
            },
        };
        let bottom = match (dist, r_level) {
            (Distance::Absolute, _) => AxisPos::Work(counts(z, scale)),
            (Distance::Incremental, AxisPos::Work(rl)) => AxisPos::Work(rl + counts(z, scale)),
            (Distance::Incremental, _) => AxisPos::Start, // unreachable: r_level is a work position in G91
        };
        let back = match after.return_level {
            ReturnLevel::Initial => data.initial,
            ReturnLevel::R => r_level,
        };
        for _ in 0..repeats {
            let mut hole = self.pos;
            for a in 0..2 {
                if let Some((_, v)) = axis[a] {
                    hole[a] = self.target(a, v, dist, scale)?;
                }
            }
            self.push(li, EndpointKind::Hole, hole);
            self.push(li, EndpointKind::RLevel, [hole[0], hole[1], r_level]);
            self.push(li, EndpointKind::Bottom, [hole[0], hole[1], bottom]);
            self.pos = [hole[0], hole[1], back];
            self.push(li, EndpointKind::CycleReturn, self.pos);
        }
        Ok(())
    }
}

fn describe(p: AxisPos) -> String {
    match p {
        AxisPos::Work(_) => "a work position".to_owned(),
        AxisPos::Start => "the position at program start".to_owned(),
        AxisPos::Reference(1) => "the G28 reference point".to_owned(),
        AxisPos::Reference(n) => format!("the G30 P{n} reference point"),
        AxisPos::Machine(_) => "a G53 machine position".to_owned(),
    }
}

#[cfg(test)]
mod tests;
