//! What the warnings service tells its subscribers: the events of its feed (payload messages of
//! `shequ.warnings.v1`), published in the transaction of the change that causes them.

use shequ_kit::{Error, call::AuditedTx};
use shequ_proto::warnings::v1 as pb;

use crate::{
    api::convert::{colour_pb, warning_pb},
    domain::{Colour, Warning},
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
    }
    Ok(())
}
