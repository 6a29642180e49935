//! Hand-written tricky cases, one or more per failure class of
//! shared/docs/geocoding-notes.md, each checked against the real data by
//! [`check_tricky_cases`].
//!
//! Conventions for the expected values:
//! - `pref`: 都道府県 ("" for none/ambiguous);
//! - `city`: 郡 + 市区町村 + 政令市の区 in the ABR's spelling (西多摩郡奥多摩町,
//!   大阪市北区, 龍ケ崎市);
//! - `town`: 大字・町 + 丁目 with 丁目 in 漢数字 (白山一丁目), as the ABR or
//!   towns/api writes it, with 大字/字 when the reference has it; for
//!   小字-only towns the 小字 (屋久島町 安房);
//! - `addr`: the numbers below the town for block ("1"), residential_number
//!   ("1-1", 街区-住居番号) and parcel ("103-3", "1663-54-1") levels; ""
//!   for coarser levels (town-level cases in cities without ABR 住居表示/地番
//!   here also use "", whatever numbers the input has);
//! - `level`: prefecture, city, oaza_chome, block, residential_number,
//!   parcel, ambiguous, none.

use std::collections::{HashMap, HashSet};

use super::{data, numerals, AbrAddress};

/// One hand-written case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrickyCase {
    pub input: &'static str,
    pub pref: &'static str,
    pub city: &'static str,
    pub town: &'static str,
    pub addr: &'static str,
    pub level: &'static str,
    pub why: &'static str,
}

const fn t(
    input: &'static str,
    pref: &'static str,
    city: &'static str,
    town: &'static str,
    addr: &'static str,
    level: &'static str,
    why: &'static str,
) -> TrickyCase {
    TrickyCase {
        input,
        pref,
        city,
        town,
        addr,
        level,
        why,
    }
}

const RSDT: &str = "residential_number";
const BLOCK: &str = "block";
const PARCEL: &str = "parcel";
const TOWN: &str = "oaza_chome";
const CITY: &str = "city";
const PREF: &str = "prefecture";
const AMBIGUOUS: &str = "ambiguous";
const NONE: &str = "none";

/// Hand-written tricky cases: (input, expected pref/city/town/addr/level, why).
#[rustfmt::skip]
pub fn tricky_cases() -> Vec<TrickyCase> {
    const TOKYO: &str = "東京都";
    const WAKAYAMA: &str = "和歌山県";
    vec![
        // ── 住居表示 (文京区): numerals, widths, hyphens ────────────────────
        t("東京都文京区白山一丁目1番1号", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "canonical 住居表示"),
        t("文京区白山1-1-1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "prefecture omitted; 丁目 omitted, the first number is the 丁目"),
        t("東京都文京区白山１丁目１番１号", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "全角 digits"),
        t("文京区白山１－１－１", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "全角 digits and full-width hyphen"),
        t("東京都文京区白山一丁目一番一号", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "漢数字 numbers"),
        t("文京区本駒込二丁目十二番三十四号", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "漢数字 十二/三十四"),
        t("文京区本駒込二丁目一二番三四号", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "positional 漢数字 一二/三四"),
        t("文京区本駒込2‐12‐34", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "hyphen U+2010"),
        t("文京区本駒込2ー12ー34", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "長音 ー as hyphen"),
        t("文京区本駒込2ｰ12ｰ34", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "half-width 長音 ｰ as hyphen"),
        t("文京区本駒込2−12−34", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "minus sign U+2212"),
        t("文京区本駒込2―12―34", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "horizontal bar U+2015"),
        t("文京区本駒込2–12–34", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "en dash U+2013"),
        t("文京区本駒込二―十二―三十四", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "漢数字 with ― (縦書き)"),
        t("文京区本駒込二－一二－三四", TOKYO, "文京区", "本駒込二丁目", "12-34", RSDT, "positional 漢数字 with －"),
        // ── 丁目/番/番地/号/の ────────────────────────────────────────────
        t("文京区白山一丁目1番地1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "番地 written in a 住居表示 area"),
        t("文京区白山一丁目1番地の1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "番地の"),
        t("文京区白山一丁目1番1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "trailing 号 omitted"),
        t("文京区白山1丁目1の1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "の between numbers"),
        t("文京区白山1の1の1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "丁目 omitted, の between all numbers"),
        t("文京区白山一丁目1番", TOKYO, "文京区", "白山一丁目", "1", BLOCK, "街区 only"),
        t("文京区白山一丁目1番3号", TOKYO, "文京区", "白山一丁目", "1", BLOCK, "住居番号 3 is not in 街区 1 (1, 2, 4, …): falls back to the 街区"),
        t("文京区白山一丁目", TOKYO, "文京区", "白山一丁目", "", TOWN, "town only"),
        t("文京区白山一丁目99番1号", TOKYO, "文京区", "白山一丁目", "", TOWN, "街区 99 does not exist: stop at the town, do not invent"),
        t("文京区白山", TOKYO, "文京区", "白山", "", TOWN, "白山 has 一〜五丁目 and no bare 白山: the 大字・町 at the centre of its 丁目s"),
        // ── Buildings and rooms ────────────────────────────────────────────
        t("文京区白山1-1-1 白山ハイツ201号室", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "building and room after a space; the building name repeats the town"),
        t("文京区白山一丁目1番1号 ﾒｿﾞﾝ白山 5号棟 302", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "5号棟 is not 5丁目 nor 5号; half-width katakana"),
        t("文京区白山一丁目1番1号第3白山ビル2F", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "第3ビル glued after 号 is not a number"),
        t("文京区白山1-1-1-302", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "room glued as a 4th number; 文京区 has no 枝番, 302 is the remainder"),
        t("文京区白山1-1-1 山田方", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "care-of 方"),
        t("東京都　文京区　白山１丁目　１番１号", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "full-width spaces between parts"),
        t("東京都 文京区 白山 1-1-1", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "half-width spaces, also between town and 丁目 number"),
        t("〒112-0001 東京都文京区白山二丁目1番1号", TOKYO, "文京区", "白山二丁目", "1-1", RSDT, "post code prefix (ABR post code of 白山二丁目)"),
        // ── Variant characters (文京区, 和歌山市) ──────────────────────────
        t("東京都文京区後樂一丁目1番1号", TOKYO, "文京区", "後楽一丁目", "1-1", RSDT, "旧字体 樂 for 楽"),
        t("東京都文京區白山一丁目1番1号", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "旧字体 區 in the city"),
        t("文京区湯嶋三丁目1番1号", TOKYO, "文京区", "湯島三丁目", "1-1", RSDT, "異体字 嶋 for 島"),
        t("文京区關口一丁目1-1", TOKYO, "文京区", "関口一丁目", "1-1", RSDT, "旧字体 關 for 関, 丁目 kept, hyphen"),
        t("文京区白\u{E0100}山一丁目1番1号", TOKYO, "文京区", "白山一丁目", "1-1", RSDT, "Ideographic Variation Selector after 白"),
        t("和歌山市新髙町1-1", WAKAYAMA, "和歌山市", "新高町", "1-1", RSDT, "髙 (はしごだか) for 高"),
        t("和歌山市東髙松一丁目1番4号", WAKAYAMA, "和歌山市", "東高松一丁目", "1-4", RSDT, "髙 for 高 with 丁目"),
        t("和歌山市西濱一丁目1-1", WAKAYAMA, "和歌山市", "西浜一丁目", "1-1", RSDT, "旧字体 濱 for 浜"),
        t("和歌山市祢宜1192-1", WAKAYAMA, "和歌山市", "禰宜", "1192-1", PARCEL, "祢 for 禰 in a 地番 town"),
        t("和歌山市三澤町一丁目1番地", WAKAYAMA, "和歌山市", "三沢町一丁目", "1", PARCEL, "旧字体 澤 for 沢 in a 地番 town with 丁目"),
        // ── ケ/ヶ/が, ノ/之/の (和歌山市) ────────────────────────────────────
        t("和歌山市松ヶ丘1丁目1番1号", WAKAYAMA, "和歌山市", "松ケ丘一丁目", "1-1", RSDT, "ヶ for ケ"),
        t("和歌山市松が丘一丁目1-10", WAKAYAMA, "和歌山市", "松ケ丘一丁目", "1-10", RSDT, "が for ケ"),
        t("和歌山市堀止南の丁1-1", WAKAYAMA, "和歌山市", "堀止南ノ丁", "1-1", RSDT, "の for ノ; 丁 is part of the name, not 丁目"),
        t("和歌山市島橋東之丁1番1号", WAKAYAMA, "和歌山市", "島橋東ノ丁", "1-1", RSDT, "之 for ノ"),
        t("和歌山市中ノ島211番地2", WAKAYAMA, "和歌山市", "中之島", "211-2", PARCEL, "ノ for 之 in a 地番 town"),
        t("和歌山市磯ノ浦251-1", WAKAYAMA, "和歌山市", "磯の浦", "251-1", PARCEL, "ノ for の"),
        t("和歌山市井の口347番1", WAKAYAMA, "和歌山市", "井ノ口", "347-1", PARCEL, "の for ノ, 登記-style 番"),
        t("和歌山市北の新地1丁目1番地", WAKAYAMA, "和歌山市", "北ノ新地一丁目", "1", PARCEL, "の for ノ, 地番 town with 丁目"),
        // ── 丁目 omitted: when the first number is the 丁目 ────────────────
        t("和歌山市葵町3-5", WAKAYAMA, "和歌山市", "葵町", "3-5", RSDT, "葵町 has no 丁目: 3 is the 街区, not 3丁目"),
        t("和歌山市吹上1-1-1", WAKAYAMA, "和歌山市", "吹上一丁目", "1-1", RSDT, "吹上 has 丁目: the first number is the 丁目"),
        t("和歌山市今福1-3-28", WAKAYAMA, "和歌山市", "今福一丁目", "3-28", RSDT, "the ABR also lists a bare 大字 今福 (0023000) with no 地番 and no position: the 丁目 reading must win"),
        t("和歌山市北出島1-5-12", WAKAYAMA, "和歌山市", "北出島一丁目", "5-12", RSDT, "北出島 is also a bare 地番 town (地番 1-5 exists): only the 丁目 reading uses every number"),
        t("和歌山市小雑賀一丁目1番百号", WAKAYAMA, "和歌山市", "小雑賀一丁目", "1-100", RSDT, "百 as a 住居番号"),
        // ── 地番 (和歌山市, 屋久島町): 番地, の, 大字/字 ─────────────────────
        t("和歌山県和歌山市秋月1番地3", WAKAYAMA, "和歌山市", "秋月", "1-3", PARCEL, "canonical 地番"),
        t("和歌山市秋月1番3号", WAKAYAMA, "和歌山市", "秋月", "1-3", PARCEL, "号 in a 地番 area"),
        t("和歌山市秋月1番3", WAKAYAMA, "和歌山市", "秋月", "1-3", PARCEL, "登記 style 番"),
        t("和歌山市秋月一番地三", WAKAYAMA, "和歌山市", "秋月", "1-3", PARCEL, "漢数字 地番"),
        t("和歌山市大字秋月1番地の3", WAKAYAMA, "和歌山市", "秋月", "1-3", PARCEL, "大字 written, ABR has none; 番地の"),
        t("和歌山市字秋月1-1", WAKAYAMA, "和歌山市", "秋月", "1-1", PARCEL, "字 written, ABR has none"),
        t("和歌山市秋月1-3 秋月ハイツ201号室", WAKAYAMA, "和歌山市", "秋月", "1-3", PARCEL, "building after a 地番"),
        t("和歌山市井戸百二十三番地", WAKAYAMA, "和歌山市", "井戸", "123", PARCEL, "百二十三 as a 地番 without 枝番"),
        t("和歌山市一番丁4", WAKAYAMA, "和歌山市", "一番丁", "4", PARCEL, "一番丁 is a town (丁, not 丁目): 一 stays, 4 is the 地番"),
        t("和歌山市二番丁4-1", WAKAYAMA, "和歌山市", "二番丁", "4-1", PARCEL, "二番丁 is a town, not 2番"),
        t("和歌山市葵町103番地10", WAKAYAMA, "和歌山市", "葵町", "103-10", PARCEL, "住居表示 town, but 103 is no 街区: the 地番 table answers (mixed area)"),
        t("和歌山市和歌浦南2丁目1663番54の1", WAKAYAMA, "和歌山市", "和歌浦南二丁目", "1663-54-1", PARCEL, "孫番 (prc_num3)"),
        t("鹿児島県屋久島町安房1番地", "鹿児島県", "熊毛郡屋久島町", "安房", "1", PARCEL, "郡 omitted; 安房 is a 小字-only town in the ABR"),
        t("屋久島町字安房1", "鹿児島県", "熊毛郡屋久島町", "安房", "1", PARCEL, "prefecture and 郡 omitted, 字 written"),
        t("鹿児島県熊毛郡屋久島町宮ノ浦2番地3", "鹿児島県", "熊毛郡屋久島町", "宮之浦", "2-3", PARCEL, "ノ for 之 in a 地番 town"),
        // ── Other cities: town level ───────────────────────────────────────
        t("東京都奥多摩町氷川", TOKYO, "西多摩郡奥多摩町", "氷川", "", TOWN, "郡 omitted"),
        t("京都府和束町下島", "京都府", "相楽郡和束町", "大字下島", "", TOWN, "郡 and 大字 omitted (towns/api has 大字下島)"),
        t("京都府宮津市万年", "京都府", "宮津市", "字万年", "", TOWN, "字 omitted (towns/api has 字万年)"),
        t("大阪市北区梅田1-1-3", "大阪府", "大阪市北区", "梅田一丁目", "", TOWN, "政令市の区, prefecture omitted"),
        t("神奈川県横浜市中区山下町1", "神奈川県", "横浜市中区", "山下町", "", TOWN, "政令市の区, town without 丁目"),
        t("名古屋市中区栄3丁目", "愛知県", "名古屋市中区", "栄三丁目", "", TOWN, "政令市の区; 中区 exists in several cities"),
        t("神奈川県横浜市保土ヶ谷区岩井町", "神奈川県", "横浜市保土ケ谷区", "岩井町", "", TOWN, "ヶ for ケ in the ward name"),
        t("横濱市中区山下町", "神奈川県", "横浜市中区", "山下町", "", TOWN, "旧字体 濱 in the city, prefecture omitted"),
        t("札幌市中央区北1条西2丁目", "北海道", "札幌市中央区", "北一条西二丁目", "", TOWN, "札幌 条・丁目"),
        t("札幌市中央区北1西2", "北海道", "札幌市中央区", "北一条西二丁目", "", TOWN, "札幌 条・丁目 abbreviated 北1西2"),
        t("北海道札幌市中央区南一条西四丁目", "北海道", "札幌市中央区", "南一条西四丁目", "", TOWN, "札幌 条・丁目 in 漢数字"),
        t("京都市中京区寺町通御池上る上本能寺前町488", "京都府", "京都市中京区", "上本能寺前町", "", TOWN, "京都の通り名: 寺町通御池上る is not part of the town"),
        t("京都府京都市下京区四条通烏丸東入長刀鉾町", "京都府", "京都市下京区", "長刀鉾町", "", TOWN, "京都の通り名 with 東入"),
        t("東京都世田谷区三軒茶屋2-11-22", TOKYO, "世田谷区", "三軒茶屋二丁目", "", TOWN, "三 of 三軒茶屋 stays a name"),
        t("港区六本木6-10-1", TOKYO, "港区", "六本木六丁目", "", TOWN, "六 of 六本木 stays; 港区 is also a ward of 名古屋市 and 大阪市, 六本木 decides"),
        t("東京都中央区八丁堀3-1-1", TOKYO, "中央区", "八丁堀三丁目", "", TOWN, "八丁堀: 八 and 丁 are part of the name, not 8丁目"),
        t("東京都千代田区四番町6番", TOKYO, "千代田区", "四番町", "", TOWN, "四番町 is a town, not 4番"),
        t("千代田区霞ヶ関1-1-1", TOKYO, "千代田区", "霞が関一丁目", "", TOWN, "ヶ for が"),
        t("千代田区霞ケ関二丁目", TOKYO, "千代田区", "霞が関二丁目", "", TOWN, "ケ for が"),
        t("目黒区自由ヶ丘1-1", TOKYO, "目黒区", "自由が丘一丁目", "", TOWN, "ヶ for が"),
        t("三鷹市井ノ頭1-1", TOKYO, "三鷹市", "井の頭一丁目", "", TOWN, "ノ for の"),
        t("大阪市北区中ノ島2-3-18", "大阪府", "大阪市北区", "中之島二丁目", "", TOWN, "ノ for 之"),
        t("新宿区髙田馬場1-1", TOKYO, "新宿区", "高田馬場一丁目", "", TOWN, "髙 for 高"),
        t("福岡市中央区渡邊通1丁目", "福岡県", "福岡市中央区", "渡辺通一丁目", "", TOWN, "旧字体 邊 for 辺"),
        t("世田谷区深澤1-1", TOKYO, "世田谷区", "深沢一丁目", "", TOWN, "旧字体 澤 for 沢"),
        t("茨城県竜ヶ崎市上町", "茨城県", "龍ケ崎市", "上町", "", TOWN, "竜/龍 and ヶ/ケ: towns/api writes 龍ヶ崎市, the ABR 龍ケ崎市"),
        t("岩手県下閉伊郡普代村第1地割字上村", "岩手県", "下閉伊郡普代村", "第一地割字上村", "", TOWN, "第N地割: arabic 1 for the 一 inside the town name"),
        t("岩手県盛岡市飯岡新田7地割", "岩手県", "盛岡市", "飯岡新田", "", TOWN, "地割 written without 第; the 地割 is a 小字 (七地割) of 飯岡新田"),
        t("府中市本町1丁目", TOKYO, "府中市", "本町一丁目", "", TOWN, "府中市 exists in 東京都 and 広島県; only Tokyo's has 本町"),
        // ── Coarse levels ──────────────────────────────────────────────────
        t("東京都文京区", TOKYO, "文京区", "", "", CITY, "city only"),
        t("文京区", TOKYO, "文京区", "", "", CITY, "city only, prefecture omitted"),
        t("茨城県龍ヶ崎市", "茨城県", "龍ケ崎市", "", "", CITY, "ヶ in the city name"),
        t("東京都", TOKYO, "", "", "", PREF, "prefecture only"),
        t("東京都ほげ区1-1", TOKYO, "", "", "", PREF, "unknown city: stop at the prefecture"),
        t("府中市", "", "", "", "", AMBIGUOUS, "東京都府中市 and 広島県府中市"),
        t("伊達市", "", "", "", "", AMBIGUOUS, "北海道伊達市 and 福島県伊達市"),
        t("ほげほげ1-2-3", "", "", "", "", NONE, "nothing known"),
    ]
}

// ── Checking the cases against the data ──────────────────────────────────

/// Every town name the references give a city: towns/api (mapped to the ABR
/// spelling of the city) and the ABR tables we have.
struct Towns {
    by_city: HashMap<(String, String), HashSet<String>>,
}

impl Towns {
    fn new() -> Towns {
        let mut by_city: HashMap<(String, String), HashSet<String>> = HashMap::new();
        let mut add = |a: &AbrAddress| {
            by_city
                .entry((a.pref.clone(), a.city_full()))
                .or_default()
                .insert(a.town());
        };
        for a in super::all_bunkyo_rsdt()
            .iter()
            .chain(super::all_wakayama_rsdt())
            .chain(parcels_anywhere())
        {
            add(a);
        }
        for rel in data::TOWN_MASTERS {
            data::for_each_row(rel, |r| {
                add(&AbrAddress {
                    pref: r.get("pref").into(),
                    county: r.get("county").into(),
                    city: r.get("city").into(),
                    ward: r.get("ward").into(),
                    oaza: r.get("oaza_cho").into(),
                    chome: numerals::parse_chome(r.get("chome")),
                    koaza: r.get("koaza").into(),
                    blk: None,
                    rsdt: None,
                    rsdt2: None,
                    prc: None,
                })
            });
        }
        Towns { by_city }
    }

    fn has(&mut self, pref: &str, city: &str, town: &str) -> bool {
        let key = (pref.to_string(), city.to_string());
        if !self.by_city.contains_key(&key) || !self.by_city[&key].contains(town) {
            if let Some(json_city) = data::json_city_for_abr(pref, city) {
                let set = self.by_city.entry(key.clone()).or_default();
                for p in data::town_points(pref, json_city) {
                    set.insert(p.town);
                }
            }
        }
        self.by_city.get(&key).is_some_and(|s| s.contains(town))
    }

    fn all(&self, pref: &str, city: &str) -> Vec<&String> {
        self.by_city
            .get(&(pref.to_string(), city.to_string()))
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }
}

/// All 地番 with a position, including those inside 住居表示 towns.
fn parcels_anywhere() -> &'static [AbrAddress] {
    static ALL: std::sync::OnceLock<Vec<AbrAddress>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = super::read_parcels(
            "abr/wakayama-302015/mt_parcel_city302015.csv.zip",
            "abr/wakayama-302015/mt_parcel_pos_city302015.csv.zip",
            false,
        );
        v.extend(super::all_yakushima_parcels().iter().cloned());
        v
    })
}

const LEVELS: [&str; 8] = [PREF, CITY, TOWN, BLOCK, RSDT, PARCEL, AMBIGUOUS, NONE];

/// Checks every tricky case against the real data; returns the problems
/// (empty when all hold). Run it after adding cases.
pub fn check_tricky_cases() -> Vec<String> {
    let mut problems = Vec::new();
    let mut towns = Towns::new();
    let cities = data::cities();
    let city_exists =
        |pref: &str, city: &str| cities.iter().any(|c| c.pref == pref && c.full() == city);
    let mut seen = HashSet::new();
    for c in tricky_cases() {
        let mut bad = |msg: String| problems.push(format!("{}: {msg}", c.input));
        if !seen.insert(c.input) {
            bad("duplicate input".into());
        }
        if !LEVELS.contains(&c.level) {
            bad(format!("unknown level {}", c.level));
        }
        if c.why.is_empty() {
            bad("no why".into());
        }
        let fine = matches!(
            c.level,
            "oaza_chome" | "block" | "residential_number" | "parcel"
        );
        if !c.pref.is_empty() && !cities.iter().any(|x| x.pref == c.pref) {
            bad(format!("no prefecture {}", c.pref));
        }
        if !c.city.is_empty() && !city_exists(c.pref, c.city) {
            bad(format!("no city {}{} in mt_city_all", c.pref, c.city));
        }
        if fine && !towns.has(c.pref, c.city, c.town) {
            bad(format!("no town {} in {}{}", c.town, c.pref, c.city));
        }
        if (c.level == TOWN || !fine) && !c.addr.is_empty() {
            bad("addr must be empty above block level".into());
        }
        if !fine && !c.town.is_empty() {
            bad("town must be empty above oaza_chome level".into());
        }
        let same =
            |a: &&AbrAddress| a.pref == c.pref && a.city_full() == c.city && a.town() == c.town;
        match c.level {
            "residential_number" => {
                let found = super::all_bunkyo_rsdt()
                    .iter()
                    .chain(super::all_wakayama_rsdt())
                    .filter(same)
                    .any(|a| a.addr() == c.addr);
                if !found {
                    bad(format!("no 住居 {} {} in the ABR", c.town, c.addr));
                }
            }
            "block" => {
                let found = super::all_bunkyo_rsdt()
                    .iter()
                    .chain(super::all_wakayama_rsdt())
                    .filter(same)
                    .any(|a| a.blk.map(|b| b.to_string()).as_deref() == Some(c.addr));
                if !found {
                    bad(format!("no 街区 {} {} in the ABR", c.town, c.addr));
                }
            }
            "parcel"
                if !parcels_anywhere()
                    .iter()
                    .filter(same)
                    .any(|a| a.addr() == c.addr) =>
            {
                bad(format!(
                    "no 地番 {} {} with a position in the ABR",
                    c.town, c.addr
                ));
            }
            "parcel" => {}
            "oaza_chome" => {}
            "city" | "prefecture" => {
                if c.level == PREF && !c.city.is_empty() {
                    bad("city must be empty at prefecture level".into());
                }
                if c.level == PREF {
                    // No city of the prefecture may appear in the input.
                    if let Some(x) = cities
                        .iter()
                        .filter(|x| x.pref == c.pref && !x.city.is_empty())
                        .find(|x| c.input.contains(&format!("{}{}", x.city, x.ward)))
                    {
                        bad(format!("input contains the city {}", x.full()));
                    }
                }
            }
            "ambiguous" => {
                if c.city.is_empty() {
                    let places: HashSet<(String, String)> = cities
                        .iter()
                        .filter(|x| {
                            !x.city.is_empty() && c.input.contains(&format!("{}{}", x.city, x.ward))
                        })
                        .map(|x| (x.pref.clone(), x.full()))
                        .collect();
                    if places.len() < 2 {
                        bad(format!("not ambiguous: {places:?}"));
                    }
                } else {
                    let rest = c.input.split(c.city).nth(1).unwrap_or("");
                    let all = towns.all(c.pref, c.city);
                    let starting: Vec<_> = all.iter().filter(|t| t.starts_with(rest)).collect();
                    if rest.is_empty()
                        || starting.len() < 2
                        || all.iter().any(|t| t.as_str() == rest)
                    {
                        bad(format!(
                            "{rest} is not an ambiguous town prefix: {starting:?}"
                        ));
                    }
                }
            }
            "none" => {
                if let Some(x) = cities.iter().find(|x| {
                    c.input.contains(x.pref.as_str())
                        || (!x.city.is_empty()
                            && c.input.contains(&format!("{}{}", x.city, x.ward)))
                }) {
                    bad(format!("input names {}{}", x.pref, x.full()));
                }
            }
            _ => {}
        }
    }
    problems
}
