//! The rotated files beside the active one: their names, listing them oldest
//! first, retention, and background gzip.
//!
//! Rotated files are `dir/<stem>.<YYYYMMDDTHHMMSS.ffffffZ>-<NNNNNN><ext>[.gz]`; the sequence
//! number keeps growing across restarts and defines their order. Every change to the set of
//! rotated files (a rotation's rename, a finished compression's rename, a deletion) happens under
//! one lock, and so does every listing, so retention always sees a consistent set.
//!
//! Retention deletes strictly from the oldest end, whatever the compression thread is doing: a
//! file still waiting for (or under) compression is deleted like any other when it is the oldest,
//! and its compression is cancelled (the compressor then discards its partial output instead of
//! publishing it). No file is ever skipped, so nothing newer than a kept file is ever deleted.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::stats::FileStats;
use super::RetentionPolicy;

/// Adds the operation and path to an I/O error's message, keeping its kind.
pub(super) fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Locks a mutex, ignoring poisoning (the guarded data stays consistent on panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `path` with `suffix` appended to its file name.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A rotated file found on disk.
pub(super) struct Rotated {
    /// Its sequence number.
    pub(super) seq: u64,
    /// Its path.
    pub(super) path: PathBuf,
    /// Whether it is the `.gz` form.
    pub(super) compressed: bool,
}

/// Naming, retention and bookkeeping shared between the writer and the compression thread.
pub(super) struct Archive {
    /// Directory holding the active and rotated files.
    pub(super) dir: PathBuf,
    /// File stem of the active file (`aureus` for `aureus.jsonl`).
    pub(super) stem: String,
    /// Extension of the active file including the dot (`.jsonl`), or empty.
    pub(super) ext: String,
    /// Which rotated files are kept.
    pub(super) retention: RetentionPolicy,
    /// Rotated files queued for or under compression. Held while listing or changing rotated files.
    pending: Mutex<HashSet<PathBuf>>,
    /// First error of background work since the last `take_error`, reported by `close()`.
    error: Mutex<Option<io::Error>>,
    /// Counters shown in the sink's health.
    pub(super) stats: Arc<FileStats>,
}

impl Archive {
    pub(super) fn new(
        dir: PathBuf,
        stem: String,
        ext: String,
        retention: RetentionPolicy,
        stats: Arc<FileStats>,
    ) -> Self {
        Archive {
            dir,
            stem,
            ext,
            retention,
            pending: Mutex::new(HashSet::new()),
            error: Mutex::new(None),
            stats,
        }
    }

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

    /// The path of rotated file number `seq` stamped `timestamp`.
    pub(super) fn rotated_path(&self, timestamp: &str, seq: u64) -> PathBuf {
        self.dir.join(format!("{}.{timestamp}-{seq:06}{}", self.stem, self.ext))
    }

    /// Rotated files (plain and `.gz`), oldest first. A missing directory has none.
    fn list_locked(&self, _held: &HashSet<PathBuf>) -> io::Result<Vec<Rotated>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(ctx(e, "reading", &self.dir)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| ctx(e, "reading", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let (plain, gz) = (self.parse(name, ""), self.parse(name, ".gz"));
            if let Some(seq) = plain.or(gz) {
                out.push(Rotated {
                    seq,
                    path: entry.path(),
                    compressed: plain.is_none(),
                });
            }
        }
        out.sort_by(|a, b| (a.seq, &a.path).cmp(&(b.seq, &b.path)));
        Ok(out)
    }

    /// Rotated files (plain and `.gz`), oldest first.
    pub(super) fn list(&self) -> io::Result<Vec<Rotated>> {
        let pending = lock(&self.pending);
        self.list_locked(&pending)
    }

    /// Renames the active file `active` to `rotated` and, with `compress`, marks it pending in
    /// the same step, so that retention never sees it unmarked.
    pub(super) fn rotate_into(&self, active: &Path, rotated: &Path, compress: bool) -> io::Result<()> {
        let mut pending = lock(&self.pending);
        fs::rename(active, rotated)?;
        if compress {
            pending.insert(rotated.to_path_buf());
        }
        Ok(())
    }

    /// Marks `path` (an existing rotated file) as waiting for compression.
    pub(super) fn mark_pending(&self, path: &Path) {
        lock(&self.pending).insert(path.to_path_buf());
    }

    /// Deletes rotated files from the oldest on until within the limits; counts what it deleted.
    ///
    /// Files waiting for compression count at their current (uncompressed) size, and are deleted
    /// like any other when they are the oldest (their compression is cancelled).
    pub(super) fn apply_retention(&self) -> io::Result<()> {
        let RetentionPolicy {
            max_files,
            max_total_bytes,
        } = self.retention;
        if max_files.is_none() && max_total_bytes.is_none() {
            return Ok(());
        }
        let mut pending = lock(&self.pending);
        let files = self.list_locked(&pending)?;
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
            match fs::remove_file(&f.path) {
                Ok(()) => {
                    self.stats.retention_deleted_files.fetch_add(1, Ordering::Relaxed);
                    self.stats.retention_deleted_bytes.fetch_add(size, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Stop here: deleting a newer file instead would leave a hole.
                Err(e) => return Err(ctx(e, "removing", &f.path)),
            }
            pending.remove(&f.path);
            count -= 1;
            total -= size;
        }
        Ok(())
    }

    /// Gzips `src` to `src.gz` via `src.gz.tmp`, removes `src`, then applies retention. Publishes
    /// nothing if `src` was deleted meanwhile — by retention (its compression was cancelled) or
    /// by someone else (e.g. the whole directory removed): deleted data is never brought back.
    fn compress(&self, src: &Path) -> io::Result<()> {
        let tmp = with_suffix(src, ".gz.tmp");
        let mut input = None;
        let written = (|| {
            let input = input.insert(File::open(src).map_err(|e| ctx(e, "opening", src))?);
            let out = File::create(&tmp).map_err(|e| ctx(e, "creating", &tmp))?;
            let mut enc = GzEncoder::new(BufWriter::new(out), Compression::default());
            io::copy(input, &mut enc).map_err(|e| ctx(e, "compressing", src))?;
            let out = enc
                .finish()
                .and_then(|w| w.into_inner().map_err(io::IntoInnerError::into_error));
            out.and_then(|f| f.sync_all()).map_err(|e| ctx(e, "writing", &tmp))
        })();
        let mut pending = lock(&self.pending);
        let still_named = input
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_none_or(|m| m.nlink() > 0);
        if !pending.remove(src) || !still_named {
            let _ = fs::remove_file(&tmp);
            return Ok(());
        }
        let published = written.and_then(|()| {
            let gz = with_suffix(src, ".gz");
            fs::rename(&tmp, &gz).map_err(|e| ctx(e, "renaming", &tmp))?;
            fs::remove_file(src).map_err(|e| ctx(e, "removing", src))
        });
        if published.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        drop(pending);
        published.and_then(|()| self.apply_retention())
    }

    /// Records a background error: counted, shown as the sink's last error, reported by `close()`.
    pub(super) fn record(&self, result: io::Result<()>) {
        if let Err(e) = result {
            self.stats.background_errors.fetch_add(1, Ordering::Relaxed);
            self.stats.note_error(e.to_string());
            lock(&self.error).get_or_insert(e);
        }
    }

    /// The first background error since the last call.
    pub(super) fn take_error(&self) -> Option<io::Error> {
        lock(&self.error).take()
    }
}

/// The compression thread and the channel feeding it, started on demand.
#[derive(Default)]
pub(super) struct Compressor {
    worker: Option<(Sender<PathBuf>, JoinHandle<()>)>,
}

impl Compressor {
    /// Hands `path` (already marked pending) to the compression thread, starting it if needed.
    pub(super) fn queue(&mut self, archive: &Arc<Archive>, path: PathBuf) {
        if self.worker.is_none() {
            let (tx, rx) = mpsc::channel::<PathBuf>();
            let shared = Arc::clone(archive);
            let spawned = thread::Builder::new().name("aureus-log-gzip".into()).spawn(move || {
                for p in rx {
                    shared.record(shared.compress(&p));
                }
            });
            match spawned {
                Ok(handle) => self.worker = Some((tx, handle)),
                // No thread: compress inline rather than lose the file's compression.
                Err(_) => return archive.record(archive.compress(&path)),
            }
        }
        if let Some((tx, _)) = &self.worker {
            if let Err(mpsc::SendError(path)) = tx.send(path) {
                archive.record(archive.compress(&path));
            }
        }
    }

    /// Waits until every queued compression has finished.
    pub(super) fn finish(&mut self, archive: &Archive) {
        if let Some((tx, handle)) = self.worker.take() {
            drop(tx);
            if handle.join().is_err() {
                archive.record(Err(io::Error::other("log compression thread panicked")));
            }
        }
    }
}
