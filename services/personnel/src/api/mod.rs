//! The gRPC face of the personnel service: authenticates nothing itself (the kit's interceptor has
//! attached a verified caller), authorises every call, parses the request into domain types, and
//! maps every failure through the kit's one error type.

mod access;
mod careers;
mod convert;
mod names;
mod policies;
mod reserve;
mod secretaries;

use shequ_kit::service::Kit;
use shequ_proto::personnel::v1::{
    self as pb,
    personnel_service_server::{PersonnelService, PersonnelServiceServer},
};

use crate::store::Store;

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) kit: Kit,
    pub(crate) store: Store,
    /// How current training's feed is here; `None` where training is not deployed.
    pub(crate) training: Option<shequ_kit::feed::FeedStatus>,
    /// How current evaluation's feed is here; `None` where evaluation is not deployed.
    pub(crate) evaluation: Option<shequ_kit::feed::FeedStatus>,
}

shequ_kit::grpc_service! {
    /// The implementation of `shequ.personnel.v1.PersonnelService`.
    pub struct PersonnelApi(Context): PersonnelService via PersonnelServiceServer {
    create "CreateSecretary" create_secretary(pb::CreateSecretaryRequest) -> pb::Secretary => secretaries::create;
    read "GetSecretary" get_secretary(pb::GetSecretaryRequest) -> pb::Secretary => secretaries::get;
    read "ListSecretaries" list_secretaries(pb::ListSecretariesRequest) -> pb::ListSecretariesResponse => secretaries::list;
    write "UpdateSecretary" update_secretary(pb::UpdateSecretaryRequest) -> pb::Secretary => secretaries::update;
    read "GetQualificationStandard" get_qualification_standard(pb::GetQualificationStandardRequest) -> pb::QualificationStandard => policies::get_standard;
    write "UpdateQualificationStandard" update_qualification_standard(pb::UpdateQualificationStandardRequest) -> pb::QualificationStandard => policies::update_standard;
    read "CheckSecretaryQualification" check_secretary_qualification(pb::CheckSecretaryQualificationRequest) -> pb::QualificationCheck => secretaries::check_qualification;
    read "CheckCandidateQualification" check_candidate_qualification(pb::CheckCandidateQualificationRequest) -> pb::QualificationCheck => policies::check_candidate;
    read "GetCareerPolicy" get_career_policy(pb::GetCareerPolicyRequest) -> pb::CareerPolicy => policies::get_career_policy;
    write "UpdateCareerPolicy" update_career_policy(pb::UpdateCareerPolicyRequest) -> pb::CareerPolicy => policies::update_career_policy;
    read "CheckPromotion" check_promotion(pb::CheckPromotionRequest) -> pb::PromotionCheck => careers::check_promotion;
    create "PromoteSecretary" promote_secretary(pb::PromoteSecretaryRequest) -> pb::PromoteSecretaryResponse => careers::promote;
    create "CreateCareerEvent" create_career_event(pb::CreateCareerEventRequest) -> pb::CareerEvent => careers::create_event;
    create "CorrectCareerEvent" correct_career_event(pb::CorrectCareerEventRequest) -> pb::CareerEvent => careers::correct_event;
    create "ReappointSecretary" reappoint_secretary(pb::ReappointSecretaryRequest) -> pb::ReappointSecretaryResponse => careers::reappoint;
    read "GetCareerEvent" get_career_event(pb::GetCareerEventRequest) -> pb::CareerEvent => careers::get_event;
    read "ListCareerEvents" list_career_events(pb::ListCareerEventsRequest) -> pb::ListCareerEventsResponse => careers::list_events;
    read "ListNegativeListItems" list_negative_list_items(pb::ListNegativeListItemsRequest) -> pb::ListNegativeListItemsResponse => policies::list_items;
    read "GetNegativeListItem" get_negative_list_item(pb::GetNegativeListItemRequest) -> pb::NegativeListItem => policies::get_item;
    create "CreateNegativeListItem" create_negative_list_item(pb::CreateNegativeListItemRequest) -> pb::NegativeListItem => policies::create_item;
    write "UpdateNegativeListItem" update_negative_list_item(pb::UpdateNegativeListItemRequest) -> pb::NegativeListItem => policies::update_item;
    create "CreateViolation" create_violation(pb::CreateViolationRequest) -> pb::Violation => careers::create_violation;
    read "GetViolation" get_violation(pb::GetViolationRequest) -> pb::Violation => careers::get_violation;
    read "ListViolations" list_violations(pb::ListViolationsRequest) -> pb::ListViolationsResponse => careers::list_violations;
    create "CreateReserveCandidate" create_reserve_candidate(pb::CreateReserveCandidateRequest) -> pb::ReserveCandidate => reserve::create;
    read "GetReserveCandidate" get_reserve_candidate(pb::GetReserveCandidateRequest) -> pb::ReserveCandidate => reserve::get;
    read "ListReserveCandidates" list_reserve_candidates(pb::ListReserveCandidatesRequest) -> pb::ListReserveCandidatesResponse => reserve::list;
    write "UpdateReserveCandidate" update_reserve_candidate(pb::UpdateReserveCandidateRequest) -> pb::ReserveCandidate => reserve::update;
    read "GetReservePoolProgress" get_reserve_pool_progress(pb::GetReservePoolProgressRequest) -> pb::ReservePoolProgress => reserve::progress;
    read "GetWorkforceStatistics" get_workforce_statistics(pb::GetWorkforceStatisticsRequest) -> pb::WorkforceStatistics => reserve::statistics;
    read "ListAuditEntries" list_audit_entries(shequ_proto::audit::v1::ListAuditEntriesRequest) -> shequ_proto::audit::v1::ListAuditEntriesResponse => @kit shequ_kit::audit::list_entries;
    read "VerifyAuditLog" verify_audit_log(shequ_proto::audit::v1::VerifyAuditLogRequest) -> shequ_proto::audit::v1::VerifyAuditLogResponse => @kit shequ_kit::audit::verify_log;
    }
}
