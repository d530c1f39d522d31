//! Turning a [`Config`] into checked, parsed settings.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use super::{Config, SinkConfig};
use crate::correlation::CorrelationId;
use crate::error::{Error, Result};
use crate::pipeline::QueueSettings;
use crate::sinks::console::{ConsoleFormat, ConsoleStream};
use crate::sinks::file::{RetentionPolicy, RotationPolicy};

/// A configuration whose every value was parsed and checked.
#[derive(Debug)]
pub(crate) struct Validated {
    pub(crate) filter: String,
    pub(crate) max_field_bytes: usize,
    pub(crate) default_correlation_id: Option<CorrelationId>,
    pub(crate) sinks: Vec<ValidatedSink>,
    pub(crate) metrics: Option<ValidatedMetrics>,
    pub(crate) server: Option<ValidatedServer>,
    pub(crate) redactor: std::sync::Arc<crate::pipeline::Redactor>,
    pub(crate) sampler: crate::pipeline::Sampler,
    pub(crate) store: Option<ValidatedStore>,
    pub(crate) monitoring: Option<ValidatedMonitoring>,
    pub(crate) otlp: Option<super::ValidatedOtlp>,
    pub(crate) genai: super::ValidatedGenAi,
}

/// Checked `[monitoring]`.
#[derive(Debug)]
pub(crate) struct ValidatedMonitoring {
    pub(crate) token: Option<String>,
    pub(crate) prometheus_url: Option<String>,
    pub(crate) evaluate_every: Duration,
    pub(crate) rules: Vec<crate::alerts::AlertRule>,
    /// Checked `monitoring.trace_url_template`.
    pub(crate) trace_url_template: Option<String>,
}

/// Checked `[store]`.
#[derive(Debug)]
pub(crate) struct ValidatedStore {
    pub(crate) max_records: usize,
    pub(crate) max_bytes: usize,
    pub(crate) min_level: LevelFilter,
}

/// Checked `[metrics]`.
#[derive(Debug)]
pub(crate) struct ValidatedMetrics {
    pub(crate) prefix: String,
    pub(crate) global_labels: std::collections::BTreeMap<String, String>,
    pub(crate) cardinality_limit: usize,
    pub(crate) duration_buckets_ms: Vec<f64>,
    pub(crate) duration_unit: crate::metrics::DurationUnit,
    pub(crate) summary_retention: Duration,
    pub(crate) summary_bucket: Duration,
    pub(crate) facade: crate::metrics::FacadeSettings,
}

/// Checked `[server]`.
#[derive(Debug)]
pub(crate) struct ValidatedServer {
    pub(crate) listen: std::net::SocketAddr,
    pub(crate) metrics_token: Option<String>,
}

/// One checked sink.
#[derive(Debug)]
pub(crate) struct ValidatedSink {
    pub(crate) name: String,
    pub(crate) queue: QueueSettings,
    pub(crate) kind: SinkKind,
}

#[derive(Debug)]
pub(crate) enum SinkKind {
    Console {
        format: ConsoleFormat,
        stream: ConsoleStream,
        ansi: Option<bool>,
    },
    File {
        path: PathBuf,
        rotation: RotationPolicy,
        retention: RetentionPolicy,
        compress: bool,
    },
}

/// `filter` with each comma-separated directive trimmed and empty ones
/// dropped, as `EnvFilter` should see it. tracing-subscriber 0.3.23 walks a
/// directive's trimmed text but slices the untrimmed one, so `info, aureus=debug`
/// misparses its second directive and leading multi-byte whitespace
/// (e.g. U+3000) panics (found by `fuzz/fuzz_targets/config.rs`).
pub(crate) fn normalize_filter(filter: &str) -> String {
    filter
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Smallest accepted `max_field_bytes`.
const MIN_FIELD_BYTES: usize = 16;

pub(crate) fn validate(config: &Config) -> Result<Validated> {
    if config.service_name.trim().is_empty() {
        return Err(Error::config("service_name", &config.service_name, "must not be empty"));
    }
    let filter = normalize_filter(&config.log_level);
    EnvFilter::try_new(&filter)
        .map_err(|err| Error::config("log_level", &config.log_level, format!("invalid level filter: {err}")))?;
    if config.max_field_bytes < MIN_FIELD_BYTES {
        return Err(Error::config(
            "max_field_bytes",
            config.max_field_bytes.to_string(),
            format!("must be at least {MIN_FIELD_BYTES}"),
        ));
    }
    let default_correlation_id = config
        .default_correlation_id
        .as_deref()
        .map(|raw| CorrelationId::new(raw).map_err(|err| Error::config("default_correlation_id", raw, err.to_string())))
        .transpose()?;
    let mut sinks: Vec<ValidatedSink> = Vec::with_capacity(config.sinks.len());
    for (index, sink) in config.sinks.iter().enumerate() {
        let checked = validate_sink(index, sink)?;
        if sinks.iter().any(|s| s.name == checked.name) {
            return Err(Error::config(
                format!("sinks[{index}].name"),
                &checked.name,
                "another sink already has this name",
            ));
        }
        sinks.push(checked);
    }
    let metrics = validate_metrics(&config.metrics)?;
    let otlp = super::otlp::validate_otlp(&config.otlp, metrics.is_some())?;
    if otlp.as_ref().is_some_and(|o| o.logs.is_some()) {
        if let Some(index) = sinks.iter().position(|s| s.name == crate::otlp::OTLP_SINK) {
            return Err(Error::config(
                format!("sinks[{index}].name"),
                crate::otlp::OTLP_SINK,
                "reserved for the OTLP log exporter",
            ));
        }
    }
    Ok(Validated {
        filter,
        max_field_bytes: config.max_field_bytes,
        default_correlation_id,
        sinks,
        metrics,
        server: validate_server(&config.server)?,
        redactor: std::sync::Arc::new(crate::pipeline::Redactor::new(
            &config.redaction.fields,
            &config.redaction.patterns,
        )?),
        sampler: validate_sampling(&config.sampling)?,
        store: validate_store(&config.store)?,
        monitoring: validate_monitoring(&config.monitoring)?,
        otlp,
        genai: super::genai::validate_genai(&config.genai)?,
    })
}

fn validate_token(key: &str, token: &Option<String>) -> Result<()> {
    match token {
        Some(token) if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic() && c != ';') => {
            Err(Error::config(
                key,
                "<hidden>",
                "must be non-empty printable ASCII without spaces or ';'",
            ))
        }
        _ => Ok(()),
    }
}

fn validate_monitoring(monitoring: &super::MonitoringConfig) -> Result<Option<ValidatedMonitoring>> {
    if !monitoring.enabled {
        return Ok(None);
    }
    validate_token("monitoring.token", &monitoring.token)?;
    let prometheus_url = match monitoring.source {
        super::MonitoringSource::Local => None,
        super::MonitoringSource::Prometheus => {
            let url = monitoring.prometheus_url.as_deref().unwrap_or("");
            if !url.starts_with("http://") || url.len() <= "http://".len() {
                return Err(Error::config(
                    "monitoring.prometheus_url",
                    url,
                    "source = \"prometheus\" needs an http:// URL of the Prometheus server",
                ));
            }
            Some(url.to_owned())
        }
    };
    let evaluate_every = parse_interval("monitoring.evaluate_every", Some(&monitoring.evaluate_every))?
        .unwrap_or(Duration::from_secs(1));
    let mut rules = crate::alerts::AlertRule::defaults();
    for (id, overrides) in &monitoring.rules {
        let key = |field: &str| format!("monitoring.rules.{id}.{field}");
        let Some(rule) = rules.iter_mut().find(|r| r.id == id) else {
            return Err(Error::config(
                format!("monitoring.rules.{id}"),
                id,
                "no such alert (success-rate, crv-failures, policy-denials, rollbacks)",
            ));
        };
        for (field, value, slot) in [
            ("threshold", overrides.threshold, &mut rule.threshold),
            ("escalate_at", overrides.escalate_at, &mut rule.escalate_at),
        ] {
            if let Some(value) = value {
                if !value.is_finite() {
                    return Err(Error::config(key(field), value.to_string(), "must be a finite number"));
                }
                *slot = value;
            }
        }
        if let Some(window) = parse_interval(&key("window"), overrides.window.as_deref())? {
            rule.window = window;
        }
        if let Some(held) = overrides.for_duration.as_deref() {
            rule.for_duration = humantime::parse_duration(held.trim())
                .map_err(|err| Error::config(key("for"), held, format!("not a duration ({err})")))?;
        }
    }
    let trace_url_template = monitoring
        .trace_url_template
        .as_deref()
        .map(|raw| super::monitoring::validate_trace_url_template("monitoring.trace_url_template", raw))
        .transpose()?;
    Ok(Some(ValidatedMonitoring {
        token: monitoring.token.clone(),
        prometheus_url,
        evaluate_every,
        rules,
        trace_url_template,
    }))
}

fn validate_ratio(key: String, ratio: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(Error::config(key, ratio.to_string(), "a share between 0.0 and 1.0"))
    }
}

fn validate_sampling(sampling: &super::SamplingConfig) -> Result<crate::pipeline::Sampler> {
    let mut kinds = Vec::new();
    for (name, ratio) in &sampling.kinds {
        let key = format!("sampling.kinds.{name}");
        let kind = name
            .parse::<crate::event::EventKind>()
            .map_err(|_| Error::config(&key, name, "not an event kind (step_start, tool_call, llm_prompt, …)"))?;
        kinds.push((kind, validate_ratio(key, *ratio)?));
    }
    let mut levels = Vec::new();
    for (name, ratio) in &sampling.levels {
        let key = format!("sampling.levels.{name}");
        let level = name
            .parse::<tracing::Level>()
            .map_err(|_| Error::config(&key, name, "expected error, warn, info, debug or trace"))?;
        levels.push((level, validate_ratio(key, *ratio)?));
    }
    Ok(crate::pipeline::Sampler::new(&kinds, &levels))
}

fn validate_store(store: &super::StoreConfig) -> Result<Option<ValidatedStore>> {
    if !store.enabled {
        return Ok(None);
    }
    if store.max_records == 0 {
        return Err(Error::config("store.max_records", "0", "must be at least 1"));
    }
    let max_bytes = parse_size("store.max_bytes", Some(&store.max_bytes))?.unwrap_or(16 << 20);
    let min_level = match &store.level {
        None => LevelFilter::TRACE,
        Some(raw) => LevelFilter::from_str(raw).map_err(|_| {
            Error::config(
                "store.level",
                raw,
                "expected one of: off, error, warn, info, debug, trace",
            )
        })?,
    };
    Ok(Some(ValidatedStore {
        max_records: store.max_records,
        max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        min_level,
    }))
}

fn validate_metrics(metrics: &super::MetricsConfig) -> Result<Option<ValidatedMetrics>> {
    if !metrics.enabled {
        return Ok(None);
    }
    check_metrics_prefix("metrics.prefix", &metrics.prefix)?;
    for (name, value) in &metrics.global_labels {
        crate::metrics::check_global_label(name, value)?;
    }
    if metrics.cardinality_limit == 0 {
        return Err(Error::config("metrics.cardinality_limit", "0", "must be at least 1"));
    }
    let buckets = &metrics.duration_buckets_ms;
    let increasing = buckets.windows(2).all(|w| w[0] < w[1]);
    if buckets.is_empty() || !increasing || buckets.iter().any(|b| !b.is_finite() || *b <= 0.0) {
        return Err(Error::config(
            "metrics.duration_buckets_ms",
            format!("{buckets:?}"),
            "need one or more finite, positive, strictly increasing bounds",
        ));
    }
    let summary_retention = parse_interval("metrics.summary_retention", Some(&metrics.summary_retention))?
        .unwrap_or(Duration::from_secs(7 * 86_400));
    let summary_bucket =
        parse_interval("metrics.summary_bucket", Some(&metrics.summary_bucket))?.unwrap_or(Duration::from_secs(10));
    if summary_bucket > summary_retention {
        return Err(Error::config(
            "metrics.summary_bucket",
            &metrics.summary_bucket,
            "must not be longer than summary_retention",
        ));
    }
    Ok(Some(ValidatedMetrics {
        prefix: metrics.prefix.clone(),
        global_labels: metrics.global_labels.clone(),
        cardinality_limit: metrics.cardinality_limit,
        duration_buckets_ms: buckets.clone(),
        duration_unit: metrics.duration_unit,
        summary_retention,
        summary_bucket,
        facade: crate::metrics::FacadeSettings::validate(
            metrics.global_recorder,
            &metrics.histogram_buckets,
            &metrics.default_histogram_buckets,
        )?,
    }))
}

/// Checks a metric-name prefix; `key` names where it came from.
pub(crate) fn check_metrics_prefix(key: &str, prefix: &str) -> Result<()> {
    if crate::metrics::is_valid_prefix(prefix) {
        return Ok(());
    }
    Err(Error::config(
        key,
        prefix,
        "not a metric-name prefix: use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __",
    ))
}

fn validate_server(server: &super::ServerConfig) -> Result<Option<ValidatedServer>> {
    if !server.enabled {
        return Ok(None);
    }
    let listen = server.listen.trim().parse().map_err(|_| {
        Error::config(
            "server.listen",
            &server.listen,
            "not a socket address like 127.0.0.1:9464",
        )
    })?;
    if let Some(token) = &server.metrics_token {
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::config(
                "server.metrics_token",
                "<hidden>",
                "must be non-empty printable ASCII without spaces",
            ));
        }
    }
    Ok(Some(ValidatedServer {
        listen,
        metrics_token: server.metrics_token.clone(),
    }))
}

fn validate_sink(index: usize, sink: &SinkConfig) -> Result<ValidatedSink> {
    let key = |field: &str| format!("sinks[{index}].{field}");
    let name = sink.name().to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::config(key("name"), &name, "use 1 or more of [A-Za-z0-9._-]"));
    }
    let (level, capacity, overflow, max_bytes) = match sink {
        SinkConfig::Console(c) => (&c.level, c.queue_capacity, c.overflow, &c.queue_max_bytes),
        SinkConfig::File(c) => (&c.level, c.queue_capacity, c.overflow, &c.queue_max_bytes),
    };
    let queue_max_bytes =
        parse_size(&key("queue_max_bytes"), max_bytes.as_deref())?.unwrap_or(crate::pipeline::DEFAULT_QUEUE_MAX_BYTES);
    let min_level = match level {
        None => LevelFilter::TRACE,
        Some(raw) => LevelFilter::from_str(raw).map_err(|_| {
            Error::config(
                key("level"),
                raw,
                "expected one of: off, error, warn, info, debug, trace",
            )
        })?,
    };
    if capacity == 0 {
        return Err(Error::config(key("queue_capacity"), "0", "must be at least 1"));
    }
    let kind = match sink {
        SinkConfig::Console(c) => SinkKind::Console {
            format: c.format,
            stream: c.stream,
            ansi: c.ansi,
        },
        SinkConfig::File(c) => {
            if c.path.as_os_str().is_empty() || c.path.file_name().is_none() {
                return Err(Error::config(
                    key("path"),
                    c.path.display().to_string(),
                    "must name a file",
                ));
            }
            let max_bytes = parse_size(&key("max_bytes"), c.max_bytes.as_deref())?;
            let max_total_bytes = parse_size(&key("max_total_bytes"), c.max_total_bytes.as_deref())?;
            let interval = parse_interval(&key("rotate_every"), c.rotate_every.as_deref())?;
            if c.max_files == Some(0) {
                return Err(Error::config(key("max_files"), "0", "must be at least 1 (or unset)"));
            }
            SinkKind::File {
                path: c.path.clone(),
                rotation: RotationPolicy { max_bytes, interval },
                retention: RetentionPolicy {
                    max_files: c.max_files,
                    max_total_bytes,
                },
                compress: c.compress,
            }
        }
    };
    Ok(ValidatedSink {
        name,
        queue: QueueSettings {
            max_bytes: queue_max_bytes,
            ..QueueSettings::new(capacity, overflow, min_level)
        },
        kind,
    })
}

/// Parses `"10MB"`, `"512 KiB"`, `"1048576"`; rejects zero.
pub(crate) fn parse_size(key: &str, raw: Option<&str>) -> Result<Option<u64>> {
    let Some(raw) = raw else { return Ok(None) };
    let size = bytesize::ByteSize::from_str(raw.trim()).map_err(|err| {
        Error::config(
            key,
            raw,
            format!("not a size ({err}); use e.g. \"10MB\", \"512KiB\" or a byte count"),
        )
    })?;
    if size.as_u64() == 0 {
        return Err(Error::config(key, raw, "must be greater than zero"));
    }
    Ok(Some(size.as_u64()))
}

/// Parses `"1h"`, `"30min"`, `"1day"`; rejects zero.
pub(crate) fn parse_interval(key: &str, raw: Option<&str>) -> Result<Option<Duration>> {
    let Some(raw) = raw else { return Ok(None) };
    let interval = humantime::parse_duration(raw.trim())
        .map_err(|err| Error::config(key, raw, format!("not a duration ({err}); use e.g. \"1h\" or \"1day\"")))?;
    if interval.is_zero() {
        return Err(Error::config(key, raw, "must be greater than zero"));
    }
    Ok(Some(interval))
}
