//! # Summary figures and alerts, from code
//!
//! Emits a small, known workload — successes, failures that recover, CRV
//! gates that block, policy checks that escalate or deny, rollbacks — then
//! reads what the dashboard shows, from code: the summary figures
//! ([`MetricsHandle::summary`]: success rate overall and per task type,
//! MTTR, escalation rate, cost per success in time and in dollars from a
//! model price table, counts) and the alerts
//! ([`Telemetry::alerts`]), and acknowledges one.
//!
//! ```text
//! cargo run --example aggregation
//! ```
//!
//! Runs about a second and exits. The workload gives a success rate of
//! 0.8 (8 of 10 step ends), 6 blocking CRV gates, so `success-rate` and
//! `crv-failures` fire as warnings; it prints `FIGURE …` and `ALERT …` lines.
//!
//! [`MetricsHandle::summary`]: aureus_observability::metrics::MetricsHandle::summary
//! [`Telemetry::alerts`]: aureus_observability::Telemetry::alerts

use std::time::{Duration, Instant};

use aureus_observability::alerts::AlertState;
use aureus_observability::config::{ModelPrice, MonitoringConfig};
use aureus_observability::event::{CrvResult, LlmResponse, LlmUsage, PolicyCheck, Rollback, StepEnd};
use aureus_observability::Config;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::builder()
        .no_sinks()
        .no_server() // the figures and alerts work without the listener; with it, /monitoring shows them
        .monitoring(MonitoringConfig {
            evaluate_every: "100ms".into(),
            ..Default::default()
        })
        .build()?;
    // Dollars per million tokens: `cost_usd` on each priced `llm_response`,
    // the cost counter per model, and cost per success in the summary.
    config.genai.prices.insert(
        "gpt-4o".into(),
        ModelPrice {
            input_per_million: 2.5,
            output_per_million: 10.0,
        },
    );
    let telemetry = aureus_observability::init(config)?;

    let span = tracing::info_span!("workflow", correlation_id = "wf-agg-1");
    span.in_scope(|| {
        // 10 step ends: 8 succeed; 2 fail and recover 50 ms later (the MTTR).
        for (n, task_type) in ["plan", "query", "action", "action", "review", "query"]
            .into_iter()
            .enumerate()
        {
            let task = format!("t{n}");
            step(&task, task_type, true, 100 + 20 * n as u64);
        }
        for task in ["t-flaky-1", "t-flaky-2"] {
            step(task, "action", false, 900);
            std::thread::sleep(Duration::from_millis(50));
            step(task, "action", true, 300);
            Rollback {
                workflow_id: "wf-agg-1",
                task_id: task,
                snapshot_id: "snap-1",
                reason: "tool failed",
            }
            .emit();
        }
        // 2 LLM calls: (1,000 in, 200 out) and (2,000 in, 400 out) tokens of
        // gpt-4o → $0.0045 + $0.0090 = $0.0135.
        for (input, output) in [(1_000, 200), (2_000, 400)] {
            LlmResponse {
                model: "gpt-4o",
                response: "…",
            }
            .emit_with(&LlmUsage {
                provider: Some("openai"),
                input_tokens: Some(input),
                output_tokens: Some(output),
                finish_reason: Some("stop"),
                duration_ms: Some(850.0),
                ..Default::default()
            });
        }
        // 6 blocking CRV gates: over the `crv-failures` threshold of 5.
        for n in 0..6 {
            let task = format!("crv-{n}");
            let gate = CrvResult {
                workflow_id: "wf-agg-1",
                task_id: &task,
                gate_name: "schema",
                passed: false,
                blocked: true,
                failure_code: Some("E_SCHEMA"),
            };
            gate.emit();
        }
        // 4 policy checks: 1 needs a human (escalation rate 0.25), 1 denied.
        for (allowed, human) in [(true, false), (true, true), (false, false), (true, false)] {
            PolicyCheck {
                workflow_id: "wf-agg-1",
                task_id: "t2",
                allowed,
                requires_human_approval: human,
                reason: "rule 7",
            }
            .emit();
        }
    });
    telemetry.flush(Duration::from_secs(5)); // the figures are fed by the pipeline's `prometheus` sink

    let metrics = telemetry.metrics().ok_or("metrics are disabled")?;
    let summary = metrics.summary(Duration::from_secs(300), None); // the last 5 minutes, every task type
    let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
    println!("FIGURE success_rate {}", show(summary.success_rate));
    println!(
        "FIGURE step_ends {} successes {} failures {}",
        summary.step_ends, summary.successes, summary.failures
    );
    println!(
        "FIGURE mttr_ms {:.0} recoveries {}",
        summary.mttr_ms, summary.recoveries
    );
    println!("FIGURE escalation_rate {}", show(summary.escalation_rate));
    println!("FIGURE cost_per_success_ms {}", show(summary.cost_per_success_ms));
    // Cost in money: LLM spend from the price table, per successful step end.
    println!(
        "FIGURE llm_cost_usd {:.4} cost_per_success_usd {}",
        summary.llm_cost_usd,
        summary
            .cost_per_success_usd
            .map_or("-".to_owned(), |v| format!("{v:.6}"))
    );
    println!(
        "FIGURE crv_failures {} policy_denials {} escalations {} rollbacks {} events {}",
        summary.crv_failures, summary.policy_denials, summary.escalations, summary.rollbacks, summary.events
    );
    for (task_type, figures) in &summary.success_rate_by_task_type {
        println!(
            "FIGURE task_type {task_type} success_rate {:.3} total {} mttr_ms {:.0} cost_per_success_ms {}",
            figures.success_rate,
            figures.total,
            figures.mttr_ms,
            show(figures.cost_per_success_ms)
        );
    }
    // One task type only:
    let action = metrics.summary(Duration::from_secs(300), Some("action"));
    println!("FIGURE action_only success_rate {}", show(action.success_rate));

    // Alerts are evaluated every `evaluate_every` (100 ms here, 1 s by default).
    let deadline = Instant::now() + Duration::from_secs(10);
    let firing = |telemetry: &aureus_observability::Telemetry| {
        telemetry
            .alerts()
            .into_iter()
            .filter(|a| a.state == AlertState::Firing)
            .count()
    };
    while firing(&telemetry) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for alert in telemetry.alerts() {
        println!(
            "ALERT {} {:?} {} value={} threshold={} — {}",
            alert.id,
            alert.state,
            alert.severity.as_str(),
            alert.current_value,
            alert.threshold,
            alert.message
        );
    }
    let acked =
        telemetry.acknowledge_alert("crv-failures", "oncall@example.com", Some("looking at the schema gate"))?;
    println!("ACK {} by {}", acked.id, acked.acknowledged_by.unwrap_or_default());

    telemetry.shutdown(Duration::from_secs(5));
    Ok(())
}

fn step(task_id: &str, task_type: &str, success: bool, duration_ms: u64) {
    let error = (!success).then_some("tool failed");
    StepEnd {
        workflow_id: "wf-agg-1",
        task_id,
        task_type,
        success,
        duration_ms,
        error,
    }
    .emit();
}
