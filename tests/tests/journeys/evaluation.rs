//! The evaluation journey through the gateway with every service running: a district runs a
//! year of quarterly assessments, engages an assessment organisation whose assessor assesses
//! externally, finalises (training's and warnings' figures read by evaluation itself), ranks,
//! handles an appeal, confirms the adjustment; personnel learns the band from evaluation's feed
//! and refuses the flagged secretary's promotion, still answering while evaluation is down, and
//! shows the adjustment as one REMOVAL career event.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};
use shequ_kit::{auth::Role, clock::Clock};

use crate::helpers::*;

async fn ok(stack: &Stack, path: &str, token: &str, body: Value) -> Value {
    let reply = stack.post(path, Some(token), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.body
}

/// Polls `path` until `done` says the answer is what the journey waits for.
async fn until(stack: &Stack, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let reply = stack.get(path, Some(token)).await;
        if reply.status == StatusCode::OK && done(&reply.body) {
            return reply.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} never answered as awaited: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The band prerequisite of a management promotion, as personnel sees it.
async fn band_check(stack: &Stack, secretary: &str, token: &str) -> Value {
    let reply = stack
        .get(
            &format!("/v1/{secretary}:checkPromotion?ladder=LADDER_MANAGEMENT"),
            Some(token),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["prerequisites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "OUTSIDE_ADJUSTMENT_BAND")
        .cloned()
        .expect("every promotion checks the band")
}

#[tokio::test]
async fn a_year_of_assessments_ends_in_a_confirmed_adjustment_that_personnel_records_and_enforces()
{
    // the journey polls feeds as it goes: no rate limit in the way
    let mut stack = Stack::spawn_with(|config| {
        config.auth.rate_per_second = 1_000_000.0;
        config.auth.rate_burst = 1_000_000;
    })
    .await;
    let district = stack.token(Role::DistrictAdmin, NANSHAN);
    let officer = stack.token(Role::StreetOfficer, "440305001000");
    // three secretaries of Nantou, six years in post
    let mut secretaries = Vec::new();
    for serial in 0..3 {
        let created = create(&stack, &secretary(&id_number(1987, 300 + serial))).await;
        secretaries.push(created["name"].as_str().unwrap().to_owned());
    }
    for s in &secretaries {
        until(
            &stack,
            &format!("/v1/{s}/quarterlyAssessments?year=2026"),
            &district,
            |_| true,
        )
        .await;
        until(
            &stack,
            &format!("/v1/{s}/learningProgress"),
            &district,
            |_| true,
        )
        .await;
        let started = std::time::Instant::now();
        while stack
            .post(
                "/v1/secretaryWarningSummaries:batchGet",
                Some(&district),
                &json!({"secretaries": [s], "year": 2026}),
            )
            .await
            .status
            != StatusCode::OK
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "warnings never knew {s}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    // a year of quarterly assessments by the street officer: 85, 75 and 55 each quarter
    for (s, score) in secretaries.iter().zip([85, 75, 55]) {
        for quarter in 1..=4 {
            ok(
                &stack,
                &format!("/v1/{s}/quarterlyAssessments"),
                &officer,
                json!({"year": 2026, "quarter": quarter, "scores": [
                    {"indicator": "satisfaction", "score": score},
                    {"indicator": "governance", "score": score},
                    {"indicator": "innovation", "score": score}],
                    "evidenceLinks": ["https://docs.example.cn/kaohe/2026"]}),
            )
            .await;
        }
    }
    // the district engages an organisation; its assessor assesses externally
    let assessor = shequ_kit::auth::Caller {
        subject: "org:szpg".into(),
        ..shequ_kit::testing::caller(Role::Assessor, NANSHAN)
    };
    let engagement = ok(
        &stack,
        "/v1/engagements",
        &district,
        json!({"organisation": "深圳市社会组织评估中心", "assessor": "org:szpg", "regions": [NANSHAN], "year": 2026}),
    )
    .await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let assessor_token = stack.keys.token_for(&assessor);
    for (s, score) in secretaries.iter().zip([80, 70, 60]) {
        ok(
            &stack,
            &format!("/v1/{s}/externalAssessments"),
            &assessor_token,
            json!({"year": 2026, "score": score, "engagement": engagement,
                "evidenceLinks": ["https://szpg.example.cn/2026"]}),
        )
        .await;
    }
    // an officer may not enter the external track
    let refused = stack
        .post(
            &format!("/v1/{}/externalAssessments", secretaries[0]),
            Some(&officer),
            &json!({"year": 2026, "score": 99, "engagement": engagement,
                "evidenceLinks": ["https://x.example.cn"]}),
        )
        .await;
    refused.problem(403, "PERMISSION_DENIED", "ROLE_NOT_PERMITTED");

    // finalise: every number explained, learning from training, governance from warnings
    let finalised = ok(
        &stack,
        &format!("/v1/regions/{NANSHAN}/annualResults:finalise"),
        &district,
        json!({"year": 2026}),
    )
    .await;
    assert_eq!(
        finalised["finalised"].as_array().unwrap().len(),
        3,
        "{finalised}"
    );
    let lowest = &finalised["finalised"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == format!("{}/annualResults/2026", secretaries[2]))
        .unwrap()
        .clone();
    assert_eq!(lowest["quarters"], json!([1, 2, 3, 4]));
    let sources: Vec<&str> = lowest["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["source"].as_str())
        .collect();
    assert!(sources.contains(&"training") && sources.contains(&"warnings"));

    // rank the district: 5% of 3 rounds up to 1, the lowest is flagged
    let ranking = ok(
        &stack,
        "/v1/rankings",
        &district,
        json!({"region": NANSHAN, "year": 2026}),
    )
    .await;
    let name = ranking["name"].as_str().unwrap().to_owned();
    let flagged: Vec<&str> = ranking["places"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["flagged"] == true)
        .map(|p| p["secretary"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, [secretaries[2].as_str()]);

    // personnel learns the band from evaluation's feed and refuses the flagged promotion
    let band = until(
        &stack,
        &format!(
            "/v1/{}:checkPromotion?ladder=LADDER_MANAGEMENT",
            secretaries[2]
        ),
        &district,
        |b| {
            b["prerequisites"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["code"] == "OUTSIDE_ADJUSTMENT_BAND" && p["met"] != true)
        },
    )
    .await;
    let prerequisite = band["prerequisites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "OUTSIDE_ADJUSTMENT_BAND")
        .unwrap()
        .clone();
    assert_eq!(prerequisite["source"], "evaluation");
    stack
        .post(
            &format!("/v1/{}:promote", secretaries[2]),
            Some(&district),
            &json!({"ladder": "LADDER_MANAGEMENT"}),
        )
        .await
        .problem(400, "FAILED_PRECONDITION", "PROMOTION_PREREQUISITES_UNMET");
    let outside = band_check(&stack, &secretaries[0], &district).await;
    assert_eq!(outside["met"], true, "{outside}");

    // the flagged secretary appeals; the district dismisses it after the window closes
    let own = shequ_kit::auth::Caller {
        secretary: Some(secretaries[2].clone()),
        ..shequ_kit::testing::caller(Role::Secretary, NANTOU_COMMUNITY)
    };
    let appeal = ok(
        &stack,
        &format!("/v1/{}/annualResults/2026/appeals", secretaries[2]),
        &stack.keys.token_for(&own),
        json!({"reason": "第三季度群众满意度测评受台风影响"}),
    )
    .await;
    stack
        .post(
            &format!("/v1/{name}:confirmAdjustments"),
            Some(&district),
            &json!({}),
        )
        .await
        .problem(400, "FAILED_PRECONDITION", "APPEAL_WINDOW_OPEN");
    stack.clock.advance(chrono::Duration::days(16));
    stack
        .post(
            &format!("/v1/{name}:confirmAdjustments"),
            Some(&district),
            &json!({}),
        )
        .await
        .problem(400, "FAILED_PRECONDITION", "APPEALS_PENDING");
    ok(
        &stack,
        &format!("/v1/{}:decide", appeal["name"].as_str().unwrap()),
        &district,
        json!({"decision": "APPEAL_STATE_DISMISSED", "note": "测评样本符合规定"}),
    )
    .await;

    // evaluation goes down: personnel still answers from what evaluation's feed told it, and
    // says as of when
    let index = shequ::services()
        .iter()
        .position(|e| e.name == "evaluation")
        .expect("evaluation is in the suite");
    let evaluation = stack.services.remove(index);
    let address = evaluation.address;
    let (database, keys, _) = evaluation.stop().await;
    stack.clock.advance(chrono::Duration::hours(2));
    let started = std::time::Instant::now();
    let stale = loop {
        let check = band_check(&stack, &secretaries[2], &district).await;
        let as_of = check["sourceAsOf"].as_str().map(|at| {
            chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&chrono::Utc)
        });
        if as_of.is_some_and(|at| at < stack.clock.now()) {
            break check;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "personnel never noticed evaluation was gone: {check}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(stale["met"], true, "{stale}");

    // evaluation is back (same address, same database); the adjustment is confirmed and
    // reaches personnel as one REMOVAL career event
    let entries = shequ::services();
    let entry = entries[index];
    let mut config = entry.default_config();
    for dependency in entry.all_dependencies() {
        let at = entries
            .iter()
            .filter(|e| e.name != "evaluation")
            .position(|e| e.name == dependency)
            .expect("a dependency of the suite");
        config.dependencies.insert(
            dependency.to_owned(),
            shequ_kit::config::DependencyConfig {
                address: stack.services[at].url(),
                ..shequ_kit::config::DependencyConfig::default()
            },
        );
    }
    let evaluation = shequ_kit::testing::TestServer::launch(
        &entry,
        tokio::net::TcpListener::bind(address).await.unwrap(),
        config,
        database,
        keys,
        stack.clock.clone(),
    )
    .await;
    stack.services.insert(index, evaluation);
    // the gateway reconnects to the restarted backend; confirming is safe to repeat
    let started = std::time::Instant::now();
    let confirmed = loop {
        let reply = stack
            .post(
                &format!("/v1/{name}:confirmAdjustments"),
                Some(&district),
                &json!({}),
            )
            .await;
        if reply.status == StatusCode::OK {
            break reply.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "confirmation never went through: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(confirmed["state"], "RANKING_STATE_CONFIRMED", "{confirmed}");
    let recorded = until(&stack, &format!("/v1/{name}"), &district, |r| {
        r["places"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["delivery"] == "ADJUSTMENT_DELIVERY_RECORDED")
    })
    .await;
    let place = recorded["places"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["secretary"] == secretaries[2])
        .unwrap()
        .clone();
    let events = stack
        .get(
            &format!("/v1/{}/careerEvents", secretaries[2]),
            Some(&district),
        )
        .await;
    let removals: Vec<&Value> = events.body["careerEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "CAREER_EVENT_TYPE_REMOVAL")
        .collect();
    assert_eq!(removals.len(), 1, "{}", events.text);
    assert_eq!(removals[0]["name"], place["careerEvent"]);
    // removed from the post: no promotion at all now; the others show no adjustment
    stack
        .post(
            &format!("/v1/{}:promote", secretaries[2]),
            Some(&district),
            &json!({"ladder": "LADDER_MANAGEMENT"}),
        )
        .await
        .problem(400, "FAILED_PRECONDITION", "ILLEGAL_STATE_TRANSITION");
    for s in &secretaries[..2] {
        let events = stack
            .get(&format!("/v1/{s}/careerEvents"), Some(&district))
            .await;
        assert!(
            !events.text.contains("CAREER_EVENT_TYPE_REMOVAL"),
            "{}",
            events.text
        );
    }
    stack.stop().await;
}
