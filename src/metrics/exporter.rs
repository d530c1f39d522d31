//! The Prometheus side: the recorder, bucket configuration, global labels,
//! the pipeline's self-metrics, and rendering the exposition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Key, Label, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::contract::MetricNames;
use crate::error::{Error, Result};
use crate::sinks::SinkHealth;

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("aureus::telemetry", metrics::Level::INFO, Some(module_path!()));

/// The self-metric series of one sink.
struct SinkSeries {
    records: Counter,
    dropped_queue_full: Counter,
    dropped_closed: Counter,
    dropped_circuit_open: Counter,
    errors: Counter,
    queue_depth: Gauge,
}

/// Owns the Prometheus recorder and renders `/metrics`.
pub(crate) struct PrometheusExporter {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    names: MetricNames,
    sinks: Mutex<HashMap<String, SinkSeries>>,
    sampled_out: Mutex<HashMap<&'static str, Counter>>,
}

impl PrometheusExporter {
    pub(crate) fn new(
        names: MetricNames,
        duration_buckets_ms: &[f64],
        global_labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(names.task_duration.clone()), duration_buckets_ms)
            .map_err(|err| {
                Error::config(
                    "metrics.duration_buckets_ms",
                    format!("{duration_buckets_ms:?}"),
                    err.to_string(),
                )
            })?;
        for (key, value) in global_labels {
            builder = builder.add_global_label(key, value);
        }
        let recorder = Arc::new(builder.build_recorder());
        let handle = recorder.handle();
        Ok(PrometheusExporter {
            recorder,
            handle,
            names,
            sinks: Mutex::new(HashMap::new()),
            sampled_out: Mutex::new(HashMap::new()),
        })
    }

    /// The recorder, for registering the Aureus metrics.
    pub(crate) fn recorder(&self) -> Arc<dyn Recorder + Send + Sync> {
        Arc::clone(&self.recorder) as Arc<dyn Recorder + Send + Sync>
    }

    /// Drains histogram samples into their buckets (call every few seconds).
    pub(crate) fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The exposition text, with self-metrics refreshed from `sinks` and the
    /// sampler's per-kind counts first.
    pub(crate) fn render(&self, sinks: &[SinkHealth], sampled_out: &[(&'static str, u64)]) -> String {
        self.refresh_sink_series(sinks);
        self.refresh_sampled_out(sampled_out);
        self.handle.render()
    }

    fn refresh_sampled_out(&self, counts: &[(&'static str, u64)]) {
        let mut series = self.sampled_out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (kind, count) in counts.iter().filter(|(_, count)| *count > 0) {
            series
                .entry(kind)
                .or_insert_with(|| {
                    let key = Key::from_parts(self.names.sampled_out.clone(), vec![Label::new("kind", *kind)]);
                    self.recorder.register_counter(&key, &METADATA)
                })
                .absolute(*count);
        }
    }

    fn refresh_sink_series(&self, sinks: &[SinkHealth]) {
        let mut series = self.sinks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for health in sinks {
            let s = series
                .entry(health.name.clone())
                .or_insert_with(|| self.register_sink(&health.name));
            s.records.absolute(health.delivered);
            s.dropped_queue_full.absolute(health.dropped_queue_full);
            s.dropped_closed.absolute(health.dropped_closed);
            s.dropped_circuit_open.absolute(health.dropped_circuit_open);
            s.errors.absolute(health.failed);
            s.queue_depth.set(health.queue_depth as f64);
        }
    }

    fn register_sink(&self, sink: &str) -> SinkSeries {
        let key = |name: &str, extra: Option<(&'static str, &'static str)>| {
            let mut labels = vec![Label::new("sink", sink.to_owned())];
            if let Some((k, v)) = extra {
                labels.push(Label::new(k, v));
            }
            Key::from_parts(name.to_owned(), labels)
        };
        let counter = |name: &str, extra| self.recorder.register_counter(&key(name, extra), &METADATA);
        SinkSeries {
            records: counter(&self.names.sink_records, None),
            dropped_queue_full: counter(&self.names.sink_dropped, Some(("reason", "queue_full"))),
            dropped_closed: counter(&self.names.sink_dropped, Some(("reason", "closed"))),
            dropped_circuit_open: counter(&self.names.sink_dropped, Some(("reason", "circuit_open"))),
            errors: counter(&self.names.sink_errors, None),
            queue_depth: self
                .recorder
                .register_gauge(&key(&self.names.sink_queue_depth, None), &METADATA),
        }
    }
}
