//! The gRPC face of the identity service.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    auth::{Caller, Role},
    call::Call,
    convert::{new_id, to_timestamp},
    names::{region_error, region_parent, top_level_id},
    service::Kit,
    validate::Checks,
};
use shequ_proto::{
    audit::v1 as audit_pb,
    identity::v1::{
        self as pb,
        api_key_service_server::{ApiKeyService, ApiKeyServiceServer},
    },
};

use crate::{
    keys::{self, KEY_ADMINS, MAX_LIFETIME_DAYS},
    store::{ApiKey, Store},
};

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) kit: Kit,
    pub(crate) store: Store,
}

fn key_pb(key: &ApiKey, now: chrono::DateTime<chrono::Utc>) -> pb::ApiKey {
    let state = match keys::usable(key.revoked, key.expire_time, now) {
        Ok(()) => pb::ApiKeyState::Active,
        Err("API_KEY_REVOKED") => pb::ApiKeyState::Revoked,
        Err(_) => pb::ApiKeyState::Expired,
    };
    pb::ApiKey {
        name: key.name(),
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
    call: &Call,
    field: &str,
    name: &str,
    operation: &str,
) -> Result<ApiKey, Error> {
    let caller = call.caller();
    caller.require_any(KEY_ADMINS, operation)?;
    let id = top_level_id(field, name, "apiKeys")?;
    let key = ctx
        .store
        .get(id)
        .await?
        .ok_or_else(|| Error::not_found(name))?;
    // Noted before the scope check, so a refused probe is audited in the region it probed.
    call.target(name, key.scope);
    if !caller.covers(key.scope) {
        return Err(Error::not_found(name));
    }
    Ok(key)
}

/// The roles a key is to hold: known, grantable by `caller`, each once, at least one.
fn roles(caller: &Caller, texts: &[String]) -> Result<Vec<Role>, Error> {
    let mut checks = Checks::new();
    checks.rule(
        texts.is_empty(),
        "api_key.roles",
        "FIELD_REQUIRED",
        "grant at least one role",
    );
    let mut roles = Vec::new();
    for (i, text) in texts.iter().enumerate() {
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
    checks.finish()?;
    Ok(roles)
}

/// When a key is to expire: required, in the future, within the longest lifetime.
fn expiry(
    time: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Error> {
    let field = "api_key.expire_time";
    let time = time.ok_or_else(|| {
        Error::invalid(
            field,
            "FIELD_REQUIRED",
            "every key expires; set expire_time",
        )
    })?;
    let expiry = DateTime::from_timestamp(time.seconds, time.nanos.max(0) as u32)
        .ok_or_else(|| Error::invalid(field, "TIMESTAMP_INVALID", "not a valid timestamp"))?;
    if expiry <= now {
        return Err(Error::invalid(
            field,
            "EXPIRY_IN_PAST",
            "the expiry must lie in the future",
        ));
    }
    if expiry > now + chrono::Duration::days(MAX_LIFETIME_DAYS) {
        return Err(Error::invalid(
            field,
            "EXPIRY_TOO_FAR",
            format!("a key lives at most {MAX_LIFETIME_DAYS} days"),
        ));
    }
    Ok(expiry)
}

async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateApiKeyRequest,
) -> Result<pb::CreateApiKeyResponse, Error> {
    let caller = call.caller();
    caller.require_any(KEY_ADMINS, "CreateApiKey")?;
    let input = request.api_key.ok_or_else(|| {
        Error::invalid("api_key", "FIELD_REQUIRED", "the key to issue is required")
    })?;
    let now = ctx.kit.clock.now();
    let mut checks = Checks::new();
    let display_name = checks.text("api_key.display_name", &input.display_name, 100);
    let scope = checks.take(
        ctx.kit
            .regions
            .known(&input.scope)
            .map_err(|e| region_error("api_key.scope", e)),
    );
    let roles = checks.take(roles(caller, &input.roles));
    let expire_time = checks.take(expiry(input.expire_time.as_ref(), now));
    let valid = checks.finish()?;
    let scope = valid.value(scope);
    caller.require_scope(scope, "api_key.scope")?;
    let key = ApiKey {
        id: new_id(),
        display_name: valid.value(display_name),
        roles: valid.value(roles),
        scope,
        expire_time: valid.value(expire_time),
        revoked: false,
        creator: caller.subject.clone(),
        create_time: now,
        rotate_time: None,
        revoke_time: None,
        version: 1,
    };
    call.target(&key.name(), scope);
    let secret = keys::new_secret(&key.id);
    ctx.store.insert(call, &key, &secret).await?;
    Ok(pb::CreateApiKeyResponse {
        api_key: Some(key_pb(&key, now)),
        secret,
    })
}

async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetApiKeyRequest,
) -> Result<pb::ApiKey, Error> {
    let key = load(ctx, call, "name", &request.name, "GetApiKey").await?;
    Ok(key_pb(&key, ctx.kit.clock.now()))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    after: String,
}

async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListApiKeysRequest,
) -> Result<pb::ListApiKeysResponse, Error> {
    let caller = call.caller();
    caller.require_any(KEY_ADMINS, "ListApiKeys")?;
    let scope = region_parent(&ctx.kit.regions, "parent", &request.parent)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    caller.require_scope(scope, "parent")?;
    let after = page.cursor.as_ref().map_or("", |c| c.after.as_str());
    let mut keys = ctx.store.list(scope, after, page.fetch()).await?;
    let next_page_token = page.next(&mut keys, |last| IdCursor {
        after: last.id.clone(),
    });
    let now = ctx.kit.clock.now();
    Ok(pb::ListApiKeysResponse {
        api_keys: keys.iter().map(|k| key_pb(k, now)).collect(),
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
    call: &Call,
    request: pb::RotateApiKeyRequest,
) -> Result<pb::CreateApiKeyResponse, Error> {
    let stored = load(ctx, call, "name", &request.name, "RotateApiKey").await?;
    let now = ctx.kit.clock.now();
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
    if !ctx
        .store
        .rotate(call, &next, &secret, stored.version)
        .await?
    {
        return Err(changed_concurrently(&request.name));
    }
    Ok(pb::CreateApiKeyResponse {
        api_key: Some(key_pb(&next, now)),
        secret,
    })
}

async fn revoke(
    ctx: &Context,
    call: &Call,
    request: pb::RevokeApiKeyRequest,
) -> Result<pb::ApiKey, Error> {
    let stored = load(ctx, call, "name", &request.name, "RevokeApiKey").await?;
    if stored.revoked {
        return Err(Error::precondition(
            "ILLEGAL_STATE_TRANSITION",
            "the key is already revoked",
        ));
    }
    let now = ctx.kit.clock.now();
    let mut next = stored.clone();
    next.revoked = true;
    next.revoke_time = Some(now);
    next.version += 1;
    if !ctx.store.revoke(call, &next, stored.version).await? {
        return Err(changed_concurrently(&request.name));
    }
    Ok(key_pb(&next, now))
}

async fn verify(
    ctx: &Context,
    call: &Call,
    request: pb::VerifyApiKeyRequest,
) -> Result<pb::VerifyApiKeyResponse, Error> {
    let caller = call.caller();
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
    let now = ctx.kit.clock.now();
    keys::usable(key.revoked, key.expire_time, now).map_err(refused)?;
    Ok(pb::VerifyApiKeyResponse {
        subject: format!("apikey:{}", key.id),
        api_key: Some(key_pb(&key, now)),
    })
}

shequ_kit::grpc_service! {
    /// The implementation of `shequ.identity.v1.ApiKeyService`.
    pub struct IdentityApi(Context): ApiKeyService via ApiKeyServiceServer {
    create "CreateApiKey" create_api_key(pb::CreateApiKeyRequest) -> pb::CreateApiKeyResponse => create;
    read "GetApiKey" get_api_key(pb::GetApiKeyRequest) -> pb::ApiKey => get;
    read "ListApiKeys" list_api_keys(pb::ListApiKeysRequest) -> pb::ListApiKeysResponse => list;
    create "RotateApiKey" rotate_api_key(pb::RotateApiKeyRequest) -> pb::CreateApiKeyResponse => rotate;
    write "RevokeApiKey" revoke_api_key(pb::RevokeApiKeyRequest) -> pb::ApiKey => revoke;
    read "VerifyApiKey" verify_api_key(pb::VerifyApiKeyRequest) -> pb::VerifyApiKeyResponse => verify;
    read "ListAuditEntries" list_audit_entries(audit_pb::ListAuditEntriesRequest) -> audit_pb::ListAuditEntriesResponse => @kit shequ_kit::audit::list_entries;
    read "VerifyAuditLog" verify_audit_log(audit_pb::VerifyAuditLogRequest) -> audit_pb::VerifyAuditLogResponse => @kit shequ_kit::audit::verify_log;
    }
}
