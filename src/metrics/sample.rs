//! What metrics need from an Aureus event, taken from a [`Record`] or straight
//! from a `tracing` event's fields.

use std::fmt;

use tracing::field::{Field, Visit};

use crate::event::{fields, EventKind};
use crate::record::{Record, Value};

/// The metric-relevant part of one Aureus event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MetricSample<'a> {
    pub(crate) kind: EventKind,
    /// The free-text label: task_type, tool_name or gate_name (by kind).
    pub(crate) label: Option<&'a str>,
    /// success (step_end), passed (crv_result), allowed (policy_check).
    pub(crate) first: bool,
    /// blocked (crv_result), requires_human_approval (policy_check).
    pub(crate) second: bool,
    /// duration_ms (step_end).
    pub(crate) number: Option<f64>,
}

/// The names of the fields a kind's sample reads: (label, first, second, number).
fn field_names(kind: EventKind) -> (Option<&'static str>, &'static str, &'static str, Option<&'static str>) {
    match kind {
        EventKind::StepStart => (Some(fields::TASK_TYPE), "", "", None),
        EventKind::StepEnd => (Some(fields::TASK_TYPE), fields::SUCCESS, "", Some(fields::DURATION_MS)),
        EventKind::ToolCall => (Some(fields::TOOL_NAME), "", "", None),
        EventKind::CrvResult => (Some(fields::GATE_NAME), fields::PASSED, fields::BLOCKED, None),
        EventKind::PolicyCheck => (None, fields::ALLOWED, fields::REQUIRES_HUMAN_APPROVAL, None),
        _ => (None, "", "", None),
    }
}

impl<'a> MetricSample<'a> {
    /// The sample of an Aureus event record; `None` for other records.
    pub(crate) fn from_record(record: &'a Record) -> Option<Self> {
        if !record.is_aureus_event() {
            return None;
        }
        let kind = record.kind?;
        let (label, first, second, number) = field_names(kind);
        let flag = |name: &str| record.field(name).and_then(|v| v.as_bool()).unwrap_or(false);
        Some(MetricSample {
            kind,
            label: label.and_then(|name| record.str_field(name)),
            first: flag(first),
            second: flag(second),
            number: number
                .and_then(|name| record.field(name))
                .and_then(|v: Value<'_>| v.as_f64()),
        })
    }
}

/// Longest label the field visitor copies onto the stack; a longer one is
/// copied to the heap (kept whole: a label value is never altered).
const MAX_LABEL: usize = 200;

/// A label copied onto the stack (or, past [`MAX_LABEL`] bytes, the heap).
struct StackLabel {
    bytes: [u8; MAX_LABEL],
    len: usize,
    set: bool,
    long: Option<String>,
}

impl StackLabel {
    const fn new() -> Self {
        StackLabel {
            bytes: [0; MAX_LABEL],
            len: 0,
            set: false,
            long: None,
        }
    }

    fn set(&mut self, value: &str) {
        self.set = true;
        if value.len() > MAX_LABEL {
            self.long = Some(value.to_owned());
            return;
        }
        self.long = None;
        self.bytes[..value.len()].copy_from_slice(value.as_bytes());
        self.len = value.len();
    }

    fn get(&self) -> Option<&str> {
        if !self.set {
            return None;
        }
        match &self.long {
            Some(long) => Some(long),
            None => std::str::from_utf8(&self.bytes[..self.len]).ok(),
        }
    }
}

/// Collects a sample straight from an event's fields, without allocating
/// (used by the standalone [`MetricsLayer`](super::MetricsLayer)).
pub(crate) struct SampleVisitor {
    kind: Option<EventKind>,
    task_type: StackLabel,
    tool_name: StackLabel,
    gate_name: StackLabel,
    success: bool,
    passed: bool,
    blocked: bool,
    allowed: bool,
    requires_approval: bool,
    duration_ms: Option<f64>,
}

impl SampleVisitor {
    pub(crate) const fn new() -> Self {
        SampleVisitor {
            kind: None,
            task_type: StackLabel::new(),
            tool_name: StackLabel::new(),
            gate_name: StackLabel::new(),
            success: false,
            passed: false,
            blocked: false,
            allowed: false,
            requires_approval: false,
            duration_ms: None,
        }
    }

    /// The sample, once every field was visited.
    pub(crate) fn sample(&self) -> Option<MetricSample<'_>> {
        let kind = self.kind?;
        let (label, first, second) = match kind {
            EventKind::StepStart => (self.task_type.get(), false, false),
            EventKind::StepEnd => (self.task_type.get(), self.success, false),
            EventKind::ToolCall => (self.tool_name.get(), false, false),
            EventKind::CrvResult => (self.gate_name.get(), self.passed, self.blocked),
            EventKind::PolicyCheck => (None, self.allowed, self.requires_approval),
            _ => (None, false, false),
        };
        Some(MetricSample {
            kind,
            label,
            first,
            second,
            number: self.duration_ms,
        })
    }

    fn flag(&mut self, name: &str, value: bool) {
        match name {
            fields::SUCCESS => self.success = value,
            fields::PASSED => self.passed = value,
            fields::BLOCKED => self.blocked = value,
            fields::ALLOWED => self.allowed = value,
            fields::REQUIRES_HUMAN_APPROVAL => self.requires_approval = value,
            _ => {}
        }
    }

    fn number(&mut self, name: &str, value: f64) {
        if name == fields::DURATION_MS {
            self.duration_ms = Some(value);
        }
    }
}

impl Visit for SampleVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            fields::EVENT_TYPE => self.kind = value.parse().ok(),
            fields::TASK_TYPE => self.task_type.set(value),
            fields::TOOL_NAME => self.tool_name.set(value),
            fields::GATE_NAME => self.gate_name.set(value),
            name => {
                if let Ok(flag) = value.parse() {
                    self.flag(name, flag);
                } else if let Ok(number) = value.parse() {
                    self.number(name, number);
                }
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Only Display/Debug-recorded labels land here; format once, rarely.
        match field.name() {
            fields::EVENT_TYPE | fields::TASK_TYPE | fields::TOOL_NAME | fields::GATE_NAME => {
                self.record_str(field, &format!("{value:?}"))
            }
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.flag(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field.name(), value as f64);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field.name(), value as f64);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field.name(), value);
    }
}
