//! chiiki joins a Japanese municipality's resident registry with its geodata
//! and answers spatial questions as GeoJSON through OGC API – Features.
//!
//! - [`layers`]: features with typed columns, imported through GDAL,
//!   reprojected with PROJ, stored as GeoParquet, indexed with an R-tree;
//! - [`api`]: the OGC API – Features service (axum);
//! - [`query`]: CQL2-text filters, parsed, bound to a layer and compiled to row predicates;
//! - [`auth`]: bearer tokens (hashed, expiring, revocable) and roles;
//! - [`privacy`]: what each role sees of personal data: masking, record
//!   filters, small-cell suppression of aggregates;
//! - [`audit`]: the hash-chained log of every response with personal data;
//! - [`crs`]: the CRSs served and the transformations between them;
//! - [`demo`]: the demo city built from the real public data;
//! - [`registry`]: the resident registry (住民基本台帳): import, 異動 deltas, history;
//! - [`geocode`]: Japanese address normalisation and matching against the ABR;
//! - [`mesh`]: JIS X 0410 地域メッシュ codes and cells;
//! - [`risk`]: risk scores for pipes, bridges and roads (trained, evaluated, explained);
//! - [`synth`]: the synthetic demo city (residents, registry, infrastructure).

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crs;
pub mod demo;
pub mod geocode;
pub mod layers;
pub mod mesh;
pub mod privacy;
pub mod query;
pub mod registry;
pub mod risk;
pub mod synth;
