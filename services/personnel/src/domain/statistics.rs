//! Workforce statistics of a region for one calendar year (DOMAIN.md §1).
//!
//! Definitions (**Decision**, documented in the contract):
//! - *in post on a date*: appointed on or before it and not yet left (transfer, departure,
//!   retirement or removal take effect on their date);
//! - figures are as of the reference date: 31 December, or today for the current year;
//! - *over ten years of service*: at least 10 full years since starting community work;
//! - *transfer rate under 35*: transfers (转岗) during the year of people under 35 at the time,
//!   over those under 35 in post on 1 January;
//! - *talent-loss rate*: transfers and departures during the year over the headcount on
//!   1 January (retirements and removals are not losses).

use chrono::NaiveDate;

use super::{career::EventType, full_years};

/// What statistics need to know about one secretary.
#[derive(Debug, Clone)]
pub struct Person {
    /// 出生日期.
    pub birth_date: NaiveDate,
    /// 参加社区工作时间.
    pub community_work_start: NaiveDate,
    /// 任职日期.
    pub appointment_date: NaiveDate,
    /// Date the person left the post, if they have.
    pub left_on: Option<NaiveDate>,
    /// Career events relevant to the figures (transfers, departures, title promotions).
    pub events: Vec<(EventType, NaiveDate)>,
}

impl Person {
    fn in_post_on(&self, date: NaiveDate) -> bool {
        self.appointment_date <= date && self.left_on.is_none_or(|left| left > date)
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
    /// Headcount per [`AGE_BANDS`] entry.
    pub age_bands: Vec<(&'static str, i32)>,
    /// Percent with at least 10 full years of community work.
    pub percent_over_ten_years_service: f64,
    /// Percent who ever had a title promotion.
    pub percent_with_title_promotion: f64,
    /// Transfer rate of those under 35, percent.
    pub transfer_rate_under_35: f64,
    /// Talent-loss rate, percent.
    pub talent_loss_rate: f64,
    /// In post on 1 January.
    pub headcount_at_start_of_year: i32,
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// Computes the figures for the year that starts on `year_start` and is observed until
/// `reference` (31 December, or today for the current year).
pub fn compute(people: &[Person], year_start: NaiveDate, reference: NaiveDate) -> Figures {
    let in_post: Vec<&Person> = people.iter().filter(|p| p.in_post_on(reference)).collect();
    let at_start: Vec<&Person> = people.iter().filter(|p| p.in_post_on(year_start)).collect();
    let in_year = |date: NaiveDate| date >= year_start && date <= reference;

    let age_bands = AGE_BANDS
        .iter()
        .map(|(label, low, high)| {
            let count = in_post
                .iter()
                .filter(|p| (*low..=*high).contains(&full_years(p.birth_date, reference)))
                .count();
            (*label, count as i32)
        })
        .collect();
    let veterans = in_post
        .iter()
        .filter(|p| full_years(p.community_work_start, reference) >= 10)
        .count();
    let titled = in_post
        .iter()
        .filter(|p| {
            p.events
                .iter()
                .any(|(kind, date)| *kind == EventType::TitlePromotion && *date <= reference)
        })
        .count();
    let young_at_start = at_start
        .iter()
        .filter(|p| full_years(p.birth_date, year_start) < 35)
        .count();
    let young_transfers = people
        .iter()
        .flat_map(|p| p.events.iter().map(move |e| (p, e)))
        .filter(|(p, (kind, date))| {
            *kind == EventType::Transfer && in_year(*date) && full_years(p.birth_date, *date) < 35
        })
        .count();
    let losses = people
        .iter()
        .flat_map(|p| p.events.iter())
        .filter(|(kind, date)| {
            matches!(kind, EventType::Transfer | EventType::Departure) && in_year(*date)
        })
        .count();

    Figures {
        headcount: in_post.len() as i32,
        age_bands,
        percent_over_ten_years_service: percent(veterans, in_post.len()),
        percent_with_title_promotion: percent(titled, in_post.len()),
        transfer_rate_under_35: percent(young_transfers, young_at_start),
        talent_loss_rate: percent(losses, at_start.len()),
        headcount_at_start_of_year: at_start.len() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn person(birth: &str, work: &str, appointed: &str) -> Person {
        Person {
            birth_date: d(birth),
            community_work_start: d(work),
            appointment_date: d(appointed),
            left_on: None,
            events: vec![],
        }
    }

    fn leaves(mut p: Person, kind: EventType, on: &str) -> Person {
        p.left_on = Some(d(on));
        p.events.push((kind, d(on)));
        p
    }

    const START: &str = "2025-01-01";
    const END: &str = "2025-12-31";

    #[test]
    fn headcount_counts_those_in_post_on_the_reference_date() {
        let people = vec![
            person("1980-01-01", "2010-01-01", "2015-01-01"),
            person("1990-01-01", "2020-01-01", "2026-01-05"), // appointed after the year
            leaves(
                person("1970-01-01", "2000-01-01", "2005-01-01"),
                EventType::Retirement,
                "2025-06-30",
            ),
        ];
        let figures = compute(&people, d(START), d(END));
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
        let figures = compute(&people, d(START), d(END));
        assert_eq!(
            figures.age_bands,
            vec![
                ("under 35", 1),
                ("35-44", 1),
                ("45-54", 1),
                ("55 and over", 1)
            ]
        );
    }

    #[test]
    fn shares_of_veterans_and_title_holders_are_percentages_of_headcount() {
        let mut titled = person("1980-01-01", "2010-01-01", "2012-01-01"); // 15 years
        titled
            .events
            .push((EventType::TitlePromotion, d("2020-05-01")));
        let people = vec![
            titled,
            person("1990-01-01", "2016-01-01", "2018-01-01"), // 9 years
            person("1985-01-01", "2015-12-31", "2018-01-01"), // 10 years on 2025-12-31
        ];
        let figures = compute(&people, d(START), d(END));
        assert_eq!(figures.percent_over_ten_years_service, 66.7);
        assert_eq!(figures.percent_with_title_promotion, 33.3);
    }

    #[test]
    fn transfer_rate_under_35_uses_age_at_the_transfer() {
        let people = vec![
            leaves(
                person("1995-01-01", "2018-01-01", "2020-01-01"),
                EventType::Transfer,
                "2025-03-01",
            ), // 30
            person("1996-01-01", "2018-01-01", "2020-01-01"), // young, stays
            leaves(
                person("1970-01-01", "2000-01-01", "2005-01-01"),
                EventType::Transfer,
                "2025-03-01",
            ), // 55: not young
        ];
        let figures = compute(&people, d(START), d(END));
        assert_eq!(figures.transfer_rate_under_35, 50.0);
    }

    #[test]
    fn talent_loss_counts_transfers_and_departures_but_not_retirements() {
        let people = vec![
            leaves(
                person("1990-01-01", "2015-01-01", "2018-01-01"),
                EventType::Transfer,
                "2025-02-01",
            ),
            leaves(
                person("1990-01-01", "2015-01-01", "2018-01-01"),
                EventType::Departure,
                "2025-04-01",
            ),
            leaves(
                person("1962-01-01", "1990-01-01", "2000-01-01"),
                EventType::Retirement,
                "2025-05-01",
            ),
            person("1988-01-01", "2015-01-01", "2018-01-01"),
            leaves(
                person("1988-01-01", "2015-01-01", "2018-01-01"),
                EventType::Departure,
                "2024-11-01",
            ), // last year
        ];
        let figures = compute(&people, d(START), d(END));
        assert_eq!(figures.headcount_at_start_of_year, 4);
        assert_eq!(figures.talent_loss_rate, 50.0);
    }

    #[test]
    fn an_empty_region_has_zero_rates_not_nan() {
        let figures = compute(&[], d(START), d(END));
        assert_eq!(figures.headcount, 0);
        assert_eq!(figures.talent_loss_rate, 0.0);
        assert_eq!(figures.transfer_rate_under_35, 0.0);
    }
}
