//! Statistics of warnings, and evaluation's per-secretary summaries.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use shequ_kit::{
    Error,
    auth::Role,
    call::Call,
    clock::china_time,
    convert::{format_date, parse_date_or, to_timestamp},
    names::{region_parent, top_level_id},
    regions::{Level, RegionCode},
    validate::Checks,
};
use shequ_proto::warnings::v1 as pb;

use super::{Context, access, convert::kind_pb};
use crate::{domain::DeadlineKind, store::KindRecord};

/// Midnight at the start of `date` in China Standard Time.
fn day_start(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(china_time()).single())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

/// Digits that name the regions one level below `scope` (a community is its own).
fn child_digits(scope: RegionCode) -> usize {
    match scope.level() {
        Level::Province => 4,
        Level::City => 6,
        Level::County => 9,
        Level::Street | Level::Community => 12,
    }
}

fn rate(on_time: i64, late: i64) -> f64 {
    if on_time + late == 0 {
        0.0
    } else {
        on_time as f64 / (on_time + late) as f64
    }
}

fn on_time_pb(records: &[KindRecord]) -> Vec<pb::OnTimeRate> {
    DeadlineKind::ALL
        .iter()
        .map(|kind| {
            let (on_time, late) = records
                .iter()
                .find(|r| r.kind == kind.code())
                .map_or((0, 0), |r| (r.on_time, r.late));
            pb::OnTimeRate {
                kind: kind_pb(*kind) as i32,
                on_time: on_time as i32,
                late: late as i32,
                rate: rate(on_time, late),
            }
        })
        .collect()
}

fn counts_pb(prefix: &str, rows: Vec<(String, i64)>) -> Vec<pb::WarningCount> {
    rows.into_iter()
        .map(|(key, count)| pb::WarningCount {
            key: format!("{prefix}{key}"),
            count: count as i32,
        })
        .collect()
}

pub(crate) async fn statistics(
    ctx: &Context,
    call: &Call,
    request: pb::GetWarningStatisticsRequest,
) -> Result<pb::WarningStatistics, Error> {
    let caller = call.caller();
    caller.require_any(access::STATISTICS_READERS, "GetWarningStatistics")?;
    let today = ctx.kit.clock.today();
    let mut checks = Checks::new();
    let scope = checks.take(region_parent(&ctx.kit.regions, "region", &request.region));
    let first_of_year = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let start = checks.take(parse_date_or(
        "start_date",
        &request.start_date,
        first_of_year,
    ));
    let end = checks.take(parse_date_or("end_date", &request.end_date, today));
    if let (Some(start), Some(end)) = (start.get(), end.get()) {
        checks.rule(
            end < start,
            "end_date",
            "DATE_ORDER",
            format!("the period ends ({end}) before it starts ({start})"),
        );
    }
    let valid = checks.finish()?;
    let scope = valid.value(scope);
    caller.require_scope(scope, "region")?;
    let (start, end) = (valid.value(start), valid.value(end));
    let now = ctx.kit.clock.now();
    let counts = ctx
        .store
        .statistics(
            scope,
            day_start(start),
            day_start(end + chrono::Duration::days(1)),
            now,
            child_digits(scope),
        )
        .await?;
    Ok(pb::WarningStatistics {
        region: format!("regions/{scope}"),
        start_date: format_date(start),
        end_date: format_date(end),
        total: counts.total as i32,
        by_colour: counts_pb("COLOUR_", counts.by_colour),
        by_state: counts_pb("WARNING_STATE_", counts.by_state),
        by_category: counts_pb("", counts.by_category),
        by_region: counts
            .by_region
            .into_iter()
            .map(|(prefix, count)| pb::WarningCount {
                key: format!("{prefix:0<12}"),
                count: count as i32,
            })
            .collect(),
        overdue: counts.overdue as i32,
        on_time: on_time_pb(&counts.on_time),
        compute_time: Some(to_timestamp(now)),
    })
}

/// Secretaries one batch may ask for.
const MAX_SECRETARIES: usize = 500;

pub(crate) async fn secretary_summaries(
    ctx: &Context,
    call: &Call,
    request: pb::BatchGetSecretaryWarningSummariesRequest,
) -> Result<pb::BatchGetSecretaryWarningSummariesResponse, Error> {
    let caller = call.caller();
    let mut allowed = access::ADMINS.to_vec();
    // evaluation, as itself, where the grant table lets it
    allowed.push(Role::Service);
    caller.require_any(&allowed, "BatchGetSecretaryWarningSummaries")?;
    let mut checks = Checks::new();
    checks.rule(
        request.secretaries.is_empty(),
        "secretaries",
        "FIELD_REQUIRED",
        "name at least one secretary",
    );
    checks.rule(
        request.secretaries.len() > MAX_SECRETARIES,
        "secretaries",
        "TOO_MANY_VALUES",
        format!(
            "at most {MAX_SECRETARIES}, got {}",
            request.secretaries.len()
        ),
    );
    let mut names = Vec::new();
    for (i, name) in request.secretaries.iter().enumerate() {
        let field = format!("secretaries[{i}]");
        match checks
            .take(top_level_id(&field, name, "secretaries").map(|id| format!("secretaries/{id}")))
            .into_option()
        {
            Some(name) if names.contains(&name) => {
                checks.rule(true, &field, "DUPLICATE_VALUE", "each secretary once");
            }
            Some(name) => names.push(name),
            None => {}
        }
    }
    checks.rule(
        !(2000..=2100).contains(&request.year),
        "year",
        "YEAR_INVALID",
        "a year between 2000 and 2100",
    );
    checks.finish()?;
    let from = day_start(NaiveDate::from_ymd_opt(request.year, 1, 1).unwrap_or_default());
    let to = day_start(NaiveDate::from_ymd_opt(request.year + 1, 1, 1).unwrap_or_default());
    let now = ctx.kit.clock.now();
    let mut summaries = Vec::with_capacity(names.len());
    for name in names {
        // unknown to the roster, or serving outside the caller's scope: not found
        let known = ctx.store.roster_region(&name).await?;
        if !known.is_some_and(|region| caller.covers(region)) {
            return Err(Error::not_found(&name));
        }
        let counts = ctx.store.secretary_counts(&name, from, to, now).await?;
        summaries.push(pb::SecretaryWarningSummary {
            secretary: name,
            year: request.year,
            warnings_assigned: counts.assigned as i32,
            warnings_resolved: counts.resolved as i32,
            deadlines_on_time: counts.on_time as i32,
            deadlines_late: counts.late as i32,
            on_time_rate: rate(counts.on_time, counts.late),
        });
    }
    Ok(pb::BatchGetSecretaryWarningSummariesResponse { summaries })
}
