//! The HTTP surface under load, short version: `scripts/load-http.sh 5`
//! drives `/metrics`, the events API and the SSE stream with wrk for 5 s
//! while the demo kernel runs at full rate, and fails on any socket error or
//! non-2xx response. The 30 s version is the script without arguments.

#[path = "support/demo.rs"]
mod demo;

use std::process::Command;

#[test]
#[ignore = "needs wrk; run via the README test command"]
fn wrk_against_metrics_events_and_sse_at_full_rate_sees_no_errors() {
    let kernel = demo::kernel_binary();
    assert!(kernel.exists(), "{} missing: run through cargo test", kernel.display());
    let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/load-http.sh"))
        .arg("5")
        .env("KERNEL", &kernel)
        .output()
        .expect("scripts/load-http.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let load: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("LOAD "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no LOAD line: {stdout}"));
    for endpoint in ["metrics", "events", "sse"] {
        assert_eq!(load[endpoint]["socket_errors"], 0, "{load}");
        assert_eq!(load[endpoint]["non_2xx"], 0, "{load}");
    }
    assert!(load["metrics"]["requests"].as_u64().unwrap() > 0, "{load}");
    assert!(load["events"]["requests"].as_u64().unwrap() > 0, "{load}");
    assert!(
        load["sse"]["bytes_per_sec"].as_u64().unwrap() > 0,
        "SSE streamed nothing: {load}"
    );
    assert!(load["kernel_events_per_sec"].as_u64().unwrap() > 0, "{load}");
    eprintln!("{stdout}");
}
