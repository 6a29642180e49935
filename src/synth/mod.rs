//! The synthetic 文京区: a seeded, deterministic generator of everything a
//! city holds that is never published — residents and households, the
//! registry as a city exports it, 異動 deltas, vaccination records — and of
//! the infrastructure chiiki scores (water pipes with break history, bridges,
//! roads with crack detections, flood depth ranks), all laid on the real
//! public data (ABR addresses, census polygons and meshes, A31 flood extents).
//!
//! Same seed, same inputs → byte-identical files.

pub mod infra;
