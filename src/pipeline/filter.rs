//! [`AureusFilter`]: the level filter, with correlation spans always kept.

use std::sync::Arc;

use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::event::fields::{CORRELATION_ID, EVENT_TYPE};
use crate::event::is_aureus_target;

/// A global filter: an [`EnvFilter`] (e.g. `info,aureus=debug`) that also
/// always keeps spans carrying a `correlation_id` field, whatever their
/// level, so that filtering verbosity never breaks correlation — and, when
/// metrics are on, every Aureus event, so metrics count them all (the
/// pipeline still applies the filter before handing them to sinks).
#[derive(Debug)]
pub struct AureusFilter {
    env: Arc<EnvFilter>,
    keep_aureus_events: bool,
    /// Whether the filter has span or field directives (`target[span{f=v}]=…`):
    /// only then does it need to follow spans being entered and left.
    span_scoped: bool,
}

impl AureusFilter {
    /// Wraps `env`; with `keep_aureus_events`, Aureus events pass whatever their level.
    pub fn new(env: Arc<EnvFilter>, keep_aureus_events: bool) -> Self {
        let span_scoped = env.to_string().contains('[');
        AureusFilter {
            env,
            keep_aureus_events,
            span_scoped,
        }
    }

    fn always_kept(&self, metadata: &Metadata<'_>) -> bool {
        is_correlation_span(metadata) || (self.keep_aureus_events && is_aureus_event(metadata))
    }
}

fn is_correlation_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.fields().field(CORRELATION_ID).is_some()
}

/// Whether a callsite is an Aureus event: target `aureus[::…]` with an `event_type` field.
pub(crate) fn is_aureus_event(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && is_aureus_target(metadata.target()) && metadata.fields().field(EVENT_TYPE).is_some()
}

impl<S> Layer<S> for AureusFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        let env = Layer::<S>::register_callsite(&*self.env, metadata);
        if self.always_kept(metadata) {
            return Interest::always();
        }
        env
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.always_kept(metadata) || Layer::<S>::enabled(&*self.env, metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // Correlation spans may be at any level.
        None
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if self.span_scoped {
            self.env.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if self.span_scoped {
            self.env.on_record(id, values, ctx);
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if self.span_scoped {
            self.env.on_enter(id, ctx);
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if self.span_scoped {
            self.env.on_exit(id, ctx);
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if self.span_scoped {
            self.env.on_close(id, ctx);
        }
    }
}
