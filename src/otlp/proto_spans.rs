//! OTLP spans encoded as protobuf straight from the SDK's [`SpanData`],
//! without the intermediate `opentelemetry-proto` structs: the body of an
//! `ExportTraceServiceRequest` (opentelemetry-proto `collector/trace/v1`,
//! `trace/v1`) with the same content the exporter's own conversion sends —
//! one `ScopeSpans` per instrumentation scope in first-seen order, span
//! flags with the "has is-remote" bit, a status on every span.

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use super::proto::{
    bytes_field, bytes_field_header, fixed64_field, key, otel_key_value, resource_message, str_field, unix_nanos,
    varint, I32, VARINT,
};

/// `SpanFlags`: the context says whether it is remote, and it is.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn span_flags(is_remote: bool, trace_flags: u8) -> u32 {
    let mut flags = u32::from(trace_flags) | HAS_IS_REMOTE;
    if is_remote {
        flags |= IS_REMOTE;
    }
    flags
}

fn kind_number(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn varint_field(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(buf, field, VARINT);
        varint(buf, value);
    }
}

fn fixed32_field(buf: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        key(buf, field, I32);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// The `InstrumentationScope` message (common/v1).
fn scope_message(scope: &InstrumentationScope) -> Vec<u8> {
    let mut out = Vec::new();
    str_field(&mut out, 1, scope.name());
    str_field(&mut out, 2, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        otel_key_value(&mut out, 3, kv.key.as_str(), &kv.value);
    }
    out
}

/// Encodes batches of spans as `ExportTraceServiceRequest` bodies, reusing
/// its buffers from batch to batch.
pub(crate) struct SpanEncoder {
    resource: Vec<u8>,
    schema_url: String,
    /// Per scope: the scope, its `ScopeSpans.scope` message and its framed spans.
    scopes: Vec<(InstrumentationScope, Vec<u8>, Vec<u8>)>,
    span: Vec<u8>,
    nested: Vec<u8>,
}

impl SpanEncoder {
    pub(crate) fn new(resource: &Resource) -> Self {
        SpanEncoder {
            resource: resource_message(resource),
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
            scopes: Vec::new(),
            span: Vec::with_capacity(4096),
            nested: Vec::with_capacity(1024),
        }
    }

    /// The request body for `spans`, into `out`.
    pub(crate) fn encode(&mut self, spans: &[SpanData], out: &mut Vec<u8>) {
        for (_, _, buf) in &mut self.scopes {
            buf.clear();
        }
        for span in spans {
            self.span.clear();
            write_span(&mut self.span, &mut self.nested, span);
            let at = match self
                .scopes
                .iter()
                .position(|(s, _, _)| *s == span.instrumentation_scope)
            {
                Some(at) => at,
                None => {
                    let scope = span.instrumentation_scope.clone();
                    let message = scope_message(&scope);
                    self.scopes.push((scope, message, Vec::with_capacity(64 * 1024)));
                    self.scopes.len() - 1
                }
            };
            bytes_field(&mut self.scopes[at].2, 2, &self.span);
        }
        self.scopes.retain(|(_, _, buf)| !buf.is_empty());

        let mut resource_spans = Vec::with_capacity(self.scopes.iter().map(|s| s.2.len() + 64).sum::<usize>() + 256);
        bytes_field(&mut resource_spans, 1, &self.resource);
        for (scope, message, spans) in &self.scopes {
            let schema = scope.schema_url().unwrap_or_default();
            let mut head = Vec::with_capacity(message.len() + 8);
            bytes_field(&mut head, 1, message);
            let tail_len = if schema.is_empty() {
                0
            } else {
                1 + super::proto::varint_len(schema.len() as u64) + schema.len()
            };
            bytes_field_header(&mut resource_spans, 2, head.len() + spans.len() + tail_len);
            resource_spans.extend_from_slice(&head);
            resource_spans.extend_from_slice(spans);
            str_field(&mut resource_spans, 3, schema);
        }
        str_field(&mut resource_spans, 3, &self.schema_url);
        out.clear();
        bytes_field(out, 1, &resource_spans);
    }
}

/// Writes the fields of one `Span` message (trace/v1).
fn write_span(buf: &mut Vec<u8>, nested: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes_field(buf, 1, &context.trace_id().to_bytes());
    bytes_field(buf, 2, &context.span_id().to_bytes());
    str_field(buf, 3, &context.trace_state().header());
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes_field(buf, 4, &span.parent_span_id.to_bytes());
    }
    str_field(buf, 5, &span.name);
    varint_field(buf, 6, kind_number(&span.span_kind));
    fixed64_field(buf, 7, unix_nanos(span.start_time));
    fixed64_field(buf, 8, unix_nanos(span.end_time));
    for kv in &span.attributes {
        otel_key_value(buf, 9, kv.key.as_str(), &kv.value);
    }
    varint_field(buf, 10, u64::from(span.dropped_attributes_count));
    for event in span.events.iter() {
        nested.clear();
        fixed64_field(nested, 1, unix_nanos(event.timestamp));
        str_field(nested, 2, &event.name);
        for kv in &event.attributes {
            otel_key_value(nested, 3, kv.key.as_str(), &kv.value);
        }
        varint_field(nested, 4, u64::from(event.dropped_attributes_count));
        bytes_field(buf, 11, nested);
    }
    varint_field(buf, 12, u64::from(span.events.dropped_count));
    for link in span.links.iter() {
        nested.clear();
        bytes_field(nested, 1, &link.span_context.trace_id().to_bytes());
        bytes_field(nested, 2, &link.span_context.span_id().to_bytes());
        str_field(nested, 3, &link.span_context.trace_state().header());
        for kv in &link.attributes {
            otel_key_value(nested, 4, kv.key.as_str(), &kv.value);
        }
        varint_field(nested, 5, u64::from(link.dropped_attributes_count));
        fixed32_field(
            nested,
            6,
            span_flags(link.span_context.is_remote(), link.span_context.trace_flags().to_u8()),
        );
        bytes_field(buf, 13, nested);
    }
    varint_field(buf, 14, u64::from(span.links.dropped_count));
    // status = 15, always present: Status { message = 2, code = 3 }
    nested.clear();
    match &span.status {
        Status::Unset => {}
        Status::Ok => varint_field(nested, 3, 1),
        Status::Error { description } => {
            str_field(nested, 2, description);
            varint_field(nested, 3, 2);
        }
    }
    bytes_field(buf, 15, nested);
    // flags = 16 (fixed32)
    fixed32_field(
        buf,
        16,
        span_flags(span.parent_span_is_remote, context.trace_flags().to_u8()),
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use opentelemetry::trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{KeyValue, StringValue};
    use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_sdk::trace::{SpanEvents, SpanExporter as _, SpanLinks};
    use prost::Message as _;

    use super::*;

    #[derive(Debug, Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Bytes>>>);

    #[async_trait::async_trait]
    impl opentelemetry_http::HttpClient for Capture {
        async fn send_bytes(
            &self,
            request: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
            self.0.lock().unwrap().push(request.into_body());
            Ok(http::Response::builder().status(200).body(Bytes::new())?)
        }
    }

    fn span(n: u64, scope: &InstrumentationScope) -> SpanData {
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_000 + n);
        let context = SpanContext::new(
            TraceId::from(0x0af7651916cd43dd8448eb211c80319c + u128::from(n)),
            SpanId::from(0xb7ad6b7169203331 + n),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("vendor", "v1")]).unwrap(),
        );
        let attributes = vec![
            KeyValue::new("aureus.correlation_id", "run-1"),
            KeyValue::new("count", 3_i64),
            KeyValue::new("ok", false),
            KeyValue::new("ratio", 0.5),
            KeyValue::new(
                "tags",
                opentelemetry::Value::Array(vec![StringValue::from("a"), StringValue::from("b ✓")].into()),
            ),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("empty", ""),
        ];
        let mut events = SpanEvents::default();
        events.events = vec![
            Event::new(
                "step_end",
                at,
                vec![KeyValue::new("success", true), KeyValue::new("task_type", "plan")],
                0,
            ),
            Event::new("", at, vec![], 2),
        ];
        events.dropped_count = 1;
        let mut links = SpanLinks::default();
        if n == 1 {
            let linked = SpanContext::new(
                TraceId::from(7),
                SpanId::from(9),
                TraceFlags::default(),
                true,
                TraceState::default(),
            );
            links.links = vec![Link::new(linked, vec![KeyValue::new("why", "retry")], 1)];
        }
        SpanData {
            span_context: context,
            parent_span_id: if n == 0 { SpanId::INVALID } else { SpanId::from(42) },
            parent_span_is_remote: n == 2,
            span_kind: [SpanKind::Internal, SpanKind::Server, SpanKind::Client][n as usize % 3].clone(),
            name: format!("task {n}").into(),
            start_time: at,
            end_time: at + Duration::from_millis(5),
            attributes,
            dropped_attributes_count: n as u32,
            events,
            links,
            status: [Status::Unset, Status::Ok, Status::error("step failed: tool")][n as usize % 3].clone(),
            instrumentation_scope: scope.clone(),
        }
    }

    fn normalised(body: &[u8]) -> ExportTraceServiceRequest {
        let mut request = ExportTraceServiceRequest::decode(body).expect("valid protobuf");
        for resource in &mut request.resource_spans {
            if let Some(r) = resource.resource.as_mut() {
                r.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
            resource.scope_spans.sort_by(|a, b| {
                a.scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .cmp(&b.scope.as_ref().map(|s| s.name.clone()))
            });
        }
        request
    }

    fn exporter_body(resource: &Resource, spans: Vec<SpanData>) -> Bytes {
        let capture = Capture::default();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint("http://127.0.0.1:9/v1/traces")
            .with_http_client(capture.clone())
            .build()
            .unwrap();
        exporter.set_resource(resource);
        futures_executor::block_on(exporter.export(spans)).unwrap();
        let body = capture.0.lock().unwrap().pop().unwrap();
        body
    }

    #[test]
    fn every_value_kind_flag_status_and_size_encodes_as_the_exporter_does() {
        use opentelemetry::Array;
        let big = "é✓𝄞\u{0}".repeat(50_000); // ~550 KB: 3-byte length varints at every level
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("r.bools", opentelemetry::Value::Array(Array::Bool(vec![true, false]))),
                KeyValue::new("r.ints", opentelemetry::Value::Array(Array::I64(vec![i64::MIN, 0, -1]))),
                KeyValue::new("r.nan", f64::NAN),
                KeyValue::new("", ""),
            ])
            .build();
        let scopes = [
            InstrumentationScope::builder("").build(),
            InstrumentationScope::builder("s")
                .with_version("")
                .with_schema_url("https://example.com/s")
                .with_attributes([KeyValue::new(
                    "floats",
                    opentelemetry::Value::Array(Array::F64(vec![-0.0, f64::INFINITY, 5e-324])),
                )])
                .build(),
        ];
        let mut spans = Vec::new();
        let statuses = [Status::Unset, Status::Ok, Status::error(""), Status::error(big.clone())];
        let kinds = [
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ];
        for n in 0..10u64 {
            let mut data = span(n, &scopes[n as usize % 2]);
            data.span_kind = kinds[n as usize % 5].clone();
            data.status = statuses[n as usize % 4].clone();
            data.parent_span_is_remote = n.is_multiple_of(3);
            data.span_context = SpanContext::new(
                data.span_context.trace_id(),
                data.span_context.span_id(),
                TraceFlags::new(if n.is_multiple_of(2) { 0 } else { 0xff }),
                n.is_multiple_of(4),
                TraceState::from_key_value([("a", "1"), ("b@v", "x y")]).unwrap(),
            );
            data.attributes.push(KeyValue::new("nan", f64::NAN));
            data.attributes.push(KeyValue::new("min", i64::MIN));
            data.attributes.push(KeyValue::new(
                "strings",
                opentelemetry::Value::Array(Array::String(vec![
                    StringValue::from(""),
                    StringValue::from(big.clone()),
                ])),
            ));
            data.dropped_attributes_count = u32::MAX - n as u32;
            data.events.dropped_count = u32::MAX;
            data.links.dropped_count = 7;
            let linked = SpanContext::new(
                TraceId::from(u128::MAX),
                SpanId::from(u64::MAX),
                TraceFlags::SAMPLED,
                n.is_multiple_of(2),
                TraceState::from_key_value([("k", "v")]).unwrap(),
            );
            data.links
                .links
                .push(Link::new(linked, vec![KeyValue::new("big", big.clone())], u32::MAX));
            if n == 9 {
                data.start_time = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
                data.end_time = SystemTime::UNIX_EPOCH;
                data.name = "".into();
            }
            spans.push(data);
        }
        let theirs = exporter_body(&resource, spans.clone());
        let mut ours = Vec::new();
        SpanEncoder::new(&resource).encode(&spans, &mut ours);
        let (ours, theirs) = (normalised(&ours), normalised(&theirs));
        assert!(
            ours.encode_to_vec() == theirs.encode_to_vec(),
            "direct and exporter encodings differ"
        );
        // The OTLP span flags: W3C trace flags in bits 0-7, has-is-remote (bit 8) always,
        // is-remote (bit 9) when the parent (for links: the linked context) is remote.
        let all: Vec<_> = ours.resource_spans[0]
            .scope_spans
            .iter()
            .flat_map(|s| s.spans.iter())
            .collect();
        assert_eq!(all.len(), 10);
        for span in all {
            let n = span.span_id[7] as u64 - 0x31;
            let trace_flags = if n.is_multiple_of(2) { 0 } else { 0xff };
            let remote = if n.is_multiple_of(3) { 0x200 } else { 0 };
            assert_eq!(span.flags, trace_flags | 0x100 | remote, "span {n}");
            let link = span.links.last().unwrap();
            assert_eq!(link.flags, 1 | 0x100 | if n.is_multiple_of(2) { 0x200 } else { 0 });
            assert_eq!(span.trace_state, "a=1,b@v=x y");
        }
    }

    #[test]
    fn direct_encoding_decodes_to_what_the_exporter_sends() {
        let resource = Resource::builder_empty()
            .with_service_name("aureus-test")
            .with_attribute(KeyValue::new("host.cores", 8_i64))
            .with_schema_url([], "https://opentelemetry.io/schemas/1.30.0")
            .build();
        let ours_scope = InstrumentationScope::builder("aureus-observability")
            .with_version("0.1.0")
            .build();
        let other = InstrumentationScope::builder("other")
            .with_schema_url("https://example.com/schema")
            .with_attributes([KeyValue::new("scope.attr", "x")])
            .build();
        let spans: Vec<SpanData> = vec![
            span(0, &ours_scope),
            span(1, &other),
            span(2, &ours_scope),
            span(3, &ours_scope),
        ];

        let capture = Capture::default();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint("http://127.0.0.1:9/v1/traces")
            .with_http_client(capture.clone())
            .build()
            .unwrap();
        exporter.set_resource(&resource);
        futures_executor::block_on(exporter.export(spans.clone())).unwrap();
        let theirs = capture.0.lock().unwrap().pop().unwrap();

        let mut ours = Vec::new();
        let mut encoder = SpanEncoder::new(&resource);
        encoder.encode(&spans, &mut ours);
        assert_eq!(normalised(&ours), normalised(&theirs));
        // Buffers are reused: a second batch encodes the same way.
        encoder.encode(&spans[..1], &mut ours);
        let again = normalised(&ours);
        assert_eq!(again.resource_spans[0].scope_spans.len(), 1);
        assert_eq!(again.resource_spans[0].scope_spans[0].spans.len(), 1);
    }
}
