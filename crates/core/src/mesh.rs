//! JIS X 0410 地域メッシュ: point → code by arithmetic, code → cell.
//!
//! Every level is a subdivision of the 80 km 第1次地域区画 (40′ of latitude ×
//! 1° of longitude). A point becomes whole 125 m cells counted from 0° N and
//! 100° E (1/960° of latitude, 1/640° of longitude); every coarser level is
//! integer division of those counts. A point exactly on a cell edge (as
//! written in decimal) belongs to the cell to its north / east, as the
//! standard says — also where the reference implementation (jismesh),
//! chaining floating-point remainders, puts it south or west.
//!
//! ```
//! use chiiki_core::mesh::{code, MeshLevel};
//! // 文京区役所 (Bunkyo Civic Center)
//! assert_eq!(code(139.7522, 35.7081, MeshLevel::M1km), Some(53394640));
//! assert_eq!(code(139.7522, 35.7081, MeshLevel::M250m), Some(5339464033));
//! ```

use geo::{coord, Rect};

/// 125 m cells per degree of latitude / longitude.
const LAT_UNITS: f64 = 960.0;
const LON_UNITS: f64 = 640.0;

/// The mesh levels, coarsest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeshLevel {
    /// 第1次地域区画, 4 digits.
    M80km,
    /// 第2次地域区画, 6 digits.
    M10km,
    /// 5倍地域メッシュ, 7 digits.
    M5km,
    /// 2倍地域メッシュ, 9 digits ending in 5.
    M2km,
    /// 基準地域メッシュ (第3次地域区画), 8 digits.
    M1km,
    /// 2分の1地域メッシュ, 9 digits.
    M500m,
    /// 4分の1地域メッシュ, 10 digits.
    M250m,
    /// 8分の1地域メッシュ, 11 digits.
    M125m,
}

impl MeshLevel {
    pub const ALL: [MeshLevel; 8] = [
        MeshLevel::M80km,
        MeshLevel::M10km,
        MeshLevel::M5km,
        MeshLevel::M2km,
        MeshLevel::M1km,
        MeshLevel::M500m,
        MeshLevel::M250m,
        MeshLevel::M125m,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MeshLevel::M80km => "80km",
            MeshLevel::M10km => "10km",
            MeshLevel::M5km => "5km",
            MeshLevel::M2km => "2km",
            MeshLevel::M1km => "1km",
            MeshLevel::M500m => "500m",
            MeshLevel::M250m => "250m",
            MeshLevel::M125m => "125m",
        }
    }

    pub fn parse(name: &str) -> Option<MeshLevel> {
        MeshLevel::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Cell size in 125 m units (latitude, longitude).
    fn units(self) -> (i64, i64) {
        match self {
            MeshLevel::M80km => (640, 640),
            MeshLevel::M10km => (80, 80),
            MeshLevel::M5km => (40, 40),
            MeshLevel::M2km => (16, 16),
            MeshLevel::M1km => (8, 8),
            MeshLevel::M500m => (4, 4),
            MeshLevel::M250m => (2, 2),
            MeshLevel::M125m => (1, 1),
        }
    }
}

/// Whole units below `x × scale`, with a value within a rounding error of an
/// edge put on the edge: coordinates are written in decimal, and 35.7° N is
/// an edge on paper even though the nearest double is a hair off it.
/// `x` is never negative here (the callers check the range), so truncation
/// is the floor, without a call into libm.
#[inline]
fn units_below(x: f64, scale: f64) -> i64 {
    let v = x * scale;
    let whole = v as i64;
    if v - whole as f64 > 1.0 - 1e-7 {
        whole + 1
    } else {
        whole
    }
}

/// The code of the cell holding (`lon`, `lat`), or `None` outside the area
/// the system covers (latitudes 0–66.66° N, longitudes 100–180° E).
pub fn code(lon: f64, lat: f64, level: MeshLevel) -> Option<u64> {
    let (row, column) = cell_index(lon, lat, level)?;
    let (h, w) = level.units();
    Some(code_of_units(row * h, column * w, level))
}

/// The cell holding (`lon`, `lat`) as (row, column) counted from 0° N and
/// 100° E at `level`: cheap to compare, for callers that visit many points
/// of the same cell in a row.
pub fn cell_index(lon: f64, lat: f64, level: MeshLevel) -> Option<(i64, i64)> {
    if !(0.0..66.66).contains(&lat) || !(100.0..180.0).contains(&lon) {
        return None;
    }
    let (h, w) = level.units();
    let y = units_below(lat, LAT_UNITS);
    let x = units_below(lon - 100.0, LON_UNITS);
    Some((y / h, x / w))
}

/// The code of the cell at (row, column) of [`cell_index`].
pub fn code_of_index(row: i64, column: i64, level: MeshLevel) -> u64 {
    let (h, w) = level.units();
    code_of_units(row * h, column * w, level)
}

fn code_of_units(y: i64, x: i64, level: MeshLevel) -> u64 {
    let (p, u) = (y / 640, x / 640);
    let first = (p * 100 + u) as u64;
    if level == MeshLevel::M80km {
        return first;
    }
    let (q, v) = ((y % 640) / 80, (x % 640) / 80);
    let second = first * 100 + (q * 10 + v) as u64;
    let quadrant = |unit: i64, parent: i64| {
        let (a, b) = ((y % parent) / unit, (x % parent) / unit);
        (a * 2 + b + 1) as u64
    };
    match level {
        MeshLevel::M80km => first,
        MeshLevel::M10km => second,
        MeshLevel::M5km => second * 10 + quadrant(40, 80),
        MeshLevel::M2km => {
            let (a, b) = ((y % 80) / 16, (x % 80) / 16);
            second * 1000 + (a * 2 * 100 + b * 2 * 10 + 5) as u64
        }
        _ => {
            let (r, w) = ((y % 80) / 8, (x % 80) / 8);
            let third = second * 100 + (r * 10 + w) as u64;
            match level {
                MeshLevel::M1km => third,
                MeshLevel::M500m => third * 10 + quadrant(4, 8),
                MeshLevel::M250m => (third * 10 + quadrant(4, 8)) * 10 + quadrant(2, 4),
                _ => ((third * 10 + quadrant(4, 8)) * 10 + quadrant(2, 4)) * 10 + quadrant(1, 2),
            }
        }
    }
}

/// The level a code is at, from its digits.
pub fn level_of(code: u64) -> Option<MeshLevel> {
    let digits = code.checked_ilog10()? + 1;
    Some(match digits {
        4 => MeshLevel::M80km,
        6 => MeshLevel::M10km,
        7 => MeshLevel::M5km,
        8 => MeshLevel::M1km,
        9 if code % 10 == 5
            && ((code / 10) % 10).is_multiple_of(2)
            && ((code / 100) % 10).is_multiple_of(2) =>
        {
            // 2 km codes end in even, even, 5; a 500 m code ends in 1–4.
            MeshLevel::M2km
        }
        9 => MeshLevel::M500m,
        10 => MeshLevel::M250m,
        11 => MeshLevel::M125m,
        _ => return None,
    })
}

/// South-west corner of a code in 125 m units, with its level; `None` for
/// something that is not a valid code.
fn origin_units(code: u64) -> Option<(i64, i64, MeshLevel)> {
    let level = level_of(code)?;
    let digits = |c: u64, n: u32| -> Vec<i64> {
        (0..n)
            .rev()
            .map(|i| ((c / 10u64.pow(i)) % 10) as i64)
            .collect()
    };
    let n = code.ilog10() + 1;
    let d = digits(code, n);
    let (mut y, mut x) = ((d[0] * 10 + d[1]) * 640, (d[2] * 10 + d[3]) * 640);
    if level == MeshLevel::M80km {
        return Some((y, x, level));
    }
    if d[4] > 7 || d[5] > 7 {
        return None;
    }
    y += d[4] * 80;
    x += d[5] * 80;
    let quadrant = |q: i64, unit: i64, y: &mut i64, x: &mut i64| -> Option<()> {
        if !(1..=4).contains(&q) {
            return None;
        }
        *y += (q - 1) / 2 * unit;
        *x += (q - 1) % 2 * unit;
        Some(())
    };
    match level {
        MeshLevel::M10km => {}
        MeshLevel::M5km => quadrant(d[6], 40, &mut y, &mut x)?,
        MeshLevel::M2km => {
            if d[6] > 8 || d[7] > 8 {
                return None;
            }
            y += d[6] / 2 * 16;
            x += d[7] / 2 * 16;
        }
        _ => {
            y += d[6] * 8;
            x += d[7] * 8;
            let steps = [(4, 8), (2, 9), (1, 10)];
            for (unit, i) in steps {
                if (i as u32) < n {
                    quadrant(d[i], unit, &mut y, &mut x)?;
                }
            }
        }
    }
    Some((y, x, level))
}

/// The cell of a code as a lon/lat rectangle, `None` for an invalid code.
pub fn cell(code: u64) -> Option<Rect<f64>> {
    let (y, x, level) = origin_units(code)?;
    let (h, w) = level.units();
    Some(Rect::new(
        coord! { x: 100.0 + x as f64 / LON_UNITS, y: y as f64 / LAT_UNITS },
        coord! { x: 100.0 + (x + w) as f64 / LON_UNITS, y: (y + h) as f64 / LAT_UNITS },
    ))
}

/// The code of the cell containing `code` at a coarser `level`.
pub fn parent(code: u64, level: MeshLevel) -> Option<u64> {
    let (y, x, own) = origin_units(code)?;
    (level <= own).then(|| code_of_units(y, x, level))
}

/// The codes of the cells at a finer `level` that make up `code`'s cell,
/// south-west first, row by row.
pub fn children(code: u64, level: MeshLevel) -> Option<Vec<u64>> {
    let (y, x, own) = origin_units(code)?;
    if level < own {
        return None;
    }
    let ((h, w), (ch, cw)) = (own.units(), level.units());
    let mut out = Vec::with_capacity(((h / ch) * (w / cw)) as usize);
    for dy in (0..h).step_by(ch as usize) {
        for dx in (0..w).step_by(cw as usize) {
            out.push(code_of_units(y + dy, x + dx, level));
        }
    }
    Some(out)
}

/// The eight cells around `code` at its own level (fewer at the edge of the
/// system), clockwise from the north.
pub fn neighbours(code: u64) -> Option<Vec<u64>> {
    let (y, x, level) = origin_units(code)?;
    let (h, w) = level.units();
    let steps = [
        (1, 0),
        (1, 1),
        (0, 1),
        (-1, 1),
        (-1, 0),
        (-1, -1),
        (0, -1),
        (1, -1),
    ];
    Some(
        steps
            .iter()
            .map(|(dy, dx)| (y + dy * h, x + dx * w))
            .filter(|&(y, x)| y >= 0 && x >= 0 && y < 64 * 960 && x < 80 * 640)
            .map(|(y, x)| code_of_units(y, x, level))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_census_file_corner() {
        // mesh/README.md: 5339454721 has its SW corner at 35.700000 N, 139.718750 E.
        let c = cell(5339454721).unwrap();
        assert!((c.min().y - 35.7).abs() < 1e-12);
        assert!((c.min().x - 139.71875).abs() < 1e-12);
        assert!((c.height() - 7.5 / 3600.0).abs() < 1e-12);
        assert!((c.width() - 11.25 / 3600.0).abs() < 1e-12);
        assert_eq!(code(139.71875, 35.7, MeshLevel::M250m), Some(5339454721));
        // Just south-west of the corner is another cell.
        assert_ne!(
            code(139.71875 - 1e-6, 35.7 - 1e-6, MeshLevel::M250m),
            Some(5339454721)
        );
    }

    #[test]
    fn round_trips_at_every_level() {
        for level in MeshLevel::ALL {
            for (lon, lat) in [(139.7522, 35.7081), (130.55, 31.59), (141.35, 43.06)] {
                let c = code(lon, lat, level).unwrap();
                assert_eq!(level_of(c), Some(level), "{c}");
                let r = cell(c).unwrap();
                assert!(r.min().x <= lon && lon < r.max().x, "{level:?} {c}");
                assert!(r.min().y <= lat && lat < r.max().y, "{level:?} {c}");
                let centre = r.center();
                assert_eq!(code(centre.x, centre.y, level), Some(c));
                assert_eq!(
                    parent(c, MeshLevel::M80km),
                    code(lon, lat, MeshLevel::M80km)
                );
            }
        }
    }

    #[test]
    fn children_and_neighbours() {
        let one_km = 53394640;
        let kids = children(one_km, MeshLevel::M250m).unwrap();
        assert_eq!(kids.len(), 16);
        let parent_cell = cell(one_km).unwrap();
        for k in &kids {
            assert_eq!(parent(*k, MeshLevel::M1km), Some(one_km));
            let c = cell(*k).unwrap().center();
            assert!(parent_cell.min().x < c.x && c.x < parent_cell.max().x);
        }
        assert_eq!(children(one_km, MeshLevel::M10km), None);
        let around = neighbours(5339464033).unwrap();
        assert_eq!(around.len(), 8);
        let centre = cell(5339464033).unwrap();
        for n in around {
            let c = cell(n).unwrap();
            let (dx, dy) = (
                (c.center().x - centre.center().x).abs(),
                (c.center().y - centre.center().y).abs(),
            );
            assert!(dx < 1.5 * centre.width() && dy < 1.5 * centre.height());
            assert!(dx > 0.5 * centre.width() || dy > 0.5 * centre.height());
        }
        // Across a 1 km and a 10 km border: the cell to the east of the
        // north-east 250 m cell of 5339-46-49.
        let east = neighbours(5339464944).unwrap()[2];
        assert_eq!(east, 5339474033);
    }

    #[test]
    fn invalid_codes() {
        assert_eq!(cell(53394), None);
        assert_eq!(cell(5339991), None);
        assert_eq!(cell(5339461135), None, "quadrant 5 does not exist");
        assert_eq!(code(10.0, 35.0, MeshLevel::M1km), None);
    }
}
