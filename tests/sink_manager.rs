//! Sinks managed at run time: isolation of broken sinks, changes under load,
//! async sinks, and shutdown within its deadline.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aureus_observability::config::FileSinkConfig;
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::{AsyncSink, Config, Error, Record, Sink, SinkError, SinkOptions};

/// Panics on every third batch.
struct PanicsEveryThird(u64);
impl Sink for PanicsEveryThird {
    fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> {
        self.0 += 1;
        if self.0.is_multiple_of(3) {
            panic!("third batch");
        }
        Ok(())
    }
}

/// Never returns from its first call.
struct BlocksForever;
impl Sink for BlocksForever {
    fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Always fails.
struct AlwaysFails;
impl Sink for AlwaysFails {
    fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> {
        Err("downstream unavailable".into())
    }
}

fn lossy() -> SinkOptions {
    SinkOptions {
        queue_capacity: 64,
        overflow: OverflowPolicy::Drop,
        ..Default::default()
    }
}

#[test]
fn broken_sinks_never_affect_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.jsonl");
    let config = Config::builder()
        .no_server()
        .sink(FileSinkConfig::at(&path))
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let sinks = telemetry.sinks();
    let counting = common::Collect::default();
    sinks.add("counting", counting.clone(), common::lossless()).unwrap();
    sinks.add("panics", PanicsEveryThird(0), lossy()).unwrap();
    sinks.add("blocks", BlocksForever, lossy()).unwrap();
    sinks.add("fails", AlwaysFails, lossy()).unwrap();

    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 5_000;
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for seq in 0..PER_THREAD {
                        tracing::info!(thread, seq, "work");
                        if seq.is_multiple_of(500) {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                })
            });
        }
    });
    let total = THREADS * PER_THREAD;
    // `flush` would wait for the stuck sink; wait for the healthy one instead (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while (counting.records().len() as u64) < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let health = |name: &str| sinks.health(name).unwrap();
    // The broken sinks' workers may lag behind on a busy machine: wait (bounded).
    let settled = || {
        let (p, b, f) = (health("panics"), health("blocks"), health("fails"));
        p.panics > 0 && b.busy_for.is_some() && f.dropped_circuit_open > 0 && p.queue_depth == 0 && f.queue_depth == 0
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !settled() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }

    let panics = health("panics");
    assert!(panics.panics > 0 && panics.failed > 0, "{panics:?}");
    assert!(panics.last_error.as_ref().unwrap().0.contains("third batch"));
    let blocks = health("blocks");
    assert!(blocks.busy_for.is_some(), "a hang shows: {blocks:?}");
    assert!(blocks.dropped_queue_full > 0, "{blocks:?}");
    let fails = health("fails");
    assert!(fails.failed > 0 && fails.circuit_open, "{fails:?}");
    assert!(fails.dropped_circuit_open > 0, "backed off: {fails:?}");
    for h in [&panics, &blocks, &fails] {
        assert_eq!(h.accepted + h.dropped_queue_full + h.dropped_closed, total, "{h:?}");
    }
    let metrics = telemetry.metrics().unwrap().render();
    assert!(
        metrics.contains(r#"aureus_telemetry_errors_total{sink="fails"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"aureus_telemetry_dropped_total{sink="fails",reason="circuit_open"}"#));

    let started = Instant::now();
    let report = telemetry.shutdown(Duration::from_secs(2));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(!report.sink("blocks").unwrap().completed);
    for name in ["counting", "file"] {
        let sink = report.sink(name).unwrap();
        assert!(sink.completed, "{report}");
        assert_eq!(sink.health.delivered, total, "{name}: {report}");
    }
    assert_eq!(counting.records().len() as u64, total);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count() as u64, total);
}

/// Records every `(thread, seq)` pair it receives.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(u64, u64)>>>);
impl Sink for Seen {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        let mut seen = self.0.lock().unwrap();
        for r in batch {
            let n = |k| r.field(k).and_then(|v| v.as_f64()).unwrap() as u64;
            seen.push((n("thread"), n("seq")));
        }
        Ok(())
    }
}

#[test]
fn changes_under_load_keep_steady_sinks_exact() {
    let (dispatch, telemetry) =
        aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap()).unwrap();
    let sinks = telemetry.sinks();
    let steady = Seen::default();
    sinks.add("steady", steady.clone(), common::lossless()).unwrap();
    let stop = AtomicBool::new(false);
    let emitted = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let (dispatch, stop, emitted) = (dispatch.clone(), &stop, &emitted);
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        tracing::info!(thread, seq, "flow");
                        seq += 1;
                        if seq.is_multiple_of(64) {
                            std::thread::yield_now();
                        }
                    }
                    emitted.fetch_add(seq, Ordering::Relaxed);
                })
            });
        }
        // Churn while the threads emit.
        for round in 0..20 {
            let name = format!("churn-{round}");
            sinks.add(&name, Seen::default(), lossy()).unwrap();
            sinks.disable(&name).unwrap();
            sinks.enable(&name).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            if round % 2 == 0 {
                let report = sinks.remove(&name, Duration::from_secs(5)).unwrap();
                assert!(report.completed);
            }
        }
        assert!(matches!(
            sinks.add("churn-1", Seen::default(), lossy()),
            Err(Error::DuplicateSink { .. })
        ));
        assert!(matches!(sinks.enable("nope"), Err(Error::UnknownSink { .. })));
        assert!(matches!(
            sinks.remove("nope", Duration::ZERO),
            Err(Error::UnknownSink { .. })
        ));
        assert!(matches!(
            sinks.remove("prometheus", Duration::ZERO),
            Err(Error::BuiltInSink { .. })
        ));
        stop.store(true, Ordering::Relaxed);
    });
    let report = telemetry.shutdown(Duration::from_secs(30));
    assert!(report.sink("steady").unwrap().completed);
    let seen = steady.0.lock().unwrap();
    let total = emitted.load(Ordering::Relaxed);
    assert!(total > 10_000, "only {total} events emitted");
    assert_eq!(seen.len() as u64, total, "every record exactly once");
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no duplicates");
}

#[test]
fn disabling_the_metrics_freezes_them() {
    let (dispatch, telemetry) =
        aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap()).unwrap();
    let emit = || {
        tracing::dispatcher::with_default(
            &dispatch,
            || tracing::info!(target: "aureus", event_type = "snapshot_commit", snapshot_id = "s"),
        )
    };
    emit();
    telemetry.sinks().disable("prometheus").unwrap();
    assert!(!telemetry.sinks().health("prometheus").unwrap().enabled);
    emit();
    telemetry.sinks().enable("prometheus").unwrap();
    emit();
    assert!(telemetry
        .metrics()
        .unwrap()
        .render()
        .contains("aureus_snapshots_total 2"));
}

/// An async sink that "posts" each batch after a short await.
#[derive(Clone, Default)]
struct Webhook(Arc<AtomicU64>);
impl AsyncSink for Webhook {
    async fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// An async sink whose calls never complete.
struct Hangs;
impl AsyncSink for Hangs {
    async fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[test]
fn async_sinks_deliver_and_hung_calls_time_out() {
    let (dispatch, telemetry) =
        aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap()).unwrap();
    let sinks = telemetry.sinks();
    let webhook = Webhook::default();
    sinks.add_async("webhook", webhook.clone(), common::lossless()).unwrap();
    let options = SinkOptions {
        call_timeout: Duration::from_millis(100),
        ..lossy()
    };
    sinks.add_async("hangs", Hangs, options).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..2_000 {
            tracing::info!(n, "to the webhook");
        }
    });
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert_eq!(webhook.0.load(Ordering::Relaxed), 2_000);
    assert_eq!(report.sink("webhook").unwrap().health.delivered, 2_000);
    let hangs = &report.sink("hangs").unwrap().health;
    assert!(hangs.failed > 0, "{hangs:?}");
    assert!(hangs.last_error.as_ref().unwrap().0.contains("timed out"), "{hangs:?}");
}

#[test]
fn a_backed_off_sink_sheds_at_once_and_is_tried_again_later() {
    let (dispatch, telemetry, _collect) = common::collecting("info");
    let options = aureus_observability::SinkOptions {
        queue_capacity: 1024,
        overflow: aureus_observability::pipeline::OverflowPolicy::Drop,
        ..Default::default()
    };
    telemetry.sinks().add("fails", AlwaysFails, options).unwrap();
    let emit = |n: usize| {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..n {
                tracing::info!(target: "kernel", i, "to a broken sink");
                telemetry.flush(Duration::from_millis(200));
            }
        })
    };
    // Five failed batches open the circuit (1 s).
    emit(8);
    let opened = telemetry.sinks().health("fails").unwrap();
    assert!(opened.circuit_open, "{opened:?}");
    // While open, records are settled at once: nothing queues.
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..500 {
            tracing::info!(target: "kernel", i, "shed");
        }
    });
    let shed = telemetry.sinks().health("fails").unwrap();
    assert_eq!(shed.queue_depth, 0, "{shed:?}");
    assert!(
        shed.dropped_circuit_open >= opened.dropped_circuit_open + 500,
        "{shed:?}"
    );
    // After the backoff the sink is tried again (and fails again).
    std::thread::sleep(Duration::from_millis(1100));
    emit(1);
    let retried = telemetry.sinks().health("fails").unwrap();
    assert!(retried.failed > shed.failed, "tried again: {retried:?}");
    let report = telemetry.shutdown(Duration::from_secs(2));
    let fails = report.sink("fails").unwrap();
    assert_eq!(fails.undelivered, 0, "every shed record is settled: {fails:?}");
}

/// Delivers only the first half of every batch (rounded down) and reports
/// the rest as a [`PartialDelivery`](aureus_observability::PartialDelivery).
struct HalfDelivers(Arc<AtomicU64>);
impl Sink for HalfDelivers {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        let half = batch.len() / 2;
        self.0.fetch_add(half as u64, Ordering::Relaxed);
        if half == batch.len() {
            return Ok(());
        }
        Err(Box::new(aureus_observability::PartialDelivery {
            delivered: half,
            source: "disk full".into(),
        }))
    }
}

#[test]
fn a_partial_delivery_counts_exactly_the_records_it_wrote() {
    let (dispatch, telemetry, _) = common::collecting("info");
    let written = Arc::new(AtomicU64::new(0));
    let options = SinkOptions {
        queue_capacity: 1 << 16,
        overflow: OverflowPolicy::Block,
        ..Default::default()
    };
    telemetry
        .sinks()
        .add("half", HalfDelivers(Arc::clone(&written)), options)
        .unwrap();
    const N: u64 = 5_000;
    tracing::dispatcher::with_default(&dispatch, || {
        for seq in 0..N {
            tracing::info!(seq, "partial");
        }
    });
    let report = telemetry.sinks().remove("half", Duration::from_secs(10)).unwrap();
    let h = &report.health;
    assert_eq!(h.delivered, written.load(Ordering::Relaxed), "{report:?}");
    assert!(h.failed > 0 && h.delivered > 0, "{report:?}");
    assert_eq!(
        h.delivered + h.failed + h.dropped() + report.undelivered,
        N,
        "{report:?}"
    );
    assert!(h.last_error.as_ref().unwrap().0.contains("disk full"), "{report:?}");
}
