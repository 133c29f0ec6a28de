//! Careers (职业发展双通道): the two ladders, promotion prerequisites, and the append-only career
//! events that move a secretary's status.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Status, coded_enum, full_years, months_before};

coded_enum! {
    /// Level of a 数字书记 certificate (the training service's), in the order they are taken, so
    /// that comparisons mean "at least".
    CertificateLevel {
        /// 初级.
        Basic => "basic",
        /// 中级 (advanced).
        Advanced => "advanced",
        /// 高级 (senior).
        Senior => "senior",
    }
}

impl CertificateLevel {
    /// The level's name in the certificate's language.
    pub fn chinese(self) -> &'static str {
        match self {
            CertificateLevel::Basic => "初级",
            CertificateLevel::Advanced => "中级",
            CertificateLevel::Senior => "高级",
        }
    }
}

/// The shipped certificate prerequisite of a rung (DOMAIN.md §1): the professional ladder needs
/// the 数字书记 certificate, advanced for 首席治理专家 and senior for 智库顾问.
pub fn default_certificate(rung: Rung) -> Option<CertificateLevel> {
    match rung {
        Rung::ChiefGovernanceExpert => Some(CertificateLevel::Advanced),
        Rung::ThinkTankAdvisor => Some(CertificateLevel::Senior),
        _ => None,
    }
}

/// Where a certificate stands, as training's feed told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateState {
    /// Issued (or renewed, or reinstated) and not revoked.
    Valid,
    /// Suspended: does not count until reinstated.
    Suspended,
    /// Revoked: never counts again.
    Revoked,
    /// Reached its expiry date unrenewed.
    Expired,
}

/// A certificate of the secretary, as personnel learnt it from training's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCertificate {
    /// `certificates/{number}`.
    pub name: String,
    /// Its level.
    pub level: CertificateLevel,
    /// First day valid.
    pub issue_date: NaiveDate,
    /// Last day valid.
    pub expiry_date: NaiveDate,
    /// Where it stands.
    pub state: CertificateState,
}

impl HeldCertificate {
    /// True when it counts on `date`: within its dates, neither suspended nor revoked (a
    /// certificate since expired still counted on a date before its expiry).
    pub fn counts_on(&self, date: NaiveDate) -> bool {
        matches!(
            self.state,
            CertificateState::Valid | CertificateState::Expired
        ) && self.issue_date <= date
            && date <= self.expiry_date
    }
}

/// What personnel knows of a secretary's certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateFacts {
    /// The training service is not deployed with this one: nothing can be known.
    NotDeployed,
    /// Learnt from training's feed, complete up to `as_of` (unknown when not watched since a
    /// start and no event was ever handled).
    Known {
        /// The secretary's certificates.
        held: Vec<HeldCertificate>,
        /// Up to when the feed is known to be complete.
        as_of: Option<DateTime<Utc>>,
    },
}

coded_enum! {
    /// A career ladder.
    Ladder {
        /// 管理通道: 书记 → 片区主任 → 街道分管领导.
        Management => "management",
        /// 专业通道: 书记 → 首席治理专家 → 智库顾问.
        Professional => "professional",
    }
}

coded_enum! {
    /// A rung; `Secretary` is the shared bottom of both ladders.
    Rung {
        /// 书记.
        Secretary => "secretary",
        /// 片区主任.
        AreaDirector => "area_director",
        /// 街道分管领导.
        StreetLeader => "street_leader",
        /// 首席治理专家.
        ChiefGovernanceExpert => "chief_governance_expert",
        /// 智库顾问.
        ThinkTankAdvisor => "think_tank_advisor",
    }
}

impl Ladder {
    /// The rungs of the ladder from the bottom.
    pub fn rungs(self) -> [Rung; 3] {
        match self {
            Ladder::Management => [Rung::Secretary, Rung::AreaDirector, Rung::StreetLeader],
            Ladder::Professional => [
                Rung::Secretary,
                Rung::ChiefGovernanceExpert,
                Rung::ThinkTankAdvisor,
            ],
        }
    }
}

impl Rung {
    /// The ladder a rung above the bottom belongs to.
    pub fn ladder(self) -> Option<Ladder> {
        match self {
            Rung::Secretary => None,
            Rung::AreaDirector | Rung::StreetLeader => Some(Ladder::Management),
            Rung::ChiefGovernanceExpert | Rung::ThinkTankAdvisor => Some(Ladder::Professional),
        }
    }

    /// Chinese title.
    pub fn chinese(self) -> &'static str {
        match self {
            Rung::Secretary => "书记",
            Rung::AreaDirector => "片区主任",
            Rung::StreetLeader => "街道分管领导",
            Rung::ChiefGovernanceExpert => "首席治理专家",
            Rung::ThinkTankAdvisor => "智库顾问",
        }
    }

    /// Every rung a promotion can reach.
    pub const PROMOTABLE: [Rung; 4] = [
        Rung::AreaDirector,
        Rung::StreetLeader,
        Rung::ChiefGovernanceExpert,
        Rung::ThinkTankAdvisor,
    ];
}

/// Why a promotion cannot happen whatever the prerequisites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The secretary is no longer in post.
    NotInPost(Status),
    /// Already at the top of the ladder.
    TopOfLadder,
    /// Already climbing the other ladder; a promotion moves on one ladder only.
    OtherLadder(Ladder),
}

impl Blocked {
    /// Human-readable explanation.
    pub fn describe(self) -> String {
        match self {
            Blocked::NotInPost(status) => {
                format!("the secretary is not in post (status {})", status.code())
            }
            Blocked::TopOfLadder => "the secretary is at the top of this ladder".to_owned(),
            Blocked::OtherLadder(ladder) => {
                format!(
                    "the secretary is already on the {} ladder; a promotion moves on one ladder",
                    ladder.code()
                )
            }
        }
    }
}

/// The rung a promotion on `ladder` would reach from `current`.
pub fn next_rung(status: Status, current: Rung, ladder: Ladder) -> Result<Rung, Blocked> {
    if status != Status::Active {
        return Err(Blocked::NotInPost(status));
    }
    if let Some(on) = current.ladder()
        && on != ladder
    {
        return Err(Blocked::OtherLadder(on));
    }
    let rungs = ladder.rungs();
    let index = rungs
        .iter()
        .position(|r| *r == current)
        .expect("current rung is on its ladder");
    rungs.get(index + 1).copied().ok_or(Blocked::TopOfLadder)
}

/// A province's career rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Full years on the rung below required for each promotable rung.
    pub min_years_for: Vec<(Rung, i32)>,
    /// The certificate each promotable rung requires (`None`: none).
    pub certificate_for: Vec<(Rung, Option<CertificateLevel>)>,
    /// Months during which a violation blocks promotion.
    pub violation_lookback_months: i32,
    /// Reserve candidates to add per year.
    pub reserve_annual_target: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_years_for: Rung::PROMOTABLE.iter().map(|r| (*r, 3)).collect(),
            certificate_for: Rung::PROMOTABLE
                .iter()
                .map(|r| (*r, default_certificate(*r)))
                .collect(),
            violation_lookback_months: 12,
            reserve_annual_target: 1_500,
        }
    }
}

impl Policy {
    /// Years required on the rung below `target` (3 when a policy does not mention the rung).
    pub fn min_years(&self, target: Rung) -> i32 {
        self.min_years_for
            .iter()
            .find(|(rung, _)| *rung == target)
            .map_or(3, |(_, years)| *years)
    }

    /// The certificate required to reach `target` (the shipped one when a policy does not
    /// mention the rung).
    pub fn certificate(&self, target: Rung) -> Option<CertificateLevel> {
        self.certificate_for
            .iter()
            .find(|(rung, _)| *rung == target)
            .map_or_else(|| default_certificate(target), |(_, level)| *level)
    }
}

/// One prerequisite and whether it is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    /// Identifier.
    pub code: &'static str,
    /// Whether it is met.
    pub met: bool,
    /// What is required and what the secretary has.
    pub detail: String,
    /// The service whose data decided it, when not this one's own.
    pub source: Option<&'static str>,
    /// Up to when that service's data is known to be complete.
    pub as_of: Option<DateTime<Utc>>,
}

/// The facts the personnel service holds about a promotion candidate.
#[derive(Debug, Clone)]
pub struct PromotionFacts {
    /// Date the current rung was reached.
    pub rung_since: NaiveDate,
    /// Dates of the secretary's negative-list violations.
    pub violation_dates: Vec<NaiveDate>,
    /// The secretary's certificates, from training.
    pub certificates: CertificateFacts,
    /// The secretary's standing in evaluation's rankings.
    pub evaluation: EvaluationFacts,
}

/// The latest annual result of a secretary that evaluation ranked, as its feed told.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// The year of the result.
    pub year: i32,
    /// Its score.
    pub score: f64,
    /// In the adjustment band (flagged by a ranking, not taken out by an upheld appeal).
    pub in_band: bool,
    /// Evaluation's words for it.
    pub explanation: String,
}

/// What personnel knows of a secretary's evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum EvaluationFacts {
    /// The evaluation service is not deployed with this one: no standing can be known.
    NotDeployed,
    /// Learnt from evaluation's feed, complete up to `as_of`.
    Known {
        /// The latest ranked result, if any.
        latest: Option<Standing>,
        /// Up to when the feed is known to be complete.
        as_of: Option<DateTime<Utc>>,
    },
}

/// A promotion needs the last ranked annual result outside the adjustment band (DOMAIN.md §2,
/// 动态调整). A secretary evaluation never ranked has no result in the band. Where evaluation is
/// not deployed nothing is known: the check says so and does not hold the promotion up (the
/// rule cannot apply without the service that makes the rankings).
fn band_prerequisite(facts: &EvaluationFacts) -> Prerequisite {
    match facts {
        EvaluationFacts::NotDeployed => Prerequisite {
            code: "OUTSIDE_ADJUSTMENT_BAND",
            met: true,
            detail: "the evaluation service is not deployed with this one: no ranking is known"
                .to_owned(),
            source: Some("evaluation"),
            as_of: None,
        },
        EvaluationFacts::Known { latest, as_of } => {
            let (met, detail) = match latest {
                None => (
                    true,
                    "no annual result of the secretary has been ranked".to_owned(),
                ),
                Some(s) if s.in_band => (
                    false,
                    format!(
                        "the {} annual result ({:.2}) is in the adjustment band: {}",
                        s.year, s.score, s.explanation
                    ),
                ),
                Some(s) => (
                    true,
                    format!(
                        "the {} annual result ({:.2}) is outside the adjustment band",
                        s.year, s.score
                    ),
                ),
            };
            Prerequisite {
                code: "OUTSIDE_ADJUSTMENT_BAND",
                met,
                detail,
                source: Some("evaluation"),
                as_of: *as_of,
            }
        }
    }
}

/// Evaluates the prerequisites for reaching `target` on `effective`: those this service owns,
/// and the certificate, from what training's feed told.
pub fn prerequisites(
    policy: &Policy,
    target: Rung,
    facts: &PromotionFacts,
    effective: NaiveDate,
) -> Vec<Prerequisite> {
    let required = policy.min_years(target);
    let years = full_years(facts.rung_since, effective);
    let window_start = months_before(effective, policy.violation_lookback_months.max(0) as u32);
    let recent: Vec<NaiveDate> = facts
        .violation_dates
        .iter()
        .copied()
        .filter(|d| *d > window_start && *d <= effective)
        .collect();
    let mut list = vec![
        Prerequisite {
            code: "YEARS_ON_CURRENT_RUNG",
            source: None,
            as_of: None,
            met: years >= required,
            detail: format!(
                "needs {required} full years on the current rung before becoming {}; has {years} (since {})",
                target.chinese(),
                facts.rung_since
            ),
        },
        Prerequisite {
            code: "NO_RECENT_VIOLATION",
            source: None,
            as_of: None,
            met: recent.is_empty(),
            detail: if recent.is_empty() {
                format!(
                    "no negative-list violation in the {} months before {effective}",
                    policy.violation_lookback_months
                )
            } else {
                format!(
                    "{} negative-list violation(s) in the {} months before {effective}, the latest on {}",
                    recent.len(),
                    policy.violation_lookback_months,
                    recent.iter().max().expect("non-empty")
                )
            },
        },
    ];
    if let Some(level) = policy.certificate(target) {
        list.push(certificate_prerequisite(
            level,
            target,
            &facts.certificates,
            effective,
        ));
    }
    list.push(band_prerequisite(&facts.evaluation));
    list
}

/// The 数字书记 certificate of at least `level` that `target` needs on `effective`.
fn certificate_prerequisite(
    level: CertificateLevel,
    target: Rung,
    facts: &CertificateFacts,
    effective: NaiveDate,
) -> Prerequisite {
    let needs = format!(
        "{} needs a {} (at least {}) 数字书记 certificate valid on {effective}",
        target.chinese(),
        level.chinese(),
        level.code()
    );
    let (met, detail, as_of) = match facts {
        CertificateFacts::NotDeployed => (
            false,
            format!(
                "{needs}; the training service is not deployed with this one, so no certificate is known"
            ),
            None,
        ),
        CertificateFacts::Known { held, as_of } => {
            let counting = held
                .iter()
                .filter(|c| c.level >= level && c.counts_on(effective))
                .max_by_key(|c| c.expiry_date);
            let known = match as_of {
                Some(at) => format!(
                    "training's certificates as of {}",
                    at.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                None => "training's certificates not yet heard from".to_owned(),
            };
            match counting {
                Some(c) => (
                    true,
                    format!(
                        "{needs}; holds {} ({}, valid to {}); {known}",
                        c.name,
                        c.level.code(),
                        c.expiry_date
                    ),
                    *as_of,
                ),
                None => {
                    let others = held
                        .iter()
                        .map(|c| {
                            format!(
                                "{} {} {:?} to {}",
                                c.name,
                                c.level.code(),
                                c.state,
                                c.expiry_date
                            )
                        })
                        .collect::<Vec<_>>();
                    let holds = if others.is_empty() {
                        "holds none".to_owned()
                    } else {
                        format!("holds none that counts ({})", others.join(", "))
                    };
                    (false, format!("{needs}; {holds}; {known}"), *as_of)
                }
            }
        }
    };
    Prerequisite {
        code: "CERTIFICATE",
        met,
        detail,
        source: Some("training"),
        as_of,
    }
}

coded_enum! {
    /// Kind of career event.
    EventType {
        /// 任命.
        Appointment => "appointment",
        /// 晋升.
        Promotion => "promotion",
        /// 转岗.
        Transfer => "transfer",
        /// Move to another community.
        Reassignment => "reassignment",
        /// 职称晋升.
        TitlePromotion => "title_promotion",
        /// 离职.
        Departure => "departure",
        /// 退休.
        Retirement => "retirement",
        /// 调整.
        Removal => "removal",
        /// A correction of another event's effective date.
        Correction => "correction",
    }
}

impl EventType {
    /// The status a secretary has after the event, or `None` when the event cannot happen from
    /// `current`. Only an active secretary has career events; the leaving events are final.
    pub fn status_after(self, current: Status) -> Option<Status> {
        if current != Status::Active {
            return None;
        }
        Some(match self {
            EventType::Transfer => Status::Transferred,
            EventType::Departure => Status::Departed,
            EventType::Retirement => Status::Retired,
            EventType::Removal => Status::Removed,
            EventType::Appointment
            | EventType::Promotion
            | EventType::Reassignment
            | EventType::TitlePromotion
            | EventType::Correction => Status::Active,
        })
    }

    /// True for the events CreateCareerEvent accepts (appointment and promotion have their own
    /// operations, which check their own rules).
    pub fn recordable_directly(self) -> bool {
        !matches!(
            self,
            EventType::Appointment | EventType::Promotion | EventType::Correction
        )
    }

    /// True when the event ends the secretary's time in post.
    pub fn ends_service(self) -> bool {
        matches!(
            self,
            EventType::Transfer | EventType::Departure | EventType::Retirement | EventType::Removal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn unmet(list: &[Prerequisite]) -> Vec<&'static str> {
        list.iter().filter(|p| !p.met).map(|p| p.code).collect()
    }

    #[test]
    fn a_promotion_moves_one_rung_up_the_chosen_ladder() {
        assert_eq!(
            next_rung(Status::Active, Rung::Secretary, Ladder::Management),
            Ok(Rung::AreaDirector)
        );
        assert_eq!(
            next_rung(Status::Active, Rung::Secretary, Ladder::Professional),
            Ok(Rung::ChiefGovernanceExpert)
        );
        assert_eq!(
            next_rung(Status::Active, Rung::AreaDirector, Ladder::Management),
            Ok(Rung::StreetLeader)
        );
        assert_eq!(
            next_rung(
                Status::Active,
                Rung::ChiefGovernanceExpert,
                Ladder::Professional
            ),
            Ok(Rung::ThinkTankAdvisor)
        );
    }

    #[test]
    fn the_top_of_a_ladder_cannot_be_passed() {
        assert_eq!(
            next_rung(Status::Active, Rung::StreetLeader, Ladder::Management),
            Err(Blocked::TopOfLadder)
        );
    }

    #[test]
    fn a_secretary_on_one_ladder_cannot_jump_to_the_other() {
        assert_eq!(
            next_rung(Status::Active, Rung::AreaDirector, Ladder::Professional),
            Err(Blocked::OtherLadder(Ladder::Management))
        );
    }

    #[test]
    fn only_a_secretary_in_post_can_be_promoted() {
        assert_eq!(
            next_rung(Status::Retired, Rung::Secretary, Ladder::Management),
            Err(Blocked::NotInPost(Status::Retired))
        );
    }

    #[test]
    fn three_full_years_on_the_rung_are_required_by_default() {
        let facts = PromotionFacts {
            rung_since: d("2021-06-01"),
            violation_dates: vec![],
            certificates: CertificateFacts::NotDeployed,
            evaluation: EvaluationFacts::NotDeployed,
        };
        let policy = Policy::default();
        assert_eq!(
            unmet(&prerequisites(
                &policy,
                Rung::AreaDirector,
                &facts,
                d("2024-05-31")
            )),
            vec!["YEARS_ON_CURRENT_RUNG"]
        );
        assert!(
            unmet(&prerequisites(
                &policy,
                Rung::AreaDirector,
                &facts,
                d("2024-06-01")
            ))
            .is_empty()
        );
    }

    #[test]
    fn years_required_are_configurable_per_rung() {
        let policy = Policy {
            min_years_for: vec![(Rung::StreetLeader, 5)],
            ..Policy::default()
        };
        let facts = PromotionFacts {
            rung_since: d("2020-01-01"),
            violation_dates: vec![],
            certificates: CertificateFacts::NotDeployed,
            evaluation: EvaluationFacts::NotDeployed,
        };
        assert_eq!(
            unmet(&prerequisites(
                &policy,
                Rung::StreetLeader,
                &facts,
                d("2024-06-01")
            )),
            vec!["YEARS_ON_CURRENT_RUNG"]
        );
        assert!(
            unmet(&prerequisites(
                &policy,
                Rung::AreaDirector,
                &facts,
                d("2024-06-01")
            ))
            .is_empty(),
            "default 3"
        );
    }

    #[test]
    fn a_violation_in_the_last_twelve_months_blocks_promotion() {
        let policy = Policy::default();
        let recent = PromotionFacts {
            rung_since: d("2015-01-01"),
            violation_dates: vec![d("2023-07-01")],
            certificates: CertificateFacts::NotDeployed,
            evaluation: EvaluationFacts::NotDeployed,
        };
        assert_eq!(
            unmet(&prerequisites(
                &policy,
                Rung::AreaDirector,
                &recent,
                d("2024-06-30")
            )),
            vec!["NO_RECENT_VIOLATION"]
        );
        // exactly twelve months later the violation no longer counts
        assert!(
            unmet(&prerequisites(
                &policy,
                Rung::AreaDirector,
                &recent,
                d("2024-07-01")
            ))
            .is_empty()
        );
    }

    #[test]
    fn every_unmet_prerequisite_is_named() {
        let facts = PromotionFacts {
            rung_since: d("2023-01-01"),
            violation_dates: vec![d("2024-01-01")],
            certificates: CertificateFacts::NotDeployed,
            evaluation: EvaluationFacts::NotDeployed,
        };
        let list = prerequisites(
            &Policy::default(),
            Rung::AreaDirector,
            &facts,
            d("2024-06-01"),
        );
        assert_eq!(
            unmet(&list),
            vec!["YEARS_ON_CURRENT_RUNG", "NO_RECENT_VIOLATION"]
        );
    }

    #[test]
    fn the_professional_ladder_needs_a_certificate_that_counts_on_the_promotion_date() {
        let policy = Policy::default();
        let cert = |level, issue: &str, expiry: &str, state| HeldCertificate {
            name: "certificates/SZSJ-44-2026-000001".into(),
            level,
            issue_date: d(issue),
            expiry_date: d(expiry),
            state,
        };
        let check = |target, held: Vec<HeldCertificate>, on: &str| {
            let facts = PromotionFacts {
                rung_since: d("2015-01-01"),
                violation_dates: vec![],
                certificates: CertificateFacts::Known { held, as_of: None },
                evaluation: EvaluationFacts::NotDeployed,
            };
            let list = prerequisites(&policy, target, &facts, d(on));
            let certificate = list.iter().find(|p| p.code == "CERTIFICATE").cloned();
            certificate.map(|p| p.met)
        };
        use CertificateLevel::{Advanced, Basic, Senior};
        use CertificateState::{Expired, Revoked, Suspended, Valid};
        assert_eq!(
            check(Rung::AreaDirector, vec![], "2026-06-01"),
            None,
            "management: none"
        );
        assert_eq!(
            check(Rung::ChiefGovernanceExpert, vec![], "2026-06-01"),
            Some(false)
        );
        let advanced = cert(Advanced, "2025-01-01", "2027-12-31", Valid);
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![advanced.clone()],
                "2026-06-01"
            ),
            Some(true)
        );
        assert_eq!(
            check(Rung::ThinkTankAdvisor, vec![advanced.clone()], "2026-06-01"),
            Some(false),
            "senior needed"
        );
        let senior = cert(Senior, "2025-01-01", "2027-12-31", Valid);
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![senior.clone()],
                "2026-06-01"
            ),
            Some(true),
            "a higher level counts"
        );
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![cert(Basic, "2025-01-01", "2027-12-31", Valid)],
                "2026-06-01"
            ),
            Some(false)
        );
        // dates: not yet issued, past its expiry day, and an expired one still counted before
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![advanced.clone()],
                "2024-12-31"
            ),
            Some(false)
        );
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![advanced.clone()],
                "2028-01-01"
            ),
            Some(false)
        );
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![cert(Advanced, "2025-01-01", "2027-12-31", Expired)],
                "2027-12-31"
            ),
            Some(true)
        );
        // revoked or suspended never counts
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![cert(Advanced, "2025-01-01", "2027-12-31", Revoked)],
                "2026-06-01"
            ),
            Some(false)
        );
        assert_eq!(
            check(
                Rung::ChiefGovernanceExpert,
                vec![cert(Advanced, "2025-01-01", "2027-12-31", Suspended)],
                "2026-06-01"
            ),
            Some(false)
        );
        // a province may require none, or another level
        let relaxed = Policy {
            certificate_for: vec![(Rung::ChiefGovernanceExpert, None)],
            ..Policy::default()
        };
        let facts = PromotionFacts {
            rung_since: d("2015-01-01"),
            violation_dates: vec![],
            certificates: CertificateFacts::NotDeployed,
            evaluation: EvaluationFacts::NotDeployed,
        };
        assert!(
            unmet(&prerequisites(
                &relaxed,
                Rung::ChiefGovernanceExpert,
                &facts,
                d("2026-06-01")
            ))
            .is_empty()
        );
        assert_eq!(
            unmet(&prerequisites(
                &relaxed,
                Rung::ThinkTankAdvisor,
                &facts,
                d("2026-06-01")
            )),
            vec!["CERTIFICATE"],
            "the shipped senior stays"
        );
    }

    #[test]
    fn leaving_events_are_final() {
        assert_eq!(
            EventType::Transfer.status_after(Status::Active),
            Some(Status::Transferred)
        );
        assert_eq!(
            EventType::Retirement.status_after(Status::Active),
            Some(Status::Retired)
        );
        assert_eq!(EventType::Departure.status_after(Status::Retired), None);
        assert_eq!(
            EventType::TitlePromotion.status_after(Status::Departed),
            None
        );
        assert_eq!(
            EventType::Reassignment.status_after(Status::Active),
            Some(Status::Active)
        );
    }

    #[test]
    fn a_promotion_needs_the_last_ranked_result_outside_the_adjustment_band() {
        let standing = |in_band| EvaluationFacts::Known {
            latest: Some(Standing {
                year: 2026,
                score: 58.5,
                in_band,
                explanation: "rank 10 of 10".into(),
            }),
            as_of: None,
        };
        let check = |evaluation| {
            let facts = PromotionFacts {
                rung_since: d("2019-06-01"),
                violation_dates: vec![],
                certificates: CertificateFacts::NotDeployed,
                evaluation,
            };
            prerequisites(
                &Policy::default(),
                Rung::AreaDirector,
                &facts,
                d("2026-06-01"),
            )
        };
        assert_eq!(
            unmet(&check(standing(true))),
            vec!["OUTSIDE_ADJUSTMENT_BAND"]
        );
        let band = check(standing(true));
        let band = band
            .iter()
            .find(|p| p.code == "OUTSIDE_ADJUSTMENT_BAND")
            .unwrap();
        assert!(band.detail.contains("2026") && band.detail.contains("58.50"));
        assert_eq!(band.source, Some("evaluation"));
        assert!(unmet(&check(standing(false))).is_empty());
        let never = EvaluationFacts::Known {
            latest: None,
            as_of: None,
        };
        assert!(unmet(&check(never)).is_empty());
        assert!(unmet(&check(EvaluationFacts::NotDeployed)).is_empty());
    }
}
