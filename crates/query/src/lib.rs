//! Feature filters: CQL2-text (OGC API – Features Part 3).
//!
//! A filter goes through three steps, each in its own module:
//!
//! 1. [`cql2::parse`] turns the text into a syntax tree ([`ast::Expr`]);
//!    syntax errors carry the 1-based character position.
//! 2. [`bind::bind`] checks it against a layer's schema: property names
//!    become column indices, literals take the column's type (a text
//!    property compared with a number is an error, not an empty answer), and
//!    geometry literals are transformed from the filter CRS to storage lon/lat.
//! 3. [`eval::compile`] turns the bound tree into one closure over row
//!    numbers that reads the typed column vectors directly: no lookups by
//!    name, no `Value`s and no allocation per row for attribute predicates
//!    and point layers (the exceptions: CASEI LIKE and CASEI between two
//!    properties lowercase each value, and S_DWITHIN projects each polygon
//!    or line feature to the metric plane).
//!
//! Nulls follow SQL's three-valued logic: a comparison with a null is
//! unknown, and so is its negation, so neither `x = 1` nor `NOT x = 1`
//! selects a row where `x` is null (`x IS NULL` does). The compiler gets this
//! by pushing `NOT` down to the predicates.
//!
//! Spatial predicates also give an envelope that every matching feature
//! intersects ([`Filter::envelope`]), so callers fetch candidates from the
//! layer's R-tree ([`chiiki_core::layers::Layer::rows_in_bbox`]) instead of
//! testing every row.

pub mod age;
pub mod ast;
pub mod bind;
pub mod cql2;
pub mod eval;
mod lexer;
pub mod properties;
pub mod sql;

use geo::Rect;

use chiiki_core::crs::Crs;
use chiiki_core::layers::Layer;

/// An error in a filter, with the 1-based character offset it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: at character {position}: {message}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(position: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            position,
            message: message.into(),
        }
    }
}

/// A filter parsed and bound to one layer, ready to be compiled per request.
#[derive(Debug, Clone)]
pub struct Filter {
    bound: bind::Bound,
    envelope: Option<Rect<f64>>,
    terms: usize,
}

/// The number of predicates, operators and listed values: what a filter
/// asks of each row, for the service's complexity limit.
pub fn count_terms(e: &ast::Expr) -> usize {
    use ast::Expr::*;
    match e {
        And(a, b) | Or(a, b) => 1 + count_terms(a) + count_terms(b),
        Not(a) => 1 + count_terms(a),
        In { list, .. } => 1 + list.len(),
        _ => 1,
    }
}

impl Filter {
    /// Parses CQL2-text and binds it to `layer`; geometry literals are in
    /// `crs` with its axis order.
    pub fn new(text: &str, layer: &Layer, crs: Crs) -> Result<Filter, ParseError> {
        Filter::on_date(text, layer, crs, chiiki_core::clock::today())
    }

    /// Like [`Filter::new`], with `age` (for layers that store `birth_date`)
    /// counted on `day`.
    pub fn on_date(
        text: &str,
        layer: &Layer,
        crs: Crs,
        day: chrono::NaiveDate,
    ) -> Result<Filter, ParseError> {
        let mut expr = cql2::parse(text)?;
        let terms = count_terms(&expr);
        if layer.column(age::BIRTH_DATE).is_some() && layer.column("age").is_none() {
            expr = age::rewrite(expr, day);
        }
        let bound = bind::bind(&expr, layer, crs)?;
        let envelope = eval::envelope(&bound, true);
        Ok(Filter {
            bound,
            envelope,
            terms,
        })
    }

    /// How many terms the filter has (see the service's `max_filter_terms`).
    pub fn terms(&self) -> usize {
        self.terms
    }

    pub fn bound(&self) -> &bind::Bound {
        &self.bound
    }

    /// A box (storage lon/lat) that every matching feature intersects, when
    /// the filter's spatial predicates imply one.
    pub fn envelope(&self) -> Option<Rect<f64>> {
        self.envelope
    }

    /// True when the filter is the constant `false`.
    pub fn is_never(&self) -> bool {
        matches!(self.bound, bind::Bound::Const(false))
    }

    /// The row predicate for `layer` (the layer the filter was bound to).
    pub fn compile<'a>(&'a self, layer: &'a Layer) -> eval::Predicate<'a> {
        eval::compile(&self.bound, layer)
    }

    /// Matching rows among `candidates` (or all rows), in row order.
    pub fn select(&self, layer: &Layer, candidates: Option<&[u32]>) -> Vec<u32> {
        if self.is_never() {
            return Vec::new();
        }
        let p = self.compile(layer);
        match candidates {
            Some(rows) => rows
                .iter()
                .copied()
                .filter(|&r| p.matches(r as usize))
                .collect(),
            None => (0..layer.len() as u32)
                .filter(|&r| p.matches(r as usize))
                .collect(),
        }
    }
}
