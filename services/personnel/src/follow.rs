//! Training's and evaluation's feeds, applied here. Training's: the 数字书记 certificates each secretary holds, for the
//! professional ladder's certificate prerequisite and the certification statistics. Followed
//! only where training is deployed (an optional dependency); an event about a certificate this
//! service never heard of issued changes nothing.

use shequ_kit::{
    Error,
    call::AuditedTx,
    feed::{EventHandler, Handled, payload, type_url},
};
use shequ_proto::{evaluation::v1 as evaluation, feed::v1::Event, training::v1 as training};

use crate::{
    domain::career::{CertificateLevel, CertificateState, Standing},
    store::{IssuedCertificate, Store},
};

/// The handler of training's feed.
pub struct TrainingFeed {
    store: Store,
    types: Vec<String>,
}

impl TrainingFeed {
    /// A handler writing to `store`.
    pub fn new(store: Store) -> Self {
        TrainingFeed {
            store,
            types: vec![
                type_url::<training::CertificateIssued>(),
                type_url::<training::CertificateRevoked>(),
                type_url::<training::CertificateExpired>(),
                type_url::<training::CertificateSuspended>(),
                type_url::<training::CertificateReinstated>(),
            ],
        }
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(anyhow::anyhow!("training's feed sent a malformed {what}"))
}

/// `secretaries/{id}` → id.
fn secretary_id(name: &str) -> Result<&str, Error> {
    name.strip_prefix("secretaries/")
        .filter(|id| shequ_kit::names::valid_segment(id))
        .ok_or_else(|| malformed("secretary name"))
}

fn level(value: i32) -> Result<CertificateLevel, Error> {
    match training::CertificateLevel::try_from(value) {
        Ok(training::CertificateLevel::Basic) => Ok(CertificateLevel::Basic),
        Ok(training::CertificateLevel::Advanced) => Ok(CertificateLevel::Advanced),
        Ok(training::CertificateLevel::Senior) => Ok(CertificateLevel::Senior),
        _ => Err(malformed("certificate level")),
    }
}

fn date(text: &str) -> Result<&str, Error> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|_| text)
        .map_err(|_| malformed("date"))
}

impl EventHandler for TrainingFeed {
    fn handles(&self) -> &[String] {
        &self.types
    }

    fn handle<'a>(&'a self, tx: &'a mut AuditedTx, event: &'a Event) -> Handled<'a> {
        Box::pin(async move {
            let now = tx.call().now();
            use CertificateState::{Expired, Revoked, Suspended, Valid};
            if let Some(issued) = payload::<training::CertificateIssued>(event) {
                let certificate = IssuedCertificate {
                    name: &issued.certificate,
                    secretary_id: secretary_id(&issued.secretary)?,
                    level: level(issued.level)?,
                    issue_date: date(&issued.issue_date)?,
                    expiry_date: date(&issued.expiry_date)?,
                };
                self.store.certificate_issued(tx, &certificate, now).await
            } else if let Some(revoked) = payload::<training::CertificateRevoked>(event) {
                let from = [Valid, Suspended, Expired];
                (self.store)
                    .certificate_state(tx, &revoked.certificate, &from, Revoked, now)
                    .await
            } else if let Some(expired) = payload::<training::CertificateExpired>(event) {
                (self.store)
                    .certificate_state(tx, &expired.certificate, &[Valid], Expired, now)
                    .await
            } else if let Some(suspended) = payload::<training::CertificateSuspended>(event) {
                (self.store)
                    .certificate_state(tx, &suspended.certificate, &[Valid], Suspended, now)
                    .await
            } else if let Some(reinstated) = payload::<training::CertificateReinstated>(event) {
                (self.store)
                    .certificate_state(tx, &reinstated.certificate, &[Suspended], Valid, now)
                    .await
            } else {
                Err(malformed("event"))
            }
        })
    }
}

/// Evaluation's feed, applied here: each secretary's latest ranked annual result and whether it
/// is in the adjustment band, for the promotion prerequisite. Followed only where evaluation is
/// deployed (an optional dependency).
pub struct EvaluationFeed {
    store: Store,
    types: Vec<String>,
}

impl EvaluationFeed {
    /// A handler writing to `store`.
    pub fn new(store: Store) -> Self {
        EvaluationFeed {
            store,
            types: vec![
                type_url::<evaluation::BandMembershipChanged>(),
                type_url::<evaluation::AdjustmentConfirmed>(),
            ],
        }
    }
}

impl EventHandler for EvaluationFeed {
    fn handles(&self) -> &[String] {
        &self.types
    }

    fn handle<'a>(&'a self, tx: &'a mut AuditedTx, event: &'a Event) -> Handled<'a> {
        Box::pin(async move {
            let now = tx.call().now();
            if let Some(changed) = payload::<evaluation::BandMembershipChanged>(event) {
                let standing = Standing {
                    year: changed.year,
                    score: changed.score,
                    in_band: changed.in_band,
                    explanation: changed.explanation,
                };
                let id = secretary_id(&changed.secretary)?;
                (self.store)
                    .put_standing(tx, id, &standing, &changed.ranking, now)
                    .await
            } else if let Some(confirmed) = payload::<evaluation::AdjustmentConfirmed>(event) {
                let id = secretary_id(&confirmed.secretary)?;
                (self.store)
                    .adjustment_confirmed(tx, id, confirmed.year, now)
                    .await
            } else {
                Err(Error::internal(anyhow::anyhow!(
                    "evaluation's feed sent a malformed event"
                )))
            }
        })
    }
}
