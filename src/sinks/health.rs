//! What a sink's state looks like from outside: [`SinkHealth`], and what it
//! achieved by shutdown: [`SinkReport`].

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::pipeline::SinkHandle;

/// A snapshot of one sink's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SinkHealth {
    /// The sink's name.
    pub name: String,
    /// `console`, `file`, `store`, `custom`, `prometheus`.
    pub kind: String,
    /// Whether records are being delivered to it.
    pub enabled: bool,
    /// Records waiting in its queue.
    pub queue_depth: usize,
    /// The queue's capacity.
    pub queue_capacity: usize,
    /// Bytes the queued records hold (an estimate).
    pub queue_bytes: u64,
    /// The queue's byte bound (a record that does not fit meets a full queue).
    pub queue_max_bytes: u64,
    /// Records accepted: queued, or settled at once as `dropped_circuit_open`
    /// while the sink is backed off.
    pub accepted: u64,
    /// Records the sink wrote successfully.
    pub delivered: u64,
    /// Records in batches the sink failed (error or panic).
    pub failed: u64,
    /// Records dropped because the queue was full (`drop` policy).
    pub dropped_queue_full: u64,
    /// Records refused because the sink was shut down or removed.
    pub dropped_closed: u64,
    /// Records dropped without calling the sink while its circuit was open.
    pub dropped_circuit_open: u64,
    /// Panics caught in the sink.
    pub panics: u64,
    /// Whether the circuit breaker currently keeps the failing sink off.
    pub circuit_open: bool,
    /// How long the sink's current call has been running (a hang shows here).
    pub busy_for: Option<Duration>,
    /// The last error and when it happened (for a file sink also a failed
    /// rotation, compression or retention).
    pub last_error: Option<(String, SystemTime)>,
    /// File sinks only: retention and recovery counters.
    pub file: Option<FileHealth>,
}

/// What a file sink did besides writing: what retention deleted, how often
/// it reopened its file, which of its own steps failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileHealth {
    /// Rotated files deleted by retention (`max_files`, `max_total_bytes`),
    /// always the oldest.
    pub retention_deleted_files: u64,
    /// On-disk bytes of those files (compressed size for `.gz`, uncompressed
    /// for a file deleted before its compression finished).
    pub retention_deleted_bytes: u64,
    /// Times the active file was reopened because it changed under the
    /// writer (deleted, moved away, directory removed) or could not be
    /// opened before.
    pub reopens: u64,
    /// Rotations that failed (e.g. read-only directory); the active file
    /// then keeps growing and rotation is retried a second later.
    pub rotation_errors: u64,
    /// Failed background steps: compressing a rotated file, retention.
    pub background_errors: u64,
}

impl SinkHealth {
    pub(crate) fn of(sink: &SinkHandle) -> Self {
        let s = &sink.stats;
        SinkHealth {
            name: sink.name.to_string(),
            kind: sink.kind.to_owned(),
            enabled: sink.is_enabled(),
            queue_depth: sink.queue_depth(),
            queue_capacity: sink.settings.capacity,
            queue_bytes: sink.queued_bytes(),
            queue_max_bytes: sink.settings.max_bytes,
            accepted: s.accepted.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            dropped_queue_full: s.dropped_queue_full.load(Ordering::Relaxed),
            dropped_closed: s.dropped_closed.load(Ordering::Relaxed),
            dropped_circuit_open: s.dropped_circuit_open.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            circuit_open: s.circuit_open.load(Ordering::Relaxed),
            busy_for: s.busy_for(),
            last_error: latest(s.last_error(), sink.file.as_ref().and_then(|f| f.last_error())),
            file: sink.file.as_ref().map(|f| f.health()),
        }
    }

    /// Every record lost so far, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_closed + self.dropped_circuit_open
    }
}

/// The later of two timestamped errors.
fn latest(a: Option<(String, SystemTime)>, b: Option<(String, SystemTime)>) -> Option<(String, SystemTime)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.1 > a.1 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// What one sink delivered by the end of its shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkReport {
    /// The sink's final counters.
    pub health: SinkHealth,
    /// Accepted records neither delivered, failed nor dropped (still queued
    /// or in a stuck call when the deadline passed).
    pub undelivered: u64,
    /// Whether the sink's worker finished before the deadline.
    pub completed: bool,
}

impl SinkReport {
    pub(crate) fn new(health: SinkHealth, completed: bool) -> Self {
        let settled = health.delivered + health.failed + health.dropped_circuit_open;
        SinkReport {
            undelivered: health.accepted.saturating_sub(settled),
            health,
            completed,
        }
    }
}
