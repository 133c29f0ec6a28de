//! What the warnings service tells its subscribers: the events of its feed (payload messages of
//! `shequ.warnings.v1`), published in the transaction of the change that causes them, and the
//! same events queued for each webhook endpoint that subscribes to them (an outbox row per
//! endpoint, in the same transaction, so none is lost).

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage};
use shequ_kit::{Error, call::AuditedTx, convert::new_id};
use shequ_proto::warnings::v1 as pb;

use crate::{
    api::convert::{colour_pb, deadline_pb, notification_pb, warning_pb},
    domain::{Colour, Deadline, Warning, webhook::EventType},
    store::{Delivery, DeliveryState, Notification, Store},
};

/// An event about a warning.
#[derive(Debug, Clone)]
pub(crate) enum Published {
    /// Raised.
    Raised,
    /// Colour raised from this one.
    Escalated(Colour),
    /// Resolved.
    Resolved,
    /// A deadline passed unmet and the level above was notified.
    Overdue(Box<(Deadline, Notification)>),
}

static CONTRACTS: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET)
        .expect("the suite's own descriptor set decodes")
});

/// A payload message in proto3 JSON (as the REST API shows it).
fn json<M: prost::Name>(message: &M) -> Result<serde_json::Value, Error> {
    let descriptor = CONTRACTS
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| Error::internal(anyhow::anyhow!("{} is not a contract", M::full_name())))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(Error::internal)?;
    serde_json::to_value(&dynamic).map_err(Error::internal)
}

/// Publishes `message` on the feed and queues it for the subscribed webhook endpoints.
async fn send<M: prost::Name>(
    tx: &mut AuditedTx,
    warning: &Warning,
    event: EventType,
    message: &M,
) -> Result<(), Error> {
    tx.publish(&warning.name(), warning.region, message);
    let endpoints: Vec<_> = Store::subscribers(tx, warning.region)
        .await?
        .into_iter()
        .filter(|e| e.wants(event))
        .collect();
    if endpoints.is_empty() {
        return Ok(());
    }
    let now = tx.call().now();
    let body = serde_json::json!({
        "type": event.name(),
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": json(message)?,
    })
    .to_string();
    for endpoint in endpoints {
        Store::enqueue(
            tx,
            &Delivery {
                id: new_id(),
                endpoint_id: endpoint.id,
                event_type: event,
                warning_id: warning.id.clone(),
                payload: body.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt: Some(now),
                create_time: now,
                deliver_time: None,
                attempt_log: Vec::new(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Publishes `event` about `warning` (as it is after the change).
pub(crate) async fn publish(
    tx: &mut AuditedTx,
    warning: &Warning,
    event: Published,
) -> Result<(), Error> {
    let message = Some(warning_pb(warning));
    match event {
        Published::Raised => {
            send(
                tx,
                warning,
                EventType::Raised,
                &pb::WarningRaised { warning: message },
            )
            .await
        }
        Published::Escalated(from) => {
            let payload = pb::WarningEscalated {
                warning: message,
                from_colour: colour_pb(from) as i32,
            };
            send(tx, warning, EventType::Escalated, &payload).await
        }
        Published::Resolved => {
            send(
                tx,
                warning,
                EventType::Resolved,
                &pb::WarningResolved { warning: message },
            )
            .await
        }
        Published::Overdue(missed) => {
            let (deadline, notification) = *missed;
            let payload = pb::WarningOverdue {
                warning: message,
                deadline: Some(deadline_pb(&deadline)),
                notification: Some(notification_pb(&notification)),
            };
            send(tx, warning, EventType::Overdue, &payload).await
        }
    }
}
