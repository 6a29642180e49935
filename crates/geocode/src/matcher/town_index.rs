//! The towns of a city (or of several, or of all Japan) by the names an
//! address can start with.

use super::prefix::PrefixMap;
use crate::reference::{strip_aza, Towns};

/// Town ids: nearly always one, kept without allocating.
#[derive(Debug, Clone)]
pub(crate) enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    pub fn from_slice(ids: &[u32]) -> Ids {
        match ids {
            [one] => Ids::One(*one),
            many => Ids::Many(many.to_vec()),
        }
    }

    pub fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(one) => std::slice::from_ref(one),
            Ids::Many(many) => many,
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        match self {
            Ids::One(one) if !keep(*one) => *self = Ids::Many(Vec::new()),
            Ids::One(_) => {}
            Ids::Many(many) => many.retain(|&t| keep(t)),
        }
    }
}

impl std::ops::Deref for Ids {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        self.as_slice()
    }
}

/// How a reading found its towns.
pub(crate) struct TownMatch<'t> {
    pub towns: Ids,
    /// The text after the town name (and after the 丁目 number when it was
    /// read from the first number).
    pub rest: &'t str,
    /// The 丁目 came from a bare number (白山1-2-3), not from 丁目 written.
    pub chome_from_number: bool,
}

impl<'t> TownMatch<'t> {
    /// Maps the rest of a match made on a rewritten text back onto the
    /// original text, whose tail the rewrite copied unchanged.
    pub fn rest_in(self, original: &str) -> TownMatch<'_> {
        let start = original.len().saturating_sub(self.rest.len());
        TownMatch {
            towns: self.towns,
            rest: original.get(start..).unwrap_or(""),
            chome_from_number: self.chome_from_number,
        }
    }
}

/// Town names of some towns, ready for prefix lookups.
#[derive(Default)]
pub(crate) struct TownIndex {
    /// Canonical names, with and without 小字.
    names: PrefixMap,
    /// The 大字・町 of towns with a 丁目 (or 丁) number → those towns.
    chome_oaza: PrefixMap,
    /// The base of 条・丁目 towns (月寒東 of 月寒東3条18丁目) → those towns.
    jo_bases: PrefixMap,
}

impl TownIndex {
    pub fn build(towns: &Towns, ids: impl Iterator<Item = u32>) -> TownIndex {
        let mut index = TownIndex::default();
        let mut key = String::new();
        for id in ids {
            let t = towns.get(id);
            if t.koaza.is_empty() {
                index.names.insert(t.name_key, id);
            } else {
                for joiner in ["", "字", "小字"] {
                    key.clear();
                    key.push_str(t.name_key);
                    key.push_str(joiner);
                    key.push_str(t.koaza_key);
                    index.names.insert(&key, id);
                }
            }
            if t.chome > 0 && t.koaza.is_empty() {
                index.chome_oaza.insert(t.oaza_key, id);
                if let Some(base) = jo_base(t.oaza_key) {
                    index.jo_bases.insert(base, id);
                }
            }
        }
        index
    }

    /// Every name with its towns.
    pub fn names(&self) -> impl Iterator<Item = (&str, &[u32])> {
        self.names.iter()
    }

    /// Every 大字・町 that has 丁目, with its towns.
    pub fn chome_names(&self) -> impl Iterator<Item = (&str, &[u32])> {
        self.chome_oaza.iter()
    }

    /// The readings of the town at the start of `text`: the name as written,
    /// and the 大字・町 followed by a number that is its 丁目.
    pub fn readings<'t>(&self, towns: &Towns, text: &'t str) -> Vec<TownMatch<'t>> {
        let stripped = strip_aza(text);
        let mut readings = self.plain_readings(towns, stripped);
        // Short forms of 条・丁目 names, rewritten in full: readings beside
        // that of a bare town of the same base (北郷 and 北郷1条8丁目).
        for rewritten in [self.jo_short_form(stripped), expand_sapporo_jo(stripped)]
            .into_iter()
            .flatten()
        {
            readings.extend(
                self.plain_readings(towns, &rewritten)
                    .into_iter()
                    .map(|m| m.rest_in(stripped)),
            );
        }
        readings
    }

    fn plain_readings<'t>(&self, towns: &Towns, stripped: &'t str) -> Vec<TownMatch<'t>> {
        let mut readings = Vec::new();
        let direct = self.names.longest(stripped);
        if let Some((ids, rest)) = direct {
            readings.push(TownMatch {
                towns: Ids::from_slice(ids),
                rest,
                chome_from_number: false,
            });
        }
        if let Some(m) = self.chome_reading(towns, stripped) {
            // 白山1丁目 found as written and as 白山 + 1丁目: one reading.
            let same = direct.is_some_and(|(ids, rest)| rest == m.rest && *ids == *m.towns);
            if !same {
                readings.push(m);
            }
        }
        readings
    }

    /// 「白山1-2-3」, 「北長尾町2丁3-10」: the 丁目 (or 丁) as a number after
    /// the 大字・町. Without a number, every 丁目 of the town is a candidate.
    fn chome_reading<'t>(&self, towns: &Towns, text: &'t str) -> Option<TownMatch<'t>> {
        let (ids, rest) = self.chome_oaza.longest(text)?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            // No number at all: the name alone, or followed by more name.
            let rest_is_name = rest
                .chars()
                .next()
                .is_some_and(|c| !c.is_ascii_digit() && c != '-');
            return (rest.is_empty() || rest_is_name).then(|| TownMatch {
                towns: Ids::from_slice(ids),
                rest,
                chome_from_number: true,
            });
        }
        let n: u32 = rest[..digits].parse().ok()?;
        let after = &rest[digits..];
        // 丁目 or 丁 written after a town known by another spelling of its
        // number: the number is the 丁目 as written.
        let written = after
            .strip_prefix("丁目")
            .or_else(|| after.strip_prefix('丁'));
        let (after, from_number) = if let Some(a) = written {
            (a, false)
        } else if let Some(a) = after.strip_prefix('-').or_else(|| after.strip_prefix("の")) {
            (a, true)
        } else {
            return None;
        };
        let mut found = Ids::from_slice(ids);
        found.retain(|t| towns.get(t).chome == n);
        (!found.is_empty()).then_some(TownMatch {
            towns: found,
            rest: after,
            chome_from_number: from_number,
        })
    }

    /// 「月寒東3-18-1」 for 月寒東三条十八丁目1: a 条・丁目 town written as two
    /// numbers after its base, rewritten as 月寒東3条18丁目1.
    fn jo_short_form(&self, text: &str) -> Option<String> {
        let (_, rest) = self.jo_bases.longest(text)?;
        let base = &text[..text.len() - rest.len()];
        let n1 = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n1 == 0 {
            return None;
        }
        let after = &rest[n1..];
        let jo_written = after.starts_with('条');
        let after = after.strip_prefix('条').unwrap_or(after);
        let dash = after.starts_with('-');
        let after = after.strip_prefix('-').unwrap_or(after);
        // 八軒7条西6丁目: a side of the 条 between the numbers.
        let side = after.chars().next().filter(|c| "東西南北".contains(*c));
        let after = &after[side.map_or(0, char::len_utf8)..];
        let n2 = after.bytes().take_while(u8::is_ascii_digit).count();
        // The numbers need something between them (月寒東3-18, 八軒2西3).
        if n2 == 0 || !(jo_written || dash || side.is_some()) {
            return None;
        }
        let tail = &after[n2..];
        let tail = tail.strip_prefix("丁目").unwrap_or(tail);
        let side = side.map(String::from).unwrap_or_default();
        Some(format!(
            "{base}{}条{side}{}丁目{tail}",
            &rest[..n1],
            &after[..n2]
        ))
    }
}

/// 札幌: 「北1西2」 and 「北1条西2丁目」 both mean 北一条西二丁目.
pub(crate) fn expand_sapporo_jo(text: &str) -> Option<String> {
    let d1 = text.chars().next()?;
    if !"東西南北".contains(d1) {
        return None;
    }
    let mut pos = d1.len_utf8();
    let n1_len = text[pos..].bytes().take_while(u8::is_ascii_digit).count();
    if n1_len == 0 {
        return None;
    }
    let n1 = &text[pos..pos + n1_len];
    pos += n1_len;
    if text[pos..].starts_with('条') {
        pos += '条'.len_utf8();
    }
    let d2 = text[pos..].chars().next()?;
    if !"東西南北".contains(d2) {
        return None;
    }
    pos += d2.len_utf8();
    let n2_len = text[pos..].bytes().take_while(u8::is_ascii_digit).count();
    if n2_len == 0 {
        return None;
    }
    let n2 = &text[pos..pos + n2_len];
    pos += n2_len;
    if text[pos..].starts_with("丁目") {
        pos += "丁目".len();
    }
    Some(format!("{d1}{n1}条{d2}{n2}丁目{}", &text[pos..]))
}

/// 「月寒東3条」 → 「月寒東」, 「八軒7条西」 → 「八軒」: the base of a 条 name,
/// if it is one.
fn jo_base(oaza_key: &str) -> Option<&str> {
    // 八軒7条西: the side of the 条 after it.
    let head = oaza_key
        .strip_suffix(|c: char| "東西南北".contains(c))
        .unwrap_or(oaza_key);
    let head = head.strip_suffix('条')?;
    let base = head.trim_end_matches(|c: char| c.is_ascii_digit());
    (base.len() < head.len() && !base.is_empty()).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sapporo_jo_forms() {
        assert_eq!(expand_sapporo_jo("北1西2").unwrap(), "北1条西2丁目");
        assert_eq!(
            expand_sapporo_jo("北1条西2丁目3-4").unwrap(),
            "北1条西2丁目3-4"
        );
        assert_eq!(
            expand_sapporo_jo("南10西15"),
            Some("南10条西15丁目".to_string())
        );
        assert!(expand_sapporo_jo("大通西1").is_none());
    }

    #[test]
    fn jo_bases() {
        assert_eq!(jo_base("月寒東3条"), Some("月寒東"));
        assert_eq!(jo_base("八軒7条西"), Some("八軒"));
        assert_eq!(jo_base("北1条西"), Some("北"));
        assert_eq!(jo_base("3条"), None);
        assert_eq!(jo_base("白山"), None);
    }
}
