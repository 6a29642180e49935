//! The model every floor of chiiki speaks.
//!
//! - [`layers`]: features with typed columns, in spatial (Hilbert) order
//!   with an R-tree, and the metadata stored with them;
//! - [`sensitivity`]: which features are people and which fields are
//!   personal — the labels policy decides on, set by whoever makes a layer;
//! - [`crs`]: the CRSs served and the transformations between them (PROJ);
//! - [`mesh`]: JIS X 0410 地域メッシュ codes and cells;
//! - [`fs`]: the one durable atomic file writer;
//! - [`clock`]: the one clock (the service's date is Japan's).
//!
//! Nothing here reads configuration, the command line or the network.

pub mod clock;
pub mod crs;
pub mod error;
pub mod fs;
pub mod layers;
pub mod mesh;
pub mod sensitivity;

pub use layers::{
    Access, Column, ColumnData, FieldType, Geometries, Layer, LayerMeta, LayerParts, Value,
};
pub use sensitivity::{PersonalField, Privacy};
