//! The service's own metrics through the `metrics` facade reach `/metrics`
//! (scraped by a real Prometheus, checked by promtool) and the OpenTelemetry
//! collector (rotel) next to ours: global labels, the cardinality guard,
//! real histogram buckets chosen by name pattern. Installs the process-wide
//! `metrics` recorder, so it has this test binary to itself.

#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/rotel.rs"]
mod rotel;

use std::collections::BTreeMap;
use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::Config;
use prometheus::{promtool_check_metrics, PrometheusServer};
use rotel::{AttrValue, Rotel};
use tracing_subscriber::prelude::*;

#[test]
#[ignore = "needs prometheus, promtool and rotel; run via the README test command"]
fn facade_metrics_reach_prometheus_and_the_collector_next_to_ours() {
    let collector = Rotel::start();
    let mut config = Config::builder()
        .service_name("kernel-facade")
        .no_sinks()
        .otlp(OtlpConfig {
            enabled: true,
            endpoint: Some(collector.grpc_endpoint()),
            protocol: Some(OtlpProtocol::Grpc),
            ..OtlpConfig::default()
        })
        .build()
        .unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.metrics.global_labels = BTreeMap::from([("node".to_owned(), "kernel-a".to_owned())]);
    config.metrics.cardinality_limit = 3;
    config.metrics.histogram_buckets = BTreeMap::from([("kernel_*_seconds".to_owned(), vec![0.1, 1.0, 10.0])]);
    config.otlp.metrics.interval = Some("60s".into());
    let (layer, telemetry) = aureus_observability::layer(config).unwrap();
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let handle = telemetry.metrics().unwrap().clone();
    assert!(handle.is_global_recorder());

    // Kernel code, as written against the facade (described, as promtool wants).
    metrics::describe_counter!("kernel_jobs_total", "Jobs run, per queue.");
    metrics::describe_gauge!("kernel_queue_depth", "Jobs waiting.");
    metrics::describe_histogram!("kernel_job_run_seconds", metrics::Unit::Seconds, "Job run time.");
    metrics::describe_histogram!("kernel_payload_bytes", "Payload size.");
    metrics::counter!("kernel_jobs_total", "queue" => "default").increment(3);
    for queue in ["a", "b", "c", "d"] {
        metrics::counter!("kernel_jobs_total", "queue" => queue).increment(1);
    }
    metrics::gauge!("kernel_queue_depth").set(7.0);
    for value in [0.05, 0.5, 0.5, 5.0, 50.0] {
        metrics::histogram!("kernel_job_run_seconds", "queue" => "default").record(value);
    }
    metrics::histogram!("kernel_payload_bytes").record(0.2);
    tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "fs.read");

    // /metrics: valid exposition, ours and theirs, global labels, buckets.
    handle.run_upkeep();
    let addr = telemetry.server_addr().unwrap();
    let (status, exposition) = http::get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    promtool_check_metrics(&exposition).unwrap_or_else(|e| panic!("{e}\n{exposition}"));
    for line in [
        r#"kernel_jobs_total{node="kernel-a",queue="default"} 3"#,
        r#"kernel_jobs_total{node="kernel-a",queue="a"} 1"#,
        r#"kernel_jobs_total{node="kernel-a",queue="b"} 1"#,
        r#"kernel_jobs_total{node="kernel-a",queue="other"} 2"#,
        r#"aureus_telemetry_cardinality_overflow_total{node="kernel-a",metric="kernel_jobs_total"} 2"#,
        r#"kernel_queue_depth{node="kernel-a"} 7"#,
        r#"kernel_job_run_seconds_bucket{node="kernel-a",queue="default",le="0.1"} 1"#,
        r#"kernel_job_run_seconds_bucket{node="kernel-a",queue="default",le="1"} 3"#,
        r#"kernel_job_run_seconds_bucket{node="kernel-a",queue="default",le="10"} 4"#,
        r#"kernel_job_run_seconds_bucket{node="kernel-a",queue="default",le="+Inf"} 5"#,
        r#"kernel_job_run_seconds_count{node="kernel-a",queue="default"} 5"#,
        r#"kernel_payload_bytes_bucket{node="kernel-a",le="0.25"} 1"#,
        r#"aureus_tool_calls_total{node="kernel-a",tool_name="fs.read"} 1"#,
    ] {
        assert!(exposition.lines().any(|l| l == line), "{line} missing in\n{exposition}");
    }

    // A real Prometheus scrapes it.
    let server = PrometheusServer::start(&[addr], Duration::from_secs(1)).unwrap();
    let scraped = server
        .wait_until(
            r#"kernel_jobs_total{queue="default",node="kernel-a"}"#,
            |v| v == Some(3.0),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    assert_eq!(scraped, Some(3.0));
    let p50 = server
        .query_scalar(r#"histogram_quantile(0.5, sum by (le) (kernel_job_run_seconds_bucket))"#)
        .unwrap();
    assert!(p50.is_some_and(|v| (0.1..=1.0).contains(&v)), "{p50:?}");
    assert_eq!(
        server.query_scalar(r#"sum(kernel_jobs_total)"#).unwrap(),
        Some(7.0),
        "every increment counted, folded ones included"
    );

    // The collector gets the same, as OTLP metrics.
    assert!(telemetry.flush(Duration::from_secs(15)));
    let got = collector.wait_for("the facade's metrics", Duration::from_secs(20), |r| {
        ["kernel_jobs", "kernel_queue_depth", "kernel_job_run_seconds"]
            .iter()
            .all(|name| r.latest_metric(name).is_some())
    });
    let jobs = got.latest_metric("kernel_jobs").unwrap();
    assert_eq!(jobs.data_type, "Sum");
    assert_eq!(jobs.is_monotonic, Some(true));
    let default = jobs.point("queue", "default").unwrap();
    assert_eq!(default.value, Some(3.0));
    assert_eq!(default.attributes.get("node"), Some(&AttrValue::Str("kernel-a".into())));
    assert_eq!(jobs.point("queue", "other").unwrap().value, Some(2.0));
    let depth = got.latest_metric("kernel_queue_depth").unwrap();
    assert_eq!(depth.data_type, "Gauge");
    assert_eq!(depth.points[0].value, Some(7.0));
    let run = got.latest_metric("kernel_job_run_seconds").unwrap();
    assert_eq!(run.data_type, "Histogram");
    let point = run.point("queue", "default").unwrap();
    assert_eq!(point.bounds, [0.1, 1.0, 10.0]);
    assert_eq!(point.bucket_counts, [1, 2, 1, 1]);
    assert_eq!(point.count, Some(5));
    assert!(got.latest_metric("aureus_tool_calls").is_some(), "ours next to theirs");

    // After shutdown the facade records nothing into the stopped stack.
    telemetry.shutdown(Duration::from_secs(10));
    assert!(!handle.is_global_recorder());
    metrics::counter!("kernel_jobs_total", "queue" => "default").increment(100);
    assert!(handle
        .render()
        .contains(r#"kernel_jobs_total{node="kernel-a",queue="default"} 3"#));
}
