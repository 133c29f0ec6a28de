//! Event feeds (ARCHITECTURE.md decision 10): every service publishes the domain events of its
//! changes on its own feed, and follows the feeds of the services it reacts to.
//!
//! - Producing: [`crate::call::AuditedTx::publish`] queues an event; the commit writes it in the
//!   same transaction as the change (a transactional outbox), numbered under the audit head's
//!   lock so that numbers rise in commit order.
//! - Serving: every service's port serves `shequ.feed.v1.EventFeedService` (`ListEvents`, and
//!   `WatchEvents`, which streams the backlog and then each new event as it commits) to the
//!   callers its grant table names.
//! - Following: a [`Follower`] reads a producer's feed as its own service, hands each event to a
//!   handler inside an audited transaction that also advances the cursor kept in the consumer's
//!   own database, backs off while the producer is down, and resumes after a restart from the
//!   last event it committed: every event is handled once.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use shequ_proto::feed::v1::{
    self as pb,
    event_feed_service_server::{EventFeedService, EventFeedServiceServer},
};
use sqlx::{Any, Transaction};
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    Error,
    audit::AuditLog,
    auth::Caller,
    call::{AuditedTx, Call, CallStart},
    client::{Acting, Dependency},
    clock::Clock,
    convert::{from_db_time, new_id, to_db_time, to_timestamp},
    db::Database,
    grants::Grants,
    regions::RegionCode,
    shutdown::Stop,
};

/// The feed operations a grant table names.
pub const FEED_OPERATIONS: &[&str] = &["ListEvents", "WatchEvents"];

/// Largest page of ListEvents (and batch of WatchEvents).
const MAX_PAGE: usize = 1_000;
/// How often a watch looks for events committed by another replica of the producer (events
/// committed by this process wake it at once).
const POLL: Duration = Duration::from_millis(500);

/// An event queued on a transaction, written when it commits.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    id: String,
    subject: String,
    region: String,
    type_url: String,
    payload: Vec<u8>,
}

impl PendingEvent {
    /// An event about `subject` in `region` whose content is `payload`.
    pub fn new<M: prost::Name>(subject: &str, region: RegionCode, payload: &M) -> Self {
        PendingEvent {
            id: new_id(),
            subject: subject.to_owned(),
            region: region.to_string(),
            type_url: M::type_url(),
            payload: payload.encode_to_vec(),
        }
    }
}

/// Writes `events` inside `tx` (which holds the audit head's lock), numbered after the feed head.
pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    events: &[PendingEvent],
    at: DateTime<Utc>,
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let head: i64 = sqlx::query_scalar("SELECT seq FROM feed_head WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    let at = to_db_time(at);
    for (i, event) in events.iter().enumerate() {
        sqlx::query(
            "INSERT INTO feed_events (seq, id, at, region, subject, type_url, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(head + 1 + i as i64)
        .bind(&event.id)
        .bind(&at)
        .bind(&event.region)
        .bind(&event.subject)
        .bind(&event.type_url)
        .bind(event.payload.clone())
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE feed_head SET seq = $1 WHERE id = 1")
        .bind(head + events.len() as i64)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

type EventRow = (i64, String, String, String, String, String, Vec<u8>);

/// A service's own feed, for serving and for its retention.
#[derive(Debug, Clone)]
pub struct Feed {
    producer: &'static str,
    db: Database,
}

impl Feed {
    /// The feed of service `producer` in `db`.
    pub fn new(producer: &'static str, db: Database) -> Self {
        Feed { producer, db }
    }

    /// Up to `limit` events after `after`, oldest first.
    pub async fn list(&self, after: i64, limit: usize) -> Result<Vec<pb::Event>, Error> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, id, at, region, subject, type_url, payload FROM feed_events \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(seq, id, at, region, subject, type_url, payload)| {
                Ok(pb::Event {
                    sequence: seq,
                    id,
                    time: Some(to_timestamp(from_db_time(&at)?)),
                    region,
                    subject,
                    payload: Some(prost_types::Any {
                        type_url,
                        value: payload,
                    }),
                    producer: self.producer.to_owned(),
                })
            })
            .collect()
    }

    /// The newest sequence number handed out, and the oldest still kept.
    pub async fn bounds(&self) -> Result<(i64, i64), Error> {
        let head: i64 = sqlx::query_scalar("SELECT seq FROM feed_head WHERE id = 1")
            .fetch_one(self.db.pool())
            .await?;
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM feed_events")
            .fetch_one(self.db.pool())
            .await?;
        Ok((head, oldest.unwrap_or(head + 1)))
    }

    /// Deletes events committed before `cutoff` (the audit log's retention applies).
    pub async fn purge(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM feed_events WHERE at < $1")
            .bind(to_db_time(cutoff))
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

/// `shequ.feed.v1.EventFeedService` of one service, for the callers its grant table names.
#[derive(Debug, Clone)]
pub struct FeedService {
    feed: Feed,
    grants: Grants,
    stop: Stop,
}

impl FeedService {
    /// The feed server, authorising with `grants` and ending its streams at `stop`.
    pub fn server(feed: Feed, grants: Grants, stop: Stop) -> EventFeedServiceServer<FeedService> {
        EventFeedServiceServer::new(FeedService { feed, grants, stop })
            .max_decoding_message_size(crate::server::MAX_REQUEST_BYTES)
            .max_encoding_message_size(crate::server::MAX_RESPONSE_BYTES)
    }

    fn authorise<T>(&self, request: &tonic::Request<T>, operation: &str) -> Result<(), Error> {
        let caller = Caller::of(request)?;
        self.grants.check(&caller, operation)?;
        match caller.component() {
            Some(_) => Ok(()),
            None => Err(Error::forbidden(
                "ROLE_NOT_PERMITTED",
                format!("{operation} is for the suite's services, not for people or API keys"),
            )),
        }
    }
}

#[tonic::async_trait]
impl EventFeedService for FeedService {
    async fn list_events(
        &self,
        request: tonic::Request<pb::ListEventsRequest>,
    ) -> Result<tonic::Response<pb::ListEventsResponse>, tonic::Status> {
        self.authorise(&request, "ListEvents")?;
        let message = request.into_inner();
        let limit = match message.page_size {
            n if n < 0 => {
                return Err(Error::invalid(
                    "page_size",
                    "PAGE_SIZE_NEGATIVE",
                    "page_size must not be negative",
                )
                .into());
            }
            0 => 100,
            n => (n as usize).min(MAX_PAGE),
        };
        let events = self.feed.list(message.after_sequence, limit).await?;
        let (head, oldest) = self.feed.bounds().await?;
        Ok(tonic::Response::new(pb::ListEventsResponse {
            events,
            head_sequence: head,
            oldest_sequence: oldest,
        }))
    }

    type WatchEventsStream = ReceiverStream<Result<pb::Event, tonic::Status>>;

    async fn watch_events(
        &self,
        request: tonic::Request<pb::WatchEventsRequest>,
    ) -> Result<tonic::Response<Self::WatchEventsStream>, tonic::Status> {
        self.authorise(&request, "WatchEvents")?;
        let mut after = request.into_inner().after_sequence;
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        let feed = self.feed.clone();
        let stop = self.stop.clone();
        let mut committed = feed.db.commits();
        tokio::spawn(async move {
            loop {
                let events = match feed.list(after, MAX_PAGE).await {
                    Ok(events) => events,
                    Err(error) => {
                        let _ = sender.send(Err(error.into_status())).await;
                        return;
                    }
                };
                let full = events.len() == MAX_PAGE;
                for event in events {
                    after = event.sequence;
                    if sender.send(Ok(event)).await.is_err() {
                        return; // the consumer went away
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = committed.changed() => {}
                    () = tokio::time::sleep(POLL) => {}
                    () = sender.closed() => return,
                    // A draining server ends its streams so shutdown need not wait for them; the
                    // consumer resumes on another replica from its cursor.
                    () = stop.wait() => return,
                }
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(receiver)))
    }
}

/// What a consumer does with the events of one feed.
pub trait EventHandler: Send + Sync + 'static {
    /// The payload types it handles (`type.googleapis.com/...`); other events only advance the
    /// cursor, unaudited, since nothing changes.
    fn handles(&self) -> &[String];

    /// Applies `event` inside `tx`, which commits together with the advanced cursor. An error
    /// rolls both back; the follower retries the event after a pause.
    fn handle<'a>(
        &'a self,
        tx: &'a mut AuditedTx,
        event: &'a pb::Event,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// The type URL of message `M`, for [`EventHandler::handles`].
pub fn type_url<M: prost::Name>() -> String {
    M::type_url()
}

/// Decodes the payload of `event` as `M`, when it is one.
pub fn payload<M: prost::Name + Default>(event: &pb::Event) -> Option<M> {
    let any = event.payload.as_ref()?;
    (any.type_url == M::type_url())
        .then(|| M::decode(any.value.as_slice()).ok())
        .flatten()
}

/// How current a follower's knowledge of its producer is, for answers that depend on it ("as
/// of when"). Kept in memory by this process: while the watch is open, what was learnt is
/// current; once it is lost, it is as of the moment it was lost; before the first watch since a
/// start, as of the last event handled (from the cursor).
#[derive(Debug, Clone, Default)]
pub struct FeedStatus(Arc<Mutex<Live>>);

#[derive(Debug, Default)]
struct Live {
    watching: bool,
    last_live: Option<DateTime<Utc>>,
}

impl FeedStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn connected(&self, now: DateTime<Utc>) {
        let mut live = self.lock();
        live.watching = true;
        live.last_live = Some(now);
    }

    fn lost(&self, now: DateTime<Utc>) {
        let mut live = self.lock();
        if live.watching {
            live.watching = false;
            live.last_live = Some(now);
        }
    }

    /// True while the producer's feed is being watched.
    pub fn is_live(&self) -> bool {
        self.lock().watching
    }

    /// Up to when what was learnt from the producer is known to be complete: `now` while
    /// watching, else when the watch was lost; `None` when not watched since this process started.
    pub fn as_of(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let live = self.lock();
        if live.watching {
            Some(now)
        } else {
            live.last_live
        }
    }
}

/// The time of the last event of `producer`'s feed handled into `database` (the lower bound of
/// what is known when the feed has not been watched since a start).
pub async fn last_handled(
    database: &Database,
    producer: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
    let at: Option<String> =
        sqlx::query_scalar("SELECT updated_at FROM feed_cursors WHERE feed = $1")
            .bind(producer)
            .fetch_optional(database.pool())
            .await?;
    at.map(|at| crate::convert::from_db_time(&at)).transpose()
}

/// Follows one producer's feed into a handler, with the cursor in the consumer's database.
pub struct Follower {
    producer: Dependency,
    database: Database,
    log: AuditLog,
    clock: Arc<dyn Clock>,
    identity: Caller,
    handler: Arc<dyn EventHandler>,
    status: FeedStatus,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("producer", &self.producer.name())
            .finish_non_exhaustive()
    }
}

/// Pause after a failure, doubling up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Follower {
    /// A follower of `producer`'s feed writing to `database` and `log` as `identity`.
    pub fn new(
        producer: Dependency,
        database: Database,
        log: AuditLog,
        clock: Arc<dyn Clock>,
        identity: Caller,
        handler: Arc<dyn EventHandler>,
    ) -> Self {
        Follower {
            producer,
            database,
            log,
            clock,
            identity,
            handler,
            status: FeedStatus::default(),
        }
    }

    /// How current this follower's knowledge is.
    pub fn status(&self) -> FeedStatus {
        self.status.clone()
    }

    /// The position of the last event handled.
    pub async fn cursor(&self) -> Result<i64, Error> {
        Ok(
            sqlx::query_scalar("SELECT position FROM feed_cursors WHERE feed = $1")
                .bind(self.producer.name())
                .fetch_optional(self.database.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// Follows until `stop`: watches from the cursor, handles each event, and after any failure
    /// (producer down, handler error, lost database) pauses and resumes from the cursor.
    pub async fn run(self, stop: Stop) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let outcome = tokio::select! {
                outcome = self.follow_once() => outcome,
                () = stop.wait() => return,
            };
            self.status.lost(self.clock.now());
            match outcome {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(feed = self.producer.name(), %error, retry_in_ms = backoff.as_millis() as u64, "feed follower paused");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.wait() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One watch: returns when the producer ends the stream, fails when anything does.
    async fn follow_once(&self) -> Result<(), Error> {
        let mut cursor = self.cursor().await?;
        let outgoing = self.producer.prepare(None, Acting::AsService)?;
        let channel = self
            .producer
            .replicas()
            .call(true, |channel| async move { Ok(channel) })
            .await
            .map_err(|status| outgoing.error(status))?;
        let mut client =
            shequ_proto::feed::v1::event_feed_service_client::EventFeedServiceClient::new(channel)
                .max_decoding_message_size(crate::server::MAX_RESPONSE_BYTES);
        let mut request = tonic::Request::new(pb::WatchEventsRequest {
            after_sequence: cursor,
        });
        *request.metadata_mut() = outgoing.metadata().clone();
        let mut stream = client
            .watch_events(request)
            .await
            .map_err(|status| outgoing.error(status))?
            .into_inner();
        // The producer answered the watch: every event up to its head comes down this stream
        // (the last ones may still be on their way), so what is known here counts as current
        // from now on, until the stream ends.
        self.status.connected(self.clock.now());
        while let Some(event) = stream
            .message()
            .await
            .map_err(|status| outgoing.error(status))?
        {
            if event.sequence <= cursor {
                continue; // already handled (a replay after reconnecting)
            }
            self.handle(cursor, &event).await?;
            cursor = event.sequence;
        }
        Ok(())
    }

    /// Handles one event and advances the cursor from `from` in one transaction. A cursor moved
    /// meanwhile (another replica of this consumer handled the event) rolls it back.
    async fn handle(&self, from: i64, event: &pb::Event) -> Result<(), Error> {
        let wanted = event
            .payload
            .as_ref()
            .is_some_and(|p| self.handler.handles().contains(&p.type_url));
        let call = Call::new(
            CallStart {
                caller: self.identity.clone(),
                token: None,
                action: "HandleEvent",
                request_id: format!("{}:{}", self.producer.name(), event.id),
                client_request_id: None,
                deadline: None,
            },
            self.log.clone(),
            Arc::clone(&self.clock),
        );
        if let Ok(region) = RegionCode::parse(&event.region) {
            call.target(&event.subject, region);
        }
        let mut tx = call.begin(&self.database).await?;
        if wanted {
            self.handler.handle(&mut tx, event).await?;
        }
        let advanced = advance(
            &mut tx,
            self.producer.name(),
            from,
            event.sequence,
            call.now(),
        )
        .await?;
        if !advanced {
            tx.rollback().await?;
            return Err(Error::Aborted {
                reason: "CURSOR_MOVED",
                message: "another replica handled this event; resuming from the cursor".into(),
            });
        }
        if wanted {
            tx.commit().await
        } else {
            // Nothing but the cursor changed: no audit entry for events this consumer ignores.
            tx.commit_bookkeeping().await
        }
    }
}

/// Moves the cursor of `feed` from `from` to `to`; false when it is no longer at `from`.
async fn advance(
    tx: &mut AuditedTx,
    feed: &str,
    from: i64,
    to: i64,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let now = to_db_time(now);
    if from == 0 {
        let inserted = sqlx::query(
            "INSERT INTO feed_cursors (feed, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (feed) DO NOTHING",
        )
        .bind(feed)
        .bind(to)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
    }
    let updated = sqlx::query(
        "UPDATE feed_cursors SET position = $1, updated_at = $2 WHERE feed = $3 AND position = $4",
    )
    .bind(to)
    .bind(&now)
    .bind(feed)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// A follower's handler as a boxed future, for implementations of [`EventHandler`].
pub type Handled<'a> = BoxFuture<'a, Result<(), Error>>;
