//! The `tracestate` header of W3C Trace Context Level 1 (Recommendation,
//! 23 November 2021), validated strictly.
//!
//! ```text
//! list        = list-member 0*31( OWS "," OWS list-member )
//! list-member = (key "=" value) / OWS
//! key         = simple-key / multi-tenant-key
//! simple-key  = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! multi-tenant-key = tenant-id "@" system-id
//! tenant-id   = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! system-id   = lcalpha 0*13( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! value       = 0*255(chr) nblk-chr
//! nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
//! chr         = %x20 / nblk-chr
//! ```
//!
//! Several header fields are combined with `,` in order (RFC 7230 §3.2.2).
//! Empty and whitespace-only members are allowed and skipped; at most 32
//! members with a key. A member that breaks the grammar, a key given twice
//! (only one entry per key is allowed) or more than 32 members make the whole
//! `tracestate` invalid: it is discarded (the processing model allows it) and
//! the `traceparent` is still used. Level 2 relaxed the key grammar (`@`
//! anywhere after the first character); this parser follows Level 1.

/// At most this many list members with a key.
pub(crate) const MAX_MEMBERS: usize = 32;

/// The longest combined `tracestate` read: room for 32 members of the
/// largest size (256-character key, `=`, 256-character value) with commas
/// and a little whitespace; anything larger is refused unread.
pub(crate) const MAX_LEN: usize = 32 * 1024;

/// Why a `tracestate` was discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    TooLong,
    TooManyMembers,
    NotKeyValue,
    Key,
    Value,
    DuplicateKey,
    NotText,
}

impl Invalid {
    /// A short explanation for the warning that reports it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Invalid::TooLong => "longer than 32 KiB",
            Invalid::TooManyMembers => "more than 32 list members",
            Invalid::NotKeyValue => "a list member is not key=value",
            Invalid::Key => "a key breaks the Level 1 key grammar",
            Invalid::Value => {
                "a value is empty, longer than 256 characters or has a character outside 0x20-0x7E (or `,` `=`)"
            }
            Invalid::DuplicateKey => "a key appears twice",
            Invalid::NotText => "a tracestate header field is not visible ASCII",
        }
    }
}

/// The list members of the combined header fields `fields`, in order.
pub(crate) fn parse(fields: &[&str]) -> Result<Vec<(String, String)>, Invalid> {
    let total = fields.iter().map(|f| f.len() + 1).sum::<usize>();
    if total > MAX_LEN + 1 {
        return Err(Invalid::TooLong);
    }
    let mut members: Vec<(String, String)> = Vec::new();
    for member in fields.iter().flat_map(|field| field.split(',')) {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=').ok_or(Invalid::NotKeyValue)?;
        if !valid_key(key.as_bytes()) {
            return Err(Invalid::Key);
        }
        if !valid_value(value.as_bytes()) {
            return Err(Invalid::Value);
        }
        if members.iter().any(|(k, _)| k == key) {
            return Err(Invalid::DuplicateKey);
        }
        if members.len() == MAX_MEMBERS {
            return Err(Invalid::TooManyMembers);
        }
        members.push((key.to_owned(), value.to_owned()));
    }
    Ok(members)
}

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`.
fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&b| b == b'@') {
        None => (1..=256).contains(&key.len()) && key[0].is_ascii_lowercase() && key.iter().all(|&b| key_char(b)),
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&b| key_char(b))
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&b| key_char(b))
        }
    }
}

fn valid_value(value: &[u8]) -> bool {
    let chr = |b: &u8| (0x20..=0x7e).contains(b) && *b != b',' && *b != b'=';
    (1..=256).contains(&value.len()) && value.iter().all(chr) && value.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar_boundaries() {
        let ok = |k: String| valid_key(k.as_bytes());
        assert!(ok("z".repeat(256)));
        assert!(!ok("z".repeat(257)));
        assert!(ok(format!("{}@{}", "t".repeat(241), "v".repeat(14))));
        assert!(!ok(format!("{}@v", "t".repeat(242))));
        assert!(!ok(format!("t@{}", "v".repeat(15))));
        assert!(ok("0tenant@vendor".into()), "a tenant id may start with a digit");
        assert!(!ok("0simple".into()), "a simple key may not");
        assert!(!ok("t@0vendor".into()), "nor a system id");
        for bad in ["", "@foo", "foo@", "foo@@bar", "foo@bar@baz", "FOO", "foo.bar", "foo "] {
            assert!(!ok(bad.into()), "{bad:?}");
        }
    }

    #[test]
    fn value_grammar_boundaries() {
        let ok = |v: &str| valid_value(v.as_bytes());
        assert!(ok(&"v".repeat(256)));
        assert!(!ok(&"v".repeat(257)));
        assert!(ok(" leading space is a chr"));
        assert!(!ok("trailing space "));
        assert!(!ok(""));
        assert!(!ok("a\tb"));
        assert!(!ok("a=b"));
        assert!(!ok("é"));
    }
}
