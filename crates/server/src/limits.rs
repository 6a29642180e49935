//! What one request may ask of the service: the size of its URL and body,
//! its duration, and how many requests a token (or, without one, an address)
//! makes per minute. Every refusal is a JSON error like any other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, SharedState};

/// Requests per key in fixed one-minute windows.
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` to go on, or the seconds until the key may ask again.
    pub fn check(&self, key: &str, now_secs: u64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let minute = now_secs / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let w = windows.entry(key.to_string()).or_insert((minute, 0));
        if w.0 != minute {
            *w = (minute, 0);
        }
        if w.1 >= self.per_minute {
            return Err(60 - now_secs % 60);
        }
        w.1 += 1;
        Ok(())
    }
}

fn error(status: StatusCode, code: &'static str, description: String) -> ApiError {
    ApiError {
        status,
        code,
        description,
    }
}

/// The limits, as a middleware around every route.
pub async fn guard(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let query_len = request.uri().query().map_or(0, str::len);
    if query_len > limits.max_query_bytes {
        return error(
            StatusCode::URI_TOO_LONG,
            "URITooLong",
            format!(
                "the query string has {query_len} bytes; the limit is {}",
                limits.max_query_bytes
            ),
        )
        .into_response();
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|&n| n > limits.max_body_bytes) {
        // Read a moderately large body before refusing it, so that the
        // client sees the answer rather than a reset connection.
        if n <= drain_limit(limits.max_body_bytes) {
            let _ = axum::body::to_bytes(request.into_body(), n).await;
        }
        return too_large(limits.max_body_bytes).into_response();
    }
    // A token is counted by its hash; anonymous callers by their address.
    let key = match request.headers().get(header::AUTHORIZATION) {
        Some(v) => format!(
            "token:{}",
            &chiiki_policy::auth::sha256_hex(v.to_str().unwrap_or(""))[..16]
        ),
        None => format!("addr:{}", peer.ip()),
    };
    let now = chiiki_core::clock::now().timestamp().max(0) as u64;
    if let Err(wait) = state.rate.check(&key, now) {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!(
                "more than {} requests in a minute; try again in {wait} s",
                limits.requests_per_minute
            ),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    let timeout = Duration::from_secs_f64(limits.timeout_seconds);
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Timeout",
            format!(
                "the request took longer than {} s; narrow it (bbox, filter, limit)",
                limits.timeout_seconds
            ),
        )
        .into_response(),
    }
}

/// Bodies up to this size are read whole (and then refused when above the
/// limit); larger ones are cut off.
pub fn drain_limit(max_body: usize) -> usize {
    max_body.saturating_mul(16)
}

pub fn too_large(max: usize) -> ApiError {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PayloadTooLarge",
        format!("the request body is larger than {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_per_key_and_per_minute() {
        let r = RateLimiter::new(2);
        assert!(r.check("a", 120).is_ok());
        assert!(r.check("a", 130).is_ok());
        assert_eq!(r.check("a", 150), Err(30));
        assert!(r.check("b", 150).is_ok());
        assert!(r.check("a", 180).is_ok(), "a new minute");
        assert!(RateLimiter::new(0).check("a", 1).is_ok());
    }
}
