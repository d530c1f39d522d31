//! A size- and time-rotated, optionally gzip-compressed, retention-managed append-only file.
//!
//! The active file is `dir/<stem>.<ext>` ([`ActiveFile`]). On rotation it is renamed to
//! `dir/<stem>.<YYYYMMDDTHHMMSS.ffffffZ>-<NNNNNN>.<ext>` (UTC timestamp, sequence number that keeps
//! growing across restarts), so rotated names sort oldest → newest. With compression enabled a
//! background thread gzips each rotated file to `….<ext>.gz` (via a `.gz.tmp` name, renamed when
//! complete) and removes the uncompressed one. Retention ([`Archive`]) runs after every rotation
//! and every finished compression and only ever deletes the oldest rotated files.
//!
//! A rotation that fails (e.g. the directory became read-only) does not lose records: the active
//! file keeps growing, the failure is counted, and rotation is tried again a second later.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::active::ActiveFile;
use super::archive::{ctx, with_suffix, Archive, Compressor, Rotated};
use super::stats::FileStats;

/// How long the writer waits before trying a failed rotation again.
const ROTATION_RETRY: Duration = Duration::from_secs(1);

/// When the active file is rotated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotationPolicy {
    /// Rotate before a write would make the active file exceed this many bytes
    /// (a single write larger than the limit goes into an empty file on its own; a write is never split).
    pub max_bytes: Option<u64>,
    /// Rotate when the wall clock crosses a multiple of this interval since the UNIX epoch
    /// (e.g. 1 h rotates at every full hour UTC). Checked on each write. A zero interval is ignored.
    pub interval: Option<Duration>,
}

/// Which rotated files are kept (the active file is never deleted and does not count).
///
/// Retention only ever deletes the oldest rotated files (by sequence number), also while
/// compression is still running: files waiting for compression count at their uncompressed size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionPolicy {
    /// Keep at most this many rotated files (the newest are kept).
    pub max_files: Option<usize>,
    /// Delete the oldest rotated files until the rotated files' total on-disk size is at most this.
    pub max_total_bytes: Option<u64>,
}

/// The clock used for interval rotation and rotated-file timestamps.
pub(crate) type Clock = Box<dyn Fn() -> SystemTime + Send + Sync>;

/// Why [`RotatingFile::append`] stopped, and how far it got.
#[derive(Debug)]
pub(crate) struct AppendFault {
    /// Records (from the start of the batch) whose bytes all reached the file.
    pub(crate) records: usize,
    /// Why the next one did not.
    pub(crate) error: io::Error,
}

/// An append-only file that rotates, compresses and prunes its rotated predecessors.
pub struct RotatingFile {
    /// The rotated files: naming, retention, bookkeeping shared with the compression thread.
    archive: Arc<Archive>,
    /// The active file.
    active: ActiveFile,
    /// When to rotate.
    rotation: RotationPolicy,
    /// Whether rotated files are gzip-compressed.
    compress: bool,
    /// Interval period (multiples of `rotation.interval` since the epoch) the active file belongs to.
    period: u128,
    /// Sequence number of the next rotated file.
    next_seq: u64,
    /// Rotations performed by this writer.
    rotations: u64,
    /// After a failed rotation: no new attempt before this instant.
    rotation_blocked_until: Option<Instant>,
    /// Background compression thread, started on demand.
    compressor: Compressor,
    /// Wall clock (injectable for tests).
    now: Clock,
}

/// UTC timestamp `YYYYMMDDTHHMMSS.ffffffZ`, clamped to 1970..=9999.
fn timestamp(t: SystemTime) -> String {
    let max = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let t = t.clamp(UNIX_EPOCH, max);
    humantime::format_rfc3339_micros(t).to_string().replace(['-', ':'], "")
}

/// Index of the interval period containing `t` (0 before the epoch).
fn period_of(t: SystemTime, interval: Duration) -> u128 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    since.as_nanos() / interval.as_nanos().max(1)
}

impl RotatingFile {
    /// Opens (creating parent directories) `path`, appending if it exists. Applies retention to
    /// already-present rotated files. Errors are `io::Error`s with the path in the message.
    pub fn open(
        path: PathBuf,
        rotation: RotationPolicy,
        retention: RetentionPolicy,
        compress: bool,
    ) -> io::Result<Self> {
        Self::open_with_clock(path, rotation, retention, compress, Box::new(SystemTime::now))
    }

    /// Like [`RotatingFile::open`], with the wall clock supplied by `now` (used by tests).
    ///
    /// Also removes stale `.gz.tmp` files left by a crash and, with `compress`, queues rotated
    /// files that were left uncompressed.
    pub(crate) fn open_with_clock(
        path: PathBuf,
        rotation: RotationPolicy,
        retention: RetentionPolicy,
        compress: bool,
        now: Clock,
    ) -> io::Result<Self> {
        let interval = rotation.interval.filter(|iv| !iv.is_zero());
        let rotation = RotationPolicy { interval, ..rotation };
        let invalid = || ctx(io::ErrorKind::InvalidInput.into(), "invalid log file path", &path);
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(invalid)?
            .to_owned();
        let ext = match path.extension() {
            Some(e) => format!(".{}", e.to_str().ok_or_else(invalid)?),
            None => String::new(),
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stats = Arc::new(FileStats::default());
        let active = ActiveFile::open(path, dir.clone(), Arc::clone(&stats))?;
        let archive = Arc::new(Archive::new(dir, stem, ext, retention, stats));
        let existing = archive.list()?;
        let mut file = Self {
            next_seq: existing.iter().map(|r| r.seq.saturating_add(1)).max().unwrap_or(1),
            archive,
            active,
            rotation,
            compress,
            period: 0,
            rotations: 0,
            rotation_blocked_until: None,
            compressor: Compressor::default(),
            now,
        };
        file.recover(existing)?;
        // A non-empty file belongs to the period it was last written in, so that a restart in a
        // later period rotates the old content out on the first write.
        let born = file.active.modified().unwrap_or_else(|| (file.now)());
        file.period = file.rotation.interval.map_or(0, |iv| period_of(born, iv));
        file.archive.apply_retention()?;
        Ok(file)
    }

    /// The counters this file reports into (retention, reopens, errors).
    pub(crate) fn stats(&self) -> Arc<FileStats> {
        Arc::clone(&self.archive.stats)
    }

    /// Cleans up after a crash: removes stale `.gz.tmp` files, drops plain files whose `.gz`
    /// is complete, and (with compression on) queues the remaining plain rotated files.
    fn recover(&mut self, existing: Vec<Rotated>) -> io::Result<()> {
        for r in existing {
            let tmp = with_suffix(&r.path, ".gz.tmp");
            if tmp.exists() {
                std::fs::remove_file(&tmp).map_err(|e| ctx(e, "removing", &tmp))?;
            }
            if r.compressed || !r.path.exists() {
                continue;
            }
            if with_suffix(&r.path, ".gz").exists() {
                std::fs::remove_file(&r.path).map_err(|e| ctx(e, "removing", &r.path))?;
            } else if self.compress {
                self.archive.mark_pending(&r.path);
                self.compressor.queue(&self.archive, r.path);
            }
        }
        Ok(())
    }

    /// Appends a batch of whole lines: `buf` holds them back to back, `ends[i]` is where line `i`
    /// ends. Rotates between lines as the policy says (a line is never split across files).
    ///
    /// On failure, reports how many lines (from the first) fully reached a file; a partly written
    /// line is cut off again.
    pub(crate) fn append(&mut self, buf: &[u8], ends: &[usize]) -> Result<(), AppendFault> {
        let period = self.rotation.interval.map_or(0, |iv| period_of((self.now)(), iv));
        let (mut first, mut start) = (0, 0);
        while first < ends.len() {
            let len = (ends[first] - start) as u64;
            let too_big = self
                .rotation
                .max_bytes
                .is_some_and(|max| self.active.size().saturating_add(len) > max);
            let due = self.active.size() > 0 && (period != self.period || too_big);
            if !due || self.try_rotate() {
                self.period = period;
            }
            // The longest run of lines that fits the active file (at least one).
            let limit = match self.rotation_blocked_until {
                Some(_) => None,
                None => self.rotation.max_bytes,
            };
            let room = limit.map_or(u64::MAX, |max| max.saturating_sub(self.active.size()));
            let mut last = first + 1;
            while last < ends.len() && ((ends[last] - start) as u64) <= room {
                last += 1;
            }
            let end = ends[last - 1];
            if let Err(fault) = self.active.write(&buf[start..end]) {
                let done = ends[first..last]
                    .iter()
                    .take_while(|&&e| e - start <= fault.written)
                    .count();
                let complete = done.checked_sub(1).map_or(0, |i| ends[first + i] - start);
                self.active.cut_torn_tail(fault.written.saturating_sub(complete) as u64);
                return Err(AppendFault {
                    records: first + done,
                    error: fault.error,
                });
            }
            (first, start) = (last, end);
        }
        Ok(())
    }

    /// Writes one whole line (or several), rotating first if needed.
    #[cfg(test)]
    pub(crate) fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.append(buf, &[buf.len()]).map_err(|f| f.error)
    }

    /// Rotates unless a failed rotation asked to wait; whether the active file is fresh now.
    /// A failure is counted and noted; the active file then keeps growing.
    fn try_rotate(&mut self) -> bool {
        if self.rotation_blocked_until.is_some_and(|until| Instant::now() < until) {
            return false;
        }
        match self.rotate() {
            Ok(()) => {
                self.rotation_blocked_until = None;
                true
            }
            Err(e) => {
                self.archive.stats.rotation_errors.fetch_add(1, Ordering::Relaxed);
                self.archive.stats.note_error(e.to_string());
                self.rotation_blocked_until = Some(Instant::now() + ROTATION_RETRY);
                false
            }
        }
    }

    /// Renames the active file to the next rotated name, opens a fresh one and hands the old one
    /// on to compression and retention.
    fn rotate(&mut self) -> io::Result<()> {
        let rotated = self.archive.rotated_path(&timestamp((self.now)()), self.next_seq);
        match self.archive.rotate_into(self.active.path(), &rotated, self.compress) {
            Ok(()) => {}
            // The active file was removed behind our back: just start a fresh one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.active.release();
                return Ok(());
            }
            Err(e) => return Err(ctx(e, "rotating", self.active.path())),
        }
        self.next_seq += 1;
        self.rotations += 1;
        self.active.release();
        if self.compress {
            self.compressor.queue(&self.archive, rotated);
        }
        // If this fails, the next write retries (and reports the error for its records).
        let _ = self.active.open_fresh();
        // The rotation itself succeeded: a retention failure must not fail the caller's write.
        self.archive.record(self.archive.apply_retention());
        Ok(())
    }

    /// Waits for every pending background compression to finish, then applies retention.
    ///
    /// Returns the first error of any background work since the last `close()`. The file
    /// stays usable afterwards.
    pub fn close(&mut self) -> io::Result<()> {
        self.compressor.finish(&self.archive);
        let retained = self.archive.apply_retention();
        let background = self.archive.take_error();
        background.map_or(retained, Err)
    }

    /// Rotated files currently on disk (compressed or not), oldest first.
    pub fn rotated_files(&self) -> io::Result<Vec<PathBuf>> {
        Ok(self.archive.list()?.into_iter().map(|r| r.path).collect())
    }

    /// The active file's path.
    pub fn active_path(&self) -> &Path {
        self.active.path()
    }

    /// Number of rotations performed by this writer.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }
}

impl fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.active.path())
            .field("rotation", &self.rotation)
            .field("retention", &self.archive.retention)
            .field("compress", &self.compress)
            .field("size", &self.active.size())
            .field("rotations", &self.rotations)
            .finish_non_exhaustive()
    }
}

impl Drop for RotatingFile {
    /// Best-effort [`RotatingFile::close`].
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::fs;
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A ~100-byte JSON line numbered `i`.
    fn line(i: usize) -> String {
        format!("{{\"i\":{i:06},\"msg\":\"{}\"}}\n", "x".repeat(80))
    }

    /// Contents of `path`, gunzipped if it ends in `.gz`.
    fn read(path: &Path) -> Vec<u8> {
        let raw = fs::read(path).unwrap();
        if path.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
            out
        } else {
            raw
        }
    }

    /// Rotated files (oldest first) followed by the active file, concatenated.
    fn read_all(f: &mut RotatingFile) -> String {
        let mut all = Vec::new();
        for p in f.rotated_files().unwrap() {
            all.extend(read(&p));
        }
        all.extend(read(f.active_path()));
        String::from_utf8(all).unwrap()
    }

    fn size_limit(max: u64) -> RotationPolicy {
        RotationPolicy {
            max_bytes: Some(max),
            interval: None,
        }
    }

    fn check_size_rotation(compress: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aureus.jsonl");
        let mut f = RotatingFile::open(path, size_limit(10_000), RetentionPolicy::default(), compress).unwrap();
        let mut expected = String::new();
        for i in 0..1000 {
            let l = line(i);
            f.write_all(l.as_bytes()).unwrap();
            expected.push_str(&l);
        }
        f.close().unwrap();
        let rotated = f.rotated_files().unwrap();
        assert!(rotated.len() >= 9, "{} rotated files", rotated.len());
        assert_eq!(rotated.len() as u64, f.rotations());
        for p in rotated.iter().chain([&f.active_path().to_path_buf()]) {
            let len = read(p).len();
            assert!(len <= 10_000 && len > 0, "{} has {len} bytes", p.display());
        }
        for p in &rotated {
            assert_eq!(p.extension().is_some_and(|e| e == "gz"), compress, "{p:?}");
        }
        let mut sorted = rotated.clone();
        sorted.sort();
        assert_eq!(sorted, rotated, "names sort oldest first");
        assert_eq!(read_all(&mut f), expected);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), rotated.len() + 1, "no temporary or leftover files");
    }

    #[test]
    fn size_rotation_keeps_every_line_in_order() {
        check_size_rotation(false);
    }

    #[test]
    fn size_rotation_with_compression_keeps_every_line_in_order() {
        check_size_rotation(true);
    }

    #[test]
    fn write_larger_than_limit_goes_alone_into_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aureus.jsonl");
        let mut f = RotatingFile::open(path, size_limit(100), RetentionPolicy::default(), false).unwrap();
        let big = format!("{}\n", "b".repeat(499));
        f.write_all(b"small 1\n").unwrap();
        f.write_all(big.as_bytes()).unwrap();
        f.write_all(b"small 2\n").unwrap();
        f.close().unwrap();
        let rotated = f.rotated_files().unwrap();
        assert_eq!(rotated.len(), 2);
        assert_eq!(read(&rotated[0]), b"small 1\n");
        assert_eq!(read(&rotated[1]), big.as_bytes());
        assert_eq!(read(f.active_path()), b"small 2\n");
    }

    #[test]
    fn retention_by_file_count_keeps_the_newest() {
        for compress in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("aureus.jsonl");
            let keep = RetentionPolicy {
                max_files: Some(3),
                max_total_bytes: None,
            };
            let mut f = RotatingFile::open(path, size_limit(150), keep, compress).unwrap();
            for i in 0..10 {
                f.write_all(line(i).as_bytes()).unwrap();
            }
            f.close().unwrap();
            assert_eq!(f.rotations(), 9);
            assert_eq!(f.rotated_files().unwrap().len(), 3, "compress={compress}");
            assert_eq!(read_all(&mut f), (6..10).map(line).collect::<String>());
        }
    }

    #[test]
    fn retention_by_total_bytes_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aureus.jsonl");
        let len = line(0).len() as u64;
        let keep = RetentionPolicy {
            max_files: None,
            max_total_bytes: Some(3 * len + len / 2),
        };
        let mut f = RotatingFile::open(path, size_limit(150), keep, false).unwrap();
        for i in 0..10 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        f.close().unwrap();
        assert_eq!(f.rotated_files().unwrap().len(), 3);
        assert_eq!(read_all(&mut f), (6..10).map(line).collect::<String>());
    }

    #[test]
    fn interval_rotation_happens_only_when_a_boundary_is_crossed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aureus.jsonl");
        let secs = Arc::new(AtomicU64::new(1_704_103_800)); // 2024-01-01T10:10:00Z
        let clock = Arc::clone(&secs);
        let now = Box::new(move || UNIX_EPOCH + Duration::from_secs(clock.load(Ordering::SeqCst)));
        let hourly = RotationPolicy {
            max_bytes: None,
            interval: Some(Duration::from_secs(3600)),
        };
        let mut f = RotatingFile::open_with_clock(path, hourly, RetentionPolicy::default(), false, now).unwrap();
        f.write_all(b"a\n").unwrap();
        secs.store(1_704_103_800 + 49 * 60 + 59, Ordering::SeqCst); // 10:59:59
        f.write_all(b"b\n").unwrap();
        assert_eq!(f.rotations(), 0, "no boundary crossed");
        secs.store(1_704_106_800, Ordering::SeqCst); // 11:00:00
        f.write_all(b"c\n").unwrap();
        assert_eq!(f.rotations(), 1, "crossed 11:00");
        let rotated = f.rotated_files().unwrap();
        let name = rotated[0].file_name().unwrap();
        assert_eq!(name, "aureus.20240101T110000.000000Z-000001.jsonl");
        assert_eq!(read(&rotated[0]), b"a\nb\n");
        assert_eq!(read(f.active_path()), b"c\n");
        // An hour with no writes then a write: one rotation, no empty files.
        secs.store(1_704_106_800 + 3 * 3600 + 5, Ordering::SeqCst); // 14:00:05
        f.write_all(b"d\n").unwrap();
        assert_eq!(f.rotations(), 2);
        assert_eq!(read_all(&mut f), "a\nb\nc\nd\n");
    }

    #[test]
    fn reopening_appends_and_continues_the_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aureus.jsonl");
        fs::write(dir.path().join("other.txt"), "x").unwrap();
        fs::write(dir.path().join("aureus.old.jsonl"), "x").unwrap();
        let open = || RotatingFile::open(path.clone(), size_limit(150), RetentionPolicy::default(), false).unwrap();
        let mut f = open();
        for i in 0..3 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        drop(f);
        let mut f = open();
        assert_eq!(f.rotated_files().unwrap().len(), 2, "other files are ignored");
        assert_eq!(read(f.active_path()), line(2).as_bytes(), "active file kept");
        for i in 3..5 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        f.close().unwrap();
        let rotated = f.rotated_files().unwrap();
        let seqs: Vec<String> = rotated
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                name[name.len() - 12..name.len() - 6].to_string()
            })
            .collect();
        assert_eq!(seqs, ["000001", "000002", "000003", "000004"]);
        assert_eq!(read_all(&mut f), (0..5).map(line).collect::<String>());
    }

    #[test]
    fn active_file_removed_externally_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aureus.jsonl");
        let mut f = RotatingFile::open(path.clone(), size_limit(150), RetentionPolicy::default(), false).unwrap();
        f.write_all(line(0).as_bytes()).unwrap();
        fs::remove_file(&path).unwrap();
        f.write_all(line(1).as_bytes()).unwrap();
        assert_eq!(f.rotations(), 0);
        assert_eq!(read_all(&mut f), line(1));
    }

    #[test]
    fn path_without_extension_and_missing_parents_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/aureus");
        let mut f = RotatingFile::open(path, size_limit(150), RetentionPolicy::default(), true).unwrap();
        for i in 0..3 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        f.close().unwrap();
        let rotated = f.rotated_files().unwrap();
        assert_eq!(rotated.len(), 2);
        let name = rotated[1].file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("aureus.") && name.ends_with("-000002.gz"), "{name}");
        assert_eq!(read_all(&mut f), (0..3).map(line).collect::<String>());
    }

    #[test]
    fn open_cleans_up_after_a_crash_during_compression() {
        let dir = tempfile::tempdir().unwrap();
        let rotated = dir.path().join("aureus.20240101T110000.000000Z-000007.jsonl");
        fs::write(&rotated, "old\n").unwrap();
        fs::write(with_suffix(&rotated, ".gz.tmp"), "truncated").unwrap();
        let path = dir.path().join("aureus.jsonl");
        let mut f = RotatingFile::open(path, size_limit(150), RetentionPolicy::default(), true).unwrap();
        f.write_all(b"new\n").unwrap();
        f.close().unwrap();
        assert_eq!(f.rotated_files().unwrap(), [with_suffix(&rotated, ".gz")]);
        assert_eq!(read_all(&mut f), "old\nnew\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(f.next_seq, 8);
    }
}
