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
    /// File sinks only: retention deletions (files, bytes) and reopens.
    file: Option<[Counter; 3]>,
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
            .buckets(&names.otlp_export_duration, &super::EXPORT_DURATION_BUCKETS_S)?
            .buckets(
                crate::event::semconv::metric::TOKEN_USAGE_PROMETHEUS,
                &crate::event::semconv::metric::TOKEN_USAGE_BUCKETS,
            )?
            .buckets(
                crate::event::semconv::metric::OPERATION_DURATION_PROMETHEUS,
                &crate::event::semconv::metric::OPERATION_DURATION_BUCKETS,
            )?
            .float_counter(&names.llm_cost);
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

    /// The recorder itself (to share its names with the facade's, and for
    /// the OTLP mirror).
    pub(crate) fn exposition(&self) -> &Arc<ExpositionRecorder> {
        &self.recorder
    }

    /// The recorder, for registering the Aureus metrics.
    pub(crate) fn recorder(&self) -> Arc<dyn Recorder + Send + Sync> {
        Arc::clone(&self.recorder) as Arc<dyn Recorder + Send + Sync>
    }

    /// The exposition text, with self-metrics refreshed from `sinks` and the
    /// sampler's per-kind counts first.
    #[cfg(test)]
    pub(crate) fn render(&self, sinks: &[SinkHealth], sampled_out: &[(&'static str, u64)]) -> String {
        let mut out = String::new();
        self.render_into(super::ExpositionFormat::Text, sinks, sampled_out, &mut out);
        out
    }

    /// Appends the exposition in `format` (without OpenMetrics' `# EOF`) to
    /// `out`, self-metrics refreshed from `sinks` and the sampler's per-kind
    /// counts first.
    pub(crate) fn render_into(
        &self,
        format: super::ExpositionFormat,
        sinks: &[SinkHealth],
        sampled_out: &[(&'static str, u64)],
        out: &mut String,
    ) {
        self.refresh_sink_series(sinks);
        self.refresh_sampled_out(sampled_out);
        self.refresh_otlp();
        self.refresh_propagation();
        self.refresh_refused();
        self.recorder.render_into(format, out);
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
                ("rejected", counts.rejected),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::event::EventKind;
    use crate::metrics::{AureusMetrics, DurationUnit, MetricSample, DEFAULT_DURATION_BUCKETS_MS};

    fn sink(name: &str) -> SinkHealth {
        SinkHealth {
            name: name.to_owned(),
            kind: "file".to_owned(),
            enabled: true,
            queue_depth: 1,
            queue_capacity: 8,
            accepted: 3,
            delivered: 2,
            failed: 1,
            dropped_queue_full: 1,
            dropped_closed: 1,
            dropped_circuit_open: 1,
            panics: 0,
            circuit_open: false,
            busy_for: None,
            last_error: None,
            ..Default::default()
        }
    }

    /// The label names on every line of `text` (the exposition of our series).
    fn label_names(text: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((_, labels)) = line.split_once('{') else {
                continue;
            };
            // Our test values hold no `"`, `,` or `=`.
            for pair in labels.split(',') {
                if let Some((name, _)) = pair.split_once('=') {
                    names.insert(name.to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn every_label_of_our_own_series_is_in_label_names() {
        let names = MetricNames::new("aureus", DurationUnit::Milliseconds);
        let exporter =
            PrometheusExporter::new(names, &DEFAULT_DURATION_BUCKETS_MS, &std::collections::BTreeMap::new()).unwrap();
        let aureus = AureusMetrics::new(exporter.recorder(), "aureus", 4);
        for kind in [
            EventKind::StepStart,
            EventKind::StepEnd,
            EventKind::ToolCall,
            EventKind::CrvResult,
            EventKind::PolicyCheck,
            EventKind::SnapshotCommit,
            EventKind::Rollback,
        ] {
            // Past the cardinality limit too: the overflow counter's label.
            for label in ["a", "b", "c", "d", "e", "f", "g", "h", "i"] {
                aureus.observe(&MetricSample {
                    kind,
                    label: Some(label),
                    first: true,
                    second: false,
                    number: Some(5.0),
                });
            }
        }
        let stats = Arc::new(crate::otlp::ExportStats::default());
        exporter.watch_otlp(vec![("traces", Arc::clone(&stats)), ("logs", stats)]);
        let bad = std::collections::HashMap::from([("traceparent".to_owned(), "nonsense".to_owned())]);
        let _ = crate::propagation::extract_map(&bad);
        let text = exporter.render(&[sink("file")], &[("step_end", 2)]);

        let used = label_names(&text);
        let known: BTreeSet<String> = super::super::contract::LABEL_NAMES
            .iter()
            .chain(&["le"])
            .map(|s| s.to_string())
            .collect();
        assert!(
            used.is_subset(&known),
            "not in LABEL_NAMES: {:?}",
            used.difference(&known)
        );
        for expected in [
            "task_type",
            "tool_name",
            "metric",
            "sink",
            "reason",
            "kind",
            "signal",
            "header",
        ] {
            assert!(used.contains(expected), "{expected} not exercised:\n{text}");
        }
    }

    /// Every label name reaches a `metrics::Label` through a constant of
    /// `contract::label`, so `LABEL_NAMES` (built from the same table) cannot
    /// miss one.
    #[test]
    fn no_label_name_is_spelled_out_at_a_registration() {
        fn scan(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    scan(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        let code = line.trim_start();
                        if !code.starts_with("//") && code.contains("Label::new(\"") {
                            found.push(format!("{}:{}: {code}", path.display(), n + 1));
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        scan(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "use a constant of metrics::contract::label:\n{}",
            found.join("\n")
        );
    }
}
