//! Numbers as people write them in addresses: arabic, full-width, 漢数字
//! with 十百千 (百二十三) and positional 漢数字 (一二三, 一〇二).

/// `123` → `１２３`.
pub fn fullwidth(n: u32) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect()
}

const DIGITS: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// `102` → `一〇二`, `12` → `一二` (one 漢数字 per digit, as in 縦書き).
pub fn kanji_positional(n: u32) -> String {
    n.to_string()
        .chars()
        .map(|c| DIGITS[c as usize - '0' as usize])
        .collect()
}

/// `12` → `十二`, `34` → `三十四`, `123` → `百二十三`, `1010` → `千十`,
/// `20000` → `二万`. Zero is `〇`.
pub fn kanji(n: u32) -> String {
    if n == 0 {
        return "〇".into();
    }
    let mut out = String::new();
    let man = n / 10_000;
    if man > 0 {
        out.push_str(&below_10000(man));
        out.push('万');
    }
    out.push_str(&below_10000(n % 10_000));
    out
}

fn below_10000(n: u32) -> String {
    let mut out = String::new();
    for (unit, mark) in [(1000, '千'), (100, '百'), (10, '十')] {
        let d = (n / unit) % 10;
        if d > 1 {
            out.push(DIGITS[d as usize]);
        }
        if d > 0 {
            out.push(mark);
        }
    }
    if !n.is_multiple_of(10) {
        out.push(DIGITS[(n % 10) as usize]);
    }
    out
}

/// Reads ABR's 丁目 text: `１丁目`, `一丁目`, `1丁目`, `十一丁目` → the number.
pub fn parse_chome(text: &str) -> Option<u32> {
    let t = text.trim().strip_suffix("丁目").unwrap_or(text.trim());
    if t.is_empty() {
        return None;
    }
    let ascii: String = t
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap(),
            c => c,
        })
        .collect();
    if let Ok(n) = ascii.parse() {
        return Some(n);
    }
    parse_kanji(t)
}

/// `百二十三` → 123, `十一` → 11, `一〇二` → 102.
pub fn parse_kanji(t: &str) -> Option<u32> {
    let digit = |c: char| DIGITS.iter().position(|&d| d == c).map(|d| d as u32);
    if t.chars().all(|c| digit(c).is_some()) {
        return t
            .chars()
            .try_fold(0u32, |acc, c| Some(acc * 10 + digit(c)?));
    }
    let (mut total, mut current) = (0u32, 0u32);
    for c in t.chars() {
        match c {
            '十' | '百' | '千' => {
                let unit = match c {
                    '十' => 10,
                    '百' => 100,
                    _ => 1000,
                };
                total += current.max(1) * unit;
                current = 0;
            }
            '万' => {
                total = (total + current) * 10_000;
                current = 0;
            }
            c => current = current * 10 + digit(c)?,
        }
    }
    Some(total + current)
}

#[allow(dead_code)]
pub fn self_check() {
    for (n, k) in [
        (1, "一"),
        (10, "十"),
        (12, "十二"),
        (20, "二十"),
        (34, "三十四"),
        (100, "百"),
        (123, "百二十三"),
        (1010, "千十"),
        (3244, "三千二百四十四"),
        (20000, "二万"),
    ] {
        assert_eq!(kanji(n), k);
        assert_eq!(parse_kanji(k), Some(n));
    }
    assert_eq!(kanji_positional(102), "一〇二");
    assert_eq!(parse_kanji("一〇二"), Some(102));
    assert_eq!(fullwidth(1663), "１６６３");
    assert_eq!(parse_chome("１丁目"), Some(1));
    assert_eq!(parse_chome("一丁目"), Some(1));
    assert_eq!(parse_chome("１１丁目"), Some(11));
    assert_eq!(parse_chome("十一丁目"), Some(11));
    assert_eq!(parse_chome(""), None);
}
