//! [`AureusLayer`]: the whole stack as one `tracing_subscriber` layer with
//! its own (per-layer) filter, to compose next to a service's own layers.

use std::any::TypeId;
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Layer, Layered};
use tracing_subscriber::registry::LookupSpan;

use super::Emitter;
use crate::correlation::CorrelationLayer;
use crate::otlp::{SpanExport, Tracer};
use crate::pipeline::{AureusFilter, LogLevels, Pipeline, PipelineLayer};

/// The OpenTelemetry span layer, when traces are exported.
type Spans<S> = Option<SpanExport<tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>>>;

/// Correlation first (the others read the id it stores), then OTLP spans,
/// then the pipeline (records → metrics, sinks, store, OTLP logs).
type Stack<S> = Layered<PipelineLayer, Layered<Spans<S>, CorrelationLayer, S>, S>;

/// Everything this crate does, as one [`Layer`]: correlation ids on spans
/// and events, metrics from Aureus events, records fanned out to the sinks
/// and the event store, OTLP spans and logs. Built by [`crate::layer`]
/// together with the [`Telemetry`](crate::Telemetry) handle that runs and
/// stops the rest (exporters, HTTP listener, alerts).
///
/// Its level filter ([`AureusFilter`], `log_level` in the configuration,
/// changeable with [`Telemetry::set_log_level`](crate::Telemetry::set_log_level))
/// is a *per-layer* filter: it decides what this layer sees and nothing
/// else. The service's own layers see what their own filters allow —
/// attach those with [`Layer::with_filter`] rather than adding a global
/// filter, which would also decide for this layer (a global `warn` filter
/// would hide the `info` Aureus events the metrics count, and the
/// correlation spans).
///
/// Next to the service's own tracing-opentelemetry layer, turn our span
/// export off (`config.otlp.traces.enabled = false`): both layers would store
/// their span data under the same type in each span's extensions, and
/// tracing-opentelemetry panics on the second. The service's layer then
/// exports the spans, and our OTLP log records carry its trace and span ids.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let config = aureus_observability::Config::builder().no_server().no_sinks().build()?;
/// let (layer, telemetry) = aureus_observability::layer(config)?;
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::WARN))
///     .with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "fs.read");
/// });
/// telemetry.shutdown(std::time::Duration::from_secs(1));
/// # Ok::<(), aureus_observability::Error>(())
/// ```
pub struct AureusLayer<S> {
    inner: Filtered<Stack<S>, AureusFilter, S>,
    emitter: Emitter,
    pipeline: Arc<Pipeline>,
}

impl<S> std::fmt::Debug for AureusLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AureusLayer")
            .field("log_level", &self.pipeline.levels.text())
            .finish_non_exhaustive()
    }
}

impl<S> AureusLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        levels: Arc<LogLevels>,
        keep_aureus_events: bool,
        tracer: Option<Tracer>,
        emitter: Emitter,
    ) -> Self {
        let stack = CorrelationLayer::new()
            .and_then(tracer.map(crate::otlp::span_layer::<S>))
            .and_then(PipelineLayer::new(Arc::clone(&pipeline)));
        AureusLayer {
            inner: stack.with_filter(AureusFilter::new(levels, keep_aureus_events)),
            emitter,
            pipeline,
        }
    }
}

impl<S> Layer<S> for AureusLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.emitter.register(subscriber);
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    // SAFETY: answers for itself, else forwards to the filtered stack, which
    // upholds the contract (the registry finds the per-layer filter's marker
    // this way, tracing-opentelemetry its context accessor).
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the same contract, one layer down.
        unsafe { self.inner.downcast_raw(id) }
    }
}
