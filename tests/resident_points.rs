//! 住民ポイント: a synthetic registry on real 文京区 addresses, geocoded into a
//! private point layer, that follows a 転居 by date and is served only to the
//! roles that may see it.

mod common;
mod registry_data;

use std::io::Read;

use chiiki_core::layers::Value;
use chiiki_store::geoparquet as store;
use common::{real_data, run_ok, scratch};

/// The ABR position of 白山一丁目1番1号, read straight from the ABR file.
fn abr_position_hakusan_1_1_1() -> (f64, f64) {
    let path = real_data().join("abr/bunkyo-131059/mt_rsdtdsp_rsdt_pos_bunkyo.csv.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_index(0).unwrap().read_to_string(&mut text).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let h = reader.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        if &r[col("machiaza_id")] == "0001001"
            && &r[col("blk_id")] == "001"
            && &r[col("rsdt_id")] == "001"
        {
            return (
                r[col("rep_lon")].parse().unwrap(),
                r[col("rep_lat")].parse().unwrap(),
            );
        }
    }
    panic!("白山一丁目1-1 not in the ABR");
}

#[test]
fn registry_becomes_a_private_point_layer_that_follows_moves() {
    let dir = scratch("points");
    let data = dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let reference = dir.join("reference.chiiki");
    run_ok(&["reference", "build", "-o", reference.to_str().unwrap()]);

    let residents = registry_data::residents(300, 7, 20_000_000_000);
    let file = dir.join("registry.csv");
    registry_data::write(
        &file,
        &registry_data::cp932(&registry_data::japanese_csv(&residents)),
    );
    run_ok(&[
        "registry",
        "import",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--as-of",
        "2025-04-01",
    ]);

    let d = data.to_str().unwrap();
    let r = reference.to_str().unwrap();
    let out = run_ok(&[
        "registry",
        "points",
        "--data",
        d,
        "--reference",
        r,
        "--as-of",
        "2025-04-01",
    ]);
    let layer = store::load(&store::layer_path(&data, "residents")).unwrap();
    assert!(
        !layer.meta.access.public,
        "resident points are personal data"
    );
    assert_eq!(layer.meta.access.roles, vec!["planner".to_string()]);
    assert!(layer.len() * 100 >= 300 * 95, "{out}");
    let col = |name: &str| layer.column(name).unwrap().1;
    // Feature ids are the 住民票コード; every point sits where its address was geocoded.
    for row in 0..layer.len() {
        let id = match col("resident_id").get(row) {
            Value::Text(t) => t,
            v => panic!("{v:?}"),
        };
        assert_eq!(layer.fids[row].to_string(), id);
        let resident = residents.iter().find(|x| x.id == id).unwrap();
        assert_eq!(
            col("address").get(row),
            Value::Text(resident.address.clone())
        );
    }
    // No age is stored; the birth date is.
    assert!(layer.column("age").is_none());
    assert!(layer.column("birth_date").is_some());

    // A 転居 to 白山一丁目1番1号 on 2025-05-10 moves the point, by date.
    let mover = &residents[0];
    let delta = registry_data::delta_csv(&[registry_data::Delta {
        id: &mover.id,
        date: "2025-05-10",
        reason: "転居",
        household: &mover.household,
        name: &mover.name,
        birth: "",
        sex: "",
        relationship: mover.relationship,
        address: "東京都文京区白山一丁目1番1号",
        extra: "",
    }]);
    let delta_file = dir.join("delta.csv");
    std::fs::write(&delta_file, delta).unwrap();
    run_ok(&[
        "registry",
        "apply",
        delta_file.to_str().unwrap(),
        "--data",
        d,
    ]);
    let fid: i64 = mover.id.parse().unwrap();
    let position_on = |date: &str| {
        run_ok(&[
            "registry",
            "points",
            "--data",
            d,
            "--reference",
            r,
            "--as-of",
            date,
        ]);
        let layer = store::load(&store::layer_path(&data, "residents")).unwrap();
        let row = layer
            .row_of(fid)
            .expect("the mover is registered on both dates");
        match layer.geometries.get(row) {
            geo::Geometry::Point(p) => (p.x(), p.y()),
            g => panic!("{g:?}"),
        }
    };
    let before = position_on("2025-05-09");
    let after = position_on("2025-05-10");
    let (lon, lat) = abr_position_hakusan_1_1_1();
    assert!(
        (after.0 - lon).abs() < 1e-9 && (after.1 - lat).abs() < 1e-9,
        "{after:?} vs ABR {lon},{lat}"
    );
    assert!(before != after, "the point must move with the 転居");
}
