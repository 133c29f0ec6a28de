//! The evaluation standing read model: each secretary's latest ranked annual result and whether
//! it is in the adjustment band, written by the handler of evaluation's feed inside the
//! transaction that advances the cursor.

use chrono::{DateTime, Utc};
use shequ_kit::{Error, call::AuditedTx, convert::to_db_time};

use super::Store;
use crate::domain::career::Standing;

impl Store {
    /// Records a secretary's place in a ranking (or a change of it); a result of an earlier
    /// year than the one held changes nothing (the latest year decides).
    pub async fn put_standing(
        &self,
        tx: &mut AuditedTx,
        secretary_id: &str,
        standing: &Standing,
        ranking: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO evaluation_standing (secretary_id, year, score, in_band, ranking, \
             explanation, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (secretary_id) DO UPDATE SET year = excluded.year, \
             score = excluded.score, in_band = excluded.in_band, ranking = excluded.ranking, \
             explanation = excluded.explanation, updated_at = excluded.updated_at \
             WHERE evaluation_standing.year <= excluded.year",
        )
        .bind(secretary_id)
        .bind(i64::from(standing.year))
        .bind(standing.score)
        .bind(i64::from(standing.in_band))
        .bind(ranking)
        .bind(&standing.explanation)
        .bind(to_db_time(now))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A confirmed adjustment keeps the secretary's result of that year in the band.
    pub async fn adjustment_confirmed(
        &self,
        tx: &mut AuditedTx,
        secretary_id: &str,
        year: i32,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE evaluation_standing SET in_band = 1, updated_at = $1 \
             WHERE secretary_id = $2 AND year = $3",
        )
        .bind(to_db_time(now))
        .bind(secretary_id)
        .bind(i64::from(year))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The secretary's latest ranked result, if evaluation ranked one.
    pub async fn standing(&self, secretary_id: &str) -> Result<Option<Standing>, Error> {
        let row: Option<(i64, f64, i64, String)> = sqlx::query_as(
            "SELECT year, score, in_band, explanation FROM evaluation_standing \
             WHERE secretary_id = $1",
        )
        .bind(secretary_id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.map(|(year, score, in_band, explanation)| Standing {
            year: year as i32,
            score,
            in_band: in_band != 0,
            explanation,
        }))
    }
}
