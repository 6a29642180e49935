//! OGC API – Features behaviour over real HTTP: resources, paging, filters,
//! CRS, access and every error path.

mod common;

use common::{client, get, get_json, server, tool};
use serde_json::Value;

#[test]
fn landing_page_links_and_conformance() {
    let s = server();
    let landing = get_json(&s.url("/"));
    let rels: Vec<&str> = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    for rel in ["self", "service-desc", "service-doc", "conformance", "data"] {
        assert!(rels.contains(&rel), "landing page lacks {rel}: {rels:?}");
    }
    let desc = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "service-desc")
        .unwrap();
    assert_eq!(desc["type"], "application/vnd.oai.openapi+json;version=3.0");

    let conf = get_json(&s.url("/conformance"));
    let classes: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "conf/core",
        "conf/geojson",
        "conf/oas30",
        "ogcapi-features-2/1.0/conf/crs",
    ] {
        assert!(classes.iter().any(|x| x.contains(c)), "missing {c}");
    }
}

#[test]
fn openapi_is_self_contained_and_lists_queryables() {
    let s = server();
    let r = get(&s.url("/openapi"));
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/vnd.oai.openapi+json;version=3.0"
    );
    let doc: Value = r.json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    // Every $ref is internal and resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        assert!(r.starts_with("#/"), "external $ref {r}");
        let pointer = &r[1..];
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    let params = doc["paths"]["/collections/bunkyo_towns/items"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        params.iter().any(|p| p["name"] == "JINKO"),
        "queryable JINKO not a parameter"
    );
    let bbox = &doc["components"]["parameters"]["bbox"];
    assert_eq!(bbox["style"], "form");
    assert_eq!(bbox["explode"], false);
}

#[test]
fn collection_metadata() {
    let s = server();
    let c = get_json(&s.url("/collections/bunkyo_towns"));
    assert_eq!(c["id"], "bunkyo_towns");
    let items = c["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "items")
        .unwrap();
    assert_eq!(items["type"], "application/geo+json");
    assert_eq!(
        c["extent"]["spatial"]["crs"],
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    );
    let bbox = c["extent"]["spatial"]["bbox"][0].as_array().unwrap();
    // 文京区 lies within these bounds (source extent 139.717–139.773, 35.699–35.736).
    assert!(
        (bbox[0].as_f64().unwrap() - 139.717272).abs() < 1e-5,
        "{bbox:?}"
    );
    assert!(
        (bbox[3].as_f64().unwrap() - 35.735923).abs() < 1e-5,
        "{bbox:?}"
    );
    assert!(c["crs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "http://www.opengis.net/def/crs/EPSG/0/6677"));
    assert_eq!(
        c["storageCrs"],
        "http://www.opengis.net/def/crs/EPSG/0/6668"
    );

    let q = get(&s.url("/collections/bunkyo_towns/queryables"));
    assert_eq!(q.headers()["content-type"], "application/schema+json");
    let q: Value = q.json().unwrap();
    assert_eq!(q["properties"]["JINKO"]["type"], "integer");
    assert_eq!(q["properties"]["S_NAME"]["type"], "string");
}

#[test]
fn items_page_with_links_counts_and_media_type() {
    let s = server();
    let r = get(&s.url("/collections/flood_a31_tokyo/items?limit=100&offset=200"));
    assert_eq!(r.headers()["content-type"], "application/geo+json");
    assert_eq!(
        r.headers()["content-crs"],
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    );
    let page: Value = r.json().unwrap();
    assert_eq!(page["type"], "FeatureCollection");
    assert_eq!(page["numberMatched"], 7303);
    assert_eq!(page["numberReturned"], 100);
    assert_eq!(page["features"].as_array().unwrap().len(), 100);
    assert!(page["timeStamp"].as_str().unwrap().ends_with('Z'));
    let link = |rel: &str| {
        page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .map(|l| l["href"].as_str().unwrap().to_string())
    };
    let next = link("next").expect("next link");
    assert!(
        next.contains("offset=300") && next.contains("limit=100"),
        "{next}"
    );
    let prev = link("prev").expect("prev link");
    assert!(prev.contains("offset=100"), "{prev}");

    // Following next links visits every feature exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut url = Some(s.url("/collections/bunkyo_towns/items?limit=7"));
    while let Some(u) = url {
        let page = get_json(&u);
        for f in page["features"].as_array().unwrap() {
            assert!(
                seen.insert(f["id"].as_i64().unwrap()),
                "feature {} twice",
                f["id"]
            );
        }
        url = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 68);

    // Default limit 10; larger limits are clamped to the configured maximum.
    assert_eq!(
        get_json(&s.url("/collections/flood_a31_tokyo/items"))["numberReturned"],
        10
    );
    let big = get_json(&s.url("/collections/flood_a31_tokyo/items?limit=999999"));
    assert_eq!(big["numberReturned"], 7303);
}

#[test]
fn large_pages_stream_valid_json() {
    let s = server();
    let r = get(&s.url("/collections/flood_a31_tokyo/items?limit=5000&properties="));
    assert!(
        r.headers().get("content-length").is_none(),
        "a 5,000-feature page should be streamed (chunked)"
    );
    let page: Value = r.json().unwrap();
    assert_eq!(page["numberReturned"], 5000);
    assert_eq!(page["features"].as_array().unwrap().len(), 5000);
}

#[test]
fn bbox_filters_by_exact_intersection() {
    let s = server();
    // A box in the middle of 文京区.
    let bbox = [139.74, 35.71, 139.75, 35.72];
    let page = get_json(&s.url(&format!(
        "/collections/bunkyo_towns/items?bbox={},{},{},{}&limit=100",
        bbox[0], bbox[1], bbox[2], bbox[3]
    )));
    let n = page["numberMatched"].as_u64().unwrap();
    // Brute force: every polygon from the full layer that intersects the box.
    let all = get_json(&s.url("/collections/bunkyo_towns/items?limit=1000"));
    let rect = geo::Rect::new(
        geo::coord! {x: bbox[0], y: bbox[1]},
        geo::coord! {x: bbox[2], y: bbox[3]},
    );
    let mut expected = 0;
    for f in all["features"].as_array().unwrap() {
        let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
        let g: geo::Geometry<f64> = g.try_into().unwrap();
        if geo::Intersects::intersects(&g, &rect) {
            expected += 1;
        }
    }
    assert!(expected > 0);
    assert_eq!(n, expected);
    // 6-number bbox with heights is accepted and gives the same answer.
    let page6 = get_json(&s.url(&format!(
        "/collections/bunkyo_towns/items?bbox={},{},-100,{},{},100",
        bbox[0], bbox[1], bbox[2], bbox[3]
    )));
    assert_eq!(page6["numberMatched"], n);
}

#[test]
fn properties_selection_and_equality_filters() {
    let s = server();
    let page = get_json(&s.url("/collections/bunkyo_towns/items?properties=S_NAME,JINKO&limit=1"));
    let props = page["features"][0]["properties"].as_object().unwrap();
    // serde_json's map sorts keys; the selection is what matters.
    assert_eq!(props.keys().collect::<Vec<_>>(), vec!["JINKO", "S_NAME"]);

    // S_NAME is CP932 in the source .dbf; it must arrive as proper UTF-8.
    let hakusan = get_json(&s.url(
        "/collections/bunkyo_towns/items?S_NAME=%E7%99%BD%E5%B1%B1%E4%B8%80%E4%B8%81%E7%9B%AE",
    ));
    assert_eq!(hakusan["numberMatched"], 1, "白山一丁目");
    assert_eq!(hakusan["features"][0]["properties"]["S_NAME"], "白山一丁目");

    // Integer equality agrees with a scan of the whole layer.
    let all = get_json(&s.url("/collections/bunkyo_towns/items?limit=100"));
    let jinko = all["features"][0]["properties"]["JINKO"].as_i64().unwrap();
    let expected = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["JINKO"] == jinko)
        .count();
    let filtered = get_json(&s.url(&format!("/collections/bunkyo_towns/items?JINKO={jinko}")));
    assert_eq!(filtered["numberMatched"], expected);

    // Japanese property names work as parameters too.
    let shelters = get_json(&s.url("/collections/shelters_emergency/items?%E9%83%BD%E9%81%93%E5%BA%9C%E7%9C%8C%E5%90%8D%E5%8F%8A%E3%81%B3%E5%B8%82%E7%94%BA%E6%9D%91%E5%90%8D=%E6%9D%B1%E4%BA%AC%E9%83%BD%E6%96%87%E4%BA%AC%E5%8C%BA"));
    assert_eq!(
        shelters["numberMatched"], 7,
        "文京区 has 7 指定緊急避難場所 in the source"
    );
}

#[test]
fn single_feature_and_its_links() {
    let s = server();
    let page = get_json(&s.url("/collections/shelters_evacuation/items?limit=1"));
    let id = page["features"][0]["id"].as_i64().unwrap();
    let r = get(&s.url(&format!("/collections/shelters_evacuation/items/{id}")));
    assert_eq!(r.headers()["content-type"], "application/geo+json");
    let f: Value = r.json().unwrap();
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["id"], id);
    assert_eq!(f["properties"]["NO"], id, "NO is the id field");
    assert_eq!(f["geometry"], page["features"][0]["geometry"]);
    let rels: Vec<&str> = f["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, vec!["self", "alternate", "collection"]);
}

fn assert_error(url: &str, status: u16, needle: &str) {
    let r = get(url);
    assert_eq!(r.status().as_u16(), status, "{url}");
    assert_eq!(r.headers()["content-type"], "application/json", "{url}");
    let body: Value = r.json().unwrap();
    let desc = body["description"].as_str().unwrap();
    assert!(body["code"].is_string());
    assert!(desc.contains(needle), "{url}: '{desc}' lacks '{needle}'");
    assert!(
        !desc.contains("/src/") && !desc.contains("panicked"),
        "{desc}"
    );
}

#[test]
fn every_error_path_is_json_with_the_right_status() {
    let s = server();
    let items = s.url("/collections/bunkyo_towns/items");
    assert_error(&format!("{items}?foo=1"), 400, "foo");
    assert_error(&format!("{items}?limit=abc"), 400, "limit");
    assert_error(&format!("{items}?limit=0"), 400, "limit");
    assert_error(&format!("{items}?limit=-5"), 400, "limit");
    assert_error(&format!("{items}?offset=x"), 400, "offset");
    assert_error(&format!("{items}?bbox=1,2,3"), 400, "bbox");
    assert_error(&format!("{items}?bbox=a,b,c,d"), 400, "bbox");
    assert_error(&format!("{items}?bbox=139.8,35.7,139.7,35.8"), 400, "bbox");
    assert_error(&format!("{items}?crs=EPSG:9999999"), 400, "crs");
    assert_error(
        &format!("{items}?bbox-crs=foo&bbox=1,2,3,4"),
        400,
        "bbox-crs",
    );
    assert_error(&format!("{items}?datetime=yesterday"), 400, "datetime");
    assert_error(&format!("{items}?properties=nope"), 400, "nope");
    assert_error(&format!("{items}?JINKO=many"), 400, "JINKO");
    assert_error(&format!("{items}?f=xml"), 400, "f=xml");
    assert_error(&s.url("/collections/nope"), 404, "nope");
    assert_error(&s.url("/collections/nope/items"), 404, "nope");
    assert_error(
        &s.url("/collections/bunkyo_towns/items/99999999"),
        404,
        "99999999",
    );
    assert_error(&s.url("/collections/bunkyo_towns/items/abc"), 404, "abc");
    assert_error(&s.url("/collections?bogus=1"), 400, "bogus");
    assert_error(&s.url("/no/such/path"), 404, "no such");
    // The server keeps serving after all of that.
    assert_eq!(
        get_json(&s.url("/collections/bunkyo_towns/items?limit=1"))["numberReturned"],
        1
    );
}

#[test]
fn private_layers_need_the_right_role() {
    let s = server();
    let url = s.url("/collections/bridge_inspections/items");
    // A collection the caller may not read answers as a missing one does,
    // so the answer does not tell that it exists.
    let missing = get(&s.url("/collections/no_such_layer/items"))
        .text()
        .unwrap();
    let r = get(&url);
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.text()
            .unwrap()
            .replace("bridge_inspections", "no_such_layer"),
        missing
    );
    let with = |token: &str| client().get(&url).bearer_auth(token).send().unwrap();
    assert_eq!(with(s.token("planner")).status().as_u16(), 200);
    assert_eq!(with(s.token("analyst")).status().as_u16(), 200);
    assert_eq!(with(s.token("admin")).status().as_u16(), 200);
    assert_eq!(with(s.token("health")).status().as_u16(), 404);
    assert_eq!(with(s.token("public")).status().as_u16(), 404);
    // A token that is not one is still refused as such.
    assert_eq!(with("forged-token").status().as_u16(), 401);
    let malformed = client()
        .get(&url)
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 401);

    // Listed only for callers who may read it.
    let listed = |token: Option<&str>| {
        let mut req = client().get(s.url("/collections"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().unwrap();
        let status = r.status();
        let v: Value = r.json().unwrap();
        v["collections"]
            .as_array()
            .unwrap_or_else(|| panic!("/collections as {token:?}: {status} {v}"))
            .iter()
            .any(|c| c["id"] == "bridge_inspections")
    };
    assert!(!listed(None));
    assert!(!listed(Some(s.token("health"))));
    assert!(listed(Some(s.token("planner"))));
    // Public layers need no token.
    assert_eq!(
        get(&s.url("/collections/shelters_emergency/items"))
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn datetime_filters_on_the_time_field() {
    let s = server();
    let url = |q: &str| {
        let v: Value = client()
            .get(s.url(&format!(
                "/collections/bridge_inspections/items?limit=100&{q}"
            )))
            .bearer_auth(s.token("planner"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v
    };
    let all = url("");
    assert_eq!(all["numberMatched"], 40);
    let count = |pred: &dyn Fn(&str) -> bool| {
        all["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| pred(f["properties"]["inspected"].as_str().unwrap()))
            .count()
    };
    assert_eq!(
        url("datetime=2021-01-01/2021-12-31")["numberMatched"],
        count(&|d| d.starts_with("2021"))
    );
    assert_eq!(
        url("datetime=../2019-12-31")["numberMatched"],
        count(&|d| d < "2020")
    );
    assert_eq!(
        url("datetime=2023-01-01T00:00:00Z/..")["numberMatched"],
        count(&|d| d >= "2023")
    );
    let day = all["features"][0]["properties"]["inspected"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        url(&format!("datetime={day}"))["numberMatched"],
        count(&|d| d == day)
    );
    let c = client()
        .get(s.url("/collections/bridge_inspections"))
        .bearer_auth(s.token("planner"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert!(c["extent"]["temporal"]["interval"][0][0]
        .as_str()
        .unwrap()
        .starts_with("2019"));
}

/// Transforms lon/lat to EPSG:6677 with cs2cs (PROJ's own tool).
fn cs2cs_to_6677(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let input: String = points
        .iter()
        .map(|(lon, lat)| format!("{lat} {lon}\n"))
        .collect();
    let mut child = std::process::Command::new("cs2cs")
        .args(["-f", "%.6f", "EPSG:6668", "EPSG:6677"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cs2cs (proj-bin) is required");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .take(2)
                .map(|x| x.parse().unwrap())
                .collect();
            // EPSG:6677 axis order: X (northing), Y (easting).
            (v[0], v[1])
        })
        .collect()
}

#[test]
fn crs_round_trip_agrees_with_cs2cs() {
    let s = server();
    let base = "/collections/shelters_evacuation/items?limit=50&bbox=139.70,35.69,139.78,35.74";
    let lonlat = get_json(&s.url(base));
    let r = get(&s.url(&format!(
        "{base}&crs=http://www.opengis.net/def/crs/EPSG/0/6677"
    )));
    assert_eq!(
        r.headers()["content-crs"],
        "<http://www.opengis.net/def/crs/EPSG/0/6677>"
    );
    let zone: Value = r.json().unwrap();
    let pts: Vec<(f64, f64)> = lonlat["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["geometry"]["coordinates"][0].as_f64().unwrap(),
                f["geometry"]["coordinates"][1].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(pts.len() > 10);
    let expected = cs2cs_to_6677(&pts);
    for (f, (x, y)) in zone["features"].as_array().unwrap().iter().zip(&expected) {
        let c = &f["geometry"]["coordinates"];
        assert!(
            (c[0].as_f64().unwrap() - x).abs() < 1e-3,
            "northing {c} vs {x}"
        );
        assert!(
            (c[1].as_f64().unwrap() - y).abs() < 1e-3,
            "easting {c} vs {y}"
        );
    }

    // Back: a bbox given in EPSG:6677 (northing first) selects the same features.
    let (mut n0, mut e0, mut n1, mut e1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (n, e) in &expected {
        n0 = n0.min(*n);
        n1 = n1.max(*n);
        e0 = e0.min(*e);
        e1 = e1.max(*e);
    }
    let back = get_json(&s.url(&format!(
        "/collections/shelters_evacuation/items?limit=100&bbox={},{},{},{}&bbox-crs=EPSG:6677&crs=EPSG:6668",
        n0 - 0.01, e0 - 0.01, n1 + 0.01, e1 + 0.01
    )));
    let ids = |v: &Value| {
        let mut ids: Vec<i64> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    let ids_back = ids(&back);
    for id in ids(&lonlat) {
        assert!(ids_back.contains(&id), "feature {id} lost in the 6677 bbox");
    }
    // EPSG:6668 output is latitude first, and equals the stored lon/lat.
    let f0 = back["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == lonlat["features"][0]["id"])
        .unwrap();
    assert_eq!(
        f0["geometry"]["coordinates"][0],
        lonlat["features"][0]["geometry"]["coordinates"][1]
    );
    assert_eq!(
        f0["geometry"]["coordinates"][1],
        lonlat["features"][0]["geometry"]["coordinates"][0]
    );

    // And the same point through chiiki 6668 → 6677 → 6668 round-trips to 1e-9°.
    let zone_pt = &zone["features"][0]["geometry"]["coordinates"];
    let back_txt = tool(
        "sh",
        &[
            "-c",
            &format!(
                "echo '{} {}' | cs2cs -f %.10f EPSG:6677 EPSG:6668",
                zone_pt[0], zone_pt[1]
            ),
        ],
    );
    let v: Vec<f64> = back_txt
        .split_whitespace()
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(
        (v[0] - pts[0].1).abs() < 1e-9 && (v[1] - pts[0].0).abs() < 1e-9,
        "{v:?} vs {:?}",
        pts[0]
    );
}

#[test]
fn web_mercator_output() {
    let s = server();
    let f = get_json(&s.url("/collections/shelters_emergency/items?limit=1&crs=EPSG:3857"));
    let c = &f["features"][0]["geometry"]["coordinates"];
    let lonlat = get_json(&s.url("/collections/shelters_emergency/items?limit=1"));
    let lon = lonlat["features"][0]["geometry"]["coordinates"][0]
        .as_f64()
        .unwrap();
    let lat = lonlat["features"][0]["geometry"]["coordinates"][1]
        .as_f64()
        .unwrap();
    let x = lon.to_radians() * 6378137.0;
    let y = ((std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan()).ln() * 6378137.0;
    assert!((c[0].as_f64().unwrap() - x).abs() < 0.01);
    assert!((c[1].as_f64().unwrap() - y).abs() < 0.01);
}

#[test]
fn browsers_get_the_map_page_and_gis_clients_json() {
    let s = server();
    let html_get = |path: &str| {
        client()
            .get(s.url(path))
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .unwrap()
    };
    let r = html_get("/");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().unwrap();
    // Every script and style the page loads is served by the binary.
    for asset in [
        "assets/maplibre-gl.js",
        "assets/maplibre-gl.css",
        "assets/app.js",
    ] {
        assert!(page.contains(asset), "the page does not load {asset}");
        let a = get(&s.url(&format!("/{asset}")));
        assert_eq!(a.status(), 200, "{asset}");
        assert!(a.bytes().unwrap().len() > 1000, "{asset} is empty");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page links outside"
    );
    // The service description lists the open layers, not the private ones.
    let doc = html_get("/api.html").text().unwrap();
    for id in ["bunkyo_towns", "flood_a31_tokyo", "shelters_emergency"] {
        assert!(
            doc.contains(&format!("collections/{id}/items")),
            "{id} not linked"
        );
    }
    assert!(
        !doc.contains("bridge_inspections"),
        "private layers stay hidden"
    );
    // GIS clients still get JSON.
    let j = client()
        .get(s.url("/"))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(j.headers()["content-type"], "application/json");
}

/// `curl` with `Accept-Encoding: <encoding>` (decoding the answer): the
/// response headers, the body as decoded, and the bytes on the wire.
fn curl_encoded(url: &str, encoding: &str, extra: &[&str]) -> (String, Vec<u8>, usize) {
    let dir = common::scratch("curl");
    let headers = dir.join(format!("headers-{encoding}.txt"));
    let body = dir.join(format!("body-{encoding}"));
    let mut args = vec![
        "-sS",
        "--fail",
        "--compressed",
        "-H",
        Box::leak(format!("Accept-Encoding: {encoding}").into_boxed_str()),
        "-D",
        headers.to_str().unwrap(),
        "-o",
        body.to_str().unwrap(),
        "-w",
        "%{size_download}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let wire: usize = tool("curl", &args).trim().parse().unwrap();
    (
        std::fs::read_to_string(&headers)
            .unwrap()
            .to_ascii_lowercase(),
        std::fs::read(&body).unwrap(),
        wire,
    )
}

#[test]
fn gzip_and_br_as_curl_decodes_them() {
    let s = server();
    for (path, features) in [
        ("/collections/flood_a31_tokyo/items?limit=300", 300),
        // Streamed (more than 1,000 features): compressed as it is written.
        ("/collections/flood_a31_tokyo/items?limit=3000", 3000),
    ] {
        let plain = get(&s.url(path)).bytes().unwrap();
        for encoding in ["gzip", "br"] {
            let (headers, body, wire) = curl_encoded(&s.url(path), encoding, &[]);
            assert!(
                headers.contains(&format!("content-encoding: {encoding}")),
                "{path} {encoding}: {headers}"
            );
            let page: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(page["features"].as_array().unwrap().len(), features);
            assert_eq!(body.len(), plain.len(), "{path} {encoding}: decoded size");
            assert!(
                wire * 3 < body.len(),
                "{path} {encoding}: {wire} bytes on the wire for {}",
                body.len()
            );
        }
    }
    // Small answers are sent as they are.
    let (headers, body, _) = curl_encoded(&s.url("/health"), "gzip", &[]);
    assert!(!headers.contains("content-encoding"), "{headers}");
    assert_eq!(body, br#"{"status":"ok"}"#);
    // So is everything for a client that does not ask.
    let r = get(&s.url("/collections/flood_a31_tokyo/items?limit=300"));
    assert!(r.headers().get("content-encoding").is_none());
}

#[test]
fn open_layers_revalidate_with_etags_people_do_not() {
    let s = server();
    let url = s.url("/collections/shelters_evacuation/items?limit=20");
    let r = get(&url);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    assert!(r.headers().contains_key("last-modified"));
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let again = client()
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().unwrap().is_empty());
    // The metadata too.
    for path in [
        "/collections/shelters_evacuation",
        "/collections/shelters_evacuation/queryables",
    ] {
        let r = get(&s.url(path));
        let tag = r.headers()["etag"].to_str().unwrap().to_string();
        assert_ne!(tag, etag);
        let again = client()
            .get(s.url(path))
            .header("If-None-Match", &tag)
            .send()
            .unwrap();
        assert_eq!(again.status().as_u16(), 304, "{path}");
    }
    // Residents and counts of people: never validated, never stored.
    for path in [
        "/collections/residents/items?limit=5",
        "/collections/residents",
        "/collections/flood_exposure_by_town/items?limit=5",
    ] {
        let r = client()
            .get(s.url(path))
            .bearer_auth(s.token("planner"))
            .header("If-None-Match", &etag)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(r.headers().get("etag").is_none(), "{path}");
        assert!(r.headers().get("last-modified").is_none(), "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
}

#[test]
fn basic_auth_with_the_token_as_password() {
    let s = server();
    let planner = s.token("planner");
    let url = s.url("/collections/residents/items?limit=3");
    let bearer: Value = client()
        .get(&url)
        .bearer_auth(planner)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let basic = client()
        .get(&url)
        .basic_auth("any-name", Some(planner))
        .send()
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    let basic: Value = basic.json().unwrap();
    assert_eq!(basic["numberMatched"], bearer["numberMatched"]);
    // curl -u, as scripts would.
    let (_, body, _) = curl_encoded(&url, "identity", &["-u", &format!("desk:{planner}")]);
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["numberReturned"], 3);
    // A wrong password is a 401 that offers both schemes.
    let r = client()
        .get(&url)
        .basic_auth("desk", Some("not-the-token"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let challenges: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic")),
        "{challenges:?}"
    );
}

#[test]
fn probes_answer_without_a_token() {
    let s = server();
    assert_eq!(
        get_json(&s.url("/health")),
        serde_json::json!({"status": "ok"})
    );
    let ready = get_json(&s.url("/ready"));
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["audit_log_writable"], true);
    assert!(ready["last_reload_error"].is_null());
}

/// SIGTERM while a 10,000-feature page is being sent: the page is finished
/// (whole, valid JSON), no new connection is taken, and the process exits 0.
#[test]
fn sigterm_drains_the_page_under_way_and_exits_zero() {
    let s = server();
    // A server of its own on a copy of the residents alone: its own audit
    // log (the shared server's must not get entries from two processes), and
    // no analyses to compute at start, which would slow the other tests.
    let data = common::scratch("sigterm");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(data.join("layers")).unwrap();
    std::fs::copy(
        s.data.join("layers/residents.parquet"),
        data.join("layers/residents.parquet"),
    )
    .unwrap();
    let config = data.join("chiiki.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \".\"\n[[tokens]]\nname = \"sigterm-admin\"\nrole = \"admin\"\ntoken = \"{}\"\n",
            s.token("admin")
        ),
    )
    .unwrap();
    let (mut child, port) = common::spawn_serve(&[
        "--config",
        config.to_str().unwrap(),
        "--requests-per-minute",
        "0",
    ]);
    // Keep stdin open: closing it is the harness's other way to stop.
    let _stdin = child.stdin.take();
    let url = format!("http://127.0.0.1:{port}/collections/residents/items?limit=10000");
    let response = client()
        .get(&url)
        .bearer_auth(s.token("admin"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // The headers are here and the body is still coming: stop the server.
    tool("kill", &["-TERM", &child.id().to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server must wait for the page under way"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new connection after the signal"
    );
    let page: Value = response.json().expect("the whole page, valid JSON");
    assert_eq!(page["numberReturned"], 10_000);
    assert_eq!(page["features"].as_array().unwrap().len(), 10_000);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the server did not stop after its last response"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    // The page's audit entry is on disk, and the log verifies.
    let audit = data.join("audit/audit.jsonl");
    let verified = common::run_ok(&["audit", "verify", "--file", audit.to_str().unwrap()]);
    assert!(verified.contains("chain intact"), "{verified}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("/collections/residents/items") && l.contains("\"records\":10000")),
        "no entry for the page in {log}"
    );
}
