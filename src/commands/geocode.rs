//! `chiiki reference build` and `chiiki geocode`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::config::real_data_dir;
use chiiki_geocode::batch::build_from;
use chiiki_geocode::file;
use chiiki_geocode::reference;
use chiiki_geocode::{Geocoder, Level};

#[derive(Args)]
pub struct ReferenceBuildArgs {
    /// Directory of ABR masters (mt_*.csv or .csv.zip); repeatable. Default:
    /// every directory under <real data>/abr.
    #[arg(long)]
    abr: Vec<PathBuf>,
    /// The 町丁目 points directory (towns/api). Default: <real data>/towns/api.
    #[arg(long)]
    towns: Option<PathBuf>,
    /// Variant-character table. Default: <real data>/normalize/itaiji_jageocoder.json.
    #[arg(long)]
    itaiji: Option<PathBuf>,
    #[arg(long, env = "CHIIKI_REAL_DATA")]
    real_data: Option<PathBuf>,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    Geojson,
}

impl From<Format> for file::Format {
    fn from(f: Format) -> file::Format {
        match f {
            Format::Csv => file::Format::Csv,
            Format::Jsonl => file::Format::Jsonl,
            Format::Geojson => file::Format::Geojson,
        }
    }
}

/// The character set of CSV output.
#[derive(Clone, Copy, ValueEnum)]
pub enum Encoding {
    /// UTF-8 with a byte-order mark (unless --no-bom), which Excel opens as UTF-8.
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// Shift_JIS as Windows has it; a row with a character it lacks stops the output.
    #[value(name = "cp932", alias = "shift_jis")]
    Cp932,
}

#[derive(Args)]
pub struct GeocodeArgs {
    /// CSV with an address column (UTF-8 or CP932).
    input: PathBuf,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Character set of CSV output.
    #[arg(long, value_enum, default_value = "utf-8")]
    encoding: Encoding,
    /// UTF-8 CSV without the byte-order mark (for programs that do not skip it).
    #[arg(long)]
    no_bom: bool,
    /// Column holding the address (default: 住所, address or 所在地_連結表記).
    #[arg(long)]
    address_column: Option<String>,
    /// Reference index from `chiiki reference build`.
    #[arg(long, default_value = "reference.chiiki")]
    reference: PathBuf,
    /// The city (name or 全国地方公共団体コード) of addresses that name none,
    /// as a municipality's own lists write them (「上京区…」, 「本郷1-2-3」);
    /// repeatable. Default: the config's [registry] city.
    #[arg(long = "city", value_name = "NAME|LG_CODE")]
    cities: Vec<String>,
    /// Report of unmatched and low-level rows (default: <output>.report.txt, or standard error).
    #[arg(long)]
    report: Option<PathBuf>,
}

pub fn build_reference(args: ReferenceBuildArgs) -> Result<()> {
    let real = real_data_dir(args.real_data.as_deref());
    let mut sources = reference::sources_in_real_data(&real);
    if !args.abr.is_empty() {
        sources.abr_dirs = args.abr;
    }
    if let Some(t) = args.towns {
        sources.towns_dir = Some(t);
    }
    if let Some(i) = args.itaiji {
        sources.itaiji = Some(i);
    }
    let started = std::time::Instant::now();
    let data = build_from(&sources)?;
    reference::save(&data, &args.output)?;
    println!(
        "reference index: {} prefectures, {} cities, {} towns, {} 住居表示 addresses, {} 地番 parcels, {} variant folds → {} ({:.1} MB) in {:.1?}",
        data.prefs.len(),
        data.cities.len(),
        data.towns.len(),
        data.residences.len(),
        data.parcels.len(),
        data.folds.len(),
        args.output.display(),
        std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        started.elapsed()
    );
    Ok(())
}

pub fn geocode(args: GeocodeArgs, config: &crate::config::Config) -> Result<()> {
    let encoding = match (args.encoding, args.format) {
        (Encoding::Utf8, _) => file::CsvEncoding::Utf8 { bom: !args.no_bom },
        (Encoding::Cp932, Format::Csv) => file::CsvEncoding::Cp932,
        (Encoding::Cp932, _) => {
            anyhow::bail!("--encoding cp932 applies to CSV output; JSON is UTF-8")
        }
    };
    if !args.reference.is_file() {
        anyhow::bail!(
            "no reference index at {}; build one with `chiiki reference build -o {}`",
            args.reference.display(),
            args.reference.display()
        );
    }
    // The flag, else the municipality of the config.
    let cities = if args.cities.is_empty() {
        &config.registry.city
    } else {
        &args.cities
    };
    let job = file::Job {
        input: &args.input,
        address_column: args.address_column.as_deref(),
        format: args.format.into(),
        encoding,
        cities,
    };
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} distinct addresses geocoded ({per_sec})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let load = || Ok(Geocoder::new(reference::load(&args.reference)?));
    let (summary, geocoder) =
        file::geocode_file(&job, load, &mut out, &progress).map_err(|e| match e {
            chiiki_geocode::GeocodeError::UnknownCity { .. } => {
                anyhow::Error::new(e).context("--city")
            }
            e => e.into(),
        })?;
    out.flush()?;
    // The index is dropped with the process, not piece by piece.
    std::mem::forget(geocoder);

    // Summary and report for the 住民課.
    let n = summary.rows.max(1);
    eprintln!(
        "geocoded {} rows ({} distinct addresses) in {:.2?}, {:.0} rows/s end to end (index loaded in {:.2?})",
        summary.rows,
        summary.distinct,
        summary.elapsed,
        summary.rows as f64 / summary.elapsed.as_secs_f64().max(1e-9),
        summary.index_loaded
    );
    for (level, count) in summary.levels.iter().rev() {
        eprintln!(
            "  {:<20} {:>9}  {:>6.2} %",
            level.as_str(),
            count,
            100.0 * *count as f64 / n as f64
        );
    }
    let unplaced = |l: Level| summary.levels.get(&l).copied().unwrap_or(0);
    match &summary.context {
        Some(label) => eprintln!(
            "  {} rows used the --city context ({label})",
            summary.by_context
        ),
        None if unplaced(Level::Ambiguous) + unplaced(Level::None) > 0 => {
            eprintln!("  rows that name no city are read in a city given with --city NAME|LG_CODE")
        }
        None => {}
    }
    let report_path = args.report.clone().or_else(|| {
        args.output
            .as_ref()
            .map(|o| PathBuf::from(format!("{}.report.txt", o.display())))
    });
    match report_path {
        Some(p) => {
            std::fs::write(&p, &summary.report)
                .with_context(|| format!("writing {}", p.display()))?;
            eprintln!("report of rows below 号/地番 level: {}", p.display());
        }
        None => eprint!("{}", summary.report),
    }
    Ok(())
}
