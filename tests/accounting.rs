//! Exact accounting: for every OTLP signal and sink, created = delivered +
//! dropped + failed + undelivered at shutdown — including what is inside an
//! export call when the deadline passes — and every value a metric refuses
//! is counted with a reason. The span queue is bounded in bytes as well as
//! in count.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::event::StepEnd;
use aureus_observability::otlp::ExportCounts;
use aureus_observability::{Config, Telemetry};

fn otlp(endpoint: &str) -> OtlpConfig {
    let mut config = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint.to_owned()),
        protocol: Some(OtlpProtocol::HttpProtobuf),
        ..OtlpConfig::default()
    };
    config.batch.interval = "50ms".into();
    config.metrics.enabled = false;
    config
}

fn stack(otlp: OtlpConfig) -> (tracing::Dispatch, Telemetry) {
    let config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .expect("valid config");
    aureus_observability::build(config).expect("stack builds")
}

/// A collector that accepts connections, reads requests and never answers.
/// Stops accepting when dropped (connections stay open until then).
struct Silent {
    addr: std::net::SocketAddr,
    held: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Silent {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let held = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, s) = (Arc::clone(&held), Arc::clone(&stop));
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
                        let mut buf = [0u8; 4096];
                        let _ = stream.read(&mut buf);
                        h.lock().unwrap().push(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Silent { addr, held, stop }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.held.lock().unwrap().clear();
    }
}

fn balanced(c: &ExportCounts) -> bool {
    c.created == c.exported + c.dropped_queue_full + c.dropped_closed + c.failed + c.undelivered()
}

#[test]
fn spans_and_logs_inside_an_unanswered_export_at_the_deadline_are_undelivered() {
    let collector = Silent::start();
    let mut config = otlp(&collector.endpoint());
    config.timeout = Some("60s".into());
    let (dispatch, telemetry) = stack(config);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..10 {
            let _span = tracing::info_span!("unit", i).entered();
            tracing::info!(i, "inside");
        }
    });
    // Let the batch leave the queue: it is now inside the export call.
    let deadline = Instant::now() + Duration::from_secs(10);
    while telemetry.otlp_counts("traces").unwrap().in_flight < 10 {
        assert!(Instant::now() < deadline, "{:?}", telemetry.otlp_counts("traces"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let report = telemetry.shutdown(Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown kept its deadline");
    let traces = report.otlp.iter().find(|o| o.signal == "traces").unwrap();
    let c = &traces.counts;
    assert!(!traces.completed);
    assert_eq!((c.created, c.exported, c.failed), (10, 0, 0), "{c:?}");
    assert_eq!(c.undelivered(), 10, "{c:?}");
    assert!(balanced(c), "{c:?}");
    assert!(report.to_string().contains("undelivered 10"), "{report}");
    let logs = report.sink("otlp").unwrap();
    assert_eq!(logs.health.accepted, 10, "{report}");
    assert_eq!(
        logs.undelivered + logs.health.delivered + logs.health.failed,
        10,
        "{report}"
    );
    assert!(!report.is_clean());
}

#[test]
fn the_span_queue_is_bounded_in_bytes() {
    let collector = Silent::start();
    let mut config = otlp(&collector.endpoint());
    config.timeout = Some("60s".into());
    config.batch.queue_max_bytes = "256KiB".into();
    config.batch.max_batch = 8;
    config.logs.enabled = false;
    let (dispatch, telemetry) = stack(config);
    let big = "x".repeat(16 * 1024);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..200 {
            let _span = tracing::info_span!("big", i, payload = big.as_str()).entered();
        }
    });
    let c = telemetry.otlp_counts("traces").unwrap();
    assert_eq!(c.created, 200, "{c:?}");
    assert!(
        c.dropped_queue_full > 150,
        "far fewer than 200 × 16 KiB fit in 256 KiB: {c:?}"
    );
    assert!(c.queued_bytes <= 256 * 1024 + 17 * 1024, "{c:?}");
    assert!(balanced(&c), "{c:?}");
    let report = telemetry.shutdown(Duration::from_millis(500));
    let c = &report.otlp[0].counts;
    assert!(balanced(c), "{c:?}");
}

#[test]
fn a_bad_queue_byte_bound_is_a_typed_error() {
    let mut config = otlp("http://127.0.0.1:9");
    config.batch.queue_max_bytes = "lots".into();
    let err = Config::builder().no_server().otlp(config).build().unwrap_err();
    assert!(err.to_string().contains("otlp.batch.queue_max_bytes"), "{err}");
}

#[test]
fn refused_durations_are_counted_by_reason() {
    let config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        StepEnd {
            workflow_id: "wf",
            task_id: "ok",
            task_type: "action",
            success: true,
            duration_ms: 12,
            error: None,
        }
        .emit();
        for value in [f64::NAN, f64::INFINITY, -5.0] {
            tracing::info!(target: "aureus", event_type = "step_end", task_type = "action",
                           success = true, duration_ms = value);
        }
        tracing::info!(target: "aureus", event_type = "step_end", task_type = "action", success = false);
    });
    let text = telemetry.metrics().unwrap().render();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
    };
    for reason in ["nan", "infinite", "negative", "missing"] {
        assert_eq!(
            value(&format!(
                "aureus_telemetry_refused_values_total{{field=\"duration_ms\",reason=\"{reason}\"}}"
            )),
            1.0,
            "{reason}"
        );
    }
    let completed = value("aureus_tasks_completed_total{task_type=\"action\",success=\"true\"}")
        + value("aureus_tasks_completed_total{task_type=\"action\",success=\"false\"}");
    let observed = value("aureus_task_duration_ms_count{task_type=\"action\",success=\"true\"}")
        + value("aureus_task_duration_ms_count{task_type=\"action\",success=\"false\"}");
    assert_eq!(completed, 5.0);
    assert_eq!(observed + 4.0, completed, "every gap is counted");
    telemetry.shutdown(Duration::from_secs(1));
}

/// A sink that holds every call until released.
#[derive(Clone)]
struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>, Arc<Mutex<u64>>);
impl aureus_observability::Sink for Gate {
    fn write(&mut self, batch: &[Arc<aureus_observability::Record>]) -> Result<(), aureus_observability::SinkError> {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            let (next, _) = cv.wait_timeout(open, Duration::from_secs(30)).unwrap();
            open = next;
        }
        *self.1.lock().unwrap() += batch.len() as u64;
        Ok(())
    }
}

fn gated_stack(overflow: aureus_observability::pipeline::OverflowPolicy) -> (tracing::Dispatch, Telemetry, Gate) {
    let config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let gate = Gate(Arc::new((Mutex::new(false), std::sync::Condvar::new())), Arc::default());
    let options = aureus_observability::SinkOptions {
        queue_capacity: 1 << 20,
        queue_max_bytes: 64 * 1024,
        overflow,
        ..Default::default()
    };
    telemetry.sinks().add("gated", gate.clone(), options).unwrap();
    (dispatch, telemetry, gate)
}

#[test]
fn sink_queues_are_bounded_in_bytes_and_count_the_drops() {
    let (dispatch, telemetry, gate) = gated_stack(aureus_observability::pipeline::OverflowPolicy::Drop);
    let text = "y".repeat(1024);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..2_000 {
            tracing::info!(i, text = text.as_str(), "big");
        }
    });
    let health = telemetry.sinks().health("gated").unwrap();
    assert!(health.dropped_queue_full > 1_000, "{health:?}");
    assert!(health.queue_bytes <= 64 * 1024 + 8 * 1024, "{health:?}");
    assert_eq!(health.accepted + health.dropped_queue_full, 2_000, "{health:?}");
    {
        let (open, cv) = &*gate.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    let report = telemetry.shutdown(Duration::from_secs(10));
    let sink = report.sink("gated").unwrap();
    assert_eq!(sink.health.delivered, sink.health.accepted, "{report}");
    assert_eq!(*gate.1.lock().unwrap(), sink.health.delivered);
    assert_eq!(sink.health.queue_bytes, 0, "every reservation released: {report:?}");
}

#[test]
fn a_blocking_queue_waits_for_byte_room_and_loses_nothing() {
    let (dispatch, telemetry, gate) = gated_stack(aureus_observability::pipeline::OverflowPolicy::Block);
    let release = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let (open, cv) = &*gate.0;
            *open.lock().unwrap() = true;
            cv.notify_all();
        })
    };
    let text = "z".repeat(1024);
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..2_000 {
            tracing::info!(i, text = text.as_str(), "big");
        }
    });
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the producer waited for room"
    );
    release.join().unwrap();
    let report = telemetry.shutdown(Duration::from_secs(10));
    let sink = report.sink("gated").unwrap();
    assert_eq!((sink.health.delivered, sink.health.dropped()), (2_000, 0), "{report}");
}
