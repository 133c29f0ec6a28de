//! Persistence of the warnings service, in portable SQL over its own database (`sqlx::Any`).
//! Every change runs on the [`AuditedTx`] of the call that makes it.

mod brain;
mod policy;
mod roster;
mod scheduling;
mod statistics;
mod warnings;
mod webhooks;

pub(crate) use brain::indicators_in;
pub use brain::{StoredReading, Terminal};
pub use roster::{AsOf, Serving};
pub use scheduling::{DueDeadline, Notification};
pub use statistics::{Counts, KindRecord, SecretaryCounts};
pub(crate) use warnings::load;
pub use warnings::{Meeting, WarningFilter};
pub use webhooks::{Attempt, Delivery, DeliveryState, Endpoint, Outcome};

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    convert::from_db_time,
    db::{Database, Migrations},
};
use sqlx::migrate::Migrator;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The warnings schema.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
    table: "_sqlx_migrations",
};

/// A stored value with its version (the etag) and when it last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// 0 for a shipped default never stored.
    pub version: i64,
    /// Unset for a shipped default.
    pub update_time: Option<DateTime<Utc>>,
}

/// The service's store.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// The store over `db`.
    pub fn new(db: Database) -> Self {
        Store { db }
    }

    /// The database (to begin a call's transaction on).
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// A stored time, or an internal error naming the column.
pub(crate) fn stored_time(text: &str) -> Result<DateTime<Utc>, Error> {
    from_db_time(text)
}
