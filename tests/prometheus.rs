//! Against the real Prometheus tools (Debian package `prometheus`, installed by
//! `scripts/install-peers.sh`): `promtool check metrics` on the demo kernel's
//! `/metrics` under load, and a real Prometheus server scraping the demo
//! whose counters must equal what the demo says it emitted.

#[path = "support/prometheus.rs"]
mod prometheus;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use prometheus::{http_get, promtool_check_metrics, PrometheusServer};

fn kernel_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples").join("kernel")
}

/// A running demo kernel whose stdout lines arrive on a channel.
struct Demo {
    child: Child,
    lines: Receiver<String>,
    addr: SocketAddr,
}

impl Demo {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Demo {
        let mut command = Command::new(kernel_binary());
        command
            .current_dir(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, _) in std::env::vars() {
            if key.starts_with("AUREUS_") || key.starts_with("OTEL_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("demo kernel (built by cargo test)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut demo = Demo {
            child,
            lines,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let listening = demo.wait_for_line("LISTENING ", Duration::from_secs(30));
        demo.addr = listening.parse().unwrap();
        demo
    }

    fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(err) => panic!("no line starting with {prefix:?}: {err}"),
            }
        }
    }

    fn terminate(mut self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "demo exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "demo did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs promtool; run via the README test command"]
fn promtool_accepts_the_demo_metrics_under_load() {
    let dir = tempfile::tempdir().unwrap();
    // Base units (seconds): the exposition must be lint-free.
    let demo = Demo::start(
        dir.path(),
        &[
            "--workflows",
            "16",
            "--rate",
            "0",
            "--duration",
            "0",
            "--failure-rate",
            "0.3",
        ],
        &[("AUREUS_METRICS_DURATION_UNIT", "seconds")],
    );
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        let (status, body) = http_get(demo.addr, "/metrics", &[]).unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("aureus_task_duration_seconds_bucket"));
        promtool_check_metrics(&body).unwrap();
    }
    demo.terminate();

    // The contract's default (`aureus_task_duration_ms`): the one and only
    // finding is promtool's style note on the `_ms` name the contract fixes.
    let demo = Demo::start(dir.path(), &["--workflows", "8", "--rate", "0", "--duration", "0"], &[]);
    std::thread::sleep(Duration::from_millis(800));
    let (_, body) = http_get(demo.addr, "/metrics", &[]).unwrap();
    let findings = promtool_check_metrics(&body).expect_err("the _ms name is reported");
    let problems: Vec<&str> = findings.lines().filter(|l| l.starts_with("aureus_")).collect();
    assert_eq!(
        problems,
        ["aureus_task_duration_ms metric names should not contain abbreviated units"],
        "{findings}"
    );
    demo.terminate();
}

#[test]
#[ignore = "needs prometheus; run via the README test command"]
fn real_prometheus_scrape_equals_what_the_demo_emitted() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(
        dir.path(),
        &[
            "--workflows",
            "8",
            "--rate",
            "1500",
            "--duration",
            "6",
            "--linger",
            "120",
            "--failure-rate",
            "0.25",
            "--seed",
            "11",
        ],
        &[],
    );
    let server = PrometheusServer::start(&[demo.addr], Duration::from_secs(1)).unwrap();
    let emitted: serde_json::Value =
        serde_json::from_str(&demo.wait_for_line("EMITTED ", Duration::from_secs(60))).unwrap();
    let count = |kind: &str| emitted[kind].as_f64().unwrap();
    let failures: f64 = emitted["tasks"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["failure"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(count("step_start") > 100.0 && failures > 0.0, "{emitted}");

    let expectations = [
        ("sum(aureus_tasks_started_total)", count("step_start")),
        ("sum(aureus_tasks_completed_total)", count("step_end")),
        (r#"sum(aureus_tasks_completed_total{success="false"})"#, failures),
        ("sum(aureus_task_duration_ms_count)", count("step_end")),
        ("sum(aureus_tool_calls_total)", count("tool_call")),
        ("sum(aureus_crv_checks_total)", count("crv_result")),
        ("sum(aureus_policy_checks_total)", count("policy_check")),
        ("sum(aureus_snapshots_total)", count("snapshot_commit")),
        ("sum(aureus_rollbacks_total)", count("rollback")),
    ];
    for (query, expected) in expectations {
        let got = server
            .wait_until(query, |v| v == Some(expected), Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{query}: {e}\n{}", server.logs()));
        assert_eq!(got, Some(expected), "{query}");
    }
    let p90 = server
        .wait_until(
            "histogram_quantile(0.9, sum by (le) (rate(aureus_task_duration_ms_bucket[1m])))",
            |v| v.is_some_and(f64::is_finite),
            Duration::from_secs(30),
        )
        .unwrap()
        .unwrap();
    assert!(p90 > 0.0 && p90 <= 600_000.0, "p90 = {p90}");
    assert_eq!(server.targets_up().unwrap(), 1);
    demo.terminate();
}
