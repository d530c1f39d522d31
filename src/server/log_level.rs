//! `GET` / `PUT /api/monitoring/log-level`: the levels in force, and
//! changing them on the running process (recorded as an audit event naming
//! who changed what).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::dashboard::{LevelChange, Monitoring};
use crate::error::Error;

/// `GET /api/monitoring/log-level` → `{"filter": "info", "sinks": {"console": "trace", …}}`
pub(crate) async fn get(State(m): State<Monitoring>) -> Response {
    Json(m.levels.view()).into_response()
}

/// The body of a change: who, and the new filter and/or sink levels.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    by: String,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    sinks: BTreeMap<String, String>,
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// `PUT /api/monitoring/log-level` with `{"by": "…", "filter": "info,aureus=debug", "sinks": {"file": "warn"}}`
/// → the levels now in force; 400 naming what was wrong (nothing changed then).
pub(crate) async fn put(State(m): State<Monitoring>, body: axum::body::Bytes) -> Response {
    let change: Change = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(err) => {
            return bad_request(format!(
                "expected {{\"by\": \"…\", \"filter\": \"…\", \"sinks\": {{\"name\": \"level\"}}}}: {err}"
            ))
        }
    };
    let by = change.by.trim();
    if by.is_empty() || by.len() > 100 || by.chars().any(char::is_control) {
        return bad_request("by must be 1 to 100 printable characters");
    }
    if change.filter.as_ref().is_some_and(|f| f.len() > 4096) {
        return bad_request("filter must be at most 4096 bytes");
    }
    let change = LevelChange {
        by: by.to_owned(),
        filter: change.filter,
        sinks: change.sinks,
    };
    // Rebuilding callsite interest and recording the audit event may wait
    // on sink back-pressure: keep it off the I/O thread.
    match tokio::task::spawn_blocking(move || m.levels.change(&change)).await {
        Ok(Ok(view)) => Json(view).into_response(),
        Ok(Err(Error::UnknownSink { name })) => bad_request(format!("no sink named {name:?}")),
        Ok(Err(err)) => bad_request(err.to_string()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "change failed\n").into_response(),
    }
}
