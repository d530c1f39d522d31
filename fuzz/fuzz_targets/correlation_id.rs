//! The correlation-id parser: accepts exactly 1–128 characters of
//! `[A-Za-z0-9._:/-]`; anything else is a typed error whose message never
//! carries raw control characters and stays short.
#![no_main]

use aureus_observability::{CorrelationId, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let valid = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-'));
    match CorrelationId::new(&*text) {
        Ok(id) => {
            assert!(valid, "accepted {text:?}");
            assert_eq!(id.as_str(), &*text);
            // What we write we read back, through serde too.
            let json = serde_json::to_string(&id).unwrap();
            let back: CorrelationId = serde_json::from_str(&json).unwrap();
            assert_eq!(back, id);
        }
        Err(err) => {
            assert!(!valid, "rejected {text:?}");
            assert!(matches!(err, Error::InvalidCorrelationId { .. }));
            let message = err.to_string();
            assert!(
                !message.chars().any(char::is_control),
                "raw control character in {message:?}"
            );
            assert!(message.len() < 2_000, "message of {} bytes", message.len());
        }
    }
    // The deserializer applies the same rule to any JSON string.
    if let Ok(json) = serde_json::to_string(&*text) {
        assert_eq!(serde_json::from_str::<CorrelationId>(&json).is_ok(), valid);
    }
});
