//! The query parameters of the JSON API, parsed and range-checked apart from
//! the HTTP handlers: one typed value per endpoint, or a [`ParamError`]
//! naming the parameter. Never panics, whatever the input (fuzzed by
//! `fuzz/fuzz_targets/api_params.rs`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::EventQuery;

/// Longest `timeRange` accepted: 30 days.
pub(crate) const MAX_RANGE_MS: u64 = 30 * 86_400_000;
/// Default `timeRange`: one hour.
const DEFAULT_RANGE_MS: u64 = 3_600_000;
/// Most events one request returns.
pub(crate) const MAX_LIMIT: usize = 10_000;
/// Longest accepted text parameter, in bytes.
const MAX_TEXT_BYTES: usize = 256;
/// Latest accepted `startTime` / `endTime`: the year 10000, in epoch milliseconds.
const MAX_EPOCH_MS: u64 = 253_402_300_800_000;
/// How much of a rejected value an error message repeats, in characters.
const ECHO_CHARS: usize = 64;

/// A rejected parameter: the message names it and the accepted range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamError(pub(crate) String);

/// The raw value, cut to [`ECHO_CHARS`] and debug-escaped, for messages.
fn echo(raw: &str) -> String {
    let mut shown: String = raw.chars().take(ECHO_CHARS).collect();
    if shown.len() < raw.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// A whole number within `min..=max`, `default` when absent.
fn number(params: &HashMap<String, String>, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ParamError> {
    match params.get(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ParamError(format!(
                "{name} must be a whole number from {min} to {max}, got {}",
                echo(raw)
            ))),
        },
    }
}

/// Optional printable text of at most [`MAX_TEXT_BYTES`]; empty means absent.
fn text(params: &HashMap<String, String>, name: &str) -> Result<Option<String>, ParamError> {
    match params.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if v.len() <= MAX_TEXT_BYTES && !v.chars().any(char::is_control) => Ok(Some(v.to_owned())),
        Some(_) => Err(ParamError(format!(
            "{name} must be at most {MAX_TEXT_BYTES} printable characters"
        ))),
    }
}

/// Optional epoch milliseconds, from 0 to the year 10000.
fn time(params: &HashMap<String, String>, name: &str) -> Result<Option<SystemTime>, ParamError> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms <= MAX_EPOCH_MS)
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .map(Some)
        .ok_or_else(|| {
            ParamError(format!(
                "{name} must be epoch milliseconds from 0 to {MAX_EPOCH_MS}, got {}",
                echo(raw)
            ))
        })
}

/// `GET /api/monitoring/metrics?timeRange=MS&taskType=&workflowId=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SummaryParams {
    pub(crate) range: Duration,
    pub(crate) task_type: Option<String>,
    pub(crate) workflow_id: Option<String>,
}

pub(crate) fn summary(params: &HashMap<String, String>) -> Result<SummaryParams, ParamError> {
    Ok(SummaryParams {
        range: Duration::from_millis(number(params, "timeRange", DEFAULT_RANGE_MS, 1_000, MAX_RANGE_MS)?),
        task_type: text(params, "taskType")?,
        workflow_id: text(params, "workflowId")?,
    })
}

/// `GET /api/monitoring/timeseries?timeRange=MS&points=N&workflowId=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeseriesParams {
    pub(crate) range: Duration,
    pub(crate) points: usize,
    pub(crate) workflow_id: Option<String>,
}

pub(crate) fn timeseries(params: &HashMap<String, String>) -> Result<TimeseriesParams, ParamError> {
    Ok(TimeseriesParams {
        range: Duration::from_millis(number(params, "timeRange", DEFAULT_RANGE_MS, 1_000, MAX_RANGE_MS)?),
        points: number(params, "points", 60, 1, 500)? as usize,
        workflow_id: text(params, "workflowId")?,
    })
}

/// `GET /api/monitoring/events?type=&workflowId=&correlationId=&startTime=&endTime=&limit=`.
pub(crate) fn events(params: &HashMap<String, String>) -> Result<EventQuery, ParamError> {
    let query = EventQuery {
        event_type: text(params, "type")?,
        workflow_id: text(params, "workflowId")?,
        correlation_id: text(params, "correlationId")?,
        start: time(params, "startTime")?,
        end: time(params, "endTime")?,
        limit: number(params, "limit", 100, 1, MAX_LIMIT as u64)? as usize,
    };
    if let (Some(start), Some(end)) = (query.start, query.end) {
        if start > end {
            return Err(ParamError("startTime must not be after endTime".to_owned()));
        }
    }
    Ok(query)
}

/// The `{correlation_id}` of `GET /api/monitoring/runs/{correlation_id}`
/// (already percent-decoded): a valid correlation id (1–128 characters of
/// `[A-Za-z0-9._:/-]`).
pub(crate) fn correlation_id(raw: &str) -> Result<String, ParamError> {
    crate::CorrelationId::new(raw)
        .map(|id| id.as_str().to_owned())
        .map_err(|err| {
            let reason = match err {
                crate::Error::InvalidCorrelationId { reason, .. } => reason,
                _ => "invalid",
            };
            ParamError(format!(
                "correlation id must be 1 to 128 characters of [A-Za-z0-9._:/-], got {} ({reason})",
                echo(raw)
            ))
        })
}

/// Parses the query string of `path_and_query` (e.g.
/// `/api/monitoring/events?limit=5`) exactly as the server does, then checks
/// it as the endpoint named by the path does. For fuzzing and tests.
pub(crate) fn parse_request(path_and_query: &str) -> Result<(), ParamError> {
    let uri: axum::http::Uri = path_and_query
        .parse()
        .map_err(|_| ParamError("not a request target".to_owned()))?;
    let axum::extract::Query(params) = axum::extract::Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map_err(|err| ParamError(format!("bad query string: {err}")))?;
    if let Some(id) = uri.path().strip_prefix("/api/monitoring/runs/") {
        let decoded = percent_encoding::percent_decode_str(id)
            .decode_utf8()
            .map_err(|_| ParamError("correlation id is not UTF-8".to_owned()))?;
        return correlation_id(&decoded).map(drop);
    }
    match uri.path() {
        "/api/monitoring/metrics" => summary(&params).map(drop),
        "/api/monitoring/timeseries" => timeseries(&params).map(drop),
        _ => events(&params).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn out_of_range_values_name_the_parameter() {
        for (name, raw) in [
            ("timeRange", "-1"),
            ("timeRange", "999"),
            ("timeRange", "18446744073709551616"),
            ("timeRange", "1e3"),
            ("timeRange", "NaN"),
            ("points", "0"),
            ("points", "501"),
        ] {
            let err = timeseries(&params(&[(name, raw)])).unwrap_err();
            assert!(err.0.starts_with(name), "{err:?}");
        }
        for (name, raw) in [
            ("limit", "0"),
            ("limit", "10001"),
            ("limit", "-5"),
            ("limit", "ten"),
            ("startTime", "-1"),
            ("startTime", "18446744073709551615"),
            ("endTime", "253402300800001"),
            ("endTime", "1.5"),
        ] {
            let err = events(&params(&[(name, raw)])).unwrap_err();
            assert!(err.0.starts_with(name), "{err:?}");
        }
    }

    #[test]
    fn long_rejected_values_are_not_echoed_whole() {
        let raw = format!("{}\n\u{1b}[31m", "9".repeat(100_000));
        let err = events(&params(&[("limit", &raw)])).unwrap_err();
        assert!(err.0.len() < 200, "{}", err.0.len());
        assert!(!err.0.contains('\n') && !err.0.contains('\u{1b}'));
    }

    #[test]
    fn defaults_and_bounds_are_accepted() {
        let q = events(&params(&[
            ("startTime", "0"),
            ("endTime", "253402300800000"),
            ("limit", "10000"),
        ]))
        .unwrap();
        assert_eq!(q.limit, MAX_LIMIT);
        assert_eq!(
            summary(&HashMap::new()).unwrap().range,
            Duration::from_millis(DEFAULT_RANGE_MS)
        );
        assert!(events(&params(&[("startTime", "2"), ("endTime", "1")])).is_err());
        assert!(parse_request("/api/monitoring/events?limit=%FF%FE&type=%00").is_err());
        assert!(parse_request("/api/monitoring/timeseries?points=500&timeRange=1000").is_ok());
        assert!(parse_request("/api/monitoring/runs/corr-0af7%2Fx:1.2").is_ok());
        for bad in ["", "a%20b", "%FF", "%3Cscript%3E"] {
            assert!(parse_request(&format!("/api/monitoring/runs/{bad}")).is_err(), "{bad}");
        }
        assert!(correlation_id(&"x".repeat(129)).is_err());
    }
}
