//! The gRPC face of the identity service.

use std::{borrow::Cow, sync::Arc};

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    audit::{AuditLog, note_target},
    auth::{Caller, Role},
    clock::Clock,
    convert::{new_id, to_timestamp},
    names::{region_error, region_parent, top_level_id},
    paging::{PageTokens, page_size},
    regions::Regions,
    rpc::Recorder,
    validate::Checks,
};
use shequ_proto::{
    audit::v1 as audit_pb,
    identity::v1::{self as pb, api_key_service_server::ApiKeyService},
};

use crate::{
    keys::{self, KEY_ADMINS, MAX_LIFETIME_DAYS},
    store::{ApiKey, Store},
};

/// Everything a handler needs.
#[derive(Debug)]
pub struct Context {
    store: Store,
    regions: Cow<'static, Regions>,
    tokens: PageTokens,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    recorder: Recorder,
}

/// The implementation of `shequ.identity.v1.ApiKeyService`.
#[derive(Debug, Clone)]
pub struct IdentityApi {
    ctx: Arc<Context>,
}

impl IdentityApi {
    /// An API over `store`.
    pub fn new(
        store: Store,
        regions: Cow<'static, Regions>,
        tokens: PageTokens,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        recorder: Recorder,
    ) -> Self {
        IdentityApi {
            ctx: Arc::new(Context {
                store,
                regions,
                tokens,
                clock,
                audit,
                recorder,
            }),
        }
    }
}

fn api_key_name(id: &str) -> String {
    format!("apiKeys/{id}")
}

fn key_pb(key: &ApiKey, now: chrono::DateTime<chrono::Utc>) -> pb::ApiKey {
    let state = match keys::usable(key.revoked, key.expire_time, now) {
        Ok(()) => pb::ApiKeyState::Active,
        Err("API_KEY_REVOKED") => pb::ApiKeyState::Revoked,
        Err(_) => pb::ApiKeyState::Expired,
    };
    pb::ApiKey {
        name: api_key_name(&key.id),
        display_name: key.display_name.clone(),
        roles: key.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        scope: key.scope.to_string(),
        expire_time: Some(to_timestamp(key.expire_time)),
        state: state as i32,
        key_prefix: keys::key_prefix(&key.id),
        creator: key.creator.clone(),
        create_time: Some(to_timestamp(key.create_time)),
        rotate_time: key.rotate_time.map(to_timestamp),
        revoke_time: key.revoke_time.map(to_timestamp),
    }
}

/// Loads a key the caller administers, or NOT_FOUND.
async fn load(
    ctx: &Context,
    caller: &Caller,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<ApiKey, Error> {
    caller.require_any(KEY_ADMINS, operation)?;
    let id = top_level_id(field, name, "apiKeys")?;
    let key = ctx
        .store
        .get(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    if !caller.covers(key.scope) {
        return Err(Error::not_found(name));
    }
    note_target(name, key.scope);
    Ok(key)
}

async fn create(
    ctx: &Context,
    caller: &Caller,
    request: pb::CreateApiKeyRequest,
) -> Result<pb::CreateApiKeyResponse, Error> {
    caller.require_any(KEY_ADMINS, "CreateApiKey")?;
    let input = request.api_key.ok_or_else(|| {
        Error::invalid("api_key", "FIELD_REQUIRED", "the key to issue is required")
    })?;
    let now = ctx.clock.now();
    let mut checks = Checks::new();
    let display_name = checks.text("api_key.display_name", &input.display_name, 100);
    let scope = checks.take(
        ctx.regions
            .known(&input.scope)
            .map_err(|e| region_error("api_key.scope", e)),
    );
    checks.rule(
        input.roles.is_empty(),
        "api_key.roles",
        "FIELD_REQUIRED",
        "grant at least one role",
    );
    let mut roles = Vec::new();
    for (i, text) in input.roles.iter().enumerate() {
        let field = format!("api_key.roles[{i}]");
        match Role::parse(text) {
            None => checks.rule(
                true,
                &field,
                "ROLE_UNKNOWN",
                format!("{text:?} is not a role"),
            ),
            Some(role) => match keys::grant_refusal(caller, role) {
                Some(why) => checks.rule(true, &field, "ROLE_NOT_GRANTABLE", why),
                None if roles.contains(&role) => {
                    checks.rule(true, &field, "ROLE_DUPLICATE", "each role once")
                }
                None => roles.push(role),
            },
        }
    }
    let expire_time = match input.expire_time.as_ref() {
        None => {
            checks.rule(
                true,
                "api_key.expire_time",
                "FIELD_REQUIRED",
                "every key expires; set expire_time",
            );
            None
        }
        Some(t) => chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32),
    };
    if let Some(expiry) = expire_time {
        checks.rule(
            expiry <= now,
            "api_key.expire_time",
            "EXPIRY_IN_PAST",
            "the expiry must lie in the future",
        );
        checks.rule(
            expiry > now + chrono::Duration::days(MAX_LIFETIME_DAYS),
            "api_key.expire_time",
            "EXPIRY_TOO_FAR",
            format!("a key lives at most {MAX_LIFETIME_DAYS} days"),
        );
    }
    checks.finish()?;
    let (Some(display_name), Some(scope), Some(expire_time)) = (display_name, scope, expire_time)
    else {
        unreachable!("checked above");
    };
    caller.require_scope(scope, "api_key.scope")?;
    let key = ApiKey {
        id: new_id(),
        display_name,
        roles,
        scope,
        expire_time,
        revoked: false,
        creator: caller.subject.clone(),
        create_time: now,
        rotate_time: None,
        revoke_time: None,
        version: 1,
    };
    note_target(&api_key_name(&key.id), scope);
    let secret = keys::new_secret(&key.id);
    ctx.store.insert(&key, &secret).await?;
    Ok(pb::CreateApiKeyResponse {
        api_key: Some(key_pb(&key, now)),
        secret,
    })
}

async fn get(
    ctx: &Context,
    caller: &Caller,
    request: pb::GetApiKeyRequest,
) -> Result<pb::ApiKey, Error> {
    let key = load(ctx, caller, "name", &request.name, "GetApiKey").await?;
    Ok(key_pb(&key, ctx.clock.now()))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    after: String,
}

async fn list(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListApiKeysRequest,
) -> Result<pb::ListApiKeysResponse, Error> {
    caller.require_any(KEY_ADMINS, "ListApiKeys")?;
    let scope = region_parent(&ctx.regions, "parent", &request.parent)?;
    let limit = page_size(request.page_size)?;
    caller.require_scope(scope, "parent")?;
    let query = format!("apiKeys|{scope}");
    let cursor: Option<IdCursor> = ctx.tokens.open(&request.page_token, &query)?;
    let mut page = ctx
        .store
        .list(
            scope,
            cursor.as_ref().map_or("", |c| c.after.as_str()),
            limit + 1,
        )
        .await?;
    let next_page_token = ctx
        .tokens
        .next_page(&query, &mut page, limit, |last| IdCursor {
            after: last.id.clone(),
        });
    let now = ctx.clock.now();
    Ok(pb::ListApiKeysResponse {
        api_keys: page.iter().map(|k| key_pb(k, now)).collect(),
        next_page_token,
    })
}

fn changed_concurrently(name: &str) -> Error {
    Error::Aborted {
        reason: "CONCURRENT_MODIFICATION",
        message: format!("{name} changed while this request was processed; retry"),
    }
}

async fn rotate(
    ctx: &Context,
    caller: &Caller,
    request: pb::RotateApiKeyRequest,
) -> Result<pb::CreateApiKeyResponse, Error> {
    let stored = load(ctx, caller, "name", &request.name, "RotateApiKey").await?;
    let now = ctx.clock.now();
    if let Err(reason) = keys::usable(stored.revoked, stored.expire_time, now) {
        return Err(Error::precondition(
            "ILLEGAL_STATE_TRANSITION",
            format!("a key in state {reason} cannot be rotated"),
        ));
    }
    let mut next = stored.clone();
    next.rotate_time = Some(now);
    next.version += 1;
    let secret = keys::new_secret(&next.id);
    if !ctx.store.rotate(&next, &secret, stored.version).await? {
        return Err(changed_concurrently(&request.name));
    }
    Ok(pb::CreateApiKeyResponse {
        api_key: Some(key_pb(&next, now)),
        secret,
    })
}

async fn revoke(
    ctx: &Context,
    caller: &Caller,
    request: pb::RevokeApiKeyRequest,
) -> Result<pb::ApiKey, Error> {
    let stored = load(ctx, caller, "name", &request.name, "RevokeApiKey").await?;
    if stored.revoked {
        return Err(Error::precondition(
            "ILLEGAL_STATE_TRANSITION",
            "the key is already revoked",
        ));
    }
    let now = ctx.clock.now();
    let mut next = stored.clone();
    next.revoked = true;
    next.revoke_time = Some(now);
    next.version += 1;
    if !ctx.store.revoke(&next, stored.version).await? {
        return Err(changed_concurrently(&request.name));
    }
    Ok(key_pb(&next, now))
}

async fn verify(
    ctx: &Context,
    caller: &Caller,
    request: pb::VerifyApiKeyRequest,
) -> Result<pb::VerifyApiKeyResponse, Error> {
    caller.require_any(&[Role::Gateway], "VerifyApiKey")?;
    let refused = |reason: &'static str| Error::Unauthenticated {
        reason,
        message: "the API key is not valid".to_owned(),
    };
    let id = keys::key_id_of(&request.secret).ok_or_else(|| refused("API_KEY_INVALID"))?;
    let key = ctx
        .store
        .by_secret(id, &request.secret)
        .await?
        .ok_or_else(|| refused("API_KEY_INVALID"))?;
    let now = ctx.clock.now();
    keys::usable(key.revoked, key.expire_time, now).map_err(refused)?;
    Ok(pb::VerifyApiKeyResponse {
        subject: format!("apikey:{}", key.id),
        api_key: Some(key_pb(&key, now)),
    })
}

async fn audit_entries(
    ctx: &Context,
    caller: &Caller,
    request: audit_pb::ListAuditEntriesRequest,
) -> Result<audit_pb::ListAuditEntriesResponse, Error> {
    shequ_kit::audit::list_for_auditor(&ctx.audit, &ctx.tokens, &ctx.regions, caller, request).await
}

shequ_kit::grpc_service! {
    impl ApiKeyService for IdentityApi {
    create "CreateApiKey" create_api_key(pb::CreateApiKeyRequest) -> pb::CreateApiKeyResponse => create;
    read "GetApiKey" get_api_key(pb::GetApiKeyRequest) -> pb::ApiKey => get;
    read "ListApiKeys" list_api_keys(pb::ListApiKeysRequest) -> pb::ListApiKeysResponse => list;
    create "RotateApiKey" rotate_api_key(pb::RotateApiKeyRequest) -> pb::CreateApiKeyResponse => rotate;
    write "RevokeApiKey" revoke_api_key(pb::RevokeApiKeyRequest) -> pb::ApiKey => revoke;
    read "VerifyApiKey" verify_api_key(pb::VerifyApiKeyRequest) -> pb::VerifyApiKeyResponse => verify;
    read "ListAuditEntries" list_audit_entries(audit_pb::ListAuditEntriesRequest) -> audit_pb::ListAuditEntriesResponse => audit_entries;
    }
}
