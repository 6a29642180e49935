//! Writes features as GeoJSON straight into a byte buffer.
//!
//! Building `serde_json::Value` trees costs ten times more than writing the
//! bytes directly (see the benchmark notes in the README), and pages of
//! thousands of features are the common case for GIS clients.

use geo::Geometry;

use crate::crs::{Crs, Transform};
use crate::layers::column::{format_date, format_datetime};
use crate::layers::{ColumnData, Geometries, Layer};

/// How coordinates leave the server: transformed to the response CRS and
/// written in its axis order.
pub struct CoordinateOutput {
    transform: Transform,
    northing_first: bool,
}

impl CoordinateOutput {
    pub fn new(crs: Crs) -> Result<CoordinateOutput, crate::crs::CrsError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Column, FieldType, LayerMeta, LayerParts, Value};

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
