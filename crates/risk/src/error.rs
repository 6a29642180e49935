//! What can go wrong training, scoring or importing scores, with the layer,
//! column, file, line or field it concerns.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error(transparent)]
    Io(#[from] chiiki_core::error::IoError),
    #[error(transparent)]
    Write(#[from] chiiki_core::fs::WriteError),
    #[error(transparent)]
    Store(#[from] chiiki_store::StoreError),
    /// A layer the scores need that cannot be loaded.
    #[error("loading layer '{id}' (run `chiiki demo` or `chiiki import` first): {source}")]
    Layer {
        id: String,
        #[source]
        source: chiiki_store::StoreError,
    },
    #[error("layer '{layer}' has no column '{column}'")]
    NoColumn { layer: String, column: String },
    #[error("layer '{layer}' has no asset id column ({guess}); give one with --id-field")]
    NoIdColumn { layer: String, guess: String },
    /// A CSV input (breaks, crack detections, vendor scores), with the line
    /// (1-based, the header is line 1) and field where there is one.
    #[error("{}{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default(), field.as_ref().map(|f| format!(": field '{f}'")).unwrap_or_default())]
    Csv {
        path: PathBuf,
        line: Option<u64>,
        field: Option<String>,
        message: String,
    },
    #[error("{} has no breaks of known pipes", path.display())]
    NoBreaks { path: PathBuf },
    /// A model file that cannot be used.
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },
    #[error("no model in {} (run `chiiki risk train` first)", dir.display())]
    NoModel { dir: PathBuf },
    /// Training cannot be done on the data given.
    #[error("{0}")]
    Training(String),
}

pub type Result<T, E = RiskError> = std::result::Result<T, E>;

impl RiskError {
    /// A problem with CSV `path`, at `line` and `field` where known.
    pub(crate) fn csv(
        path: &Path,
        line: Option<usize>,
        field: Option<&str>,
        message: impl std::fmt::Display,
    ) -> RiskError {
        RiskError::Csv {
            path: path.to_path_buf(),
            line: line.map(|l| l as u64),
            field: field.map(str::to_string),
            message: message.to_string(),
        }
    }
}
