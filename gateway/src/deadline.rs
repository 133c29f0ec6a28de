//! The deadline of a call: the configured default, tightened (never loosened) by the client's
//! `x-request-timeout` header, then sent to the backend as `grpc-timeout`.
//!
//! Header forms: `250ms` (milliseconds), `2s` or `2.5s` (seconds), or a bare number of seconds
//! (`2`, `0.25`). Zero, negative and unparsable values are refused with 400.

use std::time::Duration;

/// The request header a client uses to shorten the deadline.
pub const TIMEOUT_HEADER: &str = "x-request-timeout";

/// Parses an `x-request-timeout` value.
pub fn parse_timeout(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit_ms) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, true)
    } else if let Some(s) = value.strip_suffix('s') {
        (s, false)
    } else {
        (value, false)
    };
    let bad = || {
        format!(
            "{TIMEOUT_HEADER} must be a positive duration such as 500ms, 2s or 2.5, not {value:?}"
        )
    };
    let number: f64 = number.trim().parse().map_err(|_| bad())?;
    if !number.is_finite() || number <= 0.0 {
        return Err(bad());
    }
    let seconds = if unit_ms { number / 1000.0 } else { number };
    // anything longer than a day is as good as "no tightening"
    let seconds = seconds.min(86_400.0);
    let duration = Duration::try_from_secs_f64(seconds).map_err(|_| bad())?;
    if duration.is_zero() {
        return Err(bad());
    }
    Ok(duration)
}

/// The deadline that applies: the client's, if it is shorter than the default.
pub fn effective(default: Duration, requested: Option<Duration>) -> Duration {
    requested.map_or(default, |requested| requested.min(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_seconds_and_bare_numbers_parse() {
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_timeout(" 3 "), Ok(Duration::from_secs(3)));
        assert_eq!(parse_timeout("0.1"), Ok(Duration::from_millis(100)));
    }

    #[test]
    fn zero_negative_and_garbage_are_refused() {
        for bad in [
            "0", "0ms", "-1", "abc", "", "ms", "1h", "NaN", "inf", "1e400",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn huge_values_are_capped_not_refused() {
        assert_eq!(
            parse_timeout("99999999999"),
            Ok(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn a_client_can_tighten_but_never_loosen_the_deadline() {
        let default = Duration::from_secs(10);
        assert_eq!(effective(default, None), default);
        assert_eq!(
            effective(default, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(effective(default, Some(Duration::from_secs(60))), default);
    }
}
