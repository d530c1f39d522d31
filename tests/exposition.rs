//! `/metrics` against the Prometheus text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>): label
//! values, HELP text and names read back exactly, by two independent parsers
//! (`promtool check metrics` and the Python client library's
//! `text_string_to_metric_families`) and by this file's own strict reader;
//! a conformance table of the specification's rules; reserved and colliding
//! label names refused as configuration errors; and content negotiation:
//! OpenMetrics 1.0 (read back by the Python client's OpenMetrics parser,
//! exemplars included) when the scraper asks for it, text 0.0.4 otherwise.
//!
//! Tests needing promtool or Python are `#[ignore]`d and run by
//! `scripts/test.sh` (with `--include-ignored`).

#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use aureus_observability::config::{FileSinkConfig, MetricsConfig};
use aureus_observability::event;
use aureus_observability::metrics::{DurationUnit, ExpositionRecorder};
use aureus_observability::{Config, Error, Telemetry};
use metrics::Recorder as _;
use prometheus::{promtool_check_metrics, python_parse, ParsedFamily, ParsedSample};
use serde_json::json;

// ---------------------------------------------------------------------------
// A strict reader of the text format (the third parser)
// ---------------------------------------------------------------------------

/// Label pairs in written order.
type Labels = Vec<(String, String)>;

/// Per histogram series: (le, cumulative count) per bucket, `_sum`, `_count`.
type HistogramLines = (Vec<(f64, f64)>, Option<f64>, Option<f64>);

/// A table case's expected sample: name, labels, value.
type Expected = (&'static str, &'static [(&'static str, &'static str)], f64);

/// One sample line: name, labels in written order (unescaped), value text.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

/// One family as written: HELP (unescaped), TYPE, its sample lines.
#[derive(Debug, Clone, PartialEq)]
struct Family {
    name: String,
    help: Option<String>,
    kind: String,
    lines: Vec<Line>,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Undoes the HELP escapes (`\\`, `\n`); any other escape is an error.
fn unescape_help(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => return Err(format!("HELP escape \\{other:?} in {text:?}")),
        }
    }
    Ok(out)
}

/// Reads `{…}` from the start of `text`: the labels and what follows `}`.
fn read_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = text.strip_prefix('{').ok_or("no {")?;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = rest.split_once("=\"").ok_or_else(|| format!("no =\" in {rest:?}"))?;
        if !is_label_name(name) {
            return Err(format!("label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated label value in {text:?}")),
                Some((i, '"')) => break i + 1,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("label value escape {other:?} in {text:?}")),
                },
                Some((_, '\n')) => return Err("raw line feed in a label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &after[end..];
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err(format!("expected , or }} at {rest:?}"));
        }
    }
}

/// Reads an exposition strictly by the rules of format 0.0.4 as this crate
/// writes it: every line ends in `\n`; `# HELP` and `# TYPE` at most once per
/// family, before its samples; a family's samples together (families not
/// interleaved); sample names allowed by the family's type; no label given
/// twice; no series twice; values parse as Go `ParseFloat` numbers (the
/// special ones spelled `NaN`, `+Inf`, `-Inf`); no timestamps.
fn read_exposition(text: &str) -> Result<Vec<Family>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line does not end in \\n".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut seen_series = BTreeSet::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let (keyword, rest) = comment.split_once(' ').ok_or_else(|| format!("comment {line:?}"))?;
            let (name, arg) = rest.split_once(' ').ok_or_else(|| format!("comment {line:?}"))?;
            if !is_metric_name(name) {
                return Err(format!("metric name {name:?} in {line:?}"));
            }
            let started = families.last().is_some_and(|f| f.name == name);
            if !started {
                if families.iter().any(|f| f.name == name) {
                    return Err(format!("family {name} interleaved / repeated"));
                }
                families.push(Family {
                    name: name.to_owned(),
                    help: None,
                    kind: String::new(),
                    lines: Vec::new(),
                });
            }
            let family = families.last_mut().ok_or("no family")?;
            if !family.lines.is_empty() {
                return Err(format!("{keyword} of {name} after its samples"));
            }
            match keyword {
                "HELP" if family.help.is_none() => family.help = Some(unescape_help(arg)?),
                "TYPE" if family.kind.is_empty() => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                        return Err(format!("type {arg:?}"));
                    }
                    family.kind = arg.to_owned();
                }
                _ => return Err(format!("repeated or unknown {keyword} line for {name}")),
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return Err(format!("unexpected line {line:?}"));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| format!("sample {line:?}"))?;
        let name = &line[..name_end];
        let (labels, rest) = if line[name_end..].starts_with('{') {
            read_labels(&line[name_end..])?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let value = rest.strip_prefix(' ').ok_or_else(|| format!("no value in {line:?}"))?;
        if value.contains(' ') {
            return Err(format!("timestamp or junk after the value in {line:?}"));
        }
        let number_ok = match value {
            "NaN" | "+Inf" | "-Inf" => true,
            _ => value.parse::<f64>().is_ok_and(f64::is_finite),
        };
        if !number_ok {
            return Err(format!("value {value:?} in {line:?}"));
        }
        let names: BTreeSet<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
        if names.len() != labels.len() {
            return Err(format!("a label given twice in {line:?}"));
        }
        let family = families
            .last_mut()
            .ok_or_else(|| format!("sample before any TYPE: {line:?}"))?;
        let suffixes: &[&str] = match family.kind.as_str() {
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        if !suffixes.iter().any(|s| name == format!("{}{s}", family.name)) {
            return Err(format!("sample {name} inside family {} ({})", family.name, family.kind));
        }
        let mut identity = labels.clone();
        identity.sort();
        if !seen_series.insert((name.to_owned(), identity)) {
            return Err(format!("series written twice: {line:?}"));
        }
        family.lines.push(Line {
            name: name.to_owned(),
            labels,
            value: value.to_owned(),
        });
    }
    Ok(families)
}

/// The value of a written line as a number.
fn number(value: &str) -> f64 {
    match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

fn same_number(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Histogram rules on every histogram family: per series, buckets in
/// increasing `le` order, cumulative, ending with `le="+Inf"` equal to
/// `_count`, and a `_sum`.
fn check_histograms(families: &[Family]) -> Result<(), String> {
    for family in families.iter().filter(|f| f.kind == "histogram") {
        let mut series: BTreeMap<Labels, HistogramLines> = BTreeMap::new();
        for line in &family.lines {
            let mut labels = line.labels.clone();
            let le = labels.iter().position(|(n, _)| n == "le").map(|i| labels.remove(i).1);
            let entry = series.entry(labels).or_default();
            match (line.name.strip_prefix(&family.name), le) {
                (Some("_bucket"), Some(le)) => entry.0.push((number(&le), number(&line.value))),
                (Some("_sum"), None) => entry.1 = Some(number(&line.value)),
                (Some("_count"), None) => entry.2 = Some(number(&line.value)),
                _ => return Err(format!("odd histogram line {line:?}")),
            }
        }
        for (labels, (buckets, sum, count)) in series {
            let count = count.ok_or_else(|| format!("{}{labels:?}: no _count", family.name))?;
            sum.ok_or_else(|| format!("{}{labels:?}: no _sum", family.name))?;
            let last = buckets.last().ok_or("no buckets")?;
            if last.0 != f64::INFINITY || last.1 != count {
                return Err(format!("{}{labels:?}: le=+Inf {last:?} vs _count {count}", family.name));
            }
            for pair in buckets.windows(2) {
                if pair[0].0 >= pair[1].0 || pair[0].1 > pair[1].1 {
                    return Err(format!("{}{labels:?}: buckets {pair:?} not cumulative", family.name));
                }
            }
        }
    }
    Ok(())
}

/// The Python parser and ours read the same families, samples and values.
fn python_agrees(text: &str, ours: &[Family]) -> Vec<ParsedFamily> {
    let parsed = python_parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let flat = |families: &[ParsedFamily]| -> Vec<(String, BTreeMap<String, String>, u64)> {
        families
            .iter()
            .flat_map(|f| &f.samples)
            .map(|s: &ParsedSample| (s.name.clone(), s.labels.clone(), s.value.to_bits()))
            .collect()
    };
    let mine: Vec<_> = ours
        .iter()
        .flat_map(|f| &f.lines)
        .map(|l| {
            (
                l.name.clone(),
                l.labels.iter().cloned().collect(),
                number(&l.value).to_bits(),
            )
        })
        .collect();
    let theirs = flat(&parsed);
    assert_eq!(theirs.len(), mine.len(), "sample count\n{text}");
    for (a, b) in theirs.iter().zip(&mine) {
        let same = a.0 == b.0 && a.1 == b.1 && same_number(f64::from_bits(a.2), f64::from_bits(b.2));
        assert!(same, "python read {a:?}, we wrote {b:?}");
    }
    assert_eq!(parsed.len(), ours.len(), "one family each, not split: {parsed:#?}");
    for (p, o) in parsed.iter().zip(ours) {
        assert_eq!(p.kind, o.kind, "{}", o.name);
        assert_eq!(p.help, o.help.clone().unwrap_or_default(), "{}", o.name);
        assert!(p.samples.iter().all(|s| s.timestamp.is_none()));
    }
    parsed
}

// ---------------------------------------------------------------------------
// The stack, on the wire
// ---------------------------------------------------------------------------

fn serve(
    metrics: MetricsConfig,
    sink_name: Option<&str>,
    dir: &std::path::Path,
) -> (tracing::Dispatch, Telemetry, SocketAddr) {
    let mut builder = Config::builder().listen("127.0.0.1:0").metrics(metrics);
    builder = match sink_name {
        Some(name) => {
            let mut sink = FileSinkConfig::at(dir.join("events.jsonl"));
            sink.name = Some(name.to_owned());
            builder.sink(sink)
        }
        None => builder.no_sinks(),
    };
    let (dispatch, telemetry) = aureus_observability::build(builder.build().unwrap()).unwrap();
    let addr = telemetry.server_addr().expect("listening");
    (dispatch, telemetry, addr)
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = prometheus::http_get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Label values that catch every escaping mistake: a backslash in every
/// position and before each escapable character, quotes, line feeds, tabs,
/// carriage returns, non-ASCII, empty, text that looks like syntax, 1 KiB.
fn corpus() -> Vec<String> {
    let mut values: Vec<String> = [
        r"\\server\share",
        r#"esc\"aped"#,
        r#"esc"aped"#,
        "bs\\\nnl",
        "bs\\nnl",
        r"\",
        r"\\",
        r"\\\",
        r"\lead",
        r"trail\",
        r"mid\dle",
        r"\n",
        r#"\""#,
        "\"",
        "\"\"",
        "\n",
        "\n\n",
        "\r\n",
        "tab\there",
        "ünïcødé ✓ 日本語 🦀",
        "",
        " ",
        " lead and trail ",
        "a,b=\"c\"}",
        "} 1",
        "{",
        "# HELP x y",
        "=",
    ]
    .map(str::to_owned)
    .to_vec();
    let unit = "0123456789abcd\\\"\n\t é€🦀";
    let mut long = String::new();
    while long.len() < 1024 {
        long.push_str(unit);
    }
    values.push(long);
    values
}

const GLOBAL_VALUE: &str = "k\\1 \"q\"\n ü";
/// Sink names are `[A-Za-z0-9._-]+`, so this label needs no escape.
const SINK_NAME: &str = "main.sink-1";

fn emit_corpus(dispatch: &tracing::Dispatch, values: &[String]) {
    tracing::dispatcher::with_default(dispatch, || {
        for (i, value) in values.iter().enumerate() {
            for _ in 0..=i {
                event::ToolCall {
                    workflow_id: "wf",
                    task_id: "t",
                    tool_name: value,
                    args: &json!({}),
                }
                .emit();
            }
            event::StepEnd {
                workflow_id: "wf",
                task_id: "t",
                task_type: value,
                success: true,
                duration_ms: 1500,
                error: None,
            }
            .emit();
            event::CrvResult {
                workflow_id: "wf",
                task_id: "t",
                gate_name: value,
                passed: false,
                blocked: true,
                failure_code: None,
            }
            .emit();
        }
    });
}

fn corpus_stack(dir: &std::path::Path) -> (tracing::Dispatch, Telemetry, SocketAddr) {
    let metrics = MetricsConfig {
        global_labels: [
            ("instance".to_owned(), GLOBAL_VALUE.to_owned()),
            ("zone".to_owned(), "eu-1".to_owned()),
        ]
        .into(),
        // Base units: the exposition is then lint-free for promtool.
        duration_unit: DurationUnit::Seconds,
        ..Default::default()
    };
    serve(metrics, Some(SINK_NAME), dir)
}

/// The label values of `label` on the lines named `sample`, with their values.
fn values_of(families: &[Family], sample: &str, label: &str, filter: &[(&str, &str)]) -> HashMap<String, String> {
    families
        .iter()
        .flat_map(|f| &f.lines)
        .filter(|l| l.name == sample)
        .filter(|l| {
            filter
                .iter()
                .all(|(n, v)| l.labels.iter().any(|(ln, lv)| ln == n && lv == v))
        })
        .filter_map(|l| {
            let value = l.labels.iter().find(|(n, _)| n == label)?.1.clone();
            Some((value, l.value.clone()))
        })
        .collect()
}

/// The three values of issue 11, byte for byte on `/metrics` — no peers needed.
#[test]
fn issue_11_label_values_are_escaped_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, telemetry, addr) = serve(MetricsConfig::default(), None, dir.path());
    emit_corpus(
        &dispatch,
        &[r"\\server\share", r#"esc\"aped"#, r#"esc"aped"#, "bs\\\nnl"].map(str::to_owned),
    );
    let text = scrape(addr);
    for line in [
        r#"aureus_tool_calls_total{tool_name="\\\\server\\share"} 1"#,
        r#"aureus_tool_calls_total{tool_name="esc\\\"aped"} 2"#,
        r#"aureus_tool_calls_total{tool_name="esc\"aped"} 3"#,
        r#"aureus_tool_calls_total{tool_name="bs\\\nnl"} 4"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
    let families = read_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let tools = values_of(&families, "aureus_tool_calls_total", "tool_name", &[]);
    assert_eq!(tools.len(), 4, "{tools:?}");
    assert_eq!(tools[r"\\server\share"], "1");
    assert_eq!(tools[r#"esc\"aped"#], "2");
    assert_eq!(tools[r#"esc"aped"#], "3");
    assert_eq!(tools["bs\\\nnl"], "4");
    telemetry.shutdown(Duration::from_secs(5));
}

/// The standalone `MetricsLayer` on an `ExpositionRecorder` keeps every
/// corpus value whole too (1 KiB included) — no peers needed.
#[test]
fn the_standalone_layer_keeps_every_label_value_whole() {
    use aureus_observability::metrics::{AureusMetrics, MetricsLayer};
    use tracing_subscriber::prelude::*;

    let recorder = std::sync::Arc::new(ExpositionRecorder::new());
    let aureus = std::sync::Arc::new(AureusMetrics::new(recorder.clone(), "aureus", 1000));
    let subscriber = tracing_subscriber::registry().with(MetricsLayer::new(aureus));
    let values = corpus();
    tracing::subscriber::with_default(subscriber, || {
        for (i, value) in values.iter().enumerate() {
            for _ in 0..=i {
                tracing::info!(target: "aureus", event_type = "tool_call", tool_name = value.as_str());
            }
        }
    });
    let text = recorder.render();
    let families = read_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let tools = values_of(&families, "aureus_tool_calls_total", "tool_name", &[]);
    let expected: HashMap<String, String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), (i + 1).to_string()))
        .collect();
    assert_eq!(tools, expected);
}

/// Every label value, HELP text and name of `/metrics` — contract metrics,
/// self-metrics, alert gauges, global labels — reads back exactly as
/// recorded, by promtool, by `prometheus_client` and by the strict reader.
#[test]
#[ignore = "needs promtool and prometheus_client; run via the README test command"]
fn every_label_value_round_trips_through_two_independent_parsers() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, telemetry, addr) = corpus_stack(dir.path());
    let values = corpus();
    emit_corpus(&dispatch, &values);
    // Let the file sink deliver, so its self-metrics carry counts.
    std::thread::sleep(Duration::from_millis(300));
    let text = scrape(addr);

    promtool_check_metrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ours = read_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_histograms(&ours).unwrap();
    let parsed = python_agrees(&text, &ours);

    // What was recorded, per series, read back by the Python parser.
    let samples: Vec<&ParsedSample> = parsed.iter().flat_map(|f| &f.samples).collect();
    let by = |sample: &str, label: &str, extra: &[(&str, &str)]| -> BTreeMap<String, f64> {
        samples
            .iter()
            .filter(|s| {
                s.name == sample
                    && extra
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| (s.labels[label].clone(), s.value))
            .collect()
    };
    let expected_tools: BTreeMap<String, f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), (i + 1) as f64))
        .collect();
    assert_eq!(by("aureus_tool_calls_total", "tool_name", &[]), expected_tools);
    let ones: BTreeMap<String, f64> = values.iter().map(|v| (v.clone(), 1.0)).collect();
    assert_eq!(
        by("aureus_tasks_completed_total", "task_type", &[("success", "true")]),
        ones
    );
    assert_eq!(by("aureus_task_duration_seconds_count", "task_type", &[]), ones);
    assert_eq!(
        by("aureus_task_duration_seconds_bucket", "task_type", &[("le", "1")]),
        values.iter().map(|v| (v.clone(), 0.0)).collect(),
    );
    assert_eq!(
        by(
            "aureus_crv_checks_total",
            "gate_name",
            &[("passed", "false"), ("blocked", "true")]
        ),
        ones
    );
    // Self-metrics: the sink's free-text name is a label value too.
    let records = by("aureus_telemetry_records_total", "sink", &[]);
    assert!(records.contains_key(SINK_NAME), "{records:?}");
    // Alert gauges are there, with the global labels like every series.
    assert!(
        samples.iter().any(|s| s.name == "aureus_alerts_firing"),
        "no alert gauges"
    );
    for sample in &samples {
        assert_eq!(
            sample.labels.get("instance").map(String::as_str),
            Some(GLOBAL_VALUE),
            "{sample:?}"
        );
        assert_eq!(
            sample.labels.get("zone").map(String::as_str),
            Some("eu-1"),
            "{sample:?}"
        );
    }
    // HELP says the unit the name says.
    let duration = parsed
        .iter()
        .find(|f| f.name == "aureus_task_duration_seconds")
        .unwrap();
    assert!(duration.help.contains("in seconds"), "{}", duration.help);
    // Names and HELP texts: every family described, every name as written.
    for family in &ours {
        assert!(
            family.help.as_deref().is_some_and(|h| !h.is_empty()),
            "{} has no HELP",
            family.name
        );
        assert!(family.name.starts_with("aureus_"), "{}", family.name);
    }
    // No series twice (the strict reader checks it too).
    let identities: BTreeSet<_> = samples.iter().map(|s| (s.name.clone(), s.labels.clone())).collect();
    assert_eq!(identities.len(), samples.len(), "a series appears twice");
    telemetry.shutdown(Duration::from_secs(5));
}

/// A real Prometheus server (its own scrape parser, not promtool's) stores
/// every corpus value exactly: queried back over its HTTP API as JSON.
#[test]
#[ignore = "needs prometheus; run via the README test command"]
fn a_prometheus_server_stores_every_label_value_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, telemetry, addr) = corpus_stack(dir.path());
    let values = corpus();
    emit_corpus(&dispatch, &values);
    let server = prometheus::PrometheusServer::start(&[addr], Duration::from_millis(500)).unwrap();
    let wanted = values.len() as f64;
    server
        .wait_until(
            "count(aureus_tool_calls_total)",
            |v| v == Some(wanted),
            Duration::from_secs(40),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    let result = server.query("aureus_tool_calls_total").unwrap();
    let mut stored = BTreeMap::new();
    for series in result.as_array().unwrap() {
        let labels = &series["metric"];
        // Prometheus stores an empty label as no label, and renames our
        // `instance` to `exported_instance` (the target's own wins).
        let tool = labels["tool_name"].as_str().unwrap_or("").to_owned();
        assert_eq!(labels["exported_instance"], GLOBAL_VALUE, "{series}");
        assert_eq!(labels["zone"], "eu-1", "{series}");
        let value: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
        assert!(
            stored.insert(tool, value).is_none(),
            "two series for one value: {series}"
        );
    }
    let expected: BTreeMap<String, f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), (i + 1) as f64))
        .collect();
    assert_eq!(stored, expected);
    // The whole scrape went in: no sample refused by the server's parser.
    let up = server.query_scalar("up").unwrap();
    assert_eq!(up, Some(1.0));
    drop(server);
    telemetry.shutdown(Duration::from_secs(5));
}

// ---------------------------------------------------------------------------
// The conformance table
// ---------------------------------------------------------------------------

static META: metrics::Metadata<'static> = metrics::Metadata::new("conformance", metrics::Level::INFO, None);

fn key(name: &str, labels: &[(&str, &str)]) -> metrics::Key {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string()))
        .collect();
    metrics::Key::from_parts(name.to_owned(), labels)
}

/// One rule of the specification: what to record, the exact text it must
/// give, and the samples a parser must read from it.
struct Case {
    rule: &'static str,
    record: fn(&ExpositionRecorder),
    text: &'static str,
    samples: &'static [Expected],
}

fn counter(r: &ExpositionRecorder, name: &'static str, help: &'static str, labels: &[(&str, &str)], n: u64) {
    r.describe_counter(name.into(), None, help.into());
    r.register_counter(&key(name, labels), &META).increment(n);
}

fn gauge(r: &ExpositionRecorder, labels: &[(&str, &str)], v: f64) {
    r.describe_gauge("temperature_celsius".into(), None, "A gauge.".into());
    r.register_gauge(&key("temperature_celsius", labels), &META).set(v);
}

/// The table's recorder: the histogram case's buckets are 0.1 and 1.
fn table_recorder() -> ExpositionRecorder {
    ExpositionRecorder::builder()
        .buckets("latency_seconds", &[0.1, 1.0])
        .unwrap()
        .build()
}

const CASES: &[Case] = &[
    Case {
        rule: "the specification's own example of escaping in label values",
        record: |r| {
            r.describe_gauge("msdos_file_access_time_seconds".into(), None, "The spec's example.".into());
            let labels = [("path", r"C:\DIR\FILE.TXT"), ("error", "Cannot find file:\n\"FILE.TXT\"")];
            r.register_gauge(&key("msdos_file_access_time_seconds", &labels), &META)
                .set(1.458255915e9);
        },
        text: "# HELP msdos_file_access_time_seconds The spec's example.\n\
               # TYPE msdos_file_access_time_seconds gauge\n\
               msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1458255915\n",
        samples: &[(
            "msdos_file_access_time_seconds",
            &[("path", r"C:\DIR\FILE.TXT"), ("error", "Cannot find file:\n\"FILE.TXT\"")],
            1.458255915e9,
        )],
    },
    Case {
        rule: "label value: backslash is written \\\\",
        record: |r| counter(r, "paths_total", "Paths.", &[("path", r"C:\dir\\x\")], 1),
        text: "# HELP paths_total Paths.\n# TYPE paths_total counter\npaths_total{path=\"C:\\\\dir\\\\\\\\x\\\\\"} 1\n",
        samples: &[("paths_total", &[("path", r"C:\dir\\x\")], 1.0)],
    },
    Case {
        rule: "label value: double quote is written \\\"",
        record: |r| counter(r, "quotes_total", "Quotes.", &[("q", r#"say "hi" \"#)], 2),
        text: "# HELP quotes_total Quotes.\n# TYPE quotes_total counter\nquotes_total{q=\"say \\\"hi\\\" \\\\\"} 2\n",
        samples: &[("quotes_total", &[("q", r#"say "hi" \"#)], 2.0)],
    },
    Case {
        rule: "label value: line feed is written \\n",
        record: |r| counter(r, "lines_total", "Lines.", &[("l", "one\ntwo\\\n")], 3),
        text: "# HELP lines_total Lines.\n# TYPE lines_total counter\nlines_total{l=\"one\\ntwo\\\\\\n\"} 3\n",
        samples: &[("lines_total", &[("l", "one\ntwo\\\n")], 3.0)],
    },
    Case {
        rule: "label value: every other character as it is (tab, CR, UTF-8), empty allowed",
        record: |r| {
            counter(r, "chars_total", "Chars.", &[("c", "tab\tcr\rü✓🦀")], 1);
            counter(r, "chars_total", "Chars.", &[("c", "")], 1);
        },
        text: "# HELP chars_total Chars.\n# TYPE chars_total counter\nchars_total{c=\"\"} 1\nchars_total{c=\"tab\tcr\rü✓🦀\"} 1\n",
        samples: &[
            ("chars_total", &[("c", "")], 1.0),
            ("chars_total", &[("c", "tab\tcr\rü✓🦀")], 1.0),
        ],
    },
    Case {
        rule: "HELP: backslash and line feed escaped, double quote not",
        record: |r| counter(r, "help_total", "Says \"hi\" to C:\\ and\nmore.", &[], 1),
        text: "# HELP help_total Says \"hi\" to C:\\\\ and\\nmore.\n# TYPE help_total counter\nhelp_total 1\n",
        samples: &[("help_total", &[], 1.0)],
    },
    Case {
        rule: "values: +Inf, -Inf and NaN",
        record: |r| {
            gauge(r, &[("s", "a")], f64::INFINITY);
            gauge(r, &[("s", "b")], f64::NEG_INFINITY);
            gauge(r, &[("s", "c")], f64::NAN);
            gauge(r, &[("s", "d")], -0.5);
            gauge(r, &[("s", "e")], 1.5e300);
        },
        text: "# HELP temperature_celsius A gauge.\n# TYPE temperature_celsius gauge\n\
               temperature_celsius{s=\"a\"} +Inf\ntemperature_celsius{s=\"b\"} -Inf\n\
               temperature_celsius{s=\"c\"} NaN\ntemperature_celsius{s=\"d\"} -0.5\n\
               temperature_celsius{s=\"e\"} 1.5e300\n",
        samples: &[
            ("temperature_celsius", &[("s", "a")], f64::INFINITY),
            ("temperature_celsius", &[("s", "b")], f64::NEG_INFINITY),
            ("temperature_celsius", &[("s", "c")], f64::NAN),
            ("temperature_celsius", &[("s", "d")], -0.5),
            ("temperature_celsius", &[("s", "e")], 1.5e300),
        ],
    },
    Case {
        rule: "histogram: cumulative buckets by le, le=\"+Inf\" equals _count, then _sum and _count",
        record: |r| {
            r.describe_histogram("latency_seconds".into(), None, "Latency.".into());
            let h = r.register_histogram(&key("latency_seconds", &[("op", "r\"w")]), &META);
            for v in [0.05, 0.1, 0.7, 2.0, f64::INFINITY] {
                h.record(v);
            }
        },
        text: "# HELP latency_seconds Latency.\n# TYPE latency_seconds histogram\n\
               latency_seconds_bucket{op=\"r\\\"w\",le=\"0.1\"} 2\n\
               latency_seconds_bucket{op=\"r\\\"w\",le=\"1\"} 3\n\
               latency_seconds_bucket{op=\"r\\\"w\",le=\"+Inf\"} 5\n\
               latency_seconds_sum{op=\"r\\\"w\"} +Inf\n\
               latency_seconds_count{op=\"r\\\"w\"} 5\n",
        samples: &[
            ("latency_seconds_bucket", &[("op", "r\"w"), ("le", "0.1")], 2.0),
            ("latency_seconds_bucket", &[("op", "r\"w"), ("le", "1")], 3.0),
            ("latency_seconds_bucket", &[("op", "r\"w"), ("le", "+Inf")], 5.0),
            ("latency_seconds_sum", &[("op", "r\"w")], f64::INFINITY),
            ("latency_seconds_count", &[("op", "r\"w")], 5.0),
        ],
    },
    Case {
        rule: "families: HELP and TYPE once, before the samples; families not interleaved; no _created, no timestamps",
        record: |r| {
            counter(r, "b_total", "B.", &[("x", "2")], 1);
            counter(r, "a_total", "A.", &[("x", "1")], 1);
            counter(r, "b_total", "B.", &[("x", "1")], 1);
            counter(r, "a_total", "A.", &[("x", "2")], 1);
        },
        text: "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 1\n\
               # HELP b_total B.\n# TYPE b_total counter\nb_total{x=\"1\"} 1\nb_total{x=\"2\"} 1\n",
        samples: &[
            ("a_total", &[("x", "1")], 1.0),
            ("a_total", &[("x", "2")], 1.0),
            ("b_total", &[("x", "1")], 1.0),
            ("b_total", &[("x", "2")], 1.0),
        ],
    },
    Case {
        rule: "reserved and invalid label names (le, quantile, __*, bad characters) never reach the text",
        record: |r| {
            counter(r, "reserved_total", "Reserved.", &[("le", "1")], 1);
            counter(r, "reserved_total", "Reserved.", &[("quantile", "0.5")], 1);
            counter(r, "reserved_total", "Reserved.", &[("__name__", "x")], 1);
            counter(r, "reserved_total", "Reserved.", &[("a-b", "x")], 1);
            counter(r, "reserved_total", "Reserved.", &[("ok", "x")], 1);
        },
        text: "# HELP reserved_total Reserved.\n# TYPE reserved_total counter\nreserved_total{ok=\"x\"} 1\n",
        samples: &[("reserved_total", &[("ok", "x")], 1.0)],
    },
];

/// Each case's exact text, what the strict reader and the histogram rules
/// say about it; no peers needed.
#[test]
fn conformance_table_text_is_exact() {
    for case in CASES {
        let recorder = table_recorder();
        (case.record)(&recorder);
        let text = recorder.render();
        assert_eq!(text, case.text, "{}", case.rule);
        let families = read_exposition(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", case.rule));
        check_histograms(&families).unwrap_or_else(|e| panic!("{}: {e}", case.rule));
        let lines: Vec<&Line> = families.iter().flat_map(|f| &f.lines).collect();
        assert_eq!(lines.len(), case.samples.len(), "{}", case.rule);
        for (line, (name, labels, value)) in lines.iter().zip(case.samples) {
            assert_eq!(line.name, *name, "{}", case.rule);
            let expected: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(line.labels, expected, "{}", case.rule);
            assert!(same_number(number(&line.value), *value), "{}: {line:?}", case.rule);
        }
        assert!(!text.contains("_created"), "{}", case.rule);
    }
}

/// Each case read back by promtool and by `prometheus_client`, which must
/// agree with what was recorded.
#[test]
#[ignore = "needs promtool and prometheus_client; run via the README test command"]
fn conformance_table_reads_back_in_both_parsers() {
    for case in CASES {
        let recorder = table_recorder();
        (case.record)(&recorder);
        let text = recorder.render();
        promtool_check_metrics(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", case.rule));
        let parsed = python_parse(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", case.rule));
        let samples: Vec<&ParsedSample> = parsed.iter().flat_map(|f| &f.samples).collect();
        assert_eq!(samples.len(), case.samples.len(), "{}: {parsed:#?}", case.rule);
        for (sample, (name, labels, value)) in samples.iter().zip(case.samples) {
            assert_eq!(sample.name, *name, "{}", case.rule);
            let expected: BTreeMap<String, String> =
                labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(sample.labels, expected, "{}", case.rule);
            assert!(same_number(sample.value, *value), "{}: {sample:?}", case.rule);
        }
        if case.rule.starts_with("HELP") {
            assert_eq!(parsed[0].help, "Says \"hi\" to C:\\ and\nmore.", "{}", case.rule);
        }
    }
}

/// The same table in OpenMetrics: the Python client's OpenMetrics parser
/// reads every case with the same samples (`le` compared as numbers; a
/// histogram's `_sum` and `_count` only where OpenMetrics allows them).
#[test]
#[ignore = "needs prometheus_client; run via the README test command"]
fn conformance_table_reads_back_in_the_openmetrics_parser() {
    for case in CASES {
        let recorder = table_recorder();
        (case.record)(&recorder);
        let text = recorder.render_openmetrics();
        let families =
            prometheus::python_parse_openmetrics(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", case.rule));
        let parsed: Vec<(String, BTreeMap<String, String>, f64)> = families
            .iter()
            .flat_map(|f| f["samples"].as_array().unwrap())
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    normalised(s["labels"].as_object().unwrap()),
                    s["value"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(String, BTreeMap<String, String>, f64)> = case
            .samples
            .iter()
            .map(|(name, labels, value)| {
                let labels = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                    .collect();
                (name.to_string(), normalised(&labels), *value)
            })
            .filter(|(name, _, _)| {
                parsed.iter().any(|(n, _, _)| n == name) || !(name.ends_with("_sum") || name.ends_with("_count"))
            })
            .collect();
        assert_eq!(parsed.len(), expected.len(), "{}: {text}", case.rule);
        for ((name, labels, value), (e_name, e_labels, e_value)) in parsed.iter().zip(&expected) {
            assert_eq!((name, labels), (e_name, e_labels), "{}", case.rule);
            assert!(same_number(*value, *e_value), "{}: {name} {value}", case.rule);
        }
    }
}

// ---------------------------------------------------------------------------
// Reserved and colliding label names, the prefix: typed configuration errors
// ---------------------------------------------------------------------------

fn config_error(result: aureus_observability::Result<Config>) -> (String, String) {
    match result {
        Err(Error::InvalidConfig { key, reason, .. }) => (key, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

fn with_global_label(name: &str, value: &str) -> MetricsConfig {
    MetricsConfig {
        global_labels: [(name.to_owned(), value.to_owned())].into(),
        ..Default::default()
    }
}

/// Every label name our own series carry: contract metrics, self-metrics,
/// alert gauges.
const TAKEN: [&str; 16] = [
    "task_type",
    "success",
    "tool_name",
    "gate_name",
    "passed",
    "blocked",
    "allowed",
    "requires_approval",
    "metric",
    "sink",
    "reason",
    "kind",
    "signal",
    "header",
    "alert",
    "severity",
];

#[test]
fn reserved_invalid_and_colliding_global_labels_are_config_errors() {
    let reserved = ["le", "quantile", "__name__", "__meta", "__"];
    let invalid = ["", "9lives", "a-b", "a.b", "a b", "é", "a:b"];
    for name in reserved.iter().chain(&invalid).chain(&TAKEN) {
        let expected_key = format!("metrics.global_labels.{name}");
        // Builder.
        let built = Config::builder()
            .no_server()
            .metrics(with_global_label(name, "v"))
            .build();
        assert_eq!(config_error(built).0, expected_key);
        // TOML.
        let toml = format!("[metrics.global_labels]\n{:?} = \"v\"\n", name);
        assert_eq!(config_error(Config::from_toml_str(&toml)).0, expected_key, "{toml}");
        // A Config put together by hand and handed to build().
        let config = Config {
            metrics: with_global_label(name, "v"),
            ..Default::default()
        };
        match aureus_observability::build(config) {
            Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, expected_key),
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
    // The collision is named in the reason.
    let (_, reason) = config_error(Config::builder().metrics(with_global_label("tool_name", "x")).build());
    assert!(reason.contains("tool_name"), "{reason}");
    // An empty value would read as no label at all.
    let (key, _) = config_error(Config::builder().metrics(with_global_label("instance", "")).build());
    assert_eq!(key, "metrics.global_labels.instance");
    // Fine: a free name, any value.
    Config::builder()
        .metrics(with_global_label("instance", "k\\1 \"q\"\n"))
        .build()
        .unwrap();
}

#[test]
fn the_metric_prefix_is_checked_from_every_source() {
    for prefix in ["", "9x", "a-b", "__x", "a:b", "a b", "é"] {
        let metrics = MetricsConfig {
            prefix: prefix.to_owned(),
            ..Default::default()
        };
        assert_eq!(
            config_error(Config::builder().metrics(metrics).build()).0,
            "metrics.prefix"
        );
        let toml = format!("[metrics]\nprefix = {prefix:?}\n");
        assert_eq!(config_error(Config::from_toml_str(&toml)).0, "metrics.prefix", "{toml}");
        if !prefix.trim().is_empty() {
            let mut config = Config::default();
            match config.apply_env([("AUREUS_METRICS_PREFIX", prefix)]) {
                Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, "AUREUS_METRICS_PREFIX"),
                other => panic!("{prefix:?}: {other:?}"),
            }
        }
    }
    Config::builder()
        .metrics(MetricsConfig {
            prefix: "kernel_a".into(),
            ..Default::default()
        })
        .build()
        .unwrap();
}

/// With the global labels the issue tried, `/metrics` now either refuses to
/// start (le) or keeps every label (a free name next to tool_name).
#[test]
fn a_global_label_never_hides_or_breaks_a_series() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = with_global_label("deployment", "blue");
    let (dispatch, telemetry, addr) = serve(metrics, None, dir.path());
    emit_corpus(&dispatch, &["fs.read".to_owned()]);
    let text = scrape(addr);
    assert!(
        text.contains(r#"aureus_tool_calls_total{deployment="blue",tool_name="fs.read"} 1"#),
        "{text}"
    );
    let families = read_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_histograms(&families).unwrap();
    telemetry.shutdown(Duration::from_secs(5));
}

// ---------------------------------------------------------------------------
// Content negotiation
// ---------------------------------------------------------------------------

fn raw_get(addr: SocketAddr, accept: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// `/metrics` negotiates: OpenMetrics 1.0.0 when the `Accept` header
/// prefers it (as Prometheus' does), the text format 0.0.4 otherwise — the
/// `Content-Type` saying which, the body being that format.
#[test]
fn metrics_negotiates_openmetrics_and_falls_back_to_text_0_0_4() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, telemetry, addr) = serve(MetricsConfig::default(), None, dir.path());
    emit_corpus(&dispatch, &["x".to_owned()]);
    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
    for (accept, expected) in [
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
             text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OPENMETRICS,
        ),
        ("application/openmetrics-text; version=1.0.0", OPENMETRICS),
        ("text/plain;q=0.2, application/openmetrics-text;q=0.3", OPENMETRICS),
        ("application/openmetrics-text;q=0.2, text/plain;q=0.3", TEXT),
        ("application/openmetrics-text;version=2.0.0", TEXT),
        ("text/plain", TEXT),
        ("*/*", TEXT),
        ("application/json", TEXT),
    ] {
        let response = raw_get(addr, accept);
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("content-type: ")
                    .or_else(|| l.strip_prefix("Content-Type: "))
            })
            .unwrap_or_else(|| panic!("no content type in {head}"));
        assert_eq!(content_type, expected, "{accept}");
        assert!(
            head.lines().any(|l| l.eq_ignore_ascii_case("vary: accept")),
            "caches keep the two formats apart: {head}"
        );
        assert!(body.contains("aureus_tool_calls_total"), "{accept}");
        if expected == OPENMETRICS {
            assert!(body.ends_with("# EOF\n"), "{accept}");
            assert!(body.contains("# TYPE aureus_tool_calls counter\n"), "{accept}");
        } else {
            assert!(!body.contains("# EOF") && !body.contains("_created"), "{accept}");
            assert!(body.contains("# TYPE aureus_tool_calls_total counter\n"), "{accept}");
        }
    }
    // No Accept header at all: text 0.0.4.
    let (status, body) = prometheus::http_get(addr, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    assert!(!body.contains("# EOF"));
    telemetry.shutdown(Duration::from_secs(5));
}

const ACCEPT_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// `le` as a number (`1` and `1.0` are the same bound), other labels as written.
fn normalised(labels: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let v = match (k.as_str(), v.parse::<f64>()) {
                ("le", Ok(n)) => format!("{n:?}"),
                _ => v.to_owned(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The OpenMetrics scrape reads back in the Python client's strict
/// OpenMetrics parser with the same samples as the text-format scrape (every
/// corpus label value, the global labels, histograms), and every duration
/// bucket that saw an observation carries an exemplar with its correlation id.
#[test]
#[ignore = "needs prometheus_client; run via the README test command"]
fn every_label_value_round_trips_through_the_openmetrics_parser() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, telemetry, addr) = corpus_stack(dir.path());
    let values = corpus();
    let id = aureus_observability::CorrelationId::new("run-om-1").unwrap();
    aureus_observability::correlation::scope(id, || emit_corpus(&dispatch, &values));
    std::thread::sleep(Duration::from_millis(300));
    let (status, om) = prometheus::http_get(addr, "/metrics", &[("Accept", ACCEPT_OPENMETRICS)]).unwrap();
    assert_eq!(status, 200);
    let text = scrape(addr);

    let families = prometheus::python_parse_openmetrics(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
    let parsed_text = python_parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let om_samples: BTreeMap<(String, BTreeMap<String, String>), f64> = families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .map(|s| {
            let key = (
                s["name"].as_str().unwrap().to_owned(),
                normalised(s["labels"].as_object().unwrap()),
            );
            (key, s["value"].as_str().unwrap().parse::<f64>().unwrap())
        })
        .collect();
    let text_samples: BTreeMap<(String, BTreeMap<String, String>), f64> = parsed_text
        .iter()
        .flat_map(|f| &f.samples)
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
                .collect();
            ((s.name.clone(), normalised(&labels)), s.value)
        })
        .collect();
    // Self-metrics may have moved between the two scrapes: compare the corpus' series.
    let ours = |key: &(String, BTreeMap<String, String>)| {
        [
            "aureus_tool_calls_total",
            "aureus_tasks_completed_total",
            "aureus_crv_checks_total",
        ]
        .contains(&key.0.as_str())
            || key.0.starts_with("aureus_task_duration_seconds")
    };
    let om_corpus: Vec<_> = om_samples.iter().filter(|(k, _)| ours(k)).collect();
    let text_corpus: Vec<_> = text_samples.iter().filter(|(k, _)| ours(k)).collect();
    assert_eq!(om_corpus.len(), text_corpus.len());
    assert_eq!(om_corpus, text_corpus);
    assert!(om_samples.keys().all(|k| text_samples.contains_key(k) || !ours(k)));

    // Counters are families without `_total`; the duration histogram has its unit.
    let family = |name: &str| {
        families
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(family("aureus_tool_calls")["type"], "counter");
    assert_eq!(family("aureus_task_duration_seconds")["type"], "histogram");
    assert_eq!(family("aureus_task_duration_seconds")["unit"], "seconds");
    // Every duration observation was 1.5 s: its bucket (le=2.5) has the exemplar.
    let buckets: Vec<&serde_json::Value> = family("aureus_task_duration_seconds")["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "aureus_task_duration_seconds_bucket")
        .collect();
    let mut with_exemplar = 0;
    for bucket in buckets {
        let le = bucket["labels"]["le"].as_str().unwrap();
        // Every step succeeded: the `success="false"` series saw nothing.
        let observed = le == "2.5" && bucket["labels"]["success"] == "true";
        match &bucket["exemplar"] {
            serde_json::Value::Null => assert!(!observed, "{bucket}"),
            exemplar => {
                assert!(observed, "{bucket}");
                assert_eq!(exemplar["labels"]["correlation_id"], "run-om-1", "{exemplar}");
                assert_eq!(exemplar["value"], "1.5", "{exemplar}");
                assert!(exemplar["timestamp"].is_string(), "{exemplar}");
                with_exemplar += 1;
            }
        }
    }
    assert_eq!(with_exemplar, values.len(), "one exemplar per task_type series");
    telemetry.shutdown(Duration::from_secs(5));
}
