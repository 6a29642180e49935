//! Errors as OGC API clients expect them: an HTTP status and a small JSON body
//! with `code` and `description`. Never a stack trace or an internal path.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
}

impl ApiError {
    pub fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameterValue",
            description: description.into(),
        }
    }

    pub fn unknown_parameter(name: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameter",
            description: format!("unknown query parameter '{name}'"),
        }
    }

    pub fn not_found(description: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            description: description.into(),
        }
    }

    pub fn unauthorized(description: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "Unauthorized",
            description: description.into(),
        }
    }

    pub fn forbidden(description: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "Forbidden",
            description: description.into(),
        }
    }

    pub fn not_acceptable(description: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_ACCEPTABLE,
            code: "NotAcceptable",
            description: description.into(),
        }
    }

    pub fn internal() -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServerError",
            description: "the server could not complete the request".into(),
        }
    }
}

/// What a 503 (busy, timed out) asks the client to wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 2;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.code,
            "description": self.description,
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            // Desktop GIS clients offer a user name and password: the
            // token goes in as the password, any user name.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chiiki\""),
            );
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"chiiki\", charset=\"UTF-8\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

// What each floor's errors mean to an HTTP client: the one place where error
// kinds become statuses. Messages of the floors below never hold the
// server's own paths; errors that are the service's fault are logged in
// full and answered with a plain 500.

impl From<chiiki_query::ParseError> for ApiError {
    fn from(e: chiiki_query::ParseError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<chiiki_analysis::AnalysisError> for ApiError {
    fn from(e: chiiki_analysis::AnalysisError) -> ApiError {
        if e.is_definition_error() {
            ApiError::bad_request(e.to_string())
        } else {
            tracing::error!("analysis: {e}");
            ApiError::internal()
        }
    }
}

impl From<chiiki_analysis::area::AreaError> for ApiError {
    fn from(e: chiiki_analysis::area::AreaError) -> ApiError {
        // Always the request's: a polygon, a mesh code or an area that
        // picks no polygon, named by its field.
        ApiError::bad_request(e.to_string())
    }
}

impl From<chiiki_store::StoreError> for ApiError {
    fn from(e: chiiki_store::StoreError) -> ApiError {
        use chiiki_store::StoreError;
        match e {
            StoreError::NotFound(id) => ApiError::not_found(format!("no collection '{id}'")),
            StoreError::InvalidId(_) => ApiError::bad_request(e.to_string()),
            other => {
                tracing::error!("store: {other}");
                ApiError::internal()
            }
        }
    }
}

impl From<chiiki_policy::privacy::Refusal> for ApiError {
    fn from(e: chiiki_policy::privacy::Refusal) -> ApiError {
        ApiError::forbidden(e.to_string())
    }
}

impl From<chiiki_policy::auth::TokenError> for ApiError {
    fn from(e: chiiki_policy::auth::TokenError) -> ApiError {
        ApiError::unauthorized(e.to_string())
    }
}

impl From<chiiki_policy::PolicyError> for ApiError {
    fn from(e: chiiki_policy::PolicyError) -> ApiError {
        // A policy failure while answering (the audit log cannot be written)
        // is the service's: nothing personal may leave without its record.
        tracing::error!("policy: {e}");
        ApiError::internal()
    }
}

impl From<chiiki_core::fs::WriteError> for ApiError {
    fn from(e: chiiki_core::fs::WriteError) -> ApiError {
        tracing::error!("{e}");
        ApiError::internal()
    }
}

/// Why the service could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("layer '{0}' holds personal data and cannot be public")]
    PersonalLayerPublic(String),
    #[error("analysis '{id}': {message}")]
    Analysis { id: String, message: String },
    #[error("the audit log: {0}")]
    Audit(#[source] chiiki_policy::PolicyError),
    #[error("the access tokens: {0}")]
    Tokens(#[source] chiiki_policy::PolicyError),
    #[error("the pseudonym key: {0}")]
    PseudonymKey(#[source] chiiki_policy::PolicyError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error("listening for SIGTERM and SIGINT: {0}")]
    Signals(#[source] std::io::Error),
}
