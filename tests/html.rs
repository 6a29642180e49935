//! HTML for the OGC resources: `f=html`, or a browser's `Accept:
//! text/html` without `f`. The pages come from the same selection, role
//! view, masking and audit as the JSON; GIS clients still get JSON.

mod common;

use std::time::{Duration, Instant};

use common::{client, server};
use reqwest::blocking::RequestBuilder;
use serde_json::Value;

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}", &self.body[..self.body.len().min(300)])
        })
    }
}

/// GET `path` as `role` ("anonymous" for no token) with `accept` (none
/// when empty).
fn get(role: &str, path: &str, accept: &str) -> Reply {
    let s = server();
    let mut r: RequestBuilder = client().get(s.url(path));
    if role != "anonymous" {
        r = r.bearer_auth(s.token(role));
    }
    if !accept.is_empty() {
        r = r.header("Accept", accept);
    }
    let r = r.send().expect("HTTP request");
    Reply {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.text().unwrap(),
    }
}

fn get_ok(role: &str, path: &str, accept: &str) -> Reply {
    let r = get(role, path, accept);
    assert_eq!(r.status, 200, "{role} GET {path} ({accept}): {}", r.body);
    r
}

fn is_html(r: &Reply) -> bool {
    r.content_type().starts_with("text/html")
}

/// The feature ids of an items page's table, in order.
fn table_ids(html: &str) -> Vec<i64> {
    html.split("<tr data-id=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The column headers of an items page's table, after the id.
fn table_columns(html: &str) -> Vec<String> {
    let head = &html[html.find("<thead>").unwrap()..html.find("</thead>").unwrap()];
    head.split("<th scope=\"col\">")
        .skip(2)
        .map(|s| s[..s.find("</th>").unwrap()].to_string())
        .collect()
}

fn json_ids(page: &Value) -> Vec<i64> {
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn html_is_for_browsers_and_f_html_json_for_gis_clients() {
    let s = server();
    let fid =
        json_ids(&get_ok("anonymous", "/collections/bunkyo_towns/items?limit=1", "").json())[0];
    let item = format!("/collections/bunkyo_towns/items/{fid}");
    for path in [
        "/collections",
        "/collections/bunkyo_towns",
        "/collections/bunkyo_towns/items",
        item.as_str(),
        "/conformance",
        "/api",
        "/openapi",
    ] {
        // A browser without f, and anyone with f=html, gets a page.
        for (query, accept) in [
            ("", BROWSER),
            ("?f=html", ""),
            ("?f=html", "application/json"),
        ] {
            let r = get_ok("anonymous", &format!("{path}{query}"), accept);
            assert!(
                is_html(&r),
                "{path}{query} ({accept}): {}",
                r.content_type()
            );
            assert!(r.body.starts_with("<!doctype html>"), "{path}");
            assert!(r.body.contains("<html lang=\"ja\">"), "{path}");
            let csp = r.header("content-security-policy").join(" ");
            assert!(
                csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
                "{path}: {csp}"
            );
            assert!(r.header("vary").iter().any(|v| v == "Accept"), "{path}");
            // No inline scripts, nothing from outside.
            for script in r.body.split("<script").skip(1) {
                let tag = &script[..script.find('>').unwrap()];
                assert!(
                    tag.contains(" src=\"") || tag.contains("type=\"application/json\""),
                    "{path}: inline script {tag}"
                );
            }
            for outside in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
                assert!(!r.body.contains(outside), "{path}: {outside}");
            }
        }
        // f=json always wins; GIS clients (no Accept, JSON, */*) get JSON.
        for (query, accept) in [
            ("?f=json", BROWSER),
            ("", ""),
            ("", "application/json"),
            ("", "*/*"),
        ] {
            let r = get_ok("anonymous", &format!("{path}{query}"), accept);
            assert!(!is_html(&r), "{path}{query} ({accept}) gave HTML");
            r.json();
        }
    }
    // Unknown formats are refused as before.
    for path in [
        "/collections?f=xml",
        "/collections/bunkyo_towns/items?f=xml",
        "/conformance?f=pdf",
    ] {
        assert_eq!(get("anonymous", path, BROWSER).status, 400, "{path}");
    }
    // HTML and JSON of one URL never share a validator.
    let page = "/collections/bunkyo_towns/items?limit=3";
    let (h, j) = (
        get_ok("anonymous", page, BROWSER),
        get_ok("anonymous", page, ""),
    );
    let (ht, jt) = (h.header("etag"), j.header("etag"));
    assert!(!ht.is_empty() && !jt.is_empty());
    assert_ne!(ht, jt);
    let again = client()
        .get(s.url(page))
        .header("Accept", BROWSER)
        .header("If-None-Match", &jt[0])
        .send()
        .unwrap();
    assert_eq!(
        again.status(),
        200,
        "the JSON tag must not validate the page"
    );
    // The embedded assets the pages load.
    for asset in [
        "ogc.js",
        "ogc.css",
        "swagger-init.js",
        "swagger-ui-bundle.js",
    ] {
        let r = get_ok("anonymous", &format!("/assets/{asset}"), "");
        assert!(r.body.len() > 500, "{asset}");
    }
}

#[test]
fn the_items_table_has_the_rows_of_the_json_page() {
    let path = "/collections/bunkyo_towns/items?limit=7&offset=5";
    let json = get_ok("anonymous", path, "").json();
    let html = get_ok("anonymous", &format!("{path}&f=html"), "").body;
    let ids = json_ids(&json);
    assert_eq!(ids.len(), 7);
    assert_eq!(table_ids(&html), ids);
    // The columns are the JSON's properties, values as the JSON has them.
    let first = &json["features"][0]["properties"];
    let keys: Vec<String> = first.as_object().unwrap().keys().cloned().collect();
    let mut columns = table_columns(&html);
    columns.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(columns, sorted);
    let town = first["S_NAME"].as_str().unwrap();
    assert!(html.contains(&format!("<td>{town}</td>")), "{town}");
    // Next and previous pages, relative, in HTML.
    assert!(
        html.contains("rel=\"next\" href=\"items?limit=7&amp;offset=12&amp;f=html\""),
        "next"
    );
    assert!(
        html.contains("rel=\"prev\" href=\"items?limit=7&amp;f=html\""),
        "prev"
    );
    assert!(
        html.contains("href=\"items?limit=7&amp;offset=5&amp;f=csv\""),
        "CSV alternate"
    );
    // The map's features are the page's, in CRS84 whatever crs asks.
    let data = embedded_features(&html);
    assert_eq!(json_ids(&data), ids);
    let projected = get_ok(
        "anonymous",
        "/collections/bunkyo_towns/items?limit=7&offset=5&f=html&crs=http://www.opengis.net/def/crs/EPSG/0/6677",
        "",
    );
    assert_eq!(embedded_features(&projected.body), data);
    // One feature: its properties and a way back.
    let one = get_ok(
        "anonymous",
        &format!("/collections/bunkyo_towns/items/{}?f=html", ids[0]),
        "",
    )
    .body;
    assert!(one.contains(&format!(
        "<tr><th scope=\"row\">S_NAME</th><td>{town}</td></tr>"
    )));
    assert!(one.contains("href=\"../items?f=html\""));
    assert_eq!(json_ids(&embedded_features(&one)), vec![ids[0]]);
    // The collections page lists what the JSON lists for the caller.
    let list = get_ok("anonymous", "/collections?f=html", "").body;
    let listed = get_ok("anonymous", "/collections", "").json();
    for c in listed["collections"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert!(
            list.contains(&format!("href=\"collections/{id}/items?f=html\"")),
            "{id}"
        );
    }
    assert!(
        !list.contains("collections/residents"),
        "private collections stay hidden"
    );
}

/// The GeoJSON embedded in a page for its map.
fn embedded_features(html: &str) -> Value {
    let start = html
        .find("<script type=\"application/json\" id=\"features\">")
        .unwrap();
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(body).unwrap()
}

#[test]
fn personal_pages_mask_like_the_json() {
    let path = "/collections/care_outreach_flood/items?limit=25&offset=10";
    let json = get_ok("health", path, "").json();
    let html = get_ok("health", path, BROWSER);
    assert!(is_html(&html));
    assert_eq!(html.header("cache-control"), ["no-store"]);
    assert!(html.header("etag").is_empty(), "no validators on people");
    let ids = json_ids(&json);
    assert_eq!(ids.len(), 25);
    assert_eq!(table_ids(&html.body), ids);
    let keys: Vec<String> = json["features"][0]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut columns = table_columns(&html.body);
    let mut sorted = keys.clone();
    columns.sort();
    sorted.sort();
    assert_eq!(columns, sorted, "health's columns are the JSON's");
    for hidden in ["resident_id", "household_id", "birth_date"] {
        assert!(
            !keys.contains(&hidden.to_string()),
            "health's JSON has {hidden}"
        );
        assert!(!html.body.contains(hidden), "health's HTML names {hidden}");
    }
    // Names and addresses health may read are shown.
    let name = json["features"][0]["properties"]["name"].as_str().unwrap();
    assert!(html.body.contains(name));
    // What the planner sees of the same people never reaches health's page.
    let planner = get_ok("planner", path, "").json();
    let mut secrets = 0;
    for f in planner["features"].as_array().unwrap() {
        for field in ["resident_id", "household_id", "birth_date"] {
            if let Some(v) = f["properties"][field].as_str() {
                secrets += 1;
                assert!(!html.body.contains(v), "{field} {v} in health's HTML");
            }
        }
    }
    assert!(
        secrets >= 50,
        "the planner's page has the codes ({secrets})"
    );
    let planner_html = get_ok("planner", &format!("{path}&f=html"), "").body;
    let code = planner["features"][0]["properties"]["resident_id"]
        .as_str()
        .unwrap();
    assert!(
        planner_html.contains(&format!("<td>{code}</td>")),
        "the planner sees {code}"
    );
    // One person's page, as health: the pseudonymous id, no codes.
    let one = get_ok(
        "health",
        &format!("/collections/care_outreach_flood/items/{}?f=html", ids[0]),
        "",
    );
    assert_eq!(one.header("cache-control"), ["no-store"]);
    assert!(one.body.contains(name) && !one.body.contains("birth_date"));
}

/// The audit log's lines.
fn audit_lines() -> Vec<String> {
    let path = server().data.join("audit").join("audit.jsonl");
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Waits (a bounded while) for an audit entry whose request is `request`.
fn audited(request: &str) -> Option<Value> {
    let started = Instant::now();
    loop {
        let found = audit_lines()
            .into_iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .find(|e| e["request"] == request);
        if found.is_some() || started.elapsed() > Duration::from_secs(30) {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn residents_pages_are_audited_and_not_stored() {
    // An offset of its own, so the log of an earlier run does not count.
    let offset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        % 20_000;
    let query = format!("limit=4&offset={offset}&f=html");
    let path = format!("/collections/residents/items?{query}");
    assert!(audited(&format!("GET /collections/residents/items?{query}")).is_none());
    let r = get_ok("planner", &path, "");
    assert!(is_html(&r));
    assert_eq!(r.header("cache-control"), ["no-store"]);
    let ids = table_ids(&r.body);
    assert_eq!(ids.len(), 4);
    let json = get_ok(
        "planner",
        &format!("/collections/residents/items?limit=4&offset={offset}"),
        "",
    )
    .json();
    assert_eq!(ids, json_ids(&json));
    let entry = audited(&format!("GET /collections/residents/items?{query}"))
        .expect("the HTML page of residents is audited");
    assert_eq!(entry["role"], "planner");
    assert_eq!(entry["collection"], "residents");
    assert_eq!(entry["records"], 4);
    // Who may not read residents gets 404 as HTML too, and nothing is logged.
    for role in ["analyst", "public", "anonymous"] {
        for (query, accept) in [("?f=html", ""), ("", BROWSER)] {
            let r = get(
                role,
                &format!("/collections/residents/items{query}"),
                accept,
            );
            assert_eq!(r.status, 404, "{role} {query}");
            assert!(!r.body.contains("<table"), "{role}");
            let one = get(
                role,
                &format!("/collections/residents/items/{}{query}", ids[0]),
                accept,
            );
            assert_eq!(one.status, 404, "{role} item {query}");
            assert_eq!(
                get(role, &format!("/collections/residents{query}"), accept).status,
                404
            );
        }
    }
}

#[test]
fn values_are_escaped() {
    // A value from the request is shown among the page's conditions.
    let evil = "<script>alert('x')</script>&\"";
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("S_NAME", evil)
        .append_pair("f", "html")
        .finish();
    let r = get_ok(
        "anonymous",
        &format!("/collections/bunkyo_towns/items?{q}"),
        "",
    );
    assert!(r
        .body
        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert!(!r.body.contains(evil) && !r.body.contains("<script>alert"));
    assert!(table_ids(&r.body).is_empty());
}

#[test]
fn swagger_ui_and_signing_in() {
    let page = get_ok("anonymous", "/api", BROWSER).body;
    for part in [
        "assets/swagger-ui-bundle.js",
        "assets/swagger-init.js",
        "assets/swagger-ui.css",
        "data-url=\"openapi?f=json\"",
    ] {
        assert!(page.contains(part), "{part}");
    }
    let doc = get_ok("anonymous", "/api.html", BROWSER).body;
    assert!(
        doc.contains("href=\"api?f=html\""),
        "the service description links the viewer"
    );
    // The document advertises the HTML formats.
    let api = get_ok("anonymous", "/openapi?f=json", "").json();
    let f = &api["components"]["parameters"]["f-features"]["schema"]["enum"];
    assert!(f.as_array().unwrap().contains(&Value::from("html")));

    // Signing in: a Basic challenge, then on to a local page only.
    let s = server();
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(s.url("/signin")).send().unwrap();
    assert_eq!(r.status(), 401);
    let challenges: Vec<_> = r.headers().get_all("www-authenticate").iter().collect();
    assert!(challenges
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("Basic ")));
    for (next, to) in [
        (
            "collections%2Fresidents%2Fitems%3Ff%3Dhtml",
            "collections/residents/items?f=html",
        ),
        ("%2F%2Fevil.example%2F", "collections?f=html"),
        ("https%3A%2F%2Fevil.example%2F", "collections?f=html"),
    ] {
        let r = no_redirects
            .get(s.url(&format!("/signin?next={next}")))
            .basic_auth("planner", Some(s.token("planner")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(r.headers()["location"], to, "{next}");
    }
}

#[test]
fn pages_in_a_browser() {
    let out = common::scratch("html-shots");
    let found = common::browser_script("html.mjs", &out);
    assert_eq!(found["failure"], Value::Null, "{found:#}");
    assert_eq!(found["plannerFailure"], Value::Null, "{found:#}");
    assert_eq!(
        found["errors"],
        serde_json::json!([]),
        "page errors: {found:#}"
    );
    assert_eq!(
        found["outside"],
        serde_json::json!([]),
        "outside requests: {found:#}"
    );
    assert_eq!(found["collections"]["lang"], "ja");
    let ids: Vec<&str> = found["collections"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"bunkyo_towns") && !ids.contains(&"residents"),
        "{ids:?}"
    );
    assert!(
        found["collection"]["map"]["width"].as_u64().unwrap() > 300,
        "{found:#}"
    );
    assert!(found["collection"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/collections/bunkyo_towns?f=html"));
    let items = &found["items"];
    assert!(items["url"]
        .as_str()
        .unwrap()
        .ends_with("/collections/bunkyo_towns/items?f=html"));
    assert_eq!(items["rows"], 10, "{items}");
    assert_eq!(items["next"], 1);
    assert!(items["map"]["width"].as_u64().unwrap() > 300, "{items}");
    assert_eq!(items["map"]["error"], Value::Null);
    assert!(found["next"]["url"].as_str().unwrap().contains("offset=10"));
    assert_eq!(found["next"]["prev"], 1);
    assert!(found["item"]["url"]
        .as_str()
        .unwrap()
        .contains("/collections/bunkyo_towns/items/"));
    assert!(found["item"]["properties"].as_u64().unwrap() > 10);
    assert!(
        found["swagger"]["operations"].as_u64().unwrap() >= 10,
        "{found:#}"
    );
    let paths = found["swagger"]["paths"].to_string();
    assert!(paths.contains("/collections/bunkyo_towns/items"), "{paths}");
    // The planner, signed in with HTTP Basic, reads residents as HTML.
    let residents = &found["residents"];
    assert_eq!(residents["status"], 200, "{residents}");
    assert!(residents["url"]
        .as_str()
        .unwrap()
        .ends_with("/collections/residents/items?f=html&limit=5"));
    assert_eq!(residents["cacheControl"], "no-store");
    assert_eq!(residents["rows"], 5);
    let planner_ids = found["plannerIds"].to_string();
    assert!(planner_ids.contains("\"residents\""), "{planner_ids}");
    for name in [
        "collections",
        "items",
        "item",
        "swagger",
        "residents-planner",
    ] {
        assert!(out.join(format!("{name}.png")).exists(), "{name}.png");
    }
}
