//! Alert rules: one definition drives the in-process engine and the shipped
//! Prometheus rules file.

use std::time::Duration;

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The label value (`info`, `warning`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Fires when the value drops below the threshold.
    Below,
    /// Fires when the value rises above the threshold.
    Above,
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// Successful step_end / all step_end over the window.
    SuccessRate,
    /// crv_result with blocked = true over the window.
    CrvFailures,
    /// policy_check with allowed = false over the window.
    PolicyDenials,
    /// rollback events over the window.
    Rollbacks,
}

impl Watched {
    /// The metric name shown in alerts.
    pub fn metric(self) -> &'static str {
        match self {
            Watched::SuccessRate => "success_rate",
            Watched::CrvFailures => "crv_failures",
            Watched::PolicyDenials => "policy_denials",
            Watched::Rollbacks => "rollbacks",
        }
    }

    /// The event type whose records explain this alert.
    pub fn event_type(self) -> &'static str {
        match self {
            Watched::SuccessRate => "step_end",
            Watched::CrvFailures => "crv_result",
            Watched::PolicyDenials => "policy_check",
            Watched::Rollbacks => "rollback",
        }
    }
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// The alert id (`success-rate`, …).
    pub id: &'static str,
    /// The alert's name in the Prometheus rules file.
    pub prometheus_name: &'static str,
    /// What it watches.
    pub watched: Watched,
    /// Which side of the threshold is bad.
    pub direction: Direction,
    /// Fires past this value.
    pub threshold: f64,
    /// Past this value the severity escalates.
    pub escalate_at: f64,
    /// Severity between `threshold` and `escalate_at`.
    pub severity: Severity,
    /// Severity past `escalate_at`.
    pub escalated: Severity,
    /// The window the value is computed over.
    pub window: Duration,
    /// How long the condition must hold before the alert fires (pending until then).
    pub for_duration: Duration,
    /// A one-line summary.
    pub summary: &'static str,
}

/// Default evaluation window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

impl AlertRule {
    /// DESIGN's four rules with their default thresholds.
    pub fn defaults() -> Vec<AlertRule> {
        let rule =
            |id, prometheus_name, watched, direction, threshold, escalate_at, severity, escalated, summary| AlertRule {
                id,
                prometheus_name,
                watched,
                direction,
                threshold,
                escalate_at,
                severity,
                escalated,
                window: DEFAULT_WINDOW,
                for_duration: Duration::ZERO,
                summary,
            };
        vec![
            rule(
                "success-rate",
                "HighTaskFailureRate",
                Watched::SuccessRate,
                Direction::Below,
                0.95,
                0.80,
                Severity::Warning,
                Severity::Critical,
                "Task success rate is below its threshold",
            ),
            rule(
                "crv-failures",
                "CRVBlockageSpike",
                Watched::CrvFailures,
                Direction::Above,
                5.0,
                10.0,
                Severity::Warning,
                Severity::Critical,
                "CRV gates are blocking steps",
            ),
            rule(
                "policy-denials",
                "PolicyEscalationSurge",
                Watched::PolicyDenials,
                Direction::Above,
                10.0,
                20.0,
                Severity::Info,
                Severity::Warning,
                "Policy checks are denying actions",
            ),
            rule(
                "rollbacks",
                "HighRollbackRate",
                Watched::Rollbacks,
                Direction::Above,
                5.0,
                10.0,
                Severity::Warning,
                Severity::Critical,
                "Workflows are rolling back",
            ),
        ]
    }

    /// Whether `value` is past `limit` on the bad side.
    fn past(&self, value: f64, limit: f64) -> bool {
        match self.direction {
            Direction::Below => value < limit,
            Direction::Above => value > limit,
        }
    }

    /// The severity `value` deserves, or `None` when the condition does not hold.
    pub fn severity_for(&self, value: f64) -> Option<Severity> {
        if !self.past(value, self.threshold) {
            None
        } else if self.past(value, self.escalate_at) {
            Some(self.escalated)
        } else {
            Some(self.severity)
        }
    }

    /// The comparison operator as text (`<` or `>`).
    pub fn operator(&self) -> &'static str {
        match self.direction {
            Direction::Below => "<",
            Direction::Above => ">",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_follow_the_design_table() {
        let rules = AlertRule::defaults();
        let by_id = |id: &str| rules.iter().find(|r| r.id == id).unwrap().clone();
        let sr = by_id("success-rate");
        assert_eq!(sr.severity_for(0.96), None);
        assert_eq!(sr.severity_for(0.90), Some(Severity::Warning));
        assert_eq!(sr.severity_for(0.79), Some(Severity::Critical));
        let crv = by_id("crv-failures");
        assert_eq!(crv.severity_for(5.0), None);
        assert_eq!(crv.severity_for(6.0), Some(Severity::Warning));
        assert_eq!(crv.severity_for(11.0), Some(Severity::Critical));
        let denials = by_id("policy-denials");
        assert_eq!(denials.severity_for(11.0), Some(Severity::Info));
        assert_eq!(denials.severity_for(21.0), Some(Severity::Warning));
        let rollbacks = by_id("rollbacks");
        assert_eq!(rollbacks.severity_for(6.0), Some(Severity::Warning));
        assert_eq!(rollbacks.severity_for(10.5), Some(Severity::Critical));
    }
}
