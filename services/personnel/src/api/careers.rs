//! Careers: promotions with their prerequisites, the other career events, and negative-list
//! violations.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::required_enum,
    call::{AuditedTx, Call},
    convert::{format_date, new_id},
    error::Precondition,
    regions::Level,
    validate::{Checked, Checks},
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context,
    convert::{
        self, event_in_force_pb, event_pb, ladder_pb, rung_pb, secretary_pb, status_pb,
        violation_pb,
    },
    names::{self, region_error},
    secretaries::{load_readable, load_writable},
};
use crate::domain::{
    CareerEvent, Secretary, Violation,
    career::{
        self, Blocked, CertificateFacts, EvaluationFacts, EventType, Ladder, Prerequisite,
        PromotionFacts, Rung,
    },
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
                certificates: certificate_facts(ctx, &secretary.id).await?,
                evaluation: evaluation_facts(ctx, &secretary.id).await?,
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

/// What training's feed told about the secretary's certificates, and up to when it is complete.
async fn certificate_facts(ctx: &Context, secretary_id: &str) -> Result<CertificateFacts, Error> {
    let Some(status) = &ctx.training else {
        return Ok(CertificateFacts::NotDeployed);
    };
    let as_of = match status.as_of(ctx.kit.clock.now()) {
        Some(at) => Some(at),
        // Not watched since this process started: complete up to the last event handled.
        None => shequ_kit::feed::last_handled(&ctx.kit.database, "training").await?,
    };
    Ok(CertificateFacts::Known {
        held: ctx.store.certificates_of(secretary_id).await?,
        as_of,
    })
}

/// What evaluation's feed told about the secretary's latest ranked result, and up to when it
/// is complete.
async fn evaluation_facts(ctx: &Context, secretary_id: &str) -> Result<EvaluationFacts, Error> {
    let Some(status) = &ctx.evaluation else {
        return Ok(EvaluationFacts::NotDeployed);
    };
    let as_of = match status.as_of(ctx.kit.clock.now()) {
        Some(at) => Some(at),
        None => shequ_kit::feed::last_handled(&ctx.kit.database, "evaluation").await?,
    };
    Ok(EvaluationFacts::Known {
        latest: ctx.store.standing(secretary_id).await?,
        as_of,
    })
}

fn prerequisites_pb(list: &[Prerequisite]) -> Vec<pb::Prerequisite> {
    list.iter()
        .map(|p| pb::Prerequisite {
            code: p.code.to_owned(),
            met: p.met,
            detail: p.detail.clone(),
            source: p.source.unwrap_or_default().to_owned(),
            source_as_of: p.as_of.map(shequ_kit::convert::to_timestamp),
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
) -> Result<Checked<NaiveDate>, Error> {
    let date = checks.past_date_or_today(field, text, ctx.kit.clock.today());
    let Some(&date) = date.get() else {
        return Ok(date);
    };
    let history = ctx.store.history(&secretary.id).await?;
    let last = crate::domain::in_force(&history)
        .into_iter()
        .map(|(_, date)| date)
        .max();
    Ok(match last {
        Some(last) if date < last => checks.refuse(
            field,
            "DATE_BEFORE_LAST_EVENT",
            format!("{date} is before the last career event ({last})"),
        ),
        _ => checks.take(Ok(date)),
    })
}

/// Records `event` and the secretary it leaves, if the record is still at the version read,
/// and publishes it on the feed; false when someone changed the record meanwhile.
async fn record_event(
    ctx: &Context,
    call: &Call,
    before: &Secretary,
    next: &Secretary,
    event: &CareerEvent,
) -> Result<bool, Error> {
    let mut tx = call.begin(ctx.store.database()).await?;
    if !ctx
        .store
        .apply_event(&mut tx, next, before.version, event)
        .await?
    {
        tx.rollback().await?;
        return Ok(false);
    }
    publish_event(&mut tx, next, event);
    tx.commit().await?;
    Ok(true)
}

fn publish_event(tx: &mut AuditedTx, next: &Secretary, event: &CareerEvent) {
    let payload = pb::CareerEventRecorded {
        career_event: Some(event_pb(event)),
        region: next.region.to_string(),
        status: status_pb(next.status) as i32,
        rung: rung_pb(next.rung) as i32,
    };
    tx.publish(&names::secretary_name(&next.id), next.region, &payload);
}

pub(crate) async fn check_promotion(
    ctx: &Context,
    call: &Call,
    request: pb::CheckPromotionRequest,
) -> Result<pb::PromotionCheck, Error> {
    let ladder = required_enum("ladder", convert::ladder("ladder", request.ladder))?;
    let secretary = load_readable(ctx, call, "name", &request.name, "CheckPromotion").await?;
    let effective = shequ_kit::convert::parse_date_or(
        "effective_date",
        &request.effective_date,
        ctx.kit.clock.today(),
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
    call: &Call,
    request: pb::PromoteSecretaryRequest,
) -> Result<pb::PromoteSecretaryResponse, Error> {
    let ladder = required_enum("ladder", convert::ladder("ladder", request.ladder))?;
    let secretary = load_writable(ctx, call, "name", &request.name, "PromoteSecretary").await?;
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
    let valid = checks.finish()?;
    let effective = valid.value(effective);

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
    refuse_unmet(target, &evaluation.prerequisites)?;
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
        note: valid.value(note),
        recorded_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
        corrects: None,
    };
    let next = secretary
        .after(&event)
        .map_err(|refused| illegal_transition(refused.describe(), Vec::new()))?;
    if !record_event(ctx, call, &secretary, &next, &event).await? {
        return Err(concurrent(&request.name));
    }
    Ok(pb::PromoteSecretaryResponse {
        secretary: Some(secretary_pb(&next, false)),
        career_event: Some(event_pb(&event)),
    })
}

/// Refuses a promotion to `target` whose prerequisites are not all met, naming each unmet one.
fn refuse_unmet(target: Rung, prerequisites: &[Prerequisite]) -> Result<(), Error> {
    let unmet: Vec<&Prerequisite> = prerequisites.iter().filter(|p| !p.met).collect();
    if unmet.is_empty() {
        return Ok(());
    }
    Err(Error::FailedPrecondition {
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
    })
}

fn concurrent(name: &str) -> Error {
    Error::Aborted {
        reason: "CONCURRENT_MODIFICATION",
        message: format!("{name} changed while this request was processed; retry"),
    }
}

/// What a directly recorded event carries besides its kind and date.
struct EventDetails {
    destination: String,
    title: String,
    to_region: Option<shequ_kit::regions::RegionCode>,
}

/// The details an event of `kind` must carry, checked.
fn event_details(
    ctx: &Context,
    checks: &mut Checks,
    kind: EventType,
    input: &pb::CareerEvent,
    secretary: &Secretary,
) -> Checked<EventDetails> {
    let none = EventDetails {
        destination: String::new(),
        title: String::new(),
        to_region: None,
    };
    let details = match kind {
        EventType::Transfer => checks
            .text(
                "career_event.destination",
                &input.destination,
                SHORT_TEXT_MAX,
            )
            .map(|destination| EventDetails {
                destination,
                ..none
            }),
        EventType::TitlePromotion => checks
            .text("career_event.title", &input.title, SHORT_TEXT_MAX)
            .map(|title| EventDetails { title, ..none }),
        EventType::Reassignment => {
            let region = ctx
                .kit
                .regions
                .known_at(&input.to_region, Level::Community)
                .map_err(|e| region_error("career_event.to_region", e))
                .and_then(|region| {
                    if region == secretary.region {
                        Err(Error::invalid(
                            "career_event.to_region",
                            "REGION_UNCHANGED",
                            "the secretary already serves this community",
                        ))
                    } else {
                        Ok(region)
                    }
                });
            checks.take(region).map(|region| EventDetails {
                to_region: Some(region),
                ..none
            })
        }
        _ => checks.take(Ok(none)),
    };
    // A detail of another event type is not used, but when given it must still be well formed:
    // the contract states each detail's rule whenever it is given.
    if kind != EventType::Reassignment && !input.to_region.is_empty() {
        let _ = checks.take(
            ctx.kit
                .regions
                .known(&input.to_region)
                .map_err(|e| region_error("career_event.to_region", e)),
        );
    }
    if kind != EventType::Transfer && !input.destination.is_empty() {
        let _ = checks.text(
            "career_event.destination",
            &input.destination,
            SHORT_TEXT_MAX,
        );
    }
    if kind != EventType::TitlePromotion && !input.title.is_empty() {
        let _ = checks.text("career_event.title", &input.title, SHORT_TEXT_MAX);
    }
    details
}

pub(crate) async fn create_event(
    ctx: &Context,
    call: &Call,
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
        load_writable(ctx, call, "parent", &request.parent, "CreateCareerEvent").await?;
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
    let details = event_details(ctx, &mut checks, kind, &input, &secretary);
    let valid = checks.finish()?;
    let details = valid.value(details);
    if let Some(region) = details.to_region {
        call.caller()
            .require_scope(region, "career_event.to_region")?;
    }
    let event = CareerEvent {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        kind,
        effective_date: valid.value(effective),
        ladder: None,
        from_rung: None,
        to_rung: None,
        from_region: details.to_region.map(|_| secretary.region),
        to_region: details.to_region,
        destination: details.destination,
        title: details.title,
        note: valid.value(note),
        recorded_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
        corrects: None,
    };
    let next = secretary.after(&event).map_err(|refused| {
        illegal_transition(
            refused.describe(),
            vec![
                ("event_type", refused.kind.code().to_owned()),
                ("status", refused.status.code().to_owned()),
            ],
        )
    })?;
    if !record_event(ctx, call, &secretary, &next, &event).await? {
        return Err(concurrent(&request.parent));
    }
    tracing::info!(secretary = %secretary.id, event = kind.code(), "career event recorded");
    Ok(event_pb(&event))
}

pub(crate) async fn get_event(
    ctx: &Context,
    call: &Call,
    request: pb::GetCareerEventRequest,
) -> Result<pb::CareerEvent, Error> {
    let (secretary_id, event_id) = names::secretary_child("name", &request.name, "careerEvents")?;
    load_readable(
        ctx,
        call,
        "name",
        &names::secretary_name(secretary_id),
        "GetCareerEvent",
    )
    .await?;
    let history = ctx.store.history(secretary_id).await?;
    let event = history
        .iter()
        .find(|e| e.id == event_id)
        .ok_or_else(|| Error::not_found(&request.name))?;
    Ok(event_in_force_pb(event, &history))
}

#[derive(Serialize, Deserialize)]
struct SeqCursor {
    after: i64,
}

pub(crate) async fn list_events(
    ctx: &Context,
    call: &Call,
    request: pb::ListCareerEventsRequest,
) -> Result<pb::ListCareerEventsResponse, Error> {
    let secretary = load_readable(ctx, call, "parent", &request.parent, "ListCareerEvents").await?;
    let page = ctx.kit.tokens.page::<_, SeqCursor>(&request)?;
    let after = page.cursor.as_ref().map_or(0, |c| c.after);
    let mut events = ctx
        .store
        .career_events(&secretary.id, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut events, |last| SeqCursor { after: last.0 });
    let history = ctx.store.history(&secretary.id).await?;
    Ok(pb::ListCareerEventsResponse {
        career_events: events
            .iter()
            .map(|(_, e)| event_in_force_pb(e, &history))
            .collect(),
        next_page_token,
    })
}

pub(crate) async fn create_violation(
    ctx: &Context,
    call: &Call,
    request: pb::CreateViolationRequest,
) -> Result<pb::Violation, Error> {
    let input = request.violation.ok_or_else(|| {
        Error::invalid("violation", "FIELD_REQUIRED", "the violation is required")
    })?;
    let secretary = load_writable(ctx, call, "parent", &request.parent, "CreateViolation").await?;
    let province = secretary.region.province();
    let mut checks = Checks::new();
    let item = checks.take(
        names::negative_list_item(
            &ctx.kit.regions,
            "violation.negative_list_item",
            &input.negative_list_item,
        )
        .and_then(|(item_province, code)| {
            if item_province == province {
                Ok(code)
            } else {
                Err(Error::invalid(
                    "violation.negative_list_item",
                    "NEGATIVE_LIST_ITEM_WRONG_PROVINCE",
                    format!("use the catalogue of the secretary's province, provinces/{province}"),
                ))
            }
        }),
    );
    let occurred_on = checks.past_date(
        "violation.occurred_on",
        &input.occurred_on,
        ctx.kit.clock.today(),
    );
    let evidence = checks.text("violation.evidence", &input.evidence, EVIDENCE_MAX);
    let valid = checks.finish()?;
    let code = valid.value(item);
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
        occurred_on: valid.value(occurred_on),
        evidence: valid.value(evidence),
        recorded_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
    };
    let mut tx = call.begin(ctx.store.database()).await?;
    ctx.store.insert_violation(&mut tx, &violation).await?;
    let payload = pb::ViolationRecorded {
        violation: Some(violation_pb(&violation)),
        region: secretary.region.to_string(),
    };
    tx.publish(
        &names::secretary_name(&secretary.id),
        secretary.region,
        &payload,
    );
    tx.commit().await?;
    Ok(violation_pb(&violation))
}

#[derive(Serialize, Deserialize)]
struct ViolationCursor {
    occurred_on: String,
    id: String,
}

pub(crate) async fn list_violations(
    ctx: &Context,
    call: &Call,
    request: pb::ListViolationsRequest,
) -> Result<pb::ListViolationsResponse, Error> {
    let secretary = load_readable(ctx, call, "parent", &request.parent, "ListViolations").await?;
    let page = ctx.kit.tokens.page::<_, ViolationCursor>(&request)?;
    let after = match &page.cursor {
        Some(c) => Some((
            shequ_kit::convert::parse_date("page_token", &c.occurred_on)?,
            c.id.clone(),
        )),
        None => None,
    };
    let mut violations = ctx
        .store
        .violations(&secretary.id, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut violations, |last| ViolationCursor {
        occurred_on: format_date(last.occurred_on),
        id: last.id.clone(),
    });
    Ok(pb::ListViolationsResponse {
        violations: violations.iter().map(violation_pb).collect(),
        next_page_token,
    })
}

/// The refusal of a change of the history, as the API says it.
fn history_refusal(field: &str, refused: &crate::domain::Refused) -> Error {
    match refused {
        crate::domain::Refused::Transition(t) => illegal_transition(
            t.describe(),
            vec![
                ("event_type", t.kind.code().to_owned()),
                ("status", t.status.code().to_owned()),
            ],
        ),
        crate::domain::Refused::DateOrder { .. } => {
            Error::invalid(field, "DATE_ORDER", refused.describe())
        }
        crate::domain::Refused::NotCorrectable => {
            Error::invalid("name", "EVENT_NOT_CORRECTABLE", refused.describe())
        }
    }
}

pub(crate) async fn correct_event(
    ctx: &Context,
    call: &Call,
    request: pb::CorrectCareerEventRequest,
) -> Result<pb::CareerEvent, Error> {
    let (secretary_id, event_id) = names::secretary_child("name", &request.name, "careerEvents")?;
    let secretary = load_writable(
        ctx,
        call,
        "name",
        &names::secretary_name(secretary_id),
        "CorrectCareerEvent",
    )
    .await?;
    let mut checks = Checks::new();
    let date = checks.past_date(
        "effective_date",
        &request.effective_date,
        ctx.kit.clock.today(),
    );
    let note = checks.text("note", &request.note, NOTE_MAX);
    let valid = checks.finish()?;
    let history = ctx.store.history(&secretary.id).await?;
    let corrected = history
        .iter()
        .find(|e| e.id == event_id)
        .ok_or_else(|| Error::not_found(&request.name))?;
    let date = valid.value(date);
    if corrected.kind == EventType::Appointment {
        check_appointment_age(&secretary, date)?;
    }
    let correction = CareerEvent {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        kind: EventType::Correction,
        effective_date: date,
        ladder: None,
        from_rung: None,
        to_rung: None,
        from_region: None,
        to_region: None,
        destination: String::new(),
        title: String::new(),
        note: valid.value(note),
        recorded_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
        corrects: Some(corrected.id.clone()),
    };
    let next = secretary
        .corrected(&history, &correction)
        .map_err(|refused| history_refusal("effective_date", &refused))?;
    if !record_event(ctx, call, &secretary, &next, &correction).await? {
        return Err(concurrent(&request.name));
    }
    let mut history = history;
    history.push(correction.clone());
    Ok(event_in_force_pb(&correction, &history))
}

/// An appointment date the secretary's life allows: at 18 to 70, after starting community work.
fn check_appointment_age(secretary: &Secretary, date: NaiveDate) -> Result<(), Error> {
    let mut checks = Checks::new();
    super::secretaries::check_life_dates(
        &mut checks,
        "",
        secretary.birth_date,
        secretary.community_work_start,
        date,
    );
    checks.finish().map(|_| ())
}

pub(crate) async fn reappoint(
    ctx: &Context,
    call: &Call,
    request: pb::ReappointSecretaryRequest,
) -> Result<pb::ReappointSecretaryResponse, Error> {
    let secretary = load_writable(ctx, call, "name", &request.name, "ReappointSecretary").await?;
    let mut checks = Checks::new();
    let date = checks.past_date(
        "appointment_date",
        &request.appointment_date,
        ctx.kit.clock.today(),
    );
    let region = checks.take(
        ctx.kit
            .regions
            .known_at(&request.region, Level::Community)
            .map_err(|e| region_error("region", e)),
    );
    let note = checks.optional_text("note", &request.note, NOTE_MAX);
    let valid = checks.finish()?;
    let (date, region) = (valid.value(date), valid.value(region));
    call.caller().require_scope(region, "region")?;
    check_appointment_age(&secretary, date)?;
    let appointment = CareerEvent {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        kind: EventType::Appointment,
        effective_date: date,
        ladder: None,
        from_rung: None,
        to_rung: Some(Rung::Secretary),
        from_region: (region != secretary.region).then_some(secretary.region),
        to_region: Some(region),
        destination: String::new(),
        title: String::new(),
        note: valid.value(note),
        recorded_by: call.caller().subject.clone(),
        create_time: ctx.kit.clock.now(),
        corrects: None,
    };
    let next = secretary
        .reappoint(&appointment)
        .map_err(|refused| history_refusal("appointment_date", &refused))?;
    let mut tx = call.begin(ctx.store.database()).await?;
    if !ctx
        .store
        .apply_event(&mut tx, &next, secretary.version, &appointment)
        .await?
    {
        tx.rollback().await?;
        return Err(concurrent(&request.name));
    }
    super::secretaries::publish_appointment(&mut tx, &next, &appointment);
    tx.commit().await?;
    tracing::info!(secretary = %secretary.id, tenure = next.tenure, "secretary re-appointed");
    Ok(pb::ReappointSecretaryResponse {
        secretary: Some(secretary_pb(&next, false)),
        career_event: Some(event_pb(&appointment)),
    })
}

pub(crate) async fn get_violation(
    ctx: &Context,
    call: &Call,
    request: pb::GetViolationRequest,
) -> Result<pb::Violation, Error> {
    let (secretary_id, violation_id) = names::secretary_child("name", &request.name, "violations")?;
    load_readable(
        ctx,
        call,
        "name",
        &names::secretary_name(secretary_id),
        "GetViolation",
    )
    .await?;
    let violation = ctx
        .store
        .violation(secretary_id, violation_id)
        .await?
        .ok_or_else(|| Error::not_found(&request.name))?;
    Ok(violation_pb(&violation))
}
