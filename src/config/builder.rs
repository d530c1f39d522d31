//! [`ConfigBuilder`]: a [`Config`] from code.

use super::{Config, SinkConfig};
use crate::error::Result;

/// Builds a [`Config`] in code; [`build`](ConfigBuilder::build) validates it.
///
/// Adding the first sink replaces the default console sink.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    config: Config,
    sinks_set: bool,
}

impl ConfigBuilder {
    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.config.service_name = name.into();
        self
    }

    /// Sets `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.config.service_version = Some(version.into());
        self
    }

    /// Sets `deployment.environment`.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.config.environment = Some(environment.into());
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.resource_attributes.insert(key.into(), value.into());
        self
    }

    /// Sets the level filter (`EnvFilter` syntax).
    pub fn log_level(mut self, filter: impl Into<String>) -> Self {
        self.config.log_level = filter.into();
        self
    }

    /// Sets the longest text field kept, in bytes.
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.config.max_field_bytes = bytes;
        self
    }

    /// Sets the process-wide default correlation id.
    pub fn default_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.config.default_correlation_id = Some(id.into());
        self
    }

    /// Adds a sink (the first call replaces the default console sink).
    pub fn sink(mut self, sink: impl Into<SinkConfig>) -> Self {
        if !self.sinks_set {
            self.config.sinks.clear();
            self.sinks_set = true;
        }
        self.config.sinks.push(sink.into());
        self
    }

    /// Removes every sink, including the default console sink.
    pub fn no_sinks(mut self) -> Self {
        self.config.sinks.clear();
        self.sinks_set = true;
        self
    }

    /// Sets the HTTP listener's address (`/metrics`), e.g. `127.0.0.1:0` for any free port.
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.config.server.enabled = true;
        self.config.server.listen = addr.into();
        self
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics`.
    pub fn metrics_token(mut self, token: impl Into<String>) -> Self {
        self.config.server.metrics_token = Some(token.into());
        self
    }

    /// Starts no HTTP listener (metrics are still recorded and can be rendered
    /// through [`Telemetry::metrics`](crate::Telemetry::metrics)).
    pub fn no_server(mut self) -> Self {
        self.config.server.enabled = false;
        self
    }

    /// Serves no dashboard and evaluates no alerts.
    pub fn no_monitoring(mut self) -> Self {
        self.config.monitoring.enabled = false;
        self
    }

    /// Replaces the `[monitoring]` section.
    pub fn monitoring(mut self, monitoring: super::MonitoringConfig) -> Self {
        self.config.monitoring = monitoring;
        self
    }

    /// Replaces the `[metrics]` section.
    pub fn metrics(mut self, metrics: super::MetricsConfig) -> Self {
        self.config.metrics = metrics;
        self
    }

    /// Sets the `[otlp]` section (export to an OpenTelemetry collector).
    pub fn otlp(mut self, otlp: super::OtlpConfig) -> Self {
        self.config.otlp = otlp;
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Config> {
        self.config.validate()?;
        Ok(self.config)
    }
}
