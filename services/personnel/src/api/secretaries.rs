//! Secretary profiles: create, read, list, update, qualification check.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::{self, Mutable, required_enum},
    call::{AuditedTx, Call},
    convert::new_id,
    mutable_fields,
    regions::Level,
    validate::{Checked, Checks},
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context, access,
    convert::{self, event_pb, secretary_pb},
    names::{self, region_error},
};
use crate::{
    domain::{
        CareerEvent, NewSecretary, Secretary, full_years,
        identity::{IdNumber, PhoneNumber},
        plausible,
        qualification::Profile,
    },
    store::SecretaryFilter,
};

/// Longest accepted name (a few Chinese names run past 10 characters; 50 leaves room).
const NAME_MAX: usize = 50;

/// Fields UpdateSecretary may change.
const UPDATABLE: &[Mutable<pb::Secretary>] = mutable_fields!(pb::Secretary {
    display_name,
    gender,
    birth_date,
    id_number,
    phone_number,
    education,
    political_status,
    community_work_start_date,
});

/// Loads a secretary the caller may read, or NOT_FOUND.
pub(crate) async fn load_readable(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<Secretary, Error> {
    let caller = call.caller();
    access::may_read_secretaries(caller, operation)?;
    let id = names::secretary_id(field, name)?;
    let secretary = ctx
        .store
        .secretary(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    // Noted before the scope check, so a refused probe is audited in the district it probed.
    call.target(name, secretary.region);
    access::check_read(caller, &secretary)?;
    Ok(secretary)
}

/// Loads a secretary the caller may change, or PERMISSION_DENIED / NOT_FOUND.
pub(crate) async fn load_writable(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<Secretary, Error> {
    let caller = call.caller();
    caller.require_any(access::writers_of(operation), operation)?;
    let id = names::secretary_id(field, name)?;
    let secretary = ctx
        .store
        .secretary(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    // Noted before the scope check, so a refused probe is audited in the district it probed.
    call.target(name, secretary.region);
    access::check_write(caller, &secretary)?;
    Ok(secretary)
}

/// Parses the ID number and checks it against the birth date and gender given beside it.
fn check_id_number(
    checks: &mut Checks,
    field: &str,
    text: &str,
    birth: Option<&chrono::NaiveDate>,
    gender: Option<&crate::domain::Gender>,
) -> Checked<IdNumber> {
    let id = match IdNumber::parse(text) {
        Ok(id) => id,
        Err(e) => return checks.refuse(field, e.reason(), e.describe()),
    };
    if let Some(&birth) = birth {
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
    if let Some(&gender) = gender {
        checks.rule(
            id.gender() != gender,
            field,
            "ID_NUMBER_GENDER_MISMATCH",
            "the 17th digit of the ID number encodes the other gender",
        );
    }
    checks.take(Ok(id))
}

fn check_phone(checks: &mut Checks, field: &str, text: &str) -> Checked<Option<PhoneNumber>> {
    if text.trim().is_empty() {
        return checks.take(Ok(None));
    }
    match PhoneNumber::parse(text) {
        Some(phone) => checks.take(Ok(Some(phone))),
        None => checks.refuse(
            field,
            "PHONE_NUMBER_INVALID",
            "a mobile number is 11 digits starting with 13-19",
        ),
    }
}

/// Dates of a life must be in order and plausible for a serving secretary (see
/// `domain::plausible`): born from 1920, community work from 16, appointed at 18 to 70, after the
/// start of community work and not before the residents' committees existed.
pub(crate) fn check_life_dates(
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
        birth < plausible::EARLIEST_BIRTH,
        &format!("{prefix}birth_date"),
        "DATE_IMPLAUSIBLE",
        format!(
            "nobody born before {} serves as a secretary",
            plausible::EARLIEST_BIRTH
        ),
    );
    checks.rule(
        full_years(birth, appointed) < plausible::MIN_AGE_AT_APPOINTMENT,
        &format!("{prefix}appointment_date"),
        "DATE_ORDER",
        "a secretary is appointed at 18 or older",
    );
    checks.rule(
        full_years(birth, appointed) > plausible::MAX_AGE_AT_APPOINTMENT,
        &format!("{prefix}appointment_date"),
        "DATE_IMPLAUSIBLE",
        format!(
            "a secretary is appointed at {} or younger",
            plausible::MAX_AGE_AT_APPOINTMENT
        ),
    );
    checks.rule(
        appointed < plausible::EARLIEST_APPOINTMENT,
        &format!("{prefix}appointment_date"),
        "DATE_IMPLAUSIBLE",
        format!(
            "no appointment predates the residents' committees ({})",
            plausible::EARLIEST_APPOINTMENT
        ),
    );
    checks.rule(
        appointed < work,
        &format!("{prefix}appointment_date"),
        "DATE_ORDER",
        "the appointment cannot precede the start of community work",
    );
}

/// A new secretary as the request describes them, every field checked.
fn parse_new(ctx: &Context, input: &pb::Secretary) -> Result<NewSecretary, Error> {
    let today = ctx.kit.clock.today();
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
        birth_date.get(),
        gender.get(),
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
        ctx.kit
            .regions
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
    if let (Some(birth), Some(work), Some(appointed)) =
        (birth_date.get(), work_start.get(), appointment_date.get())
    {
        check_life_dates(&mut checks, "secretary.", *birth, *work, *appointed);
    }
    let valid = checks.finish()?;
    Ok(NewSecretary {
        display_name: valid.value(display_name),
        gender: valid.value(gender),
        birth_date: valid.value(birth_date),
        id_number: valid.value(id_number),
        phone_number: valid.value(phone_number),
        education: valid.value(education),
        political_status: valid
            .value(political_status)
            .unwrap_or(crate::domain::PoliticalStatus::Unspecified),
        region: valid.value(region),
        appointment_date: valid.value(appointment_date),
        community_work_start: valid.value(work_start),
    })
}

/// Publishes the appointment on the feed, in the transaction that records it.
pub(crate) fn publish_appointment(tx: &mut AuditedTx, secretary: &Secretary, event: &CareerEvent) {
    let name = names::secretary_name(&secretary.id);
    let payload = pb::SecretaryAppointed {
        secretary: name.clone(),
        region: secretary.region.to_string(),
        appointment_date: shequ_kit::convert::format_date(event.effective_date),
        career_event: event_pb(event).name,
        tenure: secretary.tenure,
    };
    tx.publish(&name, secretary.region, &payload);
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateSecretaryRequest,
) -> Result<pb::Secretary, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_WRITERS, "CreateSecretary")?;
    let input = request.secretary.ok_or_else(|| {
        Error::invalid(
            "secretary",
            "FIELD_REQUIRED",
            "the secretary to create is required",
        )
    })?;
    let new = parse_new(ctx, &input)?;
    caller.require_scope(new.region, "secretary.region")?;
    let (secretary, appointment) = Secretary::appoint(
        new_id(),
        new_id(),
        new,
        &caller.subject,
        ctx.kit.clock.now(),
    );
    call.target(&names::secretary_name(&secretary.id), secretary.region);
    let mut tx = call.begin(ctx.store.database()).await?;
    ctx.store
        .insert_secretary(&mut tx, &secretary, &appointment)
        .await?;
    // A reserve candidate with the same ID number became this secretary.
    let name = names::secretary_name(&secretary.id);
    let linked = ctx
        .store
        .link_candidate(&mut tx, &secretary.id_number, &name, secretary.create_time)
        .await?;
    publish_appointment(&mut tx, &secretary, &appointment);
    tx.commit().await?;
    if linked {
        tracing::info!(secretary = %secretary.id, "reserve candidate appointed");
    }
    tracing::info!(secretary = %secretary.id, region = %secretary.region, "secretary created");
    Ok(secretary_pb(&secretary, false))
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetSecretaryRequest,
) -> Result<pb::Secretary, Error> {
    let view = pb::SecretaryView::try_from(request.view).map_err(|_| {
        Error::invalid(
            "view",
            "ENUM_VALUE_UNKNOWN",
            format!("{} is not a known view", request.view),
        )
    })?;
    let secretary = load_readable(ctx, call, "name", &request.name, "GetSecretary").await?;
    let unmasked = view == pb::SecretaryView::Unmasked;
    if unmasked {
        access::check_unmasked(call.caller(), &secretary)?;
        call.sensitive_read();
    }
    Ok(secretary_pb(&secretary, unmasked))
}

#[derive(Serialize, Deserialize)]
struct ListCursor {
    after: String,
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListSecretariesRequest,
) -> Result<pb::ListSecretariesResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_READERS, "ListSecretaries")?;
    let scope = names::region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let page = ctx.kit.tokens.page::<_, ListCursor>(&request)?;
    let filter = SecretaryFilter {
        status: convert::status("status", request.status)?,
        ladder: convert::ladder("ladder", request.ladder)?,
        rung: convert::rung("rung", request.rung)?,
    };
    caller.require_scope(scope, "parent")?;
    let after = page.cursor.as_ref().map(|c| c.after.as_str());
    let mut secretaries = ctx
        .store
        .list_secretaries(scope, filter, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut secretaries, |last| ListCursor {
        after: last.id.clone(),
    });
    Ok(pb::ListSecretariesResponse {
        secretaries: secretaries.iter().map(|s| secretary_pb(s, false)).collect(),
        next_page_token,
    })
}

/// The profile after the changes `mask` names, every changed field checked.
fn apply_changes(
    ctx: &Context,
    stored: &Secretary,
    input: &pb::Secretary,
    mask: &aip::UpdateMask,
) -> Result<Secretary, Error> {
    let today = ctx.kit.clock.today();
    let mut next = stored.clone();
    let mut checks = Checks::new();
    let field = |path: &str| format!("secretary.{path}");
    if mask.has("display_name") {
        let value = checks.text(&field("display_name"), &input.display_name, NAME_MAX);
        if let Some(v) = value.into_option() {
            next.display_name = v;
        }
    }
    if mask.has("gender") {
        let value = checks.take(required_enum(
            &field("gender"),
            convert::gender(&field("gender"), input.gender),
        ));
        if let Some(v) = value.into_option() {
            next.gender = v;
        }
    }
    if mask.has("birth_date") {
        let value = checks.past_date(&field("birth_date"), &input.birth_date, today);
        if let Some(v) = value.into_option() {
            next.birth_date = v;
        }
    }
    if mask.has("id_number") {
        let value = check_id_number(
            &mut checks,
            &field("id_number"),
            &input.id_number,
            None,
            None,
        );
        if let Some(v) = value.into_option() {
            next.id_number = v;
        }
    }
    if mask.has("phone_number") {
        let value = check_phone(&mut checks, &field("phone_number"), &input.phone_number);
        if let Some(v) = value.into_option() {
            next.phone_number = v;
        }
    }
    if mask.has("education") {
        let value = checks.take(required_enum(
            &field("education"),
            convert::education(&field("education"), input.education),
        ));
        if let Some(v) = value.into_option() {
            next.education = v;
        }
    }
    if mask.has("political_status") {
        let value = checks.take(convert::political_status(
            &field("political_status"),
            input.political_status,
        ));
        if let Some(v) = value.into_option() {
            next.political_status = v.unwrap_or(crate::domain::PoliticalStatus::Unspecified);
        }
    }
    if mask.has("community_work_start_date") {
        let value = checks.past_date(
            &field("community_work_start_date"),
            &input.community_work_start_date,
            today,
        );
        if let Some(v) = value.into_option() {
            next.community_work_start = v;
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
    Ok(next)
}

/// The appointment date belongs to the career history: a mask naming it is told where it is
/// corrected instead of being refused as an unknown field.
fn refuse_history_dates(mask: Option<&prost_types::FieldMask>) -> Result<(), Error> {
    let named = mask.is_some_and(|m| {
        m.paths
            .iter()
            .any(|p| p == "appointment_date" || p == "appointmentDate")
    });
    if named {
        return Err(Error::invalid(
            "update_mask",
            "CORRECT_THROUGH_HISTORY",
            "the appointment date is part of the career history: correct it with \
             CorrectCareerEvent on the appointment event, so that the history, the date of the \
             current rung and the profile agree",
        ));
    }
    Ok(())
}

pub(crate) async fn update(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateSecretaryRequest,
) -> Result<pb::Secretary, Error> {
    let input = request.secretary.ok_or_else(|| {
        Error::invalid("secretary", "FIELD_REQUIRED", "the secretary is required")
    })?;
    // Authorised before validated: a caller who may not write learns nothing about the input.
    let stored = load_writable(ctx, call, "secretary.name", &input.name, "UpdateSecretary").await?;
    refuse_history_dates(request.update_mask.as_ref())?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, UPDATABLE)?;
    let expected = aip::parse_etag("secretary.etag", &input.etag)?;
    let mut next = apply_changes(ctx, &stored, &input, &mask)?;
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    next.version = stored.version + 1;
    next.update_time = ctx.kit.clock.now();
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = ctx.store.update_profile(&mut tx, &next, expected).await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(secretary_pb(&next, false))
}

pub(crate) async fn check_qualification(
    ctx: &Context,
    call: &Call,
    request: pb::CheckSecretaryQualificationRequest,
) -> Result<pb::QualificationCheck, Error> {
    let secretary = load_readable(
        ctx,
        call,
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
