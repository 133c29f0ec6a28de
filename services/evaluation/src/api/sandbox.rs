//! The sandbox (社区治理沙盘): a finalised cohort re-ranked under a draft scheme, writing
//! nothing, showing who moves into or out of the adjustment band and why.

use shequ_kit::{Error, call::Call, names::region_parent};
use shequ_proto::evaluation::v1 as pb;

use super::{Context, results::FINALISERS, schemes::scheme_from_pb, year};
use crate::{domain, store};

pub(crate) async fn simulate(
    ctx: &Context,
    call: &Call,
    request: pb::SimulateRankingRequest,
) -> Result<pb::SimulateRankingResponse, Error> {
    let caller = call.caller();
    caller.require_any(FINALISERS, "SimulateRanking")?;
    let region = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let year = year("year", request.year)?;
    let draft = request.draft_scheme.as_ref().ok_or_else(|| {
        Error::invalid(
            "draft_scheme",
            "FIELD_REQUIRED",
            "the draft scheme to simulate is required",
        )
    })?;
    let draft = scheme_from_pb("draft_scheme", draft)?;
    caller.require_scope(region, "parent")?;
    let db = &ctx.kit.database;
    let current = store::current_scheme(db, &region.province().to_string(), year).await?;
    let results = store::results_under(db, &region.prefix(), year).await?;
    let mut response = pb::SimulateRankingResponse::default();
    let mut now = Vec::new();
    let mut then = Vec::new();
    for r in &results {
        let lines: Vec<(String, f64)> = r
            .breakdown
            .iter()
            .map(|l| (l.item.clone(), l.value))
            .collect();
        match domain::resimulate(&draft, &r.quarters, r.external, &lines) {
            Ok(score) => {
                now.push((r.secretary.clone(), r.score));
                then.push((r.secretary.clone(), score));
            }
            Err(reason) => response.not_simulated.push(pb::NotFinal {
                secretary: r.secretary.clone(),
                reasons: vec![reason],
            }),
        }
    }
    let current_places = domain::rank(&now, current.scheme.adjustment_percent);
    let draft_places = domain::rank(&then, draft.adjustment_percent);
    response.current_band_minimum =
        domain::band_size(now.len(), current.scheme.adjustment_percent) as i32;
    response.simulated_band_minimum =
        domain::band_size(then.len(), draft.adjustment_percent) as i32;
    let edge = |places: &[domain::Place]| {
        places
            .iter()
            .filter(|p| p.flagged)
            .map(|p| p.score)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let (current_edge, draft_edge) = (edge(&current_places), edge(&draft_places));
    for p in &draft_places {
        let Some(c) = current_places.iter().find(|c| c.key == p.key) else {
            continue;
        };
        let (change, why) = match (c.flagged, p.flagged) {
            (false, true) => (
                pb::BandChange::MovesIn,
                format!(
                    "moves into the band: {:.2} → {:.2}, rank {} → {}, at or below the draft's edge {draft_edge:.2}",
                    c.score, p.score, c.rank, p.rank
                ),
            ),
            (true, false) => (
                pb::BandChange::MovesOut,
                format!(
                    "moves out of the band: {:.2} → {:.2}, rank {} → {}, above the draft's edge {draft_edge:.2} (was at or below {current_edge:.2})",
                    c.score, p.score, c.rank, p.rank
                ),
            ),
            (true, true) => (
                pb::BandChange::StaysIn,
                format!("stays in the band: {:.2} → {:.2}", c.score, p.score),
            ),
            (false, false) => (
                pb::BandChange::StaysOut,
                format!("stays out of the band: {:.2} → {:.2}", c.score, p.score),
            ),
        };
        response.places.push(pb::SimulatedPlace {
            secretary: p.key.clone(),
            current_score: c.score,
            simulated_score: p.score,
            current_rank: c.rank as i32,
            simulated_rank: p.rank as i32,
            currently_flagged: c.flagged,
            simulated_flagged: p.flagged,
            change: change as i32,
            explanation: why,
        });
    }
    Ok(response)
}
