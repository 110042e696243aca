//! The one error type of `fos-io`.
//!
//! Every message names the file it is about and the variable, column, channel or manifest line
//! that is wrong, says what is wrong and, where there is something to do, what to do.

use std::fmt;
use std::path::PathBuf;

/// The result type of `fos-io`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading recordings or manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The MAT-file is malformed, truncated or of an unsupported kind.
    #[error("{}: {detail}", path.display())]
    Mat {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the variable and element where known.
        detail: String,
    },

    /// A MAT-file does not hold the requested variable.
    #[error("variable `{name}` not found in {}; it holds: {available}", path.display())]
    MatNotFound {
        /// The file.
        path: PathBuf,
        /// The variable asked for (first part of a dotted path).
        name: String,
        /// The variables the file does hold, comma-separated.
        available: String,
    },

    /// A MAT-file variable exists but cannot be read as a signal.
    #[error("{}: variable `{name}`: {detail}", path.display())]
    MatVariable {
        /// The file.
        path: PathBuf,
        /// The variable or dotted path.
        name: String,
        /// What is wrong and what to do.
        detail: String,
    },

    /// A WAV file is malformed or unsupported.
    #[error("{}: {detail}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// A CSV file is malformed or holds a cell that is not a number.
    #[error("{}: {detail}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming line and column.
        detail: String,
    },

    /// The file's extension is not one FOS reads.
    #[error(
        "{}: unsupported file type `{ext}`; FOS reads .mat (MATLAB level 5), .csv and .wav",
        path.display()
    )]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Its extension (empty when it has none).
        ext: String,
    },

    /// The signal selector does not fit the file (bad channel index, no such column).
    #[error("{}: signal `{signal}`: {detail}", path.display())]
    Signal {
        /// The file.
        path: PathBuf,
        /// The signal as asked for.
        signal: String,
        /// What is wrong and what the file offers.
        detail: String,
    },

    /// The signal holds no samples.
    #[error("{}: signal `{signal}` is empty (no samples)", path.display())]
    EmptySignal {
        /// The file.
        path: PathBuf,
        /// The signal.
        signal: String,
    },

    /// The signal holds a NaN or an infinity.
    #[error(
        "{}: signal `{signal}` has a non-finite value ({value}) at sample {index} (counting from 0); \
         clean the recording or cut the manifest row around it",
        path.display()
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The signal.
        signal: String,
        /// Absolute index of the sample from the start of the signal.
        index: u64,
        /// The value found.
        value: f64,
    },

    /// A manifest or bearings-table field is missing or invalid.
    #[error("{} line {line}, column `{column}`: {detail}", path.display())]
    Manifest {
        /// The manifest (or `bearings.csv`).
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// The column.
        column: String,
        /// What is wrong.
        detail: String,
    },

    /// A manifest or bearings table is wrong as a whole (header, missing file, no rows).
    #[error("{}: {detail}", path.display())]
    ManifestFile {
        /// The manifest (or `bearings.csv`).
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// Reading the recording of a manifest row failed, or it disagrees with the row.
    #[error("{} line {line}: {inner}", manifest.display())]
    Row {
        /// The manifest.
        manifest: PathBuf,
        /// 1-based line of the row.
        line: usize,
        /// What went wrong (names the recording file).
        inner: Box<Error>,
    },

    /// A train/test split breaks the leakage rules of the manifest format.
    #[error("{}", Leaks(problems))]
    Leak {
        /// One line per violation, each naming the manifests, lines and bearing or file.
        problems: Vec<String>,
    },
}

struct Leaks<'a>(&'a [String]);

impl fmt::Display for Leaks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the train/test split leaks ({} problem", self.0.len())?;
        if self.0.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str("); an evaluation must refuse it:")?;
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}
