//! Correlation ids follow the work: spans, scopes, `.await`, tokio tasks,
//! `spawn_blocking` and plain threads — and never leak between workflows;
//! across processes they travel in W3C headers, checked against conformance
//! tables built from the W3C Trace Context Level 1 and Baggage test suites.

mod common;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "correlation/w3c_baggage.rs"]
mod w3c_baggage;
#[path = "correlation/w3c_trace_context.rs"]
mod w3c_trace_context;

use std::time::Duration;

use aureus_observability::correlation::{self, CorrelationExt, CorrelationId};
use tracing::Instrument;

fn ids_of(records: &[std::sync::Arc<aureus_observability::Record>], workflow: &str) -> Vec<Option<String>> {
    records
        .iter()
        .filter(|r| r.str_field("workflow_id") == Some(workflow))
        .map(|r| r.correlation_id().map(str::to_owned))
        .collect()
}

#[test]
fn a_thousand_concurrent_workflows_each_see_only_their_own_id() {
    let (dispatch, telemetry, collect) = common::collecting("info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    const WORKFLOWS: usize = 1000;
    runtime.block_on(async {
        let _guard = tracing::dispatcher::set_default(&dispatch);
        let mut handles = Vec::new();
        for n in 0..WORKFLOWS {
            let workflow = format!("wf-{n}");
            let id = format!("corr-{n}");
            let span = tracing::info_span!("workflow", correlation_id = %id);
            let body = async move {
                tracing::info!(workflow_id = %workflow, step = "start");
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis((n % 7) as u64)).await;
                // A nested span without its own id inherits.
                async { tracing::info!(workflow_id = %workflow, step = "nested") }
                    .instrument(tracing::info_span!("task"))
                    .await;
                // A spawned task keeps it.
                let w = workflow.clone();
                correlation::spawn(async move { tracing::info!(workflow_id = %w, step = "spawned") })
                    .await
                    .unwrap();
                // So does spawn_blocking…
                let w = workflow.clone();
                correlation::spawn_blocking(move || tracing::info!(workflow_id = %w, step = "blocking"))
                    .await
                    .unwrap();
                // …and a plain thread.
                let w = workflow.clone();
                let thread = correlation::spawn_thread(move || tracing::info!(workflow_id = %w, step = "thread"));
                tokio::task::spawn_blocking(move || thread.join().unwrap())
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
                tracing::info!(workflow_id = %workflow, step = "end");
            };
            // Half the workflows carry their id with a span, half with WithCorrelation.
            let handle = if n % 2 == 0 {
                correlation::spawn(body.instrument(span))
            } else {
                drop(span);
                let id = CorrelationId::new(&id).unwrap();
                correlation::spawn(body.with_correlation(id))
            };
            handles.push(handle);
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
    assert!(telemetry.flush(Duration::from_secs(30)));
    let records = collect.records();
    assert_eq!(records.len(), WORKFLOWS * 6);
    for n in 0..WORKFLOWS {
        let ids = ids_of(&records, &format!("wf-{n}"));
        assert_eq!(ids.len(), 6, "workflow {n}");
        let expected = Some(format!("corr-{n}"));
        assert!(ids.iter().all(|id| *id == expected), "workflow {n} saw {ids:?}");
    }
    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn innermost_source_wins_and_the_default_applies_last() {
    let (dispatch, telemetry, collect) = common::collecting("trace");
    tracing::dispatcher::with_default(&dispatch, || {
        let outer = tracing::info_span!("outer", correlation_id = "span-id");
        let _o = outer.enter();
        tracing::info!(case = "span");
        correlation::scope(CorrelationId::new("scope-id").unwrap(), || {
            tracing::info!(case = "scope inside span");
            let inner = tracing::info_span!("inner");
            let _i = inner.enter();
            tracing::info!(case = "span created in scope");
            let explicit = tracing::info_span!("explicit", correlation_id = "inner-id");
            let _e = explicit.enter();
            tracing::info!(case = "explicit span in scope");
            tracing::info!(case = "event field", correlation_id = "event-id");
        });
        tracing::info!(case = "after scope");
    });
    // Debug-level correlation spans still correlate under an `info` filter.
    let (dispatch_info, telemetry_info, collect_info) = common::collecting("info");
    tracing::dispatcher::with_default(&dispatch_info, || {
        let span = tracing::debug_span!("quiet", correlation_id = "debug-span");
        let _e = span.enter();
        tracing::info!(case = "under debug span");
        tracing::info!(case = "bad id", correlation_id = "has space");
    });
    telemetry.flush(Duration::from_secs(5));
    telemetry_info.flush(Duration::from_secs(5));
    let by_case = |records: &[std::sync::Arc<aureus_observability::Record>], case: &str| {
        records
            .iter()
            .find(|r| r.str_field("case") == Some(case))
            .unwrap_or_else(|| panic!("no record for {case}"))
            .clone()
    };
    let records = collect.records();
    let id = |case| by_case(&records, case).correlation_id().map(str::to_owned);
    assert_eq!(id("span").as_deref(), Some("span-id"));
    assert_eq!(id("scope inside span").as_deref(), Some("scope-id"));
    assert_eq!(id("span created in scope").as_deref(), Some("scope-id"));
    assert_eq!(id("explicit span in scope").as_deref(), Some("inner-id"));
    assert_eq!(id("event field").as_deref(), Some("event-id"));
    assert_eq!(id("after scope").as_deref(), Some("span-id"));

    let records = collect_info.records();
    let under = by_case(&records, "under debug span");
    assert_eq!(under.correlation_id().unwrap(), "debug-span");
    let bad = by_case(&records, "bad id");
    assert_eq!(bad.correlation_id().unwrap(), "debug-span");
    assert!(
        !bad.json_line().contains("has space"),
        "invalid id written as-is: {}",
        bad.json_line()
    );
    assert!(correlation::invalid_ids_rejected() >= 1);
    telemetry.shutdown(Duration::from_secs(5));
    telemetry_info.shutdown(Duration::from_secs(5));
}

#[test]
fn current_reads_spans_scopes_and_the_default() {
    let (dispatch, telemetry, _collect) = common::collecting("info");
    tracing::dispatcher::with_default(&dispatch, || {
        assert_eq!(correlation::current(), None);
        let span = tracing::info_span!("wf", correlation_id = "wf-current");
        span.in_scope(|| assert_eq!(correlation::current().unwrap().as_str(), "wf-current"));
        correlation::set_default(Some(CorrelationId::new("process-default").unwrap()));
        assert_eq!(correlation::current().unwrap().as_str(), "process-default");
        span.in_scope(|| assert_eq!(correlation::current().unwrap().as_str(), "wf-current"));
        correlation::set_default(None);
        assert_eq!(correlation::current(), None);
    });
    telemetry.shutdown(Duration::from_secs(5));
}
