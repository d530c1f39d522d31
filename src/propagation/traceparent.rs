//! The `traceparent` header of W3C Trace Context Level 1 (Recommendation,
//! 23 November 2021), parsed strictly — every field's length and characters
//! and the version rules — and written.
//!
//! ```text
//! value        = version "-" version-format
//! version      = 2HEXDIGLC           ; ff is forbidden
//! version-format (00) = trace-id "-" parent-id "-" trace-flags
//! trace-id     = 32HEXDIGLC          ; all zeroes forbidden
//! parent-id    = 16HEXDIGLC          ; all zeroes forbidden
//! trace-flags  = 2HEXDIGLC
//! ```
//!
//! Version `00` is exactly 55 characters. A higher version is parsed as a
//! version-00 prefix: at least 55 characters, and after the flags either the
//! end or a `-` followed by data of that version, which is ignored. Spaces
//! and tabs around the value (OWS) are allowed. Only the `sampled` flag is
//! kept: Level 1 defines no other, and unknown flags are written as zero.

use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

/// The longest `traceparent` read (a higher version may carry more fields;
/// the specification lets us refuse "prohibitively large" headers).
pub(crate) const MAX_LEN: usize = 512;

/// The length of a version-00 `traceparent`.
const V00_LEN: usize = 55;

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traceparent {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: SpanId,
    pub(crate) flags: TraceFlags,
}

/// Why a `traceparent` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    TooLong,
    Version,
    ForbiddenVersion,
    Length,
    TrailingData,
    TraceId,
    ZeroTraceId,
    ParentId,
    ZeroParentId,
    Flags,
}

impl Invalid {
    /// A short explanation for the warning that reports it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Invalid::TooLong => "longer than 512 characters",
            Invalid::Version => "the version is not 2 lowercase hex digits followed by `-`",
            Invalid::ForbiddenVersion => "version ff is forbidden",
            Invalid::Length => "too short (version 00 is exactly 55 characters)",
            Invalid::TrailingData => {
                "data after the trace flags (only a version above 00 may add `-`-separated fields)"
            }
            Invalid::TraceId => "the trace-id is not 32 lowercase hex digits followed by `-`",
            Invalid::ZeroTraceId => "the trace-id is all zeroes",
            Invalid::ParentId => "the parent-id is not 16 lowercase hex digits followed by `-`",
            Invalid::ZeroParentId => "the parent-id is all zeroes",
            Invalid::Flags => "the trace-flags are not 2 lowercase hex digits",
        }
    }
}

/// Parses one `traceparent` value.
pub(crate) fn parse(value: &str) -> Result<Traceparent, Invalid> {
    let v = value.trim_matches([' ', '\t']).as_bytes();
    if v.len() > MAX_LEN {
        return Err(Invalid::TooLong);
    }
    if v.len() < 3 || !lower_hex(&v[..2]) || v[2] != b'-' {
        return Err(Invalid::Version);
    }
    let version = hex_bytes::<1>(&v[..2])[0];
    if version == 0xff {
        return Err(Invalid::ForbiddenVersion);
    }
    if v.len() < V00_LEN {
        return Err(Invalid::Length);
    }
    if v.len() > V00_LEN && (version == 0 || v[V00_LEN] != b'-') {
        return Err(Invalid::TrailingData);
    }
    let (trace_id, parent_id, flags) = (&v[3..35], &v[36..52], &v[53..55]);
    if !lower_hex(trace_id) || v[35] != b'-' {
        return Err(Invalid::TraceId);
    }
    if !lower_hex(parent_id) || v[52] != b'-' {
        return Err(Invalid::ParentId);
    }
    if !lower_hex(flags) {
        return Err(Invalid::Flags);
    }
    let trace_id = TraceId::from_bytes(hex_bytes::<16>(trace_id));
    if trace_id == TraceId::INVALID {
        return Err(Invalid::ZeroTraceId);
    }
    let parent_id = SpanId::from_bytes(hex_bytes::<8>(parent_id));
    if parent_id == SpanId::INVALID {
        return Err(Invalid::ZeroParentId);
    }
    let flags = TraceFlags::new(hex_bytes::<1>(flags)[0]) & TraceFlags::SAMPLED;
    Ok(Traceparent {
        trace_id,
        parent_id,
        flags,
    })
}

/// Writes a version-00 `traceparent` (only the `sampled` flag can be set).
pub(crate) fn format(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> String {
    format!(
        "00-{:032x}-{:016x}-{:02x}",
        u128::from_be_bytes(trace_id.to_bytes()),
        u64::from_be_bytes(span_id.to_bytes()),
        (flags & TraceFlags::SAMPLED).to_u8()
    )
}

fn lower_hex(digits: &[u8]) -> bool {
    digits.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `N` bytes from `2 * N` lowercase hex digits (already checked).
fn hex_bytes<const N: usize>(digits: &[u8]) -> [u8; N] {
    let nibble = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0]) << 4 | nibble(pair[1]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_examples_round_trip() {
        for value in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ] {
            let parsed = parse(value).unwrap();
            assert_eq!(format(parsed.trace_id, parsed.parent_id, parsed.flags), value);
        }
    }

    #[test]
    fn unknown_flags_are_dropped_and_versions_above_00_are_written_as_00() {
        let parsed = parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-extra").unwrap();
        assert_eq!(parsed.flags, TraceFlags::SAMPLED);
        assert_eq!(
            format(parsed.trace_id, parsed.parent_id, parsed.flags),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn non_ascii_input_is_refused_without_panicking() {
        for value in ["0é-", "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01", "é"] {
            assert!(parse(value).is_err(), "{value}");
        }
    }
}
