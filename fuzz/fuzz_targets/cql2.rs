//! CQL2-text: the lexer and parser on arbitrary text, then, for filters that
//! parse, binding to three small in-memory layers in three CRSs, compiling,
//! and evaluating over every row.
//!
//! Beyond "no panic", one property is checked: a filter with an envelope
//! selects the same rows from the R-tree candidates inside that envelope as
//! from all rows (the server fetches candidates that way).

#![no_main]

use std::sync::OnceLock;

use chiiki_core::crs::Crs;
use chiiki_core::layers::{Column, FieldType, Geometries, Layer, LayerMeta, LayerParts, Value};
use chiiki_query::{cql2, Filter};
use chrono::NaiveDate;
use geo::{coord, line_string, point, polygon, Geometry};
use libfuzzer_sys::fuzz_target;

fn layer(id: &str, geometries: Geometries, columns: Vec<Column>) -> Layer {
    let n = geometries.len();
    Layer::new(LayerParts {
        meta: LayerMeta {
            id: id.into(),
            ..Default::default()
        },
        fids: (1..=n as i64).collect(),
        geometries,
        columns,
    })
}

fn column(name: &str, ty: FieldType, values: impl IntoIterator<Item = Value>) -> Column {
    let mut c = Column::new(name, ty);
    for v in values {
        c.push(v).expect("value of the column's type");
    }
    c
}

/// Twelve points around 文京区 with a column of every type and some nulls.
fn points() -> Layer {
    let n = 12;
    let coords: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let i = i as f64;
            [139.74 + i * 0.003, 35.70 + (i * 7.0 % 5.0) * 0.004]
        })
        .collect();
    let names = ["白山一丁目", "本郷", "O'Brien", "ｶﾀｶﾅ", "", "abc%_"];
    let columns = vec![
        column(
            "age",
            FieldType::Integer,
            (0..n).map(|i| {
                if i == 3 {
                    Value::Null
                } else {
                    Value::Integer(i * 9 - 5)
                }
            }),
        ),
        column(
            "name",
            FieldType::Text,
            (0..n).map(|i| match i {
                7 => Value::Null,
                _ => Value::Text(names[i as usize % names.len()].into()),
            }),
        ),
        column(
            "score",
            FieldType::Real,
            (0..n).map(|i| Value::Real(i as f64 * 1.25 - 3.0)),
        ),
        column(
            "flag",
            FieldType::Boolean,
            (0..n).map(|i| match i % 3 {
                0 => Value::Null,
                1 => Value::Boolean(true),
                _ => Value::Boolean(false),
            }),
        ),
        column(
            "registered",
            FieldType::Date,
            (0..n).map(|i| Value::Date(18_000 + i as i32 * 40)),
        ),
        column(
            "updated",
            FieldType::DateTime,
            (0..n).map(|i| Value::DateTime(1_600_000_000_000 + i * 86_400_000)),
        ),
    ];
    layer("points", Geometries::Points(coords), columns)
}

/// Points with `birth_date` and no `age`, so filters on `age` are rewritten.
fn people() -> Layer {
    let coords = vec![[139.75, 35.71], [139.76, 35.72], [139.70, 35.69]];
    let columns = vec![
        column(
            "birth_date",
            FieldType::Date,
            [Value::Date(-5_000), Value::Null, Value::Date(19_000)],
        ),
        column(
            "sex",
            FieldType::Text,
            ["F", "M", "F"].map(|s| Value::Text(s.into())),
        ),
    ];
    layer("people", Geometries::Points(coords), columns)
}

/// Polygons, a line and a point.
fn shapes() -> Layer {
    let geoms: Vec<Geometry<f64>> = vec![
        polygon![
            (x: 139.735, y: 35.705), (x: 139.762, y: 35.699),
            (x: 139.771, y: 35.726), (x: 139.741, y: 35.731),
        ]
        .into(),
        polygon!(
            exterior: [
                (x: 139.70, y: 35.68), (x: 139.73, y: 35.68),
                (x: 139.73, y: 35.71), (x: 139.70, y: 35.71),
            ],
            interiors: [[
                (x: 139.71, y: 35.69), (x: 139.72, y: 35.69),
                (x: 139.72, y: 35.70), (x: 139.71, y: 35.70),
            ]],
        )
        .into(),
        line_string![(x: 139.73, y: 35.70), (x: 139.77, y: 35.73)].into(),
        point!(x: 139.7522, y: 35.7079).into(),
        Geometry::Rect(geo::Rect::new(
            coord! { x: 139.60, y: 35.60 },
            coord! { x: 139.61, y: 35.61 },
        )),
    ];
    let n = geoms.len() as i64;
    let columns = vec![
        column(
            "S_NAME",
            FieldType::Text,
            ["白山一丁目", "本郷二丁目", "小石川", "根津", "千駄木"].map(|s| Value::Text(s.into())),
        ),
        column(
            "JINKO",
            FieldType::Integer,
            (0..n).map(|i| Value::Integer(1575 + i * 1000)),
        ),
        column(
            "AREA",
            FieldType::Real,
            (0..n).map(|i| Value::Real(150_000.25 * i as f64)),
        ),
    ];
    layer("shapes", Geometries::from_geometries(geoms), columns)
}

fn layers() -> &'static [Layer; 3] {
    static LAYERS: OnceLock<[Layer; 3]> = OnceLock::new();
    LAYERS.get_or_init(|| [points(), people(), shapes()])
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if cql2::parse(text).is_err() {
        return;
    }
    let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    for layer in layers() {
        for crs in [Crs::Crs84, Crs::Epsg(4326), Crs::Epsg(6677)] {
            let Ok(filter) = Filter::on_date(text, layer, crs, day) else {
                continue;
            };
            let all = filter.select(layer, None);
            if let Some(envelope) = filter.envelope() {
                let candidates = layer.rows_in_bbox(envelope);
                let within = filter.select(layer, Some(&candidates));
                assert_eq!(
                    all, within,
                    "{}: {text:?} in {crs}: rows outside the envelope {envelope:?}",
                    layer.meta.id
                );
            }
        }
    }
});
