//! `chiiki import` on real files in every format and CRS the issue names,
//! checked against GDAL/PROJ's own tools; bad input; atomic replacement.

mod common;

use std::path::{Path, PathBuf};

use chiiki_core::layers::Value;
use chiiki_store::geoparquet as store;
use common::{real_data, run, run_ok, scratch, tool};

fn data_dir(name: &str) -> PathBuf {
    let d = scratch(name);
    let _ = std::fs::remove_dir_all(d.join("layers"));
    d
}

fn import(data: &Path, layer: &str, file: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "import",
        layer,
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_ok(&args)
}

fn load(data: &Path, layer: &str) -> chiiki_core::layers::Layer {
    store::load(&store::layer_path(data, layer)).unwrap()
}

/// Reads a GeoJSON written by ogr2ogr into (first coordinate of each feature).
fn first_coords_geojson(path: &Path) -> Vec<(f64, f64)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut c = &f["geometry"]["coordinates"];
            while c[0].is_array() {
                c = &c[0];
            }
            (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
        })
        .collect()
}

fn first_coord(g: &geo::Geometry<f64>) -> (f64, f64) {
    use geo::CoordsIter;
    let c = g.coords_iter().next().unwrap();
    (c.x, c.y)
}

#[test]
fn plane_rectangular_shapefile_is_reprojected_like_ogr2ogr() {
    let data = data_dir("zone8");
    let src = real_data().join("yaizu/yaizu_toshikeikaku_road.shp");
    let out = import(&data, "yaizu_roads", &src, &[]);
    assert!(out.contains("imported 300 of 300"), "{out}");
    assert!(
        out.contains("EPSG:2450"),
        "JGD2000 zone VIII should be identified: {out}"
    );
    let layer = load(&data, "yaizu_roads");

    let reference = scratch("zone8").join("reference.geojson");
    let _ = std::fs::remove_file(&reference);
    tool(
        "ogr2ogr",
        &[
            "-f",
            "GeoJSON",
            "-t_srs",
            "EPSG:6668",
            "-lco",
            "COORDINATE_PRECISION=12",
            reference.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    let want = first_coords_geojson(&reference);
    assert_eq!(want.len(), layer.len());
    // GeoJSON from ogr2ogr is lon/lat; layer rows are in spatial order, fids are the source fids.
    let mut worst: f64 = 0.0;
    for row in 0..layer.len() {
        let fid = layer.fids[row] as usize;
        let (x, y) = first_coord(&layer.geometries.get(row));
        let (wx, wy) = want[fid];
        worst = worst.max((x - wx).abs()).max((y - wy).abs());
    }
    assert!(worst < 1e-8, "differs from ogr2ogr by {worst}°");
    // Attributes came through the .cpg (Shift_JIS) as text.
    let names: Vec<String> = layer.columns.iter().map(|c| c.name.clone()).collect();
    assert!(!names.is_empty());
}

#[test]
fn csv_with_japanese_lat_lon_columns() {
    let data = data_dir("csv");
    let src = real_data().join("yaizu/yaizu_fire_water.csv");
    let out = import(&data, "fire_water", &src, &[]);
    let rows = std::fs::read_to_string(&src).unwrap().lines().count() - 1;
    assert!(out.contains(&format!("imported {rows} of {rows}")), "{out}");
    let layer = load(&data, "fire_water");
    // The first data row: 34.843137, 138.308824 (緯度, 経度).
    let row = layer.row_of(1).expect("CSV rows are numbered from 1");
    assert_eq!(
        first_coord(&layer.geometries.get(row)),
        (138.308824, 34.843137)
    );
    let (_, kind) = layer.column("種別").unwrap();
    assert_eq!(kind.get(row), Value::Text("防火水そう".into()));
    assert!(
        layer.column("緯度").is_none(),
        "coordinate columns become the geometry"
    );
}

#[test]
fn geopackage_and_flatgeobuf_round_trip_from_cp932_shapefile() {
    let dir = scratch("formats");
    let data = data_dir("formats-data");
    let shp = real_data().join("bunkyo/r2ka13105.shp");
    for (driver, ext) in [("GPKG", "gpkg"), ("FlatGeobuf", "fgb")] {
        let file = dir.join(format!("bunkyo.{ext}"));
        let _ = std::fs::remove_file(&file);
        tool(
            "ogr2ogr",
            &[
                "-f",
                driver,
                "-oo",
                "ENCODING=CP932",
                file.to_str().unwrap(),
                shp.to_str().unwrap(),
            ],
        );
        let id = format!("bunkyo_{ext}");
        import(&data, &id, &file, &[]);
        let layer = load(&data, &id);
        assert_eq!(layer.len(), 68, "{driver}");
        let (_, name) = layer.column("S_NAME").unwrap();
        let names: Vec<Value> = (0..layer.len()).map(|r| name.get(r)).collect();
        assert!(
            names.contains(&Value::Text("本郷一丁目".into())),
            "{driver}: {:?}",
            &names[..3]
        );
        let (_, jinko) = layer.column("JINKO").unwrap();
        let total: i64 = (0..layer.len())
            .map(|r| match jinko.get(r) {
                Value::Integer(v) => v,
                _ => 0,
            })
            .sum();
        assert_eq!(
            total, 240_069,
            "{driver}: SOURCES.md says the population sums to 240,069"
        );
    }
}

#[test]
fn tokyo_datum_warns_and_shifts_like_proj() {
    let dir = scratch("tokyo");
    let data = data_dir("tokyo-data");
    let src = dir.join("old_survey.geojson");
    // A point surveyed on the Tokyo datum near 文京区役所.
    std::fs::write(&src, r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"name":"旧測量点"},"geometry":{"type":"Point","coordinates":[139.755,35.705]}}]}"#).unwrap();
    let out = run(&[
        "import",
        "old_survey",
        src.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--src-crs",
        "EPSG:4301",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Tokyo datum") && stderr.contains("10 m"),
        "{stderr}"
    );
    let layer = load(&data, "old_survey");
    let (x, y) = first_coord(&layer.geometries.get(0));
    let txt = tool(
        "sh",
        &[
            "-c",
            "echo '35.705 139.755' | cs2cs -f %.9f EPSG:4301 EPSG:6668",
        ],
    );
    let v: Vec<f64> = txt
        .split_whitespace()
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(
        (y - v[0]).abs() < 1e-8 && (x - v[1]).abs() < 1e-8,
        "({x},{y}) vs cs2cs {v:?}"
    );
    // The shift is real: hundreds of metres in Tokyo.
    assert!((x - 139.755).abs() > 0.002);
}

#[test]
fn invalid_geometries_are_repaired_or_rejected_by_name() {
    let dir = scratch("invalid");
    let data = data_dir("invalid-data");
    let src = dir.join("zones.geojson");
    std::fs::write(&src, r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"zone":"ok"},"geometry":{"type":"Polygon","coordinates":[[[139.70,35.70],[139.71,35.70],[139.71,35.71],[139.70,35.71],[139.70,35.70]]]}},
        {"type":"Feature","properties":{"zone":"bowtie"},"geometry":{"type":"Polygon","coordinates":[[[139.70,35.70],[139.71,35.71],[139.71,35.70],[139.70,35.71],[139.70,35.70]]]}},
        {"type":"Feature","properties":{"zone":"nogeom"},"geometry":null},
        {"type":"Feature","properties":{"zone":"far"},"geometry":{"type":"Point","coordinates":[500.0,35.0]}}
    ]}"#).unwrap();
    let out = run(&[
        "import",
        "zones",
        src.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("zones.geojson: feature 2") && stderr.contains("repaired"),
        "{stderr}"
    );
    assert!(
        stderr.contains("feature 3") && stderr.contains("no geometry"),
        "{stderr}"
    );
    assert!(
        stderr.contains("feature 4") && stderr.contains("outside"),
        "{stderr}"
    );
    assert!(stdout.contains("imported 2 of 4"), "{stdout}");
    let layer = load(&data, "zones");
    // The bow-tie became a valid multipolygon of two triangles; the layer is uniform.
    use geo::{Area, Validation};
    for row in 0..layer.len() {
        let g = layer.geometries.get(row);
        assert!(g.is_valid(), "{g:?}");
        assert!(matches!(g, geo::Geometry::MultiPolygon(_)), "{g:?}");
        assert!(g.unsigned_area() > 0.0);
    }
}

#[test]
fn bad_input_names_the_file_and_leaves_the_old_layer() {
    let dir = scratch("atomic");
    let data = data_dir("atomic-data");
    let good = real_data().join("shelters/shelter_evacuation_131059.json");
    import(&data, "shelters", &good, &["--id-field", "NO"]);
    let before = std::fs::read(store::layer_path(&data, "shelters")).unwrap();

    // Not a vector file.
    let garbage = dir.join("broken.geojson");
    std::fs::write(
        &garbage,
        "{\"type\": \"FeatureCollection\", \"features\": [ {oops",
    )
    .unwrap();
    let out = run(&[
        "import",
        "shelters",
        garbage.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.geojson"), "{err}");

    // Duplicate ids in the id field stop the import, naming the feature.
    let dup = dir.join("dup.geojson");
    std::fs::write(&dup, r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"NO":1},"geometry":{"type":"Point","coordinates":[139.7,35.7]}},
        {"type":"Feature","properties":{"NO":1},"geometry":{"type":"Point","coordinates":[139.8,35.7]}}]}"#).unwrap();
    let out = run(&[
        "import",
        "shelters",
        dup.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--id-field",
        "NO",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dup.geojson: feature 2") && err.contains("not unique"),
        "{err}"
    );

    // Unknown id field.
    let out = run(&[
        "import",
        "shelters",
        good.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--id-field",
        "nope",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nope'"));

    assert_eq!(
        std::fs::read(store::layer_path(&data, "shelters")).unwrap(),
        before,
        "old layer must be untouched"
    );
    assert_eq!(load(&data, "shelters").len(), 58);
}

#[test]
fn killed_import_leaves_the_previous_layer_intact() {
    let dir = scratch("kill");
    let data = data_dir("kill-data");
    let good = real_data().join("shelters/shelter_emergency_131059.json");
    import(&data, "points", &good, &[]);
    let before = std::fs::read(store::layer_path(&data, "points")).unwrap();

    // A large synthetic file so the import is still running when killed.
    let big = dir.join("big.geojson");
    let mut s = String::from("{\"type\":\"FeatureCollection\",\"features\":[");
    for i in 0..400_000 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"type\":\"Feature\",\"properties\":{{\"n\":{i}}},\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{},{}]}}}}",
            139.7 + (i % 1000) as f64 * 1e-4,
            35.7 + (i / 1000) as f64 * 1e-4
        ));
    }
    s.push_str("]}");
    std::fs::write(&big, s).unwrap();

    for delay_ms in [150u64, 600, 1200] {
        let mut child = std::process::Command::new(common::bin())
            .args([
                "import",
                "points",
                big.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(store::layer_path(&data, "points")).unwrap();
        let n = load(&data, "points").len();
        if finished || now != before {
            // Finished (or renamed into place) before the kill: then it must be whole.
            assert_eq!(
                n, 400_000,
                "killed after {delay_ms} ms: a partial layer is visible"
            );
            return;
        }
        assert_eq!(n, 7);
    }
}
