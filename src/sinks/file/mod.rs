//! The file sink: JSON lines with rotation by size and time, retention by
//! file count and total bytes, and optional gzip of rotated files.

mod rotation;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rotation::RotatingFile;
pub use rotation::{RetentionPolicy, RotationPolicy};

use super::{Sink, SinkError};
use crate::error::{Error, Result};
use crate::record::Record;

/// Writes one JSON object per record, one per line, to a rotating file.
///
/// The active file is `path`; rotated files sit beside it as
/// `<stem>.<UTC timestamp>-<sequence>.<ext>[.gz]` and sort oldest first.
#[derive(Debug)]
pub struct FileSink {
    file: RotatingFile,
    line: Vec<u8>,
}

impl FileSink {
    /// Opens (creating directories as needed) the file at `path`.
    pub fn open(path: PathBuf, rotation: RotationPolicy, retention: RetentionPolicy, compress: bool) -> Result<Self> {
        let file = RotatingFile::open(path.clone(), rotation, retention, compress)
            .map_err(|source| Error::Io { path, source })?;
        Ok(FileSink {
            file,
            line: Vec::with_capacity(512),
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
}

impl Sink for FileSink {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        for record in batch {
            self.line.clear();
            self.line.extend_from_slice(record.json_line().as_bytes());
            self.line.push(b'\n');
            self.file.write_all(&self.line)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.file.flush()?;
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), SinkError> {
        self.file.close()?;
        Ok(())
    }
}
