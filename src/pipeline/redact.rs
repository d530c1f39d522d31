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
        Ok(Redactor {
            names,
            finder,
            patterns,
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

    /// `text` with sensitive JSON keys and pattern matches redacted.
    pub(crate) fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        if self.mentions_sensitive_name(&text) {
            match self.redact_json(&text) {
                Some(redacted) => text = Cow::Owned(redacted),
                // Too deep for the parser to inspect: fail closed.
                None if nested_deeper_than(&text, JSON_DEPTH_LIMIT) => return Cow::Borrowed(REDACTED),
                None => {}
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

/// How deep `serde_json` parses before giving up (its recursion limit).
const JSON_DEPTH_LIMIT: usize = 128;

/// Whether the JSON-like `text` opens more than `limit` arrays or objects
/// inside one another (strings skipped), scanned without recursion.
fn nested_deeper_than(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
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
    fn json_too_deep_to_parse_is_redacted_whole() {
        let r = redactor(&[]);
        let deep = format!("{}{{\"token\":\"CANARY\"}}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(r.redact_text(&deep), REDACTED);
        let shallow = format!("{}{{\"token\":\"CANARY\"}}{}", "[".repeat(100), "]".repeat(100));
        assert!(!r.redact_text(&shallow).contains("CANARY"));
        let text = r#"[1, "not json [[[[ token"#;
        assert_eq!(r.redact_text(text), text, "text that is not JSON is left alone");
    }

    #[test]
    fn patterns_replace_matches_anywhere() {
        let r = redactor(&[r"sk-[A-Za-z0-9]{8,}"]);
        assert_eq!(r.redact_text("key sk-abcdefgh12 used"), "key [REDACTED] used");
        assert!(Redactor::new(&[], &["(".to_string()]).is_err());
    }
}
