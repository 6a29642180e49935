//! Reading vector files through GDAL into a [`LayerParts`], reprojected to
//! JGD2011 lon/lat with PROJ.
//!
//! Accepts whatever GDAL reads: GeoJSON, Shapefile, GeoPackage, FlatGeobuf,
//! CSV with lon/lat columns, … Japanese government shapefiles usually come
//! without a `.cpg` and with CP932 attribute text, so a `.dbf` without `.cpg`
//! is read as CP932 unless `--encoding` says otherwise.

use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::path::{Path, PathBuf};

use crate::{Result, StoreError};
use gdal::vector::{FieldValue, LayerAccess, OGRFieldType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use crate::geoparquet::RESERVED_NAMES;
use chiiki_core::crs::{Crs, Transform};
use chiiki_core::layers::column::{days_from_date, Column, FieldType, Value};
use chiiki_core::layers::{Access, Geometries, LayerMeta, LayerParts};

/// What the user asked of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub layer_id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub attribution: Option<String>,
    /// Overrides the CRS the source declares (or lacks), e.g. `EPSG:2451`.
    pub src_crs: Option<String>,
    /// Attribute that holds a stable integer feature id.
    pub id_field: Option<String>,
    /// Attribute `datetime` filters on; defaults to the first date column.
    pub time_field: Option<String>,
    /// Attribute encoding for shapefiles, e.g. `CP932` or `UTF-8`.
    pub encoding: Option<String>,
    /// Which layer of a multi-layer source (GeoPackage); default the first.
    pub source_layer: Option<String>,
    pub access: Access,
}

/// What happened to the features of an import.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub read: usize,
    pub imported: usize,
    /// One line per repaired feature, naming it.
    pub repaired: Vec<String>,
    /// One line per rejected feature, naming it and why.
    pub rejected: Vec<String>,
    pub warnings: Vec<String>,
    pub source_crs: String,
}

/// GDAL reports repairs and driver quirks on stderr; this routes them to
/// the log (at debug level) for the whole process.
pub fn route_gdal_messages_to_log() {
    gdal::config::set_error_handler(|class, code, msg| {
        tracing::debug!(target: "gdal", "{class:?} {code}: {msg}");
    });
}

/// Reads one or more files with the same schema into one layer.
pub fn read_files(paths: &[PathBuf], opts: &ImportOptions) -> Result<(LayerParts, ImportReport)> {
    if paths.is_empty() {
        return Err(StoreError::Other {
            context: "import".into(),
            message: "no input file given".into(),
        });
    }
    let mut report = ImportReport::default();
    let mut acc = Accumulator::default();
    for path in paths {
        read_one(path, opts, &mut acc, &mut report)?;
    }
    if acc.fids.is_empty() {
        return Err(StoreError::Other {
            context: display_paths(paths),
            message: format!(
                "no feature could be imported ({} read, {} rejected)",
                report.read,
                report.rejected.len()
            ),
        });
    }
    let time_field = match &opts.time_field {
        Some(f) => {
            let col =
                acc.columns
                    .iter()
                    .find(|c| &c.name == f)
                    .ok_or_else(|| StoreError::Other {
                        context: display_paths(paths),
                        message: format!("--time-field '{f}' is not an attribute"),
                    })?;
            if !col.field_type().is_temporal() {
                return Err(StoreError::Other {
                    context: display_paths(paths),
                    message: format!(
                        "--time-field '{f}' is {:?}, not a date or date-time",
                        col.field_type()
                    ),
                });
            }
            Some(f.clone())
        }
        None => acc
            .columns
            .iter()
            .find(|c| c.field_type().is_temporal())
            .map(|c| c.name.clone()),
    };
    report.imported = acc.fids.len();
    promote_mixed_to_multi(&mut acc.geometries);
    let meta = LayerMeta {
        id: opts.layer_id.clone(),
        title: opts.title.clone().unwrap_or_else(|| opts.layer_id.clone()),
        description: opts.description.clone().unwrap_or_default(),
        source: acc.sources.join(", "),
        source_crs: report.source_crs.clone(),
        attribution: opts.attribution.clone().unwrap_or_default(),
        id_field: opts.id_field.clone(),
        time_field,
        access: opts.access.clone(),
        imported_at: chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        fingerprint: String::new(),
        privacy: Default::default(),
        labels: Default::default(),
        picked_by_identifier: None,
    };
    Ok((
        LayerParts {
            meta,
            fids: acc.fids,
            geometries: Geometries::from_geometries(acc.geometries),
            columns: acc.columns,
        },
        report,
    ))
}

#[derive(Default)]
struct Accumulator {
    fids: Vec<i64>,
    seen_fids: HashSet<i64>,
    geometries: Vec<geo::Geometry<f64>>,
    columns: Vec<Column>,
    sources: Vec<String>,
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn open_options(path: &Path, opts: &ImportOptions) -> Vec<String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "shp" | "dbf" => {
            let has_cpg =
                path.with_extension("cpg").exists() || path.with_extension("CPG").exists();
            match (&opts.encoding, has_cpg) {
                (Some(enc), _) => vec![format!("ENCODING={enc}")],
                (None, false) => vec!["ENCODING=CP932".to_string()],
                (None, true) => vec![],
            }
        }
        "csv" => vec![
            "X_POSSIBLE_NAMES=lon,lng,longitude,x,経度".to_string(),
            "Y_POSSIBLE_NAMES=lat,latitude,y,緯度".to_string(),
            "KEEP_GEOM_COLUMNS=NO".to_string(),
            "AUTODETECT_TYPE=YES".to_string(),
        ],
        _ => vec![],
    }
}

/// The source CRS as a PROJ definition plus a display name.
fn source_crs(
    layer: &gdal::vector::Layer,
    path: &Path,
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Result<(String, String)> {
    if let Some(given) = &opts.src_crs {
        let def = match Crs::parse(given) {
            Ok(crs) => crs.proj_definition(),
            Err(_) => given.clone(),
        };
        return Ok((def.clone(), def));
    }
    match layer.spatial_ref() {
        Some(mut srs) => {
            let _ = srs.auto_identify_epsg();
            let name = srs.name().unwrap_or_else(|| "unnamed CRS".into());
            if srs.auth_name().as_deref() == Some("EPSG") {
                if let Ok(code) = srs.auth_code() {
                    return Ok((format!("EPSG:{code}"), format!("EPSG:{code} ({name})")));
                }
            }
            let wkt = srs
                .to_wkt()
                .map_err(|e| StoreError::import(path, format!("reading its CRS: {e}")))?;
            Ok((wkt, name))
        }
        None => {
            report.warnings.push(format!(
                "{}: the source declares no CRS; assuming JGD2011 lon/lat (EPSG:6668). Pass --src-crs if that is wrong.",
                path.display()
            ));
            Ok(("EPSG:6668".into(), "EPSG:6668 (assumed)".into()))
        }
    }
}

fn field_type(ogr: OGRFieldType::Type) -> FieldType {
    match ogr {
        OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 => FieldType::Integer,
        OGRFieldType::OFTReal => FieldType::Real,
        OGRFieldType::OFTDate => FieldType::Date,
        OGRFieldType::OFTDateTime => FieldType::DateTime,
        _ => FieldType::Text,
    }
}

extern "C" {
    // In the GDAL library that gdal-sys links; gdal does not wrap it.
    fn OGR_F_IsFieldSetAndNotNull(feature: *mut c_void, field: c_int) -> c_int;
}

/// The value of field `i` of `feature`, null when the feature leaves it
/// unset. gdal's `Feature::field` only checks for null, so an unset field
/// (a GeoJSON feature without a property that others have) would read as 0
/// or "", and an unset list field as a slice made from a null pointer.
fn field_value(feature: &gdal::vector::Feature, i: usize) -> Value {
    let Ok(idx) = c_int::try_from(i) else {
        return Value::Null;
    };
    // SAFETY: the handle is the live feature's own, and GDAL checks the index.
    if unsafe { OGR_F_IsFieldSetAndNotNull(feature.c_feature(), idx) } == 0 {
        return Value::Null;
    }
    to_value(feature.field(i).ok().flatten())
}

fn to_value(v: Option<FieldValue>) -> Value {
    match v {
        None => Value::Null,
        Some(FieldValue::IntegerValue(i)) => Value::Integer(i as i64),
        Some(FieldValue::Integer64Value(i)) => Value::Integer(i),
        Some(FieldValue::RealValue(r)) if r.is_finite() => Value::Real(r),
        Some(FieldValue::RealValue(_)) => Value::Null,
        Some(FieldValue::StringValue(s)) => Value::Text(s),
        Some(FieldValue::DateValue(d)) => Value::Date(days_from_date(d)),
        Some(FieldValue::DateTimeValue(t)) => Value::DateTime(t.timestamp_millis()),
        Some(FieldValue::IntegerListValue(l)) => Value::Text(join(&l)),
        Some(FieldValue::Integer64ListValue(l)) => Value::Text(join(&l)),
        Some(FieldValue::RealListValue(l)) => Value::Text(join(&l)),
        Some(FieldValue::StringListValue(l)) => Value::Text(l.join(",")),
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

/// Attribute names as stored: reserved names get a suffix.
fn stored_name(name: &str) -> String {
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        format!("{name}_src")
    } else {
        name.to_string()
    }
}

/// The source's CRS and the transformation from it to storage lon/lat;
/// the CRS goes into the report, with a warning for the Tokyo datum.
fn storage_transform(
    layer: &gdal::vector::Layer,
    path: &Path,
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Result<(String, Transform)> {
    let (crs_def, crs_name) = source_crs(layer, path, opts, report)?;
    if crs_def.contains("Tokyo") || Crs::parse(&crs_def).is_ok_and(|c| c.is_tokyo_datum()) {
        let msg = format!(
            "{}: source is on the Tokyo datum; this PROJ install has no Japanese datum grid (TKY2JGD), so the shift to JGD2011 uses a Helmert transformation good to about 10 m",
            path.display()
        );
        tracing::warn!("{msg}");
        report.warnings.push(msg);
    }
    if report.source_crs.is_empty() {
        report.source_crs = crs_name;
    } else if report.source_crs != crs_name {
        report.source_crs = format!("{}; {crs_name}", report.source_crs);
    }
    let storage_equivalent = Crs::parse(&crs_def).is_ok_and(|c| c.is_storage_equivalent());
    let transform = if storage_equivalent {
        Transform::identity()
    } else {
        Transform::new(&crs_def, "EPSG:6668").map_err(|e| {
            StoreError::import(path, format!("cannot reproject from {crs_def}: {e}"))
        })?
    };
    Ok((crs_def, transform))
}

/// Maps the source's fields onto the layer's columns (by name, across
/// files): the column each field goes to, new columns added to `acc`.
fn map_fields(
    layer: &gdal::vector::Layer,
    path: &Path,
    acc: &mut Accumulator,
) -> Result<Vec<usize>> {
    let mut field_map = Vec::new();
    for field in layer.defn().fields() {
        let name = stored_name(&field.name());
        let ty = field_type(field.field_type());
        let idx = match acc.columns.iter().position(|c| c.name == name) {
            Some(i) => {
                if let Some(earlier) = field_map.iter().position(|&j| j == i) {
                    // A reserved name renamed onto another field's, or names
                    // that differ only in bytes that are not UTF-8.
                    let earlier = layer.defn().fields().nth(earlier).map(|f| f.name());
                    return Err(StoreError::Import {
                        path: path.to_path_buf(),
                        feature: None,
                        field: Some(field.name()),
                        message: format!(
                            "fields '{}' and '{}' would both be stored as '{name}'",
                            earlier.unwrap_or_default(),
                            field.name()
                        ),
                    });
                }
                if acc.columns[i].field_type() != ty {
                    return Err(StoreError::Import {
                        path: path.to_path_buf(),
                        feature: None,
                        field: Some(name),
                        message: format!(
                            "is {ty:?} here but {:?} in an earlier file",
                            acc.columns[i].field_type()
                        ),
                    });
                }
                i
            }
            None => {
                let mut col = Column::new(&name, ty);
                for _ in 0..acc.fids.len() {
                    col.push(Value::Null).expect("null fits every column");
                }
                acc.columns.push(col);
                acc.columns.len() - 1
            }
        };
        field_map.push(idx);
    }
    Ok(field_map)
}

/// A source geometry as stored: flattened to 2-D, repaired if invalid (and
/// repairable without changing its type), reprojected and checked to lie
/// on the globe. `None`, with the reason in the report, when it cannot be.
fn storage_geometry(
    source_geom: &gdal::vector::Geometry,
    make_valid_opts: &gdal::cpl::CslStringList,
    transform: &Transform,
    crs_def: &str,
    name: &str,
    report: &mut ImportReport,
) -> Option<geo::Geometry<f64>> {
    if source_geom.is_empty() {
        report
            .rejected
            .push(format!("{name}: has no geometry (empty)"));
        return None;
    }
    let mut g = source_geom.clone();
    g.flatten_to_2d();
    if !g.is_valid() {
        let kind = g.geometry_type();
        match g.make_valid(make_valid_opts) {
            Ok(fixed) if same_family(kind, fixed.geometry_type()) && !fixed.is_empty() => {
                report
                    .repaired
                    .push(format!("{name}: invalid {} repaired", g.geometry_name()));
                g = fixed;
            }
            _ => {
                report.rejected.push(format!(
                    "{name}: invalid {} that cannot be repaired without changing its type",
                    g.geometry_name()
                ));
                return None;
            }
        }
    }
    let mut geom = match g.to_geo() {
        Ok(geom) => geom,
        Err(e) => {
            report
                .rejected
                .push(format!("{name}: unsupported geometry: {e}"));
            return None;
        }
    };
    if let Err(e) = transform.apply_geometry(&mut geom) {
        report
            .rejected
            .push(format!("{name}: cannot be reprojected: {e}"));
        return None;
    }
    if !coords_plausible(&geom) {
        report.rejected.push(format!(
            "{name}: coordinates outside longitude/latitude range after reprojection from {crs_def}; is the source CRS right?"
        ));
        return None;
    }
    Some(geom)
}

fn read_one(
    path: &Path,
    opts: &ImportOptions,
    acc: &mut Accumulator,
    report: &mut ImportReport,
) -> Result<()> {
    let oo = open_options(path, opts);
    let oo_refs: Vec<&str> = oo.iter().map(String::as_str).collect();
    let dataset = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
            open_options: (!oo_refs.is_empty()).then_some(oo_refs.as_slice()),
            ..Default::default()
        },
    )
    .map_err(|e| StoreError::import(path, format!("GDAL cannot open it as vector data: {e}")))?;
    let driver = dataset.driver().short_name();
    let mut layer = match &opts.source_layer {
        Some(name) => dataset
            .layer_by_name(name)
            .map_err(|_| StoreError::import(path, format!("no layer named '{name}'")))?,
        None => dataset
            .layer(0)
            .map_err(|_| StoreError::import(path, "contains no vector layer"))?,
    };
    acc.sources.push(format!(
        "{} ({driver})",
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    ));

    let (crs_def, transform) = storage_transform(&layer, path, opts, report)?;

    let field_map = map_fields(&layer, path, acc)?;
    let id_field_index = match &opts.id_field {
        Some(f) => Some(
            layer
                .defn()
                .fields()
                .position(|fd| &fd.name() == f)
                .ok_or_else(|| {
                    StoreError::import(path, format!("--id-field '{f}' is not a field"))
                })?,
        ),
        None => None,
    };

    let make_valid_opts = gdal::cpl::CslStringList::new();
    for (n, feature) in layer.features().enumerate() {
        report.read += 1;
        let line = n + 1;
        let src_fid = feature.fid();
        let name = match src_fid {
            Some(f) => format!("{}: feature {line} (source fid {f})", path.display()),
            None => format!("{}: feature {line}", path.display()),
        };

        // Feature id.
        let fid: i64 = match id_field_index {
            Some(i) => match field_value(&feature, i) {
                Value::Integer(v) => v,
                Value::Text(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().unwrap(),
                other => {
                    report.rejected.push(format!(
                        "{name}: field '{}' = {other:?} is not an integer id",
                        opts.id_field.as_deref().unwrap_or_default()
                    ));
                    continue;
                }
            },
            None => match src_fid {
                Some(f) if paths_single(acc) => f as i64,
                _ => acc.fids.len() as i64 + 1,
            },
        };
        if acc.seen_fids.contains(&fid) {
            if opts.id_field.is_some() {
                return Err(StoreError::Import {
                    path: path.to_path_buf(),
                    feature: Some(fid as u64),
                    field: opts.id_field.clone(),
                    message: format!(
                        "{name}: id {fid} is not unique; ids must identify one feature"
                    ),
                });
            }
            report
                .rejected
                .push(format!("{name}: duplicate feature id {fid}"));
            continue;
        }

        // Geometry: present, valid (or safely repaired), finite, reprojected.
        let geom = match feature.geometry() {
            Some(g) => storage_geometry(g, &make_valid_opts, &transform, &crs_def, &name, report),
            None => {
                report.rejected.push(format!("{name}: has no geometry"));
                None
            }
        };
        let Some(geom) = geom else {
            continue;
        };
        let geom = right_hand_rule(geom);

        // Attributes.
        let mut row_error = None;
        for (src_idx, &col_idx) in field_map.iter().enumerate() {
            let value = field_value(&feature, src_idx);
            if let Err(e) = acc.columns[col_idx].push(value) {
                row_error = Some(format!(
                    "{name}: field '{}': {e}",
                    acc.columns[col_idx].name
                ));
                break;
            }
        }
        if let Some(err) = row_error {
            // Keep columns rectangular: drop the partial row.
            truncate_columns(&mut acc.columns, acc.fids.len());
            report.rejected.push(err);
            continue;
        }
        // Columns this file lacks (merged from other files) get nulls.
        for col in acc.columns.iter_mut() {
            if col.len() == acc.fids.len() {
                col.push(Value::Null).expect("null fits every column");
            }
        }
        acc.seen_fids.insert(fid);
        acc.fids.push(fid);
        acc.geometries.push(geom);
    }
    Ok(())
}

/// Source fids are only unique within one file; with several files rows are numbered.
fn paths_single(acc: &Accumulator) -> bool {
    acc.sources.len() == 1
}

fn truncate_columns(columns: &mut [Column], len: usize) {
    for c in columns.iter_mut() {
        while c.len() > len {
            // Rebuild without the last value; rare path (a failed row).
            let keep: Vec<u32> = (0..len as u32).collect();
            *c = c.permute(&keep);
        }
    }
}

fn same_family(
    a: gdal::vector::OGRwkbGeometryType::Type,
    b: gdal::vector::OGRwkbGeometryType::Type,
) -> bool {
    use gdal::vector::OGRwkbGeometryType as T;
    let family = |t| match gdal::vector::geometry_type_flatten(t) {
        T::wkbPoint | T::wkbMultiPoint => 1,
        T::wkbLineString | T::wkbMultiLineString => 2,
        T::wkbPolygon | T::wkbMultiPolygon => 3,
        _ => 0,
    };
    family(a) != 0 && family(a) == family(b)
}

fn coords_plausible(geom: &geo::Geometry<f64>) -> bool {
    use geo::CoordsIter;
    geom.coords_iter().all(|c| {
        c.x.is_finite()
            && c.y.is_finite()
            && (-180.0..=180.0).contains(&c.x)
            && (-90.0..=90.0).contains(&c.y)
    })
}

/// GIS clients want one geometry type per layer: when a layer mixes single
/// and multi parts of one kind (often after a repair), make them all multi.
fn promote_mixed_to_multi(geoms: &mut [geo::Geometry<f64>]) {
    use geo::Geometry as G;
    let has = |f: fn(&G<f64>) -> bool| geoms.iter().any(f);
    let promote_polygons =
        has(|g| matches!(g, G::Polygon(_))) && has(|g| matches!(g, G::MultiPolygon(_)));
    let promote_lines =
        has(|g| matches!(g, G::LineString(_))) && has(|g| matches!(g, G::MultiLineString(_)));
    let promote_points =
        has(|g| matches!(g, G::Point(_))) && has(|g| matches!(g, G::MultiPoint(_)));
    for g in geoms.iter_mut() {
        let single = std::mem::replace(g, G::GeometryCollection(geo::GeometryCollection(vec![])));
        *g = match single {
            G::Polygon(p) if promote_polygons => G::MultiPolygon(geo::MultiPolygon(vec![p])),
            G::LineString(l) if promote_lines => G::MultiLineString(geo::MultiLineString(vec![l])),
            G::Point(p) if promote_points => G::MultiPoint(geo::MultiPoint(vec![p])),
            other => other,
        };
    }
}

/// RFC 7946 §3.1.6: exterior rings counterclockwise, holes clockwise.
fn right_hand_rule(geom: geo::Geometry<f64>) -> geo::Geometry<f64> {
    use geo::orient::{Direction, Orient};
    match geom {
        geo::Geometry::Polygon(p) => geo::Geometry::Polygon(p.orient(Direction::Default)),
        geo::Geometry::MultiPolygon(p) => geo::Geometry::MultiPolygon(p.orient(Direction::Default)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `geojson_import` fuzz target: a feature without a list
    /// property that another feature has made gdal read a slice from a null
    /// pointer, and missing scalar properties were imported as 0 and "".
    #[test]
    fn properties_a_feature_lacks_are_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unset.geojson");
        let point = |x: f64| format!(r#"{{"type":"Point","coordinates":[{x},35.71]}}"#);
        let features = [
            r#"{"n":5,"s":"a","tags":[1,2]}"#,
            "{}",
            r#"{"n":null,"s":"","tags":[]}"#,
        ]
        .iter()
        .enumerate()
        .map(|(i, props)| {
            let geom = point(139.75 + i as f64 * 0.01);
            format!(r#"{{"type":"Feature","geometry":{geom},"properties":{props}}}"#)
        })
        .collect::<Vec<_>>()
        .join(",");
        std::fs::write(
            &path,
            format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#),
        )
        .unwrap();
        let opts = ImportOptions {
            layer_id: "unset".into(),
            ..Default::default()
        };
        let (parts, report) = read_files(&[path], &opts).unwrap();
        assert_eq!(report.imported, 3, "{:?}", report.rejected);
        let values = |name: &str| {
            let c = parts.columns.iter().find(|c| c.name == name).unwrap();
            (0..c.len()).map(|r| c.get(r)).collect::<Vec<_>>()
        };
        assert_eq!(values("n"), [Value::Integer(5), Value::Null, Value::Null]);
        assert_eq!(
            values("s"),
            [Value::Text("a".into()), Value::Null, Value::Text("".into())]
        );
        assert_eq!(
            values("tags"),
            [
                Value::Text("1,2".into()),
                Value::Null,
                Value::Text("".into())
            ]
        );
    }

    /// Found by the `geojson_import` fuzz target: two fields stored under
    /// one name both filled the same column, which then had more values
    /// than the layer had rows.
    #[test]
    fn fields_stored_under_one_name_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clash.geojson");
        std::fs::write(
            &path,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature",
                "geometry":{"type":"Point","coordinates":[139.75,35.71]},
                "properties":{"geometry":"a","geometry_src":"b"}}]}"#,
        )
        .unwrap();
        let opts = ImportOptions {
            layer_id: "clash".into(),
            ..Default::default()
        };
        let Err(err) = read_files(&[path], &opts) else {
            panic!("imported two fields into one column");
        };
        let err = err.to_string();
        assert!(
            err.contains(
                "fields 'geometry' and 'geometry_src' would both be stored as 'geometry_src'"
            ),
            "{err}"
        );
    }
}
