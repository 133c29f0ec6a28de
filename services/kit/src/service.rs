//! What a service is (ARCHITECTURE.md decision 8). A service declares what makes it itself: its
//! name, default port, migrations, its own typed settings, the services it calls, what it grants
//! to others, and how it builds its gRPC API from the shared [`Kit`]. The kit does everything
//! else: configuration, keys, database and migrations, audit, idempotency, the event feed,
//! calls to dependencies, health, reflection, message-size and call-time limits, graceful
//! shutdown, and the binary's `main`.
//!
//! ```ignore
//! pub struct Identity;
//! impl Service for Identity {
//!     const NAME: &'static str = "identity";
//!     const PORT: u16 = 50055;
//!     const MIGRATIONS: Migrations = store::MIGRATIONS;
//!     type Settings = NoSettings;
//!     type Api = IdentityApi;
//!     fn api(kit: Kit, _: NoSettings) -> anyhow::Result<IdentityApi> {
//!         Ok(IdentityApi::new(Context { store: Store::new(&kit), kit }))
//!     }
//! }
//! // src/main.rs
//! fn main() -> std::process::ExitCode { shequ_kit::service::main::<shequ_identity::Identity>() }
//! ```

use std::{borrow::Cow, convert::Infallible, future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::TcpListener;
use tonic::{body::Body, server::NamedService, service::interceptor::InterceptedService};

use shequ_proto::feed::v1::event_feed_service_server::EventFeedServiceServer;

use crate::{
    Error,
    audit::{AuditLog, MIN_RETENTION_DAYS},
    auth::{AuthInterceptor, ServiceIdentity, TokenVerifier},
    client::{Dependencies, Dependency},
    clock::{Clock, SystemClock},
    config::ServiceConfig,
    crypto::Keys,
    db::{Database, Migrations},
    feed::{EventHandler, Feed, FeedService, Follower},
    grants::{Grant, Grants},
    idempotency::Idempotency,
    paging::PageTokens,
    regions::{RegionCode, Regions},
    rpc::Recorder,
    server::{HostOptions, host},
    shutdown::{self, Stop},
};

/// A service's gRPC API type, as [`crate::grpc_service!`] declares it: it knows how to become
/// its generated server with the kit's limits.
pub trait GrpcApi: Clone + Send + Sync + 'static {
    /// The generated server (its [`NamedService::NAME`] is the service's gRPC name).
    type Server: tower::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static;

    /// The server, with the kit's message-size limits.
    fn into_server(self) -> Self::Server;
}

/// A service of the suite.
pub trait Service: 'static {
    /// Short name: `personnel` for binary `shequ-personnel`, database `data/personnel.db`,
    /// dependency and grant names.
    const NAME: &'static str;
    /// Default gRPC port.
    const PORT: u16;
    /// The service's own schema.
    const MIGRATIONS: Migrations;
    /// The services it calls, by name (each configured in `[dependencies.<name>]`).
    const DEPENDENCIES: &'static [&'static str] = &[];
    /// The services whose feeds it follows where they are deployed: each is called only when
    /// `[dependencies.<name>]` is configured; without it the service runs and says that what it
    /// would learn from there is unknown (personnel without training knows no certificates).
    const OPTIONAL_DEPENDENCIES: &'static [&'static str] = &[];
    /// What other components may call here (people are authorised by role in the handlers).
    const GRANTS: &'static [Grant] = &[];
    /// Its own settings, the `[service]` section (`crate::config::NoSettings` when none).
    type Settings: Serialize + DeserializeOwned + Default + Clone + std::fmt::Debug + Send + Sync;
    /// Its gRPC API.
    type Api: GrpcApi;

    /// Builds the API from the shared context (and starts the service's feed followers).
    fn api(kit: Kit, settings: Self::Settings) -> anyhow::Result<Self::Api>;
}

/// The full gRPC name of service `S`, from its generated server.
pub fn grpc_name<S: Service>() -> &'static str {
    <<S::Api as GrpcApi>::Server as NamedService>::NAME
}

/// The binary name of service `S`, e.g. `shequ-personnel`.
pub fn binary_name<S: Service>() -> String {
    format!("shequ-{}", S::NAME)
}

/// The default configuration of `S`: its port, SQLite file `data/<name>.db`, default settings.
pub fn default_config<S: Service>() -> ServiceConfig<S::Settings> {
    ServiceConfig::with_defaults(S::NAME, S::PORT)
}

/// The future a service runs as.
pub type Running = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
/// The shutdown signal handed to a service.
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service of the suite as a value, for the lists that launch, test and route to every
/// service alike (the launcher, the dev stack, the journeys): its name, port, gRPC name,
/// dependencies, and how to run it with its default settings.
#[derive(Clone, Copy)]
pub struct ServiceEntry {
    /// Short name.
    pub name: &'static str,
    /// Default gRPC port.
    pub port: u16,
    /// Full gRPC name of its API.
    pub grpc_name: &'static str,
    /// The services it calls.
    pub dependencies: &'static [&'static str],
    /// The services it calls where they are deployed (the launcher configures them all).
    pub optional_dependencies: &'static [&'static str],
    /// What it lets other components call.
    pub grants: &'static [Grant],
    run: fn(ServiceConfig, TcpListener, Shutdown, Arc<dyn Clock>) -> Running,
}

impl std::fmt::Debug for ServiceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceEntry")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl ServiceEntry {
    /// The entry of service `S`.
    pub fn of<S: Service>() -> ServiceEntry {
        ServiceEntry {
            name: S::NAME,
            port: S::PORT,
            grpc_name: grpc_name::<S>(),
            dependencies: S::DEPENDENCIES,
            optional_dependencies: S::OPTIONAL_DEPENDENCIES,
            grants: S::GRANTS,
            run: |config, listener, shutdown, clock| {
                let config = config.map_service(S::Settings::default());
                Box::pin(run_with_clock::<S>(config, listener, shutdown, clock))
            },
        }
    }

    /// Every service it may call, required or optional.
    pub fn all_dependencies(&self) -> impl Iterator<Item = &'static str> {
        self.dependencies
            .iter()
            .chain(self.optional_dependencies)
            .copied()
    }

    /// Its default configuration (kit sections; the service's own settings take their
    /// defaults).
    pub fn default_config(&self) -> ServiceConfig {
        ServiceConfig::with_defaults(self.name, self.port)
    }

    /// Runs it on `listener` until `shutdown`, reading time from `clock`.
    pub fn run(
        &self,
        config: ServiceConfig,
        listener: TcpListener,
        shutdown: Shutdown,
        clock: Arc<dyn Clock>,
    ) -> Running {
        (self.run)(config, listener, shutdown, clock)
    }
}

/// What every service shares, built by the kit before the service's own code runs.
#[derive(Debug, Clone)]
pub struct Kit {
    /// The service's name.
    pub name: &'static str,
    /// Its database, migrated.
    pub database: Database,
    /// The region table (shipped, plus the configured extra file).
    pub regions: Cow<'static, Regions>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Keys derived from the master key.
    pub keys: Keys,
    /// Page tokens.
    pub tokens: PageTokens,
    /// The audit log.
    pub audit: AuditLog,
    /// Grants, audit and idempotency around every call.
    pub recorder: Recorder,
    /// The services it calls.
    pub dependencies: Dependencies,
    /// Its own credential, when configured.
    pub identity: Option<ServiceIdentity>,
    /// Fires when the service begins to shut down.
    pub stop: Stop,
}

impl Kit {
    /// The dependency `name`.
    pub fn dependency(&self, name: &str) -> Result<&Dependency, Error> {
        self.dependencies.get(name)
    }

    /// Follows the event feed of dependency `producer` into `handler`, from where this service
    /// left off, until shutdown; the returned status says how current what was learnt is.
    pub fn follow(
        &self,
        producer: &str,
        handler: impl EventHandler,
    ) -> anyhow::Result<crate::feed::FeedStatus> {
        let dependency = self.dependency(producer)?.clone();
        let identity = self.identity.clone().with_context(|| {
            format!(
                "following {producer}'s feed needs this service's own key (auth.service_key_file)"
            )
        })?;
        let follower = Follower::new(
            dependency,
            self.database.clone(),
            self.audit.clone(),
            Arc::clone(&self.clock),
            identity.caller().clone(),
            Arc::new(handler),
        );
        let status = follower.status();
        tokio::spawn(follower.run(self.stop.clone()));
        Ok(status)
    }

    /// As [`Kit::follow`] for an optional dependency: `None` (and nothing followed) when it is
    /// not configured here.
    pub fn follow_if_configured(
        &self,
        producer: &str,
        handler: impl EventHandler,
    ) -> anyhow::Result<Option<crate::feed::FeedStatus>> {
        if !self.dependencies.is_configured(producer) {
            tracing::info!(
                producer,
                "not configured: its feed is not followed and what it would tell is unknown"
            );
            return Ok(None);
        }
        self.follow(producer, handler).map(Some)
    }
}

/// A service prepared to serve: its kit and what serving needs beside it.
struct Prepared {
    kit: Kit,
    verifier: TokenVerifier,
    idempotency: Idempotency,
    feed: Feed,
    stop_handle: shutdown::StopHandle,
}

async fn prepare<S: Service>(
    config: &ServiceConfig<S::Settings>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Prepared> {
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
    let province = RegionCode::parse(&config.auth.province)
        .map_err(|e| anyhow::anyhow!("auth.province: {e}"))?;
    let identity = config
        .auth
        .service_private_key()?
        .map(|pem| ServiceIdentity::new(S::NAME, &pem, province))
        .transpose()?;
    let optional_configured = S::OPTIONAL_DEPENDENCIES
        .iter()
        .any(|name| config.dependencies.contains_key(*name));
    anyhow::ensure!(
        (S::DEPENDENCIES.is_empty() && !optional_configured) || identity.is_some(),
        "{} calls {} and needs its own key: set auth.service_key_file (SHEQU_AUTH__SERVICE_KEY_FILE)",
        S::NAME,
        S::DEPENDENCIES.join(", ")
    );
    let database = Database::connect(&config.database).await?;
    database
        .prepare(&S::MIGRATIONS, config.database.migrate)
        .await
        .context("database schema")?;
    let (stop_handle, stop) = shutdown::channel();
    let dependencies = Dependencies::connect(
        S::DEPENDENCIES,
        S::OPTIONAL_DEPENDENCIES,
        &config.dependencies,
        identity.clone(),
        stop.clone(),
    )
    .await?;
    let tokens = PageTokens::new(keys.page_tokens.clone());
    let audit = AuditLog::new(database.clone(), keys.audit_chain);
    let idempotency = Idempotency::new(database.clone(), keys.personal_data.clone());
    let recorder = Recorder::new(
        audit.clone(),
        idempotency.clone(),
        Arc::clone(&clock),
        Grants::new(S::GRANTS),
    );
    let feed = Feed::new(S::NAME, database.clone());
    Ok(Prepared {
        kit: Kit {
            name: S::NAME,
            database,
            regions,
            clock,
            keys,
            tokens,
            audit,
            recorder,
            dependencies,
            identity,
            stop,
        },
        verifier,
        idempotency,
        feed,
        stop_handle,
    })
}

/// Runs service `S` on `listener` until `shutdown` completes.
pub async fn run<S: Service>(
    config: ServiceConfig<S::Settings>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock::<S>(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// As [`run`], reading time from `clock` (tests move it by hand).
pub async fn run_with_clock<S: Service>(
    config: ServiceConfig<S::Settings>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let Prepared {
        kit,
        verifier,
        idempotency,
        feed,
        stop_handle,
    } = prepare::<S>(&config, clock).await?;
    tokio::spawn(async move {
        shutdown.await;
        stop_handle.stop();
    });
    let stop = kit.stop.clone();
    let maintenance = tokio::spawn(crate::audit::maintain(
        kit.audit.clone(),
        idempotency,
        feed.clone(),
        config.audit.clone(),
        Arc::clone(&kit.clock),
        stop.clone(),
    ));
    let database = kit.database.clone();
    let grants = kit.recorder.grants();
    let api = S::api(kit, config.service.clone())?.into_server();
    let interceptor = AuthInterceptor::new(verifier);
    let feed = FeedService::server(feed, grants, stop.clone());
    let names = [
        grpc_name::<S>(),
        <EventFeedServiceServer<FeedService> as NamedService>::NAME,
    ];
    let routes = tonic::service::Routes::new(InterceptedService::new(api, interceptor.clone()))
        .add_service(InterceptedService::new(feed, interceptor));
    tracing::info!(service = grpc_name::<S>(), address = %listener.local_addr()?, "listening");
    let result = host(
        routes,
        &names,
        listener,
        database,
        HostOptions {
            health_interval: Duration::from_millis(config.database.health_interval_ms),
            shutdown_grace: Duration::from_millis(config.server.shutdown_grace_ms),
            max_call_duration: MAX_CALL_DURATION,
        },
        async move { stop.wait().await },
    )
    .await;
    let _ = maintenance.await;
    result
}

/// Upper bound on any call, whatever deadline the client sent.
pub const MAX_CALL_DURATION: Duration = Duration::from_secs(30);

/// The `main` of service `S`'s binary: `serve` (the default) runs it until SIGTERM or Ctrl-C;
/// `audit-verify` checks the audit chain of its database and exits 1 when it is broken.
///
/// Configuration: defaults, then the TOML file named by `SHEQU_CONFIG`, then `DATABASE_URL`,
/// then `SHEQU_<SECTION>__<KEY>` variables.
pub fn main<S: Service>() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_async::<S>()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn main_async<S: Service>() -> anyhow::Result<std::process::ExitCode> {
    let name = binary_name::<S>();
    if std::env::args().nth(1).as_deref() == Some("keygen") {
        let dir = std::env::args().nth(2).unwrap_or_else(|| ".".to_owned());
        keygen(&name, std::path::Path::new(&dir))?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    let config = crate::config::load(&default_config::<S>(), file.as_deref())?;
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => {
            // The binary's name labels its logs and spans; built once per process.
            let service: &'static str = Box::leak(name.clone().into_boxed_str());
            let telemetry = crate::telemetry::init(service, &config.telemetry)?;
            let listener = TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.listen))?;
            let result = run::<S>(config, listener, shutdown::Signal::new()).await;
            telemetry.shutdown();
            result.map(|()| std::process::ExitCode::SUCCESS)
        }
        Some("audit-verify") => {
            let report = crate::audit::verify_database(&config).await?;
            Ok(crate::audit::print_report(&name, &report))
        }
        Some(other) => {
            eprintln!(
                "unknown command {other:?}; usage: {name} [serve | audit-verify | keygen DIR]"
            );
            Ok(std::process::ExitCode::from(2))
        }
    }
}

/// `keygen DIR`: the secrets a service needs in production, written to new files readable by
/// the owner only: its master key (personal-data encryption, blind indexes, page tokens, the
/// audit chain) and its own key pair (calls it makes as itself; the public half goes to every
/// service it calls). Existing files are never overwritten.
pub fn keygen(binary: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let master = dir.join("master.key");
    let private = dir.join("service-key.pem");
    let public = dir.join("service-key.pub.pem");
    for file in [&master, &private, &public] {
        anyhow::ensure!(
            !file.exists(),
            "{} exists; keygen never overwrites a key (move it away first)",
            file.display()
        );
    }
    let pair = crate::auth::KeyPair::generate();
    crate::auth::write_private(&master, Keys::generate_master().expose().as_bytes())?;
    crate::auth::write_private(&private, pair.private_pem.as_bytes())?;
    std::fs::write(&public, &pair.public_pem)?;
    println!("{binary}: keys written to {}", dir.display());
    println!(
        "  master.key          -> SHEQU_CRYPTO__MASTER_KEY (its contents); keep it as long as the data"
    );
    println!("  service-key.pem     -> SHEQU_AUTH__SERVICE_KEY_FILE");
    println!(
        "  service-key.pub.pem -> <name>.pub.pem in SHEQU_AUTH__SERVICE_KEYS_DIR of the services it calls"
    );
    Ok(())
}
