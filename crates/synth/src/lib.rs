//! The synthetic 文京区: a seeded, deterministic generator of everything a
//! city holds that is never published — residents and households, the
//! registry as a city exports it, 異動 deltas, vaccination records — and of
//! the infrastructure chiiki scores (water pipes with break history, bridges,
//! roads with crack detections, flood depth ranks), all laid on the real
//! public data (ABR addresses, census polygons and meshes, A31 flood extents).
//!
//! Same seed, same inputs → byte-identical files. No real person is in them.

pub mod city;
pub mod error;
pub mod fictional;
pub mod infra;
pub mod names;
pub mod population;
pub mod registry_file;
pub mod vaccination;
pub mod writing;

use std::path::Path;

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use registry_file::{row, Cp932Writer, Living};

use error::Result;
pub use error::SynthError;

/// The seed of the demo city.
pub const DEFAULT_SEED: u64 = 20_201_001;

/// The date the registry extract is taken: ages fit the census as of this
/// day, and the 異動 files cover the month after it. Fixed, not today, so
/// that the files do not change from one day to the next.
pub fn default_as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date")
}

/// File names inside the output directory.
pub const REGISTRY: &str = "registry.csv";
pub const DELTAS: &str = "deltas";
pub const VACCINATIONS: &str = "vaccinations.csv";
pub const TRUTH: &str = "residents_truth.csv";
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub seed: u64,
    /// Number of residents; the census total (240,069) when `None`. Fewer
    /// scales every 町丁目 down; more replicates the ward.
    pub residents: Option<u64>,
    pub as_of: NaiveDate,
    /// Also write the infrastructure files.
    pub infrastructure: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: DEFAULT_SEED,
            residents: None,
            as_of: default_as_of(),
            infrastructure: true,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SynthSummary {
    pub seed: u64,
    pub as_of: String,
    pub residents: u64,
    pub households: u64,
    pub copies: u64,
    pub needs_support: u64,
    pub perturbed_rows: u64,
    pub delta_files: usize,
    pub delta_rows: usize,
    pub vaccination_rows: u64,
    /// Pipes, bridges, roads and flood zones, when generated.
    #[serde(default)]
    pub infrastructure: Option<infra::InfraSummary>,
}

/// Writes a file through a temporary one, so it is either whole or absent.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    chiiki_core::fs::write_atomically(path, bytes)?;
    Ok(())
}

/// Offsets (in degrees) of the `copy`-th replica of the ward: rings of
/// tiles around it, so that large benchmark populations spread out.
fn tile_offset(copy: u64) -> (f64, f64) {
    const W: f64 = 0.06;
    const H: f64 = 0.04;
    if copy == 0 {
        return (0.0, 0.0);
    }
    let mut n = 0u64;
    for ring in 1i64.. {
        for dy in -ring..=ring {
            for dx in -ring..=ring {
                if dx.abs().max(dy.abs()) != ring {
                    continue;
                }
                n += 1;
                if n == copy {
                    return (dx as f64 * W, dy as f64 * H);
                }
            }
        }
    }
    unreachable!("the rings cover every copy")
}

/// Generates the synthetic city from the real data into `out`.
pub fn generate(real: &Path, out: &Path, opts: &SynthOptions) -> Result<SynthSummary> {
    std::fs::create_dir_all(out).map_err(chiiki_core::error::IoError::at(out, "creating"))?;
    let city = city::load(real)?;
    let census: u64 = city.towns.iter().map(|t| t.population as u64).sum();
    let wanted = opts.residents.unwrap_or(census);
    let base_target = wanted.min(census) as u32;

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut pop = population::generate(&city, Some(base_target), opts.as_of, &mut rng);
    // 住民票コード: 11 digits with irregular gaps; 世帯番号: 8 digits.
    let mut id = 10_000_000_000u64 + rng.random_range(0..1_000_000);
    let mut household_id = 10_000_000u64;
    for h in &mut pop.households {
        household_id += rng.random_range(1..=3);
        h.id = household_id;
        for &m in &h.members {
            id += rng.random_range(1..=9);
            pop.people[m].id = id;
        }
    }
    let written = registry_file::write_households(&city, &pop, &mut rng);
    let birth_choice: Vec<u32> = pop
        .people
        .iter()
        .map(|_| rng.random_range(0..100))
        .collect();

    // The registry and the generator's own record of every resident.
    let copies = wanted.div_ceil(census.max(1)).max(1);
    let mut summary = SynthSummary {
        seed: opts.seed,
        as_of: opts.as_of.to_string(),
        copies,
        ..Default::default()
    };
    let mut registry = Cp932Writer::create(&out.join(REGISTRY))?;
    let truth_path = out.join(TRUTH);
    let mut truth = csv::Writer::from_writer(chiiki_core::fs::AtomicFile::create(&truth_path)?);
    let truth_failed = |source| SynthError::Csv {
        path: truth_path.clone(),
        source,
    };
    truth
        .write_record([
            "resident_id",
            "household_id",
            "copy",
            "town",
            "block",
            "number",
            "number2",
            "lon",
            "lat",
            "mesh250",
            "birth_date",
            "style",
            "perturbation",
        ])
        .map_err(truth_failed)?;
    'copies: for copy in 0..copies {
        let (dx, dy) = tile_offset(copy);
        // Replicas take ids in a range of their own.
        let id_offset = copy * 100_000_000;
        for (h, w) in pop.households.iter().zip(&written) {
            summary.households += 1;
            let a = &city.addresses[h.address];
            for &m in &h.members {
                if summary.residents == wanted {
                    break 'copies;
                }
                let p = &pop.people[m];
                let mut shifted = p.clone();
                shifted.id += id_offset;
                let reason = if p.born_here { "出生" } else { "転入" };
                registry.row(&row(
                    &shifted,
                    h.id + id_offset,
                    w,
                    birth_choice[m],
                    p.moved_on,
                    reason,
                ))?;
                truth
                    .write_record([
                        format!("{:011}", shifted.id),
                        format!("{:08}", h.id + id_offset),
                        copy.to_string(),
                        city.towns[a.town].name(),
                        a.block.to_string(),
                        a.number.to_string(),
                        a.number2.to_string(),
                        format!("{:.7}", a.lon + dx),
                        format!("{:.7}", a.lat + dy),
                        chiiki_core::mesh::code(
                            a.lon + dx,
                            a.lat + dy,
                            chiiki_core::mesh::MeshLevel::M250m,
                        )
                        .unwrap_or(a.mesh)
                        .to_string(),
                        p.birth.to_string(),
                        w.style.to_string(),
                        w.perturbation.map_or("", |x| x.as_str()).to_string(),
                    ])
                    .map_err(truth_failed)?;
                summary.residents += 1;
                summary.needs_support += p.needs_support as u64;
                summary.perturbed_rows += w.perturbation.is_some() as u64;
            }
        }
    }
    registry.finish()?;
    truth
        .into_inner()
        .map_err(|e| chiiki_core::error::IoError::at(&truth_path, "writing")(e.into_error()))?
        .commit()?;

    // Vaccinations of the 65+ (the ward itself, not its replicas).
    let meshes: Vec<u64> = city.meshes.keys().copied().collect();
    let uptake = vaccination::cell_uptake(&meshes, &mut rng);
    let mut vacc = csv::Writer::from_writer(Vec::new());
    let vacc_failed = |e: csv::Error| SynthError::Encode(format!("vaccinations CSV: {e}"));
    vacc.write_record(vaccination::HEADER)
        .map_err(vacc_failed)?;
    for p in &pop.people {
        let mesh = city.addresses[pop.households[p.household].address].mesh;
        let u = uptake.get(&mesh).copied().unwrap_or(0.45);
        for (vaccine, dose, day) in vaccination::doses(p, u, opts.as_of, &mut rng) {
            vacc.write_record([
                format!("{:011}", p.id),
                vaccine.to_string(),
                dose.to_string(),
                day.to_string(),
            ])
            .map_err(vacc_failed)?;
            summary.vaccination_rows += 1;
        }
    }
    write_file(
        &out.join(VACCINATIONS),
        &vacc
            .into_inner()
            .map_err(SynthError::encode("vaccinations CSV"))?,
    )?;

    // A month of 異動 on the ward.
    let mut living = Living {
        city: &city,
        home: pop.people.iter().map(|p| Some(p.household)).collect(),
        households: pop
            .households
            .iter()
            .zip(&written)
            .map(|(h, w)| (h.id, w.clone()))
            .collect(),
        people: pop.people,
        next_person_id: copies * 100_000_000 + 10_000_000_000 + 50_000_000,
        next_household_id: 90_000_000,
    };
    let scale = base_target as f64 / census.max(1) as f64;
    let files =
        registry_file::write_deltas(&mut living, opts.as_of, &out.join(DELTAS), scale, &mut rng)?;
    summary.delta_files = files.len();
    summary.delta_rows = files.iter().map(|f| f.1).sum();

    if opts.infrastructure {
        summary.infrastructure = Some(infra::generate(real, opts.seed, out)?);
    }
    let manifest = serde_json::to_vec_pretty(&summary).map_err(SynthError::encode("manifest"))?;
    write_file(&out.join(MANIFEST), &manifest)?;
    Ok(summary)
}
