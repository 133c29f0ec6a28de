use shequ_kit::{
    auth::{KeyPair, Role, TokenIssuer},
    testing::TestDatabase,
};
use shequ_personnel::Personnel;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::*;

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let request = || pb::GetSecretaryRequest {
        name: "secretaries/x".into(),
        view: 0,
    };
    let mut anonymous =
        shequ_proto::personnel::v1::personnel_service_client::PersonnelServiceClient::connect(
            app.address.clone(),
        )
        .await
        .unwrap();
    assert_refused(
        anonymous.get_secretary(request()).await,
        Code::Unauthenticated,
        "TOKEN_MISSING",
    );

    let stranger = TokenIssuer::new(&KeyPair::generate(), "shequ", "shequ-services").unwrap();
    let forged = stranger.issue(
        &shequ_kit::testing::caller(Role::ProvinceAdmin, GUANGDONG),
        std::time::Duration::from_secs(60),
    );
    assert_refused(
        app.client_with_token(&forged)
            .get_secretary(request())
            .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert_refused(
        app.client_with_token("not.a.jwt")
            .get_secretary(request())
            .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );
}

#[tokio::test]
async fn roles_without_personnel_duties_are_refused() {
    let app = TestApp::spawn().await;
    let auditor = app.client(Role::Auditor, GUANGDONG);
    assert_refused(
        auditor
            .clone()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(secretary(&id_number(1985, 70))),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    let officer = app.client(Role::StreetOfficer, NANTOU_STREET);
    assert_refused(
        officer
            .clone()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(secretary(&id_number(1985, 70))),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
}

#[tokio::test]
async fn acknowledged_writes_survive_a_restart() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 80))).await;
    let (database, keys, clock) = app.stop().await;
    let app = TestApp::spawn_on(database, keys, clock).await;
    let read = app
        .admin()
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name,
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.id_number,
        id_number(1985, 80),
        "personal data decrypts after restart"
    );
}

#[tokio::test]
async fn health_reports_serving_and_shutdown_completes() {
    let app = TestApp::spawn().await;
    let status = app
        .health()
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let address = app.address.clone();
    app.stop().await;
    // the listener is closed once shutdown completes
    let reconnect = tonic::transport::Channel::from_shared(address)
        .unwrap()
        .connect()
        .await;
    assert!(reconnect.is_err());
}

#[tokio::test]
async fn reflection_lists_exactly_what_this_port_serves() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("a list of services");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "shequ.feed.v1.EventFeedService",
            "shequ.personnel.v1.PersonnelService",
        ],
        "not the identity API, which this port does not serve"
    );
    app.stop().await;
}

#[tokio::test]
async fn check_only_migration_mode_refuses_an_unmigrated_database_and_accepts_a_migrated_one() {
    let database = TestDatabase::create().await;
    let keys = shequ_kit::testing::TestKeys::new();
    let mut config = shequ_kit::service::default_config::<Personnel>();
    config.database.url = shequ_kit::config::Secret::new(database.url());
    config.database.migrate = shequ_kit::config::MigrateMode::Check;
    config.auth = keys.auth_config();
    config.crypto.master_key = keys.master_key.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = shequ_kit::service::run::<Personnel>(config.clone(), listener, async {}).await;
    assert!(
        refused.is_err(),
        "an unmigrated database must be refused in check mode"
    );

    let db = shequ_kit::db::Database::connect(&config.database)
        .await
        .unwrap();
    db.prepare(
        &shequ_personnel::store::MIGRATIONS,
        shequ_kit::config::MigrateMode::Run,
    )
    .await
    .unwrap();
    db.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    shequ_kit::service::run::<Personnel>(config, listener, async {})
        .await
        .expect("a migrated database passes the check");
}

#[tokio::test]
async fn career_history_is_append_only_in_the_database_itself() {
    let app = TestApp::spawn().await;
    create(&app, secretary(&id_number(1985, 81))).await;
    let (database, _, _) = app.stop().await;
    let mut config = shequ_kit::config::DatabaseConfig::default();
    config.url = shequ_kit::config::Secret::new(database.url());
    let db = shequ_kit::db::Database::connect(&config).await.unwrap();
    let edit = sqlx::query("UPDATE career_events SET note = 'rewritten'")
        .execute(db.pool())
        .await;
    assert!(edit.is_err(), "an edit of the history is refused");
    let delete = sqlx::query("DELETE FROM career_events")
        .execute(db.pool())
        .await;
    assert!(delete.is_err(), "a deletion of the history is refused");
    db.close().await;
}

#[tokio::test]
async fn the_database_holds_no_plaintext_personal_data() {
    let app = TestApp::spawn().await;
    let id = id_number(1985, 82);
    create(&app, secretary(&id)).await;
    let (database, _, _) = app.stop().await;
    let mut config = shequ_kit::config::DatabaseConfig::default();
    config.url = shequ_kit::config::Secret::new(database.url());
    let db = shequ_kit::db::Database::connect(&config).await.unwrap();
    let (id_column, phone_column): (String, String) =
        sqlx::query_as("SELECT id_number_enc, phone_number_enc FROM secretaries")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(!id_column.contains(&id) && !id_column.contains(&id[6..14]));
    assert!(!phone_column.contains("13800138000"));
    db.close().await;
}

/// Polls the service's health until it reports `wanted`.
async fn wait_for_health(app: &TestApp, wanted: ServingStatus) {
    for _ in 0..200 {
        let status = app
            .health()
            .check(HealthCheckRequest {
                service: shequ_kit::service::grpc_name::<Personnel>().into(),
            })
            .await
            .map(|r| r.into_inner().status);
        if status.is_ok_and(|s| s == wanted as i32) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("health never became {wanted:?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]
async fn readiness_follows_the_database() {
    // Taking a database away from a running service needs a server: on SQLite the file is always
    // there.
    let database = TestDatabase::postgres().await;
    let name = database
        .url()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let app = TestApp::spawn_on(
        database,
        shequ_kit::testing::TestKeys::new(),
        shequ_kit::clock::ManualClock::at(start_time()),
    )
    .await;
    let admin_url = std::env::var(shequ_kit::testing::POSTGRES_ENV).unwrap();
    let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
    let set_connections = |allowed: bool| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}"
        )))
    };

    set_connections(false).execute(&admin).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    wait_for_health(&app, ServingStatus::NotServing).await;
    // a call meanwhile is UNAVAILABLE, not a hang and not an internal error
    let refused = app
        .admin()
        .get_secretary(pb::GetSecretaryRequest {
            name: "secretaries/anything".into(),
            view: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

    set_connections(true).execute(&admin).await.unwrap();
    wait_for_health(&app, ServingStatus::Serving).await;
    create(&app, secretary(&id_number(1985, 83))).await;
    admin.close().await;
}
