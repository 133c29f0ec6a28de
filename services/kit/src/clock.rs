//! Injected time. Rules that depend on "today" (ages, years on a rung, deadlines) read a [`Clock`]
//! so tests can set the date instead of waiting for it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// China Standard Time (UTC+8, no daylight saving): the calendar the officials work in.
pub fn china_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in China Standard Time.
    fn today(&self) -> NaiveDate {
        self.now().with_timezone(&china_time()).date_naive()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Instants are stored with microseconds; an answer must not show more precision than a
        // later read of the same record (a create's createTime equals the one read back).
        chrono::DurationRound::duration_trunc(Utc::now(), chrono::TimeDelta::microseconds(1))
            .unwrap_or_else(|_| Utc::now())
    }
}

/// A clock tests set and move by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(now)))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = now;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_tells_microseconds_as_they_are_stored() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0);
        assert_eq!(
            crate::convert::from_db_time(&crate::convert::to_db_time(now)).unwrap(),
            now
        );
    }

    #[test]
    fn today_follows_china_standard_time() {
        // 2026-03-01 17:00 UTC is already 2026-03-02 in Beijing
        let clock = ManualClock::at("2026-03-01T17:00:00Z".parse().unwrap());
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        clock.advance(chrono::Duration::days(1));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 3, 3).unwrap());
    }
}
