//! The reserve talent pool (储备人才).

use chrono::NaiveDate;
use shequ_kit::{Error, call::AuditedTx, convert::to_db_time, regions::RegionCode};

use super::{Store, date_text, region_range, stored_code, stored_date, stored_region, stored_time};
use crate::domain::{Education, Gender, Readiness, ReserveCandidate, ReserveStatus};

const COLUMNS: &str = "id, region, display_name, gender, birth_date, education, readiness, status, \
     pool_entry_date, note, version, create_time, update_time";

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: String,
    region: String,
    display_name: String,
    gender: Option<String>,
    birth_date: String,
    education: String,
    readiness: String,
    status: String,
    pool_entry_date: String,
    note: String,
    version: i64,
    create_time: String,
    update_time: String,
}

/// Counts behind a province's reserve-pool progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolCounts {
    /// Entered the pool during the year.
    pub added: i64,
    /// In the pool now.
    pub in_pool: i64,
    /// In the pool now and ready now.
    pub ready_now: i64,
}

fn decode(row: CandidateRow) -> Result<ReserveCandidate, Error> {
    Ok(ReserveCandidate {
        region: stored_region(&row.region)?,
        gender: row
            .gender
            .as_deref()
            .map(|g| stored_code(g, Gender::from_code, "gender"))
            .transpose()?,
        birth_date: stored_date(&row.birth_date)?,
        education: stored_code(&row.education, Education::from_code, "education")?,
        readiness: stored_code(&row.readiness, Readiness::from_code, "readiness")?,
        status: stored_code(&row.status, ReserveStatus::from_code, "reserve status")?,
        pool_entry_date: stored_date(&row.pool_entry_date)?,
        create_time: stored_time(&row.create_time)?,
        update_time: stored_time(&row.update_time)?,
        id: row.id,
        display_name: row.display_name,
        note: row.note,
        version: row.version,
    })
}

impl Store {
    /// Adds a candidate.
    pub async fn insert_candidate(
        &self,
        tx: &mut AuditedTx,
        c: &ReserveCandidate,
    ) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO reserve_candidates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&c.id)
            .bind(c.region.to_string())
            .bind(&c.display_name)
            .bind(c.gender.map(Gender::code))
            .bind(date_text(c.birth_date))
            .bind(c.education.code())
            .bind(c.readiness.code())
            .bind(c.status.code())
            .bind(date_text(c.pool_entry_date))
            .bind(&c.note)
            .bind(c.version)
            .bind(to_db_time(c.create_time))
            .bind(to_db_time(c.update_time))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// One candidate.
    pub async fn candidate(&self, id: &str) -> Result<Option<ReserveCandidate>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM reserve_candidates WHERE id = $1");
        let row: Option<CandidateRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(decode).transpose()
    }

    /// Up to `limit` candidates inside `scope` after `after_id`.
    pub async fn list_candidates(
        &self,
        scope: RegionCode,
        readiness: Option<Readiness>,
        status: Option<ReserveStatus>,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<ReserveCandidate>, Error> {
        let (low, high) = region_range(scope);
        let sql = format!(
            "SELECT {COLUMNS} FROM reserve_candidates WHERE region BETWEEN $1 AND $2 AND id > $3 \
             AND ($4 = '' OR readiness = $4) AND ($5 = '' OR status = $5) ORDER BY id LIMIT $6"
        );
        let rows: Vec<CandidateRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(low)
            .bind(high)
            .bind(after_id)
            .bind(readiness.map_or("", Readiness::code))
            .bind(status.map_or("", ReserveStatus::code))
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(decode).collect()
    }

    /// Writes a candidate if its version is still `expected_version`.
    pub async fn update_candidate(
        &self,
        tx: &mut AuditedTx,
        c: &ReserveCandidate,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let result = sqlx::query(
            "UPDATE reserve_candidates SET display_name = $1, gender = $2, birth_date = $3, education = $4, \
             readiness = $5, status = $6, note = $7, version = $8, update_time = $9 WHERE id = $10 AND version = $11",
        )
        .bind(&c.display_name)
        .bind(c.gender.map(Gender::code))
        .bind(date_text(c.birth_date))
        .bind(c.education.code())
        .bind(c.readiness.code())
        .bind(c.status.code())
        .bind(&c.note)
        .bind(c.version)
        .bind(to_db_time(c.update_time))
        .bind(&c.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Pool counts of a province for the year from `year_start` to `year_end`.
    pub async fn pool_counts(
        &self,
        province: RegionCode,
        year_start: NaiveDate,
        year_end: NaiveDate,
    ) -> Result<PoolCounts, Error> {
        let (low, high) = region_range(province);
        let (added, in_pool, ready_now): (i64, i64, i64) = sqlx::query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN pool_entry_date BETWEEN $3 AND $4 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN status = 'in_pool' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN status = 'in_pool' AND readiness = 'ready_now' THEN 1 ELSE 0 END), 0) \
             FROM reserve_candidates WHERE region BETWEEN $1 AND $2",
        )
        .bind(low)
        .bind(high)
        .bind(date_text(year_start))
        .bind(date_text(year_end))
        .fetch_one(self.db.pool())
        .await?;
        Ok(PoolCounts {
            added,
            in_pool,
            ready_now,
        })
    }
}
