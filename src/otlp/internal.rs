//! What must never be exported: the exporter's own diagnostics.
//!
//! An export makes the HTTP/gRPC stack log (hyper, h2, tonic, ureq, rustls …);
//! if those records were exported in turn, every export would cause another —
//! a feedback loop. Two guards, neither needing user configuration:
//! records from these crates' targets never reach the OTLP signals, and
//! nothing emitted on an exporter thread reaches any sink (those threads are
//! marked like sink workers).

/// Target prefixes of the crates that export (and of the OTel SDK itself).
pub(crate) const EXPORTER_TARGETS: [&str; 12] = [
    "opentelemetry",
    "tracing_opentelemetry",
    "hyper",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "rustls",
    "ureq",
    "http_body",
    "want",
    "mio",
];

/// Whether `target` belongs to the export machinery (by crate prefix:
/// `hyper_util::client` matches `hyper`).
pub(crate) fn is_exporter_target(target: &str) -> bool {
    EXPORTER_TARGETS.iter().any(|prefix| {
        target.starts_with(prefix)
            && matches!(
                target.as_bytes().get(prefix.len()),
                None | Some(b':') | Some(b'_') | Some(b'-')
            )
    })
}

#[cfg(test)]
mod tests {
    use super::is_exporter_target;

    #[test]
    fn matches_crates_by_prefix_only() {
        for target in [
            "hyper",
            "hyper_util::client::legacy",
            "h2::codec",
            "opentelemetry_sdk",
            "ureq_proto::x",
            "tonic",
        ] {
            assert!(is_exporter_target(target), "{target}");
        }
        for target in ["aureus", "hyperdrive", "h2o", "my_app::tonic", "towers"] {
            assert!(!is_exporter_target(target), "{target}");
        }
    }
}
