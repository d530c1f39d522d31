//! The JSON API under `/api/monitoring/`: summary figures, chart points,
//! events, alerts and acknowledgement. Bad parameters get 400 with a JSON
//! `{"error": …}` naming the parameter; unknown alerts 404.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::params::{self, ParamError};
use crate::alerts::AckError;
use crate::dashboard::Monitoring;

type Params = Query<HashMap<String, String>>;

/// An API error: a status and a message, sent as `{"error": message}`.
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        bad_request(err.0)
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn bad_request(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, message)
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
    let p = match params::summary(&params) {
        Ok(p) => p,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let source = m.source_name();
    let computed = blocking(move || m.summary(p.range, p.task_type.as_deref(), p.workflow_id.as_deref())).await;
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
    let p = match params::timeseries(&params) {
        Ok(p) => p,
        Err(err) => return ApiError::from(err).into_response(),
    };
    match blocking(move || m.timeseries(p.range, p.points, p.workflow_id.as_deref())).await {
        Ok(series) => Json(series).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `GET /api/monitoring/runs/{correlation_id}`: the run of one correlation
/// id as waterfall rows (see `dashboard::run`); 400 for an id that is not a
/// valid correlation id, 404 when the store holds no record of it.
pub(crate) async fn run(
    State(m): State<Monitoring>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(id)) = path else {
        return bad_request("correlation id must be percent-encoded UTF-8").into_response();
    };
    let id = match params::correlation_id(&id) {
        Ok(id) => id,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let echo = id.clone();
    let built = tokio::task::spawn_blocking(move || m.run(&id)).await;
    match built {
        Ok(Some(view)) => Json(view).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no stored record has correlation id {echo:?}"),
        )
        .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "building the run failed").into_response(),
    }
}

/// `GET /api/monitoring/runs/` and `/api/monitoring/runs` (no id): 400
/// naming the missing correlation id, like any other bad id.
pub(crate) async fn run_without_id() -> Response {
    bad_request("correlation id must be 1 to 128 characters of [A-Za-z0-9._:/-], got none").into_response()
}

/// `GET /api/monitoring/events?type=&workflowId=&correlationId=&startTime=&endTime=&limit=`
pub(crate) async fn events(State(m): State<Monitoring>, Query(params): Params) -> Response {
    let query = match params::events(&params) {
        Ok(q) => q,
        Err(err) => return ApiError::from(err).into_response(),
    };
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
