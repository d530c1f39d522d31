//! One redaction step in front of every path by which text leaves the
//! process: a canary sent through each input shape — event fields, a
//! message, nested JSON `args`, span attributes from `info_span!` and from
//! `span.record(..)`, a span name (`otel.name`), a span status, a metric
//! label, resource attributes and a sink's error text — appears in none of
//! the outputs: what a real collector (rotel) received over OTLP (spans,
//! span events, logs, metrics, resources), the file, every console format,
//! the event store, the events API, the SSE stream, `/metrics`, the alerts
//! API, sink health and the shutdown report.

mod common;
#[path = "support/http.rs"]
mod http;
#[path = "support/rotel.rs"]
mod rotel;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aureus_observability::config::{FileSinkConfig, OtlpConfig, OtlpProtocol, RedactionConfig};
use aureus_observability::event::{StepEnd, ToolCall};
use aureus_observability::sinks::console::{ConsoleFormat, ConsoleSink};
use aureus_observability::{Config, EventQuery, Record, Sink, SinkError};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sink whose errors quote a secret (as a careless client library might).
struct Leaky;
impl Sink for Leaky {
    fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> {
        Err(format!("upstream refused key {SINK_ERROR}").into())
    }
}

/// Sensitive-name canaries (redacted because of the field or key name).
const FIELD: &str = "CANARY-7f3a";
const NESTED: &str = "CANARY-9b2c";
const SPAN_ATTR: &str = "CANARY-span-41d0";
const SPAN_RECORDED: &str = "CANARY-recorded-77e1";
const RESOURCE: &str = "CANARY-resource-a1b2";
/// Pattern canaries (redacted wherever they appear).
const MESSAGE: &str = "sk-live-0123456789abcdef";
const SPAN_NAME: &str = "sk-live-1111111111111111";
const STATUS: &str = "sk-live-2222222222222222";
const LABEL: &str = "sk-live-3333333333333333";
const RESOURCE_VALUE: &str = "sk-live-4444444444444444";
const SINK_ERROR: &str = "sk-live-5555555555555555";
const SPAN_EVENT_NAME: &str = "sk-live-6666666666666666";
/// The service's own metrics (the `metrics` facade): a sensitive label name
/// and a pattern in a label value.
const FACADE_LABEL: &str = "CANARY-facade-c0de";
const FACADE_VALUE: &str = "sk-live-7777777777777777";

const CANARIES: [&str; 14] = [
    FIELD,
    NESTED,
    SPAN_ATTR,
    SPAN_RECORDED,
    RESOURCE,
    MESSAGE,
    SPAN_NAME,
    STATUS,
    LABEL,
    RESOURCE_VALUE,
    SINK_ERROR,
    SPAN_EVENT_NAME,
    FACADE_LABEL,
    FACADE_VALUE,
];

fn assert_clean(name: &str, text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{canary} leaked into {name}:\n{text}");
    }
    // The pattern's shape must not survive either (no partial leak).
    assert!(
        !text.contains("sk-live-"),
        "a pattern secret leaked into {name}:\n{text}"
    );
}

/// Reads the SSE stream for `for_how_long` in the background.
fn sse(addr: std::net::SocketAddr, for_how_long: Duration) -> std::thread::JoinHandle<String> {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/monitoring/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + for_how_long;
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            stream
                .set_read_timeout(Some(
                    deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                ))
                .unwrap();
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    })
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn no_canary_reaches_any_output() {
    let collector = rotel::Rotel::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(collector.http_endpoint()),
        protocol: Some(OtlpProtocol::HttpProtobuf),
        ..OtlpConfig::default()
    };
    otlp.batch.interval = "100ms".into();
    otlp.metrics.interval = Some("60s".into());
    let mut config = Config::builder()
        .service_name("redaction-every-path")
        .resource_attribute("api_key", RESOURCE)
        .resource_attribute("deploy.note", format!("built with {RESOURCE_VALUE}"))
        .listen("127.0.0.1:0")
        .sink(FileSinkConfig::at(&path))
        .otlp(otlp)
        .build()
        .unwrap();
    config.redaction = RedactionConfig {
        patterns: vec![r"sk-live-[0-9a-f]{16}".into()],
        ..Default::default()
    };
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let addr = telemetry.server_addr().unwrap();
    let mut consoles = Vec::new();
    for format in [ConsoleFormat::Pretty, ConsoleFormat::Compact, ConsoleFormat::Json] {
        let out = Captured::default();
        let sink = ConsoleSink::with_writer(format, false, Box::new(out.clone()));
        telemetry
            .sinks()
            .add(&format!("console-{format:?}"), sink, common::lossless())
            .unwrap();
        consoles.push((format, out));
    }
    telemetry
        .sinks()
        .add("leaky", Leaky, aureus_observability::SinkOptions::default())
        .unwrap();
    let stream = sse(addr, Duration::from_secs(4));
    std::thread::sleep(Duration::from_millis(300));

    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!(
            "workflow",
            correlation_id = "wf-canary",
            api_key = SPAN_ATTR,
            otel.name = SPAN_NAME,
            secret = tracing::field::Empty,
        );
        span.record("secret", SPAN_RECORDED);
        let _entered = span.enter();
        tracing::info!(target: "aureus::planner", password = FIELD, "login");
        ToolCall {
            workflow_id: "wf",
            task_id: "t1",
            tool_name: "http.get",
            args: &json!({"options": {"token": NESTED}, "url": "https://example.test"}),
        }
        .emit();
        tracing::info!(target: "aureus::planner", "calling with key {MESSAGE} now");
        tracing::info!(target: "aureus", event_type = "custom", "{}", SPAN_EVENT_NAME);
        ToolCall {
            workflow_id: "wf",
            task_id: "t2",
            tool_name: LABEL,
            args: &json!({}),
        }
        .emit();
        StepEnd {
            workflow_id: "wf",
            task_id: "t3",
            task_type: "action",
            success: false,
            duration_ms: 5,
            error: Some(&format!("provider rejected {STATUS}")),
        }
        .emit();
        metrics::counter!("service_logins_total", "token" => FACADE_LABEL, "via" => format!("key {FACADE_VALUE}"))
            .increment(1);
        metrics::histogram!("service_call_seconds", "api_key" => FACADE_LABEL).record(0.2);
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = collector.wait_for("spans, logs and metrics", Duration::from_secs(20), |r| {
        r.spans.iter().any(|s| s.events.len() >= 4) && r.logs.len() >= 5
    });
    assert!(!received.spans.is_empty());

    let (_, events_api) = http::get(addr, "/api/monitoring/events?limit=1000", &[]).unwrap();
    let (_, alerts_api) = http::get(addr, "/api/monitoring/alerts", &[]).unwrap();
    let (_, metrics_page) = http::get(addr, "/metrics", &[]).unwrap();
    let store = telemetry
        .store()
        .unwrap()
        .query(&EventQuery::default())
        .iter()
        .map(|r| r.json_line().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let health = format!("{:?}", telemetry.sinks().list());
    let leaky = telemetry.sinks().health("leaky").unwrap();
    assert!(leaky.failed > 0, "the leaky sink failed");
    let sse_text = stream.join().unwrap();
    assert!(sse_text.contains("event: record"), "{sse_text}");
    let report = telemetry.shutdown(Duration::from_secs(10));
    let file = std::fs::read_to_string(&path).unwrap();

    // Everything the collector received, in its own debug print.
    assert_clean("the collector (rotel)", &collector.output());
    assert_clean("the file", &file);
    assert_clean("the event store", &store);
    assert_clean("the events API", &events_api);
    assert_clean("the SSE stream", &sse_text);
    assert_clean("/metrics", &metrics_page);
    assert_clean("the alerts API", &alerts_api);
    assert_clean("sink health", &health);
    assert_clean("the shutdown report", &format!("{report}\n{report:?}"));
    for (format, out) in consoles {
        assert_clean(
            &format!("the {format:?} console"),
            &String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
        );
    }

    // What was redacted is marked, and the rest is intact.
    let output = collector.output();
    assert!(output.contains("[REDACTED]"), "{output}");
    assert!(output.contains("https://example.test"), "{output}");
    let span = received
        .spans
        .iter()
        .find(|s| s.events.len() >= 4)
        .expect("the workflow span");
    assert_eq!(
        span.attributes.get("api_key").and_then(|v| v.as_str()),
        Some("[REDACTED]")
    );
    assert_eq!(
        span.attributes.get("secret").and_then(|v| v.as_str()),
        Some("[REDACTED]")
    );
    assert_eq!(span.name, "[REDACTED]");
    assert!(metrics_page.contains(r#"tool_name="[REDACTED]""#), "{metrics_page}");
    assert!(
        metrics_page.contains(r#"service_logins_total{token="[REDACTED]",via="key [REDACTED]"} 1"#),
        "{metrics_page}"
    );
    assert!(
        metrics_page.contains(r#"service_call_seconds_count{api_key="[REDACTED]"} 1"#),
        "{metrics_page}"
    );
    assert!(
        leaky.last_error.as_ref().is_some_and(|(e, _)| e.contains("[REDACTED]")),
        "{leaky:?}"
    );
}
