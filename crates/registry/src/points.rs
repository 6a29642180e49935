//! 住民ポイント: the residents registered on a date, geocoded, as a point
//! layer. This is what cities such as 会津若松市 still place by hand.
//!
//! The layer carries personal data, so it is never public: by default only
//! `planner` (and `admin`) may read it. Ages are not stored; the birth date is,
//! so every later query computes ages on its own reference date.

/// The id of the resident layer unless the caller names another.
pub const DEFAULT_LAYER: &str = "residents";

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use super::Registry;
use chiiki_core::layers::column::days_from_date;
use chiiki_core::layers::{
    Access, Column, FieldType, Geometries, Layer, LayerMeta, LayerParts, Value,
};
use chiiki_geocode::{Context, Geocoder, Level};

/// What became of the residents.
#[derive(Debug, Default)]
pub struct PointsReport {
    pub residents: usize,
    pub placed: usize,
    /// Residents by match level.
    pub levels: BTreeMap<Level, usize>,
    /// Residents without a position, by reason, with example 住民票コード.
    pub unplaced: BTreeMap<String, Vec<String>>,
    /// The city of addresses that name none, and whether it was inferred
    /// from the addresses (no municipality given).
    pub context: Option<(String, bool)>,
    /// Residents whose address named no city and was read in the context.
    pub by_context: usize,
}

/// The registry on `date` as a point layer `layer_id`, readable by `roles`.
pub fn resident_layer(
    registry: &Registry,
    geocoder: &Geocoder,
    date: NaiveDate,
    context: &Context,
    layer_id: &str,
    roles: Vec<String>,
    keys: &crate::record_keys::RecordKeys,
) -> (Layer, PointsReport) {
    let views: Vec<_> = registry.as_of(date).collect();
    // Each distinct address once: households share theirs.
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    let mut distinct: Vec<String> = Vec::new();
    let ids: Vec<u32> = views
        .iter()
        .map(|v| {
            *index.entry(v.address()).or_insert_with(|| {
                distinct.push(v.address().to_string());
                distinct.len() as u32 - 1
            })
        })
        .collect();
    // A registry is one municipality's: addresses written from the town on
    // are read there (given, or inferred from the addresses that say).
    let (results, inferred) = chiiki_geocode::batch::geocode_municipality(
        geocoder,
        &distinct,
        context,
        &indicatif::ProgressBar::hidden(),
    );

    let names = [
        ("resident_id", FieldType::Text),
        ("household_id", FieldType::Text),
        ("name", FieldType::Text),
        ("name_kana", FieldType::Text),
        ("birth_date", FieldType::Date),
        ("sex", FieldType::Text),
        ("relationship", FieldType::Text),
        ("address", FieldType::Text),
        ("address_extra", FieldType::Text),
        ("needs_support", FieldType::Boolean),
        ("care_level", FieldType::Text),
        ("disability", FieldType::Boolean),
        ("town", FieldType::Text),
        ("addr", FieldType::Text),
        ("level", FieldType::Text),
        ("score", FieldType::Real),
        (crate::record_keys::COLUMN, FieldType::Integer),
    ];
    let mut columns: Vec<Column> = names.iter().map(|(n, t)| Column::new(n, *t)).collect();
    let mut points = Vec::new();
    let mut fids = Vec::new();
    let mut report = PointsReport {
        residents: views.len(),
        context: match &inferred {
            Some(c) => Some((c.label().to_string(), true)),
            None => (!context.is_empty()).then(|| (context.label().to_string(), false)),
        },
        ..Default::default()
    };
    for (row, (view, id)) in views.iter().zip(&ids).enumerate() {
        let g = &results[*id as usize];
        *report.levels.entry(g.level).or_default() += 1;
        report.by_context += usize::from(g.used_context);
        if g.lon.is_nan() || g.level < Level::OazaChome {
            let examples = report
                .unplaced
                .entry(format!("{}: {}", g.level.as_str(), g.reason))
                .or_default();
            if examples.len() < 10 {
                examples.push(view.resident_id().to_string());
            }
            continue;
        }
        let person = view.person();
        let placement = view.placement();
        let text = |s: &str| Value::Text(s.to_string());
        let values = [
            text(view.resident_id()),
            text(view.household_id()),
            text(&person.name),
            text(&person.name_kana),
            Value::Date(days_from_date(person.birth_date.first_day())),
            text(&person.sex.to_string()),
            text(&placement.relationship),
            text(&placement.address),
            text(&placement.address_extra),
            Value::Boolean(person.needs_support),
            person.care_level.map_or(Value::Null, |c| text(c.label())),
            Value::Boolean(person.disability),
            text(&g.town),
            text(&g.addr),
            text(g.level.as_str()),
            Value::Real(g.score),
            Value::Integer(keys.key_of(view.resident_id()) as i64),
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column
                .push(value)
                .expect("values match the column types above");
        }
        points.push([g.lon, g.lat]);
        fids.push(row as i64 + 1);
    }
    report.placed = points.len();
    // 住民票コード are numbers in practice: then they are the feature ids,
    // stable across dates and 異動. Otherwise rows of the as-of view.
    let id_column = &columns[0];
    let numeric: Option<Vec<i64>> = (0..id_column.len())
        .map(|r| match id_column.get(r) {
            Value::Text(t) => t.parse::<i64>().ok(),
            _ => None,
        })
        .collect();
    if let Some(ids) = numeric {
        fids = ids;
    }
    let layer = Layer::new(LayerParts {
        meta: LayerMeta {
            id: layer_id.to_string(),
            title: format!("住民ポイント ({date})"),
            description: format!(
                "Residents registered on {date}, geocoded against the ABR. Personal data: not public."
            ),
            source: "resident registry".into(),
            source_crs: "EPSG:6668".into(),
            access: Access { public: false, roles },
            privacy: chiiki_core::sensitivity::Privacy::Individuals {
                population: layer_id.to_string(),
                fields: chiiki_core::sensitivity::resident_fields(),
            },
            imported_at: chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ..Default::default()
        },
        fids,
        geometries: Geometries::Points(points),
        columns,
    });
    (layer, report)
}
