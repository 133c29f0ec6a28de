//! The Open311 GeoReport v2 intake (service list, request create, request status), mapped onto
//! warnings: a service is a warning category, a service request is a warning raised with source
//! OPEN311, and its status follows the warning's lifecycle. The gateway serves these RPCs at
//! GeoReport's paths (`/open311/v2/services.json` ...) and takes GeoReport's `api_key` as the
//! caller's API key, so here they are ordinary RPCs with the suite's callers and scopes.

use shequ_kit::{Error, call::Call, regions::Level, validate::Checks};
use shequ_proto::warnings::v1 as pb;

use super::{
    Context, access,
    warnings::{TEXT_MAX, load, raise, valid_category},
};
use crate::{
    Open311Service,
    domain::{Colour, NewWarning, Source, State, Warning},
};

/// Longest `address_string` and `media_url` kept.
const ADDRESS_MAX: usize = 200;
const MEDIA_URL_MAX: usize = 500;
/// GeoReport's format suffix of a request id in its path; only JSON is served.
const JSON_SUFFIX: &str = ".json";

/// Refuses a configured list of services that could not be served: a code that is not a
/// category code, a repeated code, a missing or overlong name.
pub(crate) fn check_services(services: &[Open311Service]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for service in services {
        anyhow::ensure!(
            valid_category(&service.code),
            "service.open311_services: code {:?} is not a category code (1 to 40 lower-case letters, digits or _)",
            service.code
        );
        anyhow::ensure!(
            seen.insert(service.code.as_str()),
            "service.open311_services: code {:?} is listed twice",
            service.code
        );
        let length = service.name.trim().chars().count();
        anyhow::ensure!(
            (1..=100).contains(&length),
            "service.open311_services: the name of {:?} must be 1 to 100 characters",
            service.code
        );
    }
    Ok(())
}

/// A 12-digit province code given as GeoReport's `jurisdiction_id`, when one was given.
fn jurisdiction(
    ctx: &Context,
    checks: &mut Checks,
    value: &str,
) -> shequ_kit::validate::Checked<Option<shequ_kit::regions::RegionCode>> {
    if value.is_empty() {
        return checks.take(Ok(None));
    }
    checks.take(
        ctx.kit
            .regions
            .known_at(value, Level::Province)
            .map(Some)
            .map_err(|e| shequ_kit::names::region_error("jurisdiction_id", e)),
    )
}

pub(crate) async fn list_services(
    ctx: &Context,
    call: &Call,
    request: pb::ListOpen311ServicesRequest,
) -> Result<pb::ListOpen311ServicesResponse, Error> {
    call.caller()
        .require_any(access::WARNING_READERS, "ListOpen311Services")?;
    let mut checks = Checks::new();
    let _province = jurisdiction(ctx, &mut checks, &request.jurisdiction_id);
    checks.finish()?;
    Ok(pb::ListOpen311ServicesResponse {
        services: ctx
            .settings
            .open311_services
            .iter()
            .map(|s| pb::Open311Service {
                service_code: s.code.clone(),
                service_name: s.name.clone(),
                description: s.description.clone(),
                metadata: false,
                r#type: "realtime".to_owned(),
                keywords: s.keywords.clone(),
                group: s.group.clone(),
            })
            .collect(),
    })
}

/// The warning's description: the reporter's text, then where (address, coordinates) and the
/// photo link, which the warning has no fields of its own for.
fn description(text: &str, address: &str, lat: f64, long: f64, media_url: &str) -> String {
    let mut lines = Vec::new();
    if !text.is_empty() {
        lines.push(text.to_owned());
    }
    if !address.is_empty() {
        lines.push(format!("地址 address: {address}"));
    }
    if lat != 0.0 || long != 0.0 {
        lines.push(format!("坐标 lat/long: {lat}, {long}"));
    }
    if !media_url.is_empty() {
        lines.push(format!("照片 media: {media_url}"));
    }
    lines.join("\n")
}

pub(crate) async fn create_request(
    ctx: &Context,
    call: &Call,
    request: pb::CreateOpen311RequestRequest,
) -> Result<pb::CreateOpen311RequestResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::RAISERS, "CreateOpen311Request")?;
    let mut checks = Checks::new();
    let service = if request.service_code.is_empty() {
        checks.refuse(
            "service_code",
            "FIELD_REQUIRED",
            "a service_code is required",
        )
    } else {
        checks.take(
            ctx.settings
                .open311_services
                .iter()
                .find(|s| s.code == request.service_code)
                .cloned()
                .ok_or_else(|| {
                    Error::invalid(
                        "service_code",
                        "SERVICE_CODE_UNKNOWN",
                        "not a service of GET services.json",
                    )
                }),
        )
    };
    let region = if request.address_id.is_empty() {
        checks.refuse(
            "address_id",
            "ADDRESS_ID_REQUIRED",
            "the 12-digit code of the community (社区) is required: lat/long and \
             address_string alone cannot place a request in a community (no geocoder)",
        )
    } else {
        checks.take(
            ctx.kit
                .regions
                .known_at(&request.address_id, Level::Community)
                .map_err(|e| shequ_kit::names::region_error("address_id", e)),
        )
    };
    let jurisdiction = jurisdiction(ctx, &mut checks, &request.jurisdiction_id);
    checks.rule(
        !(-90.0..=90.0).contains(&request.lat),
        "lat",
        "LATITUDE_OUT_OF_RANGE",
        "a latitude from -90 to 90",
    );
    checks.rule(
        !(-180.0..=180.0).contains(&request.long),
        "long",
        "LONGITUDE_OUT_OF_RANGE",
        "a longitude from -180 to 180",
    );
    let text = checks.optional_text("description", &request.description, TEXT_MAX);
    let address = checks.optional_text("address_string", &request.address_string, ADDRESS_MAX);
    let media_url = checks.optional_text("media_url", &request.media_url, MEDIA_URL_MAX);
    let valid = checks.finish()?;
    let region = valid.value(region);
    if let Some(province) = valid.value(jurisdiction)
        && province != region.province()
    {
        return Err(Error::invalid(
            "jurisdiction_id",
            "JURISDICTION_MISMATCH",
            format!("address_id {region} is not in the province {province}"),
        ));
    }
    caller.require_scope(region, "address_id")?;
    let service = valid.value(service);
    let description = description(
        &valid.value(text),
        &valid.value(address),
        request.lat,
        request.long,
        &valid.value(media_url),
    );
    let description: String = description.chars().take(TEXT_MAX).collect();
    // The reporter's contact fields (email, names, phone, device and account ids) are not read:
    // the warning keeps no personal data of whoever reported it.
    let warning = raise(
        ctx,
        call,
        NewWarning {
            title: service.name.chars().take(100).collect(),
            description,
            colour: Colour::Blue,
            category: service.code.clone(),
            region,
            assignee: None,
            source: Source::Open311,
            rule: None,
        },
    )
    .await?;
    Ok(pb::CreateOpen311RequestResponse {
        service_requests: vec![pb::Open311RequestCreated {
            service_request_id: warning.id.clone(),
            service_notice: format!(
                "Raised as blue warning warnings/{} for community {region}; the community must respond by {}",
                warning.id,
                warning
                    .deadlines
                    .last()
                    .map(|d| cst(d.due))
                    .unwrap_or_default()
            ),
            account_id: String::new(),
        }],
    })
}

/// A time as GeoReport writes it (W3C / RFC 3339), in China Standard Time.
fn cst(time: chrono::DateTime<chrono::Utc>) -> String {
    let china = chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix());
    time.with_timezone(&china)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

use chrono::Offset as _;

/// GeoReport's status of a warning: `open` until it is resolved.
fn status(state: State) -> &'static str {
    match state {
        State::Open | State::Acknowledged | State::Handling => "open",
        State::Resolved | State::Closed => "closed",
    }
}

/// The GeoReport view of a warning raised through the intake.
fn service_request(ctx: &Context, warning: &Warning) -> pb::Open311ServiceRequest {
    let service_name = ctx
        .settings
        .open311_services
        .iter()
        .find(|s| s.code == warning.category)
        .map_or_else(|| warning.title.clone(), |s| s.name.clone());
    let mut notes = format!(
        "{}, {}",
        warning.state.code().to_ascii_lowercase(),
        warning.colour.code().to_ascii_lowercase()
    );
    if warning.overdue {
        notes.push_str(", overdue");
    }
    let running = warning
        .deadlines
        .last()
        .filter(|d| d.met.is_none() && d.superseded.is_none());
    pb::Open311ServiceRequest {
        service_request_id: warning.id.clone(),
        status: status(warning.state).to_owned(),
        status_notes: notes,
        service_name,
        service_code: warning.category.clone(),
        description: warning.description.clone(),
        agency_responsible: format!("社区 {}", warning.region),
        service_notice: String::new(),
        requested_datetime: cst(warning.create_time),
        updated_datetime: cst(warning.update_time),
        expected_datetime: match warning.state {
            State::Resolved | State::Closed => String::new(),
            _ => running.map(|d| cst(d.due)).unwrap_or_default(),
        },
        address_id: warning.region.to_string(),
    }
}

pub(crate) async fn get_request(
    ctx: &Context,
    call: &Call,
    request: pb::GetOpen311RequestRequest,
) -> Result<pb::GetOpen311RequestResponse, Error> {
    call.caller()
        .require_any(access::WARNING_READERS, "GetOpen311Request")?;
    let Some(id) = request.service_request_id.strip_suffix(JSON_SUFFIX) else {
        return Err(Error::invalid(
            "service_request_id",
            "FORMAT_UNSUPPORTED",
            "ask for requests/{service_request_id}.json: only the JSON format is served",
        ));
    };
    let mut checks = Checks::new();
    let _province = jurisdiction(ctx, &mut checks, &request.jurisdiction_id);
    checks.finish()?;
    let name = format!("warnings/{id}");
    let warning = load(
        ctx,
        call,
        "service_request_id",
        &name,
        access::WARNING_READERS,
        "GetOpen311Request",
    )
    .await?;
    // Only a request made through the intake is a service request.
    if warning.source != Source::Open311 {
        return Err(Error::not_found(format!("requests/{id}")));
    }
    Ok(pb::GetOpen311RequestResponse {
        service_requests: vec![service_request(ctx, &warning)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_open_until_its_warning_is_resolved() {
        assert_eq!(status(State::Open), "open");
        assert_eq!(status(State::Acknowledged), "open");
        assert_eq!(status(State::Handling), "open");
        assert_eq!(status(State::Resolved), "closed");
        assert_eq!(status(State::Closed), "closed");
    }

    #[test]
    fn the_default_services_are_valid_and_a_bad_list_is_refused() {
        assert!(check_services(&crate::Settings::default().open311_services).is_ok());
        let mut twice = crate::Settings::default().open311_services;
        twice.push(twice[0].clone());
        assert!(check_services(&twice).is_err());
        let mut bad = crate::Settings::default().open311_services;
        bad[0].code = "Flood Water".into();
        assert!(check_services(&bad).is_err());
    }

    #[test]
    fn where_and_the_photo_go_into_the_description() {
        let text = description("积水 30 cm", "幸福路 1 号", 22.5, 114.0, "https://x/1.jpg");
        assert_eq!(
            text,
            "积水 30 cm\n地址 address: 幸福路 1 号\n坐标 lat/long: 22.5, 114\n照片 media: https://x/1.jpg"
        );
        assert_eq!(description("", "", 0.0, 0.0, ""), "");
    }

    #[test]
    fn times_are_written_in_china_standard_time() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T16:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(cst(t), "2026-12-02T00:00:00+08:00");
    }
}
