//! The `[monitoring]` section: dashboard, JSON API, alerts.

use std::collections::BTreeMap;

/// Where the dashboard and the alert engine read their figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitoringSource {
    /// This process's metrics and event store.
    #[default]
    Local,
    /// A Prometheus server's HTTP API (`prometheus_url`): one dashboard for many kernels.
    Prometheus,
}

/// Overrides of one alert rule (`[monitoring.rules.<alert id>]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleOverride {
    /// Fires past this value.
    pub threshold: Option<f64>,
    /// Escalates past this value.
    pub escalate_at: Option<f64>,
    /// The window the value is computed over, e.g. `"5m"`.
    pub window: Option<String>,
    /// How long the condition must hold before firing, e.g. `"1m"`.
    #[serde(rename = "for")]
    pub for_duration: Option<String>,
}

/// `[monitoring]`: the dashboard at `/monitoring`, `/api/monitoring/*`, and the alert engine.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Serve the dashboard and API, and evaluate alerts (default true).
    pub enabled: bool,
    /// When set, page and API require `Authorization: Bearer <token>` (or the
    /// cookie set by opening `/monitoring?token=<token>`); env `AUREUS_MONITORING_TOKEN`.
    pub token: Option<String>,
    /// `local` (default) or `prometheus`; env `AUREUS_MONITORING_SOURCE`.
    pub source: MonitoringSource,
    /// The Prometheus server for `source = "prometheus"`, e.g.
    /// `http://127.0.0.1:9090`; env `AUREUS_PROMETHEUS_URL`.
    pub prometheus_url: Option<String>,
    /// How often alerts are evaluated (default `1s`).
    pub evaluate_every: String,
    /// Per-alert overrides, keyed by alert id (`success-rate`, `crv-failures`,
    /// `policy-denials`, `rollbacks`).
    pub rules: BTreeMap<String, RuleOverride>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            enabled: true,
            token: None,
            source: MonitoringSource::Local,
            prometheus_url: None,
            evaluate_every: "1s".to_owned(),
            rules: BTreeMap::new(),
        }
    }
}
