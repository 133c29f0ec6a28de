//! Province policies: the qualification standard, the career policy and the negative-list
//! catalogue.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::{self, Mutable, etag, required_enum},
    call::Call,
    convert::to_timestamp,
    mutable_fields,
    regions::RegionCode,
    validate::Checks,
};
use shequ_proto::personnel::v1 as pb;

use super::{
    Context, access,
    convert::{self, education_pb, item_pb, rung_pb},
    names,
};
use crate::{
    domain::{
        NegativeListItem,
        career::{CertificateLevel, Policy, Rung, default_certificate},
        negative_list::valid_item_id,
        qualification::{self, Profile, RuleResult, Standard},
    },
    store::Versioned,
};

const STANDARD: &str = "qualificationStandard";
const CAREER_POLICY: &str = "careerPolicy";

const STANDARD_FIELDS: &[Mutable<pb::QualificationStandard>] =
    mutable_fields!(pb::QualificationStandard {
        max_age_at_appointment,
        min_education,
        min_years_community_work,
    });
const POLICY_FIELDS: &[Mutable<pb::CareerPolicy>] = mutable_fields!(pb::CareerPolicy {
    rung_requirements,
    violation_lookback_months,
    reserve_annual_target,
});
const ITEM_FIELDS: &[Mutable<pb::NegativeListItem>] = mutable_fields!(pb::NegativeListItem {
    title,
    description,
    active
});

fn standard_pb(province: RegionCode, standard: &Versioned<Standard>) -> pb::QualificationStandard {
    pb::QualificationStandard {
        name: format!("provinces/{province}/{STANDARD}"),
        max_age_at_appointment: standard.value.max_age_at_appointment,
        min_education: education_pb(standard.value.min_education) as i32,
        min_years_community_work: standard.value.min_years_community_work,
        etag: etag(standard.version),
        update_time: standard.update_time.map(to_timestamp),
    }
}

/// A qualification check result on the wire.
pub(crate) fn qualification_check_pb(
    province: RegionCode,
    results: &[RuleResult],
) -> pb::QualificationCheck {
    pb::QualificationCheck {
        qualification_standard: format!("provinces/{province}/{STANDARD}"),
        qualified: results.iter().all(|r| r.met),
        rules: results
            .iter()
            .map(|r| pb::QualificationRuleResult {
                rule: r.rule.to_owned(),
                met: r.met,
                required: r.required.clone(),
                actual: r.actual.clone(),
            })
            .collect(),
    }
}

pub(crate) async fn get_standard(
    ctx: &Context,
    call: &Call,
    request: pb::GetQualificationStandardRequest,
) -> Result<pb::QualificationStandard, Error> {
    let caller = call.caller();
    let province = names::province(&ctx.kit.regions, "name", &request.name, Some(STANDARD))?;
    access::check_policy_read(caller, province, "GetQualificationStandard")?;
    Ok(standard_pb(province, &ctx.store.standard(province).await?))
}

pub(crate) async fn update_standard(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateQualificationStandardRequest,
) -> Result<pb::QualificationStandard, Error> {
    let caller = call.caller();
    // The role first; the province the request names (parsed next) is for the scope check.
    caller.require_any(access::POLICY_WRITERS, "UpdateQualificationStandard")?;
    let input = request.qualification_standard.ok_or_else(|| {
        Error::invalid(
            "qualification_standard",
            "FIELD_REQUIRED",
            "the standard is required",
        )
    })?;
    let province = names::province(
        &ctx.kit.regions,
        "qualification_standard.name",
        &input.name,
        Some(STANDARD),
    )?;
    // Authorised before validated: a caller who may not write learns nothing about the input.
    access::check_policy_write(caller, province, "UpdateQualificationStandard")?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, STANDARD_FIELDS)?;
    let expected = aip::parse_etag("qualification_standard.etag", &input.etag)?;
    call.target(&input.name, province);

    let stored = ctx.store.standard(province).await?;
    let mut next = stored.value;
    let mut checks = Checks::new();
    if mask.has("max_age_at_appointment") {
        let range = qualification::MAX_AGE_RANGE;
        checks.rule(
            !range.contains(&input.max_age_at_appointment),
            "qualification_standard.max_age_at_appointment",
            "VALUE_OUT_OF_RANGE",
            format!("must be between {} and {}", range.start(), range.end()),
        );
        next.max_age_at_appointment = input.max_age_at_appointment;
    }
    if mask.has("min_education") {
        let field = "qualification_standard.min_education";
        let value = checks.take(required_enum(
            field,
            convert::education(field, input.min_education),
        ));
        if let Some(v) = value.into_option() {
            next.min_education = v;
        }
    }
    if mask.has("min_years_community_work") {
        let range = qualification::MIN_YEARS_RANGE;
        checks.rule(
            !range.contains(&input.min_years_community_work),
            "qualification_standard.min_years_community_work",
            "VALUE_OUT_OF_RANGE",
            format!("must be between {} and {}", range.start(), range.end()),
        );
        next.min_years_community_work = input.min_years_community_work;
    }
    checks.finish()?;
    let now = ctx.kit.clock.now();
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = ctx
        .store
        .put_standard(&mut tx, province, &next, expected, now)
        .await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    // Answered from what was written (a read after the commit could fail once the change is
    // already made, and a retry would then meet its own etag as stale).
    Ok(standard_pb(
        province,
        &Versioned {
            value: next,
            version: expected + 1,
            update_time: Some(now),
        },
    ))
}

pub(crate) async fn check_candidate(
    ctx: &Context,
    call: &Call,
    request: pb::CheckCandidateQualificationRequest,
) -> Result<pb::QualificationCheck, Error> {
    let caller = call.caller();
    let province = names::province(
        &ctx.kit.regions,
        "qualification_standard",
        &request.qualification_standard,
        Some(STANDARD),
    )?;
    access::check_policy_read(caller, province, "CheckCandidateQualification")?;
    let candidate = request.candidate.ok_or_else(|| {
        Error::invalid(
            "candidate",
            "FIELD_REQUIRED",
            "the candidate profile is required",
        )
    })?;
    let today = ctx.kit.clock.today();
    let mut checks = Checks::new();
    let birth_date = checks.past_date("candidate.birth_date", &candidate.birth_date, today);
    let education = checks.take(required_enum(
        "candidate.education",
        convert::education("candidate.education", candidate.education),
    ));
    let work = checks.past_date(
        "candidate.community_work_start_date",
        &candidate.community_work_start_date,
        today,
    );
    // A planned appointment may lie in the future.
    let appointment = checks.take(shequ_kit::convert::parse_date_or(
        "candidate.appointment_date",
        &candidate.appointment_date,
        today,
    ));
    let valid = checks.finish()?;
    let standard = ctx.store.standard(province).await?.value;
    let profile = Profile {
        birth_date: valid.value(birth_date),
        education: valid.value(education),
        community_work_start: valid.value(work),
        appointment_date: valid.value(appointment),
    };
    Ok(qualification_check_pb(province, &standard.check(&profile)))
}

/// Applies the rung requirements of an UpdateCareerPolicy, each rung once and promotable, the
/// years in range.
fn apply_rung_requirements(
    checks: &mut Checks,
    requirements: &[pb::RungRequirement],
    policy: &mut Policy,
) {
    let mut seen = Vec::new();
    for (i, requirement) in requirements.iter().enumerate() {
        let item = format!("career_policy.rung_requirements[{i}]");
        let rung_field = format!("{item}.rung");
        let rung = checks
            .take(required_enum(
                &rung_field,
                convert::rung(&rung_field, requirement.rung),
            ))
            .into_option();
        if let Some(rung) = rung {
            checks.rule(
                rung == Rung::Secretary,
                &rung_field,
                "RUNG_NOT_PROMOTABLE",
                "the first rung is reached by appointment",
            );
            checks.rule(
                seen.contains(&rung),
                &rung_field,
                "RUNG_DUPLICATE",
                "each rung appears once",
            );
            seen.push(rung);
            policy.min_years_for.retain(|(r, _)| *r != rung);
            policy
                .min_years_for
                .push((rung, requirement.min_years_on_current_rung));
            let certificate_field = format!("{item}.required_certificate");
            match pb::RequiredCertificate::try_from(requirement.required_certificate) {
                Ok(required) => {
                    let level = match required {
                        pb::RequiredCertificate::Unspecified => default_certificate(rung),
                        pb::RequiredCertificate::None => None,
                        pb::RequiredCertificate::Basic => Some(CertificateLevel::Basic),
                        pb::RequiredCertificate::Advanced => Some(CertificateLevel::Advanced),
                        pb::RequiredCertificate::Senior => Some(CertificateLevel::Senior),
                    };
                    policy.certificate_for.retain(|(r, _)| *r != rung);
                    policy.certificate_for.push((rung, level));
                }
                Err(_) => checks.rule(
                    true,
                    &certificate_field,
                    "ENUM_VALUE_UNKNOWN",
                    format!(
                        "{} is not a known certificate level",
                        requirement.required_certificate
                    ),
                ),
            }
        }
        checks.rule(
            !(0..=30).contains(&requirement.min_years_on_current_rung),
            &format!("{item}.min_years_on_current_rung"),
            "VALUE_OUT_OF_RANGE",
            "must be between 0 and 30",
        );
    }
}

fn policy_pb(province: RegionCode, policy: &Versioned<Policy>) -> pb::CareerPolicy {
    pb::CareerPolicy {
        name: format!("provinces/{province}/{CAREER_POLICY}"),
        rung_requirements: Rung::PROMOTABLE
            .iter()
            .map(|rung| pb::RungRequirement {
                rung: rung_pb(*rung) as i32,
                min_years_on_current_rung: policy.value.min_years(*rung),
                required_certificate: match policy.value.certificate(*rung) {
                    None => pb::RequiredCertificate::None,
                    Some(CertificateLevel::Basic) => pb::RequiredCertificate::Basic,
                    Some(CertificateLevel::Advanced) => pb::RequiredCertificate::Advanced,
                    Some(CertificateLevel::Senior) => pb::RequiredCertificate::Senior,
                } as i32,
            })
            .collect(),
        violation_lookback_months: policy.value.violation_lookback_months,
        reserve_annual_target: policy.value.reserve_annual_target,
        etag: etag(policy.version),
        update_time: policy.update_time.map(to_timestamp),
    }
}

pub(crate) async fn get_career_policy(
    ctx: &Context,
    call: &Call,
    request: pb::GetCareerPolicyRequest,
) -> Result<pb::CareerPolicy, Error> {
    let caller = call.caller();
    let province = names::province(&ctx.kit.regions, "name", &request.name, Some(CAREER_POLICY))?;
    access::check_policy_read(caller, province, "GetCareerPolicy")?;
    Ok(policy_pb(
        province,
        &ctx.store.career_policy(province).await?,
    ))
}

pub(crate) async fn update_career_policy(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateCareerPolicyRequest,
) -> Result<pb::CareerPolicy, Error> {
    let caller = call.caller();
    // The role first; the province the request names (parsed next) is for the scope check.
    caller.require_any(access::POLICY_WRITERS, "UpdateCareerPolicy")?;
    let input = request.career_policy.ok_or_else(|| {
        Error::invalid("career_policy", "FIELD_REQUIRED", "the policy is required")
    })?;
    let province = names::province(
        &ctx.kit.regions,
        "career_policy.name",
        &input.name,
        Some(CAREER_POLICY),
    )?;
    // Authorised before validated: a caller who may not write learns nothing about the input.
    access::check_policy_write(caller, province, "UpdateCareerPolicy")?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, POLICY_FIELDS)?;
    let expected = aip::parse_etag("career_policy.etag", &input.etag)?;
    call.target(&input.name, province);

    let stored = ctx.store.career_policy(province).await?;
    let mut next = stored.value.clone();
    let mut checks = Checks::new();
    if mask.has("rung_requirements") {
        apply_rung_requirements(&mut checks, &input.rung_requirements, &mut next);
    }
    if mask.has("violation_lookback_months") {
        checks.rule(
            !(0..=120).contains(&input.violation_lookback_months),
            "career_policy.violation_lookback_months",
            "VALUE_OUT_OF_RANGE",
            "must be between 0 and 120 months",
        );
        next.violation_lookback_months = input.violation_lookback_months;
    }
    if mask.has("reserve_annual_target") {
        checks.rule(
            !(1..=1_000_000).contains(&input.reserve_annual_target),
            "career_policy.reserve_annual_target",
            "VALUE_OUT_OF_RANGE",
            "must be between 1 and 1,000,000",
        );
        next.reserve_annual_target = input.reserve_annual_target;
    }
    checks.finish()?;
    next.min_years_for.sort();
    next.certificate_for.sort();
    let now = ctx.kit.clock.now();
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = ctx
        .store
        .put_career_policy(&mut tx, province, &next, expected, now)
        .await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    // Answered from what was written, as UpdateQualificationStandard.
    Ok(policy_pb(
        province,
        &Versioned {
            value: next,
            version: expected + 1,
            update_time: Some(now),
        },
    ))
}

#[derive(Serialize, Deserialize)]
struct CodeCursor {
    after: String,
}

pub(crate) async fn list_items(
    ctx: &Context,
    call: &Call,
    request: pb::ListNegativeListItemsRequest,
) -> Result<pb::ListNegativeListItemsResponse, Error> {
    let caller = call.caller();
    let province = names::province(&ctx.kit.regions, "parent", &request.parent, None)?;
    access::check_policy_read(caller, province, "ListNegativeListItems")?;
    let page = ctx.kit.tokens.page::<_, CodeCursor>(&request)?;
    let after = page.cursor.as_ref().map_or("", |c| c.after.as_str());
    let mut items = ctx
        .store
        .negative_list_items(province, after, page.fetch())
        .await?;
    let next_page_token = page.next(&mut items, |last| CodeCursor {
        after: last.code.clone(),
    });
    Ok(pb::ListNegativeListItemsResponse {
        negative_list_items: items.iter().map(item_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn get_item(
    ctx: &Context,
    call: &Call,
    request: pb::GetNegativeListItemRequest,
) -> Result<pb::NegativeListItem, Error> {
    let caller = call.caller();
    let (province, code) = names::negative_list_item(&ctx.kit.regions, "name", &request.name)?;
    access::check_policy_read(caller, province, "GetNegativeListItem")?;
    let item = ctx
        .store
        .negative_list_item(province, &code)
        .await?
        .ok_or_else(|| Error::not_found(&request.name))?;
    Ok(item_pb(&item))
}

pub(crate) async fn create_item(
    ctx: &Context,
    call: &Call,
    request: pb::CreateNegativeListItemRequest,
) -> Result<pb::NegativeListItem, Error> {
    let caller = call.caller();
    let province = names::province(&ctx.kit.regions, "parent", &request.parent, None)?;
    access::check_policy_write(caller, province, "CreateNegativeListItem")?;
    let input = request.negative_list_item.ok_or_else(|| {
        Error::invalid(
            "negative_list_item",
            "FIELD_REQUIRED",
            "the item is required",
        )
    })?;
    let mut checks = Checks::new();
    checks.rule(
        !valid_item_id(&request.negative_list_item_id),
        "negative_list_item_id",
        "ITEM_ID_INVALID",
        "1-16 characters of A-Z, 0-9 and '-'",
    );
    let title = checks.text("negative_list_item.title", &input.title, 100);
    let description =
        checks.optional_text("negative_list_item.description", &input.description, 2_000);
    let valid = checks.finish()?;

    call.target(
        &format!(
            "{}/negativeListItems/{}",
            request.parent, request.negative_list_item_id
        ),
        province,
    );
    let item = NegativeListItem {
        province,
        code: request.negative_list_item_id,
        title: valid.value(title),
        description: valid.value(description),
        active: true,
        version: 1,
    };
    let mut tx = call.begin(ctx.store.database()).await?;
    ctx.store.insert_negative_list_item(&mut tx, &item).await?;
    tx.commit().await?;
    Ok(item_pb(&item))
}

pub(crate) async fn update_item(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateNegativeListItemRequest,
) -> Result<pb::NegativeListItem, Error> {
    let caller = call.caller();
    // The role first; the province the request names (parsed next) is for the scope check.
    caller.require_any(access::POLICY_WRITERS, "UpdateNegativeListItem")?;
    let input = request.negative_list_item.ok_or_else(|| {
        Error::invalid(
            "negative_list_item",
            "FIELD_REQUIRED",
            "the item is required",
        )
    })?;
    let (province, code) =
        names::negative_list_item(&ctx.kit.regions, "negative_list_item.name", &input.name)?;
    // Authorised before validated: a caller who may not write learns nothing about the input.
    access::check_policy_write(caller, province, "UpdateNegativeListItem")?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, ITEM_FIELDS)?;
    let expected = aip::parse_etag("negative_list_item.etag", &input.etag)?;
    call.target(&input.name, province);
    let stored = ctx
        .store
        .negative_list_item(province, &code)
        .await?
        .ok_or_else(|| Error::not_found(&input.name))?;
    let mut next = stored.clone();
    let mut checks = Checks::new();
    if mask.has("title") {
        let value = checks.text("negative_list_item.title", &input.title, 100);
        if let Some(v) = value.into_option() {
            next.title = v;
        }
    }
    if mask.has("description") {
        let value =
            checks.optional_text("negative_list_item.description", &input.description, 2_000);
        if let Some(v) = value.into_option() {
            next.description = v;
        }
    }
    if mask.has("active") {
        next.active = input.active;
    }
    checks.finish()?;
    next.version = stored.version + 1;
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = ctx
        .store
        .update_negative_list_item(&mut tx, &next, expected)
        .await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(item_pb(&next))
}
