//! The web map for people who are not GIS specialists: one page, served at
//! `/` to browsers, that signs in with a token, lists the layers the role
//! may read, runs the saved questions and prints their answers. Everything
//! it loads comes from this binary ([`assets`]).

pub mod assets;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The page's HTML; its script builds the rest from the API.
const PAGE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/app/index.html"));

/// `GET /` (for a browser) and `GET /map`: the map page.
pub fn page() -> Response {
    let mut response = PAGE.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The page runs only its own scripts; MapLibre's workers start from blobs.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; \
             img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
        ),
    );
    response
}

pub async fn map_page() -> Response {
    page()
}
