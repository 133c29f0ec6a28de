//! The community brain's catalogue, terminals, batches and readings.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    crypto::BlindIndex,
    regions::RegionCode,
};
use sqlx::AnyConnection;

use super::{Store, warnings::scope_bounds};
use crate::domain::{
    Department,
    brain::{Direction, Indicator, Rule},
};

const KEY_CONTEXT: &str = "terminals.key";

fn bad(what: &str, value: &str) -> Error {
    Error::internal(anyhow::anyhow!("stored {what} {value:?} is not known"))
}

type IndicatorRow = (
    String,
    String,
    String,
    String,
    String,
    f64,
    f64,
    i64,
    i64,
    String,
    String,
);

const INDICATOR_COLUMNS: &str = "province, id, display_name, department, unit, min_value, \
     max_value, active, version, create_time, update_time";

fn indicator(row: IndicatorRow) -> Result<Indicator, Error> {
    let (province, id, display_name, department, unit, min, max, active, version, created, updated) =
        row;
    Ok(Indicator {
        province: RegionCode::parse(&province).map_err(Error::internal)?,
        id,
        display_name,
        department: Department::from_code(&department)
            .ok_or_else(|| bad("department", &department))?,
        unit,
        min_value: min,
        max_value: max,
        active: active != 0,
        version,
        create_time: from_db_time(&created)?,
        update_time: from_db_time(&updated)?,
    })
}

type RuleRow = (
    String,
    String,
    String,
    String,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    String,
    i64,
    i64,
    String,
    String,
);

const RULE_COLUMNS: &str = "province, id, indicator_id, display_name, direction, blue, yellow, \
     red, category, active, version, create_time, update_time";

fn rule(row: RuleRow) -> Result<Rule, Error> {
    let (
        province,
        id,
        indicator,
        display_name,
        direction,
        blue,
        yellow,
        red,
        category,
        active,
        version,
        created,
        updated,
    ) = row;
    Ok(Rule {
        province: RegionCode::parse(&province).map_err(Error::internal)?,
        id,
        indicator,
        display_name,
        direction: Direction::from_code(&direction).ok_or_else(|| bad("direction", &direction))?,
        thresholds: [blue, yellow, red],
        category,
        active: active != 0,
        version,
        create_time: from_db_time(&created)?,
        update_time: from_db_time(&updated)?,
    })
}

/// A registered terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// Identifier.
    pub id: String,
    /// What and where.
    pub display_name: String,
    /// Its community.
    pub region: RegionCode,
    /// Revoked for good.
    pub revoked: bool,
    /// Who registered it.
    pub creator: String,
    /// Registered at.
    pub create_time: DateTime<Utc>,
    /// Revoked at.
    pub revoke_time: Option<DateTime<Utc>>,
    /// Version.
    pub version: i64,
}

impl Terminal {
    /// Its resource name.
    pub fn name(&self) -> String {
        format!("terminals/{}", self.id)
    }
}

type TerminalRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    i64,
);

const TERMINAL_COLUMNS: &str =
    "id, display_name, region, key_hash, revoked, creator, create_time, revoke_time, version";

fn terminal(row: TerminalRow) -> Result<(Terminal, String), Error> {
    let (id, display_name, region, hash, revoked, creator, created, revoke_time, version) = row;
    Ok((
        Terminal {
            id,
            display_name,
            region: RegionCode::parse(&region).map_err(Error::internal)?,
            revoked: revoked != 0,
            creator,
            create_time: from_db_time(&created)?,
            revoke_time: revoke_time.as_deref().map(from_db_time).transpose()?,
            version,
        },
        hash,
    ))
}

/// Constant-time equality of two hex digests.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// An accepted reading, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    /// The indicator's id.
    pub indicator_id: String,
    /// The value.
    pub value: f64,
    /// When it was measured.
    pub observed: DateTime<Utc>,
}

impl Store {
    /// The indicator `id` of `province`.
    pub async fn indicator(
        &self,
        province: RegionCode,
        id: &str,
    ) -> Result<Option<Indicator>, Error> {
        let sql =
            format!("SELECT {INDICATOR_COLUMNS} FROM indicators WHERE province = $1 AND id = $2");
        let row: Option<IndicatorRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(province.to_string())
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(indicator).transpose()
    }

    /// Up to `limit` indicators of `province` after id `after`.
    pub async fn indicators(
        &self,
        province: RegionCode,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Indicator>, Error> {
        let mut conn = self.db.pool().acquire().await?;
        indicators_in(&mut conn, province, after, limit).await
    }

    /// Stores a new indicator unless the id is taken or the catalogue is full; `Err` with the
    /// refusal otherwise.
    pub async fn insert_indicator(tx: &mut AuditedTx, indicator: &Indicator) -> Result<(), Error> {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM indicators WHERE province = $1 AND id = $2")
                .bind(indicator.province.to_string())
                .bind(&indicator.id)
                .fetch_optional(&mut **tx)
                .await?;
        if taken.is_some() {
            return Err(Error::AlreadyExists {
                reason: "INDICATOR_EXISTS",
                message: format!("{} exists already", indicator.name()),
                resource: Some(indicator.name()),
            });
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM indicators WHERE province = $1")
            .bind(indicator.province.to_string())
            .fetch_one(&mut **tx)
            .await?;
        if count >= crate::domain::brain::MAX_INDICATORS {
            return Err(Error::precondition(
                "INDICATOR_CATALOGUE_FULL",
                format!(
                    "the catalogue of {} holds {} indicators, the most it may",
                    indicator.province,
                    crate::domain::brain::MAX_INDICATORS
                ),
            ));
        }
        let sql = format!(
            "INSERT INTO indicators ({INDICATOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11) ON CONFLICT (province, id) DO NOTHING"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(indicator.province.to_string())
            .bind(&indicator.id)
            .bind(&indicator.display_name)
            .bind(indicator.department.code())
            .bind(&indicator.unit)
            .bind(indicator.min_value)
            .bind(indicator.max_value)
            .bind(i64::from(indicator.active))
            .bind(indicator.version)
            .bind(to_db_time(indicator.create_time))
            .bind(to_db_time(indicator.update_time))
            .execute(&mut **tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::AlreadyExists {
                reason: "INDICATOR_EXISTS",
                message: format!("{} exists already", indicator.name()),
                resource: Some(indicator.name()),
            });
        }
        Ok(())
    }

    /// Replaces an indicator if it is still at `expected_version`.
    pub async fn update_indicator(
        tx: &mut AuditedTx,
        indicator: &Indicator,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE indicators SET display_name = $1, unit = $2, min_value = $3, max_value = $4, \
             active = $5, version = $6, update_time = $7 WHERE province = $8 AND id = $9 \
             AND version = $10",
        )
        .bind(&indicator.display_name)
        .bind(&indicator.unit)
        .bind(indicator.min_value)
        .bind(indicator.max_value)
        .bind(i64::from(indicator.active))
        .bind(indicator.version)
        .bind(to_db_time(indicator.update_time))
        .bind(indicator.province.to_string())
        .bind(&indicator.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The rule `id` of `province`.
    pub async fn rule(&self, province: RegionCode, id: &str) -> Result<Option<Rule>, Error> {
        let sql =
            format!("SELECT {RULE_COLUMNS} FROM threshold_rules WHERE province = $1 AND id = $2");
        let row: Option<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(province.to_string())
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(rule).transpose()
    }

    /// Up to `limit` rules of `province` after id `after`.
    pub async fn rules(
        &self,
        province: RegionCode,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Rule>, Error> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM threshold_rules WHERE province = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(province.to_string())
            .bind(after)
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(rule).collect()
    }

    /// Stores a new rule; ALREADY_EXISTS when the id is taken.
    pub async fn insert_rule(tx: &mut AuditedTx, rule: &Rule) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO threshold_rules ({RULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13) ON CONFLICT (province, id) DO NOTHING"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rule.province.to_string())
            .bind(&rule.id)
            .bind(&rule.indicator)
            .bind(&rule.display_name)
            .bind(rule.direction.code())
            .bind(rule.thresholds[0])
            .bind(rule.thresholds[1])
            .bind(rule.thresholds[2])
            .bind(&rule.category)
            .bind(i64::from(rule.active))
            .bind(rule.version)
            .bind(to_db_time(rule.create_time))
            .bind(to_db_time(rule.update_time))
            .execute(&mut **tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::AlreadyExists {
                reason: "THRESHOLD_RULE_EXISTS",
                message: format!("{} exists already", rule.name()),
                resource: Some(rule.name()),
            });
        }
        Ok(())
    }

    /// Replaces a rule if it is still at `expected_version`.
    pub async fn update_rule(
        tx: &mut AuditedTx,
        rule: &Rule,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE threshold_rules SET display_name = $1, direction = $2, blue = $3, \
             yellow = $4, red = $5, category = $6, active = $7, version = $8, update_time = $9 \
             WHERE province = $10 AND id = $11 AND version = $12",
        )
        .bind(&rule.display_name)
        .bind(rule.direction.code())
        .bind(rule.thresholds[0])
        .bind(rule.thresholds[1])
        .bind(rule.thresholds[2])
        .bind(&rule.category)
        .bind(i64::from(rule.active))
        .bind(rule.version)
        .bind(to_db_time(rule.update_time))
        .bind(rule.province.to_string())
        .bind(&rule.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The active rules of `province`, read inside a change.
    pub async fn active_rules(
        conn: &mut AnyConnection,
        province: RegionCode,
    ) -> Result<Vec<Rule>, Error> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM threshold_rules WHERE province = $1 AND active = 1 ORDER BY id"
        );
        let rows: Vec<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(province.to_string())
            .fetch_all(&mut *conn)
            .await?;
        rows.into_iter().map(rule).collect()
    }

    /// The terminal `id`.
    pub async fn terminal(&self, id: &str) -> Result<Option<Terminal>, Error> {
        Ok(self.terminal_with_hash(id).await?.map(|(t, _)| t))
    }

    async fn terminal_with_hash(&self, id: &str) -> Result<Option<(Terminal, String)>, Error> {
        let sql = format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = $1");
        let row: Option<TerminalRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(terminal).transpose()
    }

    /// The terminal `id` when `key` is its key.
    pub async fn terminal_by_key(
        &self,
        hasher: &BlindIndex,
        id: &str,
        key: &str,
    ) -> Result<Option<Terminal>, Error> {
        let Some((terminal, hash)) = self.terminal_with_hash(id).await? else {
            return Ok(None);
        };
        Ok(same_digest(&hash, &hasher.of(key, KEY_CONTEXT)).then_some(terminal))
    }

    /// Up to `limit` terminals inside `scope` after id `after`.
    pub async fn terminals(
        &self,
        scope: RegionCode,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Terminal>, Error> {
        let (low, high) = scope_bounds(scope);
        let sql = format!(
            "SELECT {TERMINAL_COLUMNS} FROM terminals WHERE region BETWEEN $1 AND $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        );
        let rows: Vec<TerminalRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(low)
            .bind(high)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter()
            .map(|r| terminal(r).map(|(t, _)| t))
            .collect()
    }

    /// Stores a new terminal with the hash of `key`, unless its city has its most terminals.
    pub async fn insert_terminal(
        tx: &mut AuditedTx,
        hasher: &BlindIndex,
        terminal: &Terminal,
        key: &str,
    ) -> Result<(), Error> {
        let city = terminal
            .region
            .ancestor(shequ_kit::regions::Level::City)
            .unwrap_or(terminal.region);
        let (low, high) = scope_bounds(city);
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM terminals WHERE region BETWEEN $1 AND $2 AND revoked = 0",
        )
        .bind(low)
        .bind(high)
        .fetch_one(&mut **tx)
        .await?;
        let most = crate::domain::brain::MAX_TERMINALS_PER_CITY;
        if count >= most {
            return Err(Error::precondition(
                "TERMINAL_LIMIT_REACHED",
                format!("city {city} has {count} active terminals, the most it may ({most})"),
            ));
        }
        let sql = format!(
            "INSERT INTO terminals ({TERMINAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&terminal.id)
            .bind(&terminal.display_name)
            .bind(terminal.region.to_string())
            .bind(hasher.of(key, KEY_CONTEXT))
            .bind(i64::from(terminal.revoked))
            .bind(&terminal.creator)
            .bind(to_db_time(terminal.create_time))
            .bind(terminal.revoke_time.map(to_db_time))
            .bind(terminal.version)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Marks a terminal revoked if it is still at `expected_version`.
    pub async fn revoke_terminal(
        tx: &mut AuditedTx,
        terminal: &Terminal,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE terminals SET revoked = 1, revoke_time = $1, version = $2 \
             WHERE id = $3 AND version = $4",
        )
        .bind(terminal.revoke_time.map(to_db_time))
        .bind(terminal.version)
        .bind(&terminal.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims batch `sequence` of `terminal` for this transaction: `None` when claimed, or the
    /// stored answer of its first application.
    pub async fn claim_batch(
        tx: &mut AuditedTx,
        terminal: &str,
        sequence: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let claimed = sqlx::query(
            "INSERT INTO reading_batches (terminal_id, sequence, response, commit_time) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (terminal_id, sequence) DO NOTHING",
        )
        .bind(terminal)
        .bind(sequence)
        .bind(Vec::<u8>::new())
        .bind(to_db_time(now))
        .execute(&mut **tx)
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(None);
        }
        let stored: Vec<u8> = sqlx::query_scalar(
            "SELECT response FROM reading_batches WHERE terminal_id = $1 AND sequence = $2",
        )
        .bind(terminal)
        .bind(sequence)
        .fetch_one(&mut **tx)
        .await?;
        Ok(Some(stored))
    }

    /// Stores the answer of batch `sequence` of `terminal`.
    pub async fn answer_batch(
        tx: &mut AuditedTx,
        terminal: &str,
        sequence: i64,
        response: Vec<u8>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE reading_batches SET response = $1 WHERE terminal_id = $2 AND sequence = $3",
        )
        .bind(response)
        .bind(terminal)
        .bind(sequence)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Stores accepted readings of batch `sequence` of `terminal` (of `region`), several rows a
    /// statement.
    pub async fn insert_readings(
        tx: &mut AuditedTx,
        terminal: &str,
        region: RegionCode,
        sequence: i64,
        readings: &[StoredReading],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        const ROWS: usize = 100;
        let region = region.to_string();
        let received = to_db_time(now);
        for chunk in readings.chunks(ROWS) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = i * 7;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6,
                        p + 7
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO readings (region, terminal_id, sequence, indicator_id, value, \
                 observe_time, receive_time) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for reading in chunk {
                query = query
                    .bind(region.clone())
                    .bind(terminal.to_owned())
                    .bind(sequence)
                    .bind(reading.indicator_id.clone())
                    .bind(reading.value)
                    .bind(to_db_time(reading.observed))
                    .bind(received.clone());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Up to `limit` indicators of `province` after id `after` ("" from the first), on `conn`.
pub(crate) async fn indicators_in(
    conn: &mut AnyConnection,
    province: RegionCode,
    after: &str,
    limit: usize,
) -> Result<Vec<Indicator>, Error> {
    let sql = format!(
        "SELECT {INDICATOR_COLUMNS} FROM indicators WHERE province = $1 AND id > $2 \
         ORDER BY id LIMIT $3"
    );
    let rows: Vec<IndicatorRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(province.to_string())
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(indicator).collect()
}
