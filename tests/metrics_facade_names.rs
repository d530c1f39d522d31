//! The service's own metrics through the `metrics` facade and ours in one
//! `/metrics` document: the facade's histograms are rendered by recorders of
//! their own, yet a name is one family, and no family's sample names clash
//! with another's — a facade histogram named like one of ours, like a
//! counter or gauge, or like another histogram's `_bucket` line is refused
//! and counted, and both formats read back in independent parsers. And the
//! facade's histograms carry their exemplars over OTLP/gRPC. Installs the
//! process-wide `metrics` recorder, so it has this test binary to itself
//! (its tests take turns).

#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::Config;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message as _;

/// The facade follows the latest stack: one test at a time.
static FACADE: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "needs promtool and prometheus_client; run via the README test command"]
fn clashing_facade_names_are_refused_and_both_formats_parse() {
    let _facade = FACADE.lock().unwrap_or_else(|p| p.into_inner());
    let mut config = Config::builder()
        .service_name("kernel-names")
        .no_sinks()
        .build()
        .unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.metrics.histogram_buckets = BTreeMap::from([("*_bucket".to_owned(), vec![1.0, 2.0])]);
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let addr = telemetry.server_addr().unwrap();
    // Kernel code: names that clash with each other and with ours.
    metrics::counter!("kernel_dup").increment(1);
    metrics::histogram!("kernel_dup").record(1.0);
    metrics::counter!("kernel_lat_total").increment(1);
    metrics::histogram!("kernel_lat").record(1.0);
    metrics::gauge!("kernel_hh_created").set(1.0);
    metrics::histogram!("kernel_hh").record(1.0);
    metrics::histogram!("kernel_q").record(1.0);
    metrics::histogram!("kernel_q_bucket").record(1.0);
    metrics::histogram!("aureus_task_duration_ms").record(1.0);
    metrics::counter!("kernel_f_total").increment(1);
    metrics::counter!("kernel_f_created_total").increment(1);
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "w", task_id = "t",
            task_type = "plan", success = true, duration_ms = 5u64);
    });

    let (status, text) = http::get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    if let Err(problems) = prometheus::promtool_check_metrics(&text) {
        // Lint remarks (help text, suffixes) are the service's names; a parse error is ours.
        assert!(!problems.contains("error while linting"), "{problems}\n{text}");
    }
    prometheus::python_parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        text.contains(r#"aureus_telemetry_refused_series_total{reason="type_conflict"} 4"#),
        "kernel_dup, kernel_hh, kernel_q_bucket and aureus_task_duration_ms refused:\n{text}"
    );
    assert!(
        text.contains(r#"aureus_task_duration_ms_bucket{task_type="plan",success="true",le="10"} 1"#),
        "{text}"
    );

    let accept = [("Accept", "application/openmetrics-text;version=1.0.0")];
    let (status, openmetrics) = http::get(addr, "/metrics", &accept).unwrap();
    assert_eq!(status, 200);
    let families = prometheus::python_parse_openmetrics(&openmetrics).unwrap_or_else(|e| panic!("{e}\n{openmetrics}"));
    let type_of = |name: &str| {
        families
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["type"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(type_of("kernel_lat").as_deref(), Some("histogram"));
    assert_eq!(
        type_of("kernel_lat_total").as_deref(),
        Some("unknown"),
        "not family kernel_lat twice"
    );
    assert_eq!(type_of("kernel_f_total").as_deref(), Some("unknown"));
    assert_eq!(type_of("kernel_f_created_total").as_deref(), Some("unknown"));
    assert_eq!(type_of("aureus_task_duration_ms").as_deref(), Some("histogram"));
    drop(dispatch);
    telemetry.shutdown(Duration::from_secs(5));
}

/// The service's own histograms carry exemplars over OTLP/gRPC too: one
/// per bucket hit, each with the correlation id it was observed under, and
/// the trace and span of the span it was observed in. A series `/metrics`
/// refuses because another family has its name is not exported over OTLP
/// either (it would be a second metric of that name).
#[test]
fn facade_histograms_carry_exemplars_over_otlp_grpc() {
    let _facade = FACADE.lock().unwrap_or_else(|p| p.into_inner());
    let receiver = otlp_receiver::OtlpReceiver::start();
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(receiver.endpoint()),
        protocol: Some(OtlpProtocol::Grpc),
        ..OtlpConfig::default()
    };
    otlp.logs.enabled = false;
    otlp.metrics.interval = Some("60s".into());
    let mut config = Config::builder()
        .service_name("kernel-facade-exemplars")
        .no_server()
        .no_sinks()
        .no_monitoring()
        .otlp(otlp)
        .build()
        .unwrap();
    config.metrics.histogram_buckets = BTreeMap::from([("kernel_*_seconds".to_owned(), vec![0.1, 1.0])]);
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for (run, value) in [("run-a", 0.05), ("run-b", 0.5), ("run-c", 5.0)] {
            let span = tracing::info_span!("job", correlation_id = run);
            span.in_scope(|| metrics::histogram!("kernel_job_seconds", "queue" => "q1").record(value));
        }
        // Outside any span or correlation scope: counted, no exemplar.
        metrics::histogram!("kernel_job_seconds", "queue" => "q1").record(0.07);
        // Names another family has: refused on /metrics, and not mirrored as
        // a second metric of that name either.
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "w", task_id = "t",
            task_type = "plan", success = true, duration_ms = 5u64);
        metrics::histogram!("aureus_task_duration_ms", "task_type" => "plan", "success" => "true").record(1.0);
        metrics::counter!("kernel_dup").increment(1);
        metrics::histogram!("kernel_dup").record(1.0);
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let received = receiver.wait_for("a metrics export", Duration::from_secs(10), |r| {
        r.iter().any(|r| r.path.ends_with("MetricsService/Export"))
    });
    let request = received
        .iter()
        .filter(|r| r.path.ends_with("MetricsService/Export"))
        .map(|r| ExportMetricsServiceRequest::decode(&r.payload()[..]).expect("protobuf"))
        .next_back()
        .expect("one");
    let named = |name: &str| {
        request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let ours = named("aureus_task_duration_ms");
    assert_eq!(ours.len(), 1, "{ours:#?}");
    assert_eq!(ours[0].unit, "ms");
    let dup = named("kernel_dup");
    assert_eq!(dup.len(), 1, "{dup:#?}");
    assert!(
        matches!(dup[0].data, Some(metric::Data::Sum(_))),
        "the counter, registered first"
    );
    let point = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "kernel_job_seconds")
        .find_map(|m| match &m.data {
            Some(metric::Data::Histogram(h)) => h.data_points.first().cloned(),
            _ => None,
        })
        .expect("the facade histogram");
    assert_eq!(point.bucket_counts, [2, 1, 1]);
    let runs: Vec<(f64, String, usize, usize)> = point
        .exemplars
        .iter()
        .map(|e| {
            let run = e
                .filtered_attributes
                .iter()
                .find(|kv| kv.key == "aureus.correlation_id")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let value = match e.value {
                Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(v)) => v,
                _ => f64::NAN,
            };
            (value, run, e.trace_id.len(), e.span_id.len())
        })
        .collect();
    assert_eq!(
        runs,
        [
            (0.05, "run-a".to_owned(), 16, 8),
            (0.5, "run-b".to_owned(), 16, 8),
            (5.0, "run-c".to_owned(), 16, 8)
        ],
        "one per bucket hit, in bucket order"
    );
    drop(dispatch);
    telemetry.shutdown(Duration::from_secs(5));
}

/// Names that clash by the formats' suffix rules, registered as counters,
/// gauges and histograms (in two bucket layouts) in random order: every
/// `/metrics` document reads back in the Python client's OpenMetrics and
/// text parsers and in promtool.
#[test]
#[ignore = "needs promtool and prometheus_client; run via the README test command"]
fn any_mix_of_clashing_names_makes_a_valid_document() {
    let _facade = FACADE.lock().unwrap_or_else(|p| p.into_inner());
    const NAMES: [&str; 13] = [
        "k",
        "k_total",
        "k_created",
        "k_bucket",
        "k_count",
        "k_sum",
        "k_info",
        "k_created_total",
        "k_total_total",
        "k_bucket_total",
        "k_x",
        "k_bucket_x",
        "k_count_total",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for trial in 0..40 {
        let mut config = Config::builder()
            .service_name("kernel-mix")
            .no_sinks()
            .no_server()
            .no_monitoring()
            .build()
            .unwrap();
        config.metrics.histogram_buckets = BTreeMap::from([("*_x".to_owned(), vec![1.0, 2.0])]);
        let (_dispatch, telemetry) = aureus_observability::build(config).unwrap();
        let handle = telemetry.metrics().unwrap().clone();
        let mut registered = Vec::new();
        for _ in 0..2 + next() % 5 {
            let name = NAMES[(next() % NAMES.len() as u64) as usize];
            match next() % 3 {
                0 => metrics::counter!(name).increment(1),
                1 => metrics::gauge!(name).set(1.0),
                _ => metrics::histogram!(name).record(1.5),
            }
            registered.push(name);
        }
        let openmetrics = handle.render_as(aureus_observability::metrics::ExpositionFormat::OpenMetrics);
        prometheus::python_parse_openmetrics(&openmetrics)
            .unwrap_or_else(|e| panic!("trial {trial} {registered:?}: {e}\n{openmetrics}"));
        let text = handle.render();
        prometheus::python_parse(&text).unwrap_or_else(|e| panic!("trial {trial} {registered:?}: {e}\n{text}"));
        if let Err(problems) = prometheus::promtool_check_metrics(&text) {
            assert!(
                !problems.contains("error while linting"),
                "trial {trial} {registered:?}: {problems}\n{text}"
            );
        }
        telemetry.shutdown(Duration::from_secs(2));
    }
}
