//! The active file: an `O_APPEND` handle that notices when the file under it changes.
//!
//! Nothing is buffered between calls: [`ActiveFile::write`] hands its bytes to the OS before it
//! returns, so a write that returned `Ok` is on its way to a file that still has a name. What can
//! change under the writer, and what it does:
//!
//! - **deleted** (`rm`, or the whole directory removed): after every write the handle's link
//!   count is checked; bytes that went into an unlinked file are written again into a fresh file
//!   (directory recreated as needed), so nothing is counted delivered into a file nobody can see;
//! - **moved away** (logrotate `create` style): what was written before the move is in the moved
//!   file; the path's identity (device + inode) is compared with the handle's at most
//!   [`CHECK_INTERVAL`] apart and after every error, and the writer switches to the new file;
//! - **truncated** (logrotate `copytruncate`): the handle appends (`O_APPEND`), so writing goes on
//!   at the new end without a sparse hole; the size used for rotation follows the file;
//! - **unwritable** (directory read-only, disk full, file-size limit): the write fails, a torn
//!   partial line is cut off again, and the next write tries again (reopening as needed), so the
//!   sink resumes by itself once the fault clears.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::archive::ctx;
use super::stats::FileStats;

/// Longest time between two comparisons of the path's identity with the open handle.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// What [`ActiveFile::write`] achieved when it failed.
#[derive(Debug)]
pub(super) struct WriteFault {
    /// Bytes of the buffer that reached the file (a prefix; 0 if none).
    pub(super) written: usize,
    /// Why the rest did not.
    pub(super) error: io::Error,
}

/// The handle on the active file and what the writer knows about it.
pub(super) struct ActiveFile {
    /// The active file's path.
    path: PathBuf,
    /// Its directory, recreated when removed.
    dir: PathBuf,
    /// The open handle (`None` after a failed reopen: retried on the next write).
    file: Option<File>,
    /// Bytes in the file as last seen (follows external truncation).
    size: u64,
    /// When the path's identity was last compared with the handle (`None`: compare now).
    checked: Option<Instant>,
    /// A torn partial line could not be cut off: start the next write on a new line.
    torn: bool,
    /// Counters shown in the sink's health.
    stats: Arc<FileStats>,
}

/// Device and inode of `meta`.
fn identity(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// The size of `file` if it is still the file at `path`: linked, and the same device and inode
/// (not deleted, moved away or replaced); `None` otherwise.
fn current_size(path: &Path, file: &File) -> Option<u64> {
    let handle = file.metadata().ok()?;
    if handle.nlink() == 0 {
        return None;
    }
    let same = match fs::metadata(path) {
        Ok(at_path) => identity(&at_path) == identity(&handle),
        // Cannot tell (e.g. no search permission): keep writing to the linked handle.
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    };
    same.then_some(handle.len())
}

impl ActiveFile {
    /// Opens (creating it and its directory) `path` for appending.
    pub(super) fn open(path: PathBuf, dir: PathBuf, stats: Arc<FileStats>) -> io::Result<Self> {
        let mut active = ActiveFile {
            path,
            dir,
            file: None,
            size: 0,
            checked: None,
            torn: false,
            stats,
        };
        active.open_handle()?;
        Ok(active)
    }

    /// The active file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the active file as last seen.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// When the open file was last modified (for a file that already had content at start).
    pub(super) fn modified(&self) -> Option<std::time::SystemTime> {
        let meta = self.file.as_ref()?.metadata().ok()?;
        (meta.len() > 0).then(|| meta.modified().ok()).flatten()
    }

    /// (Re)creates the directory and opens the file for appending.
    fn open_handle(&mut self) -> io::Result<()> {
        self.file = None;
        fs::create_dir_all(&self.dir).map_err(|e| ctx(e, "creating directory", &self.dir))?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| ctx(e, "opening", &self.path))?;
        let meta = file.metadata().map_err(|e| ctx(e, "reading metadata of", &self.path))?;
        self.size = meta.len();
        self.file = Some(file);
        self.checked = Some(Instant::now());
        Ok(())
    }

    /// Reopens after the file changed under the writer (or after a failed open); counted.
    fn reopen(&mut self) -> io::Result<()> {
        self.open_handle()?;
        self.stats.reopens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the handle; the next write reopens the path (after a rotation renamed it away).
    pub(super) fn release(&mut self) {
        self.file = None;
        self.size = 0;
    }

    /// Opens a fresh file at the path after a rotation.
    pub(super) fn open_fresh(&mut self) -> io::Result<()> {
        self.open_handle()
    }

    /// Makes sure the handle is open and still the file at the path: compares identities when
    /// [`CHECK_INTERVAL`] has passed (or an error asked for it) and reopens if they differ.
    fn ensure(&mut self) -> io::Result<&mut File> {
        let due = self.checked.is_none_or(|at| at.elapsed() >= CHECK_INTERVAL);
        if due {
            match self.file.as_ref().and_then(|f| current_size(&self.path, f)) {
                Some(size) => {
                    self.size = size;
                    self.checked = Some(Instant::now());
                }
                None => self.file = None,
            }
        }
        if self.file.is_none() {
            self.reopen()?;
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file handle lost"))
    }

    /// Appends `buf` to the file, all of it or a prefix ([`WriteFault::written`] bytes).
    ///
    /// If the file turns out to have been deleted meanwhile, `buf` is written again into a fresh
    /// file. A failure asks for an identity check before the next write.
    pub(super) fn write(&mut self, buf: &[u8]) -> Result<(), WriteFault> {
        let mut retried = false;
        loop {
            match self.write_once(buf) {
                Ok(true) => return Ok(()),
                // The bytes went into a file without a name: write them again into a new one.
                Ok(false) if !retried => {
                    retried = true;
                    self.file = None;
                }
                Ok(false) => {
                    self.file = None;
                    let error = io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{} was deleted while being written", self.path.display()),
                    );
                    return Err(WriteFault { written: 0, error });
                }
                Err(fault) => {
                    self.checked = None;
                    return Err(fault);
                }
            }
        }
    }

    /// One attempt: `Ok(true)` written to a linked file, `Ok(false)` written to an unlinked one.
    fn write_once(&mut self, buf: &[u8]) -> Result<bool, WriteFault> {
        let fault = |error| WriteFault { written: 0, error };
        let newline = self.torn;
        let file = self.ensure().map_err(fault)?;
        if newline {
            file.write_all(b"\n").map_err(fault)?;
        }
        let mut written = 0;
        let mut failure = None;
        while written < buf.len() {
            match file.write(&buf[written..]) {
                Ok(0) => {
                    failure = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let meta = file.metadata();
        self.torn = false;
        self.size = match &meta {
            Ok(meta) => meta.len(),
            Err(_) => self.size + written as u64,
        };
        if let Some(error) = failure {
            let error = ctx(error, "writing", &self.path);
            return Err(WriteFault { written, error });
        }
        // Unknown link count: assume linked (the handle was checked before the write).
        Ok(meta.map_or(true, |m| m.nlink() > 0))
    }

    /// Cuts the last `torn` bytes (a partial line) off the file; if that fails, the next write
    /// starts with a newline so the partial line stays on its own.
    pub(super) fn cut_torn_tail(&mut self, torn: u64) {
        if torn == 0 {
            return;
        }
        let cut = self.file.as_ref().and_then(|f| {
            let len = f.metadata().ok()?.len();
            let keep = len.checked_sub(torn)?;
            f.set_len(keep).ok().map(|()| keep)
        });
        match cut {
            Some(len) => self.size = len,
            None => self.torn = true,
        }
    }
}
