//! Provinces' warning policies.

use chrono::{DateTime, Utc};
use shequ_kit::{Error, call::AuditedTx, convert::to_db_time, regions::RegionCode};

use super::{Store, Versioned, stored_time};
use crate::domain::Policy;

type PolicyRow = (i64, i64, i64, i64, String);

fn decode(row: PolicyRow) -> Result<Versioned<Policy>, Error> {
    let (blue, yellow, red, version, updated) = row;
    Ok(Versioned {
        value: Policy {
            blue_response_hours: blue as i32,
            yellow_consultation_hours: yellow as i32,
            red_task_force_hours: red as i32,
        },
        version,
        update_time: Some(stored_time(&updated)?),
    })
}

const SELECT: &str = "SELECT blue_response_hours, yellow_consultation_hours, red_task_force_hours, \
     version, update_time FROM warning_policies WHERE province = $1";

impl Store {
    /// A province's policy (the shipped default, version 0, until changed).
    pub async fn policy(&self, province: RegionCode) -> Result<Versioned<Policy>, Error> {
        let row: Option<PolicyRow> = sqlx::query_as(SELECT)
            .bind(province.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.map_or_else(|| Ok(default_policy()), decode)
    }

    /// A province's policy, read inside a change.
    pub async fn policy_in(
        tx: &mut AuditedTx,
        province: RegionCode,
    ) -> Result<Versioned<Policy>, Error> {
        let row: Option<PolicyRow> = sqlx::query_as(SELECT)
            .bind(province.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        row.map_or_else(|| Ok(default_policy()), decode)
    }

    /// Replaces a province's policy if its version is still `expected_version`.
    pub async fn put_policy(
        tx: &mut AuditedTx,
        province: RegionCode,
        policy: &Policy,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let done = if expected_version == 0 {
            sqlx::query(
                "INSERT INTO warning_policies (province, blue_response_hours, \
                 yellow_consultation_hours, red_task_force_hours, version, update_time) \
                 VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (province) DO NOTHING",
            )
            .bind(province.to_string())
            .bind(i64::from(policy.blue_response_hours))
            .bind(i64::from(policy.yellow_consultation_hours))
            .bind(i64::from(policy.red_task_force_hours))
            .bind(to_db_time(now))
            .execute(&mut **tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE warning_policies SET blue_response_hours = $1, \
                 yellow_consultation_hours = $2, red_task_force_hours = $3, \
                 version = version + 1, update_time = $4 WHERE province = $5 AND version = $6",
            )
            .bind(i64::from(policy.blue_response_hours))
            .bind(i64::from(policy.yellow_consultation_hours))
            .bind(i64::from(policy.red_task_force_hours))
            .bind(to_db_time(now))
            .bind(province.to_string())
            .bind(expected_version)
            .execute(&mut **tx)
            .await?
        };
        Ok(done.rows_affected() == 1)
    }
}

fn default_policy() -> Versioned<Policy> {
    Versioned {
        value: Policy::default(),
        version: 0,
        update_time: None,
    }
}
