//! HTML for the OGC resources (`f=html`, or a browser's `Accept:
//! text/html` when no `f` is given): the collections, a collection, its
//! items (a small map and a table of the page's features), one item, the
//! conformance classes, and Swagger UI over the OpenAPI document.
//!
//! Pages are rendered on the server from what the JSON outputs select: the
//! items pages from the same selection, role view, masking and audit as
//! GeoJSON and CSV ([`crate::items`]); only the serialisation differs. The
//! features of a page are written by the GeoJSON writer (in CRS84, for the
//! map) and the table is read from those very features, so it cannot show
//! a value the JSON would not. Every value is escaped; scripts are the
//! binary's own assets (`ogc.js`, `swagger-init.js`), none inline, and
//! links are relative, so the pages work behind a `public_url` prefix.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::items::ItemsQuery;
use crate::writer::{CoordinateOutput, FeatureWriter};
use crate::ApiError;
use chiiki_core::crs::Crs;
use chiiki_core::layers::Layer;
use chiiki_core::sensitivity::Privacy;

/// The pages run only the binary's scripts; MapLibre's workers start from
/// blobs (as on the map page).
const CSP: &str =
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; \
     img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Escapes text for HTML content and attribute values (quoted).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON to embed in `<script type="application/json">`: no `<`, `>` or `&`
/// as such, so no value can close the element.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Whether a request asks for HTML: `f=html` (or `text/html`); without
/// `f`, a browser's `Accept` that names `text/html` first. `f=json` (or
/// any other `f`) always wins, and GIS clients, which send no `Accept` or
/// a JSON one, get JSON as before.
pub fn wanted(headers: &HeaderMap, query: &str) -> bool {
    let mut f = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "f" {
            f = Some(v.into_owned());
        }
    }
    match f {
        Some(v) => matches!(v.as_str(), "html" | "text/html"),
        None => browser_accept(headers),
    }
}

/// A browser's `Accept`: `text/html` as the first media range.
fn browser_accept(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .next()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.split(';').next().unwrap_or("").trim() == "text/html")
        })
}

/// For the validators of a response: the query, marked when HTML was
/// asked for by `Accept` alone, so HTML and JSON of one URL never share an
/// `ETag`.
pub fn tag_query(query: &str, html: bool) -> String {
    let explicit = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "f");
    if html && !explicit {
        format!("{query}\n(html)")
    } else {
        query.to_string()
    }
}

/// For the resources that take only `f`: whether HTML is asked for, or
/// the error for any other parameter or format.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "f" if matches!(
                v.as_ref(),
                "json" | "application/json" | "html" | "text/html"
            ) => {}
            "f" => {
                return Err(ApiError::bad_request(format!(
                    "unsupported format f={v}; use f=json or f=html"
                )))
            }
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    Ok(wanted(headers, query.unwrap_or_default()))
}

/// Adds `Vary: Accept` to every response but the assets': the resources
/// answer HTML or JSON by it.
pub async fn vary_accept(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    if !asset {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept"));
    }
    response
}

/// The relative path from a page at `depth` path segments below the root
/// (`/collections` is 1, `/collections/x/items` 3) back to the root.
fn root(depth: usize) -> String {
    "../".repeat(depth.saturating_sub(1))
}

/// One page in the shared layout. `root` leads back to the service's root;
/// `head` adds stylesheets, `scripts` the script files (names under
/// `assets/`) loaded at the end of the body.
struct Page<'a> {
    title: &'a str,
    root: String,
    /// (label, href) from the collections down to this page.
    trail: Vec<(String, String)>,
    head: &'a [&'a str],
    scripts: &'a [&'a str],
    /// Alternate formats: (label, href).
    alternates: Vec<(&'a str, String)>,
}

impl Page<'_> {
    fn render(&self, body: &str) -> Response {
        let r = &self.root;
        let mut head = String::new();
        for css in self.head {
            head.push_str(&format!(
                "<link rel=\"stylesheet\" href=\"{r}assets/{css}\">\n"
            ));
        }
        let mut alternates = String::new();
        for (label, href) in &self.alternates {
            let t = if *label == "CSV" {
                "text/csv"
            } else {
                "application/json"
            };
            head.push_str(&format!(
                "<link rel=\"alternate\" type=\"{t}\" href=\"{}\">\n",
                escape(href)
            ));
            alternates.push_str(&format!(
                " <a class=\"alt\" href=\"{}\" type=\"{t}\">{label}</a>",
                escape(href)
            ));
        }
        let mut trail = String::new();
        for (i, (label, href)) in self.trail.iter().enumerate() {
            if i > 0 {
                trail.push_str(" › ");
            }
            if href.is_empty() {
                trail.push_str(&format!(
                    "<span aria-current=\"page\">{}</span>",
                    escape(label)
                ));
            } else {
                trail.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(href),
                    escape(label)
                ));
            }
        }
        let mut scripts = String::new();
        for s in self.scripts {
            scripts.push_str(&format!("<script src=\"{r}assets/{s}\"></script>\n"));
        }
        let html = format!(
            "<!doctype html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title} – chiiki</title>\n{head}<link rel=\"stylesheet\" href=\"{r}assets/ogc.css\">\n</head>\n<body>\n\
             <header class=\"site\"><a class=\"brand\" href=\"{r}./\">chiiki 地域</a>\
             <nav aria-label=\"サイト\"><a href=\"{r}./\">地図 (Map)</a> \
             <a href=\"{r}collections?f=html\">コレクション (Collections)</a> \
             <a href=\"{r}api?f=html\">API</a> \
             <a href=\"{r}conformance?f=html\">適合 (Conformance)</a> \
             <a href=\"{r}signin\">ログイン (Sign in)</a></nav></header>\n\
             <main>\n<nav class=\"trail\" aria-label=\"現在位置\">{trail}</nav>\n\
             <div class=\"formats\">形式 (Formats): <span>HTML</span>{alternates}</div>\n\
             <h1>{title}</h1>\n{body}\n</main>\n{scripts}</body>\n</html>\n",
            title = escape(self.title),
        );
        page_response(html)
    }
}

/// An HTML response with the pages' headers.
fn page_response(html: String) -> Response {
    let mut response = html.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// What kind of data a collection holds, in words.
fn privacy_label(layer: &Layer) -> &'static str {
    match layer.meta.privacy {
        Privacy::Open => "",
        Privacy::Aggregate { .. } => "人数の集計 (counts of people)",
        Privacy::Individuals { .. } | Privacy::Derived { .. } => "個人情報 (personal data)",
    }
}

fn collection_trail(root: &str, layer: &Layer, here: bool) -> Vec<(String, String)> {
    let id = &layer.meta.id;
    vec![
        (
            "コレクション".to_string(),
            format!("{root}collections?f=html"),
        ),
        (
            title_of(layer).to_string(),
            if here {
                String::new()
            } else {
                format!("{root}collections/{id}?f=html")
            },
        ),
    ]
}

fn title_of(layer: &Layer) -> &str {
    if layer.meta.title.is_empty() {
        &layer.meta.id
    } else {
        &layer.meta.title
    }
}

/// `GET /collections?f=html`.
pub fn collections(layers: &[std::sync::Arc<Layer>], service_title: &str) -> Response {
    let mut rows = String::new();
    for l in layers {
        let id = escape(&l.meta.id);
        let note = privacy_label(l);
        rows.push_str(&format!(
            "<tr><th scope=\"row\"><a href=\"collections/{id}?f=html\">{title}</a>{note}</th>\
             <td><code>{id}</code></td><td class=\"num\">{n}</td><td>{g}</td>\
             <td><a href=\"collections/{id}/items?f=html\">地物 (items)</a> · \
             <a href=\"collections/{id}/items?f=json\">GeoJSON</a> · \
             <a href=\"collections/{id}/items?f=csv\">CSV</a></td></tr>\n",
            title = escape(title_of(l)),
            note = if note.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"tag\">{note}</span>")
            },
            n = l.len(),
            g = escape(l.geometries.type_name()),
        ));
    }
    let body = format!(
        "<p>{service} が提供するコレクション（あなたのロールで読めるもの）。\
         QGIS や GDAL からは同じ URL を OGC API – Features として読めます。</p>\n\
         <table class=\"list\">\n<caption>コレクション一覧 (collections)</caption>\n\
         <thead><tr><th scope=\"col\">名称 (title)</th><th scope=\"col\">ID</th>\
         <th scope=\"col\">地物数 (features)</th><th scope=\"col\">ジオメトリ (geometry)</th>\
         <th scope=\"col\">データ (data)</th></tr></thead>\n<tbody>\n{rows}</tbody></table>",
        service = escape(service_title),
    );
    Page {
        title: "コレクション (Collections)",
        root: root(1),
        trail: vec![("コレクション".into(), String::new())],
        head: &[],
        scripts: &[],
        alternates: vec![("JSON", "collections?f=json".into())],
    }
    .render(&body)
}

/// `GET /collections/{id}?f=html`: what the collection is and holds.
pub fn collection(layer: &Layer) -> Response {
    let id = escape(&layer.meta.id);
    let r = root(2);
    let mut facts = vec![
        ("ID".to_string(), format!("<code>{id}</code>")),
        ("地物数 (features)".into(), layer.len().to_string()),
        (
            "ジオメトリ (geometry)".into(),
            escape(layer.geometries.type_name()),
        ),
    ];
    if let Some(e) = layer.extent {
        facts.push((
            "範囲 (extent, CRS84)".into(),
            format!(
                "{:.5}, {:.5} – {:.5}, {:.5}",
                e.min().x,
                e.min().y,
                e.max().x,
                e.max().y
            ),
        ));
    }
    let note = privacy_label(layer);
    if !note.is_empty() {
        facts.push(("区分 (kind)".into(), note.to_string()));
    }
    if !layer.meta.attribution.is_empty() {
        facts.push(("出典 (attribution)".into(), escape(&layer.meta.attribution)));
    }
    let mut dl = String::new();
    for (k, v) in facts {
        dl.push_str(&format!(
            "<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>\n"
        ));
    }
    let mut props = String::new();
    for c in &layer.columns {
        let schema = c.field_type().json_schema();
        let ty = schema["format"]
            .as_str()
            .or(schema["type"].as_str())
            .unwrap_or("")
            .to_string();
        props.push_str(&format!(
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td></tr>\n",
            escape(&c.name),
            escape(&ty),
            escape(layer.label(&c.name).as_str()),
        ));
    }
    // The extent as a rectangle on the small map.
    let map = layer.extent.map_or(String::new(), |e| {
        let (x0, y0, x1, y1) = (e.min().x, e.min().y, e.max().x, e.max().y);
        let extent = serde_json::json!({"type": "FeatureCollection", "features": [{
            "type": "Feature", "id": 0, "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
        }]});
        map_block(&extent.to_string(), "範囲の地図 (map of the extent)")
    });
    let body = format!(
        "<p class=\"desc\">{desc}</p>\n{map}\n\
         <p class=\"actions\"><a class=\"button\" href=\"{id}/items?f=html\">地物を見る (view items)</a> \
         <a href=\"{id}/items?f=json\">GeoJSON</a> · <a href=\"{id}/items?f=csv\">CSV</a> · \
         <a href=\"{id}/queryables\">queryables</a></p>\n\
         <table class=\"facts\"><caption>概要 (summary)</caption>\n<tbody>{dl}</tbody></table>\n\
         <table class=\"list\"><caption>属性 (properties)</caption>\n\
         <thead><tr><th scope=\"col\">名前 (name)</th><th scope=\"col\">型 (type)</th>\
         <th scope=\"col\">ラベル (label)</th></tr></thead>\n<tbody>{props}</tbody></table>",
        desc = escape(&layer.meta.description),
    );
    let (head, scripts): (&[&str], &[&str]) = if map.is_empty() {
        (&[], &[])
    } else {
        (&["maplibre-gl.css"], &["maplibre-gl.js", "ogc.js"])
    };
    Page {
        title: title_of(layer),
        root: r.clone(),
        trail: collection_trail(&r, layer, true),
        head,
        scripts,
        alternates: vec![("JSON", format!("{id}?f=json"))],
    }
    .render(&body)
}

/// `GET /conformance?f=html`.
pub fn conformance(classes: &[&str]) -> Response {
    let mut items = String::new();
    for c in classes {
        items.push_str(&format!("<li><code>{}</code></li>\n", escape(c)));
    }
    let body = format!(
        "<p>このサービスが実装する適合クラス (conformance classes implemented)。</p>\n<ul class=\"classes\">\n{items}</ul>"
    );
    Page {
        title: "適合クラス (Conformance)",
        root: root(1),
        trail: vec![],
        head: &[],
        scripts: &[],
        alternates: vec![("JSON", "conformance?f=json".into())],
    }
    .render(&body)
}

/// `GET /api?f=html` (and `/openapi`): Swagger UI over `openapi?f=json`.
pub fn swagger() -> Response {
    let body = "<p>API 定義 (OpenAPI 3.0) を Swagger UI で表示しています。\
                <a href=\"api.html\">サービスの説明 (service description)</a></p>\n\
                <div id=\"swagger-ui\" data-url=\"openapi?f=json\"></div>";
    Page {
        title: "API (OpenAPI)",
        root: root(1),
        trail: vec![],
        head: &["swagger-ui.css"],
        scripts: &["swagger-ui-bundle.js", "swagger-init.js"],
        alternates: vec![("JSON", "openapi?f=json".into())],
    }
    .render(body)
}

/// The query of a link to this items page with `limit` and `offset`,
/// in format `f`.
fn items_link(params: &[(String, String)], f: &str, limit: usize, offset: usize) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(k, _)| k != "f") {
        ser.append_pair(k, v);
    }
    ser.append_pair("limit", &limit.to_string());
    if offset > 0 {
        ser.append_pair("offset", &offset.to_string());
    }
    ser.append_pair("f", f);
    format!("items?{}", ser.finish())
}

/// The features of `rows` as GeoJSON (CRS84, for the map), written by the
/// same writer as the JSON pages.
fn features_json(layer: &Layer, rows: &[u32], columns: &[usize]) -> String {
    let coords = CoordinateOutput::new(Crs::Crs84).expect("CRS84 is always available");
    let writer = FeatureWriter::new(layer, columns.to_vec(), coords);
    let mut buf = Vec::with_capacity(rows.len() * 200 + 64);
    buf.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, &row) in rows.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        writer.write_feature(&mut buf, row as usize, "");
    }
    buf.extend_from_slice(b"]}");
    String::from_utf8(buf).unwrap_or_default()
}

/// A property value as table text.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => escape(s),
        Value::Number(_) | Value::Bool(_) => v.to_string(),
        other => escape(&other.to_string()),
    }
}

fn cell_class(v: &Value) -> &'static str {
    if v.is_number() {
        " class=\"num\""
    } else {
        ""
    }
}

/// The map block of a page: the features as JSON, drawn by `ogc.js`.
fn map_block(json: &str, label: &str) -> String {
    format!(
        "<div id=\"map\" class=\"map\" role=\"region\" aria-label=\"{label}\"></div>\n\
         <script type=\"application/json\" id=\"features\">{}</script>",
        script_json(json)
    )
}

/// `GET /collections/{id}/items?f=html`: the page of `rows` (already
/// selected from the caller's view, and audited by the caller once this
/// is built).
pub fn items(layer: &Layer, rows: &[u32], matched: usize, q: &ItemsQuery) -> Response {
    let json = features_json(layer, rows, &q.columns);
    let parsed: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    let features = parsed["features"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = q
        .columns
        .iter()
        .map(|&c| layer.columns[c].name.as_str())
        .collect();
    let mut thead = String::from("<th scope=\"col\">ID</th>");
    for n in &names {
        thead.push_str(&format!("<th scope=\"col\">{}</th>", escape(n)));
    }
    let mut tbody = String::new();
    for f in &features {
        let fid = f["id"].to_string();
        let fid = escape(&fid);
        tbody.push_str(&format!(
            "<tr data-id=\"{fid}\"><th scope=\"row\"><a href=\"items/{fid}?f=html\">{fid}</a></th>"
        ));
        for n in &names {
            let v = &f["properties"][*n];
            tbody.push_str(&format!("<td{}>{}</td>", cell_class(v), cell(v)));
        }
        tbody.push_str("</tr>\n");
    }
    let params = &q.link_params;
    let mut nav = String::new();
    if q.offset > 0 {
        nav.push_str(&format!(
            "<a rel=\"prev\" href=\"{}\">← 前へ (prev)</a> ",
            escape(&items_link(
                params,
                "html",
                q.limit,
                q.offset.saturating_sub(q.limit)
            ))
        ));
    }
    if q.offset + rows.len() < matched {
        nav.push_str(&format!(
            "<a rel=\"next\" href=\"{}\">次へ (next) →</a>",
            escape(&items_link(params, "html", q.limit, q.offset + rows.len()))
        ));
    }
    let shown = if rows.is_empty() {
        format!("{matched} 件中 0 件 (0 of {matched})")
    } else {
        format!(
            "{matched} 件中 {}–{} 件 ({}–{} of {matched})",
            q.offset + 1,
            q.offset + rows.len(),
            q.offset + 1,
            q.offset + rows.len()
        )
    };
    let mut conditions = String::new();
    for (k, v) in params.iter().filter(|(k, _)| k != "f") {
        conditions.push_str(&format!(
            "<li><code>{}</code> = <code>{}</code></li>",
            escape(k),
            escape(v)
        ));
    }
    if !conditions.is_empty() {
        conditions =
            format!("<ul class=\"conditions\" aria-label=\"条件 (query)\">{conditions}</ul>\n");
    }
    let note = privacy_label(layer);
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("<p class=\"personal\">{note}: 閲覧は監査ログに記録されます (this page is audited).</p>\n")
    };
    let body = format!(
        "{note}{conditions}<p class=\"count\">{shown}</p>\n{map}\n\
         <nav class=\"pages\" aria-label=\"ページ (pages)\">{nav}</nav>\n\
         <div class=\"table-wrap\"><table class=\"list items\">\n<caption>地物 (features)</caption>\n\
         <thead><tr>{thead}</tr></thead>\n<tbody>\n{tbody}</tbody></table></div>",
        map = map_block(&json, "地物の地図 (map of the features)"),
    );
    let r = root(3);
    let mut trail = collection_trail(&r, layer, false);
    trail.push(("地物 (items)".into(), String::new()));
    Page {
        title: &format!("{} – 地物", title_of(layer)),
        root: r,
        trail,
        head: &["maplibre-gl.css"],
        scripts: &["maplibre-gl.js", "ogc.js"],
        alternates: vec![
            ("GeoJSON", items_link(params, "json", q.limit, q.offset)),
            ("CSV", items_link(params, "csv", q.limit, q.offset)),
        ],
    }
    .render(&body)
}

/// `GET /collections/{id}/items/{fid}?f=html`: one feature (its row of the
/// caller's view, audited by the caller).
pub fn item(layer: &Layer, fid: &str, row: usize, columns: &[usize]) -> Response {
    let json = features_json(layer, &[row as u32], columns);
    let parsed: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    let feature = &parsed["features"][0];
    let mut props = String::new();
    for &c in columns {
        let name = &layer.columns[c].name;
        let v = &feature["properties"][name.as_str()];
        props.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td{}>{}</td></tr>\n",
            escape(name),
            cell_class(v),
            cell(v)
        ));
    }
    let body = format!(
        "{map}\n<table class=\"facts\"><caption>属性 (properties)</caption>\n<tbody>\
         <tr><th scope=\"row\">ID</th><td>{id}</td></tr>\n{props}</tbody></table>",
        map = map_block(&json, "地物の位置 (map of the feature)"),
        id = escape(&feature["id"].to_string()),
    );
    let r = root(4);
    let mut trail = collection_trail(&r, layer, false);
    trail.push(("地物 (items)".into(), "../items?f=html".into()));
    trail.push((fid.to_string(), String::new()));
    Page {
        title: &format!("{} – {fid}", title_of(layer)),
        root: r,
        trail,
        head: &["maplibre-gl.css"],
        scripts: &["maplibre-gl.js", "ogc.js"],
        alternates: vec![
            ("GeoJSON", format!("{fid}?f=json")),
            ("CSV", format!("{fid}?f=csv")),
        ],
    }
    .render(&body)
}

/// `GET /signin`: asks the browser for HTTP Basic credentials (the token
/// as the password) and, once it has them, goes on to `next` (a path
/// relative to the service's root) or the collections. A browser then
/// sends the credentials with every page of the service.
pub async fn signin(
    crate::Caller(who): crate::Caller,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    if who.is_anonymous() {
        return Err(ApiError::unauthorized(
            "sign in with any user name and your token as the password",
        ));
    }
    let mut next = "collections?f=html".to_string();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if k == "next" && local_path(&v) {
            next = v.into_owned();
        }
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&next) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A path relative to the service's root that cannot lead elsewhere: no
/// scheme, no host, no leading slash or backslash.
fn local_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains("//")
        && !p.split(['/', '?', '#']).next().unwrap_or("").contains(':')
        && p.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(escape("文京区本郷1丁目"), "文京区本郷1丁目");
    }

    #[test]
    fn embedded_json_cannot_close_its_script() {
        let j = script_json(r#"{"name":"</script><script>alert(1)</script>&"}"#);
        assert!(!j.contains('<') && !j.contains('>') && !j.contains('&'));
        let back: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn cells_escape_values() {
        assert_eq!(cell(&serde_json::json!("<b>&")), "&lt;b&gt;&amp;");
        assert_eq!(cell(&serde_json::json!(3.5)), "3.5");
        assert_eq!(cell(&Value::Null), "");
    }

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        let browser = accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        assert!(wanted(&browser, ""));
        assert!(wanted(&browser, "limit=5"));
        assert!(!wanted(&browser, "f=json"));
        assert!(!wanted(&browser, "f=csv"));
        assert!(wanted(&HeaderMap::new(), "f=html"));
        assert!(!wanted(&HeaderMap::new(), ""));
        assert!(!wanted(&accept("application/json"), ""));
        assert!(!wanted(&accept("*/*"), ""));
        assert!(!wanted(&accept("application/json, text/html"), ""));
        assert!(negotiate(Some("f=xml"), &browser).is_err());
        assert!(negotiate(Some("x=1"), &browser).is_err());
        assert!(negotiate(Some("f=html"), &HeaderMap::new()).unwrap());
        assert_ne!(tag_query("limit=1", true), tag_query("limit=1", false));
        assert_eq!(tag_query("f=html", true), "f=html");
    }

    #[test]
    fn signin_goes_only_to_local_paths() {
        assert!(local_path("collections/residents/items?f=html"));
        for bad in [
            "",
            "/collections",
            "//evil.example/",
            "https://evil.example/",
            "javascript:alert(1)",
            "\\\\evil",
            "a b",
        ] {
            assert!(!local_path(bad), "{bad}");
        }
    }

    #[test]
    fn roots_lead_back() {
        assert_eq!(root(1), "");
        assert_eq!(root(3), "../../");
    }
}
