//! The gRPC face of the training service: authorises every call, parses the request into domain
//! types, and maps every failure through the kit's one error type.

mod certificates;
mod curriculum;
mod mentoring;
mod plans;
mod policy;
mod public;

use shequ_kit::{
    Error,
    auth::{Caller, Role},
    call::Call,
    names::{bad_name, valid_segment},
    regions::RegionCode,
    service::Kit,
};
use shequ_proto::training::v1::{
    self as pb,
    training_service_server::{TrainingService, TrainingServiceServer},
};

use crate::{Settings, store};

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) kit: Kit,
    pub(crate) settings: Settings,
}

shequ_kit::grpc_service! {
    /// The implementation of `shequ.training.v1.TrainingService`.
    pub struct TrainingApi(Context): TrainingService via TrainingServiceServer {
    read "GetTrainingPolicy" get_training_policy(pb::GetTrainingPolicyRequest) -> pb::TrainingPolicy => policy::get;
    write "UpdateTrainingPolicy" update_training_policy(pb::UpdateTrainingPolicyRequest) -> pb::TrainingPolicy => policy::update;
    create "CreateCourse" create_course(pb::CreateCourseRequest) -> pb::Course => curriculum::create_course;
    read "GetCourse" get_course(pb::GetCourseRequest) -> pb::Course => curriculum::get_course;
    read "ListCourses" list_courses(pb::ListCoursesRequest) -> pb::ListCoursesResponse => curriculum::list_courses;
    create "CreateSession" create_session(pb::CreateSessionRequest) -> pb::Session => curriculum::create_session;
    create "CreateEnrolment" create_enrolment(pb::CreateEnrolmentRequest) -> pb::Enrolment => curriculum::enrol;
    write "CompleteEnrolment" complete_enrolment(pb::CompleteEnrolmentRequest) -> pb::Enrolment => curriculum::complete;
    read "GetLearningProgress" get_learning_progress(pb::GetLearningProgressRequest) -> pb::LearningProgress => curriculum::progress;
    read "ListLearningSummaries" list_learning_summaries(pb::ListLearningSummariesRequest) -> pb::ListLearningSummariesResponse => curriculum::summaries;
    create "CreateStudio" create_studio(pb::CreateStudioRequest) -> pb::Studio => curriculum::create_studio;
    read "GetStudio" get_studio(pb::GetStudioRequest) -> pb::Studio => curriculum::get_studio;
    create "RecordStudioAttendance" record_studio_attendance(pb::RecordStudioAttendanceRequest) -> pb::Studio => curriculum::record_attendance;
    read "GetCultivationPlan" get_cultivation_plan(pb::GetCultivationPlanRequest) -> pb::CultivationPlan => plans::get;
    write "CompletePlanStep" complete_plan_step(pb::CompletePlanStepRequest) -> pb::CultivationPlan => plans::complete_step;
    create "CreateMentorship" create_mentorship(pb::CreateMentorshipRequest) -> pb::Mentorship => mentoring::create;
    write "EndMentorship" end_mentorship(pb::EndMentorshipRequest) -> pb::Mentorship => mentoring::end;
    read "ListMentorships" list_mentorships(pb::ListMentorshipsRequest) -> pb::ListMentorshipsResponse => mentoring::list;
    create "CreateExamResult" create_exam_result(pb::CreateExamResultRequest) -> pb::ExamResult => certificates::record_exam;
    create "CreateCertificate" create_certificate(pb::CreateCertificateRequest) -> pb::Certificate => certificates::create;
    read "GetCertificate" get_certificate(pb::GetCertificateRequest) -> pb::Certificate => certificates::get;
    write "RenewCertificate" renew_certificate(pb::RenewCertificateRequest) -> pb::Certificate => certificates::renew;
    write "RevokeCertificate" revoke_certificate(pb::RevokeCertificateRequest) -> pb::Certificate => certificates::revoke;
    write "SuspendCertificate" suspend_certificate(pb::SuspendCertificateRequest) -> pb::Certificate => certificates::suspend;
    write "ReinstateCertificate" reinstate_certificate(pb::ReinstateCertificateRequest) -> pb::Certificate => certificates::reinstate;
    read "VerifyCertificate" verify_certificate(pb::VerifyCertificateRequest) -> pb::CredentialVerification => public::verify_certificate;
    read "VerifyCredential" verify_credential(pb::VerifyCredentialRequest) -> pb::CredentialVerification => public::verify_credential;
    read "GetStatusList" get_status_list(pb::GetStatusListRequest) -> pb::StatusList => public::status_list;
    read "ListIssuerKeys" list_issuer_keys(pb::ListIssuerKeysRequest) -> pb::ListIssuerKeysResponse => public::issuer_keys;
    create "RotateIssuerKey" rotate_issuer_key(pb::RotateIssuerKeyRequest) -> pb::IssuerKey => public::rotate_key;
    read "ListAuditEntries" list_audit_entries(shequ_proto::audit::v1::ListAuditEntriesRequest) -> shequ_proto::audit::v1::ListAuditEntriesResponse => @kit shequ_kit::audit::list_entries;
    read "VerifyAuditLog" verify_audit_log(shequ_proto::audit::v1::VerifyAuditLogRequest) -> shequ_proto::audit::v1::VerifyAuditLogResponse => @kit shequ_kit::audit::verify_log;
    }
}

// ------------------------------------------------------------------------------------------------
// Who may do what (the README's role table is the same rules)

/// Administrators change training records within their scope.
pub(crate) const ADMINS: &[Role] = &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
/// Staff read training records within their scope.
pub(crate) const READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
];
/// Staff and the secretary reading their own record.
pub(crate) const OWN_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
    Role::Secretary,
];

/// True when the caller is the secretary `name` (the token's claim), within their own scope.
pub(crate) fn is_secretary(caller: &Caller, name: &str, region: RegionCode) -> bool {
    caller.has_any(&[Role::Secretary])
        && caller.secretary.as_deref() == Some(name)
        && caller.covers(region)
}

pub(crate) fn region_of(text: &str) -> Result<RegionCode, Error> {
    RegionCode::parse(text).map_err(|e| Error::internal(anyhow::anyhow!("stored region: {e}")))
}

/// A province named by the caller: their own, or PERMISSION_DENIED REGION_OUT_OF_SCOPE.
pub(crate) fn own_province(caller: &Caller, province: RegionCode) -> Result<(), Error> {
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

pub(crate) fn secretary_name(id: &str) -> String {
    format!("secretaries/{id}")
}

/// `provinces/{code}[/suffix...]` → a known province.
pub(crate) fn province(
    ctx: &Context,
    field: &str,
    name: &str,
    suffix: &[&str],
) -> Result<RegionCode, Error> {
    let mut pattern = vec!["provinces", "*"];
    pattern.extend_from_slice(suffix);
    let found = ids(field, name, &pattern)?;
    ctx.kit
        .regions
        .known_at(found[0], shequ_kit::regions::Level::Province)
        .map_err(|e| shequ_kit::names::region_error(field, e))
}

/// A secretary training knows of, for reading: staff covering their region, or the secretary.
pub(crate) async fn readable_secretary(
    ctx: &Context,
    call: &Call,
    id: &str,
    operation: &str,
) -> Result<store::Secretary, Error> {
    let caller = call.caller();
    caller.require_any(OWN_READERS, operation)?;
    let name = secretary_name(id);
    let found = store::secretary(&ctx.kit.database, id).await?;
    match found {
        Some(s) => {
            let region = region_of(&s.region)?;
            if (caller.has_any(READERS) && caller.covers(region))
                || is_secretary(caller, &name, region)
            {
                call.target(&name, region);
                Ok(s)
            } else {
                Err(Error::not_found(name))
            }
        }
        None => Err(Error::not_found(name)),
    }
}

/// A secretary training knows of, for a change by `roles` covering their region.
pub(crate) async fn writable_secretary(
    ctx: &Context,
    call: &Call,
    id: &str,
    roles: &[Role],
    operation: &str,
) -> Result<store::Secretary, Error> {
    let caller = call.caller();
    caller.require_any(roles, operation)?;
    let name = secretary_name(id);
    match store::secretary(&ctx.kit.database, id).await? {
        Some(s) if caller.covers(region_of(&s.region)?) => {
            call.target(&name, region_of(&s.region)?);
            Ok(s)
        }
        _ => Err(Error::not_found(name)),
    }
}

// ------------------------------------------------------------------------------------------------
// Wire enums

shequ_kit::wire_enum!(layer, layer_pb, pb::CourseLayer, crate::domain::Layer {
    Basic <=> Basic,
    Professional <=> Professional,
    Extension <=> Extension,
});

shequ_kit::wire_enum!(level, level_pb, pb::CertificateLevel, crate::domain::Level {
    Basic <=> Basic,
    Advanced <=> Advanced,
    Senior <=> Senior,
});

shequ_kit::wire_enum!(module, module_pb, pb::ExamModule, crate::domain::Module {
    SystemOperation <=> SystemOperation,
    DataInterpretation <=> DataInterpretation,
    DataAnalysis <=> DataAnalysis,
    PlatformDevelopment <=> PlatformDevelopment,
    SmartDecisionMaking <=> SmartDecisionMaking,
    EcosystemBuilding <=> EcosystemBuilding,
});

pub(crate) fn stored_layer(code: &str) -> pb::CourseLayer {
    crate::domain::Layer::parse(code).map_or(pb::CourseLayer::Unspecified, layer_pb)
}

/// The wire value of a stored level code, for feed payloads.
pub(crate) fn stored_level_code(code: &str) -> i32 {
    stored_level(code) as i32
}

pub(crate) use certificates::publish_revoked;

pub(crate) fn stored_level(code: &str) -> pb::CertificateLevel {
    crate::domain::Level::parse(code).map_or(pb::CertificateLevel::Unspecified, level_pb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_their_ids_and_anything_else_is_named_in_the_error() {
        assert_eq!(
            ids(
                "name",
                "courses/c1/sessions/s2",
                &["courses", "*", "sessions", "*"]
            )
            .unwrap(),
            ["c1", "s2"]
        );
        for bad in [
            "courses/c1",
            "courses/c1/session/s2",
            "courses/../sessions/x",
            "courses/c1/sessions/s2/x",
        ] {
            let error = ids("name", bad, &["courses", "*", "sessions", "*"]).unwrap_err();
            assert!(
                error.to_string().contains("courses/{id}/sessions/{id}"),
                "{error}"
            );
        }
    }
}
