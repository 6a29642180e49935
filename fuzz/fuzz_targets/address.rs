//! Japanese addresses: the normaliser (`canonical_tracked`, with and without
//! variant folds), the 丁目 and number-tail readers on its output, and the
//! matcher against a tiny hand-made reference index (a few towns of 文京区,
//! 札幌市中央区, 京都市中京区 and 奥多摩町) — no ABR data needed.

#![no_main]

use std::sync::OnceLock;

use chiiki_geocode::normalize::{
    canonical, canonical_tracked, kanji_number, parse_chome, parse_number_tail, Folds,
};
use chiiki_geocode::reference::{
    strip_aza, City, Parcel, Pref, ReferenceData, Residence, TownRecord, Towns,
};
use chiiki_geocode::{Context, Geocoder};
use libfuzzer_sys::fuzz_target;

const FOLDS: [(char, char); 4] = [('髙', '高'), ('ヶ', 'が'), ('ケ', 'が'), ('之', 'の')];

fn folds() -> &'static Folds {
    static F: OnceLock<Folds> = OnceLock::new();
    F.get_or_init(|| Folds::from_pairs(&FOLDS))
}

fn geocoder() -> &'static Geocoder {
    static G: OnceLock<Geocoder> = OnceLock::new();
    G.get_or_init(|| {
        let folds = folds();
        let key = |s: &str| strip_aza(&canonical(s, folds).replace(' ', "")).to_string();
        let pref = |name: &str| Pref {
            name: name.into(),
            lon: 139.0,
            lat: 35.0,
        };
        let city = |pref: u32, lg: &str, county: &str, city: &str, ward: &str| City {
            pref,
            lg_code: lg.into(),
            county: county.into(),
            city: city.into(),
            ward: ward.into(),
            lon: 139.0,
            lat: 35.0,
        };
        // (city, name, koaza, 丁目, 大字・町)
        let towns = [
            (0, "白山一丁目", "", 1, "白山"),
            (0, "白山二丁目", "", 2, "白山"),
            (0, "本郷三丁目", "", 3, "本郷"),
            (0, "関口", "", 0, "関口"),
            (1, "北一条西二丁目", "", 2, "北一条西"),
            (2, "二条通", "", 0, "二条通"),
            (3, "大字小丹波", "", 0, "大字小丹波"),
            (3, "大字小丹波", "ヶ谷", 0, "大字小丹波"),
        ];
        let towns = towns
            .iter()
            .enumerate()
            .map(|(i, &(city, name, koaza, chome, oaza))| TownRecord {
                city,
                name: name.into(),
                koaza: koaza.into(),
                chome,
                oaza_key: strip_aza(&canonical(oaza, folds)).to_string(),
                name_key: key(name),
                koaza_key: key(koaza),
                machiaza_id: format!("{:07}", i + 1),
                lon: if i == 5 { f64::NAN } else { 139.75 },
                lat: if i == 5 { f64::NAN } else { 35.7 },
            })
            .collect();
        let towns = Towns::from_records(towns);
        let mut residences = Vec::new();
        for town in [0, 1, 4] {
            for block in 1..=3 {
                for number in 1..=4 {
                    for number2 in 0..=1 {
                        residences.push(Residence {
                            town,
                            block,
                            number,
                            number2,
                            lon: 139.75,
                            lat: 35.7,
                        });
                    }
                }
            }
        }
        let mut parcels = Vec::new();
        for town in [3, 6, 7] {
            for n1 in [1, 12, 103] {
                for n2 in 0..=2 {
                    parcels.push(Parcel {
                        town,
                        n1,
                        n2,
                        n3: 0,
                        lon: if n2 == 2 { f64::NAN } else { 139.0 },
                        lat: if n2 == 2 { f64::NAN } else { 35.8 },
                    });
                }
            }
        }
        Geocoder::new(ReferenceData {
            version: 3,
            folds: FOLDS.to_vec(),
            // 關/関 as ja-itaiji relates them, both ways.
            variants: vec![('関', '關'), ('關', '関')],
            prefs: ["東京都", "北海道", "京都府"].map(pref).to_vec(),
            cities: vec![
                city(0, "131059", "", "文京区", ""),
                city(1, "011011", "", "札幌市", "中央区"),
                city(2, "261041", "", "京都市", "中京区"),
                city(0, "133086", "西多摩郡", "奥多摩町", ""),
                city(2, "262099", "", "文京区", ""),
            ],
            towns,
            residences,
            parcels,
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (canon, _) = canonical_tracked(text, folds());
    let plain = canonical(text, &Folds::default());
    for s in [&canon, &plain, text] {
        let _ = parse_chome(s);
        let tail = parse_number_tail(s);
        assert!(
            tail.consumed <= s.len() && s.is_char_boundary(tail.consumed),
            "{s:?}: consumed {}",
            tail.consumed
        );
    }
    let chars: Vec<char> = text.chars().take(64).collect();
    let _ = kanji_number(&chars);
    let g = geocoder();
    let _ = g.geocode(text);
    // The same text read in a context: 文京区, and 京都市中京区 by its code.
    static CONTEXT: OnceLock<Context> = OnceLock::new();
    let context = CONTEXT.get_or_init(|| {
        g.context(&["東京都文京区", "261041"])
            .expect("both cities are in the index")
    });
    let _ = g.geocode_in(text, context);
});
