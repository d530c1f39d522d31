//! W3C Baggage conformance table.
//!
//! Cases from the specification's examples (HTTP header format section) and
//! the W3C reference tests (github.com/w3c/baggage, `test/test_baggage.py`,
//! W3C 3-clause BSD License), then its limits (64 members, 8192 bytes),
//! whitespace rules, properties after `;`, percent-encoding and invalid
//! UTF-8 (→ U+FFFD). What we send on is parsed back with the reference
//! implementation's regular expressions and the `percent-encoding` crate's
//! decoder (independent of ours).

use std::collections::HashMap;
use std::time::Duration;

use aureus_observability::correlation::CorrelationId;
use aureus_observability::propagation::{self, Remote};
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::KeyValue;

use crate::otlp_receiver::OtlpReceiver;
use crate::w3c_trace_context::{passed_on, traced_stack};

fn extract(fields: &[&str]) -> Remote {
    let mut headers = http::HeaderMap::new();
    for value in fields {
        headers.append("baggage", http::HeaderValue::from_str(value).unwrap());
    }
    propagation::extract_headers(&headers)
}

/// `(key, value, properties)` of every entry, sorted by key.
fn entries(remote: &Remote) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = remote
        .context()
        .baggage()
        .iter()
        .map(|(k, (v, m))| (k.to_string(), v.to_string(), m.as_str().to_owned()))
        .collect();
    out.sort();
    out
}

fn e(key: &str, value: &str, properties: &str) -> (String, String, String) {
    (key.into(), value.into(), properties.into())
}

#[test]
fn baggage_table() {
    let value_64: String = (0..64).map(|n| format!("k{n}=v")).collect::<Vec<_>>().join(",");
    let value_65: String = (0..65).map(|n| format!("k{n}=v")).collect::<Vec<_>>().join(",");
    let bytes_8192 = format!("a={}", "0123456789".repeat(819));
    let bytes_8193 = format!("a={}b", "0123456789".repeat(819));
    let quoted = "%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29";
    let decoded = "\t \"';=asdf!@#$%^&*()";
    let with_quoted = format!("SomeKey={quoted}");
    let with_quoted_ows = format!("SomeKey \t = \t {quoted} \t ");
    let with_quoted_prop = format!("SomeKey=SomeValue;SomePropKey={quoted}");
    // (source, header fields, entries kept (sorted by key), a member or the header refused?)
    type Entries = Vec<(String, String, String)>;
    let cases: Vec<(&str, Vec<&str>, Entries, bool)> = vec![
        (
            "spec example: one header",
            vec!["userId=alice,serverNode=DF%2028,isProduction=false"],
            vec![e("isProduction", "false", ""), e("serverNode", "DF 28", ""), e("userId", "alice", "")],
            false,
        ),
        (
            "spec example: non-ASCII value",
            vec!["userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false"],
            vec![e("isProduction", "false", ""), e("serverNode", "DF 28", ""), e("userId", "Amélie", "")],
            false,
        ),
        (
            "spec example: split into two headers",
            vec!["userId=alice", "serverNode=DF%2028,isProduction=false"],
            vec![e("isProduction", "false", ""), e("serverNode", "DF 28", ""), e("userId", "alice", "")],
            false,
        ),
        (
            "spec example: spaces around names and values",
            vec!["userId =   alice", "serverNode = DF%2028, isProduction = false"],
            vec![e("isProduction", "false", ""), e("serverNode", "DF 28", ""), e("userId", "alice", "")],
            false,
        ),
        (
            "spec example: properties",
            vec!["key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue"],
            vec![
                e("key1", "value1", "property1;property2"),
                e("key2", "value2", ""),
                e("key3", "value3", "propertyKey=propertyValue"),
            ],
            false,
        ),
        ("test_parse_simple", vec!["SomeKey=SomeValue"], vec![e("SomeKey", "SomeValue", "")], false),
        (
            "test_parse_multiple",
            vec!["SomeKey=SomeValue;SomeProp,SomeKey2=SomeValue2;ValueProp=PropVal"],
            vec![e("SomeKey", "SomeValue", "SomeProp"), e("SomeKey2", "SomeValue2", "ValueProp=PropVal")],
            false,
        ),
        (
            "test_parse_multiple_ows",
            vec!["SomeKey \t = \t SomeValue \t ; \t SomeProp \t , \t SomeKey2 \t = \t SomeValue2 \t ; \t ValueProp \t = \t PropVal"],
            vec![e("SomeKey", "SomeValue", "SomeProp"), e("SomeKey2", "SomeValue2", "ValueProp=PropVal")],
            false,
        ),
        (
            "test_parse_multiple_equals",
            vec!["SomeKey=SomeValue=equals"],
            vec![e("SomeKey", "SomeValue=equals", "")],
            false,
        ),
        ("test_parse_percent_encoded", vec![&with_quoted], vec![e("SomeKey", decoded, "")], false),
        ("test_parse_percent_encoded_ows", vec![&with_quoted_ows], vec![e("SomeKey", decoded, "")], false),
        (
            "test_parse_multi_property",
            vec!["SomeKey=SomeValue;SomeProp;SecondProp=PropValue"],
            vec![e("SomeKey", "SomeValue", "SomeProp;SecondProp=PropValue")],
            false,
        ),
        (
            "test_parse_multiple_properties_same_name",
            vec!["SomeKey=SomeValue;SomeProp;SomeProp=PropValue;SomeProp=AnotherPropValue"],
            vec![e("SomeKey", "SomeValue", "SomeProp;SomeProp=PropValue;SomeProp=AnotherPropValue")],
            false,
        ),
        (
            "test_parse_kv_property_ows",
            vec!["SomeKey \t = \t SomeValue \t ; \t SomePropKey \t = \t SomePropValue"],
            vec![e("SomeKey", "SomeValue", "SomePropKey=SomePropValue")],
            false,
        ),
        (
            "test_parse_percent_encoded_property (kept encoded, as sent)",
            vec![&with_quoted_prop],
            vec![e("SomeKey", "SomeValue", &format!("SomePropKey={quoted}"))],
            false,
        ),
        (
            "test_parse_property_without_value_no_percent_decoding",
            vec!["SomeKey=SomeValue;ValueProp%20%09%20%3D%20%09%20PropVal"],
            vec![e("SomeKey", "SomeValue", "ValueProp%20%09%20%3D%20%09%20PropVal")],
            false,
        ),
        ("limits: 64 members", vec![&value_64], (0..64).map(|n| e(&format!("k{n}"), "v", "")).collect(), false),
        ("limits: 65 members", vec![&value_65], vec![], true),
        ("limits: 8192 bytes", vec![&bytes_8192], vec![e("a", &"0123456789".repeat(819), "")], false),
        ("limits: 8193 bytes", vec![&bytes_8193], vec![], true),
        (
            "invalid UTF-8 becomes U+FFFD",
            vec!["k=a%FFb,l=%C3%28,m=%E2%82"],
            vec![e("k", "a\u{FFFD}b", ""), e("l", "\u{FFFD}(", ""), e("m", "\u{FFFD}", "")],
            false,
        ),
        ("plus is not a space", vec!["k=a+b"], vec![e("k", "a+b", "")], false),
        ("empty value", vec!["k="], vec![e("k", "", "")], false),
        ("empty members are skipped", vec!["a=1,, ,b=2,"], vec![e("a", "1", ""), e("b", "2", "")], false),
        ("first of a key twice wins", vec!["a=1,a=2"], vec![e("a", "1", "")], false),
        // Malformed members are left out, the rest kept, the header reported.
        ("bad escape", vec!["a=%ZZ,b=2"], vec![e("b", "2", "")], true),
        ("no =", vec!["a,b=2"], vec![e("b", "2", "")], true),
        ("key not a token", vec!["a b=1,c@d=2,b=2"], vec![e("b", "2", "")], true),
        ("empty key", vec!["=1,b=2"], vec![e("b", "2", "")], true),
        ("space inside a value", vec!["a=x y,b=2"], vec![e("b", "2", "")], true),
        ("quote in a value", vec!["a=\"x\",b=2"], vec![e("b", "2", "")], true),
        ("backslash in a value", vec!["a=x\\y,b=2"], vec![e("b", "2", "")], true),
        ("empty property", vec!["a=1;,b=2"], vec![e("b", "2", "")], true),
        ("property key not a token", vec!["a=1;p q,b=2"], vec![e("b", "2", "")], true),
        ("nothing valid", vec!["=,;;=="], vec![], true),
    ];
    for (name, fields, mut expected, refused) in cases {
        expected.sort();
        let remote = extract(&fields);
        assert_eq!(entries(&remote), expected, "{name}");
        let reported = remote.refused().iter().any(|(h, _)| *h == "baggage");
        assert_eq!(reported, refused, "{name}: {:?}", remote.refused());
    }
}

#[test]
fn the_correlation_id_is_read_from_baggage_and_checked() {
    for (header, id, refused) in [
        ("aureus.correlation_id=wf-42", Some("wf-42"), false),
        ("aureus.correlation_id=wf%2D42;ttl=3", Some("wf-42"), false),
        ("other=1, aureus.correlation_id = wf-42 ", Some("wf-42"), false),
        ("aureus.correlation_id=two%20words", None, true),
        ("aureus.correlation_id=%ZZ", None, true),
        ("aureus.correlation_id=", None, true),
    ] {
        let remote = extract(&[header]);
        assert_eq!(remote.correlation_id().map(CorrelationId::as_str), id, "{header}");
        assert_eq!(
            !remote.refused().is_empty(),
            refused,
            "{header}: {:?}",
            remote.refused()
        );
    }
}

/// The W3C reference implementation's member pattern (`test/baggage/baggage.py`).
fn reference_parse(header: &str) -> Vec<(String, String, Vec<String>)> {
    let key = r"[a-zA-Z0-9!#$%&'*+\-.\^_`|~]+";
    let value = r"[\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e\x21]*";
    let kv = regex::Regex::new(&format!(r"^({key})[ \t]*=[ \t]*({value})$")).unwrap();
    let key_only = regex::Regex::new(&format!("^{key}$")).unwrap();
    let members = regex::Regex::new("[ \t]*,[ \t]*").unwrap();
    let props = regex::Regex::new("[ \t]*;[ \t]*").unwrap();
    members
        .split(header)
        .map(|member| {
            let mut parts = props.split(member);
            let first = parts.next().unwrap();
            let c = kv
                .captures(first)
                .unwrap_or_else(|| panic!("member {member:?} of {header:?}"));
            let properties = parts
                .map(|p| {
                    assert!(key_only.is_match(p) || kv.is_match(p), "property {p:?} of {header:?}");
                    p.to_owned()
                })
                .collect();
            let decoded = percent_encoding::percent_decode_str(&c[2])
                .decode_utf8()
                .unwrap()
                .into_owned();
            (c[1].to_owned(), decoded, properties)
        })
        .collect()
}

fn count_refused_baggage() -> u64 {
    propagation::rejected_headers()
        .iter()
        .find(|(h, _)| *h == "baggage")
        .map_or(0, |(_, n)| *n)
}

/// What is sent from inside a span with correlation id `id`, under an
/// OpenTelemetry context carrying `entries` as baggage (set through the
/// OpenTelemetry API, as an application would).
fn sent_with(dispatch: &tracing::Dispatch, id: &str, entries: Vec<KeyValue>) -> String {
    tracing::dispatcher::with_default(dispatch, || {
        let _attached = opentelemetry::Context::current_with_baggage(entries).attach();
        let span = tracing::info_span!("call", correlation_id = %id);
        let _entered = span.enter();
        let mut out = HashMap::new();
        propagation::inject_map(&mut out);
        out.remove("baggage").unwrap_or_default()
    })
}

#[test]
fn what_is_sent_on_is_percent_encoded_and_parses_with_the_reference() {
    let receiver = OtlpReceiver::start();
    let (dispatch, telemetry) = traced_stack(&receiver);
    let incoming = "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false;prop1;k=v,\
                    odd=%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29,aureus.correlation_id=wf-77";
    let out = passed_on(&dispatch, &[("baggage", incoming)]);
    let header = &out["baggage"];
    assert!(
        header.starts_with("aureus.correlation_id=wf-77,"),
        "the correlation id first: {header}"
    );
    let parsed = reference_parse(header);
    let find = |key: &str| {
        parsed
            .iter()
            .find(|(k, _, _)| k == key)
            .unwrap_or_else(|| panic!("{key} in {header}"))
    };
    assert_eq!(find("userId").1, "Amélie");
    assert_eq!(find("serverNode").1, "DF 28");
    assert_eq!(find("isProduction").2, ["prop1", "k=v"], "properties passed on");
    assert_eq!(find("odd").1, "\t \"';=asdf!@#$%^&*()");
    assert_eq!(parsed.len(), 5, "{header}");

    // Values set by the application are encoded; the correlation id goes first.
    let note = "50% off, \"now\"; é\\ = ok";
    let header = sent_with(&dispatch, "corr:a/b.c_d-1", vec![KeyValue::new("note", note)]);
    let parsed = reference_parse(&header);
    assert_eq!(parsed[0].0, "aureus.correlation_id");
    assert_eq!(parsed[0].1, "corr:a/b.c_d-1");
    assert_eq!(parsed[1].0, "note");
    assert_eq!(parsed[1].1, note, "{header}");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn outgoing_baggage_keeps_to_the_limits_and_never_cuts_a_member() {
    let receiver = OtlpReceiver::start();
    let (dispatch, telemetry) = traced_stack(&receiver);
    let keys = |n: usize| {
        (0..n)
            .map(|i| KeyValue::new(format!("k{i:02}"), "v"))
            .collect::<Vec<_>>()
    };
    // 63 entries and one that fits the API's limits decoded but is over
    // 8192 bytes encoded; then 64 entries, one too many beside the id.
    let mut with_big = keys(63);
    with_big.push(KeyValue::new("big", "é".repeat(2000)));
    for (entries, left_out) in [(with_big, "big"), (keys(64), "k63")] {
        let before = count_refused_baggage();
        let header = sent_with(&dispatch, "wf-1", entries);
        assert!(header.len() <= 8192, "{} bytes", header.len());
        let parsed = reference_parse(&header);
        assert_eq!(parsed.len(), 64, "{header}");
        assert_eq!(
            (parsed[0].0.as_str(), parsed[0].1.as_str()),
            ("aureus.correlation_id", "wf-1")
        );
        assert!(parsed
            .iter()
            .all(|(k, v, _)| k == "aureus.correlation_id" || (k.starts_with('k') && v == "v")));
        assert!(
            !parsed.iter().any(|(k, _, _)| k == left_out),
            "{left_out} left out whole"
        );
        assert!(count_refused_baggage() > before, "what was left out is counted");
    }
    telemetry.shutdown(Duration::from_secs(5));
}
