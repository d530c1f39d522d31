//! Redaction canary: a secret in a `password` field, inside nested JSON `args`,
//! and matching a configured pattern appears in none of the console output,
//! the files, the event store or `/metrics`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aureus_observability::config::{FileSinkConfig, RedactionConfig};
use aureus_observability::event::ToolCall;
use aureus_observability::sinks::console::{ConsoleFormat, ConsoleSink};
use aureus_observability::{Config, EventQuery};
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

const CANARY_FIELD: &str = "canary-field-5f1c";
const CANARY_NESTED: &str = "canary-nested-9a7e";
const CANARY_PATTERN: &str = "sk-live-0123456789abcdef";

#[test]
fn secrets_reach_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("redacted.jsonl");
    let config = Config {
        redaction: RedactionConfig {
            patterns: vec![r"sk-live-[0-9a-f]{16}".into()],
            ..Default::default()
        },
        ..Config::builder()
            .no_server()
            .sink(FileSinkConfig::at(&path))
            .build()
            .unwrap()
    };
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let mut consoles = Vec::new();
    for format in [ConsoleFormat::Pretty, ConsoleFormat::Compact, ConsoleFormat::Json] {
        let out = Captured::default();
        let name = format!("console-{format:?}");
        let sink = ConsoleSink::with_writer(format, false, Box::new(out.clone()));
        telemetry.sinks().add(&name, sink, common::lossless()).unwrap();
        consoles.push(out);
    }
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("wf", correlation_id = "wf-redact");
        let _e = span.enter();
        tracing::info!(target: "aureus", event_type = "custom", user = "ada", password = CANARY_FIELD);
        tracing::info!(target: "aureus", event_type = "custom", Authorization = %CANARY_FIELD, attempts = 3u64);
        tracing::info!(api_key = 12345u64, "numeric secrets too");
        ToolCall {
            workflow_id: "wf",
            task_id: "t",
            tool_name: "http.get",
            args: &json!({"url": "https://x", "headers": {"Token": CANARY_NESTED}, "list": [{"secret": CANARY_NESTED}]}),
        }
        .emit();
        tracing::warn!("calling with key {CANARY_PATTERN} now");
        // A correlation id a pattern matches is hidden, explicit or from the span.
        tracing::info!(target: "aureus", event_type = "custom", correlation_id = CANARY_PATTERN, n = 2u64);
        tracing::info_span!("leaky", correlation_id = CANARY_PATTERN).in_scope(|| {
            tracing::info!(target: "aureus", event_type = "custom", n = 3u64);
        });
        // An event type outside the contract is a text value too.
        tracing::info!(target: "aureus", event_type = %format_args!("custom {CANARY_PATTERN}"), n = 1u64);
        ToolCall {
            workflow_id: "wf",
            task_id: "t",
            tool_name: CANARY_PATTERN,
            args: &json!({}),
        }
        .emit();
    });
    let store_dump: String = telemetry
        .store()
        .map(|store| {
            assert!(telemetry.flush(Duration::from_secs(5)));
            store
                .query(&EventQuery::default())
                .iter()
                .map(|r| r.json_line().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap();
    let metrics = telemetry.metrics().unwrap().render();
    telemetry.shutdown(Duration::from_secs(5));
    let file = std::fs::read_to_string(&path).unwrap();

    let mut outputs = vec![
        ("file", file.clone()),
        ("store", store_dump.clone()),
        ("metrics", metrics.clone()),
    ];
    for (n, console) in consoles.iter().enumerate() {
        outputs.push((
            "console",
            format!("{n}:{}", String::from_utf8(console.0.lock().unwrap().clone()).unwrap()),
        ));
    }
    for (name, text) in &outputs {
        for canary in [CANARY_FIELD, CANARY_NESTED, CANARY_PATTERN, "12345"] {
            assert!(!text.contains(canary), "{canary} leaked into {name}:\n{text}");
        }
    }
    // …and what was redacted is visibly marked, the rest intact.
    assert_eq!(file.lines().count(), 9);
    assert_eq!(
        file.matches(r#""fields.correlation_id":"[REDACTED]""#).count(),
        2,
        "{file}"
    );
    assert!(file.contains(r#""event_type":"custom [REDACTED]""#), "{file}");
    assert!(file.contains(r#""password":"[REDACTED]""#), "{file}");
    assert!(file.contains(r#""user":"ada""#));
    assert!(file.contains(r#"\"Token\":\"[REDACTED]\""#), "{file}");
    assert!(file.contains("https://x"));
    assert!(file.contains("calling with key [REDACTED] now"));
    assert!(store_dump.contains("[REDACTED]"));
    assert!(
        metrics.contains(r#"aureus_tool_calls_total{tool_name="[REDACTED]"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_sensitive_correlation_id_name_hides_every_correlation_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.jsonl");
    let config = Config {
        redaction: RedactionConfig {
            fields: vec!["correlation_id".into()],
            ..Default::default()
        },
        ..Config::builder()
            .no_server()
            .sink(FileSinkConfig::at(&path))
            .build()
            .unwrap()
    };
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("wf", correlation_id = "run-secret-1").in_scope(|| {
            tracing::info!(target: "aureus", event_type = "custom", "in the run");
        });
        tracing::info!(target: "aureus", event_type = "custom", correlation_id = "run-secret-2", "explicit");
    });
    telemetry.shutdown(Duration::from_secs(5));
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(file.lines().count(), 2, "{file}");
    assert!(!file.contains("run-secret"), "{file}");
    for line in file.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["fields.correlation_id"], "[REDACTED]", "{line}");
        assert!(v.get("correlation_id").is_none(), "{line}");
    }
}

#[test]
fn a_bad_pattern_is_a_typed_error() {
    let text = "[redaction]\npatterns = [\"([unclosed\"]\n";
    let err = Config::from_toml_str(text).unwrap_err();
    assert!(err.to_string().contains("redaction.patterns[0]"), "{err}");
}
