//! Configuration: builder, TOML and environment, with typed errors naming key and value.

mod common;
#[path = "config/otel_env.rs"]
mod otel_env;

use std::time::Duration;

use aureus_observability::config::{Config, FileSinkConfig, SinkConfig};
use aureus_observability::sinks::console::ConsoleFormat;
use aureus_observability::Error;

fn invalid(err: Error) -> (String, String) {
    match err {
        Error::InvalidConfig { key, value, .. } => (key, value),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn unknown_sink_type_is_named() {
    let err = Config::from_toml_str("[[sinks]]\ntype = \"console\"\n[[sinks]]\ntype = \"kafka\"\n").unwrap_err();
    assert_eq!(invalid(err), ("sinks[1].type".into(), "\"kafka\"".into()));
}

#[test]
fn bad_size_is_named() {
    let err = Config::from_toml_str("[[sinks]]\ntype = \"file\"\nmax_bytes = \"10XB\"\n").unwrap_err();
    assert_eq!(invalid(err), ("sinks[0].max_bytes".into(), "10XB".into()));
    let err = Config::builder()
        .no_server()
        .sink(FileSinkConfig {
            rotate_every: Some("sometimes".into()),
            ..Default::default()
        })
        .build()
        .unwrap_err();
    assert_eq!(invalid(err), ("sinks[0].rotate_every".into(), "sometimes".into()));
}

#[test]
fn invalid_level_filter_is_named() {
    let err = Config::builder()
        .no_server()
        .log_level("info,aureus=loud")
        .build()
        .unwrap_err();
    assert_eq!(invalid(err), ("log_level".into(), "info,aureus=loud".into()));
    let err = Config::from_toml_str("[[sinks]]\ntype = \"console\"\nlevel = \"chatty\"\n").unwrap_err();
    assert_eq!(invalid(err).0, "sinks[0].level");
}

#[test]
fn invalid_correlation_id_is_named() {
    let err = Config::builder()
        .no_server()
        .default_correlation_id("two words")
        .build()
        .unwrap_err();
    assert_eq!(invalid(err), ("default_correlation_id".into(), "two words".into()));
    let mut config = Config::default();
    let err = config.apply_env([("AUREUS_CORRELATION_ID", "<script>")]).unwrap_err();
    assert_eq!(invalid(err).0, "AUREUS_CORRELATION_ID");
}

#[test]
fn unknown_toml_key_is_named_with_its_position() {
    let err = Config::from_toml_str("service_name = \"k\"\nlog_levle = \"debug\"\n").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::ConfigFile { .. }));
    assert!(text.contains("log_levle") && text.contains("line 2"), "{text}");
    let err = Config::from_toml_str("[[sinks]]\ntype = \"file\"\nrotate = \"1h\"\n").unwrap_err();
    assert!(err.to_string().contains("rotate"), "{err}");
}

#[test]
fn duplicate_sink_names_are_rejected() {
    let err = Config::from_toml_str("[[sinks]]\ntype = \"console\"\n[[sinks]]\ntype = \"console\"\n").unwrap_err();
    assert_eq!(invalid(err), ("sinks[1].name".into(), "console".into()));
}

#[test]
fn unwritable_file_path_fails_at_build_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "file").unwrap();
    let path = blocker.join("aureus.jsonl");
    let config = Config::builder()
        .no_server()
        .sink(FileSinkConfig::at(&path))
        .build()
        .unwrap();
    match aureus_observability::build(config) {
        Err(Error::Io { path: reported, .. }) => assert_eq!(reported, path),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn a_full_toml_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aureus.toml");
    std::fs::write(
        &file,
        r#"
service_name = "kernel-a"
environment = "staging"
log_level = "info,aureus=debug"
max_field_bytes = 1024
default_correlation_id = "boot"
resource_attributes = { region = "eu-1" }

[[sinks]]
type = "console"
format = "json"
stream = "stdout"
level = "warn"
overflow = "drop"

[[sinks]]
type = "file"
name = "audit"
path = "/var/log/aureus/audit.jsonl"
max_bytes = "10MiB"
rotate_every = "1h"
max_files = 24
max_total_bytes = "1GB"
compress = true
overflow = "block"
queue_capacity = 4096
"#,
    )
    .unwrap();
    let config = Config::from_toml_file(&file).unwrap();
    assert_eq!(config.service_name, "kernel-a");
    assert_eq!(config.max_field_bytes, 1024);
    assert_eq!(config.sinks.len(), 2);
    assert_eq!(config.sinks[1].name(), "audit");
    let SinkConfig::Console(console) = &config.sinks[0] else {
        panic!()
    };
    assert_eq!(console.format, ConsoleFormat::Json);
    let text = toml::to_string(&config).unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), config);
}

#[test]
fn environment_overrides_in_documented_precedence() {
    let mut config = Config::default();
    config
        .apply_env([
            ("RUST_LOG", "debug"),
            ("AUREUS_LOG", "warn"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,region=eu%2D1,team=core",
            ),
            ("OTEL_SERVICE_NAME", "from-otel"),
            ("AUREUS_MAX_FIELD_BYTES", "2048"),
            ("AUREUS_CONSOLE", "json"),
            ("AUREUS_FILE_PATH", "/tmp/x/aureus.jsonl"),
            ("AUREUS_FILE_MAX_BYTES", "5MB"),
            ("UNRELATED", "ignored"),
        ])
        .unwrap();
    assert_eq!(config.log_level, "warn");
    assert_eq!(config.service_name, "from-otel");
    assert_eq!(config.resource_attributes["region"], "eu-1");
    assert_eq!(config.max_field_bytes, 2048);
    assert_eq!(config.sinks.len(), 2);
    let SinkConfig::File(file) = &config.sinks[1] else {
        panic!()
    };
    assert_eq!(file.max_bytes.as_deref(), Some("5MB"));

    let err = Config::default()
        .apply_env([("AUREUS_FILE_MAX_BYTES", "10XB")])
        .unwrap_err();
    assert_eq!(invalid(err), ("sinks[1].max_bytes".into(), "10XB".into()));
    let err = Config::default()
        .apply_env([("OTEL_RESOURCE_ATTRIBUTES", "novalue")])
        .unwrap_err();
    assert_eq!(invalid(err).0, "OTEL_RESOURCE_ATTRIBUTES");
    let err = Config::default().apply_env([("RUST_LOG", "=bad=")]).unwrap_err();
    assert_eq!(invalid(err).0, "log_level");
    let mut off = Config::default();
    off.apply_env([("AUREUS_CONSOLE", "off")]).unwrap();
    assert!(off.sinks.is_empty());
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "[[[",
        "sinks = 3",
        "[[sinks]]",
        "max_field_bytes = -1",
        "\u{0}",
        "service_name = \"\"",
    ] {
        let _ = Config::from_toml_str(text);
    }
    assert!(Config::from_toml_str("").is_ok());
    let _ = Duration::ZERO;
}

#[test]
fn span_scoped_level_directives_still_apply() {
    let (dispatch, telemetry, collect) = common::collecting("warn,[handle{user=admin}]=debug");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::debug!(target: "kernel", "outside any span");
        let admin = tracing::info_span!("handle", user = "admin");
        admin.in_scope(|| tracing::debug!(target: "kernel", "inside the admin span"));
        let guest = tracing::info_span!("handle", user = "guest");
        guest.in_scope(|| tracing::debug!(target: "kernel", "inside the guest span"));
    });
    assert!(telemetry.flush(std::time::Duration::from_secs(5)));
    let messages: Vec<String> = collect
        .records()
        .iter()
        .filter_map(|r| r.message().map(str::to_owned))
        .collect();
    assert_eq!(messages, ["inside the admin span"]);
}
