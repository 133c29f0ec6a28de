//! Identity, isolation and limits through the gateway: integration systems with API keys, people
//! with the province's identity provider, refused tokens of every kind, lockout and rate limits,
//! exactly-once retried writes, and databases that hold no personal data in clear.

use std::path::Path;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shequ_gateway::auth::Mode;
use shequ_gateway::oidc::OidcConfig;

use crate::helpers::*;

/// Sends `Authorization: <scheme> <credential>` as given.
async fn with_authorization(
    stack: &Stack,
    method: Method,
    path: &str,
    authorization: &str,
    body: Option<&Value>,
) -> Reply {
    stack
        .send(
            method,
            path,
            None,
            body.map(|b| b.to_string().into_bytes()),
            &[("authorization", authorization)],
        )
        .await
}

fn api_key_request(roles: &[&str], scope: &str) -> Value {
    json!({
        "displayName": "南山区数据共享平台",
        "roles": roles,
        "scope": scope,
        "expireTime": "2026-12-31T00:00:00Z",
    })
}

#[tokio::test]
async fn an_integration_system_works_with_its_api_key_within_its_roles_until_revoked() {
    let stack = Stack::spawn().await;
    create(&stack, &secretary(&id_number(1985, 1))).await;
    let issued = stack
        .post(
            "/v1/apiKeys",
            Some(&stack.admin()),
            &api_key_request(&["integration"], NANSHAN),
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    let secret = issued.body["secret"].as_str().unwrap().to_owned();
    let name = issued.body["apiKey"]["name"].as_str().unwrap().to_owned();
    let key = format!("ApiKey {secret}");

    let listed = with_authorization(
        &stack,
        Method::GET,
        &format!("/v1/regions/{NANSHAN}/secretaries"),
        &key,
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["secretaries"].as_array().unwrap().len(), 1);
    // reading outside its scope, or writing at all, is refused
    with_authorization(
        &stack,
        Method::GET,
        &format!("/v1/regions/{FUTIAN}/secretaries"),
        &key,
        None,
    )
    .await
    .problem(403, "PERMISSION_DENIED", "REGION_OUT_OF_SCOPE");
    with_authorization(
        &stack,
        Method::POST,
        "/v1/secretaries",
        &key,
        Some(&secretary(&id_number(1985, 2))),
    )
    .await
    .problem(403, "PERMISSION_DENIED", "ROLE_NOT_PERMITTED");

    // the secret is never shown again
    let read = stack
        .get(&format!("/v1/{name}"), Some(&stack.admin()))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(!read.text.contains(&secret[secret.len() - 30..]));

    let revoked = stack
        .post(
            &format!("/v1/{name}:revoke"),
            Some(&stack.admin()),
            &json!({}),
        )
        .await;
    assert_eq!(
        revoked.body["state"], "API_KEY_STATE_REVOKED",
        "{}",
        revoked.text
    );
    // The key was verified and cached for the default 30 s, and the stack's clock stands still,
    // so the cache cannot have expired: only identity's feed can drop the key.
    assert_eq!(
        shequ_gateway::auth::AuthConfig::default().api_key_cache_secs,
        30
    );
    let (refused, took) = stack
        .until_refused(&format!("/v1/regions/{NANSHAN}/secretaries"), &key)
        .await;
    refused.problem(401, "UNAUTHENTICATED", "API_KEY_INVALID");
    println!("revoked key refused after {took:?}");
    stack.stop().await;
}

#[tokio::test]
async fn a_rotated_key_stops_the_old_secret_at_once() {
    let stack = Stack::spawn().await;
    let issued = stack
        .post(
            "/v1/apiKeys",
            Some(&stack.admin()),
            &api_key_request(&["integration"], NANSHAN),
        )
        .await;
    let old = issued.body["secret"].as_str().unwrap().to_owned();
    let name = issued.body["apiKey"]["name"].as_str().unwrap().to_owned();
    let path = format!("/v1/regions/{NANSHAN}/secretaries");
    // used once, so the gateway has it cached
    assert_eq!(
        with_authorization(&stack, Method::GET, &path, &format!("ApiKey {old}"), None)
            .await
            .status,
        StatusCode::OK
    );
    let rotated = stack
        .post(
            &format!("/v1/{name}:rotate"),
            Some(&stack.admin()),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new = rotated.body["secret"].as_str().unwrap();
    assert_eq!(
        with_authorization(&stack, Method::GET, &path, &format!("ApiKey {new}"), None)
            .await
            .status,
        StatusCode::OK
    );
    // the default 30 s cache on a clock that stands still: the feed dropped the old secret
    let (refused, took) = stack.until_refused(&path, &format!("ApiKey {old}")).await;
    refused.problem(401, "UNAUTHENTICATED", "API_KEY_INVALID");
    println!("rotated key's old secret refused after {took:?}");
    stack.stop().await;
}

/// The province's identity provider: an Ed25519 key published in a JWKS file.
struct Provider {
    key: EncodingKey,
    public: [u8; 32],
}

impl Provider {
    fn new() -> Provider {
        use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
        Provider {
            key: EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
            public: signing.verifying_key().to_bytes(),
        }
    }

    fn publish(&self, file: &Path) {
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "gd-2026", "x": URL_SAFE_NO_PAD.encode(self.public)}]});
        std::fs::write(file, jwks.to_string()).unwrap();
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("gd-2026".into());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

const IDP: &str = "https://idp.gd.gov.cn/realms/shequ";

fn person(exp_offset: i64) -> Value {
    json!({
        "iss": IDP, "aud": "shequ", "sub": "zhangwei",
        "iat": chrono::Utc::now().timestamp() + exp_offset.min(0) - 60,
        "exp": chrono::Utc::now().timestamp() + exp_offset,
        "roles": ["district_admin"], "region_scope": NANSHAN,
    })
}

async fn production_stack(jwks: &Path) -> Stack {
    let jwks = jwks.to_path_buf();
    Stack::spawn_with(move |config| {
        config.auth.mode = Mode::Production;
        // These journeys present many bad tokens from one address on purpose, each to see its
        // own refusal; the lockout has its own journey.
        config.auth.lockout_failures = 100;
        config.auth.oidc = Some(OidcConfig {
            issuer: IDP.into(),
            jwks_file: Some(jwks),
            ..OidcConfig::default()
        });
    })
    .await
}

#[tokio::test]
async fn people_sign_in_with_the_provinces_identity_provider_and_bad_tokens_are_refused() {
    let dir = tempfile_dir();
    let jwks = dir.join("jwks.json");
    let provider = Provider::new();
    provider.publish(&jwks);
    let stack = production_stack(&jwks).await;
    let path = format!("/v1/regions/{NANSHAN}/secretaries");

    let good = with_authorization(
        &stack,
        Method::GET,
        &path,
        &format!("Bearer {}", provider.sign(&person(600))),
        None,
    )
    .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);

    let refused = |reply: Reply, reason: &str| {
        reply.problem(401, "UNAUTHENTICATED", reason);
    };
    // signed by someone else under the provider's key id
    refused(
        with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {}", Provider::new().sign(&person(600))),
            None,
        )
        .await,
        "TOKEN_INVALID",
    );
    refused(
        with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {}", provider.sign(&person(-3600))),
            None,
        )
        .await,
        "TOKEN_EXPIRED",
    );
    let mut audience = person(600);
    audience["aud"] = json!("another-system");
    refused(
        with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {}", provider.sign(&audience)),
            None,
        )
        .await,
        "TOKEN_WRONG_AUDIENCE",
    );
    let mut issuer = person(600);
    issuer["iss"] = json!("https://evil.example");
    refused(
        with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {}", provider.sign(&issuer)),
            None,
        )
        .await,
        "TOKEN_WRONG_AUDIENCE",
    );
    // claims a signature cannot excuse: not valid yet, issued in the future, valid for two days,
    // issued to nobody, or with no issue time at all
    let now = chrono::Utc::now().timestamp();
    let cases: [(&str, Value, &str); 5] = [
        ("nbf", json!(now + 600), "TOKEN_NOT_YET_VALID"),
        ("iat", json!(now + 600), "TOKEN_NOT_YET_VALID"),
        (
            "exp",
            json!(now - 60 + 2 * 86_400),
            "TOKEN_LIFETIME_TOO_LONG",
        ),
        ("sub", json!(""), "TOKEN_CLAIMS_INVALID"),
        ("iat", Value::Null, "TOKEN_CLAIMS_INVALID"),
    ];
    for (claim, value, reason) in cases {
        let mut claims = person(600);
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(claim);
        } else {
            claims[claim] = value;
        }
        let reply = with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {}", provider.sign(&claims)),
            None,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{claim}: {}",
            reply.text
        );
        refused(reply, reason);
    }
    // unsigned
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "gd-2026"}).to_string()),
        URL_SAFE_NO_PAD.encode(person(600).to_string())
    );
    refused(
        with_authorization(&stack, Method::GET, &path, &format!("Bearer {none}"), None).await,
        "TOKEN_INVALID",
    );
    // algorithm swapped: HS256 keyed with the published public key
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("gd-2026".into());
    let swapped = jsonwebtoken::encode(
        &header,
        &person(600),
        &EncodingKey::from_secret(&provider.public),
    )
    .unwrap();
    refused(
        with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {swapped}"),
            None,
        )
        .await,
        "TOKEN_ALGORITHM_REFUSED",
    );
    // the suite's development token is not accepted by a production gateway
    refused(
        with_authorization(
            &stack,
            Method::GET,
            &path,
            &format!("Bearer {}", stack.admin()),
            None,
        )
        .await,
        "TOKEN_INVALID",
    );
    stack.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shequ-journey-{}", shequ_kit::convert::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_out_the_guess_and_throttle_the_address_not_its_users() {
    let stack = Stack::spawn_with(|config| {
        config.auth.lockout_failures = 3;
        config.auth.lockout_secs = 120;
    })
    .await;
    let path = format!("/v1/regions/{NANSHAN}/secretaries");
    for _ in 0..2 {
        stack
            .get(&path, Some("forged"))
            .await
            .problem(401, "UNAUTHENTICATED", "TOKEN_INVALID");
    }
    let locked = stack.get(&path, Some("forged")).await;
    locked.problem(429, "RESOURCE_EXHAUSTED", "AUTH_LOCKED_OUT");
    assert_eq!(locked.header("retry-after"), "120");
    // A colleague at the same district office (same address behind its NAT) signs in as usual.
    let colleague = stack.get(&path, Some(&stack.admin())).await;
    assert_eq!(colleague.status, StatusCode::OK, "{}", colleague.text);
    // Further guesses from that address wait, told how long is left.
    stack.clock.advance(chrono::Duration::seconds(100));
    let guess = stack.get(&path, Some("another-guess")).await;
    guess.problem(429, "RESOURCE_EXHAUSTED", "AUTH_LOCKED_OUT");
    assert_eq!(guess.header("retry-after"), "20");
    stack.clock.advance(chrono::Duration::milliseconds(19_999));
    let last = stack.get(&path, Some("forged")).await;
    last.problem(429, "RESOURCE_EXHAUSTED", "AUTH_LOCKED_OUT");
    assert_eq!(last.header("retry-after"), "1", "a millisecond rounds up");
    // Two minutes after it began, the lockout is over: a wrong token is just wrong again.
    stack.clock.advance(chrono::Duration::milliseconds(1));
    stack
        .get(&path, Some("forged"))
        .await
        .problem(401, "UNAUTHENTICATED", "TOKEN_INVALID");
    stack.stop().await;
}

#[tokio::test]
async fn a_credential_over_its_rate_gets_429_with_retry_after() {
    let stack = Stack::spawn_with(|config| {
        config.auth.rate_per_second = 2.0;
        config.auth.rate_burst = 3;
    })
    .await;
    let path = format!("/v1/regions/{NANSHAN}/secretaries");
    let token = stack.admin();
    for _ in 0..3 {
        assert_eq!(stack.get(&path, Some(&token)).await.status, StatusCode::OK);
    }
    // The gateway's clock stands still: however fast or slow this machine sent the burst, the
    // next token is half a second away, announced as one whole second.
    let limited = stack.get(&path, Some(&token)).await;
    limited.problem(429, "RESOURCE_EXHAUSTED", "RATE_LIMITED");
    assert_eq!(limited.header("retry-after"), "1");
    stack.clock.advance(chrono::Duration::milliseconds(250));
    let early = stack.get(&path, Some(&token)).await;
    early.problem(429, "RESOURCE_EXHAUSTED", "RATE_LIMITED");
    assert_eq!(
        early.header("retry-after"),
        "1",
        "a quarter of a second rounds up"
    );
    stack.clock.advance(chrono::Duration::milliseconds(250));
    assert_eq!(stack.get(&path, Some(&token)).await.status, StatusCode::OK);
    let again = stack.get(&path, Some(&token)).await;
    again.problem(429, "RESOURCE_EXHAUSTED", "RATE_LIMITED");
    assert_eq!(again.header("retry-after"), "1");
    // another credential has its own budget
    assert_eq!(
        stack
            .get(
                &path,
                Some(&stack.token(shequ_kit::auth::Role::CityAdmin, "440300000000"))
            )
            .await
            .status,
        StatusCode::OK
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_thousand_request_ids_sent_ten_times_at_once_take_effect_exactly_once() {
    let stack = Stack::spawn_with(|config| {
        config.auth.rate_per_second = 1_000_000.0;
        config.auth.rate_burst = 1_000_000;
    })
    .await;
    let token = stack.admin();
    let keys: Vec<u32> = (0..1_000).collect();
    for batch in keys.chunks(25) {
        let calls = batch.iter().flat_map(|&n| {
            let (stack, token) = (&stack, &token);
            (0..10).map(move |_| async move {
                let id = id_number(1970 + n / 500, n % 500);
                let reply = stack
                    .send(
                        Method::POST,
                        "/v1/secretaries",
                        Some(token),
                        Some(secretary(&id).to_string().into_bytes()),
                        &[("idempotency-key", &format!("create-{n}"))],
                    )
                    .await;
                (n, reply.status, reply.text)
            })
        });
        let replies = futures::future::join_all(calls).await;
        for chunk in replies.chunks(10) {
            let (n, status, first) = &chunk[0];
            assert_eq!(*status, StatusCode::OK, "key {n}: {first}");
            assert!(
                chunk
                    .iter()
                    .all(|(_, s, text)| *s == StatusCode::OK && text == first),
                "key {n}: every duplicate gets the first response"
            );
        }
    }
    // exactly one record per request id
    let mut count = 0;
    let mut page_token = String::new();
    loop {
        let page = stack
            .get(
                &format!("/v1/regions/{NANSHAN}/secretaries?pageSize=500&pageToken={page_token}"),
                Some(&token),
            )
            .await;
        count += page.body["secretaries"].as_array().map_or(0, Vec::len);
        match page.body["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => page_token = next.to_owned(),
            _ => break,
        }
    }
    assert_eq!(count, 1_000);
    // pages hold 50 unless asked for more, and never more than 500 (the documented numbers)
    let page_of = |query: &'static str| {
        let (stack, token) = (&stack, &token);
        async move {
            let page = stack
                .get(
                    &format!("/v1/regions/{NANSHAN}/secretaries{query}"),
                    Some(token),
                )
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            page.body["secretaries"].as_array().map_or(0, Vec::len)
        }
    };
    assert_eq!(page_of("").await, 50);
    assert_eq!(page_of("?pageSize=500").await, 500);
    assert_eq!(page_of("?pageSize=501").await, 500);
    assert_eq!(page_of("?pageSize=100000").await, 500);
    // the same key with different parameters is refused
    let reused = stack
        .send(
            Method::POST,
            "/v1/secretaries",
            Some(&token),
            Some(secretary(&id_number(1999, 499)).to_string().into_bytes()),
            &[("idempotency-key", "create-0")],
        )
        .await;
    reused.problem(409, "ALREADY_EXISTS", "REQUEST_ID_REUSED");
    stack.stop().await;
}

/// Every table of a database as text: `pg_dump` for PostgreSQL, Python's `iterdump` (the same as
/// sqlite3's `.dump`) for SQLite.
fn dump(url: &str) -> String {
    let output = if url.starts_with("postgres") {
        std::process::Command::new("pg_dump")
            .args(["--data-only", "--inserts"])
            .arg(url)
            .output()
            .expect("pg_dump runs")
    } else {
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap();
        std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; print('\\n'.join(sqlite3.connect(sys.argv[1]).iterdump()))",
                path,
            ])
            .output()
            .expect("python3 runs")
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn no_database_dump_holds_a_plaintext_id_or_phone_number() {
    let stack = Stack::spawn().await;
    let token = stack.admin();
    // each person's ID number, first phone number, and the number an update gives them
    let people: Vec<(String, String, String)> = (0..5)
        .map(|n| {
            (
                id_number(1980 + n, n),
                format!("1390013{n:04}"),
                format!("1370013{n:04}"),
            )
        })
        .collect();
    for (n, (id, phone, new_phone)) in people.iter().enumerate() {
        let mut profile = secretary(id);
        profile["phoneNumber"] = json!(phone);
        // an idempotent create, retried: the stored outcome holds the created record
        let key = format!("dump-{n}");
        let headers = [("idempotency-key", key.as_str())];
        let create = || {
            stack.send(
                Method::POST,
                "/v1/secretaries",
                Some(&token),
                Some(profile.to_string().into_bytes()),
                &headers,
            )
        };
        let created = create().await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.text);
        let retried = create().await;
        assert_eq!(
            retried.text, created.text,
            "the retry replays the first outcome"
        );
        // an update of the phone number (the old and the new value must both stay hidden)
        let name = created.body["name"].as_str().unwrap();
        let updated = stack
            .send(
                Method::PATCH,
                &format!("/v1/{name}?updateMask=phoneNumber"),
                Some(&token),
                Some(
                    json!({"phoneNumber": new_phone, "etag": created.body["etag"]})
                        .to_string()
                        .into_bytes(),
                ),
                &[("idempotency-key", format!("dump-update-{n}").as_str())],
            )
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
        // an unmasked read, which is audited
        let read = stack
            .get(
                &format!("/v1/{name}?view=SECRETARY_VIEW_UNMASKED"),
                Some(&token),
            )
            .await;
        assert_eq!(read.body["idNumber"], json!(id));
        assert_eq!(read.body["phoneNumber"], json!(new_phone));
    }
    stack
        .post(
            "/v1/apiKeys",
            Some(&stack.admin()),
            &api_key_request(&["integration"], NANSHAN),
        )
        .await;
    let mut dumps = String::new();
    for service in &stack.services {
        let text = dump(service.database.url());
        assert!(text.contains("INSERT"), "the dump holds the data");
        dumps.push_str(&text);
    }
    // the retried creates and the updates left their stored outcomes (and the audit its entries)
    let stored_outcomes = dumps
        .lines()
        .filter(|line| line.starts_with("INSERT INTO") && line.contains("idempotency_keys"))
        .count();
    assert_eq!(
        stored_outcomes, 10,
        "5 creates and 5 updates with request ids"
    );
    for (id, phone, new_phone) in &people {
        assert!(
            !dumps.contains(id.as_str()),
            "an ID number is stored in clear"
        );
        assert!(
            !dumps.contains(&id[..17]),
            "an ID number body is stored in clear"
        );
        assert!(
            !dumps.contains(phone.as_str()),
            "a phone number is stored in clear"
        );
        assert!(
            !dumps.contains(new_phone.as_str()),
            "an updated phone number is stored in clear"
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn every_write_is_audited_under_the_gateways_request_id_with_the_clients_beside_it() {
    let stack = Stack::spawn().await;
    let admin = stack.admin();
    let send = |serial| {
        stack.send(
            Method::POST,
            "/v1/secretaries",
            Some(&admin),
            Some(secretary(&id_number(1985, serial)).to_string().into_bytes()),
            &[("x-request-id", "console-7f3a")],
        )
    };
    // Two clients happen to (or one pretends to) use the same request id.
    let first = send(9).await;
    let second = send(10).await;
    for reply in [&first, &second] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.header("x-client-request-id"), "console-7f3a");
        assert_eq!(
            reply.header("x-request-id").len(),
            26,
            "the gateway's own ULID"
        );
    }
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"));
    let auditor = stack.token(shequ_kit::auth::Role::Auditor, NANSHAN);
    let log = stack
        .get(
            &format!("/v1/personnel/regions/{NANSHAN}/auditEntries"),
            Some(&auditor),
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    for (entry, reply) in log.body["auditEntries"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&first, &second])
    {
        assert_eq!(entry["action"], "CreateSecretary");
        assert_eq!(entry["requestId"], reply.header("x-request-id"));
        assert_eq!(entry["detail"], "client request id console-7f3a");
        assert_eq!(entry["outcome"], "OK");
        assert!(entry["actor"].as_str().unwrap().contains("district_admin"));
    }
    stack.stop().await;
}
