//! The dashboard's chart points and run view over HTTP: in the first seconds
//! every range gets 1 s buckets (several points, never more than asked),
//! each point names an exemplar run with its trace id, and
//! `GET /api/monitoring/runs/{correlation_id}` returns that run as waterfall
//! rows with failures marked, LLM tokens and cost, and the trace link built
//! from `monitoring.trace_url_template`; bad ids are 400, unknown 404, and
//! the token guards it like the rest of the API.

#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/workflow.rs"]
mod workflow;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use prometheus::http_get;
use serde_json::Value;

/// The ranges the page offers, in milliseconds.
const RANGES: [u64; 6] = [300_000, 900_000, 3_600_000, 21_600_000, 86_400_000, 604_800_000];

fn get_json(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let (status, body) = http_get(addr, path, headers).unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn is_trace_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[test]
fn the_first_seconds_of_data_give_several_points_in_every_range() {
    let stack = workflow::stack(None);
    // Three seconds of runs: a failed one first, then a good one every 300 ms.
    tracing::dispatcher::with_default(&stack.dispatch, || {
        workflow::failed_run("corr-first-failed");
        for n in 0..10 {
            workflow::good_run(&format!("corr-good-{n}"));
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    for range in RANGES {
        for (asked, max) in [(None, 60), (Some(120), 120), (Some(500), 500)] {
            let query = match asked {
                Some(n) => format!("/api/monitoring/timeseries?timeRange={range}&points={n}"),
                None => format!("/api/monitoring/timeseries?timeRange={range}"),
            };
            let (status, body) = get_json(stack.addr, &query, &[]);
            assert_eq!(status, 200, "{query}: {body}");
            assert_eq!(body["bucketMs"], 1000, "{query}: {body}");
            let points = body["points"].as_array().unwrap();
            assert!(
                !points.is_empty() && points.len() <= max,
                "{query}: {} points",
                points.len()
            );
            let with_data: Vec<&Value> = points.iter().filter(|p| p["count"].as_u64() > Some(0)).collect();
            assert!(
                with_data.len() >= 3,
                "{query}: only {} drawn points: {body}",
                with_data.len()
            );
            assert_eq!(
                with_data.iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(),
                13,
                "{query}"
            );
            let times: Vec<u64> = points.iter().map(|p| p["t"].as_u64().unwrap()).collect();
            assert!(times.windows(2).all(|w| w[1] - w[0] == 1000), "{query}: {times:?}");
            for point in &with_data {
                let exemplar = &point["exemplar"];
                assert!(
                    exemplar["correlationId"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("corr-")),
                    "{point}"
                );
                assert!(is_trace_id(&exemplar["traceId"]), "{point}");
            }
            // The failed steps' bucket names the failed run.
            assert!(
                with_data.iter().any(|p| p["exemplar"]["correlationId"] == "corr-first-failed"
                    && p["exemplar"]["success"] == false),
                "{query}: {body}"
            );
        }
    }
    // Fewer points asked for than seconds of data: wider buckets, never more points.
    let (_, body) = get_json(stack.addr, "/api/monitoring/timeseries?timeRange=3600000&points=2", &[]);
    let points = body["points"].as_array().unwrap();
    assert!(points.len() <= 2, "{body}");
    assert!(body["bucketMs"].as_u64().unwrap() >= 2000, "{body}");
    assert_eq!(points.iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(), 13);
    stack.telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn a_run_comes_back_as_a_waterfall_with_its_trace_link() {
    let stack = workflow::stack(None);
    let cid = "tenant-a/run:42";
    tracing::dispatcher::with_default(&stack.dispatch, || {
        workflow::failed_run(cid);
        workflow::good_run("corr-other");
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let (status, run) = get_json(stack.addr, "/api/monitoring/runs/tenant-a%2Frun%3A42", &[]);
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["correlationId"], cid);
    assert_eq!(run["workflowIds"], serde_json::json!(["wf-run-view"]));
    let rows = run["rows"].as_array().unwrap();
    let kinds: BTreeSet<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for kind in [
        "step", "llm", "artifact", "tool", "crv", "policy", "snapshot", "rollback",
    ] {
        assert!(kinds.contains(kind), "no {kind} row: {kinds:?}");
    }
    let of = |kind: &'static str| rows.iter().filter(move |r| r["kind"] == kind);
    // Three steps: attempt 1 failed, attempt 2 ok, t02 failed; each from its start to its end.
    let steps: Vec<&Value> = of("step").collect();
    assert_eq!(steps.len(), 3, "{run}");
    assert_eq!(
        steps.iter().map(|s| s["status"].as_str().unwrap()).collect::<Vec<_>>(),
        ["failed", "ok", "failed"]
    );
    assert_eq!(steps[0]["label"], "plan t01 (attempt 1)");
    assert!(steps[0]["detail"].as_str().unwrap().contains("UNSAFE_CONTENT"));
    assert!(
        steps.iter().all(|s| s["durationMs"].as_f64().is_some_and(|d| d > 0.0)),
        "{run}"
    );
    assert_eq!(steps[0]["offsetMs"], 0.0);
    assert!(steps[1]["offsetMs"].as_f64() > steps[0]["offsetMs"].as_f64());
    // Failures marked: the blocking gate, the denial, both rollbacks.
    assert!(of("crv").any(|r| r["status"] == "failed" && r["label"] == "safety_scan"));
    assert!(of("crv").any(|r| r["status"] == "ok" && r["label"] == "schema_check"));
    assert!(of("policy").any(|r| r["status"] == "failed" && r["detail"].as_str().unwrap().contains("denied")));
    assert!(of("rollback").all(|r| r["status"] == "failed"));
    assert_eq!(run["failed"], true);
    assert_eq!(run["failures"], 6, "{run}");
    // The LLM call: prompt to response, model, tokens and cost; inside the first step.
    let llm = of("llm").next().unwrap();
    assert_eq!(llm["status"], "ok");
    assert_eq!(llm["model"], "aureus-llm-large");
    assert_eq!(llm["inputTokens"], workflow::INPUT_TOKENS);
    assert_eq!(llm["outputTokens"], workflow::OUTPUT_TOKENS);
    assert_eq!(llm["costUsd"], workflow::COST_USD);
    assert_eq!(llm["depth"], 1);
    assert!(llm["durationMs"].as_f64().is_some_and(|d| d > 0.0));
    assert_eq!(run["totals"]["inputTokens"], workflow::INPUT_TOKENS);
    assert_eq!(run["totals"]["costUsd"], workflow::COST_USD);
    // Oldest first, offsets from the run's start.
    let offsets: Vec<f64> = rows.iter().map(|r| r["offsetMs"].as_f64().unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    assert!(run["durationMs"].as_f64().unwrap() >= *offsets.last().unwrap());
    // The trace: every record of the run in one trace, linked through the template.
    assert!(is_trace_id(&run["traceId"]), "{run}");
    assert_eq!(run["traceIds"].as_array().unwrap().len(), 1, "{run}");
    let trace_id = run["traceId"].as_str().unwrap();
    assert_eq!(
        run["traceUrl"].as_str().unwrap(),
        workflow::TRACE_TEMPLATE.replace("{trace_id}", trace_id)
    );

    // The other run is separate.
    let (_, other) = get_json(stack.addr, "/api/monitoring/runs/corr-other", &[]);
    assert_eq!(other["rows"].as_array().unwrap().len(), 1, "{other}");
    assert_eq!(other["failed"], false);
    assert_ne!(other["traceId"], run["traceId"]);

    // Unknown: 404; not a correlation id: 400 naming it; both JSON errors.
    let (status, body) = get_json(stack.addr, "/api/monitoring/runs/corr-nobody", &[]);
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("corr-nobody"));
    for bad in [
        "a%20b",
        "%3Cscript%3E",
        "%FF",
        &"x".repeat(129),
        "",
        "%00",
        "%0Aevil",
        "caf%C3%A9",
    ] {
        let (status, body) = get_json(stack.addr, &format!("/api/monitoring/runs/{bad}"), &[]);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.starts_with("correlation id")),
            "{bad}: {body}"
        );
    }
    // `../../etc` is a valid id (dots and slashes are allowed): simply unknown.
    let (status, body) = get_json(stack.addr, "/api/monitoring/runs/..%2F..%2Fetc", &[]);
    assert_eq!(status, 404, "{body}");
    // No id at all (no trailing slash): the same JSON 400.
    let (status, body) = get_json(stack.addr, "/api/monitoring/runs", &[]);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.starts_with("correlation id")));
    stack.telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn the_token_guards_the_run_view_too() {
    let stack = workflow::stack(Some("s3cret"));
    tracing::dispatcher::with_default(&stack.dispatch, || workflow::good_run("corr-guarded"));
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let (status, _) = http_get(stack.addr, "/api/monitoring/runs/corr-guarded", &[]).unwrap();
    assert_eq!(status, 401);
    let (status, run) = get_json(
        stack.addr,
        "/api/monitoring/runs/corr-guarded",
        &[("Authorization", "Bearer s3cret")],
    );
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["correlationId"], "corr-guarded");
    stack.telemetry.shutdown(Duration::from_secs(5));
}

/// Hostile records in one run: token counts beyond 2^53 (exact, as decimal
/// strings, like every integer we write past JavaScript's safe range), sums
/// that would overflow a u64, negative and non-finite durations, a
/// `step_end` without its start. The view is built (200), nothing is
/// rounded, no total wraps.
#[test]
fn a_run_with_huge_token_counts_and_bad_durations_is_exact_and_does_not_fail() {
    let stack = workflow::stack(None);
    let big: u64 = (1 << 53) + 1;
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let span = tracing::info_span!("workflow", correlation_id = "corr-hostile");
        let _entered = span.enter();
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = "wf-h", task_id = "t09",
            success = true, duration_ms = -5.0);
        tracing::info!(target: "aureus", event_type = "llm_response", model = "m1",
            input_tokens = big, output_tokens = u64::MAX, duration_ms = -1.0);
        tracing::info!(target: "aureus", event_type = "llm_response", model = "m2",
            input_tokens = 7u64, output_tokens = u64::MAX, duration_ms = f64::NAN);
        tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "t", duration_ms = f64::INFINITY);
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let (status, body) = http_get(stack.addr, "/api/monitoring/runs/corr-hostile", &[]).unwrap();
    assert_eq!(status, 200, "{body}");
    let run: Value = serde_json::from_str(&body).unwrap();
    let llm: Vec<&Value> = run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "llm")
        .collect();
    assert_eq!(llm.len(), 2, "{run}");
    assert_eq!(llm[0]["inputTokens"], big.to_string(), "{run}");
    assert_eq!(llm[0]["outputTokens"], u64::MAX.to_string(), "{run}");
    assert_eq!(llm[1]["inputTokens"], 7, "{run}");
    assert_eq!(run["totals"]["inputTokens"], (big + 7).to_string(), "{run}");
    // u64::MAX twice: the total saturates instead of wrapping (or panicking).
    assert_eq!(run["totals"]["outputTokens"], u64::MAX.to_string(), "{run}");
    // No negative or non-finite duration anywhere; every number in the body is finite.
    for row in run["rows"].as_array().unwrap() {
        for key in ["durationMs", "reportedDurationMs"] {
            assert!(
                row[key].is_null() || row[key].as_f64().is_some_and(|d| d >= 0.0 && d.is_finite()),
                "{key}: {row}"
            );
        }
    }
    stack.telemetry.shutdown(Duration::from_secs(5));
}

/// A failed LLM call — `ChatCall::fail`, or a hand-written `llm_response`
/// with `error_type` (text, or a number such as an HTTP status) — is a
/// failed row of its run, as it is a failed call in
/// `gen_ai_client_operation_duration_seconds{error_type}`.
#[test]
fn failed_llm_calls_are_failures_of_their_run() {
    use aureus_observability::event::{ChatCall, ChatRequest};
    let stack = workflow::stack(None);
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let span = tracing::info_span!("workflow", correlation_id = "corr-llm-fail");
        let _entered = span.enter();
        let call = ChatCall::start(&ChatRequest {
            provider: "openai",
            model: "gpt-4o",
            ..Default::default()
        });
        call.fail("timeout");
        tracing::info!(target: "aureus", event_type = "llm_response", model = "m2", provider = "p",
            error_type = 500u64, duration_ms = 12.0);
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let (status, run) = get_json(stack.addr, "/api/monitoring/runs/corr-llm-fail", &[]);
    assert_eq!(status, 200, "{run}");
    let llm: Vec<&Value> = run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "llm")
        .collect();
    assert_eq!(llm.len(), 2, "{run}");
    assert!(llm.iter().all(|r| r["status"] == "failed"), "{run}");
    for error in ["error timeout", "error 500"] {
        assert!(
            llm.iter().any(|r| r["detail"].as_str().unwrap().contains(error)),
            "{error}: {run}"
        );
    }
    assert_eq!(
        (run["failed"].as_bool(), run["failures"].as_u64()),
        (Some(true), Some(2))
    );
    let metrics = stack.telemetry.metrics().unwrap().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gen_ai_client_operation_duration_seconds_count{")
                && l.contains(r#"error_type="500""#)
                && l.ends_with(" 1")),
        "{metrics}"
    );
    stack.telemetry.shutdown(Duration::from_secs(5));
}
