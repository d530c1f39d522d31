//! Retention and compression only ever remove the oldest rotated files,
//! whatever the timing of the compression thread: after every run the
//! retained files (plain and `.gz`) plus the active file hold a contiguous
//! suffix of what each thread wrote, and what retention deleted is counted.
//!
//! The CI version runs each scenario 2 rounds with 2 × 10,000 events.
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
        env_or("AUREUS_RETENTION_ROUNDS", 2),
        env_or("AUREUS_RETENTION_EVENTS", 10_000),
    )
}

/// What one run left behind.
struct Outcome {
    report: aureus_observability::SinkReport,
    /// `/metrics` rendered in process just before shutdown.
    exposition: String,
}

/// One run: two threads write `per_thread` events each as fast as they can
/// through a file sink configured by `sink`.
fn run(sink: FileSinkConfig, per_thread: u64) -> Outcome {
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
    assert!(telemetry.flush(Duration::from_secs(60)));
    let exposition = telemetry.metrics().map(|m| m.render()).unwrap_or_default();
    let report = telemetry.shutdown(Duration::from_secs(120));
    Outcome {
        report: report.sink("file").unwrap().clone(),
        exposition,
    }
}

/// The sequence number in a rotated file's name (`<stem>.<timestamp>-<seq><ext>[.gz]`).
fn file_seq(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    let digits = name.rsplit_once('-').unwrap().1;
    digits[..digits.find('.').unwrap()].parse().unwrap()
}

/// The value of `name{sink="file"}` in an exposition.
fn sample(exposition: &str, name: &str) -> Option<u64> {
    exposition
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains("sink=\"file\""))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
}

fn sink_at(path: &Path) -> FileSinkConfig {
    FileSinkConfig {
        path: path.to_path_buf(),
        queue_capacity: 4096,
        overflow: OverflowPolicy::Block,
        ..Default::default()
    }
}

/// Runs `make`'s sink `rounds` times and checks after each: every record
/// delivered; the kept lines a contiguous suffix per thread; the kept rotated
/// files an unbroken run of sequence numbers ending at the newest; exactly
/// the older ones counted as deleted, in health and on `/metrics`; the limits
/// held.
fn check_rounds(scenario: &str, make: impl Fn(&Path) -> FileSinkConfig) {
    let (rounds, per_thread) = load();
    let started = Instant::now();
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join("aureus.jsonl");
        let config = make(&active);
        let Outcome { report, exposition } = run(config.clone(), per_thread);
        let context = format!("{scenario}, round {round}");
        let health = &report.health;
        assert!(report.completed && report.undelivered == 0, "{context}: {report:?}");
        assert_eq!(health.failed + health.dropped(), 0, "{context}: {report:?}");
        assert_eq!(health.delivered, THREADS * per_thread, "{context}");

        let rotated = file_lines::rotated_files(&active);
        assert!(!rotated.is_empty(), "{context}: no rotation");
        let seqs: Vec<u64> = rotated.iter().map(|p| file_seq(p)).collect();
        let first = seqs[0];
        assert_eq!(
            seqs,
            (first..first + seqs.len() as u64).collect::<Vec<_>>(),
            "{context}: kept rotated files are not an unbroken run"
        );
        let file = health.file.expect("file health");
        assert_eq!(
            file.retention_deleted_files,
            first - 1,
            "{context}: deleted files are exactly those older than the oldest kept"
        );
        assert!(file.retention_deleted_bytes > 0, "{context}: {file:?}");
        let deleted_files = sample(&exposition, "aureus_telemetry_file_retention_deleted_files_total");
        let deleted_bytes = sample(&exposition, "aureus_telemetry_file_retention_deleted_bytes_total");
        assert!(
            deleted_files.is_some_and(|n| n > 0 && n <= file.retention_deleted_files),
            "{context}: {deleted_files:?}"
        );
        assert!(
            deleted_bytes.is_some_and(|n| n > 0 && n <= file.retention_deleted_bytes),
            "{context}: {deleted_bytes:?}"
        );
        if let Some(max) = config.max_files {
            assert!(rotated.len() <= max, "{context}: {} rotated files kept", rotated.len());
        }
        if let Some(max) = &config.max_total_bytes {
            let max: u64 = max.parse::<bytesize::ByteSize>().unwrap().as_u64();
            let total: u64 = rotated.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
            assert!(total <= max, "{context}: {total} bytes kept");
        }

        let lines = file_lines::retained_lines(&active);
        let kept = file_lines::assert_contiguous_suffix(&file_lines::sequence(&lines), THREADS, per_thread, &context);
        assert!(
            kept.iter().sum::<u64>() < THREADS * per_thread,
            "{context}: retention deleted no line ({kept:?} kept)"
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

#[test]
fn total_bytes_retention_with_gzip_keeps_a_contiguous_suffix() {
    check_rounds("max_total_bytes=200KiB, 64KiB, gzip", |path| FileSinkConfig {
        max_bytes: Some("64KiB".into()),
        max_total_bytes: Some("200KiB".into()),
        compress: true,
        ..sink_at(path)
    });
}

#[test]
fn total_bytes_retention_without_gzip_keeps_a_contiguous_suffix() {
    check_rounds("max_total_bytes=150KiB, 32KiB", |path| FileSinkConfig {
        max_bytes: Some("32KiB".into()),
        max_total_bytes: Some("150KiB".into()),
        ..sink_at(path)
    });
}

#[test]
fn time_rotation_with_count_retention_and_gzip_keeps_a_contiguous_suffix() {
    check_rounds("rotate_every=20ms, max_files=3, gzip", |path| FileSinkConfig {
        rotate_every: Some("20ms".into()),
        max_files: Some(3),
        compress: true,
        ..sink_at(path)
    });
}
