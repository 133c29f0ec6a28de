//! The audit log every service keeps (MLPS 2.0 level 3, 安全审计): who did what to which record in
//! which region, when, under which request id, with what outcome.
//!
//! Entries are append-only and chained: each holds the hash of the previous one, and each hash is
//! an HMAC-SM3 under a key derived from the master key, so an edit, a deletion, a reordering or a
//! re-chained forgery is found by [`AuditLog::verify`] unless the attacker also holds the key. The
//! chain head is MAC'd too, so a truncated tail is noticed. Entries older than the retention period
//! are written to an archive file and then purged by [`AuditLog::purge`], which records itself in
//! the chain: never silently.
//!
//! A write call's entry is written by [`crate::call::AuditedTx::commit`] inside the transaction
//! that makes its change, so no change is durable without its entry; the RPC layer
//! ([`crate::rpc`]) records refusals and failures, which change nothing, after the call.

use std::path::Path;

use sqlx::{Any, Transaction};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sm3::Sm3;

use crate::{
    convert::{from_db_time, to_db_time},
    db::Database,
    error::Error,
    regions::RegionCode,
};

type HmacSm3 = Hmac<Sm3>;

/// Hash that precedes the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The minimum retention the law asks for (Cybersecurity Law art. 21: at least six months).
pub const MIN_RETENTION_DAYS: u32 = 180;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Caller subject.
    pub actor: String,
    /// Caller roles, comma-separated.
    pub roles: String,
    /// The RPC, e.g. `CreateSecretary`, or `AUDIT_PURGE`.
    pub action: String,
    /// Resource name acted on, when known.
    pub resource: String,
    /// 12-digit region of the record, when known.
    pub region: String,
    /// Request id (from the gateway, or generated).
    pub request_id: String,
    /// gRPC code name of the outcome; `OK` on success.
    pub outcome: String,
    /// Extra facts (never personal data).
    pub detail: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// What a call tells the log; the log adds sequence, time and hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// Caller subject.
    pub actor: String,
    /// Caller roles.
    pub roles: String,
    /// RPC name.
    pub action: String,
    /// Resource acted on.
    pub resource: String,
    /// Region of the record.
    pub region: String,
    /// Request id.
    pub request_id: String,
    /// Outcome code name.
    pub outcome: String,
    /// Extra facts.
    pub detail: String,
}

/// A problem [`AuditLog::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An entry's contents do not match its hash (edited).
    Tampered {
        /// The entry.
        seq: i64,
    },
    /// An entry does not follow the one before it (reordered, or re-chained after a deletion).
    BrokenLink {
        /// The entry whose `prev_hash` is wrong.
        seq: i64,
    },
    /// Entries are missing (deleted).
    Missing {
        /// First missing sequence number.
        from: i64,
        /// Last missing sequence number.
        to: i64,
    },
    /// Not one entry, nor the head, verifies: almost certainly the master key is not the one the
    /// log was written with.
    WrongKey {
        /// Entries checked.
        checked: u64,
    },
    /// The head record does not match the last entry, or its MAC is wrong (tail truncated or head
    /// forged).
    Head {
        /// What is wrong.
        detail: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Tampered { seq } => write!(f, "entry {seq} was altered (hash mismatch)"),
            Problem::BrokenLink { seq } => write!(
                f,
                "entry {seq} does not follow its predecessor (reordered or re-chained)"
            ),
            Problem::Missing { from, to } => write!(f, "entries {from}..={to} are missing"),
            Problem::Head { detail } => write!(f, "chain head: {detail}"),
            Problem::WrongKey { checked } => write!(
                f,
                "none of the {checked} entries nor the head verifies under this master key: check \
                 that crypto.master_key (SHEQU_CRYPTO__MASTER_KEY) is the key this service's \
                 database was written with (if it is, every entry was altered)"
            ),
        }
    }
}

/// Outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// Last sequence number.
    pub head_seq: i64,
    /// Hash of the last entry (what the next entry will chain to).
    pub head_hash: String,
    /// Everything wrong; empty when the log is intact.
    pub problems: Vec<Problem>,
}

/// The actor of the entries the retention job writes about itself.
const RETENTION_ACTOR: &str = "system:retention";

/// Filters of an audit query.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only records inside this region (the record's region, or, where the record is unknown,
    /// such as a refused list of another district, the caller's scope), plus the log's own purge
    /// entries, which concern every region.
    pub region: Option<RegionCode>,
    /// Only this actor.
    pub actor: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this instant (exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// Result of a retention purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// Entries archived and deleted.
    pub purged: u64,
    /// Archive file written (none when nothing was old enough).
    pub archive: Option<std::path::PathBuf>,
}

/// The audit log of one service's database.
#[derive(Clone)]
pub struct AuditLog {
    db: Database,
    key: [u8; 32],
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    at: String,
    actor: String,
    roles: String,
    action: String,
    resource: String,
    region: String,
    request_id: String,
    outcome: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

const COLUMNS: &str =
    "seq, at, actor, roles, action, resource, region, request_id, outcome, detail, prev_hash, hash";

/// The condition of an [`AuditFilter`]: $1 after this sequence number, $2..$3 region bounds, $4
/// actor, $5..$6 time bounds (an empty string leaves a bound open).
fn matching() -> String {
    format!(
        "seq > $1 \
         AND (region BETWEEN $2 AND $3 OR (region = '' AND actor = '{RETENTION_ACTOR}' AND action = 'AUDIT_PURGE')) \
         AND ($4 = '' OR actor = $4) AND ($5 = '' OR at >= $5) AND ($6 = '' OR at < $6)"
    )
}

/// The range of stored region codes inside `scope` (everything when there is none).
fn region_bounds(scope: Option<RegionCode>) -> (String, String) {
    match scope {
        Some(scope) => {
            let prefix = scope.prefix();
            (format!("{prefix:0<12}"), format!("{prefix:9<12}"))
        }
        None => (String::new(), "~".to_owned()),
    }
}

impl Row {
    fn into_entry(self) -> Result<AuditEntry, Error> {
        Ok(AuditEntry {
            at: from_db_time(&self.at)?,
            seq: self.seq,
            actor: self.actor,
            roles: self.roles,
            action: self.action,
            resource: self.resource,
            region: self.region,
            request_id: self.request_id,
            outcome: self.outcome,
            detail: self.detail,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

impl AuditLog {
    /// The log in `db`, chained with `key` (derive it with [`crate::crypto::Keys`]).
    pub fn new(db: Database, key: [u8; 32]) -> Self {
        AuditLog { db, key }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac =
            <HmacSm3 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            // length-prefixed so that field boundaries cannot be shifted
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn entry_hash(&self, seq: i64, at: &str, record: &AuditRecord, prev_hash: &str) -> String {
        let seq = seq.to_string();
        self.mac(&[
            "entry",
            &seq,
            at,
            &record.actor,
            &record.roles,
            &record.action,
            &record.resource,
            &record.region,
            &record.request_id,
            &record.outcome,
            &record.detail,
            prev_hash,
        ])
    }

    fn head_mac(&self, seq: i64, hash: &str, base_seq: i64, base_hash: &str) -> String {
        self.mac(&[
            "head",
            &seq.to_string(),
            hash,
            &base_seq.to_string(),
            base_hash,
        ])
    }

    /// Appends one entry. Appends are serialised by the database (the head row is updated first),
    /// so several replicas of a service share one chain.
    pub async fn append(
        &self,
        record: AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEntry, Error> {
        let mut tx = self.db.begin().await?;
        let entry = self.append_in(&mut tx, record, at).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Appends one entry inside `tx`: it exists exactly when the rest of `tx` commits. The head
    /// row stays locked until then, so keep such transactions short.
    pub async fn append_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        record: AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEntry, Error> {
        lock_head(tx).await?;
        let (last_seq, last_hash, base_seq, base_hash) =
            sqlx::query_as::<_, (i64, String, i64, String)>(
                "SELECT seq, hash, base_seq, base_hash FROM audit_head WHERE id = 1",
            )
            .fetch_one(&mut **tx)
            .await?;
        let seq = last_seq + 1;
        let at_text = to_db_time(at);
        let hash = self.entry_hash(seq, &at_text, &record, &last_hash);
        let sql = format!(
            "INSERT INTO audit_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .bind(&at_text)
            .bind(&record.actor)
            .bind(&record.roles)
            .bind(&record.action)
            .bind(&record.resource)
            .bind(&record.region)
            .bind(&record.request_id)
            .bind(&record.outcome)
            .bind(&record.detail)
            .bind(&last_hash)
            .bind(&hash)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, head_mac = $3 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .bind(self.head_mac(seq, &hash, base_seq, &base_hash))
            .execute(&mut **tx)
            .await?;
        Ok(AuditEntry {
            seq,
            at,
            actor: record.actor,
            roles: record.roles,
            action: record.action,
            resource: record.resource,
            region: record.region,
            request_id: record.request_id,
            outcome: record.outcome,
            detail: record.detail,
            prev_hash: last_hash,
            hash,
        })
    }

    /// Up to `limit` entries matching `filter` after `after_seq`, oldest first.
    pub async fn query(
        &self,
        filter: &AuditFilter,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        let (low, high) = region_bounds(filter.region);
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE {} ORDER BY seq LIMIT $7",
            matching()
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after_seq)
            .bind(low)
            .bind(high)
            .bind(filter.actor.clone().unwrap_or_default())
            .bind(filter.from.map(to_db_time).unwrap_or_default())
            .bind(filter.to.map(to_db_time).unwrap_or_default())
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(Row::into_entry).collect()
    }

    /// How many entries match `filter`.
    pub async fn count(&self, filter: &AuditFilter) -> Result<u64, Error> {
        let (low, high) = region_bounds(filter.region);
        let sql = format!("SELECT COUNT(*) FROM audit_entries WHERE {}", matching());
        let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(0_i64)
            .bind(low)
            .bind(high)
            .bind(filter.actor.clone().unwrap_or_default())
            .bind(filter.from.map(to_db_time).unwrap_or_default())
            .bind(filter.to.map(to_db_time).unwrap_or_default())
            .fetch_one(self.db.pool())
            .await?;
        Ok(count.max(0) as u64)
    }

    /// Walks the whole chain and reports every problem found.
    pub async fn verify(&self) -> Result<VerifyReport, Error> {
        let head: Option<(i64, String, String, i64, String)> = sqlx::query_as(
            "SELECT seq, hash, head_mac, base_seq, base_hash FROM audit_head WHERE id = 1",
        )
        .fetch_optional(self.db.pool())
        .await?;
        let mut problems = Vec::new();
        let (base_seq, base_hash) = match &head {
            Some((seq, hash, mac, base_seq, base_hash)) => {
                if *mac != self.head_mac(*seq, hash, *base_seq, base_hash) {
                    problems.push(Problem::Head {
                        detail: "the head record's MAC is wrong (forged or edited)".into(),
                    });
                }
                (*base_seq, base_hash.clone())
            }
            None => (0, GENESIS.to_owned()),
        };
        let mut expected_seq = base_seq + 1;
        let mut previous_hash = base_hash;
        let mut checked = 0_u64;
        let mut last_seq = base_seq;
        let mut after = base_seq;
        loop {
            let sql = format!(
                "SELECT {COLUMNS} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT 1000"
            );
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .fetch_all(self.db.pool())
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in rows {
                checked += 1;
                if row.seq != expected_seq {
                    problems.push(Problem::Missing {
                        from: expected_seq,
                        to: row.seq - 1,
                    });
                }
                let record = AuditRecord {
                    actor: row.actor.clone(),
                    roles: row.roles.clone(),
                    action: row.action.clone(),
                    resource: row.resource.clone(),
                    region: row.region.clone(),
                    request_id: row.request_id.clone(),
                    outcome: row.outcome.clone(),
                    detail: row.detail.clone(),
                };
                if self.entry_hash(row.seq, &row.at, &record, &row.prev_hash) != row.hash {
                    problems.push(Problem::Tampered { seq: row.seq });
                } else if row.prev_hash != previous_hash && row.seq == expected_seq {
                    problems.push(Problem::BrokenLink { seq: row.seq });
                }
                previous_hash = row.hash;
                expected_seq = row.seq + 1;
                last_seq = row.seq;
            }
        }
        match &head {
            Some((seq, hash, ..))
                if *seq != last_seq || (*seq > base_seq && *hash != previous_hash) =>
            {
                problems.push(Problem::Head {
                    detail: format!(
                        "the head says entry {seq} is last, the table ends at {last_seq}"
                    ),
                });
            }
            None if checked > 0 => problems.push(Problem::Head {
                detail: "the head record is missing".into(),
            }),
            _ => {}
        }
        let tampered = problems
            .iter()
            .filter(|p| matches!(p, Problem::Tampered { .. }))
            .count() as u64;
        let head_forged = problems
            .iter()
            .any(|p| matches!(p, Problem::Head { detail } if detail.contains("MAC")));
        if checked > 0 && tampered == checked && head_forged {
            problems = vec![Problem::WrongKey { checked }];
        }
        Ok(VerifyReport {
            checked,
            head_seq: last_seq,
            head_hash: previous_hash,
            problems,
        })
    }

    /// Archives entries older than `cutoff` as JSON lines in `archive_dir`, deletes them, moves the
    /// chain's base past them, and records the purge as a new entry.
    pub async fn purge(
        &self,
        cutoff: DateTime<Utc>,
        archive_dir: &Path,
        now: DateTime<Utc>,
    ) -> Result<PurgeReport, Error> {
        // The chain is purged as a prefix: everything up to the newest entry older than the cutoff
        // (a slow call's entry can be a little older than one before it), all of it archived.
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries \
             WHERE seq <= (SELECT MAX(seq) FROM audit_entries WHERE at < $1) ORDER BY seq"
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(to_db_time(cutoff))
            .fetch_all(self.db.pool())
            .await?;
        if rows.is_empty() {
            return Ok(PurgeReport {
                purged: 0,
                archive: None,
            });
        }
        let entries: Vec<AuditEntry> = rows
            .into_iter()
            .map(Row::into_entry)
            .collect::<Result<_, _>>()?;
        let last = entries.last().expect("non-empty").clone();
        std::fs::create_dir_all(archive_dir).map_err(Error::internal)?;
        let archive = archive_dir.join(format!("audit-{}-to-{}.jsonl", entries[0].seq, last.seq));
        let mut text = String::new();
        for entry in &entries {
            text.push_str(&serde_json::to_string(entry).map_err(Error::internal)?);
            text.push('\n');
        }
        std::fs::write(&archive, &text).map_err(Error::internal)?;
        let digest = {
            use sm3::Digest;
            hex::encode(Sm3::digest(text.as_bytes()))
        };

        // One transaction under the head's lock: the purge, the new base and the entry recording
        // them, so no append slips in between and the head's MAC always matches.
        let mut tx = self.db.begin().await?;
        lock_head(&mut tx).await?;
        let (seq, hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM audit_entries WHERE seq <= $1")
            .bind(last.seq)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE audit_head SET base_seq = $1, base_hash = $2, head_mac = $3 WHERE id = 1",
        )
        .bind(last.seq)
        .bind(&last.hash)
        .bind(self.head_mac(seq, &hash, last.seq, &last.hash))
        .execute(&mut *tx)
        .await?;
        let purged = entries.len() as u64;
        self.append_in(
            &mut tx,
            AuditRecord {
                actor: RETENTION_ACTOR.into(),
                roles: String::new(),
                action: "AUDIT_PURGE".into(),
                resource: archive.display().to_string(),
                outcome: "OK".into(),
                detail: format!(
                    "archived and purged entries {}..={} ({purged}) older than {}; archive sm3 {digest}",
                    entries[0].seq,
                    last.seq,
                    to_db_time(cutoff)
                ),
                ..AuditRecord::default()
            },
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(purged, archive = %archive.display(), "audit entries archived and purged");
        Ok(PurgeReport {
            purged,
            archive: Some(archive),
        })
    }
}

/// Takes the chain head's row lock for the rest of `tx`, creating the head on a fresh database
/// (two first appends at once both see no head: one creates it, the other waits and reuses it).
async fn lock_head(tx: &mut Transaction<'static, Any>) -> Result<(), Error> {
    let touched = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    if touched.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash, head_mac, base_seq, base_hash) \
             VALUES (1, 0, $1, '', 0, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(GENESIS)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The canonical upper-case name of a gRPC code.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Runs the retention job until `stop`: purges audit entries older than the retention period into
/// the archive folder (when one is configured), feed events older than the retention period, and
/// forgets idempotency records older than a day. It runs at start and then every
/// `job_interval_hours` by `clock` (a test moves a manual clock a day on to see the daily run).
pub async fn maintain(
    log: AuditLog,
    idempotency: crate::idempotency::Idempotency,
    feed: crate::feed::Feed,
    config: crate::config::AuditConfig,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    stop: crate::shutdown::Stop,
) {
    // from an hour to a century
    let interval = chrono::Duration::hours(config.job_interval_hours.clamp(1, 876_000) as i64);
    if config.archive_dir.is_none() {
        tracing::info!("audit.archive_dir is not set: audit entries are kept indefinitely");
    }
    loop {
        let now = clock.now();
        if let Some(dir) = &config.archive_dir {
            let cutoff = now - chrono::Duration::days(i64::from(config.retention_days));
            if let Err(error) = log.purge(cutoff, dir, now).await {
                tracing::error!(%error, "audit retention job failed");
            }
        }
        // Consumers must be able to catch up after any outage the audit log would still cover.
        let cutoff = now - chrono::Duration::days(i64::from(config.retention_days));
        if let Err(error) = feed.purge(cutoff).await {
            tracing::warn!(%error, "purging old feed events failed");
        }
        if let Err(error) = idempotency.expire(now - chrono::Duration::days(1)).await {
            tracing::warn!(%error, "expiring idempotency records failed");
        }
        tokio::select! {
            () = clock.wait_until(now + interval) => {}
            () = stop.wait() => break,
        }
    }
}

/// Verifies the audit chain of the database a service configuration points at.
pub async fn verify_database<S>(
    config: &crate::config::ServiceConfig<S>,
) -> anyhow::Result<VerifyReport> {
    let keys = crate::crypto::Keys::from_master(&config.crypto.master_key)?;
    let database = Database::connect(&config.database).await?;
    let report = AuditLog::new(database.clone(), keys.audit_chain)
        .verify()
        .await;
    database.close().await;
    Ok(report?)
}

/// Prints a verification report for `service` and returns the process exit code: 0 when the
/// chain is intact, 1 otherwise.
pub fn print_report(service: &str, report: &VerifyReport) -> std::process::ExitCode {
    if report.problems.is_empty() {
        println!(
            "{service}: audit chain intact ({} entries checked, head at {})",
            report.checked, report.head_seq
        );
        std::process::ExitCode::SUCCESS
    } else {
        println!(
            "{service}: audit chain BROKEN ({} entries checked):",
            report.checked
        );
        for problem in &report.problems {
            println!("  - {problem}");
        }
        std::process::ExitCode::FAILURE
    }
}

/// The auditors' view of the log over gRPC (`ListAuditEntries`, served by every service).
mod listing {
    use serde::{Deserialize, Serialize};
    use shequ_proto::audit::v1 as pb;

    use super::AuditFilter;
    use crate::{Error, auth::Role, call::Call, convert::to_timestamp, service::Kit};

    #[derive(Serialize, Deserialize)]
    struct SeqCursor {
        after: i64,
    }

    fn instant(
        field: &str,
        time: Option<&prost_types::Timestamp>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
        time.map(|t| {
            chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                .ok_or_else(|| Error::invalid(field, "TIMESTAMP_INVALID", "not a valid timestamp"))
        })
        .transpose()
    }

    /// ListAuditEntries for every service: auditors only, inside their scope, oldest first.
    /// Declared in a service's `grpc_service!` as `=> @kit shequ_kit::audit::list_entries`.
    pub async fn list_entries(
        kit: &Kit,
        call: &Call,
        request: pb::ListAuditEntriesRequest,
    ) -> Result<pb::ListAuditEntriesResponse, Error> {
        let (log, tokens, regions, caller) = (&kit.audit, &kit.tokens, &kit.regions, call.caller());
        caller.require_any(&[Role::Auditor], "ListAuditEntries")?;
        let region = crate::names::region_parent(regions, "parent", &request.parent)?;
        let page = tokens.page::<_, SeqCursor>(&request)?;
        let filter = AuditFilter {
            region: Some(region),
            actor: (!request.actor.is_empty()).then(|| request.actor.clone()),
            from: instant("start_time", request.start_time.as_ref())?,
            to: instant("end_time", request.end_time.as_ref())?,
        };
        caller.require_scope(region, "parent")?;
        let after = page.cursor.as_ref().map_or(0, |c| c.after);
        let mut entries = log.query(&filter, after, page.fetch()).await?;
        let next_page_token = page.next(&mut entries, |last| SeqCursor { after: last.seq });
        Ok(pb::ListAuditEntriesResponse {
            audit_entries: entries
                .into_iter()
                .map(|e| pb::AuditEntry {
                    sequence: e.seq,
                    time: Some(to_timestamp(e.at)),
                    actor: e.actor,
                    roles: e
                        .roles
                        .split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    action: e.action,
                    resource: e.resource,
                    region: e.region,
                    request_id: e.request_id,
                    outcome: e.outcome,
                    detail: e.detail,
                    previous_hash: e.prev_hash,
                    hash: e.hash,
                })
                .collect(),
            next_page_token,
        })
    }

    /// VerifyAuditLog for every service: auditors only, inside their scope. The whole chain is
    /// verified (that is what proves any one entry), and the answer says how many of its entries
    /// the auditor can list; problems name sequence numbers only.
    ///
    /// Declared in a service's `grpc_service!` as `=> @kit shequ_kit::audit::verify_log`.
    pub async fn verify_log(
        kit: &Kit,
        call: &Call,
        request: pb::VerifyAuditLogRequest,
    ) -> Result<pb::VerifyAuditLogResponse, Error> {
        let (log, regions, caller, now) = (&kit.audit, &kit.regions, call.caller(), call.now());
        caller.require_any(&[Role::Auditor], "VerifyAuditLog")?;
        let region = crate::names::region_parent(regions, "parent", &request.parent)?;
        caller.require_scope(region, "parent")?;
        let report = log.verify().await?;
        let entries_in_scope = log
            .count(&AuditFilter {
                region: Some(region),
                ..AuditFilter::default()
            })
            .await?;
        Ok(pb::VerifyAuditLogResponse {
            intact: report.problems.is_empty(),
            checked_entries: report.checked as i64,
            entries_in_scope: entries_in_scope as i64,
            head_sequence: report.head_seq,
            head_hash: report.head_hash,
            problems: report.problems.iter().map(problem_pb).collect(),
            verify_time: Some(to_timestamp(now)),
        })
    }

    fn problem_pb(problem: &super::Problem) -> pb::AuditProblem {
        use super::Problem;
        let (kind, first, last) = match problem {
            Problem::Tampered { seq } => ("TAMPERED", *seq, *seq),
            Problem::BrokenLink { seq } => ("BROKEN_LINK", *seq, *seq),
            Problem::Missing { from, to } => ("MISSING", *from, *to),
            Problem::WrongKey { .. } => ("WRONG_KEY", 0, 0),
            Problem::Head { .. } => ("HEAD", 0, 0),
        };
        pb::AuditProblem {
            kind: kind.to_owned(),
            first_sequence: first,
            last_sequence: last,
            description: problem.to_string(),
        }
    }
}

pub use listing::{list_entries, verify_log};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::{DatabaseConfig, MigrateMode, Secret},
        db::KIT_MIGRATIONS,
        testing::TestDatabase,
    };

    async fn log() -> (AuditLog, Database, TestDatabase) {
        let test = TestDatabase::create().await;
        let db = Database::connect(&DatabaseConfig {
            url: Secret::new(test.url()),
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        db.migrate(&KIT_MIGRATIONS, MigrateMode::Run).await.unwrap();
        (AuditLog::new(db.clone(), [7; 32]), db, test)
    }

    fn record(n: usize) -> AuditRecord {
        AuditRecord {
            actor: format!("user:{n}"),
            roles: "district_admin".into(),
            action: "UpdateSecretary".into(),
            resource: format!("secretaries/{n}"),
            region: "440305001001".into(),
            request_id: format!("r{n}"),
            outcome: "OK".into(),
            detail: String::new(),
        }
    }

    async fn filled(n: usize) -> (AuditLog, Database, TestDatabase) {
        let (log, db, test) = log().await;
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        for i in 1..=n {
            log.append(record(i), start + chrono::Duration::days(i as i64))
                .await
                .unwrap();
        }
        (log, db, test)
    }

    #[tokio::test]
    async fn an_untouched_chain_verifies() {
        let (log, _db, _test) = filled(5).await;
        let report = log.verify().await.unwrap();
        assert_eq!((report.checked, report.head_seq), (5, 5));
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[tokio::test]
    async fn an_edited_entry_is_found() {
        let (log, db, _test) = filled(5).await;
        sqlx::query("UPDATE audit_entries SET actor = 'user:someone-else' WHERE seq = 3")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            log.verify().await.unwrap().problems,
            vec![Problem::Tampered { seq: 3 }]
        );
    }

    #[tokio::test]
    async fn a_deleted_entry_is_found() {
        let (log, db, _test) = filled(5).await;
        sqlx::query("DELETE FROM audit_entries WHERE seq = 2")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            log.verify().await.unwrap().problems,
            vec![Problem::Missing { from: 2, to: 2 }]
        );
    }

    #[tokio::test]
    async fn reordered_entries_are_found() {
        let (log, db, _test) = filled(5).await;
        // swap the contents of entries 2 and 3, keeping their positions
        sqlx::query("UPDATE audit_entries SET seq = -2 WHERE seq = 2")
            .execute(db.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE audit_entries SET seq = 2 WHERE seq = 3")
            .execute(db.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE audit_entries SET seq = 3 WHERE seq = -2")
            .execute(db.pool())
            .await
            .unwrap();
        let problems = log.verify().await.unwrap().problems;
        assert!(
            problems.contains(&Problem::Tampered { seq: 2 })
                && problems.contains(&Problem::Tampered { seq: 3 }),
            "{problems:?}"
        );
    }

    #[tokio::test]
    async fn the_wrong_master_key_is_named_not_reported_as_tampering() {
        let (_, db, _test) = filled(4).await;
        let problems = AuditLog::new(db, [8; 32]).verify().await.unwrap().problems;
        assert_eq!(problems, vec![Problem::WrongKey { checked: 4 }]);
        assert!(problems[0].to_string().contains("crypto.master_key"));
    }

    #[tokio::test]
    async fn a_truncated_tail_is_found() {
        let (log, db, _test) = filled(5).await;
        sqlx::query("DELETE FROM audit_entries WHERE seq >= 4")
            .execute(db.pool())
            .await
            .unwrap();
        let problems = log.verify().await.unwrap().problems;
        assert!(
            matches!(problems.as_slice(), [Problem::Head { .. }]),
            "{problems:?}"
        );
    }

    #[tokio::test]
    async fn a_forged_rechained_entry_without_the_key_is_found() {
        let (_, db, _test) = filled(3).await;
        // someone without the key rebuilds entry 3 with another chain key
        let forger = AuditLog::new(db.clone(), [9; 32]);
        let row: (String, String) =
            sqlx::query_as("SELECT at, prev_hash FROM audit_entries WHERE seq = 3")
                .fetch_one(db.pool())
                .await
                .unwrap();
        let mut forged = record(3);
        forged.actor = "user:innocent".into();
        let hash = forger.entry_hash(3, &row.0, &forged, &row.1);
        sqlx::query("UPDATE audit_entries SET actor = $1, hash = $2 WHERE seq = 3")
            .bind(&forged.actor)
            .bind(hash)
            .execute(db.pool())
            .await
            .unwrap();
        let log = AuditLog::new(db, [7; 32]);
        assert!(
            log.verify()
                .await
                .unwrap()
                .problems
                .contains(&Problem::Tampered { seq: 3 })
        );
    }

    #[tokio::test]
    async fn retention_archives_then_purges_and_the_chain_still_verifies() {
        let (log, _db, _test) = filled(6).await;
        let archive = tempfile::tempdir().unwrap();
        let cutoff: DateTime<Utc> = "2026-01-04T12:00:00Z".parse().unwrap(); // entries 1-3 are older
        let report = log
            .purge(
                cutoff,
                archive.path(),
                "2026-07-01T00:00:00Z".parse().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(report.purged, 3);
        let archived = std::fs::read_to_string(report.archive.unwrap()).unwrap();
        assert_eq!(archived.lines().count(), 3);
        assert!(archived.contains("\"seq\":1"));
        let verified = log.verify().await.unwrap();
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
        assert_eq!(verified.head_seq, 7, "the purge recorded itself as entry 7");
        let purge_entry = log.query(&AuditFilter::default(), 6, 10).await.unwrap();
        assert_eq!(purge_entry[0].action, "AUDIT_PURGE");
        // The purge concerns every region: a district's auditor sees that entries went, too.
        let district = AuditFilter {
            region: Some(RegionCode::parse("440305000000").unwrap()),
            ..AuditFilter::default()
        };
        let seen = log.query(&district, 6, 10).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].action, "AUDIT_PURGE");
        // nothing older than the cutoff is left to purge
        assert_eq!(
            log.purge(cutoff, archive.path(), Utc::now())
                .await
                .unwrap()
                .purged,
            0
        );
    }

    #[tokio::test]
    async fn retention_purges_a_prefix_of_the_chain_even_when_times_interleave() {
        let (log, _db, _test) = log().await;
        // A slow call's entry (3) is stamped earlier than the fast one before it (2).
        for (n, day) in [(1, 1), (2, 10), (3, 2), (4, 20)] {
            let at = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
                + chrono::Duration::days(day);
            log.append(record(n), at).await.unwrap();
        }
        let archive = tempfile::tempdir().unwrap();
        let report = log
            .purge(
                "2026-01-06T00:00:00Z".parse().unwrap(),
                archive.path(),
                "2026-07-01T00:00:00Z".parse().unwrap(),
            )
            .await
            .unwrap();
        // 1..=3 go, all of them archived (2 with them, though newer than the cutoff); 4 stays.
        assert_eq!(report.purged, 3);
        let archived = std::fs::read_to_string(report.archive.unwrap()).unwrap();
        for seq in 1..=3 {
            assert!(archived.contains(&format!("\"seq\":{seq},")), "{archived}");
        }
        let left = log.query(&AuditFilter::default(), 0, 10).await.unwrap();
        let seqs: Vec<i64> = left.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![4, 5], "entry 4 and the purge's own entry");
        let verified = log.verify().await.unwrap();
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    }

    #[tokio::test]
    async fn the_first_appends_to_a_fresh_log_may_race() {
        let (log, _db, _test) = log().await;
        let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let appends = (1..=8).map(|n| {
            let log = log.clone();
            tokio::spawn(async move { log.append(record(n), at).await })
        });
        for append in futures::future::join_all(appends).await {
            append.unwrap().expect("every first append is recorded");
        }
        let verified = log.verify().await.unwrap();
        assert_eq!(verified.head_seq, 8);
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    }

    #[tokio::test]
    async fn queries_filter_by_region_actor_and_time() {
        let (log, _db, _test) = filled(4).await;
        let mut other = record(9);
        other.region = "440304001020".into();
        log.append(other, "2026-02-01T00:00:00Z".parse().unwrap())
            .await
            .unwrap();
        let nanshan = AuditFilter {
            region: Some(RegionCode::parse("440305000000").unwrap()),
            ..AuditFilter::default()
        };
        assert_eq!(log.query(&nanshan, 0, 100).await.unwrap().len(), 4);
        let actor = AuditFilter {
            actor: Some("user:2".into()),
            ..AuditFilter::default()
        };
        assert_eq!(log.query(&actor, 0, 100).await.unwrap()[0].seq, 2);
        let window = AuditFilter {
            from: Some("2026-01-03T00:00:00Z".parse().unwrap()),
            to: Some("2026-01-05T00:00:00Z".parse().unwrap()),
            ..AuditFilter::default()
        };
        let seqs: Vec<i64> = log
            .query(&window, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![2, 3]);
    }
}
