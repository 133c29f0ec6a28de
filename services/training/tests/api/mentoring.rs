//! 青蓝工程: at most three mentees per mentor (configurable) even under concurrent requests,
//! eligibility learnt from personnel's feed, and the history of pairs.

use shequ_kit::auth::Role;
use shequ_proto::training::v1 as pb;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mentor_takes_at_most_three_mentees_even_when_requests_race() {
    let env = Env::spawn().await;
    let mentor = env.appoint(DAXIN_COMMUNITY, "2018-01-01").await;
    let mut mentees = Vec::new();
    for _ in 0..6 {
        mentees.push(env.appoint(NANTOU_COMMUNITY, "2026-05-01").await);
    }
    // Six pairings released together.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(mentees.len()));
    let mut calls = Vec::new();
    for mentee in &mentees {
        let (mut client, mentor, mentee, barrier) =
            (env.admin(), mentor.clone(), mentee.clone(), barrier.clone());
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            client
                .create_mentorship(pb::CreateMentorshipRequest {
                    mentorship: Some(pb::Mentorship {
                        mentor,
                        mentee,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
        }));
    }
    let mut paired = 0;
    let mut reasons = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => paired += 1,
            Err(status) => reasons.push(shequ_kit::testing::reason(&status)),
        }
    }
    assert_eq!(paired, 3, "refusals: {reasons:?}");
    assert!(
        reasons.iter().all(|r| r == "MENTOR_AT_CAPACITY"),
        "{reasons:?}"
    );
    let id = mentor.trim_start_matches("secretaries/");
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM mentorships WHERE mentor_id = $1 AND end_date IS NULL",
            id
        )
        .await,
        3
    );

    // The capacity is the province's: raised to 4, one more pair fits, and no more.
    let mut province = env.training(Role::ProvinceAdmin, GUANGDONG);
    let policy = province
        .get_training_policy(pb::GetTrainingPolicyRequest {
            name: format!("provinces/{GUANGDONG}/trainingPolicy"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.mentor_capacity, 3, "the shipped default");
    province
        .update_training_policy(pb::UpdateTrainingPolicyRequest {
            training_policy: Some(pb::TrainingPolicy {
                mentor_capacity: 4,
                ..policy
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["mentor_capacity".into()],
            }),
        })
        .await
        .expect("policy updated");
    // Every mentee asks again: the three paired are refused as paired, one of the others fits.
    let mut outcomes = Vec::new();
    for mentee in &mentees {
        outcomes.push(
            env.pair(&mentor, mentee)
                .await
                .map_err(|s| shequ_kit::testing::reason(&s)),
        );
    }
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(ok, 1, "{outcomes:?}");
    assert!(
        outcomes.contains(&Err("MENTEE_ALREADY_PAIRED".into())),
        "the three already paired"
    );
    assert!(outcomes.contains(&Err("MENTOR_AT_CAPACITY".into())));
}

#[tokio::test]
async fn an_ineligible_mentor_is_refused_naming_every_unmet_rule() {
    let env = Env::spawn().await;
    let mentee = env.appoint(NANTOU_COMMUNITY, "2026-05-01").await;
    // Two years in post and a violation four months ago, both learnt from personnel's feed.
    let junior = env.appoint(DAXIN_COMMUNITY, "2024-06-20").await;
    env.violation(&junior, "NL03", "2026-02-10").await;
    env.wait_for("the violation to reach training", || async {
        env.count(
            "SELECT COUNT(*) FROM violations WHERE secretary_id = $1",
            junior.trim_start_matches("secretaries/"),
        )
        .await
            == 1
    })
    .await;
    let refused = assert_refused(
        env.pair(&junior, &mentee).await,
        tonic::Code::FailedPrecondition,
        "MENTOR_NOT_ELIGIBLE",
    );
    assert_eq!(
        preconditions(&refused),
        ["MENTOR_YEARS_IN_POST", "MENTOR_NO_RECENT_VIOLATION"]
    );
    assert!(
        refused
            .message()
            .contains("1 full years since appointment on 2024-06-20, 3 required"),
        "{}",
        refused.message()
    );

    // A mentor cannot mentor themself; the request names the field and nothing is stored.
    let senior = env.appoint(DAXIN_COMMUNITY, "2018-01-01").await;
    let refused = assert_refused(
        env.pair(&senior, &senior).await,
        tonic::Code::InvalidArgument,
        "MENTEE_IS_MENTOR",
    );
    assert_eq!(
        violations(&refused),
        [(
            "mentorship.mentee".to_owned(),
            "MENTEE_IS_MENTOR".to_owned()
        )]
    );
    let bad = assert_refused(
        env.pair("people/1", &mentee).await,
        tonic::Code::InvalidArgument,
        "RESOURCE_NAME_INVALID",
    );
    assert_eq!(violations(&bad)[0].0, "mentorship.mentor");
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM mentorships WHERE mentee_id = $1",
            mentee.trim_start_matches("secretaries/")
        )
        .await,
        0
    );

    // Eligible: paired; the history lists the pair for both, and ending it keeps it.
    let pair = env.pair(&senior, &mentee).await.expect("eligible");
    let ended = env
        .admin()
        .end_mentorship(pb::EndMentorshipRequest {
            name: pair.name.clone(),
            reason: "导师调整".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.state, pb::MentorshipState::Ended as i32);
    for who in [&senior, &mentee] {
        let history = env
            .admin()
            .list_mentorships(pb::ListMentorshipsRequest {
                parent: who.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .mentorships;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].end_reason, "导师调整");
    }
    // A district elsewhere sees neither.
    assert_refused(
        env.training(Role::DistrictAdmin, "440304000000")
            .list_mentorships(pb::ListMentorshipsRequest {
                parent: senior.clone(),
                ..Default::default()
            })
            .await,
        tonic::Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
}
