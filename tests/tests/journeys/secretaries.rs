//! The secretary journeys of issue 3: create, read, page through, update with a stale etag, and
//! each way a request can be refused, all as REST/JSON.

use http::{Method, StatusCode};
use serde_json::json;
use shequ_kit::auth::Role;

use crate::helpers::*;

#[tokio::test]
async fn a_secretary_is_created_read_back_and_listed_page_by_page_to_the_end() {
    let stack = Stack::spawn().await;
    let created = create(&stack, &secretary(&id_number(1985, 1))).await;
    let name = created["name"]
        .as_str()
        .expect("a resource name")
        .to_owned();
    assert!(name.starts_with("secretaries/"), "{created}");
    assert_eq!(
        created["status"], "SECRETARY_STATUS_ACTIVE",
        "enums travel by name"
    );
    assert_eq!(created["rung"], "RUNG_SECRETARY");
    assert_eq!(created["personalDataMasked"], true, "camelCase names");
    assert!(
        created["createTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "RFC 3339 timestamp: {created}"
    );

    let read = stack
        .get(&format!("/v1/{name}"), Some(&stack.admin()))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.header("content-type"), "application/json");
    assert_eq!(read.body["displayName"], "王芳");
    assert_eq!(read.body["etag"], created["etag"]);
    assert_ne!(
        read.body["idNumber"],
        created["idNumber"]
            .as_str()
            .map(|_| id_number(1985, 1))
            .unwrap(),
        "masked by default"
    );

    let unmasked = stack
        .get(
            &format!("/v1/{name}?view=SECRETARY_VIEW_UNMASKED"),
            Some(&stack.admin()),
        )
        .await;
    assert_eq!(
        unmasked.body["idNumber"],
        id_number(1985, 1),
        "an enum query parameter by name: {}",
        unmasked.text
    );

    for serial in 2..=7 {
        create(&stack, &secretary(&id_number(1980 + serial, serial))).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let reply = stack
            .get(
                &format!("/v1/regions/{NANSHAN}/secretaries?pageSize=3&pageToken={token}"),
                Some(&stack.admin()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        pages += 1;
        for secretary in reply.body["secretaries"].as_array().expect("a page") {
            seen.push(secretary["name"].as_str().unwrap().to_owned());
        }
        match reply.body["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_owned(),
            _ => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3, "7 secretaries in pages of 3");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 7, "every secretary exactly once: {seen:?}");
    assert!(seen.contains(&name));
    stack.stop().await;
}

#[tokio::test]
async fn an_update_with_a_stale_etag_is_a_conflict() {
    let stack = Stack::spawn().await;
    let created = create(&stack, &secretary(&id_number(1985, 8))).await;
    let name = created["name"].as_str().unwrap();
    let first_etag = created["etag"].as_str().unwrap();

    let patch =
        |etag: &str, display_name: &str| json!({ "displayName": display_name, "etag": etag });
    let path = format!("/v1/{name}?updateMask=displayName");
    let updated = stack
        .send(
            Method::PATCH,
            &path,
            Some(&stack.admin()),
            Some(patch(first_etag, "王芳芳").to_string().into_bytes()),
            &[],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["displayName"], "王芳芳");
    assert_ne!(updated.body["etag"], first_etag);

    let stale = stack
        .send(
            Method::PATCH,
            &path,
            Some(&stack.admin()),
            Some(patch(first_etag, "李四").to_string().into_bytes()),
            &[],
        )
        .await;
    stale.problem(409, "ABORTED", "ETAG_MISMATCH");
    assert_eq!(stale.body["domain"], "shequ");
    let read = stack
        .get(&format!("/v1/{name}"), Some(&stack.admin()))
        .await;
    assert_eq!(
        read.body["displayName"], "王芳芳",
        "the stale write changed nothing"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_wrong_check_digit_is_a_bad_request_naming_the_field() {
    let stack = Stack::spawn().await;
    let mut id = id_number(1985, 3);
    let last = id.pop().unwrap();
    id.push(if last == '1' { '2' } else { '1' });
    let reply = stack
        .post("/v1/secretaries", Some(&stack.admin()), &secretary(&id))
        .await;
    let problem = reply.problem(400, "INVALID_ARGUMENT", "ID_NUMBER_CHECK_DIGIT");
    let violations = problem["fieldViolations"]
        .as_array()
        .expect("field violations");
    assert!(
        violations
            .iter()
            .any(|v| v["field"] == "secretary.id_number" && v["reason"] == "ID_NUMBER_CHECK_DIGIT"),
        "{problem}"
    );
    assert_eq!(problem["domain"], "shequ");
    assert!(
        !reply.text.contains(&id),
        "the ID number is not echoed back: {}",
        reply.text
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_unknown_region_is_a_bad_request() {
    let stack = Stack::spawn().await;
    let mut profile = secretary(&id_number(1985, 5));
    profile["region"] = json!("440305001999");
    let reply = stack
        .post("/v1/secretaries", Some(&stack.admin()), &profile)
        .await;
    let problem = reply.problem(400, "INVALID_ARGUMENT", "REGION_UNKNOWN");
    assert!(
        problem["fieldViolations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["field"] == "secretary.region"),
        "{problem}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_record_outside_the_callers_region_is_not_found() {
    let stack = Stack::spawn().await;
    let mut profile = secretary(&id_number(1985, 6));
    profile["region"] = json!(FUTIAN_COMMUNITY);
    let futian_admin = stack.token(Role::DistrictAdmin, FUTIAN);
    let created = stack
        .post("/v1/secretaries", Some(&futian_admin), &profile)
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let name = created.body["name"].as_str().unwrap();

    let hidden = stack
        .get(&format!("/v1/{name}"), Some(&stack.admin()))
        .await;
    hidden.problem(404, "NOT_FOUND", "RESOURCE_NOT_FOUND");
    let own = stack.get(&format!("/v1/{name}"), Some(&futian_admin)).await;
    assert_eq!(own.status, StatusCode::OK);
    // naming a region outside the scope is refused outright
    let listing = stack
        .get(
            &format!("/v1/regions/{FUTIAN}/secretaries"),
            Some(&stack.admin()),
        )
        .await;
    listing.problem(403, "PERMISSION_DENIED", "REGION_OUT_OF_SCOPE");
    stack.stop().await;
}

#[tokio::test]
async fn an_illegal_promotion_lists_every_unmet_precondition() {
    let stack = Stack::spawn().await;
    let mut profile = secretary(&id_number(1985, 40));
    profile["appointmentDate"] = json!("2024-09-01"); // under two years on the first rung
    let created = create(&stack, &profile).await;
    let name = created["name"].as_str().unwrap();

    let reply = stack
        .post(
            &format!("/v1/{name}:promote"),
            Some(&stack.admin()),
            &json!({ "ladder": "LADDER_MANAGEMENT" }),
        )
        .await;
    let problem = reply.problem(400, "FAILED_PRECONDITION", "PROMOTION_PREREQUISITES_UNMET");
    let subjects: Vec<&str> = problem["preconditionViolations"]
        .as_array()
        .expect("precondition violations")
        .iter()
        .map(|v| v["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["YEARS_ON_CURRENT_RUNG"], "{problem}");
    assert!(
        problem["preconditionViolations"][0]["type"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let unchanged = stack
        .get(&format!("/v1/{name}"), Some(&stack.admin()))
        .await;
    assert_eq!(unchanged.body["rung"], "RUNG_SECRETARY");
    stack.stop().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() {
    let stack = Stack::spawn().await;
    let reply = stack
        .get(&format!("/v1/regions/{NANSHAN}/secretaries"), None)
        .await;
    reply.problem(401, "UNAUTHENTICATED", "TOKEN_MISSING");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    let forged = stack
        .get(
            &format!("/v1/regions/{NANSHAN}/secretaries"),
            Some("not.a.token"),
        )
        .await;
    forged.problem(401, "UNAUTHENTICATED", "TOKEN_INVALID");
    stack.stop().await;
}

#[tokio::test]
async fn client_mistakes_are_bad_requests_never_server_errors() {
    let stack = Stack::spawn().await;
    let admin = stack.admin();
    let mut profile = secretary(&id_number(1985, 9));
    profile["nickname"] = json!("芳芳");
    let unknown = stack.post("/v1/secretaries", Some(&admin), &profile).await;
    let problem = unknown.problem(400, "INVALID_ARGUMENT", "UNKNOWN_FIELD");
    assert!(
        problem["detail"].as_str().unwrap().contains("nickname"),
        "{problem}"
    );

    let malformed = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(b"{\"displayName\": ".to_vec()),
            &[],
        )
        .await;
    malformed.problem(400, "INVALID_ARGUMENT", "MALFORMED_JSON");

    let mut wrong_type = secretary(&id_number(1985, 10));
    wrong_type["gender"] = json!(["GENDER_FEMALE"]);
    let reply = stack
        .post("/v1/secretaries", Some(&admin), &wrong_type)
        .await;
    let problem = reply.problem(400, "INVALID_ARGUMENT", "FIELD_VALUE_INVALID");
    assert_eq!(
        problem["fieldViolations"][0]["field"], "secretary.gender",
        "{problem}"
    );

    let bad_query = stack
        .get(
            &format!("/v1/regions/{NANSHAN}/secretaries?pageSize=lots"),
            Some(&admin),
        )
        .await;
    let problem = bad_query.problem(400, "INVALID_ARGUMENT", "FIELD_VALUE_INVALID");
    assert_eq!(problem["fieldViolations"][0]["field"], "pageSize");

    let bad_timeout = stack
        .send(
            Method::GET,
            &format!("/v1/regions/{NANSHAN}/secretaries"),
            Some(&admin),
            None,
            &[("x-request-timeout", "soon")],
        )
        .await;
    bad_timeout.problem(400, "INVALID_ARGUMENT", "TIMEOUT_INVALID");

    let text = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(b"{}".to_vec()),
            &[("content-type", "text/plain")],
        )
        .await;
    text.problem(415, "INVALID_ARGUMENT", "UNSUPPORTED_MEDIA_TYPE");

    let huge = json!({ "displayName": "x".repeat((1 << 20) + 1) });
    let too_large = stack.post("/v1/secretaries", Some(&admin), &huge).await;
    too_large.problem(413, "RESOURCE_EXHAUSTED", "BODY_TOO_LARGE");

    // A 5,000-character resource name (once a 500 "h2 protocol error") and an oversized query
    // are refused here, naming the limit, before any service sees them.
    let long_name = stack
        .get(
            &format!("/v1/secretaries/{}", "x".repeat(5_000)),
            Some(&admin),
        )
        .await;
    let problem = long_name.problem(400, "INVALID_ARGUMENT", "PATH_VARIABLE_TOO_LONG");
    assert_eq!(
        problem["fieldViolations"][0]["field"], "name",
        "{}",
        long_name.text
    );
    let long_query = stack
        .get(
            &format!(
                "/v1/regions/{NANSHAN}/secretaries?pageToken={}",
                "x".repeat(9_000)
            ),
            Some(&admin),
        )
        .await;
    long_query.problem(400, "INVALID_ARGUMENT", "QUERY_TOO_LONG");
    // Just under the limits the request reaches the service, which answers for itself.
    stack
        .get(
            &format!("/v1/secretaries/{}", "x".repeat(200)),
            Some(&admin),
        )
        .await
        .problem(400, "INVALID_ARGUMENT", "RESOURCE_NAME_INVALID");

    let nowhere = stack.get("/v1/nowhere", Some(&admin)).await;
    nowhere.problem(404, "NOT_FOUND", "ROUTE_NOT_FOUND");
    let wrong_method = stack
        .send(Method::DELETE, "/v1/secretaries/x", Some(&admin), None, &[])
        .await;
    wrong_method.problem(405, "UNIMPLEMENTED", "METHOD_NOT_ALLOWED");
    assert_eq!(wrong_method.header("allow"), "GET, PATCH");
    stack.stop().await;
}

#[tokio::test]
async fn a_body_of_1_mib_is_accepted_and_one_byte_more_refused_by_default() {
    let stack = Stack::spawn().await;
    // The profile, padded with JSON whitespace to exactly `size` bytes.
    let body = |serial: u32, size: usize| {
        let mut text = secretary(&id_number(1985, serial)).to_string();
        text.insert_str(1, &" ".repeat(size - text.len()));
        assert_eq!(text.len(), size);
        text.into_bytes()
    };
    let admin = stack.admin();
    let accepted = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(body(12, 1_048_576)),
            &[],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let refused = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(body(13, 1_048_577)),
            &[],
        )
        .await;
    let problem = refused.problem(413, "RESOURCE_EXHAUSTED", "BODY_TOO_LARGE");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("1048576 bytes"),
        "{problem}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let stack = Stack::spawn_with(|config| config.http.max_body_bytes = 256).await;
    let reply = stack
        .post(
            "/v1/secretaries",
            Some(&stack.admin()),
            &secretary(&id_number(1985, 11)),
        )
        .await;
    let problem = reply.problem(413, "RESOURCE_EXHAUSTED", "BODY_TOO_LARGE");
    assert!(
        problem["detail"].as_str().unwrap().contains("256"),
        "{problem}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_takes_effect_once() {
    let stack = Stack::spawn().await;
    let admin = stack.admin();
    let profile = secretary(&id_number(1985, 30));
    let body = profile.to_string().into_bytes();
    let key = [("idempotency-key", "journey-create-30")];
    let first = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let retry = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(body),
            &key,
        )
        .await;
    assert_eq!(
        retry.status,
        StatusCode::OK,
        "a retry gets the first answer: {}",
        retry.text
    );
    assert_eq!(retry.body["name"], first.body["name"]);

    let mut other = secretary(&id_number(1985, 31));
    other["displayName"] = json!("李娜");
    let reused = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(other.to_string().into_bytes()),
            &key,
        )
        .await;
    reused.problem(409, "ALREADY_EXISTS", "REQUEST_ID_REUSED");

    let listed = stack
        .get(&format!("/v1/regions/{NANSHAN}/secretaries"), Some(&admin))
        .await;
    assert_eq!(
        listed.body["secretaries"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
    stack.stop().await;
}
