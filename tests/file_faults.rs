//! The file under the file sink changes while it writes: deleted, its
//! directory removed, moved away by an external rotation tool (logrotate
//! `create` and `copytruncate`), its directory made read-only, the disk full.
//! In every case the sink counts what it could not write as failed (never
//! delivered), recreates directory and file where it may, and resumes by
//! itself once the fault clears; and the shutdown report accounts for every
//! record exactly: created = delivered + dropped + failed + undelivered.

#[path = "support/file_lines.rs"]
mod file_lines;
#[path = "support/fs_faults.rs"]
mod fs_faults;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aureus_observability::config::FileSinkConfig;
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::{Config, SinkHealth, SinkReport, Telemetry};

/// A running stack with one file sink, and the count of events emitted.
struct Stack {
    dispatch: tracing::Dispatch,
    telemetry: Telemetry,
    emitted: AtomicU64,
}

impl Stack {
    fn new(active: &Path, tune: impl FnOnce(FileSinkConfig) -> FileSinkConfig) -> Self {
        let sink = tune(FileSinkConfig {
            path: active.to_path_buf(),
            queue_capacity: 4096,
            overflow: OverflowPolicy::Block,
            ..Default::default()
        });
        let config = Config::builder().no_server().sink(sink).build().unwrap();
        let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
        Stack {
            dispatch,
            telemetry,
            emitted: AtomicU64::new(0),
        }
    }

    /// Emits events numbered `seqs` (thread 0) and waits until the sink handled them.
    fn emit(&self, seqs: std::ops::Range<u64>) {
        tracing::dispatcher::with_default(&self.dispatch, || {
            for seq in seqs {
                tracing::info!(target: "aureus", event_type = "custom", thread = 0_u64, seq, note = "fault");
                self.emitted.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert!(self.telemetry.flush(Duration::from_secs(30)), "flush timed out");
    }

    fn health(&self) -> SinkHealth {
        self.telemetry.sinks().health("file").unwrap()
    }

    /// Shuts down and checks the exact accounting: created = delivered +
    /// dropped + failed + undelivered.
    fn finish(self) -> SinkReport {
        let emitted = self.emitted.load(Ordering::Relaxed);
        let report = self.telemetry.shutdown(Duration::from_secs(30));
        let file = report.sink("file").unwrap().clone();
        let h = &file.health;
        assert!(file.completed, "{file:?}");
        assert_eq!(
            emitted,
            h.delivered + h.dropped() + h.failed + file.undelivered,
            "created = delivered + dropped + failed + undelivered: {file:?}"
        );
        file
    }
}

/// Seqs (thread 0) in `path`; every line must be a whole JSON line.
fn seqs_in(path: &Path) -> Vec<u64> {
    file_lines::read_text(path)
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: torn line ({e}): {line:?}", path.display()));
            v["seq"].as_u64().unwrap()
        })
        .collect()
}

fn range(r: std::ops::Range<u64>) -> Vec<u64> {
    r.collect()
}

/// `rm -rf dir`, retried while the sink recreates entries in it meanwhile
/// (as `rm -rf` would report "Directory not empty").
fn remove_dir_all(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => continue,
            Err(e) => panic!("rm -rf {}: {e}", dir.display()),
        }
    }
    panic!("rm -rf {} kept racing with the writer", dir.display());
}

#[test]
fn active_file_deleted_is_recreated_and_nothing_is_counted_delivered_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let active = dir.path().join("aureus.jsonl");
    let stack = Stack::new(&active, |c| c);
    stack.emit(0..100);
    std::fs::remove_file(&active).unwrap();
    stack.emit(100..200);
    assert_eq!(
        seqs_in(&active),
        range(100..200),
        "every record after the deletion is in the new file"
    );
    let report = stack.finish();
    assert_eq!((report.health.delivered, report.health.failed), (200, 0));
    assert!(report.health.file.unwrap().reopens >= 1);
}

/// The case: no rotation, the directory removed (`rm -rf`) while
/// events flow. The sink recreates it at once and keeps writing.
#[test]
fn directory_removed_while_events_flow_is_recreated_without_rotation() {
    let root = tempfile::tempdir().unwrap();
    let active = root.path().join("logs/aureus.jsonl");
    check_directory_removed(&active, |c| c);
}

/// Same with rotation and compression on: the sink recovers by itself
/// (nobody else recreates the directory).
#[test]
fn directory_removed_while_events_flow_is_recreated_with_rotation() {
    let root = tempfile::tempdir().unwrap();
    let active = root.path().join("logs/aureus.jsonl");
    check_directory_removed(&active, |c| FileSinkConfig {
        max_bytes: Some("16KiB".into()),
        // Retention on, but never reached here: every record written after
        // the removal must be found.
        max_files: Some(100_000),
        compress: true,
        ..c
    });
}

fn check_directory_removed(active: &Path, tune: impl FnOnce(FileSinkConfig) -> FileSinkConfig) {
    let dir = active.parent().unwrap().to_path_buf();
    let stack = Stack::new(active, tune);
    // Quiet phase first: exact expectations.
    stack.emit(0..100);
    std::fs::remove_dir_all(&dir).unwrap();
    stack.emit(100..200);
    assert!(active.exists(), "directory and file recreated");
    let quiet: Vec<u64> = file_lines::retained_lines(active)
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(quiet, range(100..200), "everything after the removal was written");
    assert_eq!(stack.health().failed, 0);

    // Then remove it again while a thread writes as fast as it can.
    let stop = AtomicBool::new(false);
    let next = AtomicU64::new(200);
    let mut removed_at = 0;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tracing::dispatcher::with_default(&stack.dispatch, || {
                let deadline = Instant::now() + Duration::from_secs(5);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(target: "aureus", event_type = "custom", thread = 0_u64, seq, note = "fault");
                    stack.emitted.fetch_add(1, Ordering::Relaxed);
                }
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        remove_dir_all(&dir);
        removed_at = next.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    let last = next.load(Ordering::Relaxed) - 1;
    assert!(stack.telemetry.flush(Duration::from_secs(30)));
    let end = last + 1;
    stack.emit(end..end + 100);
    // Read after shutdown: compression has finished by then.
    let report = stack.finish();
    assert!(report.health.file.unwrap().reopens >= 2, "{report:?}");
    assert_eq!(report.health.dropped(), 0);
    // `rm -rf` is not atomic: while it runs, the sink recreates and rotates
    // files, and rm may miss a renamed file yet unlink a newer one by name.
    // Everything emitted after it returned must be there, in order.
    let kept = file_lines::sequence(&file_lines::retained_lines(active));
    let after: Vec<u64> = kept
        .iter()
        .map(|&(_, seq)| seq)
        .filter(|&seq| seq >= removed_at)
        .collect();
    assert!(
        after == range(removed_at..end + 100),
        "records emitted after rm -rf returned ({removed_at}..{}) must all be in the new files; kept: {}",
        end + 100,
        file_lines::describe(active)
    );
    // Whatever was written after the removal is in the new files; whatever
    // was not is failed, never delivered.
    assert!(report.health.delivered >= kept.len() as u64);
}

/// logrotate's `create`: the file is renamed away and a new empty one created
/// at the path. What was written before the switch is in the moved file, the
/// rest in the new one: every record exactly once, in order.
#[test]
fn external_rotation_create_style_switches_to_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let active = dir.path().join("aureus.jsonl");
    let moved = dir.path().join("aureus.jsonl.1");
    let stack = Stack::new(&active, |c| c);
    stack.emit(0..100);
    std::fs::rename(&active, &moved).unwrap();
    std::fs::File::create(&active).unwrap();
    stack.emit(100..200);
    // The identity check runs at a bounded interval (250 ms).
    std::thread::sleep(Duration::from_millis(400));
    stack.emit(200..300);
    let (old, new) = (seqs_in(&moved), seqs_in(&active));
    assert!(
        !new.is_empty() && new.last() == Some(&299),
        "writer switched to the new file: {new:?}"
    );
    assert_eq!(
        [old, new].concat(),
        range(0..300),
        "every record exactly once, in order"
    );
    let report = stack.finish();
    assert_eq!((report.health.delivered, report.health.failed), (300, 0));
    assert!(report.health.file.unwrap().reopens >= 1);
}

/// logrotate's `copytruncate`: the file is copied, then truncated in place.
/// The writer goes on at the new end (no sparse hole of NUL bytes).
#[test]
fn external_rotation_copytruncate_style_continues_at_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let active = dir.path().join("aureus.jsonl");
    let copy = dir.path().join("aureus.jsonl.1");
    let stack = Stack::new(&active, |c| FileSinkConfig {
        max_bytes: Some("1MiB".into()),
        ..c
    });
    stack.emit(0..1000);
    std::fs::copy(&active, &copy).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap()
        .set_len(0)
        .unwrap();
    stack.emit(1000..1100);
    let bytes = std::fs::read(&active).unwrap();
    assert!(!bytes.contains(&0), "sparse hole: the writer kept its old offset");
    assert_eq!(seqs_in(&copy), range(0..1000));
    assert_eq!(seqs_in(&active), range(1000..1100));
    // The size used for rotation follows the truncation: no early rotation.
    stack.emit(1100..1200);
    assert!(file_lines::rotated_files(&active).is_empty(), "rotated early");
    let report = stack.finish();
    assert_eq!((report.health.delivered, report.health.failed), (1200, 0));
}

/// The file deleted and its directory made read-only: nothing can be
/// written, every record fails; once writable again the sink recreates the
/// file by itself.
#[test]
fn read_only_directory_fails_records_then_recovers() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let active = dir.join("aureus.jsonl");
    let stack = Stack::new(&active, |c| FileSinkConfig {
        max_bytes: Some("8KiB".into()),
        ..c
    });
    stack.emit(0..100);
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let read_only = fs_faults::ReadOnly::apply(&dir);
    stack.emit(100..300);
    let during = stack.health();
    assert_eq!(
        during.failed, 200,
        "every record written while read-only failed: {during:?}"
    );
    assert_eq!(during.delivered, 100);
    assert!(during.last_error.is_some());
    assert!(!during.circuit_open, "the file sink is not shed by a circuit breaker");
    read_only.clear();
    stack.emit(300..400);
    let kept: Vec<u64> = file_lines::retained_lines(&active)
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, range(300..400), "resumed by itself");
    let report = stack.finish();
    assert_eq!((report.health.delivered, report.health.failed), (200, 200));
}

/// A directory made read-only while the file is still there: writing goes on
/// into the open file; rotation fails (counted), so the active file keeps
/// growing instead of losing records, and rotation resumes once writable.
#[test]
fn read_only_directory_blocks_rotation_without_losing_records() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let active = dir.join("aureus.jsonl");
    let stack = Stack::new(&active, |c| FileSinkConfig {
        max_bytes: Some("8KiB".into()),
        ..c
    });
    stack.emit(0..10);
    let read_only = fs_faults::ReadOnly::apply(&dir);
    stack.emit(10..300);
    let during = stack.health();
    assert_eq!((during.delivered, during.failed), (300, 0), "{during:?}");
    assert!(during.file.unwrap().rotation_errors >= 1, "{during:?}");
    read_only.clear();
    // Rotation is retried a second after a failure.
    std::thread::sleep(Duration::from_millis(1100));
    stack.emit(300..400);
    let kept: Vec<u64> = file_lines::retained_lines(&active)
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, range(0..400));
    assert!(!file_lines::rotated_files(&active).is_empty(), "rotation resumed");
    stack.finish();
}

/// Disk full (a small tmpfs filled up): records that do not fit fail, none
/// is counted delivered without being in the file, no torn line is left, and
/// the sink resumes once space is freed.
#[test]
fn disk_full_fails_records_exactly_then_recovers() {
    let fs = fs_faults::Tmpfs::mount("1m").unwrap_or_else(|e| panic!("needs root for `mount -t tmpfs`: {e}"));
    let active = fs.path().join("logs/aureus.jsonl");
    let stack = Stack::new(&active, |c| c);
    stack.emit(0..100);
    let ballast = fs_faults::fill_up(fs.path());
    stack.emit(100..2100);
    let during = stack.health();
    assert!(during.failed > 0, "{during:?}");
    assert_eq!(during.delivered + during.failed, 2100);
    let written = seqs_in(&active);
    assert_eq!(
        written.len() as u64,
        during.delivered,
        "delivered = lines in the file, exactly"
    );
    assert_eq!(
        written,
        range(0..during.delivered),
        "no gap, no duplicate, no torn line"
    );
    std::fs::remove_file(&ballast).unwrap();
    stack.emit(2100..2200);
    let after = seqs_in(&active);
    assert_eq!(&after[after.len() - 100..], &range(2100..2200)[..], "resumed by itself");
    let report = stack.finish();
    assert_eq!(report.health.delivered, after.len() as u64);
    assert_eq!(report.health.failed, 2200 - after.len() as u64);
}
