//! The rules of evaluation (DOMAIN.md §2), without I/O: indicator schemes, the documented
//! mappings of other services' figures to 0-100, the annual result and its breakdown, rankings
//! with their tie rule and the adjustment band.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a core indicator's score comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Source {
    /// Scored by officers in the quarterly assessments.
    People,
    /// Training's learning summary (hours against quota, certificate level).
    Training,
    /// Warnings' yearly on-time record.
    Warnings,
}

impl Source {
    /// The service a fed source comes from.
    pub fn service(self) -> Option<&'static str> {
        match self {
            Source::People => None,
            Source::Training => Some("training"),
            Source::Warnings => Some("warnings"),
        }
    }
}

/// A core indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Core {
    pub id: String,
    pub display_name: String,
    /// Percent; a scheme's weights sum to 100.
    pub weight: i32,
    pub source: Source,
    /// For a fed indicator, the feed value's share of the indicator's score in percent (100: the
    /// feed alone). 0 for people-scored indicators.
    pub feed_share_percent: i32,
}

impl Core {
    /// True when officers score it each quarter (a people indicator, or a fed one the feed does
    /// not fully decide).
    pub fn scored_by_people(&self) -> bool {
        self.source == Source::People || self.feed_share_percent < 100
    }
}

/// An X indicator (专项考核): points on top of the total, within the scheme's cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XIndicator {
    pub id: String,
    pub display_name: String,
}

/// A 5+X scheme version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheme {
    pub core: Vec<Core>,
    pub x: Vec<XIndicator>,
    /// The X indicators together move the total by at most this many points either way.
    pub x_cap_points: i32,
    /// Share of a ranking scope flagged for adjustment, percent, rounded up to whole secretaries.
    pub adjustment_percent: i32,
    /// Days after a ranking in which appeals are accepted.
    pub appeal_window_days: i32,
}

/// Default X cap (DOMAIN.md §2 decision): ±10 points.
pub const DEFAULT_X_CAP: i32 = 10;
/// Default adjustment band: 5% of the scope.
pub const DEFAULT_ADJUSTMENT_PERCENT: i32 = 5;
/// Default appeal window.
pub const DEFAULT_APPEAL_WINDOW_DAYS: i32 = 15;
/// Internal (quarterly) track weight.
pub const INTERNAL_SHARE: f64 = 0.6;
/// External (annual third-party) track weight.
pub const EXTERNAL_SHARE: f64 = 0.4;
/// Fewest quarters an annual result needs.
pub const MIN_QUARTERS: usize = 2;

fn core(id: &str, name: &str, weight: i32, source: Source, share: i32) -> Core {
    Core {
        id: id.to_owned(),
        display_name: name.to_owned(),
        weight,
        source,
        feed_share_percent: share,
    }
}

impl Scheme {
    /// The shipped scheme: 群众满意度 40 (people), 治理效能 30 (half people, half the warnings
    /// on-time rate), 创新贡献 20 (people, on the innovation evidence), 学习成长 10 (training
    /// alone); X: 风险防控 and 舆情处理 within ±10 points; 5% band; 15-day appeal window.
    pub fn shipped() -> Scheme {
        Scheme {
            core: Self::shipped_core(),
            x: Self::shipped_x(),
            x_cap_points: DEFAULT_X_CAP,
            adjustment_percent: DEFAULT_ADJUSTMENT_PERCENT,
            appeal_window_days: DEFAULT_APPEAL_WINDOW_DAYS,
        }
    }

    /// The shipped core indicators.
    pub fn shipped_core() -> Vec<Core> {
        vec![
            core("satisfaction", "群众满意度", 40, Source::People, 0),
            core("governance", "治理效能", 30, Source::Warnings, 50),
            core("innovation", "创新贡献", 20, Source::People, 0),
            core("learning", "学习成长", 10, Source::Training, 100),
        ]
    }

    /// The shipped X indicators.
    pub fn shipped_x() -> Vec<XIndicator> {
        vec![
            XIndicator {
                id: "risk".to_owned(),
                display_name: "风险防控".to_owned(),
            },
            XIndicator {
                id: "opinion".to_owned(),
                display_name: "舆情处理".to_owned(),
            },
        ]
    }

    /// Every rule a scheme breaks, as (field, reason, description).
    pub fn violations(&self) -> Vec<(String, &'static str, String)> {
        let mut found = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        if self.core.is_empty() {
            found.push((
                "core_indicators".to_owned(),
                "FIELD_REQUIRED",
                "at least one core indicator".to_owned(),
            ));
        }
        for (i, c) in self.core.iter().enumerate() {
            let field = |f: &str| format!("core_indicators[{i}].{f}");
            if !valid_id(&c.id) {
                found.push((field("id"), "INVALID_ID", id_rule(&c.id)));
            } else if !ids.insert(c.id.clone()) {
                found.push((
                    field("id"),
                    "DUPLICATE_ID",
                    format!("{} appears twice", c.id),
                ));
            }
            if c.display_name.trim().is_empty() || c.display_name.chars().count() > 64 {
                found.push((
                    field("display_name"),
                    "INVALID_TEXT",
                    "1 to 64 characters".to_owned(),
                ));
            }
            if !(1..=100).contains(&c.weight) {
                found.push((
                    field("weight"),
                    "VALUE_OUT_OF_RANGE",
                    format!("a weight is 1 to 100 percent, got {}", c.weight),
                ));
            }
            match c.source {
                Source::People if c.feed_share_percent != 0 => found.push((
                    field("feed_share_percent"),
                    "VALUE_OUT_OF_RANGE",
                    "a people-scored indicator has no feed share (0)".to_owned(),
                )),
                Source::Training | Source::Warnings
                    if !(1..=100).contains(&c.feed_share_percent) =>
                {
                    found.push((
                        field("feed_share_percent"),
                        "VALUE_OUT_OF_RANGE",
                        format!(
                            "a fed indicator's feed share is 1 to 100 percent, got {}",
                            c.feed_share_percent
                        ),
                    ))
                }
                _ => {}
            }
        }
        let total: i64 = self.core.iter().map(|c| i64::from(c.weight)).sum();
        if !self.core.is_empty() && total != 100 {
            found.push((
                "core_indicators".to_owned(),
                "WEIGHTS_NOT_100",
                format!("the core weights must sum to exactly 100, they sum to {total}"),
            ));
        }
        for (i, x) in self.x.iter().enumerate() {
            let field = |f: &str| format!("x_indicators[{i}].{f}");
            if !valid_id(&x.id) {
                found.push((field("id"), "INVALID_ID", id_rule(&x.id)));
            } else if !ids.insert(x.id.clone()) {
                found.push((
                    field("id"),
                    "DUPLICATE_ID",
                    format!("{} appears twice", x.id),
                ));
            }
            if x.display_name.trim().is_empty() || x.display_name.chars().count() > 64 {
                found.push((
                    field("display_name"),
                    "INVALID_TEXT",
                    "1 to 64 characters".to_owned(),
                ));
            }
        }
        for (field, value, range) in [
            ("x_cap_points", self.x_cap_points, 1..=30),
            ("adjustment_percent", self.adjustment_percent, 1..=50),
            ("appeal_window_days", self.appeal_window_days, 1..=90),
        ] {
            if !range.contains(&value) {
                found.push((
                    field.to_owned(),
                    "VALUE_OUT_OF_RANGE",
                    format!("must be {} to {}, got {value}", range.start(), range.end()),
                ));
            }
        }
        found
    }

    /// The core indicator `id`.
    pub fn core_indicator(&self, id: &str) -> Option<&Core> {
        self.core.iter().find(|c| c.id == id)
    }

    /// The X indicator `id`.
    pub fn x_indicator(&self, id: &str) -> Option<&XIndicator> {
        self.x.iter().find(|x| x.id == id)
    }
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn id_rule(id: &str) -> String {
    format!(
        "an id is a lowercase letter then up to 31 lowercase letters, digits or _, got {:?}",
        shequ_kit::error::echo(id)
    )
}

// ------------------------------------------------------------------------------------------------
// Feed mappings (documented in the contract, IndicatorSource)

/// Certificate levels as training reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certificate {
    None,
    Basic,
    Advanced,
    Senior,
}

/// Learning and growth from training: min(hours / quota, 1) × 80 plus the certificate (basic
/// 10, advanced 15, senior 20). A year without a quota counts its hours part in full.
pub fn learning_score(total_hours: i32, total_quota: i32, certificate: Certificate) -> f64 {
    let ratio = if total_quota <= 0 {
        1.0
    } else {
        (f64::from(total_hours.max(0)) / f64::from(total_quota)).min(1.0)
    };
    let bonus = match certificate {
        Certificate::None => 0.0,
        Certificate::Basic => 10.0,
        Certificate::Advanced => 15.0,
        Certificate::Senior => 20.0,
    };
    ratio * 80.0 + bonus
}

/// Governance input from warnings: the on-time rate × 100; no deadline due in the year: 100.
pub fn warnings_score(on_time: i32, late: i32) -> f64 {
    let due = on_time.max(0) + late.max(0);
    if due == 0 {
        100.0
    } else {
        f64::from(on_time.max(0)) * 100.0 / f64::from(due)
    }
}

// ------------------------------------------------------------------------------------------------
// The annual result

/// Rounds to 2 decimals, half away from zero (the precision results are stored, shown and ranked
/// at).
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A value fed from another service, with what it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Fed {
    /// 0-100.
    pub value: f64,
    /// The figures it was mapped from, in words.
    pub detail: String,
    /// When the source computed it (RFC 3339).
    pub as_of: String,
}

/// What a secretary's year holds.
#[derive(Debug, Clone, Default)]
pub struct YearInputs {
    /// Quarter (1-4) → indicator id → score 0-100 (people-scored indicators).
    pub quarters: BTreeMap<i32, BTreeMap<String, f64>>,
    /// The external assessment's score.
    pub external: Option<f64>,
    /// X indicator id → points (several entries of one indicator add up).
    pub x_points: Vec<(String, f64)>,
    /// Fed values per source.
    pub fed: BTreeMap<Source, Fed>,
}

/// One line of a result's breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What it is: `Q2 satisfaction`, `internal`, `external`, `x risk`, `total`.
    pub item: String,
    pub value: f64,
    /// Its weight in what it enters (percent of a quarter, 0.6, 0.4, 1), 0 when none.
    pub weight: f64,
    /// Where it comes from: `people`, `training`, `warnings`, `assessor`, `rule`.
    pub source: String,
    /// For fed values: as of when the source computed it.
    pub as_of: String,
    pub explanation: String,
}

/// A finalised result.
#[derive(Debug, Clone, PartialEq)]
pub struct Final {
    /// Rounded to 2 decimals.
    pub score: f64,
    pub internal: f64,
    pub external: f64,
    pub x_applied: f64,
    pub quarters_used: Vec<i32>,
    pub lines: Vec<Line>,
}

/// The complete quarters of a year: those with a score for every people-scored indicator.
fn complete_quarters(scheme: &Scheme, inputs: &YearInputs) -> Vec<i32> {
    inputs
        .quarters
        .iter()
        .filter(|(_, scores)| {
            scheme
                .core
                .iter()
                .filter(|c| c.scored_by_people())
                .all(|c| scores.contains_key(&c.id))
        })
        .map(|(q, _)| *q)
        .collect()
}

/// What the assessments of a year lack before it can be final (fewer than two complete
/// quarters, no external assessment), one reason each; empty when nothing is missing. Fed
/// values are not looked at: the services are only asked for the years that could be final.
pub fn gaps(scheme: &Scheme, inputs: &YearInputs) -> Vec<String> {
    let mut reasons = Vec::new();
    let people: Vec<&Core> = scheme
        .core
        .iter()
        .filter(|c| c.scored_by_people())
        .collect();
    let complete = complete_quarters(scheme, inputs);
    if complete.len() < MIN_QUARTERS {
        let incomplete: Vec<String> = inputs
            .quarters
            .iter()
            .filter(|(q, _)| !complete.contains(q))
            .map(|(q, scores)| {
                let missing: Vec<&str> = people
                    .iter()
                    .filter(|c| !scores.contains_key(&c.id))
                    .map(|c| c.id.as_str())
                    .collect();
                format!("Q{q} lacks {}", missing.join(", "))
            })
            .collect();
        reasons.push(format!(
            "at least {MIN_QUARTERS} complete quarters are needed, {} found{}",
            complete.len(),
            if incomplete.is_empty() {
                String::new()
            } else {
                format!(" ({})", incomplete.join("; "))
            }
        ));
    }
    if inputs.external.is_none() {
        reasons.push("no annual external assessment (年度第三方评估) has been entered".to_owned());
    }
    reasons
}

/// Finalises a year under `scheme`, or says every reason it cannot be final yet.
pub fn finalise(scheme: &Scheme, inputs: &YearInputs) -> Result<Final, Vec<String>> {
    let mut reasons = gaps(scheme, inputs);
    for c in &scheme.core {
        if let Some(service) = c.source.service()
            && !inputs.fed.contains_key(&c.source)
        {
            reasons.push(format!("{service} gave no figure for {}", c.id));
        }
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    let complete = complete_quarters(scheme, inputs);
    let mut lines = Vec::new();
    let mut quarter_scores = Vec::new();
    for q in &complete {
        let scores = &inputs.quarters[q];
        let mut total = 0.0;
        for c in &scheme.core {
            let share = match c.source {
                Source::People => 0.0,
                _ => f64::from(c.feed_share_percent) / 100.0,
            };
            let people_part = scores.get(&c.id).copied().unwrap_or(0.0);
            let fed = inputs.fed.get(&c.source);
            let fed_part = fed.map_or(0.0, |f| f.value);
            let value = (1.0 - share) * people_part + share * fed_part;
            let explanation = match (c.source, fed) {
                (Source::People, _) => {
                    format!("{} scored {people_part} by officers", c.display_name)
                }
                (_, Some(f)) if share >= 1.0 => {
                    format!("{} from {}: {}", c.display_name, c.source_name(), f.detail)
                }
                (_, Some(f)) => format!(
                    "{}: {}% × officers' {people_part} + {}% × {} {} ({})",
                    c.display_name,
                    100 - c.feed_share_percent,
                    c.feed_share_percent,
                    c.source_name(),
                    round2(f.value),
                    f.detail
                ),
                (_, None) => unreachable!("checked above"),
            };
            lines.push(Line {
                item: format!("Q{q} {}", c.id),
                value: round2(value),
                weight: f64::from(c.weight),
                source: c.source_name().to_owned(),
                as_of: fed.map(|f| f.as_of.clone()).unwrap_or_default(),
                explanation,
            });
            total += f64::from(c.weight) * value / 100.0;
        }
        lines.push(Line {
            item: format!("Q{q}"),
            value: round2(total),
            weight: 0.0,
            source: "rule".to_owned(),
            as_of: String::new(),
            explanation: format!("quarter {q}: the weighted sum of its indicators"),
        });
        quarter_scores.push(total);
    }
    let internal = quarter_scores.iter().sum::<f64>() / quarter_scores.len() as f64;
    lines.push(Line {
        item: "internal".to_owned(),
        value: round2(internal),
        weight: INTERNAL_SHARE,
        source: "rule".to_owned(),
        as_of: String::new(),
        explanation: format!(
            "mean of {} quarter(s) {}",
            complete.len(),
            complete
                .iter()
                .map(|q| format!("Q{q}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    let external = inputs.external.unwrap_or(0.0);
    lines.push(Line {
        item: "external".to_owned(),
        value: round2(external),
        weight: EXTERNAL_SHARE,
        source: "assessor".to_owned(),
        as_of: String::new(),
        explanation: "annual third-party assessment (年度第三方评估)".to_owned(),
    });
    let mut x_sum = 0.0;
    for (id, points) in &inputs.x_points {
        let name = scheme
            .x_indicator(id)
            .map_or(id.as_str(), |x| x.display_name.as_str());
        lines.push(Line {
            item: format!("x {id}"),
            value: *points,
            weight: 1.0,
            source: "people".to_owned(),
            as_of: String::new(),
            explanation: format!("{name} special assessment"),
        });
        x_sum += points;
    }
    let cap = f64::from(scheme.x_cap_points);
    let x_applied = x_sum.clamp(-cap, cap);
    if !inputs.x_points.is_empty() {
        lines.push(Line {
            item: "x".to_owned(),
            value: round2(x_applied),
            weight: 1.0,
            source: "rule".to_owned(),
            as_of: String::new(),
            explanation: if (x_applied - x_sum).abs() > f64::EPSILON {
                format!("X points sum to {} and are capped at ±{cap}", round2(x_sum))
            } else {
                format!("X points within the cap of ±{cap}")
            },
        });
    }
    let score = round2(INTERNAL_SHARE * internal + EXTERNAL_SHARE * external + x_applied);
    lines.push(Line {
        item: "total".to_owned(),
        value: score,
        weight: 0.0,
        source: "rule".to_owned(),
        as_of: String::new(),
        explanation: format!(
            "0.6 × {} + 0.4 × {} + {} = {score} (rounded to 2 decimals)",
            round2(internal),
            round2(external),
            round2(x_applied)
        ),
    });
    Ok(Final {
        score,
        internal: round2(internal),
        external: round2(external),
        x_applied: round2(x_applied),
        quarters_used: complete,
        lines,
    })
}

impl Core {
    fn source_name(&self) -> &'static str {
        match self.source {
            Source::People => "people",
            Source::Training => "training",
            Source::Warnings => "warnings",
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Rankings and the adjustment band

/// A place in a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub key: String,
    pub score: f64,
    /// 1 = best; tied scores share the best rank among them (1, 2, 2, 4).
    pub rank: usize,
    pub flagged: bool,
}

/// How many of `size` the band must hold at least: `percent` of them, rounded up.
pub fn band_size(size: usize, percent: i32) -> usize {
    (size * percent.max(0) as usize).div_ceil(100)
}

/// Ranks `(key, score)` pairs. Tie rule: scores compare at 2 decimals; equal scores share a rank
/// and are listed by key. The band holds the lowest [`band_size`] results, and every result tied
/// with the highest score inside it (a tie at the edge is flagged together, so the band may hold
/// more than the minimum, never fewer).
pub fn rank(entries: &[(String, f64)], percent: i32) -> Vec<Place> {
    let mut sorted: Vec<(String, i64)> = entries
        .iter()
        .map(|(k, s)| (k.clone(), (s * 100.0).round() as i64))
        .collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n = band_size(sorted.len(), percent);
    let edge = if n == 0 {
        None
    } else {
        Some(sorted[sorted.len() - n].1)
    };
    let mut places = Vec::with_capacity(sorted.len());
    let mut rank = 0;
    for (i, (key, cents)) in sorted.iter().enumerate() {
        if i == 0 || sorted[i - 1].1 != *cents {
            rank = i + 1;
        }
        places.push(Place {
            key: key.clone(),
            score: *cents as f64 / 100.0,
            rank,
            flagged: edge.is_some_and(|e| *cents <= e),
        });
    }
    places
}

// ------------------------------------------------------------------------------------------------
// The sandbox (社区治理沙盘)

/// A finalised result recomputed under `scheme` (a draft: other weights, another cap) from the
/// numbers its breakdown holds: each quarter's indicator values (`Q{n} {id}`, fed values
/// already blended as they were finalised), the external score and the raw X points (`x {id}`).
/// Values are the breakdown's, at 2 decimals. An indicator of the draft the breakdown lacks
/// (a new one nobody scored) makes the result impossible to simulate, and says so.
pub fn resimulate(
    scheme: &Scheme,
    quarters: &[i32],
    external: f64,
    lines: &[(String, f64)],
) -> Result<f64, String> {
    let value = |item: &str| lines.iter().find(|(i, _)| i == item).map(|(_, v)| *v);
    if quarters.is_empty() {
        return Err("the result holds no quarter".to_owned());
    }
    let mut total = 0.0;
    for q in quarters {
        for c in &scheme.core {
            let item = format!("Q{q} {}", c.id);
            let v = value(&item).ok_or_else(|| {
                format!("{} was not assessed in Q{q} of the finalised year", c.id)
            })?;
            total += f64::from(c.weight) * v / 100.0;
        }
    }
    let internal = total / quarters.len() as f64;
    let x_sum: f64 = lines
        .iter()
        .filter(|(i, _)| i.starts_with("x ") && i.len() > 2)
        .map(|(_, v)| *v)
        .sum();
    let cap = f64::from(scheme.x_cap_points);
    Ok(round2(
        INTERNAL_SHARE * internal + EXTERNAL_SHARE * external + x_sum.clamp(-cap, cap),
    ))
}

// ------------------------------------------------------------------------------------------------
// Five-star points (五星书记)

/// The level of the body that issued an award or commendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssuerLevel {
    Street,
    District,
    Municipal,
    Provincial,
    National,
}

/// An award or commendation of the year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Honour {
    /// An innovation award (创新突破).
    InnovationAward(IssuerLevel),
    /// A commendation for a major contribution (重大贡献).
    Commendation(IssuerLevel),
}

/// A year's five-star points and how they were reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Stars {
    /// Gold (创新突破): +2 per municipal-or-higher innovation award.
    pub gold: i32,
    /// Silver (群众认可): +1 per full 5 points of satisfaction rise over the previous year.
    pub silver: i32,
    /// Red (重大贡献): +3 per provincial-or-higher commendation.
    pub red: i32,
    pub total: i32,
    /// Each part, in words.
    pub breakdown: Vec<String>,
}

/// Five-star points of a year (DOMAIN.md §2). The satisfaction rise compares the years'
/// satisfaction scores at 2 decimals; a fall, or a year without the previous one, gives no
/// silver points.
pub fn five_star_points(
    honours: &[Honour],
    satisfaction: Option<f64>,
    previous: Option<f64>,
) -> Stars {
    let awards = honours
        .iter()
        .filter(|h| matches!(h, Honour::InnovationAward(l) if *l >= IssuerLevel::Municipal))
        .count() as i32;
    let commendations = honours
        .iter()
        .filter(|h| matches!(h, Honour::Commendation(l) if *l >= IssuerLevel::Provincial))
        .count() as i32;
    let rise_cents = match (satisfaction, previous) {
        (Some(now), Some(before)) => ((now - before) * 100.0).round() as i64,
        _ => 0,
    };
    let silver = (rise_cents.max(0) / 500) as i32;
    let (gold, red) = (2 * awards, 3 * commendations);
    Stars {
        gold,
        silver,
        red,
        total: gold + silver + red,
        breakdown: vec![
            format!("gold: {awards} municipal-or-higher innovation award(s) × 2 = {gold}"),
            format!(
                "silver: satisfaction rose {:.2} points, {silver} full 5-point step(s) × 1 = {silver}",
                rise_cents as f64 / 100.0
            ),
            format!("red: {commendations} provincial-or-higher commendation(s) × 3 = {red}"),
        ],
    }
}

/// The five-star titles of a region: at most `titles`, to the highest points (at least one
/// point). Tie rule: equal points are ordered by the year's annual score (2 decimals); a group
/// still tied on both that does not fit entirely within the number gets no title (never more
/// than the number, never an arbitrary pick among equals).
pub fn five_star_titles(candidates: &[(String, i32, f64)], titles: usize) -> Vec<String> {
    let mut ranked: Vec<(&String, i32, i64)> = candidates
        .iter()
        .filter(|(_, points, _)| *points > 0)
        .map(|(k, p, s)| (k, *p, (s * 100.0).round() as i64))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    let mut awarded = Vec::new();
    let mut i = 0;
    while i < ranked.len() {
        let group = ranked[i..]
            .iter()
            .take_while(|r| r.1 == ranked[i].1 && r.2 == ranked[i].2)
            .count();
        if awarded.len() + group > titles {
            break;
        }
        awarded.extend(ranked[i..i + group].iter().map(|r| r.0.clone()));
        i += group;
    }
    awarded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn year(quarters: &[(i32, [f64; 3])], external: Option<f64>, x: &[(&str, f64)]) -> YearInputs {
        let mut inputs = YearInputs {
            external,
            x_points: x.iter().map(|(i, p)| ((*i).to_owned(), *p)).collect(),
            ..YearInputs::default()
        };
        for (q, [s, g, i]) in quarters {
            inputs.quarters.insert(
                *q,
                BTreeMap::from([
                    ("satisfaction".to_owned(), *s),
                    ("governance".to_owned(), *g),
                    ("innovation".to_owned(), *i),
                ]),
            );
        }
        inputs.fed.insert(
            Source::Training,
            Fed {
                value: 90.0,
                detail: "40/40 h, basic".into(),
                as_of: "2026-12-31T00:00:00Z".into(),
            },
        );
        inputs.fed.insert(
            Source::Warnings,
            Fed {
                value: 80.0,
                detail: "4 of 5 on time".into(),
                as_of: "2026-12-31T00:00:00Z".into(),
            },
        );
        inputs
    }

    #[test]
    fn the_shipped_scheme_weighs_40_30_20_10_and_is_valid() {
        let scheme = Scheme::shipped();
        let weights: Vec<i32> = scheme.core.iter().map(|c| c.weight).collect();
        assert_eq!(weights, [40, 30, 20, 10]);
        assert_eq!(scheme.x_cap_points, 10);
        assert_eq!(scheme.adjustment_percent, 5);
        assert!(scheme.violations().is_empty(), "{:?}", scheme.violations());
    }

    #[test]
    fn weights_must_sum_to_exactly_100() {
        let mut scheme = Scheme::shipped();
        scheme.core[0].weight = 39;
        let found = scheme.violations();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "WEIGHTS_NOT_100");
        assert!(found[0].2.contains("99"), "{}", found[0].2);
        scheme.core[0].weight = 41;
        assert_eq!(scheme.violations()[0].1, "WEIGHTS_NOT_100");
        // any number of core indicators, as long as they sum to 100
        scheme.core.truncate(2);
        scheme.core[0].weight = 70;
        assert!(scheme.violations().is_empty());
    }

    #[test]
    fn ids_are_unique_across_core_and_x_and_shares_fit_the_source() {
        let mut scheme = Scheme::shipped();
        scheme.x[0].id = "satisfaction".into();
        scheme.core[0].feed_share_percent = 20;
        scheme.core[3].feed_share_percent = 0;
        let reasons: Vec<&str> = scheme.violations().iter().map(|v| v.1).collect();
        assert_eq!(
            reasons,
            ["VALUE_OUT_OF_RANGE", "VALUE_OUT_OF_RANGE", "DUPLICATE_ID"]
        );
    }

    #[test]
    fn learning_maps_hours_against_quota_and_the_certificate() {
        assert_eq!(learning_score(40, 40, Certificate::None), 80.0);
        assert_eq!(learning_score(20, 40, Certificate::Basic), 50.0);
        assert_eq!(learning_score(80, 40, Certificate::Senior), 100.0);
        assert_eq!(learning_score(0, 0, Certificate::Advanced), 95.0);
    }

    #[test]
    fn governance_maps_the_on_time_rate_and_a_year_without_deadlines_is_full() {
        assert_eq!(warnings_score(3, 1), 75.0);
        assert_eq!(warnings_score(0, 0), 100.0);
        assert_eq!(warnings_score(0, 2), 0.0);
    }

    #[test]
    fn annual_is_60_percent_mean_of_quarters_plus_40_percent_external() {
        // each quarter: 0.4×80 + 0.3×(0.5×70 + 0.5×80) + 0.2×60 + 0.1×90 = 32+22.5+12+9 = 75.5
        // and Q2: 0.4×90 + 0.3×(0.5×90+0.5×80) + 0.2×70 + 0.1×90 = 36+25.5+14+9 = 84.5
        let inputs = year(
            &[(1, [80.0, 70.0, 60.0]), (2, [90.0, 90.0, 70.0])],
            Some(70.0),
            &[],
        );
        let result = finalise(&Scheme::shipped(), &inputs).unwrap();
        assert_eq!(result.internal, 80.0);
        assert_eq!(result.score, 0.6 * 80.0 + 0.4 * 70.0);
        assert_eq!(result.quarters_used, [1, 2]);
        let q1 = result.lines.iter().find(|l| l.item == "Q1").unwrap();
        assert_eq!(q1.value, 75.5);
        let fed = result
            .lines
            .iter()
            .find(|l| l.item == "Q1 learning")
            .unwrap();
        assert_eq!((fed.source.as_str(), fed.value), ("training", 90.0));
        assert_eq!(fed.as_of, "2026-12-31T00:00:00Z");
        let blended = result
            .lines
            .iter()
            .find(|l| l.item == "Q1 governance")
            .unwrap();
        assert_eq!(blended.value, 75.0);
        assert!(blended.explanation.contains("4 of 5 on time"));
    }

    #[test]
    fn a_partial_year_needs_two_complete_quarters_and_says_what_is_missing() {
        let mut inputs = year(&[(1, [80.0, 70.0, 60.0])], None, &[]);
        inputs
            .quarters
            .insert(3, BTreeMap::from([("satisfaction".to_owned(), 80.0)]));
        let reasons = finalise(&Scheme::shipped(), &inputs).unwrap_err();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("1 found"), "{}", reasons[0]);
        assert!(reasons[0].contains("Q3 lacks governance, innovation"));
        assert!(reasons[1].contains("external"));
        // two complete quarters and an external: final
        let inputs = year(
            &[(1, [80.0, 70.0, 60.0]), (4, [80.0, 70.0, 60.0])],
            Some(60.0),
            &[],
        );
        let result = finalise(&Scheme::shipped(), &inputs).unwrap();
        assert_eq!(result.quarters_used, [1, 4]);
    }

    #[test]
    fn a_missing_feed_value_keeps_the_result_from_being_final() {
        let mut inputs = year(
            &[(1, [80.0, 70.0, 60.0]), (2, [80.0, 70.0, 60.0])],
            Some(60.0),
            &[],
        );
        inputs.fed.remove(&Source::Training);
        let reasons = finalise(&Scheme::shipped(), &inputs).unwrap_err();
        assert_eq!(reasons, ["training gave no figure for learning"]);
    }

    #[test]
    fn x_points_add_up_and_are_capped_either_way() {
        let quarters = [(1, [80.0, 70.0, 60.0]), (2, [80.0, 70.0, 60.0])];
        let base = finalise(&Scheme::shipped(), &year(&quarters, Some(70.0), &[]))
            .unwrap()
            .score;
        let within = finalise(
            &Scheme::shipped(),
            &year(&quarters, Some(70.0), &[("risk", 4.0), ("opinion", -1.5)]),
        )
        .unwrap();
        assert_eq!(within.x_applied, 2.5);
        assert_eq!(within.score, round2(base + 2.5));
        let over = finalise(
            &Scheme::shipped(),
            &year(&quarters, Some(70.0), &[("risk", 8.0), ("opinion", 6.0)]),
        )
        .unwrap();
        assert_eq!(over.x_applied, 10.0);
        assert!(over.lines.iter().any(|l| l.explanation.contains("capped")));
        let under = finalise(
            &Scheme::shipped(),
            &year(&quarters, Some(70.0), &[("risk", -12.0)]),
        )
        .unwrap();
        assert_eq!(under.x_applied, -10.0);
        let mut narrow = Scheme::shipped();
        narrow.x_cap_points = 3;
        assert_eq!(
            finalise(&narrow, &year(&quarters, Some(70.0), &[("risk", 8.0)]))
                .unwrap()
                .x_applied,
            3.0
        );
    }

    #[test]
    fn results_round_half_away_from_zero_at_two_decimals() {
        assert_eq!(round2(80.125), 80.13);
        assert_eq!(round2(80.124), 80.12);
        assert_eq!(round2(-0.005), -0.01);
    }

    #[test]
    fn the_band_is_the_percent_rounded_up() {
        assert_eq!(band_size(100, 5), 5);
        assert_eq!(band_size(101, 5), 6);
        assert_eq!(band_size(10, 5), 1);
        assert_eq!(band_size(1, 5), 1);
        assert_eq!(band_size(0, 5), 0);
        assert_eq!(band_size(40, 10), 4);
    }

    #[test]
    fn ties_share_a_rank_and_a_tie_at_the_band_edge_is_flagged_together() {
        let entries: Vec<(String, f64)> = [
            ("a", 90.0),
            ("b", 85.0),
            ("c", 85.004),
            ("d", 70.0),
            ("e", 60.0),
            ("f", 60.0),
            ("g", 80.0),
            ("h", 75.0),
            ("i", 72.0),
            ("j", 71.0),
        ]
        .iter()
        .map(|(k, s)| ((*k).to_owned(), *s))
        .collect();
        let places = rank(&entries, 5);
        let of = |k: &str| places.iter().find(|p| p.key == k).unwrap().clone();
        assert_eq!(of("a").rank, 1);
        // 85.004 and 85.0 are equal at 2 decimals: same rank, listed by key
        assert_eq!((of("b").rank, of("c").rank), (2, 2));
        assert_eq!(of("g").rank, 4);
        // 5% of 10 rounds up to 1, but e and f tie at the edge: both flagged, 9th place each
        assert_eq!((of("e").rank, of("f").rank), (9, 9));
        assert!(of("e").flagged && of("f").flagged);
        assert_eq!(places.iter().filter(|p| p.flagged).count(), 2);
        assert!(!of("d").flagged);
        // without the tie, exactly one is flagged
        let mut untied = entries.clone();
        untied[5].1 = 61.0;
        let places = rank(&untied, 5);
        let flagged: Vec<&str> = places
            .iter()
            .filter(|p| p.flagged)
            .map(|p| p.key.as_str())
            .collect();
        assert_eq!(flagged, ["e"]);
    }

    #[test]
    fn the_sandbox_recomputes_a_result_under_other_weights_and_cap() {
        let inputs = year(
            &[(1, [80.0, 70.0, 60.0]), (2, [90.0, 90.0, 70.0])],
            Some(70.0),
            &[("risk", 8.0), ("opinion", 6.0)],
        );
        let result = finalise(&Scheme::shipped(), &inputs).unwrap();
        let lines: Vec<(String, f64)> = result
            .lines
            .iter()
            .map(|l| (l.item.clone(), l.value))
            .collect();
        // the same scheme gives the same score back
        assert_eq!(
            resimulate(&Scheme::shipped(), &result.quarters_used, 70.0, &lines),
            Ok(result.score)
        );
        // all the weight on satisfaction (mean 85), cap 3: 0.6×85 + 0.4×70 + 3 = 82
        let mut draft = Scheme::shipped();
        draft.core = vec![core("satisfaction", "群众满意度", 100, Source::People, 0)];
        draft.x_cap_points = 3;
        assert_eq!(
            resimulate(&draft, &result.quarters_used, 70.0, &lines),
            Ok(82.0)
        );
        // an indicator nobody scored cannot be simulated
        draft.core = vec![
            core("satisfaction", "群众满意度", 50, Source::People, 0),
            core("party_building", "党建引领", 50, Source::People, 0),
        ];
        let why = resimulate(&draft, &result.quarters_used, 70.0, &lines).unwrap_err();
        assert!(why.contains("party_building"), "{why}");
    }

    #[test]
    fn five_star_points_follow_the_three_rules() {
        use IssuerLevel::*;
        let honours = [
            Honour::InnovationAward(Municipal),
            Honour::InnovationAward(National),
            Honour::InnovationAward(District),
            Honour::Commendation(Provincial),
            Honour::Commendation(Municipal),
        ];
        // 2 awards at municipal or above, 1 commendation at provincial or above; satisfaction
        // up 12.5 points: 2 full 5-point steps
        let stars = five_star_points(&honours, Some(88.5), Some(76.0));
        assert_eq!(
            (stars.gold, stars.silver, stars.red, stars.total),
            (4, 2, 3, 9)
        );
        assert!(stars.breakdown[1].contains("12.50"));
        // exactly 5 points is one step; 4.99 none; a fall none; no previous year none
        assert_eq!(five_star_points(&[], Some(85.0), Some(80.0)).silver, 1);
        assert_eq!(five_star_points(&[], Some(84.99), Some(80.0)).silver, 0);
        assert_eq!(five_star_points(&[], Some(70.0), Some(80.0)).silver, 0);
        assert_eq!(five_star_points(&[], Some(90.0), None).silver, 0);
    }

    #[test]
    fn titles_go_to_the_most_points_and_a_tie_that_does_not_fit_gets_none() {
        let c = |k: &str, p: i32, s: f64| (k.to_owned(), p, s);
        let candidates = [
            c("a", 9, 80.0),
            c("b", 5, 90.0),
            c("c", 5, 85.0),
            c("d", 3, 70.0),
            c("e", 3, 70.0),
            c("f", 0, 99.0),
        ];
        // equal points ordered by annual score: b before c
        assert_eq!(five_star_titles(&candidates, 2), ["a", "b"]);
        assert_eq!(five_star_titles(&candidates, 3), ["a", "b", "c"]);
        // d and e tie on both and only one title is left: neither gets it
        assert_eq!(five_star_titles(&candidates, 4), ["a", "b", "c"]);
        assert_eq!(five_star_titles(&candidates, 5), ["a", "b", "c", "d", "e"]);
        // no points, no title
        assert_eq!(five_star_titles(&candidates, 10).len(), 5);
    }
}
