//! PostGIS as the layer store, against a throwaway PostgreSQL cluster
//! (tests/common/postgres.rs; skipped, saying so, only where PostgreSQL
//! cannot start):
//!
//! - the store: every demo layer and a layer of every attribute type, with
//!   nulls and every geometry type, saved and loaded back the same (same
//!   checksum, same row order, same values), and what PostgreSQL itself
//!   reads in the tables (types, SRID, GiST, dates, bboxes, a bbox query);
//!   a save that fails midway leaves the previous layer and no table behind;
//! - `chiiki store migrate` of the demo to PostGIS (password from the
//!   environment) and back, verified, and a server on PostGIS answering
//!   byte for byte as the one on the GeoParquet directory, for several
//!   roles, queries and saved analyses; items requests of every kind
//!   (bbox, each CQL2 construct, equality, datetime, paging to the end,
//!   ids, refusals, CSV and HTML) for three roles of residents, one seeing
//!   age bands and pseudonyms, pushed down to PostGIS and answered with
//!   the same status and bytes as from memory, and a row changed in the
//!   database behind the server's back seen only by the server on it;
//! - two `chiiki serve` replicas on one database: an import through one's
//!   config appears on the other within 5 s, also just after their
//!   connections were ended; an import killed with SIGKILL while its
//!   transaction is open leaves the previous layer.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chiiki_core::layers::{Column, FieldType, Geometries, Layer, LayerMeta, LayerParts, Value};
use chiiki_store::{checksum, GeoParquetStore, LayerStore, PostgisStore};
use common::postgres::Cluster;
use common::{bin, client, real_data, scratch, server, spawn_serve};

fn cluster(with_password: Option<&str>) -> Option<Cluster> {
    let started = match with_password {
        Some(p) => Cluster::start_with_password(p),
        None => Cluster::start(),
    };
    match started {
        Ok(c) => Some(c),
        Err(why) => {
            eprintln!("SKIPPED: PostgreSQL cannot start here: {why}");
            None
        }
    }
}

fn sum(layer: &Layer) -> String {
    checksum(layer).unwrap()
}

/// The same layer: checksum, row order, geometries, values, metadata.
fn assert_same(a: &Layer, b: &Layer) {
    let id = &a.meta.id;
    assert_eq!(sum(a), sum(b), "{id}: checksums");
    assert_eq!(a.fids, b.fids, "{id}: row order");
    assert_eq!(
        matches!(a.geometries, Geometries::Points(_)),
        matches!(b.geometries, Geometries::Points(_)),
        "{id}: packed points"
    );
    assert_eq!(a.geometries.type_name(), b.geometries.type_name(), "{id}");
    assert_eq!(a.extent, b.extent, "{id}: extent");
    assert_eq!(
        serde_json::to_value(&a.meta).unwrap(),
        serde_json::to_value(&b.meta).unwrap(),
        "{id}: metadata"
    );
    assert_eq!(a.columns.len(), b.columns.len(), "{id}");
    for (x, y) in a.columns.iter().zip(&b.columns) {
        assert_eq!((&x.name, x.field_type()), (&y.name, y.field_type()), "{id}");
    }
    for row in 0..a.len() {
        assert_eq!(
            a.geometries.get(row),
            b.geometries.get(row),
            "{id} row {row}"
        );
        for (x, y) in a.columns.iter().zip(&b.columns) {
            assert_eq!(x.get(row), y.get(row), "{id} row {row} column {}", x.name);
        }
    }
}

fn poly(x: f64, y: f64, d: f64) -> geo::Polygon<f64> {
    geo::Polygon::new(
        geo::LineString::from(vec![(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]),
        vec![],
    )
}

const LONG_NAME: &str = "指定緊急避難場所としての指定を受けた施設の収容可能人数"; // 78 bytes

/// Every attribute type, each with nulls, awkward values (dates before
/// 1970 and 2000, negative zero, quotes, an empty string), columns named
/// like chiiki's own or longer than PostgreSQL keeps, and every geometry
/// type.
fn every_type_layer() -> Layer {
    let geoms: Vec<geo::Geometry<f64>> = vec![
        geo::Point::new(139.7512345678901, 35.7012345678901).into(),
        geo::LineString::from(vec![(139.74, 35.70), (139.745, 35.705), (139.75, 35.703)]).into(),
        geo::Polygon::new(
            poly(139.70, 35.70, 0.01).exterior().clone(),
            vec![poly(139.702, 35.702, 0.002).exterior().clone()],
        )
        .into(),
        geo::MultiPolygon(vec![poly(139.72, 35.71, 0.003), poly(139.73, 35.71, 0.002)]).into(),
        geo::MultiLineString(vec![
            geo::LineString::from(vec![(139.76, 35.72), (139.77, 35.73)]),
            geo::LineString::from(vec![(139.78, 35.72), (139.79, 35.71)]),
        ])
        .into(),
        geo::MultiPoint(vec![
            geo::Point::new(139.71, 35.69),
            geo::Point::new(139.715, 35.695),
        ])
        .into(),
    ];
    let n = geoms.len();
    let mut count = Column::new("count", FieldType::Integer);
    let mut area = Column::new("geom", FieldType::Real);
    let mut name = Column::new("名称", FieldType::Text);
    let mut open = Column::new("open", FieldType::Boolean);
    let mut opened = Column::new("opened", FieldType::Date);
    let mut inspected = Column::new("inspected", FieldType::DateTime);
    let mut long = Column::new(LONG_NAME, FieldType::Integer);
    let names = [
        "本郷\"一丁目\"",
        "",
        "白山 'ハクサン'",
        "千駄木",
        "\\x00",
        "根津",
    ];
    // Before 1970, PostgreSQL's epoch (2000-01-01) and the day before it, 1970-01-01 itself.
    let days = [-9_435, 10_957, 0, 20_400, -1, 10_956];
    let ms = [
        -1_000_000_000_001,
        946_684_800_000,
        1_700_000_000_123,
        0,
        -1,
        1_780_000_000_999,
    ];
    for i in 0..n {
        let null = |k: usize| i % 3 == k;
        count
            .push(if null(0) {
                Value::Null
            } else {
                Value::Integer(i64::MIN + i as i64 * 7)
            })
            .unwrap();
        area.push(if null(1) {
            Value::Null
        } else {
            Value::Real([-0.0, 1e-300, f64::MAX, 2.5, -17.125, 0.1][i])
        })
        .unwrap();
        name.push(if null(2) {
            Value::Null
        } else {
            Value::Text(names[i].into())
        })
        .unwrap();
        open.push(if i == 4 {
            Value::Null
        } else {
            Value::Boolean(i % 2 == 0)
        })
        .unwrap();
        opened
            .push(if i == 5 {
                Value::Null
            } else {
                Value::Date(days[i])
            })
            .unwrap();
        inspected
            .push(if i == 3 {
                Value::Null
            } else {
                Value::DateTime(ms[i])
            })
            .unwrap();
        long.push(Value::Integer(i as i64 * 1000)).unwrap();
    }
    Layer::new(LayerParts {
        meta: LayerMeta {
            id: "every_type".into(),
            title: "全種類".into(),
            description: "every attribute and geometry type".into(),
            time_field: Some("inspected".into()),
            access: chiiki_core::layers::Access {
                public: false,
                roles: vec!["planner".into()],
            },
            ..Default::default()
        },
        fids: (0..n as i64).map(|i| 100 - i * 11).collect(),
        geometries: Geometries::Shapes(geoms),
        columns: vec![count, area, name, open, opened, inspected, long],
    })
}

fn demo_layers() -> Vec<Layer> {
    GeoParquetStore::new(&server().data).load_all().unwrap()
}

/// Rows of psql output, split on `|`.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

#[test]
fn the_store_keeps_every_layer_as_it_was_and_postgis_reads_it_the_same() {
    let Some(pg) = cluster(None) else { return };
    pg.create_database("store");
    let url = pg.url("store");
    let store = PostgisStore::connect(&url, None).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(chiiki_store::postgis::MIGRATIONS.len(), 3);
    assert!(store.list().unwrap().is_empty());

    // A layer of every type.
    let every = every_type_layer();
    store.save(&every).unwrap();
    let back = store.load("every_type").unwrap();
    assert_same(&every, &back);
    assert_eq!(
        store.recorded("every_type").unwrap(),
        Some((every.len() as u64, sum(&every)))
    );
    // What PostgreSQL makes of it: typed columns, JGD2011, a GiST index,
    // and values it reads as chiiki meant them.
    let columns = rows(&pg.psql_in(
        "store",
        "SELECT column_name, data_type FROM information_schema.columns
         WHERE table_schema = 'chiiki' AND table_name = 'layer_every_type' ORDER BY ordinal_position",
    ));
    let types: Vec<(&str, &str)> = columns
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(types[0], ("fid", "bigint"));
    assert_eq!(types[1], ("count", "bigint"));
    assert_eq!(types[2].1, "double precision");
    assert_ne!(types[2].0, "geom", "an attribute took the geometry's name");
    assert_eq!(types[3], ("名称", "text"));
    assert_eq!(types[4], ("open", "boolean"));
    assert_eq!(types[5], ("opened", "date"));
    assert_eq!(types[6], ("inspected", "timestamp with time zone"));
    assert_eq!(types[7].1, "bigint");
    assert!(LONG_NAME.starts_with(types[7].0) && types[7].0.len() <= 63);
    assert_eq!(types[8], ("geom", "USER-DEFINED"));
    assert_eq!(
        pg.psql_in(
            "store",
            "SELECT Find_SRID('chiiki', 'layer_every_type', 'geom')"
        )
        .trim(),
        "6668"
    );
    let indexes = pg.psql_in(
        "store",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'chiiki' AND tablename = 'layer_every_type'",
    );
    assert!(indexes.contains("USING gist (geom)"), "{indexes}");
    assert!(indexes.contains("(fid)"), "{indexes}");
    let seen = rows(&pg.psql_in(
        "store",
        "SELECT fid, coalesce(count::text, 'NULL'), coalesce(opened::text, 'NULL'),
                coalesce((extract(epoch FROM inspected) * 1000)::bigint::text, 'NULL'),
                coalesce(\"名称\", 'NULL'), GeometryType(geom), ST_NPoints(geom),
                ST_XMin(geom), ST_YMax(geom)
         FROM chiiki.layer_every_type ORDER BY fid",
    ));
    assert_eq!(seen.len(), every.len());
    for r in &seen {
        let fid: i64 = r[0].parse().unwrap();
        let row = every.row_of(fid).unwrap();
        let text = |c: usize| match every.columns[c].get(row) {
            Value::Null => "NULL".to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Date(d) => chiiki_core::layers::column::format_date(d),
            Value::DateTime(ms) => ms.to_string(),
            Value::Text(t) => t,
            v => panic!("{v:?}"),
        };
        assert_eq!(r[1], text(0), "fid {fid}");
        assert_eq!(r[2], text(4), "fid {fid}: the date as PostgreSQL reads it");
        assert_eq!(r[3], text(5), "fid {fid}: the time as PostgreSQL reads it");
        assert_eq!(r[4], text(2), "fid {fid}");
        let g = every.geometries.get(row);
        let expected_type = match &g {
            geo::Geometry::Point(_) => "POINT",
            geo::Geometry::LineString(_) => "LINESTRING",
            geo::Geometry::Polygon(_) => "POLYGON",
            geo::Geometry::MultiPolygon(_) => "MULTIPOLYGON",
            geo::Geometry::MultiLineString(_) => "MULTILINESTRING",
            geo::Geometry::MultiPoint(_) => "MULTIPOINT",
            other => panic!("{other:?}"),
        };
        assert_eq!(r[5], expected_type);
        use geo::{BoundingRect, CoordsIter};
        assert_eq!(r[6].parse::<usize>().unwrap(), g.coords_count());
        let bbox = g.bounding_rect().unwrap();
        assert_eq!(r[7].parse::<f64>().unwrap(), bbox.min().x);
        assert_eq!(r[8].parse::<f64>().unwrap(), bbox.max().y);
    }

    // Every demo layer, the 239,769 residents included.
    let demo = demo_layers();
    assert!(demo.len() >= 10, "{} demo layers", demo.len());
    let (mut to_db, mut from_db, mut from_files) = (0.0, 0.0, 0.0);
    for layer in &demo {
        let t = Instant::now();
        store.save(layer).unwrap();
        to_db += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let back = store.load(&layer.meta.id).unwrap();
        from_db += t.elapsed().as_secs_f64();
        assert_same(layer, &back);
        let t = Instant::now();
        GeoParquetStore::new(&server().data)
            .load(&layer.meta.id)
            .unwrap();
        from_files += t.elapsed().as_secs_f64();
    }
    let features: usize = demo.iter().map(Layer::len).sum();
    eprintln!(
        "{} demo layers, {features} features: saved to PostGIS in {to_db:.2} s, loaded from PostGIS in {from_db:.2} s, from GeoParquet in {from_files:.2} s",
        demo.len()
    );
    let mut ids: Vec<String> = demo.iter().map(|l| l.meta.id.clone()).collect();
    ids.push("every_type".into());
    ids.sort();
    assert_eq!(store.list().unwrap(), ids);

    // PostGIS answers a bbox on the residents as chiiki's index does
    // (ST_Intersects, exact: `&&` alone compares single-precision boxes).
    let residents = demo.iter().find(|l| l.meta.id == "residents").unwrap();
    let (x0, y0, x1, y1) = (139.745, 35.71, 139.755, 35.72);
    let mut ours: Vec<i64> = residents
        .rows_in_bbox(geo::Rect::new(
            geo::coord! {x: x0, y: y0},
            geo::coord! {x: x1, y: y1},
        ))
        .iter()
        .map(|&r| residents.fids[r as usize])
        .collect();
    ours.sort();
    let theirs: Vec<i64> = pg
        .psql_in(
            "store",
            &format!(
                "SELECT fid FROM chiiki.layer_residents
                 WHERE ST_Intersects(geom, ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 6668))
                 ORDER BY fid"
            ),
        )
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(ours.len() > 1000, "{} residents in the box", ours.len());
    let only_ours: Vec<&i64> = ours.iter().filter(|f| !theirs.contains(f)).collect();
    let only_theirs: Vec<&i64> = theirs.iter().filter(|f| !ours.contains(f)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "chiiki alone: {only_ours:?}; PostGIS alone: {only_theirs:?}"
    );
    let flood = demo
        .iter()
        .find(|l| l.meta.id == "flood_a31_tokyo")
        .unwrap();
    let vertices: usize = (0..flood.len())
        .map(|r| geo::CoordsIter::coords_count(&flood.geometries.get(r)))
        .sum();
    assert_eq!(
        pg.psql_in(
            "store",
            "SELECT sum(ST_NPoints(geom)) FROM chiiki.layer_flood_a31_tokyo"
        )
        .trim(),
        vertices.to_string()
    );

    // A second connection (another process, in effect) sees the same.
    let other = PostgisStore::connect(&url, None).unwrap();
    assert_same(residents, &other.load("residents").unwrap());
    assert!(matches!(
        other.load("roads_2030"),
        Err(chiiki_store::StoreError::NotFound(_))
    ));
    assert!(other.metadata("roads_2030").unwrap().is_none());
    assert_eq!(
        other.metadata("residents").unwrap().unwrap().title,
        residents.meta.title
    );
}

/// `layer` with column `column`'s value at the middle row replaced.
fn with_text(layer: &Layer, column: &str, text: &str) -> Layer {
    let middle = layer.len() / 2;
    let columns = layer
        .columns
        .iter()
        .map(|c| {
            if c.name != column {
                return c.clone();
            }
            let mut out = Column::new(&c.name, c.field_type());
            for row in 0..layer.len() {
                let v = if row == middle {
                    Value::Text(text.into())
                } else {
                    c.get(row)
                };
                out.push(v).unwrap();
            }
            out
        })
        .collect();
    Layer::from_sorted(LayerParts {
        meta: layer.meta.clone(),
        fids: layer.fids.clone(),
        geometries: layer.geometries.clone(),
        columns,
    })
}

fn chiiki_tables(pg: &Cluster, db: &str) -> Vec<String> {
    let mut tables: Vec<String> = pg
        .psql_in(
            db,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'chiiki'",
        )
        .lines()
        .map(str::to_string)
        .collect();
    tables.sort();
    tables
}

#[test]
fn a_save_that_fails_midway_leaves_the_previous_layer() {
    let Some(pg) = cluster(None) else { return };
    pg.create_database("rollback");
    let store = PostgisStore::connect(&pg.url("rollback"), None).unwrap();
    let shelters = GeoParquetStore::new(&server().data)
        .load("shelters_evacuation")
        .unwrap();
    store.save(&shelters).unwrap();
    let before = sum(&shelters);
    let tables = chiiki_tables(&pg, "rollback");
    assert_eq!(
        tables,
        [
            "audit",
            "audit_head",
            "blobs",
            "documents",
            "layer_shelters_evacuation",
            "layers",
            "schema_version"
        ]
    );
    let text_column = shelters
        .columns
        .iter()
        .find(|c| c.field_type() == FieldType::Text)
        .unwrap()
        .name
        .clone();

    // A NUL in the middle row: PostgreSQL refuses it halfway through the COPY.
    let nul = with_text(&shelters, &text_column, "避難所\0");
    let err = store.save(&nul).unwrap_err().to_string();
    eprintln!("{err}");
    // The layer, the feature, and what PostgreSQL said.
    assert!(err.contains("shelters_evacuation"), "{err}");
    let middle = shelters.fids[shelters.len() / 2];
    assert!(err.contains(&format!("feature {middle}")), "{err}");
    assert!(err.contains("0x00"), "{err}");
    // Two features with one fid: refused after the COPY, at the primary key.
    let mut fids = shelters.fids.clone();
    let last = fids.len() - 1;
    fids[last] = fids[0];
    let twice = Layer::from_sorted(LayerParts {
        meta: shelters.meta.clone(),
        fids,
        geometries: shelters.geometries.clone(),
        columns: shelters.columns.clone(),
    });
    let err = store.save(&twice).unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains("shelters_evacuation"), "{err}");
    assert!(err.contains("23505"), "a unique violation: {err}");

    for s in [
        &store,
        &PostgisStore::connect(&pg.url("rollback"), None).unwrap(),
    ] {
        let kept = s.load("shelters_evacuation").unwrap();
        assert_eq!(sum(&kept), before);
        assert_eq!(kept.len(), shelters.len());
    }
    assert_eq!(
        chiiki_tables(&pg, "rollback"),
        tables,
        "a table was left behind"
    );
    // And the connection is still good for the next save.
    let renamed = with_text(&shelters, &text_column, "文京区立 新しい避難所");
    store.save(&renamed).unwrap();
    assert_eq!(
        sum(&store.load("shelters_evacuation").unwrap()),
        sum(&renamed)
    );
    assert_ne!(sum(&renamed), before);
}

/// `chiiki` with `args`, and the environment variable `env` set if given.
fn chiiki(args: &[&str], env: Option<(&str, &str)>) -> std::process::Output {
    let mut c = Command::new(bin());
    c.args(args).env("CHIIKI_REAL_DATA", real_data());
    c.env_remove("CHIIKI_PG_PASSWORD");
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The layers of a migrate's verification table, each with its verdict.
fn verdicts(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .skip_while(|l| !l.starts_with("layer "))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 6).then(|| (f[0].to_string(), f[5].to_string()))
        })
        .collect()
}

/// A data directory for a second server sharing `data`'s registry, keys
/// and tokens (linked or copied) but with its own audit log, occupancy and
/// no layer files, and `config` as its chiiki.toml.
fn linked_data_dir(data: &Path, dir: &Path, config: &str) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(data).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let from = entry.path();
        let to = dir.join(&name);
        match name.as_str() {
            "layers" | "audit" | "occupancy" | "chiiki.toml" => {}
            "keys" | "models" => {
                std::fs::create_dir_all(&to).unwrap();
                for f in std::fs::read_dir(&from).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
                }
            }
            _ if from.is_file() => {
                std::fs::copy(&from, &to).unwrap();
            }
            _ => std::os::unix::fs::symlink(&from, &to).unwrap(),
        }
    }
    let path = dir.join("chiiki.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The body with what differs between two servers by design (their
/// address, the time of the response) taken out.
fn normalised(body: &str, base: &str) -> String {
    let mut out = body.replace(base, "<base>");
    while let Some(at) = out.find("\"timeStamp\":\"") {
        let start = at + "\"timeStamp\":\"".len();
        let end = start + out[start..].find('"').unwrap();
        out.replace_range(at..=end, "\"ts\":\"-\"");
    }
    out
}

fn body(base: &str, path: &str, token: Option<&str>) -> String {
    let mut req = client().get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap();
    assert!(r.status().is_success(), "{base}{path}: {}", r.status());
    normalised(&r.text().unwrap(), base)
}

#[test]
fn the_demo_migrates_to_postgis_and_back_and_serves_the_same() {
    const PASSWORD: &str = "chiiki-test-Ω-password";
    let Some(pg) = cluster(Some(PASSWORD)) else {
        return;
    };
    pg.create_database("chiiki");
    let url = pg.url("chiiki");
    let demo = server();
    let work = scratch("migrate");
    let config = work.join("migrate.toml");
    std::fs::write(
        &config,
        format!("[postgis]\nurl = \"{url}\"\npassword_env = \"CHIIKI_PG_PASSWORD\"\n"),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let data = demo.data.to_str().unwrap();

    // Without the password the database refuses, and the message says where it was looked for.
    let out = chiiki(
        &[
            "--config", cfg, "store", "migrate", "--to", "postgis", "--data", data,
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CHIIKI_PG_PASSWORD"), "{err}");
    let wrong = chiiki(
        &[
            "--config", cfg, "store", "migrate", "--to", "postgis", "--data", data,
        ],
        Some(("CHIIKI_PG_PASSWORD", "not-the-password")),
    );
    assert!(!wrong.status.success());
    assert!(!String::from_utf8_lossy(&wrong.stderr).contains("not-the-password"));

    let started = Instant::now();
    let out = ok(chiiki(
        &[
            "--config", cfg, "store", "migrate", "--to", "postgis", &url, "--data", data,
        ],
        Some(("CHIIKI_PG_PASSWORD", PASSWORD)),
    ));
    eprintln!("migrate --to postgis: {:.2?}\n{out}", started.elapsed());
    let files = GeoParquetStore::new(&demo.data).list().unwrap();
    let v = verdicts(&out);
    assert_eq!(v.keys().cloned().collect::<Vec<_>>(), files, "{out}");
    assert!(v.values().all(|x| x == "ok"), "{out}");

    // And back into an empty directory: every layer as it was.
    let back = work.join("back");
    let _ = std::fs::remove_dir_all(&back);
    let started = Instant::now();
    let out = ok(chiiki(
        &[
            "--config",
            cfg,
            "store",
            "migrate",
            "--to",
            "geoparquet",
            "--from",
            &url,
            "--data",
            back.to_str().unwrap(),
        ],
        Some(("CHIIKI_PG_PASSWORD", PASSWORD)),
    ));
    eprintln!("migrate --to geoparquet: {:.2?}", started.elapsed());
    assert!(verdicts(&out).values().all(|x| x == "ok"), "{out}");
    let original = GeoParquetStore::new(&demo.data);
    let returned = GeoParquetStore::new(&back);
    assert_eq!(returned.list().unwrap(), files);
    for id in &files {
        assert_same(&original.load(id).unwrap(), &returned.load(id).unwrap());
    }
    // The token list and the pseudonym key went in and came back: the same
    // tokens work, and pseudonyms handed out stay valid.
    let documents = pg.psql_in(
        "chiiki",
        "SELECT name FROM chiiki.documents WHERE name IN ('tokens', 'pseudonym.key') ORDER BY name",
    );
    assert_eq!(documents, "pseudonym.key\ntokens\n");
    let json = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let key = Path::new("keys/pseudonym.key");
    assert_eq!(
        json(&back.join(key))["key"],
        json(&demo.data.join(key))["key"]
    );
    let mode = std::fs::metadata(back.join(key)).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert_eq!(
        json(&back.join("tokens.json")),
        json(&demo.data.join("tokens.json"))
    );
    // So did the registry with its history, and its record keys: the same
    // bytes, so the same residents, versions and perturbation keys.
    let registry = pg.psql_in(
        "chiiki",
        "SELECT count(*) FROM chiiki.blobs WHERE name = 'registry';
         SELECT body #>> '{}' FROM chiiki.documents WHERE name = 'record-keys.key'",
    );
    let record_keys = std::fs::read_to_string(demo.data.join("registry/record-keys.key")).unwrap();
    assert_eq!(registry, format!("1\n{}\n", record_keys.trim()));
    for file in ["registry/registry.bin", "registry/record-keys.key"] {
        assert!(
            std::fs::read(back.join(file)).unwrap() == std::fs::read(demo.data.join(file)).unwrap(),
            "{file} came back otherwise"
        );
    }

    // A server on the database, with the demo's registry, keys and tokens.
    let demo_config = std::fs::read_to_string(demo.data.join("chiiki.toml")).unwrap();
    std::fs::write(work.join("pg.pass"), format!("{PASSWORD}\n")).unwrap();
    let pg_config = format!(
        "store = \"postgis\"\n{demo_config}\n{DESK}\n[postgis]\nurl = \"{url}\"\npassword_file = \"{}\"\n",
        work.join("pg.pass").display()
    );
    let config = linked_data_dir(&demo.data, &work.join("pg-data"), &pg_config);
    // A role that reads some residents, their birth dates as age bands and
    // their ids as pseudonyms, with a token both servers below accept.
    let desk = ok(chiiki(
        &[
            "--config",
            config.to_str().unwrap(),
            "token",
            "create",
            "--name",
            "desk",
            "--role",
            "desk",
        ],
        None,
    ))
    .trim()
    .to_string();
    let (_child, port) = spawn_serve(&[
        "--config",
        config.to_str().unwrap(),
        "--requests-per-minute",
        "0",
    ]);
    let pg_base = format!("http://127.0.0.1:{port}");
    // Commands with this config read the layers from the database: a
    // shelter token is checked against the shelters there (the directory has none).
    assert!(!config.parent().unwrap().join("layers").exists());
    let staff = |shelter: &str| {
        chiiki(
            &[
                "--config",
                config.to_str().unwrap(),
                "token",
                "create",
                "--name",
                "staff",
                "--role",
                "shelter_staff",
                "--shelter",
                shelter,
            ],
            None,
        )
    };
    let refused = staff("999999");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no shelter 999999"));
    let shelter = original.load("shelters_evacuation").unwrap().fids[0].to_string();
    ok(staff(&shelter));
    let mut asks: Vec<(Option<&str>, &str)> = vec![
        (None, "/collections"),
        (Some("admin"), "/collections"),
        (None, "/collections/shelters_evacuation/items?limit=50"),
        (
            None,
            "/collections/bunkyo_towns/items?bbox=139.74,35.70,139.76,35.72",
        ),
        (None, "/collections/bunkyo_towns/items?S_NAME=白山一丁目"),
        (
            None,
            "/collections/flood_a31_tokyo/items?bbox=139.70,35.69,139.78,35.74&limit=300",
        ),
        (None, "/collections/yaizu_inland_flood_depth/items"),
        (
            Some("planner"),
            "/collections/residents/items?bbox=139.745,35.71,139.75,35.715&limit=500",
        ),
        (
            Some("planner"),
            "/collections/residents/items?limit=100&offset=200000",
        ),
        (
            Some("planner"),
            "/collections/elderly_in_flood/items?limit=200",
        ),
        (Some("planner"), "/collections/bridge_inspections/items"),
        (
            Some("analyst"),
            "/collections/aging_mesh_250m/items?limit=1000",
        ),
        (
            Some("analyst"),
            "/collections/pipes/items?filter=material%3D%27CIP%27&limit=100",
        ),
        (
            Some("health"),
            "/collections/vaccination_gaps_250m/items?limit=1000",
        ),
        (
            Some("health"),
            "/collections/care_outreach_flood/items?limit=100",
        ),
        (
            Some("admin"),
            "/collections/roads/items?limit=300&offset=1000",
        ),
    ];
    // One resident by id, an id the layer really has.
    let first: serde_json::Value = client()
        .get(demo.url("/collections/residents/items?limit=1&offset=12345"))
        .bearer_auth(demo.token("admin"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let one = format!(
        "/collections/residents/items/{}",
        first["features"][0]["id"].as_i64().unwrap()
    );
    asks.push((Some("admin"), &one));
    let mut compared = 0;
    for (role, path) in asks {
        let token = role.map(|r| demo.token(r));
        let files_answer = body(&demo.base, path, token);
        let db_answer = body(&pg_base, path, token);
        assert!(
            files_answer == db_answer,
            "{role:?} {path}: the server on PostGIS answers otherwise ({} bytes against {})",
            db_answer.len(),
            files_answer.len()
        );
        assert!(files_answer.len() > 100, "{path}: {files_answer}");
        compared += files_answer.len();
    }
    eprintln!("{compared} bytes of answers identical from both stores");

    // The same collections from files, with the same roles and tokens.
    let files_config = linked_data_dir(
        &demo.data,
        &work.join("files-data"),
        &format!("{demo_config}\n{DESK}\n"),
    );
    let files_dir = files_config.parent().unwrap();
    std::os::unix::fs::symlink(demo.data.join("layers"), files_dir.join("layers")).unwrap();
    // The token list as the database keeps it, desk's token included.
    let token_list = pg.psql_in(
        "chiiki",
        "SELECT body::text FROM chiiki.documents WHERE name = 'tokens'",
    );
    std::fs::write(files_dir.join("tokens.json"), token_list).unwrap();
    let (_files_child, port) = spawn_serve(&[
        "--config",
        files_config.to_str().unwrap(),
        "--requests-per-minute",
        "0",
    ]);
    let files_base = format!("http://127.0.0.1:{port}");
    let tokens = |role: &str| -> Option<String> {
        match role {
            "" => None,
            "desk" => Some(desk.clone()),
            r => Some(demo.token(r).to_string()),
        }
    };
    pushed_down_answers_are_the_memory_answers(&pg, &files_base, &pg_base, &tokens);
}

/// A role of the tests below: residents who need support and are 65 or
/// older, birth dates as age bands, ids as pseudonyms (an administrator,
/// so that every collection is open to it without the layers' access
/// lists changing).
const DESK: &str = "[[roles]]\nname = \"desk\"\nadmin = true\nrecords = \"filtered\"\nrows = \"needs_support = TRUE AND age >= 65\"\npersonal_fields = [\"name\", \"address\"]\n";

/// Status, `Server-Timing` and body (normalised) of one request.
fn answer(base: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = client().get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let timing = r
        .headers()
        .get("server-timing")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, timing, normalised(&r.text().unwrap(), base))
}

/// Items requests of every kind, for several roles, answered by a server
/// on files (memory) and one on PostGIS (pushing them down): the same
/// status and the same bytes, and the PostGIS server says it queried the
/// database where it should. Then a row changed in the database behind
/// the server's back shows that the database, not memory, answered.
fn pushed_down_answers_are_the_memory_answers(
    pg: &Cluster,
    files: &str,
    db: &str,
    tokens: &dyn Fn(&str) -> Option<String>,
) {
    const SQL: &str = "source;desc=\"postgis\"";
    const MEMORY: &str = "source;desc=\"memory\"";
    let enc = |f: &str| -> String { form_urlencoded::byte_serialize(f.as_bytes()).collect() };
    // A town and a care level some resident has, for equality filters.
    let (status, _, sample) = answer(
        files,
        "/collections/residents/items?limit=100&offset=777&needs_support=true",
        tokens("admin").as_deref(),
    );
    assert_eq!(status, 200, "{sample}");
    let sample: serde_json::Value = serde_json::from_str(&sample).unwrap();
    let feature = sample["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["town"].is_string())
        .unwrap_or_else(|| panic!("no resident with a town: {sample}"));
    let town = feature["properties"]["town"].as_str().unwrap().to_string();
    let [lon, lat] = [0, 1].map(|i| feature["geometry"]["coordinates"][i].as_f64().unwrap());
    let near = format!("S_DWITHIN(geometry, POINT({lon} {lat}), 300, meters)");
    let square = format!(
        "S_INTERSECTS(geometry, POLYGON(({a} {b}, {c} {b}, {c} {d}, {a} {d}, {a} {b})))",
        a = lon - 0.004,
        b = lat - 0.003,
        c = lon + 0.004,
        d = lat + 0.003
    );
    let bbox = format!(
        "{},{},{},{}",
        lon - 0.006,
        lat - 0.005,
        lon + 0.006,
        lat + 0.005
    );
    let r = "/collections/residents/items";
    let mut asks: Vec<(&str, String, Option<&str>)> = Vec::new();
    for role in ["admin", "planner", "desk"] {
        for q in [
            format!("bbox={bbox}&limit=1000"),
            format!("bbox={bbox}&limit=50&offset=20"),
            format!("town={}&limit=100", enc(&town)),
            "needs_support=true&limit=10&offset=100".to_string(),
            format!("filter={}", enc("sex = 'F' AND score > 0.5")),
            format!(
                "filter={}&limit=500",
                enc("care_level IN ('要介護1', '要介護3') OR disability = TRUE")
            ),
            format!("filter={}", enc("name LIKE '佐%'")),
            format!(
                "filter={}&limit=300",
                enc("care_level IS NULL AND NOT (score BETWEEN 0.2 AND 0.8)")
            ),
            format!("filter={}&limit=1000", enc(&near)),
            format!("filter={}&bbox={bbox}&limit=1000", enc(&square)),
            format!(
                "filter={}",
                enc("S_WITHIN(geometry, BBOX(139.74, 35.70, 139.76, 35.72))")
            ),
            format!(
                "filter={}&limit=100",
                enc(&format!(
                    "NOT {near} AND town = '{}'",
                    town.replace('\'', "''")
                ))
            ),
            format!(
                "filter={}&limit=1000",
                enc("level <> 'x' AND flood_depth_rank >= 1")
            ),
            format!("properties=town,score&bbox={bbox}&limit=200"),
            "limit=100&offset=99999999".to_string(),
            format!("bbox={bbox}&limit=100&f=csv"),
            format!("bbox={bbox}&limit=20&f=html"),
            format!("filter={}", enc("S_INTERSECTS(geometry, POINT(0 0))")),
        ] {
            asks.push((role, format!("{r}?{q}"), Some(SQL)));
        }
    }
    for role in ["admin", "planner"] {
        for q in [
            format!(
                "filter={}&limit=1000",
                enc("birth_date BETWEEN DATE('1940-01-01') AND DATE('1944-12-31')")
            ),
            format!("filter={}&limit=1000", enc("age >= 95")),
            format!("filter={}&bbox={bbox}", enc("resident_id LIKE '%1_'")),
        ] {
            asks.push((role, format!("{r}?{q}"), Some(SQL)));
        }
    }
    // What SQL could answer otherwise, from memory on both.
    asks.push((
        "planner",
        format!("{r}?filter={}", enc("CASEI(name) LIKE CASEI('佐%')")),
        Some(MEMORY),
    ));
    asks.push((
        "desk",
        format!("{r}?filter={}&limit=1000", enc("age_band = '80-84'")),
        Some(MEMORY),
    ));
    // Refusals: the same status and message.
    for (role, q) in [
        (
            "desk",
            format!("filter={}", enc("birth_date > DATE('1950-01-01')")),
        ),
        ("desk", format!("filter={}", enc("resident_id = 'x'"))),
        ("planner", format!("filter={}", enc("nosuch = 1"))),
        ("planner", "bbox=1,2,3".to_string()),
        ("planner", "limit=0".to_string()),
        ("planner", "colour=blue".to_string()),
        ("analyst", "limit=1".to_string()),
        ("", "limit=1".to_string()),
    ] {
        asks.push((role, format!("{r}?{q}"), None));
    }
    // Open layers.
    for (role, path) in [
        ("", "/collections/shelters_evacuation/items?limit=50&offset=10".to_string()),
        ("", format!("/collections/bunkyo_towns/items?filter={}", enc("S_NAME LIKE '%丁目' AND S_NAME <> '白山一丁目'"))),
        ("", "/collections/bunkyo_towns/items?bbox=139.74,35.70,139.76,35.72&crs=http://www.opengis.net/def/crs/EPSG/0/6677".to_string()),
        ("", "/collections/flood_a31_tokyo/items?bbox=139.70,35.69,139.78,35.74&limit=300".to_string()),
        ("analyst", format!("/collections/pipes/items?filter={}&limit=100", enc("material = 'CIP'"))),
        ("admin", "/collections/roads/items?limit=300&offset=1000".to_string()),
        ("planner", "/collections/bridge_inspections/items?datetime=2015-01-01/..".to_string()),
    ] {
        asks.push((role, path, Some(SQL)));
    }
    // Paging through to the end, following the next links.
    for role in ["planner", "desk"] {
        let mut path = format!("{r}?bbox={bbox}&limit=100");
        let mut pages = 0;
        loop {
            let t = tokens(role);
            let (status, _, page) = answer(files, &path, t.as_deref());
            assert_eq!(status, 200, "{role} {path}: {page}");
            asks.push((role, path.clone(), Some(SQL)));
            let v: serde_json::Value = serde_json::from_str(&page).unwrap();
            let next = v["links"]
                .as_array()
                .unwrap_or_else(|| panic!("{role} {path}: {page}"))
                .iter()
                .find(|l| l["rel"] == "next")
                .map(|l| l["href"].as_str().unwrap().replace("<base>", ""));
            pages += 1;
            match next {
                Some(n) => path = n,
                None => break,
            }
        }
        assert!(pages > 2, "{role}: {pages} pages");
    }
    // One feature by id: a real id, and a pseudonym (from memory).
    let (_, _, admin_page) = answer(
        files,
        &format!("{r}?limit=1&offset=4321"),
        tokens("admin").as_deref(),
    );
    let (_, _, desk_page) = answer(
        files,
        &format!("{r}?limit=1&offset=42"),
        Some(&tokens("desk").unwrap()),
    );
    let id = |page: &str| {
        serde_json::from_str::<serde_json::Value>(page).unwrap()["features"][0]["id"]
            .as_i64()
            .unwrap()
    };
    asks.push(("admin", format!("{r}/{}", id(&admin_page)), Some(SQL)));
    asks.push(("desk", format!("{r}/{}", id(&desk_page)), Some(MEMORY)));
    asks.push(("admin", format!("{r}/999999999999"), None));
    asks.push(("desk", format!("{r}/{}", id(&admin_page)), None));

    let mut bytes = 0;
    let mut pushed = 0;
    let mut failures = Vec::new();
    for (role, path, expect) in &asks {
        let t = tokens(role);
        let (fs, _, fb) = answer(files, path, t.as_deref());
        let (ds, timing, dbody) = answer(db, path, t.as_deref());
        if fs != ds || fb != dbody {
            failures.push(format!(
                "{role} {path}: PostGIS answers otherwise\nfiles: {fs} {}\npostgis: {ds} {}",
                &fb[..fb.len().min(400)],
                &dbody[..dbody.len().min(400)]
            ));
        } else if let Some(e) = expect {
            if fs >= 300 || timing != *e {
                failures.push(format!(
                    "{role} {path}: {fs} by {timing}: {}",
                    &fb[..fb.len().min(400)]
                ));
            }
        } else if !(400..500).contains(&fs) {
            failures.push(format!("{role} {path}: {fs}, expected a refusal"));
        }
        pushed += usize::from(timing == SQL);
        bytes += fb.len();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "{} items requests ({pushed} pushed down to PostGIS), {bytes} bytes, identical from both stores",
        asks.len()
    );

    // A row changed in the database behind the server's back (no NOTIFY,
    // so no reload): only a server that queries the database sees it.
    let fid = pg
        .psql_in("chiiki", "SELECT min(fid) FROM chiiki.\"layer_pipes\"")
        .trim()
        .to_string();
    pg.psql_in(
        "chiiki",
        &format!("UPDATE chiiki.\"layer_pipes\" SET material = 'PUSHED' WHERE fid = {fid}"),
    );
    let path = format!(
        "/collections/pipes/items?filter={}",
        enc("material = 'PUSHED'")
    );
    let t = tokens("analyst");
    let matched = |base: &str| {
        let (_, timing, b) = answer(base, &path, t.as_deref());
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        (v["numberMatched"].as_u64().unwrap(), timing)
    };
    assert_eq!(matched(db), (1, SQL.to_string()));
    assert_eq!(matched(files).0, 0);

    // How long a page of 1000 residents takes from each (for the README;
    // not a benchmark: both servers share the machine with the test).
    for (role, q) in [
        ("admin", "bbox=139.74,35.70,139.76,35.72&limit=1000"),
        ("planner", "bbox=139.74,35.70,139.76,35.72&limit=1000"),
        (
            "admin",
            "bbox=139.74,35.70,139.76,35.72&limit=1000&offset=5000",
        ),
        ("desk", "bbox=139.74,35.70,139.76,35.72&limit=1000"),
    ] {
        let path = format!("{r}?{q}");
        let t = tokens(role);
        let time = |base: &str| {
            let mut ms: Vec<f64> = (0..11)
                .map(|_| {
                    let started = Instant::now();
                    let (status, _, _) = answer(base, &path, t.as_deref());
                    assert_eq!(status, 200);
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            ms[ms.len() / 2]
        };
        let (_, _, b) = answer(db, &path, t.as_deref());
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        eprintln!(
            "{role} {path}: {} of {} matched; median of 11: memory {:.1} ms, PostGIS {:.1} ms",
            v["numberReturned"],
            v["numberMatched"],
            time(files),
            time(db)
        );
    }
    eprintln!(
        "{}",
        pg.psql_in(
            "chiiki",
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT fid, ST_AsBinary(geom, 'NDR') FROM chiiki.\"layer_residents\" \
             WHERE (geom && ST_MakeEnvelope(139.74, 35.70, 139.76, 35.72, 6668) \
             AND ST_Intersects(geom, ST_MakeEnvelope(139.74, 35.70, 139.76, 35.72, 6668))) \
             ORDER BY chiiki_row LIMIT 1000"
        )
    );
    eprintln!(
        "{}",
        pg.psql_in(
            "chiiki",
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM chiiki.\"layer_residents\" \
             WHERE (geom && ST_MakeEnvelope(139.74, 35.70, 139.76, 35.72, 6668) \
             AND ST_X(geom) BETWEEN 139.74 AND 139.76 AND ST_Y(geom) BETWEEN 35.70 AND 35.72)"
        )
    );
}

/// Imports `file` as `layer` with the config `cfg`; the features imported.
fn import(cfg: &Path, layer: &str, file: &Path) -> usize {
    let out = ok(chiiki(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "import",
            layer,
            file.to_str().unwrap(),
            "--public",
        ],
        None,
    ));
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn matched(base: &str, layer: &str) -> Option<u64> {
    let r = client()
        .get(format!("{base}/collections/{layer}/items?limit=1"))
        .send()
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json::<serde_json::Value>().ok()?["numberMatched"].as_u64()
}

/// Seconds until `base` serves `layer` with `n` features; fails after `limit`.
fn until_served(base: &str, layer: &str, n: usize, since: Instant, limit: Duration) -> f64 {
    while matched(base, layer) != Some(n as u64) {
        assert!(
            since.elapsed() < limit,
            "{base} serves {layer} with {:?} features, not {n}, after {limit:?}",
            matched(base, layer)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    since.elapsed().as_secs_f64()
}

/// A fresh data directory `work/name` for one replica, with the config
/// `toml` makes for it; the config's path.
fn replica_config(work: &Path, name: &str, toml: impl Fn(&Path) -> String) -> PathBuf {
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chiiki.toml");
    std::fs::write(&path, toml(&dir)).unwrap();
    path
}

#[test]
fn replicas_on_one_database_follow_each_others_imports() {
    let Some(pg) = cluster(None) else { return };
    pg.create_database("replicas");
    let url = pg.url("replicas");
    let work = scratch("replicas");
    let config = |name: &str| {
        replica_config(&work, name, |_| {
            format!("store = \"postgis\"\n[postgis]\nurl = \"{url}\"\n")
        })
    };
    let (cfg_a, cfg_b) = (config("a"), config("b"));
    let real = real_data();
    let emergency = real.join("shelters/shelter_emergency_131059.json");
    let evacuation = real.join("shelters/shelter_evacuation_131059.json");
    let yaizu = real.join("flood/yaizu_naisui_depth.geojson");

    let n_emergency = import(&cfg_a, "shelters", &emergency);
    let n_yaizu = import(&cfg_a, "flood", &yaizu);
    let (_a, port_a) = spawn_serve(&["--config", cfg_a.to_str().unwrap()]);
    let (_b, port_b) = spawn_serve(&["--config", cfg_b.to_str().unwrap()]);
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    assert_eq!(matched(&b, "shelters"), Some(n_emergency as u64));
    assert_eq!(matched(&a, "flood"), Some(n_yaizu as u64));

    // Replaced through A's config: B serves the new layer within 5 s.
    let n_evacuation = import(&cfg_a, "shelters", &evacuation);
    assert_ne!(n_evacuation, n_emergency);
    let imported = Instant::now();
    let on_b = until_served(
        &b,
        "shelters",
        n_evacuation,
        imported,
        Duration::from_secs(5),
    );
    let on_a = until_served(
        &a,
        "shelters",
        n_evacuation,
        imported,
        Duration::from_secs(5),
    );
    eprintln!("a replaced layer served by B after {on_b:.2} s, by A after {on_a:.2} s");
    // A new layer too, just after the replicas lost their connections
    // (as when the database restarts): they connect again, and the
    // announcement made while they were away is not missed.
    let ended = pg.psql_in(
        "replicas",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name = 'chiiki' AND pid <> pg_backend_pid()",
    );
    // Each replica: the store's connection, the listener's, and those of
    // its page queries (one here: the requests above came one at a time).
    assert_eq!(ended.trim(), "6", "three connections per replica");
    let n_new = import(&cfg_a, "evacuation", &evacuation);
    let on_b = until_served(
        &b,
        "evacuation",
        n_new,
        Instant::now(),
        Duration::from_secs(5),
    );
    eprintln!("a new layer served by B after {on_b:.2} s, its connections ended just before");

    // An import killed while its transaction is open: its rows copied and
    // indexed, waiting on the catalogue, which this session holds.
    // (Read before the lock, which a load would wait on.)
    let before = PostgisStore::connect(&url, None)
        .unwrap()
        .load("flood")
        .unwrap();
    let mut holder = pg.session("replicas");
    let mut hold = holder.stdin.take().unwrap();
    hold.write_all(b"BEGIN;\nLOCK TABLE chiiki.layers IN EXCLUSIVE MODE;\n")
        .unwrap();
    hold.flush().unwrap();
    let held = "SELECT count(*) FROM pg_locks WHERE relation = 'chiiki.layers'::regclass
                AND mode = 'ExclusiveLock' AND granted";
    let since = Instant::now();
    while pg.psql_in("replicas", held).trim() != "1" {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the lock was not taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let a31 = real.join("flood/A31-12_13.shp");
    let mut killed = Command::new(bin())
        .args(["--config", cfg_a.to_str().unwrap(), "import", "flood"])
        .arg(&a31)
        .arg("--public")
        .env("CHIIKI_REAL_DATA", &real)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chiiki'
                   AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'";
    let since = Instant::now();
    while pg.psql_in("replicas", waiting).trim() != "1" {
        assert!(
            killed.try_wait().unwrap().is_none(),
            "the import ended before it reached the swap"
        );
        assert!(
            since.elapsed() < Duration::from_secs(300),
            "the import never reached the swap"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    hold.write_all(b"COMMIT;\n").unwrap();
    drop(hold);
    holder.wait().unwrap();
    let since = Instant::now();
    while pg
        .psql_in(
            "replicas",
            waiting
                .replace("AND wait_event_type = 'Lock' ", "")
                .as_str(),
        )
        .trim()
        != "0"
    {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "the killed import's session lingers"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = PostgisStore::connect(&url, None)
        .unwrap()
        .load("flood")
        .unwrap();
    assert_eq!(sum(&after), sum(&before));
    assert_eq!(after.len(), n_yaizu);
    assert!(
        !chiiki_tables(&pg, "replicas")
            .iter()
            .any(|t| t.starts_with("new_")),
        "{:?}",
        chiiki_tables(&pg, "replicas")
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(matched(&b, "flood"), Some(n_yaizu as u64));
    assert_eq!(matched(&a, "flood"), Some(n_yaizu as u64));
}

/// Documents changed from many threads at once lose no change, and audit
/// entries appended from many threads make one unbroken chain.
#[test]
fn state_documents_and_the_audit_chain_take_concurrent_writers() {
    let Some(pg) = cluster(None) else { return };
    pg.create_database("state");
    let url = pg.url("state");
    let states: Vec<_> = (0..4)
        .map(|_| PostgisStore::connect(&url, None).unwrap().state().unwrap())
        .collect();
    std::thread::scope(|s| {
        for (i, state) in states.iter().enumerate() {
            s.spawn(move || {
                for n in 0..25 {
                    state
                        .update("counter", |body| {
                            let v: i64 = body.map_or(0, |b| b.parse().unwrap());
                            Ok::<_, chiiki_store::StoreError>((Some((v + 1).to_string()), ()))
                        })
                        .unwrap();
                    state
                        .append_audit(|seq, prev| {
                            let line =
                                format!("{{\"seq\":{seq},\"prev\":{prev:?},\"by\":{i},\"n\":{n}}}");
                            let hash = format!("{:x}", seq * 1000 + i as i64);
                            Ok::<_, chiiki_store::StoreError>((line, hash))
                        })
                        .unwrap();
                }
            });
        }
    });
    let (body, version) = states[0].document("counter").unwrap().unwrap();
    assert_eq!(body, "100", "a change was lost");
    assert_eq!(version, 100);
    // A save that changes nothing is no new version.
    states[1]
        .update("counter", |_| Ok::<_, chiiki_store::StoreError>((None, ())))
        .unwrap();
    assert_eq!(states[2].version("counter").unwrap(), 100);
    assert_eq!(states[2].version("nothing").unwrap(), 0);
    // One chain: sequence numbers 0..100 each once, each naming the one before.
    let mut lines = Vec::new();
    states[3]
        .audit_lines(|l| {
            lines.push(l);
            Ok::<_, chiiki_store::StoreError>(())
        })
        .unwrap();
    assert_eq!(lines.len(), 100);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.seq, i as i64);
        let prev = if i == 0 {
            "None".to_string()
        } else {
            format!("Some({:?})", lines[i - 1].hash)
        };
        assert!(l.line.contains(&format!("\"prev\":{prev}")), "{l:?}");
    }
    let head = states[0].audit_head().unwrap().unwrap();
    assert_eq!((head.seq, &head.hash), (99, &lines[99].hash));
    // New documents: the first insert wins, the second is refused.
    assert!(states[0].insert_new("analysis/x", "{\"a\":1}").unwrap());
    assert!(!states[1].insert_new("analysis/x", "{\"a\":2}").unwrap());
    assert_eq!(
        states[2].documents("analysis/").unwrap(),
        vec![("analysis/x".to_string(), "{\"a\": 1}".to_string())]
    );
    // A key made once is everybody's.
    let k1 = states[0].get_or_insert("k", || "\"one\"".into()).unwrap();
    let k2 = states[1].get_or_insert("k", || "\"two\"".into()).unwrap();
    assert_eq!((k1.as_str(), k2.as_str()), ("\"one\"", "\"one\""));
}

/// `chiiki` with `args` after `--config cfg`, which must succeed; its stdout.
fn chiiki_ok(cfg: &Path, args: &[&str]) -> String {
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    ok(chiiki(&all, None))
}

fn status(base: &str, path: &str, token: &str) -> u16 {
    client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Seconds until `base` answers `path` with `want`; fails after `limit`.
fn until_status(base: &str, path: &str, token: &str, want: u16, limit: Duration) -> f64 {
    let since = Instant::now();
    loop {
        let got = status(base, path, token);
        if got == want {
            return since.elapsed().as_secs_f64();
        }
        assert!(
            since.elapsed() < limit,
            "{base}{path} answers {got}, not {want}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post_analysis(base: &str, token: &str, id: &str) -> u16 {
    let body = serde_json::json!({
        "id": id, "title": "shelters in a flood zone", "roles": ["planner"],
        "kind": "join",
        "left": {"layer": "shelters"},
        "right": {"layer": "flood"},
        "relation": {"type": "within"}
    });
    let r = client()
        .post(format!("{base}/analyses"))
        .bearer_auth(token)
        .body(body.to_string())
        .send()
        .unwrap();
    let code = r.status().as_u16();
    if code != 201 {
        eprintln!(
            "POST /analyses {id}: {code} {}",
            r.text().unwrap_or_default()
        );
    }
    code
}

#[test]
fn replicas_share_tokens_the_audit_chain_and_saved_analyses() {
    let Some(pg) = cluster(None) else { return };
    pg.create_database("shared");
    let url = pg.url("shared");
    let work = scratch("shared-state");
    let config = |name: &str| {
        replica_config(&work, name, |dir| {
            format!(
                "data_dir = \"{}\"\nstore = \"postgis\"\n[postgis]\nurl = \"{url}\"\n\
                 [[layers]]\nid = \"visitors\"\npersonal_fields = {{ name = \"name\" }}\n",
                dir.display()
            )
        })
    };
    let (cfg_a, cfg_b) = (config("a"), config("b"));
    let real = real_data();
    import(
        &cfg_a,
        "shelters",
        &real.join("shelters/shelter_emergency_131059.json"),
    );
    import(
        &cfg_a,
        "flood",
        &real.join("flood/yaizu_naisui_depth.geojson"),
    );
    // People: three visitors, personal by the configs' policy.
    let visitors = work.join("visitors.geojson");
    let feature = |pid: i64, name: &str, x: f64| {
        serde_json::json!({"type": "Feature", "properties": {"pid": pid, "name": name},
            "geometry": {"type": "Point", "coordinates": [x, 35.71]}})
    };
    std::fs::write(
        &visitors,
        serde_json::json!({"type": "FeatureCollection", "features": [
            feature(101, "山田 太郎", 139.751),
            feature(102, "佐藤 花子", 139.752),
            feature(103, "鈴木 一郎", 139.753),
        ]})
        .to_string(),
    )
    .unwrap();
    chiiki_ok(
        &cfg_a,
        &[
            "import",
            "visitors",
            visitors.to_str().unwrap(),
            "--id-field",
            "pid",
        ],
    );
    // Tokens made through A's config, before either replica runs.
    let desk = chiiki_ok(
        &cfg_a,
        &[
            "token",
            "create",
            "--name",
            "desk",
            "--role",
            "admin",
            "--no-expiry",
        ],
    )
    .trim()
    .to_string();
    let keeper = chiiki_ok(
        &cfg_b,
        &[
            "token",
            "create",
            "--name",
            "keeper",
            "--role",
            "admin",
            "--no-expiry",
        ],
    )
    .trim()
    .to_string();
    assert!(
        !work.join("a/tokens.json").exists() && !work.join("b/tokens.json").exists(),
        "tokens written to a data directory"
    );
    let stored = pg.psql_in(
        "shared",
        "SELECT body::text FROM chiiki.documents WHERE name = 'tokens'",
    );
    assert!(
        !stored.contains(&desk) && !stored.contains(&keeper),
        "a secret in the database"
    );
    assert_eq!(stored.matches("\"sha256\"").count(), 2, "{stored}");

    let (mut child_a, port_a) = spawn_serve(&["--config", cfg_a.to_str().unwrap()]);
    let (_child_b, port_b) = spawn_serve(&["--config", cfg_b.to_str().unwrap()]);
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    // One pseudonym key for both, made by the first to start: the same
    // person gets the same pseudonym from either replica.
    let keys = pg.psql_in(
        "shared",
        "SELECT count(*) FROM chiiki.documents WHERE name = 'pseudonym.key'",
    );
    assert_eq!(keys.trim(), "1");
    for dir in ["a", "b"] {
        assert!(!work.join(dir).join("keys/pseudonym.key").exists());
    }
    for base in [&a, &b] {
        for t in [&desk, &keeper] {
            assert_eq!(status(base, "/collections/visitors/items?limit=10", t), 200);
        }
        assert_eq!(
            status(base, "/collections/visitors/items", "chiiki_unknown"),
            401
        );
    }

    // Both replicas audit into one chain, also when asked at once.
    std::thread::scope(|s| {
        for (base, path) in [
            (&a, "/collections/visitors/items?limit=10"),
            (&b, "/collections/visitors/items/102"),
        ] {
            let keeper = &keeper;
            s.spawn(move || {
                for _ in 0..15 {
                    assert_eq!(status(base, path, keeper), 200);
                }
            });
        }
    });
    let audited: usize = pg
        .psql_in("shared", "SELECT count(*) FROM chiiki.audit")
        .trim()
        .parse()
        .unwrap();
    assert!(audited >= 30 + 4, "{audited} entries");
    let verified = chiiki_ok(&cfg_b, &["audit", "verify"]);
    assert!(
        verified.contains(&format!("{audited} entries, chain intact")),
        "{verified}"
    );
    let saw_102 = chiiki_ok(
        &cfg_a,
        &["audit", "who-saw", "102", "--population", "visitors"],
    );
    // (The id in a path is logged as its keyed hash.)
    assert_eq!(
        saw_102.lines().filter(|l| l.contains("items/#")).count(),
        15,
        "B's reads missing: {saw_102}"
    );
    assert!(
        saw_102.contains("items?limit=10"),
        "A's reads missing: {saw_102}"
    );
    let saw_999 = chiiki_ok(
        &cfg_a,
        &["audit", "who-saw", "999", "--population", "visitors"],
    );
    assert!(saw_999.trim().is_empty(), "{saw_999}");
    assert!(
        !work.join("a/audit").exists() && !work.join("b/audit").exists(),
        "an audit file written to a data directory"
    );

    // An analysis saved through A is served by B within seconds.
    let suffix = std::process::id();
    let first = format!("flooded_shelters_{suffix}");
    let path = format!("/collections/{first}/items");
    assert_eq!(status(&b, &path, &keeper), 404);
    let saved = Instant::now();
    assert_eq!(post_analysis(&a, &desk, &first), 201);
    let on_b = until_status(&b, &path, &keeper, 200, Duration::from_secs(5));
    eprintln!(
        "a saved analysis served by B after {on_b:.2} s ({:.2} s after the POST began)",
        saved.elapsed().as_secs_f64()
    );
    assert_eq!(post_analysis(&b, &keeper, &first), 409, "saved twice");

    // A revocation through A's config is refused by both within 5 s.
    chiiki_ok(&cfg_a, &["token", "revoke", "desk"]);
    let revoked = Instant::now();
    let on_b = until_status(
        &b,
        "/collections/visitors/items?limit=1",
        &desk,
        401,
        Duration::from_secs(5),
    );
    let on_a = until_status(
        &a,
        "/collections/visitors/items?limit=1",
        &desk,
        401,
        Duration::from_secs(5),
    );
    eprintln!(
        "a revoked token refused by B after {on_b:.2} s, by A after {:.2} s",
        revoked.elapsed().as_secs_f64().max(on_a)
    );
    assert_eq!(
        status(&b, "/collections/visitors/items?limit=1", &keeper),
        200
    );
    let listed = chiiki_ok(&cfg_b, &["token", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("desk") && l.contains("revoked")),
        "{listed}"
    );

    // kill -9 of A right after a committed save, audit and revocation:
    // nothing is lost.
    let second = format!("evacuation_check_{suffix}");
    assert_eq!(post_analysis(&a, &keeper, &second), 201);
    chiiki_ok(&cfg_b, &["token", "revoke", "keeper"]);
    let fresh = chiiki_ok(
        &cfg_a,
        &[
            "token",
            "create",
            "--name",
            "fresh",
            "--role",
            "admin",
            "--no-expiry",
        ],
    )
    .trim()
    .to_string();
    until_status(
        &a,
        "/collections/visitors/items/103",
        &fresh,
        200,
        Duration::from_secs(5),
    );
    child_a.kill().unwrap(); // SIGKILL
    child_a.wait().unwrap();
    let saw_103 = chiiki_ok(
        &cfg_b,
        &["audit", "who-saw", "103", "--population", "visitors"],
    );
    assert_eq!(
        saw_103.lines().filter(|l| l.contains("items/#")).count(),
        1,
        "A's last read before the kill is lost: {saw_103}"
    );
    assert!(chiiki_ok(&cfg_b, &["audit", "verify"]).contains("chain intact"));
    until_status(
        &b,
        &format!("/collections/{second}/items"),
        &fresh,
        200,
        Duration::from_secs(5),
    );
    until_status(
        &b,
        "/collections/visitors/items?limit=1",
        &keeper,
        401,
        Duration::from_secs(5),
    );
    let (_child_a, port_a) = spawn_serve(&["--config", cfg_a.to_str().unwrap()]);
    let a = format!("http://127.0.0.1:{port_a}");
    for id in [&first, &second] {
        assert_eq!(
            status(&a, &format!("/collections/{id}/items"), &fresh),
            200,
            "{id}"
        );
    }
    for t in [&desk, &keeper] {
        assert_eq!(status(&a, "/collections/visitors/items?limit=1", t), 401);
    }
    assert_eq!(status(&a, "/collections/visitors/items/101", &fresh), 200);
    let after = chiiki_ok(&cfg_a, &["audit", "verify"]);
    let entries: usize = pg
        .psql_in("shared", "SELECT count(*) FROM chiiki.audit")
        .trim()
        .parse()
        .unwrap();
    assert!(entries > audited);
    assert!(
        after.contains(&format!("{entries} entries, chain intact")),
        "{after}"
    );
}
