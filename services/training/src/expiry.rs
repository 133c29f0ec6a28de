//! Publishes `CertificateExpired` once for every certificate whose expiry day has passed
//! unrenewed, at the start of each day (China time) on the service's clock, so tests move the
//! clock instead of waiting.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use shequ_kit::{
    call::{Call, CallStart},
    clock::china_time,
    convert::format_date,
    service::Kit,
};
use shequ_proto::training::v1 as pb;

use crate::{api::stored_level_code, store};

/// Runs until the service stops.
pub async fn run(kit: Kit) {
    let Some(identity) = kit.identity.clone() else {
        tracing::warn!("no service key: certificate expiries are not published");
        return;
    };
    loop {
        let today = kit.clock.today();
        if let Err(error) = publish(&kit, identity.caller(), today).await {
            tracing::warn!(%error, "publishing certificate expiries failed; retried tomorrow");
        }
        let tomorrow = today.succ_opt().unwrap_or(NaiveDate::MAX);
        let at = tomorrow
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_local_timezone(china_time())
            .single()
            .map_or_else(|| kit.clock.now() + Duration::days(1), |t| t.to_utc());
        tokio::select! {
            () = kit.clock.wait_until(at) => {}
            () = kit.stop.wait() => return,
        }
    }
}

/// Publishes the expiries due on `today`; returns how many.
pub async fn publish(
    kit: &Kit,
    caller: &shequ_kit::auth::Caller,
    today: NaiveDate,
) -> Result<usize, shequ_kit::Error> {
    let due = store::newly_expired(&kit.database, today).await?;
    let mut published = 0;
    for certificate in due {
        let call = Call::new(
            CallStart {
                caller: caller.clone(),
                token: None,
                action: "ExpireCertificate",
                request_id: shequ_kit::convert::new_id(),
                client_request_id: None,
                deadline: None,
            },
            kit.audit.clone(),
            Arc::clone(&kit.clock),
        );
        let name = format!("certificates/{}", certificate.number);
        let region = crate::api::region_of(&certificate.region)?;
        call.target(&name, region);
        let mut tx = call.begin(&kit.database).await?;
        if !store::mark_expiry_published(&mut tx, &certificate.number, certificate.expiry_date)
            .await?
        {
            tx.rollback().await?;
            continue;
        }
        tx.publish(
            &name,
            region,
            &pb::CertificateExpired {
                certificate: name.clone(),
                secretary: format!("secretaries/{}", certificate.secretary_id),
                level: stored_level_code(&certificate.level),
                expiry_date: format_date(certificate.expiry_date),
            },
        );
        tx.commit().await?;
        published += 1;
    }
    Ok(published)
}
