use shequ_kit::auth::Role;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn promote(name: &str, ladder: pb::Ladder) -> pb::PromoteSecretaryRequest {
    pb::PromoteSecretaryRequest {
        name: name.into(),
        ladder: ladder as i32,
        ..Default::default()
    }
}

fn event(kind: pb::CareerEventType) -> pb::CareerEvent {
    pb::CareerEvent {
        r#type: kind as i32,
        ..Default::default()
    }
}

async fn history(app: &TestApp, name: &str) -> Vec<i32> {
    app.admin()
        .list_career_events(pb::ListCareerEventsRequest {
            parent: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .career_events
        .iter()
        .map(|e| e.r#type)
        .collect()
}

#[tokio::test]
async fn a_refused_promotion_names_every_unmet_prerequisite_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut profile = secretary(&id_number(1985, 40));
    profile.appointment_date = "2024-09-01".into(); // under 2 years on the rung
    let created = create(&app, profile).await;
    let mut client = app.admin();
    client
        .create_violation(pb::CreateViolationRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            violation: Some(pb::Violation {
                negative_list_item: format!("provinces/{GUANGDONG}/negativeListItems/NL13"),
                occurred_on: "2026-01-10".into(),
                evidence: "居民投诉记录 2026-0112".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    let status = assert_refused(
        client
            .promote_secretary(promote(&created.name, pb::Ladder::Management))
            .await,
        Code::FailedPrecondition,
        "PROMOTION_PREREQUISITES_UNMET",
    );
    let details = tonic_types::StatusExt::get_error_details(&status);
    let unmet: Vec<String> = details
        .precondition_failure()
        .unwrap()
        .violations
        .iter()
        .map(|v| v.subject.clone())
        .collect();
    assert_eq!(unmet, vec!["YEARS_ON_CURRENT_RUNG", "NO_RECENT_VIOLATION"]);

    let after = client
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.rung, pb::Rung::Secretary as i32);
    assert_eq!(after.etag, created.etag);
    assert_eq!(
        history(&app, &created.name).await,
        vec![pb::CareerEventType::Appointment as i32]
    );

    // The check explains the same without trying.
    let check = client
        .check_promotion(pb::CheckPromotionRequest {
            name: created.name.clone(),
            ladder: pb::Ladder::Management as i32,
            effective_date: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!check.eligible);
    assert_eq!(check.to_rung, pb::Rung::AreaDirector as i32);
    assert_eq!(check.prerequisites.iter().filter(|p| !p.met).count(), 2);
}

#[tokio::test]
async fn promotions_climb_one_rung_at_a_time_once_time_has_passed() {
    let app = TestApp::spawn().await;
    // Training is not deployed here: this province's professional ladder needs no certificate
    // (the certificate prerequisite has its own tests and journey).
    require_no_certificates(&app).await;
    let created = create(&app, secretary(&id_number(1985, 41))).await; // appointed 2020-03-01
    let mut client = app.admin();

    let first = client
        .promote_secretary(promote(&created.name, pb::Ladder::Professional))
        .await
        .unwrap()
        .into_inner();
    let promoted = first.secretary.unwrap();
    assert_eq!(promoted.rung, pb::Rung::ChiefGovernanceExpert as i32);
    assert_eq!(promoted.ladder, pb::Ladder::Professional as i32);
    assert_eq!(promoted.rung_since, "2026-06-15");
    let event = first.career_event.unwrap();
    assert_eq!(
        (event.from_rung, event.to_rung),
        (
            pb::Rung::Secretary as i32,
            pb::Rung::ChiefGovernanceExpert as i32
        )
    );

    // Straight away: not three years on the new rung.
    let status = assert_refused(
        client
            .promote_secretary(promote(&created.name, pb::Ladder::Professional))
            .await,
        Code::FailedPrecondition,
        "PROMOTION_PREREQUISITES_UNMET",
    );
    assert!(status.message().contains("YEARS_ON_CURRENT_RUNG"));
    // The other ladder is closed once one is climbed.
    assert_refused(
        client
            .promote_secretary(promote(&created.name, pb::Ladder::Management))
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );

    app.clock.advance(chrono::Duration::days(3 * 366));
    let second = client
        .promote_secretary(promote(&created.name, pb::Ladder::Professional))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.secretary.unwrap().rung,
        pb::Rung::ThinkTankAdvisor as i32
    );
    // The top of the ladder.
    app.clock.advance(chrono::Duration::days(3 * 366));
    assert_refused(
        client
            .promote_secretary(promote(&created.name, pb::Ladder::Professional))
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    let expected: Vec<i32> = [
        pb::CareerEventType::Appointment,
        pb::CareerEventType::Promotion,
        pb::CareerEventType::Promotion,
    ]
    .iter()
    .map(|t| *t as i32)
    .collect();
    assert_eq!(history(&app, &created.name).await, expected);
}

#[tokio::test]
async fn a_province_can_require_more_years_for_a_rung() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 42))).await; // 6 years on the rung
    let mut province = app.client(Role::ProvinceAdmin, GUANGDONG);
    let policy = province
        .get_career_policy(pb::GetCareerPolicyRequest {
            name: format!("provinces/{GUANGDONG}/careerPolicy"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.reserve_annual_target, 1500);
    assert!(
        policy
            .rung_requirements
            .iter()
            .all(|r| r.min_years_on_current_rung == 3)
    );
    let mut stricter = policy.clone();
    stricter.rung_requirements = vec![pb::RungRequirement {
        rung: pb::Rung::AreaDirector as i32,
        min_years_on_current_rung: 8,
        required_certificate: 0,
    }];
    province
        .update_career_policy(pb::UpdateCareerPolicyRequest {
            career_policy: Some(stricter),
            update_mask: mask(&["rung_requirements"]),
        })
        .await
        .unwrap();
    assert_refused(
        app.admin()
            .promote_secretary(promote(&created.name, pb::Ladder::Management))
            .await,
        Code::FailedPrecondition,
        "PROMOTION_PREREQUISITES_UNMET",
    );
    // the professional ladder keeps the default years (and its certificate, which nobody here
    // holds: training is not deployed with this service)
    let check = check_professional(&app, &created.name).await;
    let met: Vec<(String, bool)> = check
        .prerequisites
        .iter()
        .map(|p| (p.code.clone(), p.met))
        .collect();
    assert_eq!(
        met,
        vec![
            ("YEARS_ON_CURRENT_RUNG".to_owned(), true),
            ("NO_RECENT_VIOLATION".to_owned(), true),
            ("CERTIFICATE".to_owned(), false),
            // evaluation is not deployed here either: no ranking is known, the detail says so
            ("OUTSIDE_ADJUSTMENT_BAND".to_owned(), true),
        ]
    );
    let band = check.prerequisites.last().unwrap();
    assert_eq!(band.source, "evaluation");
    assert!(band.detail.contains("not deployed"), "{}", band.detail);
}

#[tokio::test]
async fn without_training_the_professional_ladder_waits_for_a_certificate_nobody_can_know() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 44))).await; // 6 years on the rung
    let status = assert_refused(
        app.admin()
            .promote_secretary(promote(&created.name, pb::Ladder::Professional))
            .await,
        Code::FailedPrecondition,
        "PROMOTION_PREREQUISITES_UNMET",
    );
    assert!(
        status.message().contains("CERTIFICATE"),
        "{}",
        status.message()
    );
    let check = check_professional(&app, &created.name).await;
    let certificate = check
        .prerequisites
        .iter()
        .find(|p| p.code == "CERTIFICATE")
        .expect("the professional ladder needs a certificate");
    assert!(!certificate.met);
    assert_eq!(certificate.source, "training");
    assert!(
        certificate.detail.contains("中级") && certificate.detail.contains("not deployed"),
        "{}",
        certificate.detail
    );
    assert!(certificate.source_as_of.is_none());
    // The management ladder needs none.
    app.admin()
        .promote_secretary(promote(&created.name, pb::Ladder::Management))
        .await
        .unwrap();
}

#[tokio::test]
async fn leaving_events_end_the_career_and_nothing_follows_them() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 43))).await;
    let mut client = app.admin();

    let mut title = event(pb::CareerEventType::TitlePromotion);
    title.title = "社会工作师".into();
    client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            career_event: Some(title),
        })
        .await
        .unwrap();

    let transfer_without_destination = client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            career_event: Some(event(pb::CareerEventType::Transfer)),
        })
        .await;
    assert_refused(
        transfer_without_destination,
        Code::InvalidArgument,
        "FIELD_REQUIRED",
    );

    let mut transfer = event(pb::CareerEventType::Transfer);
    transfer.destination = "街道办事处科员".into();
    let recorded = client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            career_event: Some(transfer),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.effective_date, "2026-06-15");

    let after = client
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.status, pb::SecretaryStatus::Transferred as i32);
    assert_eq!(after.professional_title, "社会工作师");

    let status = assert_refused(
        client
            .create_career_event(pb::CreateCareerEventRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                career_event: Some(event(pb::CareerEventType::Departure)),
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    assert!(
        status.message().contains("transferred"),
        "{}",
        status.message()
    );
    assert_refused(
        client
            .promote_secretary(promote(&created.name, pb::Ladder::Management))
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    // appointments and promotions have their own operations
    assert_refused(
        client
            .create_career_event(pb::CreateCareerEventRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                career_event: Some(event(pb::CareerEventType::Promotion)),
            })
            .await,
        Code::InvalidArgument,
        "EVENT_TYPE_NOT_RECORDABLE",
    );

    let single = client
        .get_career_event(pb::GetCareerEventRequest {
            name: recorded.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(single.destination, "街道办事处科员");
    assert_eq!(history(&app, &created.name).await.len(), 3);
}

#[tokio::test]
async fn a_reassignment_moves_the_secretary_within_the_callers_scope_only() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 44))).await;
    let mut client = app.admin();
    let mut to_futian = event(pb::CareerEventType::Reassignment);
    to_futian.to_region = FUTIAN_COMMUNITY.into();
    assert_refused(
        client
            .create_career_event(pb::CreateCareerEventRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                career_event: Some(to_futian),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    let mut to_daxin = event(pb::CareerEventType::Reassignment);
    to_daxin.to_region = DAXIN_COMMUNITY.into();
    let moved = client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            career_event: Some(to_daxin),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.from_region, NANTOU_COMMUNITY);
    let after = client
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name,
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.region, DAXIN_COMMUNITY);
    assert_eq!(after.status, pb::SecretaryStatus::Active as i32);
}

#[tokio::test]
async fn events_cannot_be_dated_in_the_future_or_before_the_history() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 45))).await;
    let mut client = app.admin();
    let mut future = event(pb::CareerEventType::Retirement);
    future.effective_date = "2030-01-01".into();
    assert_refused(
        client
            .create_career_event(pb::CreateCareerEventRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                career_event: Some(future),
            })
            .await,
        Code::InvalidArgument,
        "DATE_IN_FUTURE",
    );
    let mut before = event(pb::CareerEventType::Retirement);
    before.effective_date = "2019-01-01".into(); // before the appointment
    assert_refused(
        client
            .create_career_event(pb::CreateCareerEventRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                career_event: Some(before),
            })
            .await,
        Code::InvalidArgument,
        "DATE_BEFORE_LAST_EVENT",
    );
}

#[tokio::test]
async fn violations_are_listed_newest_first_and_retired_items_take_no_new_ones() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 46))).await;
    let mut client = app.admin();
    for (item, date) in [
        ("NL04", "2025-01-05"),
        ("NL13", "2026-02-01"),
        ("NL07", "2025-08-20"),
    ] {
        client
            .create_violation(pb::CreateViolationRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                violation: Some(pb::Violation {
                    negative_list_item: format!("provinces/{GUANGDONG}/negativeListItems/{item}"),
                    occurred_on: date.into(),
                    evidence: "纪检通报".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }
    let mut dates = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_violations(pb::ListViolationsRequest {
                parent: created.name.clone(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        dates.extend(page.violations.iter().map(|v| v.occurred_on.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(dates, vec!["2026-02-01", "2025-08-20", "2025-01-05"]);

    let mut province = app.client(Role::ProvinceAdmin, GUANGDONG);
    let item = province
        .get_negative_list_item(pb::GetNegativeListItemRequest {
            name: format!("provinces/{GUANGDONG}/negativeListItems/NL25"),
        })
        .await
        .unwrap()
        .into_inner();
    let mut retired = item.clone();
    retired.active = false;
    province
        .update_negative_list_item(pb::UpdateNegativeListItemRequest {
            negative_list_item: Some(retired),
            update_mask: mask(&["active"]),
        })
        .await
        .unwrap();
    assert_refused(
        client
            .create_violation(pb::CreateViolationRequest {
                request_id: String::new(),
                parent: created.name.clone(),
                violation: Some(pb::Violation {
                    negative_list_item: item.name,
                    occurred_on: "2026-03-01".into(),
                    evidence: "x".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::InvalidArgument,
        "NEGATIVE_LIST_ITEM_RETIRED",
    );
    // another province's catalogue does not apply
    assert_refused(
        client
            .create_violation(pb::CreateViolationRequest {
                request_id: String::new(),
                parent: created.name,
                violation: Some(pb::Violation {
                    negative_list_item: "provinces/330000000000/negativeListItems/NL01".into(),
                    occurred_on: "2026-03-01".into(),
                    evidence: "x".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::InvalidArgument,
        "NEGATIVE_LIST_ITEM_WRONG_PROVINCE",
    );
}

/// CheckPromotion on the professional ladder, today, as the district administrator.
async fn check_professional(app: &TestApp, name: &str) -> pb::PromotionCheck {
    app.admin()
        .check_promotion(pb::CheckPromotionRequest {
            name: name.to_owned(),
            ladder: pb::Ladder::Professional as i32,
            effective_date: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// A detail of another event type is not used, but one given malformed is refused as the contract
/// says (schemathesis found a departure with a garbage `to_region` accepted).
#[tokio::test]
async fn a_detail_of_another_event_type_given_malformed_is_refused_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 44))).await;
    let mut client = app.admin();
    let mut departure = event(pb::CareerEventType::Departure);
    departure.to_region = "not a region".into();
    departure.title = "\u{7}".into();
    let refused = client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            career_event: Some(departure),
        })
        .await
        .expect_err("a malformed detail");
    let named: Vec<String> = violations(&refused).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        named,
        vec!["career_event.to_region", "career_event.title"],
        "{refused:?}"
    );
    assert_eq!(
        history(&app, &created.name).await,
        vec![pb::CareerEventType::Appointment as i32]
    );
    // well formed, it is accepted and ignored
    let mut departure = event(pb::CareerEventType::Departure);
    departure.to_region = DAXIN_COMMUNITY.into();
    client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: created.name.clone(),
            career_event: Some(departure),
        })
        .await
        .expect("a departure");
}
