//! What a filter reads: the properties it names, and a copy of it fit for
//! a log, with the values it compares personal properties against replaced.

use std::collections::BTreeSet;

use crate::ast::{Expr, GeomOperand, Scalar, ScalarKind};

/// The properties a filter names (`age` as written, before it becomes a
/// test on `birth_date`).
///
/// ```
/// let e = chiiki_query::cql2::parse("age >= 65 AND (name LIKE '山%' OR S_INTERSECTS(geom, POINT(1 2)))").unwrap();
/// let names: Vec<String> = chiiki_query::properties::named(&e).into_iter().collect();
/// assert_eq!(names, ["age", "geom", "name"]);
/// ```
pub fn named(e: &Expr) -> BTreeSet<String> {
    let out = std::cell::RefCell::new(BTreeSet::new());
    visit(
        e,
        &mut |s: &Scalar| {
            if let Some(p) = property(s) {
                out.borrow_mut().insert(p.to_string());
            }
        },
        &mut |g: &GeomOperand| {
            if let GeomOperand::Property(p, _) = g {
                out.borrow_mut().insert(p.clone());
            }
        },
    );
    out.into_inner()
}

fn property(s: &Scalar) -> Option<&str> {
    match &s.kind {
        ScalarKind::Property(p) => Some(p),
        ScalarKind::CaseI(inner) => property(inner),
        _ => None,
    }
}

fn visit(e: &Expr, scalar: &mut dyn FnMut(&Scalar), geom: &mut dyn FnMut(&GeomOperand)) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            visit(a, scalar, geom);
            visit(b, scalar, geom);
        }
        Expr::Not(a) => visit(a, scalar, geom),
        Expr::Scalar(s) => scalar(s),
        Expr::Compare { left, right, .. } => {
            scalar(left);
            scalar(right);
        }
        Expr::Like { value, pattern, .. } => {
            scalar(value);
            scalar(pattern);
        }
        Expr::Between {
            value, low, high, ..
        } => {
            scalar(value);
            scalar(low);
            scalar(high);
        }
        Expr::In { value, list, .. } => {
            scalar(value);
            for s in list {
                scalar(s);
            }
        }
        Expr::IsNull { value, .. } => scalar(value),
        Expr::Spatial { left, right, .. } | Expr::DWithin { left, right, .. } => {
            geom(left);
            geom(right);
        }
    }
}

/// `e` with every literal compared against a personal property (one for
/// which `personal` holds) replaced by `hash` of its text: the log keeps
/// that a name was searched for, and which (to match against a keyed hash
/// of a name later), but not the name.
///
/// ```
/// use chiiki_query::{cql2, properties::redact};
/// let e = cql2::parse("name = '山田太郎' AND age >= 65").unwrap();
/// let r = redact(e, &|p: &str| p == "name", &|v: &str| format!("#{}", v.chars().count()));
/// assert_eq!(r.to_string(), "(name = '#4' AND age >= 65)");
/// ```
pub fn redact(e: Expr, personal: &dyn Fn(&str) -> bool, hash: &dyn Fn(&str) -> String) -> Expr {
    let hide = |s: Scalar| -> Scalar {
        let text = match &s.kind {
            ScalarKind::Property(_) | ScalarKind::CaseI(_) if property(&s).is_some() => return s,
            ScalarKind::Text(t) => t.clone(),
            ScalarKind::Int(v) => v.to_string(),
            ScalarKind::Real(v) => v.to_string(),
            ScalarKind::Bool(_) => return s,
            other => other.describe(),
        };
        Scalar {
            kind: ScalarKind::Text(hash(&text)),
            pos: s.pos,
        }
    };
    let touches = |s: &Scalar| property(s).is_some_and(personal);
    let r = |e: Box<Expr>| Box::new(redact(*e, personal, hash));
    match e {
        Expr::And(a, b) => Expr::And(r(a), r(b)),
        Expr::Or(a, b) => Expr::Or(r(a), r(b)),
        Expr::Not(a) => Expr::Not(r(a)),
        Expr::Compare {
            op,
            left,
            right,
            pos,
        } if touches(&left) || touches(&right) => Expr::Compare {
            op,
            left: hide(left),
            right: hide(right),
            pos,
        },
        Expr::Like {
            value,
            pattern,
            negated,
            pos,
        } if touches(&value) => Expr::Like {
            value,
            pattern: hide(pattern),
            negated,
            pos,
        },
        Expr::Between {
            value,
            low,
            high,
            negated,
            pos,
        } if touches(&value) => Expr::Between {
            value,
            low: hide(low),
            high: hide(high),
            negated,
            pos,
        },
        Expr::In {
            value,
            list,
            negated,
            pos,
        } if touches(&value) => Expr::In {
            value,
            list: list.into_iter().map(hide).collect(),
            negated,
            pos,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql2::parse;

    #[test]
    fn every_comparison_with_a_personal_property_loses_its_values() {
        let personal = |p: &str| matches!(p, "name" | "resident_id" | "birth_date");
        let hash = |v: &str| format!("#{}", v.chars().count());
        for (text, want) in [
            ("'山田' = name", "'#2' = name"),
            ("CASEI(name) LIKE '%田%'", "CASEI(name) LIKE '#3'"),
            (
                "resident_id IN ('1', '22') OR town = '本郷'",
                "(resident_id IN ('#1', '#2') OR town = '本郷')",
            ),
            (
                "NOT birth_date BETWEEN DATE('1950-01-01') AND DATE('1950-12-31')",
                "(NOT birth_date BETWEEN '#18' AND '#18')",
            ),
        ] {
            let got = redact(parse(text).unwrap(), &personal, &hash).to_string();
            assert_eq!(got, want, "{text}");
        }
    }
}
