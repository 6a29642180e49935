//! Geocoding a registry export end to end: read the CSV (UTF-8 or CP932)
//! while the reference index loads, geocode each distinct address once on
//! all cores as soon as a batch of them is read, and write the rows back
//! with the match (CSV, JSON lines or GeoJSON), a summary of levels and a
//! report of the rows below 号/地番 level for the 住民課.
//!
//! Memory stays near the size of the input: rows point into the text read
//! once, each distinct address keeps only its encoded output columns, its
//! level and its reason, never a full answer.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::error::{GeocodeError, Result};
use crate::matcher::Found;
use crate::{Context, Geocoder, Level};

/// What the output is.
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

/// One file to geocode.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub input: &'a Path,
    /// The address column; by default 住所, address or 所在地_連結表記.
    pub address_column: Option<&'a str>,
    pub format: Format,
    pub encoding: CsvEncoding,
    /// The city (names or codes) of addresses that name none.
    pub cities: &'a [String],
}

/// What became of a file.
#[derive(Debug, Clone)]
pub struct Summary {
    pub rows: usize,
    pub distinct: usize,
    /// Rows by level.
    pub levels: BTreeMap<Level, usize>,
    /// Rows whose city came from the context.
    pub by_context: usize,
    /// The context's cities, when one was given.
    pub context: Option<String>,
    /// Rows below 号/地番 level grouped by reason, with line numbers.
    pub report: String,
    /// Time to load the reference index (while the input was being read).
    pub index_loaded: Duration,
    /// From the start to the report built (the last row written).
    pub elapsed: Duration,
}

/// Geocodes `job.input` against the index `load` returns (called on
/// another thread while the input is read) and writes the rows to `out`.
pub fn geocode_file(
    job: &Job,
    load: impl FnOnce() -> Result<Geocoder> + Send,
    out: &mut dyn Write,
    progress: &indicatif::ProgressBar,
) -> Result<(Summary, Geocoder)> {
    let started = Instant::now();
    let (loaded, text) = std::thread::scope(|s| {
        let loader = s.spawn(|| {
            let geocoder = load()?;
            let context = geocoder.context(job.cities)?;
            Ok::<_, GeocodeError>((geocoder, context, started.elapsed()))
        });
        let text = read_text(job.input);
        let loaded = loader
            .join()
            .unwrap_or_else(|_| Err(GeocodeError::Internal("the index loader panicked".into())));
        (loaded, text)
    });
    let (geocoder, context, index_loaded) = loaded?;
    let text = text?;
    let (input, answers) = geocode_and_write(&geocoder, &text, job, &context, out, progress)?;
    progress.finish_and_clear();

    let (levels, by_context, report) = tally(&text, &input, &answers);
    let elapsed = started.elapsed();
    let summary = Summary {
        rows: input.ids.len(),
        distinct: input.distinct,
        levels,
        by_context,
        context: (!context.is_empty()).then(|| context.label().to_string()),
        report,
        index_loaded,
        elapsed,
    };
    // Half a million answers are freed on another thread: the summary need
    // not wait for it (and a process that ends does not either).
    std::thread::spawn(move || drop((text, input, answers)));
    Ok((summary, geocoder))
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

/// The input rows: each row's distinct-address id and where its line starts.
pub struct InputRows {
    pub headers: csv::StringRecord,
    /// How many distinct addresses the rows hold.
    pub distinct: usize,
    /// Per row: its distinct-address id.
    pub ids: Vec<u32>,
    /// Per row: where its line starts in the text.
    pub starts: Vec<usize>,
}

/// Output is written in chunks of about this many bytes.
const CHUNK: usize = 1 << 20;

/// Distinct addresses are geocoded in batches of this many.
const BATCH: usize = 2048;

/// Reads the rows, handing each batch of new distinct addresses to `emit`
/// (with the id of its first address) as soon as it is complete, so they can
/// be geocoded while the rest of the file is read.
fn read_rows<'t>(
    text: &'t str,
    expected_rows: usize,
    input: &Path,
    address_column: Option<&str>,
    mut emit: impl FnMut(u32, Vec<Cow<'t, str>>),
) -> Result<InputRows> {
    let batch: Vec<Cow<'t, str>> = Vec::with_capacity(BATCH);
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
    let mut rows = Rows {
        // A registry has about two residents per address.
        distinct: Distinct::with_capacity(text, expected_rows / 2 + 16),
        batch,
        ids: Vec::new(),
        starts: Vec::new(),
        emit: &mut emit,
    };
    let bytes = text.as_bytes();
    if plain_lines(bytes) {
        // No quotes anywhere and lines end in \n: every line is a record
        // and every comma a separator, read without a CSV parser.
        // Rows go through a short queue: the slot of an address is
        // prefetched when it enters, its text halfway, and it is looked up
        // when it leaves, by then in cache.
        const AHEAD: usize = 16;
        let mut queue: std::collections::VecDeque<(usize, &str, u64)> =
            std::collections::VecDeque::with_capacity(AHEAD + 1);
        let mut at = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |e| e + 1);
        while at < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |e| at + e);
            let line = &text[at..end];
            let line = line.strip_suffix('\r').unwrap_or(line);
            if !line.is_empty() {
                let address = nth_field(line, column);
                let hash = hash_of(address);
                rows.distinct.prefetch(hash, false);
                queue.push_back((at, address, hash));
                if let Some(&(_, _, halfway)) = queue.get(AHEAD / 2) {
                    rows.distinct.prefetch(halfway, true);
                }
                if queue.len() > AHEAD {
                    let (start, address, hash) = queue.pop_front().expect("a full queue");
                    rows.push_hashed(start, Cow::Borrowed(address), hash);
                }
            }
            at = end + 1;
        }
        for (start, address, hash) in queue {
            rows.push_hashed(start, Cow::Borrowed(address), hash);
        }
    } else {
        let mut record = csv::ByteRecord::new();
        loop {
            let more =
                reader
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
            let start = pos.byte() as usize;
            let field = record.get(column).unwrap_or(b"");
            rows.push(start, address_in_text(text, start, field));
        }
    }
    let Rows {
        distinct,
        batch,
        ids,
        starts,
        ..
    } = rows;
    if !batch.is_empty() {
        emit((distinct.len() - batch.len()) as u32, batch);
    }
    Ok(InputRows {
        headers,
        distinct: distinct.len(),
        ids,
        starts,
    })
}

/// Field `n` of an unquoted CSV line ("" when the line is shorter). Lines
/// are short: a byte loop beats a search per comma.
fn nth_field(line: &str, n: usize) -> &str {
    let bytes = line.as_bytes();
    let mut start = 0;
    let mut field = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' {
            if field == n {
                return &line[start..i];
            }
            field += 1;
            start = i + 1;
        }
    }
    if field == n {
        &line[start..]
    } else {
        ""
    }
}

/// Whether `bytes` is CSV without quoting and with \n line ends (\r\n
/// allowed), so that lines are records.
fn plain_lines(bytes: &[u8]) -> bool {
    memchr::memchr(b'"', bytes).is_none()
        && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// The distinct addresses of a file, numbered in order of first
/// appearance: an open-addressing table over the text itself rather than
/// a map of copied strings. A slot says where its address is, so a lookup
/// reads the slot and the text, nothing between — and both can be
/// prefetched a few rows ahead ([`Distinct::prefetch`]), which hides most
/// of the cache misses of half a million addresses.
struct Distinct<'t> {
    text: &'t str,
    /// Linear probing; at most half full.
    slots: Vec<Slot>,
    len: usize,
    /// Addresses not in the text as written (a quoted field with quotes).
    owned: Vec<String>,
}

/// One address: its id + 1 (0: empty), 32 bits of its hash, where it is
/// (`start` in the text, or with [`OWNED`] in `len` its index among the
/// owned ones) and its length.
#[derive(Clone, Copy, Default)]
struct Slot {
    id_plus_one: u32,
    tag: u32,
    start: u32,
    len: u32,
}

/// Marks a slot whose address is not in the text as written.
const OWNED: u32 = 1 << 31;

/// A prefetch hint: no effect on what the program computes.
#[inline]
fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address, and reads
    // nothing the program sees.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

fn hash_of(address: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(address)
}

impl<'t> Distinct<'t> {
    /// Room for `expected` addresses without growing.
    fn with_capacity(text: &'t str, expected: usize) -> Distinct<'t> {
        Distinct {
            text,
            slots: vec![Slot::default(); (expected * 2).next_power_of_two().max(16)],
            len: 0,
            owned: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn text_of(&self, slot: &Slot) -> &str {
        if slot.len & OWNED != 0 {
            &self.owned[slot.start as usize]
        } else {
            let start = slot.start as usize;
            self.text
                .get(start..start + slot.len as usize)
                .unwrap_or("")
        }
    }

    /// Hints the memory a lookup of `hash` will read: `near` for the slot
    /// (some rows ahead), then, closer, the text of the address found there.
    fn prefetch(&self, hash: u64, near: bool) {
        let slot = &self.slots[hash as usize & self.mask()];
        if !near {
            prefetch(slot);
        } else if slot.id_plus_one != 0 && slot.len & OWNED == 0 {
            prefetch(self.text.as_ptr().wrapping_add(slot.start as usize));
        }
    }

    /// The id of `address` (whose hash is `hash`), and whether it is new.
    /// (A `Cow`, not a `str`: whether the address lies in the text decides
    /// where it is kept.)
    #[allow(clippy::ptr_arg)]
    fn id_of(&mut self, address: &Cow<'t, str>, hash: u64) -> (u32, bool) {
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & self.mask();
        loop {
            let slot = self.slots[i];
            if slot.id_plus_one == 0 {
                break;
            }
            if slot.tag == tag && self.text_of(&slot) == address.as_ref() {
                return (slot.id_plus_one - 1, false);
            }
            i = (i + 1) & self.mask();
        }
        let id = self.len as u32;
        let in_text = match address {
            Cow::Borrowed(a) => {
                let start = a.as_ptr() as usize - self.text.as_ptr() as usize;
                u32::try_from(start)
                    .ok()
                    .filter(|_| a.len() < OWNED as usize)
            }
            Cow::Owned(_) => None,
        };
        let (start, len) = match in_text {
            Some(start) => (start, address.len() as u32),
            None => {
                // Past 2 GB of text, or not in it as written: a copy.
                self.owned.push(address.to_string());
                ((self.owned.len() - 1) as u32, OWNED)
            }
        };
        self.slots[i] = Slot {
            id_plus_one: id + 1,
            tag,
            start,
            len,
        };
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        (id, true)
    }

    /// Twice the slots, every address placed again.
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![Slot::default(); old.len() * 2];
        let mask = self.mask();
        for slot in old.into_iter().filter(|s| s.id_plus_one != 0) {
            let mut i = hash_of(self.text_of(&slot)) as usize & mask;
            while self.slots[i].id_plus_one != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

/// The rows as they are read: each distinct address gets an id, and full
/// batches of new addresses go to `emit`.
struct Rows<'t, 'e, E: FnMut(u32, Vec<Cow<'t, str>>)> {
    distinct: Distinct<'t>,
    batch: Vec<Cow<'t, str>>,
    ids: Vec<u32>,
    starts: Vec<usize>,
    emit: &'e mut E,
}

impl<'t, E: FnMut(u32, Vec<Cow<'t, str>>)> Rows<'t, '_, E> {
    fn push(&mut self, start: usize, address: Cow<'t, str>) {
        let hash = hash_of(&address);
        self.push_hashed(start, address, hash);
    }

    fn push_hashed(&mut self, start: usize, address: Cow<'t, str>, hash: u64) {
        let (id, new) = self.distinct.id_of(&address, hash);
        if new {
            self.batch.push(address);
            if self.batch.len() == BATCH {
                let first = id + 1 - BATCH as u32;
                let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
                (self.emit)(first, full);
            }
        }
        self.ids.push(id);
        self.starts.push(start);
    }
}

/// The field's text, borrowed from `text` where the record's line holds it
/// as written (no doubled quotes inside), so that half a million distinct
/// addresses are not copied; otherwise a copy.
fn address_in_text<'t>(text: &'t str, record_start: usize, field: &[u8]) -> Cow<'t, str> {
    let Ok(field) = std::str::from_utf8(field) else {
        return Cow::Borrowed("");
    };
    if field.is_empty() {
        return Cow::Borrowed("");
    }
    let line = &text[record_start.min(text.len())..];
    let line_end = line.find('\n').map_or(line.len(), |e| e + 1);
    match line[..line_end].find(field) {
        Some(at) => Cow::Borrowed(&line[at..at + field.len()]),
        None => Cow::Owned(field.to_string()),
    }
}

/// What is kept of each distinct address's answer.
#[derive(Debug, Clone, Copy)]
struct Meta {
    level: Level,
    used_context: bool,
    /// Index in the batch's reasons, for answers below 号/地番 level.
    reason: u32,
}

/// One batch of geocoded distinct addresses, starting at id `first`: their
/// encoded output columns end to end, and what the summary needs.
struct EncodedBatch {
    /// The columns that name the place (`pref,city,town,koaza,`), once per
    /// place of the batch: half the bytes of an answer, and repeated.
    places: Vec<u8>,
    /// `place_ends[p]`: where place `p` ends in `places`.
    place_ends: Vec<u32>,
    /// Per address: its place.
    place: Vec<u16>,
    /// The other columns, address after address.
    bytes: Vec<u8>,
    /// `ends[i]`: where address `i`'s columns end in `bytes`.
    ends: Vec<u32>,
    meta: Vec<Meta>,
    /// Reasons of the answers below 号/地番 level (distinct within the batch).
    reasons: Vec<String>,
}

/// The answers for the distinct addresses, by id: one slot per batch,
/// filled by whichever thread geocoded it.
pub struct Answers {
    batches: Vec<OnceLock<EncodedBatch>>,
}

impl Answers {
    /// The batch of `id` and its place in it; the batch must be done.
    fn batch(&self, id: u32) -> (&EncodedBatch, usize) {
        let id = id as usize;
        let batch = self.batches[id / BATCH]
            .get()
            .expect("every batch is geocoded before it is read");
        (batch, id % BATCH)
    }

    /// The encoded output columns of address `id`.
    /// The encoded output columns of address `id`: its place's, then its own.
    fn columns(&self, id: u32) -> (&[u8], &[u8]) {
        let (b, i) = self.batch(id);
        let start = if i == 0 { 0 } else { b.ends[i - 1] as usize };
        let p = b.place[i] as usize;
        let place_start = if p == 0 {
            0
        } else {
            b.place_ends[p - 1] as usize
        };
        (
            &b.places[place_start..b.place_ends[p] as usize],
            &b.bytes[start..b.ends[i] as usize],
        )
    }

    fn meta(&self, id: u32) -> Meta {
        let (b, i) = self.batch(id);
        b.meta[i]
    }

    fn reason(&self, id: u32) -> &str {
        let (b, i) = self.batch(id);
        b.reasons
            .get(b.meta[i].reason as usize)
            .map_or("", String::as_str)
    }

    fn len(&self) -> usize {
        self.batches
            .iter()
            .filter_map(OnceLock::get)
            .map(|b| b.meta.len())
            .sum()
    }
}

/// Geocodes and encodes one batch.
fn encode_batch(
    geocoder: &Geocoder,
    context: &Context,
    format: Format,
    addresses: &[Cow<str>],
) -> EncodedBatch {
    let mut batch = EncodedBatch {
        places: Vec::new(),
        place_ends: Vec::new(),
        place: Vec::with_capacity(addresses.len()),
        bytes: Vec::with_capacity(addresses.len() * 64),
        ends: Vec::with_capacity(addresses.len()),
        meta: Vec::with_capacity(addresses.len()),
        reasons: Vec::new(),
    };
    let mut reason_ids: FxHashMap<String, u32> = FxHashMap::default();
    // Places by the names they are made of, all borrowed from the index.
    let mut place_ids: FxHashMap<[(usize, usize); 4], u16> = FxHashMap::default();
    for a in addresses {
        geocoder.geocode_with(a, context, |found| {
            let names = [found.pref, found.city, found.town, found.koaza];
            let key = names.map(|n| (n.as_ptr() as usize, n.len()));
            let next = place_ids.len() as u16;
            let place = *place_ids.entry(key).or_insert_with(|| {
                if format == Format::Csv {
                    for name in names {
                        csv_field(&mut batch.places, name);
                        batch.places.push(b',');
                    }
                }
                batch.place_ends.push(batch.places.len() as u32);
                next
            });
            batch.place.push(place);
            match format {
                Format::Csv => encode_csv(found, &mut batch.bytes),
                Format::Jsonl | Format::Geojson => encode_json(found, &mut batch.bytes),
            }
            batch.ends.push(batch.bytes.len() as u32);
            let reason = if found.level <= Level::Block {
                let text = reason_text(found);
                let next = reason_ids.len() as u32;
                *reason_ids.entry(text).or_insert(next)
            } else {
                u32::MAX
            };
            batch.meta.push(Meta {
                level: found.level,
                used_context: found.used_context,
                reason,
            });
        });
    }
    let mut reasons: Vec<(String, u32)> = reason_ids.into_iter().collect();
    reasons.sort_unstable_by_key(|(_, id)| *id);
    batch.reasons = reasons.into_iter().map(|(r, _)| r).collect();
    batch
}

/// The columns [`encode_csv`] adds after the input's.
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

fn reason_text(g: &Found) -> String {
    if g.level == Level::Ambiguous {
        format!("{}: {}", g.reason, g.candidates.join(" | "))
    } else {
        g.reason.to_string()
    }
}

/// Writes a CSV field, quoted when it needs to be.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        out.push(b'"');
        for b in field.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// Writes `v` with `decimals` decimals exactly as `format!("{v:.7}")`
/// does, or nothing for NaN. Scaling and rounding is exact unless the
/// scaled value lies within float error of a half: only then is the
/// (slower) formatter asked.
fn fixed(out: &mut Vec<u8>, v: f64, decimals: usize) {
    use std::io::Write as _;
    if !v.is_finite() {
        return;
    }
    let scale = 10f64.powi(decimals as i32);
    let scaled = v.abs() * scale;
    let fraction = scaled.fract();
    if scaled >= 1e15 || (fraction - 0.5).abs() < 1e-6 {
        let _ = write!(out, "{v:.decimals$}");
        return;
    }
    let units = scaled.round() as u64;
    let unit = 10u64.pow(decimals as u32);
    if v.is_sign_negative() {
        out.push(b'-');
    }
    out.extend_from_slice(itoa::Buffer::new().format(units / unit).as_bytes());
    if decimals > 0 {
        out.push(b'.');
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(units % unit).as_bytes();
        out.resize(out.len() + decimals - digits.len(), b'0');
        out.extend_from_slice(digits);
    }
}

/// The added CSV columns of one answer after its place's (`addr` on).
fn encode_csv(g: &Found, out: &mut Vec<u8>) {
    for (i, n) in g.numbers.iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
    }
    out.push(b',');
    out.extend_from_slice(g.level.as_str().as_bytes());
    out.push(b',');
    fixed(out, g.lon, 7);
    out.push(b',');
    fixed(out, g.lat, 7);
    out.push(b',');
    fixed(out, g.score, 2);
    out.push(b',');
    csv_field(out, &g.remainder);
    out.push(b',');
    if g.level == Level::Ambiguous {
        csv_field(out, &reason_text(g));
    } else {
        csv_field(out, &g.reason);
    }
}

/// The added properties (`"pref":…,"reason":…`) and, after a NUL byte, the
/// geometry of one answer, as JSON.
fn encode_json(g: &Found, out: &mut Vec<u8>) {
    let text = |v: &str| serde_json::Value::String(v.to_string());
    let number = |v: f64| {
        if v.is_nan() {
            serde_json::Value::Null
        } else {
            serde_json::Value::from(v)
        }
    };
    let values = [
        text(g.pref),
        text(g.city),
        text(g.town),
        text(g.koaza),
        text(&g.addr()),
        text(g.level.as_str()),
        number((g.lon * 1e7).round() / 1e7),
        number((g.lat * 1e7).round() / 1e7),
        number((g.score * 100.0).round() / 100.0),
        text(&g.remainder),
        text(&reason_text(g)),
    ];
    for (i, (k, v)) in ADDED.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, &v);
    }
    out.push(0);
    if g.lon.is_nan() {
        out.extend_from_slice(b"null");
    } else {
        let point = serde_json::json!({"type": "Point", "coordinates": [g.lon, g.lat]});
        let _ = serde_json::to_writer(&mut *out, &point);
    }
}

/// Reads the rows while the other cores geocode the distinct addresses
/// found so far, then writes the rows in order as their answers come,
/// geocoding on this thread too whenever the next row's answer is not done.
pub fn geocode_and_write(
    geocoder: &Geocoder,
    text: &str,
    job: &Job,
    context: &Context,
    out: &mut dyn Write,
    progress: &indicatif::ProgressBar,
) -> Result<(InputRows, Answers)> {
    type Batch<'t> = (u32, Vec<Cow<'t, str>>);
    let (tx, rx) = mpsc::channel::<Batch>();
    let rx = Mutex::new(rx);
    // A slot per batch there can be: a row takes at least two bytes. The
    // rows expected, from the length of the first lines, size the table of
    // distinct addresses.
    let bytes = text.as_bytes();
    let sample = &bytes[..bytes.len().min(1 << 16)];
    let sample_lines = memchr::memchr_iter(b'\n', sample).count().max(1);
    let lines = bytes.len() / (sample.len() / sample_lines).max(1) + 1;
    let answers = Answers {
        batches: (0..bytes.len() / 2 / BATCH + 2)
            .map(|_| OnceLock::new())
            .collect(),
    };
    let encode = |(first, addresses): Batch| {
        let batch = encode_batch(geocoder, context, job.format, &addresses);
        progress.inc(addresses.len() as u64);
        // Each batch is sent once, so its slot is empty.
        let _ = answers.batches[first as usize / BATCH].set(batch);
    };
    let work = || loop {
        let next = rx.lock().expect("queue lock").recv();
        let Ok(batch) = next else { break };
        encode(batch);
    };
    // Waits for the batch of `id`, geocoding queued batches meanwhile.
    let wait_for = |id: u32| {
        let slot = &answers.batches[id as usize / BATCH];
        let mut idle = 0u32;
        while slot.get().is_none() {
            let queued = rx.try_lock().ok().and_then(|rx| rx.try_recv().ok());
            match queued {
                Some(batch) => encode(batch),
                // Another thread has the batch: it is a few milliseconds away.
                None if idle < 64 => {
                    idle += 1;
                    std::thread::yield_now()
                }
                None => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    };
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);
    let (input, written) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        let input = read_rows(
            text,
            lines,
            job.input,
            job.address_column,
            |first, batch| {
                let _ = tx.send((first, batch));
            },
        );
        drop(tx);
        let written = match &input {
            Ok(input) => write_results(out, job.format, job.encoding, text, input, &|id| {
                wait_for(id);
                answers.columns(id)
            })
            .map_err(output_error),
            Err(_) => {
                // Nothing to write: let the queue drain.
                work();
                Ok(())
            }
        };
        for h in handles {
            h.join().expect("geocoding thread");
        }
        (input, written)
    });
    let input = input?;
    written?;
    if answers.len() != input.distinct {
        return Err(GeocodeError::Internal(format!(
            "{} of {} addresses geocoded",
            answers.len(),
            input.distinct
        )));
    }
    Ok((input, answers))
}

/// Line numbers (1-based, the header is 1) of rows, asked for in order:
/// counted from the row starts, since a quoted field can hold line breaks
/// (and a record's start can sit on the previous line's terminator).
struct LineCounter<'a> {
    bytes: &'a [u8],
    counted: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> LineCounter<'a> {
        LineCounter {
            bytes: text.as_bytes(),
            counted: 0,
            line: 1,
        }
    }

    /// The line of the row starting at `start` (not before the last asked).
    fn line_at(&mut self, start: usize) -> u64 {
        let mut start = start.min(self.bytes.len()).max(self.counted);
        while matches!(self.bytes.get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        self.line += memchr::memchr_iter(b'\n', &self.bytes[self.counted..start]).count() as u64;
        self.counted = start;
        self.line
    }
}

/// Rows below 号/地番 level grouped by reason, with their first line numbers.
/// In one pass over the rows: rows by level, rows whose city came from the
/// context, and the report of the rows below 号/地番 level.
fn tally(
    text: &str,
    input: &InputRows,
    answers: &Answers,
) -> (BTreeMap<Level, usize>, usize, String) {
    let mut by_level = [0usize; 8];
    let mut by_context = 0;
    // Reasons are numbered per batch; one group per (level, reason) text.
    let mut group_of: FxHashMap<(Level, &str), usize> = FxHashMap::default();
    let mut groups: Vec<(Level, &str, usize, Vec<u64>)> = Vec::new();
    let mut by_batch: Vec<Vec<Option<usize>>> = answers
        .batches
        .iter()
        .map(|b| vec![None; b.get().map_or(0, |b| b.reasons.len())])
        .collect();
    let mut lines = LineCounter::new(text);
    for (&id, &start) in input.ids.iter().zip(&input.starts) {
        let meta = answers.meta(id);
        by_level[meta.level as usize] += 1;
        by_context += usize::from(meta.used_context);
        if meta.level > Level::Block {
            continue;
        }
        let batch = id as usize / BATCH;
        let local = meta.reason as usize;
        let group = match by_batch[batch].get(local).copied().flatten() {
            Some(g) => g,
            None => {
                let reason = answers.reason(id);
                let next = groups.len();
                let g = *group_of.entry((meta.level, reason)).or_insert(next);
                if g == next {
                    groups.push((meta.level, reason, 0, Vec::new()));
                }
                if let Some(slot) = by_batch[batch].get_mut(local) {
                    *slot = Some(g);
                }
                g
            }
        };
        let entry = &mut groups[group];
        entry.2 += 1;
        if entry.3.len() < 10 {
            entry.3.push(lines.line_at(start));
        }
    }
    groups.sort_by_key(|g| (std::cmp::Reverse(g.2), g.0, g.1));
    let mut out = String::new();
    for (level, reason, count, lines) in groups {
        let shown: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        out.push_str(&format!(
            "{:>7} rows  {:<12} {}  (lines {}{})\n",
            count,
            level.as_str(),
            reason,
            shown.join(", "),
            if count > 10 { ", …" } else { "" }
        ));
    }
    let levels = Level::ALL
        .into_iter()
        .filter(|l| by_level[*l as usize] > 0)
        .map(|l| (l, by_level[l as usize]))
        .collect();
    (levels, by_context, out)
}

/// The raw text of row `i`, without its line ending.
fn raw_line<'t>(text: &'t str, starts: &[usize], i: usize) -> &'t str {
    let start = starts[i];
    let end = starts.get(i + 1).copied().unwrap_or(text.len());
    text[start..end].trim_matches(['\r', '\n'])
}

/// The error of a failed output: a character CP932 lacks, with its line,
/// or the writer's own.
fn output_error(e: std::io::Error) -> GeocodeError {
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

/// Writes the rows with their matches; `encoding` applies to CSV (JSON
/// lines and GeoJSON are UTF-8).
fn write_results<'a>(
    out: &mut dyn Write,
    format: Format,
    encoding: CsvEncoding,
    text: &str,
    input: &InputRows,
    columns: &dyn Fn(u32) -> (&'a [u8], &'a [u8]),
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
            // Rows are gathered into chunks of about a megabyte, written
            // whole (a write per row costs more than the copy).
            let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
            let mut line = Vec::new();
            let mut lines = LineCounter::new(text);
            for (i, &id) in input.ids.iter().enumerate() {
                let raw = raw_line(text, &input.starts, i).as_bytes();
                match encoding {
                    CsvEncoding::Utf8 { .. } => {
                        let (place, own) = columns(id);
                        chunk.extend_from_slice(raw);
                        chunk.push(b',');
                        chunk.extend_from_slice(place);
                        chunk.extend_from_slice(own);
                        chunk.push(b'\n');
                    }
                    CsvEncoding::Cp932 => {
                        let (place, own) = columns(id);
                        line.clear();
                        line.extend_from_slice(raw);
                        line.push(b',');
                        line.extend_from_slice(place);
                        line.extend_from_slice(own);
                        line.push(b'\n');
                        let at = lines.line_at(input.starts[i]);
                        chunk.extend_from_slice(&cp932_line(&line, at)?);
                    }
                }
                if chunk.len() >= CHUNK {
                    out.write_all(&chunk)?;
                    chunk.clear();
                }
            }
            out.write_all(&chunk)?;
        }
        Format::Jsonl | Format::Geojson => {
            let geojson = matches!(format, Format::Geojson);
            if geojson {
                out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
            }
            for (i, &id) in input.ids.iter().enumerate() {
                let line = raw_line(text, &input.starts, i);
                let row = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(line.as_bytes())
                    .records()
                    .next()
                    .transpose()?
                    .unwrap_or_default();
                let (_, encoded) = columns(id);
                let split = encoded
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(encoded.len());
                let (added, geometry) = (
                    &encoded[..split],
                    &encoded[(split + 1).min(encoded.len())..],
                );
                let mut props = Vec::with_capacity(line.len() * 2 + added.len() + 2);
                props.push(b'{');
                for (h, v) in input.headers.iter().zip(row.iter()) {
                    serde_json::to_writer(&mut props, h)?;
                    props.push(b':');
                    serde_json::to_writer(&mut props, v)?;
                    props.push(b',');
                }
                props.extend_from_slice(added);
                props.push(b'}');
                if geojson {
                    if i > 0 {
                        out.write_all(b",\n")?;
                    }
                    write!(out, "{{\"type\":\"Feature\",\"id\":{},\"geometry\":", i + 1)?;
                    out.write_all(geometry)?;
                    out.write_all(b",\"properties\":")?;
                    out.write_all(&props)?;
                    out.write_all(b"}")?;
                } else {
                    out.write_all(&props)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_decimals_as_format_writes_them() {
        let mut out = Vec::new();
        fixed(&mut out, f64::NAN, 7);
        assert!(out.is_empty());
        // Coordinates across Japan, and scores.
        let mut v = 122.93;
        while v < 154.0 {
            for (x, d) in [(v, 7), (v - 100.0, 7), (v / 200.0, 2), (-v, 7)] {
                out.clear();
                fixed(&mut out, x, d);
                assert_eq!(String::from_utf8(out.clone()).unwrap(), format!("{x:.d$}"));
            }
            v += 0.000_123_457_1;
        }
        for (x, d) in [(0.95, 2), (0.55, 2), (1.0, 2), (35.00000005, 7), (-0.0, 7)] {
            out.clear();
            fixed(&mut out, x, d);
            assert_eq!(
                String::from_utf8(out.clone()).unwrap(),
                format!("{x:.d$}"),
                "{x}"
            );
        }
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = Vec::new();
        csv_field(&mut out, "a,b");
        csv_field(&mut out, "say \"hi\"");
        csv_field(&mut out, "plain");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\"\"say \"\"hi\"\"\"plain"
        );
    }

    #[test]
    fn line_numbers_count_quoted_line_breaks() {
        let text = "h\na\n\"b\nc\"\nd\n";
        let mut lines = LineCounter::new(text);
        let found: Vec<u64> = [2, 4, 10].iter().map(|&s| lines.line_at(s)).collect();
        assert_eq!(found, [2, 3, 5]);
        // A start on the previous line's terminator is the next line.
        let mut lines = LineCounter::new("h\r\na\r\nb\r\n");
        assert_eq!(lines.line_at(1), 2);
        assert_eq!(lines.line_at(5), 3);
    }

    #[test]
    fn distinct_addresses_are_numbered_in_order() {
        let text = "白山1-1-1,本郷2-2-2,白山1-1-1";
        let mut d = Distinct::with_capacity(text, 2);
        let parts: Vec<&str> = text.split(',').collect();
        let (a, b, again) = (
            Cow::Borrowed(parts[0]),
            Cow::Borrowed(parts[1]),
            Cow::Borrowed(parts[2]),
        );
        let quoted: Cow<str> = Cow::Owned("本郷2-2-2".to_string());
        let mut id_of = |c: &Cow<'static, str>| d.id_of(c, hash_of(c));
        assert_eq!(id_of(&a), (0, true));
        assert_eq!(id_of(&b), (1, true));
        assert_eq!(id_of(&again), (0, false));
        assert_eq!(id_of(&quoted), (1, false));
        assert_eq!(id_of(&Cow::Owned("千石1".into())), (2, true));
        // Enough addresses to grow the table, and find them all again.
        let many: Vec<String> = (0..5000).map(|i| format!("白山{i}")).collect();
        for (i, m) in many.iter().enumerate() {
            assert_eq!(id_of(&Cow::Owned(m.clone())), (3 + i as u32, true));
        }
        for (i, m) in many.iter().enumerate() {
            assert_eq!(id_of(&Cow::Owned(m.clone())), (3 + i as u32, false));
        }
        assert_eq!(id_of(&a), (0, false));
        assert_eq!(d.len(), 5003);
    }

    #[test]
    fn fields_of_plain_lines() {
        assert_eq!(nth_field("a,b,c", 0), "a");
        assert_eq!(nth_field("a,b,c", 1), "b");
        assert_eq!(nth_field("a,b,c", 2), "c");
        assert_eq!(nth_field("a,b,c", 3), "");
        assert_eq!(nth_field("a,,c", 1), "");
        assert_eq!(nth_field("住民,文京区白山1-1-1", 1), "文京区白山1-1-1");
    }

    #[test]
    fn plain_lines_are_recognised() {
        assert!(plain_lines(b"a,b\nc,d\n"));
        assert!(plain_lines(b"a,b\r\nc,d\r\n"));
        assert!(!plain_lines(b"a,\"b\"\nc,d\n"));
        assert!(!plain_lines(b"a,b\rc,d\r"));
    }
}
