//! Annual results: finalisation over a region, with training's and warnings' figures read as the
//! evaluation service itself, and reading a result with its breakdown.

use std::collections::{BTreeMap, HashMap};

use shequ_kit::{
    Error,
    auth::Role,
    call::Call,
    client::Acting,
    convert::{db_time_to_timestamp, to_db_time, to_timestamp},
    names::region_parent,
};
use shequ_proto::{
    evaluation::v1 as pb,
    training::v1::{self as training, training_service_client::TrainingServiceClient},
    warnings::v1::{self as warnings, warnings_service_client::WarningsServiceClient},
};

use super::{
    Context,
    assessments::{OWN_READERS, secretary_in_scope},
    ids,
    schemes::scheme_name,
    year,
};
use crate::{
    domain::{self, Certificate, Fed, Source, YearInputs},
    store::{self, StoredLine, StoredResult},
};

/// Finalising: district administrators and above, over a region in scope.
pub(crate) const FINALISERS: &[Role] = &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
/// Secretaries per warnings batch (its limit).
const WARNINGS_BATCH: usize = 500;
/// Learning summaries per page.
const TRAINING_PAGE: i32 = 500;

pub(crate) fn result_pb(r: &StoredResult) -> Result<pb::AnnualResult, Error> {
    Ok(pb::AnnualResult {
        name: format!("{}/annualResults/{}", r.secretary, r.year),
        year: r.year,
        region: r.region.clone(),
        score: r.score,
        internal_score: r.internal,
        external_score: r.external,
        x_points: r.x_points,
        quarters: r.quarters.clone(),
        indicator_scheme: r.scheme.clone(),
        breakdown: r
            .breakdown
            .iter()
            .map(|l| {
                Ok(pb::BreakdownLine {
                    item: l.item.clone(),
                    value: l.value,
                    weight: l.weight,
                    source: l.source.clone(),
                    as_of: if l.as_of.is_empty() {
                        None
                    } else {
                        Some(db_time_to_timestamp(&l.as_of)?)
                    },
                    explanation: l.explanation.clone(),
                })
            })
            .collect::<Result<_, Error>>()?,
        finalise_time: Some(to_timestamp(r.finalise_time)),
    })
}

fn certificate(level: i32) -> Certificate {
    match training::CertificateLevel::try_from(level) {
        Ok(training::CertificateLevel::Basic) => Certificate::Basic,
        Ok(training::CertificateLevel::Advanced) => Certificate::Advanced,
        Ok(training::CertificateLevel::Senior) => Certificate::Senior,
        _ => Certificate::None,
    }
}

/// Training's learning summaries of `year` for every secretary it knows under `parent`,
/// mapped to 0-100.
async fn learning(
    ctx: &Context,
    call: &Call,
    parent: &str,
    year: i32,
) -> Result<HashMap<String, Fed>, Error> {
    let dependency = ctx.kit.dependency("training")?;
    let mut found = HashMap::new();
    let mut page_token = String::new();
    loop {
        let outgoing = dependency.prepare(Some(call), Acting::AsService)?;
        let request = training::ListLearningSummariesRequest {
            parent: parent.to_owned(),
            year,
            page_size: TRAINING_PAGE,
            page_token: page_token.clone(),
        };
        let page = dependency
            .call(&outgoing, true, request, |channel, request| async move {
                TrainingServiceClient::new(channel)
                    .list_learning_summaries(request)
                    .await
            })
            .await?;
        let as_of = to_db_time(ctx.kit.clock.now());
        for s in page.learning_summaries {
            let level = certificate(s.certificate_level);
            let value = domain::learning_score(s.total_hours, s.total_quota, level);
            found.insert(
                s.secretary.clone(),
                Fed {
                    value,
                    detail: format!(
                        "{} of {} hours, certificate {:?} (min(hours/quota,1)×80 + certificate)",
                        s.total_hours, s.total_quota, level
                    ),
                    as_of: as_of.clone(),
                },
            );
        }
        if page.next_page_token.is_empty() {
            return Ok(found);
        }
        page_token = page.next_page_token;
    }
}

/// Warnings' yearly on-time figures of `secretaries`, mapped to 0-100.
async fn governance(
    ctx: &Context,
    call: &Call,
    secretaries: &[String],
    year: i32,
) -> Result<HashMap<String, Fed>, Error> {
    let dependency = ctx.kit.dependency("warnings")?;
    let mut found = HashMap::new();
    for batch in secretaries.chunks(WARNINGS_BATCH) {
        let outgoing = dependency.prepare(Some(call), Acting::AsService)?;
        let request = warnings::BatchGetSecretaryWarningSummariesRequest {
            secretaries: batch.to_vec(),
            year,
        };
        let answer = dependency
            .call(&outgoing, true, request, |channel, request| async move {
                WarningsServiceClient::new(channel)
                    .batch_get_secretary_warning_summaries(request)
                    .await
            })
            .await?;
        let as_of = to_db_time(ctx.kit.clock.now());
        for s in answer.summaries {
            found.insert(
                s.secretary.clone(),
                Fed {
                    value: domain::warnings_score(s.deadlines_on_time, s.deadlines_late),
                    detail: format!(
                        "{} of {} deadlines on time (on-time rate × 100; none due: 100)",
                        s.deadlines_on_time,
                        s.deadlines_on_time + s.deadlines_late
                    ),
                    as_of: as_of.clone(),
                },
            );
        }
    }
    Ok(found)
}

pub(crate) async fn finalise(
    ctx: &Context,
    call: &Call,
    request: pb::FinaliseAnnualResultsRequest,
) -> Result<pb::FinaliseAnnualResultsResponse, Error> {
    let caller = call.caller();
    caller.require_any(FINALISERS, "FinaliseAnnualResults")?;
    let region = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let year = year("year", request.year)?;
    caller.require_scope(region, "parent")?;
    call.target(&request.parent, region);
    let db = &ctx.kit.database;
    let prefix = region.prefix();
    let roster = store::roster_under(db, &prefix).await?;
    let already: std::collections::HashSet<String> = store::final_under(db, &prefix, year)
        .await?
        .into_iter()
        .collect();
    let pending: Vec<&store::Serving> = roster
        .iter()
        .filter(|s| !already.contains(&s.secretary))
        .collect();
    let mut response = pb::FinaliseAnnualResultsResponse {
        already_final: roster
            .iter()
            .filter(|s| already.contains(&s.secretary))
            .map(|s| s.secretary.clone())
            .collect(),
        ..Default::default()
    };
    if pending.is_empty() {
        return Ok(response);
    }
    let province = region.province().to_string();
    let scheme = store::current_scheme(db, &province, year).await?;
    let names: Vec<String> = pending.iter().map(|s| s.secretary.clone()).collect();
    let mut inputs: BTreeMap<String, YearInputs> = names
        .iter()
        .map(|n| (n.clone(), YearInputs::default()))
        .collect();
    for q in store::quarterlies_under(db, &prefix, year).await? {
        if let Some(i) = inputs.get_mut(&q.secretary) {
            i.quarters.insert(q.quarter, q.scores);
        }
    }
    for e in store::externals_under(db, &prefix, year).await? {
        if let Some(i) = inputs.get_mut(&e.secretary) {
            i.external = Some(e.score);
        }
    }
    for (secretary, indicator, points) in store::specials_under(db, &prefix, year).await? {
        if let Some(i) = inputs.get_mut(&secretary) {
            i.x_points.push((indicator, points));
        }
    }
    // Years the assessments already keep from being final are reported without asking anyone;
    // training and warnings are asked only about the others.
    let mut candidates = Vec::new();
    for serving in &pending {
        let gaps = domain::gaps(&scheme.scheme, &inputs[&serving.secretary]);
        if gaps.is_empty() {
            candidates.push(*serving);
        } else {
            response.not_final.push(pb::NotFinal {
                secretary: serving.secretary.clone(),
                reasons: gaps,
            });
        }
    }
    if candidates.is_empty() {
        return Ok(response);
    }
    let uses = |source: Source| scheme.scheme.core.iter().any(|c| c.source == source);
    // Every figure from elsewhere is read before anything is written: a service that cannot
    // answer fails the call (UNAVAILABLE naming it) and nothing is finalised.
    let learning = if uses(Source::Training) {
        learning(ctx, call, &request.parent, year).await?
    } else {
        HashMap::new()
    };
    let asked: Vec<String> = candidates.iter().map(|s| s.secretary.clone()).collect();
    let governance = if uses(Source::Warnings) {
        governance(ctx, call, &asked, year).await?
    } else {
        HashMap::new()
    };
    let now = ctx.kit.clock.now();
    let scheme_ref = scheme_name(&province, year, scheme.version);
    let mut results = Vec::new();
    for serving in &candidates {
        let i = inputs
            .get_mut(&serving.secretary)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("inputs of a pending secretary")))?;
        if let Some(fed) = learning.get(&serving.secretary) {
            i.fed.insert(Source::Training, fed.clone());
        }
        if let Some(fed) = governance.get(&serving.secretary) {
            i.fed.insert(Source::Warnings, fed.clone());
        }
        match domain::finalise(&scheme.scheme, i) {
            Ok(f) => results.push(StoredResult {
                secretary: serving.secretary.clone(),
                year,
                region: serving.region.clone(),
                score: f.score,
                internal: f.internal,
                external: f.external,
                x_points: f.x_applied,
                quarters: f.quarters_used,
                scheme: scheme_ref.clone(),
                breakdown: f
                    .lines
                    .into_iter()
                    .map(|l| StoredLine {
                        item: l.item,
                        value: l.value,
                        weight: l.weight,
                        source: l.source,
                        as_of: l.as_of,
                        explanation: l.explanation,
                    })
                    .collect(),
                finalise_time: now,
            }),
            Err(reasons) => response.not_final.push(pb::NotFinal {
                secretary: serving.secretary.clone(),
                reasons,
            }),
        }
    }
    if results.is_empty() {
        return Ok(response);
    }
    let mut tx = call.begin(db).await?;
    let stored = store::insert_results(&mut tx, &results).await?;
    for r in &results {
        if stored.contains(&r.secretary) {
            let mut answered = result_pb(r)?;
            if request.omit_breakdowns {
                answered.breakdown.clear();
            }
            response.finalised.push(answered);
        } else {
            // finalised by a concurrent call meanwhile: that one stands
            response.already_final.push(r.secretary.clone());
        }
    }
    tx.commit().await?;
    Ok(response)
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetAnnualResultRequest,
) -> Result<pb::AnnualResult, Error> {
    call.caller().require_any(OWN_READERS, "GetAnnualResult")?;
    let found = ids(
        "name",
        &request.name,
        &["secretaries", "*", "annualResults", "*"],
    )?;
    let parent = format!("secretaries/{}", found[0]);
    let year: i32 = found[1]
        .parse()
        .map_err(|_| Error::not_found(&request.name))?;
    let secretary = secretary_in_scope(ctx, call, "name", &parent, OWN_READERS)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::not_found(&request.name),
            other => other,
        })?;
    let stored = store::result(&ctx.kit.database, &secretary.secretary, year)
        .await?
        .ok_or_else(|| Error::not_found(&request.name))?;
    result_pb(&stored)
}
