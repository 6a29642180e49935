//! Copying every layer from one store to another, verified: each layer is
//! read back from the target and its feature count and
//! [`checksum`](crate::checksum) compared with what the source gave.

use std::time::Instant;

use crate::{checksum, LayerStore, Result};

/// One layer copied, as each side holds it.
#[derive(Debug, Clone)]
pub struct Verified {
    pub id: String,
    pub source_features: usize,
    pub target_features: usize,
    pub source_checksum: String,
    pub target_checksum: String,
}

impl Verified {
    pub fn matches(&self) -> bool {
        self.source_features == self.target_features && self.source_checksum == self.target_checksum
    }
}

/// Copies every layer of `from` into `to` (replacing layers of the same id
/// there, leaving others), then verifies each. A layer that cannot be read
/// or written stops the copy: a migration that skipped one would look
/// complete. `progress` hears of each layer copied, with its features and
/// the seconds it took.
pub fn copy_all(
    from: &dyn LayerStore,
    to: &dyn LayerStore,
    progress: &mut dyn FnMut(&str, usize, f64),
) -> Result<Vec<Verified>> {
    let mut copied = Vec::new();
    for id in from.list()? {
        let started = Instant::now();
        let layer = from.load(&id)?;
        let sum = checksum(&layer)?;
        to.save(&layer)?;
        progress(&id, layer.len(), started.elapsed().as_secs_f64());
        copied.push((id, layer.len(), sum));
    }
    copied
        .into_iter()
        .map(|(id, features, sum)| {
            let back = to.load(&id)?;
            Ok(Verified {
                target_checksum: checksum(&back)?,
                target_features: back.len(),
                source_features: features,
                source_checksum: sum,
                id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiiki_core::layers::{Column, Geometries, Layer, LayerMeta, LayerParts};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A stored point layer: metadata, fids, points, columns.
    type Stored = (LayerMeta, Vec<i64>, Vec<[f64; 2]>, Vec<Column>);

    /// Layers in memory; `lossy` drops the last feature of every save, as
    /// a broken store would.
    #[derive(Default)]
    struct Memory {
        layers: Mutex<BTreeMap<String, Stored>>,
        lossy: bool,
    }

    impl LayerStore for Memory {
        fn list(&self) -> Result<Vec<String>> {
            Ok(self.layers.lock().unwrap().keys().cloned().collect())
        }
        fn load(&self, id: &str) -> Result<Layer> {
            let layers = self.layers.lock().unwrap();
            let (meta, fids, points, columns) = layers
                .get(id)
                .cloned()
                .ok_or_else(|| crate::StoreError::NotFound(id.into()))?;
            Ok(Layer::from_sorted(LayerParts {
                meta,
                fids,
                geometries: Geometries::Points(points),
                columns,
            }))
        }
        fn save(&self, layer: &Layer) -> Result<()> {
            let Geometries::Points(p) = &layer.geometries else {
                unreachable!("points only here")
            };
            let mut n = layer.len();
            if self.lossy {
                n -= 1;
            }
            let columns = layer
                .columns
                .iter()
                .map(|c| c.permute(&(0..n as u32).collect::<Vec<_>>()))
                .collect();
            self.layers.lock().unwrap().insert(
                layer.meta.id.clone(),
                (
                    layer.meta.clone(),
                    layer.fids[..n].to_vec(),
                    p[..n].to_vec(),
                    columns,
                ),
            );
            Ok(())
        }
        fn metadata(&self, id: &str) -> Result<Option<LayerMeta>> {
            Ok(self.layers.lock().unwrap().get(id).map(|l| l.0.clone()))
        }
    }

    #[test]
    fn a_copy_is_verified_and_a_store_that_loses_rows_is_caught() {
        let from = Memory::default();
        from.save(&crate::tests::layer("emergency", 5)).unwrap();
        from.save(&crate::tests::layer("evacuation", 3)).unwrap();
        let mut heard = Vec::new();
        let good = Memory::default();
        let v = copy_all(&from, &good, &mut |id, n, _| {
            heard.push((id.to_string(), n))
        })
        .unwrap();
        assert_eq!(
            heard,
            [("emergency".to_string(), 5), ("evacuation".to_string(), 3)]
        );
        assert!(v.iter().all(Verified::matches), "{v:?}");
        assert_eq!(
            v[0].source_checksum,
            checksum(&crate::tests::layer("emergency", 5)).unwrap()
        );

        let lossy = Memory {
            lossy: true,
            ..Default::default()
        };
        let v = copy_all(&from, &lossy, &mut |_, _, _| {}).unwrap();
        assert!(v.iter().all(|x| !x.matches()), "{v:?}");
        assert_eq!((v[1].source_features, v[1].target_features), (3, 2));
        assert_ne!(v[1].source_checksum, v[1].target_checksum);
    }
}
