//! # Correlation ids across tasks, threads and an HTTP hop
//!
//! One workflow's correlation id, set once on its span, followed through:
//! an `.await`ed future, a spawned task ([`correlation::spawn`]), a blocking
//! task ([`correlation::spawn_blocking`]), an OS thread
//! ([`correlation::spawn_thread`]), a scope without any span
//! ([`CorrelationExt::with_correlation`]) — and a real HTTP request on
//! loopback from service A to service B, which carries the trace context and
//! the correlation id in W3C `traceparent` / `baggage` headers
//! ([`propagation::inject_headers`] / [`propagation::extract_headers`]).
//! Service B continues the same trace and correlation id, and says so.
//!
//! ```text
//! cargo run --example correlation
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --example correlation   # see both spans in one trace
//! ```
//!
//! Both services run in this process, each with its own telemetry stack
//! (service B on its own thread and runtime, as a separate process would).
//! Trace ids exist because span export (OTLP traces) is on: without a
//! collector at the configured endpoint (default `http://localhost:4318`)
//! the spans are counted as failed in the report, and the propagation works
//! all the same. Prints one `SEEN <where> <id>` line per hop, then
//! `HOP …` with what B saw, and exits 1 if anything did not continue.

use std::process::ExitCode;
use std::time::Duration;

use aureus_observability::correlation::{self, CorrelationExt};
use aureus_observability::event::{StepEnd, StepStart};
use aureus_observability::{propagation, Config, CorrelationId, Telemetry};
use tracing::Instrument;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("correlation: {err}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // Service A: this process's global subscriber.
    let telemetry_a = aureus_observability::init(service_config("service-a")?)?;
    // Service B: its own stack, its own thread and runtime, its own listener.
    let (dispatch_b, telemetry_b) = aureus_observability::build(service_config("service-b")?)?;
    let service_b = ServiceB::start(dispatch_b)?;

    let id = CorrelationId::new("order-7731")?;
    let workflow = tracing::info_span!("workflow", correlation_id = %id, workflow_id = "wf-orders");
    let mut ok = true;
    let mut check = |place: &str, seen: Option<CorrelationId>| {
        let seen = seen.map(|s| s.as_str().to_owned()).unwrap_or_default();
        println!("SEEN {place} {seen}");
        ok &= seen == id.as_str();
    };

    let (seen, hop) = async {
        StepStart {
            workflow_id: "wf-orders",
            task_id: "t1",
            task_type: "action",
            attempt: 1,
            risk_tier: "low",
        }
        .emit();
        let mut seen = vec![("await", correlation::current())];
        tokio::time::sleep(Duration::from_millis(1)).await;
        seen.push(("after_await", correlation::current()));
        seen.push(("spawn", correlation::spawn(async { correlation::current() }).await?));
        seen.push((
            "spawn_blocking",
            correlation::spawn_blocking(correlation::current).await?,
        ));
        seen.push((
            "spawn_thread",
            correlation::spawn_thread(correlation::current)
                .join()
                .map_err(|_| "thread panicked")?,
        ));
        // No span at all: a future carrying the id itself.
        let plain = tokio::spawn(async { correlation::current() }.with_correlation(id.clone()));
        seen.push(("with_correlation", plain.await?));

        // The HTTP hop: headers written inside the span of the outgoing call.
        let call = tracing::info_span!("call_service_b", peer = "service-b");
        let headers = call.in_scope(|| {
            let mut headers = http::HeaderMap::new();
            propagation::inject_headers(&mut headers); // traceparent, baggage: aureus.correlation_id=order-7731
            headers
        });
        let url = format!("http://{}/orders/7731", service_b.addr);
        let hop = tokio::task::spawn_blocking(move || post(&url, &headers))
            .instrument(call)
            .await??;
        StepEnd {
            workflow_id: "wf-orders",
            task_id: "t1",
            task_type: "action",
            success: true,
            duration_ms: 3,
            error: None,
        }
        .emit();
        Ok::<_, Box<dyn std::error::Error>>((seen, hop))
    }
    .instrument(workflow)
    .await?;
    for (place, value) in seen {
        check(place, value);
    }

    // What B reported: the correlation id it continued with, the trace it
    // joined, and the traceparent A sent.
    let field = |name: &str| hop.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let sent_trace = field("received_traceparent")
        .split('-')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let continued = field("trace_id") == sent_trace && !sent_trace.is_empty();
    check("service_b", CorrelationId::new(field("correlation_id")).ok());
    println!(
        "HOP correlation_id={} trace_id={} sent_trace_id={sent_trace} continued_trace={continued} baggage={}",
        field("correlation_id"),
        field("trace_id"),
        field("received_baggage"),
    );
    ok &= continued;

    drop(service_b);
    report("service-b", telemetry_b);
    report("service-a", telemetry_a);
    println!("OK {ok}");
    Ok(ok)
}

/// Each service: records on stderr (compact, with correlation ids), no
/// listener, span export on (from `OTEL_*` when set, else the default endpoint).
fn service_config(name: &str) -> aureus_observability::Result<Config> {
    let mut config = Config::builder().service_name(name).no_server().build()?;
    config.metrics.global_recorder = aureus_observability::metrics::GlobalRecorder::Off; // two stacks, one facade
    config.apply_process_env()?;
    config.otlp.enabled = true;
    config.otlp.traces.enabled = true;
    if config.otlp.timeout.is_none() {
        config.otlp.timeout = Some("2s".into()); // a short run: do not wait 10 s for a missing collector
    }
    Ok(config)
}

fn report(name: &str, telemetry: Telemetry) {
    let report = telemetry.shutdown(Duration::from_secs(5));
    eprint!("{name}: {report}");
}

/// Service A's client side: one POST with the propagated headers; B answers JSON.
fn post(url: &str, headers: &http::HeaderMap) -> Result<serde_json::Value, String> {
    let mut request = ureq::post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = request.send_empty().map_err(|err| format!("POST {url}: {err}"))?;
    response
        .body_mut()
        .read_json()
        .map_err(|err| format!("POST {url}: {err}"))
}

/// Service B: an axum server on a loopback port, on its own thread, with its
/// own subscriber.
struct ServiceB {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServiceB {
    fn start(dispatch: tracing::Dispatch) -> std::io::Result<ServiceB> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                runtime.block_on(async move {
                    let app = axum::Router::new().route("/orders/{id}", axum::routing::post(handle_order));
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let stopped = async move {
                                let _ = stopped.await;
                            };
                            if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                                eprintln!("service-b: {err}");
                            }
                        }
                        Err(err) => eprintln!("service-b: {err}"),
                    }
                })
            })
        });
        Ok(ServiceB {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ServiceB {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// B's handler: continue the caller's trace and correlation id, work, and
/// report what it continued with.
async fn handle_order(headers: http::HeaderMap) -> axum::Json<serde_json::Value> {
    let remote = propagation::extract_headers(&headers);
    let span = tracing::info_span!("handle_order", correlation_id = tracing::field::Empty);
    remote.attach(&span); // parent = A's span; correlation_id = A's
    async {
        StepStart {
            workflow_id: "wf-orders",
            task_id: "reserve",
            task_type: "remote",
            attempt: 1,
            risk_tier: "low",
        }
        .emit();
        // What B would send on to a third service: same trace, same correlation id.
        let mut onward = http::HeaderMap::new();
        propagation::inject_headers(&mut onward);
        let header = |map: &http::HeaderMap, name: &str| {
            map.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let trace_id = header(&onward, "traceparent")
            .split('-')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        axum::Json(serde_json::json!({
            "correlation_id": correlation::current().map(|c| c.as_str().to_owned()),
            "trace_id": trace_id,
            "remote_trace_id": remote.trace_id(),
            "received_traceparent": header(&headers, "traceparent"),
            "received_baggage": header(&headers, "baggage"),
        }))
    }
    .instrument(span)
    .await
}
