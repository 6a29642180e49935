//! Parameters of a saved question: values a reader may change when asking
//! it (an age threshold, a depth rank, a distance, a mesh level), each
//! bounded by the analysis's author.
//!
//! A parameter appears in the definition's CQL2 filters as `${name}`, or
//! sets the join's distance or the aggregate's mesh level (`sets`). The
//! saved definition runs with the defaults; [`Analysis::with_values`] gives
//! the definition for other values. Values are checked against the
//! declared bounds and written into filters as numbers or quoted strings,
//! never as text the caller chose.
//!
//! ```
//! use chiiki_analysis::Analysis;
//! let a: Analysis = serde_json::from_value(serde_json::json!({
//!     "id": "elderly_in_flood", "title": "65歳以上 in flood zones",
//!     "kind": "join",
//!     "left": {"layer": "residents", "filter": "age >= ${age}"},
//!     "right": {"layer": "flood_depth", "filter": "depth_rank >= ${depth_rank}"},
//!     "relation": {"type": "within"},
//!     "parameters": [
//!         {"name": "age", "label": "年齢 (以上)", "default": 65, "min": 60, "max": 90, "step": 1},
//!         {"name": "depth_rank", "label": "浸水深ランク (以上)", "default": 2, "min": 1, "max": 5, "step": 1}
//!     ]
//! })).unwrap();
//! let asked = a.with_values(&[("depth_rank".into(), "3".into())]).unwrap();
//! assert_eq!(asked.filters(), vec!["age >= 65", "depth_rank >= 3"]);
//! assert!(a.with_values(&[("depth_rank".into(), "9".into())]).is_err());
//! assert!(a.with_values(&[("depth_rank".into(), "1 OR 1=1".into())]).is_err());
//! ```

use serde::{Deserialize, Serialize};

use crate::{Analysis, AnalysisError, Operation, Relation, Result, Target};

/// One value a reader may set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// `[a-z][a-z0-9_]*`; `${name}` in filters, `param.name=` in requests.
    pub name: String,
    /// What a form shows (Japanese).
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    pub default: ParamValue,
    /// Bounds of a number (both required for numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A number must be a multiple of `step` from `min` (1 for whole numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// The values a text parameter may take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What it sets besides `${name}` in filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets: Option<Setting>,
}

/// A parameter's value: a number or one of its choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Number(f64),
    Text(String),
}

/// A part of the definition a parameter sets directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The join's distance in metres (`within_distance`, `beyond_distance`, `nearest`,
    /// `within_walking`, `beyond_walking`).
    Distance,
    /// The aggregate's JIS mesh level (`{"mesh": ...}`).
    Mesh,
    /// Visit rounds' largest number of homes (`max_homes`).
    MaxHomes,
}

impl ParamValue {
    /// As written into a CQL2 filter: a number, or a quoted string.
    fn literal(&self) -> String {
        match self {
            ParamValue::Number(n) => number_text(*n),
            ParamValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        }
    }
}

/// `3` for whole numbers, else the shortest exact decimal (`0.35`).
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl Parameter {
    /// `text` as this parameter's value, or why not.
    pub fn parse(&self, text: &str) -> Result<ParamValue> {
        let bad =
            |why: String| AnalysisError::Definition(format!("param.{}={text}: {why}", self.name));
        match &self.default {
            ParamValue::Text(_) => {
                if self.choices.iter().any(|c| c == text) {
                    Ok(ParamValue::Text(text.to_string()))
                } else {
                    Err(bad(format!("expected one of {}", self.choices.join(", "))))
                }
            }
            ParamValue::Number(_) => {
                let n: f64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| bad("expected a number".into()))?;
                self.check_number(n).map_err(bad)?;
                Ok(ParamValue::Number(n))
            }
        }
    }

    fn check_number(&self, n: f64) -> std::result::Result<(), String> {
        let (min, max) = (self.min.unwrap_or(f64::NAN), self.max.unwrap_or(f64::NAN));
        if !(n >= min && n <= max) {
            return Err(format!(
                "expected {} to {}",
                number_text(min),
                number_text(max)
            ));
        }
        if let Some(step) = self.step {
            let k = (n - min) / step;
            if (k - k.round()).abs() > 1e-9 {
                return Err(format!(
                    "expected a multiple of {} from {}",
                    number_text(step),
                    number_text(min)
                ));
            }
        }
        Ok(())
    }

    /// Whether the declaration itself is sound.
    fn check(&self) -> std::result::Result<(), String> {
        let name_ok = self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok || self.name.len() > 40 {
            return Err("a name is [a-z][a-z0-9_]*, at most 40 characters".into());
        }
        match &self.default {
            ParamValue::Number(n) => {
                if self.min.is_none() || self.max.is_none() {
                    return Err("a number needs min and max".into());
                }
                if self.step.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
                    return Err("step must be positive".into());
                }
                self.check_number(*n)
                    .map_err(|e| format!("the default: {e}"))?;
                if !self.choices.is_empty() {
                    return Err("choices are for text parameters".into());
                }
            }
            ParamValue::Text(t) => {
                if !self.choices.contains(t) {
                    return Err("a text parameter's default must be one of its choices".into());
                }
            }
        }
        Ok(())
    }
}

impl Analysis {
    /// Checks the parameters' declarations and where they are used: each
    /// `${name}` in a filter is declared, each declared one is used.
    pub fn check_parameters(&self) -> Result<()> {
        let fail = |name: &str, why: String| {
            AnalysisError::Definition(format!("analysis '{}': parameter '{name}': {why}", self.id))
        };
        for (i, p) in self.parameters.iter().enumerate() {
            p.check().map_err(|e| fail(&p.name, e))?;
            if self.parameters[..i].iter().any(|q| q.name == p.name) {
                return Err(fail(&p.name, "declared twice".into()));
            }
            let in_filters = self
                .filters()
                .iter()
                .any(|f| f.contains(&format!("${{{}}}", p.name)));
            match p.sets {
                Some(Setting::Distance) => {
                    let ok = matches!(
                        self.operation,
                        Operation::Join {
                            relation: Relation::WithinDistance { .. }
                                | Relation::BeyondDistance { .. }
                                | Relation::Nearest { .. }
                                | Relation::WithinWalking { .. }
                                | Relation::BeyondWalking { .. },
                            ..
                        }
                    ) && matches!(p.default, ParamValue::Number(_));
                    if !ok {
                        return Err(fail(
                            &p.name,
                            "sets a distance, but this is not a join by distance (or not a number)"
                                .into(),
                        ));
                    }
                }
                Some(Setting::Mesh) => {
                    let ok = matches!(
                        &self.operation,
                        Operation::Aggregate {
                            to: Target::Mesh { .. },
                            ..
                        }
                    ) && p
                        .choices
                        .iter()
                        .all(|c| chiiki_core::mesh::MeshLevel::parse(c).is_some());
                    if !ok || p.choices.is_empty() {
                        return Err(fail(&p.name, "sets the mesh level: an aggregate by mesh, with mesh levels as choices".into()));
                    }
                }
                Some(Setting::MaxHomes) => {
                    let whole = |v: Option<f64>| v.is_none_or(|v| v.fract() == 0.0 && v >= 1.0);
                    let ok = matches!(self.operation, Operation::Visits { .. })
                        && matches!(p.default, ParamValue::Number(_))
                        && whole(p.min)
                        && p.max
                            .is_some_and(|m| whole(Some(m)) && m <= crate::MAX_HOMES_LIMIT as f64);
                    if !ok {
                        return Err(fail(
                            &p.name,
                            format!("sets max_homes: visit rounds, with whole numbers from 1 to at most {}", crate::MAX_HOMES_LIMIT),
                        ));
                    }
                }
                None if !in_filters => {
                    return Err(fail(
                        &p.name,
                        "not used: write ${name} in a filter, or say what it sets".into(),
                    ))
                }
                None => {}
            }
        }
        for f in self.filters() {
            let mut rest = f;
            while let Some(start) = rest.find("${") {
                let end = rest[start..].find('}').map(|e| start + e).ok_or_else(|| {
                    AnalysisError::Definition(format!(
                        "analysis '{}': an unclosed ${{ in '{f}'",
                        self.id
                    ))
                })?;
                let name = &rest[start + 2..end];
                if !self.parameters.iter().any(|p| p.name == name) {
                    return Err(fail(name, "used in a filter but not declared".into()));
                }
                rest = &rest[end + 1..];
            }
        }
        Ok(())
    }

    /// The definition asked with `given` (`(name, value)` as written in a
    /// request) and the defaults for the rest: filters, distance and mesh
    /// level filled in, and each parameter's default set to the value it
    /// was asked with, so the answer says what it is.
    pub fn with_values(&self, given: &[(String, String)]) -> Result<Analysis> {
        self.check_parameters()?;
        let mut values: Vec<ParamValue> =
            self.parameters.iter().map(|p| p.default.clone()).collect();
        for (name, text) in given {
            let i = self
                .parameters
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        self.parameters.iter().map(|p| p.name.as_str()).collect();
                    AnalysisError::Definition(format!(
                        "param.{name}: '{}' has no such parameter{}",
                        self.id,
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!(" (it has {})", known.join(", "))
                        }
                    ))
                })?;
            values[i] = self.parameters[i].parse(text)?;
        }
        let mut out = self.clone();
        let fill = |text: &mut String| {
            for (p, v) in self.parameters.iter().zip(&values) {
                *text = text.replace(&format!("${{{}}}", p.name), &v.literal());
            }
        };
        out.for_each_filter(fill);
        for (p, v) in out.parameters.iter_mut().zip(&values) {
            p.default = v.clone();
            match (p.sets, v, &mut out.operation) {
                (
                    Some(Setting::Distance),
                    ParamValue::Number(n),
                    Operation::Join { relation, .. },
                ) => match relation {
                    Relation::WithinDistance { metres }
                    | Relation::BeyondDistance { metres }
                    | Relation::WithinWalking { metres, .. }
                    | Relation::BeyondWalking { metres, .. } => *metres = *n,
                    Relation::Nearest { max_metres } => *max_metres = *n,
                    Relation::Within => {}
                },
                (
                    Some(Setting::Mesh),
                    ParamValue::Text(level),
                    Operation::Aggregate {
                        to: Target::Mesh { mesh },
                        ..
                    },
                ) => *mesh = level.clone(),
                (
                    Some(Setting::MaxHomes),
                    ParamValue::Number(n),
                    Operation::Visits { max_homes, .. },
                ) => *max_homes = *n as usize,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Calls `f` on every filter of the definition, to rewrite it.
    fn for_each_filter(&mut self, f: impl Fn(&mut String)) {
        let each = |o: &mut Option<String>| {
            if let Some(text) = o {
                f(text)
            }
        };
        match &mut self.operation {
            Operation::Join { left, right, .. } => {
                each(&mut left.filter);
                each(&mut right.filter);
            }
            Operation::Aggregate {
                source,
                to,
                measures,
                having,
                ..
            } => {
                each(&mut source.filter);
                if let Target::Layer { filter, .. } = to {
                    each(filter);
                }
                for m in measures {
                    each(&mut m.filter);
                }
                each(having);
            }
            Operation::Visits { source, .. } => each(&mut source.filter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aging() -> Analysis {
        serde_json::from_value(serde_json::json!({
            "id": "aging", "title": "高齢化率",
            "kind": "aggregate",
            "source": {"layer": "residents"},
            "to": {"mesh": "250m"},
            "having": "aging_rate >= ${rate}",
            "measures": [
                {"name": "population", "op": "count"},
                {"name": "aging_rate", "op": "share", "filter": "age >= ${age}"}
            ],
            "parameters": [
                {"name": "age", "label": "年齢", "default": 65, "min": 60, "max": 75, "step": 1},
                {"name": "rate", "label": "高齢化率", "default": 0.4, "min": 0.2, "max": 0.6, "step": 0.05},
                {"name": "mesh", "label": "メッシュ", "default": "250m", "choices": ["250m", "500m", "1km"], "sets": "mesh"}
            ]
        }))
        .unwrap()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_every_filter_and_values_replace_them() {
        let a = aging();
        let d = a.with_values(&[]).unwrap();
        assert_eq!(d.filters(), vec!["age >= 65", "aging_rate >= 0.4"]);
        let v = a
            .with_values(&pairs(&[("rate", "0.35"), ("mesh", "500m"), ("age", "70")]))
            .unwrap();
        assert_eq!(v.filters(), vec!["age >= 70", "aging_rate >= 0.35"]);
        assert!(
            matches!(&v.operation, Operation::Aggregate { to: Target::Mesh { mesh }, .. } if mesh == "500m")
        );
        // The answer says what it was asked with.
        assert_eq!(v.parameters[1].default, ParamValue::Number(0.35));
    }

    #[test]
    fn values_outside_the_bounds_or_not_numbers_are_refused_by_name() {
        let a = aging();
        for (name, value, says) in [
            ("age", "59", "expected 60 to 75"),
            ("age", "65.5", "multiple of 1"),
            ("age", "65) OR (1=1", "expected a number"),
            ("age", "NaN", "expected a number"),
            ("rate", "0.33", "multiple of 0.05"),
            ("mesh", "100m", "expected one of 250m, 500m, 1km"),
            ("mesh", "' OR 1=1 --", "expected one of"),
            ("depth", "2", "no such parameter (it has age, rate, mesh)"),
        ] {
            let e = a
                .with_values(&pairs(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(says) && e.contains(&format!("param.{name}")),
                "{name}={value}: {e}"
            );
        }
    }

    #[test]
    fn declarations_are_checked() {
        let mut a = aging();
        a.parameters[0].default = ParamValue::Number(80.0);
        assert!(a
            .check_parameters()
            .unwrap_err()
            .to_string()
            .contains("the default"));
        let mut a = aging();
        a.parameters.remove(0);
        assert!(a
            .check_parameters()
            .unwrap_err()
            .to_string()
            .contains("'age': used in a filter but not declared"));
        let mut a = aging();
        a.parameters[2].sets = Some(Setting::Distance);
        assert!(a.check_parameters().is_err());
        let mut a = aging();
        a.parameters[0].name = "Age".into();
        assert!(a.check_parameters().is_err());
    }
}
