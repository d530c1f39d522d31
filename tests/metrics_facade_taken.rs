//! When another `metrics` global recorder is already installed: a typed
//! error by default, a warning and our metrics alone with `if_free`, nothing
//! with `off`. Installs the process-wide recorder: its own test binary.

use std::time::Duration;

use aureus_observability::metrics::GlobalRecorder;
use aureus_observability::{Config, Error};

fn config(policy: GlobalRecorder) -> Config {
    let mut config = Config::builder().no_server().no_sinks().build().unwrap();
    config.metrics.global_recorder = policy;
    config
}

#[test]
fn another_global_recorder_is_a_typed_error_or_a_warning_when_configured() {
    metrics::set_global_recorder(metrics::NoopRecorder).unwrap();

    let err = aureus_observability::build(config(GlobalRecorder::Install)).unwrap_err();
    assert!(matches!(err, Error::GlobalRecorderTaken), "{err}");
    assert!(err.to_string().contains("metrics.global_recorder"), "{err}");

    for policy in [GlobalRecorder::IfFree, GlobalRecorder::Off] {
        let (dispatch, telemetry) = aureus_observability::build(config(policy)).unwrap();
        let metrics = telemetry.metrics().unwrap();
        assert!(!metrics.is_global_recorder(), "{policy:?}");
        // Ours still work.
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "fs.read");
        });
        assert!(metrics
            .render()
            .contains(r#"aureus_tool_calls_total{tool_name="fs.read"} 1"#));
        // The facade's macros go to the other recorder.
        metrics::counter!("kernel_jobs_total").increment(1);
        assert!(!metrics.render().contains("kernel_jobs_total"));
        telemetry.shutdown(Duration::from_secs(5));
    }

    let mut config = config(GlobalRecorder::Install);
    config.metrics.global_recorder = GlobalRecorder::IfFree;
    config.metrics.histogram_buckets.insert("*bad*".into(), vec![1.0]);
    let err = aureus_observability::build(config).unwrap_err();
    assert!(err.to_string().contains("metrics.histogram_buckets.*bad*"), "{err}");
}
