//! `shequ-bench warnings-ingest`: see [`warnings`].
//!
//! `shequ-bench get-secretary`: GetSecretary over gRPC against `pgbench` reading the same rows
//! with the same query and the same client concurrency, in the same run.
//!
//! 1. creates a scratch PostgreSQL database and migrates it;
//! 2. seeds 20,000 secretaries through the service's own store (personal data encrypted);
//! 3. starts the `shequ-personnel` binary (a separate process, built beside this one);
//! 4. checks with a real gRPC client that GetSecretary answers OK (h2load cannot read
//!    `grpc-status`), then alternates two arms reading the same row with the same concurrency:
//!    `h2load -c N -m 1` sending GetSecretary over gRPC and `pgbench -M prepared -c N` running the
//!    service's own SELECT; the load generators run on core 1, the servers where the scheduler puts them;
//! 5. prints throughput and latency of both and the ratio, then drops the database.
//!
//! Environment: `SHEQU_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! `SHEQU_BENCH_CONCURRENCY` (8), `SHEQU_BENCH_SECONDS` (10 per round), `SHEQU_BENCH_ROUNDS` (5).
//! The two arms alternate round by round, so each round's ratio compares neighbours in time; the
//! verdict is the median of those ratios (the machine's background noise moves both arms alike).
//! Needs `h2load` (Debian nghttp2-client), `pgbench` (postgresql-15) and `taskset`.

mod warnings;

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};
use shequ_kit::{
    audit::AuditLog,
    auth::{Caller, KeyPair, Role, TokenIssuer},
    call::{Call, CallStart},
    clock::SystemClock,
    config::{DatabaseConfig, MigrateMode, Secret},
    crypto::Keys,
    db::Database,
    regions::RegionCode,
};
use shequ_personnel::{
    domain::{
        CareerEvent, Education, PoliticalStatus, Secretary, Status,
        career::{EventType, Rung},
        identity::IdNumber,
    },
    store::{MIGRATIONS, SECRETARY_COLUMNS, Store},
};
use shequ_proto::personnel::v1::{
    GetSecretaryRequest, personnel_service_client::PersonnelServiceClient,
};
use sqlx::{AnyConnection, Connection};
use tonic::{metadata::MetadataValue, transport::Channel};

mod evaluation;

const SECRETARIES: u32 = 20_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The deterministic identifier of the n-th seeded secretary, so pgbench can name the same rows.
fn bench_id(n: u32) -> String {
    format!("bench{n:021}")
}

/// A valid ID number for the n-th secretary (unique birth date + serial, check digit computed).
fn id_number(n: u32) -> String {
    let birth = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date")
        + chrono::Duration::days(i64::from(n % 9000));
    let body = format!("440305{}{:03}", birth.format("%Y%m%d"), n / 9000 * 2 + 1);
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Seeds through the service's own store, each secretary in an audited transaction of a call
/// made as the benchmark itself (so the data is exactly what the service writes).
async fn seed(store: &Store, audit: AuditLog) -> anyhow::Result<()> {
    let region = RegionCode::parse("440305001001")?;
    let now = Utc::now();
    let store = Arc::new(store.clone());
    let call = Call::new(
        CallStart {
            caller: Caller {
                subject: "bench:seed".into(),
                roles: vec![Role::ProvinceAdmin],
                scope: RegionCode::parse("440000000000")?,
                secretary: None,
            },
            token: None,
            action: "CreateSecretary",
            request_id: "bench-seed".into(),
            client_request_id: None,
            deadline: None,
        },
        audit,
        Arc::new(SystemClock),
    );
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < SECRETARIES {
                let id_number =
                    IdNumber::parse(&id_number(n)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let appointed = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
                let secretary = Secretary {
                    id: bench_id(n),
                    region,
                    display_name: format!("书记{n}"),
                    gender: id_number.gender(),
                    birth_date: id_number.birth_date(),
                    id_number,
                    phone_number: shequ_personnel::domain::identity::PhoneNumber::parse(&format!(
                        "138{n:08}"
                    )),
                    education: Education::Bachelor,
                    political_status: PoliticalStatus::CpcMember,
                    appointment_date: appointed,
                    community_work_start: NaiveDate::from_ymd_opt(2015, 1, 1).expect("date"),
                    status: Status::Active,
                    ladder: None,
                    rung: Rung::Secretary,
                    rung_since: appointed,
                    professional_title: String::new(),
                    left_on: None,
                    version: 1,
                    tenure: 1,
                    create_time: now,
                    update_time: now,
                };
                let event = CareerEvent {
                    id: format!("appointment{n}"),
                    secretary_id: secretary.id.clone(),
                    kind: EventType::Appointment,
                    effective_date: appointed,
                    ladder: None,
                    from_rung: None,
                    to_rung: Some(Rung::Secretary),
                    from_region: None,
                    to_region: Some(region),
                    destination: String::new(),
                    title: String::new(),
                    note: String::new(),
                    recorded_by: "bench".into(),
                    create_time: now,
                    corrects: None,
                };
                let mut tx = call.begin(store.database()).await?;
                store.insert_secretary(&mut tx, &secretary, &event).await?;
                tx.commit().await?;
                n += 8;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Throughput and latency of one measured round.
#[derive(Debug, Clone, Copy)]
struct Round {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Calls GetSecretary `count` times through tonic and fails on any non-OK status.
async fn check_rpc(address: std::net::SocketAddr, token: &str, count: u32) -> anyhow::Result<()> {
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse()?;
    let mut client = PersonnelServiceClient::new(
        Channel::from_shared(format!("http://{address}"))?
            .connect()
            .await?,
    );
    for n in 0..count {
        let mut request = tonic::Request::new(GetSecretaryRequest {
            name: format!("secretaries/{}", bench_id(n * 97 % SECRETARIES)),
            view: 0,
        });
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        let reply = client
            .get_secretary(request)
            .await
            .context("GetSecretary failed")?;
        if reply.get_ref().display_name.is_empty() {
            bail!("empty reply");
        }
    }
    Ok(())
}

/// One gRPC frame (uncompressed flag, big-endian length, message) of `request`.
fn grpc_frame(request: &GetSecretaryRequest) -> Vec<u8> {
    use shequ_proto::prost::Message;
    let body = request.encode_to_vec();
    let mut frame = vec![0_u8];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// `h2load` sending the framed GetSecretary over `concurrency` connections, one stream each.
fn h2load_round(
    address: std::net::SocketAddr,
    token: &str,
    frame: &std::path::Path,
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<Round> {
    let log = frame.with_extension("h2load.log");
    let output = Command::new("taskset")
        .args(["-c", "1", "h2load", "-m1", "-t1"])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-D{seconds}"))
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "-H",
        ])
        .arg(format!("authorization: Bearer {token}"))
        .arg("-d")
        .arg(frame)
        .arg(format!("--log-file={}", log.display()))
        .arg(format!(
            "http://{address}/shequ.personnel.v1.PersonnelService/GetSecretary"
        ))
        .output()
        .context("h2load did not run (Debian package nghttp2-client)")?;
    if !output.status.success() {
        bail!("h2load failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let per_second: f64 = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no rate in h2load output:\n{text}"))?;
    // log lines: start time, HTTP status, elapsed microseconds
    let mut latencies = Vec::new();
    let mut not_ok = 0_u64;
    for line in std::fs::read_to_string(&log)?.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 3 {
            if fields[1] != "200" {
                not_ok += 1;
            }
            if let Ok(us) = fields[2].parse::<f64>() {
                latencies.push(us / 1000.0);
            }
        }
    }
    std::fs::remove_file(&log)?;
    if not_ok > 0 {
        bail!("{not_ok} h2load requests did not answer HTTP 200");
    }
    Ok(summarise(per_second, latencies))
}

fn summarise(per_second: f64, mut latencies: Vec<f64>) -> Round {
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Round {
        per_second,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
    }
}

fn pgbench_round(
    url: &str,
    script: &std::path::Path,
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<Round> {
    let output = Command::new("taskset")
        .args(["-c", "1", "pgbench", "-n", "-M", "prepared"])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-j{}", concurrency.min(2)))
        .arg(format!("-T{seconds}"))
        .arg("-f")
        .arg(script)
        .arg("--log")
        .arg("--log-prefix")
        .arg(script.with_extension("log"))
        .arg(url)
        .output()
        .context("pgbench did not run (Debian package postgresql-15 ships it)")?;
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let tps: f64 = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench output:\n{text}"))?;
    // per-transaction latencies (microseconds, third column) from the transaction logs
    let dir = script.parent().context("script folder")?;
    let prefix = script
        .with_extension("log")
        .file_name()
        .context("log prefix")?
        .to_string_lossy()
        .into_owned();
    let mut latencies: Vec<f64> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    latencies.push(us / 1000.0);
                }
            }
            std::fs::remove_file(path)?;
        }
    }
    Ok(summarise(tps, latencies))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn get_secretary() -> anyhow::Result<()> {
    let admin_url: String = env_or(
        "SHEQU_BENCH_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
    );
    let concurrency: usize = env_or("SHEQU_BENCH_CONCURRENCY", 8);
    let seconds: u64 = env_or("SHEQU_BENCH_SECONDS", 10);
    let rounds: usize = env_or("SHEQU_BENCH_ROUNDS", 5);
    sqlx::any::install_default_drivers();

    let name = format!("shequ_bench_{}", std::process::id());
    let url = {
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    };
    let mut admin = AnyConnection::connect(&admin_url)
        .await
        .context("SHEQU_BENCH_POSTGRES_URL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let result = run_get_secretary(&url, concurrency, seconds, rounds).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

async fn run_get_secretary(
    url: &str,
    concurrency: usize,
    seconds: u64,
    rounds: usize,
) -> anyhow::Result<()> {
    let master = Keys::generate_master();
    let database_config = DatabaseConfig {
        url: Secret::new(url),
        ..DatabaseConfig::default()
    };
    let db = Database::connect(&database_config).await?;
    db.prepare(&MIGRATIONS, MigrateMode::Run).await?;
    let data_keys = Keys::from_master(&master)?;
    let audit = AuditLog::new(db.clone(), data_keys.audit_chain);
    let store = Store::new(db.clone(), data_keys);
    let seeding = Instant::now();
    seed(&store, audit).await?;
    sqlx::query("ANALYZE secretaries")
        .execute(db.pool())
        .await?;
    db.close().await;
    println!(
        "seeded {SECRETARIES} secretaries in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // The service as its own process, configured like a production deployment.
    let keys = KeyPair::generate();
    let binary = std::env::current_exe()?.with_file_name("shequ-personnel");
    if !binary.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p shequ-personnel`",
            binary.display()
        );
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    drop(listener);
    // The load generators run on core 1; the servers (ours with PostgreSQL behind it, or
    // PostgreSQL alone for pgbench) are scheduled freely, the same in both arms.
    let mut service = Command::new(&binary)
        .env("DATABASE_URL", url)
        .env("SHEQU_SERVER__LISTEN", address.to_string())
        .env("SHEQU_CRYPTO__MASTER_KEY", master.expose())
        .env("SHEQU_AUTH__PUBLIC_KEY_PEM", &keys.public_pem)
        .env("SHEQU_TELEMETRY__LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let outcome = async {
        shequ_kit::health::wait_until_serving(address, shequ_kit::service::grpc_name::<shequ_personnel::Personnel>(), Duration::from_secs(30)).await?;
        let issuer = TokenIssuer::new(&keys, shequ_kit::auth::DEFAULT_ISSUER, shequ_kit::auth::DEFAULT_AUDIENCE)?;
        let token = issuer.issue(
            &Caller { subject: "bench".into(), roles: vec![Role::DistrictAdmin], scope: RegionCode::parse("440305000000")?, secretary: None },
            Duration::from_secs(3600),
        );
        // One row, read by both arms (a random row per request would make the arms differ in
        // what they measure: h2load sends one fixed body).
        let row = SECRETARIES / 2;
        let scripts = tempdir()?;
        let script = scripts.join("get_secretary.sql");
        std::fs::write(&script, format!("SELECT {SECRETARY_COLUMNS} FROM secretaries WHERE id = '{}';\n", bench_id(row)))?;
        let frame = scripts.join("get_secretary.grpc");
        std::fs::write(&frame, grpc_frame(&GetSecretaryRequest { name: format!("secretaries/{}", bench_id(row)), view: 0 }))?;

        check_rpc(address, &token, 200).await?;
        println!("warming up ({concurrency} concurrent clients)...");
        h2load_round(address, &token, &frame, concurrency, 3)?;
        pgbench_round(url, &script, concurrency, 3)?;
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let a = h2load_round(address, &token, &frame, concurrency, seconds)?;
            let b = pgbench_round(url, &script, concurrency, seconds)?;
            println!(
                "round {round}: GetSecretary gRPC (h2load) {:>9.0}/s p50 {:.2} ms p99 {:.2} ms | pgbench {:>9.0}/s p50 {:.2} ms p99 {:.2} ms | ratio {:.2}",
                a.per_second, a.p50_ms, a.p99_ms, b.per_second, b.p50_ms, b.p99_ms, a.per_second / b.per_second
            );
            ratios.push(a.per_second / b.per_second);
            ours.push(a);
            theirs.push(b);
        }
        let ours_rate = median(&mut ours.iter().map(|r| r.per_second).collect::<Vec<_>>());
        let theirs_rate = median(&mut theirs.iter().map(|r| r.per_second).collect::<Vec<_>>());
        println!();
        check_rpc(address, &token, 200).await?;
        println!("GetSecretary over gRPC : {ours_rate:>9.0} req/s   (h2load, median of {rounds} rounds of {seconds} s, {concurrency} connections)");
        println!("pgbench, same SELECT   : {theirs_rate:>9.0} tx/s    (-M prepared, same clients)");
        println!("ratio of the medians   : {:.2}x", ours_rate / theirs_rate);
        println!("median of round ratios : {:.2}x   (target >= 0.40x)", median(&mut ratios));
        std::fs::remove_dir_all(scripts)?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let _ = service.kill();
    let _ = service.wait();
    outcome
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("shequ-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("get-secretary") => get_secretary().await,
        Some("warnings-ingest") => warnings::warnings_ingest().await,
        Some("evaluation") => evaluation::evaluation().await,
        _ => {
            eprintln!("usage: shequ-bench get-secretary | warnings-ingest | evaluation");
            std::process::exit(2);
        }
    }
}
