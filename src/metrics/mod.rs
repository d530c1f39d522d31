//! Prometheus metrics from Aureus events.
//!
//! Every Aureus event (target `aureus`, field `event_type`) updates the
//! contract's metrics — regardless of the level filter and of sink sampling —
//! through the `metrics` facade's `Recorder` interface into an
//! [`ExpositionRecorder`], which renders the Prometheus text exposition
//! format 0.0.4 itself:
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `aureus_tasks_started_total` | counter | task_type |
//! | `aureus_tasks_completed_total` | counter | task_type, success |
//! | `aureus_task_duration_ms` | histogram | task_type, success |
//! | `aureus_tool_calls_total` | counter | tool_name |
//! | `aureus_crv_checks_total` | counter | gate_name, passed, blocked |
//! | `aureus_policy_checks_total` | counter | allowed, requires_approval |
//! | `aureus_snapshots_total` | counter | — |
//! | `aureus_rollbacks_total` | counter | — |
//!
//! plus the pipeline's self-metrics (`aureus_telemetry_records_total{sink}`,
//! `aureus_telemetry_dropped_total{sink,reason}`,
//! `aureus_telemetry_errors_total{sink}`, `aureus_telemetry_queue_depth{sink}`,
//! `aureus_telemetry_cardinality_overflow_total{metric}`, …). The prefix and
//! global labels are configurable; a global label may not reuse a label name
//! of these series, nor `le`, `quantile` or a `__` name. The same events also feed the
//! [`SummaryWindow`] behind [`MetricsHandle::summary`].
//!
//! # Exemplars
//!
//! Every histogram bucket — the duration histogram, the service's own
//! `metrics::histogram!` series through the facade, any histogram of an
//! [`ExpositionRecorder`] — keeps the exemplar of its latest observation
//! made with a trace or a correlation id: the observed value, when, the W3C
//! trace id and OpenTelemetry span id (when OTLP traces are on and a span
//! is active) and the correlation id. Aureus events lend the ids of their
//! own record; any other observation takes the active OpenTelemetry span and
//! [`correlation::current`](crate::correlation::current). Capture never
//! blocks and never allocates per observation (one slot array per histogram,
//! on its first exemplar). Counters carry none.
//!
//! `/metrics` serves them in OpenMetrics 1.0 when the scraper's `Accept`
//! header asks for it ([`ExpositionFormat::from_accept`]; Prometheus does):
//! `…_bucket{…,le="2.5"} 7 # {trace_id="…",span_id="…",correlation_id="…"} 1.5 1700000000.250`.
//! OpenMetrics allows 128 characters of exemplar label names and values:
//! the correlation id is left out when it does not fit whole (never
//! shortened), and an exemplar with nothing left is not written. The text
//! format 0.0.4 has no exemplars.

mod aureus;
mod contract;
pub(crate) mod exemplar;
mod exporter;
mod facade;
mod family;
mod format;
mod genai;
mod histogram;
mod layer;
mod recorder;
mod sample;
mod summary;
mod text;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use aureus::AureusMetrics;
pub use contract::{DurationUnit, MetricNames, DEFAULT_DURATION_BUCKETS_MS, MISSING_LABEL_VALUE, OVERFLOW_LABEL_VALUE};
pub use facade::{GlobalRecorder, DEFAULT_HISTOGRAM_BUCKETS, MAX_FACADE_METRICS};
pub use format::ExpositionFormat;
pub use layer::MetricsLayer;
pub use summary::{Summary, SummaryEvent, SummaryWindow, TaskTypeFigures};

pub use histogram::DEFAULT_BUCKETS;
pub use recorder::{ExpositionBuilder, ExpositionRecorder};

pub(crate) use contract::{check_global_label, genai_attribute_key, is_valid_prefix, label, EXPORT_DURATION_BUCKETS_S};
pub(crate) use exporter::PrometheusExporter;
pub(crate) use facade::{FacadeRecorder, FacadeSettings};
pub(crate) use genai::GenAiMetrics;
pub(crate) use sample::MetricSample;

use crate::event::{fields, EventKind};
use crate::pipeline::Pipeline;
use crate::record::Record;
use crate::sinks::{SinkHealth, PROMETHEUS_SINK};

/// Everything the metrics side keeps: the Aureus metrics, the exporter and the summary window.
pub(crate) struct MetricsState {
    pub(crate) aureus: Arc<AureusMetrics>,
    pub(crate) exporter: PrometheusExporter,
    pub(crate) summary: SummaryWindow,
    /// The recorder behind the Aureus metrics (Prometheus, or Prometheus and
    /// OTLP mirrored).
    pub(crate) recorder: Arc<dyn ::metrics::Recorder + Send + Sync>,
    /// Switched by the sink manager (sink `prometheus`).
    pub(crate) enabled: AtomicBool,
    pub(crate) observed: AtomicU64,
    /// What the `metrics` facade records into, when it is on.
    pub(crate) facade: std::sync::OnceLock<Arc<FacadeRecorder>>,
    /// Whether the facade's global recorder forwards to `facade`.
    pub(crate) global: AtomicBool,
    /// The GenAI client metrics and the cost counter, fed by `llm_response`.
    pub(crate) genai: std::sync::OnceLock<GenAiMetrics>,
}

impl MetricsState {
    pub(crate) fn new(
        aureus: Arc<AureusMetrics>,
        exporter: PrometheusExporter,
        summary: SummaryWindow,
        recorder: Arc<dyn ::metrics::Recorder + Send + Sync>,
    ) -> Self {
        MetricsState {
            aureus,
            exporter,
            summary,
            recorder,
            enabled: AtomicBool::new(true),
            observed: AtomicU64::new(0),
            facade: std::sync::OnceLock::new(),
            global: AtomicBool::new(false),
            genai: std::sync::OnceLock::new(),
        }
    }

    /// The metrics as a pseudo-sink in the sink manager's list.
    pub(crate) fn health(&self) -> SinkHealth {
        let observed = self.observed.load(Ordering::Relaxed);
        SinkHealth {
            name: PROMETHEUS_SINK.to_owned(),
            kind: "prometheus".to_owned(),
            enabled: self.enabled.load(Ordering::Relaxed),
            queue_depth: 0,
            queue_capacity: 0,
            queue_bytes: 0,
            queue_max_bytes: 0,
            accepted: observed,
            delivered: observed,
            failed: 0,
            dropped_queue_full: 0,
            dropped_closed: 0,
            dropped_circuit_open: 0,
            panics: 0,
            circuit_open: false,
            busy_for: None,
            last_error: None,
            file: None,
        }
    }

    /// Feeds one Aureus event record to the metrics and the summary window.
    pub(crate) fn observe(&self, record: &Record) {
        if let Some(sample) = MetricSample::from_record(record) {
            self.observed.fetch_add(1, Ordering::Relaxed);
            // Every histogram observation of this event (the contract's and
            // the GenAI ones) takes its exemplar from the record.
            exemplar::with_record(record, || {
                self.aureus.observe(&sample);
                if sample.kind == EventKind::LlmResponse {
                    if let Some(genai) = self.genai.get() {
                        genai.observe(record);
                    }
                }
            });
            self.summary.record_at(summary_event(record, &sample), record.timestamp);
        }
    }
}

fn summary_event<'a>(record: &'a Record, sample: &MetricSample<'a>) -> SummaryEvent<'a> {
    match sample.kind {
        EventKind::StepEnd => SummaryEvent::StepEnd {
            workflow_id: record.str_field(fields::WORKFLOW_ID).unwrap_or(""),
            task_id: record.str_field(fields::TASK_ID).unwrap_or(""),
            task_type: sample.label.unwrap_or(MISSING_LABEL_VALUE),
            success: sample.first,
            duration_ms: sample.number.unwrap_or(0.0),
        },
        EventKind::PolicyCheck => SummaryEvent::PolicyCheck {
            allowed: sample.first,
            requires_human_approval: sample.second,
        },
        EventKind::CrvResult => SummaryEvent::CrvResult { blocked: sample.second },
        EventKind::Rollback => SummaryEvent::Rollback,
        EventKind::LlmResponse => match record.field(fields::COST_USD).and_then(|v| v.as_f64()) {
            Some(cost_usd) if cost_usd.is_finite() && cost_usd >= 0.0 => SummaryEvent::LlmCost { cost_usd },
            _ => SummaryEvent::Other,
        },
        _ => SummaryEvent::Other,
    }
}

/// A cheap, cloneable handle on the running stack's metrics: render the
/// Prometheus exposition, read the summary figures.
#[derive(Clone)]
pub struct MetricsHandle {
    state: Arc<MetricsState>,
    pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    pub(crate) fn new(state: Arc<MetricsState>, pipeline: Arc<Pipeline>) -> Self {
        MetricsHandle { state, pipeline }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric,
    /// self-metrics refreshed.
    pub fn render(&self) -> String {
        self.render_as(ExpositionFormat::Text)
    }

    /// The exposition of every metric in `format`, self-metrics refreshed:
    /// what `/metrics` serves for the format the scraper's `Accept` header
    /// asks for ([`ExpositionFormat::from_accept`]). OpenMetrics carries the
    /// histograms' exemplars and ends with `# EOF`; see
    /// [`ExpositionRecorder::render_openmetrics`].
    pub fn render_as(&self, format: ExpositionFormat) -> String {
        let sinks = crate::telemetry::health_of(&self.pipeline);
        let mut text = String::new();
        self.state
            .exporter
            .render_into(format, &sinks, &self.pipeline.sampler.sampled_out(), &mut text);
        if let Some(facade) = self.state.facade.get() {
            facade.render_into(format, &mut text);
        }
        if format == ExpositionFormat::OpenMetrics {
            text.push_str("# EOF\n");
        }
        text
    }

    /// Nothing to do any more: each histogram observation is counted into
    /// its bucket as it is recorded. Kept so that callers still compile.
    pub fn run_upkeep(&self) {}

    /// Whether the `metrics` facade's global recorder records into these
    /// metrics (see `metrics.global_recorder`).
    pub fn is_global_recorder(&self) -> bool {
        self.state.global.load(Ordering::Relaxed)
    }

    /// Makes these metrics the facade's global recorder, per the policy.
    pub(crate) fn install_global(&self, policy: GlobalRecorder) -> crate::Result<()> {
        if let Some(facade) = self.state.facade.get() {
            let installed = facade::install(facade, policy)?;
            self.state.global.store(installed, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Stops the facade's global recorder from recording into these metrics.
    pub(crate) fn release_global(&self) {
        if let Some(facade) = self.state.facade.get() {
            facade::uninstall(facade);
            self.state.global.store(false, Ordering::Relaxed);
        }
    }

    /// Summary figures over the last `window`, optionally for one task type.
    pub fn summary(&self, window: Duration, task_type: Option<&str>) -> Summary {
        self.state.summary.summary(window, task_type)
    }

    /// The recorder behind the Aureus metrics — `/metrics`, mirrored to OTLP
    /// when that is on (for the alert gauges).
    pub(crate) fn recorder(&self) -> Arc<dyn ::metrics::Recorder + Send + Sync> {
        Arc::clone(&self.state.recorder)
    }

    /// The Aureus metrics (names in use).
    pub fn aureus(&self) -> &AureusMetrics {
        &self.state.aureus
    }
}
