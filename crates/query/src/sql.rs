//! A bound filter ([`Bound`]) as a SQL `WHERE` fragment for PostgreSQL
//! with PostGIS, with every constant a bound parameter (`$n`) and never
//! spliced into the text: the fragment holds only column identifiers the
//! caller quoted, operators, casts and placeholders.
//!
//! The translation gives the same rows as [`crate::eval`] or none at all:
//! anything whose SQL meaning could differ from the in-memory evaluator's
//! is [`NotTranslatable`] and the caller answers from memory instead.
//!
//! - comparisons, `BETWEEN`, `IN`, `IS NULL`, `AND`/`OR`/`NOT`: SQL's
//!   three-valued logic is the evaluator's (a comparison with a null is
//!   neither true nor false, and so is its negation); text compares by code
//!   point (`COLLATE "C"`, as Rust compares `str`); an integer column
//!   against a decimal compares as `float8`, a date against a timestamp as
//!   milliseconds, a timestamp against a date as its UTC day;
//! - `LIKE`: the pattern is rewritten token by token (`%`, `_`, `\`-escaped
//!   characters) so PostgreSQL reads it as the evaluator does;
//! - spatial relations: `ST_Intersects`, `ST_Within`, … against
//!   `ST_GeomFromWKB($n, 6668)` (index-assisted); `S_DISJOINT` is
//!   `NOT ST_Intersects`;
//! - `S_DWITHIN`: in the evaluator's local metric plane around the literal
//!   ([`LocalPlane`]): `ST_DWithin` of the feature translated and scaled
//!   the same way, after a `geom &&` test of the plane's grown box (the
//!   GiST index). On a layer of points near a point the squared distance is
//!   written out as the evaluator computes it, operation for operation.
//!
//! Not translated: `CASEI` (PostgreSQL's `lower` under `"C"` lowercases
//! ASCII only), comparisons of a date column with a timestamp column, and
//! any column the caller cannot map to SQL (a generalised age band).

use chiiki_core::layers::FieldType;
use geo::BoundingRect;

use crate::ast::SpatialOp;
use crate::bind::{Bound, Lit};
use crate::eval::LocalPlane;

/// The SRID geometry literals are given in (JGD2011 lon/lat).
const SRID: u32 = chiiki_core::crs::STORAGE_EPSG;
const MS_PER_DAY: i64 = 86_400_000;
/// The geometry column of every layer table.
const GEOM: &str = "geom";

/// A constant bound to a placeholder, in the type the SQL casts it to.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
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
    /// `bytea`: little-endian ISO WKB.
    Wkb(Vec<u8>),
}

impl Param {
    fn cast(&self) -> &'static str {
        match self {
            Param::Int(_) => "bigint",
            Param::Real(_) => "float8",
            Param::Text(_) => "text",
            Param::Bool(_) => "boolean",
            Param::Date(_) => "date",
            Param::Ms(_) => "timestamptz",
            Param::Wkb(_) => "bytea",
        }
    }
}

/// A column of the table, as the filter's column index names it.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlColumn {
    /// The identifier, already quoted.
    pub ident: String,
    pub ty: FieldType,
}

/// Why a filter is answered from memory instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not translatable to SQL: {0}")]
pub struct NotTranslatable(pub String);

type Result<T> = std::result::Result<T, NotTranslatable>;

/// Builds one `WHERE` clause from several fragments (a role's row
/// predicate, the request's filter, its bbox), numbering the placeholders
/// across all of them.
#[derive(Debug, Default)]
pub struct Translator {
    params: Vec<Param>,
    /// Whether the layer holds points only (the evaluator's fast paths).
    points: bool,
}

impl Translator {
    /// `points`: the layer's geometries are all points (the evaluator
    /// treats such layers by their coordinates).
    pub fn new(points: bool) -> Translator {
        Translator {
            params: Vec::new(),
            points,
        }
    }

    /// The parameters, `$1` first.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn into_params(self) -> Vec<Param> {
        self.params
    }

    /// `$n::type` for a new parameter.
    pub fn param(&mut self, p: Param) -> String {
        let cast = p.cast();
        self.params.push(p);
        format!("${}::{cast}", self.params.len())
    }

    /// The features whose geometry meets the closed box `r` (lon/lat), as
    /// [`chiiki_core::layers::Layer::rows_in_bbox`] selects them: the
    /// index's `&&`, then the exact test.
    ///
    /// On a layer of points the exact test is the evaluator's, on the
    /// coordinates (and much cheaper than `ST_Intersects`): `&&` compares
    /// boxes rounded outward to `float4`, so it alone could keep a point
    /// just outside.
    pub fn bbox(&mut self, r: geo::Rect<f64>) -> String {
        let env = self.envelope(r);
        if self.points {
            // The envelope's four parameters, in its order.
            let n = self.params.len();
            let p = |i: usize| format!("${}::float8", n - 4 + i);
            return format!(
                "({GEOM} && {env} AND ST_X({GEOM}) BETWEEN {} AND {} AND ST_Y({GEOM}) BETWEEN {} AND {})",
                p(1),
                p(3),
                p(2),
                p(4)
            );
        }
        format!("({GEOM} && {env} AND ST_Intersects({GEOM}, {env}))")
    }

    fn envelope(&mut self, r: geo::Rect<f64>) -> String {
        let (a, b, c, d) = (
            self.param(Param::Real(r.min().x)),
            self.param(Param::Real(r.min().y)),
            self.param(Param::Real(r.max().x)),
            self.param(Param::Real(r.max().y)),
        );
        format!("ST_MakeEnvelope({a}, {b}, {c}, {d}, {SRID})")
    }

    /// `b` (bound to a layer whose column `i` is `columns[i]`, `None` for
    /// one without a SQL equivalent) as a boolean SQL expression.
    pub fn filter(&mut self, b: &Bound, columns: &[Option<SqlColumn>]) -> Result<String> {
        let col = |i: usize| -> Result<&SqlColumn> {
            columns
                .get(i)
                .and_then(Option::as_ref)
                .ok_or_else(|| NotTranslatable(format!("column {i} has no SQL column")))
        };
        Ok(match b {
            Bound::Const(true) => "TRUE".into(),
            Bound::Const(false) => "FALSE".into(),
            Bound::And(x, y) => format!(
                "({} AND {})",
                self.filter(x, columns)?,
                self.filter(y, columns)?
            ),
            Bound::Or(x, y) => format!(
                "({} OR {})",
                self.filter(x, columns)?,
                self.filter(y, columns)?
            ),
            Bound::Not(x) => format!("(NOT {})", self.filter(x, columns)?),
            Bound::Cmp {
                col: c,
                op,
                value,
                casei,
            } => {
                if *casei {
                    return Err(NotTranslatable("CASEI".into()));
                }
                let (expr, p) = operand(col(*c)?, value)?;
                format!("({expr} {} {})", op.symbol(), self.param(p))
            }
            Bound::ColCmp {
                left,
                op,
                right,
                casei,
            } => {
                if *casei {
                    return Err(NotTranslatable("CASEI".into()));
                }
                let (l, r) = column_pair(col(*left)?, col(*right)?)?;
                format!("({l} {} {r})", op.symbol())
            }
            Bound::Like {
                col: c,
                pattern,
                casei,
            } => {
                if *casei {
                    return Err(NotTranslatable("CASEI LIKE".into()));
                }
                let c = col(*c)?;
                if c.ty != FieldType::Text {
                    return Err(NotTranslatable("LIKE on a column that is not text".into()));
                }
                let p = self.param(Param::Text(like_pattern(pattern)));
                format!("({} COLLATE \"C\" LIKE {p})", c.ident)
            }
            Bound::Between { col: c, low, high } => {
                let c = col(*c)?;
                let (expr, lo) = operand(c, low)?;
                let (_, hi) = operand(c, high)?;
                let (lo, hi) = (self.param(lo), self.param(hi));
                format!("({expr} BETWEEN {lo} AND {hi})")
            }
            Bound::In {
                col: c,
                values,
                casei,
            } => {
                if *casei {
                    return Err(NotTranslatable("CASEI IN".into()));
                }
                if values.is_empty() {
                    return Ok("FALSE".into());
                }
                let c = col(*c)?;
                let mut expr = String::new();
                let mut list = Vec::with_capacity(values.len());
                for v in values {
                    let (e, p) = operand(c, v)?;
                    expr = e;
                    list.push(self.param(p));
                }
                format!("({expr} IN ({}))", list.join(", "))
            }
            Bound::IsNull { col: c } => format!("({} IS NULL)", col(*c)?.ident),
            Bound::Spatial { op, geom } => self.spatial(*op, geom)?,
            Bound::DWithin { geom, metres } => self.dwithin(geom, *metres)?,
        })
    }

    fn geometry(&mut self, g: &geo::Geometry<f64>) -> Result<String> {
        let p = self.param(Param::Wkb(wkb_of(g)?));
        Ok(format!("ST_GeomFromWKB({p}, {SRID})"))
    }

    fn spatial(&mut self, op: SpatialOp, geom: &geo::Geometry<f64>) -> Result<String> {
        if geom.bounding_rect().is_none() {
            // An empty literal: the evaluator's constant.
            return Ok(if op == SpatialOp::Disjoint {
                "TRUE"
            } else {
                "FALSE"
            }
            .into());
        }
        let g = self.geometry(geom)?;
        Ok(match op {
            SpatialOp::Intersects => format!("ST_Intersects({GEOM}, {g})"),
            SpatialOp::Disjoint => format!("(NOT ST_Intersects({GEOM}, {g}))"),
            SpatialOp::Equals => format!("ST_Equals({GEOM}, {g})"),
            SpatialOp::Touches => format!("ST_Touches({GEOM}, {g})"),
            SpatialOp::Within => format!("ST_Within({GEOM}, {g})"),
            SpatialOp::Overlaps => format!("ST_Overlaps({GEOM}, {g})"),
            SpatialOp::Crosses => format!("ST_Crosses({GEOM}, {g})"),
            SpatialOp::Contains => format!("ST_Contains({GEOM}, {g})"),
        })
    }

    fn dwithin(&mut self, geom: &geo::Geometry<f64>, metres: f64) -> Result<String> {
        let Some(r) = geom.bounding_rect() else {
            return Ok("FALSE".into());
        };
        if !metres.is_finite() {
            return Err(NotTranslatable("a distance that is not finite".into()));
        }
        let plane = LocalPlane::around(geom);
        let near = self.envelope(plane.grow(r, metres));
        let (lon0, lat0, kx, ky) = plane.parameters();
        let lit = plane.project_geometry(geom);
        if let (true, geo::Geometry::Point(q)) = (self.points, &lit) {
            // (lon - lon0) * kx - qx, squared and summed, against d²: the
            // evaluator's arithmetic, operation for operation.
            let (lon0, lat0, kx, ky) = (
                self.param(Param::Real(lon0)),
                self.param(Param::Real(lat0)),
                self.param(Param::Real(kx)),
                self.param(Param::Real(ky)),
            );
            let (qx, qy) = (
                self.param(Param::Real(q.x())),
                self.param(Param::Real(q.y())),
            );
            let d2 = self.param(Param::Real(metres * metres));
            let dx = format!("((ST_X({GEOM}) - {lon0}) * {kx} - {qx})");
            let dy = format!("((ST_Y({GEOM}) - {lat0}) * {ky} - {qy})");
            return Ok(format!(
                "({GEOM} && {near} AND {dx} * {dx} + {dy} * {dy} <= {d2})"
            ));
        }
        let (lon0, lat0, kx, ky) = (
            self.param(Param::Real(-lon0)),
            self.param(Param::Real(-lat0)),
            self.param(Param::Real(kx)),
            self.param(Param::Real(ky)),
        );
        let lit = self.geometry(&lit)?;
        let d = self.param(Param::Real(metres));
        Ok(format!(
            "({GEOM} && {near} AND ST_DWithin(ST_Scale(ST_Translate({GEOM}, {lon0}, {lat0}), {kx}, {ky}), {lit}, {d}))"
        ))
    }
}

/// The column expression and the parameter for `column op value`, in the
/// representation the evaluator compares them in.
fn operand(c: &SqlColumn, value: &Lit) -> Result<(String, Param)> {
    let id = &c.ident;
    Ok(match (c.ty, value) {
        (FieldType::Integer, Lit::Int(x)) => (id.clone(), Param::Int(*x)),
        (FieldType::Integer, Lit::Real(x)) => (format!("{id}::float8"), Param::Real(*x)),
        (FieldType::Real, Lit::Real(x)) => (id.clone(), Param::Real(*x)),
        (FieldType::Real, Lit::Int(x)) => (id.clone(), Param::Real(*x as f64)),
        (FieldType::Text, Lit::Text(s)) => (format!("{id} COLLATE \"C\""), Param::Text(s.clone())),
        (FieldType::Boolean, Lit::Bool(b)) => (id.clone(), Param::Bool(*b)),
        (FieldType::Date, Lit::Date(d)) => (id.clone(), Param::Date(*d)),
        (FieldType::Date, Lit::Ms(ms)) => (date_ms(id), Param::Int(*ms)),
        (FieldType::DateTime, Lit::Ms(ms)) => (id.clone(), Param::Ms(*ms)),
        (FieldType::DateTime, Lit::Date(d)) => (utc_day(id), Param::Date(*d)),
        (ty, v) => {
            return Err(NotTranslatable(format!(
                "a {ty:?} column compared with {v:?}"
            )))
        }
    })
}

/// A date column as milliseconds since the epoch (its day's start).
fn date_ms(id: &str) -> String {
    format!("(({id} - DATE '1970-01-01')::bigint * {MS_PER_DAY})")
}

/// A timestamp column's UTC day.
fn utc_day(id: &str) -> String {
    format!("(({id} AT TIME ZONE 'UTC')::date)")
}

/// Two columns in the representation the evaluator compares them in.
fn column_pair(a: &SqlColumn, b: &SqlColumn) -> Result<(String, String)> {
    use FieldType::*;
    let (x, y) = (&a.ident, &b.ident);
    Ok(match (a.ty, b.ty) {
        (Integer, Integer) | (Boolean, Boolean) | (Date, Date) | (Real, Real) => {
            (x.clone(), y.clone())
        }
        (Text, Text) => (format!("{x} COLLATE \"C\""), format!("{y} COLLATE \"C\"")),
        (Integer, Real) => (format!("{x}::float8"), y.clone()),
        (Real, Integer) => (x.clone(), format!("{y}::float8")),
        (DateTime, DateTime) => (x.clone(), y.clone()),
        (s, t) => {
            return Err(NotTranslatable(format!(
                "a {s:?} column compared with a {t:?} column"
            )))
        }
    })
}

/// The evaluator's LIKE pattern (`%`, `_`, `\` escaping the next character,
/// a trailing `\` standing for itself) in PostgreSQL's syntax, whose escape
/// character is also `\`.
pub fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    let mut last_many = false;
    while let Some(c) = chars.next() {
        let literal = match c {
            '\\' => chars.next().unwrap_or('\\'),
            '%' => {
                if !last_many {
                    out.push('%');
                }
                last_many = true;
                continue;
            }
            '_' => {
                out.push('_');
                last_many = false;
                continue;
            }
            c => c,
        };
        last_many = false;
        if matches!(literal, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(literal);
    }
    out
}

/// `g` as little-endian ISO WKB (a box or triangle as its polygon).
fn wkb_of(g: &geo::Geometry<f64>) -> Result<Vec<u8>> {
    let g = match g {
        geo::Geometry::Rect(r) => geo::Geometry::Polygon(r.to_polygon()),
        geo::Geometry::Triangle(t) => geo::Geometry::Polygon(t.to_polygon()),
        geo::Geometry::Line(l) => {
            geo::Geometry::LineString(geo::LineString::from(vec![l.start, l.end]))
        }
        other => other.clone(),
    };
    let mut out = Vec::new();
    wkb::writer::write_geometry(
        &mut out,
        &g,
        &wkb::writer::WriteOptions {
            endianness: wkb::Endianness::LittleEndian,
        },
    )
    .map_err(|e| NotTranslatable(format!("encoding a geometry literal: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Filter;
    use chiiki_core::crs::Crs;
    use chiiki_core::layers::{Column, Geometries, Layer, LayerMeta, LayerParts};

    fn layer() -> Layer {
        let names = [
            ("n", FieldType::Integer),
            ("x", FieldType::Real),
            ("s", FieldType::Text),
            ("b", FieldType::Boolean),
            ("d", FieldType::Date),
            ("t", FieldType::DateTime),
        ];
        Layer::from_sorted(LayerParts {
            meta: LayerMeta {
                id: "t".into(),
                ..Default::default()
            },
            fids: vec![],
            geometries: Geometries::Points(vec![]),
            columns: names.iter().map(|(n, t)| Column::new(n, *t)).collect(),
        })
    }

    fn columns() -> Vec<Option<SqlColumn>> {
        layer()
            .columns
            .iter()
            .map(|c| {
                Some(SqlColumn {
                    ident: format!("\"{}\"", c.name),
                    ty: c.field_type(),
                })
            })
            .collect()
    }

    fn sql(filter: &str) -> Result<(String, Vec<Param>)> {
        let l = layer();
        let f = Filter::new(filter, &l, Crs::Crs84).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let mut t = Translator::new(true);
        let s = t.filter(f.bound(), &columns())?;
        Ok((s, t.into_params()))
    }

    fn ok(filter: &str) -> (String, Vec<Param>) {
        sql(filter).unwrap_or_else(|e| panic!("{filter}: {e}"))
    }

    #[test]
    fn comparisons_bind_every_constant() {
        assert_eq!(
            ok("n > 2"),
            ("(\"n\" > $1::bigint)".into(), vec![Param::Int(2)])
        );
        assert_eq!(
            ok("n >= 2.5"),
            (
                "(\"n\"::float8 >= $1::float8)".into(),
                vec![Param::Real(2.5)]
            )
        );
        assert_eq!(
            ok("x < 1"),
            ("(\"x\" < $1::float8)".into(), vec![Param::Real(1.0)])
        );
        assert_eq!(
            ok("s = 'it''s; DROP TABLE x'"),
            (
                "(\"s\" COLLATE \"C\" = $1::text)".into(),
                vec![Param::Text("it's; DROP TABLE x".into())]
            )
        );
        assert_eq!(
            ok("b = true"),
            ("(\"b\" = $1::boolean)".into(), vec![Param::Bool(true)])
        );
        assert_eq!(
            ok("d >= DATE('1970-01-03')"),
            ("(\"d\" >= $1::date)".into(), vec![Param::Date(2)])
        );
        assert_eq!(
            ok("t < TIMESTAMP('1970-01-02T00:00:00Z')"),
            (
                "(\"t\" < $1::timestamptz)".into(),
                vec![Param::Ms(86_400_000)]
            )
        );
        assert_eq!(
            ok("n < x").0,
            "(\"n\"::float8 < \"x\")",
            "a column against a column"
        );
    }

    #[test]
    fn logic_like_between_in_and_null() {
        let (s, p) = ok("NOT (n = 1 OR s IS NULL) AND b = false");
        assert_eq!(
            s,
            "((NOT ((\"n\" = $1::bigint) OR (\"s\" IS NULL))) AND (\"b\" = $2::boolean))"
        );
        assert_eq!(p, vec![Param::Int(1), Param::Bool(false)]);
        assert_eq!(
            ok("s LIKE 'al%%p_\\%'"),
            (
                "(\"s\" COLLATE \"C\" LIKE $1::text)".into(),
                vec![Param::Text("al%p_\\%".into())]
            )
        );
        assert_eq!(
            ok("n BETWEEN 2 AND 4"),
            (
                "(\"n\" BETWEEN $1::bigint AND $2::bigint)".into(),
                vec![Param::Int(2), Param::Int(4)]
            )
        );
        assert_eq!(
            ok("s NOT IN ('a', 'b')"),
            (
                "(NOT (\"s\" COLLATE \"C\" IN ($1::text, $2::text)))".into(),
                vec![Param::Text("a".into()), Param::Text("b".into())]
            )
        );
        assert_eq!(ok("n = 1 AND FALSE").0, "FALSE");
    }

    #[test]
    fn mixed_dates_compare_as_the_evaluator_does() {
        let (s, p) = ok("d < TIMESTAMP('1970-01-02T12:00:00Z')");
        assert_eq!(
            s,
            "(((\"d\" - DATE '1970-01-01')::bigint * 86400000) < $1::bigint)"
        );
        assert_eq!(p, vec![Param::Int(86_400_000 + 43_200_000)]);
        let (s, p) = ok("t = DATE('1970-01-02')");
        assert_eq!(s, "(((\"t\" AT TIME ZONE 'UTC')::date) = $1::date)");
        assert_eq!(p, vec![Param::Date(1)]);
    }

    #[test]
    fn what_could_answer_differently_is_not_translated() {
        for f in [
            "CASEI(s) = CASEI('alpha')",
            "CASEI(s) LIKE CASEI('a%')",
            "CASEI(s) IN (CASEI('a'))",
            "d < t",
        ] {
            assert!(sql(f).is_err(), "{f}");
        }
        let mut t = Translator::new(true);
        let mut cols = columns();
        cols[2] = None;
        let l = layer();
        let f = Filter::new("s = 'a'", &l, Crs::Crs84).unwrap();
        assert!(t.filter(f.bound(), &cols).is_err(), "an unmapped column");
    }

    #[test]
    fn spatial_predicates_take_wkb_literals() {
        let (s, p) = ok("S_INTERSECTS(geometry, POINT(139.7 35.7))");
        assert_eq!(s, "ST_Intersects(geom, ST_GeomFromWKB($1::bytea, 6668))");
        let Param::Wkb(w) = &p[0] else {
            panic!("{p:?}")
        };
        assert_eq!(w.len(), 21);
        assert_eq!(w[0], 1, "little-endian");
        let (s, _) = ok("S_WITHIN(geometry, BBOX(139, 35, 140, 36))");
        assert_eq!(s, "ST_Within(geom, ST_GeomFromWKB($1::bytea, 6668))");
        let (s, _) = ok("NOT S_DISJOINT(geometry, POLYGON((139 35, 140 35, 140 36, 139 35)))");
        assert_eq!(
            s,
            "(NOT (NOT ST_Intersects(geom, ST_GeomFromWKB($1::bytea, 6668))))"
        );
        // Near a point, on points: the plane's arithmetic, behind the index.
        let (s, p) = ok("S_DWITHIN(geometry, POINT(139.7 35.7), 250, meters)");
        assert!(
            s.starts_with(
                "(geom && ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 6668) AND ((ST_X(geom) - $5::float8) * $7::float8 - $9::float8)"
            ),
            "{s}"
        );
        assert_eq!(p.len(), 11);
        assert_eq!(p[10], Param::Real(62_500.0));
        let mut t = Translator::new(false);
        let l = layer();
        let f = Filter::new(
            "S_DWITHIN(geometry, POINT(139.7 35.7), 250, meters)",
            &l,
            Crs::Crs84,
        )
        .unwrap();
        let s = t.filter(f.bound(), &columns()).unwrap();
        assert!(s.contains("ST_DWithin(ST_Scale(ST_Translate(geom, $5::float8, $6::float8), $7::float8, $8::float8), ST_GeomFromWKB($9::bytea, 6668), $10::float8)"), "{s}");
    }

    #[test]
    fn bbox_uses_the_index_then_the_exact_test() {
        let mut t = Translator::new(true);
        let s = t.bbox(geo::Rect::new(
            geo::coord! {x: 139.0, y: 35.0},
            geo::coord! {x: 140.0, y: 36.0},
        ));
        assert_eq!(
            s,
            "(geom && ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 6668) AND ST_X(geom) BETWEEN $1::float8 AND $3::float8 AND ST_Y(geom) BETWEEN $2::float8 AND $4::float8)"
        );
        let mut t = Translator::new(false);
        let s = t.bbox(geo::Rect::new(
            geo::coord! {x: 139.0, y: 35.0},
            geo::coord! {x: 140.0, y: 36.0},
        ));
        assert_eq!(
            s,
            "(geom && ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 6668) AND ST_Intersects(geom, ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 6668)))"
        );
        assert_eq!(t.params().len(), 4);
    }

    #[test]
    fn like_patterns_keep_their_meaning() {
        assert_eq!(like_pattern("a%b_c"), "a%b_c");
        assert_eq!(like_pattern("%%x"), "%x");
        assert_eq!(like_pattern("100\\%"), "100\\%");
        assert_eq!(like_pattern("ends\\"), "ends\\\\");
        assert_eq!(like_pattern("a\\b"), "ab");
        assert_eq!(like_pattern("白山_"), "白山_");
    }
}
