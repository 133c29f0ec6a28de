//! Persistence of the personnel service: portable SQL over the service's `sqlx::Any` pool.
//! Personal data is encrypted here on the way in and decrypted on the way out, so no other layer
//! ever sees ciphertext and the database never sees plaintext.

mod certificates;
mod policies;
mod standing;

pub use certificates::IssuedCertificate;
pub use policies::Versioned;
mod reserve;
mod secretaries;

use chrono::NaiveDate;
use shequ_kit::{
    Error,
    convert::{format_date, from_db_time},
    crypto::Keys,
    db::{Database, Migrations},
    regions::RegionCode,
};
use sqlx::migrate::Migrator;

pub use secretaries::{SECRETARY_COLUMNS, SecretaryFilter, StatisticsRow};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The personnel schema, one migration folder per backend.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
    table: "_sqlx_migrations",
};

/// The personnel database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    keys: Keys,
}

/// Column contexts bound into personal-data ciphertexts and blind indexes.
const ID_NUMBER: &str = "secretaries.id_number";
const PHONE_NUMBER: &str = "secretaries.phone_number";

impl Store {
    /// A store over `db`, protecting personal data with `keys`.
    pub fn new(db: Database, keys: Keys) -> Self {
        Store { db, keys }
    }

    /// The underlying database.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// The inclusive range of region codes inside `scope`, for index-friendly `BETWEEN` filters.
fn region_range(scope: RegionCode) -> (String, String) {
    let prefix = scope.prefix();
    (format!("{prefix:0<12}"), format!("{prefix:9<12}"))
}

fn date_text(date: NaiveDate) -> String {
    format_date(date)
}

/// Reads a stored date; a malformed one is data corruption, an internal error.
fn stored_date(text: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| Error::internal(anyhow::anyhow!("stored date {text:?}: {e}")))
}

fn stored_optional_date(text: Option<&str>) -> Result<Option<NaiveDate>, Error> {
    text.map(stored_date).transpose()
}

fn stored_region(text: &str) -> Result<RegionCode, Error> {
    RegionCode::parse(text).map_err(|e| Error::internal(anyhow::anyhow!("stored region: {e}")))
}

fn stored_code<T>(text: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> Result<T, Error> {
    parse(text)
        .ok_or_else(|| Error::internal(anyhow::anyhow!("stored {what} code {text:?} is unknown")))
}

fn stored_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    from_db_time(text)
}

/// True when `error` is a unique-constraint violation (same identity inserted twice).
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_becomes_an_inclusive_code_range() {
        let district = RegionCode::parse("440305000000").unwrap();
        assert_eq!(
            region_range(district),
            ("440305000000".into(), "440305999999".into())
        );
        let community = RegionCode::parse("440305001001").unwrap();
        assert_eq!(
            region_range(community),
            ("440305001001".into(), "440305001001".into())
        );
    }
}
