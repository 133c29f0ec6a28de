//! The two tracks and annual finalisation: quarterly assessments by officers in scope,
//! engagements, external assessments only by engaged assessors, X points within the cap, and
//! results computed with training's and warnings' figures, or nothing when one is down.

use shequ_kit::auth::{Caller, Role};
use shequ_proto::evaluation::v1 as pb;

use crate::helpers::*;

const ASSESSOR: &str = "org:pingjia-01";

fn quarter(year: i32, quarter: i32, scores: &[(&str, f64)]) -> pb::QuarterlyAssessment {
    pb::QuarterlyAssessment {
        year,
        quarter,
        scores: scores
            .iter()
            .map(|(i, s)| pb::IndicatorScore {
                indicator: (*i).into(),
                score: *s,
            })
            .collect(),
        evidence_links: vec!["https://docs.example.cn/kaohe/2026".into()],
        ..Default::default()
    }
}

async fn assess(app: &TestApp, secretary: &str, q: i32, s: f64, g: f64, i: f64) {
    app.client(Role::StreetOfficer, NANTOU_STREET)
        .create_quarterly_assessment(pb::CreateQuarterlyAssessmentRequest {
            parent: secretary.into(),
            quarterly_assessment: Some(quarter(
                2026,
                q,
                &[("satisfaction", s), ("governance", g), ("innovation", i)],
            )),
            request_id: String::new(),
        })
        .await
        .expect("assessment recorded");
}

fn assessor(app: &TestApp, subject: &str) -> Client {
    let caller = Caller {
        subject: subject.into(),
        ..shequ_kit::testing::caller(Role::Assessor, NANSHAN)
    };
    app.client_with_token(&app.keys.token_for(&caller))
}

async fn engage(app: &TestApp, regions: &[&str]) -> String {
    app.district()
        .create_engagement(pb::CreateEngagementRequest {
            engagement: Some(pb::Engagement {
                organisation: "深圳市社会评估中心".into(),
                assessor: ASSESSOR.into(),
                regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                year: 2026,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("engagement recorded")
        .into_inner()
        .name
}

fn external(engagement: &str, score: f64) -> pb::ExternalAssessment {
    pb::ExternalAssessment {
        year: 2026,
        score,
        evidence_links: vec!["https://pingjia.example.cn/report/1".into()],
        engagement: engagement.into(),
        ..Default::default()
    }
}

async fn assess_externally(app: &TestApp, secretary: &str, engagement: &str, score: f64) {
    assessor(app, ASSESSOR)
        .create_external_assessment(pb::CreateExternalAssessmentRequest {
            parent: secretary.into(),
            external_assessment: Some(external(engagement, score)),
            request_id: String::new(),
        })
        .await
        .expect("external assessment recorded");
}

fn finalise_request() -> pb::FinaliseAnnualResultsRequest {
    pb::FinaliseAnnualResultsRequest {
        parent: format!("regions/{NANSHAN}"),
        year: 2026,
        omit_breakdowns: false,
    }
}

#[tokio::test]
async fn officers_assess_in_scope_and_only_engaged_assessors_assess_externally() {
    let app = TestApp::spawn().await;
    let nantou = appoint(&app, NANTOU_COMMUNITY, 1).await;
    let futian = appoint(&app, FUTIAN_COMMUNITY, 2).await;
    until_known(&app, &[&nantou, &futian]).await;

    // a street officer of Nantou assesses Nantou's secretary, not Futian's
    assess(&app, &nantou, 1, 80.0, 70.0, 60.0).await;
    let elsewhere = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .create_quarterly_assessment(pb::CreateQuarterlyAssessmentRequest {
            parent: futian.clone(),
            quarterly_assessment: Some(quarter(2026, 1, &[("satisfaction", 80.0)])),
            request_id: String::new(),
        })
        .await;
    assert_refused(elsewhere, tonic::Code::NotFound, "RESOURCE_NOT_FOUND");
    // the same quarter twice
    let again = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .create_quarterly_assessment(pb::CreateQuarterlyAssessmentRequest {
            parent: nantou.clone(),
            quarterly_assessment: Some(quarter(2026, 1, &[("satisfaction", 80.0)])),
            request_id: String::new(),
        })
        .await;
    assert_refused(again, tonic::Code::AlreadyExists, "QUARTER_ASSESSED");
    // bad input names each field and rule, and stores nothing
    let bad = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .create_quarterly_assessment(pb::CreateQuarterlyAssessmentRequest {
            parent: nantou.clone(),
            quarterly_assessment: Some(pb::QuarterlyAssessment {
                evidence_links: vec!["ftp://x".into()],
                ..quarter(
                    2026,
                    5,
                    &[("learning", 80.0), ("satisfaction", 101.0), ("nope", 1.0)],
                )
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let fields: Vec<(String, String)> = violations(&bad);
    assert_eq!(
        fields,
        [
            ("quarterly_assessment.quarter", "VALUE_OUT_OF_RANGE"),
            ("quarterly_assessment.scores[0].indicator", "INDICATOR_FED"),
            ("quarterly_assessment.scores[1].score", "VALUE_OUT_OF_RANGE"),
            (
                "quarterly_assessment.scores[2].indicator",
                "UNKNOWN_INDICATOR"
            ),
            ("quarterly_assessment.evidence_links[0]", "INVALID_LINK"),
        ]
        .map(|(f, r)| (f.to_owned(), r.to_owned()))
    );
    let listed = app
        .district()
        .list_quarterly_assessments(pb::ListQuarterlyAssessmentsRequest {
            parent: nantou.clone(),
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner()
        .quarterly_assessments;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].name,
        format!("{nantou}/quarterlyAssessments/2026-q1")
    );

    // an engagement of Nanshan: its assessor assesses Nanshan's secretary, not Futian's;
    // another organisation's assessor is not engaged
    let engagement = engage(&app, &[NANSHAN]).await;
    assess_externally(&app, &nantou, &engagement, 75.0).await;
    let other = assessor(&app, "org:another")
        .create_external_assessment(pb::CreateExternalAssessmentRequest {
            parent: nantou.clone(),
            external_assessment: Some(external(&engagement, 75.0)),
            request_id: String::new(),
        })
        .await;
    assert_refused(other, tonic::Code::PermissionDenied, "NOT_ENGAGED");
    let futian_assessor = Caller {
        subject: ASSESSOR.into(),
        ..shequ_kit::testing::caller(Role::Assessor, "440300000000")
    };
    let outside = app
        .client_with_token(&app.keys.token_for(&futian_assessor))
        .create_external_assessment(pb::CreateExternalAssessmentRequest {
            parent: futian.clone(),
            external_assessment: Some(external(&engagement, 75.0)),
            request_id: String::new(),
        })
        .await;
    assert_refused(outside, tonic::Code::PermissionDenied, "NOT_ENGAGED");
    // officers are not assessors, and an engagement needs the regions in the engager's scope
    let officer = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .create_external_assessment(pb::CreateExternalAssessmentRequest {
            parent: nantou.clone(),
            external_assessment: Some(external(&engagement, 75.0)),
            request_id: String::new(),
        })
        .await;
    assert_refused(officer, tonic::Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let foreign = app
        .district()
        .create_engagement(pb::CreateEngagementRequest {
            engagement: Some(pb::Engagement {
                organisation: "评估中心".into(),
                assessor: ASSESSOR.into(),
                regions: vec![FUTIAN.into()],
                year: 2026,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await;
    assert_refused(
        foreign,
        tonic::Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    // the assessor reads its engagement
    let read = assessor(&app, ASSESSOR)
        .get_engagement(pb::GetEngagementRequest {
            name: engagement.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.regions, [NANSHAN]);
    app.stop().await;
}

#[tokio::test]
async fn finalisation_weighs_the_tracks_reads_the_feeds_caps_x_and_says_why_not_final() {
    let app = TestApp::spawn().await;
    let full = appoint(&app, NANTOU_COMMUNITY, 1).await;
    let partial = appoint(&app, NANTOU_COMMUNITY, 2).await;
    until_known(&app, &[&full, &partial]).await;
    assess(&app, &full, 1, 80.0, 70.0, 60.0).await;
    assess(&app, &full, 2, 90.0, 90.0, 70.0).await;
    assess(&app, &partial, 1, 90.0, 90.0, 90.0).await;
    let engagement = engage(&app, &[NANSHAN]).await;
    assess_externally(&app, &full, &engagement, 70.0).await;
    assess_externally(&app, &partial, &engagement, 90.0).await;
    for (indicator, points) in [("risk", 8.0), ("opinion", 6.0)] {
        app.client(Role::StreetOfficer, NANTOU_STREET)
            .create_special_assessment(pb::CreateSpecialAssessmentRequest {
                parent: full.clone(),
                special_assessment: Some(pb::SpecialAssessment {
                    year: 2026,
                    indicator: indicator.into(),
                    points,
                    evidence_links: vec!["https://docs.example.cn/x".into()],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }

    let done = app
        .district()
        .finalise_annual_results(finalise_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.finalised.len(), 1);
    let result = &done.finalised[0];
    assert_eq!(result.name, format!("{full}/annualResults/2026"));
    // no training hours and no certificate: learning 0 (training's figure); no deadlines due
    // in warnings: governance's fed half is 100
    // Q1 = 0.4×80 + 0.3×(0.5×70 + 0.5×100) + 0.2×60 + 0.1×0 = 32 + 25.5 + 12 = 69.5
    // Q2 = 0.4×90 + 0.3×(0.5×90 + 0.5×100) + 0.2×70 = 36 + 28.5 + 14 = 78.5
    // internal 74, X 8 + 6 capped at 10: 0.6×74 + 0.4×70 + 10 = 82.4
    assert_eq!(result.internal_score, 74.0);
    assert_eq!(result.x_points, 10.0);
    assert_eq!(result.score, 82.4);
    assert_eq!(result.quarters, [1, 2]);
    assert_eq!(
        result.indicator_scheme,
        format!("provinces/{GUANGDONG}/indicatorSchemes/2026-v0")
    );
    let line = |item: &str| {
        result
            .breakdown
            .iter()
            .find(|l| l.item == item)
            .unwrap_or_else(|| panic!("no {item} in {:?}", result.breakdown))
            .clone()
    };
    let learning = line("Q1 learning");
    assert_eq!(
        (learning.source.as_str(), learning.value),
        ("training", 0.0)
    );
    assert!(learning.as_of.is_some());
    let governance = line("Q2 governance");
    assert_eq!(governance.source, "warnings");
    assert_eq!(governance.value, 95.0);
    assert!(governance.explanation.contains("0 of 0 deadlines"));
    assert!(line("x").explanation.contains("capped"));
    assert_eq!(line("total").value, 82.4);
    // the partial year is not final and says why
    assert_eq!(done.not_final.len(), 1);
    assert_eq!(done.not_final[0].secretary, partial);
    assert!(
        done.not_final[0].reasons[0].contains("1 found"),
        "{:?}",
        done.not_final[0].reasons
    );
    // the result reads back the same; the secretary reads their own
    let own = Caller {
        secretary: Some(full.clone()),
        ..shequ_kit::testing::caller(Role::Secretary, NANTOU_COMMUNITY)
    };
    let read = app
        .client_with_token(&app.keys.token_for(&own))
        .get_annual_result(pb::GetAnnualResultRequest {
            name: result.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&read, result);
    // finalising again keeps the result as it was
    let again = app
        .district()
        .finalise_annual_results(finalise_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.already_final, [full]);
    assert!(again.finalised.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn training_or_warnings_down_during_finalisation_is_unavailable_naming_it_and_finalises_nothing()
 {
    let mut app = TestApp::spawn().await;
    let secretary = appoint(&app, NANTOU_COMMUNITY, 1).await;
    until_known(&app, &[&secretary]).await;
    assess(&app, &secretary, 1, 80.0, 70.0, 60.0).await;
    assess(&app, &secretary, 2, 80.0, 70.0, 60.0).await;
    let engagement = engage(&app, &[NANSHAN]).await;
    assess_externally(&app, &secretary, &engagement, 70.0).await;

    // warnings down: nothing is finalised, and the error names it
    let warnings = app.warnings.take().unwrap();
    warnings.stop().await;
    let down = app
        .district()
        .finalise_annual_results(finalise_request())
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    assert!(down.message().contains("warnings"), "{}", down.message());
    let nothing = app
        .district()
        .get_annual_result(pb::GetAnnualResultRequest {
            name: format!("{secretary}/annualResults/2026"),
        })
        .await;
    assert_refused(nothing, tonic::Code::NotFound, "RESOURCE_NOT_FOUND");
    // training down too: training is read first, and named
    let training = app.training.take().unwrap();
    training.stop().await;
    let down = app
        .district()
        .finalise_annual_results(finalise_request())
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    assert!(down.message().contains("training"), "{}", down.message());
    app.stop().await;
}
