//! The web map for people who are not GIS specialists: one page, served at
//! `/` to browsers, that signs in with a token, lists the layers the role
//! may read, runs the saved questions and prints their answers. Everything
//! it loads comes from this binary ([`assets`]).

pub mod assets;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::settings::BaseMap;
use crate::{Caller, SharedState};

/// The page's HTML; its script builds the rest from the API.
const PAGE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../web/app/index.html"
));

/// `GET /` (for a browser) and `GET /map`: the map page.
pub fn page(basemap: Option<&BaseMap>) -> Response {
    let mut response = PAGE.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(basemap)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// The page runs only its own scripts and talks only to this service (and
/// to the configured base map's origin); MapLibre's workers start from blobs.
fn content_security_policy(basemap: Option<&BaseMap>) -> String {
    let online = basemap.and_then(BaseMap::origin).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; \
         img-src 'self' data: blob: {online}; style-src 'self' 'unsafe-inline'; \
         connect-src 'self' {online}; font-src 'self' {online}"
    )
}

pub async fn map_page(State(state): State<SharedState>) -> Response {
    page(state.server.basemap.as_ref())
}

/// `GET /session`: who the caller is, as the page shows it (and whether a
/// token is still good: a bad one is refused with 401 before this), and
/// the base map the deployment configured.
pub async fn session(State(state): State<SharedState>, Caller(who): Caller) -> Response {
    let role = &who.role;
    let body = serde_json::json!({
        "role": role.name,
        "token": who.token_id,
        "name": who.token_name,
        "anonymous": who.is_anonymous(),
        "records": format!("{:?}", role.records).to_lowercase(),
        "exactAggregates": role.exact_aggregates || role.admin,
        "saveAnalyses": role.save_analyses || role.admin,
        "title": state.server.title,
        "maxLimit": state.server.max_limit,
        "basemap": state.server.basemap,
    });
    let mut response = crate::json_response(body, "application/json");
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// How the page treats a collection's features: `open`, `individuals`
/// (people, masked per role), `derived` (computed from people) or
/// `aggregate` (counts of people, protected below exact aggregates).
pub fn privacy_kind(layer: &chiiki_core::layers::Layer) -> &'static str {
    use chiiki_core::sensitivity::Privacy;
    match layer.meta.privacy {
        Privacy::Open => "open",
        Privacy::Individuals { .. } => "individuals",
        Privacy::Derived { .. } => "derived",
        Privacy::Aggregate { .. } => "aggregate",
    }
}

/// The group the layer list shows a collection in: `analyses` (saved
/// questions), `people`, `hazards`, `base` (boundaries that orient the
/// eye) or `infrastructure`.
pub fn group(layer: &chiiki_core::layers::Layer) -> &'static str {
    use chiiki_core::sensitivity::Privacy;
    let meta = &layer.meta;
    if meta.source.starts_with("analysis") {
        return "analyses";
    }
    if matches!(meta.privacy, Privacy::Individuals { .. }) {
        return "people";
    }
    let text = format!("{} {}", meta.id, meta.title).to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if any(&[
        "flood",
        "hazard",
        "tsunami",
        "landslide",
        "浸水",
        "洪水",
        "津波",
        "土砂",
        "高潮",
    ]) {
        "hazards"
    } else if any(&[
        "town",
        "mesh",
        "boundary",
        "boundaries",
        "町丁",
        "境界",
        "メッシュ",
        "小地域",
    ]) {
        "base"
    } else {
        "infrastructure"
    }
}
