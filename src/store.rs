//! [`EventStore`]: a bounded in-memory ring of recent records, queried by
//! correlation id, event type, workflow id, time range and limit.
//!
//! The store is fed like any other sink — by its own worker behind a bounded
//! queue (sink name `store`), so the instrumented code never takes its lock —
//! and is bounded both by record count and by (estimated) bytes: the oldest
//! records are evicted first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::event::fields;
use crate::record::Record;
use crate::sinks::{Sink, SinkError};

/// A query over the store; every filter is optional. Results come newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    /// Only records with this correlation id.
    pub correlation_id: Option<String>,
    /// Only records with this `event_type`.
    pub event_type: Option<String>,
    /// Only records with this `workflow_id` field.
    pub workflow_id: Option<String>,
    /// Only records at or after this time.
    pub start: Option<SystemTime>,
    /// Only records at or before this time.
    pub end: Option<SystemTime>,
    /// At most this many records (0 = no limit).
    pub limit: usize,
}

impl EventQuery {
    fn matches(&self, record: &Record) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
        same(&self.correlation_id, record.correlation_id())
            && same(&self.event_type, record.event_type())
            && same(&self.workflow_id, record.str_field(fields::WORKFLOW_ID))
            && self.start.is_none_or(|start| record.timestamp >= start)
            && self.end.is_none_or(|end| record.timestamp <= end)
    }
}

struct Ring {
    records: VecDeque<(Arc<Record>, usize)>,
    bytes: usize,
}

/// The bounded ring of recent records. Cheap to clone (shared).
#[derive(Clone)]
pub struct EventStore {
    ring: Arc<Mutex<Ring>>,
    max_records: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("len", &self.len())
            .field("bytes", &self.bytes())
            .field("max_records", &self.max_records)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl EventStore {
    /// A store keeping at most `max_records` records and `max_bytes` bytes (estimated).
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        EventStore {
            ring: Arc::new(Mutex::new(Ring {
                records: VecDeque::new(),
                bytes: 0,
            })),
            max_records: max_records.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds records, evicting the oldest past either bound.
    pub fn insert(&self, batch: &[Arc<Record>]) {
        let mut ring = self.ring();
        for record in batch {
            let size = record.approx_bytes();
            ring.records.push_back((Arc::clone(record), size));
            ring.bytes += size;
            while ring.records.len() > self.max_records || (ring.bytes > self.max_bytes && ring.records.len() > 1) {
                match ring.records.pop_front() {
                    Some((_, evicted)) => ring.bytes -= evicted,
                    None => break,
                }
            }
        }
    }

    /// Records matching `query`, newest first.
    pub fn query(&self, query: &EventQuery) -> Vec<Arc<Record>> {
        let limit = if query.limit == 0 { usize::MAX } else { query.limit };
        self.ring()
            .records
            .iter()
            .rev()
            .map(|(record, _)| record)
            .filter(|record| query.matches(record))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.ring().records.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.ring().bytes
    }
}

/// Feeds the store from its sink worker, and announces new records to live
/// subscribers (the dashboard's stream; slow subscribers skip, never block).
pub(crate) struct StoreSink {
    pub(crate) store: EventStore,
    pub(crate) announce: tokio::sync::broadcast::Sender<Arc<Record>>,
}

impl Sink for StoreSink {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        self.store.insert(batch);
        if self.announce.receiver_count() > 0 {
            for record in batch {
                let _ = self.announce.send(Arc::clone(record));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;
    use std::time::Duration;

    fn record(n: u64, corr: &str, kind: &str, workflow: &str, at: SystemTime) -> Arc<Record> {
        let mut r = Record::new(tracing::Level::INFO, "aureus");
        r.timestamp = at;
        r.set_event_type(kind);
        r.set_correlation_id(&crate::CorrelationId::new(corr).unwrap());
        r.push_field("workflow_id", Value::Str(workflow));
        r.push_field("n", Value::U64(n));
        Arc::new(r)
    }

    fn ns(records: &[Arc<Record>]) -> Vec<u64> {
        records
            .iter()
            .map(|r| match r.field("n") {
                Some(Value::U64(n)) => n,
                _ => panic!(),
            })
            .collect()
    }

    #[test]
    fn queries_filter_and_come_newest_first() {
        let store = EventStore::new(100, 1 << 20);
        let t0 = SystemTime::now();
        let at = |s| t0 + Duration::from_secs(s);
        store.insert(&[
            record(0, "c1", "step_start", "w1", at(0)),
            record(1, "c2", "tool_call", "w2", at(1)),
            record(2, "c1", "step_end", "w1", at(2)),
            record(3, "c1", "tool_call", "w1", at(3)),
        ]);
        let q = |f: fn(&mut EventQuery)| {
            let mut query = EventQuery::default();
            f(&mut query);
            ns(&store.query(&query))
        };
        assert_eq!(q(|_| {}), [3, 2, 1, 0]);
        assert_eq!(q(|q| q.correlation_id = Some("c1".into())), [3, 2, 0]);
        assert_eq!(q(|q| q.event_type = Some("tool_call".into())), [3, 1]);
        assert_eq!(q(|q| q.workflow_id = Some("w2".into())), [1]);
        let (start, end) = (at(1), at(2));
        let mut range = EventQuery {
            start: Some(start),
            end: Some(end),
            ..Default::default()
        };
        assert_eq!(ns(&store.query(&range)), [2, 1]);
        range.limit = 1;
        assert_eq!(ns(&store.query(&range)), [2]);
    }

    #[test]
    fn bounded_by_count_and_by_bytes() {
        let store = EventStore::new(10, 1 << 20);
        for n in 0..100 {
            store.insert(&[record(n, "c", "custom", "w", SystemTime::now())]);
        }
        assert_eq!(store.len(), 10);
        assert_eq!(ns(&store.query(&EventQuery::default()))[0], 99);
        let one = record(0, "c", "custom", "w", SystemTime::now()).approx_bytes();
        let store = EventStore::new(1_000_000, one * 5);
        for n in 0..100 {
            store.insert(&[record(n, "c", "custom", "w", SystemTime::now())]);
        }
        assert!(store.len() <= 5 && store.bytes() <= one * 5, "{store:?}");
    }
}
