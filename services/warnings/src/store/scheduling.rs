//! What the deadline scheduler reads and writes: due deadlines, their claims, notifications.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    db::Backend,
    regions::RegionCode,
};

use super::{Store, warnings::scope_bounds};
use crate::domain::{Colour, DeadlineKind};

/// A deadline the scheduler must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeadline {
    /// The deadline.
    pub id: String,
    /// Its warning.
    pub warning_id: String,
    /// Levels notified when it was read.
    pub notified_level: i32,
}

/// A notification to the level above a community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Identifier.
    pub id: String,
    /// The warning.
    pub warning_id: String,
    /// The missed deadline.
    pub deadline_id: String,
    /// 1 street, 2 district.
    pub level: i32,
    /// The notified region.
    pub region: RegionCode,
    /// The warning's community.
    pub community: RegionCode,
    /// The warning's title.
    pub title: String,
    /// The deadline's colour.
    pub colour: Colour,
    /// What it asked for.
    pub kind: DeadlineKind,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// When the notification was made.
    pub create_time: DateTime<Utc>,
}

impl Store {
    /// Up to `limit` deadlines whose next check is at or before `now`, earliest first.
    pub async fn due_deadlines(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDeadline>, Error> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, warning_id, notified_level FROM warning_deadlines \
             WHERE next_check IS NOT NULL AND next_check <= $1 ORDER BY next_check, id LIMIT $2",
        )
        .bind(to_db_time(now))
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, warning_id, level)| DueDeadline {
                id,
                warning_id,
                notified_level: level as i32,
            })
            .collect())
    }

    /// When the scheduler next has something to do, if ever.
    pub async fn next_check(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT MIN(next_check) FROM warning_deadlines WHERE next_check IS NOT NULL",
        )
        .fetch_one(self.db.pool())
        .await?;
        next.as_deref().map(from_db_time).transpose()
    }

    /// Claims the next level of a due deadline for this transaction: true when it was still
    /// unmet, running, due and at the level read. On PostgreSQL a row another replica holds is
    /// skipped (`FOR UPDATE SKIP LOCKED`); on both, the conditional update matches nothing once
    /// another replica's claim has committed, so each level is notified once.
    pub async fn claim_deadline(
        &self,
        tx: &mut AuditedTx,
        due: &DueDeadline,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let condition = "id = $2 AND notified_level = $3 AND next_check IS NOT NULL \
             AND next_check <= $4 AND met_time IS NULL AND supersede_time IS NULL";
        let sql = match self.db.backend() {
            Backend::Postgres => format!(
                "UPDATE warning_deadlines SET notified_level = $1 WHERE id = \
                 (SELECT id FROM warning_deadlines WHERE {condition} FOR UPDATE SKIP LOCKED)"
            ),
            Backend::Sqlite => {
                format!("UPDATE warning_deadlines SET notified_level = $1 WHERE {condition}")
            }
        };
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(due.notified_level + 1))
            .bind(&due.id)
            .bind(i64::from(due.notified_level))
            .bind(to_db_time(now))
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a notification.
    pub async fn insert_notification(
        tx: &mut AuditedTx,
        notification: &Notification,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO notifications (id, warning_id, deadline_id, level, region, community, \
             title, colour, kind, due_time, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&notification.id)
        .bind(&notification.warning_id)
        .bind(&notification.deadline_id)
        .bind(i64::from(notification.level))
        .bind(notification.region.to_string())
        .bind(notification.community.to_string())
        .bind(&notification.title)
        .bind(notification.colour.code())
        .bind(notification.kind.code())
        .bind(to_db_time(notification.due))
        .bind(to_db_time(notification.create_time))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Up to `limit` notifications addressed inside `scope`, newest first, before `before_id`.
    pub async fn notifications(
        &self,
        scope: RegionCode,
        before_id: &str,
        limit: usize,
    ) -> Result<Vec<Notification>, Error> {
        type Row = (
            String,
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
        );
        let (low, high) = scope_bounds(scope);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, warning_id, deadline_id, level, region, community, title, colour, kind, \
             due_time, create_time FROM notifications WHERE region BETWEEN $1 AND $2 \
             AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(low)
        .bind(high)
        .bind(before_id)
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        let bad = |what: &str| Error::internal(anyhow::anyhow!("stored notification {what}"));
        rows.into_iter()
            .map(
                |(
                    id,
                    warning_id,
                    deadline_id,
                    level,
                    region,
                    community,
                    title,
                    colour,
                    kind,
                    due,
                    created,
                )| {
                    Ok(Notification {
                        id,
                        warning_id,
                        deadline_id,
                        level: level as i32,
                        region: RegionCode::parse(&region).map_err(|_| bad("region"))?,
                        community: RegionCode::parse(&community).map_err(|_| bad("community"))?,
                        title,
                        colour: Colour::from_code(&colour).ok_or_else(|| bad("colour"))?,
                        kind: DeadlineKind::from_code(&kind).ok_or_else(|| bad("kind"))?,
                        due: from_db_time(&due)?,
                        create_time: from_db_time(&created)?,
                    })
                },
            )
            .collect()
    }
}
