//! A province's training policy: read by every training role of the province, changed by its
//! province administrators with the etag they read.

use shequ_kit::{
    Error,
    aip::{Mutable, etag, parse_etag, update_mask},
    auth::Role,
    call::Call,
    convert::to_timestamp,
    error::Violation,
    mutable_fields,
};
use shequ_proto::training::v1 as pb;

use super::{Context, OWN_READERS, own_province, province};
use crate::{credential::KeyAlgorithm, domain::Policy, store};

const FIELDS: &[Mutable<pb::TrainingPolicy>] = mutable_fields!(pb::TrainingPolicy {
    basic_hours_per_year,
    professional_hours_per_year,
    extension_hours_per_year,
    studio_annual_target,
    mentor_capacity,
    mentor_min_years_in_post,
    mentor_violation_lookback_months,
    exam_pass_mark,
    certificate_validity_years,
    revoking_negative_list_items,
    credential_algorithm,
});

pub(crate) fn policy_pb(name: String, stored: &store::StoredPolicy) -> pb::TrainingPolicy {
    let p = &stored.policy;
    pb::TrainingPolicy {
        name,
        basic_hours_per_year: p.basic_hours,
        professional_hours_per_year: p.professional_hours,
        extension_hours_per_year: p.extension_hours,
        studio_annual_target: p.studio_annual_target,
        mentor_capacity: p.mentor_capacity,
        mentor_min_years_in_post: p.mentor_min_years_in_post,
        mentor_violation_lookback_months: p.mentor_violation_lookback_months,
        exam_pass_mark: p.exam_pass_mark,
        certificate_validity_years: p.certificate_validity_years,
        revoking_negative_list_items: p.revoking_items.clone(),
        credential_algorithm: p.credential_algorithm.code().to_owned(),
        etag: etag(stored.version),
        update_time: stored.update_time.map(to_timestamp),
    }
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetTrainingPolicyRequest,
) -> Result<pb::TrainingPolicy, Error> {
    call.caller()
        .require_any(OWN_READERS, "GetTrainingPolicy")?;
    let code = province(ctx, "name", &request.name, &["trainingPolicy"])?;
    own_province(call.caller(), code)?;
    let stored = store::policy(&ctx.kit.database, &code.to_string()).await?;
    Ok(policy_pb(request.name, &stored))
}

pub(crate) async fn update(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateTrainingPolicyRequest,
) -> Result<pb::TrainingPolicy, Error> {
    call.caller()
        .require_any(&[Role::ProvinceAdmin], "UpdateTrainingPolicy")?;
    let input = request.training_policy.ok_or_else(|| {
        Error::invalid(
            "training_policy",
            "FIELD_REQUIRED",
            "the policy is required",
        )
    })?;
    let code = province(
        ctx,
        "training_policy.name",
        &input.name,
        &["trainingPolicy"],
    )?;
    call.caller().require_scope(code, "province")?;
    let mask = update_mask(request.update_mask.as_ref(), &input, FIELDS)?;
    let expected = parse_etag("training_policy.etag", &input.etag)?;
    let stored = store::policy(&ctx.kit.database, &code.to_string()).await?;
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    let mut next: Policy = stored.policy.clone();
    let set = |path: &str, target: &mut i32, value: i32| {
        if mask.has(path) {
            *target = value;
        }
    };
    set(
        "basic_hours_per_year",
        &mut next.basic_hours,
        input.basic_hours_per_year,
    );
    set(
        "professional_hours_per_year",
        &mut next.professional_hours,
        input.professional_hours_per_year,
    );
    set(
        "extension_hours_per_year",
        &mut next.extension_hours,
        input.extension_hours_per_year,
    );
    set(
        "studio_annual_target",
        &mut next.studio_annual_target,
        input.studio_annual_target,
    );
    set(
        "mentor_capacity",
        &mut next.mentor_capacity,
        input.mentor_capacity,
    );
    set(
        "mentor_min_years_in_post",
        &mut next.mentor_min_years_in_post,
        input.mentor_min_years_in_post,
    );
    set(
        "mentor_violation_lookback_months",
        &mut next.mentor_violation_lookback_months,
        input.mentor_violation_lookback_months,
    );
    set(
        "exam_pass_mark",
        &mut next.exam_pass_mark,
        input.exam_pass_mark,
    );
    set(
        "certificate_validity_years",
        &mut next.certificate_validity_years,
        input.certificate_validity_years,
    );
    if mask.has("revoking_negative_list_items") {
        next.revoking_items = input
            .revoking_negative_list_items
            .iter()
            .map(|item| item.rsplit('/').next().unwrap_or(item).to_owned())
            .collect();
    }
    let mut violations: Vec<Violation> = next
        .violations()
        .into_iter()
        .map(|(field, reason, description)| Violation::new(field, reason, description))
        .collect();
    if mask.has("credential_algorithm") {
        match KeyAlgorithm::parse(&input.credential_algorithm) {
            Some(algorithm) => next.credential_algorithm = algorithm,
            None => violations.push(Violation::new(
                "training_policy.credential_algorithm",
                "VALUE_NOT_ALLOWED",
                format!(
                    "must be EdDSA or SM2, got {}",
                    shequ_kit::error::echo(&input.credential_algorithm)
                ),
            )),
        }
    }
    if !violations.is_empty() {
        return Err(Error::invalid_all(violations));
    }
    call.target(&input.name, code);
    let mut tx = call.begin(&ctx.kit.database).await?;
    let saved = store::save_policy(&mut tx, &code.to_string(), &next, expected, call.now()).await?;
    if !tx.commit_if(saved).await? {
        return Err(Error::stale_etag(&input.name));
    }
    let stored = store::policy(&ctx.kit.database, &code.to_string()).await?;
    Ok(policy_pb(input.name, &stored))
}
