//! OTLP export of spans, logs and metrics to an OpenTelemetry collector.
//!
//! Turned on by `[otlp] enabled = true` or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` variables (see [`crate::config::OtlpConfig`]).
//! Each signal has its own exporter (gRPC, HTTP/protobuf or HTTP/JSON; gzip,
//! headers, TLS with a custom CA, retry with backoff that honours
//! `Retry-After`), behind a bounded queue whose losses are counted:
//!
//! - **traces** — `tracing` spans through tracing-opentelemetry into a
//!   bounded span queue; Aureus events are span events; a failed step or a
//!   blocking CRV gate sets the span's status to error;
//! - **logs** — the `otlp` sink (one more pipeline sink: redaction, sampling,
//!   isolation and counting apply) turns records into LogRecords with the
//!   span's trace id and `aureus.correlation_id`;
//! - **metrics** — the counters and histograms of `/metrics`, mirrored, plus
//!   the self-metrics, exported every `otlp.metrics.interval`.
//!
//! The export machinery's own diagnostics never come back into the pipeline
//! (by target and by thread). [`crate::Telemetry::shutdown`] flushes all three
//! within its deadline, whether or not the collector answers.

pub(crate) mod capture;
mod exemplars;
mod genai;
mod grpc_call;
mod grpc_metrics;
mod grpc_retry;
mod http_client;
pub(crate) mod internal;
mod logs;
mod metric_export;
mod metrics;
mod partial;
mod prepared;
mod proto;
mod proto_spans;
mod redact;
mod resource;
mod self_metrics;
mod span_layer;
mod stats;
pub(crate) mod traces;
mod transport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;

pub(crate) use exemplars::Exemplars;
pub use logs::CORRELATION_ATTRIBUTE;
pub(crate) use metrics::MirrorRecorder;
pub(crate) use resource::ResourceSettings;
pub(crate) use self_metrics::{register_self_metrics, SignalStats};
pub(crate) use span_layer::{span_layer, SpanExport};
pub use stats::ExportCounts;
pub(crate) use stats::ExportStats;
pub(crate) use traces::Scrub;
use transport::ExportRuntime;

use crate::config::ValidatedOtlp;
use crate::error::{Error, Result};
use crate::pipeline::{QueueSettings, Redactor};
use crate::sinks::Sink;

/// Name of the sink that exports log records.
pub const OTLP_SINK: &str = "otlp";

/// The longest the `otlp` log sink's circuit stays open after repeated
/// failed exports: log records flow again at most this long after the
/// collector is back.
const LOG_SINK_LONGEST_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// The tracer type the span layer uses.
pub(crate) type Tracer = opentelemetry_sdk::trace::SdkTracer;

/// The running exporters (traces and metrics; logs run as the `otlp` sink).
pub(crate) struct Otlp {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    runtime: Option<Arc<ExportRuntime>>,
    stats: SignalStats,
    /// The `otlp` log sink's export counters (its queue is a pipeline sink's).
    log_stats: Option<Arc<ExportStats>>,
    /// Applied to what leaves through the export machinery's own text
    /// (span data, resource attributes, export errors).
    redactor: Arc<Redactor>,
    /// Histogram exemplars for the metric exports.
    exemplars: Option<Arc<Exemplars>>,
}

impl std::fmt::Debug for Otlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otlp")
            .field("traces", &self.tracer_provider.is_some())
            .field("metrics", &self.meter_provider.is_some())
            .finish()
    }
}

/// What `start` hands to the rest of the stack.
pub(crate) struct Started {
    pub(crate) otlp: Otlp,
    /// The log sink and its queue settings, to run as the `otlp` sink.
    pub(crate) log_sink: Option<(Box<dyn Sink>, QueueSettings)>,
}

impl Otlp {
    /// Builds every enabled signal's exporter and starts its worker.
    pub(crate) fn start(config: &ValidatedOtlp, resource: &ResourceSettings, scrub: traces::Scrub) -> Result<Started> {
        crate::pipeline::watch_otel_suppression();
        let resource = resource::build(resource, &scrub.redactor);
        let signals = [&config.traces, &config.logs, &config.metrics];
        let runtime = Arc::new(ExportRuntime::for_signals(signals.iter().filter_map(|s| s.as_ref()))?);
        let mut stats: SignalStats = Vec::new();

        let tracer_provider = match &config.traces {
            Some(signal) => {
                let span_stats = Arc::new(ExportStats::default());
                let rejections = partial::Rejections {
                    signal: signal.signal,
                    stats: Arc::clone(&span_stats),
                };
                let (exporter, prepared) = transport::span_exporter(signal, &config.retry, &runtime, rejections)?;
                stats.push(("traces", Arc::clone(&span_stats)));
                let queue = traces::SpanQueue::start(
                    exporter,
                    &resource,
                    traces::Batching {
                        capacity: signal.batch.queue_capacity,
                        max_bytes: signal.batch.queue_max_bytes,
                        max_batch: signal.batch.max_batch,
                        interval: signal.batch.interval,
                        flush_timeout: signal.timeout + Duration::from_secs(1),
                        overflow: signal.batch.overflow,
                    },
                    scrub.clone(),
                    Arc::clone(&runtime),
                    span_stats,
                    prepared,
                )
                .map_err(|source| Error::Worker {
                    sink: "otlp-traces".to_owned(),
                    source,
                })?;
                Some(
                    SdkTracerProvider::builder()
                        .with_resource(resource.clone())
                        .with_span_processor(queue)
                        .build(),
                )
            }
            None => None,
        };

        let mut log_stats = None;
        let log_sink = match &config.logs {
            Some(signal) => {
                let stats = Arc::new(ExportStats::default());
                let rejections = partial::Rejections {
                    signal: signal.signal,
                    stats: Arc::clone(&stats),
                };
                let (exporter, prepared) = transport::log_exporter(signal, &config.retry, &runtime, rejections)?;
                log_stats = Some(Arc::clone(&stats));
                let mut sink = logs::OtlpLogSink::new(exporter, &resource, Arc::clone(&runtime), stats, scrub.capture);
                if let Some(body) = prepared {
                    sink = sink.encoding_directly(body, &resource);
                }
                let sink: Box<dyn Sink> = Box::new(sink);
                let mut queue = QueueSettings::new(
                    signal.batch.queue_capacity,
                    signal.batch.overflow,
                    tracing::level_filters::LevelFilter::TRACE,
                );
                queue.max_batch = signal.batch.max_batch;
                queue.max_bytes = signal.batch.queue_max_bytes;
                queue.linger = signal.batch.interval;
                // The exporter already retries each batch with its own
                // backoff (`[otlp.retry]`); a long open circuit on top only
                // drops records after the collector is back (measured: log
                // records resumed 32.5 s after a 33 s outage with 60 s).
                queue.longest_backoff = LOG_SINK_LONGEST_BACKOFF;
                Some((sink, queue))
            }
            None => None,
        };

        let mut exemplars = None;
        let meter_provider = match &config.metrics {
            Some(signal) => {
                let kept = Arc::new(Exemplars::default());
                exemplars = Some(Arc::clone(&kept));
                let metric_stats = Arc::new(ExportStats::default());
                let rejections = partial::Rejections {
                    signal: signal.signal,
                    stats: Arc::clone(&metric_stats),
                };
                let exporter = transport::metric_exporter(
                    signal,
                    &config.retry,
                    &runtime,
                    kept,
                    config.metrics_temporality.sdk(),
                    rejections,
                )?;
                stats.push(("metrics", Arc::clone(&metric_stats)));
                let exporter = metric_export::Counting {
                    inner: exporter,
                    stats: metric_stats,
                    runtime: Arc::clone(&runtime),
                };
                let reader = PeriodicReader::builder(exporter)
                    .with_interval(config.metrics_interval)
                    .build();
                Some(
                    SdkMeterProvider::builder()
                        .with_resource(resource.clone())
                        .with_reader(reader)
                        .build(),
                )
            }
            None => None,
        };

        Ok(Started {
            otlp: Otlp {
                tracer_provider,
                meter_provider,
                runtime: Some(runtime),
                stats,
                log_stats,
                redactor: scrub.redactor,
                exemplars,
            },
            log_sink,
        })
    }

    /// The tracer for the span layer, when traces are exported.
    pub(crate) fn tracer(&self) -> Option<Tracer> {
        self.tracer_provider.as_ref().map(|p| p.tracer_with_scope(scope()))
    }

    /// The meter the mirrored metrics use, when metrics are exported.
    pub(crate) fn meter(&self) -> Option<opentelemetry::metrics::Meter> {
        self.meter_provider.as_ref().map(|p| p.meter_with_scope(scope()))
    }

    /// Where mirrored histograms keep their exemplars for the metric
    /// exports, when metrics are exported.
    pub(crate) fn exemplars(&self) -> Option<Arc<Exemplars>> {
        self.exemplars.clone()
    }

    /// Per-signal export counters (traces and metrics; logs are the `otlp` sink's health).
    pub(crate) fn stats(&self) -> SignalStats {
        self.stats.clone()
    }

    /// Every signal's export counters, logs included (for the self-metrics).
    pub(crate) fn all_stats(&self) -> SignalStats {
        let mut all = self.stats.clone();
        if let Some(logs) = &self.log_stats {
            all.push(("logs", Arc::clone(logs)));
        }
        all
    }

    /// Records every export's duration into `name{signal}` through `recorder`.
    pub(crate) fn time_exports(&self, recorder: &dyn ::metrics::Recorder, name: &str) {
        static METADATA: ::metrics::Metadata<'static> =
            ::metrics::Metadata::new("aureus::telemetry", ::metrics::Level::INFO, Some(module_path!()));
        for (signal, stats) in self.all_stats() {
            let key = ::metrics::Key::from_parts(
                name.to_owned(),
                vec![::metrics::Label::new(crate::metrics::label::SIGNAL, signal)],
            );
            stats.time_into(recorder.register_histogram(&key, &METADATA));
        }
    }

    /// A snapshot of one signal's counters.
    pub(crate) fn counts(&self, signal: &str) -> Option<ExportCounts> {
        self.all_stats()
            .into_iter()
            .find(|(name, _)| *name == signal)
            .map(|(_, stats)| {
                let mut counts = stats.snapshot();
                counts.last_error = counts
                    .last_error
                    .map(|error| self.redactor.redact_text(&error).into_owned());
                counts
            })
    }

    /// Exports what is queued now; false when not done within `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let tracer = self.tracer_provider.clone();
        let meter = self.meter_provider.clone();
        bounded(timeout, move || {
            let spans = tracer.map(|p| p.force_flush().is_ok()).unwrap_or(true);
            let metrics = meter.map(|p| p.force_flush().is_ok()).unwrap_or(true);
            spans && metrics
        })
    }

    /// Flushes and stops both exporters by `deadline`; returns the signals
    /// that did not finish in time (their data is lost, and counted).
    pub(crate) fn shutdown(&mut self, deadline: Instant) -> Vec<&'static str> {
        let mut late = Vec::new();
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let (tracer, meter) = (self.tracer_provider.take(), self.meter_provider.take());
        // Late means the deadline passed; a final export that failed in
        // time is counted as failed in the signal's counts, not as late. (The
        // providers wrap a processor's timeout into `InternalFailure`.)
        fn in_time(timeout: Duration, shutdown: impl FnOnce(Duration) -> OTelSdkResult) -> bool {
            let started = Instant::now();
            match shutdown(timeout) {
                Ok(()) => true,
                Err(OTelSdkError::Timeout(_)) => false,
                Err(err) => started.elapsed() < timeout && !format!("{err:?}").contains("Timeout"),
            }
        }
        let spans = tracer.map(|provider| {
            let timeout = remaining();
            exporter_thread(move || in_time(timeout, |t| provider.shutdown_with_timeout(t)))
        });
        let metrics = meter.map(|provider| {
            let timeout = remaining();
            exporter_thread(move || in_time(timeout, |t| provider.shutdown_with_timeout(t)))
        });
        for (signal, handle) in [("traces", spans), ("metrics", metrics)] {
            if let Some(handle) = handle {
                if !join_by(handle, deadline) {
                    late.push(signal);
                }
            }
        }
        if let Some(runtime) = self.runtime.take() {
            if let Ok(runtime) = Arc::try_unwrap(runtime) {
                runtime.shutdown();
            }
        }
        late
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        if self.tracer_provider.is_some() || self.meter_provider.is_some() {
            self.shutdown(Instant::now() + Duration::from_secs(5));
        }
    }
}

fn scope() -> opentelemetry::InstrumentationScope {
    opentelemetry::InstrumentationScope::builder("aureus-observability")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Runs `work` on its own thread; true if it returned true within `timeout`.
fn bounded(timeout: Duration, work: impl FnOnce() -> bool + Send + 'static) -> bool {
    join_by(exporter_thread(work), Instant::now() + timeout)
}

/// A thread of the export machinery: what it logs stays out of the pipeline.
fn exporter_thread(work: impl FnOnce() -> bool + Send + 'static) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        crate::pipeline::mark_worker_thread();
        let _quiet = opentelemetry::Context::enter_telemetry_suppressed_scope();
        work()
    })
}

fn join_by(handle: std::thread::JoinHandle<bool>, deadline: Instant) -> bool {
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join().unwrap_or(false)
}
