//! Walking networks built from a line layer (road centrelines), and the
//! nearest facility by walking distance for many points at once.
//!
//! One concern per module:
//!
//! - [`graph`]: the network — nodes where lines share a vertex (vertices
//!   within a snapping tolerance merged), edges with lengths in metres,
//!   connected components;
//! - [`snap`]: points (residents, shelters) snapped to the nearest edge,
//!   with the snap distance and the position along the edge;
//! - [`nearest`]: every point's nearest facility by walking, in one
//!   multi-source Dijkstra pass;
//! - [`walks`]: walking distances between every pair of a few points;
//! - [`tour`]: a short order to walk through a few places (a
//!   travelling-salesman heuristic), and where to cut it into rounds.
//!
//! Distances are measured on one local plane of the GRS80 ellipsoid centred
//! on the network's bounding box ([`graph::Plane`]), with the same scale
//! formula as the query floor's `LocalPlane` (which centres a plane on each
//! feature instead): over a city (≈ 10 km) the two differ by far less than
//! a metre at walking distances.
//!
//! ```
//! use chiiki_network::{graph::Network, nearest::nearest_facilities};
//! // Two streets meeting at a corner, 0.001° ≈ 90 m and 111 m long.
//! let lines = vec![
//!     vec![[139.750, 35.700], [139.751, 35.700]],
//!     vec![[139.751, 35.700], [139.751, 35.701]],
//! ];
//! let net = Network::from_lines(&lines, 1.0);
//! assert_eq!((net.node_count(), net.edge_count()), (3, 2));
//! let shelter = [[139.751, 35.701]];
//! let home = [[139.750, 35.700]];
//! let a = nearest_facilities(&net, &shelter, &home)[0].unwrap();
//! assert_eq!(a.facility, 0);
//! assert!((a.metres - (90.5 + 110.9)).abs() < 1.0, "{}", a.metres);
//! ```

pub mod graph;
pub mod nearest;
pub mod snap;
pub mod tour;
pub mod walks;

pub use graph::Network;
pub use nearest::{nearest_facilities, Assignment};
pub use snap::Snap;

/// The snapping tolerance the analyses use: vertices closer than this are
/// one node (metres).
pub const TOLERANCE_M: f64 = 1.0;
