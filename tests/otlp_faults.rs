//! Collector faults under load: a scripted endpoint answering 429 and 503
//! with `Retry-After`, 500, 400, answers slower than the export timeout,
//! connection resets, garbage and oversized bodies (over HTTP and gRPC);
//! then the real collector (rotel) killed and restarted on the same ports
//! mid-run. Throughout: no panic, resident memory under a bound derived from
//! the queue sizes, every loss counted (created = exported + dropped +
//! failed + undelivered for spans; offered = accepted + dropped and accepted
//! = delivered + failed + shed for the `otlp` log sink), nothing arriving
//! that was not sent, nothing the scripted endpoint accepted sent to it
//! again, and everything sent after recovery arriving.
//!
//! The load runs at about 20,000 events/s for the whole fault sequence
//! (`FAULT_OUTAGE_SECS`, default 3, sets how long rotel stays down).

#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/rotel.rs"]
mod rotel;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::otlp::ExportCounts;
use aureus_observability::{Config, ShutdownReport, Telemetry};
use otlp_receiver::{OtlpReceiver, Reply, Tally};

/// Tests here measure this process's memory: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const THREADS: u64 = 2;
const EVENTS_PER_SPAN: u64 = 8;
/// Byte bound of each signal's queue in these tests.
const QUEUE_BYTES: u64 = 1 << 20; // "1MiB" below
/// Id ranges: load thread `t` uses `t * RANGE + k`; probes and the data
/// sent after recovery have their own.
const RANGE: i64 = 1_000_000_000;
const PROBES: i64 = 8 * RANGE;
const AFTER: i64 = 9 * RANGE;

fn config(logs: String, logs_protocol: OtlpProtocol, traces: String, traces_protocol: OtlpProtocol) -> OtlpConfig {
    let mut otlp = OtlpConfig {
        enabled: true,
        timeout: Some("2s".into()),
        ..OtlpConfig::default()
    };
    otlp.logs.endpoint = Some(logs);
    otlp.logs.protocol = Some(logs_protocol);
    otlp.traces.endpoint = Some(traces);
    otlp.traces.protocol = Some(traces_protocol);
    otlp.metrics.enabled = false;
    otlp.batch.interval = "50ms".into();
    // Far more than the byte bound holds: without it the queues would hold
    // 2 × 65,536 items of over 1 KiB.
    otlp.batch.queue_capacity = 65_536;
    otlp.batch.queue_max_bytes = "1MiB".into();
    otlp.batch.max_batch = 256;
    otlp.retry.max_retries = 2;
    otlp.retry.initial_delay = "50ms".into();
    otlp.retry.max_delay = "200ms".into();
    otlp.retry.max_jitter = "20ms".into();
    otlp
}

fn stack(otlp: OtlpConfig) -> (tracing::Dispatch, Telemetry) {
    let mut config = Config::builder()
        .log_level("info")
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .expect("valid config");
    // Only the OTLP queues: the bound below is theirs.
    config.store.enabled = false;
    aureus_observability::build(config).expect("stack builds")
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Samples this process's RSS every 50 ms; keeps the peak.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<()>,
}

impl RssPeak {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib()));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                p.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssPeak { stop, peak, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Two threads emitting spans of 8 events (each span and event with a
/// distinct `uid` and 1 KiB of text) at about 10,000 events/s each,
/// until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(u64, u64)>>,
}

/// What was emitted, to check every count against (ids as ranges: sets
/// of every id would weigh more than the queues whose memory is measured).
#[derive(Debug, Default)]
struct Emitted {
    events: u64,
    spans: u64,
    /// Events emitted by each load thread (ids `t * RANGE + 0..n`).
    load: Vec<u64>,
    /// Probes emitted (ids `PROBES + 0..n`, an event and a span each).
    probes: i64,
    /// Whether the data after recovery was emitted (ids `AFTER + 0..1000`).
    after: bool,
}

impl Emitted {
    /// Whether `id` is that of an event that was emitted.
    fn has_event(&self, id: i64) -> bool {
        let (thread, k) = (id / RANGE, id % RANGE);
        let load = usize::try_from(thread)
            .ok()
            .and_then(|t| self.load.get(t))
            .is_some_and(|n| (k as u64) < *n);
        load || (PROBES..PROBES + self.probes).contains(&id) || (self.after && (AFTER..AFTER + 1000).contains(&id))
    }

    /// Whether `id` is that of a span that was emitted.
    fn has_span(&self, id: i64) -> bool {
        let load_span = id < PROBES && (id % RANGE) % EVENTS_PER_SPAN as i64 == 0;
        let after_span = id >= AFTER && (id - AFTER) % EVENTS_PER_SPAN as i64 == 0;
        self.has_event(id) && (load_span || (PROBES..AFTER).contains(&id) || after_span)
    }
}

impl Load {
    fn start(dispatch: &tracing::Dispatch) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..THREADS)
            .map(|thread| {
                let (dispatch, stop) = (dispatch.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let text = "f".repeat(1024);
                    let deadline = Instant::now() + Duration::from_secs(300);
                    let mut next = 0;
                    tracing::dispatcher::with_default(&dispatch, || {
                        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                            let first = thread as i64 * RANGE + next as i64;
                            let span = tracing::info_span!("unit", uid = first, text = text.as_str());
                            let _entered = span.enter();
                            for uid in first..first + EVENTS_PER_SPAN as i64 {
                                tracing::info!(target: "e2e", uid, text = text.as_str(), "load");
                            }
                            next += EVENTS_PER_SPAN;
                            drop(_entered);
                            drop(span);
                            std::thread::sleep(Duration::from_micros(800));
                        }
                    });
                    (next, next / EVENTS_PER_SPAN)
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn stop(self, emitted: &mut Emitted) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.threads {
            let (events, spans) = handle.join().expect("no panic in a producer");
            emitted.events += events;
            emitted.spans += spans;
            emitted.load.push(events);
        }
    }
}

/// Emits one probe (an event in a span) every 200 ms until one arrives
/// at `receiver` as a log record and one as a span, and the `otlp` sink's
/// circuit is closed; returns how long that took.
fn until_recovered(
    receiver: &OtlpReceiver,
    dispatch: &tracing::Dispatch,
    telemetry: &Telemetry,
    emitted: &mut Emitted,
    limit: Duration,
) -> (Duration, Duration) {
    let started = Instant::now();
    let (mut logs_at, mut spans_at) = (None, None);
    for i in 0.. {
        let uid = PROBES + i;
        tracing::dispatcher::with_default(dispatch, || {
            let _span = tracing::info_span!("probe", uid).entered();
            tracing::info!(target: "e2e", uid, "probe");
        });
        emitted.probes = i + 1;
        std::thread::sleep(Duration::from_millis(200));
        let (logs, spans) = receiver.ids_in(PROBES..AFTER);
        if logs_at.is_none() && logs > 0 {
            logs_at = Some(started.elapsed());
        }
        if spans_at.is_none() && spans > 0 {
            spans_at = Some(started.elapsed());
        }
        let closed = !telemetry.sinks().health("otlp").unwrap().circuit_open;
        if let (Some(logs), Some(spans)) = (logs_at, spans_at) {
            if closed {
                emitted.events += i as u64 + 1;
                emitted.spans += i as u64 + 1;
                return (logs, spans);
            }
        }
        if started.elapsed() >= limit {
            let received = receiver.received();
            let tail: Vec<_> = received[received.len().saturating_sub(20)..]
                .iter()
                .map(|r| (r.path.clone(), r.reply.clone()))
                .collect();
            panic!(
                "no recovery within {limit:?}: log records {logs_at:?}, spans {spans_at:?}, {:?}\n{:?}\n{} requests, last: {tail:?}",
                telemetry.sinks().health("otlp"),
                telemetry.otlp_counts("traces"),
                received.len()
            );
        }
    }
    unreachable!()
}

/// 1,000 events in 125 spans after recovery, in five flushed chunks (a
/// burst larger than the queue's byte bound would be dropped, and counted,
/// by the default `drop` policy); every one must arrive.
fn after_recovery(receiver: &OtlpReceiver, dispatch: &tracing::Dispatch, telemetry: &Telemetry, emitted: &mut Emitted) {
    let before = telemetry.sinks().health("otlp");
    for chunk in (AFTER..AFTER + 1000).step_by(200) {
        tracing::dispatcher::with_default(dispatch, || {
            for first in (chunk..chunk + 200).step_by(EVENTS_PER_SPAN as usize) {
                let _span = tracing::info_span!("after", uid = first).entered();
                for uid in first..first + EVENTS_PER_SPAN as i64 {
                    tracing::info!(target: "e2e", uid, "after recovery");
                }
            }
        });
        assert!(telemetry.flush(Duration::from_secs(20)), "flushed");
    }
    emitted.events += 1000;
    emitted.spans += 125;
    emitted.after = true;
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.ids_in(AFTER..AFTER + 1000) != (1000, 125) {
        assert!(
            Instant::now() < deadline,
            "not everything sent after recovery arrived: {:?} of (1000, 125); before: {before:?}, after: {:?}",
            receiver.ids_in(AFTER..AFTER + 1000),
            telemetry.sinks().health("otlp")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn balanced(c: &ExportCounts) -> bool {
    c.created == c.exported + c.dropped_queue_full + c.dropped_closed + c.failed + c.undelivered()
}

/// Every loss counted, nothing received that was not sent, no panic.
fn check_accounting(report: &ShutdownReport, emitted: &Emitted, got: &Tally) {
    assert!(
        report.sinks.iter().all(|s| s.completed) && report.otlp.iter().all(|o| o.completed),
        "{report}"
    );
    let logs = report.sink("otlp").unwrap();
    let h = &logs.health;
    assert_eq!(h.panics, 0, "{report}");
    assert_eq!(
        h.accepted + h.dropped_queue_full + h.dropped_closed,
        emitted.events,
        "every event offered to the otlp sink is accepted or dropped: {h:?}"
    );
    assert_eq!(logs.undelivered, 0, "{report}");
    assert_eq!(
        h.accepted,
        h.delivered + h.failed + h.dropped_circuit_open,
        "every accepted record is delivered, failed or shed: {h:?}"
    );
    let traces = &report.otlp.iter().find(|o| o.signal == "traces").unwrap().counts;
    assert_eq!(traces.created, emitted.spans, "{traces:?}");
    assert!(balanced(traces), "{traces:?}");
    assert_eq!(traces.undelivered(), 0, "{traces:?}");
    let stray_logs = got.log_ids.iter().filter(|id| !emitted.has_event(**id)).count();
    let stray_spans = got.span_ids.iter().filter(|id| !emitted.has_span(**id)).count();
    assert_eq!(
        (stray_logs, stray_spans, got.without_id),
        (0, 0, 0),
        "only what was sent arrives"
    );
}

/// Each 429/503 with `Retry-After: 1` delayed the next request on its path
/// (the retry, one exporter per path) by at least that second.
fn check_retry_after(received: &[otlp_receiver::Received]) -> usize {
    let mut honoured = 0;
    for (i, request) in received.iter().enumerate() {
        if !matches!(request.reply, Reply::Http(429 | 503, Some("1"))) {
            continue;
        }
        let next = received[i + 1..].iter().find(|r| r.path == request.path);
        if let Some(next) = next {
            let gap = next.at.duration_since(request.at);
            assert!(
                gap >= Duration::from_millis(950),
                "{} answered {:?}: next request after {gap:?}",
                request.path,
                request.reply
            );
            honoured += 1;
        }
    }
    honoured
}

/// The memory bound: the process before the load, plus four times the two
/// queues' byte bounds (an item's real footprint is up to about twice its
/// estimate, and a batch being encoded is held twice more), plus 48 MiB for
/// what does not scale with the queues: the exporters' and the in-process
/// receiver's buffers (the oversized answer alone is 6 MiB on the receiver's
/// side and a 4 MiB read, grown by doubling, on the client's), allocator
/// arenas of the producer, exporter and receiver threads, the receiver's
/// tally. Without the byte bounds the queues alone would hold over 128 MiB.
fn rss_bound_kib(baseline: u64) -> u64 {
    baseline + 4 * 2 * QUEUE_BYTES / 1024 + 48 * 1024
}

fn faults(protocol: OtlpProtocol) -> Vec<Reply> {
    let mut faults = vec![
        Reply::Http(429, Some("1")),
        Reply::Http(503, Some("1")),
        Reply::Http(500, None),
        Reply::Delay(Duration::from_millis(2500)),
        Reply::Reset,
        Reply::Garbage,
        Reply::Http(503, None),
        Reply::Http(429, Some("1")),
        Reply::Garbage,
        Reply::Http(400, None),
    ];
    // Long enough a run of failures to open the log sink's circuit breaker.
    faults.extend(std::iter::repeat_n(Reply::Reset, 40));
    faults.push(Reply::Delay(Duration::from_millis(2500)));
    faults.push(Reply::Http(500, None));
    if protocol == OtlpProtocol::Grpc {
        // UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL, UNIMPLEMENTED.
        faults.extend([Reply::Grpc(14), Reply::Grpc(8), Reply::Grpc(13), Reply::Grpc(12)]);
    }
    if protocol != OtlpProtocol::Grpc {
        // A 200 with a body too large to read. Last, so that a retry after
        // it would be answered (and counted) again. (Not over gRPC: there
        // tonic's 4 MiB limit fails the call as OUT_OF_RANGE, which
        // opentelemetry-otlp retries — a duplicate we cannot prevent.)
        faults.push(Reply::Oversized(6 << 20));
    }
    faults
}

fn scripted_faults(protocol: OtlpProtocol) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let receiver = OtlpReceiver::start_counting("uid");
    let base = receiver.endpoint();
    let (logs, traces) = match protocol {
        OtlpProtocol::Grpc => (base.clone(), base),
        _ => (format!("{base}/v1/logs"), format!("{base}/v1/traces")),
    };
    let (dispatch, telemetry) = stack(config(logs, protocol, traces, protocol));
    let baseline = rss_kib();
    let peak = RssPeak::start();
    let mut emitted = Emitted::default();
    let started = Instant::now();

    let load = Load::start(&dispatch);
    std::thread::sleep(Duration::from_millis(500));
    let script = faults(protocol);
    let scripted = script.len();
    receiver.script(script);
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.script_left() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} faults never asked for",
            receiver.script_left()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    load.stop(&mut emitted);
    let (logs_back, spans_back) =
        until_recovered(&receiver, &dispatch, &telemetry, &mut emitted, Duration::from_secs(70));
    after_recovery(&receiver, &dispatch, &telemetry, &mut emitted);
    let peak = peak.stop();
    let report = telemetry.shutdown(Duration::from_secs(10));
    let got = receiver.tally();
    eprintln!(
        "{protocol:?}: {scripted} scripted faults under load in {:.1?}; recovered: log records after {logs_back:?}, spans after {spans_back:?}; \
         RSS {} → peak {} MiB (bound {} MiB)\n{report}",
        started.elapsed(),
        baseline / 1024,
        peak / 1024,
        rss_bound_kib(baseline) / 1024
    );

    check_accounting(&report, &emitted, &got);
    // What the client counts as delivered the receiver has (it also has
    // what it accepted too late for the client to know: the slow answers).
    let logs = &report.sink("otlp").unwrap().health;
    let traces = &report.otlp[0].counts;
    // Each item reached the receiver at most once: no fault made the client
    // send again what the receiver had already accepted.
    assert_eq!(got.logs, got.log_ids.len() as u64, "log records accepted twice");
    assert_eq!(got.spans, got.span_ids.len() as u64, "spans accepted twice");
    assert!(
        got.log_ids.len() as u64 >= logs.delivered,
        "{logs:?} vs {}",
        got.log_ids.len()
    );
    assert!(
        got.span_ids.len() as u64 >= traces.exported,
        "{traces:?} vs {}",
        got.span_ids.len()
    );
    assert!(
        logs.failed + traces.failed > 0,
        "the faults failed some exports: {report}"
    );
    assert!(traces.export_errors + logs.failed > 0);
    if protocol != OtlpProtocol::Grpc {
        assert!(check_retry_after(&receiver.received()) >= 1, "a Retry-After was seen");
    }
    assert!(
        peak <= rss_bound_kib(baseline),
        "peak RSS {peak} KiB over the bound {} KiB",
        rss_bound_kib(baseline)
    );
}

#[test]
fn scripted_faults_over_http_are_survived_and_counted() {
    scripted_faults(OtlpProtocol::HttpProtobuf);
}

#[test]
fn scripted_faults_over_grpc_are_survived_and_counted() {
    scripted_faults(OtlpProtocol::Grpc);
}

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn rotel_killed_and_restarted_mid_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let outage: u64 = std::env::var("FAULT_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let receiver = OtlpReceiver::start_counting("uid");
    let grpc_port = http::free_loopback_port().unwrap();
    let mut http_port = http::free_loopback_port().unwrap();
    while http_port == grpc_port {
        http_port = http::free_loopback_port().unwrap();
    }
    let mut collector = rotel::Rotel::start_forwarding_on(grpc_port, http_port, &receiver.endpoint());
    let (dispatch, telemetry) = stack(config(
        format!("{}/v1/logs", collector.http_endpoint()),
        OtlpProtocol::HttpProtobuf,
        collector.grpc_endpoint(),
        OtlpProtocol::Grpc,
    ));
    let baseline = rss_kib();
    let peak = RssPeak::start();
    let mut emitted = Emitted::default();

    let load = Load::start(&dispatch);
    receiver.wait_for_tally("the load, before the kill", Duration::from_secs(30), |t| {
        t.logs > 0 && t.spans > 0
    });
    std::thread::sleep(Duration::from_secs(1));
    collector.kill();
    std::thread::sleep(Duration::from_secs(outage));
    let collector = rotel::Rotel::start_forwarding_on(grpc_port, http_port, &receiver.endpoint());
    let (logs_back, spans_back) =
        until_recovered(&receiver, &dispatch, &telemetry, &mut emitted, Duration::from_secs(90));
    load.stop(&mut emitted);
    after_recovery(&receiver, &dispatch, &telemetry, &mut emitted);
    let peak = peak.stop();
    let report = telemetry.shutdown(Duration::from_secs(10));
    let got = receiver.tally();
    eprintln!(
        "rotel down {outage} s under load; after its restart log records arrived again after {logs_back:?}, \
         spans after {spans_back:?}; RSS {} → peak {} MiB (bound {} MiB)\n{report}",
        baseline / 1024,
        peak / 1024,
        rss_bound_kib(baseline) / 1024
    );
    check_accounting(&report, &emitted, &got);
    let logs = &report.sink("otlp").unwrap().health;
    assert!(
        logs.failed + logs.dropped() > 0,
        "the records sent while rotel was down are counted: {logs:?}"
    );
    assert!(
        peak <= rss_bound_kib(baseline),
        "peak RSS {peak} KiB over the bound {} KiB",
        rss_bound_kib(baseline)
    );
    drop(collector);
}
