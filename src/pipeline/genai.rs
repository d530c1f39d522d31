//! The GenAI conventions on the record path, applied once while a record is
//! built (so every sink, the store and the metrics see the same record):
//! message content — the content field of `llm_prompt` / `llm_response` and
//! the conventions' Opt-In content attributes on any event — left out with
//! `genai.capture_content = "none"`, and `cost_usd` added to an
//! `llm_response` whose model has a price (unless the event carried one).

use crate::config::{ContentCapture, ValidatedGenAi};
use crate::event::{fields, usage, EventKind};
use crate::record::{Record, Value};

/// Whether [`apply`] has anything to do for a record of `kind`.
pub(super) fn applies(kind: Option<EventKind>, genai: &ValidatedGenAi) -> bool {
    genai.capture == ContentCapture::None || matches!(kind, Some(EventKind::LlmPrompt | EventKind::LlmResponse))
}

/// Applies `[genai]` to a record being built.
pub(super) fn apply(record: &mut Record, genai: &ValidatedGenAi) {
    if genai.capture == ContentCapture::None {
        // The same rule as the OTLP paths (`event::is_content_field`).
        let content = record.event_type().and_then(crate::event::content_field);
        record.retain_fields(|name| Some(name) != content && !crate::event::is_content_attribute(name));
    }
    if genai.prices.is_empty()
        || record.event_type() != Some("llm_response")
        || record.field(fields::COST_USD).is_some()
    {
        return;
    }
    // The tokens as the metrics read them; a refused count (counted there)
    // gives no cost rather than a cost of the other count alone.
    let (Ok(input), Ok(output)) = (
        usage::token_count(record, fields::INPUT_TOKENS),
        usage::token_count(record, fields::OUTPUT_TOKENS),
    ) else {
        return;
    };
    let cost = record
        .str_field(fields::MODEL)
        .and_then(|model| genai.prices.cost(model, input, output));
    if let Some(cost) = cost {
        record.push_field(fields::COST_USD, Value::F64(cost));
    }
}
