//! SIGTERM to the demo kernel running as fast as it can (`--rate 0`): it
//! exits 0 within its deadline (the workflows' stop grace plus the telemetry
//! flush deadline), and its `REPORT` line accounts for every record — per
//! sink, created = delivered + dropped + failed + undelivered — with the file
//! holding exactly what the file sink says it delivered and every event the
//! kernel says it emitted.

#[path = "support/demo.rs"]
mod demo;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel's `STOP_GRACE` + `SHUTDOWN_DEADLINE`, plus process start-up and exit.
const EXIT_DEADLINE: Duration = Duration::from_secs(5 + 10 + 3);

const CONFIG: &str = r#"
service_name = "aureus-kernel"
log_level = "info"

[[sinks]]
type = "console"
level = "warn"

[[sinks]]
type = "file"
path = "./aureus-telemetry/aureus.jsonl"
"#;

fn json_line(stdout: &str, prefix: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {stdout}"));
    serde_json::from_str(line).unwrap()
}

fn file_lines(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("aureus-telemetry/aureus.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn sigterm_at_full_rate_exits_in_time_and_accounts_for_every_record() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kernel.toml"), CONFIG).unwrap();
    let mut command = Command::new(demo::kernel_binary());
    command
        .current_dir(dir.path())
        .args(["--listen", "127.0.0.1:0", "--config", "kernel.toml"])
        .args([
            "--workflows",
            "16",
            "--duration",
            "0",
            "--rate",
            "0",
            "--failure-rate",
            "0.2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("AUREUS_") || key.starts_with("OTEL_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("demo kernel (built by cargo test)");
    // Drain both pipes so the kernel never blocks on them.
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        stdout_pipe.read_to_string(&mut text).unwrap();
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        stderr_pipe.read_to_string(&mut text).unwrap();
        text
    });

    // Let it reach full rate: the file grows.
    let file = dir.path().join("aureus-telemetry/aureus.jsonl");
    let started = Instant::now();
    while std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) < 1_000_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "the kernel wrote nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if signalled.elapsed() > EXIT_DEADLINE {
            let _ = child.kill();
            panic!("no exit within {EXIT_DEADLINE:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(exit.success(), "{exit}: {stderr:.2000}");
    assert!(!stderr.contains("panicked"), "{stderr:.2000}");
    eprintln!("exited {took:?} after SIGTERM");

    let emitted = json_line(&stdout, "EMITTED ");
    let report = json_line(&stdout, "REPORT ");
    let total = emitted["total"].as_u64().unwrap();
    assert!(total > 1_000, "not at full rate: {emitted}");
    let sinks = report["sinks"].as_array().unwrap();
    assert!(!sinks.is_empty(), "{report}");
    for sink in sinks {
        let n = |key: &str| sink[key].as_u64().unwrap_or_else(|| panic!("{key} in {sink}"));
        assert_eq!(
            n("created"),
            n("delivered") + n("dropped") + n("failed") + n("undelivered"),
            "unaccounted records: {sink}"
        );
        assert_eq!(sink["completed"], true, "{sink}");
    }
    let file_sink = sinks
        .iter()
        .find(|s| s["name"] == "file")
        .expect("file sink in the report");
    // The file sink blocks rather than drops: nothing lost, nothing left over.
    for key in ["dropped", "failed", "undelivered"] {
        assert_eq!(file_sink[key], 0, "{file_sink}");
    }
    let lines = file_lines(dir.path());
    assert_eq!(
        lines.len() as u64,
        file_sink["delivered"].as_u64().unwrap(),
        "{file_sink}"
    );
    let aureus = lines.iter().filter(|l| l["target"] == "aureus").count() as u64;
    assert_eq!(aureus, total, "every emitted event is in the file");
    eprintln!("REPORT {report}");
}
