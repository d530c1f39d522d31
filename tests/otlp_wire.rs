//! OTLP export options checked on the wire against a scripted receiver that
//! records every request: per-signal paths, content types, gzip, headers and
//! gRPC metadata, batching by size and interval, retries that honour
//! `Retry-After`, export timeouts, queue overflow counting, and shutdown that
//! stays within its deadline when the collector is unreachable or hangs.
//! (What the data means is checked against a real collector in `otlp_rotel.rs`.)

mod common;
#[path = "support/exposition.rs"]
mod exposition;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/otlp_workload.rs"]
mod otlp_workload;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aureus_observability::config::{OtlpConfig, OtlpProtocol, OtlpSignalConfig};
use aureus_observability::{Config, Telemetry};
use otlp_receiver::{OtlpReceiver, Received, Reply};

fn otlp(endpoint: &str, protocol: OtlpProtocol) -> OtlpConfig {
    let mut config = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint.to_owned()),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    config.batch.interval = "100ms".into();
    config.metrics.interval = Some("60s".into());
    config.retry.initial_delay = "50ms".into();
    config.retry.max_delay = "200ms".into();
    config.retry.max_jitter = "10ms".into();
    config
}

fn only_logs(mut config: OtlpConfig) -> OtlpConfig {
    config.traces.enabled = false;
    config.metrics.enabled = false;
    config
}

fn stack(otlp: OtlpConfig) -> (tracing::Dispatch, Telemetry) {
    let config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .expect("valid config");
    aureus_observability::build(config).expect("stack builds")
}

fn paths(received: &[Received]) -> Vec<&str> {
    received.iter().map(|r| r.path.as_str()).collect()
}

fn has(received: &[Received], path: &str) -> bool {
    received.iter().any(|r| r.path == path)
}

fn logs_sent(received: &[Received]) -> Vec<&Received> {
    received
        .iter()
        .filter(|r| r.path.ends_with("logs") || r.path.contains("LogsService"))
        .collect()
}

/// Items in an OTLP/JSON request: `resource[].scope[].items[]`.
fn json_items(request: &Received, resource: &str, scope: &str, items: &str) -> usize {
    let body: serde_json::Value = serde_json::from_slice(&request.payload()).expect("JSON body");
    body[resource]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r[scope].as_array().into_iter().flatten())
        .map(|s| s[items].as_array().map_or(0, Vec::len))
        .sum()
}

/// Log records in an OTLP/JSON logs request.
fn json_log_records(request: &Received) -> usize {
    json_items(request, "resourceLogs", "scopeLogs", "logRecords")
}

fn emit_workload(dispatch: &tracing::Dispatch) -> otlp_workload::Emitted {
    tracing::dispatcher::with_default(dispatch, || otlp_workload::run(2, 2))
}

const TRACES: &str = "/v1/traces";
const LOGS: &str = "/v1/logs";
const METRICS: &str = "/v1/metrics";

#[test]
fn http_protobuf_sends_every_signal_gzipped_with_headers_to_its_path() {
    let receiver = OtlpReceiver::start();
    let mut config = otlp(&receiver.endpoint(), OtlpProtocol::HttpProtobuf);
    config.compression = Some("gzip".into());
    config.headers = BTreeMap::from([("authorization".into(), "Bearer s3cret".into())]);
    config.logs.headers = BTreeMap::from([("x-tenant".into(), "logs-team".into())]);
    let (dispatch, telemetry) = stack(config);
    emit_workload(&dispatch);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("all three signals", Duration::from_secs(10), |r| {
        has(r, TRACES) && has(r, LOGS) && has(r, METRICS)
    });
    for request in &received {
        if request.path == LOGS {
            assert_eq!(request.header("x-tenant"), Some("logs-team"));
            assert_eq!(
                request.header("authorization"),
                None,
                "[otlp.logs] headers replace [otlp] headers (OTLP exporter spec: the signal's option overrides)"
            );
        } else {
            assert_eq!(
                request.header("authorization"),
                Some("Bearer s3cret"),
                "{}",
                request.path
            );
            assert_eq!(request.header("x-tenant"), None, "{}", request.path);
        }
        assert_eq!(request.header("content-type"), Some("application/x-protobuf"));
        assert!(request.compressed(), "{} is gzipped", request.path);
        assert!(!request.payload().is_empty());
    }
    // Self-metrics per signal: exports counted and timed.
    let exposition = telemetry.metrics().unwrap().render();
    let series = exposition::series(&exposition);
    for signal in ["traces", "logs", "metrics"] {
        let labels = BTreeMap::from([("signal".to_owned(), signal.to_owned())]);
        let exported = series[&("aureus_telemetry_otlp_exported_total".to_owned(), labels.clone())];
        assert!(exported >= 1.0, "{signal}: {exported}");
        let timed = series[&("aureus_telemetry_otlp_export_duration_seconds_count".to_owned(), labels)];
        assert!(timed >= 1.0, "{signal}: {timed}");
    }
    assert!(
        !exposition.contains("aureus_telemetry_otlp_dropped_total{signal=\"logs\",reason=\"queue_full\"}"),
        "log queue drops are the otlp sink's series"
    );
    let report = telemetry.shutdown(Duration::from_secs(5));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn http_json_sends_json_uncompressed_by_default() {
    let receiver = OtlpReceiver::start();
    let (dispatch, telemetry) = stack(otlp(&receiver.endpoint(), OtlpProtocol::HttpJson));
    let emitted = emit_workload(&dispatch);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("all three signals", Duration::from_secs(10), |r| {
        has(r, TRACES) && has(r, LOGS) && has(r, METRICS)
    });
    for request in &received {
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(!request.compressed());
        let body: serde_json::Value = serde_json::from_slice(&request.payload()).expect("JSON");
        let key = match request.path.as_str() {
            TRACES => "resourceSpans",
            LOGS => "resourceLogs",
            _ => "resourceMetrics",
        };
        assert!(body[key].is_array(), "{key} in {}", request.path);
    }
    let records: usize = logs_sent(&received).iter().map(|r| json_log_records(r)).sum();
    assert_eq!(records, emitted.events(), "every event is one log record");
    // The metrics flushed above equal /metrics now (nothing in flight).
    let prom = exposition::series(&telemetry.metrics().unwrap().render());
    let last = received.iter().rev().find(|r| r.path == METRICS).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&last.payload()).unwrap();
    let mut compared = 0;
    for metric in body["resourceMetrics"][0]["scopeMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["metrics"].as_array().unwrap())
    {
        let name = metric["name"].as_str().unwrap();
        if !name.starts_with("aureus_") || name.starts_with("aureus_telemetry") {
            continue;
        }
        let labels = |point: &serde_json::Value| -> BTreeMap<String, String> {
            point["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["key"].as_str().unwrap().to_owned(),
                        a["value"]["stringValue"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let number = |v: &serde_json::Value| v.as_str().map_or_else(|| v.as_f64().unwrap(), |s| s.parse().unwrap());
        if let Some(sum) = metric.get("sum") {
            assert_eq!(sum["isMonotonic"], true, "{name}");
            assert_eq!(sum["aggregationTemporality"], 2, "{name} is cumulative");
            for point in sum["dataPoints"].as_array().unwrap() {
                let key = (format!("{name}_total"), labels(point));
                assert_eq!(number(&point["asInt"]), prom[&key], "{key:?}");
                compared += 1;
            }
        }
        if let Some(histogram) = metric.get("histogram") {
            for point in histogram["dataPoints"].as_array().unwrap() {
                let key = (format!("{name}_count"), labels(point));
                assert_eq!(number(&point["count"]), prom[&key], "{key:?}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 8, "compared {compared} series");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn grpc_sends_metadata_and_gzip_frames_to_each_service() {
    let receiver = OtlpReceiver::start();
    let mut config = otlp(&receiver.endpoint(), OtlpProtocol::Grpc);
    config.compression = Some("gzip".into());
    config.headers = BTreeMap::from([("authorization".into(), "Bearer grpc-token".into())]);
    config.traces.headers = BTreeMap::from([("x-trace-key".into(), "t1".into())]);
    let (dispatch, telemetry) = stack(config);
    emit_workload(&dispatch);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let services = [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    ];
    let received = receiver.wait_for("all three services", Duration::from_secs(10), |r| {
        services.iter().all(|s| has(r, s))
    });
    for request in &received {
        assert!(request.is_grpc(), "{}", request.path);
        if request.path == services[0] {
            assert_eq!(request.header("x-trace-key"), Some("t1"));
            assert_eq!(
                request.header("authorization"),
                None,
                "the traces' own metadata replaces the shared"
            );
        } else {
            assert_eq!(request.header("authorization"), Some("Bearer grpc-token"));
            assert_eq!(request.header("x-trace-key"), None);
        }
        assert_eq!(request.header("grpc-encoding"), Some("gzip"));
        assert!(request.compressed(), "the gRPC frame is compressed");
        // Our metrics client identifies itself as the SDK's exporters do.
        assert_eq!(
            request.header("user-agent"),
            received[0].header("user-agent"),
            "{}",
            request.path
        );
        assert!(
            request
                .header("user-agent")
                .is_some_and(|agent| agent.starts_with("OTel-OTLP-Exporter-Rust/")),
            "{:?}",
            request.header("user-agent")
        );
        assert!(!request.payload().is_empty());
    }
    let report = telemetry.shutdown(Duration::from_secs(5));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn standard_variables_choose_protocol_per_signal_endpoint_and_headers() {
    let receiver = OtlpReceiver::start();
    let base = receiver.endpoint();
    let logs_url = format!("{base}/custom/logs-path");
    let mut config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .build()
        .unwrap();
    config
        .apply_env([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%201"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", logs_url.as_str()),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ])
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    emit_workload(&dispatch);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("traces and logs", Duration::from_secs(10), |r| {
        has(r, TRACES) && has(r, "/custom/logs-path")
    });
    assert!(
        !has(&received, METRICS),
        "metrics export is off: {:?}",
        paths(&received)
    );
    for request in &received {
        assert_eq!(request.header("x-api-key"), Some("k 1"));
        if request.path == TRACES {
            assert_eq!(request.header("content-type"), Some("application/json"));
            assert!(request.compressed());
        } else {
            assert_eq!(request.header("content-type"), Some("application/x-protobuf"));
            assert!(!request.compressed());
        }
    }
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn log_batches_are_cut_by_size_and_sent_after_the_interval() {
    let receiver = OtlpReceiver::start();
    let mut config = only_logs(otlp(&receiver.endpoint(), OtlpProtocol::HttpJson));
    config.batch.max_batch = 10;
    config.batch.interval = "300ms".into();
    let (dispatch, telemetry) = stack(config);
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..35 {
            tracing::info!(target: "kernel", i, "burst");
        }
    });
    let received = receiver.wait_for("35 records", Duration::from_secs(10), |r| {
        r.iter().map(json_log_records).sum::<usize>() == 35
    });
    let sizes: Vec<usize> = received.iter().map(json_log_records).collect();
    assert!(sizes.iter().all(|&n| n <= 10), "no batch above max_batch: {sizes:?}");
    assert!(sizes.len() >= 4, "35 records in batches of at most 10: {sizes:?}");
    // A lone record waits for the interval, then goes out on its own.
    let before = receiver.received().len();
    let sent_at = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || tracing::info!(target: "kernel", "lone"));
    let received = receiver.wait_for("the lone record", Duration::from_secs(10), |r| r.len() > before);
    let waited = received[before].at.duration_since(sent_at);
    assert!(
        waited >= Duration::from_millis(250),
        "the partial batch waited {waited:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn http_retries_honour_retry_after() {
    let receiver = OtlpReceiver::start();
    receiver.script([Reply::Http(429, Some("1")), Reply::Ok]);
    let (dispatch, telemetry) = stack(only_logs(otlp(&receiver.endpoint(), OtlpProtocol::HttpProtobuf)));
    tracing::dispatcher::with_default(&dispatch, || tracing::warn!(target: "kernel", "throttled once"));
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("two attempts", Duration::from_secs(10), |r| r.len() >= 2);
    let waited = received[1].at.duration_since(received[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
    assert_eq!(received[0].body, received[1].body, "the same batch is resent");
    let health = telemetry.sinks().health("otlp").unwrap();
    assert_eq!((health.delivered, health.failed), (1, 0), "{health:?}");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn http_retries_back_off_exponentially_without_retry_after() {
    let receiver = OtlpReceiver::start();
    receiver.script([Reply::Http(503, None), Reply::Http(502, None), Reply::Ok]);
    let (dispatch, telemetry) = stack(only_logs(otlp(&receiver.endpoint(), OtlpProtocol::HttpProtobuf)));
    tracing::dispatcher::with_default(&dispatch, || tracing::warn!(target: "kernel", "needs three tries"));
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("three attempts", Duration::from_secs(10), |r| r.len() >= 3);
    let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect();
    // initial_delay 50 ms, doubling, max 200 ms, jitter up to 10 ms.
    assert!(
        gaps[0] >= Duration::from_millis(45) && gaps[0] < Duration::from_millis(900),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(95) && gaps[1] < Duration::from_millis(900),
        "{gaps:?}"
    );
    let health = telemetry.sinks().health("otlp").unwrap();
    assert_eq!((health.delivered, health.failed), (1, 0), "{health:?}");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn non_retryable_statuses_fail_once_and_are_counted() {
    let receiver = OtlpReceiver::start();
    receiver.script([Reply::Http(400, None)]);
    let (dispatch, telemetry) = stack(only_logs(otlp(&receiver.endpoint(), OtlpProtocol::HttpProtobuf)));
    tracing::dispatcher::with_default(&dispatch, || tracing::warn!(target: "kernel", "rejected"));
    telemetry.flush(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.received().len(), 1, "400 is not retried");
    let health = telemetry.sinks().health("otlp").unwrap();
    assert_eq!(health.failed, 1, "{health:?}");
    assert!(health.last_error.is_some());
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn grpc_retries_unavailable() {
    let receiver = OtlpReceiver::start();
    receiver.script([Reply::Grpc(14), Reply::Ok]);
    let (dispatch, telemetry) = stack(only_logs(otlp(&receiver.endpoint(), OtlpProtocol::Grpc)));
    tracing::dispatcher::with_default(&dispatch, || tracing::warn!(target: "kernel", "retry me"));
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("two attempts", Duration::from_secs(10), |r| r.len() >= 2);
    assert_eq!(received[0].body, received[1].body);
    let health = telemetry.sinks().health("otlp").unwrap();
    assert_eq!((health.delivered, health.failed), (1, 0), "{health:?}");
    telemetry.shutdown(Duration::from_secs(5));
}

fn only_metrics(mut config: OtlpConfig) -> OtlpConfig {
    config.traces.enabled = false;
    config.logs.enabled = false;
    config
}

/// Metrics over gRPC (our own client, for the exemplars) follow the OTLP
/// specification's retry rules like the other signals: UNAVAILABLE is
/// retried, a RetryInfo delay is waited out, RESOURCE_EXHAUSTED without
/// one and INVALID_ARGUMENT are final, and each outcome is counted.
#[test]
fn grpc_metrics_follow_the_retry_rules_and_are_counted() {
    let receiver = OtlpReceiver::start();
    let mut config = only_metrics(otlp(&receiver.endpoint(), OtlpProtocol::Grpc));
    config.retry.max_retries = 5;
    let (dispatch, telemetry) = stack(config);
    emit_workload(&dispatch);
    let metrics_calls = |r: &[Received]| -> Vec<Received> {
        r.iter()
            .filter(|r| r.path == "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
            .cloned()
            .collect()
    };

    // Retried, then throttled by the server's RetryInfo, then accepted.
    let throttle = Duration::from_millis(700);
    receiver.script([Reply::Grpc(14), Reply::GrpcRetryInfo(14, throttle), Reply::Ok]);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let calls = metrics_calls(&receiver.wait_for("three attempts", Duration::from_secs(10), |r| {
        metrics_calls(r).len() >= 3
    }));
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls[2].at - calls[1].at >= throttle,
        "waited {:?} for the server's RetryInfo",
        calls[2].at - calls[1].at
    );
    assert_eq!(calls[0].body, calls[2].body, "each attempt sends the same export");
    let counts = telemetry.otlp_counts("metrics").expect("metrics are exported");
    assert_eq!(
        (counts.exported, counts.failed, counts.export_errors),
        (1, 0, 0),
        "{counts:?}"
    );

    // Final statuses: tried once each, counted as failed.
    for code in [8, 3] {
        let before = metrics_calls(&receiver.received()).len();
        receiver.script([Reply::Grpc(code)]);
        assert!(!telemetry.flush(Duration::from_secs(10)), "a failed export is no flush");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            metrics_calls(&receiver.received()).len(),
            before + 1,
            "code {code}: one attempt"
        );
    }
    let counts = telemetry.otlp_counts("metrics").expect("metrics are exported");
    assert_eq!(
        (counts.exported, counts.failed, counts.export_errors),
        (1, 2, 2),
        "{counts:?}"
    );
    let last_error = counts.last_error.clone().unwrap_or_default();
    assert!(last_error.contains("InvalidArgument"), "{last_error}");
    drop(dispatch);
    telemetry.shutdown(Duration::from_secs(5));
}

/// A success (grpc-status 0) whose answer is not an OTLP response —
/// garbage, or a message over gRPC's usual 4 MiB limit — is a success, as
/// over HTTP: the collector took the data, so it is neither sent again (a
/// duplicate) nor counted as failed.
#[test]
fn grpc_metrics_accepted_with_an_unreadable_answer_are_not_sent_again() {
    let receiver = OtlpReceiver::start();
    let mut config = only_metrics(otlp(&receiver.endpoint(), OtlpProtocol::Grpc));
    config.retry.max_retries = 3;
    let (dispatch, telemetry) = stack(config);
    emit_workload(&dispatch);
    let metrics_calls = |r: &[Received]| {
        r.iter()
            .filter(|r| r.path == "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
            .count()
    };
    for (n, reply) in [Reply::Garbage, Reply::Oversized(6 << 20)].into_iter().enumerate() {
        receiver.script([reply.clone()]);
        assert!(telemetry.flush(Duration::from_secs(10)), "{reply:?}: a success");
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(metrics_calls(&receiver.received()), n + 1, "{reply:?}: sent once");
    }
    let counts = telemetry.otlp_counts("metrics").expect("metrics are exported");
    assert_eq!(
        (counts.exported, counts.failed, counts.export_errors),
        (2, 0, 0),
        "{counts:?}"
    );
    drop(dispatch);
    telemetry.shutdown(Duration::from_secs(5));
}

/// The export's `timeout` bounds the whole export over gRPC, retries and
/// the answer included: a collector that refuses at once and then hangs
/// does not get a second full timeout.
#[test]
fn grpc_metrics_export_ends_within_its_timeout_across_retries() {
    let receiver = OtlpReceiver::start();
    let mut config = only_metrics(otlp(&receiver.endpoint(), OtlpProtocol::Grpc));
    config.timeout = Some("1s".into());
    config.retry.max_retries = 5;
    config.retry.initial_delay = "600ms".into();
    config.retry.max_delay = "600ms".into();
    let (dispatch, telemetry) = stack(config);
    emit_workload(&dispatch);
    receiver.script([Reply::Grpc(14), Reply::Delay(Duration::from_secs(5))]);
    let started = Instant::now();
    assert!(!telemetry.flush(Duration::from_secs(10)));
    let took = started.elapsed();
    // Without the bound: 600 ms of backoff, then a second full second.
    assert!(took < Duration::from_millis(1_350), "the export took {took:?}");
    let counts = telemetry.otlp_counts("metrics").expect("metrics are exported");
    assert_eq!((counts.exported, counts.failed), (0, 1), "{counts:?}");
    drop(dispatch);
    telemetry.shutdown(Duration::from_secs(2));
}

/// A server asking (RetryInfo) for a wait longer than what is left of the
/// export's timeout: the export gives up at once instead of waiting past it.
#[test]
fn grpc_metrics_throttled_past_the_timeout_fail_at_once() {
    let receiver = OtlpReceiver::start();
    let mut config = only_metrics(otlp(&receiver.endpoint(), OtlpProtocol::Grpc));
    config.timeout = Some("2s".into());
    config.retry.max_retries = 5;
    let (dispatch, telemetry) = stack(config);
    emit_workload(&dispatch);
    receiver.script([Reply::GrpcRetryInfo(8, Duration::from_secs(60))]);
    let started = Instant::now();
    assert!(!telemetry.flush(Duration::from_secs(10)));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_500), "the export took {took:?}");
    let calls = receiver
        .received()
        .iter()
        .filter(|r| r.path.ends_with("MetricsService/Export"))
        .count();
    assert_eq!(calls, 1);
    let counts = telemetry.otlp_counts("metrics").expect("metrics are exported");
    assert_eq!((counts.exported, counts.failed), (0, 1), "{counts:?}");
    drop(dispatch);
    telemetry.shutdown(Duration::from_secs(2));
}

/// A collector's OTLP partial success (items rejected within an accepted
/// export, never retried) is counted per signal — spans, log records and
/// metric data points — over HTTP/protobuf, HTTP/JSON and gRPC metrics, in
/// the export counts and as `aureus_telemetry_otlp_dropped_total{reason="rejected"}`.
#[test]
fn partial_success_rejections_are_counted_on_every_path() {
    let cases = [
        ("traces", OtlpProtocol::HttpProtobuf),
        ("logs", OtlpProtocol::HttpProtobuf),
        ("metrics", OtlpProtocol::HttpProtobuf),
        ("traces", OtlpProtocol::HttpJson),
        ("logs", OtlpProtocol::HttpJson),
        ("metrics", OtlpProtocol::HttpJson),
        ("metrics", OtlpProtocol::Grpc),
    ];
    for (signal, protocol) in cases {
        let receiver = OtlpReceiver::start();
        receiver.script([Reply::Partial(3)]);
        let mut config = otlp(&receiver.endpoint(), protocol);
        config.traces.enabled = signal == "traces";
        config.logs.enabled = signal == "logs";
        config.metrics.enabled = signal == "metrics";
        let (dispatch, telemetry) = stack(config);
        emit_workload(&dispatch);
        assert!(telemetry.flush(Duration::from_secs(10)), "{signal} {protocol:?}");
        let counts = telemetry.otlp_counts(signal).expect("the signal is exported");
        assert_eq!(counts.rejected, 3, "{signal} {protocol:?}: {counts:?}");
        assert_eq!(counts.failed, 0, "{signal} {protocol:?}: accepted, not failed");
        assert_eq!(receiver.script_left(), 0, "{signal} {protocol:?}: the answer was used");
        let requests = receiver.received().len();
        let exposition = telemetry.metrics().expect("metrics on").render();
        let line = format!("aureus_telemetry_otlp_dropped_total{{signal=\"{signal}\",reason=\"rejected\"}} 3");
        assert!(
            exposition.contains(&line),
            "{signal} {protocol:?}: no `{line}` in\n{exposition}"
        );
        drop(dispatch);
        let report = telemetry.shutdown(Duration::from_secs(5)).to_string();
        // (Log records are the `otlp` sink's entry in the report.)
        if signal != "logs" {
            assert!(report.contains("rejected by the collector 3"), "{report}");
        }
        // Never retried: a partial success is an answer.
        assert!(
            receiver.received().len() <= requests + 1,
            "{signal} {protocol:?}: not sent again"
        );
    }
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    // Nothing listens: every export fails slowly, the small queue fills.
    let mut config = only_logs(otlp("http://127.0.0.1:9", OtlpProtocol::HttpProtobuf));
    config.batch.queue_capacity = 16;
    config.batch.max_batch = 4;
    config.timeout = Some("200ms".into());
    let (dispatch, telemetry) = stack(config);
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..2_000 {
            tracing::info!(target: "kernel", i, "flood");
        }
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "emitting never waits on the exporter"
    );
    let report = telemetry.shutdown(Duration::from_secs(2));
    let otlp = report.sink("otlp").expect("otlp sink report");
    let h = &otlp.health;
    assert!(h.dropped_queue_full > 0, "{h:?}");
    assert_eq!(
        h.delivered + h.failed + h.dropped() + otlp.undelivered,
        2_000,
        "every record accounted for: {h:?}, undelivered {}",
        otlp.undelivered
    );
}

#[test]
fn shutdown_is_bounded_when_the_collector_is_unreachable_or_hangs() {
    // A listener that accepts and never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    for (endpoint, protocol) in [
        ("http://127.0.0.1:9".to_owned(), OtlpProtocol::HttpProtobuf),
        ("http://127.0.0.1:9".to_owned(), OtlpProtocol::Grpc),
        (hanging_url.clone(), OtlpProtocol::HttpProtobuf),
        (hanging_url.clone(), OtlpProtocol::Grpc),
    ] {
        let mut config = otlp(&endpoint, protocol);
        config.timeout = Some("1s".into());
        config.metrics.interval = Some("200ms".into());
        let (dispatch, telemetry) = stack(config);
        emit_workload(&dispatch);
        let started = Instant::now();
        let report = telemetry.shutdown(Duration::from_secs(2));
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(4),
            "{endpoint} {protocol:?}: shutdown took {took:?}"
        );
        assert!(
            !report.is_clean(),
            "{endpoint} {protocol:?}: losses are reported\n{report}"
        );
    }
    drop(hanging);
}

#[test]
fn an_export_timeout_bounds_each_attempt() {
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = only_logs(otlp(
        &format!("http://{}", hanging.local_addr().unwrap()),
        OtlpProtocol::HttpProtobuf,
    ));
    config.timeout = Some("300ms".into());
    config.retry.max_retries = 0;
    let (dispatch, telemetry) = stack(config);
    tracing::dispatcher::with_default(&dispatch, || tracing::info!(target: "kernel", "into the void"));
    let started = Instant::now();
    telemetry.flush(Duration::from_secs(5));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the export gave up after its timeout: {took:?}"
    );
    let health = telemetry.sinks().health("otlp").unwrap();
    assert_eq!(health.failed, 1, "{health:?}");
    telemetry.shutdown(Duration::from_secs(2));
}

#[test]
fn invalid_signal_settings_are_typed_errors() {
    let bad = OtlpConfig {
        enabled: true,
        logs: OtlpSignalConfig {
            endpoint: Some("localhost:4318".into()),
            ..OtlpSignalConfig::default()
        },
        ..OtlpConfig::default()
    };
    let err = Config::builder().otlp(bad).build().unwrap_err().to_string();
    assert!(
        err.contains("otlp.logs.endpoint") && err.contains("localhost:4318"),
        "{err}"
    );
}

/// Spans in an OTLP/JSON traces request.
fn json_spans(request: &Received) -> usize {
    json_items(request, "resourceSpans", "scopeSpans", "spans")
}

#[test]
fn span_batches_are_cut_by_size_and_interval() {
    let receiver = OtlpReceiver::start();
    let mut config = otlp(&receiver.endpoint(), OtlpProtocol::HttpJson);
    config.logs.enabled = false;
    config.metrics.enabled = false;
    config.batch.max_batch = 10;
    config.batch.interval = "300ms".into();
    let (dispatch, telemetry) = stack(config);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..25 {
            let _span = tracing::info_span!("unit", i).entered();
        }
    });
    let received = receiver.wait_for("25 spans", Duration::from_secs(10), |r| {
        r.iter().map(json_spans).sum::<usize>() == 25
    });
    let sizes: Vec<usize> = received.iter().map(json_spans).collect();
    assert!(sizes.iter().all(|&n| n <= 10) && sizes.len() >= 3, "{sizes:?}");
    let before = receiver.received().len();
    let ended_at = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || drop(tracing::info_span!("lone").entered()));
    let received = receiver.wait_for("the lone span", Duration::from_secs(10), |r| r.len() > before);
    let waited = received[before].at.duration_since(ended_at);
    assert!(
        waited >= Duration::from_millis(250),
        "the partial batch waited {waited:?}"
    );
    let report = telemetry.shutdown(Duration::from_secs(5));
    let traces = report.otlp.iter().find(|o| o.signal == "traces").unwrap();
    assert_eq!(traces.counts.exported, 26, "{report}");
}

#[test]
fn a_full_span_queue_drops_and_counts() {
    let mut config = otlp("http://127.0.0.1:9", OtlpProtocol::HttpProtobuf);
    config.logs.enabled = false;
    config.metrics.enabled = false;
    config.batch.queue_capacity = 16;
    config.batch.max_batch = 4;
    config.timeout = Some("200ms".into());
    let (dispatch, telemetry) = stack(config);
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..2_000 {
            let _span = tracing::info_span!("flood", i).entered();
        }
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ending spans never waits on the exporter"
    );
    let during = telemetry.otlp_counts("traces").unwrap();
    assert!(during.dropped_queue_full > 0, "{during:?}");
    let exposition = telemetry.metrics().unwrap().render();
    assert!(
        exposition.contains("aureus_telemetry_otlp_dropped_total{signal=\"traces\",reason=\"queue_full\"}"),
        "the drops are in the self-metrics"
    );
    let report = telemetry.shutdown(Duration::from_secs(3));
    let c = &report.otlp.iter().find(|o| o.signal == "traces").unwrap().counts;
    assert_eq!(c.exported, 0);
    assert!(c.dropped_queue_full > 1_000, "{c:?}");
    assert_eq!(
        c.exported + c.failed + c.dropped_queue_full + c.queued,
        2_000,
        "every span accounted for: {c:?}"
    );
    assert!(!report.is_clean());
}

#[test]
fn spans_carry_their_own_correlation_id_however_they_start() {
    let receiver = OtlpReceiver::start();
    let mut config = otlp(&receiver.endpoint(), OtlpProtocol::HttpJson);
    config.logs.enabled = false;
    config.metrics.enabled = false;
    let (dispatch, telemetry) = stack(config);
    tracing::dispatcher::with_default(&dispatch, || {
        // Created, never entered: started when its child is created below.
        let parent = tracing::info_span!("parent", correlation_id = "corr-a");
        let other = tracing::info_span!("other", correlation_id = "corr-b");
        let _in_other = other.enter();
        let child = tracing::info_span!(parent: &parent, "child");
        drop(child.enter());
        drop(child);
        drop(parent);
        // Never entered at all: started when it closes.
        drop(tracing::info_span!("closed_unentered", correlation_id = "corr-c"));
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("4 spans", Duration::from_secs(10), |r| {
        r.iter().map(json_spans).sum::<usize>() >= 3
    });
    let mut correlation = std::collections::HashMap::new();
    for request in &received {
        let body: serde_json::Value = serde_json::from_slice(&request.payload()).unwrap();
        for span in body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap() {
            let id = span["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "aureus.correlation_id")
                .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned());
            correlation.insert(span["name"].as_str().unwrap().to_owned(), id);
        }
    }
    telemetry.shutdown(Duration::from_secs(5));
    assert_eq!(correlation["parent"].as_deref(), Some("corr-a"), "{correlation:?}");
    assert_eq!(correlation["child"].as_deref(), Some("corr-a"), "{correlation:?}");
    assert_eq!(
        correlation["closed_unentered"].as_deref(),
        Some("corr-c"),
        "{correlation:?}"
    );
}

#[test]
fn alert_gauges_go_out_too() {
    use aureus_observability::config::{MonitoringConfig, RuleOverride};
    let receiver = OtlpReceiver::start();
    let mut otlp_config = otlp(&receiver.endpoint(), OtlpProtocol::HttpJson);
    otlp_config.traces.enabled = false;
    otlp_config.logs.enabled = false;
    let rules = BTreeMap::from([(
        "rollbacks".to_owned(),
        RuleOverride {
            window: Some("5s".into()),
            ..Default::default()
        },
    )]);
    let config = Config {
        monitoring: MonitoringConfig {
            evaluate_every: "100ms".into(),
            rules,
            ..Default::default()
        },
        ..Config::builder()
            .no_server()
            .no_sinks()
            .otlp(otlp_config)
            .build()
            .unwrap()
    };
    let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..12 {
            aureus_observability::event::Rollback {
                workflow_id: "wf-alert",
                task_id: &format!("t{i}"),
                snapshot_id: "snap-0",
                reason: "test",
            }
            .emit();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let firing = |points: &serde_json::Value| {
        points.as_array().into_iter().flatten().any(|p| {
            let attrs = p["attributes"].as_array().cloned().unwrap_or_default();
            let has = |k: &str, v: &str| attrs.iter().any(|a| a["key"] == k && a["value"]["stringValue"] == v);
            has("alert", "rollbacks") && p["asDouble"].as_f64() == Some(1.0)
        })
    };
    loop {
        assert!(telemetry.flush(Duration::from_secs(5)));
        let gauge = receiver.received().iter().rev().find_map(|request| {
            let body: serde_json::Value = serde_json::from_slice(&request.payload()).ok()?;
            body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
                .as_array()?
                .iter()
                .find(|m| m["name"] == "aureus_alerts_firing")
                .cloned()
        });
        if let Some(gauge) = &gauge {
            assert!(!gauge["gauge"]["dataPoints"].as_array().unwrap().is_empty());
            if firing(&gauge["gauge"]["dataPoints"]) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the firing alert never reached OTLP: {gauge:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let exposition = telemetry.metrics().unwrap().render();
    assert!(exposition.contains("aureus_alerts_firing{alert=\"rollbacks\",severity=\"critical\"} 1"));
    telemetry.shutdown(Duration::from_secs(5));
}

/// A stack configured by `vars` the way `Config::from_env` does it, batching
/// every 100 ms and exporting metrics only on flush.
fn env_stack(vars: &[(&str, &str)]) -> (tracing::Dispatch, Telemetry) {
    let mut config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .build()
        .unwrap();
    let mut all = vec![
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "60000"),
    ];
    all.extend_from_slice(vars);
    config.apply_env(all).expect("valid variables");
    aureus_observability::build(config).expect("stack builds")
}

/// The resource attributes of an OTLP/JSON request, as strings.
fn json_resource(request: &Received) -> BTreeMap<String, String> {
    let body: serde_json::Value = serde_json::from_slice(&request.payload()).expect("JSON body");
    let resource = body
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v[0]["resource"]["attributes"].as_array().cloned())
        .unwrap_or_default();
    resource
        .iter()
        .filter_map(|a| {
            Some((
                a["key"].as_str()?.to_owned(),
                a["value"]["stringValue"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn per_signal_header_variables_replace_the_generic_list_on_the_wire() {
    // Issue 11, item 3: the trace requests must not carry the generic headers.
    let receiver = OtlpReceiver::start();
    let (dispatch, telemetry) = env_stack(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Basic%20abc,x-tenant=a%2Cb"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-trace-key=t1"),
    ]);
    emit_workload(&dispatch);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("all three signals", Duration::from_secs(10), |r| {
        has(r, TRACES) && has(r, LOGS) && has(r, METRICS)
    });
    for request in &received {
        let (authorization, tenant, trace_key) = (
            request.header("authorization"),
            request.header("x-tenant"),
            request.header("x-trace-key"),
        );
        if request.path == TRACES {
            assert_eq!((authorization, tenant, trace_key), (None, None, Some("t1")));
        } else {
            assert_eq!(
                (authorization, tenant, trace_key),
                (Some("Basic abc"), Some("a,b"), None),
                "{}",
                request.path
            );
        }
    }
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn base_and_per_signal_endpoint_urls_follow_the_specification() {
    // "Endpoint URLs for OTLP/HTTP": the base gets `v1/<signal>` after a
    // slash; a per-signal URL is used as is, with `/` when it has no path.
    let receiver = OtlpReceiver::start();
    let base = receiver.endpoint();
    type Variables<'a> = Vec<(&'a str, String)>;
    let cases: Vec<(Variables, [&str; 3])> = vec![
        (
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{base}/")),
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", base.clone()),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", format!("{base}/v1/metrics/")),
            ],
            ["/v1/traces", "/", "/v1/metrics/"],
        ),
        (
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{base}/mycollector"))],
            [
                "/mycollector/v1/traces",
                "/mycollector/v1/logs",
                "/mycollector/v1/metrics",
            ],
        ),
        (
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{base}/mycollector/")),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("{base}/custom/spans")),
            ],
            ["/custom/spans", "/mycollector/v1/logs", "/mycollector/v1/metrics"],
        ),
    ];
    for (vars, [traces, logs, metrics]) in cases {
        let before = receiver.received().len();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (dispatch, telemetry) = env_stack(&vars);
        emit_workload(&dispatch);
        assert!(telemetry.flush(Duration::from_secs(10)));
        let received = receiver.wait_for(&format!("{traces} {logs} {metrics}"), Duration::from_secs(10), |r| {
            let new = &r[before..];
            has(new, traces) && has(new, logs) && has(new, metrics)
        });
        let paths: Vec<&str> = paths(&received[before..]);
        assert!(
            paths.iter().all(|p| [traces, logs, metrics].contains(p)),
            "{vars:?}: {paths:?}"
        );
        telemetry.shutdown(Duration::from_secs(5));
    }
}

#[test]
fn resource_variables_reach_the_wire_decoded() {
    let receiver = OtlpReceiver::start();
    let (dispatch, telemetry) = env_stack(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attributes,k%2C1=v%3D1,note=Am%C3%A9lie a+b,deployment.environment=staging",
        ),
        ("OTEL_SERVICE_NAME", "checkout"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ]);
    emit_workload(&dispatch);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("traces", Duration::from_secs(10), |r| has(r, TRACES));
    assert!(
        !has(&received, LOGS) && !has(&received, METRICS),
        "{:?}",
        paths(&received)
    );
    let resource = json_resource(&received[0]);
    assert_eq!(resource["service.name"], "checkout", "OTEL_SERVICE_NAME wins");
    assert_eq!(resource["k,1"], "v=1");
    assert_eq!(resource["note"], "Amélie a+b");
    assert_eq!(resource["deployment.environment"], "staging");
    telemetry.shutdown(Duration::from_secs(5));
}
