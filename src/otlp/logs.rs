//! Logs: every record the pipeline delivers becomes an OTLP LogRecord —
//! severity mapped from the level or the Aureus kind, a readable body, the
//! fields as typed attributes, the span's trace and span ids, and
//! `aureus.correlation_id`. The sink runs behind the pipeline's bounded
//! queue like every other sink, so redaction, sampling, isolation and loss
//! counting apply to it too.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::Resource;

use super::internal::is_exporter_target;
use super::prepared::PreparedBody;
use super::proto::LogEncoder;
use super::stats::ExportStats;
use super::transport::ExportRuntime;
use crate::config::ContentCapture;
use crate::event::EventKind;
use crate::record::{Record, Value};
use crate::sinks::{Sink, SinkError};

/// Attribute carrying the correlation id on logs and spans.
pub const CORRELATION_ATTRIBUTE: &str = "aureus.correlation_id";

/// The OTLP severity of `record` (see the crate docs for the table).
pub(crate) fn severity(record: &Record) -> (Severity, &'static str) {
    let denied = |field: &str| record.field(field).and_then(|v| v.as_bool()) == Some(false);
    match record.kind {
        Some(EventKind::Rollback) => (Severity::Error, "ERROR"),
        Some(EventKind::CrvResult) if denied("passed") => (Severity::Warn, "WARN"),
        Some(EventKind::PolicyCheck) if denied("allowed") => (Severity::Warn, "WARN"),
        Some(_) => (Severity::Info, "INFO"),
        None => match record.level {
            tracing::Level::TRACE => (Severity::Trace, "TRACE"),
            tracing::Level::DEBUG => (Severity::Debug, "DEBUG"),
            tracing::Level::INFO => (Severity::Info, "INFO"),
            tracing::Level::WARN => (Severity::Warn, "WARN"),
            tracing::Level::ERROR => (Severity::Error, "ERROR"),
        },
    }
}

/// The body: the message, else `<event_type> k=v …` for an Aureus event
/// (message content only when `capture` exports it).
pub(crate) fn body(record: &Record, capture: ContentCapture) -> String {
    let mut text = String::with_capacity(64);
    write_body(&mut text, record, capture);
    text
}

/// [`body`], written into `text` (the direct encoder reuses one buffer).
pub(crate) fn write_body(text: &mut String, record: &Record, capture: ContentCapture) {
    if let Some(message) = record.message().filter(|m| !m.is_empty()) {
        text.push_str(message);
        return;
    }
    if let Some(kind) = record.event_type() {
        text.push_str(kind);
    }
    for (name, value) in exported_fields(record, capture) {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = write!(text, "{name}={value}");
    }
}

fn attribute_value(value: Value<'_>) -> AnyValue {
    match value {
        Value::Bool(v) => AnyValue::Boolean(v),
        Value::I64(v) => AnyValue::Int(v),
        // Beyond i64::MAX: the exact decimal text, as opentelemetry-appender-tracing
        // sends it (a double would round it).
        Value::U64(v) => match i64::try_from(v) {
            Ok(v) => AnyValue::Int(v),
            Err(_) => AnyValue::String(v.to_string().into()),
        },
        Value::F64(v) => AnyValue::Double(v),
        Value::Str(v) => AnyValue::String(v.to_owned().into()),
    }
}

/// The fields of `record` that go out: all of them, except message content
/// (`llm_prompt.prompt`, `llm_response.response`) unless `capture` is `all`.
pub(crate) fn exported_fields(
    record: &Record,
    capture: ContentCapture,
) -> impl Iterator<Item = (&'static str, Value<'_>)> + '_ {
    let kind = record.event_type().unwrap_or("");
    record
        .fields()
        .filter(move |(name, _)| capture.exports() || !crate::event::is_content_field(kind, name))
}

/// Fills `log` from `record`.
pub(crate) fn fill(log: &mut SdkLogRecord, record: &Record, capture: ContentCapture) {
    log.set_timestamp(record.timestamp);
    log.set_observed_timestamp(SystemTime::now());
    let (number, text) = severity(record);
    log.set_severity_number(number);
    log.set_severity_text(text);
    log.set_target(Cow::Borrowed(record.target));
    if let Some(kind) = record.kind {
        log.set_event_name(kind.as_str());
    }
    log.set_body(AnyValue::String(body(record, capture).into()));
    if let Some(kind) = record.event_type() {
        log.add_attribute("event_type", kind.to_owned());
    }
    for (name, value) in exported_fields(record, capture) {
        log.add_attribute(name, attribute_value(value));
    }
    if let Some(id) = record.correlation_id() {
        log.add_attribute(CORRELATION_ATTRIBUTE, id.to_owned());
    }
    if let (Some(trace), Some(span)) = (record.trace_id, record.otel_span_id) {
        log.set_trace_context(
            TraceId::from_bytes(trace.to_be_bytes()),
            SpanId::from_bytes(span.to_be_bytes()),
            Some(TraceFlags::new(record.trace_flags)),
        );
    }
}

/// Largest request body sent (opentelemetry-otlp's default limit): a larger
/// batch fails as a whole, as it would on the exporter's own path.
const MAX_BODY_BYTES: usize = 64 << 20;

/// The direct path (HTTP/protobuf): the body encoded from the records.
struct Direct {
    encoder: LogEncoder,
    body: PreparedBody,
    /// What the exporter itself is given to export; never sent.
    placeholder: SdkLogRecord,
    buf: Vec<u8>,
}

/// The sink: converts a batch and exports it in one request.
pub(crate) struct OtlpLogSink<E: LogExporter> {
    exporter: E,
    direct: Option<Direct>,
    logger: SdkLogger,
    scope: InstrumentationScope,
    runtime: Arc<ExportRuntime>,
    stats: Arc<ExportStats>,
    capture: ContentCapture,
    /// Keeps the logger's provider alive (it has no processors).
    _provider: SdkLoggerProvider,
}

impl<E: LogExporter> OtlpLogSink<E> {
    pub(crate) fn new(
        mut exporter: E,
        resource: &Resource,
        runtime: Arc<ExportRuntime>,
        stats: Arc<ExportStats>,
        capture: ContentCapture,
    ) -> Self {
        exporter.set_resource(resource);
        let provider = SdkLoggerProvider::builder().with_resource(resource.clone()).build();
        let scope = InstrumentationScope::builder("aureus-observability")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let logger = provider.logger_with_scope(scope.clone());
        OtlpLogSink {
            exporter,
            direct: None,
            logger,
            scope,
            runtime,
            stats,
            capture,
            _provider: provider,
        }
    }
}

impl<E: LogExporter> OtlpLogSink<E> {
    /// Encodes each batch straight from the records into the body the
    /// exporter's client sends (see [`super::prepared`]); for HTTP/protobuf.
    pub(crate) fn encoding_directly(mut self, body: PreparedBody, resource: &Resource) -> Self {
        let mut placeholder = self.logger.create_log_record();
        // The exporter's conversion expects an observed time on every record.
        placeholder.set_observed_timestamp(SystemTime::now());
        self.direct = Some(Direct {
            encoder: LogEncoder::new(resource, env!("CARGO_PKG_VERSION"), self.capture),
            body,
            placeholder,
            buf: Vec::new(),
        });
        self
    }

    /// Exports `batch` through the direct path; `None` when it holds nothing to export.
    fn write_direct(&mut self, batch: &[Arc<Record>]) -> Option<Result<(), SinkError>> {
        let direct = self.direct.as_mut()?;
        let records = || batch.iter().filter(|record| !is_exporter_target(record.target));
        let items = records().count() as u64;
        if items == 0 {
            return Some(Ok(()));
        }
        direct
            .encoder
            .encode(records().map(|r| &**r), SystemTime::now(), &mut direct.buf);
        let _quiet = opentelemetry::Context::enter_telemetry_suppressed_scope();
        self.stats.created(items);
        self.stats.begin_export(items);
        let started = std::time::Instant::now();
        if direct.buf.len() > MAX_BODY_BYTES {
            let message = format!(
                "OTLP HTTP request body is {} bytes, exceeding the limit of {MAX_BODY_BYTES} bytes; reduce otlp.batch.max_batch",
                direct.buf.len()
            );
            self.stats.exported(items, started.elapsed(), &Err(message.clone()));
            return Some(Err(message.into()));
        }
        direct.body.set(std::mem::take(&mut direct.buf));
        let placeholder = [(&direct.placeholder, &self.scope)];
        let result = self.runtime.block_on(self.exporter.export(LogBatch::new(&placeholder)));
        direct.body.clear();
        let outcome = result.as_ref().map(|_| ()).map_err(|err| err.to_string());
        self.stats.exported(items, started.elapsed(), &outcome);
        Some(result.map_err(|err| Box::new(err) as SinkError))
    }
}

impl<E: LogExporter + 'static> Sink for OtlpLogSink<E> {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        if let Some(result) = self.write_direct(batch) {
            return result;
        }
        let logs: Vec<SdkLogRecord> = batch
            .iter()
            .filter(|record| !is_exporter_target(record.target))
            .map(|record| {
                let mut log = self.logger.create_log_record();
                fill(&mut log, record, self.capture);
                log
            })
            .collect();
        if logs.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(&SdkLogRecord, &InstrumentationScope)> = logs.iter().map(|log| (log, &self.scope)).collect();
        let _quiet = opentelemetry::Context::enter_telemetry_suppressed_scope();
        let items = pairs.len() as u64;
        self.stats.created(items);
        self.stats.begin_export(items);
        let started = std::time::Instant::now();
        let result = self.runtime.block_on(self.exporter.export(LogBatch::new(&pairs)));
        let outcome = result.as_ref().map(|_| ()).map_err(|err| err.to_string());
        self.stats.exported(items, started.elapsed(), &outcome);
        result.map_err(|err| Box::new(err) as SinkError)
    }

    fn shutdown(&mut self) -> Result<(), SinkError> {
        self.exporter.shutdown().map_err(|err| Box::new(err) as SinkError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What goes out of a record (attributes and body, on the SDK path and
    /// the direct encoder alike): the content of `llm_prompt` / `llm_response`
    /// and the conventions' Opt-In content attributes on any record only
    /// with `all`.
    #[test]
    fn content_fields_and_attributes_go_out_only_with_all() {
        let mut details = Record::new(tracing::Level::INFO, "aureus");
        details.push_field("gen_ai.operation.name", Value::Str("chat"));
        details.push_field("gen_ai.input.messages", Value::Str("INPUT-CANARY"));
        details.push_field("gen_ai.tool.call.result", Value::Str("RESULT-CANARY"));
        let mut response = Record::new(tracing::Level::INFO, "aureus");
        response.set_event_type("llm_response");
        response.push_field("response", Value::Str("RESPONSE-CANARY"));
        response.push_field("gen_ai.output.messages", Value::Str("OUTPUT-CANARY"));
        response.push_field("input_tokens", Value::U64(3));
        for capture in [ContentCapture::Local, ContentCapture::None, ContentCapture::All] {
            for record in [&details, &response] {
                let names: Vec<&str> = exported_fields(record, capture).map(|(n, _)| n).collect();
                let text = body(record, capture);
                let exported = capture == ContentCapture::All;
                assert_eq!(text.contains("CANARY"), exported, "{capture:?}: {text}");
                assert_eq!(
                    names
                        .iter()
                        .any(|n| n.starts_with("gen_ai.") && *n != "gen_ai.operation.name"),
                    exported,
                    "{capture:?}: {names:?}"
                );
                assert_eq!(names.contains(&"response"), exported && record.event_type().is_some());
            }
        }
    }
}
