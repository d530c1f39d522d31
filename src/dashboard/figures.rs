//! The figures the dashboard shows, from this process or from Prometheus.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::alerts::PrometheusApi;
use crate::event::fields;
use crate::metrics::{MetricsHandle, Summary, SummaryEvent, SummaryWindow};
use crate::store::{EventQuery, EventStore};

/// One point of the dashboard's charts.
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
    // Per workflow: replay the stored records of that workflow into a fresh window.
    let replay = SummaryWindow::new(window.max(Duration::from_secs(1)), Duration::from_secs(1));
    if let Some(store) = store {
        let query = EventQuery {
            workflow_id: Some(workflow_id.to_owned()),
            start: SystemTime::now().checked_sub(window),
            ..Default::default()
        };
        let mut records = store.query(&query);
        records.reverse();
        for record in records {
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

/// Chart points from the stored step_end records of the last `window`.
pub(crate) fn local_timeseries(
    store: Option<&EventStore>,
    window: Duration,
    points: usize,
    workflow_id: Option<&str>,
) -> Vec<Point> {
    let now = SystemTime::now();
    let start = now.checked_sub(window).unwrap_or(UNIX_EPOCH);
    let points = points.clamp(1, 500);
    let step = (window.as_millis() as u64 / points as u64).max(1);
    let mut buckets: Vec<(u64, u64, Vec<f64>)> = vec![(0, 0, Vec::new()); points];
    if let Some(store) = store {
        let query = EventQuery {
            event_type: Some("step_end".into()),
            workflow_id: workflow_id.map(str::to_owned),
            start: Some(start),
            ..Default::default()
        };
        for record in store.query(&query) {
            let offset = epoch_ms(record.timestamp).saturating_sub(epoch_ms(start));
            let index = ((offset / step) as usize).min(points - 1);
            let bucket = &mut buckets[index];
            bucket.1 += 1;
            if record.field(fields::SUCCESS).and_then(|v| v.as_bool()) == Some(true) {
                bucket.0 += 1;
            }
            if let Some(ms) = record.field(fields::DURATION_MS).and_then(|v| v.as_f64()) {
                bucket.2.push(ms);
            }
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (ok, total, mut durations))| {
            durations.sort_by(f64::total_cmp);
            Point {
                t: epoch_ms(start) + i as u64 * step,
                success_rate: (total > 0).then(|| ok as f64 / total as f64),
                p50: percentile(&durations, 0.5),
                p90: percentile(&durations, 0.9),
                p99: percentile(&durations, 0.99),
                count: total,
            }
        })
        .collect()
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
pub(crate) fn fleet_timeseries(api: &PrometheusApi, window: Duration, points: usize) -> Result<Vec<Point>, String> {
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
    Ok(times
        .into_iter()
        .map(|t| Point {
            t,
            success_rate: rate.get(&t).copied(),
            p50: p50.get(&t).copied(),
            p90: p90.get(&t).copied(),
            p99: p99.get(&t).copied(),
            count: count.get(&t).map(|c| c.round() as u64).unwrap_or(0),
        })
        .collect())
}
