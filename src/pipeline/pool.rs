//! Recycling records: in steady state an event costs no allocation.
//!
//! When the last sink worker is done with a record it clears it (keeping its
//! buffers' capacity) and returns it here; the next event reuses it. This also
//! keeps the allocator out of the hot path, where a record allocated on the
//! instrumented thread and freed on a worker thread would otherwise contend
//! on the allocator's locks.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use tracing::Level;

use crate::record::Record;

/// Records kept for reuse.
const POOL_SIZE: usize = 4096;

/// A bounded stack of cleared records.
pub(crate) struct RecordPool {
    free: ArrayQueue<Arc<Record>>,
}

impl RecordPool {
    pub(crate) fn new() -> Self {
        RecordPool {
            free: ArrayQueue::new(POOL_SIZE),
        }
    }

    /// A record for `level` and `target` filled by `fill`: a recycled one
    /// when available, else a new one with `text_capacity` bytes of text room.
    pub(crate) fn build(
        &self,
        level: Level,
        target: &'static str,
        text_capacity: usize,
        fill: impl FnOnce(&mut Record),
    ) -> Arc<Record> {
        if let Some(mut shared) = self.free.pop() {
            if let Some(record) = Arc::get_mut(&mut shared) {
                record.restart(level, target);
                fill(record);
                return shared;
            }
        }
        let mut record = Record::with_text_capacity(level, target, text_capacity);
        fill(&mut record);
        Arc::new(record)
    }

    /// Gives `record` back if nobody else holds it; otherwise just drops this reference.
    pub(crate) fn recycle(&self, mut record: Arc<Record>) {
        if let Some(slot) = Arc::get_mut(&mut record) {
            slot.clear();
            let _ = self.free.push(record);
        }
    }
}
