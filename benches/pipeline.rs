//! Per-event cost on the instrumented thread: our stack against the anchor
//! stack (tracing-subscriber's JSON formatter, direct and through
//! tracing-appender's non-blocking writer), in the same run.
//!
//! Run: `cargo bench --bench pipeline`. Compare ratios, not absolute times.
//! `cargo bench --bench pipeline -- filter/` compares the run-time
//! changeable level filter with a static one and with `reload`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aureus_observability::config::{FileSinkConfig, MetricsConfig, StoreConfig};
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::{Config, Record, Sink, SinkError, SinkOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use tracing_subscriber::prelude::*;

struct NoopSink;

impl Sink for NoopSink {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        black_box(batch);
        Ok(())
    }
}

/// The measured event: a `step_end` inside a correlated workflow span.
fn emit(n: u64) {
    tracing::info!(
        target: "aureus",
        event_type = "step_end",
        workflow_id = "wf-bench",
        task_id = "task-7",
        task_type = "action",
        success = !n.is_multiple_of(10),
        duration_ms = n % 5000,
        error = "none",
    );
}

/// Our stack with nothing but the pipeline: no sinks, no metrics, no store, no listener.
fn minimal() -> Config {
    Config {
        metrics: MetricsConfig {
            enabled: false,
            ..Default::default()
        },
        store: StoreConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::builder().no_server().no_sinks().build().expect("config")
    }
}

/// Our minimal stack plus `sinks` no-op sinks with 64 Ki-record queues under `overflow`.
fn with_noop_sinks(sinks: usize, overflow: OverflowPolicy) -> (tracing::Dispatch, aureus_observability::Telemetry) {
    let (dispatch, telemetry) = aureus_observability::build(minimal()).expect("build");
    for n in 0..sinks {
        let options = SinkOptions {
            queue_capacity: 65536,
            overflow,
            ..Default::default()
        };
        telemetry
            .sinks()
            .add(&format!("noop-{n}"), NoopSink, options)
            .expect("sink");
    }
    (dispatch, telemetry)
}

fn bench_with(c: &mut Criterion, name: &str, dispatch: &tracing::Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("workflow", correlation_id = "wf-bench-corr");
        let _entered = span.enter();
        let mut n = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                emit(n)
            })
        });
    });
}

fn events(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");

    // Baseline: the bare registry.
    let registry = tracing::Dispatch::new(tracing_subscriber::registry());
    bench_with(c, "event/registry_only", &registry);

    // Ours: one no-op sink behind its queue (lossless).
    let (ours_noop, telemetry_noop) = with_noop_sinks(1, OverflowPolicy::Block);
    bench_with(c, "event/aureus_noop_sink", &ours_noop);

    // Ours, producer side only: a sink queue with the drop policy (drops counted, not measured).
    let (ours_drop, telemetry_drop) = with_noop_sinks(1, OverflowPolicy::Drop);
    bench_with(c, "event/aureus_noop_sink_drop_policy", &ours_drop);
    eprintln!("{}", telemetry_drop.shutdown(Duration::from_secs(30)));

    // Ours: the JSON-lines file sink (lossless, block policy).
    let config = Config {
        sinks: vec![FileSinkConfig {
            path: dir.path().join("ours.jsonl"),
            max_bytes: Some("64MB".into()),
            max_files: Some(2),
            ..Default::default()
        }
        .into()],
        ..minimal()
    };
    let (ours_file, telemetry_file) = aureus_observability::build(config).expect("build");
    bench_with(c, "event/aureus_file_sink", &ours_file);

    // Anchor: fmt JSON to io::sink on the calling thread.
    let fmt_sink = tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().json().with_writer(std::io::sink)),
    );
    bench_with(c, "event/anchor_fmt_json_io_sink", &fmt_sink);

    // Anchor: fmt JSON through tracing-appender's non-blocking file writer.
    let appender = tracing_appender::rolling::never(dir.path(), "anchor.jsonl");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let fmt_file = tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().json().with_writer(writer)),
    );
    bench_with(c, "event/anchor_fmt_json_non_blocking_file", &fmt_file);
    drop(guard);

    // The default stack: file sink plus metrics, summary figures and the event store.
    let config = Config {
        sinks: vec![FileSinkConfig::at(dir.path().join("full.jsonl")).into()],
        ..Config::builder().no_server().build().expect("config")
    };
    let (ours_full, telemetry_full) = aureus_observability::build(config).expect("build");
    bench_with(c, "event/aureus_default_stack_file_metrics_store", &ours_full);
    eprintln!("{}", telemetry_full.shutdown(Duration::from_secs(60)));

    let noop = telemetry_noop.shutdown(Duration::from_secs(30));
    let file = telemetry_file.shutdown(Duration::from_secs(60));
    eprintln!("{noop}{file}");
}

/// Producer-side cost of fanning one record out to N no-op sinks (drop policy:
/// with 16 workers on a small machine, a lossless queue would measure the
/// workers' throughput instead).
fn fan_out(c: &mut Criterion) {
    for sinks in [1usize, 4, 16] {
        let (dispatch, telemetry) = with_noop_sinks(sinks, OverflowPolicy::Drop);
        bench_with(c, &format!("fan_out/{sinks}_noop_sinks"), &dispatch);
        let report = telemetry.shutdown(Duration::from_secs(30));
        let dropped: u64 = report.sinks.iter().map(|s| s.health.dropped()).sum();
        let delivered: u64 = report.sinks.iter().map(|s| s.health.delivered).sum();
        eprintln!("fan_out/{sinks}: delivered {delivered}, dropped {dropped}");
    }
}

/// A layer that does nothing: what is left is the filtering.
struct Nothing;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Nothing {}

/// The reloadable filter's design, in isolation: an `EnvFilter` behind an
/// `ArcSwap` (one lock-free load per check) instead of `reload`'s `RwLock`.
struct SwappedFilter(arc_swap::ArcSwap<tracing_subscriber::EnvFilter>);

impl<S> tracing_subscriber::layer::Filter<S> for SwappedFilter
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &tracing_subscriber::layer::Context<'_, S>) -> bool {
        tracing_subscriber::layer::Filter::<S>::enabled(&**self.0.load(), meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing_subscriber::layer::Filter::<S>::callsite_enabled(&**self.0.load(), meta)
    }
}

/// Per-event cost of the level filter when it cannot be decided once per
/// callsite (a composed subscriber whose layers' filters disagree: here a
/// `warn` layer next to an `info` one, so every info event asks both): a
/// static `EnvFilter`, the same behind tracing-subscriber's `reload`, behind
/// an `ArcSwap`; then our whole layer with nothing behind it, composed the
/// same way and installed bare (`build`).
fn filters(c: &mut Criterion) {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::EnvFilter;
    let env = || EnvFilter::new("info,aureus=debug");
    let composed = |filtered: Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>| {
        tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(filtered)
                .with(Nothing.with_filter(LevelFilter::WARN)),
        )
    };
    let static_env = composed(Box::new(Nothing.with_filter(env())));
    bench_with(c, "filter/static_env_filter", &static_env);
    let (reloadable, _handle) = tracing_subscriber::reload::Layer::new(env());
    let reload = composed(Box::new(Nothing.with_filter(reloadable)));
    bench_with(c, "filter/reload_env_filter", &reload);
    let swapped = composed(Box::new(
        Nothing.with_filter(SwappedFilter(arc_swap::ArcSwap::from_pointee(env()))),
    ));
    bench_with(c, "filter/arc_swap_env_filter", &swapped);

    let config = || Config {
        log_level: "info,aureus=debug".into(),
        ..minimal()
    };
    let (layer, telemetry) = aureus_observability::layer(config()).expect("layer");
    let ours_composed = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(layer)
            .with(Nothing.with_filter(LevelFilter::WARN)),
    );
    bench_with(c, "filter/aureus_layer_composed", &ours_composed);
    drop(ours_composed);
    telemetry.shutdown(Duration::from_secs(5));
    let (ours_bare, telemetry) = aureus_observability::build(config()).expect("build");
    bench_with(c, "filter/aureus_build", &ours_bare);
    telemetry.shutdown(Duration::from_secs(5));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = events, fan_out, filters
}
criterion_main!(benches);
