//! The gateway follows the identity service's event feed so that a revoked or rotated API key
//! stops working at once on every gateway replica, not when its cache entry expires.
//!
//! The cache is in memory, so the follower needs no cursor of its own: it starts from the feed's
//! head, and after any interruption it empties the cache (whatever happened meanwhile is checked
//! again on the next request) and starts from the head again.

use std::{sync::Arc, time::Duration};

use shequ_kit::{feed::payload, shutdown::Stop};
use shequ_proto::{
    feed::v1::{
        ListEventsRequest, WatchEventsRequest, event_feed_service_client::EventFeedServiceClient,
    },
    identity::v1::{ApiKeyRevoked, ApiKeyRotated},
};
use tonic::{Status, metadata::MetadataValue};

use crate::auth::Authenticator;

/// Follows identity's feed until `stop`, dropping revoked and rotated keys from the cache.
pub async fn follow(auth: Arc<Authenticator>, stop: Stop) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            outcome = follow_once(&auth) => outcome,
            () = stop.wait() => return,
        };
        if let Err(status) = outcome {
            tracing::warn!(code = ?status.code(), message = status.message(), retry_in_ms = backoff.as_millis() as u64, "identity feed interrupted; API keys are verified afresh");
        }
        auth.forget_api_keys();
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.wait() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn follow_once(auth: &Authenticator) -> Result<(), Status> {
    let Some(identity) = auth.identity() else {
        return Ok(());
    };
    let bearer: MetadataValue<_> = format!("Bearer {}", auth.own_token())
        .parse()
        .map_err(|_| Status::internal("the gateway's own token is not ASCII"))?;
    fn with_token<M>(
        bearer: &MetadataValue<tonic::metadata::Ascii>,
        message: M,
    ) -> tonic::Request<M> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        request
    }
    let head = identity
        .call(|channel| {
            let request = with_token(
                &bearer,
                ListEventsRequest {
                    after_sequence: i64::MAX,
                    page_size: 1,
                },
            );
            async move {
                EventFeedServiceClient::new(channel)
                    .list_events(request)
                    .await
            }
        })
        .await?
        .into_inner()
        .head_sequence;
    let mut stream = identity
        .call(|channel| {
            let request = with_token(
                &bearer,
                WatchEventsRequest {
                    after_sequence: head,
                },
            );
            async move {
                EventFeedServiceClient::new(channel)
                    .watch_events(request)
                    .await
            }
        })
        .await?
        .into_inner();
    // From here on every change is seen: what was cached before the head is checked again.
    auth.forget_api_keys();
    while let Some(event) = stream.message().await? {
        if let Some(revoked) = payload::<ApiKeyRevoked>(&event) {
            auth.forget_api_key(&revoked.api_key);
            tracing::info!(api_key = %revoked.api_key, "revoked API key dropped");
        } else if let Some(rotated) = payload::<ApiKeyRotated>(&event) {
            auth.forget_api_key(&rotated.api_key);
            tracing::info!(api_key = %rotated.api_key, "rotated API key dropped");
        }
    }
    Ok(())
}
