//! Conformance table for the OpenTelemetry "Environment Variable
//! Specification" and the "OTLP Exporter" configuration (specification 1.x):
//! every variable this crate reads — precedence (per-signal over generic,
//! environment over file, `OTEL_SERVICE_NAME` over `service.name`),
//! decoding, empty values, booleans, enums, durations, timeouts, integers —
//! and that every invalid value is an `Error::InvalidConfig` naming the
//! variable. Where the values end up on the wire (URLs, headers, resource)
//! is checked in `otlp_wire.rs`.

use std::collections::BTreeMap;

use aureus_observability::config::{Config, MetricTemporality, OtlpProtocol};
use aureus_observability::Error;

fn env(vars: &[(&str, &str)]) -> Result<Config, Error> {
    let mut config = Config::default();
    config.apply_env(vars.iter().copied())?;
    Ok(config)
}

/// The variable (key) an `InvalidConfig` names.
fn named(result: Result<Config, Error>) -> String {
    match result {
        Err(Error::InvalidConfig { key, .. }) => key,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const ON: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");

#[test]
fn an_empty_value_means_unset() {
    let default = Config::default();
    for var in [
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_LOGS_EXPORTER",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BLRP_SCHEDULE_DELAY",
    ] {
        for empty in ["", " ", "\t"] {
            assert_eq!(env(&[(var, empty)]).unwrap(), default, "{var}={empty:?}");
        }
    }
    // Empty does not override the file either.
    let mut from_file = Config::from_toml_str(
        "[otlp]\nenabled = true\nheaders = { authorization = \"Bearer f\" }\n[otlp.traces]\nheaders = { x-t = \"1\" }\n",
    )
    .unwrap();
    let before = from_file.clone();
    from_file
        .apply_env([
            ("OTEL_EXPORTER_OTLP_HEADERS", ""),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", ""),
        ])
        .unwrap();
    assert_eq!(from_file, before);
}

#[test]
fn booleans_are_true_or_false_in_any_case_and_nothing_else() {
    for value in ["true", "TRUE", "True", " tRuE "] {
        assert!(
            !env(&[ON, ("OTEL_SDK_DISABLED", value)]).unwrap().otlp.enabled,
            "{value}"
        );
    }
    for value in ["false", "FALSE", "False"] {
        assert!(
            env(&[ON, ("OTEL_SDK_DISABLED", value)]).unwrap().otlp.enabled,
            "{value}"
        );
    }
    // The specification makes these false with a warning; we refuse them
    // (documented), so a user meaning "disabled" never runs enabled.
    for value in ["1", "0", "yes", "on", "t", "enabled", "truee"] {
        assert_eq!(
            named(env(&[ON, ("OTEL_SDK_DISABLED", value)])),
            "OTEL_SDK_DISABLED",
            "{value}"
        );
    }
}

#[test]
fn enums_are_read_in_any_case() {
    for (value, protocol) in [
        ("grpc", OtlpProtocol::Grpc),
        ("GRPC", OtlpProtocol::Grpc),
        ("http/protobuf", OtlpProtocol::HttpProtobuf),
        ("HTTP/Protobuf", OtlpProtocol::HttpProtobuf),
        (" http/json ", OtlpProtocol::HttpJson),
    ] {
        let config = env(&[ON, ("OTEL_EXPORTER_OTLP_PROTOCOL", value)]).unwrap();
        assert_eq!(config.otlp.protocol, Some(protocol), "{value}");
        let config = env(&[ON, ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", value)]).unwrap();
        assert_eq!(config.otlp.logs.protocol, Some(protocol), "{value}");
    }
    for (value, temporality) in [
        ("cumulative", MetricTemporality::Cumulative),
        ("Delta", MetricTemporality::Delta),
        (" LOWMEMORY ", MetricTemporality::LowMemory),
    ] {
        let config = env(&[ON, ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)]).unwrap();
        assert_eq!(config.otlp.metrics.temporality, Some(temporality), "{value}");
    }
    for (value, gzip) in [("gzip", "gzip"), ("GZIP", "gzip"), ("none", "none"), ("None", "none")] {
        let config = env(&[ON, ("OTEL_EXPORTER_OTLP_COMPRESSION", value)]).unwrap();
        assert_eq!(config.otlp.compression.as_deref(), Some(gzip), "{value}");
    }
    for (value, enabled) in [
        ("otlp", true),
        ("OTLP", true),
        (" otlp , otlp ", true),
        ("none", false),
        ("NONE", false),
    ] {
        for var in ["OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_METRICS_EXPORTER"] {
            let config = env(&[ON, (var, value)]).unwrap();
            let signal = match var {
                "OTEL_TRACES_EXPORTER" => &config.otlp.traces,
                "OTEL_LOGS_EXPORTER" => &config.otlp.logs,
                _ => &config.otlp.metrics,
            };
            assert_eq!(signal.enabled, enabled, "{var}={value}");
        }
    }
}

#[test]
fn invalid_values_are_errors_naming_the_variable() {
    let cases: &[(&str, &str)] = &[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc+json"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "br"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1.5"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/nonexistent/ca.pem"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "bad header=1"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x=%0A"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x=%ZZ"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_LOGS_EXPORTER", "console"),
        ("OTEL_LOGS_EXPORTER", "otlp,none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "60s"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "deltas"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "low_memory"),
        ("OTEL_BSP_SCHEDULE_DELAY", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "-5"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "many"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "99999999999"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "9000"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "9000"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "1s"),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
    ];
    for (var, value) in cases {
        assert_eq!(named(env(&[ON, (var, value)])), *var, "{var}={value:?}");
    }
    // A batch size larger than the queue is refused when both are given.
    let both = env(&[
        ON,
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "101"),
    ]);
    assert_eq!(named(both), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
}

#[test]
fn durations_and_timeouts_are_whole_milliseconds_and_timeout_zero_is_no_limit() {
    let config = env(&[
        ON,
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "300"),
    ])
    .unwrap();
    assert_eq!(
        config.otlp.timeout.as_deref(),
        Some("2147483647ms"),
        "0 = no limit (2^31-1 ms)"
    );
    assert_eq!(config.otlp.traces.timeout.as_deref(), Some("2500ms"));
    assert_eq!(config.otlp.metrics.interval.as_deref(), Some("15000ms"));
    assert_eq!(config.otlp.traces.batch.interval.as_deref(), Some("200ms"));
    assert_eq!(config.otlp.logs.batch.interval.as_deref(), Some("300ms"));
}

#[test]
fn batch_variables_configure_their_own_signal() {
    let config = env(&[
        ON,
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "5000"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "1000"),
    ])
    .unwrap();
    let (traces, logs) = (&config.otlp.traces.batch, &config.otlp.logs.batch);
    assert_eq!((traces.queue_capacity, traces.max_batch), (Some(100), None));
    assert_eq!((logs.queue_capacity, logs.max_batch), (Some(5000), Some(1000)));
    assert_eq!(
        config.otlp.batch,
        Config::default().otlp.batch,
        "the shared settings are untouched"
    );
}

#[test]
fn per_signal_variables_override_the_generic_ones() {
    let config = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/v1/traces"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Basic%20abc,x-tenant=a%2Cb"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-trace-key=t1"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2000"),
    ])
    .unwrap();
    let otlp = &config.otlp;
    assert_eq!(otlp.endpoint.as_deref(), Some("http://generic:4318"));
    assert_eq!(otlp.traces.endpoint.as_deref(), Some("http://traces:4318/v1/traces"));
    assert_eq!(otlp.protocol, Some(OtlpProtocol::HttpJson));
    assert_eq!(otlp.logs.protocol, Some(OtlpProtocol::Grpc));
    assert_eq!(
        otlp.headers,
        map(&[("authorization", "Basic abc"), ("x-tenant", "a,b")])
    );
    assert_eq!(
        otlp.traces.headers,
        map(&[("x-trace-key", "t1")]),
        "the per-signal list replaces the generic one for traces (sent instead, never merged)"
    );
    assert!(otlp.logs.headers.is_empty() && otlp.metrics.headers.is_empty());
    assert_eq!(otlp.metrics.compression.as_deref(), Some("none"));
    assert_eq!(otlp.logs.timeout.as_deref(), Some("2000ms"));
    // A per-signal certificate is checked (and named) even when the generic one is fine.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
    let ca = ca.to_str().unwrap();
    assert!(env(&[ON, ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)]).is_ok());
    let err = env(&[
        ON,
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/nonexistent/traces.pem"),
    ]);
    assert_eq!(named(err), "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE");
}

#[test]
fn the_environment_overrides_the_file_key_by_key() {
    let mut config = Config::from_toml_str(
        r#"
        service_name = "from-file"
        resource_attributes = { region = "eu-1", team = "file" }
        [otlp]
        enabled = true
        endpoint = "http://file:4318"
        headers = { authorization = "Bearer file", x-file = "1" }
        compression = "gzip"
        [otlp.traces]
        headers = { x-file-traces = "1" }
        "#,
    )
    .unwrap();
    config
        .apply_env([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20env"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=env,service.name=from-attributes"),
        ])
        .unwrap();
    let otlp = &config.otlp;
    assert_eq!(otlp.endpoint.as_deref(), Some("http://env:4318"));
    assert_eq!(
        otlp.headers,
        map(&[("authorization", "Bearer env")]),
        "the variable replaces the file's list"
    );
    assert_eq!(
        otlp.traces.headers,
        map(&[("x-file-traces", "1")]),
        "a per-signal file setting stays (more specific)"
    );
    assert_eq!(otlp.compression.as_deref(), Some("gzip"), "keys not set stay");
    assert_eq!(config.service_name, "from-attributes");
    assert_eq!(config.resource_attributes, map(&[("region", "eu-1"), ("team", "env")]));
}

#[test]
fn otel_service_name_wins_over_service_name_in_the_attributes() {
    for order in [
        [
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"),
            ("OTEL_SERVICE_NAME", "from-variable"),
        ],
        [
            ("OTEL_SERVICE_NAME", "from-variable"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"),
        ],
    ] {
        assert_eq!(env(&order).unwrap().service_name, "from-variable");
    }
    let only = env(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")]).unwrap();
    assert_eq!(only.service_name, "from-attributes");
}

#[test]
fn resource_attributes_decoding_table() {
    // (value, attributes kept apart from service.name / deployment.environment)
    let valid: &[(&str, &[(&str, &str)])] = &[
        ("key1=value1,key2=value2", &[("key1", "value1"), ("key2", "value2")]),
        ("region=eu%2D1", &[("region", "eu-1")]),
        ("k%2Cey=v%3Dal%2Cue", &[("k,ey", "v=al,ue")]),
        ("note=a%20b", &[("note", "a b")]),
        ("note=a b", &[("note", "a b")]),
        ("plus=a+b", &[("plus", "a+b")]),
        ("name=Am%C3%A9lie", &[("name", "Amélie")]),
        (" a = 1 , b\t=\t2 ", &[("a", "1"), ("b", "2")]),
        ("a=1,,b=2,", &[("a", "1"), ("b", "2")]),
        ("empty=", &[("empty", "")]),
    ];
    for (value, expected) in valid {
        let config = env(&[("OTEL_RESOURCE_ATTRIBUTES", value)]).unwrap();
        assert_eq!(config.resource_attributes, map(expected), "{value}");
    }
    // Any error discards the whole variable: here, a typed error naming it.
    for value in [
        "service.name=checkout,bad=%ZZ",
        "bad=%",
        "bad=%4",
        "bad=%FF",
        "bad=%C3%28",
        "bad=%E2%82",
        "%ZZ=value",
        "novalue",
        "=value",
        "a=b=c",
        "a=1,a=2",
    ] {
        let err = env(&[("OTEL_RESOURCE_ATTRIBUTES", value)]);
        assert_eq!(named(err), "OTEL_RESOURCE_ATTRIBUTES", "{value}");
    }
}

#[test]
fn header_decoding_table() {
    let valid: &[(&str, &[(&str, &str)])] = &[
        (
            "authorization=Basic%20abc,x-tenant=a%2Cb",
            &[("authorization", "Basic abc"), ("x-tenant", "a,b")],
        ),
        ("Api-Key=secret", &[("api-key", "secret")]),
        ("x-b64=YWJjZA==", &[("x-b64", "YWJjZA==")]),
        ("authorization=Bearer token", &[("authorization", "Bearer token")]),
        (" a = 1 ,, b=%3B ", &[("a", "1"), ("b", ";")]),
        ("x-plus=a+b", &[("x-plus", "a+b")]),
    ];
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    ] {
        for (value, expected) in valid {
            let config = env(&[ON, (var, value)]).unwrap();
            let headers = match var {
                "OTEL_EXPORTER_OTLP_HEADERS" => &config.otlp.headers,
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => &config.otlp.traces.headers,
                "OTEL_EXPORTER_OTLP_LOGS_HEADERS" => &config.otlp.logs.headers,
                _ => &config.otlp.metrics.headers,
            };
            assert_eq!(*headers, map(expected), "{var}={value}");
        }
        for value in [
            "x=%ZZ", "x=%", "x=%C3%28", "x=%FF", "x=%C3%A9", "x=a%0Ab", "x=a;b", "novalue", "=v", "a b=1", "x=1,X=2",
        ] {
            match env(&[ON, (var, value)]) {
                Err(Error::InvalidConfig { key, value: shown, .. }) => {
                    assert_eq!(key, var, "{var}={value}");
                    assert_eq!(shown, "<hidden>", "header values are never shown");
                }
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }
}

#[test]
fn batch_tables_per_signal_parse_and_metrics_has_none() {
    let config = Config::from_toml_str(
        "[otlp]\nenabled = true\n[otlp.traces.batch]\nqueue_capacity = 100\n[otlp.logs.batch]\nmax_batch = 256\ninterval = \"250ms\"\n",
    )
    .unwrap();
    assert_eq!(config.otlp.traces.batch.queue_capacity, Some(100));
    assert_eq!(config.otlp.logs.batch.max_batch, Some(256));
    let err = Config::from_toml_str("[otlp]\nenabled = true\n[otlp.metrics.batch]\nmax_batch = 1\n").unwrap_err();
    assert!(err.to_string().contains("otlp.metrics.batch"), "{err}");
}

#[test]
fn temporality_is_a_metrics_setting_from_the_file_or_the_variable() {
    let config = Config::from_toml_str("[otlp]\nenabled = true\n[otlp.metrics]\ntemporality = \"delta\"\n").unwrap();
    assert_eq!(config.otlp.metrics.temporality, Some(MetricTemporality::Delta));
    let err = Config::from_toml_str("[otlp]\nenabled = true\n[otlp.metrics]\ntemporality = \"Delta\"\n").unwrap_err();
    assert!(err.to_string().contains("temporality"), "{err}");
    for signal in ["traces", "logs"] {
        let err = Config::from_toml_str(&format!(
            "[otlp]\nenabled = true\n[otlp.{signal}]\ntemporality = \"delta\"\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains(&format!("otlp.{signal}.temporality")), "{err}");
    }
    // The variable overrides the file.
    let mut config =
        Config::from_toml_str("[otlp]\nenabled = true\n[otlp.metrics]\ntemporality = \"delta\"\n").unwrap();
    config
        .apply_env([("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative")])
        .unwrap();
    assert_eq!(config.otlp.metrics.temporality, Some(MetricTemporality::Cumulative));
}
