//! 任职资格标准: who may be appointed secretary. Configurable per province; the shipped default
//! is at most 50 years old on appointment, at least 大专, and at least 3 years of community work.

use chrono::NaiveDate;

use super::{Education, full_years};

/// A province's qualification standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standard {
    /// Maximum age on the appointment date.
    pub max_age_at_appointment: i32,
    /// Minimum education.
    pub min_education: Education,
    /// Minimum full years of community work before appointment.
    pub min_years_community_work: i32,
}

impl Default for Standard {
    fn default() -> Self {
        Standard {
            max_age_at_appointment: 50,
            min_education: Education::JuniorCollege,
            min_years_community_work: 3,
        }
    }
}

/// Accepted range of the maximum age (the statutory working age).
pub const MAX_AGE_RANGE: std::ops::RangeInclusive<i32> = 18..=65;
/// Accepted range of the minimum years of community work.
pub const MIN_YEARS_RANGE: std::ops::RangeInclusive<i32> = 0..=30;

/// What is checked against a standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// 出生日期.
    pub birth_date: NaiveDate,
    /// 学历.
    pub education: Education,
    /// 参加社区工作时间.
    pub community_work_start: NaiveDate,
    /// The (planned) appointment date.
    pub appointment_date: NaiveDate,
}

/// One rule and how the profile fares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    /// Rule identifier.
    pub rule: &'static str,
    /// Whether it is met.
    pub met: bool,
    /// What it requires.
    pub required: String,
    /// What the profile has.
    pub actual: String,
}

impl Standard {
    /// Every rule, met or not, in a fixed order.
    pub fn check(&self, profile: &Profile) -> Vec<RuleResult> {
        let age = full_years(profile.birth_date, profile.appointment_date);
        let years = full_years(profile.community_work_start, profile.appointment_date);
        vec![
            RuleResult {
                rule: "MAX_AGE_AT_APPOINTMENT",
                met: age <= self.max_age_at_appointment,
                required: format!(
                    "at most {} years old on the appointment date",
                    self.max_age_at_appointment
                ),
                actual: format!("{age} years old on {}", profile.appointment_date),
            },
            RuleResult {
                rule: "MIN_EDUCATION",
                met: profile.education >= self.min_education,
                required: format!("at least {}", self.min_education.chinese()),
                actual: profile.education.chinese().to_owned(),
            },
            RuleResult {
                rule: "MIN_YEARS_COMMUNITY_WORK",
                met: years >= self.min_years_community_work,
                required: format!(
                    "at least {} full years of community work",
                    self.min_years_community_work
                ),
                actual: format!("{years} full years on {}", profile.appointment_date),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(birth: &str, education: Education, work: &str, appointed: &str) -> Profile {
        Profile {
            birth_date: birth.parse().unwrap(),
            education,
            community_work_start: work.parse().unwrap(),
            appointment_date: appointed.parse().unwrap(),
        }
    }

    fn unmet(results: &[RuleResult]) -> Vec<&'static str> {
        results.iter().filter(|r| !r.met).map(|r| r.rule).collect()
    }

    #[test]
    fn a_profile_meeting_every_default_rule_qualifies() {
        let results = Standard::default().check(&profile(
            "1980-05-01",
            Education::Bachelor,
            "2015-01-01",
            "2024-01-01",
        ));
        assert!(unmet(&results).is_empty());
    }

    #[test]
    fn fifty_is_allowed_fifty_one_is_not() {
        let standard = Standard::default();
        let at_fifty = profile(
            "1974-01-01",
            Education::Bachelor,
            "2010-01-01",
            "2024-01-01",
        );
        assert!(unmet(&standard.check(&at_fifty)).is_empty());
        let at_fifty_one = profile(
            "1973-01-01",
            Education::Bachelor,
            "2010-01-01",
            "2024-01-01",
        );
        assert_eq!(
            unmet(&standard.check(&at_fifty_one)),
            vec!["MAX_AGE_AT_APPOINTMENT"]
        );
    }

    #[test]
    fn education_below_junior_college_fails() {
        let results = Standard::default().check(&profile(
            "1990-01-01",
            Education::SeniorSecondary,
            "2015-01-01",
            "2024-01-01",
        ));
        assert_eq!(unmet(&results), vec!["MIN_EDUCATION"]);
        assert!(results[1].required.contains("大专"));
    }

    #[test]
    fn community_work_counts_full_years_before_appointment() {
        let standard = Standard::default();
        let short = profile(
            "1990-01-01",
            Education::Bachelor,
            "2021-01-02",
            "2024-01-01",
        );
        assert_eq!(
            unmet(&standard.check(&short)),
            vec!["MIN_YEARS_COMMUNITY_WORK"]
        );
        let enough = profile(
            "1990-01-01",
            Education::Bachelor,
            "2021-01-01",
            "2024-01-01",
        );
        assert!(unmet(&standard.check(&enough)).is_empty());
    }

    #[test]
    fn every_unmet_rule_is_named_at_once() {
        let results = Standard::default().check(&profile(
            "1960-01-01",
            Education::JuniorSecondaryOrBelow,
            "2023-06-01",
            "2024-01-01",
        ));
        assert_eq!(
            unmet(&results),
            vec![
                "MAX_AGE_AT_APPOINTMENT",
                "MIN_EDUCATION",
                "MIN_YEARS_COMMUNITY_WORK"
            ]
        );
    }

    #[test]
    fn a_province_can_tighten_the_standard() {
        let strict = Standard {
            max_age_at_appointment: 45,
            min_education: Education::Bachelor,
            min_years_community_work: 5,
        };
        let results = strict.check(&profile(
            "1978-01-01",
            Education::JuniorCollege,
            "2020-01-01",
            "2024-01-01",
        ));
        assert_eq!(
            unmet(&results),
            vec![
                "MAX_AGE_AT_APPOINTMENT",
                "MIN_EDUCATION",
                "MIN_YEARS_COMMUNITY_WORK"
            ]
        );
    }
}
