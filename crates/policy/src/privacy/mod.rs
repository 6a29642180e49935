//! Residents' personal data: which layers hold it, and what each role may see
//! of them.
//!
//! Every layer carries a [`Privacy`] kind. Open layers (flood zones, pipes)
//! are served as they are. For layers whose features are people, the caller's
//! role decides which records are served (all, those matching the role's
//! `rows` filter, those of analyses granted to it, or none) and which personal
//! fields survive ([`mask`]: dropped, or a birth date generalised to an age
//! band). Aggregates of people are exact for planners and perturbed
//! ([`perturbation`]) for everyone else; saved analyses read their inputs
//! through their author's view ([`AuthorViews`]). The service builds such a *view* once
//! per collection, role and day, and every request parameter (`filter`,
//! `properties`, `bbox`) then works on the view, so a filter can never probe
//! a field the role does not see.

pub mod perturbation;
pub mod pseudonyms;

use std::collections::BTreeMap;

pub use chiiki_core::sensitivity::{resident_fields, Privacy};
use chrono::NaiveDate;
pub use pseudonyms::{
    pseudonym, pseudonym_key_path, KeyPlace, PseudonymKey, KEY_DOCUMENT as PSEUDONYM_KEY_DOCUMENT,
};

use crate::auth::{PersonalField, Records, RoleDef};
use chiiki_core::layers::column::date_from_days;
use chiiki_core::layers::{Column, ColumnData, FieldType, Layer, LayerParts, Value};

/// Why a role may not read a collection's records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("role '{0}' sees residents only as aggregates")]
    AggregatesOnly(String),
    #[error("role '{0}' reads individual records only through saved analyses granted to it")]
    NotGranted(String),
    #[error("role '{role}' reads only records matching its `rows` filter, which does not apply to this collection: {reason}")]
    RowsFilter { role: String, reason: String },
}

/// The five-year age band of someone born on `birth`, for a view on
/// `as_of` (`"65-69"`; `"90+"` at the top, where people are few).
///
/// The band is that of the *fiscal-year age* (年度年齢): the age on 1 April
/// of the fiscal year that contains `as_of` (fiscal years run from 1 April
/// to 31 March), the age Japanese municipalities use for school years and
/// many eligibilities. Every band therefore changes on 1 April, for
/// everyone at once. A band that turned on each person's birthday would
/// give the birthday away to anyone who watched a pseudonym's band from day
/// to day. People born on 1 April reach their new age on that day, as the
/// registry counts it, and so move up on that 1 April like everybody else.
pub fn age_band(birth: NaiveDate, as_of: NaiveDate) -> String {
    let age = chiiki_query::age::age_on(birth, fiscal_year_start(as_of)).max(0);
    if age >= 90 {
        "90+".to_string()
    } else {
        let low = age / 5 * 5;
        format!("{low}-{}", low + 4)
    }
}

/// 1 April of the fiscal year (年度) that contains `day`.
fn fiscal_year_start(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    let year = if day.month() >= 4 {
        day.year()
    } else {
        day.year() - 1
    };
    NaiveDate::from_ymd_opt(year, 4, 1).expect("1 April exists every year")
}

/// How a view treats one personal column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRule {
    /// Shown as stored.
    Keep,
    /// A birth date shown as a five-year age band (`age_band`).
    AgeBand,
    /// Not shown at all.
    Drop,
}

/// A role's view of a collection of people, in a form any store can apply:
/// a row predicate (CQL2 on the collection), a rule for each personal
/// column (other columns are kept), and whether ids become pseudonyms.
/// The in-memory service applies it once per day with [`materialise`]; a
/// SQL store can turn it into a WHERE clause, a SELECT list and a keyed
/// hash of the id column.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSpec {
    /// The records shown: all when `None`.
    pub rows: Option<String>,
    /// Personal columns by name, with what the view does to each.
    pub columns: BTreeMap<String, ColumnRule>,
    /// `Some(population)`: the ids of that population are replaced by
    /// [`pseudonym`]s, keyed by the role and the collection.
    pub pseudonymise: Option<String>,
}

/// What `role` may see of a collection labelled `privacy` (a layer of
/// individuals, or derived from them), or why it may see nothing.
/// `granted` says whether the collection is a saved analysis that names the role.
pub fn view_spec(privacy: &Privacy, role: &RoleDef, granted: bool) -> Result<ViewSpec, Refusal> {
    let derived = matches!(privacy, Privacy::Derived { .. });
    let rows = match role.records {
        Records::None => return Err(Refusal::AggregatesOnly(role.name.clone())),
        Records::Granted if !granted => return Err(Refusal::NotGranted(role.name.clone())),
        Records::All | Records::Granted => None,
        // Derived features are not people: the filter on people does not apply,
        // and their attached personal fields are hidden below.
        Records::Filtered if derived => None,
        Records::Filtered => Some(role.rows.clone().unwrap_or_else(|| "FALSE".into())),
    };
    let hide_all = derived && role.records != Records::All;
    let columns = privacy
        .fields()
        .into_iter()
        .flatten()
        .map(|(name, &kind)| {
            let rule = if hide_all {
                ColumnRule::Drop
            } else if role.sees(kind) {
                ColumnRule::Keep
            } else if kind == PersonalField::BirthDate {
                ColumnRule::AgeBand
            } else {
                ColumnRule::Drop
            };
            (name.clone(), rule)
        })
        .collect();
    // The ids of people are their 住民票コード: a role that may not see
    // those gets stable pseudonyms instead.
    let pseudonymise = match privacy {
        Privacy::Individuals { population, .. } if !role.sees(PersonalField::ResidentCode) => {
            Some(population.clone())
        }
        _ => None,
    };
    Ok(ViewSpec {
        rows,
        columns,
        pseudonymise,
    })
}

/// `layer` as `spec` shows it to `role` on `as_of`: its records picked (in
/// their order, spatial or an analysis's ranking), personal columns kept,
/// generalised or dropped, ids pseudonymised with `key` for this role and
/// this collection (the layer's id).
pub fn materialise(
    layer: &Layer,
    spec: &ViewSpec,
    role: &str,
    as_of: NaiveDate,
    key: &PseudonymKey,
) -> Result<Layer, Refusal> {
    let rows: Vec<u32> = match &spec.rows {
        None => (0..layer.len() as u32).collect(),
        Some(text) => {
            let filter =
                chiiki_query::Filter::on_date(text, layer, chiiki_core::crs::Crs::Crs84, as_of)
                    .map_err(|e| Refusal::RowsFilter {
                        role: role.to_string(),
                        reason: e.to_string(),
                    })?;
            filter.select(layer, None)
        }
    };
    let fields = layer.meta.privacy.fields().cloned().unwrap_or_default();
    let mut columns = Vec::new();
    let mut kept = BTreeMap::new();
    for column in &layer.columns {
        match spec.columns.get(&column.name) {
            None => columns.push(column.permute(&rows)),
            Some(ColumnRule::Keep) => {
                if let Some(&kind) = fields.get(&column.name) {
                    kept.insert(column.name.clone(), kind);
                }
                columns.push(column.permute(&rows));
            }
            Some(ColumnRule::AgeBand) => columns.push(age_bands(column, &rows, as_of)),
            Some(ColumnRule::Drop) => {}
        }
    }
    let mut meta = layer.meta.clone();
    meta.privacy = match meta.privacy {
        Privacy::Individuals { population, .. } => Privacy::Individuals {
            population,
            fields: kept,
        },
        Privacy::Derived { population, .. } => Privacy::Derived {
            population,
            fields: kept,
        },
        other => other,
    };
    if meta
        .time_field
        .as_ref()
        .is_some_and(|t| !columns.iter().any(|c| &c.name == t))
    {
        meta.time_field = None;
    }
    let geometries = layer.geometries.pick(&rows);
    let ids: Vec<i64> = rows.iter().map(|&r| layer.fids[r as usize]).collect();
    let (fids, record_ids) = match &spec.pseudonymise {
        Some(_) => {
            let fids = ids
                .iter()
                .map(|&id| pseudonym(key, role, &layer.meta.id, id))
                .collect();
            (fids, Some(ids))
        }
        None => (ids, None),
    };
    // Rows keep their order (spatial, or the ranking of an analysis).
    let mut view = Layer::from_sorted(LayerParts {
        meta,
        fids,
        geometries,
        columns,
    });
    view.record_ids = record_ids;
    Ok(view)
}

fn age_bands(birth: &Column, rows: &[u32], as_of: NaiveDate) -> Column {
    let mut out = Column::new("age_band", FieldType::Text);
    for &r in rows {
        let v = match &birth.data {
            ColumnData::Date(d) if !birth.is_null(r as usize) => {
                Value::Text(age_band(date_from_days(d[r as usize]), as_of))
            }
            _ => Value::Null,
        };
        out.push(v).expect("text into a text column");
    }
    out
}

/// What `role` may read of a layer of individuals (or derived from them):
/// the materialised view, or why not. `granted` says whether the
/// collection is a saved analysis that names the role.
pub fn individual_view(
    layer: &Layer,
    role: &RoleDef,
    granted: bool,
    as_of: NaiveDate,
    key: &PseudonymKey,
) -> Result<Layer, Refusal> {
    let spec = view_spec(&layer.meta.privacy, role, granted)?;
    materialise(layer, &spec, &role.name, as_of, key)
}

/// Views already materialised, by collection and role, for one day and one
/// generation of saved analyses: a role's view of a collection is built
/// once, and every request of the day is answered from it.
#[derive(Default)]
pub struct ViewCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String), CachedView>>,
}

struct CachedView {
    day: NaiveDate,
    generation: u64,
    view: std::sync::Arc<Layer>,
}

impl ViewCache {
    /// The cached view of `collection` for `role`, or the one `build` makes
    /// (then kept for the rest of `day` and `generation`).
    pub fn get_or_build(
        &self,
        collection: &str,
        role: &str,
        day: NaiveDate,
        generation: u64,
        build: impl FnOnce() -> Result<Layer, Refusal>,
    ) -> Result<std::sync::Arc<Layer>, Refusal> {
        let key = (collection.to_string(), role.to_string());
        if let Some(c) = self.lock().get(&key) {
            if c.day == day && c.generation == generation {
                return Ok(c.view.clone());
            }
        }
        // Built outside the lock: other collections' requests go on meanwhile.
        let view = std::sync::Arc::new(build()?);
        self.lock().insert(
            key,
            CachedView {
                day,
                generation,
                view: view.clone(),
            },
        );
        Ok(view)
    }

    /// Forgets every view (after the set of analyses changed).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), CachedView>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the author of a saved analysis may read of its inputs: the same
/// views the author's role gets over HTTP, so an analysis can never widen
/// what its author sees (nor, through a grant, what anyone else sees).
pub struct AuthorViews<'a> {
    pub roles: &'a crate::auth::Roles,
    pub as_of: NaiveDate,
    /// The key pseudonyms are made with.
    pub key: &'a PseudonymKey,
    /// Views already built (the service's), with their generation.
    pub cache: Option<(&'a ViewCache, u64)>,
}

impl chiiki_analysis::InputView for AuthorViews<'_> {
    fn view(
        &self,
        author: &str,
        input: std::sync::Arc<Layer>,
    ) -> Result<std::sync::Arc<Layer>, chiiki_analysis::AnalysisError> {
        let refuse = |reason: String| chiiki_analysis::AnalysisError::NotReadable {
            input: input.meta.id.clone(),
            reason,
        };
        let role = self.roles.get(author).ok_or_else(|| {
            refuse(format!(
                "the analysis's author role '{author}' is not defined"
            ))
        })?;
        let access = &input.meta.access;
        let allowed = access.public || role.admin || access.roles.iter().any(|r| r == author);
        if !allowed {
            // As missing as one that does not exist: no oracle of what is there.
            return Err(chiiki_analysis::AnalysisError::UnknownInput(
                input.meta.id.clone(),
            ));
        }
        match &input.meta.privacy {
            Privacy::Open => Ok(input),
            Privacy::Aggregate { .. } if role.exact_aggregates => Ok(input),
            Privacy::Aggregate { .. } => Err(refuse(format!(
                "role '{author}' reads counts of people only perturbed, and perturbed counts are not an input"
            ))),
            Privacy::Individuals { .. } | Privacy::Derived { .. } => {
                let granted = access.roles.iter().any(|r| r == author);
                let build = || individual_view(&input, role, granted, self.as_of, self.key);
                let view = match self.cache {
                    Some((cache, generation)) => cache.get_or_build(
                        &input.meta.id,
                        author,
                        self.as_of,
                        generation,
                        build,
                    ),
                    None => build().map(std::sync::Arc::new),
                };
                view.map_err(|e| refuse(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Roles;
    use chiiki_core::layers::column::days_from_date as day;
    use chiiki_core::layers::{Geometries, LayerMeta};

    fn people() -> Layer {
        people_in("residents")
    }

    /// The three residents as collection `id`.
    fn people_in(id: &str) -> Layer {
        let mut columns = vec![
            Column::new("resident_id", FieldType::Text),
            Column::new("name", FieldType::Text),
            Column::new("birth_date", FieldType::Date),
            Column::new("needs_support", FieldType::Boolean),
            Column::new("flood_depth_rank", FieldType::Integer),
        ];
        let rows = [
            ("1", "山田太郎", "1950-04-01", true, None),
            ("2", "佐藤花子", "1990-12-31", false, Some(2)),
            ("3", "鈴木一郎", "1985-06-15", false, None),
        ];
        for (id, name, birth, support, rank) in rows {
            let d = NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap();
            columns[0].push(Value::Text(id.into())).unwrap();
            columns[1].push(Value::Text(name.into())).unwrap();
            columns[2].push(Value::Date(day(d))).unwrap();
            columns[3].push(Value::Boolean(support)).unwrap();
            columns[4]
                .push(rank.map_or(Value::Null, Value::Integer))
                .unwrap();
        }
        Layer::new(LayerParts {
            meta: LayerMeta {
                id: id.into(),
                privacy: Privacy::Individuals {
                    population: "residents".into(),
                    fields: resident_fields(),
                },
                ..Default::default()
            },
            fids: vec![1, 2, 3],
            geometries: Geometries::Points(vec![[139.75, 35.71], [139.76, 35.72], [139.74, 35.70]]),
            columns,
        })
    }

    fn key() -> PseudonymKey {
        PseudonymKey::from_bytes(1, b"k")
    }

    fn names(l: &Layer) -> Vec<&str> {
        l.columns.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn planner_sees_support_and_hazard_records_by_name() {
        // A deployment (the demo) widens the planner's rows to its hazard column.
        let mut planner = Roles::default().get("planner").unwrap().clone();
        planner.rows = Some("needs_support = TRUE OR flood_depth_rank IS NOT NULL".into());
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let v = individual_view(&people(), &planner, false, as_of, &key()).unwrap();
        let mut fids = v.fids.clone();
        fids.sort();
        assert_eq!(fids, vec![1, 2]);
        assert!(names(&v).contains(&"name") && names(&v).contains(&"birth_date"));
    }

    #[test]
    fn the_shipped_planner_reads_the_support_list_only() {
        let roles = Roles::default();
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let v = individual_view(
            &people(),
            roles.get("planner").unwrap(),
            false,
            as_of,
            &key(),
        )
        .unwrap();
        assert_eq!(v.fids, vec![1]);
    }

    #[test]
    fn health_sees_granted_records_with_age_bands_only() {
        let roles = Roles::default();
        let health = roles.get("health").unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert_eq!(
            individual_view(&people(), health, false, as_of, &key()).err(),
            Some(Refusal::NotGranted("health".into()))
        );
        let v = individual_view(&people(), health, true, as_of, &key()).unwrap();
        assert_eq!(
            names(&v),
            vec!["name", "age_band", "needs_support", "flood_depth_rank"]
        );
        // Ids are pseudonyms, stable, and the audit keeps the real ones.
        assert!(!v.fids.contains(&1));
        let row = v
            .row_of(pseudonym(&key(), "health", "residents", 1))
            .unwrap();
        assert_eq!(v.record_ids.as_ref().unwrap()[row], 1);
        assert_eq!(v.columns[1].get(row), Value::Text("75-79".into()));
        let analyst = roles.get("analyst").unwrap();
        assert!(individual_view(&people(), analyst, true, as_of, &key()).is_err());
    }

    #[test]
    fn pseudonyms_differ_by_collection_role_and_key_and_hold_otherwise() {
        let roles = Roles::default();
        let health = roles.get("health").unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let fids = |layer: &Layer, role: &RoleDef, key: &PseudonymKey| {
            individual_view(layer, role, true, as_of, key).unwrap().fids
        };
        let people = people();
        let seen = fids(&people, health, &key());
        // The same role, collection and key: the same pseudonyms, every day.
        assert_eq!(seen, fids(&people, health, &key()));
        let next_year = NaiveDate::from_ymd_opt(2027, 10, 1).unwrap();
        let later = individual_view(&people, health, true, next_year, &key()).unwrap();
        assert_eq!(seen, later.fids);
        // Another collection of the same people: no id in common.
        let outreach = people_in("care_outreach_flood");
        let elsewhere = fids(&outreach, health, &key());
        assert!(seen.iter().all(|f| !elsewhere.contains(f)));
        // Another role with the same rights: no id in common either.
        let mut welfare = health.clone();
        welfare.name = "welfare".into();
        let other_role = fids(&people, &welfare, &key());
        assert!(seen.iter().all(|f| !other_role.contains(f)));
        // A new key: every pseudonym changes.
        let rotated = fids(&people, health, &PseudonymKey::from_bytes(2, b"k2"));
        assert!(seen.iter().all(|f| !rotated.contains(f)));
    }

    #[test]
    fn a_view_is_a_projection_a_predicate_and_pseudonyms() {
        let layer = people();
        let roles = Roles::default();
        let health = view_spec(&layer.meta.privacy, roles.get("health").unwrap(), true).unwrap();
        assert_eq!(health.rows, None);
        assert_eq!(health.columns["name"], ColumnRule::Keep);
        assert_eq!(health.columns["birth_date"], ColumnRule::AgeBand);
        assert_eq!(health.columns["resident_id"], ColumnRule::Drop);
        assert_eq!(health.pseudonymise.as_deref(), Some("residents"));
        let planner = view_spec(&layer.meta.privacy, roles.get("planner").unwrap(), false).unwrap();
        assert_eq!(planner.rows.as_deref(), Some("needs_support = TRUE"));
        assert_eq!(planner.columns["resident_id"], ColumnRule::Keep);
        assert_eq!(planner.pseudonymise, None);
        // Derived features hide every attached personal field from a filtered role.
        let derived = Privacy::Derived {
            population: "residents".into(),
            fields: resident_fields(),
        };
        let spec = view_spec(&derived, roles.get("planner").unwrap(), false).unwrap();
        assert_eq!(spec.rows, None);
        assert!(spec.columns.values().all(|r| *r == ColumnRule::Drop));
        // Materialising the spec gives the same view as before the split.
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let v = materialise(&layer, &health, "health", as_of, &key()).unwrap();
        assert_eq!(
            names(&v),
            vec!["name", "age_band", "needs_support", "flood_depth_rank"]
        );
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn the_view_cache_builds_once_per_day_and_generation() {
        let cache = ViewCache::default();
        let day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let builds = std::cell::Cell::new(0);
        let build = || {
            builds.set(builds.get() + 1);
            Ok(people())
        };
        cache
            .get_or_build("residents", "planner", day, 0, build)
            .unwrap();
        cache
            .get_or_build("residents", "planner", day, 0, build)
            .unwrap();
        assert_eq!(builds.get(), 1);
        cache
            .get_or_build("residents", "planner", day.succ_opt().unwrap(), 0, build)
            .unwrap();
        cache
            .get_or_build("residents", "planner", day.succ_opt().unwrap(), 1, build)
            .unwrap();
        cache
            .get_or_build("residents", "health", day.succ_opt().unwrap(), 1, build)
            .unwrap();
        assert_eq!(builds.get(), 4);
        cache.clear();
        cache
            .get_or_build("residents", "health", day.succ_opt().unwrap(), 1, build)
            .unwrap();
        assert_eq!(builds.get(), 5);
    }

    #[test]
    fn age_bands_change_only_on_the_first_of_april() {
        use chrono::Datelike;
        let on = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // Born 2 October 1961: 64 on 1 April 2026, 65 on their birthday.
        let b = on(1961, 10, 2);
        for day in [
            on(2026, 4, 1),
            on(2026, 10, 1),
            on(2026, 10, 2),
            on(2027, 3, 31),
        ] {
            assert_eq!(
                age_band(b, day),
                "60-64",
                "{day}: the birthday changes nothing"
            );
        }
        assert_eq!(age_band(b, on(2027, 4, 1)), "65-69");
        // Whatever the birthday, a band changes on 1 April and on no other day.
        for birth in [
            on(1961, 4, 1),
            on(1961, 4, 2),
            on(1962, 1, 15),
            on(1962, 3, 31),
        ] {
            let mut day = on(2025, 1, 1);
            let mut band = age_band(birth, day);
            while day < on(2029, 1, 1) {
                day = day.succ_opt().unwrap();
                let next = age_band(birth, day);
                if next != band {
                    assert_eq!((day.month(), day.day()), (4, 1), "{birth} changed on {day}");
                    band = next;
                }
            }
        }
        // Someone born on 1 April moves up on that very 1 April.
        assert_eq!(age_band(on(1961, 4, 1), on(2026, 3, 31)), "60-64");
        assert_eq!(age_band(on(1961, 4, 1), on(2026, 4, 1)), "65-69");
        assert_eq!(age_band(on(1920, 1, 1), on(2026, 10, 1)), "90+");
    }
}
