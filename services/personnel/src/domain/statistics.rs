//! Workforce statistics of a region for one calendar year (DOMAIN.md §1).
//!
//! Definitions (**Decision**, documented in the contract):
//! - a secretary's history in force (corrections applied) says when they were in post and where:
//!   an appointment (or re-appointment) starts a tenure in a community, a reassignment moves them,
//!   a transfer, departure, retirement or removal ends the tenure on its date;
//! - every figure counts a secretary in the community they served *at the time* (a reassignment
//!   does not move their past into the new community);
//! - figures are as of the reference date: 31 December, or today for the current year;
//! - *over ten years of service*: more than 10 full years (超过10年) of community work: exactly ten
//!   years on the reference date is not more than ten;
//! - *served during the year*: in post in the region on 1 January, or appointed or reassigned into
//!   it during the year; the rates' denominator, so a rate is never above 100%;
//! - *transfer rate under 35*: secretaries who transferred (转岗) out of the region during the year
//!   while under 35, over those who served in it during the year and were under 35 on 1 January
//!   (or when they came);
//! - *talent-loss rate*: secretaries who transferred or departed from the region during the year,
//!   over those who served in it (retirements and removals are not losses);
//! - *certified*: in post on the reference date and holding a 数字书记 certificate of any level that
//!   counts on that date (within its dates, neither suspended nor revoked), as training's feed told
//!   this service; per age band too, since the concern is those over 45.

use chrono::{Datelike, NaiveDate};
use shequ_kit::regions::RegionCode;

use super::{
    career::{EventType, HeldCertificate},
    full_years,
};

/// One event of a history in force: what happened, when, and the community it moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Happened {
    /// The event.
    pub kind: EventType,
    /// Its date in force.
    pub date: NaiveDate,
    /// Appointments and reassignments: the community served from then on.
    pub to_region: Option<RegionCode>,
}

/// What statistics need to know about one secretary.
#[derive(Debug, Clone)]
pub struct Person {
    /// 出生日期.
    pub birth_date: NaiveDate,
    /// 参加社区工作时间.
    pub community_work_start: NaiveDate,
    /// The history in force, in recorded order (no corrections).
    pub history: Vec<Happened>,
    /// The 数字书记 certificates training's feed told of.
    pub certificates: Vec<HeldCertificate>,
}

impl Person {
    fn certified_on(&self, date: NaiveDate) -> bool {
        self.certificates.iter().any(|c| c.counts_on(date))
    }
}

/// Where a person stands after the events up to a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Standing {
    in_post: bool,
    region: Option<RegionCode>,
}

impl Person {
    /// Where the person stands on `date`, every event dated on or before it applied (an event
    /// that ends service ends it on its own date).
    fn standing_on(&self, date: NaiveDate) -> Standing {
        let mut standing = Standing {
            in_post: false,
            region: None,
        };
        for event in self.history.iter().filter(|e| e.date <= date) {
            standing = standing.after(event);
        }
        standing
    }

    fn in_post_in(&self, scope: RegionCode, date: NaiveDate) -> bool {
        let standing = self.standing_on(date);
        standing.in_post && standing.region.is_some_and(|r| scope.contains(r))
    }

    /// The events of the year, each with the standing just before it.
    fn year_events(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> impl Iterator<Item = (Standing, &Happened)> {
        let mut standing = Standing {
            in_post: false,
            region: None,
        };
        self.history.iter().filter_map(move |event| {
            let before = standing;
            standing = standing.after(event);
            (event.date >= start && event.date <= end).then_some((before, event))
        })
    }
}

impl Standing {
    fn after(self, event: &Happened) -> Standing {
        match event.kind {
            EventType::Appointment => Standing {
                in_post: true,
                region: event.to_region.or(self.region),
            },
            EventType::Reassignment => Standing {
                region: event.to_region.or(self.region),
                ..self
            },
            kind if kind.ends_service() => Standing {
                in_post: false,
                ..self
            },
            _ => self,
        }
    }
}

/// Age bands reported, as (label, lowest age, highest age).
pub const AGE_BANDS: [(&str, i32, i32); 4] = [
    ("under 35", 0, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55 and over", 55, i32::MAX),
];

/// The figures of one region and year.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// In post on the reference date.
    pub headcount: i32,
    /// Headcount per [`AGE_BANDS`] entry, and how many of them are certified.
    pub age_bands: Vec<(&'static str, i32, i32)>,
    /// Of the headcount, those certified.
    pub certified: i32,
    /// Percent with more than 10 full years of community work.
    pub percent_over_ten_years_service: f64,
    /// Percent who ever had a title promotion.
    pub percent_with_title_promotion: f64,
    /// Transfer rate of those under 35, percent.
    pub transfer_rate_under_35: f64,
    /// Talent-loss rate, percent.
    pub talent_loss_rate: f64,
    /// In post on 1 January.
    pub headcount_at_start_of_year: i32,
    /// Served in the region at any time of the year.
    pub served_during_year: i32,
    /// Of those, under 35 on 1 January or when they came.
    pub served_during_year_under_35: i32,
}

/// `part` over `whole` as a percent with one decimal (0 when there is no whole).
pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// More than `years` full years from `from` to `to`: the anniversary itself is not more.
fn more_than_years(from: NaiveDate, to: NaiveDate, years: i32) -> bool {
    from.with_year(from.year() + years)
        .or_else(|| (from + chrono::Days::new(1)).with_year(from.year() + years)) // 29 February
        .is_some_and(|anniversary| anniversary < to)
}

/// Computes the figures of `scope` for the year that starts on `year_start` and is observed
/// until `reference` (31 December, or today for the current year).
pub fn compute(
    people: &[Person],
    scope: RegionCode,
    year_start: NaiveDate,
    reference: NaiveDate,
) -> Figures {
    let in_post: Vec<&Person> = people
        .iter()
        .filter(|p| p.in_post_in(scope, reference))
        .collect();
    let at_start = |p: &Person| p.in_post_in(scope, year_start);
    let in_scope = |region: Option<RegionCode>| region.is_some_and(|r| scope.contains(r));

    let age_bands = AGE_BANDS
        .iter()
        .map(|(label, low, high)| {
            let band: Vec<&&Person> = in_post
                .iter()
                .filter(|p| (*low..=*high).contains(&full_years(p.birth_date, reference)))
                .collect();
            let certified = band.iter().filter(|p| p.certified_on(reference)).count();
            (*label, band.len() as i32, certified as i32)
        })
        .collect();
    let certified = in_post.iter().filter(|p| p.certified_on(reference)).count();
    let veterans = in_post
        .iter()
        .filter(|p| more_than_years(p.community_work_start, reference, 10))
        .count();
    let titled = in_post
        .iter()
        .filter(|p| {
            p.history
                .iter()
                .any(|e| e.kind == EventType::TitlePromotion && e.date <= reference)
        })
        .count();

    let (mut served, mut served_young, mut lost, mut young_transferred) = (0, 0, 0, 0);
    for person in people {
        // When the person came into the region this year (None: in post there on 1 January).
        let came = person
            .year_events(year_start, reference)
            .find(|(before, e)| {
                matches!(e.kind, EventType::Appointment | EventType::Reassignment)
                    && in_scope(e.to_region)
                    && !(before.in_post && in_scope(before.region))
            })
            .map(|(_, e)| e.date);
        let was_there = at_start(person);
        if !was_there && came.is_none() {
            continue;
        }
        served += 1;
        let counted_from = if was_there {
            year_start
        } else {
            came.unwrap_or(year_start)
        };
        let young = full_years(person.birth_date, counted_from) < 35;
        if young {
            served_young += 1;
        }
        let leaving: Vec<&Happened> = person
            .year_events(year_start, reference)
            .filter(|(before, e)| {
                matches!(e.kind, EventType::Transfer | EventType::Departure)
                    && before.in_post
                    && in_scope(before.region)
            })
            .map(|(_, e)| e)
            .collect();
        if !leaving.is_empty() {
            lost += 1;
        }
        if young
            && leaving.iter().any(|e| {
                e.kind == EventType::Transfer && full_years(person.birth_date, e.date) < 35
            })
        {
            young_transferred += 1;
        }
    }

    Figures {
        headcount: in_post.len() as i32,
        age_bands,
        certified: certified as i32,
        percent_over_ten_years_service: percent(veterans, in_post.len()),
        percent_with_title_promotion: percent(titled, in_post.len()),
        transfer_rate_under_35: percent(young_transferred, served_young),
        talent_loss_rate: percent(lost, served),
        headcount_at_start_of_year: people.iter().filter(|p| at_start(p)).count() as i32,
        served_during_year: served as i32,
        served_during_year_under_35: served_young as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn region(code: &str) -> RegionCode {
        RegionCode::parse(code).unwrap()
    }

    const NANTOU: &str = "440305001001";
    const DAXIN: &str = "440305001003";

    fn person(birth: &str, work: &str, appointed: &str) -> Person {
        Person {
            birth_date: d(birth),
            community_work_start: d(work),
            history: vec![Happened {
                kind: EventType::Appointment,
                date: d(appointed),
                to_region: Some(region(NANTOU)),
            }],
            certificates: Vec::new(),
        }
    }

    fn then(mut p: Person, kind: EventType, on: &str) -> Person {
        p.history.push(Happened {
            kind,
            date: d(on),
            to_region: None,
        });
        p
    }

    fn moved(mut p: Person, to: &str, on: &str) -> Person {
        p.history.push(Happened {
            kind: EventType::Reassignment,
            date: d(on),
            to_region: Some(region(to)),
        });
        p
    }

    const START: &str = "2025-01-01";
    const END: &str = "2025-12-31";

    fn figures(people: &[Person], scope: &str) -> Figures {
        compute(people, region(scope), d(START), d(END))
    }

    #[test]
    fn headcount_counts_those_in_post_on_the_reference_date() {
        let people = vec![
            person("1980-01-01", "2010-01-01", "2015-01-01"),
            person("1990-01-01", "2020-01-01", "2026-01-05"), // appointed after the year
            then(
                person("1970-01-01", "2000-01-01", "2005-01-01"),
                EventType::Retirement,
                "2025-06-30",
            ),
        ];
        let figures = figures(&people, NANTOU);
        assert_eq!(figures.headcount, 1);
        assert_eq!(figures.headcount_at_start_of_year, 2);
    }

    #[test]
    fn ages_fall_into_four_bands_at_the_reference_date() {
        let people = vec![
            person("1991-01-01", "2015-01-01", "2020-01-01"), // 34
            person("1990-12-31", "2015-01-01", "2020-01-01"), // 35
            person("1975-06-01", "2000-01-01", "2010-01-01"), // 50
            person("1960-01-01", "1990-01-01", "2000-01-01"), // 65
        ];
        assert_eq!(
            figures(&people, NANTOU).age_bands,
            vec![
                ("under 35", 1, 0),
                ("35-44", 1, 0),
                ("45-54", 1, 0),
                ("55 and over", 1, 0)
            ]
        );
    }

    #[test]
    fn certification_counts_those_in_post_whose_certificate_counts_on_the_reference_date() {
        use crate::domain::career::{CertificateLevel, CertificateState, HeldCertificate};
        let with = |mut p: Person, issue: &str, expiry: &str, state| {
            p.certificates.push(HeldCertificate {
                name: "certificates/SZSJ-44-2025-000001".into(),
                level: CertificateLevel::Basic,
                issue_date: d(issue),
                expiry_date: d(expiry),
                state,
            });
            p
        };
        let people = vec![
            with(
                person("1975-06-01", "2000-01-01", "2010-01-01"),
                "2025-03-01",
                "2028-02-28",
                CertificateState::Valid,
            ), // 50: certified
            with(
                person("1970-06-01", "2000-01-01", "2010-01-01"),
                "2022-01-01",
                "2025-06-30",
                CertificateState::Expired,
            ), // 55: expired before 31 Dec
            with(
                person("1976-06-01", "2000-01-01", "2010-01-01"),
                "2025-03-01",
                "2028-02-28",
                CertificateState::Revoked,
            ), // 49: revoked
            person("1978-06-01", "2000-01-01", "2010-01-01"), // 47: none
            with(
                person("1990-06-01", "2015-01-01", "2020-01-01"),
                "2025-03-01",
                "2028-02-28",
                CertificateState::Valid,
            ), // 35: certified
            with(
                then(
                    person("1992-06-01", "2015-01-01", "2020-01-01"),
                    EventType::Departure,
                    "2025-05-01",
                ),
                "2025-03-01",
                "2028-02-28",
                CertificateState::Valid,
            ), // gone
        ];
        let figures = figures(&people, NANTOU);
        assert_eq!((figures.headcount, figures.certified), (5, 2));
        assert_eq!(
            figures.age_bands,
            vec![
                ("under 35", 0, 0),
                ("35-44", 1, 1),
                ("45-54", 3, 1),
                ("55 and over", 1, 0)
            ]
        );
    }

    #[test]
    fn exactly_ten_years_of_service_is_not_more_than_ten() {
        let titled = then(
            person("1980-01-01", "2010-01-01", "2012-01-01"), // 15 years
            EventType::TitlePromotion,
            "2020-05-01",
        );
        let people = vec![
            titled,
            person("1990-01-01", "2016-01-01", "2018-01-01"), // 9 years
            person("1985-01-01", "2015-12-31", "2018-01-01"), // exactly 10 years on 2025-12-31
            person("1985-01-01", "2015-12-30", "2018-01-01"), // 10 years and a day
        ];
        let figures = figures(&people, NANTOU);
        assert_eq!(figures.percent_over_ten_years_service, 50.0, "2 of 4");
        assert_eq!(figures.percent_with_title_promotion, 25.0);
    }

    #[test]
    fn one_starter_and_two_who_came_and_left_in_the_same_year_is_not_200_percent() {
        let people = vec![
            person("1985-01-01", "2015-01-01", "2020-01-01"), // in post all year
            then(
                person("1990-01-01", "2015-01-01", "2025-02-01"),
                EventType::Departure,
                "2025-08-01",
            ),
            then(
                person("1992-01-01", "2015-01-01", "2025-03-01"),
                EventType::Transfer,
                "2025-09-01",
            ),
        ];
        let figures = figures(&people, NANTOU);
        assert_eq!(figures.headcount_at_start_of_year, 1);
        assert_eq!(figures.served_during_year, 3);
        assert_eq!(figures.talent_loss_rate, 66.7, "2 of the 3 who served");
        // only the one born in 1992 was under 35 when they came (1990 turned 35 before)
        assert_eq!(figures.served_during_year_under_35, 1);
        assert_eq!(figures.transfer_rate_under_35, 100.0);
    }

    #[test]
    fn a_rate_is_never_above_100_percent_even_with_several_leavings_of_one_person() {
        let mut twice = then(
            person("1990-01-01", "2015-01-01", "2020-01-01"),
            EventType::Departure,
            "2025-02-01",
        );
        twice.history.push(Happened {
            kind: EventType::Appointment,
            date: d("2025-05-01"),
            to_region: Some(region(NANTOU)),
        });
        let twice = then(twice, EventType::Departure, "2025-09-01");
        let figures = figures(&[twice], NANTOU);
        assert_eq!(figures.talent_loss_rate, 100.0);
    }

    #[test]
    fn a_secretary_is_counted_where_they_served_that_year() {
        // reassigned from Nantou to Daxin in 2026: in 2025 they served in Nantou
        let moved_later = moved(
            person("1980-01-01", "2010-01-01", "2015-01-01"),
            DAXIN,
            "2026-03-01",
        );
        let people = vec![moved_later];
        assert_eq!(figures(&people, NANTOU).headcount, 1);
        assert_eq!(figures(&people, DAXIN).headcount, 0);
        // reassigned during 2025: leaves Nantou's headcount, joins Daxin's, served in both
        let moved_in_year = moved(
            person("1980-01-01", "2010-01-01", "2015-01-01"),
            DAXIN,
            "2025-06-01",
        );
        let people = vec![moved_in_year];
        assert_eq!(figures(&people, NANTOU).headcount, 0);
        assert_eq!(figures(&people, NANTOU).served_during_year, 1);
        assert_eq!(figures(&people, DAXIN).headcount, 1);
        assert_eq!(figures(&people, DAXIN).served_during_year, 1);
        // the district sees one secretary throughout
        assert_eq!(figures(&people, "440305000000").served_during_year, 1);
    }

    #[test]
    fn talent_loss_counts_transfers_and_departures_but_not_retirements() {
        let people = vec![
            then(
                person("1990-01-01", "2015-01-01", "2018-01-01"),
                EventType::Transfer,
                "2025-02-01",
            ),
            then(
                person("1990-01-01", "2015-01-01", "2018-01-01"),
                EventType::Departure,
                "2025-04-01",
            ),
            then(
                person("1962-01-01", "1990-01-01", "2000-01-01"),
                EventType::Retirement,
                "2025-05-01",
            ),
            person("1988-01-01", "2015-01-01", "2018-01-01"),
            then(
                person("1988-01-01", "2015-01-01", "2018-01-01"),
                EventType::Departure,
                "2024-11-01",
            ), // last year
        ];
        let figures = figures(&people, NANTOU);
        assert_eq!(figures.headcount_at_start_of_year, 4);
        assert_eq!(figures.talent_loss_rate, 50.0);
    }

    #[test]
    fn an_empty_region_has_zero_rates_not_nan() {
        let figures = figures(&[], NANTOU);
        assert_eq!(figures.headcount, 0);
        assert_eq!(figures.talent_loss_rate, 0.0);
        assert_eq!(figures.transfer_rate_under_35, 0.0);
    }
}
