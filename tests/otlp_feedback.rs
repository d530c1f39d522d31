//! No feedback loop: with the stack installed globally at `trace` level and
//! no target list in the user's filter, the export machinery's own events
//! (h2, tonic, hyper, ureq, rustls, opentelemetry…, from exporter threads and
//! the SDK's reader thread) never reach a sink or the collector, while the
//! exporters keep working. Its own test binary: it installs the global subscriber.

mod common;
#[path = "support/http.rs"]
mod http;
#[path = "support/rotel.rs"]
mod rotel;

use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::Config;
use rotel::Rotel;

const TRANSPORT_TARGETS: [&str; 7] = ["hyper", "h2", "tonic", "tower", "ureq", "rustls", "reqwest"];

#[test]
#[ignore = "needs rotel-agent; run via the README test command"]
fn export_internals_never_come_back_even_at_trace_level() {
    // One collector; traces and metrics over gRPC, logs over HTTP: both stacks' internals run.
    let collector = Rotel::start();
    let mut config = OtlpConfig {
        enabled: true,
        endpoint: Some(collector.grpc_endpoint()),
        protocol: Some(OtlpProtocol::Grpc),
        ..OtlpConfig::default()
    };
    config.logs.endpoint = Some(format!("{}/v1/logs", collector.http_endpoint()));
    config.logs.protocol = Some(OtlpProtocol::HttpProtobuf);
    config.batch.interval = "100ms".into();
    config.metrics.interval = Some("200ms".into());
    // No target list in the user's filter: everything at trace level.
    let config = Config::builder()
        .service_name("aureus-quiet")
        .log_level("trace")
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(config)
        .build()
        .unwrap();
    let telemetry = aureus_observability::init(config).expect("installs globally");
    let collect = common::Collect::default();
    telemetry
        .sinks()
        .add("collect", collect.clone(), common::lossless())
        .unwrap();
    {
        let span = tracing::info_span!("work", correlation_id = "corr-quiet");
        let _entered = span.enter();
        for i in 0..3 {
            tracing::info!(target: "kernel", i, "real work");
        }
    }
    assert!(telemetry.flush(Duration::from_secs(10)));
    collector.wait_for("the three records", Duration::from_secs(10), |r| r.logs.len() >= 3);
    // Idle while metrics export every 200 ms and spans/logs flush.
    std::thread::sleep(Duration::from_secs(2));
    assert!(telemetry.flush(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(500));
    let got = collector.received();
    assert_eq!(
        got.logs.len(),
        3,
        "only the real records were exported: {:?}",
        got.logs.iter().map(|l| (&l.scope, &l.body)).collect::<Vec<_>>()
    );
    assert_eq!(
        got.spans.len(),
        1,
        "only the real span: {:?}",
        got.spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    {
        assert!(got.metrics.len() >= 5, "metrics kept exporting while idle");
        let leaked: Vec<_> = collect
            .records()
            .into_iter()
            .filter(|r| TRANSPORT_TARGETS.iter().any(|t| r.target.starts_with(t)))
            .map(|r| r.target)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(10)
            .collect();
        assert!(
            leaked.is_empty(),
            "transport logs reached the pipeline, e.g. {leaked:?}"
        );
        assert!(
            telemetry.suppressed_feedback_events() > 0,
            "the exporters did log, and it was held back"
        );
    }
    let report = telemetry.shutdown(Duration::from_secs(5));
    assert!(report.is_clean(), "{report}");
}
