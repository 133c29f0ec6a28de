//! Failure tests (Jepsen-style set checks, performance-and-reliability.md §3): readings are
//! ingested by many terminals at once while the warnings service is killed with `kill -9`, or
//! while its PostgreSQL is restarted in immediate mode (a crash: no checkpoint, recovery from the
//! WAL). Each terminal resends a batch that got no answer, with the same sequence, until one
//! comes. Afterwards the database is compared with what was acknowledged:
//! - every reading of every acknowledged batch is stored, exactly once (0 lost, 0 applied twice);
//! - each (community, rule) has exactly one warning (0 lost, 0 duplicated), of the highest colour
//!   any acknowledged reading of that community crossed (0 missed escalations);
//! - each warning's raise and escalations are in its history and on the event feed exactly once
//!   (what subscribers are told matches what happened).
//!
//! The service runs as its own process (the `shequ-warnings` binary) so it can really be killed.
//! The PostgreSQL restart uses a private throwaway server (initdb into a temporary folder, its
//! own port), never the shared one other tests use.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use shequ_kit::{
    auth::Role,
    regions::{Level, RegionCode, Regions},
    testing::{TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use shequ_proto::warnings::v1::{self as pb, warnings_service_client::WarningsServiceClient};
use sqlx::{AnyConnection, Connection};
use tonic::{Code, transport::Channel};

use crate::helpers::{GUANGDONG, NANSHAN, RAIN, RAINSTORM};

/// Communities, terminals per community, batches per terminal, readings per batch.
const COMMUNITIES: usize = 6;
const TERMINALS_PER_COMMUNITY: usize = 2;
const BATCHES: usize = 40;
const READINGS_PER_BATCH: usize = 25;
/// The longest a batch may go unanswered through the faults before the test fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// The warnings service as a child process on a fixed address, restartable.
struct Process {
    address: SocketAddr,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
}

impl Process {
    async fn start(env: Vec<(String, String)>) -> Process {
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut process = Process {
            address,
            env,
            child: None,
        };
        process.spawn().await;
        process
    }

    async fn spawn(&mut self) {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shequ-warnings"))
            .env_clear()
            .envs(self.env.iter().cloned())
            .env("SHEQU_SERVER__LISTEN", self.address.to_string())
            .env("SHEQU_TELEMETRY__LOG_FILTER", "error")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the shequ-warnings binary starts");
        self.child = Some(child);
        shequ_kit::health::wait_until_serving(
            self.address,
            shequ_kit::service::grpc_name::<shequ_warnings::Warnings>(),
            Duration::from_secs(60),
        )
        .await
        .expect("the warnings process serves");
    }

    /// `kill -9`, then waits for the process to be gone.
    async fn kill_9(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().expect("a pid");
        let status = tokio::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success());
        child.wait().await.expect("reaped");
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The environment of a production-like warnings process over `database_url`.
fn service_env(
    keys: &TestKeys,
    personnel: &TestServer,
    database_url: &str,
) -> Vec<(String, String)> {
    let auth = keys.auth_config_for("warnings");
    let mut env = vec![
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        (
            "SHEQU_CRYPTO__MASTER_KEY".to_owned(),
            keys.master_key.expose().to_owned(),
        ),
        (
            "SHEQU_AUTH__PUBLIC_KEY_PEM".to_owned(),
            keys.pair.public_pem.clone(),
        ),
        (
            "SHEQU_DEPENDENCIES__PERSONNEL__ADDRESS".to_owned(),
            personnel.url(),
        ),
    ];
    if let Some(key) = auth.service_key_pem {
        env.push((
            "SHEQU_AUTH__SERVICE_KEY_PEM".to_owned(),
            key.expose().to_owned(),
        ));
    }
    if let Some(dir) = auth.service_keys_dir {
        env.push((
            "SHEQU_AUTH__SERVICE_KEYS_DIR".to_owned(),
            dir.display().to_string(),
        ));
    }
    if let Ok(path) = std::env::var("PATH") {
        env.push(("PATH".to_owned(), path));
    }
    env
}

/// A client of the process as `role` over `scope`, with a terminal key when given.
fn client(
    keys: &TestKeys,
    url: &str,
    role: Role,
    scope: &str,
    terminal_key: Option<&str>,
) -> WarningsServiceClient<
    tonic::service::interceptor::InterceptedService<Channel, crate::helpers::WithTerminalKey>,
> {
    let channel = Channel::from_shared(url.to_owned())
        .expect("url")
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    WarningsServiceClient::with_interceptor(
        channel,
        crate::helpers::WithTerminalKey::new(&keys.token(role, scope), terminal_key),
    )
}

/// The highest colour a community's readings reach: communities take turns at red, yellow and
/// blue.
fn peak_of(community: usize) -> pb::Colour {
    match community % 3 {
        0 => pb::Colour::Red,
        1 => pb::Colour::Yellow,
        _ => pb::Colour::Blue,
    }
}

/// The rainfall of batch `batch` of a community peaking at `peak`: dry for the first quarter,
/// then crossing blue (20 mm), yellow (50 mm) and red (100 mm) a quarter apart, up to the peak.
fn rainfall(batch: usize, peak: pb::Colour) -> f64 {
    let stage = batch * 4 / BATCHES;
    let level = stage.min(peak as usize);
    [5.0, 30.0, 60.0, 150.0][level]
}

/// One terminal of the load: its name, key, community index.
#[derive(Clone)]
struct Terminal {
    name: String,
    key: String,
    community: usize,
}

/// Sets up Guangdong's rainfall indicator and rainstorm rule and the terminals.
async fn seed(keys: &TestKeys, url: &str, communities: &[RegionCode]) -> Vec<Terminal> {
    let mut province = client(keys, url, Role::ProvinceAdmin, GUANGDONG, None);
    province
        .create_indicator(pb::CreateIndicatorRequest {
            parent: format!("provinces/{GUANGDONG}"),
            indicator_id: RAIN.into(),
            indicator: Some(pb::Indicator {
                display_name: "小时降雨量".into(),
                department: pb::Department::Weather as i32,
                unit: "mm".into(),
                min_value: 0.0,
                max_value: 300.0,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("indicator");
    province
        .create_threshold_rule(pb::CreateThresholdRuleRequest {
            parent: format!("provinces/{GUANGDONG}"),
            threshold_rule_id: RAINSTORM.into(),
            threshold_rule: Some(pb::ThresholdRule {
                indicator: format!("provinces/{GUANGDONG}/indicators/{RAIN}"),
                display_name: "暴雨内涝".into(),
                direction: pb::ThresholdDirection::Above as i32,
                blue_threshold: Some(20.0),
                yellow_threshold: Some(50.0),
                red_threshold: Some(100.0),
                category: "flood".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("rule");
    let mut admin = client(keys, url, Role::DistrictAdmin, NANSHAN, None);
    let mut terminals = Vec::new();
    for (index, community) in communities.iter().enumerate() {
        for _ in 0..TERMINALS_PER_COMMUNITY {
            let created = admin
                .create_terminal(pb::CreateTerminalRequest {
                    terminal: Some(pb::Terminal {
                        display_name: "雨量站".into(),
                        region: community.to_string(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .expect("terminal")
                .into_inner();
            terminals.push(Terminal {
                name: created.terminal.expect("terminal").name,
                key: created.key,
                community: index,
            });
        }
    }
    terminals
}

/// Is `code` worth resending the batch for (the service or its database is down or restarting)?
fn transient(code: Code) -> bool {
    !matches!(
        code,
        Code::InvalidArgument
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::AlreadyExists
    )
}

/// Sends every batch of `terminal` in order, resending one until it is answered; returns the
/// answers (the acknowledgements) in order.
async fn feed_terminal(
    keys: TestKeys,
    url: String,
    terminal: Terminal,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<pb::BatchCreateReadingsResponse> {
    let mut ingester = client(&keys, &url, Role::Integration, NANSHAN, Some(&terminal.key));
    let peak = peak_of(terminal.community);
    let mut answers = Vec::new();
    for batch in 0..BATCHES {
        let observed = shequ_kit::convert::to_timestamp(chrono::Utc::now());
        let request = pb::BatchCreateReadingsRequest {
            terminal: terminal.name.clone(),
            sequence: batch as i64 + 1,
            readings: (0..READINGS_PER_BATCH)
                .map(|_| pb::Reading {
                    indicator_id: RAIN.into(),
                    value: rainfall(batch, peak),
                    observe_time: Some(observed),
                })
                .collect(),
        };
        let started = Instant::now();
        loop {
            match ingester.batch_create_readings(request.clone()).await {
                Ok(answer) => {
                    answers.push(answer.into_inner());
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Err(status) if transient(status.code()) && started.elapsed() < PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => panic!(
                    "batch {} of {} refused for good: {status:?}",
                    batch + 1,
                    terminal.name
                ),
            }
        }
    }
    answers
}

/// Runs the whole load against the process at `url`, calling `fault` once the given share of
/// the batches is acknowledged, for each share in `at`; returns every acknowledgement by terminal.
async fn ingest_with_faults<F, Fut>(
    keys: &TestKeys,
    url: &str,
    terminals: &[Terminal],
    at: &[f64],
    mut fault: F,
) -> BTreeMap<String, Vec<pb::BatchCreateReadingsResponse>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let total = terminals.len() * BATCHES;
    let tasks: Vec<_> = terminals
        .iter()
        .cloned()
        .map(|terminal| {
            let name = terminal.name.clone();
            (
                name,
                tokio::spawn(feed_terminal(
                    keys.clone(),
                    url.to_owned(),
                    terminal,
                    Arc::clone(&acknowledged),
                )),
            )
        })
        .collect();
    for (n, share) in at.iter().enumerate() {
        let threshold = (total as f64 * share) as usize;
        while acknowledged.load(Ordering::SeqCst) < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!(
            "fault {} at {} of {total} batches acknowledged",
            n + 1,
            acknowledged.load(Ordering::SeqCst)
        );
        fault(n).await;
    }
    let mut answers = BTreeMap::new();
    for (name, task) in tasks {
        answers.insert(name, task.await.expect("terminal task"));
    }
    answers
}

/// Checks the database against the acknowledgements; panics naming what was lost or doubled.
async fn check(
    database_url: &str,
    terminals: &[Terminal],
    communities: &[RegionCode],
    answers: &BTreeMap<String, Vec<pb::BatchCreateReadingsResponse>>,
) {
    sqlx::any::install_default_drivers();
    let mut db = AnyConnection::connect(database_url)
        .await
        .expect("database");

    // 0 acknowledged readings lost, none applied twice
    let mut acknowledged_readings = 0_i64;
    for terminal in terminals {
        let answered = &answers[&terminal.name];
        assert_eq!(
            answered.len(),
            BATCHES,
            "every batch of {} answered",
            terminal.name
        );
        let accepted: i64 = answered.iter().map(|a| i64::from(a.accepted_count)).sum();
        assert!(
            answered.iter().all(|a| a.rejections.is_empty()),
            "no reading refused"
        );
        assert_eq!(accepted, (BATCHES * READINGS_PER_BATCH) as i64);
        let id = terminal.name.trim_start_matches("terminals/");
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM readings WHERE terminal_id = $1")
                .bind(id)
                .fetch_one(&mut db)
                .await
                .expect("count readings");
        assert_eq!(
            stored, accepted,
            "{}: {accepted} readings acknowledged, {stored} stored",
            terminal.name
        );
        let batches: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM reading_batches WHERE terminal_id = $1")
                .bind(id)
                .fetch_one(&mut db)
                .await
                .expect("count batches");
        assert_eq!(batches, BATCHES as i64);
        acknowledged_readings += accepted;
    }

    // one warning per (community, rule), of the highest colour crossed
    let rule = format!("provinces/{GUANGDONG}/thresholdRules/{RAINSTORM}");
    let mut escalations_expected = 0_i64;
    for (index, community) in communities.iter().enumerate() {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, colour FROM warnings WHERE region = $1 AND threshold_rule = $2",
        )
        .bind(community.to_string())
        .bind(&rule)
        .fetch_all(&mut db)
        .await
        .expect("warnings");
        assert_eq!(
            rows.len(),
            1,
            "exactly one warning in {community}: {rows:?}"
        );
        let (id, colour) = &rows[0];
        let peak = peak_of(index);
        let expected = ["", "BLUE", "YELLOW", "RED"][peak as usize];
        assert_eq!(colour, expected, "{community} reached {expected}");
        // its history and the feed tell the same story, each step once
        let raised: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM warning_history WHERE warning_id = $1 AND action = 'RAISED'",
        )
        .bind(id)
        .fetch_one(&mut db)
        .await
        .expect("history");
        assert_eq!(raised, 1);
        let escalated: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM warning_history WHERE warning_id = $1 AND action = 'ESCALATED'",
        )
        .bind(id)
        .fetch_one(&mut db)
        .await
        .expect("history");
        let subject = format!("warnings/{id}");
        let events: Vec<String> =
            sqlx::query_scalar("SELECT type_url FROM feed_events WHERE subject = $1")
                .bind(&subject)
                .fetch_all(&mut db)
                .await
                .expect("events");
        let count = |suffix: &str| events.iter().filter(|t| t.ends_with(suffix)).count() as i64;
        assert_eq!(count(".WarningRaised"), 1, "{subject}: {events:?}");
        assert_eq!(
            count(".WarningEscalated"),
            escalated,
            "{subject}: {events:?}"
        );
        escalations_expected += escalated;
    }
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM warnings")
        .fetch_one(&mut db)
        .await
        .expect("warnings");
    assert_eq!(all, communities.len() as i64, "no other warning appeared");
    println!(
        "checked: {acknowledged_readings} acknowledged readings stored once, {} warnings, \
         {escalations_expected} escalations each in the history and on the feed once",
        communities.len()
    );
    let _ = db.close().await;
}

/// The communities of the load: the first few of Nanshan.
fn communities() -> Vec<RegionCode> {
    let nanshan = RegionCode::parse(NANSHAN).expect("code");
    let found: Vec<RegionCode> = Regions::shipped()
        .descendants_at(nanshan, Level::Community)
        .take(COMMUNITIES)
        .collect();
    assert_eq!(found.len(), COMMUNITIES);
    found
}

#[tokio::test]
async fn kill_9_of_the_warnings_process_during_ingest_loses_and_doubles_nothing() {
    let keys = TestKeys::new();
    let personnel = TestServer::start::<Personnel>(
        TestDatabase::create().await,
        keys.clone(),
        shequ_kit::clock::ManualClock::at(chrono::Utc::now()),
    )
    .await;
    let database = TestDatabase::create().await;
    let mut process = Process::start(service_env(&keys, &personnel, database.url())).await;
    let url = process.url();
    let communities = communities();
    let terminals = seed(&keys, &url, &communities).await;

    let process_ref = &mut process;
    let answers = {
        let process = std::sync::Arc::new(tokio::sync::Mutex::new(process_ref));
        ingest_with_faults(&keys, &url, &terminals, &[0.2, 0.45, 0.7], |_| {
            let process = Arc::clone(&process);
            async move {
                let mut process = process.lock().await;
                process.kill_9().await;
                process.spawn().await;
            }
        })
        .await
    };
    check(database.url(), &terminals, &communities, &answers).await;
    drop(process);
    personnel.stop().await;
}

/// A private PostgreSQL 15 server in a temporary folder on its own port, for the tests that
/// restart it; stopped (immediately) and removed when dropped.
struct PrivatePostgres {
    folder: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
    /// Run the server's programs as the `postgres` user (they refuse to run as root).
    as_postgres: bool,
}

impl PrivatePostgres {
    fn run(&self, program: &str, args: &[String]) {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let output = command
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", path.display()));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn data(&self) -> String {
        self.folder.path().join("data").display().to_string()
    }

    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.folder.path().display()
        )
    }

    fn start() -> PrivatePostgres {
        let bin = std::path::PathBuf::from(
            std::env::var("SHEQU_TEST_POSTGRES_BIN")
                .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned()),
        );
        let folder = tempfile::tempdir().expect("temporary folder");
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if root {
            let ids = |flag: &str| -> u32 {
                let out = std::process::Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .expect("id runs");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("the postgres user exists")
            };
            std::os::unix::fs::chown(folder.path(), Some(ids("-u")), Some(ids("-g")))
                .expect("folder handed to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = PrivatePostgres {
            folder,
            port,
            bin,
            as_postgres: root,
        };
        server.run(
            "initdb",
            &[
                "-D".into(),
                server.data(),
                "-U".into(),
                "postgres".into(),
                "-A".into(),
                "trust".into(),
                "--no-sync".into(),
            ],
        );
        server.pg_ctl("start", &[]);
        server
    }

    fn pg_ctl(&self, action: &str, extra: &[&str]) {
        let mut args: Vec<String> = vec![
            action.into(),
            "-D".into(),
            self.data(),
            "-w".into(),
            "-o".into(),
            self.options(),
            "-l".into(),
            self.folder.path().join("log").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        self.run("pg_ctl", &args);
    }

    /// Restarts in immediate mode: the server stops as in a crash (no shutdown checkpoint) and
    /// recovers from its WAL on start.
    fn restart_immediately(&self) {
        self.pg_ctl("restart", &["-m", "immediate"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let args = vec![
            "stop".to_owned(),
            "-D".to_owned(),
            self.data(),
            "-m".to_owned(),
            "immediate".to_owned(),
        ];
        let path = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let _ = command.args(&args).output();
    }
}

#[tokio::test]
#[ignore = "needs the PostgreSQL 15 server programs (initdb, pg_ctl under /usr/lib/postgresql/15/bin or SHEQU_TEST_POSTGRES_BIN); the PostgreSQL pass runs it"]
async fn a_postgresql_restart_during_ingest_loses_and_doubles_nothing() {
    let keys = TestKeys::new();
    let personnel = TestServer::start::<Personnel>(
        TestDatabase::create().await,
        keys.clone(),
        shequ_kit::clock::ManualClock::at(chrono::Utc::now()),
    )
    .await;
    let postgres = PrivatePostgres::start();
    let process = Process::start(service_env(&keys, &personnel, &postgres.url())).await;
    let url = process.url();
    let communities = communities();
    let terminals = seed(&keys, &url, &communities).await;
    let answers = ingest_with_faults(&keys, &url, &terminals, &[0.3, 0.65], |_| {
        postgres.restart_immediately();
        std::future::ready(())
    })
    .await;
    check(&postgres.url(), &terminals, &communities, &answers).await;
    drop(process);
    drop(postgres);
    personnel.stop().await;
}
