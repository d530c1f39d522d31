//! Our stack as one layer composed next to a service's own layers: each
//! layer sees exactly what its own filter allows; ours keeps its file sink,
//! `/metrics`, correlation and store; levels change at run time (code and
//! API) without a restart, including for callsites every layer had
//! disabled when they were first hit.

#[path = "support/http.rs"]
mod http;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aureus_observability::config::FileSinkConfig;
use aureus_observability::{Config, Error, Telemetry};
use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// What the fmt layer printed.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap().lines().map(str::to_owned).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A second, independent layer: remembers the message of every event it sees.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct MessageVisitor<'a>(&'a mut String);

impl tracing::field::Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Seen {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut message = String::new();
        event.record(&mut MessageVisitor(&mut message));
        self.0.lock().unwrap().push(message);
    }
}

/// The same callsites every round.
fn emit(round: u32) {
    tracing::trace!(target: "app", "app trace {round}");
    tracing::debug!(target: "app", "app debug {round}");
    tracing::info!(target: "app", "app info {round}");
    tracing::warn!(target: "app", "app warn {round}");
    tracing::error!(target: "app", "app error {round}");
    // Nobody wants this one when it is first hit.
    tracing::debug!(target: "lib", "lib debug {round}");
    // An Aureus event below our level: counted by the metrics all the same.
    tracing::debug!(target: "aureus", event_type = "tool_call", tool_name = "fs.read", "tool call {round}");
    // A correlation span below every level, with an event inside.
    let span = tracing::trace_span!("workflow", correlation_id = "wf-compose");
    span.in_scope(|| tracing::warn!(target: "app", "in workflow {round}"));
}

fn file_messages(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn messages_of(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["message"].as_str().map(str::to_owned))
        .collect()
}

fn metric(telemetry: &Telemetry, series: &str) -> Option<f64> {
    let addr = telemetry.server_addr().unwrap();
    let (status, body) = http::get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    body.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[test]
fn each_layer_sees_what_its_own_filter_allows_and_levels_change_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aureus.jsonl");
    let mut config = Config::builder()
        .log_level("info")
        .no_sinks()
        .sink(FileSinkConfig::at(&file))
        .build()
        .unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.metrics.global_recorder = aureus_observability::metrics::GlobalRecorder::Off;
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();

    let printed = Captured::default();
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(printed.clone())
                .with_ansi(false)
                .with_filter(LevelFilter::WARN),
        )
        .with(
            seen.clone()
                .with_filter(Targets::new().with_target("app", LevelFilter::TRACE)),
        )
        .with(layer);
    let dispatch = tracing::Dispatch::new(subscriber);

    tracing::dispatcher::with_default(&dispatch, || emit(1));
    assert!(telemetry.flush(Duration::from_secs(10)));

    // The fmt layer: warnings and errors only.
    let lines = printed.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("app warn 1") && lines[1].contains("app error 1") && lines[2].contains("in workflow 1"));
    // The independent layer: every `app` event, whatever our level.
    assert_eq!(
        seen.messages(),
        [
            "app trace 1",
            "app debug 1",
            "app info 1",
            "app warn 1",
            "app error 1",
            "in workflow 1"
        ]
    );
    // Ours: info and above in the file; the debug Aureus event counted but
    // not written; the event in the trace-level correlation span correlated.
    let records = file_messages(&file);
    assert_eq!(
        messages_of(&records),
        ["app info 1", "app warn 1", "app error 1", "in workflow 1"]
    );
    assert_eq!(records[3]["correlation_id"], "wf-compose", "{:?}", records[3]);
    assert_eq!(
        metric(&telemetry, "aureus_tool_calls_total{tool_name=\"fs.read\"}"),
        Some(1.0)
    );

    // Bad directives: a typed error, nothing changed.
    let err = telemetry.set_log_level("info,app=verbose").unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { key, .. } if key == "log_level"),
        "{err}"
    );
    assert_eq!(telemetry.log_level(), "info");

    // Raised at run time: the next events (same callsites, including the one
    // nobody wanted at first) reach our layer; the others are unchanged.
    assert_eq!(telemetry.set_log_level("debug,app=trace").unwrap(), "info");
    tracing::dispatcher::with_default(&dispatch, || emit(2));
    assert!(telemetry.flush(Duration::from_secs(10)));
    assert_eq!(
        messages_of(&file_messages(&file))[4..],
        [
            "app trace 2",
            "app debug 2",
            "app info 2",
            "app warn 2",
            "app error 2",
            "lib debug 2",
            "tool call 2",
            "in workflow 2"
        ]
    );
    assert_eq!(
        printed.lines().len(),
        6,
        "the fmt layer still prints warnings and errors only"
    );
    assert_eq!(
        seen.messages().len(),
        12,
        "the independent layer still sees every app event"
    );
    assert_eq!(
        metric(&telemetry, "aureus_tool_calls_total{tool_name=\"fs.read\"}"),
        Some(2.0)
    );

    // A sink narrows further at run time; turning our level down again
    // drops the callsites from our layer.
    telemetry.sinks().set_level("file", LevelFilter::WARN).unwrap();
    assert_eq!(telemetry.sinks().level("file").unwrap(), Some(LevelFilter::WARN));
    tracing::dispatcher::with_default(&dispatch, || emit(3));
    telemetry.set_log_level("error").unwrap();
    tracing::dispatcher::with_default(&dispatch, || emit(4));
    assert!(telemetry.flush(Duration::from_secs(10)));
    assert_eq!(
        messages_of(&file_messages(&file))[12..],
        ["app warn 3", "app error 3", "in workflow 3", "app error 4"]
    );
    assert_eq!(
        metric(&telemetry, "aureus_tool_calls_total{tool_name=\"fs.read\"}"),
        Some(4.0)
    );
    assert_eq!(seen.messages().len(), 24);
    assert_eq!(printed.lines().len(), 12);
    assert!(matches!(
        telemetry.sinks().set_level("prometheus", LevelFilter::INFO),
        Err(Error::BuiltInSink { .. })
    ));
    assert!(matches!(
        telemetry.sinks().set_level("nope", LevelFilter::INFO),
        Err(Error::UnknownSink { .. })
    ));
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn the_api_reads_and_changes_levels_behind_the_token_and_records_who_did_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.jsonl");
    let mut config = Config::builder()
        .log_level("info")
        .no_sinks()
        .sink(FileSinkConfig::at(&file))
        .build()
        .unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.monitoring.token = Some("s3cret".into());
    config.metrics.global_recorder = aureus_observability::metrics::GlobalRecorder::Off;
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let addr = telemetry.server_addr().unwrap();
    let auth = [("Authorization", "Bearer s3cret"), ("Content-Type", "application/json")];
    let put = |body: &str, headers: &[(&str, &str)]| {
        let (status, body) = http::request(
            addr,
            "PUT",
            "/api/monitoring/log-level",
            headers,
            Some(body.as_bytes()),
            Duration::from_secs(10),
        )
        .unwrap();
        (status, String::from_utf8(body).unwrap())
    };

    let (status, _) = http::get(addr, "/api/monitoring/log-level", &[]).unwrap();
    assert_eq!(status, 401);
    let (status, _) = put(
        r#"{"by":"mallory","filter":"trace"}"#,
        &[("Content-Type", "application/json")],
    );
    assert_eq!(status, 401);
    assert_eq!(telemetry.log_level(), "info");

    let (status, body) = http::get(addr, "/api/monitoring/log-level", &auth).unwrap();
    assert_eq!(status, 200);
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["filter"], "info");
    assert_eq!(view["sinks"]["file"], "trace");
    assert_eq!(view["sinks"]["store"], "trace");

    // Bad requests name what was wrong and change nothing (not even the valid part).
    for (bad, needle) in [
        (r#"{"by":"alice","filter":"info,x=loud"}"#, "filter"),
        (
            r#"{"by":"alice","filter":"debug","sinks":{"file":"loud"}}"#,
            "sinks.file",
        ),
        (r#"{"by":"alice","filter":"debug","sinks":{"nope":"warn"}}"#, "nope"),
        (r#"{"by":"alice","sinks":{"prometheus":"warn"}}"#, "prometheus"),
        (r#"{"by":"","filter":"debug"}"#, "by"),
        (r#"{"by":"alice"}"#, "filter"),
        (r#"{"filter":"debug"}"#, "by"),
        ("not json", "expected"),
    ] {
        let (status, body) = put(bad, &auth);
        assert_eq!(status, 400, "{bad}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(error["error"].as_str().unwrap().contains(needle), "{bad}: {body}");
        assert_eq!(telemetry.log_level(), "info", "{bad}");
        assert_eq!(
            telemetry.sinks().level("file").unwrap(),
            Some(LevelFilter::TRACE),
            "{bad}"
        );
    }

    tracing::dispatcher::with_default(&dispatch, || tracing::debug!(target: "app", "before"));
    let (status, body) = put(r#"{"by":"alice","filter":"debug","sinks":{"store":"warn"}}"#, &auth);
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["filter"], "debug");
    assert_eq!(view["sinks"]["store"], "warn");
    assert_eq!(telemetry.log_level(), "debug");
    tracing::dispatcher::with_default(&dispatch, || tracing::debug!(target: "app", "after"));

    // Lowered to `error`: the audit record is written all the same.
    let (status, body) = put(r#"{"by":"bob","filter":"error"}"#, &auth);
    assert_eq!(status, 200, "{body}");
    assert!(telemetry.flush(Duration::from_secs(10)));
    let records = file_messages(&file);
    let messages = messages_of(&records);
    assert!(!messages.contains(&"before".to_owned()), "{messages:?}");
    assert!(messages.contains(&"after".to_owned()), "{messages:?}");
    let audits: Vec<_> = records
        .iter()
        .filter(|r| r["target"] == "aureus::audit" && r["name"] == "log_level_changed")
        .collect();
    assert_eq!(audits.len(), 3, "{records:#?}");
    assert_eq!(
        (
            &audits[0]["by"],
            &audits[0]["setting"],
            &audits[0]["from"],
            &audits[0]["to"]
        ),
        (&"alice".into(), &"log_level".into(), &"info".into(), &"debug".into())
    );
    assert_eq!(
        (&audits[1]["setting"], &audits[1]["from"], &audits[1]["to"]),
        (&"sinks.store.level".into(), &"trace".into(), &"warn".into())
    );
    assert_eq!(
        (&audits[2]["by"], &audits[2]["from"], &audits[2]["to"]),
        (&"bob".into(), &"debug".into(), &"error".into())
    );
    // In the store too (its level is `warn` now, but audit records are INFO:
    // the store got the first two, written before its level changed).
    let stored = telemetry.store().unwrap().query(&aureus_observability::EventQuery {
        event_type: Some("custom".into()),
        limit: 10,
        ..Default::default()
    });
    assert!(!stored.is_empty());
    telemetry.shutdown(Duration::from_secs(10));
}

/// With one scoped dispatcher alive, tracing-core rebuilds callsite
/// interest from the calling thread's default only; a change made from a
/// thread where ours is not the default must still apply everywhere.
#[test]
fn a_change_made_from_another_thread_applies_to_a_scoped_subscriber() {
    let mut config = Config::builder()
        .log_level("info")
        .no_sinks()
        .no_server()
        .build()
        .unwrap();
    config.metrics.global_recorder = aureus_observability::metrics::GlobalRecorder::Off;
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emit = |round: u32| {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!(target: "app", "info {round}");
            tracing::debug!(target: "app", "debug {round}");
        })
    };
    let stored = || {
        assert!(telemetry.flush(Duration::from_secs(10)));
        telemetry.sinks().health("store").unwrap().accepted
    };
    emit(1);
    assert_eq!(stored(), 1);
    std::thread::scope(|s| {
        s.spawn(|| telemetry.set_log_level("debug").unwrap());
    });
    emit(2);
    assert_eq!(stored(), 3);
    telemetry.set_log_level("warn").unwrap();
    emit(3);
    assert_eq!(stored(), 3);
}

/// A correlation scope entered inside a span only the service's layers see
/// (hidden by our filter) still bounds the spans outside it: the event in
/// the scope carries the scope's id, not the enclosing span's.
#[test]
fn a_scope_entered_in_a_span_our_filter_hides_wins_over_the_enclosing_span() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scope.jsonl");
    let mut config = Config::builder()
        .log_level("info")
        .no_sinks()
        .no_server()
        .sink(FileSinkConfig::at(&file))
        .build()
        .unwrap();
    config.metrics.global_recorder = aureus_observability::metrics::GlobalRecorder::Off;
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(LevelFilter::DEBUG),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("request", correlation_id = "outer");
        let _outer = outer.enter();
        let hidden = tracing::debug_span!("poll");
        let _hidden = hidden.enter();
        let id = aureus_observability::CorrelationId::new("inner").unwrap();
        aureus_observability::correlation::scope(id, || {
            tracing::info!(target: "app", "in the scope");
            let child = tracing::info_span!("step");
            child.in_scope(|| tracing::info!(target: "app", "in a span in the scope"));
        });
        tracing::info!(target: "app", "after the scope");
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let records = file_messages(&file);
    let ids: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["message"].as_str().unwrap(),
                r["correlation_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("in the scope", "inner"),
            ("in a span in the scope", "inner"),
            ("after the scope", "outer")
        ]
    );
    telemetry.shutdown(Duration::from_secs(5));
}
