//! The Aureus event contract: kinds, field names and typed helpers.
//!
//! An Aureus event is a `tracing` event with target `aureus` (or below it,
//! e.g. `aureus::scheduler`) and a field `event_type` naming its kind. The
//! typed helpers (one per kind, e.g. [`StepEnd`]) emit exactly the events a hand-written
//! `tracing::info!(target: "aureus", event_type = "step_end", …)` would, so
//! every layer handles both identically.
//!
//! ```
//! use aureus_observability::event::StepEnd;
//!
//! StepEnd {
//!     workflow_id: "wf-1",
//!     task_id: "t-1",
//!     task_type: "action",
//!     success: false,
//!     duration_ms: 1200,
//!     error: Some("tool timed out"),
//! }
//! .emit();
//!
//! // …is handled exactly like:
//! tracing::info!(
//!     target: "aureus",
//!     event_type = "step_end",
//!     workflow_id = "wf-1",
//!     task_id = "t-1",
//!     task_type = "action",
//!     success = false,
//!     duration_ms = 1200u64,
//!     error = "tool timed out",
//! );
//! ```

mod helpers;
mod kind;
pub mod semconv;
mod spans;
pub(crate) mod usage;

pub use helpers::{
    custom, CrvResult, LlmArtifactGenerated, LlmPrompt, LlmResponse, LlmUsage, PolicyCheck, Rollback, SnapshotCommit,
    StepEnd, StepStart, ToolCall, MAX_JSON_DEPTH, TOO_DEEP,
};
pub use kind::EventKind;
pub use spans::{AgentSpan, ChatCall, ChatRequest, ChatResult, ToolExecution, WorkflowSpan};

/// The target every Aureus event uses (targets below it, `aureus::…`, count too).
pub const TARGET: &str = "aureus";

/// Whether `target` is `aureus` or a module below it.
pub fn is_aureus_target(target: &str) -> bool {
    target == TARGET || target.strip_prefix(TARGET).is_some_and(|rest| rest.starts_with("::"))
}

/// Whether field `name` of an event of `kind` (`""` for an event without
/// `event_type`) is message content, which
/// [`ContentCapture`](crate::config::ContentCapture) keeps out of OTLP by
/// default and out of every record with `none`: the prompt of `llm_prompt`,
/// the response of `llm_response`, and on any event the conventions' Opt-In
/// content attributes ([`semconv::attr::CONTENT`], e.g. `gen_ai.input.messages`
/// on their `gen_ai.client.inference.operation.details` event).
pub(crate) fn is_content_field(kind: &str, name: &str) -> bool {
    content_field(kind) == Some(name) || is_content_attribute(name)
}

/// Whether `name` is one of the conventions' Opt-In content attributes.
pub(crate) fn is_content_attribute(name: &str) -> bool {
    name.starts_with("gen_ai.") && semconv::attr::CONTENT.contains(&name)
}

/// The field holding message content in events of `kind`, if any.
pub(crate) fn content_field(kind: &str) -> Option<&'static str> {
    match kind {
        "llm_prompt" => Some(fields::PROMPT),
        "llm_response" => Some(fields::RESPONSE),
        _ => None,
    }
}

/// Field names of the contract, as the kernel writes them.
pub mod fields {
    /// The kind of an Aureus event.
    pub const EVENT_TYPE: &str = "event_type";
    /// The `tracing` message field.
    pub const MESSAGE: &str = "message";
    /// The correlation id (on spans, and optionally on events).
    pub const CORRELATION_ID: &str = "correlation_id";
    /// The workflow a step belongs to.
    pub const WORKFLOW_ID: &str = "workflow_id";
    /// The task within the workflow.
    pub const TASK_ID: &str = "task_id";
    /// The task's type (a metric label).
    pub const TASK_TYPE: &str = "task_type";
    /// Attempt number of a step (1 for the first).
    pub const ATTEMPT: &str = "attempt";
    /// The step's risk tier.
    pub const RISK_TIER: &str = "risk_tier";
    /// Whether a step succeeded.
    pub const SUCCESS: &str = "success";
    /// A step's duration in milliseconds.
    pub const DURATION_MS: &str = "duration_ms";
    /// A failed step's error.
    pub const ERROR: &str = "error";
    /// The tool a task called.
    pub const TOOL_NAME: &str = "tool_name";
    /// A tool call's arguments, as JSON text.
    pub const ARGS: &str = "args";
    /// The CRV gate checked.
    pub const GATE_NAME: &str = "gate_name";
    /// Whether a CRV gate passed.
    pub const PASSED: &str = "passed";
    /// Whether a CRV gate blocked the step.
    pub const BLOCKED: &str = "blocked";
    /// Why a CRV gate failed.
    pub const FAILURE_CODE: &str = "failure_code";
    /// Whether a policy check allowed the action.
    pub const ALLOWED: &str = "allowed";
    /// Whether a policy check escalated to a human.
    pub const REQUIRES_HUMAN_APPROVAL: &str = "requires_human_approval";
    /// Why a policy check or rollback happened.
    pub const REASON: &str = "reason";
    /// A snapshot's id.
    pub const SNAPSHOT_ID: &str = "snapshot_id";
    /// An LLM's model name.
    pub const MODEL: &str = "model";
    /// An LLM prompt.
    pub const PROMPT: &str = "prompt";
    /// The prompt's length in bytes, before truncation.
    pub const PROMPT_LENGTH: &str = "prompt_length";
    /// An LLM response.
    pub const RESPONSE: &str = "response";
    /// The response's length in bytes, before truncation.
    pub const RESPONSE_LENGTH: &str = "response_length";
    /// The type of a generated artifact.
    pub const ARTIFACT_TYPE: &str = "artifact_type";
    /// The id of a generated artifact.
    pub const ARTIFACT_ID: &str = "artifact_id";
    /// `llm_response`: tokens of the input (prompt), as the provider bills them (optional).
    pub const INPUT_TOKENS: &str = "input_tokens";
    /// `llm_response`: tokens of the output (completion) (optional).
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    /// `llm_response`: the GenAI provider, a `gen_ai.provider.name` value such as `openai` (optional).
    pub const PROVIDER: &str = "provider";
    /// `llm_response`: why the model stopped, e.g. `stop`, `length` (optional).
    pub const FINISH_REASON: &str = "finish_reason";
    /// `llm_response`: the class of error a failed call ended with, an
    /// `error.type` value such as `timeout` (optional).
    pub const ERROR_TYPE: &str = "error_type";
    /// `llm_response`: the call's cost in US dollars — added by the crate when
    /// the price table knows the model, unless the event carries it.
    pub const COST_USD: &str = "cost_usd";
    /// `tool_call`: the tool call's id, as the model gave it (optional).
    pub const CALL_ID: &str = "call_id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aureus_targets() {
        assert!(is_aureus_target("aureus"));
        assert!(is_aureus_target("aureus::kernel"));
        assert!(!is_aureus_target("aureusx"));
        assert!(!is_aureus_target("hyper"));
    }
}
