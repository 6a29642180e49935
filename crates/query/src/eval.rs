//! Compiling a bound filter into a row predicate.
//!
//! Each node becomes a boxed closure over row numbers that captures the
//! column's typed vector (`&[i64]`, the text buffer, the null mask) and the
//! constant in the same representation, so testing a row is an index, a
//! comparison and, for an AND/OR, one indirect call per child. Comparison
//! operators are resolved when compiling (one closure per operator), not per
//! row.
//!
//! `NOT` is pushed down: every node is compiled either for "is true" or "is
//! false", which gives SQL's three-valued logic for nulls at no cost per row
//! (a null makes a comparison neither true nor false).
//!
//! # Distances (`S_DWITHIN`)
//!
//! Distances are measured in metres on a local plane: an equirectangular
//! projection centred on the literal's bounding box, scaled with the GRS80
//! meridional (M) and prime-vertical (N·cos φ) radii of curvature at that
//! latitude. Along the meridian the plane is exact to the curvature of M
//! (≈ 1e-5 over tens of km); east–west its scale drifts from the truth by
//! about tan φ₀·Δφ for a point Δφ (radians) north or south of the centre:
//! 0.006 % at 500 m, 0.06 % at 5 km, 0.25 % at 20 km at Tokyo's latitude —
//! well under 0.5 % anywhere within a city, and about 1.5 cm at a 500 m
//! threshold. Geodesic distance would cost a Vincenty/Karney iteration per
//! row; the plane costs two multiplications for points.

use geo::{BoundingRect, Contains, Distance, Euclidean, Intersects, MapCoords, Rect, Relate};
use rustc_hash::FxHashSet;

use super::ast::{CmpOp, SpatialOp};
use super::bind::{Bound, Lit};
use chiiki_core::layers::{ColumnData, Geometries, Layer};

const MS_PER_DAY: i64 = 86_400_000;

type Pred<'a> = Box<dyn Fn(usize) -> bool + 'a>;

/// A compiled filter: tests one row of the layer it was compiled for.
pub struct Predicate<'a> {
    f: Pred<'a>,
}

impl Predicate<'_> {
    #[inline]
    pub fn matches(&self, row: usize) -> bool {
        (self.f)(row)
    }
}

/// Compiles `b` (bound to `layer`) into a predicate.
pub fn compile<'a>(b: &'a Bound, layer: &'a Layer) -> Predicate<'a> {
    Predicate {
        f: node(b, layer, true),
    }
}

/// `test(get(row))`, or its negation when compiling for "is false"; a null
/// row is neither.
fn make<'a, T, G, F>(get: G, nulls: Option<&'a [bool]>, want: bool, test: F) -> Pred<'a>
where
    G: Fn(usize) -> T + 'a,
    F: Fn(T) -> bool + 'a,
{
    match (nulls, want) {
        (None, true) => Box::new(move |r| test(get(r))),
        (None, false) => Box::new(move |r| !test(get(r))),
        (Some(n), true) => Box::new(move |r| !n[r] && test(get(r))),
        (Some(n), false) => Box::new(move |r| !n[r] && !test(get(r))),
    }
}

/// One closure per operator, so the operator is not dispatched per row.
macro_rules! by_op {
    ($op:expr, $get:expr, $nulls:expr, $want:expr, $lit:expr) => {{
        let lit = $lit;
        match $op {
            CmpOp::Eq => make($get, $nulls, $want, move |v| v == lit),
            CmpOp::Ne => make($get, $nulls, $want, move |v| v != lit),
            CmpOp::Lt => make($get, $nulls, $want, move |v| v < lit),
            CmpOp::Le => make($get, $nulls, $want, move |v| v <= lit),
            CmpOp::Gt => make($get, $nulls, $want, move |v| v > lit),
            CmpOp::Ge => make($get, $nulls, $want, move |v| v >= lit),
        }
    }};
}

/// Case-insensitive order of `v` against an already lowercase `lower`,
/// without allocating.
fn casei_cmp(v: &str, lower: &str) -> std::cmp::Ordering {
    v.chars().flat_map(char::to_lowercase).cmp(lower.chars())
}

fn node<'a>(b: &'a Bound, layer: &'a Layer, want: bool) -> Pred<'a> {
    match b {
        Bound::Const(v) => {
            let v = *v == want;
            Box::new(move |_| v)
        }
        Bound::And(x, y) => {
            let (x, y) = (node(x, layer, want), node(y, layer, want));
            if want {
                Box::new(move |r| x(r) && y(r))
            } else {
                Box::new(move |r| x(r) || y(r))
            }
        }
        Bound::Or(x, y) => {
            let (x, y) = (node(x, layer, want), node(y, layer, want));
            if want {
                Box::new(move |r| x(r) || y(r))
            } else {
                Box::new(move |r| x(r) && y(r))
            }
        }
        Bound::Not(x) => node(x, layer, !want),
        Bound::Cmp {
            col,
            op,
            value,
            casei,
        } => compare(layer, *col, *op, value, *casei, want),
        Bound::ColCmp {
            left,
            op,
            right,
            casei,
        } => column_compare(layer, *left, *op, *right, *casei, want),
        Bound::Like {
            col,
            pattern,
            casei,
        } => {
            let column = &layer.columns[*col];
            let ColumnData::Text(t) = &column.data else {
                unreachable!("bound LIKE is on text columns")
            };
            let m = LikeMatcher::new(pattern);
            if *casei {
                make(
                    move |r| t.get(r),
                    column.nulls.as_deref(),
                    want,
                    move |v: &str| m.matches(&v.to_lowercase()),
                )
            } else {
                make(
                    move |r| t.get(r),
                    column.nulls.as_deref(),
                    want,
                    move |v: &str| m.matches(v),
                )
            }
        }
        Bound::Between { col, low, high } => between(layer, *col, low, high, want),
        Bound::In { col, values, casei } => in_list(layer, *col, values, *casei, want),
        Bound::IsNull { col } => match layer.columns[*col].nulls.as_deref() {
            None => Box::new(move |_| !want),
            Some(n) => {
                if want {
                    Box::new(move |r| n[r])
                } else {
                    Box::new(move |r| !n[r])
                }
            }
        },
        Bound::Spatial { op, geom } => {
            let t = spatial(*op, geom, layer);
            if want {
                t
            } else {
                Box::new(move |r| !t(r))
            }
        }
        Bound::DWithin { geom, metres } => {
            let t = dwithin(geom, *metres, layer);
            if want {
                t
            } else {
                Box::new(move |r| !t(r))
            }
        }
    }
}

fn compare<'a>(
    layer: &'a Layer,
    col: usize,
    op: CmpOp,
    value: &'a Lit,
    casei: bool,
    want: bool,
) -> Pred<'a> {
    let column = &layer.columns[col];
    let nulls = column.nulls.as_deref();
    match (&column.data, value) {
        (ColumnData::Integer(v), Lit::Int(x)) => by_op!(op, move |r| v[r], nulls, want, *x),
        (ColumnData::Integer(v), Lit::Real(x)) => {
            by_op!(op, move |r| v[r] as f64, nulls, want, *x)
        }
        (ColumnData::Real(v), Lit::Real(x)) => by_op!(op, move |r| v[r], nulls, want, *x),
        (ColumnData::Real(v), Lit::Int(x)) => by_op!(op, move |r| v[r], nulls, want, *x as f64),
        (ColumnData::Text(t), Lit::Text(s)) if casei => {
            let s = s.as_str();
            make(
                move |r| t.get(r),
                nulls,
                want,
                move |v: &str| op.holds(casei_cmp(v, s)),
            )
        }
        (ColumnData::Text(t), Lit::Text(s)) => {
            by_op!(op, move |r| t.get(r), nulls, want, s.as_str())
        }
        (ColumnData::Boolean(v), Lit::Bool(x)) => by_op!(op, move |r| v[r], nulls, want, *x),
        (ColumnData::Date(v), Lit::Date(x)) => by_op!(op, move |r| v[r], nulls, want, *x),
        (ColumnData::Date(v), Lit::Ms(x)) => {
            by_op!(op, move |r| v[r] as i64 * MS_PER_DAY, nulls, want, *x)
        }
        (ColumnData::DateTime(v), Lit::Ms(x)) => by_op!(op, move |r| v[r], nulls, want, *x),
        // A date-time compared with a date compares its (UTC) day.
        (ColumnData::DateTime(v), Lit::Date(x)) => by_op!(
            op,
            move |r| v[r].div_euclid(MS_PER_DAY) as i32,
            nulls,
            want,
            *x
        ),
        _ => unreachable!("bind coerces constants to their column's type"),
    }
}

fn between<'a>(layer: &'a Layer, col: usize, low: &'a Lit, high: &'a Lit, want: bool) -> Pred<'a> {
    let column = &layer.columns[col];
    let nulls = column.nulls.as_deref();
    macro_rules! range {
        ($get:expr, $lo:expr, $hi:expr) => {{
            let (lo, hi) = ($lo, $hi);
            make($get, nulls, want, move |x| lo <= x && x <= hi)
        }};
    }
    match (&column.data, low, high) {
        (ColumnData::Integer(v), Lit::Int(a), Lit::Int(b)) => range!(move |r| v[r], *a, *b),
        (ColumnData::Integer(v), Lit::Real(a), Lit::Real(b)) => {
            range!(move |r| v[r] as f64, *a, *b)
        }
        (ColumnData::Real(v), Lit::Real(a), Lit::Real(b)) => range!(move |r| v[r], *a, *b),
        (ColumnData::Text(t), Lit::Text(a), Lit::Text(b)) => {
            range!(move |r| t.get(r), a.as_str(), b.as_str())
        }
        (ColumnData::Date(v), Lit::Date(a), Lit::Date(b)) => range!(move |r| v[r], *a, *b),
        (ColumnData::Date(v), Lit::Ms(a), Lit::Ms(b)) => {
            range!(move |r| v[r] as i64 * MS_PER_DAY, *a, *b)
        }
        (ColumnData::DateTime(v), Lit::Ms(a), Lit::Ms(b)) => range!(move |r| v[r], *a, *b),
        (ColumnData::DateTime(v), Lit::Date(a), Lit::Date(b)) => {
            range!(move |r| v[r].div_euclid(MS_PER_DAY) as i32, *a, *b)
        }
        _ => unreachable!("bind unifies the bounds to the column's type"),
    }
}

/// Membership in a small list is a linear scan; longer lists use a hash set.
const LINEAR_IN: usize = 12;

fn in_list<'a>(
    layer: &'a Layer,
    col: usize,
    values: &'a [Lit],
    casei: bool,
    want: bool,
) -> Pred<'a> {
    let column = &layer.columns[col];
    let nulls = column.nulls.as_deref();
    macro_rules! member {
        ($get:expr, $variant:ident, $conv:expr) => {{
            let list: Vec<_> = values
                .iter()
                .map(|l| match l {
                    Lit::$variant(x) => $conv(x),
                    _ => unreachable!("bind unifies the list"),
                })
                .collect();
            if list.len() <= LINEAR_IN {
                make($get, nulls, want, move |x| list.contains(&x))
            } else {
                let set: FxHashSet<_> = list.into_iter().collect();
                make($get, nulls, want, move |x| set.contains(&x))
            }
        }};
    }
    match (&column.data, values.first()) {
        (_, None) => Box::new(move |_| !want),
        (ColumnData::Integer(v), Some(Lit::Int(_))) => member!(move |r| v[r], Int, |x: &i64| *x),
        (ColumnData::Integer(v), Some(Lit::Real(_))) => {
            let list: Vec<f64> = values
                .iter()
                .map(|l| match l {
                    Lit::Real(x) => *x,
                    _ => unreachable!("bind unifies the list"),
                })
                .collect();
            make(
                move |r| v[r] as f64,
                nulls,
                want,
                move |x| list.contains(&x),
            )
        }
        (ColumnData::Real(v), _) => {
            let list: Vec<f64> = values
                .iter()
                .map(|l| match l {
                    Lit::Real(x) => *x,
                    _ => unreachable!("bind unifies the list"),
                })
                .collect();
            make(move |r| v[r], nulls, want, move |x| list.contains(&x))
        }
        (ColumnData::Text(t), _) if casei => {
            let list: Vec<&str> = values
                .iter()
                .map(|l| match l {
                    Lit::Text(s) => s.as_str(),
                    _ => unreachable!("bind unifies the list"),
                })
                .collect();
            make(
                move |r| t.get(r),
                nulls,
                want,
                move |x: &str| list.iter().any(|s| casei_cmp(x, s).is_eq()),
            )
        }
        (ColumnData::Text(t), _) => member!(move |r| t.get(r), Text, |x: &'a String| x.as_str()),
        (ColumnData::Boolean(v), _) => member!(move |r| v[r], Bool, |x: &bool| *x),
        (ColumnData::Date(v), Some(Lit::Date(_))) => member!(move |r| v[r], Date, |x: &i32| *x),
        (ColumnData::Date(v), Some(Lit::Ms(_))) => {
            member!(move |r| v[r] as i64 * MS_PER_DAY, Ms, |x: &i64| *x)
        }
        (ColumnData::DateTime(v), Some(Lit::Ms(_))) => member!(move |r| v[r], Ms, |x: &i64| *x),
        (ColumnData::DateTime(v), Some(Lit::Date(_))) => member!(
            move |r| v[r].div_euclid(MS_PER_DAY) as i32,
            Date,
            |x: &i32| *x
        ),
        _ => unreachable!("bind coerces the list to the column's type"),
    }
}

fn column_compare<'a>(
    layer: &'a Layer,
    a: usize,
    op: CmpOp,
    b: usize,
    casei: bool,
    want: bool,
) -> Pred<'a> {
    let (ca, cb) = (&layer.columns[a], &layer.columns[b]);
    let both = move |r: usize| !ca.is_null(r) && !cb.is_null(r);
    let num = |d: &'a ColumnData| -> Option<Box<dyn Fn(usize) -> f64 + 'a>> {
        match d {
            ColumnData::Integer(v) => Some(Box::new(move |r| v[r] as f64)),
            ColumnData::Real(v) => Some(Box::new(move |r| v[r])),
            _ => None,
        }
    };
    let ms = |d: &'a ColumnData| -> Option<Box<dyn Fn(usize) -> i64 + 'a>> {
        match d {
            ColumnData::Date(v) => Some(Box::new(move |r| v[r] as i64 * MS_PER_DAY)),
            ColumnData::DateTime(v) => Some(Box::new(move |r| v[r])),
            _ => None,
        }
    };
    match (&ca.data, &cb.data) {
        (ColumnData::Integer(x), ColumnData::Integer(y)) => {
            Box::new(move |r| both(r) && op.holds(x[r].cmp(&y[r])) == want)
        }
        (ColumnData::Text(x), ColumnData::Text(y)) => {
            if casei {
                Box::new(move |r| {
                    both(r) && {
                        let l = x.get(r).to_lowercase();
                        op.holds(casei_cmp(y.get(r), &l).reverse()) == want
                    }
                })
            } else {
                Box::new(move |r| both(r) && op.holds(x.get(r).cmp(y.get(r))) == want)
            }
        }
        (ColumnData::Boolean(x), ColumnData::Boolean(y)) => {
            Box::new(move |r| both(r) && op.holds(x[r].cmp(&y[r])) == want)
        }
        (ColumnData::Date(x), ColumnData::Date(y)) => {
            Box::new(move |r| both(r) && op.holds(x[r].cmp(&y[r])) == want)
        }
        (da, db) => {
            if let (Some(x), Some(y)) = (num(da), num(db)) {
                Box::new(move |r| {
                    both(r) && x(r).partial_cmp(&y(r)).is_some_and(|o| op.holds(o)) == want
                })
            } else if let (Some(x), Some(y)) = (ms(da), ms(db)) {
                Box::new(move |r| both(r) && op.holds(x(r).cmp(&y(r))) == want)
            } else {
                unreachable!("bind checks that the columns are comparable")
            }
        }
    }
}

// ---- LIKE ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum LikeTok {
    Char(char),
    /// `_`
    One,
    /// `%`
    Many,
}

/// A LIKE pattern, compiled to the cheapest test that decides it.
enum LikeMatcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Any,
    General(Vec<LikeTok>),
}

impl LikeMatcher {
    /// `%` any run, `_` one character, `\` escapes the next character.
    fn new(pattern: &str) -> LikeMatcher {
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => toks.push(LikeTok::Char(chars.next().unwrap_or('\\'))),
                '%' => {
                    if toks.last() != Some(&LikeTok::Many) {
                        toks.push(LikeTok::Many)
                    }
                }
                '_' => toks.push(LikeTok::One),
                c => toks.push(LikeTok::Char(c)),
            }
        }
        let lit = |ts: &[LikeTok]| -> Option<String> {
            ts.iter()
                .map(|t| match t {
                    LikeTok::Char(c) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        let n = toks.len();
        let starts = n > 0 && toks[0] == LikeTok::Many;
        let ends = n > 0 && toks[n - 1] == LikeTok::Many;
        if starts && n == 1 {
            return LikeMatcher::Any;
        }
        let inner = &toks[starts as usize..n - ends as usize];
        match (lit(inner), starts, ends) {
            (Some(s), false, false) => LikeMatcher::Exact(s),
            (Some(s), false, true) => LikeMatcher::Prefix(s),
            (Some(s), true, false) => LikeMatcher::Suffix(s),
            (Some(s), true, true) => LikeMatcher::Contains(s),
            (None, _, _) => LikeMatcher::General(toks),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            LikeMatcher::Exact(s) => text == s,
            LikeMatcher::Prefix(s) => text.starts_with(s.as_str()),
            LikeMatcher::Suffix(s) => text.ends_with(s.as_str()),
            LikeMatcher::Contains(s) => text.contains(s.as_str()),
            LikeMatcher::Any => true,
            LikeMatcher::General(p) => like_general(text, p),
        }
    }
}

/// Wildcard matching with backtracking to the last `%` only: linear in
/// practice, O(n·m) at worst.
fn like_general(text: &str, pat: &[LikeTok]) -> bool {
    let next_char = |i: usize| text[i..].chars().next();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < pat.len() {
            match pat[pi] {
                LikeTok::Many => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                LikeTok::One => {
                    if let Some(c) = next_char(ti) {
                        ti += c.len_utf8();
                        pi += 1;
                        continue;
                    }
                }
                LikeTok::Char(p) => {
                    if let Some(c) = next_char(ti) {
                        if c == p {
                            ti += c.len_utf8();
                            pi += 1;
                            continue;
                        }
                    }
                }
            }
        } else if ti == text.len() {
            return true;
        }
        match star {
            Some((sp, st)) => match next_char(st) {
                Some(c) => {
                    let nt = st + c.len_utf8();
                    star = Some((sp, nt));
                    pi = sp;
                    ti = nt;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

// ---- spatial ----

fn relation(op: SpatialOp, m: &geo::relate::IntersectionMatrix) -> bool {
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

fn in_rect(r: &Rect<f64>, x: f64, y: f64) -> bool {
    x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y
}

/// "The feature's geometry `op` `geom`", for "is true".
fn spatial<'a>(op: SpatialOp, geom: &'a geo::Geometry<f64>, layer: &'a Layer) -> Pred<'a> {
    let Some(bb) = geom.bounding_rect() else {
        let disjoint = op == SpatialOp::Disjoint;
        return Box::new(move |_| disjoint);
    };
    match &layer.geometries {
        Geometries::Points(pts) => {
            let pt = move |r: usize| geo::Point::new(pts[r][0], pts[r][1]);
            match (op, geom) {
                (SpatialOp::Intersects, geo::Geometry::Rect(rect)) => {
                    let rect = *rect;
                    Box::new(move |r| in_rect(&rect, pts[r][0], pts[r][1]))
                }
                (SpatialOp::Intersects, _) => {
                    Box::new(move |r| in_rect(&bb, pts[r][0], pts[r][1]) && geom.intersects(&pt(r)))
                }
                (SpatialOp::Disjoint, _) => Box::new(move |r| {
                    !in_rect(&bb, pts[r][0], pts[r][1]) || !geom.intersects(&pt(r))
                }),
                (SpatialOp::Within, _) => {
                    Box::new(move |r| in_rect(&bb, pts[r][0], pts[r][1]) && geom.contains(&pt(r)))
                }
                (SpatialOp::Contains, _) => Box::new(move |r| pt(r).contains(geom)),
                _ => {
                    let prepared = geo::PreparedGeometry::from(geom.clone());
                    Box::new(move |r| {
                        in_rect(&bb, pts[r][0], pts[r][1]) && relation(op, &pt(r).relate(&prepared))
                    })
                }
            }
        }
        Geometries::Shapes(shapes) => match op {
            SpatialOp::Intersects => Box::new(move |r| shapes[r].intersects(geom)),
            SpatialOp::Disjoint => Box::new(move |r| !shapes[r].intersects(geom)),
            _ => {
                let prepared = geo::PreparedGeometry::from(geom.clone());
                Box::new(move |r| {
                    let s = &shapes[r];
                    // Every relation but disjoint needs the boxes to meet.
                    s.bounding_rect().is_some_and(|b| b.intersects(&bb))
                        && relation(op, &s.relate(&prepared))
                })
            }
        },
    }
}

/// A local metric plane for distances (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct LocalPlane {
    lon0: f64,
    lat0: f64,
    /// Metres per degree of longitude and latitude at the centre.
    kx: f64,
    ky: f64,
}

impl LocalPlane {
    /// Metres per degree of (longitude, latitude) at latitude `lat` (GRS80;
    /// WGS84 differs by 0.1 mm in b).
    fn scales(lat: f64) -> (f64, f64) {
        chiiki_core::crs::metres_per_degree(lat)
    }

    /// The plane centred on `g`'s bounding box.
    pub fn around(g: &geo::Geometry<f64>) -> LocalPlane {
        let c = g
            .bounding_rect()
            .map(|r| r.center())
            .unwrap_or(geo::coord! {x: 0.0, y: 0.0});
        let (kx, ky) = LocalPlane::scales(c.y);
        LocalPlane {
            lon0: c.x,
            lat0: c.y,
            kx,
            ky,
        }
    }

    /// The centre (lon, lat) and the metres per degree there (x, y): a
    /// feature's plane coordinates are `((lon - lon0) * kx, (lat - lat0) * ky)`.
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.lon0, self.lat0, self.kx, self.ky)
    }

    #[inline]
    pub fn project(&self, lon: f64, lat: f64) -> (f64, f64) {
        ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)
    }

    pub fn project_geometry(&self, g: &geo::Geometry<f64>) -> geo::Geometry<f64> {
        g.map_coords(|c| {
            let (x, y) = self.project(c.x, c.y);
            geo::coord! {x: x, y: y}
        })
    }

    /// Distance in metres between two lon/lat geometries (0 when they meet).
    pub fn distance(&self, a: &geo::Geometry<f64>, b: &geo::Geometry<f64>) -> f64 {
        Euclidean.distance(&self.project_geometry(a), &self.project_geometry(b))
    }

    /// `r` grown by `metres` on every side, generously: every point the
    /// plane puts within `metres` of `r` is inside.
    pub fn grow(&self, r: Rect<f64>, metres: f64) -> Rect<f64> {
        let dlat = metres / self.ky * 1.01 + 1e-9;
        let far = (r.min().y - dlat)
            .abs()
            .max((r.max().y + dlat).abs())
            .min(89.0);
        let kx = self.kx.min(LocalPlane::scales(far).0);
        let dlon = metres / kx * 1.01 + 1e-9;
        Rect::new(
            geo::coord! {x: r.min().x - dlon, y: r.min().y - dlat},
            geo::coord! {x: r.max().x + dlon, y: r.max().y + dlat},
        )
    }
}

fn dwithin<'a>(geom: &'a geo::Geometry<f64>, metres: f64, layer: &'a Layer) -> Pred<'a> {
    let plane = LocalPlane::around(geom);
    let lit = plane.project_geometry(geom);
    let d2 = metres * metres;
    match (&layer.geometries, &lit) {
        (Geometries::Points(pts), geo::Geometry::Point(q)) => {
            let (qx, qy) = (q.x(), q.y());
            Box::new(move |r| {
                let (x, y) = plane.project(pts[r][0], pts[r][1]);
                let (dx, dy) = (x - qx, y - qy);
                dx * dx + dy * dy <= d2
            })
        }
        (Geometries::Points(pts), _) => {
            let Some(bb) = lit.bounding_rect() else {
                return Box::new(|_| false);
            };
            let near = Rect::new(
                geo::coord! {x: bb.min().x - metres, y: bb.min().y - metres},
                geo::coord! {x: bb.max().x + metres, y: bb.max().y + metres},
            );
            Box::new(move |r| {
                let (x, y) = plane.project(pts[r][0], pts[r][1]);
                in_rect(&near, x, y) && Euclidean.distance(&geo::Point::new(x, y), &lit) <= metres
            })
        }
        (Geometries::Shapes(shapes), _) => Box::new(move |r| {
            Euclidean.distance(&plane.project_geometry(&shapes[r]), &lit) <= metres
        }),
    }
}

/// A box every row for which `b` is `want` intersects, if the spatial
/// predicates imply one.
pub fn envelope(b: &Bound, want: bool) -> Option<Rect<f64>> {
    fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
        Rect::new(
            geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
            geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
        )
    }
    fn smaller(a: Option<Rect<f64>>, b: Option<Rect<f64>>) -> Option<Rect<f64>> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if x.width() * x.height() <= y.width() * y.height() {
                x
            } else {
                y
            }),
            (x, None) => x,
            (None, y) => y,
        }
    }
    fn both(a: Option<Rect<f64>>, b: Option<Rect<f64>>) -> Option<Rect<f64>> {
        Some(union(a?, b?))
    }
    match b {
        // Both must hold: either box will do; the smaller prunes more.
        Bound::And(x, y) if want => smaller(envelope(x, want), envelope(y, want)),
        Bound::And(x, y) => both(envelope(x, want), envelope(y, want)),
        Bound::Or(x, y) if want => both(envelope(x, want), envelope(y, want)),
        Bound::Or(x, y) => smaller(envelope(x, want), envelope(y, want)),
        Bound::Not(x) => envelope(x, !want),
        Bound::Spatial { op, geom } => {
            let meets = if *op == SpatialOp::Disjoint {
                !want
            } else {
                want
            };
            if meets {
                geom.bounding_rect()
            } else {
                None
            }
        }
        Bound::DWithin { geom, metres } if want => {
            let r = geom.bounding_rect()?;
            Some(LocalPlane::around(geom).grow(r, *metres))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Filter;
    use chiiki_core::crs::Crs;
    use chiiki_core::layers::{Column, FieldType, LayerMeta, LayerParts, Value};

    type Row = (
        Option<i64>,
        Option<f64>,
        Option<&'static str>,
        Option<bool>,
        Option<i32>,
    );

    /// Five points along a parallel, 100 m apart, with nulls in every column.
    fn layer() -> Layer {
        let mut n = Column::new("n", FieldType::Integer);
        let mut x = Column::new("x", FieldType::Real);
        let mut s = Column::new("s", FieldType::Text);
        let mut b = Column::new("b", FieldType::Boolean);
        let mut d = Column::new("d", FieldType::Date);
        let mut t = Column::new("t", FieldType::DateTime);
        let rows: [Row; 5] = [
            (Some(1), Some(0.5), Some("Alpha"), Some(true), Some(0)),
            (Some(2), None, Some("beta"), Some(false), Some(1)),
            (None, Some(2.5), None, None, None),
            (Some(4), Some(4.0), Some("ALPHA beta"), Some(true), Some(3)),
            (
                Some(5),
                Some(-1.0),
                Some("白山一丁目"),
                Some(false),
                Some(4),
            ),
        ];
        for (i, (vn, vx, vs, vb, vd)) in rows.iter().enumerate() {
            n.push(vn.map_or(Value::Null, Value::Integer)).unwrap();
            x.push(vx.map_or(Value::Null, Value::Real)).unwrap();
            s.push(vs.map_or(Value::Null, |v| Value::Text(v.into())))
                .unwrap();
            b.push(vb.map_or(Value::Null, Value::Boolean)).unwrap();
            d.push(vd.map_or(Value::Null, Value::Date)).unwrap();
            t.push(vd.map_or(Value::Null, |v| {
                Value::DateTime(v as i64 * MS_PER_DAY + i as i64 * 3_600_000)
            }))
            .unwrap();
        }
        // 100 m steps east at 35.7°N.
        let step = 100.0 / LocalPlane::scales(35.7).0;
        Layer::from_sorted(LayerParts {
            meta: LayerMeta {
                id: "t".into(),
                ..Default::default()
            },
            fids: (0..5).collect(),
            geometries: Geometries::Points(
                (0..5).map(|i| [139.7 + i as f64 * step, 35.7]).collect(),
            ),
            columns: vec![n, x, s, b, d, t],
        })
    }

    fn rows(filter: &str) -> Vec<u32> {
        let l = layer();
        let f = Filter::new(filter, &l, Crs::Crs84).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let all = f.select(&l, None);
        // The R-tree envelope never loses a row.
        if let Some(env) = f.envelope() {
            let candidates = l.rows_in_bbox(env);
            assert_eq!(f.select(&l, Some(&candidates)), all, "{filter}");
        }
        all
    }

    #[test]
    fn comparisons_of_every_type() {
        assert_eq!(rows("n > 2"), vec![3, 4]);
        assert_eq!(rows("n >= 2.5"), vec![3, 4]);
        assert_eq!(rows("2 = n"), vec![1]);
        assert_eq!(rows("x < 1"), vec![0, 4]);
        assert_eq!(rows("x <> 4"), vec![0, 2, 4]);
        assert_eq!(rows("s = 'beta'"), vec![1]);
        assert_eq!(rows("s < 'b'"), vec![0, 3]);
        assert_eq!(rows("s = '白山一丁目'"), vec![4]);
        assert_eq!(rows("b"), vec![0, 3]);
        assert_eq!(rows("b = FALSE"), vec![1, 4]);
        assert_eq!(rows("d >= DATE('1970-01-02')"), vec![1, 3, 4]);
        assert_eq!(rows("d < TIMESTAMP('1970-01-02T00:00:00Z')"), vec![0]);
        // A date-time against a date compares the day.
        assert_eq!(rows("t = DATE('1970-01-04')"), vec![3]);
        assert_eq!(rows("t > TIMESTAMP('1970-01-04T02:00:00Z')"), vec![3, 4]);
        assert_eq!(
            rows("t BETWEEN DATE('1970-01-02') AND DATE('1970-01-04')"),
            vec![1, 3]
        );
        assert!(rows("n < x").is_empty());
        assert_eq!(rows("n > x"), vec![0, 4]);
        assert_eq!(rows("d = t"), vec![0]);
    }

    #[test]
    fn nulls_are_unknown_under_not() {
        assert_eq!(rows("n = 1"), vec![0]);
        assert_eq!(rows("NOT n = 1"), vec![1, 3, 4]);
        assert_eq!(rows("NOT (n = 1 OR x > 3)"), vec![4]);
        assert_eq!(rows("NOT NOT n = 1"), vec![0]);
        assert_eq!(rows("n IS NULL"), vec![2]);
        assert_eq!(rows("NOT n IS NULL"), vec![0, 1, 3, 4]);
        assert_eq!(rows("s NOT LIKE '%a'"), vec![4]);
        assert_eq!(rows("n NOT BETWEEN 2 AND 4"), vec![0, 4]);
        assert_eq!(rows("n NOT IN (1, 2)"), vec![3, 4]);
        // Unknown OR true is true; unknown AND false is false.
        assert_eq!(rows("n = 3 OR s IS NULL"), vec![2]);
        assert_eq!(rows("NOT (n = 3 AND b)"), vec![0, 1, 3, 4]);
    }

    #[test]
    fn like_in_and_casei() {
        assert_eq!(rows("s LIKE 'A%'"), vec![0, 3]);
        assert_eq!(rows("s LIKE '%beta'"), vec![1, 3]);
        assert_eq!(rows("CASEI(s) LIKE CASEI('alpha%')"), vec![0, 3]);
        assert_eq!(rows("CASEI(s) = 'alpha'"), vec![0]);
        assert_eq!(rows("CASEI(s) IN ('BETA', 'alpha')"), vec![0, 1]);
        assert_eq!(rows("s IN ('beta', 'Alpha')"), vec![0, 1]);
        let many: Vec<String> = (0..40).map(|i| format!("'v{i}'")).collect();
        assert_eq!(
            rows(&format!("s IN ('beta', {})", many.join(", "))),
            vec![1]
        );
        let many: Vec<String> = (10..60).map(|i| i.to_string()).collect();
        assert_eq!(rows(&format!("n IN (4, {})", many.join(", "))), vec![3]);
        assert_eq!(rows("n IN (2.0, 5)"), vec![1, 4]);
        assert_eq!(rows("b IN (TRUE)"), vec![0, 3]);
    }

    #[test]
    fn spatial_and_distance() {
        let step = 100.0 / LocalPlane::scales(35.7).0;
        let x = |i: f64| 139.7 + i * step;
        // 250 m from the first point: rows 0, 1, 2.
        assert_eq!(
            rows("S_DWITHIN(geometry, POINT(139.7 35.7), 250, meters)"),
            vec![0, 1, 2]
        );
        assert_eq!(
            rows("NOT S_DWITHIN(geometry, POINT(139.7 35.7), 250)"),
            vec![3, 4]
        );
        // From a line 50 m north of rows 1–2.
        let north = 35.7 + 50.0 / LocalPlane::scales(35.7).1;
        assert_eq!(
            rows(&format!(
                "S_DWITHIN(geometry, LINESTRING({} {north}, {} {north}), 60)",
                x(1.0),
                x(2.0)
            )),
            vec![1, 2]
        );
        assert_eq!(
            rows(&format!(
                "S_INTERSECTS(geometry, BBOX({}, 35.69, {}, 35.71))",
                x(0.5),
                x(3.5)
            )),
            vec![1, 2, 3]
        );
        assert_eq!(
            rows(&format!(
                "S_WITHIN(geometry, POLYGON(({a} 35.69, {b} 35.69, {b} 35.71, {a} 35.71, {a} 35.69)))",
                a = x(0.5),
                b = x(3.5)
            )),
            vec![1, 2, 3]
        );
        assert_eq!(
            rows(&format!(
                "S_DISJOINT(geometry, BBOX({}, 35.69, {}, 35.71)) AND n > 1",
                x(0.5),
                x(3.5)
            )),
            vec![4]
        );
        assert_eq!(rows("S_EQUALS(geometry, POINT(139.7 35.7))"), vec![0]);
        assert_eq!(rows("S_CONTAINS(geometry, POINT(139.7 35.7))"), vec![0]);
        assert_eq!(
            rows("S_INTERSECTS(geometry, POINT(139.7 35.7)) OR n = 5"),
            vec![0, 4]
        );
    }

    fn like(p: &str, t: &str) -> bool {
        LikeMatcher::new(p).matches(t)
    }

    #[test]
    fn like_patterns() {
        assert!(like("白山%", "白山一丁目"));
        assert!(!like("白山%", "本白山"));
        assert!(like("%丁目", "白山一丁目"));
        assert!(like("%山%", "白山一丁目"));
        assert!(like("白山_丁目", "白山一丁目"));
        assert!(!like("白山_丁目", "白山一二丁目"));
        assert!(like("%", ""));
        assert!(like("", ""));
        assert!(!like("", "a"));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXbYY"));
        assert!(like("%a_c", "xxabcabc"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
        assert!(!like("abc", "ABC"), "LIKE is case-sensitive");
        assert!(like("%%x", "x"));
        assert!(like("_%", "字"));
        assert!(!like("_%", ""));
    }

    #[test]
    fn plane_distance_matches_geodesic_within_city_scale() {
        use geo::Geodesic;
        let origin = geo::Point::new(139.75, 35.71);
        let plane = LocalPlane::around(&origin.into());
        for (dlon, dlat) in [(0.005, 0.0), (0.0, 0.005), (0.004, -0.003), (0.05, 0.04)] {
            let p = geo::Point::new(origin.x() + dlon, origin.y() + dlat);
            let g = Geodesic.distance(origin, p);
            let (x, y) = plane.project(p.x(), p.y());
            let d = (x * x + y * y).sqrt();
            assert!((d - g).abs() / g < 0.001, "{dlon} {dlat}: {d} vs {g}");
        }
    }
}
