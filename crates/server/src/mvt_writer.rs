//! The Mapbox Vector Tile protobuf (MVT 2.1), written by hand for one
//! layer of one tile.
//!
//! Why not the `mvt` crate: it builds a prost message with an owned
//! `Value` (and a cloned key string for its dedup map) per tag. A z14
//! residents tile (2,826 people with some 20 properties each) took
//! 15–30 ms to encode that way; written here straight into bytes, with
//! values deduplicated by borrowed keys, it takes about a tenth of that.
//! The format is small and fixed (vector_tile.proto 2.1): a layer of
//! features (id, tags, type, geometry commands), keys and values.

use chiiki_core::layers::column::{format_date, format_datetime};
use rustc_hash::FxHashMap;

/// A geometry command's id (MoveTo, LineTo, ClosePath).
const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

/// The feature geometry types of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeomType {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

/// A property value as the tile stores it; text borrowed from the layer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    Text(&'a str),
    Int(i64),
    /// The bits of an `f64` (so that it can be a map key).
    Double(u64),
    Bool(bool),
    /// Days since 1970-01-01, written as text (YYYY-MM-DD) like the items.
    Date(i32),
    /// Milliseconds since the epoch, written as RFC 3339 text.
    DateTime(i64),
}

impl Value<'_> {
    pub fn double(v: f64) -> Value<'static> {
        Value::Double(v.to_bits())
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn command(id: u32, count: usize) -> u32 {
    (id & 7) | ((count as u32) << 3)
}

/// Geometry commands in tile units, the cursor carried from part to part.
#[derive(Default)]
pub struct Geometry {
    commands: Vec<u32>,
    cursor: (i32, i32),
}

impl Geometry {
    fn clear(&mut self) {
        self.commands.clear();
        self.cursor = (0, 0);
    }

    fn step(&mut self, (x, y): (i32, i32)) {
        self.commands.push(zigzag(x.wrapping_sub(self.cursor.0)));
        self.commands.push(zigzag(y.wrapping_sub(self.cursor.1)));
        self.cursor = (x, y);
    }

    /// Points: one MoveTo with every point.
    pub fn points(&mut self, points: &[(i32, i32)]) {
        self.commands.push(command(MOVE_TO, points.len()));
        for &p in points {
            self.step(p);
        }
    }

    /// A line of at least two vertices.
    pub fn line(&mut self, line: &[(i32, i32)]) {
        self.commands.push(command(MOVE_TO, 1));
        self.step(line[0]);
        self.commands.push(command(LINE_TO, line.len() - 1));
        for &p in &line[1..] {
            self.step(p);
        }
    }

    /// A ring of at least three vertices, open (the first not repeated).
    pub fn ring(&mut self, ring: &[(i32, i32)]) {
        self.line(ring);
        self.commands.push(command(CLOSE_PATH, 1));
    }
}

/// How many of a column's first values decide whether it is worth
/// deduplicating.
const SAMPLE: u32 = 64;

/// A column's values written so far, while they repeat enough to be
/// worth looking up (a flag, a town, a rank); a column of mostly distinct
/// values (names, addresses, ids) is written without the lookup.
#[derive(Default)]
struct ColumnValues<'a> {
    index: FxHashMap<Value<'a>, u32>,
    seen: u32,
    distinct: bool,
    /// The value written last, for a distinct column: features come in
    /// spatial order, so a household's members (one address, one
    /// household id) follow each other.
    last: Option<(Value<'a>, u32)>,
}

/// One layer being written: features as they come, then keys and values.
pub struct LayerWriter<'a> {
    features: Vec<u8>,
    count: usize,
    values: Vec<u8>,
    /// How many values are written (the next value's index).
    value_count: u32,
    columns: Vec<ColumnValues<'a>>,
    keys: Vec<&'a str>,
    /// Scratch for the feature being written.
    tags: Vec<u32>,
    feature: Vec<u8>,
    packed: Vec<u8>,
    pub geometry: Geometry,
}

impl<'a> LayerWriter<'a> {
    /// A layer whose property keys are `keys` (tags name them by position),
    /// sized for about `features` features (growing the value index as it
    /// fills costs more than reserving it).
    pub fn new(keys: Vec<&'a str>, features: usize) -> LayerWriter<'a> {
        let values = features.saturating_mul(keys.len()).min(1 << 20);
        LayerWriter {
            features: Vec::with_capacity(features * 32),
            count: 0,
            values: Vec::with_capacity(values * 8),
            value_count: 0,
            columns: keys.iter().map(|_| ColumnValues::default()).collect(),
            keys,
            tags: Vec::new(),
            feature: Vec::new(),
            packed: Vec::new(),
            geometry: Geometry::default(),
        }
    }

    /// Starts a feature: clears its geometry and tags.
    pub fn begin(&mut self) {
        self.geometry.clear();
        self.tags.clear();
    }

    /// Property `key` (an index into the keys) of the feature = `value`.
    pub fn tag(&mut self, key: usize, value: Value<'a>) {
        let next = self.value_count;
        let column = &mut self.columns[key];
        let index = if column.distinct {
            match column.last {
                Some((last, index)) if last == value => index,
                _ => {
                    write_value(&mut self.values, value);
                    self.value_count += 1;
                    column.last = Some((value, next));
                    next
                }
            }
        } else {
            let values = &mut self.values;
            let mut added = false;
            let index = *column.index.entry(value).or_insert_with(|| {
                write_value(values, value);
                added = true;
                next
            });
            self.value_count += u32::from(added);
            column.seen += 1;
            // Mostly distinct in its first values: looking each up costs
            // more than the few repeats would save.
            if column.seen == SAMPLE && column.index.len() as u32 > SAMPLE * 15 / 16 {
                column.distinct = true;
                column.index = FxHashMap::default();
            }
            index
        };
        self.tags.push(key as u32);
        self.tags.push(index);
    }

    fn packed(&mut self, field: u32, values: &[u32]) {
        self.packed.clear();
        for &v in values {
            varint(&mut self.packed, u64::from(v));
        }
        bytes_field(&mut self.feature, field, &self.packed);
    }

    /// Ends the feature begun last, with its id and geometry type.
    pub fn end(&mut self, id: Option<u64>, kind: GeomType) {
        self.feature.clear();
        if let Some(id) = id {
            key(&mut self.feature, 1, 0);
            varint(&mut self.feature, id);
        }
        // An empty repeated field is left out, as protobuf writers do (GDAL
        // does not recognise a tile whose first feature has empty tags).
        if !self.tags.is_empty() {
            let tags = std::mem::take(&mut self.tags);
            self.packed(2, &tags);
            self.tags = tags;
        }
        key(&mut self.feature, 3, 0);
        varint(&mut self.feature, kind as u64);
        let commands = std::mem::take(&mut self.geometry.commands);
        self.packed(4, &commands);
        self.geometry.commands = commands;
        bytes_field(&mut self.features, 2, &self.feature);
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The tile: this one layer, named `name`, `extent` units a side.
    pub fn finish(self, name: &str, extent: u32) -> Vec<u8> {
        // The layer's small parts, then its length: the features and values
        // are copied once, straight into the tile.
        let mut head = Vec::with_capacity(name.len() + 8);
        key(&mut head, 15, 0);
        varint(&mut head, 2);
        bytes_field(&mut head, 1, name.as_bytes());
        let mut keys = Vec::new();
        for k in &self.keys {
            bytes_field(&mut keys, 3, k.as_bytes());
        }
        let mut tail = Vec::with_capacity(8);
        key(&mut tail, 5, 0);
        varint(&mut tail, u64::from(extent));
        let length = head.len() + self.features.len() + keys.len() + self.values.len() + tail.len();
        let mut tile = Vec::with_capacity(length + 11);
        key(&mut tile, 3, 2);
        varint(&mut tile, length as u64);
        for part in [&head, &self.features, &keys, &self.values, &tail] {
            tile.extend_from_slice(part);
        }
        tile
    }
}

/// Bytes of `v` as a varint.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `value` as a layer's `values` entry (field 4, a Value message),
/// lengths computed in advance so nothing is allocated but the text of a
/// date.
fn write_value(out: &mut Vec<u8>, value: Value<'_>) {
    let text = |out: &mut Vec<u8>, s: &str| {
        let len = s.len() as u64;
        key(out, 4, 2);
        varint(out, 1 + varint_len(len) as u64 + len);
        key(out, 1, 2);
        varint(out, len);
        out.extend_from_slice(s.as_bytes());
    };
    match value {
        Value::Text(s) => text(out, s),
        Value::Date(d) => text(out, &format_date(d)),
        Value::DateTime(t) => text(out, &format_datetime(t)),
        Value::Double(bits) => {
            key(out, 4, 2);
            varint(out, 9);
            key(out, 3, 1);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        Value::Int(i) => {
            let z = ((i << 1) ^ (i >> 63)) as u64;
            key(out, 4, 2);
            varint(out, 1 + varint_len(z) as u64);
            key(out, 6, 0);
            varint(out, z);
        }
        Value::Bool(b) => {
            key(out, 4, 2);
            varint(out, 2);
            key(out, 7, 0);
            varint(out, u64::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_as_the_spec_writes_them() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        // The spec's example: MoveTo(25, 17) is [9, 50, 34].
        let mut g = Geometry::default();
        g.points(&[(25, 17)]);
        assert_eq!(g.commands, [9, 50, 34]);
        // Its polygon example: [9, 6, 12, 18, 10, 12, 24, 44, 15].
        let mut g = Geometry::default();
        g.ring(&[(3, 6), (8, 12), (20, 34)]);
        assert_eq!(g.commands, [9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    #[test]
    fn value_lengths_match_what_is_written() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
        let long = "あ".repeat(100);
        for value in [
            Value::Text(&long),
            Value::Int(-70_000),
            Value::double(1.5),
            Value::Bool(true),
        ] {
            let mut out = Vec::new();
            write_value(&mut out, value);
            // Field 4, length-delimited: the length covers the rest.
            assert_eq!(out[0], 0x22);
            let mut len = 0usize;
            let mut at = 1;
            for shift in (0..).step_by(7) {
                len |= usize::from(out[at] & 0x7f) << shift;
                at += 1;
                if out[at - 1] < 0x80 {
                    break;
                }
            }
            assert_eq!(out.len() - at, len);
        }
    }

    #[test]
    fn values_are_written_once() {
        let mut w = LayerWriter::new(vec!["name", "n"], 3);
        for _ in 0..3 {
            w.begin();
            w.geometry.points(&[(1, 1)]);
            w.tag(0, Value::Text("白山"));
            w.tag(1, Value::Int(-3));
            w.end(Some(7), GeomType::Point);
        }
        assert_eq!(w.value_count, 2);
        let tile = w.finish("towns", 4096);
        let text = tile.windows(6).filter(|b| *b == "白山".as_bytes()).count();
        assert_eq!(text, 1);
    }

    #[test]
    fn a_column_of_distinct_values_is_written_without_lookups() {
        let names: Vec<String> = (0..200).map(|i| format!("住民{i}")).collect();
        let mut w = LayerWriter::new(vec!["name", "town"], names.len());
        for (i, name) in names.iter().enumerate() {
            w.begin();
            w.geometry.points(&[(1, 1)]);
            w.tag(0, Value::Text(name));
            w.tag(1, Value::Text(if i % 2 == 0 { "白山" } else { "本郷" }));
            w.end(Some(i as u64), GeomType::Point);
        }
        assert!(w.columns[0].distinct && !w.columns[1].distinct);
        // Every name once, the two towns once each.
        assert_eq!(w.value_count, 202);
    }
}
