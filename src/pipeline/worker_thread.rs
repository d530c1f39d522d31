//! Marks sink worker threads, so that what they log never re-enters the pipeline.

use std::cell::Cell;

thread_local! {
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a sink worker.
pub(crate) fn mark_current() {
    IS_WORKER.with(|flag| flag.set(true));
}

/// Whether the calling thread is a sink worker.
#[inline]
pub(crate) fn is_current() -> bool {
    IS_WORKER.try_with(Cell::get).unwrap_or(false)
}
