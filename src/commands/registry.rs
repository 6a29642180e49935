//! `chiiki registry import | apply | show`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::config::Config;
use chiiki_registry::date::parse_day;
use chiiki_registry::delta::{apply_files, DeltaOptions};
use chiiki_registry::encoding::TextEncoding;
use chiiki_registry::import::{import_file, ImportOptions};
use chiiki_registry::report::Rejection;
use chiiki_registry::summary::Summary;

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Replace the registry with a full export (住民記録 CSV) as a new baseline.
    Import(ImportArgs),
    /// Apply 異動 deltas (転入, 転出, 転居, 出生, 死亡, 世帯変更), all files in one commit.
    Apply(ApplyArgs),
    /// Totals, households, age bands and 避難行動要支援者 as of a date.
    Show(ShowArgs),
    /// Geocode the residents registered on a date into a point layer (住民ポイント).
    Points(PointsArgs),
}

#[derive(Args)]
pub struct PointsArgs {
    #[arg(long)]
    data: Option<PathBuf>,
    /// Reference index from `chiiki reference build`.
    #[arg(long, default_value = "reference.chiiki")]
    reference: PathBuf,
    /// The date the layer shows (default today).
    #[arg(long, value_parser = parse_date_arg)]
    as_of: Option<NaiveDate>,
    /// Layer id.
    #[arg(long, default_value = "residents")]
    layer: String,
    /// Roles that may read the layer (admin always may).
    #[arg(long, value_delimiter = ',', default_value = "planner")]
    roles: Vec<String>,
    /// The city of addresses that name none (name or 全国地方公共団体コード;
    /// repeatable). Default: the registry's own (`import --city`), else the
    /// config's [registry] city, else the city most addresses name.
    #[arg(long = "city", value_name = "NAME|LG_CODE")]
    cities: Vec<String>,
}

#[derive(Args)]
pub struct CommonArgs {
    /// Data directory (default: the config's data_dir).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Input encoding, utf-8 or cp932 (default: detected).
    #[arg(long, value_parser = parse_encoding)]
    encoding: Option<TextEncoding>,
    /// Refuse the whole input, leaving the registry unchanged, if any row is rejected.
    #[arg(long)]
    strict: bool,
    /// Also write the report (every rejected row) as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The export, CSV in UTF-8 or CP932.
    file: PathBuf,
    /// The export's date (history of rows without 異動日 starts here; default today).
    #[arg(long, value_parser = parse_date_arg)]
    as_of: Option<NaiveDate>,
    /// The municipality the registry is of (name or 全国地方公共団体コード;
    /// repeatable): its addresses that name no city are read there.
    /// Default: the config's [registry] city.
    #[arg(long = "city", value_name = "NAME|LG_CODE")]
    cities: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// Delta files, CSV in UTF-8 or CP932.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
pub struct ShowArgs {
    #[arg(long)]
    data: Option<PathBuf>,
    /// Reference date for membership and ages (default today).
    #[arg(long, value_parser = parse_date_arg)]
    as_of: Option<NaiveDate>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_encoding(s: &str) -> Result<TextEncoding, String> {
    s.parse()
}

fn parse_date_arg(s: &str) -> Result<NaiveDate, String> {
    parse_day(s)
}

pub fn run(command: RegistryCommand, config: &Config) -> Result<()> {
    let data_dir = |flag: &Option<PathBuf>| config.data_dir(flag.as_deref());
    let aliases = &config.registry.columns;
    match command {
        RegistryCommand::Import(args) => {
            let started = std::time::Instant::now();
            let options = ImportOptions {
                encoding: args.common.encoding,
                strict: args.common.strict,
                as_of: args.as_of.unwrap_or_else(chiiki_core::clock::today),
                city: if args.cities.is_empty() {
                    config.registry.city.clone()
                } else {
                    args.cities.clone()
                },
            };
            let data = data_dir(&args.common.data);
            let place = config.registry_place(&data)?;
            let report = import_file(&place, &args.file, aliases, &options)?;
            print_rejections(&report.rejections);
            write_report(args.common.report.as_deref(), &report)?;
            if let Some(why) = &report.refused {
                bail!("{why}; the registry was left unchanged");
            }
            for column in &report.ignored_columns {
                tracing::info!("ignored column '{column}' (no field of that name)");
            }
            println!(
                "imported {} of {} rows from {} ({}; baseline {}; {} rejected) in {:.2?} -> {}",
                report.imported,
                report.rows_read,
                report.file,
                report.encoding,
                report.as_of,
                report.rejected_rows,
                started.elapsed(),
                place.name().display()
            );
            Ok(())
        }
        RegistryCommand::Apply(args) => {
            let started = std::time::Instant::now();
            let options = DeltaOptions {
                encoding: args.common.encoding,
                strict: args.common.strict,
            };
            let data = data_dir(&args.common.data);
            let report = apply_files(
                &config.registry_place(&data)?,
                &args.files,
                aliases,
                &options,
            )?;
            for already in &report.already_applied {
                println!("{already}");
            }
            print_rejections(&report.rejections);
            write_report(args.common.report.as_deref(), &report)?;
            if let Some(why) = &report.refused {
                bail!("{why}; nothing was applied and the registry was left unchanged");
            }
            println!(
                "applied {} of {} rows ({} already applied, {} rejected){} in {:.2?}",
                report.applied,
                report.rows_read,
                report.already_applied.len(),
                report.rejected_rows,
                if report.committed {
                    ""
                } else {
                    "; registry unchanged"
                },
                started.elapsed()
            );
            Ok(())
        }
        RegistryCommand::Points(args) => {
            chiiki_store::geoparquet::validate_layer_id(&args.layer)?;
            let roles = config.roles()?;
            for r in &args.roles {
                roles.check(r).context("--roles")?;
            }
            let started = std::time::Instant::now();
            let data = data_dir(&args.data);
            let registry = config.registry_place(&data)?.load()?;
            let reference = chiiki_geocode::reference::load(&args.reference)?;
            let geocoder = chiiki_geocode::Geocoder::new(reference);
            let cities = [&args.cities, &registry.baseline.city, &config.registry.city]
                .into_iter()
                .find(|c| !c.is_empty())
                .cloned()
                .unwrap_or_default();
            let context = geocoder.context(&cities).context("the registry's city")?;
            let date = args.as_of.unwrap_or_else(chiiki_core::clock::today);
            let keys = chiiki_registry::record_keys::RecordKeys::load_or_create_at(
                &config.registry_place(&data)?,
            )?;
            let (layer, report) = chiiki_registry::points::resident_layer(
                &registry,
                &geocoder,
                date,
                &context,
                &args.layer,
                args.roles,
                &keys,
            );
            config.layer_store(&data)?.save(&layer)?;
            println!(
                "{} of {} residents registered on {date} placed in layer '{}' in {:.2?} -> {}",
                report.placed,
                report.residents,
                args.layer,
                started.elapsed(),
                config.layer_store_name(&data)
            );
            for (level, n) in report.levels.iter().rev() {
                println!("  {:<20} {:>9}", level.as_str(), n);
            }
            if let Some((label, inferred)) = &report.context {
                println!(
                    "  {} residents' addresses name no city: read in {label}{}",
                    report.by_context,
                    if *inferred {
                        " (inferred: the city most addresses name; set it with --city)"
                    } else {
                        ""
                    }
                );
            }
            for (reason, ids) in &report.unplaced {
                eprintln!(
                    "not placed ({reason}): e.g. 住民票コード {}",
                    ids.join(", ")
                );
            }
            std::mem::forget(registry);
            Ok(())
        }
        RegistryCommand::Show(args) => {
            let data = data_dir(&args.data);
            let started = std::time::Instant::now();
            let registry = config.registry_place(&data)?.load()?;
            tracing::debug!("loaded the registry in {:.2?}", started.elapsed());
            let summary = Summary::of(
                &registry,
                args.as_of.unwrap_or_else(chiiki_core::clock::today),
            );
            // Freeing a million residents one string at a time takes longer
            // than the summary; the process ends here and the OS frees it all.
            std::mem::forget(registry);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{summary}");
            }
            Ok(())
        }
    }
}

fn print_rejections(rejections: &[Rejection]) {
    for r in rejections {
        eprintln!("rejected: {r}");
    }
}

fn write_report(path: Option<&Path>, report: &impl Serialize) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let json = serde_json::to_vec_pretty(report)?;
    std::fs::write(path, json).with_context(|| format!("writing the report {}", path.display()))
}
