//! The file sink: JSON lines with rotation by size and time, retention by
//! file count and total bytes, and optional gzip of rotated files.
//!
//! A record counts as delivered only once its whole line was handed to the
//! OS without error and into a file that still has a name: the sink does not
//! buffer between batches, and it checks after each write that the file was
//! not deleted meanwhile. What it could not write is failed, never delivered;
//! when the file or its directory changes under it (deleted, moved away,
//! truncated, made unwritable, disk full) it recovers by itself — see the
//! `active` module for each case. Retention only ever deletes the oldest
//! rotated files and counts what it deleted ([`FileHealth`](crate::sinks::FileHealth)).

mod active;
mod archive;
mod rotation;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rotation::RotatingFile;
pub use rotation::{RetentionPolicy, RotationPolicy};
pub(crate) use stats::FileStats;

use super::{PartialDelivery, Sink, SinkError};
use crate::error::{Error, Result};
use crate::record::Record;

/// Writes one JSON object per record, one per line, to a rotating file.
///
/// The active file is `path`; rotated files sit beside it as
/// `<stem>.<UTC timestamp>-<sequence>.<ext>[.gz]` and sort oldest first.
#[derive(Debug)]
pub struct FileSink {
    file: RotatingFile,
    /// The batch's lines back to back.
    lines: Vec<u8>,
    /// Where each line of `lines` ends.
    ends: Vec<usize>,
}

impl FileSink {
    /// Opens (creating directories as needed) the file at `path`.
    pub fn open(path: PathBuf, rotation: RotationPolicy, retention: RetentionPolicy, compress: bool) -> Result<Self> {
        let file = RotatingFile::open(path.clone(), rotation, retention, compress)
            .map_err(|source| Error::Io { path, source })?;
        Ok(FileSink {
            file,
            lines: Vec::with_capacity(64 * 1024),
            ends: Vec::with_capacity(512),
        })
    }

    /// The active file.
    pub fn active_path(&self) -> &Path {
        self.file.active_path()
    }

    /// Rotated files on disk, oldest first.
    pub fn rotated_files(&self) -> std::io::Result<Vec<PathBuf>> {
        self.file.rotated_files()
    }

    /// Rotations performed since the sink opened.
    pub fn rotations(&self) -> u64 {
        self.file.rotations()
    }

    /// The counters shown as [`SinkHealth::file`](crate::sinks::SinkHealth::file).
    pub(crate) fn stats(&self) -> Arc<FileStats> {
        self.file.stats()
    }
}

impl Sink for FileSink {
    /// Writes the batch's lines; on failure reports how many (from the first) reached the file
    /// as a [`PartialDelivery`].
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        self.lines.clear();
        self.ends.clear();
        for record in batch {
            self.lines.extend_from_slice(record.json_line().as_bytes());
            self.lines.push(b'\n');
            self.ends.push(self.lines.len());
        }
        // Large one-off batches must not pin their memory.
        let result = self.file.append(&self.lines, &self.ends);
        if self.lines.capacity() > 4 << 20 {
            self.lines = Vec::with_capacity(64 * 1024);
        }
        result.map_err(|fault| {
            Box::new(PartialDelivery {
                delivered: fault.records,
                source: Box::new(fault.error),
            }) as SinkError
        })
    }

    /// Nothing to do: every write reaches the OS before it returns.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Waits for background compression and applies retention a last time.
    fn shutdown(&mut self) -> Result<(), SinkError> {
        self.file.close()?;
        Ok(())
    }
}
