//! The auditors' view of the service's audit log.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    audit::AuditFilter,
    auth::{Caller, Role},
    convert::to_timestamp,
    paging::page_size,
};
use shequ_proto::audit::v1 as pb;

use super::{Context, names};

#[derive(Serialize, Deserialize)]
struct SeqCursor {
    after: i64,
}

fn instant(
    field: &str,
    time: Option<&prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    time.map(|t| {
        chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
            .ok_or_else(|| Error::invalid(field, "TIMESTAMP_INVALID", "not a valid timestamp"))
    })
    .transpose()
}

pub(crate) async fn list(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListAuditEntriesRequest,
) -> Result<pb::ListAuditEntriesResponse, Error> {
    caller.require_any(&[Role::Auditor], "ListAuditEntries")?;
    let region = names::region_parent(&ctx.regions, "parent", &request.parent)?;
    let limit = page_size(request.page_size)?;
    let filter = AuditFilter {
        region: Some(region),
        actor: (!request.actor.is_empty()).then(|| request.actor.clone()),
        from: instant("start_time", request.start_time.as_ref())?,
        to: instant("end_time", request.end_time.as_ref())?,
    };
    caller.require_scope(region, "parent")?;
    let query = format!(
        "audit|{region}|{}|{:?}|{:?}",
        request.actor,
        request.start_time.as_ref().map(|t| (t.seconds, t.nanos)),
        request.end_time.as_ref().map(|t| (t.seconds, t.nanos))
    );
    let cursor: Option<SeqCursor> = ctx.tokens.open(&request.page_token, &query)?;
    let mut page = ctx
        .audit
        .query(&filter, cursor.map_or(0, |c| c.after), limit + 1)
        .await?;
    let next_page_token = if page.len() > limit {
        page.truncate(limit);
        ctx.tokens.seal(
            &query,
            &SeqCursor {
                after: page.last().map_or(0, |e| e.seq),
            },
        )
    } else {
        String::new()
    };
    Ok(pb::ListAuditEntriesResponse {
        audit_entries: page
            .into_iter()
            .map(|e| pb::AuditEntry {
                sequence: e.seq,
                time: Some(to_timestamp(e.at)),
                actor: e.actor,
                roles: e
                    .roles
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect(),
                action: e.action,
                resource: e.resource,
                region: e.region,
                request_id: e.request_id,
                outcome: e.outcome,
                detail: e.detail,
                previous_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
        next_page_token,
    })
}
