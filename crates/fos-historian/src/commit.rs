//! The commit log: what makes a group of Parquet files visible, all together or not at all, and
//! which input positions (a write-ahead log's sequence number, a site's batch sequence) they hold.
//!
//! # Protocol
//!
//! A writer first writes each new file as `part-<n>.parquet.pending` (fsynced, via a `.tmp` name),
//! then appends one line to `DATA_DIR/historian/commits.log` and fsyncs it, then renames every
//! pending file of that commit to `part-<n>.parquet` and fsyncs the folders. Queries list only
//! `*.parquet`, so they never see a file of an unfinished commit.
//!
//! A line is a JSON object `{"id": N, "positions": {"<source>": seq, ...}, "files": ["date=…/part-n.parquet", …]}`
//! ending in `\n`. Every line carries the full position map (positions only ever grow), so the
//! last complete line is the state. Recovery on open: a torn last line (no `\n`, or not JSON) is
//! cut off; the renames of the last commit are redone where a `.pending` file is still there; every
//! other `.pending` or `.tmp` file is an unfinished commit's and is deleted. Only the last commit can
//! have renames outstanding, because the next line is appended only after they are durable.
//! The log is rewritten to its last line (tmp + rename) when it passes [`COMPACT_BYTES`].

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The log is compacted to its last line once it is larger than this.
pub(crate) const COMPACT_BYTES: u64 = 4 << 20;

/// One line of the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) id: u64,
    pub(crate) positions: BTreeMap<String, u64>,
    /// Paths of the files, relative to the `samples` folder, under their final names.
    pub(crate) files: Vec<String>,
}

/// The open log.
#[derive(Debug)]
pub(crate) struct CommitLog {
    path: PathBuf,
    file: File,
    len: u64,
    last: Commit,
}

/// What opening the log found and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitRecovery {
    /// Bytes of a torn last line cut off.
    pub torn_bytes: u64,
    /// Renames of the last commit redone.
    pub redone: usize,
    /// Files of unfinished commits deleted.
    pub discarded: Vec<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

impl CommitLog {
    /// Opens (creating) `log` and repairs `samples` as described in the module docs. With
    /// `repair` false (another process holds the writer lock) nothing on disk is changed.
    pub(crate) fn open(log: &Path, samples: &Path, repair: bool) -> Result<(CommitLog, CommitRecovery)> {
        let mut rec = CommitRecovery::default();
        let mut text = Vec::new();
        match File::open(log) {
            Ok(mut f) => {
                f.read_to_end(&mut text).map_err(io(log))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(log)(e)),
        }
        let mut last = Commit::default();
        let mut good_len = 0usize;
        let mut line_no = 0usize;
        let mut rest = &text[..];
        while !rest.is_empty() {
            line_no += 1;
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else { break };
            let line = &rest[..nl];
            match serde_json::from_slice::<Commit>(line) {
                Ok(c) => {
                    last = c;
                    good_len += nl + 1;
                    rest = &rest[nl + 1..];
                }
                Err(e) if nl + 1 == rest.len() => {
                    // The last line is complete but unreadable: a torn write whose newline landed.
                    let _ = e;
                    break;
                }
                Err(e) => {
                    return Err(Error::Corrupt {
                        path: log.to_path_buf(),
                        reason: format!("line {line_no} is not a commit record ({e}) and more records follow it"),
                    })
                }
            }
        }
        rec.torn_bytes = (text.len() - good_len) as u64;
        let file = OpenOptions::new().create(true).append(true).open(log).map_err(io(log))?;
        if !repair {
            rec.torn_bytes = 0;
            return Ok((CommitLog { path: log.to_path_buf(), file, len: good_len as u64, last }, rec));
        }
        if rec.torn_bytes > 0 {
            file.set_len(good_len as u64).map_err(io(log))?;
            file.sync_all().map_err(io(log))?;
        }
        // Redo the last commit's renames.
        for f in &last.files {
            let fin = samples.join(f);
            let pending = pending_name(&fin);
            if pending.exists() {
                fs::rename(&pending, &fin).map_err(io(&fin))?;
                rec.redone += 1;
            }
        }
        // Delete what unfinished commits left.
        let mut dirs = vec![samples.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir)(e)),
            };
            for entry in entries {
                let path = entry.map_err(io(&dir))?.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".pending") || name.ends_with(".parquet.tmp") {
                    fs::remove_file(&path).map_err(io(&path))?;
                    rec.discarded.push(path);
                }
            }
        }
        if rec.redone > 0 || !rec.discarded.is_empty() {
            sync_tree(samples)?;
        }
        let log = CommitLog { path: log.to_path_buf(), file, len: good_len as u64, last };
        Ok((log, rec))
    }

    /// The last commit (id 0 and no positions when none).
    pub(crate) fn last(&self) -> &Commit {
        &self.last
    }

    /// Makes `pending` (final paths whose `.pending` files are written and fsynced) visible and
    /// records `positions` (merged into the current map, each position only growing).
    pub(crate) fn commit(
        &mut self,
        samples: &Path,
        files: Vec<PathBuf>,
        positions: &[(&str, u64)],
    ) -> Result<u64> {
        let mut next = Commit { id: self.last.id + 1, positions: self.last.positions.clone(), files: Vec::new() };
        for (source, seq) in positions {
            let e = next.positions.entry((*source).to_owned()).or_insert(*seq);
            *e = (*e).max(*seq);
        }
        for f in &files {
            let rel = f.strip_prefix(samples).unwrap_or(f);
            next.files.push(rel.to_string_lossy().into_owned());
        }
        let mut line = serde_json::to_vec(&next).expect("a commit record serialises");
        line.push(b'\n');
        if self.len + line.len() as u64 > COMPACT_BYTES {
            self.compact(&line)?;
        } else {
            self.file.write_all(&line).map_err(io(&self.path))?;
            self.file.sync_data().map_err(io(&self.path))?;
            self.len += line.len() as u64;
        }
        let mut dirs = std::collections::BTreeSet::new();
        for f in &files {
            fs::rename(pending_name(f), f).map_err(io(f))?;
            if let Some(d) = f.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        sync_dir(samples)?;
        self.last = next;
        Ok(self.last.id)
    }

    fn compact(&mut self, line: &[u8]) -> Result<()> {
        let tmp = self.path.with_extension("log.tmp");
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(line).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Some(d) = self.path.parent() {
            sync_dir(d)?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path).map_err(io(&self.path))?;
        self.len = line.len() as u64;
        Ok(())
    }
}

/// `x.parquet` → `x.parquet.pending`.
pub(crate) fn pending_name(fin: &Path) -> PathBuf {
    let mut s = fin.as_os_str().to_owned();
    s.push(".pending");
    PathBuf::from(s)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn sync_tree(dir: &Path) -> Result<()> {
    sync_dir(dir)?;
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        }
    }
    Ok(())
}
