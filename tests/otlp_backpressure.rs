//! `otlp.batch.overflow = "block"` on the wire: with a slow collector and
//! queues far smaller than the load, `block` delivers every span and log
//! record exactly once where `drop` (the default) drops and counts; the
//! byte bound waits too; and a thread waiting for room is released (and its
//! item counted) when telemetry shuts down, even while the exporter hangs.

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;

use std::time::{Duration, Instant};

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::otlp::ExportCounts;
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::{Config, Telemetry};
use otlp_receiver::{OtlpReceiver, Reply};

const THREADS: i64 = 2;

fn otlp(endpoint: &str, overflow: OverflowPolicy, protocol: OtlpProtocol) -> OtlpConfig {
    let mut config = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint.to_owned()),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    config.batch.overflow = overflow;
    config.batch.queue_capacity = 16;
    config.batch.max_batch = 8;
    config.batch.interval = "20ms".into();
    config.metrics.enabled = false;
    config
}

fn stack(otlp: OtlpConfig) -> (tracing::Dispatch, Telemetry) {
    let mut config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .expect("valid config");
    config.store.enabled = false;
    aureus_observability::build(config).expect("stack builds")
}

/// `spans` spans of `per_span` events on each of two threads, every span and
/// event with a distinct `uid`; `payload` bytes of text on each.
fn emit(dispatch: &tracing::Dispatch, spans: i64, per_span: i64, payload: usize) {
    let text = "p".repeat(payload);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (dispatch, text) = (dispatch.clone(), text.as_str());
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for s in 0..spans {
                        let first = thread * 1_000_000 + s * per_span.max(1);
                        let _span = tracing::info_span!("unit", uid = first, payload = text).entered();
                        for uid in first..first + per_span {
                            tracing::info!(target: "e2e", uid, payload = text, "event");
                        }
                    }
                });
            });
        }
    });
}

fn balanced(c: &ExportCounts) -> bool {
    c.created == c.exported + c.dropped_queue_full + c.dropped_closed + c.failed + c.undelivered()
}

/// A collector answering every request 100 ms late, against queues of 16.
fn slow_collector(overflow: OverflowPolicy, protocol: OtlpProtocol) -> (OtlpReceiver, Telemetry, Duration) {
    let receiver = OtlpReceiver::start_counting("uid");
    receiver.script(std::iter::repeat_n(Reply::Delay(Duration::from_millis(100)), 12));
    let (dispatch, telemetry) = stack(otlp(&receiver.endpoint(), overflow, protocol));
    let started = Instant::now();
    emit(&dispatch, 50, 4, 64);
    (receiver, telemetry, started.elapsed())
}

fn block_delivers_every_item_exactly_once(protocol: OtlpProtocol) {
    let (receiver, telemetry, took) = slow_collector(OverflowPolicy::Block, protocol);
    let report = telemetry.shutdown(Duration::from_secs(30));
    assert!(report.is_clean(), "{report}");
    let logs = report.sink("otlp").unwrap();
    assert_eq!(logs.health.delivered, 400, "{report}");
    let traces = &report.otlp[0].counts;
    assert_eq!((traces.created, traces.exported), (100, 100), "{report}");
    let got = receiver.wait_for_tally("all 400 log records and 100 spans", Duration::from_secs(10), |t| {
        t.logs >= 400 && t.spans >= 100
    });
    assert_eq!((got.logs, got.log_ids.len()), (400, 400), "exactly once");
    assert_eq!((got.spans, got.span_ids.len()), (100, 100), "exactly once");
    assert!(
        took >= Duration::from_millis(300),
        "the producers waited for the slow collector ({took:?})"
    );
}

#[test]
fn block_delivers_every_span_and_log_record_to_a_slow_collector_over_http() {
    block_delivers_every_item_exactly_once(OtlpProtocol::HttpProtobuf);
}

#[test]
fn block_delivers_every_span_and_log_record_to_a_slow_collector_over_grpc() {
    block_delivers_every_item_exactly_once(OtlpProtocol::Grpc);
}

#[test]
fn drop_is_the_default_and_counts_what_a_slow_collector_cannot_take() {
    assert_eq!(OtlpConfig::default().batch.overflow, OverflowPolicy::Drop);
    let (receiver, telemetry, _) = slow_collector(OverflowPolicy::Drop, OtlpProtocol::HttpProtobuf);
    let report = telemetry.shutdown(Duration::from_secs(30));
    let logs = report.sink("otlp").unwrap();
    assert!(logs.health.dropped_queue_full > 0, "{report}");
    assert_eq!(logs.health.accepted + logs.health.dropped_queue_full, 400, "{report}");
    let traces = &report.otlp[0].counts;
    assert!(traces.dropped_queue_full > 0, "{report}");
    assert!(balanced(traces), "{traces:?}");
    let got = receiver.tally();
    assert_eq!(got.logs, logs.health.delivered, "{report}");
    assert_eq!(got.spans, traces.exported, "{report}");
}

#[test]
fn block_waits_for_byte_room_and_a_batch_holding_half_of_it_leaves_at_once() {
    let receiver = OtlpReceiver::start_counting("uid");
    receiver.script(std::iter::repeat_n(Reply::Delay(Duration::from_millis(100)), 6));
    let mut config = otlp(&receiver.endpoint(), OverflowPolicy::Block, OtlpProtocol::HttpProtobuf);
    config.batch.queue_capacity = 8192;
    config.batch.queue_max_bytes = "64KiB".into();
    config.batch.interval = "1s".into();
    let (dispatch, telemetry) = stack(config);
    // 2 × 40 spans of 16 KiB, each with one event of 16 KiB: at most four of
    // each fit in the byte bound at a time, and a batch never reaches
    // `max_batch`; each must leave once it holds half the bound, not after
    // the 1 s interval (that would take 20 s).
    let started = Instant::now();
    emit(&dispatch, 40, 1, 16 * 1024);
    let took = started.elapsed();
    let report = telemetry.shutdown(Duration::from_secs(30));
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.sink("otlp").unwrap().health.delivered, 80, "{report}");
    let traces = &report.otlp[0].counts;
    assert_eq!((traces.created, traces.exported), (80, 80), "{report}");
    let got = receiver.wait_for_tally("80 spans and log records", Duration::from_secs(10), |t| {
        t.spans >= 80 && t.logs >= 80
    });
    assert_eq!((got.spans, got.span_ids.len()), (80, 80));
    assert_eq!((got.logs, got.log_ids.len()), (80, 80));
    assert!(took < Duration::from_secs(8), "producers waited {took:?}");
}

#[test]
fn shutdown_releases_threads_waiting_for_room_and_counts_their_items() {
    let receiver = OtlpReceiver::start_counting("uid");
    // Never answered within the test: the exporters hang in their first call.
    receiver.script(std::iter::repeat_n(Reply::Delay(Duration::from_secs(60)), 4));
    let mut config = otlp(&receiver.endpoint(), OverflowPolicy::Block, OtlpProtocol::HttpProtobuf);
    config.timeout = Some("60s".into());
    config.batch.queue_capacity = 1;
    config.batch.max_batch = 1;
    let (dispatch, telemetry) = stack(config);
    // Three of each: one in the hanging export, one queued, one waiting.
    let spans = {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                for uid in 0..3 {
                    drop(tracing::info_span!("unit", uid).entered());
                }
            })
        })
    };
    let events = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            for uid in 0..3 {
                tracing::info!(target: "e2e", uid, "event");
            }
        })
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let traces = telemetry.otlp_counts("traces").unwrap();
        let logs = telemetry.sinks().health("otlp").unwrap();
        if traces.created == 3 && logs.accepted == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{traces:?} {logs:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !spans.is_finished() && !events.is_finished(),
        "both producers wait for room"
    );
    let started = Instant::now();
    let report = telemetry.shutdown(Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown kept its deadline");
    assert!(
        spans.is_finished() && events.is_finished(),
        "shutdown released the waiting producers"
    );
    spans.join().unwrap();
    events.join().unwrap();
    let traces = &report.otlp[0].counts;
    assert_eq!(
        (traces.created, traces.dropped_closed, traces.in_flight, traces.queued),
        (3, 1, 1, 1),
        "{report}"
    );
    assert!(balanced(traces), "{traces:?}");
    let logs = report.sink("otlp").unwrap();
    let h = &logs.health;
    assert_eq!((h.accepted, h.dropped_closed, logs.undelivered), (2, 1, 2), "{report}");
}
