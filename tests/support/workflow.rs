//! Test support: a monitoring stack on a free loopback port whose spans go
//! to a scripted OTLP receiver (so records carry W3C trace ids), and one
//! hand-written workflow run with every kind of row the run view draws —
//! steps, an LLM call with tokens and cost, tool calls, CRV gates (one
//! blocking), policy checks (one denied), snapshots and rollbacks.
//!
//! Needs `mod otlp_receiver` (support/otlp_receiver.rs) at the test crate's root.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use aureus_observability::config::{MonitoringConfig, OtlpConfig};
use aureus_observability::{Config, Telemetry};

use crate::otlp_receiver::OtlpReceiver;

/// The trace URL template the stack is configured with.
pub const TRACE_TEMPLATE: &str = "http://jaeger.test:16686/trace/{trace_id}";

/// Tokens and cost the run's LLM response reports.
pub const INPUT_TOKENS: u64 = 1234;
pub const OUTPUT_TOKENS: u64 = 567;
pub const COST_USD: f64 = 0.0421;

/// A running stack: its dispatch, telemetry, address and OTLP receiver.
pub struct Stack {
    pub dispatch: tracing::Dispatch,
    pub telemetry: Telemetry,
    pub addr: SocketAddr,
    pub receiver: OtlpReceiver,
}

/// A stack with the dashboard (token-protected when `token` is set), the
/// trace URL template, and OTLP traces to a local receiver.
pub fn stack(token: Option<&str>) -> Stack {
    let receiver = OtlpReceiver::start();
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(receiver.endpoint()),
        protocol: Some(aureus_observability::config::OtlpProtocol::HttpProtobuf),
        ..OtlpConfig::default()
    };
    otlp.logs.enabled = false;
    otlp.metrics.enabled = false;
    otlp.batch.interval = "100ms".into();
    let config = Config {
        monitoring: MonitoringConfig {
            token: token.map(str::to_owned),
            trace_url_template: Some(TRACE_TEMPLATE.to_owned()),
            ..Default::default()
        },
        ..Config::builder()
            .listen("127.0.0.1:0")
            .no_sinks()
            .otlp(otlp)
            .build()
            .expect("configuration")
    };
    let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");
    let addr = telemetry.server_addr().expect("listening");
    Stack {
        dispatch,
        telemetry,
        addr,
        receiver,
    }
}

fn pause() {
    std::thread::sleep(Duration::from_millis(15));
}

/// One workflow run under `correlation_id`: task t01 fails (a blocking CRV
/// gate), is rolled back and succeeds on its second attempt; task t02 is
/// denied by policy and rolled back. Every record is hand-written
/// `tracing::info!` (handled exactly like the typed helpers).
pub fn failed_run(correlation_id: &str) {
    let span = tracing::info_span!("workflow", correlation_id = %correlation_id, workflow_id = "wf-run-view");
    let _entered = span.enter();
    let wf = "wf-run-view";
    tracing::info!(target: "aureus", event_type = "step_start", workflow_id = wf, task_id = "t01", task_type = "plan", attempt = 1u64, risk_tier = "low");
    pause();
    tracing::info!(target: "aureus", event_type = "llm_prompt", model = "aureus-llm-large", prompt = "plan the work", prompt_length = 13u64);
    pause();
    tracing::info!(target: "aureus", event_type = "llm_response", model = "aureus-llm-large", response = "{\"plan\": []}",
        response_length = 12u64, input_tokens = INPUT_TOKENS, output_tokens = OUTPUT_TOKENS, cost_usd = COST_USD,
        provider = "aureus", finish_reason = "stop");
    tracing::info!(target: "aureus", event_type = "llm_artifact_generated", artifact_type = "plan", artifact_id = "art-1",
        model = "aureus-llm-large", prompt_length = 13u64, response_length = 12u64);
    pause();
    tracing::info!(target: "aureus", event_type = "tool_call", workflow_id = wf, task_id = "t01", tool_name = "kv.get", args = "{\"key\": \"a\"}");
    pause();
    tracing::info!(target: "aureus", event_type = "crv_result", workflow_id = wf, task_id = "t01", gate_name = "safety_scan",
        passed = false, blocked = true, failure_code = "UNSAFE_CONTENT");
    pause();
    tracing::info!(target: "aureus", event_type = "step_end", workflow_id = wf, task_id = "t01", task_type = "plan",
        success = false, duration_ms = 75.0, error = "CRV gate `safety_scan` blocked the step: UNSAFE_CONTENT");
    tracing::info!(target: "aureus", event_type = "rollback", workflow_id = wf, task_id = "t01", snapshot_id = "snap-0",
        reason = "CRV gate `safety_scan` blocked the step");
    pause();
    tracing::info!(target: "aureus", event_type = "step_start", workflow_id = wf, task_id = "t01", task_type = "plan", attempt = 2u64, risk_tier = "low");
    pause();
    tracing::info!(target: "aureus", event_type = "tool_call", workflow_id = wf, task_id = "t01", tool_name = "planner.decompose", args = "{}");
    tracing::info!(target: "aureus", event_type = "crv_result", workflow_id = wf, task_id = "t01", gate_name = "schema_check",
        passed = true, blocked = false);
    tracing::info!(target: "aureus", event_type = "policy_check", workflow_id = wf, task_id = "t01", allowed = true,
        requires_human_approval = false, reason = "within policy");
    pause();
    tracing::info!(target: "aureus", event_type = "snapshot_commit", workflow_id = wf, task_id = "t01", snapshot_id = "snap-1");
    tracing::info!(target: "aureus", event_type = "step_end", workflow_id = wf, task_id = "t01", task_type = "plan",
        success = true, duration_ms = 60.0);
    pause();
    tracing::info!(target: "aureus", event_type = "step_start", workflow_id = wf, task_id = "t02", task_type = "action", attempt = 1u64, risk_tier = "high");
    pause();
    tracing::info!(target: "aureus", event_type = "tool_call", workflow_id = wf, task_id = "t02", tool_name = "shell.exec", args = "{}");
    tracing::info!(target: "aureus", event_type = "policy_check", workflow_id = wf, task_id = "t02", allowed = false,
        requires_human_approval = true, reason = "human approval not granted");
    pause();
    tracing::info!(target: "aureus", event_type = "step_end", workflow_id = wf, task_id = "t02", task_type = "action",
        success = false, duration_ms = 400.0, error = "policy denied: human approval not granted");
    tracing::info!(target: "aureus", event_type = "rollback", workflow_id = wf, task_id = "t02", snapshot_id = "snap-1",
        reason = "policy denied");
}

/// A short successful run under `correlation_id` (one quick step).
pub fn good_run(correlation_id: &str) {
    let span = tracing::info_span!("workflow", correlation_id = %correlation_id);
    let _entered = span.enter();
    tracing::info!(target: "aureus", event_type = "step_start", workflow_id = "wf-good", task_id = "t01", task_type = "plan", attempt = 1u64, risk_tier = "low");
    tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "wf-good", task_id = "t01", task_type = "plan",
        success = true, duration_ms = 5.0);
}
