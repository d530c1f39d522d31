//! The crate's one error type.
//!
//! Every variant names what was wrong — the configuration key, the offending
//! value, the path — so that a bad configuration is fixed from the message
//! alone.

use std::path::PathBuf;

/// Everything that can go wrong when configuring or running the telemetry stack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value was rejected.
    #[error("invalid configuration: `{key}` = {value:?}: {reason}")]
    InvalidConfig {
        /// The configuration key, e.g. `sinks[1].rotation.max_bytes`.
        key: String,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The TOML configuration could not be parsed (syntax, unknown key, wrong type).
    #[error("invalid configuration file {path}: {message}")]
    ConfigFile {
        /// The file, or `<string>` when parsed from memory.
        path: String,
        /// The parser's message, naming the key and position.
        message: String,
    },
    /// A correlation id did not satisfy `1..=128` chars of `[A-Za-z0-9._:/-]`.
    #[error("invalid correlation id {value:?}: {reason}")]
    InvalidCorrelationId {
        /// The rejected input, with control characters escaped.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A file could not be opened or created.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A global subscriber was already installed in this process.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInitialized,
    /// No sink has this name.
    #[error("no sink named {name:?}")]
    UnknownSink {
        /// The name asked for.
        name: String,
    },
    /// A sink with this name already exists.
    #[error("a sink named {name:?} already exists")]
    DuplicateSink {
        /// The name asked for.
        name: String,
    },
    /// The operation does not apply to this built-in sink.
    #[error("sink {name:?}: {reason}")]
    BuiltInSink {
        /// The sink.
        name: String,
        /// Why not.
        reason: &'static str,
    },
    /// The HTTP listener could not bind its address (e.g. the port is in use).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from `server.listen`.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another `metrics` global recorder is already installed in this
    /// process, so the service's `metrics::counter!` & co. cannot reach ours.
    #[error(
        "another `metrics` global recorder is already installed in this process; set \
         metrics.global_recorder = \"if_free\" to run with our own metrics alone, or \"off\""
    )]
    GlobalRecorderTaken,
    /// A worker thread could not be started.
    #[error("cannot start worker thread for sink `{sink}`: {source}")]
    Worker {
        /// The sink whose worker failed to start.
        sink: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(key: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}
