//! A size- and time-rotated, optionally gzip-compressed, retention-managed append-only file.
//!
//! The active file is `dir/<stem>.<ext>`. On rotation it is renamed to
//! `dir/<stem>.<YYYYMMDDTHHMMSS.ffffffZ>-<NNNNNN>.<ext>` (UTC timestamp, sequence number that keeps
//! growing across restarts), so rotated names sort oldest → newest. With compression enabled a
//! background thread gzips each rotated file to `….<ext>.gz` (via a `.gz.tmp` name, renamed when
//! complete) and removes the uncompressed one. Retention runs after every rotation and every
//! finished compression and never touches a file that is still being compressed.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;

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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionPolicy {
    /// Keep at most this many rotated files (the newest are kept).
    pub max_files: Option<usize>,
    /// Delete the oldest rotated files until the rotated files' total on-disk size is at most this.
    pub max_total_bytes: Option<u64>,
}

/// The clock used for interval rotation and rotated-file timestamps.
pub(crate) type Clock = Box<dyn Fn() -> SystemTime + Send + Sync>;

/// An append-only file that rotates, compresses and prunes its rotated predecessors.
pub struct RotatingFile {
    /// State shared with the compression worker.
    shared: Arc<Shared>,
    /// The active file's path.
    path: PathBuf,
    /// When to rotate.
    rotation: RotationPolicy,
    /// Whether rotated files are gzip-compressed.
    compress: bool,
    /// Buffered writer on the active file (`None` after a failed reopen; retried on next write).
    writer: Option<BufWriter<File>>,
    /// Bytes in the active file, including bytes still buffered.
    size: u64,
    /// Interval period (multiples of `rotation.interval` since the epoch) the active file belongs to.
    period: u128,
    /// Sequence number of the next rotated file.
    next_seq: u64,
    /// Rotations performed by this writer.
    rotations: u64,
    /// Background compression worker, started on demand.
    worker: Option<Worker>,
    /// Wall clock (injectable for tests).
    now: Clock,
}

/// Naming, retention and bookkeeping shared between the writer and the compression worker.
struct Shared {
    /// Directory holding the active and rotated files.
    dir: PathBuf,
    /// File stem of the active file (`aureus` for `aureus.jsonl`).
    stem: String,
    /// Extension of the active file including the dot (`.jsonl`), or empty.
    ext: String,
    /// Which rotated files are kept.
    retention: RetentionPolicy,
    /// Rotated files queued for or under compression. Held while listing or mutating rotated files.
    pending: Mutex<HashSet<PathBuf>>,
    /// First error of background work (compression, retention after a rotation), reported by `close()`.
    error: Mutex<Option<io::Error>>,
}

/// The compression thread and the channel feeding it.
struct Worker {
    /// Queue of uncompressed rotated files.
    tx: Sender<PathBuf>,
    /// The thread, joined by `close()`.
    handle: JoinHandle<()>,
}

/// A rotated file found on disk.
struct Rotated {
    /// Its sequence number.
    seq: u64,
    /// Its path.
    path: PathBuf,
    /// Whether it is the `.gz` form.
    compressed: bool,
}

/// Adds the operation and path to an I/O error's message, keeping its kind.
fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Locks a mutex, ignoring poisoning (the guarded data stays consistent on panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
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

impl Shared {
    /// Sequence number if `name` is `<stem>.<timestamp>-<seq><ext>` followed by `tail`.
    fn parse(&self, name: &str, tail: &str) -> Option<u64> {
        let rest = name.strip_prefix(&self.stem)?.strip_prefix('.')?;
        let rest = rest.strip_suffix(tail)?.strip_suffix(&self.ext)?;
        let (ts, seq) = rest.split_once('-')?;
        let ts_ok = ts.len() == 23
            && ts.bytes().enumerate().all(|(i, b)| match i {
                8 => b == b'T',
                15 => b == b'.',
                22 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        let seq_ok = seq.len() >= 6 && seq.bytes().all(|b| b.is_ascii_digit());
        if ts_ok && seq_ok {
            seq.parse().ok()
        } else {
            None
        }
    }

    /// Rotated files (plain and `.gz`), oldest first. Callers hold `pending`.
    fn list(&self) -> io::Result<Vec<Rotated>> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|e| ctx(e, "reading", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(|e| ctx(e, "reading", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let (plain, gz) = (self.parse(name, ""), self.parse(name, ".gz"));
            if let Some(seq) = plain.or(gz) {
                let compressed = plain.is_none();
                out.push(Rotated {
                    seq,
                    path: entry.path(),
                    compressed,
                });
            }
        }
        out.sort_by(|a, b| (a.seq, &a.path).cmp(&(b.seq, &b.path)));
        Ok(out)
    }

    /// Deletes the oldest rotated files (skipping ones under compression) until within limits.
    fn apply_retention(&self) -> io::Result<()> {
        let RetentionPolicy {
            max_files,
            max_total_bytes,
        } = self.retention;
        if max_files.is_none() && max_total_bytes.is_none() {
            return Ok(());
        }
        let pending = lock(&self.pending);
        let files = self.list()?;
        let sizes: Vec<u64> = files
            .iter()
            .map(|f| fs::metadata(&f.path).map_or(0, |m| m.len()))
            .collect();
        let mut count = files.len();
        let mut total: u64 = sizes.iter().sum();
        for (f, size) in files.iter().zip(sizes) {
            let over = max_files.is_some_and(|m| count > m) || max_total_bytes.is_some_and(|m| total > m);
            if !over {
                break;
            }
            if pending.contains(&f.path) {
                continue;
            }
            match fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ctx(e, "removing", &f.path)),
            }
            count -= 1;
            total -= size;
        }
        Ok(())
    }

    /// Gzips `src` to `src.gz` via `src.gz.tmp`, removes `src`, then applies retention.
    fn compress(&self, src: &Path) -> io::Result<()> {
        let tmp = with_suffix(src, ".gz.tmp");
        let result = (|| {
            let mut input = File::open(src).map_err(|e| ctx(e, "opening", src))?;
            let out = File::create(&tmp).map_err(|e| ctx(e, "creating", &tmp))?;
            let mut enc = GzEncoder::new(BufWriter::new(out), Compression::default());
            io::copy(&mut input, &mut enc).map_err(|e| ctx(e, "compressing", src))?;
            let out = enc
                .finish()
                .and_then(|w| w.into_inner().map_err(io::IntoInnerError::into_error));
            out.and_then(|f| f.sync_all()).map_err(|e| ctx(e, "writing", &tmp))
        })();
        let mut pending = lock(&self.pending);
        let result = result.and_then(|()| {
            let gz = with_suffix(src, ".gz");
            fs::rename(&tmp, &gz).map_err(|e| ctx(e, "renaming", &tmp))?;
            fs::remove_file(src).map_err(|e| ctx(e, "removing", src))
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        pending.remove(src);
        drop(pending);
        result.and_then(|()| self.apply_retention())
    }

    /// Records the first background error for `close()` to report.
    fn record(&self, result: io::Result<()>) {
        if let Err(e) = result {
            lock(&self.error).get_or_insert(e);
        }
    }
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
        let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(invalid)?;
        let ext = match path.extension() {
            Some(e) => format!(".{}", e.to_str().ok_or_else(invalid)?),
            None => String::new(),
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(|e| ctx(e, "creating directory", &dir))?;
        let shared = Arc::new(Shared {
            dir,
            stem: stem.to_owned(),
            ext,
            retention,
            pending: Mutex::new(HashSet::new()),
            error: Mutex::new(None),
        });
        let existing = shared.list()?;
        let mut file = Self {
            next_seq: existing.iter().map(|r| r.seq.saturating_add(1)).max().unwrap_or(1),
            shared,
            path,
            rotation,
            compress,
            writer: None,
            size: 0,
            period: 0,
            rotations: 0,
            worker: None,
            now,
        };
        file.recover(existing)?;
        let writer = file.writer()?;
        let meta = writer.get_ref().metadata();
        let meta = meta.map_err(|e| ctx(e, "reading metadata of", &file.path))?;
        file.size = meta.len();
        // A non-empty file belongs to the period it was last written in, so that a restart in a
        // later period rotates the old content out on the first write.
        let born = match meta.modified() {
            Ok(t) if meta.len() > 0 => t,
            _ => (file.now)(),
        };
        file.period = file.rotation.interval.map_or(0, |iv| period_of(born, iv));
        file.shared.apply_retention()?;
        Ok(file)
    }

    /// Cleans up after a crash: removes stale `.gz.tmp` files, drops plain files whose `.gz`
    /// is complete, and (with compression on) queues the remaining plain rotated files.
    fn recover(&mut self, existing: Vec<Rotated>) -> io::Result<()> {
        for r in existing {
            let tmp = with_suffix(&r.path, ".gz.tmp");
            if tmp.exists() {
                fs::remove_file(&tmp).map_err(|e| ctx(e, "removing", &tmp))?;
            }
            if r.compressed || !r.path.exists() {
                continue;
            }
            if with_suffix(&r.path, ".gz").exists() {
                fs::remove_file(&r.path).map_err(|e| ctx(e, "removing", &r.path))?;
            } else if self.compress {
                self.queue_compression(r.path);
            }
        }
        Ok(())
    }

    /// The buffered writer on the active file, (re)opening it if needed.
    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        let writer = match self.writer.take() {
            Some(w) => w,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| ctx(e, "opening", &self.path))?;
                self.size = file.metadata().map_or(self.size, |m| m.len());
                BufWriter::new(file)
            }
        };
        Ok(self.writer.insert(writer))
    }

    /// Writes `buf` (the caller passes whole lines / batches of whole lines), rotating first if needed.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let period = self.rotation.interval.map_or(0, |iv| period_of((self.now)(), iv));
        let too_big = self
            .rotation
            .max_bytes
            .is_some_and(|max| self.size.saturating_add(buf.len() as u64) > max);
        if self.size > 0 && (period != self.period || too_big) {
            self.rotate()?;
        }
        self.period = period;
        let written = self.writer()?.write_all(buf);
        written.map_err(|e| ctx(e, "writing", &self.path))?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Renames the active file to the next rotated name, reopens it and hands the old one on.
    fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
        self.writer = None;
        let name = format!(
            "{}.{}-{:06}{}",
            self.shared.stem,
            timestamp((self.now)()),
            self.next_seq,
            self.shared.ext
        );
        let rotated = self.shared.dir.join(name);
        match fs::rename(&self.path, &rotated) {
            Ok(()) => {}
            // The active file was removed behind our back: just start a fresh one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.writer().map(drop),
            Err(e) => return Err(ctx(e, "rotating", &self.path)),
        }
        self.next_seq += 1;
        self.rotations += 1;
        self.size = 0;
        if self.compress {
            self.queue_compression(rotated);
        }
        self.writer()?;
        // The rotation itself succeeded: a retention failure must not fail the caller's write.
        self.shared.record(self.shared.apply_retention());
        Ok(())
    }

    /// Hands `path` to the compression worker (starting it if needed).
    fn queue_compression(&mut self, path: PathBuf) {
        lock(&self.shared.pending).insert(path.clone());
        let worker = match self.worker.take() {
            Some(w) => w,
            None => {
                let (tx, rx) = mpsc::channel::<PathBuf>();
                let shared = Arc::clone(&self.shared);
                let spawned = thread::Builder::new().name("aureus-log-gzip".into()).spawn(move || {
                    for p in rx {
                        shared.record(shared.compress(&p));
                    }
                });
                match spawned {
                    Ok(handle) => Worker { tx, handle },
                    // No thread: compress inline rather than lose the file's compression.
                    Err(_) => return self.shared.record(self.shared.compress(&path)),
                }
            }
        };
        if let Err(mpsc::SendError(path)) = worker.tx.send(path) {
            self.shared.record(self.shared.compress(&path));
        }
        self.worker = Some(worker);
    }

    /// Flushes buffered bytes to the OS (writes go through an internal `BufWriter`).
    pub fn flush(&mut self) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.flush().map_err(|e| ctx(e, "flushing", &self.path)),
            None => Ok(()),
        }
    }

    /// Flushes, and waits for every pending background compression to finish, then applies retention.
    ///
    /// Returns the first error of any background compression since the last `close()`. The file
    /// stays usable afterwards.
    pub fn close(&mut self) -> io::Result<()> {
        let flushed = self.flush();
        if let Some(Worker { tx, handle }) = self.worker.take() {
            drop(tx);
            if handle.join().is_err() {
                self.shared
                    .record(Err(io::Error::other("log compression thread panicked")));
            }
        }
        let retained = self.shared.apply_retention();
        let background = lock(&self.shared.error).take();
        flushed?;
        background.map_or(retained, Err)
    }

    /// Rotated files currently on disk (compressed or not), oldest first.
    pub fn rotated_files(&self) -> io::Result<Vec<PathBuf>> {
        let _guard = lock(&self.shared.pending);
        Ok(self.shared.list()?.into_iter().map(|r| r.path).collect())
    }

    /// The active file's path.
    pub fn active_path(&self) -> &Path {
        &self.path
    }

    /// Number of rotations performed by this writer.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }
}

impl fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path)
            .field("rotation", &self.rotation)
            .field("retention", &self.shared.retention)
            .field("compress", &self.compress)
            .field("size", &self.size)
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
        f.flush().unwrap();
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
        f.flush().unwrap();
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
        f.flush().unwrap();
        fs::remove_file(&path).unwrap();
        f.write_all(line(1).as_bytes()).unwrap();
        f.flush().unwrap();
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
