//! The error every floor shares: an I/O failure on a named file.

use std::path::{Path, PathBuf};

/// An I/O error on `path` while doing `what` ("reading", "creating", …).
///
/// ```
/// use chiiki_core::error::IoError;
/// let path = std::path::Path::new("/nonexistent/chiiki.toml");
/// let err = std::fs::read(path).map_err(IoError::at(path, "reading")).unwrap_err();
/// assert!(err.to_string().starts_with("reading /nonexistent/chiiki.toml: "));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// For `map_err`: the error of doing `what` to `path`.
    pub fn at(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> IoError {
        let path = path.to_path_buf();
        move |source| IoError { path, what, source }
    }
}
