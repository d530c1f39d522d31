//! The rules as PromQL: the expressions the fleet view queries and the
//! Prometheus rules file (`deploy/prometheus/aureus-alerts.yml`) are both
//! generated here from [`AlertRule`]s, so they cannot drift apart.

use std::fmt::Write;
use std::time::Duration;

use super::rule::{AlertRule, Watched};

/// A PromQL range like `5m` or `90s`.
pub(crate) fn range(window: Duration) -> String {
    let secs = window.as_secs().max(1);
    if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The PromQL expression of the value a rule watches, for metric `prefix`.
pub fn value_expr(rule: &AlertRule, prefix: &str) -> String {
    let w = range(rule.window);
    match rule.watched {
        Watched::SuccessRate => format!(
            "sum(increase({prefix}_tasks_completed_total{{success=\"true\"}}[{w}])) / sum(increase({prefix}_tasks_completed_total[{w}]))"
        ),
        Watched::CrvFailures => format!("sum(increase({prefix}_crv_checks_total{{blocked=\"true\"}}[{w}]))"),
        Watched::PolicyDenials => format!("sum(increase({prefix}_policy_checks_total{{allowed=\"false\"}}[{w}]))"),
        Watched::Rollbacks => format!("sum(increase({prefix}_rollbacks_total[{w}]))"),
    }
}

/// The opposite comparison, for the lower tier's upper bound.
fn not_past(rule: &AlertRule) -> &'static str {
    match rule.operator() {
        "<" => ">=",
        _ => "<=",
    }
}

/// The Prometheus rules file for `rules` under metric `prefix`: per rule, one
/// alert per severity tier (the base tier bounded so that exactly one fires).
pub fn rules_yaml(rules: &[AlertRule], prefix: &str) -> String {
    let mut out = String::new();
    out.push_str("# Generated from aureus_observability::alerts::AlertRule::defaults(); do not edit by hand.\n");
    out.push_str("# Regenerate: cargo run --example print_alert_rules > deploy/prometheus/aureus-alerts.yml\n");
    out.push_str("groups:\n  - name: aureus\n    rules:\n");
    for rule in rules {
        let value = value_expr(rule, prefix);
        let op = rule.operator();
        let tiers = [
            (
                rule.severity,
                format!(
                    "({value}) {op} {} and ({value}) {} {}",
                    rule.threshold,
                    not_past(rule),
                    rule.escalate_at
                ),
                format!("{} {} {}", rule.watched.metric(), op, rule.threshold),
            ),
            (
                rule.escalated,
                format!("({value}) {op} {}", rule.escalate_at),
                format!("{} {} {}", rule.watched.metric(), op, rule.escalate_at),
            ),
        ];
        for (severity, expr, condition) in tiers {
            let _ = writeln!(out, "      - alert: {}", rule.prometheus_name);
            let _ = writeln!(out, "        expr: '{expr}'");
            if !rule.for_duration.is_zero() {
                let _ = writeln!(out, "        for: {}", range(rule.for_duration));
            }
            let _ = writeln!(out, "        labels:");
            let _ = writeln!(out, "          severity: {}", severity.as_str());
            let _ = writeln!(out, "          alert_id: {}", rule.id);
            let _ = writeln!(out, "        annotations:");
            let _ = writeln!(out, "          summary: '{}'", rule.summary);
            let _ = writeln!(
                out,
                "          description: '{condition} over the last {}'",
                range(rule.window)
            );
        }
    }
    out
}
