//! Coded values of a registry row: 性別, yes/no flags, 要介護度, 異動事由.
//!
//! Each parser takes the text as written (full-width forms are folded with
//! NFKC) and returns either the value or a reason for the report.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// NFKC (full-width digits and letters made ASCII, half-width katakana made
/// full-width), without copying text that is already in that form.
pub(crate) fn nfkc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    }
}

/// NFKC without surrounding or inner spaces: the form codes and coded
/// values are compared in.
pub(crate) fn fold(text: &str) -> Cow<'_, str> {
    let t = text.trim();
    match nfkc(t) {
        Cow::Borrowed(b) if !b.contains(char::is_whitespace) => Cow::Borrowed(b),
        other => Cow::Owned(other.chars().filter(|c| !c.is_whitespace()).collect()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "男",
            Sex::Female => "女",
        })
    }
}

/// 男/男性/1/M/male and 女/女性/2/F/female (1 and 2 as in the JIS X 0303 code).
pub fn parse_sex(text: &str) -> Result<Sex, String> {
    match fold(text).to_lowercase().as_str() {
        "男" | "男性" | "1" | "m" | "male" => Ok(Sex::Male),
        "女" | "女性" | "2" | "f" | "female" => Ok(Sex::Female),
        _ => Err(format!("'{}' is not a sex (男/女, 1/2, M/F)", text.trim())),
    }
}

/// A yes/no flag: `1/0`, `○/×`, `有/無`, `true/false`, `はい/いいえ`,
/// `yes/no`; blank is no.
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match fold(text).to_lowercase().as_str() {
        "" | "0" | "無" | "なし" | "無し" | "×" | "-" | "false" | "no" | "n" | "いいえ" => {
            Ok(false)
        }
        "1" | "○" | "〇" | "◯" | "●" | "有" | "あり" | "有り" | "true" | "yes" | "y" | "はい" => {
            Ok(true)
        }
        _ => Err(format!(
            "'{}' is not a yes/no value (1/0, ○/無, 有/無, true/false, はい/いいえ)",
            text.trim()
        )),
    }
}

/// 要介護度 (the care-need level of the long-term care insurance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CareLevel {
    Support1,
    Support2,
    Care1,
    Care2,
    Care3,
    Care4,
    Care5,
}

impl CareLevel {
    const ALL: [CareLevel; 7] = [
        CareLevel::Support1,
        CareLevel::Support2,
        CareLevel::Care1,
        CareLevel::Care2,
        CareLevel::Care3,
        CareLevel::Care4,
        CareLevel::Care5,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CareLevel::Support1 => "要支援1",
            CareLevel::Support2 => "要支援2",
            CareLevel::Care1 => "要介護1",
            CareLevel::Care2 => "要介護2",
            CareLevel::Care3 => "要介護3",
            CareLevel::Care4 => "要介護4",
            CareLevel::Care5 => "要介護5",
        }
    }
}

impl fmt::Display for CareLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// `要支援1`–`要支援2`, `要介護1`–`要介護5` (also `支援1`, `介護3`, `要介護３`);
/// blank, `なし`, `非該当` and `自立` are no level.
pub fn parse_care_level(text: &str) -> Result<Option<CareLevel>, String> {
    let folded = fold(text);
    let s = folded.as_ref();
    if matches!(s, "" | "なし" | "無" | "非該当" | "自立" | "0" | "-") {
        return Ok(None);
    }
    let s = s.strip_prefix('要').unwrap_or(s);
    CareLevel::ALL
        .into_iter()
        .find(|level| level.label().strip_prefix('要') == Some(s))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "'{}' is not a care level (要支援1–2, 要介護1–5, or blank)",
                text.trim()
            )
        })
}

/// 異動事由: what a delta row does to a resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// 転入: moved in from another municipality.
    MoveIn,
    /// 転出: moved out of the municipality.
    MoveOut,
    /// 転居: moved within the municipality.
    Relocation,
    /// 出生
    Birth,
    /// 死亡
    Death,
    /// 世帯変更: household or 続柄 changed (世帯分離, 世帯合併, 世帯主変更…).
    HouseholdChange,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::MoveIn => "転入",
            ChangeKind::MoveOut => "転出",
            ChangeKind::Relocation => "転居",
            ChangeKind::Birth => "出生",
            ChangeKind::Death => "死亡",
            ChangeKind::HouseholdChange => "世帯変更",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Parses 異動事由. Systems add detail (`転居(市内)`, `国外転出`,
/// `転入（国外から）`, `世帯分離`), so the reason is recognised by its key
/// word; corrections (`取消`, `訂正`) and 職権 entries change the record in
/// ways a delta cannot express and are rejected rather than guessed at.
pub fn parse_change_kind(text: &str) -> Result<ChangeKind, String> {
    let folded = fold(text);
    let s = folded.to_lowercase();
    let english = match s.replace(['-', ' '], "_").as_str() {
        "move_in" | "movein" => Some(ChangeKind::MoveIn),
        "move_out" | "moveout" => Some(ChangeKind::MoveOut),
        "relocation" | "relocate" | "move" => Some(ChangeKind::Relocation),
        "birth" => Some(ChangeKind::Birth),
        "death" => Some(ChangeKind::Death),
        "household_change" => Some(ChangeKind::HouseholdChange),
        _ => None,
    };
    if let Some(kind) = english {
        return Ok(kind);
    }
    if ["取消", "訂正", "職権", "消除"]
        .iter()
        .any(|w| s.contains(w))
    {
        return Err(format!(
            "'{}' (a correction or 職権 entry) cannot be applied as a delta",
            text.trim()
        ));
    }
    let keywords = [
        ("転入", ChangeKind::MoveIn),
        ("転出", ChangeKind::MoveOut),
        ("転居", ChangeKind::Relocation),
        ("出生", ChangeKind::Birth),
        ("死亡", ChangeKind::Death),
        ("世帯", ChangeKind::HouseholdChange),
    ];
    let found: Vec<ChangeKind> = keywords
        .iter()
        .filter(|(word, _)| s.contains(word))
        .map(|(_, kind)| *kind)
        .collect();
    match found.as_slice() {
        [kind] => Ok(*kind),
        _ => Err(format!(
            "'{}' is not a 異動事由 (転入, 転出, 転居, 出生, 死亡, 世帯変更)",
            text.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert!(matches!(fold("abc"), Cow::Borrowed("abc")));
        assert!(matches!(fold(" 要介護2 "), Cow::Borrowed("要介護2")));
        assert_eq!(fold("要介護２"), "要介護2");
        assert_eq!(fold("ｻﾄｳ ﾊﾅｺ"), "サトウハナコ");
        assert_eq!(nfkc("ｻﾄｳ　ﾊﾅｺ"), "サトウ ハナコ");
        assert!(matches!(nfkc("サトウ ハナコ"), Cow::Borrowed(_)));
    }

    #[test]
    fn sexes() {
        for t in ["男", "男性", "1", "M", "m", "１", "Ｍ", " 男 "] {
            assert_eq!(parse_sex(t), Ok(Sex::Male), "{t}");
        }
        for t in ["女", "女性", "2", "F", "female"] {
            assert_eq!(parse_sex(t), Ok(Sex::Female), "{t}");
        }
        for t in ["", "3", "X", "不明", "男女"] {
            assert!(parse_sex(t).is_err(), "{t}");
        }
    }

    #[test]
    fn flags() {
        for t in ["1", "○", "〇", "有", "true", "TRUE", "はい", "１", "yes"] {
            assert_eq!(parse_flag(t), Ok(true), "{t}");
        }
        for t in ["", " ", "0", "無", "false", "いいえ", "×", "なし"] {
            assert_eq!(parse_flag(t), Ok(false), "{t}");
        }
        for t in ["2", "maybe", "要"] {
            assert!(parse_flag(t).is_err(), "{t}");
        }
    }

    #[test]
    fn care_levels() {
        assert_eq!(parse_care_level("要支援1"), Ok(Some(CareLevel::Support1)));
        assert_eq!(parse_care_level("要支援２"), Ok(Some(CareLevel::Support2)));
        assert_eq!(parse_care_level("要介護5"), Ok(Some(CareLevel::Care5)));
        assert_eq!(parse_care_level("介護3"), Ok(Some(CareLevel::Care3)));
        assert_eq!(parse_care_level(""), Ok(None));
        assert_eq!(parse_care_level("非該当"), Ok(None));
        for t in ["要介護6", "要支援3", "要介護", "3", "重度"] {
            assert!(parse_care_level(t).is_err(), "{t}");
        }
    }

    #[test]
    fn change_kinds_and_their_variants() {
        use ChangeKind::*;
        for (t, k) in [
            ("転入", MoveIn),
            ("転入(市外から)", MoveIn),
            ("転入（国外）", MoveIn),
            ("転出", MoveOut),
            ("国外転出", MoveOut),
            ("転居", Relocation),
            ("転居(市内)", Relocation),
            ("市内転居", Relocation),
            ("出生", Birth),
            ("死亡", Death),
            ("世帯変更", HouseholdChange),
            ("世帯分離", HouseholdChange),
            ("世帯主変更", HouseholdChange),
            ("move_in", MoveIn),
            ("Household-Change", HouseholdChange),
        ] {
            assert_eq!(parse_change_kind(t), Ok(k), "{t}");
        }
        for t in ["", "転出取消", "職権消除", "婚姻", "転入転出"] {
            assert!(parse_change_kind(t).is_err(), "{t}");
        }
    }
}
