//! JIS X 0410 mesh codes against the reference implementation, jismesh
//! (PyPI), on random points across Japan and on points exactly on cell
//! edges, at every level; and code → cell → code round trips.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use chiiki_core::mesh::{self, MeshLevel};

/// 100,000 random points across Japan plus 20,000 on cell edges (corners,
/// horizontal and vertical edges) that a decimal states exactly. For each, at every level:
/// jismesh's code, and the standard's code computed in exact decimal
/// arithmetic (edges go north / east), as "lat,lon,edge,jis…,exact…" lines.
const REFERENCE: &str = r#"
import random
from fractions import Fraction
import jismesh.utils as ju
random.seed(20261122)
pts = [(random.uniform(20, 46), random.uniform(122, 154), 0) for _ in range(100000)]
for _ in range(20000):
    # Edges that a decimal can state exactly: latitudes k/320 (every third
    # 125 m edge, so every 375 m, 1 km, 10 km and 80 km edge among them),
    # longitudes x/640 (all of them).
    y = 3 * random.randint(20 * 320, 46 * 320); x = random.randint(22 * 640, 54 * 640)
    lat, lon = y / 960, 100 + x / 640
    kind = random.randrange(3)
    pts.append((lat, lon, 1) if kind == 0 else (lat, random.uniform(122, 154), 1) if kind == 1 else (random.uniform(20, 46), lon, 1))
levels = [1, 2, 5000, 2000, 3, 4, 5, 6]
def exact(lat, lon, level):
    y = int(Fraction(repr(lat)) * 960)
    x = int((Fraction(repr(lon)) - 100) * 640)
    first = (y // 640) * 100 + x // 640
    second = first * 100 + (y % 640) // 80 * 10 + (x % 640) // 80
    quad = lambda unit, parent: (y % parent) // unit * 2 + (x % parent) // unit + 1
    third = second * 100 + (y % 80) // 8 * 10 + (x % 80) // 8
    return {1: first, 2: second, 5000: second * 10 + quad(40, 80),
            2000: second * 1000 + (y % 80) // 16 * 200 + (x % 80) // 16 * 20 + 5,
            3: third, 4: third * 10 + quad(4, 8), 5: third * 100 + quad(4, 8) * 10 + quad(2, 4),
            6: third * 1000 + quad(4, 8) * 100 + quad(2, 4) * 10 + quad(1, 2)}[level]
for lat, lon, edge in pts:
    jis = [str(ju._scalar.to_meshcode(lat, lon, lv, int)) for lv in levels]
    std = [str(exact(lat, lon, lv)) for lv in levels]
    print(f"{lat!r},{lon!r},{edge}," + ",".join(jis + std))
"#;

const LEVELS: [MeshLevel; 8] = [
    MeshLevel::M80km,
    MeshLevel::M10km,
    MeshLevel::M5km,
    MeshLevel::M2km,
    MeshLevel::M1km,
    MeshLevel::M500m,
    MeshLevel::M250m,
    MeshLevel::M125m,
];

fn jismesh_reference() -> String {
    let mut child = Command::new("python3")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(REFERENCE.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "jismesh (pip install jismesh; scripts/setup.sh does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn codes_agree_with_jismesh_and_the_standard_at_every_level() {
    let reference = jismesh_reference();
    let (mut random_points, mut edge_points) = (0, 0);
    let mut against_jismesh = Vec::new();
    let mut against_standard = Vec::new();
    // Edge points where jismesh's floating-point chain leaves the standard.
    let mut jismesh_off_standard = 0;
    for line in reference.lines() {
        let f: Vec<&str> = line.split(',').collect();
        let (lat, lon): (f64, f64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let on_edge = f[2] == "1";
        if on_edge {
            edge_points += 1;
        } else {
            random_points += 1;
        }
        let (jis, standard) = (&f[3..11], &f[11..19]);
        for (i, level) in LEVELS.iter().enumerate() {
            let got = mesh::code(lon, lat, *level).unwrap().to_string();
            if got != standard[i] {
                against_standard.push(format!(
                    "{lat},{lon} {}: {got} vs {}",
                    level.name(),
                    standard[i]
                ));
            }
            if jis[i] != standard[i] {
                jismesh_off_standard += 1;
            } else if got != jis[i] {
                against_jismesh.push(format!("{lat},{lon} {}: {got} vs {}", level.name(), jis[i]));
            }
            if !on_edge {
                assert_eq!(jis[i], standard[i], "off an edge, jismesh is the standard");
            }
        }
    }
    assert_eq!((random_points, edge_points), (100_000, 20_000));
    assert!(
        against_standard.is_empty() && against_jismesh.is_empty(),
        "{} codes off the standard, {} off jismesh, e.g. {:?} {:?}",
        against_standard.len(),
        against_jismesh.len(),
        &against_standard[..against_standard.len().min(3)],
        &against_jismesh[..against_jismesh.len().min(3)],
    );
    eprintln!(
        "120,000 points × 8 levels agree; jismesh puts {jismesh_off_standard} of the 160,000 edge codes south/west"
    );
}

#[test]
fn edges_belong_to_the_cell_north_and_east() {
    // 148.3125° E is exactly a 1 km edge: the east cell.
    let west = mesh::code(148.3125 - 1e-9, 35.3, MeshLevel::M1km).unwrap();
    let on = mesh::code(148.3125, 35.3, MeshLevel::M1km).unwrap();
    assert_ne!(west, on);
    let cell = mesh::cell(on).unwrap();
    assert_eq!(cell.min().x, 148.3125);
    // 35.7° N is a 250 m edge, though the nearest double is a hair above
    // it, and 141.35° E a 2 km edge, though the nearest double is a hair
    // below: the north and east cells.
    let on = mesh::code(139.75, 35.7, MeshLevel::M250m).unwrap();
    assert!((mesh::cell(on).unwrap().min().y - 35.7).abs() < 1e-12);
    let on = mesh::code(141.35, 43.06, MeshLevel::M2km).unwrap();
    assert!((mesh::cell(on).unwrap().min().x - 141.35).abs() < 1e-12);
}

#[test]
fn the_cli_reads_lat_lon_lines() {
    let mut child = Command::new(common::bin())
        .args(["mesh", "code", "--level", "250m"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"35.7081,139.7522\n35.70,139.71875\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let codes: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            mesh::code(139.7522, 35.7081, MeshLevel::M250m).unwrap(),
            mesh::code(139.71875, 35.70, MeshLevel::M250m).unwrap()
        ]
    );
    // The census file's first cell has its corner at 35.70 N, 139.71875 E.
    assert_eq!(codes[1], 5339454721);
    let bad = common::run(&["mesh", "code", "--level", "3km"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("250m"));
}
