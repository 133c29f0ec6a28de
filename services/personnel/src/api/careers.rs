//! Careers: promotions with their prerequisites, the other career events, and negative-list
//! violations.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shequ_kit::validate::Checks;
use shequ_kit::{
    Error,
    auth::Caller,
    convert::{format_date, new_id},
    error::Precondition,
    paging::page_size,
    regions::Level,
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context,
    convert::{self, event_pb, ladder_pb, required_enum, rung_pb, secretary_pb, violation_pb},
    names::{self, region_error},
    secretaries::{load_readable, load_writable},
};
use crate::domain::{
    CareerEvent, Secretary, Violation,
    career::{self, Blocked, EventType, Ladder, Prerequisite, PromotionFacts, Rung},
};

const NOTE_MAX: usize = 1_000;
const SHORT_TEXT_MAX: usize = 100;
const EVIDENCE_MAX: usize = 4_000;

/// The outcome of evaluating a promotion.
struct Evaluation {
    target: Result<Rung, Blocked>,
    prerequisites: Vec<Prerequisite>,
}

async fn evaluate(
    ctx: &Context,
    secretary: &Secretary,
    ladder: Ladder,
    effective: NaiveDate,
) -> Result<Evaluation, Error> {
    let target = career::next_rung(secretary.status, secretary.rung, ladder);
    let prerequisites = match target {
        Ok(rung) => {
            let policy = ctx
                .store
                .career_policy(secretary.region.province())
                .await?
                .value;
            let facts = PromotionFacts {
                rung_since: secretary.rung_since,
                violation_dates: ctx.store.violation_dates(&secretary.id).await?,
            };
            career::prerequisites(&policy, rung, &facts, effective)
        }
        Err(_) => Vec::new(),
    };
    Ok(Evaluation {
        target,
        prerequisites,
    })
}

fn prerequisites_pb(list: &[Prerequisite]) -> Vec<pb::Prerequisite> {
    list.iter()
        .map(|p| pb::Prerequisite {
            code: p.code.to_owned(),
            met: p.met,
            detail: p.detail.clone(),
        })
        .collect()
}

fn illegal_transition(message: String, metadata: Vec<(&'static str, String)>) -> Error {
    Error::FailedPrecondition {
        reason: "ILLEGAL_STATE_TRANSITION",
        message,
        preconditions: Vec::new(),
        metadata,
    }
}

/// The effective date of a career change: today when empty, not in the future, and not before
/// the last event of the history (which is never rewritten).
async fn effective_date(
    ctx: &Context,
    checks: &mut Checks,
    field: &str,
    text: &str,
    secretary: &Secretary,
) -> Result<Option<NaiveDate>, Error> {
    let Some(date) = checks.past_date_or_today(field, text, ctx.clock.today()) else {
        return Ok(None);
    };
    if let Some(last) = ctx.store.last_event_date(&secretary.id).await?
        && date < last
    {
        checks.rule(
            true,
            field,
            "DATE_BEFORE_LAST_EVENT",
            format!("{date} is before the last career event ({last})"),
        );
        return Ok(None);
    }
    Ok(Some(date))
}

pub(crate) async fn check_promotion(
    ctx: &Context,
    caller: &Caller,
    request: pb::CheckPromotionRequest,
) -> Result<pb::PromotionCheck, Error> {
    let ladder = required_enum("ladder", convert::ladder("ladder", request.ladder))?;
    let secretary = load_readable(ctx, caller, "name", &request.name, "CheckPromotion").await?;
    let effective = shequ_kit::convert::parse_date_or(
        "effective_date",
        &request.effective_date,
        ctx.clock.today(),
    )?;
    let evaluation = evaluate(ctx, &secretary, ladder, effective).await?;
    Ok(pb::PromotionCheck {
        secretary: request.name,
        ladder: ladder_pb(ladder) as i32,
        from_rung: rung_pb(secretary.rung) as i32,
        to_rung: evaluation.target.map_or(pb::Rung::Unspecified, rung_pb) as i32,
        eligible: evaluation.target.is_ok() && evaluation.prerequisites.iter().all(|p| p.met),
        prerequisites: prerequisites_pb(&evaluation.prerequisites),
        blocked_reason: evaluation
            .target
            .err()
            .map(Blocked::describe)
            .unwrap_or_default(),
    })
}

pub(crate) async fn promote(
    ctx: &Context,
    caller: &Caller,
    request: pb::PromoteSecretaryRequest,
) -> Result<pb::PromoteSecretaryResponse, Error> {
    let ladder = required_enum("ladder", convert::ladder("ladder", request.ladder))?;
    let secretary = load_writable(ctx, caller, "name", &request.name, "PromoteSecretary").await?;
    let mut checks = Checks::new();
    let effective = effective_date(
        ctx,
        &mut checks,
        "effective_date",
        &request.effective_date,
        &secretary,
    )
    .await?;
    let note = checks.optional_text("note", &request.note, NOTE_MAX);
    checks.finish()?;
    let (Some(effective), Some(note)) = (effective, note) else {
        unreachable!("checked above");
    };

    let evaluation = evaluate(ctx, &secretary, ladder, effective).await?;
    let target = evaluation.target.map_err(|blocked| {
        illegal_transition(
            format!(
                "cannot promote on the {} ladder: {}",
                ladder.code(),
                blocked.describe()
            ),
            vec![
                ("ladder", ladder.code().to_owned()),
                ("rung", secretary.rung.code().to_owned()),
            ],
        )
    })?;
    let unmet: Vec<&Prerequisite> = evaluation.prerequisites.iter().filter(|p| !p.met).collect();
    if !unmet.is_empty() {
        return Err(Error::FailedPrecondition {
            reason: "PROMOTION_PREREQUISITES_UNMET",
            message: format!(
                "promotion to {} refused: {}",
                target.chinese(),
                unmet.iter().map(|p| p.code).collect::<Vec<_>>().join(", ")
            ),
            preconditions: unmet
                .iter()
                .map(|p| Precondition {
                    kind: "PREREQUISITE",
                    subject: p.code.to_owned(),
                    description: p.detail.clone(),
                })
                .collect(),
            metadata: vec![("target_rung", target.code().to_owned())],
        });
    }

    let now = ctx.clock.now();
    let mut next = secretary.clone();
    next.ladder = Some(ladder);
    next.rung = target;
    next.rung_since = effective;
    next.version += 1;
    next.update_time = now;
    let event = CareerEvent {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        kind: EventType::Promotion,
        effective_date: effective,
        ladder: Some(ladder),
        from_rung: Some(secretary.rung),
        to_rung: Some(target),
        from_region: None,
        to_region: None,
        destination: String::new(),
        title: String::new(),
        note,
        recorded_by: caller.subject.clone(),
        create_time: now,
    };
    if !ctx
        .store
        .apply_event(&next, secretary.version, &event)
        .await?
    {
        return Err(concurrent(&request.name));
    }
    Ok(pb::PromoteSecretaryResponse {
        secretary: Some(secretary_pb(&next, false)),
        career_event: Some(event_pb(&event)),
    })
}

fn concurrent(name: &str) -> Error {
    Error::Aborted {
        reason: "CONCURRENT_MODIFICATION",
        message: format!("{name} changed while this request was processed; retry"),
    }
}

pub(crate) async fn create_event(
    ctx: &Context,
    caller: &Caller,
    request: pb::CreateCareerEventRequest,
) -> Result<pb::CareerEvent, Error> {
    let input = request
        .career_event
        .ok_or_else(|| Error::invalid("career_event", "FIELD_REQUIRED", "the event is required"))?;
    let kind = required_enum(
        "career_event.type",
        convert::event_type("career_event.type", input.r#type),
    )?;
    if !kind.recordable_directly() {
        return Err(Error::invalid(
            "career_event.type",
            "EVENT_TYPE_NOT_RECORDABLE",
            "appointments are recorded by CreateSecretary and promotions by PromoteSecretary",
        ));
    }
    let secretary =
        load_writable(ctx, caller, "parent", &request.parent, "CreateCareerEvent").await?;

    let mut checks = Checks::new();
    let effective = effective_date(
        ctx,
        &mut checks,
        "career_event.effective_date",
        &input.effective_date,
        &secretary,
    )
    .await?;
    let note = checks.optional_text("career_event.note", &input.note, NOTE_MAX);
    let mut destination = String::new();
    let mut title = String::new();
    let mut to_region = None;
    match kind {
        EventType::Transfer => {
            destination = checks
                .text(
                    "career_event.destination",
                    &input.destination,
                    SHORT_TEXT_MAX,
                )
                .unwrap_or_default()
        }
        EventType::TitlePromotion => {
            title = checks
                .text("career_event.title", &input.title, SHORT_TEXT_MAX)
                .unwrap_or_default()
        }
        EventType::Reassignment => {
            to_region = checks.take(
                ctx.regions
                    .known_at(&input.to_region, Level::Community)
                    .map_err(|e| region_error("career_event.to_region", e)),
            );
            checks.rule(
                to_region == Some(secretary.region),
                "career_event.to_region",
                "REGION_UNCHANGED",
                "the secretary already serves this community",
            );
        }
        _ => {}
    }
    checks.finish()?;
    let (Some(effective), Some(note)) = (effective, note) else {
        unreachable!("checked above");
    };
    if let Some(region) = to_region {
        caller.require_scope(region, "career_event.to_region")?;
    }
    let status_after = kind.status_after(secretary.status).ok_or_else(|| {
        illegal_transition(
            format!(
                "a {} event cannot be recorded for a secretary whose status is {}",
                kind.code(),
                secretary.status.code()
            ),
            vec![
                ("event_type", kind.code().to_owned()),
                ("status", secretary.status.code().to_owned()),
            ],
        )
    })?;

    let now = ctx.clock.now();
    let mut next = secretary.clone();
    next.status = status_after;
    if kind.ends_service() {
        next.left_on = Some(effective);
    }
    if kind == EventType::TitlePromotion {
        next.professional_title = title.clone();
    }
    if let Some(region) = to_region {
        next.region = region;
    }
    next.version += 1;
    next.update_time = now;
    let event = CareerEvent {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        kind,
        effective_date: effective,
        ladder: None,
        from_rung: None,
        to_rung: None,
        from_region: to_region.map(|_| secretary.region),
        to_region,
        destination,
        title,
        note,
        recorded_by: caller.subject.clone(),
        create_time: now,
    };
    if !ctx
        .store
        .apply_event(&next, secretary.version, &event)
        .await?
    {
        return Err(concurrent(&request.parent));
    }
    tracing::info!(secretary = %secretary.id, event = kind.code(), "career event recorded");
    Ok(event_pb(&event))
}

pub(crate) async fn get_event(
    ctx: &Context,
    caller: &Caller,
    request: pb::GetCareerEventRequest,
) -> Result<pb::CareerEvent, Error> {
    let (secretary_id, event_id) = names::secretary_child("name", &request.name, "careerEvents")?;
    load_readable(
        ctx,
        caller,
        "name",
        &names::secretary_name(secretary_id),
        "GetCareerEvent",
    )
    .await?;
    let event = ctx
        .store
        .career_event(secretary_id, event_id)
        .await?
        .ok_or_else(|| Error::not_found(&request.name))?;
    Ok(event_pb(&event))
}

#[derive(Serialize, Deserialize)]
struct SeqCursor {
    after: i64,
}

pub(crate) async fn list_events(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListCareerEventsRequest,
) -> Result<pb::ListCareerEventsResponse, Error> {
    let secretary =
        load_readable(ctx, caller, "parent", &request.parent, "ListCareerEvents").await?;
    let limit = page_size(request.page_size)?;
    let query = format!("careerEvents|{}", secretary.id);
    let cursor: Option<SeqCursor> = ctx.tokens.open(&request.page_token, &query)?;
    let mut page = ctx
        .store
        .career_events(&secretary.id, cursor.map_or(0, |c| c.after), limit + 1)
        .await?;
    let next_page_token = ctx
        .tokens
        .next_page(&query, &mut page, limit, |last| SeqCursor { after: last.0 });
    Ok(pb::ListCareerEventsResponse {
        career_events: page.iter().map(|(_, e)| event_pb(e)).collect(),
        next_page_token,
    })
}

pub(crate) async fn create_violation(
    ctx: &Context,
    caller: &Caller,
    request: pb::CreateViolationRequest,
) -> Result<pb::Violation, Error> {
    let input = request.violation.ok_or_else(|| {
        Error::invalid("violation", "FIELD_REQUIRED", "the violation is required")
    })?;
    let secretary =
        load_writable(ctx, caller, "parent", &request.parent, "CreateViolation").await?;
    let province = secretary.region.province();
    let mut checks = Checks::new();
    let item = checks.take(names::negative_list_item(
        &ctx.regions,
        "violation.negative_list_item",
        &input.negative_list_item,
    ));
    let occurred_on = checks.past_date(
        "violation.occurred_on",
        &input.occurred_on,
        ctx.clock.today(),
    );
    let evidence = checks.text("violation.evidence", &input.evidence, EVIDENCE_MAX);
    if let Some((item_province, _)) = &item {
        checks.rule(
            *item_province != province,
            "violation.negative_list_item",
            "NEGATIVE_LIST_ITEM_WRONG_PROVINCE",
            format!("use the catalogue of the secretary's province, provinces/{province}"),
        );
    }
    checks.finish()?;
    let (Some((_, code)), Some(occurred_on), Some(evidence)) = (item, occurred_on, evidence) else {
        unreachable!("checked above");
    };
    let item = ctx
        .store
        .negative_list_item(province, &code)
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "violation.negative_list_item",
                "NEGATIVE_LIST_ITEM_UNKNOWN",
                format!("{code} is not in the catalogue"),
            )
        })?;
    if !item.active {
        return Err(Error::invalid(
            "violation.negative_list_item",
            "NEGATIVE_LIST_ITEM_RETIRED",
            format!("{code} has been retired from the catalogue"),
        ));
    }
    let violation = Violation {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        province,
        item_code: code,
        occurred_on,
        evidence,
        recorded_by: caller.subject.clone(),
        create_time: ctx.clock.now(),
    };
    ctx.store.insert_violation(&violation).await?;
    Ok(violation_pb(&violation))
}

#[derive(Serialize, Deserialize)]
struct ViolationCursor {
    occurred_on: String,
    id: String,
}

pub(crate) async fn list_violations(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListViolationsRequest,
) -> Result<pb::ListViolationsResponse, Error> {
    let secretary = load_readable(ctx, caller, "parent", &request.parent, "ListViolations").await?;
    let limit = page_size(request.page_size)?;
    let query = format!("violations|{}", secretary.id);
    let cursor: Option<ViolationCursor> = ctx.tokens.open(&request.page_token, &query)?;
    let after = match cursor {
        Some(c) => Some((
            shequ_kit::convert::parse_date("page_token", &c.occurred_on)?,
            c.id,
        )),
        None => None,
    };
    let mut page = ctx
        .store
        .violations(&secretary.id, after, limit + 1)
        .await?;
    let next_page_token = ctx
        .tokens
        .next_page(&query, &mut page, limit, |last| ViolationCursor {
            occurred_on: format_date(last.occurred_on),
            id: last.id.clone(),
        });
    Ok(pb::ListViolationsResponse {
        violations: page.iter().map(violation_pb).collect(),
        next_page_token,
    })
}
