//! The layer importer on arbitrary bytes given as a GeoJSON file: GDAL's
//! reading, chiiki's CRS handling, geometry validation and repair,
//! reprojection, attribute typing; then the imported parts are indexed as a
//! layer. The bytes are given to GDAL as an in-memory file (`/vsimem/`), so
//! no file is written.

#![no_main]

use std::path::PathBuf;
use std::sync::Once;

use chiiki_store::import::{read_files, ImportOptions};
use chiiki_core::layers::Layer;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/vsimem/fuzz.geojson";

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // GDAL reports malformed input on stderr; the importer's errors say
        // enough, and the noise slows the fuzzer down.
        gdal::config::set_error_handler(|_, _, _| {});
        // A GeoJSON `crs` link may make GDAL fetch a URL: keep every HTTP
        // request on this machine (a discard port, so it fails at once).
        for (key, value) in [
            ("GDAL_HTTP_PROXY", "127.0.0.1:9"),
            ("GDAL_HTTP_TIMEOUT", "1"),
            ("GDAL_HTTP_MAX_RETRY", "0"),
            ("PROJ_NETWORK", "OFF"),
        ] {
            gdal::config::set_config_option(key, value).expect("GDAL config option");
        }
    });
}

fuzz_target!(|data: &[u8]| {
    setup();
    // Borrowed, not handed over: GDAL would free the buffer with its own
    // allocator, and an empty Vec has no allocation to free.
    let mut bytes = data.to_vec();
    let file = gdal::vsi::create_mem_file_from_ref(PATH, &mut bytes).expect("a /vsimem/ file");
    let opts = ImportOptions {
        layer_id: "fuzz".into(),
        ..Default::default()
    };
    let result = read_files(&[PathBuf::from(PATH)], &opts);
    drop(file);
    if let Ok((parts, report)) = result {
        assert_eq!(parts.fids.len(), report.imported);
        assert_eq!(parts.geometries.len(), parts.fids.len());
        for c in &parts.columns {
            assert_eq!(c.len(), parts.fids.len(), "column {}", c.name);
        }
        let layer = Layer::new(parts);
        if let Some(extent) = layer.extent {
            assert_eq!(layer.rows_in_bbox(extent).len(), layer.len());
        }
    }
});
