//! The file sink: exactly N lines across rotations and gzip, in order per thread.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use aureus_observability::config::FileSinkConfig;
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::Config;

/// Every JSON line in the directory: rotated files oldest first (gunzipped), then the active file.
fn read_all_lines(dir: &Path, active: &str) -> Vec<String> {
    let mut rotated: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap() != active)
        .collect();
    rotated.sort();
    let mut text = String::new();
    for path in rotated.iter().chain(std::iter::once(&dir.join(active))) {
        let bytes = std::fs::read(path).unwrap();
        if path.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text.push_str(std::str::from_utf8(&bytes).unwrap());
        }
    }
    text.lines().map(str::to_owned).collect()
}

#[test]
fn exactly_n_lines_survive_rotation_and_gzip_in_per_thread_order() {
    let dir = tempfile::tempdir().unwrap();
    const THREADS: usize = 4;
    const PER_THREAD: usize = 30_000;
    let config = Config::builder()
        .no_server()
        .sink(FileSinkConfig {
            path: dir.path().join("aureus.jsonl"),
            max_bytes: Some("1MB".into()),
            compress: true,
            queue_capacity: 1024,
            overflow: OverflowPolicy::Block,
            ..Default::default()
        })
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for seq in 0..PER_THREAD {
                        tracing::info!(target: "aureus", event_type = "custom", thread, seq, note = "exactly-n");
                    }
                })
            });
        }
    });
    let report = telemetry.shutdown(Duration::from_secs(60));
    let file = report.sink("file").unwrap();
    assert!(
        file.completed && file.undelivered == 0 && file.health.dropped() == 0,
        "{report}"
    );
    assert_eq!(file.health.delivered, (THREADS * PER_THREAD) as u64);

    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let gz = names.iter().filter(|n| n.ends_with(".jsonl.gz")).count();
    assert!(gz >= 3, "expected several gzipped rotations, got {names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    let lines = read_all_lines(dir.path(), "aureus.jsonl");
    assert_eq!(lines.len(), THREADS * PER_THREAD);
    let mut next: HashMap<u64, u64> = HashMap::new();
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["event_type"], "custom");
        assert!(humantime::parse_rfc3339(v["timestamp"].as_str().unwrap()).is_ok());
        let thread = v["thread"].as_u64().unwrap();
        let seq = v["seq"].as_u64().unwrap();
        let expected = next.entry(thread).or_insert(0);
        assert_eq!(seq, *expected, "thread {thread} out of order");
        *expected += 1;
    }
    assert!(next.values().all(|&n| n == PER_THREAD as u64));
}

#[test]
fn drop_policy_counts_every_record_it_loses() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .no_server()
        .sink(FileSinkConfig {
            path: dir.path().join("lossy.jsonl"),
            queue_capacity: 8,
            overflow: OverflowPolicy::Drop,
            ..Default::default()
        })
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    const N: u64 = 50_000;
    tracing::dispatcher::with_default(&dispatch, || {
        for seq in 0..N {
            tracing::info!(seq, "burst");
        }
    });
    let report = telemetry.shutdown(Duration::from_secs(30));
    let file = report.sink("file").unwrap();
    assert!(file.completed);
    assert_eq!(file.health.accepted + file.health.dropped(), N, "{report}");
    assert_eq!(file.health.delivered, file.health.accepted);
    let written = std::fs::read_to_string(dir.path().join("lossy.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(written, file.health.delivered);
}

#[test]
fn time_rotation_option_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .no_server()
        .sink(FileSinkConfig {
            path: dir.path().join("timed.jsonl"),
            rotate_every: Some("1s".into()),
            max_files: Some(2),
            ..Default::default()
        })
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for round in 0..4 {
            tracing::info!(round, "tick");
            assert!(telemetry.flush(Duration::from_secs(5)));
            std::thread::sleep(Duration::from_millis(1100));
        }
        tracing::info!(round = 4, "tick");
    });
    telemetry.shutdown(Duration::from_secs(10));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    // Four boundaries crossed, retention keeps two rotated files plus the active one.
    assert_eq!(names.len(), 3, "{names:?}");
}
