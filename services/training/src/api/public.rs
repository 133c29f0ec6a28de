//! What anyone may use without an account (the gateway serves these unauthenticated, calling as
//! itself): verifying a certificate or a presented credential, the status lists and the issuer's
//! public keys. They say no more than a certificate itself says. Rotating the key is a province
//! administrator's.

use shequ_kit::{Error, auth::Role, call::Call, convert::to_timestamp};
use shequ_proto::training::v1 as pb;

use super::{Context, certificates, ids, province, stored_level};
use crate::{
    credential::{self, KeyAlgorithm, Outcome, Purpose},
    store,
};

/// The outcome of verifying `jwt` now: which key, whether the signature holds, whether it is
/// expired, revoked or suspended, and what it states.
async fn verify(ctx: &Context, jwt: &str) -> Result<pb::CredentialVerification, Error> {
    let refused = |outcome: Outcome, kid: String| pb::CredentialVerification {
        verified: false,
        outcome: outcome.code().to_owned(),
        key_id: kid,
        ..Default::default()
    };
    let Some(kid) = credential::key_id(jwt) else {
        return Ok(refused(Outcome::Malformed, String::new()));
    };
    let Some(key) = store::key(&ctx.kit.database, &kid).await? else {
        return Ok(refused(Outcome::KeyUnknown, kid));
    };
    let claims = match credential::verify_signature(jwt, &key.public()?) {
        Ok(claims) => claims,
        Err(outcome) => return Ok(refused(outcome, kid)),
    };
    let number = claims["jti"]
        .as_str()
        .and_then(|id| id.strip_prefix("urn:shequ:certificate:"))
        .unwrap_or_default()
        .to_owned();
    let Some(certificate) = store::certificate(&ctx.kit.database, &number).await? else {
        return Ok(refused(Outcome::Malformed, kid));
    };
    let expires = claims["exp"].as_i64().unwrap_or(0);
    let outcome = if ctx.kit.clock.now().timestamp() > expires {
        Outcome::Expired
    } else if certificate.revoked_on.is_some() {
        Outcome::Revoked
    } else if certificate.suspended {
        Outcome::Suspended
    } else {
        Outcome::Verified
    };
    let date = |field: &str| {
        claims[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                t.with_timezone(&shequ_kit::clock::china_time())
                    .date_naive()
                    .to_string()
            })
            .unwrap_or_default()
    };
    Ok(pb::CredentialVerification {
        verified: outcome == Outcome::Verified,
        outcome: outcome.code().to_owned(),
        level: stored_level(&certificate.level) as i32,
        issuer: claims["issuer"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        issue_date: date("validFrom"),
        expiry_date: date("validUntil"),
        number,
        key_id: kid,
    })
}

pub(crate) async fn verify_certificate(
    ctx: &Context,
    _call: &Call,
    request: pb::VerifyCertificateRequest,
) -> Result<pb::CredentialVerification, Error> {
    let number = ids("name", &request.name, &["certificates", "*"])?[0];
    let certificate = store::certificate(&ctx.kit.database, number)
        .await?
        .ok_or_else(|| Error::not_found(request.name.clone()))?;
    verify(ctx, &certificate.credential).await
}

pub(crate) async fn verify_credential(
    ctx: &Context,
    _call: &Call,
    request: pb::VerifyCredentialRequest,
) -> Result<pb::CredentialVerification, Error> {
    if request.credential.trim().is_empty() {
        return Err(Error::invalid(
            "credential",
            "FIELD_REQUIRED",
            "send the credential (a VC-JOSE JWT)",
        ));
    }
    if request.credential.len() > 64 * 1024 {
        return Err(Error::invalid(
            "credential",
            "FIELD_TOO_LONG",
            "a credential is at most 64 KiB",
        ));
    }
    verify(ctx, request.credential.trim()).await
}

pub(crate) async fn status_list(
    ctx: &Context,
    call: &Call,
    request: pb::GetStatusListRequest,
) -> Result<pb::StatusList, Error> {
    let code = province(ctx, "name", &request.name, &["statusLists", "*"])?;
    let purpose_text = request.name.rsplit('/').next().unwrap_or_default();
    let purpose = Purpose::parse(purpose_text).ok_or_else(|| {
        Error::invalid(
            "name",
            "STATUS_PURPOSE_UNKNOWN",
            format!("{purpose_text:?} is not a status purpose: revocation or suspension"),
        )
    })?;
    let province = code.to_string();
    let set = store::status_entries(&ctx.kit.database, &province, purpose).await?;
    let encoded = credential::encode_list(&set);
    // Signed with the province's current key (made on first use, an audited change).
    let mut tx = call.begin(&ctx.kit.database).await?;
    call.target(&request.name, code);
    let existing = store::current_key(&mut tx, &province).await?.is_some();
    let key = certificates::signing_key(ctx, &mut tx, &province).await?;
    tx.commit_if(!existing).await?;
    let urls = credential::Urls {
        base: ctx.settings.public_base_url.clone(),
        province,
    };
    let claims = credential::status_list_credential(&urls, purpose, &encoded, call.now());
    Ok(pb::StatusList {
        name: request.name,
        status_purpose: purpose.code().to_owned(),
        credential: key.sign(&claims, "vc+jwt").map_err(Error::internal)?,
        encoded_list: encoded,
    })
}

fn jwk(key: &store::IssuerKey) -> pb::Jwk {
    let (kty, crv) = match KeyAlgorithm::parse(&key.algorithm) {
        Some(KeyAlgorithm::Sm2) => ("EC", "SM2"),
        _ => ("OKP", "Ed25519"),
    };
    pb::Jwk {
        kty: kty.into(),
        crv: crv.into(),
        x: key.public_x.clone(),
        y: key.public_y.clone(),
        kid: key.kid.clone(),
        alg: key.algorithm.clone(),
        r#use: "sig".into(),
    }
}

pub(crate) async fn issuer_keys(
    ctx: &Context,
    _call: &Call,
    request: pb::ListIssuerKeysRequest,
) -> Result<pb::ListIssuerKeysResponse, Error> {
    let code = province(ctx, "parent", &request.parent, &[])?;
    let keys = store::keys(&ctx.kit.database, &code.to_string()).await?;
    Ok(pb::ListIssuerKeysResponse {
        keys: keys.iter().map(jwk).collect(),
    })
}

pub(crate) async fn rotate_key(
    ctx: &Context,
    call: &Call,
    request: pb::RotateIssuerKeyRequest,
) -> Result<pb::IssuerKey, Error> {
    call.caller()
        .require_any(&[Role::ProvinceAdmin], "RotateIssuerKey")?;
    let code = province(ctx, "parent", &request.parent, &[])?;
    call.caller().require_scope(code, "parent")?;
    call.target(&format!("{}/issuerKeys", request.parent), code);
    let mut tx = call.begin(&ctx.kit.database).await?;
    let algorithm = store::policy(&ctx.kit.database, &code.to_string())
        .await?
        .policy
        .credential_algorithm;
    let key = certificates::new_key(ctx, &mut tx, &code.to_string(), algorithm).await?;
    tx.commit().await?;
    let stored = store::key(&ctx.kit.database, &key.kid)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("the new key {} is not stored", key.kid)))?;
    Ok(pb::IssuerKey {
        kid: stored.kid.clone(),
        algorithm: stored.algorithm.clone(),
        create_time: Some(to_timestamp(stored.create_time)),
        public_key: Some(jwk(&stored)),
    })
}
