//! Idempotent writes (AIP-155): a client-supplied request id makes a retried create or custom
//! method take effect exactly once. The first call's outcome (response or error) is stored; a
//! retry with the same id and the same request gets that outcome again, even while the first is
//! still running; the same id with a different request is refused.
//!
//! Time is the service's injected clock: a duplicate waits for the first call at most until the
//! first call's claim is [`WAIT_FOR_FIRST`] old (no call runs longer), then gets ABORTED
//! `REQUEST_IN_PROGRESS`; a claim [`ABANDONED_AFTER`] old was left by a call that died and is
//! taken over by the next retry; ids are forgotten a day after their first call (see
//! [`crate::audit::maintain`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message;
use sm3::{Digest, Sm3};

use crate::{
    clock::Clock,
    convert::{from_db_time, to_db_time},
    crypto::FieldCipher,
    db::Database,
    error::Error,
};

/// Metadata key a client (or the gateway, from the `Idempotency-Key` header) may use instead of a
/// `request_id` field.
pub const METADATA_KEY: &str = "idempotency-key";

/// How old a pending claim is when another call may take it over (the first call died).
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// How old a pending claim is when a duplicate stops waiting for its outcome: the longest a call
/// runs ([`crate::service::MAX_CALL_DURATION`]), so a first call still pending then will not
/// finish.
pub const WAIT_FOR_FIRST: chrono::Duration = chrono::Duration::seconds(30);
/// How often a waiting duplicate looks for the first call's outcome (which another replica may
/// store).
const POLL: Duration = Duration::from_millis(20);

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

    /// Claims `key` for this call, or returns the first outcome of an earlier call with it,
    /// waiting (by `clock`) while the first call may still be running.
    pub async fn claim<M: Message + Default>(
        &self,
        key: &str,
        method: &str,
        fingerprint: &str,
        clock: &dyn Clock,
    ) -> Result<Claim<M>, Error> {
        loop {
            let now = clock.now();
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
            let claimed = from_db_time(&created)?;
            if now - claimed > ABANDONED_AFTER {
                // The first call never finished (its process died): let this one run instead.
                sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND state = 'pending' AND created_at = $2")
                    .bind(key)
                    .bind(&created)
                    .execute(self.db.pool())
                    .await?;
                continue;
            }
            if now - claimed >= WAIT_FOR_FIRST {
                return Err(Error::Aborted {
                    reason: "REQUEST_IN_PROGRESS",
                    message: "the first call with this request id is still running; retry later"
                        .to_owned(),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = clock.wait_until(claimed + WAIT_FOR_FIRST) => {}
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::ManualClock,
        config::{DatabaseConfig, MigrateMode, Secret},
        crypto::Keys,
        db::KIT_MIGRATIONS,
        testing::TestDatabase,
    };

    async fn records(test: &TestDatabase) -> Idempotency {
        let db = Database::connect(&DatabaseConfig {
            url: Secret::new(test.url()),
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        db.migrate(&KIT_MIGRATIONS, MigrateMode::Run).await.unwrap();
        let keys = Keys::from_master(&Keys::generate_master()).unwrap();
        Idempotency::new(db, keys.personal_data)
    }

    fn clock() -> ManualClock {
        ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap())
    }

    type Response = prost_types::Duration;

    fn response() -> Response {
        prost_types::Duration {
            seconds: 42,
            nanos: 0,
        }
    }

    /// A duplicate's claim, running on its own task as a second call would.
    fn duplicate(
        records: &Idempotency,
        clock: &ManualClock,
    ) -> tokio::task::JoinHandle<Result<Claim<Response>, Error>> {
        let (records, clock) = (records.clone(), clock.clone());
        tokio::spawn(async move { records.claim("k", "Create", "f1", &clock).await })
    }

    #[tokio::test]
    async fn a_duplicate_waits_for_the_running_first_call_and_gets_its_response() {
        let test = TestDatabase::create().await;
        let (records, clock) = (records(&test).await, clock());
        let first = records.claim::<Response>("k", "Create", "f1", &clock).await;
        assert!(matches!(first, Ok(Claim::Run)));
        let waiting = duplicate(&records, &clock);
        clock.until_waiters(1).await;
        // The clock stands still: the duplicate waits as long as the first call runs.
        clock.advance(WAIT_FOR_FIRST - chrono::Duration::seconds(1));
        records.finish("k", &Ok(response())).await.unwrap();
        match waiting.await.unwrap() {
            Ok(Claim::Replay(Outcome::Done(replayed))) => assert_eq!(replayed, response()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_duplicate_gets_request_in_progress_once_the_first_call_can_no_longer_finish() {
        let test = TestDatabase::create().await;
        let (records, clock) = (records(&test).await, clock());
        assert!(matches!(
            records.claim::<Response>("k", "Create", "f1", &clock).await,
            Ok(Claim::Run)
        ));
        let waiting = duplicate(&records, &clock);
        clock.until_waiters(1).await;
        // 30 seconds after the first call claimed the id, it cannot be running any more.
        clock.advance(chrono::Duration::seconds(30));
        match waiting.await.unwrap() {
            Err(Error::Aborted { reason, .. }) => assert_eq!(reason, "REQUEST_IN_PROGRESS"),
            other => panic!("{other:?}"),
        }
        // So does a duplicate arriving later, at once, until the claim is abandoned.
        clock.advance(chrono::Duration::seconds(30));
        match records.claim::<Response>("k", "Create", "f1", &clock).await {
            Err(Error::Aborted { reason, .. }) => assert_eq!(reason, "REQUEST_IN_PROGRESS"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_claim_abandoned_for_a_minute_is_taken_over_by_a_retry() {
        let test = TestDatabase::create().await;
        let (records, clock) = (records(&test).await, clock());
        assert!(matches!(
            records.claim::<Response>("k", "Create", "f1", &clock).await,
            Ok(Claim::Run)
        ));
        // The first call's process died: its claim stays pending.
        clock.advance(ABANDONED_AFTER + chrono::Duration::seconds(1));
        assert!(matches!(
            records.claim::<Response>("k", "Create", "f1", &clock).await,
            Ok(Claim::Run)
        ));
        records.finish("k", &Ok(response())).await.unwrap();
        assert!(matches!(
            records.claim::<Response>("k", "Create", "f1", &clock).await,
            Ok(Claim::Replay(Outcome::Done(_)))
        ));
    }

    #[tokio::test]
    async fn an_id_is_refused_for_another_request_until_it_expires() {
        let test = TestDatabase::create().await;
        let (records, clock) = (records(&test).await, clock());
        let claimed_at = clock.now();
        assert!(matches!(
            records.claim::<Response>("k", "Create", "f1", &clock).await,
            Ok(Claim::Run)
        ));
        records.finish("k", &Ok(response())).await.unwrap();
        match records.claim::<Response>("k", "Create", "f2", &clock).await {
            Err(Error::AlreadyExists { reason, .. }) => assert_eq!(reason, "REQUEST_ID_REUSED"),
            other => panic!("{other:?}"),
        }
        assert_eq!(records.expire(claimed_at).await.unwrap(), 0, "not older");
        assert_eq!(
            records
                .expire(claimed_at + chrono::Duration::seconds(1))
                .await
                .unwrap(),
            1
        );
        assert!(matches!(
            records.claim::<Response>("k", "Create", "f2", &clock).await,
            Ok(Claim::Run)
        ));
    }
}
