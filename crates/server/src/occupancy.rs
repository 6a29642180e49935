//! Live shelter occupancy: staff at an evacuation shelter post how many
//! people are there (`POST /shelters/{id}/occupancy`), and everyone, without
//! a token, reads it back as the open collection `shelter_occupancy` and as
//! each shelter's history (`GET /shelters/{id}/occupancy/history`), so that
//! evacuees can pick a shelter that is not full.
//!
//! Only a `shelter_staff` token tied to the shelter (its `shelter`) or an
//! admin token may post. Every accepted post gets the service's time and is
//! appended to `<data>/occupancy/occupancy.jsonl` under one lock (written,
//! then flushed to disk when the audit log is, before the answer), which
//! also holds the current state: posts are serialised, and a shelter's
//! state is always its last accepted post. The file is read back at start,
//! so a restart loses no accepted post.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use chiiki_core::layers::{Column, FieldType, Layer, LayerParts, Value};

use crate::{json_response, ApiError, Caller, SharedState};

/// The collection the current state is served as.
pub const COLLECTION: &str = "shelter_occupancy";
/// The layer of the shelters whose feature ids are the shelter ids.
pub const SHELTERS: &str = "shelters_evacuation";
/// The column of the shelters layer that names a shelter.
pub const NAME_COLUMN: &str = "施設・場所名";
/// The column of the shelters layer with the capacity, where known.
pub const CAPACITY_COLUMN: &str = "capacity";
/// The role whose tokens are each tied to one shelter.
pub const STAFF_ROLE: &str = "shelter_staff";
/// The highest count accepted: a sanity limit against typing errors (the
/// largest shelters, school gymnasiums, hold a few thousand people). The
/// demo's capacities are invented, so they do not lower it.
pub const MAX_COUNT: i64 = 5_000;
/// The largest body a post may have.
pub const MAX_BODY_BYTES: usize = 1024;

/// One accepted post, as kept in the history file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Post {
    /// Counts accepted posts from 0, over all shelters.
    pub seq: u64,
    pub shelter: i64,
    pub count: i64,
    pub open: bool,
    /// Accepting people who need care (要配慮者).
    pub accepts_care: bool,
    /// When the service accepted it (RFC 3339, milliseconds, UTC).
    pub time: String,
    /// Milliseconds since the epoch of `time`.
    pub time_ms: i64,
    /// The id of the token that posted it (not published).
    pub token: String,
}

struct State_ {
    file: std::fs::File,
    next_seq: u64,
    last_ms: i64,
    /// Each shelter's posts, oldest first.
    history: HashMap<i64, Vec<Post>>,
}

/// The occupancy of the shelters: current state, history and its file.
pub struct Occupancy {
    path: PathBuf,
    fsync: bool,
    state: Mutex<State_>,
    /// The served layer, with the shelters layer and the `seq` it was built
    /// from.
    layer: Mutex<Option<(usize, u64, Arc<Layer>)>>,
}

/// Where the history of `data_dir` is kept.
pub fn history_path(data_dir: &Path) -> PathBuf {
    data_dir.join("occupancy").join("occupancy.jsonl")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Occupancy {
    /// Opens (or starts) the history at `path` and reads it back. A last
    /// line cut short (a crash while writing; never an accepted post, whose
    /// answer waits for the whole line) is dropped; any other unreadable
    /// line is refused.
    pub fn open(path: &Path, fsync: bool) -> std::io::Result<Occupancy> {
        let err = |line: usize, why: String| {
            std::io::Error::other(format!("{} line {line}: {why}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut history: HashMap<i64, Vec<Post>> = HashMap::new();
        let mut next_seq = 0;
        let mut last_ms = i64::MIN;
        let mut whole = 0u64;
        if let Ok(file) = std::fs::File::open(path) {
            let mut reader = std::io::BufReader::new(file);
            let mut buf = Vec::new();
            for n in 1.. {
                buf.clear();
                if reader.read_until(b'\n', &mut buf)? == 0 || buf.last() != Some(&b'\n') {
                    break;
                }
                whole += buf.len() as u64;
                let post: Post = serde_json::from_slice(&buf[..buf.len() - 1])
                    .map_err(|e| err(n, format!("not an occupancy post: {e}")))?;
                if post.seq != next_seq {
                    return Err(err(
                        n,
                        format!("post {} where {next_seq} was expected", post.seq),
                    ));
                }
                next_seq += 1;
                last_ms = last_ms.max(post.time_ms);
                history.entry(post.shelter).or_default().push(post);
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if file.metadata()?.len() > whole {
            tracing::warn!(
                "{}: dropping a last line cut short at byte {whole}",
                path.display()
            );
            file.set_len(whole)?;
        }
        Ok(Occupancy {
            path: path.to_path_buf(),
            fsync,
            state: Mutex::new(State_ {
                file,
                next_seq,
                last_ms,
                history,
            }),
            layer: Mutex::new(None),
        })
    }

    /// Appends a post for `shelter` at the service's time (never earlier
    /// than the post before it) and makes it the shelter's state.
    fn accept(&self, shelter: i64, body: Body, token: &str) -> Result<Post, ApiError> {
        let mut state = lock(&self.state);
        let now = chiiki_core::clock::now();
        let ms = now.timestamp_millis().max(state.last_ms);
        let time = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or(now)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let post = Post {
            seq: state.next_seq,
            shelter,
            count: body.count,
            open: body.open,
            accepts_care: body.accepts_care,
            time,
            time_ms: ms,
            token: token.to_string(),
        };
        let mut line = serde_json::to_vec(&post).map_err(|_| ApiError::internal())?;
        line.push(b'\n');
        let written = state.file.write_all(&line).and_then(|()| {
            if self.fsync {
                state.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            tracing::error!("appending to {}: {e}", self.path.display());
            return Err(ApiError::internal());
        }
        state.next_seq += 1;
        state.last_ms = ms;
        state.history.entry(shelter).or_default().push(post.clone());
        Ok(post)
    }

    /// The posts of `shelter`, newest first.
    pub fn history(&self, shelter: i64) -> Vec<Post> {
        let state = lock(&self.state);
        let mut posts = state.history.get(&shelter).cloned().unwrap_or_default();
        posts.reverse();
        posts
    }

    /// Forces the history to disk (for a clean stop).
    pub fn sync(&self) -> std::io::Result<()> {
        lock(&self.state).file.sync_all()
    }

    /// The current state as a layer over the points of `shelters`: rebuilt
    /// when a post was accepted since (or the shelters changed), from one
    /// snapshot of the state taken under its lock.
    pub fn layer(&self, shelters: &Arc<Layer>) -> Arc<Layer> {
        let key = Arc::as_ptr(shelters) as usize;
        let mut cached = lock(&self.layer);
        let (seq, current) = {
            let state = lock(&self.state);
            if let Some((k, s, l)) = cached.as_ref() {
                if *k == key && *s == state.next_seq {
                    return l.clone();
                }
            }
            let current: HashMap<i64, Post> = state
                .history
                .iter()
                .filter_map(|(id, posts)| posts.last().map(|p| (*id, p.clone())))
                .collect();
            (state.next_seq, current)
        };
        let layer = Arc::new(build_layer(shelters, &current, seq));
        *cached = Some((key, seq, layer.clone()));
        layer
    }
}

fn capacity_of(shelters: &Layer, row: usize) -> Option<i64> {
    match shelters.column(CAPACITY_COLUMN).map(|(_, c)| c.get(row)) {
        Some(Value::Integer(n)) if n > 0 => Some(n),
        Some(Value::Real(x)) if x >= 1.0 => Some(x as i64),
        _ => None,
    }
}

fn build_layer(shelters: &Layer, current: &HashMap<i64, Post>, seq: u64) -> Layer {
    let mut id = Column::new("shelter_id", FieldType::Integer);
    let mut name = Column::new("name", FieldType::Text);
    let mut count = Column::new("count", FieldType::Integer);
    let mut open = Column::new("open", FieldType::Boolean);
    let mut care = Column::new("accepts_care", FieldType::Boolean);
    let mut updated = Column::new("updated_at", FieldType::DateTime);
    let mut capacity = Column::new("capacity", FieldType::Integer);
    let mut rate = Column::new("occupancy_rate", FieldType::Real);
    let names = shelters.column(NAME_COLUMN).map(|(_, c)| c);
    let or_null = |v: Option<Value>| v.unwrap_or(Value::Null);
    for (row, &fid) in shelters.fids.iter().enumerate() {
        let post = current.get(&fid);
        let cap = capacity_of(shelters, row);
        // Columns are built with the types they are pushed: no mismatch.
        let _ = id.push(Value::Integer(fid));
        let _ = name.push(names.map_or(Value::Null, |c| c.get(row)));
        let _ = count.push(or_null(post.map(|p| Value::Integer(p.count))));
        let _ = open.push(or_null(post.map(|p| Value::Boolean(p.open))));
        let _ = care.push(or_null(post.map(|p| Value::Boolean(p.accepts_care))));
        let _ = updated.push(or_null(post.map(|p| Value::DateTime(p.time_ms))));
        let _ = capacity.push(or_null(cap.map(Value::Integer)));
        let _ = rate.push(or_null(post.zip(cap).map(|(p, c)| {
            Value::Real((p.count as f64 / c as f64 * 1000.0).round() / 1000.0)
        })));
    }
    let mut meta = shelters.meta.clone();
    meta.id = COLLECTION.into();
    meta.title = format!("避難所の混雑状況 ({})", shelters.meta.title);
    meta.description = "How many people are at each evacuation shelter now, as its staff last \
        posted it: count, open, accepts_care (accepting 要配慮者), updated_at; capacity and \
        occupancy_rate = count / capacity where the capacity is known. Shelters without a \
        post have no count."
        .into();
    meta.source = format!("posts to /shelters/{{id}}/occupancy ({seq} so far)");
    meta.id_field = None;
    meta.time_field = Some("updated_at".into());
    meta.access = chiiki_core::layers::Access {
        public: true,
        roles: vec![],
    };
    // Live data: no validators and no tile cache (both key on these).
    meta.imported_at = String::new();
    meta.fingerprint = String::new();
    meta.privacy = chiiki_core::sensitivity::Privacy::Open;
    meta.labels = Default::default();
    meta.picked_by_identifier = None;
    Layer::from_sorted(LayerParts {
        meta,
        fids: shelters.fids.clone(),
        geometries: shelters.geometries.clone(),
        columns: vec![id, name, count, open, care, updated, capacity, rate],
    })
}

/// A post's body, checked.
#[derive(Debug)]
struct Body {
    count: i64,
    open: bool,
    accepts_care: bool,
}

/// Reads `{"count": n, "open": b, "accepts_care": b}`; a refusal names the
/// field.
fn parse_body(bytes: &[u8], limit: i64) -> Result<Body, ApiError> {
    let bad = |s: String| ApiError::bad_request(s);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(bad(format!(
            "body: {} bytes; a post has at most {MAX_BODY_BYTES}",
            bytes.len()
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(format!(
            "body: not JSON ({e}); send {{\"count\": 12, \"open\": true, \"accepts_care\": false}}"
        ))
    })?;
    let Some(object) = value.as_object() else {
        return Err(bad(
            "body: must be a JSON object {\"count\", \"open\", \"accepts_care\"}".into(),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !["count", "open", "accepts_care"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "{unknown}: unknown field; a post has count, open and accepts_care"
        )));
    }
    let field = |name: &str| {
        object
            .get(name)
            .ok_or_else(|| bad(format!("{name}: missing")))
    };
    let count = field("count")?;
    let count = count.as_i64().ok_or_else(|| {
        bad(format!(
            "count: must be a whole number of people, not {count}"
        ))
    })?;
    if count < 0 {
        return Err(bad(format!("count: {count} is negative")));
    }
    if count > limit {
        return Err(bad(format!(
            "count: {count} is above the limit of {limit} people a shelter may report"
        )));
    }
    let flag = |name: &str| -> Result<bool, ApiError> {
        let v = field(name)?;
        v.as_bool()
            .ok_or_else(|| bad(format!("{name}: must be true or false, not {v}")))
    };
    Ok(Body {
        count,
        open: flag("open")?,
        accepts_care: flag("accepts_care")?,
    })
}

/// The shelter id of a path, known to the shelters layer.
fn shelter_id(state: &SharedState, raw: &str) -> Result<(i64, Arc<Layer>), ApiError> {
    let missing = || ApiError::not_found(format!("no shelter '{raw}'"));
    let id: i64 = raw.parse().map_err(|_| missing())?;
    let data = state.data();
    let shelters = data.layers.get(SHELTERS).cloned().ok_or_else(missing)?;
    if shelters.row_of(id).is_none() {
        return Err(missing());
    }
    Ok((id, shelters))
}

/// `POST /shelters/{id}/occupancy`.
pub async fn post(
    State(state): State<SharedState>,
    Caller(who): Caller,
    UrlPath(raw): UrlPath<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    if who.is_anonymous() {
        return Err(ApiError::unauthorized(
            "posting occupancy needs a shelter_staff token for the shelter",
        ));
    }
    if !who.role.admin {
        if who.role.name != STAFF_ROLE {
            return Err(ApiError::forbidden(format!(
                "role '{}' may not post occupancy; shelter_staff tokens post for their shelter",
                who.role.name
            )));
        }
        match who.shelter {
            Some(own) if own.to_string() == raw => {}
            Some(own) => {
                return Err(ApiError::forbidden(format!(
                    "this token posts for shelter {own} only, not '{raw}'"
                )))
            }
            None => {
                return Err(ApiError::forbidden(
                    "this shelter_staff token is tied to no shelter",
                ))
            }
        }
    }
    let (id, _shelters) = shelter_id(&state, &raw)?;
    let body = body.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let parsed = parse_body(&body, MAX_COUNT)?;
    let token = who.token_id.clone().unwrap_or_default();
    let accepting = state.clone();
    let post = tokio::task::spawn_blocking(move || accepting.occupancy.accept(id, parsed, &token))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(json_response(public_post(&post), "application/json"))
}

/// A post as published: without the token.
fn public_post(p: &Post) -> serde_json::Value {
    serde_json::json!({
        "shelter_id": p.shelter,
        "count": p.count,
        "open": p.open,
        "accepts_care": p.accepts_care,
        "updated_at": p.time,
        "seq": p.seq,
    })
}

/// `GET /shelters/{id}/occupancy/history`: the shelter's accepted posts,
/// newest first.
pub async fn history(
    State(state): State<SharedState>,
    UrlPath(raw): UrlPath<String>,
) -> Result<Response, ApiError> {
    let (id, _) = shelter_id(&state, &raw)?;
    let posts: Vec<serde_json::Value> = state
        .occupancy
        .history(id)
        .iter()
        .map(public_post)
        .collect();
    let mut response = json_response(serde_json::Value::Array(posts), "application/json");
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_field_by_field() {
        let ok = parse_body(
            br#"{"count": 12, "open": true, "accepts_care": false}"#,
            100,
        )
        .unwrap();
        assert_eq!((ok.count, ok.open, ok.accepts_care), (12, true, false));
        for (body, field) in [
            (
                r#"{"count": -1, "open": true, "accepts_care": true}"#,
                "count",
            ),
            (
                r#"{"count": 101, "open": true, "accepts_care": true}"#,
                "count",
            ),
            (
                r#"{"count": 1.5, "open": true, "accepts_care": true}"#,
                "count",
            ),
            (
                r#"{"count": "3", "open": true, "accepts_care": true}"#,
                "count",
            ),
            (r#"{"open": true, "accepts_care": true}"#, "count"),
            (r#"{"count": 3, "accepts_care": true}"#, "open"),
            (r#"{"count": 3, "open": 1, "accepts_care": true}"#, "open"),
            (r#"{"count": 3, "open": true}"#, "accepts_care"),
            (
                r#"{"count": 3, "open": true, "accepts_care": true, "x": 1}"#,
                "x",
            ),
            ("[1]", "body"),
            ("{", "body"),
        ] {
            let e = parse_body(body.as_bytes(), 100).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(
                e.description.starts_with(&format!("{field}:")),
                "{body}: {}",
                e.description
            );
        }
        let big = format!(
            r#"{{"count": 1, "open": true, "accepts_care": true, "pad": "{}"}}"#,
            "x".repeat(2000)
        );
        assert!(parse_body(big.as_bytes(), 100)
            .unwrap_err()
            .description
            .starts_with("body:"));
    }

    #[test]
    fn the_history_is_read_back_and_a_cut_line_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = history_path(dir.path());
        let occ = Occupancy::open(&path, false).unwrap();
        for (shelter, count) in [(1, 10), (2, 20), (1, 11)] {
            let body = Body {
                count,
                open: true,
                accepts_care: false,
            };
            occ.accept(shelter, body, "t1").unwrap();
        }
        drop(occ);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"seq\":3,\"shel").unwrap();
        drop(f);
        let occ = Occupancy::open(&path, false).unwrap();
        let h = occ.history(1);
        assert_eq!(h.iter().map(|p| p.count).collect::<Vec<_>>(), vec![11, 10]);
        let p = occ
            .accept(
                2,
                Body {
                    count: 21,
                    open: false,
                    accepts_care: true,
                },
                "t2",
            )
            .unwrap();
        assert_eq!(p.seq, 3);
        drop(occ);
        let occ = Occupancy::open(&path, false).unwrap();
        assert_eq!(occ.history(2)[0].count, 21);
        assert!(occ.history(2)[0].time_ms >= occ.history(1)[0].time_ms);
    }
}
