//! The seam between handlers and data: a [`FeatureSource`] answers the
//! questions a request asks of one collection, as the caller's role sees it.
//!
//! Handlers never index a layer themselves: they ask the source for a page
//! of features matching a parsed query, or for one feature by id, and write
//! what comes back. The in-memory layers ([`MemorySource`]) are the first
//! implementation; [`PostgisSource`] answers the same calls with a query
//! to the PostGIS store (its role views come from
//! [`chiiki_policy::privacy::ViewSpec`]: a column projection, a row
//! predicate and pseudonymised ids).
//!
//! # Push-down to PostGIS
//!
//! With `store = "postgis"`, a request for the items of a stored layer
//! (not a saved analysis, not the shelters' occupancy, without `as_of`,
//! `changes_since` or `param.*`) is answered by one `SELECT` on the layer's
//! table: the role's row predicate, the `bbox` (`geom && envelope AND
//! ST_Intersects`), the `datetime` interval, property equality and the CQL2
//! `filter` become one `WHERE` with bound parameters only
//! ([`chiiki_query::sql`]), ordered by the saved row order (`chiiki_row`,
//! so pages are those of the in-memory layer) with `LIMIT`/`OFFSET`, and a
//! `count(*)` only when the page does not tell `numberMatched`. Only the
//! columns the response writes and the role may see are selected; columns
//! the role may not see never leave the database. Generalisation and
//! pseudonyms are then applied to the page by the same Rust code that
//! builds the in-memory views ([`chiiki_policy::privacy::materialise`]
//! without its row filter), so the bytes written are the memory path's.
//!
//! Whatever cannot be said in SQL with the same answer (CASEI, an age band
//! in a filter, a feature by pseudonym, a layer saved since it was loaded)
//! is answered from memory, as is any request when the database fails
//! (logged): answers never depend on which path served them. The
//! `Server-Timing` header says which did (`source;desc="postgis"` or
//! `"memory"`).

use std::sync::Arc;

use chiiki_core::layers::{FieldType, Layer, LayerMeta, Value};
use chiiki_policy::privacy::{ColumnRule, PseudonymKey, ViewSpec};
use chiiki_query::ast::CmpOp;
use chiiki_query::bind::{Bound, Lit};
use chiiki_query::sql::{NotTranslatable, Param, SqlColumn, Translator};
use chiiki_store::postgis::{column_identifiers, PageQuery, SqlParam};
use chiiki_store::{PostgisStore, StoreError};

use crate::items::{select, ItemsQuery};

/// Features a source returns: `rows` of `layer`, in order, and how many
/// features the query matched in all (for `numberMatched` and paging links).
/// An in-memory source hands out its own layer and the row numbers; a SQL
/// source hands out a layer holding just the page, and rows `0..n`.
pub struct Page {
    pub layer: Arc<Layer>,
    pub rows: Vec<u32>,
    pub matched: usize,
    /// Whether the database answered (else the layer in memory did).
    pub pushed_down: bool,
}

/// One collection, as a caller may see it.
pub trait FeatureSource: Send + Sync {
    /// Id, title, access, sensitivity labels, time field.
    fn meta(&self) -> &LayerMeta;
    /// The features matching `query` (bbox, datetime, property equality,
    /// CQL2 filter), `query.limit` of them from `query.offset`, in a stable order.
    fn select(&self, query: &ItemsQuery) -> Page;
    /// The feature with id `id`, if there is one.
    fn feature(&self, id: i64) -> Option<Page>;
}

/// A layer held in memory: rows in Hilbert order with an R-tree.
pub struct MemorySource(pub Arc<Layer>);

impl FeatureSource for MemorySource {
    fn meta(&self) -> &LayerMeta {
        &self.0.meta
    }

    fn select(&self, query: &ItemsQuery) -> Page {
        let selection = select(&self.0, query);
        Page {
            layer: self.0.clone(),
            rows: selection.page(query.offset, query.limit),
            matched: selection.count(),
            pushed_down: false,
        }
    }

    fn feature(&self, id: i64) -> Option<Page> {
        let row = self.0.row_of(id)?;
        Some(Page {
            layer: self.0.clone(),
            rows: vec![row as u32],
            matched: 1,
            pushed_down: false,
        })
    }
}

/// Why a request was answered from memory instead of the database.
#[derive(Debug, thiserror::Error)]
pub enum PushDownError {
    #[error(transparent)]
    NotTranslatable(#[from] NotTranslatable),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the role's row filter: {0}")]
    RowFilter(chiiki_query::ParseError),
    #[error("applying the role's view to the page: {0}")]
    View(chiiki_policy::privacy::Refusal),
}

/// A stored layer answered by queries to the PostGIS store, as one role
/// sees it; the role's view in memory answers what SQL cannot.
pub struct PostgisSource<'a> {
    pub store: &'a PostgisStore,
    /// The stored layer, as this process holds it (its schema and metadata).
    pub base: &'a Layer,
    /// The role's view of `base` in memory: what queries were bound to,
    /// and the fallback.
    pub view: Arc<Layer>,
    /// How the role sees `base`; `None`: as it is.
    pub spec: Option<ViewSpec>,
    pub role: &'a str,
    /// The day the view is for (age bands).
    pub day: chrono::NaiveDate,
    pub key: &'a PseudonymKey,
}

fn lit(v: &Value) -> Option<Lit> {
    Some(match v {
        Value::Integer(x) => Lit::Int(*x),
        Value::Real(x) => Lit::Real(*x),
        Value::Text(s) => Lit::Text(s.clone()),
        Value::Boolean(b) => Lit::Bool(*b),
        Value::Date(d) => Lit::Date(*d),
        Value::DateTime(t) => Lit::Ms(*t),
        Value::Null => return None,
    })
}

fn param(p: Param) -> SqlParam {
    match p {
        Param::Int(v) => SqlParam::Int(v),
        Param::Real(v) => SqlParam::Real(v),
        Param::Text(v) => SqlParam::Text(v),
        Param::Bool(v) => SqlParam::Bool(v),
        Param::Date(v) => SqlParam::Date(v),
        Param::Ms(v) => SqlParam::Ms(v),
        Param::Wkb(v) => SqlParam::Bytes(v),
    }
}

fn and(a: Bound, b: Bound) -> Bound {
    Bound::And(Box::new(a), Box::new(b))
}

impl PostgisSource<'_> {
    fn rule(&self, name: &str) -> Option<ColumnRule> {
        self.spec
            .as_ref()
            .and_then(|s| s.columns.get(name).copied())
    }

    /// The base column each view column is, when it is one unchanged.
    fn view_columns(&self, base: &[Option<SqlColumn>]) -> Vec<Option<SqlColumn>> {
        self.view
            .columns
            .iter()
            .map(|c| {
                let (j, b) = self.base.column(&c.name)?;
                let kept = matches!(self.rule(&c.name), None | Some(ColumnRule::Keep));
                (kept && b.field_type() == c.field_type())
                    .then(|| base[j].clone())
                    .flatten()
            })
            .collect()
    }

    /// The request's conditions on the view other than its CQL2 filter
    /// (property equality, `datetime`), as a bound filter on the view.
    fn conditions(&self, q: &ItemsQuery) -> Result<Option<Bound>, NotTranslatable> {
        let mut all: Option<Bound> = None;
        let mut add = |b: Bound| {
            all = Some(match all.take() {
                Some(a) => and(a, b),
                None => b,
            })
        };
        for (col, value) in &q.filters {
            let value = lit(value).ok_or_else(|| NotTranslatable("a null".into()))?;
            add(Bound::Cmp {
                col: *col,
                op: CmpOp::Eq,
                value,
                casei: false,
            });
        }
        if let (Some((lo, hi)), Some(time)) = (q.datetime, &self.view.meta.time_field) {
            let (col, c) = self
                .view
                .column(time)
                .ok_or_else(|| NotTranslatable("no time column".into()))?;
            // A day [d, d + 1 day) meets [lo, hi] when its last millisecond
            // is not before lo and its first not after hi.
            let before = match c.field_type() {
                FieldType::Date => 86_399_999,
                FieldType::DateTime => 0,
                _ => {
                    add(Bound::Const(false));
                    return Ok(all);
                }
            };
            if let Some(lo) = lo {
                add(Bound::Cmp {
                    col,
                    op: CmpOp::Ge,
                    value: Lit::Ms(lo.saturating_sub(before)),
                    casei: false,
                });
            }
            if let Some(hi) = hi {
                add(Bound::Cmp {
                    col,
                    op: CmpOp::Le,
                    value: Lit::Ms(hi),
                    casei: false,
                });
            }
        }
        Ok(all)
    }

    /// The `WHERE` for the role's rows and `q`, with its parameters.
    fn clause(
        &self,
        q: Option<&ItemsQuery>,
        extra: Option<(&str, i64)>,
    ) -> Result<(String, Vec<SqlParam>), PushDownError> {
        let base: Vec<Option<SqlColumn>> = column_identifiers(&self.base.columns)
            .into_iter()
            .zip(&self.base.columns)
            .map(|(ident, c)| {
                Some(SqlColumn {
                    ident,
                    ty: c.field_type(),
                })
            })
            .collect();
        let view = self.view_columns(&base);
        let points = matches!(
            self.view.geometries,
            chiiki_core::layers::Geometries::Points(_)
        );
        let mut t = Translator::new(points);
        let mut parts = Vec::new();
        if let Some(rows) = self.spec.as_ref().and_then(|s| s.rows.as_deref()) {
            let f = chiiki_query::Filter::on_date(
                rows,
                self.base,
                chiiki_core::crs::Crs::Crs84,
                self.day,
            )
            .map_err(PushDownError::RowFilter)?;
            parts.push(t.filter(f.bound(), &base)?);
        }
        if let Some((column, value)) = extra {
            parts.push(format!("({column} = {})", t.param(Param::Int(value))));
        }
        if let Some(q) = q {
            if let Some(b) = q.bbox {
                parts.push(t.bbox(b));
            }
            if let Some(c) = self.conditions(q)? {
                parts.push(t.filter(&c, &view)?);
            }
            if let Some(f) = &q.filter {
                parts.push(t.filter(f.bound(), &view)?);
            }
        }
        let params = t.into_params().into_iter().map(param).collect();
        Ok((parts.join(" AND "), params))
    }

    /// Base columns the page needs: those behind `columns` of the view
    /// that the role may see.
    fn wanted(&self, columns: &[usize]) -> Vec<bool> {
        self.base
            .columns
            .iter()
            .map(|c| {
                let shown = match self.rule(&c.name) {
                    Some(ColumnRule::Drop) => return false,
                    Some(ColumnRule::AgeBand) => "age_band",
                    _ => c.name.as_str(),
                };
                self.view
                    .column(shown)
                    .is_some_and(|(i, _)| columns.contains(&i))
            })
            .collect()
    }

    /// `base` rows as the role sees them.
    fn shown(&self, page: Layer) -> Result<Layer, PushDownError> {
        match &self.spec {
            None => Ok(page),
            Some(spec) => {
                let spec = ViewSpec {
                    rows: None,
                    ..spec.clone()
                };
                chiiki_policy::privacy::materialise(&page, &spec, self.role, self.day, self.key)
                    .map_err(PushDownError::View)
            }
        }
    }

    fn query(
        &self,
        q: Option<&ItemsQuery>,
        extra: Option<(&str, i64)>,
        columns: &[usize],
        (limit, offset): (usize, usize),
    ) -> Result<Page, PushDownError> {
        let (filter, params) = self.clause(q, extra)?;
        let wanted = self.wanted(columns);
        let rows = self.store.select_page(
            &self.base.meta,
            &self.base.columns,
            &PageQuery {
                filter: &filter,
                params: &params,
                wanted: &wanted,
                limit,
                offset,
                features: self.base.len(),
            },
        )?;
        let layer = self.shown(rows.layer)?;
        Ok(Page {
            rows: (0..layer.len() as u32).collect(),
            layer: Arc::new(layer),
            matched: rows.matched,
            pushed_down: true,
        })
    }

    /// The page from the database, or why not.
    pub fn try_select(&self, q: &ItemsQuery) -> Result<Page, PushDownError> {
        self.query(Some(q), None, &q.columns, (q.limit, q.offset))
    }

    /// The feature from the database, or why not (`Ok(None)`: no such
    /// feature for this role). A pseudonym cannot be looked up in SQL.
    pub fn try_feature(&self, id: i64, columns: &[usize]) -> Result<Option<Page>, PushDownError> {
        if self.spec.as_ref().is_some_and(|s| s.pseudonymise.is_some()) {
            return Err(NotTranslatable("a feature by its pseudonym".into()).into());
        }
        let page = self.query(None, Some(("fid", id)), columns, (1, 0))?;
        Ok((!page.rows.is_empty()).then_some(page))
    }

    fn fallback(&self, why: &PushDownError) {
        match why {
            PushDownError::NotTranslatable(e) => {
                tracing::debug!("{}: answered from memory: {e}", self.base.meta.id)
            }
            e => tracing::warn!("{}: answered from memory: {e}", self.base.meta.id),
        }
    }
}

impl FeatureSource for PostgisSource<'_> {
    fn meta(&self) -> &LayerMeta {
        &self.view.meta
    }

    fn select(&self, query: &ItemsQuery) -> Page {
        self.try_select(query).unwrap_or_else(|why| {
            self.fallback(&why);
            MemorySource(self.view.clone()).select(query)
        })
    }

    fn feature(&self, id: i64) -> Option<Page> {
        let all: Vec<usize> = (0..self.view.columns.len()).collect();
        self.try_feature(id, &all).unwrap_or_else(|why| {
            self.fallback(&why);
            MemorySource(self.view.clone()).feature(id)
        })
    }
}
