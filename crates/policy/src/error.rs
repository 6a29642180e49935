//! What can go wrong in the policy floor, with the file, line, role or
//! value it concerns.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Io(#[from] chiiki_core::error::IoError),
    #[error(transparent)]
    Write(#[from] chiiki_core::fs::WriteError),
    /// The database that keeps the state of several processes (tokens, the
    /// audit log) refused or failed.
    #[error(transparent)]
    Store(#[from] chiiki_store::StoreError),
    /// A file that is not what it should be (a token file, the audit key).
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(": line {l}")).unwrap_or_default())]
    File {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// The audit log's hash chain is broken: at `line`, or at its end.
    #[error("audit log {}{}: {message}", path.display(), line.map(|l| format!(": line {l}")).unwrap_or_default())]
    Tampered {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// A role definition, or a reference to a role, that cannot stand.
    #[error("{0}")]
    Role(String),
    /// A `[[tokens]]` entry of the config that cannot be accepted.
    #[error("token '{name}' of the config: {message}")]
    ConfigToken { name: String, message: String },
    /// A value given to the policy (a token's expiry) that it cannot use.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = PolicyError> = std::result::Result<T, E>;

impl PolicyError {
    pub(crate) fn file(
        path: &Path,
        line: Option<u64>,
        message: impl std::fmt::Display,
    ) -> PolicyError {
        PolicyError::File {
            path: path.to_path_buf(),
            line,
            message: message.to_string(),
        }
    }

    pub(crate) fn tampered(
        path: &Path,
        line: Option<u64>,
        message: impl std::fmt::Display,
    ) -> PolicyError {
        PolicyError::Tampered {
            path: path.to_path_buf(),
            line,
            message: message.to_string(),
        }
    }
}
