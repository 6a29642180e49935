//! `POST /notifications`: the residents of an area who meet criteria, as a
//! list for a notification system (千葉市 pushes notices to the residents
//! of an area), or as a count for roles that may not read the list.
//!
//! ```json
//! { "source": "residents",
//!   "area": {"polygon": {…GeoJSON Polygon or MultiPolygon, CRS84…}}
//!         | {"mesh": ["53394611", "533946114"]}
//!         | {"collection": "bunkyo_towns", "filter": "S_NAME = '白山一丁目'"},
//!   "filter": "age >= 65",
//!   "count_only": false }
//! ```
//!
//! Who gets what:
//!
//! - A caller whose role reads the people of `source` gets them: exactly
//!   the rows and fields `/collections/{source}/items` gives it (the same
//!   view, masked and pseudonymised alike; `filter` works on that view, so
//!   it cannot probe a field the role does not see), as GeoJSON or, with
//!   `f=csv`, the CSV of items. Every person listed is in the audit log, as
//!   for items, with `purpose=notification`. `count_only` gives the number
//!   of that list instead.
//! - A caller whose role reads only counts of those people (named by a
//!   saved aggregate over them: the demo's analyst and health staff on
//!   `residents`) gets a count, protected as its aggregates are: the same
//!   cell-key perturbation over the same record keys, so the same people
//!   always get the same value and 1 … k − 1 is never published. Its
//!   `filter` may not name an identifier (name, address, birth date,
//!   住民票コード …; `age` is allowed), since a count of people picked by
//!   name singles them out. The computation is audited with every person
//!   counted, as an aggregate's is.
//! - Anyone else gets 404, word for word as items answer for a collection
//!   they may not read; the same for an area collection they may not read.
//!   Without a token the answer is 401, whatever the source: the endpoint
//!   needs a token, and saying so tells nothing about any collection.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::items::{csv_body, csv_only, csv_option, csv_response, features_body, GEOJSON};
use crate::writer::{CoordinateOutput, CsvOptions};
use crate::{ApiError, AppState, Caller, Current, Data, SharedState};
use chiiki_analysis::area::{Area, Rings};
use chiiki_core::crs::Crs;
use chiiki_core::layers::Layer;
use chiiki_core::sensitivity::{Label, Privacy};
use chiiki_policy::auth::Principal;
use chiiki_query::Filter;

/// The collection of people asked about when a request names none.
pub const DEFAULT_SOURCE: &str = "residents";
/// Why the people are read, as the audit log keeps it (items log `view`,
/// `download` or `print`).
pub const PURPOSE: &str = "notification";

const FIELDS: &str = "source, area, filter and count_only";

/// A request, checked field by field.
#[derive(Debug)]
struct Asked {
    source: String,
    area: AreaAsked,
    filter: Option<String>,
    count_only: bool,
}

#[derive(Debug)]
enum AreaAsked {
    Polygon(Rings),
    Mesh(Vec<String>),
    Collection { id: String, filter: Option<String> },
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

/// Reads the body; a refusal names the field (`area.mesh[1]`, `filter`).
fn parse_body(bytes: &[u8]) -> Result<Asked, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(format!(
            "body: not JSON ({e}); send {{\"area\": {{\"mesh\": [\"53394611\"]}}, \"filter\": \"age >= 65\"}}"
        ))
    })?;
    let Value::Object(object) = value else {
        return Err(bad(format!("body: must be a JSON object with {FIELDS}")));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !["source", "area", "filter", "count_only"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "{unknown}: unknown field; a notification request has {FIELDS}"
        )));
    }
    let source = match object.get("source") {
        None => DEFAULT_SOURCE.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(bad(format!(
                "source: must be the id of a collection of people, not {other}"
            )))
        }
    };
    let filter = text_field(&object, "filter", "filter")?;
    let count_only = match object.get("count_only") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(bad(format!(
                "count_only: must be true or false, not {other}"
            )))
        }
    };
    let area = match object.get("area") {
        Some(Value::Object(area)) => parse_area(area)?,
        Some(other) => return Err(bad(format!("area: must be an object, not {other}"))),
        None => {
            return Err(bad(
                "area: missing; give {\"polygon\": …}, {\"mesh\": […]} or {\"collection\": …}"
                    .into(),
            ))
        }
    };
    Ok(Asked {
        source,
        area,
        filter,
        count_only,
    })
}

/// An optional non-empty string field.
fn text_field(
    object: &Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(bad(format!("{name}: is empty; leave it out for none"))),
        Some(other) => Err(bad(format!("{name}: must be CQL2 text, not {other}"))),
    }
}

fn parse_area(area: &Map<String, Value>) -> Result<AreaAsked, ApiError> {
    if let Some(unknown) = area
        .keys()
        .find(|k| !["polygon", "mesh", "collection", "filter"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "area.{unknown}: unknown field; an area is a polygon, mesh codes, or a collection with an optional filter"
        )));
    }
    let given: Vec<&str> = ["polygon", "mesh", "collection"]
        .into_iter()
        .filter(|k| area.contains_key(*k))
        .collect();
    if given.len() != 1 {
        return Err(bad(format!(
            "area: give exactly one of polygon, mesh and collection ({})",
            if given.is_empty() {
                "none given".to_string()
            } else {
                format!("{} given", given.join(" and "))
            }
        )));
    }
    if area.contains_key("filter") && given[0] != "collection" {
        return Err(bad("area.filter: applies to area.collection only".into()));
    }
    match given[0] {
        "polygon" => Ok(AreaAsked::Polygon(polygon_rings(&area["polygon"])?)),
        "mesh" => {
            let Value::Array(codes) = &area["mesh"] else {
                return Err(bad(format!(
                    "area.mesh: must be a list of JIS X 0410 mesh codes, not {}",
                    area["mesh"]
                )));
            };
            codes
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) if n.is_u64() => Ok(n.to_string()),
                    other => Err(bad(format!(
                        "area.mesh[{i}]: {other} is not a JIS X 0410 mesh code"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(AreaAsked::Mesh)
        }
        _ => {
            let id = match &area["collection"] {
                Value::String(s) if !s.is_empty() => s.clone(),
                other => {
                    return Err(bad(format!(
                        "area.collection: must be a collection id, not {other}"
                    )))
                }
            };
            Ok(AreaAsked::Collection {
                id,
                filter: text_field(area, "filter", "area.filter")?,
            })
        }
    }
}

/// The rings of a GeoJSON Polygon or MultiPolygon geometry.
fn polygon_rings(value: &Value) -> Result<Rings, ApiError> {
    let field = "area.polygon";
    let geometry = geojson::Geometry::from_json_value(value.clone())
        .map_err(|e| bad(format!("{field}: not a GeoJSON geometry ({e})")))?;
    let positions = |ring: Vec<geojson::Position>| -> Result<Vec<[f64; 2]>, ApiError> {
        ring.into_iter()
            .map(|p| match p.as_slice() {
                [x, y] | [x, y, _] => Ok([*x, *y]),
                _ => Err(bad(format!(
                    "{field}: a position must be [longitude, latitude], not {p:?}"
                ))),
            })
            .collect()
    };
    let polygon = |rings: Vec<Vec<geojson::Position>>| -> Result<Vec<Vec<[f64; 2]>>, ApiError> {
        rings.into_iter().map(positions).collect()
    };
    match geometry.value {
        geojson::Value::Polygon(rings) => Ok(vec![polygon(rings)?]),
        geojson::Value::MultiPolygon(polygons) => polygons.into_iter().map(polygon).collect(),
        other => Err(bad(format!(
            "{field}: a {} has no area; draw a Polygon or MultiPolygon",
            other.type_name()
        ))),
    }
}

/// How the list is written: GeoJSON, or the CSV of items with its options.
#[derive(Debug, Clone, Copy)]
struct Format {
    csv: bool,
    options: CsvOptions,
}

fn parse_format(raw: &str) -> Result<Format, ApiError> {
    let mut format = Format {
        csv: false,
        options: CsvOptions::default(),
    };
    let mut csv_given = false;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if csv_option(&key, &value, &mut format.options)? {
            csv_given = true;
            continue;
        }
        match (key.as_ref(), value.as_ref()) {
            ("f", "csv" | "text/csv") => format.csv = true,
            ("f", "json" | "geojson" | "application/geo+json") => format.csv = false,
            ("f", other) => {
                return Err(bad(format!(
                    "unsupported format f={other}; use f=json (GeoJSON, the default) or f=csv"
                )))
            }
            (name, _) => return Err(ApiError::unknown_parameter(name)),
        }
    }
    csv_only(format.csv, &format.options, csv_given)?;
    Ok(format)
}

/// `POST /notifications`.
pub async fn post(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    RawQuery(raw): RawQuery,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    if who.is_anonymous() {
        return Err(ApiError::unauthorized(
            "notification lists need a token of a role that reads people or counts of them",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::limits::too_large(state.limits.max_body_bytes)
        } else {
            bad(format!("body: {e}"))
        }
    })?;
    if body.len() > state.limits.max_body_bytes {
        return Err(crate::limits::too_large(state.limits.max_body_bytes));
    }
    let asked = parse_body(&body)?;
    let format = parse_format(raw.as_deref().unwrap_or(""))?;
    let worker = state.clone();
    state
        .blocking
        .run(move || answer(&worker, &data, &who, asked, format))
        .await
}

/// An area checked as far as it can be before the caller's rights are:
/// drawn (a polygon, mesh codes), or a collection still to be read.
enum Pending {
    Drawn(Area),
    Collection { id: String, filter: Option<String> },
}

/// What the caller may have of the source.
enum Source {
    /// The caller's view of a collection of people: the list.
    List(Arc<Layer>),
    /// A stored layer of people the caller reads only as counts.
    Counted(Arc<Layer>),
}

fn answer(
    state: &AppState,
    data: &Arc<Data>,
    who: &Principal,
    asked: Asked,
    format: Format,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    // The area's own checks first: a malformed request is a 400 whoever asks.
    let pending = match asked.area {
        AreaAsked::Polygon(rings) => Pending::Drawn(Area::from_rings(rings, "area.polygon")?),
        AreaAsked::Mesh(codes) => Pending::Drawn(Area::mesh(&codes, "area.mesh")?),
        AreaAsked::Collection { id, filter } => Pending::Collection { id, filter },
    };
    let source = resolve_source(state, data, who, &asked.source)?;
    let (area, area_log) = match pending {
        Pending::Drawn(area) => {
            let log = area.describe();
            (area, vec![("area".to_string(), log)])
        }
        Pending::Collection { id, filter } => {
            area_of_collection(state, data, who, &id, filter.as_deref())?
        }
    };
    let layer = match &source {
        Source::List(l) | Source::Counted(l) => l.clone(),
    };
    if let (Source::Counted(_), Some(text)) = (&source, &asked.filter) {
        refuse_identifiers(&layer, text)?;
    }
    let filter = match &asked.filter {
        Some(text) => Some(bind_filter(state, data, &layer, text, "filter")?),
        None => None,
    };
    let mut rows = area.select(&layer);
    if let Some(f) = &filter {
        rows = f.select(&layer, Some(&rows));
    }
    // What the log keeps of the request: values compared with identifiers
    // hashed, as for items.
    let mut logged = vec![("purpose".to_string(), PURPOSE.to_string())];
    logged.push(("source".into(), asked.source.clone()));
    logged.extend(area_log);
    if let Some(text) = &asked.filter {
        logged.push((
            "filter".into(),
            crate::redact_filter(&layer, text, state.audit.key()),
        ));
    }
    if asked.count_only {
        logged.push(("count_only".into(), "true".into()));
    }
    if format.csv {
        logged.push(("f".into(), "csv".into()));
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&logged)
        .finish();
    tracing::info!(
        "notifications: {} of '{}' in {} for role {} in {:.1?}",
        rows.len(),
        asked.source,
        area.describe(),
        who.role.name,
        started.elapsed()
    );
    match source {
        Source::List(view) if !asked.count_only => {
            list_response(state, data, who, &asked.source, view, rows, &query, format)
        }
        Source::List(view) => {
            count_response(state, data, who, &asked.source, &view, &rows, &query, true)
        }
        Source::Counted(base) => {
            let exact = who.role.exact_aggregates;
            count_response(state, data, who, &asked.source, &base, &rows, &query, exact)
        }
    }
}

/// The source as the caller may have it, or the 404 items would give.
fn resolve_source(
    state: &AppState,
    data: &Data,
    who: &Principal,
    id: &str,
) -> Result<Source, ApiError> {
    match state.readable(data, who, id) {
        Ok(view) if matches!(view.meta.privacy, Privacy::Individuals { .. }) => {
            Ok(Source::List(view))
        }
        Ok(_) => Err(bad(format!(
            "source: '{id}' is not a collection of people; name the residents layer or a saved list of people"
        ))),
        Err(missing) if missing.status == StatusCode::NOT_FOUND => {
            counted_population(state, data, who, id)
                .map(Source::Counted)
                .ok_or(missing)
        }
        Err(other) => Err(other),
    }
}

/// Stored layer of people `id` when `who`'s role reads counts of its people:
/// a saved aggregate over them names the role (the demo's analysts and
/// health staff read the ward's aggregates of residents). Public
/// aggregates do not count: a free-form count is more than a published
/// table, so it needs a grant.
fn counted_population(
    state: &AppState,
    data: &Data,
    who: &Principal,
    id: &str,
) -> Option<Arc<Layer>> {
    let layer = data.layers.get(id)?;
    match &layer.meta.privacy {
        Privacy::Individuals { population, .. } if population == id => {}
        _ => return None,
    }
    let granted: Vec<chiiki_analysis::Analysis> = crate::read(&data.analyses)
        .values()
        .filter(|a| {
            a.roles.contains(&who.role.name)
                && matches!(a.operation, chiiki_analysis::Operation::Aggregate { .. })
        })
        .cloned()
        .collect();
    let counts_them = granted.iter().any(|a| {
        state
            .analysis_result(data, a)
            .is_ok_and(|result| {
                matches!(&result.meta.privacy, Privacy::Aggregate { population } if population == id)
            })
    });
    counts_them.then(|| layer.clone())
}

/// The polygons of collection `id` as the caller may read it, picked by
/// `filter`; and what the log keeps of them.
fn area_of_collection(
    state: &AppState,
    data: &Data,
    who: &Principal,
    id: &str,
    filter: Option<&str>,
) -> Result<(Area, Vec<(String, String)>), ApiError> {
    let view = state.readable(data, who, id)?;
    let rows: Vec<u32> = match filter {
        Some(text) => bind_filter(state, data, &view, text, "area.filter")?.select(&view, None),
        None => (0..view.len() as u32).collect(),
    };
    if rows.is_empty() {
        return Err(bad(format!("area.filter: picks no feature of '{id}'")));
    }
    let area = Area::polygons_of(&view, &rows, "area.collection")?;
    let mut log = vec![("area.collection".to_string(), id.to_string())];
    if let Some(text) = filter {
        log.push((
            "area.filter".into(),
            crate::redact_filter(&view, text, state.audit.key()),
        ));
    }
    Ok((area, log))
}

/// `text` bound to `layer`, with ages counted on the data's day, within the
/// service's limit of terms; a refusal names `field`.
fn bind_filter(
    state: &AppState,
    data: &Data,
    layer: &Layer,
    text: &str,
    field: &str,
) -> Result<Filter, ApiError> {
    let filter = Filter::on_date(text, layer, Crs::Crs84, data.day())
        .map_err(|e| bad(format!("{field}: {e}")))?;
    if filter.terms() > state.limits.max_filter_terms {
        return Err(bad(format!(
            "{field}: {} terms; the limit is {}",
            filter.terms(),
            state.limits.max_filter_terms
        )));
    }
    Ok(filter)
}

/// Refuses a count's filter that names an identifier of `layer` (a name,
/// an address, a birth date, a 住民票コード or 世帯番号, a record key): a
/// count of the people so picked tells about them one by one. `age` is a
/// band of birth dates and is allowed, as in aggregates.
fn refuse_identifiers(layer: &Layer, text: &str) -> Result<(), ApiError> {
    let expr = chiiki_query::cql2::parse(text).map_err(|e| bad(format!("filter: {e}")))?;
    match chiiki_query::properties::named(&expr)
        .into_iter()
        .find(|p| layer.label(p) == Label::Identifier)
    {
        Some(p) => Err(bad(format!(
            "filter: '{p}' is an identifier of '{}'; a count for a role that may not read the list may not single people out (use `age` for birth dates)",
            layer.meta.id
        ))),
        None => Ok(()),
    }
}

/// The list: every person selected, as items would give them, audited
/// before it is sent.
#[allow(clippy::too_many_arguments)]
fn list_response(
    state: &AppState,
    data: &Data,
    who: &Principal,
    source: &str,
    view: Arc<Layer>,
    rows: Vec<u32>,
    query: &str,
    format: Format,
) -> Result<Response, ApiError> {
    let columns: Vec<usize> = (0..view.columns.len()).collect();
    let request = format!("POST /notifications?{query}");
    if format.csv {
        let body = csv_body(&view, &rows, &columns, format.options)?;
        state.audit_request(data, who, request, &view, &rows)?;
        return Ok(csv_response(
            body,
            format.options,
            &format!("{PURPOSE}-{source}"),
            &view,
        ));
    }
    state.audit_request(data, who, request, &view, &rows)?;
    // As a page of items starts, every person on the one page.
    let head = format!(
        "{{\"type\":\"FeatureCollection\",\"timeStamp\":\"{}\",\"source\":{},\"as_of\":\"{}\",\"numberMatched\":{},\"numberReturned\":{},\"features\":[",
        chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Value::String(source.to_string()),
        data.day(),
        rows.len(),
        rows.len()
    )
    .into_bytes();
    let coords = CoordinateOutput::new(Crs::Crs84).map_err(|e| {
        tracing::error!("CRS84 output: {e}");
        ApiError::internal()
    })?;
    let body = features_body(view.clone(), columns, coords, Crs::Crs84, rows, head);
    let mut response = Response::new(body);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(GEOJSON),
    );
    crate::mark_people(&mut response, &view);
    Ok(response)
}

/// The number of people selected: exact, or as aggregates are published
/// to the caller's role (cell-key perturbed from the people's record
/// keys). The computation is logged with everyone counted, as an
/// aggregate's is.
#[allow(clippy::too_many_arguments)]
fn count_response(
    state: &AppState,
    data: &Data,
    who: &Principal,
    source: &str,
    layer: &Layer,
    rows: &[u32],
    query: &str,
    exact: bool,
) -> Result<Response, ApiError> {
    let population = layer.meta.privacy.population().unwrap_or(source);
    let ids: Vec<i64> = rows
        .iter()
        .map(|&r| match &layer.record_ids {
            Some(real) => real[r as usize],
            None => layer.fids[r as usize],
        })
        .collect();
    let n = ids.len() as u64;
    let count = if exact {
        n
    } else {
        let keys = state.record_keys(data, population);
        let key = chiiki_policy::privacy::perturbation::cell_key(
            ids.iter().map(|id| keys.get(id).copied().unwrap_or(0)),
        );
        state.ptable.perturb(n, key)
    };
    state.audit.record(&chiiki_policy::audit::Disclosure {
        token: who.token_id.as_deref(),
        role: &who.role.name,
        request: format!(
            "COMPUTE notification count: POST /notifications?{query} ({}, generation {}, as of {})",
            if exact { "exact" } else { "cell-key perturbed" },
            data.number,
            data.day()
        ),
        collection: source,
        population,
        ids: &ids,
    })?;
    let mut answer = serde_json::json!({
        "source": source,
        "count": count,
        "protected": !exact,
        "as_of": data.day().to_string(),
    });
    if !exact {
        answer["k"] = state.ptable.k().into();
        answer["description"] = format!(
            "perturbed by the cell-key method as this role's aggregates are: the same people always give the same value, a count of 1 to {} is published as 0 or {}, larger counts move by up to 2",
            state.ptable.k() - 1,
            state.ptable.k()
        )
        .into();
    }
    let mut response = crate::json_response(answer, "application/json");
    response.extensions_mut().insert(crate::AboutPeople);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> String {
        let e = parse_body(body.as_bytes()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
        e.description
    }

    #[test]
    fn bodies_are_checked_field_by_field() {
        let ok =
            parse_body(br#"{"area": {"mesh": ["53394611", 533946114]}, "filter": "age >= 65"}"#)
                .unwrap();
        assert_eq!(ok.source, DEFAULT_SOURCE);
        assert!(!ok.count_only);
        assert!(matches!(&ok.area, AreaAsked::Mesh(c) if c == &["53394611", "533946114"]));
        for (body, field) in [
            (r#"{"area": {"mesh": ["1"]}, "colour": 1}"#, "colour:"),
            (r#"{"area": {"mesh": ["1"], "size": 2}}"#, "area.size:"),
            (r#"{"area": {"mesh": ["1", true]}}"#, "area.mesh[1]:"),
            (r#"{"area": {"mesh": "53394611"}}"#, "area.mesh:"),
            (r#"{"area": {"mesh": ["1"], "collection": "x"}}"#, "area:"),
            (r#"{"area": {}}"#, "area:"),
            (r#"{"filter": "age > 1"}"#, "area:"),
            (
                r#"{"area": {"mesh": ["1"], "filter": "x = 1"}}"#,
                "area.filter:",
            ),
            (
                r#"{"area": {"collection": "t", "filter": 3}}"#,
                "area.filter:",
            ),
            (r#"{"area": {"collection": ""}}"#, "area.collection:"),
            (r#"{"area": {"mesh": ["1"]}, "filter": ""}"#, "filter:"),
            (
                r#"{"area": {"mesh": ["1"]}, "count_only": "yes"}"#,
                "count_only:",
            ),
            (r#"{"area": {"mesh": ["1"]}, "source": 7}"#, "source:"),
            (
                r#"{"area": {"polygon": {"type": "Point", "coordinates": [139.7, 35.7]}}}"#,
                "area.polygon:",
            ),
            (
                r#"{"area": {"polygon": {"type": "Feature"}}}"#,
                "area.polygon:",
            ),
            ("[1]", "body:"),
            ("{", "body:"),
        ] {
            let said = refused(body);
            assert!(said.starts_with(field), "{body}: {said}");
        }
    }

    #[test]
    fn polygons_keep_their_rings() {
        let asked = parse_body(
            br#"{"area": {"polygon": {"type": "MultiPolygon", "coordinates": [
                [[[0,0],[1,0],[1,1],[0,0]]],
                [[[2,2],[3,2],[3,3],[2,2]], [[2.1,2.1],[2.2,2.1],[2.2,2.2],[2.1,2.1]]]]}}}"#,
        )
        .unwrap();
        let AreaAsked::Polygon(rings) = asked.area else {
            panic!("a polygon")
        };
        assert_eq!(rings.len(), 2);
        assert_eq!(rings[1].len(), 2);
        assert_eq!(rings[1][1][2], [2.2, 2.2]);
    }

    #[test]
    fn formats_are_json_or_the_csv_of_items() {
        assert!(!parse_format("").unwrap().csv);
        assert!(parse_format("f=csv&encoding=cp932").unwrap().csv);
        assert!(parse_format("f=xml").is_err());
        assert!(parse_format("bom=false").is_err(), "CSV options need f=csv");
        assert_eq!(
            parse_format("limit=5").unwrap_err().code,
            "InvalidParameter"
        );
    }
}
