//! # Export to an OpenTelemetry collector
//!
//! Spans, log records and metrics go out over OTLP, configured only from the
//! standard `OTEL_*` variables (`Config::from_env`): nothing about the
//! collector is in the code.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
//! OTEL_SERVICE_NAME=checkout OTEL_RESOURCE_ATTRIBUTES=deployment.region=eu-1 \
//!   cargo run --example otlp -- --workflows 3
//! ```
//!
//! Other variables that apply: `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`, `OTEL_EXPORTER_OTLP_CERTIFICATE`,
//! the per-signal `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_*` forms,
//! `OTEL_{TRACES,LOGS,METRICS}_EXPORTER=none`, `OTEL_BSP_*`, `OTEL_BLRP_*`,
//! `OTEL_METRIC_EXPORT_INTERVAL`. Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `AUREUS_OTLP=on`) the example says so and exits 2.
//!
//! It runs `--workflows N` short workflows (default 3), each in a span with
//! its own correlation id, flushes, and prints one line per signal
//! (`EXPORTED traces …`) and the shutdown report.

use std::process::ExitCode;
use std::time::Duration;

use aureus_observability::event::{StepEnd, StepStart, ToolCall};
use aureus_observability::{Config, CorrelationId};

fn main() -> ExitCode {
    let workflows: u32 = match flag("--workflows", 3) {
        Ok(workflows) => workflows,
        Err(err) => {
            eprintln!("otlp: {err}");
            return ExitCode::from(2);
        }
    };

    // Defaults → the TOML file in AUREUS_CONFIG → AUREUS_* / RUST_LOG / OTEL_* variables.
    let mut config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("otlp: {err}"); // names the bad variable, e.g. OTEL_EXPORTER_OTLP_PROTOCOL
            return ExitCode::from(2);
        }
    };
    if !config.otlp.enabled {
        eprintln!(
            "otlp: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4317 with OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
        );
        return ExitCode::from(2);
    }
    config.server.enabled = false; // this example only exports; see `prometheus` for /metrics
    let telemetry = match aureus_observability::init(config) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("otlp: {err}");
            return ExitCode::from(2);
        }
    };

    for n in 1..=workflows {
        let workflow_id = format!("wf-otlp-{n}");
        let id = CorrelationId::generate();
        // The span becomes an OTLP span carrying `aureus.correlation_id`; the
        // events inside become span events and log records with its trace id.
        let span = tracing::info_span!("workflow", correlation_id = %id, workflow_id = %workflow_id);
        let _entered = span.enter();
        StepStart {
            workflow_id: &workflow_id,
            task_id: "t1",
            task_type: "query",
            attempt: 1,
            risk_tier: "low",
        }
        .emit();
        ToolCall {
            workflow_id: &workflow_id,
            task_id: "t1",
            tool_name: "kv.get",
            args: &serde_json::json!({ "key": "orders/42" }),
        }
        .emit();
        StepEnd {
            workflow_id: &workflow_id,
            task_id: "t1",
            task_type: "query",
            success: true,
            duration_ms: 12,
            error: None,
        }
        .emit();
        println!("WORKFLOW {workflow_id} correlation_id={id}");
    }

    // Export what is queued now (spans, log records, a fresh metric collection).
    let flushed = telemetry.flush(Duration::from_secs(10));
    for signal in ["traces", "metrics"] {
        if let Some(counts) = telemetry.otlp_counts(signal) {
            println!(
                "EXPORTED {signal} created={} exported={} failed={} dropped={}",
                counts.created,
                counts.exported,
                counts.failed,
                counts.dropped_queue_full + counts.dropped_closed
            );
        }
    }
    if let Ok(logs) = telemetry.sinks().health("otlp") {
        // Log records travel through the `otlp` sink, counted like every sink.
        println!(
            "EXPORTED logs delivered={} failed={} dropped={}",
            logs.delivered,
            logs.failed,
            logs.dropped()
        );
    }
    let report = telemetry.shutdown(Duration::from_secs(10));
    eprint!("{report}");
    println!("FLUSHED {flushed} CLEAN {}", report.is_clean());
    ExitCode::SUCCESS
}

/// The value after `name` on the command line (e.g. `--duration 5`), or
/// `default` when the flag is absent; an error naming the flag when its
/// value is missing or does not parse.
fn flag<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => match args.get(i + 1).map(|v| v.parse()) {
            Some(Ok(value)) => Ok(value),
            _ => Err(format!("{name} needs a valid value")),
        },
    }
}
