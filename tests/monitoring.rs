//! The monitoring API and alert engine end to end over HTTP: summary figures,
//! events, alerts firing / acknowledged / resolved, the live stream, auth,
//! and the Prometheus rules generated from the same definitions.

#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use aureus_observability::alerts::{promql, AlertRule};
use aureus_observability::config::{MetricsConfig, MonitoringConfig, RuleOverride};
use aureus_observability::event::{CrvResult, Rollback, StepEnd};
use aureus_observability::{Config, Telemetry};
use prometheus::http_get;

/// A stack serving the API on a free port, alerts over a 3 s window evaluated every 100 ms.
fn stack(token: Option<&str>) -> (tracing::Dispatch, Telemetry, SocketAddr) {
    let short = RuleOverride {
        window: Some("3s".into()),
        ..Default::default()
    };
    let rules: BTreeMap<String, RuleOverride> = ["success-rate", "crv-failures", "policy-denials", "rollbacks"]
        .into_iter()
        .map(|id| (id.to_owned(), short.clone()))
        .collect();
    let config = Config {
        monitoring: MonitoringConfig {
            evaluate_every: "100ms".into(),
            rules,
            token: token.map(str::to_owned),
            ..Default::default()
        },
        metrics: MetricsConfig {
            summary_bucket: "1s".into(),
            ..Default::default()
        },
        ..Config::builder().listen("127.0.0.1:0").no_sinks().build().unwrap()
    };
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let addr = telemetry.server_addr().unwrap();
    (dispatch, telemetry, addr)
}

fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get(addr, path, &[]).unwrap();
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

fn post(addr: SocketAddr, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    (status, json)
}

fn wait_for_alert(addr: SocketAddr, id: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get_json(addr, "/api/monitoring/alerts");
        if let Some(alert) = body["alerts"].as_array().and_then(|a| a.iter().find(|a| a["id"] == id)) {
            if check(alert) {
                return alert.clone();
            }
        }
        assert!(Instant::now() < deadline, "alert {id} never matched; last: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn step(success: bool, n: u64) {
    let span = tracing::info_span!("wf", correlation_id = %format!("corr-{n}"));
    let _e = span.enter();
    let workflow_id = format!("wf-{n}");
    StepEnd {
        workflow_id: &workflow_id,
        task_id: "t",
        task_type: "action",
        success,
        duration_ms: 40 + n,
        error: None,
    }
    .emit();
}

#[test]
fn alerts_fire_escalate_get_acknowledged_and_resolve_over_http() {
    let (dispatch, telemetry, addr) = stack(None);
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..9 {
            step(true, n);
        }
        step(false, 99);
    });
    let alert = wait_for_alert(addr, "success-rate", |a| a["state"] == "firing");
    assert_eq!(alert["severity"], "warning", "{alert}");
    assert_eq!(alert["threshold"], 0.95);
    assert_eq!(alert["workflowId"], "wf-99");
    assert_eq!(alert["correlationId"], "corr-99");

    tracing::dispatcher::with_default(&dispatch, || {
        for n in 100..110 {
            step(false, n);
        }
        for n in 0..6 {
            CrvResult {
                workflow_id: "wf-c",
                task_id: "t",
                gate_name: "schema",
                passed: false,
                blocked: true,
                failure_code: None,
            }
            .emit();
            Rollback {
                workflow_id: "wf-r",
                task_id: "t",
                snapshot_id: "s",
                reason: &n.to_string(),
            }
            .emit();
        }
    });
    let critical = wait_for_alert(addr, "success-rate", |a| a["severity"] == "critical");
    assert!(critical["currentValue"].as_f64().unwrap() < 0.8);
    wait_for_alert(addr, "crv-failures", |a| {
        a["state"] == "firing" && a["severity"] == "warning"
    });
    wait_for_alert(addr, "rollbacks", |a| {
        a["state"] == "firing" && a["severity"] == "warning"
    });

    // Acknowledge: unknown id, bad body, success; it persists across reads.
    assert_eq!(
        post(addr, "/api/monitoring/alerts/nope/ack", r#"{"by":"ada"}"#, &[]).0,
        404
    );
    assert_eq!(
        post(addr, "/api/monitoring/alerts/rollbacks/ack", "not json", &[]).0,
        400
    );
    assert_eq!(
        post(
            addr,
            "/api/monitoring/alerts/policy-denials/ack",
            r#"{"by":"ada"}"#,
            &[]
        )
        .0,
        409
    );
    let (status, acked) = post(
        addr,
        "/api/monitoring/alerts/rollbacks/ack",
        r#"{"by":"ada","comment":"on it"}"#,
        &[],
    );
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledgedBy"], "ada");
    let again = wait_for_alert(addr, "rollbacks", |a| a["acknowledgedBy"] == "ada");
    assert_eq!(again["comment"], "on it");
    // What the operator types is redacted like any other text.
    let (status, acked) = post(
        addr,
        "/api/monitoring/alerts/crv-failures/ack",
        r#"{"by":"bob","comment":"{\"retried\": true, \"token\": \"CANARY-ack-51\"}"}"#,
        &[],
    );
    assert_eq!(status, 200, "{acked}");
    assert!(acked["comment"].as_str().unwrap().contains("[REDACTED]"), "{acked}");
    let (_, alerts) = http_get(addr, "/api/monitoring/alerts", &[]).unwrap();
    assert!(!alerts.contains("CANARY-ack-51"), "{alerts}");

    // Gauges and the Aureus events of the changes.
    let metrics = http_get(addr, "/metrics", &[]).unwrap().1;
    assert!(
        metrics.contains(r#"aureus_alerts_firing{alert="success-rate",severity="critical"} 1"#),
        "{metrics}"
    );
    // The acknowledgement is recorded as an event (it reaches the store asynchronously).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, events) = get_json(addr, "/api/monitoring/events?type=custom&limit=1000");
        let recorded = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["alert_id"] == "rollbacks" && e["acknowledged_by"] == "ada");
        if recorded {
            break;
        }
        assert!(Instant::now() < deadline, "no acknowledgement event: {events}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Everything ages out of the 3 s window: all resolve, acknowledgement cleared.
    tracing::dispatcher::with_default(&dispatch, || {
        std::thread::sleep(Duration::from_secs(5));
        for n in 0..20 {
            step(true, n);
        }
    });
    let resolved = wait_for_alert(addr, "rollbacks", |a| a["state"] == "resolved");
    assert!(resolved["acknowledgedBy"].is_null());
    wait_for_alert(addr, "success-rate", |a| a["state"] == "resolved");
    let (_, body) = get_json(addr, "/api/monitoring/alerts");
    let history = body["history"].as_array().unwrap();
    assert!(history
        .iter()
        .any(|h| h["id"] == "success-rate" && h["state"] == "firing" && h["severity"] == "critical"));
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn figures_and_events_with_their_filters_and_bad_parameters() {
    let (dispatch, telemetry, addr) = stack(None);
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..3 {
            step(n != 1, n);
        }
        tracing::info!(target: "aureus", event_type = "policy_check", allowed = false, requires_human_approval = true, reason = "r");
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    let (status, summary) = get_json(addr, "/api/monitoring/metrics?timeRange=60000");
    assert_eq!(status, 200);
    assert_eq!(summary["source"], "local");
    assert_eq!(summary["stepEnds"], 3);
    assert_eq!(summary["policyDenials"], 1);
    assert_eq!(summary["escalationRate"], 1.0);
    let (_, per_workflow) = get_json(addr, "/api/monitoring/metrics?timeRange=60000&workflowId=wf-1");
    assert_eq!(per_workflow["stepEnds"], 1);
    assert_eq!(per_workflow["successRate"], 0.0);
    let (_, points) = get_json(addr, "/api/monitoring/timeseries?timeRange=60000&points=10");
    // At most the 10 points asked for; here 1 s buckets over the second of data.
    assert_eq!(points["bucketMs"], 1000, "{points}");
    let points = points["points"].as_array().unwrap();
    assert!(!points.is_empty() && points.len() <= 10, "{points:?}");
    assert_eq!(points.iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(), 3);

    let (_, all) = get_json(addr, "/api/monitoring/events");
    let kernel_events = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "aureus")
        .count();
    assert_eq!(
        kernel_events, 4,
        "(alert changes are recorded too, under aureus::alerts)"
    );
    let (_, one) = get_json(addr, "/api/monitoring/events?correlationId=corr-2");
    let one = one["events"].as_array().unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["workflow_id"], "wf-2");
    let (_, typed) = get_json(addr, "/api/monitoring/events?type=step_end&workflowId=wf-0&limit=5");
    assert_eq!(typed["events"].as_array().unwrap().len(), 1);
    let (_, future) = get_json(addr, "/api/monitoring/events?startTime=99999999999999");
    assert!(future["events"].as_array().unwrap().is_empty());

    for bad in [
        "/api/monitoring/metrics?timeRange=abc",
        "/api/monitoring/metrics?timeRange=0",
        "/api/monitoring/events?limit=-1",
        "/api/monitoring/events?startTime=yesterday",
        "/api/monitoring/events?startTime=10&endTime=5",
        "/api/monitoring/timeseries?points=100000",
    ] {
        let (status, body) = get_json(addr, bad);
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{bad}: {body}");
    }
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn the_stream_pushes_new_records() {
    let (dispatch, telemetry, addr) = stack(None);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET /api/monitoring/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("200"), "{line}");
    // Give the subscription a moment, then record.
    std::thread::sleep(Duration::from_millis(200));
    tracing::dispatcher::with_default(
        &dispatch,
        || tracing::info!(target: "aureus", event_type = "custom", marker = "sse-42"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while Instant::now() < deadline && !seen.contains("sse-42") {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("event: record"), "{seen}");
    assert!(seen.contains(r#""marker":"sse-42""#), "{seen}");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn a_token_guards_page_and_api() {
    let (_dispatch, telemetry, addr) = stack(Some("dash-token"));
    for path in [
        "/monitoring",
        "/api/monitoring/alerts",
        "/api/monitoring/events",
        "/monitoring/assets/monitoring.js",
    ] {
        assert_eq!(http_get(addr, path, &[]).unwrap().0, 401, "{path}");
        assert_eq!(
            http_get(addr, path, &[("Authorization", "Bearer wrong")]).unwrap().0,
            401,
            "{path}"
        );
        assert_eq!(
            http_get(addr, path, &[("Authorization", "Bearer dash-token")])
                .unwrap()
                .0,
            200,
            "{path}"
        );
        assert_eq!(
            http_get(addr, path, &[("Cookie", "aureus_token=dash-token")])
                .unwrap()
                .0,
            200,
            "{path}"
        );
    }
    assert_eq!(
        post(addr, "/api/monitoring/alerts/rollbacks/ack", r#"{"by":"x"}"#, &[]).0,
        401
    );
    // Opening the page with ?token= sets the cookie for the page's own requests.
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /monitoring?token=dash-token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("aureus_token=dash-token; HttpOnly; SameSite=Strict"),
        "{response}"
    );
    assert!(response
        .to_ascii_lowercase()
        .contains("content-security-policy: default-src 'self'"));
    // /metrics keeps its own option (none here).
    assert_eq!(http_get(addr, "/metrics", &[]).unwrap().0, 200);
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn the_shipped_rules_file_is_generated_from_the_engine_rules() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/aureus-alerts.yml"
    ))
    .unwrap();
    assert_eq!(
        shipped,
        promql::rules_yaml(&AlertRule::defaults(), "aureus"),
        "regenerate: cargo run --example print_alert_rules > deploy/prometheus/aureus-alerts.yml"
    );
}

/// Rule texts with YAML's special characters still give a rules file
/// promtool accepts; an invalid metric prefix is a typed error.
#[test]
#[ignore = "needs promtool; run via the README test command"]
fn any_rule_text_gives_a_valid_rules_file_and_a_bad_prefix_is_refused() {
    let mut rule = AlertRule::defaults().remove(0);
    rule.prometheus_name = "Kernel's: #1 {alert}";
    rule.id = "it's-id: x";
    rule.summary = "Task failures' rate: high # see\nrunbook \"now\"";
    let yaml = promql::try_rules_yaml(&[rule], "kernel_v2").expect("a valid prefix");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, &yaml).unwrap();
    let checked = prometheus::promtool(&["check", "rules", path.to_str().unwrap()]).unwrap();
    assert!(checked.contains("SUCCESS: 2 rules found"), "{checked}\n{yaml}");
    for bad in ["my-app", "", "__x", "9lives", "a b"] {
        let err = promql::try_rules_yaml(&AlertRule::defaults(), bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("prefix") && err.contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
#[ignore = "needs promtool; run via the README test command"]
fn promtool_checks_and_tests_the_rules() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus");
    let checked = prometheus::promtool(&["check", "rules", &format!("{dir}/aureus-alerts.yml")]).unwrap();
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = prometheus::promtool(&["test", "rules", &format!("{dir}/aureus-alerts.test.yml")]).unwrap();
    assert!(tested.contains("SUCCESS"), "{tested}");
}
