//! Byte-stable GeoJSON (RFC 7946) and CSV output.
//!
//! Same seed must give byte-identical files, so nothing here depends on map
//! iteration order or on float printing heuristics: properties are written
//! in the order given, coordinates with exactly 7 decimals (about 1 cm),
//! one feature per line.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Result, SynthError};
use geo::{Coord, LineString, Polygon};

/// A property value.
pub enum Prop {
    Int(i64),
    /// A number with a fixed count of decimals.
    Num(f64, usize),
    Str(String),
    Null,
}

impl Prop {
    pub fn str(s: impl Into<String>) -> Prop {
        Prop::Str(s.into())
    }

    fn write(&self, out: &mut String) {
        match self {
            Prop::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Prop::Num(v, d) if v.is_finite() => {
                let _ = write!(out, "{v:.d$}", d = *d);
            }
            Prop::Num(..) | Prop::Null => out.push_str("null"),
            Prop::Str(s) => write_json_string(out, s),
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly what JSON requires and leaves UTF-8 as is.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// Geometries in lon/lat, already rounded as they are to be written.
pub enum Geom<'a> {
    Point(Coord),
    LineString(&'a LineString),
    Polygon(&'a Polygon),
}

/// Builds one FeatureCollection in memory.
pub struct GeoJson {
    buf: String,
    count: usize,
}

impl GeoJson {
    pub fn new(name: &str) -> GeoJson {
        let mut buf = String::from("{\"type\":\"FeatureCollection\",\"name\":");
        write_json_string(&mut buf, name);
        buf.push_str(",\"features\":[\n");
        GeoJson { buf, count: 0 }
    }

    pub fn feature(&mut self, id: usize, geom: Geom<'_>, props: &[(&str, Prop)]) {
        if self.count > 0 {
            self.buf.push_str(",\n");
        }
        self.count += 1;
        let b = &mut self.buf;
        let _ = write!(b, "{{\"type\":\"Feature\",\"id\":{id},\"geometry\":");
        match geom {
            Geom::Point(c) => {
                b.push_str("{\"type\":\"Point\",\"coordinates\":");
                write_coord(b, c);
            }
            Geom::LineString(l) => {
                b.push_str("{\"type\":\"LineString\",\"coordinates\":");
                write_ring(b, &l.0);
            }
            Geom::Polygon(p) => {
                b.push_str("{\"type\":\"Polygon\",\"coordinates\":[");
                write_ring(b, &p.exterior().0);
                for hole in p.interiors() {
                    b.push(',');
                    write_ring(b, &hole.0);
                }
                b.push(']');
            }
        }
        b.push_str("},\"properties\":{");
        for (i, (key, value)) in props.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            write_json_string(b, key);
            b.push(':');
            value.write(b);
        }
        b.push_str("}}");
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push_str("\n]}\n");
        self.buf.into_bytes()
    }
}

fn write_coord(b: &mut String, c: Coord) {
    let _ = write!(b, "[{:.7},{:.7}]", c.x, c.y);
}

fn write_ring(b: &mut String, coords: &[Coord]) {
    b.push('[');
    for (i, c) in coords.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        write_coord(b, *c);
    }
    b.push(']');
}

/// A CSV file built in memory (UTF-8, header first, `\n` line ends).
pub struct Csv {
    writer: csv::Writer<Vec<u8>>,
}

impl Csv {
    pub fn new(header: &[&str]) -> Result<Csv> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        writer
            .write_record(header)
            .map_err(SynthError::encode("building CSV"))?;
        Ok(Csv { writer })
    }

    pub fn row(&mut self, fields: &[String]) -> Result<()> {
        self.writer
            .write_record(fields)
            .map_err(SynthError::encode("building CSV"))
    }

    pub fn finish(self) -> Result<Vec<u8>> {
        self.writer
            .into_inner()
            .map_err(SynthError::encode("finishing CSV"))
    }
}

/// Writes one output file whole or not at all (see [`crate::write_file`]).
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    crate::write_file(&dir.join(name), bytes)
}
