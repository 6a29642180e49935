//! Binding a parsed filter to a layer: names to column indices, literals to
//! the columns' types, geometry literals to storage lon/lat. Every error a
//! filter can have against a schema is found here, before any row is read.

use std::cmp::Ordering;

use geo::{BoundingRect, Relate};

use super::ast::{CmpOp, Expr, GeomOperand, Scalar, ScalarKind, SpatialOp};
use super::ParseError;
use chiiki_core::crs::{Crs, Transform};
use chiiki_core::layers::column::days_from_date;
use chiiki_core::layers::{FieldType, Layer};

const MS_PER_DAY: i64 = 86_400_000;

/// A typed constant, in the representation its column uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds since the epoch.
    Ms(i64),
}

/// A filter bound to a layer's schema.
#[derive(Debug, Clone)]
pub enum Bound {
    Const(bool),
    And(Box<Bound>, Box<Bound>),
    Or(Box<Bound>, Box<Bound>),
    Not(Box<Bound>),
    /// `column op value`. With `casei`, the value is already lowercase.
    Cmp {
        col: usize,
        op: CmpOp,
        value: Lit,
        casei: bool,
    },
    /// `column op column`, both of comparable types.
    ColCmp {
        left: usize,
        op: CmpOp,
        right: usize,
        casei: bool,
    },
    /// `column LIKE pattern` (text columns).
    Like {
        col: usize,
        pattern: String,
        casei: bool,
    },
    /// `low <= column <= high`.
    Between {
        col: usize,
        low: Lit,
        high: Lit,
    },
    In {
        col: usize,
        values: Vec<Lit>,
        casei: bool,
    },
    IsNull {
        col: usize,
    },
    /// The feature's geometry `op` the literal (storage lon/lat).
    Spatial {
        op: SpatialOp,
        geom: geo::Geometry<f64>,
    },
    /// The feature's geometry lies within `metres` of the literal.
    DWithin {
        geom: geo::Geometry<f64>,
        metres: f64,
    },
}

/// Names a filter may use for the layer's geometry.
pub fn is_geometry_name(layer: &Layer, name: &str) -> bool {
    layer.column(name).is_none()
        && ["geometry", "geom", "the_geom", "shape"]
            .iter()
            .any(|g| g.eq_ignore_ascii_case(name))
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Integer => "an integer",
        FieldType::Real => "a number",
        FieldType::Text => "a text",
        FieldType::Boolean => "a boolean",
        FieldType::Date => "a date",
        FieldType::DateTime => "a date-time",
    }
}

fn queryables(layer: &Layer) -> String {
    let mut names: Vec<&str> = layer.columns.iter().map(|c| c.name.as_str()).collect();
    names.push("geometry");
    names.join(", ")
}

struct Binder<'a> {
    layer: &'a Layer,
    crs: Crs,
}

/// Binds `expr` to `layer`. Geometry literals are in `crs`, in its axis order.
pub fn bind(expr: &Expr, layer: &Layer, crs: Crs) -> Result<Bound, ParseError> {
    let b = Binder { layer, crs };
    Ok(simplify(b.expr(expr)?))
}

/// Folds constants: `x AND FALSE` is `FALSE`, `NOT TRUE` is `FALSE`, …
fn simplify(b: Bound) -> Bound {
    match b {
        Bound::And(a, c) => match (simplify(*a), simplify(*c)) {
            (Bound::Const(false), _) | (_, Bound::Const(false)) => Bound::Const(false),
            (Bound::Const(true), x) | (x, Bound::Const(true)) => x,
            (x, y) => Bound::And(Box::new(x), Box::new(y)),
        },
        Bound::Or(a, c) => match (simplify(*a), simplify(*c)) {
            (Bound::Const(true), _) | (_, Bound::Const(true)) => Bound::Const(true),
            (Bound::Const(false), x) | (x, Bound::Const(false)) => x,
            (x, y) => Bound::Or(Box::new(x), Box::new(y)),
        },
        Bound::Not(a) => match simplify(*a) {
            Bound::Const(v) => Bound::Const(!v),
            x => Bound::Not(Box::new(x)),
        },
        other => other,
    }
}

/// Strips CASEI: the operand inside and whether it was wrapped.
fn unwrap_casei(s: &Scalar) -> (&Scalar, bool) {
    match &s.kind {
        ScalarKind::CaseI(inner) => (unwrap_casei(inner).0, true),
        _ => (s, false),
    }
}

/// Orders two constants of compatible types.
fn compare_lits(a: &Lit, b: &Lit) -> Option<Ordering> {
    match (a, b) {
        (Lit::Int(x), Lit::Int(y)) => Some(x.cmp(y)),
        (Lit::Int(x), Lit::Real(y)) => (*x as f64).partial_cmp(y),
        (Lit::Real(x), Lit::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Lit::Real(x), Lit::Real(y)) => x.partial_cmp(y),
        (Lit::Text(x), Lit::Text(y)) => Some(x.cmp(y)),
        (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
        (Lit::Date(x), Lit::Date(y)) => Some(x.cmp(y)),
        (Lit::Ms(x), Lit::Ms(y)) => Some(x.cmp(y)),
        (Lit::Date(x), Lit::Ms(y)) => Some((*x as i64 * MS_PER_DAY).cmp(y)),
        (Lit::Ms(x), Lit::Date(y)) => Some(x.cmp(&(*y as i64 * MS_PER_DAY))),
        _ => None,
    }
}

fn literal_of(kind: &ScalarKind) -> Option<Lit> {
    Some(match kind {
        ScalarKind::Text(s) => Lit::Text(s.clone()),
        ScalarKind::Int(v) => Lit::Int(*v),
        ScalarKind::Real(v) => Lit::Real(*v),
        ScalarKind::Bool(b) => Lit::Bool(*b),
        ScalarKind::Date(d) => Lit::Date(*d),
        ScalarKind::Timestamp(t) => Lit::Ms(*t),
        ScalarKind::Property(_) | ScalarKind::CaseI(_) => return None,
    })
}

/// Brings a list of constants for one column to one representation: an
/// integer column compared with any decimal compares as numbers; dates mixed
/// with timestamps compare as timestamps.
fn unify(values: &mut [Lit]) {
    if values.iter().any(|v| matches!(v, Lit::Real(_))) {
        for v in values.iter_mut() {
            if let Lit::Int(i) = v {
                *v = Lit::Real(*i as f64);
            }
        }
    }
    if values.iter().any(|v| matches!(v, Lit::Ms(_))) {
        for v in values.iter_mut() {
            if let Lit::Date(d) = v {
                *v = Lit::Ms(*d as i64 * MS_PER_DAY);
            }
        }
    }
}

impl Binder<'_> {
    fn column(&self, name: &str, pos: usize) -> Result<usize, ParseError> {
        if let Some((i, _)) = self.layer.column(name) {
            return Ok(i);
        }
        // A client that upper- or lower-cases names still finds a unique match.
        let folded: Vec<usize> = self
            .layer
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name.eq_ignore_ascii_case(name))
            .map(|(i, _)| i)
            .collect();
        if folded.len() == 1 {
            return Ok(folded[0]);
        }
        if is_geometry_name(self.layer, name) {
            return Err(ParseError::new(
                pos,
                format!(
                    "'{name}' is the geometry, which only spatial functions (S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DWITHIN, …) take"
                ),
            ));
        }
        Err(ParseError::new(
            pos,
            format!(
                "unknown property '{name}'; the queryables of '{}' are: {}",
                self.layer.meta.id,
                queryables(self.layer)
            ),
        ))
    }

    fn field_type(&self, col: usize) -> FieldType {
        self.layer.columns[col].field_type()
    }

    fn col_name(&self, col: usize) -> &str {
        &self.layer.columns[col].name
    }

    /// The constant `s` as a value of column `col`'s type.
    fn coerce(&self, col: usize, s: &Scalar) -> Result<Lit, ParseError> {
        let ty = self.field_type(col);
        let name = self.col_name(col);
        let lit = literal_of(&s.kind).expect("called on literals");
        let mismatch = |hint: &str| {
            ParseError::new(
                s.pos,
                format!(
                    "'{name}' is {} property and cannot be compared with {}{hint}",
                    type_name(ty),
                    s.kind.describe()
                ),
            )
        };
        Ok(match (ty, lit) {
            (FieldType::Integer, l @ (Lit::Int(_) | Lit::Real(_))) => l,
            (FieldType::Real, Lit::Int(i)) => Lit::Real(i as f64),
            (FieldType::Real, l @ Lit::Real(_)) => l,
            (FieldType::Text, l @ Lit::Text(_)) => l,
            (FieldType::Boolean, l @ Lit::Bool(_)) => l,
            (FieldType::Date | FieldType::DateTime, l @ (Lit::Date(_) | Lit::Ms(_))) => l,
            // A quoted date or timestamp where DATE(…)/TIMESTAMP(…) was meant.
            (FieldType::Date | FieldType::DateTime, Lit::Text(t)) => {
                if let Ok(d) = chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
                    Lit::Date(days_from_date(d))
                } else if let Ok(ts) = chrono::DateTime::parse_from_rfc3339(&t) {
                    Lit::Ms(ts.timestamp_millis())
                } else {
                    return Err(mismatch(
                        "; write DATE('YYYY-MM-DD') or TIMESTAMP('YYYY-MM-DDThh:mm:ssZ')",
                    ));
                }
            }
            (FieldType::Text, Lit::Int(_) | Lit::Real(_)) => {
                return Err(mismatch(&format!(
                    "; quote the value to compare text: '{}'",
                    match &s.kind {
                        ScalarKind::Int(v) => v.to_string(),
                        ScalarKind::Real(v) => v.to_string(),
                        _ => String::new(),
                    }
                )))
            }
            (FieldType::Integer | FieldType::Real, Lit::Text(_)) => {
                return Err(mismatch("; numbers are written without quotes"))
            }
            (FieldType::Boolean, _) => return Err(mismatch("; use TRUE or FALSE")),
            _ => return Err(mismatch("")),
        })
    }

    /// The column of a property operand, or `None` for a literal.
    fn property(&self, s: &Scalar) -> Result<Option<usize>, ParseError> {
        match &s.kind {
            ScalarKind::Property(name) => Ok(Some(self.column(name, s.pos)?)),
            _ => Ok(None),
        }
    }

    fn require_text(&self, col: usize, pos: usize, what: &str) -> Result<(), ParseError> {
        let ty = self.field_type(col);
        if ty != FieldType::Text {
            return Err(ParseError::new(
                pos,
                format!(
                    "{what} applies to text, and '{}' is {} property",
                    self.col_name(col),
                    type_name(ty)
                ),
            ));
        }
        Ok(())
    }

    fn expr(&self, e: &Expr) -> Result<Bound, ParseError> {
        Ok(match e {
            Expr::And(a, b) => Bound::And(Box::new(self.expr(a)?), Box::new(self.expr(b)?)),
            Expr::Or(a, b) => Bound::Or(Box::new(self.expr(a)?), Box::new(self.expr(b)?)),
            Expr::Not(a) => Bound::Not(Box::new(self.expr(a)?)),
            Expr::Scalar(s) => match &s.kind {
                ScalarKind::Bool(b) => Bound::Const(*b),
                ScalarKind::Property(name) => {
                    let col = self.column(name, s.pos)?;
                    if self.field_type(col) != FieldType::Boolean {
                        return Err(ParseError::new(
                            s.pos,
                            format!(
                                "'{name}' is {} property, not a condition; compare it, e.g. {name} = …",
                                type_name(self.field_type(col))
                            ),
                        ));
                    }
                    Bound::Cmp {
                        col,
                        op: CmpOp::Eq,
                        value: Lit::Bool(true),
                        casei: false,
                    }
                }
                other => {
                    return Err(ParseError::new(
                        s.pos,
                        format!("{} is not a condition", other.describe()),
                    ))
                }
            },
            Expr::Compare {
                op,
                left,
                right,
                pos,
            } => self.compare(*op, left, right, *pos)?,
            Expr::Like {
                value,
                pattern,
                negated,
                pos,
            } => {
                let (v, ci1) = unwrap_casei(value);
                let (p, ci2) = unwrap_casei(pattern);
                let casei = ci1 || ci2;
                let Some(col) = self.property(v)? else {
                    return Err(ParseError::new(
                        v.pos,
                        "the left side of LIKE must be a text property",
                    ));
                };
                self.require_text(col, *pos, "LIKE")?;
                let ScalarKind::Text(pat) = &p.kind else {
                    return Err(ParseError::new(
                        p.pos,
                        format!(
                            "LIKE takes a quoted pattern such as '白山%', not {}",
                            p.kind.describe()
                        ),
                    ));
                };
                let pattern = if casei {
                    pat.to_lowercase()
                } else {
                    pat.clone()
                };
                negate(
                    *negated,
                    Bound::Like {
                        col,
                        pattern,
                        casei,
                    },
                )
            }
            Expr::Between {
                value,
                low,
                high,
                negated,
                pos,
            } => {
                let Some(col) = self.property(value)? else {
                    return Err(ParseError::new(
                        value.pos,
                        "the left side of BETWEEN must be a property",
                    ));
                };
                let ty = self.field_type(col);
                if matches!(ty, FieldType::Boolean) {
                    return Err(ParseError::new(
                        *pos,
                        format!(
                            "BETWEEN does not apply to the boolean '{}'",
                            self.col_name(col)
                        ),
                    ));
                }
                let mut bounds = Vec::with_capacity(2);
                for b in [low, high] {
                    if literal_of(&b.kind).is_none() {
                        return Err(ParseError::new(
                            b.pos,
                            "the bounds of BETWEEN must be literal values",
                        ));
                    }
                    bounds.push(self.coerce(col, b)?);
                }
                unify(&mut bounds);
                let high = bounds.pop().expect("two bounds");
                let low = bounds.pop().expect("two bounds");
                negate(*negated, Bound::Between { col, low, high })
            }
            Expr::In {
                value,
                list,
                negated,
                pos: _,
            } => {
                let (v, mut casei) = unwrap_casei(value);
                let Some(col) = self.property(v)? else {
                    return Err(ParseError::new(
                        v.pos,
                        "the left side of IN must be a property",
                    ));
                };
                let mut values = Vec::with_capacity(list.len());
                for item in list {
                    let (item, ci) = unwrap_casei(item);
                    casei |= ci;
                    if literal_of(&item.kind).is_none() {
                        return Err(ParseError::new(
                            item.pos,
                            "the IN list must hold literal values",
                        ));
                    }
                    values.push(self.coerce(col, item)?);
                }
                if casei {
                    self.require_text(col, v.pos, "CASEI")?;
                    for v in values.iter_mut() {
                        if let Lit::Text(t) = v {
                            *t = t.to_lowercase();
                        }
                    }
                }
                unify(&mut values);
                negate(*negated, Bound::In { col, values, casei })
            }
            Expr::IsNull {
                value,
                negated,
                pos: _,
            } => {
                let (v, _) = unwrap_casei(value);
                let b = match &v.kind {
                    ScalarKind::Property(name) if is_geometry_name(self.layer, name) => {
                        // Every feature has a geometry.
                        Bound::Const(false)
                    }
                    ScalarKind::Property(name) => Bound::IsNull {
                        col: self.column(name, v.pos)?,
                    },
                    _ => Bound::Const(false),
                };
                negate(*negated, b)
            }
            Expr::Spatial {
                op,
                left,
                right,
                pos,
            } => {
                let (op, geom) = self.spatial_operands(*op, left, right, *pos, op.name())?;
                match geom {
                    Operands::Feature(geom) => Bound::Spatial { op, geom },
                    Operands::Literals(a, b) => Bound::Const(const_relation(op, &a, &b)),
                }
            }
            Expr::DWithin {
                left,
                right,
                metres,
                pos,
            } => {
                let (_, geom) =
                    self.spatial_operands(SpatialOp::Intersects, left, right, *pos, "S_DWITHIN")?;
                match geom {
                    Operands::Feature(geom) => Bound::DWithin {
                        geom,
                        metres: *metres,
                    },
                    Operands::Literals(a, b) => {
                        let plane = super::eval::LocalPlane::around(&a);
                        Bound::Const(plane.distance(&a, &b) <= *metres)
                    }
                }
            }
        })
    }

    fn compare(
        &self,
        op: CmpOp,
        left: &Scalar,
        right: &Scalar,
        pos: usize,
    ) -> Result<Bound, ParseError> {
        let (l, ci1) = unwrap_casei(left);
        let (r, ci2) = unwrap_casei(right);
        let casei = ci1 || ci2;
        match (self.property(l)?, self.property(r)?) {
            (Some(a), Some(b)) => {
                let (ta, tb) = (self.field_type(a), self.field_type(b));
                let numeric = |t| matches!(t, FieldType::Integer | FieldType::Real);
                let ok = ta == tb
                    || (numeric(ta) && numeric(tb))
                    || (ta.is_temporal() && tb.is_temporal());
                if !ok {
                    return Err(ParseError::new(
                        pos,
                        format!(
                            "'{}' is {} property and '{}' is {}; they cannot be compared",
                            self.col_name(a),
                            type_name(ta),
                            self.col_name(b),
                            type_name(tb)
                        ),
                    ));
                }
                if casei {
                    self.require_text(a, l.pos, "CASEI")?;
                }
                if ta == FieldType::Boolean && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(ParseError::new(pos, "booleans compare only with = and <>"));
                }
                Ok(Bound::ColCmp {
                    left: a,
                    op,
                    right: b,
                    casei,
                })
            }
            (Some(col), None) => self.column_cmp(col, op, r, casei, pos),
            (None, Some(col)) => self.column_cmp(col, op.flipped(), l, casei, pos),
            (None, None) => {
                let (a, b) = (
                    literal_of(&l.kind).expect("not a property"),
                    literal_of(&r.kind).expect("not a property"),
                );
                let (a, b) = match (a, b, casei) {
                    (Lit::Text(x), Lit::Text(y), true) => {
                        (Lit::Text(x.to_lowercase()), Lit::Text(y.to_lowercase()))
                    }
                    (a, b, _) => (a, b),
                };
                let ord = compare_lits(&a, &b).ok_or_else(|| {
                    ParseError::new(
                        pos,
                        format!(
                            "{} and {} cannot be compared",
                            l.kind.describe(),
                            r.kind.describe()
                        ),
                    )
                })?;
                Ok(Bound::Const(op.holds(ord)))
            }
        }
    }

    fn column_cmp(
        &self,
        col: usize,
        op: CmpOp,
        lit: &Scalar,
        casei: bool,
        pos: usize,
    ) -> Result<Bound, ParseError> {
        let mut value = self.coerce(col, lit)?;
        if self.field_type(col) == FieldType::Boolean && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(ParseError::new(pos, "booleans compare only with = and <>"));
        }
        if casei {
            self.require_text(col, pos, "CASEI")?;
            if let Lit::Text(t) = &mut value {
                *t = t.to_lowercase();
            }
        }
        Ok(Bound::Cmp {
            col,
            op,
            value,
            casei,
        })
    }

    fn geometry_literal(
        &self,
        g: &geo::Geometry<f64>,
        pos: usize,
    ) -> Result<geo::Geometry<f64>, ParseError> {
        to_storage(g, self.crs).map_err(|m| ParseError::new(pos, m))
    }

    /// Normalises a spatial predicate to "feature op literal".
    fn spatial_operands(
        &self,
        op: SpatialOp,
        left: &GeomOperand,
        right: &GeomOperand,
        pos: usize,
        name: &str,
    ) -> Result<(SpatialOp, Operands), ParseError> {
        let check_property = |p: &str, at: usize| -> Result<(), ParseError> {
            if is_geometry_name(self.layer, p) {
                Ok(())
            } else if self.layer.column(p).is_some() {
                Err(ParseError::new(
                    at,
                    format!(
                        "'{p}' is an attribute, not a geometry; {name} takes the geometry property ('geometry') and a geometry literal"
                    ),
                ))
            } else {
                Err(ParseError::new(
                    at,
                    format!(
                        "unknown property '{p}'; the geometry of '{}' is called 'geometry' (the queryables are: {})",
                        self.layer.meta.id,
                        queryables(self.layer)
                    ),
                ))
            }
        };
        match (left, right) {
            (GeomOperand::Property(p, at), GeomOperand::Literal(g, gpos)) => {
                check_property(p, *at)?;
                Ok((op, Operands::Feature(self.geometry_literal(g, *gpos)?)))
            }
            (GeomOperand::Literal(g, gpos), GeomOperand::Property(p, at)) => {
                check_property(p, *at)?;
                Ok((
                    op.swapped(),
                    Operands::Feature(self.geometry_literal(g, *gpos)?),
                ))
            }
            (GeomOperand::Literal(a, apos), GeomOperand::Literal(b, bpos)) => Ok((
                op,
                Operands::Literals(
                    self.geometry_literal(a, *apos)?,
                    self.geometry_literal(b, *bpos)?,
                ),
            )),
            (GeomOperand::Property(p, at), GeomOperand::Property(q, _)) => {
                check_property(p, *at)?;
                check_property(q, right.pos())?;
                Err(ParseError::new(
                    pos,
                    format!("{name} compares the feature's geometry with a geometry literal; give one as WKT or BBOX"),
                ))
            }
        }
    }
}

enum Operands {
    /// The literal the feature's geometry is related to.
    Feature(geo::Geometry<f64>),
    /// Two literals: the predicate is a constant.
    Literals(geo::Geometry<f64>, geo::Geometry<f64>),
}

fn negate(negated: bool, b: Bound) -> Bound {
    if negated {
        Bound::Not(Box::new(b))
    } else {
        b
    }
}

fn const_relation(op: SpatialOp, a: &geo::Geometry<f64>, b: &geo::Geometry<f64>) -> bool {
    let m = a.relate(b);
    match op {
        SpatialOp::Intersects => m.is_intersects(),
        SpatialOp::Disjoint => m.is_disjoint(),
        SpatialOp::Equals => m.is_equal_topo(),
        SpatialOp::Touches => m.is_touches(),
        SpatialOp::Within => m.is_within(),
        SpatialOp::Overlaps => m.is_overlaps(),
        SpatialOp::Crosses => m.is_crosses(),
        SpatialOp::Contains => m.is_contains(),
    }
}

/// A geometry literal in `crs` (axes as the CRS orders them) as storage
/// lon/lat. A BBOX in a projected CRS becomes the polygon of its densified
/// edges; other edges stay straight in lon/lat, which within a city differs
/// from the straight line in the plane by millimetres.
pub fn to_storage(g: &geo::Geometry<f64>, crs: Crs) -> Result<geo::Geometry<f64>, String> {
    use geo::MapCoordsInPlace;
    let mut g = g.clone();
    if crs.northing_first() {
        g.map_coords_in_place(|c| geo::coord! { x: c.y, y: c.x });
    }
    if crs.is_storage_equivalent() {
        check_lon_lat(&g)?;
        return Ok(g);
    }
    if let geo::Geometry::Rect(r) = &g {
        const STEPS: usize = 16;
        let (x0, y0, x1, y1) = (r.min().x, r.min().y, r.max().x, r.max().y);
        let mut ring = Vec::with_capacity(4 * STEPS + 1);
        for i in 0..STEPS {
            ring.push((x0 + (x1 - x0) * i as f64 / STEPS as f64, y0));
        }
        for i in 0..STEPS {
            ring.push((x1, y0 + (y1 - y0) * i as f64 / STEPS as f64));
        }
        for i in 0..STEPS {
            ring.push((x1 - (x1 - x0) * i as f64 / STEPS as f64, y1));
        }
        for i in 0..STEPS {
            ring.push((x0, y1 - (y1 - y0) * i as f64 / STEPS as f64));
        }
        ring.push((x0, y0));
        g = geo::Polygon::new(geo::LineString::from(ring), vec![]).into();
    }
    let t = Transform::to_storage(crs).map_err(|e| e.to_string())?;
    t.apply_geometry(&mut g)
        .map_err(|e| format!("the geometry cannot be transformed from {crs}: {e}"))?;
    check_lon_lat(&g).map_err(|_| format!("the geometry lies outside the area of {crs}"))?;
    Ok(g)
}

fn check_lon_lat(g: &geo::Geometry<f64>) -> Result<(), String> {
    use geo::CoordsIter;
    let ok = g
        .coords_iter()
        .all(|c| c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0);
    if !ok || g.bounding_rect().is_none() {
        return Err(
            "coordinates must be longitude/latitude (in filter-crs axis order) within ±180/±90"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql2::parse;
    use chiiki_core::layers::{Column, Geometries, LayerMeta, LayerParts, Value};

    fn layer() -> Layer {
        let mut n = Column::new("JINKO", FieldType::Integer);
        let mut s = Column::new("S_NAME", FieldType::Text);
        let mut d = Column::new("day", FieldType::Date);
        for i in 0..3 {
            n.push(Value::Integer(i)).unwrap();
            s.push(Value::Text(format!("町{i}"))).unwrap();
            d.push(Value::Date(i as i32)).unwrap();
        }
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: "t".into(),
                ..Default::default()
            },
            fids: vec![1, 2, 3],
            geometries: Geometries::Points(vec![[139.7, 35.7], [139.71, 35.71], [139.72, 35.72]]),
            columns: vec![n, s, d],
        })
    }

    fn b(s: &str) -> Result<Bound, ParseError> {
        bind(&parse(s).unwrap(), &layer(), Crs::Crs84)
    }

    #[test]
    fn names_types_and_constants() {
        assert!(matches!(
            b("5000 < JINKO").unwrap(),
            Bound::Cmp {
                col: 0,
                op: CmpOp::Gt,
                value: Lit::Int(5000),
                ..
            }
        ));
        assert!(matches!(
            b("jinko >= 1.5").unwrap(),
            Bound::Cmp {
                col: 0,
                value: Lit::Real(_),
                ..
            }
        ));
        assert!(matches!(
            b("1 = 1 OR JINKO = 2").unwrap(),
            Bound::Const(true)
        ));
        assert!(matches!(b("'a' > 'b'").unwrap(), Bound::Const(false)));
        assert!(matches!(
            b("day > '1970-01-02'").unwrap(),
            Bound::Cmp {
                value: Lit::Date(1),
                ..
            }
        ));
        let e = b("S_NAME = 5000").unwrap_err();
        assert!(e.message.contains("text property"), "{e}");
        assert!(e.message.contains("'5000'"), "{e}");
        assert_eq!(e.position, 10);
        let e = b("NOPE = 1").unwrap_err();
        assert!(e.message.contains("unknown property 'NOPE'"), "{e}");
        assert!(e.message.contains("JINKO, S_NAME, day, geometry"), "{e}");
        assert!(b("JINKO LIKE '1%'")
            .unwrap_err()
            .message
            .contains("applies to text"));
        assert!(b("geometry = 1")
            .unwrap_err()
            .message
            .contains("spatial functions"));
        assert!(b("S_INTERSECTS(JINKO, POINT(1 2))").is_err());
        assert!(b("S_INTERSECTS(geometry, POINT(500 2))").is_err());
        assert!(matches!(
            b("S_WITHIN(POINT(139.7 35.7), geom)").unwrap(),
            Bound::Spatial {
                op: SpatialOp::Contains,
                ..
            }
        ));
        assert!(matches!(
            b("S_INTERSECTS(POINT(1 1), BBOX(0, 0, 2, 2))").unwrap(),
            Bound::Const(true)
        ));
    }

    #[test]
    fn projected_literals_reach_storage_lon_lat() {
        // Zone IX origin (36°N 139°50'E), northing first.
        let g = to_storage(&geo::Point::new(0.0, 0.0).into(), Crs::Epsg(6677)).unwrap();
        let geo::Geometry::Point(p) = g else { panic!() };
        assert!((p.x() - (139.0 + 50.0 / 60.0)).abs() < 1e-9 && (p.y() - 36.0).abs() < 1e-9);
        // EPSG:4326 is latitude first.
        let g = to_storage(&geo::Point::new(35.7, 139.7).into(), Crs::Epsg(4326)).unwrap();
        assert_eq!(g, geo::Point::new(139.7, 35.7).into());
    }
}
