//! The one clock: what time it is, and what day it is in Japan.
//!
//! The service's date is Asia/Tokyo's (UTC+9, no daylight saving), whatever
//! the machine's time zone: a resident turns 65 on their birthday in Japan.
//! Everything that asks for "today" asks [`today`], so a test can pin the
//! date for the whole process with [`set`].

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// The date in Japan at [`Clock::now`].
    fn today(&self) -> NaiveDate {
        japan_date(self.now())
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same time (tests, replays, "as of" runs).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl FixedClock {
    /// Noon in Japan on `day`.
    pub fn on(day: NaiveDate) -> FixedClock {
        let noon = day.and_hms_opt(3, 0, 0).expect("valid time").and_utc();
        FixedClock(noon)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The date in Japan at the instant `t`.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// // 20:00 UTC on New Year's Eve is already 1 January in Tokyo.
/// let t = Utc.with_ymd_and_hms(2026, 12, 31, 20, 0, 0).unwrap();
/// assert_eq!(chiiki_core::clock::japan_date(t), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
/// ```
pub fn japan_date(t: DateTime<Utc>) -> NaiveDate {
    (t + Duration::hours(9)).date_naive()
}

static CLOCK: RwLock<Option<Arc<dyn Clock>>> = RwLock::new(None);

/// The process's clock: the one [`set`] installed, else the system's.
pub fn clock() -> Arc<dyn Clock> {
    match CLOCK.read().ok().and_then(|c| c.clone()) {
        Some(c) => c,
        None => Arc::new(SystemClock),
    }
}

/// Installs the process's clock.
pub fn set(clock: Arc<dyn Clock>) {
    if let Ok(mut c) = CLOCK.write() {
        *c = Some(clock);
    }
}

/// The current time, by the process's clock.
pub fn now() -> DateTime<Utc> {
    clock().now()
}

/// Today in Japan, by the process's clock: the default reference date of
/// ages, views and "as of" queries.
pub fn today() -> NaiveDate {
    clock().today()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_date_turns_at_midnight_in_japan_not_utc() {
        let before = Utc.with_ymd_and_hms(2026, 3, 31, 14, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap();
        assert_eq!(
            japan_date(before),
            NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
        );
        assert_eq!(
            japan_date(after),
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
        );
    }

    #[test]
    fn a_fixed_clock_gives_its_day() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(FixedClock::on(day).today(), day);
    }
}
