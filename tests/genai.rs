//! The OpenTelemetry GenAI conventions on the local paths: the optional
//! `llm_response` / `tool_call` fields, `cost_usd` from the price table (in
//! the file, the store and the summary), the `gen_ai.client.*` histograms and
//! the cost counter on `/metrics` (read back by the Python client's parser
//! and `promtool`), and where message content goes for each setting of
//! `genai.capture_content`.

#[path = "support/exposition.rs"]
mod exposition;
#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::BTreeMap;
use std::time::Duration;

use aureus_observability::config::{ContentCapture, FileSinkConfig, ModelPrice};
use aureus_observability::event::{LlmPrompt, LlmResponse, LlmUsage, StepEnd, ToolCall};
use aureus_observability::{Config, EventQuery, Telemetry};

fn config(capture: ContentCapture, file: Option<&std::path::Path>) -> Config {
    let mut builder = Config::builder().no_server().no_monitoring().no_sinks();
    if let Some(path) = file {
        builder = builder.sink(FileSinkConfig {
            path: path.to_owned(),
            ..Default::default()
        });
    }
    let mut config = builder.build().expect("valid config");
    config.genai.capture_content = capture;
    config.genai.prices.insert(
        "gpt-4o".into(),
        ModelPrice {
            input_per_million: 2.5,
            output_per_million: 10.0,
        },
    );
    config
}

/// Two priced calls (one from the helper, one written by hand), one call to
/// a model without a price, one carrying its own cost, two successful steps.
fn workload() {
    let span = tracing::info_span!("wf", correlation_id = "corr-genai");
    let _entered = span.enter();
    LlmPrompt {
        model: "gpt-4o",
        prompt: "PROMPT-CANARY",
    }
    .emit();
    // The conventions' own content event: its Opt-In attributes are content too.
    tracing::event!(name: "gen_ai.client.inference.operation.details", target: "aureus", tracing::Level::INFO,
        gen_ai.operation.name = "chat", gen_ai.input.messages = "INPUT-CANARY",
        gen_ai.system_instructions = "SYSTEM-CANARY");
    LlmResponse {
        model: "gpt-4o",
        response: "RESPONSE-CANARY",
    }
    .emit_with(&LlmUsage {
        provider: Some("openai"),
        input_tokens: Some(1000),
        output_tokens: Some(200),
        finish_reason: Some("stop"),
        duration_ms: Some(1500.0),
        ..LlmUsage::default()
    });
    tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", response = "RESPONSE-CANARY",
                   response_length = 15u64, provider = "openai", input_tokens = 1000u64, output_tokens = 200u64,
                   finish_reason = "stop", duration_ms = 1500.0);
    LlmResponse {
        model: "claude-x",
        response: "r",
    }
    .emit_with(&LlmUsage {
        provider: Some("anthropic"),
        input_tokens: Some(7),
        output_tokens: Some(3),
        ..LlmUsage::default()
    });
    LlmResponse {
        model: "gpt-4o",
        response: "r",
    }
    .emit_with(&LlmUsage {
        provider: Some("openai"),
        input_tokens: Some(1),
        cost_usd: Some(0.5),
        ..LlmUsage::default()
    });
    // A failed call: its duration goes to the histogram with error_type.
    tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", provider = "openai",
                   duration_ms = 30000.0, error_type = "timeout");
    let args = serde_json::json!({"path": "/tmp"});
    ToolCall {
        workflow_id: "wf",
        task_id: "t1",
        tool_name: "fs.read",
        args: &args,
    }
    .emit_with_call_id("call_1");
    for task in ["t1", "t2"] {
        StepEnd {
            workflow_id: "wf",
            task_id: task,
            task_type: "action",
            success: true,
            duration_ms: 10,
            error: None,
        }
        .emit();
    }
}

fn run(capture: ContentCapture, file: Option<&std::path::Path>) -> Telemetry {
    let (dispatch, telemetry) = aureus_observability::build(config(capture, file)).expect("stack builds");
    tracing::dispatcher::with_default(&dispatch, workload);
    assert!(telemetry.flush(Duration::from_secs(10)));
    telemetry
}

fn llm_responses(telemetry: &Telemetry) -> Vec<std::sync::Arc<aureus_observability::Record>> {
    let mut records = telemetry.store().expect("store on").query(&EventQuery {
        event_type: Some("llm_response".into()),
        ..Default::default()
    });
    records.reverse();
    records
}

#[test]
fn cost_is_added_from_the_price_table_and_reaches_file_store_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let telemetry = run(ContentCapture::Local, Some(&path));

    let records = llm_responses(&telemetry);
    assert_eq!(records.len(), 5);
    let cost = |i: usize| records[i].field("cost_usd").and_then(|v| v.as_f64());
    let expected = 1000.0 * 2.5 / 1e6 + 200.0 * 10.0 / 1e6;
    assert_eq!(cost(0), Some(expected), "helper");
    assert_eq!(cost(1), Some(expected), "hand-written, handled identically");
    assert_eq!(cost(2), None, "no price for claude-x");
    assert_eq!(cost(3), Some(0.5), "the event's own cost is kept");
    assert_eq!(cost(4), None, "no tokens, no cost");
    assert_eq!(records[0].str_field("provider"), Some("openai"));
    assert_eq!(records[0].str_field("finish_reason"), Some("stop"));

    // The file sink's lines: the same fields, cost included.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event_type"] == "llm_response")
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["cost_usd"], expected);
    assert_eq!(lines[0]["input_tokens"], 1000);
    assert_eq!(lines[0]["duration_ms"], 1500.0);
    let tool = text.lines().find(|l| l.contains("\"tool_call\"")).unwrap();
    assert!(tool.contains(r#""call_id":"call_1""#), "{tool}");

    // Summary: dollars spent and dollars per successful task.
    let summary = telemetry.metrics().unwrap().summary(Duration::from_secs(60), None);
    let total = 2.0 * expected + 0.5;
    assert!((summary.llm_cost_usd - total).abs() < 1e-12, "{summary:?}");
    assert_eq!(summary.successes, 2);
    assert!((summary.cost_per_success_usd.unwrap() - total / 2.0).abs() < 1e-12);
    let json = serde_json::to_value(&summary).unwrap();
    assert!(json["costPerSuccessUsd"].is_number(), "{json}");
    telemetry.shutdown(Duration::from_secs(5));
}

fn genai_series(text: &str) -> std::collections::HashMap<exposition::Series, f64> {
    exposition::series(text)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn metrics_follow_the_conventions_on_slash_metrics() {
    let telemetry = run(ContentCapture::Local, None);
    let text = telemetry.metrics().unwrap().render();
    let series = genai_series(&text);
    assert!(text.contains("# TYPE gen_ai_client_token_usage histogram"), "{text}");
    assert!(text.contains("# TYPE gen_ai_client_operation_duration_seconds histogram"));
    assert!(text.contains("# TYPE aureus_llm_cost_usd_total counter"));

    let openai = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_provider_name", "openai"),
        ("gen_ai_request_model", "gpt-4o"),
    ];
    let with = |extra: (&str, &str)| {
        let mut l = labels(&openai);
        l.insert(extra.0.to_owned(), extra.1.to_owned());
        l
    };
    let get = |name: &str, l: BTreeMap<String, String>| {
        *series
            .get(&(name.to_owned(), l.clone()))
            .unwrap_or_else(|| panic!("{name}{l:?} missing in\n{text}"))
    };
    // Tokens: 1000 + 1000 + 1 input, 200 + 200 output for openai/gpt-4o.
    assert_eq!(
        get("gen_ai_client_token_usage_sum", with(("gen_ai_token_type", "input"))),
        2001.0
    );
    assert_eq!(
        get("gen_ai_client_token_usage_count", with(("gen_ai_token_type", "input"))),
        3.0
    );
    assert_eq!(
        get("gen_ai_client_token_usage_sum", with(("gen_ai_token_type", "output"))),
        400.0
    );
    // The conventions' buckets: 1, 4, 16, …, 67108864.
    let mut bucket = with(("gen_ai_token_type", "input"));
    bucket.insert("le".into(), "1".into());
    assert_eq!(get("gen_ai_client_token_usage_bucket", bucket.clone()), 1.0);
    bucket.insert("le".into(), "1024".into());
    assert_eq!(get("gen_ai_client_token_usage_bucket", bucket.clone()), 3.0);
    bucket.insert("le".into(), "6.7108864e+07".into());
    assert!(
        series.contains_key(&("gen_ai_client_token_usage_bucket".to_owned(), bucket.clone()))
            || text.contains(r#"le="67108864""#),
        "largest bound present"
    );
    // Durations in seconds; the failed call separately with error_type.
    assert_eq!(
        get("gen_ai_client_operation_duration_seconds_sum", labels(&openai)),
        3.0
    );
    assert_eq!(
        get("gen_ai_client_operation_duration_seconds_count", labels(&openai)),
        2.0
    );
    assert_eq!(
        get(
            "gen_ai_client_operation_duration_seconds_count",
            with(("error_type", "timeout"))
        ),
        1.0
    );
    let mut le = labels(&openai);
    le.insert("le".into(), "1.28".into());
    assert_eq!(get("gen_ai_client_operation_duration_seconds_bucket", le.clone()), 0.0);
    le.insert("le".into(), "2.56".into());
    assert_eq!(get("gen_ai_client_operation_duration_seconds_bucket", le), 2.0);
    // Cost per model (a counter with fractional values).
    let cost = get("aureus_llm_cost_usd_total", labels(&[("model", "gpt-4o")]));
    assert!((cost - (2.0 * 0.0045 + 0.5)).abs() < 1e-12, "{cost}");
    assert!(!series
        .keys()
        .any(|(n, l)| n == "aureus_llm_cost_usd_total" && l["model"] == "claude-x"));
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
#[ignore = "needs promtool and prometheus_client; run via the README test command"]
fn genai_exposition_reads_back_with_independent_parsers() {
    // Seconds: the default `aureus_task_duration_ms` draws promtool's one
    // (documented) style note.
    let mut config = config(ContentCapture::Local, None);
    config.metrics.duration_unit = aureus_observability::metrics::DurationUnit::Seconds;
    let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");
    tracing::dispatcher::with_default(&dispatch, workload);
    let text = telemetry.metrics().unwrap().render();
    prometheus::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let families = prometheus::python_parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let family = |name: &str| {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} not parsed"))
    };
    let tokens = family("gen_ai_client_token_usage");
    assert_eq!(tokens.kind, "histogram");
    let input_sum = tokens
        .samples
        .iter()
        .find(|s| {
            s.name == "gen_ai_client_token_usage_sum"
                && s.labels.get("gen_ai_token_type").map(String::as_str) == Some("input")
                && s.labels.get("gen_ai_provider_name").map(String::as_str) == Some("openai")
        })
        .expect("input sum");
    assert_eq!(input_sum.value, 2001.0);
    let bounds: Vec<f64> = tokens
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket"))
        .filter(|s| {
            let mut without_le = s.labels.clone();
            without_le.remove("le");
            without_le == input_sum.labels
        })
        .map(|s| s.labels["le"].parse::<f64>().unwrap())
        .collect();
    let mut expected: Vec<f64> = aureus_observability::event::semconv::metric::TOKEN_USAGE_BUCKETS.to_vec();
    expected.push(f64::INFINITY);
    assert_eq!(bounds, expected);
    assert_eq!(family("gen_ai_client_operation_duration_seconds").kind, "histogram");
    // The Python parser names a counter family without `_total`.
    let cost = families
        .iter()
        .find(|f| f.name == "aureus_llm_cost_usd")
        .expect("cost counter");
    assert_eq!(cost.kind, "counter");
    assert!((cost.samples[0].value - 0.509).abs() < 1e-12);
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn content_stays_local_by_default_and_goes_nowhere_with_none() {
    for capture in [ContentCapture::Local, ContentCapture::All, ContentCapture::None] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let telemetry = run(capture, Some(&path));
        let text = std::fs::read_to_string(&path).unwrap();
        let records = llm_responses(&telemetry);
        let kept = capture != ContentCapture::None;
        assert_eq!(text.contains("PROMPT-CANARY"), kept, "{capture:?} file: prompt");
        assert_eq!(text.contains("RESPONSE-CANARY"), kept, "{capture:?} file: response");
        assert_eq!(
            text.contains("INPUT-CANARY"),
            kept,
            "{capture:?} file: gen_ai.input.messages"
        );
        assert_eq!(
            text.contains("SYSTEM-CANARY"),
            kept,
            "{capture:?} file: gen_ai.system_instructions"
        );
        // The rest of that event stays.
        assert!(
            text.contains(r#""gen_ai.operation.name":"chat""#),
            "{capture:?}: {text}"
        );
        assert_eq!(records[0].str_field("response").is_some(), kept, "{capture:?} store");
        // Lengths and the rest stay in every mode.
        assert_eq!(records[0].field("response_length").and_then(|v| v.as_f64()), Some(15.0));
        assert!(records[0].field("cost_usd").is_some());
        telemetry.shutdown(Duration::from_secs(5));
    }
}

#[test]
fn capture_setting_comes_from_toml_and_the_environment() {
    let config = Config::from_toml_str("[genai]\ncapture_content = \"all\"\n").unwrap();
    assert_eq!(config.genai.capture_content, ContentCapture::All);
    assert!(Config::from_toml_str("[genai]\ncapture_content = \"some\"\n").is_err());
    let mut config = Config::default();
    config
        .apply_env([
            ("AUREUS_GENAI_CAPTURE_CONTENT", "none"),
            ("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental"),
        ])
        .unwrap();
    assert_eq!(config.genai.capture_content, ContentCapture::None);
    assert_eq!(
        config.genai.semconv_stability_opt_in,
        ["http", "gen_ai_latest_experimental"]
    );
    let err = Config::default()
        .apply_env([("AUREUS_GENAI_CAPTURE_CONTENT", "yes")])
        .unwrap_err();
    assert!(err.to_string().contains("AUREUS_GENAI_CAPTURE_CONTENT"), "{err}");
    let err =
        Config::from_toml_str("[genai.prices.\"\"]\ninput_per_million = 1.0\noutput_per_million = 1.0\n").unwrap_err();
    assert!(err.to_string().contains("genai.prices"), "{err}");
    let err = Config::from_toml_str("[genai.prices.m]\ninput_per_million = 1.0\n").unwrap_err();
    assert!(err.to_string().contains("output_per_million"), "{err}");
}

/// Hand-written `llm_response` fields of the wrong shape: every path reads
/// them by one rule. A negative, NaN, infinite or non-numeric token count
/// is refused and counted, and gives no cost; a fractional count is the
/// same whole number of tokens in the histogram and in the cost.
#[test]
fn bad_token_counts_are_refused_counted_and_give_no_cost() {
    let (dispatch, telemetry) = aureus_observability::build(config(ContentCapture::Local, None)).expect("stack builds");
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("wf", correlation_id = "corr-bad-tokens");
        let _entered = span.enter();
        tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", provider = "p1",
                       input_tokens = -5i64, output_tokens = 100u64);
        tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", provider = "p1",
                       input_tokens = f64::NAN, output_tokens = "many");
        tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", provider = "p1",
                       input_tokens = f64::INFINITY, duration_ms = "slow");
        tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", provider = "p2",
                       input_tokens = 999_999.6, output_tokens = "10");
        // A failed call that was billed: its cost counts, and so do its tokens.
        tracing::info!(target: "aureus", event_type = "llm_response", model = "gpt-4o", provider = "p3",
                       input_tokens = 50u64, duration_ms = 100.0, error_type = "length");
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let records = llm_responses(&telemetry);
    assert_eq!(records.len(), 5);
    for record in &records[..3] {
        assert!(
            record.field("cost_usd").is_none(),
            "no cost from refused tokens: {record:?}"
        );
    }
    // 1_000_000 input tokens (rounded) and 10 output tokens.
    let expected = 2.5 + 10.0 * 10.0 / 1e6;
    assert_eq!(records[3].field("cost_usd").and_then(|v| v.as_f64()), Some(expected));

    let text = telemetry.metrics().unwrap().render();
    let series = genai_series(&text);
    let refused = |field: &str, reason: &str| {
        series
            .get(&(
                "aureus_telemetry_refused_values_total".to_owned(),
                labels(&[("field", field), ("reason", reason)]),
            ))
            .copied()
            .unwrap_or_else(|| panic!("refused {field} {reason} missing in\n{text}"))
    };
    assert_eq!(refused("llm_response.input_tokens", "negative"), 1.0);
    assert_eq!(refused("llm_response.input_tokens", "nan"), 1.0);
    assert_eq!(refused("llm_response.input_tokens", "infinite"), 1.0);
    assert_eq!(refused("llm_response.output_tokens", "nan"), 1.0);
    assert_eq!(refused("llm_response.duration_ms", "nan"), 1.0);
    let sum = |provider: &str, kind: &str| {
        series
            .get(&(
                "gen_ai_client_token_usage_sum".to_owned(),
                labels(&[
                    ("gen_ai_operation_name", "chat"),
                    ("gen_ai_provider_name", provider),
                    ("gen_ai_request_model", "gpt-4o"),
                    ("gen_ai_token_type", kind),
                ]),
            ))
            .copied()
    };
    // Only the valid counts: the 100 output tokens of the first call.
    assert_eq!(sum("p1", "output"), Some(100.0), "{text}");
    assert_eq!(sum("p1", "input"), Some(0.0), "{text}");
    assert_eq!(sum("p2", "input"), Some(1_000_000.0), "the count the cost used: {text}");
    assert_eq!(sum("p2", "output"), Some(10.0), "{text}");
    assert_eq!(
        records[4].field("cost_usd").and_then(|v| v.as_f64()),
        Some(50.0 * 2.5 / 1e6)
    );
    assert_eq!(sum("p3", "input"), Some(50.0), "a failed call's tokens: {text}");
    let p3 = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_provider_name", "p3"),
        ("gen_ai_request_model", "gpt-4o"),
    ];
    let count = |extra: &[(&str, &str)]| {
        let mut l = labels(&p3);
        l.extend(labels(extra));
        series
            .get(&("gen_ai_client_operation_duration_seconds_count".to_owned(), l))
            .copied()
    };
    assert_eq!(count(&[("error_type", "length")]), Some(1.0), "{text}");
    assert_eq!(count(&[]), Some(0.0), "not a successful call's duration: {text}");
    telemetry.shutdown(Duration::from_secs(5));
}

/// A price so high that a cost could overflow to infinity is refused when
/// the configuration is read (no `"cost_usd": "inf"` in any record).
#[test]
fn prices_beyond_a_dollar_per_token_are_refused() {
    let err =
        Config::from_toml_str("[genai.prices.m]\ninput_per_million = 1e300\noutput_per_million = 1.0\n").unwrap_err();
    assert!(err.to_string().contains("genai.prices.m.input_per_million"), "{err}");
    let top = aureus_observability::config::MAX_PRICE_PER_MILLION;
    let config = Config::from_toml_str(&format!(
        "[genai.prices.m]\ninput_per_million = {top:?}\noutput_per_million = 0\n"
    ))
    .unwrap();
    assert_eq!(config.genai.prices["m"].input_per_million, top);
}
