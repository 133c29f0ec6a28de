//! The adjustment outbox: each confirmed adjustment is a row, committed with the confirmation,
//! and this task records it in personnel as a REMOVAL career event, called as the evaluation
//! service itself. A failed call (personnel down, slow, refusing) is retried with a growing
//! pause until personnel has it; the request id is derived from the secretary and year, so
//! personnel records the event once however often it is sent (a retry after a lost answer, a
//! replica racing, a restart). Rows survive restarts; a lease keeps two replicas from sending
//! the same row at once.

use std::{sync::Arc, time::Duration};

use shequ_kit::{
    Error,
    auth::Caller,
    call::{Call, CallStart},
    client::Acting,
    clock::Clock,
    service::Kit,
    shutdown::Stop,
};
use shequ_proto::personnel::v1::{
    self as personnel, personnel_service_client::PersonnelServiceClient,
};
use tokio::sync::Notify;

use crate::store::{self, DueAdjustment};

/// How long one attempt holds its row against other replicas.
const LEASE: Duration = Duration::from_secs(60);
/// First pause after a failure, doubled after each, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(5);
const MAX_PAUSE: Duration = Duration::from_secs(600);

/// The pause after `attempts` failed attempts.
pub(crate) fn pause(attempts: i64) -> Duration {
    let doubled = FIRST_PAUSE.saturating_mul(1u32 << attempts.clamp(0, 16) as u32);
    doubled.min(MAX_PAUSE)
}

/// The request id personnel deduplicates on: one per secretary and year.
pub(crate) fn request_id(secretary: &str, year: i32) -> String {
    format!(
        "evaluation-adjustment-{}-{year}",
        secretary.trim_start_matches("secretaries/")
    )
}

pub(crate) struct Outbox {
    pub(crate) kit: Kit,
    pub(crate) identity: Caller,
    pub(crate) wake: Arc<Notify>,
    /// How often it looks for due rows besides being woken (other replicas' confirmations,
    /// retries coming due).
    pub(crate) poll: Duration,
}

impl Outbox {
    pub(crate) async fn run(self, stop: Stop) {
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(%error, "adjustment outbox pass failed; retrying");
            }
            tokio::select! {
                _ = stop.wait() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    async fn deliver_due(&self) -> Result<(), Error> {
        let clock: &Arc<dyn Clock> = &self.kit.clock;
        let now = clock.now();
        for due in store::due_adjustments(&self.kit.database, now, 50).await? {
            let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            if !store::lease_adjustment(&self.kit.database, &due, now, lease).await? {
                continue;
            }
            let outcome = self.send(&due).await;
            self.record(&due, outcome).await?;
        }
        Ok(())
    }

    /// One attempt: the career event's name, or why it failed.
    async fn send(&self, due: &DueAdjustment) -> Result<String, String> {
        let dependency = self
            .kit
            .dependency("personnel")
            .map_err(|e| e.to_string())?;
        let outgoing = dependency
            .prepare(None, Acting::AsService)
            .map_err(|e| e.to_string())?;
        let request = personnel::CreateCareerEventRequest {
            parent: due.secretary.clone(),
            career_event: Some(personnel::CareerEvent {
                r#type: personnel::CareerEventType::Removal as i32,
                note: format!(
                    "动态调整: {} 年度考核排名调整，经申诉期后确认 ({})",
                    due.year, due.ranking
                ),
                ..Default::default()
            }),
            request_id: request_id(&due.secretary, due.year),
        };
        dependency
            .call(&outgoing, true, request, |channel, request| async move {
                PersonnelServiceClient::new(channel)
                    .create_career_event(request)
                    .await
            })
            .await
            .map(|event| event.name)
            .map_err(|e| e.to_string())
    }

    async fn record(
        &self,
        due: &DueAdjustment,
        outcome: Result<String, String>,
    ) -> Result<(), Error> {
        let call = Call::new(
            CallStart {
                caller: self.identity.clone(),
                token: None,
                action: "RecordAdjustment",
                request_id: request_id(&due.secretary, due.year),
                client_request_id: None,
                deadline: None,
            },
            self.kit.audit.clone(),
            Arc::clone(&self.kit.clock),
        );
        if let Ok(region) = shequ_kit::regions::RegionCode::parse(&due.region) {
            call.target(&due.secretary, region);
        }
        let mut tx = call.begin(&self.kit.database).await?;
        match &outcome {
            Ok(event) => {
                store::adjustment_attempted(&mut tx, due, Ok(event)).await?;
                tracing::info!(ranking = %due.ranking, "adjustment recorded in personnel");
            }
            Err(error) => {
                let next = self.kit.clock.now()
                    + chrono::Duration::from_std(pause(due.attempts)).unwrap_or_default();
                store::adjustment_attempted(&mut tx, due, Err((error, next))).await?;
                tracing::warn!(ranking = %due.ranking, attempts = due.attempts + 1, %error,
                    "personnel did not take an adjustment; it will be retried");
            }
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_pause_longer_each_time_up_to_ten_minutes() {
        assert_eq!(pause(0), Duration::from_secs(5));
        assert_eq!(pause(1), Duration::from_secs(10));
        assert_eq!(pause(3), Duration::from_secs(40));
        assert_eq!(pause(10), Duration::from_secs(600));
        assert_eq!(pause(100), Duration::from_secs(600));
    }

    #[test]
    fn one_request_id_per_secretary_and_year() {
        assert_eq!(
            request_id("secretaries/abc", 2026),
            "evaluation-adjustment-abc-2026"
        );
        assert_ne!(
            request_id("secretaries/abc", 2026),
            request_id("secretaries/abc", 2025)
        );
    }
}
