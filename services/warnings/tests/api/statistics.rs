//! Statistics by colour, state, category and region, on-time rates per deadline kind counting
//! still-open overdue warnings as late, and evaluation's per-secretary summaries.

use chrono::Duration;
use shequ_kit::{auth::Role, testing::Bearer};
use shequ_proto::warnings::v1::{self as pb, warnings_service_client::WarningsServiceClient};
use tonic::Code;

use crate::helpers::*;

fn count(counts: &[pb::WarningCount]) -> Vec<(&str, i32)> {
    counts.iter().map(|c| (c.key.as_str(), c.count)).collect()
}

fn record(statistics: &pb::WarningStatistics) -> Vec<(i32, i32, i32, f64)> {
    statistics
        .on_time
        .iter()
        .map(|r| (r.kind, r.on_time, r.late, r.rate))
        .collect()
}

#[tokio::test]
async fn statistics_count_colours_categories_regions_and_the_on_time_rate_with_open_overdue_as_late()
 {
    let app = TestApp::spawn().await;
    let secretary = appoint(&app, NANTOU_COMMUNITY, 1).await;
    until_roster_shows(&app, &secretary, Some(NANTOU_COMMUNITY)).await;
    let mut admin = app.admin();
    // A: blue, answered within its 48 h; B: yellow, its consultation 10 h late; C: red, never
    // met (still open, overdue); D: Futian's, outside Nanshan
    let a = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    let b = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Yellow)).await;
    let c = raise(
        &admin,
        pb::Warning {
            category: "fire".into(),
            ..flood(DAXIN_COMMUNITY, pb::Colour::Red)
        },
    )
    .await;
    raise(
        &app.client(Role::DistrictAdmin, FUTIAN),
        flood(FUTIAN_COMMUNITY, pb::Colour::Blue),
    )
    .await;
    assert_eq!(a.assignee, secretary);
    assert_eq!(b.assignee, secretary);
    app.clock.advance(Duration::hours(1));
    admin
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .start_handling_warning(pb::StartHandlingWarningRequest {
            name: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .resolve_warning(pb::ResolveWarningRequest {
            name: a.name.clone(),
            resolution: "已疏通".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.clock.advance(Duration::hours(81));
    app.until_missed(&c.name, 1).await;
    app.until_missed(&b.name, 1).await;
    admin
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: b.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .create_consultation(pb::CreateConsultationRequest {
            parent: b.name.clone(),
            consultation: Some(pb::Consultation {
                departments: vec![pb::Department::Water as i32],
                summary: "会商".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();

    let statistics = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .get_warning_statistics(pb::GetWarningStatisticsRequest {
            region: format!("regions/{NANTOU_STREET}"),
            start_date: "2026-06-01".into(),
            end_date: "2026-06-30".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statistics.total, 3, "Futian's is not counted");
    assert_eq!(
        count(&statistics.by_colour),
        [("COLOUR_BLUE", 1), ("COLOUR_RED", 1), ("COLOUR_YELLOW", 1)]
    );
    assert_eq!(count(&statistics.by_category), [("fire", 1), ("flood", 2)]);
    assert_eq!(
        count(&statistics.by_state),
        [
            ("WARNING_STATE_HANDLING", 1),
            ("WARNING_STATE_OPEN", 1),
            ("WARNING_STATE_RESOLVED", 1)
        ]
    );
    assert_eq!(
        count(&statistics.by_region),
        [(NANTOU_COMMUNITY, 2), (DAXIN_COMMUNITY, 1)]
    );
    assert_eq!(statistics.overdue, 1, "C");
    assert_eq!(
        record(&statistics),
        [
            (pb::DeadlineKind::Respond as i32, 1, 0, 1.0),
            (pb::DeadlineKind::Consult as i32, 0, 1, 0.0),
            (pb::DeadlineKind::TaskForce as i32, 0, 1, 0.0),
        ]
    );
    // the province sees Shenzhen as one city, with Futian's warning too
    let province = app
        .province_admin()
        .get_warning_statistics(pb::GetWarningStatisticsRequest {
            region: format!("regions/{GUANGDONG}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count(&province.by_region), [(SHENZHEN, 4)]);
    assert_eq!(
        (province.start_date.as_str(), province.end_date.as_str()),
        ("2026-01-01", "2026-06-18")
    );
    // a period before any warning counts nothing; a period that ends before it starts is refused
    let empty = admin
        .get_warning_statistics(pb::GetWarningStatisticsRequest {
            region: format!("regions/{NANSHAN}"),
            start_date: "2026-01-01".into(),
            end_date: "2026-06-14".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((empty.total, empty.on_time[0].rate), (0, 0.0));
    let refused = assert_refused(
        admin
            .get_warning_statistics(pb::GetWarningStatisticsRequest {
                region: format!("regions/{NANSHAN}"),
                start_date: "2026-06-30".into(),
                end_date: "2026-06-01".into(),
            })
            .await,
        Code::InvalidArgument,
        "DATE_ORDER",
    );
    assert_eq!(
        violations(&refused),
        [("end_date".to_owned(), "DATE_ORDER".to_owned())]
    );
    assert_refused(
        app.client(Role::Secretary, NANTOU_COMMUNITY)
            .get_warning_statistics(pb::GetWarningStatisticsRequest {
                region: format!("regions/{NANTOU_COMMUNITY}"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );

    // evaluation, as itself: the secretary's year
    let mut evaluation = WarningsServiceClient::with_interceptor(
        app.server.channel(),
        Bearer::new(&app.keys.service_token("evaluation")),
    );
    let summaries = evaluation
        .batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest {
            secretaries: vec![secretary.clone()],
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner()
        .summaries;
    let summary = &summaries[0];
    assert_eq!(
        (
            summary.secretary.as_str(),
            summary.warnings_assigned,
            summary.warnings_resolved,
            summary.deadlines_on_time,
            summary.deadlines_late,
            summary.on_time_rate
        ),
        (secretary.as_str(), 2, 1, 1, 1, 0.5)
    );
    let last_year = evaluation
        .batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest {
            secretaries: vec![secretary.clone()],
            year: 2025,
        })
        .await
        .unwrap()
        .into_inner()
        .summaries;
    assert_eq!(
        (
            last_year[0].warnings_assigned,
            last_year[0].deadlines_on_time
        ),
        (0, 0)
    );
    assert_refused(
        evaluation
            .batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest {
                secretaries: vec![secretary.clone(), "secretaries/unknown".into()],
                year: 2026,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    let refused = assert_refused(
        evaluation
            .batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest {
                secretaries: vec![secretary.clone(), secretary.clone()],
                year: 1999,
            })
            .await,
        Code::InvalidArgument,
        "DUPLICATE_VALUE",
    );
    assert_eq!(
        violations(&refused),
        [
            ("secretaries[1]".to_owned(), "DUPLICATE_VALUE".to_owned()),
            ("year".to_owned(), "YEAR_INVALID".to_owned()),
        ]
    );
    // training was not granted it; Futian's administrator does not find Nanshan's secretary
    let training = WarningsServiceClient::with_interceptor(
        app.server.channel(),
        Bearer::new(&app.keys.service_token("training")),
    );
    assert_refused(
        training
            .clone()
            .batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest {
                secretaries: vec![secretary.clone()],
                year: 2026,
            })
            .await,
        Code::PermissionDenied,
        "OPERATION_NOT_GRANTED",
    );
    assert_refused(
        app.client(Role::DistrictAdmin, FUTIAN)
            .batch_get_secretary_warning_summaries(pb::BatchGetSecretaryWarningSummariesRequest {
                secretaries: vec![secretary],
                year: 2026,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    app.stop().await;
}
