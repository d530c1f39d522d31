//! The Prometheus text exposition format, version 0.0.4: names, escaping and
//! numbers.
//!
//! Follows "Exposition formats — Text format details"
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details>)
//! and the data model's name rules
//! (<https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels>):
//!
//! * label values escape backslash as `\\`, double quote as `\"` and line
//!   feed as `\n`; every other character (tab, carriage return, any Unicode)
//!   is written as it is;
//! * `# HELP` text escapes backslash as `\\` and line feed as `\n` only;
//! * sample values are Go `ParseFloat` numbers, with `NaN`, `+Inf` and `-Inf`
//!   for the special values;
//! * metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
//!   `[a-zA-Z_][a-zA-Z0-9_]*`; names starting with `__` are reserved, and so
//!   are the label names `le` (histogram buckets) and `quantile` (summaries).

use std::fmt::Write as _;

/// The `Content-Type` of a text-format 0.0.4 exposition.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Label names the format gives a meaning of its own: `le` (histogram bucket
/// bounds) and `quantile` (summary quantiles).
pub(crate) const RESERVED_LABEL_NAMES: [&str; 2] = ["le", "quantile"];

/// Whether `name` is a metric name of the data model
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`) not in the reserved `__` namespace.
pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a label name of the data model (`[a-zA-Z_][a-zA-Z0-9_]*`)
/// not in the reserved `__` namespace. `le` and `quantile` pass this check;
/// see [`RESERVED_LABEL_NAMES`].
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `value` escaped for a label value (between the double quotes).
pub(crate) fn push_label_value(out: &mut String, value: &str) {
    push_escaped(out, value, true);
}

/// Appends `text` escaped for a `# HELP` line.
pub(crate) fn push_help(out: &mut String, text: &str) {
    push_escaped(out, text, false);
}

fn push_escaped(out: &mut String, text: &str, quote: bool) {
    let mut rest = text;
    while let Some(at) = rest.find(|c| c == '\\' || c == '\n' || (quote && c == '"')) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// Appends `value` as a sample value or bucket bound: `NaN`, `+Inf`, `-Inf`,
/// or the shortest decimal that reads back as the same `f64` (in exponent
/// notation below 1e-4 and from 1e16 on, so no number runs to hundreds of
/// digits).
pub(crate) fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let magnitude = value.abs();
        if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
            let _ = write!(out, "{value:e}");
        } else {
            let _ = write!(out, "{value}");
        }
    }
}

/// Appends `value` as OpenMetrics' canonical number for `le` and
/// `quantile` label values ("Considerations: Canonical Numbers"): Go's
/// shortest `%g` rendering (exponent form below 1e-4 and from 1e6 on, at
/// least two exponent digits) with `.0` appended to a number without a
/// decimal point or exponent — `0.0`, `0.001`, `1.0`, `100000.0`, `1e+06`,
/// `1e-05`, `+Inf`.
pub(crate) fn push_canonical_float(out: &mut String, value: f64) {
    if !value.is_finite() {
        push_float(out, value);
        return;
    }
    // `{:e}` gives the shortest round-trip digits and the decimal exponent.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if value != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    } else {
        let start = out.len();
        let _ = write!(out, "{value}");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
    }
}

/// Appends `text` escaped for an OpenMetrics `# HELP` line (as a label
/// value: backslash, double quote and line feed).
pub(crate) fn push_openmetrics_help(out: &mut String, text: &str) {
    push_escaped(out, text, true);
}

/// Appends one `name="value"` pair (no separator).
pub(crate) fn push_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    push_label_value(out, value);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(value: &str) -> String {
        let mut out = String::new();
        push_label_value(&mut out, value);
        out
    }

    fn help(text: &str) -> String {
        let mut out = String::new();
        push_help(&mut out, text);
        out
    }

    fn float(value: f64) -> String {
        let mut out = String::new();
        push_float(&mut out, value);
        out
    }

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed_only() {
        for (raw, escaped) in [
            ("", ""),
            ("plain", "plain"),
            (r"\\server\share", r"\\\\server\\share"),
            (r#"esc\"aped"#, r#"esc\\\"aped"#),
            ("bs\\\nnl", r"bs\\\nnl"),
            ("a\"b", r#"a\"b"#),
            ("line\nfeed", r"line\nfeed"),
            ("tab\there", "tab\there"),
            ("cr\rhere", "cr\rhere"),
            ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
            (r"\", r"\\"),
            (r"\n", r"\\n"),
            ("\\\"", "\\\\\\\""),
        ] {
            assert_eq!(label(raw), escaped, "{raw:?}");
        }
    }

    #[test]
    fn help_escapes_backslash_and_line_feed_but_not_quotes() {
        assert_eq!(help("say \"hi\"\\now\nnext"), r#"say "hi"\\now\nnext"#);
        assert_eq!(help(r"\n"), r"\\n");
    }

    #[test]
    fn floats_follow_go_parse_float_with_the_special_values() {
        for (value, text) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.005, "0.005"),
            (100.0, "100"),
            (1e-5, "1e-5"),
            (1.5e21, "1.5e21"),
            (f64::MAX, "1.7976931348623157e308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(float(value), text);
            if value.is_finite() {
                assert_eq!(text.parse::<f64>().ok(), Some(value), "{text} reads back");
            }
        }
    }

    #[test]
    fn canonical_numbers_follow_the_openmetrics_examples() {
        let canonical = |value: f64| {
            let mut out = String::new();
            push_canonical_float(&mut out, value);
            out
        };
        // The specification's own lists ("Canonical Numbers").
        for (value, text) in [
            (0.0, "0.0"),
            (0.001, "0.001"),
            (0.002, "0.002"),
            (0.01, "0.01"),
            (0.1, "0.1"),
            (0.9, "0.9"),
            (0.95, "0.95"),
            (0.99, "0.99"),
            (0.999, "0.999"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
            (f64::INFINITY, "+Inf"),
            (2.5e-7, "2.5e-07"),
            (1234567.0, "1.234567e+06"),
            (-0.5, "-0.5"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(canonical(value), text, "{value}");
        }
    }

    #[test]
    fn openmetrics_help_escapes_quotes_too() {
        let mut out = String::new();
        push_openmetrics_help(&mut out, "say \"hi\"\\now\nnext");
        assert_eq!(out, r#"say \"hi\"\\now\nnext"#);
    }

    #[test]
    fn names_follow_the_data_model() {
        for good in ["a", "_a", "a:b", "aureus_tasks_total", "A9_:"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "__a", "é", "a.b"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        for good in ["a", "_a", "le", "tool_name", "A9_"] {
            assert!(is_label_name(good), "{good}");
        }
        for bad in ["", "9a", "a:b", "a-b", "__name__", "__a", "é"] {
            assert!(!is_label_name(bad), "{bad}");
        }
    }
}
