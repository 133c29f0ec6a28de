//! The all-in-one launcher: every Shequ service in one process, each on its own port with its
//! own SQLite database under the data folder, for the zero-setup embedded default.
//!
//! On first start it creates the data folder, a development key pair (which signs caller tokens)
//! and a master key (which protects personal data), and prints where each service listens and a
//! development administrator token. Production deploys each service's own binary instead.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shequ_kit::{
    auth::{Caller, KeyPair, Role, TokenIssuer, write_private},
    config::{AuthConfig, Secret, ServiceConfig, TelemetryConfig},
    crypto::Keys,
    regions::RegionCode,
    shutdown,
};
use tokio::net::TcpListener;

/// Launcher settings (`[suite]`, `[telemetry]`; environment `SHEQU_SUITE__DATA_DIR` etc.).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteConfig {
    /// Where databases and keys live, and which addresses to use.
    pub suite: SuiteSection,
    /// Logging.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// The `[suite]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteSection {
    /// Folder of the SQLite databases and development keys (created if missing).
    pub data_dir: PathBuf,
    /// Address every service binds to.
    pub host: std::net::IpAddr,
    /// gRPC port of the personnel service (0: any free port).
    pub personnel_port: u16,
    /// gRPC port of the identity service (0: any free port).
    pub identity_port: u16,
    /// HTTP port of the REST gateway (0: any free port).
    pub gateway_port: u16,
    /// Province whose administrator the printed development token speaks for.
    pub dev_province: String,
    /// Lifetime of the printed development token, in hours.
    pub dev_token_hours: u64,
}

impl Default for SuiteConfig {
    fn default() -> Self {
        let telemetry = TelemetryConfig {
            log_format: shequ_kit::config::LogFormat::Text,
            ..TelemetryConfig::default()
        };
        SuiteConfig {
            suite: SuiteSection {
                data_dir: PathBuf::from("data"),
                host: [127, 0, 0, 1].into(),
                personnel_port: shequ_personnel::DEFAULT_PORT,
                identity_port: shequ_identity::DEFAULT_PORT,
                gateway_port: shequ_gateway::config::DEFAULT_PORT,
                dev_province: "440000000000".to_owned(),
                dev_token_hours: 24 * 30,
            },
            telemetry,
        }
    }
}

/// Where the running suite can be reached.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// gRPC address of the personnel service.
    pub personnel: SocketAddr,
    /// gRPC address of the identity service.
    pub identity: SocketAddr,
    /// HTTP address of the REST gateway.
    pub gateway: SocketAddr,
    /// A development token for a province administrator.
    pub admin_token: String,
}

/// Development secrets kept in the data folder between runs.
#[derive(Debug, Clone)]
pub struct DevSecrets {
    /// Signs caller tokens.
    pub key_pair: KeyPair,
    /// Protects personal data at rest.
    pub master_key: Secret,
}

impl DevSecrets {
    /// Loads the development secrets from `dir`, creating them on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<DevSecrets> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let key_pair = KeyPair::load_or_generate(dir)?;
        let master_file = dir.join("master.key");
        let master_key = if master_file.exists() {
            Secret::new(std::fs::read_to_string(&master_file)?.trim())
        } else {
            let key = Keys::generate_master();
            write_private(&master_file, key.expose().as_bytes())?;
            key
        };
        Ok(DevSecrets {
            key_pair,
            master_key,
        })
    }
}

/// The configuration of one service of the suite: its SQLite file under the data folder and the
/// suite's development secrets.
fn service_config(
    base: ServiceConfig,
    suite: &SuiteSection,
    secrets: &DevSecrets,
    database: &str,
    port: u16,
) -> ServiceConfig {
    let mut config = base;
    config.server.listen = SocketAddr::new(suite.host, port);
    config.database.url = Secret::new(format!(
        "sqlite://{}?mode=rwc",
        suite.data_dir.join(database).display()
    ));
    config.auth = AuthConfig {
        public_key_pem: Some(secrets.key_pair.public_pem.clone()),
        ..AuthConfig::default()
    };
    config.crypto.master_key = secrets.master_key.clone();
    config.audit.archive_dir = Some(suite.data_dir.join("audit-archive"));
    config
}

/// A service task of the suite.
type Task = tokio::task::JoinHandle<anyhow::Result<()>>;
/// How the suite hands a service its stop signal.
type StopFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Binds `config.server.listen`, starts the service with `run`, and returns once it reports
/// SERVING (or fails with the service's own error).
async fn launch<Fut>(
    name: &str,
    grpc_name: &str,
    config: ServiceConfig,
    stop: &shutdown::Stop,
    run: impl FnOnce(ServiceConfig, TcpListener, StopFuture) -> Fut,
) -> anyhow::Result<(SocketAddr, Task)>
where
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("{name}: cannot listen on {}", config.server.listen))?;
    let address = listener.local_addr()?;
    let stop = stop.clone();
    let mut task = tokio::spawn(run(
        config,
        listener,
        Box::pin(async move { stop.wait().await }),
    ));
    let ready = shequ_kit::health::wait_until_serving(address, grpc_name, Duration::from_secs(60));
    tokio::pin!(ready);
    tokio::select! {
        ready = &mut ready => ready?,
        exited = &mut task => {
            return Err(match exited {
                Ok(Ok(())) => anyhow::anyhow!("the {name} service stopped during start-up"),
                Ok(Err(error)) => error.context(format!("the {name} service failed to start")),
                Err(panic) => anyhow::anyhow!("the {name} service panicked: {panic}"),
            });
        }
    }
    Ok((address, task))
}

/// Starts every service and returns once they all answer health checks; `shutdown` stops them.
/// The returned future completes when every service has stopped (with the first error, if any).
pub async fn start(
    config: SuiteConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(
    Endpoints,
    impl std::future::Future<Output = anyhow::Result<()>>,
)> {
    let suite = &config.suite;
    let secrets = DevSecrets::load_or_create(&suite.data_dir)?;
    let province = RegionCode::parse(&suite.dev_province).context("suite.dev_province")?;
    let (stop_handle, stop) = shutdown::channel();
    tokio::spawn(async move {
        shutdown.await;
        stop_handle.stop();
    });

    let (personnel, personnel_task) = launch(
        "personnel",
        shequ_personnel::SERVICE_GRPC_NAME,
        service_config(
            shequ_personnel::default_config(),
            suite,
            &secrets,
            "personnel.db",
            suite.personnel_port,
        ),
        &stop,
        shequ_personnel::run,
    )
    .await?;
    let (identity, identity_task) = launch(
        "identity",
        shequ_identity::SERVICE_GRPC_NAME,
        service_config(
            shequ_identity::default_config(),
            suite,
            &secrets,
            "identity.db",
            suite.identity_port,
        ),
        &stop,
        shequ_identity::run,
    )
    .await?;

    // Development mode: the printed token (signed by the local key) is accepted; the gateway signs
    // the services' caller tokens with the same key.
    let mut gateway_config = shequ_gateway::GatewayConfig::development(
        [
            (
                shequ_personnel::SERVICE_GRPC_NAME,
                format!("http://{personnel}"),
            ),
            (
                shequ_identity::SERVICE_GRPC_NAME,
                format!("http://{identity}"),
            ),
        ],
        &secrets.key_pair.private_pem,
    );
    gateway_config.http.listen = SocketAddr::new(suite.host, suite.gateway_port);
    let gateway_listener = TcpListener::bind(gateway_config.http.listen)
        .await
        .with_context(|| format!("gateway: cannot listen on {}", gateway_config.http.listen))?;
    let gateway = gateway_listener.local_addr()?;
    let gateway_task = {
        let stop = stop.clone();
        tokio::spawn(shequ_gateway::run(
            gateway_config,
            gateway_listener,
            async move { stop.wait().await },
        ))
    };

    let issuer = TokenIssuer::new(
        &secrets.key_pair,
        shequ_kit::auth::DEFAULT_ISSUER,
        shequ_kit::auth::DEFAULT_AUDIENCE,
    )?;
    let admin = Caller {
        subject: "dev:province-admin".to_owned(),
        roles: vec![Role::ProvinceAdmin],
        scope: province,
        secretary: None,
    };
    let admin_token = issuer.issue(&admin, Duration::from_secs(suite.dev_token_hours * 3600));

    let finished = async move {
        let results =
            futures::future::join_all([personnel_task, identity_task, gateway_task]).await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(panic) => {
                    first_error.get_or_insert(anyhow::anyhow!("a service task failed: {panic}"));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    };
    Ok((
        Endpoints {
            personnel,
            identity,
            gateway,
            admin_token,
        },
        finished,
    ))
}

/// Verifies the audit chain of every service's database under the data folder.
pub async fn verify_audit(config: &SuiteConfig) -> anyhow::Result<std::process::ExitCode> {
    let suite = &config.suite;
    let secrets = DevSecrets::load_or_create(&suite.data_dir)?;
    let mut exit = std::process::ExitCode::SUCCESS;
    for (name, defaults, database) in [
        (
            "personnel",
            shequ_personnel::default_config(),
            "personnel.db",
        ),
        ("identity", shequ_identity::default_config(), "identity.db"),
    ] {
        let config = service_config(defaults, suite, &secrets, database, 0);
        let report = shequ_kit::audit::verify_database(&config).await?;
        if shequ_kit::audit::print_report(name, &report) != std::process::ExitCode::SUCCESS {
            exit = std::process::ExitCode::FAILURE;
        }
    }
    Ok(exit)
}

/// Runs the suite until SIGTERM or Ctrl-C, printing where it listens.
pub async fn run(config: SuiteConfig) -> anyhow::Result<()> {
    let data_dir = config.suite.data_dir.clone();
    let dev_province = config.suite.dev_province.clone();
    let (endpoints, finished) = start(config, shutdown::signal()).await?;
    println!("Shequ suite is running (data in {}):", data_dir.display());
    println!(
        "  gateway    REST  http://{}   (API page: http://{}/docs)",
        endpoints.gateway, endpoints.gateway
    );
    println!(
        "  personnel  gRPC  http://{}   (shequ.personnel.v1.PersonnelService)",
        endpoints.personnel
    );
    println!(
        "  identity   gRPC  http://{}   (shequ.identity.v1.ApiKeyService)",
        endpoints.identity
    );
    println!();
    println!(
        "Development token (province administrator of {dev_province}; send as `authorization: Bearer <token>`):"
    );
    println!("{}", endpoints.admin_token);
    println!();
    println!("Stop with Ctrl-C.");
    finished.await
}
