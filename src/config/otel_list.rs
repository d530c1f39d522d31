//! The `key1=value1,key2=value2` lists of `OTEL_RESOURCE_ATTRIBUTES` and
//! `OTEL_EXPORTER_OTLP_*HEADERS`.
//!
//! Rules (OpenTelemetry specification 1.x, "Resource SDK: specifying resource
//! information via an environment variable" and "OTLP Exporter: specifying
//! headers via environment variables"):
//!
//! - members are separated by `,`; spaces and tabs around a member, a key or
//!   a value are not part of it; an empty member (`a=1,,b=2`, a trailing
//!   comma) is skipped;
//! - key and value are percent-decoded (RFC 3986 §2.1: `%` and two hex
//!   digits; `+` stays a plus sign); other characters may appear as they are;
//! - a malformed escape (`%ZZ`), a value that decodes to invalid UTF-8, a
//!   member without `=`, an empty key or a key given twice make the whole
//!   variable an [`Error::InvalidConfig`] naming it — the specification says
//!   the whole value is discarded and the error reported; this crate refuses
//!   to start instead of running without it;
//! - resource attributes: `,` and `=` inside keys and values MUST be
//!   percent-encoded, so a second unencoded `=` is an error;
//! - headers follow the W3C Baggage list format, where a value may hold `=`
//!   (`x-key=abc==` is `abc==`); baggage metadata after `;` is not supported
//!   for headers, so an unencoded `;` is an error (encode it as `%3B`).

use crate::error::{Error, Result};

/// Which of the two lists is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    ResourceAttributes,
    /// `OTEL_EXPORTER_OTLP_HEADERS` and its per-signal forms; values are
    /// secrets and never appear in errors.
    Headers,
}

/// Parses `raw`, the value of the variable `var`, into decoded pairs in order.
pub(crate) fn parse(var: &str, raw: &str, kind: ListKind) -> Result<Vec<(String, String)>> {
    let shown = match kind {
        ListKind::ResourceAttributes => raw,
        ListKind::Headers => "<hidden>",
    };
    let fail = |reason: String| Error::config(var, shown, reason);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (index, member) in raw.split(',').enumerate() {
        let member = ows_trim(member);
        if member.is_empty() {
            continue;
        }
        let n = index + 1;
        let Some((key, value)) = member.split_once('=') else {
            return Err(fail(format!("member {n} is not key=value")));
        };
        let (key, value) = (ows_trim(key), ows_trim(value));
        if key.is_empty() {
            return Err(fail(format!("member {n} has an empty key")));
        }
        let key = decode(key).map_err(|why| fail(format!("member {n}: the key {why}")))?;
        if kind == ListKind::ResourceAttributes && value.contains('=') {
            return Err(fail(format!(
                "the value of `{key}` holds an unencoded `=`; percent-encode it as %3D"
            )));
        }
        if kind == ListKind::Headers && value.contains(';') {
            return Err(fail(format!(
                "the value of `{key}` holds an unencoded `;` (W3C baggage metadata, which \
                 OTLP headers do not support); percent-encode it as %3B"
            )));
        }
        let value = decode(value).map_err(|why| fail(format!("the value of `{key}` {why}")))?;
        let same = |(k, _): &(String, String)| match kind {
            ListKind::ResourceAttributes => *k == key,
            ListKind::Headers => k.eq_ignore_ascii_case(&key),
        };
        if pairs.iter().any(same) {
            return Err(fail(format!("`{key}` is given twice")));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Spaces and horizontal tabs (the OWS of RFC 7230) around `text` removed.
fn ows_trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

fn decode(text: &str) -> std::result::Result<String, String> {
    let bytes = crate::percent::decode(text)
        .map_err(|bad| format!("has a `%` not followed by two hex digits (byte {})", bad.at))?;
    String::from_utf8(bytes).map_err(|_| "decodes to invalid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(raw: &str) -> Result<Vec<(String, String)>> {
        parse("OTEL_RESOURCE_ATTRIBUTES", raw, ListKind::ResourceAttributes)
    }

    fn headers(raw: &str) -> Result<Vec<(String, String)>> {
        parse("OTEL_EXPORTER_OTLP_HEADERS", raw, ListKind::Headers)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn decodes_members_in_order() {
        assert_eq!(
            resource(" service.name = checkout ,,k%2Cey=v%3Dal%2Cue, e=, plus=a+b,\tsp=a b\t,").unwrap(),
            pairs(&[
                ("service.name", "checkout"),
                ("k,ey", "v=al,ue"),
                ("e", ""),
                ("plus", "a+b"),
                ("sp", "a b"),
            ])
        );
        assert_eq!(
            headers("authorization=Basic%20abc,x-tenant=a%2Cb,x-b64=YWJj==").unwrap(),
            pairs(&[("authorization", "Basic abc"), ("x-tenant", "a,b"), ("x-b64", "YWJj==")])
        );
        assert_eq!(resource("").unwrap(), vec![]);
    }

    #[test]
    fn every_malformed_list_is_an_error_naming_the_variable() {
        for raw in [
            "service.name=checkout,bad=%ZZ",
            "bad=%E2%82",
            "bad=%FF",
            "%ZZ=v",
            "novalue",
            "=v",
            "a=1,a=2",
            "a=b=c",
            "trailing=%",
        ] {
            match resource(raw) {
                Err(Error::InvalidConfig { key, value, .. }) => {
                    assert_eq!(key, "OTEL_RESOURCE_ATTRIBUTES", "{raw}");
                    assert_eq!(value, raw);
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
        for raw in ["a=%ZZ", "a=%C3%28", "a=b;c", "a", "A=1,a=2"] {
            match headers(raw) {
                Err(Error::InvalidConfig { key, value, .. }) => {
                    assert_eq!(key, "OTEL_EXPORTER_OTLP_HEADERS", "{raw}");
                    assert_eq!(value, "<hidden>", "header values are secrets");
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }
}
