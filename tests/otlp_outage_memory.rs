//! Memory during a collector outage: every queue that fills while the
//! collector is away is bounded in bytes as well as in count, so the demo
//! kernel at full rate with the collector down stays within 2× the memory it
//! uses with a healthy collector (default configuration).
//!
//! `OUTAGE_SECS` (default 15) sets how long each run lasts; the issue's
//! full version is `OUTAGE_SECS=60`.

#[path = "support/demo.rs"]
mod demo;
#[path = "support/http.rs"]
mod http;
#[path = "support/rotel.rs"]
mod rotel;

use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs the demo at full rate for `secs` exporting to `endpoint`; its peak RSS in KiB.
fn peak_rss(endpoint: &str, secs: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let duration = secs.to_string();
    let mut demo = demo::Demo::start(
        dir.path(),
        &["--workflows", "8", "--rate", "0", "--duration", &duration],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
    );
    let pid = demo.child.id();
    let deadline = Instant::now() + Duration::from_secs(secs + 60);
    let mut peak = 0;
    while demo.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the demo did not stop");
        if let Some(rss) = rss_kib(pid) {
            peak = peak.max(rss);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    peak
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn rss_with_the_collector_down_stays_within_twice_rss_with_it_up() {
    let secs: u64 = std::env::var("OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let collector = rotel::Rotel::start();
    let up = peak_rss(&collector.http_endpoint(), secs);
    drop(collector);
    let closed = http::free_loopback_port().unwrap();
    let down = peak_rss(&format!("http://127.0.0.1:{closed}"), secs);
    eprintln!(
        "peak RSS over {secs} s: collector up {} MiB, down {} MiB",
        up / 1024,
        down / 1024
    );
    assert!(down <= 2 * up, "collector down: {down} KiB, up: {up} KiB");
}
