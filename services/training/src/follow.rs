//! Personnel's feed, applied here: an appointment records the secretary and starts their
//! 三阶九步 plan (once per tenure, whatever is replayed); leaving the post (transfer,
//! departure, retirement, removal) closes the plan and ends the pairs the secretary is in;
//! a reassignment moves them; a violation is kept for mentor eligibility and revokes the
//! certificates when the province configured its item as revoking.

use shequ_kit::{
    Error,
    call::AuditedTx,
    feed::{EventHandler, Handled, payload, type_url},
    regions::RegionCode,
    service::Kit,
};
use shequ_proto::{feed::v1::Event, personnel::v1 as personnel};

use crate::{api::publish_revoked, domain, store};

/// The handler of personnel's feed.
pub struct PersonnelFeed {
    database: shequ_kit::db::Database,
    types: Vec<String>,
}

impl PersonnelFeed {
    pub fn new(kit: &Kit) -> Self {
        PersonnelFeed {
            database: kit.database.clone(),
            types: vec![
                type_url::<personnel::SecretaryAppointed>(),
                type_url::<personnel::CareerEventRecorded>(),
                type_url::<personnel::ViolationRecorded>(),
            ],
        }
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(anyhow::anyhow!("personnel's feed sent a malformed {what}"))
}

/// `secretaries/{id}` → id.
fn secretary_id(name: &str) -> Result<&str, Error> {
    name.strip_prefix("secretaries/")
        .and_then(|rest| rest.split('/').next())
        .filter(|id| shequ_kit::names::valid_segment(id))
        .ok_or_else(|| malformed("secretary name"))
}

fn status_code(status: i32) -> &'static str {
    match personnel::SecretaryStatus::try_from(status).unwrap_or_default() {
        personnel::SecretaryStatus::Active => "ACTIVE",
        personnel::SecretaryStatus::Transferred => "TRANSFERRED",
        personnel::SecretaryStatus::Departed => "DEPARTED",
        personnel::SecretaryStatus::Retired => "RETIRED",
        personnel::SecretaryStatus::Removed => "REMOVED",
        personnel::SecretaryStatus::Unspecified => "UNKNOWN",
    }
}

impl PersonnelFeed {
    async fn appointed(
        &self,
        tx: &mut AuditedTx,
        event: personnel::SecretaryAppointed,
    ) -> Result<(), Error> {
        let id = secretary_id(&event.secretary)?;
        let region = RegionCode::parse(&event.region).map_err(|_| malformed("region"))?;
        let appointed: chrono::NaiveDate = event
            .appointment_date
            .parse()
            .map_err(|_| malformed("date"))?;
        let now = tx.call().now();
        let tenure = i64::from(event.tenure.max(1));
        store::appoint(tx, id, &region.to_string(), appointed, tenure, now).await?;
        let today = now
            .with_timezone(&shequ_kit::clock::china_time())
            .date_naive();
        if domain::starts_plan(appointed, today) {
            let created = store::insert_plan(
                tx,
                &store::Plan {
                    id: format!("{id}-{tenure}"),
                    secretary_id: id.to_owned(),
                    tenure,
                    region: region.to_string(),
                    start_date: appointed,
                    state: "ACTIVE".into(),
                    closed_reason: String::new(),
                },
            )
            .await?;
            tracing::info!(
                secretary = id,
                tenure,
                created,
                "cultivation plan for an appointment"
            );
        }
        Ok(())
    }

    async fn career(
        &self,
        tx: &mut AuditedTx,
        event: personnel::CareerEventRecorded,
    ) -> Result<(), Error> {
        let recorded = event
            .career_event
            .ok_or_else(|| malformed("career event"))?;
        let id = secretary_id(&recorded.name)?;
        if store::secretary(&self.database, id).await?.is_none() {
            return Ok(()); // not appointed through the feed: nothing of ours to change
        }
        let status = status_code(event.status);
        let region = RegionCode::parse(&event.region).map_err(|_| malformed("region"))?;
        let now = tx.call().now();
        store::follow_career(tx, id, status, &region.to_string(), now).await?;
        if status != "ACTIVE" {
            let kind = personnel::CareerEventType::try_from(recorded.r#type)
                .map(|t| {
                    t.as_str_name()
                        .trim_start_matches("CAREER_EVENT_TYPE_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            let reason = format!("left the post ({kind}) on {}", recorded.effective_date);
            store::close_plans(tx, id, &reason).await?;
            let on: chrono::NaiveDate = recorded
                .effective_date
                .parse()
                .unwrap_or_else(|_| now.date_naive());
            for pair in store::active_mentorships_of(tx, id).await? {
                store::end_mentorship(tx, &pair, on.max(pair.start_date), &reason).await?;
            }
        }
        Ok(())
    }

    async fn violation(
        &self,
        tx: &mut AuditedTx,
        event: personnel::ViolationRecorded,
    ) -> Result<(), Error> {
        let violation = event.violation.ok_or_else(|| malformed("violation"))?;
        let id = secretary_id(&violation.name)?;
        let item = violation
            .negative_list_item
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let occurred: chrono::NaiveDate = violation
            .occurred_on
            .parse()
            .map_err(|_| malformed("date"))?;
        store::add_violation(tx, &violation.name, id, &item, occurred).await?;
        let province = RegionCode::parse(&event.region)
            .map_err(|_| malformed("region"))?
            .province()
            .to_string();
        let policy = store::policy(&self.database, &province).await?.policy;
        if !policy.revoking_items.contains(&item) {
            return Ok(());
        }
        let today = tx
            .call()
            .now()
            .with_timezone(&shequ_kit::clock::china_time())
            .date_naive();
        let reason = format!("negative-list violation {item} on {occurred}");
        for certificate in store::unrevoked_of(tx, id).await? {
            if store::revoke(tx, &certificate.number, today, &reason).await? {
                publish_revoked(tx, &certificate, &reason)?;
                tracing::info!(certificate = %certificate.number, item = %item, "certificate revoked by a violation");
            }
        }
        Ok(())
    }
}

impl EventHandler for PersonnelFeed {
    fn handles(&self) -> &[String] {
        &self.types
    }

    fn handle<'a>(&'a self, tx: &'a mut AuditedTx, event: &'a Event) -> Handled<'a> {
        Box::pin(async move {
            if let Some(appointed) = payload::<personnel::SecretaryAppointed>(event) {
                self.appointed(tx, appointed).await
            } else if let Some(career) = payload::<personnel::CareerEventRecorded>(event) {
                self.career(tx, career).await
            } else if let Some(violation) = payload::<personnel::ViolationRecorded>(event) {
                self.violation(tx, violation).await
            } else {
                Err(malformed("event"))
            }
        })
    }
}
