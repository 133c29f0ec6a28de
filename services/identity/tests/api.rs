//! The identity service over real gRPC on a fresh database (SQLite, or PostgreSQL when
//! SHEQU_TEST_POSTGRES_URL is set).

use shequ_kit::{
    auth::Role,
    clock::ManualClock,
    config::{DatabaseConfig, Secret},
    testing::{Bearer, TestDatabase, TestKeys, TestServer, assert_refused},
};
use shequ_proto::identity::v1::{self as pb, api_key_service_client::ApiKeyServiceClient};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};

const NANSHAN: &str = "440305000000";
const GUANGDONG: &str = "440000000000";

type Client = ApiKeyServiceClient<InterceptedService<Channel, Bearer>>;

async fn start() -> TestServer {
    TestServer::start::<shequ_identity::Identity>(
        TestDatabase::create().await,
        TestKeys::new(),
        ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap()),
    )
    .await
}

fn client(server: &TestServer, role: Role, scope: &str) -> Client {
    ApiKeyServiceClient::with_interceptor(
        server.channel(),
        Bearer::new(&server.keys.token(role, scope)),
    )
}

fn gateway(server: &TestServer) -> Client {
    client(server, Role::Gateway, GUANGDONG)
}

fn key(roles: &[&str], scope: &str, days: i64) -> pb::ApiKey {
    pb::ApiKey {
        display_name: "南山区数据共享平台".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        scope: scope.into(),
        expire_time: Some(prost_types::Timestamp {
            seconds: 1_781_488_800 + days * 86_400,
            nanos: 0,
        }),
        ..Default::default()
    }
}

async fn issue(server: &TestServer) -> pb::CreateApiKeyResponse {
    client(server, Role::DistrictAdmin, NANSHAN)
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(key(&["integration"], NANSHAN, 90)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn verify(
    server: &TestServer,
    secret: &str,
) -> Result<tonic::Response<pb::VerifyApiKeyResponse>, tonic::Status> {
    gateway(server)
        .verify_api_key(pb::VerifyApiKeyRequest {
            secret: secret.into(),
        })
        .await
}

#[tokio::test]
async fn an_issued_key_shows_its_secret_once_and_verifies_to_its_roles_and_scope() {
    let server = start().await;
    let issued = issue(&server).await;
    let api_key = issued.api_key.unwrap();
    assert!(issued.secret.starts_with(&api_key.key_prefix));
    assert_eq!(api_key.state, pb::ApiKeyState::Active as i32);
    let read = client(&server, Role::DistrictAdmin, NANSHAN)
        .get_api_key(pb::GetApiKeyRequest {
            name: api_key.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !format!("{read:?}").contains(&issued.secret[issued.secret.len() - 20..]),
        "the secret is never read back"
    );

    let verified = verify(&server, &issued.secret).await.unwrap().into_inner();
    assert_eq!(
        verified.subject,
        format!("apikey:{}", api_key.name.trim_start_matches("apiKeys/"))
    );
    let verified_key = verified.api_key.unwrap();
    assert_eq!(
        (verified_key.roles, verified_key.scope),
        (vec!["integration".to_owned()], NANSHAN.to_owned())
    );

    let mut wrong = issued.secret.clone();
    wrong.pop();
    wrong.push(if issued.secret.ends_with('A') {
        'B'
    } else {
        'A'
    });
    assert_refused(
        verify(&server, &wrong).await,
        Code::Unauthenticated,
        "API_KEY_INVALID",
    );
    assert_refused(
        verify(&server, "Bearer something").await,
        Code::Unauthenticated,
        "API_KEY_INVALID",
    );
}

#[tokio::test]
async fn only_the_gateway_may_verify() {
    let server = start().await;
    let issued = issue(&server).await;
    assert_refused(
        client(&server, Role::ProvinceAdmin, GUANGDONG)
            .verify_api_key(pb::VerifyApiKeyRequest {
                secret: issued.secret,
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
}

#[tokio::test]
async fn rotation_replaces_the_secret_and_revocation_ends_the_key() {
    let server = start().await;
    let issued = issue(&server).await;
    let name = issued.api_key.unwrap().name;
    let mut admin = client(&server, Role::DistrictAdmin, NANSHAN);
    let rotated = admin
        .rotate_api_key(pb::RotateApiKeyRequest {
            name: name.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.secret, issued.secret);
    assert_refused(
        verify(&server, &issued.secret).await,
        Code::Unauthenticated,
        "API_KEY_INVALID",
    );
    verify(&server, &rotated.secret).await.unwrap();

    let revoked = admin
        .revoke_api_key(pb::RevokeApiKeyRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, pb::ApiKeyState::Revoked as i32);
    assert_refused(
        verify(&server, &rotated.secret).await,
        Code::Unauthenticated,
        "API_KEY_REVOKED",
    );
    assert_refused(
        admin
            .revoke_api_key(pb::RevokeApiKeyRequest { name: name.clone() })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    assert_refused(
        admin
            .rotate_api_key(pb::RotateApiKeyRequest {
                name,
                request_id: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
}

#[tokio::test]
async fn a_key_stops_working_when_it_expires() {
    let server = start().await;
    let issued = issue(&server).await; // 90 days after the fixed base time
    verify(&server, &issued.secret).await.unwrap();
    server.clock.advance(chrono::Duration::days(400));
    assert_refused(
        verify(&server, &issued.secret).await,
        Code::Unauthenticated,
        "API_KEY_EXPIRED",
    );
}

#[tokio::test]
async fn administrators_grant_only_lower_roles_inside_their_scope() {
    let server = start().await;
    let mut district = client(&server, Role::DistrictAdmin, NANSHAN);
    let status = assert_refused(
        district
            .create_api_key(pb::CreateApiKeyRequest {
                api_key: Some(key(&["district_admin", "nobody"], NANSHAN, 30)),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "ROLE_NOT_GRANTABLE",
    );
    assert!(format!("{status:?}").contains("ROLE_UNKNOWN"));
    assert_refused(
        district
            .create_api_key(pb::CreateApiKeyRequest {
                api_key: Some(key(&["integration"], GUANGDONG, 30)),
                request_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    assert_refused(
        district
            .create_api_key(pb::CreateApiKeyRequest {
                api_key: Some(key(&["integration"], NANSHAN, 900)),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "EXPIRY_TOO_FAR",
    );
    assert_refused(
        client(&server, Role::StreetOfficer, NANSHAN)
            .create_api_key(pb::CreateApiKeyRequest {
                api_key: Some(key(&["integration"], NANSHAN, 30)),
                request_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    // a province administrator may issue a district administrator key
    client(&server, Role::ProvinceAdmin, GUANGDONG)
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(key(&["district_admin"], NANSHAN, 30)),
            request_id: String::new(),
        })
        .await
        .unwrap();
    // and keys are listed per region
    let listed = district
        .list_api_keys(pb::ListApiKeysRequest {
            parent: format!("regions/{NANSHAN}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.api_keys.len(), 1);
}

#[tokio::test]
async fn a_retried_issue_returns_the_same_key_and_secret_and_no_secret_rests_in_clear() {
    let server = start().await;
    let request = pb::CreateApiKeyRequest {
        api_key: Some(key(&["integration"], NANSHAN, 30)),
        request_id: "issue-1".into(),
    };
    let mut admin = client(&server, Role::DistrictAdmin, NANSHAN);
    let first = admin
        .create_api_key(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = admin.create_api_key(request).await.unwrap().into_inner();
    assert_eq!(first, again);

    let (database, _, _) = server.stop().await;
    let db = shequ_kit::db::Database::connect(&DatabaseConfig {
        url: Secret::new(database.url()),
        ..DatabaseConfig::default()
    })
    .await
    .unwrap();
    let random_part = &first.secret[first.secret.len() - 43..];
    for (table, column) in [("api_keys", "secret_hash"), ("idempotency_keys", "body")] {
        let sql = format!("SELECT {column} FROM {table}");
        let values: Vec<Vec<u8>> = if column == "body" {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(db.pool())
                .await
                .unwrap()
        } else {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .fetch_all(db.pool())
                .await
                .unwrap()
                .into_iter()
                .map(String::into_bytes)
                .collect()
        };
        assert!(!values.is_empty());
        for value in values {
            assert!(
                !String::from_utf8_lossy(&value).contains(random_part),
                "{table}.{column} holds the secret"
            );
        }
    }
    db.close().await;
}

#[tokio::test]
async fn an_oversized_request_is_refused_before_it_is_read_and_changes_nothing() {
    let server = start().await;
    let mut admin = client(&server, Role::DistrictAdmin, NANSHAN);
    // One byte over the documented 1 MiB (1,048,576 bytes).
    let mut huge = pb::CreateApiKeyRequest {
        api_key: Some(key(&["integration"], NANSHAN, 30)),
        request_id: String::new(),
    };
    let mut padding = 1_048_577 - shequ_proto::prost::Message::encoded_len(&huge);
    loop {
        huge.api_key.as_mut().unwrap().display_name = "a".repeat(padding);
        match shequ_proto::prost::Message::encoded_len(&huge) {
            1_048_577 => break,
            n if n > 1_048_577 => padding -= n - 1_048_577,
            n => padding += 1_048_577 - n,
        }
    }
    let refused = admin.create_api_key(huge).await.unwrap_err();
    assert!(
        matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{refused:?}"
    );
    let listed = admin
        .list_api_keys(pb::ListApiKeysRequest {
            parent: format!("regions/{NANSHAN}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.api_keys.is_empty(), "{listed:?}");
}
