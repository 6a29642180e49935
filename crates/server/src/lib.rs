//! The HTTP service: OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0),
//! Part 2 (CRS) and Part 3 (CQL2-text filters) over the layers in the data
//! directory and the saved analyses of the config, each a collection.
//!
//! Every request goes the same way: limits ([`limits`]) → authenticate
//! ([`Caller`]) → find the collection, check access and take the role's view
//! of it ([`AppState::readable`]: records, personal fields, suppressed
//! aggregates) → parse parameters against that view → select rows → log to
//! the audit trail if personal data leaves → write.

mod analyses;
mod error;
pub mod items;
pub mod limits;
mod meta;
mod openapi;
pub mod settings;
pub mod source;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
pub use error::StartError;

pub use error::ApiError;

use chrono::NaiveDate;

use crate::settings::{LimitsConfig, ServerConfig, ServiceConfig};
use chiiki_analysis::{AggregateOutcome, Analysis, Sources};
use chiiki_core::layers::Layer;
use chiiki_core::sensitivity::Privacy;
use chiiki_policy::auth::{decide, Decision, Principal, TokenStore};

/// Shared state of a running service.
pub struct AppState {
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub tokens: TokenStore,
    /// Small-cell threshold for aggregates served to roles below planner.
    pub k: u64,
    /// Layers by id, with the config's access policy applied.
    pub layers: BTreeMap<String, Arc<Layer>>,
    /// Saved analyses by id (the config's, then those POSTed and kept in
    /// `<data>/analyses/`), served as collections.
    pub analyses: RwLock<BTreeMap<String, Analysis>>,
    pub data_dir: std::path::PathBuf,
    pub audit: chiiki_policy::audit::AuditLog,
    /// The key of the pseudonyms in views of people, read once at start-up.
    pub pseudonym_key: chiiki_policy::privacy::PseudonymKey,
    pub rate: limits::RateLimiter,
    /// Analysis results by id, for the reference date they were computed on.
    results: Mutex<BTreeMap<String, (NaiveDate, Computed)>>,
    /// Aggregates of people with small cells suppressed, all computed together.
    suppressed: Mutex<Option<Dated<SuppressedLayers>>>,
    /// What each role may see of each collection of people (by collection
    /// and role), per day.
    views: chiiki_policy::privacy::ViewCache,
    /// Bumped when an analysis is saved: suppression and views are recomputed.
    generation: AtomicU64,
}

/// Something computed for a reference date and a generation of analyses.
type Dated<T> = (NaiveDate, u64, T);
/// Suppressed aggregates by collection id.
type SuppressedLayers = BTreeMap<String, Arc<Layer>>;

/// An analysis result, with what suppression needs of aggregates of people.
#[derive(Clone)]
struct Computed {
    layer: Arc<Layer>,
    aggregate: Option<Arc<AggregateOutcome>>,
}

impl AppState {
    pub fn new(config: &ServiceConfig, layers: Vec<Layer>) -> Result<AppState, StartError> {
        let mut by_id = BTreeMap::new();
        for mut layer in layers {
            if let Some(policy) = config.layers.iter().find(|p| p.id == layer.meta.id) {
                if let Some(public) = policy.public {
                    layer.meta.access.public = public;
                }
                if let Some(roles) = &policy.roles {
                    layer.meta.access.roles = roles.clone();
                }
                if let Some(title) = &policy.title {
                    layer.meta.title = title.clone();
                }
                if let Some(fields) = &policy.personal_fields {
                    layer.meta.privacy = Privacy::Individuals {
                        population: layer.meta.id.clone(),
                        fields: fields.clone(),
                    };
                }
            }
            if layer.meta.privacy.is_personal() && layer.meta.access.public {
                return Err(StartError::PersonalLayerPublic(layer.meta.id.clone()));
            }
            by_id.insert(layer.meta.id.clone(), Arc::new(layer));
        }
        let roles = config.roles.clone();
        Ok(AppState {
            server: config.server.clone(),
            limits: config.limits.clone(),
            tokens: TokenStore::new(roles, &config.tokens, Some(config.token_file()))
                .map_err(StartError::Tokens)?,
            k: config.privacy.k,
            layers: by_id,
            analyses: RwLock::new(
                config
                    .analyses
                    .iter()
                    .cloned()
                    .chain(analyses::load_saved(&config.data_dir))
                    .map(|a| (a.id.clone(), a))
                    .collect(),
            ),
            data_dir: config.data_dir.clone(),
            audit: chiiki_policy::audit::AuditLog::open(&config.audit_path(), config.audit.fsync)
                .map_err(StartError::Audit)?,
            pseudonym_key: chiiki_policy::privacy::PseudonymKey::open(&config.pseudonym_key_path())
                .map_err(StartError::PseudonymKey)?,
            rate: limits::RateLimiter::new(config.limits.requests_per_minute),
            results: Default::default(),
            suppressed: Default::default(),
            views: Default::default(),
            generation: AtomicU64::new(0),
        })
    }

    fn sources<'a>(
        &'a self,
        analyses: &'a BTreeMap<String, Analysis>,
        day: NaiveDate,
    ) -> Sources<'a> {
        Sources {
            layers: &self.layers,
            analyses,
            data_dir: &self.data_dir,
            as_of: day,
        }
    }

    /// The result of analysis `a` on today's date, computed once a day.
    fn computed(&self, a: &Analysis) -> Result<Computed, ApiError> {
        let day = chiiki_core::clock::today();
        if let Some((d, c)) = lock(&self.results).get(&a.id) {
            if *d == day {
                return Ok(c.clone());
            }
        }
        let analyses = read(&self.analyses).clone();
        let started = std::time::Instant::now();
        let outcome = self.sources(&analyses, day).run_detailed(a).map_err(|e| {
            tracing::error!("analysis '{}': {e:#}", a.id);
            ApiError::internal()
        })?;
        tracing::info!(
            "analysis '{}': {} features in {:.1?}",
            a.id,
            outcome.layer.len(),
            started.elapsed()
        );
        let computed = Computed {
            layer: Arc::new(outcome.layer),
            aggregate: outcome.aggregate.map(Arc::new),
        };
        lock(&self.results).insert(a.id.clone(), (day, computed.clone()));
        Ok(computed)
    }

    pub(crate) fn analysis_result(&self, a: &Analysis) -> Result<Arc<Layer>, ApiError> {
        Ok(self.computed(a)?.layer)
    }

    pub(crate) fn analysis_access(a: &Analysis) -> chiiki_core::layers::Access {
        chiiki_core::layers::Access {
            public: a.public,
            roles: a.roles.clone(),
        }
    }

    /// Forgets derived results after the set of analyses changed.
    pub(crate) fn analyses_changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.views.clear();
    }

    /// Whether some role that gets suppressed aggregates may read `a`.
    fn served_suppressed(&self, a: &Analysis) -> bool {
        a.public
            || a.roles
                .iter()
                .any(|r| self.tokens.roles().get(r).is_some_and(|d| d.suppressed()))
    }

    /// Aggregate `id` with small cells suppressed. Every aggregate of people
    /// that a role below planner may read is suppressed in one run, so that
    /// no table can be differenced against another.
    fn suppressed_layer(&self, id: &str) -> Result<Arc<Layer>, ApiError> {
        let day = chiiki_core::clock::today();
        let generation = self.generation.load(Ordering::SeqCst);
        let mut cache = lock(&self.suppressed);
        if let Some((d, g, layers)) = cache.as_ref() {
            if *d == day && *g == generation {
                return layers.get(id).cloned().ok_or_else(ApiError::internal);
            }
        }
        let analyses = read(&self.analyses).clone();
        let mut family = Vec::new();
        for a in analyses.values() {
            if a.id != id && !self.served_suppressed(a) {
                continue;
            }
            if let Some(outcome) = self.computed(a)?.aggregate {
                family.push((a.id.clone(), outcome));
            }
        }
        let tables: Vec<chiiki_policy::privacy::suppression::Table> = family
            .iter()
            .map(|(id, o)| {
                let mut t = o.table.table.clone();
                t.id = id.clone();
                t
            })
            .collect();
        let started = std::time::Instant::now();
        let hidden = chiiki_policy::privacy::suppression::suppress(&tables, self.k);
        let sources = self.sources(&analyses, day);
        let mut layers = BTreeMap::new();
        for (t, (id, outcome)) in family.iter().enumerate() {
            let layer = sources.suppressed(outcome, &hidden.cells[t]).map_err(|e| {
                tracing::error!("suppressing '{id}': {e:#}");
                ApiError::internal()
            })?;
            let count = hidden.cells[t].iter().filter(|&&h| h).count();
            tracing::info!(
                "suppression: '{id}': {count} of {} cells hidden ({} small, the rest complementary)",
                hidden.cells[t].len(),
                hidden.primary[t]
            );
            layers.insert(id.clone(), Arc::new(layer));
        }
        tracing::info!(
            "suppression of {} aggregate(s) with k = {} in {:.1?}",
            family.len(),
            self.k,
            started.elapsed()
        );
        let answer = layers.get(id).cloned().ok_or_else(ApiError::internal);
        *cache = Some((day, generation, layers));
        answer
    }

    /// Collection `id` as `who` may see it: access checked, then records,
    /// personal fields and aggregates as the role's rights say.
    pub fn readable(&self, who: &Principal, id: &str) -> Result<Arc<Layer>, ApiError> {
        let analysis = read(&self.analyses).get(id).cloned();
        let (access, layer) = match (self.layers.get(id), &analysis) {
            (Some(l), _) => (l.meta.access.clone(), Some(l.clone())),
            (None, Some(a)) => (Self::analysis_access(a), None),
            (None, None) => return Err(ApiError::not_found(format!("no collection '{id}'"))),
        };
        match decide(who, &access) {
            Decision::Allow => {}
            Decision::NeedsToken => {
                return Err(ApiError::unauthorized(format!(
                    "collection '{id}' needs a bearer token"
                )))
            }
            Decision::Forbidden => {
                return Err(ApiError::forbidden(format!(
                    "role '{}' may not read collection '{id}'",
                    who.role
                )))
            }
        }
        let base = match (layer, &analysis) {
            (Some(l), _) => l,
            (None, Some(a)) => self.analysis_result(a)?,
            (None, None) => return Err(ApiError::not_found(format!("no collection '{id}'"))),
        };
        let role = &who.role;
        match &base.meta.privacy {
            Privacy::Open => Ok(base),
            Privacy::Aggregate { .. } if role.exact_aggregates => Ok(base),
            Privacy::Aggregate { .. } => self.suppressed_layer(id),
            Privacy::Individuals { .. } | Privacy::Derived { .. } => {
                let day = chiiki_core::clock::today();
                let generation = self.generation.load(Ordering::SeqCst);
                let granted = analysis
                    .as_ref()
                    .is_some_and(|a| a.roles.contains(&role.name));
                let view = self
                    .views
                    .get_or_build(id, &role.name, day, generation, || {
                        chiiki_policy::privacy::individual_view(
                            &base,
                            role,
                            granted,
                            day,
                            &self.pseudonym_key,
                        )
                    })?;
                Ok(view)
            }
        }
    }

    /// Collections `who` may read, as the role sees them, in id order.
    pub fn visible(&self, who: &Principal) -> Vec<Arc<Layer>> {
        let mut ids: Vec<String> = self.layers.keys().cloned().collect();
        ids.extend(read(&self.analyses).keys().cloned());
        ids.sort();
        ids.dedup();
        ids.iter()
            .filter_map(|id| self.readable(who, id).ok())
            .collect()
    }

    /// Logs a response carrying personal data; the response must not be sent
    /// unless this succeeds.
    pub fn audit(
        &self,
        who: &Principal,
        request: String,
        layer: &Layer,
        rows: &[u32],
    ) -> Result<(), ApiError> {
        if !layer.meta.privacy.is_personal() {
            return Ok(());
        }
        let ids: Vec<i64> = rows
            .iter()
            .map(|&r| match &layer.record_ids {
                Some(real) => real[r as usize],
                None => layer.fids[r as usize],
            })
            .collect();
        self.audit
            .record(&chiiki_policy::audit::Disclosure {
                token: who.token_id.as_deref(),
                role: &who.role.name,
                request,
                collection: &layer.meta.id,
                population: layer.meta.privacy.population().unwrap_or_default(),
                ids: &ids,
            })
            .map_err(ApiError::from)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
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
            .map_err(ApiError::from)
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
    let mut router = Router::new()
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
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                code: "MethodNotAllowed",
                description: "this resource does not answer that method".into(),
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(limits::drain_limit(
            state.limits.max_body_bytes,
        )))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::guard,
        ));
    // Browsers may call from other origins only when the config names them.
    if !state.server.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = state
            .server
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                ApiError::internal().into_response()
            },
        ))
        .with_state(state)
}

/// Runs `f` on the blocking pool: selections and analyses must not stall
/// the async workers, and the time-out can then answer while they run.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal())?
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
pub async fn serve(config: &ServiceConfig, layers: Vec<Layer>) -> Result<(), StartError> {
    let state = Arc::new(AppState::new(config, layers)?);
    // Saved analyses (and their suppressed versions) are computed before the
    // first request asks.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        let analyses = read(&warm.analyses).clone();
        for a in analyses.values() {
            let _ = warm.analysis_result(a);
        }
        if let Some(a) = analyses.values().find(|a| warm.served_suppressed(a)) {
            let _ = warm.suppressed_layer(&a.id);
        }
    });
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(
        "serving {} collection(s) at http://{addr}/",
        state.layers.len()
    );
    println!("chiiki is serving at http://{addr}/  (Ctrl-C to stop)");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(StartError::Serve)
}
