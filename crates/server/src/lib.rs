//! The HTTP service: OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0),
//! Part 2 (CRS) and Part 3 (CQL2-text filters) over the layers in the data
//! directory and the saved analyses of the config, each a collection.
//!
//! Every request goes the same way: limits and authentication, then the
//! caller's rate ([`limits::guard`], [`Caller`]) → find the collection, check access and take the role's view
//! of it ([`AppState::readable`]: records, personal fields, perturbed
//! aggregates; a collection the caller may not read answers 404 like a
//! missing one) → parse parameters against that view → select rows → log
//! to the audit trail if personal data or counts of people leave → write,
//! with `Cache-Control: no-store` on anything about people, validators
//! (`ETag`, `Last-Modified`) on open data ([`cache`]), compressed (gzip or
//! br) when over 1 KiB, and logged ([`access`]).

pub mod access;
mod analyses;
pub use analyses::{saved_dir as saved_analyses_dir, ANALYSIS_PREFIX};
mod cache;
mod error;
mod health;
pub mod history;
pub mod html;
pub mod items;
pub mod limits;
mod meta;
mod mvt_writer;
pub mod notifications;
pub mod occupancy;
mod openapi;
pub mod reload;
pub mod settings;
pub mod source;
#[cfg(test)]
mod tests;
pub mod tiles;
mod vector_tile;
pub mod web;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

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
use chiiki_policy::audit::AuditPlace;
use chiiki_policy::auth::tokens::TokenPlace;
use chiiki_policy::auth::{decide, Decision, Principal, TokenStore};
use chiiki_policy::privacy::KeyPlace;

/// Shared state of a running service: what lives as long as the process
/// (tokens, the audit log, limits) and the data it serves now.
pub struct AppState {
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub tokens: TokenStore,
    /// The perturbation table for aggregates served to roles below exact.
    pub ptable: chiiki_policy::privacy::perturbation::PTable,
    pub data_dir: std::path::PathBuf,
    pub audit: chiiki_policy::audit::AuditLog,
    /// The key of the pseudonyms in views of people, read once at start-up.
    pub pseudonym_key: chiiki_policy::privacy::PseudonymKey,
    pub rate: limits::RateLimiter,
    /// Where links point: the configured public URL, else the address the
    /// service is bound to; never a request's `Host`.
    base_url: std::sync::OnceLock<String>,
    /// The data served now; a reload builds the next beside it and swaps.
    data: RwLock<Arc<Data>>,
    /// What the data is read from, and the config that shapes it, for reloads.
    reload: reload::Source,
    /// The registry's history, for `as_of` and `changes_since`.
    history: Option<Arc<dyn history::ResidentHistory>>,
    /// The cap on work running on the blocking threads ([`limits::BlockingPool`]).
    pub blocking: limits::BlockingPool,
    /// Encoded vector tiles of open layers ([`tiles::TileCache`]).
    pub tiles: tiles::TileCache,
    /// Set while the saved analyses are computed at start-up: until then a
    /// first request may wait for them, and `/ready` says not yet.
    pub warming: std::sync::atomic::AtomicBool,
    /// Live shelter occupancy ([`occupancy`]).
    pub occupancy: occupancy::Occupancy,
    /// The state shared with the other processes serving the same store
    /// (PostGIS): tokens, saved analyses and the audit log live there
    /// instead of the data directory.
    shared: Option<Arc<chiiki_store::StateStore>>,
}

/// One generation of the data: the layers, the saved analyses and all that
/// is derived from them (results, views, perturbed aggregates). A request
/// is answered wholly from the generation it started on; a reload builds
/// the next one beside it and swaps, and the old one is freed when its last
/// request ends.
pub struct Data {
    /// Counts generations from 1 at start-up.
    pub number: u64,
    /// RFC 3339 time the generation was loaded.
    pub loaded_at: String,
    /// Layers by id, with the config's access policy applied.
    pub layers: BTreeMap<String, Arc<Layer>>,
    /// Saved analyses by id (the config's, then those POSTed and kept in
    /// `<data>/analyses/`), served as collections.
    pub analyses: RwLock<BTreeMap<String, Analysis>>,
    /// Analysis results by id, for the reference date they were computed on.
    results: Mutex<BTreeMap<String, Dated<Computed>>>,
    /// Aggregates of people as roles below exact aggregates read them.
    perturbed: Mutex<BTreeMap<String, Dated<Arc<Layer>>>>,
    /// Each population's record keys, by person id.
    record_keys: Mutex<BTreeMap<String, Arc<std::collections::HashMap<i64, u8>>>>,
    /// What each role may see of each collection of people (by collection
    /// and role), per day.
    views: chiiki_policy::privacy::ViewCache,
    /// Bumped when an analysis is saved: views are rebuilt.
    saves: AtomicU64,
    /// The day this data shows: `None` for today (the served generation),
    /// a past day for a dated copy (`as_of`).
    day: Option<NaiveDate>,
    /// Dated copies of this generation, by day (a few, the latest asked).
    dated: Mutex<Vec<(NaiveDate, Arc<Data>)>>,
    /// Copies with a saved question asked with other values, by the
    /// definition's hash (a few, the latest asked).
    asked: Mutex<Vec<(String, Arc<Data>)>>,
}

/// How many dated copies of a generation are kept.
const DATED_KEPT: usize = 4;

/// How many copies with other parameter values a generation keeps.
const ASKED_KEPT: usize = 8;

/// Something computed for a reference date and a generation of analyses.
type Dated<T> = (NaiveDate, u64, T);

/// An analysis result, with what perturbation needs of aggregates of people.
#[derive(Clone)]
struct Computed {
    layer: Arc<Layer>,
    aggregate: Option<Arc<AggregateOutcome>>,
    /// SHA-256 of the definition, for the audit trail.
    definition: String,
}

/// The SHA-256 of an analysis's definition as saved (its JSON).
pub fn definition_hash(a: &Analysis) -> String {
    let json = serde_json::to_vec(a).unwrap_or_default();
    chiiki_policy::auth::sha256_hex(&String::from_utf8_lossy(&json))
}

/// Layers by id.
type Layers = BTreeMap<String, Arc<Layer>>;

/// Layers by id with the config's access policy applied, and the saved
/// analyses (the config's, read as admin, and those POSTed earlier).
fn assemble(
    config: &ServiceConfig,
    layers: Vec<Layer>,
    saved: Vec<Analysis>,
    roles: &chiiki_policy::auth::Roles,
) -> Result<(Layers, BTreeMap<String, Analysis>), StartError> {
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
    // The config's analyses are the operator's: they read as admin.
    let configured = config.analyses.iter().cloned().map(|mut a| {
        a.saved_by = Some(chiiki_analysis::SavedBy {
            role: "admin".into(),
            token: Some("config".into()),
            at: None,
        });
        a
    });
    let analyses: BTreeMap<String, Analysis> =
        configured.chain(saved).map(|a| (a.id.clone(), a)).collect();
    for a in analyses.values() {
        analyses::check_roles(roles, a).map_err(|e| StartError::Analysis {
            id: a.id.clone(),
            message: e.description,
        })?;
        a.check_parameters().map_err(|e| StartError::Analysis {
            id: a.id.clone(),
            message: e.to_string(),
        })?;
    }
    Ok((by_id, analyses))
}

impl Data {
    fn new(
        number: u64,
        layers: BTreeMap<String, Arc<Layer>>,
        analyses: BTreeMap<String, Analysis>,
    ) -> Data {
        Data {
            number,
            loaded_at: chiiki_core::clock::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            layers,
            analyses: RwLock::new(analyses),
            results: Default::default(),
            perturbed: Default::default(),
            record_keys: Default::default(),
            views: Default::default(),
            saves: AtomicU64::new(0),
            day: None,
            dated: Default::default(),
            asked: Default::default(),
        }
    }

    /// The day ages are counted on and people are registered on: today,
    /// or the day of a dated copy.
    pub fn day(&self) -> NaiveDate {
        self.day.unwrap_or_else(chiiki_core::clock::today)
    }

    fn saves(&self) -> u64 {
        self.saves.load(Ordering::SeqCst)
    }

    /// Forgets derived views after the set of analyses changed.
    pub(crate) fn analyses_changed(&self) {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.views.clear();
    }
}

impl AppState {
    /// A service over `layers`, read from `store` (where reloads read them
    /// again).
    pub fn new(
        config: &ServiceConfig,
        layers: Vec<Layer>,
        store: Arc<dyn chiiki_store::LayerStore + Send + Sync>,
    ) -> Result<AppState, StartError> {
        let roles = config.roles.clone();
        let shared = store.state();
        let saved = analyses::load_saved(&config.data_dir, shared.as_deref());
        let (layers, analyses) = assemble(config, layers, saved, &roles)?;
        let (token_place, audit_place, key_place) = match &shared {
            Some(s) => (
                TokenPlace::Database(s.clone()),
                AuditPlace::Database(s.clone()),
                KeyPlace::Database(s.clone()),
            ),
            None => (
                TokenPlace::File(config.token_file()),
                AuditPlace::File(config.audit_path()),
                KeyPlace::File(config.pseudonym_key_path()),
            ),
        };
        Ok(AppState {
            server: config.server.clone(),
            limits: config.limits.clone(),
            tokens: TokenStore::at(roles, &config.tokens, Some(token_place))
                .map_err(StartError::Tokens)?,
            ptable: chiiki_policy::privacy::perturbation::PTable::new(config.privacy.k),
            data_dir: config.data_dir.clone(),
            audit: chiiki_policy::audit::AuditLog::at(&audit_place, config.audit.fsync)
                .map_err(StartError::Audit)?,
            pseudonym_key: chiiki_policy::privacy::PseudonymKey::open_at(&key_place)
                .map_err(StartError::PseudonymKey)?,
            rate: limits::RateLimiter::new(config.limits.requests_per_minute),
            base_url: Default::default(),
            data: RwLock::new(Arc::new(Data::new(1, layers, analyses))),
            reload: reload::Source::new(config.clone(), store),
            history: None,
            blocking: limits::BlockingPool::from_limits(&config.limits),
            tiles: tiles::TileCache::new(tiles::TILE_CACHE_BYTES),
            warming: std::sync::atomic::AtomicBool::new(false),
            occupancy: occupancy::Occupancy::open(
                &occupancy::history_path(&config.data_dir),
                config.audit.fsync,
            )
            .map_err(|e| {
                StartError::Serve(std::io::Error::other(format!(
                    "the shelter occupancy history: {e}"
                )))
            })?,
            shared,
        })
    }

    /// Serves `as_of` and `changes_since` from `history`.
    pub fn with_history(mut self, history: Arc<dyn history::ResidentHistory>) -> AppState {
        self.history = Some(history);
        self
    }

    /// Who changed after `since` up to `until`, by feature id.
    pub(crate) fn changes(
        &self,
        since: NaiveDate,
        until: NaiveDate,
    ) -> Result<std::collections::HashMap<i64, history::Change>, ApiError> {
        let Some(history) = &self.history else {
            return Err(ApiError::bad_request(
                "changes_since needs the registry's history, which this service does not have",
            ));
        };
        Ok(history
            .changes(since, until)
            .map_err(|e| {
                tracing::error!("changes from {since} to {until}: {e}");
                ApiError::internal()
            })?
            .into_iter()
            .collect())
    }

    /// `data` as it was on `date`: the residents layer of that day (from
    /// the registry's history), ages counted on it, everything else as
    /// served. Kept for a few days per generation.
    pub fn dated(&self, data: &Arc<Data>, date: NaiveDate) -> Result<Arc<Data>, ApiError> {
        if date == data.day() {
            return Ok(data.clone());
        }
        if date > chiiki_core::clock::today() {
            return Err(ApiError::bad_request(format!(
                "as_of={date} is in the future"
            )));
        }
        let Some(history) = &self.history else {
            return Err(ApiError::bad_request(
                "as_of needs the registry's history, which this service does not have",
            ));
        };
        if let Some((_, d)) = lock(&data.dated).iter().find(|(d, _)| *d == date) {
            return Ok(d.clone());
        }
        let id = history.layer_id();
        let Some(current) = data.layers.get(id) else {
            return Err(ApiError::not_found(format!("no collection '{id}'")));
        };
        let started = std::time::Instant::now();
        let mut then = history.residents_on(date).map_err(|e| {
            tracing::error!("the residents on {date}: {e}");
            ApiError::internal()
        })?;
        // The same policy as the served layer: who may read it, what is personal.
        then.meta.access = current.meta.access.clone();
        then.meta.privacy = current.meta.privacy.clone();
        then.meta.labels = current.meta.labels.clone();
        then.meta.id = id.to_string();
        let mut layers = data.layers.clone();
        layers.insert(id.to_string(), Arc::new(then));
        let mut dated = Data::new(data.number, layers, read(&data.analyses).clone());
        dated.day = Some(date);
        dated.loaded_at = data.loaded_at.clone();
        let dated = Arc::new(dated);
        tracing::info!(
            "generation {} as of {date}: {} residents in {:.1?}",
            data.number,
            dated.layers[id].len(),
            started.elapsed()
        );
        let mut kept = lock(&data.dated);
        kept.push((date, dated.clone()));
        if kept.len() > DATED_KEPT {
            kept.remove(0);
        }
        Ok(dated)
    }

    /// `data` with saved question `id` asked with `values` (its
    /// parameters, `(name, value)` as the request wrote them): a copy in
    /// which `id` is that definition, so its answer goes through the same
    /// views, perturbation and audit as the saved one. Kept for a few
    /// values per generation and day.
    pub fn asked(
        &self,
        data: &Arc<Data>,
        id: &str,
        values: &[(String, String)],
    ) -> Result<Arc<Data>, ApiError> {
        if values.is_empty() {
            return Ok(data.clone());
        }
        let Some(saved) = read(&data.analyses).get(id).cloned() else {
            return Err(ApiError::bad_request(format!(
                "param.*: '{id}' is a layer; only saved questions (analyses) take parameters"
            )));
        };
        let bad = |e: chiiki_analysis::AnalysisError| ApiError::bad_request(e.to_string());
        let asked = saved.with_values(values).map_err(bad)?;
        let key = definition_hash(&asked);
        if key == definition_hash(&saved.with_values(&[]).map_err(bad)?) {
            return Ok(data.clone());
        }
        if let Some((_, d)) = lock(&data.asked).iter().find(|(k, _)| *k == key) {
            return Ok(d.clone());
        }
        let mut analyses = read(&data.analyses).clone();
        analyses.insert(id.to_string(), asked);
        let mut copy = Data::new(data.number, data.layers.clone(), analyses);
        copy.day = data.day;
        copy.loaded_at = data.loaded_at.clone();
        let copy = Arc::new(copy);
        let mut kept = lock(&data.asked);
        kept.push((key, copy.clone()));
        if kept.len() > ASKED_KEPT {
            kept.remove(0);
        }
        Ok(copy)
    }

    /// The data served now.
    pub fn data(&self) -> Arc<Data> {
        read(&self.data).clone()
    }

    /// Runs analyses on `day`, each reading its inputs through its
    /// author's view (`views`).
    fn sources<'a>(
        &'a self,
        data: &'a Data,
        analyses: &'a BTreeMap<String, Analysis>,
        day: NaiveDate,
        views: &'a chiiki_policy::privacy::AuthorViews<'a>,
    ) -> Sources<'a> {
        Sources {
            layers: &data.layers,
            analyses,
            data_dir: &self.data_dir,
            as_of: day,
            view: views,
        }
    }

    /// The views analyses' authors read their inputs through, on `day`.
    fn author_views<'a>(
        &'a self,
        data: &'a Data,
        day: NaiveDate,
    ) -> chiiki_policy::privacy::AuthorViews<'a> {
        chiiki_policy::privacy::AuthorViews {
            roles: self.tokens.roles(),
            as_of: day,
            key: &self.pseudonym_key,
            cache: Some((&data.views, data.saves())),
        }
    }

    /// Runs `candidate` (not yet saved) beside the saved analyses, as a
    /// POST does before saving: its answer, or why it cannot be computed.
    pub(crate) fn try_run(&self, data: &Data, candidate: &Analysis) -> Result<Layer, ApiError> {
        let mut analyses = read(&data.analyses).clone();
        analyses.insert(candidate.id.clone(), candidate.clone());
        let day = data.day();
        let views = self.author_views(data, day);
        Ok(self.sources(data, &analyses, day, &views).run(candidate)?)
    }

    /// The result of analysis `a` on today's date, computed once a day and
    /// generation. Computing it over people is audited: who saved it, its
    /// definition, and every person it read (as keyed hashes).
    fn computed(&self, data: &Data, a: &Analysis) -> Result<Computed, ApiError> {
        let day = data.day();
        let generation = data.number;
        // Saving another analysis cannot change this one's answer: results
        // are kept for the day, so a busy day does not recompute (and
        // re-log) every analysis after each save.
        if let Some((d, _, c)) = lock(&data.results).get(&a.id) {
            if *d == day {
                return Ok(c.clone());
            }
        }
        let analyses = read(&data.analyses).clone();
        let started = std::time::Instant::now();
        let views = self.author_views(data, day);
        let outcome = self
            .sources(data, &analyses, day, &views)
            .run_detailed(a)
            .map_err(|e| {
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
            definition: definition_hash(a),
        };
        self.audit_computation(a, &computed, day, generation)?;
        lock(&data.results).insert(a.id.clone(), (day, generation, computed.clone()));
        Ok(computed)
    }

    /// Logs that analysis `a` read people: the people it counted or listed.
    fn audit_computation(
        &self,
        a: &Analysis,
        c: &Computed,
        day: NaiveDate,
        generation: u64,
    ) -> Result<(), ApiError> {
        let Some(population) = c.layer.meta.privacy.population() else {
            return Ok(());
        };
        let ids: Vec<i64> = match (&c.aggregate, &c.layer.meta.privacy) {
            (Some(agg), _) => agg.table.table.records.iter().map(|r| r.0).collect(),
            (None, Privacy::Individuals { .. }) => c
                .layer
                .record_ids
                .clone()
                .unwrap_or_else(|| c.layer.fids.clone()),
            // Features derived from people (pipes near 要支援者): the people
            // are not listed, the definition is.
            _ => Vec::new(),
        };
        let saved_by = a.saved_by.as_ref();
        self.audit
            .record(&chiiki_policy::audit::Disclosure {
                token: saved_by.and_then(|s| s.token.as_deref()),
                role: a.author(),
                request: format!(
                    "COMPUTE analysis {} (definition sha256:{}, generation {generation}, as of {day})",
                    a.id,
                    &c.definition[..16]
                ),
                collection: &a.id,
                population,
                ids: &ids,
            })
            .map_err(ApiError::from)
    }

    pub(crate) fn analysis_result(
        &self,
        data: &Data,
        a: &Analysis,
    ) -> Result<Arc<Layer>, ApiError> {
        Ok(self.computed(data, a)?.layer)
    }

    pub(crate) fn analysis_access(a: &Analysis) -> chiiki_core::layers::Access {
        chiiki_core::layers::Access {
            public: a.public,
            roles: a.roles.clone(),
        }
    }

    /// Whether some role that reads perturbed aggregates may read `a`.
    fn served_perturbed(&self, a: &Analysis) -> bool {
        a.public
            || a.roles
                .iter()
                .any(|r| self.tokens.roles().get(r).is_some_and(|d| d.perturbed()))
    }

    /// The record keys of `population`: its `record_key` column where it
    /// has one (the registry's), else keyed hashes of the ids (a layer of
    /// people imported from elsewhere), fixed as long as the service key is.
    fn record_keys(
        &self,
        data: &Data,
        population: &str,
    ) -> Arc<std::collections::HashMap<i64, u8>> {
        if let Some(keys) = lock(&data.record_keys).get(population) {
            return keys.clone();
        }
        let mut keys = std::collections::HashMap::new();
        if let Some(layer) = data.layers.get(population) {
            let column = layer
                .column(chiiki_core::sensitivity::RECORD_KEY_COLUMN)
                .map(|(_, c)| c);
            for (row, &fid) in layer.fids.iter().enumerate() {
                let key = match column.map(|c| c.get(row)) {
                    Some(chiiki_core::layers::Value::Integer(k)) => k as u8,
                    _ => {
                        let h = chiiki_policy::audit::hash_id(self.audit.key(), population, fid);
                        u8::from_str_radix(&h[..2], 16).unwrap_or(0)
                    }
                };
                keys.insert(fid, key);
            }
        }
        let keys = Arc::new(keys);
        lock(&data.record_keys).insert(population.to_string(), keys.clone());
        keys
    }

    /// Aggregate `id` as roles below exact aggregates read it: every count
    /// perturbed by the cell-key method, shares from perturbed counts,
    /// magnitudes withheld; then its `having` on those values.
    fn perturbed_layer(&self, data: &Data, a: &Analysis) -> Result<Arc<Layer>, ApiError> {
        let day = data.day();
        let generation = data.number;
        if let Some((d, _, layer)) = lock(&data.perturbed).get(&a.id) {
            if *d == day {
                return Ok(layer.clone());
            }
        }
        let computed = self.computed(data, a)?;
        let Some(outcome) = computed.aggregate else {
            return Ok(computed.layer);
        };
        let started = std::time::Instant::now();
        let keys = self.record_keys(data, &outcome.table.table.population);
        let record_key = |id: i64| keys.get(&id).copied().unwrap_or(0);
        let values = chiiki_policy::privacy::perturbation::perturb_table(
            &outcome.table.table,
            &self.ptable,
            &record_key,
        );
        tracing::info!(
            "perturbation: '{}': {} cells of {} people in {:.1?}",
            a.id,
            values.len(),
            outcome.table.table.records.len(),
            started.elapsed()
        );
        let analyses = read(&data.analyses).clone();
        let views = self.author_views(data, day);
        let layer = self
            .sources(data, &analyses, day, &views)
            .protected(&outcome, &values)
            .map_err(|e| {
                tracing::error!("perturbing '{}': {e:#}", a.id);
                ApiError::internal()
            })?;
        let layer = Arc::new(layer);
        lock(&data.perturbed).insert(a.id.clone(), (day, generation, layer.clone()));
        Ok(layer)
    }

    /// Collection `id` as `who` may see it: access checked, then records,
    /// personal fields and aggregates as the role's rights say. A
    /// collection the caller may not read is as missing as one that does
    /// not exist: the answer must not tell that it is there.
    pub fn readable(&self, data: &Data, who: &Principal, id: &str) -> Result<Arc<Layer>, ApiError> {
        let missing = || ApiError::not_found(format!("no collection '{id}'"));
        if id == occupancy::COLLECTION {
            if let Some(shelters) = data.layers.get(occupancy::SHELTERS) {
                return Ok(self.occupancy.layer(shelters));
            }
        }
        let analysis = read(&data.analyses).get(id).cloned();
        let (access, layer) = match (data.layers.get(id), &analysis) {
            (Some(l), _) => (l.meta.access.clone(), Some(l.clone())),
            (None, Some(a)) => (Self::analysis_access(a), None),
            (None, None) => return Err(missing()),
        };
        if decide(who, &access) != Decision::Allow {
            return Err(missing());
        }
        let base = match (layer, &analysis) {
            (Some(l), _) => l,
            (None, Some(a)) => self.analysis_result(data, a)?,
            (None, None) => return Err(missing()),
        };
        let role = &who.role;
        match &base.meta.privacy {
            Privacy::Open => Ok(base),
            Privacy::Aggregate { .. } if role.exact_aggregates => Ok(base),
            Privacy::Aggregate { .. } => match &analysis {
                Some(a) => self.perturbed_layer(data, a),
                // A stored layer of counts of people has no record of who
                // was counted: it cannot be perturbed, so it is not served.
                None => Err(missing()),
            },
            Privacy::Individuals { .. } | Privacy::Derived { .. } => {
                let day = data.day();
                let granted = analysis
                    .as_ref()
                    .is_some_and(|a| a.roles.contains(&role.name));
                let view = data
                    .views
                    .get_or_build(id, &role.name, day, data.saves(), || {
                        chiiki_policy::privacy::individual_view(
                            &base,
                            role,
                            granted,
                            day,
                            &self.pseudonym_key,
                        )
                    })
                    .map_err(|_| missing())?;
                Ok(view)
            }
        }
    }

    /// Collections `who` may read, as the role sees them, in id order.
    pub fn visible(&self, data: &Data, who: &Principal) -> Vec<Arc<Layer>> {
        let mut ids: Vec<String> = data.layers.keys().cloned().collect();
        ids.extend(read(&data.analyses).keys().cloned());
        ids.push(occupancy::COLLECTION.to_string());
        ids.sort();
        ids.dedup();
        ids.iter()
            .filter_map(|id| self.readable(data, who, id).ok())
            .collect()
    }

    /// Logs a response carrying personal data or counts of people; the
    /// response must not be sent unless this succeeds. Values the request
    /// compares identifiers against are logged as keyed hashes; an
    /// aggregate names its definition and generation.
    pub fn audit(
        &self,
        data: &Data,
        who: &Principal,
        path: &str,
        raw_query: &str,
        layer: &Layer,
        rows: &[u32],
    ) -> Result<(), ApiError> {
        let query = redact_query(layer, raw_query, self.audit.key());
        let request = if query.is_empty() {
            format!("GET {path}")
        } else {
            format!("GET {path}?{query}")
        };
        self.audit_request(data, who, request, layer, rows)
    }

    /// Logs `request` (already redacted) as a response carrying `rows` of
    /// `layer`: the people listed by their keyed hashes, an aggregate by
    /// its definition and generation.
    pub(crate) fn audit_request(
        &self,
        data: &Data,
        who: &Principal,
        request: String,
        layer: &Layer,
        rows: &[u32],
    ) -> Result<(), ApiError> {
        let (ids, note): (Vec<i64>, String) = match &layer.meta.privacy {
            Privacy::Open => return Ok(()),
            Privacy::Aggregate { .. } => (Vec::new(), definition_note(data, &layer.meta.id)),
            Privacy::Individuals { .. } | Privacy::Derived { .. } => (
                rows.iter()
                    .map(|&r| match &layer.record_ids {
                        Some(real) => real[r as usize],
                        None => layer.fids[r as usize],
                    })
                    .collect(),
                String::new(),
            ),
        };
        self.audit
            .record(&chiiki_policy::audit::Disclosure {
                token: who.token_id.as_deref(),
                role: &who.role.name,
                request: format!("{request}{note}"),
                collection: &layer.meta.id,
                population: layer.meta.privacy.population().unwrap_or_default(),
                ids: &ids,
            })
            .map_err(ApiError::from)
    }
}

/// `" [definition sha256:…, generation N]"` for analysis `id`.
fn definition_note(data: &Data, id: &str) -> String {
    match read(&data.analyses).get(id) {
        Some(a) => format!(
            " [definition sha256:{}, generation {}]",
            &definition_hash(a)[..16],
            data.number
        ),
        None => String::new(),
    }
}

/// A query string fit for the audit log: the values that `filter` and
/// equality parameters compare identifiers (names, ids, addresses, birth
/// dates) against, replaced by keyed hashes, so the log proves what was
/// searched for without holding it.
fn redact_query(layer: &Layer, raw: &str, key: &[u8]) -> String {
    use chiiki_core::sensitivity::Label;
    let hash = |v: &str| format!("#{}", chiiki_policy::audit::hash_value(key, v));
    let personal = |p: &str| layer.label(p) == Label::Identifier;
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let value = match k.as_ref() {
            "filter" => redact_filter(layer, &v, key),
            name if layer.column(name).is_some() && personal(name) => hash(&v),
            _ => v.into_owned(),
        };
        out.append_pair(&k, &value);
    }
    out.finish()
}

/// A CQL2 filter on `layer` fit for the audit log: the values it compares
/// identifiers against replaced by keyed hashes (the whole text when it
/// does not parse).
fn redact_filter(layer: &Layer, text: &str, key: &[u8]) -> String {
    use chiiki_core::sensitivity::Label;
    let hash = |v: &str| format!("#{}", chiiki_policy::audit::hash_value(key, v));
    let personal = |p: &str| layer.label(p) == Label::Identifier;
    match chiiki_query::cql2::parse(text) {
        Ok(e) => chiiki_query::properties::redact(e, &personal, &hash).to_string(),
        Err(_) => hash(text),
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
        // The guard authenticated the request already; a router built
        // without it authenticates here.
        if let Some(limits::Authenticated(who)) = parts.extensions.get() {
            return Ok(Caller(who.clone()));
        }
        authenticate(state, &parts.headers).map(Caller)
    }
}

/// The generation of the data a request is answered from (taken once, at
/// the request's start, by [`with_generation`]).
pub struct Current(pub Arc<Data>);

impl FromRequestParts<SharedState> for Current {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        Ok(Current(
            parts
                .extensions
                .get::<Arc<Data>>()
                .cloned()
                .unwrap_or_else(|| state.data()),
        ))
    }
}

/// Who sent a request with these headers: a token (`Bearer`, or `Basic`
/// with the token as the password), or nobody.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    let header = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?,
        ),
        None => None,
    };
    state.tokens.authenticate(header).map_err(ApiError::from)
}

/// The service's own base URL for links: the configured public URL, else
/// the address it is bound to. Never the request's `Host`: a forged header
/// must not put another site into the links clients follow.
pub struct BaseUrl(pub String);

impl FromRequestParts<SharedState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        Ok(BaseUrl(state.base_url()))
    }
}

impl AppState {
    /// Where links point (see [`BaseUrl`]).
    pub fn base_url(&self) -> String {
        if let Some(url) = &self.server.public_url {
            return url.trim_end_matches('/').to_string();
        }
        self.base_url
            .get()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1".to_string())
    }

    /// Records the address the service is bound to, for links.
    pub fn bound_to(&self, addr: std::net::SocketAddr) {
        let host = if addr.ip().is_unspecified() {
            // Bound to every interface: no one address is right; the
            // loopback one works from this machine, and `public_url` is
            // the setting for the others.
            tracing::warn!(
                "bound to {addr} without server.public_url: links will point to 127.0.0.1"
            );
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let _ = self.base_url.set(format!("http://{host}"));
    }
}

/// Marks a response as carrying personal data or counts of people: it gets
/// `Cache-Control: no-store`, so no shared cache keeps it.
#[derive(Clone, Copy)]
pub(crate) struct AboutPeople;

/// Headers every response gets: `Vary: Authorization` (what is served
/// depends on who asks), and `Cache-Control: no-store` on anything about
/// people.
async fn privacy_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let mut response = next.run(request).await;
    let about_people = response.extensions().get::<AboutPeople>().is_some();
    let unauthorized = response.status() == axum::http::StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    if bearer && unauthorized {
        // A caller that sent a bearer token (the web map's fetches) is not
        // asked for a password: a Basic challenge would make the browser
        // open its own sign-in dialog over the page's.
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"chiiki\""),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Authorization"));
    if about_people {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// Takes the generation of the data a request is answered from, once, at
/// its start: handlers read it from the request's extensions, and the
/// response names it (`Chiiki-Generation`).
async fn with_generation(
    axum::extract::State(state): axum::extract::State<SharedState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let data = state.data();
    let number = data.number;
    request.extensions_mut().insert(data);
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("Chiiki-Generation", HeaderValue::from(number));
    response
}

/// `POST /admin/reload`: admin only. Builds the next generation from the
/// data directory now (the service also notices changes by itself).
async fn admin_reload(
    axum::extract::State(state): axum::extract::State<SharedState>,
    Caller(who): Caller,
) -> Result<axum::response::Response, ApiError> {
    if who.is_anonymous() {
        return Err(ApiError::unauthorized("reloading needs an admin token"));
    }
    if !who.role.admin {
        return Err(ApiError::forbidden(format!(
            "role '{}' may not reload the service's data",
            who.role
        )));
    }
    let reloading = state.clone();
    let result = tokio::task::spawn_blocking(move || reloading.reload())
        .await
        .map_err(|_| ApiError::internal())?;
    match result {
        Ok(generation) => Ok(json_response(
            serde_json::json!({ "generation": generation, "status": "reloaded" }),
            "application/json",
        )),
        Err(why) => Err(ApiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code: "ReloadFailed",
            description: format!(
                "the reload failed; generation {} keeps serving: {why}",
                state.data().number
            ),
        }),
    }
}

/// Marks `response` as about people when `layer` is (`no-store`), else as
/// about an open collection (its request may be logged in full, see
/// [`access`]).
pub(crate) fn mark_people(response: &mut axum::response::Response, layer: &Layer) {
    if layer.meta.privacy != Privacy::Open {
        response.extensions_mut().insert(AboutPeople);
    } else {
        response.extensions_mut().insert(access::OpenCollection);
    }
}

/// Responses at least this large are compressed when the client accepts it.
pub const COMPRESS_ABOVE: u16 = 1024;

pub fn router(state: SharedState) -> Router {
    let mut router = Router::new()
        .route("/", get(meta::landing))
        .route("/map", get(web::map_page))
        .route("/assets/{name}", get(web::assets::serve))
        .route("/session", get(web::session))
        .route("/conformance", get(meta::conformance))
        .route("/api", get(openapi::document))
        .route("/openapi", get(openapi::document))
        .route("/api.html", get(meta::service_doc))
        .route("/signin", get(html::signin))
        .route("/collections", get(meta::collections))
        .route("/collections/{id}", get(meta::collection))
        .route("/collections/{id}/queryables", get(meta::queryables))
        .route("/collections/{id}/items", get(items::items))
        .route("/collections/{id}/tiles", get(tiles::tilesets))
        .route("/collections/{id}/tiles/{tms}", get(tiles::tileset))
        .route(
            "/collections/{id}/tiles/{tms}/{z}/{y}/{x}",
            get(tiles::tile),
        )
        .route("/tileMatrixSets", get(tiles::tile_matrix_sets))
        .route("/tileMatrixSets/{tms}", get(tiles::tile_matrix_set))
        .route("/analyses", get(analyses::list).post(analyses::create))
        .route("/collections/{id}/items/{fid}", get(items::item))
        .route("/admin/reload", axum::routing::post(admin_reload))
        .route(
            "/shelters/{id}/occupancy",
            axum::routing::post(occupancy::post),
        )
        .route("/shelters/{id}/occupancy/history", get(occupancy::history))
        .route("/notifications", axum::routing::post(notifications::post))
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
        ))
        .layer(axum::middleware::from_fn(privacy_headers))
        .layer(axum::middleware::from_fn(html::vary_accept))
        // Probes answer without a token, outside the rate limit and the
        // time-out: a busy service must still say that it is alive.
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            with_generation,
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
        .layer(compression())
        .layer(axum::middleware::from_fn(cache::etag_per_encoding))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                ApiError::internal().into_response()
            },
        ))
        // Outermost: every response is logged, a panic's 500 too, with the
        // bytes as sent (compressed).
        .layer(axum::middleware::from_fn(access::access_log))
        .with_state(state)
}

/// gzip or br, as the client accepts, for responses of at least
/// [`COMPRESS_ABOVE`] bytes and for streamed pages (their size is not
/// known in advance). GDAL and QGIS ask for gzip; a 1,000-point page
/// shrinks about fivefold.
///
/// At the fastest level: serving a page is CPU-bound, and gzip's default
/// level (6) costs about three times as much CPU as level 1 for pages only
/// a fifth smaller (195 KB: 35 KB at level 1, 28 KB at level 6).
fn compression(
) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    tower_http::compression::CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Fastest)
        .no_deflate()
        .no_zstd()
        .compress_when(
            SizeAbove::new(COMPRESS_ABOVE)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        )
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

/// Binds and serves until SIGTERM or SIGINT (Ctrl-C), then stops
/// gracefully: no new connection is accepted, requests under way finish
/// (a streamed page to its last byte) for up to the request time-out and
/// a grace period, and the audit log is forced to disk before returning.
/// Meanwhile the data is reloaded when the directory changes (every
/// `server.watch_seconds`, 0 for never) and when the store announces a
/// change (a database that other processes write to).
pub async fn serve(
    config: &ServiceConfig,
    layers: Vec<Layer>,
    store: Arc<dyn chiiki_store::LayerStore + Send + Sync>,
    history: Option<Arc<dyn history::ResidentHistory>>,
) -> Result<(), StartError> {
    let mut state = AppState::new(config, layers, store)?;
    if let Some(h) = history {
        state = state.with_history(h);
    }
    let state = Arc::new(state);
    // Saved analyses (and their perturbed versions) are computed before the
    // first request asks.
    let warm = state.clone();
    state.warming.store(true, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || {
        /// Clears `warming` however the warm-up ends (a panicking analysis
        /// must not leave the service unready for good).
        struct Done<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        let _done = Done(&warm.warming);
        let started = std::time::Instant::now();
        let data = warm.data();
        warm.warm(&data);
        tracing::info!(
            "{} saved analyses computed in {:.1?}: ready",
            read(&data.analyses).len(),
            started.elapsed()
        );
    });
    state.follow_store();
    if config.server.watch_seconds > 0 {
        let watcher = state.clone();
        let every = std::time::Duration::from_secs(config.server.watch_seconds);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let w = watcher.clone();
                let _ = tokio::task::spawn_blocking(move || w.reload_if_changed()).await;
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    state.bound_to(addr);
    // Signals are caught from here on: one arriving while the server starts
    // stops it as cleanly as one arriving later.
    let stop = shutdown_signal()?;
    tracing::info!(
        "serving {} collection(s) at http://{addr}/",
        state.data().layers.len()
    );
    println!("chiiki is serving at http://{addr}/  (Ctrl-C to stop)");
    let stopping = Arc::new(tokio::sync::Notify::new());
    let told = stopping.clone();
    let server = axum::serve(
        listener,
        router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let signal = stop.await;
        tracing::info!("{signal}: no new connections; finishing the requests under way");
        told.notify_one();
    });
    // A client that stops reading must not hold the stop up forever.
    let grace = Duration::from_secs_f64(state.limits.timeout_seconds.max(0.0)) + DRAIN_GRACE;
    let deadline = async {
        stopping.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served.map_err(StartError::Serve)?,
        () = deadline => tracing::warn!(
            "requests still under way {grace:.0?} after the signal: stopping without them"
        ),
    }
    state.audit.sync().map_err(StartError::Audit)?;
    state.occupancy.sync().map_err(StartError::Serve)?;
    tracing::info!("stopped; the audit log is on disk");
    Ok(())
}

/// Time on top of the request time-out for responses under way to finish
/// after a stop signal (a large page still being read).
const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Resolves with the name of the first of SIGTERM and SIGINT to arrive.
fn shutdown_signal(
) -> Result<impl std::future::Future<Output = &'static str> + Send + 'static, StartError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Signals)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
