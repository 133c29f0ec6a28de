//! Operating the gateway: health and readiness, a backend that is down or silent, request ids,
//! metrics by route template, the OpenAPI document and the docs page.

use std::time::Duration;

use http::{Method, StatusCode};
use shequ_gateway::GatewayConfig;
use shequ_kit::testing::TestKeys;
use tokio::net::TcpListener;

use crate::helpers::*;

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn readiness_lists_each_backend_and_follows_it() {
    let stack = Stack::spawn().await;
    let ready = stack.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    let backends = ready.body["backends"].as_array().unwrap();
    let services: Vec<&str> = backends
        .iter()
        .map(|b| b["service"].as_str().unwrap())
        .collect();
    assert!(
        services.contains(&PERSONNEL) && services.contains(&IDENTITY),
        "{services:?}"
    );
    assert!(
        backends.iter().all(|b| b["status"] == "SERVING"),
        "{}",
        ready.text
    );
    let health = stack.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    stack.stop().await;
}

#[tokio::test]
async fn a_backend_that_is_down_gives_503_and_readiness_says_so() {
    let port = closed_port().await;
    let stack = Stack::gateway_only(
        GatewayConfig::with_backends([(PERSONNEL, format!("http://127.0.0.1:{port}"))]),
        TestKeys::new(),
    )
    .await;
    let token = stack.admin();
    let reply = stack
        .get(&format!("/v1/regions/{NANSHAN}/secretaries"), Some(&token))
        .await;
    let problem = reply.problem(503, "UNAVAILABLE", "BACKEND_UNAVAILABLE");
    assert_eq!(problem["domain"], "gateway.shequ");
    assert!(reply.header("retry-after").parse::<u64>().is_ok());

    let health = stack.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK, "the gateway itself is up");
    let ready = stack.get("/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(ready.body["status"], "not_ready");
    assert_eq!(ready.body["backends"][0]["status"], "UNREACHABLE");
    assert_eq!(ready.body["backends"][0]["service"], PERSONNEL);
    stack.stop().await;
}

#[tokio::test]
async fn a_backend_that_never_answers_hits_the_clients_deadline_with_504() {
    // Accepts connections and then says nothing: the HTTP/2 handshake never completes.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    // The gateway's own default is far longer than the client's 300 ms, so a 504 within 30 s
    // can only be the client's deadline, however loaded the machine.
    let mut config = GatewayConfig::with_backends([(PERSONNEL, format!("http://{address}"))]);
    config.http.default_deadline_ms = 600_000;
    let stack = Stack::gateway_only(config, TestKeys::new()).await;
    let started = std::time::Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        stack.send(
            Method::GET,
            "/v1/secretaries/x",
            Some(&stack.admin()),
            None,
            &[("x-request-timeout", "300ms")],
        ),
    )
    .await
    .expect("the client's deadline ends the call, not the gateway's ten minutes");
    reply.problem(504, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "not before the deadline: {took:?}"
    );
    stack.stop().await;
    holder.abort();
}

#[tokio::test]
async fn every_request_gets_the_gateways_own_id_and_the_clients_is_echoed_and_audited_beside_it() {
    let stack = Stack::spawn().await;
    let reply = stack
        .send(
            Method::GET,
            "/v1/secretaries/nobody",
            Some(&stack.admin()),
            None,
            &[("x-request-id", "journey-42")],
        )
        .await;
    reply.problem(404, "NOT_FOUND", "RESOURCE_NOT_FOUND");
    let ours = reply.header("x-request-id").to_owned();
    assert_eq!(ours.len(), 26, "the gateway's own ULID: {ours}");
    assert_eq!(reply.body["requestId"], ours.as_str());
    assert_eq!(reply.header("x-client-request-id"), "journey-42");
    // The refused read reached the audit log under both ids.
    let auditor = stack.token(shequ_kit::auth::Role::Auditor, NANSHAN);
    let log = stack
        .get(
            &format!("/v1/personnel/regions/{NANSHAN}/auditEntries"),
            Some(&auditor),
        )
        .await;
    let entry = &log.body["auditEntries"][0];
    assert_eq!(
        (&entry["action"], &entry["outcome"], &entry["requestId"]),
        (
            &serde_json::json!("GetSecretary"),
            &serde_json::json!("NOT_FOUND"),
            &serde_json::json!(ours)
        ),
        "{}",
        log.text
    );
    assert_eq!(entry["detail"], "client request id journey-42");

    let generated = stack.get("/healthz", None).await;
    assert_eq!(generated.header("x-request-id").len(), 26, "a ULID");
    assert_eq!(
        generated.header("x-client-request-id"),
        "",
        "none sent, none echoed"
    );
    let hostile = stack
        .send(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "a b\"<script>")],
        )
        .await;
    assert_eq!(hostile.header("x-request-id").len(), 26);
    assert_eq!(
        hostile.header("x-client-request-id"),
        "",
        "an unsafe client id is dropped, not echoed"
    );
    stack.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_never_by_raw_path() {
    let stack = Stack::spawn().await;
    let created = create(&stack, &secretary(&id_number(1985, 20))).await;
    let name = created["name"].as_str().unwrap();
    stack
        .get(&format!("/v1/{name}"), Some(&stack.admin()))
        .await;
    stack
        .get("/v1/secretaries/nobody", Some(&stack.admin()))
        .await;
    stack.get("/v1/nowhere/at/all", None).await;

    let metrics = stack.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    let text = &metrics.text;
    assert!(
        text.contains(r#"shequ_gateway_http_requests_total{method="GET",route="GET /v1/{name=secretaries/*}",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="GET /v1/{name=secretaries/*}",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="POST /v1/secretaries",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("shequ_gateway_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains(name),
        "raw resource names never become labels"
    );
    assert!(!text.contains("nowhere"));
    stack.stop().await;
}

#[tokio::test]
async fn the_openapi_document_and_docs_page_are_served() {
    let port = closed_port().await;
    let stack = Stack::gateway_only(
        GatewayConfig::with_backends([(PERSONNEL, format!("http://127.0.0.1:{port}"))]),
        TestKeys::new(),
    )
    .await;
    let openapi = stack.get("/openapi.json", None).await;
    assert_eq!(openapi.status, StatusCode::OK);
    assert_eq!(openapi.body["openapi"], "3.0.3");
    assert!(openapi.body["paths"]["/v1/secretaries/{secretary}:promote"]["post"].is_object());
    let docs = stack.get("/docs", None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.header("content-type").starts_with("text/html"));
    assert!(
        docs.text.contains("openapi.json") && !docs.text.contains("https://"),
        "self-contained, no CDN"
    );
    let post = stack.send(Method::POST, "/healthz", None, None, &[]).await;
    post.problem(405, "UNIMPLEMENTED", "METHOD_NOT_ALLOWED");
    stack.stop().await;
}

#[tokio::test]
async fn cors_answers_only_allowed_origins() {
    let port = closed_port().await;
    let mut config =
        GatewayConfig::with_backends([(PERSONNEL, format!("http://127.0.0.1:{port}"))]);
    config.cors.allowed_origins = vec!["https://console.example.gov.cn".into()];
    let stack = Stack::gateway_only(config, TestKeys::new()).await;
    let preflight = |origin: &'static str| {
        let stack = &stack;
        async move {
            stack
                .send(
                    Method::OPTIONS,
                    "/v1/secretaries",
                    None,
                    None,
                    &[
                        ("origin", origin),
                        ("access-control-request-method", "POST"),
                        (
                            "access-control-request-headers",
                            "authorization,content-type",
                        ),
                    ],
                )
                .await
        }
    };
    let allowed = preflight("https://console.example.gov.cn").await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        "https://console.example.gov.cn"
    );
    let refused = preflight("https://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), "");
    stack.stop().await;
}

#[tokio::test]
async fn a_route_whose_service_has_no_backend_answers_503_backend_not_configured() {
    // only identity is configured: there is no built-in default for personnel to fall back on
    let stack = Stack::gateway_only(
        GatewayConfig::with_backends([(
            IDENTITY,
            format!("http://127.0.0.1:{}", closed_port().await),
        )]),
        TestKeys::new(),
    )
    .await;
    let reply = stack
        .get(
            &format!("/v1/regions/{NANSHAN}/secretaries"),
            Some(&stack.admin()),
        )
        .await;
    reply.problem(503, "UNAVAILABLE", "BACKEND_NOT_CONFIGURED");
    // and the route is still documented
    let document = stack.get("/openapi.json", None).await;
    let paths = document.body["paths"].as_object().unwrap();
    assert!(
        paths.keys().any(|p| p.ends_with("/secretaries")),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_admin_listener_takes_the_metrics_off_the_public_one() {
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_address = admin.local_addr().unwrap();
    drop(admin);
    let mut config = GatewayConfig::with_backends::<&str, &str>([]);
    config.http.admin_listen = Some(admin_address);
    let stack = Stack::gateway_only(config, TestKeys::new()).await;
    stack.get("/healthz", None).await;
    let public = stack.get("/metrics", None).await;
    assert_eq!(public.status, StatusCode::NOT_FOUND, "{}", public.text);
    let operators = Stack::client_get(&format!("http://{admin_address}/metrics")).await;
    assert_eq!(operators.0, StatusCode::OK);
    assert!(
        operators.1.contains("shequ_gateway_http_requests_total"),
        "{}",
        operators.1
    );
    assert_eq!(
        Stack::client_get(&format!("http://{admin_address}/v1/secretaries/x"))
            .await
            .0,
        StatusCode::NOT_FOUND,
        "no API on the admin listener"
    );
    // the API documentation stays public
    assert_eq!(stack.get("/docs", None).await.status, StatusCode::OK);
    stack.stop().await;
}
