//! The Prometheus side: the recorder, bucket configuration, global labels,
//! the pipeline's self-metrics, and rendering the exposition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Key, Label, Recorder};

use super::contract::{label, MetricNames};
use super::recorder::ExpositionRecorder;
use crate::error::Result;
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
    recorder: Arc<ExpositionRecorder>,
    names: MetricNames,
    sinks: Mutex<HashMap<String, SinkSeries>>,
    sampled_out: Mutex<HashMap<&'static str, Counter>>,
    /// Per-signal OTLP export counters, once OTLP export runs.
    otlp: std::sync::OnceLock<crate::otlp::SignalStats>,
    otlp_series: Mutex<HashMap<(&'static str, &'static str), Counter>>,
    refused: Mutex<HashMap<&'static str, Counter>>,
}

impl PrometheusExporter {
    pub(crate) fn new(
        names: MetricNames,
        duration_buckets_ms: &[f64],
        global_labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut builder = ExpositionRecorder::builder()
            .buckets(&names.task_duration, duration_buckets_ms)?
            .buckets(&names.otlp_export_duration, &super::EXPORT_DURATION_BUCKETS_S)?;
        for (name, value) in global_labels {
            super::contract::check_global_label(name, value)?;
            builder = builder.global_label(name, value)?;
        }
        let recorder = Arc::new(builder.build());
        Ok(PrometheusExporter {
            recorder,
            names,
            sinks: Mutex::new(HashMap::new()),
            sampled_out: Mutex::new(HashMap::new()),
            otlp: std::sync::OnceLock::new(),
            otlp_series: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        })
    }

    /// The recorder, for registering the Aureus metrics.
    pub(crate) fn recorder(&self) -> Arc<dyn Recorder + Send + Sync> {
        Arc::clone(&self.recorder) as Arc<dyn Recorder + Send + Sync>
    }

    /// The exposition text, with self-metrics refreshed from `sinks` and the
    /// sampler's per-kind counts first.
    pub(crate) fn render(&self, sinks: &[SinkHealth], sampled_out: &[(&'static str, u64)]) -> String {
        self.refresh_sink_series(sinks);
        self.refresh_sampled_out(sampled_out);
        self.refresh_otlp();
        self.refresh_propagation();
        self.refresh_refused();
        self.recorder.render()
    }

    /// `<prefix>_telemetry_refused_series_total{reason}`: series the
    /// exposition could not express (none from the crate's own metrics).
    fn refresh_refused(&self) {
        let mut series = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (reason, count) in self.recorder.refused_series() {
            if count == 0 {
                continue;
            }
            series
                .entry(reason)
                .or_insert_with(|| {
                    let key = Key::from_parts(
                        self.names.refused_series.clone(),
                        vec![Label::new(label::REASON, reason)],
                    );
                    self.recorder.register_counter(&key, &METADATA)
                })
                .absolute(count);
        }
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
                        vec![Label::new(label::HEADER, header)],
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
                            reason => (&self.names.otlp_dropped, vec![Label::new(label::REASON, reason)]),
                        };
                        labels.insert(0, Label::new(label::SIGNAL, *signal));
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
                    let key = Key::from_parts(self.names.sampled_out.clone(), vec![Label::new(label::KIND, *kind)]);
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
        let key = |name: &str, reason: Option<&'static str>| {
            let mut labels = vec![Label::new(label::SINK, sink.to_owned())];
            if let Some(reason) = reason {
                labels.push(Label::new(label::REASON, reason));
            }
            Key::from_parts(name.to_owned(), labels)
        };
        let counter = |name: &str, extra| self.recorder.register_counter(&key(name, extra), &METADATA);
        SinkSeries {
            records: counter(&self.names.sink_records, None),
            dropped_queue_full: counter(&self.names.sink_dropped, Some("queue_full")),
            dropped_closed: counter(&self.names.sink_dropped, Some("closed")),
            dropped_circuit_open: counter(&self.names.sink_dropped, Some("circuit_open")),
            errors: counter(&self.names.sink_errors, None),
            queue_depth: self
                .recorder
                .register_gauge(&key(&self.names.sink_queue_depth, None), &METADATA),
        }
    }
}
