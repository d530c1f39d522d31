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

/// `text` as a YAML scalar on one line: single-quoted with `'` doubled
/// (YAML 1.2 §7.3.2), or, when it holds control characters such as a line
/// break, double-quoted with JSON's escapes (valid YAML 1.2 §7.3.1).
fn quoted(text: &str) -> String {
    if text.chars().any(char::is_control) {
        serde_json::Value::String(text.to_owned()).to_string()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// The Prometheus rules file for `rules` under metric `prefix`, after
/// checking `prefix` (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`, as
/// `metrics.prefix`).
///
/// # Errors
///
/// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming `prefix` when it is not a
/// metric-name prefix (the rules would query series that cannot exist).
///
/// ```
/// use aureus_observability::alerts::{promql, AlertRule};
///
/// let yaml = promql::try_rules_yaml(&AlertRule::defaults(), "kernel").unwrap();
/// assert!(yaml.contains("kernel_tasks_completed_total"));
/// let err = promql::try_rules_yaml(&AlertRule::defaults(), "my-app").unwrap_err();
/// assert!(err.to_string().contains("my-app"));
/// ```
pub fn try_rules_yaml(rules: &[AlertRule], prefix: &str) -> crate::Result<String> {
    crate::config::check_metrics_prefix("prefix", prefix)?;
    Ok(rules_yaml(rules, prefix))
}

/// The Prometheus rules file for `rules` under metric `prefix`: per rule, one
/// alert per severity tier (the base tier bounded so that exactly one fires).
/// Names, ids and texts are YAML-quoted, so any rule text yields a valid
/// file. `prefix` is used as given: [`try_rules_yaml`] checks it first.
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
            let _ = writeln!(out, "      - alert: {}", quoted(rule.prometheus_name));
            let _ = writeln!(out, "        expr: {}", quoted(&expr));
            if !rule.for_duration.is_zero() {
                let _ = writeln!(out, "        for: {}", range(rule.for_duration));
            }
            let _ = writeln!(out, "        labels:");
            let _ = writeln!(out, "          severity: {}", severity.as_str());
            let _ = writeln!(out, "          alert_id: {}", quoted(rule.id));
            let _ = writeln!(out, "        annotations:");
            let _ = writeln!(out, "          summary: {}", quoted(rule.summary));
            let description = format!("{condition} over the last {}", range(rule.window));
            let _ = writeln!(out, "          description: {}", quoted(&description));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quoting_survives_quotes_and_line_breaks() {
        assert_eq!(quoted("plain"), "'plain'");
        assert_eq!(quoted("it's: #1"), "'it''s: #1'");
        assert_eq!(quoted("two\nlines \"q\""), "\"two\\nlines \\\"q\\\"\"");
    }
}
