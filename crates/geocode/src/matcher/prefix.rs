//! A prefix dictionary: the longest known name a text starts with.

use rustc_hash::FxHashMap;

/// Canonical key → ids, tried longest first.
#[derive(Default)]
pub(crate) struct PrefixMap {
    keys: FxHashMap<String, Vec<u32>>,
    /// For each first character, the lengths (in characters, bit n − 1 for
    /// length n, up to 64) of the keys that begin with it: a text is looked
    /// up at those lengths only — mostly one.
    lengths_by_first: FxHashMap<char, u64>,
}

/// Keys longer than this many characters are never found.
const MAX_CHARS: usize = 64;

impl PrefixMap {
    pub(crate) fn insert(&mut self, key: &str, id: u32) {
        let Some(first) = key.chars().next() else {
            return;
        };
        let n = key.chars().count();
        if n > MAX_CHARS {
            return;
        }
        *self.lengths_by_first.entry(first).or_default() |= 1 << (n - 1);
        match self.keys.get_mut(key) {
            Some(ids) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => {
                self.keys.insert(key.to_string(), vec![id]);
            }
        }
    }

    /// The longest key that `text` starts with, and what follows it.
    pub(crate) fn longest<'t>(&self, text: &'t str) -> Option<(&[u32], &'t str)> {
        let mut lengths = *self.lengths_by_first.get(&text.chars().next()?)?;
        // Byte offsets of the ends of the first characters, up to the
        // longest key starting with the text's first character.
        let longest = 64 - lengths.leading_zeros() as usize;
        let mut ends = [0usize; MAX_CHARS];
        let mut n = 0;
        for (i, c) in text.char_indices().take(longest) {
            ends[n] = i + c.len_utf8();
            n += 1;
        }
        // Longest first, at the lengths some key has.
        while lengths != 0 {
            let len = 64 - lengths.leading_zeros() as usize;
            lengths &= !(1 << (len - 1));
            if len > n {
                continue;
            }
            let end = ends[len - 1];
            if let Some(ids) = self.keys.get(&text[..end]) {
                return Some((ids, &text[end..]));
            }
        }
        None
    }

    /// Every key, with its ids.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u32])> {
        self.keys.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_key_wins() {
        let mut m = PrefixMap::default();
        m.insert("白山", 1);
        m.insert("白山一丁目", 2);
        m.insert("白", 3);
        assert_eq!(m.longest("白山一丁目1-1"), Some((&[2][..], "1-1")));
        assert_eq!(m.longest("白山5"), Some((&[1][..], "5")));
        assert_eq!(m.longest("黒"), None);
    }
}
