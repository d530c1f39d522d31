//! The service's own metrics through the `metrics` facade and ours in one
//! `/metrics` document: the facade's histograms are rendered by recorders of
//! their own, yet a name is one family, and no family's sample names clash
//! with another's — a facade histogram named like one of ours, like a
//! counter or gauge, or like another histogram's `_bucket` line is refused
//! and counted, and both formats read back in independent parsers. Installs
//! the process-wide `metrics` recorder, so it has this test binary to itself.

#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::BTreeMap;
use std::time::Duration;

use aureus_observability::Config;

#[test]
#[ignore = "needs promtool and prometheus_client; run via the README test command"]
fn clashing_facade_names_are_refused_and_both_formats_parse() {
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
