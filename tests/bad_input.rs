//! The bad-input corpus: every kind of hostile or broken input the crate
//! takes — correlation ids, field values, JSON `args`, API parameters,
//! configuration files — gets a clear typed error or a safe, escaped result;
//! nothing panics; and the good records around the bad ones are all delivered
//! (checked in the file the file sink wrote).

mod common;
#[path = "support/http.rs"]
mod http;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aureus_observability::config::{FileSinkConfig, MAX_CONFIG_FILE_BYTES};
use aureus_observability::event::{ToolCall, TOO_DEEP};
use aureus_observability::sinks::console::{ConsoleFormat, ConsoleSink};
use aureus_observability::{propagation, Config, CorrelationId, Error, Record, Sink};
use serde_json::{json, Value as Json};

const TEN_MIB: usize = 10 * 1024 * 1024;

/// Correlation ids the contract rejects: empty, too long, line breaks,
/// control characters, non-ASCII, markup, spaces.
fn bad_correlation_ids() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(129),
        "x".repeat(TEN_MIB),
        "wf-1\ncorrelation_id=forged".to_owned(),
        "wf-1\r\n{\"level\":\"ERROR\"}".to_owned(),
        "wf\u{0}1".to_owned(),
        "wf\u{1b}[31m1".to_owned(),
        "wf-é".to_owned(),
        "工作流".to_owned(),
        "<script>alert(1)</script>".to_owned(),
        "has space".to_owned(),
        "\u{202e}wf".to_owned(),
    ]
}

/// A JSON value nested `depth` arrays deep around `{"token": "CANARY-DEEP"}`,
/// built without recursion.
fn deep_json(depth: usize) -> Json {
    let mut value = json!({ "token": "CANARY-DEEP" });
    for _ in 0..depth {
        value = Json::Array(vec![value]);
    }
    value
}

/// Takes a deep value apart one level at a time (dropping it whole would
/// recurse once per level in serde_json's drop glue).
fn dismantle(mut value: Json) {
    loop {
        value = match value {
            Json::Array(mut items) => match items.pop() {
                Some(inner) => inner,
                None => return,
            },
            _ => return,
        };
    }
}

/// `[[[…{"token":"CANARY-TEXT"}…]]]` as text, `depth` levels.
fn deep_json_text(depth: usize) -> String {
    format!(
        "{}{{\"token\":\"CANARY-TEXT\"}}{}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn file_lines(dir: &Path) -> Vec<Json> {
    let text = std::fs::read_to_string(dir.join("bad.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line:.200}")))
        .collect()
}

/// Runs `emit` between two good events against a stack with a file sink and
/// a collecting sink; returns the file's lines (checked: both good events
/// present, in order, and the file sink lost nothing) and the records.
fn around_bad_input(max_field_bytes: usize, emit: impl FnOnce()) -> (Vec<Json>, Vec<Arc<Record>>) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .log_level("trace")
        .max_field_bytes(max_field_bytes)
        .sink(FileSinkConfig {
            path: dir.path().join("bad.jsonl"),
            ..Default::default()
        })
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let collect = common::Collect::default();
    telemetry
        .sinks()
        .add("collect", collect.clone(), common::lossless())
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "aureus", event_type = "custom", marker = "good-before", "before");
        emit();
        tracing::info!(target: "aureus", event_type = "custom", marker = "good-after", "after");
    });
    let report = telemetry.shutdown(Duration::from_secs(30));
    let file = report.sink("file").expect("file sink report");
    assert!(file.completed, "{report}");
    assert_eq!(
        (file.health.failed, file.health.dropped(), file.undelivered),
        (0, 0, 0),
        "{report}"
    );
    let lines = file_lines(dir.path());
    assert_eq!(
        lines.len() as u64,
        file.health.delivered,
        "every delivered record is in the file"
    );
    let markers: Vec<&str> = lines.iter().filter_map(|l| l["marker"].as_str()).collect();
    assert_eq!(markers.first(), Some(&"good-before"), "{markers:?}");
    assert_eq!(markers.last(), Some(&"good-after"), "{markers:?}");
    (lines, collect.records())
}

/// The console output of `record` in every format, colour off and on.
fn console_outputs(record: &Arc<Record>) -> Vec<(ConsoleFormat, bool, String)> {
    let mut outputs = Vec::new();
    for format in [ConsoleFormat::Compact, ConsoleFormat::Pretty, ConsoleFormat::Json] {
        for ansi in [false, true] {
            let buffer = common_buffer();
            let mut sink = ConsoleSink::with_writer(format, ansi, Box::new(buffer.clone()));
            sink.write(std::slice::from_ref(record)).unwrap();
            let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            outputs.push((format, ansi, text));
        }
    }
    outputs
}

#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn common_buffer() -> Buffer {
    Buffer::default()
}

/// Console output never carries a raw control character (beyond the line
/// break ending each line of a record and, with colour on, ESC), so a value
/// can neither forge a line nor send a terminal escape.
fn assert_console_safe(record: &Arc<Record>) {
    for (format, ansi, text) in console_outputs(record) {
        let body = text.strip_suffix('\n').expect("ends with a newline");
        for c in body.chars() {
            let allowed = (c == '\n' && format == ConsoleFormat::Pretty) || (c == '\u{1b}' && ansi);
            assert!(
                !c.is_control() || allowed,
                "raw {c:?} in {format:?} (ansi {ansi}): {text:.300}"
            );
        }
        if format == ConsoleFormat::Pretty {
            for line in body.lines().skip(1) {
                assert!(line.starts_with("    "), "forged line {line:.100}");
            }
        }
    }
}

/// The OTLP log request bodies (protobuf and JSON) for `records` encode, and
/// the JSON one parses back.
fn assert_otlp_encodes(records: &[Arc<Record>]) -> String {
    let proto = aureus_observability::fuzzing::otlp_log_bodies(records, false).expect("protobuf export");
    assert!(!proto.is_empty());
    let bodies = aureus_observability::fuzzing::otlp_log_bodies(records, true).expect("JSON export");
    let mut all = String::new();
    for body in bodies {
        let text = String::from_utf8(body).expect("UTF-8 JSON body");
        serde_json::from_str::<Json>(&text).expect("JSON body parses");
        all.push_str(&text);
    }
    all
}

// ───────────────────────────── correlation ids ─────────────────────────────

#[test]
fn bad_correlation_ids_are_typed_errors_with_escaped_short_messages() {
    for bad in bad_correlation_ids() {
        let err = CorrelationId::new(&bad).unwrap_err();
        assert!(matches!(err, Error::InvalidCorrelationId { .. }), "{err:?}");
        let message = err.to_string();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.len() < 1_000, "message of {} bytes", message.len());
        assert!(serde_json::from_value::<CorrelationId>(Json::String(bad.clone())).is_err());
        // From the environment: a typed configuration error naming the variable.
        let err = Config::default().apply_env([("AUREUS_CORRELATION_ID", bad.as_str())]);
        if !bad.trim().is_empty() {
            let err = err.unwrap_err().to_string();
            assert!(err.contains("AUREUS_CORRELATION_ID"), "{err:.200}");
            assert!(!err.contains('\n'), "{err:.200}");
        }
        // From a caller's baggage: ignored, never attached.
        let mut headers = HashMap::new();
        headers.insert("baggage".to_owned(), format!("aureus.correlation_id={bad}"));
        assert!(propagation::extract_map(&headers).correlation_id().is_none());
    }
}

#[test]
fn bad_correlation_ids_on_events_and_spans_never_reach_a_record() {
    let bad_ids = bad_correlation_ids();
    let (lines, records) = around_bad_input(4096, || {
        for bad in &bad_ids {
            tracing::info!(target: "aureus", event_type = "custom", correlation_id = bad.as_str(), marker = "bad-event");
            let span = tracing::info_span!("workflow", correlation_id = bad.as_str());
            span.in_scope(|| tracing::info!(target: "aureus", event_type = "custom", marker = "bad-span"));
        }
    });
    let bad_events: Vec<&Json> = lines.iter().filter(|l| l["marker"] == "bad-event").collect();
    assert_eq!(bad_events.len(), bad_ids.len());
    for line in &bad_events {
        assert_eq!(line["correlation_id_rejected"], true, "{line}");
        assert!(line.get("correlation_id").is_none(), "{line}");
    }
    assert_eq!(
        lines.iter().filter(|l| l["marker"] == "bad-span").count(),
        bad_ids.len()
    );
    for record in &records {
        if let Some(id) = record.correlation_id() {
            CorrelationId::new(id).expect("only valid ids are recorded");
        }
        assert_console_safe(record);
    }
}

// ───────────────────────────── field values ─────────────────────────────

#[test]
fn ten_mib_values_are_truncated_with_a_marker_everywhere() {
    let huge = "v".repeat(TEN_MIB);
    let huge_message = "m".repeat(TEN_MIB);
    let huge_secret = format!("{}sk", "s".repeat(TEN_MIB));
    let (lines, records) = around_bad_input(4096, || {
        tracing::info!(target: "aureus", event_type = "custom", marker = "huge", value = huge.as_str(),
                       debug = ?huge, password = huge_secret.as_str(), "{huge_message}");
    });
    let line = lines
        .iter()
        .find(|l| l["marker"] == "huge")
        .expect("the huge event was delivered");
    for field in ["value", "debug", "message"] {
        let text = line[field].as_str().unwrap();
        assert!(text.len() < 4096 + 64, "{field} kept {} bytes", text.len());
        assert!(text.contains("…[truncated "), "{field}: no truncation marker");
    }
    assert_eq!(line["password"], "[REDACTED]");
    let record = records.iter().find(|r| r.str_field("marker") == Some("huge")).unwrap();
    assert!(record.approx_bytes() < 64 * 1024, "{} bytes", record.approx_bytes());
    assert_console_safe(record);
    assert_otlp_encodes(std::slice::from_ref(record));
}

#[test]
fn control_characters_and_invalid_utf8_are_escaped_on_every_output() {
    let controls: String = (0u8..0x20)
        .map(char::from)
        .chain(['\u{7f}', '\u{85}', '\u{9b}'])
        .collect();
    let forged = "ok\n2026-01-01T00:00:00Z ERROR aureus: forged\r\n{\"level\":\"ERROR\"}\u{1b}[2J";
    let invalid = OsStr::from_bytes(b"\xff\xfe bad \xc3\x28 utf8 \xed\xa0\x80");
    let (lines, records) = around_bad_input(4096, || {
        tracing::warn!(target: "aureus", event_type = "custom\nforged_event", marker = "controls",
                       controls = controls.as_str(), forged, bytes = ?invalid, raw = ?&b"\xff\x00\x1b"[..],
                       lossy = %String::from_utf8_lossy(b"\xff\xfe"), "{forged}");
    });
    let line = lines.iter().find(|l| l["marker"] == "controls").expect("delivered");
    assert_eq!(
        line["controls"].as_str(),
        Some(controls.as_str()),
        "JSON keeps the text exactly"
    );
    assert_eq!(line["forged"].as_str(), Some(forged));
    let bytes = line["bytes"].as_str().unwrap();
    assert!(
        bytes.contains("\\xFF") || bytes.contains("\\u{fffd}") || bytes.contains('\u{fffd}'),
        "{bytes}"
    );
    let record = records
        .iter()
        .find(|r| r.str_field("marker") == Some("controls"))
        .unwrap();
    assert_console_safe(record);
    let otlp = assert_otlp_encodes(std::slice::from_ref(record));
    assert!(!otlp.contains('\u{1b}'), "raw ESC in an OTLP JSON body");
}

// ───────────────────────────── deep JSON ─────────────────────────────

#[test]
fn json_args_nested_ten_thousand_deep_are_safe_on_every_thread() {
    let deep = deep_json(10_000);
    let deep_text = deep_json_text(10_000);
    let shallow_text = deep_json_text(100);
    let (lines, records) = around_bad_input(64 * 1024, || {
        ToolCall {
            workflow_id: "wf-deep",
            task_id: "t1",
            tool_name: "deep.tool",
            args: &deep,
        }
        .emit();
        aureus_observability::event::custom("deep_data", &deep);
        tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "deep.text", args = deep_text.as_str());
        tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "shallow.text", args = shallow_text.as_str());
        tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "malformed.text",
                       args = r#"{"options": {"token": "CANARY-MALFORMED"},}"#);
    });
    dismantle(deep);
    let tool = |name: &str| {
        lines
            .iter()
            .find(|l| l["tool_name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(tool("deep.tool")["args"], TOO_DEEP);
    let custom = lines
        .iter()
        .find(|l| l["name"] == "deep_data")
        .expect("custom event delivered");
    assert_eq!(custom["data"], TOO_DEEP);
    // Too deep for the JSON parser: the sensitive key is still found and redacted.
    let deep_args = tool("deep.text")["args"].as_str().unwrap();
    assert!(deep_args.contains(r#"{"token":"[REDACTED]"}"#), "{deep_args:.200}");
    let malformed = tool("malformed.text")["args"].as_str().unwrap();
    assert_eq!(malformed, r#"{"options": {"token": "[REDACTED]"},}"#);
    let shallow = tool("shallow.text")["args"].as_str().unwrap();
    assert!(
        !shallow.contains("CANARY") && shallow.contains("[REDACTED]"),
        "{shallow:.200}"
    );
    let all = serde_json::to_string(&lines).unwrap();
    assert!(!all.contains("CANARY"), "a secret inside deep JSON reached the file");
    assert_otlp_encodes(&records);
    for record in &records {
        assert_console_safe(record);
    }
}

#[test]
fn deep_json_through_otlp_traces_and_the_store_does_not_overflow() {
    // The span path formats the helper's fields itself (tracing-opentelemetry):
    // run with OTLP traces on against a closed port, on a thread with a small stack.
    let worker = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let deep = deep_json(10_000);
            let mut config = Config::builder().no_server().no_sinks().build().unwrap();
            config.otlp.enabled = true;
            config.otlp.endpoint = Some("http://127.0.0.1:9".to_owned());
            let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
            tracing::dispatcher::with_default(&dispatch, || {
                let span = tracing::info_span!("workflow", correlation_id = "wf-deep");
                span.in_scope(|| {
                    ToolCall {
                        workflow_id: "wf-deep",
                        task_id: "t1",
                        tool_name: "deep.tool",
                        args: &deep,
                    }
                    .emit()
                });
            });
            telemetry.flush(Duration::from_secs(5));
            let store = telemetry.store().expect("store on by default").clone();
            let found = store.query(&aureus_observability::EventQuery {
                event_type: Some("tool_call".to_owned()),
                ..Default::default()
            });
            telemetry.shutdown(Duration::from_secs(3));
            dismantle(deep);
            found.iter().map(|r| r.json_line().len()).sum::<usize>()
        })
        .unwrap();
    assert!(worker.join().expect("no stack overflow, no panic") > 0);
}

// ───────────────────────────── API parameters ─────────────────────────────

#[test]
fn out_of_range_api_parameters_get_400_naming_the_parameter() {
    let cases = [
        ("/api/monitoring/metrics", "timeRange", "-1"),
        ("/api/monitoring/metrics", "timeRange", "0"),
        ("/api/monitoring/metrics", "timeRange", "99999999999999999999999"),
        ("/api/monitoring/metrics", "timeRange", "1h"),
        ("/api/monitoring/timeseries", "points", "-3"),
        ("/api/monitoring/timeseries", "points", "100000"),
        ("/api/monitoring/timeseries", "points", "NaN"),
        ("/api/monitoring/events", "limit", "-1"),
        ("/api/monitoring/events", "limit", "0"),
        ("/api/monitoring/events", "limit", "18446744073709551616"),
        ("/api/monitoring/events", "limit", "1e9"),
        ("/api/monitoring/events", "startTime", "-5"),
        ("/api/monitoring/events", "startTime", "18446744073709551615"),
        ("/api/monitoring/events", "endTime", "yesterday"),
        ("/api/monitoring/events", "startTime", "1.5"),
    ];
    let config = Config::builder().listen("127.0.0.1:0").no_sinks().build().unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let addr = telemetry.server_addr().unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "aureus", event_type = "custom", marker = "good", "kept");
    });
    for (path, name, value) in cases {
        let target = format!("{path}?{name}={}", http::percent_encode(value));
        let message = aureus_observability::fuzzing::api_request(&target).unwrap_err();
        assert!(message.starts_with(name), "{message}");
        let (status, body) = http::get(addr, &target, &[]).unwrap();
        assert_eq!(status, 400, "{target}: {body}");
        let body: Json = serde_json::from_str(&body).unwrap();
        assert!(body["error"].as_str().unwrap().starts_with(name), "{body}");
    }
    // A huge or control-laden value is neither echoed whole nor raw.
    let long = format!("/api/monitoring/events?limit={}%0A%1B", "9".repeat(4_000));
    let (status, body) = http::get(addr, &long, &[]).unwrap();
    assert_eq!(status, 400);
    assert!(
        body.len() < 500 && !body.contains('\n') && !body.contains('\u{1b}'),
        "{body}"
    );
    for (path, text) in [
        ("events", "type"),
        ("events", "workflowId"),
        ("events", "correlationId"),
        ("metrics", "taskType"),
        ("timeseries", "workflowId"),
    ] {
        let target = format!("/api/monitoring/{path}?{text}=%00%0Abad");
        let (status, _) = http::get(addr, &target, &[]).unwrap();
        assert_eq!(status, 400, "{target}");
    }
    // Nothing was lost: the good event is still served.
    telemetry.flush(Duration::from_secs(10));
    let (status, body) = http::get(addr, "/api/monitoring/events?type=custom&limit=10000", &[]).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"marker\":\"good\""), "{body:.300}");
    telemetry.shutdown(Duration::from_secs(5));
}

// ───────────────────────────── configuration ─────────────────────────────

#[test]
fn a_100_mb_config_file_is_a_typed_error_read_only_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    // Real content (a comment line repeated), not a sparse hole.
    let line = format!("# {}\n", "x".repeat(1021));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    std::io::Write::write_all(&mut file, b"service_name = \"big\"\n").unwrap();
    for _ in 0..(100 * 1024) {
        std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
    }
    drop(file);
    assert!(std::fs::metadata(&path).unwrap().len() >= 100 * 1024 * 1024);
    let started = Instant::now();
    let err = Config::from_toml_file(&path).unwrap_err();
    assert!(matches!(err, Error::ConfigFile { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("huge.toml") && message.contains(&MAX_CONFIG_FILE_BYTES.to_string()),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The same limit from memory, and for a file that never ends.
    let text = "#".repeat(MAX_CONFIG_FILE_BYTES as usize + 1);
    assert!(matches!(Config::from_toml_str(&text), Err(Error::ConfigFile { .. })));
    assert!(matches!(
        Config::from_toml_file("/dev/zero"),
        Err(Error::ConfigFile { .. })
    ));
    // Not UTF-8: a typed error too.
    std::fs::write(&path, b"service_name = \"\xff\"\n").unwrap();
    assert!(matches!(Config::from_toml_file(&path), Err(Error::ConfigFile { .. })));
    // A CA certificate path is read with the same limit.
    let err = Config::default()
        .apply_env([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/dev/zero"),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("/dev/zero"), "{err}");
}

#[test]
fn hostile_config_values_are_typed_errors_naming_the_key() {
    let deep_table = format!("{}1{}", "a = [".repeat(10_000), "]".repeat(10_000));
    let cases = [
        deep_table,
        "max_field_bytes = -1".to_owned(),
        "max_field_bytes = 99999999999999999999999".to_owned(),
        "log_level = \"info,\\u0000=trace\"".to_owned(),
        format!("service_name = \"{}\"", "\\n".repeat(10)),
        "[[sinks]]\ntype = \"file\"\npath = \"/tmp/x\"\nmax_bytes = \"-5MB\"".to_owned(),
        "[[sinks]]\ntype = \"file\"\npath = \"/tmp/x\"\nmax_files = 1e400".to_owned(),
        "default_correlation_id = \"a\\nb\"".to_owned(),
        "\u{0}\u{1b}[31m = 1".to_owned(),
    ];
    for text in cases {
        match Config::from_toml_str(&text) {
            Err(Error::ConfigFile { .. } | Error::InvalidConfig { .. }) => {}
            Ok(config) => {
                // Accepted only when valid (a service name may hold escapes).
                config.validate().unwrap();
            }
            Err(other) => panic!("{other:?} for {text:.80}"),
        }
    }
    for (key, value) in [
        ("AUREUS_MAX_FIELD_BYTES", "-1"),
        ("AUREUS_MAX_FIELD_BYTES", "18446744073709551616"),
        ("AUREUS_FILE_MAX_FILES", "many"),
        ("AUREUS_FILE_MAX_BYTES", "10XB"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-7"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue,=x"),
        ("AUREUS_CONSOLE", "loud\n"),
    ] {
        let err = Config::default().apply_env([(key, value)]).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{key}={value}: {err:?}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}

// ───────────────────────────── found by fuzzing ─────────────────────────────

/// `fuzz/fuzz_targets/config.rs` found that a level filter whose directive
/// starts with whitespace and holds multi-byte characters panicked inside
/// tracing-subscriber's directive parser (it slices the untrimmed text with
/// the trimmed text's offsets). The input, replayed: TOML before the 0xFF
/// byte, then the `AUREUS_LOG` line (index byte 7).
#[test]
fn fuzz_config_crash_55c254b4_level_filter_with_leading_space_is_no_panic() {
    let input = include_bytes!("fixtures/fuzz/config-crash-55c254b4");
    let at = input.iter().position(|b| *b == 0xFF).unwrap();
    let toml = String::from_utf8_lossy(&input[..at]);
    assert!(Config::from_toml_str(&toml).is_err());
    let env = &input[at + 1..];
    assert_eq!(env[0], 7, "the AUREUS_LOG line");
    let end = env.iter().position(|b| *b == b'\n').unwrap_or(env.len());
    let level = String::from_utf8_lossy(&env[1..end]).into_owned();
    match Config::default().apply_env([("AUREUS_LOG", level.as_str())]) {
        Ok(()) | Err(Error::InvalidConfig { .. }) => {}
        Err(other) => panic!("{other:?}"),
    }
    for level in [
        " 0 \u{fffd}\u{fffd}=x",
        "\u{3000}aureus=debug",
        " é=info",
        "info,\u{a0}aureus=debug",
    ] {
        let _ = Config::default().apply_env([("AUREUS_LOG", level)]);
        let _ = Config::from_toml_str(&format!("log_level = {level:?}"));
    }
}

/// The same parser bug misread `info, aureus=debug` (space after the comma):
/// the filter is normalised, so the second directive works as written.
#[test]
fn level_filters_with_spaces_after_commas_work_as_written() {
    let (dispatch, telemetry, collect) = common::collecting("warn, aureus::x=debug ,\u{3000}aureus::y=trace");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::debug!(target: "aureus::x", marker = "x-debug");
        tracing::trace!(target: "aureus::y", marker = "y-trace");
        tracing::info!(target: "other", marker = "other-info");
        tracing::warn!(target: "other", marker = "other-warn");
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let markers: Vec<String> = collect
        .records()
        .iter()
        .filter_map(|r| r.str_field("marker").map(str::to_owned))
        .collect();
    assert_eq!(markers, ["x-debug", "y-trace", "other-warn"]);
    telemetry.shutdown(Duration::from_secs(5));
}
