//! # aureus-observability
//!
//! Production telemetry for the Aureus agentic-OS kernel, built on the
//! [`tracing`] ecosystem. Kernel code writes ordinary `tracing` events and
//! spans — or uses the typed helpers in [`event`] — and this crate:
//!
//! * gives every span and event a validated [`CorrelationId`] that follows the
//!   work across `.await`, `tokio::spawn`, `spawn_blocking` and threads
//!   ([`correlation`]);
//! * captures each event **once** into a shared [`Record`] and fans it out to
//!   sinks, each behind its own bounded queue and worker thread
//!   ([`pipeline`]), so the instrumented code never waits on I/O;
//! * ships a console sink (pretty / compact / JSON) and a rotating JSON-lines
//!   file sink (size and time rotation, retention, gzip) ([`sinks`]), and
//!   accepts your own [`Sink`]s;
//! * exports spans, log records and the metrics over OTLP (gRPC, HTTP/protobuf,
//!   HTTP/JSON) to an OpenTelemetry collector ([`otlp`], off by default; set
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`), and carries trace context and correlation
//!   id across services in W3C headers ([`propagation`]);
//! * counts every record delivered, dropped or failed, and reports them at
//!   [`Telemetry::shutdown`].
//!
//! ## In a kernel's `main`
//!
//! ```no_run
//! use std::time::Duration;
//!
//! fn main() -> Result<(), aureus_observability::Error> {
//!     // Defaults, then the TOML file in AUREUS_CONFIG, then AUREUS_* / RUST_LOG / OTEL_* variables.
//!     let config = aureus_observability::Config::from_env()?;
//!     let telemetry = aureus_observability::init(config)?;
//!
//!     // … run the kernel …
//!
//!     let report = telemetry.shutdown(Duration::from_secs(5));
//!     eprintln!("{report}");
//!     Ok(())
//! }
//! ```
//!
//! ## In instrumented kernel code
//!
//! ```
//! use aureus_observability::event::{StepEnd, StepStart};
//!
//! fn run_step(workflow_id: &str) {
//!     let span = tracing::info_span!("workflow", correlation_id = workflow_id);
//!     let _entered = span.enter();
//!     StepStart { workflow_id, task_id: "t1", task_type: "action", attempt: 1, risk_tier: "low" }.emit();
//!     // Hand-written events are handled exactly like the helpers':
//!     tracing::info!(target: "aureus", event_type = "step_end", workflow_id, task_id = "t1",
//!                    task_type = "action", success = true, duration_ms = 12u64);
//! }
//! # run_step("wf-1");
//! ```
//!
//! ## Next to the service's own `tracing` setup
//!
//! A service that already composes its own subscriber adds ours as one more
//! layer ([`layer`]); our level filter applies to our layer only, so its own
//! layers keep seeing exactly what their own filters allow:
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), aureus_observability::Error> {
//! let (layer, telemetry) = aureus_observability::layer(aureus_observability::Config::from_env()?)?;
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::new("warn")))
//!     .with(layer)
//!     .init();
//! telemetry.set_log_level("info,aureus::planner=debug")?; // at run time, without a restart
//! # Ok(()) }
//! ```
//!
//! [`build`] returns a bare registry with that layer as a
//! [`tracing::Dispatch`] without installing it (handy in tests:
//! `tracing::dispatcher::with_default`); [`init`] installs it.

#![warn(missing_docs)]

pub mod alerts;
pub mod config;
pub mod correlation;
mod dashboard;
mod error;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod otlp;
mod percent;
pub mod pipeline;
pub mod propagation;
mod record;
mod server;
pub mod sinks;
mod stack;
pub mod store;
mod telemetry;

use tracing_subscriber::layer::SubscriberExt;

pub use config::Config;
pub use correlation::CorrelationId;
pub use error::{Error, Result};
pub use record::{Record, Value};
pub use sinks::{
    AsyncSink, FileHealth, PartialDelivery, Sink, SinkError, SinkHealth, SinkManager, SinkOptions, SinkReport,
};
pub use stack::AureusLayer;
pub use store::{EventQuery, EventStore};
pub use telemetry::{OtlpReport, ShutdownReport, Telemetry, DROP_DEADLINE};

/// Builds the whole stack from `config` as a [`Layer`](tracing_subscriber::Layer)
/// to compose into the service's own subscriber, next to its own layers,
/// and the [`Telemetry`] handle that runs and stops the rest. Keep the
/// handle alive for the life of the process; dropping it flushes and stops
/// every sink.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), aureus_observability::Error> {
/// let config = aureus_observability::Config::from_env()?;
/// let (layer, telemetry) = aureus_observability::layer(config)?;
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer()) // the service's own layer
///     .with(layer)
///     .init();
/// # Ok(()) }
/// ```
///
/// The layer's level filter (`log_level`) is a per-layer filter: it decides
/// what this crate records, and nothing about what the service's other
/// layers see (see [`AureusLayer`]). Everything works as with [`init`]:
/// correlation, metrics, sinks, the store, OTLP spans and logs, the HTTP
/// listener and the alerts, and the `metrics` facade's global recorder.
///
/// Sets the process-wide default correlation id when the config has one.
/// Fails with a typed error on a bad configuration, an unwritable file or a
/// port in use (nothing is left running then).
pub fn layer<S>(config: Config) -> Result<(AureusLayer<S>, Telemetry)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    stack::layer(config)
}

/// Builds the whole stack from `config` and installs it as the global
/// subscriber (a bare registry with [`layer`]'s layer). Keep the returned
/// [`Telemetry`] alive for the life of the process; dropping it flushes and
/// stops every sink.
///
/// Sets the process-wide default correlation id when the config has one.
/// Fails with a typed error on a bad configuration, an unwritable file, or
/// when a global subscriber is already installed (nothing is left running then).
pub fn init(config: Config) -> Result<Telemetry> {
    let (dispatch, telemetry) = build(config)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| Error::AlreadyInitialized)?;
    Ok(telemetry)
}

/// Builds the whole stack from `config` without installing it: a bare
/// registry with [`layer`]'s layer, as a [`tracing::Dispatch`].
///
/// ```
/// use aureus_observability::{build, Config};
///
/// let config = Config::builder().no_server().no_sinks().build()?;
/// let (dispatch, telemetry) = build(config)?;
/// tracing::dispatcher::with_default(&dispatch, || tracing::info!("hello"));
/// telemetry.shutdown(std::time::Duration::from_secs(1));
/// # Ok::<(), aureus_observability::Error>(())
/// ```
pub fn build(config: Config) -> Result<(tracing::Dispatch, Telemetry)> {
    let (layer, telemetry) = layer::<tracing_subscriber::Registry>(config)?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    Ok((dispatch, telemetry))
}

/// The README's examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The monitoring guide's examples (`docs/GUIDE.md`), compiled and run as
/// doctests so they cannot rot.
#[doc = include_str!("../docs/GUIDE.md")]
#[cfg(doctest)]
pub struct GuideDoctests;
