//! The `[otlp]` section: export of spans, logs and metrics to an
//! OpenTelemetry collector, and its validation.
//!
//! Settings shared by the three signals live at the top of the section; each
//! signal's table (`[otlp.traces]`, `[otlp.logs]`, `[otlp.metrics]`) may
//! override them. The standard `OTEL_EXPORTER_OTLP_*` variables map onto the
//! same keys (see [`crate::config::Config::apply_env`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::validate::parse_interval;
use crate::error::{Error, Result};
use crate::pipeline::OverflowPolicy;

/// The wire format of an OTLP exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (HTTP/2, tonic); default port 4317.
    #[serde(rename = "grpc")]
    Grpc,
    /// Protobuf over HTTP/1.1 POST; default port 4318.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// JSON over HTTP/1.1 POST; default port 4318.
    #[serde(rename = "http/json")]
    HttpJson,
}

impl OtlpProtocol {
    /// Parses the spelling of `OTEL_EXPORTER_OTLP_PROTOCOL`, ignoring case
    /// (an enum value, which the specification reads case-insensitively)
    /// and surrounding whitespace.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "grpc" => Some(OtlpProtocol::Grpc),
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            "http/json" => Some(OtlpProtocol::HttpJson),
            _ => None,
        }
    }

    /// The spelling used by `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "http://localhost:4317",
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => "http://localhost:4318",
        }
    }
}

/// `[otlp]`: export to an OpenTelemetry collector (off by default; setting
/// `OTEL_EXPORTER_OTLP_ENDPOINT` or a per-signal endpoint turns it on).
///
/// ```
/// let config = aureus_observability::Config::from_toml_str(r#"
///     [otlp]
///     enabled = true
///     endpoint = "http://127.0.0.1:4317"
///     protocol = "grpc"
///     compression = "gzip"
///     headers = { authorization = "Bearer s3cret" }
///     [otlp.metrics]
///     interval = "5s"
/// "#)?;
/// assert!(config.otlp.enabled);
/// # Ok::<(), aureus_observability::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// Export at all (default false).
    pub enabled: bool,
    /// Base URL; for HTTP the signal's relative path `v1/traces` (`v1/logs`,
    /// `v1/metrics`) is appended after a `/` (added if the base does not end
    /// with one): `http://h:4318` and `http://h:4318/` → `http://h:4318/v1/traces`,
    /// `http://h:4318/prefix` → `http://h:4318/prefix/v1/traces`; a query is
    /// kept after the path. gRPC uses it as is
    /// (env `OTEL_EXPORTER_OTLP_ENDPOINT`). Default `http://localhost:4318`
    /// (`:4317` for gRPC). `https://` turns TLS on.
    pub endpoint: Option<String>,
    /// `grpc`, `http/protobuf` (default) or `http/json` (env `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: Option<OtlpProtocol>,
    /// Headers (gRPC metadata) sent with every export, e.g. authorization
    /// (env `OTEL_EXPORTER_OTLP_HEADERS`, `k=v,k=v`, percent-encoded). A
    /// signal with headers of its own sends those instead (see
    /// [`OtlpSignalConfig::headers`]).
    pub headers: BTreeMap<String, String>,
    /// `gzip` or `none` (default) (env `OTEL_EXPORTER_OTLP_COMPRESSION`).
    pub compression: Option<String>,
    /// Deadline of one export including its retries, e.g. `10s` (default)
    /// (env `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds).
    pub timeout: Option<String>,
    /// PEM file with the CA certificate(s) that sign the collector's
    /// certificate, for `https://` endpoints (env `OTEL_EXPORTER_OTLP_CERTIFICATE`).
    /// Without it the Mozilla roots (webpki-roots) are trusted.
    pub ca_file: Option<PathBuf>,
    /// Batching and queueing of spans and log records.
    pub batch: OtlpBatchConfig,
    /// Retries of failed exports.
    pub retry: OtlpRetryConfig,
    /// Span export (`[otlp.traces]`).
    pub traces: OtlpSignalConfig,
    /// Log-record export (`[otlp.logs]`).
    pub logs: OtlpSignalConfig,
    /// Metric export (`[otlp.metrics]`); needs `[metrics]` enabled.
    pub metrics: OtlpSignalConfig,
}

/// Which aggregation temporality the OTLP metric exporter asks for, per
/// instrument kind (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`,
/// OpenTelemetry OTLP exporter specification): the same for every protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum MetricTemporality {
    /// Cumulative for every instrument (the default).
    #[default]
    #[serde(rename = "cumulative")]
    Cumulative,
    /// Delta for counters and histograms; cumulative for up-down counters.
    #[serde(rename = "delta")]
    Delta,
    /// Delta for synchronous counters and histograms; cumulative otherwise.
    #[serde(rename = "lowmemory")]
    LowMemory,
}

impl MetricTemporality {
    /// Parses the spelling of
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, ignoring case and
    /// surrounding whitespace.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Some(MetricTemporality::Cumulative),
            "delta" => Some(MetricTemporality::Delta),
            "lowmemory" => Some(MetricTemporality::LowMemory),
            _ => None,
        }
    }

    /// The SDK's value.
    pub(crate) fn sdk(self) -> opentelemetry_sdk::metrics::Temporality {
        use opentelemetry_sdk::metrics::Temporality;
        match self {
            MetricTemporality::Cumulative => Temporality::Cumulative,
            MetricTemporality::Delta => Temporality::Delta,
            MetricTemporality::LowMemory => Temporality::LowMemory,
        }
    }
}

/// One signal's table: everything optional, falling back to `[otlp]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSignalConfig {
    /// Export this signal (default true when `[otlp]` is enabled; env
    /// `OTEL_TRACES_EXPORTER` / `OTEL_LOGS_EXPORTER` / `OTEL_METRICS_EXPORTER` = `none` turns it off).
    pub enabled: bool,
    /// The FULL URL for this signal, used as is (nothing is appended; a URL
    /// without a path posts to the root path `/`), e.g.
    /// `http://collector:4318/v1/logs` (env `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Overrides `otlp.protocol` (env `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`).
    pub protocol: Option<OtlpProtocol>,
    /// This signal's headers, sent INSTEAD of `otlp.headers` when not empty
    /// (the OTLP exporter specification: a signal-specific option overrides
    /// the generic one; the two lists are not merged)
    /// (env `OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`).
    pub headers: BTreeMap<String, String>,
    /// Overrides `otlp.compression` (env `OTEL_EXPORTER_OTLP_<SIGNAL>_COMPRESSION`).
    pub compression: Option<String>,
    /// Overrides `otlp.timeout` (env `OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT`, ms).
    pub timeout: Option<String>,
    /// Overrides `otlp.ca_file` (env `OTEL_EXPORTER_OTLP_<SIGNAL>_CERTIFICATE`).
    pub ca_file: Option<PathBuf>,
    /// Metrics only: how often metrics are exported, e.g. `10s` (default 10 s;
    /// env `OTEL_METRIC_EXPORT_INTERVAL`, ms).
    pub interval: Option<String>,
    /// Metrics only: the aggregation temporality asked for, `cumulative`
    /// (default), `delta` or `lowmemory`, whatever the protocol (env
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    pub temporality: Option<MetricTemporality>,
    /// Traces and logs only: batching settings of this signal, each falling
    /// back to `[otlp.batch]` (env `OTEL_BSP_*` for spans, `OTEL_BLRP_*` for
    /// log records).
    pub batch: OtlpSignalBatch,
}

/// `[otlp.traces.batch]` / `[otlp.logs.batch]`: one signal's batching, each
/// key falling back to `[otlp.batch]`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSignalBatch {
    /// Overrides `otlp.batch.queue_capacity` (env `OTEL_BSP_MAX_QUEUE_SIZE`
    /// for spans, `OTEL_BLRP_MAX_QUEUE_SIZE` for log records).
    pub queue_capacity: Option<usize>,
    /// Overrides `otlp.batch.max_batch` (env `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`).
    pub max_batch: Option<usize>,
    /// Overrides `otlp.batch.interval` (env `OTEL_BSP_SCHEDULE_DELAY`,
    /// `OTEL_BLRP_SCHEDULE_DELAY`, ms).
    pub interval: Option<String>,
}

impl Default for OtlpSignalConfig {
    fn default() -> Self {
        OtlpSignalConfig {
            enabled: true,
            endpoint: None,
            protocol: None,
            headers: BTreeMap::new(),
            compression: None,
            timeout: None,
            ca_file: None,
            interval: None,
            temporality: None,
            batch: OtlpSignalBatch::default(),
        }
    }
}

/// `[otlp.batch]`: how spans and log records are queued and batched (each
/// signal may override it in `[otlp.traces.batch]` / `[otlp.logs.batch]`).
///
/// ```
/// let config = aureus_observability::Config::from_toml_str(r#"
///     [otlp]
///     enabled = true
///     [otlp.batch]
///     overflow = "block"   # lossless: a full queue makes the producer wait
/// "#)?;
/// assert_eq!(config.otlp.batch.overflow, aureus_observability::pipeline::OverflowPolicy::Block);
/// # Ok::<(), aureus_observability::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpBatchConfig {
    /// Records (or spans) held per signal before the queue is full
    /// (default 8192).
    pub queue_capacity: usize,
    /// Bytes the queued spans (or log records) of one signal may hold
    /// before the queue is full, e.g. `"16MiB"` (default). Bounds memory
    /// while the collector is away whatever the spans carry (a long workflow
    /// span holds up to 128 events); the byte count is an estimate of the
    /// heap each item holds.
    pub queue_max_bytes: String,
    /// What a full queue (by count or by bytes) does to a new span or log
    /// record: `drop` (default) drops it and counts it as `queue_full`, never
    /// waiting; `block` makes the thread that ends the span or emits the
    /// record wait for room — lossless while the collector keeps up, at the
    /// price of back-pressure on the instrumented code when it does not. A
    /// blocked thread is released (its item counted as `dropped_closed`)
    /// when telemetry shuts down. Exports that fail after their retries are
    /// still counted as failed, and the `otlp` log sink's circuit breaker
    /// still sheds records while a failing collector is backed off.
    pub overflow: OverflowPolicy,
    /// Most records per export request (default 512; at most `queue_capacity`).
    pub max_batch: usize,
    /// Longest a record waits for its batch to fill, e.g. `1s` (default).
    pub interval: String,
}

impl Default for OtlpBatchConfig {
    fn default() -> Self {
        OtlpBatchConfig {
            queue_capacity: 8192,
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES.to_owned(),
            overflow: OverflowPolicy::Drop,
            max_batch: 512,
            interval: "1s".to_owned(),
        }
    }
}

/// `[otlp.retry]`: exponential backoff with jitter for failed exports.
/// Retried: gRPC `UNAVAILABLE`/`RESOURCE_EXHAUSTED`…, HTTP 429/502/503/504 and
/// connection failures; a server's `Retry-After` (HTTP) or `RetryInfo` (gRPC)
/// replaces the computed delay. All attempts fit within the export timeout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpRetryConfig {
    /// Retries after the first attempt (default 3; 0 turns retrying off).
    pub max_retries: usize,
    /// First backoff, e.g. `100ms` (default); doubles per retry.
    pub initial_delay: String,
    /// Longest backoff (default `1600ms`).
    pub max_delay: String,
    /// Random extra delay of up to this much (default `100ms`).
    pub max_jitter: String,
}

impl Default for OtlpRetryConfig {
    fn default() -> Self {
        OtlpRetryConfig {
            max_retries: 3,
            initial_delay: "100ms".to_owned(),
            max_delay: "1600ms".to_owned(),
            max_jitter: "100ms".to_owned(),
        }
    }
}

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

/// One signal's resolved exporter settings.
#[derive(Debug, Clone)]
pub(crate) struct ValidatedSignal {
    pub(crate) signal: Signal,
    /// The URL the exporter posts to (gRPC: the collector's base URL).
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    /// PEM bytes of the CA file, read at validation.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// Whether the endpoint is `https://`.
    pub(crate) tls: bool,
    /// Queueing and batching (spans and log records; metrics ignore it).
    pub(crate) batch: ValidatedBatch,
}

/// One signal's resolved batching.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValidatedBatch {
    pub(crate) queue_capacity: usize,
    /// What a full queue does (`otlp.batch.overflow`).
    pub(crate) overflow: OverflowPolicy,
    /// Bytes the signal's queue may hold (`otlp.batch.queue_max_bytes`).
    pub(crate) queue_max_bytes: u64,
    pub(crate) max_batch: usize,
    pub(crate) interval: Duration,
}

/// Resolved `[otlp]`.
#[derive(Debug, Clone)]
pub(crate) struct ValidatedOtlp {
    pub(crate) traces: Option<ValidatedSignal>,
    pub(crate) logs: Option<ValidatedSignal>,
    pub(crate) metrics: Option<ValidatedSignal>,
    pub(crate) metrics_interval: Duration,
    /// `otlp.metrics.temporality`.
    pub(crate) metrics_temporality: MetricTemporality,
    pub(crate) retry: ValidatedRetry,
}

/// Resolved `[otlp.retry]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValidatedRetry {
    pub(crate) max_retries: usize,
    pub(crate) initial_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_jitter: Duration,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default byte bound of one signal's queue.
pub(crate) const DEFAULT_QUEUE_MAX_BYTES: &str = "16MiB";

/// The largest `queue_capacity` accepted (2^20 records per signal).
pub(crate) const MAX_QUEUE_CAPACITY: usize = 1 << 20;

pub(crate) fn validate_otlp(otlp: &OtlpConfig, metrics_enabled: bool) -> Result<Option<ValidatedOtlp>> {
    if !otlp.enabled {
        return Ok(None);
    }
    let retry = &otlp.retry;
    let retry = ValidatedRetry {
        max_retries: retry.max_retries,
        initial_delay: parse_interval("otlp.retry.initial_delay", Some(&retry.initial_delay))?.unwrap_or_default(),
        max_delay: parse_interval("otlp.retry.max_delay", Some(&retry.max_delay))?.unwrap_or_default(),
        max_jitter: parse_interval("otlp.retry.max_jitter", Some(&retry.max_jitter))?.unwrap_or_default(),
    };
    let metrics_interval = match &otlp.metrics.interval {
        Some(raw) => positive("otlp.metrics.interval", raw)?,
        None => Duration::from_secs(10),
    };
    for (name, signal) in [("traces", &otlp.traces), ("logs", &otlp.logs)] {
        if let Some(temporality) = signal.temporality {
            return Err(Error::config(
                format!("otlp.{name}.temporality"),
                format!("{temporality:?}"),
                "only [otlp.metrics] has a temporality",
            ));
        }
        if signal.interval.is_some() {
            return Err(Error::config(
                format!("otlp.{name}.interval"),
                signal.interval.as_deref().unwrap_or_default(),
                "only [otlp.metrics] has an interval; spans and logs use otlp.batch.interval",
            ));
        }
    }
    if otlp.metrics.batch != OtlpSignalBatch::default() {
        return Err(Error::config(
            "otlp.metrics.batch",
            format!("{:?}", otlp.metrics.batch),
            "metrics are not batched; they are exported every otlp.metrics.interval",
        ));
    }
    // Checked even when every signal is off, so a bad shared value is never silently kept.
    resolve_batch(otlp, Signal::Metrics)?;
    let traces = resolve_signal(otlp, Signal::Traces)?;
    let logs = resolve_signal(otlp, Signal::Logs)?;
    let metrics = resolve_signal(otlp, Signal::Metrics)?;
    if metrics.is_some() && !metrics_enabled {
        return Err(Error::config(
            "otlp.metrics.enabled",
            "true",
            "OTLP metrics mirror [metrics]; enable [metrics] or set otlp.metrics.enabled = false",
        ));
    }
    Ok(Some(ValidatedOtlp {
        traces,
        logs,
        metrics,
        metrics_interval,
        metrics_temporality: otlp.metrics.temporality.unwrap_or_default(),
        retry,
    }))
}

fn positive(key: &str, raw: &str) -> Result<Duration> {
    match parse_interval(key, Some(raw))? {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(Error::config(key, raw, "must be a positive duration such as `1s`")),
    }
}

fn signal_config(otlp: &OtlpConfig, signal: Signal) -> &OtlpSignalConfig {
    match signal {
        Signal::Traces => &otlp.traces,
        Signal::Logs => &otlp.logs,
        Signal::Metrics => &otlp.metrics,
    }
}

/// The signal's batching: its own `[otlp.<signal>.batch]` keys, else `[otlp.batch]`.
fn resolve_batch(otlp: &OtlpConfig, signal: Signal) -> Result<ValidatedBatch> {
    let own = &signal_config(otlp, signal).batch;
    let name = signal.as_str();
    let pick = |own_set: bool, field: &str| {
        if own_set {
            format!("otlp.{name}.batch.{field}")
        } else {
            format!("otlp.batch.{field}")
        }
    };
    let (queue_capacity, queue_key) = (
        own.queue_capacity.unwrap_or(otlp.batch.queue_capacity),
        pick(own.queue_capacity.is_some(), "queue_capacity"),
    );
    // A signal with its own queue size but the shared batch size gets a batch
    // no larger than its queue (as the SDKs do for the spec's default of 512).
    let max_batch = match own.max_batch {
        Some(n) => n,
        None if own.queue_capacity.is_some() => otlp.batch.max_batch.min(queue_capacity),
        None => otlp.batch.max_batch,
    };
    let batch_key = pick(own.max_batch.is_some(), "max_batch");
    let (interval, interval_key) = (
        own.interval.as_deref().unwrap_or(&otlp.batch.interval),
        pick(own.interval.is_some(), "interval"),
    );
    if queue_capacity == 0 {
        return Err(Error::config(queue_key, "0", "must be at least 1"));
    }
    if max_batch == 0 {
        return Err(Error::config(batch_key, "0", "must be at least 1"));
    }
    if queue_capacity > MAX_QUEUE_CAPACITY {
        return Err(Error::config(
            queue_key,
            queue_capacity.to_string(),
            format!("must be at most {MAX_QUEUE_CAPACITY} (the queue is allocated up front)"),
        ));
    }
    if max_batch > queue_capacity {
        return Err(Error::config(
            batch_key,
            max_batch.to_string(),
            format!("must be at most the queue capacity ({queue_key} = {queue_capacity})"),
        ));
    }
    let queue_max_bytes = super::validate::parse_size("otlp.batch.queue_max_bytes", Some(&otlp.batch.queue_max_bytes))?
        .unwrap_or(16 << 20);
    Ok(ValidatedBatch {
        queue_capacity,
        overflow: otlp.batch.overflow,
        queue_max_bytes,
        max_batch,
        interval: positive(&interval_key, interval)?,
    })
}

/// The signal's settings, or `None` when it is switched off.
fn resolve_signal(otlp: &OtlpConfig, signal: Signal) -> Result<Option<ValidatedSignal>> {
    let own = signal_config(otlp, signal);
    if !own.enabled {
        return Ok(None);
    }
    resolve_enabled_signal(otlp, own, signal).map(Some)
}

fn resolve_enabled_signal(otlp: &OtlpConfig, own: &OtlpSignalConfig, signal: Signal) -> Result<ValidatedSignal> {
    let name = signal.as_str();
    let protocol = own.protocol.or(otlp.protocol).unwrap_or(OtlpProtocol::HttpProtobuf);
    let (endpoint, key) = match (&own.endpoint, &otlp.endpoint) {
        (Some(full), _) => {
            let key = format!("otlp.{name}.endpoint");
            check_url(&key, full.trim())?;
            (signal_url_as_is(full.trim(), protocol), key)
        }
        (None, Some(base)) => {
            check_url("otlp.endpoint", base.trim())?;
            (signal_url(base.trim(), protocol, signal), "otlp.endpoint".to_owned())
        }
        (None, None) => (
            signal_url(protocol.default_endpoint(), protocol, signal),
            "otlp.endpoint".to_owned(),
        ),
    };
    let tls = check_url(&key, &endpoint)?;
    // A signal's own headers replace the shared ones (never merged).
    let (headers, headers_key) = if own.headers.is_empty() {
        (&otlp.headers, "otlp.headers".to_owned())
    } else {
        (&own.headers, format!("otlp.{name}.headers"))
    };
    for (header, value) in headers {
        let valid_name = http::HeaderName::from_bytes(header.as_bytes()).is_ok();
        if !valid_name || header.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Error::config(
                format!("{headers_key}.{header}"),
                header,
                "not a valid lower-case header name",
            ));
        }
        if !valid_header_value(value) {
            return Err(Error::config(
                format!("{headers_key}.{header}"),
                "<hidden>",
                "the value has characters a header cannot carry (only printable ASCII, space and tab)",
            ));
        }
    }
    let (compression, compression_key) = match &own.compression {
        Some(c) => (Some(c), format!("otlp.{name}.compression")),
        None => (otlp.compression.as_ref(), "otlp.compression".to_owned()),
    };
    let gzip = match compression.map(|c| c.trim()) {
        None | Some("none") | Some("") => false,
        Some("gzip") => true,
        Some(other) => return Err(Error::config(compression_key, other, "use `gzip` or `none`")),
    };
    let (timeout, timeout_key) = match &own.timeout {
        Some(t) => (Some(t), format!("otlp.{name}.timeout")),
        None => (otlp.timeout.as_ref(), "otlp.timeout".to_owned()),
    };
    let timeout = match timeout {
        Some(raw) => positive(&timeout_key, raw)?,
        None => DEFAULT_TIMEOUT,
    };
    let (ca_file, ca_key) = match &own.ca_file {
        Some(path) => (Some(path), format!("otlp.{name}.ca_file")),
        None => (otlp.ca_file.as_ref(), "otlp.ca_file".to_owned()),
    };
    let ca_pem = match ca_file {
        Some(path) => Some(read_ca(&ca_key, path)?),
        None => None,
    };
    Ok(ValidatedSignal {
        signal,
        endpoint,
        protocol,
        headers: headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        gzip,
        timeout,
        ca_pem,
        tls,
        batch: resolve_batch(otlp, signal)?,
    })
}

/// Checks that `url` is an `http://` or `https://` URL with a host; returns
/// whether it is `https://`.
fn check_url(key: &str, url: &str) -> Result<bool> {
    let uri: http::Uri = url
        .parse()
        .map_err(|err: http::uri::InvalidUri| Error::config(key, url, format!("not a URL: {err}")))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(Error::config(key, url, "use an http:// or https:// URL")),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::config(key, url, "the URL has no host"));
    }
    Ok(tls)
}

/// A header value both HTTP/1.1 and gRPC metadata accept: printable ASCII,
/// space and tab, not starting or ending with whitespace.
fn valid_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) && value.trim() == value
}

/// The URL a signal posts to, from a base URL (OTLP exporter specification,
/// "Endpoint URLs for OTLP/HTTP"): HTTP appends the relative path
/// `v1/<signal>` to the base's path, after a `/` unless the path already
/// ends with one; a query stays after the path. gRPC uses the base as is.
fn signal_url(base: &str, protocol: OtlpProtocol, signal: Signal) -> String {
    match protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
            let (before_query, query) = match base.find(['?', '#']) {
                Some(at) => base.split_at(at),
                None => (base, ""),
            };
            let relative = signal.path().trim_start_matches('/');
            let slash = if before_query.ends_with('/') { "" } else { "/" };
            format!("{before_query}{slash}{relative}{query}")
        }
    }
}

/// A per-signal URL is used as is, except that an HTTP URL without a path
/// gets the root path `/` (OTLP exporter specification, example 2).
fn signal_url_as_is(full: &str, protocol: OtlpProtocol) -> String {
    if protocol == OtlpProtocol::Grpc {
        return full.to_owned();
    }
    let after_scheme = full.find("://").map_or(0, |at| at + 3);
    let (before_query, query) = match full.find(['?', '#']) {
        Some(at) => full.split_at(at),
        None => (full, ""),
    };
    if before_query.len() > after_scheme && !before_query[after_scheme..].contains('/') {
        format!("{before_query}/{query}")
    } else {
        full.to_owned()
    }
}

fn read_ca(key: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    let pem = super::read::read_bounded(path, super::MAX_CONFIG_FILE_BYTES)
        .map_err(|err| Error::config(key, path.display().to_string(), format!("cannot be read: {err}")))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(Error::config(
            key,
            path.display().to_string(),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> OtlpConfig {
        OtlpConfig {
            enabled: true,
            ..OtlpConfig::default()
        }
    }

    #[test]
    fn http_appends_the_signal_path_and_grpc_does_not() {
        let mut config = enabled();
        config.endpoint = Some("http://collector:4318/".into());
        let v = validate_otlp(&config, true).unwrap().unwrap();
        assert_eq!(v.traces.unwrap().endpoint, "http://collector:4318/v1/traces");
        assert_eq!(v.metrics.unwrap().endpoint, "http://collector:4318/v1/metrics");
        config.protocol = Some(OtlpProtocol::Grpc);
        config.endpoint = Some("https://collector:4317".into());
        let v = validate_otlp(&config, true).unwrap().unwrap();
        let logs = v.logs.unwrap();
        assert_eq!(logs.endpoint, "https://collector:4317");
        assert!(logs.tls);
    }

    #[test]
    fn endpoint_urls_follow_the_exporter_specification_examples() {
        use OtlpProtocol::{Grpc, HttpProtobuf as Http};
        for (base, signal, url) in [
            (
                "http://collector:4318",
                Signal::Traces,
                "http://collector:4318/v1/traces",
            ),
            (
                "http://collector:4318",
                Signal::Metrics,
                "http://collector:4318/v1/metrics",
            ),
            ("http://collector:4318/", Signal::Logs, "http://collector:4318/v1/logs"),
            (
                "http://collector:4318/mycollector/",
                Signal::Traces,
                "http://collector:4318/mycollector/v1/traces",
            ),
            (
                "http://collector:4318/mycollector",
                Signal::Logs,
                "http://collector:4318/mycollector/v1/logs",
            ),
            ("https://h/p?x=1", Signal::Traces, "https://h/p/v1/traces?x=1"),
            ("http://h//", Signal::Traces, "http://h//v1/traces"),
        ] {
            assert_eq!(signal_url(base, Http, signal), url, "{base}");
            assert_eq!(signal_url(base, Grpc, signal), base, "gRPC: {base}");
        }
        for (full, url) in [
            ("http://collector:4318", "http://collector:4318/"),
            (
                "https://collector.example.com/v1/metrics",
                "https://collector.example.com/v1/metrics",
            ),
            (
                "https://collector.example.com/v1/metrics/",
                "https://collector.example.com/v1/metrics/",
            ),
            ("http://h:1?x=1", "http://h:1/?x=1"),
            ("http://h:1/", "http://h:1/"),
        ] {
            assert_eq!(signal_url_as_is(full, Http), url, "{full}");
            assert_eq!(signal_url_as_is(full, Grpc), full, "gRPC: {full}");
        }
    }

    #[test]
    fn batching_is_per_signal_and_bounded() {
        let mut config = enabled();
        config.traces.batch.queue_capacity = Some(100);
        config.logs.batch.max_batch = Some(64);
        config.logs.batch.interval = Some("250ms".into());
        let v = validate_otlp(&config, true).unwrap().unwrap();
        let (traces, logs) = (v.traces.unwrap().batch, v.logs.unwrap().batch);
        assert_eq!(
            (traces.queue_capacity, traces.max_batch),
            (100, 100),
            "the shared batch is capped at the queue"
        );
        assert_eq!(traces.interval, Duration::from_secs(1));
        assert_eq!((logs.queue_capacity, logs.max_batch), (8192, 64));
        assert_eq!(logs.interval, Duration::from_millis(250));
        for (change, key) in [
            (
                Box::new(|c: &mut OtlpConfig| c.traces.batch.max_batch = Some(200)) as Box<dyn Fn(&mut OtlpConfig)>,
                "otlp.traces.batch.max_batch",
            ),
            (
                Box::new(|c: &mut OtlpConfig| c.batch.max_batch = 9000),
                "otlp.batch.max_batch",
            ),
            (
                Box::new(|c: &mut OtlpConfig| c.batch.queue_capacity = MAX_QUEUE_CAPACITY + 1),
                "otlp.batch.queue_capacity",
            ),
            (
                Box::new(|c: &mut OtlpConfig| c.metrics.batch.max_batch = Some(1)),
                "otlp.metrics.batch",
            ),
        ] {
            let mut bad = config.clone();
            change(&mut bad);
            let err = validate_otlp(&bad, true).unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn per_signal_settings_override_shared_ones() {
        let mut config = enabled();
        config.endpoint = Some("http://a:4318".into());
        config.headers.insert("x-team".into(), "core".into());
        config.compression = Some("gzip".into());
        config.logs.endpoint = Some("http://b:9999/custom".into());
        config.logs.protocol = Some(OtlpProtocol::HttpJson);
        config.logs.headers.insert("x-team".into(), "logs".into());
        config.logs.compression = Some("none".into());
        config.logs.timeout = Some("2s".into());
        config.traces.enabled = false;
        let v = validate_otlp(&config, true).unwrap().unwrap();
        assert!(v.traces.is_none());
        let logs = v.logs.unwrap();
        assert_eq!(logs.endpoint, "http://b:9999/custom");
        assert_eq!(logs.protocol, OtlpProtocol::HttpJson);
        assert_eq!(logs.headers, vec![("x-team".to_owned(), "logs".to_owned())]);
        assert!(!logs.gzip);
        assert_eq!(logs.timeout, Duration::from_secs(2));
        let metrics = v.metrics.unwrap();
        assert!(metrics.gzip);
        assert_eq!(metrics.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn bad_values_name_their_key() {
        type Change = Box<dyn Fn(&mut OtlpConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.endpoint = Some("ftp://x".into())), "otlp.endpoint"),
            (Box::new(|c| c.endpoint = Some("not a url".into())), "otlp.endpoint"),
            (Box::new(|c| c.compression = Some("zstd".into())), "otlp.compression"),
            (Box::new(|c| c.logs.timeout = Some("soon".into())), "otlp.logs.timeout"),
            (Box::new(|c| c.timeout = Some("0s".into())), "otlp.timeout"),
            (
                Box::new(|c| c.ca_file = Some("/nonexistent/ca.pem".into())),
                "/nonexistent/ca.pem",
            ),
            (
                Box::new(|c| {
                    c.headers.insert("Bad Header".into(), "v".into());
                }),
                "otlp.headers.Bad Header",
            ),
            (Box::new(|c| c.batch.max_batch = 0), "otlp.batch.max_batch"),
            (
                Box::new(|c| c.traces.interval = Some("1s".into())),
                "otlp.traces.interval",
            ),
        ];
        for (change, key) in cases {
            let mut config = enabled();
            change(&mut config);
            let err = validate_otlp(&config, true).unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn overflow_is_drop_by_default_and_block_on_request() {
        let v = validate_otlp(&enabled(), true).unwrap().unwrap();
        assert_eq!(v.traces.as_ref().unwrap().batch.overflow, OverflowPolicy::Drop);
        let config =
            crate::Config::from_toml_str("[otlp]\nenabled = true\n[otlp.batch]\noverflow = \"block\"\n").unwrap();
        let v = validate_otlp(&config.otlp, true).unwrap().unwrap();
        assert_eq!(v.logs.as_ref().unwrap().batch.overflow, OverflowPolicy::Block);
        let err = crate::Config::from_toml_str("[otlp.batch]\noverflow = \"wait\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overflow") && err.contains("wait"), "{err}");
    }

    #[test]
    fn metrics_need_the_metrics_section() {
        let err = validate_otlp(&enabled(), false).unwrap_err().to_string();
        assert!(err.contains("otlp.metrics.enabled"), "{err}");
        let mut config = enabled();
        config.metrics.enabled = false;
        assert!(validate_otlp(&config, false).is_ok());
    }
}
