//! In-process protections of the gateway (OWASP API4 and API2): a token-bucket rate limit per
//! credential, and a lockout after repeated failed authentication per client address.
//!
//! Both are per process: with several gateway replicas the effective limit is the per-replica
//! limit times the replicas, which the configuration must account for. Both read the time they
//! are given (the gateway's injected clock), so tests move time instead of waiting for it.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

/// Entries kept at most before stale ones are dropped.
const MAX_TRACKED: usize = 100_000;

/// Time from `then` to `now`; zero when the clock was set back.
fn since(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or_default()
}

/// `now` plus `by`, saturating far in the future.
fn after(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| now.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A token bucket per key: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, DateTime<Utc>)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` requests per key on average and bursts of `burst`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter {
            per_second: per_second.max(0.001),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > MAX_TRACKED {
            // a bucket that has refilled completely carries no information
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, last)| since(now, *last) < full_after);
        }
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + since(now, *last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

/// Locks a client out for `lockout` after `max_failures` failed authentications within `window`.
#[derive(Debug)]
pub struct FailureLockout {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    clients: Mutex<HashMap<String, Failures>>,
}

impl FailureLockout {
    /// A lockout after `max_failures` failures within `window`, lasting `lockout`.
    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> Self {
        FailureLockout {
            max_failures: max_failures.max(1),
            window,
            lockout,
            clients: Mutex::default(),
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fails with the time left while `client` is locked out.
    pub fn check(&self, client: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        match self.clients().get(client).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(since(until, now)),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication; returns the lockout when this one triggers it.
    pub fn record_failure(&self, client: &str, now: DateTime<Utc>) -> Option<Duration> {
        let mut clients = self.clients();
        if clients.len() > MAX_TRACKED {
            let horizon = self.window.max(self.lockout);
            clients.retain(|_, f| {
                since(now, f.window_start) < horizon || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let entry = clients.entry(client.to_owned()).or_insert(Failures {
            count: 0,
            window_start: now,
            locked_until: None,
        });
        if since(now, entry.window_start) > self.window {
            *entry = Failures {
                count: 0,
                window_start: now,
                locked_until: None,
            };
        }
        entry.count += 1;
        if entry.count >= self.max_failures {
            entry.locked_until = Some(after(now, self.lockout));
            entry.count = 0;
            entry.window_start = now;
            return Some(self.lockout);
        }
        None
    }

    /// Forgets `client`'s failures after a successful authentication.
    pub fn record_success(&self, client: &str) {
        let mut clients = self.clients();
        if clients
            .get(client)
            .is_some_and(|f| f.locked_until.is_none())
        {
            clients.remove(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-06-15T02:00:00Z".parse().unwrap()
    }

    fn plus(at: DateTime<Utc>, millis: i64) -> DateTime<Utc> {
        at + chrono::Duration::milliseconds(millis)
    }

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let limiter = RateLimiter::new(2.0, 3);
        let start = start();
        for _ in 0..3 {
            assert!(limiter.check("key", start).is_ok());
        }
        // 2 per second: the next token is half a second away, exactly.
        assert_eq!(limiter.check("key", start), Err(Duration::from_millis(500)));
        assert!(
            limiter.check("other", start).is_ok(),
            "limits are per credential"
        );
        assert_eq!(
            limiter.check("key", plus(start, 250)),
            Err(Duration::from_millis(250)),
            "250 ms of refill is half a token"
        );
        assert!(limiter.check("key", plus(start, 500)).is_ok());
        // After a long pause the bucket holds the burst again, no more.
        let later = plus(start, 60_000);
        for _ in 0..3 {
            assert!(limiter.check("key", later).is_ok());
        }
        assert!(limiter.check("key", later).is_err());
    }

    #[test]
    fn a_clock_set_back_refills_nothing() {
        let limiter = RateLimiter::new(1.0, 1);
        let start = start();
        assert!(limiter.check("key", start).is_ok());
        assert_eq!(
            limiter.check("key", plus(start, -5_000)),
            Err(Duration::from_secs(1))
        );
    }

    #[test]
    fn repeated_failures_lock_a_client_out_for_a_while() {
        let lockout = FailureLockout::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let start = start();
        assert!(lockout.record_failure("10.0.0.1", start).is_none());
        assert!(lockout.record_failure("10.0.0.1", start).is_none());
        assert_eq!(
            lockout.record_failure("10.0.0.1", start),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            lockout.check("10.0.0.1", plus(start, 299_000)),
            Err(Duration::from_secs(1))
        );
        assert!(lockout.check("10.0.0.2", start).is_ok());
        assert!(lockout.check("10.0.0.1", plus(start, 300_000)).is_ok());
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let lockout = FailureLockout::new(2, Duration::from_secs(60), Duration::from_secs(300));
        let start = start();
        lockout.record_failure("c", start);
        assert!(lockout.record_failure("c", plus(start, 120_000)).is_none());
        lockout.record_success("c");
        assert!(lockout.record_failure("c", plus(start, 121_000)).is_none());
    }
}
