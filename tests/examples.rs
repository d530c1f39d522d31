//! The six user-facing examples (`examples/{otlp,prometheus,multi_sink,
//! correlation,aggregation,production}.rs`) run briefly and say what they
//! promise: each is built once per run of this test binary (one `cargo
//! build --example …` into this test's own target directory and profile,
//! its executables read from cargo's JSON messages), started as a child
//! process on loopback ports with a clean environment, and its output and
//! effects (files, HTTP answers, what a real collector received) checked.
//! The OTLP runs need rotel (`#[ignore]`d; `scripts/test.sh` runs them).
//!
//! Also: every ```toml block of `docs/GUIDE.md` and `examples/production.toml`
//! parse as a `Config`, and the guide's Prometheus configurations (with the
//! shipped rules file) pass `promtool check config`.

#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/rotel.rs"]
mod rotel;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aureus_observability::Config;
use rotel::Rotel;

const EXAMPLES: [&str; 6] = [
    "otlp",
    "prometheus",
    "multi_sink",
    "correlation",
    "aggregation",
    "production",
];
/// Longest any example may run in these tests.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

// ───────────────────────────── harness ─────────────────────────────

/// Builds the examples once (a no-op when `cargo test` already built them)
/// and returns the executable of `name`.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    match BUILT.get_or_init(build_examples) {
        Ok(built) => built
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("cargo built no example {name}: {built:?}")),
        Err(err) => panic!("{err}"),
    }
}

/// `cargo build --example …` into the target directory and profile this
/// test binary was built in (`<target>/<profile>/deps/examples-…`).
fn build_examples() -> Result<HashMap<String, PathBuf>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in <target>/<profile>/deps", exe.display()))?;
    let target_dir = profile_dir.parent().ok_or("no target directory")?;
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["build", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(other) => {
            command.args(["--profile", other]);
        }
        None => return Err(format!("no profile in {}", profile_dir.display())),
    }
    for name in EXAMPLES {
        command.args(["--example", name]);
    }
    let output = command.output().map_err(|e| format!("running cargo build: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build --example … failed: {}", output.status));
    }
    let mut built = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_example = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
        if let (true, Some(name), Some(exe)) = (
            is_example,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            built.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    Ok(built)
}

/// The example as a command in `dir`, without the caller's telemetry variables.
fn command(name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(example(name));
    command.current_dir(dir).args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("AUREUS_") || key.starts_with("OTEL_") || key == "RUST_LOG" || key == "NO_COLOR" {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1").envs(env.iter().copied());
    command
}

/// Runs the example to its end (bounded by [`RUN_TIMEOUT`]).
fn run(name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = command(name, dir, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().expect("waiting for the example").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("example {name} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("example output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The lines of `text` starting with `prefix`, without it.
fn lines_of<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter_map(|l| l.strip_prefix(prefix)).collect()
}

/// `key=value` pairs of one output line.
fn pairs(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace().filter_map(|w| w.split_once('=')).collect()
}

/// A running example whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = command(name, dir, args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(err) => panic!("no line starting with {prefix:?} ({err}); so far: {:?}", self.seen),
            }
        }
    }

    /// SIGTERM, then the exit status and the rest of stdout (bounded).
    fn terminate(self, timeout: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.finish(timeout)
    }

    /// The exit status once it exits by itself, and the rest of stdout (bounded).
    fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the example") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("no exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = std::mem::take(&mut self.seen);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        (status, rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OTLP endpoint on loopback where nothing listens.
fn closed_endpoint() -> String {
    let port = http::free_loopback_port().expect("a free port");
    format!("http://127.0.0.1:{port}")
}

// ───────────────────────────── prometheus ─────────────────────────────

#[test]
fn prometheus_serves_the_prefix_global_labels_and_the_services_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        "prometheus",
        dir.path(),
        &["--listen", "127.0.0.1:0", "--duration", "1"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    let scraped = lines_of(&text, "SCRAPE ");
    for expected in [
        r#"kernel_tasks_completed_total{cluster="blue",region="eu-1",task_type="action",success="true"} 3"#,
        r#"kernel_tasks_completed_total{cluster="blue",region="eu-1",task_type="action",success="false"} 1"#,
        r#"kernel_tool_calls_total{cluster="blue",region="eu-1",tool_name="http.post"} 4"#,
        r#"kernel_task_duration_ms_count{cluster="blue",region="eu-1",task_type="action",success="true"} 3"#,
        r#"orders_processed_total{cluster="blue",region="eu-1",channel="web"} 3"#,
        r#"order_latency_seconds_count{cluster="blue",region="eu-1"} 1"#,
        r#"order_queue_depth{cluster="blue",region="eu-1"} 7"#,
    ] {
        assert!(scraped.contains(&expected), "missing {expected}\n{}", describe(&output));
    }
    assert!(!text.contains("aureus_tasks"), "the prefix replaces `aureus`: {text}");
}

#[test]
fn prometheus_is_scrapable_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = Running::start(
        "prometheus",
        dir.path(),
        &["--listen", "127.0.0.1:0", "--duration", "3"],
        &[],
    );
    let addr = running
        .wait_for_line("LISTENING ", Duration::from_secs(30))
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = http::get(addr, "/metrics", &[]).expect("GET /metrics");
        assert_eq!(status, 200);
        if body.contains("orders_processed_total") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("# TYPE order_latency_seconds histogram"), "{body}");
    assert!(
        body.contains(r#"order_latency_seconds_bucket{cluster="blue",region="eu-1",le="0.05"} 1"#),
        "{body}"
    );
    let (status, lines) = running.finish(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    assert!(
        lines.iter().any(|l| l.starts_with("SCRAPE orders_processed_total")),
        "{lines:?}"
    );
}

#[test]
fn a_bad_flag_value_is_an_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = run("prometheus", dir.path(), &["--duration", "soon"], &[]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--duration needs a valid value"),
        "{}",
        describe(&output)
    );
}

/// An environment variable the crate reads whose value is not UTF-8 is an
/// error naming it, not a panic (`std::env::vars()` used to panic on it).
#[cfg(unix)]
#[test]
fn a_variable_that_is_not_utf8_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    for name in ["otlp", "multi_sink", "correlation", "production"] {
        let output = command(name, dir.path(), &[], &[])
            .env("AUREUS_SERVICE_NAME", std::ffi::OsStr::from_bytes(b"caf\xe9"))
            .env("SOMEONE_ELSES", std::ffi::OsStr::from_bytes(b"\xff"))
            .output()
            .unwrap();
        assert_ne!(
            output.status.code(),
            Some(101),
            "{name} panicked: {}",
            describe(&output)
        );
        assert!(!output.status.success(), "{name}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("AUREUS_SERVICE_NAME") && stderr.contains("UTF-8") && !stderr.contains("panicked"),
            "{name}: {}",
            describe(&output)
        );
    }
}

// ───────────────────────────── multi_sink ─────────────────────────────

fn sink_lines(text: &str) -> HashMap<String, HashMap<&str, &str>> {
    lines_of(text, "SINK ")
        .into_iter()
        .map(|l| (l.split_whitespace().next().unwrap_or_default().to_owned(), pairs(l)))
        .collect()
}

#[test]
fn multi_sink_fans_out_and_manages_sinks_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        "multi_sink",
        dir.path(),
        &["--dir", "out", "--events", "20", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    let sinks = sink_lines(&text);
    // 3 phases × (20 INFO + 1 WARN) = 63 events.
    assert_eq!(sinks["audit"]["delivered"], "63", "{text}");
    assert_eq!(sinks["store"]["delivered"], "63", "{text}");
    assert_eq!(sinks["prometheus"]["delivered"], "63", "{text}");
    // File: phase 2 at WARN only → 21 + 1 + 21.
    assert_eq!(sinks["file"]["delivered"], "43", "{text}");
    // Console (level warn): phase 1 and 3 warnings; disabled during phase 2.
    assert_eq!(sinks["console"]["delivered"], "2", "{text}");
    for (name, sink) in &sinks {
        assert_eq!((sink["dropped"], sink["failed"]), ("0", "0"), "{name}: {text}");
    }
    let file = std::fs::read_to_string(dir.path().join("out/multi.jsonl")).unwrap();
    assert_eq!(file.lines().count(), 43);
    let phase_2: Vec<&str> = file
        .lines()
        .filter(|l| l.contains(r#""correlation_id":"phase-2""#))
        .collect();
    assert_eq!(phase_2.len(), 1, "{phase_2:?}");
    assert!(phase_2[0].contains(r#""level":"WARN""#), "{}", phase_2[0]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("phase-1") && stderr.contains("phase-3") && !stderr.contains("workflow_id=phase-2"));
    assert!(
        text.contains("REMOVED audit delivered=63 counted=63 completed=true"),
        "{text}"
    );
    assert!(text.contains("CLEAN true"), "{}", describe(&output));
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn multi_sink_adds_the_otlp_sink_from_the_standard_variables() {
    let collector = Rotel::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.http_endpoint();
    let output = run(
        "multi_sink",
        dir.path(),
        &["--dir", "out", "--events", "20", "--listen", "127.0.0.1:0"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    let sinks = sink_lines(&text);
    assert_eq!(sinks["otlp"]["delivered"], "63", "{text}");
    let got = collector.wait_for("63 log records", Duration::from_secs(20), |r| r.logs.len() >= 63);
    let phase_2 = got
        .logs
        .iter()
        .filter(|l| {
            l.attributes
                .get("aureus.correlation_id")
                .is_some_and(|v| *v == "phase-2")
        })
        .count();
    assert_eq!(
        phase_2, 21,
        "the OTLP sink kept its level while the file's was narrowed"
    );
}

// ───────────────────────────── correlation ─────────────────────────────

fn check_correlation_output(output: &Output) -> HashMap<String, String> {
    assert!(output.status.success(), "{}", describe(output));
    let text = stdout(output);
    let seen = lines_of(&text, "SEEN ");
    let places: Vec<&str> = seen.iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(
        places,
        [
            "await",
            "after_await",
            "spawn",
            "spawn_blocking",
            "spawn_thread",
            "with_correlation",
            "service_b"
        ],
        "{text}"
    );
    for line in &seen {
        assert!(line.ends_with(" order-7731"), "{line}: {text}");
    }
    let hop = lines_of(&text, "HOP ");
    assert_eq!(hop.len(), 1, "{text}");
    let hop: HashMap<String, String> = pairs(hop[0])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(hop["correlation_id"], "order-7731");
    assert_eq!(hop["continued_trace"], "true");
    assert_eq!(hop["trace_id"].len(), 32, "{hop:?}");
    assert_eq!(hop["trace_id"], hop["sent_trace_id"]);
    assert!(
        hop["baggage"].starts_with("aureus.correlation_id=order-7731"),
        "{hop:?}"
    );
    assert!(text.contains("OK true"), "{text}");
    hop
}

#[test]
fn correlation_follows_tasks_threads_and_an_http_hop() {
    let dir = tempfile::tempdir().unwrap();
    // Span export on, to a loopback port where nothing listens: trace ids
    // exist and propagate; the spans are counted as failed, never sent elsewhere.
    let endpoint = closed_endpoint();
    let output = run(
        "correlation",
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ],
    );
    check_correlation_output(&output);
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn correlation_shows_one_trace_across_both_services_in_the_collector() {
    let collector = Rotel::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.http_endpoint();
    let output = run(
        "correlation",
        dir.path(),
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    );
    let hop = check_correlation_output(&output);
    let got = collector.wait_for("both services' spans", Duration::from_secs(20), |r| {
        r.span("call_service_b").is_some() && r.span("handle_order").is_some()
    });
    let call = got.span("call_service_b").unwrap();
    let handled = got.span("handle_order").unwrap();
    assert_eq!(call.trace_id, hop["trace_id"]);
    assert_eq!(handled.trace_id, call.trace_id, "B continued A's trace");
    assert_eq!(
        handled.parent_id, call.span_id,
        "B's span is a child of A's outgoing call"
    );
    assert!(handled.resource.get("service.name").is_some_and(|v| *v == "service-b"));
    assert!(call.resource.get("service.name").is_some_and(|v| *v == "service-a"));
    for span in [call, handled] {
        assert!(
            span.attributes
                .get("aureus.correlation_id")
                .is_some_and(|v| *v == "order-7731"),
            "{span:?}"
        );
    }
}

// ───────────────────────────── aggregation ─────────────────────────────

#[test]
fn aggregation_reads_the_summary_figures_and_the_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let output = run("aggregation", dir.path(), &[], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    let figures = lines_of(&text, "FIGURE ");
    for expected in [
        "success_rate 0.800",
        "step_ends 10 successes 8 failures 2",
        "escalation_rate 0.250",
        // (6 × 100..200 ms + 2 × 300 ms) / 8 successes
        "cost_per_success_ms 187.500",
        // $0.0135 of gpt-4o over 8 successes
        "llm_cost_usd 0.0135 cost_per_success_usd 0.001688",
        // events: the workload's 25, plus the alert changes the engine has
        // recorded by then (it evaluates every 100 ms while the workload runs)
        "crv_failures 6 policy_denials 1 escalations 1 rollbacks 2 events ",
        "task_type action success_rate 0.667 total 6",
        "task_type plan success_rate 1.000 total 1",
        "action_only success_rate 0.667",
    ] {
        assert!(
            figures.iter().any(|f| f.starts_with(expected)),
            "missing {expected:?}\n{text}"
        );
    }
    let events: u64 = figures
        .iter()
        .find_map(|f| f.split_once(" events ").map(|(_, n)| n))
        .and_then(|n| n.trim().parse().ok())
        .expect("events figure");
    assert!((25..=35).contains(&events), "{events} events\n{text}");
    // Two recoveries, each ≥ 50 ms after its failure.
    let mttr = figures
        .iter()
        .find_map(|f| f.strip_prefix("mttr_ms "))
        .expect("mttr line");
    let (ms, recoveries) = mttr.split_once(" recoveries ").unwrap();
    assert_eq!(recoveries, "2");
    assert!(ms.parse::<f64>().unwrap() >= 50.0, "{mttr}");

    let alerts = lines_of(&text, "ALERT ");
    assert!(
        alerts
            .iter()
            .any(|a| a.starts_with("success-rate Firing warning value=0.8 threshold=0.95")),
        "{text}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a.starts_with("crv-failures Firing warning value=6 threshold=5")),
        "{text}"
    );
    assert!(
        !alerts
            .iter()
            .any(|a| a.starts_with("rollbacks") || a.starts_with("policy-denials")),
        "{text}"
    );
    assert!(text.contains("ACK crv-failures by oncall@example.com"), "{text}");
}

// ───────────────────────────── production ─────────────────────────────

#[test]
fn production_config_file_parses() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/production.toml")).unwrap();
    let config = Config::from_toml_str(&text).expect("examples/production.toml");
    assert_eq!(config.environment.as_deref(), Some("production"));
    assert_eq!(config.sinks.len(), 2);
    assert!(
        config.monitoring.token.is_none(),
        "tokens come from the environment, not the file"
    );
}

#[test]
fn production_refuses_to_run_the_dashboard_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        "production",
        dir.path(),
        &["--duration", "1"],
        &[("AUREUS_METRICS_LISTEN", "127.0.0.1:0")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("AUREUS_MONITORING_TOKEN"),
        "{}",
        describe(&output)
    );
}

#[test]
fn production_authenticates_redacts_samples_and_shuts_down_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = Running::start(
        "production",
        dir.path(),
        &["--rate", "300"],
        &[
            ("AUREUS_MONITORING_TOKEN", "t0ken-for-tests"),
            ("AUREUS_METRICS_LISTEN", "127.0.0.1:0"),
        ],
    );
    let addr = running
        .wait_for_line("LISTENING ", Duration::from_secs(30))
        .parse()
        .unwrap();
    let (status, _) = http::get(addr, "/api/monitoring/metrics", &[]).unwrap();
    assert_eq!(status, 401, "the API needs the token");
    let (status, _) = http::get(addr, "/monitoring", &[]).unwrap();
    assert_eq!(status, 401, "the dashboard needs the token");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http::get(
            addr,
            "/api/monitoring/metrics",
            &[("Authorization", "Bearer t0ken-for-tests")],
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let figures: serde_json::Value = serde_json::from_str(&body).unwrap();
        if figures["stepEnds"].as_u64().unwrap_or(0) >= 200 {
            break;
        }
        assert!(Instant::now() < deadline, "too few step ends: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = http::get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200, "/metrics has its own (unset) token");

    let (status, lines) = running.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit after SIGTERM: {status}");
    let reports: HashMap<String, HashMap<&str, &str>> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("REPORT "))
        .map(|l| (l.split_whitespace().next().unwrap_or_default().to_owned(), pairs(l)))
        .collect();
    let audit = &reports["audit"];
    assert_eq!(audit["created"], audit["delivered"], "{lines:?}");
    assert_eq!(
        (audit["dropped"], audit["failed"], audit["undelivered"]),
        ("0", "0", "0")
    );

    let file = std::fs::read_to_string(dir.path().join("aureus-telemetry/production.jsonl")).unwrap();
    assert_eq!(
        file.lines().count().to_string(),
        audit["delivered"],
        "every delivered record is a line"
    );
    assert!(
        !file.contains("sk-live-0123456789abcdef"),
        "the secret never reaches the file"
    );
    assert!(
        file.contains(r#"\"api_key\":\"[REDACTED]\""#),
        "redacted inside the tool arguments"
    );
    let count = |kind: &str| {
        file.lines()
            .filter(|l| l.contains(&format!(r#""event_type":"{kind}""#)))
            .count()
    };
    let (starts, tools) = (count("step_start"), count("tool_call"));
    assert!(starts >= 200, "{starts}");
    assert!(
        tools > 0 && tools < starts,
        "tool calls sampled at 0.5: {tools} of {starts}"
    );
}

// ───────────────────────────── otlp ─────────────────────────────

#[test]
fn otlp_without_an_endpoint_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let output = run("otlp", dir.path(), &[], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
}

#[test]
fn otlp_names_a_bad_standard_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        "otlp",
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "{}",
        describe(&output)
    );
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn otlp_exports_spans_logs_and_metrics_configured_by_the_standard_variables() {
    let collector = Rotel::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.grpc_endpoint();
    let output = run(
        "otlp",
        dir.path(),
        &["--workflows", "3"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.region=eu-1"),
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    let exported: HashMap<String, HashMap<&str, &str>> = lines_of(&text, "EXPORTED ")
        .into_iter()
        .map(|l| (l.split_whitespace().next().unwrap_or_default().to_owned(), pairs(l)))
        .collect();
    assert_eq!(exported["traces"]["exported"], "3", "{text}");
    assert_eq!(exported["traces"]["failed"], "0", "{text}");
    assert_eq!(exported["logs"]["delivered"], "9", "{text}");
    assert!(text.contains("CLEAN true"), "{}", describe(&output));

    let ids: Vec<&str> = lines_of(&text, "WORKFLOW ")
        .into_iter()
        .filter_map(|l| l.split_once("correlation_id=").map(|(_, id)| id))
        .collect();
    assert_eq!(ids.len(), 3);
    let got = collector.wait_for("3 spans, 9 log records, metrics", Duration::from_secs(20), |r| {
        r.spans_named("workflow").len() >= 3 && r.logs.len() >= 9 && r.latest_metric("aureus_tasks_completed").is_some()
    });
    for span in got.spans_named("workflow") {
        assert!(
            span.resource.get("service.name").is_some_and(|v| *v == "checkout"),
            "{span:?}"
        );
        assert!(
            span.resource.get("deployment.region").is_some_and(|v| *v == "eu-1"),
            "{span:?}"
        );
        let id = span
            .attributes
            .get("aureus.correlation_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert!(ids.contains(&id), "{id} not among {ids:?}");
        let logs: Vec<_> = got.logs.iter().filter(|l| l.trace_id == span.trace_id).collect();
        assert_eq!(logs.len(), 3, "each workflow's three events carry its trace id");
    }
}

// ───────────────────────────── the guide ─────────────────────────────

/// The fenced blocks of `text` whose info string is `lang`.
fn fenced_blocks(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (Some(_), Some("")) => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_toml_block_of_the_guide_is_a_valid_config() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/GUIDE.md")).unwrap();
    let blocks = fenced_blocks(&guide, "toml");
    assert!(blocks.len() >= 5, "found {} toml blocks", blocks.len());
    for block in blocks {
        if let Err(err) = Config::from_toml_str(&block) {
            panic!("{err}\nin this block of docs/GUIDE.md:\n{block}");
        }
    }
}

#[test]
#[ignore = "needs promtool; run via the README test command"]
fn the_guides_prometheus_configurations_pass_promtool() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/GUIDE.md")).unwrap();
    let configs: Vec<String> = fenced_blocks(&guide, "yaml")
        .into_iter()
        .filter(|block| block.contains("scrape_configs:"))
        .collect();
    assert!(configs.len() >= 2, "found {} Prometheus configurations", configs.len());
    let dir = tempfile::tempdir().unwrap();
    // The files the configurations name, where they name them.
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/aureus-alerts.yml"
    ))
    .unwrap();
    std::fs::write(dir.path().join("aureus-alerts.yml"), rules).unwrap();
    std::fs::write(dir.path().join("aureus-metrics-token"), "t0ken\n").unwrap();
    for (n, block) in configs.iter().enumerate() {
        let text = block.replace("/etc/prometheus/", &format!("{}/", dir.path().display()));
        let path = dir.path().join(format!("prometheus-{n}.yml"));
        std::fs::write(&path, &text).unwrap();
        let checked = prometheus::promtool(&["check", "config", path.to_str().unwrap()])
            .unwrap_or_else(|e| panic!("{e}\nin this block of docs/GUIDE.md:\n{block}"));
        if text.contains("rule_files") {
            let shipped = std::fs::read_to_string(dir.path().join("aureus-alerts.yml")).unwrap();
            let count = shipped
                .lines()
                .filter(|l| l.trim_start().starts_with("- alert:"))
                .count();
            assert!(checked.contains(&format!("SUCCESS: {count} rules found")), "{checked}");
        }
    }
}
