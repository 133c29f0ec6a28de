//! The certificates read model: what training's feed said about each secretary's 数字书记
//! certificates, written by the feed's handler inside the transaction that advances the cursor.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use shequ_kit::{Error, call::AuditedTx, convert::to_db_time};

use super::{Store, stored_code, stored_date};
use crate::domain::career::{CertificateLevel, CertificateState, HeldCertificate};

fn state_code(state: CertificateState) -> &'static str {
    match state {
        CertificateState::Valid => "valid",
        CertificateState::Suspended => "suspended",
        CertificateState::Revoked => "revoked",
        CertificateState::Expired => "expired",
    }
}

fn state_of(code: &str) -> Option<CertificateState> {
    Some(match code {
        "valid" => CertificateState::Valid,
        "suspended" => CertificateState::Suspended,
        "revoked" => CertificateState::Revoked,
        "expired" => CertificateState::Expired,
        _ => return None,
    })
}

/// A certificate as the feed announced it (issued or renewed).
pub struct IssuedCertificate<'a> {
    /// `certificates/{number}`.
    pub name: &'a str,
    /// The holder's record id.
    pub secretary_id: &'a str,
    /// Its level.
    pub level: CertificateLevel,
    /// `YYYY-MM-DD`.
    pub issue_date: &'a str,
    /// `YYYY-MM-DD`.
    pub expiry_date: &'a str,
}

impl Store {
    /// Records an issued (or renewed) certificate as valid.
    pub async fn certificate_issued(
        &self,
        tx: &mut AuditedTx,
        certificate: &IssuedCertificate<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO certificates (name, secretary_id, level, issue_date, expiry_date, state, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'valid', $6) \
             ON CONFLICT (name) DO UPDATE SET secretary_id = excluded.secretary_id, level = excluded.level, \
             issue_date = excluded.issue_date, expiry_date = excluded.expiry_date, state = 'valid', \
             updated_at = excluded.updated_at",
        )
        .bind(certificate.name)
        .bind(certificate.secretary_id)
        .bind(certificate.level.code())
        .bind(certificate.issue_date)
        .bind(certificate.expiry_date)
        .bind(to_db_time(now))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Moves a certificate to `state`, where it is in one of `from` (a revocation is final; a
    /// reinstatement only lifts a suspension).
    pub async fn certificate_state(
        &self,
        tx: &mut AuditedTx,
        name: &str,
        from: &[CertificateState],
        state: CertificateState,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let from: Vec<&str> = from.iter().map(|s| state_code(*s)).collect();
        sqlx::query(
            "UPDATE certificates SET state = $1, updated_at = $2 \
             WHERE name = $3 AND (state = $4 OR state = $5 OR state = $6)",
        )
        .bind(state_code(state))
        .bind(to_db_time(now))
        .bind(name)
        .bind(from.first().copied().unwrap_or(""))
        .bind(from.get(1).copied().unwrap_or(""))
        .bind(from.get(2).copied().unwrap_or(""))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The certificates of the secretaries selected by `concerned` (a sub-query over the region
    /// bounds `$1`, `$2`), by secretary.
    pub(super) async fn certificates_of_concerned(
        &self,
        low: &str,
        high: &str,
        concerned: &str,
    ) -> Result<HashMap<String, Vec<HeldCertificate>>, Error> {
        let sql = format!(
            "SELECT secretary_id, name, level, issue_date, expiry_date, state FROM certificates \
             WHERE secretary_id IN {concerned} ORDER BY secretary_id, issue_date, name"
        );
        let rows: Vec<(String, String, String, String, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(low)
                .bind(high)
                .fetch_all(self.db.pool())
                .await?;
        let mut by_secretary: HashMap<String, Vec<HeldCertificate>> = HashMap::new();
        for (secretary, name, level, issue, expiry, state) in rows {
            by_secretary
                .entry(secretary)
                .or_default()
                .push(held(name, &level, &issue, &expiry, &state)?);
        }
        Ok(by_secretary)
    }

    /// The certificates of a secretary, as last heard from training.
    pub async fn certificates_of(&self, secretary_id: &str) -> Result<Vec<HeldCertificate>, Error> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT name, level, issue_date, expiry_date, state FROM certificates \
             WHERE secretary_id = $1 ORDER BY issue_date, name",
        )
        .bind(secretary_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(name, level, issue, expiry, state)| held(name, &level, &issue, &expiry, &state))
            .collect()
    }
}

fn held(
    name: String,
    level: &str,
    issue: &str,
    expiry: &str,
    state: &str,
) -> Result<HeldCertificate, Error> {
    Ok(HeldCertificate {
        name,
        level: stored_code(level, CertificateLevel::from_code, "certificate level")?,
        issue_date: stored_date(issue)?,
        expiry_date: stored_date(expiry)?,
        state: stored_code(state, state_of, "certificate state")?,
    })
}
