//! What can go wrong importing, changing or reading the registry, with the
//! file (and, for a header, the columns) it concerns. Rows that do not
//! parse are not errors: they are [`Rejection`](crate::Rejection)s in the
//! report, with file, line and field.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Io(#[from] chiiki_core::error::IoError),
    #[error(transparent)]
    Write(#[from] chiiki_core::fs::WriteError),
    /// The database a registry is kept in refused or failed.
    #[error(transparent)]
    Store(#[from] chiiki_store::StoreError),
    /// An export whose header cannot be read.
    #[error("reading the header of {file}: {source}")]
    Header {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("{file} has no header row")]
    NoHeader { file: String },
    /// Columns that cannot be mapped onto fields: two columns holding one
    /// field, a column the file kind cannot do without (the message names
    /// the accepted headers), or `[registry.columns]` aliases that clash.
    /// `file` is the export, when the mapping was made for one.
    #[error("{}{message}", file.as_ref().map(|f| format!("mapping the columns of {f}: ")).unwrap_or_default())]
    Columns {
        file: Option<String>,
        message: String,
    },
    #[error("no registry in {} (import one with `chiiki registry import FILE`)", dir.display())]
    NoRegistry { dir: PathBuf },
    /// The registry file is there but cannot be read as a registry.
    #[error("reading {}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// Another process holds the registry lock of `dir`.
    #[error("the registry in {} is being changed by another chiiki process; try again when it is done", dir.display())]
    Locked { dir: PathBuf },
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl RegistryError {
    pub(crate) fn columns(message: impl std::fmt::Display) -> RegistryError {
        RegistryError::Columns {
            file: None,
            message: message.to_string(),
        }
    }
}
