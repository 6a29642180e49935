//! What can go wrong building or loading the reference index and geocoding
//! a file, with the file, line or column it concerns.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GeocodeError {
    #[error(transparent)]
    Io(#[from] chiiki_core::error::IoError),
    #[error(transparent)]
    Write(#[from] chiiki_core::fs::WriteError),
    /// A zipped ABR master that cannot be read.
    #[error("reading zip {}: {source}", path.display())]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    /// A JSON source (the variant-character table, the towns files).
    #[error("parsing {}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A CSV file whose header cannot be read.
    #[error("{}: no header line: {source}", path.display())]
    Header {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// A CSV row that cannot be read, at `line` (1-based, the header is 1).
    #[error("{}: line {line}: {source}", path.display())]
    Row {
        path: PathBuf,
        line: u64,
        #[source]
        source: csv::Error,
    },
    /// A CSV file without a column it needs; `columns` are the file's
    /// headers, where they are worth showing.
    #[error("{}: no column '{column}'{}", path.display(), if columns.is_empty() { String::new() } else { format!(" (columns: {})", columns.join(", ")) })]
    NoColumn {
        path: PathBuf,
        column: String,
        columns: Vec<String>,
    },
    /// An input file with no column of a known address header.
    #[error("{}: no address column (住所 or address); name it with --address-column", path.display())]
    NoAddressColumn { path: PathBuf },
    /// A zip file holding no CSV.
    #[error("{}: no .csv inside", path.display())]
    NoCsvInZip { path: PathBuf },
    #[error("ABR directory {} does not exist", path.display())]
    NoAbrDirectory { path: PathBuf },
    #[error("no ABR prefecture/city masters (mt_pref_all, mt_city_all) in {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoMasters { dirs: Vec<PathBuf> },
    /// A file that is not a reference index this chiiki can read.
    #[error("{} is not a chiiki reference index (rebuild it with `chiiki reference build`): {source}", path.display())]
    NotAnIndex {
        path: PathBuf,
        #[source]
        source: postcard::Error,
    },
    #[error("{} is a version {found} index; this chiiki reads version {expected}: rebuild it", path.display())]
    IndexVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("encoding the reference index: {0}")]
    Encode(#[source] postcard::Error),
    /// A row that CSV in CP932 cannot hold.
    #[error(transparent)]
    Unmappable(#[from] crate::file::Unmappable),
    /// Writing the geocoded rows to their output failed.
    #[error("writing the results: {0}")]
    Output(#[source] std::io::Error),
    /// A `--city` (or configured context) that names no city, or several.
    #[error("no city '{name}' in the reference{}", if candidates.is_empty() { " (give a name such as 文京区, 京都市 or 大阪市北区, or a 全国地方公共団体コード such as 131059)".to_string() } else { format!(": it could be {}; add the prefecture", candidates.join(", ")) })]
    UnknownCity {
        name: String,
        candidates: Vec<String>,
    },
    /// A broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = GeocodeError> = std::result::Result<T, E>;

impl GeocodeError {
    /// A JSON file that does not parse, for `map_err`.
    pub(crate) fn json(path: &Path) -> impl FnOnce(serde_json::Error) -> GeocodeError {
        let path = path.to_path_buf();
        move |source| GeocodeError::Json { path, source }
    }
}
