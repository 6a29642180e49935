//! The OpenAPI 3.0 document, self-contained (only internal `$ref`s) so that
//! offline clients can read it. GDAL reads it to learn which query
//! parameters each collection accepts, so every queryable is listed.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{json, Map};

use super::{json_response, ApiError, BaseUrl, Caller, SharedState};
use chiiki_core::crs::Crs;

pub async fn document(
    State(state): State<SharedState>,
    super::Current(data): super::Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "f" if v == "json" || v == "html" => {}
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    // Browsers get Swagger UI, which reads this document as JSON.
    if crate::html::wanted(&headers, &query) {
        return Ok(crate::html::swagger());
    }
    let mut paths = Map::new();
    let json_ok = |description: &str| {
        json!({"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}},
               "400": {"$ref": "#/components/responses/Error"}})
    };
    paths.insert("/".into(), json!({"get": {"summary": "Landing page", "operationId": "getLandingPage",
        "parameters": [{"$ref": "#/components/parameters/f"}], "responses": json_ok("Links to the API")}}));
    paths.insert("/conformance".into(), json!({"get": {"summary": "Conformance classes", "operationId": "getConformance",
        "parameters": [{"$ref": "#/components/parameters/f-page"}], "responses": json_ok("Conformance classes")}}));
    paths.insert("/collections".into(), json!({"get": {"summary": "Feature collections", "operationId": "getCollections",
        "parameters": [{"$ref": "#/components/parameters/f-page"}], "responses": json_ok("The collections")}}));
    paths.insert("/session".into(), json!({"get": {"summary": "The caller's role and what it may do (the web map's sign-in)",
        "operationId": "getSession", "responses": json_ok("The role, token id and name, and the base map configured")}}));
    paths.insert("/health".into(), json!({"get": {"summary": "Liveness: 200 while the process answers", "operationId": "getHealth",
        "security": [], "responses": json_ok("{\"status\": \"ok\"}")}}));
    paths.insert("/ready".into(), json!({"get": {"summary": "Readiness: 200 when the data is loaded and the audit log writable, else 503 with the reasons",
        "operationId": "getReady", "security": [],
        "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "503": {"description": "Not ready", "content": {"application/json": {"schema": {"type": "object"}}}}}}}));

    paths.insert("/tileMatrixSets".into(), json!({"get": {"summary": "Tile matrix sets", "operationId": "getTileMatrixSets",
        "parameters": [{"$ref": "#/components/parameters/f"}], "responses": json_ok("The tile matrix sets (WebMercatorQuad)")}}));
    paths.insert("/tileMatrixSets/{tileMatrixSetId}".into(), json!({"get": {"summary": "A tile matrix set (OGC TMS 2.0 JSON)",
        "operationId": "getTileMatrixSet",
        "parameters": [{"$ref": "#/components/parameters/tileMatrixSetId"}, {"$ref": "#/components/parameters/f"}],
        "responses": {"200": {"description": "The tile matrix set", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "404": {"$ref": "#/components/responses/Error"}}}}));

    paths.insert("/shelters/{shelterId}/occupancy".into(), json!({"post": {
        "summary": "Post a shelter's occupancy now (a shelter_staff token of that shelter, or admin); served in the collection shelter_occupancy",
        "operationId": "postShelterOccupancy",
        "parameters": [{"name": "shelterId", "in": "path", "required": true, "schema": {"type": "integer"},
                        "description": "A feature id of shelters_evacuation"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
            "required": ["count", "open", "accepts_care"], "additionalProperties": false,
            "properties": {"count": {"type": "integer", "minimum": 0, "maximum": crate::occupancy::MAX_COUNT},
                           "open": {"type": "boolean"}, "accepts_care": {"type": "boolean"}}}}}},
        "responses": {"200": {"description": "The accepted post, with the service's time", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                      "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}}));
    paths.insert("/shelters/{shelterId}/occupancy/history".into(), json!({"get": {
        "summary": "A shelter's accepted occupancy posts, newest first", "operationId": "getShelterOccupancyHistory", "security": [],
        "parameters": [{"name": "shelterId", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "The posts", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
                      "404": {"$ref": "#/components/responses/Error"}}}}));

    paths.insert("/notifications".into(), json!({"post": {
        "summary": "The residents of an area who meet criteria, for a notification system: the list for roles that read the people of the source (audited, purpose notification), a protected count for roles that read only counts of them",
        "operationId": "postNotificationList",
        "parameters": [{"$ref": "#/components/parameters/f-features"}, {"$ref": "#/components/parameters/encoding"},
                       {"$ref": "#/components/parameters/bom"}, {"$ref": "#/components/parameters/geometry-csv"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
            "required": ["area"], "additionalProperties": false,
            "properties": {
                "source": {"type": "string", "default": crate::notifications::DEFAULT_SOURCE,
                           "description": "A collection of people: the residents layer or a saved list of people"},
                "area": {"type": "object", "additionalProperties": false,
                         "description": "Exactly one of polygon (GeoJSON Polygon or MultiPolygon, CRS84), mesh (JIS X 0410 codes of any level) and collection (the polygons of a collection, picked by an optional CQL2 filter)",
                         "properties": {"polygon": {"type": "object"},
                                        "mesh": {"type": "array", "items": {"type": "string"}},
                                        "collection": {"type": "string"}, "filter": {"type": "string"}}},
                "filter": {"type": "string", "description": "CQL2-text on the source as the caller reads it; for a count, no identifier (use age)"},
                "count_only": {"type": "boolean", "default": false}}}}}},
        "responses": {"200": {"description": "A FeatureCollection (or CSV) of the people, or {count, protected}",
                              "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}},
                                          "text/csv": {"schema": {"type": "string"}},
                                          "application/json": {"schema": {"type": "object"}}}},
                      "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                      "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}}}}));

    for layer in state.visible(&data, &who) {
        let id = &layer.meta.id;
        let mut params = vec![
            json!({"$ref": "#/components/parameters/f-features"}),
            json!({"$ref": "#/components/parameters/encoding"}),
            json!({"$ref": "#/components/parameters/bom"}),
            json!({"$ref": "#/components/parameters/geometry-csv"}),
            json!({"$ref": "#/components/parameters/bbox"}),
            json!({"$ref": "#/components/parameters/bbox-crs"}),
            json!({"$ref": "#/components/parameters/crs"}),
            json!({"$ref": "#/components/parameters/limit"}),
            json!({"$ref": "#/components/parameters/offset"}),
            json!({"$ref": "#/components/parameters/datetime"}),
            json!({"$ref": "#/components/parameters/properties"}),
            json!({"$ref": "#/components/parameters/filter"}),
            json!({"$ref": "#/components/parameters/filter-lang"}),
            json!({"$ref": "#/components/parameters/filter-crs"}),
        ];
        for c in &layer.columns {
            params.push(json!({
                "name": c.name, "in": "query", "required": false, "style": "form", "explode": false,
                "description": format!("Features whose '{}' equals this value", c.name),
                "schema": c.field_type().json_schema(),
            }));
        }
        // A saved question's parameters (`param.<name>`), with their bounds.
        if let Some(a) = super::read(&data.analyses).get(id) {
            params.extend(a.parameters.iter().map(question_parameter));
        }
        params.push(json!({"$ref": "#/components/parameters/purpose"}));
        paths.insert(
            format!("/collections/{id}"),
            json!({"get": {
                "summary": format!("Describe {}", layer.meta.title),
                "operationId": format!("describeCollection_{id}"),
                "parameters": [{"$ref": "#/components/parameters/f-page"}],
                "responses": json_ok("The collection"),
            }}),
        );
        paths.insert(
            format!("/collections/{id}/queryables"),
            json!({"get": {
                "summary": format!("Queryables of {}", layer.meta.title),
                "operationId": format!("getQueryables_{id}"),
                "responses": {"200": {"description": "JSON Schema of the queryable properties",
                    "content": {"application/schema+json": {"schema": {"type": "object"}}}}},
            }}),
        );
        paths.insert(format!("/collections/{id}/items"), json!({"get": {
            "summary": format!("Features of {}", layer.meta.title),
            "operationId": format!("getFeatures_{id}"),
            "parameters": params,
            "responses": {
                "200": {"description": "A page of features", "headers": {"Content-Crs": {"$ref": "#/components/headers/Content-Crs"}},
                        "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}}},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        }}));
        tile_paths(&mut paths, &layer);
        paths.insert(format!("/collections/{id}/items/{{featureId}}"), json!({"get": {
            "summary": format!("One feature of {}", layer.meta.title),
            "operationId": format!("getFeature_{id}"),
            "parameters": [
                {"name": "featureId", "in": "path", "required": true, "schema": {"type": "integer"}},
                {"$ref": "#/components/parameters/f-features"},
                {"$ref": "#/components/parameters/encoding"},
                {"$ref": "#/components/parameters/bom"},
                {"$ref": "#/components/parameters/geometry-csv"},
                {"$ref": "#/components/parameters/crs"},
                {"$ref": "#/components/parameters/properties"},
            ],
            "responses": {
                "200": {"description": "The feature", "headers": {"Content-Crs": {"$ref": "#/components/headers/Content-Crs"}},
                        "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/Feature"}}}},
                "404": {"$ref": "#/components/responses/Error"},
            },
        }}));
    }

    let crs_enum: Vec<String> = Crs::supported().iter().map(Crs::uri).collect();
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": state.server.title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OGC API – Features (Part 1 Core, GeoJSON, OpenAPI 3.0; Part 2 CRS; Part 3 Filtering with CQL2-text) over municipal geodata in JGD2011.",
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": {
                "f": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false,
                      "schema": {"type": "string", "enum": ["json"]}},
                "f-page": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false,
                           "description": "JSON (the default) or an HTML page (also for a browser's Accept: text/html).",
                           "schema": {"type": "string", "enum": ["json", "html"]}},
                "f-features": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false,
                               "description": "GeoJSON (the default), CSV (the id, the properties, then lon/lat (CRS84) of a point on each feature) or an HTML page with a map and a table (also for a browser's Accept: text/html).",
                               "schema": {"type": "string", "enum": ["json", "csv", "html"]}},
                "encoding": {"name": "encoding", "in": "query", "required": false, "style": "form", "explode": false,
                             "description": "With f=csv: UTF-8 (with a byte-order mark, so Excel reads it as UTF-8) or CP932 (Shift_JIS); a value CP932 cannot hold is a 400 naming the feature and field.",
                             "schema": {"type": "string", "enum": ["utf-8", "cp932"], "default": "utf-8"}},
                "bom": {"name": "bom", "in": "query", "required": false, "style": "form", "explode": false,
                        "description": "With f=csv and UTF-8: whether the byte-order mark comes first.",
                        "schema": {"type": "boolean", "default": true}},
                "geometry-csv": {"name": "geometry", "in": "query", "required": false, "style": "form", "explode": false,
                                 "description": "With f=csv: lon/lat columns of a point on the feature, or the whole geometry as WKT (CRS84) in a 'wkt' column.",
                                 "schema": {"type": "string", "enum": ["lonlat", "wkt"], "default": "lonlat"}},
                "bbox": {"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                         "description": "Only features that intersect the box: minx,miny,maxx,maxy (or 6 numbers with heights), axis order of bbox-crs.",
                         "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
                "bbox-crs": {"name": "bbox-crs", "in": "query", "required": false, "style": "form", "explode": false,
                             "schema": {"type": "string", "format": "uri", "enum": crs_enum}},
                "crs": {"name": "crs", "in": "query", "required": false, "style": "form", "explode": false,
                        "schema": {"type": "string", "format": "uri", "enum": crs_enum}},
                "limit": {"name": "limit", "in": "query", "required": false, "style": "form", "explode": false,
                          "description": format!("Page size; values above {} are clamped.", state.server.max_limit),
                          "schema": {"type": "integer", "minimum": 1, "maximum": state.server.max_limit,
                                     "default": state.server.default_limit}},
                "offset": {"name": "offset", "in": "query", "required": false, "style": "form", "explode": false,
                           "schema": {"type": "integer", "minimum": 0, "default": 0}},
                "datetime": {"name": "datetime", "in": "query", "required": false, "style": "form", "explode": false,
                             "description": "A date, date-time, or interval with '..' for open ends.",
                             "schema": {"type": "string"}},
                "properties": {"name": "properties", "in": "query", "required": false, "style": "form", "explode": false,
                               "description": "Comma-separated properties to include.",
                               "schema": {"type": "array", "items": {"type": "string"}}},
                "filter": {"name": "filter", "in": "query", "required": false, "style": "form", "explode": false,
                           "description": "A CQL2-text filter over the queryables (OGC API – Features Part 3): comparisons, \
    LIKE, BETWEEN, IN, IS NULL, AND/OR/NOT, CASEI, DATE/TIMESTAMP literals, and S_INTERSECTS, S_WITHIN, S_CONTAINS, \
    S_DISJOINT, S_EQUALS, S_TOUCHES, S_OVERLAPS, S_CROSSES, S_DWITHIN (distance in meters) on the geometry with WKT or BBOX literals.",
                           "schema": {"type": "string"},
                           "example": "JINKO > 5000 AND S_NAME LIKE '白山%'"},
                "purpose": {"name": "purpose", "in": "query", "required": false, "style": "form", "explode": false,
                            "description": "Why the page is read (the web map's downloads and prints); kept in the audit log.",
                            "schema": {"type": "string", "enum": ["view", "download", "print"]}},
                "filter-lang": {"name": "filter-lang", "in": "query", "required": false, "style": "form", "explode": false,
                                "description": "The language of 'filter'.",
                                "schema": {"type": "string", "enum": [super::items::FILTER_LANG], "default": super::items::FILTER_LANG}},
                "tileMatrixSetId": {"name": "tileMatrixSetId", "in": "path", "required": true,
                                    "schema": {"type": "string", "enum": [crate::tiles::WEB_MERCATOR_QUAD]}},
                "as_of": {"name": "as_of", "in": "query", "required": false, "style": "form", "explode": false,
                          "description": "The residents layer and analyses over people as they were on this day.",
                          "schema": {"type": "string", "format": "date"}},
                "filter-crs": {"name": "filter-crs", "in": "query", "required": false, "style": "form", "explode": false,
                               "description": "The CRS of the geometry literals in 'filter', in its axis order (default CRS84).",
                               "schema": {"type": "string", "format": "uri", "enum": crs_enum,
                                          "default": chiiki_core::crs::CRS84_URI}},
            },
            "headers": {
                "Content-Crs": {"description": "The CRS of the coordinates, as <URI>.", "schema": {"type": "string"}},
            },
            "responses": {
                "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Exception"}}}},
            },
            "schemas": {
                "Exception": {"type": "object", "required": ["code"],
                              "properties": {"code": {"type": "string"}, "description": {"type": "string"}}},
                "Feature": {"type": "object", "required": ["type", "geometry", "properties"],
                            "properties": {"type": {"type": "string", "enum": ["Feature"]},
                                           "id": {"type": "integer"},
                                           "geometry": {"type": "object", "nullable": true},
                                           "properties": {"type": "object", "nullable": true}}},
                "FeatureCollection": {"type": "object", "required": ["type", "features"],
                                      "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                                                     "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}},
                                                     "numberMatched": {"type": "integer"},
                                                     "numberReturned": {"type": "integer"},
                                                     "timeStamp": {"type": "string", "format": "date-time"},
                                                     "links": {"type": "array", "items": {"type": "object"}}}},
            },
        },
    });
    Ok(json_response(
        doc,
        "application/vnd.oai.openapi+json;version=3.0",
    ))
}

/// `param.<name>` of a saved question, as an OpenAPI query parameter.
fn question_parameter(p: &chiiki_analysis::Parameter) -> serde_json::Value {
    use chiiki_analysis::ParamValue;
    let schema = match &p.default {
        ParamValue::Number(n) => {
            let whole = p.step.is_some_and(|s| s.fract() == 0.0) && n.fract() == 0.0;
            let mut schema = json!({"type": if whole { "integer" } else { "number" },
                                    "minimum": p.min, "maximum": p.max, "default": n});
            // Fractional steps (0.05) are not exact in binary: left to the service.
            if whole {
                schema["multipleOf"] = json!(p.step);
            }
            schema
        }
        ParamValue::Text(t) => json!({"type": "string", "enum": p.choices, "default": t}),
    };
    json!({
        "name": format!("{}{}", super::items::PARAM_PREFIX, p.name), "in": "query", "required": false,
        "style": "form", "explode": false,
        "description": format!("{}{}: asks the saved question with this value instead of its default",
            p.label, p.unit.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()),
        "schema": schema,
    })
}

/// The tile resources of one collection: its tilesets, the tileset and a tile.
fn tile_paths(paths: &mut Map<String, serde_json::Value>, layer: &chiiki_core::layers::Layer) {
    let id = &layer.meta.id;
    let title = &layer.meta.title;
    let json_200 = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"type": "object"}}}});
    paths.insert(format!("/collections/{id}/tiles"), json!({"get": {
        "summary": format!("Tilesets of {title}"),
        "operationId": format!("getTilesets_{id}"),
        "parameters": [{"$ref": "#/components/parameters/f"}, {"$ref": "#/components/parameters/as_of"}],
        "responses": {"200": json_200("The vector tileset"), "404": {"$ref": "#/components/responses/Error"}},
    }}));
    paths.insert(format!("/collections/{id}/tiles/{{tileMatrixSetId}}"), json!({"get": {
        "summary": format!("Vector tileset of {title} (also TileJSON 3.0)"),
        "operationId": format!("getTileset_{id}"),
        "parameters": [{"$ref": "#/components/parameters/tileMatrixSetId"}, {"$ref": "#/components/parameters/f"},
                       {"$ref": "#/components/parameters/as_of"}],
        "responses": {"200": json_200("The tileset metadata"), "404": {"$ref": "#/components/responses/Error"}},
    }}));
    let index = |name: &str, what: &str| {
        json!({"name": name, "in": "path", "required": true, "description": what,
        "schema": {"type": "integer", "minimum": 0}})
    };
    paths.insert(
        format!("/collections/{id}/tiles/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"),
        json!({"get": {
            "summary": format!("A vector tile of {title}"),
            "operationId": format!("getTile_{id}"),
            "parameters": [
                {"$ref": "#/components/parameters/tileMatrixSetId"},
                index("tileMatrix", "The zoom level, 0 to 22"),
                index("tileRow", "The row, from the top"),
                index("tileCol", "The column, from the left"),
                {"$ref": "#/components/parameters/as_of"},
            ],
            "responses": {
                "200": {"description": "The tile: one layer named as the collection, extent 4096, the properties the items endpoint gives the caller",
                        "content": {crate::tiles::MVT: {"schema": {"type": "string", "format": "binary"}}}},
                "204": {"description": "No feature in the tile"},
                "400": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        }}),
    );
}
