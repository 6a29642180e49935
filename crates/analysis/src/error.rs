//! What can go wrong running an analysis. Each variant names the layer,
//! attribute or file it concerns; none holds the server's own paths, so the
//! service can show the message to the caller as it is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("no layer or analysis '{0}'")]
    UnknownInput(String),
    #[error("analysis '{0}': inputs nested too deeply")]
    TooDeep(String),
    #[error("layer '{layer}': {source}")]
    Filter {
        layer: String,
        #[source]
        source: chiiki_query::ParseError,
    },
    #[error("'{layer}' has no attribute '{attribute}'")]
    NoAttribute { layer: String, attribute: String },
    /// The definition asks for something the inputs cannot give.
    #[error("{0}")]
    Definition(String),
    /// A measure asks for what would disclose people (a sum of 住民票コード,
    /// a filter on names): refused, naming the measure.
    #[error("measure '{measure}': {reason}")]
    Measure { measure: String, reason: String },
    /// The author may not read an input (or not as records): for the
    /// analysis, it does not exist.
    #[error("input '{input}': {reason}")]
    NotReadable { input: String, reason: String },
    /// An id table (vaccinations by 住民票コード), by the file name the
    /// definition gives, with line and field where there is one.
    #[error("{}{}{}: {message}", file.display(), line.map(|l| format!(": line {l}")).unwrap_or_default(), field.as_ref().map(|f| format!(": field '{f}'")).unwrap_or_default())]
    Table {
        file: PathBuf,
        line: Option<u64>,
        field: Option<String>,
        message: String,
    },
    /// A broken invariant (a value of the wrong type for its column).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AnalysisError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> AnalysisError {
        AnalysisError::Internal(e.to_string())
    }

    /// Whether the caller's definition is at fault (rather than the service).
    pub fn is_definition_error(&self) -> bool {
        !matches!(self, AnalysisError::Internal(_))
    }
}
