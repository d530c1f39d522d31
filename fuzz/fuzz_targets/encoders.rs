//! Record → JSON line, console (compact / pretty / JSON, with and without
//! colour) and OTLP log request (HTTP/protobuf and HTTP/JSON). Records are
//! made the real way: fuzzed text recorded through `tracing` into the
//! pipeline (truncation, redaction, correlation), captured by a custom sink.
//! Checks: nothing panics; the JSON line and both OTLP bodies parse back
//! with independent parsers; every JSON field holds its value (integers
//! beyond ±(2^53 − 1) and non-finite floats as strings); the direct
//! protobuf encoding decodes to what the SDK's own conversion sends;
//! console output never forges a line or carries a raw control character;
//! sensitive fields stay redacted.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aureus_observability::config::Config;
use aureus_observability::fuzzing::OtlpLogEncoder;
use aureus_observability::sinks::console::{ConsoleFormat, ConsoleSink};
use aureus_observability::{build, Record, Sink, SinkError, SinkOptions, Telemetry, Value};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message as _;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Arc<Record>>>>);

impl Sink for Captured {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        self.0.lock().unwrap().extend(batch.iter().cloned());
        Ok(())
    }
}

struct Stack {
    dispatch: tracing::Dispatch,
    telemetry: Telemetry,
    captured: Captured,
    protobuf: Mutex<OtlpLogEncoder>,
    sdk: Mutex<OtlpLogEncoder>,
    json: Mutex<OtlpLogEncoder>,
}

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let mut config = Config::builder()
            .no_server()
            .no_sinks()
            .no_monitoring()
            .log_level("trace")
            .max_field_bytes(300)
            .build()
            .unwrap();
        config.redaction.patterns = vec!["sk-live-[0-9a-f]{16}".to_owned()];
        config.store.enabled = false;
        let (dispatch, telemetry) = build(config).unwrap();
        let captured = Captured::default();
        let options = SinkOptions {
            overflow: aureus_observability::pipeline::OverflowPolicy::Block,
            ..SinkOptions::default()
        };
        telemetry.sinks().add("capture", captured.clone(), options).unwrap();
        Stack {
            dispatch,
            telemetry,
            captured,
            protobuf: Mutex::new(OtlpLogEncoder::new(false).unwrap()),
            sdk: Mutex::new(OtlpLogEncoder::sdk().unwrap()),
            json: Mutex::new(OtlpLogEncoder::new(true).unwrap()),
        }
    })
}

fn emit(selector: u8, texts: &[String]) {
    let text = |i: usize| texts.get(i).map(String::as_str).unwrap_or("");
    let (event_type, message, args, correlation, tool, secret) = (text(0), text(1), text(2), text(3), text(4), text(5));
    let duration = f64::from_bits(u64::from(selector).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let span = tracing::info_span!("workflow", correlation_id = correlation);
    let _entered = (selector & 1 == 1).then(|| span.enter());
    match selector % 6 {
        0 => tracing::info!(target: "aureus", event_type, password = secret, "{message}"),
        1 => tracing::warn!(target: "aureus", event_type = "tool_call", tool_name = tool, args = %args, token = secret),
        2 => tracing::error!(target: "aureus::x", event_type, correlation_id = correlation, message),
        3 => tracing::info!(target: "aureus", event_type = "step_end", task_type = tool, success = (selector & 2 == 2),
                            duration_ms = duration, error = message, level = args, timestamp = secret,
                            big = u64::MAX >> (selector % 64), small = i64::MIN >> (selector % 64),
                            wide = i128::MIN >> (selector % 128), uwide = u128::MAX >> (selector % 128)),
        4 => tracing::debug!(target: "aureus", event_type, bytes = ?args.as_bytes(), debug = ?message, "{event_type}"),
        _ => tracing::trace!(message, event_type, api_key = ?secret, args),
    }
}

fn check_console(record: &Arc<Record>, format: ConsoleFormat, ansi: bool) {
    let out = Arc::new(Mutex::new(Vec::new()));
    struct Out(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Out {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = ConsoleSink::with_writer(format, ansi, Box::new(Out(Arc::clone(&out))));
    sink.write(std::slice::from_ref(record)).unwrap();
    let bytes = out.lock().unwrap().clone();
    let text = String::from_utf8(bytes).expect("console output is UTF-8");
    let body = text.strip_suffix('\n').expect("one record ends with a newline");
    for c in body.chars() {
        let allowed = (c == '\n' && format == ConsoleFormat::Pretty) || (c == '\u{1b}' && ansi);
        assert!(!c.is_control() || allowed, "raw {c:?} in {format:?} output {text:?}");
    }
    if format == ConsoleFormat::Pretty {
        for line in body.lines().skip(1) {
            assert!(line.starts_with("    "), "forged line {line:?} in {text:?}");
        }
    }
}

fn check(record: &Arc<Record>) {
    let line = record.json_line();
    let json: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
    assert_eq!(json["message"].as_str(), record.message(), "{line}");
    assert_eq!(json["event_type"].as_str(), record.event_type(), "{line}");
    for (name, value) in record.fields() {
        let key = if json.get(format!("fields.{name}")).is_some() {
            format!("fields.{name}")
        } else {
            name.to_owned()
        };
        let written = &json[key.as_str()];
        const SAFE: u64 = (1 << 53) - 1;
        let expected = match value {
            Value::Bool(v) => serde_json::json!(v),
            Value::I64(v) if v.unsigned_abs() <= SAFE => serde_json::json!(v),
            Value::U64(v) if v <= SAFE => serde_json::json!(v),
            Value::F64(v) if v.is_finite() => serde_json::json!(v),
            Value::Str(v) => serde_json::json!(v),
            other => serde_json::json!(other.to_string()),
        };
        assert_eq!(written, &expected, "{name} in {line}");
    }
    for secret in ["password", "token", "api_key"] {
        if let Some(value) = json.get(secret) {
            assert_eq!(value, "[REDACTED]", "{line}");
        }
    }
    for format in [ConsoleFormat::Compact, ConsoleFormat::Pretty, ConsoleFormat::Json] {
        check_console(record, format, false);
        check_console(record, format, true);
    }
}

/// A protobuf body decoded, with what legitimately differs between the
/// direct and the SDK encodings (observed time, scope order) normalised,
/// re-encoded canonically (so NaN doubles compare).
fn normalised(body: &[u8]) -> Vec<u8> {
    let mut request = ExportLogsServiceRequest::decode(body).expect("protobuf body decodes");
    for resource in &mut request.resource_logs {
        resource
            .scope_logs
            .sort_by_key(|s| s.scope.as_ref().map(|s| s.name.clone()));
        for log in resource.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
            assert!(log.observed_time_unix_nano > 0, "observed time set");
            log.observed_time_unix_nano = 0;
        }
    }
    request.encode_to_vec()
}

fn check_otlp(stack: &Stack, batch: &[Arc<Record>]) {
    let bodies = stack.protobuf.lock().unwrap().encode(batch).expect("protobuf export");
    let mut exported = 0;
    for body in &bodies {
        let request = ExportLogsServiceRequest::decode(&body[..]).expect("protobuf body decodes");
        exported += request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum::<usize>();
    }
    assert_eq!(exported, batch.len());
    let reference = stack.sdk.lock().unwrap().encode(batch).expect("SDK protobuf export");
    assert_eq!(
        bodies.iter().map(|b| normalised(b)).collect::<Vec<_>>(),
        reference.iter().map(|b| normalised(b)).collect::<Vec<_>>(),
        "the direct encoding decodes to what the SDK sends"
    );
    let bodies = stack.json.lock().unwrap().encode(batch).expect("JSON export");
    for body in &bodies {
        serde_json::from_slice::<serde_json::Value>(body).expect("JSON body parses");
        serde_json::from_slice::<ExportLogsServiceRequest>(body).expect("JSON body is an OTLP request");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let texts: Vec<String> = rest
        .split(|b| *b == 0xFF)
        .take(6)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    let stack = stack();
    tracing::dispatcher::with_default(&stack.dispatch, || emit(selector, &texts));
    assert!(stack.telemetry.flush(Duration::from_secs(10)), "flush");
    let batch = std::mem::take(&mut *stack.captured.0.lock().unwrap());
    for record in &batch {
        check(record);
    }
    if !batch.is_empty() {
        check_otlp(stack, &batch);
    }
});
