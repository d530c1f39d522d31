//! [`AureusFilter`]: the level filter, with correlation spans always kept.

use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::event::fields::CORRELATION_ID;

/// A global filter: an [`EnvFilter`] (e.g. `info,aureus=debug`) that also
/// always keeps spans carrying a `correlation_id` field, whatever their
/// level, so that filtering verbosity never breaks correlation.
#[derive(Debug)]
pub struct AureusFilter {
    env: EnvFilter,
}

impl AureusFilter {
    /// Wraps `env`.
    pub fn new(env: EnvFilter) -> Self {
        AureusFilter { env }
    }
}

fn is_correlation_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.fields().field(CORRELATION_ID).is_some()
}

impl<S> Layer<S> for AureusFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_correlation_span(metadata) {
            return Interest::always();
        }
        Layer::<S>::register_callsite(&self.env, metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        is_correlation_span(metadata) || Layer::<S>::enabled(&self.env, metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // Correlation spans may be at any level.
        None
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        self.env.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        self.env.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        self.env.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        self.env.on_exit(id, ctx);
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        self.env.on_close(id, ctx);
    }
}
