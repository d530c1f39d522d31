//! # A production setup
//!
//! Configuration from a TOML file (`examples/production.toml`, or
//! `--config FILE`) with environment overrides on top; redaction of secrets
//! and sampling of high-volume events (both in the file); the dashboard and
//! its API behind a bearer token (from `AUREUS_MONITORING_TOKEN`, refused
//! without one); our layer composed with the service's own `tracing`
//! subscriber; and a graceful shutdown on SIGTERM or Ctrl-C that flushes
//! every sink within a deadline and prints the delivery report.
//!
//! ```text
//! AUREUS_MONITORING_TOKEN=change-me cargo run --example production
//! # then: curl -H 'Authorization: Bearer change-me' 127.0.0.1:9464/api/monitoring/metrics
//! #       kill -TERM <pid>     (or wait 30 s)
//! ```
//!
//! `--config FILE`, `--duration SECS` (default 30; 0 runs until SIGTERM / Ctrl-C),
//! `--rate EVENTS_PER_SEC` (default 50). Prints `LISTENING <addr>` when the
//! listener is up and, after shutdown, `REPORT <sink> …` per sink; exits 0.

use std::process::ExitCode;
use std::time::Duration;

use aureus_observability::event::{StepEnd, StepStart, ToolCall};
use aureus_observability::{Config, CorrelationId};
use tracing::Instrument;
use tracing_subscriber::prelude::*;

/// The configuration shipped next to this example.
const DEFAULT_CONFIG: &str = include_str!("production.toml");
/// How long the flush at exit may take (keep it below the orchestrator's
/// kill timeout, e.g. Kubernetes' 30 s terminationGracePeriodSeconds).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("production: {err}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match flag("--config", String::new())? {
        path if path.is_empty() => Config::from_toml_str(DEFAULT_CONFIG)?,
        path => Config::from_toml_file(path)?,
    };
    config.apply_process_env()?; // AUREUS_*, RUST_LOG, OTEL_* win over the file
    if config.monitoring.token.is_none() {
        return Err("set AUREUS_MONITORING_TOKEN: the dashboard and its API must not run without auth".into());
    }
    let duration: u64 = flag("--duration", 30)?;
    let rate: u64 = flag("--rate", 50)?.clamp(1, 100_000); // events per second

    // Install the SIGTERM handler before anything runs.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;

    // The service's own subscriber: its fmt layer with its own filter, and ours next to it.
    let (aureus, telemetry) = aureus_observability::layer(config)?;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::EnvFilter::new("error")),
        )
        .with(aureus)
        .try_init()?;
    if let Some(addr) = telemetry.server_addr() {
        println!("LISTENING {addr}");
    }

    let work = async {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        for n in 0u64.. {
            tick.tick().await;
            run_task(n).await;
        }
    };
    let elapsed = async {
        match duration {
            0 => std::future::pending().await,
            secs => tokio::time::sleep(Duration::from_secs(secs)).await,
        }
    };
    let reason = tokio::select! {
        () = work => "done",
        () = elapsed => "duration elapsed",
        _ = terminate.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    };
    eprintln!("production: stopping ({reason})");

    // Blocking flush off the runtime's threads; never longer than the deadline.
    let report = tokio::task::spawn_blocking(move || telemetry.shutdown(SHUTDOWN_DEADLINE)).await?;
    for sink in &report.sinks {
        let h = &sink.health;
        println!(
            "REPORT {} created={} delivered={} dropped={} failed={} undelivered={} completed={}",
            h.name,
            h.accepted + h.dropped_queue_full + h.dropped_closed,
            h.delivered,
            h.dropped(),
            h.failed,
            sink.undelivered,
            sink.completed
        );
    }
    eprint!("{report}");
    Ok(())
}

/// One task of a workflow, with a secret in its tool arguments (redacted
/// before it leaves the process) and a tool call that sampling may drop.
async fn run_task(n: u64) {
    let workflow_id = format!("wf-{}", n / 4);
    let id = CorrelationId::generate();
    let span = tracing::info_span!("task", correlation_id = %id, workflow_id = %workflow_id);
    async {
        let task_id = format!("t{n}");
        StepStart {
            workflow_id: &workflow_id,
            task_id: &task_id,
            task_type: "action",
            attempt: 1,
            risk_tier: "low",
        }
        .emit();
        let args = serde_json::json!({ "url": "https://api.example.com", "api_key": "sk-live-0123456789abcdef" });
        ToolCall {
            workflow_id: &workflow_id,
            task_id: &task_id,
            tool_name: "http.post",
            args: &args,
        }
        .emit();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let success = n % 10 != 9;
        let error = (!success).then_some("upstream returned 503");
        StepEnd {
            workflow_id: &workflow_id,
            task_id: &task_id,
            task_type: "action",
            success,
            duration_ms: 2,
            error,
        }
        .emit();
    }
    .instrument(span)
    .await;
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
