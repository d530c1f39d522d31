//! Live counters of one sink, shared by its producer side, its worker and health reports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Counters of one sink. Every record offered ends in exactly one of:
/// accepted (then delivered, failed, dropped with the circuit open — by the
/// worker, or at once while the sink is backed off — or undelivered at
/// shutdown), dropped because the queue was full, or dropped
/// because the sink was closed.
#[derive(Debug, Default)]
pub(crate) struct SinkStats {
    pub(crate) accepted: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_closed: AtomicU64,
    pub(crate) dropped_circuit_open: AtomicU64,
    pub(crate) panics: AtomicU64,
    /// Bytes reserved by queued records, released once the worker is done with them.
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) circuit_open: AtomicBool,
    /// While the circuit is open: milliseconds since the epoch until which
    /// producers drop records themselves (the worker would only drop them);
    /// after it, records queue again so the worker can try the sink.
    pub(crate) shed_until_ms: AtomicU64,
    /// Milliseconds since the epoch when the current sink call began; 0 when idle.
    pub(crate) busy_since_ms: AtomicU64,
    last_error: Mutex<Option<(String, SystemTime)>>,
    /// Applied to error text before it is kept (it reaches health, the
    /// shutdown report and the API): set when the sink joins a pipeline.
    redactor: std::sync::OnceLock<std::sync::Arc<super::Redactor>>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}

impl SinkStats {
    /// Redacts every error text kept from now on with `redactor`.
    pub(crate) fn redact_errors_with(&self, redactor: std::sync::Arc<super::Redactor>) {
        let _ = self.redactor.set(redactor);
    }

    pub(crate) fn note_error(&self, message: String) {
        let message = match self.redactor.get() {
            Some(redactor) => redactor.redact_text(&message).into_owned(),
            None => message,
        };
        let entry = Some((message, SystemTime::now()));
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = entry;
    }

    pub(crate) fn last_error(&self) -> Option<(String, SystemTime)> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn call_started(&self) {
        self.busy_since_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn call_finished(&self) {
        self.busy_since_ms.store(0, Ordering::Relaxed);
    }

    /// How long the sink's current call has been running, if one is.
    pub(crate) fn busy_for(&self) -> Option<Duration> {
        match self.busy_since_ms.load(Ordering::Relaxed) {
            0 => None,
            since => Some(Duration::from_millis(now_ms().saturating_sub(since))),
        }
    }
}

impl SinkStats {
    /// Whether a producer should drop a record now because the circuit is
    /// open (one relaxed load when it is closed).
    #[inline]
    pub(crate) fn shedding(&self) -> bool {
        self.circuit_open.load(Ordering::Relaxed) && now_ms() < self.shed_until_ms.load(Ordering::Relaxed)
    }
}
