use shequ_kit::auth::Role;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn candidate(name: &str, readiness: pb::Readiness, entry: &str) -> pb::ReserveCandidate {
    pb::ReserveCandidate {
        display_name: name.into(),
        birth_date: "1995-05-05".into(),
        education: pb::Education::Bachelor as i32,
        region: NANTOU_COMMUNITY.into(),
        readiness: readiness as i32,
        pool_entry_date: entry.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn reserve_progress_counts_this_years_entries_against_the_target() {
    let app = TestApp::spawn().await;
    let mut client = app.admin();
    for (name, readiness, entry) in [
        ("李明", pb::Readiness::ReadyNow, "2026-02-01"),
        ("张伟", pb::Readiness::Developing, "2026-05-01"),
        ("刘洋", pb::Readiness::ReadyNow, "2025-11-01"),
    ] {
        client
            .create_reserve_candidate(pb::CreateReserveCandidateRequest {
                request_id: String::new(),
                reserve_candidate: Some(candidate(name, readiness, entry)),
            })
            .await
            .unwrap();
    }
    let progress = client
        .get_reserve_pool_progress(pb::GetReservePoolProgressRequest {
            province: format!("provinces/{GUANGDONG}"),
            year: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (progress.year, progress.target, progress.added),
        (2026, 1500, 2)
    );
    assert_eq!((progress.in_pool, progress.ready_now), (3, 2));
    assert_eq!(progress.percent_of_target, 0.1);

    // a candidate who is appointed leaves the pool count
    let listed = client
        .list_reserve_candidates(pb::ListReserveCandidatesRequest {
            parent: format!("regions/{NANSHAN}"),
            readiness: pb::Readiness::ReadyNow as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.reserve_candidates.len(), 2);
    let mut appointed = listed.reserve_candidates[0].clone();
    appointed.status = pb::ReserveStatus::Appointed as i32;
    client
        .update_reserve_candidate(pb::UpdateReserveCandidateRequest {
            reserve_candidate: Some(appointed),
            update_mask: mask(&["status"]),
        })
        .await
        .unwrap();
    let progress = client
        .get_reserve_pool_progress(pb::GetReservePoolProgressRequest {
            province: format!("provinces/{GUANGDONG}"),
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (progress.in_pool, progress.ready_now, progress.added),
        (2, 1, 2)
    );

    assert_refused(
        client
            .get_reserve_pool_progress(pb::GetReservePoolProgressRequest {
                province: format!("provinces/{GUANGDONG}"),
                year: 2030,
            })
            .await,
        Code::InvalidArgument,
        "YEAR_OUT_OF_RANGE",
    );
    // the reserve pool is not a secretary's to read, not even its progress
    let mut secretary = app.client(Role::Secretary, NANTOU_COMMUNITY);
    assert_refused(
        secretary
            .get_reserve_pool_progress(pb::GetReservePoolProgressRequest {
                province: format!("provinces/{GUANGDONG}"),
                year: 2026,
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
}

#[tokio::test]
async fn workforce_statistics_reflect_the_careers_recorded() {
    let app = TestApp::spawn().await;
    let mut client = app.admin();
    // four secretaries in post on 1 January 2026: two under 35
    let mut young_a = secretary(&id_number(1995, 60));
    young_a.community_work_start_date = "2017-01-01".into();
    young_a.appointment_date = "2020-01-01".into();
    let mut young_b = secretary(&id_number(1996, 61));
    young_b.community_work_start_date = "2018-01-01".into();
    young_b.appointment_date = "2021-01-01".into();
    let mut veteran = secretary(&id_number(1970, 62));
    veteran.community_work_start_date = "2000-01-01".into();
    veteran.appointment_date = "2005-01-01".into();
    let mut middle = secretary(&id_number(1982, 63));
    middle.community_work_start_date = "2010-01-01".into();
    middle.appointment_date = "2016-01-01".into();
    let young_a = create(&app, young_a).await;
    create(&app, young_b).await;
    let veteran = create(&app, veteran).await;
    let middle = create(&app, middle).await;

    let mut transfer = pb::CareerEvent {
        r#type: pb::CareerEventType::Transfer as i32,
        ..Default::default()
    };
    transfer.destination = "区民政局".into();
    transfer.effective_date = "2026-03-01".into();
    client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: young_a.name,
            career_event: Some(transfer),
        })
        .await
        .unwrap();
    let mut retire = pb::CareerEvent {
        r#type: pb::CareerEventType::Retirement as i32,
        ..Default::default()
    };
    retire.effective_date = "2026-04-01".into();
    client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: veteran.name,
            career_event: Some(retire),
        })
        .await
        .unwrap();
    let mut title = pb::CareerEvent {
        r#type: pb::CareerEventType::TitlePromotion as i32,
        ..Default::default()
    };
    title.title = "中级社会工作师".into();
    client
        .create_career_event(pb::CreateCareerEventRequest {
            request_id: String::new(),
            parent: middle.name,
            career_event: Some(title),
        })
        .await
        .unwrap();

    let stats = client
        .get_workforce_statistics(pb::GetWorkforceStatisticsRequest {
            region: format!("regions/{NANSHAN}"),
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.headcount_at_start_of_year, 4);
    assert_eq!(stats.headcount, 2, "one transferred, one retired");
    assert_eq!(stats.transfer_rate_under_35, 50.0);
    assert_eq!(stats.talent_loss_rate, 25.0, "the retirement is not a loss");
    assert_eq!(stats.percent_with_title_promotion, 50.0);
    assert_eq!(
        stats.percent_over_ten_years_service, 50.0,
        "the 1982-born veteran of 2010"
    );
    let bands: Vec<(String, i32)> = stats
        .age_bands
        .iter()
        .map(|b| (b.label.clone(), b.count))
        .collect();
    assert_eq!(bands[0], ("under 35".to_owned(), 1));
    assert_eq!(bands[2], ("45-54".to_owned(), 0));

    // a region the caller does not cover is refused, not answered with zeros
    assert_refused(
        client
            .get_workforce_statistics(pb::GetWorkforceStatisticsRequest {
                region: format!("regions/{GUANGDONG}"),
                year: 2026,
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    let province = app
        .client(Role::ProvinceAdmin, GUANGDONG)
        .get_workforce_statistics(pb::GetWorkforceStatisticsRequest {
            region: format!("regions/{GUANGDONG}"),
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(province.headcount, 2);
}
