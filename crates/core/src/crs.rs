//! Coordinate reference systems: the ones chiiki stores, the ones it serves,
//! and the PROJ transformations between them.
//!
//! Everything is stored as JGD2011 longitude/latitude (EPSG:6668). Clients may
//! ask for any CRS in [`Crs::supported`]; coordinates are then transformed per
//! request with PROJ and written in the axis order the CRS defines (OGC API –
//! Features Part 2): EPSG:4326 and EPSG:6668 are latitude first, the Japanese
//! plane rectangular zones are northing (X) first, CRS84 and EPSG:3857 are
//! easting first.
//!
//! ```
//! use chiiki_core::crs::Crs;
//! let zone9 = Crs::parse("http://www.opengis.net/def/crs/EPSG/0/6677").unwrap();
//! assert_eq!(zone9, Crs::Epsg(6677));
//! assert!(zone9.northing_first());
//! assert!(!Crs::Crs84.northing_first());
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use proj::Proj;

/// The storage CRS of every layer: JGD2011 geographic, stored lon/lat.
/// Metres per degree of (longitude, latitude) at latitude `lat` on GRS80,
/// the ellipsoid of JGD2000 and JGD2011: the scales of a local plane
/// centred there (the query floor's distances, the walking network).
///
/// ```
/// let (kx, ky) = chiiki_core::crs::metres_per_degree(35.7);
/// assert!((kx - 90_504.0).abs() < 1.0 && (ky - 110_953.4).abs() < 1.0);
/// ```
pub fn metres_per_degree(lat: f64) -> (f64, f64) {
    const A: f64 = 6_378_137.0;
    const F: f64 = 1.0 / 298.257_222_101;
    let e2 = F * (2.0 - F);
    let phi = lat.to_radians();
    let w2 = 1.0 - e2 * phi.sin().powi(2);
    let n = A / w2.sqrt();
    let m = A * (1.0 - e2) / (w2 * w2.sqrt());
    let per_rad = std::f64::consts::PI / 180.0;
    (n * phi.cos() * per_rad, m * per_rad)
}

pub const STORAGE_EPSG: u32 = 6668;

pub const CRS84_URI: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS84 longitude/latitude (OGC CRS84), the GeoJSON default.
    Crs84,
    Epsg(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("unsupported or malformed CRS '{0}'")]
    Unsupported(String),
    #[error("PROJ cannot transform from {from} to {to}: {reason}")]
    Proj {
        from: String,
        to: String,
        reason: String,
    },
}

impl Crs {
    /// Every CRS chiiki serves and accepts for `bbox-crs`.
    pub fn supported() -> Vec<Crs> {
        let mut out = vec![
            Crs::Crs84,
            Crs::Epsg(4326),
            Crs::Epsg(6668),
            Crs::Epsg(3857),
        ];
        out.extend((6669..=6687).map(Crs::Epsg));
        out.extend((2443..=2461).map(Crs::Epsg));
        out
    }

    pub fn is_supported(&self) -> bool {
        match self {
            Crs::Crs84 => true,
            Crs::Epsg(code) => matches!(code, 4326 | 6668 | 3857 | 6669..=6687 | 2443..=2461),
        }
    }

    /// Parses the forms clients send: OGC URIs, URNs, `EPSG:n` and safe CURIEs.
    pub fn parse(text: &str) -> Result<Crs, CrsError> {
        let t = text.trim().trim_start_matches('[').trim_end_matches(']');
        let bad = || CrsError::Unsupported(text.to_string());
        let lower = t.to_ascii_lowercase();
        if lower.ends_with("/ogc/1.3/crs84")
            || lower == "crs84"
            || lower == "ogc:crs84"
            || lower == "urn:ogc:def:crs:ogc:1.3:crs84"
            || lower == "urn:ogc:def:crs:ogc::crs84"
        {
            return Ok(Crs::Crs84);
        }
        let code = if let Some(rest) = lower.strip_prefix("http://www.opengis.net/def/crs/epsg/") {
            // "0/6677"
            rest.rsplit('/').next().ok_or_else(bad)?
        } else if let Some(rest) = lower.strip_prefix("urn:ogc:def:crs:epsg:") {
            // "urn:ogc:def:crs:EPSG::6677" or "urn:ogc:def:crs:EPSG:6.3:6677"
            rest.rsplit(':').next().ok_or_else(bad)?
        } else if let Some(rest) = lower.strip_prefix("epsg:") {
            rest
        } else {
            return Err(bad());
        };
        let code: u32 = code.parse().map_err(|_| bad())?;
        Ok(Crs::Epsg(code))
    }

    pub fn uri(&self) -> String {
        match self {
            Crs::Crs84 => CRS84_URI.to_string(),
            Crs::Epsg(code) => format!("http://www.opengis.net/def/crs/EPSG/0/{code}"),
        }
    }

    /// The definition PROJ understands.
    pub fn proj_definition(&self) -> String {
        match self {
            Crs::Crs84 => "OGC:CRS84".to_string(),
            Crs::Epsg(code) => format!("EPSG:{code}"),
        }
    }

    /// True when the CRS's first axis is latitude or northing, so coordinates
    /// are written (north, east) instead of (east, north).
    pub fn northing_first(&self) -> bool {
        match self {
            Crs::Crs84 => false,
            // Geographic JGD2011/JGD2000/Tokyo/WGS84: latitude first.
            // Japanese plane rectangular zones: X (northing) first.
            Crs::Epsg(code) => matches!(
                code,
                4326 | 6668 | 4612 | 4301 | 6669..=6687 | 2443..=2461 | 30161..=30179
            ),
        }
    }

    /// True for CRSs whose coordinates are the stored JGD2011 lon/lat up to axis
    /// order: JGD2011 and WGS84 agree to well under a centimetre in Japan (PROJ
    /// treats the pair as a null transformation), so no arithmetic is needed.
    pub fn is_storage_equivalent(&self) -> bool {
        matches!(self, Crs::Crs84 | Crs::Epsg(4326) | Crs::Epsg(6668))
    }

    /// Geographic CRSs get 7 decimals (~1 cm) in output; projected ones 3 (1 mm).
    pub fn is_geographic(&self) -> bool {
        match self {
            Crs::Crs84 => true,
            Crs::Epsg(code) => matches!(code, 4326 | 6668 | 4612 | 4301),
        }
    }

    /// True when the datum is the old Tokyo datum, for which proj-data ships
    /// no Japanese grid: PROJ falls back to a three-parameter Helmert shift that
    /// is only good to about 10 m.
    pub fn is_tokyo_datum(&self) -> bool {
        matches!(self, Crs::Epsg(4301) | Crs::Epsg(30161..=30179))
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Crs::Crs84 => write!(f, "CRS84"),
            Crs::Epsg(code) => write!(f, "EPSG:{code}"),
        }
    }
}

thread_local! {
    // `Proj` is neither Send nor Sync; each worker thread keeps its own.
    static TRANSFORMS: RefCell<HashMap<(String, String), Proj>> = RefCell::new(HashMap::new());
}

/// A transformation between two CRSs in "visualisation" axis order: easting
/// (or longitude) first in, easting first out. Axis swapping for the client
/// is done by the writer, not here.
pub struct Transform {
    from: String,
    to: String,
    identity: bool,
}

impl Transform {
    pub fn new(from: &str, to: &str) -> Result<Transform, CrsError> {
        let t = Transform {
            from: from.to_string(),
            to: to.to_string(),
            identity: from == to,
        };
        if !t.identity {
            t.with_proj(|_| Ok(()))?;
        }
        Ok(t)
    }

    /// From the storage CRS to `crs`.
    pub fn from_storage(crs: Crs) -> Result<Transform, CrsError> {
        if crs.is_storage_equivalent() {
            return Ok(Transform::identity());
        }
        Transform::new(
            &Crs::Epsg(STORAGE_EPSG).proj_definition(),
            &crs.proj_definition(),
        )
    }

    /// From `crs` to the storage CRS.
    pub fn to_storage(crs: Crs) -> Result<Transform, CrsError> {
        if crs.is_storage_equivalent() {
            return Ok(Transform::identity());
        }
        Transform::new(
            &crs.proj_definition(),
            &Crs::Epsg(STORAGE_EPSG).proj_definition(),
        )
    }

    pub fn identity() -> Transform {
        Transform {
            from: String::new(),
            to: String::new(),
            identity: true,
        }
    }

    pub fn is_identity(&self) -> bool {
        self.identity
    }

    fn with_proj<R>(&self, f: impl FnOnce(&Proj) -> Result<R, CrsError>) -> Result<R, CrsError> {
        TRANSFORMS.with(|cell| {
            let mut cache = cell.borrow_mut();
            let key = (self.from.clone(), self.to.clone());
            if !cache.contains_key(&key) {
                let proj = Proj::new_known_crs(&self.from, &self.to, None).map_err(|e| {
                    CrsError::Proj {
                        from: self.from.clone(),
                        to: self.to.clone(),
                        reason: e.to_string(),
                    }
                })?;
                cache.insert(key.clone(), proj);
            }
            f(&cache[&key])
        })
    }

    /// Transforms one (east, north) pair.
    pub fn apply(&self, x: f64, y: f64) -> Result<(f64, f64), CrsError> {
        if self.identity {
            return Ok((x, y));
        }
        self.with_proj(|p| {
            p.convert((x, y)).map_err(|e| CrsError::Proj {
                from: self.from.clone(),
                to: self.to.clone(),
                reason: e.to_string(),
            })
        })
    }

    /// Transforms every coordinate of a geometry in place.
    pub fn apply_geometry(&self, geom: &mut geo::Geometry<f64>) -> Result<(), CrsError> {
        use geo::MapCoordsInPlace;
        if self.identity {
            return Ok(());
        }
        self.with_proj(|p| {
            // `try_map_coords_in_place` recurses without bound on Geometry, so
            // record the first failure instead.
            let failure: RefCell<Option<String>> = RefCell::new(None);
            let failure_ref = &failure;
            geom.map_coords_in_place(|c| match p.convert((c.x, c.y)) {
                Ok((x, y)) => geo::coord! { x: x, y: y },
                Err(e) => {
                    failure_ref
                        .borrow_mut()
                        .get_or_insert_with(|| e.to_string());
                    geo::coord! { x: f64::NAN, y: f64::NAN }
                }
            });
            match failure.into_inner() {
                None => Ok(()),
                Some(reason) => Err(CrsError::Proj {
                    from: self.from.clone(),
                    to: self.to.clone(),
                    reason,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_clients_send() {
        for text in [
            "http://www.opengis.net/def/crs/EPSG/0/6677",
            "EPSG:6677",
            "urn:ogc:def:crs:EPSG::6677",
            "[EPSG:6677]",
        ] {
            assert_eq!(Crs::parse(text).unwrap(), Crs::Epsg(6677), "{text}");
        }
        assert_eq!(Crs::parse(CRS84_URI).unwrap(), Crs::Crs84);
        assert!(Crs::parse("EPSG:abc").is_err());
        assert!(Crs::parse("http://example.com/crs").is_err());
    }

    #[test]
    fn uri_round_trips() {
        for crs in Crs::supported() {
            assert_eq!(Crs::parse(&crs.uri()).unwrap(), crs);
        }
    }

    #[test]
    fn zone_9_transform_matches_known_origin() {
        // The origin of zone IX (EPSG:6677) is 36°N 139°50'E: it maps to (0, 0).
        let t = Transform::from_storage(Crs::Epsg(6677)).unwrap();
        let (e, n) = t.apply(139.0 + 50.0 / 60.0, 36.0).unwrap();
        assert!(e.abs() < 1e-3 && n.abs() < 1e-3, "{e} {n}");
        let back = Transform::to_storage(Crs::Epsg(6677)).unwrap();
        let (lon, lat) = back.apply(-5000.0, -30000.0).unwrap();
        let (e2, n2) = t.apply(lon, lat).unwrap();
        assert!((e2 + 5000.0).abs() < 1e-6 && (n2 + 30000.0).abs() < 1e-6);
    }
}
