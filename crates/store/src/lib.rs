//! Where layers live.
//!
//! - [`LayerStore`]: the seam every floor above reaches the stored layers
//!   through (list, load, save, metadata);
//! - [`GeoParquetStore`]: layers as GeoParquet files under a data directory
//!   ([`geoparquet`], through polars — the only crate that compiles polars);
//! - [`PostgisStore`]: layers in PostgreSQL with PostGIS ([`postgis`]),
//!   for several service processes on one database;
//! - [`state`]: with PostGIS, the service's own state (tokens, saved
//!   analyses, the audit chain) in the same database;
//! - [`checksum`]: a layer's canonical checksum, the same from either store;
//! - [`import`]: any vector format GDAL reads, reprojected to JGD2011.

pub mod checksum;
pub mod geoparquet;
pub mod import;
pub mod migrate;
pub mod postgis;
pub mod state;

pub use checksum::checksum;
pub use postgis::PostgisStore;
pub use state::StateStore;

use std::path::{Path, PathBuf};

use chiiki_core::layers::{Layer, LayerMeta};

/// What went wrong reading or writing a stored layer, with the file (and,
/// where there is one, the row or field) it happened at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("layer id '{0}' must be 1–64 characters of a–z, 0–9, '_' or '-'")]
    InvalidId(String),
    #[error("no layer '{0}'")]
    NotFound(String),
    #[error(transparent)]
    Io(#[from] chiiki_core::error::IoError),
    #[error(transparent)]
    Write(#[from] chiiki_core::fs::WriteError),
    /// The file is there but is not a layer chiiki can read.
    #[error("{}{}: {message}", path.display(), row.map(|r| format!(": row {r}")).unwrap_or_default())]
    Corrupt {
        path: PathBuf,
        row: Option<usize>,
        message: String,
    },
    /// A source GDAL reads, with the feature and field where there is one.
    #[error("{}{}{}: {message}", path.display(), feature.map(|f| format!(": feature {f}")).unwrap_or_default(), field.as_ref().map(|f| format!(": field '{f}'")).unwrap_or_default())]
    Import {
        path: PathBuf,
        feature: Option<u64>,
        field: Option<String>,
        message: String,
    },
    /// The database refused or failed, with what chiiki was doing there
    /// and what the server said (its message, code, detail and hint: the
    /// client's own Display says only "db error").
    #[error("{context}: {}", postgis::describe(error))]
    Database {
        context: String,
        error: postgres::Error,
    },
    /// Anything else, with the layer or file it concerns.
    #[error("{context}: {message}")]
    Other { context: String, message: String },
}

impl StoreError {
    pub(crate) fn corrupt(path: &Path, message: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            row: None,
            message: message.to_string(),
        }
    }

    pub(crate) fn import(path: &Path, message: impl std::fmt::Display) -> StoreError {
        StoreError::Import {
            path: path.to_path_buf(),
            feature: None,
            field: None,
            message: message.to_string(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What [`LayerStore::watch`] calls when a layer changes: with its id, or
/// `None` when the store cannot tell which.
pub type OnChange = Box<dyn Fn(Option<&str>) + Send + Sync>;

/// The stored layers, however they are kept: a GeoParquet directory or a
/// PostGIS database.
pub trait LayerStore: Send + Sync {
    /// The ids of the stored layers, sorted.
    fn list(&self) -> Result<Vec<String>>;
    /// One layer, indexed and ready to query.
    fn load(&self, id: &str) -> Result<Layer>;
    /// Replaces (or adds) a layer whole: readers see the old one or the new one.
    fn save(&self, layer: &Layer) -> Result<()>;
    /// The metadata of a stored layer, without reading its rows.
    fn metadata(&self, id: &str) -> Result<Option<LayerMeta>>;

    /// Calls `changed` whenever another process changes a layer (with its
    /// id, or `None` when it cannot tell which), from a thread of the
    /// store's own, for as long as the process runs. Returns `false` when
    /// this store cannot tell (a directory: the service polls it instead).
    /// The PostGIS store, when this is one: a server queries it for pages
    /// instead of reading its copy in memory.
    fn postgis(&self) -> Option<&PostgisStore> {
        None
    }

    fn watch(&self, changed: OnChange) -> Result<bool> {
        drop(changed);
        Ok(false)
    }

    /// The service's state kept with the layers (tokens, saved analyses,
    /// the audit log), for several processes serving one store; `None`
    /// when each process keeps its own in its data directory.
    fn state(&self) -> Option<std::sync::Arc<StateStore>> {
        None
    }

    /// Every layer; a layer that cannot be read is reported and skipped,
    /// so one bad file does not keep the service from starting.
    fn load_all(&self) -> Result<Vec<Layer>> {
        let mut layers = Vec::new();
        for id in self.list()? {
            match self.load(&id) {
                Ok(l) => layers.push(l),
                Err(e) => tracing::error!("skipping layer {id}: {e}"),
            }
        }
        Ok(layers)
    }
}

/// Layers as `<data dir>/layers/<id>.parquet`.
#[derive(Debug, Clone)]
pub struct GeoParquetStore {
    data_dir: PathBuf,
}

impl GeoParquetStore {
    pub fn new(data_dir: impl Into<PathBuf>) -> GeoParquetStore {
        GeoParquetStore {
            data_dir: data_dir.into(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl LayerStore for GeoParquetStore {
    fn list(&self) -> Result<Vec<String>> {
        geoparquet::list(&self.data_dir)
    }

    fn load(&self, id: &str) -> Result<Layer> {
        geoparquet::validate_layer_id(id)?;
        let path = geoparquet::layer_path(&self.data_dir, id);
        if !path.is_file() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        geoparquet::load(&path)
    }

    fn save(&self, layer: &Layer) -> Result<()> {
        geoparquet::save(&self.data_dir, layer).map(|_| ())
    }

    fn metadata(&self, id: &str) -> Result<Option<LayerMeta>> {
        geoparquet::validate_layer_id(id)?;
        Ok(geoparquet::read_meta(&self.data_dir, id))
    }

    fn load_all(&self) -> Result<Vec<Layer>> {
        geoparquet::load_all(&self.data_dir)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chiiki_core::layers::{Column, FieldType, Geometries, LayerParts, Value};

    /// `n` named shelters in a row, as layer `id`.
    pub(crate) fn layer(id: &str, n: usize) -> Layer {
        let mut name = Column::new("name", FieldType::Text);
        for i in 0..n {
            name.push(Value::Text(format!("避難所{i}"))).unwrap();
        }
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: id.into(),
                title: id.into(),
                ..Default::default()
            },
            fids: (1..=n as i64).collect(),
            geometries: Geometries::Points(
                (0..n).map(|i| [139.75 + i as f64 * 1e-3, 35.71]).collect(),
            ),
            columns: vec![name],
        })
    }

    #[test]
    fn a_geoparquet_store_lists_saves_loads_and_describes_layers() {
        let dir = tempfile::tempdir().unwrap();
        let store: &dyn LayerStore = &GeoParquetStore::new(dir.path());
        assert!(
            store.list().unwrap().is_empty(),
            "a new directory holds no layers"
        );
        store.save(&layer("shelters", 3)).unwrap();
        store.save(&layer("bridges", 2)).unwrap();
        assert_eq!(store.list().unwrap(), vec!["bridges", "shelters"]);
        let loaded = store.load("shelters").unwrap();
        assert_eq!(loaded.len(), 3);
        let row = loaded.row_of(2).unwrap();
        assert_eq!(loaded.columns[0].get(row), Value::Text("避難所1".into()));
        assert_eq!(store.metadata("bridges").unwrap().unwrap().title, "bridges");
        assert!(store.metadata("roads").unwrap().is_none());
        assert_eq!(store.load_all().unwrap().len(), 2);
        // Replacing a layer is whole: the new rows, never a mix.
        store.save(&layer("shelters", 1)).unwrap();
        assert_eq!(store.load("shelters").unwrap().len(), 1);
    }

    #[test]
    fn a_geoparquet_store_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let store = GeoParquetStore::new(dir.path());
        assert!(matches!(store.load("roads"), Err(StoreError::NotFound(id)) if id == "roads"));
        assert!(matches!(
            store.load("../etc/passwd"),
            Err(StoreError::InvalidId(_))
        ));
        assert!(matches!(
            store.save(&layer("bad id", 1)),
            Err(StoreError::InvalidId(_))
        ));
        // A file that is not a layer is reported with its path and skipped by load_all.
        std::fs::create_dir_all(dir.path().join("layers")).unwrap();
        std::fs::write(dir.path().join("layers/broken.parquet"), b"not parquet").unwrap();
        store.save(&layer("shelters", 2)).unwrap();
        let Err(err) = store.load("broken") else {
            panic!("a broken file loaded as a layer");
        };
        let err = err.to_string();
        assert!(err.contains("broken.parquet"), "{err}");
        let ids: Vec<String> = store
            .load_all()
            .unwrap()
            .into_iter()
            .map(|l| l.meta.id)
            .collect();
        assert_eq!(ids, vec!["shelters"]);
    }
}
