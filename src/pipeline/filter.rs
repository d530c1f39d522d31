//! [`AureusFilter`]: the level filter of our layer, changeable at run time,
//! with correlation spans (and, for metrics, Aureus events) always kept.
//!
//! The directives live in a [`LogLevels`]: an [`EnvFilter`] behind an
//! [`ArcSwap`], so reading them on every event costs one lock-free load (no
//! `RwLock` as in `tracing_subscriber::reload`), and changing them is a swap
//! followed by [`tracing_core::callsite::rebuild_interest_cache`], so that
//! callsites whose cached `Interest` was decided under the old directives ask
//! again.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};
use crate::event::fields::{CORRELATION_ID, EVENT_TYPE};
use crate::event::is_aureus_target;
use crate::stack::Emitter;

/// Target of audit events (who changed a log level, …): always recorded by
/// our layer, whatever the level filter says.
pub const AUDIT_TARGET: &str = "aureus::audit";

/// One version of the directives.
#[derive(Debug)]
pub(crate) struct Directives {
    pub(crate) env: EnvFilter,
    /// The text they were parsed from, as given.
    pub(crate) text: String,
    /// Whether they have span or field directives (`target[span{f=v}]=…`):
    /// only then does the filter need to follow spans being entered and left.
    pub(crate) span_scoped: bool,
}

impl Directives {
    /// Parses `text` (`EnvFilter` syntax), naming `key` in the error.
    pub(crate) fn parse(key: &str, text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::config(
                key,
                text,
                "empty level filter; use e.g. \"info\", \"info,aureus::planner=debug\" or \"off\"",
            ));
        }
        // Trimmed directives: tracing-subscriber 0.3 panics on a directive
        // with leading whitespace and multi-byte text (tokio-rs/tracing#2452).
        let text = &crate::config::normalize_filter(text);
        let env =
            EnvFilter::try_new(text).map_err(|err| Error::config(key, text, format!("invalid level filter: {err}")))?;
        let span_scoped = text.contains('[');
        Ok(Directives {
            env,
            text: text.to_owned(),
            span_scoped,
        })
    }
}

/// The level filter's current directives, shared by our layer's filter, the
/// pipeline and [`crate::Telemetry::set_log_level`].
#[derive(Debug)]
pub(crate) struct LogLevels {
    current: ArcSwap<Directives>,
    /// Serialises changes (a swap and the interest rebuild that follows).
    changes: std::sync::Mutex<()>,
    /// The subscriber our layer lives in, to rebuild interest from.
    emitter: Emitter,
}

impl LogLevels {
    pub(crate) fn new(directives: Directives, emitter: Emitter) -> Self {
        LogLevels {
            current: ArcSwap::from_pointee(directives),
            changes: std::sync::Mutex::new(()),
            emitter,
        }
    }

    /// The directives in force, as text.
    pub(crate) fn text(&self) -> String {
        self.current.load().text.clone()
    }

    /// Validates `text` and, only if it is valid, makes it the filter for
    /// every event and span from now on. Returns the previous directives.
    pub(crate) fn set(&self, text: &str) -> Result<String> {
        let next = Directives::parse("log_level", text)?;
        let _one_at_a_time = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let previous = self.current.swap(Arc::new(next));
        // Callsites cache the Interest our filter gave them: ask them again.
        // With our subscriber as this thread's default: while it is the only
        // live dispatcher, tracing-core asks only the *current default*
        // (this thread's), which here may be none at all — every callsite
        // would then be cached as `never`, for every thread.
        self.emitter.emit(tracing_core::callsite::rebuild_interest_cache);
        Ok(previous.text.clone())
    }

    /// Whether the directives in force enable `metadata` here.
    #[inline]
    pub(crate) fn enabled<S>(&self, metadata: &Metadata<'_>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        Filter::<S>::enabled(&self.current.load().env, metadata, ctx)
    }
}

/// Our layer's per-layer filter: the level directives in force (e.g.
/// `info,aureus=debug`, changed with [`crate::Telemetry::set_log_level`]), except that spans carrying a `correlation_id` field
/// are always kept, whatever their level, so that filtering verbosity never
/// breaks correlation; audit events ([`AUDIT_TARGET`]) are always kept; and,
/// when metrics are on, every Aureus event is kept, so metrics count them
/// all (the pipeline applies the level filter again before handing such
/// events to sinks).
///
/// It applies to our layer only: the other layers of the subscriber see what
/// their own filters allow.
#[derive(Debug)]
pub struct AureusFilter {
    levels: Arc<LogLevels>,
    keep_aureus_events: bool,
}

impl AureusFilter {
    pub(crate) fn new(levels: Arc<LogLevels>, keep_aureus_events: bool) -> Self {
        AureusFilter {
            levels,
            keep_aureus_events,
        }
    }

    #[inline]
    fn always_kept(&self, metadata: &Metadata<'_>) -> bool {
        is_correlation_span(metadata)
            || (metadata.is_event()
                && ((self.keep_aureus_events && is_aureus_event(metadata)) || metadata.target() == AUDIT_TARGET))
    }
}

fn is_correlation_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.fields().field(CORRELATION_ID).is_some()
}

/// Whether a callsite is an Aureus event: target `aureus[::…]` with an `event_type` field.
pub(crate) fn is_aureus_event(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && is_aureus_target(metadata.target()) && metadata.fields().field(EVENT_TYPE).is_some()
}

impl<S> Filter<S> for AureusFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.always_kept(metadata) {
            return Interest::always();
        }
        Filter::<S>::callsite_enabled(&self.levels.current.load().env, metadata)
    }

    #[inline]
    fn enabled(&self, metadata: &Metadata<'_>, ctx: &Context<'_, S>) -> bool {
        self.always_kept(metadata) || self.levels.enabled(metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // Correlation spans may be at any level, and the level may be raised
        // at run time.
        None
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let current = self.levels.current.load();
        if current.span_scoped {
            Filter::<S>::on_new_span(&current.env, attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        let current = self.levels.current.load();
        if current.span_scoped {
            Filter::<S>::on_record(&current.env, id, values, ctx);
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let current = self.levels.current.load();
        if current.span_scoped {
            Filter::<S>::on_enter(&current.env, id, ctx);
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let current = self.levels.current.load();
        if current.span_scoped {
            Filter::<S>::on_exit(&current.env, id, ctx);
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let current = self.levels.current.load();
        if current.span_scoped {
            Filter::<S>::on_close(&current.env, id, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_directives_are_typed_errors_and_change_nothing() {
        let levels = LogLevels::new(Directives::parse("log_level", "info").unwrap(), Emitter::default());
        for bad in ["", "  ", "info,aureus=loud", "[{", "aureus::planner=debug=trace"] {
            let err = levels.set(bad).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidConfig { key, .. } if key == "log_level"),
                "{bad:?}: {err}"
            );
            assert_eq!(levels.text(), "info");
        }
        assert_eq!(levels.set("info,aureus::planner=debug").unwrap(), "info");
        assert_eq!(levels.text(), "info,aureus::planner=debug");
    }
}
