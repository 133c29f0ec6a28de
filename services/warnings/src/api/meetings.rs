//! Consultations (会商) and task forces (专班) recorded on a warning.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    call::Call,
    convert::new_id,
    validate::{Checked, Checks, Valid},
};
use shequ_proto::warnings::v1 as pb;

use super::{
    Context, access,
    convert::{self, consultation_pb, task_force_pb},
    warnings::{TEXT_MAX, load, save},
};
use crate::{
    domain::{Department, Warning},
    store::{Meeting, Store},
};

/// Most participants or members of one meeting.
const PEOPLE_MAX: usize = 50;
/// Longest name of a participant, member or leader.
const PERSON_MAX: usize = 100;

/// Departments: each known, each once; at least one when `required`.
fn departments(
    checks: &mut Checks,
    field: &str,
    values: &[i32],
    required: bool,
) -> Vec<Checked<Department>> {
    checks.rule(
        required && values.is_empty(),
        field,
        "FIELD_REQUIRED",
        "at least one department takes part",
    );
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let department = checks.take(shequ_kit::aip::required_enum(
            &field,
            convert::department(&field, *value),
        ));
        found.push(match department.get().copied() {
            Some(d) if seen.contains(&d) => {
                checks.refuse(&field, "DEPARTMENT_DUPLICATE", "each department once")
            }
            Some(d) => {
                seen.push(d);
                department
            }
            None => department,
        });
    }
    found
}

/// Names of people: at most [`PEOPLE_MAX`], each 1 to [`PERSON_MAX`] characters.
fn people(checks: &mut Checks, field: &str, values: &[String]) -> Vec<Checked<String>> {
    checks.rule(
        values.len() > PEOPLE_MAX,
        field,
        "TOO_MANY_VALUES",
        format!("at most {PEOPLE_MAX}, got {}", values.len()),
    );
    values
        .iter()
        .enumerate()
        .map(|(i, value)| checks.text(&format!("{field}[{i}]"), value, PERSON_MAX))
        .collect()
}

/// When it happened: `now` when unset; not in the future.
fn when(
    checks: &mut Checks,
    field: &str,
    value: Option<&prost_types::Timestamp>,
    now: chrono::DateTime<chrono::Utc>,
) -> Checked<chrono::DateTime<chrono::Utc>> {
    let Some(value) = value else {
        return checks.take(Ok(now));
    };
    match chrono::DateTime::from_timestamp(value.seconds, value.nanos.max(0) as u32) {
        None => checks.refuse(field, "TIMESTAMP_INVALID", "not a valid timestamp"),
        Some(at) => checks.require(
            at,
            at <= now,
            field,
            "TIME_IN_FUTURE",
            format!("{} is after now", at.to_rfc3339()),
        ),
    }
}

fn all<T>(valid: &Valid, values: Vec<Checked<T>>) -> Vec<T> {
    values.into_iter().map(|v| valid.value(v)).collect()
}

/// Records a consultation (`task_force` false) or a task force on `warning`.
async fn record(
    ctx: &Context,
    call: &Call,
    mut warning: Warning,
    task_force: bool,
    mut meeting: Meeting,
) -> Result<Meeting, Error> {
    let expected = warning.version;
    let note = if meeting.departments.is_empty() {
        String::new()
    } else {
        format!("departments: {}", Department::join(&meeting.departments))
    };
    let entry = warning.record_meeting(
        task_force,
        &call.caller().subject,
        note,
        meeting.create_time,
    )?;
    meeting.warning_id = warning.id.clone();
    meeting.seq = warning.version;
    let mut tx = call.begin(ctx.store.database()).await?;
    Store::insert_meeting(&mut tx, task_force, &meeting).await?;
    save(ctx, tx, &warning, expected, &entry, None).await?;
    Ok(meeting)
}

pub(crate) async fn create_consultation(
    ctx: &Context,
    call: &Call,
    request: pb::CreateConsultationRequest,
) -> Result<pb::Consultation, Error> {
    let warning = load(
        ctx,
        call,
        "parent",
        &request.parent,
        access::HANDLERS,
        "CreateConsultation",
    )
    .await?;
    let input = request.consultation.unwrap_or_default();
    let now = ctx.kit.clock.now();
    let mut checks = Checks::new();
    let departments = departments(
        &mut checks,
        "consultation.departments",
        &input.departments,
        true,
    );
    let people = people(
        &mut checks,
        "consultation.participants",
        &input.participants,
    );
    let summary = checks.text("consultation.summary", &input.summary, TEXT_MAX);
    let at = when(
        &mut checks,
        "consultation.hold_time",
        input.hold_time.as_ref(),
        now,
    );
    let valid = checks.finish()?;
    let meeting = Meeting {
        id: new_id(),
        warning_id: String::new(),
        seq: 0,
        departments: all(&valid, departments),
        people: all(&valid, people),
        leader: String::new(),
        text: valid.value(summary),
        at: valid.value(at),
        recorded_by: call.caller().subject.clone(),
        create_time: now,
    };
    let meeting = record(ctx, call, warning, false, meeting).await?;
    Ok(consultation_pb(&meeting))
}

pub(crate) async fn create_task_force(
    ctx: &Context,
    call: &Call,
    request: pb::CreateTaskForceRequest,
) -> Result<pb::TaskForce, Error> {
    let warning = load(
        ctx,
        call,
        "parent",
        &request.parent,
        access::HANDLERS,
        "CreateTaskForce",
    )
    .await?;
    let input = request.task_force.unwrap_or_default();
    let now = ctx.kit.clock.now();
    let mut checks = Checks::new();
    let leader = checks.text("task_force.leader", &input.leader, PERSON_MAX);
    let people = people(&mut checks, "task_force.members", &input.members);
    let departments = departments(
        &mut checks,
        "task_force.departments",
        &input.departments,
        false,
    );
    let note = checks.optional_text("task_force.note", &input.note, TEXT_MAX);
    let at = when(
        &mut checks,
        "task_force.form_time",
        input.form_time.as_ref(),
        now,
    );
    let valid = checks.finish()?;
    let meeting = Meeting {
        id: new_id(),
        warning_id: String::new(),
        seq: 0,
        departments: all(&valid, departments),
        people: all(&valid, people),
        leader: valid.value(leader),
        text: valid.value(note),
        at: valid.value(at),
        recorded_by: call.caller().subject.clone(),
        create_time: now,
    };
    let meeting = record(ctx, call, warning, true, meeting).await?;
    Ok(task_force_pb(&meeting))
}

#[derive(Serialize, Deserialize)]
struct SeqCursor {
    after: i64,
}

pub(crate) async fn list_consultations(
    ctx: &Context,
    call: &Call,
    request: pb::ListConsultationsRequest,
) -> Result<pb::ListConsultationsResponse, Error> {
    let warning = load(
        ctx,
        call,
        "parent",
        &request.parent,
        access::WARNING_READERS,
        "ListConsultations",
    )
    .await?;
    let page = ctx.kit.tokens.page::<_, SeqCursor>(&request)?;
    let after = page.cursor.as_ref().map_or(0, |c| c.after);
    let mut meetings = ctx
        .store
        .meetings(false, &warning.id, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut meetings, |last| SeqCursor { after: last.seq });
    Ok(pb::ListConsultationsResponse {
        consultations: meetings.iter().map(consultation_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn list_task_forces(
    ctx: &Context,
    call: &Call,
    request: pb::ListTaskForcesRequest,
) -> Result<pb::ListTaskForcesResponse, Error> {
    let warning = load(
        ctx,
        call,
        "parent",
        &request.parent,
        access::WARNING_READERS,
        "ListTaskForces",
    )
    .await?;
    let page = ctx.kit.tokens.page::<_, SeqCursor>(&request)?;
    let after = page.cursor.as_ref().map_or(0, |c| c.after);
    let mut meetings = ctx
        .store
        .meetings(true, &warning.id, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut meetings, |last| SeqCursor { after: last.seq });
    Ok(pb::ListTaskForcesResponse {
        task_forces: meetings.iter().map(task_force_pb).collect(),
        next_page_token,
    })
}
