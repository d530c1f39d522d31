//! The dashboard page and its assets, embedded in the binary (works offline).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Only this origin's scripts, styles, images and connections.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const PAGE: &str = include_str!("../../assets/monitoring.html");

/// `(path under /monitoring/assets/, content type, bytes)`.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "monitoring.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/monitoring.css"),
    ),
    (
        "monitoring.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/monitoring.js"),
    ),
    (
        "vendor/uplot/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
    (
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
];

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /monitoring`.
pub(crate) async fn page() -> Response {
    with_security_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response())
}

/// `GET /monitoring/assets/{*path}`.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, bytes)) => with_security_headers(
            (
                [
                    (header::CONTENT_TYPE, *content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                *bytes,
            )
                .into_response(),
        ),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
