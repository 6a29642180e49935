//! OGC API – Tiles over every collection: vector tiles (MVT) in the
//! WebMercatorQuad tile matrix set, with its tileset metadata (also
//! readable by MapLibre as TileJSON) and the tile matrix set itself.
//!
//! A tile is the items endpoint seen through a tile: the same role view of
//! the collection ([`crate::items::dated_view`]: who may read it, which
//! fields are masked or pseudonymised, perturbed aggregates), the same
//! audit entry for anything about people, the same `no-store` on it, and
//! the same validators (`ETag`, 304) on open layers. Only tiles of open
//! stored layers are kept in memory ([`TileCache`]); a tile about people is
//! built, audited and sent each time.
//!
//! A tile with no feature answers `204 No Content` (MapLibre draws nothing
//! for it), not an empty body with a 200.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, ApiError, BaseUrl, Caller, Current, Data, SharedState};
use crate::vector_tile::{TileId, MAX_ZOOM};
use chiiki_core::crs::CRS84_URI;
use chiiki_core::layers::{FieldType, Layer};
use chiiki_core::sensitivity::Privacy;

pub const MVT: &str = "application/vnd.mapbox-vector-tile";
const JSON: &str = "application/json";
/// The one tile matrix set offered.
pub const WEB_MERCATOR_QUAD: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const EPSG_3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";
/// The deepest zoom the tileset metadata advertises: clients overzoom past
/// it (tiles are still served down to [`MAX_ZOOM`]).
const ADVERTISED_MAX_ZOOM: u8 = 18;
/// Half the side of the Web Mercator square, in metres.
const HALF_WORLD: f64 = 20_037_508.342_789_244;
/// What the in-memory tile cache may hold.
pub const TILE_CACHE_BYTES: usize = 64 << 20;

/// Encoded tiles of open stored layers, by generation, layer and tile: a
/// FIFO of bounded size (the oldest tile goes first), so a warm map costs
/// a lookup. Tiles about people are never put here.
pub struct TileCache {
    budget: usize,
    inner: Mutex<CacheInner>,
}

type CacheKey = (u64, String, TileId);

#[derive(Default)]
struct CacheInner {
    tiles: HashMap<CacheKey, Bytes>,
    order: VecDeque<CacheKey>,
    bytes: usize,
}

/// What an entry costs besides its bytes (key, map slot), so that many
/// empty tiles are bounded too.
const ENTRY_OVERHEAD: usize = 96;

impl TileCache {
    pub fn new(budget: usize) -> TileCache {
        TileCache {
            budget,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.lock().tiles.get(key).cloned()
    }

    fn put(&self, key: CacheKey, tile: Bytes) {
        let cost = tile.len() + ENTRY_OVERHEAD;
        // One tile may not push out a large part of the rest.
        if cost > self.budget / 8 {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.tiles.insert(key.clone(), tile) {
            inner.bytes -= old.len() + ENTRY_OVERHEAD;
        } else {
            inner.order.push_back(key);
        }
        inner.bytes += cost;
        while inner.bytes > self.budget {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.tiles.remove(&oldest) {
                inner.bytes -= gone.len() + ENTRY_OVERHEAD;
            }
        }
    }

    /// Bytes held now (tiles and entry overhead).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Whether tiles of `layer` may be kept and validated: an open layer read
/// from the data directory (an analysis result has no import time and is
/// recomputed daily).
fn cacheable(layer: &Layer) -> bool {
    layer.meta.privacy == Privacy::Open && !layer.meta.imported_at.is_empty()
}

/// Accepts only `f=json` (the documents take no other parameter).
fn json_only(raw: &str) -> Result<(), ApiError> {
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "f" if v == "json" || v == JSON => {}
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

/// The tile matrix set `tms`, or 404 for any other.
fn only_web_mercator(tms: &str) -> Result<(), ApiError> {
    if tms == WEB_MERCATOR_QUAD {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no tile matrix set '{tms}'; {WEB_MERCATOR_QUAD} is offered"
        )))
    }
}

/// `GET /tileMatrixSets`.
pub async fn tile_matrix_sets(
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    json_only(raw.as_deref().unwrap_or(""))?;
    let body = json!({
        "links": [{"href": format!("{base}/tileMatrixSets"), "rel": "self", "type": JSON}],
        "tileMatrixSets": [{
            "id": WEB_MERCATOR_QUAD,
            "title": "Google Maps Compatible for the World",
            "uri": TMS_URI,
            "links": [{"href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"),
                       "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": JSON}],
        }],
    });
    Ok(json_response(body, JSON))
}

/// `GET /tileMatrixSets/{tms}`: the OGC Two-Dimensional Tile Matrix Set
/// 2.0 JSON of WebMercatorQuad, zooms 0 to [`MAX_ZOOM`].
pub async fn tile_matrix_set(
    Path(tms): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    json_only(raw.as_deref().unwrap_or(""))?;
    only_web_mercator(&tms)?;
    Ok(json_response(web_mercator_quad(), JSON))
}

fn web_mercator_quad() -> Value {
    let matrices: Vec<Value> = (0..=MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            let cell = 2.0 * HALF_WORLD / 256.0 / n as f64;
            json!({
                "id": z.to_string(),
                "scaleDenominator": cell / 0.00028,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-HALF_WORLD, HALF_WORLD],
                "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": n, "matrixHeight": n,
            })
        })
        .collect();
    json!({
        "id": WEB_MERCATOR_QUAD,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": EPSG_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "boundingBox": {"lowerLeft": [-HALF_WORLD, -HALF_WORLD], "upperRight": [HALF_WORLD, HALF_WORLD],
                        "crs": EPSG_3857},
        "tileMatrices": matrices,
    })
}

/// The collection as `who` reads it, for a document about its tiles.
async fn view(
    state: &SharedState,
    data: Arc<Data>,
    who: chiiki_policy::auth::Principal,
    id: String,
    raw: String,
) -> Result<Arc<Layer>, ApiError> {
    let reader = state.clone();
    state
        .blocking
        .run(move || crate::items::dated_view(&reader, &data, &who, &id, &raw))
        .await
}

/// Accepts `f=json` and `as_of`; the `as_of` given, to carry into links.
fn tileset_query(raw: &str) -> Result<Option<String>, ApiError> {
    let mut as_of = None;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "as_of" => as_of = Some(v.into_owned()),
            name if name.starts_with(crate::items::PARAM_PREFIX) => {}
            "f" if v == "json" || v == JSON => {}
            "f" => {
                return Err(ApiError::bad_request(format!(
                    "unsupported format f={v}; use f=json"
                )))
            }
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    Ok(as_of)
}

/// A document about a collection's tiles (`render`), as [`view`] gives it:
/// validators for open layers, `no-store` for anything about people.
async fn tiles_document(
    state: SharedState,
    data: Arc<Data>,
    who: chiiki_policy::auth::Principal,
    (id, path): (String, String),
    (base, headers, raw): (String, HeaderMap, Option<String>),
    render: fn(&Layer, &str, Option<&str>) -> Value,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    let as_of = tileset_query(&raw)?;
    let layer = view(&state, data, who, id, raw.clone()).await?;
    crate::cache::conditional(&layer, &base, &path, &raw, &headers, || {
        let mut response = json_response(render(&layer, &base, as_of.as_deref()), JSON);
        crate::mark_people(&mut response, &layer);
        Ok(response)
    })
}

/// `GET /collections/{id}/tiles`: the one tileset (vector, WebMercatorQuad).
pub async fn tilesets(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let path = format!("/collections/{id}/tiles");
    tiles_document(
        state,
        data,
        who,
        (id, path),
        (base, headers, raw),
        tilesets_json,
    )
    .await
}

/// `GET /collections/{id}/tiles/{tms}`: the tileset's metadata.
pub async fn tileset(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path((id, tms)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    only_web_mercator(&tms)?;
    let path = format!("/collections/{id}/tiles/{tms}");
    tiles_document(
        state,
        data,
        who,
        (id, path),
        (base, headers, raw),
        tileset_json,
    )
    .await
}

/// `?as_of=…` for links, or nothing.
fn query_suffix(as_of: Option<&str>) -> String {
    match as_of {
        Some(d) => format!(
            "?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("as_of", d)
                .finish()
        ),
        None => String::new(),
    }
}

fn tiling_scheme_link(base: &str) -> Value {
    json!({"href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"),
           "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": JSON,
           "title": "The tile matrix set"})
}

fn tilesets_json(layer: &Layer, base: &str, as_of: Option<&str>) -> Value {
    let id = &layer.meta.id;
    let href = format!("{base}/collections/{id}/tiles");
    let q = query_suffix(as_of);
    json!({
        "links": [
            {"href": format!("{href}{q}"), "rel": "self", "type": JSON, "title": "The tilesets"},
            {"href": format!("{base}/collections/{id}"), "rel": "collection", "type": JSON},
        ],
        "tilesets": [{
            "title": layer.meta.title,
            "dataType": "vector",
            "crs": EPSG_3857,
            "tileMatrixSetURI": TMS_URI,
            "links": [
                {"href": format!("{href}/{WEB_MERCATOR_QUAD}{q}"), "rel": "self", "type": JSON,
                 "title": "Vector tiles in WebMercatorQuad"},
                tiling_scheme_link(base),
            ],
        }],
    })
}

/// Dimension of the layer's geometries, when they all share one.
fn geometry_dimension(layer: &Layer) -> Option<u8> {
    match layer.geometries.type_name() {
        "Point" | "MultiPoint" => Some(0),
        "LineString" | "MultiLineString" => Some(1),
        "Polygon" | "MultiPolygon" => Some(2),
        _ => None,
    }
}

/// TileJSON's name for a property type.
fn tilejson_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Integer | FieldType::Real => "Number",
        FieldType::Boolean => "Boolean",
        FieldType::Text | FieldType::Date | FieldType::DateTime => "String",
    }
}

/// The tileset metadata (OGC API – Tiles) with the TileJSON 3.0 members
/// beside it, so MapLibre can take it as a source `url`.
fn tileset_json(layer: &Layer, base: &str, as_of: Option<&str>) -> Value {
    let id = &layer.meta.id;
    let href = format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}");
    let q = query_suffix(as_of);
    let mut schema = serde_json::Map::new();
    let mut fields = serde_json::Map::new();
    for c in &layer.columns {
        // Dates travel as text in a tile, as in GeoJSON.
        let mut s = c.field_type().json_schema();
        s["title"] = json!(c.name);
        schema.insert(c.name.clone(), s);
        fields.insert(c.name.clone(), json!(tilejson_type(c.field_type())));
    }
    let mut tile_layer = json!({
        "id": id,
        "title": layer.meta.title,
        "dataType": "vector",
        "minTileMatrix": "0",
        "maxTileMatrix": MAX_ZOOM.to_string(),
        "propertiesSchema": {"type": "object", "properties": schema},
    });
    if let Some(d) = geometry_dimension(layer) {
        tile_layer["geometryDimension"] = json!(d);
    }
    let bounds = layer
        .extent
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
        .unwrap_or([-180.0, -85.051_128_78, 180.0, 85.051_128_78]);
    let template = format!("{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{q}");
    let mut body = json!({
        "title": layer.meta.title,
        "dataType": "vector",
        "crs": EPSG_3857,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            {"href": format!("{href}{q}"), "rel": "self", "type": JSON, "title": "This tileset"},
            tiling_scheme_link(base),
            {"href": template, "rel": "item", "type": MVT, "templated": true,
             "title": "A vector tile"},
            {"href": format!("{base}/collections/{id}"), "rel": "collection", "type": JSON},
        ],
        "layers": [tile_layer],
        "boundingBox": {"lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]],
                        "crs": CRS84_URI},
        // TileJSON 3.0, for MapLibre and other web maps.
        "tilejson": "3.0.0",
        "name": id,
        "tiles": [format!("{href}/{{z}}/{{y}}/{{x}}{q}")],
        "minzoom": 0,
        "maxzoom": ADVERTISED_MAX_ZOOM,
        "bounds": bounds,
        "vector_layers": [{"id": id, "fields": fields, "minzoom": 0, "maxzoom": ADVERTISED_MAX_ZOOM}],
    });
    if !layer.meta.attribution.is_empty() {
        body["attribution"] = json!(layer.meta.attribution);
    }
    body
}

/// The tile addressed by a request's path: 400 for what is not a number,
/// 404 for a tile outside the tile matrix set.
fn parse_tile(z: &str, y: &str, x: &str) -> Result<TileId, ApiError> {
    let number = |name: &str, v: &str| {
        v.parse::<u32>()
            .map_err(|_| ApiError::bad_request(format!("{name}={v} is not a non-negative integer")))
    };
    let (z, y, x) = (
        number("tileMatrix", z)?,
        number("tileRow", y)?,
        number("tileCol", x)?,
    );
    TileId::new(z, x, y).ok_or_else(|| {
        ApiError::not_found(format!(
            "tile {z}/{y}/{x} is outside {WEB_MERCATOR_QUAD} (zooms 0 to {MAX_ZOOM})"
        ))
    })
}

/// Accepts `as_of`, `changes_since` and a saved question's `param.<name>`
/// (read by the view) and `f=mvt`.
fn tile_query(raw: &str) -> Result<(), ApiError> {
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "as_of" | "changes_since" => {}
            name if name.starts_with(crate::items::PARAM_PREFIX) => {}
            "f" if v == "mvt" || v == MVT => {}
            "f" => {
                return Err(ApiError::bad_request(format!(
                    "unsupported format f={v}; use f=mvt"
                )))
            }
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    Ok(())
}

/// `GET /collections/{id}/tiles/{tms}/{z}/{y}/{x}`: one vector tile.
#[allow(clippy::too_many_arguments)]
pub async fn tile(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path((id, tms, z, y, x)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    only_web_mercator(&tms)?;
    let tile = parse_tile(&z, &y, &x)?;
    let raw = raw.unwrap_or_default();
    tile_query(&raw)?;
    let reader = state.clone();
    state
        .blocking
        .run(move || {
            let layer = crate::items::dated_view(&reader, &data, &who, &id, &raw)?;
            let path = format!(
                "/collections/{id}/tiles/{WEB_MERCATOR_QUAD}/{}/{}/{}",
                tile.z, tile.y, tile.x
            );
            crate::cache::conditional(&layer, &base, &path, &raw, &headers, || {
                let bytes = tile_bytes(&reader, &data, &who, (&path, &raw), &layer, tile)?;
                Ok(tile_response(bytes, &layer))
            })
        })
        .await
}

/// The encoded tile: from the cache for an open stored layer, else built
/// (and, when about people, audited before it is returned).
fn tile_bytes(
    state: &SharedState,
    data: &Arc<Data>,
    who: &chiiki_policy::auth::Principal,
    (path, raw): (&str, &str),
    layer: &Layer,
    tile: TileId,
) -> Result<Bytes, ApiError> {
    let key = cacheable(layer).then(|| (data.number, layer.meta.id.clone(), tile));
    if let Some(hit) = key.as_ref().and_then(|k| state.tiles.get(k)) {
        return Ok(hit);
    }
    let rows = crate::vector_tile::candidates(layer, tile);
    let encoded = crate::vector_tile::encode(layer, &rows, tile);
    state.audit(data, who, path, raw, layer, &encoded.rows)?;
    let bytes = Bytes::from(encoded.bytes);
    if let Some(k) = key {
        state.tiles.put(k, bytes.clone());
    }
    Ok(bytes)
}

/// 200 with the tile, or 204 when no feature reached it.
fn tile_response(bytes: Bytes, layer: &Layer) -> Response {
    let empty = bytes.is_empty();
    let mut response = Response::new(Body::from(bytes));
    if empty {
        *response.status_mut() = StatusCode::NO_CONTENT;
    } else {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT));
    }
    crate::mark_people(&mut response, layer);
    response
}

/// Where a collection's tilesets are listed.
pub fn tiles_href(base: &str, id: &str) -> String {
    format!("{base}/collections/{id}/tiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_budget_oldest_out_first() {
        let cache = TileCache::new(8 * (1000 + ENTRY_OVERHEAD));
        let key = |x: u32| (1, "flood".to_string(), TileId::new(14, x, 0).unwrap());
        for x in 0..20 {
            cache.put(key(x), Bytes::from(vec![0u8; 1000]));
            assert!(cache.bytes() <= 8 * (1000 + ENTRY_OVERHEAD));
        }
        assert!(cache.get(&key(0)).is_none());
        assert_eq!(cache.get(&key(19)).map(|b| b.len()), Some(1000));
        // Too large a tile is not kept.
        cache.put(key(99), Bytes::from(vec![0u8; 5000]));
        assert!(cache.get(&key(99)).is_none());
    }

    #[test]
    fn tile_paths_are_checked() {
        assert!(parse_tile("14", "6450", "14551").is_ok());
        assert_eq!(
            parse_tile("a", "0", "0").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_tile("1", "2", "0").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse_tile("30", "0", "0").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert!(only_web_mercator("WorldCRS84Quad").is_err());
        assert!(tile_query("as_of=2026-10-01&f=mvt").is_ok());
        assert!(tile_query("bbox=1,2,3,4").is_err());
    }

    #[test]
    fn the_tile_matrix_set_halves_its_cells_each_zoom() {
        let tms = web_mercator_quad();
        let m = tms["tileMatrices"].as_array().unwrap();
        assert_eq!(m.len(), usize::from(MAX_ZOOM) + 1);
        let cell0 = m[0]["cellSize"].as_f64().unwrap();
        assert!((cell0 - 156_543.033_928_041).abs() < 1e-6);
        assert!((m[0]["scaleDenominator"].as_f64().unwrap() - 559_082_264.028_717_8).abs() < 1e-3);
        assert_eq!(m[14]["matrixWidth"], 16384);
        assert!((m[14]["cellSize"].as_f64().unwrap() * 16384.0 - cell0).abs() < 1e-6);
    }
}
