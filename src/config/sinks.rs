//! Per-sink configuration.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::pipeline::OverflowPolicy;
use crate::sinks::console::{ConsoleFormat, ConsoleStream};

/// The sink types a configuration may name.
pub(crate) const SINK_TYPES: [&str; 2] = ["console", "file"];

/// One sink, tagged by `type` in TOML.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// A console sink.
    Console(ConsoleSinkConfig),
    /// A rotating JSON-lines file sink.
    File(FileSinkConfig),
}

impl SinkConfig {
    /// The sink's name (unique within a configuration).
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Console(c) => c.name.as_deref().unwrap_or("console"),
            SinkConfig::File(c) => c.name.as_deref().unwrap_or("file"),
        }
    }
}

impl From<ConsoleSinkConfig> for SinkConfig {
    fn from(config: ConsoleSinkConfig) -> Self {
        SinkConfig::Console(config)
    }
}

impl From<FileSinkConfig> for SinkConfig {
    fn from(config: FileSinkConfig) -> Self {
        SinkConfig::File(config)
    }
}

/// A console sink: `type = "console"`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSinkConfig {
    /// Name (default `console`).
    pub name: Option<String>,
    /// `pretty`, `compact` (default) or `json`.
    pub format: ConsoleFormat,
    /// `stdout` or `stderr` (default).
    pub stream: ConsoleStream,
    /// Colour: `true`, `false`, or unset for "only on a terminal".
    pub ansi: Option<bool>,
    /// Least severe level this sink shows (e.g. `warn`); default: all that pass `log_level`.
    pub level: Option<String>,
    /// Records the queue holds (default 8192).
    pub queue_capacity: usize,
    /// Bytes the queued records may hold, e.g. `"64MiB"` (default); a record
    /// that does not fit meets a full queue.
    pub queue_max_bytes: Option<String>,
    /// `drop` (default for the console) or `block`.
    pub overflow: OverflowPolicy,
}

impl Default for ConsoleSinkConfig {
    fn default() -> Self {
        ConsoleSinkConfig {
            name: None,
            format: ConsoleFormat::Compact,
            stream: ConsoleStream::Stderr,
            ansi: None,
            level: None,
            queue_capacity: 8192,
            queue_max_bytes: None,
            overflow: OverflowPolicy::Drop,
        }
    }
}

/// A file sink: `type = "file"`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Name (default `file`).
    pub name: Option<String>,
    /// The active file (default `./aureus-telemetry/aureus.jsonl`).
    pub path: PathBuf,
    /// Least severe level this sink writes; default: all that pass `log_level`.
    pub level: Option<String>,
    /// Rotate before the file would exceed this size, e.g. `"10MB"`, `"512KiB"` or a byte count.
    pub max_bytes: Option<String>,
    /// Rotate at every multiple of this interval (UTC), e.g. `"1h"`, `"1day"`.
    pub rotate_every: Option<String>,
    /// Keep at most this many rotated files.
    pub max_files: Option<usize>,
    /// Keep rotated files up to this total size, e.g. `"1GB"`.
    pub max_total_bytes: Option<String>,
    /// gzip rotated files (in the background).
    pub compress: bool,
    /// Records the queue holds (default 65536).
    pub queue_capacity: usize,
    /// Bytes the queued records may hold, e.g. `"64MiB"` (default); with
    /// `block` a producer waits for room, with `drop` the record is dropped.
    pub queue_max_bytes: Option<String>,
    /// `block` (default: lossless) or `drop`.
    pub overflow: OverflowPolicy,
}

impl FileSinkConfig {
    /// A file sink at `path` with every other setting at its default.
    ///
    /// ```
    /// use aureus_observability::config::{Config, FileSinkConfig};
    /// let config = Config::builder().sink(FileSinkConfig::at("/tmp/aureus.jsonl")).build()?;
    /// # Ok::<(), aureus_observability::Error>(())
    /// ```
    pub fn at(path: impl Into<PathBuf>) -> Self {
        FileSinkConfig {
            path: path.into(),
            ..Default::default()
        }
    }
}

impl Default for FileSinkConfig {
    fn default() -> Self {
        FileSinkConfig {
            name: None,
            path: PathBuf::from("./aureus-telemetry/aureus.jsonl"),
            level: None,
            max_bytes: None,
            rotate_every: None,
            max_files: None,
            max_total_bytes: None,
            compress: false,
            queue_capacity: 65536,
            queue_max_bytes: None,
            overflow: OverflowPolicy::Block,
        }
    }
}

/// Rejects an unknown `type` in `[[sinks]]` with a typed error naming it.
pub(crate) fn check_sink_types(table: &toml::Table) -> Result<()> {
    let Some(sinks) = table.get("sinks").and_then(toml::Value::as_array) else {
        return Ok(());
    };
    for (index, sink) in sinks.iter().enumerate() {
        let kind = sink.get("type");
        let known = kind
            .and_then(toml::Value::as_str)
            .is_some_and(|k| SINK_TYPES.contains(&k));
        if !known {
            return Err(Error::config(
                format!("sinks[{index}].type"),
                kind.map(|k| k.to_string()).unwrap_or_else(|| "<missing>".to_owned()),
                format!("unknown sink type; expected one of: {}", SINK_TYPES.join(", ")),
            ));
        }
    }
    Ok(())
}
