//! CQL2-text filtering (OGC API – Features Part 3) over real HTTP against the
//! demo server. Expected answers are computed by brute force over every
//! feature of the collection, fetched unfiltered.

mod common;

use std::collections::BTreeSet;

use common::{client, server};
use geo::{Closest, Contains, Distance, Geodesic, HaversineClosestPoint, Intersects, Rect, Relate};
use serde_json::{Map, Value};

struct Feature {
    id: i64,
    props: Map<String, Value>,
    geom: geo::Geometry<f64>,
}

fn url(collection: &str, params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    server().url(&format!("/collections/{collection}/items?{}", ser.finish()))
}

fn fetch(url: &str) -> (u16, Value) {
    let s = server();
    let r = client()
        .get(url)
        .bearer_auth(s.token("planner"))
        .send()
        .expect("HTTP request");
    let status = r.status().as_u16();
    (status, r.json().expect("JSON body"))
}

fn fetch_ok(url: &str) -> Value {
    let (status, body) = fetch(url);
    assert_eq!(status, 200, "{url}: {body}");
    body
}

fn features(body: &Value) -> Vec<Feature> {
    body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
            Feature {
                id: f["id"].as_i64().unwrap(),
                props: f["properties"].as_object().unwrap().clone(),
                geom: geo::Geometry::try_from(g).unwrap(),
            }
        })
        .collect()
}

fn all(collection: &str) -> Vec<Feature> {
    let body = fetch_ok(&url(collection, &[("limit", "10000")]));
    let fs = features(&body);
    assert_eq!(body["numberMatched"].as_u64().unwrap() as usize, fs.len());
    fs
}

/// numberMatched and the ids of every match of `filter` (plus `extra` parameters).
fn matched(collection: &str, filter: &str, extra: &[(&str, &str)]) -> (usize, BTreeSet<i64>) {
    let mut params = vec![("filter", filter), ("limit", "10000")];
    params.extend_from_slice(extra);
    let body = fetch_ok(&url(collection, &params));
    let ids: BTreeSet<i64> = features(&body).iter().map(|f| f.id).collect();
    let n = body["numberMatched"].as_u64().unwrap() as usize;
    assert_eq!(n, ids.len(), "{filter}: numberMatched vs features");
    (n, ids)
}

fn brute(fs: &[Feature], pred: impl Fn(&Feature) -> bool) -> BTreeSet<i64> {
    fs.iter().filter(|f| pred(f)).map(|f| f.id).collect()
}

fn int(f: &Feature, k: &str) -> Option<i64> {
    f.props.get(k).and_then(Value::as_i64)
}

fn text<'a>(f: &'a Feature, k: &str) -> Option<&'a str> {
    f.props.get(k).and_then(Value::as_str)
}

/// Asserts that the server's answer to `filter` is the brute-force one, and
/// returns how many features matched.
fn check(collection: &str, fs: &[Feature], filter: &str, pred: impl Fn(&Feature) -> bool) -> usize {
    let want = brute(fs, pred);
    let (_, got) = matched(collection, filter, &[]);
    assert_eq!(got, want, "{collection}: {filter}");
    want.len()
}

fn error_of(url: &str) -> (u16, String) {
    let (status, body) = fetch(url);
    (
        status,
        body["description"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn comparisons_like_in_between_null_and_precedence_match_brute_force() {
    let fs = all("bunkyo_towns");
    assert_eq!(fs.len(), 68);
    let jinko = |f: &Feature| int(f, "JINKO").unwrap();
    let setai = |f: &Feature| int(f, "SETAI").unwrap();
    let name = |f: &Feature| text(f, "S_NAME").unwrap().to_string();
    let area = |f: &Feature| f.props["AREA"].as_f64().unwrap();
    let c =
        |filter: &str, pred: &dyn Fn(&Feature) -> bool| check("bunkyo_towns", &fs, filter, pred);

    // Comparisons, either way round, integers against decimals.
    let n = c("JINKO > 5000", &|f| jinko(f) > 5000);
    assert!(n > 0 && n < 68, "{n}");
    c("JINKO >= 5000", &|f| jinko(f) >= 5000);
    c("5000 < JINKO", &|f| jinko(f) > 5000);
    c("JINKO <> 4228", &|f| jinko(f) != 4228);
    c("JINKO = 4228", &|f| jinko(f) == 4228);
    c("JINKO != 4228", &|f| jinko(f) != 4228);
    c("JINKO <= 1575.5", &|f| jinko(f) <= 1575);
    c("AREA > 150000.25", &|f| area(f) > 150000.25);
    c("SETAI < JINKO", &|f| setai(f) < jinko(f));

    // Precedence: NOT over AND over OR, parentheses override.
    c("JINKO < 1000 OR SETAI > 4000 AND JINKO > 7000", &|f| {
        jinko(f) < 1000 || (setai(f) > 4000 && jinko(f) > 7000)
    });
    c("(JINKO < 1000 OR SETAI > 4000) AND JINKO > 7000", &|f| {
        (jinko(f) < 1000 || setai(f) > 4000) && jinko(f) > 7000
    });
    c("NOT JINKO > 5000 AND SETAI > 2000", &|f| {
        jinko(f) <= 5000 && setai(f) > 2000
    });
    c("NOT (JINKO > 5000 AND SETAI > 2000)", &|f| {
        !(jinko(f) > 5000 && setai(f) > 2000)
    });
    c("not (jinko > 5000 or setai > 2000) and true", &|f| {
        !(jinko(f) > 5000 || setai(f) > 2000)
    });
    c("JINKO > 1 AND FALSE OR S_NAME = '白山一丁目'", &|f| {
        name(f) == "白山一丁目"
    });

    // LIKE (case-sensitive, % and _), IN, BETWEEN.
    let n = c("S_NAME LIKE '%二丁目'", &|f| name(f).ends_with("二丁目"));
    assert!(n > 3, "{n}");
    c("S_NAME LIKE '白山_丁目'", &|f| {
        let s = name(f);
        s.starts_with("白山") && s.ends_with("丁目") && s.chars().count() == 5
    });
    c("S_NAME NOT LIKE '%丁目'", &|f| !name(f).ends_with("丁目"));
    c(
        "S_NAME LIKE '%本郷%' AND NOT S_NAME LIKE '本郷%'",
        &|f| name(f).contains("本郷") && !name(f).starts_with("本郷"),
    );
    c(
        "S_NAME IN ('白山一丁目', '本郷二丁目', 'どこにもない町')",
        &|f| ["白山一丁目", "本郷二丁目"].contains(&name(f).as_str()),
    );
    c("JINKO NOT IN (1575, 4228, 2705)", &|f| {
        ![1575, 4228, 2705].contains(&jinko(f))
    });
    c("JINKO BETWEEN 2000 AND 4000", &|f| {
        (2000..=4000).contains(&jinko(f))
    });
    c(
        "JINKO NOT BETWEEN 2000 AND 4000 AND SETAI BETWEEN 1000.5 AND 3000",
        &|f| !(2000..=4000).contains(&jinko(f)) && setai(f) > 1000 && setai(f) <= 3000,
    );
    c("CASEI(AREA_MAX_F) = CASEI('m')", &|f| {
        text(f, "AREA_MAX_F").is_some_and(|v| v.eq_ignore_ascii_case("m"))
    });
    c("AREA_MAX_F = 'm'", &|f| text(f, "AREA_MAX_F") == Some("m"));

    // Nulls: KIGO_E is null everywhere.
    assert!(fs.iter().all(|f| f.props["KIGO_E"].is_null()));
    c("KIGO_E IS NULL", &|_| true);
    c("KIGO_E IS NOT NULL", &|_| false);
    c("NOT KIGO_E IS NULL OR JINKO > 9000", &|f| jinko(f) > 9000);
}

#[test]
fn nulls_follow_three_valued_logic() {
    // 受入対象者 is null on some shelters and set on others.
    let fs = all("shelters_evacuation");
    let field = "受入対象者";
    let nulls = fs.iter().filter(|f| f.props[field].is_null()).count();
    assert!(nulls > 0 && nulls < fs.len(), "{nulls} of {}", fs.len());
    let some_value = fs.iter().find_map(|f| text(f, field)).unwrap().to_string();
    let c = |filter: &str, pred: &dyn Fn(&Feature) -> bool| {
        check("shelters_evacuation", &fs, filter, pred)
    };
    c(&format!("{field} IS NULL"), &|f| f.props[field].is_null());
    c(&format!("{field} IS NOT NULL"), &|f| {
        !f.props[field].is_null()
    });
    let v = some_value.replace('\'', "''");
    c(&format!("{field} = '{v}'"), &|f| {
        text(f, field) == Some(&some_value)
    });
    // Unknown is neither true nor false: nulls match neither side.
    c(&format!("NOT {field} = '{v}'"), &|f| {
        text(f, field).is_some_and(|x| x != some_value)
    });
    c(&format!("{field} <> '{v}' OR {field} IS NULL"), &|f| {
        text(f, field) != Some(&some_value)
    });
}

#[test]
fn japanese_values_and_property_names() {
    let fs = all("shelters_evacuation");
    let name = "施設・場所名";
    let c = |filter: &str, pred: &dyn Fn(&Feature) -> bool| {
        check("shelters_evacuation", &fs, filter, pred)
    };
    let n = c(&format!("{name} LIKE '%小学校'"), &|f| {
        text(f, name).is_some_and(|s| s.ends_with("小学校"))
    });
    assert!(n > 5, "{n}");
    c(
        &format!("\"{name}\" LIKE '%中学校' AND 都道府県名及び市町村名 = '東京都文京区'"),
        &|f| {
            text(f, name).is_some_and(|s| s.ends_with("中学校"))
                && text(f, "都道府県名及び市町村名") == Some("東京都文京区")
        },
    );
    let one = text(&fs[3], name).unwrap().to_string();
    c(&format!("{name} = '{}'", one.replace('\'', "''")), &|f| {
        text(f, name) == Some(&one)
    });

    let towns = all("bunkyo_towns");
    let (n, ids) = matched("bunkyo_towns", "S_NAME = '白山一丁目'", &[]);
    assert_eq!(n, 1);
    let want = brute(&towns, |f| text(f, "S_NAME") == Some("白山一丁目"));
    assert_eq!(ids, want);
}

#[test]
fn dates_compare_as_dates_and_combine_with_datetime() {
    let fs = all("bridge_inspections");
    assert_eq!(fs.len(), 40);
    let day = |f: &Feature| text(f, "inspected").unwrap().to_string();
    let c = |filter: &str, pred: &dyn Fn(&Feature) -> bool| {
        check("bridge_inspections", &fs, filter, pred)
    };
    c(
        "inspected >= DATE('2021-01-01') AND inspected < DATE('2022-01-01')",
        &|f| day(f).starts_with("2021"),
    );
    c("inspected BETWEEN '2020-03-01' AND '2021-06-30'", &|f| {
        ("2020-03-01".."2021-07-01").contains(&day(f).as_str())
    });
    c("inspected > TIMESTAMP('2022-05-15T12:00:00Z')", &|f| {
        day(f).as_str() > "2022-05-15"
    });
    c("grade IN ('I', 'IV') AND span_m > 12", &|f| {
        ["I", "IV"].contains(&text(f, "grade").unwrap())
            && f.props["span_m"].as_f64().unwrap() > 12.0
    });
    // filter AND datetime AND prop=value.
    let want = brute(&fs, |f| {
        day(f).starts_with("2021") && text(f, "grade") == Some("II")
    });
    let (_, got) = matched(
        "bridge_inspections",
        "grade <> 'I'",
        &[("datetime", "2021-01-01/2021-12-31"), ("grade", "II")],
    );
    assert_eq!(got, want);
}

const POLYGON: &str =
    "POLYGON((139.735 35.705, 139.762 35.699, 139.771 35.726, 139.741 35.731, 139.735 35.705))";

fn polygon() -> geo::Polygon<f64> {
    geo::Polygon::new(
        geo::LineString::from(vec![
            (139.735, 35.705),
            (139.762, 35.699),
            (139.771, 35.726),
            (139.741, 35.731),
            (139.735, 35.705),
        ]),
        vec![],
    )
}

#[test]
fn spatial_predicates_match_brute_force() {
    let poly = polygon();
    let towns = all("bunkyo_towns");
    let n = check(
        "bunkyo_towns",
        &towns,
        &format!("S_INTERSECTS(geometry, {POLYGON})"),
        |f| f.geom.intersects(&poly),
    );
    assert!(n > 10 && n < 68, "{n}");
    let n = check(
        "bunkyo_towns",
        &towns,
        &format!("S_WITHIN(geometry, {POLYGON})"),
        |f| poly.contains(&f.geom),
    );
    assert!(n > 3, "{n}");
    // The literal first: S_CONTAINS(literal, geometry) is S_WITHIN(geometry, literal).
    let (_, within) = matched(
        "bunkyo_towns",
        &format!("S_WITHIN(geometry, {POLYGON})"),
        &[],
    );
    let (_, contains) = matched("bunkyo_towns", &format!("S_CONTAINS({POLYGON}, geom)"), &[]);
    assert_eq!(within, contains);
    check(
        "bunkyo_towns",
        &towns,
        &format!("S_DISJOINT(geometry, {POLYGON})"),
        |f| !f.geom.intersects(&poly),
    );
    check(
        "bunkyo_towns",
        &towns,
        "S_CONTAINS(geometry, POINT(139.7522 35.7079))",
        |f| f.geom.contains(&geo::Point::new(139.7522, 35.7079)),
    );
    check(
        "bunkyo_towns",
        &towns,
        "S_INTERSECTS(geometry, LINESTRING(139.73 35.70, 139.77 35.73))",
        |f| {
            f.geom.intersects(&geo::Line::new(
                geo::coord! {x: 139.73, y: 35.70},
                geo::coord! {x: 139.77, y: 35.73},
            ))
        },
    );

    // The DE-9IM relations against one town's own polygon: itself equals,
    // neighbours touch; a line crosses the towns it passes through.
    let hakusan = towns
        .iter()
        .find(|f| text(f, "S_NAME") == Some("白山一丁目"))
        .unwrap();
    let literal = raw_wkt("bunkyo_towns", hakusan.id);
    for (op, rel) in [
        ("S_EQUALS", "equals"),
        ("S_TOUCHES", "touches"),
        ("S_OVERLAPS", "overlaps"),
        ("S_INTERSECTS", "intersects"),
        ("S_WITHIN", "within"),
    ] {
        let n = check(
            "bunkyo_towns",
            &towns,
            &format!("{op}(geometry, {literal})"),
            |f| {
                let m = f.geom.relate(&hakusan.geom);
                match rel {
                    "equals" => m.is_equal_topo(),
                    "touches" => m.is_touches(),
                    "overlaps" => m.is_overlaps(),
                    "intersects" => m.is_intersects(),
                    _ => m.is_within(),
                }
            },
        );
        if op == "S_EQUALS" || op == "S_WITHIN" {
            assert!(n >= 1, "{op}: {n}");
        }
        if op == "S_INTERSECTS" {
            assert!(n >= 3, "{op}: {n}");
        }
    }
    let n = check(
        "bunkyo_towns",
        &towns,
        "S_CROSSES(geometry, LINESTRING(139.73 35.70, 139.77 35.73))",
        |f| {
            f.geom
                .relate(&geo::LineString::from(vec![
                    (139.73, 35.70),
                    (139.77, 35.73),
                ]))
                .is_crosses()
        },
    );
    assert!(n > 3, "{n}");

    let shelters = all("shelters_evacuation");
    let n = check(
        "shelters_evacuation",
        &shelters,
        &format!("S_WITHIN(geometry, {POLYGON})"),
        |f| poly.contains(&f.geom),
    );
    assert!(n > 5, "{n}");
    let bbox = Rect::new(
        geo::coord! {x: 139.72, y: 35.70},
        geo::coord! {x: 139.77, y: 35.74},
    );
    check(
        "shelters_evacuation",
        &shelters,
        "S_INTERSECTS(geometry, BBOX(139.72, 35.70, 139.77, 35.74)) AND NOT 施設・場所名 LIKE '%小学校'",
        |f| {
            f.geom.intersects(&bbox)
                && !text(f, "施設・場所名").is_some_and(|s| s.ends_with("小学校"))
        },
    );
    // Spatial OR attribute: the R-tree cannot prune, every row is tested.
    check(
        "shelters_evacuation",
        &shelters,
        &format!("S_WITHIN(geometry, {POLYGON}) OR 都道府県名及び市町村名 LIKE '%会津若松市'"),
        |f| {
            poly.contains(&f.geom)
                || text(f, "都道府県名及び市町村名").is_some_and(|s| s.ends_with("会津若松市"))
        },
    );

    // A larger polygon layer.
    let flood = all("flood_a31_tokyo");
    let n = check(
        "flood_a31_tokyo",
        &flood,
        &format!("S_INTERSECTS(geometry, {POLYGON})"),
        |f| f.geom.intersects(&poly),
    );
    assert!(n > 10, "{n}");
}

/// A feature's polygon or multipolygon as WKT, with the coordinates exactly
/// as the server wrote them (re-printing parsed floats could move them by an
/// ulp, and S_EQUALS or S_TOUCHES would then rightly fail).
fn raw_wkt(collection: &str, id: i64) -> String {
    let text = client()
        .get(server().url(&format!("/collections/{collection}/items/{id}")))
        .bearer_auth(server().token("planner"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let start = text.find("\"coordinates\":").unwrap() + "\"coordinates\":".len();
    let body = &text[start..];
    let mut out = String::new();
    let mut depth = 0;
    let mut max_depth = 0;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' if chars
                .peek()
                .is_some_and(|d| d.is_ascii_digit() || *d == '-') =>
            {
                // A position: "x,y" becomes "x y".
                for d in chars.by_ref() {
                    match d {
                        ']' => break,
                        ',' => out.push(' '),
                        d => out.push(d),
                    }
                }
            }
            '[' => {
                depth += 1;
                max_depth = max_depth.max(depth);
                out.push('(');
            }
            ']' => {
                depth -= 1;
                out.push(')');
                if depth == 0 {
                    break;
                }
            }
            ',' => out.push_str(", "),
            c => out.push(c),
        }
    }
    match max_depth {
        2 => format!("POLYGON{out}"),
        3 => format!("MULTIPOLYGON{out}"),
        d => panic!("not a polygon (depth {d}): {out}"),
    }
}

/// Geodesic distance in metres from `p` to a feature (0 inside a polygon).
fn geodesic_distance(p: geo::Point<f64>, g: &geo::Geometry<f64>) -> f64 {
    match g {
        geo::Geometry::Point(q) => Geodesic.distance(p, *q),
        other => match other.haversine_closest_point(&p) {
            Closest::Intersection(_) => 0.0,
            Closest::SinglePoint(q) => Geodesic.distance(p, q),
            Closest::Indeterminate => panic!("no closest point"),
        },
    }
}

fn check_dwithin(
    collection: &str,
    fs: &[Feature],
    filter: &str,
    p: geo::Point<f64>,
    metres: f64,
    extra: &[(&str, &str)],
) -> usize {
    let (_, got) = matched(collection, filter, extra);
    let mut inside = 0;
    for f in fs {
        let d = geodesic_distance(p, &f.geom);
        if (d - metres).abs() < 1.0 {
            continue; // too close to the threshold to call
        }
        assert_eq!(
            got.contains(&f.id),
            d < metres,
            "{collection} {}: {d:.2} m from the point; {filter}",
            f.id
        );
        inside += (d < metres) as usize;
    }
    inside
}

#[test]
fn dwithin_matches_geodesic_distance() {
    // 東京ドーム近く
    let p = geo::Point::new(139.7519, 35.7056);
    for collection in ["shelters_evacuation", "shelters_emergency"] {
        let fs = all(collection);
        for metres in [300.0, 500.0, 1200.0] {
            let n = check_dwithin(
                collection,
                &fs,
                &format!("S_DWITHIN(geometry, POINT(139.7519 35.7056), {metres}, meters)"),
                p,
                metres,
                &[],
            );
            assert!(n > 0 || metres < 500.0, "{collection} {metres}: {n}");
        }
        // Without a unit the distance is in metres.
        let (_, with) = matched(
            collection,
            "S_DWITHIN(geometry, POINT(139.7519 35.7056), 500, meters)",
            &[],
        );
        let (_, without) = matched(
            collection,
            "S_DWITHIN(geometry, POINT(139.7519 35.7056), 500)",
            &[],
        );
        assert_eq!(with, without);
    }
    let towns = all("bunkyo_towns");
    let n = check_dwithin(
        "bunkyo_towns",
        &towns,
        "S_DWITHIN(geometry, POINT(139.7519 35.7056), 500, meters)",
        p,
        500.0,
        &[],
    );
    assert!(n > 3, "{n}");
    // With an attribute condition and a bbox that cuts the circle.
    let fs = all("shelters_emergency");
    let (_, got) = matched(
        "shelters_emergency",
        "S_DWITHIN(geometry, POINT(139.7519 35.7056), 1500, meters)",
        &[("bbox", "139.70,35.70,139.7519,35.80")],
    );
    let want = brute(&fs, |f| {
        let geo::Geometry::Point(q) = f.geom else {
            panic!()
        };
        Geodesic.distance(p, q) < 1500.0 && q.x() <= 139.7519 && q.y() >= 35.70
    });
    assert_eq!(got, want);
}

#[test]
fn filter_crs_zone_ix_gives_the_crs84_answer() {
    use chiiki_core::crs::{Crs, Transform};
    let t = Transform::from_storage(Crs::Epsg(6677)).unwrap();
    // EPSG:6677 puts northing (X) first.
    let wkt_coord = |lon: f64, lat: f64| {
        let (e, n) = t.apply(lon, lat).unwrap();
        format!("{n:.3} {e:.3}")
    };
    let ring: Vec<String> = polygon()
        .exterior()
        .coords()
        .map(|c| wkt_coord(c.x, c.y))
        .collect();
    let zone_polygon = format!("POLYGON(({}))", ring.join(", "));
    for (collection, op) in [
        ("bunkyo_towns", "S_INTERSECTS"),
        ("shelters_evacuation", "S_WITHIN"),
        ("flood_a31_tokyo", "S_INTERSECTS"),
    ] {
        let (_, lonlat) = matched(collection, &format!("{op}(geometry, {POLYGON})"), &[]);
        let (_, zone) = matched(
            collection,
            &format!("{op}(geometry, {zone_polygon})"),
            &[("filter-crs", "http://www.opengis.net/def/crs/EPSG/0/6677")],
        );
        assert_eq!(lonlat, zone, "{collection} {op}");
        assert!(!zone.is_empty());
    }
    let fs = all("shelters_evacuation");
    let p = geo::Point::new(139.7519, 35.7056);
    let filter = format!(
        "S_DWITHIN(geometry, POINT({}), 800, meters)",
        wkt_coord(139.7519, 35.7056)
    );
    let n = check_dwithin(
        "shelters_evacuation",
        &fs,
        &filter,
        p,
        800.0,
        &[("filter-crs", "EPSG:6677")],
    );
    assert!(n > 0);
    // EPSG:4326 is latitude first.
    let (_, a) = matched(
        "bunkyo_towns",
        "S_INTERSECTS(geometry, POINT(139.7522 35.7079))",
        &[],
    );
    let (_, b) = matched(
        "bunkyo_towns",
        "S_INTERSECTS(geometry, POINT(35.7079 139.7522))",
        &[("filter-crs", "http://www.opengis.net/def/crs/EPSG/0/4326")],
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 1);
}

#[test]
fn errors_are_400_with_the_position_and_the_server_keeps_serving() {
    let bad = |filter: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("filter", filter)];
        params.extend_from_slice(extra);
        let (status, msg) = error_of(&url("bunkyo_towns", &params));
        assert_eq!(status, 400, "{filter}: {msg}");
        msg
    };
    let msg = bad("JINKO > 5000 AND", &[]);
    assert_eq!(
        msg,
        "filter: at character 17: expected a condition after 'AND', found end of input"
    );
    let msg = bad("S_NAME = '白山一丁目' AND JINKO =", &[]);
    assert!(msg.contains("at character 29"), "{msg}");
    assert!(msg.contains("expected a value after '='"), "{msg}");
    let msg = bad("(JINKO > 5000", &[]);
    assert!(
        msg.contains("at character 14") && msg.contains("')'"),
        "{msg}"
    );
    let msg = bad("S_NAME = '白山", &[]);
    assert!(
        msg.contains("at character 10") && msg.contains("unterminated"),
        "{msg}"
    );
    let msg = bad("POPULATION > 5000", &[]);
    assert!(msg.contains("unknown property 'POPULATION'"), "{msg}");
    assert!(
        msg.contains("JINKO") && msg.contains("S_NAME"),
        "lists queryables: {msg}"
    );
    let msg = bad("S_NAME = 5000", &[]);
    assert!(msg.contains("'S_NAME' is a text property"), "{msg}");
    let msg = bad("JINKO LIKE '5%'", &[]);
    assert!(msg.contains("LIKE applies to text"), "{msg}");
    let msg = bad("S_INTERSECTS(geometry, POINT(1000 2000))", &[]);
    assert!(msg.contains("longitude/latitude"), "{msg}");
    let msg = bad("S_INTERSECTS(S_NAME, POINT(139.75 35.7))", &[]);
    assert!(msg.contains("not a geometry"), "{msg}");
    let msg = bad("JINKO > 5000", &[("filter-lang", "cql2-json")]);
    assert!(msg.contains("filter-lang=cql2-json"), "{msg}");
    let msg = bad("JINKO > 5000", &[("filter-crs", "EPSG:99999")]);
    assert!(msg.contains("filter-crs"), "{msg}");
    // Deeper than the parser goes, within the URL limit (percent-encoded
    // parentheses take three bytes each)…
    let deep = format!("{}JINKO > 1{}", "(".repeat(1000), ")".repeat(1000));
    let msg = bad(&deep, &[]);
    assert!(msg.contains("nests deeper"), "{msg}");
    // … and beyond the URL limit: 414 before any parsing.
    let deeper = format!("{}JINKO > 1{}", "(".repeat(5000), ")".repeat(5000));
    let (status, msg) = error_of(&url("bunkyo_towns", &[("filter", deeper.as_str())]));
    assert_eq!(status, 414, "{msg}");
    bad("", &[]);

    // Still serving, and the explicit language is accepted.
    let (n, _) = matched(
        "bunkyo_towns",
        "JINKO > 5000",
        &[("filter-lang", "cql2-text")],
    );
    assert!(n > 0);
}

#[test]
fn paging_keeps_the_filter_and_counts_the_filtered_rows() {
    let fs = all("bunkyo_towns");
    let filter = "JINKO > 2000 AND S_NAME LIKE '%丁目'";
    let want = brute(&fs, |f| {
        int(f, "JINKO").unwrap() > 2000 && text(f, "S_NAME").unwrap().ends_with("丁目")
    });
    assert!(want.len() > 12, "{}", want.len());
    let mut next = Some(url("bunkyo_towns", &[("filter", filter), ("limit", "5")]));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(u) = next {
        let body = fetch_ok(&u);
        assert_eq!(body["numberMatched"].as_u64().unwrap() as usize, want.len());
        let page = features(&body);
        assert!(page.len() <= 5);
        seen.extend(page.iter().map(|f| f.id));
        pages += 1;
        next = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_string());
        if let Some(n) = &next {
            let params: Vec<(String, String)> =
                form_urlencoded::parse(n.split_once('?').unwrap().1.as_bytes())
                    .into_owned()
                    .collect();
            assert!(
                params.contains(&("filter".to_string(), filter.to_string())),
                "next link lost the filter: {n}"
            );
        }
    }
    assert_eq!(pages, want.len().div_ceil(5));
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a feature came twice");
    assert_eq!(unique, want);
}

#[test]
fn filter_combines_with_bbox_and_property_equality() {
    let fs = all("bunkyo_towns");
    let bbox = Rect::new(
        geo::coord! {x: 139.73, y: 35.70},
        geo::coord! {x: 139.76, y: 35.72},
    );
    let want = brute(&fs, |f| {
        f.geom.intersects(&bbox) && int(f, "JINKO").unwrap() > 3000
    });
    let (_, got) = matched(
        "bunkyo_towns",
        "JINKO > 3000",
        &[("bbox", "139.73,35.70,139.76,35.72")],
    );
    assert_eq!(got, want);
    // bbox and a spatial filter together: both R-tree lookups are intersected.
    let poly = polygon();
    let want = brute(&fs, |f| {
        f.geom.intersects(&bbox) && f.geom.intersects(&poly)
    });
    let (_, got) = matched(
        "bunkyo_towns",
        &format!("S_INTERSECTS(geometry, {POLYGON})"),
        &[("bbox", "139.73,35.70,139.76,35.72")],
    );
    assert_eq!(got, want);
    let (_, got) = matched(
        "bunkyo_towns",
        "S_INTERSECTS(geometry, BBOX(139.60, 35.60, 139.61, 35.61))",
        &[("bbox", "139.73,35.70,139.76,35.72")],
    );
    assert!(got.is_empty());
    let (n, got) = matched("bunkyo_towns", "JINKO > 0", &[("S_NAME", "白山一丁目")]);
    assert_eq!(n, 1);
    assert_eq!(got, brute(&fs, |f| text(f, "S_NAME") == Some("白山一丁目")));
}

#[test]
fn conformance_openapi_and_queryables_describe_filtering() {
    let s = server();
    let conf = fetch_ok(&s.url("/conformance"));
    let classes: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    ] {
        assert!(classes.contains(&c), "missing {c}");
    }
    let doc = fetch_ok(&s.url("/openapi"));
    let params = doc["paths"]["/collections/bunkyo_towns/items"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for p in ["filter", "filter-lang", "filter-crs"] {
        let r = format!("#/components/parameters/{p}");
        assert!(params.iter().any(|x| x["$ref"] == r.as_str()), "{p}");
        assert_eq!(doc["components"]["parameters"][p]["name"], p);
    }
    assert_eq!(
        doc["components"]["parameters"]["filter-lang"]["schema"]["enum"],
        serde_json::json!(["cql2-text"])
    );
    let q = fetch_ok(&s.url("/collections/bunkyo_towns/queryables"));
    assert_eq!(q["properties"]["JINKO"]["type"], "integer");
    assert_eq!(q["properties"]["S_NAME"]["type"], "string");
    assert_eq!(q["properties"]["AREA"]["type"], "number");
    assert_eq!(q["properties"]["geometry"]["format"], "geometry-polygon");
    let q = fetch_ok(&s.url("/collections/bridge_inspections/queryables"));
    assert_eq!(q["properties"]["inspected"]["format"], "date");
    assert_eq!(q["properties"]["geometry"]["format"], "geometry-point");
}

#[test]
fn gdal_where_clauses_agree_with_and_without_the_server_filter() {
    // GDAL 3.6 evaluates -where itself by default; with
    // OGR_OAPIF_ALLOW_CQL_TEXT it sends the clause as filter (filter-lang=cql-text).
    let s = server();
    let fs = all("bunkyo_towns");
    let source = format!("OAPIF:{}/", s.base);
    for (clause, pred) in [
        (
            "JINKO > 5000",
            &(|f: &Feature| int(f, "JINKO").unwrap() > 5000) as &dyn Fn(&Feature) -> bool,
        ),
        ("JINKO > 5000 AND SETAI < 4000", &|f: &Feature| {
            int(f, "JINKO").unwrap() > 5000 && int(f, "SETAI").unwrap() < 4000
        }),
        ("S_NAME LIKE '白山%'", &|f: &Feature| {
            text(f, "S_NAME").unwrap().starts_with("白山")
        }),
    ] {
        let want = brute(&fs, pred).len();
        for server_side in [false, true] {
            let mut cmd = std::process::Command::new("ogrinfo");
            cmd.args(["-ro", "-so", &source, "bunkyo_towns", "-where", clause]);
            if server_side {
                cmd.args([
                    "--config",
                    "OGR_OAPIF_ALLOW_CQL_TEXT",
                    "YES",
                    "--config",
                    "CPL_DEBUG",
                    "ON",
                ]);
            }
            let out = cmd.output().expect("ogrinfo is required for this test");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{clause}: {stderr}");
            assert!(
                stdout.contains(&format!("Feature Count: {want}")),
                "{clause} (server side: {server_side}): want {want}\n{stdout}\n{stderr}"
            );
            if server_side {
                assert!(
                    stderr.contains("filter="),
                    "GDAL did not send the filter: {stderr}"
                );
            }
        }
    }
}
