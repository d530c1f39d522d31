//! [`Record`]: an event captured once, shared by every sink.
//!
//! The pipeline visits an event's fields exactly once into a `Record`, wraps
//! it in an [`Arc`](std::sync::Arc) and hands the same allocation to every
//! sink. A record is two allocations however many fields it has: the `Arc`
//! (fields stored inline) and one buffer holding all of its text. Encodings
//! that several sinks need (the JSON line) are computed at most once per
//! record and cached inside it.

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;
use std::time::SystemTime;

use smallvec::SmallVec;
use tracing::field::{Field, Visit};
use tracing::Level;

use crate::correlation::CorrelationId;
use crate::event::{fields, EventKind};
use crate::pipeline::{Redactor, REDACTED};

mod json;

/// One field value, typed as the instrumented code recorded it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// Text (including `Debug`/`Display`-recorded values), possibly truncated.
    Str(&'a str),
}

impl<'a> Value<'a> {
    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&'a str> {
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

impl fmt::Display for Value<'_> {
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

/// The largest integer every JSON reader holds exactly (2^53 − 1, the
/// `Number.MAX_SAFE_INTEGER` of JavaScript; RFC 8259 §6).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

impl serde::Serialize for Value<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(v) => serializer.serialize_bool(*v),
            Value::I64(v) if v.unsigned_abs() <= MAX_SAFE_INTEGER => serializer.serialize_i64(*v),
            Value::U64(v) if *v <= MAX_SAFE_INTEGER => serializer.serialize_u64(*v),
            // Beyond ±(2^53 − 1) a JSON number is rounded by JavaScript and
            // `jq`; the exact decimal text travels as a string instead.
            Value::I64(v) => serializer.collect_str(v),
            Value::U64(v) => serializer.collect_str(v),
            Value::F64(v) if v.is_finite() => serializer.serialize_f64(*v),
            Value::F64(v) => serializer.collect_str(v),
            Value::Str(v) => serializer.serialize_str(v),
        }
    }
}

/// A field value as stored: text lives in the record's shared buffer.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Text(Range<u32>),
}

/// Where the `event_type` text lives.
#[derive(Debug, Clone, PartialEq)]
enum EventTypeText {
    Known(EventKind),
    Other(Range<u32>),
}

/// The W3C `sampled` trace flag.
const TRACE_FLAGS_SAMPLED: u8 = 1;

/// Fields stored inline before the record spills to the heap.
const INLINE_FIELDS: usize = 10;

/// An event captured once: everything every sink needs, owned.
///
/// Records reach sinks as `Arc<Record>`; no sink re-visits the event.
///
/// ```
/// use aureus_observability::{Record, Value};
///
/// let mut record = Record::new(tracing::Level::INFO, "aureus");
/// record.set_event_type("step_end");
/// record.push_field("success", Value::Bool(true));
/// record.push_field("task_type", Value::Str("action"));
/// assert_eq!(record.str_field("task_type"), Some("action"));
/// assert!(record.json_line().contains(r#""success":true"#));
/// ```
#[derive(Debug)]
pub struct Record {
    /// When the event was recorded.
    pub timestamp: SystemTime,
    /// The event's level.
    pub level: Level,
    /// The event's target (`aureus` or below for Aureus events).
    pub target: &'static str,
    /// The parsed kind, when `event_type` names one of the contract's kinds.
    pub kind: Option<EventKind>,
    /// The `tracing` id of the innermost span enclosing the event.
    pub span_id: Option<u64>,
    /// The name of the innermost span enclosing the event.
    pub span_name: Option<&'static str>,
    /// The W3C trace id, when a trace context was active.
    pub trace_id: Option<u128>,
    /// The W3C span id of the active OpenTelemetry span, when OTLP traces are on.
    pub otel_span_id: Option<u64>,
    /// The W3C trace flags of that span's context (`01` sampled), sent with
    /// the ids on OTLP log records; sampled unless the context said otherwise.
    pub(crate) trace_flags: u8,
    event_type: Option<EventTypeText>,
    message: Option<Range<u32>>,
    /// The correlation id, copied into the text buffer (no shared reference
    /// count bouncing between the kernel's and the sinks' threads).
    correlation: Option<Range<u32>>,
    fields: SmallVec<[(&'static str, Slot); INLINE_FIELDS]>,
    text: String,
    json: OnceLock<String>,
}

/// Keys the JSON encoding writes at the top level; a user field with one of
/// these names is written as `fields.<name>` instead.
const RESERVED_KEYS: [&str; 10] = [
    "timestamp",
    "level",
    "target",
    "event_type",
    "message",
    "correlation_id",
    "span_id",
    "span_name",
    "trace_id",
    "otel_span_id",
];

impl Record {
    /// An empty record for `level` and `target`, stamped now.
    pub fn new(level: Level, target: &'static str) -> Self {
        Self::with_text_capacity(level, target, 0)
    }

    /// An empty record whose text buffer has room for `bytes` bytes.
    pub(crate) fn with_text_capacity(level: Level, target: &'static str, bytes: usize) -> Self {
        Record {
            timestamp: SystemTime::now(),
            level,
            target,
            kind: None,
            correlation: None,
            span_id: None,
            span_name: None,
            trace_id: None,
            otel_span_id: None,
            trace_flags: TRACE_FLAGS_SAMPLED,
            event_type: None,
            message: None,
            fields: SmallVec::new(),
            text: String::with_capacity(bytes),
            json: OnceLock::new(),
        }
    }

    /// An estimate of the memory this record holds, in bytes: the record,
    /// its text buffer, spilled fields and an allowance for the cached JSON
    /// line. Depends only on what is fixed once the record is shared, so
    /// every reader computes the same figure (queues bound themselves by it).
    pub(crate) fn heap_bytes(&self) -> usize {
        let spilled = if self.fields.spilled() {
            self.fields.capacity() * std::mem::size_of::<(&'static str, Slot)>()
        } else {
            0
        };
        std::mem::size_of::<Record>() + self.text.capacity() + spilled + self.text.len() + 32 * self.fields.len()
    }

    /// Drops everything recorded, keeping the buffers' capacity (for reuse).
    pub(crate) fn clear(&mut self) {
        self.kind = None;
        self.correlation = None;
        self.span_id = None;
        self.span_name = None;
        self.trace_id = None;
        self.otel_span_id = None;
        self.trace_flags = TRACE_FLAGS_SAMPLED;
        self.event_type = None;
        self.message = None;
        self.fields.clear();
        self.text.clear();
        self.json = OnceLock::new();
    }

    /// Makes a cleared record (see [`Record::clear`]) a fresh one for `level`
    /// and `target`, stamped now.
    pub(crate) fn restart(&mut self, level: Level, target: &'static str) {
        debug_assert!(
            self.fields.is_empty() && self.text.is_empty(),
            "restart needs a cleared record"
        );
        self.timestamp = SystemTime::now();
        self.level = level;
        self.target = target;
    }

    /// Estimated memory held by this record, including a JSON encoding a sink
    /// may cache later (for bounding stores of records).
    pub fn approx_bytes(&self) -> usize {
        let spilled = if self.fields.spilled() {
            self.fields.capacity() * std::mem::size_of::<(&str, Slot)>()
        } else {
            0
        };
        let json = self
            .json
            .get()
            .map_or(2 * self.text.len() + 64 * self.fields.len(), String::capacity);
        std::mem::size_of::<Self>() + self.text.capacity() + spilled + json
    }

    /// Appends text to the shared buffer, returning where it lies.
    fn store(&mut self, text: &str) -> Range<u32> {
        let start = self.text.len();
        self.text.push_str(text);
        to_range(start, self.text.len())
    }

    fn text_at(&self, range: &Range<u32>) -> &str {
        self.text.get(range.start as usize..range.end as usize).unwrap_or("")
    }

    /// The `event_type` field, when present.
    pub fn event_type(&self) -> Option<&str> {
        match self.event_type.as_ref()? {
            EventTypeText::Known(kind) => Some(kind.as_str()),
            EventTypeText::Other(range) => Some(self.text_at(range)),
        }
    }

    /// Sets `event_type` (and [`Record::kind`] when it names a contract kind).
    pub fn set_event_type(&mut self, value: &str) {
        self.kind = value.parse::<EventKind>().ok();
        self.event_type = Some(match self.kind {
            Some(kind) => EventTypeText::Known(kind),
            None => EventTypeText::Other(self.store(value)),
        });
    }

    /// The correlation id in force where the event was recorded.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation.as_ref().map(|range| self.text_at(range))
    }

    /// Sets the correlation id.
    pub fn set_correlation_id(&mut self, id: &CorrelationId) {
        self.correlation = Some(self.store(id.as_str()));
    }

    /// The event's message (`message` field), when present.
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|range| self.text_at(range))
    }

    /// Sets the message.
    pub fn set_message(&mut self, message: &str) {
        self.message = Some(self.store(message));
    }

    /// Appends a field.
    pub fn push_field(&mut self, name: &'static str, value: Value<'_>) {
        let slot = match value {
            Value::Bool(v) => Slot::Bool(v),
            Value::I64(v) => Slot::I64(v),
            Value::U64(v) => Slot::U64(v),
            Value::F64(v) => Slot::F64(v),
            Value::Str(text) => Slot::Text(self.store(text)),
        };
        self.fields.push((name, slot));
    }

    /// Keeps only the fields whose name `keep` accepts (the text of the
    /// others stays in the buffer, unreachable, until the record is recycled).
    pub(crate) fn retain_fields(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.fields.retain(|(n, _)| keep(n));
    }

    fn value_of<'a>(&'a self, slot: &Slot) -> Value<'a> {
        match slot {
            Slot::Bool(v) => Value::Bool(*v),
            Slot::I64(v) => Value::I64(*v),
            Slot::U64(v) => Value::U64(*v),
            Slot::F64(v) => Value::F64(*v),
            Slot::Text(range) => Value::Str(self.text_at(range)),
        }
    }

    /// Every field other than `message`, `event_type` and `correlation_id`, in the order recorded.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&'static str, Value<'_>)> + '_ {
        self.fields.iter().map(move |(name, slot)| (*name, self.value_of(slot)))
    }

    /// The value of field `name`, if recorded.
    pub fn field(&self, name: &str) -> Option<Value<'_>> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, slot)| self.value_of(slot))
    }

    /// The value of field `name` as text, if recorded as text.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(|v| v.as_str())
    }

    /// Whether this is an Aureus event (target `aureus` or below it, with an `event_type`).
    pub fn is_aureus_event(&self) -> bool {
        self.event_type.is_some() && crate::event::is_aureus_target(self.target)
    }

    /// The record as one line of JSON (no trailing newline), computed once and cached.
    ///
    /// Fields are flattened into the top-level object; the timestamp is RFC 3339
    /// in UTC with microseconds.
    ///
    /// Besides what JSON requires, DEL, the C1 control characters
    /// (U+0080–U+009F) and the line and paragraph separators (U+2028, U+2029)
    /// are written as `\uXXXX` escapes, so a line shown on a terminal or in a
    /// log viewer can carry neither a terminal escape nor a line break.
    pub fn json_line(&self) -> &str {
        self.json.get_or_init(|| {
            let mut out = Vec::with_capacity(160 + self.text.len() + 24 * self.fields.len());
            json::write(&mut out, self);
            // Only whole UTF-8 characters and ASCII escapes were written.
            String::from_utf8(out).unwrap_or_default()
        })
    }
}

fn to_range(start: usize, end: usize) -> Range<u32> {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    clamp(start)..clamp(end)
}

/// serde_json's compact output, with the characters JSON allows raw but a
/// terminal or log viewer would act on escaped as `\uXXXX`: the reference
/// the one-pass writer ([`json`]) is checked against.
#[cfg(test)]
struct EscapeControls;

#[cfg(test)]
impl serde_json::ser::Formatter for EscapeControls {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // By bytes: DEL is 7F; U+0080–U+009F are C2 80–C2 9F; U+2028/9 are E2 80 A8/A9.
        let bytes = fragment.as_bytes();
        let (mut start, mut at) = (0, 0);
        while at < bytes.len() {
            let escaped = match bytes[at] {
                0x7f => Some((0x7f, 1)),
                0xc2 if matches!(bytes.get(at + 1), Some(0x80..=0x9f)) => Some((u32::from(bytes[at + 1]), 2)),
                0xe2 if bytes.get(at + 1) == Some(&0x80) && matches!(bytes.get(at + 2), Some(0xa8 | 0xa9)) => {
                    Some((0x2000 | u32::from(bytes[at + 2] & 0x3f), 3))
                }
                _ => None,
            };
            match escaped {
                Some((code, len)) => {
                    writer.write_all(&bytes[start..at])?;
                    write!(writer, "\\u{code:04x}")?;
                    at += len;
                    start = at;
                }
                None => at += 1,
            }
        }
        writer.write_all(&bytes[start..])
    }
}

#[cfg(test)]
struct JsonRecord<'a>(&'a Record);

#[cfg(test)]
impl serde::Serialize for JsonRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("timestamp", &format_args!("{}", rfc3339_micros(r.timestamp)))?;
        map.serialize_entry("level", r.level.as_str())?;
        map.serialize_entry("target", r.target)?;
        if let Some(kind) = r.event_type() {
            map.serialize_entry("event_type", kind)?;
        }
        if let Some(message) = r.message() {
            map.serialize_entry("message", message)?;
        }
        if let Some(id) = r.correlation_id() {
            map.serialize_entry("correlation_id", id)?;
        }
        if let Some(id) = r.span_id {
            // A string: `tracing` ids use all 64 bits, and JSON numbers above
            // 2^53 are rounded by JavaScript and `jq`.
            map.serialize_entry("span_id", &format_args!("{id}"))?;
        }
        if let Some(name) = r.span_name {
            map.serialize_entry("span_name", name)?;
        }
        if let Some(id) = r.trace_id {
            map.serialize_entry("trace_id", &format_args!("{id:032x}"))?;
        }
        if let Some(id) = r.otel_span_id {
            map.serialize_entry("otel_span_id", &format_args!("{id:016x}"))?;
        }
        for (name, value) in r.fields() {
            if RESERVED_KEYS.contains(&name) {
                map.serialize_entry(&format_args!("fields.{name}"), &value)?;
            } else {
                map.serialize_entry(name, &value)?;
            }
        }
        map.end()
    }
}

/// The last instant RFC 3339 text can show with microseconds: 9999-12-31T23:59:59.999999Z.
const LAST_RFC3339: std::time::Duration = std::time::Duration::new(253_402_300_799, 999_999_000);

/// `time` as RFC 3339 text in UTC with microseconds, clamped to
/// 1970-01-01T00:00:00Z – 9999-12-31T23:59:59.999999Z (the range the
/// formatter can write: before it, it panics; after it, it fails and
/// leaves a half-written line), so a clock set before the Unix epoch or a
/// record stamped far in the future still gives a valid line.
pub(crate) fn rfc3339_micros(time: SystemTime) -> humantime::Rfc3339Timestamp {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .min(LAST_RFC3339);
    humantime::format_rfc3339_micros(SystemTime::UNIX_EPOCH + since)
}

/// The largest index `<= limit` that is a character boundary of `text`.
pub(crate) fn floor_char_boundary(text: &str, limit: usize) -> usize {
    let mut cut = limit.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// Visits an event's fields once into a [`Record`].
pub(crate) struct RecordVisitor<'a> {
    pub(crate) record: &'a mut Record,
    pub(crate) max_field_bytes: usize,
    pub(crate) redactor: &'a Redactor,
    /// A `correlation_id` field on the event itself, still unvalidated.
    pub(crate) explicit_correlation: Option<String>,
}

impl RecordVisitor<'_> {
    /// Stores text (already within limits, or cut here) where it belongs.
    fn text(&mut self, field: &Field, value: &str) {
        match field.name() {
            fields::EVENT_TYPE => {
                // A contract kind is kept as is; any other text is redacted
                // like every text value (it reaches every output).
                let value = if value.parse::<EventKind>().is_ok() {
                    std::borrow::Cow::Borrowed(value)
                } else {
                    self.redactor.redact_text(value)
                };
                let cut = floor_char_boundary(&value, 128);
                self.record.set_event_type(&value[..cut]);
            }
            fields::CORRELATION_ID => self.explicit_correlation = Some(value.to_owned()),
            name => {
                let redacted = if name != fields::MESSAGE && self.redactor.is_sensitive(name) {
                    std::borrow::Cow::Borrowed(REDACTED)
                } else {
                    self.redactor.redact_text(value)
                };
                let value: &str = &redacted;
                let cut = floor_char_boundary(value, self.max_field_bytes);
                let start = self.record.text.len();
                self.record.text.push_str(&value[..cut]);
                self.place(name, start, value.len() - cut);
            }
        }
    }

    /// Files the text written since `start` as the message or as field `name`,
    /// marking `removed` truncated bytes.
    fn place(&mut self, name: &'static str, start: usize, removed: usize) {
        if removed > 0 {
            use std::fmt::Write;
            let _ = write!(self.record.text, "…[truncated {removed} bytes]");
        }
        let range = to_range(start, self.record.text.len());
        if name == fields::MESSAGE {
            self.record.message = Some(range);
        } else {
            self.record.fields.push((name, Slot::Text(range)));
        }
    }
}

impl Visit for RecordVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        match field.name() {
            fields::EVENT_TYPE | fields::CORRELATION_ID => self.text(field, &format!("{value:?}")),
            _ if !self.redactor.is_noop() => self.text(field, &format!("{value:?}")),
            name => {
                // Format straight into the shared buffer, then cut to the limit.
                let start = self.record.text.len();
                let _ = write!(self.record.text, "{value:?}");
                let written = self.record.text.len() - start;
                let kept = floor_char_boundary(&self.record.text[start..], self.max_field_bytes);
                self.record.text.truncate(start + kept);
                self.place(name, start, written - kept);
            }
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.redactor.is_sensitive(field.name()) {
            return self.text(field, REDACTED);
        }
        self.record.fields.push((field.name(), Slot::Bool(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.redactor.is_sensitive(field.name()) {
            return self.text(field, REDACTED);
        }
        self.record.fields.push((field.name(), Slot::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.redactor.is_sensitive(field.name()) {
            return self.text(field, REDACTED);
        }
        self.record.fields.push((field.name(), Slot::U64(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.redactor.is_sensitive(field.name()) {
            return self.text(field, REDACTED);
        }
        self.record.fields.push((field.name(), Slot::F64(value)));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.record_i64(field, v),
            Err(_) => self.text(field, &value.to_string()),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.record_u64(field, v),
            Err(_) => self.text(field, &value.to_string()),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_on_char_boundaries() {
        let s = "é".repeat(10); // 20 bytes
        assert_eq!(floor_char_boundary(&s, 5), 4);
        assert_eq!(floor_char_boundary("abc", 5), 3);
    }

    #[test]
    fn json_line_flattens_fields_and_escapes_reserved_names() {
        let mut r = Record::new(Level::INFO, "aureus");
        r.set_event_type("step_end");
        r.push_field("success", Value::Bool(true));
        r.push_field("level", Value::Str("x"));
        let v: serde_json::Value = serde_json::from_str(r.json_line()).unwrap();
        assert_eq!(v["event_type"], "step_end");
        assert_eq!(v["success"], true);
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields.level"], "x");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(std::ptr::eq(r.json_line(), r.json_line()), "encoded once");
    }

    #[test]
    fn json_line_escapes_what_terminals_act_on() {
        let mut r = Record::new(Level::INFO, "aureus");
        r.set_message("a\u{7f}b\u{9b}2Jc\u{2028}d\u{1b}e\nf é");
        let line = r.json_line();
        assert!(line.contains(r"a\u007fb\u009b2Jc\u2028d\u001be\nf é"), "{line}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["message"], "a\u{7f}b\u{9b}2Jc\u{2028}d\u{1b}e\nf é");
    }

    #[test]
    fn timestamps_outside_rfc3339_range_give_valid_lines() {
        use std::time::{Duration, UNIX_EPOCH};
        let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        let cases = [
            (UNIX_EPOCH - Duration::from_secs(1), "1970-01-01T00:00:00.000000Z"),
            (UNIX_EPOCH, "1970-01-01T00:00:00.000000Z"),
            (year_10000 - Duration::from_nanos(1), "9999-12-31T23:59:59.999999Z"),
            (year_10000, "9999-12-31T23:59:59.999999Z"),
            (year_10000 + Duration::from_secs(1 << 40), "9999-12-31T23:59:59.999999Z"),
        ];
        for (at, expected) in cases {
            let mut r = Record::new(Level::INFO, "aureus");
            r.timestamp = at;
            r.set_message("m");
            let v: serde_json::Value =
                serde_json::from_str(r.json_line()).unwrap_or_else(|e| panic!("{e}: {}", r.json_line()));
            assert_eq!(v["timestamp"], expected);
            assert_eq!(v["message"], "m");
            assert_eq!(r.json_line(), reference_line(&r));
        }
    }

    #[test]
    fn unknown_event_types_are_kept_as_text() {
        let mut r = Record::new(Level::INFO, "aureus");
        r.set_message("hello");
        r.set_event_type("kernel_boot");
        assert_eq!(r.kind, None);
        assert_eq!(r.event_type(), Some("kernel_boot"));
        assert_eq!(r.message(), Some("hello"));
    }

    #[test]
    fn ids_and_integers_beyond_2_pow_53_travel_as_strings() {
        let mut r = Record::new(Level::INFO, "aureus");
        r.span_id = Some(9_007_199_254_741_000);
        r.push_field("small", Value::U64(MAX_SAFE_INTEGER));
        r.push_field("big", Value::U64(u64::MAX));
        r.push_field("negative", Value::I64(i64::MIN));
        r.push_field("edge", Value::I64(-(MAX_SAFE_INTEGER as i64)));
        let v: serde_json::Value = serde_json::from_str(r.json_line()).unwrap();
        assert_eq!(v["span_id"], "9007199254741000");
        assert_eq!(v["small"], 9_007_199_254_740_991u64);
        assert_eq!(v["big"], "18446744073709551615");
        assert_eq!(v["negative"], "-9223372036854775808");
        assert_eq!(v["edge"], -9_007_199_254_740_991i64);
    }

    /// The serde_json-based encoding the one-pass writer replaced.
    fn reference_line(r: &Record) -> String {
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, EscapeControls);
        serde::Serialize::serialize(&JsonRecord(r), &mut serializer).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_pass_json_matches_the_serde_json_encoding() {
        let mut texts: Vec<String> = (0u32..0x300)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .collect();
        for text in [
            "",
            "plain",
            "\u{2028}\u{2029}\u{2027}\u{202a}",
            "tab\tnew\nline\r\u{8}\u{c}\"q\"\\",
            "\u{1b}[31mred",
            "ü€𝄞",
            "\u{c2}\u{e2}\u{80}",
            "end\u{7f}",
        ] {
            texts.push(text.to_owned());
        }
        let numbers = [
            Value::I64(0),
            Value::I64(-1),
            Value::I64(i64::MIN),
            Value::I64(1 << 53),
            Value::I64(-(1 << 53) + 1),
            Value::U64(u64::MAX),
            Value::U64((1 << 53) - 1),
            Value::F64(0.1),
            Value::F64(-0.0),
            Value::F64(1e300),
            Value::F64(f64::NAN),
            Value::F64(f64::INFINITY),
            Value::F64(f64::NEG_INFINITY),
            Value::F64(2.0),
            Value::Bool(true),
            Value::Bool(false),
        ];
        for (i, text) in texts.iter().enumerate() {
            let mut r = Record::new(Level::WARN, "aureus::kernel");
            if i % 2 == 0 {
                r.set_event_type(if i % 4 == 0 { "step_end" } else { text });
            }
            if i % 3 == 0 {
                r.set_message(text);
            }
            r.span_id = (i % 5 == 0).then_some(u64::MAX - i as u64);
            r.span_name = (i % 5 == 0).then_some("task");
            r.trace_id = (i % 7 == 0).then_some(0x0af7651916cd43dd8448eb211c80319c);
            r.otel_span_id = (i % 7 == 0).then_some(0xb7ad6b7169203331);
            r.push_field("text", Value::Str(text));
            r.push_field("level", Value::Str(text));
            r.push_field("n", numbers[i % numbers.len()]);
            assert_eq!(r.json_line(), reference_line(&r), "{text:?}");
            let _: serde_json::Value = serde_json::from_str(r.json_line()).unwrap();
        }
    }
}
