//! A prefix dictionary: the longest known name a text starts with.

use rustc_hash::FxHashMap;

/// Canonical key → ids, tried longest first.
#[derive(Default)]
pub(crate) struct PrefixMap {
    keys: FxHashMap<String, Vec<u32>>,
    /// `has_length[n]`: some key is `n` characters long.
    has_length: Vec<bool>,
    /// Longest key (in characters) beginning with each first character:
    /// most texts need only a few probes.
    max_by_first: FxHashMap<char, usize>,
}

impl PrefixMap {
    pub(crate) fn insert(&mut self, key: &str, id: u32) {
        let Some(first) = key.chars().next() else {
            return;
        };
        let n = key.chars().count();
        if self.has_length.len() <= n {
            self.has_length.resize(n + 1, false);
        }
        self.has_length[n] = true;
        let longest = self.max_by_first.entry(first).or_default();
        *longest = (*longest).max(n);
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
        // Byte offsets of the ends of the first characters, up to the
        // longest key starting with the text's first character.
        let mut ends = [0usize; 64];
        let mut n = 0;
        let limit = *self.max_by_first.get(&text.chars().next()?)?;
        for (i, c) in text.char_indices().take(limit.min(ends.len())) {
            ends[n] = i + c.len_utf8();
            n += 1;
        }
        for (len, &end) in ends[..n].iter().enumerate().rev() {
            if !self.has_length[len + 1] {
                continue;
            }
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
