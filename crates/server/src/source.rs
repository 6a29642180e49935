//! The seam between handlers and data: a [`FeatureSource`] answers the
//! questions a request asks of one collection, as the caller's role sees it.
//!
//! Handlers never index a layer themselves: they ask the source for a page
//! of features matching a parsed query, or for one feature by id, and write
//! what comes back. The in-memory layers ([`MemorySource`]) are the first
//! implementation; a SQL store implements the same three calls with a query
//! (its role views come from [`chiiki_policy::privacy::ViewSpec`]: a column
//! projection, a row predicate and pseudonymised ids).

use std::sync::Arc;

use chiiki_core::layers::{Layer, LayerMeta};

use crate::items::{select, ItemsQuery};

/// Features a source returns: `rows` of `layer`, in order, and how many
/// features the query matched in all (for `numberMatched` and paging links).
/// An in-memory source hands out its own layer and the row numbers; a SQL
/// source hands out a layer holding just the page, and rows `0..n`.
pub struct Page {
    pub layer: Arc<Layer>,
    pub rows: Vec<u32>,
    pub matched: usize,
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
        }
    }

    fn feature(&self, id: i64) -> Option<Page> {
        let row = self.0.row_of(id)?;
        Some(Page {
            layer: self.0.clone(),
            rows: vec![row as u32],
            matched: 1,
        })
    }
}
