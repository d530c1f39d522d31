//! [`PipelineLayer`]: events → shared records → every sink's queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::filter::{is_aureus_event, LogLevels, AUDIT_TARGET};
use super::pool::RecordPool;
use super::queue::SinkHandle;
use super::redact::{Redactor, REDACTED};
use super::sampling::Sampler;
use super::worker_thread;
use crate::correlation::{count_invalid, visit_resolved, CorrelationId};
use crate::metrics::MetricsState;
use crate::record::{Record, RecordVisitor, Value};

/// State shared by the layer and the [`Telemetry`](crate::Telemetry) handle.
pub(crate) struct Pipeline {
    pub(crate) sinks: ArcSwap<Vec<Arc<SinkHandle>>>,
    pub(crate) pool: Arc<RecordPool>,
    pub(crate) max_field_bytes: usize,
    /// Events recorded on sink worker threads, deliberately not fed back.
    pub(crate) suppressed: AtomicU64,
    /// Metrics fed by every Aureus event, when enabled.
    pub(crate) metrics: Option<Arc<MetricsState>>,
    /// The level filter, re-applied to Aureus events that passed only for metrics.
    pub(crate) levels: Arc<LogLevels>,
    /// Serialises sink additions and removals.
    pub(crate) changes: std::sync::Mutex<()>,
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) sampler: Sampler,
    /// Copy OpenTelemetry trace ids into records and set span status (OTLP traces on).
    annotate_spans: std::sync::atomic::AtomicBool,
    /// `[genai]`: content capture and the price table (set once at start).
    pub(crate) genai: std::sync::OnceLock<crate::config::ValidatedGenAi>,
}

impl Pipeline {
    pub(crate) fn new(
        sinks: Vec<Arc<SinkHandle>>,
        pool: Arc<RecordPool>,
        max_field_bytes: usize,
        metrics: Option<Arc<MetricsState>>,
        levels: Arc<LogLevels>,
        (redactor, sampler): (Arc<Redactor>, Sampler),
    ) -> Self {
        for sink in &sinks {
            sink.stats.redact_errors_with(Arc::clone(&redactor));
        }
        Pipeline {
            sinks: ArcSwap::from_pointee(sinks),
            pool,
            max_field_bytes,
            suppressed: AtomicU64::new(0),
            metrics,
            levels,
            changes: std::sync::Mutex::new(()),
            redactor,
            sampler,
            annotate_spans: std::sync::atomic::AtomicBool::new(false),
            genai: std::sync::OnceLock::new(),
        }
    }

    /// Turns trace-id capture and span-status marking on or off.
    pub(crate) fn set_annotate_spans(&self, on: bool) {
        self.annotate_spans.store(on, Ordering::Relaxed);
    }
}

/// The [`Layer`] that captures each event once into a [`Record`] and hands it
/// to every sink. Part of the layer [`crate::layer`] returns.
pub struct PipelineLayer {
    pipeline: Arc<Pipeline>,
}

impl PipelineLayer {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        PipelineLayer { pipeline }
    }
}

impl std::fmt::Debug for PipelineLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.pipeline.sinks.load().iter().map(|s| Arc::clone(&s.name)).collect();
        f.debug_struct("PipelineLayer").field("sinks", &names).finish()
    }
}

impl<S> Layer<S> for PipelineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if worker_thread::is_current() {
            self.pipeline.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let metadata = event.metadata();
        let level = *metadata.level();
        // Aureus events reach us whatever the level when metrics are on;
        // sinks only get them if the level filter says so.
        let for_metrics = self
            .pipeline
            .metrics
            .as_ref()
            .filter(|m| m.enabled.load(Ordering::Relaxed) && is_aureus_event(metadata));
        let filter_passed =
            for_metrics.is_none() || metadata.target() == AUDIT_TARGET || self.pipeline.levels.enabled(metadata, &ctx);
        let sinks = self.pipeline.sinks.load();
        let mut for_sinks = filter_passed && sinks.iter().any(|sink| sink.accepts(level));
        if for_metrics.is_none() && !for_sinks {
            return;
        }
        let record = capture(event, &ctx, &self.pipeline);
        if let Some(metrics) = for_metrics {
            metrics.observe(&record);
        }
        if for_sinks && self.pipeline.sampler.is_active() {
            for_sinks = self.pipeline.sampler.keep(&record);
        }
        if for_sinks {
            for sink in sinks.iter() {
                if sink.accepts(level) {
                    sink.offer(&record);
                }
            }
        }
        self.pipeline.pool.recycle(record);
    }
}

/// Visits `event` once into a record (recycled when possible), with its span
/// and correlation id.
pub(crate) fn capture<S>(event: &Event<'_>, ctx: &Context<'_, S>, pipeline: &Pipeline) -> Arc<Record>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let metadata = event.metadata();
    // Room for typical field text up front: one allocation, no regrowth.
    let text_estimate = 32 + metadata.fields().len() * 24;
    pipeline
        .pool
        .build(*metadata.level(), metadata.target(), text_estimate, |record| {
            fill(record, event, ctx, pipeline)
        })
}

fn fill<S>(record: &mut Record, event: &Event<'_>, ctx: &Context<'_, S>, pipeline: &Pipeline)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let mut visitor = RecordVisitor {
        record,
        max_field_bytes: pipeline.max_field_bytes,
        redactor: &pipeline.redactor,
        explicit_correlation: None,
    };
    event.record(&mut visitor);
    let explicit = visitor.explicit_correlation.take();
    let leaf = ctx.event_span(event);
    if let Some(span) = &leaf {
        record.span_id = Some(span.id().into_u64());
        record.span_name = Some(span.name());
    }
    let explicit = explicit.and_then(|raw| match CorrelationId::new(&raw) {
        Ok(id) => Some(id),
        Err(_) => {
            count_invalid();
            record.push_field("correlation_id_rejected", Value::Bool(true));
            None
        }
    });
    // A correlation id the redaction configuration hides goes nowhere; the
    // record says it was redacted.
    let mut hidden = false;
    let mut set = |record: &mut Record, id: &CorrelationId| {
        if pipeline.redactor.hides_correlation_id(id.as_str()) {
            hidden = true;
        } else {
            record.set_correlation_id(id);
        }
    };
    match explicit {
        Some(id) => set(record, &id),
        None => visit_resolved(leaf, true, |id| set(record, id)),
    }
    if hidden {
        record.push_field(crate::event::fields::CORRELATION_ID, Value::Str(REDACTED));
    }
    if let Some(genai) = pipeline.genai.get().filter(|g| super::genai::applies(record.kind, g)) {
        super::genai::apply(record, genai);
    }
    if pipeline.annotate_spans.load(Ordering::Relaxed) {
        crate::otlp::traces::annotate(record);
    }
}
