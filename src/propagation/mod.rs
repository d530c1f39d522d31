//! Trace context and correlation id across process boundaries: W3C
//! `traceparent` / `tracestate` (Trace Context Level 1) and `baggage` (W3C
//! Baggage) headers, read and written by this crate's own strict parsers.
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
//! What is refused — never a panic, never a silently altered value:
//!
//! - a `traceparent` that breaks Trace Context Level 1 (field lengths and
//!   characters, version `ff`, all-zero ids, data after a version-00 value,
//!   more than one `traceparent` field): the request is handled as a new
//!   trace and its `tracestate` is not read;
//! - a `tracestate` that breaks the Level 1 grammar, has a key twice or more
//!   than 32 members, or comes without a `traceparent`: discarded, the
//!   `traceparent` still used;
//! - a `baggage` header over 8192 bytes or 64 members: discarded whole; a
//!   malformed member: left out, the others kept; an `aureus.correlation_id`
//!   that is not a valid [`CorrelationId`]: not used.
//!
//! Each refusal is counted once per header ([`rejected_headers`], and
//! `<prefix>_telemetry_propagation_rejected_total{header}` on `/metrics`)
//! and reported by one warning event (target `aureus::propagation`, with the
//! reason, never the header's content). Header names are matched in any case.

mod baggage;
mod traceparent;
mod tracestate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::baggage::{Baggage, BaggageExt as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::correlation::CorrelationId;
use crate::event::fields::CORRELATION_ID;

/// The baggage key (and OTLP attribute) carrying the correlation id.
pub const CORRELATION_BAGGAGE_KEY: &str = crate::otlp::CORRELATION_ATTRIBUTE;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const BAGGAGE: &str = "baggage";

static REJECTED_TRACEPARENT: AtomicU64 = AtomicU64::new(0);
static REJECTED_BAGGAGE: AtomicU64 = AtomicU64::new(0);
static REJECTED_TRACESTATE: AtomicU64 = AtomicU64::new(0);

/// Headers refused because they were malformed, as `(header, count)`, in
/// this order: `traceparent`, `baggage`, `tracestate`. A `baggage` header
/// counts once however many of its members were left out (or when its
/// correlation id is invalid); when writing, a baggage entry or `tracestate`
/// that cannot be written validly counts too.
pub fn rejected_headers() -> [(&'static str, u64); 3] {
    [
        (TRACEPARENT, REJECTED_TRACEPARENT.load(Ordering::Relaxed)),
        (BAGGAGE, REJECTED_BAGGAGE.load(Ordering::Relaxed)),
        (TRACESTATE, REJECTED_TRACESTATE.load(Ordering::Relaxed)),
    ]
}

/// The `tracestate` received with a trace, kept in the context beside
/// OpenTelemetry's own `TraceState`: that type's key check refuses some valid
/// Level 1 keys (a 14-character system id), and what was received must be
/// passed on unchanged while the trace is.
#[derive(Debug, Clone)]
struct ReceivedTraceState {
    trace_id: TraceId,
    /// The validated members, as sent on.
    header: String,
    /// What OpenTelemetry's `TraceState` holds of it (empty if it refused it).
    otel_header: String,
}

/// A header refused while reading or writing, with why.
type Refusal = (&'static str, &'static str);

fn reject(header: &'static str, reason: &'static str) {
    let counter = match header {
        TRACEPARENT => &REJECTED_TRACEPARENT,
        TRACESTATE => &REJECTED_TRACESTATE,
        _ => &REJECTED_BAGGAGE,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(target: "aureus::propagation", header, reason, "refused a malformed {header} header");
}

/// Where headers are read from: every field with a name, matched in any case.
trait Carrier {
    /// The values of the fields named `name`; `Err` for one that is not text.
    fn fields(&self, name: &str) -> Vec<Result<&str, ()>>;
}

impl Carrier for http::HeaderMap {
    fn fields(&self, name: &str) -> Vec<Result<&str, ()>> {
        self.get_all(name).iter().map(|v| v.to_str().map_err(|_| ())).collect()
    }
}

impl Carrier for HashMap<String, String> {
    fn fields(&self, name: &str) -> Vec<Result<&str, ()>> {
        let mut fields: Vec<(&String, &String)> = self.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).collect();
        fields.sort();
        fields.into_iter().map(|(_, v)| Ok(v.as_str())).collect()
    }
}

/// Writes the current span's trace context and the current correlation id
/// into HTTP headers (`traceparent`, `tracestate`, `baggage`), replacing
/// any already there.
pub fn inject_headers(headers: &mut http::HeaderMap) {
    for (name, value) in outgoing() {
        match http::HeaderValue::from_str(&value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            // Unreachable: every value written is visible ASCII.
            Err(_) => reject(name, "the value written is not a valid header value"),
        }
    }
}

/// Like [`inject_headers`], into a plain map (message metadata, queues),
/// with lowercase keys (a key of another case for the same header is removed).
pub fn inject_map(map: &mut HashMap<String, String>) {
    for (name, value) in outgoing() {
        map.retain(|k, _| !k.eq_ignore_ascii_case(name));
        map.insert(name.to_owned(), value);
    }
}

/// The headers to send for the current span and correlation id.
fn outgoing() -> Vec<(&'static str, String)> {
    let mut context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        // The current span is unknown to the OpenTelemetry layer (a level
        // our per-layer filter hides while another layer shows it): the
        // innermost span it did enter is the active OpenTelemetry context.
        context = opentelemetry::Context::current();
    }
    let mut out = Vec::new();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        out.push((
            TRACEPARENT,
            traceparent::format(
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags(),
            ),
        ));
        let mut state = span_context.trace_state().header();
        if let Some(received) = context.get::<ReceivedTraceState>() {
            if received.trace_id == span_context.trace_id() && received.otel_header == state {
                state.clone_from(&received.header);
            }
        }
        if !state.is_empty() {
            match tracestate::parse(&[&state]) {
                Ok(_) => out.push((TRACESTATE, state)),
                Err(why) => reject(TRACESTATE, why.reason()),
            }
        }
    }
    if let Some(baggage) = outgoing_baggage(&context) {
        out.push((BAGGAGE, baggage));
    }
    out
}

/// The correlation id first, then the context's other entries by key; an
/// entry that cannot be written validly or does not fit the limits is left out.
fn outgoing_baggage(context: &opentelemetry::Context) -> Option<String> {
    let mut members: Vec<String> = Vec::new();
    if let Some(id) = crate::correlation::current() {
        members.push(baggage::format_member(CORRELATION_BAGGAGE_KEY, id.as_str(), ""));
    }
    let mut entries: Vec<_> = context
        .baggage()
        .iter()
        .filter(|(key, _)| key.as_str() != CORRELATION_BAGGAGE_KEY || members.is_empty())
        .collect();
    entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut bytes = members.first().map_or(0, String::len);
    let mut left_out = None;
    for (key, (value, metadata)) in entries {
        if !baggage::is_token(key.as_str()) || !baggage::valid_properties(metadata.as_str()) {
            left_out = Some("an outgoing baggage entry has a key that is not a token or invalid properties");
            continue;
        }
        let member = baggage::format_member(key.as_str(), value.as_str(), metadata.as_str());
        let added = member.len() + usize::from(!members.is_empty());
        if members.len() == baggage::MAX_MEMBERS || bytes + added > baggage::MAX_BYTES {
            left_out = Some("outgoing baggage over 64 members or 8192 bytes");
            continue;
        }
        bytes += added;
        members.push(member);
    }
    if let Some(reason) = left_out {
        reject(BAGGAGE, reason);
    }
    (!members.is_empty()).then(|| members.join(","))
}

/// Reads the trace context and correlation id from HTTP headers.
pub fn extract_headers(headers: &http::HeaderMap) -> Remote {
    extract(headers)
}

/// Reads the trace context and correlation id from a plain map (keys in any case).
pub fn extract_map(map: &HashMap<String, String>) -> Remote {
    extract(map)
}

/// The non-empty values of `name`, or `Err` when one is not text.
fn present<'a>(carrier: &'a dyn Carrier, name: &str) -> Result<Vec<&'a str>, ()> {
    let mut values = Vec::new();
    for field in carrier.fields(name) {
        let value = field?;
        if !value.trim_matches([' ', '\t']).is_empty() {
            values.push(value);
        }
    }
    Ok(values)
}

fn extract(carrier: &dyn Carrier) -> Remote {
    let mut refused = Vec::new();
    let mut context = opentelemetry::Context::new();
    if let Some((span_context, received)) = extract_trace_context(carrier, &mut refused) {
        context = context.with_remote_span_context(span_context);
        if let Some(received) = received {
            context = context.with_value(received);
        }
    }
    let (baggage, correlation_id) = extract_baggage(carrier, &mut refused);
    if let Some(baggage) = baggage {
        context = context.with_baggage(baggage);
    }
    for &(header, reason) in &refused {
        reject(header, reason);
    }
    Remote {
        context,
        correlation_id,
        refused,
    }
}

/// The remote span context, when `traceparent` is valid; `tracestate` is
/// read only then.
fn extract_trace_context(
    carrier: &dyn Carrier,
    refused: &mut Vec<Refusal>,
) -> Option<(SpanContext, Option<ReceivedTraceState>)> {
    let parent = match present(carrier, TRACEPARENT).as_deref() {
        Ok([]) => {
            if present(carrier, TRACESTATE).map_or(true, |v| !v.is_empty()) {
                refused.push((TRACESTATE, "a tracestate without a traceparent"));
            }
            return None;
        }
        Ok([one]) => match traceparent::parse(one) {
            Ok(parent) => parent,
            Err(why) => {
                refused.push((TRACEPARENT, why.reason()));
                return None;
            }
        },
        Ok(_) => {
            refused.push((TRACEPARENT, "more than one traceparent header"));
            return None;
        }
        Err(_) => {
            refused.push((TRACEPARENT, "the traceparent header is not visible ASCII"));
            return None;
        }
    };
    let members = match present(carrier, TRACESTATE) {
        Ok(fields) if fields.is_empty() => Vec::new(),
        Ok(fields) => tracestate::parse(&fields).unwrap_or_else(|why| {
            refused.push((TRACESTATE, why.reason()));
            Vec::new()
        }),
        Err(()) => {
            refused.push((TRACESTATE, tracestate::Invalid::NotText.reason()));
            Vec::new()
        }
    };
    let header = members
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let state = TraceState::from_key_value(members).unwrap_or(TraceState::NONE);
    let received = (!header.is_empty()).then(|| ReceivedTraceState {
        trace_id: parent.trace_id,
        header,
        otel_header: state.header(),
    });
    let span_context = SpanContext::new(parent.trace_id, parent.parent_id, parent.flags, true, state);
    Some((span_context, received))
}

/// The baggage (if any member was valid) and a valid correlation id in it.
fn extract_baggage(carrier: &dyn Carrier, refused: &mut Vec<Refusal>) -> (Option<Baggage>, Option<CorrelationId>) {
    let parsed = match present(carrier, BAGGAGE).map_err(|()| baggage::Invalid::NotText) {
        Ok(fields) if fields.is_empty() => return (None, None),
        Ok(fields) => baggage::parse(&fields),
        Err(why) => Err(why),
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(why) => {
            refused.push((BAGGAGE, why.reason()));
            return (None, None);
        }
    };
    let mut problem = (parsed.malformed > 0).then_some("a list member breaks the grammar and was left out");
    let mut correlation_id = None;
    let mut baggage = Baggage::new();
    for member in parsed.members {
        if member.key == CORRELATION_BAGGAGE_KEY {
            match CorrelationId::new(&member.value) {
                Ok(id) => correlation_id = Some(id),
                Err(_) => {
                    problem = Some("its aureus.correlation_id is not a valid correlation id");
                    continue;
                }
            }
        }
        let before = baggage.len();
        baggage.insert_with_metadata(member.key, member.value, member.properties.as_str());
        if baggage.len() == before {
            problem = Some("a list member the OpenTelemetry API refuses");
        }
    }
    if let Some(reason) = problem {
        refused.push((BAGGAGE, reason));
    }
    ((!baggage.is_empty()).then_some(baggage), correlation_id)
}

/// What the caller sent: its trace context and correlation id (either may be absent).
#[derive(Debug, Clone)]
pub struct Remote {
    context: opentelemetry::Context,
    correlation_id: Option<CorrelationId>,
    refused: Vec<Refusal>,
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

    /// The caller's trace id as 32 lowercase hex digits, when traced.
    pub fn trace_id(&self) -> Option<String> {
        self.is_traced().then(|| {
            format!(
                "{:032x}",
                u128::from_be_bytes(self.context.span().span_context().trace_id().to_bytes())
            )
        })
    }

    /// The caller's `tracestate` as it will be passed on (empty when it sent
    /// none or it was discarded).
    pub fn trace_state(&self) -> String {
        self.context
            .get::<ReceivedTraceState>()
            .map(|received| received.header.clone())
            .unwrap_or_default()
    }

    /// The headers of this request that were refused (each also counted in
    /// [`rejected_headers`] and logged), as `(header, reason)`, e.g.
    /// `("traceparent", "version ff is forbidden")`.
    pub fn refused(&self) -> &[(&'static str, &'static str)] {
        &self.refused
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
        if self.is_traced() || !self.context.baggage().is_empty() || self.correlation_id.is_some() {
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
        assert!(remote.refused().is_empty());
    }

    #[test]
    fn malformed_headers_are_ignored_and_counted() {
        let [(_, tp_before), (_, bg_before), _] = rejected_headers();
        for (traceparent, baggage) in [
            ("00-zzzz-00f067aa0ba902b7-01", "=,;;=="),
            ("garbage", "aureus.correlation_id=%ZZ%00bad id with spaces"),
            ("00-00000000000000000000000000000000-0000000000000000-01", ",,,k"),
            (&"f".repeat(10_000) as &str, &"k=v,".repeat(5_000) as &str),
        ] {
            let remote = extract_map(&map(&[("traceparent", traceparent), ("baggage", baggage)]));
            assert!(!remote.is_traced(), "{traceparent}");
            assert!(remote.correlation_id().is_none(), "{baggage}");
            let headers: Vec<&str> = remote.refused().iter().map(|(h, _)| *h).collect();
            assert_eq!(headers, ["traceparent", "baggage"], "{traceparent} / {baggage}");
        }
        let [(_, tp_after), (_, bg_after), _] = rejected_headers();
        assert!(tp_after >= tp_before + 4, "traceparent rejections counted");
        assert!(bg_after >= bg_before + 4, "baggage rejections counted");
    }

    #[test]
    fn no_headers_is_not_an_error() {
        let remote = extract_map(&HashMap::new());
        assert!(!remote.is_traced());
        assert!(remote.correlation_id().is_none());
        assert!(remote.refused().is_empty());
    }
}
