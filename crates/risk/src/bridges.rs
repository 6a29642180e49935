//! The bridge risk index: a documented weighted sum in 0–1, not a trained
//! model (there is no failure history to train on).
//!
//! | part | value in 0–1 | weight |
//! |---|---|---|
//! | 健全性 | I 0, II ⅓, III ⅔, IV 1 | 0.40 |
//! | age | years since built / 80, capped | 0.15 |
//! | years since inspection | / 10 (the cycle is 5 years), capped | 0.15 |
//! | flood depth rank at the bridge | / 5 | 0.15 |
//! | importance | residents within 500 m (+ 要支援者 ×5) / the largest such count | 0.15 |
//!
//! Importance is a proxy for "people whose way to a shelter crosses the
//! bridge": the people living within [`RADIUS_M`] of it, 避難行動要支援者
//! counting five times. Residents are personal data and the bridges layer is
//! read by analysts, so only aggregate counts go onto it, and coarsened:
//! 0 stays 0, 1–2 are hidden (null), others are rounded up to a multiple of
//! 5. The index is computed from the coarsened counts too.

use crate::error::Result;

use chiiki_core::layers::{Column, FieldType, Geometries, Layer, Value};

pub const RADIUS_M: f64 = 500.0;
pub const MODEL_ID: &str = "bridges-index-1";

/// The inputs of one bridge's index.
#[derive(Debug, Clone, Copy, Default)]
pub struct BridgeInputs {
    /// 1 (I) … 4 (IV); 0 when unknown (counted as II).
    pub grade: u8,
    pub age: f64,
    pub years_since_inspection: f64,
    pub flood_depth_rank: f64,
    /// Importance in 0–1.
    pub importance: f64,
}

/// The index and its parts (name, weighted contribution).
pub fn index(b: &BridgeInputs) -> (f64, Vec<(&'static str, f64)>) {
    let grade = match b.grade {
        1 => 0.0,
        0 | 2 => 1.0 / 3.0,
        3 => 2.0 / 3.0,
        _ => 1.0,
    };
    let parts = vec![
        ("健全性", 0.40 * grade),
        ("age", 0.15 * (b.age / 80.0).clamp(0.0, 1.0)),
        (
            "inspection",
            0.15 * (b.years_since_inspection / 10.0).clamp(0.0, 1.0),
        ),
        ("flood", 0.15 * (b.flood_depth_rank / 5.0).clamp(0.0, 1.0)),
        ("importance", 0.15 * b.importance.clamp(0.0, 1.0)),
    ];
    (parts.iter().map(|p| p.1).sum(), parts)
}

/// 0 → 0, 1–2 → hidden, otherwise rounded up to a multiple of 5.
pub fn coarsen(count: usize) -> Option<i64> {
    match count {
        0 => Some(0),
        1 | 2 => None,
        n => Some(n.div_ceil(5) as i64 * 5),
    }
}

fn grade_number(s: &str) -> u8 {
    match s.trim() {
        "I" | "Ⅰ" | "1" => 1,
        "II" | "Ⅱ" | "2" => 2,
        "III" | "Ⅲ" | "3" => 3,
        "IV" | "Ⅳ" | "4" => 4,
        _ => 0,
    }
}

/// The index columns of the bridges layer for `year`: `residents_500m`,
/// `needs_support_500m` (coarsened) and the `risk_*` columns.
pub fn columns(
    bridges: &Layer,
    residents: Option<&Layer>,
    year: i32,
    scored_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Column>> {
    let ids = super::text_column(bridges, "bridge_id")?;
    let grade = super::text_column(bridges, "health_grade")?;
    let built = super::number_column(bridges, "build_year")?;
    let inspected = super::number_column(bridges, "last_inspection_year")?;
    let flood = super::number_column(bridges, "flood_depth_rank")?;
    let mut people = Vec::with_capacity(bridges.len());
    for r in 0..bridges.len() {
        let (n, s) = match residents {
            Some(res) => near(res, bridges.geometries.get(r))?,
            None => (0, 0),
        };
        people.push((coarsen(n), coarsen(s)));
    }
    let weight =
        |(n, s): &(Option<i64>, Option<i64>)| n.unwrap_or(0) as f64 + 5.0 * s.unwrap_or(0) as f64;
    let most = people.iter().map(weight).fold(0.0, f64::max).max(1.0);
    let mut scores = Vec::new();
    let mut factors = Vec::new();
    for r in 0..bridges.len() {
        let inputs = BridgeInputs {
            grade: grade_number(&grade[r]),
            age: built[r].map_or(50.0, |b| year as f64 - b),
            years_since_inspection: inspected[r].map_or(10.0, |i| year as f64 - i),
            flood_depth_rank: flood[r].unwrap_or(0.0),
            importance: weight(&people[r]) / most,
        };
        let (score, mut parts) = index(&inputs);
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        let describe = |name: &str| match name {
            "健全性" => format!("健全性 {}", grade[r]),
            "age" => format!("age {:.0} y", inputs.age),
            "inspection" => format!("inspected {:.0} y ago", inputs.years_since_inspection),
            "flood" => format!("flood rank {}", inputs.flood_depth_rank),
            _ => format!(
                "residents within 500 m {}",
                people[r].0.map_or("1–2".to_string(), |n| n.to_string())
            ),
        };
        factors.push(
            parts
                .iter()
                .filter(|p| p.1 > 0.0)
                .take(3)
                .map(|(n, c)| format!("{} +{c:.2}", describe(n)))
                .collect::<Vec<_>>()
                .join("; "),
        );
        scores.push(score);
    }
    let ranks = super::ranks(&scores, &ids);
    let mut residents_col = Column::new("residents_500m", FieldType::Integer);
    let mut support_col = Column::new("needs_support_500m", FieldType::Integer);
    for (n, s) in &people {
        residents_col
            .push(n.map_or(Value::Null, Value::Integer))
            .expect("integer");
        support_col
            .push(s.map_or(Value::Null, Value::Integer))
            .expect("integer");
    }
    let mut cols = vec![residents_col, support_col];
    cols.extend(super::risk_columns(
        &scores, &ranks, &factors, MODEL_ID, scored_at,
    ));
    Ok(cols)
}

/// Residents and 要支援者 within [`RADIUS_M`] of a geometry's centroid.
fn near(residents: &Layer, g: geo::Geometry<f64>) -> Result<(usize, usize)> {
    use geo::Centroid;
    let Some(c) = g.centroid() else {
        return Ok((0, 0));
    };
    let Geometries::Points(points) = &residents.geometries else {
        return Ok((0, 0));
    };
    let support = residents.column("needs_support").map(|(_, c)| c);
    let dlat = RADIUS_M / 111_320.0;
    let kx = 111_320.0 * c.y().to_radians().cos();
    let dlon = RADIUS_M / kx;
    let bbox = geo::Rect::new(
        geo::coord! { x: c.x() - dlon, y: c.y() - dlat },
        geo::coord! { x: c.x() + dlon, y: c.y() + dlat },
    );
    let (mut n, mut s) = (0, 0);
    for row in residents.rows_in_bbox(bbox) {
        let p = points[row as usize];
        let dx = (p[0] - c.x()) * kx;
        let dy = (p[1] - c.y()) * 111_320.0;
        if dx * dx + dy * dy <= RADIUS_M * RADIUS_M {
            n += 1;
            if support.is_some_and(|col| col.get(row as usize) == Value::Boolean(true)) {
                s += 1;
            }
        }
    }
    Ok((n, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worse_grade_outranks_same_age() {
        let base = BridgeInputs {
            grade: 1,
            age: 55.0,
            years_since_inspection: 3.0,
            flood_depth_rank: 1.0,
            importance: 0.4,
        };
        let i = index(&base).0;
        let iii = index(&BridgeInputs { grade: 3, ..base }).0;
        let iv = index(&BridgeInputs { grade: 4, ..base }).0;
        assert!(iv > iii && iii > i);
        // A grade IV bridge outranks a grade I one of the same age even when
        // the grade I one is overdue for inspection and the most important.
        let bad_i = BridgeInputs {
            years_since_inspection: 10.0,
            importance: 1.0,
            ..base
        };
        assert!(iv > index(&bad_i).0);
    }

    #[test]
    fn counts_are_coarsened() {
        assert_eq!(coarsen(0), Some(0));
        assert_eq!(coarsen(1), None);
        assert_eq!(coarsen(2), None);
        assert_eq!(coarsen(3), Some(5));
        assert_eq!(coarsen(11), Some(15));
    }
}
