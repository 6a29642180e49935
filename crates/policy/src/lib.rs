//! Who may see what of residents' personal data.
//!
//! - [`auth`]: roles and bearer tokens (hashed, expiring, revocable), and
//!   whether a caller may read a collection at all;
//! - [`privacy`]: the caller's view of a collection: record filters, masked
//!   and generalised fields, pseudonymous ids, cell-key perturbation of
//!   aggregates, every analysis read through its author's view, cached per collection, role and day;
//! - [`audit`]: the hash-chained log of every response with personal data.
//!
//! The policy floor decides from the sensitivity labels layers carry
//! ([`chiiki_core::sensitivity`]); it knows nothing of HTTP.

pub mod audit;
pub mod auth;
pub mod error;
pub mod privacy;
pub mod settings;

pub use error::PolicyError;
