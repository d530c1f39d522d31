//! Counters of one signal's exports, read by the self-metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What happened to one signal's items (spans, log records, metric batches).
#[derive(Debug, Default)]
pub(crate) struct ExportStats {
    created: AtomicU64,
    /// Items accepted into the queue and not yet handed to the exporter.
    queued: AtomicU64,
    /// Estimated bytes those queued items hold.
    queued_bytes: AtomicU64,
    /// Items in an export call that has not returned yet.
    in_flight: AtomicU64,
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_closed: AtomicU64,
    failed: AtomicU64,
    export_errors: AtomicU64,
    rejected: AtomicU64,
    exports: AtomicU64,
    export_micros: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Where each export's duration goes (the export-duration histogram).
    duration: std::sync::OnceLock<metrics::Histogram>,
}

/// A snapshot of one OTLP signal's export counters.
///
/// Accounting is exact: every item created ends in exactly one of the other
/// counts, so `created == exported + dropped_queue_full + dropped_closed +
/// failed + queued + in_flight` (see [`ExportCounts::undelivered`]). For
/// metrics an item is one export of the current values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportCounts {
    /// Items handed to the signal's queue (spans ended, metric collections).
    pub created: u64,
    /// Items the collector accepted.
    pub exported: u64,
    /// Items dropped because the queue was full: by count
    /// (`otlp.batch.queue_capacity`) or by bytes (`otlp.batch.queue_max_bytes`).
    pub dropped_queue_full: u64,
    /// Items offered after shutdown began (with `otlp.batch.overflow =
    /// "block"`, also items whose thread was still waiting for room then).
    pub dropped_closed: u64,
    /// Items still waiting in the queue (or a batch being filled) when the
    /// snapshot was taken (at shutdown: left behind when the deadline passed).
    pub queued: u64,
    /// Estimated bytes the queued items hold.
    pub queued_bytes: u64,
    /// Items inside an export call that had not returned when the snapshot
    /// was taken (at shutdown: still unanswered at the deadline, so undelivered).
    pub in_flight: u64,
    /// Items in exports that failed after all retries.
    pub failed: u64,
    /// Export calls that failed after all retries.
    pub export_errors: u64,
    /// Items the collector accepted an export of but reported rejecting
    /// (OTLP `partial_success`: log records, spans; for metrics, data
    /// points). Counted within `exported` (the export succeeded and is not
    /// retried) and lost. Read from OTLP/HTTP responses and the gRPC
    /// metrics client; spans and logs over gRPC keep theirs in the SDK.
    pub rejected: u64,
    /// Export calls made.
    pub exports: u64,
    /// Total time spent in export calls, in microseconds.
    pub export_micros: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
}

impl ExportCounts {
    /// Items neither exported, dropped nor failed: still queued or in flight.
    pub fn undelivered(&self) -> u64 {
        self.queued + self.in_flight
    }

    /// Items lost or not (yet) delivered: dropped, failed or undelivered.
    pub fn lost(&self) -> u64 {
        self.dropped_queue_full + self.dropped_closed + self.failed + self.undelivered()
    }
}

impl ExportStats {
    /// Counts `count` new items.
    pub(crate) fn created(&self, count: u64) {
        self.created.fetch_add(count, Ordering::Relaxed);
    }

    /// Reserves room for one item of `bytes` in a queue bounded by
    /// `max_bytes` (an item larger than the bound fits an empty queue);
    /// false when it does not fit.
    pub(crate) fn reserve(&self, bytes: u64, max_bytes: u64) -> bool {
        let before = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before > 0 && before.saturating_add(bytes) > max_bytes {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Gives back a reservation whose item never entered the queue.
    pub(crate) fn unreserve(&self, bytes: u64) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// `items` holding `bytes` leave the queue for an export call.
    pub(crate) fn dequeued(&self, items: u64, bytes: u64) {
        self.in_flight.fetch_add(items, Ordering::AcqRel);
        self.queued.fetch_sub(items, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// `items` enter an export call (not through the queue).
    pub(crate) fn begin_export(&self, items: u64) {
        self.in_flight.fetch_add(items, Ordering::AcqRel);
    }

    pub(crate) fn dropped_queue_full(&self) {
        self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
    }

    /// `count` items of a successful export the collector reported rejecting.
    pub(crate) fn rejected(&self, count: u64) {
        self.rejected.fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn dropped_closed(&self, count: u64) {
        self.dropped_closed.fetch_add(count, Ordering::Relaxed);
    }

    /// Sends each export's duration to `histogram` from now on.
    pub(crate) fn time_into(&self, histogram: metrics::Histogram) {
        let _ = self.duration.set(histogram);
    }

    /// Records the end of one export call of `items` (begun with
    /// [`Self::begin_export`] or [`Self::dequeued`]) that took `took`.
    pub(crate) fn exported(&self, items: u64, took: Duration, result: &Result<(), String>) {
        if let Some(histogram) = self.duration.get() {
            histogram.record(took.as_secs_f64());
        }
        self.exports.fetch_add(1, Ordering::Relaxed);
        self.export_micros
            .fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.exported.fetch_add(items, Ordering::AcqRel);
            }
            Err(error) => {
                self.failed.fetch_add(items, Ordering::AcqRel);
                self.export_errors.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
            }
        }
        self.in_flight.fetch_sub(items, Ordering::AcqRel);
    }

    pub(crate) fn snapshot(&self) -> ExportCounts {
        // Upstream first (each move adds downstream before it subtracts
        // upstream): an item moving on meanwhile is seen twice, never missed.
        let queued = self.queued.load(Ordering::Acquire);
        let in_flight = self.in_flight.load(Ordering::Acquire);
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        ExportCounts {
            created: self.created.load(Ordering::Acquire),
            exported,
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            dropped_closed: self.dropped_closed.load(Ordering::Relaxed),
            queued,
            queued_bytes: self.queued_bytes.load(Ordering::Relaxed),
            in_flight,
            failed,
            export_errors: self.export_errors.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            exports: self.exports.load(Ordering::Relaxed),
            export_micros: self.export_micros.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
