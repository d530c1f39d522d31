//! `init` from a plain synchronous `main`: installs the global subscriber,
//! refuses a second install, and the guard flushes on shutdown.

use std::time::Duration;

use aureus_observability::config::FileSinkConfig;
use aureus_observability::{event, Config, Error};

#[test]
fn init_installs_globally_and_shutdown_flushes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.jsonl");
    let config = Config::builder()
        .no_monitoring()
        .no_server()
        .sink(FileSinkConfig::at(&path))
        .build()
        .unwrap();
    let telemetry = aureus_observability::init(config).unwrap();

    let again = aureus_observability::init(Config::builder().no_server().no_sinks().build().unwrap());
    assert!(matches!(again, Err(Error::AlreadyInitialized)));

    let span = tracing::info_span!("workflow", correlation_id = "wf-sync");
    span.in_scope(|| {
        for n in 0..1000u64 {
            event::StepEnd {
                workflow_id: "wf",
                task_id: "t",
                task_type: "action",
                success: !n.is_multiple_of(10),
                duration_ms: n,
                error: None,
            }
            .emit();
        }
    });
    // From another plain thread too: the global subscriber is everywhere.
    std::thread::spawn(|| tracing::info!(target: "aureus", event_type = "custom", from = "thread"))
        .join()
        .unwrap();

    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1001);
    assert!(text
        .lines()
        .take(1000)
        .all(|l| l.contains("\"correlation_id\":\"wf-sync\"")));

    // After shutdown nothing is written, nothing panics, and the loss is counted by the report.
    tracing::info!("after shutdown");
}
