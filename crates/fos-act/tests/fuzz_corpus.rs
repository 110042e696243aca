//! Replays the `gcode` fuzz corpus (`fuzz/corpus/gcode`) and any saved crash inputs (`fuzz/regressions/gcode`)
//! through `fos_act::gcode::fuzz_check`, the same checks as the fuzz target, so a parser or writer regression
//! fails `cargo test` without a nightly toolchain. The seed programs double as end-to-end cases of the
//! toolpath transform.

use std::path::{Path, PathBuf};

use fos_act::toolpath::{correct, TransformError};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn seed(name: &str) -> String {
    std::fs::read_to_string(fuzz_dir().join("corpus/gcode").join(name)).unwrap()
}

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let mut files = Vec::new();
    files_under(&fuzz_dir().join("corpus/gcode"), &mut files);
    files_under(&fuzz_dir().join("regressions/gcode"), &mut files);
    // The seed corpus is part of the repository: replaying nothing means it went missing.
    assert!(files.len() >= 10, "only {} files under {}", files.len(), fuzz_dir().display());
    let mut parsed = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        if let Err(e) = fos_act::gcode::fuzz_check(&bytes) {
            panic!("{}: {e}", f.display());
        }
        parsed += usize::from(std::str::from_utf8(&bytes).is_ok_and(|t| fos_act::parse(t).is_ok()));
    }
    assert!(parsed >= 8, "only {parsed} of {} corpus files parse", files.len());
}

#[test]
fn seed_programs_transform_or_are_refused() {
    // Points counted by hand from the files: one per G0/G1/arc end, one more per arc with I/J/K (its
    // centre), four per canned-cycle hole (hole, R level, bottom, return), two per G28/G30 (intermediate
    // and reference point), one per G53 move. E.g. mill_pocket: 4 moves, the I/J arc (2), the R arc, 2
    // moves and G91 G28 Z0. (2) = 11; drilling_cycles: 2 moves, 4 holes of G81/G83 and the 4 of
    // `G91 ... K4` (8 × 4), 1 move and G28 (2) = 37.
    for (name, moves) in [("mill_pocket.nc", 11), ("drilling_cycles.nc", 37), ("inch_profile.nc", 15), ("g53_g28.nc", 12)] {
        let program = fos_act::parse(&seed(name)).unwrap();
        let c = correct(&program, [0.02, -0.01, 0.005]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.report.moves_checked, moves, "{name}");
        assert!(c.report.lines_changed > 0, "{name}");
    }
    let refused = |name: &str| match correct(&fos_act::parse(&seed(name)).unwrap(), [0.1, 0.0, 0.0]) {
        // One entry per reason: a line with two (`G65 P9000 A1.`: a macro call and a rotary axis) is listed
        // twice, so compare the distinct lines.
        Err(TransformError::Unsupported(u)) => {
            let mut lines: Vec<usize> = u.iter().map(|u| u.line).collect();
            lines.dedup();
            lines
        }
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(refused("refused.nc"), (2..=13).collect::<Vec<_>>());
    assert_eq!(refused("macro_b.nc"), [2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(fos_act::parse(&seed("parse_error_unclosed.nc")).is_err());
}
