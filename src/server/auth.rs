//! Optional bearer-token checks: one for `/metrics`, one for the dashboard and its API.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The expected token, shared by the middleware.
#[derive(Clone)]
pub(crate) struct BearerToken(pub(crate) Arc<str>);

/// The cookie the dashboard page sets after `?token=` so its own requests authenticate.
const COOKIE: &str = "aureus_token";

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')))
}

fn query_token(request: &Request) -> Option<String> {
    request.uri().query().and_then(|q| {
        q.split('&').find_map(|pair| pair.strip_prefix("token=")).map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn unauthorized() -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `/metrics`: only `Authorization: Bearer <token>` (scrapers send headers).
pub(crate) async fn require_bearer(State(token): State<BearerToken>, request: Request, next: Next) -> Response {
    match bearer(request.headers()) {
        Some(given) if constant_time_eq(given.as_bytes(), token.0.as_bytes()) => next.run(request).await,
        _ => unauthorized(),
    }
}

/// Dashboard and API: the bearer header, or the cookie; opening a page with
/// `?token=<token>` sets the cookie (HttpOnly, SameSite=Strict) so a browser
/// can use the dashboard.
pub(crate) async fn require_dashboard_token(
    State(token): State<BearerToken>,
    request: Request,
    next: Next,
) -> Response {
    let expected = token.0.as_bytes();
    let headers = request.headers();
    let by_header = bearer(headers).is_some_and(|t| constant_time_eq(t.as_bytes(), expected));
    let by_cookie = cookie(headers).is_some_and(|t| constant_time_eq(t.as_bytes(), expected));
    if by_header || by_cookie {
        return next.run(request).await;
    }
    let by_query = query_token(&request).is_some_and(|t| constant_time_eq(t.as_bytes(), expected));
    if !by_query {
        return unauthorized();
    }
    let mut response = next.run(request).await;
    let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", token.0);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; aureus_token=t0k; b=2"));
        assert_eq!(cookie(&headers), Some("t0k"));
    }
}
