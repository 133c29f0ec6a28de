//! Readings on PostgreSQL: monthly partitions made ahead and dropped whole.

use chrono::Duration;
use shequ_kit::{
    clock::ManualClock,
    testing::{TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use shequ_proto::warnings::v1 as pb;
use shequ_warnings::{Settings, Warnings};

use crate::helpers::*;

async fn partitions(app: &TestApp) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(app.database().url())
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT CAST(c.relname AS TEXT) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]
async fn readings_live_in_monthly_partitions_made_ahead_and_dropped_whole() {
    let keys = TestKeys::new();
    let clock = ManualClock::at(start_time());
    let personnel =
        TestServer::start::<Personnel>(TestDatabase::postgres().await, keys.clone(), clock.clone())
            .await;
    let mut config = shequ_kit::service::default_config::<Warnings>();
    config.dependencies.insert(
        "personnel".into(),
        shequ_kit::config::DependencyConfig {
            address: personnel.url(),
            ..Default::default()
        },
    );
    let server = TestServer::start_with::<Warnings>(
        config,
        TestDatabase::postgres().await,
        keys.clone(),
        clock.clone(),
    )
    .await;
    let app = TestApp {
        keys,
        clock,
        personnel,
        server,
        settings: Settings::default(),
    };
    // the job made May to August (the month before, this one, the next two) at start-up
    for _ in 0..2_000 {
        if partitions(&app).await.len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        partitions(&app).await,
        [
            "readings_2026_05",
            "readings_2026_06",
            "readings_2026_07",
            "readings_2026_08",
            "readings_default"
        ]
    );
    let brain = app.brain(NANTOU_COMMUNITY).await;
    app.ingester(NANSHAN, Some(&brain.key))
        .batch_create_readings(pb::BatchCreateReadingsRequest {
            terminal: brain.terminal.clone(),
            sequence: 1,
            readings: vec![
                rain(12.0, now(&app)),
                rain(13.0, hours_after_start(-24 * 5)),
            ],
        })
        .await
        .unwrap();
    assert_eq!(count(&app, "readings_2026_06").await, 2);
    assert_eq!(count(&app, "readings_default").await, 0);
    // 130 days on (23 October): July 25 is 90 days back, so May and June go whole, and
    // September to December are made
    app.clock.advance(Duration::days(130));
    for _ in 0..2_000 {
        if !partitions(&app)
            .await
            .contains(&"readings_2026_06".to_owned())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        partitions(&app).await,
        [
            "readings_2026_07",
            "readings_2026_08",
            "readings_2026_09",
            "readings_2026_10",
            "readings_2026_11",
            "readings_2026_12",
            "readings_default"
        ]
    );
    assert_eq!(count(&app, "readings").await, 0);
    app.stop().await;
}
