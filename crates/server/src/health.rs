//! Probes for supervisors and load balancers: `/health` (the process
//! answers) and `/ready` (it can serve: data loaded, audit log writable).
//! Neither needs a token, and neither says anything about the data beyond
//! counts of collections.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SharedState;

/// `200 {"status":"ok"}` while the process answers at all.
pub async fn health() -> Response {
    crate::json_response(json!({"status": "ok"}), "application/json")
}

/// `200` when requests can be served, `503` otherwise, with the reasons.
///
/// Ready means: the layers are loaded (the state exists only once they
/// are), the saved analyses computed at start-up are done (a first request
/// would otherwise wait for them, and may time out), and the audit log can
/// be written (no personal answer may leave
/// without its entry, so a service that cannot log cannot serve them). A
/// reload that failed leaves the service on its previous data: still
/// ready, with the failure shown as `last_reload_error`.
pub async fn ready(State(state): State<SharedState>) -> Response {
    let probe = state.clone();
    // File system calls: off the async workers, but not behind the cap on
    // blocking work, which a probe must not wait for.
    let audit = tokio::task::spawn_blocking(move || probe.audit.check_writable())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let mut reasons = Vec::new();
    if let Err(e) = &audit {
        tracing::error!("not ready: the audit log cannot be written: {e}");
        reasons.push("the audit log cannot be written".to_string());
    }
    if state.warming.load(std::sync::atomic::Ordering::SeqCst) {
        reasons.push("computing the saved analyses".to_string());
    }
    let reload_error = state.last_reload_error();
    let data = state.data();
    let ok = reasons.is_empty();
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "reasons": reasons,
        "generation": data.number,
        "loaded_at": data.loaded_at,
        "collections": data.layers.len() + crate::read(&data.analyses).len(),
        "audit_log_writable": audit.is_ok(),
        "blocking_slots": {"size": state.blocking.size(), "in_use": state.blocking.in_use()},
        "last_reload_error": reload_error,
    });
    let mut response = crate::json_response(body, "application/json");
    if !ok {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response.into_response()
}
