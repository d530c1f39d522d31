//! Marks sink worker threads, so that what they log never re-enters the pipeline.

use std::cell::Cell;

/// Set once OTLP export runs: only then can a thread be inside an
/// OpenTelemetry suppressed scope (and only then is that state worth reading).
static OTEL_ACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes [`is_current`] also honour OpenTelemetry's suppressed scopes.
pub(crate) fn watch_otel_suppression() {
    OTEL_ACTIVE.store(true, std::sync::atomic::Ordering::Relaxed);
}

thread_local! {
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a sink worker.
pub(crate) fn mark_current() {
    IS_WORKER.with(|flag| flag.set(true));
}

/// Whether the calling thread is a sink worker.
/// Whether this thread must not feed the pipeline: a sink or exporter
/// worker, or code inside an OpenTelemetry suppressed scope (the SDK's own
/// export threads, e.g. the metric reader's).
#[inline]
pub(crate) fn is_current() -> bool {
    IS_WORKER.try_with(Cell::get).unwrap_or(false)
        || (OTEL_ACTIVE.load(std::sync::atomic::Ordering::Relaxed)
            && opentelemetry::Context::is_current_telemetry_suppressed())
}
