//! Test support for the real OpenTelemetry collector `rotel`: a throw-away
//! `rotel-agent` on two loopback ports (OTLP/gRPC and OTLP/HTTP) that prints
//! everything it receives, and a parser for that printout, so a test can
//! export spans, logs and metrics and assert on what actually arrived.
//!
//! Use it from an integration test with
//!
//! ```ignore
//! #[path = "support/http.rs"]
//! mod http;
//! #[path = "support/rotel.rs"]
//! mod rotel;
//! ```
//!
//! (the free-port helper lives in `support/http.rs`, which the test crate
//! must declare as `mod http` at its root), then
//!
//! ```ignore
//! let collector = rotel::Rotel::start();
//! // … export to collector.grpc_endpoint() or collector.http_endpoint() …
//! let got = collector.wait_for("the boot span", Duration::from_secs(10), |r| r.span("boot").is_some());
//! assert_eq!(got.span("boot").unwrap().kind, "Internal");
//! ```
//!
//! The binary comes from the PyPI package `rotel`, installed by
//! `scripts/install-peers.sh` into `target/peers/rotel` and linked as
//! `target/peers/bin/rotel-agent`; `$ROTEL_AGENT` overrides that path. A
//! missing binary is an `Err` from [`rotel_binary`] and a panic from
//! [`Rotel::start`] (never a silent pass). Every wait in this module is
//! bounded. Only `std` and `tempfile` are used.
//!
//! # What rotel prints (rotel-agent 0.0.1-alpha10, PyPI `rotel` 0.0.1a15)
//!
//! With `--debug-log … --debug-log-verbosity detailed` rotel prints each
//! exported batch to stdout in the style of the Go collector's debug
//! exporter (see `tests/fixtures/rotel-debug-output.txt`):
//!
//! ```text
//! ResourceSpans #0
//! Resource attributes:
//!      -> service.name: Str(aureus-test)
//!      -> host.cores: Int(8)
//! InstrumentationScope aureus-observability 0.1.0
//! Span #0
//!     Trace ID       : 0af7651916cd43dd8448eb211c80319c
//!     Parent ID      :
//!     Kind           : SPAN_KIND_SERVER
//!     Status code    : STATUS_CODE_ERROR
//! LogRecord #0
//! SeverityNumber: SEVERITY_NUMBER_INFO(9)
//! Body: Str(request handled)
//! ```
//!
//! Its own log lines (`2026-…Z  INFO Starting Rotel. …`, `ERROR Failed to
//! decode …`) go to the same stream and are skipped by the parser. Things to
//! know:
//!
//! * Resource attributes are printed for every `Resource…` block, so each
//!   parsed span/log/metric carries its resource. Headers of empty sections
//!   (`Attributes:`, `Events:`, `Resource attributes:`) are left out.
//! * Values are printed raw: `Str(a "b": c)` is not escaped, a string with a
//!   newline spans several lines (the parser joins them), `Slice(…)`,
//!   `Map(k:Str(v))`, `Bytes([104, 105])` and `Empty` become
//!   [`AttrValue::Other`].
//! * Ids are lowercase hex, an absent id is printed as an empty string.
//!   Timestamps are Unix nanoseconds, `0` when unset.
//! * A span without a status prints no status lines (parsed as `"Unset"`),
//!   a log record whose severity number is not a known enum value prints no
//!   `SeverityNumber:` line (parsed as 0).
//! * Number points print `Value: 7` for ints and doubles alike. Histograms
//!   print `Count`, `Sum`, `Min`, `Max`, `ExplicitBounds #i: b` and
//!   `Buckets #i, Count: n`.
//! * **OTLP/HTTP with JSON bodies loses data in this rotel version**: an
//!   `asInt` number point encoded as a JSON string (`"asInt": "7"`, what the
//!   OTLP/JSON spec and `opentelemetry-otlp`'s `http-json` send) arrives
//!   without a value (no `Value:` line), and a histogram whose `count` /
//!   `bucketCounts` are strings arrives as `DataType: Empty` with no points.
//!   Protobuf over gRPC or HTTP arrives intact; so does JSON with
//!   `asDouble` values.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::http::free_loopback_port;

/// What to run when the collector binary is missing.
const INSTALL_HINT: &str = "run scripts/install-peers.sh";

/// Upper bound for `rotel-agent` to accept TCP connections on both ports.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Interval between two polls of [`Rotel::wait_for`].
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How many output lines a failure message quotes.
const TAIL_LINES: usize = 60;

/// Attempts of [`Rotel::try_start`] with fresh ports after losing a race for
/// a free port.
const START_ATTEMPTS: usize = 3;

/// How long [`Rotel::kill`] waits for the output reader threads to drain the
/// pipes after the process is gone.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// binary
// ---------------------------------------------------------------------------

/// The `rotel-agent` binary: `$ROTEL_AGENT` when set (and non-empty), else
/// `<repo>/target/peers/bin/rotel-agent` (the link made by
/// `scripts/install-peers.sh`). `Err` with the install hint when that file
/// does not exist.
pub fn rotel_binary() -> Result<PathBuf, String> {
    let (path, origin) = match std::env::var_os("ROTEL_AGENT").filter(|v| !v.is_empty()) {
        Some(path) => (PathBuf::from(path), "from $ROTEL_AGENT"),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/bin/rotel-agent"),
            "the default location",
        ),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "rotel-agent not found at {} ({origin}); {INSTALL_HINT}",
            path.display()
        ))
    }
}

// ---------------------------------------------------------------------------
// collector process
// ---------------------------------------------------------------------------

/// A running `rotel-agent` listening for OTLP on `127.0.0.1`: gRPC on
/// [`grpc_port`](Self::grpc_port), HTTP on [`http_port`](Self::http_port).
/// It exports to a black hole and prints everything it receives (traces,
/// logs, metrics; detailed) to stdout, which a reader thread collects
/// together with stderr; [`received`](Self::received) parses it. (Started
/// with [`start_forwarding`](Self::start_forwarding) it prints only its own
/// log lines and forwards what it receives instead.)
///
/// It runs in the foreground in a temporary directory (which also gets the
/// pid and log file paths it is given, though it writes neither in the
/// foreground), without color (`NO_COLOR=1`) and without any inherited
/// `ROTEL_*` or `RUST_LOG` variables. Dropping it kills the process (SIGKILL)
/// and waits for it.
pub struct Rotel {
    child: Mutex<Child>,
    grpc_port: u16,
    http_port: u16,
    output: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
    killed: bool,
    dir: tempfile::TempDir,
}

/// Why one launch failed; `addr_in_use` when rotel could not bind a port.
struct LaunchError {
    addr_in_use: bool,
    message: String,
}

impl Rotel {
    /// Starts rotel on two free loopback ports and waits (≤ 20 s) until both
    /// accept TCP connections. Panics (with the install hint when the binary
    /// is missing, with rotel's output when it fails) — see
    /// [`try_start`](Self::try_start) for a `Result`.
    pub fn start() -> Rotel {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start`](Self::start) on fixed ports, e.g. to restart the collector
    /// where a killed one was. A port still held by someone else is retried
    /// until the 20 s bound.
    pub fn start_on(grpc_port: u16, http_port: u16) -> Rotel {
        Self::try_start_on(grpc_port, http_port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts rotel on two free loopback ports as a forwarding collector:
    /// it prints nothing of what it receives and exports all of it over
    /// OTLP/gRPC (uncompressed) to `to` (`http://127.0.0.1:PORT`, e.g. an
    /// `OtlpReceiver` that counts it). For runs too large to parse from the
    /// debug printout. Panics like [`start`](Self::start).
    pub fn start_forwarding(to: &str) -> Rotel {
        Self::try_start_with(Some(to)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start_forwarding`](Self::start_forwarding) on fixed ports, e.g. to
    /// restart the collector where a killed one was.
    pub fn start_forwarding_on(grpc_port: u16, http_port: u16, to: &str) -> Rotel {
        Self::try_start_on_with(grpc_port, http_port, Some(to)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start`](Self::start) as a `Result`. A lost race for a free port is
    /// retried with new ports (3 attempts in all).
    pub fn try_start() -> Result<Rotel, String> {
        Self::try_start_with(None)
    }

    fn try_start_with(forward: Option<&str>) -> Result<Rotel, String> {
        let bin = rotel_binary()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::new();
        for _attempt in 0..START_ATTEMPTS {
            let grpc_port = free_loopback_port()?;
            let mut http_port = free_loopback_port()?;
            while http_port == grpc_port {
                http_port = free_loopback_port()?;
            }
            match Self::launch(&bin, grpc_port, http_port, forward, deadline) {
                Ok(rotel) => return Ok(rotel),
                Err(e) if e.addr_in_use => last = e.message,
                Err(e) => return Err(e.message),
            }
        }
        Err(last)
    }

    /// [`start_on`](Self::start_on) as a `Result`.
    pub fn try_start_on(grpc_port: u16, http_port: u16) -> Result<Rotel, String> {
        Self::try_start_on_with(grpc_port, http_port, None)
    }

    fn try_start_on_with(grpc_port: u16, http_port: u16, forward: Option<&str>) -> Result<Rotel, String> {
        let bin = rotel_binary()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match Self::launch(&bin, grpc_port, http_port, forward, deadline) {
                Ok(rotel) => return Ok(rotel),
                Err(e) if e.addr_in_use && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e.message),
            }
        }
    }

    fn launch(
        bin: &Path,
        grpc_port: u16,
        http_port: u16,
        forward: Option<&str>,
        deadline: Instant,
    ) -> Result<Rotel, LaunchError> {
        let fail = |message: String| LaunchError {
            addr_in_use: false,
            message,
        };
        let dir = tempfile::Builder::new()
            .prefix("aureus-rotel-")
            .tempdir()
            .map_err(|e| fail(format!("creating a temp dir for rotel: {e}")))?;
        let args = match forward {
            Some(to) => forwarding_args(grpc_port, http_port, to),
            None => rotel_args(grpc_port, http_port),
        };
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg("--pid-file")
            .arg(dir.path().join("rotel-agent.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel-agent.log"))
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // ROTEL_EXPORTER, ROTEL_DEBUG_LOG, … would silently change the setup.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ROTEL_") {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}; {INSTALL_HINT}", bin.display())))?;
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(capture_lines(stdout, Arc::clone(&output)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(capture_lines(stderr, Arc::clone(&output)));
        }
        // From here on, Drop kills whatever goes wrong.
        let mut rotel = Rotel {
            child: Mutex::new(child),
            grpc_port,
            http_port,
            output,
            readers,
            killed: false,
            dir,
        };
        rotel.wait_ready(deadline)?;
        Ok(rotel)
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<(), LaunchError> {
        loop {
            let exited = self.exit_status();
            if let Some(status) = exited {
                self.drain_readers();
                let output = self.output();
                return Err(LaunchError {
                    addr_in_use: output.to_ascii_lowercase().contains("address already in use"),
                    message: format!(
                        "rotel-agent (gRPC 127.0.0.1:{}, HTTP 127.0.0.1:{}) exited during startup ({status}); output:\n{}",
                        self.grpc_port,
                        self.http_port,
                        tail(&output, TAIL_LINES)
                    ),
                });
            }
            if accepts(self.grpc_port) && accepts(self.http_port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LaunchError {
                    addr_in_use: false,
                    message: format!(
                        "rotel-agent did not accept connections on 127.0.0.1:{} and 127.0.0.1:{} within {READY_TIMEOUT:?}; output:\n{}",
                        self.grpc_port,
                        self.http_port,
                        tail(&self.output(), TAIL_LINES)
                    ),
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The OTLP/gRPC endpoint, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The OTLP/HTTP base endpoint, `http://127.0.0.1:PORT` (rotel serves
    /// `/v1/traces`, `/v1/logs` and `/v1/metrics` under it).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn grpc_port(&self) -> u16 {
        self.grpc_port
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The process id (of a process that may have exited).
    pub fn pid(&self) -> u32 {
        lock(&self.child).id()
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        // An error from try_wait means there is no child to wait for.
        lock(&self.child).try_wait().unwrap_or(None)
    }

    /// Everything rotel printed so far (stdout and stderr, whole lines, in
    /// the order they were read).
    pub fn output(&self) -> String {
        lock(&self.output).clone()
    }

    /// The length of [`output`](Self::output) now: pass it to
    /// [`received_since`](Self::received_since) to look only at what arrives
    /// later. (It is always at a line boundary.)
    pub fn mark(&self) -> usize {
        lock(&self.output).len()
    }

    /// Everything received so far, parsed from [`output`](Self::output).
    pub fn received(&self) -> Received {
        Received::parse(&lock(&self.output))
    }

    /// What was printed after [`mark`](Self::mark) returned `mark`, parsed.
    pub fn received_since(&self, mark: usize) -> Received {
        let output = lock(&self.output);
        Received::parse(output.get(mark..).unwrap_or_default())
    }

    /// Polls [`received`](Self::received) every 100 ms until `done` holds for
    /// it, and returns it. Panics after `timeout`, naming `what` and quoting
    /// the last lines of rotel's output.
    pub fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&Received) -> bool) -> Received {
        self.try_wait_for(what, timeout, done).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`wait_for`](Self::wait_for) as a `Result`.
    pub fn try_wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Received) -> bool,
    ) -> Result<Received, String> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return Ok(received);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                let state = match self.exit_status() {
                    Some(status) => format!("rotel-agent has exited ({status})"),
                    None => "rotel-agent is running".to_string(),
                };
                return Err(format!(
                    "rotel: {what}: not received within {timeout:?} ({state}; parsed so far: {} spans, {} log records, {} metrics); last lines of its output:\n{}",
                    received.spans.len(),
                    received.logs.len(),
                    received.metrics.len(),
                    tail(&self.output(), TAIL_LINES)
                ));
            }
            thread::sleep(POLL_INTERVAL.min(timeout - elapsed));
        }
    }

    /// Kills the process (SIGKILL), waits for it and for its output to be
    /// read to the end (≤ 2 s). The output stays readable. A second call
    /// does nothing.
    pub fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        {
            let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
            let _ = child.kill();
            let _ = child.wait();
        }
        self.drain_readers();
    }

    /// Joins the reader threads once they are done (the pipes reach EOF when
    /// the process is gone); gives up on them after 2 s.
    fn drain_readers(&mut self) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        for reader in std::mem::take(&mut self.readers) {
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        self.kill();
    }
}

impl fmt::Debug for Rotel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotel")
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// The `rotel-agent` arguments for a foreground collector on the two ports
/// that prints everything it receives and exports nowhere.
pub fn rotel_args(grpc_port: u16, http_port: u16) -> Vec<String> {
    [
        "start",
        "--otlp-grpc-endpoint",
        &format!("127.0.0.1:{grpc_port}"),
        "--otlp-http-endpoint",
        &format!("127.0.0.1:{http_port}"),
        "--exporter",
        "blackhole",
        "--debug-log",
        "traces",
        "--debug-log",
        "logs",
        "--debug-log",
        "metrics",
        "--debug-log-verbosity",
        "detailed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The `rotel-agent` arguments for a foreground collector on the two ports
/// that forwards everything it receives to `to` over OTLP/gRPC, uncompressed,
/// waiting up to 120 s for each answer.
pub fn forwarding_args(grpc_port: u16, http_port: u16, to: &str) -> Vec<String> {
    [
        "start",
        "--otlp-grpc-endpoint",
        &format!("127.0.0.1:{grpc_port}"),
        "--otlp-http-endpoint",
        &format!("127.0.0.1:{http_port}"),
        "--exporter",
        "otlp",
        "--otlp-exporter-endpoint",
        to,
        "--otlp-exporter-protocol",
        "grpc",
        "--otlp-exporter-compression",
        "none",
        // A receiver slowed down by a busy machine must not make rotel
        // resend (and so duplicate) a batch it already delivered.
        "--otlp-exporter-request-timeout",
        "120s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(250)).is_ok()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends whole lines read from `r` to `out` (lossy UTF-8; a last line
/// without a newline gets one) until EOF.
fn capture_lines<R: Read + Send + 'static>(r: R, out: Arc<Mutex<String>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let mut out = lock(&out);
                    out.push_str(&text);
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
        }
    })
}

/// The last `n` lines of `text`, or a note that it is empty.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    if tail.trim().is_empty() {
        "(no output)".to_string()
    } else {
        tail
    }
}

// ---------------------------------------------------------------------------
// parsed data
// ---------------------------------------------------------------------------

/// Attributes by key, as printed (a repeated key keeps its last value).
pub type Attrs = BTreeMap<String, AttrValue>;

/// One attribute value as rotel prints it: `Str(v)`, `Int(5)`, `Double(1.5)`,
/// `Bool(true)`; anything else (`Slice(…)`, `Map(…)`, `Bytes(…)`, `Empty`)
/// is kept verbatim as `Other`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Other(String),
}

impl AttrValue {
    /// Parses a printed value (`Str(a b)`, `Int(-3)`, …). A `Str(` without
    /// its closing parenthesis (a cut-off line) keeps what is there.
    pub fn parse(printed: &str) -> AttrValue {
        fn inner<'a>(printed: &'a str, tag: &str) -> Option<&'a str> {
            let rest = printed.strip_prefix(tag)?.strip_prefix('(')?;
            Some(rest.strip_suffix(')').unwrap_or(rest))
        }
        if let Some(s) = inner(printed, "Str") {
            return AttrValue::Str(s.to_string());
        }
        let typed = if let Some(n) = inner(printed, "Int") {
            n.parse().ok().map(AttrValue::Int)
        } else if let Some(x) = inner(printed, "Double") {
            x.parse().ok().map(AttrValue::Double)
        } else if let Some(b) = inner(printed, "Bool") {
            b.parse().ok().map(AttrValue::Bool)
        } else {
            None
        };
        typed.unwrap_or_else(|| AttrValue::Other(printed.to_string()))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A `Double`, or an `Int` converted.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Double(x) => Some(*x),
            AttrValue::Int(n) => Some(*n as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// The bare value: `v` for `Str(v)`, `5` for `Int(5)`, the printed text for
/// `Other`.
impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) | AttrValue::Other(s) => f.write_str(s),
            AttrValue::Int(n) => write!(f, "{n}"),
            AttrValue::Double(x) => write!(f, "{x}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl PartialEq<&str> for AttrValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<i64> for AttrValue {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

impl PartialEq<f64> for AttrValue {
    fn eq(&self, other: &f64) -> bool {
        matches!(self, AttrValue::Double(x) if x == other)
    }
}

impl PartialEq<bool> for AttrValue {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

/// One span. Enumerations are shortened: `kind` is `Internal`, `Server`,
/// `Client`, `Producer`, `Consumer` or `Unspecified` (rotel prints
/// `SPAN_KIND_SERVER`); `status_code` is `Unset`, `Ok` or `Error` (`Unset`
/// also when rotel printed no status).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    pub resource: Attrs,
    /// Instrumentation scope name.
    pub scope: String,
    pub scope_version: String,
    pub name: String,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_id: String,
    pub kind: String,
    /// Unix nanoseconds, as printed.
    pub start_time: String,
    pub end_time: String,
    pub status_code: String,
    pub status_message: String,
    pub attributes: Attrs,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    /// Unix nanoseconds, as printed.
    pub timestamp: String,
    pub attributes: Attrs,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
    pub attributes: Attrs,
}

/// One log record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRecord {
    pub resource: Attrs,
    pub scope: String,
    pub scope_version: String,
    /// 9 for `SEVERITY_NUMBER_INFO(9)`; 0 when rotel printed none.
    pub severity_number: i64,
    pub severity_text: String,
    /// The body as text: the string of a `Str(…)` body, `""` for an empty
    /// body, the printed form otherwise (`Map(msg:Str(x), n:Int(1))`).
    pub body: String,
    /// The body as a value (`Other("Empty")` when there is none).
    pub body_value: AttrValue,
    /// Empty when the record has no trace context.
    pub trace_id: String,
    pub span_id: String,
    pub event_name: String,
    pub attributes: Attrs,
    /// Unix nanoseconds, as printed; `"0"` when unset.
    pub timestamp: String,
    pub observed_timestamp: String,
}

impl Default for AttrValue {
    fn default() -> Self {
        AttrValue::Other("Empty".to_string())
    }
}

/// One metric of one export. `data_type` is `Sum`, `Gauge`, `Histogram`,
/// `ExponentialHistogram`, `Summary` or `Empty` (data rotel could not
/// decode); `temporality` is `Cumulative`, `Delta`, `Unspecified` or `""`
/// for gauges (rotel prints `AGGREGATION_TEMPORALITY_CUMULATIVE`);
/// `is_monotonic` is only known for sums.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metric {
    pub resource: Attrs,
    pub scope: String,
    pub scope_version: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub data_type: String,
    pub is_monotonic: Option<bool>,
    pub temporality: String,
    pub points: Vec<Point>,
}

/// One data point: `value` for sums and gauges (`None` when rotel printed
/// none — see the module docs on OTLP/JSON); `count`, `sum`, `min`, `max`,
/// `bounds` and `bucket_counts` for histograms (`count`/`sum` also for
/// summaries).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    pub attributes: Attrs,
    /// Unix nanoseconds, as printed.
    pub start_timestamp: String,
    pub timestamp: String,
    pub value: Option<f64>,
    pub count: Option<u64>,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
}

impl Metric {
    /// The first point whose attribute `key` is the string `value`.
    pub fn point(&self, key: &str, value: &str) -> Option<&Point> {
        self.points
            .iter()
            .find(|p| p.attributes.get(key).and_then(AttrValue::as_str) == Some(value))
    }
}

/// Everything parsed from rotel's output, in the order it was printed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Received {
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<Metric>,
}

impl Received {
    /// Parses rotel's detailed debug output (see the module docs). Lines it
    /// does not know (rotel's own log lines, text of newer rotel versions)
    /// are skipped.
    pub fn parse(output: &str) -> Received {
        let mut parser = Parser::default();
        for line in output.lines() {
            parser.feed(line.strip_suffix('\r').unwrap_or(line));
        }
        parser.out
    }

    /// The last occurrence of metric `name` (periodic exports repeat
    /// cumulative metrics, the last one is the newest).
    pub fn latest_metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().rev().find(|m| m.name == name)
    }

    /// Every occurrence of metric `name`, oldest first.
    pub fn metrics_named(&self, name: &str) -> Vec<&Metric> {
        self.metrics.iter().filter(|m| m.name == name).collect()
    }

    /// The first span called `name`.
    pub fn span(&self, name: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.name == name)
    }

    pub fn spans_named(&self, name: &str) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    /// Log records whose `body` contains `needle`.
    pub fn logs_containing(&self, needle: &str) -> Vec<&LogRecord> {
        self.logs.iter().filter(|l| l.body.contains(needle)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty() && self.metrics.is_empty()
    }
}

// ---------------------------------------------------------------------------
// parser
// ---------------------------------------------------------------------------

/// Keys of `Key: value` lines at column 0.
const FIELDS: &[&str] = &[
    "Start time",
    "End time",
    "ObservedTimestamp",
    "Timestamp",
    "SeverityText",
    "SeverityNumber",
    "EventName",
    "Body",
    "Flags",
    "StartTimestamp",
    "Value",
    "Count",
    "Sum",
    "Min",
    "Max",
];

/// Keys of `    Key     : value` lines (indented, padded).
const INDENTED_FIELDS: &[&str] = &[
    "Trace ID",
    "Parent ID",
    "ID",
    "Name",
    "Kind",
    "Status code",
    "Status message",
    "Span ID",
];

/// Type tags of printed attribute values.
const VALUE_TAGS: &[&str] = &["Str(", "Int(", "Double(", "Bool(", "Slice(", "Map(", "Bytes(", "Empty"];

/// One classified output line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Line<'a> {
    /// rotel's own log line: invisible to the parser's state.
    Log,
    /// A known line that carries nothing we keep.
    Skip,
    ResourceStart(Signal),
    ResourceAttrs,
    /// `ScopeSpans #0`, … (a new scope follows).
    ScopeStart,
    /// `InstrumentationScope NAME VERSION`: the text after the keyword.
    Scope(&'a str),
    ScopeAttrs,
    SpanStart,
    EventStart,
    LinkStart,
    LogStart,
    MetricStart,
    PointStart,
    /// `Attributes:` of a span or log record.
    ItemAttrs,
    PointAttrs,
    Descriptor,
    Exemplars,
    /// `-> …`: the text after the arrow.
    Arrow(&'a str),
    /// `Key: value`.
    Field(&'a str, &'a str),
    /// Anything else: continuation of a multi-line value, or unknown.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Signal {
    #[default]
    None,
    Spans,
    Logs,
    Metrics,
}

/// Where `-> key: value` lines go.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Resource,
    Span,
    Event,
    Link,
    Log,
    Point,
    Ignore,
}

/// How `-> …` lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Mode {
    #[default]
    Normal,
    Attrs(Target),
    /// `-> Name:`, `-> Unit:`, … of a metric.
    Descriptor,
    /// `-> Name:`, `-> Timestamp:` of a span event.
    Event,
    /// `-> Trace ID:`, `-> ID:` of a span link.
    Link,
    Exemplar,
}

/// A value that may continue on the next lines.
#[derive(Debug, Clone, PartialEq)]
enum Dest {
    Attr(Target, String),
    Body,
}

#[derive(Debug)]
struct Pending {
    dest: Dest,
    raw: String,
}

#[derive(Default)]
struct Parser {
    out: Received,
    signal: Signal,
    resource: Attrs,
    scope: String,
    scope_version: String,
    /// The signal whose last item (span, log record, metric) is current.
    current: Signal,
    mode: Mode,
    pending: Option<Pending>,
}

fn classify(line: &str) -> Line<'_> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() {
        return Line::Unknown;
    }
    if is_rotel_log_line(line) {
        return Line::Log;
    }
    if let Some(rest) = trimmed.strip_prefix("->") {
        return Line::Arrow(rest.trim_start());
    }
    if line.starts_with(' ') {
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim();
            if INDENTED_FIELDS.contains(&key) {
                return Line::Field(key, value.strip_prefix(' ').unwrap_or(value));
            }
        }
        return Line::Unknown;
    }
    let starts = |prefix: &str| line.starts_with(prefix);
    match line {
        "Resource attributes:" => return Line::ResourceAttrs,
        "InstrumentationScope attributes:" => return Line::ScopeAttrs,
        "Attributes:" => return Line::ItemAttrs,
        "Data point attributes:" => return Line::PointAttrs,
        "Descriptor:" => return Line::Descriptor,
        "Exemplars:" => return Line::Exemplars,
        "Events:" | "Links:" => return Line::Skip,
        _ => {}
    }
    if starts("ResourceSpans #") {
        Line::ResourceStart(Signal::Spans)
    } else if starts("ResourceLog #") || starts("ResourceLogs #") {
        Line::ResourceStart(Signal::Logs)
    } else if starts("ResourceMetrics #") {
        Line::ResourceStart(Signal::Metrics)
    } else if starts("ScopeSpans #") || starts("ScopeLogs #") || starts("ScopeMetrics #") {
        Line::ScopeStart
    } else if starts("Resource SchemaURL:") || (starts("Scope") && line.contains(" SchemaURL:")) {
        Line::Skip
    } else if let Some(rest) = line.strip_prefix("InstrumentationScope ") {
        Line::Scope(rest)
    } else if starts("Span #") {
        Line::SpanStart
    } else if starts("SpanEvent #") {
        Line::EventStart
    } else if starts("SpanLink #") {
        Line::LinkStart
    } else if starts("LogRecord #") {
        Line::LogStart
    } else if starts("Metric #") {
        Line::MetricStart
    } else if starts("NumberDataPoints #")
        || starts("HistogramDataPoints #")
        || starts("ExponentialHistogramDataPoints #")
        || starts("SummaryDataPoints #")
    {
        Line::PointStart
    } else if starts("Exemplar #") || starts("Bucket [") || starts("Bucket (") || starts("QuantileValue #") {
        Line::Skip
    } else if starts("ExplicitBounds #") || starts("Buckets #") {
        // `ExplicitBounds #0: 0.1`, `Buckets #0, Count: 1`
        match line.rsplit_once(':') {
            Some((key, value)) => Line::Field(key, value.trim()),
            None => Line::Unknown,
        }
    } else {
        match line.split_once(':') {
            Some((key, value)) if FIELDS.contains(&key) => Line::Field(key, value.strip_prefix(' ').unwrap_or(value)),
            _ => Line::Unknown,
        }
    }
}

/// rotel's own log lines: `2026-11-28T07:54:41.149641Z  INFO …`, the same
/// with ANSI colors, or `ERROR: unable to bind …`.
fn is_rotel_log_line(line: &str) -> bool {
    let b = line.as_bytes();
    let timestamp =
        b.len() > 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T';
    timestamp || line.starts_with('\u{1b}') || line.starts_with("ERROR: ") || line.starts_with("WARN: ")
}

/// Whether the printed value still misses closing parentheses (it continues
/// on the next line).
fn unbalanced(raw: &str) -> bool {
    raw.matches('(').count() > raw.matches(')').count()
}

/// Splits `key: Tag(value)`, preferring the first `": "` that is followed by
/// a value tag (keys may contain `": "`, values usually do).
fn split_attr(text: &str) -> (&str, &str) {
    let mut first = None;
    for (i, _) in text.match_indices(": ") {
        let value = &text[i + 2..];
        if VALUE_TAGS.iter().any(|t| value.starts_with(t)) {
            return (&text[..i], value);
        }
        first.get_or_insert(i);
    }
    match first {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => match text.split_once(':') {
            Some((k, v)) => (k, v.trim_start()),
            None => (text, ""),
        },
    }
}

/// `Key: value` after an arrow, for descriptor/event/link lines.
fn split_field(text: &str) -> (&str, &str) {
    match text.split_once(':') {
        Some((k, v)) => (k.trim(), v.strip_prefix(' ').unwrap_or(v)),
        None => (text.trim(), ""),
    }
}

/// `SPAN_KIND_SERVER` → `Server` (already short names stay as they are).
fn short_enum(raw: &str, prefix: &str) -> String {
    let s = raw.trim();
    let s = s.strip_prefix(prefix).unwrap_or(s);
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase(),
        None => String::new(),
    }
}

/// `SEVERITY_NUMBER_INFO(9)` or `9` → 9; 0 if there is no number.
fn severity_number(raw: &str) -> i64 {
    let raw = raw.trim();
    let inner = raw
        .rsplit_once('(')
        .map(|(_, rest)| rest.trim_end_matches(')'))
        .unwrap_or(raw);
    inner.trim().parse().unwrap_or(0)
}

impl Parser {
    fn feed(&mut self, line: &str) {
        let class = classify(line);
        if class == Line::Log {
            // Possibly written between two lines of a batch: ignore it
            // without ending the current section or a multi-line value.
            return;
        }
        if let Some(mut pending) = self.pending.take() {
            if class == Line::Unknown {
                pending.raw.push('\n');
                pending.raw.push_str(line);
                self.store(&pending.dest, &pending.raw);
                if unbalanced(&pending.raw) {
                    self.pending = Some(pending);
                }
                return;
            }
        }
        self.process(class);
    }

    fn process(&mut self, line: Line<'_>) {
        match line {
            Line::Arrow(text) => return self.arrow(text),
            Line::Log | Line::Skip | Line::Unknown => {}
            Line::ResourceStart(signal) => {
                self.signal = signal;
                self.resource.clear();
                self.scope.clear();
                self.scope_version.clear();
                self.current = Signal::None;
            }
            Line::ResourceAttrs => {
                self.mode = Mode::Attrs(Target::Resource);
                return;
            }
            Line::ScopeStart => {
                self.scope.clear();
                self.scope_version.clear();
                self.current = Signal::None;
            }
            Line::Scope(rest) => {
                let (name, version) = rest.rsplit_once(' ').unwrap_or((rest, ""));
                self.scope = name.to_string();
                self.scope_version = version.to_string();
            }
            Line::ScopeAttrs => {
                self.mode = Mode::Attrs(Target::Ignore);
                return;
            }
            Line::SpanStart => self.start_item(Signal::Spans),
            Line::LogStart => self.start_item(Signal::Logs),
            Line::MetricStart => self.start_item(Signal::Metrics),
            Line::EventStart => {
                if let Some(span) = self.span() {
                    span.events.push(SpanEvent::default());
                    self.mode = Mode::Event;
                    return;
                }
            }
            Line::LinkStart => {
                if let Some(span) = self.span() {
                    span.links.push(SpanLink::default());
                    self.mode = Mode::Link;
                    return;
                }
            }
            Line::PointStart => {
                if let Some(metric) = self.metric() {
                    metric.points.push(Point::default());
                }
            }
            Line::ItemAttrs => {
                self.mode = Mode::Attrs(match self.current {
                    Signal::Spans => Target::Span,
                    Signal::Logs => Target::Log,
                    _ => Target::Ignore,
                });
                return;
            }
            Line::PointAttrs => {
                self.mode = Mode::Attrs(Target::Point);
                return;
            }
            Line::Descriptor => {
                self.mode = Mode::Descriptor;
                return;
            }
            Line::Exemplars => {
                self.mode = Mode::Exemplar;
                return;
            }
            Line::Field(key, value) => self.field(key, value),
        }
        // A line that is not an arrow ends a run of arrow lines; exemplars
        // run until the next data point.
        if !(self.mode == Mode::Exemplar && line == Line::Skip) {
            self.mode = Mode::Normal;
        }
    }

    fn start_item(&mut self, signal: Signal) {
        if self.signal != signal {
            // An item without its `Resource…` header (output cut at a mark).
            self.current = Signal::None;
            return;
        }
        self.current = signal;
        let (resource, scope, scope_version) = (self.resource.clone(), self.scope.clone(), self.scope_version.clone());
        match signal {
            Signal::Spans => self.out.spans.push(Span {
                resource,
                scope,
                scope_version,
                status_code: "Unset".to_string(),
                ..Span::default()
            }),
            Signal::Logs => self.out.logs.push(LogRecord {
                resource,
                scope,
                scope_version,
                ..LogRecord::default()
            }),
            Signal::Metrics => self.out.metrics.push(Metric {
                resource,
                scope,
                scope_version,
                ..Metric::default()
            }),
            Signal::None => {}
        }
    }

    fn span(&mut self) -> Option<&mut Span> {
        (self.current == Signal::Spans)
            .then(|| self.out.spans.last_mut())
            .flatten()
    }

    fn log(&mut self) -> Option<&mut LogRecord> {
        (self.current == Signal::Logs)
            .then(|| self.out.logs.last_mut())
            .flatten()
    }

    fn metric(&mut self) -> Option<&mut Metric> {
        (self.current == Signal::Metrics)
            .then(|| self.out.metrics.last_mut())
            .flatten()
    }

    fn point(&mut self) -> Option<&mut Point> {
        self.metric().and_then(|m| m.points.last_mut())
    }

    fn attrs(&mut self, target: Target) -> Option<&mut Attrs> {
        match target {
            Target::Resource => Some(&mut self.resource),
            Target::Span => self.span().map(|s| &mut s.attributes),
            Target::Event => self.span().and_then(|s| s.events.last_mut()).map(|e| &mut e.attributes),
            Target::Link => self.span().and_then(|s| s.links.last_mut()).map(|l| &mut l.attributes),
            Target::Log => self.log().map(|l| &mut l.attributes),
            Target::Point => self.point().map(|p| &mut p.attributes),
            Target::Ignore => None,
        }
    }

    /// Stores a printed value; called again with more text while it
    /// continues on following lines.
    fn store(&mut self, dest: &Dest, raw: &str) {
        match dest {
            Dest::Attr(target, key) => {
                if let Some(attrs) = self.attrs(*target) {
                    attrs.insert(key.clone(), AttrValue::parse(raw));
                }
            }
            Dest::Body => {
                if let Some(log) = self.log() {
                    let value = AttrValue::parse(raw);
                    log.body = match &value {
                        AttrValue::Other(s) if s == "Empty" => String::new(),
                        other => other.to_string(),
                    };
                    log.body_value = value;
                }
            }
        }
    }

    /// Stores a value that may continue on the next lines.
    fn store_multiline(&mut self, dest: Dest, raw: &str) {
        self.store(&dest, raw);
        if unbalanced(raw) {
            self.pending = Some(Pending {
                dest,
                raw: raw.to_string(),
            });
        }
    }

    fn arrow(&mut self, text: &str) {
        if text == "Attributes::" || text == "Attributes:" {
            self.mode = Mode::Attrs(match self.mode {
                Mode::Event | Mode::Attrs(Target::Event) => Target::Event,
                Mode::Link | Mode::Attrs(Target::Link) => Target::Link,
                _ => Target::Ignore,
            });
            return;
        }
        if text.starts_with("FilteredAttributes") {
            self.mode = Mode::Attrs(Target::Ignore);
            return;
        }
        match self.mode {
            Mode::Attrs(target) => {
                let (key, value) = split_attr(text);
                self.store_multiline(Dest::Attr(target, key.to_string()), value);
            }
            Mode::Descriptor => {
                let (key, value) = split_field(text);
                let Some(metric) = self.metric() else { return };
                match key {
                    "Name" => metric.name = value.to_string(),
                    "Description" => metric.description = value.to_string(),
                    "Unit" => metric.unit = value.to_string(),
                    "DataType" => metric.data_type = value.trim().to_string(),
                    "IsMonotonic" => metric.is_monotonic = value.trim().parse().ok(),
                    "AggregationTemporality" => {
                        metric.temporality = short_enum(value, "AGGREGATION_TEMPORALITY_");
                    }
                    _ => {}
                }
            }
            Mode::Event => {
                let (key, value) = split_field(text);
                let Some(event) = self.span().and_then(|s| s.events.last_mut()) else {
                    return;
                };
                match key {
                    "Name" => event.name = value.to_string(),
                    "Timestamp" => event.timestamp = value.trim().to_string(),
                    _ => {}
                }
            }
            Mode::Link => {
                let (key, value) = split_field(text);
                let Some(link) = self.span().and_then(|s| s.links.last_mut()) else {
                    return;
                };
                match key {
                    "Trace ID" => link.trace_id = value.trim().to_string(),
                    "ID" => link.span_id = value.trim().to_string(),
                    _ => {}
                }
            }
            Mode::Normal | Mode::Exemplar => {}
        }
    }

    fn field(&mut self, key: &str, value: &str) {
        let owned = || value.trim().to_string();
        let number = || value.trim().parse::<f64>().ok();
        if key == "Body" {
            return self.store_multiline(Dest::Body, value);
        }
        if let Some(span) = self.span() {
            match key {
                "Trace ID" => span.trace_id = owned(),
                "Parent ID" => span.parent_id = owned(),
                "ID" => span.span_id = owned(),
                "Name" => span.name = value.to_string(),
                "Kind" => span.kind = short_enum(value, "SPAN_KIND_"),
                "Status code" => span.status_code = short_enum(value, "STATUS_CODE_"),
                "Status message" => span.status_message = value.to_string(),
                "Start time" => span.start_time = owned(),
                "End time" => span.end_time = owned(),
                _ => {}
            }
        } else if let Some(log) = self.log() {
            match key {
                "Trace ID" => log.trace_id = owned(),
                "Span ID" => log.span_id = owned(),
                "ObservedTimestamp" => log.observed_timestamp = owned(),
                "Timestamp" => log.timestamp = owned(),
                "SeverityText" => log.severity_text = value.to_string(),
                "SeverityNumber" => log.severity_number = severity_number(value),
                "EventName" => log.event_name = value.to_string(),
                _ => {}
            }
        } else if let Some(point) = self.point() {
            match key {
                "StartTimestamp" => point.start_timestamp = owned(),
                "Timestamp" => point.timestamp = owned(),
                "Value" => point.value = number(),
                "Count" => point.count = value.trim().parse().ok(),
                "Sum" => point.sum = number(),
                "Min" => point.min = number(),
                "Max" => point.max = number(),
                _ if key.starts_with("ExplicitBounds #") => point.bounds.extend(number()),
                _ if key.starts_with("Buckets #") => point.bucket_counts.extend(value.trim().parse::<u64>().ok()),
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    //! `tests/fixtures/rotel-debug-output.txt` is real stdout+stderr of
    //! `rotel-agent start <rotel_args(..)>` (rotel 0.0.1-alpha10, colors on),
    //! after, in this order:
    //!
    //! 1. a trace request over OTLP/HTTP protobuf: resource `aureus-test`
    //!    (Str/Int/Double/Bool/Slice/Map/Bytes attributes) with `parent-op`
    //!    (server, error status, 2 events) and its child `child-op` (client,
    //!    ok, a link), plus resource `second-service` with the status-less
    //!    span `lonely` in a scope that has attributes;
    //! 2. 5 log records over OTLP/HTTP protobuf (severities 9/13/17/5/21, a
    //!    two-line body, a map body, no body);
    //! 3. metrics over OTLP/HTTP protobuf: `requests_total` (cumulative
    //!    monotonic int sum, 2 points, an exemplar), `request_duration`
    //!    (histogram), `queue_depth` (delta non-monotonic double sum),
    //!    `temperature` (gauge, a double and an int point);
    //! 4. a garbage protobuf and a truncated JSON trace request (rotel logs
    //!    two ERROR lines);
    //! 5. metrics over OTLP/HTTP **JSON** with int64s as strings (resource
    //!    `otlp-json-client`), where rotel drops the int value and the
    //!    histogram;
    //! 6. `requests_total` and `request_duration` again over gRPC with newer
    //!    cumulative values;
    //! 7. the opentelemetry 0.33.1 Rust SDK exporting over gRPC (resource
    //!    `sdk-service`): spans `sdk-child` and `sdk-parent`, one log record,
    //!    a u64 counter, a histogram, an up-down counter and a gauge.
    use super::*;

    const FIXTURE: &str = include_str!("../fixtures/rotel-debug-output.txt");

    fn fixture() -> Received {
        Received::parse(FIXTURE)
    }

    fn attrs(pairs: &[(&str, AttrValue)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::Str(v.to_string())
    }

    #[test]
    fn counts_and_order() {
        let r = fixture();
        let names: Vec<&str> = r.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["parent-op", "child-op", "lonely", "sdk-child", "sdk-parent"]);
        assert_eq!(r.logs.len(), 6);
        let metrics: Vec<&str> = r.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            metrics,
            [
                "requests_total",
                "request_duration",
                "queue_depth",
                "temperature",
                "json_int_counter",
                "json_double_counter",
                "json_histogram",
                "requests_total",
                "request_duration",
                "sdk_requests",
                "sdk_latency",
                "sdk_inflight",
                "sdk_temp",
            ]
        );
    }

    #[test]
    fn span_fields() {
        let r = fixture();
        let parent = r.span("parent-op").unwrap();
        assert_eq!(
            parent.resource,
            attrs(&[
                ("service.name", s("aureus-test")),
                ("service.instance.id", s("inst-1")),
                ("host.cores", AttrValue::Int(8)),
                ("sample.ratio", AttrValue::Double(0.25)),
                ("feature.enabled", AttrValue::Bool(true)),
                ("tags", AttrValue::Other("Slice(Str(a), Int(2))".into())),
                ("nested", AttrValue::Other("Map(k:Str(v))".into())),
                ("blob", AttrValue::Other("Bytes([104, 101, 108, 108, 111])".into())),
            ])
        );
        assert_eq!(
            (parent.scope.as_str(), parent.scope_version.as_str()),
            ("aureus-observability", "0.1.0")
        );
        assert_eq!(parent.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(parent.span_id, "b7ad6b7169203331");
        assert_eq!(parent.parent_id, "");
        assert_eq!(parent.kind, "Server");
        assert_eq!(parent.start_time, "1700000000000000000");
        assert_eq!(parent.end_time, "1700000001000000000");
        assert_eq!(parent.status_code, "Error");
        assert_eq!(parent.status_message, "boom: it failed");
        assert_eq!(
            parent.attributes,
            attrs(&[
                ("http.method", s("GET")),
                ("http.status_code", AttrValue::Int(500)),
                ("retry", AttrValue::Bool(false)),
                ("latency", AttrValue::Double(12.5)),
            ])
        );
        assert_eq!(
            parent.events,
            [
                SpanEvent {
                    name: "exception".into(),
                    timestamp: "1700000000500000000".into(),
                    attributes: attrs(&[
                        ("exception.type", s("IoError")),
                        ("exception.message", s("disk \"full\": no space")),
                        ("attempt", AttrValue::Int(3)),
                    ]),
                },
                SpanEvent {
                    name: "plain-event".into(),
                    timestamp: "1700000000600000000".into(),
                    attributes: Attrs::new(),
                },
            ]
        );
        assert!(parent.links.is_empty());

        let child = r.span("child-op").unwrap();
        assert_eq!(child.resource, parent.resource);
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.parent_id, parent.span_id);
        assert_eq!(child.span_id, "00f067aa0ba902b7");
        assert_eq!(child.kind, "Client");
        assert_eq!((child.status_code.as_str(), child.status_message.as_str()), ("Ok", ""));
        assert_eq!(child.attributes, attrs(&[("db.system", s("sqlite"))]));
        assert!(child.events.is_empty());
        assert_eq!(
            child.links,
            [SpanLink {
                trace_id: "5b8efff798038103d269b633813fc60c".into(),
                span_id: "eee19b7ec3c1b174".into(),
                attributes: attrs(&[("link.kind", s("follows"))]),
            }]
        );

        // Second resource block, scope with attributes (not mixed into the
        // resource or the span), no status printed at all.
        let lonely = r.span("lonely").unwrap();
        assert_eq!(lonely.resource, attrs(&[("service.name", s("second-service"))]));
        assert_eq!(
            (lonely.scope.as_str(), lonely.scope_version.as_str()),
            ("other-scope", "")
        );
        assert_eq!(lonely.trace_id, "11111111111111111111111111111111");
        assert_eq!(lonely.span_id, "2222222222222222");
        assert_eq!(lonely.kind, "Internal");
        assert_eq!(
            (lonely.status_code.as_str(), lonely.status_message.as_str()),
            ("Unset", "")
        );
        assert!(lonely.attributes.is_empty());
    }

    #[test]
    fn sdk_spans_and_their_log() {
        let r = fixture();
        let child = r.span("sdk-child").unwrap();
        let parent = r.span("sdk-parent").unwrap();
        assert_eq!(child.resource["service.name"], "sdk-service");
        assert_eq!(child.resource["telemetry.sdk.language"], "rust");
        assert_eq!(child.resource["node.index"], 3);
        assert_eq!(child.scope, "sdk-scope");
        assert_eq!(child.trace_id.len(), 32);
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.parent_id, parent.span_id);
        assert_eq!(parent.parent_id, "");
        assert_eq!(
            (child.status_code.as_str(), child.status_message.as_str()),
            ("Error", "child failed")
        );
        assert_eq!(parent.status_code, "Unset");
        assert_eq!(parent.attributes["kernel.op"], "boot");
        assert_eq!(parent.events.len(), 1);
        assert_eq!(parent.events[0].name, "checkpoint");
        assert_eq!(parent.events[0].attributes["step"], 2);
        assert_eq!(parent.events[0].attributes["ok"], true);

        let log = r.logs_containing("sdk log body");
        assert_eq!(log.len(), 1);
        let log = log[0];
        assert_eq!(log.scope, "sdk-logger");
        assert_eq!(log.resource, child.resource);
        assert_eq!((log.severity_number, log.severity_text.as_str()), (13, "WARN"));
        assert_eq!(
            (log.trace_id.as_str(), log.span_id.as_str()),
            (child.trace_id.as_str(), child.span_id.as_str())
        );
        assert_eq!(log.timestamp, "0");
        assert_ne!(log.observed_timestamp, "0");
        assert_eq!(log.attributes["attempt"], 4);
        assert_eq!(log.attributes["ratio"], 0.75);
    }

    #[test]
    fn log_fields() {
        let r = fixture();
        let resource = attrs(&[
            ("service.name", s("aureus-test")),
            ("host.cores", AttrValue::Int(8)),
            ("sample.ratio", AttrValue::Double(0.25)),
            ("feature.enabled", AttrValue::Bool(true)),
        ]);
        let info = &r.logs[0];
        assert_eq!(info.resource, resource);
        assert_eq!(
            (info.scope.as_str(), info.scope_version.as_str()),
            ("aureus-observability", "0.1.0")
        );
        assert_eq!((info.severity_number, info.severity_text.as_str()), (9, "INFO"));
        assert_eq!(info.body, "request handled: path=/a b");
        assert_eq!(info.body_value, s("request handled: path=/a b"));
        assert_eq!(info.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(info.span_id, "b7ad6b7169203331");
        assert_eq!(info.timestamp, "1700000000000000000");
        assert_eq!(info.observed_timestamp, "1700000000000000123");
        assert_eq!(info.event_name, "");
        assert_eq!(
            info.attributes,
            attrs(&[
                ("user.id", AttrValue::Int(42)),
                ("ok", AttrValue::Bool(true)),
                ("ratio", AttrValue::Double(0.5)),
                ("route", s("/api/v1")),
            ])
        );

        let warn = &r.logs[1];
        assert_eq!(warn.resource, resource);
        assert_eq!(
            (warn.severity_number, warn.severity_text.as_str(), warn.body.as_str()),
            (13, "WARN", "slow disk")
        );
        assert_eq!((warn.trace_id.as_str(), warn.span_id.as_str()), ("", ""));
        assert!(warn.attributes.is_empty());

        // A body with a newline is printed over two lines.
        let error = &r.logs[2];
        assert_eq!((error.severity_number, error.severity_text.as_str()), (17, "ERROR"));
        assert_eq!(error.body, "line one\nline two");
        assert_eq!(error.span_id, "00f067aa0ba902b7");
        assert_eq!(error.timestamp, "0");
        assert_eq!(error.observed_timestamp, "1700000000300000000");
        assert_eq!(error.attributes, attrs(&[("error.kind", s("io"))]));

        let map = &r.logs[3];
        assert_eq!((map.severity_number, map.severity_text.as_str()), (5, ""));
        assert_eq!(map.body, "Map(msg:Str(structured), n:Int(1))");
        assert_eq!(map.observed_timestamp, "0");

        let empty = &r.logs[4];
        assert_eq!((empty.severity_number, empty.severity_text.as_str()), (21, "FATAL"));
        assert_eq!(empty.body, "");
        assert_eq!(empty.body_value, AttrValue::Other("Empty".into()));
    }

    #[test]
    fn metric_fields() {
        let r = fixture();
        let resource = attrs(&[("service.name", s("aureus-test")), ("host.cores", AttrValue::Int(8))]);

        let total = &r.metrics[0];
        assert_eq!(total.resource, resource);
        assert_eq!(
            (total.scope.as_str(), total.scope_version.as_str()),
            ("aureus-observability", "0.1.0")
        );
        assert_eq!(
            (total.name.as_str(), total.description.as_str(), total.unit.as_str()),
            ("requests_total", "Total requests", "1")
        );
        assert_eq!(
            (total.data_type.as_str(), total.is_monotonic, total.temporality.as_str()),
            ("Sum", Some(true), "Cumulative")
        );
        assert_eq!(total.points.len(), 2);
        let a = total.point("route", "/a").unwrap();
        assert_eq!(
            a.attributes,
            attrs(&[("route", s("/a")), ("code", AttrValue::Int(200))])
        );
        assert_eq!(
            (a.start_timestamp.as_str(), a.timestamp.as_str()),
            ("1700000000000000000", "1700000001000000000")
        );
        assert_eq!(a.value, Some(7.0));
        assert_eq!(
            (a.count, a.sum, a.bounds.len(), a.bucket_counts.len()),
            (None, None, 0, 0)
        );
        let b = total.point("route", "/b").unwrap();
        assert_eq!(b.attributes["code"], 500);
        assert_eq!(b.value, Some(2.0));

        let hist = &r.metrics[1];
        assert_eq!(
            (hist.name.as_str(), hist.description.as_str(), hist.unit.as_str()),
            ("request_duration", "Request latency", "s")
        );
        assert_eq!(
            (hist.data_type.as_str(), hist.is_monotonic, hist.temporality.as_str()),
            ("Histogram", None, "Cumulative")
        );
        assert_eq!(
            hist.points,
            [Point {
                attributes: attrs(&[("route", s("/a"))]),
                start_timestamp: "1700000000000000000".into(),
                timestamp: "1700000001000000000".into(),
                value: None,
                count: Some(6),
                sum: Some(3.75),
                min: Some(0.05),
                max: Some(2.5),
                bounds: vec![0.1, 0.5, 1.0],
                bucket_counts: vec![1, 2, 3, 0],
            }]
        );

        let queue = &r.metrics[2];
        assert_eq!((queue.name.as_str(), queue.unit.as_str()), ("queue_depth", "{item}"));
        assert_eq!(
            (queue.data_type.as_str(), queue.is_monotonic, queue.temporality.as_str()),
            ("Sum", Some(false), "Delta")
        );
        assert_eq!(queue.points.len(), 1);
        assert!(queue.points[0].attributes.is_empty());
        assert_eq!(queue.points[0].start_timestamp, "0");
        assert_eq!(queue.points[0].value, Some(-3.5));

        let gauge = &r.metrics[3];
        assert_eq!(
            (gauge.name.as_str(), gauge.description.as_str(), gauge.unit.as_str()),
            ("temperature", "", "Cel")
        );
        assert_eq!(
            (gauge.data_type.as_str(), gauge.is_monotonic, gauge.temporality.as_str()),
            ("Gauge", None, "")
        );
        assert_eq!(gauge.point("sensor", "cpu").unwrap().value, Some(61.25));
        assert_eq!(gauge.point("sensor", "gpu").unwrap().value, Some(70.0));
    }

    #[test]
    fn otlp_json_int_values_and_histograms_are_lost_by_rotel() {
        let r = fixture();
        let int = r.latest_metric("json_int_counter").unwrap();
        assert_eq!(int.resource["service.name"], "otlp-json-client");
        assert_eq!((int.scope.as_str(), int.scope_version.as_str()), ("json-scope", "9"));
        assert_eq!(int.points.len(), 1);
        assert_eq!(int.points[0].value, None);
        assert_eq!(
            r.latest_metric("json_double_counter").unwrap().points[0].value,
            Some(7.5)
        );
        let hist = r.latest_metric("json_histogram").unwrap();
        assert_eq!(hist.data_type, "Empty");
        assert!(hist.points.is_empty());
    }

    #[test]
    fn latest_metric_is_the_last_export() {
        let r = fixture();
        assert_eq!(r.metrics_named("requests_total").len(), 2);
        let total = r.latest_metric("requests_total").unwrap();
        assert_eq!(total.point("route", "/a").unwrap().value, Some(9.0));
        assert_eq!(total.point("route", "/b").unwrap().value, Some(3.0));
        assert_eq!(total.points[0].timestamp, "1700000002000000000");
        let hist = r.latest_metric("request_duration").unwrap();
        assert_eq!((hist.points[0].count, hist.points[0].sum), (Some(8), Some(5.0)));
        assert_eq!(hist.points[0].bucket_counts, [2, 3, 3, 0]);
        assert!(r.latest_metric("nope").is_none());
    }

    #[test]
    fn sdk_metrics() {
        let r = fixture();
        let requests = r.latest_metric("sdk_requests").unwrap();
        assert_eq!(requests.resource["service.name"], "sdk-service");
        assert_eq!(requests.scope, "sdk-meter");
        assert_eq!(
            (requests.description.as_str(), requests.unit.as_str()),
            ("SDK requests", "1")
        );
        assert_eq!(
            (
                requests.data_type.as_str(),
                requests.is_monotonic,
                requests.temporality.as_str()
            ),
            ("Sum", Some(true), "Cumulative")
        );
        assert_eq!(requests.point("route", "/x").unwrap().value, Some(5.0));
        assert_eq!(requests.point("route", "/y").unwrap().value, Some(2.0));

        let latency = r.latest_metric("sdk_latency").unwrap();
        assert_eq!(latency.data_type, "Histogram");
        let p = &latency.points[0];
        assert_eq!(
            (p.count, p.sum, p.min, p.max),
            (Some(3), Some(5.55), Some(0.05), Some(5.0))
        );
        assert_eq!(
            (p.bounds.as_slice(), p.bucket_counts.as_slice()),
            (&[0.1, 1.0][..], &[1, 1, 1][..])
        );

        let inflight = r.latest_metric("sdk_inflight").unwrap();
        assert_eq!(
            (inflight.data_type.as_str(), inflight.is_monotonic),
            ("Sum", Some(false))
        );
        assert_eq!(inflight.points[0].value, Some(-2.0));

        let temp = r.latest_metric("sdk_temp").unwrap();
        assert_eq!(temp.data_type, "Gauge");
        assert_eq!(temp.point("zone", "a").unwrap().value, Some(21.5));
    }

    #[test]
    fn attr_values() {
        assert_eq!(AttrValue::parse("Str()"), s(""));
        assert_eq!(AttrValue::parse("Str(a (b) c)"), s("a (b) c"));
        assert_eq!(AttrValue::parse("Int(-42)"), AttrValue::Int(-42));
        assert_eq!(AttrValue::parse("Double(1e-7)"), AttrValue::Double(1e-7));
        assert_eq!(AttrValue::parse("Bool(false)"), AttrValue::Bool(false));
        assert_eq!(AttrValue::parse("Int(x)"), AttrValue::Other("Int(x)".into()));
        assert_eq!(AttrValue::parse("Empty"), AttrValue::Other("Empty".into()));
        assert!(AttrValue::parse("Double(NaN)").as_f64().unwrap().is_nan());

        let v = AttrValue::Int(5);
        assert_eq!(
            (v.as_i64(), v.as_f64(), v.as_str(), v.as_bool()),
            (Some(5), Some(5.0), None, None)
        );
        assert!(v == 5 && v != 5.0 && v != "5");
        assert_eq!(v.to_string(), "5");
        assert_eq!(s("x y").to_string(), "x y");
        assert_eq!(AttrValue::Double(1.5).to_string(), "1.5");
        assert_eq!(AttrValue::Bool(true).to_string(), "true");
        assert_eq!(AttrValue::Other("Map(k:Str(v))".into()).to_string(), "Map(k:Str(v))");

        assert_eq!(split_attr("a: b: Str(c: d)"), ("a: b", "Str(c: d)"));
        assert_eq!(split_attr("k: plain"), ("k", "plain"));
        assert_eq!(severity_number("SEVERITY_NUMBER_INFO(9)"), 9);
        assert_eq!(severity_number(" 17 "), 17);
        assert_eq!(severity_number("Info"), 0);
        assert_eq!(short_enum("SPAN_KIND_PRODUCER", "SPAN_KIND_"), "Producer");
        assert_eq!(short_enum("Server", "SPAN_KIND_"), "Server");
    }

    #[test]
    fn robust_to_interleaving_cuts_and_odd_values() {
        let output = "\
2026-01-01T00:00:00.000000Z  INFO Starting Rotel. grpc_endpoint=\"127.0.0.1:1\"
LogRecord #7
SeverityNumber: SEVERITY_NUMBER_INFO(9)
Body: Str(orphan: no resource header before it)
ResourceLog #0
Resource SchemaURL: \r
ScopeLogs #0
InstrumentationScope  \r
LogRecord #0
ObservedTimestamp: 1
Timestamp: 2
SeverityText: \r
EventName: my.event
Body: Str(a :-( face
more :)
(end))
Attributes:
     -> multi: Str(first
\x1b[2m2026-01-01T00:00:01Z\x1b[0m  WARN interleaved
second)
     -> next: Int(1)
     -> key: with: colons: Bool(true)
    Trace ID       : \r
    Span ID        : \r
Flags: 1
Some future line rotel may print: 42
LogRecord #1
SeverityText: X
Body: Str(unbalanced (
    Trace ID       : 0af7651916cd43dd8448eb211c80319c
";
        let r = Received::parse(output);
        assert!(r.spans.is_empty() && r.metrics.is_empty());
        assert_eq!(r.logs.len(), 2, "{:#?}", r.logs);
        let log = &r.logs[0];
        assert!(log.resource.is_empty());
        assert_eq!((log.scope.as_str(), log.scope_version.as_str()), ("", ""));
        assert_eq!((log.observed_timestamp.as_str(), log.timestamp.as_str()), ("1", "2"));
        assert_eq!((log.severity_number, log.severity_text.as_str()), (0, ""));
        assert_eq!(log.event_name, "my.event");
        assert_eq!(log.body, "a :-( face\nmore :)\n(end)");
        assert_eq!(
            log.attributes,
            attrs(&[
                ("multi", AttrValue::Str("first\nsecond".into())),
                ("next", AttrValue::Int(1)),
                ("key: with: colons", AttrValue::Bool(true)),
            ])
        );
        let second = &r.logs[1];
        assert_eq!(second.body, "unbalanced (");
        assert_eq!(second.trace_id, "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn tail_and_args() {
        assert_eq!(tail("", 3), "(no output)");
        assert_eq!(tail("a\nb\nc\nd\n", 2), "c\nd");
        let args = rotel_args(1, 2);
        assert_eq!(args[0], "start");
        assert!(args.windows(2).any(|w| w == ["--otlp-grpc-endpoint", "127.0.0.1:1"]));
        assert!(args.windows(2).any(|w| w == ["--otlp-http-endpoint", "127.0.0.1:2"]));
        assert!(args.windows(2).any(|w| w == ["--exporter", "blackhole"]));
    }
}
