//! Dates as registry exports write them: 西暦 or 和暦, sometimes only a year.
//!
//! Accepted (after NFKC, so full-width digits and letters work too):
//!
//! - 西暦: `1940-03-02`, `1940/3/2`, `1940.3.2`, `19400302`, `1940年3月2日`,
//!   and `1940年3月`, `1940-03`, `1940年`, `1940` with a coarser precision;
//! - 和暦 with the era's name, its first kanji or its initial: `昭和15年3月2日`,
//!   `昭15.3.2`, `S15.3.2`, `S.15.3.2`, `S15/3/2`, `平成元年1月8日`, and
//!   `令和2年`, `令和2年3月` with a coarser precision;
//! - the 7-digit era code of 住基 systems, `GYYMMDD` with G = 1 明治,
//!   2 大正, 3 昭和, 4 平成, 5 令和: `3150302` is 昭和15年3月2日.
//!
//! A date written without its day is kept as a year or a month
//! ([`Precision`]) rather than given an invented day. 和暦 dates must lie in
//! their era: 昭和65年 and 平成31年5月1日 do not exist.

use std::fmt;
use std::iter::Peekable;
use std::str::Chars;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::values::fold;

/// How much of a date is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Year,
    Month,
    Day,
}

/// A date known to the day, the month or the year: the period from
/// [`PartialDate::first_day`] to [`PartialDate::last_day`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartialDate {
    #[serde(with = "days")]
    first: NaiveDate,
    precision: Precision,
}

impl PartialDate {
    pub fn day(date: NaiveDate) -> PartialDate {
        PartialDate {
            first: date,
            precision: Precision::Day,
        }
    }

    /// A year, month or day; `None` if the date does not exist.
    pub fn new(year: i32, month: Option<u32>, day: Option<u32>) -> Option<PartialDate> {
        let precision = match (month, day) {
            (None, None) => Precision::Year,
            (Some(_), None) => Precision::Month,
            (Some(_), Some(_)) => Precision::Day,
            (None, Some(_)) => return None,
        };
        let first = NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
        Some(PartialDate { first, precision })
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The earliest day the date can be.
    pub fn first_day(&self) -> NaiveDate {
        self.first
    }

    /// The latest day the date can be.
    pub fn last_day(&self) -> NaiveDate {
        let next = match self.precision {
            Precision::Day => return self.first,
            Precision::Month => self.first.checked_add_months(chrono::Months::new(1)),
            Precision::Year => self.first.with_year(self.first.year() + 1),
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
    }

    /// The age on `on` of someone born on this date, when the precision
    /// settles it: born in 2020 (year only) is 4 or 5 on 2025-06-01, so
    /// `None`, but certainly 5 on 2025-12-31.
    pub fn age_on(&self, on: NaiveDate) -> Option<u32> {
        let youngest = age_on(self.last_day(), on)?;
        let oldest = age_on(self.first_day(), on)?;
        (youngest == oldest).then_some(youngest)
    }
}

/// Completed years from `birth` to `on`: one year older on each anniversary
/// of the birth day (someone born on 29 February gets older on 1 March in
/// common years). `None` before the birth.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    if on < birth {
        return None;
    }
    let before_birthday = (on.month(), on.day()) < (birth.month(), birth.day());
    Some((on.year() - birth.year() - i32::from(before_birthday)) as u32)
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.first;
        match self.precision {
            Precision::Day => write!(f, "{}", d.format("%Y-%m-%d")),
            Precision::Month => write!(f, "{}", d.format("%Y-%m")),
            Precision::Year => write!(f, "{}", d.format("%Y")),
        }
    }
}

/// The Japanese eras a living resident can be born in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    Meiji,
    Taisho,
    Showa,
    Heisei,
    Reiwa,
}

impl Era {
    const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    pub fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    fn initial(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The first day of the era (明治 as the law of 1868 dates it).
    pub fn start(self) -> NaiveDate {
        let (y, m, d) = match self {
            Era::Meiji => (1868, 10, 23),
            Era::Taisho => (1912, 7, 30),
            Era::Showa => (1926, 12, 25),
            Era::Heisei => (1989, 1, 8),
            Era::Reiwa => (2019, 5, 1),
        };
        NaiveDate::from_ymd_opt(y, m, d).expect("era start dates are valid")
    }

    /// The last day of the era; `None` for the current one.
    pub fn end(self) -> Option<NaiveDate> {
        let next = Era::ALL.iter().skip_while(|e| **e != self).nth(1)?;
        next.start().pred_opt()
    }

    /// The 和暦 year `year` of this era in 西暦.
    fn gregorian_year(self, year: u32) -> i32 {
        self.start().year() + year as i32 - 1
    }
}

/// Parses a date in any accepted form, keeping its precision.
pub fn parse_date(text: &str) -> Result<PartialDate, String> {
    // NFKC makes full-width digits, `／`, `．`, `Ｓ` plain, and ㍼ 昭和.
    let s = fold(text);
    if s.is_empty() {
        return Err("empty date".into());
    }
    if let Some((era, rest)) = split_era(&s) {
        return parse_japanese(era, rest).map_err(|e| format!("'{}': {e}", text.trim()));
    }
    parse_western(&s).map_err(|e| format!("'{}': {e}", text.trim()))
}

/// Parses a date that must be known to the day (異動日, `--as-of`).
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    let date = parse_date(text)?;
    if date.precision() != Precision::Day {
        return Err(format!(
            "'{}': a full date with the day is needed here",
            text.trim()
        ));
    }
    Ok(date.first_day())
}

/// Splits off a leading era (`昭和`, `昭`, `S`, `S.`) from the rest.
fn split_era(s: &str) -> Option<(Era, &str)> {
    for era in Era::ALL {
        if let Some(rest) = s.strip_prefix(era.name()) {
            return Some((era, rest));
        }
        let kanji = era.name().chars().next().expect("era names are not empty");
        let mut chars = s.chars();
        let first = chars.next()?;
        if first == kanji || first.to_ascii_uppercase() == era.initial() {
            let rest = chars.as_str();
            return Some((era, rest.strip_prefix('.').unwrap_or(rest)));
        }
    }
    None
}

fn parse_japanese(era: Era, rest: &str) -> Result<PartialDate, String> {
    let parts = parse_parts(rest, true)?;
    if parts.year == 0 {
        return Err(format!(
            "{}0年 does not exist (the first year is 元年)",
            era.name()
        ));
    }
    let year = era.gregorian_year(parts.year);
    let date = PartialDate::new(year, parts.month, parts.day)
        .ok_or_else(|| "no such day in that month".to_string())?;
    check_in_era(era, &date)?;
    Ok(date)
}

/// A 和暦 date must overlap its era: 昭和64年1月7日 exists, 昭和64年1月8日 is
/// 平成元年, and 昭和65年 never was.
fn check_in_era(era: Era, date: &PartialDate) -> Result<(), String> {
    if date.last_day() < era.start() {
        return Err(format!("{} began on {}", era.name(), era.start()));
    }
    if let Some(end) = era.end() {
        if date.first_day() > end {
            return Err(format!("{} ended on {end}", era.name()));
        }
    }
    Ok(())
}

fn parse_western(s: &str) -> Result<PartialDate, String> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_digits(s);
    }
    let parts = parse_parts(s, false)?;
    if !(1000..=9999).contains(&parts.year) {
        return Err("the year needs 4 digits, or an era (S15.3.2, 昭和15年)".into());
    }
    PartialDate::new(parts.year as i32, parts.month, parts.day)
        .ok_or_else(|| "no such date".to_string())
}

/// `19400302`, `1940`, or the era code form `3150302`.
fn parse_digits(s: &str) -> Result<PartialDate, String> {
    let num = |range: std::ops::Range<usize>| s[range].parse::<u32>().expect("checked digits");
    match s.len() {
        8 => PartialDate::new(num(0..4) as i32, Some(num(4..6)), Some(num(6..8)))
            .ok_or_else(|| "no such date".to_string()),
        4 => PartialDate::new(num(0..4) as i32, None, None).ok_or_else(|| "no such year".into()),
        7 => {
            let code = num(0..1) as usize;
            let era = code
                .checked_sub(1)
                .and_then(|i| Era::ALL.get(i))
                .ok_or_else(|| format!("era code {code} is not 1–5 (明治–令和)"))?;
            let year = num(1..3);
            if year == 0 {
                return Err(format!("{}0年 does not exist", era.name()));
            }
            let date = PartialDate::new(era.gregorian_year(year), Some(num(3..5)), Some(num(5..7)))
                .ok_or_else(|| "no such day in that month".to_string())?;
            check_in_era(*era, &date)?;
            Ok(date)
        }
        _ => Err("not a date (8 digits YYYYMMDD or 7 digits GYYMMDD expected)".into()),
    }
}

/// Year, month and day as written, before any calendar check.
struct Parts {
    year: u32,
    month: Option<u32>,
    day: Option<u32>,
}

/// `Y年[M月[D日]]` or `Y<sep>M[<sep>D]` with one separator out of `-`, `/`,
/// `.`; `元` for year 1 when `gan` (和暦 only).
fn parse_parts(s: &str, gan: bool) -> Result<Parts, String> {
    let mut chars = s.chars().peekable();
    let year = if gan && chars.peek() == Some(&'元') {
        chars.next();
        1
    } else {
        number(&mut chars, "year")?
    };
    let mut month = None;
    let mut day = None;
    match chars.next() {
        None => {}
        // `Y年` alone is a year.
        Some('年') if chars.peek().is_none() => {}
        Some('年') => {
            month = Some(number(&mut chars, "month")?);
            expect(&mut chars, '月')?;
            if chars.peek().is_some() {
                day = Some(number(&mut chars, "day")?);
                expect(&mut chars, '日')?;
            }
        }
        Some(sep @ ('-' | '/' | '.')) => {
            month = Some(number(&mut chars, "month")?);
            match chars.next() {
                None => {}
                Some(c) if c == sep => day = Some(number(&mut chars, "day")?),
                Some(c) => return Err(format!("unexpected '{c}'")),
            }
        }
        Some(c) => return Err(format!("unexpected '{c}'")),
    }
    if let Some(c) = chars.next() {
        return Err(format!("unexpected '{c}'"));
    }
    if let Some(m) = month {
        if !(1..=12).contains(&m) {
            return Err(format!("month {m} does not exist"));
        }
    }
    Ok(Parts { year, month, day })
}

fn number(chars: &mut Peekable<Chars<'_>>, what: &str) -> Result<u32, String> {
    let mut value: u32 = 0;
    let mut digits = 0;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        digits += 1;
        if digits > 4 {
            return Err(format!("the {what} has too many digits"));
        }
        value = value * 10 + d;
    }
    if digits == 0 {
        return Err(format!("the {what} is missing"));
    }
    Ok(value)
}

fn expect(chars: &mut Peekable<Chars<'_>>, want: char) -> Result<(), String> {
    match chars.next() {
        Some(c) if c == want => Ok(()),
        Some(c) => Err(format!("expected '{want}', found '{c}'")),
        None => Err(format!("expected '{want}'")),
    }
}

/// Serde for `NaiveDate` as days since 0001-01-01 (chrono's serde feature is
/// not enabled, and a number is the compact form anyway).
pub(crate) mod days {
    use chrono::{Datelike, NaiveDate};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(date.num_days_from_ce())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let n = i32::deserialize(d)?;
        NaiveDate::from_num_days_from_ce_opt(n)
            .ok_or_else(|| serde::de::Error::custom(format!("day number {n} out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        let d = parse_date(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(d.precision(), Precision::Day, "{text}");
        d.first_day()
    }

    #[test]
    fn western_forms() {
        for text in [
            "1940-03-02",
            "1940/3/2",
            "1940.3.2",
            "19400302",
            "1940年3月2日",
            "１９４０年３月２日",
            "１９４０／０３／０２",
            " 1940-3-2 ",
        ] {
            assert_eq!(day(text), ymd(1940, 3, 2), "{text}");
        }
        let month = parse_date("1940年3月").unwrap();
        assert_eq!(
            (month.precision(), month.to_string()),
            (Precision::Month, "1940-03".into())
        );
        assert_eq!(parse_date("1940-03").unwrap().precision(), Precision::Month);
        assert_eq!(parse_date("1940").unwrap().precision(), Precision::Year);
        assert_eq!(parse_date("1940年").unwrap().precision(), Precision::Year);
    }

    #[test]
    fn japanese_forms() {
        for text in [
            "昭和15年3月2日",
            "昭和１５年３月２日",
            "S15.3.2",
            "s15.3.2",
            "Ｓ１５．３．２",
            "S.15.3.2",
            "S15/3/2",
            "S15-3-2",
            "昭15.3.2",
            "昭和 15年 3月 2日",
            "㍼15年3月2日",
            "3150302",
        ] {
            assert_eq!(day(text), ymd(1940, 3, 2), "{text}");
        }
        assert_eq!(day("平成元年1月8日"), ymd(1989, 1, 8));
        assert_eq!(day("H1.1.8"), ymd(1989, 1, 8));
        assert_eq!(day("令和元年5月1日"), ymd(2019, 5, 1));
        assert_eq!(day("明治45年7月29日"), ymd(1912, 7, 29));
        assert_eq!(day("大正元年7月30日"), ymd(1912, 7, 30));
        assert_eq!(day("T15.12.24"), ymd(1926, 12, 24));
        assert_eq!(day("昭和64年1月7日"), ymd(1989, 1, 7));
        assert_eq!(day("R6.2.29"), ymd(2024, 2, 29));
        assert_eq!(day("4310401"), ymd(2019, 4, 1));
    }

    #[test]
    fn coarse_japanese_dates_keep_their_precision() {
        let d = parse_date("令和2年").unwrap();
        assert_eq!(d.precision(), Precision::Year);
        assert_eq!(
            (d.first_day(), d.last_day()),
            (ymd(2020, 1, 1), ymd(2020, 12, 31))
        );
        let d = parse_date("昭和15年3月").unwrap();
        assert_eq!(d.precision(), Precision::Month);
        assert_eq!(
            (d.first_day(), d.last_day()),
            (ymd(1940, 3, 1), ymd(1940, 3, 31))
        );
        // 令和元年 and 昭和64年 are partial years but exist.
        assert_eq!(parse_date("令和元年").unwrap().first_day(), ymd(2019, 1, 1));
        assert!(parse_date("昭和64年").is_ok());
        assert!(parse_date("平成31年4月").is_ok());
    }

    #[test]
    fn dates_outside_their_era_are_rejected() {
        for (text, why) in [
            ("昭和65年1月1日", "昭和 ended on 1989-01-07"),
            ("昭和65年", "昭和 ended"),
            ("S64.1.8", "昭和 ended"),
            ("平成31年5月1日", "平成 ended on 2019-04-30"),
            ("平成31年5月", "平成 ended"),
            ("令和元年4月30日", "令和 began on 2019-05-01"),
            ("令和1年4月", "令和 began"),
            ("大正元年7月29日", "大正 began"),
            ("明治元年1月1日", "明治 began"),
            ("昭和0年1月1日", "does not exist"),
            ("3650101", "昭和 ended"),
            ("6010101", "era code 6"),
        ] {
            let err = parse_date(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn malformed_dates_are_rejected() {
        for text in [
            "",
            "1940-02-30",
            "1940-13-01",
            "40-3-2",
            "1940-3/2",
            "1940年3月2",
            "昭和15年3月2日生",
            "X15.3.2",
            "19400230",
            "194003",
            "昭和十五年",
            "2025-02-29",
        ] {
            assert!(parse_date(text).is_err(), "{text} should not parse");
        }
    }

    #[test]
    fn parse_day_needs_the_day() {
        assert_eq!(parse_day("2025-04-01").unwrap(), ymd(2025, 4, 1));
        assert_eq!(parse_day("R7.4.1").unwrap(), ymd(2025, 4, 1));
        assert!(parse_day("2025-04").unwrap_err().contains("full date"));
    }

    #[test]
    fn ages_turn_on_the_birthday() {
        let born = ymd(1940, 3, 2);
        assert_eq!(age_on(born, ymd(2025, 3, 1)), Some(84));
        assert_eq!(age_on(born, ymd(2025, 3, 2)), Some(85));
        assert_eq!(age_on(born, ymd(1940, 3, 2)), Some(0));
        assert_eq!(age_on(born, ymd(1940, 3, 1)), None);
        let leap = ymd(2000, 2, 29);
        assert_eq!(age_on(leap, ymd(2025, 2, 28)), Some(24));
        assert_eq!(age_on(leap, ymd(2025, 3, 1)), Some(25));
        assert_eq!(age_on(leap, ymd(2024, 2, 29)), Some(24));
    }

    #[test]
    fn ages_of_coarse_dates_are_known_only_when_settled() {
        let year = parse_date("令和2年").unwrap();
        assert_eq!(year.age_on(ymd(2025, 6, 1)), None);
        assert_eq!(year.age_on(ymd(2025, 12, 31)), Some(5));
        assert_eq!(year.age_on(ymd(2024, 12, 31)), Some(4));
        // Born on 2020-01-01 is 5 on 2025-01-01, born on 2020-12-31 still 4.
        assert_eq!(year.age_on(ymd(2025, 1, 1)), None);
        let month = parse_date("昭和15年3月").unwrap();
        assert_eq!(month.age_on(ymd(2025, 3, 15)), None);
        assert_eq!(month.age_on(ymd(2025, 4, 1)), Some(85));
    }

    #[test]
    fn era_ends() {
        assert_eq!(Era::Showa.end(), Some(ymd(1989, 1, 7)));
        assert_eq!(Era::Heisei.end(), Some(ymd(2019, 4, 30)));
        assert_eq!(Era::Reiwa.end(), None);
    }
}
