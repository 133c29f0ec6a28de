//! What depends on time passing, on the service's manual clock: request ids forgotten after a
//! day, a duplicate of a call still running, an abandoned claim, the daily retention job, the
//! minimum retention, and `audit-verify`'s verdict as an exit code. Nothing here sleeps: the
//! tests move the clock and poll for the outcome.

use chrono::Duration;
use shequ_kit::{
    auth::Role,
    config::{DatabaseConfig, Secret},
    crypto::Keys,
    db::Database,
    idempotency::{self, Claim, Idempotency},
};
use shequ_personnel::Personnel;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;

use crate::helpers::*;

/// A connection of the test's own to the service's database.
async fn database(app: &TestApp) -> Database {
    Database::connect(&DatabaseConfig {
        url: Secret::new(app.database().url()),
        max_connections: 1,
        read_lanes: 0,
        ..DatabaseConfig::default()
    })
    .await
    .unwrap()
}

async fn count(db: &Database, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

/// Polls `sql` (a count) until it gives `wanted`: the maintenance job runs on its own task.
async fn until_count(db: &Database, sql: &'static str, wanted: i64) {
    for _ in 0..2_000 {
        if count(db, sql).await == wanted {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{sql} never gave {wanted}: {}", count(db, sql).await);
}

fn create_request(serial: u32, request_id: &str) -> pb::CreateSecretaryRequest {
    pb::CreateSecretaryRequest {
        secretary: Some(secretary(&id_number(1986, serial))),
        request_id: request_id.into(),
    }
}

#[tokio::test]
async fn request_ids_are_forgotten_a_day_after_their_first_call() {
    let app = TestApp::spawn().await;
    let db = database(&app).await;
    let mut admin = app.admin();
    admin
        .create_secretary(create_request(1, "form-1"))
        .await
        .unwrap();
    assert_refused(
        admin.create_secretary(create_request(2, "form-1")).await,
        Code::AlreadyExists,
        "REQUEST_ID_REUSED",
    );
    // The daily job has run at start and waits for the clock.
    app.clock.until_waiters(1).await;
    app.clock.advance(Duration::hours(23));
    assert_refused(
        admin.create_secretary(create_request(2, "form-1")).await,
        Code::AlreadyExists,
        "REQUEST_ID_REUSED",
    );
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    until_count(&db, "SELECT COUNT(*) FROM idempotency_keys", 0).await;
    // A day later the id is free: the same id with another request is a new request.
    let second = admin
        .create_secretary(create_request(2, "form-1"))
        .await
        .unwrap()
        .into_inner();
    let read = admin
        .get_secretary(pb::GetSecretaryRequest {
            name: second.name,
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.id_number,
        id_number(1986, 2),
        "the second request's secretary"
    );
    db.close().await;
}

/// The key and fingerprint the service gives a create with `request_id` by the Nanshan
/// administrator, so that the test can claim it as another replica running the first call.
fn claim_of(request: &pb::CreateSecretaryRequest) -> (String, String) {
    let subject = shequ_kit::testing::caller(Role::DistrictAdmin, NANSHAN).subject;
    (
        idempotency::key(&subject, &request.request_id),
        idempotency::fingerprint("CreateSecretary", request),
    )
}

#[tokio::test]
async fn a_duplicate_of_a_call_still_running_waits_for_it_then_gets_request_in_progress() {
    let app = TestApp::spawn().await;
    app.clock.until_waiters(1).await; // the daily job
    // Another replica of the service (same database, same keys) runs the first call.
    let replica = Idempotency::new(
        database(&app).await,
        Keys::from_master(&app.keys.master_key)
            .unwrap()
            .personal_data,
    );

    // While it runs, a duplicate waits, and gets the first call's response when it ends.
    let request = create_request(3, "form-3");
    let (key, fingerprint) = claim_of(&request);
    assert!(matches!(
        replica
            .claim::<pb::Secretary>(&key, "CreateSecretary", &fingerprint, &app.clock)
            .await,
        Ok(Claim::Run)
    ));
    let mut admin = app.admin();
    let duplicate = tokio::spawn(async move { admin.create_secretary(request).await });
    app.clock.until_waiters(2).await;
    let first = pb::Secretary {
        name: "secretaries/first-call".into(),
        ..Default::default()
    };
    replica.finish(&key, &Ok(first.clone())).await.unwrap();
    assert_eq!(duplicate.await.unwrap().unwrap().into_inner(), first);

    // A first call still pending 30 seconds after it began cannot finish any more (no call
    // runs longer): the waiting duplicate is told the first is in progress.
    let request = create_request(4, "form-4");
    let (key, fingerprint) = claim_of(&request);
    assert!(matches!(
        replica
            .claim::<pb::Secretary>(&key, "CreateSecretary", &fingerprint, &app.clock)
            .await,
        Ok(Claim::Run)
    ));
    let mut admin = app.admin();
    let retry = request.clone();
    let duplicate = tokio::spawn(async move { admin.create_secretary(retry).await });
    app.clock.until_waiters(2).await;
    app.clock.advance(Duration::seconds(29));
    app.clock.until_waiters(2).await;
    app.clock.advance(Duration::seconds(1));
    assert_refused(
        duplicate.await.unwrap(),
        Code::Aborted,
        "REQUEST_IN_PROGRESS",
    );
    // A retry before the claim is abandoned is told the same at once.
    app.clock.advance(Duration::seconds(30));
    assert_refused(
        app.admin().create_secretary(request.clone()).await,
        Code::Aborted,
        "REQUEST_IN_PROGRESS",
    );

    // More than a minute after it began, the first call is taken for dead: a retry takes its
    // claim over and runs.
    app.clock.advance(Duration::seconds(1));
    let created = app
        .admin()
        .create_secretary(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(created.name.starts_with("secretaries/"), "{created:?}");
    assert_ne!(created.name, first.name);
    // and its outcome is the one retries get from now on
    let again = app
        .admin()
        .create_secretary(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, created);
}

#[tokio::test]
async fn the_daily_job_archives_and_purges_audit_entries_older_than_the_retention() {
    let archive = tempfile::tempdir().unwrap();
    let mut config = shequ_kit::service::default_config::<Personnel>();
    config.audit.archive_dir = Some(archive.path().to_owned());
    let app = TestApp::spawn_with(config).await;
    let db = database(&app).await;
    let old = [
        create(&app, secretary(&id_number(1986, 5))).await.name,
        create(&app, secretary(&id_number(1986, 6))).await.name,
    ];
    app.clock.until_waiters(1).await;
    app.clock.advance(Duration::days(90));
    let recent = create(&app, secretary(&id_number(1986, 7))).await.name;
    // 181 days after the first two entries, 91 after the third: the retention is 180 days.
    app.clock.advance(Duration::days(91));
    until_count(
        &db,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'AUDIT_PURGE'",
        1,
    )
    .await;

    let remaining: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT seq, action, resource, actor FROM audit_entries ORDER BY seq")
            .fetch_all(db.pool())
            .await
            .unwrap();
    let files: Vec<_> = std::fs::read_dir(archive.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        remaining,
        vec![
            (
                3,
                "CreateSecretary".to_owned(),
                recent,
                format!("test:district_admin:{NANSHAN}")
            ),
            (
                4,
                "AUDIT_PURGE".to_owned(),
                files[0].display().to_string(),
                "system:retention".to_owned()
            ),
        ],
        "the older entries are gone, the younger one and the record of the purge stay"
    );
    // The archive holds exactly the purged entries, as JSON lines.
    let archived: Vec<serde_json::Value> = std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let archived: Vec<(i64, &str, &str)> = archived
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["action"].as_str().unwrap(),
                e["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        archived,
        vec![
            (1, "CreateSecretary", old[0].as_str()),
            (2, "CreateSecretary", old[1].as_str())
        ]
    );
    db.close().await;
    // and the chain still verifies from its new base
    let (database, keys, _) = app.stop().await;
    let mut config = shequ_kit::service::default_config::<Personnel>();
    config.database.url = Secret::new(database.url());
    config.crypto.master_key = keys.master_key.clone();
    let report = shequ_kit::audit::verify_database(&config).await.unwrap();
    assert_eq!(
        (report.checked, report.problems.len()),
        (2, 0),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_service_refuses_to_start_with_less_than_180_days_of_audit_retention() {
    let database = shequ_kit::testing::TestDatabase::create().await;
    let keys = shequ_kit::testing::TestKeys::new();
    let mut config = shequ_kit::service::default_config::<Personnel>();
    config.database.url = Secret::new(database.url());
    config.auth = keys.auth_config();
    config.crypto.master_key = keys.master_key.clone();
    config.audit.retention_days = 179;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = shequ_kit::service::run::<Personnel>(config.clone(), listener, async {})
        .await
        .expect_err("179 days is refused");
    let message = format!("{refused:#}");
    assert!(
        message.contains("audit.retention_days") && message.contains("180"),
        "{message}"
    );
    config.audit.retention_days = 180;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    shequ_kit::service::run::<Personnel>(config, listener, async {})
        .await
        .expect("180 days is accepted");
}

/// Runs the real `shequ-personnel audit-verify` against `database` with `master_key`.
fn audit_verify(database: &str, master_key: &Secret) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shequ-personnel"))
        .arg("audit-verify")
        .env_clear()
        .env("DATABASE_URL", database)
        .env("SHEQU_CRYPTO__MASTER_KEY", master_key.expose())
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn audit_verify_exits_0_on_an_intact_chain_and_1_naming_what_was_tampered_with() {
    let app = TestApp::spawn().await;
    for serial in 0..3 {
        create(&app, secretary(&id_number(1987, serial))).await;
    }
    let (database, keys, _) = app.stop().await;

    let intact = audit_verify(database.url(), &keys.master_key);
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert_eq!(intact.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("audit chain intact (3 entries checked"),
        "{stdout}"
    );

    let db = Database::connect(&DatabaseConfig {
        url: Secret::new(database.url()),
        ..DatabaseConfig::default()
    })
    .await
    .unwrap();
    sqlx::query("UPDATE audit_entries SET outcome = 'PERMISSION_DENIED' WHERE seq = 2")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let tampered = audit_verify(database.url(), &keys.master_key);
    let stdout = String::from_utf8_lossy(&tampered.stdout);
    assert_eq!(tampered.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("audit chain BROKEN"), "{stdout}");
    assert!(stdout.contains("entry 2 was altered"), "{stdout}");

    // The wrong master key cannot vouch for the chain either.
    let stranger = audit_verify(database.url(), &Keys::generate_master());
    assert_eq!(stranger.status.code(), Some(1));
}
