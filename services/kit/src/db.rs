//! One `sqlx::Any` pool per service over SQLite (embedded default) or PostgreSQL (production),
//! with the service's per-backend migration folders run (or only checked) at start-up.
//!
//! Queries are portable SQL: `$N` placeholders, TEXT ids and dates, BIGINT, DOUBLE PRECISION and
//! INTEGER 0/1 flags (see ARCHITECTURE.md decision 4).

use std::{collections::HashMap, path::Path, sync::Once, time::Duration};

use anyhow::{Context, bail};
use sqlx::{
    AnyPool, Transaction,
    any::{Any, AnyPoolOptions},
    migrate::Migrator,
};

use crate::config::{DatabaseConfig, MigrateMode};

/// The database engine behind a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (embedded default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A set of migrations, one folder per backend, embedded with `sqlx::migrate!`, tracked in its
/// own history table.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// `migrations/sqlite`.
    pub sqlite: &'static Migrator,
    /// `migrations/postgres`.
    pub postgres: &'static Migrator,
    /// History table, `_sqlx_migrations` for a service's own schema.
    pub table: &'static str,
}

static KIT_SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static KIT_POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The kit's own tables (audit log, idempotency records) that every service carries, tracked apart
/// from the service's schema so that version numbers never collide.
pub const KIT_MIGRATIONS: Migrations = Migrations {
    sqlite: &KIT_SQLITE,
    postgres: &KIT_POSTGRES,
    table: "_shequ_kit_migrations",
};

/// A service's database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

static INSTALL_DRIVERS: Once = Once::new();

impl Database {
    /// Connects a pool as `config` says. SQLite files and their folders are created when missing;
    /// SQLite runs in WAL mode with synchronous=FULL, so an acknowledged commit survives a crash.
    pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<Database> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let url = config.url.expose();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            bail!("database.url must start with sqlite: or postgres:");
        };
        if backend == Backend::Sqlite {
            ensure_sqlite_folder(url)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
            // A ping before every acquire doubles the round trips of a point read; broken
            // connections surface as errors and are dropped, and readiness pings the database on
            // its own schedule.
            .test_before_acquire(false)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to the {backend:?} database"))?;
        Ok(Database { pool, backend })
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so that two read-then-write transactions wait for each other instead of failing.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .is_ok()
    }

    /// Runs pending migrations, or in check mode verifies that the schema is at least what this
    /// binary expects. Migrations applied by a newer binary are tolerated, so an older binary can
    /// run against a newer (expanded) schema during a rolling upgrade or a rollback.
    pub async fn migrate(&self, migrations: &Migrations, mode: MigrateMode) -> anyhow::Result<()> {
        let embedded = match self.backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        match mode {
            MigrateMode::Run => {
                let mut migrator = Migrator::with_migrations(embedded.iter().cloned().collect());
                migrator.set_ignore_missing(true);
                migrator.dangerous_set_table_name(migrations.table);
                migrator
                    .run(&self.pool)
                    .await
                    .context("migrations failed")?;
                Ok(())
            }
            MigrateMode::Check => self.check_migrations(embedded, migrations.table).await,
        }
    }

    /// Migrates (or checks) the kit's tables and then the service's own schema.
    pub async fn prepare(&self, service: &Migrations, mode: MigrateMode) -> anyhow::Result<()> {
        self.migrate(&KIT_MIGRATIONS, mode)
            .await
            .context("shared (kit) schema")?;
        self.migrate(service, mode).await
    }

    async fn check_migrations(&self, embedded: &Migrator, table: &str) -> anyhow::Result<()> {
        let sql =
            format!("SELECT version, checksum FROM {table} WHERE success = TRUE ORDER BY version");
        let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .context("cannot read the migration history (has the schema been migrated at all?)")?;
        let applied: HashMap<i64, Vec<u8>> = applied.into_iter().collect();
        for migration in embedded.iter() {
            match applied.get(&migration.version) {
                None => bail!(
                    "migration {} ({}) is not applied; run with database.migrate = \"run\"",
                    migration.version,
                    migration.description
                ),
                Some(checksum) if checksum.as_slice() != &*migration.checksum => bail!(
                    "migration {} ({}) was applied with different contents",
                    migration.version,
                    migration.description
                ),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn ensure_sqlite_folder(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the database folder {}", parent.display()))?;
    }
    Ok(())
}
