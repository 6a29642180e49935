//! What one request may ask of the service: the size of its URL and body,
//! its duration, how many requests a token (or, without one, an address)
//! makes per minute, and a slot among the selections running at once.
//! Every refusal is a JSON error like any other.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, SharedState};
use crate::access::AccessCaller;
use chiiki_policy::auth::Principal;

/// Whose requests are counted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An authenticated token, by its public id.
    Token(String),
    /// A caller without a token, by address.
    Address(IpAddr),
}

/// Requests per key in fixed one-minute windows, with bounded memory: only
/// authenticated tokens (as many as the token file holds) and addresses get
/// a window, and at most `max_addresses` addresses at once.
pub struct RateLimiter {
    per_minute: u32,
    max_addresses: usize,
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    tokens: HashMap<String, (u64, u32)>,
    addresses: HashMap<IpAddr, (u64, u32)>,
}

/// Addresses with a window at once, unless configured otherwise.
pub const MAX_ADDRESSES: usize = 10_000;

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::with_capacity(per_minute, MAX_ADDRESSES)
    }

    pub fn with_capacity(per_minute: u32, max_addresses: usize) -> RateLimiter {
        RateLimiter {
            per_minute,
            max_addresses: max_addresses.max(1),
            windows: Mutex::new(Windows::default()),
        }
    }

    /// `Ok` to go on, or the seconds until the key may ask again.
    ///
    /// An address seen for the first time while `max_addresses` others have
    /// asked within this minute is told to wait for the next: a flood from
    /// many addresses cannot grow the table, and tokens are never crowded
    /// out by it.
    pub fn check(&self, key: &RateKey, now_secs: u64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let minute = now_secs / 60;
        let wait = 60 - now_secs % 60;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = match key {
            RateKey::Token(id) => {
                if windows.tokens.len() > self.max_addresses {
                    windows.tokens.retain(|_, (m, _)| *m == minute);
                }
                windows.tokens.entry(id.clone()).or_insert((minute, 0))
            }
            RateKey::Address(ip) => {
                let addresses = &mut windows.addresses;
                if !addresses.contains_key(ip) && addresses.len() >= self.max_addresses {
                    addresses.retain(|_, (m, _)| *m == minute);
                    if addresses.len() >= self.max_addresses {
                        return Err(wait);
                    }
                }
                addresses.entry(*ip).or_insert((minute, 0))
            }
        };
        if w.0 != minute {
            *w = (minute, 0);
        }
        if w.1 >= self.per_minute {
            return Err(wait);
        }
        w.1 += 1;
        Ok(())
    }

    /// How many windows are kept (tokens and addresses).
    pub fn buckets(&self) -> usize {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.tokens.len() + windows.addresses.len()
    }
}

fn error(status: StatusCode, code: &'static str, description: String) -> ApiError {
    ApiError {
        status,
        code,
        description,
    }
}

/// The limits and authentication, as a middleware around every route: the
/// size of the URL and body, then who is asking (a token that is not one
/// is refused here, before it can cost a rate window), then the caller's
/// rate, then the time-out around the handler. The caller is passed on to
/// the handlers ([`crate::Caller`]) and to the access log.
pub async fn guard(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
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
    let who = match crate::authenticate(&state, request.headers()) {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    let caller = AccessCaller {
        role: who.role.name.clone(),
        token: who.token_id.clone(),
    };
    let key = match &who.token_id {
        Some(id) => RateKey::Token(id.clone()),
        None => RateKey::Address(peer.ip()),
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
        r.extensions_mut().insert(caller);
        return r;
    }
    request.extensions_mut().insert(Authenticated(who));
    let timeout = Duration::from_secs_f64(limits.timeout_seconds);
    let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
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
    };
    response.extensions_mut().insert(caller);
    response
}

/// The caller as the guard authenticated it, for the handlers.
#[derive(Clone)]
pub(crate) struct Authenticated(pub Principal);

/// A cap on the selections, analyses and writing running at once on
/// tokio's blocking pool. A request that times out leaves its work running
/// (a thread cannot be stopped midway): without the cap, a stream of slow
/// requests would pile up threads and memory. A request waits for a slot
/// at most `wait`, then is answered 503 with `Retry-After`.
#[derive(Clone)]
pub struct BlockingPool {
    slots: Arc<tokio::sync::Semaphore>,
    size: usize,
    wait: Duration,
}

impl BlockingPool {
    pub fn new(size: usize, wait: Duration) -> BlockingPool {
        let size = size.max(1);
        BlockingPool {
            slots: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            wait,
        }
    }

    /// The pool the `[limits]` section describes.
    pub fn from_limits(limits: &crate::settings::LimitsConfig) -> BlockingPool {
        let wait = limits
            .blocking_wait_seconds
            .min(limits.timeout_seconds)
            .max(0.0);
        BlockingPool::new(limits.max_blocking, Duration::from_secs_f64(wait))
    }

    /// Runs `f` on the blocking pool once a slot is free: selections and
    /// analyses must not stall the async workers, and the time-out can then
    /// answer while they run. The slot is held until `f` returns, even if
    /// the request was answered (timed out) before.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                tracing::warn!(
                    "all {} blocking slots busy for {:.1?}: answering 503",
                    self.size,
                    self.wait
                );
                return Err(busy());
            }
        };
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            f()
        })
        .await
        .map_err(|_| ApiError::internal())?
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.size - self.slots.available_permits()
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

/// 503 for a request that found every blocking slot taken.
pub fn busy() -> ApiError {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Busy",
        "the service is busy with other requests; try again shortly".into(),
    )
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

    fn token(id: &str) -> RateKey {
        RateKey::Token(id.into())
    }

    fn addr(n: u32) -> RateKey {
        RateKey::Address(IpAddr::V4(std::net::Ipv4Addr::from(n)))
    }

    #[test]
    fn windows_are_per_key_and_per_minute() {
        let r = RateLimiter::new(2);
        assert!(r.check(&token("a"), 120).is_ok());
        assert!(r.check(&token("a"), 130).is_ok());
        assert_eq!(r.check(&token("a"), 150), Err(30));
        assert!(r.check(&token("b"), 150).is_ok());
        assert!(r.check(&addr(1), 150).is_ok());
        assert!(r.check(&token("a"), 180).is_ok(), "a new minute");
        assert!(RateLimiter::new(0).check(&token("a"), 1).is_ok());
    }

    #[test]
    fn addresses_are_bounded_and_cannot_crowd_out_tokens() {
        let r = RateLimiter::with_capacity(5, 100);
        for n in 0..1000 {
            let answer = r.check(&addr(n), 60);
            assert_eq!(answer.is_ok(), n < 100, "address {n}");
        }
        assert_eq!(r.buckets(), 100);
        assert!(
            r.check(&token("t1"), 61).is_ok(),
            "tokens still get a window"
        );
        assert!(r.check(&addr(5), 62).is_ok(), "known addresses still count");
        // A new minute frees the windows of the last.
        assert!(r.check(&addr(500), 120).is_ok());
        assert!(r.buckets() <= 3, "{}", r.buckets());
    }
}
