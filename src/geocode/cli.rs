//! `chiiki reference build` and `chiiki geocode`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::reference::{self, BuildSources};
use super::{Geocoded, Geocoder, Level};
use crate::config::real_data_dir;

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

#[derive(Args)]
pub struct GeocodeArgs {
    /// CSV with an address column (UTF-8 or CP932).
    input: PathBuf,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Column holding the address (default: 住所, address or 所在地_連結表記).
    #[arg(long)]
    address_column: Option<String>,
    /// Reference index from `chiiki reference build`.
    #[arg(long, default_value = "reference.chiiki")]
    reference: PathBuf,
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

fn build_from(sources: &BuildSources) -> Result<reference::ReferenceData> {
    for d in &sources.abr_dirs {
        if !d.is_dir() {
            bail!("ABR directory {} does not exist", d.display());
        }
    }
    reference::build(sources)
}

/// Reads a CSV file as text, UTF-8 (with or without BOM) or CP932.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}').to_string(),
        Err(e) => encoding_rs::SHIFT_JIS.decode(e.as_bytes()).0.into_owned(),
    })
}

/// Geocodes many addresses on all cores, each distinct address once.
pub fn geocode_all(
    geocoder: &Geocoder,
    addresses: &[&str],
    progress: &indicatif::ProgressBar,
) -> Vec<Geocoded> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let chunk = addresses.len().div_ceil(threads).max(1);
    let mut out: Vec<Vec<Geocoded>> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = addresses
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut cache: HashMap<&str, Geocoded> = HashMap::new();
                    let mut results = Vec::with_capacity(part.len());
                    for (i, a) in part.iter().enumerate() {
                        let g = cache
                            .entry(a)
                            .or_insert_with(|| geocoder.geocode(a))
                            .clone();
                        results.push(g);
                        if i % 4096 == 4095 {
                            progress.inc(4096);
                        }
                    }
                    results
                })
            })
            .collect();
        for h in handles {
            out.push(h.join().expect("geocoding thread"));
        }
    });
    progress.finish_and_clear();
    out.into_iter().flatten().collect()
}

const ADDED: [&str; 11] = [
    "pref",
    "city",
    "town",
    "koaza",
    "addr",
    "level",
    "lon",
    "lat",
    "score",
    "remainder",
    "reason",
];

fn added_values(g: &Geocoded) -> [String; 11] {
    let num = |v: f64, d: usize| {
        if v.is_nan() {
            String::new()
        } else {
            format!("{v:.d$}")
        }
    };
    [
        g.pref.clone(),
        g.city.clone(),
        g.town.clone(),
        g.koaza.clone(),
        g.addr.clone(),
        g.level.as_str().to_string(),
        num(g.lon, 7),
        num(g.lat, 7),
        format!("{:.2}", g.score),
        g.remainder.clone(),
        if g.level == Level::Ambiguous {
            format!("{}: {}", g.reason, g.candidates.join(" | "))
        } else {
            g.reason.clone()
        },
    ]
}

pub fn geocode(args: GeocodeArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let data = reference::load(&args.reference).with_context(|| {
        format!(
            "no reference index at {}; build one with `chiiki reference build -o {}`",
            args.reference.display(),
            args.reference.display()
        )
    })?;
    let geocoder = Geocoder::new(data);
    let loaded = started.elapsed();

    let text = read_text(&args.input)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no header line", args.input.display()))?
        .clone();
    let column = match &args.address_column {
        Some(name) => headers
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| {
                format!(
                    "{}: no column '{name}' (columns: {})",
                    args.input.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })?,
        None => headers
            .iter()
            .position(|h| matches!(h.trim(), "住所" | "address" | "所在地_連結表記"))
            .with_context(|| {
                format!(
                    "{}: no address column (住所 or address); name it with --address-column",
                    args.input.display()
                )
            })?,
    };
    let mut rows = Vec::new();
    for (i, r) in reader.records().enumerate() {
        rows.push(r.with_context(|| format!("{}: line {}", args.input.display(), i + 2))?);
    }
    let addresses: Vec<&str> = rows.iter().map(|r| r.get(column).unwrap_or("")).collect();
    let progress = indicatif::ProgressBar::new(addresses.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} addresses ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let geocode_started = std::time::Instant::now();
    let results = geocode_all(&geocoder, &addresses, &progress);
    let geocode_time = geocode_started.elapsed();

    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    write_results(&mut out, args.format, &headers, &rows, &results)?;
    out.flush()?;

    // Summary and report for the 住民課.
    let mut levels: BTreeMap<Level, usize> = BTreeMap::new();
    for g in &results {
        *levels.entry(g.level).or_default() += 1;
    }
    let n = results.len().max(1);
    eprintln!(
        "geocoded {} rows in {:.2?} ({:.0} rows/s; index loaded in {:.2?})",
        results.len(),
        geocode_time,
        results.len() as f64 / geocode_time.as_secs_f64().max(1e-9),
        loaded
    );
    for (level, count) in levels.iter().rev() {
        eprintln!(
            "  {:<20} {:>9}  {:>6.2} %",
            level.as_str(),
            count,
            100.0 * *count as f64 / n as f64
        );
    }
    let report = build_report(&results);
    let report_path = args.report.clone().or_else(|| {
        args.output
            .as_ref()
            .map(|o| PathBuf::from(format!("{}.report.txt", o.display())))
    });
    match report_path {
        Some(p) => {
            std::fs::write(&p, &report).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("report of rows below 号/地番 level: {}", p.display());
        }
        None => eprint!("{report}"),
    }
    Ok(())
}

/// Rows below 号/地番 level grouped by reason, with their line numbers.
pub fn build_report(results: &[Geocoded]) -> String {
    let mut groups: BTreeMap<(Level, String), Vec<usize>> = BTreeMap::new();
    for (i, g) in results.iter().enumerate() {
        if g.level <= Level::Block {
            groups
                .entry((g.level, g.reason.clone()))
                .or_default()
                .push(i + 2);
        }
    }
    let mut out = String::new();
    let mut ordered: Vec<_> = groups.into_iter().collect();
    ordered.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    for ((level, reason), lines) in ordered {
        let shown: Vec<String> = lines.iter().take(10).map(|l| l.to_string()).collect();
        out.push_str(&format!(
            "{:>7} rows  {:<12} {}  (lines {}{})\n",
            lines.len(),
            level.as_str(),
            reason,
            shown.join(", "),
            if lines.len() > 10 { ", …" } else { "" }
        ));
    }
    out
}

fn write_results(
    out: &mut dyn Write,
    format: Format,
    headers: &csv::StringRecord,
    rows: &[csv::StringRecord],
    results: &[Geocoded],
) -> Result<()> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header: Vec<&str> = headers.iter().collect();
            header.extend(ADDED);
            w.write_record(&header)?;
            for (row, g) in rows.iter().zip(results) {
                let mut rec: Vec<String> = row.iter().map(String::from).collect();
                rec.extend(added_values(g));
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        Format::Jsonl | Format::Geojson => {
            let geojson = matches!(format, Format::Geojson);
            if geojson {
                out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
            }
            for (i, (row, g)) in rows.iter().zip(results).enumerate() {
                let mut props = serde_json::Map::new();
                for (h, v) in headers.iter().zip(row.iter()) {
                    props.insert(h.to_string(), serde_json::Value::String(v.to_string()));
                }
                for (k, v) in ADDED.iter().zip(added_values(g)) {
                    let value = match *k {
                        "lon" | "lat" | "score" => v
                            .parse::<f64>()
                            .map(serde_json::Value::from)
                            .unwrap_or(serde_json::Value::Null),
                        _ => serde_json::Value::String(v),
                    };
                    props.insert(k.to_string(), value);
                }
                if geojson {
                    let geometry = if g.lon.is_nan() {
                        serde_json::Value::Null
                    } else {
                        serde_json::json!({"type": "Point", "coordinates": [g.lon, g.lat]})
                    };
                    let f = serde_json::json!({"type": "Feature", "id": i + 1, "geometry": geometry, "properties": props});
                    if i > 0 {
                        out.write_all(b",\n")?;
                    }
                    serde_json::to_writer(&mut *out, &f)?;
                } else {
                    serde_json::to_writer(&mut *out, &props)?;
                    out.write_all(b"\n")?;
                }
            }
            if geojson {
                out.write_all(b"\n]}\n")?;
            }
        }
    }
    Ok(())
}
