//! Our layer composed into a service's own subscriber exports over OTLP to a
//! real collector (rotel) exactly as `init` does; and next to the service's
//! own tracing-opentelemetry layer, the recommended way (our span export
//! off, the service's layer exporting spans) gives log records that carry
//! the service's trace and span ids, with each span exported once.

#[path = "support/http.rs"]
mod http;
#[path = "support/rotel.rs"]
mod rotel;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::Config;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use rotel::{AttrValue, Rotel};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn config(service: &str, collector: &Rotel) -> Config {
    config_to(service, collector.grpc_endpoint(), OtlpProtocol::Grpc)
}

fn config_to(service: &str, endpoint: String, protocol: OtlpProtocol) -> Config {
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    otlp.batch.interval = "100ms".into();
    otlp.metrics.interval = Some("60s".into());
    let mut config = Config::builder()
        .service_name(service)
        .log_level("info")
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .unwrap();
    config.metrics.global_recorder = aureus_observability::metrics::GlobalRecorder::Off;
    config
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn a_composed_layer_exports_spans_logs_and_metrics_to_the_collector() {
    let collector = Rotel::start();
    let (layer, telemetry) = aureus_observability::layer(config("composed", &collector)).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(LevelFilter::ERROR),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // A debug-level correlation span: kept by our layer whatever its level.
        let span = tracing::debug_span!("workflow", correlation_id = "wf-otlp-compose");
        let _entered = span.enter();
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "wf-otlp-compose",
            task_id = "t1", task_type = "action", success = true, duration_ms = 12u64);
        tracing::info!(target: "app", "plain info in the workflow");
        tracing::debug!(target: "app", "below our level");
    });
    assert!(telemetry.flush(Duration::from_secs(15)));
    let got = collector.wait_for("span, logs and metrics", Duration::from_secs(20), |r| {
        r.span("workflow").is_some() && r.logs.len() >= 2 && r.latest_metric("aureus_tasks_completed").is_some()
    });
    let span = got.span("workflow").unwrap();
    assert_eq!(
        span.attributes.get("aureus.correlation_id"),
        Some(&AttrValue::Str("wf-otlp-compose".into()))
    );
    assert_eq!(got.logs.len(), 2, "{:#?}", got.logs);
    for log in &got.logs {
        assert_eq!(log.trace_id, span.trace_id);
        assert_eq!(log.span_id, span.span_id);
        assert_eq!(
            log.attributes.get("aureus.correlation_id"),
            Some(&AttrValue::Str("wf-otlp-compose".into()))
        );
    }
    assert!(got.logs_containing("below our level").is_empty());
    let completed = got.latest_metric("aureus_tasks_completed").unwrap();
    assert_eq!(completed.point("task_type", "action").unwrap().value, Some(1.0));
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
}

/// The service's own span exporter: keeps what it is given.
#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Kept {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn next_to_the_services_own_opentelemetry_layer_logs_carry_its_trace_ids() {
    let collector = Rotel::start();
    // The service's own OpenTelemetry setup.
    let kept = Kept::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(kept.clone()).build();
    let theirs = tracing_opentelemetry::layer().with_tracer(provider.tracer("service"));
    // Ours, as recommended next to it: span export off, logs and metrics on.
    let mut config = config("beside-otel", &collector);
    config.otlp.traces.enabled = false;
    let (ours, telemetry) = aureus_observability::layer(config).unwrap();
    let subscriber = tracing_subscriber::registry().with(theirs).with(ours);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("handle_request", correlation_id = "req-42");
        let _entered = span.enter();
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "wf-1", task_id = "t1",
            task_type = "action", success = false, duration_ms = 5u64, error = "boom");
    });
    assert!(telemetry.flush(Duration::from_secs(15)));
    provider.force_flush().unwrap();
    let got = collector.wait_for("the log record", Duration::from_secs(20), |r| !r.logs.is_empty());

    let spans = kept.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "the service's layer exported its span once: {spans:#?}");
    let span = &spans[0];
    let trace_id = format!("{:032x}", u128::from_be_bytes(span.span_context.trace_id().to_bytes()));
    let span_id = format!("{:016x}", u64::from_be_bytes(span.span_context.span_id().to_bytes()));
    assert_eq!(got.logs.len(), 1);
    let log = &got.logs[0];
    assert_eq!(
        (log.trace_id.as_str(), log.span_id.as_str()),
        (trace_id.as_str(), span_id.as_str())
    );
    assert_eq!(
        log.attributes.get("aureus.correlation_id"),
        Some(&AttrValue::Str("req-42".into()))
    );
    // The failed step marks the service's span as failed.
    assert!(
        matches!(span.status, opentelemetry::trace::Status::Error { .. }),
        "{:?}",
        span.status
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(collector.received().spans.is_empty(), "no span from us");
    telemetry.shutdown(Duration::from_secs(10));
    provider.shutdown().unwrap();
}

/// A span our filter hides (below our level) while the service's own layer
/// shows it: headers injected inside it continue the innermost span we
/// export, instead of carrying no trace at all.
#[test]
fn headers_injected_inside_a_span_hidden_from_our_layer_carry_its_parent() {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    // Spans are exported nowhere (a closed loopback port): their context is all we need.
    let port = http::free_loopback_port().unwrap();
    let config = config_to(
        "hidden-span",
        format!("http://127.0.0.1:{port}"),
        OtlpProtocol::HttpProtobuf,
    );
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(LevelFilter::DEBUG),
        )
        .with(layer);
    let (parent_ids, headers) = tracing::subscriber::with_default(subscriber, || {
        let workflow = tracing::info_span!("workflow");
        let _w = workflow.enter();
        let ids = {
            let cx = workflow.context();
            let span = cx.span();
            let sc = span.span_context();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        };
        let hidden = tracing::debug_span!("http_client");
        let _h = hidden.enter();
        let mut headers = std::collections::HashMap::new();
        aureus_observability::propagation::inject_map(&mut headers);
        (ids, headers)
    });
    let traceparent = headers
        .get("traceparent")
        .expect("a traceparent inside the hidden span");
    assert_eq!(
        traceparent,
        &format!("00-{}-{}-01", parent_ids.0, parent_ids.1),
        "{headers:?}"
    );
    telemetry.shutdown(Duration::from_secs(2));
}

/// With no collector listening, the final exports fail quickly: the
/// shutdown report counts them as failed and the signals as finished in
/// time (not "deadline passed").
#[test]
fn a_failed_final_export_is_not_reported_as_a_missed_deadline() {
    let port = http::free_loopback_port().unwrap();
    let config = config_to(
        "no-collector",
        format!("http://127.0.0.1:{port}"),
        OtlpProtocol::HttpProtobuf,
    );
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _span = tracing::info_span!("workflow").entered();
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "wf", task_id = "t",
            task_type = "action", success = true, duration_ms = 3u64);
    });
    let report = telemetry.shutdown(Duration::from_secs(20));
    assert!(report.elapsed < Duration::from_secs(20), "{report}");
    for signal in &report.otlp {
        assert!(signal.completed, "{} reported late: {report}", signal.signal);
    }
    let traces = report.otlp.iter().find(|s| s.signal == "traces").expect("traces");
    assert_eq!(traces.counts.failed, 1, "{report}");
    assert!(!report.to_string().contains("deadline passed"), "{report}");
}
