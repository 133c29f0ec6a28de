//! Rankings, the adjustment band with its tie rule, appeals freezing a result until decided,
//! and confirmation recorded in personnel once through the outbox, even across personnel
//! being down.

use shequ_kit::{
    auth::{Caller, Role},
    testing::TestServer,
};
use shequ_personnel::Personnel;
use shequ_proto::{evaluation::v1 as pb, personnel::v1 as personnel_pb};

use crate::helpers::*;

const ASSESSOR: &str = "org:pingjia-01";

/// Secretaries of Nantou with a final 2026 result each: their quarters and external all
/// scored `score` (so their results order as the scores do).
async fn finalised(app: &TestApp, scores: &[f64]) -> Vec<String> {
    let mut secretaries = Vec::new();
    for (i, _) in scores.iter().enumerate() {
        secretaries.push(appoint(app, NANTOU_COMMUNITY, 10 + i as u32).await);
    }
    let names: Vec<&str> = secretaries.iter().map(String::as_str).collect();
    until_known(app, &names).await;
    let engagement = app
        .district()
        .create_engagement(pb::CreateEngagementRequest {
            engagement: Some(pb::Engagement {
                organisation: "深圳市社会评估中心".into(),
                assessor: ASSESSOR.into(),
                regions: vec![NANSHAN.into()],
                year: 2026,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name;
    let assessor = Caller {
        subject: ASSESSOR.into(),
        ..shequ_kit::testing::caller(Role::Assessor, NANSHAN)
    };
    for (secretary, score) in secretaries.iter().zip(scores) {
        for quarter in [1, 2] {
            app.client(Role::StreetOfficer, NANTOU_STREET)
                .create_quarterly_assessment(pb::CreateQuarterlyAssessmentRequest {
                    parent: secretary.clone(),
                    quarterly_assessment: Some(pb::QuarterlyAssessment {
                        year: 2026,
                        quarter,
                        scores: ["satisfaction", "governance", "innovation"]
                            .iter()
                            .map(|i| pb::IndicatorScore {
                                indicator: (*i).into(),
                                score: *score,
                            })
                            .collect(),
                        evidence_links: vec!["https://docs.example.cn/kaohe".into()],
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .unwrap();
        }
        app.client_with_token(&app.keys.token_for(&assessor))
            .create_external_assessment(pb::CreateExternalAssessmentRequest {
                parent: secretary.clone(),
                external_assessment: Some(pb::ExternalAssessment {
                    year: 2026,
                    score: *score,
                    evidence_links: vec!["https://pingjia.example.cn/r".into()],
                    engagement: engagement.clone(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
    let done = app
        .district()
        .finalise_annual_results(pb::FinaliseAnnualResultsRequest {
            parent: format!("regions/{NANSHAN}"),
            year: 2026,
            // the results read back without their breakdowns
            omit_breakdowns: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.finalised.len(), scores.len(), "{:?}", done.not_final);
    assert!(done.finalised.iter().all(|r| r.breakdown.is_empty()));
    secretaries
}

async fn rank(app: &TestApp) -> pb::Ranking {
    app.district()
        .create_ranking(pb::CreateRankingRequest {
            ranking: Some(pb::Ranking {
                region: NANSHAN.into(),
                year: 2026,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("ranked")
        .into_inner()
}

fn own(app: &TestApp, secretary: &str) -> Client {
    let caller = Caller {
        secretary: Some(secretary.to_owned()),
        ..shequ_kit::testing::caller(Role::Secretary, NANTOU_COMMUNITY)
    };
    app.client_with_token(&app.keys.token_for(&caller))
}

async fn appeal(client: &mut Client, secretary: &str) -> Result<pb::Appeal, tonic::Status> {
    client
        .create_appeal(pb::CreateAppealRequest {
            parent: format!("{secretary}/annualResults/2026"),
            appeal: Some(pb::Appeal {
                reason: "第二季度满意度测评样本不足".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn removals(app: &TestApp, secretary: &str) -> Vec<personnel_pb::CareerEvent> {
    app.personnel_admin()
        .list_career_events(personnel_pb::ListCareerEventsRequest {
            parent: secretary.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .career_events
        .into_iter()
        .filter(|e| e.r#type == personnel_pb::CareerEventType::Removal as i32)
        .collect()
}

/// Polls the ranking until `secretary`'s adjustment is recorded in personnel.
async fn until_recorded(app: &TestApp, ranking: &str, secretary: &str) -> pb::RankingPlace {
    for _ in 0..500 {
        let read = app
            .district()
            .get_ranking(pb::GetRankingRequest {
                name: ranking.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let place = read
            .places
            .into_iter()
            .find(|p| p.secretary == secretary)
            .unwrap();
        if place.delivery == pb::AdjustmentDelivery::Recorded as i32 {
            return place;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the adjustment of {secretary} never reached personnel");
}

#[tokio::test]
async fn a_tie_at_the_band_edge_is_flagged_together_and_an_upheld_appeal_takes_one_out() {
    let app = TestApp::spawn().await;
    // a > b > c = d: 5% of 4 rounds up to 1, but c and d tie at the edge
    let s = finalised(&app, &[90.0, 80.0, 60.0, 60.0]).await;
    let ranking = rank(&app).await;
    assert_eq!(ranking.band_minimum, 1);
    assert_eq!(ranking.adjustment_percent, 5);
    assert!(ranking.tie_rule.contains("share a rank"));
    let places: Vec<(String, i32, bool)> = ranking
        .places
        .iter()
        .map(|p| (p.secretary.clone(), p.rank, p.flagged))
        .collect();
    let mut tied = [s[2].clone(), s[3].clone()];
    tied.sort();
    assert_eq!(
        places,
        [
            (s[0].clone(), 1, false),
            (s[1].clone(), 2, false),
            (tied[0].clone(), 3, true),
            (tied[1].clone(), 3, true),
        ]
    );

    // d appeals (the secretary themself): frozen until decided
    appeal(&mut own(&app, &s[3]), &s[3]).await.unwrap();
    assert_refused(
        own(&app, &s[3])
            .create_appeal(pb::CreateAppealRequest {
                parent: format!("{}/annualResults/2026", s[3]),
                appeal: Some(pb::Appeal {
                    reason: "again".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        tonic::Code::AlreadyExists,
        "APPEAL_OPEN",
    );
    // another secretary may not appeal for d
    assert_refused(
        own(&app, &s[2])
            .create_appeal(pb::CreateAppealRequest {
                parent: format!("{}/annualResults/2026", s[3]),
                appeal: Some(pb::Appeal {
                    reason: "for a colleague".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        tonic::Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    let confirm = || {
        let mut client = app.district();
        let name = ranking.name.clone();
        async move {
            client
                .confirm_adjustments(pb::ConfirmAdjustmentsRequest { name })
                .await
        }
    };
    assert_refused(
        confirm().await,
        tonic::Code::FailedPrecondition,
        "APPEAL_WINDOW_OPEN",
    );
    app.clock.advance(chrono::Duration::days(16));
    // the window closed: no more appeals, but d's is still undecided
    let late = appeal(&mut own(&app, &s[2]), &s[2]).await;
    assert_eq!(late.unwrap_err().code(), tonic::Code::FailedPrecondition);
    let pending = confirm().await.unwrap_err();
    assert_eq!(pending.code(), tonic::Code::FailedPrecondition);
    assert!(pending.message().contains(&s[3]), "{}", pending.message());

    // upheld: d leaves the band, c stays
    let read = app
        .district()
        .get_ranking(pb::GetRankingRequest {
            name: ranking.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let d = read.places.iter().find(|p| p.secretary == s[3]).unwrap();
    assert!(d.appeal_pending);
    let filed = appeal_name(&app, &s[3]).await;
    let decided = app
        .district()
        .decide_appeal(pb::DecideAppealRequest {
            name: filed,
            decision: pb::AppealState::Upheld as i32,
            note: "样本不足属实".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.state, pb::AppealState::Upheld as i32);
    let confirmed = confirm().await.unwrap().into_inner();
    assert_eq!(confirmed.state, pb::RankingState::Confirmed as i32);
    let d = confirmed
        .places
        .iter()
        .find(|p| p.secretary == s[3])
        .unwrap();
    assert!(!d.flagged && d.explanation.contains("appeal upheld"));
    assert_eq!(d.delivery, pb::AdjustmentDelivery::None as i32);

    // c's adjustment reaches personnel as one REMOVAL career event; d has none
    let c = until_recorded(&app, &ranking.name, &s[2]).await;
    let events = removals(&app, &s[2]).await;
    assert_eq!(events.len(), 1);
    assert_eq!(c.career_event, events[0].name);
    assert!(removals(&app, &s[3]).await.is_empty());
    // confirming again changes nothing
    confirm().await.unwrap();
    assert_eq!(removals(&app, &s[2]).await.len(), 1);
    app.stop().await;
}

/// The name of `secretary`'s appeal of 2026, from the evaluation database.
async fn appeal_name(app: &TestApp, secretary: &str) -> String {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(app.server.database.url())
        .await
        .unwrap();
    let (id,): (String,) = sqlx::query_as("SELECT id FROM appeals WHERE secretary = $1")
        .bind(secretary)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    format!("{secretary}/annualResults/2026/appeals/{id}")
}

#[tokio::test]
async fn personnel_down_during_confirmation_is_retried_until_the_adjustment_lands_once() {
    let mut app = TestApp::spawn().await;
    let s = finalised(&app, &[90.0, 50.0]).await;
    let ranking = rank(&app).await;
    assert!(ranking.places[1].flagged && !ranking.places[0].flagged);
    app.clock.advance(chrono::Duration::days(16));

    // personnel goes down; the confirmation is accepted and queued
    let personnel = app.personnel.take().unwrap();
    let address = personnel.address;
    let (database, keys, clock) = personnel.stop().await;
    let confirmed = app
        .district()
        .confirm_adjustments(pb::ConfirmAdjustmentsRequest {
            name: ranking.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.state, pb::RankingState::Confirmed as i32);
    assert_eq!(
        confirmed.places[1].delivery,
        pb::AdjustmentDelivery::Pending as i32
    );
    // it tries, fails, and waits for its next attempt
    let attempts = until_attempted(&app, &s[1]).await;
    assert!(attempts >= 1);

    // personnel is back on the same address; the retry comes due and lands once
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    app.personnel = Some(
        TestServer::start_on::<Personnel>(
            listener,
            shequ_kit::service::default_config::<Personnel>(),
            database,
            keys,
            clock,
        )
        .await,
    );
    app.clock.advance(chrono::Duration::minutes(15));
    let place = until_recorded(&app, &ranking.name, &s[1]).await;
    let events = removals(&app, &s[1]).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(place.career_event, events[0].name);
    assert!(removals(&app, &s[0]).await.is_empty());
    app.stop().await;
}

/// Waits until the outbox has made at least one failed attempt for `secretary`.
async fn until_attempted(app: &TestApp, secretary: &str) -> i64 {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(app.server.database.url())
        .await
        .unwrap();
    for _ in 0..500 {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT attempts, last_error FROM adjustments WHERE secretary = $1")
                .bind(secretary)
                .fetch_optional(&pool)
                .await
                .unwrap();
        if let Some((attempts, error)) = row
            && attempts > 0
        {
            assert!(error.contains("personnel"), "{error}");
            pool.close().await;
            return attempts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the outbox never tried");
}

#[tokio::test]
async fn the_sandbox_re_ranks_under_a_draft_writes_nothing_and_says_who_moves() {
    let app = TestApp::spawn().await;
    let s = finalised(&app, &[90.0, 80.0, 70.0, 60.0]).await;
    let simulate = |draft: pb::IndicatorScheme| {
        let mut client = app.district();
        async move {
            client
                .simulate_ranking(pb::SimulateRankingRequest {
                    parent: format!("regions/{NANSHAN}"),
                    year: 2026,
                    draft_scheme: Some(draft),
                })
                .await
        }
    };
    // a band of 50% instead of 5%: the 70 moves in, the 60 stays in, nobody's score changes
    let wider = simulate(pb::IndicatorScheme {
        year: 2026,
        adjustment_percent: 50,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        (wider.current_band_minimum, wider.simulated_band_minimum),
        (1, 2)
    );
    let change = |secretary: &str| {
        wider
            .places
            .iter()
            .find(|p| p.secretary == secretary)
            .unwrap()
            .clone()
    };
    assert_eq!(change(&s[2]).change, pb::BandChange::MovesIn as i32);
    assert!(change(&s[2]).explanation.contains("moves into the band"));
    assert_eq!(change(&s[3]).change, pb::BandChange::StaysIn as i32);
    assert_eq!(change(&s[0]).change, pb::BandChange::StaysOut as i32);
    for p in &wider.places {
        assert_eq!(p.current_score, p.simulated_score);
    }
    // a draft indicator nobody scored: those results cannot be simulated, and say why
    let unscored = simulate(pb::IndicatorScheme {
        year: 2026,
        core_indicators: vec![
            pb::CoreIndicator {
                id: "satisfaction".into(),
                display_name: "群众满意度".into(),
                weight: 50,
                source: pb::IndicatorSource::People as i32,
                feed_share_percent: 0,
            },
            pb::CoreIndicator {
                id: "party_building".into(),
                display_name: "党建引领".into(),
                weight: 50,
                source: pb::IndicatorSource::People as i32,
                feed_share_percent: 0,
            },
        ],
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(unscored.not_simulated.len(), 4);
    assert!(unscored.not_simulated[0].reasons[0].contains("party_building"));
    // a draft breaking the weight rule is refused naming the field
    let bad = simulate(pb::IndicatorScheme {
        year: 2026,
        core_indicators: vec![pb::CoreIndicator {
            id: "satisfaction".into(),
            display_name: "群众满意度".into(),
            weight: 90,
            source: pb::IndicatorSource::People as i32,
            feed_share_percent: 0,
        }],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(
        violations(&bad),
        [(
            "draft_scheme.core_indicators".to_owned(),
            "WEIGHTS_NOT_100".to_owned()
        )]
    );
    // nothing was written: no scheme version, no ranking
    let current = app
        .district()
        .get_indicator_scheme(pb::GetIndicatorSchemeRequest {
            name: format!("provinces/{GUANGDONG}/indicatorSchemes/2026-current"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 0);
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(app.server.database.url())
        .await
        .unwrap();
    let (rankings,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM rankings")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(rankings, 0);
    app.stop().await;
}
