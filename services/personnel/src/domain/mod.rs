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

    #[test]
    fn codes_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(*status));
        }
        assert_eq!(Status::from_code("bogus"), None);
    }
}
