//! Sensing terminals (感知终端): registration with a key shown once, reading, revocation.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    call::Call,
    convert::{new_id, to_timestamp},
    names::{region_error, region_parent, top_level_id},
    regions::Level,
    validate::Checks,
};
use shequ_proto::warnings::v1 as pb;

use super::{Context, access};
use crate::{
    domain::brain::{KEY_PREFIX, new_key},
    store::{Store, Terminal},
};

pub(crate) fn terminal_pb(terminal: &Terminal) -> pb::Terminal {
    pb::Terminal {
        name: terminal.name(),
        display_name: terminal.display_name.clone(),
        region: terminal.region.to_string(),
        state: if terminal.revoked {
            pb::TerminalState::Revoked
        } else {
            pb::TerminalState::Active
        } as i32,
        key_prefix: format!("{KEY_PREFIX}{}", terminal.id),
        creator: terminal.creator.clone(),
        create_time: Some(to_timestamp(terminal.create_time)),
        revoke_time: terminal.revoke_time.map(to_timestamp),
    }
}

/// Loads a terminal the caller may act on with `roles`: NOT_FOUND when missing or outside scope.
pub(crate) async fn load(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    roles: &[shequ_kit::auth::Role],
    operation: &str,
) -> Result<Terminal, Error> {
    let caller = call.caller();
    caller.require_any(roles, operation)?;
    let id = top_level_id(field, name, "terminals")?;
    let terminal = ctx
        .store
        .terminal(id)
        .await?
        .filter(|t| caller.covers(t.region))
        .ok_or_else(|| Error::not_found(name))?;
    call.target(&terminal.name(), terminal.region);
    Ok(terminal)
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateTerminalRequest,
) -> Result<pb::CreateTerminalResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::ADMINS, "CreateTerminal")?;
    let input = request.terminal.unwrap_or_default();
    let mut checks = Checks::new();
    let display_name = checks.text("terminal.display_name", &input.display_name, 100);
    let region = checks.take(
        ctx.kit
            .regions
            .known_at(&input.region, Level::Community)
            .map_err(|e| region_error("terminal.region", e)),
    );
    let valid = checks.finish()?;
    let region = valid.value(region);
    caller.require_scope(region, "terminal.region")?;
    let terminal = Terminal {
        id: new_id(),
        display_name: valid.value(display_name),
        region,
        revoked: false,
        creator: caller.subject.clone(),
        create_time: ctx.kit.clock.now(),
        revoke_time: None,
        version: 1,
    };
    let key = new_key(&terminal.id);
    call.target(&terminal.name(), region);
    let mut tx = call.begin(ctx.store.database()).await?;
    Store::insert_terminal(&mut tx, &ctx.kit.keys.blind_index, &terminal, &key).await?;
    tx.commit().await?;
    Ok(pb::CreateTerminalResponse {
        terminal: Some(terminal_pb(&terminal)),
        key,
    })
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetTerminalRequest,
) -> Result<pb::Terminal, Error> {
    let terminal = load(
        ctx,
        call,
        "name",
        &request.name,
        access::ADMINS,
        "GetTerminal",
    )
    .await?;
    Ok(terminal_pb(&terminal))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    after: String,
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListTerminalsRequest,
) -> Result<pb::ListTerminalsResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::ADMINS, "ListTerminals")?;
    let scope = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    caller.require_scope(scope, "parent")?;
    let after = page.cursor.as_ref().map_or("", |c| c.after.as_str());
    let mut terminals = ctx.store.terminals(scope, after, page.fetch()).await?;
    let next_page_token = page.next(&mut terminals, |last| IdCursor {
        after: last.id.clone(),
    });
    Ok(pb::ListTerminalsResponse {
        terminals: terminals.iter().map(terminal_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn revoke(
    ctx: &Context,
    call: &Call,
    request: pb::RevokeTerminalRequest,
) -> Result<pb::Terminal, Error> {
    let stored = load(
        ctx,
        call,
        "name",
        &request.name,
        access::ADMINS,
        "RevokeTerminal",
    )
    .await?;
    if stored.revoked {
        return Err(Error::FailedPrecondition {
            reason: "ILLEGAL_STATE_TRANSITION",
            message: "the terminal is already revoked".into(),
            preconditions: Vec::new(),
            metadata: vec![("state", "TERMINAL_STATE_REVOKED".to_owned())],
        });
    }
    let mut next = stored.clone();
    next.revoked = true;
    next.revoke_time = Some(ctx.kit.clock.now());
    next.version += 1;
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = Store::revoke_terminal(&mut tx, &next, stored.version).await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::Aborted {
            reason: "CONCURRENT_MODIFICATION",
            message: format!("{} changed meanwhile; retry", request.name),
        });
    }
    Ok(terminal_pb(&next))
}
