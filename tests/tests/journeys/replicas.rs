//! Two replicas of personnel behind the gateway, as behind a Kubernetes Service: calls spread over
//! both, and while one is stopped and restarted (gracefully, then abruptly) under load, clients
//! see (almost) nothing of it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use http::StatusCode;
use shequ_gateway::GatewayConfig;
use shequ_kit::{
    clock::ManualClock,
    service::default_config,
    testing::{TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use tokio::net::TcpListener;

use crate::helpers::*;

async fn replica(database: TestDatabase, keys: &TestKeys, clock: &ManualClock) -> TestServer {
    TestServer::start::<Personnel>(database, keys.clone(), clock.clone()).await
}

async fn restart(
    address: std::net::SocketAddr,
    (database, keys, clock): (TestDatabase, TestKeys, ManualClock),
) -> TestServer {
    let listener = TcpListener::bind(address)
        .await
        .expect("the same port again");
    TestServer::start_on::<Personnel>(
        listener,
        default_config::<Personnel>(),
        database,
        keys,
        clock,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_and_restarted_under_load_costs_clients_at_most_a_thousandth() {
    let keys = TestKeys::new();
    let clock = ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap());
    let database = TestDatabase::create().await;
    let alias = database.alias();
    let first = replica(database, &keys, &clock).await;
    let second = replica(alias, &keys, &clock).await;
    let (first_address, second_address) = (first.address, second.address);
    let mut config =
        GatewayConfig::with_backends([("personnel", format!("{},{}", first.url(), second.url()))]);
    config.auth.rate_per_second = 1_000_000_000.0;
    config.auth.rate_burst = u32::MAX;
    let stack = Arc::new(Stack::gateway_with_clock(config, keys.clone(), clock.clone()).await);
    stack.wait_until_ready().await;
    let created = create(&stack, &secretary(&id_number(1981, 7))).await;
    let path = format!("/v1/{}", created["name"].as_str().unwrap());

    // Load: clients reading the record as fast as they can until told to stop.
    let running = Arc::new(AtomicBool::new(true));
    let (total, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (stack, path, running) = (stack.clone(), path.clone(), running.clone());
        let (total, failed, first_failure) = (total.clone(), failed.clone(), first_failure.clone());
        clients.push(tokio::spawn(async move {
            let token = stack.admin();
            while running.load(Ordering::Relaxed) {
                let reply = stack.get(&path, Some(&token)).await;
                total.fetch_add(1, Ordering::Relaxed);
                if reply.status != StatusCode::OK {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_failure
                        .lock()
                        .unwrap()
                        .get_or_insert(format!("{} {}", reply.status, reply.text));
                }
            }
        }));
    }
    let pause = || tokio::time::sleep(Duration::from_millis(700));
    pause().await;
    // Graceful: the replica reports NOT_SERVING, drains, stops; comes back on its address.
    let second = restart(second_address, second.stop().await).await;
    pause().await;
    // Abrupt: the other replica dies with calls in flight, as a crashed pod does.
    let first = restart(first_address, first.kill().await).await;
    pause().await;
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (total, failed) = (
        total.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let share = failed as f64 / total as f64;
    println!(
        "replica restarts under load: {failed} of {total} requests failed ({:.3}%); first: {:?}",
        share * 100.0,
        first_failure.lock().unwrap()
    );
    assert!(total > 300, "the load really ran: {total} requests");
    assert!(
        share <= 0.001,
        "{failed} of {total} failed; first: {:?}",
        first_failure.lock().unwrap()
    );
    // Both replicas serve again.
    let ready = stack.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let replicas = ready.body["backends"][0]["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 2, "{}", ready.text);
    assert!(
        replicas.iter().all(|r| r["status"] == "SERVING"),
        "{}",
        ready.text
    );
    Arc::try_unwrap(stack)
        .ok()
        .expect("clients are done")
        .stop()
        .await;
    second.stop().await;
    first.stop().await;
}
