//! Webhook endpoints and the outbox of their deliveries.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    regions::RegionCode,
};
use sqlx::AnyConnection;

use super::{Store, warnings::scope_bounds};
use crate::domain::webhook::EventType;

/// A subscriber's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Identifier.
    pub id: String,
    /// Whose it is.
    pub display_name: String,
    /// Where events go.
    pub url: String,
    /// The region whose warnings it receives.
    pub region: RegionCode,
    /// The events it receives (all when empty).
    pub event_types: Vec<EventType>,
    /// Deleted.
    pub deleted: bool,
    /// Who registered it.
    pub creator: String,
    /// Registered at.
    pub create_time: DateTime<Utc>,
}

impl Endpoint {
    /// Its resource name.
    pub fn name(&self) -> String {
        format!("webhookEndpoints/{}", self.id)
    }

    /// Whether it receives `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// To be attempted.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Given up.
    Failed,
    /// Its endpoint was deleted.
    Cancelled,
}

impl DeliveryState {
    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            DeliveryState::Pending => "PENDING",
            DeliveryState::Delivered => "DELIVERED",
            DeliveryState::Failed => "FAILED",
            DeliveryState::Cancelled => "CANCELLED",
        }
    }

    fn from_code(code: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
            DeliveryState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// From 1.
    pub number: i64,
    /// Started at.
    pub start: DateTime<Utc>,
    /// HTTP status; 0 for none.
    pub status_code: i64,
    /// Why it failed.
    pub error: String,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Identifier, also the `webhook-id`.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_type: EventType,
    /// The warning.
    pub warning_id: String,
    /// The JSON body.
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i64,
    /// Next attempt, while pending.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Queued at.
    pub create_time: DateTime<Utc>,
    /// Delivered at.
    pub deliver_time: Option<DateTime<Utc>>,
    /// Every attempt, oldest first (filled by listings).
    pub attempt_log: Vec<Attempt>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Failed; try again at.
    Retry(DateTime<Utc>),
    /// Failed for the last time.
    GiveUp,
}

fn bad(what: &str, value: &str) -> Error {
    Error::internal(anyhow::anyhow!("stored {what} {value:?} is not known"))
}

fn time(text: Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
    text.as_deref().map(from_db_time).transpose()
}

type EndpointRow = (String, String, String, String, String, i64, String, String);

const ENDPOINT_COLUMNS: &str =
    "id, display_name, url, region, event_types, deleted, creator, create_time";

fn endpoint(row: EndpointRow) -> Result<Endpoint, Error> {
    let (id, display_name, url, region, types, deleted, creator, created) = row;
    Ok(Endpoint {
        id,
        display_name,
        url,
        region: RegionCode::parse(&region).map_err(Error::internal)?,
        event_types: types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| EventType::from_code(t).ok_or_else(|| bad("event type", t)))
            .collect::<Result<_, _>>()?,
        deleted: deleted != 0,
        creator,
        create_time: from_db_time(&created)?,
    })
}

type DeliveryRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    Option<String>,
);

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_type, warning_id, payload, state, attempts, \
     next_attempt, create_time, deliver_time";

fn delivery(row: DeliveryRow) -> Result<Delivery, Error> {
    let (id, endpoint_id, event, warning_id, payload, state, attempts, next, created, delivered) =
        row;
    Ok(Delivery {
        id,
        endpoint_id,
        event_type: EventType::from_code(&event).ok_or_else(|| bad("event type", &event))?,
        warning_id,
        payload,
        state: DeliveryState::from_code(&state).ok_or_else(|| bad("state", &state))?,
        attempts,
        next_attempt: time(next)?,
        create_time: from_db_time(&created)?,
        deliver_time: time(delivered)?,
        attempt_log: Vec::new(),
    })
}

impl Store {
    /// Stores a new endpoint with its encrypted secret.
    pub async fn insert_endpoint(
        tx: &mut AuditedTx,
        endpoint: &Endpoint,
        secret: &str,
    ) -> Result<(), Error> {
        let (low, high) = scope_bounds(endpoint.region);
        let types: Vec<&str> = endpoint.event_types.iter().map(|e| e.code()).collect();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, display_name, url, region, region_low, \
             region_high, event_types, secret, deleted, creator, create_time, delete_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, NULL)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.display_name)
        .bind(&endpoint.url)
        .bind(endpoint.region.to_string())
        .bind(low)
        .bind(high)
        .bind(types.join(","))
        .bind(secret)
        .bind(&endpoint.creator)
        .bind(to_db_time(endpoint.create_time))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The endpoint `id` (deleted ones too).
    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, Error> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(endpoint).transpose()
    }

    /// Up to `limit` live endpoints whose region lies inside `scope`, after id `after`.
    pub async fn endpoints(
        &self,
        scope: RegionCode,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Endpoint>, Error> {
        let (low, high) = scope_bounds(scope);
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE deleted = 0 \
             AND region BETWEEN $1 AND $2 AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(low)
            .bind(high)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(endpoint).collect()
    }

    /// Deletes an endpoint and cancels its pending deliveries; false when already deleted.
    pub async fn delete_endpoint(
        tx: &mut AuditedTx,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET deleted = 1, delete_time = $1 WHERE id = $2 AND deleted = 0",
        )
        .bind(to_db_time(now))
        .bind(id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'CANCELLED', next_attempt = NULL \
             WHERE endpoint_id = $1 AND state = 'PENDING'",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The live endpoints whose region covers `community`, read inside a change.
    pub async fn subscribers(
        conn: &mut AnyConnection,
        community: RegionCode,
    ) -> Result<Vec<Endpoint>, Error> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE deleted = 0 \
             AND region_low <= $1 AND $1 <= region_high ORDER BY id"
        );
        let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(community.to_string())
            .fetch_all(&mut *conn)
            .await?;
        rows.into_iter().map(endpoint).collect()
    }

    /// Queues a delivery (in the transaction of the change that causes it).
    pub async fn enqueue(tx: &mut AuditedTx, delivery: &Delivery) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&delivery.id)
            .bind(&delivery.endpoint_id)
            .bind(delivery.event_type.code())
            .bind(&delivery.warning_id)
            .bind(&delivery.payload)
            .bind(delivery.state.code())
            .bind(delivery.attempts)
            .bind(delivery.next_attempt.map(to_db_time))
            .bind(to_db_time(delivery.create_time))
            .bind(delivery.deliver_time.map(to_db_time))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Up to `limit` pending deliveries due at `now` and not leased: (id, attempts so far).
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, Error> {
        let now = to_db_time(now);
        Ok(sqlx::query_as(
            "SELECT id, attempts FROM webhook_deliveries WHERE state = 'PENDING' \
             AND next_attempt <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
             ORDER BY next_attempt, id LIMIT $2",
        )
        .bind(now)
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?)
    }

    /// When the next pending delivery is due (or its lease runs out), if any.
    pub async fn next_delivery(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_attempt \
             THEN lease_until ELSE next_attempt END) FROM webhook_deliveries \
             WHERE state = 'PENDING'",
        )
        .fetch_one(self.db.pool())
        .await?;
        next.as_deref().map(from_db_time).transpose()
    }

    /// Claims the next attempt of delivery `id` (seen with `attempts` so far) until `lease`:
    /// false when another replica claimed it, or it is no longer due.
    pub async fn claim_delivery(
        tx: &mut AuditedTx,
        id: &str,
        attempts: i64,
        now: DateTime<Utc>,
        lease: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let now = to_db_time(now);
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = $1 \
             WHERE id = $2 AND state = 'PENDING' AND attempts = $3 AND next_attempt <= $4 \
             AND (lease_until IS NULL OR lease_until <= $4)",
        )
        .bind(to_db_time(lease))
        .bind(id)
        .bind(attempts)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, number, start_time, status_code, error) \
             VALUES ($1, $2, $3, 0, 'in progress')",
        )
        .bind(id)
        .bind(attempts + 1)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
        Ok(true)
    }

    /// A delivery with its endpoint and the endpoint's encrypted secret.
    pub async fn delivery_to_send(
        &self,
        id: &str,
    ) -> Result<Option<(Delivery, Endpoint, String)>, Error> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(delivery) = row.map(delivery).transpose()? else {
            return Ok(None);
        };
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&delivery.endpoint_id)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let secret: String =
            sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1")
                .bind(&delivery.endpoint_id)
                .fetch_one(self.db.pool())
                .await?;
        Ok(Some((delivery, endpoint(row)?, secret)))
    }

    /// Records how attempt `number` of delivery `id` ended.
    pub async fn finish_attempt(
        tx: &mut AuditedTx,
        id: &str,
        number: i64,
        status_code: i64,
        error: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE webhook_attempts SET status_code = $1, error = $2 \
             WHERE delivery_id = $3 AND number = $4",
        )
        .bind(status_code)
        .bind(error)
        .bind(id)
        .bind(number)
        .execute(&mut **tx)
        .await?;
        let (state, next, delivered) = match outcome {
            Outcome::Delivered => (DeliveryState::Delivered, None, Some(now)),
            Outcome::Retry(at) => (DeliveryState::Pending, Some(at), None),
            Outcome::GiveUp => (DeliveryState::Failed, None, None),
        };
        // A delivery cancelled meanwhile (its endpoint deleted) stays cancelled.
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, next_attempt = $2, deliver_time = $3, \
             lease_until = NULL WHERE id = $4 AND state = 'PENDING' AND attempts = $5",
        )
        .bind(state.code())
        .bind(next.map(to_db_time))
        .bind(delivered.map(to_db_time))
        .bind(id)
        .bind(number)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Up to `limit` deliveries to endpoint `endpoint`, newest first, before `before_id`, with
    /// their attempts.
    pub async fn deliveries(
        &self,
        endpoint: &str,
        before_id: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, Error> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
             AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        // The deliveries and their attempts are read from one snapshot: read one by one, an
        // attempt finished in between shows its outcome beside the delivery's earlier next
        // attempt time (a log an operator would take for a scheduling bug).
        let mut tx = self.db.pool().begin().await?;
        if self.db.backend() == shequ_kit::db::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(endpoint)
            .bind(before_id)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await?;
        let mut deliveries: Vec<Delivery> =
            rows.into_iter().map(delivery).collect::<Result<_, _>>()?;
        for delivery in &mut deliveries {
            let attempts: Vec<(i64, String, i64, String)> = sqlx::query_as(
                "SELECT number, start_time, status_code, error FROM webhook_attempts \
                 WHERE delivery_id = $1 ORDER BY number",
            )
            .bind(&delivery.id)
            .fetch_all(&mut *tx)
            .await?;
            delivery.attempt_log = attempts
                .into_iter()
                .map(|(number, start, status_code, error)| {
                    Ok(Attempt {
                        number,
                        start: from_db_time(&start)?,
                        status_code,
                        error,
                    })
                })
                .collect::<Result<_, Error>>()?;
        }
        tx.commit().await?;
        Ok(deliveries)
    }
}
