//! The synthetic 文京区 (residents, registry, 異動, vaccinations) against the
//! real census it is fitted to, and through the registry import and the
//! geocoder as a city's export would go.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chiiki_synth::{self as synth, SynthOptions};
use common::{real_data, run_ok, scratch};

struct Truth {
    resident_id: String,
    household_id: String,
    town: String,
    mesh: String,
    birth: chrono::NaiveDate,
    perturbation: String,
}

/// The city generated once for this test binary (residents only).
fn city() -> &'static (PathBuf, Vec<Truth>) {
    static CITY: OnceLock<(PathBuf, Vec<Truth>)> = OnceLock::new();
    CITY.get_or_init(|| {
        let dir = scratch("city");
        let opts = SynthOptions {
            infrastructure: false,
            ..Default::default()
        };
        synth::generate(&real_data(), &dir, &opts).expect("generating the city");
        let mut truth = Vec::new();
        let mut reader = csv::Reader::from_path(dir.join(synth::TRUTH)).unwrap();
        for r in reader.deserialize::<HashMap<String, String>>() {
            let r = r.unwrap();
            truth.push(Truth {
                resident_id: r["resident_id"].clone(),
                household_id: r["household_id"].clone(),
                town: r["town"].clone(),
                mesh: r["mesh250"].clone(),
                birth: r["birth_date"].parse().unwrap(),
                perturbation: r["perturbation"].clone(),
            });
        }
        (dir, truth)
    })
}

fn age(birth: chrono::NaiveDate) -> u32 {
    chiiki_synth::population::age_on(birth, synth::default_as_of())
}

/// Census polygons: S_NAME → JINKO, read with ogr2ogr (not with chiiki).
fn census_towns() -> BTreeMap<String, i64> {
    let shp = real_data().join("bunkyo/r2ka13105.shp");
    let csv_text = common::tool(
        "ogr2ogr",
        &[
            "-f",
            "CSV",
            "/vsistdout/",
            shp.to_str().unwrap(),
            "-select",
            "S_NAME,JINKO",
        ],
    );
    let mut out = BTreeMap::new();
    for r in csv::Reader::from_reader(csv_text.as_bytes()).records() {
        let r = r.unwrap();
        out.insert(r[0].to_string(), r[1].parse().unwrap());
    }
    out
}

#[test]
fn every_town_matches_its_census_population_within_one_percent() {
    let (_, truth) = city();
    let census = census_towns();
    assert_eq!(census.len(), 68);
    let mut generated: BTreeMap<&str, i64> = BTreeMap::new();
    for t in truth {
        *generated.entry(t.town.as_str()).or_default() += 1;
    }
    for (town, &jinko) in &census {
        let got = generated.get(town.as_str()).copied().unwrap_or(0);
        let err = (got - jinko).abs() as f64 / jinko.max(1) as f64;
        assert!(err <= 0.01, "{town}: {got} residents, census {jinko}");
    }
    let total: i64 = census.values().sum();
    assert_eq!(truth.len() as i64, total, "the census total, 240,069");
}

/// Age shares of a cell in the census table (hidden cells: their host's).
fn census_mesh_shares() -> BTreeMap<String, [f64; 4]> {
    let path = real_data().join("mesh/bunkyo_mesh250_2020.csv");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (key, status, into) = (col("KEY_CODE"), col("HTKSYORI"), col("HTKSAKI"));
    let cols = [
        col("T001142004"),
        col("T001142010"),
        col("T001142019"),
        col("T001142022"),
    ];
    let rows: BTreeMap<String, csv::StringRecord> = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| r[key].chars().all(|c| c.is_ascii_digit()) && !r[key].is_empty())
        .map(|r| (r[key].to_string(), r))
        .collect();
    let mut out = BTreeMap::new();
    for (code, row) in &rows {
        let source = if &row[status] == "2" {
            &rows[&row[into]]
        } else {
            row
        };
        let v: Vec<f64> = cols.iter().map(|&c| source[c].parse().unwrap()).collect();
        let known = v[0] + v[1] + v[2];
        out.insert(
            code.clone(),
            [v[0] / known, v[1] / known, v[2] / known, v[3] / known],
        );
    }
    out
}

#[test]
fn age_shares_per_250m_mesh_match_the_census_within_two_points() {
    let (_, truth) = city();
    let census = census_mesh_shares();
    // 0–14, 15–64, 65+, 75+ counts and the total per cell.
    let mut cells: BTreeMap<&str, [u32; 5]> = BTreeMap::new();
    for t in truth {
        let a = age(t.birth);
        let c = cells.entry(t.mesh.as_str()).or_default();
        c[0] += (a <= 14) as u32;
        c[1] += (15..=64).contains(&a) as u32;
        c[2] += (a >= 65) as u32;
        c[3] += (a >= 75) as u32;
        c[4] += 1;
    }
    let mut checked = 0;
    let mut people_checked = 0;
    for (mesh, c) in &cells {
        let shares = census.get(*mesh).unwrap_or_else(|| {
            panic!("residents placed in {mesh}, a cell the census has no row for")
        });
        // One person moves a share of a tiny cell by more than 2 points.
        if c[4] < 100 {
            continue;
        }
        checked += 1;
        people_checked += c[4];
        for (band, (&n, &share)) in c[..4].iter().zip(shares).enumerate() {
            let got = n as f64 / c[4] as f64;
            assert!(
                (got - share).abs() <= 0.02,
                "{mesh} band {band}: {got:.3} against the census {share:.3} ({} people)",
                c[4]
            );
        }
    }
    assert!(checked >= 150, "{checked} cells checked");
    assert!(
        people_checked as f64 >= 0.98 * truth.len() as f64,
        "cells of 100+ people hold {people_checked} of {}",
        truth.len()
    );
}

#[test]
fn households_and_care_flags_are_plausible() {
    let (dir, truth) = city();
    let mut households: HashMap<&str, Vec<&Truth>> = HashMap::new();
    for t in truth {
        households
            .entry(t.household_id.as_str())
            .or_default()
            .push(t);
    }
    assert!(
        (120_000..=145_000).contains(&households.len()),
        "{} households for 240,069 people (census: 133,661)",
        households.len()
    );
    // 避難行動要支援者 from the registry itself (CP932, as exported).
    let bytes = std::fs::read(dir.join(synth::REGISTRY)).unwrap();
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!bad, "the registry is valid CP932");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (id, support) = (col("住民票コード"), col("避難行動要支援者"));
    let flagged: std::collections::HashSet<String> = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| !r[support].is_empty())
        .map(|r| r[id].to_string())
        .collect();
    let share = flagged.len() as f64 / truth.len() as f64;
    assert!((0.03..=0.05).contains(&share), "要支援者 share {share:.3}");
    // Concentrated among the 75+ living alone.
    let (mut alone_75, mut alone_75_flagged) = (0, 0);
    for members in households.values() {
        if members.len() == 1 && age(members[0].birth) >= 75 {
            alone_75 += 1;
            alone_75_flagged += flagged.contains(&members[0].resident_id) as u32;
        }
    }
    let rate_alone = alone_75_flagged as f64 / alone_75 as f64;
    assert!(
        rate_alone > 5.0 * share,
        "75+ living alone: {rate_alone:.3} flagged, everyone: {share:.3}"
    );
}

#[test]
fn the_same_seed_gives_byte_identical_files() {
    let (first, _) = city();
    let again = scratch("again");
    let other = scratch("other-seed");
    let opts = SynthOptions {
        infrastructure: false,
        ..Default::default()
    };
    synth::generate(&real_data(), &again, &opts).unwrap();
    let files = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for sub in [dir.to_path_buf(), dir.join(synth::DELTAS)] {
            for e in std::fs::read_dir(sub).unwrap().flatten() {
                if e.path().is_file() {
                    let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                    out.insert(name, std::fs::read(e.path()).unwrap());
                }
            }
        }
        out
    };
    let (a, b) = (files(first), files(&again));
    assert!(
        a.len() >= 25,
        "registry, truth, vaccinations, manifest, deltas"
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two runs");
    }
    synth::generate(&real_data(), &other, &SynthOptions { seed: 7, ..opts }).unwrap();
    assert_ne!(
        std::fs::read(other.join(synth::REGISTRY)).unwrap(),
        a[synth::REGISTRY],
        "another seed, another registry"
    );
}

#[test]
fn the_registry_imports_geocodes_and_takes_its_deltas() {
    let (dir, truth) = city();
    let data = scratch("registry-data");
    let data = data.to_str().unwrap();
    let registry = dir.join(synth::REGISTRY);
    let out = run_ok(&[
        "registry",
        "import",
        registry.to_str().unwrap(),
        "--data",
        data,
        "--as-of",
        "2026-10-01",
    ]);
    assert!(
        out.contains(&format!("imported {} of {} rows", truth.len(), truth.len())),
        "{out}"
    );
    assert!(out.contains("cp932"), "{out}");
    let mut deltas: Vec<String> = std::fs::read_dir(dir.join(synth::DELTAS))
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    deltas.sort();
    assert!(deltas.len() >= 20, "a month of working days");
    let mut args = vec!["registry", "apply", "--data", data];
    args.extend(deltas.iter().map(String::as_str));
    let out = run_ok(&args);
    assert!(out.contains(" 0 rejected"), "{out}");

    // Geocode the export as the 住民課 would, and explain every row that
    // did not reach the 号 by the generator's own record.
    let reference = scratch("reference").join("reference.chiiki");
    let abr = real_data().join("abr");
    run_ok(&[
        "reference",
        "build",
        "--abr",
        abr.join("bunkyo-131059").to_str().unwrap(),
        "--abr",
        abr.join("national").to_str().unwrap(),
        "-o",
        reference.to_str().unwrap(),
    ]);
    let geocoded = scratch("geocoded").join("registry.csv");
    run_ok(&[
        "geocode",
        registry.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
        "-o",
        geocoded.to_str().unwrap(),
    ]);
    let perturbed: HashMap<&str, &str> = truth
        .iter()
        .filter(|t| !t.perturbation.is_empty())
        .map(|t| (t.resident_id.as_str(), t.perturbation.as_str()))
        .collect();
    let mut reader = csv::Reader::from_path(&geocoded).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (id, level) = (col("住民票コード"), col("level"));
    let (mut rows, mut at_number, mut unexplained) = (0, 0, Vec::new());
    for r in reader.records() {
        let r = r.unwrap();
        rows += 1;
        if &r[level] == "residential_number" {
            at_number += 1;
        } else if !perturbed.contains_key(&r[id]) {
            unexplained.push(format!("{} {}", &r[id], &r[level]));
        }
    }
    assert_eq!(rows, truth.len());
    let share = at_number as f64 / rows as f64;
    assert!(share >= 0.99, "{share:.4} at residential_number");
    assert!(
        unexplained.is_empty(),
        "{} rows below 号 level that the generator did not perturb: {:?}",
        unexplained.len(),
        &unexplained[..unexplained.len().min(10)]
    );
}

#[test]
fn vaccination_uptake_is_low_in_some_meshes() {
    let (dir, truth) = city();
    let by_id: HashMap<&str, &Truth> = truth.iter().map(|t| (t.resident_id.as_str(), t)).collect();
    let mut vaccinated = std::collections::HashSet::new();
    let mut reader = csv::Reader::from_path(dir.join(synth::VACCINATIONS)).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        let t = by_id.get(&r[0]).expect("doses only for residents");
        assert!(age(t.birth) >= 65, "doses only for the 65+");
        vaccinated.insert(r[0].to_string());
    }
    let mut cells: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for t in truth.iter().filter(|t| age(t.birth) >= 65) {
        let c = cells.entry(t.mesh.as_str()).or_default();
        c.0 += 1;
        c.1 += vaccinated.contains(&t.resident_id) as u32;
    }
    let eligible: u32 = cells.values().map(|c| c.0).sum();
    let average = vaccinated.len() as f64 / eligible as f64;
    assert!((0.3..0.6).contains(&average), "ward uptake {average:.3}");
    let low = cells
        .values()
        .filter(|c| c.0 >= 30 && (c.1 as f64 / c.0 as f64) < 0.5 * average)
        .count();
    assert!(
        low >= 5,
        "{low} cells with 30+ eligible below half the average"
    );
}

/// The residents at each level, from `registry points`' summary.
fn points_levels(out: &str) -> BTreeMap<String, usize> {
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (level, n) = (words.next()?, words.next()?.parse().ok()?);
            words.next().is_none().then(|| (level.to_string(), n))
        })
        .collect()
}

#[test]
fn a_registry_written_without_prefecture_and_city_geocodes_as_well() {
    // A municipality's own registry writes addresses from the town on:
    // drop 東京都文京区 from every other row of the synthetic export.
    let (dir, truth) = city();
    let export = dir.join(synth::REGISTRY);
    let text = chiiki_geocode::file::read_text(&export).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let address = header.iter().position(|h| h == "住所").unwrap();
    let scratch_dir = scratch("no-city");
    let bare = scratch_dir.join("registry_without_city.csv");
    let mut writer = csv::Writer::from_path(&bare).unwrap();
    writer.write_record(&header).unwrap();
    let mut dropped = 0;
    for (i, r) in reader.records().enumerate() {
        let r = r.unwrap();
        let mut row: Vec<String> = r.iter().map(String::from).collect();
        if i % 2 == 0 {
            let a = row[address].trim_start_matches("東京都");
            if let Some(rest) = a.strip_prefix("文京区") {
                row[address] = rest.to_string();
                dropped += 1;
            }
        }
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    assert!(
        dropped * 3 > truth.len(),
        "{dropped} rows without their city"
    );

    // The full reference: a bare 本郷 or 白山 exists in many cities.
    let reference = scratch_dir.join("reference.chiiki");
    run_ok(&["reference", "build", "-o", reference.to_str().unwrap()]);
    let points = |file: &Path, name: &str, city: &[&str]| {
        let data = scratch_dir.join(name);
        let _ = std::fs::remove_dir_all(&data);
        let mut args = vec![
            "registry",
            "import",
            file.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--as-of",
            "2026-10-01",
        ];
        for c in city {
            args.extend(["--city", c]);
        }
        run_ok(&args);
        run_ok(&[
            "registry",
            "points",
            "--data",
            data.to_str().unwrap(),
            "--reference",
            reference.to_str().unwrap(),
            "--as-of",
            "2026-10-01",
        ])
    };
    let written = points_levels(&points(&export, "with-city", &[]));
    let given = points(&bare, "given", &["131059"]);
    let inferred = points(&bare, "inferred", &[]);
    let at_number = |levels: &BTreeMap<String, usize>| levels["residential_number"];
    println!(
        "号 level: {} with the city written, {} with --city, {} with the city inferred ({} rows without it)",
        at_number(&written),
        at_number(&points_levels(&given)),
        at_number(&points_levels(&inferred)),
        dropped
    );
    assert_eq!(points_levels(&given), written, "{given}");
    assert_eq!(points_levels(&inferred), written, "{inferred}");
    let by_context: usize = given
        .lines()
        .find(|l| l.contains("residents' addresses name no city: read in 東京都文京区"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{given}"));
    assert_eq!(by_context, dropped, "{given}");
    assert!(
        inferred.contains("read in 東京都文京区 (inferred"),
        "{inferred}"
    );
}
