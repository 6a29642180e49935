//! `age` in filters: resident layers store the birth date, never the age,
//! so `age >= 65` means "born on or before the day 65 years before the
//! reference date". The rewrite happens on the syntax tree, before binding,
//! so every later step sees plain date comparisons on `birth_date`.

use chrono::{Months, NaiveDate};

use super::ast::{CmpOp, Expr, Scalar, ScalarKind};
use chiiki_core::layers::column::days_from_date;

/// Names a filter may use for the age.
const AGE_NAMES: [&str; 2] = ["age", "年齢"];
pub const BIRTH_DATE: &str = "birth_date";

fn is_age(s: &Scalar) -> bool {
    matches!(&s.kind, ScalarKind::Property(p) if AGE_NAMES.iter().any(|a| p.eq_ignore_ascii_case(a)))
}

fn whole_years(s: &Scalar) -> Option<i64> {
    match s.kind {
        ScalarKind::Int(n) => Some(n),
        ScalarKind::Real(r) if r.fract() == 0.0 => Some(r as i64),
        _ => None,
    }
}

/// The last birth date of someone aged at least `years` on `day`.
fn born_by(day: NaiveDate, years: i64) -> i32 {
    let years = years.clamp(0, 200) as u32;
    days_from_date(
        day.checked_sub_months(Months::new(12 * years))
            .unwrap_or(day),
    )
}

fn date(pos: usize, days: i32) -> Scalar {
    Scalar {
        kind: ScalarKind::Date(days),
        pos,
    }
}

fn birth(pos: usize) -> Scalar {
    Scalar {
        kind: ScalarKind::Property(BIRTH_DATE.into()),
        pos,
    }
}

/// `age >= n` as a birth-date comparison.
fn at_least(n: i64, day: NaiveDate, pos: usize) -> Expr {
    Expr::Compare {
        op: CmpOp::Le,
        left: birth(pos),
        right: date(pos, born_by(day, n)),
        pos,
    }
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

/// `age = n`: at least n, not yet n + 1.
fn exactly(n: i64, day: NaiveDate, pos: usize) -> Expr {
    and(
        at_least(n, day, pos),
        not(at_least(n.saturating_add(1), day, pos)),
    )
}

/// Completed years of someone born on `birth`, on `day` (the birthday
/// counts, as ages are counted in the registry).
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    use chrono::Datelike;
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// Rewrites comparisons of `age` (or 年齢) with whole numbers into
/// comparisons of `birth_date` on `day`. Other parts are left as they are.
pub fn rewrite(expr: Expr, day: NaiveDate) -> Expr {
    let r = |e: Box<Expr>| Box::new(rewrite(*e, day));
    match expr {
        Expr::And(a, b) => Expr::And(r(a), r(b)),
        Expr::Or(a, b) => Expr::Or(r(a), r(b)),
        Expr::Not(a) => Expr::Not(r(a)),
        Expr::Compare {
            op,
            left,
            right,
            pos,
        } => {
            let (op, n) = if is_age(&left) {
                match whole_years(&right) {
                    Some(n) => (op, n),
                    None => {
                        return Expr::Compare {
                            op,
                            left,
                            right,
                            pos,
                        }
                    }
                }
            } else if is_age(&right) {
                match whole_years(&left) {
                    Some(n) => (op.flipped(), n),
                    None => {
                        return Expr::Compare {
                            op,
                            left,
                            right,
                            pos,
                        }
                    }
                }
            } else {
                return Expr::Compare {
                    op,
                    left,
                    right,
                    pos,
                };
            };
            match op {
                CmpOp::Ge => at_least(n, day, pos),
                CmpOp::Gt => at_least(n.saturating_add(1), day, pos),
                CmpOp::Lt => not(at_least(n, day, pos)),
                CmpOp::Le => not(at_least(n.saturating_add(1), day, pos)),
                CmpOp::Eq => exactly(n, day, pos),
                CmpOp::Ne => not(exactly(n, day, pos)),
            }
        }
        Expr::Between {
            value,
            low,
            high,
            negated,
            pos,
        } if is_age(&value) => match (whole_years(&low), whole_years(&high)) {
            (Some(a), Some(b)) => {
                let e = and(
                    at_least(a, day, pos),
                    not(at_least(b.saturating_add(1), day, pos)),
                );
                if negated {
                    not(e)
                } else {
                    e
                }
            }
            _ => Expr::Between {
                value,
                low,
                high,
                negated,
                pos,
            },
        },
        Expr::In {
            value,
            list,
            negated,
            pos,
        } if is_age(&value) && list.iter().all(|s| whole_years(s).is_some()) => {
            let e = list
                .iter()
                .filter_map(whole_years)
                .map(|n| exactly(n, day, pos))
                .reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)));
            match (e, negated) {
                (Some(e), false) => e,
                (Some(e), true) => not(e),
                (None, _) => Expr::Scalar(Scalar {
                    kind: ScalarKind::Bool(negated),
                    pos,
                }),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql2::parse;

    #[test]
    fn ages_become_birth_dates() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let e = rewrite(parse("age >= 65 OR needs_support = TRUE").unwrap(), day);
        let text = e.to_string();
        assert!(text.contains("birth_date <= DATE('1961-11-22')"), "{text}");
        let e = rewrite(parse("65 < 年齢").unwrap(), day).to_string();
        assert!(e.contains("DATE('1960-11-22')"), "{e}");
        let e = rewrite(parse("age BETWEEN 65 AND 74").unwrap(), day).to_string();
        assert!(e.contains("1961-11-22") && e.contains("1951-11-22"), "{e}");
        // Not a whole number: left for the binder to report.
        let e = rewrite(parse("age >= 'old'").unwrap(), day).to_string();
        assert!(e.contains("age"), "{e}");
    }

    /// Found by the `cql2` fuzz target: `age > 4.4e73` overflowed `n + 1`
    /// (a panic in debug builds, every resident in release builds).
    #[test]
    fn huge_ages_saturate() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let oldest = rewrite(parse("age >= 200").unwrap(), day).to_string();
        for filter in [
            "age > 9223372036854775807",
            "age > 44444444444444444444444444444444444444444444444444444444444444444444444444445",
        ] {
            assert_eq!(rewrite(parse(filter).unwrap(), day).to_string(), oldest);
        }
        for filter in [
            "age <= 9223372036854775807",
            "age = 9223372036854775807",
            "age BETWEEN 0 AND 1e300",
            "age IN (9223372036854775807)",
        ] {
            rewrite(parse(filter).unwrap(), day);
        }
    }
}
