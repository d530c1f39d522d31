//! OTLP export verified against a real OpenTelemetry collector (`rotel`):
//! for each transport, what the collector received — spans, log records,
//! metrics, resource — has the right names, attributes, severities, trace
//! ids and correlation ids, and the counts equal what was emitted. Also: a
//! trace and its correlation id continuing across two services over HTTP,
//! a collector outage and recovery, and no feedback loop at trace level.

#[path = "support/demo.rs"]
mod demo;
#[path = "support/exposition.rs"]
mod exposition;
#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_workload.rs"]
mod otlp_workload;
#[path = "support/rotel.rs"]
mod rotel;

use std::collections::BTreeMap;
use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::{Config, Telemetry};
use rotel::{AttrValue, Received, Rotel};

fn otlp(endpoint: String, protocol: OtlpProtocol) -> OtlpConfig {
    let mut config = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    config.batch.interval = "100ms".into();
    config.metrics.interval = Some("60s".into());
    config
}

fn endpoint(collector: &Rotel, protocol: OtlpProtocol) -> String {
    match protocol {
        OtlpProtocol::Grpc => collector.grpc_endpoint(),
        _ => collector.http_endpoint(),
    }
}

fn stack(service: &str, level: &str, otlp: OtlpConfig) -> (tracing::Dispatch, Telemetry) {
    let mut config = Config::builder()
        .service_name(service)
        .service_version("9.9.9-test")
        .environment("ci")
        .resource_attribute("team", "kernel")
        .log_level(level)
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .expect("valid config");
    config.store.enabled = false;
    aureus_observability::build(config).expect("stack builds")
}

fn of_service<'a, T>(
    items: &'a [T],
    resource: impl Fn(&T) -> &BTreeMap<String, AttrValue>,
    service: &str,
) -> Vec<&'a T> {
    items
        .iter()
        .filter(|item| resource(item).get("service.name").and_then(|v| v.as_str()) == Some(service))
        .collect()
}

fn attr(attributes: &BTreeMap<String, AttrValue>, key: &str) -> AttrValue {
    attributes
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("attribute {key} missing in {attributes:?}"))
}

fn labels_of(attributes: &BTreeMap<String, AttrValue>) -> BTreeMap<String, String> {
    attributes.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

/// Every contract metric in `received` equals `/metrics`; `integers` is
/// false for HTTP/JSON, whose integer values this rotel version drops.
fn assert_metrics_equal(received: &Received, exposition: &str, service: &str, integers: bool) {
    let prom = exposition::series(exposition);
    let mut compared = 0;
    for name in [
        "aureus_tasks_started",
        "aureus_tasks_completed",
        "aureus_tool_calls",
        "aureus_crv_checks",
        "aureus_policy_checks",
        "aureus_snapshots",
        "aureus_rollbacks",
    ] {
        let metric = received
            .metrics
            .iter()
            .rev()
            .find(|m| m.name == name && m.resource.get("service.name").and_then(|v| v.as_str()) == Some(service))
            .unwrap_or_else(|| panic!("{name} not received"));
        assert_eq!(metric.data_type, "Sum", "{name}");
        assert_eq!(metric.is_monotonic, Some(true), "{name}");
        assert_eq!(metric.temporality, "Cumulative", "{name}");
        assert!(!metric.points.is_empty(), "{name} has points");
        for point in &metric.points {
            let key = (format!("{name}_total"), labels_of(&point.attributes));
            let expected = prom.get(&key).unwrap_or_else(|| panic!("{key:?} not on /metrics"));
            if integers {
                assert_eq!(point.value, Some(*expected), "{key:?}");
                compared += 1;
            }
        }
    }
    let histogram = received
        .metrics
        .iter()
        .rev()
        .find(|m| m.name == "aureus_task_duration_ms" && m.data_type == "Histogram")
        .map(|m| m.to_owned());
    if integers {
        let histogram = histogram.expect("duration histogram received");
        assert_eq!(histogram.unit, "ms");
        assert_eq!(histogram.temporality, "Cumulative");
        for point in &histogram.points {
            let labels = labels_of(&point.attributes);
            let count = prom[&("aureus_task_duration_ms_count".to_owned(), labels.clone())];
            let sum = prom[&("aureus_task_duration_ms_sum".to_owned(), labels.clone())];
            assert_eq!(point.count.map(|c| c as f64), Some(count), "{labels:?}");
            assert!((point.sum.unwrap_or_default() - sum).abs() < 1e-6, "{labels:?}");
            let mut cumulative = 0;
            for (bound, in_bucket) in point.bounds.iter().zip(&point.bucket_counts) {
                cumulative += in_bucket;
                let mut with_le = labels.clone();
                with_le.insert("le".into(), format_bound(*bound));
                let expected = prom
                    .get(&("aureus_task_duration_ms_bucket".to_owned(), with_le.clone()))
                    .unwrap_or_else(|| panic!("bucket {with_le:?} on /metrics"));
                assert_eq!(cumulative as f64, *expected, "bucket {with_le:?}");
            }
            compared += 1;
        }
        assert!(compared > 10, "compared {compared} series");
    }
}

fn format_bound(bound: f64) -> String {
    if bound.fract() == 0.0 {
        format!("{bound:.0}")
    } else {
        format!("{bound}")
    }
}

fn deliver_over(protocol: OtlpProtocol) {
    let collector = Rotel::start();
    let service = format!("aureus-{}", protocol.as_str().replace('/', "-"));
    let (dispatch, telemetry) = stack(&service, "info", otlp(endpoint(&collector, protocol), protocol));
    let emitted = tracing::dispatcher::with_default(&dispatch, || otlp_workload::run(6, 3));
    assert!(telemetry.flush(Duration::from_secs(15)), "flush in time");
    let exposition = telemetry.metrics().expect("metrics on").render();
    let got = collector.wait_for("every log record and span", Duration::from_secs(20), |r| {
        of_service(&r.logs, |l| &l.resource, &service).len() >= emitted.events()
            && of_service(&r.spans, |s| &s.resource, &service).len() >= emitted.spans
            && r.metrics.iter().any(|m| m.name == "aureus_rollbacks")
    });

    // Resource.
    let logs = of_service(&got.logs, |l| &l.resource, &service);
    let resource = &logs[0].resource;
    assert_eq!(attr(resource, "service.version"), "9.9.9-test");
    assert_eq!(attr(resource, "deployment.environment"), "ci");
    assert_eq!(attr(resource, "team"), "kernel");
    assert_eq!(attr(resource, "process.pid"), i64::from(std::process::id()));
    assert!(!attr(resource, "host.name").to_string().is_empty());

    // Log records: exactly one per event, severities, typed attributes, ids.
    assert_eq!(logs.len(), emitted.events(), "no loss, no duplicates");
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    for log in &logs {
        let kind = log
            .attributes
            .get("event_type")
            .map_or("plain".to_owned(), |v| v.to_string());
        *per_kind.entry(kind.clone()).or_default() += 1;
        let denied = |key: &str| log.attributes.get(key) == Some(&AttrValue::Bool(false));
        let expected = match kind.as_str() {
            "rollback" => 17,
            "crv_result" if denied("passed") => 13,
            "policy_check" if denied("allowed") => 13,
            "plain" => 13,
            _ => 9,
        };
        assert_eq!(log.severity_number, expected, "{kind}: {log:?}");
        assert!(!log.body.is_empty());
        if kind == "plain" {
            assert!(log.body.starts_with("retrying workflow wf-"), "{}", log.body);
            assert_eq!(attr(&log.attributes, "attempt"), 3_i64);
            assert_eq!(attr(&log.attributes, "ratio"), 0.5_f64);
            assert_eq!(attr(&log.attributes, "cached"), true);
        } else {
            assert_eq!(log.event_name, kind);
        }
        let correlation = attr(&log.attributes, "aureus.correlation_id").to_string();
        assert!(correlation.starts_with("corr-otlp-"), "{correlation}");
        assert_eq!(log.trace_id.len(), 32, "log carries its span's trace id: {log:?}");
        assert_eq!(log.span_id.len(), 16);
    }
    let emitted_kinds: BTreeMap<String, usize> = emitted.per_kind.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(per_kind, emitted_kinds);
    for log in logs.iter().filter(|l| l.event_name == "step_start") {
        assert_eq!(attr(&log.attributes, "attempt"), 1_i64);
    }
    for log in logs.iter().filter(|l| l.event_name == "step_end") {
        assert!(matches!(attr(&log.attributes, "success"), AttrValue::Bool(_)));
        assert!(matches!(attr(&log.attributes, "duration_ms"), AttrValue::Int(_)));
    }
    for log in logs.iter().filter(|l| l.event_name == "tool_call") {
        let args: serde_json::Value = serde_json::from_str(&attr(&log.attributes, "args").to_string()).unwrap();
        assert_eq!(args["options"]["dry_run"], true);
    }

    // Spans: one trace per workflow, task spans under it, correlation on all,
    // error status on the blocked tasks, Aureus events as span events.
    let spans = of_service(&got.spans, |s| &s.resource, &service);
    assert_eq!(spans.len(), emitted.spans, "no loss, no duplicates");
    let workflows: Vec<_> = spans.iter().filter(|s| s.name == "workflow").collect();
    assert_eq!(workflows.len(), 6);
    for task in &emitted.tasks {
        let workflow = workflows
            .iter()
            .find(|s| {
                s.attributes.get("workflow_id").map(|v| v.to_string()).as_deref() == Some(task.workflow_id.as_str())
            })
            .expect("workflow span");
        assert_eq!(
            attr(&workflow.attributes, "aureus.correlation_id"),
            task.correlation_id.as_str()
        );
        let span = spans
            .iter()
            .find(|s| {
                s.name == "task"
                    && s.trace_id == workflow.trace_id
                    && s.attributes.get("task_id").map(|v| v.to_string()).as_deref() == Some(task.task_id.as_str())
            })
            .expect("task span in the workflow's trace");
        assert_eq!(span.parent_id, workflow.span_id);
        assert_eq!(
            attr(&span.attributes, "aureus.correlation_id"),
            task.correlation_id.as_str()
        );
        if task.blocked {
            assert_eq!(span.status_code, "Error", "{span:?}");
            assert!(span.status_message.contains("blocked") || span.status_message.contains("failed"));
        } else {
            assert_eq!(span.status_code, "Unset", "{span:?}");
        }
        let kinds: Vec<String> = span
            .events
            .iter()
            .filter_map(|e| e.attributes.get("event_type").map(|v| v.to_string()))
            .collect();
        assert_eq!(kinds.len(), 6, "six Aureus events on the task span: {kinds:?}");
        assert!(span.events.iter().any(|e| e.name == "step_start"));
        // The task's log records point at this span.
        let task_logs: Vec<_> = logs.iter().filter(|l| l.span_id == span.span_id).collect();
        assert_eq!(task_logs.len(), 6, "log records carry the task span's id");
        assert!(task_logs.iter().all(|l| l.trace_id == span.trace_id));
    }

    // Metrics: the same values as /metrics at the same moment.
    assert_metrics_equal(&got, &exposition, &service, protocol != OtlpProtocol::HttpJson);
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn grpc_delivers_spans_logs_and_metrics() {
    deliver_over(OtlpProtocol::Grpc);
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn http_protobuf_delivers_spans_logs_and_metrics() {
    deliver_over(OtlpProtocol::HttpProtobuf);
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn http_json_delivers_spans_logs_and_metrics() {
    deliver_over(OtlpProtocol::HttpJson);
}

// ───────────────────────────── propagation ─────────────────────────────

/// Service B: an HTTP server on its own thread with its own telemetry stack.
struct ServiceB {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServiceB {
    fn start(dispatch: tracing::Dispatch) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let app = axum::Router::new().route("/work", axum::routing::get(handle_work));
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
        });
        ServiceB {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ServiceB {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle_work(headers: axum::http::HeaderMap) -> String {
    let remote = aureus_observability::propagation::extract_headers(&headers);
    let span = tracing::info_span!("handle_work", correlation_id = tracing::field::Empty);
    remote.attach(&span);
    let _entered = span.enter();
    aureus_observability::event::StepStart {
        workflow_id: "wf-xproc",
        task_id: "remote-task",
        task_type: "remote",
        attempt: 1,
        risk_tier: "low",
    }
    .emit();
    remote
        .correlation_id()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn a_trace_and_its_correlation_id_continue_across_services() {
    let collector = Rotel::start();
    let (dispatch_a, telemetry_a) = stack("service-a", "info", otlp(collector.grpc_endpoint(), OtlpProtocol::Grpc));
    let (dispatch_b, telemetry_b) = stack(
        "service-b",
        "info",
        otlp(collector.http_endpoint(), OtlpProtocol::HttpProtobuf),
    );
    let service_b = ServiceB::start(dispatch_b);
    let answer = tracing::dispatcher::with_default(&dispatch_a, || {
        let span = tracing::info_span!("call_b", correlation_id = "corr-xproc-1");
        let _entered = span.enter();
        let mut headers = axum::http::HeaderMap::new();
        aureus_observability::propagation::inject_headers(&mut headers);
        let pairs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert!(pairs.iter().any(|(k, _)| k == "traceparent"), "{pairs:?}");
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        tracing::info!(target: "service_a", "calling b");
        let (status, body) =
            http::request(service_b.addr, "GET", "/work", &borrowed, None, Duration::from_secs(10)).unwrap();
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    });
    assert_eq!(answer, "corr-xproc-1", "B saw A's correlation id");

    // Malformed headers: ignored, counted, no panic; B still answers.
    let before = aureus_observability::propagation::rejected_headers();
    let (status, _) = http::request(
        service_b.addr,
        "GET",
        "/work",
        &[("traceparent", "00-not-a-trace-01"), ("baggage", "===;;;,,,")],
        None,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(status, 200);
    let after = aureus_observability::propagation::rejected_headers();
    assert!(
        after[0].1 > before[0].1 && after[1].1 > before[1].1,
        "{before:?} → {after:?}"
    );

    drop(service_b);
    assert!(telemetry_a.flush(Duration::from_secs(10)) && telemetry_b.flush(Duration::from_secs(10)));
    let got = collector.wait_for("both sides", Duration::from_secs(20), |r| {
        r.span("call_b").is_some() && r.spans_named("handle_work").len() >= 2
    });
    let call = got.span("call_b").unwrap();
    let handled = got
        .spans_named("handle_work")
        .into_iter()
        .find(|s| s.trace_id == call.trace_id)
        .expect("B's span is in A's trace");
    assert_eq!(handled.parent_id, call.span_id, "B's span is a child of A's");
    assert_eq!(attr(&call.resource, "service.name"), "service-a");
    assert_eq!(attr(&handled.resource, "service.name"), "service-b");
    assert_eq!(attr(&call.attributes, "aureus.correlation_id"), "corr-xproc-1");
    assert_eq!(attr(&handled.attributes, "aureus.correlation_id"), "corr-xproc-1");
    let logs: Vec<_> = got.logs.iter().filter(|l| l.trace_id == call.trace_id).collect();
    let services: std::collections::BTreeSet<String> = logs
        .iter()
        .map(|l| attr(&l.resource, "service.name").to_string())
        .collect();
    assert_eq!(services.len(), 2, "both services logged in the trace: {services:?}");
    assert!(logs
        .iter()
        .all(|l| attr(&l.attributes, "aureus.correlation_id") == "corr-xproc-1"));
    // The malformed call started a new trace with no correlation id.
    let fresh = got
        .spans_named("handle_work")
        .into_iter()
        .find(|s| s.trace_id != call.trace_id)
        .unwrap();
    assert_eq!(fresh.parent_id, "");
    telemetry_a.shutdown(Duration::from_secs(5));
    telemetry_b.shutdown(Duration::from_secs(5));
}

// ───────────────────────────── outage ─────────────────────────────

fn phase(dispatch: &tracing::Dispatch, name: &str, events: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("phase", phase = name, correlation_id = %format!("corr-{name}"));
        let _entered = span.enter();
        for i in 0..events {
            tracing::info!(target: "kernel", phase = name, i, "phase event");
        }
    });
}

fn phase_logs(received: &Received, name: &str) -> usize {
    received
        .logs
        .iter()
        .filter(|l| l.attributes.get("phase").map(|v| v.to_string()).as_deref() == Some(name))
        .count()
}

/// Emits probes until one reaches `collector` (the exporter reconnected).
fn until_delivered(collector: &Rotel, dispatch: &tracing::Dispatch, telemetry: &Telemetry, tag: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for i in 0.. {
        tracing::dispatcher::with_default(dispatch, || tracing::info!(target: "kernel", probe = tag, i, "probe"));
        telemetry.flush(Duration::from_secs(3));
        let arrived = collector
            .received()
            .logs
            .iter()
            .any(|l| l.attributes.get("probe").map(|v| v.to_string()).as_deref() == Some(tag));
        if arrived {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{tag}: the exporter never recovered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn outage(protocol: OtlpProtocol) {
    let grpc_port = http::free_loopback_port().unwrap();
    let http_port = http::free_loopback_port().unwrap();
    let endpoint = match protocol {
        OtlpProtocol::Grpc => format!("http://127.0.0.1:{grpc_port}"),
        _ => format!("http://127.0.0.1:{http_port}"),
    };
    let mut config = otlp(endpoint, protocol);
    config.timeout = Some("1s".into());
    config.retry.max_retries = 1;
    config.retry.initial_delay = "50ms".into();
    config.metrics.interval = Some("300ms".into());
    let (dispatch, telemetry) = stack("aureus-outage", "info", config);

    phase(&dispatch, "absent", 50);
    telemetry.flush(Duration::from_secs(3));
    let collector = Rotel::start_on(grpc_port, http_port);
    until_delivered(&collector, &dispatch, &telemetry, "probe-1");
    phase(&dispatch, "up-1", 100);
    assert!(telemetry.flush(Duration::from_secs(10)));
    collector.wait_for("up-1", Duration::from_secs(20), |r| phase_logs(r, "up-1") == 100);

    let mut collector = collector;
    collector.kill();
    phase(&dispatch, "down", 50);
    telemetry.flush(Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(700)); // metric exports fail too
    let collector = Rotel::start_on(grpc_port, http_port);
    until_delivered(&collector, &dispatch, &telemetry, "probe-2");
    phase(&dispatch, "up-2", 100);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let got = collector.wait_for("up-2 logs and span", Duration::from_secs(20), |r| {
        phase_logs(r, "up-2") == 100
            && r.spans_named("phase")
                .iter()
                .any(|s| s.attributes.get("phase").map(|v| v.to_string()).as_deref() == Some("up-2"))
    });
    assert_eq!(phase_logs(&got, "absent") + phase_logs(&got, "down"), 0);

    let logs = telemetry.sinks().health("otlp").unwrap();
    assert_eq!(logs.panics, 0, "{logs:?}");
    assert!(
        logs.failed + logs.dropped() >= 100,
        "the 100 records emitted while the collector was away are counted: {logs:?}"
    );
    let spans = telemetry.otlp_counts("traces").unwrap();
    assert!(
        spans.failed >= 2,
        "the absent and down phase spans are counted: {spans:?}"
    );
    let metrics = telemetry.otlp_counts("metrics").unwrap();
    assert!(metrics.export_errors >= 1, "{metrics:?}");
    let exposition = telemetry.metrics().unwrap().render();
    assert!(exposition.contains("aureus_telemetry_otlp_export_errors_total{signal=\"traces\"}"));
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn grpc_survives_a_collector_outage() {
    outage(OtlpProtocol::Grpc);
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn http_survives_a_collector_outage() {
    outage(OtlpProtocol::HttpProtobuf);
}

// ───────────────────────────── shutdown ─────────────────────────────

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn shutdown_flushes_all_three_signals_within_its_deadline() {
    let collector = Rotel::start();
    let mut config = otlp(collector.grpc_endpoint(), OtlpProtocol::Grpc);
    config.batch.interval = "60s".into(); // nothing would go out before shutdown
    let (dispatch, telemetry) = stack("aureus-shutdown", "info", config);
    let emitted = tracing::dispatcher::with_default(&dispatch, || otlp_workload::run(3, 2));
    let started = std::time::Instant::now();
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
    let got = collector.wait_for("everything", Duration::from_secs(10), |r| {
        r.logs.len() >= emitted.events()
            && r.spans.len() >= emitted.spans
            && r.latest_metric("aureus_rollbacks").is_some()
    });
    assert_eq!(got.logs.len(), emitted.events());
    assert_eq!(got.spans.len(), emitted.spans);
    let started = got.latest_metric("aureus_tasks_started").expect("final metric export");
    assert_eq!(started.points[0].value, Some(6.0), "3 workflows × 2 tasks");
}

// ───────────────────────────── the demo kernel ─────────────────────────────

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn the_demo_kernel_exports_everything_it_emitted_from_the_standard_variables() {
    let collector = Rotel::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.grpc_endpoint();
    let mut demo = demo::Demo::start(
        dir.path(),
        &["--workflows", "3", "--duration", "2", "--rate", "100", "--seed", "7"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "demo-otlp"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci,team=kernel"),
        ],
    );
    let emitted: serde_json::Value =
        serde_json::from_str(&demo.wait_for_line("EMITTED ", Duration::from_secs(60))).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while demo.child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the demo exits after its run");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kinds: Vec<(String, u64)> = emitted
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| *k != "total" && v.is_u64())
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let total: u64 = kinds.iter().map(|(_, n)| n).sum();
    assert!(total > 50, "{emitted}");
    let got = collector.wait_for("every event the demo emitted", Duration::from_secs(20), |r| {
        r.logs
            .iter()
            .filter(|l| l.attributes.contains_key("event_type") && !l.attributes.contains_key("alert_id"))
            .count() as u64
            >= total
            && r.latest_metric("aureus_tasks_started").is_some()
    });
    for (kind, count) in &kinds {
        let received = got
            .logs
            .iter()
            .filter(|l| l.attributes.get("event_type").map(|v| v.to_string()).as_deref() == Some(kind.as_str()))
            // The stack's own alert changes are `custom` events too; they
            // are not the demo's (whether an alert fires in 2 s varies).
            .filter(|l| !l.attributes.contains_key("alert_id"))
            .count() as u64;
        assert_eq!(received, *count, "{kind}");
    }
    let log = &got.logs[0];
    assert_eq!(attr(&log.resource, "service.name"), "demo-otlp");
    assert_eq!(attr(&log.resource, "deployment.environment"), "ci");
    assert_eq!(attr(&log.resource, "team"), "kernel");
    let started: f64 = got
        .latest_metric("aureus_tasks_started")
        .unwrap()
        .points
        .iter()
        .filter_map(|p| p.value)
        .sum();
    let step_starts = kinds.iter().find(|(k, _)| k == "step_start").map_or(0, |(_, n)| *n);
    assert_eq!(started as u64, step_starts, "the final metric export counts every step");
    assert!(!got.spans_named("workflow").is_empty());
}
