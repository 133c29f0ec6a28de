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
            create_time: now,
            update_time: now,
        };
        (secretary, appointment)
    }

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
    fn codes_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(*status));
        }
        assert_eq!(Status::from_code("bogus"), None);
    }
}
