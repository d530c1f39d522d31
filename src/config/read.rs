//! Reading configuration files (the TOML file, CA certificates) with a size
//! limit, so a wrong path (a log file, `/dev/zero`) is a typed error rather
//! than the process reading without end.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest configuration file read: the TOML file and each CA certificate
/// bundle, in bytes (4 MiB; real ones are a few KiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The contents of `path`, at most `limit` bytes: a longer file is
/// [`Error::ConfigFile`] naming the path and the limit.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(&path.display().to_string(), limit));
    }
    Ok(bytes)
}

/// The error for a configuration text larger than `limit` bytes.
pub(crate) fn too_large(origin: &str, limit: u64) -> Error {
    Error::ConfigFile {
        path: origin.to_owned(),
        message: format!("larger than the {limit}-byte limit for configuration files"),
    }
}
