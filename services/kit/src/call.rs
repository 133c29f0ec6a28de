//! The call a handler serves, passed to it explicitly: who is calling, which RPC, under which
//! request id, and what the audit entry will say about it. Writes go through an
//! [`AuditedTx`], begun from the call, whose only way to commit writes the call's audit entry
//! (and the domain events it publishes) into the same transaction. A plain `commit` does not
//! exist on it, so an unaudited change does not compile; and since the call is a value, not a
//! task-local, a task spawned with a clone of it keeps the whole context.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use sqlx::{Any, AnyConnection, Transaction};

use crate::{
    Error,
    audit::{AuditLog, AuditRecord, code_name},
    auth::Caller,
    clock::Clock,
    db::Database,
    feed::{self, PendingEvent},
    regions::RegionCode,
};

/// What the audit entry of a call says about its target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Resource acted on.
    pub resource: String,
    /// Its region.
    pub region: String,
    /// Personal data was returned unmasked (makes a read auditable).
    pub sensitive_read: bool,
}

#[derive(Debug, Default)]
struct State {
    target: Target,
    /// Entries written by commits of this call.
    committed: u32,
}

#[derive(Debug)]
struct Inner {
    caller: Caller,
    /// The caller's own bearer token, forwarded when this call calls another service on the
    /// caller's behalf.
    token: Option<String>,
    action: &'static str,
    request_id: String,
    /// The client's own request id (`x-request-id`), kept beside ours, never instead of it.
    client_request_id: Option<String>,
    deadline: Option<Instant>,
    log: AuditLog,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// One call being served: cheap to clone, safe to move into a spawned task.
#[derive(Debug, Clone)]
pub struct Call(Arc<Inner>);

/// How a [`Call`] is started (by the RPC layer, or by a background job acting as the service).
#[derive(Debug)]
pub struct CallStart {
    /// Who is calling.
    pub caller: Caller,
    /// Their bearer token, if they sent one.
    pub token: Option<String>,
    /// The RPC or job name written to the audit log.
    pub action: &'static str,
    /// Our request id.
    pub request_id: String,
    /// The client's request id, if it sent one.
    pub client_request_id: Option<String>,
    /// When the caller stops waiting.
    pub deadline: Option<Instant>,
}

impl Call {
    /// A call writing its entries to `log`, stamped by `clock`.
    pub fn new(start: CallStart, log: AuditLog, clock: Arc<dyn Clock>) -> Call {
        Call(Arc::new(Inner {
            caller: start.caller,
            token: start.token,
            action: start.action,
            request_id: start.request_id,
            client_request_id: start.client_request_id,
            deadline: start.deadline,
            log,
            clock,
            state: Mutex::default(),
        }))
    }

    /// The verified caller.
    pub fn caller(&self) -> &Caller {
        &self.0.caller
    }

    /// The RPC (or job) being served.
    pub fn action(&self) -> &'static str {
        self.0.action
    }

    /// Our id of this request.
    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }

    /// The caller's bearer token, for calls made on their behalf.
    pub fn token(&self) -> Option<&str> {
        self.0.token.as_deref()
    }

    /// When the caller stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.0.deadline
    }

    /// Time as the service reads it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.clock.now()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the record the call acts on, for its audit entry.
    pub fn target(&self, resource: &str, region: RegionCode) {
        let mut state = self.state();
        state.target.resource = resource.to_owned();
        state.target.region = region.to_string();
    }

    /// Notes that the call returned personal data unmasked (the read is then audited).
    pub fn sensitive_read(&self) {
        self.state().target.sensitive_read = true;
    }

    /// True when the call noted that it returned personal data unmasked.
    pub fn is_sensitive_read(&self) -> bool {
        self.state().target.sensitive_read
    }

    /// What the call has noted about its target so far.
    pub fn noted_target(&self) -> Target {
        self.state().target.clone()
    }

    /// True once a commit of this call wrote its audit entry.
    pub fn recorded(&self) -> bool {
        self.state().committed > 0
    }

    /// The audit record of this call with `outcome`.
    pub fn record(&self, outcome: tonic::Code) -> AuditRecord {
        let target = self.noted_target();
        let caller = &self.0.caller;
        let mut detail = Vec::new();
        if target.sensitive_read {
            detail.push("personal data returned unmasked".to_owned());
        }
        if let Some(client) = &self.0.client_request_id {
            detail.push(format!("client request id {client}"));
        }
        AuditRecord {
            actor: caller.subject.clone(),
            roles: caller
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
            action: self.0.action.to_owned(),
            resource: target.resource,
            // Where the record is unknown (refused before it was found, or a list), the entry
            // belongs to the caller's scope, so that the auditors there see what their people
            // tried (a refused probe of another district included).
            region: if target.region.is_empty() {
                caller.scope.to_string()
            } else {
                target.region
            },
            request_id: self.0.request_id.clone(),
            outcome: code_name(outcome).to_owned(),
            detail: detail.join("; "),
        }
    }

    /// Appends this call's entry on its own (refusals and failures, which change nothing, and
    /// audited reads). Losing it is logged as an operational alarm; the call has completed.
    pub async fn record_outcome(&self, outcome: tonic::Code) {
        if let Err(error) = self.0.log.append(self.record(outcome), self.now()).await {
            tracing::error!(%error, "AUDIT ENTRY NOT RECORDED");
        }
    }

    /// Begins the transaction that makes this call's change in `database`.
    pub async fn begin(&self, database: &Database) -> Result<AuditedTx, Error> {
        Ok(AuditedTx {
            tx: database.begin().await?,
            database: database.clone(),
            call: self.clone(),
            events: Vec::new(),
        })
    }
}

/// A write transaction of a [`Call`]. Statements run on it like on a connection
/// (`.execute(&mut **tx)`). [`AuditedTx::commit`] writes the call's audit entry and the events
/// published on it, then commits; dropping it, or [`AuditedTx::rollback`], changes nothing.
///
/// There is no other way to commit. The raw transaction inside is out of reach:
///
/// ```compile_fail,E0616
/// async fn unaudited(tx: shequ_kit::call::AuditedTx) {
///     tx.tx.commit().await.unwrap(); // field `tx` is private
/// }
/// ```
///
/// and a service cannot open an unaudited transaction on its database either:
///
/// ```compile_fail,E0624
/// async fn unaudited(db: &shequ_kit::db::Database) {
///     let tx = db.begin().await.unwrap(); // method `begin` is private to the kit
///     tx.commit().await.unwrap();
/// }
/// ```
#[derive(Debug)]
pub struct AuditedTx {
    tx: Transaction<'static, Any>,
    database: Database,
    call: Call,
    events: Vec<PendingEvent>,
}

impl std::ops::Deref for AuditedTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for AuditedTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl AuditedTx {
    /// The call this transaction belongs to.
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// Publishes a domain event of this change on the service's feed: it becomes visible to
    /// consumers exactly when the change commits.
    pub fn publish<M: prost::Name>(&mut self, subject: &str, region: RegionCode, payload: &M) {
        self.events
            .push(PendingEvent::new(subject, region, payload));
    }

    /// Commits the change with the call's audit entry (outcome OK, target as noted) and its
    /// events. A call that commits twice gets an entry for each commit.
    pub async fn commit(mut self) -> Result<(), Error> {
        let now = self.call.now();
        let log = self.call.0.log.clone();
        log.append_in(&mut self.tx, self.call.record(tonic::Code::Ok), now)
            .await?;
        // Appended under the audit head's lock, which every write transaction of this database
        // takes: events become visible in sequence order, so a consumer reading past its cursor
        // never skips one that commits later with a lower number.
        feed::append(&mut self.tx, &self.events, now).await?;
        self.tx.commit().await?;
        self.call.state().committed += 1;
        if !self.events.is_empty() {
            self.database.signal_published();
        }
        Ok(())
    }

    /// Commits kit bookkeeping that changes no domain data (a feed cursor moved past an event
    /// the consumer ignores), without an audit entry.
    pub(crate) async fn commit_bookkeeping(self) -> Result<(), Error> {
        debug_assert!(self.events.is_empty(), "bookkeeping publishes nothing");
        self.tx.commit().await?;
        Ok(())
    }

    /// Commits when `changed` (a conditional write matched), rolls back otherwise; returns
    /// `changed`.
    pub async fn commit_if(self, changed: bool) -> Result<bool, Error> {
        if changed {
            self.commit().await?;
        } else {
            self.rollback().await?;
        }
        Ok(changed)
    }

    /// Abandons the change.
    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        auth::Role,
        clock::ManualClock,
        config::{DatabaseConfig, MigrateMode, Secret},
        db::KIT_MIGRATIONS,
        testing::{TestDatabase, caller},
    };

    async fn database() -> (Database, AuditLog, TestDatabase) {
        let test = TestDatabase::create().await;
        let db = Database::connect(&DatabaseConfig {
            url: Secret::new(test.url()),
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        db.migrate(&KIT_MIGRATIONS, MigrateMode::Run).await.unwrap();
        sqlx::query("CREATE TABLE notes (text TEXT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        let log = AuditLog::new(db.clone(), [3; 32]);
        (db, log, test)
    }

    fn call(log: &AuditLog) -> Call {
        Call::new(
            CallStart {
                caller: caller(Role::DistrictAdmin, "440305000000"),
                token: None,
                action: "CreateNote",
                request_id: "req-1".into(),
                client_request_id: Some("client-7".into()),
                deadline: None,
            },
            log.clone(),
            Arc::new(ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap())),
        )
    }

    #[tokio::test]
    async fn a_spawned_task_keeps_the_whole_call_context() {
        let (db, log, _test) = database().await;
        let call = call(&log);
        call.target("notes/1", RegionCode::parse("440305001001").unwrap());
        let spawned = {
            let (call, db) = (call.clone(), db.clone());
            tokio::spawn(async move {
                let mut tx = call.begin(&db).await?;
                sqlx::query("INSERT INTO notes (text) VALUES ('written elsewhere')")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            })
        };
        spawned.await.unwrap().unwrap();
        assert!(call.recorded(), "the entry is the call's");
        let entries = log
            .query(&crate::audit::AuditFilter::default(), 0, 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry.actor, "test:district_admin:440305000000");
        assert_eq!(entry.action, "CreateNote");
        assert_eq!(entry.resource, "notes/1");
        assert_eq!(entry.region, "440305001001");
        assert_eq!(entry.request_id, "req-1");
        assert!(entry.detail.contains("client-7"), "{}", entry.detail);
    }

    #[tokio::test]
    async fn a_rolled_back_or_dropped_transaction_leaves_neither_change_nor_entry() {
        let (db, log, _test) = database().await;
        let call = call(&log);
        {
            let mut tx = call.begin(&db).await.unwrap();
            sqlx::query("INSERT INTO notes (text) VALUES ('dropped')")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let mut tx = call.begin(&db).await.unwrap();
        sqlx::query("INSERT INTO notes (text) VALUES ('rolled back')")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert!(!tx.commit_if(false).await.unwrap());
        let notes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
            .fetch_one(db.pool())
            .await
            .unwrap();
        let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!((notes, entries), (0, 0));
        assert!(!call.recorded());
    }

    #[tokio::test]
    async fn events_become_visible_with_the_commit_in_order() {
        let (db, log, _test) = database().await;
        let region = RegionCode::parse("440305001001").unwrap();
        let call = call(&log);
        let mut tx = call.begin(&db).await.unwrap();
        let message = prost_types::Duration {
            seconds: 1,
            nanos: 0,
        };
        tx.publish("notes/1", region, &message);
        tx.publish("notes/2", region, &message);
        let feed = crate::feed::Feed::new("notes", db.clone());
        assert!(
            feed.list(0, 10).await.unwrap().is_empty(),
            "not before the commit"
        );
        tx.commit().await.unwrap();
        let events = feed.list(0, 10).await.unwrap();
        let order: Vec<(i64, &str)> = events
            .iter()
            .map(|e| (e.sequence, e.subject.as_str()))
            .collect();
        assert_eq!(order, [(1, "notes/1"), (2, "notes/2")]);
        assert_eq!(
            events[0].payload.as_ref().unwrap().type_url,
            "type.googleapis.com/google.protobuf.Duration"
        );
    }
}
