//! Gateway settings, loaded like every service's: compiled-in defaults, then the TOML file named
//! by `SHEQU_CONFIG`, then `SHEQU_<SECTION>__<KEY>` variables (see `shequ_kit::config`).
//!
//! Backends are keyed by the gRPC service they serve, either by full name
//! (`"shequ.personnel.v1.PersonnelService" = "http://127.0.0.1:50051"` in TOML, or in code) or by
//! the short name of its package (`personnel`), which is the form an environment variable can
//! carry: `SHEQU_BACKENDS__PERSONNEL=http://10.0.0.5:50051`.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};
use shequ_kit::config::TelemetryConfig;

/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8080;

/// HTTP server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address (the binary binds it; [`crate::run`] takes a bound listener).
    pub listen: SocketAddr,
    /// Deadline of a backend call unless the client asks for less (`x-request-timeout`).
    pub default_deadline_ms: u64,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace_ms: u64,
    /// A second, internal listener for operators: `/metrics`, `/healthz` and `/readyz`. When set,
    /// `/metrics` is served there only and no longer on the public listener (which keeps
    /// `/healthz`, `/readyz`, `/openapi.json` and `/docs`, none of which reveals data).
    pub admin_listen: Option<SocketAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            default_deadline_ms: 10_000,
            max_body_bytes: 1 << 20,
            shutdown_grace_ms: 10_000,
            admin_listen: None,
        }
    }
}

impl HttpConfig {
    /// The default deadline.
    pub fn default_deadline(&self) -> Duration {
        Duration::from_millis(self.default_deadline_ms)
    }
}

/// Cross-origin access for browser consoles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser, e.g. `https://console.example.gov.cn`.
    /// Empty: no cross-origin access. In an environment variable, comma-separated.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_origins: Vec<String>,
}

/// Settings of the gateway. Every key lives in a section, so its environment variable is
/// `SHEQU_<SECTION>__<KEY>`, e.g. `SHEQU_HTTP__MAX_BODY_BYTES`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// HTTP server.
    #[serde(default)]
    pub http: HttpConfig,
    /// gRPC service (full name or package short name) → backend URL, e.g. `http://127.0.0.1:50051`,
    /// or several separated by commas; a host name stands for every address behind it. None is
    /// built in: a route whose service has no backend answers 503 BACKEND_NOT_CONFIGURED.
    #[serde(default)]
    pub backends: BTreeMap<String, String>,
    /// CORS allow-list.
    #[serde(default)]
    pub cors: CorsConfig,
    /// Logging and tracing.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Authentication of clients and the caller tokens sent to the services.
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
}

impl GatewayConfig {
    /// A configuration with default settings and exactly these backends (full service name or
    /// short name → URL). For the all-in-one launcher and tests.
    pub fn with_backends<K: Into<String>, V: Into<String>>(
        backends: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        GatewayConfig {
            backends: backends
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..GatewayConfig::default()
        }
    }

    /// A development configuration: `backends`, and the suite's own key (`signing_key_pem`, PKCS#8)
    /// both signing the internal caller tokens and accepted from clients (the launcher's token).
    pub fn development<K: Into<String>, V: Into<String>>(
        backends: impl IntoIterator<Item = (K, V)>,
        signing_key_pem: &str,
    ) -> Self {
        let mut config = Self::with_backends(backends);
        config.auth.mode = crate::auth::Mode::Development;
        config.auth.signing_key_pem = Some(shequ_kit::config::Secret::new(signing_key_pem));
        config
    }
}

impl GatewayConfig {
    /// Loads the configuration from the defaults, the optional TOML `file` and the process
    /// environment (`SHEQU_<SECTION>__<KEY>`).
    pub fn load(
        file: Option<&std::path::Path>,
    ) -> Result<GatewayConfig, shequ_kit::config::ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`GatewayConfig::load`] with the environment given. `DATABASE_URL`, which the services'
    /// loader maps onto their database section, is ignored: the gateway has no database, and a
    /// variable meant for a service must not stop it from starting.
    pub fn load_from(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<GatewayConfig, shequ_kit::config::ConfigError> {
        let env = env.into_iter().filter(|(key, _)| key != "DATABASE_URL");
        shequ_kit::config::load_from(&GatewayConfig::default(), file, env)
    }
}

/// Accepts a list or one comma-separated string (what an environment variable can carry).
fn list_or_csv<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(deserializer)? {
        Either::List(list) => list,
        Either::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shequ_kit::config::load_from;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_8080_with_a_ten_second_deadline_and_no_backend_built_in() {
        let config: GatewayConfig = load_from(&GatewayConfig::default(), None, env(&[])).unwrap();
        assert_eq!(config.http.listen.port(), 8080);
        assert_eq!(config.http.default_deadline(), Duration::from_secs(10));
        assert_eq!(
            config.http.max_body_bytes, 1_048_576,
            "1 MiB, as documented"
        );
        assert!(
            config.backends.is_empty(),
            "each deployment names its backends"
        );
    }

    #[test]
    fn environment_variables_override_sections_and_backends() {
        let config: GatewayConfig = load_from(
            &GatewayConfig::default(),
            None,
            env(&[
                ("SHEQU_HTTP__DEFAULT_DEADLINE_MS", "2500"),
                ("SHEQU_BACKENDS__PERSONNEL", "http://10.1.2.3:50051"),
                (
                    "SHEQU_CORS__ALLOWED_ORIGINS",
                    "https://a.example, https://b.example",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(config.http.default_deadline_ms, 2500);
        assert_eq!(config.backends["personnel"], "http://10.1.2.3:50051");
        assert_eq!(
            config.cors.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn a_database_url_meant_for_a_service_does_not_stop_the_gateway() {
        let config = GatewayConfig::load_from(
            None,
            env(&[
                ("DATABASE_URL", "postgres://db/x"),
                ("SHEQU_HTTP__MAX_BODY_BYTES", "10"),
            ]),
        )
        .unwrap();
        assert_eq!(config.http.max_body_bytes, 10);
        assert!(
            GatewayConfig::load_from(None, env(&[("SHEQU_HTTP__MAX_BODY_BITES", "10")])).is_err(),
            "typos are still errors"
        );
    }

    #[test]
    fn a_toml_file_can_key_backends_by_full_service_name() {
        let dir = std::env::temp_dir().join(format!("shequ-gw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gateway.toml");
        std::fs::write(
            &file,
            "[http]\nmax_body_bytes = 4096\n[backends]\n\"shequ.personnel.v1.PersonnelService\" = \"http://127.0.0.1:6000\"\n[cors]\nallowed_origins = [\"https://c.example\"]\n",
        )
        .unwrap();
        // through the binary's loader, over the built-in defaults (a backend keyed by full name
        // once collided with a built-in short-named default)
        let config = GatewayConfig::load_from(Some(&file), env(&[])).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(config.http.max_body_bytes, 4096);
        assert_eq!(
            config
                .backends
                .get("shequ.personnel.v1.PersonnelService")
                .map(String::as_str),
            Some("http://127.0.0.1:6000")
        );
        assert_eq!(config.cors.allowed_origins, ["https://c.example"]);
    }
}
