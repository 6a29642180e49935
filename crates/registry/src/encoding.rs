//! The text encoding of an export: UTF-8 (with or without BOM) or CP932.
//!
//! Older 住民記録 systems write CP932 (Windows Shift_JIS); newer ones UTF-8,
//! often with a BOM for Excel. A file that is valid UTF-8 is taken as UTF-8:
//! CP932 text with any Japanese in it is almost never valid UTF-8, and pure
//! ASCII reads the same either way.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TextEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "cp932")]
    Cp932,
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Cp932 => "cp932",
        })
    }
}

impl FromStr for TextEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(TextEncoding::Utf8),
            "cp932" | "shift-jis" | "sjis" | "windows-31j" | "ms932" => Ok(TextEncoding::Cp932),
            other => Err(format!("unknown encoding '{other}' (use utf-8 or cp932)")),
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// UTF-8 when the bytes are valid UTF-8 (a BOM is optional), else CP932.
pub fn detect(bytes: &[u8]) -> TextEncoding {
    if bytes.starts_with(UTF8_BOM) || std::str::from_utf8(bytes).is_ok() {
        TextEncoding::Utf8
    } else {
        TextEncoding::Cp932
    }
}

/// Decodes `bytes`, dropping a UTF-8 BOM. Bytes that are not valid in the
/// encoding become U+FFFD, so the row holding them is rejected on its own
/// instead of the whole file failing.
pub fn decode(bytes: &[u8], encoding: TextEncoding) -> Cow<'_, str> {
    match encoding {
        TextEncoding::Utf8 => {
            String::from_utf8_lossy(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes))
        }
        TextEncoding::Cp932 => encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_both_ways() {
        let text = "住民票コード,氏名\n1,佐藤 花子\n";
        let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(!unmappable);
        assert_eq!(detect(&sjis), TextEncoding::Cp932);
        assert_eq!(decode(&sjis, TextEncoding::Cp932), text);
        assert_eq!(detect(text.as_bytes()), TextEncoding::Utf8);
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(detect(&bom), TextEncoding::Utf8);
        assert_eq!(decode(&bom, TextEncoding::Utf8), text);
    }

    #[test]
    fn cp932_specific_characters_decode() {
        // ①, ～ and the NEC/IBM extensions are where Shift_JIS and CP932 differ.
        let text = "①髙橋～";
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(!unmappable);
        assert_eq!(decode(&bytes, TextEncoding::Cp932), text);
    }

    #[test]
    fn forced_utf8_on_cp932_marks_bad_bytes() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("佐藤");
        assert!(decode(&sjis, TextEncoding::Utf8).contains('\u{fffd}'));
    }

    #[test]
    fn names_parse() {
        assert_eq!("UTF-8".parse(), Ok(TextEncoding::Utf8));
        assert_eq!("Shift_JIS".parse(), Ok(TextEncoding::Cp932));
        assert_eq!("cp932".parse(), Ok(TextEncoding::Cp932));
        assert!("latin1".parse::<TextEncoding>().is_err());
    }
}
