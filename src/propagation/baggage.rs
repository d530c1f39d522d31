//! The W3C `baggage` header (W3C Baggage, Candidate Recommendation), read
//! and written.
//!
//! ```text
//! baggage-string = list-member 0*179( OWS "," OWS list-member )
//! list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
//! property       = key OWS "=" OWS value / key OWS
//! key            = token                       ; RFC 7230 §3.2.6
//! value          = *baggage-octet
//! baggage-octet  = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
//! ```
//!
//! Reading: several header fields are combined with `,` in order. More than
//! 8192 bytes or more than 64 list members: the whole header is refused (the
//! specification only obliges us to propagate up to those limits, and never
//! part of a member). Values are percent-decoded; a sequence that is not
//! UTF-8 becomes U+FFFD, as the specification requires. A member that breaks
//! the grammar (not a token key, a character outside `baggage-octet`, a `%`
//! not followed by two hex digits, an empty property) is left out and the
//! rest kept — one of the choices the specification offers for invalid
//! input; the caller counts it. Empty members (`a=1,,b=2`) are skipped. Of a
//! key given twice the first member is kept (deduplication is an allowed
//! mutation). Properties are kept in their wire form (`;k=v;flag`, without
//! the optional whitespace), so they are written back unchanged.
//!
//! Writing: keys must be tokens; values are percent-encoded (every byte
//! outside `baggage-octet`, `%` itself, and `=` for the sake of parsers that
//! split at every `=`); at most 64 members and 8192 bytes — a member that
//! does not fit is left out whole.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Largest combined baggage-string, in bytes.
pub(crate) const MAX_BYTES: usize = 8192;

/// Most list members.
pub(crate) const MAX_MEMBERS: usize = 64;

/// What is percent-encoded in a written value: all but `baggage-octet`, and
/// `%` and `=`.
const ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=');

/// One list member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) key: String,
    /// The decoded value.
    pub(crate) value: String,
    /// The properties in wire form, without the leading `;` (`k=v;flag`), or empty.
    pub(crate) properties: String,
}

/// A header refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    TooLong,
    TooManyMembers,
    NotText,
}

impl Invalid {
    /// A short explanation for the warning that reports it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Invalid::TooLong => "longer than 8192 bytes",
            Invalid::TooManyMembers => "more than 64 list members",
            Invalid::NotText => "a baggage header field is not visible ASCII",
        }
    }
}

/// What a header held.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// The valid members, first of each key, in order.
    pub(crate) members: Vec<Member>,
    /// How many members were left out because they broke the grammar.
    pub(crate) malformed: usize,
}

/// Reads the combined header fields `fields`.
pub(crate) fn parse(fields: &[&str]) -> Result<Parsed, Invalid> {
    let total = fields.iter().map(|f| f.len()).sum::<usize>() + fields.len().saturating_sub(1);
    if total > MAX_BYTES {
        return Err(Invalid::TooLong);
    }
    let raw_members: Vec<&str> = fields
        .iter()
        .flat_map(|field| field.split(','))
        .map(ows_trim)
        .filter(|m| !m.is_empty())
        .collect();
    if raw_members.len() > MAX_MEMBERS {
        return Err(Invalid::TooManyMembers);
    }
    let mut parsed = Parsed::default();
    for raw in raw_members {
        match parse_member(raw) {
            Some(member) if parsed.members.iter().any(|m| m.key == member.key) => {}
            Some(member) => parsed.members.push(member),
            None => parsed.malformed += 1,
        }
    }
    Ok(parsed)
}

fn parse_member(raw: &str) -> Option<Member> {
    let mut parts = raw.split(';');
    let (key, value) = parts.next()?.split_once('=')?;
    let (key, value) = (ows_trim(key), ows_trim(value));
    if !is_token(key) {
        return None;
    }
    let value = decode_value(value)?;
    let mut properties = Vec::new();
    for property in parts {
        properties.push(normalize_property(property)?);
    }
    Some(Member {
        key: key.to_owned(),
        value,
        properties: properties.join(";"),
    })
}

/// One property in wire form without its optional whitespace, or `None`
/// when it breaks the grammar.
fn normalize_property(property: &str) -> Option<String> {
    match property.split_once('=') {
        Some((key, value)) => {
            let (key, value) = (ows_trim(key), ows_trim(value));
            (is_token(key) && decode_value(value).is_some()).then(|| format!("{key}={value}"))
        }
        None => {
            let key = ows_trim(property);
            is_token(key).then(|| key.to_owned())
        }
    }
}

/// Whether `properties` (as stored in baggage metadata) can be written as is.
pub(crate) fn valid_properties(properties: &str) -> bool {
    properties.is_empty()
        || properties
            .split(';')
            .all(|p| normalize_property(p).as_deref() == Some(p))
}

/// A value's text: only `baggage-octet`s, escapes well formed; invalid UTF-8
/// becomes U+FFFD.
fn decode_value(value: &str) -> Option<String> {
    if !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let bytes = crate::percent::decode(value).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `tchar` of RFC 7230 §3.2.6, one or more.
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn ows_trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// Writes one list member: `key=percent-encoded value[;properties]`.
pub(crate) fn format_member(key: &str, value: &str, properties: &str) -> String {
    let mut out = format!("{key}={}", utf8_percent_encode(value, ENCODE));
    if !properties.is_empty() {
        out.push(';');
        out.push_str(properties);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_every_character() {
        let value = "\t \"';=asdf!@#$%^&*() Amélie \u{1F600} a,b;c\\d";
        let member = format_member("k", value, "");
        assert!(member[2..].bytes().all(is_baggage_octet), "{member}");
        let parsed = parse(&[&member]).unwrap();
        assert_eq!(parsed.members[0].value, value);
    }

    #[test]
    fn invalid_utf8_becomes_the_replacement_character() {
        let parsed = parse(&["k=a%FFb%C3%28"]).unwrap();
        assert_eq!(parsed.members[0].value, "a\u{FFFD}b\u{FFFD}(");
    }
}
