//! Cross-layer analyses — the questions planners and health staff ask —
//! each producing a new layer, so that the API serves it like any other
//! collection (paging, bbox, crs, filter) and QGIS adds it as a layer.
//!
//! Two operations, each with CQL2 filters on its inputs:
//!
//! - **join**: features of `left` related to features of `right` — inside
//!   them (`within`), within a distance in metres, beyond a distance of all
//!   of them, or with the distance to the nearest — with the related
//!   feature's attributes attached;
//! - **aggregate**: the points of `source` counted, summed, averaged or
//!   shared per JIS mesh cell or per polygon of a layer, each measure with
//!   its own filter, optionally against a table of ids (vaccinations by
//!   住民票コード); a `having` filter keeps the groups that matter.
//!
//! - **visits**: people of a list grouped into homes (households) and homes
//!   into visit rounds of at most N, each ordered as a short walk along a
//!   network ([`visits`]).
//!
//! Inputs are layers or other analyses (by id), so a join can feed an
//! aggregation. Every result carries its reference date (`as_of`), the day
//! ages are counted on.
//!
//! **Every analysis reads its inputs through its author's view**
//! ([`InputView`]): rows the role that saved it may not read, and fields it
//! may not see, do not exist for it — in filters, measures, keys, `having`
//! and nested analyses alike. The answer's columns carry labels derived
//! from the inputs' ([`chiiki_core::sensitivity::Label`]): a sum of
//! identifiers is refused, a flag summed is a count, a key copied from
//! people is an identifier.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

pub mod area;
pub mod disclosure;
mod error;
pub mod parameters;
pub mod polygon_grid;
pub mod visits;

pub use error::AnalysisError;
pub use parameters::{ParamValue, Parameter, Setting};

/// Results of this crate.
pub type Result<T, E = AnalysisError> = std::result::Result<T, E>;
use chrono::NaiveDate;
use geo::{BoundingRect, Intersects, MultiPolygon};
use serde::{Deserialize, Serialize};

use crate::disclosure::MeasureKind;
use crate::polygon_grid::PolygonGrid;
use chiiki_core::crs::Crs;
use chiiki_core::layers::column::{Column, FieldType, Value};
use chiiki_core::layers::{Access, Geometries, Layer, LayerMeta, LayerParts};
use chiiki_core::mesh::{self, MeshLevel};
use chiiki_core::sensitivity::{Label, PersonalField, Privacy};
use chiiki_query::eval::LocalPlane;
use chiiki_query::Filter;

/// A saved analysis: its id is its collection id. (Unknown keys cannot be
/// refused here: serde does not combine that with the flattened operation.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Roles that may read the result (admin always may); never public
    /// unless said.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub public: bool,
    /// Who saved it: the answer is computed from what that role may read.
    /// Set by the service, never taken from a request.
    #[serde(default)]
    pub saved_by: Option<SavedBy>,
    #[serde(flatten)]
    pub operation: Operation,
    /// Values a reader may change when asking ([`parameters`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
}

/// The author of a saved analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedBy {
    pub role: String,
    /// The token's id (never its secret), for the audit trail.
    #[serde(default)]
    pub token: Option<String>,
    /// RFC 3339 time of saving.
    #[serde(default)]
    pub at: Option<String>,
}

/// The role an analysis without a known author reads as: the least.
pub const UNKNOWN_AUTHOR: &str = "public";

impl Analysis {
    /// The role whose view of the inputs the analysis reads.
    pub fn author(&self) -> &str {
        self.saved_by
            .as_ref()
            .map_or(UNKNOWN_AUTHOR, |s| s.role.as_str())
    }

    /// The ids of the layers and analyses it reads.
    pub fn inputs(&self) -> Vec<&str> {
        match &self.operation {
            Operation::Join {
                left,
                right,
                relation,
                ..
            } => {
                let mut out = vec![left.layer.as_str(), right.layer.as_str()];
                out.extend(relation.network());
                out
            }
            Operation::Aggregate { source, to, .. } => {
                let mut out = vec![source.layer.as_str()];
                match to {
                    Target::Layer { layer, .. } => out.push(layer),
                    Target::Nearest {
                        nearest, network, ..
                    } => out.extend([nearest.as_str(), network.as_str()]),
                    Target::Mesh { .. } => {}
                }
                out
            }
            Operation::Visits {
                source, network, ..
            } => vec![source.layer.as_str(), network.as_str()],
        }
    }

    /// The id tables (CSV files) the definition reads.
    pub fn tables(&self) -> Vec<&IdTable> {
        let mut out = Vec::new();
        match &self.operation {
            Operation::Join { left, right, .. } => {
                out.extend(left.not_in.as_ref());
                out.extend(right.not_in.as_ref());
            }
            Operation::Aggregate { source, table, .. } => {
                out.extend(source.not_in.as_ref());
                out.extend(table.as_ref());
            }
            Operation::Visits { source, .. } => out.extend(source.not_in.as_ref()),
        }
        out
    }

    /// Every CQL2 filter of the definition (for limits and the audit log).
    pub fn filters(&self) -> Vec<&str> {
        let mut out = Vec::new();
        match &self.operation {
            Operation::Join { left, right, .. } => {
                out.extend(left.filter.as_deref());
                out.extend(right.filter.as_deref());
            }
            Operation::Aggregate {
                source,
                to,
                measures,
                having,
                ..
            } => {
                out.extend(source.filter.as_deref());
                if let Target::Layer { filter, .. } = to {
                    out.extend(filter.as_deref());
                }
                out.extend(measures.iter().filter_map(|m| m.filter.as_deref()));
                out.extend(having.as_deref());
            }
            Operation::Visits { source, .. } => out.extend(source.filter.as_deref()),
        }
        out
    }
}

/// What the author of an analysis may read of each input.
///
/// The policy floor implements it from roles; the analysis floor only asks.
pub trait InputView: Sync {
    /// Role `author`'s view of `input` (a stored layer, or a saved
    /// analysis's answer): rows it may not read and fields it may not see
    /// removed; or [`AnalysisError::NotReadable`].
    fn view(&self, author: &str, input: Arc<Layer>) -> Result<Arc<Layer>>;
}

/// Inputs as they are: for tools that run as the data's owner (benchmarks,
/// tests of the algorithms).
pub struct Unrestricted;

impl InputView for Unrestricted {
    fn view(&self, _author: &str, input: Arc<Layer>) -> Result<Arc<Layer>> {
        Ok(input)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    Join {
        left: Side,
        right: Side,
        relation: Relation,
        /// Attributes of the related feature to attach (prefixed with nothing;
        /// a clash with a left attribute is an error).
        #[serde(default)]
        attach: Vec<String>,
        /// Among several related features, attach the one with the largest
        /// value of this attribute (e.g. the deepest flood zone); results are
        /// sorted by it, largest first.
        #[serde(default)]
        prefer_max: Option<String>,
    },
    Aggregate {
        source: Side,
        to: Target,
        measures: Vec<Measure>,
        /// CQL2 filter on the result (e.g. `aging_rate >= 0.4`).
        #[serde(default)]
        having: Option<String>,
        /// Ids listed in a CSV file (e.g. vaccinated residents), usable by
        /// measures with `in_table`.
        #[serde(default)]
        table: Option<IdTable>,
    },
    /// Visit rounds ([`visits`]): the people of `source` (points) grouped
    /// into homes by `household`, homes into rounds of at most `max_homes`
    /// that never cross the values of `area` (e.g. the mesh cell a person
    /// was listed for), each ordered as a short walk along the lines of
    /// `network`. Every person is listed once, in visiting order, with
    /// `round`, `stop`, `walk_from_previous_m`, `round_walk_m` and
    /// `round_homes`.
    Visits {
        source: Side,
        household: String,
        network: String,
        max_homes: usize,
        #[serde(default)]
        area: Option<String>,
    },
}

/// The largest visit round a definition may ask for (homes).
pub const MAX_HOMES_LIMIT: usize = 30;

/// A layer (or another analysis) with an optional CQL2 filter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    pub layer: String,
    #[serde(default)]
    pub filter: Option<String>,
    /// Only features whose id is not in this table (e.g. residents not
    /// vaccinated: not in the vaccination file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in: Option<IdTable>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Relation {
    /// Left features inside (intersecting) a right feature.
    Within,
    /// Left features within `metres` of a right feature; attaches `distance_m`.
    WithinDistance { metres: f64 },
    /// Left features with no right feature within `metres`.
    BeyondDistance { metres: f64 },
    /// Every left feature, with `distance_m` to the nearest right feature
    /// (null when none is within `max_metres`).
    Nearest { max_metres: f64 },
    /// Left points within `metres` walking of a right point along the
    /// lines of layer `network` (e.g. `roads`); attaches `walking_distance`.
    WithinWalking { metres: f64, network: String },
    /// Left points with no right point within `metres` walking along
    /// `network` (or none reachable); attaches `walking_distance` to the
    /// nearest reachable one (null when none is).
    BeyondWalking { metres: f64, network: String },
}

impl Relation {
    /// The line layer a walking relation walks along.
    pub fn network(&self) -> Option<&str> {
        match self {
            Relation::WithinWalking { network, .. } | Relation::BeyondWalking { network, .. } => {
                Some(network)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// JIS X 0410 cells: `{"mesh": "250m"}`.
    Mesh { mesh: String },
    /// Polygons of a layer, keeping its `key` attribute.
    Layer {
        layer: String,
        key: String,
        #[serde(default)]
        filter: Option<String>,
    },
    /// Catchments: each point goes to its nearest point of layer `nearest`
    /// (e.g. shelters) by walking along the lines of `network`; one group
    /// per facility, at its point, with its id (`facility_id`) and the
    /// `keep` attributes. Points that reach none are left out.
    Nearest {
        nearest: String,
        network: String,
        #[serde(default)]
        keep: Vec<String>,
    },
}

/// The column holding the facility's id in catchments ([`Target::Nearest`]).
pub const FACILITY_ID: &str = "facility_id";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Count,
    Sum,
    Mean,
    /// The share of the group's rows that match the measure's filter.
    Share,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub name: String,
    pub op: Op,
    /// Numeric attribute for sum and mean.
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub filter: Option<String>,
    /// Only rows whose id is (true) or is not (false) in the table.
    #[serde(default)]
    pub in_table: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdTable {
    /// CSV file, relative to the data directory.
    pub file: PathBuf,
    /// Its id column (e.g. 住民票コード).
    pub column: String,
    /// The source attribute holding the same id (e.g. resident_id).
    pub key: String,
}

/// Where analyses find their inputs.
pub struct Sources<'a> {
    pub layers: &'a BTreeMap<String, Arc<Layer>>,
    pub analyses: &'a BTreeMap<String, Analysis>,
    pub data_dir: &'a std::path::Path,
    pub as_of: NaiveDate,
    /// What each analysis's author may read of its inputs.
    pub view: &'a dyn InputView,
}

/// An analysis's answer, with what disclosure control needs of aggregates of people.
pub struct Outcome {
    pub layer: Layer,
    pub aggregate: Option<AggregateOutcome>,
}

/// An aggregate of people before `having`, and who was counted where.
pub struct AggregateOutcome {
    pub unfiltered: Layer,
    pub table: AggregateTable,
    pub having: Option<String>,
}

/// Who an aggregate of people counted where, with the names of its
/// measures and the feature id of each group.
pub struct AggregateTable {
    pub table: crate::disclosure::Table,
    pub measure_names: Vec<String>,
    pub group_fids: Vec<i64>,
}

impl Sources<'_> {
    /// Input `id` as `author` may read it. A nested analysis is computed
    /// from its own author's view, then seen through this author's.
    fn input(&self, id: &str, by: By<'_>) -> Result<Arc<Layer>> {
        let whole = match (self.layers.get(id), self.analyses.get(id)) {
            (Some(l), _) => l.clone(),
            (None, Some(a)) if by.depth < 8 => Arc::new(self.run_at(a, by.depth + 1)?),
            (None, Some(_)) => return Err(AnalysisError::TooDeep(id.to_string())),
            (None, None) => return Err(AnalysisError::UnknownInput(id.to_string())),
        };
        self.view.view(by.author, whole)
    }

    /// Rows of `layer` matching `filter` (all when none).
    fn rows(&self, layer: &Layer, filter: Option<&str>) -> Result<Vec<u32>> {
        match filter {
            None => Ok((0..layer.len() as u32).collect()),
            Some(text) => {
                let f = Filter::on_date(text, layer, Crs::Crs84, self.as_of).map_err(|source| {
                    AnalysisError::Filter {
                        layer: layer.meta.id.clone(),
                        source,
                    }
                })?;
                let candidates = f.envelope().map(|e| layer.rows_in_bbox(e));
                Ok(f.select(layer, candidates.as_deref()))
            }
        }
    }

    /// Rows of `layer` that `side` selects: its filter, less the ids in
    /// its `not_in` table.
    fn side_rows(&self, layer: &Layer, side: &Side) -> Result<Vec<u32>> {
        let rows = self.rows(layer, side.filter.as_deref())?;
        let Some(t) = &side.not_in else {
            return Ok(rows);
        };
        let listed = read_id_table(self.data_dir, t)?;
        let (_, key) = layer
            .column(&t.key)
            .ok_or_else(|| AnalysisError::NoAttribute {
                layer: layer.meta.id.clone(),
                attribute: t.key.clone(),
            })?;
        Ok(rows
            .into_iter()
            .filter(|&r| match key.get(r as usize) {
                Value::Text(t) => !listed.contains(&t),
                Value::Integer(i) => !listed.contains(&i.to_string()),
                _ => true,
            })
            .collect())
    }

    /// Runs an analysis into a layer.
    pub fn run(&self, a: &Analysis) -> Result<Layer> {
        self.run_at(a, 0)
    }

    fn run_at(&self, a: &Analysis, depth: usize) -> Result<Layer> {
        Ok(self.run_detailed_at(a, depth)?.layer)
    }

    /// Runs an analysis, keeping what disclosure control needs of an
    /// aggregate of people: the groups before `having`, and who was counted where.
    pub fn run_detailed(&self, a: &Analysis) -> Result<Outcome> {
        self.run_detailed_at(a, 0)
    }

    fn run_detailed_at(&self, a: &Analysis, depth: usize) -> Result<Outcome> {
        if !a.parameters.is_empty() && a.filters().iter().any(|f| f.contains("${")) {
            // As saved: with its parameters' defaults.
            return self.run_detailed_at(&a.with_values(&[])?, depth);
        }
        let by = By {
            author: a.author(),
            depth,
        };
        let mut parts = match &a.operation {
            Operation::Join {
                left,
                right,
                relation,
                attach,
                prefer_max,
            } => self.join(left, right, relation, attach, prefer_max.as_deref(), by)?,
            Operation::Aggregate {
                source,
                to,
                measures,
                having: _,
                table: ids,
            } => self.aggregate(source, to, measures, ids.as_ref(), by)?,
            Operation::Visits {
                source,
                household,
                network,
                max_homes,
                area,
            } => self.visits(source, household, network, *max_homes, area.as_deref(), by)?,
        };
        let mut as_of = Column::new("as_of", FieldType::Date);
        for _ in 0..parts.fids.len() {
            as_of
                .push(Value::Date(chiiki_core::layers::column::days_from_date(
                    self.as_of,
                )))
                .map_err(AnalysisError::internal)?;
        }
        // An input's own date (an analysis of an analysis) gives way to this one's.
        parts.columns.retain(|c| c.name != "as_of");
        parts.columns.push(as_of);
        parts.labels.insert("as_of".into(), Label::Open);
        // Joins that rank their answers keep that order; others are stored
        // in spatial order like any layer.
        let ranked = matches!(
            &a.operation,
            Operation::Join {
                prefer_max: Some(_),
                ..
            } | Operation::Visits { .. }
        );
        let build = if ranked {
            Layer::from_sorted
        } else {
            Layer::new
        };
        let layer = build(LayerParts {
            meta: LayerMeta {
                id: a.id.clone(),
                title: a.title.clone(),
                description: format!(
                    "{} Reference date {} (ages are counted on it).",
                    a.description, self.as_of
                )
                .trim()
                .to_string(),
                source: format!("analysis ({})", operation_name(&a.operation)),
                source_crs: "EPSG:6668".into(),
                access: Access {
                    public: a.public,
                    roles: a.roles.clone(),
                },
                privacy: parts.privacy,
                labels: parts.labels,
                picked_by_identifier: parts.picked_by_identifier,
                ..Default::default()
            },
            fids: parts.fids,
            geometries: parts.geometries,
            columns: parts.columns,
        });
        let having = match &a.operation {
            Operation::Aggregate { having, .. } => having.clone(),
            Operation::Join { .. } | Operation::Visits { .. } => None,
        };
        let Some(table) = parts.table else {
            let layer = match &having {
                Some(h) => keep_rows(&layer, &self.rows(&layer, Some(h))?)?,
                None => layer,
            };
            return Ok(Outcome {
                layer,
                aggregate: None,
            });
        };
        // Aggregates are small (one row a cell or 町丁目): keeping both is cheap.
        let all: Vec<u32> = (0..layer.len() as u32).collect();
        let rows = match &having {
            Some(h) => self.rows(&layer, Some(h))?,
            None => all,
        };
        Ok(Outcome {
            layer: keep_rows(&layer, &rows)?,
            aggregate: Some(AggregateOutcome {
                unfiltered: layer,
                table,
                having,
            }),
        })
    }

    /// An aggregate of people as a role below exact aggregates sees it:
    /// each measure's value per group replaced by `values` (group-major,
    /// `None` where nothing may be shown), then its `having` applied to
    /// what is left, so that a true value never selects a group.
    pub fn protected(&self, outcome: &AggregateOutcome, values: &[Option<f64>]) -> Result<Layer> {
        let layer = &outcome.unfiltered;
        let t = &outcome.table;
        let nm = t.table.measures.len();
        let group_of: HashMap<i64, usize> = t
            .group_fids
            .iter()
            .enumerate()
            .map(|(g, &f)| (f, g))
            .collect();
        let mut columns = layer.columns.clone();
        for (m, name) in t.measure_names.iter().enumerate() {
            let (c, source) = layer.column(name).ok_or_else(|| {
                AnalysisError::Definition(format!("measure '{name}' is not a column"))
            })?;
            let mut column = Column::new(name, source.field_type());
            for row in 0..layer.len() {
                let g = group_of[&layer.fids[row]];
                let v = match (values[g * nm + m], source.field_type()) {
                    (None, _) => Value::Null,
                    (Some(v), FieldType::Integer) => Value::Integer(v.round() as i64),
                    (Some(v), _) => Value::Real(v),
                };
                column.push(v).map_err(AnalysisError::internal)?;
            }
            columns[c] = column;
        }
        let masked = Layer::from_sorted(LayerParts {
            meta: layer.meta.clone(),
            fids: layer.fids.clone(),
            geometries: layer.geometries.clone(),
            columns,
        });
        match &outcome.having {
            Some(h) => keep_rows(&masked, &self.rows(&masked, Some(h))?),
            None => Ok(masked),
        }
    }

    fn join(
        &self,
        left: &Side,
        right: &Side,
        relation: &Relation,
        attach: &[String],
        prefer_max: Option<&str>,
        by: By<'_>,
    ) -> Result<Parts> {
        let (l, r) = (self.input(&left.layer, by)?, self.input(&right.layer, by)?);
        let (l_rows, r_rows) = (self.side_rows(&l, left)?, self.side_rows(&r, right)?);
        let prefer = match prefer_max {
            Some(name) => Some(
                r.column(name)
                    .ok_or_else(|| AnalysisError::NoAttribute {
                        layer: r.meta.id.to_string(),
                        attribute: name.to_string(),
                    })?
                    .1,
            ),
            None => None,
        };
        let better = |a: u32, b: u32| -> bool {
            prefer.is_some_and(|c| numeric(&c.get(a as usize)) > numeric(&c.get(b as usize)))
        };
        // For each left row: the related right row (if any) and a distance.
        let mut related: Vec<(u32, Option<u32>, Option<f64>)> = Vec::new();
        match relation {
            Relation::Within => {
                let points = match &l.geometries {
                    Geometries::Points(p) => Some(p),
                    Geometries::Shapes(_) => None,
                };
                let polygons: Vec<MultiPolygon<f64>> = r_rows
                    .iter()
                    .map(|&i| as_multipolygon(&r.geometries.get(i as usize)))
                    .collect();
                let mut best: HashMap<u32, u32> = HashMap::new();
                if let (Some(points), true) = (points, polygons.iter().all(|p| !p.0.is_empty())) {
                    let grid = PolygonGrid::new(&polygons, 256);
                    let chosen: Vec<[f64; 2]> =
                        l_rows.iter().map(|&i| points[i as usize]).collect();
                    for (pi, k) in grid.join(&chosen) {
                        let (row, right_row) = (l_rows[pi as usize], r_rows[k as usize]);
                        let e = best.entry(row).or_insert(right_row);
                        if better(right_row, *e) {
                            *e = right_row;
                        }
                    }
                } else {
                    for &row in &l_rows {
                        let g = l.geometries.get(row as usize);
                        let Some(bb) = g.bounding_rect() else {
                            continue;
                        };
                        for rr in r.rows_in_bbox(bb) {
                            if r_rows.binary_search(&rr).is_ok()
                                && r.geometries.get(rr as usize).intersects(&g)
                            {
                                let e = best.entry(row).or_insert(rr);
                                if better(rr, *e) {
                                    *e = rr;
                                }
                            }
                        }
                    }
                }
                related.extend(
                    l_rows
                        .iter()
                        .filter_map(|row| best.get(row).map(|&m| (*row, Some(m), None))),
                );
            }
            &Relation::WithinWalking { metres, .. } | &Relation::BeyondWalking { metres, .. } => {
                let network = relation.network().expect("a walking relation");
                let net = self.input(network, by)?;
                let nearest = nearest_walking(&l, &l_rows, &r, &r_rows, &net)?;
                let within = matches!(relation, Relation::WithinWalking { .. });
                for (&row, n) in l_rows.iter().zip(nearest) {
                    let near = n.is_some_and(|(d, _)| d <= metres);
                    // Within: the nearest and how far; beyond: the nearest
                    // reachable, if any, and how far.
                    if near == within {
                        related.push((row, n.map(|x| x.1), n.map(|x| x.0)));
                    }
                }
            }
            &Relation::WithinDistance { metres }
            | &Relation::BeyondDistance { metres }
            | &Relation::Nearest { max_metres: metres } => {
                let nearest = nearest_within(&l, &l_rows, &r, &r_rows, metres);
                for (&row, n) in l_rows.iter().zip(nearest) {
                    match (relation, n) {
                        (Relation::WithinDistance { .. }, Some((d, rr))) => {
                            related.push((row, Some(rr), Some(d)))
                        }
                        (Relation::BeyondDistance { .. }, None) => related.push((row, None, None)),
                        (Relation::Nearest { .. }, n) => {
                            related.push((row, n.map(|x| x.1), n.map(|x| x.0)))
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(c) = prefer {
            // Largest first; ties in left order.
            related.sort_by(|a, b| {
                let v = |x: &(u32, Option<u32>, Option<f64>)| {
                    x.1.map_or(f64::NEG_INFINITY, |m| numeric(&c.get(m as usize)))
                };
                v(b).total_cmp(&v(a))
            });
        }

        // Left attributes (taken whole), then the attached ones, then the distance.
        let order: Vec<u32> = related.iter().map(|x| x.0).collect();
        let mut columns: Vec<Column> = l.columns.iter().map(|c| c.permute(&order)).collect();
        let mut attached = Vec::new();
        for name in attach {
            let (i, c) = r.column(name).ok_or_else(|| AnalysisError::NoAttribute {
                layer: r.meta.id.to_string(),
                attribute: name.to_string(),
            })?;
            if l.column(name).is_some() {
                return Err(AnalysisError::Definition(format!(
                    "attribute '{name}' is in both '{}' and '{}'",
                    l.meta.id, r.meta.id
                )));
            }
            attached.push(i);
            columns.push(Column::new(name, c.field_type()));
        }
        let with_distance = !matches!(relation, Relation::Within | Relation::BeyondDistance { .. });
        let distance_name = if relation.network().is_some() {
            "walking_distance"
        } else {
            "distance_m"
        };
        if with_distance {
            columns.push(Column::new(distance_name, FieldType::Real));
        }
        let mut fids = Vec::with_capacity(related.len());
        let mut geoms = Vec::with_capacity(related.len());
        let points = matches!(l.geometries, Geometries::Points(_));
        let mut point_coords = Vec::new();
        for (row, m, d) in &related {
            let row = *row as usize;
            fids.push(l.fids[row]);
            match &l.geometries {
                Geometries::Points(p) => point_coords.push(p[row]),
                Geometries::Shapes(s) => geoms.push(s[row].clone()),
            }
            for (j, &i) in attached.iter().enumerate() {
                let v = m.map_or(Value::Null, |m| r.columns[i].get(m as usize));
                columns[l.columns.len() + j]
                    .push(v)
                    .map_err(AnalysisError::internal)?;
            }
            if with_distance {
                let v = d.map_or(Value::Null, |d| Value::Real((d * 10.0).round() / 10.0));
                columns
                    .last_mut()
                    .expect("distance column")
                    .push(v)
                    .map_err(AnalysisError::internal)?;
            }
        }
        let geometries = if points {
            Geometries::Points(point_coords)
        } else {
            Geometries::Shapes(geoms)
        };
        let privacy = join_privacy(&l.meta.privacy, &r.meta.privacy, attach);
        // Labels: the left's, the attached ones as the right labels them,
        // and a distance to people is about where people live.
        let mut labels: BTreeMap<String, Label> = l
            .columns
            .iter()
            .map(|c| (c.name.clone(), l.label(&c.name)))
            .collect();
        for name in attach {
            labels.insert(name.clone(), r.label(name));
        }
        if with_distance {
            let about_people =
                l.meta.privacy.population().is_some() || r.meta.privacy.population().is_some();
            let label = if about_people {
                Label::QuasiIdentifier
            } else {
                Label::Open
            };
            labels.insert(distance_name.into(), label);
        }
        let picked_by_identifier = picked_by_identifier(&l, left.filter.as_deref())
            .or_else(|| picked_by_identifier(&r, right.filter.as_deref()));
        Ok(Parts {
            fids,
            geometries,
            columns,
            privacy,
            labels,
            picked_by_identifier,
            table: None,
        })
    }

    /// Per measure: its filter (compiled on each thread) and the column it
    /// sums or averages.
    #[allow(clippy::type_complexity)]
    fn measure_inputs<'l>(
        &self,
        src: &'l Layer,
        measures: &[Measure],
    ) -> Result<(Vec<Option<Filter>>, Vec<Option<&'l Column>>)> {
        // Per measure: its filter (compiled on each thread) and value column.
        let mut filters: Vec<Option<Filter>> = Vec::new();
        let mut values: Vec<Option<&Column>> = Vec::new();
        for m in measures {
            filters.push(match m.filter.as_deref() {
                Some(text) => Some(Filter::on_date(text, src, Crs::Crs84, self.as_of).map_err(
                    |source| AnalysisError::Filter {
                        layer: format!("{} (measure '{}')", src.meta.id, m.name),
                        source,
                    },
                )?),
                None => None,
            });
            values.push(match (&m.op, &m.column) {
                (Op::Sum | Op::Mean, Some(c)) => Some(
                    src.column(c)
                        .ok_or_else(|| AnalysisError::NoAttribute {
                            layer: src.meta.id.to_string(),
                            attribute: c.to_string(),
                        })?
                        .1,
                ),
                (Op::Sum | Op::Mean, None) => {
                    return Err(AnalysisError::Definition(format!(
                        "measure '{}': {:?} needs a column",
                        m.name, m.op
                    )))
                }
                _ => None,
            });
        }
        Ok((filters, values))
    }

    /// Input `id` as the groups of an aggregate: its keys, geometries and
    /// attributes become the answer's, so it must be open — never anything
    /// computed from people (their polygons, points or keys could be
    /// theirs). `instead` says what would do.
    fn grouping_input(&self, id: &str, instead: &str, by: By<'_>) -> Result<Arc<Layer>> {
        let target = self.input(id, by)?;
        if target.meta.privacy != Privacy::Open {
            return Err(AnalysisError::Definition(format!(
                "'{id}' is computed from people's data and cannot group an aggregate; {instead}"
            )));
        }
        Ok(target)
    }

    /// Groups of the selected rows by the polygons of another layer
    /// (町丁目, school districts), keyed by its `key` attribute.
    fn group_by_layer(
        &self,
        rows: &[u32],
        points: &[[f64; 2]],
        layer: &str,
        key: &str,
        filter: Option<&str>,
        by: By<'_>,
    ) -> Result<Groups> {
        let target = self.grouping_input(
            layer,
            "group by a mesh or an open layer (町丁目, school districts)",
            by,
        )?;
        let target_rows = self.rows(&target, filter)?;
        let (_, key_col) = target
            .column(key)
            .ok_or_else(|| AnalysisError::NoAttribute {
                layer: layer.to_string(),
                attribute: key.to_string(),
            })?;
        let polygons: Vec<MultiPolygon<f64>> = target_rows
            .iter()
            .map(|&i| as_multipolygon(&target.geometries.get(i as usize)))
            .collect();
        let grid = PolygonGrid::new(&polygons, 256);
        let chosen: Vec<[f64; 2]> = rows.iter().map(|&i| points[i as usize]).collect();
        let mut groups = vec![NO_GROUP; rows.len()];
        for (pi, k) in grid.join(&chosen) {
            // A point on a shared border counts once, in the first polygon.
            let g = &mut groups[pi as usize];
            if *g == NO_GROUP {
                *g = k;
            }
        }
        let geoms = target_rows
            .iter()
            .map(|&i| target.geometries.get(i as usize))
            .collect();
        let mut keys = Column::new(key, key_col.field_type());
        for &i in &target_rows {
            keys.push(key_col.get(i as usize))
                .map_err(AnalysisError::internal)?;
        }
        let fids: Vec<u64> = target_rows
            .iter()
            .map(|&i| target.fids[i as usize] as u64)
            .collect();
        Ok((groups, fids, geoms, vec![keys]))
    }

    /// Catchments: each selected row to its nearest point of layer
    /// `nearest` by walking along `network`; every facility is a group (at
    /// its point, with its id and the `keep` attributes), also one no
    /// one reaches.
    #[allow(clippy::too_many_arguments)]
    fn group_by_nearest(
        &self,
        rows: &[u32],
        points: &[[f64; 2]],
        nearest: &str,
        network: &str,
        keep: &[String],
        by: By<'_>,
    ) -> Result<Groups> {
        let target = self.grouping_input(
            nearest,
            "catchments are of an open layer (shelters, schools)",
            by,
        )?;
        let Geometries::Points(sites) = &target.geometries else {
            return Err(AnalysisError::Definition(format!(
                "catchments are of points; '{nearest}' is not a layer of points"
            )));
        };
        let lines = self.input(network, by)?;
        let chosen: Vec<[f64; 2]> = rows.iter().map(|&i| points[i as usize]).collect();
        let assigned = walk_to_nearest(&chosen, sites, &lines)?;
        let groups: Vec<u32> = assigned
            .iter()
            .map(|a| a.map_or(NO_GROUP, |a| a.facility))
            .collect();
        let unreached = assigned.iter().filter(|a| a.is_none()).count();
        if unreached > 0 {
            tracing::info!(
                "catchments of '{nearest}' along '{network}': {unreached} of {} points reach none and are left out",
                rows.len()
            );
        }
        let mut ids = Column::new(FACILITY_ID, FieldType::Integer);
        for &f in &target.fids {
            ids.push(Value::Integer(f))
                .map_err(AnalysisError::internal)?;
        }
        let mut columns = vec![ids];
        for k in keep {
            let (_, c) = target.column(k).ok_or_else(|| AnalysisError::NoAttribute {
                layer: nearest.to_string(),
                attribute: k.clone(),
            })?;
            columns.push(c.clone());
        }
        let geoms = sites
            .iter()
            .map(|p| geo::Geometry::Point(geo::Point::new(p[0], p[1])))
            .collect();
        let fids = target.fids.iter().map(|&f| f as u64).collect();
        Ok((groups, fids, geoms, columns))
    }

    /// Visit rounds over the people of `source` ([`visits::plan`]).
    fn visits(
        &self,
        source: &Side,
        household: &str,
        network: &str,
        max_homes: usize,
        area: Option<&str>,
        by: By<'_>,
    ) -> Result<Parts> {
        if !(1..=MAX_HOMES_LIMIT).contains(&max_homes) {
            return Err(AnalysisError::Definition(format!(
                "max_homes must be 1 to {MAX_HOMES_LIMIT}, not {max_homes}"
            )));
        }
        let src = self.input(&source.layer, by)?;
        let Geometries::Points(points) = &src.geometries else {
            return Err(AnalysisError::Definition(format!(
                "visit rounds are of people at points; '{}' is not a layer of points",
                src.meta.id
            )));
        };
        let column = |name: &str| {
            src.column(name)
                .map(|(_, c)| c)
                .ok_or_else(|| AnalysisError::NoAttribute {
                    layer: src.meta.id.clone(),
                    attribute: name.to_string(),
                })
        };
        let households = column(household)?;
        let areas = area.map(column).transpose()?;
        for name in [
            "round",
            "stop",
            "walk_from_previous_m",
            "round_walk_m",
            "round_homes",
        ] {
            if src.column(name).is_some() {
                return Err(AnalysisError::Definition(format!(
                    "'{}' already has an attribute '{name}', which visit rounds add",
                    src.meta.id
                )));
            }
        }
        let rows = self.side_rows(&src, source)?;
        // Homes: the listed members of a household together (a person
        // without one is a home alone), at the first member's point.
        let text = |v: Value| match v {
            Value::Null => None,
            Value::Text(t) => Some(t),
            other => Some(format!("{other:?}")),
        };
        let mut homes: Vec<visits::Home> = Vec::new();
        let mut home_of: HashMap<(String, String), usize> = HashMap::new();
        for &r in &rows {
            let area = areas
                .and_then(|c| text(c.get(r as usize)))
                .unwrap_or_default();
            let at = match text(households.get(r as usize)) {
                Some(h) => *home_of.entry((area.clone(), h)).or_insert_with(|| {
                    homes.push(visits::Home {
                        members: Vec::new(),
                        point: points[r as usize],
                        area,
                    });
                    homes.len() - 1
                }),
                None => {
                    homes.push(visits::Home {
                        members: Vec::new(),
                        point: points[r as usize],
                        area,
                    });
                    homes.len() - 1
                }
            };
            homes[at].members.push(r);
        }
        let lines = self.input(network, by)?;
        let net = chiiki_network::Network::from_layer(&lines, chiiki_network::TOLERANCE_M);
        if net.edge_count() == 0 && !homes.is_empty() {
            return Err(AnalysisError::Definition(format!(
                "'{network}' has no lines to walk along"
            )));
        }
        let rounds = visits::plan(&net, &homes, max_homes);
        // Every person in visiting order, with their round and stop.
        let mut order: Vec<u32> = Vec::with_capacity(rows.len());
        let mut round = Column::new("round", FieldType::Integer);
        let mut stop = Column::new("stop", FieldType::Integer);
        let mut leg = Column::new("walk_from_previous_m", FieldType::Real);
        let mut walk = Column::new("round_walk_m", FieldType::Real);
        let mut size = Column::new("round_homes", FieldType::Integer);
        let metres = |m: f64| Value::Real((m * 10.0).round() / 10.0);
        for (k, r) in rounds.iter().enumerate() {
            for (s, &h) in r.homes.iter().enumerate() {
                for &member in &homes[h].members {
                    order.push(member);
                    let from_previous = match s {
                        0 => Value::Null,
                        _ => metres(r.legs[s - 1]),
                    };
                    for (c, v) in [
                        (&mut round, Value::Integer(k as i64 + 1)),
                        (&mut stop, Value::Integer(s as i64 + 1)),
                        (&mut leg, from_previous),
                        (&mut walk, metres(r.walk())),
                        (&mut size, Value::Integer(r.homes.len() as i64)),
                    ] {
                        c.push(v).map_err(AnalysisError::internal)?;
                    }
                }
            }
        }
        let mut columns: Vec<Column> = src.columns.iter().map(|c| c.permute(&order)).collect();
        columns.extend([round, stop, leg, walk, size]);
        // Labels: the source's; where a round goes is about where people live.
        let mut labels: BTreeMap<String, Label> = src
            .columns
            .iter()
            .map(|c| (c.name.clone(), src.label(&c.name)))
            .collect();
        for name in [
            "round",
            "stop",
            "walk_from_previous_m",
            "round_walk_m",
            "round_homes",
        ] {
            labels.insert(name.into(), Label::QuasiIdentifier);
        }
        Ok(Parts {
            fids: order.iter().map(|&r| src.fids[r as usize]).collect(),
            geometries: Geometries::Points(order.iter().map(|&r| points[r as usize]).collect()),
            columns,
            privacy: src.meta.privacy.clone(),
            labels,
            picked_by_identifier: picked_by_identifier(&src, source.filter.as_deref()),
            table: None,
        })
    }

    fn aggregate(
        &self,
        source: &Side,
        to: &Target,
        measures: &[Measure],
        table: Option<&IdTable>,
        by: By<'_>,
    ) -> Result<Parts> {
        let src = self.input(&source.layer, by)?;
        check_aggregate(&src, source, to, measures)?;
        // Aggregates of people keep who was counted where, for disclosure control.
        let people = match &src.meta.privacy {
            Privacy::Individuals { population, .. } => Some(population.clone()),
            _ => None,
        };
        let kinds = measure_kinds(&src, measures);
        let flags: Vec<bool> = kinds
            .iter()
            .zip(measures)
            .map(|(k, m)| m.column.is_some() && !matches!(k, MeasureKind::Magnitude))
            .collect();
        let rows = self.side_rows(&src, source)?;
        let Geometries::Points(points) = &src.geometries else {
            return Err(AnalysisError::Definition(format!(
                "'{}': aggregation needs a point layer",
                src.meta.id
            )));
        };
        let ids = match table {
            Some(t) => Some((
                read_id_table(self.data_dir, t)?,
                src.column(&t.key)
                    .ok_or_else(|| AnalysisError::NoAttribute {
                        layer: src.meta.id.clone(),
                        attribute: t.key.clone(),
                    })?
                    .1,
            )),
            None => None,
        };
        let (filters, values) = self.measure_inputs(&src, measures)?;
        // Whether each source row's id is in the table.
        let in_table: Option<Vec<bool>> = ids.as_ref().map(|(set, key)| {
            (0..src.len())
                .map(|r| match key.get(r) {
                    Value::Text(t) => set.contains(&t),
                    Value::Integer(i) => set.contains(&i.to_string()),
                    _ => false,
                })
                .collect()
        });
        // The group of each selected row (by position in `rows`).
        let (group_of, group_ids, group_geoms, key_columns): Groups = match to {
            Target::Mesh { mesh: level } => group_by_mesh(&rows, points, level)?,
            Target::Layer { layer, key, filter } => {
                self.group_by_layer(&rows, points, layer, key, filter.as_deref(), by)?
            }
            Target::Nearest {
                nearest,
                network,
                keep,
            } => self.group_by_nearest(&rows, points, nearest, network, keep, by)?,
        };
        // Accumulate per group and measure (count, sum) and the group's rows,
        // on all cores.
        let n = group_ids.len();
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let chunk = rows.len().div_ceil(threads).max(1);
        // Per thread: totals per group, and counts and sums per group ×
        // measure in one flat vector (group-major, for locality).
        let k = measures.len();
        let table_wants: Vec<Option<bool>> = measures
            .iter()
            .map(|m| m.in_table.filter(|_| in_table.is_some()))
            .collect();
        // Per counted row: its position in `rows`, its group and measures.
        type Tally = (Vec<u64>, Vec<u64>, Vec<f64>, Vec<(u32, u32, u64)>);
        let want_detail = people.is_some();
        let parts: Vec<Tally> = std::thread::scope(|scope| {
            let handles: Vec<_> = rows
                .chunks(chunk)
                .zip(group_of.chunks(chunk))
                .enumerate()
                .map(|(part, (rows, groups))| {
                    let (src, filters, values, in_table, table_wants, flags) =
                        (&src, &filters, &values, &in_table, &table_wants, &flags);
                    scope.spawn(move || {
                        let mut detail = Vec::new();
                        let predicates: Vec<_> = filters
                            .iter()
                            .map(|f| f.as_ref().map(|f| f.compile(src)))
                            .collect();
                        let mut totals = vec![0u64; n];
                        let mut counts = vec![0u64; n * k];
                        let mut sums = vec![0f64; n * k];
                        for (i, (&r, &g)) in rows.iter().zip(groups).enumerate() {
                            if g == NO_GROUP {
                                continue;
                            }
                            let (r, g) = (r as usize, g as usize);
                            totals[g] += 1;
                            let mut signature = 0u64;
                            for m in 0..k {
                                let listed = match (table_wants[m], in_table) {
                                    (Some(want), Some(t)) => t[r] == want,
                                    _ => true,
                                };
                                if listed && predicates[m].as_ref().is_none_or(|p| p.matches(r)) {
                                    // Bit 2m: in the measure's set (for a
                                    // flag, also flagged); bit 2m + 1: in its
                                    // filtered set (a flag's mean divides by it).
                                    signature |= 2 << (2 * m);
                                    counts[g * k + m] += 1;
                                    if let Some(c) = values[m] {
                                        let v = numeric(&c.get(r));
                                        if v.is_finite() {
                                            sums[g * k + m] += v;
                                        }
                                        if v == 1.0 || !flags[m] {
                                            signature |= 1 << (2 * m);
                                        }
                                    } else {
                                        signature |= 1 << (2 * m);
                                    }
                                }
                            }
                            if want_detail {
                                detail.push(((part * chunk + i) as u32, g as u32, signature));
                            }
                        }
                        (totals, counts, sums, detail)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("aggregation thread"))
                .collect()
        });
        let mut totals = vec![0u64; n];
        let mut counts = vec![vec![0u64; n]; k];
        let mut sums = vec![vec![0f64; n]; k];
        let mut detail = Vec::new();
        for (t, c, s, d) in parts {
            detail.extend(d);
            for g in 0..n {
                totals[g] += t[g];
                for m in 0..k {
                    counts[m][g] += c[g * k + m];
                    sums[m][g] += s[g * k + m];
                }
            }
        }
        let mut columns = key_columns;
        if matches!(to, Target::Mesh { .. }) {
            let mut codes = Column::new("mesh_code", FieldType::Text);
            for c in &group_ids {
                codes
                    .push(Value::Text(c.to_string()))
                    .map_err(AnalysisError::internal)?;
            }
            columns.push(codes);
        }
        columns.extend(measure_columns(measures, &totals, &counts, &sums)?);
        let fids: Vec<i64> = group_ids.iter().map(|&g| g as i64).collect();
        let privacy = aggregate_privacy(&src.meta.privacy);
        // Labels: keys as the grouping layer has them (open), measures count
        // people when the source is people; a magnitude over people is an
        // attribute of them.
        let mut labels: BTreeMap<String, Label> = BTreeMap::new();
        labels.insert("mesh_code".into(), Label::Open);
        for c in &columns {
            // The grouping layer's keys and attributes: open.
            labels.insert(c.name.clone(), Label::Open);
        }
        for (m, kind) in measures.iter().zip(&kinds) {
            let label = match (src.meta.privacy.population(), kind) {
                (None, _) => Label::Open,
                (Some(_), MeasureKind::Magnitude) => Label::Sensitive,
                (Some(_), _) => Label::PeopleCount,
            };
            labels.insert(m.name.clone(), label);
        }
        // Who was counted: by their real ids, not a view's pseudonyms.
        let real_id = |row: u32| match &src.record_ids {
            Some(real) => real[row as usize],
            None => src.fids[row as usize],
        };
        let table = people.map(|population| AggregateTable {
            table: crate::disclosure::Table {
                population,
                measures: kinds.clone(),
                groups: n,
                records: detail
                    .iter()
                    .map(|&(i, g, sig)| (real_id(rows[i as usize]), g, sig))
                    .collect(),
            },
            measure_names: measures.iter().map(|m| m.name.clone()).collect(),
            group_fids: fids.clone(),
        });
        let geometries = match to {
            Target::Nearest { .. } => Geometries::Points(
                group_geoms
                    .iter()
                    .map(|g| match g {
                        geo::Geometry::Point(p) => [p.x(), p.y()],
                        _ => [f64::NAN; 2],
                    })
                    .collect(),
            ),
            _ => Geometries::Shapes(group_geoms),
        };
        Ok(Parts {
            fids,
            geometries,
            columns,
            privacy,
            labels,
            picked_by_identifier: None,
            table,
        })
    }
}

/// Who an input is read for: the analysis's author, at a nesting depth.
#[derive(Clone, Copy)]
struct By<'a> {
    author: &'a str,
    depth: usize,
}

/// What a join or an aggregate computed, before it becomes a layer.
struct Parts {
    fids: Vec<i64>,
    geometries: Geometries,
    columns: Vec<Column>,
    privacy: Privacy,
    labels: BTreeMap<String, Label>,
    picked_by_identifier: Option<String>,
    table: Option<AggregateTable>,
}

/// What picked the features of `layer` by an identifier: the layer's own
/// mark, or `filter` naming an identifier of it.
fn picked_by_identifier(layer: &Layer, filter: Option<&str>) -> Option<String> {
    if let Some(why) = &layer.meta.picked_by_identifier {
        return Some(why.clone());
    }
    let expr = chiiki_query::cql2::parse(filter?).ok()?;
    chiiki_query::properties::named(&expr)
        .into_iter()
        .find(|p| layer.label(p) == Label::Identifier)
        .map(|p| format!("a filter on '{p}' of '{}'", layer.meta.id))
}

/// The identifier `filter` tests on `layer`, if any (`age` is not one: it
/// is a band of birth dates the filter names).
fn identifier_tested(layer: &Layer, filter: Option<&str>) -> Option<String> {
    let expr = chiiki_query::cql2::parse(filter?).ok()?;
    chiiki_query::properties::named(&expr)
        .into_iter()
        .find(|p| layer.label(p) == Label::Identifier)
}

/// Refuses what an aggregate may not compute, from the labels of its source:
/// duplicate names, sums and means of identifiers, dates or text, filters
/// that single people out by an identifier, and sources picked that way.
fn check_aggregate(src: &Layer, source: &Side, to: &Target, measures: &[Measure]) -> Result<()> {
    let people = src.meta.privacy.population().is_some();
    if people && measures.len() > crate::disclosure::Table::MAX_MEASURES {
        return Err(AnalysisError::Definition(format!(
            "an aggregate of people has at most {} measures ({} given)",
            crate::disclosure::Table::MAX_MEASURES,
            measures.len()
        )));
    }
    if measures.len() > 64 {
        return Err(AnalysisError::Definition(format!(
            "an aggregate has at most 64 measures ({} given)",
            measures.len()
        )));
    }
    let mut names: HashSet<&str> = HashSet::from(["mesh_code", "as_of"]);
    match to {
        Target::Layer { key, .. } => {
            names.insert(key);
        }
        Target::Nearest { keep, .. } => {
            names.insert(FACILITY_ID);
            for k in keep {
                if !names.insert(k) {
                    return Err(AnalysisError::Definition(format!(
                        "'{k}' is kept twice, or is the facility's id"
                    )));
                }
            }
        }
        Target::Mesh { .. } => {}
    }
    for m in measures {
        if !names.insert(&m.name) {
            return Err(AnalysisError::Measure {
                measure: m.name.clone(),
                reason: "another measure or the group's key has this name; names must be unique"
                    .into(),
            });
        }
    }
    if !people {
        return Ok(());
    }
    if let Some(why) = &src.meta.picked_by_identifier {
        return Err(AnalysisError::Definition(format!(
            "'{}' picks people by an identifier ({why}); such a selection singles people out and cannot be aggregated",
            src.meta.id
        )));
    }
    if let Some(p) = identifier_tested(src, source.filter.as_deref()) {
        return Err(AnalysisError::Definition(format!(
            "the source filter tests '{p}', an identifier of '{}'; an aggregate may not single people out (use `age` for birth dates)",
            src.meta.id
        )));
    }
    for m in measures {
        let refuse = |reason: String| AnalysisError::Measure {
            measure: m.name.clone(),
            reason,
        };
        if let Some(p) = identifier_tested(src, m.filter.as_deref()) {
            return Err(refuse(format!(
                "its filter tests '{p}', an identifier; an aggregate may not single people out (use `age` for birth dates)"
            )));
        }
        if let (Op::Sum | Op::Mean, Some(c)) = (m.op, &m.column) {
            if src.label(c) == Label::Identifier {
                return Err(refuse(format!(
                    "'{c}' is an identifier; sums and means of identifiers are refused"
                )));
            }
            if let Some((_, column)) = src.column(c) {
                if !matches!(
                    column.field_type(),
                    FieldType::Integer | FieldType::Real | FieldType::Boolean
                ) {
                    return Err(refuse(format!(
                        "'{c}' is {:?}; only numbers and flags can be summed or averaged",
                        column.field_type()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// What each measure publishes, in sets of people: a flag summed is a
/// count, a flag averaged a ratio.
fn measure_kinds(src: &Layer, measures: &[Measure]) -> Vec<MeasureKind> {
    measures
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (own, filtered) = ((2 * i) as u8, (2 * i + 1) as u8);
            let flag = m.column.as_deref().is_some_and(|c| {
                src.column(c)
                    .is_some_and(|(_, col)| col.field_type() == FieldType::Boolean)
            });
            match (m.op, flag) {
                (Op::Count, _) | (Op::Sum, true) => MeasureKind::Count { set: own },
                (Op::Share, _) => MeasureKind::Ratio {
                    num: own,
                    den: None,
                },
                (Op::Mean, true) => MeasureKind::Ratio {
                    num: own,
                    den: Some(filtered),
                },
                (Op::Sum | Op::Mean, false) => MeasureKind::Magnitude,
            }
        })
        .collect()
}

/// For each of `l_rows`: the nearest of `r_rows` within `metres`, with its
/// distance. Distances are on a local plane around each left feature.
fn nearest_within(
    l: &Layer,
    l_rows: &[u32],
    r: &Layer,
    r_rows: &[u32],
    metres: f64,
) -> Vec<Option<(f64, u32)>> {
    let mut best: Vec<Option<(f64, u32)>> = vec![None; l_rows.len()];
    if let (Geometries::Points(lp), Geometries::Points(rp)) = (&l.geometries, &r.geometries) {
        // Points to points: one R-tree query per right point (shelters are
        // few, residents many), distances on the plane of the left point.
        let position: HashMap<u32, usize> = l_rows
            .iter()
            .enumerate()
            .map(|(i, &row)| (row, i))
            .collect();
        for &rr in r_rows {
            let q = rp[rr as usize];
            let at = geo::Geometry::Point(geo::Point::new(q[0], q[1]));
            let plane = LocalPlane::around(&at);
            let c = geo::coord! { x: q[0], y: q[1] };
            for row in l.rows_in_bbox(plane.grow(geo::Rect::new(c, c), metres)) {
                let Some(&i) = position.get(&row) else {
                    continue;
                };
                let p = lp[row as usize];
                let (x, y) = plane.project(p[0], p[1]);
                let d = x.hypot(y);
                if d <= metres && best[i].is_none_or(|(b, _)| d < b) {
                    best[i] = Some((d, rr));
                }
            }
        }
        return best;
    }
    let allowed: HashSet<u32> = r_rows.iter().copied().collect();
    for (i, &row) in l_rows.iter().enumerate() {
        let g = l.geometries.get(row as usize);
        let Some(bb) = g.bounding_rect() else {
            continue;
        };
        let plane = LocalPlane::around(&g);
        for rr in r.rows_in_bbox(plane.grow(bb, metres)) {
            if allowed.contains(&rr) {
                let d = plane.distance(&g, &r.geometries.get(rr as usize));
                if d <= metres && best[i].is_none_or(|(b, _)| d < b) {
                    best[i] = Some((d, rr));
                }
            }
        }
    }
    best
}

/// For each of `l_rows`: the nearest of `r_rows` by walking along the lines
/// of `network` ([`chiiki_network`]), with the distance in metres; `None`
/// where none is reachable. Both sides must be points.
fn nearest_walking(
    l: &Layer,
    l_rows: &[u32],
    r: &Layer,
    r_rows: &[u32],
    network: &Layer,
) -> Result<Vec<Option<(f64, u32)>>> {
    let points = |layer: &Layer, rows: &[u32]| match &layer.geometries {
        Geometries::Points(p) => Ok(rows.iter().map(|&i| p[i as usize]).collect::<Vec<_>>()),
        Geometries::Shapes(_) if rows.is_empty() => Ok(Vec::new()),
        Geometries::Shapes(_) => Err(AnalysisError::Definition(format!(
            "walking distances join points; '{}' is not a layer of points",
            layer.meta.id
        ))),
    };
    let (from, to) = (points(l, l_rows)?, points(r, r_rows)?);
    Ok(walk_to_nearest(&from, &to, network)?
        .into_iter()
        .map(|a| a.map(|a| (a.metres, r_rows[a.facility as usize])))
        .collect())
}

/// For each of `from`: the nearest of `to` by walking along the lines of
/// `network`, in one pass ([`chiiki_network::nearest_facilities`]).
fn walk_to_nearest(
    from: &[[f64; 2]],
    to: &[[f64; 2]],
    network: &Layer,
) -> Result<Vec<Option<chiiki_network::Assignment>>> {
    let net = chiiki_network::Network::from_layer(network, chiiki_network::TOLERANCE_M);
    if net.edge_count() == 0 && !network.is_empty() {
        return Err(AnalysisError::Definition(format!(
            "'{}' has no lines to walk along",
            network.meta.id
        )));
    }
    Ok(chiiki_network::nearest_facilities(&net, to, from))
}

/// What a join's answer is, for disclosure control: people stay people (with
/// the personal fields attached from the other side); features related to
/// people are derived from their data.
fn join_privacy(left: &Privacy, right: &Privacy, attach: &[String]) -> Privacy {
    let attached: BTreeMap<String, PersonalField> = right
        .fields()
        .map(|f| {
            f.iter()
                .filter(|(name, _)| attach.contains(name))
                .map(|(n, k)| (n.clone(), *k))
                .collect()
        })
        .unwrap_or_default();
    let with_attached = |fields: &BTreeMap<String, PersonalField>| {
        let mut fields = fields.clone();
        fields.extend(attached.clone());
        fields
    };
    match (left, right) {
        (Privacy::Individuals { population, fields }, _) => Privacy::Individuals {
            population: population.clone(),
            fields: with_attached(fields),
        },
        (Privacy::Derived { population, fields }, _) => Privacy::Derived {
            population: population.clone(),
            fields: with_attached(fields),
        },
        (Privacy::Aggregate { population }, _) => Privacy::Derived {
            population: population.clone(),
            fields: attached,
        },
        (Privacy::Open, Privacy::Open) => Privacy::Open,
        (Privacy::Open, other) => Privacy::Derived {
            population: other.population().unwrap_or_default().to_string(),
            fields: attached,
        },
    }
}

/// The group of each selected row (`u32::MAX` for none), the groups' ids and geometries, and the
/// target's columns (the key of polygons; a facility's id and kept attributes).
type Groups = (Vec<u32>, Vec<u64>, Vec<geo::Geometry<f64>>, Vec<Column>);

/// The columns of an aggregate's measures, one value per group, from the
/// group sizes (`totals`) and each measure's counts and sums per group.
fn measure_columns(
    measures: &[Measure],
    totals: &[u64],
    counts: &[Vec<u64>],
    sums: &[Vec<f64>],
) -> Result<Vec<Column>> {
    let mut columns = Vec::with_capacity(measures.len());
    for (m, measure) in measures.iter().enumerate() {
        let (ty, value): (FieldType, Box<dyn Fn(usize) -> Value>) = match measure.op {
            Op::Count => (
                FieldType::Integer,
                Box::new(|g| Value::Integer(counts[m][g] as i64)),
            ),
            Op::Sum => (FieldType::Real, Box::new(|g| Value::Real(sums[m][g]))),
            Op::Mean => (
                FieldType::Real,
                Box::new(|g| {
                    if counts[m][g] == 0 {
                        Value::Null
                    } else {
                        Value::Real(sums[m][g] / counts[m][g] as f64)
                    }
                }),
            ),
            Op::Share => (
                FieldType::Real,
                Box::new(|g| {
                    if totals[g] == 0 {
                        Value::Null
                    } else {
                        Value::Real(
                            ((counts[m][g] as f64 / totals[g] as f64) * 10_000.0).round()
                                / 10_000.0,
                        )
                    }
                }),
            ),
        };
        let mut col = Column::new(&measure.name, ty);
        for g in 0..totals.len() {
            col.push(value(g)).map_err(AnalysisError::internal)?;
        }
        columns.push(col);
    }
    Ok(columns)
}

/// What an aggregate of a layer labelled `privacy` is.
fn aggregate_privacy(privacy: &Privacy) -> Privacy {
    match privacy {
        Privacy::Open => Privacy::Open,
        Privacy::Individuals { population, .. } => Privacy::Aggregate {
            population: population.clone(),
        },
        // Not people: their counts are not protected by perturbation, so
        // they stay with the roles that may read the inputs.
        Privacy::Derived { population, .. } | Privacy::Aggregate { population } => {
            Privacy::Derived {
                population: population.clone(),
                fields: Default::default(),
            }
        }
    }
}

/// A row that falls in no group (outside every polygon, or off the mesh).
const NO_GROUP: u32 = u32::MAX;

/// Groups of the selected rows by JIS mesh cell at `level`, in the order
/// cells are first met.
fn group_by_mesh(rows: &[u32], points: &[[f64; 2]], level: &str) -> Result<Groups> {
    let level = MeshLevel::parse(level).ok_or_else(|| {
        AnalysisError::Definition(format!("unknown mesh level '{level}' (80km … 125m)"))
    })?;
    // Each row's cell code, on all cores; rows in spatial order
    // share their cell with their neighbours, so the code is
    // computed once per run of a cell.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = rows.len().div_ceil(threads).max(1);
    let row_codes: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut last = ((i64::MIN, i64::MIN), u64::MAX);
                    part.iter()
                        .map(|&r| {
                            let p = points[r as usize];
                            let Some(cell) = mesh::cell_index(p[0], p[1], level) else {
                                return u64::MAX;
                            };
                            if cell != last.0 {
                                last = (cell, mesh::code_of_index(cell.0, cell.1, level));
                            }
                            last.1
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("mesh thread"))
            .collect()
    });
    let mut index: rustc_hash::FxHashMap<u64, u32> = Default::default();
    let mut codes: Vec<u64> = Vec::new();
    let mut last = (u64::MAX, NO_GROUP);
    let groups = row_codes
        .iter()
        .map(|&c| {
            if c == u64::MAX {
                return NO_GROUP;
            }
            if c != last.0 {
                let g = *index.entry(c).or_insert_with(|| {
                    codes.push(c);
                    codes.len() as u32 - 1
                });
                last = (c, g);
            }
            last.1
        })
        .collect();
    let geoms = codes
        .iter()
        .map(|&c| geo::Geometry::Polygon(mesh::cell(c).expect("a valid code").to_polygon()))
        .collect();
    Ok((groups, codes, geoms, Vec::new()))
}

fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::Join { .. } => "join",
        Operation::Aggregate { .. } => "aggregate",
        Operation::Visits { .. } => "visits",
    }
}

fn numeric(v: &Value) -> f64 {
    match v {
        Value::Integer(i) => *i as f64,
        Value::Real(r) => *r,
        Value::Boolean(b) => *b as u8 as f64,
        Value::Date(d) => *d as f64,
        Value::DateTime(t) => *t as f64,
        Value::Text(t) => t.parse().unwrap_or(f64::NAN),
        Value::Null => f64::NAN,
    }
}

fn as_multipolygon(g: &geo::Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
        geo::Geometry::MultiPolygon(m) => m.clone(),
        geo::Geometry::Rect(r) => MultiPolygon(vec![r.to_polygon()]),
        _ => MultiPolygon(vec![]),
    }
}

/// A layer with only `rows` of `layer` (in that order), same metadata.
fn keep_rows(layer: &Layer, rows: &[u32]) -> Result<Layer> {
    let columns: Vec<Column> = layer.columns.iter().map(|c| c.permute(rows)).collect();
    Ok(Layer::new(LayerParts {
        meta: layer.meta.clone(),
        fids: rows.iter().map(|&r| layer.fids[r as usize]).collect(),
        geometries: layer.geometries.pick(rows),
        columns,
    }))
}

fn read_id_table(data_dir: &std::path::Path, t: &IdTable) -> Result<HashSet<String>> {
    let path = if t.file.is_absolute() {
        t.file.clone()
    } else {
        data_dir.join(&t.file)
    };
    // Errors name the file as the definition gives it, never the server's paths.
    let fail = |line: Option<u64>, message: String| AnalysisError::Table {
        file: t.file.clone(),
        line,
        field: None,
        message,
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|e| fail(None, e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| fail(Some(1), e.to_string()))?
        .clone();
    let col = header
        .iter()
        .position(|h| h == t.column)
        .ok_or_else(|| AnalysisError::Table {
            file: t.file.clone(),
            line: Some(1),
            field: Some(t.column.clone()),
            message: "no such column".into(),
        })?;
    let mut out = HashSet::new();
    for (i, r) in reader.records().enumerate() {
        let r = r.map_err(|e| fail(Some(i as u64 + 2), e.to_string()))?;
        out.insert(r[col].to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod walking_tests {
    use super::*;

    /// A layer of `geometries` with ids 1.. and no attributes.
    fn layer(id: &str, geometries: Geometries) -> Arc<Layer> {
        let fids = (1..=geometries.len() as i64).collect();
        Arc::new(Layer::new(LayerParts {
            meta: LayerMeta {
                id: id.into(),
                ..Default::default()
            },
            fids,
            geometries,
            columns: Vec::new(),
        }))
    }

    /// One street east (≈ 905 m), a shelter at its west end, two homes on it.
    fn sources() -> BTreeMap<String, Arc<Layer>> {
        let street = geo::LineString::from(vec![(139.750, 35.700), (139.760, 35.700)]);
        [
            layer("roads", Geometries::Shapes(vec![street.into()])),
            layer("shelters", Geometries::Points(vec![[139.750, 35.700]])),
            layer(
                "homes",
                Geometries::Points(vec![[139.751, 35.7001], [139.759, 35.700]]),
            ),
        ]
        .into_iter()
        .map(|l| (l.meta.id.clone(), l))
        .collect()
    }

    fn analysis(relation: &str) -> Analysis {
        serde_json::from_str(&format!(
            r#"{{"id": "a", "title": "a", "kind": "join",
                "left": {{"layer": "homes"}}, "right": {{"layer": "shelters"}},
                "relation": {relation},
                "parameters": [{{"name": "d", "label": "d", "default": 300, "min": 100,
                                 "max": 2000, "step": 50, "sets": "distance"}}]}}"#
        ))
        .unwrap()
    }

    struct NoRoads;

    impl InputView for NoRoads {
        fn view(&self, _author: &str, input: Arc<Layer>) -> Result<Arc<Layer>> {
            if input.meta.id == "roads" {
                return Err(AnalysisError::NotReadable {
                    input: "roads".into(),
                    reason: "not for this role".into(),
                });
            }
            Ok(input)
        }
    }

    fn run(a: &Analysis, view: &dyn InputView) -> Result<Layer> {
        let layers = sources();
        let analyses = BTreeMap::new();
        Sources {
            layers: &layers,
            analyses: &analyses,
            data_dir: std::path::Path::new("."),
            as_of: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            view,
        }
        .run(a)
    }

    fn distances(l: &Layer) -> Vec<(i64, f64)> {
        let (_, c) = l.column("walking_distance").unwrap();
        let mut out: Vec<(i64, f64)> = (0..l.len())
            .map(|i| (l.fids[i], numeric(&c.get(i))))
            .collect();
        out.sort_by_key(|x| x.0);
        out
    }

    #[test]
    fn walking_joins_attach_the_walk_and_obey_the_distance_parameter() {
        let within = analysis(r#"{"type": "within_walking", "metres": 300, "network": "roads"}"#);
        assert_eq!(within.inputs(), vec!["homes", "shelters", "roads"]);
        let near = distances(&run(&within, &Unrestricted).unwrap());
        // ≈ 11 m to the street, ≈ 90.5 m along it.
        assert_eq!(near.len(), 1);
        assert_eq!(near[0].0, 1);
        assert!((near[0].1 - 101.6).abs() < 0.5, "{near:?}");
        let beyond = analysis(r#"{"type": "beyond_walking", "metres": 300, "network": "roads"}"#);
        let far = distances(&run(&beyond, &Unrestricted).unwrap());
        assert_eq!(far.len(), 1);
        assert!(far[0].0 == 2 && (far[0].1 - 814.5).abs() < 1.0, "{far:?}");
        // Asked with 1 km, nobody is beyond.
        let wide = beyond.with_values(&[("d".into(), "1000".into())]).unwrap();
        assert_eq!(run(&wide, &Unrestricted).unwrap().len(), 0);
    }

    #[test]
    fn the_network_is_read_through_the_authors_view() {
        let beyond = analysis(r#"{"type": "beyond_walking", "metres": 300, "network": "roads"}"#);
        assert!(matches!(
            run(&beyond, &NoRoads),
            Err(AnalysisError::NotReadable { .. })
        ));
        let nowhere = analysis(r#"{"type": "beyond_walking", "metres": 300, "network": "paths"}"#);
        assert!(matches!(
            run(&nowhere, &Unrestricted),
            Err(AnalysisError::UnknownInput(_))
        ));
    }
}

#[cfg(test)]
mod catchment_tests {
    use super::*;

    fn column(name: &str, ty: FieldType, values: Vec<Value>) -> Column {
        let mut c = Column::new(name, ty);
        for v in values {
            c.push(v).unwrap();
        }
        c
    }

    fn layer(id: &str, privacy: Privacy, geometries: Geometries, columns: Vec<Column>) -> Layer {
        let fids = (1..=geometries.len() as i64).map(|i| i * 10).collect();
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: id.into(),
                privacy,
                ..Default::default()
            },
            fids,
            geometries,
            columns,
        })
    }

    /// A street east (≈ 905 m) with a shelter at each end (ids 10 and 20,
    /// capacities 2 and 5); a lane far north reaches neither. Five homes:
    /// three near the west end (two aged), one near the east end, one on
    /// the lane.
    fn sources() -> BTreeMap<String, Arc<Layer>> {
        let street = geo::LineString::from(vec![(139.750, 35.700), (139.760, 35.700)]);
        let lane = geo::LineString::from(vec![(139.750, 35.710), (139.751, 35.710)]);
        let people = Privacy::Individuals {
            population: "homes".into(),
            fields: BTreeMap::new(),
        };
        [
            layer(
                "roads",
                Privacy::Open,
                Geometries::Shapes(vec![street.into(), lane.into()]),
                Vec::new(),
            ),
            layer(
                "shelters",
                Privacy::Open,
                Geometries::Points(vec![[139.750, 35.700], [139.760, 35.700]]),
                vec![
                    column(
                        "name",
                        FieldType::Text,
                        vec![Value::Text("西".into()), Value::Text("東".into())],
                    ),
                    column(
                        "capacity",
                        FieldType::Integer,
                        vec![Value::Integer(2), Value::Integer(5)],
                    ),
                ],
            ),
            layer(
                "homes",
                people,
                Geometries::Points(vec![
                    [139.751, 35.7001],
                    [139.752, 35.6999],
                    [139.754, 35.7001],
                    [139.758, 35.700],
                    [139.7505, 35.7101],
                ]),
                vec![column(
                    "aged",
                    FieldType::Boolean,
                    [true, false, true, true, true]
                        .into_iter()
                        .map(Value::Boolean)
                        .collect(),
                )],
            ),
        ]
        .into_iter()
        .map(|l| (l.meta.id.clone(), Arc::new(l)))
        .collect()
    }

    fn catchments(having: Option<&str>, view: &dyn InputView) -> Result<Outcome> {
        let mut a: Analysis = serde_json::from_str(
            r#"{"id": "c", "title": "c", "kind": "aggregate",
                "source": {"layer": "homes"},
                "to": {"nearest": "shelters", "network": "roads", "keep": ["name", "capacity"]},
                "measures": [{"name": "residents", "op": "count"},
                             {"name": "aged", "op": "count", "filter": "aged = TRUE"}]}"#,
        )
        .unwrap();
        if let Operation::Aggregate { having: h, .. } = &mut a.operation {
            *h = having.map(String::from);
        }
        assert_eq!(a.inputs(), vec!["homes", "shelters", "roads"]);
        let layers = sources();
        let analyses = BTreeMap::new();
        Sources {
            layers: &layers,
            analyses: &analyses,
            data_dir: std::path::Path::new("."),
            as_of: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            view,
        }
        .run_detailed(&a)
    }

    /// Per facility id: its name, capacity, residents and aged.
    fn rows(l: &Layer) -> BTreeMap<i64, (String, i64, i64, i64)> {
        let get = |name: &str, row: usize| l.column(name).unwrap().1.get(row);
        (0..l.len())
            .map(|r| {
                let Value::Integer(id) = get(FACILITY_ID, r) else {
                    panic!()
                };
                assert_eq!(id, l.fids[r]);
                let (Value::Text(n), Value::Integer(c), Value::Integer(p), Value::Integer(a)) = (
                    get("name", r),
                    get("capacity", r),
                    get("residents", r),
                    get("aged", r),
                ) else {
                    panic!("row {r}")
                };
                (id, (n, c, p, a))
            })
            .collect()
    }

    #[test]
    fn each_home_is_counted_at_its_nearest_shelter_by_walking() {
        let out = catchments(None, &Unrestricted).unwrap();
        assert_eq!(
            rows(&out.layer),
            BTreeMap::from([(10, ("西".into(), 2, 3, 2)), (20, ("東".into(), 5, 1, 1)),])
        );
        // Groups at the shelters' points, in the properties' order.
        let Geometries::Points(p) = &out.layer.geometries else {
            panic!("points")
        };
        let west = out.layer.fids.iter().position(|&f| f == 10).unwrap();
        assert_eq!(p[west], [139.750, 35.700]);
        let names: Vec<&str> = out.layer.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "facility_id",
                "name",
                "capacity",
                "residents",
                "aged",
                "as_of"
            ]
        );
        // Who was counted where, for disclosure control: the four homes
        // that reach a shelter (the lane's is left out).
        let t = out.aggregate.expect("an aggregate of people").table;
        assert_eq!(t.table.groups, 2);
        assert_eq!(t.table.records.len(), 4);
        assert_eq!(t.table.population, "homes");
        let mut ids: Vec<i64> = t.table.records.iter().map(|r| r.0).collect();
        ids.sort();
        assert_eq!(ids, [10, 20, 30, 40]);
        let mut fids = t.group_fids.clone();
        fids.sort();
        assert_eq!(fids, [10, 20]);
    }

    #[test]
    fn having_compares_the_catchment_with_the_capacity() {
        let out = catchments(Some("residents > capacity"), &Unrestricted).unwrap();
        assert_eq!(out.layer.fids, [10]);
        assert_eq!(out.aggregate.unwrap().unfiltered.len(), 2);
    }

    struct Closed(&'static str);

    impl InputView for Closed {
        fn view(&self, _author: &str, input: Arc<Layer>) -> Result<Arc<Layer>> {
            if input.meta.id == self.0 {
                return Err(AnalysisError::NotReadable {
                    input: self.0.into(),
                    reason: "not for this role".into(),
                });
            }
            Ok(input)
        }
    }

    #[test]
    fn facilities_and_network_are_read_through_the_authors_view() {
        for closed in ["shelters", "roads"] {
            assert!(matches!(
                catchments(None, &Closed(closed)),
                Err(AnalysisError::NotReadable { .. })
            ));
        }
    }
}
