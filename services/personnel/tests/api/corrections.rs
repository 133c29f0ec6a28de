//! What a first user's probe found wrong, each fixed with a test that failed before: a masked view
//! that gave back the ID number, history that could be bypassed, implausible dates, statistics
//! above 100%, duplicate reserve candidates, a secretary token naming a record outside its scope.

use chrono::{Datelike, NaiveDate};
use shequ_kit::auth::Role;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;

use crate::helpers::*;

/// GB 11643 check character of the first 17 digits.
fn check_digit(body: &str) -> char {
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

/// Every valid ID number consistent with what a masked reader sees of `s`: the visible
/// characters of the masked number, the birth year, the gender (the parity of the serial), and
/// the birth date when it is shown.
fn candidates(s: &pb::Secretary) -> Vec<String> {
    let masked = &s.id_number;
    assert_eq!(masked.len(), 18);
    let visible: Vec<(usize, u8)> = masked
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'*')
        .collect();
    let prefix = &masked[..6];
    assert!(
        visible.iter().all(|(i, _)| *i < 6),
        "only the region prefix may show"
    );
    let male = s.gender == pb::Gender::Male as i32;
    let mut found = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(s.birth_year, 1, 1).unwrap();
    while day.year() == s.birth_year {
        let date = day.format("%Y%m%d").to_string();
        if s.birth_date.is_empty() || s.birth_date == day.to_string() {
            for serial in 0..1000 {
                if (serial % 2 == 1) != male {
                    continue;
                }
                let body = format!("{prefix}{date}{serial:03}");
                found.push(format!("{body}{}", check_digit(&body)));
            }
        }
        day = day.succ_opt().unwrap();
    }
    found
}

#[tokio::test]
async fn a_masked_reader_cannot_rebuild_the_id_number_from_get_list_or_the_create_answer() {
    let app = TestApp::spawn().await;
    let id = id_number(1965, 363);
    let created = create(&app, secretary(&id)).await;
    let officer = app.client(Role::StreetOfficer, NANTOU_STREET);
    let read = officer
        .clone()
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let listed = officer
        .clone()
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANTOU_STREET}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secretaries
        .remove(0);
    for view in [&created, &read, &listed] {
        assert_eq!(view.id_number, "440305************");
        assert_eq!(view.birth_date, "", "the date is half of the number");
        assert_eq!(
            view.birth_year, 1965,
            "officials still see the year (and so the age)"
        );
        let possible = candidates(view);
        assert!(possible.contains(&id), "the enumeration is sound");
        assert!(
            possible.len() >= 1_000,
            "only {} candidates remain",
            possible.len()
        );
    }
    assert_eq!(candidates(&read).len(), 365 * 500);
    // the unmasked view, for those who may see it, has everything
    let full = app
        .admin()
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name,
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (full.id_number.as_str(), full.birth_date.as_str()),
        (id.as_str(), "1965-01-01")
    );
}

async fn events(app: &TestApp, name: &str) -> Vec<pb::CareerEvent> {
    app.admin()
        .list_career_events(pb::ListCareerEventsRequest {
            parent: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .career_events
}

async fn read(app: &TestApp, name: &str) -> pb::Secretary {
    app.admin()
        .get_secretary(pb::GetSecretaryRequest {
            name: name.into(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner()
}

fn correct(event: &str, date: &str) -> pb::CorrectCareerEventRequest {
    pb::CorrectCareerEventRequest {
        name: event.into(),
        effective_date: date.into(),
        note: "任职文件日期更正".into(),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn the_appointment_date_is_corrected_through_the_history_and_promotion_reads_it() {
    let app = TestApp::spawn().await;
    let mut profile = secretary(&id_number(1980, 364));
    profile.appointment_date = "2024-09-01".into(); // under 3 years on the rung
    let created = create(&app, profile).await;
    let mut admin = app.admin();

    // UpdateSecretary no longer rewrites it in place
    let mut change = created.clone();
    change.appointment_date = "2020-01-01".into();
    let refused = admin
        .update_secretary(pb::UpdateSecretaryRequest {
            secretary: Some(change.clone()),
            update_mask: mask(&["appointment_date"]),
        })
        .await;
    assert_refused(refused, Code::InvalidArgument, "CORRECT_THROUGH_HISTORY");
    // a full replacement (`*`) does not touch it either
    let replaced = admin
        .update_secretary(pb::UpdateSecretaryRequest {
            secretary: Some(pb::Secretary {
                birth_date: "1980-01-01".into(),
                id_number: id_number(1980, 364),
                phone_number: "13800138000".into(),
                ..change
            }),
            update_mask: mask(&["*"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read(&app, &created.name).await.appointment_date,
        "2024-09-01"
    );
    let before = admin
        .check_promotion(pb::CheckPromotionRequest {
            name: created.name.clone(),
            ladder: pb::Ladder::Management as i32,
            effective_date: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!before.eligible);

    // the correction goes into the history, and everything that depends on it follows
    let appointment = events(&app, &created.name).await.remove(0);
    let correction = admin
        .correct_career_event(correct(&appointment.name, "2020-01-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(correction.r#type, pb::CareerEventType::Correction as i32);
    assert_eq!(correction.corrects, appointment.name);
    let now = read(&app, &created.name).await;
    assert_eq!(
        (now.appointment_date.as_str(), now.rung_since.as_str()),
        ("2020-01-01", "2020-01-01")
    );
    assert_ne!(now.etag, replaced.etag, "a new version");
    let history = events(&app, &created.name).await;
    assert_eq!(
        history.len(),
        2,
        "the original event is kept, the correction added"
    );
    assert_eq!(
        history[0].effective_date, "2024-09-01",
        "recorded as it was"
    );
    assert_eq!(
        history[0].current_effective_date, "2020-01-01",
        "in force now"
    );
    let after = admin
        .check_promotion(pb::CheckPromotionRequest {
            name: created.name.clone(),
            ladder: pb::Ladder::Management as i32,
            effective_date: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(after.eligible, "{after:?}");
}

#[tokio::test]
async fn a_correction_that_would_put_events_out_of_order_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1980, 365))).await; // appointed 2020-03-01
    let mut admin = app.admin();
    admin
        .promote_secretary(pb::PromoteSecretaryRequest {
            name: created.name.clone(),
            ladder: pb::Ladder::Management as i32,
            effective_date: "2024-05-01".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let appointment = events(&app, &created.name).await.remove(0);
    let before = read(&app, &created.name).await;
    let refused = admin
        .correct_career_event(correct(&appointment.name, "2024-06-01"))
        .await;
    let status = assert_refused(refused, Code::InvalidArgument, "DATE_ORDER");
    assert!(status.message().contains("2024-05-01"), "{status:?}");
    assert_eq!(read(&app, &created.name).await.etag, before.etag);
    assert_eq!(events(&app, &created.name).await.len(), 2);
    // a date the person's life does not allow is refused too (appointed before 18)
    assert_refused(
        admin
            .correct_career_event(correct(&appointment.name, "1995-01-01"))
            .await,
        Code::InvalidArgument,
        "DATE_ORDER",
    );
}

#[tokio::test]
async fn a_secretary_who_left_is_reappointed_as_a_new_tenure_keeping_the_earlier_history() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1980, 366))).await;
    let mut admin = app.admin();
    let reappoint = |date: &str| pb::ReappointSecretaryRequest {
        name: created.name.clone(),
        appointment_date: date.into(),
        region: DAXIN_COMMUNITY.into(),
        note: "换届选举".into(),
        request_id: String::new(),
    };
    // still in post: nothing to re-appoint
    assert_refused(
        admin.reappoint_secretary(reappoint("2025-03-01")).await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    admin
        .create_career_event(pb::CreateCareerEventRequest {
            parent: created.name.clone(),
            career_event: Some(pb::CareerEvent {
                r#type: pb::CareerEventType::Departure as i32,
                effective_date: "2023-01-01".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    assert_refused(
        admin.reappoint_secretary(reappoint("2022-12-31")).await,
        Code::InvalidArgument,
        "DATE_ORDER",
    );
    let back = admin
        .reappoint_secretary(reappoint("2025-03-01"))
        .await
        .unwrap()
        .into_inner();
    let secretary = back.secretary.unwrap();
    assert_eq!(secretary.status, pb::SecretaryStatus::Active as i32);
    assert_eq!(secretary.tenure, 2);
    assert_eq!(secretary.region, DAXIN_COMMUNITY);
    assert_eq!(secretary.appointment_date, "2025-03-01");
    assert_eq!(secretary.name, created.name, "the same record");
    let kinds: Vec<i32> = events(&app, &created.name)
        .await
        .iter()
        .map(|e| e.r#type)
        .collect();
    assert_eq!(
        kinds,
        [
            pb::CareerEventType::Appointment as i32,
            pb::CareerEventType::Departure as i32,
            pb::CareerEventType::Appointment as i32
        ]
    );
    // removed after evaluation: not re-appointed this way
    let removed = create(&app, secretary_profile(367)).await;
    admin
        .create_career_event(pb::CreateCareerEventRequest {
            parent: removed.name.clone(),
            career_event: Some(pb::CareerEvent {
                r#type: pb::CareerEventType::Removal as i32,
                effective_date: "2024-01-01".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    assert_refused(
        admin
            .reappoint_secretary(pb::ReappointSecretaryRequest {
                name: removed.name,
                ..reappoint("2025-03-01")
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
}

fn secretary_profile(serial: u32) -> pb::Secretary {
    secretary(&id_number(1980, serial))
}

#[tokio::test]
async fn dates_no_serving_secretary_can_have_are_refused() {
    let app = TestApp::spawn().await;
    let mut admin = app.admin();
    let old = id_number(1919, 1);
    let refused = admin
        .create_secretary(pb::CreateSecretaryRequest {
            secretary: Some(secretary(&old)),
            request_id: String::new(),
        })
        .await;
    let status = assert_refused(refused, Code::InvalidArgument, "DATE_IMPLAUSIBLE");
    assert!(
        violations(&status).contains(&("secretary.birth_date".into(), "DATE_IMPLAUSIBLE".into()))
    );
    let mut late = secretary(&id_number(1950, 2));
    late.appointment_date = "2024-01-01".into(); // at 73
    late.community_work_start_date = "1990-01-01".into();
    let refused = admin
        .create_secretary(pb::CreateSecretaryRequest {
            secretary: Some(late),
            request_id: String::new(),
        })
        .await;
    assert_refused(refused, Code::InvalidArgument, "DATE_IMPLAUSIBLE");
}

#[tokio::test]
async fn statistics_count_each_secretary_where_they_served_that_year() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1980, 368))).await; // Nantou since 2020
    let mut admin = app.admin();
    // moved to Daxin in 2026 ("today" is 2026-06-15)
    admin
        .create_career_event(pb::CreateCareerEventRequest {
            parent: created.name.clone(),
            career_event: Some(pb::CareerEvent {
                r#type: pb::CareerEventType::Reassignment as i32,
                effective_date: "2026-02-01".into(),
                to_region: DAXIN_COMMUNITY.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let stats = |region: &str, year: i32| pb::GetWorkforceStatisticsRequest {
        region: format!("regions/{region}"),
        year,
    };
    let nantou_2025 = admin
        .get_workforce_statistics(stats(NANTOU_COMMUNITY, 2025))
        .await
        .unwrap()
        .into_inner();
    let daxin_2025 = admin
        .get_workforce_statistics(stats(DAXIN_COMMUNITY, 2025))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (nantou_2025.headcount, daxin_2025.headcount),
        (1, 0),
        "2025 stays in Nantou"
    );
    let daxin_now = admin
        .get_workforce_statistics(stats(DAXIN_COMMUNITY, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(daxin_now.headcount, 1);
    assert!(daxin_now.talent_loss_rate <= 100.0);
}

#[tokio::test]
async fn a_reserve_candidate_is_one_person_and_is_linked_to_the_secretary_they_become() {
    let app = TestApp::spawn().await;
    let mut admin = app.admin();
    let id = id_number(1992, 369);
    let candidate = pb::ReserveCandidate {
        display_name: "李明".into(),
        birth_date: "1992-01-01".into(),
        education: pb::Education::Bachelor as i32,
        region: NANTOU_COMMUNITY.into(),
        readiness: pb::Readiness::ReadyNow as i32,
        id_number: id.clone(),
        ..Default::default()
    };
    let added = admin
        .create_reserve_candidate(pb::CreateReserveCandidateRequest {
            reserve_candidate: Some(candidate.clone()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.id_number, "440305************");
    let twice = admin
        .create_reserve_candidate(pb::CreateReserveCandidateRequest {
            reserve_candidate: Some(pb::ReserveCandidate {
                display_name: "李 明".into(),
                ..candidate
            }),
            request_id: String::new(),
        })
        .await;
    assert_refused(twice, Code::AlreadyExists, "CANDIDATE_ID_NUMBER_TAKEN");
    let progress = admin
        .get_reserve_pool_progress(pb::GetReservePoolProgressRequest {
            province: format!("provinces/{GUANGDONG}"),
            year: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(progress.added, 1, "the same person counts once");

    let mut profile = secretary(&id);
    profile.appointment_date = "2026-03-01".into();
    profile.community_work_start_date = "2016-01-01".into();
    let appointed = create(&app, profile).await;
    let linked = admin
        .get_reserve_candidate(pb::GetReserveCandidateRequest { name: added.name })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(linked.status, pb::ReserveStatus::Appointed as i32);
    assert_eq!(linked.secretary, appointed.name);
}

#[tokio::test]
async fn a_secretary_token_naming_a_record_outside_its_scope_reads_nothing() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1980, 370))).await; // in Nantou
    let mut misissued = shequ_kit::testing::caller(Role::Secretary, FUTIAN_COMMUNITY);
    misissued.secretary = Some(created.name.clone());
    let client = app.client_with_token(&app.keys.token_for(&misissued));
    let refused = client
        .clone()
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await;
    assert_refused(refused, Code::NotFound, "RESOURCE_NOT_FOUND");
    // the same token issued for the right community reads its own record, unmasked
    let mut own = shequ_kit::testing::caller(Role::Secretary, NANTOU_COMMUNITY);
    own.secretary = Some(created.name.clone());
    let mine = app
        .client_with_token(&app.keys.token_for(&own))
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!mine.personal_data_masked);
}

#[tokio::test]
async fn a_violation_is_read_by_its_name() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1980, 371))).await;
    let mut admin = app.admin();
    let recorded = admin
        .create_violation(pb::CreateViolationRequest {
            parent: created.name.clone(),
            violation: Some(pb::Violation {
                negative_list_item: format!("provinces/{GUANGDONG}/negativeListItems/NL02"),
                occurred_on: "2026-01-10".into(),
                evidence: "通报".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let read = admin
        .get_violation(pb::GetViolationRequest {
            name: recorded.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, recorded);
    assert_refused(
        app.client(Role::DistrictAdmin, "440304000000")
            .get_violation(pb::GetViolationRequest {
                name: recorded.name,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
}
