//! Where rule values come from: this process's metrics, or a Prometheus
//! server's HTTP API (the fleet view).

use std::time::Duration;

use super::engine::Observation;
use super::promql::value_expr;
use super::rule::{AlertRule, Watched};
use crate::event::fields;
use crate::metrics::MetricsHandle;
use crate::store::{EventQuery, EventStore};

/// A source of rule values.
#[derive(Clone)]
pub enum AlertSource {
    /// This process's metrics and event store.
    Local {
        /// The metrics (summary figures).
        metrics: MetricsHandle,
        /// Recent records, to point at a contributing workflow.
        store: Option<EventStore>,
    },
    /// A Prometheus server scraping one or many kernel processes.
    Prometheus(PrometheusApi),
}

impl std::fmt::Debug for AlertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlertSource::Local { .. } => f.write_str("Local"),
            AlertSource::Prometheus(api) => write!(f, "Prometheus({})", api.url),
        }
    }
}

impl AlertSource {
    /// Measures `rule` now.
    pub fn observe(&self, rule: &AlertRule) -> Observation {
        match self {
            AlertSource::Local { metrics, store } => {
                let summary = metrics.summary(rule.window, None);
                let value = match rule.watched {
                    Watched::SuccessRate => summary.success_rate,
                    Watched::CrvFailures => Some(summary.crv_failures as f64),
                    Watched::PolicyDenials => Some(summary.policy_denials as f64),
                    Watched::Rollbacks => Some(summary.rollbacks as f64),
                };
                let (workflow_id, correlation_id) = store.as_ref().map(|s| culprit(s, rule)).unwrap_or_default();
                Observation {
                    value,
                    workflow_id,
                    correlation_id,
                }
            }
            AlertSource::Prometheus(api) => Observation {
                value: api
                    .scalar(&value_expr(rule, &api.prefix))
                    .ok()
                    .flatten()
                    .filter(|v| v.is_finite()),
                workflow_id: None,
                correlation_id: None,
            },
        }
    }
}

/// The latest record that made `rule`'s value worse: its workflow and correlation id.
fn culprit(store: &EventStore, rule: &AlertRule) -> (Option<String>, Option<String>) {
    let query = EventQuery {
        event_type: Some(rule.watched.event_type().to_owned()),
        limit: 200,
        ..Default::default()
    };
    let flag = |r: &crate::Record, name: &str| r.field(name).and_then(|v| v.as_bool());
    store
        .query(&query)
        .into_iter()
        .find(|r| match rule.watched {
            Watched::SuccessRate => flag(r, fields::SUCCESS) != Some(true),
            Watched::CrvFailures => flag(r, fields::BLOCKED) == Some(true),
            Watched::PolicyDenials => flag(r, fields::ALLOWED) == Some(false),
            Watched::Rollbacks => true,
        })
        .map(|r| {
            (
                r.str_field(fields::WORKFLOW_ID).map(str::to_owned),
                r.correlation_id().map(str::to_owned),
            )
        })
        .unwrap_or_default()
}

/// A small client of Prometheus's HTTP query API.
#[derive(Debug, Clone)]
pub struct PrometheusApi {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// The metric prefix the kernels use.
    pub prefix: String,
    agent: ureq::Agent,
}

impl PrometheusApi {
    /// A client for the server at `url` (no trailing slash needed).
    pub fn new(url: &str, prefix: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build();
        PrometheusApi {
            url: url.trim_end_matches('/').to_owned(),
            prefix: prefix.to_owned(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Runs an instant query and returns `data.result`.
    pub fn query(&self, promql: &str) -> Result<serde_json::Value, String> {
        let url = format!("{}/api/v1/query", self.url);
        self.get(&url, &[("query", promql)])
    }

    /// Runs a range query (`start`/`end` in epoch seconds, `step` in seconds) and returns `data.result`.
    pub fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> Result<serde_json::Value, String> {
        let url = format!("{}/api/v1/query_range", self.url);
        let (start, end, step) = (start.to_string(), end.to_string(), step.to_string());
        self.get(
            &url,
            &[("query", promql), ("start", &start), ("end", &end), ("step", &step)],
        )
    }

    fn get(&self, url: &str, params: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let mut request = self.agent.get(url);
        for (key, value) in params {
            request = request.query(*key, *value);
        }
        let mut response = request
            .call()
            .map_err(|err| format!("prometheus at {}: {err}", self.url))?;
        let body: serde_json::Value = response
            .body_mut()
            .read_json()
            .map_err(|err| format!("prometheus at {}: bad response: {err}", self.url))?;
        if body["status"] != "success" {
            return Err(format!("prometheus at {}: {}", self.url, body["error"]));
        }
        Ok(body["data"]["result"].clone())
    }

    /// The single value of an instant query (`None` when the result is empty).
    pub fn scalar(&self, promql: &str) -> Result<Option<f64>, String> {
        let result = self.query(promql)?;
        let sample = match &result {
            serde_json::Value::Array(items) => items.first().map(|item| &item["value"][1]),
            _ => None,
        };
        Ok(sample.and_then(|v| v.as_str()).and_then(|s| s.parse().ok()))
    }
}
