//! The roster: who serves which community, as personnel's feed has told this service.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    regions::RegionCode,
};
use sqlx::AnyConnection;

use super::Store;

/// What the roster knows, and as of which personnel event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsOf {
    /// Personnel feed sequence of the newest event reflected (0: none yet).
    pub sequence: i64,
    /// When personnel committed it.
    pub time: Option<DateTime<Utc>>,
}

impl AsOf {
    /// For messages: `personnel event 12 of 2026-06-15T02:00:00Z`, or that nothing came yet.
    pub fn describe(&self) -> String {
        match self.time {
            Some(time) => format!(
                "personnel's feed as of its event {} ({})",
                self.sequence,
                time.to_rfc3339()
            ),
            None => "personnel's feed, from which nothing has arrived yet".to_owned(),
        }
    }
}

/// A secretary's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    /// The community.
    pub region: RegionCode,
    /// In post.
    pub active: bool,
}

impl Store {
    /// Records what an event said about `secretary` (region served, in post or not), and that
    /// the roster now reflects event `sequence` committed at `at`.
    pub async fn put_serving(
        tx: &mut AuditedTx,
        secretary: &str,
        serving: &Serving,
        sequence: i64,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO secretary_roster (secretary, region, active, since, sequence) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (secretary) DO UPDATE SET \
             region = excluded.region, active = excluded.active, since = excluded.since, \
             sequence = excluded.sequence",
        )
        .bind(secretary)
        .bind(serving.region.to_string())
        .bind(i64::from(serving.active))
        .bind(to_db_time(at))
        .bind(sequence)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO roster_as_of (id, sequence, event_time) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, \
             event_time = excluded.event_time",
        )
        .bind(sequence)
        .bind(to_db_time(at))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Whether `secretary` serves `community` in post, and as of when the roster knows.
    pub async fn serves(
        conn: &mut AnyConnection,
        secretary: &str,
        community: RegionCode,
    ) -> Result<(bool, AsOf), Error> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT region, active FROM secretary_roster WHERE secretary = $1")
                .bind(secretary)
                .fetch_optional(&mut *conn)
                .await?;
        let serves =
            row.is_some_and(|(region, active)| active != 0 && region == community.to_string());
        Ok((serves, as_of(conn).await?))
    }

    /// The most recently appointed (or moved) active secretary of `community`, other than
    /// `except`.
    pub async fn current_secretary(
        conn: &mut AnyConnection,
        community: RegionCode,
        except: Option<&str>,
    ) -> Result<Option<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT secretary FROM secretary_roster WHERE region = $1 AND active = 1 \
             AND secretary <> $2 ORDER BY since DESC, sequence DESC LIMIT 1",
        )
        .bind(community.to_string())
        .bind(except.unwrap_or(""))
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Ids of the active warnings assigned to `secretary`.
    pub async fn active_assigned(
        conn: &mut AnyConnection,
        secretary: &str,
    ) -> Result<Vec<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM warnings WHERE assignee = $1 \
             AND state IN ('OPEN', 'ACKNOWLEDGED', 'HANDLING') ORDER BY id",
        )
        .bind(secretary)
        .fetch_all(&mut *conn)
        .await?)
    }

    /// Ids of the active warnings of `community` without an assignee.
    pub async fn active_unassigned(
        conn: &mut AnyConnection,
        community: RegionCode,
    ) -> Result<Vec<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM warnings WHERE region = $1 AND assignee IS NULL \
             AND state IN ('OPEN', 'ACKNOWLEDGED', 'HANDLING') ORDER BY id",
        )
        .bind(community.to_string())
        .fetch_all(&mut *conn)
        .await?)
    }
}

async fn as_of(conn: &mut AnyConnection) -> Result<AsOf, Error> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT sequence, event_time FROM roster_as_of WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match row {
        Some((sequence, time)) => AsOf {
            sequence,
            time: Some(from_db_time(&time)?),
        },
        None => AsOf {
            sequence: 0,
            time: None,
        },
    })
}
