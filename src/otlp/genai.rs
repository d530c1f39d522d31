//! The GenAI conventions on the span path, applied on the span queue's
//! worker before redaction: `gen_ai.response.finish_reasons` (recorded on a
//! `tracing` span as JSON text, the only way a field can hold a list) goes
//! out as the string array the conventions define; message content — the
//! Opt-In content attributes on the span and on any of its events, and the
//! `prompt` / `response` of `llm_prompt` / `llm_response` span events — is
//! left out unless `genai.capture_content = "all"`.

use opentelemetry::{Array, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::config::ContentCapture;
use crate::event::semconv::attr;

/// Shapes `span` as described in the module docs.
pub(crate) fn shape_span(capture: ContentCapture, span: &mut SpanData) {
    if !capture.exports() {
        span.attributes
            .retain(|kv| !crate::event::is_content_attribute(kv.key.as_str()));
        for event in span.events.events.iter_mut() {
            let kind = event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == crate::event::fields::EVENT_TYPE)
                .map(|kv| kv.value.as_str().into_owned())
                .unwrap_or_default();
            event
                .attributes
                .retain(|kv| !crate::event::is_content_field(&kind, kv.key.as_str()));
        }
    }
    for attribute in span.attributes.iter_mut() {
        if attribute.key.as_str() == attr::FINISH_REASONS {
            if let Value::String(text) = &attribute.value {
                attribute.value = Value::Array(Array::String(string_list(text.as_str())));
            }
        }
    }
}

/// A JSON array of strings as a list; any other text as a list of itself.
fn string_list(text: &str) -> Vec<StringValue> {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(items) => items.into_iter().map(StringValue::from).collect(),
        Err(_) => vec![StringValue::from(text.to_owned())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    fn keys(attributes: &[KeyValue]) -> Vec<&str> {
        attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn finish_reasons_become_a_string_array() {
        assert_eq!(
            string_list(r#"["stop","length"]"#),
            vec![StringValue::from("stop"), "length".into()]
        );
        assert_eq!(string_list("stop"), vec![StringValue::from("stop")]);
    }

    fn span(attributes: Vec<KeyValue>, events: Vec<opentelemetry::trace::Event>) -> SpanData {
        use opentelemetry::trace::{SpanContext, SpanKind, Status};
        use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "chat m".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    /// The conventions' own content event (`gen_ai.client.inference.operation.details`)
    /// carries the Opt-In attributes as event attributes: they are content
    /// wherever they appear, on the span or on any of its events.
    #[test]
    fn content_is_left_out_of_span_attributes_and_every_event_unless_all() {
        let details = || {
            opentelemetry::trace::Event::new(
                "gen_ai.client.inference.operation.details",
                std::time::SystemTime::UNIX_EPOCH,
                vec![
                    KeyValue::new("gen_ai.operation.name", "chat"),
                    KeyValue::new("gen_ai.input.messages", "INPUT"),
                    KeyValue::new("gen_ai.system_instructions", "SYSTEM"),
                ],
                0,
            )
        };
        let response = || {
            opentelemetry::trace::Event::new(
                "llm_response",
                std::time::SystemTime::UNIX_EPOCH,
                vec![
                    KeyValue::new("event_type", "llm_response"),
                    KeyValue::new("response", "RESPONSE"),
                    KeyValue::new("gen_ai.output.messages", "OUTPUT"),
                    KeyValue::new("input_tokens", 3_i64),
                ],
                0,
            )
        };
        let attributes = || {
            vec![
                KeyValue::new(attr::CONTENT[0], "x"),
                KeyValue::new("gen_ai.tool.call.arguments", "{}"),
                KeyValue::new("gen_ai.request.model", "m"),
            ]
        };
        for capture in [ContentCapture::None, ContentCapture::Local, ContentCapture::All] {
            let mut data = span(attributes(), vec![details(), response()]);
            shape_span(capture, &mut data);
            let exported = capture == ContentCapture::All;
            assert_eq!(
                keys(&data.attributes).len(),
                if exported { 3 } else { 1 },
                "{capture:?}"
            );
            assert_eq!(
                keys(&data.events.events[0].attributes),
                if exported {
                    vec![
                        "gen_ai.operation.name",
                        "gen_ai.input.messages",
                        "gen_ai.system_instructions",
                    ]
                } else {
                    vec!["gen_ai.operation.name"]
                },
                "{capture:?}"
            );
            assert_eq!(
                keys(&data.events.events[1].attributes),
                if exported {
                    vec!["event_type", "response", "gen_ai.output.messages", "input_tokens"]
                } else {
                    vec!["event_type", "input_tokens"]
                },
                "{capture:?}"
            );
        }
    }
}
