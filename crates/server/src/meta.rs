//! The descriptive resources: landing page, conformance, collections,
//! queryables and the human-readable service description.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, Response};
use serde_json::{json, Value};

use super::{json_response, ApiError, BaseUrl, Caller, Current, SharedState};
use chiiki_core::crs::{Crs, CRS84_URI, STORAGE_EPSG};
use chiiki_core::layers::{column, Layer};

pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tmxr",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
];

const JSON: &str = "application/json";

/// Rejects every query parameter except `f=json`, as the standard asks of
/// resources that take none.
fn only_format_parameter(query: Option<String>) -> Result<(), ApiError> {
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "f" if v == "json" || v == "application/json" => {}
            "f" => {
                return Err(ApiError::bad_request(format!(
                    "unsupported format f={v}; use f=json"
                )))
            }
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    Ok(())
}

/// Browsers ask for HTML first; GIS clients ask for JSON or nothing.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/html"))
}

pub async fn landing(
    State(state): State<SharedState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let explicit_json = query.as_deref().is_some_and(|q| q.contains("f=json"));
    only_format_parameter(query)?;
    if wants_html(&headers) && !explicit_json {
        return Ok(crate::web::page(state.server.basemap.as_ref()));
    }
    let body = json!({
        "title": state.server.title,
        "description": "Resident registry and municipal geodata served as OGC API – Features (JGD2011).",
        "links": [
            {"href": format!("{base}/"), "rel": "self", "type": JSON, "title": "This document"},
            {"href": format!("{base}/openapi"), "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "The API definition"},
            {"href": format!("{base}/api.html"), "rel": "service-doc", "type": "text/html",
             "title": "The API documentation"},
            {"href": format!("{base}/conformance"), "rel": "conformance", "type": JSON,
             "title": "Conformance classes implemented"},
            {"href": format!("{base}/collections"), "rel": "data", "type": JSON,
             "title": "The feature collections"},
            {"href": format!("{base}/tileMatrixSets"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
             "type": JSON, "title": "The tile matrix sets of the vector tiles"},
        ],
    });
    Ok(json_response(body, JSON))
}

pub async fn conformance(
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if crate::html::negotiate(query.as_deref(), &headers)? {
        return Ok(crate::html::conformance(CONFORMANCE));
    }
    Ok(json_response(json!({ "conformsTo": CONFORMANCE }), JSON))
}

pub async fn collections(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let html = crate::html::negotiate(query.as_deref(), &headers)?;
    let reader = state.clone();
    let layers = state
        .blocking
        .clone()
        .run(move || Ok(reader.visible(&data, &who)))
        .await?;
    if html {
        return Ok(crate::html::collections(&layers, &state.server.title));
    }
    let collections: Vec<Value> = layers.iter().map(|l| collection_json(l, &base)).collect();
    let body = json!({
        "links": [
            {"href": format!("{base}/collections"), "rel": "self", "type": JSON},
        ],
        "collections": collections,
        "crs": supported_crs_uris(),
    });
    Ok(json_response(body, JSON))
}

pub async fn collection(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if crate::html::negotiate(query.as_deref(), &headers)? {
        let path = format!("/collections/{id}");
        let reader = state.clone();
        let layer = state
            .blocking
            .run(move || reader.readable(&data, &who, &id))
            .await?;
        let tag = crate::html::tag_query(query.as_deref().unwrap_or_default(), true);
        return crate::cache::conditional(&layer, &base, &path, &tag, &headers, || {
            let mut response = crate::html::collection(&layer);
            crate::mark_people(&mut response, &layer);
            Ok(response)
        });
    }
    let doc = ("", JSON, collection_json as Render);
    layer_document(state, data, who, id, (base, headers, query), doc).await
}

pub async fn queryables(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let doc = (
        "/queryables",
        "application/schema+json",
        queryables_json as Render,
    );
    layer_document(state, data, who, id, (base, headers, query), doc).await
}

/// Renders a document about a layer, given the service's base URL.
type Render = fn(&Layer, &str) -> Value;

/// A document about one collection (its description, its queryables) as
/// the caller's view of it: validators for open data, `no-store` for
/// anything about people. `doc` is the path suffix, content type and
/// renderer; `ask` the base URL, headers and query of the request.
async fn layer_document(
    state: SharedState,
    data: std::sync::Arc<crate::Data>,
    who: chiiki_policy::auth::Principal,
    id: String,
    (base, headers, query): (String, HeaderMap, Option<String>),
    (suffix, content_type, render): (&str, &'static str, Render),
) -> Result<Response, ApiError> {
    only_format_parameter(query.clone())?;
    let path = format!("/collections/{id}{suffix}");
    let reader = state.clone();
    let layer = state
        .blocking
        .run(move || reader.readable(&data, &who, &id))
        .await?;
    let query = query.unwrap_or_default();
    crate::cache::conditional(&layer, &base, &path, &query, &headers, || {
        let mut response = json_response(render(&layer, &base), content_type);
        crate::mark_people(&mut response, &layer);
        Ok(response)
    })
}

pub fn supported_crs_uris() -> Vec<String> {
    Crs::supported().iter().map(Crs::uri).collect()
}

pub fn collection_json(layer: &Layer, base: &str) -> Value {
    let id = &layer.meta.id;
    let href = format!("{base}/collections/{id}");
    let mut extent = json!({});
    if let Some(r) = layer.extent {
        extent["spatial"] = json!({
            "bbox": [[r.min().x, r.min().y, r.max().x, r.max().y]],
            "crs": CRS84_URI,
        });
    }
    if let Some(interval) = temporal_extent(layer) {
        extent["temporal"] = json!({
            "interval": [interval],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        });
    }
    let mut body = json!({
        "id": id,
        "title": layer.meta.title,
        "description": layer.meta.description,
        "itemType": "feature",
        "links": [
            {"href": href, "rel": "self", "type": JSON, "title": "This collection"},
            {"href": format!("{href}/items"), "rel": "items", "type": "application/geo+json",
             "title": "Features as GeoJSON"},
            // Not `items`: clients that take the first items link must get GeoJSON.
            {"href": format!("{href}/items?f=csv"), "rel": "alternate", "type": "text/csv",
             "title": "Features as CSV (UTF-8 with BOM; encoding=cp932, geometry=wkt)"},
            {"href": format!("{href}/queryables"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": "application/schema+json", "title": "Queryable properties"},
            {"href": crate::tiles::tiles_href(base, id), "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
             "type": JSON, "title": "Vector tiles (MVT, WebMercatorQuad)"},
        ],
        "extent": extent,
        "crs": supported_crs_uris(),
        "storageCrs": Crs::Epsg(STORAGE_EPSG).uri(),
        "chiiki:featureCount": layer.len(),
        "chiiki:geometryType": layer.geometries.type_name(),
        "chiiki:privacy": crate::web::privacy_kind(layer),
        "chiiki:group": crate::web::group(layer),
    });
    if !layer.meta.attribution.is_empty() {
        body["attribution"] = json!(layer.meta.attribution);
    }
    body
}

fn temporal_extent(layer: &Layer) -> Option<[String; 2]> {
    let col = layer.time_column()?;
    let mut values = (0..col.len())
        .filter(|&r| !col.is_null(r))
        .map(|r| col.get(r));
    let first = values.next()?;
    let as_ms = |v: &chiiki_core::layers::Value| match v {
        chiiki_core::layers::Value::Date(d) => *d as i64 * 86_400_000,
        chiiki_core::layers::Value::DateTime(t) => *t,
        _ => 0,
    };
    let (mut lo, mut hi) = (as_ms(&first), as_ms(&first));
    for v in values {
        let t = as_ms(&v);
        lo = lo.min(t);
        hi = hi.max(t);
    }
    Some([column::format_datetime(lo), column::format_datetime(hi)])
}

pub fn geometry_format(type_name: &str) -> &'static str {
    match type_name {
        "Point" => "geometry-point",
        "MultiPoint" => "geometry-multipoint",
        "LineString" => "geometry-linestring",
        "MultiLineString" => "geometry-multilinestring",
        "Polygon" => "geometry-polygon",
        "MultiPolygon" => "geometry-multipolygon",
        _ => "geometry-any",
    }
}

pub fn queryables_json(layer: &Layer, base: &str) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "geometry".into(),
        json!({"format": geometry_format(layer.geometries.type_name()), "x-ogc-role": "primary-geometry"}),
    );
    for c in &layer.columns {
        let mut schema = c.field_type().json_schema();
        schema["title"] = json!(c.name);
        // What the engine labels the column, for disclosure control.
        schema["x-chiiki-label"] = json!(layer.label(&c.name).as_str());
        properties.insert(c.name.clone(), schema);
    }
    // Filters may use the age of layers that store birth dates.
    if layer.column(chiiki_query::age::BIRTH_DATE).is_some() && layer.column("age").is_none() {
        properties.insert(
            "age".into(),
            json!({"type": "integer", "title": "age",
                   "description": "Whole years on today's date (Japan), from birth_date; for filters (age >= 65)."}),
        );
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{}/queryables", layer.meta.id),
        "type": "object",
        "title": layer.meta.title,
        "properties": properties,
        "additionalProperties": false,
    })
}

pub async fn service_doc(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
) -> Html<String> {
    let mut rows = String::new();
    for l in state.visible(&data, &who) {
        rows.push_str(&format!(
            "<tr><td><a href=\"collections/{id}/items?limit=100\">{id}</a></td><td>{title}</td><td>{n}</td><td>{g}</td></tr>\n",
            id = html_escape(&l.meta.id),
            title = html_escape(&l.meta.title),
            n = l.len(),
            g = l.geometries.type_name(),
        ));
    }
    Html(format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title} — OGC API – Features</h1>\
         <p>Load any collection in QGIS (Layer → Add WFS / OGC API – Features) or GDAL \
         (<code>ogrinfo OAPIF:&lt;this server&gt;/</code>). The machine-readable definition is at \
         <a href=\"openapi\">/openapi</a> (in the browser: <a href=\"api?f=html\">Swagger UI</a>; \
         the collections as pages: <a href=\"collections?f=html\">collections</a>).</p>\
         <table border=\"1\" cellpadding=\"4\"><tr><th>collection</th><th>title</th><th>features</th><th>geometry</th></tr>\n{rows}</table>\
         <p>Parameters on <code>/collections/{{id}}/items</code>: bbox, bbox-crs, crs, limit, offset, datetime, properties, \
         <code>&lt;property&gt;=&lt;value&gt;</code> for every queryable, and <code>filter</code> in CQL2-text \
         (<code>filter-lang=cql2-text</code>, <code>filter-crs</code> for its geometries), e.g. \
         <code>filter=JINKO &gt; 5000 AND S_DWITHIN(geometry, POINT(139.752 35.708), 500, meters)</code>.</p></body></html>",
        title = html_escape(&state.server.title),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
