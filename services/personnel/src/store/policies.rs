//! Province policies (qualification standard, career policy, negative-list catalogue) and the
//! violations recorded against secretaries.
//!
//! A policy row exists only once a province changes its policy; until then the shipped default
//! applies at version 0. The catalogue is copied from the shipped items the first time a
//! province's catalogue is used.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shequ_kit::{Error, call::AuditedTx, convert::to_db_time, regions::RegionCode};

use super::{
    Store, date_text, is_unique_violation, stored_code, stored_date, stored_region, stored_time,
};
use crate::domain::{
    Education, NegativeListItem, Violation,
    career::{CertificateLevel, Policy, Rung, default_certificate},
    negative_list::DEFAULT_ITEMS,
    qualification::Standard,
};

/// A stored policy with its concurrency version and last change (none for the default).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The policy.
    pub value: T,
    /// Version; 0 for the shipped default.
    pub version: i64,
    /// When it was last changed.
    pub update_time: Option<DateTime<Utc>>,
}

/// id, secretary, province, item, occurred on, evidence, recorded by, created.
type ViolationRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

#[derive(Serialize, Deserialize)]
struct RungRequirementJson {
    rung: String,
    min_years: i32,
    /// The certificate level required, `none`; absent (policies stored before certificates
    /// mattered) means the shipped default of the rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
}

impl Store {
    /// A province's qualification standard (the default until changed).
    pub async fn standard(&self, province: RegionCode) -> Result<Versioned<Standard>, Error> {
        let row: Option<(i64, String, i64, i64, String)> = sqlx::query_as(
            "SELECT max_age_at_appointment, min_education, min_years_community_work, version, update_time \
             FROM qualification_standards WHERE province = $1",
        )
        .bind(province.to_string())
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            None => Ok(Versioned {
                value: Standard::default(),
                version: 0,
                update_time: None,
            }),
            Some((max_age, education, min_years, version, updated)) => Ok(Versioned {
                value: Standard {
                    max_age_at_appointment: max_age as i32,
                    min_education: stored_code(&education, Education::from_code, "education")?,
                    min_years_community_work: min_years as i32,
                },
                version,
                update_time: Some(stored_time(&updated)?),
            }),
        }
    }

    /// Replaces a province's standard if its version is still `expected_version`.
    pub async fn put_standard(
        &self,
        tx: &mut AuditedTx,
        province: RegionCode,
        standard: &Standard,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let result = if expected_version == 0 {
            sqlx::query(
                "INSERT INTO qualification_standards (province, max_age_at_appointment, min_education, \
                 min_years_community_work, version, update_time) VALUES ($1, $2, $3, $4, 1, $5) \
                 ON CONFLICT (province) DO NOTHING",
            )
            .bind(province.to_string())
            .bind(i64::from(standard.max_age_at_appointment))
            .bind(standard.min_education.code())
            .bind(i64::from(standard.min_years_community_work))
            .bind(to_db_time(now))
            .execute(&mut **tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE qualification_standards SET max_age_at_appointment = $1, min_education = $2, \
                 min_years_community_work = $3, version = version + 1, update_time = $4 \
                 WHERE province = $5 AND version = $6",
            )
            .bind(i64::from(standard.max_age_at_appointment))
            .bind(standard.min_education.code())
            .bind(i64::from(standard.min_years_community_work))
            .bind(to_db_time(now))
            .bind(province.to_string())
            .bind(expected_version)
            .execute(&mut **tx)
            .await?
        };
        Ok(result.rows_affected() == 1)
    }

    /// A province's career policy (the default until changed).
    pub async fn career_policy(&self, province: RegionCode) -> Result<Versioned<Policy>, Error> {
        let row: Option<(String, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT rung_requirements, violation_lookback_months, reserve_annual_target, version, update_time \
             FROM career_policies WHERE province = $1",
        )
        .bind(province.to_string())
        .fetch_optional(self.db.pool())
        .await?;
        let Some((requirements, lookback, target, version, updated)) = row else {
            return Ok(Versioned {
                value: Policy::default(),
                version: 0,
                update_time: None,
            });
        };
        let requirements: Vec<RungRequirementJson> = serde_json::from_str(&requirements)
            .map_err(|e| Error::internal(anyhow::anyhow!("stored rung requirements: {e}")))?;
        Ok(Versioned {
            value: Policy {
                min_years_for: requirements
                    .iter()
                    .map(|r| Ok((stored_code(&r.rung, Rung::from_code, "rung")?, r.min_years)))
                    .collect::<Result<_, Error>>()?,
                certificate_for: requirements
                    .iter()
                    .map(|r| {
                        let rung = stored_code(&r.rung, Rung::from_code, "rung")?;
                        let level = match r.certificate.as_deref() {
                            None => default_certificate(rung),
                            Some("none") => None,
                            Some(code) => Some(stored_code(
                                code,
                                CertificateLevel::from_code,
                                "certificate level",
                            )?),
                        };
                        Ok((rung, level))
                    })
                    .collect::<Result<_, Error>>()?,
                violation_lookback_months: lookback as i32,
                reserve_annual_target: target as i32,
            },
            version,
            update_time: Some(stored_time(&updated)?),
        })
    }

    /// Replaces a province's career policy if its version is still `expected_version`.
    pub async fn put_career_policy(
        &self,
        tx: &mut AuditedTx,
        province: RegionCode,
        policy: &Policy,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let requirements = serde_json::to_string(
            &policy
                .min_years_for
                .iter()
                .map(|(rung, years)| RungRequirementJson {
                    rung: rung.code().to_owned(),
                    min_years: *years,
                    certificate: Some(
                        policy
                            .certificate(*rung)
                            .map_or("none", CertificateLevel::code)
                            .to_owned(),
                    ),
                })
                .collect::<Vec<_>>(),
        )
        .map_err(Error::internal)?;
        let result = if expected_version == 0 {
            sqlx::query(
                "INSERT INTO career_policies (province, rung_requirements, violation_lookback_months, \
                 reserve_annual_target, version, update_time) VALUES ($1, $2, $3, $4, 1, $5) \
                 ON CONFLICT (province) DO NOTHING",
            )
            .bind(province.to_string())
            .bind(requirements)
            .bind(i64::from(policy.violation_lookback_months))
            .bind(i64::from(policy.reserve_annual_target))
            .bind(to_db_time(now))
            .execute(&mut **tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE career_policies SET rung_requirements = $1, violation_lookback_months = $2, \
                 reserve_annual_target = $3, version = version + 1, update_time = $4 \
                 WHERE province = $5 AND version = $6",
            )
            .bind(requirements)
            .bind(i64::from(policy.violation_lookback_months))
            .bind(i64::from(policy.reserve_annual_target))
            .bind(to_db_time(now))
            .bind(province.to_string())
            .bind(expected_version)
            .execute(&mut **tx)
            .await?
        };
        Ok(result.rows_affected() == 1)
    }

    /// True once a province has its own copy of the catalogue (until then the shipped items
    /// apply, served without writing anything).
    async fn has_catalogue(&self, province: RegionCode) -> Result<bool, Error> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM negative_list_items WHERE province = $1")
                .bind(province.to_string())
                .fetch_one(self.db.pool())
                .await?;
        Ok(count > 0)
    }

    /// Copies the shipped catalogue to a province that has none yet, inside the write that
    /// changes it (idempotent and safe to race).
    async fn ensure_catalogue(
        &self,
        tx: &mut AuditedTx,
        province: RegionCode,
    ) -> Result<(), Error> {
        for item in shipped_items(province) {
            sqlx::query(
                "INSERT INTO negative_list_items (province, code, title, description, active, version) \
                 VALUES ($1, $2, $3, $4, 1, 1) ON CONFLICT (province, code) DO NOTHING",
            )
            .bind(province.to_string())
            .bind(&item.code)
            .bind(&item.title)
            .bind(&item.description)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Up to `limit` catalogue items of a province after `after_code`, by code.
    pub async fn negative_list_items(
        &self,
        province: RegionCode,
        after_code: &str,
        limit: usize,
    ) -> Result<Vec<NegativeListItem>, Error> {
        if !self.has_catalogue(province).await? {
            let mut items: Vec<NegativeListItem> = shipped_items(province)
                .filter(|item| item.code.as_str() > after_code)
                .collect();
            items.sort_by(|a, b| a.code.cmp(&b.code));
            items.truncate(limit);
            return Ok(items);
        }
        let rows: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT province, code, title, description, active, version FROM negative_list_items \
             WHERE province = $1 AND code > $2 ORDER BY code LIMIT $3",
        )
        .bind(province.to_string())
        .bind(after_code)
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(decode_item).collect()
    }

    /// One catalogue item.
    pub async fn negative_list_item(
        &self,
        province: RegionCode,
        code: &str,
    ) -> Result<Option<NegativeListItem>, Error> {
        let row: Option<(String, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT province, code, title, description, active, version FROM negative_list_items \
             WHERE province = $1 AND code = $2",
        )
        .bind(province.to_string())
        .bind(code)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(row) => decode_item(row).map(Some),
            None if !self.has_catalogue(province).await? => {
                Ok(shipped_items(province).find(|item| item.code == code))
            }
            None => Ok(None),
        }
    }

    /// Adds an item; ALREADY_EXISTS when the code is taken.
    pub async fn insert_negative_list_item(
        &self,
        tx: &mut AuditedTx,
        item: &NegativeListItem,
    ) -> Result<(), Error> {
        self.ensure_catalogue(tx, item.province).await?;
        let result = sqlx::query(
            "INSERT INTO negative_list_items (province, code, title, description, active, version) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(item.province.to_string())
        .bind(&item.code)
        .bind(&item.title)
        .bind(&item.description)
        .bind(i64::from(item.active))
        .bind(item.version)
        .execute(&mut **tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists {
                reason: "NEGATIVE_LIST_ITEM_EXISTS",
                message: format!(
                    "item {} already exists in this province's catalogue",
                    item.code
                ),
                resource: Some(format!(
                    "provinces/{}/negativeListItems/{}",
                    item.province, item.code
                )),
            }),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Writes an item if its version is still `expected_version`.
    pub async fn update_negative_list_item(
        &self,
        tx: &mut AuditedTx,
        item: &NegativeListItem,
        expected_version: i64,
    ) -> Result<bool, Error> {
        self.ensure_catalogue(tx, item.province).await?;
        let result = sqlx::query(
            "UPDATE negative_list_items SET title = $1, description = $2, active = $3, version = $4 \
             WHERE province = $5 AND code = $6 AND version = $7",
        )
        .bind(&item.title)
        .bind(&item.description)
        .bind(i64::from(item.active))
        .bind(item.version)
        .bind(item.province.to_string())
        .bind(&item.code)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records a violation.
    pub async fn insert_violation(
        &self,
        tx: &mut AuditedTx,
        violation: &Violation,
    ) -> Result<(), Error> {
        self.ensure_catalogue(tx, violation.province).await?;
        sqlx::query(
            "INSERT INTO violations (id, secretary_id, province, item_code, occurred_on, evidence, recorded_by, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&violation.id)
        .bind(&violation.secretary_id)
        .bind(violation.province.to_string())
        .bind(&violation.item_code)
        .bind(date_text(violation.occurred_on))
        .bind(&violation.evidence)
        .bind(&violation.recorded_by)
        .bind(to_db_time(violation.create_time))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Up to `limit` violations of a secretary, most recent first, after the (date, id) cursor.
    pub async fn violations(
        &self,
        secretary_id: &str,
        after: Option<(NaiveDate, String)>,
        limit: usize,
    ) -> Result<Vec<Violation>, Error> {
        // The cursor is compared as one text key "date|id", which sorts like the pair.
        let after_key = after.map_or_else(
            || "9999-12-31|~".to_owned(),
            |(date, id)| format!("{}|{id}", date_text(date)),
        );
        let rows: Vec<ViolationRow> = sqlx::query_as(
            "SELECT id, secretary_id, province, item_code, occurred_on, evidence, recorded_by, create_time \
             FROM violations WHERE secretary_id = $1 AND occurred_on || '|' || id < $2 \
             ORDER BY occurred_on DESC, id DESC LIMIT $3",
        )
        .bind(secretary_id)
        .bind(after_key)
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(decode_violation).collect()
    }

    /// One violation of a secretary.
    pub async fn violation(
        &self,
        secretary_id: &str,
        id: &str,
    ) -> Result<Option<Violation>, Error> {
        let row: Option<ViolationRow> = sqlx::query_as(
            "SELECT id, secretary_id, province, item_code, occurred_on, evidence, recorded_by, create_time \
             FROM violations WHERE secretary_id = $1 AND id = $2",
        )
        .bind(secretary_id)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(decode_violation).transpose()
    }

    /// Dates of all of a secretary's violations (for promotion prerequisites).
    pub async fn violation_dates(&self, secretary_id: &str) -> Result<Vec<NaiveDate>, Error> {
        let dates: Vec<String> =
            sqlx::query_scalar("SELECT occurred_on FROM violations WHERE secretary_id = $1")
                .bind(secretary_id)
                .fetch_all(self.db.pool())
                .await?;
        dates.iter().map(|d| stored_date(d)).collect()
    }
}

/// The shipped catalogue as a province's items (version 1, active).
fn shipped_items(province: RegionCode) -> impl Iterator<Item = NegativeListItem> {
    DEFAULT_ITEMS
        .iter()
        .map(move |(code, title, description)| NegativeListItem {
            province,
            code: (*code).to_owned(),
            title: (*title).to_owned(),
            description: (*description).to_owned(),
            active: true,
            version: 1,
        })
}

fn decode_item(row: (String, String, String, String, i64, i64)) -> Result<NegativeListItem, Error> {
    let (province, code, title, description, active, version) = row;
    Ok(NegativeListItem {
        province: stored_region(&province)?,
        code,
        title,
        description,
        active: active != 0,
        version,
    })
}

fn decode_violation(row: ViolationRow) -> Result<Violation, Error> {
    let (id, secretary_id, province, item_code, occurred_on, evidence, recorded_by, created) = row;
    Ok(Violation {
        id,
        secretary_id,
        province: stored_region(&province)?,
        item_code,
        occurred_on: stored_date(&occurred_on)?,
        evidence,
        recorded_by,
        create_time: stored_time(&created)?,
    })
}
