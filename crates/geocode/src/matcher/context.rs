//! The city an address is in when it does not say: a municipality's own
//! registry and its offices' lists write addresses from the ward or the
//! town on (「上京区＊＊町870番地」, 「＊＊町1-3」).

use super::Geocoder;
use crate::error::GeocodeError;
use crate::normalize::canonical;

/// The cities that addresses without a city are read in, from
/// `--city NAME|LG_CODE`, a registry's own municipality or the config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// City ids, a 政令市 with its wards.
    pub(crate) cities: Vec<u32>,
    /// The cities as one label (京都府京都市, 東京都文京区).
    label: String,
}

impl Context {
    /// No context: an address must name its city, or its ward or town must
    /// name one by itself.
    pub fn none() -> Context {
        Context::default()
    }

    pub fn is_empty(&self) -> bool {
        self.cities.is_empty()
    }

    /// The context's cities, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Geocoder {
    /// The context of `cities`: each a name (文京区, 東京都文京区, 京都市 for
    /// all its wards, 大阪市北区) or a 全国地方公共団体コード (131059, or 13105
    /// without its check digit). A name that is unknown, or that exists in
    /// several prefectures, is an error naming the candidates.
    ///
    /// ```no_run
    /// # let geocoder: chiiki_geocode::Geocoder = unimplemented!();
    /// let kyoto = geocoder.context(&["京都市"]).unwrap();
    /// let g = geocoder.geocode_in("上京区今出川通烏丸東入玄武町", &kyoto);
    /// assert!(g.used_context || g.city.starts_with("京都市"));
    /// ```
    pub fn context<S: AsRef<str>>(&self, cities: &[S]) -> Result<Context, GeocodeError> {
        let mut context = Context::default();
        let mut labels = Vec::new();
        for name in cities {
            let name = name.as_ref().trim();
            let found = self.resolve_city(name)?;
            labels.push(self.city_label(found));
            for c in std::iter::once(found).chain(self.wards_of(found).iter().copied()) {
                if !context.cities.contains(&c) {
                    context.cities.push(c);
                }
            }
        }
        context.label = labels.join(", ");
        Ok(context)
    }

    fn resolve_city(&self, name: &str) -> Result<u32, GeocodeError> {
        let unknown = |candidates: Vec<String>| GeocodeError::UnknownCity {
            name: name.to_string(),
            candidates,
        };
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            // 6 digits with the check digit, or the 5 before it.
            let found: Vec<u32> = (0..self.data.cities.len() as u32)
                .filter(|&c| {
                    let lg = &self.data.cities[c as usize].lg_code;
                    lg == name || (name.len() == 5 && lg.starts_with(name))
                })
                .collect();
            return match found[..] {
                [c] => Ok(c),
                _ => Err(unknown(Vec::new())),
            };
        }
        let key = canonical(name, &self.folds).replace(' ', "");
        let (pref, rest) = match self.prefs.longest(&key) {
            Some((ids, rest)) => (Some(ids[0]), rest),
            None => (None, key.as_str()),
        };
        let found: Vec<u32> = match self.cities.longest(rest) {
            Some((ids, "")) => ids
                .iter()
                .copied()
                .filter(|&c| pref.is_none_or(|p| self.data.cities[c as usize].pref == p))
                .collect(),
            _ => Vec::new(),
        };
        match found[..] {
            [c] => Ok(c),
            [] => Err(unknown(Vec::new())),
            _ => Err(unknown(found.iter().map(|&c| self.city_label(c)).collect())),
        }
    }
}
