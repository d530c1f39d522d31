//! A record's JSON line, written in one pass straight into a byte buffer.
//!
//! The output is compact JSON (RFC 8259) exactly as serde_json writes it —
//! `"`, `\` and the C0 controls escaped (`\b \t \n \f \r`, else `\u00XX`),
//! floats in their shortest round-trip form — and, beyond what JSON
//! requires, DEL, the C1 controls (U+0080–U+009F) and the line and
//! paragraph separators (U+2028, U+2029) escaped as `\uXXXX`, so a line shown
//! on a terminal or in a log viewer can carry neither a terminal escape nor
//! a line break. Plain bytes are found with one table lookup each and copied
//! in runs.

use std::io::Write as _;

use super::{Record, Value, MAX_SAFE_INTEGER, RESERVED_KEYS};

/// Per byte: 0 = copy as is; a letter = its short escape; `u` = `\u00XX`;
/// `C` / `E` = lead byte of a C1 control / of U+2028–2029, if what follows says so.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[0x7f] = b'u';
    table[0xc2] = b'C';
    table[0xe2] = b'E';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

fn unicode_escape(out: &mut Vec<u8>, code: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((code >> shift) & 0xf) as usize]);
    }
}

/// Writes `text` as a JSON string (with its quotes).
pub(super) fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        let class = CLASS[bytes[at] as usize];
        if class == 0 {
            at += 1;
            continue;
        }
        // (code to write as \uXXXX, or the short escape letter; bytes replaced)
        let (code, letter, len) = match class {
            b'u' => (u32::from(bytes[at]), 0, 1),
            b'C' => match bytes.get(at + 1) {
                Some(&next @ 0x80..=0x9f) => (u32::from(next), 0, 2),
                _ => {
                    at += 1;
                    continue;
                }
            },
            b'E' => match (bytes.get(at + 1), bytes.get(at + 2)) {
                (Some(0x80), Some(&last @ (0xa8 | 0xa9))) => (0x2000 | u32::from(last & 0x3f), 0, 3),
                _ => {
                    at += 1;
                    continue;
                }
            },
            letter => (0, letter, 1),
        };
        out.extend_from_slice(&bytes[start..at]);
        if letter == 0 {
            unicode_escape(out, code);
        } else {
            out.push(b'\\');
            out.push(letter);
        }
        at += len;
        start = at;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `value` as JSON: integers beyond ±(2^53 − 1) and non-finite
/// floats as strings.
fn value(out: &mut Vec<u8>, value: Value<'_>) {
    // Writing into a Vec cannot fail.
    let _ = match value {
        Value::Bool(v) => {
            out.extend_from_slice(if v { b"true" } else { b"false" });
            Ok(())
        }
        Value::I64(v) if v.unsigned_abs() <= MAX_SAFE_INTEGER => write!(out, "{v}"),
        Value::U64(v) if v <= MAX_SAFE_INTEGER => write!(out, "{v}"),
        Value::I64(v) => write!(out, "\"{v}\""),
        Value::U64(v) => write!(out, "\"{v}\""),
        Value::F64(v) if v.is_finite() => serde_json::to_writer(&mut *out, &v).map_err(std::io::Error::other),
        Value::F64(v) => write!(out, "\"{v}\""),
        Value::Str(v) => {
            string(out, v);
            Ok(())
        }
    };
}

/// `"key":` (after a comma unless first).
fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    string(out, name);
    out.push(b':');
}

/// The record's JSON object (see [`Record::json_line`]) into `out`.
pub(super) fn write(out: &mut Vec<u8>, r: &Record) {
    let _ = write!(out, "{{\"timestamp\":\"{}\"", super::rfc3339_micros(r.timestamp));
    key(out, "level");
    string(out, r.level.as_str());
    key(out, "target");
    string(out, r.target);
    if let Some(kind) = r.event_type() {
        key(out, "event_type");
        string(out, kind);
    }
    if let Some(message) = r.message() {
        key(out, "message");
        string(out, message);
    }
    if let Some(id) = r.correlation_id() {
        key(out, "correlation_id");
        string(out, id);
    }
    if let Some(id) = r.span_id {
        // A string: `tracing` ids use all 64 bits, and JSON numbers above
        // 2^53 are rounded by JavaScript and `jq`.
        let _ = write!(out, ",\"span_id\":\"{id}\"");
    }
    if let Some(name) = r.span_name {
        key(out, "span_name");
        string(out, name);
    }
    if let Some(id) = r.trace_id {
        let _ = write!(out, ",\"trace_id\":\"{id:032x}\"");
    }
    if let Some(id) = r.otel_span_id {
        let _ = write!(out, ",\"otel_span_id\":\"{id:016x}\"");
    }
    for (name, field) in r.fields() {
        if RESERVED_KEYS.contains(&name) {
            out.push(b',');
            let mut prefixed = String::with_capacity(7 + name.len());
            prefixed.push_str("fields.");
            prefixed.push_str(name);
            string(out, &prefixed);
            out.push(b':');
        } else {
            key(out, name);
        }
        value(out, field);
    }
    out.push(b'}');
}
