//! Writing log records into a historian and its waveform store, and committing both: shared by
//! the edge's historian sink and the central consumer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fos_historian::{AtRest, Historian, HistorianOptions, WaveformStore};

use crate::record::{self, DecodeError};
use crate::Result;

/// Points buffered and the record's source positions, or why the record does not decode.
pub(crate) type Written = std::result::Result<(usize, BTreeMap<String, u64>), DecodeError>;

/// A historian with its waveform store, opened together so that waveform files of a commit that
/// never happened are removed before anything is replayed.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) historian: Historian,
    waves: WaveformStore,
    tags: HashMap<String, Arc<str>>,
}

impl Store {
    pub(crate) fn open(data_dir: &std::path::Path, at_rest: &AtRest) -> Result<Store> {
        let options = HistorianOptions { at_rest: at_rest.clone(), ..HistorianOptions::default() };
        let historian = Historian::open_with(data_dir, options)?;
        let mut waves = WaveformStore::open_with(data_dir, at_rest)?;
        let dropped = waves.discard_after(historian.last_commit_id())?;
        if dropped > 0 {
            tracing::info!(files = dropped, "removed waveform files of a commit that did not happen");
        }
        Ok(Store { historian, waves, tags: HashMap::new() })
    }

    /// Buffers the record's points or waveform block; returns the points buffered and the record's
    /// source positions. A record that does not decode is returned as the error, nothing buffered.
    pub(crate) fn write(&mut self, payload: &[u8]) -> Result<Written> {
        let decoded = match record::decode_any(payload, &mut self.tags) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(match decoded {
            record::Decoded::Points(rec) => {
                let b = &rec.batch;
                self.historian.write_columns(&b.tags, &b.tag, &b.time, &b.value, &b.quality)?;
                (b.len(), rec.positions)
            }
            record::Decoded::Waveform(positions, block) => {
                self.waves.append(&[block])?;
                (0, positions)
            }
        }))
    }

    /// Writes buffered waveform blocks as the files of the next commit, then commits the historian
    /// with `positions`.
    pub(crate) fn commit(&mut self, positions: &[(&str, u64)]) -> Result<u64> {
        if self.waves.buffered() > 0 {
            self.waves.flush_for_commit(self.historian.last_commit_id() + 1)?;
        }
        Ok(self.historian.commit(positions)?)
    }
}
