//! Building the stack from a [`Config`]: the exporters, the metrics, the
//! sinks and the store, the monitoring state and the HTTP listener — and the
//! [`AureusLayer`] that feeds them, which [`crate::layer`] hands to the
//! service to compose into its own subscriber ([`crate::init`] and
//! [`crate::build`] compose it into a bare registry).

mod emitter;
mod layer;
mod start;

pub use layer::AureusLayer;

pub(crate) use emitter::Emitter;

use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::error::Result;
use crate::telemetry::Telemetry;

/// See [`crate::layer`].
pub(crate) fn layer<S>(config: Config) -> Result<(AureusLayer<S>, Telemetry)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let started = start::start(config)?;
    let layer = AureusLayer::new(
        started.pipeline,
        started.levels,
        started.keep_aureus_events,
        started.tracer,
        started.emitter,
    );
    Ok((layer, started.telemetry))
}
