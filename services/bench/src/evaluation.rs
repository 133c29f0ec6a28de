//! `shequ-bench evaluation`: finalise and rank a province-sized cohort (10,000 secretaries, 4
//! quarters × 4 core indicators + 2 X each) through the evaluation service over gRPC, against
//! one PostgreSQL query computing the same composites and ranks from the same rows, in one run.
//!
//! The scheme of the run has four people-scored indicators (so finalising reads nothing from
//! training or warnings: the benchmark measures evaluation itself). Rows are seeded with SQL
//! into the service's own tables after it migrated them. Environment:
//! `SHEQU_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use shequ_evaluation::Evaluation;
use shequ_kit::{
    auth::Role,
    config::{DependencyConfig, Secret},
    testing::{Bearer, TestKeys},
};
use shequ_proto::evaluation::v1::{self as pb, evaluation_service_client::EvaluationServiceClient};
use sqlx::{AnyConnection, Connection};

const COHORT: u32 = 10_000;
const DISTRICT: &str = "440305000000";

/// The same composite and ranks as the service: per secretary, the mean over quarters of the
/// weighted quarter score, 0.6 of it plus 0.4 × external plus the X points capped at ±10,
/// rounded to 2 decimals; ranked best first with shared ranks.
const BASELINE: &str = "
WITH q AS (
  SELECT secretary, AVG(
      0.40 * (scores::json->>'satisfaction')::float8 + 0.30 * (scores::json->>'governance')::float8
    + 0.20 * (scores::json->>'innovation')::float8 + 0.10 * (scores::json->>'learning')::float8) AS internal
  FROM quarterly_assessments WHERE year = 2026 GROUP BY secretary),
x AS (SELECT secretary, LEAST(GREATEST(SUM(points), -10), 10) AS x FROM special_assessments
  WHERE year = 2026 GROUP BY secretary),
s AS (SELECT q.secretary, ROUND((0.6 * q.internal + 0.4 * e.score + COALESCE(x.x, 0))::numeric, 2)::float8 AS score
  FROM q JOIN external_assessments e ON e.secretary = q.secretary AND e.year = 2026
  LEFT JOIN x ON x.secretary = q.secretary)
SELECT secretary, score, RANK() OVER (ORDER BY score DESC) AS place FROM s";

async fn seed(url: &str) -> anyhow::Result<()> {
    let mut c = AnyConnection::connect(url).await?;
    let scheme = r#"{"core":[
        {"id":"satisfaction","display_name":"群众满意度","weight":40,"source":"People","feed_share_percent":0},
        {"id":"governance","display_name":"治理效能","weight":30,"source":"People","feed_share_percent":0},
        {"id":"innovation","display_name":"创新贡献","weight":20,"source":"People","feed_share_percent":0},
        {"id":"learning","display_name":"学习成长","weight":10,"source":"People","feed_share_percent":0}],
        "x":[{"id":"risk","display_name":"风险防控"},{"id":"opinion","display_name":"舆情处理"}],
        "x_cap_points":10,"adjustment_percent":5,"appeal_window_days":15}"#;
    sqlx::query(
        "INSERT INTO indicator_schemes (province, year, version, body, created_by, create_time) \
         VALUES ('440000000000', 2026, 1, $1, 'bench', '2026-01-01T00:00:00Z')",
    )
    .bind(scheme)
    .execute(&mut c)
    .await?;
    let n = i64::from(COHORT);
    for sql in [
        "INSERT INTO secretary_roster SELECT 'secretaries/b' || g, '4403050010' || lpad((g % 50 + 1)::text, 2, '0'), 1, 0 FROM generate_series(1, $1) g",
        "INSERT INTO quarterly_assessments SELECT 'secretaries/b' || g, 2026, qn, '440305001001', \
           json_build_object('satisfaction', 40 + (g * 7 + qn) % 60, 'governance', 40 + (g * 11 + qn) % 60, \
             'innovation', 40 + (g * 13 + qn) % 60, 'learning', 40 + (g * 17 + qn) % 60)::text, \
           '[\"https://docs.example.cn\"]', '', 'bench', '2026-06-01T00:00:00Z' \
         FROM generate_series(1, $1) g, generate_series(1, 4) qn",
        "INSERT INTO external_assessments SELECT 'secretaries/b' || g, 2026, '440305001001', \
           40 + (g * 19) % 60, '[\"https://docs.example.cn\"]', 'engagements/bench', 'bench', '2026-06-01T00:00:00Z' \
         FROM generate_series(1, $1) g",
        "INSERT INTO special_assessments SELECT 'x' || g || ind, 'secretaries/b' || g, 2026, '440305001001', ind, \
           ((g * 23) % 17 - 8)::float8, '[\"https://docs.example.cn\"]', 'bench', '2026-06-01T00:00:00Z' \
         FROM generate_series(1, $1) g, unnest(ARRAY['risk', 'opinion']) ind",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(n)
            .execute(&mut c)
            .await?;
    }
    sqlx::query("ANALYZE").execute(&mut c).await?;
    c.close().await?;
    Ok(())
}

async fn run(url: &str) -> anyhow::Result<()> {
    let keys = TestKeys::new();
    let mut config = shequ_kit::service::default_config::<Evaluation>();
    config.database.url = Secret::new(url);
    config.auth = keys.auth_config_for("evaluation");
    config.crypto.master_key = keys.master_key.clone();
    config.telemetry.log_filter = "error".into();
    // Nothing is read from the other services in this run (a people-only scheme); personnel's
    // feed is not reachable and not needed (the roster is seeded).
    for dependency in ["personnel", "training", "warnings"] {
        config.dependencies.insert(
            dependency.to_owned(),
            DependencyConfig {
                address: "http://127.0.0.1:9".into(),
                ..DependencyConfig::default()
            },
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shequ_kit::service::run::<Evaluation>(
        config,
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    shequ_kit::health::wait_until_serving(
        address,
        shequ_kit::service::grpc_name::<Evaluation>(),
        Duration::from_secs(30),
    )
    .await?;
    seed(url).await.context("seeding")?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let token = keys.token(Role::DistrictAdmin, DISTRICT);
    let mut client = EvaluationServiceClient::with_interceptor(channel, Bearer::new(&token));

    // the bare query, warmed once, then timed
    let mut c = AnyConnection::connect(url).await?;
    let _ = sqlx::query(BASELINE).fetch_all(&mut c).await?;
    let started = Instant::now();
    let rows = sqlx::query(BASELINE).fetch_all(&mut c).await?;
    let bare = started.elapsed();
    c.close().await?;

    let started = Instant::now();
    let mut request = tonic::Request::new(pb::FinaliseAnnualResultsRequest {
        parent: format!("regions/{DISTRICT}"),
        year: 2026,
        omit_breakdowns: true,
    });
    request.set_timeout(Duration::from_secs(30));
    let finalised = client.finalise_annual_results(request).await?.into_inner();
    let finalise = started.elapsed();
    let started = Instant::now();
    let ranking = client
        .create_ranking(pb::CreateRankingRequest {
            ranking: Some(pb::Ranking {
                region: DISTRICT.into(),
                year: 2026,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await?
        .into_inner();
    let rank = started.elapsed();
    anyhow::ensure!(
        finalised.finalised.len() == COHORT as usize && ranking.places.len() == COHORT as usize,
        "finalised {} and ranked {} of {COHORT}",
        finalised.finalised.len(),
        ranking.places.len()
    );
    anyhow::ensure!(
        rows.len() == COHORT as usize,
        "the query returned {}",
        rows.len()
    );
    // both computed the same composites and ranks
    let expected: std::collections::HashMap<String, (f64, i64)> = rows
        .iter()
        .map(|row| {
            use sqlx::Row as _;
            (
                row.get::<String, _>(0),
                (row.get::<f64, _>(1), row.get::<i64, _>(2)),
            )
        })
        .collect();
    let differing = ranking
        .places
        .iter()
        .filter(|p| {
            expected.get(&p.secretary).is_none_or(|(score, place)| {
                (score - p.score).abs() > 0.005 || *place != i64::from(p.rank)
            })
        })
        .count();
    anyhow::ensure!(
        differing == 0,
        "{differing} places differ between the service and the query"
    );
    let flagged = ranking.places.iter().filter(|p| p.flagged).count();
    let ours = finalise + rank;
    println!("cohort                     : {COHORT} secretaries, 4 quarters × 4 core + 2 X each");
    println!(
        "same scores and ranks      : yes ({flagged} flagged, band minimum {})",
        ranking.band_minimum
    );
    println!(
        "FinaliseAnnualResults gRPC : {:>8.0} ms",
        finalise.as_secs_f64() * 1e3
    );
    println!(
        "CreateRanking gRPC         : {:>8.0} ms",
        rank.as_secs_f64() * 1e3
    );
    println!(
        "service, both              : {:>8.0} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "one PostgreSQL query       : {:>8.0} ms",
        bare.as_secs_f64() * 1e3
    );
    println!(
        "ratio (query / service)    : {:.3}x   (target >= 0.25x)",
        bare.as_secs_f64() / ours.as_secs_f64()
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

pub(crate) async fn evaluation() -> anyhow::Result<()> {
    let admin_url: String = std::env::var("SHEQU_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    sqlx::any::install_default_drivers();
    let name = format!("shequ_bench_evaluation_{}", std::process::id());
    let url = {
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    };
    let mut admin = AnyConnection::connect(&admin_url).await?;
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
