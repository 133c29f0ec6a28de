//! gRPC health (`grpc.health.v1`) whose readiness follows the database: a service reports
//! SERVING only while its database answers, and NOT_SERVING as soon as shutdown begins, so a load
//! balancer stops sending traffic before the listener closes.

use std::time::Duration;

use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{db::Database, shutdown::Stop};

/// Updates the health of `services` (and of the server as a whole, the empty name) from periodic
/// database pings until `stop` is cancelled.
pub async fn follow_database(
    reporter: HealthReporter,
    services: Vec<&'static str>,
    database: Database,
    interval: Duration,
    stop: Stop,
) {
    let mut last = None;
    loop {
        let status = if database.ping().await {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(status) {
            if status == ServingStatus::NotServing {
                tracing::warn!("database unreachable; reporting NOT_SERVING");
            } else if last.is_some() {
                tracing::info!("database reachable again; reporting SERVING");
            }
            set(&reporter, &services, status).await;
            last = Some(status);
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.wait() => break,
        }
    }
    set(&reporter, &services, ServingStatus::NotServing).await;
}

/// Sets `services` and the server-wide status together.
pub async fn set(reporter: &HealthReporter, services: &[&str], status: ServingStatus) {
    for service in services {
        reporter.set_service_status(service, status).await;
    }
    reporter.set_service_status("", status).await;
}

/// Polls `grpc.health.v1.Health/Check` of `service` at `address` until it reports SERVING, or
/// fails after `timeout`. Used by launchers and tests instead of sleeping on hope.
pub async fn wait_until_serving(
    address: std::net::SocketAddr,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{address}"))?.connect_lazy();
    let mut client = HealthClient::new(channel);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let reply = client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await;
        if let Ok(reply) = reply
            && reply.into_inner().status
                == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("{service} at {address} did not report SERVING within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
