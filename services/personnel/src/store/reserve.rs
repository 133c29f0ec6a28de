//! The reserve talent pool (储备人才).

use chrono::NaiveDate;
use shequ_kit::{Error, call::AuditedTx, convert::to_db_time, regions::RegionCode};

use shequ_kit::crypto::Keys;

use super::{
    Store, date_text, is_unique_violation, region_range, stored_code, stored_date, stored_region,
    stored_time,
};
use crate::domain::{
    Education, Gender, Readiness, ReserveCandidate, ReserveStatus, identity::IdNumber,
};

const COLUMNS: &str = "id, region, display_name, gender, birth_date, education, readiness, status, \
     pool_entry_date, note, version, create_time, update_time, id_number_enc, secretary";

/// Column context bound into the ciphertext and blind index of a candidate's ID number: the same
/// as a secretary's, so that the two indexes of one person are equal and link them.
const ID_NUMBER: &str = super::ID_NUMBER;

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
    id_number_enc: Option<String>,
    secretary: Option<String>,
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

fn decode(keys: &Keys, row: CandidateRow) -> Result<ReserveCandidate, Error> {
    let id_number = match &row.id_number_enc {
        None => None,
        Some(enc) => Some(
            keys.personal_data
                .decrypt_string(enc, ID_NUMBER)
                .ok()
                .and_then(|plain| IdNumber::parse(&plain).ok())
                .ok_or_else(|| {
                    Error::internal(anyhow::anyhow!(
                        "candidate {}: ID number does not decrypt",
                        row.id
                    ))
                })?,
        ),
    };
    Ok(ReserveCandidate {
        id_number,
        secretary: row.secretary,
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
            "INSERT INTO reserve_candidates ({COLUMNS}, id_number_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
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
            .bind(self.encrypt_id_number(c.id_number.as_ref()))
            .bind(c.secretary.as_deref())
            .bind(self.index_id_number(c.id_number.as_ref()))
            .execute(&mut **tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => Err(candidate_taken()),
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    fn encrypt_id_number(&self, id: Option<&IdNumber>) -> Option<String> {
        id.map(|id| {
            self.keys
                .personal_data
                .encrypt(id.expose().as_bytes(), ID_NUMBER)
        })
    }

    fn index_id_number(&self, id: Option<&IdNumber>) -> Option<String> {
        id.map(|id| self.keys.blind_index.of(id.expose(), ID_NUMBER))
    }

    /// Marks the candidate with `id_number` (if any is in the pool) as appointed, becoming
    /// `secretary`: in the transaction that creates the secretary.
    pub async fn link_candidate(
        &self,
        tx: &mut AuditedTx,
        id_number: &IdNumber,
        secretary: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE reserve_candidates SET status = $1, secretary = $2, version = version + 1, \
             update_time = $3 WHERE id_number_index = $4 AND secretary IS NULL",
        )
        .bind(ReserveStatus::Appointed.code())
        .bind(secretary)
        .bind(to_db_time(now))
        .bind(self.keys.blind_index.of(id_number.expose(), ID_NUMBER))
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One candidate.
    pub async fn candidate(&self, id: &str) -> Result<Option<ReserveCandidate>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM reserve_candidates WHERE id = $1");
        let row: Option<CandidateRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| decode(&self.keys, r)).transpose()
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
        rows.into_iter().map(|r| decode(&self.keys, r)).collect()
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
             readiness = $5, status = $6, note = $7, version = $8, update_time = $9, \
             id_number_enc = $12, id_number_index = $13 WHERE id = $10 AND version = $11",
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
        .bind(self.encrypt_id_number(c.id_number.as_ref()))
        .bind(self.index_id_number(c.id_number.as_ref()))
        .execute(&mut **tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(candidate_taken()),
            Err(e) => Err(e.into()),
            Ok(done) => Ok(done.rows_affected() == 1),
        }
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

fn candidate_taken() -> Error {
    Error::AlreadyExists {
        reason: "CANDIDATE_ID_NUMBER_TAKEN",
        message: "a candidate with this ID number is already in the reserve pool".to_owned(),
        resource: None,
    }
}
