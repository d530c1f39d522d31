//! The validated correlation id.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;

/// Longest accepted correlation id, in characters (all accepted characters are ASCII).
pub const MAX_LEN: usize = 128;

/// An id that ties together every span, event, log line and metric exemplar
/// of one unit of work (typically one workflow run).
///
/// Valid ids are 1–128 characters of `[A-Za-z0-9._:/-]`. Anything else is
/// rejected with [`Error::InvalidCorrelationId`], so an id can never inject
/// text into a log line. Cloning is cheap (a reference count).
///
/// ```
/// use aureus_observability::CorrelationId;
///
/// let id: CorrelationId = "wf-42/run:7".parse()?;
/// assert_eq!(id.as_str(), "wf-42/run:7");
/// assert!(CorrelationId::new("has space").is_err());
/// assert!(CorrelationId::new("").is_err());
/// # Ok::<(), aureus_observability::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(Arc<str>);

impl CorrelationId {
    /// Validates `value` and makes it a correlation id.
    pub fn new(value: impl AsRef<str>) -> Result<Self, Error> {
        let value = value.as_ref();
        validate(value)?;
        Ok(CorrelationId(Arc::from(value)))
    }

    /// A fresh random id of the form `corr-<32 hex digits>`.
    pub fn generate() -> Self {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        let high = hasher.finish();
        hasher.write_u64(std::process::id() as u64);
        let low = hasher.finish();
        CorrelationId(Arc::from(format!("corr-{high:016x}{low:016x}")))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text (cloning it allocates nothing).
    pub(crate) fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

fn validate(value: &str) -> Result<(), Error> {
    let reject = |reason| Error::InvalidCorrelationId {
        value: value.chars().take(MAX_LEN + 8).flat_map(char::escape_debug).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(reject("it is empty"));
    }
    if value.len() > MAX_LEN {
        return Err(reject("it is longer than 128 characters"));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-');
    if !value.bytes().all(allowed) {
        return Err(reject("only the characters [A-Za-z0-9._:/-] are allowed"));
    }
    Ok(())
}

impl FromStr for CorrelationId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CorrelationId::new(s)
    }
}

impl TryFrom<&str> for CorrelationId {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        CorrelationId::new(s)
    }
}

impl TryFrom<String> for CorrelationId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CorrelationId::new(s)
    }
}

impl AsRef<str> for CorrelationId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorrelationId({:?})", &*self.0)
    }
}

impl serde::Serialize for CorrelationId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for CorrelationId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        CorrelationId::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "A-z_0.9:/x", &"x".repeat(128)] {
            assert_eq!(CorrelationId::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else_with_a_reason() {
        for bad in [
            "",
            " ",
            "a b",
            "line\nbreak",
            "é",
            "<script>",
            &"x".repeat(129),
            "a\u{0}",
        ] {
            let err = CorrelationId::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidCorrelationId { .. }), "{bad:?}");
            assert!(
                !err.to_string().contains('\n'),
                "message must not carry raw input: {err}"
            );
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = CorrelationId::generate();
        let b = CorrelationId::generate();
        assert_ne!(a, b);
        CorrelationId::new(a.as_str()).unwrap();
    }
}
