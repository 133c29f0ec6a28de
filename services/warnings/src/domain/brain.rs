//! The community brain (社区大脑): indicators, threshold rules, terminals and their keys, and
//! which readings are accepted.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use shequ_kit::regions::RegionCode;

use super::{Colour, Department};

/// Indicators one province's catalogue holds at most (DOMAIN.md §4).
pub const MAX_INDICATORS: i64 = 200;
/// Active terminals one city has at most (DOMAIN.md §4).
pub const MAX_TERMINALS_PER_CITY: i64 = 5_000;
/// Readings one batch holds at most.
pub const MAX_READINGS_PER_BATCH: usize = 1_000;
/// How far ahead of the service's clock a reading may be (terminal clocks drift).
pub fn future_skew() -> Duration {
    Duration::minutes(5)
}
/// How old a reading may be when it arrives (a terminal back from an outage sends its backlog).
pub fn max_age() -> Duration {
    Duration::days(7)
}

/// An indicator of a province's catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// Province.
    pub province: RegionCode,
    /// Id within the province.
    pub id: String,
    /// What it measures.
    pub display_name: String,
    /// Source department.
    pub department: Department,
    /// Unit.
    pub unit: String,
    /// Smallest plausible value.
    pub min_value: f64,
    /// Largest plausible value.
    pub max_value: f64,
    /// Not retired.
    pub active: bool,
    /// Version (the etag).
    pub version: i64,
    /// Added at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
}

impl Indicator {
    /// Its resource name.
    pub fn name(&self) -> String {
        format!("provinces/{}/indicators/{}", self.province, self.id)
    }
}

/// Which side of its thresholds a rule fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// At or above.
    Above,
    /// At or below.
    Below,
}

impl Direction {
    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Direction::Above => "ABOVE",
            Direction::Below => "BELOW",
        }
    }

    /// The direction of a stored code.
    pub fn from_code(code: &str) -> Option<Direction> {
        [Direction::Above, Direction::Below]
            .into_iter()
            .find(|d| d.code() == code)
    }
}

/// A threshold rule over one indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Province.
    pub province: RegionCode,
    /// Id within the province.
    pub id: String,
    /// The indicator's id.
    pub indicator: String,
    /// Title of its warnings.
    pub display_name: String,
    /// Above or below.
    pub direction: Direction,
    /// Threshold of each colour, blue, yellow, red; `None` when the colour is not used.
    pub thresholds: [Option<f64>; 3],
    /// Category of its warnings.
    pub category: String,
    /// Checked against readings.
    pub active: bool,
    /// Version (the etag).
    pub version: i64,
    /// Added at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
}

impl Rule {
    /// Its resource name.
    pub fn name(&self) -> String {
        format!("provinces/{}/thresholdRules/{}", self.province, self.id)
    }

    /// The highest colour whose threshold `value` reaches (at or beyond), if any.
    pub fn colour_for(&self, value: f64) -> Option<(Colour, f64)> {
        Colour::ALL
            .into_iter()
            .zip(self.thresholds)
            .rev()
            .find_map(|(colour, threshold)| {
                let threshold = threshold?;
                let reached = match self.direction {
                    Direction::Above => value >= threshold,
                    Direction::Below => value <= threshold,
                };
                reached.then_some((colour, threshold))
            })
    }
}

/// Why a rule's thresholds cannot stand: none set, not finite, or not rising (falling, for
/// BELOW) with the colour.
pub fn thresholds_problem(direction: Direction, thresholds: [Option<f64>; 3]) -> Option<String> {
    let set: Vec<f64> = thresholds.iter().flatten().copied().collect();
    if set.is_empty() {
        return Some("set at least one of blue_threshold, yellow_threshold, red_threshold".into());
    }
    if set.iter().any(|t| !t.is_finite()) {
        return Some("thresholds must be finite numbers".into());
    }
    let ordered = set.windows(2).all(|pair| match direction {
        Direction::Above => pair[0] < pair[1],
        Direction::Below => pair[0] > pair[1],
    });
    (!ordered).then(|| match direction {
        Direction::Above => "for ABOVE, each higher colour needs a higher threshold".into(),
        Direction::Below => "for BELOW, each higher colour needs a lower threshold".into(),
    })
}

/// Why a reading of `indicator` (`None`: unknown in the province) is refused, if it is:
/// `(reason, message)`.
pub fn reading_problem(
    indicator: Option<&Indicator>,
    indicator_id: &str,
    value: f64,
    observed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<(&'static str, String)> {
    let Some(indicator) = indicator.filter(|i| i.active) else {
        return Some((
            "INDICATOR_UNKNOWN",
            format!("{indicator_id:?} is not an active indicator of the terminal's province"),
        ));
    };
    if !value.is_finite() {
        return Some(("VALUE_INVALID", "the value is not a finite number".into()));
    }
    if value < indicator.min_value || value > indicator.max_value {
        return Some((
            "VALUE_OUT_OF_RANGE",
            format!(
                "{value} is outside {}'s range {} to {}",
                indicator.id, indicator.min_value, indicator.max_value
            ),
        ));
    }
    let Some(observed) = observed else {
        return Some(("TIME_REQUIRED", "observe_time is required".into()));
    };
    if observed > now + future_skew() {
        return Some((
            "TIME_IN_FUTURE",
            format!(
                "{} is more than 5 minutes ahead of {}",
                observed.to_rfc3339(),
                now.to_rfc3339()
            ),
        ));
    }
    if observed < now - max_age() {
        return Some((
            "TIME_TOO_OLD",
            format!("{} is more than 7 days old", observed.to_rfc3339()),
        ));
    }
    None
}

/// Prefix of every terminal key, so that leaked keys are recognisable by secret scanners.
pub const KEY_PREFIX: &str = "shqt_";

/// A fresh terminal key: `shqt_{terminal id}_{43 random characters}`.
pub fn new_key(terminal_id: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut random = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    format!(
        "{KEY_PREFIX}{terminal_id}_{}",
        URL_SAFE_NO_PAD.encode(random)
    )
}

/// The terminal id a presented key names, if it has the right form.
pub fn key_terminal(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    (!id.is_empty()
        && id.len() <= 64
        && random.len() == 43
        && id.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(direction: Direction, thresholds: [Option<f64>; 3]) -> Rule {
        let now: DateTime<Utc> = "2026-06-15T02:00:00Z".parse().unwrap();
        Rule {
            province: RegionCode::parse("440000000000").unwrap(),
            id: "r".into(),
            indicator: "rain".into(),
            display_name: "暴雨".into(),
            direction,
            thresholds,
            category: "flood".into(),
            active: true,
            version: 1,
            create_time: now,
            update_time: now,
        }
    }

    #[test]
    fn a_reading_takes_the_highest_colour_whose_threshold_it_reaches() {
        let rain = rule(Direction::Above, [Some(20.0), Some(50.0), Some(100.0)]);
        assert_eq!(rain.colour_for(19.9), None);
        assert_eq!(rain.colour_for(20.0), Some((Colour::Blue, 20.0)));
        assert_eq!(rain.colour_for(99.0), Some((Colour::Yellow, 50.0)));
        assert_eq!(rain.colour_for(250.0), Some((Colour::Red, 100.0)));
        let pressure = rule(Direction::Below, [None, Some(0.2), Some(0.1)]);
        assert_eq!(pressure.colour_for(0.3), None);
        assert_eq!(pressure.colour_for(0.15), Some((Colour::Yellow, 0.2)));
        assert_eq!(pressure.colour_for(0.0), Some((Colour::Red, 0.1)));
    }

    #[test]
    fn thresholds_must_rise_with_the_colour_above_and_fall_below() {
        assert!(thresholds_problem(Direction::Above, [Some(1.0), None, Some(3.0)]).is_none());
        assert!(thresholds_problem(Direction::Above, [Some(3.0), Some(3.0), None]).is_some());
        assert!(thresholds_problem(Direction::Below, [Some(3.0), Some(2.0), Some(1.0)]).is_none());
        assert!(thresholds_problem(Direction::Below, [Some(1.0), Some(2.0), None]).is_some());
        assert!(thresholds_problem(Direction::Above, [None, None, None]).is_some());
        assert!(thresholds_problem(Direction::Above, [Some(f64::NAN), None, None]).is_some());
    }

    #[test]
    fn readings_are_refused_for_an_unknown_indicator_a_value_out_of_range_or_a_bad_time() {
        let now: DateTime<Utc> = "2026-06-15T02:00:00Z".parse().unwrap();
        let rain = Indicator {
            province: RegionCode::parse("440000000000").unwrap(),
            id: "rain".into(),
            display_name: "小时降雨量".into(),
            department: Department::Weather,
            unit: "mm".into(),
            min_value: 0.0,
            max_value: 300.0,
            active: true,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let reason = |i: Option<&Indicator>, v: f64, t: Option<DateTime<Utc>>| {
            reading_problem(i, "rain", v, t, now).map(|(r, _)| r)
        };
        assert_eq!(reason(Some(&rain), 300.0, Some(now)), None);
        assert_eq!(reason(None, 1.0, Some(now)), Some("INDICATOR_UNKNOWN"));
        let retired = Indicator {
            active: false,
            ..rain.clone()
        };
        assert_eq!(
            reason(Some(&retired), 1.0, Some(now)),
            Some("INDICATOR_UNKNOWN")
        );
        assert_eq!(
            reason(Some(&rain), 300.5, Some(now)),
            Some("VALUE_OUT_OF_RANGE")
        );
        assert_eq!(
            reason(Some(&rain), -1.0, Some(now)),
            Some("VALUE_OUT_OF_RANGE")
        );
        assert_eq!(
            reason(Some(&rain), f64::NAN, Some(now)),
            Some("VALUE_INVALID")
        );
        assert_eq!(reason(Some(&rain), 1.0, None), Some("TIME_REQUIRED"));
        let ahead = now + Duration::minutes(5);
        assert_eq!(
            reason(Some(&rain), 1.0, Some(ahead)),
            None,
            "5 minutes ahead is fine"
        );
        assert_eq!(
            reason(Some(&rain), 1.0, Some(ahead + Duration::seconds(1))),
            Some("TIME_IN_FUTURE")
        );
        let old = now - Duration::days(7);
        assert_eq!(
            reason(Some(&rain), 1.0, Some(old)),
            None,
            "7 days old is fine"
        );
        assert_eq!(
            reason(Some(&rain), 1.0, Some(old - Duration::seconds(1))),
            Some("TIME_TOO_OLD")
        );
    }

    #[test]
    fn a_terminal_key_names_its_terminal_and_nothing_else_parses() {
        let key = new_key("01abc");
        assert_eq!(key_terminal(&key), Some("01abc"));
        assert_ne!(new_key("01abc"), key);
        for bad in [
            "",
            "shqt_",
            "shqt_01abc_short",
            "shq_01abc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(key_terminal(bad), None, "{bad}");
        }
    }
}
