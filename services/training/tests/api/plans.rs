//! 三阶九步 plans: made from personnel's appointments exactly once, signed off in order by the
//! mentor inside their windows, late steps flagged on a moved clock, closed by a departure.

use shequ_kit::auth::Role;
use shequ_proto::{personnel::v1 as ppb, training::v1 as pb};

use crate::helpers::*;

#[tokio::test]
async fn an_appointment_in_personnel_starts_exactly_one_plan_even_when_the_feed_is_replayed() {
    let mut env = Env::spawn().await;
    let secretary = env.appoint(NANTOU_COMMUNITY, "2026-03-01").await;
    let plan = plan(&env, &secretary).await.expect("the plan appeared");
    assert_eq!(plan.state, pb::PlanState::Active as i32);
    assert_eq!(
        (plan.start_date.as_str(), plan.end_date.as_str()),
        ("2026-03-01", "2027-02-28")
    );
    let windows: Vec<(i32, &str, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.stage, s.window_start.as_str(), s.window_end.as_str()))
        .collect();
    assert_eq!(windows[0], (1, "2026-03-01", "2026-05-31"));
    assert_eq!(windows[3], (2, "2026-06-01", "2026-08-31"));
    assert_eq!(windows[8], (3, "2026-09-01", "2027-02-28"));
    // Today (2026-06-15) stage 1 is over with nothing signed off: three steps overdue.
    assert_eq!(plan.late_steps, 3);
    assert_eq!(plan.steps[0].state, pb::StepState::Overdue as i32);
    assert_eq!(plan.steps[3].state, pb::StepState::Open as i32);
    assert!(
        plan.summary.contains("OVERDUE since 2026-05-31"),
        "{}",
        plan.summary
    );

    // An appointment of long ago (a record entered late) is no newcomer: no plan.
    let veteran = env.appoint(NANTOU_COMMUNITY, "2020-03-01").await;
    assert_refused(
        env.admin()
            .get_cultivation_plan(pb::GetCultivationPlanRequest {
                name: format!("{veteran}/cultivationPlan"),
            })
            .await,
        tonic::Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );

    // Replay personnel's whole feed: training starts over from the first event.
    let id = secretary.trim_start_matches("secretaries/").to_owned();
    let before = env
        .count("SELECT COUNT(*) FROM plans WHERE secretary_id = $1", &id)
        .await;
    assert_eq!(before, 1);
    {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(env.server().database.url())
            .await
            .unwrap();
        sqlx::query("UPDATE feed_cursors SET position = 0")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    env.restart_training().await;
    env.wait_for("the replay to reach the head again", || async {
        env.count(
            "SELECT COUNT(*) FROM feed_cursors WHERE position >= CAST($1 AS BIGINT)",
            "2",
        )
        .await
            == 1
    })
    .await;
    assert_eq!(
        env.count("SELECT COUNT(*) FROM plans WHERE secretary_id = $1", &id)
            .await,
        1
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM plans WHERE tenure >= CAST($1 AS BIGINT)",
            "1"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn steps_are_signed_off_in_order_by_the_mentor_and_late_steps_are_flagged_on_a_moved_clock() {
    let env = Env::spawn().await;
    let mentee = env.appoint(NANTOU_COMMUNITY, "2026-06-01").await;
    let mentor = env.appoint(DAXIN_COMMUNITY, "2019-05-01").await;
    plan(&env, &mentee).await.expect("plan");

    // No mentor yet: nobody can sign off.
    let refused = assert_refused(
        sign_off(&mut env.admin(), &mentee, 1, "2026-06-15").await,
        tonic::Code::FailedPrecondition,
        "MENTOR_REQUIRED",
    );
    assert!(refused.message().contains("pair one first"));
    env.pair(&mentor, &mentee).await.expect("paired");

    let mut as_mentor = env.secretary(&mentor, DAXIN_COMMUNITY);
    let mut as_mentee = env.secretary(&mentee, NANTOU_COMMUNITY);
    assert_refused(
        sign_off(&mut as_mentee, &mentee, 1, "2026-06-15").await,
        tonic::Code::PermissionDenied,
        "NOT_THE_MENTOR",
    );
    let refused = assert_refused(
        sign_off(&mut as_mentor, &mentee, 2, "2026-06-15").await,
        tonic::Code::FailedPrecondition,
        "STEP_OUT_OF_ORDER",
    );
    assert!(
        refused.message().contains("the next step is 1"),
        "{}",
        refused.message()
    );
    let plan1 = sign_off(&mut as_mentor, &mentee, 1, "2026-06-15")
        .await
        .expect("step 1");
    assert_eq!(plan1.steps_done, 1);
    assert_eq!(plan1.steps[0].signed_off_by, mentor);
    assert_eq!(plan1.steps[0].state, pb::StepState::Done as i32);
    assert_eq!(plan1.mentor, mentor);
    // A future date and a step of a stage not yet open are refused.
    let refused = assert_refused(
        sign_off(&mut as_mentor, &mentee, 2, "2026-06-16").await,
        tonic::Code::InvalidArgument,
        "DATE_IN_FUTURE",
    );
    assert_eq!(
        violations(&refused),
        [("completed_on".to_owned(), "DATE_IN_FUTURE".to_owned())]
    );
    sign_off(&mut as_mentor, &mentee, 2, "2026-06-15")
        .await
        .expect("step 2");
    sign_off(&mut as_mentor, &mentee, 3, "2026-06-15")
        .await
        .expect("step 3");
    assert_refused(
        sign_off(&mut as_mentor, &mentee, 4, "2026-06-15").await,
        tonic::Code::FailedPrecondition,
        "STEP_WINDOW_NOT_OPEN",
    );

    // Stage 2 (2026-09-01 .. 2026-11-30) passes with nothing done: step 4 is overdue.
    env.clock.set("2026-12-05T02:00:00Z".parse().unwrap());
    let late = plan(&env, &mentee).await.unwrap();
    assert_eq!(late.steps[3].state, pb::StepState::Overdue as i32);
    assert!(late.steps[3].late);
    assert_eq!(late.late_steps, 3, "steps 4-6");
    assert!(
        late.summary.contains("next: step 4") && late.summary.contains("OVERDUE since 2026-11-30"),
        "{}",
        late.summary
    );
    // Signed off late, a street officer recording the mentor's sign-off: kept and flagged.
    let mut officer = env.training(Role::StreetOfficer, "440305001000");
    let done = sign_off(&mut officer, &mentee, 4, "2026-12-05")
        .await
        .expect("step 4 late");
    assert_eq!(done.steps[3].state, pb::StepState::DoneLate as i32);
    assert_eq!(
        done.steps[3].signed_off_by, mentor,
        "the mentor's sign-off, recorded by staff"
    );
    // Another district's officer does not see the plan at all.
    let mut elsewhere = env.training(Role::StreetOfficer, "440304001000");
    assert_refused(
        sign_off(&mut elsewhere, &mentee, 5, "2026-12-05").await,
        tonic::Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );

    for step in 5..=8 {
        sign_off(&mut as_mentor, &mentee, step, "2026-12-05")
            .await
            .expect("in order");
    }
    let finished = sign_off(&mut as_mentor, &mentee, 9, "2026-12-05")
        .await
        .expect("step 9");
    assert_eq!(finished.state, pb::PlanState::Completed as i32);
    assert_eq!(finished.steps_done, 9);
    assert!(
        finished
            .summary
            .starts_with("Completed: 9/9 steps, 3 signed off late"),
        "{}",
        finished.summary
    );
    assert!(
        env.event_types()
            .await
            .contains(&"PlanCompleted".to_owned())
    );
    assert_refused(
        sign_off(&mut env.admin(), &mentee, 9, "2026-12-05").await,
        tonic::Code::FailedPrecondition,
        "PLAN_NOT_ACTIVE",
    );
    // The pair ended with the plan: the former mentor no longer sees it.
    assert_refused(
        sign_off(&mut as_mentor, &mentee, 9, "2026-12-05").await,
        tonic::Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_departure_in_personnel_closes_the_plan_and_frees_the_mentor_slot() {
    let env = Env::spawn().await;
    let mentor = env.appoint(DAXIN_COMMUNITY, "2018-01-01").await;
    let mut mentees = Vec::new();
    for _ in 0..3 {
        let mentee = env.appoint(NANTOU_COMMUNITY, "2026-05-01").await;
        env.pair(&mentor, &mentee).await.expect("within capacity");
        mentees.push(mentee);
    }
    let fourth = env.appoint(NANTOU_COMMUNITY, "2026-05-01").await;
    assert_refused(
        env.pair(&mentor, &fourth).await,
        tonic::Code::FailedPrecondition,
        "MENTOR_AT_CAPACITY",
    );

    env.career_event(&mentees[0], ppb::CareerEventType::Departure, "2026-06-10")
        .await;
    env.wait_for("the plan to close", || async {
        plan(&env, &mentees[0])
            .await
            .is_ok_and(|p| p.state == pb::PlanState::Closed as i32)
    })
    .await;
    let closed = plan(&env, &mentees[0]).await.unwrap();
    assert!(
        closed.closed_reason.contains("departure") && closed.closed_reason.contains("2026-06-10"),
        "{}",
        closed.closed_reason
    );
    assert!(closed.summary.starts_with("Closed"), "{}", closed.summary);
    assert_eq!(closed.late_steps, 0, "a closed plan owes nothing");
    let history = env
        .admin()
        .list_mentorships(pb::ListMentorshipsRequest {
            parent: mentees[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .mentorships;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, pb::MentorshipState::Ended as i32);
    assert_eq!(history[0].end_date, "2026-06-10");
    // The slot is free again.
    env.pair(&mentor, &fourth).await.expect("a slot was freed");
    // A transfer closes a plan as well.
    env.career_event(&mentees[1], ppb::CareerEventType::Transfer, "2026-06-12")
        .await;
    env.wait_for("the transfer to close the plan", || async {
        plan(&env, &mentees[1])
            .await
            .is_ok_and(|p| p.closed_reason.contains("transfer"))
    })
    .await;
}
