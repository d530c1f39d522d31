//! The JSON API under `/api/monitoring/`: summary figures, chart points,
//! events, alerts and acknowledgement. Bad parameters get 400 with a JSON
//! `{"error": …}` naming the parameter; unknown alerts 404.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::alerts::AckError;
use crate::dashboard::Monitoring;
use crate::store::EventQuery;

/// Longest `timeRange` accepted: 30 days.
const MAX_RANGE_MS: u64 = 30 * 86_400_000;
/// Default `timeRange`: one hour.
const DEFAULT_RANGE_MS: u64 = 3_600_000;
/// Most events one request returns.
const MAX_LIMIT: usize = 10_000;

type Params = Query<HashMap<String, String>>;

/// An API error: a status and a message, sent as `{"error": message}`.
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn bad_request(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, message)
}

/// A numeric parameter within `min..=max`, `default` when absent.
fn number(params: &HashMap<String, String>, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad_request(format!(
                "{name} must be a whole number from {min} to {max}, got {raw:?}"
            ))),
        },
    }
}

fn text<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if v.len() <= 256 && !v.chars().any(char::is_control) => Ok(Some(v)),
        Some(_) => Err(bad_request(format!("{name} must be at most 256 printable characters"))),
    }
}

/// Runs blocking figure computation (it may query Prometheus) off the I/O thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(error(StatusCode::BAD_GATEWAY, message)),
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "computation failed")),
    }
}

/// `GET /api/monitoring/metrics?timeRange=MS&taskType=&workflowId=`
pub(crate) async fn metrics(State(m): State<Monitoring>, Query(params): Params) -> Response {
    let parsed = (|| {
        let range = number(&params, "timeRange", DEFAULT_RANGE_MS, 1_000, MAX_RANGE_MS)?;
        let task_type = text(&params, "taskType")?.map(str::to_owned);
        let workflow_id = text(&params, "workflowId")?.map(str::to_owned);
        Ok::<_, ApiError>((range, task_type, workflow_id))
    })();
    let (range, task_type, workflow_id) = match parsed {
        Ok(p) => p,
        Err(err) => return err.into_response(),
    };
    let source = m.source_name();
    let computed = blocking(move || {
        m.summary(
            Duration::from_millis(range),
            task_type.as_deref(),
            workflow_id.as_deref(),
        )
    })
    .await;
    match computed {
        Ok(summary) => {
            let mut body = serde_json::to_value(&summary).unwrap_or_default();
            body["source"] = serde_json::Value::from(source);
            Json(body).into_response()
        }
        Err(err) => err.into_response(),
    }
}

/// `GET /api/monitoring/timeseries?timeRange=MS&points=N&workflowId=`
pub(crate) async fn timeseries(State(m): State<Monitoring>, Query(params): Params) -> Response {
    let parsed = (|| {
        let range = number(&params, "timeRange", DEFAULT_RANGE_MS, 1_000, MAX_RANGE_MS)?;
        let points = number(&params, "points", 60, 1, 500)? as usize;
        let workflow_id = text(&params, "workflowId")?.map(str::to_owned);
        Ok::<_, ApiError>((range, points, workflow_id))
    })();
    let (range, points, workflow_id) = match parsed {
        Ok(p) => p,
        Err(err) => return err.into_response(),
    };
    match blocking(move || m.timeseries(Duration::from_millis(range), points, workflow_id.as_deref())).await {
        Ok(points) => Json(serde_json::json!({ "points": points })).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `GET /api/monitoring/events?type=&workflowId=&correlationId=&startTime=&endTime=&limit=`
pub(crate) async fn events(State(m): State<Monitoring>, Query(params): Params) -> Response {
    let time = |name: &str| -> Result<Option<SystemTime>, ApiError> {
        match params.get(name) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .map(|ms| Some(UNIX_EPOCH + Duration::from_millis(ms)))
                .map_err(|_| bad_request(format!("{name} must be epoch milliseconds, got {raw:?}"))),
        }
    };
    let parsed = (|| {
        Ok::<_, ApiError>(EventQuery {
            event_type: text(&params, "type")?.map(str::to_owned),
            workflow_id: text(&params, "workflowId")?.map(str::to_owned),
            correlation_id: text(&params, "correlationId")?.map(str::to_owned),
            start: time("startTime")?,
            end: time("endTime")?,
            limit: number(&params, "limit", 100, 1, MAX_LIMIT as u64)? as usize,
        })
    })();
    let query = match parsed {
        Ok(q) => q,
        Err(err) => return err.into_response(),
    };
    if let (Some(start), Some(end)) = (query.start, query.end) {
        if start > end {
            return bad_request("startTime must not be after endTime").into_response();
        }
    }
    let records = m.store.as_ref().map(|s| s.query(&query)).unwrap_or_default();
    // Each record's JSON line is already encoded (and cached): splice them.
    let mut body = String::with_capacity(16 + records.iter().map(|r| r.json_line().len() + 1).sum::<usize>());
    body.push_str("{\"events\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(record.json_line());
    }
    body.push_str("]}");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /api/monitoring/alerts`
pub(crate) async fn alerts(State(m): State<Monitoring>) -> Response {
    match &m.alerting {
        Some(alerting) => Json(serde_json::json!({
            "alerts": alerting.engine.alerts(),
            "history": alerting.engine.history(),
        }))
        .into_response(),
        None => Json(serde_json::json!({ "alerts": [], "history": [] })).into_response(),
    }
}

/// The body of an acknowledgement.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ack {
    by: String,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /api/monitoring/alerts/{id}/ack` with `{"by": "...", "comment": "..."}`
pub(crate) async fn acknowledge(
    State(m): State<Monitoring>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let ack: Ack = match serde_json::from_slice(&body) {
        Ok(ack) => ack,
        Err(err) => {
            return bad_request(format!("expected {{\"by\": \"…\", \"comment\": \"…\"}}: {err}")).into_response()
        }
    };
    let by = ack.by.trim();
    if by.is_empty() || by.len() > 100 || by.chars().any(char::is_control) {
        return bad_request("by must be 1 to 100 printable characters").into_response();
    }
    if ack.comment.as_ref().is_some_and(|c| c.len() > 1000) {
        return bad_request("comment must be at most 1000 characters").into_response();
    }
    let Some(alerting) = m.alerting.clone() else {
        return error(StatusCode::NOT_FOUND, format!("no alert {id:?}")).into_response();
    };
    // Publishing records an event: keep any sink back-pressure off the I/O thread.
    let by = by.to_owned();
    let outcome = tokio::task::spawn_blocking(move || alerting.acknowledge(&id, &by, ack.comment.as_deref())).await;
    match outcome {
        Ok(Ok(alert)) => Json(alert).into_response(),
        Ok(Err(err @ AckError::UnknownAlert(_))) => error(StatusCode::NOT_FOUND, err.to_string()).into_response(),
        Ok(Err(err @ AckError::NotActive(_))) => error(StatusCode::CONFLICT, err.to_string()).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "acknowledgement failed").into_response(),
    }
}
