//! The auditors' view of the personnel service's audit log.

use shequ_kit::{Error, call::Call};
use shequ_proto::audit::v1 as pb;

use super::Context;

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListAuditEntriesRequest,
) -> Result<pb::ListAuditEntriesResponse, Error> {
    let kit = &ctx.kit;
    shequ_kit::audit::list_for_auditor(
        &kit.audit,
        &kit.tokens,
        &kit.regions,
        call.caller(),
        request,
    )
    .await
}

pub(crate) async fn verify(
    ctx: &Context,
    call: &Call,
    request: pb::VerifyAuditLogRequest,
) -> Result<pb::VerifyAuditLogResponse, Error> {
    let kit = &ctx.kit;
    shequ_kit::audit::verify_for_auditor(
        &kit.audit,
        &kit.regions,
        call.caller(),
        call.now(),
        request,
    )
    .await
}
