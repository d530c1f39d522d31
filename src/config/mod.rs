//! [`Config`]: what to build, from code, a TOML file or the environment.
//!
//! ```
//! use aureus_observability::config::{Config, ConsoleSinkConfig, FileSinkConfig};
//! use aureus_observability::sinks::console::ConsoleFormat;
//!
//! let config = Config::builder()
//!     .service_name("aureus-kernel")
//!     .log_level("info,aureus=debug")
//!     .sink(ConsoleSinkConfig { format: ConsoleFormat::Compact, ..Default::default() })
//!     .sink(FileSinkConfig {
//!         path: "./aureus-telemetry/aureus.jsonl".into(),
//!         max_bytes: Some("10MB".into()),
//!         rotate_every: Some("1h".into()),
//!         max_files: Some(24),
//!         compress: true,
//!         ..Default::default()
//!     })
//!     .build()?;
//! assert_eq!(config.sinks.len(), 2);
//!
//! let from_toml = Config::from_toml_str(r#"
//!     service_name = "aureus-kernel"
//!     [[sinks]]
//!     type = "file"
//!     path = "/tmp/aureus.jsonl"
//!     max_bytes = "10XB"
//! "#);
//! assert!(from_toml.unwrap_err().to_string().contains("sinks[0].max_bytes"));
//! # Ok::<(), aureus_observability::Error>(())
//! ```

mod builder;
mod env;
pub(crate) use env::env_variables;
mod genai;
mod metrics;
mod monitoring;
mod otel_list;
mod otlp;
mod otlp_env;
mod pipeline;
mod read;
mod sinks;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

pub use builder::ConfigBuilder;
pub(crate) use genai::ValidatedGenAi;
pub use genai::{ContentCapture, GenAiConfig, ModelPrice, MAX_PRICE_PER_MILLION};
pub use metrics::{MetricsConfig, ServerConfig};
pub(crate) use monitoring::trace_url;
pub use monitoring::{MonitoringConfig, MonitoringSource, RuleOverride};
pub use otlp::{
    MetricTemporality, OtlpBatchConfig, OtlpConfig, OtlpProtocol, OtlpRetryConfig, OtlpSignalBatch, OtlpSignalConfig,
};
pub(crate) use otlp::{Signal, ValidatedOtlp, ValidatedRetry, ValidatedSignal};
pub use pipeline::{RedactionConfig, SamplingConfig, StoreConfig};
pub use read::MAX_CONFIG_FILE_BYTES;
pub use sinks::{ConsoleSinkConfig, FileSinkConfig, SinkConfig};
pub(crate) use validate::{
    check_metrics_prefix, normalize_filter, Validated, ValidatedMetrics, ValidatedMonitoring, ValidatedServer,
    ValidatedSink, ValidatedStore,
};
pub(crate) mod validate_kinds {
    pub(crate) use super::validate::SinkKind;
}

use crate::error::{Error, Result};

/// Default limit for one text field, in bytes (4 KiB).
pub const DEFAULT_MAX_FIELD_BYTES: usize = 4096;

/// The whole telemetry configuration. Every key is optional in TOML; unknown
/// keys are rejected.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `service.name` of this process (env `OTEL_SERVICE_NAME`, `AUREUS_SERVICE_NAME`).
    pub service_name: String,
    /// `service.version`; defaults to this crate's version when unset.
    pub service_version: Option<String>,
    /// `deployment.environment`, e.g. `production` (env `AUREUS_ENVIRONMENT`).
    pub environment: Option<String>,
    /// Extra resource attributes (env `OTEL_RESOURCE_ATTRIBUTES`, `k=v,k=v`).
    pub resource_attributes: BTreeMap<String, String>,
    /// Which events are recorded, in `EnvFilter` syntax, e.g. `info,aureus=debug`
    /// (env `AUREUS_LOG`, else `RUST_LOG`).
    pub log_level: String,
    /// Longest text field kept, in bytes; longer values are cut with a
    /// visible `…[truncated N bytes]` marker (env `AUREUS_MAX_FIELD_BYTES`).
    pub max_field_bytes: usize,
    /// Correlation id for records outside any correlated span or scope
    /// (env `AUREUS_CORRELATION_ID`).
    pub default_correlation_id: Option<String>,
    /// Where records go. Defaults to one compact console sink on stderr.
    pub sinks: Vec<SinkConfig>,
    /// Prometheus metrics from Aureus events.
    pub metrics: MetricsConfig,
    /// The HTTP listener (`/metrics`).
    pub server: ServerConfig,
    /// Redaction of sensitive fields and values.
    pub redaction: RedactionConfig,
    /// Head sampling of high-volume records.
    pub sampling: SamplingConfig,
    /// The in-memory event store.
    pub store: StoreConfig,
    /// The dashboard, its JSON API and the alert engine.
    pub monitoring: MonitoringConfig,
    /// Export of spans, logs and metrics to an OpenTelemetry collector.
    pub otlp: OtlpConfig,
    /// The OpenTelemetry GenAI conventions: content capture and the price table.
    pub genai: GenAiConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_name: "aureus-kernel".to_owned(),
            service_version: None,
            environment: None,
            resource_attributes: BTreeMap::new(),
            log_level: "info".to_owned(),
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            default_correlation_id: None,
            sinks: vec![SinkConfig::Console(ConsoleSinkConfig::default())],
            metrics: MetricsConfig::default(),
            server: ServerConfig::default(),
            redaction: RedactionConfig::default(),
            sampling: SamplingConfig::default(),
            store: StoreConfig::default(),
            monitoring: MonitoringConfig::default(),
            otlp: OtlpConfig::default(),
            genai: GenAiConfig::default(),
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Parses and validates TOML text (at most [`MAX_CONFIG_FILE_BYTES`]).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse_toml(text, "<string>")
    }

    /// Reads, parses and validates a TOML file. A file larger than
    /// [`MAX_CONFIG_FILE_BYTES`] or not UTF-8 is an [`Error::ConfigFile`]
    /// (nothing past the limit is read).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = read::read_bounded(path, MAX_CONFIG_FILE_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|err| Error::ConfigFile {
            path: origin.clone(),
            message: format!(
                "not UTF-8 text (invalid byte at offset {})",
                err.utf8_error().valid_up_to()
            ),
        })?;
        Self::parse_toml(&text, &origin)
    }

    /// The defaults, then the TOML file named by `AUREUS_CONFIG` (if set;
    /// any path, UTF-8 or not), then the environment variables listed in
    /// [`Config::apply_env`] (see [`Config::apply_process_env`]).
    ///
    /// # Errors
    ///
    /// [`Error::ConfigFile`] for the file, [`Error::InvalidConfig`] naming
    /// the variable for a bad value (also one that is not UTF-8). Variables
    /// this crate does not read are ignored, UTF-8 or not.
    pub fn from_env() -> Result<Self> {
        let mut config = match std::env::var_os("AUREUS_CONFIG") {
            Some(path) => Self::from_toml_file(std::path::PathBuf::from(path))?,
            None => Config::default(),
        };
        config.apply_process_env()?;
        Ok(config)
    }

    /// [`Config::apply_env`] with this process's environment. Unlike
    /// `apply_env(std::env::vars())`, which panics when any variable (even
    /// an unrelated one) is not UTF-8, a variable we read with a value that
    /// is not UTF-8 is an [`Error::InvalidConfig`] naming it, and others
    /// are ignored.
    pub fn apply_process_env(&mut self) -> Result<()> {
        self.apply_env(env::process_vars()?)
    }

    /// Overrides settings from environment-style variables (for the
    /// process's own, use [`Config::apply_process_env`]); see the README's
    /// configuration reference for the list.
    /// Validates the result.
    pub fn apply_env<K, V>(&mut self, vars: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let origins = env::apply(self, vars)?;
        self.validate().map_err(|err| origins.name_variable(err))
    }

    /// Checks every value, returning the first problem as a typed error that
    /// names the key and the value.
    pub fn validate(&self) -> Result<()> {
        validate::validate(self).map(|_| ())
    }

    pub(crate) fn validated(&self) -> Result<Validated> {
        validate::validate(self)
    }

    fn parse_toml(text: &str, origin: &str) -> Result<Self> {
        if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return Err(read::too_large(origin, MAX_CONFIG_FILE_BYTES));
        }
        let table: toml::Table = toml::from_str(text).map_err(|err| Error::ConfigFile {
            path: origin.to_owned(),
            message: err.to_string(),
        })?;
        sinks::check_sink_types(&table)?;
        let config: Config = toml::from_str(text).map_err(|err| Error::ConfigFile {
            path: origin.to_owned(),
            message: err.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }
}
