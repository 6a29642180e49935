//! The command line: `chiiki demo | serve | import | layers`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::{real_data_dir, Config};
use chiiki_core::layers::{Access, Layer};
use chiiki_store::geoparquet as store;
use chiiki_store::import::{read_files, ImportOptions};

#[derive(Parser)]
#[command(
    name = "chiiki",
    version,
    about = "Resident registry × municipal geodata, served as OGC API – Features"
)]
struct Cli {
    /// Config file (TOML). Every setting has a default.
    #[arg(long, global = true, env = "CHIIKI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the demo city from the real public data and serve it.
    Demo(DemoArgs),
    /// Serve the layers of a data directory.
    Serve(ServeArgs),
    /// Import a vector file (GeoJSON, Shapefile, GeoPackage, FlatGeobuf, CSV…) as a layer.
    Import(Box<ImportArgs>),
    /// List the layers of a data directory.
    Layers(DataArgs),
    /// Build the address reference index from the ABR and 町丁目 points.
    Reference {
        #[command(subcommand)]
        command: ReferenceCommand,
    },
    /// Geocode the addresses of a CSV file.
    Geocode(Box<crate::commands::geocode::GeocodeArgs>),
    /// Run a saved analysis (config [[analyses]], or the demo's) and write its answer.
    Analyse(AnalyseArgs),
    /// JIS X 0410 地域メッシュ codes.
    Mesh {
        #[command(subcommand)]
        command: MeshCommand,
    },
    /// Generate the synthetic demo city (residents, registry, 異動, vaccinations, infrastructure).
    Synth(SynthArgs),
    /// The resident registry: import, 異動 deltas, history.
    Registry {
        #[command(subcommand)]
        command: crate::commands::registry::RegistryCommand,
    },
    /// Access tokens: create, revoke, renew, list; rotate the pseudonym key.
    Token {
        #[command(subcommand)]
        command: crate::commands::token::TokenCommand,
    },
    /// Risk scores for pipes, bridges and roads: train, evaluate, score, import vendor scores.
    Risk {
        #[command(subcommand)]
        command: crate::commands::risk::RiskCommand,
    },
    /// Where the layers are kept: copy them between the data directory and PostGIS.
    Store {
        #[command(subcommand)]
        command: crate::commands::store::StoreCommand,
    },
    /// The audit log of personal-data responses: verify, who saw a record.
    Audit {
        #[command(subcommand)]
        command: crate::commands::audit::AuditCommand,
    },
}

#[derive(Subcommand)]
enum ReferenceCommand {
    /// Build the index: `chiiki reference build [--abr DIR]... [--towns DIR] -o FILE`.
    Build(crate::commands::geocode::ReferenceBuildArgs),
}

#[derive(Args)]
struct DataArgs {
    /// Data directory (default: the config's data_dir).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Args)]
struct DemoArgs {
    /// Where the demo's layers, config and tokens go.
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Build the data, then exit without serving.
    #[arg(long)]
    no_serve: bool,
    /// The real public data (default ../shared/data/real).
    #[arg(long, env = "CHIIKI_REAL_DATA")]
    real_data: Option<PathBuf>,
    /// Residents of the synthetic city (default: the census total, 240,069).
    #[arg(long)]
    residents: Option<u64>,
}

#[derive(Args)]
struct AnalyseArgs {
    /// The analysis id (e.g. elderly_in_flood); `--list` shows them.
    id: Option<String>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Reference date for ages (default: today in Japan).
    #[arg(long)]
    as_of: Option<chrono::NaiveDate>,
    #[arg(long, value_enum, default_value = "geojson")]
    format: AnalyseFormat,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// List the analyses.
    #[arg(long)]
    list: bool,
    /// Ask the question with another value of one of its parameters
    /// (`--param depth_rank=3`; repeatable; `--list` shows them).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AnalyseFormat {
    Geojson,
    Csv,
}

#[derive(Subcommand)]
enum MeshCommand {
    /// Read `lat,lon` lines on standard input, print one mesh code per line.
    Code {
        /// 80km, 10km, 5km, 2km, 1km, 500m, 250m or 125m.
        #[arg(long, value_parser = parse_mesh_level)]
        level: chiiki_core::mesh::MeshLevel,
    },
    /// Print the cell of each code given as a GeoJSON Feature.
    Cell { codes: Vec<u64> },
}

fn parse_mesh_level(s: &str) -> std::result::Result<chiiki_core::mesh::MeshLevel, String> {
    chiiki_core::mesh::MeshLevel::parse(s)
        .ok_or_else(|| format!("'{s}': use 80km, 10km, 5km, 2km, 1km, 500m, 250m or 125m"))
}

#[derive(Args)]
struct SynthArgs {
    /// Output directory.
    #[arg(short, long, default_value = "synthetic")]
    out: PathBuf,
    #[arg(long, default_value_t = chiiki_synth::DEFAULT_SEED)]
    seed: u64,
    /// Residents to generate (default: the 2020 census total of 文京区,
    /// 240,069); more than that replicates the ward, for benchmarks.
    #[arg(long)]
    residents: Option<u64>,
    /// Registry extract date (YYYY-MM-DD); ages fit the census on this day.
    #[arg(long, default_value_t = chiiki_synth::default_as_of())]
    as_of: chrono::NaiveDate,
    /// Residents only: skip pipes, bridges, roads and flood depth.
    #[arg(long)]
    no_infrastructure: bool,
    #[arg(long, env = "CHIIKI_REAL_DATA")]
    real_data: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on (default: the config's bind, 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<String>,
    /// Requests per token (or address) per minute; 0 for no limit.
    #[arg(long)]
    requests_per_minute: Option<u32>,
    /// The audit log (default: the config's, `<data>/audit/audit.jsonl`).
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Stop when standard input closes (for supervisors and test harnesses).
    #[arg(long, hide = true)]
    exit_on_stdin_close: bool,
}

impl ServeArgs {
    /// The one place `serve`'s flags override `chiiki.toml`: a flag given
    /// wins, an absent flag keeps the config's value.
    fn merge_into(self, mut config: Config) -> Result<Config> {
        config.data_dir = config.data_dir(self.data.as_deref());
        if let Some(b) = self.bind {
            config.bind = b;
        }
        if let Some(n) = self.requests_per_minute {
            config.limits.requests_per_minute = n;
        }
        if let Some(p) = self.audit_log {
            config.audit.path = std::path::absolute(p)?;
        }
        Ok(config)
    }
}

#[derive(Args)]
struct ImportArgs {
    /// Layer id: letters, digits, '_' and '-'; also the collection id.
    layer: String,
    /// Input file(s); several files with the same schema become one layer.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// CRS of the source when it declares none or declares it wrongly (e.g. EPSG:2451).
    #[arg(long)]
    src_crs: Option<String>,
    /// Integer attribute to use as the stable feature id.
    #[arg(long)]
    id_field: Option<String>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    attribution: Option<String>,
    /// Date attribute that `datetime` filters on (default: the first date attribute).
    #[arg(long)]
    time_field: Option<String>,
    /// Attribute encoding of a shapefile (default CP932 when there is no .cpg).
    #[arg(long)]
    encoding: Option<String>,
    /// Layer inside a multi-layer source such as a GeoPackage.
    #[arg(long)]
    source_layer: Option<String>,
    /// Readable without a token.
    #[arg(long)]
    public: bool,
    /// Roles that may read the layer, comma-separated (admin always may).
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHIIKI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    chiiki_store::import::route_gdal_messages_to_log();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line. The crates' errors already quote
/// their cause in their own message, so a cause is added only when the
/// message so far does not hold it.
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

fn run(cli: Cli) -> Result<()> {
    let config = load_config(cli.config.as_deref())?;
    match cli.command {
        Command::Demo(args) => demo(args),
        Command::Serve(args) => {
            let exit_on_stdin_close = args.exit_on_stdin_close;
            serve(args.merge_into(config)?, exit_on_stdin_close)
        }
        Command::Import(args) => import(*args, &config),
        Command::Reference {
            command: ReferenceCommand::Build(args),
        } => crate::commands::geocode::build_reference(args),
        Command::Geocode(args) => crate::commands::geocode::geocode(*args, &config),
        Command::Registry { command } => crate::commands::registry::run(command, &config),
        Command::Token { command } => crate::commands::token::run(command, &config),
        Command::Audit { command } => crate::commands::audit::run(command, &config),
        Command::Store { command } => crate::commands::store::run(command, &config),
        Command::Risk { command } => crate::commands::risk::run(command, &config),
        Command::Synth(args) => synth(args),
        Command::Mesh { command } => mesh(command),
        Command::Analyse(args) => analyse(args, &config),
        Command::Layers(args) => {
            let dir = config.data_dir(args.data.as_deref());
            for layer in config.layer_store(&dir)?.load_all()? {
                println!(
                    "{:<28} {:>9} {:<16} {}{}",
                    layer.meta.id,
                    layer.len(),
                    layer.geometries.type_name(),
                    layer.meta.title,
                    if layer.meta.access.public {
                        "  [public]"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
    }
}

fn analyse(args: AnalyseArgs, config: &Config) -> Result<()> {
    use chiiki_analysis::{Analysis, Sources};
    let data = config.data_dir(args.data.as_deref());
    let analyses: std::collections::BTreeMap<String, Analysis> = if config.analyses.is_empty() {
        crate::demo::demo_analyses()
    } else {
        config.analyses.clone()
    }
    .into_iter()
    .map(|mut a| {
        // Run from the command line by whoever holds the data directory:
        // as admin, whose view still hides the record keys.
        a.saved_by = Some(chiiki_analysis::SavedBy {
            role: "admin".into(),
            token: Some("cli".into()),
            at: None,
        });
        (a.id.clone(), a)
    })
    .collect();
    if args.list || args.id.is_none() {
        for a in analyses.values() {
            let params: Vec<String> = a
                .parameters
                .iter()
                .map(|p| match &p.default {
                    chiiki_analysis::ParamValue::Number(n) => format!("{}={n}", p.name),
                    chiiki_analysis::ParamValue::Text(t) => format!("{}={t}", p.name),
                })
                .collect();
            println!("{:<32} {}", a.id, a.title);
            if !params.is_empty() {
                println!("{:<32}   --param {}", "", params.join(" --param "));
            }
        }
        return Ok(());
    }
    let id = args.id.as_deref().unwrap_or_default();
    let saved = analyses.get(id).with_context(|| {
        format!(
            "no analysis '{id}' (there are: {})",
            analyses.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let values = args
        .params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("--param {p}: expected NAME=VALUE"))
        })
        .collect::<Result<Vec<_>>>()?;
    let asked = saved.with_values(&values)?;
    let analysis = &asked;
    let layers: std::collections::BTreeMap<String, std::sync::Arc<Layer>> = config
        .layer_store(&data)?
        .load_all()?
        .into_iter()
        .map(|l| (l.meta.id.clone(), std::sync::Arc::new(l)))
        .collect();
    let as_of = args.as_of.unwrap_or_else(chiiki_core::clock::today);
    let started = std::time::Instant::now();
    let roles = config.roles()?;
    let audit = chiiki_policy::audit::AuditLog::at(&config.audit_place(&data)?, true)?;
    let pseudonyms =
        chiiki_policy::privacy::PseudonymKey::open_at(&config.pseudonym_key_place(&data)?)?;
    let views = chiiki_policy::privacy::AuthorViews {
        roles: &roles,
        as_of,
        key: &pseudonyms,
        cache: None,
    };
    let result = Sources {
        layers: &layers,
        analyses: &analyses,
        data_dir: &data,
        as_of,
        view: &views,
    }
    .run(analysis)?;
    if let Some(population) = result.meta.privacy.population() {
        // Computing over people is audited wherever it happens.
        audit.record(&chiiki_policy::audit::Disclosure {
            token: Some("cli"),
            role: "admin",
            request: format!(
                "COMPUTE analysis {id} (definition sha256:{}, command line, as of {as_of})",
                &chiiki_server::definition_hash(analysis)[..16]
            ),
            collection: id,
            population,
            ids: if result.meta.privacy.is_personal() {
                &result.fids
            } else {
                &[]
            },
        })?;
    }
    let elapsed = started.elapsed();
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match args.format {
        AnalyseFormat::Geojson => chiiki_server::writer::write_geojson(&result, &mut out)?,
        AnalyseFormat::Csv => chiiki_server::writer::write_csv(&result, &mut out)?,
    }
    out.flush()?;
    eprintln!(
        "{id}: {} features on {as_of} in {elapsed:.1?}",
        result.len()
    );
    std::mem::forget(layers);
    Ok(())
}

fn mesh(command: MeshCommand) -> Result<()> {
    use std::io::{BufRead, Write};
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match command {
        MeshCommand::Code { level } => {
            for (i, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line?;
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let mut parts = line.split([',', ' ', '\t']).filter(|p| !p.is_empty());
                let mut number = |name: &str| -> Result<f64> {
                    parts
                        .next()
                        .with_context(|| format!("line {}: no {name} in '{line}'", i + 1))?
                        .parse::<f64>()
                        .with_context(|| {
                            format!("line {}: {name} is not a number in '{line}'", i + 1)
                        })
                };
                let (lat, lon) = (number("latitude")?, number("longitude")?);
                match chiiki_core::mesh::code(lon, lat, level) {
                    Some(c) => writeln!(out, "{c}")?,
                    None => anyhow::bail!("line {}: {lat},{lon} is outside the mesh system", i + 1),
                }
            }
        }
        MeshCommand::Cell { codes } => {
            for code in codes {
                let r = chiiki_core::mesh::cell(code)
                    .with_context(|| format!("{code} is not a JIS X 0410 mesh code"))?;
                let f = serde_json::json!({
                    "type": "Feature",
                    "id": code,
                    "properties": {"code": code.to_string(), "level": chiiki_core::mesh::level_of(code).map(|l| l.name())},
                    "geometry": geojson::Geometry::from(&geo::Polygon::from(r)),
                });
                writeln!(out, "{f}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn synth(args: SynthArgs) -> Result<()> {
    let real = real_data_dir(args.real_data.as_deref());
    let opts = chiiki_synth::SynthOptions {
        seed: args.seed,
        residents: args.residents,
        as_of: args.as_of,
        infrastructure: !args.no_infrastructure,
    };
    let started = std::time::Instant::now();
    let s = chiiki_synth::generate(&real, &args.out, &opts)?;
    println!(
        "{} residents in {} households ({} 避難行動要支援者, {} rows with a perturbed address), {} 異動 rows in {} daily files, {} vaccination doses → {} in {:.1?}",
        s.residents,
        s.households,
        s.needs_support,
        s.perturbed_rows,
        s.delta_rows,
        s.delta_files,
        s.vaccination_rows,
        args.out.display(),
        started.elapsed()
    );
    Ok(())
}

fn serve(config: Config, exit_on_stdin_close: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let store = config.layer_store(&config.data_dir)?;
    let layers = store.load_all()?;
    tracing::info!(
        "loaded {} layer(s) from {} in {:.2?}",
        layers.len(),
        config.layer_store_name(&config.data_dir),
        started.elapsed()
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if exit_on_stdin_close {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let place = config.registry_place(&config.data_dir)?;
    let history = crate::history::RegistryHistory::of(place, &config.data_dir).map(|h| {
        std::sync::Arc::new(h) as std::sync::Arc<dyn chiiki_server::history::ResidentHistory>
    });
    if history.is_none() {
        tracing::info!("no registry with a reference index in the data directory: as_of and changes_since are off");
    }
    runtime.block_on(chiiki_server::serve(
        &config.service()?,
        layers,
        store,
        history,
    ))?;
    // Work still on the blocking threads (an analysis being computed, a
    // request whose client went away) is abandoned rather than waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(())
}

fn import(args: ImportArgs, config: &Config) -> Result<()> {
    store::validate_layer_id(&args.layer)?;
    let roles = config.roles()?;
    for r in &args.roles {
        roles.check(r).context("--roles")?;
    }
    let data_dir = config.data_dir(args.data.as_deref());
    let opts = ImportOptions {
        layer_id: args.layer.clone(),
        title: args.title,
        description: args.description,
        attribution: args.attribution,
        src_crs: args.src_crs,
        id_field: args.id_field,
        time_field: args.time_field,
        encoding: args.encoding,
        source_layer: args.source_layer,
        access: Access {
            public: args.public,
            roles: args.roles,
        },
    };
    let started = std::time::Instant::now();
    let (parts, report) = read_files(&args.files, &opts)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for r in &report.repaired {
        eprintln!("repaired: {r}");
    }
    for r in &report.rejected {
        eprintln!("rejected: {r}");
    }
    let layer = Layer::new(parts);
    config.layer_store(&data_dir)?.save(&layer)?;
    println!(
        "imported {} of {} features into layer '{}' ({}; from {}; {} repaired, {} rejected) in {:.2?} -> {}",
        report.imported,
        report.read,
        args.layer,
        layer.geometries.type_name(),
        report.source_crs,
        report.repaired.len(),
        report.rejected.len(),
        started.elapsed(),
        config.layer_store_name(&data_dir)
    );
    Ok(())
}

fn demo(args: DemoArgs) -> Result<()> {
    let mut real = real_data_dir(args.real_data.as_deref());
    let fictional = !real.is_dir();
    if fictional {
        // Without the real public data the demo still runs: on a fictional
        // ward written in the same formats.
        let dir = args.data.join("fictional-real-data");
        println!(
            "the real public data is not at {} (point --real-data or {} at ../shared/data/real); building the fictional 東京都架空区 in the same formats instead, in {}",
            real.display(),
            crate::config::REAL_DATA_ENV,
            dir.display()
        );
        if !dir.join("SOURCES.md").is_file() {
            chiiki_synth::fictional::write(&dir, chiiki_synth::DEFAULT_SEED)?;
        }
        real = dir;
    }
    println!(
        "building the demo city from {} into {}",
        real.display(),
        args.data.display()
    );
    let started = std::time::Instant::now();
    let mut built = crate::demo::build(&real, &args.data)?;
    let city = crate::demo::city::build_city(
        &real,
        &args.data,
        &chiiki_synth::SynthOptions {
            residents: args.residents,
            ..Default::default()
        },
    )?;
    built.extend(city.layers);
    for b in &built {
        println!(
            "  {:<28} {:>7} features  {}{}",
            b.id,
            b.features,
            if b.rebuilt { "imported" } else { "unchanged" },
            if b.notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", b.notes.join("; "))
            }
        );
    }
    let s = &city.summary;
    println!(
        "synthetic 文京区 (seed {}, registry as of {}){}: {} residents in {} households, {} 避難行動要支援者, {} 異動 rows in {} daily files, {} vaccination doses — files in {}",
        s.seed,
        s.as_of,
        if city.generated { "" } else { ", unchanged" },
        s.residents,
        s.households,
        s.needs_support,
        s.delta_rows,
        s.delta_files,
        s.vaccination_rows,
        city.synthetic_dir.display()
    );
    if let Some(i) = &s.infrastructure {
        println!(
            "  infrastructure: {} pipes ({} breaks 2016–2025), {} bridges, {} road segments ({} crack detections), {} flood zones with depth ranks",
            i.pipes, i.pipe_breaks, i.bridges, i.roads, i.crack_detections, i.flood_zones
        );
    }
    if let Some((imported, applied)) = city.registry {
        println!("  registry: {imported} rows imported, {applied} 異動 applied");
    }
    if let Some(levels) = &city.levels {
        let total: usize = levels.values().sum();
        let shown: Vec<String> = levels
            .iter()
            .rev()
            .map(|(l, n)| {
                format!(
                    "{} {:.2} %",
                    l.as_str(),
                    100.0 * *n as f64 / total.max(1) as f64
                )
            })
            .collect();
        println!("  geocoded: {}", shown.join(", "));
    }
    if let Some((evaluation, scored)) = &city.risk {
        println!("  {scored}");
        crate::commands::risk::print_evaluation(evaluation);
    }
    let tokens = crate::demo::demo_tokens(&args.data)?;
    let mut config = crate::demo::demo_config(&args.data, &args.bind, &tokens);
    if fictional {
        config.server.title = "chiiki demo — 架空区 (fictional)".into();
    }
    // In the token file now, so that `chiiki token list` shows them before
    // the service first starts.
    let token_file = chiiki_policy::auth::tokens::token_file(&args.data);
    let merged = chiiki_policy::auth::tokens::merge_config_tokens(&token_file, &config.tokens)
        .with_context(|| format!("merging the demo tokens into {}", token_file.display()))?;
    println!("access tokens (send as 'Authorization: Bearer <token>', or as the password of HTTP Basic with any user name, as QGIS does):");
    let now = chiiki_core::clock::now();
    for (role, token) in &tokens.tokens {
        let hash = chiiki_policy::auth::sha256_hex(token);
        let state = match merged.tokens.iter().find(|t| t.sha256 == hash) {
            Some(t) if t.status(now) == "active" => format!(
                "until {}",
                t.expires
                    .map_or("never".into(), |e| e.format("%Y-%m-%d").to_string())
            ),
            Some(t) if t.status(now) == "expired" => format!(
                "expired: `chiiki token renew demo-{role} --data {}`",
                args.data.display()
            ),
            // Revoked for good: removing demo-tokens.json makes new ones.
            Some(t) => t.status(now).to_string(),
            None => String::new(),
        };
        println!("  {role:<8} {token}  {state}");
    }
    // The saved config points at its own directory so `serve --config` works from anywhere.
    let mut saved = config.clone();
    saved.data_dir = PathBuf::from(".");
    chiiki_core::fs::write_atomically(
        &args.data.join("chiiki.toml"),
        toml::to_string_pretty(&saved)?.as_bytes(),
    )?;
    println!(
        "demo ready in {:.1?}; access tokens (one per role) in {}",
        started.elapsed(),
        args.data.join("demo-tokens.json").display()
    );
    if args.no_serve {
        return Ok(());
    }
    println!(
        "serving at http://{}/ — try: ogrinfo OAPIF:http://{}/",
        args.bind, args.bind
    );
    serve(config, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(argv).expect("valid command line");
        match cli.command {
            Command::Serve(args) => args,
            _ => panic!("not serve"),
        }
    }

    #[test]
    fn an_error_report_names_each_cause_once() {
        let io = std::io::Error::other("disk full");
        let write = chiiki_core::fs::WriteError {
            path: PathBuf::from("/data/layers/x.parquet"),
            step: "writing",
            source: io,
        };
        let e = anyhow::Error::new(write).context("saving layer x");
        assert_eq!(
            report(&e),
            "saving layer x: writing /data/layers/x.parquet: disk full"
        );
    }

    #[test]
    fn serve_flags_override_the_config_and_absent_flags_keep_it() {
        let config: Config = toml::from_str(
            "data_dir = \"/srv/chiiki\"\nbind = \"127.0.0.1:9000\"\n[limits]\nrequests_per_minute = 50\n",
        )
        .unwrap();
        let kept = serve_args(&["chiiki", "serve"])
            .merge_into(config.clone())
            .unwrap();
        assert_eq!(kept.data_dir, PathBuf::from("/srv/chiiki"));
        assert_eq!(kept.bind, "127.0.0.1:9000");
        assert_eq!(kept.limits.requests_per_minute, 50);
        let merged = serve_args(&[
            "chiiki",
            "serve",
            "--data",
            "/tmp/other",
            "--bind",
            "127.0.0.1:0",
            "--requests-per-minute",
            "0",
            "--audit-log",
            "/var/log/chiiki-audit.jsonl",
        ])
        .merge_into(config)
        .unwrap();
        assert_eq!(merged.data_dir, PathBuf::from("/tmp/other"));
        assert_eq!(merged.bind, "127.0.0.1:0");
        assert_eq!(merged.limits.requests_per_minute, 0);
        assert_eq!(
            merged.audit_path(),
            PathBuf::from("/var/log/chiiki-audit.jsonl")
        );
    }
}
