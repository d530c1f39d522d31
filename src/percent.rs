//! Percent-decoding as RFC 3986 §2.1 defines it, without the leniency of
//! `percent_encoding::percent_decode_str` (which passes a malformed escape
//! such as `%ZZ` through unchanged): a `%` must be followed by two hex
//! digits. `+` is a plus sign, not a space (that is HTML form encoding).
//!
//! Used by the `OTEL_RESOURCE_ATTRIBUTES` / `OTEL_EXPORTER_OTLP_*HEADERS`
//! parser (where a bad escape or invalid UTF-8 is a configuration error) and
//! by the W3C `baggage` parser (where a bad escape rejects the header and
//! invalid UTF-8 becomes U+FFFD, as the Baggage specification requires).

/// A `%` not followed by two hex digits, at this byte offset of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadEscape {
    pub(crate) at: usize,
}

/// The bytes `text` encodes.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, BadEscape> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex_value);
            let low = bytes.get(i + 2).copied().and_then(hex_value);
            match (high, low) {
                (Some(high), Some(low)) => out.push(high << 4 | low),
                _ => return Err(BadEscape { at: i }),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_of_either_case_and_keeps_plus() {
        assert_eq!(decode("a%20b%2cc%2C+").unwrap(), b"a b,c,+");
        assert_eq!(decode("Am%C3%A9lie").unwrap(), "Amélie".as_bytes());
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn malformed_escapes_are_errors_with_their_offset() {
        for (text, at) in [("%ZZ", 0), ("ab%", 2), ("ab%4", 2), ("%4g", 0), ("x%%41", 1)] {
            assert_eq!(decode(text), Err(BadEscape { at }), "{text}");
        }
    }
}
