//! The personnel and careers service (人员与职业发展): secretaries, qualification standards,
//! the two career ladders, career history, the negative list, the reserve pool and workforce
//! statistics (DOMAIN.md §1), served over gRPC as `shequ.personnel.v1.PersonnelService`.
//!
//! Layers: [`api`] (gRPC handlers: authorise, parse, map errors) → [`domain`] (pure rules) →
//! [`store`] (SQL over the service's own database).

pub mod api;
pub mod domain;
pub mod store;

use std::{borrow::Cow, future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use shequ_kit::{
    audit::AuditLog,
    auth::{AuthInterceptor, TokenVerifier},
    clock::{Clock, SystemClock},
    config::ServiceConfig,
    crypto::Keys,
    db::Database,
    idempotency::Idempotency,
    paging::PageTokens,
    regions::Regions,
    rpc::Recorder,
    server::{HostOptions, host},
};
use shequ_proto::personnel::v1::personnel_service_server::PersonnelServiceServer;
use tokio::net::TcpListener;

pub use api::PersonnelApi;
pub use store::Store;

/// Service name used in logs and telemetry.
pub const SERVICE_NAME: &str = "shequ-personnel";
/// Full gRPC name of the service, as health checks and reflection know it.
pub const SERVICE_GRPC_NAME: &str = "shequ.personnel.v1.PersonnelService";
/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50051;
/// Largest request message accepted (bytes); bigger ones are refused before decoding.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The default configuration: port 50051, SQLite file `data/personnel.db`.
pub fn default_config() -> ServiceConfig {
    ServiceConfig::with_defaults("personnel", DEFAULT_PORT)
}

/// Runs the service on `listener` until `shutdown` completes.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// As [`run`], reading time from `clock` (tests move it by hand).
pub async fn run_with_clock(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let keys = Keys::from_master(&config.crypto.master_key)?;
    anyhow::ensure!(
        config.audit.retention_days >= shequ_kit::audit::MIN_RETENTION_DAYS,
        "audit.retention_days must be at least {} (six months, Cybersecurity Law art. 21)",
        shequ_kit::audit::MIN_RETENTION_DAYS
    );
    let verifier = TokenVerifier::from_config(&config.auth)?;
    let regions = match &config.regions.extra_file {
        Some(file) => Cow::Owned(Regions::with_extra_file(file).map_err(anyhow::Error::msg)?),
        None => Cow::Borrowed(Regions::shipped()),
    };
    let database = Database::connect(&config.database).await?;
    database
        .prepare(&store::MIGRATIONS, config.database.migrate)
        .await
        .context("personnel schema")?;

    let tokens = PageTokens::new(keys.page_tokens.clone());
    let audit = AuditLog::new(database.clone(), keys.audit_chain);
    let idempotency = Idempotency::new(database.clone(), keys.personal_data.clone());
    let recorder = Recorder::new(audit.clone(), idempotency.clone(), clock.clone());
    let store = Store::new(database.clone(), keys);
    let api = PersonnelApi::new(
        store,
        regions,
        tokens,
        clock.clone(),
        audit.clone(),
        recorder,
    );

    // One stop signal for the server and the retention job.
    let (stop_handle, stop) = shequ_kit::shutdown::channel();
    tokio::spawn(async move {
        shutdown.await;
        stop_handle.stop();
    });
    let maintenance = tokio::spawn(shequ_kit::audit::maintain(
        audit,
        idempotency,
        config.audit.clone(),
        clock,
        stop.clone(),
    ));
    let service = PersonnelServiceServer::new(api)
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(16 * MAX_REQUEST_BYTES);
    let service = tonic::service::interceptor::InterceptedService::new(
        service,
        AuthInterceptor::new(verifier),
    );

    tracing::info!(address = %listener.local_addr()?, "personnel service listening");
    let result = host(
        service,
        listener,
        database,
        HostOptions {
            descriptor_sets: vec![shequ_proto::FILE_DESCRIPTOR_SET],
            health_interval: Duration::from_millis(config.database.health_interval_ms),
            shutdown_grace: Duration::from_millis(config.server.shutdown_grace_ms),
            max_call_duration: Duration::from_secs(30),
        },
        async move { stop.wait().await },
    )
    .await;
    let _ = maintenance.await;
    result
}

/// Verifies the audit chain of the database `config` points at: every problem found is listed.
pub async fn verify_audit(
    config: &ServiceConfig,
) -> anyhow::Result<shequ_kit::audit::VerifyReport> {
    let keys = Keys::from_master(&config.crypto.master_key)?;
    let database = Database::connect(&config.database).await?;
    let report = AuditLog::new(database.clone(), keys.audit_chain)
        .verify()
        .await;
    database.close().await;
    Ok(report?)
}
