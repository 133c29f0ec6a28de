//! 青蓝工程 mentoring: pairs within the province's capacity per mentor, mentors who meet the
//! eligibility rules, and the history of every pair.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    call::Call,
    convert::{format_date, new_id},
    error::Precondition,
    validate::Checks,
};
use shequ_proto::training::v1 as pb;

use super::{
    ADMINS, Context, ids, readable_secretary, region_of, secretary_name, writable_secretary,
};
use crate::{domain, store};

const REASON_MAX: usize = 500;

fn mentorship_pb(m: &store::Mentorship) -> pb::Mentorship {
    pb::Mentorship {
        name: format!("mentorships/{}", m.id),
        mentor: secretary_name(&m.mentor_id),
        mentee: secretary_name(&m.mentee_id),
        start_date: format_date(m.start_date),
        end_date: m.end_date.map(format_date).unwrap_or_default(),
        state: if m.end_date.is_some() {
            pb::MentorshipState::Ended
        } else {
            pb::MentorshipState::Active
        } as i32,
        end_reason: m.end_reason.clone(),
    }
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateMentorshipRequest,
) -> Result<pb::Mentorship, Error> {
    call.caller().require_any(ADMINS, "CreateMentorship")?;
    let input = request.mentorship.ok_or_else(|| {
        Error::invalid("mentorship", "FIELD_REQUIRED", "the mentorship is required")
    })?;
    let mut checks = Checks::new();
    let mentor = checks.take(
        ids("mentorship.mentor", &input.mentor, &["secretaries", "*"]).map(|f| f[0].to_owned()),
    );
    let mentee = checks.take(
        ids("mentorship.mentee", &input.mentee, &["secretaries", "*"]).map(|f| f[0].to_owned()),
    );
    if let (Some(a), Some(b)) = (mentor.get(), mentee.get()) {
        checks.rule(
            a == b,
            "mentorship.mentee",
            "MENTEE_IS_MENTOR",
            "a secretary cannot mentor themself",
        );
    }
    let start = checks.past_date_or_today(
        "mentorship.start_date",
        &input.start_date,
        ctx.kit.clock.today(),
    );
    let valid = checks.finish()?;
    let mentor =
        writable_secretary(ctx, call, &valid.value(mentor), ADMINS, "CreateMentorship").await?;
    let mentee =
        writable_secretary(ctx, call, &valid.value(mentee), ADMINS, "CreateMentorship").await?;
    let start = valid.value(start);
    if !mentee.active() {
        return Err(Error::precondition(
            "SECRETARY_NOT_IN_POST",
            format!("{} is no longer in post", secretary_name(&mentee.id)),
        ));
    }
    let province = region_of(&mentee.region)?.province().to_string();
    let policy = store::policy(&ctx.kit.database, &province).await?.policy;
    let facts = domain::MentorFacts {
        active: mentor.active(),
        appointment_date: mentor.appointment_date,
        violation_dates: store::violation_dates(&ctx.kit.database, &mentor.id).await?,
    };
    let unmet: Vec<domain::Rule> = domain::mentor_rules(&facts, &policy, start)
        .into_iter()
        .filter(|r| !r.met)
        .collect();
    if !unmet.is_empty() {
        return Err(Error::FailedPrecondition {
            reason: "MENTOR_NOT_ELIGIBLE",
            message: format!(
                "{} cannot mentor: {}",
                secretary_name(&mentor.id),
                unmet
                    .iter()
                    .map(|r| r.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            preconditions: unmet
                .iter()
                .map(|r| Precondition {
                    kind: "ELIGIBILITY",
                    subject: r.code.to_owned(),
                    description: r.detail.clone(),
                })
                .collect(),
            metadata: vec![("mentor", secretary_name(&mentor.id))],
        });
    }
    let pair = store::Mentorship {
        id: new_id(),
        mentor_id: mentor.id.clone(),
        mentee_id: mentee.id.clone(),
        region: mentee.region.clone(),
        start_date: start,
        end_date: None,
        end_reason: String::new(),
    };
    call.target(
        &format!("mentorships/{}", pair.id),
        region_of(&mentee.region)?,
    );
    let mut tx = call.begin(&ctx.kit.database).await?;
    if !store::insert_mentorship(&mut tx, &pair, call.now()).await? {
        tx.rollback().await?;
        return Err(Error::AlreadyExists {
            reason: "MENTEE_ALREADY_PAIRED",
            message: format!(
                "{} already has a mentor; end that pair first",
                secretary_name(&mentee.id)
            ),
            resource: None,
        });
    }
    if !store::take_mentor_slot(&mut tx, &mentor.id, i64::from(policy.mentor_capacity)).await? {
        tx.rollback().await?;
        return Err(Error::FailedPrecondition {
            reason: "MENTOR_AT_CAPACITY",
            message: format!(
                "{} already mentors {} newcomers, the most the province allows",
                secretary_name(&mentor.id),
                policy.mentor_capacity
            ),
            preconditions: Vec::new(),
            metadata: vec![("capacity", policy.mentor_capacity.to_string())],
        });
    }
    tx.commit().await?;
    Ok(mentorship_pb(&pair))
}

pub(crate) async fn end(
    ctx: &Context,
    call: &Call,
    request: pb::EndMentorshipRequest,
) -> Result<pb::Mentorship, Error> {
    call.caller().require_any(ADMINS, "EndMentorship")?;
    let id = ids("name", &request.name, &["mentorships", "*"])?[0];
    let pair = match store::mentorship(&ctx.kit.database, id).await? {
        Some(p) if call.caller().covers(region_of(&p.region)?) => p,
        _ => return Err(Error::not_found(request.name)),
    };
    let mut checks = Checks::new();
    let reason = checks.text("reason", &request.reason, REASON_MAX);
    let valid = checks.finish()?;
    if pair.end_date.is_some() {
        return Err(Error::precondition(
            "MENTORSHIP_ENDED",
            format!("{} has already ended", request.name),
        ));
    }
    let today = ctx.kit.clock.today().max(pair.start_date);
    let reason = valid.value(reason);
    call.target(&request.name, region_of(&pair.region)?);
    let mut tx = call.begin(&ctx.kit.database).await?;
    let ended = store::end_mentorship(&mut tx, &pair, today, &reason).await?;
    if !tx.commit_if(ended).await? {
        return Err(Error::precondition(
            "MENTORSHIP_ENDED",
            format!("{} has already ended", request.name),
        ));
    }
    Ok(mentorship_pb(&store::Mentorship {
        end_date: Some(today),
        end_reason: reason,
        ..pair
    }))
}

#[derive(Serialize, Deserialize)]
struct After(String, String);

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListMentorshipsRequest,
) -> Result<pb::ListMentorshipsResponse, Error> {
    let id = ids("parent", &request.parent, &["secretaries", "*"])?[0];
    let secretary = readable_secretary(ctx, call, id, "ListMentorships").await?;
    let page = ctx.kit.tokens.page::<_, After>(&request)?;
    let cursor = page.cursor.as_ref().map(|a| (a.0.clone(), a.1.clone()));
    let mut rows = store::mentorships_of(
        &ctx.kit.database,
        &secretary.id,
        cursor.as_ref(),
        page.fetch(),
    )
    .await?;
    let next_page_token = page.next(&mut rows, |m| After(m.start_date.to_string(), m.id.clone()));
    Ok(pb::ListMentorshipsResponse {
        mentorships: rows.iter().map(mentorship_pb).collect(),
        next_page_token,
    })
}
