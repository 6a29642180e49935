//! The registry's history, served: `as_of=YYYY-MM-DD` on the residents
//! layer and on every analysis over people answers "who lived where on
//! that day", and `changes_since=YYYY-MM-DD` lists who moved in, moved out,
//! was born, died or moved within the city since.
//!
//! The server floor does not know the registry (a producer): the binary
//! hands it a [`ResidentHistory`], and the server builds, per generation
//! and date, a dated copy of the data ([`crate::Data`]) in which the
//! residents layer is the one of that day and ages are counted on it. Every
//! view, analysis, perturbation and audit rule then applies unchanged.

use chiiki_core::layers::Layer;
use chrono::NaiveDate;

/// How a resident's registration changed between two days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// 転入: registered by moving in from elsewhere.
    MovedIn,
    /// 出生: registered at birth.
    Born,
    /// 転出: moved out of the city.
    MovedOut,
    /// 死亡
    Died,
    /// 転居: moved within the city (a new address).
    MovedWithin,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::MovedIn => "moved_in",
            Change::Born => "born",
            Change::MovedOut => "moved_out",
            Change::Died => "died",
            Change::MovedWithin => "moved_within",
        }
    }

    /// Whether the person is gone at the end: shown as they were at the start.
    pub fn left(self) -> bool {
        matches!(self, Change::MovedOut | Change::Died)
    }
}

/// The registry's history of one resident layer.
pub trait ResidentHistory: Send + Sync {
    /// The id of the resident layer it rebuilds.
    fn layer_id(&self) -> &str;

    /// The resident layer as it was on `date`: the same columns as the
    /// served one, geocoded the same way.
    fn residents_on(&self, date: NaiveDate) -> Result<Layer, String>;

    /// Residents (by feature id) whose registration changed after `since`
    /// up to and including `until`, each with its net change.
    fn changes(&self, since: NaiveDate, until: NaiveDate) -> Result<Vec<(i64, Change)>, String>;
}

/// The people of a list who changed: those still there at the end (moved
/// in, born, moved within) as they are at the end, those gone (moved out,
/// died) as they were at the start, each with a `change` column. `end` and
/// `start` are one collection as one role sees it on two days, so they
/// have the same columns.
pub fn changed_rows(
    end: &Layer,
    start: &Layer,
    changes: &std::collections::HashMap<i64, Change>,
) -> Layer {
    use chiiki_core::layers::{Column, FieldType, Geometries, LayerParts, Value};
    let real = |layer: &Layer, row: usize| match &layer.record_ids {
        Some(ids) => ids[row],
        None => layer.fids[row],
    };
    let pick = |layer: &Layer, gone: bool| -> Vec<(u32, Change)> {
        (0..layer.len())
            .filter_map(|row| {
                let c = *changes.get(&real(layer, row))?;
                (c.left() == gone).then_some((row as u32, c))
            })
            .collect()
    };
    let (stayed, gone) = (pick(end, false), pick(start, true));
    let mut columns: Vec<Column> = end
        .columns
        .iter()
        .map(|c| Column::new(&c.name, c.field_type()))
        .collect();
    let mut change = Column::new("change", FieldType::Text);
    let mut fids = Vec::new();
    let mut record_ids = Vec::new();
    let mut points = Vec::new();
    let mut shapes = Vec::new();
    for (layer, rows) in [(end, &stayed), (start, &gone)] {
        for &(row, c) in rows {
            let r = row as usize;
            for (out, name) in columns.iter_mut().zip(end.columns.iter().map(|c| &c.name)) {
                let v = layer
                    .column(name)
                    .map_or(Value::Null, |(_, col)| col.get(r));
                // Same collection, same role: the types agree.
                let _ = out.push(v);
            }
            let _ = change.push(Value::Text(c.as_str().to_string()));
            fids.push(layer.fids[r]);
            record_ids.push(real(layer, r));
            match &layer.geometries {
                Geometries::Points(p) => points.push(p[r]),
                Geometries::Shapes(s) => shapes.push(s[r].clone()),
            }
        }
    }
    columns.push(change);
    let geometries = if matches!(end.geometries, Geometries::Points(_)) {
        Geometries::Points(points)
    } else {
        Geometries::Shapes(shapes)
    };
    let mut meta = end.meta.clone();
    meta.labels
        .insert("change".into(), chiiki_core::sensitivity::Label::Sensitive);
    let mut layer = Layer::from_sorted(LayerParts {
        meta,
        fids,
        geometries,
        columns,
    });
    layer.record_ids = Some(record_ids);
    layer
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiiki_core::layers::{Column, FieldType, Geometries, LayerMeta, LayerParts, Value};

    fn people(ids: &[i64], town: &str) -> Layer {
        let mut c = Column::new("town", FieldType::Text);
        for _ in ids {
            c.push(Value::Text(town.into())).unwrap();
        }
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: "residents".into(),
                ..Default::default()
            },
            fids: ids.to_vec(),
            geometries: Geometries::Points(
                ids.iter()
                    .map(|&i| [139.7 + i as f64 * 1e-4, 35.7])
                    .collect(),
            ),
            columns: vec![c],
        })
    }

    #[test]
    fn arrivals_show_as_they_are_and_departures_as_they_were() {
        let start = people(&[1, 2, 3], "本郷");
        let end = people(&[2, 3, 4, 5], "湯島");
        let changes = std::collections::HashMap::from([
            (1, Change::Died),
            (3, Change::MovedWithin),
            (4, Change::Born),
        ]);
        let diff = changed_rows(&end, &start, &changes);
        let mut got: Vec<(i64, String, String)> = (0..diff.len())
            .map(|r| {
                let text = |name: &str| match diff.column(name).unwrap().1.get(r) {
                    Value::Text(t) => t,
                    other => format!("{other:?}"),
                };
                (diff.fids[r], text("town"), text("change"))
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (1, "本郷".into(), "died".into()),
                (3, "湯島".into(), "moved_within".into()),
                (4, "湯島".into(), "born".into()),
            ]
        );
    }
}
