use shequ_kit::auth::Role;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn standard_name() -> String {
    format!("provinces/{GUANGDONG}/qualificationStandard")
}

fn candidate(
    birth: &str,
    education: pb::Education,
    work: &str,
) -> pb::CheckCandidateQualificationRequest {
    pb::CheckCandidateQualificationRequest {
        qualification_standard: standard_name(),
        candidate: Some(pb::CandidateProfile {
            birth_date: birth.into(),
            education: education as i32,
            community_work_start_date: work.into(),
            appointment_date: "2026-07-01".into(),
        }),
    }
}

#[tokio::test]
async fn the_default_standard_applies_until_the_province_changes_it() {
    let app = TestApp::spawn().await;
    let mut district = app.admin();
    let standard = district
        .get_qualification_standard(pb::GetQualificationStandardRequest {
            name: standard_name(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            standard.max_age_at_appointment,
            standard.min_education,
            standard.min_years_community_work
        ),
        (50, pb::Education::JuniorCollege as i32, 3)
    );

    // a district administrator cannot change it
    let mut stricter = standard.clone();
    stricter.max_age_at_appointment = 45;
    assert_refused(
        district
            .update_qualification_standard(pb::UpdateQualificationStandardRequest {
                qualification_standard: Some(stricter.clone()),
                update_mask: mask(&["max_age_at_appointment"]),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    let mut province = app.client(Role::ProvinceAdmin, GUANGDONG);
    let changed = province
        .update_qualification_standard(pb::UpdateQualificationStandardRequest {
            qualification_standard: Some(stricter.clone()),
            update_mask: mask(&["max_age_at_appointment"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.max_age_at_appointment, 45);
    assert!(changed.update_time.is_some());
    // the same (now stale) etag again
    assert_refused(
        province
            .update_qualification_standard(pb::UpdateQualificationStandardRequest {
                qualification_standard: Some(stricter),
                update_mask: mask(&["max_age_at_appointment"]),
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    // out-of-range values name the field and change nothing
    let mut absurd = changed.clone();
    absurd.max_age_at_appointment = 5;
    let status = assert_refused(
        province
            .update_qualification_standard(pb::UpdateQualificationStandardRequest {
                qualification_standard: Some(absurd),
                update_mask: mask(&["max_age_at_appointment"]),
            })
            .await,
        Code::InvalidArgument,
        "VALUE_OUT_OF_RANGE",
    );
    assert_eq!(
        violations(&status)[0].0,
        "qualification_standard.max_age_at_appointment"
    );
    // another province is untouched
    let zhejiang = app
        .client(Role::ProvinceAdmin, "330000000000")
        .get_qualification_standard(pb::GetQualificationStandardRequest {
            name: "provinces/330000000000/qualificationStandard".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(zhejiang.max_age_at_appointment, 50);
}

#[tokio::test]
async fn a_candidate_check_names_every_unmet_rule() {
    let app = TestApp::spawn().await;
    let mut client = app.admin();
    let good = client
        .check_candidate_qualification(candidate(
            "1985-01-01",
            pb::Education::Bachelor,
            "2018-01-01",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(good.qualified);
    let bad = client
        .check_candidate_qualification(candidate(
            "1970-01-01",
            pb::Education::SeniorSecondary,
            "2025-01-01",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.qualified);
    let unmet: Vec<&str> = bad
        .rules
        .iter()
        .filter(|r| !r.met)
        .map(|r| r.rule.as_str())
        .collect();
    assert_eq!(
        unmet,
        vec![
            "MAX_AGE_AT_APPOINTMENT",
            "MIN_EDUCATION",
            "MIN_YEARS_COMMUNITY_WORK"
        ]
    );
    assert!(bad.rules[0].actual.contains("56"), "{:?}", bad.rules[0]);
}

#[tokio::test]
async fn a_secretary_is_checked_against_their_own_provinces_standard() {
    let app = TestApp::spawn().await;
    let mut profile = secretary(&id_number(1960, 50));
    profile.appointment_date = "2015-01-01".into(); // appointed at 55
    profile.community_work_start_date = "2000-01-01".into();
    let created = create(&app, profile).await;
    let check = app
        .admin()
        .check_secretary_qualification(pb::CheckSecretaryQualificationRequest {
            name: created.name,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.qualification_standard, standard_name());
    assert!(!check.qualified);
    assert_eq!(
        check
            .rules
            .iter()
            .filter(|r| !r.met)
            .map(|r| r.rule.clone())
            .collect::<Vec<_>>(),
        vec!["MAX_AGE_AT_APPOINTMENT"]
    );
}

#[tokio::test]
async fn the_negative_list_ships_thirty_items_and_grows_per_province() {
    let app = TestApp::spawn().await;
    let mut district = app.admin();
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = district
            .list_negative_list_items(pb::ListNegativeListItemsRequest {
                parent: format!("provinces/{GUANGDONG}"),
                page_size: 20,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.negative_list_items);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(all.len(), 30);
    assert!(all.iter().all(|i| i.active));

    let mut province = app.client(Role::ProvinceAdmin, GUANGDONG);
    let created = province
        .create_negative_list_item(pb::CreateNegativeListItemRequest {
            request_id: String::new(),
            parent: format!("provinces/{GUANGDONG}"),
            negative_list_item_id: "GD-01".into(),
            negative_list_item: Some(pb::NegativeListItem {
                title: "违规使用无人机巡查".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.name,
        format!("provinces/{GUANGDONG}/negativeListItems/GD-01")
    );
    assert_refused(
        province
            .create_negative_list_item(pb::CreateNegativeListItemRequest {
                request_id: String::new(),
                parent: format!("provinces/{GUANGDONG}"),
                negative_list_item_id: "GD-01".into(),
                negative_list_item: Some(pb::NegativeListItem {
                    title: "重复".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::AlreadyExists,
        "NEGATIVE_LIST_ITEM_EXISTS",
    );
    assert_refused(
        district
            .create_negative_list_item(pb::CreateNegativeListItemRequest {
                request_id: String::new(),
                parent: format!("provinces/{GUANGDONG}"),
                negative_list_item_id: "GD-02".into(),
                negative_list_item: Some(pb::NegativeListItem {
                    title: "x".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    // Zhejiang still has the shipped thirty.
    let zhejiang = app
        .client(Role::ProvinceAdmin, "330000000000")
        .list_negative_list_items(pb::ListNegativeListItemsRequest {
            parent: "provinces/330000000000".into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(zhejiang.negative_list_items.len(), 30);
}

#[tokio::test]
async fn province_names_must_be_provinces() {
    let app = TestApp::spawn().await;
    assert_refused(
        app.admin()
            .get_qualification_standard(pb::GetQualificationStandardRequest {
                name: "provinces/440300000000/qualificationStandard".into(),
            })
            .await,
        Code::InvalidArgument,
        "REGION_WRONG_LEVEL",
    );
    assert_refused(
        app.admin()
            .get_qualification_standard(pb::GetQualificationStandardRequest {
                name: "qualificationStandard".into(),
            })
            .await,
        Code::InvalidArgument,
        "RESOURCE_NAME_INVALID",
    );
}
