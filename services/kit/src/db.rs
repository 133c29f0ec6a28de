//! One `sqlx::Any` pool per service over SQLite (embedded default) or PostgreSQL (production),
//! with the service's per-backend migration folders run (or only checked) at start-up.
//!
//! Queries are portable SQL: `$N` placeholders, TEXT ids and dates, BIGINT, DOUBLE PRECISION and
//! INTEGER 0/1 flags (see ARCHITECTURE.md decision 4).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use anyhow::{Context, bail};
use futures::future::BoxFuture;
use sqlx::{
    AnyConnection, AnyPool, Connection, Transaction,
    any::{Any, AnyPoolOptions},
    migrate::Migrator,
};
use tokio::sync::Semaphore;

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
    /// PostgreSQL only: connections for [`Database::read`].
    lanes: Option<Arc<ReadLanes>>,
    /// Counts commits that published feed events in this process, so a feed's watchers wake
    /// at once instead of at their next poll.
    published: Arc<tokio::sync::watch::Sender<u64>>,
}

/// A read-only statement run by [`Database::read`] on a connection it lends. It may run twice:
/// once more on a fresh connection when the idle one it was given turns out to be dead.
pub type ReadQuery<T> = Box<
    dyn for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send + Sync,
>;

/// Connections kept apart from the pool for hot single-statement reads.
///
/// sqlx's pool sends a `Sync` round trip to PostgreSQL every time a connection is returned (a
/// safeguard for futures dropped mid-query), which doubles the round trips of a point read. A
/// lane returns its connection without it after a completed query; only a query abandoned by its
/// caller (deadline, disconnect) pays that round trip, in the background, and its lane stays
/// taken until then, so abandoned queries never open more connections than there are lanes.
/// A connection that fails for any reason other than the statement itself is dropped, and the
/// read is tried once more on a fresh connection (after a failover every idle lane is dead).
struct ReadLanes {
    url: crate::config::Secret,
    idle: Mutex<Vec<AnyConnection>>,
    permits: Arc<Semaphore>,
    /// How many lanes there are.
    size: u32,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for ReadLanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadLanes")
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// A lane's connection while a query runs on it. Dropped with the connection still inside (the
/// query was abandoned), it drains the connection in the background before freeing the lane.
struct Loan {
    lanes: Arc<ReadLanes>,
    connection: Option<AnyConnection>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Loan {
    fn drop(&mut self) {
        let (Some(mut connection), Some(permit)) = (self.connection.take(), self.permit.take())
        else {
            return;
        };
        let lanes = Arc::clone(&self.lanes);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // `ping` waits for the abandoned statement's replies, leaving the connection idle.
                let drained = tokio::time::timeout(lanes.acquire_timeout, connection.ping()).await;
                if matches!(drained, Ok(Ok(()))) {
                    lanes.give_back(connection);
                }
                drop(permit);
            });
        }
    }
}

/// Whether a connection can serve the next statement after this outcome: errors of the statement
/// itself (constraint, decoding, a statement timeout) leave it usable; I/O and protocol errors or
/// a terminated session do not.
fn reusable<T>(outcome: &Result<T, sqlx::Error>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(sqlx::Error::Database(error)) => !error
            .code()
            .is_some_and(|code| crate::error::unavailable_code(&code)),
        Err(error) => matches!(
            error,
            sqlx::Error::RowNotFound
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::Decode(_)
        ),
    }
}

impl ReadLanes {
    async fn run<T>(self: &Arc<Self>, query: ReadQuery<T>) -> Result<T, sqlx::Error> {
        let permit = tokio::time::timeout(
            self.acquire_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
        .map_err(|_| sqlx::Error::PoolClosed)?;
        let mut loan = Loan {
            lanes: Arc::clone(self),
            connection: None,
            permit: Some(permit),
        };
        let idle = self.idle.lock().expect("read lanes lock").pop();
        let was_idle = idle.is_some();
        let connection = match idle {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        let mut outcome = query(loan.connection.insert(connection)).await;
        if was_idle && !reusable(&outcome) {
            // The idle connection had died (server restart, failover, idle timeout): a read is
            // safe to repeat, once, on a fresh one.
            loan.connection = None;
            let connection = self.connect().await?;
            outcome = query(loan.connection.insert(connection)).await;
        }
        let connection = loan.connection.take();
        if let Some(connection) = connection.filter(|_| reusable(&outcome)) {
            self.give_back(connection);
        }
        outcome
    }

    async fn connect(&self) -> Result<AnyConnection, sqlx::Error> {
        tokio::time::timeout(
            self.acquire_timeout,
            AnyConnection::connect(self.url.expose()),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Returns a connection to the idle list, unless the lanes have been closed meanwhile.
    fn give_back(&self, connection: AnyConnection) {
        if !self.permits.is_closed() {
            self.idle.lock().expect("read lanes lock").push(connection);
        }
    }

    /// Stops new reads, waits for those in progress (at most the acquire timeout), closes all.
    async fn close(&self) {
        // Holding every lane means no read is in progress; closing means none starts again.
        let all =
            tokio::time::timeout(self.acquire_timeout, self.permits.acquire_many(self.size)).await;
        self.permits.close();
        drop(all);
        let idle = std::mem::take(&mut *self.idle.lock().expect("read lanes lock"));
        for connection in idle {
            let _ = connection.close().await;
        }
    }
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
        let lanes = (backend == Backend::Postgres && config.read_lanes > 0).then(|| {
            Arc::new(ReadLanes {
                url: config.url.clone(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(config.read_lanes as usize)),
                size: config.read_lanes,
                acquire_timeout: Duration::from_millis(config.acquire_timeout_ms),
            })
        });
        Ok(Database {
            pool,
            backend,
            lanes,
            published: Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    /// Runs one read-only statement. On PostgreSQL it runs on a read lane (see `ReadLanes`:
    /// one round trip instead of two); on SQLite, where the pool's release check costs no round
    /// trip, or with `read_lanes = 0`, on the pool. Use it for hot point reads; transactions and
    /// writes use the pool.
    pub async fn read<T: Send>(&self, query: ReadQuery<T>) -> Result<T, sqlx::Error> {
        match &self.lanes {
            Some(lanes) => lanes.run(query).await,
            None => {
                let mut connection = self.pool.acquire().await?;
                query(&mut connection).await
            }
        }
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Wakes the feed's watchers: events were committed.
    pub(crate) fn signal_published(&self) {
        self.published.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever this process commits feed events.
    pub(crate) fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so that two read-then-write transactions wait for each other instead of failing.
    ///
    /// Kit-internal: a service changes its data only through [`crate::call::AuditedTx`], whose
    /// commit writes the audit entry.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
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
        if let Some(lanes) = &self.lanes {
            lanes.close().await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::Secret, testing::TestDatabase};

    async fn database(test: &TestDatabase, connections: u32, read_lanes: u32) -> Database {
        Database::connect(&DatabaseConfig {
            url: Secret::new(test.url()),
            max_connections: connections,
            read_lanes,
            ..DatabaseConfig::default()
        })
        .await
        .expect("connect")
    }

    fn number(sql: impl Into<String>) -> ReadQuery<i64> {
        let sql: String = sql.into();
        Box::new(move |connection| {
            let sql = sqlx::AssertSqlSafe(sql.clone());
            Box::pin(async move { sqlx::query_scalar(sql).fetch_one(connection).await })
        })
    }

    /// Server sessions of this database other than the asking one.
    async fn sessions(db: &Database) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(db.pool())
        .await
        .unwrap()
    }

    /// PostgreSQL: a statement that cannot finish while the test holds advisory lock 42 (taken
    /// with [`hold_gate`] on the pool's connection), answering 7 once it is released.
    const GATED: &str =
        "SELECT CAST(7 AS BIGINT) FROM (SELECT pg_advisory_xact_lock_shared(42)) AS gate";

    /// Takes advisory lock 42 on the pool's only connection (a session lock: it stays with that
    /// connection, back in the pool, until [`release_gate`]).
    async fn hold_gate(db: &Database) {
        sqlx::query("SELECT CAST(1 AS BIGINT) FROM (SELECT pg_advisory_lock(42)) AS gate")
            .execute(db.pool())
            .await
            .unwrap();
    }

    async fn release_gate(db: &Database) {
        sqlx::query("SELECT CAST(1 AS BIGINT) FROM (SELECT pg_advisory_unlock(42)) AS gate")
            .execute(db.pool())
            .await
            .unwrap();
    }

    /// Returns once `count` sessions of this database wait at the gate.
    async fn until_waiting_at_gate(db: &Database, count: i64) {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            if waiting >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Runs `read` until it is certainly under way at the server (waiting at the gate), then
    /// abandons it, as a caller whose deadline passed would.
    async fn abandon_at_gate<T>(
        db: &Database,
        read: impl std::future::Future<Output = Result<T, sqlx::Error>>,
        waiting: i64,
    ) {
        tokio::select! {
            _ = read => panic!("a gated read finished while the gate was held"),
            () = until_waiting_at_gate(db, waiting) => {}
        }
    }

    #[tokio::test]
    async fn a_read_abandoned_by_its_caller_does_not_leak_its_answer_into_the_next_on_sqlite() {
        // On SQLite, in WAL mode, readers never wait; a write does, for the write lock the test
        // holds, so the abandoned statement is a write answering 7 that cannot finish before the
        // test lets it.
        let test = TestDatabase::sqlite();
        let db = database(&test, 1, 0).await;
        sqlx::query("CREATE TABLE answers (value BIGINT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        let mut holder = AnyConnection::connect(test.url()).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let slow = "INSERT INTO answers (value) VALUES (7) RETURNING value";
        // The statement reaches the connection's worker, which then waits for the lock whatever
        // the caller does (it cannot finish: the lock is held); the caller gives up.
        let mut read = Box::pin(db.read(number(slow)));
        let gave_up = tokio::time::timeout(Duration::from_millis(200), &mut read).await;
        assert!(
            gave_up.is_err(),
            "a write finished while the test held the write lock"
        );
        drop(read);
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        // The one connection is reused: it must answer the new statement, not the old one.
        for expected in [2_i64, 3, 4] {
            let sql = format!("SELECT CAST({expected} AS BIGINT)");
            assert_eq!(db.read(number(sql)).await.expect("read"), expected);
        }
        // The abandoned statement did run (so its answer was there to leak).
        assert_eq!(
            db.read(number("SELECT COUNT(*) FROM answers"))
                .await
                .unwrap(),
            1
        );
        db.close().await;
        holder.close().await.unwrap();
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]
    async fn a_read_abandoned_by_its_caller_does_not_leak_its_answer_into_the_next_on_postgres() {
        let test = TestDatabase::postgres().await;
        // One lane: the next read reuses the abandoned read's connection once it has drained.
        let db = database(&test, 1, 1).await;
        hold_gate(&db).await;
        abandon_at_gate(&db, db.read(number(GATED)), 1).await;
        release_gate(&db).await;
        for expected in [2_i64, 3, 4] {
            let sql = format!("SELECT CAST({expected} AS BIGINT)");
            assert_eq!(db.read(number(sql)).await.expect("read"), expected);
        }
        db.close().await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]
    async fn reads_recover_when_the_server_drops_their_connections() {
        // only a server can drop a connection
        let test = TestDatabase::postgres().await;
        let db = database(&test, 2, 4).await;
        assert_eq!(
            db.read(number("SELECT CAST(1 AS BIGINT)")).await.unwrap(),
            1
        );
        // A statement error leaves the connection in service.
        assert!(
            db.read(number("SELECT CAST(1 / 0 AS BIGINT)"))
                .await
                .is_err()
        );
        assert_eq!(
            db.read(number("SELECT CAST(1 AS BIGINT)")).await.unwrap(),
            1
        );
        // An administrator (or a failover) ends every session but this one.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(db.pool())
        .await
        .unwrap();
        // The dead idle connection is noticed and the read repeated on a fresh one: no caller
        // sees the disconnect.
        for _ in 0..10 {
            assert_eq!(
                db.read(number("SELECT CAST(5 AS BIGINT)")).await.unwrap(),
                5
            );
        }
        db.close().await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL (SHEQU_TEST_POSTGRES_URL)"]
    async fn abandoned_reads_never_open_more_connections_than_there_are_lanes() {
        // lanes exist on PostgreSQL only
        let test = TestDatabase::postgres().await;
        let db = Database::connect(&DatabaseConfig {
            url: Secret::new(test.url()),
            max_connections: 1,
            read_lanes: 2,
            acquire_timeout_ms: 60_000,
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        hold_gate(&db).await;
        // Two callers give up while their statements wait at the server: each keeps its lane
        // until the statement is drained ...
        for waiting in 1..=2 {
            abandon_at_gate(&db, db.read(number(GATED)), waiting).await;
        }
        // ... so four more find no lane, and give up too, without opening a connection.
        for _ in 0..4 {
            let mut read = Box::pin(db.read(number(GATED)));
            for _ in 0..10 {
                assert!(futures::poll!(&mut read).is_pending());
                tokio::task::yield_now().await;
            }
        }
        // The pool's one connection plus the two lanes, however many callers gave up.
        assert_eq!(
            sessions(&db).await,
            2,
            "the two lanes besides this connection"
        );
        release_gate(&db).await;
        // The lanes come back once the abandoned statements finish, answering correctly.
        assert_eq!(
            db.read(number("SELECT CAST(8 AS BIGINT)")).await.unwrap(),
            8
        );
        db.close().await;
    }
}
