//! The web map's third-party assets (MapLibre GL JS, Swagger UI) come from
//! npm into `web/node_modules` (`scripts/setup.sh` runs `npm ci`) and are
//! embedded into the binary: nothing is fetched at run time.

use std::path::Path;

const VENDOR: &[&str] = &[
    "maplibre-gl/dist/maplibre-gl.js",
    "maplibre-gl/dist/maplibre-gl.css",
    "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui.css",
];

fn main() {
    // Read when the script runs, not when it was compiled: a shared target
    // directory reuses the compiled script for clones at other paths.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let modules = Path::new(&manifest).join("../../web/node_modules");
    for file in VENDOR {
        let path = modules.join(file);
        if !path.is_file() {
            panic!(
                "{} is missing: the web map's assets come from npm; run scripts/setup.sh (or `npm ci --prefix web`) first",
                path.display()
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=../../web/app");
}
