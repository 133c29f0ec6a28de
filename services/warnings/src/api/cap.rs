//! The CAP 1.2 feed of active warnings (GetCapFeed): the XML is the domain's
//! ([`crate::domain::cap`]); here the caller is checked and the warnings are read.

use shequ_kit::{Error, call::Call, names::region_parent, validate::Checks};
use shequ_proto::{HttpBody, warnings::v1 as pb};

use super::{Context, access};
use crate::{domain::cap, store::WarningFilter};

/// Most alerts in one feed (the newest active warnings).
const FEED_MAX: usize = 500;

pub(crate) async fn feed(
    ctx: &Context,
    call: &Call,
    request: pb::GetCapFeedRequest,
) -> Result<HttpBody, Error> {
    let caller = call.caller();
    caller.require_any(access::WARNING_READERS, "GetCapFeed")?;
    let mut checks = Checks::new();
    let scope = checks.take(region_parent(&ctx.kit.regions, "parent", &request.parent));
    let valid = checks.finish()?;
    let scope = valid.value(scope);
    caller.require_scope(scope, "parent")?;
    let filter = WarningFilter {
        active_only: true,
        ..WarningFilter::default()
    };
    let warnings = ctx
        .store
        .list_warnings(scope, &filter, "", FEED_MAX)
        .await?;
    let described = warnings
        .into_iter()
        .map(|w| {
            let area = ctx
                .kit
                .regions
                .full_name(w.region)
                .unwrap_or_else(|| w.region.to_string());
            (w, area)
        })
        .collect::<Vec<_>>();
    let xml = cap::feed(
        &ctx.settings.cap_sender,
        &scope.to_string(),
        &described,
        ctx.kit.clock.now(),
    )
    .map_err(|e| Error::internal(anyhow::anyhow!("the CAP feed could not be written: {e}")))?;
    Ok(HttpBody {
        content_type: cap::FEED_CONTENT_TYPE.to_owned(),
        data: xml.into_bytes(),
        extensions: Vec::new(),
    })
}
