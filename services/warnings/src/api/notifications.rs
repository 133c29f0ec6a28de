//! Notifications to the levels above communities.

use serde::{Deserialize, Serialize};
use shequ_kit::{Error, call::Call, names::region_parent};
use shequ_proto::warnings::v1 as pb;

use super::{Context, access, convert::notification_pb};

#[derive(Serialize, Deserialize)]
struct IdCursor {
    before: String,
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListNotificationsRequest,
) -> Result<pb::ListNotificationsResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::SUPERVISORS, "ListNotifications")?;
    let scope = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    caller.require_scope(scope, "parent")?;
    let before = page.cursor.as_ref().map_or("", |c| c.before.as_str());
    let mut notifications = ctx.store.notifications(scope, before, page.fetch()).await?;
    let next_page_token = page.next(&mut notifications, |last| IdCursor {
        before: last.id.clone(),
    });
    Ok(pb::ListNotificationsResponse {
        notifications: notifications.iter().map(notification_pb).collect(),
        next_page_token,
    })
}
