//! How long readings (and the answers kept for repeated batches) are kept:
//! `reading_retention_days` (90 by default), enforced by a job that runs at start-up and then
//! daily on the kit's clock, as the service itself, in an audited transaction.
//!
//! - SQLite: one plain table; rows measured before the cutoff are deleted.
//! - PostgreSQL: a table partitioned by month of `observe_time`. The job creates the partitions
//!   of the previous, current and next two months ahead of the readings (moving any rows the
//!   default partition caught for such a month into it), and drops a month's partition whole once
//!   the month has entirely passed the cutoff, a cheap `DROP TABLE` instead of a large `DELETE`:
//!   readings are kept at least the retention, and at most one month longer.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use shequ_kit::{
    Error,
    audit::AuditLog,
    auth::Caller,
    call::{AuditedTx, Call, CallStart},
    clock::Clock,
    convert::to_db_time,
    db::{Backend, Database},
    shutdown::Stop,
};

/// The readings retention job of one replica.
pub(crate) struct Retention {
    pub(crate) database: Database,
    pub(crate) log: AuditLog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) identity: Caller,
    pub(crate) days: u32,
}

/// The first day of the month `offset` months after `date`'s.
fn month_start(date: NaiveDate, offset: i32) -> NaiveDate {
    let months = date.year() * 12 + date.month0() as i32 + offset;
    NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(date)
}

/// The partition of the month starting `start`: `readings_2026_06`.
fn partition_name(start: NaiveDate) -> String {
    format!("readings_{:04}_{:02}", start.year(), start.month())
}

/// The month of a partition's name.
fn partition_month(name: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix("readings_")?;
    let (year, month) = rest.split_once('_')?;
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)
}

/// The text bound of a month: `2026-06` (RFC 3339 times of the month sort from it).
fn bound(start: NaiveDate) -> String {
    format!("{:04}-{:02}", start.year(), start.month())
}

impl Retention {
    /// Runs at once, then every day, until `stop`.
    pub(crate) async fn run(self, stop: Stop) {
        loop {
            let now = self.clock.now();
            if let Err(error) = self.once(now).await {
                tracing::warn!(%error, "readings retention failed; it runs again in a day");
            }
            tokio::select! {
                () = self.clock.wait_until(now + Duration::days(1)) => {}
                () = stop.wait() => return,
            }
        }
    }

    /// Applies the retention at `now`.
    pub(crate) async fn once(&self, now: DateTime<Utc>) -> Result<(), Error> {
        let call = Call::new(
            CallStart {
                caller: self.identity.clone(),
                token: None,
                action: "PurgeReadings",
                request_id: format!("readings-retention:{}", now.date_naive()),
                client_request_id: None,
                deadline: None,
            },
            self.log.clone(),
            Arc::clone(&self.clock),
        );
        call.target("readings", self.identity.scope);
        let cutoff = now - Duration::days(i64::from(self.days));
        let mut tx = call.begin(&self.database).await?;
        match self.database.backend() {
            Backend::Sqlite => {
                sqlx::query("DELETE FROM readings WHERE observe_time < $1")
                    .bind(to_db_time(cutoff))
                    .execute(&mut *tx)
                    .await?;
            }
            Backend::Postgres => partitions(&mut tx, now, cutoff).await?,
        }
        // The answers kept for repeated batches go with them: a batch older than the retention
        // holds only readings older than the 7 days a reading may be, so a repeat of it applies
        // nothing even when it is no longer recognised.
        sqlx::query("DELETE FROM reading_batches WHERE commit_time < $1")
            .bind(to_db_time(cutoff))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

async fn partitions(
    tx: &mut AuditedTx,
    now: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<(), Error> {
    // One replica at a time changes the partitions.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('shequ-warnings:readings-partitions'))")
        .execute(&mut **tx)
        .await?;
    let today = now.date_naive();
    let mut missing = Vec::new();
    for offset in -1..=2 {
        let start = month_start(today, offset);
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_class WHERE relname = $1")
            .bind(partition_name(start))
            .fetch_optional(&mut **tx)
            .await?;
        if exists.is_none() {
            missing.push(start);
        }
    }
    if !missing.is_empty() {
        // Inserts wait until the new partitions are attached: one already routed to the default
        // partition would otherwise land there after a partition for its month was attached,
        // and fail its partition constraint.
        sqlx::query("LOCK TABLE readings IN SHARE MODE")
            .execute(&mut **tx)
            .await?;
    }
    for start in missing {
        let name = partition_name(start);
        let (low, high) = (bound(start), bound(month_start(start, 1)));
        for sql in [
            format!("CREATE TABLE {name} (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
            format!(
                "INSERT INTO {name} SELECT * FROM readings_default \
                 WHERE observe_time >= '{low}' AND observe_time < '{high}'"
            ),
            format!(
                "DELETE FROM readings_default WHERE observe_time >= '{low}' AND observe_time < '{high}'"
            ),
            format!(
                "ALTER TABLE readings ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut **tx)
                .await?;
        }
    }
    let attached: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(c.relname AS TEXT) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings'",
    )
    .fetch_all(&mut **tx)
    .await?;
    let cutoff_day = cutoff.date_naive();
    for name in attached {
        // a month wholly before the cutoff: its next month starts on or before the cutoff day
        if let Some(start) = partition_month(&name)
            && month_start(start, 1) <= cutoff_day
        {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
                .execute(&mut **tx)
                .await?;
        }
    }
    sqlx::query("DELETE FROM readings_default WHERE observe_time < $1")
        .bind(to_db_time(cutoff))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_their_partitions_are_named_and_bounded_as_text() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap();
        assert_eq!(
            month_start(day, -1),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        assert_eq!(
            month_start(day, 1),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
        assert_eq!(
            month_start(day, -12),
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
        );
        let start = month_start(day, 0);
        assert_eq!(partition_name(start), "readings_2026_12");
        assert_eq!(partition_month("readings_2026_12"), Some(start));
        assert_eq!(partition_month("readings_default"), None);
        // every stored time of the month sorts inside its bounds
        let inside = to_db_time("2026-12-31T23:59:59.999999Z".parse().unwrap());
        assert!(bound(start) <= inside && inside < bound(month_start(start, 1)));
    }
}
