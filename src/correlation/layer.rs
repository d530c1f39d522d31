//! [`CorrelationLayer`]: gives every span its correlation id.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::id::CorrelationId;
use super::resolve::{count_invalid, resolve_for, SpanCorrelation};
use crate::event::fields::CORRELATION_ID;

/// A [`Layer`] that stores on every new span the correlation id it carries
/// (span field `correlation_id`) or inherits (from its parent span, or from
/// the scope it was created in). Invalid ids are rejected and counted, never
/// stored; the span then inherits as if it had none.
///
/// [`crate::init`] installs it; add it yourself when composing a subscriber
/// by hand:
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use aureus_observability::correlation::{self, CorrelationLayer};
///
/// let subscriber = tracing_subscriber::registry().with(CorrelationLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("workflow", correlation_id = "wf-1");
///     let _entered = span.enter();
///     let child = tracing::info_span!("step");
///     let _entered = child.enter();
///     assert_eq!(correlation::current().unwrap().as_str(), "wf-1");
/// });
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CorrelationLayer {
    _private: (),
}

impl CorrelationLayer {
    /// A new layer.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Finds the `correlation_id` field's value among a span's fields.
#[derive(Default)]
struct IdVisitor {
    raw: Option<String>,
}

impl Visit for IdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == CORRELATION_ID {
            self.raw = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == CORRELATION_ID {
            self.raw = Some(format!("{value:?}"));
        }
    }
}

fn explicit_id(raw: Option<String>) -> Option<CorrelationId> {
    let raw = raw?;
    match CorrelationId::new(&raw) {
        Ok(id) => Some(id),
        Err(_) => {
            count_invalid();
            None
        }
    }
}

/// Whether span callbacks leave the span's correlation id for the OTLP span
/// processor (on only while OTLP traces are exported).
static HINTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// The correlation id of the span whose callback runs on this thread.
    static HINT: std::cell::RefCell<Option<CorrelationId>> = const { std::cell::RefCell::new(None) };
}

/// Turns the hints for [`span_hint`] on.
pub(crate) fn enable_span_hints() {
    HINTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The correlation id of the span being created, entered or closed on this
/// thread right now: the OpenTelemetry layer, which runs after
/// [`CorrelationLayer`] in the same callback, starts its spans there (a new
/// span's explicit parent is started in the child's callback; the child
/// inherits the parent's id unless it names its own). The OpenTelemetry
/// layer's wrapper clears it when its callback returns ([`clear_span_hint`]),
/// so a hint never outlives its callback. Layers after [`CorrelationLayer`] (the OpenTelemetry
/// layer, which starts its spans in these callbacks) read it.
pub(crate) fn span_hint() -> Option<CorrelationId> {
    HINT.try_with(|hint| hint.borrow().clone()).ok().flatten()
}

/// Ends the current callback's hint.
pub(crate) fn clear_span_hint() {
    let _ = HINT.try_with(|hint| hint.borrow_mut().take());
}

fn leave_id(found: Option<&CorrelationId>) {
    if HINTS.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = HINT.try_with(|hint| *hint.borrow_mut() = found.cloned());
    }
}

fn leave_hint<S>(span: Option<tracing_subscriber::registry::SpanRef<'_, S>>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !HINTS.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let found = span.and_then(|span| span.extensions().get::<SpanCorrelation>().map(|c| c.0.clone()));
    leave_id(found.as_ref());
}

impl<S> Layer<S> for CorrelationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut explicit = None;
        if attrs.metadata().fields().field(CORRELATION_ID).is_some() {
            let mut visitor = IdVisitor::default();
            attrs.record(&mut visitor);
            explicit = explicit_id(visitor.raw);
        }
        let found = explicit.or_else(|| resolve_for(span.parent(), false));
        leave_id(found.as_ref());
        if let Some(found) = found {
            span.extensions_mut().insert(SpanCorrelation(found));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        leave_hint(ctx.span(id));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        leave_hint(ctx.span(&id));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut visitor = IdVisitor::default();
        values.record(&mut visitor);
        if let (Some(found), Some(span)) = (explicit_id(visitor.raw), ctx.span(id)) {
            span.extensions_mut().replace(SpanCorrelation(found));
        }
    }
}
