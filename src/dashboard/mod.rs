//! The monitoring dashboard's state: where its figures, events and alerts
//! come from. The HTTP side lives in `server/`.

pub(crate) mod figures;
mod levels;
pub(crate) mod run;

pub(crate) use levels::{LevelChange, LevelControl};

use std::sync::Arc;
use std::time::Duration;

use crate::alerts::{Alerting, PrometheusApi};
use crate::metrics::{MetricsHandle, Summary};
use crate::record::Record;
use crate::store::EventStore;

/// Everything the dashboard routes need. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Monitoring {
    pub(crate) metrics: Option<MetricsHandle>,
    pub(crate) store: Option<EventStore>,
    pub(crate) alerting: Option<Arc<Alerting>>,
    /// New records, for the live stream.
    pub(crate) records: tokio::sync::broadcast::Sender<Arc<Record>>,
    /// Set when figures come from a Prometheus server (fleet view).
    pub(crate) fleet: Option<PrometheusApi>,
    /// Bearer token required on page and API, when set.
    pub(crate) token: Option<Arc<str>>,
    /// The log levels, read and changed at `/api/monitoring/log-level`.
    pub(crate) levels: LevelControl,
    /// `monitoring.trace_url_template` (checked): the run view's link to the tracing backend.
    pub(crate) trace_url_template: Option<Arc<str>>,
}

impl Monitoring {
    /// `"local"` or `"prometheus"`.
    pub(crate) fn source_name(&self) -> &'static str {
        if self.fleet.is_some() {
            "prometheus"
        } else {
            "local"
        }
    }

    /// Summary figures over `window` (blocking: may query Prometheus).
    pub(crate) fn summary(
        &self,
        window: Duration,
        task_type: Option<&str>,
        workflow_id: Option<&str>,
    ) -> Result<Summary, String> {
        if let Some(api) = &self.fleet {
            return figures::fleet_summary(api, window, task_type);
        }
        let metrics = self.metrics.as_ref().ok_or("metrics are disabled")?;
        Ok(figures::local_summary(
            metrics,
            self.store.as_ref(),
            window,
            task_type,
            workflow_id,
        ))
    }

    /// Chart points over `window`, at most `points` of them (blocking: may query Prometheus).
    pub(crate) fn timeseries(
        &self,
        window: Duration,
        points: usize,
        workflow_id: Option<&str>,
    ) -> Result<figures::Series, String> {
        match (&self.fleet, workflow_id) {
            (Some(api), None) => figures::fleet_timeseries(api, window, points),
            _ => Ok(figures::local_timeseries(
                self.store.as_ref(),
                window,
                points,
                workflow_id,
            )),
        }
    }

    /// The run of `correlation_id` from the event store; `None` when the
    /// store holds no record of it (or there is no store).
    pub(crate) fn run(&self, correlation_id: &str) -> Option<run::RunView> {
        let store = self.store.as_ref()?;
        run::build(store, correlation_id, self.trace_url_template.as_deref())
    }
}
