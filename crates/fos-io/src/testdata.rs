//! Finding the shared test data (`shared/data`, beside the repository) from tests of any FOS
//! crate.
//!
//! Tests that need real recordings call [`data_dir`]: where the data is absent they print a loud
//! notice and skip, except under `CI=true`, where missing data is a failure.

use std::path::PathBuf;

/// The shared data folder: `$FOS_DATA` if set, else `shared/data` beside the workspace
/// (`<workspace>/../shared/data`).
///
/// Returns `None`, after printing a notice to stderr, when the folder does not exist; panics
/// with a clear message instead when the environment variable `CI` is `true` (CI must not
/// silently skip data tests). Meant for tests only.
pub fn data_dir() -> Option<PathBuf> {
    let (dir, from) = match std::env::var_os("FOS_DATA") {
        Some(d) if !d.is_empty() => (PathBuf::from(d), "$FOS_DATA"),
        _ => (
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
            "the default <workspace>/../shared/data",
        ),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "test data folder {} ({from}) not found: set FOS_DATA to the folder holding cwru/manifest.csv",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        panic!("{msg} (CI=true: data tests must not be skipped)");
    }
    eprintln!("\n!!!!! SKIPPING DATA TEST: {msg} !!!!!\n");
    None
}
