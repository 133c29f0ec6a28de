//! SQL over the evaluation service's own database. Writes run on the call's [`AuditedTx`];
//! reads on the pool. Every statement is portable between SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    db::{Database, Migrations},
};

use crate::domain::Scheme;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The evaluation schema.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
    table: "_sqlx_migrations",
};

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(anyhow::anyhow!("{e}"))
}

/// True when `error` is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------------------------------
// Roster (personnel's feed)

/// Where a secretary serves, as personnel's feed told.
#[derive(Debug, Clone)]
pub struct Serving {
    pub secretary: String,
    pub region: String,
    pub active: bool,
}

pub(crate) async fn put_serving(
    tx: &mut AuditedTx,
    secretary: &str,
    region: &str,
    active: bool,
    sequence: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO secretary_roster (secretary, region, active, sequence) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (secretary) DO UPDATE SET region = excluded.region, active = excluded.active, \
         sequence = excluded.sequence",
    )
    .bind(secretary)
    .bind(region)
    .bind(i64::from(active))
    .bind(sequence)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A secretary evaluation knows of.
pub async fn serving(db: &Database, secretary: &str) -> Result<Option<Serving>, Error> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT secretary, region, active FROM secretary_roster WHERE secretary = $1",
    )
    .bind(secretary)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(secretary, region, active)| Serving {
        secretary,
        region,
        active: active != 0,
    }))
}

// ------------------------------------------------------------------------------------------------
// Indicator schemes

/// A stored scheme version.
#[derive(Debug, Clone)]
pub struct StoredScheme {
    pub province: String,
    pub year: i32,
    /// 0 for the shipped default.
    pub version: i32,
    pub scheme: Scheme,
    pub created_by: String,
    pub create_time: Option<DateTime<Utc>>,
}

type SchemeRow = (String, i64, i64, String, String, String);

fn decode_scheme(row: SchemeRow) -> Result<StoredScheme, Error> {
    let (province, year, version, body, created_by, at) = row;
    Ok(StoredScheme {
        province,
        year: year as i32,
        version: version as i32,
        scheme: serde_json::from_str(&body).map_err(internal)?,
        created_by,
        create_time: Some(from_db_time(&at)?),
    })
}

const SCHEME_COLUMNS: &str = "province, year, version, body, created_by, create_time";

/// The shipped default of a province and year (version 0).
pub fn shipped_scheme(province: &str, year: i32) -> StoredScheme {
    StoredScheme {
        province: province.to_owned(),
        year,
        version: 0,
        scheme: Scheme::shipped(),
        created_by: String::new(),
        create_time: None,
    }
}

/// One version; `None` for a version never created (version 0 is the shipped default).
pub async fn scheme(
    db: &Database,
    province: &str,
    year: i32,
    version: i32,
) -> Result<Option<StoredScheme>, Error> {
    if version == 0 {
        return Ok(Some(shipped_scheme(province, year)));
    }
    let row: Option<SchemeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEME_COLUMNS} FROM indicator_schemes WHERE province = $1 AND year = $2 AND version = $3"
    )))
    .bind(province)
    .bind(i64::from(year))
    .bind(i64::from(version))
    .fetch_optional(db.pool())
    .await?;
    row.map(decode_scheme).transpose()
}

/// The version in force for a year: the newest, or the shipped default.
pub async fn current_scheme(
    db: &Database,
    province: &str,
    year: i32,
) -> Result<StoredScheme, Error> {
    let row: Option<SchemeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEME_COLUMNS} FROM indicator_schemes WHERE province = $1 AND year = $2 \
         ORDER BY version DESC LIMIT 1"
    )))
    .bind(province)
    .bind(i64::from(year))
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => decode_scheme(row),
        None => Ok(shipped_scheme(province, year)),
    }
}

/// Stores the next version of a province's scheme for `year`; returns its version. Two
/// concurrent creations cannot take the same version (the primary key): the loser is told to
/// retry.
pub async fn insert_scheme(
    tx: &mut AuditedTx,
    province: &str,
    year: i32,
    scheme: &Scheme,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<i32, Error> {
    let (last,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(version) FROM indicator_schemes WHERE province = $1 AND year = $2",
    )
    .bind(province)
    .bind(i64::from(year))
    .fetch_one(&mut **tx)
    .await?;
    let version = last.unwrap_or(0) + 1;
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicator_schemes ({SCHEME_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    )))
    .bind(province)
    .bind(i64::from(year))
    .bind(version)
    .bind(serde_json::to_string(scheme).map_err(internal)?)
    .bind(created_by)
    .bind(to_db_time(now))
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(version as i32),
        Err(e) if is_unique_violation(&e) => Err(Error::Aborted {
            reason: "CONCURRENT_MODIFICATION",
            message: "another version of this scheme was created meanwhile; retry".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Scheme versions of a province (one year, or all), newest first, after `(year, version)`.
pub async fn schemes(
    db: &Database,
    province: &str,
    year: Option<i32>,
    after: Option<(i32, i32)>,
    limit: usize,
) -> Result<Vec<StoredScheme>, Error> {
    let (after_year, after_version) = after.unwrap_or((i32::MAX, i32::MAX));
    let rows: Vec<SchemeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEME_COLUMNS} FROM indicator_schemes WHERE province = $1 \
         AND ($2 = 0 OR year = $2) AND (year < $3 OR (year = $3 AND version < $4)) \
         ORDER BY year DESC, version DESC LIMIT $5"
    )))
    .bind(province)
    .bind(i64::from(year.unwrap_or(0)))
    .bind(i64::from(after_year))
    .bind(i64::from(after_version))
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(decode_scheme).collect()
}
