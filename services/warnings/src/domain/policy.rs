//! A province's warning policy: the hours each colour gives before its deadline passes.

use std::ops::RangeInclusive;

/// Deadline hours a province may choose for any colour: an hour to a month.
pub const HOURS_RANGE: RangeInclusive<i32> = 1..=720;

/// Hours per colour (DOMAIN.md §4, configurable per province).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Blue (常规问题): hours to a response.
    pub blue_response_hours: i32,
    /// Yellow (复杂问题): hours to a joint consultation (会商).
    pub yellow_consultation_hours: i32,
    /// Red (重大风险): hours to a task force (专班处置).
    pub red_task_force_hours: i32,
}

impl Default for Policy {
    /// The shipped default: blue 48 h, yellow 72 h, red 24 h.
    fn default() -> Self {
        Policy {
            blue_response_hours: 48,
            yellow_consultation_hours: 72,
            red_task_force_hours: 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_deadlines_are_48_72_and_24_hours() {
        let policy = Policy::default();
        assert_eq!(
            (
                policy.blue_response_hours,
                policy.yellow_consultation_hours,
                policy.red_task_force_hours
            ),
            (48, 72, 24)
        );
        assert!(HOURS_RANGE.contains(&1) && HOURS_RANGE.contains(&720));
        assert!(!HOURS_RANGE.contains(&0) && !HOURS_RANGE.contains(&721));
    }
}
