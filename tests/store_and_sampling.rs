//! The event store through the whole stack (queries, bounds under 1M events)
//! and head sampling (counted, never for trouble, metrics unaffected).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aureus_observability::config::{SamplingConfig, StoreConfig};
use aureus_observability::event::{StepEnd, ToolCall};
use aureus_observability::{Config, EventQuery};
use serde_json::json;

fn config_with(store: StoreConfig, sampling: SamplingConfig) -> Config {
    Config {
        store,
        sampling,
        ..Config::builder()
            .no_monitoring()
            .no_server()
            .no_sinks()
            .build()
            .unwrap()
    }
}

#[test]
fn store_answers_every_filter_newest_first() {
    let (dispatch, telemetry) =
        aureus_observability::build(config_with(StoreConfig::default(), SamplingConfig::default())).unwrap();
    let before = SystemTime::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for wf in 0..3 {
            let span = tracing::info_span!("wf", correlation_id = %format!("corr-{wf}"));
            let _e = span.enter();
            for task in 0..4 {
                let workflow_id = format!("wf-{wf}");
                let task_id = format!("t{task}");
                ToolCall {
                    workflow_id: &workflow_id,
                    task_id: &task_id,
                    tool_name: "x",
                    args: &json!({}),
                }
                .emit();
                StepEnd {
                    workflow_id: &workflow_id,
                    task_id: &task_id,
                    task_type: "a",
                    success: true,
                    duration_ms: 5,
                    error: None,
                }
                .emit();
            }
        }
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    let store = telemetry.store().unwrap();
    let query = |q: EventQuery| store.query(&q);
    let all = query(EventQuery::default());
    assert_eq!(all.len(), 24);
    assert!(all.windows(2).all(|w| w[0].timestamp >= w[1].timestamp), "newest first");
    let by_corr = query(EventQuery {
        correlation_id: Some("corr-1".into()),
        ..Default::default()
    });
    assert_eq!(by_corr.len(), 8);
    assert!(by_corr.iter().all(|r| r.correlation_id().unwrap() == "corr-1"));
    let by_type = query(EventQuery {
        event_type: Some("step_end".into()),
        ..Default::default()
    });
    assert_eq!(by_type.len(), 12);
    let by_workflow = query(EventQuery {
        workflow_id: Some("wf-2".into()),
        limit: 3,
        ..Default::default()
    });
    assert_eq!(by_workflow.len(), 3);
    assert_eq!(by_workflow[0].str_field("task_id"), Some("t3"), "newest first");
    let future = SystemTime::now() + Duration::from_secs(60);
    assert!(query(EventQuery {
        start: Some(future),
        ..Default::default()
    })
    .is_empty());
    assert_eq!(
        query(EventQuery {
            start: Some(before),
            end: Some(future),
            ..Default::default()
        })
        .len(),
        24
    );
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn store_stays_within_its_bounds_under_a_million_events() {
    let store = StoreConfig {
        max_records: 5_000,
        max_bytes: "2MB".into(),
        ..Default::default()
    };
    let (dispatch, telemetry) = aureus_observability::build(config_with(store, SamplingConfig::default())).unwrap();
    let emit = |from: u64, to: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for n in from..to {
                tracing::info!(target: "aureus", event_type = "custom", n, payload = "some text that takes room");
            }
        });
        telemetry.flush(Duration::from_secs(30));
    };
    emit(0, 200_000);
    let settled = common::rss_kib();
    emit(200_000, 1_000_000);
    let store = telemetry.store().unwrap();
    assert!(store.len() <= 5_000, "{store:?}");
    assert!(store.bytes() <= 2_000_000, "{store:?}");
    assert!(store.len() > 1_000, "{store:?}");
    let grown = common::rss_kib().saturating_sub(settled);
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB after the store filled");
    telemetry.shutdown(Duration::from_secs(10));
}

#[test]
fn sampling_drops_routine_records_only_and_metrics_still_count_them() {
    let sampling = SamplingConfig {
        kinds: BTreeMap::from([("tool_call".to_string(), 0.0), ("step_end".to_string(), 0.0)]),
        levels: BTreeMap::new(),
    };
    let (dispatch, telemetry) = aureus_observability::build(config_with(StoreConfig::default(), sampling)).unwrap();
    let collect = common::Collect::default();
    telemetry
        .sinks()
        .add("collect", collect.clone(), common::lossless())
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..100u64 {
            ToolCall {
                workflow_id: "w",
                task_id: "t",
                tool_name: "x",
                args: &json!({}),
            }
            .emit();
            StepEnd {
                workflow_id: "w",
                task_id: "t",
                task_type: "a",
                success: !n.is_multiple_of(10),
                duration_ms: n,
                error: None,
            }
            .emit();
        }
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    let records = collect.records();
    assert!(
        records.iter().all(|r| r.event_type() == Some("step_end")),
        "tool calls sampled out"
    );
    assert_eq!(records.len(), 10, "only the failed steps survive a 0.0 ratio");
    let metrics = telemetry.metrics().unwrap().render();
    assert!(
        metrics.contains(r#"aureus_tool_calls_total{tool_name="x"} 100"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"aureus_telemetry_sampled_out_total{kind="tool_call"} 100"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"aureus_telemetry_sampled_out_total{kind="step_end"} 90"#),
        "{metrics}"
    );
    assert_eq!(telemetry.store().unwrap().len(), 10);
    let err = Config::from_toml_str("[sampling]\nkinds = { tool_cal = 0.5 }\n").unwrap_err();
    assert!(err.to_string().contains("sampling.kinds.tool_cal"), "{err}");
    let err = Config::from_toml_str("[sampling]\nlevels = { debug = 1.5 }\n").unwrap_err();
    assert!(err.to_string().contains("sampling.levels.debug"), "{err}");
    telemetry.shutdown(Duration::from_secs(5));
}
