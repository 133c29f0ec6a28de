//! Indicator schemes (5+X): immutable versions per province and year.

use shequ_kit::{Error, aip::required_enum, call::Call, convert::to_timestamp, error::Violation};
use shequ_proto::evaluation::v1 as pb;

use super::{Context, PROVINCE_ADMIN, SCHEME_READERS, ids, own_province, province_code, year};
use crate::{
    domain::{
        Core, DEFAULT_ADJUSTMENT_PERCENT, DEFAULT_APPEAL_WINDOW_DAYS, DEFAULT_X_CAP, Scheme,
        Source, XIndicator,
    },
    store::{self, StoredScheme},
};

shequ_kit::wire_enum!(source, source_pb, pb::IndicatorSource, Source {
    People <=> People,
    Training <=> Training,
    Warnings <=> Warnings,
});

pub(crate) fn scheme_name(province: &str, year: i32, version: i32) -> String {
    format!("provinces/{province}/indicatorSchemes/{year}-v{version}")
}

pub(crate) fn scheme_pb(s: &StoredScheme) -> pb::IndicatorScheme {
    pb::IndicatorScheme {
        name: scheme_name(&s.province, s.year, s.version),
        year: s.year,
        version: s.version,
        core_indicators: s
            .scheme
            .core
            .iter()
            .map(|c| pb::CoreIndicator {
                id: c.id.clone(),
                display_name: c.display_name.clone(),
                weight: c.weight,
                source: source_pb(c.source) as i32,
                feed_share_percent: c.feed_share_percent,
            })
            .collect(),
        x_indicators: s
            .scheme
            .x
            .iter()
            .map(|x| pb::XIndicator {
                id: x.id.clone(),
                display_name: x.display_name.clone(),
            })
            .collect(),
        x_cap_points: s.scheme.x_cap_points,
        adjustment_percent: s.scheme.adjustment_percent,
        appeal_window_days: s.scheme.appeal_window_days,
        created_by: s.created_by.clone(),
        create_time: s.create_time.map(to_timestamp),
    }
}

/// `{year}-v{version}` or `{year}-current`.
enum Version {
    Exact(i32, i32),
    Current(i32),
}

fn parse_id(field: &str, name: &str, id: &str) -> Result<Version, Error> {
    let bad = || {
        shequ_kit::names::bad_name(
            field,
            "provinces/{province}/indicatorSchemes/{year}-v{version} or .../{year}-current",
            name,
        )
    };
    let (y, rest) = id.split_once('-').ok_or_else(bad)?;
    let y: i32 = y.parse().map_err(|_| bad())?;
    if rest == "current" {
        return Ok(Version::Current(y));
    }
    let v: i32 = rest
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .filter(|v| *v >= 0)
        .ok_or_else(bad)?;
    Ok(Version::Exact(y, v))
}

/// The scheme a client sent (fields under `prefix`), with the shipped values for what it left
/// empty, checked against every rule; INVALID_ARGUMENT naming each offending field.
pub(crate) fn scheme_from_pb(prefix: &str, input: &pb::IndicatorScheme) -> Result<Scheme, Error> {
    let mut violations = Vec::new();
    let mut core = Vec::new();
    for (i, c) in input.core_indicators.iter().enumerate() {
        let field = format!("{prefix}.core_indicators[{i}].source");
        match required_enum(&field, source(&field, c.source)) {
            Ok(source) => core.push(Core {
                id: c.id.clone(),
                display_name: c.display_name.clone(),
                weight: c.weight,
                source,
                feed_share_percent: c.feed_share_percent,
            }),
            Err(Error::InvalidArgument { violations: v, .. }) => violations.extend(v),
            Err(other) => return Err(other),
        }
    }
    let or = |value: i32, default: i32| if value == 0 { default } else { value };
    let scheme = Scheme {
        core: if input.core_indicators.is_empty() {
            Scheme::shipped_core()
        } else {
            core
        },
        x: if input.x_indicators.is_empty() {
            Scheme::shipped_x()
        } else {
            input
                .x_indicators
                .iter()
                .map(|x| XIndicator {
                    id: x.id.clone(),
                    display_name: x.display_name.clone(),
                })
                .collect()
        },
        x_cap_points: or(input.x_cap_points, DEFAULT_X_CAP),
        adjustment_percent: or(input.adjustment_percent, DEFAULT_ADJUSTMENT_PERCENT),
        appeal_window_days: or(input.appeal_window_days, DEFAULT_APPEAL_WINDOW_DAYS),
    };
    if violations.is_empty() {
        violations.extend(
            scheme
                .violations()
                .into_iter()
                .map(|(field, reason, text)| {
                    Violation::new(format!("{prefix}.{field}"), reason, text)
                }),
        );
    }
    if violations.is_empty() {
        Ok(scheme)
    } else {
        Err(Error::invalid_all(violations))
    }
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateIndicatorSchemeRequest,
) -> Result<pb::IndicatorScheme, Error> {
    let caller = call.caller();
    caller.require_any(PROVINCE_ADMIN, "CreateIndicatorScheme")?;
    let code = ids("parent", &request.parent, &["provinces", "*"])?[0];
    let province = province_code(ctx, "parent", code)?;
    caller.require_scope(province, "parent")?;
    let input = request.indicator_scheme.ok_or_else(|| {
        Error::invalid(
            "indicator_scheme",
            "FIELD_REQUIRED",
            "the scheme is required",
        )
    })?;
    let year = year("indicator_scheme.year", input.year)?;
    let scheme = scheme_from_pb("indicator_scheme", &input)?;
    call.target(&request.parent, province);
    let province = province.to_string();
    let now = ctx.kit.clock.now();
    let mut tx = call.begin(&ctx.kit.database).await?;
    let version =
        store::insert_scheme(&mut tx, &province, year, &scheme, &caller.subject, now).await?;
    tx.commit().await?;
    Ok(scheme_pb(&StoredScheme {
        province,
        year,
        version,
        scheme,
        created_by: caller.subject.clone(),
        create_time: Some(now),
    }))
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetIndicatorSchemeRequest,
) -> Result<pb::IndicatorScheme, Error> {
    let caller = call.caller();
    caller.require_any(SCHEME_READERS, "GetIndicatorScheme")?;
    let found = ids(
        "name",
        &request.name,
        &["provinces", "*", "indicatorSchemes", "*"],
    )?;
    let province = province_code(ctx, "name", found[0])?;
    own_province(caller, province)?;
    let province = province.to_string();
    let stored = match parse_id("name", &request.name, found[1])? {
        Version::Current(y) => {
            Some(store::current_scheme(&ctx.kit.database, &province, year("name", y)?).await?)
        }
        Version::Exact(y, v) => store::scheme(&ctx.kit.database, &province, y, v).await?,
    };
    stored
        .map(|s| scheme_pb(&s))
        .ok_or_else(|| Error::not_found(&request.name))
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListIndicatorSchemesRequest,
) -> Result<pb::ListIndicatorSchemesResponse, Error> {
    let caller = call.caller();
    caller.require_any(SCHEME_READERS, "ListIndicatorSchemes")?;
    let code = ids("parent", &request.parent, &["provinces", "*"])?[0];
    let province = province_code(ctx, "parent", code)?;
    own_province(caller, province)?;
    let filter = match request.year {
        0 => None,
        y => Some(year("year", y)?),
    };
    let page = ctx.kit.tokens.page::<_, (i32, i32)>(&request)?;
    let mut rows = store::schemes(
        &ctx.kit.database,
        &province.to_string(),
        filter,
        page.cursor,
        page.fetch(),
    )
    .await?;
    let next_page_token = page.next(&mut rows, |s| (s.year, s.version));
    Ok(pb::ListIndicatorSchemesResponse {
        indicator_schemes: rows.iter().map(scheme_pb).collect(),
        next_page_token,
    })
}
