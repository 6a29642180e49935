//! What can go wrong generating the synthetic city, with the input or
//! output file (and line or feature) it concerns.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Io(#[from] chiiki_core::error::IoError),
    #[error(transparent)]
    Write(#[from] chiiki_core::fs::WriteError),
    /// A real-data layer the store's import cannot read.
    #[error(transparent)]
    Store(#[from] chiiki_store::StoreError),
    /// An ABR master that cannot be read.
    #[error(transparent)]
    Geocode(#[from] chiiki_geocode::GeocodeError),
    /// The real public data directory is missing.
    #[error("the real public data directory {} does not exist; point CHIIKI_REAL_DATA or --real-data at the shared data (../shared/data/real)", dir.display())]
    NoRealData { dir: PathBuf },
    /// A real-data input that is not what the generator needs, with the
    /// line (CSV) or feature (GDAL) where there is one.
    #[error("{}{}{}: {message}", path.display(), line.map(|l| format!(": line {l}")).unwrap_or_default(), feature.map(|f| format!(": feature {f}")).unwrap_or_default())]
    Input {
        path: PathBuf,
        line: Option<u64>,
        feature: Option<u64>,
        message: String,
    },
    /// A CSV output file that cannot be written.
    #[error("writing {}: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// Registry text with a character CP932 cannot hold.
    #[error("{}: text not representable in CP932", path.display())]
    NotCp932 { path: PathBuf },
    /// A shapefile of the fictional ward that GDAL cannot write.
    #[error("{what} {}: {source}", path.display())]
    Shapefile {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: gdal::errors::GdalError,
    },
    /// Building a file's bytes in memory failed (a broken invariant, not
    /// a problem with the inputs).
    #[error("{0}")]
    Encode(String),
}

pub type Result<T, E = SynthError> = std::result::Result<T, E>;

impl SynthError {
    /// A problem with real-data input `path`.
    pub(crate) fn input(path: &Path, message: impl std::fmt::Display) -> SynthError {
        SynthError::Input {
            path: path.to_path_buf(),
            line: None,
            feature: None,
            message: message.to_string(),
        }
    }

    /// Building bytes in memory failed: `what`, and the error.
    pub(crate) fn encode<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> SynthError {
        move |e| SynthError::Encode(format!("{what}: {e}"))
    }
}
