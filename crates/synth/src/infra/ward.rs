//! The real inputs the infrastructure is laid on: the ward outline (the
//! union of the 68 census 町丁目 polygons), its towns, the 神田川 along its
//! southern boundary, and the 住居表示 街区 (blocks) of the ABR.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use geo::{Area, BoundingRect, Coord, LineString, MapCoords, MultiPolygon, Polygon, Rect};

use super::geom::{Clipper, Plane};
use chiiki_core::layers::column::Value;
use chiiki_geocode::reference::Table;
use chiiki_store::import::{read_files, ImportOptions};

use crate::error::{Result, SynthError};

pub const CENSUS_POLYGONS: &str = "bunkyo/r2ka13105.shp";
pub const ABR_DIR: &str = "abr/bunkyo-131059";
const ABR_RSDT: &str = "mt_rsdtdsp_rsdt_bunkyo.csv.zip";
const ABR_RSDT_POS: &str = "mt_rsdtdsp_rsdt_pos_bunkyo.csv.zip";

/// Holes left by the union of the census polygons are slivers where
/// neighbouring boundaries do not quite meet; 文京区 has no enclave.
const MAX_SLIVER_HOLE_M2: f64 = 1_000.0;

/// A 町丁目 of the ward, for naming things after where they are.
pub struct Town {
    /// 大字・町 without the 丁目 (関口一丁目 → 関口).
    pub oaza: String,
    pub area: MultiPolygon,
}

pub struct Ward {
    /// The ward outline, plane metres.
    pub area: MultiPolygon,
    /// Its bounding box in lon/lat.
    pub bbox_lonlat: Rect,
    pub clipper: Clipper,
    /// The 神田川: the ward's southern boundary from its western end to its
    /// south-eastern corner (御茶ノ水), west to east.
    pub river: LineString,
    pub towns: Vec<Town>,
}

impl Ward {
    /// The 大字 of the town containing `p` or, outside every town, the nearest.
    pub fn oaza_at(&self, p: Coord) -> &str {
        use geo::{Distance, Euclidean};
        let point = geo::Point::from(p);
        self.towns
            .iter()
            .map(|t| (Euclidean.distance(&point, &t.area), t))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, t)| t.oaza.as_str())
            .unwrap_or("文京")
    }
}

pub fn load(real: &Path, plane: &Plane) -> Result<Ward> {
    let path = real.join(CENSUS_POLYGONS);
    let opts = ImportOptions {
        layer_id: "bunkyo_towns".into(),
        ..Default::default()
    };
    let (parts, _) = read_files(std::slice::from_ref(&path), &opts)?;
    let names = parts
        .columns
        .iter()
        .find(|c| c.name == "S_NAME")
        .ok_or_else(|| SynthError::input(&path, "no field S_NAME"))?;
    let mut towns = Vec::new();
    let mut polygons: Vec<Polygon> = Vec::new();
    let mut bbox: Option<Rect> = None;
    for row in 0..parts.geometries.len() {
        let geom = parts.geometries.get(row);
        if let Some(r) = geom.bounding_rect() {
            bbox = Some(match bbox {
                None => r,
                Some(b) => Rect::new(
                    Coord {
                        x: b.min().x.min(r.min().x),
                        y: b.min().y.min(r.min().y),
                    },
                    Coord {
                        x: b.max().x.max(r.max().x),
                        y: b.max().y.max(r.max().y),
                    },
                ),
            });
        }
        let area = match geom {
            geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
            geo::Geometry::MultiPolygon(m) => m,
            other => {
                return Err(SynthError::input(
                    &path,
                    format!("row {row} is not a polygon but {other:?}"),
                ))
            }
        };
        let area = area.map_coords(|c| plane.fwd(c));
        polygons.extend(area.0.iter().cloned());
        let name = match names.get(row) {
            Value::Text(s) => s,
            _ => String::new(),
        };
        towns.push(Town {
            oaza: oaza_of(&name),
            area,
        });
    }
    let bbox_lonlat = bbox.ok_or_else(|| SynthError::input(&path, "no polygon"))?;
    let union = geo::unary_union(&polygons);
    let area = MultiPolygon(
        union
            .0
            .into_iter()
            .filter(|p| p.unsigned_area() > MAX_SLIVER_HOLE_M2)
            .map(|p| {
                let holes = p
                    .interiors()
                    .iter()
                    .filter(|h| {
                        Polygon::new((*h).clone(), vec![]).unsigned_area() > MAX_SLIVER_HOLE_M2
                    })
                    .cloned()
                    .collect();
                Polygon::new(p.exterior().clone(), holes)
            })
            .collect(),
    );
    let river = southern_boundary(&area)
        .ok_or_else(|| SynthError::input(&path, "the ward outline is empty"))?;
    Ok(Ward {
        clipper: Clipper::new(&area),
        area,
        bbox_lonlat,
        river,
        towns,
    })
}

/// 関口一丁目 → 関口; names without 丁目 stay as they are.
fn oaza_of(name: &str) -> String {
    match name.strip_suffix("丁目") {
        Some(rest) => rest
            .trim_end_matches(['一', '二', '三', '四', '五', '六', '七', '八', '九', '十'])
            .to_string(),
        None => name.to_string(),
    }
}

/// The 神田川 runs along 文京区's southern boundary, from the ward's western
/// tip (関口) to its south-eastern corner (御茶ノ水). Of the two ways round
/// the outline between those vertices, it is the southern one.
fn southern_boundary(area: &MultiPolygon) -> Option<LineString> {
    let outline = area
        .0
        .iter()
        .max_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area()))?;
    let ring = &outline.exterior().0;
    let n = ring.len().checked_sub(1)?; // closed ring: last == first
    if n < 3 {
        return None;
    }
    let argmax = |f: &dyn Fn(Coord) -> f64| {
        (0..n)
            .max_by(|&i, &j| f(ring[i]).total_cmp(&f(ring[j])))
            .unwrap_or(0)
    };
    let west = argmax(&|c| -c.x);
    let south_east = argmax(&|c| c.x - c.y);
    let walk = |step: usize| {
        let mut out = vec![ring[west]];
        let mut i = west;
        while i != south_east {
            i = (i + step) % n;
            out.push(ring[i]);
        }
        out
    };
    let forward = walk(1);
    let backward = walk(n - 1);
    let mean_y = |v: &[Coord]| v.iter().map(|c| c.y).sum::<f64>() / v.len() as f64;
    let south = if mean_y(&forward) <= mean_y(&backward) {
        forward
    } else {
        backward
    };
    Some(LineString(south))
}

/// The input files, for messages.
pub fn block_files(real: &Path) -> [PathBuf; 2] {
    let dir = real.join(ABR_DIR);
    [dir.join(ABR_RSDT), dir.join(ABR_RSDT_POS)]
}

/// One 住居表示 街区 (block) of the ABR.
pub struct Block {
    /// Mean position of its addresses, plane metres.
    pub pos: Coord,
}

/// The ward's 街区 (blocks), each at the mean position of its 住居 addresses:
/// the ABR master joined to its positions on lg_code + machiaza_id + blk_id +
/// rsdt_id + rsdt2_id, grouped by machiaza_id + blk_id, in that order.
pub fn blocks(real: &Path, plane: &Plane) -> Result<Vec<Block>> {
    let [master_path, pos_path] = block_files(real);
    let key_cols = ["lg_code", "machiaza_id", "blk_id", "rsdt_id", "rsdt2_id"];
    let pos = Table::read(&pos_path)?;
    let pk = pos.cols(key_cols)?;
    let pc = pos.cols(["rep_lon", "rep_lat"])?;
    let mut positions: BTreeMap<Vec<&str>, Coord> = BTreeMap::new();
    for (line, r) in pos.rows.iter().enumerate() {
        let key: Vec<&str> = pk.iter().map(|&i| r.get(i).unwrap_or("")).collect();
        let parse = |i: usize| r.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        match (parse(pc[0]), parse(pc[1])) {
            (Some(x), Some(y)) => {
                positions.insert(key, Coord { x, y });
            }
            _ => {
                return Err(SynthError::Input {
                    path: pos_path.clone(),
                    line: Some(line as u64 + 2),
                    feature: None,
                    message: "no rep_lon/rep_lat".into(),
                })
            }
        }
    }
    let master = Table::read(&master_path)?;
    let mk = master.cols(key_cols)?;
    let mut sums: BTreeMap<(&str, &str), (f64, f64, usize)> = BTreeMap::new();
    for r in &master.rows {
        let key: Vec<&str> = mk.iter().map(|&i| r.get(i).unwrap_or("")).collect();
        if let Some(c) = positions.get(&key) {
            let e = sums.entry((key[1], key[2])).or_insert((0.0, 0.0, 0));
            e.0 += c.x;
            e.1 += c.y;
            e.2 += 1;
        }
    }
    if sums.is_empty() {
        return Err(SynthError::input(
            &master_path,
            format!(
                "joined to {}: no address has a position",
                pos_path.display()
            ),
        ));
    }
    Ok(sums
        .values()
        .map(|&(x, y, n)| Block {
            pos: plane.fwd(Coord {
                x: x / n as f64,
                y: y / n as f64,
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn oaza_drops_the_chome() {
        assert_eq!(super::oaza_of("関口一丁目"), "関口");
        assert_eq!(super::oaza_of("本駒込六丁目"), "本駒込");
        assert_eq!(super::oaza_of("後楽"), "後楽");
    }
}
