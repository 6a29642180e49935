//! Typed attribute columns, stored column-wise so a layer of a million rows
//! costs a few bytes per value instead of a boxed value per cell.

use serde::{Deserialize, Serialize};

/// The attribute types chiiki keeps. Anything else a source offers (lists,
/// binary) is imported as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Integer,
    Real,
    Text,
    Boolean,
    /// Days since 1970-01-01.
    Date,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    DateTime,
}

impl FieldType {
    /// JSON Schema type and format, as `/queryables` and the OpenAPI document state them.
    pub fn json_schema(&self) -> serde_json::Value {
        match self {
            FieldType::Integer => serde_json::json!({"type": "integer"}),
            FieldType::Real => serde_json::json!({"type": "number"}),
            FieldType::Text => serde_json::json!({"type": "string"}),
            FieldType::Boolean => serde_json::json!({"type": "boolean"}),
            FieldType::Date => serde_json::json!({"type": "string", "format": "date"}),
            FieldType::DateTime => serde_json::json!({"type": "string", "format": "date-time"}),
        }
    }

    pub fn is_temporal(&self) -> bool {
        matches!(self, FieldType::Date | FieldType::DateTime)
    }
}

/// A single attribute value, used at the edges (import, filters), never for
/// bulk storage.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Boolean(bool),
    Date(i32),
    DateTime(i64),
}

/// Strings of one column in a single buffer with offsets (Arrow's layout).
#[derive(Debug, Clone, Default)]
pub struct TextData {
    bytes: String,
    offsets: Vec<u32>,
}

impl TextData {
    pub fn push(&mut self, s: &str) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.bytes.push_str(s);
        let end = u32::try_from(self.bytes.len()).expect("text column exceeds 4 GiB");
        self.offsets.push(end);
    }

    pub fn get(&self, row: usize) -> &str {
        let start = self.offsets[row] as usize;
        let end = self.offsets[row + 1] as usize;
        &self.bytes[start..end]
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.offsets.capacity() * 4
    }
}

#[derive(Debug, Clone)]
pub enum ColumnData {
    Integer(Vec<i64>),
    Real(Vec<f64>),
    Text(TextData),
    Boolean(Vec<bool>),
    Date(Vec<i32>),
    DateTime(Vec<i64>),
}

/// One attribute column: its name, values and null mask.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
    /// `None` when no value is null.
    pub nulls: Option<Vec<bool>>,
}

/// A value of the wrong type for its column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected:?}, found {found}")]
pub struct TypeMismatch {
    pub column: String,
    pub expected: FieldType,
    pub found: String,
}

impl Column {
    pub fn new(name: &str, ty: FieldType) -> Column {
        let data = match ty {
            FieldType::Integer => ColumnData::Integer(Vec::new()),
            FieldType::Real => ColumnData::Real(Vec::new()),
            FieldType::Text => ColumnData::Text(TextData::default()),
            FieldType::Boolean => ColumnData::Boolean(Vec::new()),
            FieldType::Date => ColumnData::Date(Vec::new()),
            FieldType::DateTime => ColumnData::DateTime(Vec::new()),
        };
        Column {
            name: name.to_string(),
            data,
            nulls: None,
        }
    }

    pub fn field_type(&self) -> FieldType {
        match &self.data {
            ColumnData::Integer(_) => FieldType::Integer,
            ColumnData::Real(_) => FieldType::Real,
            ColumnData::Text(_) => FieldType::Text,
            ColumnData::Boolean(_) => FieldType::Boolean,
            ColumnData::Date(_) => FieldType::Date,
            ColumnData::DateTime(_) => FieldType::DateTime,
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::Integer(v) => v.len(),
            ColumnData::Real(v) => v.len(),
            ColumnData::Text(v) => v.len(),
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Date(v) => v.len(),
            ColumnData::DateTime(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n[row])
    }

    /// Appends a value, converting it to the column's type. A value that does
    /// not fit is an error naming what was expected.
    pub fn push(&mut self, value: Value) -> Result<(), TypeMismatch> {
        let row = self.len();
        let is_null = matches!(value, Value::Null);
        if is_null {
            self.nulls.get_or_insert_with(|| vec![false; row]);
        }
        let expected = self.field_type();
        let name = &self.name;
        let mismatch = |v: &Value| TypeMismatch {
            column: name.clone(),
            expected,
            found: format!("{v:?}"),
        };
        match (&mut self.data, value) {
            (ColumnData::Integer(v), Value::Null) => v.push(0),
            (ColumnData::Real(v), Value::Null) => v.push(0.0),
            (ColumnData::Text(v), Value::Null) => v.push(""),
            (ColumnData::Boolean(v), Value::Null) => v.push(false),
            (ColumnData::Date(v), Value::Null) => v.push(0),
            (ColumnData::DateTime(v), Value::Null) => v.push(0),
            (ColumnData::Integer(v), Value::Integer(x)) => v.push(x),
            (ColumnData::Real(v), Value::Real(x)) => v.push(x),
            (ColumnData::Real(v), Value::Integer(x)) => v.push(x as f64),
            (ColumnData::Text(v), Value::Text(s)) => v.push(&s),
            (ColumnData::Boolean(v), Value::Boolean(b)) => v.push(b),
            (ColumnData::Date(v), Value::Date(d)) => v.push(d),
            (ColumnData::DateTime(v), Value::DateTime(t)) => v.push(t),
            (_, other) => return Err(mismatch(&other)),
        }
        if let Some(nulls) = self.nulls.as_mut() {
            nulls.push(is_null);
        }
        Ok(())
    }

    pub fn get(&self, row: usize) -> Value {
        if self.is_null(row) {
            return Value::Null;
        }
        match &self.data {
            ColumnData::Integer(v) => Value::Integer(v[row]),
            ColumnData::Real(v) => Value::Real(v[row]),
            ColumnData::Text(v) => Value::Text(v.get(row).to_string()),
            ColumnData::Boolean(v) => Value::Boolean(v[row]),
            ColumnData::Date(v) => Value::Date(v[row]),
            ColumnData::DateTime(v) => Value::DateTime(v[row]),
        }
    }

    /// Reorders rows: row `i` of the result is row `order[i]` of `self`.
    pub fn permute(&self, order: &[u32]) -> Column {
        fn pick<T: Copy>(v: &[T], order: &[u32]) -> Vec<T> {
            order.iter().map(|&i| v[i as usize]).collect()
        }
        let data = match &self.data {
            ColumnData::Integer(v) => ColumnData::Integer(pick(v, order)),
            ColumnData::Real(v) => ColumnData::Real(pick(v, order)),
            ColumnData::Boolean(v) => ColumnData::Boolean(pick(v, order)),
            ColumnData::Date(v) => ColumnData::Date(pick(v, order)),
            ColumnData::DateTime(v) => ColumnData::DateTime(pick(v, order)),
            ColumnData::Text(v) => {
                let mut out = TextData::default();
                for &i in order {
                    out.push(v.get(i as usize));
                }
                ColumnData::Text(out)
            }
        };
        Column {
            name: self.name.clone(),
            data,
            nulls: self.nulls.as_ref().map(|n| pick(n, order)),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        let data = match &self.data {
            ColumnData::Integer(v) => v.capacity() * 8,
            ColumnData::Real(v) => v.capacity() * 8,
            ColumnData::Text(v) => v.heap_bytes(),
            ColumnData::Boolean(v) => v.capacity(),
            ColumnData::Date(v) => v.capacity() * 4,
            ColumnData::DateTime(v) => v.capacity() * 8,
        };
        data + self.nulls.as_ref().map_or(0, |n| n.capacity())
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    use chrono::Datelike;
    let date =
        chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days as i64);
    let (y, m, d) = (date.year(), date.month(), date.day());
    if !(0..=9999).contains(&y) {
        return date.format("%Y-%m-%d").to_string();
    }
    // By hand: chrono's formatter parses "%Y-%m-%d" on every call, and a
    // tile or page of residents writes thousands of birth dates.
    let digit = |n: u32| char::from(b'0' + n as u8);
    let y = y as u32;
    [
        digit(y / 1000),
        digit(y / 100 % 10),
        digit(y / 10 % 10),
        digit(y % 10),
        '-',
        digit(m / 10),
        digit(m % 10),
        '-',
        digit(d / 10),
        digit(d % 10),
    ]
    .iter()
    .collect()
}

/// Milliseconds since the epoch as RFC 3339 in UTC.
pub fn format_datetime(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => String::new(),
    }
}

pub fn date_from_days(days: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days as i64)
}

pub fn days_from_date(date: chrono::NaiveDate) -> i32 {
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_tracked_from_the_first_one_on() {
        let mut c = Column::new("n", FieldType::Integer);
        c.push(Value::Integer(1)).unwrap();
        c.push(Value::Null).unwrap();
        c.push(Value::Integer(3)).unwrap();
        assert_eq!(c.get(0), Value::Integer(1));
        assert_eq!(c.get(1), Value::Null);
        assert_eq!(c.get(2), Value::Integer(3));
        assert!(c.push(Value::Text("x".into())).is_err());
    }

    #[test]
    fn permute_reorders_text_and_nulls() {
        let mut c = Column::new("名称", FieldType::Text);
        for v in [
            Value::Text("文京".into()),
            Value::Null,
            Value::Text("本郷".into()),
        ] {
            c.push(v).unwrap();
        }
        let p = c.permute(&[2, 0, 1]);
        assert_eq!(p.get(0), Value::Text("本郷".into()));
        assert_eq!(p.get(1), Value::Text("文京".into()));
        assert_eq!(p.get(2), Value::Null);
    }

    #[test]
    fn dates_round_trip() {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(format_date(days_from_date(d)), "2024-02-29");
        // Written by hand in 0000–9999, as chrono writes it everywhere.
        for days in [-719_528, -25_000, -1, 0, 1, 19_000, 2_932_896, 2_932_897] {
            let chrono = date_from_days(days).format("%Y-%m-%d").to_string();
            assert_eq!(format_date(days), chrono, "{days}");
        }
        assert_eq!(format_datetime(86_400_000), "1970-01-02T00:00:00Z");
    }
}
