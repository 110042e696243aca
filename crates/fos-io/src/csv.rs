//! CSV recordings: one named column of a file with a header row, read as numbers.
//!
//! Cells are trimmed of surrounding blanks. An empty cell, a cell that is not a number, a NaN or
//! an infinity is an error naming the line (1-based, counting the header as line 1) and column.

use crate::error::{Error, Result};
use crate::signal::{check_finite, collect, SampleStream, CHUNK};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Reads the column named `column` (exact header text, surrounding blanks ignored) of the CSV
/// file at `path`.
pub fn read_csv_column(path: &Path, column: &str) -> Result<Vec<f64>> {
    collect(&mut CsvStream::open(path, column)?)
}

/// Turns a `csv` error into one naming the file and line.
pub(crate) fn csv_error(path: &Path, e: ::csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let detail = match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {} has {len} fields but the header has {expected_len}",
            pos.as_ref().map_or(line, |p| p.line())
        ),
        ::csv::ErrorKind::Utf8 { pos, err } => format!(
            "line {}, field {}: not valid UTF-8 text",
            pos.as_ref().map_or(line, |p| p.line()),
            err.field() + 1
        ),
        ::csv::ErrorKind::Io(_) => String::new(),
        _ => format!("line {line}: {e}"),
    };
    match e.into_kind() {
        ::csv::ErrorKind::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        _ => Error::Csv {
            path: path.to_path_buf(),
            detail,
        },
    }
}

/// Reads one column of a CSV file in chunks, in constant memory.
pub(crate) struct CsvStream {
    rdr: ::csv::Reader<File>,
    col: usize,
    column: String,
    record: ::csv::StringRecord,
    index: u64,
    done: bool,
    path: PathBuf,
}

impl CsvStream {
    pub(crate) fn open(path: &Path, column: &str) -> Result<CsvStream> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut rdr = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(::csv::Trim::All)
            .from_reader(file);
        let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
        let want = column.trim();
        let Some(col) = headers.iter().position(|h| h == want) else {
            let cols: Vec<String> = headers.iter().map(|h| format!("`{h}`")).collect();
            return Err(Error::Signal {
                path: path.to_path_buf(),
                signal: column.to_string(),
                detail: format!(
                    "no such column in the header (line 1); the columns are: {}",
                    if cols.is_empty() {
                        "none (empty file)".to_string()
                    } else {
                        cols.join(", ")
                    }
                ),
            });
        };
        Ok(CsvStream {
            rdr,
            col,
            column: want.to_string(),
            record: ::csv::StringRecord::new(),
            index: 0,
            done: false,
            path: path.to_path_buf(),
        })
    }
}

impl SampleStream for CsvStream {
    fn read(&mut self, out: &mut [f64]) -> Result<usize> {
        let mut n = 0;
        let len = out.len().min(CHUNK);
        while n < len && !self.done {
            if !self
                .rdr
                .read_record(&mut self.record)
                .map_err(|e| csv_error(&self.path, e))?
            {
                self.done = true;
                break;
            }
            let line = self.record.position().map(|p| p.line()).unwrap_or(0);
            let err = |detail: String| Error::Csv {
                path: self.path.clone(),
                detail: format!("line {line}, column `{}`: {detail}", self.column),
            };
            let cell = self
                .record
                .get(self.col)
                .ok_or_else(|| err("the row is too short".to_string()))?;
            if cell.is_empty() {
                return Err(err(
                    "the cell is empty; every row needs a number in this column".to_string(),
                ));
            }
            let v: f64 = cell
                .parse()
                .map_err(|_| err(format!("`{cell}` is not a number")))?;
            check_finite(&[v], self.index, &self.path, &self.column)?;
            if let Some(slot) = out.get_mut(n) {
                *slot = v;
            }
            n += 1;
            self.index += 1;
        }
        Ok(n)
    }
    fn file_rate_hz(&self) -> Option<f64> {
        None
    }
}
