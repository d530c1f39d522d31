//! Test support for the real Prometheus tools: `promtool` as a linter of our
//! exposition text and rule files, and a throw-away `prometheus` server that
//! scrapes test targets on loopback and answers PromQL queries.
//!
//! Use it from an integration test with
//!
//! ```ignore
//! #[path = "support/http.rs"]
//! mod http;
//! #[path = "support/prometheus.rs"]
//! mod prometheus;
//! ```
//!
//! (HTTP goes through the shared client in `support/http.rs`, which the test
//! crate must declare as `mod http` at its root.)
//!
//! The binaries come from Debian's `prometheus` package, installed by
//! `scripts/install-peers.sh`. A missing binary is always an `Err` (never a
//! silent pass). Every wait in this module is bounded. Only `std`,
//! `serde_json` and `tempfile` are used.
//!
//! A second, independent reader of the text format: [`python_parse`] runs
//! the Python client library's parser (PyPI `prometheus-client`, installed by
//! the same script into `target/peers/prometheus-client`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::http::free_loopback_port;
pub use crate::http::percent_encode;

/// What to run when a peer binary is missing.
const INSTALL_HINT: &str = "run scripts/install-peers.sh";

/// Upper bound for one `promtool` invocation.
const PROMTOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Upper bound for `prometheus` to answer `GET /-/ready` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Interval between two polls of [`PrometheusServer::wait_until`].
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How many log lines a start failure quotes.
const LOG_TAIL_LINES: usize = 30;

// ---------------------------------------------------------------------------
// promtool
// ---------------------------------------------------------------------------

/// Lints Prometheus text exposition with `promtool check metrics` (the text is
/// fed on stdin).
///
/// `Ok(())` only when promtool exits 0 **and** prints nothing on stdout or
/// stderr. Otherwise `Err` with the exit status and promtool's output, e.g.
/// `demo_requests counter metrics should have "_total" suffix` (exit 3, lint
/// problems) or `error while linting: text format parsing error in line 3: …`
/// (exit 1, unparsable text). A missing `promtool` is an `Err` saying so.
pub fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let out = run_promtool(&["check", "metrics"], Some(exposition.as_bytes()))?;
    let problems: Vec<&str> = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if out.status.success() && problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics: {} with {} problem line(s):\n{}",
            out.status,
            problems.len(),
            problems.join("\n")
        ))
    }
}

/// Runs `promtool ARGS…` (e.g. `["check", "rules", path]` or
/// `["test", "rules", path]`) with no stdin.
///
/// `Ok` with stdout followed by stderr when it exits 0; `Err` with the exit
/// status and both streams otherwise. A missing `promtool` is an `Err`.
pub fn promtool(args: &[&str]) -> Result<String, String> {
    let out = run_promtool(args, None)?;
    if out.status.success() {
        Ok(format!("{}{}", out.stdout, out.stderr))
    } else {
        Err(format!(
            "promtool {}: {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            out.status,
            out.stdout,
            out.stderr
        ))
    }
}

/// Captured result of a finished process.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn run_promtool(args: &[&str], stdin: Option<&[u8]>) -> Result<Output, String> {
    let mut cmd = Command::new("promtool");
    cmd.args(args);
    run_bounded(cmd, "promtool", stdin, PROMTOOL_TIMEOUT)
}

/// Spawns `cmd`, feeds `stdin` (from a thread, so a chatty child cannot
/// deadlock us), collects stdout/stderr, and kills the child after `timeout`.
fn run_bounded(mut cmd: Command, name: &str, stdin: Option<&[u8]>, timeout: Duration) -> Result<Output, String> {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| spawn_error(name, &e))?;

    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => {
            let input = input.to_vec();
            // A child that exits early closes the pipe: a write error then is
            // not ours to report; its status/output tell the story.
            Some(thread::spawn(move || {
                let _ = pipe.write_all(&input);
            }))
        }
        _ => None,
    };
    let stdout = child.stdout.take().map(read_in_thread);
    let stderr = child.stderr.take().map(read_in_thread);

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{name} did not finish within {timeout:?}; killed it"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for {name}: {e}"));
            }
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let join = |h: Option<thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

fn read_in_thread<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn spawn_error(name: &str, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        format!("{name} not found; {INSTALL_HINT}")
    } else {
        format!("cannot start {name}: {e}")
    }
}

// ---------------------------------------------------------------------------
// The Python client library's parser
// ---------------------------------------------------------------------------

/// One metric family as `prometheus_client` read it. Its parser names a
/// counter family without the `_total` suffix (the samples keep it).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub kind: String,
    /// The `# HELP` text, unescaped (empty without one).
    pub help: String,
    pub samples: Vec<ParsedSample>,
}

/// One sample line as `prometheus_client` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    /// Label values unescaped.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// The timestamp, when the line had one.
    pub timestamp: Option<String>,
}

/// Upper bound for one parse by the Python parser.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

/// The Python with `prometheus_client`: `$PROMETHEUS_CLIENT_PYTHON` when set,
/// else `<repo>/target/peers/prometheus-client/bin/python`.
pub fn prometheus_client_python() -> Result<PathBuf, String> {
    let path = match std::env::var_os("PROMETHEUS_CLIENT_PYTHON").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/prometheus-client/bin/python"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} not found; {INSTALL_HINT}", path.display()))
    }
}

/// Parses `exposition` with `prometheus_client.parser.text_string_to_metric_families`
/// (through `tests/support/parse_exposition.py`). `Err` with the parser's
/// message when it rejects the text, or when Python or the package is missing.
pub fn python_parse(exposition: &str) -> Result<Vec<ParsedFamily>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/parse_exposition.py");
    let mut cmd = Command::new(prometheus_client_python()?);
    cmd.arg(&script);
    let out = run_bounded(
        cmd,
        "python (prometheus_client)",
        Some(exposition.as_bytes()),
        PYTHON_TIMEOUT,
    )?;
    if !out.status.success() {
        return Err(format!("{}: {}{}", out.status, out.stderr.trim(), out.stdout.trim()));
    }
    let json: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("parser output is not JSON ({e}): {}", out.stdout))?;
    let families = json["families"]
        .as_array()
        .ok_or_else(|| format!("no families in {json}"))?;
    families.iter().map(parsed_family).collect()
}

/// Parses an OpenMetrics 1.0 `exposition` with
/// `prometheus_client.openmetrics.parser.text_string_to_metric_families`
/// (through `tests/support/parse_openmetrics.py`) and returns its families
/// as JSON: `[{name, type, unit, help, samples: [{name, labels, value,
/// timestamp, exemplar: null | {labels, value, timestamp}}]}]`, values as
/// Python `repr` strings. `Err` with the parser's message when it rejects
/// the text, or when Python or the package is missing.
pub fn python_parse_openmetrics(exposition: &str) -> Result<Vec<serde_json::Value>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/parse_openmetrics.py");
    let mut cmd = Command::new(prometheus_client_python()?);
    cmd.arg(&script);
    let out = run_bounded(
        cmd,
        "python (prometheus_client openmetrics)",
        Some(exposition.as_bytes()),
        PYTHON_TIMEOUT,
    )?;
    if !out.status.success() {
        return Err(format!("{}: {}{}", out.status, out.stderr.trim(), out.stdout.trim()));
    }
    let mut json: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("parser output is not JSON ({e}): {}", out.stdout))?;
    match json["families"].take() {
        serde_json::Value::Array(families) => Ok(families),
        other => Err(format!("no families in {other}")),
    }
}

fn parsed_family(family: &serde_json::Value) -> Result<ParsedFamily, String> {
    let text = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("not a string: {v}"))
    };
    let samples = family["samples"]
        .as_array()
        .ok_or_else(|| format!("no samples in {family}"))?
        .iter()
        .map(|s| {
            let labels = s["labels"]
                .as_object()
                .ok_or_else(|| format!("no labels in {s}"))?
                .iter()
                .map(|(k, v)| Ok((k.clone(), text(v)?)))
                .collect::<Result<_, String>>()?;
            let value = text(&s["value"])?;
            Ok(ParsedSample {
                name: text(&s["name"])?,
                labels,
                value: value.parse().map_err(|e| format!("value {value:?}: {e}"))?,
                timestamp: s["timestamp"].as_str().map(str::to_owned),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(ParsedFamily {
        name: text(&family["name"])?,
        kind: text(&family["type"])?,
        help: text(&family["help"])?,
        samples,
    })
}

// ---------------------------------------------------------------------------
// prometheus server
// ---------------------------------------------------------------------------

/// A `prometheus` server on a free loopback port, with its config, TSDB and
/// logs in a temporary directory. It scrapes the given targets as job
/// `aureus`. Dropping it kills the process, waits for it, and removes the
/// directory.
pub struct PrometheusServer {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Writes a config scraping `scrape_targets` (job `aureus`, global
    /// `scrape_interval` and `evaluation_interval` both `scrape_interval`;
    /// the scrape timeout defaults to the interval when that is under 10 s),
    /// starts `prometheus` on `127.0.0.1:<free port>` and waits (≤ 30 s)
    /// until `GET /-/ready` answers 200.
    ///
    /// On failure the error quotes the last lines of the server's log. A lost
    /// race for the free port is retried (3 attempts in all).
    pub fn start(scrape_targets: &[SocketAddr], scrape_interval: Duration) -> Result<Self, String> {
        Self::start_with(scrape_targets, scrape_interval, &[])
    }

    /// Like [`start`](Self::start), with extra command-line flags (e.g.
    /// `--enable-feature=exemplar-storage`).
    pub fn start_with(
        scrape_targets: &[SocketAddr],
        scrape_interval: Duration,
        flags: &[&str],
    ) -> Result<Self, String> {
        if scrape_interval < Duration::from_millis(1) {
            return Err(format!("scrape_interval must be at least 1ms, got {scrape_interval:?}"));
        }
        let mut last_err = String::new();
        for _attempt in 0..3 {
            match Self::start_once(scrape_targets, scrape_interval, flags) {
                Ok(server) => return Ok(server),
                Err(e) if e.contains("address already in use") => last_err = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_err)
    }

    fn start_once(scrape_targets: &[SocketAddr], scrape_interval: Duration, flags: &[&str]) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("aureus-prometheus-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir for prometheus: {e}"))?;
        let port = free_loopback_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));

        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, config_yaml(scrape_targets, scrape_interval))
            .map_err(|e| format!("writing {}: {e}", config_path.display()))?;
        let stdout = log_file(&dir.path().join("stdout.log"))?;
        let stderr = log_file(&dir.path().join("stderr.log"))?;

        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(flags)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| spawn_error("prometheus", &e))?;
        // From here on, Drop cleans up whatever goes wrong.
        let mut server = PrometheusServer { child, addr, dir };
        server.wait_ready(READY_TIMEOUT)?;
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "prometheus exited during startup ({status}); last log lines:\n{}",
                        self.log_tail(LOG_TAIL_LINES)
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for prometheus: {e}")),
            }
            let last = match http_get(self.addr, "/-/ready", &[]) {
                Ok((200, _)) => return Ok(()),
                Ok((code, body)) => format!("HTTP {code}: {}", body.trim()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "prometheus on {} not ready within {timeout:?} (last: {last}); last log lines:\n{}",
                    self.addr,
                    self.log_tail(LOG_TAIL_LINES)
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server process' id (gone once the server is dropped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory holding `prometheus.yml`, `data/` and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (stderr, where prometheus logs, then stdout).
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("stdout.log"))
    }

    fn log_tail(&self, n: usize) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        if tail.is_empty() {
            "(log is empty)".to_string()
        } else {
            tail
        }
    }

    /// Evaluates an instant query (`GET /api/v1/query?query=…`) and returns
    /// `data.result`: an array of `{metric, value: [ts, "v"]}` for a vector,
    /// `[ts, "v"]` for a scalar. `Err` on transport errors, non-2xx answers
    /// and `status != "success"` (with Prometheus' `error`).
    pub fn query(&self, promql: &str) -> Result<serde_json::Value, String> {
        let mut data = self.query_data(promql)?;
        Ok(data["result"].take())
    }

    /// Evaluates `promql` and returns its one value: `None` for an empty
    /// vector, the sample for a one-element vector or a scalar. A vector of
    /// several series is an `Err` — wrap the query in `sum(…)` when that is
    /// what you mean. `NaN`/`±Inf` come back as the corresponding `f64`.
    pub fn query_scalar(&self, promql: &str) -> Result<Option<f64>, String> {
        let data = self.query_data(promql)?;
        let result = &data["result"];
        match data["resultType"].as_str() {
            Some("scalar") => sample_value(result).map(Some),
            Some("vector") => {
                let series = result
                    .as_array()
                    .ok_or_else(|| format!("query {promql:?}: vector result is not an array: {result}"))?;
                match series.as_slice() {
                    [] => Ok(None),
                    [one] => sample_value(&one["value"]).map(Some),
                    many => Err(format!(
                        "query {promql:?} returned {} series (wrap it in sum(...) for one value): {result}",
                        many.len()
                    )),
                }
            }
            other => Err(format!("query {promql:?}: unsupported resultType {other:?}: {result}")),
        }
    }

    /// Polls [`query_scalar`](Self::query_scalar) every 250 ms until `pred`
    /// holds for its value, and returns that value. Query errors while polling
    /// are retried; on timeout the `Err` names the last value or error seen.
    pub fn wait_until(
        &self,
        promql: &str,
        pred: impl Fn(Option<f64>) -> bool,
        timeout: Duration,
    ) -> Result<Option<f64>, String> {
        let deadline = Instant::now() + timeout;
        let mut polls = 0u32;
        loop {
            polls += 1;
            let last = match self.query_scalar(promql) {
                Ok(v) if pred(v) => return Ok(v),
                Ok(v) => format!("value {v:?}"),
                Err(e) => format!("error: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "condition on {promql:?} not met within {timeout:?} ({polls} polls); last {last}"
                ));
            }
            thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// The exemplars of the series `promql` selects over the last `window`
    /// (`GET /api/v1/query_exemplars`): `data`, an array of
    /// `{seriesLabels, exemplars: [{labels, value, timestamp}]}`.
    /// Needs the server started with `--enable-feature=exemplar-storage`.
    pub fn query_exemplars(&self, promql: &str, window: Duration) -> Result<serde_json::Value, String> {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs_f64()
            + 60.0;
        let start = end - 60.0 - window.as_secs_f64();
        let mut v = self.api_get(&format!(
            "/api/v1/query_exemplars?query={}&start={start:.3}&end={end:.3}",
            percent_encode(promql)
        ))?;
        Ok(v["data"].take())
    }

    /// How many active targets report health `"up"` (`GET /api/v1/targets`).
    pub fn targets_up(&self) -> Result<usize, String> {
        let v = self.api_get("/api/v1/targets")?;
        let targets = v["data"]["activeTargets"]
            .as_array()
            .ok_or_else(|| format!("/api/v1/targets: no data.activeTargets array: {v}"))?;
        Ok(targets.iter().filter(|t| t["health"] == "up").count())
    }

    fn query_data(&self, promql: &str) -> Result<serde_json::Value, String> {
        let mut v = self.api_get(&format!("/api/v1/query?query={}", percent_encode(promql)))?;
        Ok(v["data"].take())
    }

    /// GETs an API path and checks Prometheus' `{"status": "success"}` envelope.
    fn api_get(&self, path_and_query: &str) -> Result<serde_json::Value, String> {
        let (code, body) = http_get(self.addr, path_and_query, &[("Accept", "application/json")])?;
        let v: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("GET {path_and_query}: HTTP {code}, body is not JSON ({e}): {body}"))?;
        if !(200..300).contains(&code) || v["status"] != "success" {
            return Err(format!(
                "GET {path_and_query}: HTTP {code}, {}: {}",
                v["errorType"].as_str().unwrap_or("error"),
                v["error"].as_str().unwrap_or(&body)
            ));
        }
        Ok(v)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        // SIGKILL: the TSDB is thrown away with the temp dir, so there is
        // nothing to shut down cleanly. `wait` reaps the process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(path: &Path) -> Result<fs::File, String> {
    fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

/// The prometheus.yml for one job `aureus` scraping `targets` over plain HTTP
/// at `/metrics`.
fn config_yaml(targets: &[SocketAddr], interval: Duration) -> String {
    let interval = format!("{}ms", interval.as_millis());
    let mut yaml = format!(
        "global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n\
         scrape_configs:\n  - job_name: aureus\n    metrics_path: /metrics\n    static_configs:\n      - targets: ["
    );
    for (i, t) in targets.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        // SocketAddr's Display brackets IPv6 (`[::1]:9000`), as Prometheus wants.
        let _ = write!(yaml, "{sep}'{t}'");
    }
    yaml.push_str("]\n");
    yaml
}

/// Parses a Prometheus `[timestamp, "value"]` pair.
fn sample_value(pair: &serde_json::Value) -> Result<f64, String> {
    let s = pair[1]
        .as_str()
        .ok_or_else(|| format!("sample is not [ts, \"value\"]: {pair}"))?;
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|e| format!("sample value {s:?}: {e}")),
    }
}

// ---------------------------------------------------------------------------
// HTTP GET
// ---------------------------------------------------------------------------

/// A minimal HTTP/1.1 `GET` over a fresh connection: [`crate::http::get`]
/// (`Connection: close`, `Accept-Encoding: identity` unless `headers` say
/// otherwise; `Content-Length`, chunked and close-delimited bodies; connect
/// bounded by 10 s, the whole exchange by 30 s). Returns the status code and
/// the body, which must be UTF-8.
pub fn http_get(addr: SocketAddr, path_and_query: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    crate::http::get(addr, path_and_query, headers)
}
