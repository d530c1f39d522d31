//! # `/metrics` for Prometheus
//!
//! Serves the Aureus metrics under a custom prefix (`kernel_…`) with global
//! labels on every series, next to the service's own metrics written through
//! the [`metrics`] facade (`metrics::counter!`, `histogram!`, `gauge!`), all
//! on one `/metrics` listener in the Prometheus text format.
//!
//! ```text
//! cargo run --example prometheus -- --listen 127.0.0.1:9464 --duration 60
//! curl -s 127.0.0.1:9464/metrics
//! ```
//!
//! `--listen ADDR` (default `127.0.0.1:9464`; port 0 picks a free one,
//! printed as `LISTENING <addr>`), `--duration SECS` (default 5): how long it
//! keeps serving. Before it stops it scrapes its own `/metrics` once and
//! prints the lines of the series it wrote (`SCRAPE …`).

use std::time::{Duration, Instant};

use aureus_observability::config::MetricsConfig;
use aureus_observability::event::{StepEnd, StepStart, ToolCall};
use aureus_observability::Config;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = flag("--listen", "127.0.0.1:9464".to_owned())?;
    let duration = Duration::from_secs(flag("--duration", 5)?);

    let metrics = MetricsConfig {
        prefix: "kernel".to_owned(), // kernel_tasks_completed_total, kernel_task_duration_ms, …
        global_labels: [("region", "eu-1"), ("cluster", "blue")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        // Buckets for the service's own histograms, by name pattern.
        histogram_buckets: [("*_seconds".to_owned(), vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0])]
            .into_iter()
            .collect(),
        ..MetricsConfig::default()
    };
    let config = Config::builder()
        .service_name("checkout")
        .no_sinks() // metrics only: records go nowhere, every Aureus event is still counted
        .listen(listen)
        .metrics(metrics)
        .build()?;
    let telemetry = aureus_observability::init(config)?;
    let addr = telemetry.server_addr().ok_or("the listener did not start")?;
    println!("LISTENING {addr}");

    // Aureus events update the contract's metrics …
    for (n, success) in [true, true, false, true].into_iter().enumerate() {
        let task_id = format!("t{n}");
        StepStart {
            workflow_id: "wf-1",
            task_id: &task_id,
            task_type: "action",
            attempt: 1,
            risk_tier: "low",
        }
        .emit();
        ToolCall {
            workflow_id: "wf-1",
            task_id: &task_id,
            tool_name: "http.post",
            args: &serde_json::json!({}),
        }
        .emit();
        let error = (!success).then_some("timeout");
        StepEnd {
            workflow_id: "wf-1",
            task_id: &task_id,
            task_type: "action",
            success,
            duration_ms: 40 + 10 * n as u64,
            error,
        }
        .emit();
    }
    // … and the service's own metrics go through the `metrics` facade, to the same `/metrics`.
    metrics::counter!("orders_processed_total", "channel" => "web").increment(3);
    metrics::histogram!("order_latency_seconds").record(0.042);
    metrics::gauge!("order_queue_depth").set(7.0);

    // Keep serving for a while (bounded), then scrape ourselves once.
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())));
    }
    telemetry.flush(Duration::from_secs(5));
    let text = scrape(addr)?;
    for line in text.lines().filter(|l| {
        l.starts_with("kernel_tasks_completed_total")
            || l.starts_with("kernel_tool_calls_total")
            || l.starts_with("kernel_task_duration_ms_count")
            || l.starts_with("orders_processed_total")
            || l.starts_with("order_latency_seconds_count")
            || l.starts_with("order_queue_depth")
    }) {
        println!("SCRAPE {line}");
    }
    telemetry.shutdown(Duration::from_secs(5));
    Ok(())
}

/// `GET /metrics` as Prometheus would (a plain HTTP/1.1 request).
fn scrape(addr: std::net::SocketAddr) -> Result<String, Box<dyn std::error::Error>> {
    let mut response = ureq::get(format!("http://{addr}/metrics")).call()?;
    Ok(response.body_mut().read_to_string()?)
}

/// The value after `name` on the command line (e.g. `--duration 5`), or
/// `default` when the flag is absent; an error naming the flag when its
/// value is missing or does not parse.
fn flag<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => match args.get(i + 1).map(|v| v.parse()) {
            Some(Ok(value)) => Ok(value),
            _ => Err(format!("{name} needs a valid value")),
        },
    }
}
