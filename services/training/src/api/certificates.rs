//! 数字书记 certification: module exams, certificates issued level by level, renewal,
//! revocation and suspension. Each certificate carries its signed credential (see
//! [`crate::credential`]) and the QR code of its public verification URL.

use chrono::{Datelike, NaiveDate};
use shequ_kit::{
    Error,
    aip::required_enum,
    call::{AuditedTx, Call},
    client::Acting,
    convert::{format_date, new_id},
    error::Precondition,
    validate::Checks,
};
use shequ_proto::{
    personnel::v1::{self as personnel, personnel_service_client::PersonnelServiceClient},
    training::v1 as pb,
};

use super::{
    ADMINS, Context, OWN_READERS, READERS, ids, is_secretary, level, module, module_pb, region_of,
    secretary_name, stored_level, writable_secretary,
};
use crate::{
    credential::{self, Claims, KeyAlgorithm, SigningKey, Urls},
    domain::{self, Level},
    store,
};

const REASON_MAX: usize = 500;

/// A certificate's state on `today`.
pub(crate) fn state(c: &store::Certificate, today: NaiveDate) -> pb::CertificateState {
    if c.revoked_on.is_some() {
        pb::CertificateState::Revoked
    } else if c.suspended {
        pb::CertificateState::Suspended
    } else if today > c.expiry_date {
        pb::CertificateState::Expired
    } else {
        pb::CertificateState::Valid
    }
}

pub(crate) fn certificate_pb(
    ctx: &Context,
    c: &store::Certificate,
    today: NaiveDate,
    full: bool,
) -> pb::Certificate {
    let url = credential::Urls::verification(&ctx.settings.public_base_url, &c.number);
    pb::Certificate {
        name: format!("certificates/{}", c.number),
        number: c.number.clone(),
        secretary: secretary_name(&c.secretary_id),
        level: stored_level(&c.level) as i32,
        issue_date: format_date(c.issue_date),
        expiry_date: format_date(c.expiry_date),
        state: state(c, today) as i32,
        revocation_reason: c.revocation_reason.clone(),
        credential: if full {
            c.credential.clone()
        } else {
            String::new()
        },
        qr_code_svg: if full {
            credential::qr_svg(&url).unwrap_or_default()
        } else {
            String::new()
        },
        verification_url: url,
        region: c.region.clone(),
    }
}

pub(crate) async fn record_exam(
    ctx: &Context,
    call: &Call,
    request: pb::CreateExamResultRequest,
) -> Result<pb::ExamResult, Error> {
    call.caller().require_any(ADMINS, "CreateExamResult")?;
    let id = ids("parent", &request.parent, &["secretaries", "*"])?[0];
    let secretary = writable_secretary(ctx, call, id, ADMINS, "CreateExamResult").await?;
    let input = request.exam_result.ok_or_else(|| {
        Error::invalid(
            "exam_result",
            "FIELD_REQUIRED",
            "the exam result is required",
        )
    })?;
    let mut checks = Checks::new();
    let module = checks.take(required_enum(
        "exam_result.module",
        module("exam_result.module", input.module),
    ));
    let score = checks.require(
        input.score,
        (0..=100).contains(&input.score),
        "exam_result.score",
        "VALUE_OUT_OF_RANGE",
        format!("a score is between 0 and 100, got {}", input.score),
    );
    let taken_on = checks.past_date_or_today(
        "exam_result.taken_on",
        &input.taken_on,
        ctx.kit.clock.today(),
    );
    let valid = checks.finish()?;
    let (module, score, taken_on) = (
        valid.value(module),
        valid.value(score),
        valid.value(taken_on),
    );
    let province = region_of(&secretary.region)?.province().to_string();
    let pass_mark = store::policy(&ctx.kit.database, &province)
        .await?
        .policy
        .exam_pass_mark;
    let passed = domain::passes(score, pass_mark);
    let exam_id = new_id();
    let mut tx = call.begin(&ctx.kit.database).await?;
    store::insert_exam(
        &mut tx,
        &store::Exam {
            id: &exam_id,
            secretary_id: &secretary.id,
            module: module.code(),
            level: module.level().code(),
            score: i64::from(score),
            pass_mark: i64::from(pass_mark),
            passed,
            taken_on,
        },
        call.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(pb::ExamResult {
        name: format!("{}/examResults/{exam_id}", secretary_name(&secretary.id)),
        module: module_pb(module) as i32,
        score,
        taken_on: format_date(taken_on),
        level: super::level_pb(module.level()) as i32,
        pass_mark,
        passed,
    })
}

/// The key that signs the province's next credential: its current key while that is of the
/// algorithm the province's policy chooses, else a new key of that algorithm (the old one is
/// retired and keeps verifying what it signed).
pub(crate) async fn signing_key(
    ctx: &Context,
    tx: &mut AuditedTx,
    province: &str,
) -> Result<SigningKey, Error> {
    let wanted = store::policy(&ctx.kit.database, province)
        .await?
        .policy
        .credential_algorithm;
    if let Some(key) = store::current_key(tx, province).await?
        && key.algorithm == wanted.code()
    {
        let private = ctx
            .kit
            .keys
            .personal_data
            .decrypt_string(&key.private_key, &format!("issuer-key|{}", key.kid))
            .map_err(|_| {
                Error::internal(anyhow::anyhow!("issuer key {} does not decrypt", key.kid))
            })?;
        return Ok(SigningKey {
            public: key.public()?,
            kid: key.kid,
            private,
        });
    }
    new_key(ctx, tx, province, wanted).await
}

/// Makes a new current key of `algorithm` for the province (retiring the current one, which
/// keeps verifying).
pub(crate) async fn new_key(
    ctx: &Context,
    tx: &mut AuditedTx,
    province: &str,
    algorithm: KeyAlgorithm,
) -> Result<SigningKey, Error> {
    let key = SigningKey::generate(
        format!("{province}-{}", new_id().to_ascii_lowercase()),
        algorithm,
    )
    .map_err(Error::internal)?;
    let sealed = ctx
        .kit
        .keys
        .personal_data
        .encrypt(key.private.as_bytes(), &format!("issuer-key|{}", key.kid));
    store::rotate_key(
        tx,
        &store::IssuerKey {
            kid: key.kid.clone(),
            province: province.to_owned(),
            algorithm: algorithm.code().to_owned(),
            private_key: sealed,
            public_x: key.public.x.clone(),
            public_y: key.public.y.clone(),
            create_time: tx.call().now(),
            retired: false,
        },
        tx.call().now(),
    )
    .await
    .map_err(|e| match e {
        Error::Internal(_) => Error::Aborted {
            reason: "CONCURRENT_MODIFICATION",
            message: "the issuer key changed meanwhile; retry".into(),
        },
        other => other,
    })?;
    Ok(key)
}

fn urls(ctx: &Context, province: &str) -> Urls {
    Urls {
        base: ctx.settings.public_base_url.clone(),
        province: province.to_owned(),
    }
}

/// The holder's name, asked of personnel on behalf of the caller (within their scope there).
async fn holder_name(ctx: &Context, call: &Call, secretary: &str) -> Result<(String, i32), Error> {
    let dependency = ctx.kit.dependency("personnel")?;
    let outgoing = dependency.prepare(Some(call), Acting::OnBehalf)?;
    let request = personnel::GetSecretaryRequest {
        name: secretary.to_owned(),
        view: personnel::SecretaryView::Masked as i32,
    };
    let found = dependency
        .call(&outgoing, true, request, |channel, request| async move {
            PersonnelServiceClient::new(channel)
                .get_secretary(request)
                .await
        })
        .await?;
    Ok((found.display_name, found.status))
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateCertificateRequest,
) -> Result<pb::Certificate, Error> {
    call.caller().require_any(ADMINS, "CreateCertificate")?;
    let id = ids("parent", &request.parent, &["secretaries", "*"])?[0];
    let secretary = writable_secretary(ctx, call, id, ADMINS, "CreateCertificate").await?;
    let input = request.certificate.ok_or_else(|| {
        Error::invalid(
            "certificate",
            "FIELD_REQUIRED",
            "the certificate is required",
        )
    })?;
    let wanted = required_enum("certificate.level", level("certificate.level", input.level))?;
    let today = ctx.kit.clock.today();
    let held =
        store::certificates_of(&ctx.kit.database, std::slice::from_ref(&secretary.id)).await?;
    let of_level = |l: Level| held.iter().filter(move |c| c.level == l.code());
    if let Some(existing) = of_level(wanted).find(|c| c.revoked_on.is_none()) {
        return Err(Error::AlreadyExists {
            reason: "CERTIFICATE_HELD",
            message: format!(
                "{} already holds {} ({}); renew it instead",
                request.parent,
                existing.number,
                wanted.chinese()
            ),
            resource: Some(format!("certificates/{}", existing.number)),
        });
    }
    if let Some(below) = wanted.below()
        && !of_level(below).any(|c| state(c, today) == pb::CertificateState::Valid)
    {
        return Err(Error::FailedPrecondition {
            reason: "LEVEL_ORDER",
            message: format!(
                "levels are taken in order: {} needs a valid {} first",
                wanted.chinese(),
                below.chinese()
            ),
            preconditions: vec![Precondition {
                kind: "PREREQUISITE",
                subject: format!("CERTIFICATE_{}", below.code()),
                description: format!("a valid {} certificate", below.chinese()),
            }],
            metadata: vec![("required_level", below.code().to_owned())],
        });
    }
    // After a revocation, only exams taken after it count (a retake).
    let since = of_level(wanted)
        .filter_map(|c| c.revoked_on)
        .max()
        .and_then(|d| d.succ_opt());
    let passed =
        store::passed_modules(&ctx.kit.database, &secretary.id, wanted.code(), since).await?;
    let missing: Vec<domain::Module> = wanted
        .modules()
        .into_iter()
        .filter(|m| !passed.iter().any(|p| p == m.code()))
        .collect();
    if !missing.is_empty() {
        return Err(Error::FailedPrecondition {
            reason: "MODULES_NOT_PASSED",
            message: format!(
                "{} needs every module passed{}: missing {}",
                wanted.chinese(),
                since
                    .map(|d| format!(" on or after {d} (after the revocation)"))
                    .unwrap_or_default(),
                missing
                    .iter()
                    .map(|m| m.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            preconditions: missing
                .iter()
                .map(|m| Precondition {
                    kind: "EXAM",
                    subject: m.code().to_owned(),
                    description: format!("pass the {} exam", m.code()),
                })
                .collect(),
            metadata: Vec::new(),
        });
    }
    let (name, status) = holder_name(ctx, call, &request.parent).await?;
    if status != personnel::SecretaryStatus::Active as i32 {
        return Err(Error::precondition(
            "SECRETARY_NOT_IN_POST",
            format!("{} is not in post according to personnel", request.parent),
        ));
    }
    let region = region_of(&secretary.region)?;
    let province = region.province().to_string();
    let years = store::policy(&ctx.kit.database, &province)
        .await?
        .policy
        .certificate_validity_years;
    let expires = domain::expiry(today, years);
    let mut tx = call.begin(&ctx.kit.database).await?;
    let key = signing_key(ctx, &mut tx, &province).await?;
    let serial =
        store::next_value(&mut tx, &format!("certificate:{province}:{}", today.year())).await?;
    let number = format!("SZSJ-{}-{}-{serial:06}", &province[..2], today.year());
    let status_index = store::next_value(&mut tx, &format!("status:{province}")).await? - 1;
    if status_index >= credential::STATUS_LIST_SIZE as i64 {
        tx.rollback().await?;
        return Err(Error::precondition(
            "STATUS_LIST_FULL",
            "the province's status list is full; a second list is not supported yet",
        ));
    }
    let holder = credential::holder_identity(&name, &new_id());
    let claims = Claims {
        number: &number,
        level: wanted,
        issuer_name: &ctx.settings.issuer_name,
        issued: today,
        expires,
        signed_at: call.now(),
        holder: &holder,
        status_index,
        urls: &urls(ctx, &province),
    };
    let jwt = key
        .sign(&credential::achievement_credential(&claims), "vc+jwt")
        .map_err(Error::internal)?;
    let certificate = store::Certificate {
        number: number.clone(),
        secretary_id: secretary.id.clone(),
        region: secretary.region.clone(),
        province,
        level: wanted.code().to_owned(),
        issue_date: today,
        expiry_date: expires,
        revoked_on: None,
        revocation_reason: String::new(),
        suspended: false,
        status_index,
        credential: jwt,
        kid: key.kid.clone(),
    };
    call.target(&format!("certificates/{number}"), region);
    store::insert_certificate(&mut tx, &certificate).await?;
    publish_issued(&mut tx, &certificate, region);
    tx.commit().await?;
    tracing::info!(certificate = %number, level = wanted.code(), "certificate issued");
    Ok(certificate_pb(ctx, &certificate, today, true))
}

fn publish_issued(
    tx: &mut AuditedTx,
    c: &store::Certificate,
    region: shequ_kit::regions::RegionCode,
) {
    tx.publish(
        &format!("certificates/{}", c.number),
        region,
        &pb::CertificateIssued {
            certificate: format!("certificates/{}", c.number),
            secretary: secretary_name(&c.secretary_id),
            level: stored_level(&c.level) as i32,
            issue_date: format_date(c.issue_date),
            expiry_date: format_date(c.expiry_date),
        },
    );
}

pub(crate) fn publish_revoked(
    tx: &mut AuditedTx,
    c: &store::Certificate,
    reason: &str,
) -> Result<(), Error> {
    tx.publish(
        &format!("certificates/{}", c.number),
        region_of(&c.region)?,
        &pb::CertificateRevoked {
            certificate: format!("certificates/{}", c.number),
            secretary: secretary_name(&c.secretary_id),
            level: stored_level(&c.level) as i32,
            reason: reason.to_owned(),
        },
    );
    Ok(())
}

/// A certificate the caller may read (staff covering its region, or its holder); NOT_FOUND
/// otherwise.
async fn readable(
    ctx: &Context,
    call: &Call,
    name: &str,
    roles: &[shequ_kit::auth::Role],
    operation: &str,
) -> Result<store::Certificate, Error> {
    let caller = call.caller();
    caller.require_any(roles, operation)?;
    let number = ids("name", name, &["certificates", "*"])?[0];
    match store::certificate(&ctx.kit.database, number).await? {
        Some(c) => {
            let region = region_of(&c.region)?;
            let staff = caller.has_any(if roles == ADMINS { ADMINS } else { READERS })
                && caller.covers(region);
            let holder =
                roles != ADMINS && is_secretary(caller, &secretary_name(&c.secretary_id), region);
            if staff || holder {
                call.target(name, region);
                Ok(c)
            } else {
                Err(Error::not_found(name))
            }
        }
        None => Err(Error::not_found(name)),
    }
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetCertificateRequest,
) -> Result<pb::Certificate, Error> {
    let c = readable(ctx, call, &request.name, OWN_READERS, "GetCertificate").await?;
    Ok(certificate_pb(ctx, &c, ctx.kit.clock.today(), true))
}

pub(crate) async fn renew(
    ctx: &Context,
    call: &Call,
    request: pb::RenewCertificateRequest,
) -> Result<pb::Certificate, Error> {
    let c = readable(ctx, call, &request.name, ADMINS, "RenewCertificate").await?;
    if c.revoked_on.is_some() {
        return Err(Error::precondition(
            "CERTIFICATE_REVOKED",
            format!(
                "{} is revoked; pass the exams again for a new certificate",
                request.name
            ),
        ));
    }
    let today = ctx.kit.clock.today();
    let years = store::policy(&ctx.kit.database, &c.province)
        .await?
        .policy
        .certificate_validity_years;
    let expires = domain::expiry(today, years);
    let level = Level::parse(&c.level)
        .ok_or_else(|| Error::internal(anyhow::anyhow!("stored level {}", c.level)))?;
    let holder = credential::unverified_claims(&c.credential)
        .and_then(|claims| {
            claims["credentialSubject"]["identifier"][0]
                .as_object()
                .cloned()
        })
        .map(serde_json::Value::Object)
        .ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "stored credential of {} has no holder",
                c.number
            ))
        })?;
    let mut tx = call.begin(&ctx.kit.database).await?;
    let key = signing_key(ctx, &mut tx, &c.province).await?;
    let claims = Claims {
        number: &c.number,
        level,
        issuer_name: &ctx.settings.issuer_name,
        issued: today,
        expires,
        signed_at: call.now(),
        holder: &holder,
        status_index: c.status_index,
        urls: &urls(ctx, &c.province),
    };
    let jwt = key
        .sign(&credential::achievement_credential(&claims), "vc+jwt")
        .map_err(Error::internal)?;
    if !store::renew(&mut tx, &c.number, expires, &jwt, &key.kid).await? {
        tx.rollback().await?;
        return Err(Error::precondition(
            "CERTIFICATE_REVOKED",
            format!("{} was revoked meanwhile", request.name),
        ));
    }
    // The record keeps its first issue date (the number was issued then); the renewal changes
    // the expiry and the credential, which states the renewal's dates.
    let renewed = store::Certificate {
        expiry_date: expires,
        credential: jwt,
        kid: key.kid,
        ..c
    };
    publish_issued(&mut tx, &renewed, region_of(&renewed.region)?);
    tx.commit().await?;
    Ok(certificate_pb(ctx, &renewed, today, true))
}

pub(crate) async fn revoke(
    ctx: &Context,
    call: &Call,
    request: pb::RevokeCertificateRequest,
) -> Result<pb::Certificate, Error> {
    let c = readable(ctx, call, &request.name, ADMINS, "RevokeCertificate").await?;
    let mut checks = Checks::new();
    let reason = checks.text("reason", &request.reason, REASON_MAX);
    let valid = checks.finish()?;
    let reason = valid.value(reason);
    let today = ctx.kit.clock.today();
    let mut tx = call.begin(&ctx.kit.database).await?;
    if !store::revoke(&mut tx, &c.number, today, &reason).await? {
        tx.rollback().await?;
        return Err(Error::precondition(
            "CERTIFICATE_REVOKED",
            format!("{} is already revoked", request.name),
        ));
    }
    publish_revoked(&mut tx, &c, &reason)?;
    tx.commit().await?;
    Ok(certificate_pb(
        ctx,
        &store::Certificate {
            revoked_on: Some(today),
            revocation_reason: reason,
            ..c
        },
        today,
        true,
    ))
}

async fn set_suspended(
    ctx: &Context,
    call: &Call,
    name: &str,
    reason: Option<String>,
    operation: &str,
) -> Result<pb::Certificate, Error> {
    let c = readable(ctx, call, name, ADMINS, operation).await?;
    let suspended = reason.is_some();
    let reason_text = reason.clone();
    let note = reason
        .map(|r| format!("suspended: {r}"))
        .unwrap_or_default();
    let mut tx = call.begin(&ctx.kit.database).await?;
    let changed = store::set_suspended(&mut tx, &c.number, suspended, &note).await?;
    if changed {
        // Personnel follows these: a suspended certificate does not count for a promotion.
        let (certificate, secretary, level) = (
            format!("certificates/{}", c.number),
            secretary_name(&c.secretary_id),
            stored_level(&c.level) as i32,
        );
        let region = region_of(&c.region)?;
        match &reason_text {
            Some(reason) => tx.publish(
                &certificate.clone(),
                region,
                &pb::CertificateSuspended {
                    certificate,
                    secretary,
                    level,
                    reason: reason.clone(),
                },
            ),
            None => tx.publish(
                &certificate.clone(),
                region,
                &pb::CertificateReinstated {
                    certificate,
                    secretary,
                    level,
                },
            ),
        }
    }
    if !tx.commit_if(changed).await? {
        let (reason, message) = if c.revoked_on.is_some() {
            ("CERTIFICATE_REVOKED", format!("{name} is revoked"))
        } else if suspended {
            (
                "CERTIFICATE_SUSPENDED",
                format!("{name} is already suspended"),
            )
        } else {
            (
                "CERTIFICATE_NOT_SUSPENDED",
                format!("{name} is not suspended"),
            )
        };
        return Err(Error::precondition(reason, message));
    }
    Ok(certificate_pb(
        ctx,
        &store::Certificate {
            suspended,
            revocation_reason: note,
            ..c
        },
        ctx.kit.clock.today(),
        true,
    ))
}

pub(crate) async fn suspend(
    ctx: &Context,
    call: &Call,
    request: pb::SuspendCertificateRequest,
) -> Result<pb::Certificate, Error> {
    let mut checks = Checks::new();
    let reason = checks.text("reason", &request.reason, REASON_MAX);
    let valid = checks.finish()?;
    set_suspended(
        ctx,
        call,
        &request.name,
        Some(valid.value(reason)),
        "SuspendCertificate",
    )
    .await
}

pub(crate) async fn reinstate(
    ctx: &Context,
    call: &Call,
    request: pb::ReinstateCertificateRequest,
) -> Result<pb::Certificate, Error> {
    set_suspended(ctx, call, &request.name, None, "ReinstateCertificate").await
}
