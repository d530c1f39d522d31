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
    /// File sinks only: retention deletions (files, bytes) and reopens.
    file: Option<[Counter; 3]>,
}

/// Owns the Prometheus recorder and renders `/metrics`.
pub(crate) struct PrometheusExporter {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    names: MetricNames,
    sinks: Mutex<HashMap<String, SinkSeries>>,
    sampled_out: Mutex<HashMap<&'static str, Counter>>,
    /// Per-signal OTLP export counters, once OTLP export runs.
    otlp: std::sync::OnceLock<crate::otlp::SignalStats>,
    otlp_series: Mutex<HashMap<(&'static str, &'static str), Counter>>,
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
        builder = builder
            .set_buckets_for_metric(
                Matcher::Full(names.otlp_export_duration.clone()),
                &super::EXPORT_DURATION_BUCKETS_S,
            )
            .map_err(|err| Error::config("metrics", "export duration buckets", err.to_string()))?;
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
            otlp: std::sync::OnceLock::new(),
            otlp_series: Mutex::new(HashMap::new()),
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
        self.refresh_otlp();
        self.refresh_propagation();
        self.handle.render()
    }

    /// Exposes the OTLP exporters' counters from now on.
    pub(crate) fn watch_otlp(&self, signals: crate::otlp::SignalStats) {
        let _ = self.otlp.set(signals);
    }

    fn refresh_propagation(&self) {
        let mut series = self.otlp_series.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (header, count) in crate::propagation::rejected_headers() {
            if count == 0 {
                continue;
            }
            series
                .entry(("propagation", header))
                .or_insert_with(|| {
                    let key = Key::from_parts(
                        self.names.propagation_rejected.clone(),
                        vec![Label::new("header", header)],
                    );
                    self.recorder.register_counter(&key, &METADATA)
                })
                .absolute(count);
        }
    }

    fn refresh_otlp(&self) {
        let Some(signals) = self.otlp.get() else {
            return;
        };
        let mut series = self.otlp_series.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (signal, stats) in signals {
            let counts = stats.snapshot();
            for (which, value) in [
                ("exported", counts.exported),
                ("queue_full", counts.dropped_queue_full),
                ("closed", counts.dropped_closed),
                ("export_failed", counts.failed),
                ("errors", counts.export_errors),
            ] {
                // Log records queue in the `otlp` sink, whose own series count its drops.
                if *signal == "logs" && matches!(which, "queue_full" | "closed") {
                    continue;
                }
                series
                    .entry((signal, which))
                    .or_insert_with(|| {
                        let (name, mut labels) = match which {
                            "exported" => (&self.names.otlp_exported, vec![]),
                            "errors" => (&self.names.otlp_export_errors, vec![]),
                            reason => (&self.names.otlp_dropped, vec![Label::new("reason", reason)]),
                        };
                        labels.insert(0, Label::new("signal", *signal));
                        self.recorder
                            .register_counter(&Key::from_parts(name.clone(), labels), &METADATA)
                    })
                    .absolute(value);
            }
        }
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
                .or_insert_with(|| self.register_sink(&health.name, health.file.is_some()));
            s.records.absolute(health.delivered);
            s.dropped_queue_full.absolute(health.dropped_queue_full);
            s.dropped_closed.absolute(health.dropped_closed);
            s.dropped_circuit_open.absolute(health.dropped_circuit_open);
            s.errors.absolute(health.failed);
            s.queue_depth.set(health.queue_depth as f64);
            if let (Some(counters), Some(file)) = (&s.file, &health.file) {
                counters[0].absolute(file.retention_deleted_files);
                counters[1].absolute(file.retention_deleted_bytes);
                counters[2].absolute(file.reopens);
            }
        }
    }

    fn register_sink(&self, sink: &str, is_file: bool) -> SinkSeries {
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
            file: is_file.then(|| {
                [
                    counter(&self.names.file_retention_deleted_files, None),
                    counter(&self.names.file_retention_deleted_bytes, None),
                    counter(&self.names.file_reopens, None),
                ]
            }),
        }
    }
}
