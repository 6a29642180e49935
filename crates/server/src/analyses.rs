//! `POST /analyses`: an authorised user saves an analysis, which becomes a
//! collection at once and is kept in `<data>/analyses/<id>.json` across
//! restarts — or, with the PostGIS store, in the database, where the other
//! processes serving it hear of it and serve it too
//! ([`AppState::adopt_saved_analyses`]). `GET /analyses` lists the
//! definitions the caller may read.

use std::path::Path;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, BaseUrl, Caller, SharedState};
use chiiki_analysis::Analysis;
use chiiki_policy::auth::{decide, Decision};
use chiiki_store::StateStore;

/// Where analyses posted to the service are kept with the GeoParquet
/// store: `<data>/analyses/<id>.json`.
pub fn saved_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("analyses")
}

/// The prefix of saved analyses among the shared state's documents
/// (`analysis/<id>`).
pub const ANALYSIS_PREFIX: &str = "analysis/";

/// Analyses saved by earlier POSTs: in the shared state when there is one
/// (the PostGIS store), else in `<data>/analyses/`. Unreadable ones are
/// reported and skipped.
pub fn load_saved(data_dir: &Path, shared: Option<&StateStore>) -> Vec<Analysis> {
    let texts: Vec<(String, Result<Vec<u8>, String>)> = match shared {
        Some(state) => match state.documents(ANALYSIS_PREFIX) {
            Ok(docs) => docs
                .into_iter()
                .map(|(name, body)| (format!("{} {name}", state.url()), Ok(body.into_bytes())))
                .collect(),
            Err(e) => {
                tracing::error!("reading the saved analyses: {e}");
                return Vec::new();
            }
        },
        None => {
            let Ok(entries) = std::fs::read_dir(saved_dir(data_dir)) else {
                return Vec::new();
            };
            let mut paths: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            paths.sort();
            paths
                .into_iter()
                .map(|p| {
                    (
                        p.display().to_string(),
                        std::fs::read(&p).map_err(|e| e.to_string()),
                    )
                })
                .collect()
        }
    };
    texts
        .into_iter()
        .filter_map(|(name, bytes)| {
            let parsed = bytes
                .and_then(|b| serde_json::from_slice::<Analysis>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(a) => {
                    if a.saved_by.is_none() {
                        tracing::warn!(
                            "saved analysis {name} names no author: it reads its inputs as role '{}'",
                            chiiki_analysis::UNKNOWN_AUTHOR
                        );
                    }
                    Some(a)
                }
                Err(e) => {
                    tracing::warn!("skipping saved analysis {name}: {e}");
                    None
                }
            }
        })
        .collect()
}

fn json(status: StatusCode, value: &serde_json::Value, location: Option<String>) -> Response {
    let mut r = (status, value.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(l) = location.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

pub async fn list(super::Current(data): super::Current, Caller(who): Caller) -> Response {
    let analyses = super::read(&data.analyses).clone();
    let readable: Vec<&Analysis> = analyses
        .values()
        .filter(|a| decide(&who, &AppState::analysis_access(a)) == Decision::Allow)
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({ "analyses": readable }),
        None,
    )
}

/// The files an analysis may read: relative paths inside the data directory.
fn check_table_path(analysis: &Analysis) -> Result<(), ApiError> {
    for t in analysis.tables() {
        let inside = t.file.is_relative()
            && t.file
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && t.file.extension().is_some_and(|e| e == "csv");
        if !inside {
            return Err(ApiError::bad_request(
                "table.file and not_in.file must be .csv files inside the data directory, given relative to it",
            ));
        }
    }
    Ok(())
}

pub async fn create(
    State(state): State<SharedState>,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    may_save(&who)?;
    let analysis = read_definition(&state, &who, body)?;
    check_limits(&state, &analysis)?;
    let data = state.data();
    if data.layers.contains_key(&analysis.id)
        || super::read(&data.analyses).contains_key(&analysis.id)
    {
        return Err(conflict(&analysis.id));
    }
    let (features, personal) = dry_run(&state, &analysis).await?;
    let about_people = personal
        || matches!(
            &analysis.operation,
            chiiki_analysis::Operation::Aggregate { .. }
        ) && analysis.inputs().iter().any(|i| reads_people(&data, i, 0));
    // Lists of people go only to the saver's own role (admin may grant
    // them): a planner cannot widen who sees residents by saving a query.
    if personal && !who.role.admin {
        if let Some(other) = analysis.roles.iter().find(|r| **r != who.role.name) {
            return Err(ApiError::forbidden(format!(
                "this analysis lists residents; only admin may grant it to role '{other}'"
            )));
        }
    }
    let id = analysis.id.clone();
    if about_people || personal {
        state.audit.record(&chiiki_policy::audit::Disclosure {
            token: who.token_id.as_deref(),
            role: &who.role.name,
            request: format!(
                "SAVE analysis {id} (definition sha256:{}, granted to [{}]{})",
                &super::definition_hash(&analysis)[..16],
                analysis.roles.join(", "),
                if analysis.public { ", public" } else { "" }
            ),
            collection: &id,
            population: "",
            ids: &[],
        })?;
    }
    save(&state, analysis)?;
    tracing::info!(
        "analysis '{id}' saved by {} ({features} features)",
        who.token_id.as_deref().unwrap_or("?"),
    );
    let location = format!("{base}/collections/{id}");
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "id": id, "features": features, "href": location }),
        Some(location.clone()),
    ))
}

/// Whether `who` may save analyses at all.
fn may_save(who: &chiiki_policy::auth::Principal) -> Result<(), ApiError> {
    if who.is_anonymous() {
        return Err(ApiError::unauthorized(
            "saving an analysis needs a bearer token",
        ));
    }
    if !who.role.save_analyses && !who.role.admin {
        return Err(ApiError::forbidden(format!(
            "role '{}' may not save analyses",
            who.role
        )));
    }
    Ok(())
}

/// The definition in the request body, with an id, roles and tables the
/// caller may give it.
fn read_definition(
    state: &SharedState,
    who: &chiiki_policy::auth::Principal,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Analysis, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            super::limits::too_large(state.limits.max_body_bytes)
        } else {
            ApiError::bad_request(format!("the request body: {e}"))
        }
    })?;
    if body.len() > state.limits.max_body_bytes {
        return Err(super::limits::too_large(state.limits.max_body_bytes));
    }
    let analysis: Analysis = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the analysis: {e}")))?;
    chiiki_store::geoparquet::validate_layer_id(&analysis.id)
        .map_err(|e| ApiError::bad_request(format!("id: {e}")))?;
    let mut analysis = analysis;
    if analysis.public && !who.role.admin {
        return Err(ApiError::forbidden(
            "only admin may make an analysis public",
        ));
    }
    check_roles(state.tokens.roles(), &analysis)?;
    check_table_path(&analysis)?;
    analysis
        .check_parameters()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The author is who saves it, whatever the body says.
    analysis.saved_by = Some(chiiki_analysis::SavedBy {
        role: who.role.name.clone(),
        token: who.token_id.clone(),
        at: Some(chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    });
    Ok(analysis)
}

/// The roles an analysis is granted to: each defined, and never the public
/// role by name (publishing is the `public` flag, admin's alone).
pub(crate) fn check_roles(
    roles: &chiiki_policy::auth::Roles,
    analysis: &Analysis,
) -> Result<(), ApiError> {
    for r in &analysis.roles {
        if r == roles.public().name.as_str() {
            return Err(ApiError::bad_request(format!(
                "roles: '{r}' is the role of callers without a token; only admin publishes, with \"public\": true"
            )));
        }
        roles
            .check(r)
            .map_err(|e| ApiError::bad_request(format!("roles: {e}")))?;
    }
    Ok(())
}

/// Whether input `id` is people or computed from them.
fn reads_people(data: &super::Data, id: &str, depth: usize) -> bool {
    match data.layers.get(id) {
        Some(l) => l.meta.privacy.population().is_some(),
        // An analysis: whether it reads people, recursively (as deep as
        // analyses may nest).
        None => {
            depth < 8
                && super::read(&data.analyses)
                    .get(id)
                    .is_some_and(|a| a.inputs().iter().any(|i| reads_people(data, i, depth + 1)))
        }
    }
}

/// The service's limits on what one analysis may ask: measures, filter
/// length and terms.
fn check_limits(state: &SharedState, analysis: &Analysis) -> Result<(), ApiError> {
    if let chiiki_analysis::Operation::Aggregate { measures, .. } = &analysis.operation {
        if measures.len() > state.limits.max_measures {
            return Err(ApiError::bad_request(format!(
                "{} measures; the limit is {}",
                measures.len(),
                state.limits.max_measures
            )));
        }
    }
    let max_terms = state.limits.max_filter_terms;
    for f in analysis.filters() {
        if f.len() > state.limits.max_query_bytes {
            return Err(ApiError::bad_request(format!(
                "a filter of {} bytes; the limit is {}",
                f.len(),
                state.limits.max_query_bytes
            )));
        }
        if let Ok(expr) = chiiki_query::cql2::parse(f) {
            let n = chiiki_query::count_terms(&expr);
            if n > max_terms {
                return Err(ApiError::bad_request(format!(
                    "a filter has {n} terms; the limit is {max_terms}"
                )));
            }
        }
    }
    Ok(())
}

/// Runs the analysis once, so that a wrong layer, attribute or filter is
/// the caller's 400 now rather than a failing collection later: the number
/// of features, and whether they are people.
async fn dry_run(state: &SharedState, analysis: &Analysis) -> Result<(usize, bool), ApiError> {
    let check = state.clone();
    let candidate = analysis.clone();
    state
        .blocking
        .run(move || {
            check
                .try_run(&check.data(), &candidate)
                .map(|l| (l.len(), l.meta.privacy.is_personal()))
        })
        .await
}

/// Keeps the definition in `<data>/analyses/` and serves it from now on.
/// Two saves of one id race for the lock: the second gets 409 and its file
/// is never written over the first's.
fn save(state: &SharedState, analysis: Analysis) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec_pretty(&analysis).map_err(|_| ApiError::internal())?;
    // Into the generation serving now; a reload under way carries it over.
    let data = state.data();
    {
        let mut analyses = data.analyses.write().unwrap_or_else(|e| e.into_inner());
        if analyses.contains_key(&analysis.id) {
            return Err(conflict(&analysis.id));
        }
        match &state.shared {
            // Committed (and announced to the other processes) before the
            // response; another process's save of the same id came first.
            Some(shared) => {
                let name = format!("{ANALYSIS_PREFIX}{}", analysis.id);
                let body = String::from_utf8_lossy(&bytes);
                if !shared.insert_new(&name, &body).map_err(|e| {
                    tracing::error!("saving analysis '{}': {e}", analysis.id);
                    ApiError::internal()
                })? {
                    return Err(conflict(&analysis.id));
                }
            }
            None => {
                let path = saved_dir(&state.data_dir).join(format!("{}.json", analysis.id));
                chiiki_core::fs::write_atomically(&path, &bytes)?;
            }
        }
        analyses.insert(analysis.id.clone(), analysis);
    }
    data.analyses_changed();
    Ok(())
}

fn conflict(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: "Conflict",
        description: format!("a collection '{id}' exists already"),
    }
}

impl AppState {
    /// Serves the analyses other processes saved to the shared state that
    /// this one does not serve yet, in the generation serving now (as a
    /// save here would); one that does not fit this service's roles is
    /// reported and left out.
    pub(crate) fn adopt_saved_analyses(&self) {
        let Some(shared) = &self.shared else { return };
        let saved = load_saved(&self.data_dir, Some(shared));
        let data = self.data();
        let mut added = Vec::new();
        {
            let mut analyses = data.analyses.write().unwrap_or_else(|e| e.into_inner());
            for a in saved {
                if analyses.contains_key(&a.id) || data.layers.contains_key(&a.id) {
                    continue;
                }
                if let Err(e) = check_roles(self.tokens.roles(), &a) {
                    tracing::error!("saved analysis '{}': {}", a.id, e.description);
                    continue;
                }
                if let Err(e) = a.check_parameters() {
                    tracing::error!("saved analysis '{}': {e}", a.id);
                    continue;
                }
                added.push(a.id.clone());
                analyses.insert(a.id.clone(), a);
            }
        }
        if !added.is_empty() {
            data.analyses_changed();
            tracing::info!("serving analyses saved elsewhere: {}", added.join(", "));
        }
    }
}
