//! Geocoding many addresses at once: each distinct address once, on all
//! cores, and the addresses of one municipality in its context. The file
//! pipeline (read a CSV, geocode, write it back) is [`crate::file`].

use std::collections::BTreeMap;

use crate::error::{GeocodeError, Result};
use crate::reference::{self, BuildSources};
use crate::{Context, Geocoded, Geocoder, Level};

pub fn build_from(sources: &BuildSources) -> Result<reference::ReferenceData> {
    for d in &sources.abr_dirs {
        if !d.is_dir() {
            return Err(GeocodeError::NoAbrDirectory { path: d.clone() });
        }
    }
    reference::build(sources)
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
