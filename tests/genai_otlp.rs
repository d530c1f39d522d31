//! The OpenTelemetry GenAI conventions against a real collector (`rotel`):
//! a workflow with one agent, two LLM calls and three tool executions yields
//! the span tree, span names, kinds and attributes the conventions describe;
//! the `gen_ai.client.token.usage` histogram equals the tokens emitted; the
//! cost goes out as a Sum; message content stays out of OTLP by default.

#[path = "support/http.rs"]
mod http;
#[path = "support/rotel.rs"]
mod rotel;

use std::time::Duration;

use aureus_observability::config::{ContentCapture, ModelPrice, OtlpConfig, OtlpProtocol};
use aureus_observability::correlation::CorrelationId;
use aureus_observability::event::{
    AgentSpan, ChatCall, ChatRequest, ChatResult, ToolCall, ToolExecution, WorkflowSpan,
};
use aureus_observability::Config;
use rotel::{AttrValue, Rotel};

const SERVICE: &str = "aureus-genai";

fn stack(collector: &Rotel) -> (tracing::Dispatch, aureus_observability::Telemetry) {
    stack_with(collector, SERVICE, ContentCapture::Local, OtlpProtocol::Grpc)
}

fn stack_with(
    collector: &Rotel,
    service: &str,
    capture: ContentCapture,
    protocol: OtlpProtocol,
) -> (tracing::Dispatch, aureus_observability::Telemetry) {
    let endpoint = match protocol {
        OtlpProtocol::Grpc => collector.grpc_endpoint(),
        _ => collector.http_endpoint(),
    };
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    otlp.batch.interval = "100ms".into();
    otlp.metrics.interval = Some("60s".into());
    let mut config = Config::builder()
        .service_name(service)
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .expect("valid config");
    config.genai.capture_content = capture;
    config.redaction.patterns = vec!["sk-live-[0-9a-f]{16}".into()];
    config.genai.prices.insert(
        "gpt-4o".into(),
        ModelPrice {
            input_per_million: 2.5,
            output_per_million: 10.0,
        },
    );
    aureus_observability::build(config).expect("stack builds")
}

/// The workflow: agent `planner`, chat → three tools (the second fails) → chat.
fn workflow() {
    let id = CorrelationId::new("corr-genai-1").unwrap();
    let run = WorkflowSpan::start("triage", Some(&id));
    run.span().in_scope(|| {
        let agent = AgentSpan::start("planner", Some("openai"), Some("gpt-4o"));
        agent.span().in_scope(|| {
            let call = ChatCall::start(&ChatRequest {
                provider: "openai",
                model: "gpt-4o",
                server_address: Some("api.openai.example"),
                server_port: Some(443),
            });
            call.finish(
                Some("RESPONSE-CANARY use three tools"),
                &ChatResult {
                    response_model: Some("gpt-4o-2024-08-06"),
                    response_id: Some("chatcmpl-1"),
                    finish_reasons: &["tool_calls"],
                    input_tokens: Some(120),
                    output_tokens: Some(30),
                },
            );
            for (i, tool) in ["fs.read", "http.get", "fs.write"].into_iter().enumerate() {
                let call_id = format!("call_{i}");
                let execution = ToolExecution::start(tool, Some(&call_id));
                execution.span().in_scope(|| {
                    let args = serde_json::json!({"n": i});
                    ToolCall {
                        workflow_id: "wf-genai",
                        task_id: "t1",
                        tool_name: tool,
                        args: &args,
                    }
                    .emit_with_call_id(&call_id);
                });
                if tool == "http.get" {
                    execution.fail("timeout");
                }
            }
            let call = ChatCall::start(&ChatRequest {
                provider: "openai",
                model: "gpt-4o",
                ..Default::default()
            });
            call.finish(
                Some("RESPONSE-CANARY done"),
                &ChatResult {
                    response_model: Some("gpt-4o-2024-08-06"),
                    finish_reasons: &["stop", "length"],
                    input_tokens: Some(300),
                    output_tokens: Some(45),
                    ..Default::default()
                },
            );
        });
    });
}

fn attr<'a>(attributes: &'a rotel::Attrs, key: &str) -> &'a AttrValue {
    attributes
        .get(key)
        .unwrap_or_else(|| panic!("attribute {key} missing in {attributes:?}"))
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn a_workflow_with_two_llm_calls_and_three_tools_follows_the_conventions() {
    let collector = Rotel::start();
    let (dispatch, telemetry) = stack(&collector);
    tracing::dispatcher::with_default(&dispatch, workflow);
    assert!(telemetry.flush(Duration::from_secs(15)), "flush in time");
    let got = collector.wait_for("7 spans and the token histogram", Duration::from_secs(20), |r| {
        r.spans
            .iter()
            .filter(|s| s.resource.get("service.name").and_then(|v| v.as_str()) == Some(SERVICE))
            .count()
            >= 7
            && r.metrics.iter().any(|m| m.name == "gen_ai.client.token.usage")
    });
    let spans: Vec<_> = got
        .spans
        .iter()
        .filter(|s| s.resource.get("service.name").and_then(|v| v.as_str()) == Some(SERVICE))
        .collect();
    assert_eq!(spans.len(), 7, "{spans:#?}");
    let named = |name: &str| spans.iter().filter(move |s| s.name == name).collect::<Vec<_>>();

    // invoke_workflow {gen_ai.workflow.name}: the root, INTERNAL.
    let run = named("invoke_workflow triage");
    assert_eq!(run.len(), 1, "{spans:#?}");
    let run = run[0];
    assert_eq!(run.parent_id, "");
    assert_eq!(run.kind, "Internal");
    assert_eq!(*attr(&run.attributes, "gen_ai.operation.name"), "invoke_workflow");
    assert_eq!(*attr(&run.attributes, "gen_ai.workflow.name"), "triage");
    assert_eq!(*attr(&run.attributes, "aureus.correlation_id"), "corr-genai-1");

    // invoke_agent {gen_ai.agent.name}: INTERNAL (in-process agent), child of the run.
    let agent = named("invoke_agent planner");
    assert_eq!(agent.len(), 1);
    let agent = agent[0];
    assert_eq!(agent.parent_id, run.span_id);
    assert_eq!(agent.trace_id, run.trace_id);
    assert_eq!(agent.kind, "Internal");
    assert_eq!(*attr(&agent.attributes, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(*attr(&agent.attributes, "gen_ai.agent.name"), "planner");
    assert_eq!(*attr(&agent.attributes, "gen_ai.provider.name"), "openai");
    assert_eq!(*attr(&agent.attributes, "gen_ai.request.model"), "gpt-4o");
    assert_eq!(*attr(&agent.attributes, "gen_ai.conversation.id"), "corr-genai-1");

    // chat {gen_ai.request.model}: CLIENT, children of the agent.
    let chats = named("chat gpt-4o");
    assert_eq!(chats.len(), 2);
    let mut tokens_in = 0;
    let mut tokens_out = 0;
    for chat in &chats {
        assert_eq!(chat.parent_id, agent.span_id);
        assert_eq!(chat.kind, "Client");
        assert_eq!(chat.status_code, "Unset");
        let a = &chat.attributes;
        assert_eq!(*attr(a, "gen_ai.operation.name"), "chat");
        assert_eq!(*attr(a, "gen_ai.provider.name"), "openai");
        assert_eq!(*attr(a, "gen_ai.request.model"), "gpt-4o");
        assert_eq!(*attr(a, "gen_ai.response.model"), "gpt-4o-2024-08-06");
        assert_eq!(*attr(a, "gen_ai.conversation.id"), "corr-genai-1");
        tokens_in += attr(a, "gen_ai.usage.input_tokens")
            .as_i64()
            .unwrap_or_else(|| panic!("{a:?}"));
        tokens_out += attr(a, "gen_ai.usage.output_tokens").as_i64().expect("int");
        // finish_reasons is a string array, not a string.
        let reasons = attr(a, "gen_ai.response.finish_reasons");
        assert!(reasons.as_str().is_none(), "an array: {reasons:?}");
        assert!(reasons.to_string().contains("stop") || reasons.to_string().contains("tool_calls"));
        // The llm_response event is inside the call, without its content.
        let event = chat
            .events
            .iter()
            .find(|e| e.attributes.get("event_type").map(|v| v.to_string()).as_deref() == Some("llm_response"))
            .expect("llm_response span event");
        assert!(!event.attributes.contains_key("response"), "{event:?}");
        assert!(event.attributes.contains_key("input_tokens"));
    }
    assert_eq!((tokens_in, tokens_out), (420, 75));
    let first = chats
        .iter()
        .find(|c| c.attributes.contains_key("server.address"))
        .expect("first call");
    assert_eq!(*attr(&first.attributes, "server.address"), "api.openai.example");
    assert_eq!(*attr(&first.attributes, "server.port"), 443_i64);
    assert_eq!(*attr(&first.attributes, "gen_ai.response.id"), "chatcmpl-1");

    // execute_tool {gen_ai.tool.name}: INTERNAL, children of the agent.
    for (i, tool) in ["fs.read", "http.get", "fs.write"].into_iter().enumerate() {
        let span = named(&format!("execute_tool {tool}"));
        assert_eq!(span.len(), 1, "{tool}");
        let span = span[0];
        assert_eq!(span.parent_id, agent.span_id);
        assert_eq!(span.kind, "Internal");
        assert_eq!(*attr(&span.attributes, "gen_ai.operation.name"), "execute_tool");
        assert_eq!(*attr(&span.attributes, "gen_ai.tool.name"), tool);
        assert_eq!(
            *attr(&span.attributes, "gen_ai.tool.call.id"),
            format!("call_{i}").as_str()
        );
        if tool == "http.get" {
            assert_eq!(*attr(&span.attributes, "error.type"), "timeout");
            assert_eq!(span.status_code, "Error");
        } else {
            assert!(!span.attributes.contains_key("error.type"));
        }
    }

    // Log records: the llm_response records carry tokens and cost, not the content.
    let logs: Vec<_> = got
        .logs
        .iter()
        .filter(|l| l.resource.get("service.name").and_then(|v| v.as_str()) == Some(SERVICE))
        .collect();
    let responses: Vec<_> = logs.iter().filter(|l| l.event_name == "llm_response").collect();
    assert_eq!(responses.len(), 2);
    for log in &responses {
        assert!(!log.attributes.contains_key("response"));
        assert!(!log.body.contains("CANARY"), "{}", log.body);
        assert!(attr(&log.attributes, "cost_usd").as_f64().unwrap() > 0.0);
    }
    assert!(
        !collector.output().contains("RESPONSE-CANARY"),
        "content left the process"
    );

    // Metrics: the token histogram equals the tokens emitted.
    let histogram = got
        .metrics
        .iter()
        .rev()
        .find(|m| m.name == "gen_ai.client.token.usage")
        .expect("token histogram");
    assert_eq!(histogram.data_type, "Histogram");
    assert_eq!(histogram.unit, "{token}");
    let expected_bounds = aureus_observability::event::semconv::metric::TOKEN_USAGE_BUCKETS.to_vec();
    let mut by_type = std::collections::BTreeMap::new();
    for point in &histogram.points {
        assert_eq!(point.bounds, expected_bounds);
        assert_eq!(*attr(&point.attributes, "gen_ai.operation.name"), "chat");
        assert_eq!(*attr(&point.attributes, "gen_ai.provider.name"), "openai");
        assert_eq!(*attr(&point.attributes, "gen_ai.request.model"), "gpt-4o");
        let kind = attr(&point.attributes, "gen_ai.token.type").to_string();
        by_type.insert(kind, (point.count.unwrap(), point.sum.unwrap()));
    }
    assert_eq!(by_type["input"], (2, 420.0));
    assert_eq!(by_type["output"], (2, 75.0));
    let duration = got
        .metrics
        .iter()
        .rev()
        .find(|m| m.name == "gen_ai.client.operation.duration")
        .expect("duration histogram");
    assert_eq!(duration.unit, "s");
    assert_eq!(duration.points.iter().map(|p| p.count.unwrap()).sum::<u64>(), 2);
    assert_eq!(
        duration.points[0].bounds,
        aureus_observability::event::semconv::metric::OPERATION_DURATION_BUCKETS.to_vec()
    );
    let cost = got
        .metrics
        .iter()
        .rev()
        .find(|m| m.name == "aureus_llm_cost_usd")
        .expect("cost sum");
    assert_eq!(cost.data_type, "Sum");
    assert_eq!(cost.is_monotonic, Some(true));
    let expected = (420.0 * 2.5 + 75.0 * 10.0) / 1e6;
    assert!((cost.points[0].value.unwrap() - expected).abs() < 1e-12, "{cost:?}");
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
}

/// One chat call whose response carries a secret, inside a span carrying an
/// Opt-In content attribute.
fn chat_with_content() {
    let span = tracing::info_span!(
        "agent_step",
        gen_ai.input.messages = r#"[{"role":"user","parts":[{"type":"text","content":"INPUT-CANARY"}]}]"#
    );
    span.in_scope(|| {
        aureus_observability::event::LlmPrompt {
            model: "gpt-4o",
            prompt: "PROMPT-CANARY",
        }
        .emit();
        // The conventions' own content event: its Opt-In attributes are content wherever they go.
        tracing::event!(name: "gen_ai.client.inference.operation.details", target: "aureus", tracing::Level::INFO,
            gen_ai.operation.name = "chat", gen_ai.output.messages = "OUTPUT-CANARY");
        let call = ChatCall::start(&ChatRequest {
            provider: "openai",
            model: "gpt-4o",
            ..Default::default()
        });
        call.finish(
            Some("RESPONSE-CANARY key sk-live-0123456789abcdef"),
            &ChatResult {
                finish_reasons: &["stop"],
                input_tokens: Some(5),
                output_tokens: Some(6),
                ..Default::default()
            },
        );
    });
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn content_goes_out_only_with_capture_all_and_is_redacted_there() {
    let collector = Rotel::start();
    // gRPC goes through the SDK's encoding, HTTP/protobuf through our direct one.
    for (service, capture, protocol) in [
        ("genai-local", ContentCapture::Local, OtlpProtocol::Grpc),
        ("genai-all", ContentCapture::All, OtlpProtocol::Grpc),
        ("genai-local-http", ContentCapture::Local, OtlpProtocol::HttpProtobuf),
        ("genai-all-http", ContentCapture::All, OtlpProtocol::HttpProtobuf),
    ] {
        let (dispatch, telemetry) = stack_with(&collector, service, capture, protocol);
        tracing::dispatcher::with_default(&dispatch, chat_with_content);
        assert!(telemetry.flush(Duration::from_secs(15)), "flush in time");
        let got = collector.wait_for(service, Duration::from_secs(20), |r| {
            let mine = |resource: &rotel::Attrs| resource.get("service.name").and_then(|v| v.as_str()) == Some(service);
            r.spans.iter().filter(|s| mine(&s.resource)).count() >= 2
                && r.logs.iter().filter(|l| mine(&l.resource)).count() >= 2
        });
        let mine = |resource: &rotel::Attrs| resource.get("service.name").and_then(|v| v.as_str()) == Some(service);
        let spans: Vec<_> = got.spans.iter().filter(|s| mine(&s.resource)).collect();
        let logs: Vec<_> = got.logs.iter().filter(|l| mine(&l.resource)).collect();
        let outer = spans.iter().find(|s| s.name == "agent_step").expect("outer span");
        let chat = spans.iter().find(|s| s.name == "chat gpt-4o").expect("chat span");
        let response_event = chat
            .events
            .iter()
            .find(|e| e.attributes.get("event_type").map(|v| v.to_string()).as_deref() == Some("llm_response"))
            .expect("llm_response event");
        let prompt_log = logs.iter().find(|l| l.event_name == "llm_prompt").expect("prompt log");
        let details_event = outer
            .events
            .iter()
            .find(|e| e.name == "gen_ai.client.inference.operation.details")
            .unwrap_or_else(|| panic!("details span event in {outer:?}"));
        let details_log = logs
            .iter()
            .find(|l| l.attributes.contains_key("gen_ai.operation.name"))
            .unwrap_or_else(|| panic!("details log record in {logs:?}"));
        let response_log = logs
            .iter()
            .find(|l| l.event_name == "llm_response")
            .expect("response log");
        match capture {
            ContentCapture::All => {
                assert!(attr(&outer.attributes, "gen_ai.input.messages")
                    .to_string()
                    .contains("INPUT-CANARY"));
                assert_eq!(*attr(&prompt_log.attributes, "prompt"), "PROMPT-CANARY");
                let response = attr(&response_log.attributes, "response").to_string();
                assert!(response.contains("RESPONSE-CANARY"), "{response}");
                let on_span = attr(&response_event.attributes, "response").to_string();
                assert!(on_span.contains("RESPONSE-CANARY"), "{on_span}");
                assert_eq!(
                    *attr(&details_event.attributes, "gen_ai.output.messages"),
                    "OUTPUT-CANARY"
                );
                assert_eq!(
                    *attr(&details_log.attributes, "gen_ai.output.messages"),
                    "OUTPUT-CANARY"
                );
                // Redaction applies to what is captured.
                assert!(
                    !response.contains("sk-live") && !on_span.contains("sk-live"),
                    "{response} {on_span}"
                );
            }
            _ => {
                assert!(!outer.attributes.contains_key("gen_ai.input.messages"), "{outer:?}");
                assert!(!prompt_log.attributes.contains_key("prompt"));
                assert!(!response_log.attributes.contains_key("response"));
                assert!(!response_event.attributes.contains_key("response"));
                assert!(!prompt_log.body.contains("CANARY") && !response_log.body.contains("CANARY"));
                assert!(
                    !details_event.attributes.contains_key("gen_ai.output.messages"),
                    "{details_event:?}"
                );
                assert!(
                    !details_log.attributes.contains_key("gen_ai.output.messages"),
                    "{details_log:?}"
                );
                assert!(!details_log.body.contains("CANARY"), "{}", details_log.body);
                assert_eq!(*attr(&details_event.attributes, "gen_ai.operation.name"), "chat");
                assert_eq!(*attr(&response_log.attributes, "input_tokens"), 5_i64);
            }
        }
        assert!(
            !collector.output().contains("sk-live-0123456789abcdef"),
            "a secret left the process"
        );
        let report = telemetry.shutdown(Duration::from_secs(10));
        assert!(report.is_clean(), "{report}");
    }
}
