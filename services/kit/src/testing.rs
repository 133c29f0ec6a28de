//! Test support shared by the services' integration tests and the cross-service journeys
//! (feature `testing`): a fresh database per test on SQLite, or on PostgreSQL when
//! `SHEQU_TEST_POSTGRES_URL` is set, and a key pair with a token issuer.

use std::{path::PathBuf, time::Duration};

use sqlx::{AnyConnection, Connection};

use crate::{
    auth::{Caller, DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeyPair, Role, TokenIssuer},
    config::{AuthConfig, Secret},
    crypto::Keys,
    regions::RegionCode,
};

/// The variable that points the tests at a PostgreSQL server (any database on it; each test
/// creates and drops its own).
pub const POSTGRES_ENV: &str = "SHEQU_TEST_POSTGRES_URL";

/// A database that exists for one test and is removed afterwards.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh, empty database: SQLite in a temporary folder, or a new PostgreSQL database when
    /// [`POSTGRES_ENV`] is set.
    pub async fn create() -> TestDatabase {
        match std::env::var(POSTGRES_ENV) {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(admin_url).await,
            _ => Self::sqlite(),
        }
    }

    /// A fresh SQLite database whatever the environment says.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path: PathBuf = dir.path().join("test.db");
        TestDatabase {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    async fn postgres(admin_url: String) -> TestDatabase {
        sqlx::any::install_default_drivers();
        let name = format!("shequ_test_{}", crate::convert::new_id());
        let mut admin = AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} does not connect: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = replace_database(&admin_url, &name);
        TestDatabase {
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    /// Connection URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            if std::env::var("SHEQU_TEST_KEEP_DB").is_ok() {
                return;
            }
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on itself: use a thread with
            // its own runtime.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut admin = AnyConnection::connect(&admin_url).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await?;
                    admin.close().await?;
                    Ok::<_, anyhow::Error>(())
                })
            })
            .join();
            if let Ok(Err(error)) = dropped {
                eprintln!("could not drop test database {}: {error}", self.url);
            }
        }
    }
}

/// `postgres://host/db?x` with `db` replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| scheme_end + i);
    let host = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

/// Keys and tokens for a test suite.
#[derive(Debug, Clone)]
pub struct TestKeys {
    /// Signs caller tokens.
    pub pair: KeyPair,
    /// Issues caller tokens.
    pub issuer: TokenIssuer,
    /// Master key of the service under test.
    pub master_key: Secret,
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    /// Fresh keys.
    pub fn new() -> Self {
        let pair = KeyPair::generate();
        let issuer =
            TokenIssuer::new(&pair, DEFAULT_ISSUER, DEFAULT_AUDIENCE).expect("fresh key loads");
        TestKeys {
            pair,
            issuer,
            master_key: Keys::generate_master(),
        }
    }

    /// The auth section a service under test needs to accept these tokens.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            public_key_pem: Some(self.pair.public_pem.clone()),
            ..AuthConfig::default()
        }
    }

    /// A token for `role` over `scope`.
    pub fn token(&self, role: Role, scope: &str) -> String {
        self.token_for(&caller(role, scope))
    }

    /// A token for any caller.
    pub fn token_for(&self, caller: &Caller) -> String {
        self.issuer.issue(caller, Duration::from_secs(3600))
    }
}

/// A caller with one role over `scope`.
pub fn caller(role: Role, scope: &str) -> Caller {
    Caller {
        subject: format!("test:{role}:{scope}"),
        roles: vec![role],
        scope: RegionCode::parse(scope).expect("test scope is a region code"),
        secretary: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            replace_database("postgres://127.0.0.1:5432/test", "x"),
            "postgres://127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
