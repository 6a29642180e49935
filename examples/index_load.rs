//! Times loading the reference index: decoding the file, then building the
//! lookup tables.
//!
//! ```sh
//! cargo run --release --example index_load -- reference.chiiki
//! ```

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "reference.chiiki".into());
    let started = std::time::Instant::now();
    let data = chiiki_geocode::reference::load(std::path::Path::new(&path))?;
    let decoded = started.elapsed();
    let geocoder = chiiki_geocode::Geocoder::new(data);
    println!(
        "decode {:.1?}, lookup tables {:.1?}, {} towns",
        decoded,
        started.elapsed() - decoded,
        geocoder.data().towns.len()
    );
    Ok(())
}
