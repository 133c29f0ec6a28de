//! Following personnel's feed into the roster, the local read model of who serves which
//! community (the assignee check), and keeping assignees where they serve: when a secretary
//! leaves a community (reassignment, transfer, departure, retirement, removal), their active
//! warnings there pass to the community's other active secretary, or to nobody; when a secretary
//! arrives, the community's unassigned active warnings become theirs.

use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::from_db_time,
    feed::{EventHandler, Handled, payload, type_url},
    regions::RegionCode,
};
use shequ_proto::{feed::v1 as feed_pb, personnel::v1 as personnel_pb};

use crate::store::{Serving, Store, load};

/// Handles `SecretaryAppointed` and `CareerEventRecorded`.
pub(crate) struct RosterHandler {
    types: Vec<String>,
}

impl RosterHandler {
    pub(crate) fn new() -> Self {
        RosterHandler {
            types: vec![
                type_url::<personnel_pb::SecretaryAppointed>(),
                type_url::<personnel_pb::CareerEventRecorded>(),
            ],
        }
    }
}

impl EventHandler for RosterHandler {
    fn handles(&self) -> &[String] {
        &self.types
    }

    fn handle<'a>(&'a self, tx: &'a mut AuditedTx, event: &'a feed_pb::Event) -> Handled<'a> {
        Box::pin(apply(tx, event))
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(anyhow::anyhow!("personnel event with {what}"))
}

/// The secretary an event is about and where they serve after it.
fn serving_after(event: &feed_pb::Event) -> Result<(String, Serving), Error> {
    if let Some(appointed) = payload::<personnel_pb::SecretaryAppointed>(event) {
        let region = RegionCode::parse(&appointed.region).map_err(|_| malformed("a bad region"))?;
        return Ok((
            appointed.secretary,
            Serving {
                region,
                active: true,
            },
        ));
    }
    let recorded = payload::<personnel_pb::CareerEventRecorded>(event)
        .ok_or_else(|| malformed("an unreadable payload"))?;
    let name = recorded
        .career_event
        .map(|e| e.name)
        .ok_or_else(|| malformed("no career event"))?;
    // secretaries/{s}/careerEvents/{e} → secretaries/{s}
    let secretary = name.split('/').take(2).collect::<Vec<_>>().join("/");
    if !secretary.starts_with("secretaries/") {
        return Err(malformed("a bad career event name"));
    }
    let region = RegionCode::parse(&recorded.region).map_err(|_| malformed("a bad region"))?;
    Ok((
        secretary,
        Serving {
            region,
            active: recorded.status == personnel_pb::SecretaryStatus::Active as i32,
        },
    ))
}

async fn apply(tx: &mut AuditedTx, event: &feed_pb::Event) -> Result<(), Error> {
    let (secretary, serving) = serving_after(event)?;
    let at = match &event.time {
        Some(t) => chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
            .ok_or_else(|| malformed("a bad time"))?,
        None => from_db_time("1970-01-01T00:00:00Z")?,
    };
    Store::put_serving(tx, &secretary, &serving, event.sequence, at).await?;
    let actor = tx.call().caller().subject.clone();
    let now = tx.call().now();
    // Their active warnings elsewhere pass to a secretary who serves there.
    for id in Store::active_assigned(tx, &secretary).await? {
        let Some(mut warning) = load(tx, &id).await? else {
            continue;
        };
        if serving.active && warning.region == serving.region {
            continue;
        }
        let next = Store::current_secretary(tx, warning.region, Some(&secretary)).await?;
        let expected = warning.version;
        let note = format!(
            "{secretary} no longer serves {} (personnel event {})",
            warning.region, event.sequence
        );
        let entry = warning.assign(next, &actor, note, now)?;
        Store::save_change(tx, &warning, expected, &entry).await?;
    }
    // A secretary arriving takes the community's unassigned active warnings.
    if serving.active {
        for id in Store::active_unassigned(tx, serving.region).await? {
            let Some(mut warning) = load(tx, &id).await? else {
                continue;
            };
            let expected = warning.version;
            let note = format!(
                "{secretary} serves {} (personnel event {})",
                serving.region, event.sequence
            );
            let entry = warning.assign(Some(secretary.clone()), &actor, note, now)?;
            Store::save_change(tx, &warning, expected, &entry).await?;
        }
    }
    Ok(())
}
