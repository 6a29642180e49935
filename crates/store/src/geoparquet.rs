//! Persisting layers as GeoParquet (1.1, WKB geometry) through polars.
//!
//! A layer is one file, `<data dir>/layers/<id>.parquet`, with the layer's
//! metadata in the Parquet key/value metadata under `chiiki`. Writes go to a
//! temporary file in the same directory, are fsynced and then renamed over the
//! old file, so a failed or killed import never leaves a half-written layer.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Result, StoreError};
use chiiki_core::error::IoError;
use geo_traits::to_geo::ToGeoGeometry;
use polars::prelude as pl;
use polars::prelude::{NamedFrom, SerReader};

use chiiki_core::layers::column::{ColumnData, TextData};
use chiiki_core::layers::{Column, Geometries, Layer, LayerMeta, LayerParts};

const META_KEY: &str = "chiiki";
const FID: &str = "fid";
const GEOMETRY: &str = "geometry";

/// Column names chiiki uses itself; a source attribute with one of these names
/// is renamed on import.
pub const RESERVED_NAMES: [&str; 2] = [FID, GEOMETRY];

pub fn layers_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("layers")
}

pub fn layer_path(data_dir: &Path, id: &str) -> PathBuf {
    layers_dir(data_dir).join(format!("{id}.parquet"))
}

/// Layer ids become file names and URL path segments.
pub fn validate_layer_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !id.starts_with('-');
    if !ok {
        return Err(StoreError::InvalidId(id.to_string()));
    }
    Ok(())
}

/// Writes `layer` atomically to `<data dir>/layers/<id>.parquet`.
pub fn save(data_dir: &Path, layer: &Layer) -> Result<PathBuf> {
    validate_layer_id(&layer.meta.id)?;
    let path = layer_path(data_dir, &layer.meta.id);
    let mut df = layer_frame(layer)?;
    let meta_json = serde_json::to_string(&layer.meta).map_err(|e| StoreError::Other {
        context: format!("layer '{}'", layer.meta.id),
        message: format!("encoding its metadata: {e}"),
    })?;
    let geo_json = geoparquet_metadata(layer).to_string();
    chiiki_core::fs::write_atomically_with(&path, |file| {
        pl::ParquetWriter::new(&mut *file)
            .with_compression(pl::ParquetCompression::Zstd(None))
            .with_key_value_metadata(Some(pl::KeyValueMetadata::from_static(vec![
                ("geo".to_string(), geo_json),
                (META_KEY.to_string(), meta_json),
            ])))
            .finish(&mut df)
            .map_err(std::io::Error::other)?;
        file.flush()
    })?;
    Ok(path)
}

/// The layer as a polars table: fid, the attribute columns, WKB geometry.
fn layer_frame(layer: &Layer) -> Result<pl::DataFrame> {
    let context = || format!("layer '{}'", layer.meta.id);
    let polars = |e: pl::PolarsError| StoreError::Other {
        context: context(),
        message: e.to_string(),
    };
    let mut series: Vec<pl::Column> = Vec::with_capacity(layer.columns.len() + 2);
    series.push(pl::Series::new(FID.into(), &layer.fids).into());
    for column in &layer.columns {
        series.push(column_to_series(column).map_err(polars)?.into());
    }
    let mut wkb = Vec::with_capacity(layer.len());
    let options = wkb::writer::WriteOptions {
        endianness: wkb::Endianness::LittleEndian,
    };
    for row in 0..layer.len() {
        let mut buf = Vec::new();
        wkb::writer::write_geometry(&mut buf, &layer.geometries.get(row), &options).map_err(
            |e| StoreError::Other {
                context: context(),
                message: format!("encoding the geometry of feature {}: {e}", layer.fids[row]),
            },
        )?;
        wkb.push(buf);
    }
    let wkb_refs: Vec<&[u8]> = wkb.iter().map(Vec::as_slice).collect();
    series.push(pl::Series::new(GEOMETRY.into(), wkb_refs).into());
    pl::DataFrame::new_infer_height(series).map_err(polars)
}

/// The GeoParquet `geo` file metadata: WKB encoding, lon/lat JGD2011.
fn geoparquet_metadata(layer: &Layer) -> serde_json::Value {
    let bbox = layer
        .extent
        .map(|r| vec![r.min().x, r.min().y, r.max().x, r.max().y]);
    let types: Vec<&str> = match layer.geometries.type_name() {
        "Geometry" => vec![],
        t => vec![t],
    };
    let mut column = serde_json::json!({
        "encoding": "WKB",
        "geometry_types": types,
    });
    if let Some(b) = bbox {
        column["bbox"] = serde_json::json!(b);
    }
    if let Some(projjson) = storage_crs_projjson() {
        column["crs"] = projjson;
    }
    serde_json::json!({
        "version": "1.1.0",
        "primary_column": GEOMETRY,
        "columns": { GEOMETRY: column },
    })
}

fn storage_crs_projjson() -> Option<serde_json::Value> {
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(chiiki_core::crs::STORAGE_EPSG).ok()?;
    serde_json::from_str(&srs.to_projjson().ok()?).ok()
}

fn column_to_series(column: &Column) -> pl::PolarsResult<pl::Series> {
    let name: pl::PlSmallStr = column.name.as_str().into();
    let valid = |row: usize| !column.is_null(row);
    let n = column.len();
    let series = match &column.data {
        ColumnData::Integer(v) => pl::Series::new(
            name,
            (0..n).map(|i| valid(i).then_some(v[i])).collect::<Vec<_>>(),
        ),
        ColumnData::Real(v) => pl::Series::new(
            name,
            (0..n).map(|i| valid(i).then_some(v[i])).collect::<Vec<_>>(),
        ),
        ColumnData::Boolean(v) => pl::Series::new(
            name,
            (0..n).map(|i| valid(i).then_some(v[i])).collect::<Vec<_>>(),
        ),
        ColumnData::Text(v) => pl::Series::new(
            name,
            (0..n)
                .map(|i| valid(i).then(|| v.get(i)))
                .collect::<Vec<_>>(),
        ),
        ColumnData::Date(v) => pl::Series::new(
            name,
            (0..n).map(|i| valid(i).then_some(v[i])).collect::<Vec<_>>(),
        )
        .cast(&pl::DataType::Date)?,
        ColumnData::DateTime(v) => pl::Series::new(
            name,
            (0..n).map(|i| valid(i).then_some(v[i])).collect::<Vec<_>>(),
        )
        .cast(&pl::DataType::Datetime(pl::TimeUnit::Milliseconds, None))?,
    };
    Ok(series)
}

fn series_to_column(series: &pl::Series) -> pl::PolarsResult<Column> {
    let name = series.name().to_string();
    let has_nulls = series.null_count() > 0;
    let nulls = has_nulls.then(|| series.is_null().iter().map(|b| b.unwrap_or(true)).collect());
    let data = match series.dtype() {
        pl::DataType::Int64 | pl::DataType::Int32 => ColumnData::Integer(
            series
                .cast(&pl::DataType::Int64)?
                .i64()?
                .iter()
                .map(|v| v.unwrap_or(0))
                .collect(),
        ),
        pl::DataType::Float64 | pl::DataType::Float32 => ColumnData::Real(
            series
                .cast(&pl::DataType::Float64)?
                .f64()?
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect(),
        ),
        pl::DataType::Boolean => {
            ColumnData::Boolean(series.bool()?.iter().map(|v| v.unwrap_or(false)).collect())
        }
        pl::DataType::String => {
            let mut text = TextData::default();
            for v in series.str()?.iter() {
                text.push(v.unwrap_or(""));
            }
            ColumnData::Text(text)
        }
        pl::DataType::Date => ColumnData::Date(
            series
                .cast(&pl::DataType::Int32)?
                .i32()?
                .iter()
                .map(|v| v.unwrap_or(0))
                .collect(),
        ),
        pl::DataType::Datetime(unit, _) => {
            let per_ms = match unit {
                pl::TimeUnit::Milliseconds => 1,
                pl::TimeUnit::Microseconds => 1_000,
                pl::TimeUnit::Nanoseconds => 1_000_000,
            };
            ColumnData::DateTime(
                series
                    .cast(&pl::DataType::Int64)?
                    .i64()?
                    .iter()
                    .map(|v| v.unwrap_or(0) / per_ms)
                    .collect(),
            )
        }
        other => {
            return Err(pl::PolarsError::ComputeError(
                format!("column '{name}' has unsupported type {other}").into(),
            ))
        }
    };
    Ok(Column { name, data, nulls })
}

/// Reads a layer written by [`save`].
pub fn load(path: &Path) -> Result<Layer> {
    let file = File::open(path).map_err(IoError::at(path, "opening"))?;
    let corrupt = |e: pl::PolarsError| StoreError::corrupt(path, e);
    let mut reader = pl::ParquetReader::new(file);
    let metadata = reader.get_metadata().map_err(corrupt)?;
    let meta_json = metadata
        .key_value_metadata()
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == META_KEY))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| {
            StoreError::corrupt(
                path,
                format!("not a chiiki layer (no '{META_KEY}' metadata)"),
            )
        })?;
    let meta: LayerMeta = serde_json::from_str(&meta_json)
        .map_err(|e| StoreError::corrupt(path, format!("layer metadata: {e}")))?;
    let df = reader.finish().map_err(corrupt)?;

    let fids: Vec<i64> = df
        .column(FID)
        .and_then(|c| c.as_materialized_series().i64().cloned())
        .map_err(corrupt)?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    let wkb = df
        .column(GEOMETRY)
        .and_then(|c| c.as_materialized_series().binary().cloned())
        .map_err(corrupt)?;
    let geometries = decode_geometries(&wkb, path)?;
    drop(wkb);
    let mut columns = Vec::new();
    for c in df.columns() {
        if c.name() == FID || c.name() == GEOMETRY {
            continue;
        }
        columns.push(series_to_column(c.as_materialized_series()).map_err(corrupt)?);
    }
    Ok(Layer::from_sorted(LayerParts {
        meta,
        fids,
        geometries,
        columns,
    }))
}

/// Decodes the WKB column. Point layers (the big ones: residents) take a
/// direct path into packed coordinates, without a geometry enum per row.
fn decode_geometries(wkb: &pl::BinaryChunked, path: &Path) -> Result<Geometries> {
    let mut points = Vec::with_capacity(wkb.len());
    let mut all_points = true;
    for bytes in wkb.iter() {
        match bytes.and_then(little_endian_point) {
            Some(p) => points.push(p),
            None => {
                all_points = false;
                break;
            }
        }
    }
    if all_points && !points.is_empty() {
        return Ok(Geometries::Points(points));
    }
    drop(points);
    let mut geoms = Vec::with_capacity(wkb.len());
    for (row, bytes) in wkb.iter().enumerate() {
        let bad = |message: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            row: Some(row),
            message,
        };
        let bytes = bytes.ok_or_else(|| bad("no geometry".into()))?;
        let parsed = wkb::reader::read_wkb(bytes).map_err(|e| bad(format!("bad WKB: {e}")))?;
        let geom = parsed
            .try_to_geometry()
            .ok_or_else(|| bad("unsupported geometry".into()))?;
        geoms.push(geom);
    }
    Ok(Geometries::from_geometries(geoms))
}

/// A 2-D point in little-endian WKB (as [`save`] writes it), else `None`.
pub(crate) fn little_endian_point(b: &[u8]) -> Option<[f64; 2]> {
    if b.len() != 21 || b[0] != 1 || b[1..5] != [1, 0, 0, 0] {
        return None;
    }
    let x = f64::from_le_bytes(b[5..13].try_into().ok()?);
    let y = f64::from_le_bytes(b[13..21].try_into().ok()?);
    Some([x, y])
}

/// The ids of the layers in `<data dir>/layers`, sorted.
pub fn list(data_dir: &Path) -> Result<Vec<String>> {
    let dir = layers_dir(data_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoError::at(&dir, "listing")(e).into()),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        // Temporary files of a write in progress start with a dot.
        .filter(|id| !id.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Loads every layer in `<data dir>/layers`, skipping (and reporting) files
/// that cannot be read rather than refusing to start.
pub fn load_all(data_dir: &Path) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for id in list(data_dir)? {
        let path = layer_path(data_dir, &id);
        match load(&path) {
            Ok(layer) => layers.push(layer),
            Err(e) => tracing::error!("skipping layer file {}: {e}", path.display()),
        }
    }
    release_freed_memory();
    Ok(layers)
}

/// Reads only the metadata of a stored layer, if there is one.
pub fn read_meta(data_dir: &Path, id: &str) -> Option<LayerMeta> {
    let file = File::open(layer_path(data_dir, id)).ok()?;
    let mut reader = pl::ParquetReader::new(file);
    let metadata = reader.get_metadata().ok()?;
    let json = metadata
        .key_value_metadata()
        .as_ref()?
        .iter()
        .find(|k| k.key == META_KEY)?
        .value
        .clone()?;
    serde_json::from_str(&json).ok()
}

/// Decoding a layer allocates and frees more than the layer keeps; glibc
/// keeps the freed pages unless asked, which would double a server's resident size.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiiki_core::layers::{FieldType, Value};

    fn sample_layer() -> Layer {
        let mut name = Column::new("名称", FieldType::Text);
        let mut pop = Column::new("JINKO", FieldType::Integer);
        let mut day = Column::new("opened", FieldType::Date);
        for (i, v) in ["本郷", "白山", "千駄木"].iter().enumerate() {
            name.push(Value::Text(v.to_string())).unwrap();
            pop.push(if i == 1 {
                Value::Null
            } else {
                Value::Integer(100 * i as i64)
            })
            .unwrap();
            day.push(Value::Date(19000 + i as i32)).unwrap();
        }
        let poly: geo::Polygon<f64> = geo::Polygon::new(
            geo::LineString::from(vec![
                (139.75, 35.70),
                (139.76, 35.70),
                (139.76, 35.71),
                (139.75, 35.70),
            ]),
            vec![],
        );
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: "towns".into(),
                title: "町丁目".into(),
                ..Default::default()
            },
            fids: vec![7, 8, 9],
            geometries: Geometries::Shapes(vec![
                poly.clone().into(),
                geo::Point::new(139.7, 35.7).into(),
                geo::MultiPolygon(vec![poly]).into(),
            ]),
            columns: vec![name, pop, day],
        })
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let layer = sample_layer();
        save(dir.path(), &layer).unwrap();
        let back = load(&layer_path(dir.path(), "towns")).unwrap();
        assert_eq!(back.meta.title, "町丁目");
        assert_eq!(back.fids, layer.fids);
        for row in 0..3 {
            assert_eq!(back.geometries.get(row), layer.geometries.get(row));
            for c in 0..3 {
                assert_eq!(back.columns[c].get(row), layer.columns[c].get(row));
            }
        }
        assert_eq!(back.columns[1].field_type(), FieldType::Integer);
        assert_eq!(back.columns[2].field_type(), FieldType::Date);
        // No temporary files remain.
        let names: Vec<_> = fs::read_dir(layers_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn rejects_ids_that_are_not_safe_file_names() {
        for bad in ["", "../x", "a/b", "名前", "-x"] {
            assert!(validate_layer_id(bad).is_err(), "{bad}");
        }
        validate_layer_id("flood_a31-2012").unwrap();
    }
}
