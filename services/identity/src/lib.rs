//! The identity service: API keys of the government systems that integrate with the suite
//! (create, list, rotate, revoke; secrets shown once, stored as keyed hashes), and their
//! verification for the gateway. Served over gRPC as `shequ.identity.v1.ApiKeyService`.

pub mod api;
pub mod keys;
pub mod store;

use std::{future::Future, sync::Arc};

use shequ_kit::{
    clock::{Clock, SystemClock},
    config::ServiceConfig,
    foundation::Foundation,
};
use shequ_proto::identity::v1::api_key_service_server::ApiKeyServiceServer;
use tokio::net::TcpListener;

pub use api::IdentityApi;

/// Service name used in logs and telemetry.
pub const SERVICE_NAME: &str = "shequ-identity";
/// Full gRPC name of the service.
pub const SERVICE_GRPC_NAME: &str = "shequ.identity.v1.ApiKeyService";
/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50055;

/// The default configuration: port 50055, SQLite file `data/identity.db`.
pub fn default_config() -> ServiceConfig {
    ServiceConfig::with_defaults("identity", DEFAULT_PORT)
}

/// Runs the service on `listener` until `shutdown` completes.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// As [`run`], reading time from `clock`.
pub async fn run_with_clock(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let foundation = Foundation::prepare(config, &store::MIGRATIONS, clock).await?;
    let store = store::Store::new(
        foundation.database.clone(),
        foundation.keys.blind_index.clone(),
    );
    let api = IdentityApi::new(
        store,
        foundation.regions.clone(),
        foundation.tokens.clone(),
        foundation.clock.clone(),
        foundation.audit.clone(),
        foundation.recorder.clone(),
    );
    let service = ApiKeyServiceServer::new(api)
        .max_decoding_message_size(shequ_kit::server::MAX_REQUEST_BYTES)
        .max_encoding_message_size(shequ_kit::server::MAX_RESPONSE_BYTES);
    foundation.serve(service, listener, shutdown).await
}

/// Verifies the audit chain of the database `config` points at.
pub async fn verify_audit(
    config: &ServiceConfig,
) -> anyhow::Result<shequ_kit::audit::VerifyReport> {
    shequ_kit::audit::verify_database(config).await
}
