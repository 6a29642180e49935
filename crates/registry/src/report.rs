//! What an import or a delta did: rows read, applied, and every rejected row
//! with its file, line, field and reason.

use std::fmt;

use serde::Serialize;

use super::encoding::TextEncoding;
use super::field::Field;

/// Why a row was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKind {
    /// A value is missing or does not parse.
    Invalid,
    /// The row is well formed but contradicts the registry (転出 of an
    /// unknown resident, 転入 of one already registered…).
    Contradiction,
}

/// One problem with one row. A row with several bad values gets one
/// rejection per value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub file: String,
    /// 1-based line of the row in the file (the header is line 1).
    pub line: u64,
    /// The field at fault, if one is.
    pub field: Option<Field>,
    /// The field's header as written in the file.
    pub column: Option<String>,
    pub kind: RejectionKind,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match (self.field, &self.column) {
            (Some(field), Some(column)) => write!(f, "{column} ({}): ", field.name())?,
            (Some(field), None) => write!(f, "{field}: ")?,
            _ => {}
        }
        if self.kind == RejectionKind::Contradiction {
            f.write_str("contradiction: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// A delta row that was applied before: applying it again changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlreadyApplied {
    pub file: String,
    pub line: u64,
    pub resident_id: String,
    /// Where it was applied first (`file:line`).
    pub first_applied_from: String,
}

impl fmt::Display for AlreadyApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: already applied (from {}), nothing to do",
            self.file, self.line, self.first_applied_from
        )
    }
}

/// The outcome of `chiiki registry import`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub encoding: TextEncoding,
    /// The baseline date: history of rows without 異動日 starts here.
    pub as_of: String,
    /// Data rows read (blank lines not counted).
    pub rows_read: usize,
    pub imported: usize,
    /// Rows with at least one rejection.
    pub rejected_rows: usize,
    pub rejections: Vec<Rejection>,
    /// Columns that matched no field.
    pub ignored_columns: Vec<String>,
    /// Whether the new registry was written.
    pub committed: bool,
    /// Why the input was refused as a whole (`--strict`, no valid row);
    /// the registry was then left unchanged.
    pub refused: Option<String>,
}

/// The outcome of `chiiki registry apply`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeltaReport {
    pub files: Vec<String>,
    pub rows_read: usize,
    /// Events applied by this run.
    pub applied: usize,
    pub already_applied: Vec<AlreadyApplied>,
    pub rejected_rows: usize,
    pub rejections: Vec<Rejection>,
    /// Whether a new registry was written (false when nothing changed, or
    /// when the delta was refused).
    pub committed: bool,
    /// Why the delta was refused as a whole (`--strict`); the registry was
    /// then left unchanged.
    pub refused: Option<String>,
    pub ignored_columns: Vec<String>,
}

/// Counts the distinct rows among `rejections`.
pub(crate) fn distinct_rows(rejections: &[Rejection]) -> usize {
    let mut rows: Vec<(&str, u64)> = rejections
        .iter()
        .map(|r| (r.file.as_str(), r.line))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows.len()
}
