//! Geocoding a registry export end to end: read the CSV (UTF-8 or CP932),
//! geocode each distinct address once on all cores, and write the rows
//! back with the match (CSV, JSON lines or GeoJSON) and a report of the rows
//! below 号/地番 level for the 住民課.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::error::{GeocodeError, Result};
use crate::reference::{self, BuildSources};
use crate::{Context, Geocoded, Geocoder, Level};

/// What [`write_results`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Geojson,
}

/// The character set of CSV output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvEncoding {
    /// UTF-8, with a byte-order mark when `bom` (the default: Excel then
    /// reads it as UTF-8 instead of the ANSI code page).
    Utf8 { bom: bool },
    /// Shift_JIS as Windows has it (CP932), for systems that read nothing
    /// else. A row with a character CP932 lacks stops the output with its
    /// line ([`GeocodeError::Unmappable`]): a name or address must not
    /// change silently.
    Cp932,
}

impl Default for CsvEncoding {
    fn default() -> Self {
        CsvEncoding::Utf8 { bom: true }
    }
}

/// A character of an output row that CP932 cannot hold.
#[derive(Debug, thiserror::Error)]
#[error("line {line} of the input: '{character}' (U+{:04X}) has no Shift_JIS (CP932) form; write UTF-8 instead (the default, which Excel opens too)", u32::from(*.character))]
pub struct Unmappable {
    /// The input line (1-based, the header is 1); 1 for the header itself.
    pub line: u64,
    pub character: char,
}

pub fn build_from(sources: &BuildSources) -> Result<reference::ReferenceData> {
    for d in &sources.abr_dirs {
        if !d.is_dir() {
            return Err(GeocodeError::NoAbrDirectory { path: d.clone() });
        }
    }
    reference::build(sources)
}

/// Reads a CSV file as text, UTF-8 (with or without BOM) or CP932.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(chiiki_core::error::IoError::at(path, "reading"))?;
    Ok(match String::from_utf8(bytes) {
        Ok(mut t) => {
            if t.starts_with('\u{feff}') {
                t.drain(..'\u{feff}'.len_utf8());
            }
            t
        }
        Err(e) => encoding_rs::SHIFT_JIS.decode(e.as_bytes()).0.into_owned(),
    })
}

/// Geocodes each distinct address once, on all cores, reading addresses
/// that name no city in the `context`'s cities.
pub fn geocode_distinct(
    geocoder: &Geocoder,
    distinct: &[String],
    context: &Context,
    progress: &indicatif::ProgressBar,
) -> Vec<Geocoded> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = distinct.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = distinct
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut results = Vec::with_capacity(part.len());
                    for (i, a) in part.iter().enumerate() {
                        results.push(geocoder.geocode_in(a, context));
                        if i % 1024 == 1023 {
                            progress.inc(1024);
                        }
                    }
                    results
                })
            })
            .collect();
        let out = handles
            .into_iter()
            .flat_map(|h| h.join().expect("geocoding thread"))
            .collect();
        progress.finish_and_clear();
        out
    })
}

/// Geocodes the addresses of one municipality (a registry): in `context`
/// when given, else in the city most of the addresses are found in, which
/// becomes the context of those that name no city. Returns the answers and
/// the context inferred, if one was.
pub fn geocode_municipality(
    geocoder: &Geocoder,
    distinct: &[String],
    context: &Context,
    progress: &indicatif::ProgressBar,
) -> (Vec<Geocoded>, Option<Context>) {
    let mut results = geocode_distinct(geocoder, distinct, context, progress);
    if !context.is_empty() {
        return (results, None);
    }
    let Some(inferred) = infer_context(geocoder, &results) else {
        return (results, None);
    };
    // Only addresses that named no city can read differently in a context.
    let again: Vec<usize> = (0..results.len())
        .filter(|&i| {
            results[i].level < Level::OazaChome
                || results[i].reason.contains(crate::matcher::CITY_INFERRED)
        })
        .collect();
    let texts: Vec<String> = again.iter().map(|&i| distinct[i].clone()).collect();
    let redone = geocode_distinct(
        geocoder,
        &texts,
        &inferred,
        &indicatif::ProgressBar::hidden(),
    );
    for (i, g) in again.into_iter().zip(redone) {
        if g.level >= results[i].level {
            results[i] = g;
        }
    }
    (results, Some(inferred))
}

/// The city that at least half of the placed answers (at 町字 level or
/// finer, their city not from a context) lie in, as a context.
pub fn infer_context(geocoder: &Geocoder, results: &[Geocoded]) -> Option<Context> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut placed = 0;
    for g in results
        .iter()
        .filter(|g| g.level >= Level::OazaChome && !g.used_context)
    {
        placed += 1;
        *counts
            .entry((g.pref.as_str(), g.city.as_str()))
            .or_default() += 1;
    }
    let ((pref, city), n) = counts.into_iter().max_by_key(|(_, n)| *n)?;
    if n * 2 < placed {
        return None;
    }
    geocoder.context(&[format!("{pref}{city}")]).ok()
}

/// The input rows: each row's distinct-address id, where its line starts,
/// and its line number.
pub struct InputRows {
    pub headers: csv::StringRecord,
    /// How many distinct addresses the rows hold.
    pub distinct: usize,
    /// Per row: its distinct-address id, where its line starts, its line number.
    pub rows: Vec<(u32, usize, u64)>,
}

/// Reads the rows, handing each batch of new distinct addresses to `emit`
/// (with the id of its first address) as soon as it is complete, so they can
/// be geocoded while the rest of the file is read.
fn read_rows(
    text: &str,
    input: &Path,
    address_column: Option<&str>,
    mut emit: impl FnMut(u32, Vec<String>),
) -> Result<InputRows> {
    let mut batch: Vec<String> = Vec::with_capacity(BATCH);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|source| GeocodeError::Header {
            path: input.to_path_buf(),
            source,
        })?
        .clone();
    let column = match address_column {
        Some(name) => headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| GeocodeError::NoColumn {
                path: input.to_path_buf(),
                column: name.to_string(),
                columns: headers.iter().map(str::to_string).collect(),
            })?,
        None => headers
            .iter()
            .position(|h| matches!(h.trim(), "住所" | "address" | "所在地_連結表記"))
            .ok_or_else(|| GeocodeError::NoAddressColumn {
                path: input.to_path_buf(),
            })?,
    };
    let mut index: rustc_hash::FxHashMap<Box<str>, u32> = Default::default();
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|source| GeocodeError::Row {
                path: input.to_path_buf(),
                line: reader.position().line(),
                source,
            })?;
        if !more {
            break;
        }
        let pos = record
            .position()
            .expect("records read from a reader have positions");
        let address = std::str::from_utf8(record.get(column).unwrap_or(b"")).unwrap_or("");
        let id = match index.get(address) {
            Some(&id) => id,
            None => {
                let id = index.len() as u32;
                index.insert(address.into(), id);
                batch.push(address.to_string());
                if batch.len() == BATCH {
                    let first = id + 1 - BATCH as u32;
                    emit(
                        first,
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    );
                }
                id
            }
        };
        // A record's position can sit on the previous line's terminator.
        let start = pos.byte() as usize;
        let on_terminator = matches!(text.as_bytes().get(start), Some(b'\n' | b'\r'));
        rows.push((id, start, pos.line() + u64::from(on_terminator)));
    }
    if !batch.is_empty() {
        emit((index.len() - batch.len()) as u32, batch);
    }
    Ok(InputRows {
        headers,
        distinct: index.len(),
        rows,
    })
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
        reason_text(g),
    ]
}

fn reason_text(g: &Geocoded) -> String {
    if g.level == Level::Ambiguous {
        format!("{}: {}", g.reason, g.candidates.join(" | "))
    } else {
        g.reason.clone()
    }
}

/// The added CSV columns of each distinct address, encoded once (on the
/// geocoding threads) and copied after every row that has that address.
struct CsvFragments {
    bytes: Vec<u8>,
    /// `ends[i]`: where fragment `i` ends in `bytes`.
    ends: Vec<usize>,
}

impl CsvFragments {
    fn encode(results: &[Geocoded]) -> Result<CsvFragments, csv::Error> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::with_capacity(results.len() * 128));
        let mut ends = Vec::with_capacity(results.len());
        let mut number = String::new();
        for g in results {
            use std::fmt::Write as _;
            for field in [&g.pref, &g.city, &g.town, &g.koaza, &g.addr] {
                w.write_field(field)?;
            }
            w.write_field(g.level.as_str())?;
            for v in [g.lon, g.lat] {
                number.clear();
                if !v.is_nan() {
                    let _ = write!(number, "{v:.7}");
                }
                w.write_field(&number)?;
            }
            number.clear();
            let _ = write!(number, "{:.2}", g.score);
            w.write_field(&number)?;
            w.write_field(&g.remainder)?;
            if g.level == Level::Ambiguous {
                w.write_field(reason_text(g))?;
            } else {
                w.write_field(&g.reason)?;
            }
            w.write_record(None::<&[u8]>)?;
            w.flush()?;
            // Without the record's newline.
            ends.push(w.get_ref().len() - 1);
        }
        let bytes = w
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(CsvFragments { bytes, ends })
    }

    fn get(&self, i: usize) -> &[u8] {
        // Each fragment starts after the previous one's newline.
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.bytes[start..self.ends[i]]
    }
}

/// Distinct addresses are geocoded in batches of this many.
const BATCH: usize = 2048;

/// One batch of geocoded distinct addresses, starting at id `first`.
struct GeocodedBatch {
    first: u32,
    results: Vec<Geocoded>,
    csv: Option<CsvFragments>,
}

/// The answers for the distinct addresses, by id, as the batches left the
/// geocoding threads (copying half a million answers into one vector costs
/// more than looking them up here).
pub struct Answers {
    batches: Vec<GeocodedBatch>,
}

impl Answers {
    pub fn get(&self, id: u32) -> &Geocoded {
        let id = id as usize;
        &self.batches[id / BATCH].results[id % BATCH]
    }

    /// The encoded CSV columns of address `id` (CSV output only).
    fn csv(&self, id: u32) -> Option<&[u8]> {
        let id = id as usize;
        Some(self.batches[id / BATCH].csv.as_ref()?.get(id % BATCH))
    }

    fn len(&self) -> usize {
        self.batches.iter().map(|b| b.results.len()).sum()
    }
}

/// Reads the rows while other cores geocode the distinct addresses found so
/// far; once the file is read this thread geocodes too.
pub fn read_and_geocode(
    geocoder: &Geocoder,
    text: &str,
    input_path: &Path,
    address_column: Option<&str>,
    context: &Context,
    format: Format,
    progress: &indicatif::ProgressBar,
) -> Result<(InputRows, Answers)> {
    use std::sync::mpsc;
    use std::sync::Mutex;
    type Batch = (u32, Vec<String>);
    let with_csv = matches!(format, Format::Csv);
    let (tx, rx) = mpsc::channel::<Batch>();
    let rx = Mutex::new(rx);
    let done: Mutex<Vec<Result<GeocodedBatch>>> = Mutex::new(Vec::new());
    let work = || loop {
        let next = rx.lock().expect("queue lock").recv();
        let Ok((first, addresses)) = next else { break };
        let results: Vec<Geocoded> = addresses
            .iter()
            .map(|a| geocoder.geocode_in(a, context))
            .collect();
        progress.inc(results.len() as u64);
        let batch = if with_csv {
            CsvFragments::encode(&results).map(Some)
        } else {
            Ok(None)
        }
        .map_err(|e| GeocodeError::Internal(format!("encoding the CSV columns: {e}")))
        .map(|csv| GeocodedBatch {
            first,
            results,
            csv,
        });
        done.lock().expect("results lock").push(batch);
    };
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);
    let input = std::thread::scope(|s| {
        let handles: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        let input = read_rows(text, input_path, address_column, |first, batch| {
            let _ = tx.send((first, batch));
        });
        drop(tx);
        work();
        for h in handles {
            h.join().expect("geocoding thread");
        }
        input
    })?;
    let mut batches = done
        .into_inner()
        .expect("results lock")
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    batches.sort_unstable_by_key(|b| b.first);
    let answers = Answers { batches };
    if !(answers.len() == input.distinct
        && answers
            .batches
            .iter()
            .enumerate()
            .all(|(i, b)| b.first as usize == i * BATCH))
    {
        return Err(GeocodeError::Internal(format!(
            "{} of {} addresses geocoded",
            answers.len(),
            input.distinct
        )));
    }
    Ok((input, answers))
}

/// Rows below 号/地番 level grouped by reason, with their line numbers.
pub fn build_report<'a>(results: impl Iterator<Item = (&'a Geocoded, u64)>) -> String {
    let mut groups: BTreeMap<(Level, &str), Vec<u64>> = BTreeMap::new();
    for (g, line) in results {
        if g.level <= Level::Block {
            groups
                .entry((g.level, g.reason.as_str()))
                .or_default()
                .push(line);
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

/// The raw text of the row starting at `start`, without its line ending.
fn raw_line<'t>(text: &'t str, rows: &[(u32, usize, u64)], i: usize) -> &'t str {
    let start = rows[i].1;
    let end = rows.get(i + 1).map_or(text.len(), |r| r.1);
    text[start..end].trim_matches(['\r', '\n'])
}

/// Writes the rows with their matches; `encoding` applies to CSV (JSON
/// lines and GeoJSON are UTF-8).
pub fn write_results(
    out: &mut dyn Write,
    format: Format,
    encoding: CsvEncoding,
    text: &str,
    input: &InputRows,
    answers: &Answers,
) -> Result<()> {
    write_all_results(out, format, encoding, text, input, answers).map_err(|e| {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Unmappable>())
        {
            Some(u) => GeocodeError::Unmappable(Unmappable {
                line: u.line,
                character: u.character,
            }),
            None => GeocodeError::Output(e),
        }
    })
}

/// `line` (UTF-8) in CP932, or the [`Unmappable`] error for input line `at`.
fn cp932_line(line: &[u8], at: u64) -> std::io::Result<Vec<u8>> {
    let text = std::str::from_utf8(line).map_err(std::io::Error::other)?;
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    if !unmappable {
        return Ok(bytes.into_owned());
    }
    let mut buf = [0u8; 4];
    let character = text
        .chars()
        .find(|c| encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buf)).2)
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        Unmappable {
            line: at,
            character,
        },
    ))
}

fn write_all_results(
    out: &mut dyn Write,
    format: Format,
    encoding: CsvEncoding,
    text: &str,
    input: &InputRows,
    answers: &Answers,
) -> std::io::Result<()> {
    match format {
        Format::Csv => {
            // Input lines are copied as they are, each followed by the added
            // columns of its address. Shift_JIS bytes never look like the
            // CSV's own (quote, comma, line break), so lines are written as
            // UTF-8 and encoded whole.
            let mut header = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new());
            header.write_record(input.headers.iter().chain(ADDED))?;
            let header = header.into_inner().map_err(|e| e.into_error())?;
            match encoding {
                CsvEncoding::Utf8 { bom: true } => {
                    out.write_all("\u{feff}".as_bytes())?;
                    out.write_all(&header)?;
                }
                CsvEncoding::Utf8 { bom: false } => out.write_all(&header)?,
                CsvEncoding::Cp932 => out.write_all(&cp932_line(&header, 1)?)?,
            }
            let mut line = Vec::new();
            for i in 0..input.rows.len() {
                line.clear();
                line.extend_from_slice(raw_line(text, &input.rows, i).as_bytes());
                line.push(b',');
                let fragment = answers.csv(input.rows[i].0).ok_or_else(|| {
                    std::io::Error::other("internal error: CSV columns not encoded")
                })?;
                line.extend_from_slice(fragment);
                line.push(b'\n');
                match encoding {
                    CsvEncoding::Utf8 { .. } => out.write_all(&line)?,
                    CsvEncoding::Cp932 => out.write_all(&cp932_line(&line, input.rows[i].2)?)?,
                }
            }
        }
        Format::Jsonl | Format::Geojson => {
            let geojson = matches!(format, Format::Geojson);
            if geojson {
                out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
            }
            for i in 0..input.rows.len() {
                let line = raw_line(text, &input.rows, i);
                let row = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(line.as_bytes())
                    .records()
                    .next()
                    .transpose()?
                    .unwrap_or_default();
                let g = answers.get(input.rows[i].0);
                let mut props = serde_json::Map::new();
                for (h, v) in input.headers.iter().zip(row.iter()) {
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
