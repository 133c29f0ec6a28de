//! The personnel and careers service (人员与职业发展): secretaries, qualification standards,
//! the two career ladders, career history, the negative list, the reserve pool and workforce
//! statistics (DOMAIN.md §1), served over gRPC as `shequ.personnel.v1.PersonnelService`.
//!
//! Layers: [`api`] (gRPC handlers: authorise, parse, map errors) → [`domain`] (pure rules) →
//! [`store`] (SQL over the service's own database).

pub mod api;
pub mod domain;
pub mod store;

use std::{future::Future, sync::Arc};

use shequ_kit::{
    clock::{Clock, SystemClock},
    config::ServiceConfig,
    foundation::Foundation,
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
    let foundation = Foundation::prepare(config, &store::MIGRATIONS, clock).await?;
    let store = Store::new(foundation.database.clone(), foundation.keys.clone());
    let api = PersonnelApi::new(
        store,
        foundation.regions.clone(),
        foundation.tokens.clone(),
        foundation.clock.clone(),
        foundation.audit.clone(),
        foundation.recorder.clone(),
    );
    let service = PersonnelServiceServer::new(api)
        .max_decoding_message_size(shequ_kit::server::MAX_REQUEST_BYTES)
        .max_encoding_message_size(shequ_kit::server::MAX_RESPONSE_BYTES);
    foundation.serve(service, listener, shutdown).await
}

/// Verifies the audit chain of the database `config` points at: every problem found is listed.
pub async fn verify_audit(
    config: &ServiceConfig,
) -> anyhow::Result<shequ_kit::audit::VerifyReport> {
    shequ_kit::audit::verify_database(config).await
}
