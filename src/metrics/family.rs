//! One metric family's handles, cached per label value, behind a cardinality guard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use super::contract::OVERFLOW_LABEL_VALUE;

/// Builds the handles of one label value.
type Make<T> = Box<dyn Fn(&str) -> T + Send + Sync>;

/// Handles of one metric family keyed by the value of its free-text label
/// (task type, tool name, gate name).
///
/// Lookups of a value already seen take no lock and allocate nothing. At most
/// `limit` distinct values get their own handles; later ones share the
/// `other` handles and are counted by `on_overflow`.
pub(crate) struct Family<T> {
    values: ArcSwap<HashMap<Box<str>, T>>,
    other: OnceLock<T>,
    limit: usize,
    make: Make<T>,
    on_overflow: metrics::Counter,
    insert: Mutex<()>,
}

impl<T: Clone + Send + Sync> Family<T> {
    /// A family admitting `limit` distinct values (at least one).
    pub(crate) fn new(limit: usize, on_overflow: metrics::Counter, make: Make<T>) -> Self {
        Family {
            values: ArcSwap::from_pointee(HashMap::new()),
            other: OnceLock::new(),
            limit: limit.max(1),
            make,
            on_overflow,
            insert: Mutex::new(()),
        }
    }

    /// Runs `use_handles` with the handles of `value` (or of `other` past the limit).
    #[inline]
    pub(crate) fn with<R>(&self, value: &str, use_handles: impl FnOnce(&T) -> R) -> R {
        let values = self.values.load();
        if let Some(handles) = values.get(value) {
            return use_handles(handles);
        }
        if values.len() >= self.limit {
            return use_handles(self.overflow());
        }
        drop(values);
        self.admit(value, use_handles)
    }

    fn overflow(&self) -> &T {
        self.on_overflow.increment(1);
        self.other.get_or_init(|| (self.make)(OVERFLOW_LABEL_VALUE))
    }

    /// Slow path: registers a new value (copy-on-write; new values are rare).
    #[cold]
    fn admit<R>(&self, value: &str, use_handles: impl FnOnce(&T) -> R) -> R {
        let _only_one_writer = self.insert.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.values.load_full();
        if let Some(handles) = current.get(value) {
            return use_handles(handles);
        }
        if current.len() >= self.limit {
            return use_handles(self.overflow());
        }
        let handles = (self.make)(value);
        let result = use_handles(&handles);
        let mut next = HashMap::clone(&current);
        next.insert(Box::from(value), handles);
        self.values.store(Arc::new(next));
        result
    }

    /// Distinct values admitted so far.
    #[cfg(test)]
    pub(crate) fn admitted(&self) -> usize {
        self.values.load().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn folds_values_past_the_limit_into_other_and_counts_each_fold() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let family: Family<String> = Family::new(
            3,
            metrics::Counter::noop(),
            Box::new(move |v| {
                counter.fetch_add(1, Ordering::Relaxed);
                v.to_owned()
            }),
        );
        let seen: Vec<String> = ["a", "b", "a", "c", "d", "e", "b"]
            .iter()
            .map(|v| family.with(v, |h| h.clone()))
            .collect();
        assert_eq!(seen, ["a", "b", "a", "c", "other", "other", "b"]);
        assert_eq!(family.admitted(), 3);
        assert_eq!(made.load(Ordering::Relaxed), 4, "a, b, c and other, each once");
    }
}
