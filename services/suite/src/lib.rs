//! The all-in-one launcher: every Shequ service in one process, each on its own port with its
//! own SQLite database under the data folder, for the zero-setup embedded default.
//!
//! On first start it creates the data folder, a development key pair (which signs caller tokens),
//! each service's own key pair (with which it calls other services as itself) and a master key
//! (which protects personal data), and prints where each service listens and a development
//! administrator token. Production deploys each service's own binary instead.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shequ_kit::{
    auth::{Caller, KeyPair, Role, TokenIssuer, write_private},
    clock::SystemClock,
    config::{AuthConfig, DependencyConfig, Secret, ServiceConfig, TelemetryConfig},
    crypto::Keys,
    regions::RegionCode,
    service::ServiceEntry,
    shutdown,
};
use tokio::net::TcpListener;

/// Every service of the suite, in start order. The launcher, the dev stack and the journeys
/// start exactly these, and the gateway routes to them: adding a service is a line here.
pub fn services() -> Vec<ServiceEntry> {
    vec![
        ServiceEntry::of::<shequ_personnel::Personnel>(),
        ServiceEntry::of::<shequ_identity::Identity>(),
        ServiceEntry::of::<shequ_training::Training>(),
        ServiceEntry::of::<shequ_warnings::Warnings>(),
        ServiceEntry::of::<shequ_evaluation::Evaluation>(),
    ]
}

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
    /// gRPC ports of services that should not listen on their default port, by service name
    /// (`SHEQU_SUITE__PORTS__PERSONNEL=6051`; 0 for any free port).
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    /// Every service and the gateway on any free port (tests, CI smoke starts).
    #[serde(default)]
    pub any_port: bool,
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
                ports: BTreeMap::new(),
                any_port: false,
                gateway_port: shequ_gateway::config::DEFAULT_PORT,
                dev_province: "440000000000".to_owned(),
                dev_token_hours: 24 * 30,
            },
            telemetry,
        }
    }
}

impl SuiteSection {
    fn port_of(&self, entry: &ServiceEntry) -> u16 {
        if self.any_port {
            return 0;
        }
        self.ports.get(entry.name).copied().unwrap_or(entry.port)
    }
}

/// Where the running suite can be reached.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// gRPC address of each service, by name.
    pub services: BTreeMap<&'static str, SocketAddr>,
    /// HTTP address of the REST gateway.
    pub gateway: SocketAddr,
    /// A development token for a province administrator.
    pub admin_token: String,
}

impl Endpoints {
    /// The gRPC address of service `name`.
    pub fn service(&self, name: &str) -> SocketAddr {
        self.services[name]
    }
}

/// Development secrets kept in the data folder between runs.
#[derive(Debug, Clone)]
pub struct DevSecrets {
    /// Signs caller tokens.
    pub key_pair: KeyPair,
    /// Protects personal data at rest.
    pub master_key: Secret,
    /// The folder of each service's own key pair (`<name>.pem`, `<name>.pub.pem`).
    pub service_keys: PathBuf,
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
        let service_keys = dir.join("service-keys");
        std::fs::create_dir_all(&service_keys)?;
        for entry in services() {
            let private = service_keys.join(format!("{}.pem", entry.name));
            if !private.exists() {
                let pair = KeyPair::generate();
                write_private(&private, pair.private_pem.as_bytes())?;
                std::fs::write(
                    service_keys.join(format!("{}.pub.pem", entry.name)),
                    &pair.public_pem,
                )?;
            }
        }
        Ok(DevSecrets {
            key_pair,
            master_key,
            service_keys,
        })
    }
}

/// The configuration of one service of the suite: its SQLite file under the data folder, the
/// suite's development secrets, its own key, and where its dependencies listen.
fn service_config(
    entry: &ServiceEntry,
    suite: &SuiteSection,
    secrets: &DevSecrets,
    listen: SocketAddr,
    addresses: &BTreeMap<&'static str, SocketAddr>,
) -> ServiceConfig {
    let mut config = entry.default_config();
    config.server.listen = listen;
    config.database.url = Secret::new(format!(
        "sqlite://{}?mode=rwc",
        suite.data_dir.join(format!("{}.db", entry.name)).display()
    ));
    config.auth = AuthConfig {
        public_key_pem: Some(secrets.key_pair.public_pem.clone()),
        service_key_file: Some(secrets.service_keys.join(format!("{}.pem", entry.name))),
        service_keys_dir: Some(secrets.service_keys.clone()),
        province: suite.dev_province.clone(),
        // The printed development token lives `dev_token_hours`.
        max_token_lifetime_secs: suite.dev_token_hours * 3600,
        ..AuthConfig::default()
    };
    config.crypto.master_key = secrets.master_key.clone();
    config.audit.archive_dir = Some(suite.data_dir.join("audit-archive"));
    for dependency in entry.all_dependencies() {
        if let Some(address) = addresses.get(dependency) {
            config.dependencies.insert(
                dependency.to_owned(),
                DependencyConfig {
                    address: format!("http://{address}"),
                    ..DependencyConfig::default()
                },
            );
        }
    }
    config
}

/// A task of the suite.
type Task = tokio::task::JoinHandle<anyhow::Result<()>>;

/// Starts `entry` on `listener` and returns once it reports SERVING (or fails with the service's
/// own error).
async fn launch(
    entry: &ServiceEntry,
    config: ServiceConfig,
    listener: TcpListener,
    stop: &shutdown::Stop,
) -> anyhow::Result<Task> {
    let address = listener.local_addr()?;
    let stop = stop.clone();
    let mut task = tokio::spawn(entry.run(
        config,
        listener,
        Box::pin(async move { stop.wait().await }),
        Arc::new(SystemClock),
    ));
    let ready =
        shequ_kit::health::wait_until_serving(address, entry.grpc_name, Duration::from_secs(60));
    tokio::pin!(ready);
    tokio::select! {
        ready = &mut ready => ready?,
        exited = &mut task => {
            let name = entry.name;
            return Err(match exited {
                Ok(Ok(())) => anyhow::anyhow!("the {name} service stopped during start-up"),
                Ok(Err(error)) => error.context(format!("the {name} service failed to start")),
                Err(panic) => anyhow::anyhow!("the {name} service panicked: {panic}"),
            });
        }
    }
    Ok(task)
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

    // Every listener first, so that each service knows where its dependencies listen.
    let entries = services();
    let mut listeners = Vec::new();
    let mut addresses = BTreeMap::new();
    for entry in &entries {
        let listen = SocketAddr::new(suite.host, suite.port_of(entry));
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("{}: cannot listen on {listen}", entry.name))?;
        addresses.insert(entry.name, listener.local_addr()?);
        listeners.push(listener);
    }
    let mut tasks = Vec::new();
    for (entry, listener) in entries.iter().zip(listeners) {
        let config = service_config(entry, suite, &secrets, addresses[entry.name], &addresses);
        tasks.push(launch(entry, config, listener, &stop).await?);
    }

    // Development mode: the printed token (signed by the local key) is accepted; the gateway signs
    // the services' caller tokens with the same key.
    let mut gateway_config = shequ_gateway::GatewayConfig::development(
        entries
            .iter()
            .map(|e| (e.grpc_name, format!("http://{}", addresses[e.name]))),
        &secrets.key_pair.private_pem,
    );
    let gateway_port = if suite.any_port {
        0
    } else {
        suite.gateway_port
    };
    gateway_config.http.listen = SocketAddr::new(suite.host, gateway_port);
    gateway_config.auth.max_token_lifetime_secs = suite.dev_token_hours * 3600;
    let gateway_listener = TcpListener::bind(gateway_config.http.listen)
        .await
        .with_context(|| format!("gateway: cannot listen on {}", gateway_config.http.listen))?;
    let gateway = gateway_listener.local_addr()?;
    tasks.push({
        let stop = stop.clone();
        tokio::spawn(shequ_gateway::run(
            gateway_config,
            gateway_listener,
            async move { stop.wait().await },
        ))
    });

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
        let results = futures::future::join_all(tasks).await;
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
            services: addresses,
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
    for entry in services() {
        let listen = SocketAddr::new(suite.host, 0);
        let config = service_config(&entry, suite, &secrets, listen, &BTreeMap::new());
        let report = shequ_kit::audit::verify_database(&config).await?;
        if shequ_kit::audit::print_report(entry.name, &report) != std::process::ExitCode::SUCCESS {
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
        "  gateway     REST  http://{}   (API page: http://{}/docs)",
        endpoints.gateway, endpoints.gateway
    );
    for entry in services() {
        println!(
            "  {:<10}  gRPC  http://{}   ({})",
            entry.name,
            endpoints.service(entry.name),
            entry.grpc_name
        );
    }
    println!();
    println!(
        "Development token (province administrator of {dev_province}; send as `authorization: Bearer <token>`):"
    );
    println!("{}", endpoints.admin_token);
    println!();
    println!("Stop with Ctrl-C.");
    finished.await
}
