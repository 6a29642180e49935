//! Reading an export: bytes → text (UTF-8 or CP932) → CSV rows whose values
//! are looked up by field.

use std::path::Path;

use super::encoding::{self, TextEncoding};
use super::error::{RegistryError, Result};
use super::field::{ColumnAliases, ColumnMap, Field};
use super::report::{Rejection, RejectionKind};

/// A decoded CSV file with its header mapped onto fields.
pub struct Table {
    /// The file as named on the command line, for reports.
    pub file: String,
    pub encoding: TextEncoding,
    pub columns: ColumnMap,
    /// Number of columns in the header.
    width: usize,
    text: String,
}

impl Table {
    /// Reads and decodes `path` (detecting the encoding unless given) and
    /// maps its header.
    pub fn open(
        path: &Path,
        encoding: Option<TextEncoding>,
        aliases: &ColumnAliases,
    ) -> Result<Table> {
        let bytes =
            std::fs::read(path).map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        Table::from_bytes(path.display().to_string(), &bytes, encoding, aliases)
    }

    /// Decodes `bytes` (detecting the encoding unless given) and maps its
    /// header; `file` names the data in reports and errors.
    pub fn from_bytes(
        file: String,
        bytes: &[u8],
        encoding: Option<TextEncoding>,
        aliases: &ColumnAliases,
    ) -> Result<Table> {
        let encoding = encoding.unwrap_or_else(|| encoding::detect(bytes));
        let text = encoding::decode(bytes, encoding).into_owned();
        let headers: Vec<String> = match csv_reader(&text).headers() {
            Ok(h) => h,
            Err(source) => return Err(RegistryError::Header { file, source }),
        }
        .iter()
        .map(str::to_string)
        .collect();
        if !headers.iter().any(|h| !h.trim().is_empty()) {
            return Err(RegistryError::NoHeader { file });
        }
        let columns = match ColumnMap::new(&headers, aliases) {
            Ok(c) => c,
            Err(RegistryError::Columns {
                file: None,
                message,
            }) => {
                return Err(RegistryError::Columns {
                    file: Some(file),
                    message,
                })
            }
            Err(e) => return Err(e),
        };
        Ok(Table {
            file,
            encoding,
            columns,
            width: headers.len(),
            text,
        })
    }

    /// The data rows. Blank rows (as spreadsheets leave at the end) are
    /// skipped; a row with the wrong number of fields or undecodable bytes
    /// comes back as its rejections.
    pub fn rows(&self) -> impl Iterator<Item = Result<Row<'_>, Vec<Rejection>>> + '_ {
        let width = self.width;
        let mut lines = LineCounter::default();
        csv_reader(&self.text)
            .into_records()
            .filter_map(move |result| {
                let record = match result {
                    Ok(record) => record,
                    Err(e) => {
                        let line = lines.line_at(&self.text, e.position());
                        return Some(Err(vec![self.rejection(line, None, e.to_string())]));
                    }
                };
                let line = lines.line_at(&self.text, record.position());
                if record.iter().all(|v| v.trim().is_empty()) {
                    return None;
                }
                if record.len() != width {
                    return Some(Err(vec![self.rejection(
                        line,
                        None,
                        format!("the row has {} fields, the header {width}", record.len()),
                    )]));
                }
                let undecodable: Vec<Rejection> = Field::ALL
                    .into_iter()
                    .filter(|f| {
                        self.columns
                            .column(*f)
                            .is_some_and(|i| record[i].contains('\u{fffd}'))
                    })
                    .map(|f| {
                        self.rejection(
                            line,
                            Some(f),
                            format!(
                                "bytes that are not valid {} (is --encoding right?)",
                                self.encoding
                            ),
                        )
                    })
                    .collect();
                if !undecodable.is_empty() {
                    return Some(Err(undecodable));
                }
                Some(Ok(Row {
                    table: self,
                    line,
                    record,
                }))
            })
    }

    pub fn rejection(&self, line: u64, field: Option<Field>, reason: String) -> Rejection {
        Rejection {
            file: self.file.clone(),
            line,
            field,
            column: field
                .and_then(|f| self.columns.header(f))
                .map(str::to_string),
            kind: RejectionKind::Invalid,
            reason,
        }
    }
}

/// Line numbers from byte offsets. The csv crate's own line count is one
/// short after CRLF line ends (it places a record's start before the `\n`
/// of the previous `\r\n`), and Windows exports end lines with CRLF, so
/// lines are counted here: the newlines before the record's first byte.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    /// Line of `byte`, 0-based.
    line: u64,
}

impl LineCounter {
    /// The 1-based line where the record at `position` starts. Positions
    /// only move forward, so each byte is counted once.
    fn line_at(&mut self, text: &str, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return 0;
        };
        let bytes = text.as_bytes();
        let mut start = (position.byte() as usize).min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.byte {
            self.line += bytes[self.byte..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.byte = start;
        }
        self.line + 1
    }
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// One data row.
pub struct Row<'t> {
    pub table: &'t Table,
    /// 1-based line in the file where the row starts.
    pub line: u64,
    record: csv::StringRecord,
}

impl Row<'_> {
    /// The trimmed value of `field`; `None` when the file has no such column
    /// or the value is blank.
    pub fn get(&self, field: Field) -> Option<&str> {
        let value = self.record.get(self.table.columns.column(field)?)?.trim();
        (!value.is_empty()).then_some(value)
    }

    pub fn reject(&self, field: Option<Field>, reason: impl Into<String>) -> Rejection {
        self.table.rejection(self.line, field, reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bytes: &[u8], encoding: Option<TextEncoding>) -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, bytes).unwrap();
        let table = Table::open(&path, encoding, &ColumnAliases::default()).unwrap();
        (dir, table)
    }

    #[test]
    fn rows_have_lines_and_values() {
        let text = "住民票コード,氏名,性別\n1, 佐藤 花子 ,女\n\n,,\n\"2\",\"鈴木\n一郎\",男\n3,x\n";
        let (_dir, t) = table(text.as_bytes(), None);
        let rows: Vec<_> = t.rows().collect();
        assert_eq!(rows.len(), 3);
        let first = rows[0].as_ref().ok().unwrap();
        assert_eq!((first.line, first.get(Field::Name)), (2, Some("佐藤 花子")));
        assert_eq!(first.get(Field::Address), None);
        let second = rows[1].as_ref().ok().unwrap();
        assert_eq!(second.line, 5);
        assert_eq!(second.get(Field::Name), Some("鈴木\n一郎"));
        let bad = rows[2].as_ref().err().unwrap();
        assert_eq!(bad[0].line, 7);
        assert!(bad[0].reason.contains("2 fields"), "{}", bad[0].reason);
    }

    #[test]
    fn lines_are_right_with_crlf_line_ends() {
        let text = "住民票コード,氏名\r\n1,佐藤\r\n\r\n2,\"鈴木\r\n一郎\"\r\n3,田中\r\n4\r\n";
        let (_dir, t) = table(text.as_bytes(), None);
        let lines: Vec<u64> = t
            .rows()
            .map(|r| match r {
                Ok(row) => row.line,
                Err(e) => e[0].line,
            })
            .collect();
        assert_eq!(lines, [2, 4, 6, 7]);
    }

    #[test]
    fn undecodable_values_reject_their_row_only() {
        let mut bytes = "住民票コード,氏名\n1,佐藤\n2,".as_bytes().to_vec();
        bytes.extend_from_slice(&[0xFF, 0xFE, b'\n']);
        let (_dir, t) = table(&bytes, Some(TextEncoding::Utf8));
        let rows: Vec<_> = t.rows().collect();
        assert!(rows[0].is_ok());
        let bad = rows[1].as_ref().err().unwrap();
        assert_eq!((bad[0].line, bad[0].field), (3, Some(Field::Name)));
        assert_eq!(bad[0].column.as_deref(), Some("氏名"));
    }

    #[test]
    fn a_file_without_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.csv");
        std::fs::write(&path, "").unwrap();
        assert!(Table::open(&path, None, &ColumnAliases::default()).is_err());
    }
}
