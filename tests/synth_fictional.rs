//! The fictional ward (`chiiki_synth::fictional`): written in the real
//! data's formats, it must load through every reader unchanged — the
//! resident generator's city, the address reference build and geocoder, the
//! GDAL import of the census polygons, flood extents and shelters — and be
//! the same bytes for the same seed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use chiiki_core::layers::column::Value;
use chiiki_core::mesh::{self, MeshLevel};
use chiiki_geocode::reference::{build, sources_in_real_data};
use chiiki_geocode::{Geocoder, Level};
use chiiki_store::import::{read_files, ImportOptions};
use chiiki_synth::fictional::{self, FictionalSummary};
use geo::Intersects;

const SEED: u64 = 7;

fn write(seed: u64) -> (tempfile::TempDir, FictionalSummary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = fictional::write(dir.path(), seed).expect("writing the fictional ward");
    (dir, summary)
}

fn read(path: &Path, id_field: Option<&str>) -> (chiiki_core::layers::LayerParts, String) {
    let opts = ImportOptions {
        layer_id: "test".into(),
        id_field: id_field.map(String::from),
        ..Default::default()
    };
    let (parts, report) = read_files(&[path.to_path_buf()], &opts)
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(report.repaired.is_empty(), "{:?}", report.repaired);
    (parts, report.source_crs)
}

fn column<'a>(
    parts: &'a chiiki_core::layers::LayerParts,
    name: &str,
) -> &'a chiiki_core::layers::column::Column {
    parts
        .columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn the_resident_generator_loads_the_city() {
    let (dir, summary) = write(SEED);
    assert!((20..=30).contains(&summary.towns), "{summary:?}");
    assert!(summary.addresses >= 3_000, "{summary:?}");
    assert!(
        (30_000..=60_000).contains(&summary.population),
        "{summary:?}"
    );

    let city = chiiki_synth::city::load(dir.path()).expect("city::load on the fictional ward");
    assert_eq!(city.towns.len(), summary.towns);
    assert_eq!(city.addresses.len(), summary.addresses);
    let census: u64 = city.towns.iter().map(|t| t.population as u64).sum();
    assert_eq!(census, summary.population);
    let mut per_town = vec![0usize; city.towns.len()];
    for a in &city.addresses {
        per_town[a.town] += 1;
        assert!(
            city.meshes.contains_key(&a.mesh),
            "address in unlisted cell {}",
            a.mesh
        );
    }
    for (t, n) in city.towns.iter().zip(&per_town) {
        assert_eq!(
            (t.pref.as_str(), t.city.as_str()),
            (fictional::PREF, fictional::CITY)
        );
        assert!(
            t.population > 0 && t.households > 0,
            "{} has no population",
            t.name()
        );
        assert!(t.households < t.population, "{}", t.name());
        assert!(*n >= 30, "{} has {n} addresses", t.name());
    }
    // The mesh table counts the same people as the census polygons, give or
    // take rounding.
    let mesh_total: u64 = city.meshes.values().map(|m| m.population as u64).sum();
    let diff = (mesh_total as f64 - census as f64).abs() / census as f64;
    assert!(diff < 0.01, "mesh {mesh_total} vs census {census}");
}

/// The mesh table as published: two header lines, 54 fields, figures that
/// add up, shares that vary, a few old cells.
#[test]
fn the_mesh_table_is_consistent() {
    let (dir, _) = write(SEED);
    let text = std::fs::read_to_string(dir.path().join(fictional::MESH_TABLE)).unwrap();
    let mut lines = text.lines();
    let codes: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(codes.len(), 54);
    assert_eq!(
        &codes[..5],
        ["KEY_CODE", "HTKSYORI", "HTKSAKI", "GASSAN", "T001142001"]
    );
    assert_eq!(codes[53], "T001142050");
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(names.len(), 54);
    assert_eq!(names[4], "　人口（総数）");
    assert_eq!(names[22], "　６５歳以上人口　総数");

    let mut rows: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in lines {
        let f: Vec<String> = line.split(',').map(String::from).collect();
        assert_eq!(f.len(), 54, "{line}");
        let code: u64 = f[0].parse().unwrap();
        assert_eq!(mesh::level_of(code), Some(MeshLevel::M250m), "{code}");
        let cell = mesh::cell(code).unwrap();
        let centre = cell.center();
        assert_eq!(mesh::code(centre.x, centre.y, MeshLevel::M250m), Some(code));
        rows.insert(code, f);
    }
    assert!(rows.len() >= 30, "{} cells", rows.len());
    let n = |f: &[String], t: usize| -> u32 {
        f[3 + t].parse().unwrap_or_else(|_| panic!("{f:?} T{t}"))
    };
    let mut elderly_shares = Vec::new();
    let mut hidden = 0;
    for (code, f) in &rows {
        let status = f[1].as_str();
        // Always shown: population (total = men + women) and households.
        assert_eq!(n(f, 1), n(f, 2) + n(f, 3), "{code}");
        assert!(n(f, 35) <= n(f, 34), "{code}");
        if status == "2" {
            hidden += 1;
            let host: u64 = f[2].parse().unwrap();
            assert!(rows[&host][3].split(';').any(|c| c == code.to_string()));
            assert_eq!(f[3 + 4], "*");
            continue;
        }
        for t in (1..=31).step_by(3) {
            assert_eq!(n(f, t), n(f, t + 1) + n(f, t + 2), "{code} T{t}");
        }
        let (p, young, adults, working, old) = (n(f, 1), n(f, 4), n(f, 7), n(f, 10), n(f, 19));
        assert!(
            n(f, 7) >= n(f, 13) && n(f, 13) >= n(f, 16) && n(f, 16) >= old,
            "{code}"
        );
        assert!(
            old >= n(f, 22) && n(f, 22) >= n(f, 25) && n(f, 25) >= n(f, 28),
            "{code}"
        );
        assert!(n(f, 36) <= n(f, 35), "one-person ≤ households {code}");
        assert!(n(f, 49) <= n(f, 36) && n(f, 49) <= old, "{code}");
        assert!(n(f, 49) + 2 * n(f, 50) <= old, "{code}");
        assert!(
            n(f, 44) + n(f, 45) == n(f, 43) && n(f, 43) <= n(f, 35),
            "{code}"
        );
        let sizes: u32 = (36..=42).map(|t| n(f, t)).sum();
        let people_in: u32 = (36..=42).map(|t| (t as u32 - 35) * n(f, t)).sum();
        if status == "0" {
            assert_eq!(young + adults, p, "{code}");
            assert_eq!(young + working + old, p, "{code}");
            assert_eq!(sizes, n(f, 35), "{code}");
            assert!(people_in <= p, "{code}");
            elderly_shares.push(old as f64 / p as f64);
        } else {
            assert_eq!(status, "1", "{code}");
            assert!(!f[3].is_empty());
        }
    }
    assert!(hidden <= 5, "{hidden} hidden cells");
    let old_cells = elderly_shares.iter().filter(|&&s| s >= 0.40).count();
    assert!(old_cells >= 3, "{old_cells} cells with 高齢化率 ≥ 40 %");
    let min = elderly_shares.iter().cloned().fold(1.0, f64::min);
    assert!(min < 0.2, "youngest cell {min}");
}

#[test]
fn the_geocoder_finds_fictional_addresses() {
    let (dir, _) = write(SEED);
    let data = build(&sources_in_real_data(dir.path())).expect("reference::build");
    assert_eq!(data.cities.len(), 1);
    let geocoder = Geocoder::new(data);
    let city = chiiki_synth::city::load(dir.path()).unwrap();

    // The first, middle and last address, and one of each town.
    let mut picks = vec![0, city.addresses.len() / 2, city.addresses.len() - 1];
    let mut seen = std::collections::BTreeSet::new();
    for (i, a) in city.addresses.iter().enumerate() {
        if seen.insert(a.town) {
            picks.push(i + 3);
        }
    }
    let mut checked = 0;
    for i in picks {
        let a = &city.addresses[i.min(city.addresses.len() - 1)];
        let t = &city.towns[a.town];
        let name = t.name();
        let (b, n) = (a.block, a.number);
        let hyphen_chome = if t.chome > 0 {
            format!("{}-", t.chome)
        } else {
            String::new()
        };
        let writings = [
            format!("東京都架空区{name}{b}番{n}号"),
            format!("架空区{}{hyphen_chome}{b}-{n}", t.oaza),
            format!("東京都架空区{name}{b}-{n} 架空ハイツ202"),
            format!("架空区{name}{b}番{n}号").replace('ケ', "ヶ"),
        ];
        for w in writings {
            let g = geocoder.geocode(&w);
            assert_eq!(g.level, Level::ResidentialNumber, "{w}: {g:?}");
            assert_eq!(g.town, name, "{w}");
            assert!(
                (g.lon - a.lon).abs() < 1e-9 && (g.lat - a.lat).abs() < 1e-9,
                "{w}: ({}, {}) instead of ({}, {})",
                g.lon,
                g.lat,
                a.lon,
                a.lat
            );
            checked += 1;
        }
        let town_only = geocoder.geocode(&format!("東京都架空区{name}"));
        assert_eq!(town_only.level, Level::OazaChome, "{name}");
        assert!(!town_only.lon.is_nan());
    }
    assert!(checked >= 100, "{checked}");
    // The brief's own example, when that address exists in this seed's ward.
    let sakuradai = city
        .addresses
        .iter()
        .find(|a| city.towns[a.town].name() == "桜台一丁目" && a.block == 3)
        .unwrap();
    let g = geocoder.geocode(&format!("架空区桜台1-3-{}", sakuradai.number));
    assert_eq!(g.level, Level::ResidentialNumber, "{g:?}");
    assert_eq!((g.lon, g.lat), (sakuradai.lon, sakuradai.lat));

    // Shelters stand at addresses of the ward, as the real ones do.
    for file in [
        fictional::SHELTERS_EMERGENCY,
        fictional::SHELTERS_EVACUATION,
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let fc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for f in fc["features"].as_array().unwrap() {
            let address = f["properties"]["住所"].as_str().unwrap();
            let xy = &f["geometry"]["coordinates"];
            let g = geocoder.geocode(address);
            assert_eq!(g.level, Level::ResidentialNumber, "{address}");
            let (x, y) = (xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap());
            assert!(
                (g.lon - x).abs() < 1e-6 && (g.lat - y).abs() < 1e-6,
                "{address}"
            );
        }
    }
}

#[test]
fn the_layers_open_with_gdal() {
    let (dir, summary) = write(SEED);

    // Census polygons: JGD2011, CP932 .dbf without .cpg, like e-Stat's.
    let shp = dir.path().join(fictional::CENSUS_POLYGONS);
    assert!(!shp.with_extension("cpg").exists());
    let dbf = std::fs::read(shp.with_extension("dbf")).unwrap();
    assert_eq!(dbf[29], 0x13, "language driver: Japanese (CP932)");
    let (cp932, _, _) = encoding_rs::SHIFT_JIS.encode("桜台一丁目");
    assert!(
        dbf.windows(cp932.len()).any(|w| w == &cp932[..]),
        "S_NAME in CP932"
    );
    let (towns, crs) = read(&shp, None);
    assert!(crs.starts_with("EPSG:6668"), "{crs}");
    assert_eq!(towns.geometries.len(), summary.towns);
    let names = column(&towns, "S_NAME");
    let people = column(&towns, "JINKO");
    let mut total = 0;
    for row in 0..towns.geometries.len() {
        let Value::Text(name) = names.get(row) else {
            panic!("row {row}: no S_NAME")
        };
        assert!(name.ends_with("丁目") || name == "宮前", "{name}");
        let Value::Integer(p) = people.get(row) else {
            panic!("row {row}: no JINKO")
        };
        total += p as u64;
        assert!(matches!(
            towns.geometries.get(row),
            geo::Geometry::Polygon(_)
        ));
    }
    assert_eq!(total, summary.population);
    for field in ["KEY_CODE", "SETAI", "S_AREA", "CITY_NAME"] {
        column(&towns, field);
    }

    // Flood extents: JGD2000, geometry only (no .dbf), reaching into a few towns.
    let a31 = dir.path().join(fictional::FLOOD);
    assert!(!a31.with_extension("dbf").exists());
    assert!(a31.with_extension("prj").exists() && a31.with_extension("shx").exists());
    let (flood, crs) = read(&a31, None);
    assert!(crs.starts_with("EPSG:4612"), "{crs}");
    assert!(
        flood.geometries.len() >= 10,
        "{} flood polygons",
        flood.geometries.len()
    );
    let flooded_towns = (0..towns.geometries.len())
        .filter(|&t| {
            let town = towns.geometries.get(t);
            (0..flood.geometries.len()).any(|f| flood.geometries.get(f).intersects(&town))
        })
        .count();
    assert!(
        (3..summary.towns / 2).contains(&flooded_towns),
        "{flooded_towns} towns flooded"
    );

    // Shelters: GeoJSON points with the real properties, NO as the id.
    let mut count = 0;
    for file in [
        fictional::SHELTERS_EMERGENCY,
        fictional::SHELTERS_EVACUATION,
    ] {
        let (parts, _) = read(&dir.path().join(file), Some("NO"));
        assert!(matches!(parts.geometries.get(0), geo::Geometry::Point(_)));
        for field in ["共通ID", "施設・場所名", "住所", "都道府県名及び市町村名"]
        {
            column(&parts, field);
        }
        count += parts.geometries.len();
    }
    assert!((12..=30).contains(&count), "{count} shelters");
    // Sites in the flood extents are not designated for floods.
    let (emergency, _) = read(&dir.path().join(fictional::SHELTERS_EMERGENCY), Some("NO"));
    let flags = column(&emergency, "洪水");
    let mut designated = 0;
    for row in 0..emergency.geometries.len() {
        let point = emergency.geometries.get(row);
        let flooded =
            (0..flood.geometries.len()).any(|f| flood.geometries.get(f).intersects(&point));
        let flag = flags.get(row) == Value::Text("1".into());
        assert!(
            !(flooded && flag),
            "emergency site {row} in the flood extents"
        );
        designated += flag as usize;
    }
    assert!(emergency.geometries.len() >= 4 && designated >= 1);
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes() {
    let started = std::time::Instant::now();
    let (a, _) = write(SEED);
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs_f64() < 2.0, "generation took {elapsed:?}");
    let (b, _) = write(SEED);
    let (c, _) = write(SEED + 1);
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert!(fa.len() >= 20, "{:?}", fa.keys().collect::<Vec<_>>());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(
            bytes == &fb[path],
            "{} differs between two runs",
            path.display()
        );
    }
    let differing = fa
        .iter()
        .filter(|(p, bytes)| fc.get(*p) != Some(bytes))
        .count();
    assert!(
        differing >= 5,
        "another seed changes only {differing} files"
    );
    // Writing again into the same directory replaces everything.
    fictional::write(a.path(), SEED).unwrap();
    assert!(files(a.path()) == fa);
}

/// The resident generator runs on the fictional ward, and every address it
/// writes into the registry geocodes down to the 号 at the position of the
/// ABR — except the rows it perturbed on purpose.
#[test]
fn the_synthetic_registry_geocodes() {
    let (dir, summary) = write(SEED);
    let out = tempfile::tempdir().unwrap();
    let opts = chiiki_synth::SynthOptions {
        infrastructure: false,
        ..Default::default()
    };
    let s = chiiki_synth::generate(dir.path(), out.path(), &opts).expect("synth::generate");
    assert_eq!(s.residents, summary.population);

    let exe = env!("CARGO_BIN_EXE_chiiki");
    let reference = out.path().join("reference.chiiki");
    let built = Command::new(exe)
        .args(["reference", "build", "-o"])
        .arg(&reference)
        .arg("--real-data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let geocoded = out.path().join("geocoded.csv");
    let output = Command::new(exe)
        .arg("geocode")
        .arg(out.path().join(chiiki_synth::REGISTRY))
        .arg("-o")
        .arg(&geocoded)
        .arg("--reference")
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let text = chiiki_geocode::file::read_text(&geocoded).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    let (id, level, lon, lat, address, score, reason) = (
        col("住民票コード"),
        col("level"),
        col("lon"),
        col("lat"),
        col("住所"),
        col("score"),
        col("reason"),
    );
    type Answer = (String, f64, f64, String, f64, String);
    let mut result: HashMap<String, Answer> = HashMap::new();
    for r in rows.records() {
        let r = r.unwrap();
        let f = |i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
        result.insert(
            r[id].to_string(),
            (
                r[level].to_string(),
                f(lon),
                f(lat),
                r[address].to_string(),
                f(score),
                r[reason].to_string(),
            ),
        );
    }

    let mut truth = csv::Reader::from_path(out.path().join(chiiki_synth::TRUTH)).unwrap();
    let th = truth.headers().unwrap().clone();
    let tcol = |n: &str| th.iter().position(|h| h == n).unwrap();
    let (tid, tlon, tlat, tpert) = (
        tcol("resident_id"),
        tcol("lon"),
        tcol("lat"),
        tcol("perturbation"),
    );
    let (mut clean, mut perturbed, mut misses) = (0, 0, Vec::new());
    for r in truth.records() {
        let r = r.unwrap();
        let (lvl, x, y, written, score, why) = &result[&r[tid]];
        if r[tpert].is_empty() {
            clean += 1;
            let (ex, ey): (f64, f64) = (r[tlon].parse().unwrap(), r[tlat].parse().unwrap());
            if lvl != "residential_number" || (x - ex).abs() > 1e-7 || (y - ey).abs() > 1e-7 {
                misses.push(format!(
                    "{written}: {lvl} ({x}, {y}) instead of ({ex}, {ey})"
                ));
            }
        } else if &r[tpert] == "town_typo" && lvl == "residential_number" {
            // A look-alike character in the town is read as the town, at a
            // lower score and saying so, and lands where the address is.
            perturbed += 1;
            let (ex, ey): (f64, f64) = (r[tlon].parse().unwrap(), r[tlat].parse().unwrap());
            assert!(
                *score < 1.0 && why.contains("one character differing"),
                "{written}: {score} {why}"
            );
            assert!((x - ex).abs() < 1e-7 && (y - ey).abs() < 1e-7, "{written}");
        } else {
            perturbed += 1;
            assert_ne!(
                lvl, "residential_number",
                "perturbed ({}) {written}",
                &r[tpert]
            );
        }
    }
    assert_eq!(clean + perturbed, result.len());
    assert!(perturbed > 0);
    assert!(
        misses.is_empty(),
        "{} of {clean} clean rows missed, e.g. {:?}",
        misses.len(),
        &misses[..misses.len().min(10)]
    );
}
