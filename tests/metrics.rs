//! Prometheus metrics from Aureus events: the contract's names, types and
//! labels, real histograms, prefix and global labels, the cardinality guard,
//! self-metrics, and the HTTP listener's behaviour under bad requests.

mod common;
#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use aureus_observability::config::{FileSinkConfig, MetricsConfig};
use aureus_observability::event;
use aureus_observability::{Config, Error, Telemetry};
use serde_json::json;

fn stack(config: Config) -> (tracing::Dispatch, Telemetry) {
    aureus_observability::build(config).unwrap()
}

fn rendered(telemetry: &Telemetry) -> String {
    let metrics = telemetry.metrics().expect("metrics enabled");
    metrics.run_upkeep();
    metrics.render()
}

/// The value of the series line starting with `series` (exact name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

fn emit_one_of_each() {
    event::StepStart {
        workflow_id: "wf",
        task_id: "t1",
        task_type: "action",
        attempt: 1,
        risk_tier: "low",
    }
    .emit();
    event::StepEnd {
        workflow_id: "wf",
        task_id: "t1",
        task_type: "action",
        success: true,
        duration_ms: 120,
        error: None,
    }
    .emit();
    event::StepEnd {
        workflow_id: "wf",
        task_id: "t2",
        task_type: "action",
        success: false,
        duration_ms: 7000,
        error: Some("x"),
    }
    .emit();
    event::ToolCall {
        workflow_id: "wf",
        task_id: "t1",
        tool_name: "fs.read",
        args: &json!({}),
    }
    .emit();
    event::CrvResult {
        workflow_id: "wf",
        task_id: "t1",
        gate_name: "schema",
        passed: false,
        blocked: true,
        failure_code: Some("E1"),
    }
    .emit();
    event::PolicyCheck {
        workflow_id: "wf",
        task_id: "t1",
        allowed: true,
        requires_human_approval: true,
        reason: "r",
    }
    .emit();
    event::SnapshotCommit {
        workflow_id: "wf",
        task_id: "t1",
        snapshot_id: "s",
    }
    .emit();
    event::Rollback {
        workflow_id: "wf",
        task_id: "t2",
        snapshot_id: "s",
        reason: "r",
    }
    .emit();
    event::LlmPrompt {
        model: "m",
        prompt: "p",
    }
    .emit();
}

#[test]
fn every_contract_metric_has_its_name_type_and_labels() {
    let (dispatch, telemetry) = stack(Config::builder().no_server().no_sinks().build().unwrap());
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("wf", correlation_id = "corr-1");
        span.in_scope(emit_one_of_each);
    });
    let text = rendered(&telemetry);
    let expect = [
        (r#"aureus_tasks_started_total{task_type="action"}"#, 1.0),
        (
            r#"aureus_tasks_completed_total{task_type="action",success="true"}"#,
            1.0,
        ),
        (
            r#"aureus_tasks_completed_total{task_type="action",success="false"}"#,
            1.0,
        ),
        (
            r#"aureus_task_duration_ms_bucket{task_type="action",success="true",le="100"}"#,
            0.0,
        ),
        (
            r#"aureus_task_duration_ms_bucket{task_type="action",success="true",le="250"}"#,
            1.0,
        ),
        (
            r#"aureus_task_duration_ms_bucket{task_type="action",success="false",le="5000"}"#,
            0.0,
        ),
        (
            r#"aureus_task_duration_ms_bucket{task_type="action",success="false",le="10000"}"#,
            1.0,
        ),
        (
            r#"aureus_task_duration_ms_bucket{task_type="action",success="false",le="+Inf"}"#,
            1.0,
        ),
        (
            r#"aureus_task_duration_ms_sum{task_type="action",success="false"}"#,
            7000.0,
        ),
        (
            r#"aureus_task_duration_ms_count{task_type="action",success="false"}"#,
            1.0,
        ),
        (r#"aureus_tool_calls_total{tool_name="fs.read"}"#, 1.0),
        (
            r#"aureus_crv_checks_total{gate_name="schema",passed="false",blocked="true"}"#,
            1.0,
        ),
        (
            r#"aureus_policy_checks_total{allowed="true",requires_approval="true"}"#,
            1.0,
        ),
        ("aureus_snapshots_total", 1.0),
        ("aureus_rollbacks_total", 1.0),
    ];
    for (series, expected) in expect {
        assert_eq!(value(&text, series), Some(expected), "{series}\n{text}");
    }
    assert!(text.contains("# TYPE aureus_task_duration_ms histogram"), "{text}");
    assert!(text.contains("# TYPE aureus_tasks_started_total counter"), "{text}");
    for forbidden in ["workflow_id", "task_id", "correlation_id", "quantile="] {
        assert!(!text.contains(forbidden), "{forbidden} must not appear in\n{text}");
    }
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn hand_written_events_count_the_same_and_metrics_ignore_the_level_filter() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .no_server()
        .log_level("warn")
        .sink(FileSinkConfig::at(dir.path().join("warn-only.jsonl")))
        .build()
        .unwrap();
    let (dispatch, telemetry) = stack(config);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..3 {
            tracing::info!(target: "aureus", event_type = "step_start", task_type = "query", workflow_id = "w");
            tracing::debug!(target: "aureus::planner", event_type = "tool_call", tool_name = "search");
        }
        tracing::warn!(target: "aureus", event_type = "crv_result", gate_name = "g", passed = false, blocked = false);
    });
    let text = rendered(&telemetry);
    assert_eq!(
        value(&text, r#"aureus_tasks_started_total{task_type="query"}"#),
        Some(3.0)
    );
    assert_eq!(
        value(&text, r#"aureus_tool_calls_total{tool_name="search"}"#),
        Some(3.0)
    );
    telemetry.shutdown(Duration::from_secs(5));
    // …while the file sink still honours `warn`.
    let lines = std::fs::read_to_string(dir.path().join("warn-only.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
}

#[test]
fn prefix_global_labels_and_escaping() {
    let metrics = MetricsConfig {
        prefix: "kernel".into(),
        global_labels: [("instance".to_string(), "k-1".to_string())].into(),
        ..Default::default()
    };
    let (dispatch, telemetry) = stack(
        Config::builder()
            .no_server()
            .no_sinks()
            .metrics(metrics)
            .build()
            .unwrap(),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        event::StepStart {
            workflow_id: "w",
            task_id: "t",
            task_type: "we\"ird\\type\nx",
            attempt: 1,
            risk_tier: "low",
        }
        .emit();
    });
    let text = rendered(&telemetry);
    assert!(
        text.contains(r#"kernel_tasks_started_total{instance="k-1",task_type="we\"ird\\type\nx"} 1"#),
        "{text}"
    );
    assert!(!text.contains("aureus_"), "{text}");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn cardinality_guard_folds_into_other_and_memory_stays_flat() {
    let metrics = MetricsConfig {
        cardinality_limit: 100,
        ..Default::default()
    };
    let (dispatch, telemetry) = stack(
        Config::builder()
            .no_server()
            .no_sinks()
            .metrics(metrics)
            .build()
            .unwrap(),
    );
    let emit = |from: u64, to: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for n in from..to {
                tracing::info!(target: "aureus", event_type = "tool_call", tool_name = %format!("tool-{n}"));
            }
        })
    };
    emit(0, 100_000);
    let before = common::rss_kib();
    emit(100_000, 200_000);
    let after = common::rss_kib();
    let text = rendered(&telemetry);
    let series = text
        .lines()
        .filter(|l| l.starts_with("aureus_tool_calls_total{"))
        .count();
    assert_eq!(series, 101, "cap + 1");
    assert_eq!(
        value(&text, r#"aureus_tool_calls_total{tool_name="other"}"#),
        Some(199_900.0)
    );
    assert_eq!(
        value(
            &text,
            r#"aureus_telemetry_cardinality_overflow_total{metric="aureus_tool_calls_total"}"#
        ),
        Some(199_900.0)
    );
    assert!(
        after.saturating_sub(before) < 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn self_metrics_report_each_sink() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .no_server()
        .sink(FileSinkConfig::at(dir.path().join("a.jsonl")))
        .build()
        .unwrap();
    let (dispatch, telemetry) = stack(config);
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..10 {
            tracing::info!(n, "hello");
        }
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    let text = rendered(&telemetry);
    assert_eq!(
        value(&text, r#"aureus_telemetry_records_total{sink="file"}"#),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"aureus_telemetry_dropped_total{sink="file",reason="queue_full"}"#
        ),
        Some(0.0)
    );
    assert_eq!(value(&text, r#"aureus_telemetry_errors_total{sink="file"}"#), Some(0.0));
    assert_eq!(value(&text, r#"aureus_telemetry_queue_depth{sink="file"}"#), Some(0.0));
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn summary_figures_follow_the_events() {
    let (dispatch, telemetry) = stack(Config::builder().no_server().no_sinks().build().unwrap());
    tracing::dispatcher::with_default(&dispatch, emit_one_of_each);
    let summary = telemetry.metrics().unwrap().summary(Duration::from_secs(3600), None);
    assert_eq!(summary.step_ends, 2);
    assert_eq!(summary.success_rate, Some(0.5));
    assert_eq!(summary.cost_per_success_ms, Some(120.0));
    assert_eq!(summary.crv_failures, 1);
    assert_eq!(summary.rollbacks, 1);
    assert_eq!(summary.escalation_rate, Some(1.0));
    assert_eq!(summary.events, 9);
    telemetry.shutdown(Duration::from_secs(5));
}

fn raw_request(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before reading everything: ignore write errors.
    let _ = stream.write_all(bytes);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn http_listener_serves_metrics_and_refuses_bad_requests() {
    let config = Config::builder().listen("127.0.0.1:0").no_sinks().build().unwrap();
    let (dispatch, telemetry) = stack(config);
    let addr = telemetry.server_addr().unwrap();
    tracing::dispatcher::with_default(&dispatch, emit_one_of_each);

    let (status, body) = prometheus::http_get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("aureus_tasks_started_total"));
    let get = |path: &str| prometheus::http_get(addr, path, &[]).unwrap().0;
    assert_eq!(get("/nope"), 404);
    assert_eq!(get("/metrics/extra"), 404);

    let post = raw_request(
        addr,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&post), 405, "{post}");
    let big_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let response = raw_request(addr, big_header.as_bytes());
    assert_eq!(status_of(&response), 431, "{}", &response[..response.len().min(200)]);
    let big_body = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        1 << 20,
        "b".repeat(1 << 20)
    );
    assert_eq!(status_of(&raw_request(addr, big_body.as_bytes())), 413);
    let garbage = raw_request(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n");
    assert_eq!(status_of(&garbage), 400, "{garbage}");

    // Still serving.
    assert_eq!(get("/metrics"), 200);
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn bearer_token_guards_metrics() {
    let config = Config::builder()
        .listen("127.0.0.1:0")
        .metrics_token("s3cret-token")
        .no_sinks()
        .build()
        .unwrap();
    let (_dispatch, telemetry) = stack(config);
    let addr = telemetry.server_addr().unwrap();
    assert_eq!(prometheus::http_get(addr, "/metrics", &[]).unwrap().0, 401);
    assert_eq!(
        prometheus::http_get(addr, "/metrics", &[("Authorization", "Bearer wrong")])
            .unwrap()
            .0,
        401
    );
    let (status, body) = prometheus::http_get(addr, "/metrics", &[("Authorization", "Bearer s3cret-token")]).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE"));
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = Config::builder().listen(addr.to_string()).no_sinks().build().unwrap();
    match aureus_observability::build(config) {
        Err(Error::Bind { addr: reported, .. }) => assert_eq!(reported, addr),
        other => panic!("expected Error::Bind, got {other:?}"),
    }
    let err = Config::builder().listen("localhost:notaport").build().unwrap_err();
    assert!(err.to_string().contains("server.listen"), "{err}");
}
