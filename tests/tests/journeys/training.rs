//! The training journey through the gateway with every service running: a secretary appointed
//! in personnel gets a cultivation plan, a mentor is paired and signs a step off, exams are
//! passed, a certificate is issued and verified publicly without an account; while personnel is
//! down, training keeps serving and the plan of an appointment made meanwhile appears once
//! personnel's feed is reachable again.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shequ_kit::{
    auth::Role, clock::Clock, config::DependencyConfig, service::default_config,
    testing::TestServer,
};
use shequ_personnel::Personnel;
use shequ_training::Training;

use crate::helpers::*;

/// Polls `path` as `token` until it answers 200 (training follows personnel's feed).
async fn until_ok(stack: &Stack, path: &str, token: &str, within: Duration) -> Value {
    let started = std::time::Instant::now();
    loop {
        let reply = stack.get(path, Some(token)).await;
        if reply.status == StatusCode::OK {
            return reply.body;
        }
        assert!(
            started.elapsed() < within,
            "{path} never answered 200: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn ok(stack: &Stack, path: &str, token: &str, body: Value) -> Value {
    let reply = stack.post(path, Some(token), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.body
}

async fn appoint(stack: &Stack, serial: u32, appointed: &str, community: &str) -> String {
    let mut profile = secretary(&id_number(1986, serial));
    profile["appointmentDate"] = json!(appointed);
    profile["region"] = json!(community);
    create(stack, &profile).await["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn appoint_plan_mentor_exams_certificate_and_public_verification_through_the_gateway() {
    let mut stack = Stack::spawn().await;
    let admin = stack.admin();
    let newcomer = appoint(&stack, 1, "2026-03-01", NANTOU_COMMUNITY).await;
    let mentor = appoint(&stack, 2, "2019-03-01", "440305001003").await;

    // The plan appears from personnel's feed.
    let plan = until_ok(
        &stack,
        &format!("/v1/{newcomer}/cultivationPlan"),
        &admin,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(plan["state"], "PLAN_STATE_ACTIVE");
    assert_eq!(plan["steps"].as_array().unwrap().len(), 9);
    assert!(
        plan["summary"]
            .as_str()
            .unwrap()
            .contains("mentor: none yet"),
        "{plan}"
    );

    // 青蓝工程: the mentor pairs and signs the first step off with their own token.
    until_ok(
        &stack,
        &format!("/v1/{mentor}/learningProgress"),
        &admin,
        Duration::from_secs(20),
    )
    .await;
    let pair = ok(
        &stack,
        "/v1/mentorships",
        &admin,
        json!({"mentor": mentor, "mentee": newcomer}),
    )
    .await;
    assert_eq!(pair["state"], "MENTORSHIP_STATE_ACTIVE");
    let mut as_mentor = shequ_kit::testing::caller(Role::Secretary, "440305001003");
    as_mentor.secretary = Some(mentor.clone());
    let mentor_token = stack.keys.token_for(&as_mentor);
    let signed = ok(
        &stack,
        &format!("/v1/{newcomer}/cultivationPlan:completeStep"),
        &mentor_token,
        json!({"step": 1}),
    )
    .await;
    assert_eq!(signed["stepsDone"], 1);
    assert_eq!(signed["steps"][0]["signedOffBy"], mentor.as_str());
    // Out of order: a 400 problem naming the rule.
    let refused = stack
        .post(
            &format!("/v1/{newcomer}/cultivationPlan:completeStep"),
            Some(&mentor_token),
            &json!({"step": 3}),
        )
        .await;
    refused.problem(400, "FAILED_PRECONDITION", "STEP_OUT_OF_ORDER");

    // 数字书记: both basic modules passed, a certificate.
    for module in [
        "EXAM_MODULE_SYSTEM_OPERATION",
        "EXAM_MODULE_DATA_INTERPRETATION",
    ] {
        let result = ok(
            &stack,
            &format!("/v1/{newcomer}/examResults"),
            &admin,
            json!({"module": module, "score": 72}),
        )
        .await;
        assert_eq!(result["passed"], true);
    }
    let certificate = ok(
        &stack,
        &format!("/v1/{newcomer}/certificates"),
        &admin,
        json!({"level": "CERTIFICATE_LEVEL_BASIC"}),
    )
    .await;
    let number = certificate["number"].as_str().unwrap().to_owned();
    assert!(certificate["qrCodeSvg"].as_str().unwrap().contains("<svg"));
    let verification_url = certificate["verificationUrl"].as_str().unwrap();
    let path = verification_url.trim_start_matches("http://127.0.0.1:8080");
    assert_eq!(
        path,
        format!("/v1/certificates/{number}:verify"),
        "the QR code's URL is the public route"
    );

    // Anyone verifies it without an account, and learns no more than the certificate says.
    let public = stack.get(path, None).await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.text);
    assert_eq!(public.body["verified"], true);
    assert_eq!(public.body["outcome"], "VERIFIED");
    assert_eq!(public.body["level"], "CERTIFICATE_LEVEL_BASIC");
    assert!(
        !public.text.contains("secretaries/") && !public.text.contains("王芳"),
        "{}",
        public.text
    );
    // A credential sent along is ignored on a public route (not refused as invalid).
    let with_junk = stack
        .send(
            Method::GET,
            path,
            None,
            None,
            &[("authorization", "Bearer not-a-token")],
        )
        .await;
    assert_eq!(with_junk.status, StatusCode::OK, "{}", with_junk.text);
    let presented = stack
        .post(
            "/v1/credentials:verify",
            None,
            &json!({"credential": certificate["credential"]}),
        )
        .await;
    assert_eq!(presented.body["outcome"], "VERIFIED", "{}", presented.text);
    let jwks = stack
        .get(&format!("/v1/provinces/{GUANGDONG}/issuerKeys"), None)
        .await;
    assert_eq!(jwks.body["keys"][0]["kty"], "OKP", "{}", jwks.text);
    assert_eq!(jwks.body["keys"][0]["crv"], "Ed25519");
    let list = stack
        .get(
            &format!("/v1/provinces/{GUANGDONG}/statusLists/revocation"),
            None,
        )
        .await;
    assert_eq!(list.body["statusPurpose"], "revocation", "{}", list.text);
    // Everything else still needs an account.
    stack
        .get(&format!("/v1/certificates/{number}"), None)
        .await
        .problem(401, "UNAUTHENTICATED", "TOKEN_MISSING");
    // The OpenAPI document says which operations are public.
    let openapi = stack.get("/openapi.json", None).await.body;
    let verify = &openapi["paths"]["/v1/certificates/{certificate}:verify"]["get"];
    assert_eq!(verify["security"], json!([]), "{verify}");

    // Revoked: the public page says so at once.
    ok(
        &stack,
        &format!("/v1/certificates/{number}:revoke"),
        &admin,
        json!({"reason": "考试舞弊"}),
    )
    .await;
    assert_eq!(stack.get(path, None).await.body["outcome"], "REVOKED");

    // Personnel down. Training was stopped too (a deployment, say) and an appointment was made
    // before personnel went away; training restarts while personnel is still down.
    let training_index = shequ::services()
        .iter()
        .position(|e| e.name == "training")
        .expect("training is in the suite");
    let training = stack.services.remove(training_index);
    let training_address = training.address;
    let (training_db, keys, clock) = training.stop().await;
    let later = appoint(&stack, 3, "2026-05-01", NANTOU_COMMUNITY).await;
    assert_eq!(shequ::services()[0].name, "personnel");
    let personnel = stack.services.remove(0);
    let personnel_address = personnel.address;
    let (personnel_db, _, _) = personnel.stop().await;
    let mut config = default_config::<Training>();
    config.dependencies.insert(
        "personnel".into(),
        DependencyConfig {
            address: format!("http://{personnel_address}"),
            deadline_ms: 1_000,
            ..DependencyConfig::default()
        },
    );
    let training = TestServer::start_on::<Training>(
        tokio::net::TcpListener::bind(training_address)
            .await
            .unwrap(),
        config,
        training_db,
        keys.clone(),
        clock.clone(),
    )
    .await;
    // Training serves what it holds; the plan of the new appointment is not known yet.
    assert_eq!(stack.get(path, None).await.body["outcome"], "REVOKED");
    stack
        .get(&format!("/v1/{later}/cultivationPlan"), Some(&admin))
        .await
        .problem(404, "NOT_FOUND", "RESOURCE_NOT_FOUND");
    // Issuing asks personnel for the holder's name: a clear 503 naming personnel.
    let mentor_exam = stack
        .post(
            &format!("/v1/{mentor}/examResults"),
            Some(&admin),
            &json!({"module": "EXAM_MODULE_SYSTEM_OPERATION", "score": 90}),
        )
        .await;
    assert_eq!(mentor_exam.status, StatusCode::OK, "{}", mentor_exam.text);
    ok(
        &stack,
        &format!("/v1/{mentor}/examResults"),
        &admin,
        json!({"module": "EXAM_MODULE_DATA_INTERPRETATION", "score": 90}),
    )
    .await;
    let down = stack
        .post(
            &format!("/v1/{mentor}/certificates"),
            Some(&admin),
            &json!({"level": "CERTIFICATE_LEVEL_BASIC"}),
        )
        .await;
    let problem = down.problem(503, "UNAVAILABLE", "DEPENDENCY_UNAVAILABLE");
    assert_eq!(
        problem["metadata"]["dependency"], "personnel",
        "{}",
        down.text
    );

    // Personnel back on its address: the plan appears, exactly once.
    let personnel = TestServer::start_on::<Personnel>(
        tokio::net::TcpListener::bind(personnel_address)
            .await
            .unwrap(),
        default_config::<Personnel>(),
        personnel_db,
        keys,
        clock,
    )
    .await;
    let plan = until_ok(
        &stack,
        &format!("/v1/{later}/cultivationPlan"),
        &admin,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(plan["startDate"], "2026-05-01");
    ok(
        &stack,
        &format!("/v1/{mentor}/certificates"),
        &admin,
        json!({"level": "CERTIFICATE_LEVEL_BASIC"}),
    )
    .await;
    stack.services.insert(0, personnel);
    stack.services.insert(training_index, training);
    stack.stop().await;
}

/// The certificate prerequisite of the professional ladder, as personnel sees it.
async fn certificate_check(stack: &Stack, secretary: &str, token: &str) -> Value {
    let reply = stack
        .get(
            &format!("/v1/{secretary}:checkPromotion?ladder=LADDER_PROFESSIONAL"),
            Some(token),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["prerequisites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "CERTIFICATE")
        .cloned()
        .expect("the professional ladder needs a certificate")
}

/// Polls until personnel's certificate prerequisite is `met` (personnel follows training's feed).
async fn until_certificate(stack: &Stack, secretary: &str, token: &str, met: bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let prerequisite = certificate_check(stack, secretary, token).await;
        if prerequisite["met"].as_bool().unwrap_or(false) == met {
            return prerequisite;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the certificate prerequisite never became met={met}: {prerequisite}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_professional_promotion_waits_for_the_certificate_and_is_decided_while_training_is_down()
{
    let mut stack = Stack::spawn().await;
    let admin = stack.admin();
    // Six years on the first rung: only the certificate stands in the way of 首席治理专家.
    let secretary = appoint(&stack, 11, "2020-03-01", NANTOU_COMMUNITY).await;
    let before = certificate_check(&stack, &secretary, &admin).await;
    assert_ne!(before["met"], true, "{before}");
    assert_eq!(before["source"], "training");
    assert!(
        before["detail"].as_str().unwrap().contains("holds none"),
        "{before}"
    );
    stack
        .post(
            &format!("/v1/{secretary}:promote"),
            Some(&admin),
            &json!({"ladder": "LADDER_PROFESSIONAL"}),
        )
        .await
        .problem(400, "FAILED_PRECONDITION", "PROMOTION_PREREQUISITES_UNMET");

    // Basic, then advanced: each level's two modules passed, then its certificate.
    let mut advanced = String::new();
    for (level, modules) in [
        (
            "CERTIFICATE_LEVEL_BASIC",
            [
                "EXAM_MODULE_SYSTEM_OPERATION",
                "EXAM_MODULE_DATA_INTERPRETATION",
            ],
        ),
        (
            "CERTIFICATE_LEVEL_ADVANCED",
            [
                "EXAM_MODULE_DATA_ANALYSIS",
                "EXAM_MODULE_PLATFORM_DEVELOPMENT",
            ],
        ),
    ] {
        for module in modules {
            ok(
                &stack,
                &format!("/v1/{secretary}/examResults"),
                &admin,
                json!({"module": module, "score": 75}),
            )
            .await;
        }
        let certificate = ok(
            &stack,
            &format!("/v1/{secretary}/certificates"),
            &admin,
            json!({"level": level}),
        )
        .await;
        advanced = certificate["name"].as_str().unwrap().to_owned();
    }
    let met = until_certificate(&stack, &secretary, &admin, true).await;
    assert!(met["detail"].as_str().unwrap().contains(&advanced), "{met}");
    // A suspension counts at once against it; a reinstatement restores it.
    ok(
        &stack,
        &format!("/v1/{advanced}:suspend"),
        &admin,
        json!({"reason": "复核中"}),
    )
    .await;
    until_certificate(&stack, &secretary, &admin, false).await;
    ok(
        &stack,
        &format!("/v1/{advanced}:reinstate"),
        &admin,
        json!({}),
    )
    .await;
    let live = until_certificate(&stack, &secretary, &admin, true).await;
    // The community's certification coverage counts them, in their age band (40 this year).
    let statistics = stack
        .get(
            &format!("/v1/regions/{NANTOU_COMMUNITY}/workforceStatistics"),
            Some(&admin),
        )
        .await;
    assert_eq!(statistics.status, StatusCode::OK, "{}", statistics.text);
    let body = &statistics.body;
    assert_eq!(body["trainingDeployed"], true, "{}", statistics.text);
    assert_eq!(body["certified"], 1, "{}", statistics.text);
    let band = body["ageBands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["label"] == "35-44")
        .unwrap();
    assert_eq!(band["certified"], 1, "{}", statistics.text);

    // Training goes down. Personnel still answers from what training's feed told it, and says
    // as of when: time moves on, the knowledge does not.
    let index = shequ::services()
        .iter()
        .position(|e| e.name == "training")
        .expect("training is in the suite");
    let training = stack.services.remove(index);
    training.stop().await;
    stack.clock.advance(chrono::Duration::hours(2));
    let started = std::time::Instant::now();
    let as_of = |prerequisite: &Value| {
        prerequisite["sourceAsOf"].as_str().map(|at| {
            chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&chrono::Utc)
        })
    };
    let stale = loop {
        let prerequisite = certificate_check(&stack, &secretary, &admin).await;
        // Until personnel's follower notices the feed has gone, it still says "now".
        if as_of(&prerequisite).is_some_and(|at| at < stack.clock.now()) {
            break prerequisite;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{prerequisite}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(stale["met"], true, "{stale}");
    assert!(
        stack.clock.now() - as_of(&stale).unwrap() >= chrono::Duration::hours(2),
        "as of the moment training went away, two hours ago: {stale} (live: {live})"
    );
    // The promotion is decided on that knowledge.
    let promoted = ok(
        &stack,
        &format!("/v1/{secretary}:promote"),
        &admin,
        json!({"ladder": "LADDER_PROFESSIONAL"}),
    )
    .await;
    assert_eq!(
        promoted["secretary"]["rung"],
        "RUNG_CHIEF_GOVERNANCE_EXPERT"
    );
    stack.stop().await;
}
