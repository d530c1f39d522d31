//! `init` inside a tokio runtime; dropping the guard inside the runtime flushes.

use std::time::Duration;

use aureus_observability::config::FileSinkConfig;
use aureus_observability::correlation::{self, CorrelationExt, CorrelationId};
use aureus_observability::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_inside_tokio_and_drop_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokio.jsonl");
    let config = Config::builder()
        .no_monitoring()
        .no_server()
        .sink(FileSinkConfig::at(&path))
        .build()
        .unwrap();
    let telemetry = aureus_observability::init(config).unwrap();
    let mut tasks = Vec::new();
    for n in 0..50 {
        let id = CorrelationId::new(format!("wf-{n}")).unwrap();
        tasks.push(tokio::spawn(
            async move {
                for step in 0..20 {
                    tokio::time::sleep(Duration::from_micros(50)).await;
                    tracing::info!(target: "aureus", event_type = "custom", n, step);
                }
                correlation::current()
            }
            .with_correlation(id),
        ));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap().as_str(), format!("wf-{n}"));
    }
    drop(telemetry); // flushes within DROP_DEADLINE, on a runtime thread
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1000);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["correlation_id"], format!("wf-{}", v["n"]));
    }
}

#[test]
fn shutdown_deadline_is_respected_even_for_a_stuck_sink() {
    use aureus_observability::{Record, Sink, SinkError, SinkOptions};
    use std::sync::Arc;
    struct Stuck;
    impl Sink for Stuck {
        fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        }
    }
    let (dispatch, telemetry) =
        aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap()).unwrap();
    telemetry
        .sinks()
        .add(
            "stuck",
            Stuck,
            SinkOptions {
                queue_capacity: 4,
                ..Default::default()
            },
        )
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..100 {
            tracing::info!(n, "into a stuck sink");
        }
    });
    let started = std::time::Instant::now();
    let report = telemetry.shutdown(Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(2));
    let stuck = report.sink("stuck").unwrap();
    assert!(!stuck.completed);
    assert_eq!(stuck.health.accepted + stuck.health.dropped(), 100);
    assert!(stuck.undelivered > 0, "{report}");
}
