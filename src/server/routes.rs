//! The router: `/metrics`, the dashboard and its API; unknown paths 404,
//! wrong methods 405, large bodies 413.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

use super::auth::{require_bearer, require_dashboard_token, BearerToken};
use super::{api, log_level, page, stream};
use crate::dashboard::Monitoring;
use crate::metrics::{ExpositionFormat, MetricsHandle};

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub(crate) fn router(metrics: MetricsHandle, metrics_token: Option<String>, monitoring: Option<Monitoring>) -> Router {
    let mut metrics_route = Router::new().route("/metrics", get(render_metrics)).with_state(metrics);
    if let Some(token) = metrics_token {
        metrics_route = metrics_route.layer(axum::middleware::from_fn_with_state(
            BearerToken(Arc::from(token)),
            require_bearer,
        ));
    }
    let mut app = Router::new().merge(metrics_route);
    if let Some(monitoring) = monitoring {
        app = app.merge(dashboard_routes(monitoring));
    }
    app.fallback(not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
}

fn dashboard_routes(monitoring: Monitoring) -> Router {
    let token = monitoring.token.clone();
    let routes = Router::new()
        .route("/monitoring", get(page::page))
        .route("/monitoring/assets/{*path}", get(page::asset))
        .route("/api/monitoring/metrics", get(api::metrics))
        .route("/api/monitoring/timeseries", get(api::timeseries))
        .route("/api/monitoring/events", get(api::events))
        .route("/api/monitoring/runs/{*correlation_id}", get(api::run))
        .route("/api/monitoring/runs/", get(api::run_without_id))
        .route("/api/monitoring/runs", get(api::run_without_id))
        .route("/api/monitoring/alerts", get(api::alerts))
        .route("/api/monitoring/alerts/{id}/ack", post(api::acknowledge))
        .route("/api/monitoring/stream", get(stream::stream))
        .route("/api/monitoring/log-level", get(log_level::get).put(log_level::put))
        .with_state(monitoring);
    match token {
        Some(token) => routes.layer(axum::middleware::from_fn_with_state(
            BearerToken(token),
            require_dashboard_token,
        )),
        None => routes,
    }
}

/// `/metrics` in the format the `Accept` header negotiates: OpenMetrics
/// 1.0.0 (with exemplars) or the text format 0.0.4.
async fn render_metrics(State(metrics): State<MetricsHandle>, headers: HeaderMap) -> Response {
    // Several Accept headers are one comma-separated list (RFC 9110 §5.3).
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let accept = accept.join(",");
    let format = ExpositionFormat::from_accept((!accept.is_empty()).then_some(accept.as_str()));
    // Rendering many series takes milliseconds: keep it off the I/O thread.
    match tokio::task::spawn_blocking(move || metrics.render_as(format)).await {
        Ok(body) => (
            [(header::CONTENT_TYPE, format.content_type()), (header::VARY, "Accept")],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n").into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}
