//! A recursive-descent parser for CQL2-text (OGC 21-065r2), the filter
//! language of OGC API – Features Part 3.
//!
//! Grammar accepted (keywords are case-insensitive):
//!
//! ```text
//! filter     = or ;
//! or         = and { "OR" and } ;
//! and        = not { "AND" not } ;
//! not        = "NOT" not | primary ;
//! primary    = "(" or ")" | spatial | dwithin | predicate ;
//! predicate  = scalar ( cmp scalar
//!                     | ["NOT"] "LIKE" scalar
//!                     | ["NOT"] "BETWEEN" scalar "AND" scalar
//!                     | ["NOT"] "IN" "(" scalar { "," scalar } ")"
//!                     | "IS" ["NOT"] "NULL" )
//!            | scalar ;                       (* TRUE, FALSE, a boolean property *)
//! cmp        = "=" | "<>" | "!=" | "<" | "<=" | ">" | ">=" ;
//! scalar     = 'string' | number | "TRUE" | "FALSE"
//!            | "DATE" "(" 'yyyy-mm-dd' ")" | "TIMESTAMP" "(" 'rfc3339' ")"
//!            | "CASEI" "(" scalar ")" | property ;
//! property   = identifier | "double quoted" ;
//! spatial    = ("S_INTERSECTS" | "S_WITHIN" | "S_CONTAINS" | "S_DISJOINT" | "S_EQUALS"
//!              | "S_TOUCHES" | "S_OVERLAPS" | "S_CROSSES") "(" geom "," geom ")" ;
//! dwithin    = "S_DWITHIN" "(" geom "," geom "," number [ "," unit ] ")" ;
//! geom       = property | wkt | "BBOX" "(" n "," n "," n "," n ")" ;
//! ```
//!
//! Strings escape a quote by doubling it (`'O''Brien'`, `\'` also works) and
//! may hold any Unicode (`'白山一丁目'`); identifiers may be non-ASCII (`氏名`).
//! WKT covers POINT, LINESTRING, POLYGON, MULTIPOINT, MULTILINESTRING,
//! MULTIPOLYGON and GEOMETRYCOLLECTION, with Z/M ordinates accepted and
//! dropped. Arithmetic, temporal (`T_…`) and array (`A_…`) functions are not
//! supported and are reported as such.

use super::ast::{CmpOp, Expr, GeomOperand, Scalar, ScalarKind, SpatialOp};
use super::lexer::{tokenize, Tok, Token};
use super::ParseError;
use chiiki_core::layers::column::days_from_date;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 100;

/// Parses a CQL2-text filter.
///
/// ```
/// use chiiki_query::cql2::parse;
/// let e = parse("JINKO > 5000 AND S_NAME LIKE '白山%'").unwrap();
/// assert_eq!(e.to_string(), "(JINKO > 5000 AND S_NAME LIKE '白山%')");
/// let err = parse("JINKO >").unwrap_err();
/// assert_eq!(err.to_string(), "filter: at character 8: expected a value after '>', found end of input");
/// ```
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(text)?;
    if tokens.len() == 1 {
        return Err(ParseError::new(1, "the filter is empty"));
    }
    let mut p = Parser {
        tokens,
        i: 0,
        depth: 0,
    };
    let e = p.or()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let msg = if t.tok == Tok::RParen {
            format!("found {t} without a matching '('")
        } else {
            format!("expected AND, OR or the end of the filter, found {t}")
        };
        return Err(ParseError::new(t.pos, msg));
    }
    Ok(e)
}

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "LIKE", "BETWEEN", "IN", "IS", "NULL"];

const WKT_TYPES: &[&str] = &[
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "BBOX",
];

fn is_kw(t: &Token, kw: &str) -> bool {
    matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.i]
    }

    fn peek_at(&self, k: usize) -> &Token {
        &self.tokens[(self.i + k).min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.i].clone();
        if self.i + 1 < self.tokens.len() {
            self.i += 1;
        }
        t
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if is_kw(self.peek(), kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: Tok, what: &str, context: &str) -> Result<Token, ParseError> {
        let t = self.peek();
        if t.tok == tok {
            Ok(self.next())
        } else {
            Err(ParseError::new(
                t.pos,
                format!("expected {what} {context}, found {t}"),
            ))
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                pos,
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not()?;
        while self.eat_kw("AND") {
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        let pos = self.peek().pos;
        if self.eat_kw("NOT") {
            self.enter(pos)?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LParen => {
                self.enter(t.pos)?;
                self.next();
                let e = self.or()?;
                let close = self.peek();
                if close.tok != Tok::RParen {
                    return Err(ParseError::new(
                        close.pos,
                        format!(
                            "expected ')' to close the '(' at character {}, found {close}",
                            t.pos
                        ),
                    ));
                }
                self.next();
                self.depth -= 1;
                Ok(e)
            }
            Tok::Ident(name) if self.peek_at(1).tok == Tok::LParen => {
                if let Some(op) = SpatialOp::from_name(name) {
                    self.spatial(op, &t)
                } else if name.eq_ignore_ascii_case("S_DWITHIN") {
                    self.dwithin(&t)
                } else {
                    self.predicate()
                }
            }
            Tok::Eof | Tok::RParen | Tok::Comma => Err(ParseError::new(
                t.pos,
                format!("expected a condition{}, found {t}", self.after_previous()),
            )),
            _ => self.predicate(),
        }
    }

    /// " after 'AND'" etc., for messages.
    fn after_previous(&self) -> String {
        if self.i == 0 {
            String::new()
        } else {
            format!(" after '{}'", self.tokens[self.i - 1].text)
        }
    }

    fn predicate(&mut self) -> Result<Expr, ParseError> {
        let context = if self.i == 0 {
            "at the start of the filter".to_string()
        } else {
            format!("after '{}'", self.tokens[self.i - 1].text)
        };
        let left = self.scalar(&context)?;
        let t = self.peek().clone();
        let cmp = match t.tok {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = cmp {
            self.next();
            let right = self.scalar(&format!("after '{}'", t.text))?;
            return Ok(Expr::Compare {
                op,
                left,
                right,
                pos: t.pos,
            });
        }
        if let Tok::Arith(c) = t.tok {
            return Err(ParseError::new(
                t.pos,
                format!("arithmetic ('{c}') is not supported in filters"),
            ));
        }
        let negated = self.eat_kw("NOT");
        let kw = self.peek().clone();
        if is_kw(&kw, "LIKE") {
            self.next();
            let pattern = self.scalar("after 'LIKE'")?;
            return Ok(Expr::Like {
                value: left,
                pattern,
                negated,
                pos: kw.pos,
            });
        }
        if is_kw(&kw, "BETWEEN") {
            self.next();
            let low = self.scalar("after 'BETWEEN'")?;
            let and = self.peek().clone();
            if !is_kw(&and, "AND") {
                return Err(ParseError::new(
                    and.pos,
                    format!("expected AND between the bounds of BETWEEN, found {and}"),
                ));
            }
            self.next();
            let high = self.scalar("after 'BETWEEN … AND'")?;
            return Ok(Expr::Between {
                value: left,
                low,
                high,
                negated,
                pos: kw.pos,
            });
        }
        if is_kw(&kw, "IN") {
            self.next();
            self.expect(Tok::LParen, "'('", "after 'IN'")?;
            let mut list = vec![self.scalar("in the IN list")?];
            loop {
                let t = self.peek().clone();
                match t.tok {
                    Tok::Comma => {
                        self.next();
                        list.push(self.scalar("after ',' in the IN list")?);
                    }
                    Tok::RParen => {
                        self.next();
                        break;
                    }
                    _ => {
                        return Err(ParseError::new(
                            t.pos,
                            format!("expected ',' or ')' in the IN list, found {t}"),
                        ))
                    }
                }
            }
            return Ok(Expr::In {
                value: left,
                list,
                negated,
                pos: kw.pos,
            });
        }
        if negated {
            return Err(ParseError::new(
                kw.pos,
                format!("expected LIKE, BETWEEN or IN after 'NOT', found {kw}"),
            ));
        }
        if is_kw(&kw, "IS") {
            self.next();
            let negated = self.eat_kw("NOT");
            let null = self.peek().clone();
            if !is_kw(&null, "NULL") {
                return Err(ParseError::new(
                    null.pos,
                    format!(
                        "expected NULL after 'IS{}', found {null}",
                        if negated { " NOT" } else { "" }
                    ),
                ));
            }
            self.next();
            return Ok(Expr::IsNull {
                value: left,
                negated,
                pos: kw.pos,
            });
        }
        // A lone operand: fine at the end of a condition (TRUE, a boolean property).
        let ends =
            matches!(kw.tok, Tok::Eof | Tok::RParen) || is_kw(&kw, "AND") || is_kw(&kw, "OR");
        if !ends {
            return Err(ParseError::new(
                kw.pos,
                format!(
                    "expected a comparison operator, LIKE, BETWEEN, IN or IS after {}, found {kw}",
                    left.kind.describe()
                ),
            ));
        }
        Ok(Expr::Scalar(left))
    }

    fn string_arg(&mut self, func: &str) -> Result<(String, usize), ParseError> {
        self.expect(Tok::LParen, "'('", &format!("after '{func}'"))?;
        let t = self.next();
        let Tok::Str(s) = t.tok else {
            return Err(ParseError::new(
                t.pos,
                format!("expected a quoted string in {func}(…), found {t}"),
            ));
        };
        self.expect(Tok::RParen, "')'", &format!("to close {func}("))?;
        Ok((s, t.pos))
    }

    fn scalar(&mut self, context: &str) -> Result<Scalar, ParseError> {
        let t = self.peek().clone();
        let pos = t.pos;
        let kind = match &t.tok {
            Tok::Str(s) => {
                self.next();
                ScalarKind::Text(s.clone())
            }
            Tok::Int(v) => {
                self.next();
                ScalarKind::Int(*v)
            }
            Tok::Real(v) => {
                self.next();
                ScalarKind::Real(*v)
            }
            Tok::Quoted(name) => {
                self.next();
                ScalarKind::Property(name.clone())
            }
            Tok::Arith(c) => {
                return Err(ParseError::new(
                    pos,
                    format!("arithmetic ('{c}') is not supported in filters"),
                ))
            }
            Tok::Ident(name) => {
                let upper = name.to_ascii_uppercase();
                let call = self.peek_at(1).tok == Tok::LParen;
                match upper.as_str() {
                    "TRUE" | "FALSE" if !call => {
                        self.next();
                        ScalarKind::Bool(upper == "TRUE")
                    }
                    "NULL" => {
                        return Err(ParseError::new(
                            pos,
                            "NULL is not a value to compare with; use 'IS NULL' or 'IS NOT NULL'",
                        ))
                    }
                    kw if KEYWORDS.contains(&kw) => {
                        return Err(ParseError::new(
                            pos,
                            format!("expected a value {context}, found {t}"),
                        ))
                    }
                    "DATE" if call => {
                        self.next();
                        let (s, spos) = self.string_arg("DATE")?;
                        let d =
                            chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
                                ParseError::new(
                                    spos,
                                    format!("'{s}' is not a date; DATE takes 'YYYY-MM-DD'"),
                                )
                            })?;
                        ScalarKind::Date(days_from_date(d))
                    }
                    "TIMESTAMP" if call => {
                        self.next();
                        let (s, spos) = self.string_arg("TIMESTAMP")?;
                        let ts = chrono::DateTime::parse_from_rfc3339(&s).map_err(|_| {
                            ParseError::new(
                                spos,
                                format!(
                                    "'{s}' is not a timestamp; TIMESTAMP takes RFC 3339 such as '2020-01-01T00:00:00Z'"
                                ),
                            )
                        })?;
                        ScalarKind::Timestamp(ts.timestamp_millis())
                    }
                    "CASEI" if call => {
                        self.next();
                        self.next();
                        self.enter(pos)?;
                        let inner = self.scalar("in CASEI(…)")?;
                        self.depth -= 1;
                        self.expect(Tok::RParen, "')'", "to close CASEI(")?;
                        ScalarKind::CaseI(Box::new(inner))
                    }
                    _ if call => {
                        let msg = if WKT_TYPES.contains(&upper.as_str()) {
                            format!(
                                "{name}(…) is a geometry; geometries go inside a spatial function such as S_INTERSECTS(geometry, {upper}(…))"
                            )
                        } else if SpatialOp::from_name(name).is_some() || upper == "S_DWITHIN" {
                            format!("{upper}(…) is a condition, not a value")
                        } else if upper.starts_with("T_") || upper.starts_with("A_") {
                            format!("{name}: temporal and array functions are not supported")
                        } else {
                            format!(
                                "unknown function '{name}'; the functions are CASEI, DATE, TIMESTAMP, \
                                 S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DISJOINT, S_EQUALS, S_TOUCHES, \
                                 S_OVERLAPS, S_CROSSES and S_DWITHIN"
                            )
                        };
                        return Err(ParseError::new(pos, msg));
                    }
                    _ => {
                        self.next();
                        ScalarKind::Property(name.clone())
                    }
                }
            }
            _ => {
                return Err(ParseError::new(
                    pos,
                    format!("expected a value {context}, found {t}"),
                ))
            }
        };
        Ok(Scalar { kind, pos })
    }

    fn spatial(&mut self, op: SpatialOp, name: &Token) -> Result<Expr, ParseError> {
        self.next();
        self.next(); // '('
        let left = self.geom_operand(&format!("as the first argument of {}", op.name()))?;
        self.expect(
            Tok::Comma,
            "','",
            &format!("after the first argument of {}", op.name()),
        )?;
        let right = self.geom_operand(&format!("as the second argument of {}", op.name()))?;
        self.expect(
            Tok::RParen,
            "')'",
            &format!("after the second argument of {}", op.name()),
        )?;
        Ok(Expr::Spatial {
            op,
            left,
            right,
            pos: name.pos,
        })
    }

    fn dwithin(&mut self, name: &Token) -> Result<Expr, ParseError> {
        self.next();
        self.next(); // '('
        let left = self.geom_operand("as the first argument of S_DWITHIN")?;
        self.expect(Tok::Comma, "','", "after the first argument of S_DWITHIN")?;
        let right = self.geom_operand("as the second argument of S_DWITHIN")?;
        self.expect(
            Tok::Comma,
            "','",
            "and a distance after the second argument of S_DWITHIN",
        )?;
        let t = self.next();
        let mut metres = match t.tok {
            Tok::Int(v) => v as f64,
            Tok::Real(v) => v,
            _ => {
                return Err(ParseError::new(
                    t.pos,
                    format!("expected a distance as the third argument of S_DWITHIN, found {t}"),
                ))
            }
        };
        if metres < 0.0 {
            return Err(ParseError::new(
                t.pos,
                "the distance of S_DWITHIN must not be negative",
            ));
        }
        if self.peek().tok == Tok::Comma {
            self.next();
            let unit = self.next();
            let factor = match &unit.tok {
                Tok::Ident(u) | Tok::Str(u) | Tok::Quoted(u) => {
                    match u.to_ascii_lowercase().as_str() {
                        "meters" | "metres" | "meter" | "metre" | "m" => 1.0,
                        "kilometers" | "kilometres" | "kilometer" | "kilometre" | "km" => 1000.0,
                        _ => {
                            return Err(ParseError::new(
                                unit.pos,
                                format!(
                                    "unsupported distance unit '{u}'; use meters (or kilometers)"
                                ),
                            ))
                        }
                    }
                }
                _ => {
                    return Err(ParseError::new(
                        unit.pos,
                        format!("expected a distance unit such as meters, found {unit}"),
                    ))
                }
            };
            metres *= factor;
        }
        self.expect(Tok::RParen, "')'", "to close S_DWITHIN(")?;
        Ok(Expr::DWithin {
            left,
            right,
            metres,
            pos: name.pos,
        })
    }

    fn geom_operand(&mut self, context: &str) -> Result<GeomOperand, ParseError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Ident(name) if WKT_TYPES.contains(&name.to_ascii_uppercase().as_str()) => {
                let g = self.wkt()?;
                Ok(GeomOperand::Literal(g, t.pos))
            }
            Tok::Ident(name) | Tok::Quoted(name) => {
                if let Tok::Ident(_) = t.tok {
                    if KEYWORDS.contains(&name.to_ascii_uppercase().as_str()) {
                        return Err(ParseError::new(
                            t.pos,
                            format!("expected a geometry {context}, found {t}"),
                        ));
                    }
                }
                self.next();
                if self.peek().tok == Tok::LParen {
                    return Err(ParseError::new(
                        t.pos,
                        format!(
                            "unknown geometry type '{name}'; use POINT, LINESTRING, POLYGON, MULTIPOINT, \
                             MULTILINESTRING, MULTIPOLYGON, GEOMETRYCOLLECTION or BBOX"
                        ),
                    ));
                }
                Ok(GeomOperand::Property(name.clone(), t.pos))
            }
            _ => Err(ParseError::new(
                t.pos,
                format!(
                    "expected a geometry (the geometry property, WKT or BBOX) {context}, found {t}"
                ),
            )),
        }
    }

    // ---- WKT ----

    fn number(&mut self, context: &str) -> Result<f64, ParseError> {
        let t = self.next();
        match t.tok {
            Tok::Int(v) => Ok(v as f64),
            Tok::Real(v) => Ok(v),
            _ => Err(ParseError::new(
                t.pos,
                format!("expected a number {context}, found {t}"),
            )),
        }
    }

    /// `x y [z [m]]`
    fn coord(&mut self) -> Result<geo::Coord<f64>, ParseError> {
        let x = self.number("(a coordinate)")?;
        let y = self.number("(the second ordinate of a coordinate)")?;
        for _ in 0..2 {
            if matches!(self.peek().tok, Tok::Int(_) | Tok::Real(_)) {
                self.next();
            }
        }
        Ok(geo::coord! { x: x, y: y })
    }

    fn open(&mut self, what: &str) -> Result<usize, ParseError> {
        Ok(self.expect(Tok::LParen, "'('", what)?.pos)
    }

    /// `, item` repeated until `)`.
    fn list<T>(
        &mut self,
        what: &str,
        mut item: impl FnMut(&mut Parser) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut out = vec![item(self)?];
        loop {
            let t = self.next();
            match t.tok {
                Tok::Comma => out.push(item(self)?),
                Tok::RParen => return Ok(out),
                _ => {
                    return Err(ParseError::new(
                        t.pos,
                        format!("expected ',' or ')' in {what}, found {t}"),
                    ))
                }
            }
        }
    }

    fn coords(&mut self, what: &str) -> Result<Vec<geo::Coord<f64>>, ParseError> {
        self.open(&format!("to start the coordinates of {what}"))?;
        self.list(what, |p| p.coord())
    }

    fn ring(&mut self) -> Result<geo::LineString<f64>, ParseError> {
        let pos = self.peek().pos;
        let coords = self.coords("a polygon ring")?;
        let mut distinct = coords.clone();
        distinct.dedup();
        if distinct.first() == distinct.last() && distinct.len() > 1 {
            distinct.pop();
        }
        if distinct.len() < 3 {
            return Err(ParseError::new(
                pos,
                "a polygon ring needs at least three distinct points",
            ));
        }
        Ok(geo::LineString::new(coords))
    }

    fn polygon_body(&mut self) -> Result<geo::Polygon<f64>, ParseError> {
        self.open("to start a polygon's rings")?;
        let mut rings = self.list("a polygon", |p| p.ring())?.into_iter();
        let exterior = rings.next().expect("list has at least one item");
        Ok(geo::Polygon::new(exterior, rings.collect()))
    }

    fn wkt(&mut self) -> Result<geo::Geometry<f64>, ParseError> {
        let t = self.next();
        let Tok::Ident(name) = &t.tok else {
            unreachable!("called on a WKT type name")
        };
        let upper = name.to_ascii_uppercase();
        self.enter(t.pos)?;
        if upper == "BBOX" {
            self.open("after BBOX")?;
            let nums = self.list("BBOX", |p| p.number("in BBOX"))?;
            let (x0, y0, x1, y1) = match nums.len() {
                4 => (nums[0], nums[1], nums[2], nums[3]),
                6 => (nums[0], nums[1], nums[3], nums[4]),
                n => {
                    return Err(ParseError::new(
                        t.pos,
                        format!("BBOX takes 4 numbers (or 6 with heights), not {n}"),
                    ))
                }
            };
            if x0 > x1 || y0 > y1 {
                return Err(ParseError::new(
                    t.pos,
                    "BBOX(minx, miny, maxx, maxy): a minimum exceeds its maximum",
                ));
            }
            self.depth -= 1;
            return Ok(geo::Geometry::Rect(geo::Rect::new(
                geo::coord! {x: x0, y: y0},
                geo::coord! {x: x1, y: y1},
            )));
        }
        // Optional dimension marker.
        if let Tok::Ident(d) = &self.peek().tok {
            if matches!(d.to_ascii_uppercase().as_str(), "Z" | "M" | "ZM") {
                self.next();
            } else if d.eq_ignore_ascii_case("EMPTY") {
                return Err(ParseError::new(
                    self.peek().pos,
                    "EMPTY geometries are not supported in filters",
                ));
            }
        }
        let g: geo::Geometry<f64> = match upper.as_str() {
            "POINT" => {
                self.open("after POINT")?;
                let c = self.coord()?;
                self.expect(Tok::RParen, "')'", "to close the POINT")?;
                geo::Point(c).into()
            }
            "LINESTRING" => {
                let pos = self.peek().pos;
                let cs = self.coords("a LINESTRING")?;
                if cs.len() < 2 {
                    return Err(ParseError::new(
                        pos,
                        "a LINESTRING needs at least two points",
                    ));
                }
                geo::LineString::new(cs).into()
            }
            "POLYGON" => self.polygon_body()?.into(),
            "MULTIPOINT" => {
                self.open("after MULTIPOINT")?;
                // Both MULTIPOINT((1 2),(3 4)) and MULTIPOINT(1 2, 3 4).
                let pts = self.list("a MULTIPOINT", |p| {
                    if p.peek().tok == Tok::LParen {
                        p.next();
                        let c = p.coord()?;
                        p.expect(Tok::RParen, "')'", "to close a point of the MULTIPOINT")?;
                        Ok(geo::Point(c))
                    } else {
                        Ok(geo::Point(p.coord()?))
                    }
                })?;
                geo::MultiPoint::new(pts).into()
            }
            "MULTILINESTRING" => {
                self.open("after MULTILINESTRING")?;
                let lines = self.list("a MULTILINESTRING", |p| {
                    let pos = p.peek().pos;
                    let cs = p.coords("a line of the MULTILINESTRING")?;
                    if cs.len() < 2 {
                        return Err(ParseError::new(pos, "a line needs at least two points"));
                    }
                    Ok(geo::LineString::new(cs))
                })?;
                geo::MultiLineString::new(lines).into()
            }
            "MULTIPOLYGON" => {
                self.open("after MULTIPOLYGON")?;
                let polys = self.list("a MULTIPOLYGON", |p| p.polygon_body())?;
                geo::MultiPolygon::new(polys).into()
            }
            "GEOMETRYCOLLECTION" => {
                self.open("after GEOMETRYCOLLECTION")?;
                let parts = self.list("a GEOMETRYCOLLECTION", |p| {
                    let t = p.peek().clone();
                    match &t.tok {
                        Tok::Ident(n) if WKT_TYPES.contains(&n.to_ascii_uppercase().as_str()) => {
                            p.wkt()
                        }
                        _ => Err(ParseError::new(
                            t.pos,
                            format!("expected a geometry in the GEOMETRYCOLLECTION, found {t}"),
                        )),
                    }
                })?;
                geo::Geometry::GeometryCollection(geo::GeometryCollection(parts))
            }
            _ => unreachable!("WKT_TYPES are all handled"),
        };
        self.depth -= 1;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).to_string()
    }

    fn err(s: &str) -> ParseError {
        parse(s).expect_err(s)
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        assert_eq!(
            show("a = 1 OR b = 2 AND c = 3"),
            "(a = 1 OR (b = 2 AND c = 3))"
        );
        assert_eq!(
            show("(a = 1 OR b = 2) AND c = 3"),
            "((a = 1 OR b = 2) AND c = 3)"
        );
        assert_eq!(show("NOT a = 1 AND b = 2"), "((NOT a = 1) AND b = 2)");
        assert_eq!(show("not (a = 1 or b = 2)"), "(NOT (a = 1 OR b = 2))");
        // Left associative.
        assert_eq!(show("a=1 or b=2 or c=3"), "((a = 1 OR b = 2) OR c = 3)");
    }

    #[test]
    fn predicates_and_keywords_in_any_case() {
        assert_eq!(show("x between 1 and 5"), "x BETWEEN 1 AND 5");
        assert_eq!(
            show("x NOT BETWEEN 1 AND 5 AND y = 2"),
            "(x NOT BETWEEN 1 AND 5 AND y = 2)"
        );
        assert_eq!(show("x in ('a', 'b')"), "x IN ('a', 'b')");
        assert_eq!(show("x Not In (1,2)"), "x NOT IN (1, 2)");
        assert_eq!(show("x is null"), "x IS NULL");
        assert_eq!(show("x IS NOT NULL"), "x IS NOT NULL");
        assert_eq!(show("x not like 'a%'"), "x NOT LIKE 'a%'");
        assert_eq!(show("CASEI(x) = casei('AbC')"), "CASEI(x) = CASEI('AbC')");
        assert_eq!(show("flag"), "flag");
        assert_eq!(show("TRUE"), "TRUE");
        assert_eq!(show("x >= -2.5"), "x >= -2.5");
        assert_eq!(show("x != 2"), "x <> 2");
        assert_eq!(
            show("d > DATE('2020-01-01') AND t <= TIMESTAMP('2020-01-01T00:00:00Z')"),
            "(d > DATE('2020-01-01') AND t <= TIMESTAMP('2020-01-01T00:00:00Z'))"
        );
    }

    #[test]
    fn strings_escape_quotes_and_hold_unicode() {
        let Expr::Compare { right, .. } = parse("S_NAME = 'O''Brien'").unwrap() else {
            panic!()
        };
        assert_eq!(right.kind, ScalarKind::Text("O'Brien".into()));
        let Expr::Compare { left, right, .. } = parse("氏名 = '白山一丁目'").unwrap() else {
            panic!()
        };
        assert_eq!(left.kind, ScalarKind::Property("氏名".into()));
        assert_eq!(right.kind, ScalarKind::Text("白山一丁目".into()));
        assert_eq!(right.pos, 6);
        let Expr::Compare { left, .. } = parse("\"施設・場所名\" = 'x'").unwrap() else {
            panic!()
        };
        assert_eq!(left.kind, ScalarKind::Property("施設・場所名".into()));
        // Unquoted too: 「・」 is not ASCII punctuation.
        let Expr::Compare { left, .. } = parse("施設・場所名 = 'x'").unwrap() else {
            panic!()
        };
        assert_eq!(left.kind, ScalarKind::Property("施設・場所名".into()));
        let Expr::Compare { left, .. } = parse("\"a \"\"b\"\"\" = 1").unwrap() else {
            panic!()
        };
        assert_eq!(left.kind, ScalarKind::Property("a \"b\"".into()));
        let Expr::Like { pattern, .. } = parse("x LIKE 'it\\'s%'").unwrap() else {
            panic!()
        };
        assert_eq!(pattern.kind, ScalarKind::Text("it's%".into()));
    }

    #[test]
    fn wkt_literals() {
        let geom = |s: &str| match parse(&format!("S_INTERSECTS(geometry, {s})")).unwrap() {
            Expr::Spatial {
                right: GeomOperand::Literal(g, _),
                ..
            } => g,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            geom("POINT(139.75 35.7)"),
            geo::Point::new(139.75, 35.7).into()
        );
        assert_eq!(geom("point z (1 2 3)"), geo::Point::new(1.0, 2.0).into());
        assert_eq!(
            geom("LINESTRING(0 0, 1 1, 2 0)"),
            geo::LineString::from(vec![(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]).into()
        );
        let p = geom("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (1 1, 2 1, 2 2, 1 1))");
        let geo::Geometry::Polygon(p) = p else {
            panic!()
        };
        assert_eq!(p.exterior().0.len(), 5);
        assert_eq!(p.interiors().len(), 1);
        assert_eq!(
            geom("MULTIPOINT((1 2), (3 4))"),
            geom("MULTIPOINT(1 2, 3 4)")
        );
        let geo::Geometry::MultiLineString(m) =
            geom("MULTILINESTRING((0 0, 1 1), (2 2, 3 3, 4 4))")
        else {
            panic!()
        };
        assert_eq!(m.0.len(), 2);
        let geo::Geometry::MultiPolygon(m) =
            geom("MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5), (5.1 5.1, 5.2 5.1, 5.2 5.2, 5.1 5.1)))")
        else {
            panic!()
        };
        assert_eq!(m.0.len(), 2);
        assert_eq!(m.0[1].interiors().len(), 1);
        assert_eq!(
            geom("BBOX(139.7, 35.7, 139.8, 35.75)"),
            geo::Rect::new(
                geo::coord! {x: 139.7, y: 35.7},
                geo::coord! {x: 139.8, y: 35.75}
            )
            .into()
        );
        let geo::Geometry::GeometryCollection(c) =
            geom("GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))")
        else {
            panic!()
        };
        assert_eq!(c.0.len(), 2);
        assert!(parse("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 0 0)))").is_err());
        assert!(parse("S_INTERSECTS(geometry, BBOX(1, 2, 3))").is_err());
        assert!(parse("S_INTERSECTS(geometry, CIRCLE(1 2))").is_err());
    }

    #[test]
    fn dwithin_with_and_without_unit() {
        let e = parse("S_DWITHIN(geometry, POINT(139.75 35.7), 500, meters)").unwrap();
        let Expr::DWithin { metres, .. } = e else {
            panic!()
        };
        assert_eq!(metres, 500.0);
        let Expr::DWithin { metres, .. } =
            parse("s_dwithin(geom, POINT(139.75 35.7), 1.5, kilometers)").unwrap()
        else {
            panic!()
        };
        assert_eq!(metres, 1500.0);
        let Expr::DWithin { metres, .. } = parse("S_DWITHIN(geometry, POINT(1 2), 250)").unwrap()
        else {
            panic!()
        };
        assert_eq!(metres, 250.0);
        assert!(parse("S_DWITHIN(geometry, POINT(1 2), 250, furlongs)").is_err());
        assert!(parse("S_DWITHIN(geometry, POINT(1 2), -1)").is_err());
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let e = err("JINKO > 5000 AND");
        assert_eq!(e.position, 17);
        assert_eq!(
            e.to_string(),
            "filter: at character 17: expected a condition after 'AND', found end of input"
        );
        let e = err("S_NAME = '白山' AND JINKO =");
        assert_eq!(e.position, 26);
        assert_eq!(
            e.to_string(),
            "filter: at character 26: expected a value after '=', found end of input"
        );
        assert_eq!(err("(a = 1").position, 7);
        assert!(err("(a = 1")
            .message
            .contains("close the '(' at character 1"));
        assert_eq!(err("a = 1)").position, 6);
        assert_eq!(err("a 5").position, 3);
        assert_eq!(err("a = 1 b = 2").position, 7);
        assert_eq!(err("a BETWEEN 1 OR 2").position, 13);
        assert!(err("a = NULL").message.contains("IS NULL"));
        assert!(err("a + 1 > 2").message.contains("arithmetic"));
        assert!(err("FOO(a) = 1").message.contains("unknown function 'FOO'"));
        assert!(err("a = POINT(1 2)").message.contains("spatial function"));
        assert_eq!(err("d = DATE('2020-13-01')").position, 10);
        assert_eq!(err("").position, 1);
        assert_eq!(err("a = 'open").position, 5);
        assert!(err("a ~ 1").message.contains("unexpected character '~'"));
        let deep = format!("{}a = 1{}", "(".repeat(500), ")".repeat(500));
        assert!(err(&deep).message.contains("nests deeper"));
        let deep = format!("{}a = 1", "NOT ".repeat(500));
        assert!(err(&deep).message.contains("nests deeper"));
    }
}
