//! The `metrics` facade without external peers: the service's macros reach
//! `/metrics`; a stack built later takes the facade over; a stopped stack
//! receives nothing. Installs the process-wide recorder: its own test binary.

use std::time::Duration;

use aureus_observability::Config;

#[test]
fn the_facade_follows_the_running_stack() {
    let first = aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap())
        .unwrap()
        .1;
    let metrics1 = first.metrics().unwrap().clone();
    assert!(metrics1.is_global_recorder());
    metrics::counter!("kernel_jobs_total", "queue" => "default").increment(3);
    metrics::histogram!("kernel_job_seconds").record(0.3);
    metrics1.run_upkeep();
    let text = metrics1.render();
    assert!(text.contains(r#"kernel_jobs_total{queue="default"} 3"#), "{text}");
    assert!(
        text.contains(r#"kernel_job_seconds_bucket{le="0.5"} 1"#),
        "real buckets: {text}"
    );
    assert!(!text.contains("quantile"), "no summaries: {text}");

    // A second stack takes over the facade.
    let second = aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap())
        .unwrap()
        .1;
    let metrics2 = second.metrics().unwrap().clone();
    metrics::counter!("kernel_jobs_total", "queue" => "default").increment(1);
    assert!(metrics2.render().contains(r#"kernel_jobs_total{queue="default"} 1"#));
    assert!(metrics1.render().contains(r#"kernel_jobs_total{queue="default"} 3"#));

    // Stopping the first changes nothing for the second; stopping the second
    // leaves the facade recording nothing.
    first.shutdown(Duration::from_secs(5));
    assert!(metrics2.is_global_recorder());
    metrics::counter!("kernel_jobs_total", "queue" => "default").increment(1);
    assert!(metrics2.render().contains(r#"kernel_jobs_total{queue="default"} 2"#));
    second.shutdown(Duration::from_secs(5));
    metrics::counter!("kernel_jobs_total", "queue" => "default").increment(1);
    assert!(metrics2.render().contains(r#"kernel_jobs_total{queue="default"} 2"#));
}
