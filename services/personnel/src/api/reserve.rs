//! The reserve talent pool and workforce statistics.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::{self, Mutable, required_enum},
    call::Call,
    convert::new_id,
    mutable_fields,
    regions::Level,
    validate::Checks,
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context, access,
    convert::{self, candidate_pb},
    names::{self, region_error},
};
use crate::domain::{ReserveCandidate, ReserveStatus, full_years, identity::IdNumber, statistics};

const NAME_MAX: usize = 50;
const NOTE_MAX: usize = 1_000;

const UPDATABLE: &[Mutable<pb::ReserveCandidate>] = mutable_fields!(pb::ReserveCandidate {
    display_name,
    gender,
    birth_date,
    education,
    readiness,
    status,
    note,
    id_number,
});

async fn load(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
) -> Result<ReserveCandidate, Error> {
    let id = names::candidate_id(field, name)?;
    let candidate = ctx
        .store
        .candidate(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    // Noted before the scope check, so a refused probe is audited in the district it probed.
    call.target(name, candidate.region);
    if !call.caller().covers(candidate.region) {
        return Err(Error::not_found(name));
    }
    Ok(candidate)
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateReserveCandidateRequest,
) -> Result<pb::ReserveCandidate, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_WRITERS, "CreateReserveCandidate")?;
    let input = request.reserve_candidate.ok_or_else(|| {
        Error::invalid(
            "reserve_candidate",
            "FIELD_REQUIRED",
            "the candidate is required",
        )
    })?;
    let today = ctx.kit.clock.today();
    let mut checks = Checks::new();
    let display_name = checks.text(
        "reserve_candidate.display_name",
        &input.display_name,
        NAME_MAX,
    );
    let gender = checks.take(convert::gender("reserve_candidate.gender", input.gender));
    let birth_date = checks.past_date("reserve_candidate.birth_date", &input.birth_date, today);
    let education = checks.take(required_enum(
        "reserve_candidate.education",
        convert::education("reserve_candidate.education", input.education),
    ));
    let readiness = checks.take(required_enum(
        "reserve_candidate.readiness",
        convert::readiness("reserve_candidate.readiness", input.readiness),
    ));
    let status = checks.take(convert::reserve_status(
        "reserve_candidate.status",
        input.status,
    ));
    let region = checks.take(
        ctx.kit
            .regions
            .known(&input.region)
            .map_err(|e| region_error("reserve_candidate.region", e)),
    );
    if let Some(region) = region.get() {
        checks.rule(
            region.level() < Level::Street,
            "reserve_candidate.region",
            "REGION_WRONG_LEVEL",
            "a candidate works in a street or a community",
        );
    }
    let entry = checks.past_date_or_today(
        "reserve_candidate.pool_entry_date",
        &input.pool_entry_date,
        today,
    );
    let note = checks.optional_text("reserve_candidate.note", &input.note, NOTE_MAX);
    let id_number =
        optional_id_number(&mut checks, "reserve_candidate.id_number", &input.id_number);
    if let Some(&birth) = birth_date.get() {
        checks.rule(
            full_years(birth, today) < 18,
            "reserve_candidate.birth_date",
            "DATE_ORDER",
            "a candidate is at least 18 years old",
        );
    }
    let valid = checks.finish()?;
    let region = valid.value(region);
    caller.require_scope(region, "reserve_candidate.region")?;
    let now = ctx.kit.clock.now();
    let candidate = ReserveCandidate {
        id: new_id(),
        region,
        display_name: valid.value(display_name),
        gender: valid.value(gender),
        birth_date: valid.value(birth_date),
        education: valid.value(education),
        readiness: valid.value(readiness),
        status: valid.value(status).unwrap_or(ReserveStatus::InPool),
        pool_entry_date: valid.value(entry),
        note: valid.value(note),
        id_number: valid.value(id_number),
        secretary: None,
        version: 1,
        create_time: now,
        update_time: now,
    };
    call.target(&format!("reserveCandidates/{}", candidate.id), region);
    let mut tx = call.begin(ctx.store.database()).await?;
    ctx.store.insert_candidate(&mut tx, &candidate).await?;
    tx.commit().await?;
    Ok(candidate_pb(&candidate))
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetReserveCandidateRequest,
) -> Result<pb::ReserveCandidate, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_READERS, "GetReserveCandidate")?;
    Ok(candidate_pb(&load(ctx, call, "name", &request.name).await?))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    after: String,
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListReserveCandidatesRequest,
) -> Result<pb::ListReserveCandidatesResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_READERS, "ListReserveCandidates")?;
    let scope = names::region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    let readiness = convert::readiness("readiness", request.readiness)?;
    let status = convert::reserve_status("status", request.status)?;
    caller.require_scope(scope, "parent")?;
    let after = page.cursor.as_ref().map_or("", |c| c.after.as_str());
    let mut candidates = ctx
        .store
        .list_candidates(scope, readiness, status, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut candidates, |last| IdCursor {
        after: last.id.clone(),
    });
    Ok(pb::ListReserveCandidatesResponse {
        reserve_candidates: candidates.iter().map(candidate_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn update(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateReserveCandidateRequest,
) -> Result<pb::ReserveCandidate, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_WRITERS, "UpdateReserveCandidate")?;
    let input = request.reserve_candidate.ok_or_else(|| {
        Error::invalid(
            "reserve_candidate",
            "FIELD_REQUIRED",
            "the candidate is required",
        )
    })?;
    // Authorised (role, then the record's scope) before validated.
    let stored = load(ctx, call, "reserve_candidate.name", &input.name).await?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, UPDATABLE)?;
    let expected = aip::parse_etag("reserve_candidate.etag", &input.etag)?;
    let mut next = apply_changes(ctx, &stored, &input, &mask)?;
    next.version = stored.version + 1;
    next.update_time = ctx.kit.clock.now();
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = ctx.store.update_candidate(&mut tx, &next, expected).await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(candidate_pb(&next))
}

/// The candidate after the changes `mask` names, every changed field checked.
fn apply_changes(
    ctx: &Context,
    stored: &ReserveCandidate,
    input: &pb::ReserveCandidate,
    mask: &aip::UpdateMask,
) -> Result<ReserveCandidate, Error> {
    let today = ctx.kit.clock.today();
    let field = |path: &str| format!("reserve_candidate.{path}");
    let mut next = stored.clone();
    let mut checks = Checks::new();
    if mask.has("display_name") {
        let value = checks.text(&field("display_name"), &input.display_name, NAME_MAX);
        if let Some(v) = value.into_option() {
            next.display_name = v;
        }
    }
    if mask.has("gender") {
        let value = checks.take(convert::gender(&field("gender"), input.gender));
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
    if mask.has("education") {
        let value = checks.take(required_enum(
            &field("education"),
            convert::education(&field("education"), input.education),
        ));
        if let Some(v) = value.into_option() {
            next.education = v;
        }
    }
    if mask.has("readiness") {
        let value = checks.take(required_enum(
            &field("readiness"),
            convert::readiness(&field("readiness"), input.readiness),
        ));
        if let Some(v) = value.into_option() {
            next.readiness = v;
        }
    }
    if mask.has("status") {
        let value = checks.take(required_enum(
            &field("status"),
            convert::reserve_status(&field("status"), input.status),
        ));
        if let Some(v) = value.into_option() {
            next.status = v;
        }
    }
    if mask.has("id_number") {
        let value = optional_id_number(&mut checks, &field("id_number"), &input.id_number);
        if let Some(v) = value.into_option() {
            next.id_number = v;
        }
    }
    if mask.has("note") {
        let value = checks.optional_text(&field("note"), &input.note, NOTE_MAX);
        if let Some(v) = value.into_option() {
            next.note = v;
        }
    }
    checks.finish()?;
    Ok(next)
}

/// An optional ID number: valid when given, and agreeing with the candidate's birth date.
fn optional_id_number(
    checks: &mut Checks,
    field: &str,
    text: &str,
) -> shequ_kit::validate::Checked<Option<IdNumber>> {
    if text.trim().is_empty() {
        return checks.take(Ok(None));
    }
    match IdNumber::parse(text) {
        Ok(id) => checks.take(Ok(Some(id))),
        Err(e) => checks.refuse(field, e.reason(), e.describe()),
    }
}

/// The year a statistics request is about: 0 means the current year; future years and years before
/// 2000 are refused.
fn year_of(field: &str, requested: i32, today: NaiveDate) -> Result<i32, Error> {
    let year = if requested == 0 {
        today.year()
    } else {
        requested
    };
    if !(2000..=today.year()).contains(&year) {
        return Err(Error::invalid(
            field,
            "YEAR_OUT_OF_RANGE",
            format!("year must be between 2000 and {}", today.year()),
        ));
    }
    Ok(year)
}

/// 1 January of `year` and the reference date: 31 December, or today for the current year.
fn year_bounds(year: i32, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid year");
    let end = NaiveDate::from_ymd_opt(year, 12, 31).expect("valid year");
    (start, end.min(today))
}

pub(crate) async fn progress(
    ctx: &Context,
    call: &Call,
    request: pb::GetReservePoolProgressRequest,
) -> Result<pb::ReservePoolProgress, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_READERS, "GetReservePoolProgress")?;
    let province = names::province(&ctx.kit.regions, "province", &request.province, None)?;
    let today = ctx.kit.clock.today();
    let year = year_of("year", request.year, today)?;
    access::check_pool_progress_read(caller, province, "GetReservePoolProgress")?;
    let target = ctx
        .store
        .career_policy(province)
        .await?
        .value
        .reserve_annual_target;
    let (start, end) = year_bounds(year, today);
    let counts = ctx.store.pool_counts(province, start, end).await?;
    let percent = if target > 0 {
        (counts.added as f64 * 1000.0 / f64::from(target)).round() / 10.0
    } else {
        0.0
    };
    Ok(pb::ReservePoolProgress {
        province: request.province,
        year,
        target,
        added: counts.added as i32,
        percent_of_target: percent,
        in_pool: counts.in_pool as i32,
        ready_now: counts.ready_now as i32,
    })
}

pub(crate) async fn statistics(
    ctx: &Context,
    call: &Call,
    request: pb::GetWorkforceStatisticsRequest,
) -> Result<pb::WorkforceStatistics, Error> {
    let caller = call.caller();
    caller.require_any(access::RECORD_READERS, "GetWorkforceStatistics")?;
    let region = names::region_parent(&ctx.kit.regions, "region", &request.region)?;
    let today = ctx.kit.clock.today();
    let year = year_of("year", request.year, today)?;
    caller.require_scope(region, "region")?;
    let (start, reference) = year_bounds(year, today);
    let people = ctx.store.statistics_rows(region).await?;
    let figures = statistics::compute(&people, region, start, reference);
    Ok(pb::WorkforceStatistics {
        region: request.region,
        year,
        headcount: figures.headcount,
        age_bands: figures
            .age_bands
            .iter()
            .map(|(label, count, certified)| pb::AgeBand {
                label: (*label).to_owned(),
                count: *count,
                certified: *certified,
                percent_certified: statistics::percent(*certified as usize, *count as usize),
            })
            .collect(),
        certified: figures.certified,
        percent_certified: statistics::percent(
            figures.certified as usize,
            figures.headcount as usize,
        ),
        certificates_as_of: match &ctx.training {
            Some(status) => match status.as_of(ctx.kit.clock.now()) {
                Some(at) => Some(at),
                None => shequ_kit::feed::last_handled(&ctx.kit.database, "training").await?,
            }
            .map(shequ_kit::convert::to_timestamp),
            None => None,
        },
        training_deployed: ctx.training.is_some(),
        percent_over_ten_years_service: figures.percent_over_ten_years_service,
        percent_with_title_promotion: figures.percent_with_title_promotion,
        transfer_rate_under_35: figures.transfer_rate_under_35,
        talent_loss_rate: figures.talent_loss_rate,
        headcount_at_start_of_year: figures.headcount_at_start_of_year,
        served_during_year: figures.served_during_year,
        served_during_year_under_35: figures.served_during_year_under_35,
    })
}
