//! `shequ-bench warnings-ingest`: the community brain's replay on PostgreSQL, against `COPY` of
//! the same rows into a table of the same shape, in the same run.
//!
//! 1. creates a scratch PostgreSQL database and starts the `shequ-warnings` binary (release,
//!    built beside this one) over it, as its own process;
//! 2. sets up a province's 200 indicators with one threshold rule each (blue 500, yellow 700,
//!    red 900) and 5,000 terminals over 500 communities of Shenzhen (10 each), through the API;
//! 3. follows the service's event feed with `WatchEvents` (as evaluation, which is granted it);
//! 4. each round replays one sample of every terminal: 5,000 batches of 200 readings (one per
//!    indicator) = 1,000,000 readings over `BatchCreateReadings`, `SHEQU_BENCH_CONCURRENCY`
//!    batches in flight; one terminal per community sends one reading over the red threshold (of
//!    an indicator that differs per round, so each round raises 500 new warnings); latency is
//!    from sending that batch to its `WarningRaised` arriving on the Watch stream;
//! 5. then `psql \copy` loads the same 1,000,000 rows (as the service stored them) into a table of
//!    the readings' shape (partitioned the same way, same indexes), timed;
//! 6. prints each round's rows/s of both and their ratio, the median ratio, and the latency
//!    quantiles, then drops the database.
//!
//! Environment: `SHEQU_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! `SHEQU_BENCH_CONCURRENCY` (16), `SHEQU_BENCH_ROUNDS` (3), `SHEQU_BENCH_TERMINALS` (5,000),
//! `SHEQU_BENCH_INDICATORS` (200). Needs `psql` (postgresql-client).

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use shequ_kit::{
    auth::{Caller, Role},
    regions::{Level, RegionCode, Regions},
    testing::TestKeys,
};
use shequ_proto::{
    feed::v1::{
        ListEventsRequest, WatchEventsRequest, event_feed_service_client::EventFeedServiceClient,
    },
    warnings::v1::{self as pb, warnings_service_client::WarningsServiceClient},
};
use sqlx::{AnyConnection, Connection};
use tonic::{metadata::MetadataValue, transport::Channel};

use crate::{env_or, median};

const GUANGDONG: &str = "440000000000";
const SHENZHEN: &str = "440300000000";
const SERVICE: &str = "shequ.warnings.v1.WarningsService";
/// Values well inside every threshold, and one over the red threshold.
const CALM: f64 = 100.0;
const ALARM: f64 = 950.0;

fn bearer(token: &str) -> anyhow::Result<MetadataValue<tonic::metadata::Ascii>> {
    Ok(format!("Bearer {token}").parse()?)
}

fn request<T>(message: T, token: &MetadataValue<tonic::metadata::Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    request
}

fn token_as(keys: &TestKeys, role: Role, scope: &str) -> anyhow::Result<String> {
    Ok(keys.token_for(&Caller {
        subject: format!("bench:{role}"),
        roles: vec![role],
        scope: RegionCode::parse(scope)?,
        secretary: None,
    }))
}

/// One terminal: name, key, and its community's index.
struct Terminal {
    name: String,
    key: MetadataValue<tonic::metadata::Ascii>,
    community: usize,
}

/// The indicators, rules and terminals, through the API as an administrator would.
async fn set_up(
    keys: &TestKeys,
    channel: Channel,
    indicators: usize,
    terminals: usize,
) -> anyhow::Result<Vec<Terminal>> {
    let province = bearer(&token_as(keys, Role::ProvinceAdmin, GUANGDONG)?)?;
    let mut client = WarningsServiceClient::new(channel.clone());
    for n in 0..indicators {
        client
            .create_indicator(request(
                pb::CreateIndicatorRequest {
                    parent: format!("provinces/{GUANGDONG}"),
                    indicator_id: format!("i{n:03}"),
                    indicator: Some(pb::Indicator {
                        display_name: format!("指标 {n}"),
                        department: (n % 12) as i32 + 1,
                        unit: "u".into(),
                        min_value: 0.0,
                        max_value: 1_000.0,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &province,
            ))
            .await
            .context("CreateIndicator")?;
        client
            .create_threshold_rule(request(
                pb::CreateThresholdRuleRequest {
                    parent: format!("provinces/{GUANGDONG}"),
                    threshold_rule_id: format!("r{n:03}"),
                    threshold_rule: Some(pb::ThresholdRule {
                        indicator: format!("provinces/{GUANGDONG}/indicators/i{n:03}"),
                        display_name: format!("规则 {n}"),
                        direction: pb::ThresholdDirection::Above as i32,
                        blue_threshold: Some(500.0),
                        yellow_threshold: Some(700.0),
                        red_threshold: Some(900.0),
                        category: "bench".into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &province,
            ))
            .await
            .context("CreateThresholdRule")?;
    }
    let communities: Vec<RegionCode> = Regions::shipped()
        .descendants_at(RegionCode::parse(SHENZHEN)?, Level::Community)
        .take(terminals.div_ceil(10))
        .collect();
    let city = bearer(&token_as(keys, Role::CityAdmin, SHENZHEN)?)?;
    let created = Arc::new(Mutex::new(Vec::with_capacity(terminals)));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let mut client = WarningsServiceClient::new(channel.clone());
        let city = city.clone();
        let communities = communities.clone();
        let created = Arc::clone(&created);
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < terminals {
                let answer = client
                    .create_terminal(request(
                        pb::CreateTerminalRequest {
                            terminal: Some(pb::Terminal {
                                display_name: format!("终端 {n}"),
                                region: communities[n / 10].to_string(),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                        &city,
                    ))
                    .await
                    .context("CreateTerminal")?
                    .into_inner();
                let terminal = Terminal {
                    name: answer.terminal.context("terminal")?.name,
                    key: answer.key.parse()?,
                    community: n / 10,
                };
                created.lock().expect("lock").push(terminal);
                n += 8;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let mut terminals = std::mem::take(&mut *created.lock().expect("lock"));
    terminals.sort_by_key(|t| t.community);
    Ok(terminals)
}

/// Follows the feed from now on, noting when each WarningRaised arrives (by warning name).
async fn watch(
    keys: &TestKeys,
    channel: Channel,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let token = bearer(&keys.service_token("evaluation"))?;
    let mut client = EventFeedServiceClient::new(channel);
    let head = client
        .list_events(request(
            ListEventsRequest {
                after_sequence: 0,
                page_size: 1,
            },
            &token,
        ))
        .await
        .context("ListEvents")?
        .into_inner()
        .head_sequence;
    let mut stream = client
        .watch_events(request(
            WatchEventsRequest {
                after_sequence: head,
            },
            &token,
        ))
        .await
        .context("WatchEvents")?
        .into_inner();
    Ok(tokio::spawn(async move {
        while let Ok(Some(event)) = stream.message().await {
            let raised = event
                .payload
                .as_ref()
                .is_some_and(|p| p.type_url.ends_with(".WarningRaised"));
            if raised {
                seen.lock()
                    .expect("lock")
                    .insert(event.subject, Instant::now());
            }
        }
    }))
}

/// One replay round's measurements.
struct Replay {
    rows: u64,
    seconds: f64,
    /// When each alarming batch was sent, by the warning it raised.
    sent: Vec<(String, Instant)>,
}

/// Every terminal sends batch `round` (one reading per indicator), `concurrency` at a time.
async fn replay(
    channel: Channel,
    integration: MetadataValue<tonic::metadata::Ascii>,
    terminals: Arc<Vec<Terminal>>,
    indicators: usize,
    round: usize,
    concurrency: usize,
) -> anyhow::Result<Replay> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = WarningsServiceClient::new(channel.clone());
        let (next, terminals, integration) = (
            Arc::clone(&next),
            Arc::clone(&terminals),
            integration.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut rows, mut sent) = (0_u64, Vec::new());
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(terminal) = terminals.get(index) else {
                    break;
                };
                // the first terminal of each community alarms, on an indicator that moves on
                // every round so each round raises new warnings
                let alarming = index % 10 == 0;
                let alarm_on = (terminal.community + round * 7) % indicators;
                let observed = shequ_kit::convert::to_timestamp(chrono::Utc::now());
                let readings = (0..indicators)
                    .map(|n| pb::Reading {
                        indicator_id: format!("i{n:03}"),
                        value: if alarming && n == alarm_on {
                            ALARM
                        } else {
                            CALM
                        },
                        observe_time: Some(observed),
                    })
                    .collect();
                let mut call = request(
                    pb::BatchCreateReadingsRequest {
                        terminal: terminal.name.clone(),
                        sequence: round as i64,
                        readings,
                    },
                    &integration,
                );
                call.metadata_mut()
                    .insert("x-terminal-key", terminal.key.clone());
                let at = Instant::now();
                let answer = client
                    .batch_create_readings(call)
                    .await
                    .context("BatchCreateReadings")?
                    .into_inner();
                if answer.replayed || !answer.rejections.is_empty() {
                    bail!("batch of {} not applied cleanly: {answer:?}", terminal.name);
                }
                rows += answer.accepted_count as u64;
                if alarming {
                    let warning = answer.warnings.first().cloned().with_context(|| {
                        format!("the alarm of {} raised no warning", terminal.name)
                    })?;
                    sent.push((warning, at));
                }
            }
            Ok::<_, anyhow::Error>((rows, sent))
        }));
    }
    let (mut rows, mut sent) = (0, Vec::new());
    for task in tasks {
        let (r, s) = task.await??;
        rows += r;
        sent.extend(s);
    }
    Ok(Replay {
        rows,
        seconds: started.elapsed().as_secs_f64(),
        sent,
    })
}

/// `psql \copy` of `file` into `table`; returns the seconds it took.
fn copy_in(url: &str, table: &str, file: &std::path::Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c"])
        .arg(format!(
            "\\copy {table} (region, terminal_id, sequence, indicator_id, value, observe_time, receive_time) FROM '{}' WITH (FORMAT csv)",
            file.display()
        ))
        .output()
        .context("psql did not run (Debian package postgresql-client)")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "psql \\copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(seconds)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

pub(crate) async fn warnings_ingest() -> anyhow::Result<()> {
    let admin_url: String = env_or(
        "SHEQU_BENCH_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
    );
    sqlx::any::install_default_drivers();
    let name = format!("shequ_bench_warnings_{}", std::process::id());
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
    let result = run(&url).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

async fn run(url: &str) -> anyhow::Result<()> {
    let concurrency: usize = env_or("SHEQU_BENCH_CONCURRENCY", 16);
    let rounds: usize = env_or("SHEQU_BENCH_ROUNDS", 3);
    let terminals: usize = env_or("SHEQU_BENCH_TERMINALS", 5_000);
    let indicators: usize = env_or("SHEQU_BENCH_INDICATORS", 200).min(200);
    let binary = std::env::current_exe()?.with_file_name("shequ-warnings");
    if !binary.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p shequ-warnings`",
            binary.display()
        );
    }
    let keys = TestKeys::new();
    let own = keys.auth_config_for("warnings");
    // published in the keys folder, so the service accepts evaluation's token for the feed
    let _ = keys.service_pair("evaluation");
    let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut service = Command::new(&binary)
        .env("DATABASE_URL", url)
        .env("SHEQU_SERVER__LISTEN", address.to_string())
        .env("SHEQU_CRYPTO__MASTER_KEY", keys.master_key.expose())
        .env("SHEQU_AUTH__PUBLIC_KEY_PEM", &keys.pair.public_pem)
        .env(
            "SHEQU_AUTH__SERVICE_KEY_PEM",
            own.service_key_pem.context("own key")?.expose(),
        )
        .env(
            "SHEQU_AUTH__SERVICE_KEYS_DIR",
            own.service_keys_dir.context("keys folder")?,
        )
        // personnel's feed (the roster) plays no part here: nobody answers there
        .env(
            "SHEQU_DEPENDENCIES__PERSONNEL__ADDRESS",
            "http://127.0.0.1:9",
        )
        .env("SHEQU_TELEMETRY__LOG_FILTER", "error")
        .stdout(Stdio::null())
        .spawn()?;
    let outcome = async {
        shequ_kit::health::wait_until_serving(address, SERVICE, Duration::from_secs(60)).await?;
        let channel = Channel::from_shared(format!("http://{address}"))?
            .connect()
            .await?;
        let setting_up = Instant::now();
        let terminals = Arc::new(set_up(&keys, channel.clone(), indicators, terminals).await?);
        println!(
            "set up {indicators} indicators with a rule each and {} terminals in {} communities in {:.1} s",
            terminals.len(),
            terminals.len().div_ceil(10),
            setting_up.elapsed().as_secs_f64()
        );
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let watcher = watch(&keys, channel.clone(), Arc::clone(&seen)).await?;
        let integration = bearer(&token_as(&keys, Role::Integration, SHENZHEN)?)?;

        let scripts = std::env::temp_dir().join(format!("shequ-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scripts)?;
        let mut db = AnyConnection::connect(url).await?;
        // a table of the readings' shape: same columns, partitioned the same way, same indexes
        for statement in [
            "CREATE TABLE bench_copy (LIKE readings) PARTITION BY RANGE (observe_time)",
            "CREATE TABLE bench_copy_default PARTITION OF bench_copy DEFAULT",
            "CREATE INDEX bench_copy_by_time ON bench_copy (observe_time)",
            "CREATE INDEX bench_copy_by_terminal ON bench_copy (terminal_id, observe_time)",
        ] {
            sqlx::query(statement).execute(&mut db).await?;
        }
        let (mut ratios, mut latencies) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let ours = replay(
                channel.clone(),
                integration.clone(),
                Arc::clone(&terminals),
                indicators,
                round,
                concurrency,
            )
            .await?;
            // every alarm's warning on the Watch stream (or the round fails)
            let waiting = Instant::now();
            let mut round_latencies = Vec::new();
            for (warning, at) in &ours.sent {
                let arrived = loop {
                    if let Some(arrived) = seen.lock().expect("lock").get(warning).copied() {
                        break arrived;
                    }
                    if waiting.elapsed() > Duration::from_secs(30) {
                        bail!("{warning} never appeared on the Watch stream");
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                round_latencies.push(arrived.saturating_duration_since(*at).as_secs_f64() * 1e3);
            }
            // the same rows, as the service stored them, loaded by COPY
            let csv = scripts.join("readings.csv");
            let exported = Command::new("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c"])
                .arg(format!(
                    "\\copy (SELECT region, terminal_id, sequence, indicator_id, value, observe_time, receive_time FROM readings WHERE sequence = {round}) TO '{}' WITH (FORMAT csv)",
                    csv.display()
                ))
                .output()
                .context("psql did not run")?;
            if !exported.status.success() {
                bail!("export failed: {}", String::from_utf8_lossy(&exported.stderr));
            }
            sqlx::query("TRUNCATE bench_copy").execute(&mut db).await?;
            let copy_seconds = copy_in(url, "bench_copy", &csv)?;
            let copied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bench_copy")
                .fetch_one(&mut db)
                .await?;
            if copied as u64 != ours.rows {
                bail!("COPY loaded {copied} rows, the service {}", ours.rows);
            }
            std::fs::remove_file(&csv)?;
            let ours_rate = ours.rows as f64 / ours.seconds;
            let copy_rate = copied as f64 / copy_seconds;
            round_latencies.sort_by(f64::total_cmp);
            println!(
                "round {round}: ingest {} rows in {:.1} s = {ours_rate:>8.0} rows/s | COPY {:>8.0} rows/s | ratio {:.2} | {} alarms → Watch p50 {:.0} ms p99 {:.0} ms",
                ours.rows,
                ours.seconds,
                copy_rate,
                ours_rate / copy_rate,
                round_latencies.len(),
                quantile(&round_latencies, 0.5),
                quantile(&round_latencies, 0.99),
            );
            ratios.push(ours_rate / copy_rate);
            latencies.extend(round_latencies);
        }
        watcher.abort();
        std::fs::remove_dir_all(&scripts)?;
        latencies.sort_by(f64::total_cmp);
        println!();
        println!(
            "ingest / COPY, median of {rounds} rounds : {:.2}x   (target >= 0.5x; {concurrency} batches in flight)",
            median(&mut ratios)
        );
        println!(
            "reading over a threshold → WarningRaised on Watch: p50 {:.0} ms, p99 {:.0} ms over {} alarms   (target p99 <= 1000 ms)",
            quantile(&latencies, 0.5),
            quantile(&latencies, 0.99),
            latencies.len()
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let _ = service.kill();
    let _ = service.wait();
    outcome
}
