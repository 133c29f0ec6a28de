//! 三阶九步 cultivation plans: made from personnel's appointments (see `follow`), read at a
//! glance, and signed off step by step by the mentor.

use chrono::NaiveDate;
use shequ_kit::{Error, auth::Role, call::Call, convert::format_date, validate::Checks};
use shequ_proto::training::v1 as pb;

use super::{ADMINS, Context, ids, is_secretary, readable_secretary, region_of, secretary_name};
use crate::{
    domain::{self, STEPS, StepRefusal, StepState},
    store,
};

const NOTE_MAX: usize = 1_000;

fn state_pb(state: StepState) -> pb::StepState {
    match state {
        StepState::NotYetOpen => pb::StepState::NotYetOpen,
        StepState::Open => pb::StepState::Open,
        StepState::Overdue => pb::StepState::Overdue,
        StepState::Done => pb::StepState::Done,
        StepState::DoneLate => pb::StepState::DoneLate,
    }
}

/// The plan as a street officer reads it: every step with its window and state, the next step,
/// the late ones, and one summary line.
pub(crate) fn plan_pb(
    plan: &store::Plan,
    steps: &[store::Step],
    mentor: Option<&str>,
    today: NaiveDate,
) -> pb::CultivationPlan {
    let start = plan.start_date;
    let mut out = Vec::new();
    let mut late = 0;
    for def in &STEPS {
        let done = steps.iter().find(|s| s.number == i64::from(def.number));
        let state = step_state_of(plan, def, done, today);
        let is_late = matches!(state, StepState::DoneLate | StepState::Overdue);
        if is_late {
            late += 1;
        }
        let (first, last) = domain::stage_window(start, def.stage);
        out.push(pb::PlanStep {
            number: def.number,
            stage: def.stage,
            stage_title: domain::stage_title(def.stage).to_owned(),
            title: def.title.to_owned(),
            window_start: format_date(first),
            window_end: format_date(last),
            state: state_pb(state) as i32,
            late: is_late,
            completed_on: done
                .map(|s| format_date(s.completed_on))
                .unwrap_or_default(),
            signed_off_by: done.map(|s| s.signed_off_by.clone()).unwrap_or_default(),
            note: done.map(|s| s.note.clone()).unwrap_or_default(),
        });
    }
    let done = steps.len() as i32;
    let next = if plan.state == "ACTIVE" && done < 9 {
        done + 1
    } else {
        0
    };
    let summary = match plan.state.as_str() {
        "COMPLETED" => format!(
            "Completed: 9/9 steps, {late} signed off late; last on {}",
            steps
                .last()
                .map(|s| format_date(s.completed_on))
                .unwrap_or_default()
        ),
        "CLOSED" => format!("Closed ({}) after {done}/9 steps", plan.closed_reason),
        _ => {
            let step = &out[(next - 1).max(0) as usize];
            let when = match pb::StepState::try_from(step.state).unwrap_or_default() {
                pb::StepState::Overdue => format!("OVERDUE since {}", step.window_end),
                pb::StepState::NotYetOpen => format!("opens {}", step.window_start),
                _ => format!("due by {}", step.window_end),
            };
            format!(
                "{done}/9 steps done; next: step {next} {} ({when}); {late} late; mentor: {}",
                step.title,
                mentor.unwrap_or("none yet")
            )
        }
    };
    pb::CultivationPlan {
        name: format!("{}/cultivationPlan", secretary_name(&plan.secretary_id)),
        secretary: secretary_name(&plan.secretary_id),
        region: plan.region.clone(),
        tenure: plan.tenure as i32,
        start_date: format_date(start),
        end_date: format_date(domain::plan_end(start)),
        state: match plan.state.as_str() {
            "COMPLETED" => pb::PlanState::Completed,
            "CLOSED" => pb::PlanState::Closed,
            _ => pb::PlanState::Active,
        } as i32,
        closed_reason: plan.closed_reason.clone(),
        mentor: mentor.unwrap_or_default().to_owned(),
        steps: out,
        steps_done: done,
        late_steps: late,
        next_step: next,
        summary,
    }
}

/// A closed plan's open steps are no longer due: they are shown as they stood.
fn step_state_of(
    plan: &store::Plan,
    def: &domain::StepDef,
    done: Option<&store::Step>,
    today: NaiveDate,
) -> StepState {
    let state = domain::step_state(plan.start_date, def, done.map(|s| s.completed_on), today);
    if plan.state != "ACTIVE" && done.is_none() && state == StepState::Overdue {
        return StepState::NotYetOpen;
    }
    state
}

async fn view(ctx: &Context, secretary: &store::Secretary) -> Result<pb::CultivationPlan, Error> {
    let name = format!("{}/cultivationPlan", secretary_name(&secretary.id));
    let plan = store::current_plan(&ctx.kit.database, &secretary.id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    let steps = store::steps(&ctx.kit.database, &plan.id).await?;
    let mentor = store::active_mentor(&ctx.kit.database, &secretary.id)
        .await?
        .map(|id| secretary_name(&id));
    Ok(plan_pb(
        &plan,
        &steps,
        mentor.as_deref(),
        ctx.kit.clock.today(),
    ))
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetCultivationPlanRequest,
) -> Result<pb::CultivationPlan, Error> {
    let id = ids(
        "name",
        &request.name,
        &["secretaries", "*", "cultivationPlan"],
    )?[0];
    let secretary = readable_secretary(ctx, call, id, "GetCultivationPlan").await?;
    view(ctx, &secretary).await
}

pub(crate) async fn complete_step(
    ctx: &Context,
    call: &Call,
    request: pb::CompletePlanStepRequest,
) -> Result<pb::CultivationPlan, Error> {
    let caller = call.caller();
    let mut roles = ADMINS.to_vec();
    roles.extend([Role::StreetOfficer, Role::Secretary]);
    caller.require_any(&roles, "CompletePlanStep")?;
    let id = ids(
        "name",
        &request.name,
        &["secretaries", "*", "cultivationPlan"],
    )?[0];
    let mentee = secretary_name(id);
    let secretary = store::secretary(&ctx.kit.database, id)
        .await?
        .ok_or_else(|| Error::not_found(mentee.clone()))?;
    let region = region_of(&secretary.region)?;
    let mentor = store::active_mentor(&ctx.kit.database, id)
        .await?
        .map(|m| secretary_name(&m));
    // Staff in scope record the mentor's sign-off; a secretary signs off only as the mentor.
    let staff = caller.has_any(&[
        Role::ProvinceAdmin,
        Role::CityAdmin,
        Role::DistrictAdmin,
        Role::StreetOfficer,
    ]) && caller.covers(region);
    let the_mentor =
        caller.has_any(&[Role::Secretary]) && mentor.is_some() && caller.secretary == mentor;
    if !staff && !the_mentor {
        if is_secretary(caller, &mentee, region) {
            return Err(Error::forbidden(
                "NOT_THE_MENTOR",
                "a step is signed off by the mentor, not by the secretary in training",
            ));
        }
        return Err(Error::not_found(mentee));
    }
    call.target(&request.name, region);
    let mut checks = Checks::new();
    let on =
        checks.past_date_or_today("completed_on", &request.completed_on, ctx.kit.clock.today());
    let step = checks.require(
        request.step,
        (1..=9).contains(&request.step),
        "step",
        "VALUE_OUT_OF_RANGE",
        format!("a step is numbered 1 to 9, got {}", request.step),
    );
    let note = checks.optional_text("note", &request.note, NOTE_MAX);
    let valid = checks.finish()?;
    let (on, step) = (valid.value(on), valid.value(step));
    let plan = store::current_plan(&ctx.kit.database, id)
        .await?
        .ok_or_else(|| Error::not_found(request.name.clone()))?;
    if plan.state != "ACTIVE" {
        return Err(Error::precondition(
            "PLAN_NOT_ACTIVE",
            format!("the plan is {}", plan.state.to_ascii_lowercase()),
        ));
    }
    let Some(mentor) = mentor else {
        return Err(Error::precondition(
            "MENTOR_REQUIRED",
            format!("{mentee} has no mentor to sign the step off; pair one first (青蓝工程)"),
        ));
    };
    let done = store::steps(&ctx.kit.database, &plan.id).await?;
    let dates: Vec<NaiveDate> = done.iter().map(|s| s.completed_on).collect();
    let late = domain::sign_off(plan.start_date, plan.state == "ACTIVE", &dates, step, on)
        .map_err(|refusal| match refusal {
            StepRefusal::PlanNotActive => Error::precondition(
                "PLAN_NOT_ACTIVE",
                format!("the plan is {}", plan.state.to_ascii_lowercase()),
            ),
            StepRefusal::OutOfOrder { next } => Error::FailedPrecondition {
                reason: "STEP_OUT_OF_ORDER",
                message: format!("steps are done in order: the next step is {next}, not {step}"),
                preconditions: Vec::new(),
                metadata: vec![("next_step", next.to_string())],
            },
            StepRefusal::WindowNotOpen { opens } => Error::FailedPrecondition {
                reason: "STEP_WINDOW_NOT_OPEN",
                message: format!("step {step} belongs to a stage that opens on {opens}"),
                preconditions: Vec::new(),
                metadata: vec![("opens", opens.to_string())],
            },
            StepRefusal::BeforePreviousStep { previous } => Error::invalid(
                "completed_on",
                "DATE_BEFORE_PREVIOUS_STEP",
                format!("{on} is before the previous step's sign-off ({previous})"),
            ),
        })?;
    let record = store::Step {
        number: i64::from(step),
        completed_on: on,
        signed_off_by: mentor.clone(),
        note: valid.value(note),
    };
    let mut tx = call.begin(&ctx.kit.database).await?;
    if !store::add_step(&mut tx, &plan.id, &record).await? {
        tx.rollback().await?;
        return Err(Error::Aborted {
            reason: "CONCURRENT_MODIFICATION",
            message: format!("step {step} was signed off meanwhile; read the plan again"),
        });
    }
    if step == 9 {
        let late_steps = done
            .iter()
            .zip(STEPS.iter())
            .filter(|(s, def)| s.completed_on > domain::stage_window(plan.start_date, def.stage).1)
            .count() as i32
            + i32::from(late);
        store::set_plan_state(&mut tx, &plan.id, "COMPLETED", "").await?;
        // The pair has done its work: the mentor's slot is freed for the next newcomer.
        for pair in store::active_mentorships_of(&mut tx, id).await? {
            if pair.mentee_id == id {
                store::end_mentorship(&mut tx, &pair, on, "cultivation plan completed").await?;
            }
        }
        tx.publish(
            &mentee,
            region,
            &pb::PlanCompleted {
                secretary: mentee.clone(),
                tenure: plan.tenure as i32,
                completed_on: format_date(on),
                late_steps,
            },
        );
    }
    tx.commit().await?;
    tracing::info!(plan = %plan.id, step, late, "plan step signed off");
    let mut view = view(ctx, &secretary).await?;
    if step == 9 {
        // The mentorship just ended; the plan names the mentor who signed it off.
        view.mentor = mentor;
    }
    Ok(view)
}
