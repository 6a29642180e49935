//! Japanese address geocoding against the Address Base Registry (ABR).
//!
//! - [`normalize`]: address text as people write it → one canonical form;
//! - [`reference`]: the ABR masters and 町丁目 points → a compact index file;
//! - [`matcher`]: canonical text → prefecture, city, town, 街区, 号 or 地番,
//!   with the finest level found, a score, the remainder and a reason;
//! - [`batch`]: many addresses at once, a municipality's in its context;
//! - [`file`]: a CSV file end to end, for `chiiki geocode`.

pub mod batch;
pub mod error;
pub mod file;
pub mod matcher;
pub mod normalize;
pub mod reference;

pub use error::GeocodeError;
pub use matcher::{Context, Found, Geocoded, Geocoder, Level};
