//! SQL over the evaluation service's own database. Writes run on the call's [`AuditedTx`];
//! reads on the pool. Every statement is portable between SQLite and PostgreSQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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

// ------------------------------------------------------------------------------------------------
// Assessments

/// The active secretaries serving under a region (its code prefix), by name.
pub async fn roster_under(db: &Database, prefix: &str) -> Result<Vec<Serving>, Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT secretary, region, active FROM secretary_roster \
         WHERE active = 1 AND region LIKE $1 ORDER BY secretary",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(secretary, region, active)| Serving {
            secretary,
            region,
            active: active != 0,
        })
        .collect())
}

/// A quarterly assessment.
#[derive(Debug, Clone)]
pub struct Quarterly {
    pub secretary: String,
    pub year: i32,
    pub quarter: i32,
    pub region: String,
    pub scores: BTreeMap<String, f64>,
    pub evidence: Vec<String>,
    pub note: String,
    pub assessed_by: String,
    pub create_time: DateTime<Utc>,
}

type QuarterlyRow = (
    String,
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn decode_quarterly(row: QuarterlyRow) -> Result<Quarterly, Error> {
    let (secretary, year, quarter, region, scores, evidence, note, assessed_by, at) = row;
    Ok(Quarterly {
        secretary,
        year: year as i32,
        quarter: quarter as i32,
        region,
        scores: serde_json::from_str(&scores).map_err(internal)?,
        evidence: serde_json::from_str(&evidence).map_err(internal)?,
        note,
        assessed_by,
        create_time: from_db_time(&at)?,
    })
}

const QUARTERLY_COLUMNS: &str =
    "secretary, year, quarter, region, scores, evidence, note, assessed_by, create_time";

/// Stores a quarterly assessment; false when the quarter was already assessed.
pub(crate) async fn insert_quarterly(tx: &mut AuditedTx, q: &Quarterly) -> Result<bool, Error> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO quarterly_assessments ({QUARTERLY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
    )))
    .bind(&q.secretary)
    .bind(i64::from(q.year))
    .bind(i64::from(q.quarter))
    .bind(&q.region)
    .bind(serde_json::to_string(&q.scores).map_err(internal)?)
    .bind(serde_json::to_string(&q.evidence).map_err(internal)?)
    .bind(&q.note)
    .bind(&q.assessed_by)
    .bind(to_db_time(q.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A secretary's quarterly assessments of a year, by quarter.
pub async fn quarterlies(
    db: &Database,
    secretary: &str,
    year: i32,
) -> Result<Vec<Quarterly>, Error> {
    let rows: Vec<QuarterlyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {QUARTERLY_COLUMNS} FROM quarterly_assessments \
         WHERE secretary = $1 AND year = $2 ORDER BY quarter"
    )))
    .bind(secretary)
    .bind(i64::from(year))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(decode_quarterly).collect()
}

/// The quarterly assessments of a year of every active secretary serving under `prefix`.
pub async fn quarterlies_under(
    db: &Database,
    prefix: &str,
    year: i32,
) -> Result<Vec<Quarterly>, Error> {
    let columns = QUARTERLY_COLUMNS
        .split(", ")
        .map(|c| format!("q.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<QuarterlyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM quarterly_assessments q \
         JOIN secretary_roster r ON r.secretary = q.secretary \
         WHERE q.year = $1 AND r.active = 1 AND r.region LIKE $2 ORDER BY q.secretary, q.quarter"
    )))
    .bind(i64::from(year))
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(decode_quarterly).collect()
}

/// An engagement of an assessment organisation.
#[derive(Debug, Clone)]
pub struct Engagement {
    pub id: String,
    pub organisation: String,
    pub assessor: String,
    pub regions: Vec<String>,
    pub year: i32,
    pub engaged_by: String,
    pub scope: String,
    pub create_time: DateTime<Utc>,
}

type EngagementRow = (String, String, String, String, i64, String, String, String);

fn decode_engagement(row: EngagementRow) -> Result<Engagement, Error> {
    let (id, organisation, assessor, regions, year, engaged_by, scope, at) = row;
    Ok(Engagement {
        id,
        organisation,
        assessor,
        regions: serde_json::from_str(&regions).map_err(internal)?,
        year: year as i32,
        engaged_by,
        scope,
        create_time: from_db_time(&at)?,
    })
}

const ENGAGEMENT_COLUMNS: &str =
    "id, organisation, assessor, regions, year, engaged_by, scope, create_time";

pub(crate) async fn insert_engagement(tx: &mut AuditedTx, e: &Engagement) -> Result<(), Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO engagements ({ENGAGEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(&e.id)
    .bind(&e.organisation)
    .bind(&e.assessor)
    .bind(serde_json::to_string(&e.regions).map_err(internal)?)
    .bind(i64::from(e.year))
    .bind(&e.engaged_by)
    .bind(&e.scope)
    .bind(to_db_time(e.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn engagement(db: &Database, id: &str) -> Result<Option<Engagement>, Error> {
    let row: Option<EngagementRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENGAGEMENT_COLUMNS} FROM engagements WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(decode_engagement).transpose()
}

/// An annual external assessment.
#[derive(Debug, Clone)]
pub struct External {
    pub secretary: String,
    pub year: i32,
    pub region: String,
    pub score: f64,
    pub evidence: Vec<String>,
    pub engagement: String,
    pub assessed_by: String,
    pub create_time: DateTime<Utc>,
}

type ExternalRow = (String, i64, String, f64, String, String, String, String);

const EXTERNAL_COLUMNS: &str =
    "secretary, year, region, score, evidence, engagement, assessed_by, create_time";

fn decode_external(row: ExternalRow) -> Result<External, Error> {
    let (secretary, year, region, score, evidence, engagement, assessed_by, at) = row;
    Ok(External {
        secretary,
        year: year as i32,
        region,
        score,
        evidence: serde_json::from_str(&evidence).map_err(internal)?,
        engagement,
        assessed_by,
        create_time: from_db_time(&at)?,
    })
}

/// Stores an external assessment; false when the year was already assessed.
pub(crate) async fn insert_external(tx: &mut AuditedTx, e: &External) -> Result<bool, Error> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO external_assessments ({EXTERNAL_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
    )))
    .bind(&e.secretary)
    .bind(i64::from(e.year))
    .bind(&e.region)
    .bind(e.score)
    .bind(serde_json::to_string(&e.evidence).map_err(internal)?)
    .bind(&e.engagement)
    .bind(&e.assessed_by)
    .bind(to_db_time(e.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The external assessments of a year of every active secretary serving under `prefix`.
pub async fn externals_under(
    db: &Database,
    prefix: &str,
    year: i32,
) -> Result<Vec<External>, Error> {
    let columns = EXTERNAL_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<ExternalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM external_assessments e \
         JOIN secretary_roster r ON r.secretary = e.secretary \
         WHERE e.year = $1 AND r.active = 1 AND r.region LIKE $2"
    )))
    .bind(i64::from(year))
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(decode_external).collect()
}

/// A special assessment (X indicator).
#[derive(Debug, Clone)]
pub struct Special {
    pub id: String,
    pub secretary: String,
    pub year: i32,
    pub region: String,
    pub indicator: String,
    pub points: f64,
    pub evidence: Vec<String>,
    pub assessed_by: String,
    pub create_time: DateTime<Utc>,
}

pub(crate) async fn insert_special(tx: &mut AuditedTx, s: &Special) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO special_assessments (id, secretary, year, region, indicator, points, \
         evidence, assessed_by, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&s.id)
    .bind(&s.secretary)
    .bind(i64::from(s.year))
    .bind(&s.region)
    .bind(&s.indicator)
    .bind(s.points)
    .bind(serde_json::to_string(&s.evidence).map_err(internal)?)
    .bind(&s.assessed_by)
    .bind(to_db_time(s.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// (secretary, indicator, points) of the special assessments of a year under `prefix`, in the
/// order they were recorded.
pub async fn specials_under(
    db: &Database,
    prefix: &str,
    year: i32,
) -> Result<Vec<(String, String, f64)>, Error> {
    Ok(sqlx::query_as(
        "SELECT s.secretary, s.indicator, s.points FROM special_assessments s \
         JOIN secretary_roster r ON r.secretary = s.secretary \
         WHERE s.year = $1 AND r.active = 1 AND r.region LIKE $2 ORDER BY s.create_time, s.id",
    )
    .bind(i64::from(year))
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?)
}

// ------------------------------------------------------------------------------------------------
// Annual results

/// One line of a stored breakdown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLine {
    pub item: String,
    pub value: f64,
    pub weight: f64,
    pub source: String,
    pub as_of: String,
    pub explanation: String,
}

/// A finalised annual result.
#[derive(Debug, Clone)]
pub struct StoredResult {
    pub secretary: String,
    pub year: i32,
    pub region: String,
    pub score: f64,
    pub internal: f64,
    pub external: f64,
    pub x_points: f64,
    pub quarters: Vec<i32>,
    pub scheme: String,
    pub breakdown: Vec<StoredLine>,
    pub finalise_time: DateTime<Utc>,
}

type ResultRow = (
    String,
    i64,
    String,
    f64,
    f64,
    f64,
    f64,
    String,
    String,
    String,
    String,
);

const RESULT_COLUMNS: &str = "secretary, year, region, score, internal, external, x_points, \
     quarters, scheme, breakdown, finalise_time";

fn decode_result(row: ResultRow) -> Result<StoredResult, Error> {
    let (
        secretary,
        year,
        region,
        score,
        internal_,
        external,
        x_points,
        quarters,
        scheme,
        lines,
        at,
    ) = row;
    Ok(StoredResult {
        secretary,
        year: year as i32,
        region,
        score,
        internal: internal_,
        external,
        x_points,
        quarters: serde_json::from_str(&quarters).map_err(internal)?,
        scheme,
        breakdown: serde_json::from_str(&lines).map_err(internal)?,
        finalise_time: from_db_time(&at)?,
    })
}

/// Stores results, many rows per statement, skipping years already final (a concurrent
/// finalisation won); returns the secretaries whose result was stored.
pub(crate) async fn insert_results(
    tx: &mut AuditedTx,
    results: &[StoredResult],
) -> Result<std::collections::HashSet<String>, Error> {
    let mut stored = std::collections::HashSet::new();
    for chunk in results.chunks(PLACES_PER_STATEMENT) {
        let values = (0..chunk.len())
            .map(|i| {
                let params: Vec<String> = (1..=11).map(|k| format!("${}", i * 11 + k)).collect();
                format!("({})", params.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO annual_results ({RESULT_COLUMNS}) VALUES {values} \
             ON CONFLICT DO NOTHING RETURNING secretary"
        );
        let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(&r.secretary)
                .bind(i64::from(r.year))
                .bind(&r.region)
                .bind(r.score)
                .bind(r.internal)
                .bind(r.external)
                .bind(r.x_points)
                .bind(serde_json::to_string(&r.quarters).map_err(internal)?)
                .bind(&r.scheme)
                .bind(serde_json::to_string(&r.breakdown).map_err(internal)?)
                .bind(to_db_time(r.finalise_time));
        }
        stored.extend(query.fetch_all(&mut **tx).await?.into_iter().map(|(s,)| s));
    }
    Ok(stored)
}

pub async fn result(
    db: &Database,
    secretary: &str,
    year: i32,
) -> Result<Option<StoredResult>, Error> {
    let row: Option<ResultRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RESULT_COLUMNS} FROM annual_results WHERE secretary = $1 AND year = $2"
    )))
    .bind(secretary)
    .bind(i64::from(year))
    .fetch_optional(db.pool())
    .await?;
    row.map(decode_result).transpose()
}

/// The secretaries under `prefix` whose year is already final.
pub async fn final_under(db: &Database, prefix: &str, year: i32) -> Result<Vec<String>, Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT secretary FROM annual_results WHERE year = $1 AND region LIKE $2")
            .bind(i64::from(year))
            .bind(format!("{prefix}%"))
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

// ------------------------------------------------------------------------------------------------
// Rankings, appeals and the adjustment outbox

/// The finalised results of a year of the active secretaries serving under `prefix`:
/// (secretary, score).
pub async fn cohort(db: &Database, prefix: &str, year: i32) -> Result<Vec<(String, f64)>, Error> {
    Ok(sqlx::query_as(
        "SELECT a.secretary, a.score FROM annual_results a \
         JOIN secretary_roster r ON r.secretary = a.secretary \
         WHERE a.year = $1 AND r.active = 1 AND r.region LIKE $2 ORDER BY a.secretary",
    )
    .bind(i64::from(year))
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?)
}

/// A ranking.
#[derive(Debug, Clone)]
pub struct StoredRanking {
    pub id: String,
    pub region: String,
    pub year: i32,
    /// PUBLISHED or CONFIRMED.
    pub state: String,
    pub adjustment_percent: i32,
    pub band_minimum: i32,
    pub appeal_deadline: DateTime<Utc>,
    pub created_by: String,
    pub create_time: DateTime<Utc>,
    pub confirm_time: Option<DateTime<Utc>>,
    pub places: Vec<StoredPlace>,
}

/// A place in a ranking, with its appeal and delivery state.
#[derive(Debug, Clone)]
pub struct StoredPlace {
    pub secretary: String,
    pub score: f64,
    pub rank: i32,
    pub flagged: bool,
    pub explanation: String,
    pub appeal_pending: bool,
    /// None, PENDING or RECORDED.
    pub delivery: Option<String>,
    pub career_event: String,
}

/// Places per INSERT (6 parameters each, within SQLite's 32,766 and PostgreSQL's 65,535).
const PLACES_PER_STATEMENT: usize = 500;

pub(crate) async fn insert_ranking(tx: &mut AuditedTx, r: &StoredRanking) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO rankings (id, region, year, state, adjustment_percent, band_minimum, \
         appeal_deadline, created_by, create_time, confirm_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
    )
    .bind(&r.id)
    .bind(&r.region)
    .bind(i64::from(r.year))
    .bind(&r.state)
    .bind(i64::from(r.adjustment_percent))
    .bind(i64::from(r.band_minimum))
    .bind(to_db_time(r.appeal_deadline))
    .bind(&r.created_by)
    .bind(to_db_time(r.create_time))
    .execute(&mut **tx)
    .await?;
    // many rows per statement: a province's ranking holds thousands of places
    for chunk in r.places.chunks(PLACES_PER_STATEMENT) {
        let values = (0..chunk.len())
            .map(|i| {
                let n = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO ranking_places (ranking, secretary, score, place, flagged, explanation) \
             VALUES {values}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in chunk {
            query = query
                .bind(&r.id)
                .bind(&p.secretary)
                .bind(p.score)
                .bind(i64::from(p.rank))
                .bind(i64::from(p.flagged))
                .bind(&p.explanation);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

type RankingRow = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
);

type PlaceRow = (
    String,
    f64,
    i64,
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
);

/// A ranking with its places (best first), their open appeals and adjustments.
pub async fn ranking(db: &Database, id: &str) -> Result<Option<StoredRanking>, Error> {
    let row: Option<RankingRow> = sqlx::query_as(
        "SELECT id, region, year, state, adjustment_percent, band_minimum, appeal_deadline, \
         created_by, create_time, confirm_time FROM rankings WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let Some((id, region, year, state, percent, minimum, deadline, created_by, at, confirmed)) =
        row
    else {
        return Ok(None);
    };
    let places: Vec<PlaceRow> = sqlx::query_as(
        "SELECT p.secretary, p.score, p.place, p.flagged, p.explanation, \
         (SELECT COUNT(*) FROM appeals a WHERE a.secretary = p.secretary AND a.year = $2 \
          AND a.state = 'PENDING'), d.state, d.career_event \
         FROM ranking_places p LEFT JOIN adjustments d \
           ON d.secretary = p.secretary AND d.year = $2 AND d.ranking = p.ranking \
         WHERE p.ranking = $1 ORDER BY p.place, p.secretary",
    )
    .bind(&id)
    .bind(year)
    .fetch_all(db.pool())
    .await?;
    Ok(Some(StoredRanking {
        id,
        region,
        year: year as i32,
        state,
        adjustment_percent: percent as i32,
        band_minimum: minimum as i32,
        appeal_deadline: from_db_time(&deadline)?,
        created_by,
        create_time: from_db_time(&at)?,
        confirm_time: confirmed.as_deref().map(from_db_time).transpose()?,
        places: places
            .into_iter()
            .map(
                |(secretary, score, rank, flagged, explanation, pending, delivery, event)| {
                    StoredPlace {
                        secretary,
                        score,
                        rank: rank as i32,
                        flagged: flagged != 0,
                        explanation,
                        appeal_pending: pending > 0,
                        delivery,
                        career_event: event.unwrap_or_default(),
                    }
                },
            )
            .collect(),
    }))
}

/// The published rankings of `year` holding `secretary` whose appeal window is still open at
/// `now`.
pub async fn open_windows(
    db: &Database,
    secretary: &str,
    year: i32,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT r.id FROM rankings r JOIN ranking_places p ON p.ranking = r.id \
         WHERE p.secretary = $1 AND r.year = $2 AND r.state = 'PUBLISHED' \
         AND r.appeal_deadline > $3",
    )
    .bind(secretary)
    .bind(i64::from(year))
    .bind(to_db_time(now))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// An appeal.
#[derive(Debug, Clone)]
pub struct StoredAppeal {
    pub id: String,
    pub secretary: String,
    pub year: i32,
    pub region: String,
    pub reason: String,
    /// PENDING, UPHELD or DISMISSED.
    pub state: String,
    pub decision_note: String,
    pub filed_by: String,
    pub decided_by: String,
    pub create_time: DateTime<Utc>,
    pub decide_time: Option<DateTime<Utc>>,
}

/// Files an appeal; false when one is already open for the result.
pub(crate) async fn insert_appeal(tx: &mut AuditedTx, a: &StoredAppeal) -> Result<bool, Error> {
    let inserted = sqlx::query(
        "INSERT INTO appeals (id, secretary, year, region, reason, state, decision_note, \
         filed_by, decided_by, create_time, decide_time) \
         VALUES ($1, $2, $3, $4, $5, 'PENDING', '', $6, '', $7, NULL)",
    )
    .bind(&a.id)
    .bind(&a.secretary)
    .bind(i64::from(a.year))
    .bind(&a.region)
    .bind(&a.reason)
    .bind(&a.filed_by)
    .bind(to_db_time(a.create_time))
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

type AppealRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

pub async fn appeal(db: &Database, id: &str) -> Result<Option<StoredAppeal>, Error> {
    let row: Option<AppealRow> = sqlx::query_as(
        "SELECT id, secretary, year, region, reason, state, decision_note, filed_by, decided_by, \
         create_time, decide_time FROM appeals WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(
        |(id, secretary, year, region, reason, state, note, filed_by, decided_by, at, decided)| {
            Ok(StoredAppeal {
                id,
                secretary,
                year: year as i32,
                region,
                reason,
                state,
                decision_note: note,
                filed_by,
                decided_by,
                create_time: from_db_time(&at)?,
                decide_time: decided.as_deref().map(from_db_time).transpose()?,
            })
        },
    )
    .transpose()
}

/// Decides a pending appeal; false when it was decided meanwhile.
pub(crate) async fn decide_appeal(
    tx: &mut AuditedTx,
    id: &str,
    state: &str,
    note: &str,
    decided_by: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE appeals SET state = $1, decision_note = $2, decided_by = $3, decide_time = $4 \
         WHERE id = $5 AND state = 'PENDING'",
    )
    .bind(state)
    .bind(note)
    .bind(decided_by)
    .bind(to_db_time(now))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes `secretary` out of the band of every published ranking of `year`; returns those
/// rankings.
pub(crate) async fn unflag(
    tx: &mut AuditedTx,
    secretary: &str,
    year: i32,
    explanation: &str,
) -> Result<Vec<String>, Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT p.ranking FROM ranking_places p JOIN rankings r ON r.id = p.ranking \
         WHERE p.secretary = $1 AND r.year = $2 AND r.state = 'PUBLISHED' AND p.flagged = 1",
    )
    .bind(secretary)
    .bind(i64::from(year))
    .fetch_all(&mut **tx)
    .await?;
    for (ranking,) in &rows {
        sqlx::query(
            "UPDATE ranking_places SET flagged = 0, explanation = $1 \
             WHERE ranking = $2 AND secretary = $3",
        )
        .bind(explanation)
        .bind(ranking)
        .bind(secretary)
        .execute(&mut **tx)
        .await?;
    }
    Ok(rows.into_iter().map(|(r,)| r).collect())
}

/// Confirms a published ranking: queues one adjustment per flagged secretary and year (a
/// secretary flagged by two rankings of a year is adjusted once). False when the ranking was
/// confirmed meanwhile.
pub(crate) async fn confirm(
    tx: &mut AuditedTx,
    ranking: &StoredRanking,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE rankings SET state = 'CONFIRMED', confirm_time = $1 \
         WHERE id = $2 AND state = 'PUBLISHED'",
    )
    .bind(to_db_time(now))
    .bind(&ranking.id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    for p in ranking.places.iter().filter(|p| p.flagged) {
        sqlx::query(
            "INSERT INTO adjustments (secretary, year, ranking, region, state, attempts, \
             next_attempt, lease_until, last_error, career_event) \
             VALUES ($1, $2, $3, $4, 'PENDING', 0, $5, NULL, '', NULL) ON CONFLICT DO NOTHING",
        )
        .bind(&p.secretary)
        .bind(i64::from(ranking.year))
        .bind(&ranking.id)
        .bind(&ranking.region)
        .bind(to_db_time(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// An adjustment waiting to be recorded in personnel.
#[derive(Debug, Clone)]
pub struct DueAdjustment {
    pub secretary: String,
    pub year: i32,
    pub ranking: String,
    pub region: String,
    pub attempts: i64,
}

/// Adjustments due at `now` whose lease (another replica's attempt) has run out.
pub async fn due_adjustments(
    db: &Database,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DueAdjustment>, Error> {
    let now = to_db_time(now);
    let rows: Vec<(String, i64, String, String, i64)> = sqlx::query_as(
        "SELECT secretary, year, ranking, region, attempts FROM adjustments \
         WHERE state = 'PENDING' AND next_attempt <= $1 \
         AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt LIMIT $2",
    )
    .bind(&now)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(secretary, year, ranking, region, attempts)| DueAdjustment {
                secretary,
                year: year as i32,
                ranking,
                region,
                attempts,
            },
        )
        .collect())
}

/// Takes an adjustment for one attempt until `lease_until` (other replicas skip it); false
/// when another replica took it first.
pub async fn lease_adjustment(
    db: &Database,
    due: &DueAdjustment,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE adjustments SET lease_until = $1 WHERE secretary = $2 AND year = $3 \
         AND state = 'PENDING' AND (lease_until IS NULL OR lease_until <= $4)",
    )
    .bind(to_db_time(lease_until))
    .bind(&due.secretary)
    .bind(i64::from(due.year))
    .bind(to_db_time(now))
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the outcome of an attempt: the career event personnel recorded, or the failure and
/// when to try again.
pub(crate) async fn adjustment_attempted(
    tx: &mut AuditedTx,
    due: &DueAdjustment,
    outcome: Result<&str, (&str, DateTime<Utc>)>,
) -> Result<(), Error> {
    match outcome {
        Ok(event) => {
            sqlx::query(
                "UPDATE adjustments SET state = 'RECORDED', attempts = attempts + 1, \
                 career_event = $1, lease_until = NULL, last_error = '' \
                 WHERE secretary = $2 AND year = $3",
            )
            .bind(event)
            .bind(&due.secretary)
            .bind(i64::from(due.year))
            .execute(&mut **tx)
            .await?;
        }
        Err((error, next)) => {
            sqlx::query(
                "UPDATE adjustments SET attempts = attempts + 1, last_error = $1, \
                 next_attempt = $2, lease_until = NULL WHERE secretary = $3 AND year = $4",
            )
            .bind(error)
            .bind(to_db_time(next))
            .bind(&due.secretary)
            .bind(i64::from(due.year))
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// (state, attempts, career event) of a secretary's adjustment of a year.
pub async fn adjustment(
    db: &Database,
    secretary: &str,
    year: i32,
) -> Result<Option<(String, i64, Option<String>)>, Error> {
    Ok(sqlx::query_as(
        "SELECT state, attempts, career_event FROM adjustments WHERE secretary = $1 AND year = $2",
    )
    .bind(secretary)
    .bind(i64::from(year))
    .fetch_optional(db.pool())
    .await?)
}

/// The finalised results of a year of the active secretaries serving under `prefix`.
pub async fn results_under(
    db: &Database,
    prefix: &str,
    year: i32,
) -> Result<Vec<StoredResult>, Error> {
    let columns = RESULT_COLUMNS
        .split(", ")
        .map(|c| format!("a.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<ResultRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM annual_results a \
         JOIN secretary_roster r ON r.secretary = a.secretary \
         WHERE a.year = $1 AND r.active = 1 AND r.region LIKE $2 ORDER BY a.secretary"
    )))
    .bind(i64::from(year))
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(decode_result).collect()
}
