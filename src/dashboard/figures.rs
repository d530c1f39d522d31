//! The figures the dashboard shows, from this process or from Prometheus.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::alerts::PrometheusApi;
use crate::event::fields;
use crate::metrics::{MetricsHandle, Summary, SummaryEvent, SummaryWindow};
use crate::record::Record;
use crate::store::{EventQuery, EventStore};

/// One point of the dashboard's charts: the step_end records of one bucket.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Start of the bucket, epoch milliseconds.
    pub t: u64,
    /// Successful / all step_end in the bucket.
    pub success_rate: Option<f64>,
    /// Median step duration (ms).
    pub p50: Option<f64>,
    /// 90th percentile (ms).
    pub p90: Option<f64>,
    /// 99th percentile (ms).
    pub p99: Option<f64>,
    /// step_end events in the bucket.
    pub count: u64,
    /// One run that ended a step in this bucket, to open from the chart:
    /// the slowest failed step, else the slowest step (only steps that
    /// carry a correlation id; absent when none does, and from Prometheus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemplar: Option<Exemplar>,
}

/// The run behind a chart point: the step_end record it was picked from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemplar {
    /// The record's correlation id (opens `/monitoring#run=<id>`).
    pub correlation_id: String,
    /// W3C trace id (32 lowercase hex digits), when the record had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// `workflow_id` field, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// `task_id` field, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// `duration_ms` field (milliseconds), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// `success` field.
    pub success: bool,
    /// When the step ended, epoch milliseconds.
    pub timestamp_ms: u64,
}

/// Chart points and the width of their buckets.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// Oldest first; consecutive points are one bucket apart.
    pub points: Vec<Point>,
    /// Width of one bucket, in milliseconds.
    pub bucket_ms: u64,
}

/// The widths a local chart bucket may take, in milliseconds: round steps
/// from 1 s to 1 day, so bucket starts fall on round times.
const BUCKET_WIDTHS_MS: [u64; 18] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/// Where a chart's buckets lie: `count` buckets of `width_ms` from `start_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buckets {
    /// Start of the first bucket, epoch milliseconds.
    pub(crate) start_ms: u64,
    /// Width of each bucket, milliseconds (at least 1).
    pub(crate) width_ms: u64,
    /// How many buckets (from 1 to the `max_points` asked for).
    pub(crate) count: usize,
}

impl Buckets {
    /// The index of the bucket holding `at_ms` (clamped to the buckets).
    pub(crate) fn index(&self, at_ms: u64) -> usize {
        let offset = at_ms.saturating_sub(self.start_ms) / self.width_ms;
        (offset as usize).min(self.count - 1)
    }
}

/// Chooses the buckets of a chart over the last `range_ms` before `now_ms`
/// whose oldest data point is at `oldest_ms` (`None`: no data).
///
/// The buckets run from the oldest data point (or the start of the range,
/// with no data) to now, never more than `max_points` of them: the width is
/// the smallest of [`BUCKET_WIDTHS_MS`] that covers that span in
/// `max_points` buckets, each starting at a multiple of the width. So a
/// chart of a 1-hour range over 5 s of data has 1 s buckets (several
/// points, not one lone point in a minute-wide bucket), and the buckets
/// widen as data accumulates, up to what the whole range needs. When even
/// a day per bucket is too narrow (a long range and few points) the width
/// is the span divided by `max_points`, in whole seconds.
pub(crate) fn choose_buckets(now_ms: u64, range_ms: u64, oldest_ms: Option<u64>, max_points: usize) -> Buckets {
    let max_points = max_points.max(1) as u64;
    let range_start = now_ms.saturating_sub(range_ms);
    let from = oldest_ms.map_or(range_start, |t| t.clamp(range_start, now_ms));
    for &width_ms in &BUCKET_WIDTHS_MS {
        let start_ms = from / width_ms * width_ms;
        let count = (now_ms - start_ms) / width_ms + 1;
        if count <= max_points {
            return Buckets {
                start_ms,
                width_ms,
                count: count as usize,
            };
        }
    }
    let span = now_ms - from + 1;
    let width_ms = span.div_ceil(max_points).div_ceil(1_000) * 1_000;
    Buckets {
        start_ms: from,
        width_ms,
        count: span.div_ceil(width_ms) as usize,
    }
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Summary from this process: the sliding window, or (per workflow) the event store.
pub(crate) fn local_summary(
    metrics: &MetricsHandle,
    store: Option<&EventStore>,
    window: Duration,
    task_type: Option<&str>,
    workflow_id: Option<&str>,
) -> Summary {
    let Some(workflow_id) = workflow_id else {
        return metrics.summary(window, task_type);
    };
    workflow_summary(store, window, task_type, workflow_id)
}

/// The stored records of `workflow_id` in the window, oldest first — those
/// carrying its `workflow_id`, and the `llm_response` records of its runs
/// (the correlation ids of those records) that carry no `workflow_id` of
/// their own: an LLM call's event has no workflow field (the typed helpers
/// and `ChatCall` write none), so its cost belongs to the workflow by its run.
fn workflow_records(store: &EventStore, window: Duration, workflow_id: &str) -> Vec<Arc<Record>> {
    let start = SystemTime::now().checked_sub(window);
    let mut records = store.query(&EventQuery {
        workflow_id: Some(workflow_id.to_owned()),
        start,
        ..Default::default()
    });
    records.reverse(); // oldest first; the sort below keeps ties in this order
    let runs: std::collections::HashSet<&str> = records.iter().filter_map(|r| r.correlation_id()).collect();
    if !runs.is_empty() {
        let calls = store.query(&EventQuery {
            event_type: Some("llm_response".to_owned()),
            start,
            ..Default::default()
        });
        let of_these_runs: Vec<Arc<Record>> = calls
            .into_iter()
            .rev()
            .filter(|r| r.str_field(fields::WORKFLOW_ID).is_none())
            .filter(|r| r.correlation_id().is_some_and(|id| runs.contains(id)))
            .collect();
        records.extend(of_these_runs);
    }
    records.sort_by_key(|r| r.timestamp);
    records
}

/// Per workflow: the stored records of that workflow replayed into a fresh window.
fn workflow_summary(
    store: Option<&EventStore>,
    window: Duration,
    task_type: Option<&str>,
    workflow_id: &str,
) -> Summary {
    let replay = SummaryWindow::new(window.max(Duration::from_secs(1)), Duration::from_secs(1));
    if let Some(store) = store {
        for record in workflow_records(store, window, workflow_id) {
            let flag = |name: &str| record.field(name).and_then(|v| v.as_bool()).unwrap_or(false);
            let event = match record.event_type() {
                Some("step_end") => SummaryEvent::StepEnd {
                    workflow_id,
                    task_id: record.str_field(fields::TASK_ID).unwrap_or(""),
                    task_type: record.str_field(fields::TASK_TYPE).unwrap_or("unknown"),
                    success: flag(fields::SUCCESS),
                    duration_ms: record
                        .field(fields::DURATION_MS)
                        .and_then(|v| v.as_f64())
                        .unwrap_or(0.0),
                },
                Some("policy_check") => SummaryEvent::PolicyCheck {
                    allowed: flag(fields::ALLOWED),
                    requires_human_approval: flag(fields::REQUIRES_HUMAN_APPROVAL),
                },
                Some("crv_result") => SummaryEvent::CrvResult {
                    blocked: flag(fields::BLOCKED),
                },
                Some("rollback") => SummaryEvent::Rollback,
                Some("llm_response") => match record.field(fields::COST_USD).and_then(|v| v.as_f64()) {
                    Some(cost_usd) => SummaryEvent::LlmCost { cost_usd },
                    None => SummaryEvent::Other,
                },
                _ => SummaryEvent::Other,
            };
            replay.record_at(event, record.timestamp);
        }
    }
    replay.summary(window, task_type)
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// One bucket while it is filled.
#[derive(Default)]
struct Bucket {
    successes: u64,
    total: u64,
    durations: Vec<f64>,
    /// `(failed, duration, record)` of the best exemplar so far.
    exemplar: Option<(bool, f64, Arc<Record>)>,
}

impl Bucket {
    fn add(&mut self, record: &Arc<Record>) {
        self.total += 1;
        let success = record.field(fields::SUCCESS).and_then(|v| v.as_bool()) == Some(true);
        if success {
            self.successes += 1;
        }
        let duration = step_time(record);
        if let Some(ms) = duration {
            self.durations.push(ms);
        }
        if record.correlation_id().is_some() {
            // A failed step beats any successful one; then the slowest.
            let rank = (!success, duration.unwrap_or(0.0));
            let better = self
                .exemplar
                .as_ref()
                .is_none_or(|(failed, ms, _)| (rank.0, rank.1) > (*failed, *ms));
            if better {
                self.exemplar = Some((rank.0, rank.1, Arc::clone(record)));
            }
        }
    }

    fn into_point(mut self, t: u64) -> Point {
        self.durations.sort_by(f64::total_cmp);
        Point {
            t,
            success_rate: (self.total > 0).then(|| self.successes as f64 / self.total as f64),
            p50: percentile(&self.durations, 0.5),
            p90: percentile(&self.durations, 0.9),
            p99: percentile(&self.durations, 0.99),
            count: self.total,
            exemplar: self.exemplar.map(|(failed, _, record)| exemplar(&record, !failed)),
        }
    }
}

/// The record's `duration_ms` when it is a time: finite and not negative
/// (as for the summary's mean); anything else counts the step, not its time.
fn step_time(record: &Record) -> Option<f64> {
    record
        .field(fields::DURATION_MS)
        .and_then(|v| v.as_f64())
        .filter(|d| d.is_finite() && *d >= 0.0)
}

fn exemplar(record: &Record, success: bool) -> Exemplar {
    let text = |name: &str| record.str_field(name).map(str::to_owned);
    Exemplar {
        correlation_id: record.correlation_id().unwrap_or_default().to_owned(),
        trace_id: record.trace_id.map(|id| format!("{id:032x}")),
        workflow_id: text(fields::WORKFLOW_ID),
        task_id: text(fields::TASK_ID),
        duration_ms: step_time(record),
        success,
        timestamp_ms: epoch_ms(record.timestamp),
    }
}

/// Chart points from the stored step_end records of the last `window`,
/// at most `points` of them (see [`choose_buckets`]).
pub(crate) fn local_timeseries(
    store: Option<&EventStore>,
    window: Duration,
    points: usize,
    workflow_id: Option<&str>,
) -> Series {
    let now = SystemTime::now();
    let start = now.checked_sub(window).unwrap_or(UNIX_EPOCH);
    let records = match store {
        Some(store) => store.query(&EventQuery {
            event_type: Some("step_end".into()),
            workflow_id: workflow_id.map(str::to_owned),
            start: Some(start),
            ..Default::default()
        }),
        None => Vec::new(),
    };
    // Newest first: the oldest is last.
    let oldest = records.iter().map(|r| epoch_ms(r.timestamp)).min();
    let buckets = choose_buckets(epoch_ms(now), window.as_millis() as u64, oldest, points.clamp(1, 500));
    let mut filled: Vec<Bucket> = (0..buckets.count).map(|_| Bucket::default()).collect();
    for record in &records {
        filled[buckets.index(epoch_ms(record.timestamp))].add(record);
    }
    Series {
        points: filled
            .into_iter()
            .enumerate()
            .map(|(i, bucket)| bucket.into_point(buckets.start_ms + i as u64 * buckets.width_ms))
            .collect(),
        bucket_ms: buckets.width_ms,
    }
}

/// Exact growth of counter `selector` over the last `range` across every
/// scraped process (a process younger than the range counts whole).
fn growth(selector: &str, range: &str) -> String {
    format!("(sum({selector}) - (sum({selector} offset {range}) or vector(0)))")
}

/// Summary from a Prometheus server (every kernel it scrapes). MTTR is not
/// available there (it needs per-task history) and reads 0.
pub(crate) fn fleet_summary(api: &PrometheusApi, window: Duration, task_type: Option<&str>) -> Result<Summary, String> {
    let p = &api.prefix;
    let range = crate::alerts::promql::range(window);
    let task = task_type
        .map(|t| format!(",task_type=\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")))
        .unwrap_or_default();
    let count = |selector: String| -> Result<u64, String> {
        Ok(api.scalar(&growth(&selector, &range))?.unwrap_or(0.0).max(0.0).round() as u64)
    };
    let value =
        |selector: String| -> Result<f64, String> { Ok(api.scalar(&growth(&selector, &range))?.unwrap_or(0.0)) };
    let successes = count(format!("{p}_tasks_completed_total{{success=\"true\"{task}}}"))?;
    let failures = count(format!("{p}_tasks_completed_total{{success=\"false\"{task}}}"))?;
    let policy_checks = count(format!("{p}_policy_checks_total"))?;
    let llm_cost_usd = value(format!("{p}_llm_cost_usd_total"))?.max(0.0);
    let escalations = count(format!("{p}_policy_checks_total{{requires_approval=\"true\"}}"))?;
    let success_sum = value(format!("{p}_task_duration_ms_sum{{success=\"true\"{task}}}"))?;
    let step_ends = successes + failures;
    let mut by_type = std::collections::BTreeMap::new();
    let selector = format!("{p}_tasks_completed_total{{__name__!=\"\"{task}}}");
    let by = "sum by (task_type, success)";
    let per_type = api.query(&format!(
        "({by} ({selector}) - {by} ({selector} offset {range})) or {by} ({selector})"
    ));
    if let Ok(serde_json::Value::Array(series)) = per_type {
        let mut totals: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for s in series {
            let name = s["metric"]["task_type"].as_str().unwrap_or("unknown").to_owned();
            let n = s["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                .round() as u64;
            let entry = totals.entry(name).or_default();
            entry.0 += n;
            if s["metric"]["success"] == "true" {
                entry.1 += n;
            }
        }
        for (name, (total, ok)) in totals.into_iter().filter(|(_, (total, _))| *total > 0) {
            by_type.insert(
                name,
                crate::metrics::TaskTypeFigures {
                    total,
                    successes: ok,
                    success_rate: ok as f64 / total as f64,
                    mttr_ms: 0.0,
                    cost_per_success_ms: None,
                },
            );
        }
    }
    Ok(Summary {
        window_ms: window.as_millis() as u64,
        task_type: task_type.map(str::to_owned),
        success_rate: (step_ends > 0).then(|| successes as f64 / step_ends as f64),
        success_rate_by_task_type: by_type,
        mttr_ms: 0.0,
        recoveries: 0,
        escalation_rate: (policy_checks > 0).then(|| escalations as f64 / policy_checks as f64),
        cost_per_success_ms: (successes > 0).then(|| success_sum / successes as f64),
        llm_cost_usd,
        cost_per_success_usd: (successes > 0).then(|| llm_cost_usd / successes as f64),
        step_ends,
        successes,
        failures,
        crv_failures: count(format!("{p}_crv_checks_total{{blocked=\"true\"}}"))?,
        policy_checks,
        policy_denials: count(format!("{p}_policy_checks_total{{allowed=\"false\"}}"))?,
        escalations,
        rollbacks: count(format!("{p}_rollbacks_total"))?,
        events: 0,
    })
}

/// Chart points from a Prometheus server.
pub(crate) fn fleet_timeseries(api: &PrometheusApi, window: Duration, points: usize) -> Result<Series, String> {
    let p = &api.prefix;
    let end = epoch_ms(SystemTime::now()) as f64 / 1000.0;
    let start = end - window.as_secs_f64();
    let step = (window.as_secs_f64() / points.clamp(1, 500) as f64).max(1.0);
    let rate_range = format!("{}s", (step.ceil() as u64).max(60));
    let series = |promql: String| -> Result<std::collections::BTreeMap<u64, f64>, String> {
        let result = api.query_range(&promql, start, end, step)?;
        let mut out = std::collections::BTreeMap::new();
        if let Some(values) = result.get(0).and_then(|s| s["values"].as_array()) {
            for pair in values {
                let t = (pair[0].as_f64().unwrap_or(0.0) * 1000.0) as u64;
                if let Some(v) = pair[1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| v.is_finite())
                {
                    out.insert(t, v);
                }
            }
        }
        Ok(out)
    };
    let completed = format!("{p}_tasks_completed_total");
    let rate = series(format!(
        "sum(rate({completed}{{success=\"true\"}}[{rate_range}])) / sum(rate({completed}[{rate_range}]))"
    ))?;
    let count = series(format!("sum(increase({completed}[{rate_range}]))"))?;
    let quantile = |q: f64| {
        series(format!(
            "histogram_quantile({q}, sum by (le) (rate({p}_task_duration_ms_bucket[{rate_range}])))"
        ))
    };
    let (p50, p90, p99) = (quantile(0.5)?, quantile(0.9)?, quantile(0.99)?);
    let times: std::collections::BTreeSet<u64> = rate.keys().chain(count.keys()).chain(p50.keys()).copied().collect();
    let points = times
        .into_iter()
        .map(|t| Point {
            t,
            success_rate: rate.get(&t).copied(),
            p50: p50.get(&t).copied(),
            p90: p90.get(&t).copied(),
            p99: p99.get(&t).copied(),
            count: count.get(&t).map(|c| c.round() as u64).unwrap_or(0),
            exemplar: None,
        })
        .collect();
    Ok(Series {
        points,
        bucket_ms: (step * 1000.0).round() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    const HOUR: u64 = 3_600_000;
    const NOW: u64 = 1_790_000_000_500; // a round second plus 500 ms

    #[test]
    fn buckets_follow_the_span_of_the_data_not_only_the_range() {
        // 5 s of data in a 1-hour range: 1 s buckets, one per second of data.
        let b = choose_buckets(NOW, HOUR, Some(NOW - 5_000), 120);
        assert_eq!(b.width_ms, 1_000);
        assert_eq!(b.count, 6);
        assert_eq!(b.start_ms % 1_000, 0);
        assert!(b.start_ms <= NOW - 5_000 && b.start_ms + b.count as u64 * b.width_ms > NOW);
        // The same data under every range the page offers, and the default 60 points.
        for range in [300_000, 900_000, HOUR, 6 * HOUR, 24 * HOUR, 7 * 24 * HOUR] {
            for max in [60, 120] {
                let b = choose_buckets(NOW, range, Some(NOW - 5_000), max);
                assert_eq!((b.width_ms, b.count), (1_000, 6), "range {range}, max {max}");
            }
        }
        // A whole hour of data: 1-minute buckets with 120 points, 2-minute with 60.
        assert_eq!(choose_buckets(NOW, HOUR, Some(NOW - HOUR), 120).width_ms, 60_000);
        assert_eq!(choose_buckets(NOW, HOUR, Some(NOW - HOUR), 60).width_ms, 120_000);
        // Data older than the range counts from the range's start.
        assert_eq!(
            choose_buckets(NOW, 300_000, Some(NOW - HOUR), 120),
            choose_buckets(NOW, 300_000, Some(NOW - 300_000), 120)
        );
        // No data: the whole range.
        let empty = choose_buckets(NOW, HOUR, None, 60);
        assert_eq!(empty.width_ms, 120_000);
        assert!(empty.start_ms <= NOW - HOUR);
    }

    #[test]
    fn the_bucket_count_never_exceeds_the_points_asked_for() {
        for max in [1, 2, 3, 7, 60, 120, 500] {
            for range in [1_000, 59_999, 60_000, HOUR, 24 * HOUR, 30 * 24 * HOUR] {
                for span in [0, 1, 999, 1_000, 4_999, 5_000, 61_000, HOUR, 30 * 24 * HOUR] {
                    let b = choose_buckets(NOW, range, Some(NOW - span), max);
                    assert!(
                        b.count >= 1 && b.count <= max,
                        "{b:?} for max {max}, range {range}, span {span}"
                    );
                    assert!(b.width_ms >= 1_000);
                    let from = (NOW - span).max(NOW - range);
                    assert!(b.start_ms <= from, "{b:?}");
                    assert!(
                        b.start_ms + b.count as u64 * b.width_ms > NOW,
                        "{b:?} does not reach now"
                    );
                    assert_eq!(b.index(from), 0);
                    assert_eq!(b.index(NOW), b.count - 1);
                }
            }
        }
        // Future timestamps (clock skew) land in the last bucket.
        let b = choose_buckets(NOW, HOUR, Some(NOW - 5_000), 60);
        assert_eq!(b.index(NOW + HOUR), b.count - 1);
    }

    fn step_end(store: &EventStore, ago_ms: u64, success: bool, duration: f64, corr: &str) {
        let mut r = Record::new(tracing::Level::INFO, "aureus");
        r.timestamp = SystemTime::now() - Duration::from_millis(ago_ms);
        r.set_event_type("step_end");
        r.set_correlation_id(&crate::CorrelationId::new(corr).unwrap());
        r.push_field("workflow_id", Value::Str("wf"));
        r.push_field("task_id", Value::Str("t1"));
        r.push_field("success", Value::Bool(success));
        r.push_field("duration_ms", Value::F64(duration));
        r.trace_id = Some(0x0af7651916cd43dd8448eb211c80319c);
        store.insert(&[Arc::new(r)]);
    }

    fn llm_response(store: &EventStore, corr: &str, workflow: Option<&str>, cost: f64) {
        let mut r = Record::new(tracing::Level::INFO, "aureus");
        r.timestamp = SystemTime::now() - Duration::from_millis(500);
        r.set_event_type("llm_response");
        r.set_correlation_id(&crate::CorrelationId::new(corr).unwrap());
        if let Some(workflow) = workflow {
            r.push_field("workflow_id", Value::Str(workflow));
        }
        r.push_field("model", Value::Str("m"));
        r.push_field("cost_usd", Value::F64(cost));
        store.insert(&[Arc::new(r)]);
    }

    /// LLM calls carry no `workflow_id` (the helpers write none): with a
    /// workflow filter, their cost comes from the workflow's runs.
    #[test]
    fn a_workflows_llm_cost_comes_from_its_runs() {
        let store = EventStore::new(1000, 1 << 20);
        step_end(&store, 1_000, true, 10.0, "run-a");
        step_end(&store, 900, true, 10.0, "run-a");
        llm_response(&store, "run-a", None, 0.5);
        llm_response(&store, "run-a", None, 0.25);
        llm_response(&store, "run-b", None, 7.0); // another workflow's run
        llm_response(&store, "run-a", Some("other-wf"), 100.0); // says it is another workflow's
        let summary = workflow_summary(Some(&store), Duration::from_secs(60), None, "wf");
        assert_eq!(summary.successes, 2);
        assert_eq!(summary.llm_cost_usd, 0.75, "{summary:?}");
        assert_eq!(summary.cost_per_success_usd, Some(0.375));
        let nobody = workflow_summary(Some(&store), Duration::from_secs(60), None, "wf-none");
        assert_eq!((nobody.llm_cost_usd, nobody.step_ends), (0.0, 0));
    }

    #[test]
    fn a_few_seconds_of_data_give_several_points_each_with_an_exemplar() {
        let store = EventStore::new(1000, 1 << 20);
        for second in 0..5u64 {
            step_end(
                &store,
                second * 1000 + 100,
                true,
                100.0 + second as f64,
                &format!("ok-{second}"),
            );
        }
        step_end(&store, 2_100, false, 5.0, "failed-fast");
        step_end(&store, 2_150, true, 900.0, "slow-ok");
        let series = local_timeseries(Some(&store), Duration::from_secs(3600), 60, None);
        assert_eq!(series.bucket_ms, 1_000);
        let drawn: Vec<&Point> = series.points.iter().filter(|p| p.count > 0).collect();
        assert!(drawn.len() >= 4, "{series:?}");
        assert_eq!(drawn.iter().map(|p| p.count).sum::<u64>(), 7);
        for point in &drawn {
            let exemplar = point.exemplar.as_ref().expect("every bucket with data has an exemplar");
            assert_eq!(exemplar.trace_id.as_deref(), Some("0af7651916cd43dd8448eb211c80319c"));
        }
        // In the bucket holding the failure, the failed step wins over a slower success.
        let failed = drawn
            .iter()
            .find(|p| p.exemplar.as_ref().unwrap().correlation_id == "failed-fast")
            .expect("the failed step is an exemplar");
        assert!(!failed.exemplar.as_ref().unwrap().success);
        assert!(failed.count >= 2 && failed.success_rate.unwrap() < 1.0, "{failed:?}");
        let json = serde_json::to_value(&series).unwrap();
        assert_eq!(json["bucketMs"], 1000);
        assert!(json["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["exemplar"]["correlationId"] == "slow-ok" || p["exemplar"]["correlationId"] == "failed-fast"));
        // Empty buckets carry no exemplar key.
        assert!(json["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["count"] == 0)
            .all(|p| p.get("exemplar").is_none()));
    }

    #[test]
    fn durations_that_are_not_valid_times_stay_out_of_the_percentiles() {
        // Negative and non-finite `duration_ms` are not step times (the
        // summary's mean skips them too): they count as steps, not as latencies.
        let store = EventStore::new(1000, 1 << 20);
        for (n, duration) in [f64::NAN, f64::INFINITY, -5.0, 10.0, f64::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            step_end(&store, 200 + n as u64, true, duration, "c");
        }
        let series = local_timeseries(Some(&store), Duration::from_secs(300), 60, None);
        let point = series.points.iter().find(|p| p.count > 0).unwrap();
        assert_eq!(point.count, 5);
        assert_eq!(
            (point.p50, point.p90, point.p99),
            (Some(10.0), Some(10.0), Some(10.0)),
            "{point:?}"
        );
        // Only invalid durations: no percentile at all (not null-by-NaN, not negative).
        let store = EventStore::new(1000, 1 << 20);
        step_end(&store, 200, true, -1.0, "c");
        step_end(&store, 201, true, f64::NAN, "c");
        let series = local_timeseries(Some(&store), Duration::from_secs(300), 60, None);
        let point = series.points.iter().find(|p| p.count > 0).unwrap();
        assert_eq!((point.p50, point.p99), (None, None), "{point:?}");
        assert_eq!(point.exemplar.as_ref().unwrap().duration_ms, None);
    }
}
