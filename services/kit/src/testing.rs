//! Test support shared by the services' integration tests and the cross-service journeys
//! (feature `testing`): a fresh database per test on SQLite, or on PostgreSQL when
//! `SHEQU_TEST_POSTGRES_URL` is set, and a key pair with a token issuer.
//!
//! A test that only means something on PostgreSQL is marked
//! `#[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]` and opens its database with
//! [`TestDatabase::postgres`], which fails the test when the variable is unset: the PostgreSQL
//! pass runs with `--include-ignored`, so such a test either runs on PostgreSQL or fails, and is
//! never reported as passed without having run.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, Weak},
    thread::ThreadId,
    time::Duration,
};

use sqlx::{AnyConnection, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    auth::{Caller, DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeyPair, Role, TokenIssuer},
    clock::ManualClock,
    config::{AuthConfig, Secret, ServiceConfig},
    crypto::Keys,
    regions::RegionCode,
    service::{Service, ServiceEntry},
};

/// The variable that points the tests at a PostgreSQL server (any database on it; each test
/// creates and drops its own).
pub const POSTGRES_ENV: &str = "SHEQU_TEST_POSTGRES_URL";

/// The reason PostgreSQL-only tests are ignored with, so that `cargo test` lists them as ignored
/// rather than passing them: `#[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]`.
pub const NEEDS_POSTGRES: &str = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)";

/// Pool size of a service under test (and of the kit's own database tests): small, so that many
/// tests at once fit in a PostgreSQL server's connections.
pub const TEST_POOL_CONNECTIONS: u32 = 2;
/// Read lanes of a service under test on PostgreSQL.
pub const TEST_READ_LANES: u32 = 1;
/// The most server connections one test may hold at once, counted generously: a journey runs two
/// services (each [`TEST_POOL_CONNECTIONS`] + [`TEST_READ_LANES`]), two replicas share one
/// database, and the test opens connections of its own.
const CONNECTIONS_PER_TEST: i64 = 12;
/// Connections left to everything else on the server (psql, the test harness's own admin
/// connections, other clients).
const CONNECTIONS_KEPT_FREE: i64 = 10;

/// A database that exists for one test and is removed afterwards.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
        /// The test's slot among the tests using PostgreSQL at once (released after the drop).
        #[allow(dead_code)]
        slot: Arc<OwnedSemaphorePermit>,
    },
    /// Another handle on a database some other handle removes.
    Alias {
        postgres: bool,
    },
}

impl TestDatabase {
    /// A fresh, empty database: SQLite in a temporary folder, or a new PostgreSQL database when
    /// [`POSTGRES_ENV`] is set.
    pub async fn create() -> TestDatabase {
        match postgres_url() {
            Some(admin_url) => Self::postgres_at(admin_url).await,
            None => Self::sqlite(),
        }
    }

    /// A fresh PostgreSQL database, for a test that only means something on PostgreSQL (mark it
    /// `#[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]`, see [`NEEDS_POSTGRES`]).
    ///
    /// # Panics
    ///
    /// When [`POSTGRES_ENV`] is unset: such a test fails rather than passing without having run.
    pub async fn postgres() -> TestDatabase {
        Self::postgres_or_fail(postgres_url()).await
    }

    async fn postgres_or_fail(admin_url: Option<String>) -> TestDatabase {
        match admin_url {
            Some(admin_url) => Self::postgres_at(admin_url).await,
            None => panic!(
                "this test needs PostgreSQL and got none: set {POSTGRES_ENV} to a server's URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/postgres), or do not run ignored tests \
                 without it"
            ),
        }
    }

    /// A fresh SQLite database whatever the environment says.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path: PathBuf = dir.path().join("test.db");
        TestDatabase {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    async fn postgres_at(admin_url: String) -> TestDatabase {
        sqlx::any::install_default_drivers();
        let slot = postgres_slot(&admin_url).await;
        let name = format!("shequ_test_{}", crate::convert::new_id());
        let mut admin = AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} does not connect: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = replace_database(&admin_url, &name);
        TestDatabase {
            url,
            cleanup: Cleanup::Postgres {
                admin_url,
                name,
                slot,
            },
        }
    }

    /// Connection URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(
            self.cleanup,
            Cleanup::Postgres { .. } | Cleanup::Alias { postgres: true }
        )
    }

    /// Another handle on the same database (for a second replica of a service): it removes
    /// nothing when dropped, so it must not outlive this one.
    pub fn alias(&self) -> TestDatabase {
        TestDatabase {
            url: self.url.clone(),
            cleanup: Cleanup::Alias {
                postgres: self.is_postgres(),
            },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres {
            admin_url, name, ..
        } = &self.cleanup
        {
            if std::env::var("SHEQU_TEST_KEEP_DB").is_ok() {
                return;
            }
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on itself: use a thread with
            // its own runtime.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut admin = AnyConnection::connect(&admin_url).await?;
                    // A service under test may still be running here (a test's servers stop
                    // after their databases drop) and its pool, health probe or followers
                    // reconnect between FORCE's terminations and the drop, which then fails
                    // "being accessed by other users" and leaves the database behind. Refusing
                    // new connections first makes the drop certain; a few retries cover a
                    // connection that was already being opened.
                    let mut attempt = 0;
                    loop {
                        let refused = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
                        )))
                        .execute(&mut admin)
                        .await;
                        let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                        match (refused, dropped) {
                            (_, Ok(_)) => break,
                            (_, Err(error)) if attempt >= 20 => return Err(error.into()),
                            _ => {
                                attempt += 1;
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                    }
                    admin.close().await?;
                    Ok::<_, anyhow::Error>(())
                })
            })
            .join();
            if let Ok(Err(error)) = dropped {
                eprintln!("could not drop test database {}: {error}", self.url);
            }
        }
    }
}

/// The PostgreSQL server the tests were pointed at, if any.
fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|url| !url.is_empty())
}

/// One slot per test using PostgreSQL at once, as many as the server's connections allow at
/// [`CONNECTIONS_PER_TEST`] each (7 for PostgreSQL's default of 100), so that the test command
/// works whatever the number of test threads (one per core by default).
static POSTGRES_SLOTS: tokio::sync::OnceCell<Arc<Semaphore>> = tokio::sync::OnceCell::const_new();

/// The slot each test thread holds while any of its databases exists. A test opens all its
/// databases on its own thread (a test's body runs there, on either runtime flavour), so a test
/// that holds a slot never waits for a second one: slots cannot deadlock.
static HELD_SLOTS: Mutex<Option<HashMap<ThreadId, Weak<OwnedSemaphorePermit>>>> = Mutex::new(None);

async fn postgres_slot(admin_url: &str) -> Arc<OwnedSemaphorePermit> {
    let thread = std::thread::current().id();
    let held = |thread| {
        let mut slots = HELD_SLOTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slots = slots.get_or_insert_with(HashMap::new);
        slots.retain(|_, slot| slot.strong_count() > 0);
        slots.get(&thread).and_then(Weak::upgrade)
    };
    if let Some(slot) = held(thread) {
        return slot;
    }
    let slots = POSTGRES_SLOTS
        .get_or_init(|| async {
            let connections = server_connections(admin_url).await;
            let tests = ((connections - CONNECTIONS_KEPT_FREE) / CONNECTIONS_PER_TEST).max(1);
            Arc::new(Semaphore::new(tests as usize))
        })
        .await;
    // Other tests finish and free theirs; a test waiting this long means a test opened a
    // database away from its own thread while holding a slot.
    let permit = tokio::time::timeout(
        Duration::from_secs(900),
        Arc::clone(slots).acquire_owned(),
    )
    .await
    .expect("no PostgreSQL test slot freed within 15 minutes: does a test open databases on several threads?")
    .expect("the slots are never closed");
    let slot = Arc::new(permit);
    HELD_SLOTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(thread, Arc::downgrade(&slot));
    slot
}

/// The connections the server lets ordinary clients open.
async fn server_connections(admin_url: &str) -> i64 {
    let mut admin = AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV} does not connect: {e}"));
    let connections: i64 = sqlx::query_scalar(
        "SELECT CAST(current_setting('max_connections') AS BIGINT) \
         - CAST(current_setting('superuser_reserved_connections') AS BIGINT)",
    )
    .fetch_one(&mut admin)
    .await
    .expect("the server's max_connections");
    let _ = admin.close().await;
    connections
}

/// `postgres://host/db?x` with `db` replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| scheme_end + i);
    let host = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

/// Keys and tokens for a test suite: the suite's token issuer (what the gateway signs with), a
/// master key, and each service's own key pair, made on first use, whose public halves every
/// service under test trusts (a shared folder, as in production).
#[derive(Debug, Clone)]
pub struct TestKeys {
    /// Signs caller tokens.
    pub pair: KeyPair,
    /// Issues caller tokens.
    pub issuer: TokenIssuer,
    /// Master key of the service under test.
    pub master_key: Secret,
    services: std::sync::Arc<ServiceKeyFolder>,
}

#[derive(Debug)]
struct ServiceKeyFolder {
    dir: tempfile::TempDir,
    pairs: std::sync::Mutex<std::collections::BTreeMap<String, KeyPair>>,
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    /// Fresh keys.
    pub fn new() -> Self {
        let pair = KeyPair::generate();
        let issuer =
            TokenIssuer::new(&pair, DEFAULT_ISSUER, DEFAULT_AUDIENCE).expect("fresh key loads");
        TestKeys {
            pair,
            issuer,
            master_key: Keys::generate_master(),
            services: std::sync::Arc::new(ServiceKeyFolder {
                dir: tempfile::tempdir().expect("temporary folder"),
                pairs: std::sync::Mutex::default(),
            }),
        }
    }

    /// The key pair of service `name`, made (and its public half published) on first use.
    pub fn service_pair(&self, name: &str) -> KeyPair {
        let mut pairs = self
            .services
            .pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pairs
            .entry(name.to_owned())
            .or_insert_with(|| {
                let pair = KeyPair::generate();
                let file = self.services.dir.path().join(format!("{name}.pub.pem"));
                std::fs::write(file, &pair.public_pem).expect("write a service's public key");
                pair
            })
            .clone()
    }

    /// The identity of service `name` calling as itself (over Guangdong).
    pub fn service_identity(&self, name: &str) -> crate::auth::ServiceIdentity {
        let province = RegionCode::parse("440000000000").expect("a province");
        crate::auth::ServiceIdentity::new(name, &self.service_pair(name).private_pem, province)
            .expect("a fresh key loads")
    }

    /// A token of service `name` calling as itself.
    pub fn service_token(&self, name: &str) -> String {
        self.service_identity(name).token()
    }

    /// The auth section a service under test needs to accept these tokens (and the tokens of
    /// every service's own key); as service `name`, it also gets its own key.
    pub fn auth_config_for(&self, name: &str) -> AuthConfig {
        AuthConfig {
            public_key_pem: Some(self.pair.public_pem.clone()),
            service_key_pem: Some(Secret::new(self.service_pair(name).private_pem)),
            service_keys_dir: Some(self.services.dir.path().to_owned()),
            ..AuthConfig::default()
        }
    }

    /// The auth section of a service that calls nobody.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            public_key_pem: Some(self.pair.public_pem.clone()),
            service_keys_dir: Some(self.services.dir.path().to_owned()),
            ..AuthConfig::default()
        }
    }

    /// A token for `role` over `scope`.
    pub fn token(&self, role: Role, scope: &str) -> String {
        self.token_for(&caller(role, scope))
    }

    /// A token for any caller.
    pub fn token_for(&self, caller: &Caller) -> String {
        self.issuer.issue(caller, Duration::from_secs(3600))
    }
}

/// A service under test: started on port 0 over a test database, ready (health SERVING) when
/// [`TestServer::start`] returns, stopped by [`TestServer::stop`] or when dropped.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub address: std::net::SocketAddr,
    /// Its database.
    pub database: TestDatabase,
    /// Its keys and the token issuer.
    pub keys: TestKeys,
    /// Its clock.
    pub clock: ManualClock,
    /// Dropping the sender (with the server) also stops it.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The shutdown future handed to a service under test.
pub type StopFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The test's settings over a service's configuration: its database, keys (its own service key
/// among them) and test-sized pools and timings.
fn prepare<S>(config: &mut ServiceConfig<S>, name: &str, database: &TestDatabase, keys: &TestKeys) {
    config.database.url = Secret::new(database.url());
    config.database.max_connections = TEST_POOL_CONNECTIONS;
    config.database.read_lanes = TEST_READ_LANES;
    config.database.health_interval_ms = 200;
    config.auth = keys.auth_config_for(name);
    config.crypto.master_key = keys.master_key.clone();
    config.server.shutdown_grace_ms = 2_000;
}

fn stop_pair() -> (tokio::sync::oneshot::Sender<()>, StopFuture) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown: StopFuture = Box::pin(async move {
        let _ = stopped.await;
    });
    (stop, shutdown)
}

impl TestServer {
    /// Starts service `S` with its default configuration over the test database, keys and clock,
    /// and waits until it is SERVING.
    pub async fn start<S: Service>(
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
    ) -> TestServer {
        Self::start_with::<S>(crate::service::default_config::<S>(), database, keys, clock).await
    }

    /// As [`TestServer::start`], from `config` (dependencies, settings) with the test's
    /// database, keys and clock filled in.
    pub async fn start_with<S: Service>(
        config: ServiceConfig<S::Settings>,
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        Self::start_on::<S>(listener, config, database, keys, clock).await
    }

    /// As [`TestServer::start_with`], on a listener the test bound (to restart on the same port).
    pub async fn start_on<S: Service>(
        listener: tokio::net::TcpListener,
        mut config: ServiceConfig<S::Settings>,
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
    ) -> TestServer {
        prepare(&mut config, S::NAME, &database, &keys);
        let (stop, shutdown) = stop_pair();
        let address = listener.local_addr().expect("bound address");
        let task = tokio::spawn(crate::service::run_with_clock::<S>(
            config,
            listener,
            shutdown,
            std::sync::Arc::new(clock.clone()),
        ));
        Self::ready(
            address,
            crate::service::grpc_name::<S>(),
            database,
            keys,
            clock,
            stop,
            task,
        )
        .await
    }

    /// Starts the service of `entry` (with its default settings) from `config`, as
    /// [`TestServer::start_on`] does: for lists of services.
    pub async fn launch(
        entry: &ServiceEntry,
        listener: tokio::net::TcpListener,
        mut config: ServiceConfig,
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
    ) -> TestServer {
        prepare(&mut config, entry.name, &database, &keys);
        let (stop, shutdown) = stop_pair();
        let address = listener.local_addr().expect("bound address");
        let task = tokio::spawn(entry.run(
            config,
            listener,
            shutdown,
            std::sync::Arc::new(clock.clone()),
        ));
        Self::ready(address, entry.grpc_name, database, keys, clock, stop, task).await
    }

    async fn ready(
        address: std::net::SocketAddr,
        grpc_name: &str,
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<anyhow::Result<()>>,
    ) -> TestServer {
        crate::health::wait_until_serving(address, grpc_name, Duration::from_secs(20))
            .await
            .expect("service under test became SERVING");
        TestServer {
            address,
            database,
            keys,
            clock,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://address`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A lazily connecting channel to the service.
    pub fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.url())
            .expect("valid url")
            .connect_lazy()
    }

    /// Stops the service, waits for it, and hands back its database, keys and clock.
    pub async fn stop(mut self) -> (TestDatabase, TestKeys, ManualClock) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("service task")
                .expect("service ran cleanly");
        }
        let TestServer {
            database,
            keys,
            clock,
            ..
        } = self;
        (database, keys, clock)
    }

    /// Stops the service abruptly, as a crash would: in-flight work is dropped, nothing drains
    /// (its background tasks are told to stop too, as a dead process's would be).
    pub async fn kill(mut self) -> (TestDatabase, TestKeys, ManualClock) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.stop.take();
        let TestServer {
            database,
            keys,
            clock,
            ..
        } = self;
        (database, keys, clock)
    }
}

/// Sends `authorization: Bearer <token>` with every call of a generated client.
#[derive(Debug, Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    /// Carries `token`.
    pub fn new(token: &str) -> Self {
        Bearer(
            format!("Bearer {token}")
                .parse()
                .expect("a JWT is valid ASCII metadata"),
        )
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// Asserts the code and ErrorInfo reason of a failed call and returns its status.
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: tonic::Code,
    expected_reason: &str,
) -> tonic::Status {
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), expected_reason, "{status:?}");
    status
}

/// A caller with one role over `scope`.
pub fn caller(role: Role, scope: &str) -> Caller {
    Caller {
        subject: format!("test:{role}:{scope}"),
        roles: vec![role],
        scope: RegionCode::parse(scope).expect("test scope is a region code"),
        secretary: None,
    }
}

/// A Python interpreter that can import `modules`, for tests that check our output with a
/// library this project did not write (jwcrypto, gmssl, standardwebhooks). The system's
/// `python3` when it already has them; otherwise a virtual environment under the workspace's
/// `target/test-python`, made and filled from PyPI on first use (PEP 668 systems refuse a
/// global `pip install`), so `cargo test --workspace` needs nothing installed by hand but
/// Python itself.
///
/// `modules` pairs each import name with its pip requirement, e.g. `("gmssl", "gmssl==3.2.2")`.
///
/// # Panics
///
/// When no Python 3 runs or the packages cannot be installed; the message says what to do.
pub fn python_with(modules: &[(&str, &str)]) -> PathBuf {
    static MADE: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let imports = modules
        .iter()
        .map(|(module, _)| *module)
        .collect::<Vec<_>>()
        .join(", ");
    let imports_in = |python: &std::path::Path| {
        std::process::Command::new(python)
            .args(["-c", &format!("import {imports}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let system = PathBuf::from("python3");
    if imports_in(&system) {
        return system;
    }
    // <workspace>/target/test-python, whichever crate's tests ask.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let venv = target.join("test-python");
    let python = venv.join("bin/python3");
    if imports_in(&python) {
        return python;
    }
    let run = |program: &std::path::Path, args: &[&str]| {
        let output = std::process::Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", program.display()));
        assert!(
            output.status.success(),
            "`{} {}` failed (these tests need Python 3 with venv, and PyPI or the packages {:?} \
             installed): {}",
            program.display(),
            args.join(" "),
            modules.iter().map(|(_, r)| *r).collect::<Vec<_>>(),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    if !python.exists() {
        run(&system, &["-m", "venv", &venv.to_string_lossy()]);
    }
    let mut args = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    args.extend(modules.iter().map(|(_, requirement)| *requirement));
    run(&python, &args);
    assert!(
        imports_in(&python),
        "{} cannot import {imports} after installing them",
        python.display()
    );
    python
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "this test needs PostgreSQL and got none")]
    async fn a_test_that_needs_postgresql_fails_without_it() {
        TestDatabase::postgres_or_fail(None).await;
    }

    /// Run by the PostgreSQL pass (`--include-ignored`): it fails when that pass is about to test
    /// SQLite instead, because the variable did not reach the tests.
    #[tokio::test]
    #[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]
    async fn the_postgresql_pass_puts_every_database_test_on_postgresql() {
        let database = TestDatabase::create().await;
        assert!(
            database.is_postgres(),
            "{POSTGRES_ENV} is unset: the database tests of this pass ran on SQLite"
        );
        let postgres = TestDatabase::postgres().await;
        assert!(postgres.is_postgres());
    }

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            replace_database("postgres://127.0.0.1:5432/test", "x"),
            "postgres://127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
