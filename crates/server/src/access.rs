//! The access log: one `tracing` event at info level per response, target
//! `chiiki::access`, with the method, path, status, bytes sent, latency
//! (until the last byte of the body left, or the client went away) and the
//! caller's role and token id.
//!
//! The log must not become a second, unaudited record of who looked up
//! whom: under `/collections/{id}` the query string (a filter may name a
//! person) and a feature id (a resident's) are written only for responses
//! the handler marked as about an open collection ([`OpenCollection`]);
//! errors and anything about people leave them out. The audit log is
//! where personal requests are recorded, with their values hashed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::Body as _;

/// Who asked, as the guard resolved it: set on the response for the log.
#[derive(Clone, Debug)]
pub(crate) struct AccessCaller {
    pub role: String,
    pub token: Option<String>,
}

/// Set on a response about an open collection (no people in it): its
/// query string and feature ids may be logged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenCollection;

/// The target tracing events of the access log go to.
pub const TARGET: &str = "chiiki::access";

/// The middleware: times the request and logs it when its body is done.
pub(crate) async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let response = next.run(request).await;
    let open = response.extensions().get::<OpenCollection>().is_some();
    let caller = response.extensions().get::<AccessCaller>().cloned();
    let entry = Entry {
        started,
        method,
        path: loggable(&path, query.as_deref(), open),
        status: response.status().as_u16(),
        role: caller.as_ref().map_or("-".into(), |c| c.role.clone()),
        token: caller.and_then(|c| c.token).unwrap_or_else(|| "-".into()),
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Counted {
            inner: body,
            bytes: 0,
            entry: Some(entry),
        }),
    )
}

/// The path (and query) as the log may hold them: see the module doc.
pub(crate) fn loggable(path: &str, query: Option<&str>, open: bool) -> String {
    let mut segments: Vec<&str> = path.split('/').collect();
    // ["", "collections", id, "items", fid]
    let about_collection = segments.len() >= 3 && segments[1] == "collections";
    if about_collection && !open {
        if segments.len() >= 5 && segments[3] == "items" && !segments[4].is_empty() {
            segments[4] = "{fid}";
        }
        return segments.join("/");
    }
    match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

struct Entry {
    started: Instant,
    method: String,
    path: String,
    status: u16,
    role: String,
    token: String,
}

impl Entry {
    fn log(&self, bytes: u64, complete: bool) {
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes,
            latency_ms = format_args!("{:.1}", self.started.elapsed().as_secs_f64() * 1000.0),
            role = %self.role,
            token = %self.token,
            complete,
        );
    }
}

/// A body that counts what it yields and logs the request when it ends,
/// or when it is dropped unfinished (the client went away).
struct Counted {
    inner: Body,
    bytes: u64,
    entry: Option<Entry>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(entry) = self.entry.take() {
                    entry.log(self.bytes, true);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            // An empty body may never be polled: it is complete.
            let complete = self.inner.is_end_stream();
            entry.log(self.bytes, complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_ids_of_collections_are_logged_only_when_open() {
        let q = Some("filter=name%3D%27%E5%B1%B1%E7%94%B0%27&limit=5");
        assert_eq!(
            loggable("/collections/residents/items", q, false),
            "/collections/residents/items"
        );
        assert_eq!(
            loggable("/collections/residents/items/1234567", None, false),
            "/collections/residents/items/{fid}"
        );
        assert_eq!(
            loggable("/collections/residents", Some("f=json"), false),
            "/collections/residents"
        );
        assert_eq!(
            loggable("/collections/shelters/items", Some("bbox=1,2,3,4"), true),
            "/collections/shelters/items?bbox=1,2,3,4"
        );
        assert_eq!(
            loggable("/collections/shelters/items/17", None, true),
            "/collections/shelters/items/17"
        );
        // Outside collections the query is only f=json and the like.
        assert_eq!(
            loggable("/collections", Some("f=json"), false),
            "/collections?f=json"
        );
        assert_eq!(loggable("/", None, false), "/");
    }
}
