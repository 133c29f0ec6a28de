//! What every service builds at start-up before its own code runs, and how it is then served:
//! keys, the caller-token verifier, the region table, the migrated database, the audit log and
//! idempotency records, and (once serving) the retention job beside the gRPC server.

use std::{borrow::Cow, future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::{body::Body, server::NamedService};

use crate::{
    audit::{AuditLog, MIN_RETENTION_DAYS},
    auth::{AuthInterceptor, TokenVerifier},
    clock::Clock,
    config::ServiceConfig,
    crypto::Keys,
    db::{Database, Migrations},
    idempotency::Idempotency,
    paging::PageTokens,
    regions::Regions,
    rpc::Recorder,
    server::{HostOptions, host},
    shutdown,
};

/// The shared parts of a running service.
#[derive(Debug)]
pub struct Foundation {
    /// The configuration it was built from.
    pub config: ServiceConfig,
    /// Keys derived from the master key.
    pub keys: Keys,
    /// The region table (shipped, plus the configured extra file).
    pub regions: Cow<'static, Regions>,
    /// The service's database, migrated.
    pub database: Database,
    /// Page tokens.
    pub tokens: PageTokens,
    /// The audit log.
    pub audit: AuditLog,
    /// Audit and idempotency around every call.
    pub recorder: Recorder,
    /// Time.
    pub clock: Arc<dyn Clock>,
    verifier: TokenVerifier,
    idempotency: Idempotency,
}

impl Foundation {
    /// Validates `config`, connects and migrates the database (kit tables, then `migrations`).
    pub async fn prepare(
        config: ServiceConfig,
        migrations: &Migrations,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Foundation> {
        let keys = Keys::from_master(&config.crypto.master_key)?;
        anyhow::ensure!(
            config.audit.retention_days >= MIN_RETENTION_DAYS,
            "audit.retention_days must be at least {MIN_RETENTION_DAYS} (six months, Cybersecurity Law art. 21)"
        );
        let verifier = TokenVerifier::from_config(&config.auth)?;
        let regions = match &config.regions.extra_file {
            Some(file) => Cow::Owned(Regions::with_extra_file(file).map_err(anyhow::Error::msg)?),
            None => Cow::Borrowed(Regions::shipped()),
        };
        let database = Database::connect(&config.database).await?;
        database
            .prepare(migrations, config.database.migrate)
            .await
            .context("database schema")?;
        let tokens = PageTokens::new(keys.page_tokens.clone());
        let audit = AuditLog::new(database.clone(), keys.audit_chain);
        let idempotency = Idempotency::new(database.clone(), keys.personal_data.clone());
        let recorder = Recorder::new(audit.clone(), idempotency.clone(), clock.clone());
        Ok(Foundation {
            config,
            keys,
            regions,
            database,
            tokens,
            audit,
            recorder,
            clock,
            verifier,
            idempotency,
        })
    }

    /// Serves `service` (every call authenticated) on `listener` with health and reflection,
    /// runs the retention job beside it, and stops both when `shutdown` completes.
    pub async fn serve<S>(
        self,
        service: S,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()>
    where
        S: tower::Service<
                http::Request<Body>,
                Response = http::Response<Body>,
                Error = std::convert::Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let (stop_handle, stop) = shutdown::channel();
        tokio::spawn(async move {
            shutdown.await;
            stop_handle.stop();
        });
        let maintenance = tokio::spawn(crate::audit::maintain(
            self.audit.clone(),
            self.idempotency.clone(),
            self.config.audit.clone(),
            self.clock.clone(),
            stop.clone(),
        ));
        let service = tonic::service::interceptor::InterceptedService::new(
            service,
            AuthInterceptor::new(self.verifier),
        );
        tracing::info!(service = S::NAME, address = %listener.local_addr()?, "listening");
        let result = host(
            service,
            listener,
            self.database,
            HostOptions {
                descriptor_sets: vec![shequ_proto::FILE_DESCRIPTOR_SET],
                health_interval: Duration::from_millis(self.config.database.health_interval_ms),
                shutdown_grace: Duration::from_millis(self.config.server.shutdown_grace_ms),
                max_call_duration: Duration::from_secs(30),
            },
            async move { stop.wait().await },
        )
        .await;
        let _ = maintenance.await;
        result
    }
}

/// The `main` of a service binary: `serve` (the default) runs it until SIGTERM or Ctrl-C;
/// `audit-verify` checks the audit chain of its database and exits 1 when it is broken.
pub async fn service_main<F, Fut>(
    name: &'static str,
    defaults: ServiceConfig,
    run: F,
) -> anyhow::Result<std::process::ExitCode>
where
    F: FnOnce(ServiceConfig, TcpListener, shutdown::Signal) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    let config = crate::config::load(&defaults, file.as_deref())?;
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => {
            let telemetry = crate::telemetry::init(name, &config.telemetry)?;
            let listener = TcpListener::bind(config.server.listen).await?;
            let result = run(config, listener, shutdown::Signal::new()).await;
            telemetry.shutdown();
            result.map(|()| std::process::ExitCode::SUCCESS)
        }
        Some("audit-verify") => {
            let report = crate::audit::verify_database(&config).await?;
            Ok(crate::audit::print_report(name, &report))
        }
        Some(other) => {
            eprintln!("unknown command {other:?}; usage: {name} [serve | audit-verify]");
            Ok(std::process::ExitCode::from(2))
        }
    }
}
