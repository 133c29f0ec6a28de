//! What the warnings service tells its subscribers: the events of its feed (payload messages of
//! `shequ.warnings.v1`), published in the transaction of the change that causes them.

use shequ_kit::{Error, call::AuditedTx};
use shequ_proto::warnings::v1 as pb;

use crate::{
    api::convert::{colour_pb, deadline_pb, notification_pb, warning_pb},
    domain::{Colour, Deadline, Warning},
    store::Notification,
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

/// Publishes `event` about `warning` (as it is after the change) on the feed.
pub(crate) async fn publish(
    tx: &mut AuditedTx,
    warning: &Warning,
    event: Published,
) -> Result<(), Error> {
    let name = warning.name();
    let message = Some(warning_pb(warning));
    match event {
        Published::Raised => tx.publish(
            &name,
            warning.region,
            &pb::WarningRaised { warning: message },
        ),
        Published::Escalated(from) => tx.publish(
            &name,
            warning.region,
            &pb::WarningEscalated {
                warning: message,
                from_colour: colour_pb(from) as i32,
            },
        ),
        Published::Resolved => tx.publish(
            &name,
            warning.region,
            &pb::WarningResolved { warning: message },
        ),
        Published::Overdue(missed) => {
            let (deadline, notification) = *missed;
            tx.publish(
                &name,
                warning.region,
                &pb::WarningOverdue {
                    warning: message,
                    deadline: Some(deadline_pb(&deadline)),
                    notification: Some(notification_pb(&notification)),
                },
            );
        }
    }
    Ok(())
}
