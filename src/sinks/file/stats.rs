//! Counters of one file sink beyond the generic sink counters: what
//! retention deleted, how often the file was reopened, and its own errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::sinks::FileHealth;

/// Live counters shared by the file sink's writer, its compression thread and
/// health reports.
#[derive(Debug, Default)]
pub(crate) struct FileStats {
    /// Rotated files deleted by retention.
    pub(crate) retention_deleted_files: AtomicU64,
    /// On-disk bytes of those files.
    pub(crate) retention_deleted_bytes: AtomicU64,
    /// Times the active file was reopened after it changed under the writer.
    pub(crate) reopens: AtomicU64,
    /// Rotations that failed (the active file then keeps growing).
    pub(crate) rotation_errors: AtomicU64,
    /// Background failures: compression, retention.
    pub(crate) background_errors: AtomicU64,
    /// The last error the file sink met outside a failed write, and when.
    last_error: Mutex<Option<(String, SystemTime)>>,
}

impl FileStats {
    /// Keeps `message` as the last error.
    pub(crate) fn note_error(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some((message, SystemTime::now()));
    }

    /// The last error noted, if any.
    pub(crate) fn last_error(&self) -> Option<(String, SystemTime)> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A snapshot for [`SinkHealth::file`](crate::sinks::SinkHealth::file).
    pub(crate) fn health(&self) -> FileHealth {
        FileHealth {
            retention_deleted_files: self.retention_deleted_files.load(Ordering::Relaxed),
            retention_deleted_bytes: self.retention_deleted_bytes.load(Ordering::Relaxed),
            reopens: self.reopens.load(Ordering::Relaxed),
            rotation_errors: self.rotation_errors.load(Ordering::Relaxed),
            background_errors: self.background_errors.load(Ordering::Relaxed),
        }
    }
}
