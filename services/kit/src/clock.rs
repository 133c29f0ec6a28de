//! Injected time. Rules that depend on "today" (ages, years on a rung, deadlines) read a [`Clock`]
//! so tests can set the date instead of waiting for it; schedules (the daily maintenance job, the
//! wait for a first call with the same request id) wait on it with [`Clock::wait_until`], so a
//! test moves time forward instead of sleeping.

use std::{future::Future, pin::Pin, sync::Arc};

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

    /// Completes once this clock reads `at` or later: at once when it already does.
    fn wait_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
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

    /// Sleeps on tokio's timer until the wall clock reads `at` (checked again on waking, so a
    /// clock set back meanwhile is waited out too).
    fn wait_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let left = at - Utc::now();
                match left.to_std() {
                    Ok(left) if !left.is_zero() => tokio::time::sleep(left).await,
                    _ => return,
                }
            }
        })
    }
}

/// A clock tests set and move by hand. It stands still between moves; whatever waits on it
/// ([`Clock::wait_until`]) wakes when a move reaches its time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<tokio::sync::watch::Sender<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(tokio::sync::watch::Sender::new(now)))
    }

    /// Moves the clock to `now` and wakes what waits for a time it reached.
    pub fn set(&self, now: DateTime<Utc>) {
        self.0.send_replace(now);
    }

    /// Moves the clock forward and wakes what waits for a time it reached.
    pub fn advance(&self, by: chrono::Duration) {
        self.0.send_modify(|now| *now += by);
    }

    /// How many waits ([`Clock::wait_until`]) are pending on this clock right now: a test can see
    /// that a job or a duplicate call has started waiting before it moves the clock.
    pub fn waiters(&self) -> usize {
        self.0.receiver_count()
    }

    /// Returns once at least `count` waits are pending on this clock (polling, as a test polls
    /// health: nothing here guesses how long the waiter takes to get there).
    pub async fn until_waiters(&self, count: usize) {
        while self.waiters() < count {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.borrow()
    }

    /// Waits until [`ManualClock::set`] or [`ManualClock::advance`] moves the clock to `at` or
    /// later; no time passes on its own.
    fn wait_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut moves = self.0.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, so the wait cannot fail.
            let _ = moves.wait_for(|now| *now >= at).await;
        })
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

    #[tokio::test]
    async fn a_wait_on_the_manual_clock_ends_when_the_clock_is_moved_past_its_time() {
        let clock = ManualClock::at("2026-03-01T00:00:00Z".parse().unwrap());
        let at: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
        let mut wait = clock.wait_until(at);
        assert_eq!(clock.waiters(), 1);
        // Nothing moves the clock: the wait stays pending however often it is polled.
        for _ in 0..100 {
            assert!(futures::poll!(&mut wait).is_pending());
            tokio::task::yield_now().await;
        }
        clock.advance(chrono::Duration::hours(23));
        assert!(futures::poll!(&mut wait).is_pending(), "an hour short");
        clock.advance(chrono::Duration::hours(1));
        assert!(futures::poll!(&mut wait).is_ready(), "exactly at its time");
        drop(wait);
        assert_eq!(clock.waiters(), 0);
        // A time already reached is no wait at all.
        assert!(futures::poll!(clock.wait_until(at)).is_ready());
        clock.set("2026-01-01T00:00:00Z".parse().unwrap());
        assert!(futures::poll!(clock.wait_until(at)).is_pending());
    }

    #[tokio::test]
    async fn the_system_clock_waits_for_a_time_already_past_not_at_all() {
        let past = SystemClock.now() - chrono::Duration::seconds(1);
        assert!(futures::poll!(SystemClock.wait_until(past)).is_ready());
    }
}
