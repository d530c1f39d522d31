//! Per-event cost of the OpenTelemetry GenAI additions on the instrumented
//! thread: an `llm_response` as today (model and response only) against the
//! same event with the new optional fields (provider, tokens, finish reason,
//! duration → two token histograms and the duration histogram) for a model
//! without a price, and for a model with one (→ `cost_usd` added to the
//! record, the cost counter and the summary's cost), in the same run and the
//! same stack. Metrics and summary on, one no-op sink behind a lossless
//! queue, no store, no listener.
//!
//! Run: `cargo bench --bench genai`. Compare ratios, not absolute times.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aureus_observability::config::{ModelPrice, StoreConfig};
use aureus_observability::event::{LlmResponse, LlmUsage};
use aureus_observability::pipeline::OverflowPolicy;
use aureus_observability::{Config, Record, Sink, SinkError, SinkOptions};
use criterion::{criterion_group, criterion_main, Criterion};

struct NoopSink;

impl Sink for NoopSink {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        black_box(batch);
        Ok(())
    }
}

fn stack() -> (tracing::Dispatch, aureus_observability::Telemetry) {
    let mut config = Config {
        store: StoreConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::builder()
            .no_server()
            .no_monitoring()
            .no_sinks()
            .build()
            .expect("config")
    };
    config.genai.prices.insert(
        "gpt-4o".into(),
        ModelPrice {
            input_per_million: 2.5,
            output_per_million: 10.0,
        },
    );
    let (dispatch, telemetry) = aureus_observability::build(config).expect("build");
    let options = SinkOptions {
        queue_capacity: 65536,
        overflow: OverflowPolicy::Block,
        ..Default::default()
    };
    telemetry.sinks().add("noop", NoopSink, options).expect("sink");
    (dispatch, telemetry)
}

fn bench_with(c: &mut Criterion, name: &str, dispatch: &tracing::Dispatch, emit: impl Fn(u64)) {
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

fn plain(_: u64) {
    LlmResponse {
        model: "gpt-4o",
        response: "The answer is 42.",
    }
    .emit();
}

fn with_usage(model: &str, n: u64) {
    LlmResponse {
        model,
        response: "The answer is 42.",
    }
    .emit_with(&LlmUsage {
        provider: Some("openai"),
        input_tokens: Some(100 + n % 900),
        output_tokens: Some(10 + n % 90),
        finish_reason: Some("stop"),
        duration_ms: Some((n % 3000) as f64),
        ..LlmUsage::default()
    });
}

/// The same fields on a `custom` event: what capturing the extra fields
/// costs without any GenAI metric (the difference to `with_usage` is the
/// histograms).
fn same_fields_custom(n: u64) {
    tracing::info!(
        target: "aureus",
        event_type = "custom",
        model = "llama-local",
        response = "The answer is 42.",
        response_length = 17u64,
        provider = "openai",
        input_tokens = 100 + n % 900,
        output_tokens = 10 + n % 90,
        finish_reason = "stop",
        duration_ms = (n % 3000) as f64,
    );
}

fn events(c: &mut Criterion) {
    let (dispatch, telemetry) = stack();
    bench_with(c, "genai/llm_response_today", &dispatch, plain);
    bench_with(c, "genai/custom_event_same_fields", &dispatch, same_fields_custom);
    // A model without a price: tokens and duration → three histograms.
    bench_with(c, "genai/llm_response_with_usage", &dispatch, |n| {
        with_usage("llama-local", n)
    });
    // A priced model: the same plus `cost_usd`, the cost counter and the summary.
    bench_with(c, "genai/llm_response_with_usage_and_cost", &dispatch, |n| {
        with_usage("gpt-4o", n)
    });
    eprintln!("{}", telemetry.shutdown(Duration::from_secs(10)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = events
}
criterion_main!(benches);
