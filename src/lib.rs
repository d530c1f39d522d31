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
//! ## Composing by hand
//!
//! [`build`] returns the subscriber as a [`tracing::Dispatch`] without
//! installing it (handy in tests: `tracing::dispatcher::with_default`). The
//! layers ([`pipeline::AureusFilter`],
//! [`correlation::CorrelationLayer`],
//! [`pipeline::PipelineLayer`]) are public for inspection.

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
pub mod pipeline;
pub mod propagation;
mod record;
mod server;
pub mod sinks;
pub mod store;
mod telemetry;

use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

pub use config::Config;
pub use correlation::CorrelationId;
pub use error::{Error, Result};
pub use record::{Record, Value};
pub use sinks::{AsyncSink, Sink, SinkError, SinkHealth, SinkManager, SinkOptions, SinkReport};
pub use store::{EventQuery, EventStore};
pub use telemetry::{OtlpReport, ShutdownReport, Telemetry, DROP_DEADLINE};

use config::ValidatedSink;
use pipeline::{AureusFilter, Pipeline, PipelineLayer, RecordPool, SinkHandle};

/// Builds the whole stack from `config` and installs it as the global
/// subscriber. Keep the returned [`Telemetry`] alive for the life of the
/// process; dropping it flushes and stops every sink.
///
/// Sets the process-wide default correlation id when the config has one.
/// Fails with a typed error on a bad configuration, an unwritable file, or
/// when a global subscriber is already installed (nothing is left running then).
pub fn init(config: Config) -> Result<Telemetry> {
    let (dispatch, telemetry) = build(config)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| Error::AlreadyInitialized)?;
    Ok(telemetry)
}

/// Builds the whole stack from `config` without installing it.
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
    let validated = config.validated()?;
    let resource = otlp::ResourceSettings {
        service_name: config.service_name.clone(),
        service_version: config.service_version.clone(),
        environment: config.environment.clone(),
        attributes: config.resource_attributes.clone().into_iter().collect(),
    };
    let started = validated
        .otlp
        .as_ref()
        .map(|settings| otlp::Otlp::start(settings, &resource))
        .transpose()?;
    let (otlp, log_sink) = match started {
        Some(started) => (Some(started.otlp), started.log_sink),
        None => (None, None),
    };
    let meter = otlp.as_ref().and_then(otlp::Otlp::meter);
    let env = Arc::new(
        EnvFilter::try_new(&validated.filter)
            .map_err(|err| Error::config("log_level", &validated.filter, err.to_string()))?,
    );
    let metrics_state = validated
        .metrics
        .as_ref()
        .map(|settings| start_metrics(settings, meter.clone()))
        .transpose()?;
    let pool = Arc::new(RecordPool::new());
    let (records, _) = tokio::sync::broadcast::channel(1024);
    let mut handles = Vec::with_capacity(validated.sinks.len() + 1);
    for sink in validated.sinks {
        handles.push(Arc::new(start_sink(sink, Arc::clone(&pool))?));
    }
    let store = match &validated.store {
        Some(settings) => {
            let (store, handle) = start_store(settings, Arc::clone(&pool), records.clone())?;
            handles.push(Arc::new(handle));
            Some(store)
        }
        None => None,
    };
    if let Some((sink, queue)) = log_sink {
        handles.push(Arc::new(SinkHandle::spawn(
            otlp::OTLP_SINK,
            "otlp",
            sink,
            queue,
            Arc::clone(&pool),
        )?));
    }
    let pipeline = Arc::new(Pipeline::new(
        handles,
        pool,
        validated.max_field_bytes,
        metrics_state.clone(),
        Arc::clone(&env),
        (validated.redactor, validated.sampler),
    ));
    let tracer = otlp.as_ref().and_then(otlp::Otlp::tracer);
    pipeline.set_annotate_spans(tracer.is_some());
    if let (Some(otlp), Some(state)) = (&otlp, &metrics_state) {
        let names = state.aureus.names();
        otlp.time_exports(&*state.recorder, &names.otlp_export_duration);
        state.exporter.watch_otlp(otlp.all_stats());
        if let Some(meter) = &meter {
            otlp::register_self_metrics(meter, names, Arc::downgrade(&pipeline), otlp.all_stats());
        }
    }
    let metrics_handle = metrics_state.map(|state| metrics::MetricsHandle::new(state, Arc::clone(&pipeline)));
    let subscriber = tracing_subscriber::registry()
        .with(AureusFilter::new(env, validated.metrics.is_some()))
        .with(correlation::CorrelationLayer::new())
        .with(tracer.map(otlp::span_layer))
        .with(PipelineLayer::new(Arc::clone(&pipeline)));
    let dispatch = tracing::Dispatch::new(subscriber);
    let prefix = validated.metrics.as_ref().map_or("aureus", |m| m.prefix.as_str());
    let monitoring = match &validated.monitoring {
        Some(settings) => start_monitoring(
            settings,
            &dispatch,
            metrics_handle.as_ref(),
            store.clone(),
            records,
            prefix,
        )?,
        None => None,
    };
    let alerting = monitoring.as_ref().and_then(|m| m.alerting.clone());
    let server = match (&validated.server, &metrics_handle) {
        (Some(server), Some(handle)) => Some(server::Server::start(server, handle.clone(), monitoring)?),
        _ => None,
    };
    let upkeep = match (&server, &metrics_handle) {
        (None, Some(handle)) => Some(metrics::Upkeep::start(handle.clone())?),
        _ => None,
    };
    let telemetry = Telemetry::new(pipeline, metrics_handle, server, store, alerting, upkeep, otlp);
    if let Some(id) = validated.default_correlation_id {
        correlation::set_default(Some(id));
    }
    Ok((dispatch, telemetry))
}

/// The dashboard's state and the alert engine (local or fleet source).
fn start_monitoring(
    settings: &config::ValidatedMonitoring,
    dispatch: &tracing::Dispatch,
    metrics: Option<&metrics::MetricsHandle>,
    store: Option<store::EventStore>,
    records: tokio::sync::broadcast::Sender<Arc<Record>>,
    prefix: &str,
) -> Result<Option<dashboard::Monitoring>> {
    let fleet = settings
        .prometheus_url
        .as_deref()
        .map(|url| alerts::PrometheusApi::new(url, prefix));
    let source = match (&fleet, metrics) {
        (Some(api), _) => Some(alerts::AlertSource::Prometheus(api.clone())),
        (None, Some(metrics)) => Some(alerts::AlertSource::Local {
            metrics: metrics.clone(),
            store: store.clone(),
        }),
        (None, None) => None,
    };
    let alerting = match source {
        Some(source) => Some(Arc::new(alerts::Alerting::start(
            Arc::new(alerts::AlertEngine::new(settings.rules.clone())),
            source,
            settings.evaluate_every,
            dispatch.clone(),
            metrics.map(metrics::MetricsHandle::recorder),
            prefix,
        )?)),
        None => None,
    };
    Ok(Some(dashboard::Monitoring {
        metrics: metrics.cloned(),
        store,
        alerting,
        records,
        fleet,
        token: settings.token.as_deref().map(Arc::from),
    }))
}

/// The event store, fed by its own sink worker named `store`.
fn start_store(
    settings: &config::ValidatedStore,
    pool: Arc<RecordPool>,
    announce: tokio::sync::broadcast::Sender<Arc<Record>>,
) -> Result<(store::EventStore, SinkHandle)> {
    let store = store::EventStore::new(settings.max_records, settings.max_bytes);
    let queue = pipeline::QueueSettings::new(65536, pipeline::OverflowPolicy::Drop, settings.min_level);
    let sink = store::StoreSink {
        store: store.clone(),
        announce,
    };
    let handle = SinkHandle::spawn("store", "store", Box::new(sink), queue, pool)?;
    Ok((store, handle))
}

fn start_metrics(
    config: &config::ValidatedMetrics,
    meter: Option<opentelemetry::metrics::Meter>,
) -> Result<Arc<metrics::MetricsState>> {
    let unit = config.duration_unit;
    let names = metrics::MetricNames::new(&config.prefix, unit);
    let buckets: Vec<f64> = config
        .duration_buckets_ms
        .iter()
        .map(|b| b * unit.per_millisecond())
        .collect();
    let mirrored = [
        (names.task_duration.clone(), buckets.clone(), unit.otlp_unit()),
        (
            names.otlp_export_duration.clone(),
            metrics::EXPORT_DURATION_BUCKETS_S.to_vec(),
            "s",
        ),
    ];
    let exporter = metrics::PrometheusExporter::new(names, &buckets, &config.global_labels)?;
    let recorder = match meter {
        Some(meter) => Arc::new(otlp::MirrorRecorder::new(
            exporter.recorder(),
            meter,
            &config.global_labels,
            mirrored.to_vec(),
        )) as Arc<dyn ::metrics::Recorder + Send + Sync>,
        None => exporter.recorder(),
    };
    let aureus = Arc::new(metrics::AureusMetrics::with_duration_unit(
        Arc::clone(&recorder),
        &config.prefix,
        config.cardinality_limit,
        unit,
    ));
    let summary = metrics::SummaryWindow::new(config.summary_retention, config.summary_bucket);
    Ok(Arc::new(metrics::MetricsState::new(
        aureus, exporter, summary, recorder,
    )))
}

fn start_sink(sink: ValidatedSink, pool: Arc<RecordPool>) -> Result<SinkHandle> {
    use config::validate_kinds::SinkKind;
    let kind = match sink.kind {
        SinkKind::Console { .. } => "console",
        SinkKind::File { .. } => "file",
    };
    let boxed: Box<dyn Sink> = match sink.kind {
        SinkKind::Console { format, stream, ansi } => Box::new(sinks::console::ConsoleSink::new(format, stream, ansi)),
        SinkKind::File {
            path,
            rotation,
            retention,
            compress,
        } => Box::new(sinks::file::FileSink::open(path, rotation, retention, compress)?),
    };
    SinkHandle::spawn(&sink.name, kind, boxed, sink.queue, pool)
}

/// The README's examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
