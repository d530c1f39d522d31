//! The monitoring API's query parameters (`timeRange`, `points`, `limit`,
//! `startTime`, `endTime`, `type`, `workflowId`, `correlationId`, …), decoded
//! exactly as the server decodes them: never a panic; a rejection is a short
//! message naming what was wrong, with no raw control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 3] = [
    "/api/monitoring/events",
    "/api/monitoring/metrics",
    "/api/monitoring/timeseries",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    let target = format!("{}?{query}", PATHS[usize::from(selector) % PATHS.len()]);
    if let Err(message) = aureus_observability::fuzzing::api_request(&target) {
        assert!(!message.is_empty());
        assert!(message.len() < 1_000, "{} bytes", message.len());
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
});
