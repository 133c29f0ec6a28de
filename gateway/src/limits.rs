//! In-process protections of the gateway (OWASP API4 and API2): a token-bucket rate limit per
//! credential, and a lockout after repeated failed authentication per client address.
//!
//! Both are per process: with several gateway replicas the effective limit is the per-replica
//! limit times the replicas, which the configuration must account for.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Entries kept at most before stale ones are dropped.
const MAX_TRACKED: usize = 100_000;

/// A token bucket per key: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
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
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > MAX_TRACKED {
            // a bucket that has refilled completely carries no information
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, last)| now.duration_since(*last) < full_after);
        }
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
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
    window_start: Instant,
    locked_until: Option<Instant>,
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
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        match self.clients().get(client).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication; returns the lockout when this one triggers it.
    pub fn record_failure(&self, client: &str, now: Instant) -> Option<Duration> {
        let mut clients = self.clients();
        if clients.len() > MAX_TRACKED {
            let horizon = self.window.max(self.lockout);
            clients.retain(|_, f| {
                now.duration_since(f.window_start) < horizon
                    || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let entry = clients.entry(client.to_owned()).or_insert(Failures {
            count: 0,
            window_start: now,
            locked_until: None,
        });
        if now.duration_since(entry.window_start) > self.window {
            *entry = Failures {
                count: 0,
                window_start: now,
                locked_until: None,
            };
        }
        entry.count += 1;
        if entry.count >= self.max_failures {
            entry.locked_until = Some(now + self.lockout);
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

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let limiter = RateLimiter::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("key", start).is_ok());
        }
        let wait = limiter.check("key", start).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(
            limiter.check("other", start).is_ok(),
            "limits are per credential"
        );
        assert!(
            limiter
                .check("key", start + Duration::from_millis(500))
                .is_ok()
        );
    }

    #[test]
    fn repeated_failures_lock_a_client_out_for_a_while() {
        let lockout = FailureLockout::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let start = Instant::now();
        assert!(lockout.record_failure("10.0.0.1", start).is_none());
        assert!(lockout.record_failure("10.0.0.1", start).is_none());
        assert_eq!(
            lockout.record_failure("10.0.0.1", start),
            Some(Duration::from_secs(300))
        );
        assert!(
            lockout
                .check("10.0.0.1", start + Duration::from_secs(299))
                .is_err()
        );
        assert!(lockout.check("10.0.0.2", start).is_ok());
        assert!(
            lockout
                .check("10.0.0.1", start + Duration::from_secs(301))
                .is_ok()
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let lockout = FailureLockout::new(2, Duration::from_secs(60), Duration::from_secs(300));
        let start = Instant::now();
        lockout.record_failure("c", start);
        assert!(
            lockout
                .record_failure("c", start + Duration::from_secs(120))
                .is_none()
        );
        lockout.record_success("c");
        assert!(
            lockout
                .record_failure("c", start + Duration::from_secs(121))
                .is_none()
        );
    }
}
