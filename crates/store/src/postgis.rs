//! Layers in PostgreSQL with PostGIS, behind the same [`LayerStore`] seam as
//! the GeoParquet directory: the service still serves from memory, and only
//! where the rows rest changes.
//!
//! Layout, in the schema `chiiki`:
//!
//! - `schema_version`: the forward migrations applied ([`MIGRATIONS`]), each
//!   in its own transaction under an advisory lock, so that replicas
//!   starting together migrate once;
//! - `layers`: one row per layer — its metadata (`jsonb`), its columns'
//!   names and types, the table its rows are in, the feature count, the
//!   canonical [`checksum`](crate::checksum) and when it was saved;
//! - `"layer_<id>"`: one table per layer, `fid bigint` primary key, one
//!   typed column per attribute, `geom geometry(Geometry, 6668)` with a GiST
//!   index, and `chiiki_row`, the row's place in the layer's spatial order
//!   (so a load is the layer that was saved, not merely the same rows).
//!
//! A save is one transaction: the rows go by binary `COPY` (geometry as
//! EWKB) into a fresh table, which then replaces the old one and the
//! metadata row, and `NOTIFY chiiki_changes` names the layer. Anything
//! failing rolls it all back, leaving the previous layer; readers wait on the
//! metadata row for the few statements of the swap and then read the new
//! table, never half of each.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use geo_traits::to_geo::ToGeoGeometry;
use postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutIter};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use chiiki_core::layers::column::{ColumnData, TextData};
use chiiki_core::layers::{Column, FieldType, Geometries, Layer, LayerMeta, LayerParts};

use crate::geoparquet::validate_layer_id;
use crate::{LayerStore, Result, StoreError};

/// The schema chiiki's tables live in.
pub const SCHEMA: &str = "chiiki";
/// The channel a save notifies, with the layer id as payload.
pub const CHANNEL: &str = "chiiki_changes";

/// Columns of a layer table that are chiiki's own; an attribute of the same
/// name is stored under another (the mapping is in `chiiki.layers.columns`).
const FID: &str = "fid";
const GEOM: &str = "geom";
const ROW: &str = "chiiki_row";

/// PostgreSQL truncates longer identifiers, which could make two names one.
const MAX_IDENT_BYTES: usize = 63;

/// Forward migrations, applied in order; the version is the position + 1.
/// Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[&str] = &[
    // 1: PostGIS and the layer catalogue.
    "CREATE EXTENSION IF NOT EXISTS postgis;
     CREATE TABLE chiiki.layers (
         id text PRIMARY KEY,
         meta jsonb NOT NULL,
         columns jsonb NOT NULL,
         table_name text NOT NULL UNIQUE,
         features bigint NOT NULL,
         checksum text NOT NULL,
         saved_at timestamptz NOT NULL DEFAULT now()
     );",
    // 2: the service's state beside the layers (crate::state): named
    // documents (tokens, saved analyses, the audit key) and the audit chain.
    "CREATE TABLE chiiki.documents (
         name text PRIMARY KEY,
         body jsonb NOT NULL,
         version bigint NOT NULL DEFAULT 1,
         saved_at timestamptz NOT NULL DEFAULT clock_timestamp()
     );
     CREATE TABLE chiiki.audit (
         seq bigint PRIMARY KEY CHECK (seq >= 0),
         hash text NOT NULL,
         line text NOT NULL,
         written_at timestamptz NOT NULL DEFAULT clock_timestamp()
     );
     CREATE TABLE chiiki.audit_head (
         one boolean PRIMARY KEY DEFAULT true CHECK (one),
         seq bigint NOT NULL,
         hash text NOT NULL
     );",
    // 3: named binary state too large for a JSON document (the registry
    // with its history), in parts: a bytea holds at most 1 GB.
    "CREATE TABLE chiiki.blobs (
         name text NOT NULL,
         part integer NOT NULL CHECK (part >= 0),
         body bytea NOT NULL,
         saved_at timestamptz NOT NULL DEFAULT clock_timestamp(),
         PRIMARY KEY (name, part)
     );",
];

/// Serialises migrations of one database across processes.
const MIGRATION_LOCK: i64 = 0x6368_6969_6b69_0001;
/// First key of the per-layer advisory lock that serialises saves of one layer.
const SAVE_LOCK: i32 = 0x6368_6969;

/// 2000-01-01, PostgreSQL's epoch, in days and milliseconds since 1970-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// Layers in a PostGIS database.
pub struct PostgisStore {
    config: postgres::Config,
    /// The URL as given; it never holds a password ([`parse_url`] refuses one).
    url: String,
    client: Mutex<Option<Client>>,
    /// The catalogue as the last [`LayerStore::list`] saw it: a listener
    /// that (re)connects compares it with the database's, so that a change
    /// made while it was not listening is not missed.
    listed: Arc<Mutex<Option<String>>>,
    /// The service's state in the same database, on its own connection.
    state: Arc<crate::state::StateStore>,
    /// Connections for page queries ([`PostgisStore::select_page`]), so
    /// that requests do not queue on the one loads and saves use.
    pool: Mutex<Vec<Client>>,
    /// Until when page queries fail at once, after a connection for them
    /// could not be made: requests fall back without each waiting out the
    /// connect time-out.
    pool_down_until: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for PostgisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgisStore")
            .field("url", &self.url)
            .finish()
    }
}

/// Parses a connection URL (`postgres://user@host:port/db`, or libpq's
/// `key=value` form) and refuses one that holds a password: passwords come
/// from the environment or a file, never from a URL that ends up in configs,
/// shell histories and logs.
pub fn parse_url(url: &str) -> Result<postgres::Config> {
    let config: postgres::Config = url.parse().map_err(|e| StoreError::Other {
        context: "the PostGIS connection URL".into(),
        message: format!("{e}"),
    })?;
    if config.get_password().is_some() {
        return Err(StoreError::Other {
            context: "the PostGIS connection URL".into(),
            message: "it holds a password; give it through password_env or password_file instead"
                .into(),
        });
    }
    Ok(config)
}

fn db(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> StoreError {
    let context = context.into();
    move |error| StoreError::Database { context, error }
}

/// A PostgreSQL error on one line, with what the server said.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(d) = db.detail() {
            out.push_str(&format!(" (detail: {d})"));
        }
        if let Some(h) = db.hint() {
            out.push_str(&format!(" (hint: {h})"));
        }
        if let Some(w) = db.where_() {
            out.push_str(&format!(" (where: {w})"));
        }
        return out.replace('\n', " ");
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}

/// `"name"`, quoted for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn qualified(table: &str) -> String {
    format!("{SCHEMA}.{}", ident(table))
}

/// The first 16 hex digits of the SHA-256 of `s`: short, stable names.
fn short_hash(s: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..8])
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The table of layer `id`: `layer_<id>`, or a cut name with a hash when
/// that would be longer than PostgreSQL keeps.
pub fn table_name(id: &str) -> String {
    let name = format!("layer_{id}");
    if name.len() <= MAX_IDENT_BYTES {
        name
    } else {
        format!("layer_{}_{}", cut(id, 40), short_hash(id))
    }
}

/// An attribute column and the SQL column it is kept in.
#[derive(Debug, Clone, PartialEq)]
struct SqlColumn {
    name: String,
    ty: FieldType,
    sql: String,
}

fn sql_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Integer => "bigint",
        FieldType::Real => "double precision",
        FieldType::Text => "text",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::DateTime => "timestamptz",
    }
}

fn pg_type(t: FieldType) -> Type {
    match t {
        FieldType::Integer => Type::INT8,
        FieldType::Real => Type::FLOAT8,
        FieldType::Text => Type::TEXT,
        FieldType::Boolean => Type::BOOL,
        FieldType::Date => Type::DATE,
        FieldType::DateTime => Type::TIMESTAMPTZ,
    }
}

/// SQL column names for the attributes: their own names where PostgreSQL
/// can keep them, else cut or numbered so that none is chiiki's own column
/// and no two are the same.
fn sql_columns(columns: &[Column]) -> Vec<SqlColumn> {
    let mut used: std::collections::HashSet<String> =
        [FID, GEOM, ROW].iter().map(|s| s.to_string()).collect();
    columns
        .iter()
        .map(|c| {
            let base = cut(&c.name, MAX_IDENT_BYTES).to_string();
            let mut sql = base.clone();
            let mut n = 2;
            while used.contains(&sql) {
                let suffix = format!("_{n}");
                sql = format!("{}{suffix}", cut(&base, MAX_IDENT_BYTES - suffix.len()));
                n += 1;
            }
            used.insert(sql.clone());
            SqlColumn {
                name: c.name.clone(),
                ty: c.field_type(),
                sql,
            }
        })
        .collect()
}

fn columns_json(columns: &[SqlColumn]) -> String {
    serde_json::Value::Array(
        columns
            .iter()
            .map(|c| serde_json::json!({"name": c.name, "type": c.ty, "sql": c.sql}))
            .collect(),
    )
    .to_string()
}

fn parse_columns(json: &str) -> std::result::Result<Vec<SqlColumn>, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let items = value.as_array().ok_or("not a list")?;
    items
        .iter()
        .map(|c| {
            let text = |k: &str| {
                c[k].as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("a column without '{k}': {c}"))
            };
            Ok(SqlColumn {
                name: text("name")?,
                sql: text("sql")?,
                ty: serde_json::from_value(c["type"].clone())
                    .map_err(|e| format!("column type in {c}: {e}"))?,
            })
        })
        .collect()
}

/// One value on its way into a binary `COPY`, already in the column's
/// binary format: the columns are chiiki's own, so no type is guessed.
enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Time(i64),
    /// EWKB for a geometry column.
    Bytes(&'a [u8]),
}

impl std::fmt::Debug for Cell<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cell")
    }
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Null => return Ok(IsNull::Yes),
            Cell::Int(v) => out.put_i64(*v),
            Cell::Real(v) => out.put_f64(*v),
            Cell::Text(s) => out.put_slice(s.as_bytes()),
            Cell::Bool(b) => out.put_u8(u8::from(*b)),
            Cell::Date(d) => out.put_i32(d.checked_sub(PG_EPOCH_DAYS).ok_or("date out of range")?),
            Cell::Time(ms) => out.put_i64(
                ms.checked_sub(PG_EPOCH_MS)
                    .and_then(|v| v.checked_mul(1000))
                    .ok_or("time out of range")?,
            ),
            Cell::Bytes(b) => out.put_slice(b),
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        // Every column written is one this module created with the type
        // the cell was made for.
        true
    }

    postgres::types::to_sql_checked!();
}

/// A value read from a binary `COPY`, decoded by the caller, which knows
/// the column's type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(raw: &[u8]) -> std::result::Result<[u8; N], String> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, found {}", raw.len()))
}

/// ISO WKB (as the `wkb` crate writes it, little-endian) made EWKB with
/// SRID 6668, so that PostGIS takes it as JGD2011 whatever the column's
/// declared SRID enforcement does with a bare WKB.
fn ewkb(wkb: &[u8]) -> Vec<u8> {
    const SRID_FLAG: u32 = 0x2000_0000;
    let mut out = Vec::with_capacity(wkb.len() + 4);
    out.push(wkb[0]);
    let little = wkb[0] == 1;
    let ty = if little {
        u32::from_le_bytes(wkb[1..5].try_into().expect("4 bytes"))
    } else {
        u32::from_be_bytes(wkb[1..5].try_into().expect("4 bytes"))
    };
    // ISO WKB gives Z and M as thousands; EWKB as flags. chiiki's
    // geometries are 2-D, so only the SRID flag is added.
    let ty = ty | SRID_FLAG;
    let srid = chiiki_core::crs::STORAGE_EPSG;
    if little {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&srid.to_le_bytes());
    } else {
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&srid.to_be_bytes());
    }
    out.extend_from_slice(&wkb[5..]);
    out
}

impl PostgisStore {
    /// Connects (the password, if any, from wherever the caller read it)
    /// and brings the schema up to this version of chiiki.
    pub fn connect(url: &str, password: Option<&str>) -> Result<PostgisStore> {
        let mut config = parse_url(url)?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("chiiki");
        }
        let mut client = config
            .connect(NoTls)
            .map_err(db(format!("connecting to {url}")))?;
        let version = migrate(&mut client).map_err(|e| match e {
            StoreError::Database { context, error } => StoreError::Database {
                context: format!("{url}: {context}"),
                error,
            },
            other => other,
        })?;
        tracing::debug!("{url}: chiiki schema version {version}");
        Ok(PostgisStore {
            state: Arc::new(crate::state::StateStore::new(config.clone(), url)),
            config,
            url: url.to_string(),
            client: Mutex::new(Some(client)),
            listed: Arc::new(Mutex::new(None)),
            pool: Mutex::new(Vec::new()),
            pool_down_until: Mutex::new(None),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection, made again if it was lost.
    fn client(&self) -> Result<MutexGuard<'_, Option<Client>>> {
        let mut guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(Client::is_closed) {
            tracing::info!("connecting to {} again", self.url);
            *guard = Some(
                self.config
                    .connect(NoTls)
                    .map_err(db(format!("connecting to {}", self.url)))?,
            );
        }
        Ok(guard)
    }

    /// Runs `f` on the connection. A connection found closed by `f` (the
    /// database restarted, an administrator ended it) is made again and `f`
    /// run once more: the sync client learns of a lost connection only when
    /// it uses it, and a reload should not fail for that. Running `f` twice
    /// is safe: what failed on a closed connection was not committed, and a
    /// save whose commit was lost on the way back writes the same layer again.
    fn with<T>(&self, f: impl Fn(&mut Client) -> Result<T>) -> Result<T> {
        let mut guard = self.client()?;
        let result = f(guard.as_mut().expect("connected above"));
        let lost = match &result {
            Err(StoreError::Database { error, .. }) => {
                error.is_closed() || guard.as_ref().is_some_and(Client::is_closed)
            }
            _ => false,
        };
        if !lost {
            return result;
        }
        tracing::warn!("the connection to {} was lost: connecting again", self.url);
        *guard = None;
        drop(guard);
        let mut guard = self.client()?;
        f(guard.as_mut().expect("connected above"))
    }

    /// The feature count and checksum recorded when the layer was saved.
    pub fn recorded(&self, id: &str) -> Result<Option<(u64, String)>> {
        validate_layer_id(id)?;
        self.with(|c| {
            let row = c
                .query_opt(
                    "SELECT features, checksum FROM chiiki.layers WHERE id = $1",
                    &[&id],
                )
                .map_err(db(format!("reading layer '{id}' from {}", self.url)))?;
            Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i32> {
        self.with(|c| {
            c.query_one(
                "SELECT coalesce(max(version), 0) FROM chiiki.schema_version",
                &[],
            )
            .map(|r| r.get(0))
            .map_err(db(format!("reading the schema version of {}", self.url)))
        })
    }
}

/// Creates the schema if needed and applies the migrations this database
/// has not had; returns the version it is at.
fn migrate(client: &mut Client) -> Result<i32> {
    let mut tx = client
        .transaction()
        .map_err(db("starting the schema check"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db("waiting for another process's migration"))?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS chiiki;
         CREATE TABLE IF NOT EXISTS chiiki.schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(db("creating the schema chiiki"))?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM chiiki.schema_version",
            &[],
        )
        .map_err(db("reading the schema version"))?
        .get(0);
    let known = MIGRATIONS.len() as i32;
    if current > known {
        return Err(StoreError::Other {
            context: "the schema chiiki".into(),
            message: format!(
                "the database is at version {current}, newer than this chiiki knows ({known}): upgrade chiiki"
            ),
        });
    }
    tx.commit().map_err(db("creating the schema chiiki"))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        let context = format!("migrating the schema chiiki to version {version}");
        let mut tx = client.transaction().map_err(db(context.clone()))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db(context.clone()))?;
        // Another process may have applied it while this one waited.
        let done: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM chiiki.schema_version WHERE version = $1)",
                &[&version],
            )
            .map_err(db(context.clone()))?
            .get(0);
        if done {
            continue;
        }
        tx.batch_execute(sql).map_err(|error| {
            let hint = if version == 1 {
                " (PostGIS must be installed, and CREATE EXTENSION postgis allowed or already done by an administrator)"
            } else {
                ""
            };
            StoreError::Database {
                context: format!("{context}{hint}"),
                error,
            }
        })?;
        tx.execute(
            "INSERT INTO chiiki.schema_version (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db(context.clone()))?;
        tx.commit().map_err(db(context))?;
        tracing::info!("schema chiiki migrated to version {version}");
    }
    Ok(known)
}

/// The catalogue's state: every layer with when it was saved, and every
/// document of the service's state with its version.
fn catalogue(c: &mut Client) -> std::result::Result<(Vec<String>, String), postgres::Error> {
    let rows = c.query(
        "SELECT id, saved_at::text FROM chiiki.layers ORDER BY id COLLATE \"C\"",
        &[],
    )?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut stamp = String::new();
    for r in rows {
        let id: String = r.get(0);
        let saved: String = r.get(1);
        stamp.push_str(&format!("{id} {saved}\n"));
        ids.push(id);
    }
    // And the state's documents (crate::state): one changed while nobody
    // listened is a change too.
    for r in c.query(
        "SELECT name, version FROM chiiki.documents ORDER BY name COLLATE \"C\"",
        &[],
    )? {
        let name: String = r.get(0);
        let version: i64 = r.get(1);
        stamp.push_str(&format!("doc:{name} {version}\n"));
    }
    Ok((ids, stamp))
}

impl PostgisStore {
    fn save_in(&self, client: &mut Client, layer: &Layer) -> Result<()> {
        let id = &layer.meta.id;
        let context = format!("saving layer '{id}' to {}", self.url);
        let sum = crate::checksum::checksum(layer)?;
        let meta = serde_json::to_string(&layer.meta).map_err(|e| StoreError::Other {
            context: context.clone(),
            message: format!("encoding its metadata: {e}"),
        })?;
        let columns = sql_columns(&layer.columns);
        let table = table_name(id);
        // Saves of one layer are serialised, so the staging name is free.
        let staging = format!("new_{}", short_hash(id));

        let mut tx = client.transaction().map_err(db(context.clone()))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&SAVE_LOCK, &id],
        )
        .map_err(db(context.clone()))?;
        let mut ddl = format!(
            "CREATE TABLE {} ({FID} bigint NOT NULL",
            qualified(&staging)
        );
        for c in &columns {
            ddl.push_str(&format!(", {} {}", ident(&c.sql), sql_type(c.ty)));
        }
        ddl.push_str(&format!(
            ", {GEOM} geometry(Geometry, {}) NOT NULL, {ROW} bigint NOT NULL)",
            chiiki_core::crs::STORAGE_EPSG
        ));
        tx.batch_execute(&ddl).map_err(db(context.clone()))?;

        let mut list = vec![FID.to_string()];
        list.extend(columns.iter().map(|c| ident(&c.sql)));
        list.extend([GEOM.to_string(), ROW.to_string()]);
        let list = list.join(", ");
        let types: Vec<Type> = tx
            .prepare(&format!("SELECT {list} FROM {}", qualified(&staging)))
            .map_err(db(context.clone()))?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({list}) FROM STDIN (FORMAT binary)",
                qualified(&staging)
            ))
            .map_err(db(context.clone()))?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        let options = wkb::writer::WriteOptions {
            endianness: wkb::Endianness::LittleEndian,
        };
        let mut wkb = Vec::new();
        for row in 0..layer.len() {
            let fid = layer.fids[row];
            wkb.clear();
            wkb::writer::write_geometry(&mut wkb, &layer.geometries.get(row), &options).map_err(
                |e| StoreError::Other {
                    context: context.clone(),
                    message: format!("encoding the geometry of feature {fid}: {e}"),
                },
            )?;
            let geom = ewkb(&wkb);
            let mut cells: Vec<Cell> = Vec::with_capacity(columns.len() + 3);
            cells.push(Cell::Int(fid));
            for c in &layer.columns {
                cells.push(if c.is_null(row) {
                    Cell::Null
                } else {
                    match &c.data {
                        ColumnData::Integer(v) => Cell::Int(v[row]),
                        ColumnData::Real(v) => Cell::Real(v[row]),
                        ColumnData::Text(v) => Cell::Text(v.get(row)),
                        ColumnData::Boolean(v) => Cell::Bool(v[row]),
                        ColumnData::Date(v) => Cell::Date(v[row]),
                        ColumnData::DateTime(v) => Cell::Time(v[row]),
                    }
                });
            }
            cells.push(Cell::Bytes(&geom));
            cells.push(Cell::Int(row as i64));
            let refs: Vec<&(dyn ToSql + Sync)> =
                cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            writer
                .write(&refs)
                .map_err(db(format!("{context}: feature {fid}")))?;
        }
        // Dropped without finishing (an error above), the COPY is aborted
        // and the transaction with it.
        let copied = writer.finish().map_err(|error| {
            // The server reports a bad value when the COPY ends, by line:
            // line N is the N-th feature written.
            let line = error
                .as_db_error()
                .and_then(|d| d.where_())
                .and_then(|w| w.split(", line ").nth(1))
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<usize>().ok());
            let feature = line
                .and_then(|n| layer.fids.get(n.wrapping_sub(1)))
                .map(|fid| format!(": feature {fid}"))
                .unwrap_or_default();
            StoreError::Database {
                context: format!("{context}{feature}"),
                error,
            }
        })?;
        debug_assert_eq!(copied as usize, layer.len());

        // Indexes on the whole table at once, faster than row by row.
        tx.batch_execute(&format!(
            "ALTER TABLE {t} ADD CONSTRAINT {pk} PRIMARY KEY ({FID});
             CREATE UNIQUE INDEX {order} ON {t} ({ROW});
             CREATE INDEX {gist} ON {t} USING gist ({GEOM});
             ANALYZE {t};",
            t = qualified(&staging),
            pk = ident(&format!("{staging}_pkey")),
            order = ident(&format!("{staging}_row")),
            gist = ident(&format!("{staging}_geom")),
        ))
        .map_err(db(format!("{context}: indexing")))?;

        // The swap: readers hold the metadata row while they read a table.
        let old: Option<String> = tx
            .query_opt(
                "SELECT table_name FROM chiiki.layers WHERE id = $1 FOR UPDATE",
                &[id],
            )
            .map_err(db(context.clone()))?
            .map(|r| r.get(0));
        let mut swap = String::new();
        for t in old.iter().chain(std::iter::once(&table)) {
            swap.push_str(&format!("DROP TABLE IF EXISTS {};\n", qualified(t)));
        }
        swap.push_str(&format!(
            "ALTER TABLE {s} RENAME TO {t};
             ALTER INDEX {spk} RENAME TO {tpk};
             ALTER INDEX {sorder} RENAME TO {torder};
             ALTER INDEX {sgist} RENAME TO {tgist};",
            s = qualified(&staging),
            t = ident(&table),
            spk = qualified(&format!("{staging}_pkey")),
            tpk = ident(&format!("{}_pkey", cut(&table, MAX_IDENT_BYTES - 5))),
            sorder = qualified(&format!("{staging}_row")),
            torder = ident(&format!("{}_row", cut(&table, MAX_IDENT_BYTES - 5))),
            sgist = qualified(&format!("{staging}_geom")),
            tgist = ident(&format!("{}_geom", cut(&table, MAX_IDENT_BYTES - 5))),
        ));
        tx.batch_execute(&swap).map_err(db(context.clone()))?;
        tx.execute(
            "INSERT INTO chiiki.layers (id, meta, columns, table_name, features, checksum, saved_at)
             VALUES ($1, $2::text::jsonb, $3::text::jsonb, $4, $5, $6, clock_timestamp())
             ON CONFLICT (id) DO UPDATE SET meta = excluded.meta, columns = excluded.columns,
                 table_name = excluded.table_name, features = excluded.features,
                 checksum = excluded.checksum, saved_at = excluded.saved_at",
            &[
                id,
                &meta,
                &columns_json(&columns),
                &table,
                &(layer.len() as i64),
                &sum,
            ],
        )
        .map_err(db(context.clone()))?;
        // Delivered at commit, to every process listening.
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, id])
            .map_err(db(context.clone()))?;
        tx.commit().map_err(db(context))?;
        Ok(())
    }

    fn load_in(&self, client: &mut Client, id: &str) -> Result<Layer> {
        let context = format!("reading layer '{id}' from {}", self.url);
        let corrupt = |message: String| StoreError::Other {
            context: context.clone(),
            message,
        };
        let mut tx = client.transaction().map_err(db(context.clone()))?;
        // FOR SHARE waits out a save's swap and then sees its row, so the
        // table read below is the one this metadata describes.
        let row = tx
            .query_opt(
                "SELECT meta::text, columns::text, table_name, features
                 FROM chiiki.layers WHERE id = $1 FOR SHARE",
                &[&id],
            )
            .map_err(db(context.clone()))?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let meta: LayerMeta =
            serde_json::from_str(row.get(0)).map_err(|e| corrupt(format!("its metadata: {e}")))?;
        let columns =
            parse_columns(row.get(1)).map_err(|e| corrupt(format!("its columns: {e}")))?;
        let table: String = row.get(2);
        let features: i64 = row.get(3);

        let mut list = vec![FID.to_string()];
        list.extend(columns.iter().map(|c| ident(&c.sql)));
        list.push(format!("ST_AsBinary({GEOM}, 'NDR')"));
        let mut types = vec![Type::INT8];
        types.extend(columns.iter().map(|c| pg_type(c.ty)));
        types.push(Type::BYTEA);
        let reader = tx
            .copy_out(&format!(
                "COPY (SELECT {} FROM {} ORDER BY {ROW}) TO STDOUT (FORMAT binary)",
                list.join(", "),
                qualified(&table)
            ))
            .map_err(db(context.clone()))?;

        let n = features.max(0) as usize;
        let mut fids = Vec::with_capacity(n);
        let mut builders: Vec<Builder> = columns.iter().map(|c| Builder::new(c.ty, n)).collect();
        let mut geoms = GeometryBuilder::with_capacity(n);
        let mut rows = BinaryCopyOutIter::new(reader, &types);
        let geom_at = columns.len() + 1;
        while let Some(r) = rows.next().map_err(db(context.clone()))? {
            let at = fids.len();
            let bad = |m: String| corrupt(format!("row {at}: {m}"));
            let fid: i64 = r.try_get(0).map_err(db(context.clone()))?;
            fids.push(fid);
            for (i, b) in builders.iter_mut().enumerate() {
                let raw: Option<Raw> = r.try_get(i + 1).map_err(db(context.clone()))?;
                b.push(raw.map(|r| r.0))
                    .map_err(|m| bad(format!("column '{}': {m}", columns[i].name)))?;
            }
            let wkb: Raw = r.try_get(geom_at).map_err(db(context.clone()))?;
            geoms
                .push(wkb.0)
                .map_err(|m| bad(format!("feature {fid}: {m}")))?;
        }
        drop(rows);
        tx.commit().map_err(db(context.clone()))?;
        if fids.len() != n {
            return Err(corrupt(format!(
                "the catalogue says {n} features, the table holds {}",
                fids.len()
            )));
        }
        let columns = columns
            .into_iter()
            .zip(builders)
            .map(|(c, b)| b.finish(c.name))
            .collect();
        Ok(Layer::from_sorted(LayerParts {
            meta,
            fids,
            geometries: geoms.finish(),
            columns,
        }))
    }
}

/// Collects one column's values as they are read.
struct Builder {
    data: ColumnData,
    nulls: Vec<bool>,
    any_null: bool,
}

impl Builder {
    fn new(ty: FieldType, n: usize) -> Builder {
        let data = match ty {
            FieldType::Integer => ColumnData::Integer(Vec::with_capacity(n)),
            FieldType::Real => ColumnData::Real(Vec::with_capacity(n)),
            FieldType::Text => ColumnData::Text(TextData::default()),
            FieldType::Boolean => ColumnData::Boolean(Vec::with_capacity(n)),
            FieldType::Date => ColumnData::Date(Vec::with_capacity(n)),
            FieldType::DateTime => ColumnData::DateTime(Vec::with_capacity(n)),
        };
        Builder {
            data,
            nulls: Vec::with_capacity(n),
            any_null: false,
        }
    }

    /// A value in PostgreSQL's binary format, or `None` for NULL (kept as
    /// the type's zero under the null mask, as the GeoParquet store does).
    fn push(&mut self, raw: Option<&[u8]>) -> std::result::Result<(), String> {
        self.nulls.push(raw.is_none());
        self.any_null |= raw.is_none();
        match &mut self.data {
            ColumnData::Integer(v) => v.push(raw.map_or(Ok(0), |r| be(r).map(i64::from_be_bytes))?),
            ColumnData::Real(v) => v.push(raw.map_or(Ok(0.0), |r| be(r).map(f64::from_be_bytes))?),
            ColumnData::Text(v) => v.push(
                raw.map_or(Ok(""), std::str::from_utf8)
                    .map_err(|e| e.to_string())?,
            ),
            ColumnData::Boolean(v) => v.push(raw.is_some_and(|r| r.first() == Some(&1))),
            ColumnData::Date(v) => v.push(raw.map_or(Ok(0), |r| {
                be(r).map(|b| i32::from_be_bytes(b).saturating_add(PG_EPOCH_DAYS))
            })?),
            ColumnData::DateTime(v) => v.push(raw.map_or(Ok(0), |r| {
                be(r).map(|b| {
                    i64::from_be_bytes(b)
                        .div_euclid(1000)
                        .saturating_add(PG_EPOCH_MS)
                })
            })?),
        }
        Ok(())
    }

    fn finish(self, name: String) -> Column {
        Column {
            name,
            data: self.data,
            nulls: self.any_null.then_some(self.nulls),
        }
    }
}

/// Geometries as they are read: packed coordinates while every one is a
/// point (the big layers: residents), shapes from the first that is not.
struct GeometryBuilder {
    points: Vec<[f64; 2]>,
    shapes: Option<Vec<geo::Geometry<f64>>>,
}

impl GeometryBuilder {
    fn with_capacity(n: usize) -> GeometryBuilder {
        GeometryBuilder {
            points: Vec::with_capacity(n),
            shapes: None,
        }
    }

    fn push(&mut self, wkb: &[u8]) -> std::result::Result<(), String> {
        if self.shapes.is_none() {
            if let Some(p) = crate::geoparquet::little_endian_point(wkb) {
                self.points.push(p);
                return Ok(());
            }
            let points = std::mem::take(&mut self.points);
            self.shapes = Some(
                points
                    .into_iter()
                    .map(|[x, y]| geo::Geometry::Point(geo::Point::new(x, y)))
                    .collect(),
            );
        }
        let parsed = wkb::reader::read_wkb(wkb).map_err(|e| format!("bad WKB: {e}"))?;
        let geom = parsed.try_to_geometry().ok_or("unsupported geometry")?;
        self.shapes.as_mut().expect("set above").push(geom);
        Ok(())
    }

    fn finish(self) -> Geometries {
        match self.shapes {
            Some(s) => Geometries::Shapes(s),
            None if self.points.is_empty() => Geometries::Shapes(Vec::new()),
            None => Geometries::Points(self.points),
        }
    }
}

/// A constant for a query's `$n` placeholder, sent in PostgreSQL's binary
/// format for the type the SQL casts the placeholder to (`$1::bigint`, …).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    /// `bigint`
    Int(i64),
    /// `float8`
    Real(f64),
    /// `text`
    Text(String),
    /// `boolean`
    Bool(bool),
    /// `date`: days since 1970-01-01.
    Date(i32),
    /// `timestamptz`: milliseconds since 1970-01-01T00:00:00Z.
    Ms(i64),
    /// `bytea`
    Bytes(Vec<u8>),
}

impl ToSql for SqlParam {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let expected = match self {
            SqlParam::Int(_) => Type::INT8,
            SqlParam::Real(_) => Type::FLOAT8,
            SqlParam::Text(_) => Type::TEXT,
            SqlParam::Bool(_) => Type::BOOL,
            SqlParam::Date(_) => Type::DATE,
            SqlParam::Ms(_) => Type::TIMESTAMPTZ,
            SqlParam::Bytes(_) => Type::BYTEA,
        };
        if *ty != expected {
            return Err(format!("a {expected} value for a {ty} placeholder").into());
        }
        match self {
            SqlParam::Int(v) => Cell::Int(*v).to_sql(ty, out),
            SqlParam::Real(v) => Cell::Real(*v).to_sql(ty, out),
            SqlParam::Text(v) => Cell::Text(v).to_sql(ty, out),
            SqlParam::Bool(v) => Cell::Bool(*v).to_sql(ty, out),
            SqlParam::Date(v) => Cell::Date(*v).to_sql(ty, out),
            SqlParam::Ms(v) => Cell::Time(*v).to_sql(ty, out),
            SqlParam::Bytes(v) => Cell::Bytes(v).to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Checked against the placeholder's type in `to_sql`.
        true
    }

    postgres::types::to_sql_checked!();
}

/// The SQL identifier (quoted) of each attribute column of a layer with
/// `columns`, as a save names them: what a `WHERE` clause for
/// [`PostgisStore::select_page`] refers to them by.
pub fn column_identifiers(columns: &[Column]) -> Vec<String> {
    sql_columns(columns).iter().map(|c| ident(&c.sql)).collect()
}

/// One page of a layer read with a `WHERE` clause, for a server that
/// answers from the database.
#[derive(Debug)]
pub struct PageQuery<'a> {
    /// A boolean SQL expression over the layer table (`fid`, `geom`, the
    /// [`column_identifiers`]) whose constants are all `params` (`$1`…).
    pub filter: &'a str,
    pub params: &'a [SqlParam],
    /// The attribute columns to read: the others come back all null.
    pub wanted: &'a [bool],
    pub limit: usize,
    pub offset: usize,
    /// How many features the layer had when the caller loaded it: with its
    /// import time, what tells whether the table is still that layer.
    pub features: usize,
}

/// A page: the layer holding just its rows (in the saved order), and how
/// many rows match in all.
pub struct PageRows {
    pub layer: Layer,
    pub matched: usize,
}

/// Idle connections kept for page queries.
const POOL_IDLE: usize = 8;
/// How long page queries fail at once after a connection failed.
const POOL_RETRY: Duration = Duration::from_secs(5);

/// A connection from the page-query pool, handed back when dropped.
struct Pooled<'a> {
    client: Option<Client>,
    pool: &'a Mutex<Vec<Client>>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.is_closed() {
                let mut idle = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < POOL_IDLE {
                    idle.push(c);
                }
            }
        }
    }
}

impl PostgisStore {
    fn pooled(&self) -> Result<Pooled<'_>> {
        let idle = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let client = match idle {
            Some(c) if !c.is_closed() => c,
            _ => {
                let mut down = self
                    .pool_down_until
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if down.is_some_and(|until| std::time::Instant::now() < until) {
                    return Err(StoreError::Other {
                        context: format!("connecting to {}", self.url),
                        message: "the last attempt failed moments ago".into(),
                    });
                }
                match self.config.connect(NoTls) {
                    Ok(c) => {
                        *down = None;
                        c
                    }
                    Err(e) => {
                        *down = Some(std::time::Instant::now() + POOL_RETRY);
                        return Err(db(format!("connecting to {}", self.url))(e));
                    }
                }
            }
        };
        Ok(Pooled {
            client: Some(client),
            pool: &self.pool,
        })
    }

    /// The rows of layer `meta.id` that `query.filter` keeps, in the saved
    /// order, `query.limit` of them from `query.offset`: one `SELECT …
    /// WHERE … ORDER BY chiiki_row LIMIT … OFFSET …` (and a `count(*)` when
    /// the page alone does not tell how many match), in one transaction
    /// holding the catalogue row, so a save's swap waits for it. `columns`
    /// is the layer as this process holds it: a table saved since with
    /// other columns is refused ([`StoreError::Other`]), not misread.
    ///
    /// A pooled connection found closed (the database restarted) is
    /// replaced and the query run once more.
    pub fn select_page(
        &self,
        meta: &LayerMeta,
        columns: &[Column],
        query: &PageQuery,
    ) -> Result<PageRows> {
        validate_layer_id(&meta.id)?;
        let mut pooled = self.pooled()?;
        let client = pooled.client.as_mut().expect("set when pooled");
        match self.select_in(client, meta, columns, query) {
            Err(StoreError::Database { error, .. }) if error.is_closed() || client.is_closed() => {
                drop(pooled);
                let mut pooled = self.pooled()?;
                let client = pooled.client.as_mut().expect("set when pooled");
                self.select_in(client, meta, columns, query)
            }
            other => other,
        }
    }

    fn select_in(
        &self,
        client: &mut Client,
        meta: &LayerMeta,
        columns: &[Column],
        query: &PageQuery,
    ) -> Result<PageRows> {
        let id = &meta.id;
        let context = format!("querying layer '{id}' in {}", self.url);
        let mut tx = client.transaction().map_err(db(context.clone()))?;
        let row = tx
            .query_opt(
                "SELECT columns::text, table_name, features, meta->>'imported_at'
                 FROM chiiki.layers WHERE id = $1 FOR SHARE",
                &[id],
            )
            .map_err(db(context.clone()))?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let saved = parse_columns(row.get(0)).map_err(|e| StoreError::Other {
            context: context.clone(),
            message: format!("its columns: {e}"),
        })?;
        let sql = sql_columns(columns);
        if saved != sql {
            return Err(StoreError::Other {
                context,
                message: "the layer was saved with other columns since it was loaded".into(),
            });
        }
        // Saved again since the caller loaded it (its reload not done yet):
        // the page would come from another generation than the one the
        // caller serves, so the caller answers from memory until it reloads.
        let features: i64 = row.get(2);
        let imported_at: Option<&str> = row.get(3);
        if features != query.features as i64 || imported_at.unwrap_or("") != meta.imported_at {
            return Err(StoreError::Other {
                context,
                message: "the layer was saved again since it was loaded".into(),
            });
        }
        let table = qualified(row.get::<_, &str>(1));

        let mut list = vec![FID.to_string()];
        for (c, &want) in sql.iter().zip(query.wanted) {
            if want {
                list.push(ident(&c.sql));
            }
        }
        list.push(format!("ST_AsBinary({GEOM}, 'NDR')"));
        let filter = if query.filter.is_empty() {
            "TRUE"
        } else {
            query.filter
        };
        let n = query.params.len();
        let limit = SqlParam::Int(query.limit.min(i64::MAX as usize) as i64);
        let offset = SqlParam::Int(query.offset.min(i64::MAX as usize) as i64);
        let mut params: Vec<&(dyn ToSql + Sync)> = query
            .params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect();
        params.push(&limit);
        params.push(&offset);
        let select = format!(
            "SELECT {} FROM {table} WHERE {filter} ORDER BY {ROW} LIMIT ${}::bigint OFFSET ${}::bigint",
            list.join(", "),
            n + 1,
            n + 2
        );
        let rows = tx.query(&select, &params).map_err(db(context.clone()))?;

        let mut fids = Vec::with_capacity(rows.len());
        let mut builders: Vec<Builder> =
            sql.iter().map(|c| Builder::new(c.ty, rows.len())).collect();
        let mut geoms = GeometryBuilder::with_capacity(rows.len());
        let corrupt = |message: String| StoreError::Other {
            context: context.clone(),
            message,
        };
        for r in &rows {
            let fid: i64 = r.try_get(0).map_err(db(context.clone()))?;
            let mut at = 1;
            for (i, b) in builders.iter_mut().enumerate() {
                let raw: Option<Raw> = if query.wanted[i] {
                    at += 1;
                    r.try_get(at - 1).map_err(db(context.clone()))?
                } else {
                    None
                };
                b.push(raw.map(|r| r.0)).map_err(|m| {
                    corrupt(format!("feature {fid}: column '{}': {m}", columns[i].name))
                })?;
            }
            let wkb: Raw = r.try_get(at).map_err(db(context.clone()))?;
            geoms
                .push(wkb.0)
                .map_err(|m| corrupt(format!("feature {fid}: {m}")))?;
            fids.push(fid);
        }
        // The page tells the count when it is neither empty past the start
        // nor full: only then is a count(*) needed.
        let got = rows.len();
        let matched = if got > 0 && got < query.limit || got == 0 && query.offset == 0 {
            query.offset + got
        } else {
            let count = format!("SELECT count(*) FROM {table} WHERE {filter}");
            let c: i64 = tx
                .query_one(&count, &params[..n])
                .map_err(db(context.clone()))?
                .get(0);
            c.max(0) as usize
        };
        tx.commit().map_err(db(context.clone()))?;
        let columns = sql
            .into_iter()
            .zip(builders)
            .map(|(c, b)| b.finish(c.name))
            .collect();
        Ok(PageRows {
            layer: Layer::from_sorted(LayerParts {
                meta: meta.clone(),
                fids,
                geometries: geoms.finish(),
                columns,
            }),
            matched,
        })
    }
}

impl LayerStore for PostgisStore {
    fn list(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let (ids, stamp) =
                catalogue(c).map_err(db(format!("listing the layers in {}", self.url)))?;
            *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = Some(stamp);
            Ok(ids)
        })
    }

    fn load(&self, id: &str) -> Result<Layer> {
        validate_layer_id(id)?;
        self.with(|c| self.load_in(c, id))
    }

    fn save(&self, layer: &Layer) -> Result<()> {
        validate_layer_id(&layer.meta.id)?;
        self.with(|c| self.save_in(c, layer))
    }

    fn metadata(&self, id: &str) -> Result<Option<LayerMeta>> {
        validate_layer_id(id)?;
        self.with(|c| {
            let context = format!("reading layer '{id}' from {}", self.url);
            let Some(row) = c
                .query_opt("SELECT meta::text FROM chiiki.layers WHERE id = $1", &[&id])
                .map_err(db(context.clone()))?
            else {
                return Ok(None);
            };
            serde_json::from_str(row.get(0))
                .map(Some)
                .map_err(|e| StoreError::Other {
                    context,
                    message: format!("its metadata: {e}"),
                })
        })
    }

    fn state(&self) -> Option<Arc<crate::state::StateStore>> {
        Some(self.state.clone())
    }

    fn postgis(&self) -> Option<&PostgisStore> {
        Some(self)
    }

    fn watch(&self, changed: crate::OnChange) -> Result<bool> {
        let config = self.config.clone();
        let url = self.url.clone();
        let listed = self.listed.clone();
        std::thread::Builder::new()
            .name("chiiki-listen".into())
            .spawn(move || listen(&config, &url, &listed, &*changed))
            .map_err(|e| StoreError::Other {
                context: format!("listening for changes on {}", self.url),
                message: format!("starting a thread: {e}"),
            })?;
        Ok(true)
    }
}

/// Listens on [`CHANNEL`] for as long as the process lives, on its own
/// connection, connecting again (after 1 s, doubling up to 30 s) whenever
/// it is lost. Each time it starts listening it compares the catalogue with
/// what was last listed: a change made while nobody listened is reported
/// as a change of unknown layers.
fn listen(
    config: &postgres::Config,
    url: &str,
    listed: &Mutex<Option<String>>,
    changed: &(dyn Fn(Option<&str>) + Send + Sync),
) {
    let mut wait = Duration::from_secs(1);
    loop {
        let started = config.connect(NoTls).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            let (_, stamp) = catalogue(&mut c)?;
            Ok((c, stamp))
        });
        match started {
            Ok((mut client, stamp)) => {
                wait = Duration::from_secs(1);
                tracing::info!("listening for layer changes on {url}");
                let seen = listed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if seen.is_some_and(|s| s != stamp) {
                    changed(None);
                }
                // Quiet for a while, the connection is probed: a server that
                // vanished without closing it would otherwise be waited on forever.
                let why = loop {
                    let quiet = {
                        let mut notifications = client.notifications();
                        let mut iter = notifications.timeout_iter(Duration::from_secs(30));
                        loop {
                            match iter.next() {
                                Ok(Some(n)) => changed(Some(n.payload())),
                                Ok(None) => break Ok(()),
                                Err(e) => break Err(describe(&e)),
                            }
                        }
                    };
                    if let Err(e) = quiet {
                        break e;
                    }
                    if client.is_closed() {
                        break "the connection closed".to_string();
                    }
                    if let Err(e) = client.is_valid(Duration::from_secs(10)) {
                        break describe(&e);
                    }
                };
                tracing::warn!("listening for layer changes on {url}: {why}");
            }
            Err(e) => tracing::warn!(
                "listening for layer changes on {url}: {}; trying again in {wait:?}",
                describe(&e)
            ),
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_password_is_refused() {
        for url in [
            "postgres://chiiki:secret@db.example.lg.jp:5432/gis",
            "host=db.example.lg.jp user=chiiki password=secret dbname=gis",
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains("password"), "{err}");
            assert!(
                !err.contains("secret"),
                "the message repeats the password: {err}"
            );
        }
        let c = parse_url("postgres://chiiki@db.example.lg.jp:5433/gis").unwrap();
        assert_eq!(c.get_user(), Some("chiiki"));
        assert_eq!(c.get_ports(), &[5433]);
        assert!(parse_url("postgres://[broken").is_err());
    }

    #[test]
    fn table_and_column_names_fit_postgresql_and_never_collide() {
        assert_eq!(
            table_name("shelters_evacuation"),
            "layer_shelters_evacuation"
        );
        let long = "a".repeat(64);
        let t = table_name(&long);
        assert!(t.len() <= MAX_IDENT_BYTES, "{t}");
        assert_ne!(t, table_name(&"a".repeat(63)));

        let names = [
            "geom",
            "fid",
            "名称",
            "geom_2",
            &"長".repeat(30), // 90 bytes
            &"長".repeat(31),
        ];
        let cols: Vec<Column> = names
            .iter()
            .map(|n| Column::new(n, FieldType::Text))
            .collect();
        let sql: Vec<String> = sql_columns(&cols).into_iter().map(|c| c.sql).collect();
        assert_eq!(sql[2], "名称");
        let mut unique = sql.clone();
        unique.extend([FID.to_string(), GEOM.to_string(), ROW.to_string()]);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), sql.len() + 3, "{sql:?}");
        assert!(sql.iter().all(|s| s.len() <= MAX_IDENT_BYTES), "{sql:?}");
        // The mapping survives the catalogue.
        let parsed = parse_columns(&columns_json(&sql_columns(&cols))).unwrap();
        assert_eq!(parsed, sql_columns(&cols));
    }

    #[test]
    fn ewkb_carries_the_storage_srid() {
        let mut wkb = Vec::new();
        wkb::writer::write_geometry(
            &mut wkb,
            &geo::Geometry::Point(geo::Point::new(139.75, 35.7)),
            &wkb::writer::WriteOptions {
                endianness: wkb::Endianness::LittleEndian,
            },
        )
        .unwrap();
        let e = ewkb(&wkb);
        assert_eq!(e.len(), 25);
        assert_eq!(u32::from_le_bytes(e[1..5].try_into().unwrap()), 0x2000_0001);
        assert_eq!(u32::from_le_bytes(e[5..9].try_into().unwrap()), 6668);
        assert_eq!(&e[9..], &wkb[5..]);
    }
}
