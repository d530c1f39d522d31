//! One run — every stored record of one correlation id — as a waterfall:
//! the rows the dashboard's run view (`/monitoring#run=<id>`) draws, served
//! at `GET /api/monitoring/runs/{correlation_id}`.
//!
//! Rows, oldest first:
//! - `step`: a `step_start` and the next `step_end` of the same
//!   (workflow_id, task_id), from one to the other; a `step_end` without
//!   its start spans the `duration_ms` it reports, ending at the record; a
//!   start without an end is `running`;
//! - `llm`: an `llm_prompt` and the next `llm_response` of the same model;
//!   a response without its prompt spans its `duration_ms` when it has one;
//!   shows `model`, `input_tokens`, `output_tokens` and `cost_usd` when present;
//! - `tool`, `crv`, `policy`, `snapshot`, `rollback`, `artifact`: one record
//!   each, at its time (with a width when it carries `duration_ms`);
//! - `event`: any other record of the run (custom events, logs).
//!
//! Status: `failed` for a failed step (`success = false`), a failed LLM call
//! (an `llm_response` with `error_type`), a blocking CRV
//! gate, a denied policy check, a rollback or any record at level ERROR;
//! `warn` for a CRV gate that did not pass without blocking, a policy check
//! that needed human approval, or a record at level WARN; `running` for a
//! step or LLM call not (yet) ended; else `ok`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::trace_url;
use crate::event::{fields, usage};
use crate::record::{Record, Value};
use crate::store::{EventQuery, EventStore};

/// Most records one run view reads (the newest ones when a run has more).
pub(crate) const MAX_RUN_RECORDS: usize = 10_000;

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Warn,
    Failed,
    Running,
}

/// What a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RowKind {
    Step,
    Llm,
    Artifact,
    Tool,
    Crv,
    Policy,
    Snapshot,
    Rollback,
    Event,
}

/// One bar of the waterfall. Times are epoch / offset milliseconds with
/// microsecond precision.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Row {
    pub(crate) kind: RowKind,
    pub(crate) status: Status,
    /// The `event_type` of the record that ended the row (or its only record).
    pub(crate) event_type: String,
    /// Short title, e.g. `plan t01 (attempt 2)`, `db.query`, `safety_scan`.
    pub(crate) label: String,
    /// One line of detail: the error, reason, failure code, …
    pub(crate) detail: String,
    /// Start, epoch milliseconds.
    pub(crate) start_ms: f64,
    /// Start, milliseconds after the run's start.
    pub(crate) offset_ms: f64,
    /// Width in milliseconds; `None` for an instant (or an unfinished row).
    pub(crate) duration_ms: Option<f64>,
    /// 1 inside a step of the same task (or, without a task id, inside a step's time), else 0.
    pub(crate) depth: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) workflow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) task_id: Option<String>,
    /// The duration the record itself reports (`duration_ms`), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reported_duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "json_opt_count")]
    pub(crate) input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "json_opt_count")]
    pub(crate) output_tokens: Option<u64>,
    /// US dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace_id: Option<String>,
}

/// Sums over the run's LLM calls.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Totals {
    pub(crate) steps: u64,
    pub(crate) failed_steps: u64,
    pub(crate) llm_calls: u64,
    pub(crate) tool_calls: u64,
    /// Saturating sum (a decimal string beyond 2^53 − 1).
    #[serde(serialize_with = "json_count")]
    pub(crate) input_tokens: u64,
    /// Saturating sum (a decimal string beyond 2^53 − 1).
    #[serde(serialize_with = "json_count")]
    pub(crate) output_tokens: u64,
    /// US dollars, over the calls that reported a cost.
    pub(crate) cost_usd: f64,
}

/// The run of one correlation id.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunView {
    pub(crate) correlation_id: String,
    /// Earliest row start, epoch milliseconds.
    pub(crate) start_ms: f64,
    /// Latest row end, epoch milliseconds.
    pub(crate) end_ms: f64,
    pub(crate) duration_ms: f64,
    /// Records read.
    pub(crate) records: usize,
    /// More records than [`MAX_RUN_RECORDS`] were stored: only the newest were read.
    pub(crate) truncated: bool,
    /// Some row failed.
    pub(crate) failed: bool,
    /// Rows that failed.
    pub(crate) failures: usize,
    /// Distinct `workflow_id` values, in order of appearance.
    pub(crate) workflow_ids: Vec<String>,
    /// The first trace id of the run (32 lowercase hex digits).
    pub(crate) trace_id: Option<String>,
    /// Every distinct trace id, in order of appearance.
    pub(crate) trace_ids: Vec<String>,
    /// `monitoring.trace_url_template` filled with `trace_id`, when both exist.
    pub(crate) trace_url: Option<String>,
    pub(crate) totals: Totals,
    pub(crate) rows: Vec<Row>,
}

fn epoch_ms(at: SystemTime) -> f64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as f64 / 1000.0,
        Err(_) => 0.0,
    }
}

fn text(record: &Record, name: &str) -> Option<String> {
    record.str_field(name).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn flag(record: &Record, name: &str) -> Option<bool> {
    record.field(name).and_then(|v| v.as_bool())
}

fn number(record: &Record, name: &str) -> Option<f64> {
    record.field(name).and_then(|v| v.as_f64()).filter(|v| v.is_finite())
}

/// A non-negative count, exact for integer fields (no detour through `f64`,
/// which rounds beyond 2^53); floats and numeric strings are rounded.
fn count(record: &Record, name: &str) -> Option<u64> {
    match record.field(name)? {
        Value::U64(v) => Some(v),
        Value::I64(v) => u64::try_from(v).ok(),
        Value::Str(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
        _ => number(record, name).filter(|v| *v >= 0.0).map(|v| v.round() as u64),
    }
}

/// A count as JSON: a number up to 2^53 − 1, beyond that its exact decimal
/// text (a JSON number would be rounded by JavaScript and `jq`).
fn json_count<S: serde::Serializer>(count: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&Value::U64(*count), serializer)
}

/// [`json_count`] for an optional count (skipped when `None`).
fn json_opt_count<S: serde::Serializer>(count: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
    match count {
        Some(count) => json_count(count, serializer),
        None => serializer.serialize_none(),
    }
}

/// ERROR → failed, WARN → warn, else `status`.
fn by_level(record: &Record, status: Status) -> Status {
    match record.level {
        tracing::Level::ERROR => Status::Failed,
        tracing::Level::WARN if status == Status::Ok => Status::Warn,
        _ => status,
    }
}

fn join(parts: impl IntoIterator<Item = Option<String>>) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(" · ")
}

/// A row for one record at its own time.
fn row(record: &Record, kind: RowKind, status: Status, label: String, detail: String) -> Row {
    let at = epoch_ms(record.timestamp);
    let reported = number(record, fields::DURATION_MS).filter(|d| *d >= 0.0);
    Row {
        kind,
        status: by_level(record, status),
        event_type: record.event_type().unwrap_or("log").to_owned(),
        label,
        detail,
        // A record that reports how long it took ends at its own time.
        start_ms: at - reported.unwrap_or(0.0),
        offset_ms: 0.0,
        duration_ms: reported,
        depth: 0,
        workflow_id: text(record, fields::WORKFLOW_ID),
        task_id: text(record, fields::TASK_ID),
        reported_duration_ms: reported,
        model: None,
        input_tokens: None,
        output_tokens: None,
        cost_usd: None,
        trace_id: record.trace_id.map(|id| format!("{id:032x}")),
    }
}

fn step_label(record: &Record) -> String {
    let task_type = text(record, fields::TASK_TYPE);
    let task_id = text(record, fields::TASK_ID);
    let mut label = match (task_type, task_id) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        (Some(t), None) => t,
        (None, Some(id)) => id,
        (None, None) => "step".to_owned(),
    };
    if let Some(attempt) = count(record, fields::ATTEMPT) {
        label.push_str(&format!(" (attempt {attempt})"));
    }
    label
}

/// Builds rows from the records of one run, oldest first.
#[derive(Default)]
struct Builder {
    rows: Vec<Row>,
    /// Open steps: (workflow_id, task_id, row index).
    open_steps: Vec<(Option<String>, Option<String>, usize)>,
    /// Open LLM calls: (model, row index).
    open_llm: Vec<(Option<String>, usize)>,
    totals: Totals,
}

impl Builder {
    fn add(&mut self, record: &Record) {
        match record.event_type().unwrap_or("") {
            "step_start" => self.step_start(record),
            "step_end" => self.step_end(record),
            "llm_prompt" => {
                let model = text(record, fields::MODEL);
                let mut r = row(
                    record,
                    RowKind::Llm,
                    Status::Running,
                    model
                        .clone()
                        .map_or_else(|| "LLM call".to_owned(), |m| format!("LLM {m}")),
                    join([count(record, fields::PROMPT_LENGTH).map(|n| format!("prompt {n} chars"))]),
                );
                r.model = model.clone();
                self.open_llm.push((model, self.rows.len()));
                self.rows.push(r);
            }
            "llm_response" => self.llm_response(record),
            "llm_artifact_generated" => {
                let label = join([text(record, fields::ARTIFACT_TYPE), text(record, fields::ARTIFACT_ID)]);
                let r = row(
                    record,
                    RowKind::Artifact,
                    Status::Ok,
                    label,
                    join([text(record, fields::MODEL)]),
                );
                self.rows.push(r);
            }
            "tool_call" => {
                self.totals.tool_calls += 1;
                let failed = flag(record, fields::SUCCESS) == Some(false);
                let status = if failed { Status::Failed } else { Status::Ok };
                let label = text(record, fields::TOOL_NAME).unwrap_or_else(|| "tool call".to_owned());
                let detail = join([
                    text(record, fields::ERROR),
                    text(record, "call_id").map(|id| format!("call {id}")),
                ]);
                self.rows.push(row(record, RowKind::Tool, status, label, detail));
            }
            "crv_result" => {
                let status = match (flag(record, fields::BLOCKED), flag(record, fields::PASSED)) {
                    (Some(true), _) => Status::Failed,
                    (_, Some(false)) => Status::Warn,
                    _ => Status::Ok,
                };
                let outcome = match status {
                    Status::Failed => "blocked",
                    Status::Warn => "not passed",
                    _ => "passed",
                };
                let label = text(record, fields::GATE_NAME).unwrap_or_else(|| "CRV gate".to_owned());
                let detail = join([Some(outcome.to_owned()), text(record, fields::FAILURE_CODE)]);
                self.rows.push(row(record, RowKind::Crv, status, label, detail));
            }
            "policy_check" => {
                let escalated = flag(record, fields::REQUIRES_HUMAN_APPROVAL) == Some(true);
                let (status, outcome) = match (flag(record, fields::ALLOWED), escalated) {
                    (Some(false), _) => (Status::Failed, "denied"),
                    (_, true) => (Status::Warn, "allowed after human approval"),
                    _ => (Status::Ok, "allowed"),
                };
                let detail = join([Some(outcome.to_owned()), text(record, fields::REASON)]);
                self.rows
                    .push(row(record, RowKind::Policy, status, "policy check".to_owned(), detail));
            }
            "snapshot_commit" => {
                let label = text(record, fields::SNAPSHOT_ID).unwrap_or_else(|| "snapshot".to_owned());
                self.rows
                    .push(row(record, RowKind::Snapshot, Status::Ok, label, String::new()));
            }
            "rollback" => {
                let label = text(record, fields::SNAPSHOT_ID)
                    .map_or_else(|| "rollback".to_owned(), |id| format!("rollback to {id}"));
                let detail = join([text(record, fields::REASON)]);
                self.rows
                    .push(row(record, RowKind::Rollback, Status::Failed, label, detail));
            }
            other => {
                let label = if other.is_empty() {
                    record.target.to_owned()
                } else {
                    other.to_owned()
                };
                let detail = join([text(record, "name"), record.message().map(str::to_owned)]);
                self.rows.push(row(record, RowKind::Event, Status::Ok, label, detail));
            }
        }
    }

    fn step_start(&mut self, record: &Record) {
        let mut r = row(
            record,
            RowKind::Step,
            Status::Running,
            step_label(record),
            String::new(),
        );
        r.duration_ms = None;
        r.start_ms = epoch_ms(record.timestamp);
        let key = (r.workflow_id.clone(), r.task_id.clone());
        self.open_steps.push((key.0, key.1, self.rows.len()));
        self.rows.push(r);
    }

    fn step_end(&mut self, record: &Record) {
        self.totals.steps += 1;
        let success = flag(record, fields::SUCCESS);
        if success == Some(false) {
            self.totals.failed_steps += 1;
        }
        let status = if success == Some(false) {
            Status::Failed
        } else {
            Status::Ok
        };
        let (workflow_id, task_id) = (text(record, fields::WORKFLOW_ID), text(record, fields::TASK_ID));
        let reported = number(record, fields::DURATION_MS).filter(|d| *d >= 0.0);
        let detail = join([
            text(record, fields::ERROR),
            reported.map(|ms| format!("reported {ms} ms")),
        ]);
        let open = self
            .open_steps
            .iter()
            .rposition(|(w, t, _)| *w == workflow_id && *t == task_id);
        match open {
            Some(position) => {
                let (_, _, index) = self.open_steps.remove(position);
                let at = epoch_ms(record.timestamp);
                let r = &mut self.rows[index];
                r.status = by_level(record, status);
                r.event_type = "step_end".to_owned();
                r.detail = detail;
                r.duration_ms = Some((at - r.start_ms).max(0.0));
                r.reported_duration_ms = reported;
                if r.trace_id.is_none() {
                    r.trace_id = record.trace_id.map(|id| format!("{id:032x}"));
                }
            }
            None => self
                .rows
                .push(row(record, RowKind::Step, status, step_label(record), detail)),
        }
    }

    fn llm_response(&mut self, record: &Record) {
        self.totals.llm_calls += 1;
        let model = text(record, fields::MODEL);
        // The one rule the metrics and the summary read these fields by: a
        // value they refuse (a negative cost, say) is not shown or summed here either.
        let (input, output, cost) = (
            usage::token_count(record, fields::INPUT_TOKENS).ok().flatten(),
            usage::token_count(record, fields::OUTPUT_TOKENS).ok().flatten(),
            usage::amount(record, fields::COST_USD).ok().flatten(),
        );
        // Counts come from user fields: a sum past u64::MAX saturates, never wraps or panics.
        self.totals.input_tokens = self.totals.input_tokens.saturating_add(input.unwrap_or(0));
        self.totals.output_tokens = self.totals.output_tokens.saturating_add(output.unwrap_or(0));
        self.totals.cost_usd += cost.unwrap_or(0.0);
        // A failed call (`error_type`, as `ChatCall::fail` writes it) is a failure of the run.
        let error = usage::error_type(record);
        let status = if error.is_some() { Status::Failed } else { Status::Ok };
        let detail = join([
            error.map(|e| format!("error {e}")),
            count(record, fields::RESPONSE_LENGTH).map(|n| format!("response {n} chars")),
            text(record, "finish_reason").map(|r| format!("finish {r}")),
            text(record, "provider"),
        ]);
        let open = self.open_llm.iter().rposition(|(m, _)| model.is_none() || *m == model);
        let r = match open {
            Some(position) => {
                let (_, index) = self.open_llm.remove(position);
                let at = epoch_ms(record.timestamp);
                let r = &mut self.rows[index];
                r.status = by_level(record, status);
                r.event_type = "llm_response".to_owned();
                r.duration_ms = Some((at - r.start_ms).max(0.0));
                r.reported_duration_ms = number(record, fields::DURATION_MS).filter(|d| *d >= 0.0);
                r.detail = join([
                    Some(std::mem::take(&mut r.detail)).filter(|d| !d.is_empty()),
                    Some(detail),
                ]);
                r
            }
            None => {
                let label = model
                    .clone()
                    .map_or_else(|| "LLM call".to_owned(), |m| format!("LLM {m}"));
                self.rows.push(row(record, RowKind::Llm, status, label, detail));
                let last = self.rows.len() - 1;
                &mut self.rows[last]
            }
        };
        r.model = model.or(r.model.take());
        r.input_tokens = input;
        r.output_tokens = output;
        r.cost_usd = cost;
    }

    fn finish(
        mut self,
        correlation_id: &str,
        records: &[Arc<Record>],
        truncated: bool,
        template: Option<&str>,
    ) -> RunView {
        let rows = &mut self.rows;
        rows.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let start_ms = rows.iter().map(|r| r.start_ms).fold(f64::INFINITY, f64::min);
        let end_ms = rows
            .iter()
            .map(|r| r.start_ms + r.duration_ms.unwrap_or(0.0))
            .fold(f64::NEG_INFINITY, f64::max);
        let steps: Vec<(Option<String>, Option<String>, f64, f64)> = rows
            .iter()
            .filter(|r| r.kind == RowKind::Step)
            .map(|r| {
                let end = r.start_ms + r.duration_ms.unwrap_or(0.0);
                (r.workflow_id.clone(), r.task_id.clone(), r.start_ms, end)
            })
            .collect();
        for r in rows.iter_mut() {
            r.offset_ms = r.start_ms - start_ms;
            if r.kind == RowKind::Step {
                continue;
            }
            let inside = |(w, t, s, e): &(Option<String>, Option<String>, f64, f64)| {
                let same_task =
                    r.task_id.is_some() && *t == r.task_id && (r.workflow_id.is_none() || *w == r.workflow_id);
                let during = r.start_ms >= *s && r.start_ms <= *e;
                same_task || (r.task_id.is_none() && during)
            };
            if steps.iter().any(inside) {
                r.depth = 1;
            }
        }
        let mut workflow_ids: Vec<String> = Vec::new();
        let mut trace_ids: Vec<String> = Vec::new();
        for record in records {
            if let Some(w) = record.str_field(fields::WORKFLOW_ID) {
                if !workflow_ids.iter().any(|x| x == w) {
                    workflow_ids.push(w.to_owned());
                }
            }
            if let Some(id) = record.trace_id {
                let id = format!("{id:032x}");
                if !trace_ids.contains(&id) {
                    trace_ids.push(id);
                }
            }
        }
        let trace_id = trace_ids.first().cloned();
        let failures = rows.iter().filter(|r| r.status == Status::Failed).count();
        RunView {
            correlation_id: correlation_id.to_owned(),
            start_ms,
            end_ms,
            duration_ms: (end_ms - start_ms).max(0.0),
            records: records.len(),
            truncated,
            failed: failures > 0,
            failures,
            workflow_ids,
            trace_url: trace_id.as_deref().zip(template).map(|(id, t)| trace_url(t, id)),
            trace_id,
            trace_ids,
            totals: self.totals,
            rows: self.rows,
        }
    }
}

/// The run of `correlation_id` from `store`, with the trace link filled
/// from `template` (already checked); `None` when no record has that id.
pub(crate) fn build(store: &EventStore, correlation_id: &str, template: Option<&str>) -> Option<RunView> {
    let mut records = store.query(&EventQuery {
        correlation_id: Some(correlation_id.to_owned()),
        limit: MAX_RUN_RECORDS + 1,
        ..Default::default()
    });
    if records.is_empty() {
        return None;
    }
    let truncated = records.len() > MAX_RUN_RECORDS;
    records.truncate(MAX_RUN_RECORDS);
    records.reverse(); // oldest first
    let mut builder = Builder::default();
    for record in &records {
        builder.add(record);
    }
    Some(builder.finish(correlation_id, &records, truncated, template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;
    use std::time::Duration;

    struct Run {
        store: EventStore,
        t0: SystemTime,
    }

    impl Run {
        fn new() -> Self {
            // Whole milliseconds: offsets come out exact.
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            Run {
                store: EventStore::new(1000, 1 << 20),
                t0: UNIX_EPOCH + Duration::from_millis(now_ms - 60_000),
            }
        }

        fn at(&self, ms: u64, corr: &str, level: tracing::Level, kind: &str, f: &[(&'static str, Value<'_>)]) {
            let mut r = Record::new(level, "aureus");
            r.timestamp = self.t0 + Duration::from_millis(ms);
            r.set_event_type(kind);
            r.set_correlation_id(&crate::CorrelationId::new(corr).unwrap());
            r.trace_id = Some(0x4bf92f3577b34da6a3ce929d0e0e4736);
            for (name, value) in f {
                r.push_field(name, *value);
            }
            self.store.insert(&[Arc::new(r)]);
        }

        fn ev(&self, ms: u64, kind: &str, f: &[(&'static str, Value<'_>)]) {
            self.at(ms, "run-1", tracing::Level::INFO, kind, f);
        }
    }

    fn task(id: &'static str) -> [(&'static str, Value<'static>); 2] {
        [("workflow_id", Value::Str("wf-1")), ("task_id", Value::Str(id))]
    }

    #[test]
    fn a_workflow_becomes_a_waterfall_with_failures_marked() {
        use Value::*;
        let run = Run::new();
        let t1 = task("t01");
        run.ev(
            0,
            "step_start",
            &[t1[0], t1[1], ("task_type", Str("plan")), ("attempt", U64(1))],
        );
        run.ev(
            10,
            "llm_prompt",
            &[("model", Str("m-large")), ("prompt_length", U64(120))],
        );
        run.ev(
            250,
            "llm_response",
            &[
                ("model", Str("m-large")),
                ("input_tokens", U64(1200)),
                ("output_tokens", U64(340)),
                ("cost_usd", F64(0.0123)),
            ],
        );
        run.ev(260, "tool_call", &[t1[0], t1[1], ("tool_name", Str("kv.get"))]);
        run.ev(
            300,
            "crv_result",
            &[
                t1[0],
                t1[1],
                ("gate_name", Str("safety_scan")),
                ("passed", Bool(false)),
                ("blocked", Bool(true)),
                ("failure_code", Str("UNSAFE_CONTENT")),
            ],
        );
        run.ev(
            310,
            "step_end",
            &[
                t1[0],
                t1[1],
                ("task_type", Str("plan")),
                ("success", Bool(false)),
                ("duration_ms", F64(310.0)),
                ("error", Str("CRV gate blocked")),
            ],
        );
        run.ev(
            320,
            "rollback",
            &[
                t1[0],
                t1[1],
                ("snapshot_id", Str("snap-0")),
                ("reason", Str("CRV gate blocked")),
            ],
        );
        run.ev(
            400,
            "step_start",
            &[t1[0], t1[1], ("task_type", Str("plan")), ("attempt", U64(2))],
        );
        run.ev(
            420,
            "policy_check",
            &[
                t1[0],
                t1[1],
                ("allowed", Bool(true)),
                ("requires_human_approval", Bool(true)),
                ("reason", Str("approved")),
            ],
        );
        run.ev(430, "snapshot_commit", &[t1[0], t1[1], ("snapshot_id", Str("snap-1"))]);
        run.ev(
            500,
            "step_end",
            &[
                t1[0],
                t1[1],
                ("task_type", Str("plan")),
                ("success", Bool(true)),
                ("duration_ms", F64(100.0)),
            ],
        );
        // A step whose start was evicted: its reported duration places it.
        run.ev(
            2_000,
            "step_end",
            &[
                ("workflow_id", Str("wf-1")),
                ("task_id", Str("t02")),
                ("success", Bool(true)),
                ("duration_ms", F64(700.0)),
            ],
        );
        run.at(
            2_100,
            "run-1",
            tracing::Level::ERROR,
            "custom",
            &[("name", Str("oops"))],
        );
        run.at(50, "other-run", tracing::Level::INFO, "step_start", &[]);

        let view = build(&run.store, "run-1", Some("http://jaeger:16686/trace/{trace_id}")).unwrap();
        let kinds: Vec<RowKind> = view.rows.iter().map(|r| r.kind).collect();
        use RowKind::*;
        assert_eq!(
            kinds,
            [Step, Llm, Tool, Crv, Rollback, Step, Policy, Snapshot, Step, Event]
        );
        assert_eq!(view.records, 13);
        let first = &view.rows[0];
        assert_eq!(first.label, "plan t01 (attempt 1)");
        assert_eq!(
            (first.status, first.offset_ms, first.duration_ms),
            (Status::Failed, 0.0, Some(310.0))
        );
        assert_eq!(first.detail, "CRV gate blocked · reported 310 ms");
        let llm = &view.rows[1];
        assert_eq!((llm.offset_ms, llm.duration_ms, llm.depth), (10.0, Some(240.0), 1));
        assert_eq!(
            (llm.input_tokens, llm.output_tokens, llm.cost_usd),
            (Some(1200), Some(340), Some(0.0123))
        );
        assert_eq!(llm.model.as_deref(), Some("m-large"));
        assert_eq!(view.rows[3].status, Status::Failed);
        assert!(view.rows[3].detail.contains("UNSAFE_CONTENT"));
        assert_eq!(view.rows[4].label, "rollback to snap-0");
        assert_eq!(view.rows[4].status, Status::Failed);
        assert_eq!(view.rows[6].status, Status::Warn);
        assert_eq!(view.rows[7].status, Status::Ok);
        let evicted_start = &view.rows[8];
        assert_eq!(
            (evicted_start.offset_ms, evicted_start.duration_ms),
            (1_300.0, Some(700.0))
        );
        assert_eq!(view.rows[9].status, Status::Failed);
        assert!(view
            .rows
            .iter()
            .filter(|r| r.kind != Step && r.kind != Event)
            .all(|r| r.depth == 1));
        assert_eq!(view.duration_ms, 2_100.0);
        assert_eq!(view.failures, 4);
        assert!(view.failed && !view.truncated);
        assert_eq!(view.workflow_ids, ["wf-1"]);
        assert_eq!(view.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(
            view.trace_url.as_deref(),
            Some("http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(view.totals.llm_calls, 1);
        assert_eq!((view.totals.input_tokens, view.totals.output_tokens), (1200, 340));
        assert_eq!((view.totals.steps, view.totals.failed_steps), (3, 1));

        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["rows"][1]["kind"], "llm");
        assert_eq!(json["rows"][1]["inputTokens"], 1200);
        assert_eq!(json["rows"][0]["status"], "failed");
        assert!(json["rows"][2].get("inputTokens").is_none());

        assert!(build(&run.store, "nobody", None).is_none());
        let untemplated = build(&run.store, "run-1", None).unwrap();
        assert!(untemplated.trace_url.is_none() && untemplated.trace_id.is_some());
    }

    #[test]
    fn failed_llm_calls_are_marked_failed() {
        use Value::*;
        let run = Run::new();
        run.ev(0, "llm_prompt", &[("model", Str("m"))]);
        run.ev(
            10,
            "llm_response",
            &[("model", Str("m")), ("error_type", Str("timeout"))],
        );
        run.ev(20, "llm_response", &[("model", Str("m")), ("error_type", U64(500))]);
        run.ev(30, "llm_response", &[("model", Str("m")), ("input_tokens", U64(3))]);
        let view = build(&run.store, "run-1", None).unwrap();
        let statuses: Vec<Status> = view.rows.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Status::Failed, Status::Failed, Status::Ok]);
        assert!(view.rows[0].detail.contains("error timeout"), "{:?}", view.rows[0]);
        assert!(view.rows[1].detail.contains("error 500"), "{:?}", view.rows[1]);
        assert_eq!((view.failed, view.failures), (true, 2));
    }

    #[test]
    fn refused_costs_are_neither_shown_nor_summed() {
        use Value::*;
        let run = Run::new();
        for cost in [F64(-1.0), F64(f64::INFINITY), Str("NaN"), F64(0.25)] {
            run.ev(0, "llm_response", &[("model", Str("m")), ("cost_usd", cost)]);
        }
        let view = build(&run.store, "run-1", None).unwrap();
        let costs: Vec<Option<f64>> = view.rows.iter().map(|r| r.cost_usd).collect();
        assert_eq!(costs, [None, None, None, Some(0.25)]);
        assert_eq!(view.totals.cost_usd, 0.25);
    }

    #[test]
    fn unfinished_steps_and_calls_are_running() {
        let run = Run::new();
        run.ev(0, "step_start", &task("t01"));
        run.ev(5, "llm_prompt", &[]);
        let view = build(&run.store, "run-1", None).unwrap();
        assert!(view
            .rows
            .iter()
            .all(|r| r.status == Status::Running && r.duration_ms.is_none()));
        assert!(!view.failed);
    }
}
