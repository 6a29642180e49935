//! The syntax tree of a CQL2-text filter, as written: property names are not
//! yet resolved and geometry literals are still in the filter CRS.

use std::fmt;

/// A binary comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator with its operands swapped: `a < b` ⇔ `b > a`.
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::Ne => CmpOp::Ne,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
        }
    }

    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// The spatial relations of CQL2 (`S_…`), all with DE-9IM meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    Intersects,
    Disjoint,
    Equals,
    Touches,
    Within,
    Overlaps,
    Crosses,
    Contains,
}

impl SpatialOp {
    pub fn from_name(name: &str) -> Option<SpatialOp> {
        Some(match name.to_ascii_uppercase().as_str() {
            "S_INTERSECTS" => SpatialOp::Intersects,
            "S_DISJOINT" => SpatialOp::Disjoint,
            "S_EQUALS" => SpatialOp::Equals,
            "S_TOUCHES" => SpatialOp::Touches,
            "S_WITHIN" => SpatialOp::Within,
            "S_OVERLAPS" => SpatialOp::Overlaps,
            "S_CROSSES" => SpatialOp::Crosses,
            "S_CONTAINS" => SpatialOp::Contains,
            _ => return None,
        })
    }

    /// The relation with its operands swapped: `A within B` ⇔ `B contains A`.
    pub fn swapped(self) -> SpatialOp {
        match self {
            SpatialOp::Within => SpatialOp::Contains,
            SpatialOp::Contains => SpatialOp::Within,
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SpatialOp::Intersects => "S_INTERSECTS",
            SpatialOp::Disjoint => "S_DISJOINT",
            SpatialOp::Equals => "S_EQUALS",
            SpatialOp::Touches => "S_TOUCHES",
            SpatialOp::Within => "S_WITHIN",
            SpatialOp::Overlaps => "S_OVERLAPS",
            SpatialOp::Crosses => "S_CROSSES",
            SpatialOp::Contains => "S_CONTAINS",
        }
    }
}

/// A scalar operand: a property, a literal, or `CASEI(…)` of one.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub kind: ScalarKind,
    /// 1-based character offset where the operand starts.
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScalarKind {
    Property(String),
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    CaseI(Box<Scalar>),
}

impl ScalarKind {
    /// What the operand is, for messages: "the number 5000", "property 'JINKO'".
    pub fn describe(&self) -> String {
        match self {
            ScalarKind::Property(p) => format!("property '{p}'"),
            ScalarKind::Text(s) => format!("the string '{}'", s.replace('\'', "''")),
            ScalarKind::Int(v) => format!("the number {v}"),
            ScalarKind::Real(v) => format!("the number {v}"),
            ScalarKind::Bool(b) => format!("the boolean {}", if *b { "TRUE" } else { "FALSE" }),
            ScalarKind::Date(d) => {
                format!("DATE('{}')", chiiki_core::layers::column::format_date(*d))
            }
            ScalarKind::Timestamp(t) => format!(
                "TIMESTAMP('{}')",
                chiiki_core::layers::column::format_datetime(*t)
            ),
            ScalarKind::CaseI(s) => format!("CASEI({})", s.kind.describe()),
        }
    }
}

/// One operand of a spatial predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum GeomOperand {
    /// A property name (the layer's geometry), with its position.
    Property(String, usize),
    /// A WKT or BBOX literal in the filter CRS, axes as written.
    Literal(geo::Geometry<f64>, usize),
}

impl GeomOperand {
    pub fn pos(&self) -> usize {
        match self {
            GeomOperand::Property(_, p) | GeomOperand::Literal(_, p) => *p,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `TRUE`, `FALSE`, or a lone (boolean) property.
    Scalar(Scalar),
    Compare {
        op: CmpOp,
        left: Scalar,
        right: Scalar,
        pos: usize,
    },
    Like {
        value: Scalar,
        pattern: Scalar,
        negated: bool,
        pos: usize,
    },
    Between {
        value: Scalar,
        low: Scalar,
        high: Scalar,
        negated: bool,
        pos: usize,
    },
    In {
        value: Scalar,
        list: Vec<Scalar>,
        negated: bool,
        pos: usize,
    },
    IsNull {
        value: Scalar,
        negated: bool,
        pos: usize,
    },
    Spatial {
        op: SpatialOp,
        left: GeomOperand,
        right: GeomOperand,
        pos: usize,
    },
    /// `S_DWITHIN(a, b, distance[, meters])`; the distance is in metres.
    DWithin {
        left: GeomOperand,
        right: GeomOperand,
        metres: f64,
        pos: usize,
    },
}

/// A compact rendering, for tests and logs: fully parenthesised, so that the
/// parser's grouping can be read off.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn s(x: &Scalar) -> String {
            match &x.kind {
                ScalarKind::Property(p) => p.clone(),
                ScalarKind::CaseI(inner) => format!("CASEI({})", s(inner)),
                ScalarKind::Text(t) => format!("'{}'", t.replace('\'', "''")),
                ScalarKind::Int(v) => v.to_string(),
                ScalarKind::Real(v) => v.to_string(),
                ScalarKind::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
                other => other.describe(),
            }
        }
        fn g(x: &GeomOperand) -> String {
            match x {
                GeomOperand::Property(p, _) => p.clone(),
                GeomOperand::Literal(geom, _) => format!("{geom:?}"),
            }
        }
        let not = |n: bool| if n { "NOT " } else { "" };
        match self {
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Not(a) => write!(f, "(NOT {a})"),
            Expr::Scalar(x) => write!(f, "{}", s(x)),
            Expr::Compare {
                op, left, right, ..
            } => write!(f, "{} {} {}", s(left), op.symbol(), s(right)),
            Expr::Like {
                value,
                pattern,
                negated,
                ..
            } => write!(f, "{} {}LIKE {}", s(value), not(*negated), s(pattern)),
            Expr::Between {
                value,
                low,
                high,
                negated,
                ..
            } => write!(
                f,
                "{} {}BETWEEN {} AND {}",
                s(value),
                not(*negated),
                s(low),
                s(high)
            ),
            Expr::In {
                value,
                list,
                negated,
                ..
            } => write!(
                f,
                "{} {}IN ({})",
                s(value),
                not(*negated),
                list.iter().map(s).collect::<Vec<_>>().join(", ")
            ),
            Expr::IsNull { value, negated, .. } => {
                write!(f, "{} IS {}NULL", s(value), not(*negated))
            }
            Expr::Spatial {
                op, left, right, ..
            } => write!(f, "{}({}, {})", op.name(), g(left), g(right)),
            Expr::DWithin {
                left,
                right,
                metres,
                ..
            } => write!(f, "S_DWITHIN({}, {}, {metres})", g(left), g(right)),
        }
    }
}
