//! The curriculum (courses, sessions, enrolments, hours against the yearly quotas), the batch
//! summaries evaluation reads, and studios with their attendance.

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::required_enum,
    auth::Role,
    call::Call,
    convert::{format_date, new_id, parse_date, to_timestamp},
    names::{region_error, region_parent},
    validate::Checks,
};
use shequ_proto::training::v1 as pb;

use super::{
    ADMINS, Context, OWN_READERS, READERS, ids, layer, layer_pb, own_province, province,
    readable_secretary, region_of, secretary_name, stored_layer, writable_secretary,
};
use crate::{
    domain::{Layer, Level, Policy},
    store,
};

const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 2_000;

fn course_pb(c: &store::Course) -> pb::Course {
    pb::Course {
        name: format!("courses/{}", c.id),
        title: c.title.clone(),
        layer: stored_layer(&c.layer) as i32,
        credit_hours: c.credit_hours as i32,
        region: c.region.clone(),
        description: c.description.clone(),
        create_time: Some(to_timestamp(c.create_time)),
    }
}

pub(crate) async fn create_course(
    ctx: &Context,
    call: &Call,
    request: pb::CreateCourseRequest,
) -> Result<pb::Course, Error> {
    call.caller().require_any(ADMINS, "CreateCourse")?;
    let input = request
        .course
        .ok_or_else(|| Error::invalid("course", "FIELD_REQUIRED", "the course is required"))?;
    let mut checks = Checks::new();
    let title = checks.text("course.title", &input.title, TITLE_MAX);
    let layer = checks.take(required_enum(
        "course.layer",
        layer("course.layer", input.layer),
    ));
    let hours = checks.require(
        i64::from(input.credit_hours),
        (1..=200).contains(&input.credit_hours),
        "course.credit_hours",
        "VALUE_OUT_OF_RANGE",
        format!(
            "credit hours must be between 1 and 200, got {}",
            input.credit_hours
        ),
    );
    let region = checks.take(
        ctx.kit
            .regions
            .known(&input.region)
            .map_err(|e| region_error("course.region", e)),
    );
    let description = checks.optional_text("course.description", &input.description, TEXT_MAX);
    let valid = checks.finish()?;
    let region = valid.value(region);
    call.caller().require_scope(region, "course.region")?;
    let course = store::Course {
        id: new_id(),
        title: valid.value(title),
        layer: valid.value(layer).code().to_owned(),
        credit_hours: valid.value(hours),
        region: region.to_string(),
        description: valid.value(description),
        create_time: call.now(),
    };
    call.target(&format!("courses/{}", course.id), region);
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::insert_course(&mut tx, &course, &region.province().to_string()).await?;
    tx.commit().await?;
    Ok(course_pb(&course))
}

/// A course readable by the caller: one of their province (NOT_FOUND otherwise).
async fn readable_course(
    ctx: &Context,
    call: &Call,
    field: &str,
    id: &str,
) -> Result<store::Course, Error> {
    let name = format!("courses/{id}");
    match store::course(&ctx.kit.database, id).await? {
        Some(c) if region_of(&c.region)?.province() == call.caller().scope.province() => {
            let _ = field;
            Ok(c)
        }
        _ => Err(Error::not_found(name)),
    }
}

pub(crate) async fn get_course(
    ctx: &Context,
    call: &Call,
    request: pb::GetCourseRequest,
) -> Result<pb::Course, Error> {
    call.caller().require_any(OWN_READERS, "GetCourse")?;
    let id = ids("name", &request.name, &["courses", "*"])?[0];
    Ok(course_pb(&readable_course(ctx, call, "name", id).await?))
}

pub(crate) async fn list_courses(
    ctx: &Context,
    call: &Call,
    request: pb::ListCoursesRequest,
) -> Result<pb::ListCoursesResponse, Error> {
    call.caller().require_any(OWN_READERS, "ListCourses")?;
    let code = province(ctx, "parent", &request.parent, &[])?;
    own_province(call.caller(), code)?;
    let filter = layer("layer", request.layer)?;
    let page = ctx.kit.tokens.page::<_, String>(&request)?;
    let mut rows = store::courses(
        &ctx.kit.database,
        &code.to_string(),
        filter.map(Layer::code),
        page.cursor.as_deref().unwrap_or(""),
        page.fetch(),
    )
    .await?;
    let next_page_token = page.next(&mut rows, |c| c.id.clone());
    Ok(pb::ListCoursesResponse {
        courses: rows.iter().map(course_pb).collect(),
        next_page_token,
    })
}

fn session_pb(s: &store::Session) -> pb::Session {
    pb::Session {
        name: format!("courses/{}/sessions/{}", s.course_id, s.id),
        start_date: format_date(s.start_date),
        end_date: format_date(s.end_date),
        region: s.region.clone(),
        location: s.location.clone(),
        capacity: s.capacity as i32,
        enrolled: s.enrolled as i32,
    }
}

pub(crate) async fn create_session(
    ctx: &Context,
    call: &Call,
    request: pb::CreateSessionRequest,
) -> Result<pb::Session, Error> {
    call.caller().require_any(ADMINS, "CreateSession")?;
    let course_id = ids("parent", &request.parent, &["courses", "*"])?[0];
    let course = readable_course(ctx, call, "parent", course_id).await?;
    let input = request
        .session
        .ok_or_else(|| Error::invalid("session", "FIELD_REQUIRED", "the session is required"))?;
    let mut checks = Checks::new();
    let start = checks.take(parse_date("session.start_date", &input.start_date));
    let end = checks.take(parse_date("session.end_date", &input.end_date));
    if let (Some(s), Some(e)) = (start.get(), end.get()) {
        checks.rule(
            e < s,
            "session.end_date",
            "DATE_ORDER",
            format!("ends {e}, before it starts ({s})"),
        );
    }
    let course_region = region_of(&course.region)?;
    let region = checks.take(
        ctx.kit
            .regions
            .known(&input.region)
            .map_err(|e| region_error("session.region", e))
            .and_then(|r| {
                if course_region.contains(r) {
                    Ok(r)
                } else {
                    Err(Error::invalid(
                        "session.region",
                        "REGION_OUTSIDE_COURSE",
                        format!("{r} is outside the course's region {course_region}"),
                    ))
                }
            }),
    );
    let location = checks.optional_text("session.location", &input.location, TITLE_MAX);
    let capacity = checks.require(
        i64::from(input.capacity),
        (0..=10_000).contains(&input.capacity),
        "session.capacity",
        "VALUE_OUT_OF_RANGE",
        "capacity must be between 0 (no limit) and 10,000",
    );
    let valid = checks.finish()?;
    let region = valid.value(region);
    call.caller().require_scope(region, "session.region")?;
    let session = store::Session {
        id: new_id(),
        course_id: course.id.clone(),
        start_date: valid.value(start),
        end_date: valid.value(end),
        region: region.to_string(),
        location: valid.value(location),
        capacity: valid.value(capacity),
        enrolled: 0,
    };
    call.target(
        &format!("courses/{}/sessions/{}", course.id, session.id),
        region,
    );
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::insert_session(&mut tx, &session).await?;
    tx.commit().await?;
    Ok(session_pb(&session))
}

fn enrolment_pb(e: &store::Enrolment) -> pb::Enrolment {
    pb::Enrolment {
        name: format!(
            "courses/{}/sessions/{}/enrolments/{}",
            e.course_id, e.session_id, e.id
        ),
        secretary: secretary_name(&e.secretary_id),
        state: if e.state == "COMPLETED" {
            pb::EnrolmentState::Completed
        } else {
            pb::EnrolmentState::Enrolled
        } as i32,
        completed_on: e.completed_on.map(format_date).unwrap_or_default(),
        hours: e.hours as i32,
        layer: stored_layer(&e.layer) as i32,
    }
}

pub(crate) async fn enrol(
    ctx: &Context,
    call: &Call,
    request: pb::CreateEnrolmentRequest,
) -> Result<pb::Enrolment, Error> {
    call.caller().require_any(ADMINS, "CreateEnrolment")?;
    let found = ids(
        "parent",
        &request.parent,
        &["courses", "*", "sessions", "*"],
    )?;
    let course = readable_course(ctx, call, "parent", found[0]).await?;
    let session = store::session(&ctx.kit.database, &course.id, found[1])
        .await?
        .ok_or_else(|| Error::not_found(request.parent.clone()))?;
    let input = request.enrolment.ok_or_else(|| {
        Error::invalid("enrolment", "FIELD_REQUIRED", "the enrolment is required")
    })?;
    let secretary_id = ids(
        "enrolment.secretary",
        &input.secretary,
        &["secretaries", "*"],
    )?[0];
    let secretary = writable_secretary(ctx, call, secretary_id, ADMINS, "CreateEnrolment").await?;
    if !secretary.active() {
        return Err(Error::precondition(
            "SECRETARY_NOT_IN_POST",
            format!("{} is no longer in post", input.secretary),
        ));
    }
    let enrolment = store::Enrolment {
        id: new_id(),
        session_id: session.id.clone(),
        course_id: course.id.clone(),
        secretary_id: secretary.id.clone(),
        state: "ENROLLED".into(),
        completed_on: None,
        hours: 0,
        layer: course.layer.clone(),
    };
    let mut tx = call.begin(&ctx.kit.database).await?;
    if !store::insert_enrolment(&mut tx, &enrolment).await? {
        tx.rollback().await?;
        return Err(Error::AlreadyExists {
            reason: "ALREADY_ENROLLED",
            message: format!(
                "{} is already enrolled in {}",
                input.secretary, request.parent
            ),
            resource: None,
        });
    }
    if !store::take_seat(&mut tx, &session.id).await? {
        tx.rollback().await?;
        return Err(Error::precondition(
            "SESSION_FULL",
            format!(
                "all {} seats of {} are taken",
                session.capacity, request.parent
            ),
        ));
    }
    tx.commit().await?;
    Ok(enrolment_pb(&enrolment))
}

pub(crate) async fn complete(
    ctx: &Context,
    call: &Call,
    request: pb::CompleteEnrolmentRequest,
) -> Result<pb::Enrolment, Error> {
    call.caller().require_any(ADMINS, "CompleteEnrolment")?;
    let found = ids(
        "name",
        &request.name,
        &["courses", "*", "sessions", "*", "enrolments", "*"],
    )?;
    let course = readable_course(ctx, call, "name", found[0]).await?;
    let missing = || Error::not_found(request.name.clone());
    let session = store::session(&ctx.kit.database, &course.id, found[1])
        .await?
        .ok_or_else(missing)?;
    let enrolment = store::enrolment(&ctx.kit.database, &session.id, found[2])
        .await?
        .ok_or_else(missing)?;
    // The enrolment is the secretary's record: outside the caller's scope it does not exist.
    writable_secretary(
        ctx,
        call,
        &enrolment.secretary_id,
        ADMINS,
        "CompleteEnrolment",
    )
    .await
    .map_err(|_| missing())?;
    let mut checks = Checks::new();
    let on =
        checks.past_date_or_today("completed_on", &request.completed_on, ctx.kit.clock.today());
    if let Some(day) = on.get() {
        checks.rule(
            *day < session.start_date,
            "completed_on",
            "DATE_BEFORE_SESSION",
            format!(
                "{day} is before the session starts ({})",
                session.start_date
            ),
        );
    }
    let valid = checks.finish()?;
    if enrolment.state == "COMPLETED" {
        return Err(Error::precondition(
            "ALREADY_COMPLETED",
            format!("{} is already completed", request.name),
        ));
    }
    let on = valid.value(on);
    let mut tx = call.begin(&ctx.kit.database).await?;
    let completed =
        store::complete_enrolment(&mut tx, &enrolment.id, on, course.credit_hours).await?;
    if !tx.commit_if(completed).await? {
        return Err(Error::precondition(
            "ALREADY_COMPLETED",
            format!("{} is already completed", request.name),
        ));
    }
    Ok(enrolment_pb(&store::Enrolment {
        state: "COMPLETED".into(),
        completed_on: Some(on),
        hours: course.credit_hours,
        ..enrolment
    }))
}

/// Hours per layer against the quotas.
fn layers(policy: &Policy, hours: &[(String, i64)]) -> (Vec<pb::LayerProgress>, i32, i32) {
    let mut out = Vec::new();
    let (mut total, mut quota_total) = (0, 0);
    for layer in Layer::ALL {
        let done: i64 = hours
            .iter()
            .filter(|(l, _)| l == layer.code())
            .map(|(_, h)| *h)
            .sum();
        let quota = policy.quota(layer);
        total += done as i32;
        quota_total += quota;
        out.push(pb::LayerProgress {
            layer: layer_pb(layer) as i32,
            hours: done as i32,
            quota,
            met: done >= i64::from(quota),
        });
    }
    (out, total, quota_total)
}

/// The highest level valid on `day` among `certificates`.
fn level_on(certificates: &[store::Certificate], day: chrono::NaiveDate) -> pb::CertificateLevel {
    certificates
        .iter()
        .filter(|c| {
            c.revoked_on.is_none_or(|r| r > day)
                && !c.suspended
                && c.issue_date <= day
                && c.expiry_date >= day
        })
        .filter_map(|c| Level::parse(&c.level))
        .max()
        .map_or(pb::CertificateLevel::Unspecified, super::level_pb)
}

fn year_or_current(ctx: &Context, field: &str, year: i32) -> Result<i32, Error> {
    match year {
        0 => Ok(ctx.kit.clock.today().year()),
        2000..=2100 => Ok(year),
        other => Err(Error::invalid(
            field,
            "VALUE_OUT_OF_RANGE",
            format!("{other} is not a year between 2000 and 2100"),
        )),
    }
}

pub(crate) async fn progress(
    ctx: &Context,
    call: &Call,
    request: pb::GetLearningProgressRequest,
) -> Result<pb::LearningProgress, Error> {
    let id = ids(
        "name",
        &request.name,
        &["secretaries", "*", "learningProgress"],
    )?[0];
    let year = year_or_current(ctx, "year", request.year)?;
    let secretary = readable_secretary(ctx, call, id, "GetLearningProgress").await?;
    let province = region_of(&secretary.region)?.province().to_string();
    let policy = store::policy(&ctx.kit.database, &province).await?.policy;
    let hours: Vec<(String, i64)> =
        store::hours_in_year(&ctx.kit.database, std::slice::from_ref(&secretary.id), year)
            .await?
            .into_iter()
            .map(|(_, layer, h)| (layer, h))
            .collect();
    let (layers, total_hours, total_quota) = layers(&policy, &hours);
    let certificates =
        store::certificates_of(&ctx.kit.database, std::slice::from_ref(&secretary.id)).await?;
    let today = ctx.kit.clock.today();
    Ok(pb::LearningProgress {
        name: request.name,
        secretary: secretary_name(&secretary.id),
        year,
        quota_met: layers.iter().all(|l| l.met),
        layers,
        total_hours,
        total_quota,
        certificate_level: level_on(&certificates, today) as i32,
        certificates: certificates
            .iter()
            .map(|c| super::certificates::certificate_pb(ctx, c, today, false))
            .collect(),
    })
}

/// The cursor of the summaries: the last secretary id of the page.
#[derive(Serialize, Deserialize)]
struct After(String);

pub(crate) async fn summaries(
    ctx: &Context,
    call: &Call,
    request: pb::ListLearningSummariesRequest,
) -> Result<pb::ListLearningSummariesResponse, Error> {
    let mut roles = READERS.to_vec();
    roles.push(Role::Service);
    call.caller().require_any(&roles, "ListLearningSummaries")?;
    let region = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    if request.year == 0 {
        return Err(Error::invalid(
            "year",
            "FIELD_REQUIRED",
            "the year is required",
        ));
    }
    let year = year_or_current(ctx, "year", request.year)?;
    call.caller().require_scope(region, "parent")?;
    let page = ctx.kit.tokens.page::<_, After>(&request)?;
    let after = page.cursor.as_ref().map_or("", |a| a.0.as_str()).to_owned();
    let mut rows =
        store::secretaries_under(&ctx.kit.database, &region.prefix(), &after, page.fetch()).await?;
    let next_page_token = page.next(&mut rows, |s| After(s.id.clone()));
    let ids: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
    let hours = store::hours_in_year(&ctx.kit.database, &ids, year).await?;
    let certificates = store::certificates_of(&ctx.kit.database, &ids).await?;
    let today = ctx.kit.clock.today();
    let day = chrono::NaiveDate::from_ymd_opt(year, 12, 31).map_or(today, |end| end.min(today));
    let mut policies = std::collections::HashMap::new();
    let mut summaries = Vec::new();
    for s in rows {
        let province = region_of(&s.region)?.province().to_string();
        if !policies.contains_key(&province) {
            let policy = store::policy(&ctx.kit.database, &province).await?.policy;
            policies.insert(province.clone(), policy);
        }
        let policy = &policies[&province];
        let own: Vec<(String, i64)> = hours
            .iter()
            .filter(|(id, _, _)| *id == s.id)
            .map(|(_, layer, h)| (layer.clone(), *h))
            .collect();
        let (layers, total_hours, total_quota) = layers(policy, &own);
        let held: Vec<store::Certificate> = certificates
            .iter()
            .filter(|c| c.secretary_id == s.id)
            .cloned()
            .collect();
        summaries.push(pb::LearningSummary {
            secretary: secretary_name(&s.id),
            region: s.region.clone(),
            year,
            quota_met: layers.iter().all(|l| l.met),
            layers,
            total_hours,
            total_quota,
            certificate_level: level_on(&held, day) as i32,
        });
    }
    Ok(pb::ListLearningSummariesResponse {
        learning_summaries: summaries,
        next_page_token,
    })
}

async fn studio_pb(ctx: &Context, s: &store::Studio, year: i32) -> Result<pb::Studio, Error> {
    let province = region_of(&s.region)?.province().to_string();
    let target = store::policy(&ctx.kit.database, &province)
        .await?
        .policy
        .studio_annual_target;
    let person_times = store::person_times(&ctx.kit.database, &s.id, year).await?;
    Ok(pb::Studio {
        name: format!("studios/{}", s.id),
        display_name: s.display_name.clone(),
        region: s.region.clone(),
        lead: secretary_name(&s.lead_id),
        year,
        person_times,
        annual_target: target,
        percent_of_target: if target > 0 {
            (person_times as f64 * 1000.0 / f64::from(target)).round() / 10.0
        } else {
            0.0
        },
        create_time: Some(to_timestamp(s.create_time)),
    })
}

pub(crate) async fn create_studio(
    ctx: &Context,
    call: &Call,
    request: pb::CreateStudioRequest,
) -> Result<pb::Studio, Error> {
    call.caller().require_any(ADMINS, "CreateStudio")?;
    let input = request
        .studio
        .ok_or_else(|| Error::invalid("studio", "FIELD_REQUIRED", "the studio is required"))?;
    let mut checks = Checks::new();
    let display_name = checks.text("studio.display_name", &input.display_name, TITLE_MAX);
    let region = checks.take(
        ctx.kit
            .regions
            .known(&input.region)
            .map_err(|e| region_error("studio.region", e)),
    );
    let lead = checks.take(
        ids("studio.lead", &input.lead, &["secretaries", "*"]).map(|found| found[0].to_owned()),
    );
    let valid = checks.finish()?;
    let region = valid.value(region);
    call.caller().require_scope(region, "studio.region")?;
    let lead = writable_secretary(ctx, call, &valid.value(lead), ADMINS, "CreateStudio").await?;
    let studio = store::Studio {
        id: new_id(),
        display_name: valid.value(display_name),
        region: region.to_string(),
        lead_id: lead.id,
        create_time: call.now(),
    };
    call.target(&format!("studios/{}", studio.id), region);
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::insert_studio(&mut tx, &studio).await?;
    tx.commit().await?;
    studio_pb(ctx, &studio, ctx.kit.clock.today().year()).await
}

/// A studio in the caller's scope (NOT_FOUND otherwise).
async fn studio_in_scope(
    ctx: &Context,
    call: &Call,
    name: &str,
    roles: &[Role],
    operation: &str,
) -> Result<store::Studio, Error> {
    call.caller().require_any(roles, operation)?;
    let id = ids("name", name, &["studios", "*"])?[0];
    match store::studio(&ctx.kit.database, id).await? {
        Some(s) if call.caller().covers(region_of(&s.region)?) => {
            call.target(name, region_of(&s.region)?);
            Ok(s)
        }
        _ => Err(Error::not_found(name)),
    }
}

pub(crate) async fn get_studio(
    ctx: &Context,
    call: &Call,
    request: pb::GetStudioRequest,
) -> Result<pb::Studio, Error> {
    let studio = studio_in_scope(ctx, call, &request.name, READERS, "GetStudio").await?;
    let year = year_or_current(ctx, "year", request.year)?;
    studio_pb(ctx, &studio, year).await
}

pub(crate) async fn record_attendance(
    ctx: &Context,
    call: &Call,
    request: pb::RecordStudioAttendanceRequest,
) -> Result<pb::Studio, Error> {
    let mut roles = ADMINS.to_vec();
    roles.push(Role::StreetOfficer);
    let studio =
        studio_in_scope(ctx, call, &request.name, &roles, "RecordStudioAttendance").await?;
    let mut checks = Checks::new();
    let day = checks.past_date_or_today("date", &request.date, ctx.kit.clock.today());
    let times = checks.require(
        i64::from(request.person_times),
        (1..=10_000).contains(&request.person_times),
        "person_times",
        "VALUE_OUT_OF_RANGE",
        format!(
            "person-times must be between 1 and 10,000, got {}",
            request.person_times
        ),
    );
    let activity = checks.optional_text("activity", &request.activity, TITLE_MAX);
    let valid = checks.finish()?;
    let day = valid.value(day);
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::add_attendance(
        &mut tx,
        &new_id(),
        &studio.id,
        day,
        valid.value(times),
        &valid.value(activity),
    )
    .await?;
    tx.commit().await?;
    studio_pb(ctx, &studio, day.year()).await
}
