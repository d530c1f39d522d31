//! Names from the OpenTelemetry GenAI semantic conventions this crate follows.
//!
//! Version [`VERSION`] (status *Development*) of the OpenTelemetry semantic
//! conventions: `docs/gen-ai/gen-ai-spans.md`, `gen-ai-agent-spans.md` and
//! `gen-ai-metrics.md`. (After v1.41.0 the GenAI conventions moved to their own
//! repository, `open-telemetry/semantic-conventions-genai`; v1.41 is the last
//! release line carrying them — v1.41.1 changes nothing in them — and v1.41.0
//! the version followed here.)

/// The semantic-conventions version followed.
pub const VERSION: &str = "1.41.0";

/// The schema URL of [`VERSION`].
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.41.0";

/// The `OTEL_SEMCONV_STABILITY_OPT_IN` value that asks for the latest
/// experimental GenAI conventions. This crate emits [`VERSION`] with or
/// without it: it has no older GenAI version to keep emitting by default.
pub const OPT_IN_LATEST: &str = "gen_ai_latest_experimental";

/// Attribute keys.
pub mod attr {
    /// `gen_ai.operation.name` (required on every GenAI span and metric).
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// `gen_ai.provider.name`.
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// `gen_ai.agent.name`.
    pub const AGENT_NAME: &str = "gen_ai.agent.name";
    /// `gen_ai.agent.id`.
    pub const AGENT_ID: &str = "gen_ai.agent.id";
    /// `gen_ai.workflow.name`.
    pub const WORKFLOW_NAME: &str = "gen_ai.workflow.name";
    /// `gen_ai.conversation.id` (this crate: the correlation id).
    pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
    /// `gen_ai.request.model`.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// `gen_ai.response.model`.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// `gen_ai.response.id`.
    pub const RESPONSE_ID: &str = "gen_ai.response.id";
    /// `gen_ai.response.finish_reasons` (string array).
    pub const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// `gen_ai.usage.input_tokens`.
    pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// `gen_ai.usage.output_tokens`.
    pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// `gen_ai.token.type` (metric attribute: `input` / `output`).
    pub const TOKEN_TYPE: &str = "gen_ai.token.type";
    /// `gen_ai.tool.name`.
    pub const TOOL_NAME: &str = "gen_ai.tool.name";
    /// `gen_ai.tool.call.id`.
    pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
    /// `gen_ai.tool.type`.
    pub const TOOL_TYPE: &str = "gen_ai.tool.type";
    /// `error.type`.
    pub const ERROR_TYPE: &str = "error.type";
    /// `server.address`.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `server.port`.
    pub const SERVER_PORT: &str = "server.port";
    /// Opt-In content attributes: left out of OTLP unless
    /// `genai.capture_content = "all"`.
    pub const CONTENT: [&str; 6] = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ];
}

/// `gen_ai.operation.name` values used here.
pub mod operation {
    /// An LLM chat call.
    pub const CHAT: &str = "chat";
    /// An agent invocation.
    pub const INVOKE_AGENT: &str = "invoke_agent";
    /// A workflow run.
    pub const INVOKE_WORKFLOW: &str = "invoke_workflow";
    /// A tool execution.
    pub const EXECUTE_TOOL: &str = "execute_tool";
}

/// Metric names: OTLP names, and the Prometheus names they normalise to
/// (dots → `_`, the `{token}` annotation dropped, unit `s` → `_seconds`).
pub mod metric {
    /// `gen_ai.client.token.usage` (histogram, `{token}`).
    pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
    /// `gen_ai.client.operation.duration` (histogram, `s`).
    pub const OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
    /// The Prometheus name of [`TOKEN_USAGE`].
    pub const TOKEN_USAGE_PROMETHEUS: &str = "gen_ai_client_token_usage";
    /// The Prometheus name of [`OPERATION_DURATION`].
    pub const OPERATION_DURATION_PROMETHEUS: &str = "gen_ai_client_operation_duration_seconds";
    /// The explicit bucket boundaries the conventions give `gen_ai.client.token.usage`.
    pub const TOKEN_USAGE_BUCKETS: [f64; 14] = [
        1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
        67108864.0,
    ];
    /// The explicit bucket boundaries the conventions give `gen_ai.client.operation.duration`, in seconds.
    pub const OPERATION_DURATION_BUCKETS: [f64; 14] = [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ];
}
