//! OTLP over TLS (rustls) against an `https://` endpoint whose certificate is
//! signed by a CA made at test time: trusted through `ca_file` or
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, over HTTP/protobuf and gRPC (ALPN h2);
//! refused, and counted, without it.

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/tls_proxy.rs"]
mod tls_proxy;

use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::{Config, Telemetry};
use otlp_receiver::OtlpReceiver;
use tls_proxy::TlsProxy;

fn logs_only(endpoint: String, protocol: OtlpProtocol) -> OtlpConfig {
    let mut config = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    config.traces.enabled = false;
    config.metrics.enabled = false;
    config.batch.interval = "50ms".into();
    config.timeout = Some("3s".into());
    config.retry.max_retries = 0;
    config
}

fn build(config: Config) -> (tracing::Dispatch, Telemetry) {
    aureus_observability::build(config).expect("stack builds")
}

fn base() -> aureus_observability::config::ConfigBuilder {
    Config::builder().no_server().no_monitoring().no_sinks()
}

fn send_one(dispatch: &tracing::Dispatch, telemetry: &Telemetry) {
    tracing::dispatcher::with_default(
        dispatch,
        || tracing::info!(target: "kernel", secret_path = "tls", "over tls"),
    );
    telemetry.flush(Duration::from_secs(10));
}

#[test]
fn https_with_a_custom_ca_file_over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc] {
        let receiver = OtlpReceiver::start();
        let upstream = receiver.endpoint().trim_start_matches("http://").parse().unwrap();
        let proxy = TlsProxy::start(upstream);
        let mut otlp = logs_only(proxy.endpoint(), protocol);
        otlp.ca_file = Some(proxy.write_ca(dir.path()));
        let (dispatch, telemetry) = build(base().otlp(otlp).build().unwrap());
        send_one(&dispatch, &telemetry);
        let received = receiver.wait_for("the record through TLS", Duration::from_secs(10), |r| !r.is_empty());
        assert!(proxy.handshakes() >= 1, "{protocol:?}: a TLS handshake happened");
        assert_eq!(received[0].is_grpc(), protocol == OtlpProtocol::Grpc);
        let health = telemetry.sinks().health("otlp").unwrap();
        assert_eq!((health.delivered, health.failed), (1, 0), "{protocol:?}: {health:?}");
        telemetry.shutdown(Duration::from_secs(5));
    }
}

#[test]
fn the_certificate_variable_names_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start();
    let proxy = TlsProxy::start(receiver.endpoint().trim_start_matches("http://").parse().unwrap());
    let ca = proxy.write_ca(dir.path());
    let mut config = base().build().unwrap();
    config
        .apply_env([
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                format!("{}/v1/logs", proxy.endpoint()),
            ),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.display().to_string()),
            ("OTEL_TRACES_EXPORTER", "none".to_owned()),
            ("OTEL_METRICS_EXPORTER", "none".to_owned()),
            ("OTEL_BLRP_SCHEDULE_DELAY", "50".to_owned()),
        ])
        .unwrap();
    let (dispatch, telemetry) = build(config);
    send_one(&dispatch, &telemetry);
    let received = receiver.wait_for("the record through TLS", Duration::from_secs(10), |r| !r.is_empty());
    assert_eq!(received[0].path, "/v1/logs");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn an_untrusted_certificate_is_refused_and_counted() {
    for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc] {
        let receiver = OtlpReceiver::start();
        let proxy = TlsProxy::start(receiver.endpoint().trim_start_matches("http://").parse().unwrap());
        // No ca_file: only the public roots are trusted.
        let (dispatch, telemetry) = build(base().otlp(logs_only(proxy.endpoint(), protocol)).build().unwrap());
        send_one(&dispatch, &telemetry);
        let health = telemetry.sinks().health("otlp").unwrap();
        assert_eq!((health.delivered, health.failed), (0, 1), "{protocol:?}: {health:?}");
        assert!(receiver.received().is_empty(), "nothing got through");
        assert!(proxy.refused() >= 1, "{protocol:?}: the client broke the handshake off");
        telemetry.shutdown(Duration::from_secs(5));
    }
}

/// Metrics over gRPC go through their own client (for the exemplars): the
/// same CA file is trusted, and without it the export is refused and counted.
#[test]
fn metrics_over_grpc_trust_the_ca_file_and_refuse_without_it() {
    let dir = tempfile::tempdir().unwrap();
    for trusted in [true, false] {
        let receiver = OtlpReceiver::start();
        let proxy = TlsProxy::start(receiver.endpoint().trim_start_matches("http://").parse().unwrap());
        let mut otlp = logs_only(proxy.endpoint(), OtlpProtocol::Grpc);
        otlp.logs.enabled = false;
        otlp.metrics.enabled = true;
        otlp.metrics.interval = Some("60s".into());
        if trusted {
            otlp.ca_file = Some(proxy.write_ca(dir.path()));
        }
        let (dispatch, telemetry) = build(base().otlp(otlp).build().unwrap());
        send_one(&dispatch, &telemetry);
        let counts = telemetry.otlp_counts("metrics").expect("metrics are exported");
        if trusted {
            let received = receiver.wait_for("metrics through TLS", Duration::from_secs(10), |r| !r.is_empty());
            assert!(proxy.handshakes() >= 1, "a TLS handshake happened");
            assert_eq!(
                received[0].path,
                "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
            );
            assert_eq!((counts.exported, counts.failed), (1, 0), "{counts:?}");
        } else {
            assert!(receiver.received().is_empty(), "nothing got through");
            // The proxy counts the broken handshake on its own thread, maybe
            // just after the client has given up.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while proxy.refused() == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(proxy.refused() >= 1, "the client broke the handshake off");
            assert_eq!((counts.exported, counts.failed), (0, 1), "{counts:?}");
        }
        drop(dispatch);
        telemetry.shutdown(Duration::from_secs(5));
    }
}

#[test]
fn a_ca_file_without_certificates_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-ca.pem");
    std::fs::write(&path, "hello").unwrap();
    let mut otlp = logs_only("https://127.0.0.1:4318".into(), OtlpProtocol::HttpProtobuf);
    otlp.ca_file = Some(path);
    let err = base().otlp(otlp).build().unwrap_err().to_string();
    assert!(err.contains("otlp.ca_file") && err.contains("not-a-ca.pem"), "{err}");
}
