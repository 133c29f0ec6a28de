//! Services calling and following each other (ARCHITECTURE.md decisions 9 and 10), against the
//! real personnel service over gRPC: a consumer follows personnel's feed with its cursor in its
//! own database and handles every event exactly once across a crash and a producer outage; a
//! component without a grant is refused; a dependency that is down or slow is named in the
//! error; a call on a person's behalf keeps their scope.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use shequ_kit::{
    Error,
    audit::AuditLog,
    auth::Role,
    call::{AuditedTx, Call, CallStart},
    client::{Acting, Dependency},
    clock::ManualClock,
    config::{DatabaseConfig, DependencyConfig, MigrateMode, Secret},
    crypto::Keys,
    db::{Database, KIT_MIGRATIONS},
    feed::{EventHandler, Follower, Handled, payload, type_url},
    testing::{Bearer, TestDatabase, TestKeys, TestServer, caller, reason},
};
use shequ_personnel::Personnel;
use shequ_proto::{
    feed::v1::{self as feed_pb, event_feed_service_client::EventFeedServiceClient},
    personnel::v1::{self as pb, personnel_service_client::PersonnelServiceClient},
};
use tokio::net::TcpListener;

use crate::helpers::{NANSHAN, id_number};

const GUANGDONG: &str = "440000000000";

/// Personnel over a fresh database, and a client acting as the Nanshan administrator.
async fn personnel(keys: &TestKeys) -> TestServer {
    TestServer::start::<Personnel>(
        TestDatabase::create().await,
        keys.clone(),
        ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap()),
    )
    .await
}

fn admin(
    server: &TestServer,
) -> PersonnelServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
> {
    PersonnelServiceClient::with_interceptor(
        server.channel(),
        Bearer::new(&server.keys.token(Role::DistrictAdmin, NANSHAN)),
    )
}

/// Appoints `count` secretaries (serials from `first`) through personnel's API.
async fn appoint(server: &TestServer, first: u32, count: u32) -> Vec<String> {
    let mut client = admin(server);
    let mut names = Vec::new();
    for serial in first..first + count {
        let created = client
            .create_secretary(pb::CreateSecretaryRequest {
                secretary: Some(grpc_secretary(serial)),
                request_id: String::new(),
            })
            .await
            .expect("appointment recorded")
            .into_inner();
        names.push(created.name);
    }
    names
}

fn grpc_secretary(serial: u32) -> pb::Secretary {
    let id = id_number(1980, serial);
    pb::Secretary {
        display_name: "王芳".into(),
        gender: pb::Gender::Female as i32,
        birth_date: format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]),
        id_number: id,
        education: pb::Education::Bachelor as i32,
        region: crate::helpers::NANTOU_COMMUNITY.into(),
        appointment_date: "2020-03-01".into(),
        community_work_start_date: "2015-07-01".into(),
        ..Default::default()
    }
}

/// A consumer's own database: the kit's tables and one of its own.
async fn consumer_database() -> (TestDatabase, Database) {
    let test = TestDatabase::create().await;
    let db = Database::connect(&DatabaseConfig {
        url: Secret::new(test.url()),
        ..DatabaseConfig::default()
    })
    .await
    .unwrap();
    db.migrate(&KIT_MIGRATIONS, MigrateMode::Run).await.unwrap();
    sqlx::query("CREATE TABLE appointments_seen (event_id TEXT NOT NULL, secretary TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    (test, db)
}

/// Records each appointment it is handed; with `hold_at`, the event of that number never
/// finishes (its transaction stays open), so a test can kill the consumer in the middle of it.
struct Recorder {
    handled: Arc<AtomicUsize>,
    types: Vec<String>,
    hold_at: Option<usize>,
}

impl EventHandler for Recorder {
    fn handles(&self) -> &[String] {
        &self.types
    }

    fn handle<'a>(&'a self, tx: &'a mut AuditedTx, event: &'a feed_pb::Event) -> Handled<'a> {
        Box::pin(async move {
            let appointed: pb::SecretaryAppointed = payload(event)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("not an appointment")))?;
            sqlx::query("INSERT INTO appointments_seen (event_id, secretary) VALUES ($1, $2)")
                .bind(&event.id)
                .bind(&appointed.secretary)
                .execute(&mut **tx)
                .await?;
            let number = self.handled.fetch_add(1, Ordering::Relaxed) + 1;
            if self.hold_at == Some(number) {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }
}

/// A follower of personnel's feed acting as the training service.
async fn follower(
    keys: &TestKeys,
    address: &str,
    db: &Database,
    handled: Arc<AtomicUsize>,
    hold_at: Option<usize>,
) -> Follower {
    let (_, stop) = shequ_kit::shutdown::channel();
    let identity = keys.service_identity("training");
    let dependency = Dependency::connect(
        "personnel",
        &DependencyConfig {
            address: address.to_owned(),
            deadline_ms: 2_000,
            ..DependencyConfig::default()
        },
        Some(identity.clone()),
        stop,
    )
    .await
    .unwrap();
    let keys = Keys::from_master(&Keys::generate_master()).unwrap();
    Follower::new(
        dependency,
        db.clone(),
        AuditLog::new(db.clone(), keys.audit_chain),
        Arc::new(ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap())),
        identity.caller().clone(),
        Arc::new(Recorder {
            handled,
            types: vec![type_url::<pb::SecretaryAppointed>()],
            hold_at,
        }),
    )
}

/// Rows per event id in the consumer's table.
async fn seen(db: &Database) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT event_id, COUNT(*) FROM appointments_seen GROUP BY event_id ORDER BY event_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
}

async fn wait_for(db: &Database, count: usize) -> Vec<(String, i64)> {
    for _ in 0..400 {
        let rows = seen(db).await;
        if rows.len() >= count {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the consumer saw only {} of {count} events",
        seen(db).await.len()
    );
}

#[tokio::test]
async fn a_consumer_killed_mid_feed_resumes_and_handles_every_event_exactly_once() {
    let keys = TestKeys::new();
    let producer = personnel(&keys).await;
    appoint(&producer, 0, 30).await;
    let (_test, db) = consumer_database().await;

    // First run: killed (its task aborted, as a crash would) in the middle of the 9th event's
    // transaction, which cannot finish before.
    let handled = Arc::new(AtomicUsize::new(0));
    let first = follower(&keys, &producer.url(), &db, handled.clone(), Some(9)).await;
    let (stop_first, stopped_first) = shequ_kit::shutdown::channel();
    let task = tokio::spawn(first.run(stopped_first));
    while handled.load(Ordering::Relaxed) < 9 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    drop(stop_first);
    let partial = seen(&db).await.len();
    assert_eq!(
        partial, 8,
        "eight committed, the ninth rolled back with the crash"
    );

    // Second run from the cursor in the consumer's own database.
    let second = follower(
        &keys,
        &producer.url(),
        &db,
        Arc::new(AtomicUsize::new(0)),
        None,
    )
    .await;
    let (stop_second, stopped_second) = shequ_kit::shutdown::channel();
    let task = tokio::spawn(second.run(stopped_second));
    let rows = wait_for(&db, 30).await;
    assert_eq!(rows.len(), 30, "every appointment handled");
    assert!(
        rows.iter().all(|(_, n)| *n == 1),
        "each exactly once: {rows:?}"
    );
    // The cursor stands at the last event, in the consumer's own database.
    let cursor: i64 =
        sqlx::query_scalar("SELECT position FROM feed_cursors WHERE feed = 'personnel'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(cursor, 30);
    // Each handled event is audited as the consumer service.
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_entries WHERE actor = 'service:training' AND action = 'HandleEvent'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(audited, 30);
    stop_second.stop();
    let _ = task.await;
    producer.stop().await;
}

#[tokio::test]
async fn a_consumer_waits_while_the_producer_is_down_and_catches_up() {
    let keys = TestKeys::new();
    let producer = personnel(&keys).await;
    let address = producer.address;
    appoint(&producer, 100, 5).await;
    let (_test, db) = consumer_database().await;
    let follower = follower(
        &keys,
        &producer.url(),
        &db,
        Arc::new(AtomicUsize::new(0)),
        None,
    )
    .await;
    let (stop, stopped) = shequ_kit::shutdown::channel();
    let task = tokio::spawn(follower.run(stopped));
    wait_for(&db, 5).await;

    // The producer goes away; the consumer keeps waiting (and retrying) rather than failing.
    let (database, keys, clock) = producer.stop().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!task.is_finished(), "the follower keeps waiting");
    assert_eq!(seen(&db).await.len(), 5);

    // Back on the same address with the same database: new events arrive, nothing is repeated.
    let listener = TcpListener::bind(address)
        .await
        .expect("the same port again");
    let producer = TestServer::start_on::<Personnel>(
        listener,
        shequ_kit::service::default_config::<Personnel>(),
        database,
        keys,
        clock,
    )
    .await;
    appoint(&producer, 105, 5).await;
    let rows = wait_for(&db, 10).await;
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|(_, n)| *n == 1), "{rows:?}");
    stop.stop();
    let _ = task.await;
    producer.stop().await;
}

#[tokio::test]
async fn the_feed_is_refused_to_components_without_a_grant_and_to_people() {
    let keys = TestKeys::new();
    let producer = personnel(&keys).await;
    appoint(&producer, 200, 1).await;
    let feed = |token: String| {
        EventFeedServiceClient::with_interceptor(producer.channel(), Bearer::new(&token))
    };
    // training is granted personnel's feed
    let listed = feed(keys.service_token("training"))
        .list_events(feed_pb::ListEventsRequest::default())
        .await
        .expect("a granted consumer reads the feed")
        .into_inner();
    assert_eq!(listed.events.len(), 1);
    assert_eq!(listed.head_sequence, 1);
    let event = &listed.events[0];
    let appointed: pb::SecretaryAppointed = payload(event).expect("an appointment");
    assert_eq!(event.subject, appointed.secretary);
    assert_eq!(appointed.appointment_date, "2020-03-01");
    assert_eq!(event.producer, "personnel");

    // identity is a service of the suite, but personnel grants it nothing
    let refused = feed(keys.service_token("identity"))
        .watch_events(feed_pb::WatchEventsRequest::default())
        .await
        .expect_err("an ungranted service is refused");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert_eq!(reason(&refused), "OPERATION_NOT_GRANTED");

    // a service key nobody trusts
    let stranger = TestKeys::new().service_token("training");
    let refused = feed(stranger)
        .list_events(feed_pb::ListEventsRequest::default())
        .await
        .expect_err("an unknown key is refused");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // and people never read a feed, whatever their role
    let refused = feed(keys.token(Role::ProvinceAdmin, GUANGDONG))
        .list_events(feed_pb::ListEventsRequest::default())
        .await
        .expect_err("a person is refused");
    assert_eq!(reason(&refused), "ROLE_NOT_PERMITTED");
    producer.stop().await;
}

/// Personnel as a dependency of a calling service `name`.
async fn dependency(keys: &TestKeys, name: &str, address: &str, deadline_ms: u64) -> Dependency {
    Dependency::connect(
        "personnel",
        &DependencyConfig {
            address: address.to_owned(),
            deadline_ms,
            ..DependencyConfig::default()
        },
        Some(keys.service_identity(name)),
        shequ_kit::shutdown::channel().1,
    )
    .await
    .unwrap()
}

async fn record_removal(
    dependency: &Dependency,
    secretary: &str,
) -> Result<pb::CareerEvent, Error> {
    let outgoing = dependency.prepare(None, Acting::AsService)?;
    let request = pb::CreateCareerEventRequest {
        parent: secretary.to_owned(),
        request_id: format!("adjustment-{secretary}"),
        career_event: Some(pb::CareerEvent {
            r#type: pb::CareerEventType::Removal as i32,
            note: "年度考核动态调整".into(),
            ..Default::default()
        }),
    };
    dependency
        .call(&outgoing, true, request, |channel, request| async move {
            PersonnelServiceClient::new(channel)
                .create_career_event(request)
                .await
        })
        .await
}

#[tokio::test]
async fn a_service_calls_as_itself_exactly_what_it_is_granted() {
    let keys = TestKeys::new();
    let server = personnel(&keys).await;
    let secretary = appoint(&server, 300, 1).await.remove(0);

    // evaluation may record an adjustment (a REMOVAL career event), as itself
    let evaluation = dependency(&keys, "evaluation", &server.url(), 3_000).await;
    let event = record_removal(&evaluation, &secretary)
        .await
        .expect("granted");
    assert_eq!(event.r#type, pb::CareerEventType::Removal as i32);
    assert_eq!(event.recorded_by, "service:evaluation");
    // a retry of the same request id is answered with the first outcome, recorded once
    let again = record_removal(&evaluation, &secretary)
        .await
        .expect("replayed");
    assert_eq!(again.name, event.name);

    // training may not, though its key is trusted
    let training = dependency(&keys, "training", &server.url(), 3_000).await;
    let refused = record_removal(&training, &secretary).await.unwrap_err();
    let status = refused.into_status();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(reason(&status), "OPERATION_NOT_GRANTED");
    server.stop().await;
}

#[tokio::test]
async fn a_dependency_that_is_down_or_slow_is_named_never_a_hang() {
    let keys = TestKeys::new();
    // nothing listens here
    let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}", unused.local_addr().unwrap());
    drop(unused);
    // A long deadline: a refused connection is named at once, not when the deadline passes
    // (which would be DEADLINE_EXCEEDED, and a minute).
    let evaluation = dependency(&keys, "evaluation", &down, 60_000).await;
    let status = never_a_hang(record_removal(&evaluation, "secretaries/x"))
        .await
        .unwrap_err()
        .into_status();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), "DEPENDENCY_UNAVAILABLE");
    assert!(status.message().contains("personnel"), "{status:?}");

    // a server that accepts connections and never answers
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}", silent.local_addr().unwrap());
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let evaluation = dependency(&keys, "evaluation", &slow, 300).await;
    let started = std::time::Instant::now();
    let status = never_a_hang(record_removal(&evaluation, "secretaries/x"))
        .await
        .unwrap_err()
        .into_status();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert_eq!(reason(&status), "DEPENDENCY_DEADLINE_EXCEEDED");
    assert!(status.message().contains("personnel"), "{status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the deadline, not earlier: {:?}",
        started.elapsed()
    );
    accepting.abort();
}

/// Awaits `call`, failing the test if it has not ended after 30 seconds: what these tests check
/// ends in milliseconds, so only a hang (or a deadline ignored) takes that long, whatever the
/// machine's load.
async fn never_a_hang<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call hung")
}

#[tokio::test]
async fn a_call_on_a_persons_behalf_keeps_their_scope() {
    let keys = TestKeys::new();
    let server = personnel(&keys).await;
    let secretary = appoint(&server, 400, 1).await.remove(0);
    let dependency = dependency(&keys, "evaluation", &server.url(), 3_000).await;
    let (_test, log_db) = consumer_database().await;
    let log = AuditLog::new(log_db, [0; 32]);
    let read_as = |role: Role, scope: &str| {
        let token = keys.token_for(&caller(role, scope));
        Call::new(
            CallStart {
                caller: caller(role, scope),
                token: Some(token),
                action: "Test",
                request_id: "r1".into(),
                client_request_id: None,
                deadline: None,
            },
            log.clone(),
            Arc::new(ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap())),
        )
    };
    let get = |call: Call| {
        let dependency = dependency.clone();
        let secretary = secretary.clone();
        async move {
            let outgoing = dependency.prepare(Some(&call), Acting::OnBehalf)?;
            let request = pb::GetSecretaryRequest {
                name: secretary,
                view: 0,
            };
            dependency
                .call(&outgoing, true, request, |channel, request| async move {
                    PersonnelServiceClient::new(channel)
                        .get_secretary(request)
                        .await
                })
                .await
        }
    };
    let nanshan = get(read_as(Role::DistrictAdmin, NANSHAN))
        .await
        .expect("in scope");
    assert_eq!(nanshan.name, secretary);
    let futian = get(read_as(Role::DistrictAdmin, "440304000000"))
        .await
        .unwrap_err()
        .into_status();
    assert_eq!(
        futian.code(),
        tonic::Code::NotFound,
        "the callee applies the person's scope"
    );
    server.stop().await;
}
