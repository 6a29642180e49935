//! How residents' addresses are written in the registry: the many styles a
//! 住民記録 system accumulates over decades of counter clerks, and the rare
//! mistakes, each recorded so that a test can tell a geocoder miss from a
//! perturbed address.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::city::{kanji_number, Address, Town};

/// A deliberate defect in how an address is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perturbation {
    /// 号 left out: only the 街区 can be found.
    NumberOmitted,
    /// A 住居番号 that does not exist in the block.
    WrongNumber,
    /// A look-alike character in the town name (白山 → 臼山).
    TownTypo,
}

impl Perturbation {
    pub fn as_str(self) -> &'static str {
        match self {
            Perturbation::NumberOmitted => "number_omitted",
            Perturbation::WrongNumber => "wrong_number",
            Perturbation::TownTypo => "town_typo",
        }
    }
}

/// Look-alike characters clerks and residents confuse.
const LOOKALIKES: [(char, char); 14] = [
    ('白', '臼'),
    ('本', '木'),
    ('千', '干'),
    ('大', '太'),
    ('小', '少'),
    ('目', '日'),
    ('水', '氷'),
    ('春', '椿'),
    ('弥', '禰'),
    ('島', '鳥'),
    ('関', '閑'),
    ('音', '昔'),
    ('向', '尚'),
    ('西', '酉'),
];

/// Number of writing styles [`render`] knows.
pub const STYLES: u8 = 10;

/// A style, drawn with the frequencies seen in registries (most addresses
/// are written the official way).
pub fn draw_style(rng: &mut ChaCha8Rng) -> u8 {
    const WEIGHTS: [u32; STYLES as usize] = [25, 20, 10, 10, 10, 8, 5, 5, 4, 3];
    let mut x = rng.random_range(0..WEIGHTS.iter().sum::<u32>());
    for (i, w) in WEIGHTS.iter().enumerate() {
        if x < *w {
            return i as u8;
        }
        x -= w;
    }
    0
}

/// A perturbation for about half a percent of households.
pub fn draw_perturbation(rng: &mut ChaCha8Rng) -> Option<Perturbation> {
    let x: f64 = rng.random();
    if x < 0.0025 {
        Some(Perturbation::NumberOmitted)
    } else if x < 0.0035 {
        Some(Perturbation::WrongNumber)
    } else if x < 0.005 {
        Some(Perturbation::TownTypo)
    } else {
        None
    }
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            '-' => '－',
            c => c,
        })
        .collect()
}

/// The 住所 and 方書 columns for an address written in `style`, with an
/// optional perturbation. A perturbation that cannot apply (no look-alike
/// character in the town name) falls back to a wrong number, and the
/// returned perturbation says which one was applied.
pub fn render(
    town: &Town,
    address: &Address,
    extra: &str,
    style: u8,
    perturbation: Option<Perturbation>,
) -> (String, String, Option<Perturbation>) {
    let mut applied = perturbation;
    let mut oaza = town.oaza.clone();
    if perturbation == Some(Perturbation::TownTypo) {
        match LOOKALIKES.iter().find(|(a, _)| oaza.contains(*a)) {
            Some((a, b)) => oaza = oaza.replacen(*a, &b.to_string(), 1),
            None => applied = Some(Perturbation::WrongNumber),
        }
    }
    let number = if applied == Some(Perturbation::WrongNumber) {
        address.number + 200
    } else {
        address.number
    };
    let (b, n, n2) = (address.block, number, address.number2);
    let omit_number = applied == Some(Perturbation::NumberOmitted);
    let chome_kanji = if town.chome > 0 {
        format!("{}丁目", kanji_number(town.chome))
    } else {
        String::new()
    };
    let chome_digits = if town.chome > 0 {
        format!("{}丁目", town.chome)
    } else {
        String::new()
    };
    let branch = |sep: &str| {
        if n2 > 0 {
            format!("{sep}{n2}")
        } else {
            String::new()
        }
    };
    let official = |chome: &str| {
        if omit_number {
            format!("{oaza}{chome}{b}番")
        } else {
            // 枝番 as the 住居表示 writes it: 1番2-3号.
            format!("{oaza}{chome}{b}番{n}{}号", branch("-"))
        }
    };
    let hyphens = |chome: &str, dash: &str| {
        if omit_number {
            format!("{oaza}{chome}{b}")
        } else {
            format!("{oaza}{chome}{b}{dash}{n}{}", branch(dash))
        }
    };
    let mut extra = extra.to_string();
    let (pref, city) = (&town.pref, &town.city);
    let body = match style {
        0 => format!("{pref}{city}{}", official(&chome_kanji)),
        1 => format!("{city}{}", official(&chome_kanji)),
        2 => format!("{city}{}", official(&chome_digits)),
        3 => {
            // 丁目 left out: 白山1-2-3.
            let chome = if town.chome > 0 {
                format!("{}-", town.chome)
            } else {
                String::new()
            };
            format!("{city}{}", hyphens(&chome, "-"))
        }
        4 => format!("{pref}{city}{}", hyphens(&chome_kanji, "-")),
        5 => format!("{city}{}", full_width(&official(&chome_digits))),
        6 => {
            if omit_number {
                format!("{city}{oaza}{chome_kanji}{b}番地")
            } else {
                format!("{city}{oaza}{chome_kanji}{b}番地の{n}{}", branch("の"))
            }
        }
        7 => {
            let k = kanji_number;
            if omit_number {
                format!("{city}{oaza}{chome_kanji}{}番", k(b))
            } else {
                let branch = if n2 > 0 {
                    format!("の{}", k(n2))
                } else {
                    String::new()
                };
                format!("{city}{oaza}{chome_kanji}{}番{}{branch}号", k(b), k(n))
            }
        }
        8 => {
            // The building written into the address itself.
            let address = format!("{city}{}", hyphens(&chome_digits, "-"));
            if extra.is_empty() {
                address
            } else {
                let joined = format!("{address} {extra}");
                extra.clear();
                joined
            }
        }
        _ => format!(
            "{city}{}",
            full_width(&hyphens(&chome_kanji, "-")).replace('－', "ー")
        ),
    };
    (body, extra, applied)
}
