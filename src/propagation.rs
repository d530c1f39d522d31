//! Trace context and correlation id across process boundaries: W3C
//! `traceparent` / `tracestate` and `baggage` headers.
//!
//! The caller injects the current span's trace context and the current
//! correlation id (as the baggage entry `aureus.correlation_id`); the callee
//! extracts them and attaches them to its request span, so the collector shows
//! one trace spanning both processes and both sides log the same correlation id.
//!
//! ```
//! use aureus_observability::propagation;
//!
//! // Client side, inside the span of the outgoing call:
//! let mut headers = http::HeaderMap::new();
//! propagation::inject_headers(&mut headers);
//!
//! // Server side, for an incoming request:
//! let remote = propagation::extract_headers(&headers);
//! let span = tracing::info_span!("handle_request", correlation_id = tracing::field::Empty);
//! remote.attach(&span);
//! let _entered = span.enter();
//! ```
//!
//! A malformed `traceparent` or `baggage` header is ignored (the request is
//! handled as a new trace), counted ([`rejected_headers`], and
//! `<prefix>_telemetry_propagation_rejected_total{header}` on `/metrics`) and
//! reported by one warning event per header, never a panic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::correlation::CorrelationId;
use crate::event::fields::CORRELATION_ID;

/// The baggage key (and OTLP attribute) carrying the correlation id.
pub const CORRELATION_BAGGAGE_KEY: &str = crate::otlp::CORRELATION_ATTRIBUTE;

static REJECTED_TRACEPARENT: AtomicU64 = AtomicU64::new(0);
static REJECTED_BAGGAGE: AtomicU64 = AtomicU64::new(0);

/// Headers ignored because they were malformed, as `(header, count)`:
/// `traceparent` and `baggage` (a bad correlation id in the baggage counts
/// as a bad `baggage`).
pub fn rejected_headers() -> [(&'static str, u64); 2] {
    [
        ("traceparent", REJECTED_TRACEPARENT.load(Ordering::Relaxed)),
        ("baggage", REJECTED_BAGGAGE.load(Ordering::Relaxed)),
    ]
}

/// Writes the current span's trace context and the current correlation id
/// into HTTP headers (`traceparent`, `tracestate`, `baggage`).
pub fn inject_headers(headers: &mut http::HeaderMap) {
    inject(&mut opentelemetry_http::HeaderInjector(headers));
}

/// Like [`inject_headers`], into a plain map (message metadata, queues).
pub fn inject_map(map: &mut HashMap<String, String>) {
    inject(map);
}

fn inject(carrier: &mut dyn Injector) {
    let mut context = tracing::Span::current().context();
    if let Some(id) = crate::correlation::current() {
        context = context.with_baggage([KeyValue::new(CORRELATION_BAGGAGE_KEY, id.as_str().to_owned())]);
    }
    TraceContextPropagator::new().inject_context(&context, carrier);
    BaggagePropagator::new().inject_context(&context, carrier);
}

/// Reads the trace context and correlation id from HTTP headers.
pub fn extract_headers(headers: &http::HeaderMap) -> Remote {
    extract(&opentelemetry_http::HeaderExtractor(headers))
}

/// Reads the trace context and correlation id from a plain map.
pub fn extract_map(map: &HashMap<String, String>) -> Remote {
    extract(map)
}

fn extract(carrier: &dyn Extractor) -> Remote {
    let empty = opentelemetry::Context::new();
    let mut context = TraceContextPropagator::new().extract_with_context(&empty, carrier);
    if carrier.get("traceparent").is_some_and(|v| !v.trim().is_empty()) && !context.span().span_context().is_valid() {
        REJECTED_TRACEPARENT.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "aureus::propagation",
            header = "traceparent",
            "ignored a malformed traceparent header; the request starts a new trace"
        );
    }
    context = BaggagePropagator::new().extract_with_context(&context, carrier);
    let raw_baggage = carrier.get("baggage").filter(|v| !v.trim().is_empty());
    let mut correlation_id = None;
    match context.baggage().get(CORRELATION_BAGGAGE_KEY) {
        Some(value) => match CorrelationId::new(value.as_str()) {
            Ok(id) => correlation_id = Some(id),
            Err(_) => reject_baggage("its aureus.correlation_id is not a valid correlation id"),
        },
        None if raw_baggage.is_some() && context.baggage().is_empty() => {
            reject_baggage("it has no valid key=value entry")
        }
        None => {}
    }
    Remote {
        context,
        correlation_id,
    }
}

fn reject_baggage(why: &'static str) {
    REJECTED_BAGGAGE.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(target: "aureus::propagation", header = "baggage", reason = why, "ignored a malformed baggage header");
}

/// What the caller sent: its trace context and correlation id (either may be absent).
#[derive(Debug, Clone)]
pub struct Remote {
    context: opentelemetry::Context,
    correlation_id: Option<CorrelationId>,
}

impl Remote {
    /// The caller's correlation id, if it sent a valid one.
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        self.correlation_id.as_ref()
    }

    /// Whether the caller sent a valid trace context.
    pub fn is_traced(&self) -> bool {
        self.context.span().span_context().is_valid()
    }

    /// The caller's trace id as 32 hex digits, when traced.
    pub fn trace_id(&self) -> Option<String> {
        self.is_traced()
            .then(|| self.context.span().span_context().trace_id().to_string())
    }

    /// The extracted OpenTelemetry context (remote parent span and baggage).
    pub fn context(&self) -> &opentelemetry::Context {
        &self.context
    }

    /// Makes `span` continue the caller's trace (its OTLP parent becomes the
    /// remote span) and carry the caller's correlation id — recorded into the
    /// span's `correlation_id` field, which the span must declare (e.g.
    /// `correlation_id = tracing::field::Empty`). Call before entering `span`.
    pub fn attach(&self, span: &tracing::Span) {
        if self.is_traced() || self.correlation_id.is_some() {
            let _ = span.set_parent(self.context.clone());
        }
        if let Some(id) = &self.correlation_id {
            span.record(CORRELATION_ID, id.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn extracts_trace_and_correlation() {
        let remote = extract_map(&map(&[
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("baggage", "aureus.correlation_id=wf-42,other=x"),
        ]));
        assert!(remote.is_traced());
        assert_eq!(remote.trace_id().as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(remote.correlation_id().map(|c| c.as_str()), Some("wf-42"));
    }

    #[test]
    fn malformed_headers_are_ignored_and_counted() {
        let [(_, tp_before), (_, bg_before)] = rejected_headers();
        for (traceparent, baggage) in [
            ("00-zzzz-00f067aa0ba902b7-01", "=,;;=="),
            ("garbage", "aureus.correlation_id=%ZZ%00bad id with spaces"),
            ("00-00000000000000000000000000000000-0000000000000000-01", ",,,"),
            (&"f".repeat(10_000) as &str, &"k=v,".repeat(5_000) as &str),
        ] {
            let remote = extract_map(&map(&[("traceparent", traceparent), ("baggage", baggage)]));
            assert!(!remote.is_traced(), "{traceparent}");
        }
        let [(_, tp_after), (_, bg_after)] = rejected_headers();
        assert!(tp_after >= tp_before + 4, "traceparent rejections counted");
        assert!(bg_after >= bg_before + 2, "baggage rejections counted");
    }

    #[test]
    fn no_headers_is_not_an_error() {
        let [(_, tp_before), (_, bg_before)] = rejected_headers();
        let remote = extract_map(&HashMap::new());
        assert!(!remote.is_traced());
        assert!(remote.correlation_id().is_none());
        let [(_, tp_after), (_, bg_after)] = rejected_headers();
        assert_eq!((tp_after, bg_after), (tp_before, bg_before));
    }
}
