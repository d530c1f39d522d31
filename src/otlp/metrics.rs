//! Metrics: the same counters and histograms as `/metrics`, as OTLP
//! cumulative monotonic Sums and explicit-bucket Histograms.
//!
//! [`MirrorRecorder`] sits between [`crate::metrics::AureusMetrics`] and the
//! Prometheus recorder: every handle it registers updates the Prometheus
//! series and its OpenTelemetry instrument in the same call, so the two agree
//! whenever no event is in flight. OTLP names are the Prometheus names without
//! the `_total` suffix of counters (a Prometheus-compatible backend appends it
//! again); attributes are the labels plus the global labels. Histogram
//! handles keep their exemplars for OTLP too ([`super::exemplars`]). (The
//! self-metrics are in `self_metrics`.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;

use super::exemplars::{Exemplars, SeriesExemplars, SDK_DEFAULT_BOUNDS};

/// The OTLP name of a Prometheus metric name (the GenAI conventions'
/// metrics get their dotted names back).
pub(crate) fn otlp_name(prometheus: &str) -> String {
    use crate::event::semconv::metric;
    match prometheus {
        metric::TOKEN_USAGE_PROMETHEUS => metric::TOKEN_USAGE.to_owned(),
        metric::OPERATION_DURATION_PROMETHEUS => metric::OPERATION_DURATION.to_owned(),
        _ => prometheus.strip_suffix("_total").unwrap_or(prometheus).to_owned(),
    }
}

/// The OTLP attribute key of a label of metric `name`: the GenAI
/// conventions' metrics carry the conventions' dotted keys.
fn otlp_attribute_key(name: &str, label: &str) -> String {
    if name.starts_with("gen_ai_") {
        if let Some(key) = crate::metrics::genai_attribute_key(label) {
            return key.to_owned();
        }
    }
    label.to_owned()
}

/// A recorder that records into Prometheus and OpenTelemetry at once.
pub(crate) struct MirrorRecorder {
    prometheus: Arc<crate::metrics::ExpositionRecorder>,
    meter: Meter,
    global: Vec<KeyValue>,
    /// Explicit bucket bounds per histogram name.
    buckets: HashMap<String, Vec<f64>>,
    /// Unit per histogram name (`ms` or `s`).
    units: HashMap<String, &'static str>,
    descriptions: Mutex<HashMap<String, String>>,
    counters: Mutex<HashMap<String, opentelemetry::metrics::Counter<u64>>>,
    histograms: Mutex<HashMap<String, opentelemetry::metrics::Histogram<f64>>>,
    gauges: Mutex<HashMap<String, opentelemetry::metrics::Gauge<f64>>>,
    /// Gauge names that are monotonic totals (exported as Sums).
    float_counters: std::collections::HashSet<String>,
    float_sums: Mutex<HashMap<String, opentelemetry::metrics::Counter<f64>>>,
    /// Where histogram handles keep their OTLP exemplars, when exported with them.
    exemplars: Option<Arc<Exemplars>>,
}

impl MirrorRecorder {
    pub(crate) fn new(
        prometheus: Arc<crate::metrics::ExpositionRecorder>,
        meter: Meter,
        global_labels: &std::collections::BTreeMap<String, String>,
        histograms: Vec<(String, Vec<f64>, &'static str)>,
    ) -> Self {
        MirrorRecorder {
            prometheus,
            meter,
            global: global_labels
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
            buckets: histograms
                .iter()
                .map(|(name, bounds, _)| (name.clone(), bounds.clone()))
                .collect(),
            units: histograms.iter().map(|(name, _, unit)| (name.clone(), *unit)).collect(),
            descriptions: Mutex::new(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
            histograms: Mutex::new(HashMap::new()),
            gauges: Mutex::new(HashMap::new()),
            float_counters: std::collections::HashSet::new(),
            float_sums: Mutex::new(HashMap::new()),
            exemplars: None,
        }
    }

    /// Keeps each histogram series' exemplars in `exemplars`, for the
    /// metric exporter to add to its data points (see [`super::exemplars`]).
    pub(crate) fn with_exemplars(mut self, exemplars: Option<Arc<Exemplars>>) -> Self {
        self.exemplars = exemplars;
        self
    }

    /// Exports the gauge family `name` as a cumulative monotonic Sum of
    /// doubles (named without `_total`): a total that is not a whole number.
    pub(crate) fn float_counter(mut self, name: &str) -> Self {
        self.float_counters.insert(name.to_owned());
        self
    }

    fn attributes(&self, key: &Key) -> Vec<KeyValue> {
        let mut attributes: Vec<KeyValue> = key
            .labels()
            .map(|label| KeyValue::new(otlp_attribute_key(key.name(), label.key()), label.value().to_owned()))
            .collect();
        attributes.extend(self.global.iter().cloned());
        attributes
    }

    fn description(&self, name: &str) -> Option<String> {
        lock(&self.descriptions).get(name).cloned()
    }

    fn describe(&self, key: &KeyName, description: &SharedString) {
        lock(&self.descriptions).insert(key.as_str().to_owned(), description.to_string());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder for MirrorRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, &description);
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, &description);
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, &description);
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        // A name another family of the exposition has is refused there, and
        // not mirrored either (it would be a second instrument of that name).
        let Some(prometheus) = self.prometheus.counter_unless_conflict(key) else {
            return Counter::noop();
        };
        let name = key.name();
        let instrument = lock(&self.counters)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let mut builder = self.meter.u64_counter(otlp_name(name));
                if let Some(description) = self.description(name) {
                    builder = builder.with_description(description);
                }
                builder.build()
            })
            .clone();
        Counter::from_arc(Arc::new(MirroredCounter {
            prometheus,
            otlp: instrument,
            attributes: self.attributes(key),
            absolute: AtomicU64::new(0),
        }))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let Some(prometheus) = self.prometheus.gauge_unless_conflict(key) else {
            return Gauge::noop();
        };
        let name = key.name();
        if self.float_counters.contains(name) {
            let instrument = lock(&self.float_sums)
                .entry(name.to_owned())
                .or_insert_with(|| {
                    let mut builder = self.meter.f64_counter(otlp_name(name));
                    if let Some(description) = self.description(name) {
                        builder = builder.with_description(description);
                    }
                    builder.build()
                })
                .clone();
            return Gauge::from_arc(Arc::new(MirroredFloatCounter {
                prometheus,
                otlp: instrument,
                attributes: self.attributes(key),
            }));
        }
        let instrument = lock(&self.gauges)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let mut builder = self.meter.f64_gauge(name.to_owned());
                if let Some(description) = self.description(name) {
                    builder = builder.with_description(description);
                }
                builder.build()
            })
            .clone();
        let attributes = self.attributes(key);
        // A registered gauge shows 0 on /metrics until set: report the same.
        // (Gauges here are registered once per key, by the alert publisher.)
        instrument.record(0.0, &attributes);
        Gauge::from_arc(Arc::new(MirroredGauge {
            prometheus,
            otlp: instrument,
            attributes,
            value: Mutex::new(0.0),
        }))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let Some(prometheus) = self.prometheus.histogram_unless_conflict(key) else {
            return Histogram::noop();
        };
        let name = key.name();
        let instrument = lock(&self.histograms)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let mut builder = self.meter.f64_histogram(otlp_name(name));
                if let Some(bounds) = self.buckets.get(name) {
                    builder = builder.with_boundaries(bounds.clone());
                }
                if let Some(unit) = self.units.get(name) {
                    builder = builder.with_unit(*unit);
                }
                if let Some(description) = self.description(name) {
                    builder = builder.with_description(description);
                }
                builder.build()
            })
            .clone();
        let attributes = self.attributes(key);
        let exemplars = self.exemplars.as_ref().map(|exemplars| {
            let bounds = self.buckets.get(name).map_or(&SDK_DEFAULT_BOUNDS[..], Vec::as_slice);
            exemplars.series(&otlp_name(name), &attributes, bounds)
        });
        Histogram::from_arc(Arc::new(MirroredHistogram {
            prometheus,
            otlp: instrument,
            attributes,
            exemplars,
        }))
    }
}

struct MirroredCounter {
    prometheus: Counter,
    otlp: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    /// Last absolute value set (to turn `absolute` into an increment).
    absolute: AtomicU64,
}

impl CounterFn for MirroredCounter {
    fn increment(&self, value: u64) {
        self.prometheus.increment(value);
        self.otlp.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        self.prometheus.absolute(value);
        let previous = self.absolute.fetch_max(value, Ordering::Relaxed);
        if value > previous {
            self.otlp.add(value - previous, &self.attributes);
        }
    }
}

struct MirroredGauge {
    prometheus: Gauge,
    otlp: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    value: Mutex<f64>,
}

impl MirroredGauge {
    fn update(&self, change: impl FnOnce(f64) -> f64) {
        let mut value = lock(&self.value);
        *value = change(*value);
        self.otlp.record(*value, &self.attributes);
    }
}

impl GaugeFn for MirroredGauge {
    fn increment(&self, value: f64) {
        self.prometheus.increment(value);
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.prometheus.decrement(value);
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.prometheus.set(value);
        self.update(|_| value);
    }
}

/// A monotonic total with fractional values: a gauge on `/metrics` rendered
/// as a counter, a Sum of doubles over OTLP. Only increments count.
struct MirroredFloatCounter {
    prometheus: Gauge,
    otlp: opentelemetry::metrics::Counter<f64>,
    attributes: Vec<KeyValue>,
}

impl GaugeFn for MirroredFloatCounter {
    fn increment(&self, value: f64) {
        if value.is_finite() && value > 0.0 {
            self.prometheus.increment(value);
            self.otlp.add(value, &self.attributes);
        }
    }

    fn decrement(&self, _value: f64) {}

    fn set(&self, _value: f64) {}
}

struct MirroredHistogram {
    prometheus: Histogram,
    otlp: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
    exemplars: Option<Arc<SeriesExemplars>>,
}

impl HistogramFn for MirroredHistogram {
    fn record(&self, value: f64) {
        self.prometheus.record(value);
        self.otlp.record(value, &self.attributes);
        if let Some(exemplars) = &self.exemplars {
            exemplars.observe(value);
        }
    }
}
