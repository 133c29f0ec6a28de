//! The gRPC face of the warnings service: each handler authorises, parses the request into
//! domain values (collecting every violation), and calls the store.

mod access;
mod names;
mod policy;

use shequ_kit::{Error, call::Call, service::Kit};
use shequ_proto::{
    audit::v1 as audit_pb,
    warnings::v1::{
        self as pb,
        warnings_service_server::{WarningsService, WarningsServiceServer},
    },
};

use crate::store::Store;

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) kit: Kit,
    pub(crate) store: Store,
}

async fn audit_entries(
    ctx: &Context,
    call: &Call,
    request: audit_pb::ListAuditEntriesRequest,
) -> Result<audit_pb::ListAuditEntriesResponse, Error> {
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

shequ_kit::grpc_service! {
    /// The implementation of `shequ.warnings.v1.WarningsService`.
    pub struct WarningsApi(Context): WarningsService via WarningsServiceServer {
        read "GetWarningPolicy" get_warning_policy(pb::GetWarningPolicyRequest) -> pb::WarningPolicy => policy::get;
        write "UpdateWarningPolicy" update_warning_policy(pb::UpdateWarningPolicyRequest) -> pb::WarningPolicy => policy::update;
        read "ListAuditEntries" list_audit_entries(audit_pb::ListAuditEntriesRequest) -> audit_pb::ListAuditEntriesResponse => audit_entries;
    }
}
