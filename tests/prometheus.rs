//! Against the real Prometheus tools (Debian package `prometheus`, installed by
//! `scripts/install-peers.sh`): `promtool check metrics` on the demo kernel's
//! `/metrics` under load, and a real Prometheus server scraping the demo
//! whose counters must equal what the demo says it emitted.

#[path = "support/demo.rs"]
mod demo;
#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::time::Duration;

use demo::Demo;

use prometheus::{http_get, promtool_check_metrics, PrometheusServer};

#[test]
#[ignore = "needs promtool; run via the README test command"]
fn promtool_accepts_the_demo_metrics_under_load() {
    let dir = tempfile::tempdir().unwrap();
    // Base units (seconds): the exposition must be lint-free.
    let demo = Demo::start(
        dir.path(),
        &[
            "--workflows",
            "16",
            "--rate",
            "0",
            "--duration",
            "0",
            "--failure-rate",
            "0.3",
        ],
        &[("AUREUS_METRICS_DURATION_UNIT", "seconds")],
    );
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        let (status, body) = http_get(demo.addr, "/metrics", &[]).unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("aureus_task_duration_seconds_bucket"));
        promtool_check_metrics(&body).unwrap();
    }
    demo.terminate();

    // The contract's default (`aureus_task_duration_ms`): the one and only
    // finding is promtool's style note on the `_ms` name the contract fixes.
    let demo = Demo::start(dir.path(), &["--workflows", "8", "--rate", "0", "--duration", "0"], &[]);
    std::thread::sleep(Duration::from_millis(800));
    let (_, body) = http_get(demo.addr, "/metrics", &[]).unwrap();
    let findings = promtool_check_metrics(&body).expect_err("the _ms name is reported");
    let problems: Vec<&str> = findings.lines().filter(|l| l.starts_with("aureus_")).collect();
    assert_eq!(
        problems,
        ["aureus_task_duration_ms metric names should not contain abbreviated units"],
        "{findings}"
    );
    demo.terminate();
}

#[test]
#[ignore = "needs prometheus; run via the README test command"]
fn real_prometheus_scrape_equals_what_the_demo_emitted() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(
        dir.path(),
        &[
            "--workflows",
            "8",
            "--rate",
            "1500",
            // Long enough for several scrapes while emitting (Prometheus picks up a new
            // target ~5 s after start), so `rate()` over the histogram is defined.
            "--duration",
            "12",
            "--linger",
            "120",
            "--failure-rate",
            "0.25",
            "--seed",
            "11",
        ],
        &[],
    );
    let server = PrometheusServer::start(&[demo.addr], Duration::from_secs(1)).unwrap();
    let emitted: serde_json::Value =
        serde_json::from_str(&demo.wait_for_line("EMITTED ", Duration::from_secs(60))).unwrap();
    let count = |kind: &str| emitted[kind].as_f64().unwrap();
    let failures: f64 = emitted["tasks"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["failure"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(count("step_start") > 100.0 && failures > 0.0, "{emitted}");

    let expectations = [
        ("sum(aureus_tasks_started_total)", count("step_start")),
        ("sum(aureus_tasks_completed_total)", count("step_end")),
        (r#"sum(aureus_tasks_completed_total{success="false"})"#, failures),
        ("sum(aureus_task_duration_ms_count)", count("step_end")),
        ("sum(aureus_tool_calls_total)", count("tool_call")),
        ("sum(aureus_crv_checks_total)", count("crv_result")),
        ("sum(aureus_policy_checks_total)", count("policy_check")),
        ("sum(aureus_snapshots_total)", count("snapshot_commit")),
        ("sum(aureus_rollbacks_total)", count("rollback")),
    ];
    for (query, expected) in expectations {
        let got = server
            .wait_until(query, |v| v == Some(expected), Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{query}: {e}\n{}", server.logs()));
        assert_eq!(got, Some(expected), "{query}");
    }
    let p90 = server
        .wait_until(
            "histogram_quantile(0.9, sum by (le) (rate(aureus_task_duration_ms_bucket[1m])))",
            |v| v.is_some_and(f64::is_finite),
            Duration::from_secs(30),
        )
        .unwrap()
        .unwrap();
    assert!(p90 > 0.0 && p90 <= 600_000.0, "p90 = {p90}");
    assert_eq!(server.targets_up().unwrap(), 1);
    demo.terminate();
}

#[test]
#[ignore = "needs prometheus; run via the README test command"]
fn fleet_view_sums_two_kernels_from_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let args = |seed: &'static str| {
        [
            "--workflows",
            "4",
            "--rate",
            "600",
            "--duration",
            "4",
            "--linger",
            "120",
            "--failure-rate",
            "0.3",
            "--seed",
            seed,
        ]
    };
    let mut first = Demo::start(dir.path(), &args("21"), &[]);
    let mut second = Demo::start(dir.path(), &args("22"), &[]);
    let server = PrometheusServer::start(&[first.addr, second.addr], Duration::from_secs(1)).unwrap();
    let emitted = |demo: &mut Demo| -> serde_json::Value {
        serde_json::from_str(&demo.wait_for_line("EMITTED ", Duration::from_secs(60))).unwrap()
    };
    let (a, b) = (emitted(&mut first), emitted(&mut second));
    let total = |kind: &str| a[kind].as_u64().unwrap() + b[kind].as_u64().unwrap();

    // A third process: the dashboard reading from Prometheus.
    let config = aureus_observability::Config {
        monitoring: aureus_observability::config::MonitoringConfig {
            source: aureus_observability::config::MonitoringSource::Prometheus,
            prometheus_url: Some(format!("http://{}", server.addr())),
            ..Default::default()
        },
        ..aureus_observability::Config::builder()
            .listen("127.0.0.1:0")
            .no_sinks()
            .build()
            .unwrap()
    };
    let (_dispatch, fleet) = aureus_observability::build(config).unwrap();
    let addr = fleet.server_addr().unwrap();
    let want = [
        ("stepEnds", total("step_end")),
        ("rollbacks", total("rollback")),
        ("policyChecks", total("policy_check")),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = serde_json::Value::Null;
    loop {
        let (status, body) = prometheus::http_get(addr, "/api/monitoring/metrics?timeRange=3600000", &[]).unwrap();
        if status == 200 {
            last = serde_json::from_str(&body).unwrap();
            if want.iter().all(|(key, value)| last[key].as_u64() == Some(*value)) {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fleet totals never matched {want:?}: {last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(last["source"], "prometheus");
    assert!(want[0].1 > 0 && last["successRate"].as_f64().is_some());
    fleet.shutdown(Duration::from_secs(5));
    first.terminate();
    second.terminate();
}
