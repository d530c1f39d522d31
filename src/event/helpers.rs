//! One typed helper per event kind.
//!
//! Each helper is a plain struct of borrowed fields with an `emit()` method
//! that records exactly the contract's `tracing` event. Levels follow the
//! contract's severity mapping: INFO, except a failed or blocking CRV gate and
//! a denied policy check (WARN) and a rollback (ERROR).

use serde_json::Value as Json;

/// Deepest JSON nesting a helper records (the depth `serde_json` itself
/// parses); deeper `args` / `data` are replaced by [`TOO_DEEP`], since
/// formatting them recurses once per level and could overflow a thread's stack.
pub const MAX_JSON_DEPTH: usize = 128;

/// What a helper records instead of JSON nested deeper than [`MAX_JSON_DEPTH`].
pub const TOO_DEEP: &str = "[not recorded: JSON nested deeper than 128 levels]";

/// Whether `value` nests deeper than [`MAX_JSON_DEPTH`] (checked without recursion).
fn too_deep(value: &Json) -> bool {
    let mut pending: Vec<(&Json, usize)> = vec![(value, 1)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match value {
            Json::Array(items) => Box::new(items.iter()),
            Json::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > MAX_JSON_DEPTH {
            return true;
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// `value` as compact JSON text, or [`TOO_DEEP`].
struct SafeJson<'a>(&'a Json);

impl std::fmt::Display for SafeJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if too_deep(self.0) {
            f.write_str(TOO_DEEP)
        } else {
            std::fmt::Display::fmt(self.0, f)
        }
    }
}

/// Emits an Aureus event at INFO, or at `$alt` level when `$cond` holds.
macro_rules! aureus_event {
    (if $cond:expr => $alt:ident; event_type = $kind:literal, $($fields:tt)*) => {
        if $cond {
            tracing::event!(name: $kind, target: "aureus", tracing::Level::$alt, event_type = $kind, $($fields)*)
        } else {
            tracing::event!(name: $kind, target: "aureus", tracing::Level::INFO, event_type = $kind, $($fields)*)
        }
    };
}

/// `step_start`: a task step begins.
#[derive(Debug, Clone, Copy)]
pub struct StepStart<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The task's type (a metric label).
    pub task_type: &'a str,
    /// Attempt number, 1 for the first.
    pub attempt: u32,
    /// The step's risk tier, e.g. `low`.
    pub risk_tier: &'a str,
}

impl StepStart<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "step_start",
            target: "aureus",
            event_type = "step_start",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            task_type = self.task_type,
            attempt = self.attempt,
            risk_tier = self.risk_tier,
        );
    }
}

/// `step_end`: a task step ends.
#[derive(Debug, Clone, Copy)]
pub struct StepEnd<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The task's type (a metric label).
    pub task_type: &'a str,
    /// Whether the step succeeded.
    pub success: bool,
    /// How long the step took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, when it did.
    pub error: Option<&'a str>,
}

impl StepEnd<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "step_end",
            target: "aureus",
            event_type = "step_end",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            task_type = self.task_type,
            success = self.success,
            duration_ms = self.duration_ms,
            error = self.error,
        );
    }
}

/// `tool_call`: a task calls a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolCall<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The tool (a metric label).
    pub tool_name: &'a str,
    /// The call's arguments; recorded as compact JSON text and truncated to
    /// the configured field limit (nested deeper than [`MAX_JSON_DEPTH`]:
    /// recorded as [`TOO_DEEP`]).
    pub args: &'a Json,
}

impl ToolCall<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "tool_call",
            target: "aureus",
            event_type = "tool_call",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            tool_name = self.tool_name,
            args = %SafeJson(self.args),
        );
    }

    /// Records the event with the optional field `call_id` (the id the
    /// model gave the call, `gen_ai.tool.call.id` in the GenAI conventions).
    ///
    /// ```
    /// use aureus_observability::event::ToolCall;
    /// let args = serde_json::json!({"path": "/etc/hosts"});
    /// ToolCall { workflow_id: "wf-1", task_id: "t-1", tool_name: "fs.read", args: &args }
    ///     .emit_with_call_id("call_7");
    /// ```
    pub fn emit_with_call_id(&self, call_id: &str) {
        tracing::info!(
            name: "tool_call",
            target: "aureus",
            event_type = "tool_call",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            tool_name = self.tool_name,
            args = %SafeJson(self.args),
            call_id = call_id,
        );
    }
}

/// `crv_result`: a CRV gate was checked (WARN when it failed or blocked).
#[derive(Debug, Clone, Copy)]
pub struct CrvResult<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The gate (a metric label).
    pub gate_name: &'a str,
    /// Whether the gate passed.
    pub passed: bool,
    /// Whether the gate blocked the step.
    pub blocked: bool,
    /// Why it failed, when it did.
    pub failure_code: Option<&'a str>,
}

impl CrvResult<'_> {
    /// Records the event.
    pub fn emit(&self) {
        aureus_event!(
            if !self.passed || self.blocked => WARN;
            event_type = "crv_result",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            gate_name = self.gate_name,
            passed = self.passed,
            blocked = self.blocked,
            failure_code = self.failure_code,
        );
    }
}

/// `policy_check`: a policy was checked (WARN when denied).
#[derive(Debug, Clone, Copy)]
pub struct PolicyCheck<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// Whether the action was allowed.
    pub allowed: bool,
    /// Whether a human must approve.
    pub requires_human_approval: bool,
    /// The policy's reason.
    pub reason: &'a str,
}

impl PolicyCheck<'_> {
    /// Records the event.
    pub fn emit(&self) {
        aureus_event!(
            if !self.allowed => WARN;
            event_type = "policy_check",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            allowed = self.allowed,
            requires_human_approval = self.requires_human_approval,
            reason = self.reason,
        );
    }
}

/// `snapshot_commit`: a snapshot was committed.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotCommit<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The snapshot.
    pub snapshot_id: &'a str,
}

impl SnapshotCommit<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "snapshot_commit",
            target: "aureus",
            event_type = "snapshot_commit",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            snapshot_id = self.snapshot_id,
        );
    }
}

/// `rollback`: state was rolled back to a snapshot (ERROR).
#[derive(Debug, Clone, Copy)]
pub struct Rollback<'a> {
    /// The workflow.
    pub workflow_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The snapshot restored.
    pub snapshot_id: &'a str,
    /// Why.
    pub reason: &'a str,
}

impl Rollback<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::error!(
            name: "rollback",
            target: "aureus",
            event_type = "rollback",
            workflow_id = self.workflow_id,
            task_id = self.task_id,
            snapshot_id = self.snapshot_id,
            reason = self.reason,
        );
    }
}

/// `llm_prompt`: a prompt was sent; `prompt_length` is the full length in bytes.
#[derive(Debug, Clone, Copy)]
pub struct LlmPrompt<'a> {
    /// The model.
    pub model: &'a str,
    /// The prompt (truncated to the configured field limit when recorded).
    pub prompt: &'a str,
}

impl LlmPrompt<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "llm_prompt",
            target: "aureus",
            event_type = "llm_prompt",
            model = self.model,
            prompt = self.prompt,
            prompt_length = self.prompt.len() as u64,
        );
    }
}

/// `llm_response`: a model answered; `response_length` is the full length in bytes.
#[derive(Debug, Clone, Copy)]
pub struct LlmResponse<'a> {
    /// The model.
    pub model: &'a str,
    /// The response (truncated to the configured field limit when recorded).
    pub response: &'a str,
}

impl LlmResponse<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "llm_response",
            target: "aureus",
            event_type = "llm_response",
            model = self.model,
            response = self.response,
            response_length = self.response.len() as u64,
        );
    }

    /// Records the event with the optional fields of `usage` (those that are
    /// `None` are left out). The tokens feed `gen_ai.client.token.usage`,
    /// `duration_ms` feeds `gen_ai.client.operation.duration`, and with a
    /// price for `model` the crate adds `cost_usd`; a hand-written event with
    /// the same fields is handled identically.
    ///
    /// ```
    /// use aureus_observability::event::{LlmResponse, LlmUsage};
    ///
    /// LlmResponse { model: "gpt-4o", response: "Paris." }.emit_with(&LlmUsage {
    ///     provider: Some("openai"),
    ///     input_tokens: Some(120),
    ///     output_tokens: Some(8),
    ///     finish_reason: Some("stop"),
    ///     duration_ms: Some(412.5),
    ///     ..LlmUsage::default()
    /// });
    ///
    /// // …is handled exactly like:
    /// tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o",
    ///                response = "Paris.", response_length = 6u64, provider = "openai",
    ///                input_tokens = 120u64, output_tokens = 8u64, finish_reason = "stop",
    ///                duration_ms = 412.5);
    /// ```
    pub fn emit_with(&self, usage: &LlmUsage<'_>) {
        tracing::info!(
            name: "llm_response",
            target: "aureus",
            event_type = "llm_response",
            model = self.model,
            response = self.response,
            response_length = self.response.len() as u64,
            provider = usage.provider,
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            finish_reason = usage.finish_reason,
            duration_ms = usage.duration_ms,
            error_type = usage.error_type,
            cost_usd = usage.cost_usd,
        );
    }
}

/// The optional fields of an `llm_response` (see [`LlmResponse::emit_with`]):
/// what the OpenTelemetry GenAI conventions need for their metrics and the
/// price table for the cost. Every field may be left `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LlmUsage<'a> {
    /// The GenAI provider, a `gen_ai.provider.name` value (`openai`, `anthropic`, `aws.bedrock`, …).
    pub provider: Option<&'a str>,
    /// Input (prompt) tokens, as billed.
    pub input_tokens: Option<u64>,
    /// Output (completion) tokens, as billed.
    pub output_tokens: Option<u64>,
    /// Why the model stopped (`stop`, `length`, `tool_calls`, …).
    pub finish_reason: Option<&'a str>,
    /// How long the call took, in milliseconds.
    pub duration_ms: Option<f64>,
    /// The class of error a failed call ended with (`timeout`, `429`, …; `_OTHER` when unknown).
    pub error_type: Option<&'a str>,
    /// The call's cost in US dollars, when the caller knows it (else the
    /// crate computes it from the price table).
    pub cost_usd: Option<f64>,
}

/// `llm_artifact_generated`: a model produced an artifact.
#[derive(Debug, Clone, Copy)]
pub struct LlmArtifactGenerated<'a> {
    /// What kind of artifact, e.g. `plan`.
    pub artifact_type: &'a str,
    /// The artifact's id.
    pub artifact_id: &'a str,
    /// The model.
    pub model: &'a str,
    /// Length of the prompt that produced it, in bytes.
    pub prompt_length: u64,
    /// Length of the response, in bytes.
    pub response_length: u64,
}

impl LlmArtifactGenerated<'_> {
    /// Records the event.
    pub fn emit(&self) {
        tracing::info!(
            name: "llm_artifact_generated",
            target: "aureus",
            event_type = "llm_artifact_generated",
            artifact_type = self.artifact_type,
            artifact_id = self.artifact_id,
            model = self.model,
            prompt_length = self.prompt_length,
            response_length = self.response_length,
        );
    }
}

/// `custom`: a named event with arbitrary JSON data (recorded as fields
/// `name` and `data`; `data` nested deeper than [`MAX_JSON_DEPTH`] is recorded
/// as [`TOO_DEEP`]). For custom events with typed fields, write them by hand:
/// `tracing::info!(target: "aureus", event_type = "custom", my_field = 3)`.
///
/// ```
/// aureus_observability::event::custom("cache_warmed", &serde_json::json!({"entries": 120}));
/// ```
pub fn custom(name: &str, data: &Json) {
    tracing::info!(name: "custom", target: "aureus", event_type = "custom", name = name, data = %SafeJson(data));
}
