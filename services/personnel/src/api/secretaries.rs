//! Secretary profiles: create, read, list, update, qualification check.

use serde::{Deserialize, Serialize};
use shequ_kit::validate::Checks;
use shequ_kit::{
    Error,
    audit::{note_sensitive_read, note_target},
    auth::Caller,
    convert::new_id,
    paging::page_size,
    regions::Level,
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context, access,
    convert::{self, mask_paths, parse_etag, required_enum, secretary_pb},
    names::{self, region_error},
};
use crate::{
    domain::{
        CareerEvent, Secretary, Status,
        career::{EventType, Rung},
        full_years,
        identity::{IdNumber, PhoneNumber},
        qualification::Profile,
    },
    store::SecretaryFilter,
};

/// Longest accepted name (a few Chinese names run past 10 characters; 50 leaves room).
const NAME_MAX: usize = 50;

/// Fields UpdateSecretary may change.
const UPDATABLE: &[&str] = &[
    "display_name",
    "gender",
    "birth_date",
    "id_number",
    "phone_number",
    "education",
    "political_status",
    "appointment_date",
    "community_work_start_date",
];

/// Loads a secretary the caller may read, or NOT_FOUND.
pub(crate) async fn load_readable(
    ctx: &Context,
    caller: &Caller,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<Secretary, Error> {
    access::may_read_secretaries(caller, operation)?;
    let id = names::secretary_id(field, name)?;
    let secretary = ctx
        .store
        .secretary(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    access::check_read(caller, &secretary)?;
    note_target(name, secretary.region);
    Ok(secretary)
}

/// Loads a secretary the caller may change, or PERMISSION_DENIED / NOT_FOUND.
pub(crate) async fn load_writable(
    ctx: &Context,
    caller: &Caller,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<Secretary, Error> {
    caller.require_any(access::RECORD_WRITERS, operation)?;
    let id = names::secretary_id(field, name)?;
    let secretary = ctx
        .store
        .secretary(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    access::check_write(caller, &secretary)?;
    note_target(name, secretary.region);
    Ok(secretary)
}

/// Parses the ID number and checks it against the birth date and gender given beside it.
fn check_id_number(
    checks: &mut Checks,
    field: &str,
    text: &str,
    birth: Option<chrono::NaiveDate>,
    gender: Option<crate::domain::Gender>,
) -> Option<IdNumber> {
    let id = match IdNumber::parse(text) {
        Ok(id) => id,
        Err(e) => {
            checks.rule(true, field, e.reason(), e.describe());
            return None;
        }
    };
    if let Some(birth) = birth {
        checks.rule(
            id.birth_date() != birth,
            field,
            "ID_NUMBER_BIRTH_DATE_MISMATCH",
            format!(
                "the ID number encodes birth date {}, not {birth}",
                id.birth_date()
            ),
        );
    }
    if let Some(gender) = gender {
        checks.rule(
            id.gender() != gender,
            field,
            "ID_NUMBER_GENDER_MISMATCH",
            "the 17th digit of the ID number encodes the other gender",
        );
    }
    Some(id)
}

fn check_phone(checks: &mut Checks, field: &str, text: &str) -> Option<Option<PhoneNumber>> {
    if text.trim().is_empty() {
        return Some(None);
    }
    match PhoneNumber::parse(text) {
        Some(phone) => Some(Some(phone)),
        None => {
            checks.rule(
                true,
                field,
                "PHONE_NUMBER_INVALID",
                "a mobile number is 11 digits starting with 13-19",
            );
            None
        }
    }
}

/// Dates of a life must be in order: community work from 16, appointment from 18 and after the
/// start of community work.
fn check_life_dates(
    checks: &mut Checks,
    prefix: &str,
    birth: chrono::NaiveDate,
    work: chrono::NaiveDate,
    appointed: chrono::NaiveDate,
) {
    checks.rule(
        full_years(birth, work) < 16,
        &format!("{prefix}community_work_start_date"),
        "DATE_ORDER",
        "community work cannot start before the 16th birthday",
    );
    checks.rule(
        full_years(birth, appointed) < 18,
        &format!("{prefix}appointment_date"),
        "DATE_ORDER",
        "a secretary is appointed at 18 or older",
    );
    checks.rule(
        appointed < work,
        &format!("{prefix}appointment_date"),
        "DATE_ORDER",
        "the appointment cannot precede the start of community work",
    );
}

pub(crate) async fn create(
    ctx: &Context,
    caller: &Caller,
    request: pb::CreateSecretaryRequest,
) -> Result<pb::Secretary, Error> {
    caller.require_any(access::RECORD_WRITERS, "CreateSecretary")?;
    let input = request.secretary.ok_or_else(|| {
        Error::invalid(
            "secretary",
            "FIELD_REQUIRED",
            "the secretary to create is required",
        )
    })?;
    let today = ctx.clock.today();
    let mut checks = Checks::new();
    let display_name = checks.text("secretary.display_name", &input.display_name, NAME_MAX);
    let gender = checks.take(required_enum(
        "secretary.gender",
        convert::gender("secretary.gender", input.gender),
    ));
    let birth_date = checks.past_date("secretary.birth_date", &input.birth_date, today);
    let id_number = check_id_number(
        &mut checks,
        "secretary.id_number",
        &input.id_number,
        birth_date,
        gender,
    );
    let phone_number = check_phone(&mut checks, "secretary.phone_number", &input.phone_number);
    let education = checks.take(required_enum(
        "secretary.education",
        convert::education("secretary.education", input.education),
    ));
    let political_status = checks.take(convert::political_status(
        "secretary.political_status",
        input.political_status,
    ));
    let region = checks.take(
        ctx.regions
            .known_at(&input.region, Level::Community)
            .map_err(|e| region_error("secretary.region", e)),
    );
    let appointment_date =
        checks.past_date("secretary.appointment_date", &input.appointment_date, today);
    let work_start = checks.past_date(
        "secretary.community_work_start_date",
        &input.community_work_start_date,
        today,
    );
    if let (Some(birth), Some(work), Some(appointed)) = (birth_date, work_start, appointment_date) {
        check_life_dates(&mut checks, "secretary.", birth, work, appointed);
    }
    checks.finish()?;
    let (
        Some(display_name),
        Some(gender),
        Some(birth_date),
        Some(id_number),
        Some(phone_number),
        Some(education),
        Some(political_status),
        Some(region),
        Some(appointment_date),
        Some(community_work_start),
    ) = (
        display_name,
        gender,
        birth_date,
        id_number,
        phone_number,
        education,
        political_status,
        region,
        appointment_date,
        work_start,
    )
    else {
        unreachable!("every field was checked above");
    };
    caller.require_scope(region, "secretary.region")?;

    let now = ctx.clock.now();
    let secretary = Secretary {
        id: new_id(),
        region,
        display_name,
        gender,
        birth_date,
        id_number,
        phone_number,
        education,
        political_status: political_status.unwrap_or(crate::domain::PoliticalStatus::Unspecified),
        appointment_date,
        community_work_start,
        status: Status::Active,
        ladder: None,
        rung: Rung::Secretary,
        rung_since: appointment_date,
        professional_title: String::new(),
        left_on: None,
        version: 1,
        create_time: now,
        update_time: now,
    };
    let appointment = CareerEvent {
        id: new_id(),
        secretary_id: secretary.id.clone(),
        kind: EventType::Appointment,
        effective_date: appointment_date,
        ladder: None,
        from_rung: None,
        to_rung: Some(Rung::Secretary),
        from_region: None,
        to_region: Some(region),
        destination: String::new(),
        title: String::new(),
        note: String::new(),
        recorded_by: caller.subject.clone(),
        create_time: now,
    };
    note_target(&names::secretary_name(&secretary.id), region);
    ctx.store.insert_secretary(&secretary, &appointment).await?;
    tracing::info!(secretary = %secretary.id, region = %region, "secretary created");
    Ok(secretary_pb(&secretary, false))
}

pub(crate) async fn get(
    ctx: &Context,
    caller: &Caller,
    request: pb::GetSecretaryRequest,
) -> Result<pb::Secretary, Error> {
    let view = pb::SecretaryView::try_from(request.view).map_err(|_| {
        Error::invalid(
            "view",
            "ENUM_VALUE_UNKNOWN",
            format!("{} is not a known view", request.view),
        )
    })?;
    let secretary = load_readable(ctx, caller, "name", &request.name, "GetSecretary").await?;
    let unmasked = view == pb::SecretaryView::Unmasked;
    if unmasked {
        access::check_unmasked(caller, &secretary)?;
        note_sensitive_read();
    }
    Ok(secretary_pb(&secretary, unmasked))
}

#[derive(Serialize, Deserialize)]
struct ListCursor {
    after: String,
}

pub(crate) async fn list(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListSecretariesRequest,
) -> Result<pb::ListSecretariesResponse, Error> {
    caller.require_any(access::RECORD_READERS, "ListSecretaries")?;
    let scope = names::region_parent(&ctx.regions, "parent", &request.parent)?;
    let limit = page_size(request.page_size)?;
    let filter = SecretaryFilter {
        status: convert::status("status", request.status)?,
        ladder: convert::ladder("ladder", request.ladder)?,
        rung: convert::rung("rung", request.rung)?,
    };
    caller.require_scope(scope, "parent")?;
    let query = format!(
        "secretaries|{scope}|{}|{}|{}",
        request.status, request.ladder, request.rung
    );
    let cursor: Option<ListCursor> = ctx.tokens.open(&request.page_token, &query)?;
    let mut page = ctx
        .store
        .list_secretaries(
            scope,
            filter,
            cursor.as_ref().map(|c| c.after.as_str()),
            limit + 1,
        )
        .await?;
    let next_page_token = ctx
        .tokens
        .next_page(&query, &mut page, limit, |last| ListCursor {
            after: last.id.clone(),
        });
    Ok(pb::ListSecretariesResponse {
        secretaries: page.iter().map(|s| secretary_pb(s, false)).collect(),
        next_page_token,
    })
}

pub(crate) async fn update(
    ctx: &Context,
    caller: &Caller,
    request: pb::UpdateSecretaryRequest,
) -> Result<pb::Secretary, Error> {
    let input = request.secretary.ok_or_else(|| {
        Error::invalid("secretary", "FIELD_REQUIRED", "the secretary is required")
    })?;
    // Authorised before validated: a caller who may not write learns nothing about the input.
    let stored = load_writable(
        ctx,
        caller,
        "secretary.name",
        &input.name,
        "UpdateSecretary",
    )
    .await?;
    let paths = mask_paths(request.update_mask.as_ref(), UPDATABLE)?;
    let expected = parse_etag("secretary.etag", &input.etag)?;
    let today = ctx.clock.today();

    let mut next = stored.clone();
    let mut checks = Checks::new();
    for path in &paths {
        let field = format!("secretary.{path}");
        match path.as_str() {
            "display_name" => {
                if let Some(v) = checks.text(&field, &input.display_name, NAME_MAX) {
                    next.display_name = v;
                }
            }
            "gender" => {
                if let Some(v) =
                    checks.take(required_enum(&field, convert::gender(&field, input.gender)))
                {
                    next.gender = v;
                }
            }
            "birth_date" => {
                if let Some(v) = checks.past_date(&field, &input.birth_date, today) {
                    next.birth_date = v;
                }
            }
            "id_number" => {
                if let Some(v) = check_id_number(&mut checks, &field, &input.id_number, None, None)
                {
                    next.id_number = v;
                }
            }
            "phone_number" => {
                if let Some(v) = check_phone(&mut checks, &field, &input.phone_number) {
                    next.phone_number = v;
                }
            }
            "education" => {
                if let Some(v) = checks.take(required_enum(
                    &field,
                    convert::education(&field, input.education),
                )) {
                    next.education = v;
                }
            }
            "political_status" => {
                if let Some(v) =
                    checks.take(convert::political_status(&field, input.political_status))
                {
                    next.political_status =
                        v.unwrap_or(crate::domain::PoliticalStatus::Unspecified);
                }
            }
            "appointment_date" => {
                if let Some(v) = checks.past_date(&field, &input.appointment_date, today) {
                    next.appointment_date = v;
                }
            }
            "community_work_start_date" => {
                if let Some(v) = checks.past_date(&field, &input.community_work_start_date, today) {
                    next.community_work_start = v;
                }
            }
            other => unreachable!("mask_paths admits only UPDATABLE, got {other}"),
        }
    }
    // The ID number, birth date and gender must still agree after the change, whichever changed.
    checks.rule(
        next.id_number.birth_date() != next.birth_date,
        "secretary.id_number",
        "ID_NUMBER_BIRTH_DATE_MISMATCH",
        format!(
            "the ID number encodes birth date {}, the record says {}",
            next.id_number.birth_date(),
            next.birth_date
        ),
    );
    checks.rule(
        next.id_number.gender() != next.gender,
        "secretary.id_number",
        "ID_NUMBER_GENDER_MISMATCH",
        "the 17th digit of the ID number encodes the other gender",
    );
    check_life_dates(
        &mut checks,
        "secretary.",
        next.birth_date,
        next.community_work_start,
        next.appointment_date,
    );
    checks.finish()?;

    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    next.version = stored.version + 1;
    next.update_time = ctx.clock.now();
    if !ctx.store.update_profile(&next, expected).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(secretary_pb(&next, false))
}

pub(crate) async fn check_qualification(
    ctx: &Context,
    caller: &Caller,
    request: pb::CheckSecretaryQualificationRequest,
) -> Result<pb::QualificationCheck, Error> {
    let secretary = load_readable(
        ctx,
        caller,
        "name",
        &request.name,
        "CheckSecretaryQualification",
    )
    .await?;
    let province = secretary.region.province();
    let standard = ctx.store.standard(province).await?.value;
    let profile = Profile {
        birth_date: secretary.birth_date,
        education: secretary.education,
        community_work_start: secretary.community_work_start,
        appointment_date: secretary.appointment_date,
    };
    Ok(super::policies::qualification_check_pb(
        province,
        &standard.check(&profile),
    ))
}
