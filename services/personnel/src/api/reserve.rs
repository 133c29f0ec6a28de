//! The reserve talent pool and workforce statistics.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use shequ_kit::validate::Checks;
use shequ_kit::{
    Error, audit::note_target, auth::Caller, convert::new_id, paging::page_size, regions::Level,
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context, access,
    convert::{self, candidate_pb, mask_paths, parse_etag, required_enum},
    names::{self, region_error},
};
use crate::domain::{ReserveCandidate, ReserveStatus, full_years, statistics};

const NAME_MAX: usize = 50;
const NOTE_MAX: usize = 1_000;

async fn load(
    ctx: &Context,
    caller: &Caller,
    field: &str,
    name: &str,
) -> Result<ReserveCandidate, Error> {
    let id = names::candidate_id(field, name)?;
    let candidate = ctx
        .store
        .candidate(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    if !caller.covers(candidate.region) {
        return Err(Error::not_found(name));
    }
    note_target(name, candidate.region);
    Ok(candidate)
}

pub(crate) async fn create(
    ctx: &Context,
    caller: &Caller,
    request: pb::CreateReserveCandidateRequest,
) -> Result<pb::ReserveCandidate, Error> {
    caller.require_any(access::RECORD_WRITERS, "CreateReserveCandidate")?;
    let input = request.reserve_candidate.ok_or_else(|| {
        Error::invalid(
            "reserve_candidate",
            "FIELD_REQUIRED",
            "the candidate is required",
        )
    })?;
    let today = ctx.clock.today();
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
        ctx.regions
            .known(&input.region)
            .map_err(|e| region_error("reserve_candidate.region", e)),
    );
    if let Some(region) = region {
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
    if let Some(birth) = birth_date {
        checks.rule(
            full_years(birth, today) < 18,
            "reserve_candidate.birth_date",
            "DATE_ORDER",
            "a candidate is at least 18 years old",
        );
    }
    checks.finish()?;
    let (
        Some(display_name),
        Some(gender),
        Some(birth_date),
        Some(education),
        Some(readiness),
        Some(status),
        Some(region),
        Some(pool_entry_date),
        Some(note),
    ) = (
        display_name,
        gender,
        birth_date,
        education,
        readiness,
        status,
        region,
        entry,
        note,
    )
    else {
        unreachable!("checked above");
    };
    caller.require_scope(region, "reserve_candidate.region")?;
    let now = ctx.clock.now();
    let candidate = ReserveCandidate {
        id: new_id(),
        region,
        display_name,
        gender,
        birth_date,
        education,
        readiness,
        status: status.unwrap_or(ReserveStatus::InPool),
        pool_entry_date,
        note,
        version: 1,
        create_time: now,
        update_time: now,
    };
    note_target(&format!("reserveCandidates/{}", candidate.id), region);
    ctx.store.insert_candidate(&candidate).await?;
    Ok(candidate_pb(&candidate))
}

pub(crate) async fn get(
    ctx: &Context,
    caller: &Caller,
    request: pb::GetReserveCandidateRequest,
) -> Result<pb::ReserveCandidate, Error> {
    caller.require_any(access::RECORD_READERS, "GetReserveCandidate")?;
    Ok(candidate_pb(
        &load(ctx, caller, "name", &request.name).await?,
    ))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    after: String,
}

pub(crate) async fn list(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListReserveCandidatesRequest,
) -> Result<pb::ListReserveCandidatesResponse, Error> {
    caller.require_any(access::RECORD_READERS, "ListReserveCandidates")?;
    let scope = names::region_parent(&ctx.regions, "parent", &request.parent)?;
    let limit = page_size(request.page_size)?;
    let readiness = convert::readiness("readiness", request.readiness)?;
    let status = convert::reserve_status("status", request.status)?;
    caller.require_scope(scope, "parent")?;
    let query = format!(
        "reserveCandidates|{scope}|{}|{}",
        request.readiness, request.status
    );
    let cursor: Option<IdCursor> = ctx.tokens.open(&request.page_token, &query)?;
    let mut page = ctx
        .store
        .list_candidates(
            scope,
            readiness,
            status,
            cursor.as_ref().map_or("", |c| c.after.as_str()),
            limit + 1,
        )
        .await?;
    let next_page_token = ctx
        .tokens
        .next_page(&query, &mut page, limit, |last| IdCursor {
            after: last.id.clone(),
        });
    Ok(pb::ListReserveCandidatesResponse {
        reserve_candidates: page.iter().map(candidate_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn update(
    ctx: &Context,
    caller: &Caller,
    request: pb::UpdateReserveCandidateRequest,
) -> Result<pb::ReserveCandidate, Error> {
    caller.require_any(access::RECORD_WRITERS, "UpdateReserveCandidate")?;
    let input = request.reserve_candidate.ok_or_else(|| {
        Error::invalid(
            "reserve_candidate",
            "FIELD_REQUIRED",
            "the candidate is required",
        )
    })?;
    // Authorised (role, then the record's scope) before validated.
    let stored = load(ctx, caller, "reserve_candidate.name", &input.name).await?;
    let paths = mask_paths(
        request.update_mask.as_ref(),
        &[
            "display_name",
            "gender",
            "birth_date",
            "education",
            "readiness",
            "status",
            "note",
        ],
    )?;
    let expected = parse_etag("reserve_candidate.etag", &input.etag)?;
    let today = ctx.clock.today();
    let mut next = stored.clone();
    let mut checks = Checks::new();
    for path in &paths {
        let field = format!("reserve_candidate.{path}");
        match path.as_str() {
            "display_name" => {
                if let Some(v) = checks.text(&field, &input.display_name, NAME_MAX) {
                    next.display_name = v;
                }
            }
            "gender" => {
                if let Some(v) = checks.take(convert::gender(&field, input.gender)) {
                    next.gender = v;
                }
            }
            "birth_date" => {
                if let Some(v) = checks.past_date(&field, &input.birth_date, today) {
                    next.birth_date = v;
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
            "readiness" => {
                if let Some(v) = checks.take(required_enum(
                    &field,
                    convert::readiness(&field, input.readiness),
                )) {
                    next.readiness = v;
                }
            }
            "status" => {
                if let Some(v) = checks.take(required_enum(
                    &field,
                    convert::reserve_status(&field, input.status),
                )) {
                    next.status = v;
                }
            }
            "note" => {
                if let Some(v) = checks.optional_text(&field, &input.note, NOTE_MAX) {
                    next.note = v;
                }
            }
            other => unreachable!("mask_paths admitted {other}"),
        }
    }
    checks.finish()?;
    next.version = stored.version + 1;
    next.update_time = ctx.clock.now();
    if stored.version != expected || !ctx.store.update_candidate(&next, expected).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(candidate_pb(&next))
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
    caller: &Caller,
    request: pb::GetReservePoolProgressRequest,
) -> Result<pb::ReservePoolProgress, Error> {
    let province = names::province(&ctx.regions, "province", &request.province, None)?;
    let today = ctx.clock.today();
    let year = year_of("year", request.year, today)?;
    access::check_policy_read(caller, province, "GetReservePoolProgress")?;
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
    caller: &Caller,
    request: pb::GetWorkforceStatisticsRequest,
) -> Result<pb::WorkforceStatistics, Error> {
    caller.require_any(access::RECORD_READERS, "GetWorkforceStatistics")?;
    let region = names::region_parent(&ctx.regions, "region", &request.region)?;
    let today = ctx.clock.today();
    let year = year_of("year", request.year, today)?;
    caller.require_scope(region, "region")?;
    let (start, reference) = year_bounds(year, today);
    let people = ctx.store.statistics_rows(region).await?;
    let figures = statistics::compute(&people, start, reference);
    Ok(pb::WorkforceStatistics {
        region: request.region,
        year,
        headcount: figures.headcount,
        age_bands: figures
            .age_bands
            .iter()
            .map(|(label, count)| pb::AgeBand {
                label: (*label).to_owned(),
                count: *count,
            })
            .collect(),
        percent_over_ten_years_service: figures.percent_over_ten_years_service,
        percent_with_title_promotion: figures.percent_with_title_promotion,
        transfer_rate_under_35: figures.transfer_rate_under_35,
        talent_loss_rate: figures.talent_loss_rate,
        headcount_at_start_of_year: figures.headcount_at_start_of_year,
    })
}
