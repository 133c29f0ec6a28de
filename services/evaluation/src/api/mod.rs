//! The gRPC face of the evaluation service: authorises every call, parses the request into
//! domain types, and maps every failure through the kit's one error type.

mod assessments;
mod rankings;
mod results;
mod sandbox;
mod schemes;

use shequ_kit::{
    Error,
    auth::Role,
    names::{bad_name, valid_segment},
    regions::{Level, RegionCode},
    service::Kit,
};
use shequ_proto::evaluation::v1::{
    self as pb,
    evaluation_service_server::{EvaluationService, EvaluationServiceServer},
};

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) kit: Kit,
    /// Wakes the adjustment outbox when a confirmation queued rows.
    pub(crate) outbox: std::sync::Arc<tokio::sync::Notify>,
}

shequ_kit::grpc_service! {
    /// The implementation of `shequ.evaluation.v1.EvaluationService`.
    pub struct EvaluationApi(Context): EvaluationService via EvaluationServiceServer {
    create "CreateIndicatorScheme" create_indicator_scheme(pb::CreateIndicatorSchemeRequest) -> pb::IndicatorScheme => schemes::create;
    read "GetIndicatorScheme" get_indicator_scheme(pb::GetIndicatorSchemeRequest) -> pb::IndicatorScheme => schemes::get;
    read "ListIndicatorSchemes" list_indicator_schemes(pb::ListIndicatorSchemesRequest) -> pb::ListIndicatorSchemesResponse => schemes::list;
    create "CreateQuarterlyAssessment" create_quarterly_assessment(pb::CreateQuarterlyAssessmentRequest) -> pb::QuarterlyAssessment => assessments::create_quarterly;
    read "ListQuarterlyAssessments" list_quarterly_assessments(pb::ListQuarterlyAssessmentsRequest) -> pb::ListQuarterlyAssessmentsResponse => assessments::list_quarterly;
    create "CreateEngagement" create_engagement(pb::CreateEngagementRequest) -> pb::Engagement => assessments::create_engagement;
    read "GetEngagement" get_engagement(pb::GetEngagementRequest) -> pb::Engagement => assessments::get_engagement;
    create "CreateExternalAssessment" create_external_assessment(pb::CreateExternalAssessmentRequest) -> pb::ExternalAssessment => assessments::create_external;
    create "CreateSpecialAssessment" create_special_assessment(pb::CreateSpecialAssessmentRequest) -> pb::SpecialAssessment => assessments::create_special;
    write "FinaliseAnnualResults" finalise_annual_results(pb::FinaliseAnnualResultsRequest) -> pb::FinaliseAnnualResultsResponse => results::finalise;
    read "GetAnnualResult" get_annual_result(pb::GetAnnualResultRequest) -> pb::AnnualResult => results::get;
    create "CreateRanking" create_ranking(pb::CreateRankingRequest) -> pb::Ranking => rankings::create;
    read "GetRanking" get_ranking(pb::GetRankingRequest) -> pb::Ranking => rankings::get;
    create "CreateAppeal" create_appeal(pb::CreateAppealRequest) -> pb::Appeal => rankings::appeal;
    write "DecideAppeal" decide_appeal(pb::DecideAppealRequest) -> pb::Appeal => rankings::decide;
    write "ConfirmAdjustments" confirm_adjustments(pb::ConfirmAdjustmentsRequest) -> pb::Ranking => rankings::confirm;
    read "SimulateRanking" simulate_ranking(pb::SimulateRankingRequest) -> pb::SimulateRankingResponse => sandbox::simulate;
    read "ListAuditEntries" list_audit_entries(shequ_proto::audit::v1::ListAuditEntriesRequest) -> shequ_proto::audit::v1::ListAuditEntriesResponse => @kit shequ_kit::audit::list_entries;
    read "VerifyAuditLog" verify_audit_log(shequ_proto::audit::v1::VerifyAuditLogRequest) -> shequ_proto::audit::v1::VerifyAuditLogResponse => @kit shequ_kit::audit::verify_log;
    }
}

// ------------------------------------------------------------------------------------------------
// Who may do what (the README's role table is the same rules)

/// Every role with evaluation duties reads the schemes of its own province.
pub(crate) const SCHEME_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
    Role::Assessor,
    Role::Integration,
];
/// Province administrators set their province's schemes.
pub(crate) const PROVINCE_ADMIN: &[Role] = &[Role::ProvinceAdmin];

/// A province named by the caller: their own, or PERMISSION_DENIED REGION_OUT_OF_SCOPE.
pub(crate) fn own_province(
    caller: &shequ_kit::auth::Caller,
    province: RegionCode,
) -> Result<(), Error> {
    if caller.scope.province() == province {
        Ok(())
    } else {
        caller.require_scope(province, "province")
    }
}

// ------------------------------------------------------------------------------------------------
// Names

/// Splits `name` along `pattern` (`*` for an id segment) and returns the ids.
pub(crate) fn ids<'a>(field: &str, name: &'a str, pattern: &[&str]) -> Result<Vec<&'a str>, Error> {
    let expected = pattern
        .iter()
        .map(|p| if *p == "*" { "{id}" } else { p })
        .collect::<Vec<_>>()
        .join("/");
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() != pattern.len() {
        return Err(bad_name(field, &expected, name));
    }
    let mut found = Vec::new();
    for (part, want) in parts.iter().zip(pattern) {
        if *want == "*" {
            if !valid_segment(part) {
                return Err(bad_name(field, &expected, name));
            }
            found.push(*part);
        } else if part != want {
            return Err(bad_name(field, &expected, name));
        }
    }
    Ok(found)
}

/// A known province code.
pub(crate) fn province_code(ctx: &Context, field: &str, code: &str) -> Result<RegionCode, Error> {
    ctx.kit
        .regions
        .known_at(code, Level::Province)
        .map_err(|e| shequ_kit::names::region_error(field, e))
}

/// An assessment year: 2000 to 2100.
pub(crate) fn year(field: &str, value: i32) -> Result<i32, Error> {
    if (2000..=2100).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(
            field,
            "VALUE_OUT_OF_RANGE",
            format!("a year is 2000 to 2100, got {value}"),
        ))
    }
}

/// The province of a stored community code, as a string.
pub(crate) fn province_of(region: &str) -> Result<String, Error> {
    Ok(assessments::region_of(region)?.province().to_string())
}
