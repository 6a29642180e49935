//! The registry's history for the service (`as_of`, `changes_since`): the
//! resident layer rebuilt for a past day from the registry's versions,
//! geocoded like `chiiki registry points`, and the net change of each
//! resident between two days.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chiiki_core::layers::Layer;
use chiiki_registry::model::Status;
use chiiki_registry::store::RegistryPlace;
use chiiki_server::history::{Change, ResidentHistory};
use chrono::NaiveDate;

/// The history of a registry (in a data directory or the database).
pub struct RegistryHistory {
    place: RegistryPlace,
    data_dir: PathBuf,
    reference: PathBuf,
    layer_id: String,
    /// Loaded on first use: most services are never asked for a past day.
    geocoder: OnceLock<chiiki_geocode::Geocoder>,
}

impl RegistryHistory {
    /// The history of the registry kept at `place`, geocoded against
    /// `data_dir`'s `reference.chiiki`; `None` when there is no registry
    /// or no reference.
    pub fn of(place: RegistryPlace, data_dir: &Path) -> Option<RegistryHistory> {
        let reference = data_dir.join("reference.chiiki");
        let exists = place.exists().unwrap_or_else(|e| {
            tracing::warn!("the registry's history: {e}");
            false
        });
        if !exists || !reference.is_file() {
            return None;
        }
        Some(RegistryHistory {
            place,
            data_dir: data_dir.to_path_buf(),
            reference,
            layer_id: chiiki_registry::points::DEFAULT_LAYER.to_string(),
            geocoder: OnceLock::new(),
        })
    }

    fn registry(&self) -> Result<chiiki_registry::Registry, String> {
        self.place.load().map_err(|e| e.to_string())
    }
}

impl ResidentHistory for RegistryHistory {
    fn layer_id(&self) -> &str {
        &self.layer_id
    }

    fn residents_on(&self, date: NaiveDate) -> Result<Layer, String> {
        let registry = self.registry()?;
        if self.geocoder.get().is_none() {
            let reference =
                chiiki_geocode::reference::load(&self.reference).map_err(|e| e.to_string())?;
            let _ = self.geocoder.set(chiiki_geocode::Geocoder::new(reference));
        }
        let geocoder = self.geocoder.get().expect("set above");
        let keys = chiiki_registry::record_keys::RecordKeys::load_or_create_at(&self.place)
            .map_err(|e| e.to_string())?;
        let context = geocoder
            .context(&registry.baseline.city)
            .map_err(|e| e.to_string())?;
        let (mut layer, _) = chiiki_registry::points::resident_layer(
            &registry,
            geocoder,
            date,
            &context,
            &self.layer_id,
            Vec::new(),
            &keys,
        );
        // The demo adds each resident's flood depth rank; a past day's
        // layer gets it the same way.
        let flood = self.data_dir.join("synthetic").join("flood_depth.geojson");
        if flood.is_file() {
            crate::demo::city::stamp_flood_rank(&mut layer, &flood).map_err(|e| e.to_string())?;
        }
        Ok(layer)
    }

    fn changes(&self, since: NaiveDate, until: NaiveDate) -> Result<Vec<(i64, Change)>, String> {
        let registry = self.registry()?;
        // Who was registered by a birth in the period (a 出生届 may come
        // days after the birth itself, so the birth date cannot tell).
        let births: std::collections::HashSet<&str> = registry
            .events()
            .iter()
            .filter(|e| e.kind == chiiki_registry::ChangeKind::Birth)
            .filter(|e| e.date > since && e.date <= until)
            .map(|e| e.resident_id.as_str())
            .collect();
        let mut out = Vec::new();
        for r in registry.residents() {
            // Feature ids are the 住民票コード when they are numbers (see
            // `registry points`).
            let Ok(fid) = r.id.parse::<i64>() else {
                continue;
            };
            let registered = |d| r.version_on(d).filter(|v| v.status == Status::Registered);
            let change = match (registered(since), registered(until)) {
                (None, Some(_)) if births.contains(r.id.as_str()) => Change::Born,
                (None, Some(_)) => Change::MovedIn,
                (Some(_), None) => match r.version_on(until).map(|v| v.status) {
                    Some(Status::Dead) => Change::Died,
                    _ => Change::MovedOut,
                },
                (Some(a), Some(b)) if a.placement.address != b.placement.address => {
                    Change::MovedWithin
                }
                _ => continue,
            };
            out.push((fid, change));
        }
        Ok(out)
    }
}
