//! The standard OpenTelemetry exporter variables (`OTEL_EXPORTER_OTLP_*`,
//! `OTEL_*_EXPORTER`, `OTEL_BSP_*`, `OTEL_METRIC_EXPORT_INTERVAL`) mapped onto
//! `[otlp]`.

use super::otlp::{OtlpProtocol, OtlpSignalConfig};
use super::Config;
use crate::error::{Error, Result};

/// The variables read, for documentation and tests.
pub(crate) const OTLP_VARIABLES: [&str; 36] = [
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
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "AUREUS_OTLP",
];

pub(crate) fn apply<'a>(config: &mut Config, get: &dyn Fn(&str) -> Option<&'a str>) -> Result<()> {
    let otlp = &mut config.otlp;
    if let Some(raw) = get("AUREUS_OTLP") {
        otlp.enabled = parse_bool("AUREUS_OTLP", raw)?;
    }
    let any_endpoint = ["", "TRACES_", "LOGS_", "METRICS_"]
        .iter()
        .any(|s| get(&format!("OTEL_EXPORTER_OTLP_{s}ENDPOINT")).is_some());
    if any_endpoint && get("AUREUS_OTLP").is_none() {
        otlp.enabled = true;
    }
    if let Some(raw) = get("OTEL_SDK_DISABLED") {
        if parse_bool("OTEL_SDK_DISABLED", raw)? {
            otlp.enabled = false;
        }
    }
    let shared = read_signal(get, "")?;
    set(&mut otlp.endpoint, shared.endpoint);
    set(&mut otlp.protocol, shared.protocol);
    otlp.headers.extend(shared.headers);
    set(&mut otlp.compression, shared.compression);
    set(&mut otlp.timeout, shared.timeout);
    set(&mut otlp.ca_file, shared.ca_file);
    for (prefix, exporter_var) in [
        ("TRACES_", "OTEL_TRACES_EXPORTER"),
        ("LOGS_", "OTEL_LOGS_EXPORTER"),
        ("METRICS_", "OTEL_METRICS_EXPORTER"),
    ] {
        let own = read_signal(get, prefix)?;
        let target = match prefix {
            "TRACES_" => &mut otlp.traces,
            "LOGS_" => &mut otlp.logs,
            _ => &mut otlp.metrics,
        };
        merge(target, own);
        if let Some(raw) = get(exporter_var) {
            target.enabled = match raw.trim() {
                "none" => false,
                "otlp" => true,
                _ => return Err(Error::config(exporter_var, raw, "this crate exports `otlp` or `none`")),
            };
        }
    }
    if let Some(raw) = get("OTEL_METRIC_EXPORT_INTERVAL") {
        otlp.metrics.interval = Some(millis("OTEL_METRIC_EXPORT_INTERVAL", raw)?);
    }
    for prefix in ["OTEL_BSP_", "OTEL_BLRP_"] {
        if let Some(raw) = get(&format!("{prefix}MAX_QUEUE_SIZE")) {
            otlp.batch.queue_capacity = count(&format!("{prefix}MAX_QUEUE_SIZE"), raw)?;
        }
        if let Some(raw) = get(&format!("{prefix}MAX_EXPORT_BATCH_SIZE")) {
            otlp.batch.max_batch = count(&format!("{prefix}MAX_EXPORT_BATCH_SIZE"), raw)?;
        }
        if let Some(raw) = get(&format!("{prefix}SCHEDULE_DELAY")) {
            otlp.batch.interval = millis(&format!("{prefix}SCHEDULE_DELAY"), raw)?;
        }
    }
    Ok(())
}

fn merge(target: &mut OtlpSignalConfig, own: OtlpSignalConfig) {
    set(&mut target.endpoint, own.endpoint);
    set(&mut target.protocol, own.protocol);
    target.headers.extend(own.headers);
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

/// Reads `OTEL_EXPORTER_OTLP_<prefix>{ENDPOINT,PROTOCOL,…}`.
fn read_signal<'a>(get: &dyn Fn(&str) -> Option<&'a str>, prefix: &str) -> Result<OtlpSignalConfig> {
    let var = |name: &str| format!("OTEL_EXPORTER_OTLP_{prefix}{name}");
    let mut signal = OtlpSignalConfig {
        endpoint: get(&var("ENDPOINT")).map(|v| v.trim().to_owned()),
        ..OtlpSignalConfig::default()
    };
    if let Some(raw) = get(&var("PROTOCOL")) {
        signal.protocol = Some(
            OtlpProtocol::parse(raw)
                .ok_or_else(|| Error::config(var("PROTOCOL"), raw, "expected grpc, http/protobuf or http/json"))?,
        );
    }
    if let Some(raw) = get(&var("HEADERS")) {
        for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(Error::config(
                    var("HEADERS"),
                    "<hidden>",
                    format!("an entry is not key=value (entry starting {:?})", first_chars(pair)),
                ));
            };
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(text.trim())
                    .decode_utf8_lossy()
                    .into_owned()
            };
            signal.headers.insert(decode(key).to_ascii_lowercase(), decode(value));
        }
    }
    if let Some(raw) = get(&var("COMPRESSION")) {
        signal.compression = Some(raw.trim().to_ascii_lowercase());
    }
    if let Some(raw) = get(&var("TIMEOUT")) {
        signal.timeout = Some(millis(&var("TIMEOUT"), raw)?);
    }
    if let Some(raw) = get(&var("CERTIFICATE")) {
        signal.ca_file = Some(raw.trim().into());
    }
    Ok(signal)
}

fn first_chars(text: &str) -> String {
    text.trim().chars().take(3).collect()
}

/// A whole number of milliseconds, turned into a duration string.
fn millis(key: &str, raw: &str) -> Result<String> {
    let ms: u64 = raw
        .trim()
        .parse()
        .map_err(|_| Error::config(key, raw, "expected a whole number of milliseconds"))?;
    Ok(format!("{ms}ms"))
}

fn count(key: &str, raw: &str) -> Result<usize> {
    raw.trim()
        .parse()
        .map_err(|_| Error::config(key, raw, "expected a whole number"))
}

fn parse_bool(key: &str, raw: &str) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" => Ok(true),
        "false" | "0" | "off" => Ok(false),
        _ => Err(Error::config(key, raw, "expected true or false")),
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
        assert_eq!(otlp.batch.interval, "200ms");
        let v = config.validated().unwrap().otlp.unwrap();
        assert_eq!(v.traces.unwrap().endpoint, "http://127.0.0.1:4317");
        assert_eq!(v.logs.unwrap().endpoint, "http://127.0.0.1:4318/v1/logs");
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
        ] {
            let err = apply(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), (var, value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err} should name {var}");
        }
        let err = apply(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "br"), ("AUREUS_OTLP", "on")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("otlp.compression"), "{err}");
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
        let config = apply(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])
        .unwrap();
        assert!(!config.otlp.enabled);
    }
}
