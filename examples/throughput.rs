//! # Throughput harness: whole-stack events/s and CPU per delivered event
//!
//! One process per measurement, so `getrusage` (CPU of every thread) and the
//! peak RSS belong to one stack. Two stacks on the same workload:
//!
//! * `--stack naive` — the standard crates composed as their docs show:
//!   `tracing-subscriber` fmt JSON → `tracing-appender` non-blocking file
//!   (`--naive-file lossless|lossy`), `tracing-opentelemetry` (spans) and
//!   `opentelemetry-appender-tracing` (log records) on the SDK's batch
//!   processors → OTLP/HTTP-protobuf, and `metrics` macros at each Aureus
//!   event into `metrics-exporter-prometheus`;
//! * `--stack ours` — `aureus-observability`'s default stack (file sink,
//!   metrics, summary, event store) with OTLP spans, logs and metrics to the
//!   same collector over HTTP/protobuf, lossless (`overflow = "block"`).
//!
//! Workloads (`--workload`): `mix`, the demo kernel's mix of Aureus events
//! inside one correlated span per task attempt (`step_start`, `llm_prompt`,
//! `llm_response`, `llm_artifact_generated`, 2 × `tool_call`, `crv_result`,
//! `policy_check`, `snapshot_commit`, `step_end`: 10 events), or `step_end`,
//! 10 plain `step_end` events per correlated span. `--threads` threads emit
//! `--events` events in total as fast as the stack takes them.
//!
//! `--collector URL` is the collector's OTLP/HTTP base URL (`down`: a port
//! nothing listens on). `--counts FILE` is where a counting receiver behind
//! the collector keeps its running totals (see `receive` below); the run
//! reads them before and after to report what reached the collector.
//!
//! Output: one line `RESULT {json}` — events, seconds to emit and to drain
//! (shutdown done), lines in the file, log records and spans counted behind
//! the collector, CPU seconds of the whole process (user + system), peak
//! RSS, and each emitting thread's own CPU per event.
//!
//! `throughput receive --counts FILE` runs the counting receiver (an
//! OTLP/gRPC endpoint; rotel forwards to it) and prints `LISTENING <url>`.
//!
//! Driven by `scripts/throughput.sh`, which starts rotel and the receiver,
//! runs every combination and prints the table with the ratios B/A.

#[path = "../tests/support/otlp_receiver.rs"]
mod otlp_receiver;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use serde_json::json;
use tracing_subscriber::prelude::*;

/// Longest a shutdown may take before the run reports what it has.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(120);
/// How long the collector-side counts must stay unchanged to be final.
const SETTLE: Duration = Duration::from_millis(1500);
/// Longest wait for the collector-side counts to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);
/// Events per correlated span.
const EVENTS_PER_SPAN: u64 = 10;

#[derive(Debug, Parser)]
#[command(name = "throughput")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Count OTLP log records and spans received (gRPC or HTTP/protobuf),
    /// writing the totals to `--counts` every 100 ms.
    Receive {
        #[arg(long)]
        counts: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Stack {
    Naive,
    Ours,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    Mix,
    #[value(name = "step_end")]
    StepEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NaiveFile {
    Lossless,
    Lossy,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[arg(long, value_enum, default_value_t = Stack::Ours)]
    stack: Stack,
    #[arg(long, default_value_t = 1)]
    threads: u64,
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    #[arg(long, value_enum, default_value_t = Workload::Mix)]
    workload: Workload,
    /// The collector's OTLP/HTTP base URL, or `down`.
    #[arg(long, default_value = "down")]
    collector: String,
    /// The counting receiver's totals file (absent: collector counts not read).
    #[arg(long)]
    counts: Option<PathBuf>,
    /// Directory for the JSON-lines file (default: a fresh temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The naive stack's tracing-appender mode.
    #[arg(long, value_enum, default_value_t = NaiveFile::Lossless)]
    naive_file: NaiveFile,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Receive { counts }) => receive(&counts),
        None => run(&cli.run),
    }
}

// ───────────────────────────── receiver ─────────────────────────────

fn receive(counts: &Path) {
    let receiver = otlp_receiver::OtlpReceiver::start_counting("uid");
    println!("LISTENING {}", receiver.endpoint());
    let tmp = counts.with_extension("tmp");
    loop {
        let tally = receiver.tally();
        let text = json!({"logs": tally.logs, "spans": tally.spans, "requests": tally.requests}).to_string();
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, counts);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (log records, spans) counted behind the collector so far.
fn read_counts(path: &Path) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, 0);
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (
        value["logs"].as_u64().unwrap_or(0),
        value["spans"].as_u64().unwrap_or(0),
    )
}

/// Waits until the counts stop moving for [`SETTLE`] (at most [`SETTLE_LIMIT`]).
fn settled_counts(path: &Path, expect: (u64, u64), before: (u64, u64)) -> (u64, u64) {
    let started = Instant::now();
    let mut last = read_counts(path);
    let mut since = Instant::now();
    while started.elapsed() < SETTLE_LIMIT {
        std::thread::sleep(Duration::from_millis(100));
        let now = read_counts(path);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= SETTLE
            || (now.0 - before.0 >= expect.0 && now.1 - before.1 >= expect.1 && since.elapsed() >= SETTLE / 3)
        {
            break;
        }
    }
    last
}

// ───────────────────────────── measuring ─────────────────────────────

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage writes a plain struct; zeroed is a valid initial value.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    }
}

fn cpu_seconds(usage: &libc::rusage) -> f64 {
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// CPU seconds the calling thread has used.
fn thread_cpu() -> f64 {
    cpu_seconds(&rusage(libc::RUSAGE_THREAD))
}

// ───────────────────────────── workload ─────────────────────────────

const TASK_TYPES: [&str; 4] = ["plan", "code", "review", "deploy"];
const TOOLS: [&str; 3] = ["search", "shell", "editor"];

/// The `metrics` facade calls a naive kernel makes next to its events.
fn naive_metric(kind: &str, task_type: &str, success: bool, duration_ms: u64) {
    match kind {
        "step_start" => metrics::counter!("aureus_tasks_started_total", "task_type" => task_type.to_owned()).increment(1),
        "step_end" => {
            let success = if success { "true" } else { "false" };
            metrics::counter!("aureus_tasks_completed_total", "task_type" => task_type.to_owned(), "success" => success)
                .increment(1);
            metrics::histogram!("aureus_task_duration_ms", "task_type" => task_type.to_owned(), "success" => success)
                .record(duration_ms as f64);
        }
        "tool_call" => metrics::counter!("aureus_tool_calls_total", "tool_name" => "search").increment(1),
        "crv_result" => {
            metrics::counter!("aureus_crv_checks_total", "gate_name" => "tests", "passed" => "true", "blocked" => "false")
                .increment(1)
        }
        "policy_check" => {
            metrics::counter!("aureus_policy_checks_total", "allowed" => "true", "requires_approval" => "false")
                .increment(1)
        }
        "snapshot_commit" => metrics::counter!("aureus_snapshots_total").increment(1),
        _ => {}
    }
}

/// Emits `events` events (whole spans of [`EVENTS_PER_SPAN`]) from one thread.
fn emit(thread: u64, events: u64, workload: Workload, naive_metrics: bool) {
    let spans = events / EVENTS_PER_SPAN;
    let prompt = "Summarise the failing test output and propose a minimal patch for the parser module.";
    let args = r#"{"query":"parser error handling","limit":5}"#;
    for n in 0..spans {
        let task_type = TASK_TYPES[(n % 4) as usize];
        let workflow_id = format!("wf-{thread}-{}", n / 16);
        let task_id = format!("task-{n}");
        let correlation_id = format!("run-{thread}-{}", n / 16);
        let span = tracing::info_span!(
            "task",
            correlation_id = correlation_id.as_str(),
            workflow_id = workflow_id.as_str(),
            task_id = task_id.as_str()
        );
        let _entered = span.enter();
        let (wf, task) = (workflow_id.as_str(), task_id.as_str());
        let duration_ms = 20 + n % 500;
        let success = n % 10 != 0;
        match workload {
            Workload::StepEnd => {
                for _ in 0..EVENTS_PER_SPAN {
                    tracing::info!(target: "aureus", event_type = "step_end", workflow_id = wf, task_id = task,
                        task_type, success, duration_ms, error = (!success).then_some("tool failed"));
                    if naive_metrics {
                        naive_metric("step_end", task_type, success, duration_ms);
                    }
                }
            }
            Workload::Mix => {
                tracing::info!(target: "aureus", event_type = "step_start", workflow_id = wf, task_id = task,
                    task_type, attempt = 1u32, risk_tier = "low");
                tracing::info!(target: "aureus", event_type = "llm_prompt", model = "aureus-large", prompt,
                    prompt_length = prompt.len());
                tracing::info!(target: "aureus", event_type = "llm_response", model = "aureus-large",
                    response = "Patch: handle the empty-token case before indexing.", response_length = 52u64);
                tracing::info!(target: "aureus", event_type = "llm_artifact_generated", artifact_type = "patch",
                    artifact_id = task, model = "aureus-large", prompt_length = prompt.len(), response_length = 52u64);
                for tool in &TOOLS[..2] {
                    tracing::info!(target: "aureus", event_type = "tool_call", workflow_id = wf, task_id = task,
                        tool_name = *tool, args);
                }
                tracing::info!(target: "aureus", event_type = "crv_result", workflow_id = wf, task_id = task,
                    gate_name = "tests", passed = true, blocked = false, failure_code = tracing::field::Empty);
                tracing::info!(target: "aureus", event_type = "policy_check", workflow_id = wf, task_id = task,
                    allowed = true, requires_human_approval = false, reason = "low risk");
                tracing::info!(target: "aureus", event_type = "snapshot_commit", workflow_id = wf, task_id = task,
                    snapshot_id = task);
                tracing::info!(target: "aureus", event_type = "step_end", workflow_id = wf, task_id = task,
                    task_type, success, duration_ms, error = (!success).then_some("tool failed"));
                if naive_metrics {
                    for kind in [
                        "step_start",
                        "tool_call",
                        "tool_call",
                        "crv_result",
                        "policy_check",
                        "snapshot_commit",
                        "step_end",
                    ] {
                        naive_metric(kind, task_type, success, duration_ms);
                    }
                }
            }
        }
    }
}

// ───────────────────────────── the stacks ─────────────────────────────

/// The blocking HTTP client of the naive stack's exporters (the docs'
/// reqwest-blocking is not in this build; ureq is the same shape).
#[derive(Debug)]
struct Client(ureq::Agent);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let response = self.0.run(http::Request::from_parts(parts, body.to_vec()))?;
        let (parts, mut body) = response.into_parts();
        Ok(http::Response::from_parts(parts, body.read_to_vec()?.into()))
    }
}

fn client() -> Client {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build();
    Client(ureq::Agent::new_with_config(config))
}

/// What a stack reports at shutdown.
struct Ended {
    /// Records the stack itself says it dropped or failed.
    dropped: u64,
    /// Extra detail for the RESULT line.
    detail: serde_json::Value,
}

type Shutdown = Box<dyn FnOnce() -> Ended>;

fn naive(args: &RunArgs, collector: &str, file: &Path) -> (tracing::Dispatch, Shutdown) {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("throughput-naive")
        .build();
    let span_exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client())
        .with_endpoint(format!("{collector}/v1/traces"))
        .build()
        .expect("span exporter");
    let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(span_exporter)
        .build();
    let log_exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_http_client(client())
        .with_endpoint(format!("{collector}/v1/logs"))
        .build()
        .expect("log exporter");
    let logger_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(log_exporter)
        .build();

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
        ])
        .expect("buckets")
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder");
    let upkeep = handle.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(5));
        upkeep.run_upkeep();
    });

    let dir = file.parent().expect("file in a directory");
    let name = file.file_name().expect("file name");
    let appender = tracing_appender::rolling::never(dir, name);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(args.naive_file == NaiveFile::Lossy)
        .finish(appender);
    let file_drops = writer.error_counter();

    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_subscriber::fmt::layer().json().with_writer(writer))
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("throughput")))
        .with(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(
            &logger_provider,
        ));
    let shutdown: Shutdown = Box::new(move || {
        drop(guard);
        let traces = tracer_provider.shutdown();
        let logs = logger_provider.shutdown();
        let series = handle.render().lines().filter(|l| !l.starts_with('#')).count();
        Ended {
            dropped: file_drops.dropped_lines() as u64,
            detail: json!({
                "file_dropped": file_drops.dropped_lines(),
                "traces_shutdown": format!("{traces:?}"),
                "logs_shutdown": format!("{logs:?}"),
                "prometheus_samples": series,
            }),
        }
    });
    (tracing::Dispatch::new(subscriber), shutdown)
}

fn ours(collector: &str, up: bool, file: &Path) -> (tracing::Dispatch, Shutdown) {
    use aureus_observability::config::{FileSinkConfig, OtlpConfig, OtlpProtocol};
    use aureus_observability::pipeline::OverflowPolicy;
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(collector.to_owned()),
        protocol: Some(OtlpProtocol::HttpProtobuf),
        ..OtlpConfig::default()
    };
    // Lossless while the collector keeps up; with it down, lossless would
    // only mean waiting for retries to give up.
    otlp.batch.overflow = if up {
        OverflowPolicy::Block
    } else {
        OverflowPolicy::Drop
    };
    let mut sink = FileSinkConfig::at(file);
    sink.max_bytes = Some("100GB".into());
    let config = aureus_observability::Config::builder()
        .service_name("throughput-ours")
        .log_level("info")
        .no_server()
        .sink(sink)
        .otlp(otlp)
        .build()
        .expect("configuration");
    let (dispatch, telemetry) = aureus_observability::build(config).expect("stack");
    let shutdown: Shutdown = Box::new(move || {
        let report = telemetry.shutdown(SHUTDOWN_DEADLINE);
        let mut dropped = 0;
        for sink in &report.sinks {
            if sink.health.kind != "store" {
                dropped += sink.health.dropped() + sink.health.failed + sink.undelivered;
            }
        }
        for signal in &report.otlp {
            if signal.signal == "traces" {
                dropped += signal.counts.lost();
            }
        }
        Ended {
            dropped,
            detail: json!({"report": report.to_string()}),
        }
    });
    (dispatch, shutdown)
}

// ───────────────────────────── one run ─────────────────────────────

fn count_lines(dir: &Path) -> u64 {
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            lines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    lines
}

fn run(args: &RunArgs) {
    let up = args.collector != "down";
    // Nothing listens on port 9 (discard) on loopback here: connections are refused.
    let collector = if up {
        args.collector.trim_end_matches('/').to_owned()
    } else {
        "http://127.0.0.1:9".to_owned()
    };
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).expect("file directory");
    let file = dir.join("throughput.jsonl");
    let before = args.counts.as_deref().map(read_counts).unwrap_or_default();

    let (dispatch, shutdown) = match args.stack {
        Stack::Naive => naive(args, &collector, &file),
        Stack::Ours => ours(&collector, up, &file),
    };
    let per_thread = args.events / args.threads.max(1) / EVENTS_PER_SPAN * EVENTS_PER_SPAN;
    let events = per_thread * args.threads.max(1);
    let naive_metrics = args.stack == Stack::Naive;
    let workload = args.workload;
    let cpu_before = cpu_seconds(&rusage(libc::RUSAGE_SELF));
    let started = Instant::now();
    let emitters: Vec<_> = (0..args.threads.max(1))
        .map(|thread| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                let cpu = thread_cpu();
                tracing::dispatcher::with_default(&dispatch, || emit(thread, per_thread, workload, naive_metrics));
                thread_cpu() - cpu
            })
        })
        .collect();
    let emitter_cpu: Vec<f64> = emitters.into_iter().map(|t| t.join().expect("emitter")).collect();
    let emitted = started.elapsed();
    drop(dispatch);
    let ended = shutdown();
    let drained = started.elapsed();
    let usage = rusage(libc::RUSAGE_SELF);
    let cpu = cpu_seconds(&usage) - cpu_before;
    let lines = count_lines(&dir);
    let spans = events / EVENTS_PER_SPAN;
    let (logs, span_count) = match &args.counts {
        Some(path) if up => {
            let after = settled_counts(path, (events, spans), before);
            (after.0 - before.0, after.1 - before.1)
        }
        _ => (0, 0),
    };
    let result = json!({
        "stack": match args.stack { Stack::Naive => format!("naive-{}", match args.naive_file { NaiveFile::Lossless => "lossless", NaiveFile::Lossy => "lossy" }), Stack::Ours => "ours".to_owned() },
        "workload": match workload { Workload::Mix => "mix", Workload::StepEnd => "step_end" },
        "threads": args.threads,
        "collector": if up { "up" } else { "down" },
        "events": events,
        "spans": spans,
        "emit_s": emitted.as_secs_f64(),
        "drain_s": drained.as_secs_f64(),
        "file_lines": lines,
        "collector_logs": logs,
        "collector_spans": span_count,
        "stack_dropped": ended.dropped,
        "cpu_s": cpu,
        "peak_rss_kib": usage.ru_maxrss,
        "emitter_cpu_s": emitter_cpu,
        "detail": ended.detail,
    });
    println!("RESULT {result}");
}
