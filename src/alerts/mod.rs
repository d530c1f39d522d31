//! Alerts that fire: DESIGN's rules evaluated over live metrics (or a
//! Prometheus server's), with states pending → firing → resolved,
//! acknowledgement, a bounded history, an Aureus event and the gauge
//! `aureus_alerts_firing{alert,severity}` for every change.
//!
//! | alert id | fires when | severity |
//! | --- | --- | --- |
//! | `success-rate` | success rate < 0.95 | critical below 0.80, else warning |
//! | `crv-failures` | CRV failures > 5 | critical above 10, else warning |
//! | `policy-denials` | policy denials > 10 | warning above 20, else info |
//! | `rollbacks` | rollbacks > 5 | critical above 10, else warning |
//!
//! The same [`AlertRule`]s generate the Prometheus rules file
//! ([`promql::rules_yaml`]), so the two cannot drift.

mod engine;
pub mod promql;
mod rule;
mod source;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

pub use engine::{AckError, Alert, AlertChange, AlertEngine, AlertState, Observation};
pub use rule::{AlertRule, Direction, Severity, Watched, DEFAULT_WINDOW};
pub use source::{AlertSource, PrometheusApi};

/// Running alert evaluation: the engine, its source, and who hears about changes.
pub(crate) struct Alerting {
    pub(crate) engine: Arc<AlertEngine>,
    pub(crate) changes: tokio::sync::broadcast::Sender<Alert>,
    publisher: Arc<Publisher>,
    stop: Arc<AtomicBool>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Applied to what an operator types (`by`, `comment`) before it is kept
    /// in the alert, its history and the alerts API.
    redactor: Option<Arc<crate::pipeline::Redactor>>,
}

/// Publishes alert changes: history is kept by the engine; this emits the
/// Aureus event, updates the gauges and notifies stream subscribers.
struct Publisher {
    gauges: HashMap<(String, Severity), metrics::Gauge>,
    changes: tokio::sync::broadcast::Sender<Alert>,
    emitter: crate::stack::Emitter,
}

impl Publisher {
    fn new(
        rules: &[AlertRule],
        recorder: Option<Arc<dyn metrics::Recorder + Send + Sync>>,
        prefix: &str,
        changes: tokio::sync::broadcast::Sender<Alert>,
        emitter: crate::stack::Emitter,
    ) -> Self {
        static METADATA: metrics::Metadata<'static> =
            metrics::Metadata::new("aureus::alerts", metrics::Level::INFO, Some(module_path!()));
        let mut gauges = HashMap::new();
        if let Some(recorder) = recorder {
            let name = format!("{prefix}_alerts_firing");
            recorder.describe_gauge(
                name.clone().into(),
                None,
                "Whether each alert is firing (1) at each severity.".into(),
            );
            for rule in rules {
                for severity in [rule.severity, rule.escalated] {
                    let labels = vec![
                        metrics::Label::new(crate::metrics::label::ALERT, rule.id),
                        metrics::Label::new(crate::metrics::label::SEVERITY, severity.as_str()),
                    ];
                    let key = metrics::Key::from_parts(name.clone(), labels);
                    gauges.insert((rule.id.to_owned(), severity), recorder.register_gauge(&key, &METADATA));
                }
            }
        }
        Publisher {
            gauges,
            changes,
            emitter,
        }
    }

    fn publish(&self, alert: &Alert) {
        for ((id, severity), gauge) in &self.gauges {
            if *id == alert.id {
                let firing = alert.state == AlertState::Firing && *severity == alert.severity;
                gauge.set(if firing { 1.0 } else { 0.0 });
            }
        }
        let state = match alert.state {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        };
        self.emitter.emit(|| Self::emit(alert, state));
        let _ = self.changes.send(alert.clone());
    }

    /// The change as an Aureus event (WARN while firing).
    fn emit(alert: &Alert, state: &str) {
        let acknowledged_by = alert.acknowledged_by.as_deref();
        if alert.state == AlertState::Firing {
            tracing::warn!(target: "aureus::alerts", event_type = "custom", name = "alert", alert_id = %alert.id,
                state, severity = alert.severity.as_str(), current_value = alert.current_value,
                threshold = alert.threshold, message = %alert.message, acknowledged_by);
        } else {
            tracing::info!(target: "aureus::alerts", event_type = "custom", name = "alert", alert_id = %alert.id,
                state, severity = alert.severity.as_str(), current_value = alert.current_value,
                threshold = alert.threshold, message = %alert.message, acknowledged_by);
        }
    }
}

impl Alerting {
    /// Starts evaluating `engine`'s rules from `source` every `every`, emitting
    /// change events through `emitter`.
    pub(crate) fn start(
        engine: Arc<AlertEngine>,
        source: AlertSource,
        every: Duration,
        emitter: crate::stack::Emitter,
        recorder: Option<Arc<dyn metrics::Recorder + Send + Sync>>,
        prefix: &str,
    ) -> crate::Result<Self> {
        let (changes, _) = tokio::sync::broadcast::channel(256);
        let publisher = Arc::new(Publisher::new(
            engine.rules(),
            recorder,
            prefix,
            changes.clone(),
            emitter,
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_engine, thread_stop, thread_publisher) =
            (Arc::clone(&engine), Arc::clone(&stop), Arc::clone(&publisher));
        let thread = std::thread::Builder::new()
            .name("aureus-alerts".to_owned())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    for alert in thread_engine.evaluate(|rule| source.observe(rule), SystemTime::now()) {
                        thread_publisher.publish(&alert);
                    }
                    let pause = every.saturating_sub(started.elapsed());
                    let until = Instant::now() + pause;
                    while !thread_stop.load(Ordering::Relaxed) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(20).min(pause));
                    }
                }
            })
            .map_err(|source| crate::Error::Worker {
                sink: "alerts".to_owned(),
                source,
            })?;
        Ok(Alerting {
            engine,
            changes,
            publisher,
            stop,
            thread: std::sync::Mutex::new(Some(thread)),
            redactor: None,
        })
    }

    /// Redacts acknowledgements (who and the comment) with `redactor`.
    pub(crate) fn with_redactor(mut self, redactor: Arc<crate::pipeline::Redactor>) -> Self {
        self.redactor = (!redactor.is_noop()).then_some(redactor);
        self
    }

    /// Acknowledges alert `id` and publishes the change.
    pub(crate) fn acknowledge(&self, id: &str, by: &str, comment: Option<&str>) -> Result<Alert, AckError> {
        let (by, comment) = match &self.redactor {
            Some(redactor) => (redactor.redact_text(by), comment.map(|c| redactor.redact_text(c))),
            None => (by.into(), comment.map(Into::into)),
        };
        let alert = self
            .engine
            .acknowledge(id, &by, comment.as_deref(), SystemTime::now())?;
        self.publisher.publish(&alert);
        Ok(alert)
    }

    /// Stops evaluating (waits for the thread up to `deadline`).
    pub(crate) fn stop(&self, deadline: Instant) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Alerting {
    fn drop(&mut self) {
        self.stop(Instant::now() + Duration::from_secs(2));
    }
}
