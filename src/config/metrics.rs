//! The `[metrics]` and `[server]` sections.

use std::collections::BTreeMap;

use crate::metrics::{DurationUnit, GlobalRecorder, DEFAULT_DURATION_BUCKETS_MS, DEFAULT_HISTOGRAM_BUCKETS};

/// `[metrics]`: Prometheus metrics from Aureus events.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Record metrics at all (default true).
    pub enabled: bool,
    /// Metric-name prefix (default `aureus`; env `AUREUS_METRICS_PREFIX`).
    pub prefix: String,
    /// Labels added to every series, e.g. `{ instance = "kernel-a" }`.
    pub global_labels: BTreeMap<String, String>,
    /// Series kept per metric before new label sets fold into `other` (default 1000).
    pub cardinality_limit: usize,
    /// Upper bounds of the task-duration buckets, in ms, strictly increasing.
    pub duration_buckets_ms: Vec<f64>,
    /// `milliseconds` (default: `<prefix>_task_duration_ms`, the contract) or
    /// `seconds` (`<prefix>_task_duration_seconds`, Prometheus's base unit).
    pub duration_unit: DurationUnit,
    /// How far back summary figures reach (default `7days`).
    pub summary_retention: String,
    /// Granularity of the summary window (default `10s`): figures over a time
    /// range include the buckets it overlaps.
    pub summary_bucket: String,
    /// Whether our recorder becomes the `metrics` facade's global recorder,
    /// so that the service's own `metrics::counter!` / `gauge!` /
    /// `histogram!` appear on `/metrics` and in the OTLP metrics: `install`
    /// (default; an error if another global recorder is installed),
    /// `if_free` (a warning then, and our metrics alone) or `off`
    /// (env `AUREUS_METRICS_GLOBAL_RECORDER`). Needs `enabled`.
    pub global_recorder: GlobalRecorder,
    /// Bucket upper bounds of histograms recorded through the facade, by
    /// metric-name pattern: a name with at most one `*` standing for any
    /// text, e.g. `{ "*_seconds" = [0.01, 0.1, 1, 10], "kernel_queue_depth" = [1, 10, 100] }`.
    /// An exact name wins; then the pattern with the most literal text.
    pub histogram_buckets: BTreeMap<String, Vec<f64>>,
    /// Buckets of facade histograms no pattern matches (default: the
    /// Prometheus client default, 0.005 … 10).
    pub default_histogram_buckets: Vec<f64>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            prefix: "aureus".to_owned(),
            global_labels: BTreeMap::new(),
            cardinality_limit: 1000,
            duration_buckets_ms: DEFAULT_DURATION_BUCKETS_MS.to_vec(),
            duration_unit: DurationUnit::Milliseconds,
            summary_retention: "7days".to_owned(),
            summary_bucket: "10s".to_owned(),
            global_recorder: GlobalRecorder::Install,
            histogram_buckets: BTreeMap::new(),
            default_histogram_buckets: DEFAULT_HISTOGRAM_BUCKETS.to_vec(),
        }
    }
}

/// `[server]`: the HTTP listener serving `/metrics` (and the dashboard later).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Serve at all (default true; env `AUREUS_METRICS_LISTEN=off` disables).
    pub enabled: bool,
    /// Address to listen on (default `127.0.0.1:9464`; port 0 picks a free one;
    /// env `AUREUS_METRICS_LISTEN`).
    pub listen: String,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`
    /// (env `AUREUS_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            enabled: true,
            listen: "127.0.0.1:9464".to_owned(),
            metrics_token: None,
        }
    }
}
