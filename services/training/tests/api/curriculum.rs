//! The curriculum: completions record the course's hours against the yearly quota of its layer;
//! evaluation's batches; studios against their yearly target; bad input named and harmless.

use shequ_kit::auth::Role;
use shequ_proto::training::v1 as pb;

use crate::helpers::*;

async fn course(env: &Env, layer: pb::CourseLayer, hours: i32) -> pb::Course {
    env.training(Role::ProvinceAdmin, GUANGDONG)
        .create_course(pb::CreateCourseRequest {
            course: Some(pb::Course {
                title: "《城市居民委员会组织法》解读".into(),
                layer: layer as i32,
                credit_hours: hours,
                region: GUANGDONG.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("course")
        .into_inner()
}

async fn session(env: &Env, course: &pb::Course, capacity: i32) -> pb::Session {
    env.admin()
        .create_session(pb::CreateSessionRequest {
            parent: course.name.clone(),
            session: Some(pb::Session {
                start_date: "2026-06-01".into(),
                end_date: "2026-06-03".into(),
                region: NANSHAN.into(),
                capacity,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("session")
        .into_inner()
}

async fn enrol(
    env: &Env,
    session: &pb::Session,
    secretary: &str,
) -> Result<pb::Enrolment, tonic::Status> {
    env.admin()
        .create_enrolment(pb::CreateEnrolmentRequest {
            parent: session.name.clone(),
            enrolment: Some(pb::Enrolment {
                secretary: secretary.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn completions_count_their_hours_against_the_quota_of_their_layer_and_reach_evaluations_batches()
 {
    let env = Env::spawn().await;
    let a = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let b = env.appoint(DAXIN_COMMUNITY, "2022-03-01").await;
    let law = course(&env, pb::CourseLayer::Basic, 24).await;
    let smart = course(&env, pb::CourseLayer::Professional, 6).await;
    let law_session = session(&env, &law, 1).await;
    let smart_session = session(&env, &smart, 0).await;
    let enrolled = enrol(&env, &law_session, &a).await.expect("enrolled");
    assert_refused(
        enrol(&env, &law_session, &a).await,
        tonic::Code::AlreadyExists,
        "ALREADY_ENROLLED",
    );
    assert_refused(
        enrol(&env, &law_session, &b).await,
        tonic::Code::FailedPrecondition,
        "SESSION_FULL",
    );
    let complete = |name: String, on: &'static str| {
        let mut client = env.admin();
        async move {
            client
                .complete_enrolment(pb::CompleteEnrolmentRequest {
                    name,
                    completed_on: on.into(),
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let refused = assert_refused(
        complete(enrolled.name.clone(), "2026-05-31").await,
        tonic::Code::InvalidArgument,
        "DATE_BEFORE_SESSION",
    );
    assert_eq!(
        violations(&refused),
        [("completed_on".to_owned(), "DATE_BEFORE_SESSION".to_owned())]
    );
    let done = complete(enrolled.name.clone(), "2026-06-03")
        .await
        .expect("completed");
    assert_eq!(
        (done.hours, done.state),
        (24, pb::EnrolmentState::Completed as i32)
    );
    assert_refused(
        complete(enrolled.name.clone(), "2026-06-03").await,
        tonic::Code::FailedPrecondition,
        "ALREADY_COMPLETED",
    );
    let smart_a = enrol(&env, &smart_session, &a).await.unwrap();
    complete(smart_a.name, "2026-06-10").await.unwrap();
    let smart_b = enrol(&env, &smart_session, &b).await.unwrap();
    complete(smart_b.name, "2026-06-10").await.unwrap();

    let progress = env
        .secretary(&a, NANTOU_COMMUNITY)
        .get_learning_progress(pb::GetLearningProgressRequest {
            name: format!("{a}/learningProgress"),
            year: 2026,
        })
        .await
        .expect("a secretary reads their own progress")
        .into_inner();
    let layers: Vec<(i32, i32, bool)> = progress
        .layers
        .iter()
        .map(|l| (l.hours, l.quota, l.met))
        .collect();
    assert_eq!(
        layers,
        [(24, 24, true), (6, 16, false), (0, 8, false)],
        "quotas 24/16/8 by default"
    );
    assert_eq!(
        (
            progress.total_hours,
            progress.total_quota,
            progress.quota_met
        ),
        (30, 48, false)
    );
    let last_year = env
        .admin()
        .get_learning_progress(pb::GetLearningProgressRequest {
            name: format!("{a}/learningProgress"),
            year: 2025,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(last_year.total_hours, 0);

    // Evaluation's batch call, as itself, one secretary a page.
    let mut evaluation = TrainingServiceClientAs::service(&env, "evaluation");
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = evaluation
            .list_learning_summaries(pb::ListLearningSummariesRequest {
                parent: format!("regions/{NANSHAN}"),
                year: 2026,
                page_size: 1,
                page_token: token.clone(),
            })
            .await
            .expect("evaluation reads the summaries")
            .into_inner();
        seen.extend(
            page.learning_summaries
                .into_iter()
                .map(|s| (s.secretary, s.total_hours)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    let mut expected = vec![(a.clone(), 30), (b.clone(), 6)];
    expected.sort();
    assert_eq!(seen, expected);
    let refused = assert_refused(
        env.admin()
            .list_learning_summaries(pb::ListLearningSummariesRequest {
                parent: format!("regions/{NANSHAN}"),
                ..Default::default()
            })
            .await,
        tonic::Code::InvalidArgument,
        "FIELD_REQUIRED",
    );
    assert_eq!(violations(&refused)[0].0, "year");
}

/// A client of training calling as another service of the suite.
struct TrainingServiceClientAs;

impl TrainingServiceClientAs {
    fn service(env: &Env, name: &str) -> Training_ {
        shequ_proto::training::v1::training_service_client::TrainingServiceClient::with_interceptor(
            env.server().channel(),
            shequ_kit::testing::Bearer::new(&env.keys.service_token(name)),
        )
    }
}

#[tokio::test]
async fn studio_attendance_counts_person_times_against_the_yearly_target() {
    let env = Env::spawn().await;
    let lead = env.appoint(NANTOU_COMMUNITY, "2018-03-01").await;
    let studio = env
        .admin()
        .create_studio(pb::CreateStudioRequest {
            studio: Some(pb::Studio {
                display_name: "王芳书记工作室".into(),
                region: NANTOU_COMMUNITY.into(),
                lead: lead.clone(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("studio")
        .into_inner();
    assert_eq!((studio.annual_target, studio.person_times), (5_000, 0));
    let mut officer = env.training(Role::StreetOfficer, "440305001000");
    for (date, times) in [
        ("2026-03-01", 1_200),
        ("2026-06-15", 300),
        ("2025-12-31", 999),
    ] {
        officer
            .record_studio_attendance(pb::RecordStudioAttendanceRequest {
                name: studio.name.clone(),
                date: date.into(),
                person_times: times,
                activity: "案例研讨".into(),
                request_id: String::new(),
            })
            .await
            .expect("attendance");
    }
    let read = env
        .admin()
        .get_studio(pb::GetStudioRequest {
            name: studio.name.clone(),
            year: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (read.year, read.person_times, read.percent_of_target),
        (2026, 1_500, 30.0)
    );
    let refused = assert_refused(
        officer
            .record_studio_attendance(pb::RecordStudioAttendanceRequest {
                name: studio.name.clone(),
                person_times: 0,
                date: "2026-07-01".into(),
                ..Default::default()
            })
            .await,
        tonic::Code::InvalidArgument,
        "DATE_IN_FUTURE",
    );
    let fields: Vec<String> = violations(&refused).into_iter().map(|v| v.0).collect();
    assert_eq!(
        fields,
        ["date", "person_times"],
        "every mistake named at once"
    );
    let again = env
        .admin()
        .get_studio(pb::GetStudioRequest {
            name: studio.name.clone(),
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.person_times, 1_500,
        "the refused call changed nothing"
    );
}
