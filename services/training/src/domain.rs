//! The training rules (DOMAIN.md §3), pure and unit-tested: the province's policy and its
//! defaults, the 三阶九步 plan and its windows, mentor eligibility, and the certification levels.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------------------------------------------
// Policy

/// A province's training rules. Every number is configurable per province; the defaults are the
/// shipped values (DOMAIN.md §3 and the decisions in the service's README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Yearly hours per layer: basic, professional, extension.
    pub basic_hours: i32,
    pub professional_hours: i32,
    pub extension_hours: i32,
    /// Yearly studio attendance target, person-times.
    pub studio_annual_target: i32,
    /// Most active mentees per mentor.
    pub mentor_capacity: i32,
    /// A mentor's full years since appointment.
    pub mentor_min_years_in_post: i32,
    /// Months before the pairing without a negative-list violation.
    pub mentor_violation_lookback_months: i32,
    /// Pass mark of a module exam.
    pub exam_pass_mark: i32,
    /// Validity of a certificate.
    pub certificate_validity_years: i32,
    /// Negative-list item codes whose violation revokes certificates.
    pub revoking_items: Vec<String>,
    /// The signature algorithm of the province's credentials (policies stored before the choice
    /// existed read as the default, EdDSA).
    #[serde(default)]
    pub credential_algorithm: crate::credential::KeyAlgorithm,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            basic_hours: 24,
            professional_hours: 16,
            extension_hours: 8,
            studio_annual_target: 5_000,
            mentor_capacity: 3,
            mentor_min_years_in_post: 3,
            mentor_violation_lookback_months: 12,
            exam_pass_mark: 60,
            certificate_validity_years: 3,
            revoking_items: Vec::new(),
            credential_algorithm: crate::credential::KeyAlgorithm::default(),
        }
    }
}

impl Policy {
    /// The yearly quota of `layer`.
    pub fn quota(&self, layer: Layer) -> i32 {
        match layer {
            Layer::Basic => self.basic_hours,
            Layer::Professional => self.professional_hours,
            Layer::Extension => self.extension_hours,
        }
    }

    /// The violated rules of a policy, as (field, reason, description).
    pub fn violations(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut found = Vec::new();
        let mut range = |field, value: i32, min: i32, max: i32| {
            if !(min..=max).contains(&value) {
                found.push((
                    field,
                    "VALUE_OUT_OF_RANGE",
                    format!("must be between {min} and {max}, got {value}"),
                ));
            }
        };
        range(
            "training_policy.basic_hours_per_year",
            self.basic_hours,
            0,
            500,
        );
        range(
            "training_policy.professional_hours_per_year",
            self.professional_hours,
            0,
            500,
        );
        range(
            "training_policy.extension_hours_per_year",
            self.extension_hours,
            0,
            500,
        );
        range(
            "training_policy.studio_annual_target",
            self.studio_annual_target,
            1,
            1_000_000,
        );
        range(
            "training_policy.mentor_capacity",
            self.mentor_capacity,
            1,
            20,
        );
        range(
            "training_policy.mentor_min_years_in_post",
            self.mentor_min_years_in_post,
            0,
            40,
        );
        range(
            "training_policy.mentor_violation_lookback_months",
            self.mentor_violation_lookback_months,
            0,
            120,
        );
        range(
            "training_policy.exam_pass_mark",
            self.exam_pass_mark,
            1,
            100,
        );
        range(
            "training_policy.certificate_validity_years",
            self.certificate_validity_years,
            1,
            10,
        );
        for item in &self.revoking_items {
            let ok = (1..=32).contains(&item.len())
                && item
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                found.push((
                    "training_policy.revoking_negative_list_items",
                    "NEGATIVE_LIST_ITEM_INVALID",
                    format!("{item:?} is not a negative-list item code such as NL01"),
                ));
            }
        }
        found
    }
}

// ------------------------------------------------------------------------------------------------
// Curriculum

/// The three layers of the curriculum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Basic,
    Professional,
    Extension,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Layer::Basic, Layer::Professional, Layer::Extension];

    pub fn code(self) -> &'static str {
        match self {
            Layer::Basic => "BASIC",
            Layer::Professional => "PROFESSIONAL",
            Layer::Extension => "EXTENSION",
        }
    }

    pub fn parse(code: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.code() == code)
    }
}

// ------------------------------------------------------------------------------------------------
// 三阶九步

/// One of the nine steps.
#[derive(Debug, Clone, Copy)]
pub struct StepDef {
    pub number: i32,
    pub stage: i32,
    pub title: &'static str,
}

/// The nine steps: two activities and a review per stage (DOMAIN.md §3, decision: the third step
/// of each stage is its review).
pub const STEPS: [StepDef; 9] = [
    StepDef {
        number: 1,
        stage: 1,
        title: "参与式观察 participatory observation",
    },
    StepDef {
        number: 2,
        stage: 1,
        title: "案例研讨 case discussion",
    },
    StepDef {
        number: 3,
        stage: 1,
        title: "阶段评估 stage review",
    },
    StepDef {
        number: 4,
        stage: 2,
        title: "项目跟岗 project shadowing",
    },
    StepDef {
        number: 5,
        stage: 2,
        title: "导师指导 mentor guidance",
    },
    StepDef {
        number: 6,
        stage: 2,
        title: "阶段评估 stage review",
    },
    StepDef {
        number: 7,
        stage: 3,
        title: "独立负责 independent responsibility",
    },
    StepDef {
        number: 8,
        stage: 3,
        title: "成果展示 results presentation",
    },
    StepDef {
        number: 9,
        stage: 3,
        title: "结业考核 final appraisal",
    },
];

/// The title of stage 1-3.
pub fn stage_title(stage: i32) -> &'static str {
    match stage {
        1 => "熟悉期 familiarisation (months 1-3)",
        2 => "提升期 improvement (months 4-6)",
        _ => "突破期 breakthrough (months 7-12)",
    }
}

fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// The first and last day of stage 1-3 of a plan starting on `start`: months 1-3, 4-6, 7-12.
pub fn stage_window(start: NaiveDate, stage: i32) -> (NaiveDate, NaiveDate) {
    let (from, to) = match stage {
        1 => (0, 3),
        2 => (3, 6),
        _ => (6, 12),
    };
    let last = add_months(start, to).pred_opt().unwrap_or(NaiveDate::MIN);
    (add_months(start, from), last)
}

/// The last day of a plan starting on `start` (12 months).
pub fn plan_end(start: NaiveDate) -> NaiveDate {
    stage_window(start, 3).1
}

/// A plan is made for an appointment no older than this many months when personnel reports it:
/// an older appointment (a record entered late) is not a new secretary, and its plan would be
/// over before it began.
pub const PLAN_FOR_APPOINTMENTS_WITHIN_MONTHS: u32 = 12;

/// Whether an appointment on `appointed` reported on `today` starts a plan.
pub fn starts_plan(appointed: NaiveDate, today: NaiveDate) -> bool {
    add_months(appointed, PLAN_FOR_APPOINTMENTS_WITHIN_MONTHS) > today
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    NotYetOpen,
    Open,
    Overdue,
    Done,
    DoneLate,
}

/// The state of step `def` of a plan starting on `start`, signed off on `completed` (if it was),
/// seen on `today`.
pub fn step_state(
    start: NaiveDate,
    def: &StepDef,
    completed: Option<NaiveDate>,
    today: NaiveDate,
) -> StepState {
    let (first, last) = stage_window(start, def.stage);
    match completed {
        Some(done) if done > last => StepState::DoneLate,
        Some(_) => StepState::Done,
        None if today > last => StepState::Overdue,
        None if today < first => StepState::NotYetOpen,
        None => StepState::Open,
    }
}

/// Why a sign-off is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepRefusal {
    /// The plan is completed or closed.
    PlanNotActive,
    /// Not the next step (the next one is given; 0 when all are done).
    OutOfOrder { next: i32 },
    /// Signed off before its stage opened (which opens on the given day).
    WindowNotOpen { opens: NaiveDate },
    /// Dated before the previous step's sign-off.
    BeforePreviousStep { previous: NaiveDate },
}

/// Checks the sign-off of step `number` on `date`, given the dates of the steps signed off so
/// far (in order); returns whether it is late.
pub fn sign_off(
    start: NaiveDate,
    active: bool,
    done: &[NaiveDate],
    number: i32,
    date: NaiveDate,
) -> Result<bool, StepRefusal> {
    if !active {
        return Err(StepRefusal::PlanNotActive);
    }
    let next = done.len() as i32 + 1;
    if number != next || next > 9 {
        return Err(StepRefusal::OutOfOrder {
            next: if next > 9 { 0 } else { next },
        });
    }
    let def = &STEPS[(number - 1) as usize];
    let (first, last) = stage_window(start, def.stage);
    if date < first {
        return Err(StepRefusal::WindowNotOpen { opens: first });
    }
    if let Some(&previous) = done.last()
        && date < previous
    {
        return Err(StepRefusal::BeforePreviousStep { previous });
    }
    Ok(date > last)
}

// ------------------------------------------------------------------------------------------------
// 青蓝工程

/// What eligibility is judged on.
#[derive(Debug, Clone)]
pub struct MentorFacts {
    pub active: bool,
    pub appointment_date: NaiveDate,
    pub violation_dates: Vec<NaiveDate>,
}

/// One rule of mentor eligibility, met or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub code: &'static str,
    pub met: bool,
    pub detail: String,
}

/// Full years from `from` to `to`.
pub fn full_years(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

/// The eligibility rules of a mentor on `on` (decision, README): in post, at least
/// `mentor_min_years_in_post` full years since appointment, and no negative-list violation in the
/// `mentor_violation_lookback_months` before the pairing.
pub fn mentor_rules(facts: &MentorFacts, policy: &Policy, on: NaiveDate) -> Vec<Rule> {
    let years = full_years(facts.appointment_date, on);
    let since = on
        .checked_sub_months(Months::new(
            policy.mentor_violation_lookback_months.max(0) as u32
        ))
        .unwrap_or(NaiveDate::MIN);
    let recent = facts.violation_dates.iter().filter(|d| **d > since).max();
    vec![
        Rule {
            code: "MENTOR_IN_POST",
            met: facts.active,
            detail: if facts.active {
                "in post".into()
            } else {
                "the mentor is no longer in post".into()
            },
        },
        Rule {
            code: "MENTOR_YEARS_IN_POST",
            met: years >= policy.mentor_min_years_in_post,
            detail: format!(
                "{years} full years since appointment on {}, {} required",
                facts.appointment_date, policy.mentor_min_years_in_post
            ),
        },
        Rule {
            code: "MENTOR_NO_RECENT_VIOLATION",
            met: recent.is_none(),
            detail: match recent {
                Some(date) => format!(
                    "negative-list violation on {date}, within the last {} months",
                    policy.mentor_violation_lookback_months
                ),
                None => format!(
                    "no negative-list violation in the last {} months",
                    policy.mentor_violation_lookback_months
                ),
            },
        },
    ]
}

// ------------------------------------------------------------------------------------------------
// 数字书记 certification

/// The three levels, taken in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Basic,
    Advanced,
    Senior,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Basic, Level::Advanced, Level::Senior];

    pub fn code(self) -> &'static str {
        match self {
            Level::Basic => "BASIC",
            Level::Advanced => "ADVANCED",
            Level::Senior => "SENIOR",
        }
    }

    pub fn parse(code: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.code() == code)
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Level::Basic => "数字书记（初级）",
            Level::Advanced => "数字书记（中级）",
            Level::Senior => "数字书记（高级）",
        }
    }

    /// The level that must be held first.
    pub fn below(self) -> Option<Level> {
        match self {
            Level::Basic => None,
            Level::Advanced => Some(Level::Basic),
            Level::Senior => Some(Level::Advanced),
        }
    }

    /// The exam modules of the level.
    pub fn modules(self) -> [Module; 2] {
        match self {
            Level::Basic => [Module::SystemOperation, Module::DataInterpretation],
            Level::Advanced => [Module::DataAnalysis, Module::PlatformDevelopment],
            Level::Senior => [Module::SmartDecisionMaking, Module::EcosystemBuilding],
        }
    }
}

/// The exam modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    SystemOperation,
    DataInterpretation,
    DataAnalysis,
    PlatformDevelopment,
    SmartDecisionMaking,
    EcosystemBuilding,
}

impl Module {
    pub const ALL: [Module; 6] = [
        Module::SystemOperation,
        Module::DataInterpretation,
        Module::DataAnalysis,
        Module::PlatformDevelopment,
        Module::SmartDecisionMaking,
        Module::EcosystemBuilding,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Module::SystemOperation => "SYSTEM_OPERATION",
            Module::DataInterpretation => "DATA_INTERPRETATION",
            Module::DataAnalysis => "DATA_ANALYSIS",
            Module::PlatformDevelopment => "PLATFORM_DEVELOPMENT",
            Module::SmartDecisionMaking => "SMART_DECISION_MAKING",
            Module::EcosystemBuilding => "ECOSYSTEM_BUILDING",
        }
    }

    pub fn parse(code: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.code() == code)
    }

    pub fn level(self) -> Level {
        Level::ALL
            .into_iter()
            .find(|l| l.modules().contains(&self))
            .unwrap_or(Level::Basic)
    }
}

/// Passed when the score reaches the pass mark.
pub fn passes(score: i32, pass_mark: i32) -> bool {
    score >= pass_mark
}

/// The expiry of a certificate issued on `issued`: `years` later, the day before the anniversary.
pub fn expiry(issued: NaiveDate, years: i32) -> NaiveDate {
    add_months(issued, years.max(1) as u32 * 12)
        .pred_opt()
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn stages_span_months_one_to_three_four_to_six_and_seven_to_twelve() {
        let start = d("2026-01-15");
        assert_eq!(stage_window(start, 1), (d("2026-01-15"), d("2026-04-14")));
        assert_eq!(stage_window(start, 2), (d("2026-04-15"), d("2026-07-14")));
        assert_eq!(stage_window(start, 3), (d("2026-07-15"), d("2027-01-14")));
        assert_eq!(plan_end(start), d("2027-01-14"));
    }

    #[test]
    fn a_step_is_open_in_its_window_overdue_after_it_and_late_when_signed_after() {
        let start = d("2026-01-15");
        let review = &STEPS[2];
        assert_eq!(
            step_state(start, review, None, d("2026-04-14")),
            StepState::Open
        );
        assert_eq!(
            step_state(start, review, None, d("2026-04-15")),
            StepState::Overdue
        );
        assert_eq!(
            step_state(start, review, Some(d("2026-04-15")), d("2026-05-01")),
            StepState::DoneLate
        );
        assert_eq!(
            step_state(start, &STEPS[3], None, d("2026-04-14")),
            StepState::NotYetOpen
        );
    }

    #[test]
    fn steps_are_signed_off_in_order_inside_their_windows() {
        let start = d("2026-01-15");
        assert_eq!(
            sign_off(start, true, &[], 2, d("2026-02-01")),
            Err(StepRefusal::OutOfOrder { next: 1 })
        );
        assert_eq!(sign_off(start, true, &[], 1, d("2026-02-01")), Ok(false));
        let three = [d("2026-02-01"), d("2026-03-01"), d("2026-04-01")];
        assert_eq!(
            sign_off(start, true, &three, 4, d("2026-04-10")),
            Err(StepRefusal::WindowNotOpen {
                opens: d("2026-04-15")
            })
        );
        assert_eq!(
            sign_off(start, true, &three[..2], 3, d("2026-04-20")),
            Ok(true),
            "late"
        );
        assert_eq!(
            sign_off(start, true, &three[..1], 2, d("2026-01-20")),
            Err(StepRefusal::BeforePreviousStep {
                previous: d("2026-02-01")
            })
        );
        assert_eq!(
            sign_off(start, false, &[], 1, d("2026-02-01")),
            Err(StepRefusal::PlanNotActive)
        );
    }

    #[test]
    fn only_appointments_of_the_last_twelve_months_start_a_plan() {
        assert!(starts_plan(d("2026-03-01"), d("2026-06-15")));
        assert!(!starts_plan(d("2025-06-15"), d("2026-06-15")));
        assert!(starts_plan(d("2025-06-16"), d("2026-06-15")));
    }

    #[test]
    fn a_mentor_needs_three_full_years_and_no_violation_in_twelve_months() {
        let policy = Policy::default();
        let facts = MentorFacts {
            active: true,
            appointment_date: d("2023-06-16"),
            violation_dates: vec![d("2025-06-15")],
        };
        let rules = mentor_rules(&facts, &policy, d("2026-06-15"));
        let met: Vec<(&str, bool)> = rules.iter().map(|r| (r.code, r.met)).collect();
        assert_eq!(
            met,
            [
                ("MENTOR_IN_POST", true),
                ("MENTOR_YEARS_IN_POST", false),
                ("MENTOR_NO_RECENT_VIOLATION", true)
            ],
            "two years and 364 days; a violation exactly twelve months ago is outside the window"
        );
        let rules = mentor_rules(
            &MentorFacts {
                violation_dates: vec![d("2025-06-16")],
                appointment_date: d("2023-06-15"),
                ..facts
            },
            &policy,
            d("2026-06-15"),
        );
        assert!(rules[1].met);
        assert!(!rules[2].met, "{:?}", rules[2]);
    }

    #[test]
    fn levels_are_taken_in_order_with_two_modules_each() {
        assert_eq!(Level::Basic.below(), None);
        assert_eq!(Level::Advanced.below(), Some(Level::Basic));
        assert_eq!(Level::Senior.below(), Some(Level::Advanced));
        assert_eq!(Module::PlatformDevelopment.level(), Level::Advanced);
        assert!(passes(60, 60) && !passes(59, 60));
    }

    #[test]
    fn a_certificate_is_valid_three_years_to_the_day_before_the_anniversary() {
        assert_eq!(expiry(d("2026-06-15"), 3), d("2029-06-14"));
        assert_eq!(expiry(d("2024-02-29"), 3), d("2027-02-27"));
    }

    #[test]
    fn the_shipped_policy_has_the_documented_defaults_and_bad_values_are_named() {
        let p = Policy::default();
        assert_eq!(
            (
                p.studio_annual_target,
                p.mentor_capacity,
                p.exam_pass_mark,
                p.certificate_validity_years
            ),
            (5_000, 3, 60, 3)
        );
        let bad = Policy {
            exam_pass_mark: 0,
            mentor_capacity: 0,
            revoking_items: vec!["no spaces".into()],
            ..p
        };
        let fields: Vec<&str> = bad.violations().iter().map(|v| v.0).collect();
        assert_eq!(
            fields,
            [
                "training_policy.mentor_capacity",
                "training_policy.exam_pass_mark",
                "training_policy.revoking_negative_list_items"
            ]
        );
    }
}
