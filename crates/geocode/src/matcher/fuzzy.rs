//! Names written with variant characters (驒 for 騨, 麴 for 麹) or with one
//! wrong character (冶 for 治, 巳 for 己, U+FFFD from a bad conversion),
//! matched among the towns of the city being read, never folded blindly:
//! the variant families are broad, and a one-character slip is only
//! believed when what was written is no place name at all.

/// How a written name differs from the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Likeness {
    /// Every differing character is a known variant of the reference's.
    Variant,
    /// One character differs and is no known variant.
    OneCharacter,
}

/// A reference name that the start of a text spells differently.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spelling<'n> {
    /// The reference's name (a town index key).
    pub key: &'n str,
    /// Bytes of the text that spell it.
    pub written_len: usize,
    pub likeness: Likeness,
    /// The first differing character: as written, as in the reference.
    pub written: char,
    pub reference: char,
}

/// Pairs of characters that may stand for each other, sorted.
pub(crate) struct Variants<'a>(pub &'a [(char, char)]);

impl Variants<'_> {
    fn related(&self, a: char, b: char) -> bool {
        self.0.binary_search(&(a, b)).is_ok()
    }
}

/// The names among `names` that the start of `text` spells with variant
/// characters or one wrong character: the best kind of likeness found, the
/// longest names of that kind (several when they tie).
pub(crate) fn spellings<'n>(
    names: impl Iterator<Item = &'n str>,
    text: &str,
    variants: &Variants,
) -> Vec<Spelling<'n>> {
    let written: Vec<(usize, char)> = text.char_indices().take(48).collect();
    let mut best: Vec<Spelling<'n>> = Vec::new();
    for key in names {
        let Some(s) = compare(key, &written, text.len(), variants) else {
            continue;
        };
        let better = match best.first() {
            None => true,
            Some(b) => (s.likeness, std::cmp::Reverse(s.key.len()))
                .cmp(&(b.likeness, std::cmp::Reverse(b.key.len())))
                .is_lt(),
        };
        if better {
            best.clear();
            best.push(s);
        } else if best
            .first()
            .is_some_and(|b| b.likeness == s.likeness && b.key.len() == s.key.len())
        {
            best.push(s);
        }
    }
    best
}

/// How `text` (its first characters, with byte offsets) spells `key`, if
/// it spells it with variants or one wrong character.
fn compare<'n>(
    key: &'n str,
    written: &[(usize, char)],
    text_len: usize,
    variants: &Variants,
) -> Option<Spelling<'n>> {
    let mut differing: Option<(char, char)> = None;
    let mut wrong = 0;
    let mut n = 0;
    for (i, k) in key.chars().enumerate() {
        let &(_, w) = written.get(i)?;
        n = i + 1;
        if w == k {
            continue;
        }
        // A digit or a hyphen is a number, not a misspelt character
        // (吹上1丁目 is no 吹上町).
        if w.is_ascii() {
            return None;
        }
        if !variants.related(w, k) {
            wrong += 1;
            if wrong > 1 {
                return None;
            }
            // Report the wrong character rather than an earlier variant.
            differing = Some((w, k));
        } else if differing.is_none() {
            differing = Some((w, k));
        }
    }
    let (w, k) = differing?;
    let likeness = if wrong == 0 {
        Likeness::Variant
    } else {
        // One character of two is too much of the name (本町, 本郷), even a
        // visibly lost one (円� could be 円山 or 円町 of another city).
        if n < 3 {
            return None;
        }
        Likeness::OneCharacter
    };
    let written_len = written.get(n).map_or(text_len, |&(at, _)| at);
    Some(Spelling {
        key,
        written_len,
        likeness,
        written: w,
        reference: k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRS: [(char, char); 4] = [('騨', '驒'), ('驒', '騨'), ('麴', '麹'), ('麹', '麴')];

    fn find<'n>(names: &[&'n str], text: &str) -> Vec<(&'n str, Likeness, usize)> {
        spellings(names.iter().copied(), text, &Variants(&PAIRS))
            .into_iter()
            .map(|s| (s.key, s.likeness, s.written_len))
            .collect()
    }

    #[test]
    fn variants_before_one_wrong_character() {
        let names = ["麹町", "麹谷町", "明治町"];
        assert_eq!(find(&names, "麴町3-1"), [("麹町", Likeness::Variant, 6)]);
        assert_eq!(
            find(&names, "明冶町1-2"),
            [("明治町", Likeness::OneCharacter, 9)]
        );
        assert_eq!(
            find(&names, "明\u{FFFD}町1"),
            [("明治町", Likeness::OneCharacter, 9)]
        );
        // Exact names are not this module's business.
        assert!(find(&names, "明治町").is_empty());
    }

    #[test]
    fn short_names_are_not_guessed() {
        let names = ["本郷", "西町", "吹上町"];
        assert!(find(&names, "本町1-1").is_empty());
        assert!(find(&names, "本\u{FFFD}1").is_empty());
        assert!(find(&names, "東町").is_empty());
        // A number where the name has a character.
        assert!(find(&names, "吹上1丁目").is_empty());
    }

    #[test]
    fn ties_are_all_returned() {
        let names = ["明治町", "明石町"];
        assert_eq!(find(&names, "明\u{FFFD}町").len(), 2);
    }
}
