//! A province's warning policy: the deadline hours of each colour.

use shequ_kit::{
    Error,
    aip::{self, Mutable, etag},
    call::Call,
    convert::to_timestamp,
    mutable_fields,
    regions::RegionCode,
    validate::Checks,
};
use shequ_proto::warnings::v1 as pb;

use super::{Context, access, names};
use crate::{
    domain::{Policy, policy::HOURS_RANGE},
    store::{Store, Versioned},
};

const POLICY: &str = "warningPolicy";

const FIELDS: &[Mutable<pb::WarningPolicy>] = mutable_fields!(pb::WarningPolicy {
    blue_response_hours,
    yellow_consultation_hours,
    red_task_force_hours,
});

fn policy_pb(province: RegionCode, policy: &Versioned<Policy>) -> pb::WarningPolicy {
    pb::WarningPolicy {
        name: format!("provinces/{province}/{POLICY}"),
        blue_response_hours: policy.value.blue_response_hours,
        yellow_consultation_hours: policy.value.yellow_consultation_hours,
        red_task_force_hours: policy.value.red_task_force_hours,
        etag: etag(policy.version),
        update_time: policy.update_time.map(to_timestamp),
    }
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetWarningPolicyRequest,
) -> Result<pb::WarningPolicy, Error> {
    let caller = call.caller();
    caller.require_any(access::POLICY_READERS, "GetWarningPolicy")?;
    let province = names::province(&ctx.kit.regions, "name", &request.name, Some(POLICY))?;
    access::check_province_read(caller, access::POLICY_READERS, province, "GetWarningPolicy")?;
    Ok(policy_pb(province, &ctx.store.policy(province).await?))
}

pub(crate) async fn update(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateWarningPolicyRequest,
) -> Result<pb::WarningPolicy, Error> {
    let caller = call.caller();
    caller.require_any(access::PROVINCE_ADMIN, "UpdateWarningPolicy")?;
    let input = request.warning_policy.ok_or_else(|| {
        Error::invalid("warning_policy", "FIELD_REQUIRED", "the policy is required")
    })?;
    let province = names::province(
        &ctx.kit.regions,
        "warning_policy.name",
        &input.name,
        Some(POLICY),
    )?;
    access::check_province_write(caller, province, "UpdateWarningPolicy")?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, FIELDS)?;
    let expected = aip::parse_etag("warning_policy.etag", &input.etag)?;
    call.target(&input.name, province);

    let stored = ctx.store.policy(province).await?;
    let mut next = stored.value;
    let mut checks = Checks::new();
    let mut hours = |path: &str, value: i32, target: &mut i32| {
        if mask.has(path) {
            checks.rule(
                !HOURS_RANGE.contains(&value),
                &format!("warning_policy.{path}"),
                "VALUE_OUT_OF_RANGE",
                format!(
                    "hours must be between {} and {}, got {value}",
                    HOURS_RANGE.start(),
                    HOURS_RANGE.end()
                ),
            );
            *target = value;
        }
    };
    hours(
        "blue_response_hours",
        input.blue_response_hours,
        &mut next.blue_response_hours,
    );
    hours(
        "yellow_consultation_hours",
        input.yellow_consultation_hours,
        &mut next.yellow_consultation_hours,
    );
    hours(
        "red_task_force_hours",
        input.red_task_force_hours,
        &mut next.red_task_force_hours,
    );
    checks.finish()?;
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    let now = ctx.kit.clock.now();
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = Store::put_policy(&mut tx, province, &next, expected, now).await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(policy_pb(
        province,
        &Versioned {
            value: next,
            version: expected + 1,
            update_time: Some(now),
        },
    ))
}
