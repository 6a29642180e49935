//! The writing styles: ONE table ([`STYLES`]), one entry per real-world
//! habit of 住民記録 staff and residents (see
//! shared/docs/geocoding-notes.md). Each entry is a [`Spec`] built from the
//! canonical form by changing a few knobs; [`render`] applies them to a real
//! ABR row. To add a style, add a line to the table with a comment saying
//! what habit it models; `STYLE_COUNT` follows.
//!
//! A style returns None when its distinguishing feature does not apply to the
//! address (a ケ/ヶ swap for a name without ケ, 郡 omitted for a city without
//! 郡, a post code the ABR does not have, 丁目 omitted for a town without
//! 丁目…), so every rendering that is returned really exercises its habit.

use std::cell::RefCell;
use std::collections::HashSet;

use super::numerals::{fullwidth, kanji, kanji_positional};
use super::{data, AbrAddress};

/// How the 丁目 is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Chome {
    /// 一丁目 (as printed on 住民票)
    Kanji,
    /// 1丁目
    Arabic,
    /// １丁目
    FullWidth,
    /// No 丁目: the number leads the hyphen chain (白山1-1-1). For towns
    /// without 丁目 this is simply the chain (葵町1-1); where the bare name
    /// is a town too (北出島), 一丁目 is kept: 北出島一丁目5-12.
    AsNumber,
}

/// How the numbers (街区, 住居番号, 地番; and the 丁目 in `Chome::AsNumber`) are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Digits {
    /// 12
    Arabic,
    /// １２
    FullWidth,
    /// 十二, 百二十三
    Kanji,
    /// 一二, 一〇二 (one 漢数字 per digit, as in 縦書き)
    Positional,
}

/// What goes between the numbers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Numbers {
    /// 住居表示 `1番1号`, 地番 `103番地3`.
    Official,
    /// `1番1号` (for 地番 rows: 号 where there is no 住居表示).
    BanGo,
    /// `1番1` (号 omitted; for 地番 the 登記 spelling `103番3`).
    Ban,
    /// `1番地1`.
    Banchi,
    /// `1番地の1`.
    BanchiNo,
    /// `1番地1号`.
    BanchiGo,
    /// `1の1`.
    No,
    /// `1-1` with this hyphen character.
    Hyphen(char),
}

/// Building, room or care-of text after the number.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Building {
    None,
    /// ` 白山ハイツ201号室`
    Heights,
    /// `　白山ハイツ２０１号室` (full-width space and digits)
    HeightsWide,
    /// ` ﾒｿﾞﾝ白山 5号棟 302` (half-width katakana; 5号棟 is not 5丁目 or 5号)
    Maison,
    /// `-302`: a room glued on as a 4th number (ambiguous with 枝番/孫番)
    RoomHyphen,
    /// `第3白山ビル2F` glued right after the number
    Daisan,
    /// `（白山コーポ201）`
    Paren,
    /// ` 山田方` (care of)
    CareOf,
}

/// A post code in front.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Postal {
    /// `〒112-0001 `
    Hyphen,
    /// `〒1120001　`
    Plain,
    /// `112-0001 ` (no 〒)
    NoMark,
    /// `〒１１２－０００１ `
    Wide,
}

/// A change to the names (only applies when the name allows it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Edit {
    None,
    /// Drop the 郡.
    OmitCounty,
    /// One character of the town name replaced by a variant from itaiji_jageocoder.json.
    ItaijiTown,
    /// One character of the city (else the prefecture) replaced by a variant.
    ItaijiAdmin,
    /// An Ideographic Variation Selector (U+E0100) after the town's first kanji.
    VariationSelector,
    /// ケ/ヶ/が written as this one (town names first, else the city).
    Ke(char),
    /// ノ/之/の written as this one (between kanji).
    No(char),
    /// `大字` added in front of a rural 地番 town.
    AddOaza,
    /// `字` added in front of the 小字 (or of a rural 地番 town).
    AddAza,
    /// `大字` dropped.
    DropOaza,
    /// `字` dropped.
    DropAza,
}

/// When a style applies at all (beyond what its `Edit` needs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Need {
    Nothing,
    /// The town has a 丁目 (otherwise the style equals another one).
    Chome,
    /// Some number is ≥ 10 (otherwise positional 漢数字 equal 十-style ones).
    Ten,
    /// A 住居表示 row.
    Residential,
    /// A 地番 row.
    Parcel,
}

/// All knobs of one style.
#[derive(Clone, Copy, Debug)]
struct Spec {
    pref: bool,
    chome: Chome,
    digits: Digits,
    numbers: Numbers,
    /// Text after the prefecture, after the city, and between town and number.
    sp_pref: &'static str,
    sp_city: &'static str,
    sp_num: &'static str,
    building: Building,
    postal: Option<Postal>,
    edit: Edit,
    need: Need,
}

/// The canonical form: `東京都文京区白山一丁目1番1号` / `和歌山県和歌山市秋月1番地3`.
const BASE: Spec = Spec {
    pref: true,
    chome: Chome::Kanji,
    digits: Digits::Arabic,
    numbers: Numbers::Official,
    sp_pref: "",
    sp_city: "",
    sp_num: "",
    building: Building::None,
    postal: None,
    edit: Edit::None,
    need: Need::Nothing,
};

impl Spec {
    const fn no_pref(mut self) -> Self {
        self.pref = false;
        self
    }
    const fn chome(mut self, c: Chome) -> Self {
        self.chome = c;
        self
    }
    const fn digits(mut self, d: Digits) -> Self {
        self.digits = d;
        self
    }
    const fn numbers(mut self, n: Numbers) -> Self {
        self.numbers = n;
        self
    }
    /// 丁目 omitted and all numbers joined by `h`: `白山1‐1‐1`.
    const fn hyphen(mut self, h: char) -> Self {
        self.chome = Chome::AsNumber;
        self.numbers = Numbers::Hyphen(h);
        self
    }
    const fn spaces(
        mut self,
        after_pref: &'static str,
        after_city: &'static str,
        before_number: &'static str,
    ) -> Self {
        self.sp_pref = after_pref;
        self.sp_city = after_city;
        self.sp_num = before_number;
        self
    }
    const fn building(mut self, b: Building) -> Self {
        self.building = b;
        self
    }
    const fn postal(mut self, p: Postal) -> Self {
        self.postal = Some(p);
        self
    }
    const fn edit(mut self, e: Edit) -> Self {
        self.edit = e;
        self
    }
    const fn need(mut self, n: Need) -> Self {
        self.need = n;
        self
    }
}

struct Style {
    name: &'static str,
    spec: Spec,
}

const fn s(name: &'static str, spec: Spec) -> Style {
    Style { name, spec }
}

use Building as B;
use Chome as C;
use Digits as D;
use Edit as E;
use Need as N;
use Numbers as Nu;

/// THE style table. Examples in the names are for 白山1-1-1 (文京区
/// 住居表示) or 秋月1-3 (和歌山市 地番); numbers in examples are
/// illustrative.
#[rustfmt::skip]
const STYLES: &[Style] = &[
    // ── Canonical and administrative parts ──────────────────────────────
    // The 住民票 print form: prefecture, 漢数字 丁目, N番N号 / N番地N.
    s("canonical 東京都文京区白山一丁目1番1号 / 和歌山県和歌山市秋月1番地3", BASE),
    // Everyday writing inside the prefecture: the 都道府県 is left out.
    s("prefecture omitted: 文京区白山一丁目1番1号", BASE.no_pref()),
    // Rural residents drop the 郡 (熊毛郡屋久島町 → 屋久島町).
    s("郡 omitted: 鹿児島県屋久島町安房1番地", BASE.edit(E::OmitCounty)),
    // …and often the prefecture with it.
    s("prefecture and 郡 omitted: 屋久島町安房1-2", BASE.no_pref().hyphen('-').edit(E::OmitCounty)),
    // Prefecture glued to the city, a space before the town (form fields).
    s("space after the city only: 東京都文京区 白山1-1-1", BASE.spaces("", " ", "").hyphen('-')),
    // A space between prefecture and city only.
    s("space after the prefecture only: 東京都 文京区白山一丁目1番1号", BASE.spaces(" ", "", "")),
    // Each part separated by a half-width space (typed by hand).
    s("half-width spaces between all parts: 東京都 文京区 白山一丁目 1番1号", BASE.spaces(" ", " ", " ")),
    // Each part separated by a full-width space (Japanese IME).
    s("full-width spaces between all parts: 東京都　文京区　白山一丁目　1番1号", BASE.spaces("　", "　", "　")),
    // A space between town and number only.
    s("space before the number: 文京区白山一丁目 1-1", BASE.no_pref().spaces("", "", " ").numbers(Nu::Hyphen('-'))),
    // ── 丁目 ────────────────────────────────────────────────────────────
    // 丁目 in arabic digits (most common in typed data).
    s("丁目 arabic: 白山1丁目1番1号", BASE.chome(C::Arabic).need(N::Chome)),
    // 丁目 in full-width digits, numbers half-width (IME mix).
    s("丁目 full-width: 白山１丁目1番1号", BASE.chome(C::FullWidth).need(N::Chome)),
    // Everything full-width (old systems, 全角 forms).
    s("all full-width: 白山１丁目１番１号 / 秋月１番地３", BASE.chome(C::FullWidth).digits(D::FullWidth)),
    // Everything in 漢数字 (handwritten, 縦書き).
    s("all 漢数字: 白山一丁目一番一号 / 秋月百二十三番地", BASE.digits(D::Kanji)),
    // Positional 漢数字, one per digit (縦書き 一〇二).
    s("positional 漢数字: 本駒込二丁目一二番三四号 / 一〇二番地", BASE.digits(D::Positional).need(N::Ten)),
    // 丁目 left out, the 丁目 number leads a hyphen chain (the most common short form).
    s("丁目 omitted: 白山1-1-1", BASE.hyphen('-').need(N::Chome)),
    // 丁目 left out with の (older handwriting).
    s("丁目 omitted with の: 白山1の1の1", BASE.chome(C::AsNumber).numbers(Nu::No).need(N::Chome)),
    // 丁目 kept in 漢数字, numbers hyphenated (住民課 short form).
    s("丁目 kept, hyphens: 白山一丁目1-1 / 秋月1-3", BASE.numbers(Nu::Hyphen('-'))),
    // Arabic 丁目, then hyphens.
    s("arabic 丁目 then hyphens: 白山1丁目1-1", BASE.chome(C::Arabic).numbers(Nu::Hyphen('-')).need(N::Chome)),
    // ── 番 / 番地 / 号 / の ─────────────────────────────────────────────
    // 番地 written in a 住居表示 area (habit from before 住居表示).
    s("番地 in a 住居表示 area: 白山一丁目1番地1", BASE.numbers(Nu::Banchi).need(N::Residential)),
    // 番地の (common in 地番 areas and old registers).
    s("番地の: 白山一丁目1番地の1 / 秋月1番地の3", BASE.numbers(Nu::BanchiNo)),
    // Trailing 号 dropped; for 地番 the 登記 spelling 1番3.
    s("号 omitted / 登記 style: 白山一丁目1番1 / 秋月1番3", BASE.numbers(Nu::Ban)),
    // 番地 and 号 mixed.
    s("番地…号: 白山一丁目1番地1号 / 秋月1番地3号", BASE.numbers(Nu::BanchiGo)),
    // 号 written in a 地番 area.
    s("号 in a 地番 area: 秋月1番3号", BASE.numbers(Nu::BanGo).need(N::Parcel)),
    // の between the numbers.
    s("の between numbers: 白山一丁目1の1", BASE.numbers(Nu::No)),
    // ── Hyphen look-alikes (丁目 omitted where there is one) ────────────
    // Each is produced by some IME, font or PDF copy for "-".
    s("hyphen U+2010 ‐: 白山1‐1‐1", BASE.hyphen('\u{2010}')),
    s("non-breaking hyphen U+2011 ‑: 白山1‑1‑1", BASE.hyphen('\u{2011}')),
    s("en dash U+2013 –: 白山1–1–1", BASE.hyphen('\u{2013}')),
    s("em dash U+2014 —: 白山1—1—1", BASE.hyphen('\u{2014}')),
    s("horizontal bar U+2015 ―: 白山1―1―1", BASE.hyphen('\u{2015}')),
    s("minus sign U+2212 −: 白山1−1−1", BASE.hyphen('\u{2212}')),
    s("full-width hyphen-minus U+FF0D －: 白山1－1－1", BASE.hyphen('\u{FF0D}')),
    s("half-width 長音 U+FF70 ｰ: 白山1ｰ1ｰ1", BASE.hyphen('\u{FF70}')),
    s("長音 U+30FC ー: 白山1ー1ー1", BASE.hyphen('\u{30FC}')),
    s("hyphen bullet U+2043 ⁃: 白山1⁃1⁃1", BASE.hyphen('\u{2043}')),
    s("modifier minus U+02D7 ˗: 白山1˗1˗1", BASE.hyphen('\u{02D7}')),
    // Full-width digits with the full-width hyphen (全角 forms).
    s("full-width digits and hyphens: 東京都文京区白山１－１－１", BASE.hyphen('－').digits(D::FullWidth)),
    // 漢数字 with a horizontal bar (縦書き 一―一―一).
    s("漢数字 with ―: 白山一―一―一", BASE.hyphen('―').digits(D::Kanji)),
    // Positional 漢数字 with full-width hyphens (縦書き 二－一二－三四).
    s("positional 漢数字 with －: 本駒込二－一二－三四", BASE.hyphen('－').digits(D::Positional).need(N::Ten)),
    // ── Buildings, rooms, care-of ──────────────────────────────────────
    // Building and room after a space (the most common).
    s("building + 号室: 白山1-1-1 白山ハイツ201号室", BASE.hyphen('-').building(B::Heights)),
    // Half-width katakana building with 号棟: 5号棟 must not become 5丁目 or 5号.
    s("half-width katakana building, 号棟: 白山一丁目1番1号 ﾒｿﾞﾝ白山 5号棟 302", BASE.building(B::Maison)),
    // AMBIGUOUS: room glued on as a 4th number; 302 must be left over, not read as 枝番/孫番.
    s("AMBIGUOUS room as a 4th number: 白山1-1-1-302", BASE.hyphen('-').building(B::RoomHyphen)),
    // Building with a number glued right after 号 (第3ビル must not be a number).
    s("building with a number, no space: 白山一丁目1番1号第3白山ビル2F", BASE.building(B::Daisan)),
    // Building in parentheses.
    s("building in parentheses: 白山1丁目1番1号（白山コーポ201）", BASE.chome(C::Arabic).building(B::Paren)),
    // Care-of (方) for residents living with another household.
    s("care-of 方: 文京区白山1-1-1 山田方", BASE.no_pref().hyphen('-').building(B::CareOf)),
    // Full-width everything with a full-width space before the building.
    s("full-width with building: 文京区白山１－１－１　白山ハイツ２０１号室", BASE.no_pref().hyphen('－').digits(D::FullWidth).building(B::HeightsWide)),
    // Building after a 番地 form.
    s("building after 番地: 白山一丁目1番地1 白山ハイツ201号室", BASE.numbers(Nu::Banchi).building(B::Heights)),
    // ── Variant characters ─────────────────────────────────────────────
    // 旧字体/異体字 in the town name (from 戸籍 or old 住民票: 本鄕, 湯嶋).
    s("旧字体/異体字 in the town: 文京区本鄕一丁目1番1号", BASE.edit(E::ItaijiTown)),
    // 旧字体 in the city or prefecture (文京區, 和歌山縣).
    s("旧字体/異体字 in the city or prefecture: 東京都文京區白山一丁目1番1号", BASE.edit(E::ItaijiAdmin)),
    // 旧字体 town, short form.
    s("旧字体 town, hyphens, no prefecture: 文京区湯嶋3-1-1", BASE.no_pref().hyphen('-').edit(E::ItaijiTown)),
    // Variation selector after a kanji (外字 from 住基 systems, IVS).
    s("variation selector U+E0100 after the town's first kanji", BASE.edit(E::VariationSelector)),
    // ケ/ヶ/が: the same name with each spelling.
    s("ケ/が → ヶ: 松ヶ丘 / つつじヶ丘", BASE.edit(E::Ke('ヶ'))),
    s("ヶ/が → ケ: 松ケ丘", BASE.edit(E::Ke('ケ'))),
    s("ケ/ヶ → が: 松が丘", BASE.edit(E::Ke('が'))),
    s("ケ → ヶ, hyphens, no prefecture: 和歌山市松ヶ丘1-1-1", BASE.no_pref().hyphen('-').edit(E::Ke('ヶ'))),
    // ノ/之/の between kanji.
    s("ノ/之 → の: 堀止南の丁 / 中の島", BASE.edit(E::No('の'))),
    s("の/之 → ノ: 磯ノ浦 / 中ノ島", BASE.edit(E::No('ノ'))),
    s("ノ/の → 之: 井之口", BASE.edit(E::No('之'))),
    s("ノ → の, hyphens, no prefecture: 和歌山市堀止南の丁1-1", BASE.no_pref().hyphen('-').edit(E::No('の'))),
    // ── 大字 / 字 (地番 areas) ──────────────────────────────────────────
    // 大字 written although the registry has none (old 登記, rural habit).
    s("大字 added: 和歌山市大字秋月1番地3", BASE.edit(E::AddOaza)),
    // 字 written in front of the 小字 or the rural town.
    s("字 added: 和歌山市字秋月1番地3 / 屋久島町字安房1番地", BASE.edit(E::AddAza)),
    // 大字 left out although the registry has it.
    s("大字 dropped: 海南市下津… for 大字下津", BASE.edit(E::DropOaza)),
    // 字 left out although the registry has it.
    s("字 dropped: 宮津市万年… for 字万年", BASE.edit(E::DropAza)),
    // 大字 + short form.
    s("大字 added, 番地の, no prefecture: 和歌山市大字秋月1番地の3", BASE.no_pref().numbers(Nu::BanchiNo).edit(E::AddOaza)),
    // 大字 + 漢数字.
    s("大字 added, 漢数字: 和歌山県和歌山市大字秋月一番地三", BASE.digits(D::Kanji).edit(E::AddOaza)),
    // 字 + hyphens.
    s("字 added, hyphens, no prefecture: 屋久島町字安房1-2", BASE.no_pref().hyphen('-').edit(E::AddAza)),
    // ── Post codes (where the ABR town master has one) ─────────────────
    s("〒 with hyphen: 〒112-0001 東京都文京区白山二丁目1番1号", BASE.postal(Postal::Hyphen)),
    s("〒 without hyphen, full-width space: 〒1120001　東京都文京区白山二丁目1番1号", BASE.postal(Postal::Plain)),
    s("post code without 〒: 112-0001 文京区白山2-1-1", BASE.no_pref().hyphen('-').postal(Postal::NoMark)),
    s("full-width 〒: 〒１１２－０００１ 東京都文京区白山２丁目１番１号", BASE.chome(C::FullWidth).digits(D::FullWidth).postal(Postal::Wide)),
    // ── Mixed habits ───────────────────────────────────────────────────
    // Space after the city, 丁目 omitted, 長音 as hyphen.
    s("mixed: 文京区 白山1ー1ー1", BASE.no_pref().spaces("", " ", "").hyphen('ー')),
    // Arabic 丁目, space, 号 omitted.
    s("mixed: 東京都文京区白山1丁目 1番1", BASE.chome(C::Arabic).spaces("", "", " ").numbers(Nu::Ban).need(N::Chome)),
    // Full-width 丁目 with ASCII hyphens (IME switched mid-way).
    s("mixed: 文京区白山１丁目1-1", BASE.no_pref().chome(C::FullWidth).numbers(Nu::Hyphen('-')).need(N::Chome)),
    // 漢数字 丁目, full-width numbers, 番地の.
    s("mixed: 白山一丁目１番地の１", BASE.digits(D::FullWidth).numbers(Nu::BanchiNo)),
    // 漢数字 丁目, full-width hyphens.
    s("mixed: 文京区白山一丁目１－１", BASE.no_pref().digits(D::FullWidth).numbers(Nu::Hyphen('－'))),
    // No prefecture, everything full-width, 丁目 omitted.
    s("mixed: 文京区白山１－１－１", BASE.no_pref().hyphen('－').digits(D::FullWidth)),
    // Full-width spaces, 漢数字, 番地.
    s("mixed: 東京都　文京区　白山一丁目　一番地一", BASE.spaces("　", "　", "　").digits(D::Kanji).numbers(Nu::Banchi)),
    // 旧字体 city with full-width digits.
    s("mixed: 東京都文京區白山１丁目１番１号", BASE.chome(C::FullWidth).digits(D::FullWidth).edit(E::ItaijiAdmin)),
    // 旧字体 town, spaces and building.
    s("mixed: 文京区 本鄕1-1-1 本郷ハイツ201号室", BASE.no_pref().spaces("", " ", "").hyphen('-').building(B::Heights).edit(E::ItaijiTown)),
    // 郡 omitted, hyphens, building.
    s("mixed: 屋久島町安房1-2 安房ハイツ201号室", BASE.no_pref().hyphen('-').building(B::Heights).edit(E::OmitCounty)),
    // 〒, spaces, hyphens, building.
    s("mixed: 〒112-0001 東京都 文京区 白山2-1-1 白山ハイツ201号室", BASE.spaces(" ", " ", "").hyphen('-').postal(Postal::Hyphen).building(B::Heights)),
    // Prefecture omitted, ー hyphens, 方.
    s("mixed: 文京区白山1ー1ー1 山田方", BASE.no_pref().hyphen('ー').building(B::CareOf)),
    // Space after the city, 漢数字 丁目, 番地の.
    s("mixed: 東京都文京区 白山一丁目1番地の1", BASE.spaces("", " ", "").numbers(Nu::BanchiNo)),
    // 漢数字 with の (old handwritten register).
    s("mixed: 文京区白山一丁目一の一", BASE.no_pref().digits(D::Kanji).numbers(Nu::No)),
];

/// Number of styles; `render(a, s)` for `s in 0..STYLE_COUNT`.
pub const STYLE_COUNT: usize = STYLES.len();

/// A short name for each style, for failure messages.
pub fn style_name(style: usize) -> &'static str {
    STYLES[style].name
}

/// What a test should expect from a style beyond the address itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StyleFlags {
    /// Text (building, room, care-of) follows the address: expect the same
    /// match and a non-empty remainder.
    pub building: bool,
    /// The style is genuinely ambiguous (`1-1-1-302`): a geocoder may read
    /// the extra number as 枝番/孫番 when one exists.
    pub ambiguous: bool,
    /// A post code precedes the address.
    pub post_code: bool,
}

pub fn style_flags(style: usize) -> StyleFlags {
    let spec = &STYLES[style].spec;
    StyleFlags {
        building: spec.building != Building::None,
        ambiguous: spec.building == Building::RoomHyphen,
        post_code: spec.postal.is_some(),
    }
}

/// Renders `a` in writing style `style` (0..STYLE_COUNT). Deterministic.
/// Returns None when the style does not apply to this address: its feature
/// is absent (no ケ, no 郡, no post code…) or, for this address, it gives
/// exactly the text of an earlier style (e.g. every hyphen variant of a 地番
/// without 枝番 is just `朝日264`), so each returned string is distinct.
pub fn render(a: &AbrAddress, style: usize) -> Option<String> {
    thread_local! {
        // Tests loop over the styles of one address: render them all once.
        static LAST: RefCell<Option<(AbrAddress, Vec<Option<String>>)>> = const { RefCell::new(None) };
    }
    LAST.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.as_ref().is_none_or(|(x, _)| x != a) {
            *last = Some((a.clone(), render_all(a)));
        }
        last.as_ref().unwrap().1[style].clone()
    })
}

/// [`render`] for every style at once (index = style).
pub fn render_all(a: &AbrAddress) -> Vec<Option<String>> {
    let mut seen = HashSet::new();
    STYLES
        .iter()
        .map(|st| render_spec(a, st.spec).filter(|r| seen.insert(r.clone())))
        .collect()
}

fn render_spec(a: &AbrAddress, spec: Spec) -> Option<String> {
    let nums = a.numbers();
    // 丁目 left out only where the bare name is not a town of its own
    // (北出島1-5-12 could be 地番 北出島 1-5); there `AsNumber` keeps 一丁目.
    let chome_omittable = a.chome.is_some()
        && !data::bare_oaza_is_town(&a.pref, &a.county, &a.city, &a.ward, &a.oaza);
    let chome_in_chain = spec.chome == Chome::AsNumber && chome_omittable;
    let applies = match spec.need {
        Need::Nothing => true,
        Need::Chome => a.chome.is_some() && (spec.chome != Chome::AsNumber || chome_omittable),
        Need::Ten => nums
            .iter()
            .chain(a.chome.iter().filter(|_| chome_in_chain))
            .any(|&n| n >= 10),
        Need::Residential => a.blk.is_some(),
        Need::Parcel => a.prc.is_some(),
    };
    if !applies || nums.is_empty() {
        return None;
    }
    // `朝日264-506` cannot be told from 地番 264-506: a room glued as an extra
    // number is only rendered after a full 街区-号 / 本番-枝番.
    if spec.building == Building::RoomHyphen && nums.len() < 2 {
        return None;
    }
    // A lone 漢数字 with nothing to join (`安房一`) is not a way anyone writes a 地番.
    let chain_len = nums.len() + chome_in_chain as usize;
    if chain_len < 2
        && matches!(spec.numbers, Numbers::Hyphen(_) | Numbers::No)
        && matches!(spec.digits, Digits::Kanji | Digits::Positional)
    {
        return None;
    }

    let mut pref = a.pref.clone();
    let mut county = a.county.clone();
    let mut city = a.city.clone();
    let mut ward = a.ward.clone();
    let mut oaza = a.oaza.clone();
    let mut koaza = a.koaza.clone();
    let edited = match spec.edit {
        Edit::None => true,
        Edit::OmitCounty => !std::mem::take(&mut county).is_empty(),
        Edit::ItaijiTown => itaiji(&mut [&mut oaza, &mut koaza]),
        Edit::ItaijiAdmin => {
            itaiji(&mut [&mut city, &mut ward, &mut county]) || itaiji(&mut [&mut pref])
        }
        Edit::VariationSelector => variation_selector(&mut oaza) || variation_selector(&mut koaza),
        Edit::Ke(target) => {
            swap_all(&mut [&mut oaza, &mut koaza], target, ke_eligible)
                || swap_all(
                    &mut [&mut county, &mut city, &mut ward],
                    target,
                    ke_eligible,
                )
        }
        Edit::No(target) => {
            swap_all(&mut [&mut oaza, &mut koaza], target, no_eligible)
                || swap_all(
                    &mut [&mut county, &mut city, &mut ward],
                    target,
                    no_eligible,
                )
        }
        Edit::AddOaza => {
            a.is_parcel() && rural_oaza(a) && {
                oaza = format!("大字{oaza}");
                true
            }
        }
        Edit::AddAza => {
            if a.is_parcel() && !koaza.is_empty() && !koaza.starts_with('字') {
                koaza = format!("字{koaza}");
                true
            } else if a.is_parcel() && koaza.is_empty() && rural_oaza(a) {
                oaza = format!("字{oaza}");
                true
            } else {
                false
            }
        }
        Edit::DropOaza => match oaza.strip_prefix("大字") {
            Some(rest) if !rest.is_empty() => {
                oaza = rest.to_string();
                true
            }
            _ => false,
        },
        Edit::DropAza => {
            if let Some(rest) = koaza.strip_prefix('字').filter(|r| !r.is_empty()) {
                koaza = rest.to_string();
                true
            } else if let Some(rest) = oaza.strip_prefix('字').filter(|r| !r.is_empty()) {
                oaza = rest.to_string();
                true
            } else {
                false
            }
        }
    };
    if !edited {
        return None;
    }

    let mut out = String::new();
    if let Some(p) = spec.postal {
        let code = a.post_code()?;
        let (head, tail) = code.split_at(3);
        out.push_str(&match p {
            Postal::Hyphen => format!("〒{head}-{tail} "),
            Postal::Plain => format!("〒{code}　"),
            Postal::NoMark => format!("{head}-{tail} "),
            Postal::Wide => format!("〒{}－{} ", widen(head), widen(tail)),
        });
    }
    if spec.pref {
        out.push_str(&pref);
        out.push_str(spec.sp_pref);
    }
    out.push_str(&county);
    out.push_str(&city);
    out.push_str(&ward);
    out.push_str(spec.sp_city);
    out.push_str(&oaza);
    if let (Some(c), false) = (a.chome, chome_in_chain) {
        match spec.chome {
            Chome::Kanji | Chome::AsNumber => out.push_str(&kanji(c)),
            Chome::Arabic => out.push_str(&c.to_string()),
            Chome::FullWidth => out.push_str(&fullwidth(c)),
        }
        out.push_str("丁目");
    }
    out.push_str(&koaza);
    out.push_str(spec.sp_num);

    let fmt = |n: u32| match spec.digits {
        Digits::Arabic => n.to_string(),
        Digits::FullWidth => fullwidth(n),
        Digits::Kanji => kanji(n),
        Digits::Positional => kanji_positional(n),
    };
    let parts: Vec<String> = nums.iter().map(|&n| fmt(n)).collect();
    if chome_in_chain {
        out.push_str(&fmt(a.chome.unwrap()));
        out.push_str(&match spec.numbers {
            Numbers::Hyphen(h) => h.to_string(),
            Numbers::No => "の".to_string(),
            _ => "-".to_string(),
        });
    }
    let dash = if spec.digits == Digits::FullWidth {
        "－"
    } else {
        "-"
    };
    out.push_str(&join_numbers(a.is_parcel(), spec.numbers, &parts, dash));
    out.push_str(&building_text(a, spec.building));
    Some(out)
}

/// `[1, 1]` → `1番1号` etc. (see [`Numbers`]).
fn join_numbers(parcel: bool, numbers: Numbers, parts: &[String], dash: &str) -> String {
    let pattern = match numbers {
        Numbers::Official if parcel => Numbers::Banchi,
        Numbers::Official => Numbers::BanGo,
        n => n,
    };
    let a = &parts[0];
    let b = parts.get(1);
    let c = parts.get(2);
    match (pattern, b, c) {
        (Numbers::Hyphen(h), _, _) => parts.join(&h.to_string()),
        (Numbers::No, _, _) => parts.join("の"),
        (Numbers::BanGo | Numbers::Ban, None, _) => format!("{a}番"),
        (_, None, _) => format!("{a}番地"),
        (Numbers::BanGo, Some(b), None) => format!("{a}番{b}号"),
        (Numbers::BanGo, Some(b), Some(c)) => format!("{a}番{b}{dash}{c}号"),
        (Numbers::Ban, Some(b), None) => format!("{a}番{b}"),
        (Numbers::Ban, Some(b), Some(c)) => format!("{a}番{b}{dash}{c}"),
        (Numbers::Banchi, Some(b), None) => format!("{a}番地{b}"),
        (Numbers::Banchi, Some(b), Some(c)) => format!("{a}番地{b}の{c}"),
        (Numbers::BanchiNo, Some(b), None) => format!("{a}番地の{b}"),
        (Numbers::BanchiNo, Some(b), Some(c)) => format!("{a}番地の{b}の{c}"),
        (Numbers::BanchiGo, Some(b), None) => format!("{a}番地{b}号"),
        (Numbers::BanchiGo, Some(b), Some(c)) => format!("{a}番地{b}{dash}{c}号"),
        (Numbers::Official, _, _) => unreachable!(),
    }
}

fn building_text(a: &AbrAddress, b: Building) -> String {
    let name = a.oaza.strip_prefix("大字").unwrap_or(&a.oaza);
    let name = if name.is_empty() {
        a.koaza.trim_start_matches('字')
    } else {
        name
    };
    // A room number that differs between addresses: floor 1–5, unit 1–9.
    let h = a
        .numbers()
        .iter()
        .enumerate()
        .fold(a.chome.unwrap_or(0) * 7, |h, (i, &n)| {
            h.wrapping_mul(31).wrapping_add(n * (i as u32 + 3))
        });
    let room = (1 + h % 5) * 100 + 1 + (h / 5) % 9;
    match b {
        Building::None => String::new(),
        Building::Heights => format!(" {name}ハイツ{room}号室"),
        Building::HeightsWide => format!("　{name}ハイツ{}号室", fullwidth(room)),
        Building::Maison => format!(" ﾒｿﾞﾝ{name} 5号棟 {room}"),
        Building::RoomHyphen => format!("-{room}"),
        Building::Daisan => format!("第3{name}ビル2F"),
        Building::Paren => format!("（{name}コーポ{room}）"),
        Building::CareOf => " 山田方".to_string(),
    }
}

fn widen(digits: &str) -> String {
    digits
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect()
}

fn is_kanji(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
        || c == '々'
}

fn is_katakana(c: char) -> bool {
    matches!(c as u32, 0x30A1..=0x30FA | 0x30FC | 0xFF66..=0xFF9F)
}

const NUMERALS: &str = "〇一二三四五六七八九十百千万";

/// Old forms people really write; preferred when a character has several variants.
const PREFERRED: &str = "髙﨑嵜邊邉澤濱濵嶋嶌關區縣樂彌鄕臺齋齊廣國德櫻瀧淺榮藏壽與會驛舊圓條冨峯曾眞靑黑鐵實惠龍竜槇桒祢禰穐";

/// Replaces one character of the first name that has a variant (preferring
/// the well-known old forms) by that variant. False when no name has one.
fn itaiji(names: &mut [&mut String]) -> bool {
    let pick = |c: char, preferred_only: bool| -> Option<char> {
        // Kanji only, no numerals, and not the ノ/之/乃/の class (its fold is kana;
        // the ノ/の styles cover it).
        if !is_kanji(c) || NUMERALS.contains(c) || !is_kanji(data::fold_char(c)) {
            return None;
        }
        let vs: Vec<char> = data::variants(c)
            .into_iter()
            .filter(|&v| is_kanji(v) && !NUMERALS.contains(v))
            .collect();
        if let Some(&v) = vs.iter().find(|v| PREFERRED.contains(**v)) {
            return Some(v);
        }
        if preferred_only {
            return None;
        }
        vs.iter()
            .find(|&&v| !(0xF900..=0xFAFF).contains(&(v as u32)))
            .or(vs.first())
            .copied()
    };
    for preferred_only in [true, false] {
        for name in names.iter_mut() {
            let chars: Vec<char> = name.chars().collect();
            if let Some((i, v)) = chars
                .iter()
                .enumerate()
                .find_map(|(i, &c)| pick(c, preferred_only).map(|v| (i, v)))
            {
                let mut chars = chars;
                chars[i] = v;
                **name = chars.into_iter().collect();
                return true;
            }
        }
    }
    false
}

fn variation_selector(name: &mut String) -> bool {
    match name.char_indices().find(|&(_, c)| is_kanji(c)) {
        Some((i, c)) => {
            name.insert(i + c.len_utf8(), '\u{E0100}');
            true
        }
        None => false,
    }
}

/// ケ/ヶ/が before a kanji (and ケ/ヶ not inside a katakana word).
fn ke_eligible(prev: Option<char>, c: char, next: Option<char>) -> bool {
    matches!(c, 'ケ' | 'ヶ' | 'が')
        && next.is_some_and(is_kanji)
        && (c == 'が' || !prev.is_some_and(is_katakana))
}

/// ノ/之/の between two kanji.
fn no_eligible(prev: Option<char>, c: char, next: Option<char>) -> bool {
    matches!(c, 'ノ' | '之' | 'の') && prev.is_some_and(is_kanji) && next.is_some_and(is_kanji)
}

/// Rewrites every eligible character (other than `target`) in the names to
/// `target`; false when there was none.
fn swap_all(
    names: &mut [&mut String],
    target: char,
    eligible: fn(Option<char>, char, Option<char>) -> bool,
) -> bool {
    let mut any = false;
    for name in names.iter_mut() {
        let chars: Vec<char> = name.chars().collect();
        let mut out = chars.clone();
        for i in 0..chars.len() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            if chars[i] != target && eligible(prev, chars[i], next) {
                out[i] = target;
                any = true;
            }
        }
        **name = out.into_iter().collect();
    }
    any
}

/// A 地番 town where 大字/字 in front is plausible: a kanji name without
/// 丁目 that is not a 町/丁/通 (urban) name and has no 大字/字 already.
fn rural_oaza(a: &AbrAddress) -> bool {
    let o = &a.oaza;
    a.chome.is_none()
        && !o.is_empty()
        && !o.starts_with("大字")
        && !o.starts_with('字')
        && o.chars().next().is_some_and(is_kanji)
        && !o.ends_with(['町', '丁', '通', '目'])
}
