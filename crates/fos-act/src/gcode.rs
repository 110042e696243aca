//! G-code: a parser and writer for the ISO 6983 / Fanuc-style subset a CNC mill program uses, and the modal
//! state that gives its words meaning.
//!
//! # What is read
//!
//! - One [`Line`] per source line (`\n`, with an optional `\r` before it), blank lines included, so line
//!   numbers in errors and reports are the editor's line numbers (1-based).
//! - `%` at the start of a line (tape start/end), an optional leading `/` (block delete).
//! - Words: a letter (case-insensitive) and a decimal number: `G0`, `g01`, `X.5`, `X1.`, `-0.25`, `Y +3`.
//!   Whitespace may separate words, and a letter from its number; it may not split a number. The letters are
//!   those of [`Letter`]: `O` program number, `N` sequence number, `G`, `M`, `T`, `H`, `D`, `S`, `F`, the axes
//!   `X Y Z A B C`, arc centres `I J K`, and `R P L Q`. No exponent form.
//! - Comments in `( … )` anywhere in a line and after `;` to the end of the line, kept verbatim.
//! - Fanuc Custom Macro B text (`#1=2.`, `X#24`, `X[#1+2.]`, `IF`, `GOTO`, `WHILE`, `DO`, `END` …) is not
//!   interpreted: from its first character to the end of the line it is kept verbatim as [`Item::Macro`], so
//!   such programs round-trip and the toolpath transform can name them as unsupported.
//!
//! Anything else is a [`ParseError`] naming the line, the column (in characters, 1-based) and what was
//! expected. Parsing never panics (the `gcode` fuzz target checks it, see [`fuzz_check`]).
//!
//! # What is written
//!
//! [`write()`] writes one line per [`Line`], words separated by one space, letters upper case. Real-valued words
//! (`X Y Z A B C I J K R Q F`) are written with a fixed number of decimals — 4 in millimetres (G21), 5 in inches
//! (G20), 4 where no unit has been stated yet — never in exponent form, and always with a decimal point.
//! Code and count words (`G M N O T H D S P L`, and `K` as a canned cycle's repeat count) are written as integers when integral (`G1`, not `G01`) and
//! otherwise with the shortest decimal that reads back to the same value (`G54.1`). So `parse(write(p))` is
//! `p` with real values rounded to the written decimals, and `write` of that is the same text again.
//!
//! **Decimal point.** The parser reads `X1` as 1 unit ("calculator-type" input, Fanuc parameter 3401#0 = 1).
//! On a controller without it, `X1` means one least increment (0.001 mm). The writer always writes the point,
//! which is unambiguous on every controller — and so it is only a faithful rewrite of a program whose
//! dimension words either have a point or are zero; [`Word::decimal_point`] records which, and the toolpath
//! transform refuses the others.
//!
//! # Modal state
//!
//! [`ModalState`] follows the modal groups the transforms need: distance (G90/G91), units (G20/G21), plane
//! (G17/18/19), motion (G0–G3, canned cycles, G80), work offset (G54–G59), tool length compensation
//! (G43/G44/G49 and `H`), cutter compensation (G40/G41/G42 and `D`), the canned-cycle return level (G98/G99)
//! and the last `T`. Distance and units start unknown (`None`): their power-on state is a controller
//! parameter, so a program that depends on them must state them.

use std::fmt;

/// The word letters of the supported subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Letter {
    /// Rotary axis about X (degrees).
    A,
    /// Rotary axis about Y (degrees).
    B,
    /// Rotary axis about Z (degrees).
    C,
    /// Cutter compensation (radius) offset number.
    D,
    /// Feed rate.
    F,
    /// Preparatory function.
    G,
    /// Tool length offset number.
    H,
    /// Arc centre, X component (relative to the arc's start).
    I,
    /// Arc centre, Y component.
    J,
    /// Arc centre, Z component; repeat count in a canned cycle.
    K,
    /// Data-setting mode of G10; repeat count on older controllers.
    L,
    /// Miscellaneous function.
    M,
    /// Sequence number.
    N,
    /// Program number.
    O,
    /// Parameter: offset number in G10, dwell time in G4, reference point in G30.
    P,
    /// Peck depth or shift amount in canned cycles.
    Q,
    /// Arc radius; R level in canned cycles; offset value in G10.
    R,
    /// Spindle speed.
    S,
    /// Tool number.
    T,
    /// Linear axis X.
    X,
    /// Linear axis Y.
    Y,
    /// Linear axis Z.
    Z,
}

impl Letter {
    /// Every letter, in alphabetical order.
    pub const ALL: [Letter; 22] = [
        Letter::A,
        Letter::B,
        Letter::C,
        Letter::D,
        Letter::F,
        Letter::G,
        Letter::H,
        Letter::I,
        Letter::J,
        Letter::K,
        Letter::L,
        Letter::M,
        Letter::N,
        Letter::O,
        Letter::P,
        Letter::Q,
        Letter::R,
        Letter::S,
        Letter::T,
        Letter::X,
        Letter::Y,
        Letter::Z,
    ];

    /// The letter for `c`, upper or lower case; `None` for letters outside the subset (`E`, `U`, `V`, `W` …).
    pub fn from_char(c: char) -> Option<Letter> {
        let u = c.to_ascii_uppercase();
        Letter::ALL.into_iter().find(|l| l.as_char() == u)
    }

    /// The upper-case character.
    pub fn as_char(self) -> char {
        match self {
            Letter::A => 'A',
            Letter::B => 'B',
            Letter::C => 'C',
            Letter::D => 'D',
            Letter::F => 'F',
            Letter::G => 'G',
            Letter::H => 'H',
            Letter::I => 'I',
            Letter::J => 'J',
            Letter::K => 'K',
            Letter::L => 'L',
            Letter::M => 'M',
            Letter::N => 'N',
            Letter::O => 'O',
            Letter::P => 'P',
            Letter::Q => 'Q',
            Letter::R => 'R',
            Letter::S => 'S',
            Letter::T => 'T',
            Letter::X => 'X',
            Letter::Y => 'Y',
            Letter::Z => 'Z',
        }
    }

    /// Real-valued words, written with the unit's fixed decimals: `X Y Z A B C I J K R Q F`.
    pub fn is_real(self) -> bool {
        matches!(
            self,
            Letter::A
                | Letter::B
                | Letter::C
                | Letter::F
                | Letter::I
                | Letter::J
                | Letter::K
                | Letter::Q
                | Letter::R
                | Letter::X
                | Letter::Y
                | Letter::Z
        )
    }

    /// Dimension words, whose value without a decimal point depends on the controller's decimal-point input
    /// setting: the real-valued words except `F`.
    pub fn is_dimension(self) -> bool {
        self.is_real() && self != Letter::F
    }

    /// The linear axis index (X 0, Y 1, Z 2), or `None`.
    pub fn axis(self) -> Option<usize> {
        match self {
            Letter::X => Some(0),
            Letter::Y => Some(1),
            Letter::Z => Some(2),
            _ => None,
        }
    }
}

impl fmt::Display for Letter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// One word: a letter and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Word {
    /// The letter.
    pub letter: Letter,
    /// The value (finite).
    pub value: f64,
    /// Whether the source text had a decimal point (`X1.` or `X.5`, not `X1`). Words built in code have one;
    /// the writer always writes one for real-valued words.
    pub decimal_point: bool,
}

impl Word {
    /// A word with a decimal point.
    pub fn new(letter: Letter, value: f64) -> Word {
        Word { letter, value, decimal_point: true }
    }

    /// The value in tenths when it is a code with at most one decimal (`G54.1` → 541, `G1` → 10), else `None`.
    pub fn code10(&self) -> Option<i64> {
        let t = self.value * 10.0;
        let r = t.round();
        ((t - r).abs() < 1e-6 && r.abs() < 1e15).then_some(r as i64)
    }

    /// True when this is `letter` with the integral code `n` (`is(Letter::G, 90)`).
    pub fn is(&self, letter: Letter, n: i64) -> bool {
        self.letter == letter && self.code10() == Some(n * 10)
    }

    /// The value as an unsigned integer when it is one (offset, tool and sequence numbers).
    pub fn as_u32(&self) -> Option<u32> {
        (self.value.fract() == 0.0 && self.value >= 0.0 && self.value <= f64::from(u32::MAX)).then_some(self.value as u32)
    }
}

/// The two comment forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentStyle {
    /// `( text )`, anywhere in a line.
    Paren,
    /// `; text`, to the end of the line.
    Semicolon,
}

/// A comment, its text verbatim (without the delimiters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text between `(` and `)`, or after `;`.
    pub text: String,
    /// Which form.
    pub style: CommentStyle,
}

/// One element of a line, in source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `%` (tape start or end), only at the start of a line.
    Percent,
    /// A word.
    Word(Word),
    /// A comment.
    Comment(Comment),
    /// Custom-macro text, verbatim to the end of the line (see the module documentation).
    Macro(String),
}

/// One source line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line {
    /// A leading `/`: the block is skipped when the operator's block-delete switch is on.
    pub block_delete: bool,
    /// The items, in source order.
    pub items: Vec<Item>,
}

impl Line {
    /// The words, in order.
    pub fn words(&self) -> impl Iterator<Item = &Word> + '_ {
        self.items.iter().filter_map(|i| match i {
            Item::Word(w) => Some(w),
            _ => None,
        })
    }

    /// The value of the last word with `letter` (a controller takes the last of repeated words).
    pub fn value(&self, letter: Letter) -> Option<f64> {
        self.words().filter(|w| w.letter == letter).last().map(|w| w.value)
    }

    /// True when the line has the integral code `n` of `letter` (`has(Letter::G, 28)`).
    pub fn has(&self, letter: Letter, n: i64) -> bool {
        self.words().any(|w| w.is(letter, n))
    }

    /// True when the line has a macro item.
    pub fn has_macro(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Macro(_)))
    }

    /// The units a G20/G21 in this line selects (the last one), if any.
    pub fn units(&self) -> Option<Units> {
        self.words().filter_map(Units::from_g).last()
    }

    /// The line as [`write()`] writes it (without the line break), given the modal state *after* the line
    /// (as [`Program::modal_states`] gives it): real values get its units' decimals, and `K` in a canned
    /// cycle — a repeat count there — is written as a count.
    pub fn to_text(&self, after: &ModalState) -> String {
        let mut out = String::new();
        write_line(self, after, &mut out);
        out
    }

    /// True when `word` is a count rather than a dimension in this line: `K` while a canned cycle is the
    /// motion mode (given the state after the line).
    pub fn is_count(word: &Word, after: &ModalState) -> bool {
        word.letter == Letter::K && matches!(after.motion, Some(Motion::Cycle(_)))
    }
}

/// A parsed program: one [`Line`] per source line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Program {
    /// The lines, in order.
    pub lines: Vec<Line>,
}

impl Program {
    /// Parse `text` (see the module documentation).
    pub fn parse(text: &str) -> Result<Program, ParseError> {
        parse(text)
    }

    /// The modal state after each line (`states[i]` is the state once line `i + 1` has been read).
    pub fn modal_states(&self) -> Vec<ModalState> {
        let mut state = ModalState::default();
        self.lines
            .iter()
            .map(|l| {
                state.apply(l);
                state
            })
            .collect()
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&write(self))
    }
}

/// Why a text is not a program of the subset. Names the line and column (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: expected {expected}, found {found}")]
pub struct ParseError {
    /// Line number, 1-based.
    pub line: usize,
    /// Column in characters, 1-based.
    pub column: usize,
    /// What would have been accepted there.
    pub expected: String,
    /// What was there (a quoted character, or "end of line").
    pub found: String,
}

/// Distance mode (modal group 03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distance {
    /// G90: coordinates are positions in the work coordinate system.
    Absolute,
    /// G91: coordinates are distances from the current position.
    Incremental,
}

/// Units (modal group 06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Units {
    /// G20.
    Inch,
    /// G21.
    Mm,
}

impl Units {
    /// Decimals written for real-valued words: 4 in millimetres, 5 in inches.
    pub fn decimals(self) -> usize {
        match self {
            Units::Mm => 4,
            Units::Inch => 5,
        }
    }

    /// Millimetres per unit (1 or 25.4).
    pub fn mm(self) -> f64 {
        match self {
            Units::Mm => 1.0,
            Units::Inch => 25.4,
        }
    }

    /// The units a `G20`/`G21` word selects.
    pub fn from_g(w: &Word) -> Option<Units> {
        if w.is(Letter::G, 20) {
            Some(Units::Inch)
        } else if w.is(Letter::G, 21) {
            Some(Units::Mm)
        } else {
            None
        }
    }
}

/// Interpolation plane (modal group 02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Plane {
    /// G17 (the usual power-on state).
    #[default]
    Xy,
    /// G18.
    Zx,
    /// G19.
    Yz,
}

impl Plane {
    /// The two axes of the plane (first, second), as axis indices.
    pub fn axes(self) -> [usize; 2] {
        match self {
            Plane::Xy => [0, 1],
            Plane::Zx => [2, 0],
            Plane::Yz => [1, 2],
        }
    }
}

/// Motion mode (modal groups 01 and 09).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Motion {
    /// G0.
    Rapid,
    /// G1.
    Linear,
    /// G2.
    ArcCw,
    /// G3.
    ArcCcw,
    /// A canned cycle: its G number (73, 74, 76, 81–89).
    Cycle(u8),
}

/// Work coordinate system (modal group 14), G54–G59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
pub enum WorkOffset {
    /// G54, `G10 L2 P1` (the usual power-on state).
    #[default]
    G54,
    /// G55, P2.
    G55,
    /// G56, P3.
    G56,
    /// G57, P4.
    G57,
    /// G58, P5.
    G58,
    /// G59, P6.
    G59,
}

impl WorkOffset {
    /// All six, in order.
    pub const ALL: [WorkOffset; 6] =
        [WorkOffset::G54, WorkOffset::G55, WorkOffset::G56, WorkOffset::G57, WorkOffset::G58, WorkOffset::G59];

    /// The `P` number of `G10 L2` that addresses it (1–6).
    pub fn p_number(self) -> u32 {
        self.g_code() - 53
    }

    /// Its G number (54–59).
    pub fn g_code(self) -> u32 {
        match self {
            WorkOffset::G54 => 54,
            WorkOffset::G55 => 55,
            WorkOffset::G56 => 56,
            WorkOffset::G57 => 57,
            WorkOffset::G58 => 58,
            WorkOffset::G59 => 59,
        }
    }

    /// The offset a G word selects.
    pub fn from_g(w: &Word) -> Option<WorkOffset> {
        WorkOffset::ALL.into_iter().find(|o| w.is(Letter::G, i64::from(o.g_code())))
    }
}

/// Tool length compensation (modal group 08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LengthComp {
    /// G49.
    #[default]
    Off,
    /// G43: the H offset is added.
    Positive,
    /// G44: the H offset is subtracted.
    Negative,
}

/// Cutter radius compensation (modal group 07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CutterComp {
    /// G40.
    #[default]
    Off,
    /// G41: tool left of the path.
    Left,
    /// G42: tool right of the path.
    Right,
}

/// Canned-cycle return level (modal group 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnLevel {
    /// G98: back to the initial level (the usual power-on state).
    #[default]
    Initial,
    /// G99: back to the R level.
    R,
}

/// The modal state a line is read in. See the module documentation for the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ModalState {
    /// G90/G91; `None` until stated.
    pub distance: Option<Distance>,
    /// G20/G21; `None` until stated.
    pub units: Option<Units>,
    /// G17/G18/G19.
    pub plane: Plane,
    /// G0/G1/G2/G3 or a canned cycle; `None` before any and after G80.
    pub motion: Option<Motion>,
    /// G54–G59.
    pub work_offset: WorkOffset,
    /// G43/G44/G49.
    pub length_comp: LengthComp,
    /// The last `H` number.
    pub h: Option<u32>,
    /// G40/G41/G42.
    pub cutter_comp: CutterComp,
    /// The last `D` number.
    pub d: Option<u32>,
    /// G98/G99.
    pub return_level: ReturnLevel,
    /// The last `T` number (the tool called; on most mills it is in the spindle after the next `M6`).
    pub tool: Option<u32>,
}

impl ModalState {
    /// Update the state with one line's words, in order (a later word of the same group wins, as on a
    /// controller). Codes outside the tracked groups are ignored here; the toolpath transform decides what
    /// it supports.
    pub fn apply(&mut self, line: &Line) {
        for w in line.words() {
            match w.letter {
                Letter::G => self.apply_g(w),
                Letter::H => self.h = w.as_u32().or(self.h),
                Letter::D => self.d = w.as_u32().or(self.d),
                Letter::T => self.tool = w.as_u32().or(self.tool),
                _ => {}
            }
        }
    }

    fn apply_g(&mut self, w: &Word) {
        let Some(c) = w.code10() else { return };
        if c % 10 != 0 {
            return;
        }
        match c / 10 {
            0 => self.motion = Some(Motion::Rapid),
            1 => self.motion = Some(Motion::Linear),
            2 => self.motion = Some(Motion::ArcCw),
            3 => self.motion = Some(Motion::ArcCcw),
            80 => self.motion = None,
            n @ (73 | 74 | 76 | 81..=89) => self.motion = Some(Motion::Cycle(n as u8)),
            17 => self.plane = Plane::Xy,
            18 => self.plane = Plane::Zx,
            19 => self.plane = Plane::Yz,
            20 => self.units = Some(Units::Inch),
            21 => self.units = Some(Units::Mm),
            40 => self.cutter_comp = CutterComp::Off,
            41 => self.cutter_comp = CutterComp::Left,
            42 => self.cutter_comp = CutterComp::Right,
            43 => self.length_comp = LengthComp::Positive,
            44 => self.length_comp = LengthComp::Negative,
            49 => self.length_comp = LengthComp::Off,
            90 => self.distance = Some(Distance::Absolute),
            91 => self.distance = Some(Distance::Incremental),
            98 => self.return_level = ReturnLevel::Initial,
            99 => self.return_level = ReturnLevel::R,
            _ => {
                if let Some(o) = WorkOffset::from_g(w) {
                    self.work_offset = o;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------------

/// Custom Macro B keywords that start a macro statement (matched case-insensitively, not followed by a letter).
const MACRO_KEYWORDS: [&str; 11] =
    ["GOTO", "WHILE", "IF", "THEN", "END", "DO", "POPEN", "PCLOS", "DPRNT", "BPRNT", "SETVN"];

const EXPECTED_ITEM: &str = "a word letter (G M T H D S F X Y Z A B C I J K R P L Q N O), '(', ';' or end of line";

/// Parse a program (see the module documentation).
pub fn parse(text: &str) -> Result<Program, ParseError> {
    let mut lines = Vec::new();
    let mut rest = text;
    let mut no = 0;
    while !rest.is_empty() {
        no += 1;
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        lines.push(parse_line(line, no)?);
        rest = next;
    }
    Ok(Program { lines })
}

fn describe(c: Option<&char>) -> String {
    match c {
        None => "end of line".to_owned(),
        Some(c) if c.is_control() => format!("{:?}", c),
        Some(c) => format!("'{c}'"),
    }
}

fn parse_line(text: &str, line: usize) -> Result<Line, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let err = |i: usize, expected: &str| ParseError {
        line,
        column: i + 1,
        expected: expected.to_owned(),
        found: describe(chars.get(i)),
    };
    let is_space = |c: char| c == ' ' || c == '\t';
    let mut out = Line::default();
    let mut i = 0;
    while i < chars.len() && is_space(chars[i]) {
        i += 1;
    }
    if chars.get(i) == Some(&'/') {
        out.block_delete = true;
        i += 1;
    }
    loop {
        while i < chars.len() && is_space(chars[i]) {
            i += 1;
        }
        let Some(&c) = chars.get(i) else { break };
        match c {
            '%' => {
                if !out.items.is_empty() || out.block_delete {
                    return Err(err(i, "'%' only at the start of a line"));
                }
                out.items.push(Item::Percent);
                i += 1;
            }
            '(' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == ')') else {
                    return Err(ParseError {
                        line,
                        column: chars.len() + 1,
                        expected: format!("')' closing the comment opened at column {}", i + 1),
                        found: "end of line".to_owned(),
                    });
                };
                let text: String = chars[i + 1..i + 1 + len].iter().collect();
                out.items.push(Item::Comment(Comment { text, style: CommentStyle::Paren }));
                i += len + 2;
            }
            ';' => {
                let text: String = chars[i + 1..].iter().collect();
                out.items.push(Item::Comment(Comment { text, style: CommentStyle::Semicolon }));
                break;
            }
            '#' | '[' => {
                out.items.push(macro_rest(&chars[i..]));
                break;
            }
            c if c.is_ascii_alphabetic() => {
                if starts_with_keyword(&chars[i..]) {
                    out.items.push(macro_rest(&chars[i..]));
                    break;
                }
                let Some(letter) = Letter::from_char(c) else {
                    return Err(err(i, EXPECTED_ITEM));
                };
                let start = i;
                i += 1;
                while i < chars.len() && is_space(chars[i]) {
                    i += 1;
                }
                if matches!(chars.get(i), Some('#' | '[')) {
                    out.items.push(macro_rest(&chars[start..]));
                    break;
                }
                let (value, decimal_point, next) = parse_number(&chars, i)
                    .ok_or_else(|| err(i, &format!("a number after '{}' (digits with an optional sign and point)", letter)))?;
                if !value.is_finite() {
                    return Err(err(i, "a number of at most 308 digits"));
                }
                out.items.push(Item::Word(Word { letter, value, decimal_point }));
                i = next;
            }
            _ => return Err(err(i, EXPECTED_ITEM)),
        }
    }
    Ok(out)
}

fn starts_with_keyword(chars: &[char]) -> bool {
    MACRO_KEYWORDS.iter().any(|kw| {
        let n = kw.len();
        chars.len() >= n
            && chars[..n].iter().zip(kw.chars()).all(|(a, b)| a.to_ascii_uppercase() == b)
            && !chars.get(n).is_some_and(|c| c.is_ascii_alphabetic())
    })
}

fn macro_rest(chars: &[char]) -> Item {
    Item::Macro(chars.iter().collect::<String>().trim_end().to_owned())
}

/// A decimal number at `i`: optional sign, digits, optional point and digits, at least one digit.
/// Returns the value, whether it had a point, and the index after it.
fn parse_number(chars: &[char], mut i: usize) -> Option<(f64, bool, usize)> {
    let mut s = String::new();
    if let Some(&c @ ('+' | '-')) = chars.get(i) {
        if c == '-' {
            s.push('-');
        }
        i += 1;
    }
    let mut digits = 0;
    let mut point = false;
    while let Some(&c) = chars.get(i) {
        if c.is_ascii_digit() {
            digits += 1;
            s.push(c);
        } else if c == '.' && !point {
            point = true;
            s.push(c);
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    // Rust's parser takes "1." and ".5" but not "-.5" or "."; give it a canonical form.
    let body = s.trim_start_matches('-');
    let mut canon = String::with_capacity(s.len() + 2);
    if s.starts_with('-') {
        canon.push('-');
    }
    if body.starts_with('.') {
        canon.push('0');
    }
    canon.push_str(body);
    if canon.ends_with('.') {
        canon.push('0');
    }
    canon.parse::<f64>().ok().map(|v| (v, point, i))
}

// ---------------------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------------------

/// Write a program (see the module documentation): one line per [`Line`], each ending in `\n`.
///
/// A program built in code may hold text that no line can carry (a `)` in a parenthesised comment, a line
/// break in any comment or macro item); such characters are written as spaces.
pub fn write(program: &Program) -> String {
    let mut out = String::new();
    let mut state = ModalState::default();
    for line in &program.lines {
        state.apply(line);
        write_line(line, &state, &mut out);
        out.push('\n');
    }
    out
}

fn write_line(line: &Line, after: &ModalState, out: &mut String) {
    let units = after.units.unwrap_or(Units::Mm);
    let mut first = true;
    if line.block_delete {
        out.push('/');
    }
    for item in &line.items {
        if !first {
            out.push(' ');
        }
        first = false;
        match item {
            Item::Percent => out.push('%'),
            Item::Word(w) => {
                out.push(w.letter.as_char());
                if Line::is_count(w, after) {
                    out.push_str(&format_value(Letter::L, w.value, units));
                } else {
                    out.push_str(&format_value(w.letter, w.value, units));
                }
            }
            Item::Comment(c) => match c.style {
                CommentStyle::Paren => {
                    out.push('(');
                    out.extend(c.text.chars().map(|c| if c == ')' || c == '\n' || c == '\r' { ' ' } else { c }));
                    out.push(')');
                }
                CommentStyle::Semicolon => {
                    out.push(';');
                    out.extend(c.text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
                }
            },
            Item::Macro(m) => out.extend(m.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c })),
        }
    }
}

/// The text of a value of `letter` as [`write()`] writes it in `units`.
pub fn format_value(letter: Letter, value: f64, units: Units) -> String {
    if letter.is_real() {
        format_fixed(value, units.decimals())
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        // Rust's `Display` for f64 is the shortest text that reads back to the same value, never exponent form.
        format!("{value}")
    }
}

/// `value` with exactly `decimals` decimals, never in exponent form, without a sign on zero.
pub fn format_fixed(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_owned(),
        _ => s,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------------------------------------

/// The checks of the `gcode` fuzz target, also replayed over its corpus by `cargo test`.
///
/// Any bytes: invalid UTF-8 is skipped; otherwise parsing must return (never panic), and a parsed program
/// must satisfy the writer's contract — the written text parses, to the same lines and items with real
/// values rounded to the written decimals, and writing that again gives the same text. The toolpath
/// transform is then run on it with a fixed delta and must return (its own verification runs inside).
/// An `Err` names the violated invariant (the fuzz target panics on it).
pub fn fuzz_check(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(program) = parse(text) else {
        return Ok(());
    };
    let written = write(&program);
    let reparsed = parse(&written).map_err(|e| format!("written program does not parse: {e}\n{written}"))?;
    if reparsed.lines.len() != program.lines.len() {
        return Err(format!("line count {} became {}", program.lines.len(), reparsed.lines.len()));
    }
    let mut state = ModalState::default();
    for (n, (a, b)) in program.lines.iter().zip(&reparsed.lines).enumerate() {
        state.apply(a);
        let units = state.units.unwrap_or(Units::Mm);
        if a.block_delete != b.block_delete || a.items.len() != b.items.len() {
            return Err(format!("line {}: {:?} became {:?}", n + 1, a, b));
        }
        for (x, y) in a.items.iter().zip(&b.items) {
            let same = match (x, y) {
                (Item::Word(x), Item::Word(y)) => {
                    let tol = if x.letter.is_real() { 0.5 * 10f64.powi(-(units.decimals() as i32)) } else { 0.0 };
                    x.letter == y.letter && (x.value - y.value).abs() <= tol * (1.0 + 1e-9) + x.value.abs() * 1e-15
                }
                (Item::Comment(x), Item::Comment(y)) => x.style == y.style && x.text.replace('\r', " ") == y.text,
                (Item::Macro(x), Item::Macro(y)) => x.replace('\r', " ") == *y,
                (x, y) => x == y,
            };
            if !same {
                return Err(format!("line {}: item {:?} became {:?}", n + 1, x, y));
            }
        }
    }
    let again = write(&reparsed);
    if again != written {
        return Err(format!("writer not idempotent:\n{written}---\n{again}"));
    }
    let _ = program.modal_states();
    let _ = crate::toolpath::correct(&program, [0.5, -0.25, 0.1]);
    Ok(())
}

#[cfg(test)]
mod tests;
