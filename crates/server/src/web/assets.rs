//! Static assets embedded in the binary: the map page's own script, style
//! and translations, and the npm packages it uses (MapLibre GL JS, Swagger
//! UI). Served under `/assets/`, validated by a hash of their bytes.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! vendor {
    ($name:literal, $type:expr, $path:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../web/node_modules/",
                $path
            )),
        }
    };
}

macro_rules! own {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../web/app/",
                $name
            )),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset the pages use.
pub static ASSETS: &[Asset] = &[
    vendor!("maplibre-gl.js", JS, "maplibre-gl/dist/maplibre-gl.js"),
    vendor!("maplibre-gl.css", CSS, "maplibre-gl/dist/maplibre-gl.css"),
    vendor!(
        "swagger-ui-bundle.js",
        JS,
        "swagger-ui-dist/swagger-ui-bundle.js"
    ),
    vendor!("swagger-ui.css", CSS, "swagger-ui-dist/swagger-ui.css"),
    own!("app.js", JS),
    own!("app.css", CSS),
    own!("ogc.js", JS),
    own!("ogc.css", CSS),
    own!("swagger-init.js", JS),
];

/// The asset called `name`.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The strong tag of each asset, computed once.
fn etags() -> &'static Vec<String> {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = chiiki_policy::auth::sha256_hex(&String::from_utf8_lossy(a.bytes));
                format!("\"{}\"", &hash[..24])
            })
            .collect()
    })
}

/// `GET /assets/{name}`: the file, or 304 when the client's copy is current.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let index = ASSETS
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no asset '{name}'")))?;
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidated on every load, so a new binary's page is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
