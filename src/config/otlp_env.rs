//! The standard OpenTelemetry exporter variables (`OTEL_EXPORTER_OTLP_*`,
//! `OTEL_*_EXPORTER`, `OTEL_BSP_*`, `OTEL_BLRP_*`,
//! `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`,
//! `OTEL_SDK_DISABLED`) mapped onto `[otlp]`,
//! following the OpenTelemetry "Environment Variable Specification" and
//! "OTLP Exporter" configuration (specification 1.x):
//!
//! - an empty value means unset (already filtered by the caller);
//! - a variable that is set replaces the file's value for the same key
//!   (`OTEL_EXPORTER_OTLP_HEADERS` replaces `otlp.headers` as a whole);
//! - per-signal variables set the signal's own keys, which override the
//!   generic ones (headers included: replaced, never merged);
//! - booleans: only `true` / `false` in any case; enums in any case;
//!   durations and timeouts are whole milliseconds (timeout 0 = no limit);
//!   integers are positive;
//! - anything else is an [`Error::InvalidConfig`] naming the variable (where
//!   the specification would warn and ignore the value, this crate refuses to
//!   start rather than run with a setting other than the one asked for).

use std::time::Duration;

use super::env::Origins;
use super::otel_list::{self, ListKind};
use super::otlp::{MetricTemporality, OtlpProtocol, OtlpSignalConfig, MAX_QUEUE_CAPACITY};
use super::Config;
use crate::error::{Error, Result};

/// The variables read, for documentation and tests.
pub(crate) const OTLP_VARIABLES: [&str; 37] = [
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    "OTEL_TRACES_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "AUREUS_OTLP",
];

/// What a timeout of 0 ("no limit") becomes: the largest number of
/// milliseconds a 32-bit integer holds, as the specification suggests.
const NO_LIMIT: Duration = Duration::from_millis(i32::MAX as u64);

pub(crate) fn apply<'a>(
    config: &mut Config,
    get: &dyn Fn(&str) -> Option<&'a str>,
    origins: &mut Origins,
) -> Result<()> {
    let otlp = &mut config.otlp;
    if let Some(raw) = get("AUREUS_OTLP") {
        otlp.enabled = aureus_switch("AUREUS_OTLP", raw)?;
    }
    let any_endpoint = ["", "TRACES_", "LOGS_", "METRICS_"]
        .iter()
        .any(|s| get(&format!("OTEL_EXPORTER_OTLP_{s}ENDPOINT")).is_some());
    if any_endpoint && get("AUREUS_OTLP").is_none() {
        otlp.enabled = true;
    }
    if let Some(raw) = get("OTEL_SDK_DISABLED") {
        if otel_bool("OTEL_SDK_DISABLED", raw)? {
            otlp.enabled = false;
        }
    }
    let shared = read_signal(get, "", "otlp", origins)?;
    set(&mut otlp.endpoint, shared.endpoint);
    set(&mut otlp.protocol, shared.protocol);
    if !shared.headers.is_empty() {
        otlp.headers = shared.headers;
    }
    set(&mut otlp.compression, shared.compression);
    set(&mut otlp.timeout, shared.timeout);
    set(&mut otlp.ca_file, shared.ca_file);
    for (prefix, section, exporter_var) in [
        ("TRACES_", "otlp.traces", "OTEL_TRACES_EXPORTER"),
        ("LOGS_", "otlp.logs", "OTEL_LOGS_EXPORTER"),
        ("METRICS_", "otlp.metrics", "OTEL_METRICS_EXPORTER"),
    ] {
        let own = read_signal(get, prefix, section, origins)?;
        let target = match prefix {
            "TRACES_" => &mut otlp.traces,
            "LOGS_" => &mut otlp.logs,
            _ => &mut otlp.metrics,
        };
        replace_set(target, own);
        if let Some(raw) = get(exporter_var) {
            target.enabled = exporter(exporter_var, raw)?;
            origins.record(format!("{section}.enabled"), exporter_var);
        }
    }
    if let Some(raw) = get("OTEL_METRIC_EXPORT_INTERVAL") {
        otlp.metrics.interval = Some(as_duration(positive_millis("OTEL_METRIC_EXPORT_INTERVAL", raw)?));
        origins.record("otlp.metrics.interval", "OTEL_METRIC_EXPORT_INTERVAL");
    }
    let temporality_var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    if let Some(raw) = get(temporality_var) {
        otlp.metrics.temporality = Some(
            MetricTemporality::parse(raw)
                .ok_or_else(|| Error::config(temporality_var, raw, "expected cumulative, delta or lowmemory"))?,
        );
        origins.record("otlp.metrics.temporality", temporality_var);
    }
    // The Batch Span Processor's variables batch spans, the Batch LogRecord
    // Processor's batch log records.
    for (prefix, section, batch) in [
        ("OTEL_BSP_", "otlp.traces.batch", &mut otlp.traces.batch),
        ("OTEL_BLRP_", "otlp.logs.batch", &mut otlp.logs.batch),
    ] {
        let var = |name: &str| format!("{prefix}{name}");
        if let Some(raw) = get(&var("MAX_QUEUE_SIZE")) {
            batch.queue_capacity = Some(positive_count(&var("MAX_QUEUE_SIZE"), raw)?);
            origins.record(format!("{section}.queue_capacity"), var("MAX_QUEUE_SIZE"));
        }
        if let Some(raw) = get(&var("MAX_EXPORT_BATCH_SIZE")) {
            batch.max_batch = Some(positive_count(&var("MAX_EXPORT_BATCH_SIZE"), raw)?);
            origins.record(format!("{section}.max_batch"), var("MAX_EXPORT_BATCH_SIZE"));
        }
        if let Some(raw) = get(&var("SCHEDULE_DELAY")) {
            batch.interval = Some(as_duration(positive_millis(&var("SCHEDULE_DELAY"), raw)?));
            origins.record(format!("{section}.interval"), var("SCHEDULE_DELAY"));
        }
    }
    Ok(())
}

/// The signal's variables replace its configured keys.
fn replace_set(target: &mut OtlpSignalConfig, own: OtlpSignalConfig) {
    set(&mut target.endpoint, own.endpoint);
    set(&mut target.protocol, own.protocol);
    if !own.headers.is_empty() {
        target.headers = own.headers;
    }
    set(&mut target.compression, own.compression);
    set(&mut target.timeout, own.timeout);
    set(&mut target.ca_file, own.ca_file);
}

/// A variable that is set overrides the configured value.
fn set<T>(target: &mut Option<T>, from_env: Option<T>) {
    if from_env.is_some() {
        *target = from_env;
    }
}

/// Reads `OTEL_EXPORTER_OTLP_<prefix>{ENDPOINT,PROTOCOL,…}` into the keys of
/// `section` (`otlp` or `otlp.<signal>`).
fn read_signal<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    prefix: &str,
    section: &str,
    origins: &mut Origins,
) -> Result<OtlpSignalConfig> {
    let var = |name: &str| format!("OTEL_EXPORTER_OTLP_{prefix}{name}");
    let mut signal = OtlpSignalConfig::default();
    if let Some(raw) = get(&var("ENDPOINT")) {
        signal.endpoint = Some(raw.trim().to_owned());
        origins.record(format!("{section}.endpoint"), var("ENDPOINT"));
    }
    if let Some(raw) = get(&var("PROTOCOL")) {
        signal.protocol = Some(
            OtlpProtocol::parse(raw)
                .ok_or_else(|| Error::config(var("PROTOCOL"), raw, "expected grpc, http/protobuf or http/json"))?,
        );
    }
    if let Some(raw) = get(&var("HEADERS")) {
        for (name, value) in otel_list::parse(&var("HEADERS"), raw, ListKind::Headers)? {
            check_header(&var("HEADERS"), &name, &value)?;
            signal.headers.insert(name.to_ascii_lowercase(), value);
        }
        origins.record(format!("{section}.headers"), var("HEADERS"));
    }
    if let Some(raw) = get(&var("COMPRESSION")) {
        let compression = raw.trim().to_ascii_lowercase();
        if !matches!(compression.as_str(), "gzip" | "none") {
            return Err(Error::config(var("COMPRESSION"), raw, "expected gzip or none"));
        }
        signal.compression = Some(compression);
    }
    if let Some(raw) = get(&var("TIMEOUT")) {
        let timeout = match millis(&var("TIMEOUT"), raw)? {
            Duration::ZERO => NO_LIMIT,
            timeout => timeout,
        };
        signal.timeout = Some(as_duration(timeout));
        origins.record(format!("{section}.timeout"), var("TIMEOUT"));
    }
    if let Some(raw) = get(&var("CERTIFICATE")) {
        signal.ca_file = Some(raw.trim().into());
        origins.record(format!("{section}.ca_file"), var("CERTIFICATE"));
    }
    Ok(signal)
}

/// A header name must be an HTTP token and its value printable ASCII (what
/// both HTTP/1.1 and gRPC metadata carry); the value is never shown.
fn check_header(var: &str, name: &str, value: &str) -> Result<()> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(Error::config(
            var,
            "<hidden>",
            format!("{name:?} is not a valid header name"),
        ));
    }
    if !value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
        return Err(Error::config(
            var,
            "<hidden>",
            format!("the value of `{name}` decodes to characters a header cannot carry (only printable ASCII, space and tab)"),
        ));
    }
    Ok(())
}

/// `OTEL_*_EXPORTER`: a comma-separated list; this crate exports `otlp` (or
/// nothing: `none`).
fn exporter(var: &str, raw: &str) -> Result<bool> {
    let names: Vec<String> = raw
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    let otlp = names.iter().any(|n| n == "otlp");
    let none = names.iter().any(|n| n == "none");
    if let Some(other) = names.iter().find(|n| *n != "otlp" && *n != "none") {
        return Err(Error::config(
            var,
            raw,
            format!("this crate exports `otlp` or `none`, not `{other}`"),
        ));
    }
    if otlp && none {
        return Err(Error::config(var, raw, "`none` cannot be combined with `otlp`"));
    }
    Ok(otlp)
}

/// A whole, non-negative number of milliseconds.
fn millis(var: &str, raw: &str) -> Result<Duration> {
    let text = raw.trim();
    if text.starts_with('-') {
        return Err(Error::config(var, raw, "a duration cannot be negative"));
    }
    let ms: u64 = text
        .parse()
        .map_err(|_| Error::config(var, raw, "expected a whole number of milliseconds, e.g. 5000"))?;
    Ok(Duration::from_millis(ms))
}

/// Like [`millis`], at least 1 ms (an interval of 0 would export without pause).
fn positive_millis(var: &str, raw: &str) -> Result<Duration> {
    match millis(var, raw)? {
        Duration::ZERO => Err(Error::config(var, raw, "must be at least 1 millisecond")),
        duration => Ok(duration),
    }
}

/// How a duration is written into the configuration (`otlp.timeout = "2500ms"`).
fn as_duration(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// A positive whole number (queue and batch sizes).
fn positive_count(var: &str, raw: &str) -> Result<usize> {
    let text = raw.trim();
    if text.starts_with('-') {
        return Err(Error::config(var, raw, "must be positive"));
    }
    match text.parse::<usize>() {
        Ok(0) => Err(Error::config(var, raw, "must be positive")),
        Ok(n) if n > MAX_QUEUE_CAPACITY => {
            Err(Error::config(var, raw, format!("must be at most {MAX_QUEUE_CAPACITY}")))
        }
        Ok(n) => Ok(n),
        Err(_) => Err(Error::config(var, raw, "expected a whole number")),
    }
}

/// An OpenTelemetry boolean: `true` or `false` in any case. The
/// specification makes every other value false (with a warning); this crate
/// refuses it instead, so `OTEL_SDK_DISABLED=1` or `=yes` never silently
/// leaves the SDK on.
fn otel_bool(var: &str, raw: &str) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::config(var, raw, "expected true or false (any case)")),
    }
}

/// `AUREUS_OTLP` (this crate's own switch): on/off, true/false, 1/0.
fn aureus_switch(var: &str, raw: &str) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" => Ok(true),
        "false" | "0" | "off" => Ok(false),
        _ => Err(Error::config(var, raw, "expected on or off")),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, OtlpProtocol};

    fn apply(vars: &[(&str, &str)]) -> crate::Result<Config> {
        let mut config = Config::default();
        config.apply_env(vars.iter().copied())?;
        Ok(config)
    }

    #[test]
    fn an_endpoint_variable_turns_export_on_with_its_settings() {
        let config = apply(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,x-tenant=t1"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:4318/v1/logs"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .unwrap();
        let otlp = &config.otlp;
        assert!(otlp.enabled);
        assert_eq!(otlp.protocol, Some(OtlpProtocol::Grpc));
        assert_eq!(otlp.headers["authorization"], "Bearer abc");
        assert_eq!(otlp.headers["x-tenant"], "t1");
        assert_eq!(otlp.compression.as_deref(), Some("gzip"));
        assert_eq!(otlp.timeout.as_deref(), Some("2500ms"));
        assert_eq!(otlp.logs.protocol, Some(OtlpProtocol::HttpJson));
        assert!(!otlp.metrics.enabled);
        assert_eq!(otlp.traces.batch.interval.as_deref(), Some("200ms"));
        assert_eq!(otlp.logs.batch.interval, None, "OTEL_BSP_* batches spans only");
        let v = config.validated().unwrap().otlp.unwrap();
        let traces = v.traces.unwrap();
        assert_eq!(traces.endpoint, "http://127.0.0.1:4317");
        assert_eq!(traces.batch.interval, std::time::Duration::from_millis(200));
        let logs = v.logs.unwrap();
        assert_eq!(logs.endpoint, "http://127.0.0.1:4318/v1/logs");
        assert_eq!(logs.batch.interval, std::time::Duration::from_secs(1));
        assert!(v.metrics.is_none());
    }

    #[test]
    fn bad_variables_are_named() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue"),
            ("OTEL_LOGS_EXPORTER", "zipkin"),
            ("OTEL_SDK_DISABLED", "maybe"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "br"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100000"),
        ] {
            let err = apply(&[
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:4318"),
                (var, value),
            ])
            .unwrap_err();
            let crate::Error::InvalidConfig { key, .. } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(key, var, "{err}");
        }
    }

    #[test]
    fn aureus_otlp_switches_export_without_an_endpoint_variable() {
        let on = apply(&[("AUREUS_OTLP", "on")]).unwrap();
        assert!(on.otlp.enabled);
        let off = apply(&[
            ("AUREUS_OTLP", "off"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ])
        .unwrap();
        assert!(!off.otlp.enabled, "an explicit AUREUS_OTLP=off wins over an endpoint");
        let err = apply(&[("AUREUS_OTLP", "sometimes")]).unwrap_err().to_string();
        assert!(err.contains("AUREUS_OTLP"), "{err}");
    }

    #[test]
    fn sdk_disabled_wins() {
        for value in ["true", "TRUE", "True"] {
            let config = apply(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_SDK_DISABLED", value),
            ])
            .unwrap();
            assert!(!config.otlp.enabled, "{value}");
        }
    }
}
