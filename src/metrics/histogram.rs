//! [`BucketHistogram`]: a Prometheus histogram with fixed bucket bounds,
//! counted into its bucket as each observation is recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::exemplar::{self, Exemplar, ExemplarSlots};
use crate::error::{Error, Result};

/// The Prometheus client libraries' default bucket bounds (`DefBuckets`), in
/// seconds: for histograms registered without bounds of their own.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Checks bucket bounds: one or more, finite, strictly increasing. `key`
/// names the setting in the error.
pub(crate) fn check_bounds(key: &str, bounds: &[f64]) -> Result<()> {
    let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
    if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
        return Err(Error::config(
            key,
            format!("{bounds:?}"),
            "need one or more finite, strictly increasing bucket bounds",
        ));
    }
    Ok(())
}

/// Observation counts per bucket (not cumulative; the last one is `+Inf`),
/// the sum of the observations, lock-free; per bucket the exemplar of its
/// latest observation made with a trace or correlation id (see
/// [`exemplar`](super::exemplar)).
#[derive(Debug)]
pub(crate) struct BucketHistogram {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    /// `f64` bits.
    sum: AtomicU64,
    exemplars: ExemplarSlots,
}

/// What one read of a histogram saw: cumulative counts per bound, then the
/// total (the `+Inf` bucket, which is `_count`), and the sum.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramSnapshot {
    pub(crate) cumulative: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

impl BucketHistogram {
    /// A histogram over `bounds` (checked by [`check_bounds`]).
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        BucketHistogram {
            bounds,
            counts,
            sum: AtomicU64::new(0.0f64.to_bits()),
            exemplars: ExemplarSlots::default(),
        }
    }

    /// The upper bounds, without `+Inf`.
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Counts `value` in the first bucket whose bound is `>= value` (`NaN`
    /// only in `+Inf`, as the Prometheus client libraries do) and adds it to
    /// the sum.
    pub(crate) fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        let bucket = if value.is_nan() { self.bounds.len() } else { bucket };
        let _ = self.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
        self.counts[bucket].fetch_add(1, Ordering::Release);
        if !value.is_nan() {
            if let Some(context) = exemplar::current() {
                self.exemplars.offer(self.counts.len(), bucket, value, &context);
            }
        }
    }

    /// Bucket `bucket`'s exemplar (`bounds().len()` is `+Inf`), if it has one.
    pub(crate) fn exemplar(&self, bucket: usize) -> Option<Exemplar> {
        self.exemplars.get(bucket)
    }

    /// The counts so far. The `+Inf` bucket and the count are the same
    /// number by construction; the sum may lag an observation being recorded
    /// at the same moment.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        for (i, count) in self.counts.iter().enumerate() {
            running = running.saturating_add(count.load(Ordering::Acquire));
            if i < self.bounds.len() {
                cumulative.push(running);
            }
        }
        HistogramSnapshot {
            cumulative,
            count: running,
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inf_is_the_count() {
        let h = BucketHistogram::new(Arc::from([1.0, 5.0, 10.0].as_slice()));
        for v in [0.5, 1.0, 1.0001, 5.0, 7.0, 11.0, f64::INFINITY, f64::NAN, -3.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        // le=1: 0.5, 1.0, -3.0; le=5: + 1.0001, 5.0; le=10: + 7.0; +Inf: + 11, inf, NaN.
        assert_eq!(s.cumulative, [3, 5, 6]);
        assert_eq!(s.count, 9);
        assert!(s.sum.is_nan());
    }

    #[test]
    fn sum_adds_every_observation() {
        let h = BucketHistogram::new(Arc::from(DEFAULT_BUCKETS.as_slice()));
        for v in [0.25, 0.5, 2.0] {
            h.observe(v);
        }
        assert_eq!(h.snapshot().sum, 2.75);
        assert_eq!(h.snapshot().cumulative[5], 1, "le=0.25 holds 0.25");
    }

    #[test]
    fn an_observation_with_a_context_becomes_its_buckets_exemplar() {
        let h = BucketHistogram::new(Arc::from([1.0, 5.0].as_slice()));
        crate::correlation::scope(crate::CorrelationId::new("run-1").unwrap(), || {
            h.observe(0.7);
            h.observe(3.0);
            h.observe(f64::NAN);
            h.observe(f64::INFINITY);
        });
        let first = h.exemplar(0).expect("bucket le=1");
        assert_eq!(first.value, 0.7);
        assert_eq!(first.context.correlation_id(), Some("run-1"));
        assert_eq!(h.exemplar(1).map(|e| e.value), Some(3.0));
        assert_eq!(h.exemplar(2).map(|e| e.value), Some(f64::INFINITY), "NaN is never one");
    }

    #[test]
    fn bounds_must_be_finite_and_strictly_increasing() {
        assert!(check_bounds("b", &[1.0, 2.0]).is_ok());
        for bad in [&[][..], &[2.0, 1.0], &[1.0, 1.0], &[1.0, f64::INFINITY], &[f64::NAN]] {
            let err = check_bounds("b", bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidConfig { ref key, .. } if key == "b"),
                "{err}"
            );
        }
    }
}
