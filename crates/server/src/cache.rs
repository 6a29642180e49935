//! HTTP validators for open data: `ETag` and `Last-Modified` on the
//! metadata and items of stored layers whose features are not people
//! ([`Privacy::Open`]), and `304 Not Modified` when a client's copy is
//! still current. GIS clients and proxies then revalidate a page instead
//! of fetching it again.
//!
//! Nothing about people gets validators: those responses are
//! `Cache-Control: no-store` ([`crate::mark_people`]), and an ETag would let
//! a client learn that a personal answer did not change without the
//! request being audited.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use chiiki_core::layers::Layer;
use chiiki_core::sensitivity::Privacy;

/// What a response about an open layer is validated by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// The strong entity tag, quoted.
    pub etag: String,
    /// `meta.imported_at` as an HTTP date, when it parses.
    pub last_modified: Option<String>,
    /// `Cache-Control`: `no-cache` (store, but ask every time, so a reload
    /// is seen at once); `private` too for a layer that needs a role, so
    /// only the caller's own cache keeps it.
    pub cache_control: &'static str,
}

/// The validators of a response about `layer` to `path?query` with links
/// to `base`, or `None` when the response must not have any: the layer is
/// about people, or it is not a stored layer (an analysis result is
/// recomputed daily and has no import time to stand for its state).
///
/// The tag hashes everything the bytes depend on: the layer's identity and
/// state (id, import time, fingerprint, feature count), the request (path
/// and query) and the base URL of the links, and the service's version
/// (the writers' output may change between versions). Items pages carry a
/// `timeStamp` of the response: that is when it was sent, not what it says.
pub(crate) fn validators(layer: &Layer, base: &str, path: &str, query: &str) -> Option<Validators> {
    let meta = &layer.meta;
    if meta.privacy != Privacy::Open || meta.imported_at.is_empty() {
        return None;
    }
    let identity = format!(
        "chiiki {}\n{}\n{}\n{}\n{}\n{base}\n{path}?{query}",
        env!("CARGO_PKG_VERSION"),
        meta.id,
        meta.imported_at,
        meta.fingerprint,
        layer.len(),
    );
    let hash = chiiki_policy::auth::sha256_hex(&identity);
    let last_modified = chrono::DateTime::parse_from_rfc3339(&meta.imported_at)
        .ok()
        .map(|t| http_date(t.to_utc()));
    Some(Validators {
        etag: format!("\"{}\"", &hash[..32]),
        last_modified,
        cache_control: if meta.access.public {
            "no-cache"
        } else {
            "private, no-cache"
        },
    })
}

/// An HTTP date (RFC 9110 IMF-fixdate).
fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The encodings [`etag_per_encoding`] marks tags with.
const ENCODED_SUFFIXES: &[&str] = &["-gzip", "-br"];

/// The tag without the mark of a content encoding.
fn base_tag(tag: &str) -> &str {
    let unquoted = tag.trim_start_matches("W/").trim_matches('"');
    ENCODED_SUFFIXES
        .iter()
        .find_map(|s| unquoted.strip_suffix(s))
        .unwrap_or(unquoted)
}

/// Whether the client's copy is current: `If-None-Match` names the tag (in
/// any of its encodings), or, without `If-None-Match`, `If-Modified-Since`
/// is not before the import (RFC 9110 §13.2.2). `If-None-Match: *` is not
/// honoured: the answer comes before the request is checked, and a missing
/// feature or a bad parameter must not answer 304.
pub(crate) fn not_modified(headers: &HeaderMap, v: &Validators) -> bool {
    let ours = base_tag(&v.etag);
    let mut any_inm = false;
    for value in headers.get_all(header::IF_NONE_MATCH) {
        any_inm = true;
        let Ok(text) = value.to_str() else { continue };
        // Weak comparison, as If-None-Match asks for.
        if text.split(',').map(str::trim).any(|t| base_tag(t) == ours) {
            return true;
        }
    }
    if any_inm {
        return false;
    }
    let (Some(since), Some(modified)) = (
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok()),
        v.last_modified
            .as_deref()
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok()),
    ) else {
        return false;
    };
    modified <= since
}

/// Puts the validators on `response`.
pub(crate) fn apply(response: &mut Response, v: &Validators) {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&v.etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(lm) = v
        .last_modified
        .as_deref()
        .and_then(|d| HeaderValue::from_str(d).ok())
    {
        headers.insert(header::LAST_MODIFIED, lm);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(v.cache_control),
    );
}

/// `304 Not Modified` with the validators and no body.
pub(crate) fn not_modified_response(v: &Validators) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    apply(&mut response, v);
    response
}

/// The response to a request for `path?query` about `layer`: `304` when
/// the client's copy is current, else what `make` builds, with validators
/// when the layer may have them ([`validators`]).
pub(crate) fn conditional(
    layer: &Layer,
    base: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    make: impl FnOnce() -> Result<Response, crate::ApiError>,
) -> Result<Response, crate::ApiError> {
    let Some(v) = validators(layer, base, path, query) else {
        return make();
    };
    if not_modified(headers, &v) {
        let mut response = not_modified_response(&v);
        crate::mark_people(&mut response, layer);
        return Ok(response);
    }
    let mut response = make()?;
    if response.status() == StatusCode::OK {
        apply(&mut response, &v);
    }
    Ok(response)
}

/// A strong tag names one sequence of bytes: a compressed response gets the
/// tag marked with its encoding (`"…-gzip"`), as Apache and nginx do, and
/// [`not_modified`] accepts any of a resource's tags. Runs outside the
/// compression layer.
pub(crate) async fn etag_per_encoding(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|e| ENCODED_SUFFIXES.contains(&format!("-{e}").as_str()))
        .map(str::to_string);
    if let Some(encoding) = encoding {
        let marked = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.starts_with("W/"))
            .and_then(|t| {
                HeaderValue::from_str(&format!("\"{}-{encoding}\"", t.trim_matches('"'))).ok()
            });
        if let Some(marked) = marked {
            response.headers_mut().insert(header::ETAG, marked);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiiki_core::layers::{Geometries, LayerMeta, LayerParts};

    fn layer(privacy: Privacy, imported_at: &str) -> Layer {
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: "shelters".into(),
                imported_at: imported_at.into(),
                fingerprint: "f1".into(),
                privacy,
                ..LayerMeta::default()
            },
            fids: vec![1],
            geometries: Geometries::Points(vec![[139.7, 35.7]]),
            columns: vec![],
        })
    }

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn open_stored_layers_only() {
        let at = "2026-11-22T03:04:05Z";
        let v = validators(&layer(Privacy::Open, at), "http://x", "/p", "").unwrap();
        assert_eq!(v.etag.len(), 34);
        assert_eq!(
            v.last_modified.as_deref(),
            Some("Sun, 22 Nov 2026 03:04:05 GMT")
        );
        assert_eq!(v.cache_control, "private, no-cache");
        let people = Privacy::Individuals {
            population: "residents".into(),
            fields: Default::default(),
        };
        assert!(validators(&layer(people, at), "http://x", "/p", "").is_none());
        assert!(
            validators(&layer(Privacy::Open, ""), "http://x", "/p", "").is_none(),
            "an analysis result has no import time"
        );
        // An unparseable time still gives a tag.
        let odd = validators(&layer(Privacy::Open, "yesterday"), "http://x", "/p", "").unwrap();
        assert!(odd.last_modified.is_none());
    }

    #[test]
    fn the_tag_follows_the_state_and_the_request() {
        let at = "2026-11-22T03:04:05Z";
        let tag =
            |l: &Layer, base: &str, path: &str, q: &str| validators(l, base, path, q).unwrap().etag;
        let l = layer(Privacy::Open, at);
        let t = tag(&l, "http://x", "/p", "limit=1");
        assert_eq!(t, tag(&l, "http://x", "/p", "limit=1"));
        assert_ne!(t, tag(&l, "http://x", "/p", "limit=2"));
        assert_ne!(t, tag(&l, "http://x", "/q", "limit=1"));
        assert_ne!(t, tag(&l, "http://y", "/p", "limit=1"));
        assert_ne!(
            t,
            tag(
                &layer(Privacy::Open, "2026-11-23T00:00:00Z"),
                "http://x",
                "/p",
                "limit=1"
            )
        );
        let mut refingered = layer(Privacy::Open, at);
        refingered.meta.fingerprint = "f2".into();
        assert_ne!(t, tag(&refingered, "http://x", "/p", "limit=1"));
    }

    #[test]
    fn conditional_requests() {
        let v = validators(
            &layer(Privacy::Open, "2026-11-22T03:04:05Z"),
            "http://x",
            "/p",
            "",
        )
        .unwrap();
        let inner = v.etag.trim_matches('"');
        assert!(not_modified(&with(header::IF_NONE_MATCH, &v.etag), &v));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "*"), &v));
        assert!(not_modified(
            &with(header::IF_NONE_MATCH, &format!("\"a\", \"{inner}-gzip\"")),
            &v
        ));
        assert!(not_modified(
            &with(header::IF_NONE_MATCH, &format!("W/\"{inner}-br\"")),
            &v
        ));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "\"other\""), &v));
        assert!(!not_modified(&HeaderMap::new(), &v));
        let since = |d: &str| not_modified(&with(header::IF_MODIFIED_SINCE, d), &v);
        assert!(since("Sun, 22 Nov 2026 03:04:05 GMT"));
        assert!(since("Mon, 23 Nov 2026 00:00:00 GMT"));
        assert!(!since("Sun, 22 Nov 2026 03:04:04 GMT"));
        assert!(!since("not a date"));
        // If-None-Match wins over If-Modified-Since.
        let mut both = with(header::IF_NONE_MATCH, "\"other\"");
        both.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Mon, 23 Nov 2026 00:00:00 GMT"),
        );
        assert!(!not_modified(&both, &v));
    }
}
