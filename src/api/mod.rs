//! The HTTP service: OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0),
//! Part 2 (CRS) and Part 3 (CQL2-text filters) over the layers in the data
//! directory and the saved analyses of the config, each a collection.
//!
//! Every request goes the same way: authenticate ([`Caller`]) → find the
//! collection and check access ([`AppState::readable`]) → parse parameters →
//! select rows → write. Masking, suppression and audit slot in between the
//! access check and the writer.

mod analyses;
mod error;
mod items;
mod meta;
mod openapi;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;

pub use error::ApiError;

use crate::auth::{decide, Decision, Principal, TokenStore};
use crate::config::{Config, ServerConfig};
use crate::layers::Layer;
use crate::query::analysis::{Analysis, Sources};

/// Shared, read-only state of a running service.
pub struct AppState {
    pub server: ServerConfig,
    pub tokens: TokenStore,
    /// Layers by id, with the config's access policy applied.
    pub layers: BTreeMap<String, Arc<Layer>>,
    /// Saved analyses by id (the config's, then those POSTed and kept in
    /// `<data>/analyses/`), served as collections.
    pub analyses: std::sync::RwLock<BTreeMap<String, Analysis>>,
    pub data_dir: std::path::PathBuf,
    /// Analysis results by id, for the reference date they were computed on.
    results: std::sync::Mutex<BTreeMap<String, (chrono::NaiveDate, Arc<Layer>)>>,
}

impl AppState {
    pub fn new(config: &Config, layers: Vec<Layer>) -> AppState {
        let mut by_id = BTreeMap::new();
        for mut layer in layers {
            if let Some(policy) = config.layers.iter().find(|p| p.id == layer.meta.id) {
                if let Some(public) = policy.public {
                    layer.meta.access.public = public;
                }
                if let Some(roles) = &policy.roles {
                    layer.meta.access.roles = roles.iter().map(|r| r.to_string()).collect();
                }
                if let Some(title) = &policy.title {
                    layer.meta.title = title.clone();
                }
            }
            by_id.insert(layer.meta.id.clone(), Arc::new(layer));
        }
        AppState {
            server: config.server.clone(),
            tokens: TokenStore::new(&config.tokens),
            layers: by_id,
            analyses: std::sync::RwLock::new(
                config
                    .analyses
                    .iter()
                    .cloned()
                    .chain(analyses::load_saved(&config.data_dir))
                    .map(|a| (a.id.clone(), a))
                    .collect(),
            ),
            data_dir: config.data_dir.clone(),
            results: Default::default(),
        }
    }

    /// The result of analysis `a` on today's date, computed once a day.
    pub(crate) fn analysis_result(&self, a: &Analysis) -> Result<Arc<Layer>, ApiError> {
        let day = crate::query::analysis::today();
        if let Some((d, layer)) = self.results.lock().expect("results lock").get(&a.id) {
            if *d == day {
                return Ok(layer.clone());
            }
        }
        let analyses = self.analyses.read().expect("analyses lock").clone();
        let sources = Sources {
            layers: &self.layers,
            analyses: &analyses,
            data_dir: &self.data_dir,
            as_of: day,
        };
        let started = std::time::Instant::now();
        let layer = Arc::new(sources.run(a).map_err(|e| {
            tracing::error!("analysis '{}': {e:#}", a.id);
            ApiError::internal()
        })?);
        tracing::info!(
            "analysis '{}': {} features in {:.1?}",
            a.id,
            layer.len(),
            started.elapsed()
        );
        self.results
            .lock()
            .expect("results lock")
            .insert(a.id.clone(), (day, layer.clone()));
        Ok(layer)
    }

    pub(crate) fn analysis_access(a: &Analysis) -> crate::layers::Access {
        crate::layers::Access {
            public: a.public,
            roles: a.roles.clone(),
        }
    }

    /// The layer `id` if it exists and `who` may read it.
    pub fn readable(&self, who: &Principal, id: &str) -> Result<Arc<Layer>, ApiError> {
        let analysis = self
            .analyses
            .read()
            .expect("analyses lock")
            .get(id)
            .cloned();
        let (access, layer) = match (self.layers.get(id), &analysis) {
            (Some(l), _) => (l.meta.access.clone(), Some(l.clone())),
            (None, Some(a)) => (Self::analysis_access(a), None),
            (None, None) => return Err(ApiError::not_found(format!("no collection '{id}'"))),
        };
        match decide(who, &access) {
            Decision::Allow => match (layer, analysis) {
                (Some(l), _) => Ok(l),
                (None, Some(a)) => self.analysis_result(&a),
                (None, None) => Err(ApiError::not_found(format!("no collection '{id}'"))),
            },
            Decision::NeedsToken => Err(ApiError::unauthorized(format!(
                "collection '{id}' needs a bearer token"
            ))),
            Decision::Forbidden => Err(ApiError::forbidden(format!(
                "role '{}' may not read collection '{id}'",
                who.role
            ))),
        }
    }

    /// Layers and analysis results `who` may read, in id order.
    pub fn visible(&self, who: &Principal) -> Vec<Arc<Layer>> {
        let mut out: Vec<Arc<Layer>> = self
            .layers
            .values()
            .filter(|l| decide(who, &l.meta.access) == Decision::Allow)
            .cloned()
            .collect();
        let analyses = self.analyses.read().expect("analyses lock").clone();
        for a in analyses.values() {
            if decide(who, &Self::analysis_access(a)) == Decision::Allow {
                match self.analysis_result(a) {
                    Ok(l) => out.push(l),
                    Err(_) => continue,
                }
            }
        }
        out.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        out
    }
}

pub type SharedState = Arc<AppState>;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let header = match parts.headers.get(header::AUTHORIZATION) {
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?,
            ),
            None => None,
        };
        state
            .tokens
            .authenticate(header)
            .map(Caller)
            .map_err(|e| ApiError::unauthorized(e.to_string()))
    }
}

/// The service's own base URL for links: the configured public URL, else
/// `http://<Host header>`.
pub struct BaseUrl(pub String);

impl FromRequestParts<SharedState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        if let Some(url) = &state.server.public_url {
            return Ok(BaseUrl(url.trim_end_matches('/').to_string()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
            })
            .unwrap_or("127.0.0.1");
        Ok(BaseUrl(format!("http://{host}")))
    }
}

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/", get(meta::landing))
        .route("/conformance", get(meta::conformance))
        .route("/api", get(openapi::document))
        .route("/openapi", get(openapi::document))
        .route("/api.html", get(meta::service_doc))
        .route("/collections", get(meta::collections))
        .route("/collections/{id}", get(meta::collection))
        .route("/collections/{id}/queryables", get(meta::queryables))
        .route("/collections/{id}/items", get(items::items))
        .route("/analyses", get(analyses::list).post(analyses::create))
        .route("/collections/{id}/items/{fid}", get(items::item))
        .fallback(|| async { ApiError::not_found("no such resource") })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                ApiError::internal().into_response()
            },
        ))
        .with_state(state)
}

pub(crate) fn json_response(
    value: serde_json::Value,
    content_type: &'static str,
) -> axum::response::Response {
    let mut response = axum::response::IntoResponse::into_response(value.to_string());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Binds and serves until Ctrl-C.
pub async fn serve(config: &Config, layers: Vec<Layer>) -> Result<()> {
    let state = Arc::new(AppState::new(config, layers));
    // Saved analyses are computed before the first request asks.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        let analyses = warm.analyses.read().expect("analyses lock").clone();
        for a in analyses.values() {
            let _ = warm.analysis_result(a);
        }
    });
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "serving {} collection(s) at http://{addr}/",
        state.layers.len()
    );
    println!("chiiki is serving at http://{addr}/  (Ctrl-C to stop)");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving HTTP")
}
