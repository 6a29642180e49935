//! Address text as people write it, folded into one canonical form that the
//! reference names are folded into too.
//!
//! The canonical form: NFKC (full-width digits and Latin letters become
//! ASCII, half-width katakana become full-width), variation selectors
//! dropped, 旧字体/異体字 and ケ/ヶ/が, ノ/之/の folded by the variant table,
//! every hyphen-like character made `-`, whitespace runs made one space, and
//! kanji numerals made digits where they stand for a number (before 丁目, 番,
//! 号, 条, 地割, between hyphens…) but not inside names such as 三軒茶屋 or
//! 六本木.
//!
//! ```
//! use chiiki_geocode::normalize::{canonical, Folds};
//! let folds = Folds::default();
//! assert_eq!(canonical("文京区白山一丁目１２番３４号", &folds), "文京区白山1丁目12番34号");
//! assert_eq!(canonical("世田谷区三軒茶屋二丁目", &folds), "世田谷区三軒茶屋2丁目");
//! assert_eq!(canonical("白山１－２ー３", &folds), "白山1-2-3");
//! ```

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Variant-character folds (e.g. 髙→高, ヶ→が), one character to one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "FxHashMap<char, char>", into = "FxHashMap<char, char>")]
pub struct Folds {
    map: FxHashMap<char, char>,
    /// One bit per character of the Basic Multilingual Plane: set when the
    /// character folds. Most characters of an address do not, and a bit
    /// test is cheaper than a hash lookup per character.
    folds_bmp: Vec<u64>,
}

impl From<FxHashMap<char, char>> for Folds {
    fn from(map: FxHashMap<char, char>) -> Folds {
        let mut folds_bmp = vec![0u64; 0x10000 / 64];
        for &c in map.keys() {
            let c = c as usize;
            if c < 0x10000 {
                folds_bmp[c / 64] |= 1 << (c % 64);
            }
        }
        Folds { map, folds_bmp }
    }
}

impl From<Folds> for FxHashMap<char, char> {
    fn from(folds: Folds) -> Self {
        folds.map
    }
}

impl Folds {
    /// Reads a JSON object mapping a variant character to its canonical form,
    /// as `normalize/itaiji_jageocoder.json`.
    pub fn from_json(text: &str) -> Result<Folds, serde_json::Error> {
        let raw: HashMap<String, String> = serde_json::from_str(text)?;
        let mut map = FxHashMap::default();
        for (from, to) in raw {
            let (mut f, mut t) = (from.chars(), to.chars());
            if let (Some(a), None, Some(b), None) = (f.next(), f.next(), t.next(), t.next()) {
                // Fold the NFKC form, since folding runs after NFKC.
                let a_n = a.to_string().nfkc().next().unwrap_or(a);
                map.insert(a_n, b);
                map.insert(a, b);
            }
        }
        Ok(Folds::from(map))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn fold(&self, c: char) -> char {
        let i = c as usize;
        if i < 0x10000
            && self
                .folds_bmp
                .get(i / 64)
                .is_none_or(|w| w & (1 << (i % 64)) == 0)
        {
            return c;
        }
        *self.map.get(&c).unwrap_or(&c)
    }

    /// Pairs for serialisation in the reference index.
    pub fn pairs(&self) -> Vec<(char, char)> {
        let mut v: Vec<(char, char)> = self.map.iter().map(|(a, b)| (*a, *b)).collect();
        v.sort_unstable();
        v
    }

    pub fn from_pairs(pairs: &[(char, char)]) -> Folds {
        Folds::from(pairs.iter().copied().collect::<FxHashMap<char, char>>())
    }
}

fn is_hyphen(c: char) -> bool {
    matches!(
        c,
        '-' | '‐'
            | '‑'
            | '‒'
            | '–'
            | '—'
            | '―'
            | '−'
            | '⁃'
            | '˗'
            | '─'
            | '━'
            | '－'
            | '﹣'
    )
}

fn is_variation_selector(c: char) -> bool {
    matches!(c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

pub fn kanji_digit(c: char) -> Option<u32> {
    Some(match c {
        '〇' | '零' => 0,
        '一' | '壱' => 1,
        '二' | '弐' => 2,
        '三' | '参' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn kanji_unit(c: char) -> Option<u32> {
    Some(match c {
        '十' | '拾' => 10,
        '百' => 100,
        '千' => 1000,
        _ => return None,
    })
}

fn is_kanji_numeral(c: char) -> bool {
    kanji_digit(c).is_some() || kanji_unit(c).is_some()
}

/// Value of a run of kanji numerals: positional (一〇二 = 102) or with units
/// (百二十三 = 123, 十 = 10).
pub fn kanji_number(run: &[char]) -> Option<u32> {
    if run.is_empty() {
        return None;
    }
    if run.iter().any(|c| kanji_unit(*c).is_some()) {
        let mut total = 0u32;
        let mut digit: Option<u32> = None;
        for &c in run {
            if let Some(d) = kanji_digit(c) {
                if digit.is_some() {
                    return None; // 二三十: not a number
                }
                digit = Some(d);
            } else if let Some(u) = kanji_unit(c) {
                total += digit.unwrap_or(1) * u;
                digit = None;
            }
        }
        Some(total + digit.unwrap_or(0))
    } else {
        run.iter()
            .try_fold(0u32, |acc, c| Some(acc.checked_mul(10)? + kanji_digit(*c)?))
    }
}

/// Words after which (or before which) a kanji numeral run is a number.
const NUMBER_SUFFIXES: [&str; 7] = ["丁目", "番", "号", "条", "地割", "線", "-"];

fn followed_by_number_word(chars: &[char], at: usize) -> bool {
    if at >= chars.len() {
        return true; // end of text: "…白山一" is a number
    }
    let starts_with = |word: &str| {
        word.chars()
            .enumerate()
            .all(|(k, w)| chars.get(at + k) == Some(&w))
    };
    // After a space, what follows decides: 「白山 一 丁目」 is a number,
    // 「千 駄木」 a name with a stray space.
    let after_space = chars[at..].iter().position(|&c| c != ' ').map(|k| at + k);
    let numeric_after_space = chars[at] == ' '
        && after_space.is_none_or(|k| {
            chars[k].is_ascii_digit()
                || chars[k] == '-'
                || is_kanji_numeral(chars[k])
                || NUMBER_SUFFIXES.iter().any(|s| {
                    s.chars()
                        .enumerate()
                        .all(|(j, w)| chars.get(k + j) == Some(&w))
                })
        });
    NUMBER_SUFFIXES.iter().any(|s| starts_with(s))
        || numeric_after_space
        || chars[at].is_ascii_digit()
        || (chars[at] == 'ー'
            && chars
                .get(at + 1)
                .is_some_and(|c| c.is_ascii_digit() || is_kanji_numeral(*c)))
        || (chars[at] == 'の'
            && chars
                .get(at + 1)
                .is_some_and(|c| c.is_ascii_digit() || is_kanji_numeral(*c)))
}

fn preceded_by_number_word(out: &str) -> bool {
    out.ends_with('-')
        || out.ends_with('番')
        || out.ends_with("番地")
        || out.ends_with("丁目")
        || out.ends_with('号')
        || out.ends_with('第')
        || out.ends_with('条')
        || out.ends_with('の')
            && out
                .chars()
                .rev()
                .nth(1)
                .is_some_and(|c| c.is_ascii_digit() || c == '地')
}

/// Characters that NFKC leaves alone or maps by a fixed offset: kanji, kana,
/// ASCII, full-width ASCII and the ideographic space — nearly all of an address.
fn is_simple_width(c: char) -> bool {
    c.is_ascii()
        || matches!(c as u32, 0x3041..=0x3096 | 0x30A1..=0x30FA | 0x30FC | 0x4E00..=0x9FFF | 0xFF01..=0xFF5E | 0x3000)
}

fn simple_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    }
}

/// Pass 1 of [`canonical`]: variants, hyphens and spaces of width-folded text.
/// Returns whether a variant fold changed any character.
fn fold_chars(
    width_folded: impl Iterator<Item = char>,
    folds: &Folds,
    chars: &mut Vec<char>,
) -> bool {
    let mut changed = false;
    for c in width_folded {
        let c = if c.is_ascii() {
            c
        } else if is_variation_selector(c) {
            continue;
        } else if is_hyphen(c) {
            '-'
        } else {
            let f = folds.fold(c);
            changed |= f != c;
            f
        };
        // Kanji and kana are never whitespace: test only what can be.
        if c.is_ascii_whitespace() || ((c as u32) < 0x3001 && !c.is_ascii() && c.is_whitespace()) {
            if chars.last().is_some_and(|l| *l != ' ') {
                chars.push(' ');
            }
            continue;
        }
        chars.push(c);
    }
    changed
}

/// The canonical form described in the module documentation.
pub fn canonical(text: &str, folds: &Folds) -> String {
    canonical_tracked(text, folds).0
}

/// [`canonical`], and whether a variant fold changed any character (when
/// none did, the text reads the same without folding).
pub fn canonical_tracked(text: &str, folds: &Folds) -> (String, bool) {
    thread_local! {
        /// The characters of the text being folded, kept between calls: an
        /// allocation per address costs more than the folding.
        static CHARS: std::cell::RefCell<Vec<char>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    CHARS.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut chars) => {
            chars.clear();
            fold_text(text, folds, &mut chars)
        }
        Err(_) => fold_text(text, folds, &mut Vec::new()),
    })
}

fn fold_text(text: &str, folds: &Folds, chars: &mut Vec<char>) -> (String, bool) {
    // Pass 1: width, variants, hyphens, spaces.
    // NFKC only where it can change something (half-width katakana and their
    // sound marks, circled digits, …); the rest is a fixed mapping.
    // One decoding pass in the usual case; text that needs NFKC is read again.
    let simple = std::cell::Cell::new(true);
    let width_folded = text.chars().map(|c| {
        if !is_simple_width(c) {
            simple.set(false);
        }
        simple_width(c)
    });
    let mut folded = fold_chars(width_folded, folds, chars);
    if !simple.get() {
        chars.clear();
        folded = fold_chars(text.nfkc(), folds, chars);
    }
    while chars.last() == Some(&' ') {
        chars.pop();
    }

    // Pass 2: kanji numerals in number positions, and the long-vowel mark
    // used as a hyphen between numbers.
    let mut out = String::with_capacity(text.len());
    if !chars.iter().any(|&c| c == 'ー' || is_kanji_numeral(c)) {
        out.extend(chars.iter());
        return (out, folded);
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_kanji_numeral(c) {
            let start = i;
            while i < chars.len() && is_kanji_numeral(chars[i]) {
                i += 1;
            }
            let run = &chars[start..i];
            let numeric_context =
                followed_by_number_word(chars, i) || preceded_by_number_word(&out);
            match kanji_number(run) {
                Some(n) if numeric_context => out.push_str(itoa::Buffer::new().format(n)),
                _ => out.extend(run),
            }
            continue;
        }
        if c == 'ー'
            && out.chars().last().is_some_and(|p| p.is_ascii_digit())
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_digit() || is_kanji_numeral(*n))
        {
            out.push('-');
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    (out, folded)
}

/// Kanji form of a 丁目 number, as towns are displayed (白山一丁目).
pub fn kanji_chome(n: u32) -> String {
    const D: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let (tens, ones) = (n / 10, n % 10);
    let mut s = String::new();
    if tens > 1 {
        s.push_str(D[tens as usize % 10]);
    }
    if tens >= 1 {
        s.push('十');
    }
    s.push_str(D[ones as usize]);
    if s.is_empty() {
        s.push('〇');
    }
    s
}

/// Parses the 丁目 number of an ABR `chome` field (`１丁目`, `一丁目`).
pub fn parse_chome(field: &str) -> Option<u32> {
    let folded: String = field.nfkc().collect();
    let head = folded.strip_suffix("丁目").unwrap_or(&folded);
    if let Ok(n) = head.parse() {
        return Some(n);
    }
    kanji_number(&head.chars().collect::<Vec<_>>())
}

/// Up to three numbers of an address (街区-住居番号-枝番, or 地番
/// 本番-枝番-孫番), kept without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Numbers {
    values: [u32; 3],
    len: u8,
}

impl Numbers {
    /// Appends `n`; a fourth number is not kept.
    pub fn push(&mut self, n: u32) {
        if let Some(slot) = self.values.get_mut(self.len as usize) {
            *slot = n;
            self.len += 1;
        }
    }

    /// The first `n` numbers.
    pub fn prefix(&self, n: usize) -> Numbers {
        let mut out = *self;
        out.len = n.min(self.len as usize) as u8;
        out.values[out.len as usize..].fill(0);
        out
    }
}

impl std::ops::Deref for Numbers {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.values[..self.len as usize]
    }
}

/// What a run of numbers after the town looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberTail {
    /// Up to three numbers: 街区-住居番号-枝番 or 地番 本番-枝番-枝番.
    pub numbers: Numbers,
    /// Byte offset in the tail where the address numbers end.
    pub consumed: usize,
}

/// Words that turn a preceding `N号` into part of a building (5号棟, 3号館,
/// 201号室), so the number is not the address's 号.
const BUILDING_AFTER_GOU: [char; 4] = ['棟', '館', '室', '地'];

/// Reads `12番34号`, `12-34`, `12番地の3`, `103番地3`, `1-2-3` … from the start
/// of a canonical tail. Stops at the first thing that is not part of the
/// address number (a building name, a room, a space).
pub fn parse_number_tail(tail: &str) -> NumberTail {
    let bytes = tail.as_bytes();
    let mut numbers = Numbers::default();
    let mut pos = 0;
    let mut consumed = 0;
    let read_number = |pos: usize| -> Option<(u32, usize)> {
        let mut end = pos;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end == pos || end - pos > 6 {
            return None;
        }
        Some((tail[pos..end].parse().ok()?, end))
    };
    // Optional leading 第 (第3地割) is left to the caller.
    while numbers.len() < 3 {
        let Some((n, end)) = read_number(pos) else {
            break;
        };
        let after = &tail[end..];
        // `N号棟`, `N号室`: a building part, not the address.
        if let Some(rest) = after.strip_prefix('号') {
            if rest
                .chars()
                .next()
                .is_some_and(|c| BUILDING_AFTER_GOU.contains(&c))
            {
                break;
            }
            numbers.push(n);
            consumed = end + '号'.len_utf8();
            break; // 号 closes the address
        }
        numbers.push(n);
        consumed = end;
        // Separator to the next number.
        let seps = ["番地の", "番地", "番の", "番", "-", "の"];
        let mut next = None;
        for s in seps {
            if let Some(r) = after.strip_prefix(s) {
                next = Some((end + s.len(), r));
                break;
            }
        }
        match next {
            Some((next_pos, r)) if r.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) => {
                pos = next_pos;
            }
            Some((next_pos, _)) if after.starts_with('番') => {
                // `12番地` / `12番` at the end: consume the word.
                consumed = next_pos;
                break;
            }
            _ => break,
        }
    }
    NumberTail { numbers, consumed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folds() -> Folds {
        Folds::from_json(
            r#"{"ケ":"が","ヶ":"が","ノ":"の","之":"の","髙":"高","﨑":"崎","邊":"辺"}"#,
        )
        .unwrap()
    }

    #[test]
    fn widths_hyphens_and_spaces() {
        let f = folds();
        assert_eq!(canonical("白山１－２－３", &f), "白山1-2-3");
        for h in ["-", "‐", "‑", "–", "—", "―", "−", "－", "ｰ", "ー"] {
            assert_eq!(canonical(&format!("白山1{h}2"), &f), "白山1-2", "{h}");
        }
        assert_eq!(
            canonical("文京区　白山 1-2  メゾン", &f),
            "文京区 白山 1-2 メゾン"
        );
        assert_eq!(canonical("ﾒｿﾞﾝ白山", &f), "メゾン白山");
        // A long-vowel mark in a name stays.
        assert_eq!(canonical("センター1-2", &f), "センター1-2");
    }

    #[test]
    fn kanji_numerals_only_where_they_are_numbers() {
        let f = folds();
        assert_eq!(
            canonical("白山一丁目十二番三十四号", &f),
            "白山1丁目12番34号"
        );
        assert_eq!(canonical("百二十三番地", &f), "123番地");
        assert_eq!(canonical("一〇二番地の五", &f), "102番地の5");
        assert_eq!(canonical("三軒茶屋二丁目", &f), "三軒茶屋2丁目");
        assert_eq!(canonical("六本木七丁目", &f), "六本木7丁目");
        assert_eq!(canonical("八丁堀一丁目", &f), "八丁堀1丁目");
        assert_eq!(canonical("十日町", &f), "十日町");
        assert_eq!(canonical("一―二―三", &f), "1-2-3");
        assert_eq!(canonical("北一条西二丁目", &f), "北1条西2丁目");
        assert_eq!(canonical("第三地割", &f), "第3地割");
    }

    #[test]
    fn variants_fold() {
        let f = folds();
        assert_eq!(canonical("髙田馬場", &f), "高田馬場");
        assert_eq!(canonical("霞ヶ関", &f), canonical("霞ケ関", &f));
        assert_eq!(canonical("霞が関", &f), canonical("霞ヶ関", &f));
        assert_eq!(canonical("竹ノ塚", &f), canonical("竹の塚", &f));
        // Variation selector after a kanji.
        assert_eq!(canonical("葛\u{E0100}飾", &f), "葛飾");
    }

    #[test]
    fn kanji_number_values() {
        let n = |s: &str| kanji_number(&s.chars().collect::<Vec<_>>());
        assert_eq!(n("十"), Some(10));
        assert_eq!(n("二十"), Some(20));
        assert_eq!(n("十五"), Some(15));
        assert_eq!(n("百二十三"), Some(123));
        assert_eq!(n("千百"), Some(1100));
        assert_eq!(n("一〇二"), Some(102));
        assert_eq!(n("二三十"), None);
        assert_eq!(kanji_chome(1), "一");
        assert_eq!(kanji_chome(10), "十");
        assert_eq!(kanji_chome(12), "十二");
        assert_eq!(kanji_chome(20), "二十");
        assert_eq!(parse_chome("１丁目"), Some(1));
        assert_eq!(parse_chome("十二丁目"), Some(12));
    }

    #[test]
    fn number_tails() {
        fn t(s: &str) -> (Vec<u32>, &str) {
            let r = parse_number_tail(s);
            (r.numbers.to_vec(), &s[r.consumed..])
        }
        assert_eq!(t("12番34号"), (vec![12, 34], ""));
        assert_eq!(t("12-34"), (vec![12, 34], ""));
        assert_eq!(t("1-2-3 メゾン201"), (vec![1, 2, 3], " メゾン201"));
        assert_eq!(t("103番地の3"), (vec![103, 3], ""));
        assert_eq!(t("103番地3"), (vec![103, 3], ""));
        assert_eq!(t("103番地"), (vec![103], ""));
        assert_eq!(t("5番"), (vec![5], ""));
        assert_eq!(t("1番1号5号棟302"), (vec![1, 1], "5号棟302"));
        assert_eq!(t("1-1 5号棟"), (vec![1, 1], " 5号棟"));
        assert_eq!(t("5号棟"), (vec![], "5号棟"));
        assert_eq!(t("1-2-3-302"), (vec![1, 2, 3], "-302"));
        assert_eq!(t("白山ハイツ"), (vec![], "白山ハイツ"));
    }
}
