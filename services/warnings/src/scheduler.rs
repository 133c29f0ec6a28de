//! The deadline scheduler: marks a warning overdue when its running deadline passes unmet and
//! notifies the next level up (the street; one deadline span later, the district).
//!
//! It reads rows, never memory: every `warning_deadlines` row with a `next_check` at or before
//! now is due, so a restart (or a crash) loses nothing, and a replica started later picks up
//! what another left. Several replicas run it at once: each level of each deadline is claimed by
//! a conditional update inside the transaction that also writes the notification, the history
//! entry, the warning and the feed event, so exactly one replica's claim commits. Time is the
//! kit's clock: it waits with `Clock::wait_until` for the earliest next check (tests move a
//! `ManualClock`), wakes early when this replica changed deadlines, and looks again every
//! `scheduler_poll_ms` for rows other replicas wrote.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    audit::AuditLog,
    auth::Caller,
    call::{Call, CallStart},
    clock::Clock,
    convert::new_id,
    db::Database,
    regions::{Level, RegionCode},
    shutdown::Stop,
};

use crate::{
    domain::Warning,
    events::{self, Published},
    store::{DueDeadline, Notification, Store, load},
};

/// Due deadlines handled per round.
const BATCH: usize = 100;

/// The scheduler of one replica.
pub(crate) struct Scheduler {
    pub(crate) store: Store,
    pub(crate) database: Database,
    pub(crate) log: AuditLog,
    pub(crate) clock: Arc<dyn Clock>,
    /// The service acting as itself.
    pub(crate) identity: Caller,
    /// Signalled when this replica changed deadlines; wakes the webhook sender in turn.
    pub(crate) wakers: Arc<crate::api::Wakers>,
    /// How often to look for rows other replicas wrote.
    pub(crate) poll: Duration,
}

/// The region a level above `community` stands for: 1 its street, 2 its district.
pub(crate) fn notified_region(community: RegionCode, level: i32) -> RegionCode {
    let at = if level <= 1 {
        Level::Street
    } else {
        Level::County
    };
    community
        .ancestor(at)
        .unwrap_or_else(|| community.province())
}

impl Scheduler {
    /// Runs until `stop`.
    pub(crate) async fn run(self, stop: Stop) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let next = match self.sweep().await {
                Ok(next) => {
                    backoff = Duration::from_millis(100);
                    next
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "deadline scheduler paused");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.wait() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            let due = async {
                match next {
                    Some(at) => self.clock.wait_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = due => {}
                () = self.wakers.deadlines.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
                () = stop.wait() => return,
            }
        }
    }

    /// Handles every deadline due now; the time of the next check, if any.
    async fn sweep(&self) -> Result<Option<DateTime<Utc>>, Error> {
        loop {
            let now = self.clock.now();
            let due = self.store.due_deadlines(now, BATCH).await?;
            for deadline in &due {
                self.miss(deadline, now).await?;
            }
            if due.len() < BATCH {
                break;
            }
        }
        self.store.next_check().await
    }

    /// Notifies the next level of one due deadline, unless another replica (or a change that met
    /// it) got there first.
    async fn miss(&self, due: &DueDeadline, now: DateTime<Utc>) -> Result<(), Error> {
        let level = due.notified_level + 1;
        let call = Call::new(
            CallStart {
                caller: self.identity.clone(),
                token: None,
                action: "MissDeadline",
                request_id: format!("deadline:{}:{level}", due.id),
                client_request_id: None,
                deadline: None,
            },
            self.log.clone(),
            Arc::clone(&self.clock),
        );
        let mut tx = call.begin(&self.database).await?;
        if !self.store.claim_deadline(&mut tx, due, now).await? {
            return tx.rollback().await;
        }
        let Some(mut warning) = load(&mut tx, &due.warning_id).await? else {
            return tx.rollback().await;
        };
        let Some(deadline) = warning
            .running_deadline()
            .filter(|d| d.id == due.id)
            .cloned()
        else {
            return tx.rollback().await;
        };
        let region = notified_region(warning.region, level);
        let next = (level < 2).then(|| deadline.due + (deadline.due - deadline.start) * level);
        let note = format!(
            "{} was due at {} and is not done: {} {region} notified",
            deadline.kind.describe(),
            deadline.due.to_rfc3339(),
            if level == 1 {
                "the street"
            } else {
                "the district"
            },
        );
        let expected = warning.version;
        let Some(entry) =
            warning.miss_deadline(&due.id, level, next, &self.identity.subject, note, now)
        else {
            return tx.rollback().await;
        };
        if !Store::save_change(&mut tx, &warning, expected, &entry).await? {
            // Changed meanwhile (met, say): the next round reads it again.
            return tx.rollback().await;
        }
        let notification = notification(&warning, &deadline, level, region, now);
        Store::insert_notification(&mut tx, &notification).await?;
        call.target(&warning.name(), warning.region);
        events::publish(
            &mut tx,
            &warning,
            Published::Overdue(Box::new((
                warning.running_deadline().cloned().unwrap_or(deadline),
                notification,
            ))),
        )
        .await?;
        tx.commit().await?;
        self.wakers.webhooks.notify_one();
        Ok(())
    }
}

fn notification(
    warning: &Warning,
    deadline: &crate::domain::Deadline,
    level: i32,
    region: RegionCode,
    now: DateTime<Utc>,
) -> Notification {
    Notification {
        id: new_id(),
        warning_id: warning.id.clone(),
        deadline_id: deadline.id.clone(),
        level,
        region,
        community: warning.region,
        title: warning.title.clone(),
        colour: deadline.colour,
        kind: deadline.kind,
        due: deadline.due,
        create_time: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_levels_above_a_community_are_its_street_then_its_district() {
        let nantou = RegionCode::parse("440305001001").unwrap();
        assert_eq!(notified_region(nantou, 1).to_string(), "440305001000");
        assert_eq!(notified_region(nantou, 2).to_string(), "440305000000");
        // a city without districts (Dongguan) puts streets under county 00
        let dongguan = RegionCode::parse("441900003001").unwrap();
        assert_eq!(notified_region(dongguan, 1).to_string(), "441900003000");
        assert_eq!(notified_region(dongguan, 2).to_string(), "441900000000");
    }
}
