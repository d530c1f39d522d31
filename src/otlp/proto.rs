//! OTLP log records encoded as protobuf straight from [`Record`]s, and the
//! protobuf wire primitives shared with [`super::proto_spans`].
//!
//! The SDK path builds an `SdkLogRecord` per record (a body string and an
//! owned attribute list), converts each into `opentelemetry-proto` structs,
//! groups them in a hash map and lets prost encode the nested messages —
//! recomputing every nested length at every level. Here each record is
//! written once into a reusable buffer: its fields and text go straight
//! from the record into the wire format of `ExportLogsServiceRequest`
//! (opentelemetry-proto `collector/logs/v1`, `logs/v1`, `common/v1`,
//! `resource/v1`), with the same content the SDK path sends: one
//! `ScopeLogs` per target (scope name = target, version = this crate's),
//! the resource once. Field numbers follow the `.proto` files; proto3
//! defaults (0, empty) are left out as prost does.

use std::time::SystemTime;

use opentelemetry::logs::Severity;
use opentelemetry::{Array, Value as OtelValue};
use opentelemetry_sdk::Resource;

use super::logs::{exported_fields, severity, write_body, CORRELATION_ATTRIBUTE};
use crate::config::ContentCapture;
use crate::record::{Record, Value};

/// Wire types.
pub(super) const VARINT: u8 = 0;
pub(super) const I64: u8 = 1;
pub(super) const LEN: u8 = 2;
pub(super) const I32: u8 = 5;

/// Appends `value` as a base-128 varint.
#[inline]
pub(crate) fn varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Bytes `value` takes as a varint.
#[inline]
pub(crate) fn varint_len(value: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub(super) fn key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, u64::from(field << 3 | u32::from(wire)));
}

/// Bytes a field key takes (field numbers here are below 16: one byte).
const KEY: usize = 1;

#[inline]
pub(super) fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(buf, field, LEN);
    varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A string field, left out when empty (proto3 default).
#[inline]
pub(super) fn str_field(buf: &mut Vec<u8>, field: u32, text: &str) {
    if !text.is_empty() {
        bytes_field(buf, field, text.as_bytes());
    }
}

#[inline]
pub(super) fn fixed64_field(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(buf, field, I64);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

#[inline]
fn len_of_bytes_field(len: usize) -> usize {
    KEY + varint_len(len as u64) + len
}

/// An `AnyValue` (common/v1) holding one scalar, as the bytes of its message.
pub(super) enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// An unsigned integer beyond `i64::MAX`, as its decimal text (`string_value`).
    BigUint(u64),
}

/// A `KeyValue` with any `opentelemetry::Value` as field `field` of the enclosing message.
pub(super) fn otel_key_value(buf: &mut Vec<u8>, field: u32, name: &str, value: &OtelValue) {
    let scalar = match value {
        OtelValue::Bool(v) => Scalar::Bool(*v),
        OtelValue::I64(v) => Scalar::Int(*v),
        OtelValue::F64(v) => Scalar::Double(*v),
        OtelValue::String(v) => Scalar::Str(v.as_str()),
        other => {
            let any = otel_any_value(other);
            let mut kv = Vec::with_capacity(any.len() + name.len() + 8);
            bytes_field(&mut kv, 1, name.as_bytes());
            bytes_field(&mut kv, 2, &any);
            bytes_field(buf, field, &kv);
            return;
        }
    };
    key_value(buf, field, name, &scalar);
}

impl Scalar<'_> {
    fn of(value: Value<'_>) -> Scalar<'_> {
        match value {
            Value::Bool(v) => Scalar::Bool(v),
            Value::I64(v) => Scalar::Int(v),
            // Beyond i64::MAX: the exact decimal text (a double would round it).
            Value::U64(v) => match i64::try_from(v) {
                Ok(v) => Scalar::Int(v),
                Err(_) => Scalar::BigUint(v),
            },
            Value::F64(v) => Scalar::Double(v),
            Value::Str(v) => Scalar::Str(v),
        }
    }

    /// Length of the `AnyValue` message.
    fn len(&self) -> usize {
        match self {
            Scalar::Str(text) => len_of_bytes_field(text.len()),
            Scalar::Bool(_) => KEY + 1,
            Scalar::Int(v) => KEY + varint_len(*v as u64),
            Scalar::Double(_) => KEY + 8,
            Scalar::BigUint(v) => len_of_bytes_field(decimal_digits(*v)),
        }
    }

    /// Writes the `AnyValue` message's fields (a oneof: always written, even a default).
    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            Scalar::Str(text) => bytes_field(buf, 1, text.as_bytes()),
            Scalar::Bool(v) => {
                key(buf, 2, VARINT);
                buf.push(u8::from(*v));
            }
            Scalar::Int(v) => {
                key(buf, 3, VARINT);
                varint(buf, *v as u64);
            }
            Scalar::Double(v) => {
                key(buf, 4, I64);
                buf.extend_from_slice(&v.to_le_bytes());
            }
            Scalar::BigUint(v) => {
                bytes_field_header(buf, 1, decimal_digits(*v));
                // Writing into a Vec cannot fail.
                let _ = std::io::Write::write_fmt(buf, format_args!("{v}"));
            }
        }
    }
}

/// Digits of `value` in decimal.
fn decimal_digits(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// A `KeyValue` as field `field` of the enclosing message.
pub(super) fn key_value(buf: &mut Vec<u8>, field: u32, name: &str, value: &Scalar<'_>) {
    let value_len = value.len();
    let len = len_of_bytes_field(name.len()) + len_of_bytes_field(value_len);
    key(buf, field, LEN);
    varint(buf, len as u64);
    bytes_field_header(buf, 1, name.len());
    buf.extend_from_slice(name.as_bytes());
    bytes_field_header(buf, 2, value_len);
    value.write(buf);
}

#[inline]
pub(super) fn bytes_field_header(buf: &mut Vec<u8>, field: u32, len: usize) {
    key(buf, field, LEN);
    varint(buf, len as u64);
}

/// A resource or scope attribute value (any `opentelemetry::Value`) as `AnyValue` bytes.
pub(super) fn otel_any_value(value: &OtelValue) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        OtelValue::Bool(v) => Scalar::Bool(*v).write(&mut out),
        OtelValue::I64(v) => Scalar::Int(*v).write(&mut out),
        OtelValue::F64(v) => Scalar::Double(*v).write(&mut out),
        OtelValue::String(v) => Scalar::Str(v.as_str()).write(&mut out),
        OtelValue::Array(array) => {
            let items: Vec<Vec<u8>> = match array {
                Array::Bool(v) => v.iter().map(|x| otel_any_value(&OtelValue::Bool(*x))).collect(),
                Array::I64(v) => v.iter().map(|x| otel_any_value(&OtelValue::I64(*x))).collect(),
                Array::F64(v) => v.iter().map(|x| otel_any_value(&OtelValue::F64(*x))).collect(),
                Array::String(v) => v
                    .iter()
                    .map(|x| otel_any_value(&OtelValue::String(x.clone())))
                    .collect(),
                other => vec![otel_any_value(&OtelValue::String(other.to_string().into()))],
            };
            let mut list = Vec::new();
            for item in &items {
                bytes_field(&mut list, 1, item);
            }
            bytes_field(&mut out, 5, &list);
        }
        other => Scalar::Str(&other.to_string()).write(&mut out),
    }
    out
}

/// The `Resource` message (resource/v1) of `resource`.
pub(super) fn resource_message(resource: &Resource) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in resource.iter() {
        let value = otel_any_value(value);
        let mut kv = Vec::new();
        str_field(&mut kv, 1, name.as_str());
        bytes_field(&mut kv, 2, &value);
        bytes_field(&mut out, 1, &kv);
    }
    out
}

/// Nanoseconds since the Unix epoch (0 before it).
pub(crate) fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn severity_number(severity: Severity) -> u64 {
    severity as u64
}

/// Encodes batches of records as `ExportLogsServiceRequest` bodies, reusing
/// its buffers from batch to batch.
pub(crate) struct LogEncoder {
    /// The `Resource` message and the resource's schema URL, encoded once.
    resource: Vec<u8>,
    schema_url: String,
    version: &'static str,
    /// One buffer of encoded `LogRecord` fields per target, in first-seen order.
    scopes: Vec<(&'static str, Vec<u8>)>,
    /// One record's `LogRecord` message while it is written.
    record: Vec<u8>,
    /// The body text of the record being written.
    body: String,
    /// Whether message content (prompts, responses) goes out.
    capture: ContentCapture,
}

impl LogEncoder {
    /// An encoder for records of `resource`, scope version `version`.
    pub(crate) fn new(resource: &Resource, version: &'static str, capture: ContentCapture) -> Self {
        LogEncoder {
            capture,
            resource: resource_message(resource),
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
            version,
            scopes: Vec::new(),
            record: Vec::with_capacity(1024),
            body: String::with_capacity(256),
        }
    }

    /// The request body for `records` (all of them), observed at `observed`, into `out`.
    pub(crate) fn encode<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a Record>,
        observed: SystemTime,
        out: &mut Vec<u8>,
    ) {
        for (_, buf) in &mut self.scopes {
            buf.clear();
        }
        let observed = unix_nanos(observed);
        for record in records {
            self.record.clear();
            write_log_record(&mut self.record, &mut self.body, record, observed, self.capture);
            let at = match self.scopes.iter().position(|(target, _)| *target == record.target) {
                Some(at) => at,
                None => {
                    self.scopes.push((record.target, Vec::with_capacity(64 * 1024)));
                    self.scopes.len() - 1
                }
            };
            let buf = &mut self.scopes[at].1;
            bytes_field(buf, 2, &self.record);
        }
        // Targets seen once long ago do not stay forever.
        self.scopes.retain(|(_, buf)| !buf.is_empty());

        let scope_messages: Vec<(usize, usize)> = self
            .scopes
            .iter()
            .map(|(target, records)| {
                let scope = len_of_bytes_field(target.len()) + len_of_bytes_field(self.version.len());
                (scope, len_of_bytes_field(scope) + records.len())
            })
            .collect();
        let resource_logs = len_of_bytes_field(self.resource.len())
            + scope_messages
                .iter()
                .map(|(_, len)| len_of_bytes_field(*len))
                .sum::<usize>()
            + if self.schema_url.is_empty() {
                0
            } else {
                len_of_bytes_field(self.schema_url.len())
            };

        out.clear();
        out.reserve(len_of_bytes_field(resource_logs));
        // ExportLogsServiceRequest.resource_logs = 1
        bytes_field_header(out, 1, resource_logs);
        // ResourceLogs.resource = 1
        bytes_field(out, 1, &self.resource);
        for ((target, records), (scope, scope_logs)) in self.scopes.iter().zip(&scope_messages) {
            // ResourceLogs.scope_logs = 2
            bytes_field_header(out, 2, *scope_logs);
            // ScopeLogs.scope = 1: InstrumentationScope { name = 1, version = 2 }
            bytes_field_header(out, 1, *scope);
            bytes_field(out, 1, target.as_bytes());
            bytes_field(out, 2, self.version.as_bytes());
            // ScopeLogs.log_records = 2, already framed
            out.extend_from_slice(records);
        }
        // ResourceLogs.schema_url = 3
        str_field(out, 3, &self.schema_url);
    }
}

/// Writes the fields of one `LogRecord` message (logs/v1) for `record`.
fn write_log_record(buf: &mut Vec<u8>, body: &mut String, record: &Record, observed: u64, capture: ContentCapture) {
    // time_unix_nano = 1 (fixed64)
    fixed64_field(buf, 1, unix_nanos(record.timestamp));
    let (number, text) = severity(record);
    // severity_number = 2, severity_text = 3
    key(buf, 2, VARINT);
    varint(buf, severity_number(number));
    str_field(buf, 3, text);
    // body = 5: AnyValue { string_value }
    body.clear();
    write_body(body, record, capture);
    let any = Scalar::Str(body);
    bytes_field_header(buf, 5, any.len());
    any.write(buf);
    // attributes = 6
    if let Some(kind) = record.event_type() {
        key_value(buf, 6, "event_type", &Scalar::Str(kind));
    }
    for (name, value) in exported_fields(record, capture) {
        key_value(buf, 6, name, &Scalar::of(value));
    }
    if let Some(id) = record.correlation_id() {
        key_value(buf, 6, CORRELATION_ATTRIBUTE, &Scalar::Str(id));
    }
    if let (Some(trace), Some(span)) = (record.trace_id, record.otel_span_id) {
        // flags = 8 (fixed32: the W3C trace flags; 0 left out), trace_id = 9, span_id = 10
        if record.trace_flags != 0 {
            key(buf, 8, I32);
            buf.extend_from_slice(&u32::from(record.trace_flags).to_le_bytes());
        }
        bytes_field(buf, 9, &trace.to_be_bytes());
        bytes_field(buf, 10, &span.to_be_bytes());
    }
    // observed_time_unix_nano = 11 (fixed64)
    fixed64_field(buf, 11, observed);
    // event_name = 12
    if let Some(kind) = record.kind {
        str_field(buf, 12, kind.as_str());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message as _;

    use super::*;
    use crate::otlp::capture::CapturingLogSink;

    fn records() -> Vec<Arc<Record>> {
        let mut out = Vec::new();
        for (i, target) in ["aureus", "kernel::io", "aureus"].into_iter().enumerate() {
            let mut r = Record::new(tracing::Level::INFO, target);
            if target == "aureus" {
                r.set_event_type("step_end");
            } else {
                r.set_message("disk almost full: 97 % \"used\" ✓");
            }
            r.push_field("task_type", Value::Str("plan"));
            r.push_field("success", Value::Bool(i == 0));
            r.push_field("false_flag", Value::Bool(false));
            r.push_field("duration_ms", Value::U64(42));
            r.push_field("zero", Value::I64(0));
            r.push_field("negative", Value::I64(-7));
            r.push_field("huge", Value::U64(u64::MAX));
            r.push_field("ratio", Value::F64(0.25));
            r.push_field("empty", Value::Str(""));
            if i == 2 {
                r.trace_id = Some(0x0af7651916cd43dd8448eb211c80319c);
                r.otel_span_id = Some(0xb7ad6b7169203331);
            }
            let mut rollback = Record::new(tracing::Level::WARN, "aureus");
            rollback.set_event_type("rollback");
            out.push(Arc::new(r));
            out.push(Arc::new(rollback));
        }
        out
    }

    /// The decoded request with what legitimately differs (observed time,
    /// the order of scopes and resource attributes) normalised.
    fn decoded(body: &[u8]) -> ExportLogsServiceRequest {
        let mut request = ExportLogsServiceRequest::decode(body).expect("valid protobuf");
        for resource in &mut request.resource_logs {
            if let Some(r) = resource.resource.as_mut() {
                r.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
            resource.scope_logs.sort_by(|a, b| {
                a.scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .cmp(&b.scope.as_ref().map(|s| s.name.clone()))
            });
            for scope in &mut resource.scope_logs {
                for log in &mut scope.log_records {
                    assert!(log.observed_time_unix_nano > 0, "observed time set");
                    log.observed_time_unix_nano = 0;
                }
            }
        }
        request
    }

    #[test]
    fn direct_encoding_decodes_to_what_the_sdk_path_sends() {
        let batch = records();
        let direct = CapturingLogSink::build(false, true).unwrap().encode(&batch).unwrap();
        let sdk = CapturingLogSink::build(false, false).unwrap().encode(&batch).unwrap();
        assert_eq!((direct.len(), sdk.len()), (1, 1));
        let (ours, theirs) = (decoded(&direct[0]), decoded(&sdk[0]));
        assert_eq!(ours, theirs);
        let logs: usize = ours.resource_logs[0]
            .scope_logs
            .iter()
            .map(|s| s.log_records.len())
            .sum();
        assert_eq!(logs, 6);
    }

    #[test]
    fn unsigned_integers_beyond_i64_go_out_exact_as_decimal_text() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        let values = [
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            9_999_999_999_999_999_999,
            10_000_000_000_000_000_000,
            u64::MAX,
        ];
        let mut r = Record::new(tracing::Level::INFO, "kernel");
        r.set_message("big");
        let names = ["v0", "v1", "v2", "v3", "v4"];
        for (name, value) in names.iter().zip(values) {
            r.push_field(name, Value::U64(value));
        }
        let batch = vec![Arc::new(r)];
        for direct in [true, false] {
            let body = CapturingLogSink::build(false, direct).unwrap().encode(&batch).unwrap();
            let request = decoded(&body[0]);
            let log = &request.resource_logs[0].scope_logs[0].log_records[0];
            for (name, value) in names.iter().zip(values) {
                let attribute = log.attributes.iter().find(|kv| kv.key == *name).unwrap();
                let expected = match i64::try_from(value) {
                    Ok(v) => Any::IntValue(v),
                    Err(_) => Any::StringValue(value.to_string()),
                };
                assert_eq!(
                    attribute.value.as_ref().unwrap().value,
                    Some(expected),
                    "direct={direct}"
                );
            }
        }
    }

    /// Canonical bytes of a decoded request (prost re-encodes in field
    /// order), so NaN doubles compare too.
    fn canonical(body: &[u8]) -> Vec<u8> {
        decoded(body).encode_to_vec()
    }

    #[test]
    fn every_level_kind_value_and_size_encodes_as_the_sdk_does() {
        use crate::event::EventKind;
        let big = "é✓𝄞\u{0}\"\\".repeat(40_000); // ~500 KB: 3-byte length varints at every level
        let mut batch = Vec::new();
        let levels = [
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ];
        for (i, level) in levels.into_iter().enumerate() {
            let targets = ["kernel", "kernel::io", "", "aureus", "𝄞"];
            let mut r = Record::new(level, targets[i]);
            r.set_message(if i == 0 { "" } else { "msg" });
            r.push_field("f_nan", Value::F64(f64::NAN));
            r.push_field("f_inf", Value::F64(f64::NEG_INFINITY));
            r.push_field("f_neg_zero", Value::F64(-0.0));
            r.push_field("f_sub", Value::F64(5e-324));
            r.push_field("i_min", Value::I64(i64::MIN));
            r.push_field("", Value::Str(""));
            r.push_field("b", Value::Bool(i % 2 == 0));
            if i == 3 {
                r.push_field("big", Value::Str(&big));
                r.trace_id = Some(u128::MAX);
                r.otel_span_id = Some(1);
            }
            if i == 4 {
                r.timestamp = SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(1);
            }
            batch.push(Arc::new(r));
        }
        for kind in EventKind::ALL {
            for denied in [false, true] {
                let mut r = Record::new(tracing::Level::DEBUG, "aureus");
                r.set_event_type(kind.as_str());
                r.push_field("passed", Value::Bool(!denied));
                r.push_field("allowed", Value::Str(if denied { "false" } else { "true" }));
                batch.push(Arc::new(r));
            }
        }
        let mut r = Record::new(tracing::Level::INFO, "aureus");
        r.set_event_type("not a kind");
        batch.push(Arc::new(r));

        let direct = CapturingLogSink::build(false, true).unwrap().encode(&batch).unwrap();
        let sdk = CapturingLogSink::build(false, false).unwrap().encode(&batch).unwrap();
        assert_eq!((direct.len(), sdk.len()), (1, 1));
        assert!(
            canonical(&direct[0]) == canonical(&sdk[0]),
            "direct and SDK encodings differ"
        );
        let request = decoded(&direct[0]);
        let logs: Vec<_> = request.resource_logs[0]
            .scope_logs
            .iter()
            .flat_map(|s| s.log_records.iter())
            .collect();
        assert_eq!(logs.len(), batch.len());
        let first = |name: &str| {
            let scope = request.resource_logs[0]
                .scope_logs
                .iter()
                .find(|s| s.scope.as_ref().is_some_and(|s| s.name == name))
                .unwrap();
            let log = &scope.log_records[0];
            (log.severity_number, log.severity_text.as_str())
        };
        assert_eq!(first("kernel"), (1, "TRACE"));
        assert_eq!(first("kernel::io"), (5, "DEBUG"));
        assert_eq!(first(""), (9, "INFO"));
        assert_eq!(first("aureus"), (13, "WARN"));
        assert_eq!(first("𝄞"), (17, "ERROR"));
    }

    #[test]
    fn log_records_carry_the_trace_flags_of_their_span_context() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
        let mut batch = Vec::new();
        for flags in [TraceFlags::NOT_SAMPLED, TraceFlags::SAMPLED] {
            let context = SpanContext::new(
                TraceId::from(0x0af7651916cd43dd8448eb211c80319c),
                SpanId::from(0xb7ad6b7169203331),
                flags,
                true,
                TraceState::default(),
            );
            let cx = opentelemetry::Context::new().with_remote_span_context(context);
            let _attached = cx.attach();
            let mut r = Record::new(tracing::Level::INFO, "kernel");
            r.set_message("in a trace");
            crate::otlp::traces::annotate(&mut r);
            assert!(r.trace_id.is_some() && r.otel_span_id.is_some());
            batch.push(Arc::new(r));
        }
        for direct in [true, false] {
            let body = CapturingLogSink::build(false, direct).unwrap().encode(&batch).unwrap();
            let request = decoded(&body[0]);
            let flags: Vec<u32> = request.resource_logs[0].scope_logs[0]
                .log_records
                .iter()
                .map(|l| l.flags)
                .collect();
            assert_eq!(flags, [0, 1], "direct={direct}");
        }
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            varint(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value), "{value}");
        }
    }
}
