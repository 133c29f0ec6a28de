//! Counts for statistics and for evaluation's per-secretary summaries.

use chrono::{DateTime, Utc};
use shequ_kit::{Error, convert::to_db_time, regions::RegionCode};

use super::{Store, warnings::scope_bounds};

/// On-time and late deadlines of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRecord {
    /// Stored kind code.
    pub kind: String,
    /// Met by the time due.
    pub on_time: i64,
    /// Passed unmet.
    pub late: i64,
}

/// A region's counts over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Warnings raised.
    pub total: i64,
    /// By colour code.
    pub by_colour: Vec<(String, i64)>,
    /// By state code.
    pub by_state: Vec<(String, i64)>,
    /// By category.
    pub by_category: Vec<(String, i64)>,
    /// By the significant prefix of the region one level down.
    pub by_region: Vec<(String, i64)>,
    /// Overdue now.
    pub overdue: i64,
    /// Per deadline kind.
    pub on_time: Vec<KindRecord>,
}

/// Whether a deadline was met on time, and whether it counts as late by `$N` (now): met after it
/// was due, marked missed, or running past due.
const ON_TIME: &str = "SUM(CASE WHEN d.met_time IS NOT NULL AND d.met_time <= d.due_time \
     THEN 1 ELSE 0 END)";
fn late(now: usize) -> String {
    format!(
        "SUM(CASE WHEN (d.met_time IS NOT NULL AND d.met_time > d.due_time) \
         OR (d.met_time IS NULL AND d.missed = 1) \
         OR (d.met_time IS NULL AND d.supersede_time IS NULL AND d.due_time <= ${now}) \
         THEN 1 ELSE 0 END)"
    )
}

/// One secretary's counts in a year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretaryCounts {
    /// Warnings assigned, raised in the year.
    pub assigned: i64,
    /// Of them, resolved.
    pub resolved: i64,
    /// Deadlines due in the year met on time.
    pub on_time: i64,
    /// Passed unmet.
    pub late: i64,
}

impl Store {
    /// Counts of the warnings inside `scope` raised in `[from, to)`, and of the deadlines due in
    /// it, as of `now`; regions grouped by their first `child_digits` digits.
    pub async fn statistics(
        &self,
        scope: RegionCode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        child_digits: usize,
    ) -> Result<Counts, Error> {
        let (low, high) = scope_bounds(scope);
        let (from, to, now) = (to_db_time(from), to_db_time(to), to_db_time(now));
        let filter = "region BETWEEN $1 AND $2 AND create_time >= $3 AND create_time < $4";
        let mut conn = self.db.pool().acquire().await?;
        let grouped = |column: String| {
            let sql = format!(
                "SELECT {column} AS k, COUNT(*) FROM warnings WHERE {filter} GROUP BY {column} ORDER BY k"
            );
            (sql, [low.clone(), high.clone(), from.clone(), to.clone()])
        };
        let mut counts = Counts::default();
        for (i, column) in [
            "colour".to_owned(),
            "state".to_owned(),
            "category".to_owned(),
            format!("SUBSTR(region, 1, {child_digits})"),
        ]
        .into_iter()
        .enumerate()
        {
            let (sql, binds) = grouped(column);
            let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
            for bind in binds {
                query = query.bind(bind);
            }
            let rows = query.fetch_all(&mut *conn).await?;
            match i {
                0 => counts.by_colour = rows,
                1 => counts.by_state = rows,
                2 => counts.by_category = rows,
                _ => counts.by_region = rows,
            }
        }
        counts.total = counts.by_colour.iter().map(|(_, n)| n).sum();
        counts.overdue = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM warnings WHERE {filter} AND overdue = 1"
        )))
        .bind(&low)
        .bind(&high)
        .bind(&from)
        .bind(&to)
        .fetch_one(&mut *conn)
        .await?;
        let sql = format!(
            "SELECT d.kind, {ON_TIME}, {} FROM warning_deadlines d WHERE d.region BETWEEN $1 AND $2 \
             AND d.due_time >= $3 AND d.due_time < $4 GROUP BY d.kind ORDER BY d.kind",
            late(5)
        );
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&low)
            .bind(&high)
            .bind(&from)
            .bind(&to)
            .bind(&now)
            .fetch_all(&mut *conn)
            .await?;
        counts.on_time = rows
            .into_iter()
            .map(|(kind, on_time, late)| KindRecord {
                kind,
                on_time,
                late,
            })
            .collect();
        Ok(counts)
    }

    /// The region of a secretary as the roster knows it (in post or not).
    pub async fn roster_region(&self, secretary: &str) -> Result<Option<RegionCode>, Error> {
        let region: Option<String> =
            sqlx::query_scalar("SELECT region FROM secretary_roster WHERE secretary = $1")
                .bind(secretary)
                .fetch_optional(self.db.pool())
                .await?;
        region
            .map(|r| RegionCode::parse(&r).map_err(Error::internal))
            .transpose()
    }

    /// The counts of the warnings assigned to `secretary` in `[from, to)`, as of `now`.
    pub async fn secretary_counts(
        &self,
        secretary: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SecretaryCounts, Error> {
        let (from, to, now) = (to_db_time(from), to_db_time(to), to_db_time(now));
        let mut conn = self.db.pool().acquire().await?;
        let (assigned, resolved): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), SUM(CASE WHEN resolve_time IS NOT NULL THEN 1 ELSE 0 END) \
             FROM warnings WHERE assignee = $1 AND create_time >= $2 AND create_time < $3",
        )
        .bind(secretary)
        .bind(&from)
        .bind(&to)
        .fetch_one(&mut *conn)
        .await?;
        let sql = format!(
            "SELECT {ON_TIME}, {} FROM warning_deadlines d JOIN warnings w ON w.id = d.warning_id \
             WHERE w.assignee = $1 AND d.due_time >= $2 AND d.due_time < $3",
            late(4)
        );
        let (on_time, late): (Option<i64>, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(secretary)
            .bind(&from)
            .bind(&to)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?;
        Ok(SecretaryCounts {
            assigned,
            resolved: resolved.unwrap_or(0),
            on_time: on_time.unwrap_or(0),
            late: late.unwrap_or(0),
        })
    }
}
