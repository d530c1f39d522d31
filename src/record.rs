//! [`Record`]: an event captured once, shared by every sink.
//!
//! The pipeline visits an event's fields exactly once into a `Record`, wraps
//! it in an [`Arc`](std::sync::Arc) and hands the same allocation to every
//! sink. Encodings that several sinks need (the JSON line) are computed at
//! most once per record and cached inside it.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::Level;

use crate::correlation::CorrelationId;
use crate::event::{fields, EventKind};

/// One field value, typed as the instrumented code recorded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// Text (including `Debug`/`Display`-recorded values), possibly truncated.
    Str(String),
}

impl Value {
    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean; also accepts the strings `true` / `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The value as a float, converting integers and numeric strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::I64(v) => Some(*v as f64),
            Value::U64(v) => Some(*v as f64),
            Value::F64(v) => Some(*v),
            Value::Str(s) => s.parse().ok(),
            Value::Bool(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(v) => serializer.serialize_bool(*v),
            Value::I64(v) => serializer.serialize_i64(*v),
            Value::U64(v) => serializer.serialize_u64(*v),
            Value::F64(v) if v.is_finite() => serializer.serialize_f64(*v),
            Value::F64(v) => serializer.collect_str(v),
            Value::Str(v) => serializer.serialize_str(v),
        }
    }
}

/// An event captured once: everything every sink needs, owned.
///
/// Records reach sinks as `Arc<Record>`; no sink re-visits the event.
#[derive(Debug)]
pub struct Record {
    /// When the event was recorded.
    pub timestamp: SystemTime,
    /// The event's level.
    pub level: Level,
    /// The event's target (`aureus` or below for Aureus events).
    pub target: &'static str,
    /// The value of the `event_type` field, when present.
    pub event_type: Option<Cow<'static, str>>,
    /// The parsed kind, when `event_type` names one of the contract's kinds.
    pub kind: Option<EventKind>,
    /// The event's message (`message` field), when present.
    pub message: Option<String>,
    /// The correlation id in force where the event was recorded.
    pub correlation_id: Option<CorrelationId>,
    /// The `tracing` id of the innermost span enclosing the event.
    pub span_id: Option<u64>,
    /// The name of the innermost span enclosing the event.
    pub span_name: Option<&'static str>,
    /// The W3C trace id, when a trace context was active.
    pub trace_id: Option<u128>,
    /// Every other field, in the order recorded.
    pub fields: Vec<(&'static str, Value)>,
    json: OnceLock<String>,
}

/// Keys the JSON encoding writes at the top level; a user field with one of
/// these names is written as `fields.<name>` instead.
const RESERVED_KEYS: [&str; 9] = [
    "timestamp",
    "level",
    "target",
    "event_type",
    "message",
    "correlation_id",
    "span_id",
    "span_name",
    "trace_id",
];

impl Record {
    /// An empty record for `level` and `target`, stamped now.
    pub fn new(level: Level, target: &'static str) -> Self {
        Record {
            timestamp: SystemTime::now(),
            level,
            target,
            event_type: None,
            kind: None,
            message: None,
            correlation_id: None,
            span_id: None,
            span_name: None,
            trace_id: None,
            fields: Vec::new(),
            json: OnceLock::new(),
        }
    }

    /// The value of field `name`, if recorded.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of field `name` as text, if recorded as text.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    /// Whether this is an Aureus event (target `aureus` or below it, with an `event_type`).
    pub fn is_aureus_event(&self) -> bool {
        self.event_type.is_some() && crate::event::is_aureus_target(self.target)
    }

    /// The record as one line of JSON (no trailing newline), computed once and cached.
    ///
    /// Fields are flattened into the top-level object; the timestamp is RFC 3339
    /// in UTC with microseconds.
    pub fn json_line(&self) -> &str {
        self.json.get_or_init(|| {
            serde_json::to_string(&JsonRecord(self)).unwrap_or_else(|err| {
                format!("{{\"level\":\"ERROR\",\"message\":\"unencodable record: {err}\"}}")
            })
        })
    }
}

struct JsonRecord<'a>(&'a Record);

impl serde::Serialize for JsonRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "timestamp",
            &humantime::format_rfc3339_micros(r.timestamp).to_string(),
        )?;
        map.serialize_entry("level", r.level.as_str())?;
        map.serialize_entry("target", r.target)?;
        if let Some(kind) = &r.event_type {
            map.serialize_entry("event_type", kind)?;
        }
        if let Some(message) = &r.message {
            map.serialize_entry("message", message)?;
        }
        if let Some(id) = &r.correlation_id {
            map.serialize_entry("correlation_id", id.as_str())?;
        }
        if let Some(id) = r.span_id {
            map.serialize_entry("span_id", &id)?;
        }
        if let Some(name) = r.span_name {
            map.serialize_entry("span_name", name)?;
        }
        if let Some(id) = r.trace_id {
            map.serialize_entry("trace_id", &format!("{id:032x}"))?;
        }
        for (name, value) in &r.fields {
            if RESERVED_KEYS.contains(name) {
                map.serialize_entry(&format!("fields.{name}"), value)?;
            } else {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// Cuts `value` to at most `limit` bytes (on a character boundary) and appends
/// a visible marker saying how many bytes were removed.
pub(crate) fn truncate_in_place(value: &mut String, limit: usize) {
    if value.len() <= limit {
        return;
    }
    let mut cut = limit;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let removed = value.len() - cut;
    value.truncate(cut);
    use std::fmt::Write;
    let _ = write!(value, "…[truncated {removed} bytes]");
}

/// Visits an event's fields once into a [`Record`].
pub(crate) struct RecordVisitor<'a> {
    pub(crate) record: &'a mut Record,
    pub(crate) max_field_bytes: usize,
    /// A `correlation_id` field on the event itself, still unvalidated.
    pub(crate) explicit_correlation: Option<String>,
}

impl RecordVisitor<'_> {
    /// Routes already-truncated text to its place in the record.
    fn push_text(&mut self, field: &Field, mut text: String) {
        match field.name() {
            fields::MESSAGE => self.record.message = Some(text),
            fields::EVENT_TYPE => {
                let kind = text.parse::<EventKind>().ok();
                self.record.event_type = Some(match kind {
                    Some(kind) => Cow::Borrowed(kind.as_str()),
                    None => {
                        truncate_in_place(&mut text, 128);
                        Cow::Owned(text)
                    }
                });
                self.record.kind = kind;
            }
            fields::CORRELATION_ID => self.explicit_correlation = Some(text),
            name => self.record.fields.push((name, Value::Str(text))),
        }
    }
}

/// Copies at most `limit` bytes of `value` (on a character boundary), marking what was cut.
fn truncated_copy(value: &str, limit: usize) -> String {
    if value.len() <= limit {
        return value.to_owned();
    }
    let mut cut = limit;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut text = String::with_capacity(cut + 32);
    text.push_str(&value[..cut]);
    use std::fmt::Write;
    let _ = write!(text, "…[truncated {} bytes]", value.len() - cut);
    text
}

impl Visit for RecordVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_text(field, truncated_copy(value, self.max_field_bytes));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = format!("{value:?}");
        truncate_in_place(&mut text, self.max_field_bytes);
        self.push_text(field, text);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record.fields.push((field.name(), Value::Bool(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record.fields.push((field.name(), Value::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record.fields.push((field.name(), Value::U64(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record.fields.push((field.name(), Value::F64(value)));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.record_i64(field, v),
            Err(_) => self.record_str(field, &value.to_string()),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.record_u64(field, v),
            Err(_) => self.record_str(field, &value.to_string()),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_str(field, &value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries_and_says_how_much() {
        let mut s = "é".repeat(10); // 20 bytes
        truncate_in_place(&mut s, 5);
        assert_eq!(s, "éé…[truncated 16 bytes]");
        let mut short = "abc".to_string();
        truncate_in_place(&mut short, 5);
        assert_eq!(short, "abc");
        assert_eq!(truncated_copy("abcdef", 4), "abcd…[truncated 2 bytes]");
    }

    #[test]
    fn json_line_flattens_fields_and_escapes_reserved_names() {
        let mut r = Record::new(Level::INFO, "aureus");
        r.event_type = Some(Cow::Borrowed("step_end"));
        r.fields.push(("success", Value::Bool(true)));
        r.fields.push(("level", Value::Str("x".into())));
        let v: serde_json::Value = serde_json::from_str(r.json_line()).unwrap();
        assert_eq!(v["event_type"], "step_end");
        assert_eq!(v["success"], true);
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields.level"], "x");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(std::ptr::eq(r.json_line(), r.json_line()), "encoded once");
    }
}
