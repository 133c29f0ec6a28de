//! Idempotent writes (AIP-155): a client-supplied request id makes a retried create or custom
//! method take effect exactly once. The first call's outcome (response or error) is stored; a
//! retry with the same id and the same request gets that outcome again, even while the first is
//! still running; the same id with a different request is refused.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message;
use sm3::{Digest, Sm3};

use crate::{
    convert::{from_db_time, to_db_time},
    crypto::FieldCipher,
    db::Database,
    error::Error,
};

/// Metadata key a client (or the gateway, from the `Idempotency-Key` header) may use instead of a
/// `request_id` field.
pub const METADATA_KEY: &str = "idempotency-key";

/// How long a pending claim may live before another call may take it over (the first call
/// crashed).
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// How long a duplicate waits for the first call to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);

/// The stored first outcome of a request id.
#[derive(Debug, Clone)]
pub enum Outcome<M> {
    /// The first call succeeded with this response.
    Done(M),
    /// The first call failed with this status.
    Failed(tonic::Status),
}

/// What to do with an incoming call.
#[derive(Debug)]
pub enum Claim<M> {
    /// First time: run the call, then [`Idempotency::finish`].
    Run,
    /// A repeat: answer with the first outcome.
    Replay(Outcome<M>),
}

/// A stored record: method, fingerprint, state, code, message, body, creation time.
type StoredOutcome = (String, String, String, i64, String, Option<Vec<u8>>, String);

/// The idempotency records of one service's database. Stored responses are encrypted: they may
/// hold what must not rest in clear (an API key's secret, say).
#[derive(Debug, Clone)]
pub struct Idempotency {
    db: Database,
    cipher: FieldCipher,
}

/// The key of a caller's request id.
pub fn key(subject: &str, request_id: &str) -> String {
    format!("{subject}\u{1f}{request_id}")
}

/// SM3 of the method and the encoded request: the same request gives the same fingerprint.
pub fn fingerprint<R: Message>(method: &str, request: &R) -> String {
    let mut hasher = Sm3::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(request.encode_to_vec());
    hex::encode(hasher.finalize())
}

/// Checks a client request id: 1-128 printable ASCII characters.
pub fn validate_request_id(request_id: &str) -> Result<(), Error> {
    if (1..=128).contains(&request_id.len()) && request_id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "request_id",
            "REQUEST_ID_INVALID",
            "a request id is 1-128 printable ASCII characters",
        ))
    }
}

impl Idempotency {
    /// Idempotency records in `db`, responses sealed with `cipher`.
    pub fn new(db: Database, cipher: FieldCipher) -> Self {
        Idempotency { db, cipher }
    }

    /// Claims `key` for this call, or returns the first outcome of an earlier call with it.
    pub async fn claim<M: Message + Default>(
        &self,
        key: &str,
        method: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim<M>, Error> {
        let started = tokio::time::Instant::now();
        loop {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (key, method, fingerprint, state, code, message, body, created_at) \
                 VALUES ($1, $2, $3, 'pending', 0, '', NULL, $4) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(method)
            .bind(fingerprint)
            .bind(to_db_time(now))
            .execute(self.db.pool())
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Claim::Run);
            }
            let row: Option<StoredOutcome> = sqlx::query_as(
                "SELECT method, fingerprint, state, code, message, body, created_at FROM idempotency_keys WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
            let Some((first_method, first_fingerprint, state, code, message, body, created)) = row
            else {
                continue; // expired between our insert and our read: claim again
            };
            if first_method != method || first_fingerprint != fingerprint {
                return Err(Error::AlreadyExists {
                    reason: "REQUEST_ID_REUSED",
                    message:
                        "this request id was already used for a different request; use a new id"
                            .to_owned(),
                    resource: None,
                });
            }
            if state == "done" {
                let sealed = String::from_utf8(body.unwrap_or_default()).unwrap_or_default();
                let body = self
                    .cipher
                    .decrypt(&sealed, "idempotency_keys.body")
                    .map_err(|e| Error::internal(anyhow::anyhow!("stored response: {e}")))?;
                return Ok(Claim::Replay(decode_outcome(code, &message, body)?));
            }
            if now - from_db_time(&created)? > ABANDONED_AFTER {
                // The first call never finished (its process died): let this one run instead.
                sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND state = 'pending' AND created_at = $2")
                    .bind(key)
                    .bind(&created)
                    .execute(self.db.pool())
                    .await?;
                continue;
            }
            if started.elapsed() > WAIT_FOR_FIRST {
                return Err(Error::Aborted {
                    reason: "REQUEST_IN_PROGRESS",
                    message: "the first call with this request id is still running; retry later"
                        .to_owned(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stores the outcome of the call that claimed `key`.
    pub async fn finish<M: Message>(
        &self,
        key: &str,
        outcome: &Result<M, tonic::Status>,
    ) -> Result<(), Error> {
        let (code, message, body) = match outcome {
            Ok(response) => (0_i64, String::new(), response.encode_to_vec()),
            Err(status) => (
                i64::from(status.code() as i32),
                status.message().to_owned(),
                status.details().to_vec(),
            ),
        };
        sqlx::query("UPDATE idempotency_keys SET state = 'done', code = $1, message = $2, body = $3 WHERE key = $4")
            .bind(code)
            .bind(message)
            .bind(self.cipher.encrypt(&body, "idempotency_keys.body").into_bytes())
            .bind(key)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Gives up a claim whose call failed transiently, so that a retry runs again.
    pub async fn release(&self, key: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND state = 'pending'")
            .bind(key)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Forgets request ids older than `cutoff` (a retry is expected within minutes, not days).
    pub async fn expire(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(to_db_time(cutoff))
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

fn decode_outcome<M: Message + Default>(
    code: i64,
    message: &str,
    body: Vec<u8>,
) -> Result<Outcome<M>, Error> {
    if code == 0 {
        M::decode(body.as_slice())
            .map(Outcome::Done)
            .map_err(|e| Error::internal(anyhow::anyhow!("stored response does not decode: {e}")))
    } else {
        let code = tonic::Code::from_i32(code as i32);
        Ok(Outcome::Failed(tonic::Status::with_details(
            code,
            message.to_owned(),
            body.into(),
        )))
    }
}
