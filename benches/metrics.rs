//! An Aureus `step_end` → counter + histogram through `MetricsLayer`, against
//! the direct `metrics::counter!(…).increment(1)` + `histogram!(…).record(…)`
//! calls with the same recorder (plus, for reference, a bare Registry event);
//! and the time to render `/metrics` with 1k and 10k series (text 0.0.4 and
//! OpenMetrics). `aureus_metrics_layer_with_exemplar` is the layer under a
//! correlation id, each duration kept as its bucket's exemplar.
//!
//! Run: `cargo bench --bench metrics`. Compare ratios, not absolute times.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aureus_observability::metrics::ExpositionRecorder;
use aureus_observability::metrics::{AureusMetrics, MetricsLayer};
use criterion::{criterion_group, criterion_main, Criterion};
use tracing_subscriber::prelude::*;

fn recorder() -> Arc<ExpositionRecorder> {
    let builder = ExpositionRecorder::builder()
        .buckets(
            "aureus_task_duration_ms",
            &aureus_observability::metrics::DEFAULT_DURATION_BUCKETS_MS,
        )
        .expect("buckets");
    Arc::new(builder.build())
}

fn step_end(n: u64) {
    tracing::info!(
        target: "aureus",
        event_type = "step_end",
        workflow_id = "wf-bench",
        task_id = "task-7",
        task_type = "action",
        success = !n.is_multiple_of(10),
        duration_ms = n % 5000,
    );
}

fn event_to_metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("step_end_to_metrics");

    let registry = tracing::Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&registry, || {
        let mut n = 0u64;
        group.bench_function("bare_registry_event", |b| {
            b.iter(|| {
                n += 1;
                step_end(n)
            })
        });
    });

    let direct = recorder();
    metrics::with_local_recorder(&*direct, || {
        let mut n = 0u64;
        group.bench_function("direct_metrics_macros", |b| {
            b.iter(|| {
                n += 1;
                let success = if n.is_multiple_of(10) { "false" } else { "true" };
                metrics::counter!("aureus_tasks_completed_total", "task_type" => "action", "success" => success)
                    .increment(1);
                metrics::histogram!("aureus_task_duration_ms", "task_type" => "action", "success" => success)
                    .record((n % 5000) as f64);
            })
        });
    });

    let ours = recorder();
    let aureus = Arc::new(AureusMetrics::new(ours.clone(), "aureus", 1000));
    let layered = tracing::Dispatch::new(tracing_subscriber::registry().with(MetricsLayer::new(aureus)));
    tracing::dispatcher::with_default(&layered, || {
        let mut n = 0u64;
        group.bench_function("aureus_metrics_layer", |b| {
            b.iter(|| {
                n += 1;
                step_end(n)
            })
        });
        // The same under a correlation id: every duration becomes its bucket's exemplar.
        let id = aureus_observability::CorrelationId::new("bench-run-1").expect("valid id");
        aureus_observability::correlation::scope(id, || {
            group.bench_function("aureus_metrics_layer_with_exemplar", |b| {
                b.iter(|| {
                    n += 1;
                    step_end(n)
                })
            });
        });
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_metrics");
    for series in [1_000usize, 10_000] {
        let recorder = recorder();
        let aureus = Arc::new(AureusMetrics::new(recorder.clone(), "aureus", series));
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(MetricsLayer::new(aureus)));
        tracing::dispatcher::with_default(&dispatch, || {
            for n in 0..series {
                tracing::info!(target: "aureus", event_type = "tool_call", tool_name = %format!("tool-{n}"));
            }
        });
        group.bench_function(format!("{series}_series"), |b| b.iter(|| black_box(recorder.render())));
        group.bench_function(format!("{series}_series_openmetrics"), |b| {
            b.iter(|| black_box(recorder.render_openmetrics()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = event_to_metrics, render
}
criterion_main!(benches);
