//! `Config::from_env` / `Config::apply_process_env` with variables that are
//! not UTF-8: an unrelated one is ignored (it used to panic inside
//! `std::env::vars()`), one of ours is a typed error naming it, and
//! `AUREUS_CONFIG` may name any path. One test: it edits the process
//! environment, so nothing else runs in this binary.
#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use aureus_observability::{Config, Error};

#[test]
fn variables_that_are_not_utf8_are_ignored_or_named_never_a_panic() {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("AUREUS_") || key.starts_with("OTEL_") || key == "RUST_LOG" {
            std::env::remove_var(key);
        }
    }
    let latin1 = OsStr::from_bytes(b"caf\xe9");

    // Someone else's variable (a Latin-1 locale leftover): none of our business.
    std::env::set_var("SOME_LEGACY_SETTING", latin1);
    std::env::set_var(OsStr::from_bytes(b"LEGACY_\xff_NAME"), "x");
    std::env::set_var("AUREUS_SERVICE_NAME", "checkout");
    let config = Config::from_env().expect("unrelated variables that are not UTF-8 are ignored");
    assert_eq!(config.service_name, "checkout");
    let mut config = Config::default();
    config.apply_process_env().expect("same through apply_process_env");
    assert_eq!(config.service_name, "checkout");

    // One of ours: a typed error naming the variable, without its value.
    for ours in ["AUREUS_SERVICE_NAME", "OTEL_EXPORTER_OTLP_HEADERS", "RUST_LOG"] {
        std::env::set_var(ours, OsStr::from_bytes(b"secret\xff"));
        for result in [Config::from_env().map(|_| ()), Config::default().apply_process_env()] {
            match result {
                Err(Error::InvalidConfig { key, value, reason }) => {
                    assert_eq!(key, ours);
                    assert!(!value.contains("secret"), "{value}");
                    assert!(reason.contains("UTF-8"), "{reason}");
                }
                other => panic!("{ours}: {other:?}"),
            }
        }
        std::env::remove_var(ours);
    }

    // AUREUS_CONFIG names a file whose path is not UTF-8.
    let dir = std::env::temp_dir().join(format!("aureus-env-not-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(OsStr::from_bytes(b"conf\xe9.toml"));
    std::fs::write(&path, "service_name = \"from-file\"\n").unwrap();
    std::env::set_var("AUREUS_CONFIG", &path);
    let config = Config::from_env().expect("a path that is not UTF-8 is still a path");
    assert_eq!(config.service_name, "from-file");
    std::env::remove_var("AUREUS_CONFIG");
    let _ = std::fs::remove_dir_all(&dir);
}
