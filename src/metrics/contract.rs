//! The metric contract: names, types, labels and help texts (DESIGN's table).

/// Default buckets of `<prefix>_task_duration_ms`, in milliseconds: 5 ms … 10 min.
pub const DEFAULT_DURATION_BUCKETS_MS: [f64; 16] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0, 60_000.0, 120_000.0,
    300_000.0, 600_000.0,
];

/// The value an overflowing label takes once its metric hit the cardinality limit.
pub const OVERFLOW_LABEL_VALUE: &str = "other";

/// The value a label takes when the event lacks the field.
pub const MISSING_LABEL_VALUE: &str = "unknown";

/// The unit of the task-duration histogram.
///
/// The contract's name is `<prefix>_task_duration_ms` (milliseconds, the
/// default). Prometheus naming conventions (and `promtool check metrics`)
/// prefer base units: [`DurationUnit::Seconds`] exports
/// `<prefix>_task_duration_seconds` instead, with values and buckets in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    /// `<prefix>_task_duration_ms`, values in milliseconds (the contract).
    #[default]
    Milliseconds,
    /// `<prefix>_task_duration_seconds`, values in seconds.
    Seconds,
}

impl DurationUnit {
    /// The histogram name's suffix.
    fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Milliseconds => "task_duration_ms",
            DurationUnit::Seconds => "task_duration_seconds",
        }
    }

    /// The UCUM unit of the OTLP histogram (`ms` or `s`).
    pub(crate) fn otlp_unit(self) -> &'static str {
        match self {
            DurationUnit::Milliseconds => "ms",
            DurationUnit::Seconds => "s",
        }
    }

    /// Factor from milliseconds to this unit.
    pub(crate) fn per_millisecond(self) -> f64 {
        match self {
            DurationUnit::Milliseconds => 1.0,
            DurationUnit::Seconds => 0.001,
        }
    }
}

/// Full metric names for one prefix.
#[derive(Debug, Clone)]
pub struct MetricNames {
    /// `<prefix>_tasks_started_total{task_type}`
    pub tasks_started: String,
    /// `<prefix>_tasks_completed_total{task_type,success}`
    pub tasks_completed: String,
    /// `<prefix>_task_duration_ms{task_type,success}` (histogram; `_seconds` with [`DurationUnit::Seconds`])
    pub task_duration: String,
    /// `<prefix>_tool_calls_total{tool_name}`
    pub tool_calls: String,
    /// `<prefix>_crv_checks_total{gate_name,passed,blocked}`
    pub crv_checks: String,
    /// `<prefix>_policy_checks_total{allowed,requires_approval}`
    pub policy_checks: String,
    /// `<prefix>_snapshots_total`
    pub snapshots: String,
    /// `<prefix>_rollbacks_total`
    pub rollbacks: String,
    /// `<prefix>_telemetry_cardinality_overflow_total{metric}`
    pub cardinality_overflow: String,
    /// `<prefix>_telemetry_records_total{sink}`: records each sink delivered.
    pub sink_records: String,
    /// `<prefix>_telemetry_dropped_total{sink,reason}`
    pub sink_dropped: String,
    /// `<prefix>_telemetry_errors_total{sink}`: records a sink failed to deliver.
    pub sink_errors: String,
    /// `<prefix>_telemetry_queue_depth{sink}` (gauge)
    pub sink_queue_depth: String,
    /// `<prefix>_telemetry_file_retention_deleted_files_total{sink}`: rotated
    /// files a file sink's retention deleted (always the oldest).
    pub file_retention_deleted_files: String,
    /// `<prefix>_telemetry_file_retention_deleted_bytes_total{sink}`: their
    /// on-disk bytes.
    pub file_retention_deleted_bytes: String,
    /// `<prefix>_telemetry_file_reopens_total{sink}`: times a file sink
    /// reopened its file after it was deleted, moved away or could not be opened.
    pub file_reopens: String,
    /// `<prefix>_telemetry_sampled_out_total{kind}`
    pub sampled_out: String,
    /// `<prefix>_telemetry_otlp_exported_total{signal}`: spans, log records
    /// and metric exports the collector accepted.
    pub otlp_exported: String,
    /// `<prefix>_telemetry_otlp_dropped_total{signal,reason}`
    pub otlp_dropped: String,
    /// `<prefix>_telemetry_otlp_export_errors_total{signal}`: export calls
    /// that failed after all retries.
    pub otlp_export_errors: String,
    /// `<prefix>_telemetry_propagation_rejected_total{header}`: malformed
    /// `traceparent` / `tracestate` / `baggage` headers refused by [`crate::propagation`].
    pub propagation_rejected: String,
    /// `<prefix>_telemetry_otlp_export_duration_seconds{signal}` (histogram):
    /// how long each OTLP export call took, retries included.
    pub otlp_export_duration: String,
    /// `<prefix>_telemetry_refused_values_total{field,reason}`: field values
    /// a metric could not use (`step_end.duration_ms` that is `nan`,
    /// `infinite`, `negative` or `missing`), so that every gap between
    /// `tasks_completed` and the duration histogram's `_count` is counted.
    pub refused_values: String,
    /// `<prefix>_telemetry_refused_series_total{reason}`: series `/metrics`
    /// could not express (invalid names, colliding labels, type conflicts).
    pub refused_series: String,
    /// `<prefix>_llm_cost_usd_total{model}`: US dollars spent on LLM calls
    /// (the `cost_usd` of `llm_response` events), a counter with fractional values.
    pub llm_cost: String,
}

impl MetricNames {
    /// The names under `prefix` (e.g. `aureus`), the duration histogram in `unit`.
    pub fn new(prefix: &str, unit: DurationUnit) -> Self {
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        MetricNames {
            tasks_started: name("tasks_started_total"),
            tasks_completed: name("tasks_completed_total"),
            task_duration: name(unit.suffix()),
            tool_calls: name("tool_calls_total"),
            crv_checks: name("crv_checks_total"),
            policy_checks: name("policy_checks_total"),
            snapshots: name("snapshots_total"),
            rollbacks: name("rollbacks_total"),
            cardinality_overflow: name("telemetry_cardinality_overflow_total"),
            sink_records: name("telemetry_records_total"),
            sink_dropped: name("telemetry_dropped_total"),
            sink_errors: name("telemetry_errors_total"),
            sink_queue_depth: name("telemetry_queue_depth"),
            file_retention_deleted_files: name("telemetry_file_retention_deleted_files_total"),
            file_retention_deleted_bytes: name("telemetry_file_retention_deleted_bytes_total"),
            file_reopens: name("telemetry_file_reopens_total"),
            sampled_out: name("telemetry_sampled_out_total"),
            otlp_exported: name("telemetry_otlp_exported_total"),
            otlp_dropped: name("telemetry_otlp_dropped_total"),
            otlp_export_errors: name("telemetry_otlp_export_errors_total"),
            propagation_rejected: name("telemetry_propagation_rejected_total"),
            otlp_export_duration: name("telemetry_otlp_export_duration_seconds"),
            refused_values: name("telemetry_refused_values_total"),
            refused_series: name("telemetry_refused_series_total"),
            llm_cost: name("llm_cost_usd_total"),
        }
    }

    /// Every name with its help text, for the exposition's `# HELP` lines.
    pub(crate) fn descriptions(&self) -> [(&str, &'static str); 25] {
        [
            (&self.tasks_started, "Task steps started (step_start events)."),
            (
                &self.tasks_completed,
                "Task steps completed (step_end events), by outcome.",
            ),
            (
                &self.task_duration,
                if self.task_duration.ends_with("_seconds") {
                    "Task step duration in seconds (step_end.duration_ms / 1000)."
                } else {
                    "Task step duration in milliseconds (step_end.duration_ms)."
                },
            ),
            (&self.tool_calls, "Tool calls made by tasks (tool_call events)."),
            (&self.crv_checks, "CRV gate checks (crv_result events), by outcome."),
            (&self.policy_checks, "Policy checks (policy_check events), by outcome."),
            (&self.snapshots, "Snapshots committed (snapshot_commit events)."),
            (&self.rollbacks, "Rollbacks to a snapshot (rollback events)."),
            (
                &self.cardinality_overflow,
                "Events whose label set exceeded the metric's cardinality limit and was folded into `other`.",
            ),
            (&self.sink_records, "Records delivered by each telemetry sink."),
            (&self.sink_dropped, "Records dropped by each telemetry sink, by reason."),
            (
                &self.sink_errors,
                "Records each telemetry sink failed to deliver (errors and panics).",
            ),
            (
                &self.sink_queue_depth,
                "Records waiting in each telemetry sink's queue.",
            ),
            (
                &self.file_retention_deleted_files,
                "Rotated files each file sink's retention deleted (always the oldest).",
            ),
            (
                &self.file_retention_deleted_bytes,
                "On-disk bytes of the rotated files each file sink's retention deleted.",
            ),
            (
                &self.file_reopens,
                "Times each file sink reopened its file after it was deleted, moved away or could not be opened.",
            ),
            (
                &self.sampled_out,
                "Records kept from sinks and the store by head sampling, by event kind.",
            ),
            (
                &self.otlp_exported,
                "Spans, log records and metric exports the OTLP collector accepted, by signal.",
            ),
            (
                &self.otlp_dropped,
                "Spans, log records and metric exports lost before or during OTLP export, by signal and reason.",
            ),
            (
                &self.otlp_export_errors,
                "OTLP export calls that failed after all retries, by signal.",
            ),
            (
                &self.propagation_rejected,
                "Malformed traceparent / baggage headers ignored, by header.",
            ),
            (
                &self.otlp_export_duration,
                "Duration of each OTLP export call in seconds, retries included, by signal.",
            ),
            (
                &self.refused_values,
                "Field values a metric could not use (e.g. a NaN or negative step_end.duration_ms), by field and reason.",
            ),
            (
                &self.refused_series,
                "Series the exposition refused (invalid name or label, type conflict), by reason.",
            ),
            (
                &self.llm_cost,
                "US dollars spent on LLM calls (llm_response.cost_usd, from the price table), by model.",
            ),
        ]
    }
}

/// Whether `prefix` can start the crate's metric names: a metric name of the
/// data model (`[a-zA-Z_][a-zA-Z0-9_]*` — no `:`, which Prometheus keeps for
/// recording rules) not in the reserved `__` namespace.
pub(crate) fn is_valid_prefix(prefix: &str) -> bool {
    super::text::is_metric_name(prefix) && !prefix.contains(':')
}

/// Defines the label-name constants and [`LABEL_NAMES`], the list of them all,
/// from one table, so that the list cannot miss a constant.
macro_rules! label_names {
    ($($(#[$doc:meta])* $constant:ident = $name:literal;)*) => {
        /// The names of the labels the crate's own series carry.
        pub(crate) mod label {
            $($(#[$doc])* pub(crate) const $constant: &str = $name;)*
        }
        /// Every label name the crate's own series carry (contract metrics,
        /// self-metrics, alert gauges). A global label may use none of them:
        /// it would collide with the series' own label.
        pub(crate) const LABEL_NAMES: &[&str] = &[$($name),*];
    };
}

label_names! {
    /// `tasks_started_total`, `tasks_completed_total`, `task_duration_*`.
    TASK_TYPE = "task_type";
    /// `tasks_completed_total`, `task_duration_*`.
    SUCCESS = "success";
    /// `tool_calls_total`.
    TOOL_NAME = "tool_name";
    /// `crv_checks_total`.
    GATE_NAME = "gate_name";
    /// `crv_checks_total`.
    PASSED = "passed";
    /// `crv_checks_total`.
    BLOCKED = "blocked";
    /// `policy_checks_total`.
    ALLOWED = "allowed";
    /// `policy_checks_total`.
    REQUIRES_APPROVAL = "requires_approval";
    /// `telemetry_cardinality_overflow_total`.
    METRIC = "metric";
    /// The pipeline's per-sink self-metrics.
    SINK = "sink";
    /// `telemetry_dropped_total`, `telemetry_otlp_dropped_total`, `telemetry_refused_series_total`,
    /// `telemetry_refused_values_total`.
    REASON = "reason";
    /// `telemetry_sampled_out_total`.
    KIND = "kind";
    /// `telemetry_refused_values_total`: the field whose value was refused.
    FIELD = "field";
    /// The OTLP self-metrics.
    SIGNAL = "signal";
    /// `telemetry_propagation_rejected_total`.
    HEADER = "header";
    /// `alerts_firing`.
    ALERT = "alert";
    /// `alerts_firing`.
    SEVERITY = "severity";
    /// `llm_cost_usd_total`.
    MODEL = "model";
    /// `gen_ai_client_*` (OTLP: `gen_ai.operation.name`).
    GEN_AI_OPERATION_NAME = "gen_ai_operation_name";
    /// `gen_ai_client_*` (OTLP: `gen_ai.provider.name`).
    GEN_AI_PROVIDER_NAME = "gen_ai_provider_name";
    /// `gen_ai_client_*` (OTLP: `gen_ai.request.model`).
    GEN_AI_REQUEST_MODEL = "gen_ai_request_model";
    /// `gen_ai_client_token_usage` (OTLP: `gen_ai.token.type`).
    GEN_AI_TOKEN_TYPE = "gen_ai_token_type";
    /// `gen_ai_client_operation_duration_seconds` (OTLP: `error.type`).
    ERROR_TYPE = "error_type";
}

/// The conventions' attribute key of a `gen_ai_client_*` label.
pub(crate) fn genai_attribute_key(label: &str) -> Option<&'static str> {
    use crate::event::semconv::attr;
    Some(match label {
        label::GEN_AI_OPERATION_NAME => attr::OPERATION_NAME,
        label::GEN_AI_PROVIDER_NAME => attr::PROVIDER_NAME,
        label::GEN_AI_REQUEST_MODEL => attr::REQUEST_MODEL,
        label::GEN_AI_TOKEN_TYPE => attr::TOKEN_TYPE,
        label::ERROR_TYPE => attr::ERROR_TYPE,
        _ => return None,
    })
}

/// Checks a global label: a valid, unreserved Prometheus label name, a
/// non-empty value, and no label the crate's own series carry.
///
/// # Errors
///
/// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming
/// `metrics.global_labels.<name>`.
pub(crate) fn check_global_label(name: &str, value: &str) -> crate::Result<()> {
    super::recorder::check_global_label(name, value)?;
    if LABEL_NAMES.contains(&name) {
        return Err(crate::Error::config(
            format!("metrics.global_labels.{name}"),
            value,
            format!(
                "`{name}` is a label of the crate's own series; a global label of that name would \
                 replace it. Taken: {}",
                LABEL_NAMES.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Bucket bounds of the OTLP export-duration histogram, in seconds.
pub(crate) const EXPORT_DURATION_BUCKETS_S: [f64; 13] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
