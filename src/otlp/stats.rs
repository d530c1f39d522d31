//! Counters of one signal's exports, read by the self-metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What happened to one signal's items (spans, log records, metric batches).
#[derive(Debug, Default)]
pub(crate) struct ExportStats {
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_closed: AtomicU64,
    failed: AtomicU64,
    export_errors: AtomicU64,
    exports: AtomicU64,
    export_micros: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Where each export's duration goes (the export-duration histogram).
    duration: std::sync::OnceLock<metrics::Histogram>,
}

/// A snapshot of one OTLP signal's export counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Items the collector accepted.
    pub exported: u64,
    /// Items dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Items offered after shutdown.
    pub dropped_closed: u64,
    /// Items still waiting in the queue when the snapshot was taken (at
    /// shutdown: left behind when the deadline passed).
    pub queued: u64,
    /// Items in exports that failed after all retries.
    pub failed: u64,
    /// Export calls that failed after all retries.
    pub export_errors: u64,
    /// Export calls made.
    pub exports: u64,
    /// Total time spent in export calls, in microseconds.
    pub export_micros: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
}

impl ExportStats {
    pub(crate) fn dropped_queue_full(&self) {
        self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped_closed(&self, count: u64) {
        self.dropped_closed.fetch_add(count, Ordering::Relaxed);
    }

    /// Sends each export's duration to `histogram` from now on.
    pub(crate) fn time_into(&self, histogram: metrics::Histogram) {
        let _ = self.duration.set(histogram);
    }

    /// Records one export call of `items` that took `took`.
    pub(crate) fn exported(&self, items: u64, took: Duration, result: &Result<(), String>) {
        if let Some(histogram) = self.duration.get() {
            histogram.record(took.as_secs_f64());
        }
        self.exports.fetch_add(1, Ordering::Relaxed);
        self.export_micros
            .fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.exported.fetch_add(items, Ordering::Relaxed);
            }
            Err(error) => {
                self.failed.fetch_add(items, Ordering::Relaxed);
                self.export_errors.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
            }
        }
    }

    pub(crate) fn snapshot(&self) -> ExportCounts {
        ExportCounts {
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            dropped_closed: self.dropped_closed.load(Ordering::Relaxed),
            queued: 0,
            failed: self.failed.load(Ordering::Relaxed),
            export_errors: self.export_errors.load(Ordering::Relaxed),
            exports: self.exports.load(Ordering::Relaxed),
            export_micros: self.export_micros.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
