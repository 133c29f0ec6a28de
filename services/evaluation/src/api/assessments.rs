//! The two tracks: quarterly internal assessments by officers, engagements of assessment
//! organisations, annual external assessments by engaged assessors, and special assessments
//! of the X indicators.

use std::collections::BTreeMap;

use shequ_kit::{
    Error,
    auth::Role,
    call::Call,
    convert::{new_id, to_timestamp},
    error::Violation,
    names::top_level_id,
    regions::RegionCode,
};
use shequ_proto::evaluation::v1 as pb;

use super::{Context, province_of, year};
use crate::store::{self, Engagement, External, Quarterly, Serving, Special};

/// Quarterly and special assessments: street officers and district administrators in scope.
pub(crate) const OFFICERS: &[Role] = &[Role::DistrictAdmin, Role::StreetOfficer];
/// Engaging an organisation: district administrators and above, for regions in scope.
pub(crate) const ENGAGERS: &[Role] = &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
/// Reading a secretary's assessments and results: staff in scope, and the secretary their own.
pub(crate) const OWN_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
];

/// Most evidence links per assessment.
const MAX_EVIDENCE: usize = 20;
/// Longest evidence link.
const MAX_LINK: usize = 512;

pub(crate) fn region_of(text: &str) -> Result<RegionCode, Error> {
    RegionCode::parse(text).map_err(|e| Error::internal(anyhow::anyhow!("stored region: {e}")))
}

/// The secretary `parent` names, as personnel's feed told, when the caller (holding one of
/// `roles`) covers their community; NOT_FOUND otherwise, like a secretary evaluation never
/// heard of.
pub(crate) async fn secretary_in_scope(
    ctx: &Context,
    call: &Call,
    field: &str,
    parent: &str,
    roles: &[Role],
) -> Result<Serving, Error> {
    let id = top_level_id(field, parent, "secretaries")?;
    let name = format!("secretaries/{id}");
    let caller = call.caller();
    let found = store::serving(&ctx.kit.database, &name).await?;
    let Some(serving) = found else {
        return Err(Error::not_found(name));
    };
    let region = region_of(&serving.region)?;
    let own = caller.has_any(&[Role::Secretary])
        && roles.contains(&Role::Secretary)
        && caller.secretary.as_deref() == Some(name.as_str())
        && caller.covers(region);
    let staff = caller
        .roles
        .iter()
        .any(|r| *r != Role::Secretary && roles.contains(r))
        && caller.covers(region);
    if own || staff {
        call.target(&name, region);
        Ok(serving)
    } else {
        Err(Error::not_found(name))
    }
}

/// Evidence links: 1 to 20 http(s) links of at most 512 characters.
fn evidence(field: &str, links: &[String], violations: &mut Vec<Violation>) {
    if links.is_empty() || links.len() > MAX_EVIDENCE {
        violations.push(Violation::new(
            field,
            "VALUE_OUT_OF_RANGE",
            format!("1 to {MAX_EVIDENCE} evidence links, got {}", links.len()),
        ));
    }
    for (i, link) in links.iter().enumerate() {
        let ok = (link.starts_with("https://") || link.starts_with("http://"))
            && link.len() <= MAX_LINK
            && !link.chars().any(char::is_whitespace);
        if !ok {
            violations.push(Violation::new(
                format!("{field}[{i}]"),
                "INVALID_LINK",
                format!("an evidence link is an http(s) URL of at most {MAX_LINK} characters without spaces"),
            ));
        }
    }
}

fn score_rule(field: &str, value: f64, min: f64, max: f64, violations: &mut Vec<Violation>) {
    if !value.is_finite() || value < min || value > max {
        violations.push(Violation::new(
            field,
            "VALUE_OUT_OF_RANGE",
            format!("must be {min} to {max}, got {value}"),
        ));
    }
}

/// The assessment year: 2000-2100 and not after the current year.
fn past_year(ctx: &Context, field: &str, value: i32) -> Result<i32, Error> {
    let y = year(field, value)?;
    let current = chrono::Datelike::year(&ctx.kit.clock.today());
    if y > current {
        return Err(Error::invalid(
            field,
            "VALUE_OUT_OF_RANGE",
            format!("{y} has not begun (it is {current})"),
        ));
    }
    Ok(y)
}

fn quarterly_pb(q: &Quarterly) -> pb::QuarterlyAssessment {
    pb::QuarterlyAssessment {
        name: format!(
            "{}/quarterlyAssessments/{}-q{}",
            q.secretary, q.year, q.quarter
        ),
        year: q.year,
        quarter: q.quarter,
        scores: q
            .scores
            .iter()
            .map(|(indicator, score)| pb::IndicatorScore {
                indicator: indicator.clone(),
                score: *score,
            })
            .collect(),
        evidence_links: q.evidence.clone(),
        note: q.note.clone(),
        region: q.region.clone(),
        assessed_by: q.assessed_by.clone(),
        create_time: Some(to_timestamp(q.create_time)),
    }
}

pub(crate) async fn create_quarterly(
    ctx: &Context,
    call: &Call,
    request: pb::CreateQuarterlyAssessmentRequest,
) -> Result<pb::QuarterlyAssessment, Error> {
    call.caller()
        .require_any(OFFICERS, "CreateQuarterlyAssessment")?;
    let secretary = secretary_in_scope(ctx, call, "parent", &request.parent, OFFICERS).await?;
    let input = request.quarterly_assessment.ok_or_else(|| {
        Error::invalid(
            "quarterly_assessment",
            "FIELD_REQUIRED",
            "the assessment is required",
        )
    })?;
    let year = past_year(ctx, "quarterly_assessment.year", input.year)?;
    let province = province_of(&secretary.region)?;
    let scheme = store::current_scheme(&ctx.kit.database, &province, year).await?;
    let mut violations = Vec::new();
    if !(1..=4).contains(&input.quarter) {
        violations.push(Violation::new(
            "quarterly_assessment.quarter",
            "VALUE_OUT_OF_RANGE",
            format!("a quarter is 1 to 4, got {}", input.quarter),
        ));
    }
    if input.scores.is_empty() {
        violations.push(Violation::new(
            "quarterly_assessment.scores",
            "FIELD_REQUIRED",
            "at least one indicator's score",
        ));
    }
    let mut scores = BTreeMap::new();
    for (i, s) in input.scores.iter().enumerate() {
        let field = format!("quarterly_assessment.scores[{i}]");
        match scheme.scheme.core_indicator(&s.indicator) {
            Some(c) if c.scored_by_people() => {
                if scores.insert(s.indicator.clone(), s.score).is_some() {
                    violations.push(Violation::new(
                        format!("{field}.indicator"),
                        "DUPLICATE_VALUE",
                        format!("{} is scored twice", s.indicator),
                    ));
                }
            }
            Some(c) => violations.push(Violation::new(
                format!("{field}.indicator"),
                "INDICATOR_FED",
                format!(
                    "{} comes from {} alone in scheme version {}; officers do not score it",
                    c.id,
                    c.source.service().unwrap_or("a feed"),
                    scheme.version
                ),
            )),
            None => violations.push(Violation::new(
                format!("{field}.indicator"),
                "UNKNOWN_INDICATOR",
                format!(
                    "{} is not a core indicator of the {year} scheme (version {})",
                    shequ_kit::error::echo(&s.indicator),
                    scheme.version
                ),
            )),
        }
        score_rule(
            &format!("{field}.score"),
            s.score,
            0.0,
            100.0,
            &mut violations,
        );
    }
    evidence(
        "quarterly_assessment.evidence_links",
        &input.evidence_links,
        &mut violations,
    );
    if input.note.chars().count() > 500 {
        violations.push(Violation::new(
            "quarterly_assessment.note",
            "TOO_LONG",
            "at most 500 characters",
        ));
    }
    if !violations.is_empty() {
        return Err(Error::invalid_all(violations));
    }
    let quarterly = Quarterly {
        secretary: secretary.secretary.clone(),
        year,
        quarter: input.quarter,
        region: secretary.region.clone(),
        scores,
        evidence: input.evidence_links,
        note: input.note,
        assessed_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
    };
    let mut tx = call.begin(&ctx.kit.database).await?;
    if !store::insert_quarterly(&mut tx, &quarterly).await? {
        tx.rollback().await?;
        return Err(Error::AlreadyExists {
            reason: "QUARTER_ASSESSED",
            message: format!(
                "{} already has an assessment of {year} Q{}",
                secretary.secretary, input.quarter
            ),
            resource: Some(format!(
                "{}/quarterlyAssessments/{year}-q{}",
                secretary.secretary, input.quarter
            )),
        });
    }
    tx.commit().await?;
    Ok(quarterly_pb(&quarterly))
}

pub(crate) async fn list_quarterly(
    ctx: &Context,
    call: &Call,
    request: pb::ListQuarterlyAssessmentsRequest,
) -> Result<pb::ListQuarterlyAssessmentsResponse, Error> {
    call.caller()
        .require_any(OWN_READERS, "ListQuarterlyAssessments")?;
    let secretary = secretary_in_scope(ctx, call, "parent", &request.parent, OWN_READERS).await?;
    let year = year("year", request.year)?;
    let rows = store::quarterlies(&ctx.kit.database, &secretary.secretary, year).await?;
    Ok(pb::ListQuarterlyAssessmentsResponse {
        quarterly_assessments: rows.iter().map(quarterly_pb).collect(),
    })
}

fn engagement_pb(e: &Engagement) -> pb::Engagement {
    pb::Engagement {
        name: format!("engagements/{}", e.id),
        organisation: e.organisation.clone(),
        assessor: e.assessor.clone(),
        regions: e.regions.clone(),
        year: e.year,
        engaged_by: e.engaged_by.clone(),
        create_time: Some(to_timestamp(e.create_time)),
    }
}

pub(crate) async fn create_engagement(
    ctx: &Context,
    call: &Call,
    request: pb::CreateEngagementRequest,
) -> Result<pb::Engagement, Error> {
    let caller = call.caller();
    caller.require_any(ENGAGERS, "CreateEngagement")?;
    let input = request.engagement.ok_or_else(|| {
        Error::invalid("engagement", "FIELD_REQUIRED", "the engagement is required")
    })?;
    let mut violations = Vec::new();
    let organisation = input.organisation.trim();
    if organisation.is_empty() || organisation.chars().count() > 100 {
        violations.push(Violation::new(
            "engagement.organisation",
            "INVALID_TEXT",
            "1 to 100 characters",
        ));
    }
    let assessor = input.assessor.trim();
    if assessor.is_empty() || assessor.len() > 128 || assessor.chars().any(char::is_whitespace) {
        violations.push(Violation::new(
            "engagement.assessor",
            "INVALID_TEXT",
            "the assessors' account subject: 1 to 128 characters without spaces",
        ));
    }
    if input.regions.is_empty() || input.regions.len() > 50 {
        violations.push(Violation::new(
            "engagement.regions",
            "VALUE_OUT_OF_RANGE",
            format!("1 to 50 regions, got {}", input.regions.len()),
        ));
    }
    let mut regions = Vec::new();
    for (i, text) in input.regions.iter().enumerate() {
        let field = format!("engagement.regions[{i}]");
        match ctx.kit.regions.known(text) {
            Ok(code) => regions.push((field, code)),
            Err(e) => {
                if let Error::InvalidArgument { violations: v, .. } =
                    shequ_kit::names::region_error(&field, e)
                {
                    violations.extend(v);
                }
            }
        }
    }
    if let Err(Error::InvalidArgument { violations: v, .. }) = year("engagement.year", input.year) {
        violations.extend(v);
    }
    if !violations.is_empty() {
        return Err(Error::invalid_all(violations));
    }
    for (field, code) in &regions {
        caller.require_scope(*code, field)?;
    }
    call.target("engagements", regions[0].1);
    let engagement = Engagement {
        id: new_id(),
        organisation: organisation.to_owned(),
        assessor: assessor.to_owned(),
        regions: regions.iter().map(|(_, c)| c.to_string()).collect(),
        year: input.year,
        engaged_by: caller.subject.clone(),
        scope: caller.scope.to_string(),
        create_time: ctx.kit.clock.now(),
    };
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::insert_engagement(&mut tx, &engagement).await?;
    tx.commit().await?;
    Ok(engagement_pb(&engagement))
}

/// True when the caller may see `e`: staff covering one of its regions, or its assessor
/// within their scope.
fn sees_engagement(call: &Call, e: &Engagement) -> bool {
    let caller = call.caller();
    let covers_one = e
        .regions
        .iter()
        .filter_map(|r| RegionCode::parse(r).ok())
        .any(|r| caller.covers(r) || r.contains(caller.scope));
    (caller.has_any(ENGAGERS) && covers_one)
        || (caller.has_any(&[Role::Assessor]) && caller.subject == e.assessor && covers_one)
}

pub(crate) async fn get_engagement(
    ctx: &Context,
    call: &Call,
    request: pb::GetEngagementRequest,
) -> Result<pb::Engagement, Error> {
    let mut roles = ENGAGERS.to_vec();
    roles.push(Role::Assessor);
    call.caller().require_any(&roles, "GetEngagement")?;
    let id = top_level_id("name", &request.name, "engagements")?;
    match store::engagement(&ctx.kit.database, id).await? {
        Some(e) if sees_engagement(call, &e) => Ok(engagement_pb(&e)),
        _ => Err(Error::not_found(&request.name)),
    }
}

pub(crate) async fn create_external(
    ctx: &Context,
    call: &Call,
    request: pb::CreateExternalAssessmentRequest,
) -> Result<pb::ExternalAssessment, Error> {
    let caller = call.caller();
    caller.require_any(&[Role::Assessor], "CreateExternalAssessment")?;
    let secretary =
        secretary_in_scope(ctx, call, "parent", &request.parent, &[Role::Assessor]).await?;
    let input = request.external_assessment.ok_or_else(|| {
        Error::invalid(
            "external_assessment",
            "FIELD_REQUIRED",
            "the assessment is required",
        )
    })?;
    let year = past_year(ctx, "external_assessment.year", input.year)?;
    let mut violations = Vec::new();
    score_rule(
        "external_assessment.score",
        input.score,
        0.0,
        100.0,
        &mut violations,
    );
    evidence(
        "external_assessment.evidence_links",
        &input.evidence_links,
        &mut violations,
    );
    let engagement_id = match top_level_id(
        "external_assessment.engagement",
        &input.engagement,
        "engagements",
    ) {
        Ok(id) => Some(id),
        Err(Error::InvalidArgument { violations: v, .. }) => {
            violations.extend(v);
            None
        }
        Err(other) => return Err(other),
    };
    if !violations.is_empty() {
        return Err(Error::invalid_all(violations));
    }
    let engagement = match engagement_id {
        Some(id) => store::engagement(&ctx.kit.database, id).await?,
        None => None,
    };
    // Engaged: this organisation's assessors, this year, a region holding the community.
    let region = region_of(&secretary.region)?;
    let engaged = engagement.as_ref().is_some_and(|e| {
        e.assessor == caller.subject
            && e.year == year
            && e.regions
                .iter()
                .filter_map(|r| RegionCode::parse(r).ok())
                .any(|r| r.contains(region))
    });
    if !engaged {
        return Err(Error::PermissionDenied {
            reason: "NOT_ENGAGED",
            message: format!(
                "{} is not an engagement of {} for {year} covering {}",
                shequ_kit::error::echo(&input.engagement),
                caller.subject,
                secretary.region
            ),
            metadata: vec![("year", year.to_string())],
        });
    }
    let external = External {
        secretary: secretary.secretary.clone(),
        year,
        region: secretary.region.clone(),
        score: input.score,
        evidence: input.evidence_links,
        engagement: input.engagement,
        assessed_by: caller.subject.clone(),
        create_time: ctx.kit.clock.now(),
    };
    let mut tx = call.begin(&ctx.kit.database).await?;
    if !store::insert_external(&mut tx, &external).await? {
        tx.rollback().await?;
        return Err(Error::AlreadyExists {
            reason: "YEAR_ASSESSED",
            message: format!(
                "{} already has an external assessment of {year}",
                secretary.secretary
            ),
            resource: Some(format!(
                "{}/externalAssessments/{year}",
                secretary.secretary
            )),
        });
    }
    tx.commit().await?;
    Ok(pb::ExternalAssessment {
        name: format!("{}/externalAssessments/{year}", external.secretary),
        year,
        score: external.score,
        evidence_links: external.evidence,
        engagement: external.engagement,
        assessed_by: external.assessed_by,
        create_time: Some(to_timestamp(external.create_time)),
    })
}

pub(crate) async fn create_special(
    ctx: &Context,
    call: &Call,
    request: pb::CreateSpecialAssessmentRequest,
) -> Result<pb::SpecialAssessment, Error> {
    call.caller()
        .require_any(OFFICERS, "CreateSpecialAssessment")?;
    let secretary = secretary_in_scope(ctx, call, "parent", &request.parent, OFFICERS).await?;
    let input = request.special_assessment.ok_or_else(|| {
        Error::invalid(
            "special_assessment",
            "FIELD_REQUIRED",
            "the assessment is required",
        )
    })?;
    let year = past_year(ctx, "special_assessment.year", input.year)?;
    let province = province_of(&secretary.region)?;
    let scheme = store::current_scheme(&ctx.kit.database, &province, year).await?;
    let mut violations = Vec::new();
    if scheme.scheme.x_indicator(&input.indicator).is_none() {
        violations.push(Violation::new(
            "special_assessment.indicator",
            "UNKNOWN_INDICATOR",
            format!(
                "{} is not an X indicator of the {year} scheme (version {})",
                shequ_kit::error::echo(&input.indicator),
                scheme.version
            ),
        ));
    }
    score_rule(
        "special_assessment.points",
        input.points,
        -30.0,
        30.0,
        &mut violations,
    );
    evidence(
        "special_assessment.evidence_links",
        &input.evidence_links,
        &mut violations,
    );
    if !violations.is_empty() {
        return Err(Error::invalid_all(violations));
    }
    let special = Special {
        id: new_id(),
        secretary: secretary.secretary.clone(),
        year,
        region: secretary.region.clone(),
        indicator: input.indicator,
        points: input.points,
        evidence: input.evidence_links,
        assessed_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
    };
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::insert_special(&mut tx, &special).await?;
    tx.commit().await?;
    Ok(pb::SpecialAssessment {
        name: format!("{}/specialAssessments/{}", special.secretary, special.id),
        year,
        indicator: special.indicator,
        points: special.points,
        evidence_links: special.evidence,
        assessed_by: special.assessed_by,
        create_time: Some(to_timestamp(special.create_time)),
    })
}
