//! The personnel domain (DOMAIN.md §1): pure types and rules, no I/O. The API layer parses
//! requests into these types and the store persists them.

pub mod career;
pub mod identity;
pub mod negative_list;
pub mod qualification;
pub mod statistics;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use shequ_kit::regions::RegionCode;

use self::{
    career::{EventType, Ladder, Rung},
    identity::{IdNumber, PhoneNumber},
};

/// Declares a closed enumeration with its stable database text codes.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Stable text code stored in the database.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The value stored as `code`.
            pub fn from_code(code: &str) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use coded_enum;

coded_enum! {
    /// 性别.
    Gender { Male => "male", Female => "female" }
}

coded_enum! {
    /// 学历, ordered from lowest to highest so that comparisons mean "at least".
    Education {
        /// 初中及以下.
        JuniorSecondaryOrBelow => "junior_secondary",
        /// 高中/中专.
        SeniorSecondary => "senior_secondary",
        /// 大专.
        JuniorCollege => "junior_college",
        /// 本科.
        Bachelor => "bachelor",
        /// 硕士.
        Master => "master",
        /// 博士.
        Doctorate => "doctorate",
    }
}

impl Education {
    /// Chinese name, for messages officials read.
    pub fn chinese(self) -> &'static str {
        match self {
            Education::JuniorSecondaryOrBelow => "初中及以下",
            Education::SeniorSecondary => "高中/中专",
            Education::JuniorCollege => "大专",
            Education::Bachelor => "本科",
            Education::Master => "硕士",
            Education::Doctorate => "博士",
        }
    }
}

coded_enum! {
    /// 政治面貌.
    PoliticalStatus {
        /// Not recorded.
        Unspecified => "unspecified",
        /// 中共党员.
        CpcMember => "cpc_member",
        /// 中共预备党员.
        CpcProbationaryMember => "cpc_probationary",
        /// 共青团员.
        CylMember => "cyl_member",
        /// 民主党派.
        DemocraticPartyMember => "democratic_party",
        /// 群众.
        Masses => "masses",
    }
}

coded_enum! {
    /// Status of a secretary; every status but Active is final.
    Status {
        /// 在岗.
        Active => "active",
        /// 转岗.
        Transferred => "transferred",
        /// 离职.
        Departed => "departed",
        /// 退休.
        Retired => "retired",
        /// 调整 (removed after evaluation).
        Removed => "removed",
    }
}

coded_enum! {
    /// 成熟度 of a reserve candidate.
    Readiness {
        /// 可立即任用.
        ReadyNow => "ready_now",
        /// 一年内可任用.
        ReadyWithinOneYear => "ready_within_one_year",
        /// 培养中.
        Developing => "developing",
    }
}

coded_enum! {
    /// Where a reserve candidate stands.
    ReserveStatus {
        /// In the pool.
        InPool => "in_pool",
        /// Appointed as a secretary.
        Appointed => "appointed",
        /// Left the pool.
        Withdrawn => "withdrawn",
    }
}

/// A secretary's profile and position.
#[derive(Debug, Clone)]
pub struct Secretary {
    /// Identifier (the `{secretary}` of `secretaries/{secretary}`).
    pub id: String,
    /// Community served.
    pub region: RegionCode,
    /// 姓名.
    pub display_name: String,
    /// 性别.
    pub gender: Gender,
    /// 出生日期.
    pub birth_date: NaiveDate,
    /// 居民身份证号.
    pub id_number: IdNumber,
    /// 手机号.
    pub phone_number: Option<PhoneNumber>,
    /// 学历.
    pub education: Education,
    /// 政治面貌.
    pub political_status: PoliticalStatus,
    /// 任职日期.
    pub appointment_date: NaiveDate,
    /// 参加社区工作时间.
    pub community_work_start: NaiveDate,
    /// Status.
    pub status: Status,
    /// Ladder climbed, if any.
    pub ladder: Option<Ladder>,
    /// Current rung.
    pub rung: Rung,
    /// Date the rung was reached.
    pub rung_since: NaiveDate,
    /// Current professional title.
    pub professional_title: String,
    /// Date the secretary left the post.
    pub left_on: Option<NaiveDate>,
    /// Optimistic-concurrency version; the etag.
    pub version: i64,
    /// Tenures so far: 1, plus one per re-appointment.
    pub tenure: i32,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// What an appointment needs to know of a new secretary.
#[derive(Debug, Clone)]
pub struct NewSecretary {
    /// 姓名.
    pub display_name: String,
    /// 性别.
    pub gender: Gender,
    /// 出生日期.
    pub birth_date: NaiveDate,
    /// 居民身份证号.
    pub id_number: IdNumber,
    /// 手机号.
    pub phone_number: Option<PhoneNumber>,
    /// 学历.
    pub education: Education,
    /// 政治面貌.
    pub political_status: PoliticalStatus,
    /// Community served.
    pub region: RegionCode,
    /// 任职日期.
    pub appointment_date: NaiveDate,
    /// 参加社区工作时间.
    pub community_work_start: NaiveDate,
}

/// A career event that cannot happen to a secretary in their current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    /// The event.
    pub kind: EventType,
    /// The secretary's status.
    pub status: Status,
}

impl IllegalTransition {
    /// For officials: what cannot happen and why.
    pub fn describe(self) -> String {
        format!(
            "a {} event cannot be recorded for a secretary whose status is {}",
            self.kind.code(),
            self.status.code()
        )
    }
}

impl Secretary {
    /// A newly appointed secretary with `id`, at the first rung, and the appointment event that
    /// starts their career history (event id `event_id`), recorded by `recorded_by` at `now`.
    pub fn appoint(
        id: String,
        event_id: String,
        new: NewSecretary,
        recorded_by: &str,
        now: DateTime<Utc>,
    ) -> (Secretary, CareerEvent) {
        let appointment = CareerEvent {
            id: event_id,
            secretary_id: id.clone(),
            kind: EventType::Appointment,
            effective_date: new.appointment_date,
            ladder: None,
            from_rung: None,
            to_rung: Some(Rung::Secretary),
            from_region: None,
            to_region: Some(new.region),
            destination: String::new(),
            title: String::new(),
            note: String::new(),
            recorded_by: recorded_by.to_owned(),
            create_time: now,
            corrects: None,
        };
        let secretary = Secretary {
            id,
            region: new.region,
            display_name: new.display_name,
            gender: new.gender,
            birth_date: new.birth_date,
            id_number: new.id_number,
            phone_number: new.phone_number,
            education: new.education,
            political_status: new.political_status,
            appointment_date: new.appointment_date,
            community_work_start: new.community_work_start,
            status: Status::Active,
            ladder: None,
            rung: Rung::Secretary,
            rung_since: new.appointment_date,
            professional_title: String::new(),
            left_on: None,
            version: 1,
            tenure: 1,
            create_time: now,
            update_time: now,
        };
        (secretary, appointment)
    }

    /// A new tenure of a secretary who left the post (transfer, departure, retirement), from
    /// `appointment` (an APPOINTMENT event to the community it names): active again, at the first
    /// rung. A secretary removed after evaluation (调整) is not re-appointed this way, and the new
    /// tenure starts after the last one ended.
    pub fn reappoint(&self, appointment: &CareerEvent) -> Result<Secretary, Refused> {
        if !matches!(
            self.status,
            Status::Transferred | Status::Departed | Status::Retired
        ) {
            return Err(Refused::Transition(IllegalTransition {
                kind: EventType::Appointment,
                status: self.status,
            }));
        }
        if let Some(left) = self.left_on
            && appointment.effective_date <= left
        {
            return Err(Refused::DateOrder {
                date: appointment.effective_date,
                after: Some(left),
                before: None,
            });
        }
        let mut next = self.clone();
        next.status = Status::Active;
        next.ladder = None;
        next.rung = Rung::Secretary;
        next.rung_since = appointment.effective_date;
        next.appointment_date = appointment.effective_date;
        next.region = appointment.to_region.unwrap_or(self.region);
        next.left_on = None;
        next.tenure = self.tenure + 1;
        next.version = self.version + 1;
        next.update_time = appointment.create_time;
        Ok(next)
    }

    /// The secretary once `correction` (a CORRECTION event naming an event of `history`) is in
    /// force: the corrected date must keep the history in order, and the dates of the profile
    /// that follow from the history (the current tenure's appointment, the current rung, the
    /// date of leaving) follow it.
    pub fn corrected(
        &self,
        history: &[CareerEvent],
        correction: &CareerEvent,
    ) -> Result<Secretary, Refused> {
        let corrected = correction
            .corrects
            .as_deref()
            .and_then(|id| history.iter().find(|e| e.id == id))
            .ok_or(Refused::NotCorrectable)?;
        if corrected.kind == EventType::Correction {
            return Err(Refused::NotCorrectable);
        }
        let mut with: Vec<CareerEvent> = history.to_vec();
        with.push(correction.clone());
        let dated = in_force(&with);
        let position = dated
            .iter()
            .position(|(event, _)| event.id == corrected.id)
            .ok_or(Refused::NotCorrectable)?;
        let date = correction.effective_date;
        let after = position.checked_sub(1).map(|i| dated[i].1);
        let before = dated.get(position + 1).map(|(_, d)| *d);
        if after.is_some_and(|a| date < a) || before.is_some_and(|b| date > b) {
            return Err(Refused::DateOrder {
                date,
                after,
                before,
            });
        }
        let mut next = self.with_dates_from(&dated);
        next.version = self.version + 1;
        next.update_time = correction.create_time;
        Ok(next)
    }

    /// The secretary with the dates that follow from a history in force (see [`in_force`]).
    fn with_dates_from(&self, dated: &[(&CareerEvent, NaiveDate)]) -> Secretary {
        let mut next = self.clone();
        for (event, date) in dated {
            match event.kind {
                EventType::Appointment => {
                    next.appointment_date = *date;
                    next.rung_since = *date;
                    next.left_on = None;
                }
                EventType::Promotion => next.rung_since = *date,
                kind if kind.ends_service() => next.left_on = Some(*date),
                _ => {}
            }
        }
        next
    }
}

/// The events of a history other than corrections, in the order they were recorded, each with
/// the date in force: its effective date, or the date of its latest correction.
pub fn in_force(history: &[CareerEvent]) -> Vec<(&CareerEvent, NaiveDate)> {
    history
        .iter()
        .filter(|e| e.kind != EventType::Correction)
        .map(|event| {
            let date = history
                .iter()
                .rev()
                .find(|c| c.corrects.as_deref() == Some(event.id.as_str()))
                .map_or(event.effective_date, |c| c.effective_date);
            (event, date)
        })
        .collect()
}

/// Why a change of the history was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The event cannot happen in the secretary's state.
    Transition(IllegalTransition),
    /// The date would put the history out of order: it must lie between `after` and `before`.
    DateOrder {
        /// The date asked for.
        date: NaiveDate,
        /// The date in force of the event before, if any.
        after: Option<NaiveDate>,
        /// The date in force of the event after, if any.
        before: Option<NaiveDate>,
    },
    /// A correction must name an event of the history that is not itself a correction.
    NotCorrectable,
}

impl Refused {
    /// For officials: what was refused and why.
    pub fn describe(&self) -> String {
        match self {
            Refused::Transition(t) => t.describe(),
            Refused::DateOrder {
                date,
                after,
                before,
            } => match (after, before) {
                (Some(a), Some(b)) => {
                    format!("{date} must lie between the events before ({a}) and after ({b}) it")
                }
                (Some(a), None) => format!("{date} must not precede the event before it ({a})"),
                (None, Some(b)) => format!("{date} must not follow the event after it ({b})"),
                (None, None) => format!("{date} is out of order"),
            },
            Refused::NotCorrectable => {
                "only a recorded event other than a correction can be corrected".into()
            }
        }
    }
}

/// Plausibility bounds of the people and dates the service accepts (**Decision**): nobody born
/// before 1920 serves; a secretary is appointed at 18 to 70 years of age; no appointment predates
/// the 1954 regulations that created residents' committees.
pub mod plausible {
    use chrono::NaiveDate;

    /// Earliest birth date.
    pub const EARLIEST_BIRTH: NaiveDate = NaiveDate::from_ymd_opt(1920, 1, 1).expect("a date");
    /// Earliest appointment date (城市居民委员会组织条例, 31 December 1954).
    pub const EARLIEST_APPOINTMENT: NaiveDate =
        NaiveDate::from_ymd_opt(1954, 12, 31).expect("a date");
    /// Youngest age at appointment.
    pub const MIN_AGE_AT_APPOINTMENT: i32 = 18;
    /// Oldest age at appointment.
    pub const MAX_AGE_AT_APPOINTMENT: i32 = 70;
}

impl Secretary {
    /// The secretary once `event` has happened to them: status, rung, title, community and the
    /// end of service follow from the event, and the version moves on. The event's own rules
    /// (a promotion's rung and prerequisites, dates in order) are checked before it is built.
    pub fn after(&self, event: &CareerEvent) -> Result<Secretary, IllegalTransition> {
        let status = event
            .kind
            .status_after(self.status)
            .ok_or(IllegalTransition {
                kind: event.kind,
                status: self.status,
            })?;
        let mut next = self.clone();
        next.status = status;
        match event.kind {
            EventType::Promotion => {
                next.ladder = event.ladder.or(self.ladder);
                next.rung = event.to_rung.unwrap_or(self.rung);
                next.rung_since = event.effective_date;
            }
            EventType::TitlePromotion => next.professional_title = event.title.clone(),
            EventType::Reassignment => next.region = event.to_region.unwrap_or(self.region),
            _ => {}
        }
        if event.kind.ends_service() {
            next.left_on = Some(event.effective_date);
        }
        next.version = self.version + 1;
        next.update_time = event.create_time;
        Ok(next)
    }
}

/// One entry of a career history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareerEvent {
    /// Identifier within the secretary.
    pub id: String,
    /// The secretary.
    pub secretary_id: String,
    /// Kind.
    pub kind: EventType,
    /// Date it took effect.
    pub effective_date: NaiveDate,
    /// Promotions: ladder.
    pub ladder: Option<Ladder>,
    /// Promotions: rung left.
    pub from_rung: Option<Rung>,
    /// Promotions: rung reached.
    pub to_rung: Option<Rung>,
    /// Reassignments: community left.
    pub from_region: Option<RegionCode>,
    /// Reassignments: new community.
    pub to_region: Option<RegionCode>,
    /// Transfers: new post.
    pub destination: String,
    /// Title promotions: title.
    pub title: String,
    /// Note.
    pub note: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub create_time: DateTime<Utc>,
    /// Corrections: the id of the corrected event.
    pub corrects: Option<String>,
}

/// A negative-list catalogue item of a province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeListItem {
    /// Province code.
    pub province: RegionCode,
    /// Identifier, e.g. NL01.
    pub code: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Accepts new violations.
    pub active: bool,
    /// Version; the etag.
    pub version: i64,
}

/// A recorded negative-list violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Identifier within the secretary.
    pub id: String,
    /// The secretary.
    pub secretary_id: String,
    /// Province of the catalogue.
    pub province: RegionCode,
    /// Item violated.
    pub item_code: String,
    /// When it happened.
    pub occurred_on: NaiveDate,
    /// Evidence.
    pub evidence: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub create_time: DateTime<Utc>,
}

/// A reserve-pool candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveCandidate {
    /// Identifier.
    pub id: String,
    /// Region worked in.
    pub region: RegionCode,
    /// 姓名.
    pub display_name: String,
    /// 性别, if given.
    pub gender: Option<Gender>,
    /// 出生日期.
    pub birth_date: NaiveDate,
    /// 学历.
    pub education: Education,
    /// 成熟度.
    pub readiness: Readiness,
    /// Standing.
    pub status: ReserveStatus,
    /// Entered the pool.
    pub pool_entry_date: NaiveDate,
    /// Note.
    pub note: String,
    /// 居民身份证号, when known: one pool entry per person, and the link to the secretary record.
    pub id_number: Option<IdNumber>,
    /// The secretary the candidate became (`secretaries/{id}`), once appointed.
    pub secretary: Option<String>,
    /// Version; the etag.
    pub version: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// Full years from `from` to `to` (0 when `to` is earlier): a birthday or anniversary counts on
/// the day itself; 29 February counts on 28 February in other years.
pub fn full_years(from: NaiveDate, to: NaiveDate) -> i32 {
    if to < from {
        return 0;
    }
    let mut years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

/// The date `months` months before `date` (clamped to the end of shorter months).
pub fn months_before(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_sub_months(chrono::Months::new(months))
        .unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_year_is_complete_on_the_anniversary() {
        assert_eq!(full_years(d("1976-03-01"), d("2026-02-28")), 49);
        assert_eq!(full_years(d("1976-03-01"), d("2026-03-01")), 50);
        assert_eq!(full_years(d("2026-03-01"), d("2020-01-01")), 0);
    }

    #[test]
    fn education_levels_compare_from_lowest_to_highest() {
        assert!(Education::Bachelor > Education::JuniorCollege);
        assert!(Education::SeniorSecondary < Education::JuniorCollege);
    }

    fn appointed() -> (Secretary, CareerEvent) {
        Secretary::appoint(
            "s1".into(),
            "e1".into(),
            NewSecretary {
                display_name: "王芳".into(),
                gender: Gender::Female,
                birth_date: d("1985-01-01"),
                id_number: IdNumber::parse("440305198501010028").unwrap(),
                phone_number: None,
                education: Education::Bachelor,
                political_status: PoliticalStatus::CpcMember,
                region: RegionCode::parse("440305001001").unwrap(),
                appointment_date: d("2020-03-01"),
                community_work_start: d("2015-07-01"),
            },
            "user:admin",
            "2026-06-15T02:00:00Z".parse().unwrap(),
        )
    }

    fn event(kind: EventType, date: &str) -> CareerEvent {
        CareerEvent {
            id: "e2".into(),
            kind,
            effective_date: d(date),
            ..appointed().1
        }
    }

    #[test]
    fn an_appointment_starts_at_the_first_rung_with_its_event() {
        let (secretary, appointment) = appointed();
        assert_eq!(
            (secretary.status, secretary.rung),
            (Status::Active, Rung::Secretary)
        );
        assert_eq!(secretary.rung_since, d("2020-03-01"));
        assert_eq!(appointment.kind, EventType::Appointment);
        assert_eq!(appointment.effective_date, secretary.appointment_date);
        assert_eq!(appointment.to_region, Some(secretary.region));
    }

    #[test]
    fn a_promotion_moves_rung_ladder_and_rung_date() {
        let (secretary, _) = appointed();
        let promotion = CareerEvent {
            ladder: Some(Ladder::Management),
            from_rung: Some(Rung::Secretary),
            to_rung: Some(Rung::AreaDirector),
            ..event(EventType::Promotion, "2024-05-01")
        };
        let next = secretary.after(&promotion).unwrap();
        assert_eq!(next.rung, Rung::AreaDirector);
        assert_eq!(next.ladder, Some(Ladder::Management));
        assert_eq!(next.rung_since, d("2024-05-01"));
        assert_eq!(next.version, secretary.version + 1);
    }

    #[test]
    fn leaving_ends_service_and_nothing_follows_it() {
        let (secretary, _) = appointed();
        let departed = secretary
            .after(&event(EventType::Departure, "2025-01-01"))
            .unwrap();
        assert_eq!(departed.status, Status::Departed);
        assert_eq!(departed.tenure, 1);
        assert_eq!(departed.left_on, Some(d("2025-01-01")));
        let refused = departed
            .after(&event(EventType::Reassignment, "2025-02-01"))
            .unwrap_err();
        assert_eq!(refused.status, Status::Departed);
    }

    #[test]
    fn a_reassignment_moves_the_secretary_to_the_new_community() {
        let (secretary, _) = appointed();
        let daxin = RegionCode::parse("440305001003").unwrap();
        let moved = secretary
            .after(&CareerEvent {
                from_region: Some(secretary.region),
                to_region: Some(daxin),
                ..event(EventType::Reassignment, "2025-01-01")
            })
            .unwrap();
        assert_eq!((moved.region, moved.status), (daxin, Status::Active));
    }

    #[test]
    fn a_corrected_appointment_date_moves_the_profile_dates_with_it() {
        let (secretary, appointment) = appointed();
        let correction = CareerEvent {
            id: "c1".into(),
            kind: EventType::Correction,
            effective_date: d("2019-09-01"),
            corrects: Some(appointment.id.clone()),
            ..event(EventType::Correction, "2019-09-01")
        };
        let next = secretary
            .corrected(std::slice::from_ref(&appointment), &correction)
            .unwrap();
        assert_eq!(next.appointment_date, d("2019-09-01"));
        assert_eq!(
            next.rung_since,
            d("2019-09-01"),
            "the rung started with the appointment"
        );
        assert_eq!(next.version, secretary.version + 1);
    }

    #[test]
    fn a_correction_that_would_put_the_history_out_of_order_is_refused() {
        let (secretary, appointment) = appointed();
        let promotion = CareerEvent {
            id: "p1".into(),
            ladder: Some(Ladder::Management),
            to_rung: Some(Rung::AreaDirector),
            ..event(EventType::Promotion, "2024-05-01")
        };
        let promoted = secretary.after(&promotion).unwrap();
        let history = vec![appointment.clone(), promotion.clone()];
        let too_late = CareerEvent {
            id: "c1".into(),
            corrects: Some(appointment.id.clone()),
            ..event(EventType::Correction, "2025-01-01")
        };
        let refused = promoted.corrected(&history, &too_late).unwrap_err();
        assert!(
            matches!(refused, Refused::DateOrder { before: Some(b), .. } if b == d("2024-05-01"))
        );
        // moving the promotion itself moves the date of the current rung, not the appointment
        let promotion_moved = CareerEvent {
            id: "c2".into(),
            corrects: Some(promotion.id.clone()),
            ..event(EventType::Correction, "2023-05-01")
        };
        let next = promoted.corrected(&history, &promotion_moved).unwrap();
        assert_eq!(next.rung_since, d("2023-05-01"));
        assert_eq!(next.appointment_date, d("2020-03-01"));
        // a correction of a correction is not a thing
        let history = vec![appointment, promotion, promotion_moved.clone()];
        let twice = CareerEvent {
            id: "c3".into(),
            corrects: Some(promotion_moved.id.clone()),
            ..event(EventType::Correction, "2023-06-01")
        };
        assert_eq!(
            next.corrected(&history, &twice).unwrap_err(),
            Refused::NotCorrectable
        );
    }

    #[test]
    fn a_secretary_who_left_is_reappointed_for_a_new_tenure_and_a_removed_one_is_not() {
        let (secretary, _) = appointed();
        let departed = secretary
            .after(&event(EventType::Departure, "2023-01-01"))
            .unwrap();
        let daxin = RegionCode::parse("440305001003").unwrap();
        let again = CareerEvent {
            to_region: Some(daxin),
            ..event(EventType::Appointment, "2025-03-01")
        };
        let back = departed.reappoint(&again).unwrap();
        assert_eq!(
            (back.status, back.tenure, back.region),
            (Status::Active, 2, daxin)
        );
        assert_eq!(
            (back.appointment_date, back.rung_since),
            (d("2025-03-01"), d("2025-03-01"))
        );
        assert_eq!(back.left_on, None);
        let too_early = event(EventType::Appointment, "2022-12-31");
        assert!(matches!(
            departed.reappoint(&too_early),
            Err(Refused::DateOrder { .. })
        ));
        let removed = secretary
            .after(&event(EventType::Removal, "2023-01-01"))
            .unwrap();
        assert!(matches!(
            removed.reappoint(&again),
            Err(Refused::Transition(_))
        ));
        assert!(
            matches!(secretary.reappoint(&again), Err(Refused::Transition(_))),
            "already in post"
        );
    }

    #[test]
    fn codes_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(*status));
        }
        assert_eq!(Status::from_code("bogus"), None);
    }
}
