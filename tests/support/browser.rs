//! Test support for a real headless Chromium: a minimal W3C WebDriver client
//! that starts its own `chromedriver` on a free loopback port and drives one
//! browser session through it.
//!
//! Use it from an integration test with
//!
//! ```ignore
//! #[path = "support/http.rs"]
//! mod http;
//! #[path = "support/browser.rs"]
//! mod browser;
//!
//! let b = browser::Browser::start()?;
//! b.goto(&format!("http://{addr}/"))?;
//! b.find("#go")?.click()?;
//! b.wait_until("document.querySelector('#out').textContent === 'done'", Duration::from_secs(5))?;
//! assert_eq!(b.find("#out")?.text()?, "done");
//! b.screenshot_png("target/shot.png")?;
//! ```
//!
//! The binaries come from Debian's `chromium` and `chromium-driver` packages
//! (`/usr/bin/chromium`, `/usr/bin/chromedriver`), installed by
//! `scripts/install-peers.sh`. A missing binary is always an `Err` (never a
//! silent pass). Every wait in this module is bounded: each WebDriver command
//! is one HTTP exchange of at most 60 s, and the session caps page loads and
//! scripts at 30 s. Only `std`, `serde_json` and `tempfile` are used; HTTP
//! goes through the shared client in `support/http.rs`, which the test crate
//! must declare as `mod http` at its root.
//!
//! Everything the browser writes (profile, `TMPDIR`, XDG config and cache
//! dirs, chromedriver's log) lives in one temporary directory; dropping the
//! [`Browser`] ends the session, kills chromedriver, ends any browser process
//! still running from that directory, and removes it.
#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{free_loopback_port, percent_encode};

/// Where Debian's `chromium-driver` puts the driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where Debian's `chromium` puts the browser (a shell wrapper that `exec`s
/// `/usr/lib/chromium/chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Command-line switches of every browser this module starts (plus a fresh
/// `--user-data-dir`). The networking switches stop Chromium from calling
/// hosts that this network refuses.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
];

/// What to run when a peer binary is missing.
const INSTALL_HINT: &str = "run scripts/install-peers.sh";

/// Upper bound for chromedriver to answer `GET /status` with `ready: true`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Upper bound for one WebDriver command (one HTTP exchange), including
/// `POST /session`, which launches the browser.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Upper bound for `DELETE /session` when the [`Browser`] is dropped.
const QUIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Upper bound for browser processes to go away after the session was deleted,
/// and again after they were sent `SIGKILL`.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The session's page-load and script timeouts, in milliseconds (WebDriver's
/// defaults are 300 s and 30 s): both well under [`HTTP_TIMEOUT`], so a
/// hanging page is a WebDriver `timeout` error, not a dead connection.
const PAGE_LOAD_TIMEOUT_MS: u64 = 30_000;
const SCRIPT_TIMEOUT_MS: u64 = 30_000;

/// Interval between two polls of [`Browser::wait_for`] and
/// [`Browser::wait_until`].
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How many log lines a start failure quotes.
const LOG_TAIL_LINES: usize = 30;

/// The JSON key of a W3C web element reference.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

// ---------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------

/// A headless Chromium session behind a `chromedriver` that this value started
/// on `127.0.0.1:<free port>`.
///
/// Dropping it deletes the session (which closes the browser), kills
/// chromedriver and waits for it, ends (`SIGKILL`) any process still running
/// with the temporary directory in its command line or environment, and
/// removes the directory.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    /// `None` until `POST /session` succeeded (and again once deleted).
    session: Option<String>,
    /// Holds `chromedriver.log`, `profile/` (`--user-data-dir`), `tmp/`,
    /// `config/` and `cache/` (the browser's `TMPDIR`, `XDG_CONFIG_HOME` and
    /// `XDG_CACHE_HOME`). Declared last: removed after `drop` ran.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts `/usr/bin/chromedriver --port=P --enable-chrome-logs` on a free
    /// loopback port (its stdout and stderr, and so the browser's stderr, go
    /// to `chromedriver.log` in a fresh temp dir), waits (≤ 30 s) until
    /// `GET /status` says ready, then creates a session (`POST /session`,
    /// ≤ 60 s) running `/usr/bin/chromium` with [`CHROMIUM_ARGS`] and
    /// `--user-data-dir=<temp dir>/profile`. Takes 1–3 s here.
    ///
    /// chromedriver is started *without* `--allowed-ips`: with that switch it
    /// listens on all interfaces (`*:P`); without it, on `127.0.0.1` and
    /// `[::1]` only, accepting local connections only.
    ///
    /// A missing binary is `Err("chromedriver not found; run
    /// scripts/install-peers.sh")` (or `chromium not found; …`). Other startup
    /// failures quote the WebDriver error and the last lines of chromedriver's
    /// log. A lost race for the free port is retried (3 attempts in all).
    pub fn start() -> Result<Self, String> {
        for (name, path) in [("chromedriver", CHROMEDRIVER), ("chromium", CHROMIUM)] {
            if !Path::new(path).is_file() {
                return Err(format!("{name} not found; {INSTALL_HINT}"));
            }
        }
        let mut last_err = String::new();
        for _attempt in 0..3 {
            match Self::start_once() {
                Ok(browser) => return Ok(browser),
                Err(e) if e.contains("Address already in use") || e.contains("port not available") => last_err = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_err)
    }

    /// One start attempt on one free port (see [`start`](Self::start)).
    fn start_once() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("aureus-browser-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir for chromium: {e}"))?;
        let [profile, tmp, config, cache] = ["profile", "tmp", "config", "cache"].map(|d| dir.path().join(d));
        for d in [&profile, &tmp, &config, &cache] {
            fs::create_dir(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        let log_path = dir.path().join("chromedriver.log");
        let stdout = fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let stderr = stdout
            .try_clone()
            .map_err(|e| format!("duplicating {}: {e}", log_path.display()))?;
        let port = free_loopback_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));

        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // The browser's stderr into our log too: without it a browser that
            // fails to start is only "Chrome instance exited".
            .arg("--enable-chrome-logs")
            // Chromium (a child of chromedriver) inherits these: with
            // --disable-dev-shm-usage its shared-memory files go to TMPDIR,
            // and its crashpad handler keeps `$XDG_CONFIG_HOME/chromium/Crash
            // Reports` (it ignores --user-data-dir), by default in ~/.config.
            .env("TMPDIR", &tmp)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_CACHE_HOME", &cache)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| spawn_error("chromedriver", &e))?;
        // From here on, Drop cleans up whatever goes wrong.
        let mut browser = Browser {
            driver,
            addr,
            session: None,
            dir,
        };
        browser.wait_ready(READY_TIMEOUT)?;
        browser.create_session(&profile)?;
        Ok(browser)
    }

    /// Polls `GET /status` every 100 ms until `value.ready` is `true`; `Err`
    /// with the log's tail if chromedriver exits or `timeout` passes.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.driver.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "chromedriver exited during startup ({status}); last log lines:\n{}",
                        self.log_tail(LOG_TAIL_LINES)
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for chromedriver: {e}")),
            }
            let poll_timeout = deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(100), Duration::from_secs(5));
            let last = match webdriver_http(self.addr, "GET", "/status", None, poll_timeout) {
                Ok((code, body)) => {
                    let body = String::from_utf8_lossy(&body).into_owned();
                    match serde_json::from_str::<Value>(&body) {
                        Ok(v) if v["value"]["ready"] == true => return Ok(()),
                        _ => format!("HTTP {code}: {}", body.trim()),
                    }
                }
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver on {} not ready within {timeout:?} (last: {last}); last log lines:\n{}",
                    self.addr,
                    self.log_tail(LOG_TAIL_LINES)
                ));
            }
            thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// `POST /session` for a headless Chromium using `profile` as its
    /// `--user-data-dir`, with page-load and script timeouts of 30 s.
    fn create_session(&mut self, profile: &Path) -> Result<(), String> {
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": {"implicit": 0, "pageLoad": PAGE_LOAD_TIMEOUT_MS, "script": SCRIPT_TIMEOUT_MS},
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
                }
            }
        });
        let v = self
            .raw_command("POST", "/session", Some(&caps), HTTP_TIMEOUT)
            .map_err(|e| {
                format!(
                    "creating a chromium session: {e}; last chromedriver log lines:\n{}",
                    self.log_tail(LOG_TAIL_LINES)
                )
            })?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("POST /session: no value.sessionId in {v}"))?;
        self.session = Some(id.to_string());
        Ok(())
    }

    // -- navigation ---------------------------------------------------------

    /// Navigates to `url` (`POST /url`) and returns once the page has loaded
    /// (`document.readyState == "complete"`, at most 30 s).
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
            .map_err(|e| format!("goto({url:?}): {e}"))
    }

    /// The URL of the current page (`GET /url`).
    pub fn current_url(&self) -> Result<String, String> {
        let v = self.cmd("GET", "/url", None)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("GET /url: value is not a string: {v}"))
    }

    /// Reloads the current page (`POST /refresh`) and waits for it to load.
    pub fn refresh(&self) -> Result<(), String> {
        self.cmd("POST", "/refresh", Some(json!({}))).map(drop)
    }

    // -- elements -----------------------------------------------------------

    /// The first element matching the CSS selector (`POST /element`); `Err`
    /// (WebDriver's `no such element`) when nothing matches. Does not wait:
    /// see [`wait_for`](Self::wait_for).
    pub fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let v = self
            .cmd("POST", "/element", Some(css_locator(css)))
            .map_err(|e| format!("find({css:?}): {e}"))?;
        self.element_from_json(&v)
    }

    /// All elements matching the CSS selector, in document order
    /// (`POST /elements`); empty when nothing matches.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>, String> {
        let v = self
            .cmd("POST", "/elements", Some(css_locator(css)))
            .map_err(|e| format!("find_all({css:?}): {e}"))?;
        self.elements_from_json(&v)
    }

    /// Polls [`find`](Self::find) every 100 ms until an element matches the
    /// CSS selector (present in the DOM; it need not be visible), and returns
    /// it. On timeout the `Err` names the last error seen.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>, String> {
        let deadline = Instant::now() + timeout;
        let mut polls = 0u32;
        loop {
            polls += 1;
            let last = match self.find(css) {
                Ok(el) => return Ok(el),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "wait_for({css:?}): no match within {timeout:?} ({polls} polls); last error: {last}"
                ));
            }
            thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// Polls the JavaScript *expression* (e.g.
    /// `document.querySelectorAll('li').length === 3`; no `return`, no
    /// trailing `;` needed) every 100 ms until it is truthy. It runs as
    /// `return !!(EXPR);` through [`execute`](Self::execute); script errors
    /// while polling (say, a `TypeError` because an element is not there yet)
    /// are retried. On timeout the `Err` names the last result or error.
    pub fn wait_until(&self, js_expression: &str, timeout: Duration) -> Result<(), String> {
        let expr = js_expression.trim().trim_end_matches(';');
        let script = format!("return !!({expr}\n);");
        let deadline = Instant::now() + timeout;
        let mut polls = 0u32;
        loop {
            polls += 1;
            let last = match self.execute(&script, vec![]) {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(v) => format!("result {v}"),
                Err(e) => format!("error: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "wait_until({expr:?}): not true within {timeout:?} ({polls} polls); last {last}"
                ));
            }
            thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    // -- scripts, screenshots, alerts ---------------------------------------

    /// Runs `script` as the body of a synchronous function in the page
    /// (`POST /execute/sync`) and returns its `return` value as JSON (`null`
    /// without `return`). `args` are its `arguments[0..]`; pass an element
    /// with [`Element::to_json`]. A returned element comes back as
    /// `{ELEMENT_KEY: id}`: see [`element_from_json`](Self::element_from_json).
    /// A thrown exception is an `Err` (`javascript error`).
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        self.cmd("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Saves a PNG of the viewport (`GET /screenshot`, base64-decoded) at
    /// `path` (its directory must exist). With the default window size the
    /// viewport is 1400×857: the window's 1000 px include browser UI.
    pub fn screenshot_png(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let v = self.cmd("GET", "/screenshot", None)?;
        let b64 = v.as_str().ok_or_else(|| {
            format!(
                "GET /screenshot: value is not a string: {}",
                truncate(&v.to_string(), 200)
            )
        })?;
        let png = base64_decode(b64).map_err(|e| format!("GET /screenshot: {e}"))?;
        if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(format!(
                "GET /screenshot: decoded {} bytes that are not a PNG",
                png.len()
            ));
        }
        fs::write(path, &png).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// The text of the open `alert`/`confirm`/`prompt` (`GET /alert/text`);
    /// `Err` (`no such alert`) when none is open.
    pub fn alert_text(&self) -> Result<String, String> {
        let v = self.cmd("GET", "/alert/text", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Accepts the open `alert`/`confirm`/`prompt` (`POST /alert/accept`);
    /// `Err` (`no such alert`) when none is open. An alert left open is
    /// dismissed by the next other command, which then fails with
    /// `unexpected alert open`.
    pub fn accept_alert(&self) -> Result<(), String> {
        self.cmd("POST", "/alert/accept", Some(json!({}))).map(drop)
    }

    /// Dismisses the open `alert`/`confirm`/`prompt` (`POST /alert/dismiss`).
    pub fn dismiss_alert(&self) -> Result<(), String> {
        self.cmd("POST", "/alert/dismiss", Some(json!({}))).map(drop)
    }

    // -- plumbing and introspection -----------------------------------------

    /// Turns a web element reference (`{ELEMENT_KEY: id}`, as returned by
    /// [`execute`](Self::execute)) into an [`Element`].
    pub fn element_from_json(&self, v: &Value) -> Result<Element<'_>, String> {
        let id = v[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("not a web element reference: {v}"))?;
        Ok(Element {
            browser: self,
            id: id.to_string(),
        })
    }

    /// Turns a JSON array of web element references into [`Element`]s.
    fn elements_from_json(&self, v: &Value) -> Result<Vec<Element<'_>>, String> {
        v.as_array()
            .ok_or_else(|| format!("expected an array of element references: {v}"))?
            .iter()
            .map(|e| self.element_from_json(e))
            .collect()
    }

    /// Sends one command of this session: `METHOD /session/{id}{suffix}`
    /// with `body` (a POST without one sends `{}`), and returns the
    /// response's `value`. For commands this module
    /// does not wrap, e.g. `cmd("GET", "/title", None)`.
    pub fn cmd(&self, method: &str, suffix: &str, body: Option<Value>) -> Result<Value, String> {
        let sid = self.session.as_deref().ok_or("no WebDriver session")?;
        self.raw_command(method, &format!("/session/{sid}{suffix}"), body.as_ref(), HTTP_TIMEOUT)
            .map_err(|e| e.replace(&format!("/session/{sid}"), "/session/{id}"))
    }

    /// One WebDriver exchange; `Ok(value)` on a 2xx answer.
    fn raw_command(&self, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Result<Value, String> {
        // chromedriver wants a JSON body on every POST.
        let body = match body {
            Some(b) => Some(b.to_string()),
            None if method == "POST" => Some("{}".to_string()),
            None => None,
        };
        let (code, bytes) = webdriver_http(self.addr, method, path, body.as_deref(), timeout)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut v: Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{method} {path}: HTTP {code}, body is not JSON ({e}): {}",
                truncate(&text, 500)
            )
        })?;
        let value = v["value"].take();
        // Errors are non-2xx answers whose value is {error, message, …}; a
        // 2xx value may itself hold an `error` key (a script's result).
        if !(200..300).contains(&code) {
            return Err(format!("{method} {path}: HTTP {code}: {}", error_json(&value)));
        }
        Ok(value)
    }

    /// chromedriver's `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebDriver session id.
    pub fn session_id(&self) -> &str {
        self.session.as_deref().unwrap_or_default()
    }

    /// chromedriver's process id (gone once the browser is dropped).
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    /// chromedriver's pid followed by the pids of every other live process
    /// whose command line or environment names this browser's temp dir (the
    /// browser, its zygotes, renderers, GPU/utility processes, crashpad).
    pub fn process_ids(&self) -> Vec<u32> {
        let mut pids = vec![self.driver.id()];
        pids.extend(
            processes_mentioning(self.dir.path())
                .into_iter()
                .filter(|&p| p != self.driver.id()),
        );
        pids
    }

    /// The temporary directory holding `chromedriver.log`, `profile/`,
    /// `tmp/`, `config/` and `cache/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// chromedriver's log so far: its stdout and stderr, which (with
    /// `--enable-chrome-logs`) include the browser's stderr — its errors and
    /// the page's `console.*` messages (`INFO:CONSOLE(…)`).
    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// The last `n` lines of the log, without the browser's D-Bus complaints
    /// (a few dozen lines per start here: there is no bus to talk to).
    fn log_tail(&self, n: usize) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().filter(|l| !l.contains("dbus")).collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        if tail.is_empty() {
            "(log is empty)".to_string()
        } else {
            tail
        }
    }
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("addr", &self.addr)
            .field("driver_pid", &self.driver.id())
            .field("session", &self.session)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session makes chromedriver close the browser and wait
        // for it. If that fails, the kills below do the job.
        let quit = match self.session.take() {
            Some(sid) => webdriver_http(self.addr, "DELETE", &format!("/session/{sid}"), None, QUIT_TIMEOUT)
                .is_ok_and(|(code, _)| (200..300).contains(&code)),
            None => false,
        };
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Browser processes are chromedriver's children, not ours: a killed
        // chromedriver orphans them. Find them by their temp dir; after a
        // clean quit give stragglers a moment, otherwise kill at once.
        end_processes_mentioning(self.dir.path(), if quit { EXIT_TIMEOUT } else { Duration::ZERO });
    }
}

// ---------------------------------------------------------------------------
// Element
// ---------------------------------------------------------------------------

/// A reference to one DOM element of a [`Browser`]'s current page. It goes
/// stale (WebDriver's `stale element reference`) when the element leaves the
/// DOM, e.g. after navigating or [`Browser::refresh`].
#[derive(Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl<'a> Element<'a> {
    /// WebDriver's id of this element.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The web element reference `{ELEMENT_KEY: id}`, to pass as an argument
    /// of [`Browser::execute`].
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// The rendered text (`innerText`-like: hidden text is left out;
    /// `GET /element/{id}/text`).
    pub fn text(&self) -> Result<String, String> {
        let v = self.cmd("GET", "/text", None)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("text: value is not a string: {v}"))
    }

    /// The attribute `name` (`GET /element/{id}/attribute/{name}`); `None`
    /// when the element has no such attribute. For live state such as an
    /// input's current `value` prefer [`property`](Self::property).
    pub fn attr(&self, name: &str) -> Result<Option<String>, String> {
        let v = self.cmd("GET", &format!("/attribute/{}", percent_encode(name)), None)?;
        Ok(match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
    }

    /// The DOM property `name` as JSON (`GET /element/{id}/property/{name}`),
    /// e.g. `"value"` or `"checked"`; `null` when absent.
    pub fn property(&self, name: &str) -> Result<Value, String> {
        self.cmd("GET", &format!("/property/{}", percent_encode(name)), None)
    }

    /// Scrolls the element into view and clicks its centre
    /// (`POST /element/{id}/click`); `Err` (`element not interactable`,
    /// `element click intercepted`) when that is not possible.
    pub fn click(&self) -> Result<(), String> {
        self.cmd("POST", "/click", Some(json!({}))).map(drop)
    }

    /// Empties an editable element (`POST /element/{id}/clear`).
    pub fn clear(&self) -> Result<(), String> {
        self.cmd("POST", "/clear", Some(json!({}))).map(drop)
    }

    /// Types `text` into the element (`POST /element/{id}/value`). WebDriver
    /// key codes such as `"\u{E007}"` (Enter) or `"\u{E004}"` (Tab) work.
    pub fn send_keys(&self, text: &str) -> Result<(), String> {
        self.cmd("POST", "/value", Some(json!({ "text": text }))).map(drop)
    }

    /// The first descendant matching the CSS selector
    /// (`POST /element/{id}/element`); `Err` when none does.
    pub fn find(&self, css: &str) -> Result<Element<'a>, String> {
        let v = self
            .cmd("POST", "/element", Some(css_locator(css)))
            .map_err(|e| format!("find({css:?}) within element: {e}"))?;
        self.browser.element_from_json(&v)
    }

    /// All descendants matching the CSS selector
    /// (`POST /element/{id}/elements`); empty when none does.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'a>>, String> {
        let v = self
            .cmd("POST", "/elements", Some(css_locator(css)))
            .map_err(|e| format!("find_all({css:?}) within element: {e}"))?;
        self.browser.elements_from_json(&v)
    }

    /// Whether the element is rendered visibly
    /// (`GET /element/{id}/displayed`).
    pub fn is_displayed(&self) -> Result<bool, String> {
        let v = self.cmd("GET", "/displayed", None)?;
        v.as_bool()
            .ok_or_else(|| format!("displayed: value is not a bool: {v}"))
    }

    /// [`Browser::cmd`] on `/element/{id}{suffix}`.
    fn cmd(&self, method: &str, suffix: &str, body: Option<Value>) -> Result<Value, String> {
        self.browser.cmd(method, &format!("/element/{}{suffix}", self.id), body)
    }
}

impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element").field("id", &self.id).finish()
    }
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// The WebDriver locator for a CSS selector.
fn css_locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

/// A WebDriver error `value` as compact JSON without its `stacktrace` (native
/// addresses, useless here).
fn error_json(value: &Value) -> String {
    let mut v = value.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("stacktrace");
    }
    truncate(&v.to_string(), 2000)
}

/// `s` cut to at most `max` bytes (on a char boundary), saying so.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// "NAME not found; run scripts/install-peers.sh" for a missing binary.
fn spawn_error(name: &str, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        format!("{name} not found; {INSTALL_HINT}")
    } else {
        format!("cannot start {name}: {e}")
    }
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional, ASCII
/// whitespace ignored).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut acc, mut bits, mut digits, mut pad) = (0u32, 0u32, 0usize, 0usize);
    for (i, &c) in text.as_bytes().iter().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                pad += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return Err(format!("base64: invalid byte {c:#04x} at offset {i}")),
        };
        if pad > 0 {
            return Err(format!("base64: data after padding at offset {i}"));
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        digits += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if digits % 4 == 1 {
        return Err(format!("base64: truncated input ({digits} digits)"));
    }
    if pad > 2 || (pad > 0 && (digits + pad) % 4 != 0) {
        return Err(format!("base64: bad padding ({digits} digits, {pad} '=')"));
    }
    Ok(out)
}

/// Pids of live processes (not this one) whose command line or environment
/// contains `dir` — zombies have neither, so they do not count.
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            ["cmdline", "environ"].iter().any(|f| {
                fs::read(format!("/proc/{pid}/{f}"))
                    .map(|bytes| !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle))
                    .unwrap_or(false)
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Waits (≤ `grace`) for the processes mentioning `dir` to exit, sends the
/// rest `SIGKILL` (by pid, via `kill`), and waits (≤ 5 s) for them to go.
fn end_processes_mentioning(dir: &Path, grace: Duration) {
    let wait_gone = |timeout: Duration| -> Vec<u32> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = processes_mentioning(dir);
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            thread::sleep(Duration::from_millis(50));
        }
    };
    let left = wait_gone(grace);
    if left.is_empty() {
        return;
    }
    let mut kill = Command::new("kill");
    kill.arg("-KILL")
        .args(left.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _ = kill.status();
    let _ = wait_gone(EXIT_TIMEOUT);
}

/// One WebDriver HTTP exchange with chromedriver through
/// [`crate::http::request`]: `Accept: application/json`, and a `body` (JSON
/// text) sent as `Content-Type: application/json; charset=utf-8`. Returns the
/// status code and the raw body; the whole exchange is bounded by `timeout`.
fn webdriver_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let mut headers = vec![("Accept", "application/json")];
    if body.is_some() {
        headers.push(("Content-Type", "application/json; charset=utf-8"));
    }
    crate::http::request(addr, method, path, &headers, body.map(str::as_bytes), timeout)
}
