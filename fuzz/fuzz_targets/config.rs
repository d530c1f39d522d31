//! TOML and environment configuration: parsing and validation never panic;
//! a configuration that is accepted serialises back to TOML that parses to
//! the same configuration; every rejection is a typed error.
#![no_main]

use aureus_observability::{Config, Error};
use libfuzzer_sys::fuzz_target;

/// The variables `Config::apply_env` reads, except the `*_CERTIFICATE` ones
/// (they name files to read, which a fuzzer should not pick).
const VARIABLES: [&str; 50] = [
    "AUREUS_MONITORING_TOKEN",
    "AUREUS_MONITORING_SOURCE",
    "AUREUS_PROMETHEUS_URL",
    "AUREUS_METRICS_DURATION_UNIT",
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
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "AUREUS_OTLP",
];

fuzz_target!(|data: &[u8]| {
    // TOML text, then (after a 0xFF byte) environment lines `<index byte><value>`.
    let mut parts = data.splitn(2, |b| *b == 0xFF);
    let toml_text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let env_part = parts.next().unwrap_or_default();

    let mut config = match Config::from_toml_str(&toml_text) {
        Ok(config) => {
            // What it accepted, written back, is accepted again unchanged.
            if let Ok(written) = toml::to_string(&config) {
                let again = Config::from_toml_str(&written)
                    .unwrap_or_else(|err| panic!("accepted config does not round-trip: {err}\n{written}"));
                assert_eq!(again, config, "{written}");
            }
            config
        }
        Err(err) => {
            assert!(
                matches!(err, Error::ConfigFile { .. } | Error::InvalidConfig { .. }),
                "{err:?}"
            );
            Config::default()
        }
    };

    let vars: Vec<(&str, String)> = env_part
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let (&index, value) = line.split_first()?;
            let name = VARIABLES[usize::from(index) % VARIABLES.len()];
            Some((name, String::from_utf8_lossy(value).into_owned()))
        })
        .collect();
    if let Err(err) = config.apply_env(vars) {
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message:?}");
    }
});
