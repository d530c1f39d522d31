//! The alert lifecycle: pending → firing → resolved, with acknowledgement.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::rule::{AlertRule, Severity};

/// How long a resolved alert stays in the current list.
const RESOLVED_VISIBLE: Duration = Duration::from_secs(300);
/// Alert changes kept in the history.
const HISTORY: usize = 256;

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for` duration.
    Pending,
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

/// An alert as the API and the dashboard show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The rule id, e.g. `success-rate`.
    pub id: String,
    /// Current severity.
    pub severity: Severity,
    /// What is measured, e.g. `success_rate`.
    pub metric: String,
    /// The rule's threshold.
    pub threshold: f64,
    /// The value at the last evaluation.
    pub current_value: f64,
    /// A human-readable line.
    pub message: String,
    /// When the condition started to hold (RFC 3339).
    pub since: String,
    /// Lifecycle state.
    pub state: AlertState,
    /// Who acknowledged it, while pending or firing.
    pub acknowledged_by: Option<String>,
    /// When (RFC 3339).
    pub acknowledged_at: Option<String>,
    /// The acknowledgement's comment.
    pub comment: Option<String>,
    /// A workflow that contributed (the latest), for investigation.
    pub workflow_id: Option<String>,
    /// Its correlation id.
    pub correlation_id: Option<String>,
}

/// One entry of the alert history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertChange {
    /// The rule id.
    pub id: String,
    /// The state entered.
    pub state: AlertState,
    /// The severity then.
    pub severity: Severity,
    /// When (RFC 3339).
    pub at: String,
    /// The value then.
    pub current_value: f64,
}

/// What a rule's source measured at one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The value (`None`: no data, e.g. no step ended in the window).
    pub value: Option<f64>,
    /// A workflow that contributed.
    pub workflow_id: Option<String>,
    /// Its correlation id.
    pub correlation_id: Option<String>,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No rule has this id.
    #[error("no alert rule {0:?}")]
    UnknownAlert(String),
    /// The alert is not pending or firing.
    #[error("alert {0:?} is not active")]
    NotActive(String),
}

struct Tracked {
    alert: Alert,
    since: SystemTime,
    resolved_at: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    current: BTreeMap<&'static str, Tracked>,
    history: VecDeque<AlertChange>,
}

/// Evaluates rules and keeps alert state. Thread-safe.
pub struct AlertEngine {
    rules: Vec<AlertRule>,
    state: Mutex<State>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn round(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

impl AlertEngine {
    /// An engine for `rules`.
    pub fn new(rules: Vec<AlertRule>) -> Self {
        AlertEngine {
            rules,
            state: Mutex::new(State::default()),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evaluates every rule with `observe` at `now`; returns the alerts that changed.
    pub fn evaluate(&self, observe: impl Fn(&AlertRule) -> Observation, now: SystemTime) -> Vec<Alert> {
        let mut changed = Vec::new();
        let mut state = self.lock();
        for rule in &self.rules {
            let observation = observe(rule);
            let severity = observation.value.and_then(|v| rule.severity_for(v));
            if let Some(alert) = step(&mut state, rule, &observation, severity, now) {
                push_history(&mut state.history, &alert, now);
                changed.push(alert);
            }
        }
        changed
    }

    /// Acknowledges the pending or firing alert `id`.
    pub fn acknowledge(&self, id: &str, by: &str, comment: Option<&str>, now: SystemTime) -> Result<Alert, AckError> {
        let Some(rule) = self.rules.iter().find(|r| r.id == id) else {
            return Err(AckError::UnknownAlert(id.to_owned()));
        };
        let mut state = self.lock();
        let tracked = state
            .current
            .get_mut(rule.id)
            .filter(|t| t.alert.state != AlertState::Resolved)
            .ok_or_else(|| AckError::NotActive(id.to_owned()))?;
        tracked.alert.acknowledged_by = Some(by.to_owned());
        tracked.alert.acknowledged_at = Some(rfc3339(now));
        tracked.alert.comment = comment.map(str::to_owned);
        Ok(tracked.alert.clone())
    }

    /// Current alerts (pending, firing, and recently resolved), by id.
    pub fn alerts(&self) -> Vec<Alert> {
        self.lock().current.values().map(|t| t.alert.clone()).collect()
    }

    /// The alert `id`, if current.
    pub fn alert(&self, id: &str) -> Option<Alert> {
        self.lock().current.get(id).map(|t| t.alert.clone())
    }

    /// Recent changes, oldest first.
    pub fn history(&self) -> Vec<AlertChange> {
        self.lock().history.iter().cloned().collect()
    }
}

fn push_history(history: &mut VecDeque<AlertChange>, alert: &Alert, now: SystemTime) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(AlertChange {
        id: alert.id.clone(),
        state: alert.state,
        severity: alert.severity,
        at: rfc3339(now),
        current_value: alert.current_value,
    });
}

/// Advances one rule's alert; returns it when its state or severity changed.
fn step(
    state: &mut State,
    rule: &AlertRule,
    observation: &Observation,
    severity: Option<Severity>,
    now: SystemTime,
) -> Option<Alert> {
    let value = round(observation.value.unwrap_or(0.0));
    let active = state.current.get(rule.id).filter(|t| t.resolved_at.is_none()).is_some();
    match (severity, active) {
        (Some(severity), false) => {
            let firing = rule.for_duration.is_zero();
            let alert = Alert {
                id: rule.id.to_owned(),
                severity,
                metric: rule.watched.metric().to_owned(),
                threshold: rule.threshold,
                current_value: value,
                message: message(rule, value),
                since: rfc3339(now),
                state: if firing {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                },
                acknowledged_by: None,
                acknowledged_at: None,
                comment: None,
                workflow_id: observation.workflow_id.clone(),
                correlation_id: observation.correlation_id.clone(),
            };
            state.current.insert(
                rule.id,
                Tracked {
                    alert: alert.clone(),
                    since: now,
                    resolved_at: None,
                },
            );
            Some(alert)
        }
        (Some(severity), true) => {
            let tracked = state.current.get_mut(rule.id)?;
            let alert = &mut tracked.alert;
            alert.current_value = value;
            alert.message = message(rule, value);
            if observation.workflow_id.is_some() {
                alert.workflow_id = observation.workflow_id.clone();
                alert.correlation_id = observation.correlation_id.clone();
            }
            let held = now.duration_since(tracked.since).unwrap_or_default() >= rule.for_duration;
            let promoted = alert.state == AlertState::Pending && held;
            if promoted {
                alert.state = AlertState::Firing;
            }
            let escalated = alert.severity != severity;
            alert.severity = severity;
            (promoted || escalated).then(|| alert.clone())
        }
        (None, true) => {
            let tracked = state.current.get_mut(rule.id)?;
            tracked.resolved_at = Some(now);
            let alert = &mut tracked.alert;
            alert.state = AlertState::Resolved;
            alert.current_value = value;
            alert.acknowledged_by = None;
            alert.acknowledged_at = None;
            alert.comment = None;
            Some(alert.clone())
        }
        (None, false) => {
            let expired = state
                .current
                .get(rule.id)
                .and_then(|t| t.resolved_at)
                .is_some_and(|at| now.duration_since(at).unwrap_or_default() > RESOLVED_VISIBLE);
            if expired {
                state.current.remove(rule.id);
            }
            None
        }
    }
}

fn message(rule: &AlertRule, value: f64) -> String {
    format!("{}: {} {} {}", rule.summary, value, rule.operator(), rule.threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> AlertEngine {
        AlertEngine::new(AlertRule::defaults())
    }

    fn values(success: Option<f64>, crv: f64, denials: f64, rollbacks: f64) -> impl Fn(&AlertRule) -> Observation {
        move |rule: &AlertRule| Observation {
            value: match rule.id {
                "success-rate" => success,
                "crv-failures" => Some(crv),
                "policy-denials" => Some(denials),
                _ => Some(rollbacks),
            },
            workflow_id: Some("wf-9".into()),
            correlation_id: Some("corr-9".into()),
        }
    }

    fn state_of(engine: &AlertEngine, id: &str) -> Option<(AlertState, Severity)> {
        engine.alert(id).map(|a| (a.state, a.severity))
    }

    #[test]
    fn every_alert_crosses_warning_and_critical_and_comes_back() {
        let e = engine();
        let t = SystemTime::now();
        assert!(e.evaluate(values(Some(0.99), 0.0, 0.0, 0.0), t).is_empty());
        let changed = e.evaluate(values(Some(0.9), 6.0, 11.0, 6.0), t);
        assert_eq!(changed.len(), 4);
        assert_eq!(
            state_of(&e, "success-rate"),
            Some((AlertState::Firing, Severity::Warning))
        );
        assert_eq!(
            state_of(&e, "crv-failures"),
            Some((AlertState::Firing, Severity::Warning))
        );
        assert_eq!(
            state_of(&e, "policy-denials"),
            Some((AlertState::Firing, Severity::Info))
        );
        assert_eq!(state_of(&e, "rollbacks"), Some((AlertState::Firing, Severity::Warning)));
        let changed = e.evaluate(values(Some(0.5), 11.0, 21.0, 11.0), t);
        assert_eq!(changed.len(), 4, "each escalates");
        assert_eq!(
            state_of(&e, "success-rate"),
            Some((AlertState::Firing, Severity::Critical))
        );
        assert_eq!(
            state_of(&e, "crv-failures"),
            Some((AlertState::Firing, Severity::Critical))
        );
        assert_eq!(
            state_of(&e, "policy-denials"),
            Some((AlertState::Firing, Severity::Warning))
        );
        assert_eq!(
            state_of(&e, "rollbacks"),
            Some((AlertState::Firing, Severity::Critical))
        );
        assert!(
            e.evaluate(values(Some(0.5), 11.0, 21.0, 11.0), t).is_empty(),
            "no change, no event"
        );
        let changed = e.evaluate(values(Some(1.0), 0.0, 0.0, 0.0), t);
        assert_eq!(changed.len(), 4);
        assert!(e.alerts().iter().all(|a| a.state == AlertState::Resolved));
        // Resolved alerts leave the list after a while.
        e.evaluate(values(Some(1.0), 0.0, 0.0, 0.0), t + RESOLVED_VISIBLE * 2);
        assert!(e.alerts().is_empty());
        assert_eq!(e.history().len(), 12);
    }

    #[test]
    fn no_data_does_not_fire() {
        let e = engine();
        e.evaluate(values(None, 0.0, 0.0, 0.0), SystemTime::now());
        assert!(e.alert("success-rate").is_none());
    }

    #[test]
    fn pending_until_the_for_duration_holds() {
        let mut rules = AlertRule::defaults();
        rules[3].for_duration = Duration::from_secs(60);
        let e = AlertEngine::new(rules);
        let t = SystemTime::now();
        e.evaluate(values(Some(1.0), 0.0, 0.0, 6.0), t);
        assert_eq!(
            state_of(&e, "rollbacks"),
            Some((AlertState::Pending, Severity::Warning))
        );
        e.evaluate(values(Some(1.0), 0.0, 0.0, 6.0), t + Duration::from_secs(30));
        assert_eq!(state_of(&e, "rollbacks").unwrap().0, AlertState::Pending);
        let changed = e.evaluate(values(Some(1.0), 0.0, 0.0, 6.0), t + Duration::from_secs(61));
        assert_eq!(changed[0].state, AlertState::Firing);
    }

    #[test]
    fn acknowledgement_lasts_until_resolution() {
        let e = engine();
        let t = SystemTime::now();
        assert_eq!(
            e.acknowledge("nope", "ada", None, t),
            Err(AckError::UnknownAlert("nope".into()))
        );
        assert_eq!(
            e.acknowledge("rollbacks", "ada", None, t),
            Err(AckError::NotActive("rollbacks".into()))
        );
        e.evaluate(values(Some(1.0), 0.0, 0.0, 6.0), t);
        let acked = e.acknowledge("rollbacks", "ada", Some("looking"), t).unwrap();
        assert_eq!(acked.acknowledged_by.as_deref(), Some("ada"));
        e.evaluate(values(Some(1.0), 0.0, 0.0, 12.0), t);
        let still = e.alert("rollbacks").unwrap();
        assert_eq!(
            (still.severity, still.acknowledged_by.as_deref()),
            (Severity::Critical, Some("ada"))
        );
        e.evaluate(values(Some(1.0), 0.0, 0.0, 0.0), t);
        let resolved = e.alert("rollbacks").unwrap();
        assert_eq!(resolved.state, AlertState::Resolved);
        assert_eq!(resolved.acknowledged_by, None);
        assert!(matches!(
            e.acknowledge("rollbacks", "ada", None, t),
            Err(AckError::NotActive(_))
        ));
        e.evaluate(values(Some(1.0), 0.0, 0.0, 7.0), t);
        assert_eq!(
            e.alert("rollbacks").unwrap().acknowledged_by,
            None,
            "a new episode starts unacknowledged"
        );
    }
}
