//! Following personnel's feed into the roster: which community each secretary serves and
//! whether they are in post. Evaluation checks an officer's scope and builds ranking scopes
//! from it, never from figures typed in by hand.

use shequ_kit::{
    Error,
    call::AuditedTx,
    feed::{EventHandler, Handled, payload, type_url},
    regions::RegionCode,
};
use shequ_proto::{feed::v1 as feed_pb, personnel::v1 as personnel_pb};

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

async fn apply(tx: &mut AuditedTx, event: &feed_pb::Event) -> Result<(), Error> {
    let (secretary, region, active) =
        if let Some(appointed) = payload::<personnel_pb::SecretaryAppointed>(event) {
            (appointed.secretary, appointed.region, true)
        } else {
            let recorded = payload::<personnel_pb::CareerEventRecorded>(event)
                .ok_or_else(|| malformed("an unreadable payload"))?;
            let name = recorded
                .career_event
                .map(|e| e.name)
                .ok_or_else(|| malformed("no career event"))?;
            // secretaries/{s}/careerEvents/{e} → secretaries/{s}
            let secretary = name.split('/').take(2).collect::<Vec<_>>().join("/");
            (
                secretary,
                recorded.region,
                recorded.status == personnel_pb::SecretaryStatus::Active as i32,
            )
        };
    if !secretary.starts_with("secretaries/") {
        return Err(malformed("a bad secretary name"));
    }
    RegionCode::parse(&region).map_err(|_| malformed("a bad region"))?;
    crate::store::put_serving(tx, &secretary, &region, active, event.sequence).await
}
