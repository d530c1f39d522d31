//! # The Aureus demo kernel
//!
//! Simulates the Aureus agentic-OS kernel running many workflows at once and
//! records everything through `aureus-observability`. It shows:
//!
//! * one correlation id per workflow run, set on a `workflow` span and carried
//!   by [`correlation::spawn`] (async) and [`correlation::spawn_blocking`]
//!   (the simulated snapshot write) — every event in the output carries it;
//! * every kind of Aureus event, emitted with the typed helpers in
//!   [`aureus_observability::event`]: each task attempt goes
//!   `step_start → (llm_prompt → llm_response → llm_artifact_generated)? →
//!   tool_call × 1..3 → crv_result × 1..2 → policy_check → snapshot_commit →
//!   step_end`; a failed attempt stops early, ends with `step_end` (success
//!   false, with an error) and a `rollback`, then is retried (at most
//!   3 attempts per task);
//! * a global event rate limit shared by all workflows (`--rate`);
//! * configuration from code or from a TOML file, then `AUREUS_*` / `RUST_LOG`
//!   / `OTEL_*` environment overrides;
//! * prompt shutdown on Ctrl-C / SIGTERM, a flush within 10 s and the
//!   per-sink shutdown report.
//!
//! ```text
//! cargo run --example kernel -- --workflows 4 --duration 5
//! cargo run --example kernel -- --duration 0 --rate 0          # as fast as possible, until Ctrl-C
//! cargo run --example kernel -- --seed 42 --failure-rate 0.3   # reproducible, many failures
//! cargo run --example kernel -- --config kernel.toml
//! ```
//!
//! Without `--config`, warnings and errors go to stderr (compact) and every
//! event goes to `./aureus-telemetry/aureus.jsonl` (JSON lines, rotated at
//! 10 MB, 10 files kept, gzip).
//!
//! `--failure-rate F` is the probability that one task attempt fails (a tool
//! error, a blocking CRV gate or a policy denial); with 0 nothing fails.
//!
//! At the end, stdout gets one line `EMITTED {json}` — how many events of each
//! kind the kernel emitted (every kind of the contract, plus `total`) and,
//! under `tasks`, the `step_end` outcomes per task type — then a readable
//! table, and after the telemetry shutdown one line `REPORT {json}`: per sink
//! `created` = `delivered` + `dropped` + `failed` + `undelivered`, and the
//! OTLP signals' counters. Exit code 0 after a run, 2 on bad flags or a bad configuration.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aureus_observability::config::{ConsoleSinkConfig, FileSinkConfig};
use aureus_observability::correlation;
use aureus_observability::event::{
    CrvResult, EventKind, LlmArtifactGenerated, LlmPrompt, LlmResponse, PolicyCheck, Rollback, SnapshotCommit, StepEnd,
    StepStart, ToolCall,
};
use aureus_observability::sinks::console::{ConsoleFormat, ConsoleStream};
use aureus_observability::{Config, CorrelationId};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

/// Attempts per task before the task (and its workflow) is given up.
const MAX_ATTEMPTS: u32 = 3;
/// How long the flush at exit may take.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// How long stopped workflows get to finish their current attempt.
const STOP_GRACE: Duration = Duration::from_secs(5);

// ───────────────────────────── command line ─────────────────────────────

/// The Aureus demo kernel: concurrent simulated workflows, fully instrumented.
#[derive(Debug, Parser)]
#[command(name = "kernel", version)]
struct Cli {
    /// Workflows running at the same time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workflows: u32,

    /// How long to run, in seconds; 0 runs until Ctrl-C or SIGTERM.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    duration: u64,

    /// Events per second across all workflows; 0 means unlimited.
    #[arg(long, value_name = "EVENTS_PER_SEC", default_value_t = 200)]
    rate: u64,

    /// Probability that one task attempt fails, from 0.0 to 1.0.
    #[arg(long, value_name = "F", default_value_t = 0.1, value_parser = parse_failure_rate)]
    failure_rate: f64,

    /// A TOML telemetry configuration (environment overrides still apply).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,

    /// Address of the HTTP listener serving `/metrics` (port 0 picks a free
    /// one; `off` disables it). Default: the configuration's, 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,

    /// Record an operator note (a `custom` event at WARN, the text as its
    /// message, correlation id `operator-note`) when the run starts — e.g.
    /// what this run is testing.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,

    /// After the run, keep serving `/metrics` this many seconds (or until
    /// Ctrl-C / SIGTERM) so a scraper can read the final values.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    linger: u64,

    /// Seed for reproducible workflows (each workflow's events are then the
    /// same from run to run; their interleaving is not).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

fn parse_failure_rate(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a number; expected a probability from 0.0 to 1.0"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{raw} is outside 0.0..=1.0"))
    }
}

// ───────────────────────────── configuration ─────────────────────────────

/// The TOML file when given, else the demo defaults; then environment overrides.
fn load_config(path: Option<&Path>, listen: Option<&str>) -> aureus_observability::Result<Config> {
    let mut config = match path {
        Some(path) => Config::from_toml_file(path)?,
        None => default_config()?,
    };
    config.apply_process_env()?;
    if let Some(listen) = listen {
        // The flag wins over file and environment.
        config.apply_env([("AUREUS_METRICS_LISTEN", listen)])?;
    }
    Ok(config)
}

/// Warnings on the terminal, everything in a rotating JSON-lines file.
fn default_config() -> aureus_observability::Result<Config> {
    Config::builder()
        .service_name("aureus-kernel")
        .sink(ConsoleSinkConfig {
            format: ConsoleFormat::Compact,
            stream: ConsoleStream::Stderr,
            level: Some("warn".into()),
            ..Default::default()
        })
        .sink(FileSinkConfig {
            path: "./aureus-telemetry/aureus.jsonl".into(),
            max_bytes: Some("10MB".into()),
            max_files: Some(10),
            compress: true,
            ..Default::default()
        })
        .build()
}

// ───────────────────────────── task types ─────────────────────────────

/// How one type of task behaves.
struct TaskProfile {
    name: &'static str,
    risk_tiers: &'static [&'static str],
    tools: &'static [&'static str],
    /// Median duration of a successful step, in milliseconds.
    median_ms: f64,
    /// Chance that an attempt talks to an LLM first.
    llm_probability: f64,
    /// What the LLM produces for this task type.
    artifact_type: &'static str,
}

const PLAN: usize = 0;
const QUERY: usize = 1;
const ACTION: usize = 2;
const REVIEW: usize = 3;

const TASK_TYPES: [TaskProfile; 4] = [
    TaskProfile {
        name: "plan",
        risk_tiers: &["low", "medium"],
        tools: &["planner.decompose", "kv.get", "memory.recall"],
        median_ms: 2400.0,
        llm_probability: 0.7,
        artifact_type: "plan",
    },
    TaskProfile {
        name: "query",
        risk_tiers: &["low"],
        tools: &["db.query", "search.web", "kv.get"],
        median_ms: 150.0,
        llm_probability: 0.1,
        artifact_type: "query_rewrite",
    },
    TaskProfile {
        name: "action",
        risk_tiers: &["low", "medium", "high"],
        tools: &["fs.write", "shell.exec", "http.post"],
        median_ms: 900.0,
        llm_probability: 0.15,
        artifact_type: "action_script",
    },
    TaskProfile {
        name: "review",
        risk_tiers: &["low", "medium"],
        tools: &["diff.inspect", "lint.run", "test.run"],
        median_ms: 1600.0,
        llm_probability: 0.35,
        artifact_type: "review_notes",
    },
];

/// CRV gates and the failure code each reports.
const CRV_GATES: [(&str, &str); 5] = [
    ("schema_check", "SCHEMA_MISMATCH"),
    ("safety_scan", "UNSAFE_CONTENT"),
    ("resource_budget", "BUDGET_EXCEEDED"),
    ("invariant_check", "INVARIANT_VIOLATED"),
    ("output_grounding", "UNGROUNDED_CLAIM"),
];

const MODELS: [&str; 2] = ["aureus-llm-large", "aureus-llm-small"];

// ───────────────────────────── shared kernel state ─────────────────────────────

/// What the kernel emitted: events per kind, step outcomes per task type.
struct Counters {
    events: [AtomicU64; EventKind::ALL.len()],
    /// `[successes, failures]` per entry of [`TASK_TYPES`].
    steps: [[AtomicU64; 2]; TASK_TYPES.len()],
}

impl Counters {
    fn new() -> Self {
        Counters {
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            steps: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }

    fn event(&self, kind: EventKind) {
        if let Some(index) = EventKind::ALL.iter().position(|k| *k == kind) {
            self.events[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn step(&self, task_type: usize, success: bool) {
        self.steps[task_type][usize::from(!success)].fetch_add(1, Ordering::Relaxed);
    }

    fn events(&self) -> Vec<(&'static str, u64)> {
        EventKind::ALL
            .iter()
            .zip(&self.events)
            .map(|(kind, count)| (kind.as_str(), count.load(Ordering::Relaxed)))
            .collect()
    }

    fn steps(&self) -> Vec<(&'static str, u64, u64)> {
        TASK_TYPES
            .iter()
            .zip(&self.steps)
            .map(|(profile, [ok, failed])| (profile.name, ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Tells workflows to stop; cheap to clone.
#[derive(Clone)]
struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&self) {
        // An error means the sender is gone, which also means "stop".
        let _ = self.0.clone().wait_for(|stopped| *stopped).await;
    }
}

/// A global rate limit: hands out evenly spaced time slots, one per event,
/// to all workflows together. No slots are saved up while idle.
struct Pacer {
    interval: Option<Duration>,
    next_slot: Mutex<Instant>,
}

impl Pacer {
    fn new(events_per_sec: u64) -> Self {
        Pacer {
            interval: (events_per_sec > 0).then(|| Duration::from_secs_f64(1.0 / events_per_sec as f64)),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this event's slot, or returns at once when stopping.
    async fn wait(&self, stop: &StopSignal) {
        let Some(interval) = self.interval else {
            // Unlimited: still let other tasks (and the signal handler) run.
            tokio::task::yield_now().await;
            return;
        };
        if stop.is_set() {
            return;
        }
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        if slot > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(slot) => {}
                () = stop.wait() => {}
            }
        }
    }
}

/// Everything the workflows share.
struct Kernel {
    counters: Counters,
    pacer: Pacer,
    stop: StopSignal,
    failure_rate: f64,
}

impl Kernel {
    /// Waits for a rate-limit slot, emits one event and counts it.
    async fn emit(&self, kind: EventKind, emit: impl FnOnce()) {
        self.pacer.wait(&self.stop).await;
        emit();
        self.counters.event(kind);
    }
}

// ───────────────────────────── workflows ─────────────────────────────

/// Runs workflow after workflow, each under a fresh correlation id, until stopped.
async fn run_lane(kernel: Arc<Kernel>, lane: u32, mut rng: StdRng) {
    let mut run = 0u32;
    while !kernel.stop.is_set() {
        run += 1;
        let workflow_id = format!("wf-{lane:03}-{run:05}");
        let mut workflow_rng = StdRng::seed_from_u64(rng.random());
        let correlation_id = new_correlation_id(&mut workflow_rng);
        let span = tracing::info_span!("workflow", correlation_id = %correlation_id, workflow_id = %workflow_id);
        let workflow = Workflow::new(Arc::clone(&kernel), workflow_id.clone(), workflow_rng);
        let handle = correlation::spawn(workflow.run().instrument(span));
        if let Err(err) = handle.await {
            eprintln!("kernel: workflow {workflow_id} did not finish: {err}");
        }
    }
}

/// `corr-<32 hex digits>`, drawn from `rng` so that seeded runs repeat.
fn new_correlation_id(rng: &mut StdRng) -> CorrelationId {
    CorrelationId::new(format!("corr-{:032x}", rng.random::<u128>())).unwrap_or_else(|_| CorrelationId::generate())
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Tool,
    CrvBlock,
    PolicyDeny,
}

/// A failed attempt: the error text and, when it dictates one, the duration.
struct Failure {
    error: String,
    duration_ms: Option<u64>,
}

/// One workflow run.
struct Workflow {
    kernel: Arc<Kernel>,
    id: String,
    rng: StdRng,
    snapshots: u32,
    /// The snapshot a rollback restores.
    last_snapshot: String,
}

impl Workflow {
    fn new(kernel: Arc<Kernel>, id: String, rng: StdRng) -> Self {
        let last_snapshot = format!("snap-{id}-0000");
        Workflow {
            kernel,
            id,
            rng,
            snapshots: 0,
            last_snapshot,
        }
    }

    /// A plan, 1–4 queries and actions, a review; stops at the first task
    /// that exhausts its retries.
    async fn run(mut self) {
        for (number, task_type) in self.plan_tasks().into_iter().enumerate() {
            if self.kernel.stop.is_set() {
                return;
            }
            let task_id = format!("t{:02}", number + 1);
            if !self.run_task(&task_id, task_type).await {
                return;
            }
        }
    }

    fn plan_tasks(&mut self) -> Vec<usize> {
        let middle = self.rng.random_range(1..=4);
        let mut tasks = vec![PLAN];
        tasks.extend((0..middle).map(|_| if self.rng.random_bool(0.5) { QUERY } else { ACTION }));
        tasks.push(REVIEW);
        tasks
    }

    /// Runs attempts until one succeeds; false when every attempt failed
    /// (or the kernel is stopping).
    async fn run_task(&mut self, task_id: &str, task_type: usize) -> bool {
        for attempt in 1..=MAX_ATTEMPTS {
            match self.run_attempt(task_id, task_type, attempt).await {
                Ok(()) => return true,
                Err(error) => {
                    self.rollback(task_id, &error).await;
                    if self.kernel.stop.is_set() {
                        return false;
                    }
                }
            }
        }
        false
    }

    /// One attempt, from `step_start` to `step_end`; the error text on failure.
    async fn run_attempt(&mut self, task_id: &str, task_type: usize, attempt: u32) -> Result<(), String> {
        let profile = &TASK_TYPES[task_type];
        let risk_tier = pick(&mut self.rng, profile.risk_tiers);
        let fault = self.draw_fault();
        let start = StepStart {
            workflow_id: &self.id,
            task_id,
            task_type: profile.name,
            attempt,
            risk_tier,
        };
        self.kernel.emit(EventKind::StepStart, || start.emit()).await;

        if self.rng.random_bool(profile.llm_probability) {
            self.llm_exchange(task_id, profile).await;
        }
        let result = self.execute(task_id, profile, attempt, risk_tier, fault).await;

        let (duration_ms, error) = match &result {
            Ok(()) => (self.draw_duration_ms(profile.median_ms), None),
            Err(failure) => (
                failure
                    .duration_ms
                    .unwrap_or_else(|| self.draw_duration_ms(profile.median_ms * 0.6)),
                Some(failure.error.as_str()),
            ),
        };
        let end = StepEnd {
            workflow_id: &self.id,
            task_id,
            task_type: profile.name,
            success: result.is_ok(),
            duration_ms,
            error,
        };
        self.kernel.emit(EventKind::StepEnd, || end.emit()).await;
        self.kernel.counters.step(task_type, result.is_ok());
        result.map_err(|failure| failure.error)
    }

    /// Tool calls, CRV gates, the policy check and the snapshot; stops at the
    /// first failure.
    async fn execute(
        &mut self,
        task_id: &str,
        profile: &TaskProfile,
        attempt: u32,
        risk_tier: &str,
        fault: Option<Fault>,
    ) -> Result<(), Failure> {
        let last_tool = self.tool_calls(task_id, profile, attempt).await;
        if fault == Some(Fault::Tool) {
            return Err(self.tool_failure(last_tool));
        }
        self.crv_gates(task_id, fault == Some(Fault::CrvBlock)).await?;
        self.policy_check(task_id, risk_tier, fault == Some(Fault::PolicyDeny))
            .await?;
        self.commit_snapshot(task_id).await;
        Ok(())
    }

    /// With probability `failure_rate`, a fault for this attempt.
    fn draw_fault(&mut self) -> Option<Fault> {
        if !self.rng.random_bool(self.kernel.failure_rate) {
            return None;
        }
        Some(match self.rng.random_range(0..10) {
            0..=4 => Fault::Tool,
            5..=7 => Fault::CrvBlock,
            _ => Fault::PolicyDeny,
        })
    }

    /// A log-normal duration around `median_ms` (long right tail, like real latencies).
    fn draw_duration_ms(&mut self, median_ms: f64) -> u64 {
        let z = standard_normal(&mut self.rng);
        (median_ms * (0.55 * z).exp()).round().clamp(1.0, 600_000.0) as u64
    }

    /// `llm_prompt`, `llm_response` and usually `llm_artifact_generated`.
    async fn llm_exchange(&mut self, task_id: &str, profile: &TaskProfile) {
        let model = pick(&mut self.rng, &MODELS);
        let prompt = format!(
            "You are the Aureus {} agent. Workflow {}, task {task_id}: produce a {} as JSON. Context: {}",
            profile.name,
            self.id,
            profile.artifact_type,
            "prior step results; ".repeat(self.rng.random_range(1..=40)),
        );
        let response = format!(
            "{{\"{}\": [{}]}}",
            profile.artifact_type,
            "{\"step\": \"…\", \"why\": \"…\"}, ".repeat(self.rng.random_range(1..=60)),
        );
        let sent = LlmPrompt { model, prompt: &prompt };
        self.kernel.emit(EventKind::LlmPrompt, || sent.emit()).await;
        let answered = LlmResponse {
            model,
            response: &response,
        };
        self.kernel.emit(EventKind::LlmResponse, || answered.emit()).await;
        if self.rng.random_bool(0.8) {
            let artifact_id = format!("art-{}-{task_id}-{:08x}", self.id, self.rng.random::<u32>());
            let artifact = LlmArtifactGenerated {
                artifact_type: profile.artifact_type,
                artifact_id: &artifact_id,
                model,
                prompt_length: prompt.len() as u64,
                response_length: response.len() as u64,
            };
            self.kernel
                .emit(EventKind::LlmArtifactGenerated, || artifact.emit())
                .await;
        }
    }

    /// 1–3 tool calls; returns the last tool's name.
    async fn tool_calls(&mut self, task_id: &str, profile: &TaskProfile, attempt: u32) -> &'static str {
        let calls = self.rng.random_range(1..=3);
        let mut tool_name = profile.tools[0];
        for _ in 0..calls {
            tool_name = pick(&mut self.rng, profile.tools);
            let args = tool_args(&mut self.rng, &self.id, tool_name, attempt);
            let call = ToolCall {
                workflow_id: &self.id,
                task_id,
                tool_name,
                args: &args,
            };
            self.kernel.emit(EventKind::ToolCall, || call.emit()).await;
        }
        tool_name
    }

    fn tool_failure(&mut self, tool: &str) -> Failure {
        match self.rng.random_range(0..3) {
            0 => {
                let timeout_ms = 30_000;
                Failure {
                    error: format!("tool `{tool}` timed out after {timeout_ms} ms"),
                    duration_ms: Some(timeout_ms + self.rng.random_range(5..120)),
                }
            }
            1 => Failure {
                error: format!("tool `{tool}` returned HTTP 503 Service Unavailable"),
                duration_ms: None,
            },
            _ => Failure {
                error: format!("tool `{tool}` exited with status 1: permission denied"),
                duration_ms: None,
            },
        }
    }

    /// 1–2 gates. With `block`, the last one fails and blocks the step;
    /// otherwise gates may still fail softly (a warning, not a block).
    async fn crv_gates(&mut self, task_id: &str, block: bool) -> Result<(), Failure> {
        let gates = self.rng.random_range(1..=2);
        let first = self.rng.random_range(0..CRV_GATES.len());
        for index in 0..gates {
            let (gate_name, code) = CRV_GATES[(first + index) % CRV_GATES.len()];
            let blocked = block && index + 1 == gates;
            let passed = !blocked && !self.rng.random_bool(self.kernel.failure_rate / 2.0);
            let result = CrvResult {
                workflow_id: &self.id,
                task_id,
                gate_name,
                passed,
                blocked,
                failure_code: (!passed).then_some(code),
            };
            self.kernel.emit(EventKind::CrvResult, || result.emit()).await;
            if blocked {
                return Err(Failure {
                    error: format!("CRV gate `{gate_name}` blocked the step: {code}"),
                    duration_ms: None,
                });
            }
        }
        Ok(())
    }

    /// Allowed, allowed after human approval, or (with `deny`) denied.
    async fn policy_check(&mut self, task_id: &str, risk_tier: &str, deny: bool) -> Result<(), Failure> {
        let escalate = risk_tier == "high" || self.rng.random_bool(0.03);
        let (allowed, requires_human_approval, reason) = match (deny, escalate) {
            (true, true) => (false, true, "human approval not granted within 15 min".to_owned()),
            (true, false) => (false, false, format!("action not permitted at risk tier {risk_tier}")),
            (false, true) => (true, true, "approved by on-call operator".to_owned()),
            (false, false) => (true, false, format!("within policy for risk tier {risk_tier}")),
        };
        let check = PolicyCheck {
            workflow_id: &self.id,
            task_id,
            allowed,
            requires_human_approval,
            reason: &reason,
        };
        self.kernel.emit(EventKind::PolicyCheck, || check.emit()).await;
        if allowed {
            Ok(())
        } else {
            Err(Failure {
                error: format!("policy denied: {reason}"),
                duration_ms: Some(self.draw_duration_ms(40.0)),
            })
        }
    }

    /// Writes the snapshot on the blocking pool; the `snapshot_commit` event
    /// is recorded there, under this workflow's correlation id.
    async fn commit_snapshot(&mut self, task_id: &str) {
        self.kernel.pacer.wait(&self.kernel.stop).await;
        self.snapshots += 1;
        let snapshot_id = format!("snap-{}-{:04}", self.id, self.snapshots);
        let write_time = Duration::from_micros(self.rng.random_range(200..2_000));
        let (kernel, workflow_id, task_id, id) = (
            Arc::clone(&self.kernel),
            self.id.clone(),
            task_id.to_owned(),
            snapshot_id.clone(),
        );
        let write = correlation::spawn_blocking(move || {
            std::thread::sleep(write_time); // the simulated fsync
            SnapshotCommit {
                workflow_id: &workflow_id,
                task_id: &task_id,
                snapshot_id: &id,
            }
            .emit();
            kernel.counters.event(EventKind::SnapshotCommit);
        });
        match write.await {
            Ok(()) => self.last_snapshot = snapshot_id,
            Err(err) => eprintln!("kernel: snapshot {snapshot_id} failed: {err}"),
        }
    }

    async fn rollback(&mut self, task_id: &str, reason: &str) {
        let rollback = Rollback {
            workflow_id: &self.id,
            task_id,
            snapshot_id: &self.last_snapshot,
            reason,
        };
        self.kernel.emit(EventKind::Rollback, || rollback.emit()).await;
    }
}

/// Tool arguments with a nested request object, as a real tool call would have.
fn tool_args(rng: &mut StdRng, workflow_id: &str, tool: &str, attempt: u32) -> Json {
    json!({
        "request": {
            "resource": {
                "kind": tool.split('.').next().unwrap_or(tool),
                "uri": format!("aureus://workspace/{workflow_id}/obj-{:04}", rng.random_range(0..10_000)),
            },
            "params": { "limit": rng.random_range(1..=100), "dry_run": rng.random_bool(0.2) },
        },
        "options": {
            "timeout_ms": 30_000,
            "attempt": attempt,
            "idempotency_key": format!("{:016x}", rng.random::<u64>()),
        },
    })
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// A standard normal sample (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // in (0, 1], so ln() is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

// ───────────────────────────── signals ─────────────────────────────

/// Ctrl-C or SIGTERM; returns the signal's name. The SIGTERM handler is
/// installed when this is called, not when first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let terminated = terminate.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = terminated => "SIGTERM",
        }
    })
}

// ───────────────────────────── summary ─────────────────────────────

/// `{"step_start":…,…,"total":…,"tasks":{"plan":{"success":…,"failure":…},…}}`
fn summary_json(counters: &Counters) -> Json {
    let events = counters.events();
    let mut summary = serde_json::Map::new();
    for (kind, count) in &events {
        summary.insert((*kind).to_owned(), json!(count));
    }
    summary.insert("total".to_owned(), json!(events.iter().map(|(_, c)| c).sum::<u64>()));
    let tasks: serde_json::Map<String, Json> = counters
        .steps()
        .into_iter()
        .map(|(name, ok, failed)| (name.to_owned(), json!({ "success": ok, "failure": failed })))
        .collect();
    summary.insert("tasks".to_owned(), Json::Object(tasks));
    Json::Object(summary)
}

fn print_summary(counters: &Counters, elapsed: Duration) {
    println!("EMITTED {}", summary_json(counters));
    let events = counters.events();
    let total: u64 = events.iter().map(|(_, c)| c).sum();
    println!();
    println!("{:<24} {:>10}", "event", "emitted");
    for (kind, count) in &events {
        println!("{kind:<24} {count:>10}");
    }
    println!("{:<24} {total:>10}", "total");
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        println!("{:<24} {:>10.1}   (over {secs:.1} s)", "events/s", total as f64 / secs);
    }
    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>9}",
        "task type", "succeeded", "failed", "success"
    );
    for (name, ok, failed) in counters.steps() {
        let rate = match ok + failed {
            0 => "-".to_owned(),
            all => format!("{:.1}%", 100.0 * ok as f64 / all as f64),
        };
        println!("{name:<10} {ok:>10} {failed:>10} {rate:>9}");
    }
    println!("(counts are step_end outcomes, i.e. attempts)");
}

/// The shutdown report as one JSON object, so every record can be accounted
/// for: per sink, `created` (every record offered to it: accepted, or
/// refused with a full queue or after close) = `delivered` + `dropped` +
/// `failed` + `undelivered`; per OTLP signal, its export counters.
fn report_json(report: &aureus_observability::ShutdownReport) -> Json {
    let sinks: Vec<Json> = report
        .sinks
        .iter()
        .map(|s| {
            let h = &s.health;
            json!({
                "name": h.name,
                "created": h.accepted + h.dropped_queue_full + h.dropped_closed,
                "delivered": h.delivered,
                "dropped": h.dropped(),
                "failed": h.failed,
                "undelivered": s.undelivered,
                "completed": s.completed,
            })
        })
        .collect();
    let otlp: Vec<Json> = report
        .otlp
        .iter()
        .map(|o| {
            let c = &o.counts;
            json!({
                "signal": o.signal,
                "exported": c.exported,
                "dropped": c.dropped_queue_full + c.dropped_closed,
                "failed": c.failed,
                "undelivered": c.queued,
                "completed": o.completed,
            })
        })
        .collect();
    json!({ "sinks": sinks, "otlp": otlp, "elapsed_ms": report.elapsed.as_millis() as u64 })
}

// ───────────────────────────── main ─────────────────────────────

/// Starts `count` lanes of workflows; each lane's randomness comes from `seed`.
fn start_workflows(kernel: &Arc<Kernel>, count: u32, seed: u64) -> Vec<JoinHandle<()>> {
    let mut master = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|lane| {
            let lane_rng = StdRng::seed_from_u64(master.random());
            tokio::spawn(run_lane(Arc::clone(kernel), lane + 1, lane_rng))
        })
        .collect()
}

/// Waits for the stop reason: the duration elapsed, or a signal.
async fn wait_for_stop(
    duration: u64,
    signal: &mut (impl std::future::Future<Output = &'static str> + Unpin),
) -> String {
    let elapsed = async {
        if duration == 0 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_secs(duration)).await;
    };
    tokio::select! {
        () = elapsed => format!("{duration} s elapsed"),
        name = signal => format!("{name} received"),
    }
}

/// Gives the workflows [`STOP_GRACE`] to finish their current attempt, then aborts the rest.
async fn join_workflows(handles: Vec<JoinHandle<()>>) {
    let deadline = Instant::now() + STOP_GRACE;
    let mut late = 0;
    for mut handle in handles {
        match tokio::time::timeout_at(deadline, &mut handle).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("kernel: a workflow lane failed: {err}"),
            Err(_) => {
                handle.abort();
                late += 1;
            }
        }
    }
    if late > 0 {
        eprintln!("kernel: {late} workflow lane(s) did not stop within {STOP_GRACE:?} and were aborted");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse(); // bad flags: clap prints the problem and exits with 2
    let config = match load_config(cli.config.as_deref(), cli.listen.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kernel: {err}");
            return ExitCode::from(2);
        }
    };
    let mut signal = match shutdown_signal() {
        Ok(signal) => Box::pin(signal),
        Err(err) => {
            eprintln!("kernel: cannot install the SIGTERM handler: {err}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match aureus_observability::init(config) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("kernel: {err}");
            return ExitCode::from(2);
        }
    };

    if let Some(addr) = telemetry.server_addr() {
        // On stdout, so scripts and tests can find the port when it was 0.
        println!("LISTENING {addr}");
        eprintln!("kernel: metrics at http://{addr}/metrics, dashboard at http://{addr}/monitoring");
    }

    let seed = cli.seed.unwrap_or_else(rand::random);
    let (stop_tx, stop_rx) = watch::channel(false);
    let kernel = Arc::new(Kernel {
        counters: Counters::new(),
        pacer: Pacer::new(cli.rate),
        stop: StopSignal(stop_rx),
        failure_rate: cli.failure_rate,
    });
    eprintln!(
        "kernel: {} workflows, rate {}, failure rate {}, seed {seed}; stop with Ctrl-C",
        cli.workflows,
        if cli.rate == 0 {
            "unlimited".to_owned()
        } else {
            format!("{}/s", cli.rate)
        },
        cli.failure_rate,
    );

    if let Some(note) = &cli.note {
        let span = tracing::info_span!("operator_note", correlation_id = "operator-note");
        span.in_scope(|| tracing::warn!(target: "aureus", event_type = "custom", name = "operator_note", "{note}"));
        kernel.counters.event(EventKind::Custom);
    }
    let started = Instant::now();
    let lanes = start_workflows(&kernel, cli.workflows, seed);
    let reason = wait_for_stop(cli.duration, &mut signal).await;
    eprintln!("kernel: stopping ({reason})");
    stop_tx.send_replace(true);
    join_workflows(lanes).await;
    let elapsed = started.elapsed();
    print_summary(&kernel.counters, elapsed);

    if cli.linger > 0 && !reason.ends_with("received") {
        eprintln!("kernel: serving the final metrics for up to {} s", cli.linger);
        let reason = wait_for_stop(cli.linger, &mut signal).await;
        eprintln!("kernel: done lingering ({reason})");
    }
    match tokio::task::spawn_blocking(move || telemetry.shutdown(SHUTDOWN_DEADLINE)).await {
        Ok(report) => {
            println!("REPORT {}", report_json(&report));
            eprint!("{report}");
        }
        Err(err) => eprintln!("kernel: telemetry shutdown failed: {err}"),
    }
    ExitCode::SUCCESS
}
