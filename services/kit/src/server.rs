//! Hosting a service: the gRPC server with health, reflection and per-call spans, readiness that
//! follows the database, and a graceful shutdown that reports NOT_SERVING before the listener
//! closes and gives in-flight calls a bounded time to finish.

use std::{future::Future, time::Duration};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::{db::Database, health, shutdown};

/// Accepted connections with Nagle's algorithm off: a unary reply is one small write that must
/// not wait for the client's delayed acknowledgement.
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// Largest gRPC request message a service accepts (bytes); bigger ones are refused with
/// RESOURCE_EXHAUSTED before decoding. Every service's generated server is configured with it
/// (`max_decoding_message_size`), as the gateway's body limit is for REST.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Largest response message (bytes): a page of records, well above any single request.
pub const MAX_RESPONSE_BYTES: usize = 16 * MAX_REQUEST_BYTES;

/// How a service is hosted.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// How often readiness pings the database.
    pub health_interval: Duration,
    /// Time in-flight calls get after shutdown begins.
    pub shutdown_grace: Duration,
    /// Upper bound on any call, whatever deadline the client sent.
    pub max_call_duration: Duration,
}

/// Serves `routes` (the gRPC services named `names`) on `listener` until `shutdown` completes,
/// then drains. Health reports each name (and the server as a whole); reflection lists exactly
/// these services, health and reflection, nothing else in the suite's contracts.
///
/// Order on shutdown: health turns NOT_SERVING, the listener stops accepting, in-flight calls get
/// `shutdown_grace` to finish, the database pool closes.
pub async fn host(
    routes: tonic::service::Routes,
    names: &[&'static str],
    listener: TcpListener,
    database: Database,
    options: HostOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    // Not serving until the first database ping succeeds.
    health::set(&reporter, names, ServingStatus::NotServing).await;

    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(shequ_proto::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection");
    for name in names {
        reflection = reflection.with_service_name(*name);
    }
    let reflection = reflection.build_v1()?;

    let (stop_handle, stop) = shutdown::channel();
    let watcher = tokio::spawn(health::follow_database(
        reporter.clone(),
        names.to_vec(),
        database.clone(),
        options.health_interval,
        stop.clone(),
    ));

    let drain_started = stop.clone();
    let shutdown_reporter = reporter.clone();
    let shutdown_names = names.to_vec();
    let server = Server::builder()
        .timeout(options.max_call_duration)
        .trace_fn(crate::telemetry::server_span)
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection)
        .serve_with_incoming_shutdown(incoming(listener), async move {
            shutdown.await;
            tracing::info!("shutdown: reporting NOT_SERVING and draining");
            health::set(
                &shutdown_reporter,
                &shutdown_names,
                ServingStatus::NotServing,
            )
            .await;
            stop_handle.stop();
        });

    let grace = options.shutdown_grace;
    let result = tokio::select! {
        result = server => result.map_err(anyhow::Error::from),
        () = async move {
            drain_started.wait().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("shutdown: grace period over, abandoning in-flight calls");
            Ok(())
        }
    };
    let _ = watcher.await;
    database.close().await;
    tracing::info!("stopped");
    result
}
