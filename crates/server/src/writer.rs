//! Writes features as GeoJSON straight into a byte buffer.
//!
//! Building `serde_json::Value` trees costs ten times more than writing the
//! bytes directly (see the benchmark notes in the README), and pages of
//! thousands of features are the common case for GIS clients.

use geo::Geometry;

use chiiki_core::crs::{Crs, Transform};
use chiiki_core::layers::column::{format_date, format_datetime};
use chiiki_core::layers::{ColumnData, Geometries, Layer};

/// How coordinates leave the server: transformed to the response CRS and
/// written in its axis order.
pub struct CoordinateOutput {
    transform: Transform,
    northing_first: bool,
}

impl CoordinateOutput {
    pub fn new(crs: Crs) -> Result<CoordinateOutput, chiiki_core::crs::CrsError> {
        Ok(CoordinateOutput {
            transform: Transform::from_storage(crs)?,
            northing_first: crs.northing_first(),
        })
    }

    fn write(&self, buf: &mut Vec<u8>, x: f64, y: f64) {
        let (a, b) = self.transform.apply(x, y).unwrap_or((f64::NAN, f64::NAN));
        let (first, second) = if self.northing_first { (b, a) } else { (a, b) };
        buf.push(b'[');
        write_f64(buf, first);
        buf.push(b',');
        write_f64(buf, second);
        buf.push(b']');
    }
}

/// Writes rows of one layer as GeoJSON features with a fixed set of columns.
pub struct FeatureWriter<'a> {
    layer: &'a Layer,
    columns: Vec<usize>,
    /// `"name":` for each selected column, escaped once.
    keys: Vec<Vec<u8>>,
    coords: CoordinateOutput,
}

impl<'a> FeatureWriter<'a> {
    pub fn new(
        layer: &'a Layer,
        columns: Vec<usize>,
        coords: CoordinateOutput,
    ) -> FeatureWriter<'a> {
        let keys = columns
            .iter()
            .map(|&c| {
                let mut k = Vec::new();
                write_json_str(&mut k, &layer.columns[c].name);
                k.push(b':');
                k
            })
            .collect();
        FeatureWriter {
            layer,
            columns,
            keys,
            coords,
        }
    }

    /// Writes the feature at `row`, without a trailing comma. `extra` is
    /// written verbatim after the properties (e.g. `,"links":[…]`).
    pub fn write_feature(&self, buf: &mut Vec<u8>, row: usize, extra: &str) {
        buf.extend_from_slice(b"{\"type\":\"Feature\",\"id\":");
        buf.extend_from_slice(itoa::Buffer::new().format(self.layer.fids[row]).as_bytes());
        buf.extend_from_slice(b",\"geometry\":");
        match &self.layer.geometries {
            Geometries::Points(p) => {
                buf.extend_from_slice(b"{\"type\":\"Point\",\"coordinates\":");
                self.coords.write(buf, p[row][0], p[row][1]);
                buf.push(b'}');
            }
            Geometries::Shapes(s) => self.write_geometry(buf, &s[row]),
        }
        buf.extend_from_slice(b",\"properties\":{");
        let mut first = true;
        for (i, &c) in self.columns.iter().enumerate() {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice(&self.keys[i]);
            let column = &self.layer.columns[c];
            if column.is_null(row) {
                buf.extend_from_slice(b"null");
                continue;
            }
            match &column.data {
                ColumnData::Integer(v) => {
                    buf.extend_from_slice(itoa::Buffer::new().format(v[row]).as_bytes())
                }
                ColumnData::Real(v) => write_f64(buf, v[row]),
                ColumnData::Text(v) => write_json_str(buf, v.get(row)),
                ColumnData::Boolean(v) => {
                    buf.extend_from_slice(if v[row] { b"true" } else { b"false" })
                }
                ColumnData::Date(v) => write_json_str(buf, &format_date(v[row])),
                ColumnData::DateTime(v) => write_json_str(buf, &format_datetime(v[row])),
            }
        }
        buf.push(b'}');
        buf.extend_from_slice(extra.as_bytes());
        buf.push(b'}');
    }

    fn write_geometry(&self, buf: &mut Vec<u8>, g: &Geometry<f64>) {
        match g {
            Geometry::Point(p) => {
                buf.extend_from_slice(b"{\"type\":\"Point\",\"coordinates\":");
                self.coords.write(buf, p.x(), p.y());
            }
            Geometry::MultiPoint(mp) => {
                buf.extend_from_slice(b"{\"type\":\"MultiPoint\",\"coordinates\":");
                self.write_coords(buf, mp.0.iter().map(|p| p.0));
            }
            Geometry::LineString(ls) => {
                buf.extend_from_slice(b"{\"type\":\"LineString\",\"coordinates\":");
                self.write_coords(buf, ls.0.iter().copied());
            }
            Geometry::Line(l) => {
                buf.extend_from_slice(b"{\"type\":\"LineString\",\"coordinates\":");
                self.write_coords(buf, [l.start, l.end].into_iter());
            }
            Geometry::MultiLineString(mls) => {
                buf.extend_from_slice(b"{\"type\":\"MultiLineString\",\"coordinates\":[");
                for (i, ls) in mls.0.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    self.write_coords(buf, ls.0.iter().copied());
                }
                buf.push(b']');
            }
            Geometry::Polygon(p) => {
                buf.extend_from_slice(b"{\"type\":\"Polygon\",\"coordinates\":");
                self.write_polygon(buf, p);
            }
            Geometry::MultiPolygon(mp) => {
                buf.extend_from_slice(b"{\"type\":\"MultiPolygon\",\"coordinates\":[");
                for (i, p) in mp.0.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    self.write_polygon(buf, p);
                }
                buf.push(b']');
            }
            Geometry::Rect(r) => {
                return self.write_geometry(buf, &Geometry::Polygon(r.to_polygon()))
            }
            Geometry::Triangle(t) => {
                return self.write_geometry(buf, &Geometry::Polygon(t.to_polygon()))
            }
            Geometry::GeometryCollection(gc) => {
                buf.extend_from_slice(b"{\"type\":\"GeometryCollection\",\"geometries\":[");
                for (i, g) in gc.0.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    self.write_geometry(buf, g);
                }
                buf.push(b']');
            }
        }
        buf.push(b'}');
    }

    fn write_polygon(&self, buf: &mut Vec<u8>, p: &geo::Polygon<f64>) {
        buf.push(b'[');
        self.write_coords(buf, p.exterior().0.iter().copied());
        for ring in p.interiors() {
            buf.push(b',');
            self.write_coords(buf, ring.0.iter().copied());
        }
        buf.push(b']');
    }

    fn write_coords(&self, buf: &mut Vec<u8>, coords: impl Iterator<Item = geo::Coord<f64>>) {
        buf.push(b'[');
        for (i, c) in coords.enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            self.coords.write(buf, c.x, c.y);
        }
        buf.push(b']');
    }
}

/// JSON numbers: shortest round-trip form; non-finite values become null.
pub fn write_f64(buf: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        buf.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        buf.extend_from_slice(b"null");
    }
}

/// A JSON string literal with the escapes RFC 8259 requires.
pub fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => buf.extend_from_slice(e),
            None => buf.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

// Whole layers to files, for `chiiki analyse` and CSV responses.

pub fn json_value(v: chiiki_core::layers::Value) -> serde_json::Value {
    match v {
        chiiki_core::layers::Value::Null => serde_json::Value::Null,
        chiiki_core::layers::Value::Integer(i) => i.into(),
        chiiki_core::layers::Value::Real(r) => {
            serde_json::Number::from_f64(r).map_or(serde_json::Value::Null, Into::into)
        }
        chiiki_core::layers::Value::Text(t) => t.into(),
        chiiki_core::layers::Value::Boolean(b) => b.into(),
        chiiki_core::layers::Value::Date(d) => chiiki_core::layers::column::format_date(d).into(),
        chiiki_core::layers::Value::DateTime(t) => {
            chiiki_core::layers::column::format_datetime(t).into()
        }
    }
}

/// A result as an RFC 7946 FeatureCollection.
pub fn write_geojson(layer: &Layer, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for row in 0..layer.len() {
        let properties: serde_json::Map<String, serde_json::Value> = layer
            .columns
            .iter()
            .map(|c| (c.name.clone(), json_value(c.get(row))))
            .collect();
        let feature = geojson::Feature {
            id: Some(geojson::feature::Id::Number(layer.fids[row].into())),
            geometry: Some(geojson::Geometry::from(&layer.geometries.get(row))),
            properties: Some(properties),
            bbox: None,
            foreign_members: None,
        };
        if row > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, &feature)?;
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}

/// A result as CSV: the feature id, the attributes, and a representative
/// point (the point itself, or the interior point of a polygon or line);
/// plain UTF-8, for files that programs read.
pub fn write_csv(layer: &Layer, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let columns: Vec<usize> = (0..layer.columns.len()).collect();
    let plain = CsvOptions {
        bom: false,
        ..CsvOptions::default()
    };
    write_csv_rows(layer, 0..layer.len(), &columns, plain, out).map_err(|e| match e {
        CsvError::Io(e) => e,
        other => std::io::Error::other(other),
    })
}

/// The character set of CSV output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// UTF-8, by default with a byte-order mark: Excel then reads it as
    /// UTF-8 (without the mark it assumes the ANSI code page, CP932 on a
    /// Japanese Windows, and shows mojibake).
    #[default]
    Utf8,
    /// Shift_JIS as Windows has it (CP932), for older tools that read
    /// nothing else. Text with a character CP932 lacks is refused
    /// ([`CsvError::Unmappable`]) rather than written with a substitute:
    /// a name or address must not change silently.
    Cp932,
}

/// Where a feature's position goes in CSV output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvGeometry {
    /// `lon` and `lat` (CRS84) of a point on the feature.
    #[default]
    LonLat,
    /// The whole geometry as WKT (CRS84), in a `wkt` column.
    Wkt,
}

/// How CSV is written: [`CsvOptions::default`] is what Excel opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub encoding: CsvEncoding,
    /// A UTF-8 byte-order mark first (UTF-8 only).
    pub bom: bool,
    pub geometry: CsvGeometry,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            encoding: CsvEncoding::Utf8,
            bom: true,
            geometry: CsvGeometry::LonLat,
        }
    }
}

impl CsvOptions {
    pub fn content_type(&self) -> &'static str {
        match self.encoding {
            CsvEncoding::Utf8 => "text/csv; charset=utf-8",
            CsvEncoding::Cp932 => "text/csv; charset=Shift_JIS",
        }
    }
}

/// Why CSV could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("writing CSV: {0}")]
    Io(#[from] std::io::Error),
    /// A value (or column name) with a character that CP932 lacks.
    #[error("{}, field '{field}': '{character}' (U+{:04X}) has no Shift_JIS (CP932) form; ask for encoding=utf-8 (the default, which Excel opens too)", place(.fid), u32::from(*.character))]
    Unmappable {
        /// The feature, or `None` for the header.
        fid: Option<i64>,
        field: String,
        character: char,
    },
}

/// "feature N" or "the header", for [`CsvError::Unmappable`].
fn place(fid: &Option<i64>) -> String {
    match fid {
        Some(f) => format!("feature {f}"),
        None => "the header".to_string(),
    }
}

/// `text` in `encoding`, or the first character it cannot hold.
fn encode_field(text: &str, encoding: CsvEncoding) -> Result<std::borrow::Cow<'_, [u8]>, char> {
    match encoding {
        CsvEncoding::Utf8 => Ok(std::borrow::Cow::Borrowed(text.as_bytes())),
        CsvEncoding::Cp932 => {
            let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
            if !unmappable {
                return Ok(bytes);
            }
            let mut buf = [0u8; 4];
            Err(text
                .chars()
                .find(|c| encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buf)).2)
                .unwrap_or(char::REPLACEMENT_CHARACTER))
        }
    }
}

/// `rows` of `layer` as CSV with the chosen `columns`, then the position:
/// lon/lat (CRS84) of a point on each feature, or its WKT.
///
/// Shift_JIS bytes never look like the CSV's own (quote, comma, line
/// break: all below 0x40, which no Shift_JIS byte of a multi-byte
/// character is), so fields are encoded first and quoted as bytes.
pub fn write_csv_rows(
    layer: &Layer,
    rows: impl Iterator<Item = usize>,
    columns: &[usize],
    options: CsvOptions,
    out: &mut dyn std::io::Write,
) -> Result<(), CsvError> {
    use geo::InteriorPoint;
    use wkt::ToWkt;
    if options.bom && options.encoding == CsvEncoding::Utf8 {
        out.write_all("\u{feff}".as_bytes())?;
    }
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["id".to_string()];
    header.extend(columns.iter().map(|&c| layer.columns[c].name.clone()));
    match options.geometry {
        CsvGeometry::LonLat => header.extend(["lon".into(), "lat".into()]),
        CsvGeometry::Wkt => header.push("wkt".into()),
    }
    let encoded: Vec<_> = header
        .iter()
        .map(|h| {
            encode_field(h, options.encoding).map_err(|character| CsvError::Unmappable {
                fid: None,
                field: h.clone(),
                character,
            })
        })
        .collect::<Result<_, _>>()?;
    w.write_record(&encoded).map_err(csv_io)?;
    let mut record: Vec<String> = Vec::with_capacity(columns.len() + 3);
    for row in rows {
        record.clear();
        record.push(layer.fids[row].to_string());
        for &c in columns {
            record.push(match json_value(layer.columns[c].get(row)) {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                v => v.to_string(),
            });
        }
        let geometry = layer.geometries.get(row);
        match options.geometry {
            CsvGeometry::LonLat => {
                let p = geometry.interior_point();
                record.push(p.map_or(String::new(), |p| format!("{:.7}", p.x())));
                record.push(p.map_or(String::new(), |p| format!("{:.7}", p.y())));
            }
            CsvGeometry::Wkt => record.push(geometry.wkt_string()),
        }
        for (i, field) in record.iter().enumerate() {
            let bytes = encode_field(field, options.encoding).map_err(|character| {
                CsvError::Unmappable {
                    fid: Some(layer.fids[row]),
                    field: header[i].clone(),
                    character,
                }
            })?;
            w.write_field(bytes).map_err(csv_io)?;
        }
        w.write_record(None::<&[u8]>).map_err(csv_io)?;
    }
    w.flush()?;
    Ok(())
}

fn csv_io(e: csv::Error) -> CsvError {
    CsvError::Io(std::io::Error::other(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiiki_core::layers::{Column, FieldType, LayerMeta, LayerParts, Value};

    fn town_layer(name: &str) -> Layer {
        let mut town = Column::new("町名", FieldType::Text);
        town.push(Value::Text(name.into())).unwrap();
        let mut n = Column::new("人口", FieldType::Integer);
        n.push(Value::Integer(1200)).unwrap();
        Layer::new(LayerParts {
            meta: LayerMeta::default(),
            fids: vec![7],
            geometries: Geometries::Shapes(vec![geo::Geometry::Polygon(geo::Polygon::new(
                geo::LineString::from(vec![
                    (139.75, 35.70),
                    (139.76, 35.70),
                    (139.76, 35.71),
                    (139.75, 35.70),
                ]),
                vec![],
            ))]),
            columns: vec![town, n],
        })
    }

    fn csv_of(layer: &Layer, options: CsvOptions) -> Result<Vec<u8>, CsvError> {
        let mut out = Vec::new();
        write_csv_rows(layer, 0..layer.len(), &[0, 1], options, &mut out)?;
        Ok(out)
    }

    #[test]
    fn csv_starts_with_a_bom_unless_asked_not_to() {
        let layer = town_layer("本郷一丁目");
        let out = csv_of(&layer, CsvOptions::default()).unwrap();
        assert!(out.starts_with(b"\xEF\xBB\xBFid,"), "{out:?}");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("7,本郷一丁目,1200,139.75"), "{text}");
        let plain = csv_of(
            &layer,
            CsvOptions {
                bom: false,
                ..CsvOptions::default()
            },
        )
        .unwrap();
        assert!(plain.starts_with(b"id,"));
    }

    #[test]
    fn csv_in_cp932_refuses_what_cp932_cannot_hold() {
        let cp932 = CsvOptions {
            encoding: CsvEncoding::Cp932,
            ..CsvOptions::default()
        };
        // "−" (U+2212, common in addresses) is written as CP932's minus.
        let out = csv_of(&town_layer("本郷一丁目−髙橋\"方\""), cp932).unwrap();
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&out);
        assert!(!bad);
        assert!(
            text.starts_with("id,町名,人口,lon,lat\r\n")
                || text.starts_with("id,町名,人口,lon,lat\n"),
            "{text}"
        );
        assert!(text.contains("\"本郷一丁目－髙橋\"\"方\"\"\""), "{text}");
        // 𠮷 (U+20BB7) is not in CP932: the feature and field are named.
        let err = csv_of(&town_layer("𠮷野家"), cp932)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("feature 7") && err.contains("'町名'") && err.contains("U+20BB7"),
            "{err}"
        );
    }

    #[test]
    fn csv_with_wkt() {
        let out = csv_of(
            &town_layer("本郷"),
            CsvOptions {
                geometry: CsvGeometry::Wkt,
                ..CsvOptions::default()
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            ["id", "町名", "人口", "wkt"]
        );
        let row = reader.records().next().unwrap().unwrap();
        let parsed: geo::Geometry<f64> = wkt::TryFromWkt::try_from_wkt_str(&row[3]).unwrap();
        assert_eq!(parsed, town_layer("x").geometries.get(0));
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in [
            "plain",
            "quote\"back\\slash",
            "改行\nタブ\t",
            "\u{1}ctl",
            "東京都文京区",
        ] {
            let mut buf = Vec::new();
            write_json_str(&mut buf, s);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn feature_is_valid_geojson_with_typed_properties() {
        let mut name = Column::new("施設・場所名", FieldType::Text);
        name.push(Value::Text("後楽園\"一帯\"".into())).unwrap();
        let mut n = Column::new("NO", FieldType::Integer);
        n.push(Value::Null).unwrap();
        let layer = Layer::new(LayerParts {
            meta: LayerMeta::default(),
            fids: vec![42],
            geometries: Geometries::Points(vec![[139.748471, 35.704895]]),
            columns: vec![name, n],
        });
        let w = FeatureWriter::new(
            &layer,
            vec![0, 1],
            CoordinateOutput::new(Crs::Crs84).unwrap(),
        );
        let mut buf = Vec::new();
        w.write_feature(&mut buf, 0, "");
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["id"], 42);
        assert_eq!(v["geometry"]["coordinates"][0], 139.748471);
        assert_eq!(v["properties"]["施設・場所名"], "後楽園\"一帯\"");
        assert!(v["properties"]["NO"].is_null());

        // EPSG:6668 is latitude first.
        let w = FeatureWriter::new(
            &layer,
            vec![],
            CoordinateOutput::new(Crs::Epsg(6668)).unwrap(),
        );
        let mut buf = Vec::new();
        w.write_feature(&mut buf, 0, "");
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["geometry"]["coordinates"][0], 35.704895);
        assert_eq!(v["properties"], serde_json::json!({}));
    }
}
