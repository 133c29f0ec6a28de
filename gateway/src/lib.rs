//! The REST/JSON gateway of the Shequ suite (ARCHITECTURE.md decision 3).
//!
//! Routes, the JSON mapping and the OpenAPI document all come from the encoded descriptor set and
//! its `google.api.http` rules, so an RPC added to a contract gets its REST route and its
//! documentation with no handler written here. The gateway holds no business logic.
//!
//! Modules, in request order:
//! - [`config`]: settings (listen address, backends, deadline, body limit, CORS, telemetry);
//! - [`template`]: path templates: parse, match, order by specificity;
//! - [`routes`]: the route table built from the descriptors;
//! - [`deadline`]: the `x-request-timeout` header and the effective deadline;
//! - [`transcode`]: path + query + JSON body → request message, response message → JSON;
//! - [`codec`], [`backend`]: one pooled channel per backend and a raw-bytes unary call;
//! - [`errors`]: every failure → HTTP status and `application/problem+json`;
//! - [`openapi`]: the OpenAPI 3.0.3 document; `docs.html` renders it at `/docs`;
//!   [`constraints`]: the contracts' protovalidate rules as its JSON Schema keywords;
//! - [`metrics`]: Prometheus counters and latency histograms by route template;
//! - [`server`]: the handler, operational endpoints, access log, CORS.

pub mod auth;
pub mod backend;
pub mod codec;
pub mod config;
pub mod constraints;
pub mod deadline;
pub mod errors;
pub mod limits;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod revocations;
pub mod routes;
pub mod server;
pub mod template;
pub mod transcode;

use std::{future::Future, sync::Arc, time::Duration};

use shequ_kit::clock::{Clock, SystemClock};
use tokio::net::TcpListener;

pub use config::GatewayConfig;
pub use server::Gateway;

/// Service name used in logs and telemetry.
pub const SERVICE_NAME: &str = "shequ-gateway";

/// `keygen DIR`: a new Ed25519 key pair that signs the caller tokens the gateway sends the
/// services: `signing-key.pem` (the gateway's, readable by the owner only) and
/// `signing-key.pub.pem` (every service's `auth.public_key_file`). Never overwrites a key.
pub fn keygen(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let private = dir.join("signing-key.pem");
    let public = dir.join("signing-key.pub.pem");
    for file in [&private, &public] {
        anyhow::ensure!(
            !file.exists(),
            "{} exists; keygen never overwrites a key (move it away first)",
            file.display()
        );
    }
    let pair = shequ_kit::auth::KeyPair::generate();
    shequ_kit::auth::write_private(&private, pair.private_pem.as_bytes())?;
    std::fs::write(&public, &pair.public_pem)?;
    println!("shequ-gateway: keys written to {}", dir.display());
    println!("  signing-key.pem     -> the gateway's SHEQU_AUTH__SIGNING_KEY_FILE");
    println!("  signing-key.pub.pem -> every service's SHEQU_AUTH__PUBLIC_KEY_FILE");
    Ok(())
}

/// Serves the suite's contracts ([`shequ_proto::FILE_DESCRIPTOR_SET`]) on `listener` until
/// `shutdown` completes, then lets in-flight requests finish for `http.shutdown_grace_ms`.
pub async fn run(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// As [`run`], reading time (lockout, rate limits, the API-key cache) from `clock`: tests move a
/// [`shequ_kit::clock::ManualClock`] instead of waiting.
pub async fn run_with_clock(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    serve(
        config,
        shequ_proto::FILE_DESCRIPTOR_SET,
        listener,
        shutdown,
        clock,
    )
    .await
}

/// As [`run`], for another encoded descriptor set (it must keep the `google.api.http` options).
pub async fn run_with_descriptors(
    config: GatewayConfig,
    descriptor_set: &[u8],
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve(
        config,
        descriptor_set,
        listener,
        shutdown,
        Arc::new(SystemClock),
    )
    .await
}

async fn serve(
    config: GatewayConfig,
    descriptor_set: &[u8],
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let (stop_handle, stop) = shequ_kit::shutdown::channel();
    let gateway =
        Arc::new(Gateway::with_clock(&config, descriptor_set, stop.clone(), clock).await?);
    let app = server::router(gateway.clone(), &config.cors)?;
    let backends: Vec<String> = gateway
        .backends()
        .all()
        .iter()
        .map(|b| format!("{}={}", b.service, b.url))
        .collect();
    tracing::info!(address = %listener.local_addr()?, routes = gateway.routes().routes().count(), backends = ?backends, "gateway listening");

    // People's sign-in keys: loaded now (a failure is logged; the refresh keeps trying) and kept
    // fresh until shutdown.
    if let Some(oidc) = gateway.authenticator().oidc().cloned() {
        match oidc.refresh().await {
            Ok(count) => tracing::info!(count, "identity provider keys loaded"),
            Err(error) => {
                tracing::error!(%error, "identity provider keys could not be loaded; people cannot sign in until they are")
            }
        }
        tokio::spawn(oidc.keep_fresh(stop.clone()));
    }
    // Revoked and rotated API keys are dropped from the cache as identity commits the change.
    if gateway.authenticator().identity().is_some() {
        tokio::spawn(revocations::follow(gateway.auth_handle(), stop.clone()));
    }
    // The operators' listener, when configured: metrics and health only.
    if let Some(address) = config.http.admin_listen {
        let admin = TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("http.admin_listen {address}: {e}"))?;
        tracing::info!(address = %admin.local_addr()?, "admin listener (metrics, health)");
        let router = server::admin_router(gateway.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(admin, router)
                .with_graceful_shutdown(async move { stop.wait().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "admin listener failed");
            }
        });
    }
    let drain_started = stop.clone();
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("gateway shutting down: no new connections, draining requests");
        stop_handle.stop();
    });
    let grace = Duration::from_millis(config.http.shutdown_grace_ms);
    tokio::select! {
        result = server => result?,
        () = async move {
            drain_started.wait().await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("gateway shutdown: grace period over, abandoning in-flight requests"),
    }
    tracing::info!("gateway stopped");
    Ok(())
}
