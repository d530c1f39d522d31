//! Filesystem faults for tests: a small tmpfs that can be filled up (real
//! `ENOSPC`), and a directory made read-only (a read-only bind mount when
//! running as root, whom permission bits do not stop; `chmod 0555` otherwise).
#![allow(dead_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this process runs as root (owner of its own `/proc/self`).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a command, returning its stderr on failure.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A tmpfs of a fixed size mounted on a fresh temporary directory; unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"2m"`). Needs root (or CAP_SYS_ADMIN).
    pub fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().to_str().ok_or("non-UTF-8 temp dir")?.to_owned();
        run("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &path])?;
        Ok(Tmpfs { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", self.dir.path().to_str().unwrap_or_default()]);
    }
}

/// Fills the filesystem holding `dir` with a ballast file until it reports
/// `ENOSPC`; returns the ballast's path (remove it to free the space).
pub fn fill_up(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    for _ in 0..100_000 {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    // Also the last partial page.
    while let Ok(n) = file.write(&chunk[..1]) {
        if n == 0 {
            break;
        }
    }
    path
}

/// A directory made read-only until [`ReadOnly::clear`] (or drop).
pub struct ReadOnly {
    dir: PathBuf,
    /// `Some(mode)`: made read-only by chmod, to be restored to `mode`;
    /// `None`: by a read-only bind mount, to be unmounted.
    restore_mode: Option<u32>,
    active: bool,
}

impl ReadOnly {
    /// Makes `dir` read-only: nothing can be created, renamed or deleted in it.
    pub fn apply(dir: &Path) -> Self {
        let path = dir.to_str().unwrap();
        if is_root() {
            run("mount", &["--bind", path, path]).unwrap();
            run("mount", &["-o", "remount,bind,ro", path]).unwrap();
            ReadOnly {
                dir: dir.to_path_buf(),
                restore_mode: None,
                active: true,
            }
        } else {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
            ReadOnly {
                dir: dir.to_path_buf(),
                restore_mode: Some(mode),
                active: true,
            }
        }
    }

    /// Makes the directory writable again.
    pub fn clear(mut self) {
        self.undo();
    }

    fn undo(&mut self) {
        if !std::mem::take(&mut self.active) {
            return;
        }
        match self.restore_mode {
            Some(mode) => {
                let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(mode));
            }
            None => {
                let _ = run("umount", &[self.dir.to_str().unwrap_or_default()]);
            }
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        self.undo();
    }
}
