//! The span layer: tracing-opentelemetry behind a thin wrapper that keeps
//! the export machinery's own spans and events out, and passes on only
//! Aureus events (as span events).

/// The span layer: tracing-opentelemetry, seeing every span but only Aureus
/// events (as span events), and nothing from the export machinery or from
/// exporter threads.
pub(crate) fn span_layer<S>(
    tracer: super::Tracer,
) -> SpanExport<tracing_opentelemetry::OpenTelemetryLayer<S, super::Tracer>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    crate::correlation::enable_span_hints();
    SpanExport {
        inner: tracing_opentelemetry::layer()
            .with_tracer(tracer)
            // busy_ns / idle_ns cost two clock reads per enter and exit, and
            // the thread attributes an allocation per span: left out for speed.
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_error_events_to_status(false)
            .with_error_events_to_exceptions(false),
    }
}

/// Passes spans and Aureus events to the OpenTelemetry layer, except those
/// of the export machinery or from exporter threads. A plain wrapper rather
/// than a per-layer filter: the filter's bookkeeping on every span callback
/// cost more than the check itself.
pub(crate) struct SpanExport<L> {
    inner: L,
}

fn wanted_span(metadata: &tracing::Metadata<'_>) -> bool {
    !super::internal::is_exporter_target(metadata.target()) && !crate::pipeline::is_worker_thread()
}

fn wanted_event(metadata: &tracing::Metadata<'_>) -> bool {
    crate::event::is_aureus_target(metadata.target()) && !crate::pipeline::is_worker_thread()
}

impl<S, L> tracing_subscriber::Layer<S> for SpanExport<L>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    L: tracing_subscriber::Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Ctx<'_, S>) {
        if wanted_span(attrs.metadata()) {
            self.inner.on_new_span(attrs, id, ctx);
        }
        crate::correlation::clear_span_hint();
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Ctx<'_, S>) {
        self.inner.on_record(id, values, ctx);
    }

    fn on_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id, ctx: Ctx<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Ctx<'_, S>) {
        if wanted_event(event.metadata()) {
            self.inner.on_event(event, ctx);
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Ctx<'_, S>) {
        self.inner.on_enter(id, ctx);
        crate::correlation::clear_span_hint();
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Ctx<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Ctx<'_, S>) {
        self.inner.on_close(id, ctx);
        crate::correlation::clear_span_hint();
    }

    fn on_id_change(&self, old: &tracing::span::Id, new: &tracing::span::Id, ctx: Ctx<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    // SAFETY: forwards to the wrapped layer, which upholds the contract
    // (tracing-opentelemetry finds its `WithContext` this way).
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the same contract, one layer down.
        unsafe { self.inner.downcast_raw(id) }
    }
}

type Ctx<'a, S> = tracing_subscriber::layer::Context<'a, S>;
