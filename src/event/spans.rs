//! Typed span helpers following the OpenTelemetry GenAI semantic conventions
//! (version [`semconv::VERSION`]): a workflow run, an agent invocation, a tool
//! execution and an LLM chat call.
//!
//! Each helper opens a `tracing` span (target `aureus`, level INFO) whose
//! exported name and kind come from the `otel.name` / `otel.kind` fields, with
//! the attributes the conventions use for sampling set **at span creation**
//! and the rest declared empty and recorded later through the guard. The
//! correlation id in scope becomes `gen_ai.conversation.id` where the
//! conventions list it (agent and chat spans).
//!
//! | helper | span name | kind | set at start |
//! | --- | --- | --- | --- |
//! | [`WorkflowSpan`] | `invoke_workflow {gen_ai.workflow.name}` | INTERNAL | `gen_ai.operation.name`, `gen_ai.workflow.name` |
//! | [`AgentSpan`] | `invoke_agent {gen_ai.agent.name}` | INTERNAL (in-process agent) | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.agent.name`, `gen_ai.conversation.id` |
//! | [`ToolExecution`] | `execute_tool {gen_ai.tool.name}` | INTERNAL | `gen_ai.operation.name`, `gen_ai.tool.name`, `gen_ai.tool.call.id` |
//! | [`ChatCall`] | `chat {gen_ai.request.model}` | CLIENT | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`, `server.address`, `server.port`, `gen_ai.conversation.id` |
//!
//! A name, model or provider given as `""` is not available: the span name
//! is then the operation alone (`chat`, `invoke_agent`, …) and the attribute
//! is left out, never set to `""`.
//!
//! Recorded later: `error.type` (and an error status) on every one;
//! `gen_ai.agent.id` on agent spans ([`AgentSpan::record_agent_id`]);
//! `gen_ai.response.model`, `gen_ai.response.id`, `gen_ai.response.finish_reasons`
//! (exported as a string array), `gen_ai.usage.input_tokens` and
//! `gen_ai.usage.output_tokens` on chat calls.
//!
//! ```
//! use aureus_observability::correlation::CorrelationId;
//! use aureus_observability::event::{AgentSpan, ChatCall, ChatRequest, ChatResult, ToolExecution, WorkflowSpan};
//!
//! let id = CorrelationId::new("run-42").unwrap();
//! let workflow = WorkflowSpan::start("triage", Some(&id));
//! workflow.span().in_scope(|| {
//!     let agent = AgentSpan::start("planner", Some("openai"), Some("gpt-4o"));
//!     agent.span().in_scope(|| {
//!         let call = ChatCall::start(&ChatRequest { provider: "openai", model: "gpt-4o", ..Default::default() });
//!         // … call the model, inside the span …
//!         call.finish(Some("Use fs.read."), &ChatResult {
//!             response_model: Some("gpt-4o-2024-08-06"),
//!             finish_reasons: &["tool_calls"],
//!             input_tokens: Some(212),
//!             output_tokens: Some(9),
//!             ..Default::default()
//!         }); // records the span's attributes and emits `llm_response` inside it
//!
//!         let tool = ToolExecution::start("fs.read", Some("call_1"));
//!         tool.fail("timeout"); // error.type = timeout, status error
//!     });
//! });
//! ```

use std::time::Instant;

use tracing::field::Empty;
use tracing::Span;

use super::semconv::{self, operation};
use crate::correlation::{self, CorrelationId};

/// `invoke_workflow {gen_ai.workflow.name}` (kind INTERNAL): one run of a
/// workflow grouping several agent invocations, LLM calls and tools.
///
/// `gen_ai.operation.name = invoke_workflow` and `gen_ai.workflow.name` are set
/// at start; a correlation id given here is the span's `correlation_id`
/// (inherited by everything inside).
#[derive(Debug, Clone)]
pub struct WorkflowSpan {
    span: Span,
}

impl WorkflowSpan {
    /// Opens the span (not entered: use [`WorkflowSpan::span`] with
    /// `in_scope`, `enter` or `Instrument`).
    pub fn start(name: &str, correlation_id: Option<&CorrelationId>) -> Self {
        let span = match correlation_id {
            Some(id) => tracing::info_span!(
                target: "aureus",
                "invoke_workflow",
                otel.name = %SpanName(operation::INVOKE_WORKFLOW, name),
                gen_ai.operation.name = operation::INVOKE_WORKFLOW,
                gen_ai.workflow.name = given(name),
                correlation_id = id.as_str(),
                error.type = Empty,
                otel.status_code = Empty,
            ),
            None => tracing::info_span!(
                target: "aureus",
                "invoke_workflow",
                otel.name = %SpanName(operation::INVOKE_WORKFLOW, name),
                gen_ai.operation.name = operation::INVOKE_WORKFLOW,
                gen_ai.workflow.name = given(name),
                error.type = Empty,
                otel.status_code = Empty,
            ),
        };
        WorkflowSpan { span }
    }

    /// The span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Marks the run failed: `error.type = error_type` and an error status.
    pub fn fail(&self, error_type: &str) {
        fail(&self.span, error_type);
    }
}

/// `invoke_agent {gen_ai.agent.name}` (kind INTERNAL: an agent running in
/// this process, the conventions' *invoke agent internal span*).
#[derive(Debug, Clone)]
pub struct AgentSpan {
    span: Span,
}

impl AgentSpan {
    /// Opens the span with `gen_ai.operation.name = invoke_agent`,
    /// `gen_ai.agent.name`, `gen_ai.provider.name` (required by the
    /// conventions: give it when the agent has one provider),
    /// `gen_ai.request.model` and `gen_ai.conversation.id` (the correlation
    /// id in scope, if any) set at start.
    pub fn start(name: &str, provider: Option<&str>, model: Option<&str>) -> Self {
        let conversation = correlation::current();
        let span = tracing::info_span!(
            target: "aureus",
            "invoke_agent",
            otel.name = %SpanName(operation::INVOKE_AGENT, name),
            gen_ai.operation.name = operation::INVOKE_AGENT,
            gen_ai.provider.name = provider.and_then(given),
            gen_ai.request.model = model.and_then(given),
            gen_ai.agent.name = given(name),
            gen_ai.conversation.id = conversation.as_ref().map(CorrelationId::as_str),
            gen_ai.agent.id = Empty,
            error.type = Empty,
            otel.status_code = Empty,
        );
        AgentSpan { span }
    }

    /// The span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records `gen_ai.agent.id`.
    pub fn record_agent_id(&self, id: &str) {
        self.span.record(semconv::attr::AGENT_ID, id);
    }

    /// Marks the invocation failed: `error.type = error_type` and an error status.
    pub fn fail(&self, error_type: &str) {
        fail(&self.span, error_type);
    }
}

/// `execute_tool {gen_ai.tool.name}` (kind INTERNAL): one tool execution.
#[derive(Debug, Clone)]
pub struct ToolExecution {
    span: Span,
}

impl ToolExecution {
    /// Opens the span with `gen_ai.operation.name = execute_tool`,
    /// `gen_ai.tool.name` and `gen_ai.tool.call.id` (when known).
    pub fn start(tool_name: &str, call_id: Option<&str>) -> Self {
        let span = tracing::info_span!(
            target: "aureus",
            "execute_tool",
            otel.name = %SpanName(operation::EXECUTE_TOOL, tool_name),
            gen_ai.operation.name = operation::EXECUTE_TOOL,
            gen_ai.tool.name = given(tool_name),
            gen_ai.tool.call.id = call_id.and_then(given),
            error.type = Empty,
            otel.status_code = Empty,
        );
        ToolExecution { span }
    }

    /// The span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Marks the execution failed: `error.type = error_type` and an error status.
    pub fn fail(&self, error_type: &str) {
        fail(&self.span, error_type);
    }
}

/// What a chat call asks for: the attributes set at span start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatRequest<'a> {
    /// `gen_ai.provider.name` (`openai`, `anthropic`, `aws.bedrock`, …; required).
    pub provider: &'a str,
    /// `gen_ai.request.model`.
    pub model: &'a str,
    /// `server.address` of the model's endpoint, if known.
    pub server_address: Option<&'a str>,
    /// `server.port`, if known.
    pub server_port: Option<u16>,
}

/// What a chat call returned: the attributes recorded at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChatResult<'a> {
    /// `gen_ai.response.model`.
    pub response_model: Option<&'a str>,
    /// `gen_ai.response.id`.
    pub response_id: Option<&'a str>,
    /// `gen_ai.response.finish_reasons`, one per generation.
    pub finish_reasons: &'a [&'a str],
    /// `gen_ai.usage.input_tokens`.
    pub input_tokens: Option<u64>,
    /// `gen_ai.usage.output_tokens`.
    pub output_tokens: Option<u64>,
}

/// `chat {gen_ai.request.model}` (kind CLIENT): one LLM call, timed from
/// [`ChatCall::start`] to [`ChatCall::finish`] / [`ChatCall::fail`].
///
/// Both end the call by emitting its `llm_response` event inside the span —
/// with `provider`, the tokens, `finish_reason` and `duration_ms` — so the
/// `gen_ai.client.*` metrics and the cost come from that one event (do not
/// emit another `llm_response` for the same call).
#[derive(Debug)]
pub struct ChatCall {
    span: Span,
    provider: Box<str>,
    model: Box<str>,
    started: Instant,
}

impl ChatCall {
    /// Opens the span with `gen_ai.operation.name = chat`,
    /// `gen_ai.provider.name`, `gen_ai.request.model`, `server.address`,
    /// `server.port` and `gen_ai.conversation.id` (the correlation id in scope).
    pub fn start(request: &ChatRequest<'_>) -> Self {
        let conversation = correlation::current();
        let span = tracing::info_span!(
            target: "aureus",
            "chat",
            otel.name = %SpanName(operation::CHAT, request.model),
            otel.kind = "client",
            gen_ai.operation.name = operation::CHAT,
            gen_ai.provider.name = given(request.provider),
            gen_ai.request.model = given(request.model),
            server.address = request.server_address.and_then(given),
            server.port = request.server_port.map(i64::from),
            gen_ai.conversation.id = conversation.as_ref().map(CorrelationId::as_str),
            gen_ai.response.model = Empty,
            gen_ai.response.id = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            error.type = Empty,
            otel.status_code = Empty,
        );
        ChatCall {
            span,
            provider: request.provider.into(),
            model: request.model.into(),
            started: Instant::now(),
        }
    }

    /// The span (enter it around the call to the model).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Ends a successful call: records the response attributes, then emits
    /// `llm_response` inside the span with `response` (when given; content is
    /// subject to `genai.capture_content`), the tokens, the first finish
    /// reason and the measured `duration_ms`.
    pub fn finish(self, response: Option<&str>, result: &ChatResult<'_>) {
        let span = &self.span;
        if let Some(model) = result.response_model {
            span.record(semconv::attr::RESPONSE_MODEL, model);
        }
        if let Some(id) = result.response_id {
            span.record(semconv::attr::RESPONSE_ID, id);
        }
        if !result.finish_reasons.is_empty() {
            let reasons = serde_json::to_string(result.finish_reasons).unwrap_or_default();
            span.record(semconv::attr::FINISH_REASONS, reasons.as_str());
        }
        // As `i64`: tracing-opentelemetry exports a `u64` field as text.
        let int = |tokens: u64| i64::try_from(tokens).unwrap_or(i64::MAX);
        if let Some(tokens) = result.input_tokens {
            span.record(semconv::attr::INPUT_TOKENS, int(tokens));
        }
        if let Some(tokens) = result.output_tokens {
            span.record(semconv::attr::OUTPUT_TOKENS, int(tokens));
        }
        let duration_ms = self.elapsed_ms();
        let usage = super::LlmUsage {
            provider: Some(&self.provider),
            input_tokens: result.input_tokens,
            output_tokens: result.output_tokens,
            finish_reason: result.finish_reasons.first().copied(),
            duration_ms: Some(duration_ms),
            error_type: None,
            cost_usd: None,
        };
        span.in_scope(|| match response {
            Some(response) => super::LlmResponse {
                model: &self.model,
                response,
            }
            .emit_with(&usage),
            None => emit_without_content(&self.model, &usage),
        });
    }

    /// Ends a failed call: `error.type = error_type` (an error code of the
    /// provider or client, or `_OTHER`), an error status, and an
    /// `llm_response` with `error_type` and the measured `duration_ms`.
    pub fn fail(self, error_type: &str) {
        fail(&self.span, error_type);
        let usage = super::LlmUsage {
            provider: Some(&self.provider),
            duration_ms: Some(self.elapsed_ms()),
            error_type: Some(error_type),
            ..Default::default()
        };
        self.span.in_scope(|| emit_without_content(&self.model, &usage));
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }
}

/// `llm_response` without `response` / `response_length` (no content known).
fn emit_without_content(model: &str, usage: &super::LlmUsage<'_>) {
    tracing::info!(
        name: "llm_response",
        target: "aureus",
        event_type = "llm_response",
        model = model,
        provider = usage.provider,
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        finish_reason = usage.finish_reason,
        duration_ms = usage.duration_ms,
        error_type = usage.error_type,
        cost_usd = usage.cost_usd,
    );
}

/// A span name of the conventions: `{operation} {name}`, or the operation
/// alone when the name is not available (empty), as they say for
/// `invoke_agent` (never a trailing space).
struct SpanName<'a>(&'a str, &'a str);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)?;
        if !self.1.is_empty() {
            write!(f, " {}", self.1)?;
        }
        Ok(())
    }
}

/// `value` when it is given (not empty): an empty name, model or provider is
/// not available, so its attribute is left out rather than set to `""`.
fn given(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty())
}

fn fail(span: &Span, error_type: &str) {
    span.record(semconv::attr::ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    use super::*;

    type Fields = BTreeMap<String, String>;

    /// Keeps the fields each new span is created with.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<Vec<Fields>>>);

    struct Collect<'a>(&'a mut Fields);

    impl Visit for Collect<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
        fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: Context<'_, S>) {
            let mut fields = Fields::new();
            attrs.record(&mut Collect(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }

    fn started(f: impl FnOnce()) -> Vec<Fields> {
        let spans = Spans::default();
        let subscriber = tracing_subscriber::registry().with(spans.clone());
        tracing::subscriber::with_default(subscriber, f);
        let out = spans.0.lock().unwrap().clone();
        out
    }

    #[test]
    fn span_names_follow_the_conventions_with_and_without_a_name() {
        let spans = started(|| {
            let _ = WorkflowSpan::start("triage", None);
            let _ = AgentSpan::start("planner", Some("openai"), Some("gpt-4o"));
            let _ = ToolExecution::start("fs.read", Some("call_1"));
            let _ = ChatCall::start(&ChatRequest {
                provider: "openai",
                model: "gpt-4o",
                ..Default::default()
            });
            // Names not available: the operation alone, no attribute set to "".
            let _ = WorkflowSpan::start("", None);
            let _ = AgentSpan::start("", Some(""), Some(""));
            let _ = ToolExecution::start("", Some(""));
            let _ = ChatCall::start(&ChatRequest {
                provider: "",
                model: "",
                server_address: Some(""),
                server_port: None,
            });
        });
        let names: Vec<&str> = spans.iter().map(|s| s["otel.name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "invoke_workflow triage",
                "invoke_agent planner",
                "execute_tool fs.read",
                "chat gpt-4o",
                "invoke_workflow",
                "invoke_agent",
                "execute_tool",
                "chat",
            ]
        );
        assert_eq!(spans[3]["gen_ai.request.model"], "gpt-4o");
        for unnamed in &spans[4..] {
            assert!(
                unnamed.values().all(|v| !v.is_empty()),
                "an empty attribute: {unnamed:?}"
            );
            for key in [
                "gen_ai.workflow.name",
                "gen_ai.agent.name",
                "gen_ai.tool.name",
                "gen_ai.request.model",
                "gen_ai.provider.name",
                "gen_ai.tool.call.id",
                "server.address",
            ] {
                assert!(!unnamed.contains_key(key), "{key} in {unnamed:?}");
            }
        }
    }
}
