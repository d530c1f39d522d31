//! Typed helpers emit exactly the contract's events: a hand-written event is
//! captured into an identical record.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aureus_observability::event::{self, EventKind};
use aureus_observability::{Record, Value};
use serde_json::json;

/// Everything but the timestamp and the callsite-dependent span data.
#[derive(Debug, PartialEq)]
struct Essence {
    level_and_target: String,
    event_type: Option<String>,
    kind: Option<EventKind>,
    fields: Vec<(String, String)>,
    correlation_id: Option<String>,
}

fn essence(r: &Record) -> Essence {
    Essence {
        level_and_target: format!("{} {}", r.level, r.target),
        event_type: r.event_type().map(str::to_owned),
        kind: r.kind,
        // Debug keeps the type: U64(5) differs from I64(5) and Str("5").
        fields: r.fields().map(|(k, v)| (k.to_string(), format!("{v:?}"))).collect(),
        correlation_id: r.correlation_id().map(str::to_owned),
    }
}

type Emit = Box<dyn FnOnce()>;

fn pairs(f: impl FnOnce(), g: impl FnOnce()) -> (Arc<Record>, Arc<Record>) {
    let (dispatch, telemetry, collect) = common::collecting("trace");
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("wf", correlation_id = "wf-eq");
        let _e = span.enter();
        f();
        g();
    });
    telemetry.shutdown(Duration::from_secs(5));
    let records = collect.records();
    assert_eq!(records.len(), 2);
    (records[0].clone(), records[1].clone())
}

#[test]
fn helpers_and_hand_written_events_are_identical() {
    let args = json!({"path": "/etc/hosts", "opts": {"follow": true}});
    let cases: Vec<(Emit, Emit)> = vec![
        (
            Box::new(|| {
                event::StepStart {
                    workflow_id: "w",
                    task_id: "t",
                    task_type: "action",
                    attempt: 2,
                    risk_tier: "high",
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "step_start", workflow_id = "w", task_id = "t", task_type = "action", attempt = 2u32, risk_tier = "high"),
            ),
        ),
        (
            Box::new(|| {
                event::StepEnd {
                    workflow_id: "w",
                    task_id: "t",
                    task_type: "query",
                    success: false,
                    duration_ms: 1500,
                    error: Some("boom"),
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "w", task_id = "t", task_type = "query", success = false, duration_ms = 1500u64, error = "boom"),
            ),
        ),
        (
            Box::new(move || {
                event::ToolCall {
                    workflow_id: "w",
                    task_id: "t",
                    tool_name: "fs.read",
                    args: &args,
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "tool_call", workflow_id = "w", task_id = "t", tool_name = "fs.read", args = r#"{"opts":{"follow":true},"path":"/etc/hosts"}"#),
            ),
        ),
        (
            Box::new(|| {
                event::CrvResult {
                    workflow_id: "w",
                    task_id: "t",
                    gate_name: "schema",
                    passed: false,
                    blocked: true,
                    failure_code: Some("E42"),
                }
                .emit()
            }),
            Box::new(
                || tracing::warn!(target: "aureus", event_type = "crv_result", workflow_id = "w", task_id = "t", gate_name = "schema", passed = false, blocked = true, failure_code = "E42"),
            ),
        ),
        (
            Box::new(|| {
                event::PolicyCheck {
                    workflow_id: "w",
                    task_id: "t",
                    allowed: false,
                    requires_human_approval: true,
                    reason: "pii",
                }
                .emit()
            }),
            Box::new(
                || tracing::warn!(target: "aureus", event_type = "policy_check", workflow_id = "w", task_id = "t", allowed = false, requires_human_approval = true, reason = "pii"),
            ),
        ),
        (
            Box::new(|| {
                event::SnapshotCommit {
                    workflow_id: "w",
                    task_id: "t",
                    snapshot_id: "s1",
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "snapshot_commit", workflow_id = "w", task_id = "t", snapshot_id = "s1"),
            ),
        ),
        (
            Box::new(|| {
                event::Rollback {
                    workflow_id: "w",
                    task_id: "t",
                    snapshot_id: "s1",
                    reason: "failed",
                }
                .emit()
            }),
            Box::new(
                || tracing::error!(target: "aureus", event_type = "rollback", workflow_id = "w", task_id = "t", snapshot_id = "s1", reason = "failed"),
            ),
        ),
        (
            Box::new(|| {
                event::LlmPrompt {
                    model: "m",
                    prompt: "hello",
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "llm_prompt", model = "m", prompt = "hello", prompt_length = 5u64),
            ),
        ),
        (
            Box::new(|| {
                event::LlmResponse {
                    model: "m",
                    response: "hi",
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "llm_response", model = "m", response = "hi", response_length = 2u64),
            ),
        ),
        (
            Box::new(|| {
                event::LlmArtifactGenerated {
                    artifact_type: "plan",
                    artifact_id: "a1",
                    model: "m",
                    prompt_length: 5,
                    response_length: 2,
                }
                .emit()
            }),
            Box::new(
                || tracing::info!(target: "aureus", event_type = "llm_artifact_generated", artifact_type = "plan", artifact_id = "a1", model = "m", prompt_length = 5u64, response_length = 2u64),
            ),
        ),
        (
            Box::new(|| event::custom("warmed", &json!({"n": 1}))),
            Box::new(|| tracing::info!(target: "aureus", event_type = "custom", name = "warmed", data = r#"{"n":1}"#)),
        ),
    ];
    let mut kinds = Vec::new();
    for (helper, by_hand) in cases {
        let (a, b) = pairs(helper, by_hand);
        assert_eq!(essence(&a), essence(&b));
        assert!(a.is_aureus_event());
        assert_eq!(a.correlation_id().unwrap(), "wf-eq");
        kinds.push(a.kind.unwrap());
    }
    assert_eq!(kinds, EventKind::ALL.to_vec(), "one helper per kind, in contract order");
}

#[test]
fn large_values_are_truncated_with_a_visible_marker() {
    let config = aureus_observability::Config::builder()
        .no_monitoring()
        .no_server()
        .max_field_bytes(64)
        .no_sinks()
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let collect = common::Collect::default();
    telemetry
        .sinks()
        .add("collect", collect.clone(), common::lossless())
        .unwrap();
    let prompt = "p".repeat(10_000);
    let args = json!({"blob": "x".repeat(5000)});
    tracing::dispatcher::with_default(&dispatch, || {
        event::LlmPrompt {
            model: "m",
            prompt: &prompt,
        }
        .emit();
        event::ToolCall {
            workflow_id: "w",
            task_id: "t",
            tool_name: "big",
            args: &args,
        }
        .emit();
    });
    telemetry.shutdown(Duration::from_secs(5));
    let records = collect.records();
    let prompt_field = records[0].str_field("prompt").unwrap();
    assert!(prompt_field.starts_with(&"p".repeat(64)));
    assert!(prompt_field.ends_with("…[truncated 9936 bytes]"), "{prompt_field}");
    assert_eq!(records[0].field("prompt_length"), Some(Value::U64(10_000)));
    assert!(records[1].str_field("args").unwrap().contains("…[truncated"));
}

#[test]
fn default_limit_is_four_kib() {
    assert_eq!(aureus_observability::config::DEFAULT_MAX_FIELD_BYTES, 4096);
}
