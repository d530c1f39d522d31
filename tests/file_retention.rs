//! Retention and compression only ever remove the oldest rotated files,
//! whatever the timing of the compression thread: after every run the
//! retained files (plain and `.gz`) plus the active file hold a contiguous
//! suffix of what each thread wrote, and what retention deleted is counted.
//!
//! The CI version runs each scenario a few rounds with 2 × 20,000 events.
//! The long version (the 2 × 100,000 events, many rounds):
//! `scripts/stress-file-retention.sh`, or set `AUREUS_RETENTION_ROUNDS` and
//! `AUREUS_RETENTION_EVENTS` yourself.

#[path = "support/file_lines.rs"]
mod file_lines;

use std::path::Path;
use std::time::{Duration, Instant};

use aureus_observability::config::FileSinkConfig;
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::Config;

const THREADS: u64 = 2;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v:?}: {e}")))
        .unwrap_or(default)
}

/// Rounds per scenario and events per thread.
fn load() -> (u64, u64) {
    (
        env_or("AUREUS_RETENTION_ROUNDS", 3),
        env_or("AUREUS_RETENTION_EVENTS", 20_000),
    )
}

/// One run: two threads write `per_thread` events each as fast as they can
/// through a file sink configured by `sink`; returns the sink's report.
fn run(sink: FileSinkConfig, per_thread: u64) -> aureus_observability::SinkReport {
    let config = Config::builder().no_server().sink(sink).build().unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for seq in 0..per_thread {
                        tracing::info!(target: "aureus", event_type = "custom", thread, seq, note = "retention");
                    }
                })
            });
        }
    });
    let report = telemetry.shutdown(Duration::from_secs(120));
    report.sink("file").unwrap().clone()
}

fn sink_at(path: &Path) -> FileSinkConfig {
    FileSinkConfig {
        path: path.to_path_buf(),
        queue_capacity: 4096,
        overflow: OverflowPolicy::Block,
        ..Default::default()
    }
}

/// Runs `make`'s sink `rounds` times and checks the invariant after each.
fn check_rounds(scenario: &str, make: impl Fn(&Path) -> FileSinkConfig) {
    let (rounds, per_thread) = load();
    let started = Instant::now();
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join("aureus.jsonl");
        let config = make(&active);
        let report = run(config.clone(), per_thread);
        let context = format!("{scenario}, round {round}");
        let health = &report.health;
        assert!(report.completed && report.undelivered == 0, "{context}: {report:?}");
        assert_eq!(health.failed + health.dropped(), 0, "{context}: {report:?}");
        assert_eq!(health.delivered, THREADS * per_thread, "{context}");

        let rotated = file_lines::rotated_files(&active);
        if let Some(max) = config.max_files {
            assert!(rotated.len() <= max, "{context}: {} rotated files kept", rotated.len());
        }
        let lines = file_lines::retained_lines(&active);
        let seqs = file_lines::sequence(&lines);
        let kept = file_lines::assert_contiguous_suffix(&seqs, THREADS, per_thread, &context);
        assert!(
            kept.iter().all(|&k| k < per_thread),
            "{context}: retention deleted nothing ({kept:?} kept)"
        );
    }
    eprintln!(
        "{scenario}: {rounds} rounds of {THREADS} x {per_thread} events in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn count_retention_with_gzip_keeps_a_contiguous_suffix() {
    check_rounds("max_files=5, 64KiB, gzip", |path| FileSinkConfig {
        max_bytes: Some("64KiB".into()),
        max_files: Some(5),
        compress: true,
        ..sink_at(path)
    });
}
