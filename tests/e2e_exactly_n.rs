//! Exactly-N end to end: N events from 4 threads through every lossless path
//! at once — the file sink, a counting custom sink, and OTLP log records
//! (HTTP/protobuf) and spans (gRPC) to a real collector (rotel) with
//! `otlp.batch.overflow = "block"`. After shutdown each destination holds
//! exactly N distinct events (nothing lost, nothing twice) — the collector's
//! count read from what it received, forwarded to a counting receiver — and
//! the shutdown report says nothing was lost.
//!
//! `E2E_EVENTS` sets N (default 200,000; `scripts/e2e-long.sh` runs
//! 2,000,000). The test prints the events/s it achieved.

#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/rotel.rs"]
mod rotel;

use std::collections::HashSet;
use std::io::BufRead as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aureus_observability::config::{FileSinkConfig, OtlpConfig, OtlpProtocol};
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::{Config, Record, Sink, SinkError, SinkOptions};

const THREADS: i64 = 4;
/// Events per span.
const EVENTS_PER_SPAN: i64 = 8;
/// The attribute (field) whose value identifies an event or a span.
const ID: &str = "uid";

fn events() -> i64 {
    std::env::var("E2E_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// A custom sink that records the id of every record it receives.
#[derive(Clone, Default)]
struct Counting {
    ids: Arc<Mutex<HashSet<i64>>>,
    records: Arc<Mutex<u64>>,
}

impl Sink for Counting {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        let mut ids = self.ids.lock().unwrap();
        for record in batch {
            if let Some(aureus_observability::Value::I64(id)) = record.field(ID) {
                ids.insert(id);
            }
        }
        *self.records.lock().unwrap() += batch.len() as u64;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct Line {
    uid: i64,
}

/// Ids in the JSON-lines file: (lines, distinct ids).
fn file_ids(path: &std::path::Path) -> (u64, HashSet<i64>) {
    let file = std::fs::File::open(path).unwrap();
    let mut lines = 0;
    let mut ids = HashSet::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap();
        lines += 1;
        let parsed: Line = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        ids.insert(parsed.uid);
    }
    (lines, ids)
}

fn expected_ids(per_thread: i64, step: i64) -> HashSet<i64> {
    (0..THREADS)
        .flat_map(|t| {
            (0..per_thread)
                .step_by(step as usize)
                .map(move |s| t * 1_000_000_000 + s)
        })
        .collect()
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn every_event_reaches_file_custom_sink_and_collector_exactly_once() {
    let n = events();
    let per_thread = n / THREADS;
    assert_eq!(per_thread % EVENTS_PER_SPAN, 0, "E2E_EVENTS must be a multiple of 32");
    let spans = n / EVENTS_PER_SPAN;

    let receiver = otlp_receiver::OtlpReceiver::start_counting(ID);
    let collector = rotel::Rotel::start_forwarding(&receiver.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e2e.jsonl");

    let mut otlp = OtlpConfig {
        enabled: true,
        ..OtlpConfig::default()
    };
    otlp.batch.overflow = OverflowPolicy::Block;
    otlp.batch.interval = "100ms".into();
    otlp.logs.endpoint = Some(format!("{}/v1/logs", collector.http_endpoint()));
    otlp.logs.protocol = Some(OtlpProtocol::HttpProtobuf);
    otlp.traces.endpoint = Some(collector.grpc_endpoint());
    otlp.traces.protocol = Some(OtlpProtocol::Grpc);
    otlp.metrics.endpoint = Some(collector.grpc_endpoint());
    otlp.metrics.protocol = Some(OtlpProtocol::Grpc);
    otlp.metrics.interval = Some("1s".into());
    let mut config = Config::builder()
        .service_name("aureus-e2e")
        .log_level("info")
        .no_server()
        .no_monitoring()
        .sink(FileSinkConfig::at(&path))
        .otlp(otlp)
        .build()
        .unwrap();
    config.store.enabled = false; // a ring that evicts by design, not a delivery path
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let counting = Counting::default();
    let options = SinkOptions {
        queue_capacity: 65_536,
        overflow: OverflowPolicy::Block,
        ..Default::default()
    };
    telemetry.sinks().add("counting", counting.clone(), options).unwrap();

    let started = Instant::now();
    let producers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for first in (0..per_thread).step_by(EVENTS_PER_SPAN as usize) {
                        let unit = tracing::info_span!("unit", uid = thread * 1_000_000_000 + first, thread);
                        let _entered = unit.enter();
                        for seq in first..first + EVENTS_PER_SPAN {
                            let uid = thread * 1_000_000_000 + seq;
                            tracing::info!(target: "e2e", uid, thread, seq, "e2e event");
                        }
                    }
                })
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    let emitted = started.elapsed();
    let report = telemetry.shutdown(Duration::from_secs(120));
    let total = started.elapsed();
    eprintln!(
        "{n} events + {spans} spans from {THREADS} threads: emitted in {emitted:.2?} ({:.0} events/s), \
         all delivered by shutdown in {total:.2?} ({:.0} events/s end to end)\n{report}",
        n as f64 / emitted.as_secs_f64(),
        n as f64 / total.as_secs_f64()
    );

    // The report: nothing lost anywhere.
    assert!(report.is_clean(), "{report}\n{report:?}");
    for sink in ["file", "otlp", "counting"] {
        let s = report.sink(sink).unwrap_or_else(|| panic!("{sink} missing: {report}"));
        assert_eq!(s.health.delivered, n as u64, "{sink}: {report}");
    }
    let traces = report.otlp.iter().find(|o| o.signal == "traces").unwrap();
    assert_eq!(
        (traces.counts.created, traces.counts.exported),
        (spans as u64, spans as u64),
        "{report}"
    );

    // Each destination holds exactly the N events.
    let all_events = expected_ids(per_thread, 1);
    let all_spans = expected_ids(per_thread, EVENTS_PER_SPAN);
    let (lines, in_file) = file_ids(&path);
    assert_eq!(lines, n as u64, "file lines");
    assert!(in_file == all_events, "file: {} distinct of {n}", in_file.len());
    let counted = counting.ids.lock().unwrap();
    assert_eq!(*counting.records.lock().unwrap(), n as u64, "custom sink records");
    assert!(*counted == all_events, "custom sink: {} distinct of {n}", counted.len());

    let got = receiver.wait_for_tally("every log record and span", Duration::from_secs(60), |t| {
        t.logs >= n as u64 && t.spans >= spans as u64
    });
    // Anything more would be a duplicate; give it the collector's batch time to show.
    std::thread::sleep(Duration::from_millis(600));
    let got_after = receiver.tally();
    assert_eq!((got_after.logs, got_after.spans), (got.logs, got.spans), "late extras");
    let summary = format!(
        "collector: {} log records ({} distinct), {} spans ({} distinct) in {} requests",
        got.logs,
        got.log_ids.len(),
        got.spans,
        got.span_ids.len(),
        got.requests
    );
    assert_eq!(got.logs, n as u64, "{summary}");
    assert_eq!(got.spans, spans as u64, "{summary}");
    assert_eq!(got.without_id, 0);
    assert!(
        got.log_ids == all_events,
        "collector logs: {} distinct",
        got.log_ids.len()
    );
    assert!(
        got.span_ids == all_spans,
        "collector spans: {} distinct",
        got.span_ids.len()
    );
    assert_eq!(got.undecodable, 0);
    drop(collector);
}
