//! The GenAI conventions on the span path, applied on the span queue's
//! worker before redaction: `gen_ai.response.finish_reasons` (recorded on a
//! `tracing` span as JSON text, the only way a field can hold a list) goes
//! out as the string array the conventions define; message content — the
//! Opt-In content attributes and the `prompt` / `response` of `llm_prompt` /
//! `llm_response` span events — is left out unless
//! `genai.capture_content = "all"`.

use opentelemetry::{Array, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::config::ContentCapture;
use crate::event::semconv::attr;

/// Shapes `span` as described in the module docs.
pub(crate) fn shape_span(capture: ContentCapture, span: &mut SpanData) {
    if !capture.exports() {
        span.attributes.retain(|kv| !attr::CONTENT.contains(&kv.key.as_str()));
        for event in span.events.events.iter_mut() {
            let kind = event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == crate::event::fields::EVENT_TYPE)
                .map(|kv| kv.value.as_str().into_owned());
            if let Some(kind) = kind {
                event
                    .attributes
                    .retain(|kv| !crate::event::is_content_field(&kind, kv.key.as_str()));
            }
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

    #[test]
    fn content_keys_are_known() {
        let attributes = [
            KeyValue::new(attr::CONTENT[0], "x"),
            KeyValue::new("gen_ai.request.model", "m"),
        ];
        let kept: Vec<_> = attributes
            .iter()
            .filter(|kv| !attr::CONTENT.contains(&kv.key.as_str()))
            .cloned()
            .collect();
        assert_eq!(keys(&kept), ["gen_ai.request.model"]);
    }
}
