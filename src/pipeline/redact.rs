//! Redaction: sensitive fields and values become `[REDACTED]` while the record
//! is built — before any sink, the event store, metrics labels or exporters see it.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Field names redacted by default (compared case-insensitively).
pub const DEFAULT_SENSITIVE_FIELDS: [&str; 5] = ["password", "secret", "token", "api_key", "authorization"];

/// Redacts by field name (case-insensitive; also keys inside JSON text such
/// as a tool call's `args`) and by value pattern (regular expressions).
pub(crate) struct Redactor {
    names: Vec<String>,
    /// Finds any sensitive name inside text, ignoring case (a cheap pre-check
    /// before parsing JSON).
    finder: Option<AhoCorasick>,
    patterns: Vec<Regex>,
    /// `correlation_id` (or `aureus.correlation_id`) is a sensitive name.
    correlation_named: bool,
    /// Tells this redactor's verdicts apart from another's in [`LAST_VERDICT`].
    generation: u64,
}

/// Redactors made so far (each gets its own generation).
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The last correlation id this thread asked a redactor about, and the
    /// verdict: events of one run share their id, so the patterns run once
    /// per run and thread instead of once per event.
    static LAST_VERDICT: std::cell::RefCell<(u64, String, bool)> =
        const { std::cell::RefCell::new((u64::MAX, String::new(), false)) };
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.names)
            .field("patterns", &self.patterns.iter().map(Regex::as_str).collect::<Vec<_>>())
            .finish()
    }
}

impl Redactor {
    /// A redactor for `names` and `patterns`; a bad pattern is a typed error naming it.
    pub(crate) fn new(names: &[String], patterns: &[String]) -> Result<Self> {
        let names: Vec<String> = names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let finder = if names.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&names)
                    .map_err(|err| Error::config("redaction.fields", names.join(","), err.to_string()))?,
            )
        };
        let patterns = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Regex::new(p).map_err(|err| Error::config(format!("redaction.patterns[{i}]"), p, err.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let correlation_named = ["correlation_id", crate::otlp::CORRELATION_ATTRIBUTE]
            .iter()
            .any(|key| names.iter().any(|n| n.eq_ignore_ascii_case(key)));
        Ok(Redactor {
            names,
            finder,
            patterns,
            correlation_named,
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Whether nothing is ever redacted.
    pub(crate) fn is_noop(&self) -> bool {
        self.names.is_empty() && self.patterns.is_empty()
    }

    /// Whether a field called `name` is redacted whole.
    #[inline]
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether the configuration hides correlation id `id`: `correlation_id`
    /// (or `aureus.correlation_id`) is a sensitive name, or a pattern matches it.
    pub(crate) fn hides_correlation_id(&self, id: &str) -> bool {
        if self.is_noop() {
            return false;
        }
        if self.correlation_named {
            return true;
        }
        LAST_VERDICT.with(|last| {
            let mut last = last.borrow_mut();
            let (generation, seen, verdict) = &mut *last;
            if *generation != self.generation || seen != id {
                *verdict = matches!(self.redact_text(id), Cow::Owned(_));
                *generation = self.generation;
                seen.clear();
                seen.push_str(id);
            }
            *verdict
        })
    }

    /// `text` with sensitive JSON keys and pattern matches redacted.
    pub(crate) fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        if self.mentions_sensitive_name(&text) {
            // JSON the parser cannot read (nested deeper than its limit,
            // malformed, cut short) is still scanned for sensitive keys.
            if let Some(redacted) = self.redact_json(&text).or_else(|| self.redact_json_text(&text)) {
                text = Cow::Owned(redacted);
            }
        }
        for pattern in &self.patterns {
            if let Cow::Owned(replaced) = pattern.replace_all(&text, REDACTED) {
                text = Cow::Owned(replaced);
            }
        }
        text
    }

    fn mentions_sensitive_name(&self, text: &str) -> bool {
        let first = text.bytes().find(|b| !b.is_ascii_whitespace());
        let looks_like_json = matches!(first, Some(b'{' | b'['));
        looks_like_json && self.finder.as_ref().is_some_and(|f| f.is_match(text))
    }

    /// Re-encodes JSON text with every sensitive key's value replaced; `None` if not JSON.
    fn redact_json(&self, text: &str) -> Option<String> {
        let mut value: Json = serde_json::from_str(text).ok()?;
        self.redact_value(&mut value);
        serde_json::to_string(&value).ok()
    }

    fn redact_value(&self, value: &mut Json) {
        match value {
            Json::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if self.is_sensitive(key) {
                        *inner = Json::String(REDACTED.to_owned());
                    } else {
                        self.redact_value(inner);
                    }
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            _ => {}
        }
    }
}

/// Index just past the JSON string starting at `bytes[start]` (a `"`), or
/// the end of the text when it is never closed.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Index just past the JSON value starting at `bytes[start]`: a string, a
/// whole object or array (brackets counted, strings skipped, no recursion),
/// or a scalar up to the next `,`, `}`, `]` or space; the end of the text
/// when the value is cut short.
fn value_end(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        Some(b'"') => string_end(bytes, start),
        Some(b'{' | b'[') => {
            let (mut depth, mut at) = (0usize, start);
            while at < bytes.len() {
                match bytes[at] {
                    b'"' => {
                        at = string_end(bytes, at);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            bytes.len()
        }
        _ => {
            let rest = &bytes[start..];
            start
                + rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                    .unwrap_or(rest.len())
        }
    }
}

impl Redactor {
    /// JSON-like text the parser could not read, with the value of every
    /// `"<sensitive key>": value` replaced by `"[REDACTED]"` — found by a
    /// linear scan, so any depth and any damage is handled. `None` when no
    /// sensitive key is found.
    fn redact_json_text(&self, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let (mut out, mut copied, mut at) = (String::new(), 0, 0);
        while at < bytes.len() {
            if bytes[at] != b'"' {
                at += 1;
                continue;
            }
            let end = string_end(bytes, at);
            let mut colon = end;
            while colon < bytes.len() && bytes[colon].is_ascii_whitespace() {
                colon += 1;
            }
            let is_key = end > at + 1 && bytes.get(colon) == Some(&b':');
            // Every split point is an ASCII byte, so a char boundary.
            if is_key && self.is_sensitive(&text[at + 1..end - 1]) {
                let mut value = colon + 1;
                while value < bytes.len() && bytes[value].is_ascii_whitespace() {
                    value += 1;
                }
                out.push_str(&text[copied..value]);
                out.push('"');
                out.push_str(REDACTED);
                out.push('"');
                at = value_end(bytes, value);
                copied = at;
            } else {
                at = end;
            }
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(patterns: &[&str]) -> Redactor {
        let names: Vec<String> = DEFAULT_SENSITIVE_FIELDS.iter().map(|s| s.to_string()).collect();
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Redactor::new(&names, &patterns).unwrap()
    }

    #[test]
    fn each_redactor_gives_its_own_verdict_on_a_correlation_id() {
        let hiding = redactor(&[r"run-\d{4}"]);
        let keeping = redactor(&[]);
        let named = Redactor::new(&["Correlation_ID".to_owned()], &[]).unwrap();
        for _ in 0..2 {
            assert!(hiding.hides_correlation_id("run-1234"));
            assert!(!keeping.hides_correlation_id("run-1234"));
            assert!(!hiding.hides_correlation_id("run-12"));
            assert!(hiding.hides_correlation_id("run-1234"));
            assert!(named.hides_correlation_id("anything"));
        }
    }

    #[test]
    fn names_match_case_insensitively() {
        let r = redactor(&[]);
        assert!(r.is_sensitive("Password"));
        assert!(r.is_sensitive("API_KEY"));
        assert!(!r.is_sensitive("passwords_reset_count"));
    }

    #[test]
    fn nested_json_keys_are_redacted_at_any_depth() {
        let r = redactor(&[]);
        let out = r.redact_text(r#"{"url":"x","auth":{"Token":"abc","list":[{"secret":1}]}}"#);
        let v: Json = serde_json::from_str(&out).unwrap();
        assert_eq!(v["auth"]["Token"], REDACTED);
        assert_eq!(v["auth"]["list"][0]["secret"], REDACTED);
        assert_eq!(v["url"], "x");
        assert!(
            matches!(r.redact_text(r#"{"a":1}"#), Cow::Borrowed(_)),
            "untouched text is not copied"
        );
    }

    #[test]
    fn json_the_parser_cannot_read_is_still_redacted() {
        let r = redactor(&[]);
        let deep = format!("{}{{\"token\":\"CANARY\"}}{}", "[".repeat(10_000), "]".repeat(10_000));
        let out = r.redact_text(&deep);
        assert!(!out.contains("CANARY") && out.contains(r#"{"token":"[REDACTED]"}"#));
        assert_eq!(
            out.len(),
            deep.len() - "CANARY".len() + REDACTED.len(),
            "structure kept"
        );
        for (text, expected) in [
            (r#"{"token": "CANARY", }"#, r#"{"token": "[REDACTED]", }"#),
            (r#"{"a":1,"Password":"CANA"#, r#"{"a":1,"Password":"[REDACTED]""#),
            (
                r#"{"secret": {"a": [1, {"b": "]}"}]}, "ok": 1,}"#,
                r#"{"secret": "[REDACTED]", "ok": 1,}"#,
            ),
            (
                r#"[{"api_key" : 12345}, {"x": "token"},]"#,
                r#"[{"api_key" : "[REDACTED]"}, {"x": "token"},]"#,
            ),
            (r#"{"token":"a\"CANARY"}}"#, r#"{"token":"[REDACTED]"}}"#),
        ] {
            assert_eq!(r.redact_text(text), expected, "{text}");
        }
        let text = r#"[auth] token "expired": 1 [x"#;
        assert_eq!(
            r.redact_text(text),
            text,
            "text that merely mentions a name is left alone"
        );
    }

    #[test]
    fn patterns_replace_matches_anywhere() {
        let r = redactor(&[r"sk-[A-Za-z0-9]{8,}"]);
        assert_eq!(r.redact_text("key sk-abcdefgh12 used"), "key [REDACTED] used");
        assert!(Redactor::new(&[], &["(".to_string()]).is_err());
    }
}
