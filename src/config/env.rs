//! Environment overrides: `AUREUS_*`, `RUST_LOG` and the standard `OTEL_*` variables.

use std::collections::HashMap;

use super::otel_list::{self, ListKind};
use super::{Config, ConsoleSinkConfig, FileSinkConfig, SinkConfig};
use crate::error::{Error, Result};
use crate::sinks::console::ConsoleFormat;

/// Every variable `Config::apply_env` reads (these and the OTLP ones).
pub(crate) fn env_variables() -> impl Iterator<Item = &'static str> {
    VARIABLES.iter().chain(super::otlp_env::OTLP_VARIABLES.iter()).copied()
}

/// The variables read, for documentation and tests.
pub(crate) const VARIABLES: [&str; 25] = [
    "AUREUS_MONITORING_TOKEN",
    "AUREUS_MONITORING_SOURCE",
    "AUREUS_PROMETHEUS_URL",
    "AUREUS_TRACE_URL_TEMPLATE",
    "AUREUS_METRICS_DURATION_UNIT",
    "AUREUS_METRICS_GLOBAL_RECORDER",
    "AUREUS_METRICS_LISTEN",
    "AUREUS_METRICS_TOKEN",
    "AUREUS_METRICS_PREFIX",
    "AUREUS_LOG",
    "RUST_LOG",
    "AUREUS_SERVICE_NAME",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "AUREUS_ENVIRONMENT",
    "AUREUS_MAX_FIELD_BYTES",
    "AUREUS_CORRELATION_ID",
    "AUREUS_CONSOLE",
    "AUREUS_FILE_PATH",
    "AUREUS_FILE_MAX_BYTES",
    "AUREUS_FILE_ROTATE_EVERY",
    "AUREUS_FILE_MAX_FILES",
    "AUREUS_FILE_COMPRESS",
    "AUREUS_GENAI_CAPTURE_CONTENT",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
];

/// The process environment as UTF-8 pairs. A variable this crate reads
/// (see [`env_variables`]) whose value is not UTF-8 is an
/// [`Error::InvalidConfig`] naming it (the value is not shown: it may be a
/// header secret); any other variable that is not UTF-8 is none of our
/// business and skipped (`std::env::vars()` would panic on it).
pub(crate) fn process_vars() -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (key, value) in std::env::vars_os() {
        // A name that is not UTF-8 is not one of ours.
        let Some(key) = key.to_str() else { continue };
        match value.into_string() {
            Ok(value) => vars.push((key.to_owned(), value)),
            Err(_) if env_variables().any(|ours| ours == key) => {
                return Err(Error::config(key, "(not UTF-8)", "the value is not valid UTF-8"));
            }
            Err(_) => {}
        }
    }
    Ok(vars)
}

/// Which configuration key each standard `OTEL_*` variable set, so that a
/// check made later on that key (at validation) names the variable.
#[derive(Debug, Default)]
pub(crate) struct Origins(Vec<(String, String)>);

impl Origins {
    /// `var` set the configuration key `key`.
    pub(crate) fn record(&mut self, key: impl Into<String>, var: impl Into<String>) {
        self.0.push((key.into(), var.into()));
    }

    /// `err` with its key replaced by the variable that set it (the key and
    /// any key under it, e.g. `otlp.headers.x-tenant` for `otlp.headers`).
    pub(crate) fn name_variable(&self, err: Error) -> Error {
        let Error::InvalidConfig { key, value, reason } = err else {
            return err;
        };
        let origin =
            self.0.iter().rev().find(|(set, _)| {
                key == *set || key.strip_prefix(set.as_str()).is_some_and(|rest| rest.starts_with('.'))
            });
        match origin {
            Some((set, var)) => Error::InvalidConfig {
                key: var.clone(),
                value,
                reason: format!("{reason} (`{var}` sets `{set}`)"),
            },
            None => Error::InvalidConfig { key, value, reason },
        }
    }
}

pub(crate) fn apply<K, V>(config: &mut Config, vars: impl IntoIterator<Item = (K, V)>) -> Result<Origins>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let vars: HashMap<String, String> = vars
        .into_iter()
        .filter(|(k, _)| VARIABLES.contains(&k.as_ref()) || super::otlp_env::OTLP_VARIABLES.contains(&k.as_ref()))
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    // The specification: an empty value means unset (whitespace only counts as empty).
    let get = |key: &str| vars.get(key).map(String::as_str).filter(|v| !v.trim().is_empty());
    let mut origins = Origins::default();

    if let Some(level) = get("AUREUS_LOG").or_else(|| get("RUST_LOG")) {
        config.log_level = level.to_owned();
    }
    if let Some(raw) = get("OTEL_RESOURCE_ATTRIBUTES") {
        let attributes = otel_list::parse("OTEL_RESOURCE_ATTRIBUTES", raw, ListKind::ResourceAttributes)?;
        for (key, value) in attributes {
            if key == "service.name" {
                config.service_name = value;
                origins.record("service_name", "OTEL_RESOURCE_ATTRIBUTES");
            } else if key == "deployment.environment" || key == "deployment.environment.name" {
                config.environment = Some(value);
            } else {
                config.resource_attributes.insert(key, value);
            }
        }
        origins.record("resource_attributes", "OTEL_RESOURCE_ATTRIBUTES");
    }
    // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
    if let Some(name) = get("OTEL_SERVICE_NAME") {
        config.service_name = name.to_owned();
        origins.record("service_name", "OTEL_SERVICE_NAME");
    }
    if let Some(raw) = get("AUREUS_GENAI_CAPTURE_CONTENT") {
        config.genai.capture_content = raw
            .parse()
            .map_err(|_| Error::config("AUREUS_GENAI_CAPTURE_CONTENT", raw, "expected one of: none, local, all"))?;
    }
    if let Some(raw) = get("OTEL_SEMCONV_STABILITY_OPT_IN") {
        config.genai.semconv_stability_opt_in = super::genai::parse_opt_in(raw);
    }
    if let Some(name) = get("AUREUS_SERVICE_NAME") {
        config.service_name = name.to_owned();
    }
    if let Some(environment) = get("AUREUS_ENVIRONMENT") {
        config.environment = Some(environment.to_owned());
    }
    if let Some(raw) = get("AUREUS_MAX_FIELD_BYTES") {
        config.max_field_bytes = raw
            .trim()
            .parse()
            .map_err(|_| Error::config("AUREUS_MAX_FIELD_BYTES", raw, "expected a whole number of bytes"))?;
    }
    if let Some(id) = get("AUREUS_CORRELATION_ID") {
        crate::CorrelationId::new(id).map_err(|err| Error::config("AUREUS_CORRELATION_ID", id, err.to_string()))?;
        config.default_correlation_id = Some(id.to_owned());
    }
    if let Some(listen) = get("AUREUS_METRICS_LISTEN") {
        if matches!(listen.trim().to_ascii_lowercase().as_str(), "off" | "none" | "false") {
            config.server.enabled = false;
        } else {
            config.server.enabled = true;
            config.server.listen = listen.trim().to_owned();
        }
    }
    if let Some(token) = get("AUREUS_METRICS_TOKEN") {
        config.server.metrics_token = Some(token.to_owned());
    }
    if let Some(prefix) = get("AUREUS_METRICS_PREFIX") {
        super::validate::check_metrics_prefix("AUREUS_METRICS_PREFIX", prefix.trim())?;
        config.metrics.prefix = prefix.trim().to_owned();
    }
    if let Some(raw) = get("AUREUS_METRICS_DURATION_UNIT") {
        config.metrics.duration_unit = match raw.trim().to_ascii_lowercase().as_str() {
            "ms" | "milliseconds" => crate::metrics::DurationUnit::Milliseconds,
            "s" | "seconds" => crate::metrics::DurationUnit::Seconds,
            _ => {
                return Err(Error::config(
                    "AUREUS_METRICS_DURATION_UNIT",
                    raw,
                    "expected milliseconds or seconds",
                ))
            }
        };
    }
    if let Some(raw) = get("AUREUS_METRICS_GLOBAL_RECORDER") {
        config.metrics.global_recorder = match raw.trim().to_ascii_lowercase().as_str() {
            "install" => crate::metrics::GlobalRecorder::Install,
            "if_free" => crate::metrics::GlobalRecorder::IfFree,
            "off" => crate::metrics::GlobalRecorder::Off,
            _ => {
                return Err(Error::config(
                    "AUREUS_METRICS_GLOBAL_RECORDER",
                    raw,
                    "expected install, if_free or off",
                ))
            }
        };
    }
    if let Some(token) = get("AUREUS_MONITORING_TOKEN") {
        config.monitoring.token = Some(token.to_owned());
    }
    if let Some(raw) = get("AUREUS_MONITORING_SOURCE") {
        config.monitoring.source = match raw.trim().to_ascii_lowercase().as_str() {
            "local" => super::MonitoringSource::Local,
            "prometheus" => super::MonitoringSource::Prometheus,
            _ => {
                return Err(Error::config(
                    "AUREUS_MONITORING_SOURCE",
                    raw,
                    "expected local or prometheus",
                ))
            }
        };
    }
    if let Some(url) = get("AUREUS_PROMETHEUS_URL") {
        config.monitoring.prometheus_url = Some(url.trim().to_owned());
    }
    if let Some(template) = get("AUREUS_TRACE_URL_TEMPLATE") {
        config.monitoring.trace_url_template = Some(template.trim().to_owned());
        origins.record("monitoring.trace_url_template", "AUREUS_TRACE_URL_TEMPLATE");
    }
    if let Some(raw) = get("AUREUS_CONSOLE") {
        apply_console(config, raw)?;
    }
    apply_file(config, &get)?;
    super::otlp_env::apply(config, &get, &mut origins)?;
    Ok(origins)
}

fn apply_console(config: &mut Config, raw: &str) -> Result<()> {
    let format = match raw.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "false" => {
            config.sinks.retain(|s| !matches!(s, SinkConfig::Console(_)));
            return Ok(());
        }
        "pretty" => ConsoleFormat::Pretty,
        "compact" => ConsoleFormat::Compact,
        "json" => ConsoleFormat::Json,
        _ => {
            return Err(Error::config(
                "AUREUS_CONSOLE",
                raw,
                "expected one of: off, pretty, compact, json",
            ))
        }
    };
    let mut found = false;
    for sink in &mut config.sinks {
        if let SinkConfig::Console(console) = sink {
            console.format = format;
            found = true;
        }
    }
    if !found {
        config.sinks.push(SinkConfig::Console(ConsoleSinkConfig {
            format,
            ..Default::default()
        }));
    }
    Ok(())
}

fn apply_file<'a>(config: &mut Config, get: &dyn Fn(&str) -> Option<&'a str>) -> Result<()> {
    let keys = [
        "AUREUS_FILE_PATH",
        "AUREUS_FILE_MAX_BYTES",
        "AUREUS_FILE_ROTATE_EVERY",
        "AUREUS_FILE_MAX_FILES",
        "AUREUS_FILE_COMPRESS",
    ];
    if keys.iter().all(|k| get(k).is_none()) {
        return Ok(());
    }
    if !config.sinks.iter().any(|s| matches!(s, SinkConfig::File(_))) {
        config.sinks.push(SinkConfig::File(FileSinkConfig::default()));
    }
    for sink in &mut config.sinks {
        let SinkConfig::File(file) = sink else {
            continue;
        };
        if let Some(path) = get("AUREUS_FILE_PATH") {
            file.path = path.into();
        }
        if let Some(size) = get("AUREUS_FILE_MAX_BYTES") {
            file.max_bytes = Some(size.to_owned());
        }
        if let Some(every) = get("AUREUS_FILE_ROTATE_EVERY") {
            file.rotate_every = Some(every.to_owned());
        }
        if let Some(raw) = get("AUREUS_FILE_MAX_FILES") {
            let count = raw
                .trim()
                .parse()
                .map_err(|_| Error::config("AUREUS_FILE_MAX_FILES", raw, "expected a whole number"))?;
            file.max_files = Some(count);
        }
        if let Some(raw) = get("AUREUS_FILE_COMPRESS") {
            file.compress = match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(Error::config("AUREUS_FILE_COMPRESS", raw, "expected true or false")),
            };
        }
        break;
    }
    Ok(())
}
