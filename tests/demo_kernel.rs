//! The demo kernel (`examples/kernel.rs`) end to end: what it says it emitted
//! is exactly what its files hold, correlated per workflow; SIGTERM flushes
//! and exits 0; bad flags exit 2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/kernel`, built by `cargo test` alongside the tests.
fn kernel_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join("kernel");
    assert!(
        path.exists(),
        "{} missing: run through `cargo test`, which builds examples",
        path.display()
    );
    path
}

fn kernel(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(kernel_binary());
    // Port 0: concurrent tests must not compete for the default 9464.
    command
        .current_dir(dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("AUREUS_") || key.starts_with("OTEL_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
}

fn emitted(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("EMITTED "))
        .unwrap_or_else(|| {
            panic!(
                "no EMITTED line in {stdout}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}

fn telemetry_lines(dir: &Path) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir.join("aureus-telemetry")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = if path.extension().is_some_and(|e| e == "gz") {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out).unwrap();
            out
        } else {
            String::from_utf8(bytes).unwrap()
        };
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    lines
}

fn check_files_match(dir: &Path, emitted: &serde_json::Value) {
    let lines = telemetry_lines(dir);
    let aureus: Vec<_> = lines.iter().filter(|l| l["target"] == "aureus").collect();
    assert_eq!(aureus.len() as u64, emitted["total"].as_u64().unwrap());
    let mut per_kind: HashMap<String, u64> = HashMap::new();
    let mut ids_per_workflow: HashMap<String, String> = HashMap::new();
    for line in &aureus {
        *per_kind
            .entry(line["event_type"].as_str().unwrap().to_owned())
            .or_default() += 1;
        let id = line["correlation_id"]
            .as_str()
            .expect("every event carries a correlation id");
        if let Some(workflow) = line["workflow_id"].as_str() {
            let previous = ids_per_workflow
                .entry(workflow.to_owned())
                .or_insert_with(|| id.to_owned());
            assert_eq!(previous, id, "workflow {workflow} carries two correlation ids");
        }
    }
    for (kind, count) in per_kind {
        assert_eq!(emitted[&kind].as_u64(), Some(count), "{kind}");
    }
    let distinct: std::collections::HashSet<_> = ids_per_workflow.values().collect();
    assert_eq!(
        distinct.len(),
        ids_per_workflow.len(),
        "a correlation id shared by two workflows"
    );
}

#[test]
fn a_timed_run_writes_exactly_what_it_emitted() {
    let dir = tempfile::tempdir().unwrap();
    let output = kernel(
        dir.path(),
        &[
            "--workflows",
            "6",
            "--duration",
            "2",
            "--rate",
            "800",
            "--failure-rate",
            "0.3",
            "--seed",
            "7",
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let emitted = emitted(&output);
    assert!(emitted["total"].as_u64().unwrap() > 500, "{emitted}");
    for kind in [
        "step_start",
        "step_end",
        "tool_call",
        "crv_result",
        "policy_check",
        "snapshot_commit",
        "rollback",
    ] {
        assert!(emitted[kind].as_u64().unwrap() > 0, "no {kind} in {emitted}");
    }
    check_files_match(dir.path(), &emitted);
}

#[test]
fn sigterm_flushes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let child = kernel(dir.path(), &["--workflows", "4", "--duration", "0", "--rate", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        output.status.success(),
        "{:?} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let emitted = emitted(&output);
    assert!(emitted["total"].as_u64().unwrap() > 0);
    check_files_match(dir.path(), &emitted);
}

#[test]
fn bad_flags_exit_two_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--failure-rate", "1.5"][..],
        &["--workflows", "many"],
        &["--config", "/nonexistent.toml"],
    ] {
        let output = kernel(dir.path(), args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}
