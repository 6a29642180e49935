//! `/collections/{id}/items` and `/collections/{id}/items/{fid}`.

use crate::source::{FeatureSource, MemorySource, Page, PostgisSource};
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use geo::Rect;

use super::writer::{CoordinateOutput, CsvEncoding, CsvGeometry, CsvOptions, FeatureWriter};
use super::{ApiError, BaseUrl, Caller, Current, Data, SharedState};
use chiiki_core::crs::{Crs, Transform};
use chiiki_core::layers::column::days_from_date;
use chiiki_core::layers::{ColumnData, FieldType, Layer, Value};
use chiiki_query::Filter;

pub(crate) const GEOJSON: &str = "application/geo+json";
/// The one `filter-lang` offered.
pub const FILTER_LANG: &str = "cql2-text";
/// Pages with more features than this are streamed in chunks of this size.
const CHUNK: usize = 1000;

/// A parsed and validated items request.
#[derive(Debug)]
pub struct ItemsQuery {
    pub limit: usize,
    pub offset: usize,
    /// In storage lon/lat.
    pub bbox: Option<Rect<f64>>,
    pub crs: Crs,
    /// Columns to write, in order.
    pub columns: Vec<usize>,
    /// Equality filters: column index and value.
    pub filters: Vec<(usize, Value)>,
    /// Inclusive bounds in milliseconds since the epoch.
    pub datetime: Option<(Option<i64>, Option<i64>)>,
    /// The CQL2 `filter`, bound to the layer.
    pub filter: Option<Filter>,
    /// The parameters as given, minus offset, for next/prev links.
    pub link_params: Vec<(String, String)>,
    /// `f=csv`: the page as CSV (attributes, then lon/lat of a point on the
    /// feature, or its WKT), as [`ItemsQuery::csv_options`] says.
    pub csv: bool,
    /// `encoding`, `bom` and `geometry` (with `f=csv` only).
    pub csv_options: CsvOptions,
}

/// Reads a CSV option (`encoding=utf-8|cp932`, `bom=true|false`,
/// `geometry=lonlat|wkt`) into `options`; `false` when `key` is none.
pub(crate) fn csv_option(
    key: &str,
    value: &str,
    options: &mut CsvOptions,
) -> Result<bool, ApiError> {
    match key {
        "encoding" => {
            options.encoding = match value.to_ascii_lowercase().as_str() {
                "utf-8" | "utf8" => CsvEncoding::Utf8,
                "cp932" | "shift_jis" | "sjis" | "windows-31j" => CsvEncoding::Cp932,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "encoding={value}: use utf-8 (the default) or cp932"
                    )))
                }
            }
        }
        "bom" => {
            options.bom = match value {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "bom={value}: use true or false"
                    )))
                }
            }
        }
        "geometry" => {
            options.geometry = match value {
                "lonlat" => CsvGeometry::LonLat,
                "wkt" => CsvGeometry::Wkt,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "geometry={value}: use lonlat (the default) or wkt"
                    )))
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Refuses CSV options on a request that is not for CSV.
pub(crate) fn csv_only(csv: bool, options: &CsvOptions, given: bool) -> Result<(), ApiError> {
    if given && !csv {
        return Err(ApiError::bad_request(format!(
            "encoding, bom and geometry apply to f=csv only{}",
            if *options == CsvOptions::default() {
                ""
            } else {
                "; add f=csv"
            }
        )));
    }
    Ok(())
}

/// `rows` of `layer` as a CSV response (not yet audited: the caller logs
/// once the body is written, so a refusal is not logged as a disclosure).
pub(crate) fn csv_body(
    layer: &Layer,
    rows: &[u32],
    columns: &[usize],
    options: CsvOptions,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(rows.len() * 120 + 256);
    crate::writer::write_csv_rows(
        layer,
        rows.iter().map(|&r| r as usize),
        columns,
        options,
        &mut body,
    )
    .map_err(|e| match e {
        crate::writer::CsvError::Unmappable { .. } => ApiError::bad_request(e.to_string()),
        crate::writer::CsvError::Io(e) => {
            tracing::error!("writing CSV: {e:#}");
            ApiError::internal()
        }
    })?;
    Ok(body)
}

pub(crate) fn csv_response(
    body: Vec<u8>,
    options: CsvOptions,
    id: &str,
    layer: &Layer,
) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(options.content_type()),
    );
    // A browser saves it under a name that opens in Excel.
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{id}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    crate::mark_people(&mut response, layer);
    response
}

fn parse_usize(name: &str, value: &str) -> Result<usize, ApiError> {
    value
        .trim()
        .parse::<usize>()
        .map_err(|_| ApiError::bad_request(format!("{name}={value} is not a non-negative integer")))
}

fn parse_bbox(value: &str) -> Result<[f64; 4], ApiError> {
    let nums: Result<Vec<f64>, _> = value.split(',').map(|s| s.trim().parse::<f64>()).collect();
    let nums = nums.map_err(|_| {
        ApiError::bad_request(format!(
            "bbox={value} must be 4 or 6 comma-separated numbers"
        ))
    })?;
    let b = match nums.len() {
        4 => [nums[0], nums[1], nums[2], nums[3]],
        // minx,miny,minz,maxx,maxy,maxz: the heights do not restrict 2-D data.
        6 => [nums[0], nums[1], nums[3], nums[4]],
        n => {
            return Err(ApiError::bad_request(format!(
                "bbox={value} has {n} numbers; it must have 4 or 6"
            )))
        }
    };
    if b.iter().any(|v| !v.is_finite()) {
        return Err(ApiError::bad_request(format!(
            "bbox={value} contains a non-finite number"
        )));
    }
    if b[0] > b[2] || b[1] > b[3] {
        return Err(ApiError::bad_request(format!(
            "bbox={value}: the lower corner must not exceed the upper corner"
        )));
    }
    Ok(b)
}

/// The bbox in storage lon/lat. Edges are densified before transforming so
/// that a rectangle in a projected CRS is covered by its lon/lat envelope.
fn bbox_to_storage(b: [f64; 4], crs: Crs) -> Result<Rect<f64>, ApiError> {
    // Axis order of the bbox follows the bbox CRS.
    let (x0, y0, x1, y1) = if crs.northing_first() {
        (b[1], b[0], b[3], b[2])
    } else {
        (b[0], b[1], b[2], b[3])
    };
    if crs.is_storage_equivalent() {
        return Ok(Rect::new(
            geo::coord! {x: x0, y: y0},
            geo::coord! {x: x1, y: y1},
        ));
    }
    let t = Transform::to_storage(crs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    const STEPS: usize = 16;
    for i in 0..=STEPS {
        let f = i as f64 / STEPS as f64;
        let x = x0 + (x1 - x0) * f;
        let y = y0 + (y1 - y0) * f;
        for (px, py) in [(x, y0), (x, y1), (x0, y), (x1, y)] {
            let (lon, lat) = t
                .apply(px, py)
                .map_err(|e| ApiError::bad_request(format!("bbox cannot be transformed: {e}")))?;
            if !lon.is_finite() || !lat.is_finite() {
                return Err(ApiError::bad_request(
                    "bbox lies outside the area of its CRS",
                ));
            }
            minx = minx.min(lon);
            miny = miny.min(lat);
            maxx = maxx.max(lon);
            maxy = maxy.max(lat);
        }
    }
    Ok(Rect::new(
        geo::coord! {x: minx, y: miny},
        geo::coord! {x: maxx, y: maxy},
    ))
}

fn parse_crs(name: &str, value: &str) -> Result<Crs, ApiError> {
    let crs = Crs::parse(value).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
    if !crs.is_supported() {
        return Err(ApiError::bad_request(format!(
            "{name}={value} is not offered; see the collection's 'crs' list"
        )));
    }
    Ok(crs)
}

/// Parses a date or date-time into inclusive millisecond bounds.
fn parse_instant(s: &str) -> Option<(i64, i64)> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let start = days_from_date(d) as i64 * 86_400_000;
        return Some((start, start + 86_399_999));
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_millis();
    Some((t, t))
}

fn parse_datetime(value: &str) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "datetime={value} must be a date, an RFC 3339 date-time, or an interval start/end with '..' for open ends"
        ))
    };
    if let Some((a, b)) = value.split_once('/') {
        let lo = match a {
            "" | ".." => None,
            s => Some(parse_instant(s).ok_or_else(bad)?.0),
        };
        let hi = match b {
            "" | ".." => None,
            s => Some(parse_instant(s).ok_or_else(bad)?.1),
        };
        if let (Some(l), Some(h)) = (lo, hi) {
            if l > h {
                return Err(bad());
            }
        }
        Ok((lo, hi))
    } else {
        let (lo, hi) = parse_instant(value).ok_or_else(bad)?;
        Ok((Some(lo), Some(hi)))
    }
}

fn parse_filter_value(layer: &Layer, col: usize, raw: &str) -> Result<Value, ApiError> {
    let column = &layer.columns[col];
    let bad = |what: &str| ApiError::bad_request(format!("{}={raw}: expected {what}", column.name));
    Ok(match column.field_type() {
        FieldType::Integer => Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        FieldType::Real => Value::Real(raw.trim().parse().map_err(|_| bad("a number"))?),
        FieldType::Text => Value::Text(raw.to_string()),
        FieldType::Boolean => match raw {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return Err(bad("true or false")),
        },
        FieldType::Date => Value::Date(
            chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(days_from_date)
                .map_err(|_| bad("a date YYYY-MM-DD"))?,
        ),
        FieldType::DateTime => Value::DateTime(
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| t.timestamp_millis())
                .map_err(|_| bad("an RFC 3339 date-time"))?,
        ),
    })
}

/// Collection `id` as `who` sees it on the day the request's `as_of`
/// names (today without one), narrowed to the people who changed since
/// `changes_since` when it names a day.
/// Query parameters that set a saved question's parameters
/// (`param.depth_rank=3`), applied before the view is taken (see
/// [`AppState::asked`](crate::AppState::asked)).
pub const PARAM_PREFIX: &str = "param.";

pub(crate) fn dated_view(
    state: &SharedState,
    data: &Arc<Data>,
    who: &chiiki_policy::auth::Principal,
    id: &str,
    raw: &str,
) -> Result<Arc<Layer>, ApiError> {
    let day = |name: &str, value: &str| {
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(format!("{name}={value}: expected a date YYYY-MM-DD"))
        })
    };
    let (mut as_of, mut since) = (None, None);
    let mut values = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "as_of" => as_of = Some(day("as_of", &v)?),
            "changes_since" => since = Some(day("changes_since", &v)?),
            other => {
                if let Some(name) = other.strip_prefix(PARAM_PREFIX) {
                    values.push((name.to_string(), v.into_owned()));
                }
            }
        }
    }
    if !values.is_empty() {
        // Only a caller who may read the question learns what it takes.
        state.readable(data, who, id)?;
    }
    // Asked of the collection as served first: a past day is built only
    // for people the caller may read.
    if (as_of.is_some() || since.is_some())
        && state
            .readable(data, who, id)?
            .meta
            .privacy
            .population()
            .is_none()
    {
        return Err(ApiError::bad_request(
            "as_of and changes_since apply to the residents layer and to analyses over people",
        ));
    }
    let data = match as_of {
        Some(d) => state.dated(data, d)?,
        None => data.clone(),
    };
    let data = state.asked(&data, id, &values)?;
    let layer = state.readable(&data, who, id)?;
    let Some(since) = since else {
        return Ok(layer);
    };
    if !matches!(
        layer.meta.privacy,
        chiiki_core::sensitivity::Privacy::Individuals { .. }
    ) {
        return Err(ApiError::bad_request(
            "changes_since applies to the residents layer and to analyses that list people",
        ));
    }
    if since >= data.day() {
        return Err(ApiError::bad_request(format!(
            "changes_since={since} must be before the day shown ({})",
            data.day()
        )));
    }
    let then = state.dated(&data, since)?;
    let start = state.readable(&then, who, id)?;
    let changes = state.changes(since, data.day())?;
    Ok(Arc::new(crate::history::changed_rows(
        &layer, &start, &changes,
    )))
}

pub fn parse_items_query(
    layer: &Layer,
    raw: &str,
    default_limit: usize,
    max_limit: usize,
    max_filter_terms: usize,
) -> Result<ItemsQuery, ApiError> {
    let mut q = ItemsQuery {
        limit: default_limit,
        offset: 0,
        bbox: None,
        crs: Crs::Crs84,
        columns: (0..layer.columns.len()).collect(),
        filters: Vec::new(),
        datetime: None,
        filter: None,
        link_params: Vec::new(),
        csv: false,
        csv_options: CsvOptions::default(),
    };
    let mut csv_given = false;
    let mut bbox_raw = None;
    let mut csv = false;
    let mut bbox_crs = Crs::Crs84;
    let mut filter_raw = None;
    let mut filter_crs = Crs::Crs84;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        if csv_option(&key, &value, &mut q.csv_options)? {
            csv_given = true;
            q.link_params.push((key, value));
            continue;
        }
        match key.as_str() {
            "f" => {
                if matches!(value.as_str(), "csv" | "text/csv") {
                    csv = true;
                } else if !matches!(
                    value.as_str(),
                    "json"
                        | "geojson"
                        | "application/geo+json"
                        | "application/json"
                        | "html"
                        | "text/html"
                ) {
                    return Err(ApiError::bad_request(format!(
                        "unsupported format f={value}; use f=json, f=csv or f=html"
                    )));
                }
            }
            "limit" => {
                let n = parse_usize("limit", &value)?;
                if n == 0 {
                    return Err(ApiError::bad_request("limit must be at least 1"));
                }
                q.limit = n.min(max_limit);
                continue; // written back clamped below
            }
            "offset" => {
                q.offset = parse_usize("offset", &value)?;
                continue;
            }
            "bbox" => bbox_raw = Some(parse_bbox(&value)?),
            "bbox-crs" => bbox_crs = parse_crs("bbox-crs", &value)?,
            "crs" => q.crs = parse_crs("crs", &value)?,
            "filter" => filter_raw = Some(value.clone()),
            "filter-lang" => {
                // `cql-text` is the draft name GDAL 3.6 sends for the same language.
                let lang = value.trim();
                if !lang.eq_ignore_ascii_case(FILTER_LANG) && !lang.eq_ignore_ascii_case("cql-text")
                {
                    return Err(ApiError::bad_request(format!(
                        "filter-lang={value} is not supported; the only filter language is {FILTER_LANG}"
                    )));
                }
            }
            "filter-crs" => filter_crs = parse_crs("filter-crs", &value)?,
            // The day and the changes asked for: applied by the caller
            // before the view is taken (see `dated_view`).
            "as_of" | "changes_since" => {}
            name if name.starts_with(PARAM_PREFIX) => {}
            // Why the page is read (the web map's downloads and prints):
            // kept in the audit log with the rest of the query.
            "purpose" => {
                if !matches!(value.as_ref(), "view" | "download" | "print") {
                    return Err(ApiError::bad_request(format!(
                        "purpose={value}: expected view, download or print"
                    )));
                }
            }
            "datetime" => {
                if layer.time_column().is_some() {
                    q.datetime = Some(parse_datetime(&value)?);
                } else {
                    // The standard lets collections without time ignore it,
                    // but a malformed value is still an error.
                    parse_datetime(&value)?;
                }
            }
            "properties" => {
                let mut cols = Vec::new();
                for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (i, _) = layer.column(name).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "properties: '{name}' is not a property of this collection"
                        ))
                    })?;
                    cols.push(i);
                }
                q.columns = cols;
            }
            name => match layer.column(name) {
                Some((i, _)) => q.filters.push((i, parse_filter_value(layer, i, &value)?)),
                None => return Err(ApiError::unknown_parameter(name)),
            },
        }
        q.link_params.push((key, value));
    }
    if let Some(b) = bbox_raw {
        q.bbox = Some(bbox_to_storage(b, bbox_crs)?);
    }
    if let Some(text) = filter_raw {
        let filter = Filter::new(&text, layer, filter_crs)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if filter.terms() > max_filter_terms {
            return Err(ApiError::bad_request(format!(
                "the filter has {} terms; the limit is {max_filter_terms}",
                filter.terms()
            )));
        }
        q.filter = Some(filter);
    }
    csv_only(csv, &q.csv_options, csv_given)?;
    q.csv = csv;
    Ok(q)
}

fn row_matches(layer: &Layer, q: &ItemsQuery, row: usize) -> bool {
    for (col, want) in &q.filters {
        let column = &layer.columns[*col];
        if column.is_null(row) {
            return false;
        }
        let ok = match (&column.data, want) {
            (ColumnData::Integer(v), Value::Integer(w)) => v[row] == *w,
            (ColumnData::Real(v), Value::Real(w)) => v[row] == *w,
            (ColumnData::Text(v), Value::Text(w)) => v.get(row) == w,
            (ColumnData::Boolean(v), Value::Boolean(w)) => v[row] == *w,
            (ColumnData::Date(v), Value::Date(w)) => v[row] == *w,
            (ColumnData::DateTime(v), Value::DateTime(w)) => v[row] == *w,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    if let (Some((lo, hi)), Some(column)) = (q.datetime, layer.time_column()) {
        if column.is_null(row) {
            return false;
        }
        let (start, end) = match &column.data {
            ColumnData::Date(v) => {
                let s = v[row] as i64 * 86_400_000;
                (s, s + 86_399_999)
            }
            ColumnData::DateTime(v) => (v[row], v[row]),
            _ => return false,
        };
        if lo.is_some_and(|l| end < l) || hi.is_some_and(|h| start > h) {
            return false;
        }
    }
    true
}

/// The rows a query matches, in layer order.
pub enum Selection {
    /// Every row: no filter at all.
    All(usize),
    Rows(Vec<u32>),
}

impl Selection {
    pub fn count(&self) -> usize {
        match self {
            Selection::All(n) => *n,
            Selection::Rows(r) => r.len(),
        }
    }

    pub fn page(&self, offset: usize, limit: usize) -> Vec<u32> {
        let end = offset.saturating_add(limit).min(self.count());
        if offset >= end {
            return Vec::new();
        }
        match self {
            Selection::All(_) => (offset as u32..end as u32).collect(),
            Selection::Rows(r) => r[offset..end].to_vec(),
        }
    }
}

/// Rows in both sorted lists.
fn intersect_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Rows matching a query with a CQL2 filter: candidates come from the
/// R-tree when the bbox or the filter's spatial predicates bound them.
fn select_filtered(layer: &Layer, q: &ItemsQuery, filter: &Filter) -> Selection {
    if filter.is_never() {
        return Selection::Rows(Vec::new());
    }
    let candidates = match (q.bbox, filter.envelope()) {
        (None, None) => None,
        (Some(b), None) | (None, Some(b)) => Some(layer.rows_in_bbox(b)),
        (Some(b), Some(e)) => Some(if geo::Intersects::intersects(&b, &e) {
            intersect_sorted(&layer.rows_in_bbox(b), &layer.rows_in_bbox(e))
        } else {
            Vec::new()
        }),
    };
    let predicate = filter.compile(layer);
    let filtered = !q.filters.is_empty() || q.datetime.is_some();
    let keep = |r: &u32| {
        let r = *r as usize;
        predicate.matches(r) && (!filtered || row_matches(layer, q, r))
    };
    Selection::Rows(match candidates {
        Some(rows) => rows.into_iter().filter(keep).collect(),
        None => (0..layer.len() as u32).filter(keep).collect(),
    })
}

pub fn select(layer: &Layer, q: &ItemsQuery) -> Selection {
    if let Some(filter) = &q.filter {
        return select_filtered(layer, q, filter);
    }
    let filtered = !q.filters.is_empty() || q.datetime.is_some();
    match (q.bbox, filtered) {
        (None, false) => Selection::All(layer.len()),
        (Some(b), false) => Selection::Rows(layer.rows_in_bbox(b)),
        (Some(b), true) => Selection::Rows(
            layer
                .rows_in_bbox(b)
                .into_iter()
                .filter(|&r| row_matches(layer, q, r as usize))
                .collect(),
        ),
        (None, true) => Selection::Rows(
            (0..layer.len() as u32)
                .filter(|&r| row_matches(layer, q, r as usize))
                .collect(),
        ),
    }
}

fn page_link(
    base: &str,
    id: &str,
    params: &[(String, String)],
    limit: usize,
    offset: usize,
) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    ser.append_pair("limit", &limit.to_string());
    if offset > 0 {
        ser.append_pair("offset", &offset.to_string());
    }
    format!("{base}/collections/{id}/items?{}", ser.finish())
}

fn content_crs(crs: Crs) -> HeaderValue {
    HeaderValue::from_str(&format!("<{}>", crs.uri())).expect("CRS URIs are ASCII")
}

pub async fn items(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let reader = state.clone();
    state
        .blocking
        .run(move || {
            let raw = raw.as_deref().unwrap_or("");
            let layer = dated_view(&reader, &data, &who, &id, raw)?;
            let path = format!("/collections/{id}/items");
            let html = crate::html::wanted(&headers, raw);
            let tag = crate::html::tag_query(raw, html);
            crate::cache::conditional(&layer, &base, &path, &tag, &headers, || {
                let page = (layer.clone(), html);
                items_page(&reader, &data, &who, &base, &id, page, raw)
            })
        })
        .await
}

/// The PostGIS source for collection `id` as `who` sees it (`view`), when
/// the store is PostGIS and the request can be answered there: a stored
/// layer (not a saved analysis nor the occupancy), read as of today (no
/// `as_of`, `changes_since` or `param.*`), seen as it is or through a view
/// of individuals.
/// Where a request's features come from: the database when the request
/// can be pushed down ([`pushdown`]), else the layer in memory.
fn source_for<'a>(
    state: &'a SharedState,
    data: &'a Data,
    who: &'a chiiki_policy::auth::Principal,
    id: &str,
    layer: Arc<Layer>,
    raw: &str,
) -> Box<dyn FeatureSource + 'a> {
    match pushdown(state, data, who, id, &layer, raw) {
        Some(sql) => Box::new(sql),
        None => Box::new(MemorySource(layer)),
    }
}

fn pushdown<'a>(
    state: &'a SharedState,
    data: &'a Data,
    who: &'a chiiki_policy::auth::Principal,
    id: &str,
    view: &Arc<Layer>,
    raw: &str,
) -> Option<PostgisSource<'a>> {
    use chiiki_core::sensitivity::Privacy;
    let store = state.reload.store().postgis()?;
    let dated = form_urlencoded::parse(raw.as_bytes()).any(|(k, _)| {
        matches!(k.as_ref(), "as_of" | "changes_since") || k.starts_with(PARAM_PREFIX)
    });
    if dated || id == crate::occupancy::COLLECTION || crate::read(&data.analyses).contains_key(id) {
        return None;
    }
    let base = data.layers.get(id)?;
    let spec = match &base.meta.privacy {
        Privacy::Individuals { .. } | Privacy::Derived { .. } => {
            Some(chiiki_policy::privacy::view_spec(&base.meta.privacy, &who.role, false).ok()?)
        }
        // Served as stored (else perturbed, which only memory does).
        _ if Arc::ptr_eq(base, view) => None,
        _ => return None,
    };
    Some(PostgisSource {
        store,
        base,
        view: view.clone(),
        spec,
        role: &who.role.name,
        day: data.day(),
        key: &state.pseudonym_key,
    })
}

/// `Server-Timing: source;desc="postgis"` (or `"memory"`): which answered.
fn mark_source(response: &mut Response, pushed_down: bool) {
    response.headers_mut().insert(
        "Server-Timing",
        HeaderValue::from_static(if pushed_down {
            "source;desc=\"postgis\""
        } else {
            "source;desc=\"memory\""
        }),
    );
}

fn items_page(
    state: &SharedState,
    data: &Arc<Data>,
    who: &chiiki_policy::auth::Principal,
    base: &str,
    id: &str,
    (layer, html): (Arc<Layer>, bool),
    raw: &str,
) -> Result<Response, ApiError> {
    let q = parse_items_query(
        &layer,
        raw,
        state.server.default_limit,
        state.server.max_limit,
        state.limits.max_filter_terms,
    )?;
    let coords = CoordinateOutput::new(q.crs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let source = source_for(state, data, who, id, layer, raw);
    let source = source.as_ref();
    let Page {
        layer,
        rows,
        matched,
        pushed_down,
    } = source.select(&q);
    if q.csv {
        let body = csv_body(&layer, &rows, &q.columns, q.csv_options)?;
        state.audit(
            data,
            who,
            &format!("/collections/{id}/items"),
            raw,
            &layer,
            &rows,
        )?;
        let mut response = csv_response(body, q.csv_options, id, &layer);
        mark_source(&mut response, pushed_down);
        return Ok(response);
    }
    if html {
        // The same rows, audited alike; only the serialisation differs.
        let mut response = crate::html::items(&layer, &rows, matched, &q);
        let path = format!("/collections/{id}/items");
        state.audit(data, who, &path, raw, &layer, &rows)?;
        crate::mark_people(&mut response, &layer);
        mark_source(&mut response, pushed_down);
        return Ok(response);
    }
    state.audit(
        data,
        who,
        &format!("/collections/{id}/items"),
        raw,
        &layer,
        &rows,
    )?;

    let mut links = vec![serde_json::json!({
        "href": page_link(base, id, &q.link_params, q.limit, q.offset),
        "rel": "self", "type": GEOJSON, "title": "This page"
    })];
    if q.offset + rows.len() < matched {
        links.push(serde_json::json!({
            "href": page_link(base, id, &q.link_params, q.limit, q.offset + rows.len()),
            "rel": "next", "type": GEOJSON, "title": "Next page"
        }));
    }
    if q.offset > 0 {
        links.push(serde_json::json!({
            "href": page_link(base, id, &q.link_params, q.limit, q.offset.saturating_sub(q.limit)),
            "rel": "prev", "type": GEOJSON, "title": "Previous page"
        }));
    }
    let as_csv: Vec<(String, String)> = q
        .link_params
        .iter()
        .filter(|(k, _)| k != "f")
        .cloned()
        .chain([("f".to_string(), "csv".to_string())])
        .collect();
    links.push(serde_json::json!({
        "href": page_link(base, id, &as_csv, q.limit, q.offset),
        "rel": "alternate", "type": "text/csv", "title": "This page as CSV"
    }));
    links.push(serde_json::json!({
        "href": format!("{base}/collections/{id}"), "rel": "collection", "type": "application/json",
        "title": "The collection"
    }));

    let mut head = Vec::with_capacity(if rows.len() <= CHUNK {
        rows.len() * 200 + 1024
    } else {
        4096
    });
    head.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"timeStamp\":\"");
    head.extend_from_slice(
        chiiki_core::clock::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .as_bytes(),
    );
    head.extend_from_slice(b"\",\"numberMatched\":");
    head.extend_from_slice(itoa::Buffer::new().format(matched).as_bytes());
    head.extend_from_slice(b",\"numberReturned\":");
    head.extend_from_slice(itoa::Buffer::new().format(rows.len()).as_bytes());
    head.extend_from_slice(b",\"links\":");
    head.extend_from_slice(serde_json::to_string(&links).unwrap_or_default().as_bytes());
    head.extend_from_slice(b",\"features\":[");

    let body = features_body(layer.clone(), q.columns.clone(), coords, q.crs, rows, head);
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON));
    headers.insert("Content-Crs", content_crs(q.crs));
    crate::mark_people(&mut response, &layer);
    mark_source(&mut response, pushed_down);
    Ok(response)
}

/// `head` (the start of a FeatureCollection, up to `"features":[`), then
/// `rows` of `layer` as features and the closing `]}`: written at once when
/// few, else streamed chunk by chunk ([`stream_page`]).
pub(crate) fn features_body(
    layer: Arc<Layer>,
    columns: Vec<usize>,
    coords: CoordinateOutput,
    crs: Crs,
    rows: Vec<u32>,
    mut head: Vec<u8>,
) -> Body {
    if rows.len() > CHUNK {
        return stream_page(layer, columns, crs, rows, head);
    }
    let writer = FeatureWriter::new(&layer, columns, coords);
    for (i, &row) in rows.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        writer.write_feature(&mut head, row as usize, "");
    }
    head.extend_from_slice(b"]}");
    Body::from(head)
}

/// A body that serialises the page chunk by chunk as the client reads it,
/// so a page of 10,000 features never sits whole in memory.
fn stream_page(
    layer: Arc<Layer>,
    columns: Vec<usize>,
    crs: Crs,
    rows: Vec<u32>,
    head: Vec<u8>,
) -> Body {
    let chunks = rows.len().div_ceil(CHUNK);
    let rows = Arc::new(rows);
    let parts = std::iter::once(Bytes::from(head))
        .chain((0..chunks).map(move |c| {
            let coords = CoordinateOutput::new(crs).expect("CRS was validated before streaming");
            let writer = FeatureWriter::new(&layer, columns.clone(), coords);
            let start = c * CHUNK;
            let end = (start + CHUNK).min(rows.len());
            let mut buf = Vec::with_capacity((end - start) * 200);
            for (i, &row) in rows[start..end].iter().enumerate() {
                if start + i > 0 {
                    buf.push(b',');
                }
                writer.write_feature(&mut buf, row as usize, "");
            }
            Bytes::from(buf)
        }))
        .chain(std::iter::once(Bytes::from_static(b"]}")))
        .map(Ok::<Bytes, Infallible>);
    Body::from_stream(futures_util::stream::iter(parts))
}

pub async fn item(
    State(state): State<SharedState>,
    Current(data): Current,
    Caller(who): Caller,
    BaseUrl(base): BaseUrl,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let reader = state.clone();
    state
        .blocking
        .run(move || {
            let raw = raw.as_deref().unwrap_or("");
            let layer = dated_view(&reader, &data, &who, &id, raw)?;
            let path = format!("/collections/{id}/items/{fid}");
            let html = crate::html::wanted(&headers, raw);
            let tag = crate::html::tag_query(raw, html);
            crate::cache::conditional(&layer, &base, &path, &tag, &headers, || {
                let one = (layer.clone(), html);
                one_item(&reader, &data, &who, &base, (&id, &fid), one, raw)
            })
        })
        .await
}

fn one_item(
    state: &SharedState,
    data: &Arc<Data>,
    who: &chiiki_policy::auth::Principal,
    base: &str,
    (id, fid): (&str, &str),
    (layer, html): (Arc<Layer>, bool),
    raw: &str,
) -> Result<Response, ApiError> {
    let mut crs = Crs::Crs84;
    let mut columns: Vec<usize> = (0..layer.columns.len()).collect();
    let mut csv = false;
    let mut csv_options = CsvOptions::default();
    let mut csv_given = false;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if csv_option(&key, &value, &mut csv_options)? {
            csv_given = true;
            continue;
        }
        match key.as_ref() {
            "f" if matches!(value.as_ref(), "json" | "geojson" | "application/geo+json") => {}
            "f" if matches!(value.as_ref(), "csv" | "text/csv") => csv = true,
            "f" if matches!(value.as_ref(), "html" | "text/html") => {}
            "f" => {
                return Err(ApiError::bad_request(format!(
                    "unsupported format f={value}"
                )))
            }
            "crs" => crs = parse_crs("crs", &value)?,
            "as_of" | "changes_since" => {}
            name if name.starts_with(PARAM_PREFIX) => {}
            "properties" => {
                columns = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|name| {
                        layer.column(name).map(|(i, _)| i).ok_or_else(|| {
                            ApiError::bad_request(format!("properties: '{name}' is not a property"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    csv_only(csv, &csv_options, csv_given)?;
    let source = source_for(state, data, who, id, layer, raw);
    let source = source.as_ref();
    let Page {
        layer,
        rows,
        pushed_down,
        ..
    } = fid
        .parse::<i64>()
        .ok()
        .and_then(|f| source.feature(f))
        .ok_or_else(|| ApiError::not_found(format!("no feature '{fid}' in collection '{id}'")))?;
    let row = rows[0] as usize;
    let coords = CoordinateOutput::new(crs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body = if csv {
        Some(csv_body(&layer, &rows, &columns, csv_options)?)
    } else {
        None
    };
    if layer.meta.privacy.is_personal() {
        // The log names the record by its keyed hash, like its `ids`.
        let real = layer
            .record_ids
            .as_ref()
            .map_or(layer.fids[row], |r| r[row]);
        let population = layer.meta.privacy.population().unwrap_or_default();
        let hashed = chiiki_policy::audit::hash_id(state.audit.key(), population, real);
        state.audit(
            data,
            who,
            &format!("/collections/{id}/items/#{hashed}"),
            raw,
            &layer,
            &[row as u32],
        )?;
    }
    if let Some(body) = body {
        return Ok(csv_response(body, csv_options, id, &layer));
    }
    if html {
        let mut response = crate::html::item(&layer, fid, row, &columns);
        crate::mark_people(&mut response, &layer);
        return Ok(response);
    }
    let writer = FeatureWriter::new(&layer, columns, coords);
    let links = serde_json::json!([
        {"href": format!("{base}/collections/{id}/items/{fid}"), "rel": "self", "type": GEOJSON},
        {"href": format!("{base}/collections/{id}/items/{fid}?f=csv"), "rel": "alternate", "type": "text/csv"},
        {"href": format!("{base}/collections/{id}"), "rel": "collection", "type": "application/json"},
    ]);
    let mut buf = Vec::with_capacity(512);
    writer.write_feature(&mut buf, row, &format!(",\"links\":{links}"));
    let mut response = Response::new(Body::from(buf));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON));
    headers.insert("Content-Crs", content_crs(crs));
    crate::mark_people(&mut response, &layer);
    mark_source(&mut response, pushed_down);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_forms() {
        assert_eq!(parse_bbox("1,2,3,4").unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(parse_bbox("1,2,0,3,4,10").unwrap(), [1.0, 2.0, 3.0, 4.0]);
        for bad in ["1,2,3", "a,b,c,d", "3,2,1,4", "1,2,3,4,5", "1,2,NaN,4"] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn datetime_forms() {
        let (lo, hi) = parse_datetime("2020-01-01").unwrap();
        assert_eq!(hi.unwrap() - lo.unwrap(), 86_399_999);
        assert_eq!(parse_datetime("../2020-01-01T00:00:00Z").unwrap().0, None);
        assert_eq!(parse_datetime("2020-01-01/..").unwrap().1, None);
        assert!(parse_datetime("2021-01-01/2020-01-01").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn zone_bbox_is_covered_by_its_storage_envelope() {
        // A 2 km square around 文京区 in zone IX, northing first.
        let b = bbox_to_storage([-30000.0, -12000.0, -28000.0, -10000.0], Crs::Epsg(6677)).unwrap();
        assert!(b.min().x > 139.6 && b.max().x < 139.8, "{b:?}");
        assert!(b.min().y > 35.6 && b.max().y < 35.8, "{b:?}");
        assert!(b.max().y - b.min().y > 0.017 && b.max().y - b.min().y < 0.019);
    }
}
