//! Layered configuration: compiled-in defaults, then an optional TOML file, then `DATABASE_URL`,
//! then `SHEQU_<SECTION>__<KEY>` environment variables (which win). Secrets are wrapped in
//! [`Secret`] so that printing a config never prints them.

use std::{fmt, net::SocketAddr, path::Path};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A value that must not appear in logs: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no value was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("[unset]")
        } else {
            f.write_str("[redacted]")
        }
    }
}

/// What to do with schema migrations at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrateMode {
    /// Apply pending migrations (the default).
    #[default]
    Run,
    /// Only verify that every migration this binary knows is applied with the same checksum;
    /// refuse to start otherwise. For deployments where a separate job migrates.
    Check,
}

/// Database connection settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db?mode=rwc` or `postgres://user@host/db`. Contains credentials.
    pub url: Secret,
    /// Pool size (transactions, writes, lists). PostgreSQL on 2 cores peaks at about 4
    /// concurrent queries, and the GetSecretary benchmark read 15% faster with 4 connections than
    /// with 8.
    pub max_connections: u32,
    /// PostgreSQL only: connections reserved for hot point reads beside the pool (see
    /// `Database::read`), so a service holds up to `max_connections + read_lanes`. 0 sends
    /// those reads through the pool.
    pub read_lanes: u32,
    /// How long a call waits for a pooled connection before failing with UNAVAILABLE.
    pub acquire_timeout_ms: u64,
    /// Migrations at start-up.
    pub migrate: MigrateMode,
    /// How often readiness pings the database.
    pub health_interval_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: Secret::default(),
            max_connections: 4,
            read_lanes: 4,
            acquire_timeout_ms: 3_000,
            migrate: MigrateMode::Run,
            health_interval_ms: 2_000,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line (production).
    #[default]
    Json,
    /// Human-readable lines (local development).
    Text,
}

/// Logging and tracing settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `tracing` filter directives, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// Output format.
    pub log_format: LogFormat,
    /// OTLP/gRPC collector endpoint, e.g. `http://127.0.0.1:4317`; no export when unset.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_filter: "info,sqlx=warn".to_owned(),
            log_format: LogFormat::Json,
            otlp_endpoint: None,
        }
    }
}

/// How callers are authenticated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// PEM file of the Ed25519 public key that signs caller tokens.
    pub public_key_file: Option<std::path::PathBuf>,
    /// The same key inline (takes precedence over the file).
    pub public_key_pem: Option<String>,
    /// Expected `iss` of caller tokens.
    pub issuer: String,
    /// Expected `aud` of caller tokens.
    pub audience: String,
    /// This service's own Ed25519 private key (PKCS#8 PEM file), with which it calls other
    /// services as itself (event followers, background jobs). Needed only by a service that has
    /// dependencies.
    pub service_key_file: Option<std::path::PathBuf>,
    /// The same key inline (takes precedence over the file).
    pub service_key_pem: Option<Secret>,
    /// A folder of the public keys of the services this one trusts, one `<service>.pub.pem` per
    /// service; what each may do is this service's grant table.
    pub service_keys_dir: Option<std::path::PathBuf>,
    /// The same keys inline: service name → public key PEM (added to those of the folder).
    pub service_keys: std::collections::BTreeMap<String, String>,
    /// The province this deployment serves: the region scope of the service when it acts as
    /// itself.
    pub province: String,
    /// Longest lifetime (`exp` − `iat`) of a caller token that is accepted (one day; the
    /// launcher raises it for its long-lived development token).
    pub max_token_lifetime_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            public_key_file: None,
            public_key_pem: None,
            issuer: crate::auth::DEFAULT_ISSUER.to_owned(),
            audience: crate::auth::DEFAULT_AUDIENCE.to_owned(),
            service_key_file: None,
            service_key_pem: None,
            service_keys_dir: None,
            service_keys: std::collections::BTreeMap::new(),
            province: "440000000000".to_owned(),
            max_token_lifetime_secs: crate::auth::DEFAULT_MAX_TOKEN_LIFETIME_SECS,
        }
    }
}

impl AuthConfig {
    /// The public keys of the trusted services (folder first, inline keys win).
    pub fn service_public_keys(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut keys = std::collections::BTreeMap::new();
        if let Some(dir) = &self.service_keys_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                anyhow::anyhow!("cannot read auth.service_keys_dir {}: {e}", dir.display())
            })?;
            for entry in entries {
                let path = entry?.path();
                let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if let Some(name) = file.strip_suffix(".pub.pem") {
                    let pem = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    keys.insert(name.to_owned(), pem);
                }
            }
        }
        keys.extend(self.service_keys.clone());
        Ok(keys.into_iter().collect())
    }

    /// This service's own private key, if configured.
    pub fn service_private_key(&self) -> anyhow::Result<Option<String>> {
        Ok(match (&self.service_key_pem, &self.service_key_file) {
            (Some(pem), _) => Some(pem.expose().to_owned()),
            (None, Some(file)) => Some(std::fs::read_to_string(file).map_err(|e| {
                anyhow::anyhow!("cannot read auth.service_key_file {}: {e}", file.display())
            })?),
            (None, None) => None,
        })
    }
}

/// Where a service this one calls (a dependency) listens, and how long a call to it may take.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DependencyConfig {
    /// `http://host:port`, or several separated by commas. A host name is resolved to every
    /// address behind it (a Kubernetes headless Service lists one per pod) and re-resolved as
    /// replicas come and go; calls are spread over them.
    pub address: String,
    /// Longest call, unless the call being served has less time left.
    pub deadline_ms: u64,
    /// How often host names are resolved again.
    pub resolve_interval_ms: u64,
}

impl Default for DependencyConfig {
    fn default() -> Self {
        DependencyConfig {
            address: String::new(),
            deadline_ms: 5_000,
            resolve_interval_ms: 5_000,
        }
    }
}

/// The settings of a service that has none of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// Keys for data protection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoConfig {
    /// 32-byte master key, hex. Personal-data encryption, blind indexes and page tokens use keys
    /// derived from it. Required: a service refuses to start without it.
    pub master_key: Secret,
}

/// gRPC server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// How long in-flight calls may take to finish after shutdown begins.
    #[serde(default = "default_grace_ms")]
    pub shutdown_grace_ms: u64,
}

fn default_grace_ms() -> u64 {
    10_000
}

/// Audit-log retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries younger than this are kept in the database; at least 180 (a service refuses to
    /// start with less).
    pub retention_days: u32,
    /// Where older entries are archived (JSON lines) before they are purged. Without it nothing
    /// is ever purged.
    pub archive_dir: Option<std::path::PathBuf>,
    /// How often the retention job runs.
    pub job_interval_hours: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: crate::audit::MIN_RETENTION_DAYS,
            archive_dir: None,
            job_interval_hours: 24,
        }
    }
}

/// Where region codes come from beyond the shipped NBS 2023 table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegionsConfig {
    /// A province's own `code<TAB>name` file of newer divisions, merged over the shipped table.
    pub extra_file: Option<std::path::PathBuf>,
}

/// Settings of one service: the kit's sections, and the service's own typed section `[service]`
/// (`S`). Every key lives in a section, so the environment variable of a key is
/// `SHEQU_<SECTION>__<KEY>`, e.g. `SHEQU_DATABASE__URL` or `SHEQU_SERVICE__ADJUSTMENT_SHARE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "S: Deserialize<'de> + Default")
)]
pub struct ServiceConfig<S = NoSettings> {
    /// gRPC server.
    pub server: ServerConfig,
    /// Database.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Logging and tracing.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Caller authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Data-protection keys.
    #[serde(default)]
    pub crypto: CryptoConfig,
    /// Region table.
    #[serde(default)]
    pub regions: RegionsConfig,
    /// Audit-log retention.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The services this one calls, by name (`[dependencies.personnel]`).
    #[serde(default)]
    pub dependencies: std::collections::BTreeMap<String, DependencyConfig>,
    /// The service's own settings.
    #[serde(default)]
    pub service: S,
}

impl<S: Default> ServiceConfig<S> {
    /// Defaults for a service listening on `port` with an SQLite file `data/<name>.db`.
    pub fn with_defaults(name: &str, port: u16) -> Self {
        ServiceConfig {
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], port)),
                shutdown_grace_ms: default_grace_ms(),
            },
            database: DatabaseConfig {
                url: Secret::new(format!("sqlite://data/{name}.db?mode=rwc")),
                ..DatabaseConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            crypto: CryptoConfig::default(),
            regions: RegionsConfig::default(),
            audit: AuditConfig::default(),
            dependencies: std::collections::BTreeMap::new(),
            service: S::default(),
        }
    }

    /// The same configuration with other service settings (the kit's own code needs only its
    /// sections).
    pub fn map_service<T>(self, service: T) -> ServiceConfig<T> {
        ServiceConfig {
            server: self.server,
            database: self.database,
            telemetry: self.telemetry,
            auth: self.auth,
            crypto: self.crypto,
            regions: self.regions,
            audit: self.audit,
            dependencies: self.dependencies,
            service,
        }
    }
}

/// Configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// Loads `T` from `defaults`, the optional `file`, `DATABASE_URL` and `SHEQU_*` variables.
pub fn load<T>(defaults: &T, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    load_from(defaults, file, std::env::vars())
}

/// As [`load`], with the environment given explicitly (tests must not mutate the process
/// environment, which other threads read).
pub fn load_from<T>(
    defaults: &T,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    let err = |e: config::ConfigError| ConfigError(e.to_string());
    let mut builder =
        config::Config::builder().add_source(config::Config::try_from(defaults).map_err(err)?);
    if let Some(file) = file {
        builder = builder.add_source(
            config::File::from(file)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    let env: Vec<(String, String)> = env.into_iter().collect();
    // DATABASE_URL is the conventional way to point a separately deployed service at its database;
    // an explicit SHEQU_DATABASE__URL still wins.
    if let Some((_, url)) = env.iter().find(|(k, _)| k == "DATABASE_URL") {
        builder = builder
            .set_override("database.url", url.as_str())
            .map_err(err)?;
    }
    for (key, value) in &env {
        // Only SHEQU_<SECTION>__<KEY> variables are configuration; others such as
        // SHEQU_TEST_POSTGRES_URL belong to tools.
        let Some(path) = key.strip_prefix("SHEQU_").filter(|p| p.contains("__")) else {
            continue;
        };
        let path = path.to_ascii_lowercase().replace("__", ".");
        builder = builder.set_override(path, value.as_str()).map_err(err)?;
    }
    let merged = builder.build().map_err(err)?;
    merged.try_deserialize().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_wins_over_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:6000\"\n[database]\nmax_connections = 3\nurl = \"sqlite://file.db\"\n",
        )
        .unwrap();
        let defaults = ServiceConfig::with_defaults("personnel", 50051);
        let config: ServiceConfig = load_from(
            &defaults,
            Some(&file),
            env(&[
                ("SHEQU_DATABASE__MAX_CONNECTIONS", "5"),
                ("SHEQU_TEST_POSTGRES_URL", "postgres://not/config"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 6000, "file over default");
        assert_eq!(config.database.max_connections, 5, "environment over file");
        assert_eq!(config.database.url.expose(), "sqlite://file.db");
        assert_eq!(config.server.shutdown_grace_ms, 10_000, "default kept");
    }

    #[test]
    fn database_url_is_honoured_but_shequ_variable_wins() {
        let defaults = ServiceConfig::with_defaults("personnel", 50051);
        let config: ServiceConfig =
            load_from(&defaults, None, env(&[("DATABASE_URL", "postgres://a/b")])).unwrap();
        assert_eq!(config.database.url.expose(), "postgres://a/b");
        let config: ServiceConfig = load_from(
            &defaults,
            None,
            env(&[
                ("DATABASE_URL", "postgres://a/b"),
                ("SHEQU_DATABASE__URL", "postgres://c/d"),
            ]),
        )
        .unwrap();
        assert_eq!(config.database.url.expose(), "postgres://c/d");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut config: ServiceConfig = ServiceConfig::with_defaults("personnel", 50051);
        config.database.url = Secret::new("postgres://user:hunter2@db/shequ");
        config.crypto.master_key = Secret::new("00112233");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("00112233"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn an_unknown_key_is_an_error_not_silently_ignored() {
        let defaults = ServiceConfig::with_defaults("personnel", 50051);
        let result: Result<ServiceConfig, _> = load_from(
            &defaults,
            None,
            env(&[("SHEQU_DATABASE__MAX_CONECTIONS", "5")]),
        );
        assert!(result.is_err());
    }
}
