//! `POST /analyses`: an authorised user saves an analysis, which becomes a
//! collection at once and is kept in `<data>/analyses/<id>.json` across
//! restarts. `GET /analyses` lists the definitions the caller may read.

use std::path::Path;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, BaseUrl, Caller, SharedState};
use crate::auth::{decide, Decision, Role};
use crate::query::analysis::Analysis;

fn dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("analyses")
}

/// Analyses saved by earlier POSTs; unreadable files are reported and skipped.
pub fn load_saved(data_dir: &Path) -> Vec<Analysis> {
    let Ok(entries) = std::fs::read_dir(dir(data_dir)) else {
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
        .filter_map(|p| {
            let parsed = std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Analysis>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!("skipping saved analysis {}: {e}", p.display());
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

pub async fn list(State(state): State<SharedState>, Caller(who): Caller) -> Response {
    let analyses = state.analyses.read().expect("analyses lock").clone();
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

pub async fn create(
    State(state): State<SharedState>,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    match who.role {
        Role::Admin | Role::Planner => {}
        Role::Public if who.token_name.is_none() => {
            return Err(ApiError::unauthorized(
                "saving an analysis needs a bearer token",
            ))
        }
        role => {
            return Err(ApiError::forbidden(format!(
                "role '{role}' may not save analyses (admin, planner)"
            )))
        }
    }
    let analysis: Analysis = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the analysis: {e}")))?;
    crate::layers::store::validate_layer_id(&analysis.id)
        .map_err(|e| ApiError::bad_request(format!("id: {e:#}")))?;
    if analysis.public && who.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only admin may make an analysis public",
        ));
    }
    if let Some(bad) = analysis.roles.iter().find(|r| Role::parse(r).is_none()) {
        return Err(ApiError::bad_request(format!(
            "roles: unknown role '{bad}' (admin, planner, health, analyst, public)"
        )));
    }
    if state.layers.contains_key(&analysis.id)
        || state
            .analyses
            .read()
            .expect("analyses lock")
            .contains_key(&analysis.id)
    {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "Conflict",
            description: format!("a collection '{}' exists already", analysis.id),
        });
    }
    // Run it once: a wrong layer, attribute or filter is the caller's 400.
    let check = state.clone();
    let candidate = analysis.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut analyses = check.analyses.read().expect("analyses lock").clone();
        analyses.insert(candidate.id.clone(), candidate.clone());
        crate::query::analysis::Sources {
            layers: &check.layers,
            analyses: &analyses,
            data_dir: &check.data_dir,
            as_of: crate::query::analysis::today(),
        }
        .run(&candidate)
        .map(|l| l.len())
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let features = result.map_err(|e| ApiError::bad_request(format!("{e:#}")))?;

    let path = dir(&state.data_dir).join(format!("{}.json", analysis.id));
    let bytes = serde_json::to_vec_pretty(&analysis).map_err(|_| ApiError::internal())?;
    crate::demo::write_atomically(&path, &bytes).map_err(|e| {
        tracing::error!("saving {}: {e:#}", path.display());
        ApiError::internal()
    })?;
    tracing::info!(
        "analysis '{}' saved by {} ({} features)",
        analysis.id,
        who.token_name.as_deref().unwrap_or("?"),
        features
    );
    let id = analysis.id.clone();
    state
        .analyses
        .write()
        .expect("analyses lock")
        .insert(id.clone(), analysis);
    let location = format!("{base}/collections/{id}");
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "id": id, "features": features, "href": location }),
        Some(location.clone()),
    ))
}
