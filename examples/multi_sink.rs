//! # Several sinks, managed at run time
//!
//! One capture of every event, fanned out to a console sink, a rotating
//! JSON-lines file, OTLP (when `OTEL_EXPORTER_OTLP_ENDPOINT` is set),
//! Prometheus (`/metrics`; the built-in `prometheus` sink) and a custom
//! [`Sink`] — each behind its own bounded queue and worker. While it runs it
//! disables and re-enables the console, narrows the file sink's level,
//! adds and removes the custom sink, and prints every sink's health.
//!
//! ```text
//! cargo run --example multi_sink -- --dir ./multi-sink-demo
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --example multi_sink
//! ```
//!
//! `--dir DIR` (default `./aureus-telemetry`): where the file sink writes
//! `multi.jsonl`; `--listen ADDR` (default `127.0.0.1:0`, printed as
//! `LISTENING <addr>`). It runs three phases of `--events N` events each
//! (default 100) and exits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aureus_observability::config::{ConsoleSinkConfig, FileSinkConfig};
use aureus_observability::event::StepEnd;
use aureus_observability::{Config, Record, Sink, SinkError, SinkOptions};
use tracing::level_filters::LevelFilter;

/// A custom sink: counts the Aureus events it receives (a real one would
/// forward them to a queue, a database, a SIEM …).
struct AuditCounter(Arc<AtomicU64>);

impl Sink for AuditCounter {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        let aureus = batch.iter().filter(|r| r.is_aureus_event()).count();
        self.0.fetch_add(aureus as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = flag("--dir", "./aureus-telemetry".to_owned())?;
    let listen = flag("--listen", "127.0.0.1:0".to_owned())?;
    let events: u64 = flag("--events", 100)?;

    let mut config = Config::builder()
        .service_name("multi-sink-demo")
        .sink(ConsoleSinkConfig {
            level: Some("warn".into()),
            ..Default::default()
        }) // stderr, compact
        .sink(FileSinkConfig {
            max_bytes: Some("10MB".into()),
            max_files: Some(5),
            ..FileSinkConfig::at(format!("{dir}/multi.jsonl"))
        })
        .listen(listen) // Prometheus: /metrics
        .build()?;
    config.apply_process_env()?; // OTEL_EXPORTER_OTLP_ENDPOINT adds the `otlp` sink
    let telemetry = aureus_observability::init(config)?;
    if let Some(addr) = telemetry.server_addr() {
        println!("LISTENING {addr}");
    }
    let sinks = telemetry.sinks();

    // A custom sink joins at run time, with its own queue and overflow policy.
    let audited = Arc::new(AtomicU64::new(0));
    sinks.add("audit", AuditCounter(Arc::clone(&audited)), SinkOptions::default())?;

    // Phase 1: every sink receives.
    emit(events, "phase-1");
    // Phase 2: console off (nothing counted as lost), file narrowed to warnings.
    sinks.disable("console")?;
    sinks.set_level("file", LevelFilter::WARN)?;
    emit(events, "phase-2");
    // Phase 3: back to normal.
    sinks.enable("console")?;
    sinks.set_level("file", LevelFilter::TRACE)?;
    emit(events, "phase-3");
    telemetry.flush(Duration::from_secs(10));

    for h in sinks.list() {
        println!(
            "SINK {} kind={} enabled={} delivered={} dropped={} failed={} queue={}/{}",
            h.name,
            h.kind,
            h.enabled,
            h.delivered,
            h.dropped(),
            h.failed,
            h.queue_depth,
            h.queue_capacity
        );
    }
    // Removing a sink drains it and reports what it delivered.
    let report = sinks.remove("audit", Duration::from_secs(5))?;
    println!(
        "REMOVED audit delivered={} counted={} completed={}",
        report.health.delivered,
        audited.load(Ordering::Relaxed),
        report.completed
    );
    let report = telemetry.shutdown(Duration::from_secs(10));
    eprint!("{report}");
    println!("CLEAN {}", report.is_clean());
    Ok(())
}

/// `count` successful steps (INFO) and one failed step (WARN) in one workflow span.
fn emit(count: u64, workflow_id: &str) {
    let span = tracing::info_span!("workflow", correlation_id = workflow_id);
    let _entered = span.enter();
    for n in 0..count {
        let task_id = format!("t{n}");
        StepEnd {
            workflow_id,
            task_id: &task_id,
            task_type: "action",
            success: true,
            duration_ms: 5,
            error: None,
        }
        .emit();
    }
    tracing::warn!(target: "aureus", event_type = "step_end", workflow_id, task_id = "last",
                   task_type = "action", success = false, duration_ms = 9u64, error = "disk full");
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
