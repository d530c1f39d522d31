//! Test support: a deterministic Aureus workload for the OTLP tests, and what
//! it emitted (to compare with what a collector received).
//!
//! ```ignore
//! #[path = "support/otlp_workload.rs"]
//! mod otlp_workload;
//! ```
#![allow(dead_code)]

use std::collections::BTreeMap;

use aureus_observability::event::{CrvResult, PolicyCheck, Rollback, SnapshotCommit, StepEnd, StepStart, ToolCall};

/// One task of a workflow.
#[derive(Debug, Clone)]
pub struct Task {
    pub workflow_id: String,
    pub task_id: String,
    pub correlation_id: String,
    /// Whether its CRV gate blocked (then its step failed and it rolled back).
    pub blocked: bool,
    /// Whether its policy check denied.
    pub denied: bool,
}

/// What the workload emitted.
#[derive(Debug, Clone, Default)]
pub struct Emitted {
    /// Every task, in order.
    pub tasks: Vec<Task>,
    /// Log records (events) per `event_type`, plus `plain` for the non-Aureus warnings.
    pub per_kind: BTreeMap<&'static str, usize>,
    /// Spans created (one `workflow` span and one `task` span per task).
    pub spans: usize,
}

impl Emitted {
    /// All events emitted.
    pub fn events(&self) -> usize {
        self.per_kind.values().sum()
    }

    /// Distinct correlation ids.
    pub fn correlation_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.tasks.iter().map(|t| t.correlation_id.clone()).collect();
        ids.dedup();
        ids
    }
}

/// `workflows` workflows of `tasks` tasks each, on the current thread's
/// dispatcher. Task `t` of workflow `w` blocks its CRV gate when
/// `(w + t) % 5 == 0` and is denied by policy when `(w + t) % 7 == 0`.
/// Each workflow also logs one plain `warn` (target `kernel`).
pub fn run(workflows: usize, tasks: usize) -> Emitted {
    let mut emitted = Emitted::default();
    let mut count = |kind: &'static str| *emitted.per_kind.entry(kind).or_default() += 1;
    let mut all_tasks = Vec::new();
    let mut spans = 0;
    for w in 0..workflows {
        let workflow_id = format!("wf-{w:03}");
        let correlation_id = format!("corr-otlp-{w:03}");
        let workflow = tracing::info_span!("workflow", correlation_id = %correlation_id, workflow_id = %workflow_id);
        spans += 1;
        let _workflow = workflow.enter();
        tracing::warn!(target: "kernel", attempt = 3_i64, ratio = 0.5_f64, cached = true, "retrying workflow {workflow_id}");
        count("plain");
        for t in 0..tasks {
            let task_id = format!("t{t:02}");
            let blocked = (w + t) % 5 == 0;
            let denied = (w + t) % 7 == 0;
            let task = tracing::info_span!("task", task_id = %task_id);
            spans += 1;
            let _task = task.enter();
            StepStart {
                workflow_id: &workflow_id,
                task_id: &task_id,
                task_type: "plan",
                attempt: 1,
                risk_tier: "low",
            }
            .emit();
            count("step_start");
            let args = serde_json::json!({"path": format!("/data/{w}/{t}"), "options": {"dry_run": true}});
            ToolCall {
                workflow_id: &workflow_id,
                task_id: &task_id,
                tool_name: "fs.read",
                args: &args,
            }
            .emit();
            count("tool_call");
            CrvResult {
                workflow_id: &workflow_id,
                task_id: &task_id,
                gate_name: "schema",
                passed: !blocked,
                blocked,
                failure_code: blocked.then_some("E_SCHEMA"),
            }
            .emit();
            count("crv_result");
            PolicyCheck {
                workflow_id: &workflow_id,
                task_id: &task_id,
                allowed: !denied,
                requires_human_approval: denied,
                reason: if denied { "needs approval" } else { "ok" },
            }
            .emit();
            count("policy_check");
            StepEnd {
                workflow_id: &workflow_id,
                task_id: &task_id,
                task_type: "plan",
                success: !blocked,
                duration_ms: 10 + (w * 7 + t * 13) as u64 % 400,
                error: blocked.then_some("gate blocked"),
            }
            .emit();
            count("step_end");
            if blocked {
                Rollback {
                    workflow_id: &workflow_id,
                    task_id: &task_id,
                    snapshot_id: "snap-0",
                    reason: "gate blocked",
                }
                .emit();
                count("rollback");
            } else {
                SnapshotCommit {
                    workflow_id: &workflow_id,
                    task_id: &task_id,
                    snapshot_id: &format!("snap-{t}"),
                }
                .emit();
                count("snapshot_commit");
            }
            all_tasks.push(Task {
                workflow_id: workflow_id.clone(),
                task_id,
                correlation_id: correlation_id.clone(),
                blocked,
                denied,
            });
        }
    }
    emitted.tasks = all_tasks;
    emitted.spans = spans;
    emitted
}
