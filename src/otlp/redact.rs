//! Redaction on the span path: the same [`Redactor`] that builds records,
//! applied to every text an exported span carries — its name, attributes
//! (from `info_span!` and `span.record(..)`), status message, its events'
//! names and attributes and its links' attributes — and text cut to
//! `max_field_bytes` like record fields. Runs on the span queue's worker,
//! before the exporter sees the span; the kernel thread pays nothing.

use std::borrow::Cow;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::pipeline::{Redactor, REDACTED};

/// Redacts (and cuts to `max_bytes`) every text in `span`.
pub(crate) fn redact_span(redactor: &Redactor, max_bytes: usize, span: &mut SpanData) {
    redact_cow(redactor, max_bytes, &mut span.name);
    redact_attributes(redactor, max_bytes, &mut span.attributes);
    for event in span.events.events.iter_mut() {
        redact_cow(redactor, max_bytes, &mut event.name);
        redact_attributes(redactor, max_bytes, &mut event.attributes);
    }
    for link in span.links.links.iter_mut() {
        redact_attributes(redactor, max_bytes, &mut link.attributes);
    }
    if let Status::Error { description } = &mut span.status {
        redact_cow(redactor, max_bytes, description);
    }
}

/// Redacts key/value attributes: a sensitive key's value becomes
/// `[REDACTED]` whatever its type; text values are redacted and cut.
pub(crate) fn redact_attributes(redactor: &Redactor, max_bytes: usize, attributes: &mut [KeyValue]) {
    for attribute in attributes.iter_mut() {
        let hidden_correlation =
            attribute.key.as_str() == super::logs::CORRELATION_ATTRIBUTE && redactor.is_sensitive("correlation_id");
        if hidden_correlation || redactor.is_sensitive(attribute.key.as_str()) {
            attribute.value = Value::String(REDACTED.into());
            continue;
        }
        match &mut attribute.value {
            Value::String(text) => {
                if let Some(replaced) = redacted(redactor, max_bytes, text.as_str()) {
                    *text = StringValue::from(replaced);
                }
            }
            Value::Array(Array::String(items)) => {
                for text in items.iter_mut() {
                    if let Some(replaced) = redacted(redactor, max_bytes, text.as_str()) {
                        *text = StringValue::from(replaced);
                    }
                }
            }
            _ => {}
        }
    }
}

fn redact_cow(redactor: &Redactor, max_bytes: usize, text: &mut Cow<'static, str>) {
    if let Some(replaced) = redacted(redactor, max_bytes, text) {
        *text = Cow::Owned(replaced);
    }
}

/// The redacted and cut form of `text`, or `None` when it is unchanged.
fn redacted(redactor: &Redactor, max_bytes: usize, text: &str) -> Option<String> {
    let out = redactor.redact_text(text);
    let cut = crate::record::floor_char_boundary(&out, max_bytes);
    if cut < out.len() {
        let removed = out.len() - cut;
        return Some(format!("{}…[truncated {removed} bytes]", &out[..cut]));
    }
    match out {
        Cow::Borrowed(_) => None,
        Cow::Owned(text) => Some(text),
    }
}

/// An estimate of the memory `span` holds, in bytes (for the span queue's byte bound).
pub(crate) fn span_bytes(span: &SpanData) -> usize {
    std::mem::size_of::<SpanData>()
        + span.name.len()
        + attributes_bytes(&span.attributes)
        + span
            .events
            .events
            .iter()
            .map(|e| {
                std::mem::size_of::<opentelemetry::trace::Event>() + e.name.len() + attributes_bytes(&e.attributes)
            })
            .sum::<usize>()
        + span
            .links
            .links
            .iter()
            .map(|l| std::mem::size_of::<opentelemetry::trace::Link>() + attributes_bytes(&l.attributes))
            .sum::<usize>()
}

fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| {
            std::mem::size_of::<KeyValue>()
                + kv.key.as_str().len()
                + match &kv.value {
                    Value::String(s) => s.as_str().len(),
                    Value::Array(Array::String(items)) => items
                        .iter()
                        .map(|s| std::mem::size_of::<StringValue>() + s.as_str().len())
                        .sum(),
                    Value::Array(Array::I64(items)) => items.len() * 8,
                    Value::Array(Array::F64(items)) => items.len() * 8,
                    Value::Array(Array::Bool(items)) => items.len(),
                    _ => 0,
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(
            &["password".to_owned(), "token".to_owned()],
            &[r"sk-live-[0-9a-f]{16}".to_owned()],
        )
        .unwrap()
    }

    #[test]
    fn sensitive_keys_patterns_and_json_are_redacted_in_attributes() {
        let mut attributes = vec![
            KeyValue::new("Password", "hunter2"),
            KeyValue::new("token", 42_i64),
            KeyValue::new("args", r#"{"options":{"token":"CANARY"}}"#),
            KeyValue::new("note", "key sk-live-0123456789abcdef here"),
            KeyValue::new(
                "list",
                Value::Array(Array::String(vec!["sk-live-0123456789abcdef".into(), "ok".into()])),
            ),
            KeyValue::new("plain", "ok"),
        ];
        redact_attributes(&redactor(), 4096, &mut attributes);
        let text = format!("{attributes:?}");
        for canary in ["hunter2", "42", "CANARY", "sk-live"] {
            assert!(!text.contains(canary), "{canary} in {text}");
        }
        assert_eq!(attributes[5].value.as_str(), "ok");
        assert_eq!(attributes[1].value.as_str(), REDACTED);
    }

    #[test]
    fn a_sensitive_correlation_id_name_hides_the_correlation_attribute() {
        let names = ["correlation_id".to_owned()];
        let by_name = Redactor::new(&names, &[]).unwrap();
        let mut attributes = vec![
            KeyValue::new("aureus.correlation_id", "run-7"),
            KeyValue::new("correlation_id", "run-7"),
        ];
        redact_attributes(&by_name, 4096, &mut attributes);
        assert_eq!(attributes[0].value.as_str(), REDACTED);
        assert_eq!(attributes[1].value.as_str(), REDACTED);
        // Without the name, the id goes out.
        let mut attributes = vec![KeyValue::new("aureus.correlation_id", "run-7")];
        redact_attributes(&redactor(), 4096, &mut attributes);
        assert_eq!(attributes[0].value.as_str(), "run-7");
    }

    #[test]
    fn long_text_is_cut_after_redaction() {
        let mut attributes = vec![KeyValue::new("big", "x".repeat(100))];
        redact_attributes(&redactor(), 10, &mut attributes);
        assert_eq!(attributes[0].value.as_str(), "xxxxxxxxxx…[truncated 90 bytes]");
    }
}
