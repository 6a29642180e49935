//! A layer's canonical checksum: the same rows give the same checksum
//! whichever store they were read from, so a copy between stores can be
//! verified without trusting either.
//!
//! SHA-256 over a versioned header, the metadata (as JSON), the columns'
//! names and types, then every feature in fid order — its fid, its geometry
//! as little-endian WKB and each typed value. Row order is left out on
//! purpose: it is a property of the in-memory index, not of the data.

use sha2::{Digest, Sha256};

use chiiki_core::layers::{FieldType, Layer, Value};

use crate::{Result, StoreError};

/// Bumped whenever what is hashed changes, so old and new sums never match by accident.
const VERSION: &[u8] = b"chiiki-layer-checksum-v1\n";

/// The layer's checksum, `sha256:` and 64 hex digits.
pub fn checksum(layer: &Layer) -> Result<String> {
    let mut h = Sha256::new();
    h.update(VERSION);
    let meta = serde_json::to_vec(&layer.meta).map_err(|e| StoreError::Other {
        context: format!("layer '{}'", layer.meta.id),
        message: format!("encoding its metadata for the checksum: {e}"),
    })?;
    bytes(&mut h, &meta);
    h.update((layer.columns.len() as u64).to_le_bytes());
    for c in &layer.columns {
        bytes(&mut h, c.name.as_bytes());
        h.update([type_tag(c.field_type())]);
    }
    let mut order: Vec<usize> = (0..layer.len()).collect();
    order.sort_unstable_by_key(|&r| layer.fids[r]);
    h.update((order.len() as u64).to_le_bytes());
    let options = wkb::writer::WriteOptions {
        endianness: wkb::Endianness::LittleEndian,
    };
    let mut wkb = Vec::new();
    for row in order {
        h.update(layer.fids[row].to_le_bytes());
        wkb.clear();
        wkb::writer::write_geometry(&mut wkb, &layer.geometries.get(row), &options).map_err(
            |e| StoreError::Other {
                context: format!("layer '{}'", layer.meta.id),
                message: format!(
                    "encoding the geometry of feature {} for the checksum: {e}",
                    layer.fids[row]
                ),
            },
        )?;
        bytes(&mut h, &wkb);
        for c in &layer.columns {
            value(&mut h, &c.get(row));
        }
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
fn bytes(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_le_bytes());
    h.update(b);
}

fn type_tag(t: FieldType) -> u8 {
    match t {
        FieldType::Integer => 1,
        FieldType::Real => 2,
        FieldType::Text => 3,
        FieldType::Boolean => 4,
        FieldType::Date => 5,
        FieldType::DateTime => 6,
    }
}

fn value(h: &mut Sha256, v: &Value) {
    match v {
        Value::Null => h.update([0]),
        Value::Integer(i) => {
            h.update([1]);
            h.update(i.to_le_bytes());
        }
        Value::Real(r) => {
            h.update([2]);
            // Bits, not the number: -0.0 and NaN payloads are data too.
            h.update(r.to_bits().to_le_bytes());
        }
        Value::Text(t) => {
            h.update([3]);
            bytes(h, t.as_bytes());
        }
        Value::Boolean(b) => h.update([4, u8::from(*b)]),
        Value::Date(d) => {
            h.update([5]);
            h.update(d.to_le_bytes());
        }
        Value::DateTime(ms) => {
            h.update([6]);
            h.update(ms.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiiki_core::layers::{Column, Geometries, LayerMeta, LayerParts};

    fn layer(fids: Vec<i64>, names: &[&str], points: Vec<[f64; 2]>) -> Layer {
        let mut name = Column::new("name", FieldType::Text);
        for n in names {
            name.push(if n.is_empty() {
                Value::Null
            } else {
                Value::Text(n.to_string())
            })
            .unwrap();
        }
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: "shelters".into(),
                title: "避難所".into(),
                ..Default::default()
            },
            fids,
            geometries: Geometries::Points(points),
            columns: vec![name],
        })
    }

    #[test]
    fn the_checksum_ignores_row_order_and_sees_every_value() {
        let a = layer(
            vec![1, 2, 3],
            &["本郷", "", "白山"],
            vec![[139.75, 35.70], [139.70, 35.72], [139.76, 35.71]],
        );
        // The same features given in another order.
        let b = layer(
            vec![3, 1, 2],
            &["白山", "本郷", ""],
            vec![[139.76, 35.71], [139.75, 35.70], [139.70, 35.72]],
        );
        let sum = checksum(&a).unwrap();
        assert!(sum.starts_with("sha256:") && sum.len() == 71, "{sum}");
        assert_eq!(sum, checksum(&b).unwrap());
        // A null is not an empty string, a moved point is another layer,
        // and so is another fid.
        let empty = layer(
            vec![1, 2, 3],
            &["本郷", " ", "白山"],
            vec![[139.75, 35.70], [139.70, 35.72], [139.76, 35.71]],
        );
        let moved = layer(
            vec![1, 2, 3],
            &["本郷", "", "白山"],
            vec![[139.75, 35.70], [139.70, 35.72], [139.76, 35.710001]],
        );
        let renumbered = layer(
            vec![1, 2, 4],
            &["本郷", "", "白山"],
            vec![[139.75, 35.70], [139.70, 35.72], [139.76, 35.71]],
        );
        for other in [empty, moved, renumbered] {
            assert_ne!(sum, checksum(&other).unwrap());
        }
    }
}
