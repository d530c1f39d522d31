//! Head sampling for high-volume kinds, never for what signals trouble.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Level;

use crate::event::{fields, EventKind};
use crate::record::Record;

/// Keeps a configured share of records per event kind or per level.
///
/// Never sampled: ERROR-level records, rollbacks, failed steps, failed or
/// blocking CRV checks and denied policy checks. Metrics count every event
/// regardless (they are fed before sampling).
#[derive(Debug)]
pub(crate) struct Sampler {
    by_kind: [Option<f64>; EventKind::ALL.len()],
    by_level: [Option<f64>; 5],
    /// Records sampled out, per kind (index `EventKind::ALL.len()` = not an Aureus kind).
    sampled_out: [AtomicU64; EventKind::ALL.len() + 1],
}

fn level_index(level: Level) -> usize {
    match level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(EventKind::ALL.len())
}

thread_local! {
    static RANDOM: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(&hasher as *const _ as usize);
    hasher.finish() | 1
}

/// A uniform number in [0, 1) from a per-thread xorshift generator.
fn unit_random() -> f64 {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

impl Sampler {
    /// A sampler keeping `ratio` of each listed kind and level (kind wins).
    pub(crate) fn new(kinds: &[(EventKind, f64)], levels: &[(Level, f64)]) -> Self {
        let mut by_kind = [None; EventKind::ALL.len()];
        for (kind, ratio) in kinds {
            by_kind[kind_index(*kind)] = Some(ratio.clamp(0.0, 1.0));
        }
        let mut by_level = [None; 5];
        for (level, ratio) in levels {
            by_level[level_index(*level)] = Some(ratio.clamp(0.0, 1.0));
        }
        Sampler {
            by_kind,
            by_level,
            sampled_out: Default::default(),
        }
    }

    /// Whether any ratio is configured.
    pub(crate) fn is_active(&self) -> bool {
        self.by_kind.iter().chain(&self.by_level).any(Option::is_some)
    }

    /// Whether `record` goes on to sinks and the store; counts it when not.
    pub(crate) fn keep(&self, record: &Record) -> bool {
        if signals_trouble(record) {
            return true;
        }
        let ratio = record
            .kind
            .and_then(|k| self.by_kind[kind_index(k)])
            .or(self.by_level[level_index(record.level)]);
        match ratio {
            None => true,
            Some(ratio) if ratio >= 1.0 => true,
            Some(ratio) if unit_random() < ratio => true,
            Some(_) => {
                let index = record.kind.map(kind_index).unwrap_or(EventKind::ALL.len());
                self.sampled_out[index].fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Records sampled out so far, per kind name (`other` for non-Aureus records).
    pub(crate) fn sampled_out(&self) -> Vec<(&'static str, u64)> {
        EventKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain(std::iter::once("other"))
            .zip(self.sampled_out.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Errors, rollbacks, failed steps, failed or blocking checks, denials.
fn signals_trouble(record: &Record) -> bool {
    let flag = |name: &str| record.field(name).and_then(|v| v.as_bool());
    record.level == Level::ERROR
        || match record.kind {
            Some(EventKind::Rollback) => true,
            Some(EventKind::StepEnd) => flag(fields::SUCCESS) != Some(true),
            Some(EventKind::CrvResult) => flag(fields::PASSED) != Some(true) || flag(fields::BLOCKED) == Some(true),
            Some(EventKind::PolicyCheck) => flag(fields::ALLOWED) != Some(true),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    fn record(kind: &str, level: Level, flags: &[(&'static str, bool)]) -> Record {
        let mut r = Record::new(level, "aureus");
        r.set_event_type(kind);
        for (name, value) in flags {
            r.push_field(name, Value::Bool(*value));
        }
        r
    }

    #[test]
    fn keeps_about_the_ratio_and_counts_the_rest() {
        let sampler = Sampler::new(&[(EventKind::ToolCall, 0.1)], &[]);
        let r = record("tool_call", Level::INFO, &[]);
        let kept = (0..100_000).filter(|_| sampler.keep(&r)).count();
        assert!((8_000..12_000).contains(&kept), "{kept}");
        let out = sampler
            .sampled_out()
            .into_iter()
            .find(|(k, _)| *k == "tool_call")
            .unwrap()
            .1;
        assert_eq!(out as usize, 100_000 - kept);
    }

    #[test]
    fn never_samples_what_signals_trouble() {
        let sampler = Sampler::new(
            &[
                (EventKind::StepEnd, 0.0),
                (EventKind::CrvResult, 0.0),
                (EventKind::PolicyCheck, 0.0),
                (EventKind::Rollback, 0.0),
            ],
            &[(Level::ERROR, 0.0), (Level::INFO, 0.0)],
        );
        assert!(sampler.keep(&record("step_end", Level::INFO, &[("success", false)])));
        assert!(!sampler.keep(&record("step_end", Level::INFO, &[("success", true)])));
        assert!(sampler.keep(&record(
            "crv_result",
            Level::WARN,
            &[("passed", false), ("blocked", false)]
        )));
        assert!(sampler.keep(&record(
            "crv_result",
            Level::WARN,
            &[("passed", true), ("blocked", true)]
        )));
        assert!(!sampler.keep(&record(
            "crv_result",
            Level::INFO,
            &[("passed", true), ("blocked", false)]
        )));
        assert!(sampler.keep(&record("policy_check", Level::WARN, &[("allowed", false)])));
        assert!(sampler.keep(&record("rollback", Level::ERROR, &[])));
        let mut plain = Record::new(Level::ERROR, "kernel");
        plain.set_message("boom");
        assert!(sampler.keep(&plain));
        let mut info = Record::new(Level::INFO, "kernel");
        info.set_message("fine");
        assert!(!sampler.keep(&info), "level ratio applies to non-Aureus records");
    }
}
