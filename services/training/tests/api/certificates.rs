//! 数字书记 certification: levels in order, every module passed at the pass mark, unique numbers,
//! three-year expiry with its feed event, renewal, and revocation by a violation recorded in
//! personnel with a reissue after a retake.

use shequ_kit::auth::Role;
use shequ_proto::training::v1 as pb;

use crate::helpers::*;

#[tokio::test]
async fn levels_are_taken_in_order_with_every_module_passed_at_the_pass_mark() {
    let env = Env::spawn().await;
    let secretary = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let refused = assert_refused(
        env.certify(&secretary, pb::CertificateLevel::Advanced)
            .await,
        tonic::Code::FailedPrecondition,
        "LEVEL_ORDER",
    );
    assert_eq!(preconditions(&refused), ["CERTIFICATE_BASIC"]);

    assert!(
        env.exam(&secretary, pb::ExamModule::SystemOperation, 60)
            .await
            .passed,
        "60 is the pass mark"
    );
    let failed = env
        .exam(&secretary, pb::ExamModule::DataInterpretation, 59)
        .await;
    assert!(!failed.passed);
    assert_eq!(failed.pass_mark, 60);
    let refused = assert_refused(
        env.certify(&secretary, pb::CertificateLevel::Basic).await,
        tonic::Code::FailedPrecondition,
        "MODULES_NOT_PASSED",
    );
    assert_eq!(preconditions(&refused), ["DATA_INTERPRETATION"]);
    // A bad score names the field and records nothing.
    let bad = assert_refused(
        env.admin()
            .create_exam_result(pb::CreateExamResultRequest {
                parent: secretary.clone(),
                exam_result: Some(pb::ExamResult {
                    module: pb::ExamModule::DataInterpretation as i32,
                    score: 101,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        tonic::Code::InvalidArgument,
        "VALUE_OUT_OF_RANGE",
    );
    assert_eq!(violations(&bad)[0].0, "exam_result.score");
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM exam_results WHERE secretary_id = $1",
            secretary.trim_start_matches("secretaries/")
        )
        .await,
        2
    );

    env.exam(&secretary, pb::ExamModule::DataInterpretation, 75)
        .await;
    let basic = env
        .certify(&secretary, pb::CertificateLevel::Basic)
        .await
        .expect("basic");
    assert_eq!(basic.number, "SZSJ-44-2026-000001");
    assert_eq!(
        (basic.issue_date.as_str(), basic.expiry_date.as_str()),
        ("2026-06-15", "2029-06-14")
    );
    assert_eq!(basic.state, pb::CertificateState::Valid as i32);
    assert_eq!(
        basic.verification_url,
        "https://shequ.example.gov.cn/v1/certificates/SZSJ-44-2026-000001:verify"
    );
    assert!(basic.qr_code_svg.starts_with("<?xml") || basic.qr_code_svg.contains("<svg"));
    assert_refused(
        env.certify(&secretary, pb::CertificateLevel::Basic).await,
        tonic::Code::AlreadyExists,
        "CERTIFICATE_HELD",
    );

    let advanced = env
        .certified(&secretary, pb::CertificateLevel::Advanced)
        .await;
    assert_eq!(
        advanced.number, "SZSJ-44-2026-000002",
        "numbers are unique and sequential"
    );
    let progress = env
        .admin()
        .get_learning_progress(pb::GetLearningProgressRequest {
            name: format!("{secretary}/learningProgress"),
            year: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        progress.certificate_level,
        pb::CertificateLevel::Advanced as i32
    );
    assert_eq!(
        env.event_types().await,
        ["CertificateIssued", "CertificateIssued"]
    );
}

#[tokio::test]
async fn a_revoking_violation_recorded_in_personnel_revokes_and_a_retake_reissues() {
    let env = Env::spawn().await;
    let secretary = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let basic = env.certified(&secretary, pb::CertificateLevel::Basic).await;
    // The province makes NL05 revoking; a violation of NL02 is not.
    let mut province = env.training(Role::ProvinceAdmin, GUANGDONG);
    let policy = province
        .get_training_policy(pb::GetTrainingPolicyRequest {
            name: format!("provinces/{GUANGDONG}/trainingPolicy"),
        })
        .await
        .unwrap()
        .into_inner();
    province
        .update_training_policy(pb::UpdateTrainingPolicyRequest {
            training_policy: Some(pb::TrainingPolicy {
                revoking_negative_list_items: vec![format!(
                    "provinces/{GUANGDONG}/negativeListItems/NL05"
                )],
                ..policy
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["revoking_negative_list_items".into()],
            }),
        })
        .await
        .expect("policy updated");
    env.violation(&secretary, "NL02", "2026-06-01").await;
    env.violation(&secretary, "NL05", "2026-06-10").await;
    let get = || async {
        env.admin()
            .get_certificate(pb::GetCertificateRequest {
                name: basic.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
    };
    env.wait_for("the revocation", || async {
        get().await.state == pb::CertificateState::Revoked as i32
    })
    .await;
    let revoked = get().await;
    assert_eq!(
        revoked.revocation_reason,
        "negative-list violation NL05 on 2026-06-10"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM violations WHERE item = $1", "NL02")
            .await,
        1
    );
    assert_eq!(
        env.event_types().await,
        ["CertificateIssued", "CertificateRevoked"]
    );

    // The exams passed before the revocation do not count again: a retake does.
    let refused = assert_refused(
        env.certify(&secretary, pb::CertificateLevel::Basic).await,
        tonic::Code::FailedPrecondition,
        "MODULES_NOT_PASSED",
    );
    assert!(
        refused.message().contains("after the revocation"),
        "{}",
        refused.message()
    );
    env.clock.advance(chrono::Duration::days(1));
    let reissued = env.certified(&secretary, pb::CertificateLevel::Basic).await;
    assert_ne!(reissued.number, basic.number);
    assert_eq!(reissued.state, pb::CertificateState::Valid as i32);
}

#[tokio::test]
async fn a_certificate_expires_after_three_years_and_renewal_extends_it() {
    let env = Env::spawn().await;
    let secretary = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let basic = env.certified(&secretary, pb::CertificateLevel::Basic).await;
    // The last valid day, then the day after.
    env.clock.set("2029-06-14T15:00:00Z".parse().unwrap());
    let read = || async {
        env.admin()
            .get_certificate(pb::GetCertificateRequest {
                name: basic.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
    };
    assert_eq!(
        read().await.state,
        pb::CertificateState::Valid as i32,
        "valid through 2029-06-14 China time"
    );
    env.clock.set("2029-06-14T16:00:00Z".parse().unwrap());
    assert_eq!(read().await.state, pb::CertificateState::Expired as i32);
    env.wait_for("the expiry on the feed", || async {
        env.event_types()
            .await
            .contains(&"CertificateExpired".to_owned())
    })
    .await;
    // (The issue event of three years ago is past the feed's retention by now.)
    let expired = env
        .event_types()
        .await
        .iter()
        .filter(|t| *t == "CertificateExpired")
        .count();
    assert_eq!(expired, 1, "published once");
    // An expired certificate no longer counts as the level held.
    assert_refused(
        env.certify(&secretary, pb::CertificateLevel::Advanced)
            .await,
        tonic::Code::FailedPrecondition,
        "LEVEL_ORDER",
    );

    let renewed = env
        .admin()
        .renew_certificate(pb::RenewCertificateRequest {
            name: basic.name.clone(),
        })
        .await
        .expect("renewed")
        .into_inner();
    assert_eq!(renewed.number, basic.number);
    assert_eq!(renewed.expiry_date, "2032-06-14");
    assert_eq!(renewed.state, pb::CertificateState::Valid as i32);
    assert_ne!(
        renewed.credential, basic.credential,
        "a new credential states the new dates"
    );
    assert_eq!(
        env.event_types().await.last().map(String::as_str),
        Some("CertificateIssued")
    );
}

#[tokio::test]
async fn a_retried_issue_with_the_same_request_id_issues_once_and_every_change_is_audited() {
    let env = Env::spawn().await;
    let secretary = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    for module in [
        pb::ExamModule::SystemOperation,
        pb::ExamModule::DataInterpretation,
    ] {
        env.exam(&secretary, module, 90).await;
    }
    let issue = || async {
        env.admin()
            .create_certificate(pb::CreateCertificateRequest {
                parent: secretary.clone(),
                certificate: Some(pb::Certificate {
                    level: pb::CertificateLevel::Basic as i32,
                    ..Default::default()
                }),
                request_id: "issue-7f3a".into(),
            })
            .await
            .expect("issued (or replayed)")
            .into_inner()
    };
    let first = issue().await;
    let retried = issue().await;
    assert_eq!(
        retried.number, first.number,
        "the retry gets the first outcome"
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM certificates WHERE secretary_id = $1",
            secretary.trim_start_matches("secretaries/")
        )
        .await,
        1
    );

    // The auditor sees the issue, the exams, and the feed's appointment, each once.
    let entries = env
        .training(Role::Auditor, NANSHAN)
        .list_audit_entries(shequ_proto::audit::v1::ListAuditEntriesRequest {
            parent: format!("regions/{NANSHAN}"),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("auditor reads")
        .into_inner()
        .audit_entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "CreateCertificate")
            .count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "CreateExamResult").count(),
        2,
        "{actions:?}"
    );
    assert!(
        actions.contains(&"HandleEvent"),
        "the plan-less appointment from the feed: {actions:?}"
    );
    let issued = entries
        .iter()
        .find(|e| e.action == "CreateCertificate")
        .unwrap();
    assert_eq!(issued.resource, first.name);
}
