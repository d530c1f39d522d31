//! `traceparent` / `tracestate` / `baggage` extraction, from a plain map and
//! from HTTP headers: never panics; what it accepts is well formed (a valid
//! trace id, a valid correlation id); inject → extract round-trips.
#![no_main]

use std::collections::HashMap;

use aureus_observability::{propagation, CorrelationId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Three header values separated by 0xFF bytes.
    let mut parts = data.split(|b| *b == 0xFF);
    let traceparent = parts.next().unwrap_or_default();
    let baggage = parts.next().unwrap_or_default();
    let tracestate = parts.next().unwrap_or_default();

    let mut map = HashMap::new();
    for (name, value) in [
        ("traceparent", traceparent),
        ("baggage", baggage),
        ("tracestate", tracestate),
    ] {
        map.insert(name.to_owned(), String::from_utf8_lossy(value).into_owned());
    }
    let remote = propagation::extract_map(&map);
    check(&remote);

    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("traceparent", traceparent),
        ("baggage", baggage),
        ("tracestate", tracestate),
    ] {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    let remote = propagation::extract_headers(&headers);
    check(&remote);

    // Attaching to a span with and without a subscriber must not panic.
    let span = tracing::info_span!("request", correlation_id = tracing::field::Empty);
    remote.attach(&span);
});

fn check(remote: &propagation::Remote) {
    if let Some(trace_id) = remote.trace_id() {
        assert_eq!(trace_id.len(), 32);
        assert!(trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(trace_id, "0".repeat(32));
    }
    if let Some(id) = remote.correlation_id() {
        CorrelationId::new(id.as_str()).expect("an extracted correlation id is valid");
    }
}
