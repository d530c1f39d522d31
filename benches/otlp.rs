//! OTLP export, cost on the instrumented thread: our stack against the anchor
//! composition — tracing-opentelemetry (spans) + opentelemetry-appender-tracing
//! (logs) on the SDK's batch processors, wired as their docs show — in the
//! same run, both exporting OTLP/HTTP-protobuf to the same local receiver
//! that answers 200 to everything. Also: our per-event cost while the
//! collector is down (nothing listens) against while it is up.
//!
//! Run: `cargo bench --bench otlp`. Compare ratios, not absolute times.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aureus_observability::config::{MetricsConfig, OtlpConfig, OtlpProtocol, StoreConfig};
use aureus_observability::Config;
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use tracing_subscriber::prelude::*;

/// A receiver that accepts any OTLP/HTTP request with 200, on its own runtime.
struct Receiver {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

fn receiver() -> Receiver {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    // Reads each request body whole before answering, as a collector does.
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        black_box(body.len());
        ""
    });
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, _runtime: runtime }
}

/// The blocking client the anchor's HTTP exporters use (the docs' default,
/// reqwest-blocking, is not in this build; ureq is the same shape).
#[derive(Debug)]
struct Client(ureq::Agent);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let response = self.0.run(http::Request::from_parts(parts, body.to_vec()))?;
        let (parts, mut body) = response.into_parts();
        Ok(http::Response::from_parts(parts, body.read_to_vec()?.into()))
    }
}

fn client() -> Client {
    let config = ureq::Agent::config_builder().http_status_as_error(false).build();
    Client(ureq::Agent::new_with_config(config))
}

/// tracing-opentelemetry (+ the appender bridge when `logs`), batch processors.
fn anchor(url: &str, spans: bool, logs: bool) -> (tracing::Dispatch, Box<dyn FnOnce()>) {
    let tracer_provider = spans.then(|| {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client())
            .with_endpoint(format!("{url}/v1/traces"))
            .build()
            .expect("span exporter");
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build()
    });
    let logger_provider = logs.then(|| {
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_http_client(client())
            .with_endpoint(format!("{url}/v1/logs"))
            .build()
            .expect("log exporter");
        opentelemetry_sdk::logs::SdkLoggerProvider::builder()
            .with_batch_exporter(exporter)
            .build()
    });
    let span_layer = tracer_provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("bench")));
    let log_layer = logger_provider
        .as_ref()
        .map(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new);
    let subscriber = tracing_subscriber::registry().with(span_layer).with(log_layer);
    let stop = Box::new(move || {
        if let Some(p) = tracer_provider {
            let _ = p.shutdown_with_timeout(Duration::from_secs(2));
        }
        if let Some(p) = logger_provider {
            let _ = p.shutdown_with_timeout(Duration::from_secs(2));
        }
    });
    (tracing::Dispatch::new(subscriber), stop)
}

/// Our stack exporting spans and/or logs (no other sink, no metrics, no store).
fn ours(url: &str, spans: bool, logs: bool) -> (tracing::Dispatch, aureus_observability::Telemetry) {
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(url.to_owned()),
        protocol: Some(OtlpProtocol::HttpProtobuf),
        timeout: Some("1s".into()),
        ..OtlpConfig::default()
    };
    otlp.traces.enabled = spans;
    otlp.logs.enabled = logs;
    otlp.metrics.enabled = false;
    otlp.retry.max_retries = 0;
    let config = Config {
        metrics: MetricsConfig {
            enabled: false,
            ..Default::default()
        },
        store: StoreConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::builder()
            .no_server()
            .no_sinks()
            .otlp(otlp)
            .build()
            .expect("config")
    };
    aureus_observability::build(config).expect("build")
}

/// A span created, entered, exited and closed inside a correlated workflow span.
fn span_lifecycle(c: &mut Criterion, name: &str, dispatch: &tracing::Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        let workflow = tracing::info_span!("workflow", correlation_id = "wf-bench-corr");
        let _entered = workflow.enter();
        c.bench_function(name, |b| {
            b.iter(|| {
                let span = tracing::info_span!("task", task_id = "task-7");
                let entered = span.enter();
                black_box(&entered);
                drop(entered);
                drop(span);
            })
        });
    });
}

/// A `step_end` inside a correlated workflow span and a task span.
fn event(c: &mut Criterion, name: &str, dispatch: &tracing::Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        let workflow = tracing::info_span!("workflow", correlation_id = "wf-bench-corr");
        let _workflow = workflow.enter();
        let task = tracing::info_span!("task", task_id = "task-7");
        let _task = task.enter();
        let mut n = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                aureus_observability::event::StepEnd {
                    workflow_id: "wf-bench",
                    task_id: "task-7",
                    task_type: "action",
                    success: !n.is_multiple_of(10),
                    duration_ms: n % 5000,
                    error: None,
                }
                .emit();
            })
        });
    });
}

fn benches(c: &mut Criterion) {
    let collector = receiver();
    let url = collector.url.as_str();

    let (dispatch, stop) = anchor(url, true, false);
    span_lifecycle(c, "span lifecycle / anchor: tracing-opentelemetry", &dispatch);
    stop();
    let (dispatch, telemetry) = ours(url, true, false);
    span_lifecycle(c, "span lifecycle / ours: traces", &dispatch);
    let _ = telemetry.shutdown(Duration::from_secs(2));

    let (dispatch, stop) = anchor(url, false, true);
    event(c, "event to log record / anchor: appender bridge", &dispatch);
    stop();
    let (dispatch, telemetry) = ours(url, false, true);
    event(c, "event to log record / ours: logs", &dispatch);
    let report = telemetry.shutdown(Duration::from_secs(2));
    eprintln!("ours (logs): {report}");
    if let Some(otlp) = report.sink("otlp") {
        eprintln!("ours (logs): last error {:?}", otlp.health.last_error);
    }

    let (dispatch, stop) = anchor(url, true, true);
    event(c, "event in span, spans + logs / anchor", &dispatch);
    stop();
    let (dispatch, telemetry) = ours(url, true, true);
    event(c, "event in span, spans + logs / ours", &dispatch);
    let _ = telemetry.shutdown(Duration::from_secs(2));

    // Collector down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (dispatch, telemetry) = ours(&down, true, true);
    event(c, "event in span, spans + logs / ours, collector down", &dispatch);
    let report = telemetry.shutdown(Duration::from_secs(2));
    eprintln!("ours, collector down: {report}");
    black_box(Arc::new(()));
}

criterion_group! {
    name = otlp;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(otlp);
