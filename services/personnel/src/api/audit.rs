//! The auditors' view of the personnel service's audit log.

use shequ_kit::{Error, auth::Caller};
use shequ_proto::audit::v1 as pb;

use super::Context;

pub(crate) async fn list(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListAuditEntriesRequest,
) -> Result<pb::ListAuditEntriesResponse, Error> {
    shequ_kit::audit::list_for_auditor(&ctx.audit, &ctx.tokens, &ctx.regions, caller, request).await
}
