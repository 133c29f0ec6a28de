//! Rankings with the adjustment band (动态调整), appeals that freeze a result until decided, and
//! confirmation, which queues each adjustment for personnel in the durable outbox.

use shequ_kit::{
    Error,
    aip::required_enum,
    auth::Role,
    call::Call,
    convert::{new_id, to_timestamp},
    names::top_level_id,
    regions::RegionCode,
};
use shequ_proto::evaluation::v1 as pb;

use super::{
    Context,
    assessments::{region_of, secretary_in_scope},
    ids,
    results::FINALISERS,
    year,
};
use crate::{
    domain,
    store::{self, StoredAppeal, StoredPlace, StoredRanking},
};

/// The tie rule, as every ranking states it.
pub(crate) const TIE_RULE: &str = "scores compare at 2 decimals; equal scores share a rank \
     (1, 2, 2, 4) and are listed by secretary name; every result tied with the highest score \
     inside the band is flagged too, so the band may hold more than its minimum, never fewer";

/// Appeals: the secretary themself, or a district administrator on their behalf.
const APPELLANTS: &[Role] = &[Role::DistrictAdmin, Role::Secretary];

fn delivery(place: &StoredPlace) -> pb::AdjustmentDelivery {
    match place.delivery.as_deref() {
        Some("RECORDED") => pb::AdjustmentDelivery::Recorded,
        Some(_) => pb::AdjustmentDelivery::Pending,
        None => pb::AdjustmentDelivery::None,
    }
}

fn ranking_pb(r: &StoredRanking) -> pb::Ranking {
    pb::Ranking {
        name: format!("rankings/{}", r.id),
        region: r.region.clone(),
        year: r.year,
        state: if r.state == "CONFIRMED" {
            pb::RankingState::Confirmed
        } else {
            pb::RankingState::Published
        } as i32,
        places: r
            .places
            .iter()
            .map(|p| pb::RankingPlace {
                secretary: p.secretary.clone(),
                annual_result: format!("{}/annualResults/{}", p.secretary, r.year),
                score: p.score,
                rank: p.rank,
                flagged: p.flagged,
                explanation: p.explanation.clone(),
                appeal_pending: p.appeal_pending,
                delivery: delivery(p) as i32,
                career_event: p.career_event.clone(),
            })
            .collect(),
        adjustment_percent: r.adjustment_percent,
        band_minimum: r.band_minimum,
        tie_rule: TIE_RULE.to_owned(),
        appeal_deadline: Some(to_timestamp(r.appeal_deadline)),
        created_by: r.created_by.clone(),
        create_time: Some(to_timestamp(r.create_time)),
        confirm_time: r.confirm_time.map(to_timestamp),
    }
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateRankingRequest,
) -> Result<pb::Ranking, Error> {
    let caller = call.caller();
    caller.require_any(FINALISERS, "CreateRanking")?;
    let input = request
        .ranking
        .ok_or_else(|| Error::invalid("ranking", "FIELD_REQUIRED", "the ranking is required"))?;
    let region = ctx
        .kit
        .regions
        .known(&input.region)
        .map_err(|e| shequ_kit::names::region_error("ranking.region", e))?;
    let year = year("ranking.year", input.year)?;
    caller.require_scope(region, "ranking.region")?;
    call.target("rankings", region);
    let db = &ctx.kit.database;
    let scheme = store::current_scheme(db, &region.province().to_string(), year).await?;
    let cohort = store::cohort(db, &region.prefix(), year).await?;
    if cohort.is_empty() {
        return Err(Error::precondition(
            "NO_FINAL_RESULTS",
            format!("no secretary serving in {region} has a final result of {year}"),
        ));
    }
    let percent = scheme.scheme.adjustment_percent;
    let minimum = domain::band_size(cohort.len(), percent);
    let places = domain::rank(&cohort, percent);
    let edge = places
        .iter()
        .filter(|p| p.flagged)
        .map(|p| p.score)
        .fold(f64::NEG_INFINITY, f64::max);
    let now = ctx.kit.clock.now();
    let ranking = StoredRanking {
        id: new_id(),
        region: region.to_string(),
        year,
        state: "PUBLISHED".to_owned(),
        adjustment_percent: percent,
        band_minimum: minimum as i32,
        appeal_deadline: now + chrono::Duration::days(i64::from(scheme.scheme.appeal_window_days)),
        created_by: caller.subject.clone(),
        create_time: now,
        confirm_time: None,
        places: places
            .iter()
            .map(|p| StoredPlace {
                secretary: p.key.clone(),
                score: p.score,
                rank: p.rank as i32,
                flagged: p.flagged,
                explanation: if p.flagged {
                    format!(
                        "rank {} of {}: within the lowest {percent}% (at least {minimum}, rounded up); band edge {edge:.2}",
                        p.rank,
                        places.len()
                    )
                } else {
                    format!("rank {} of {}: above the band edge {edge:.2}", p.rank, places.len())
                },
                appeal_pending: false,
                delivery: None,
                career_event: String::new(),
            })
            .collect(),
    };
    // where each ranked secretary serves, read once for the feed events
    let communities: std::collections::HashMap<String, String> =
        store::roster_under(db, &region.prefix())
            .await?
            .into_iter()
            .map(|s| (s.secretary, s.region))
            .collect();
    let mut tx = call.begin(db).await?;
    store::insert_ranking(&mut tx, &ranking).await?;
    let name = format!("rankings/{}", ranking.id);
    for p in &ranking.places {
        let community = region_of(
            communities
                .get(&p.secretary)
                .map_or(ranking.region.as_str(), String::as_str),
        )?;
        tx.publish(
            &p.secretary,
            community,
            &pb::BandMembershipChanged {
                secretary: p.secretary.clone(),
                year,
                score: p.score,
                in_band: p.flagged,
                ranking: name.clone(),
                explanation: p.explanation.clone(),
            },
        );
    }
    tx.commit().await?;
    Ok(ranking_pb(&ranking))
}

/// A ranking the caller's scope covers.
async fn ranking_in_scope(
    ctx: &Context,
    call: &Call,
    name: &str,
    roles: &[Role],
    operation: &str,
) -> Result<StoredRanking, Error> {
    call.caller().require_any(roles, operation)?;
    let id = top_level_id("name", name, "rankings")?;
    match store::ranking(&ctx.kit.database, id).await? {
        Some(r) if call.caller().covers(region_of(&r.region)?) => {
            call.target(name, region_of(&r.region)?);
            Ok(r)
        }
        _ => Err(Error::not_found(name)),
    }
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetRankingRequest,
) -> Result<pb::Ranking, Error> {
    let readers = [
        Role::ProvinceAdmin,
        Role::CityAdmin,
        Role::DistrictAdmin,
        Role::StreetOfficer,
    ];
    let r = ranking_in_scope(ctx, call, &request.name, &readers, "GetRanking").await?;
    Ok(ranking_pb(&r))
}

fn appeal_pb(a: &StoredAppeal) -> pb::Appeal {
    pb::Appeal {
        name: format!("{}/annualResults/{}/appeals/{}", a.secretary, a.year, a.id),
        reason: a.reason.clone(),
        state: match a.state.as_str() {
            "UPHELD" => pb::AppealState::Upheld,
            "DISMISSED" => pb::AppealState::Dismissed,
            _ => pb::AppealState::Pending,
        } as i32,
        decision_note: a.decision_note.clone(),
        filed_by: a.filed_by.clone(),
        decided_by: a.decided_by.clone(),
        create_time: Some(to_timestamp(a.create_time)),
        decide_time: a.decide_time.map(to_timestamp),
    }
}

fn text(field: &str, value: &str) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 1000 {
        return Err(Error::invalid(
            field,
            "INVALID_TEXT",
            "1 to 1000 characters",
        ));
    }
    Ok(value.to_owned())
}

pub(crate) async fn appeal(
    ctx: &Context,
    call: &Call,
    request: pb::CreateAppealRequest,
) -> Result<pb::Appeal, Error> {
    call.caller().require_any(APPELLANTS, "CreateAppeal")?;
    let found = ids(
        "parent",
        &request.parent,
        &["secretaries", "*", "annualResults", "*"],
    )?;
    let secretary = secretary_in_scope(
        ctx,
        call,
        "parent",
        &format!("secretaries/{}", found[0]),
        APPELLANTS,
    )
    .await
    .map_err(|e| match e {
        Error::NotFound { .. } => Error::not_found(&request.parent),
        other => other,
    })?;
    let year: i32 = found[1]
        .parse()
        .map_err(|_| Error::not_found(&request.parent))?;
    let db = &ctx.kit.database;
    if store::result(db, &secretary.secretary, year)
        .await?
        .is_none()
    {
        return Err(Error::not_found(&request.parent));
    }
    let reason = text(
        "appeal.reason",
        &request.appeal.map(|a| a.reason).unwrap_or_default(),
    )?;
    let now = ctx.kit.clock.now();
    if store::open_windows(db, &secretary.secretary, year, now)
        .await?
        .is_empty()
    {
        return Err(Error::precondition(
            "APPEAL_WINDOW_CLOSED",
            format!("no ranking holding {} is open for appeals", request.parent),
        ));
    }
    let appeal = StoredAppeal {
        id: new_id(),
        secretary: secretary.secretary.clone(),
        year,
        region: secretary.region.clone(),
        reason,
        state: "PENDING".to_owned(),
        decision_note: String::new(),
        filed_by: call.caller().subject.clone(),
        decided_by: String::new(),
        create_time: now,
        decide_time: None,
    };
    let mut tx = call.begin(db).await?;
    if !store::insert_appeal(&mut tx, &appeal).await? {
        tx.rollback().await?;
        return Err(Error::AlreadyExists {
            reason: "APPEAL_OPEN",
            message: format!("{} already has an open appeal", request.parent),
            resource: None,
        });
    }
    tx.commit().await?;
    Ok(appeal_pb(&appeal))
}

pub(crate) async fn decide(
    ctx: &Context,
    call: &Call,
    request: pb::DecideAppealRequest,
) -> Result<pb::Appeal, Error> {
    let caller = call.caller();
    caller.require_any(FINALISERS, "DecideAppeal")?;
    let found = ids(
        "name",
        &request.name,
        &["secretaries", "*", "annualResults", "*", "appeals", "*"],
    )?;
    let db = &ctx.kit.database;
    let stored = match store::appeal(db, found[2]).await? {
        Some(a)
            if a.secretary == format!("secretaries/{}", found[0])
                && a.year.to_string() == found[1]
                && caller.covers(region_of(&a.region)?) =>
        {
            a
        }
        _ => return Err(Error::not_found(&request.name)),
    };
    let region: RegionCode = region_of(&stored.region)?;
    call.target(&request.name, region);
    let decision = required_enum(
        "decision",
        match pb::AppealState::try_from(request.decision) {
            Ok(pb::AppealState::Upheld) => Ok(Some("UPHELD")),
            Ok(pb::AppealState::Dismissed) => Ok(Some("DISMISSED")),
            Ok(pb::AppealState::Unspecified) => Ok(None),
            _ => Err(Error::invalid(
                "decision",
                "VALUE_OUT_OF_RANGE",
                "a decision is APPEAL_STATE_UPHELD or APPEAL_STATE_DISMISSED",
            )),
        },
    )?;
    let note = text("note", &request.note)?;
    if stored.state != "PENDING" {
        return Err(Error::precondition(
            "APPEAL_DECIDED",
            format!("{} was decided already", request.name),
        ));
    }
    let now = ctx.kit.clock.now();
    let mut tx = call.begin(db).await?;
    if !store::decide_appeal(&mut tx, &stored.id, decision, &note, &caller.subject, now).await? {
        tx.rollback().await?;
        return Err(Error::precondition(
            "APPEAL_DECIDED",
            format!("{} was decided meanwhile", request.name),
        ));
    }
    if decision == "UPHELD" {
        let explanation = format!("appeal upheld: {note}");
        for ranking in store::unflag(&mut tx, &stored.secretary, stored.year, &explanation).await? {
            let score = store::result(db, &stored.secretary, stored.year)
                .await?
                .map_or(0.0, |r| r.score);
            tx.publish(
                &stored.secretary,
                region,
                &pb::BandMembershipChanged {
                    secretary: stored.secretary.clone(),
                    year: stored.year,
                    score,
                    in_band: false,
                    ranking: format!("rankings/{ranking}"),
                    explanation: explanation.clone(),
                },
            );
        }
    }
    tx.commit().await?;
    let mut decided = stored;
    decided.state = decision.to_owned();
    decided.decision_note = note;
    decided.decided_by = caller.subject.clone();
    decided.decide_time = Some(now);
    Ok(appeal_pb(&decided))
}

pub(crate) async fn confirm(
    ctx: &Context,
    call: &Call,
    request: pb::ConfirmAdjustmentsRequest,
) -> Result<pb::Ranking, Error> {
    let ranking =
        ranking_in_scope(ctx, call, &request.name, FINALISERS, "ConfirmAdjustments").await?;
    if ranking.state == "CONFIRMED" {
        return Ok(ranking_pb(&ranking));
    }
    let now = ctx.kit.clock.now();
    if now < ranking.appeal_deadline {
        return Err(Error::FailedPrecondition {
            reason: "APPEAL_WINDOW_OPEN",
            message: format!(
                "appeals are accepted until {}",
                ranking.appeal_deadline.to_rfc3339()
            ),
            preconditions: Vec::new(),
            metadata: vec![("appeal_deadline", ranking.appeal_deadline.to_rfc3339())],
        });
    }
    let pending: Vec<&str> = ranking
        .places
        .iter()
        .filter(|p| p.appeal_pending)
        .map(|p| p.secretary.as_str())
        .collect();
    if !pending.is_empty() {
        return Err(Error::precondition(
            "APPEALS_PENDING",
            format!("appeals of {} are undecided", pending.join(", ")),
        ));
    }
    let mut tx = call.begin(&ctx.kit.database).await?;
    if store::confirm(&mut tx, &ranking, now).await? {
        for p in ranking.places.iter().filter(|p| p.flagged) {
            tx.publish(
                &p.secretary,
                region_of(&ranking.region)?,
                &pb::AdjustmentConfirmed {
                    secretary: p.secretary.clone(),
                    year: ranking.year,
                    ranking: request.name.clone(),
                },
            );
        }
    }
    tx.commit().await?;
    ctx.outbox.notify_one();
    let id = top_level_id("name", &request.name, "rankings")?;
    let stored = store::ranking(&ctx.kit.database, id)
        .await?
        .ok_or_else(|| Error::not_found(&request.name))?;
    Ok(ranking_pb(&stored))
}
