//! 京都's street descriptions: 「寺町通御池上る上本能寺前町」 places the town
//! by the streets around it — 通り名, then 上る/下る (north/south) or
//! 東入/西入 — before the town's name, which is what the reference knows.
//! 「＊＊通＊＊上るより＊＊下るまで＊＊町」 gives a stretch of street.

/// Direction words, longest spellings first so that 東入る is read whole.
const DIRECTIONS: [&str; 16] = [
    "東入る",
    "西入る",
    "東入ル",
    "西入ル",
    "上がる",
    "下がる",
    "上ガル",
    "下ガル",
    "東入",
    "西入",
    "上る",
    "下る",
    "上ル",
    "下ル",
    "上り",
    "下り",
];

/// Whether `text` holds a street direction (上る, 東入 …).
pub(crate) fn has_directions(text: &str) -> bool {
    DIRECTIONS[..14].iter().any(|d| text.contains(d))
}

/// Where the town may start in `text`, most likely first: after 「まで」,
/// then after each direction word from the last to the first. (A start
/// inside a longer word, 「る…」 after 東入 of 東入る, matches no town.)
pub(crate) fn town_starts(text: &str) -> Vec<usize> {
    let mut ends: Vec<usize> = DIRECTIONS
        .iter()
        .flat_map(|d| text.match_indices(d).map(move |(at, _)| at + d.len()))
        .filter(|&end| end < text.len())
        .collect();
    ends.sort_unstable_by(|a, b| b.cmp(a));
    ends.dedup();
    let until = text
        .rfind("まで")
        .map(|at| at + "まで".len())
        .filter(|&end| end < text.len());
    until.into_iter().chain(ends).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(text: &str) -> Vec<&str> {
        town_starts(text).into_iter().map(|i| &text[i..]).collect()
    }

    #[test]
    fn towns_after_the_last_direction() {
        assert_eq!(
            starts("寺町通御池上る上本能寺前町488")[0],
            "上本能寺前町488"
        );
        assert_eq!(starts("四条通烏丸東入長刀鉾町")[0], "長刀鉾町");
        assert_eq!(starts("四条通烏丸東入ル長刀鉾町")[0], "長刀鉾町");
        assert_eq!(starts("今出川通烏丸東入る玄武町")[0], "玄武町");
        assert!(has_directions("河原町通三条上る恵比須町"));
        assert!(!has_directions("文京区白山1-1-1"));
    }

    #[test]
    fn a_stretch_of_street() {
        let s = starts("寺町通今出川上るより鞍馬口下るまで石薬師町");
        assert_eq!(s[0], "石薬師町");
    }
}
