//! W3C Trace Context Level 1 conformance table.
//!
//! The cases are the W3C test suite's (github.com/w3c/trace-context, branch
//! `level-1`, `test/test.py`, W3C 3-clause BSD License), one row per request
//! the harness sends, plus the specification's own examples and the cases of
//! issue 11. Each row says what the harness asserts: the trace is continued
//! (same trace id) or restarted, and which `tracestate` entries survive.
//! What we send on is then checked with the harness's own regular expressions
//! (an independent parser).
//!
//! Level 2 of the suite (the `main` branch) relaxed the tracestate key
//! grammar (`foo@`, `foo@@bar`, 242-character tenants are valid there) and
//! keeps a tracestate with duplicate keys; this crate follows Level 1, whose
//! suite expects those tracestates to be discarded.

use std::collections::HashMap;
use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::propagation::{self, Remote};
use aureus_observability::{Config, Telemetry};

use crate::otlp_receiver::OtlpReceiver;

const ID: &str = "12345678901234567890123456789012";
const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TP00: &str = "00-12345678901234567890123456789012-1234567890123456-00";

/// Extracts from header fields given in order (names may repeat).
fn extract(fields: &[(&str, &str)]) -> Remote {
    let mut headers = http::HeaderMap::new();
    for (name, value) in fields {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    propagation::extract_headers(&headers)
}

/// The harness's view of the context after one request: continued trace id.
fn continued(remote: &Remote) -> Option<String> {
    remote.trace_id()
}

#[test]
fn traceparent_table() {
    let owned_long = format!("{TP}-what-the-future-will-be-like");
    type Fields<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, Fields, bool)> = vec![
        // (harness test, header fields, trace continued?)
        ("both_traceparent_and_tracestate_missing", vec![], false),
        (
            "traceparent_included_tracestate_missing",
            vec![("traceparent", TP)],
            true,
        ),
        (
            "traceparent_duplicated",
            vec![
                ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01"),
                ("traceparent", TP),
            ],
            false,
        ),
        (
            "traceparent_header_name trace-parent",
            vec![("trace-parent", TP)],
            false,
        ),
        (
            "traceparent_header_name trace.parent",
            vec![("trace.parent", TP)],
            false,
        ),
        (
            "traceparent_version_0x00 trailing .",
            vec![(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01.",
            )],
            false,
        ),
        (
            "traceparent_version_0x00 future data",
            vec![("traceparent", &owned_long)],
            false,
        ),
        (
            "traceparent_version_0xcc",
            vec![("traceparent", "cc-12345678901234567890123456789012-1234567890123456-01")],
            true,
        ),
        (
            "traceparent_version_0xcc future data",
            vec![(
                "traceparent",
                "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            )],
            true,
        ),
        (
            "traceparent_version_0xcc . instead of -",
            vec![(
                "traceparent",
                "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
            )],
            false,
        ),
        (
            "traceparent_version_0xff",
            vec![("traceparent", "ff-12345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_version_illegal_characters .0",
            vec![("traceparent", ".0-12345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_version_illegal_characters 0.",
            vec![("traceparent", "0.-12345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_version_too_long 000",
            vec![(
                "traceparent",
                "000-12345678901234567890123456789012-1234567890123456-01",
            )],
            false,
        ),
        (
            "traceparent_version_too_long 0000",
            vec![(
                "traceparent",
                "0000-12345678901234567890123456789012-1234567890123456-01",
            )],
            false,
        ),
        (
            "traceparent_version_too_short",
            vec![("traceparent", "0-12345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_trace_id_all_zero",
            vec![("traceparent", "00-00000000000000000000000000000000-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_trace_id_illegal_characters .x",
            vec![("traceparent", "00-.2345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_trace_id_illegal_characters x.",
            vec![("traceparent", "00-1234567890123456789012345678901.-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_trace_id_too_long",
            vec![(
                "traceparent",
                "00-123456789012345678901234567890123-1234567890123456-01",
            )],
            false,
        ),
        (
            "traceparent_trace_id_too_short",
            vec![("traceparent", "00-1234567890123456789012345678901-1234567890123456-01")],
            false,
        ),
        (
            "traceparent_parent_id_all_zero",
            vec![("traceparent", "00-12345678901234567890123456789012-0000000000000000-01")],
            false,
        ),
        (
            "traceparent_parent_id_illegal_characters .x",
            vec![("traceparent", "00-12345678901234567890123456789012-.234567890123456-01")],
            false,
        ),
        (
            "traceparent_parent_id_illegal_characters x.",
            vec![("traceparent", "00-12345678901234567890123456789012-123456789012345.-01")],
            false,
        ),
        (
            "traceparent_parent_id_too_long",
            vec![(
                "traceparent",
                "00-12345678901234567890123456789012-12345678901234567-01",
            )],
            false,
        ),
        (
            "traceparent_parent_id_too_short",
            vec![("traceparent", "00-12345678901234567890123456789012-123456789012345-01")],
            false,
        ),
        (
            "traceparent_trace_flags_illegal_characters .0",
            vec![("traceparent", "00-12345678901234567890123456789012-1234567890123456-.0")],
            false,
        ),
        (
            "traceparent_trace_flags_illegal_characters 0.",
            vec![("traceparent", "00-12345678901234567890123456789012-1234567890123456-0.")],
            false,
        ),
        (
            "traceparent_trace_flags_too_long",
            vec![(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-001",
            )],
            false,
        ),
        (
            "traceparent_trace_flags_too_short",
            vec![("traceparent", "00-12345678901234567890123456789012-1234567890123456-1")],
            false,
        ),
        (
            "traceparent_ows_handling leading space",
            vec![(
                "traceparent",
                " 00-12345678901234567890123456789012-1234567890123456-01",
            )],
            true,
        ),
        (
            "traceparent_ows_handling leading tab",
            vec![(
                "traceparent",
                "\t00-12345678901234567890123456789012-1234567890123456-01",
            )],
            true,
        ),
        (
            "traceparent_ows_handling trailing space",
            vec![(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01 ",
            )],
            true,
        ),
        (
            "traceparent_ows_handling trailing tab",
            vec![(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01\t",
            )],
            true,
        ),
        (
            "traceparent_ows_handling both",
            vec![(
                "traceparent",
                "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
            )],
            true,
        ),
        // Issue 11: accepted by the OpenTelemetry SDK's parser, refused here.
        (
            "issue 11: 31-digit trace id",
            vec![("traceparent", "00-2345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "issue 11: + inside the trace id",
            vec![("traceparent", "00-+2345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        (
            "issue 11: trailing - after version 00",
            vec![(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01-",
            )],
            false,
        ),
        (
            "issue 11: 1-digit flags",
            vec![("traceparent", "00-12345678901234567890123456789012-1234567890123456-1")],
            false,
        ),
        (
            "issue 11: 1-digit version",
            vec![("traceparent", "0-12345678901234567890123456789012-1234567890123456-01")],
            false,
        ),
        // More edges of the grammar.
        (
            "uppercase hex",
            vec![("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")],
            false,
        ),
        (
            "future version shorter than 55",
            vec![("traceparent", "cc-12345678901234567890123456789012-1234567890123456-0")],
            false,
        ),
        (
            "future version, flags not hex",
            vec![(
                "traceparent",
                "cc-12345678901234567890123456789012-1234567890123456-zz-x",
            )],
            false,
        ),
        ("empty value is no header", vec![("traceparent", "")], false),
        ("garbage", vec![("traceparent", "garbage")], false),
    ];
    for (name, fields, traced) in cases {
        let remote = extract(&fields);
        let expected = traced.then(|| ID.to_owned());
        assert_eq!(continued(&remote), expected, "{name}: {fields:?}");
        let refused_traceparent = remote.refused().iter().any(|(h, _)| *h == "traceparent");
        let present = fields
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("traceparent") && !v.trim().is_empty());
        assert_eq!(
            refused_traceparent,
            present && !traced,
            "{name}: a refused traceparent is reported: {:?}",
            remote.refused()
        );
    }
}

#[test]
fn the_specification_examples_continue_with_their_sampled_flag() {
    for (value, sampled) in [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", true),
    ] {
        let remote = extract(&[("traceparent", value)]);
        let span = opentelemetry::trace::TraceContextExt::span(remote.context())
            .span_context()
            .clone();
        assert_eq!(span.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.span_id().to_string(), "00f067aa0ba902b7");
        assert_eq!(span.is_sampled(), sampled, "{value}");
        assert!(span.is_remote());
        assert_eq!(
            span.trace_flags().to_u8() & !1,
            0,
            "unknown flags are not kept: {value}"
        );
    }
}

#[test]
fn header_names_match_in_any_case() {
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        let map: HashMap<String, String> = [(name.to_owned(), TP.to_owned())].into();
        assert_eq!(propagation::extract_map(&map).trace_id().as_deref(), Some(ID), "{name}");
    }
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let map: HashMap<String, String> = [
            ("traceparent".to_owned(), TP00.to_owned()),
            (name.to_owned(), "foo=1".to_owned()),
        ]
        .into();
        assert_eq!(propagation::extract_map(&map).trace_state(), "foo=1", "{name}");
    }
    let twice: HashMap<String, String> = [
        ("traceparent".to_owned(), TP.to_owned()),
        ("TRACEPARENT".to_owned(), TP.to_owned()),
    ]
    .into();
    assert!(!propagation::extract_map(&twice).is_traced(), "two traceparent fields");
}

#[test]
fn tracestate_table() {
    let all_chars_value: String = (0x20u8..=0x7e)
        .filter(|&b| b != b',' && b != b'=')
        .map(char::from)
        .collect();
    let key_without_vendor = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let key_with_vendor = format!("{key_without_vendor}@a-z0-9_-*/");
    let all_without = format!("{key_without_vendor}={all_chars_value}");
    let all_with = format!("{key_with_vendor}={all_chars_value}");
    let z256 = format!("{}=1", "z".repeat(256));
    let z257 = format!("{}=1", "z".repeat(257));
    let tenant241 = format!("{}@{}=1", "t".repeat(241), "v".repeat(14));
    let tenant242 = format!("{}@v=1", "t".repeat(242));
    let system15 = format!("t@{}=1", "v".repeat(15));
    let members =
        |range: std::ops::RangeInclusive<u32>| range.map(|n| format!("bar{n:02}={n:02}")).collect::<Vec<_>>().join(",");
    let (m1, m2, m3) = (members(1..=10), members(11..=20), members(21..=30));
    let (m4_32, m4_33) = (members(31..=32), members(31..=33));
    let thirty_two = members(1..=32);
    let (v256, v257) = (format!("k={}", "v".repeat(256)), format!("k={}", "v".repeat(257)));
    // (harness test, tracestate fields, the tracestate passed on; None = discarded)
    let cases: Vec<(&str, Vec<&str>, Option<String>)> = vec![
        (
            "tracestate_included_traceparent_included",
            vec!["foo=1,bar=2"],
            Some("foo=1,bar=2".into()),
        ),
        ("tracestate_empty_header", vec![""], Some(String::new())),
        (
            "tracestate_empty_header then foo",
            vec!["foo=1", ""],
            Some("foo=1".into()),
        ),
        (
            "tracestate_empty_header foo then",
            vec!["", "foo=1"],
            Some("foo=1".into()),
        ),
        (
            "tracestate_multiple_headers_different_keys",
            vec!["foo=1,bar=2", "rojo=1,congo=2", "baz=3"],
            Some("foo=1,bar=2,rojo=1,congo=2,baz=3".into()),
        ),
        ("tracestate_duplicated_keys 1,1", vec!["foo=1,foo=1"], None),
        ("tracestate_duplicated_keys 1,2", vec!["foo=1,foo=2"], None),
        (
            "tracestate_duplicated_keys two fields 1,1",
            vec!["foo=1", "foo=1"],
            None,
        ),
        (
            "tracestate_duplicated_keys two fields 1,2",
            vec!["foo=1", "foo=2"],
            None,
        ),
        (
            "tracestate_all_allowed_characters",
            vec![&all_without],
            Some(all_without.clone()),
        ),
        (
            "tracestate_all_allowed_characters with vendor",
            vec![&all_with],
            Some(all_with.clone()),
        ),
        (
            "tracestate_ows_handling spaces and tabs",
            vec!["foo=1 \t , \t bar=2, \t baz=3"],
            Some("foo=1,bar=2,baz=3".into()),
        ),
        (
            "tracestate_ows_handling tabs and spaces",
            vec!["foo=1\t \t,\t \tbar=2,\t \tbaz=3"],
            Some("foo=1,bar=2,baz=3".into()),
        ),
        (
            "tracestate_ows_handling leading space",
            vec![" foo=1"],
            Some("foo=1".into()),
        ),
        (
            "tracestate_ows_handling leading tab",
            vec!["\tfoo=1"],
            Some("foo=1".into()),
        ),
        (
            "tracestate_ows_handling trailing space",
            vec!["foo=1 "],
            Some("foo=1".into()),
        ),
        (
            "tracestate_ows_handling trailing tab",
            vec!["foo=1\t"],
            Some("foo=1".into()),
        ),
        (
            "tracestate_ows_handling both",
            vec!["\t foo=1 \t"],
            Some("foo=1".into()),
        ),
        ("tracestate_key_illegal_characters space", vec!["foo =1"], None),
        ("tracestate_key_illegal_characters uppercase", vec!["FOO=1"], None),
        ("tracestate_key_illegal_characters dot", vec!["foo.bar=1"], None),
        ("tracestate_key_illegal_vendor_format foo@", vec!["foo@=1,bar=2"], None),
        ("tracestate_key_illegal_vendor_format @foo", vec!["@foo=1,bar=2"], None),
        (
            "tracestate_key_illegal_vendor_format foo@@bar",
            vec!["foo@@bar=1,bar=2"],
            None,
        ),
        (
            "tracestate_key_illegal_vendor_format foo@bar@baz",
            vec!["foo@bar@baz=1,bar=2"],
            None,
        ),
        (
            "tracestate_member_count_limit 32",
            vec![&m1, &m2, &m3, &m4_32],
            Some(thirty_two.clone()),
        ),
        ("tracestate_member_count_limit 33", vec![&m1, &m2, &m3, &m4_33], None),
        (
            "tracestate_key_length_limit 256",
            vec!["foo=1", &z256],
            Some(format!("foo=1,{z256}")),
        ),
        ("tracestate_key_length_limit 257", vec!["foo=1", &z257], None),
        (
            "tracestate_key_length_limit tenant 241 system 14",
            vec!["foo=1", &tenant241],
            Some(format!("foo=1,{tenant241}")),
        ),
        (
            "tracestate_key_length_limit tenant 242",
            vec!["foo=1", &tenant242],
            None,
        ),
        ("tracestate_key_length_limit system 15", vec!["foo=1", &system15], None),
        (
            "tracestate_value_illegal_characters foo=bar=baz",
            vec!["foo=bar=baz"],
            None,
        ),
        (
            "tracestate_value_illegal_characters empty value",
            vec!["foo=,bar=3"],
            None,
        ),
        // The specification's examples and more edges.
        (
            "example: one vendor",
            vec!["rojo=00f067aa0ba902b7"],
            Some("rojo=00f067aa0ba902b7".into()),
        ),
        (
            "example: two vendors",
            vec!["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"],
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into()),
        ),
        (
            "multi-tenant key with a digit-led tenant",
            vec!["fw529a3039@dt=x"],
            Some("fw529a3039@dt=x".into()),
        ),
        ("simple key led by a digit", vec!["1foo=x"], None),
        ("value of 256 characters", vec![&v256], Some(v256.clone())),
        ("value of 257 characters", vec![&v257], None),
        ("value with a tab inside", vec!["k=a\tb"], None),
        ("member without =", vec!["foo"], None),
        ("empty members only", vec![" , ,\t,"], Some(String::new())),
    ];
    for (name, fields, passed_on) in cases {
        let mut headers = vec![("traceparent", TP00)];
        headers.extend(fields.iter().map(|f| ("tracestate", *f)));
        let remote = extract(&headers);
        assert_eq!(
            remote.trace_id().as_deref(),
            Some(ID),
            "{name}: tracestate never affects traceparent"
        );
        let refused = remote.refused().iter().any(|(h, _)| *h == "tracestate");
        match passed_on {
            Some(state) => {
                assert_eq!(remote.trace_state(), state, "{name}");
                assert!(!refused, "{name}: {:?}", remote.refused());
            }
            None => {
                assert_eq!(remote.trace_state(), "", "{name}: discarded");
                assert!(refused, "{name}: a discarded tracestate is reported");
            }
        }
    }
}

#[test]
fn a_tracestate_without_a_valid_traceparent_is_not_read() {
    let alone = extract(&[("tracestate", "foo=1,bar=2")]);
    assert!(!alone.is_traced());
    assert_eq!(alone.trace_state(), "");
    assert_eq!(alone.refused(), [("tracestate", "a tracestate without a traceparent")]);
    let bad_parent = extract(&[("traceparent", "ff-x"), ("tracestate", "foo=1")]);
    assert_eq!(bad_parent.trace_state(), "");
    assert!(
        bad_parent.refused().iter().all(|(h, _)| *h == "traceparent"),
        "MUST NOT parse tracestate: {:?}",
        bad_parent.refused()
    );
}

#[test]
fn refusals_are_counted_per_header() {
    let count = |header: &str| {
        propagation::rejected_headers()
            .iter()
            .find(|(h, _)| *h == header)
            .map(|(_, n)| *n)
            .unwrap()
    };
    let (tp, ts) = (count("traceparent"), count("tracestate"));
    extract(&[("traceparent", "00-+2345678901234567890123456789012-1234567890123456-01")]);
    extract(&[("traceparent", TP00), ("tracestate", "FOO=1")]);
    assert!(count("traceparent") > tp);
    assert!(count("tracestate") > ts);
    // And on /metrics.
    let (_dispatch, telemetry, _collect) = crate::common::collecting("info");
    let exposition = telemetry.metrics().expect("metrics on").render();
    for header in ["traceparent", "tracestate"] {
        let series = format!("aureus_telemetry_propagation_rejected_total{{header=\"{header}\"}}");
        assert!(exposition.contains(&series), "{series} in:\n{exposition}");
    }
    telemetry.shutdown(Duration::from_secs(5));
}

/// A stack exporting spans to `receiver` (so spans carry a trace context).
pub(crate) fn traced_stack(receiver: &OtlpReceiver) -> (tracing::Dispatch, Telemetry) {
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(receiver.endpoint()),
        protocol: Some(OtlpProtocol::HttpJson),
        ..OtlpConfig::default()
    };
    otlp.logs.enabled = false;
    otlp.metrics.enabled = false;
    otlp.batch.interval = "100ms".into();
    let config = Config::builder()
        .no_server()
        .no_monitoring()
        .no_sinks()
        .otlp(otlp)
        .build()
        .unwrap();
    aureus_observability::build(config).unwrap()
}

/// What a service sends on after receiving `incoming`.
pub(crate) fn passed_on(dispatch: &tracing::Dispatch, incoming: &[(&str, &str)]) -> HashMap<String, String> {
    let remote = extract(incoming);
    tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("handle", correlation_id = tracing::field::Empty);
        remote.attach(&span);
        let _entered = span.enter();
        let mut out = HashMap::new();
        propagation::inject_map(&mut out);
        out
    })
}

/// The W3C harness's `traceparent` pattern (`test/test.py`).
fn harness_traceparent(value: &str) -> Option<(String, String, String, String)> {
    let re = regex::Regex::new(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$").unwrap();
    let c = re.captures(value)?;
    Some((c[1].into(), c[2].into(), c[3].into(), c[4].into()))
}

/// The W3C harness's Level 1 `tracestate` parser (`tracecontext/tracestate.py`).
fn harness_tracestate(value: &str) -> Option<Vec<(String, String)>> {
    let key = r"[a-z][_0-9a-z\-\*/]{0,255}|[0-9a-z][_0-9a-z\-\*/]{0,240}@[a-z][_0-9a-z\-\*/]{0,13}";
    let val = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]";
    let member = regex::Regex::new(&format!("^({key})(=)({val})$")).unwrap();
    let delimiter = regex::Regex::new("[ \t]*,[ \t]*").unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for part in delimiter.split(value).filter(|p| !p.is_empty()) {
        let c = member.captures(part)?;
        if out.iter().any(|(k, _)| *k == c[1]) {
            return None;
        }
        out.push((c[1].into(), c[3].into()));
    }
    Some(out)
}

#[test]
fn what_is_sent_on_continues_the_trace_and_parses_with_the_harness() {
    let receiver = OtlpReceiver::start();
    let (dispatch, telemetry) = traced_stack(&receiver);
    // Valid Level 1 keys of the largest sizes, including a 14-character
    // system id that OpenTelemetry's own `TraceState` refuses.
    let long_state = format!("foo=1,{}=1,{}@{}=x", "z".repeat(256), "t".repeat(241), "v".repeat(14));
    for (incoming_parent, incoming_state, sampled) in [
        (TP, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "01"),
        (TP00, "foo=1 \t , \t bar=2", "00"),
        (
            "cc-12345678901234567890123456789012-1234567890123456-0b-future",
            long_state.as_str(),
            "01",
        ),
    ] {
        let out = passed_on(
            &dispatch,
            &[("traceparent", incoming_parent), ("tracestate", incoming_state)],
        );
        let (version, trace_id, parent_id, flags) =
            harness_traceparent(&out["traceparent"]).unwrap_or_else(|| panic!("{:?}", out["traceparent"]));
        assert_eq!(version, "00", "written as the highest version we know");
        assert_eq!(trace_id, ID, "same trace");
        assert_ne!(parent_id, "1234567890123456", "our own span is the new parent");
        assert_eq!(
            flags, sampled,
            "the sampled flag follows the caller; other flags are zero"
        );
        let state = harness_tracestate(&out["tracestate"]).expect("tracestate parses with the harness");
        let expected = harness_tracestate(incoming_state).unwrap();
        assert_eq!(state, expected, "tracestate passed on unchanged");
    }
    // A new trace has a valid traceparent and no tracestate.
    let fresh = tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("root");
        let _entered = span.enter();
        let mut out = HashMap::new();
        propagation::inject_map(&mut out);
        out
    });
    let (_, trace_id, parent_id, _) = harness_traceparent(&fresh["traceparent"]).unwrap();
    assert_ne!(trace_id, "0".repeat(32));
    assert_ne!(parent_id, "0".repeat(16));
    assert!(!fresh.contains_key("tracestate"));
    assert!(telemetry.flush(Duration::from_secs(10)));
    telemetry.shutdown(Duration::from_secs(5));
}
