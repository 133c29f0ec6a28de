//! The community brain's catalogue: a province's indicators and threshold rules.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::{self, Mutable, etag, required_enum},
    call::Call,
    convert::to_timestamp,
    mutable_fields,
    names::{bad_name, valid_segment},
    regions::RegionCode,
    validate::Checks,
    wire_enum,
};
use shequ_proto::warnings::v1 as pb;

use super::{Context, access, convert, names, warnings::valid_category};
use crate::{
    domain::brain::{Direction, Indicator, Rule, thresholds_problem},
    store::Store,
};

wire_enum!(direction, direction_pb, pb::ThresholdDirection, Direction {
    Above <=> Above,
    Below <=> Below,
});

const INDICATOR_FIELDS: &[Mutable<pb::Indicator>] = mutable_fields!(pb::Indicator {
    display_name,
    unit,
    min_value,
    max_value,
    active,
});
const RULE_FIELDS: &[Mutable<pb::ThresholdRule>] = mutable_fields!(pb::ThresholdRule {
    display_name,
    direction,
    blue_threshold,
    yellow_threshold,
    red_threshold,
    category,
    active,
});

/// `provinces/{p}/{collection}/{id}` → (province, id).
fn child(
    ctx: &Context,
    field: &str,
    name: &str,
    collection: &str,
) -> Result<(RegionCode, String), Error> {
    let expected = format!("provinces/{{province}}/{collection}/{{id}}");
    let (head, id) = name
        .rsplit_once('/')
        .ok_or_else(|| bad_name(field, &expected, name))?;
    let province_part = head
        .strip_suffix(&format!("/{collection}"))
        .ok_or_else(|| bad_name(field, &expected, name))?;
    let province = names::province(&ctx.kit.regions, field, province_part, None)?;
    if !valid_segment(id) {
        return Err(bad_name(field, &expected, name));
    }
    Ok((province, id.to_owned()))
}

fn indicator_pb(indicator: &Indicator) -> pb::Indicator {
    pb::Indicator {
        name: indicator.name(),
        display_name: indicator.display_name.clone(),
        department: convert::department_pb(indicator.department) as i32,
        unit: indicator.unit.clone(),
        min_value: indicator.min_value,
        max_value: indicator.max_value,
        active: indicator.active,
        etag: etag(indicator.version),
        create_time: Some(to_timestamp(indicator.create_time)),
        update_time: Some(to_timestamp(indicator.update_time)),
    }
}

fn rule_pb(rule: &Rule) -> pb::ThresholdRule {
    pb::ThresholdRule {
        name: rule.name(),
        indicator: format!("provinces/{}/indicators/{}", rule.province, rule.indicator),
        display_name: rule.display_name.clone(),
        direction: direction_pb(rule.direction) as i32,
        blue_threshold: rule.thresholds[0],
        yellow_threshold: rule.thresholds[1],
        red_threshold: rule.thresholds[2],
        category: rule.category.clone(),
        active: rule.active,
        etag: etag(rule.version),
        create_time: Some(to_timestamp(rule.create_time)),
        update_time: Some(to_timestamp(rule.update_time)),
    }
}

/// A plausible range: finite, `min` below `max`.
fn check_range(checks: &mut Checks, field: &str, min: f64, max: f64) {
    checks.rule(
        !(min.is_finite() && max.is_finite() && min < max),
        field,
        "RANGE_INVALID",
        format!("min_value ({min}) must be below max_value ({max}), both finite"),
    );
}

pub(crate) async fn create_indicator(
    ctx: &Context,
    call: &Call,
    request: pb::CreateIndicatorRequest,
) -> Result<pb::Indicator, Error> {
    let caller = call.caller();
    caller.require_any(access::PROVINCE_ADMIN, "CreateIndicator")?;
    let province = names::province(&ctx.kit.regions, "parent", &request.parent, None)?;
    access::check_province_write(caller, province, "CreateIndicator")?;
    let input = request.indicator.unwrap_or_default();
    let mut checks = Checks::new();
    checks.rule(
        !valid_segment(&request.indicator_id),
        "indicator_id",
        "RESOURCE_ID_INVALID",
        "1 to 64 letters, digits, `-` or `_`",
    );
    let display_name = checks.text("indicator.display_name", &input.display_name, 100);
    let department = checks.take(required_enum(
        "indicator.department",
        convert::department("indicator.department", input.department),
    ));
    let unit = checks.optional_text("indicator.unit", &input.unit, 20);
    check_range(
        &mut checks,
        "indicator.max_value",
        input.min_value,
        input.max_value,
    );
    let valid = checks.finish()?;
    let now = ctx.kit.clock.now();
    let indicator = Indicator {
        province,
        id: request.indicator_id,
        display_name: valid.value(display_name),
        department: valid.value(department),
        unit: valid.value(unit),
        min_value: input.min_value,
        max_value: input.max_value,
        active: true,
        version: 1,
        create_time: now,
        update_time: now,
    };
    call.target(&indicator.name(), province);
    let mut tx = call.begin(ctx.store.database()).await?;
    Store::insert_indicator(&mut tx, &indicator).await?;
    tx.commit().await?;
    Ok(indicator_pb(&indicator))
}

async fn load_indicator(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    write: bool,
    operation: &str,
) -> Result<Indicator, Error> {
    let caller = call.caller();
    let roles = if write {
        access::PROVINCE_ADMIN
    } else {
        access::CATALOGUE_READERS
    };
    caller.require_any(roles, operation)?;
    let (province, id) = child(ctx, field, name, "indicators")?;
    if write {
        access::check_province_write(caller, province, operation)?;
    } else {
        access::check_province_read(caller, roles, province, operation)?;
    }
    ctx.store
        .indicator(province, &id)
        .await?
        .ok_or_else(|| Error::not_found(name))
}

pub(crate) async fn get_indicator(
    ctx: &Context,
    call: &Call,
    request: pb::GetIndicatorRequest,
) -> Result<pb::Indicator, Error> {
    let indicator = load_indicator(ctx, call, "name", &request.name, false, "GetIndicator").await?;
    Ok(indicator_pb(&indicator))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    after: String,
}

pub(crate) async fn list_indicators(
    ctx: &Context,
    call: &Call,
    request: pb::ListIndicatorsRequest,
) -> Result<pb::ListIndicatorsResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::CATALOGUE_READERS, "ListIndicators")?;
    let province = names::province(&ctx.kit.regions, "parent", &request.parent, None)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    access::check_province_read(
        caller,
        access::CATALOGUE_READERS,
        province,
        "ListIndicators",
    )?;
    let after = page.cursor.as_ref().map_or("", |c| c.after.as_str());
    let mut indicators = ctx.store.indicators(province, after, page.fetch()).await?;
    let next_page_token = page.next(&mut indicators, |last| IdCursor {
        after: last.id.clone(),
    });
    Ok(pb::ListIndicatorsResponse {
        indicators: indicators.iter().map(indicator_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn update_indicator(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateIndicatorRequest,
) -> Result<pb::Indicator, Error> {
    call.caller()
        .require_any(access::PROVINCE_ADMIN, "UpdateIndicator")?;
    let input = request.indicator.ok_or_else(|| {
        Error::invalid("indicator", "FIELD_REQUIRED", "the indicator is required")
    })?;
    let stored = load_indicator(
        ctx,
        call,
        "indicator.name",
        &input.name,
        true,
        "UpdateIndicator",
    )
    .await?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, INDICATOR_FIELDS)?;
    let expected = aip::parse_etag("indicator.etag", &input.etag)?;
    call.target(&stored.name(), stored.province);
    let mut next = stored.clone();
    let mut checks = Checks::new();
    if mask.has("display_name")
        && let Some(v) = checks
            .text("indicator.display_name", &input.display_name, 100)
            .into_option()
    {
        next.display_name = v;
    }
    if mask.has("unit")
        && let Some(v) = checks
            .optional_text("indicator.unit", &input.unit, 20)
            .into_option()
    {
        next.unit = v;
    }
    if mask.has("min_value") {
        next.min_value = input.min_value;
    }
    if mask.has("max_value") {
        next.max_value = input.max_value;
    }
    if mask.has("active") {
        next.active = input.active;
    }
    check_range(
        &mut checks,
        "indicator.max_value",
        next.min_value,
        next.max_value,
    );
    checks.finish()?;
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    next.version = expected + 1;
    next.update_time = ctx.kit.clock.now();
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = Store::update_indicator(&mut tx, &next, expected).await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(indicator_pb(&next))
}

pub(crate) async fn create_rule(
    ctx: &Context,
    call: &Call,
    request: pb::CreateThresholdRuleRequest,
) -> Result<pb::ThresholdRule, Error> {
    let caller = call.caller();
    caller.require_any(access::PROVINCE_ADMIN, "CreateThresholdRule")?;
    let province = names::province(&ctx.kit.regions, "parent", &request.parent, None)?;
    access::check_province_write(caller, province, "CreateThresholdRule")?;
    let input = request.threshold_rule.unwrap_or_default();
    let mut checks = Checks::new();
    checks.rule(
        !valid_segment(&request.threshold_rule_id),
        "threshold_rule_id",
        "RESOURCE_ID_INVALID",
        "1 to 64 letters, digits, `-` or `_`",
    );
    let indicator = checks.take(child(
        ctx,
        "threshold_rule.indicator",
        &input.indicator,
        "indicators",
    ));
    if let Some((of, _)) = indicator.get() {
        checks.rule(
            *of != province,
            "threshold_rule.indicator",
            "INDICATOR_UNKNOWN",
            "the indicator must belong to the rule's province",
        );
    }
    let display_name = checks.text("threshold_rule.display_name", &input.display_name, 100);
    let direction = checks.take(required_enum(
        "threshold_rule.direction",
        direction("threshold_rule.direction", input.direction),
    ));
    let thresholds = [
        input.blue_threshold,
        input.yellow_threshold,
        input.red_threshold,
    ];
    if let Some(direction) = direction.get()
        && let Some(problem) = thresholds_problem(*direction, thresholds)
    {
        checks.rule(true, "threshold_rule", "THRESHOLDS_INVALID", problem);
    }
    let category = checks.require(
        input.category.clone(),
        valid_category(&input.category),
        "threshold_rule.category",
        "CATEGORY_INVALID",
        "1 to 40 lower-case letters, digits or `_`, e.g. flood",
    );
    let valid = checks.finish()?;
    let (_, indicator_id) = valid.value(indicator);
    if ctx
        .store
        .indicator(province, &indicator_id)
        .await?
        .is_none()
    {
        return Err(Error::invalid(
            "threshold_rule.indicator",
            "INDICATOR_UNKNOWN",
            format!("{} is not an indicator of {province}", input.indicator),
        ));
    }
    let now = ctx.kit.clock.now();
    let rule = Rule {
        province,
        id: request.threshold_rule_id,
        indicator: indicator_id,
        display_name: valid.value(display_name),
        direction: valid.value(direction),
        thresholds,
        category: valid.value(category),
        active: true,
        version: 1,
        create_time: now,
        update_time: now,
    };
    call.target(&rule.name(), province);
    let mut tx = call.begin(ctx.store.database()).await?;
    Store::insert_rule(&mut tx, &rule).await?;
    tx.commit().await?;
    Ok(rule_pb(&rule))
}

async fn load_rule(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    write: bool,
    operation: &str,
) -> Result<Rule, Error> {
    let caller = call.caller();
    let roles = if write {
        access::PROVINCE_ADMIN
    } else {
        access::CATALOGUE_READERS
    };
    caller.require_any(roles, operation)?;
    let (province, id) = child(ctx, field, name, "thresholdRules")?;
    if write {
        access::check_province_write(caller, province, operation)?;
    } else {
        access::check_province_read(caller, roles, province, operation)?;
    }
    ctx.store
        .rule(province, &id)
        .await?
        .ok_or_else(|| Error::not_found(name))
}

pub(crate) async fn get_rule(
    ctx: &Context,
    call: &Call,
    request: pb::GetThresholdRuleRequest,
) -> Result<pb::ThresholdRule, Error> {
    let rule = load_rule(ctx, call, "name", &request.name, false, "GetThresholdRule").await?;
    Ok(rule_pb(&rule))
}

pub(crate) async fn list_rules(
    ctx: &Context,
    call: &Call,
    request: pb::ListThresholdRulesRequest,
) -> Result<pb::ListThresholdRulesResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::CATALOGUE_READERS, "ListThresholdRules")?;
    let province = names::province(&ctx.kit.regions, "parent", &request.parent, None)?;
    let page = ctx.kit.tokens.page::<_, IdCursor>(&request)?;
    access::check_province_read(
        caller,
        access::CATALOGUE_READERS,
        province,
        "ListThresholdRules",
    )?;
    let after = page.cursor.as_ref().map_or("", |c| c.after.as_str());
    let mut rules = ctx.store.rules(province, after, page.fetch()).await?;
    let next_page_token = page.next(&mut rules, |last| IdCursor {
        after: last.id.clone(),
    });
    Ok(pb::ListThresholdRulesResponse {
        threshold_rules: rules.iter().map(rule_pb).collect(),
        next_page_token,
    })
}

pub(crate) async fn update_rule(
    ctx: &Context,
    call: &Call,
    request: pb::UpdateThresholdRuleRequest,
) -> Result<pb::ThresholdRule, Error> {
    call.caller()
        .require_any(access::PROVINCE_ADMIN, "UpdateThresholdRule")?;
    let input = request.threshold_rule.ok_or_else(|| {
        Error::invalid("threshold_rule", "FIELD_REQUIRED", "the rule is required")
    })?;
    let stored = load_rule(
        ctx,
        call,
        "threshold_rule.name",
        &input.name,
        true,
        "UpdateThresholdRule",
    )
    .await?;
    let mask = aip::update_mask(request.update_mask.as_ref(), &input, RULE_FIELDS)?;
    let expected = aip::parse_etag("threshold_rule.etag", &input.etag)?;
    call.target(&stored.name(), stored.province);
    let mut next = stored.clone();
    let mut checks = Checks::new();
    if mask.has("display_name")
        && let Some(v) = checks
            .text("threshold_rule.display_name", &input.display_name, 100)
            .into_option()
    {
        next.display_name = v;
    }
    if mask.has("direction") {
        let field = "threshold_rule.direction";
        if let Some(v) = checks
            .take(required_enum(field, direction(field, input.direction)))
            .into_option()
        {
            next.direction = v;
        }
    }
    for (i, path, value) in [
        (0, "blue_threshold", input.blue_threshold),
        (1, "yellow_threshold", input.yellow_threshold),
        (2, "red_threshold", input.red_threshold),
    ] {
        if mask.has(path) {
            next.thresholds[i] = value;
        }
    }
    if let Some(problem) = thresholds_problem(next.direction, next.thresholds) {
        checks.rule(true, "threshold_rule", "THRESHOLDS_INVALID", problem);
    }
    if mask.has("category")
        && let Some(v) = checks
            .require(
                input.category.clone(),
                valid_category(&input.category),
                "threshold_rule.category",
                "CATEGORY_INVALID",
                "1 to 40 lower-case letters, digits or `_`, e.g. flood",
            )
            .into_option()
    {
        next.category = v;
    }
    if mask.has("active") {
        next.active = input.active;
    }
    checks.finish()?;
    if stored.version != expected {
        return Err(Error::stale_etag(&input.name));
    }
    next.version = expected + 1;
    next.update_time = ctx.kit.clock.now();
    let mut tx = call.begin(ctx.store.database()).await?;
    let changed = Store::update_rule(&mut tx, &next, expected).await?;
    if !tx.commit_if(changed).await? {
        return Err(Error::stale_etag(&input.name));
    }
    Ok(rule_pb(&next))
}
