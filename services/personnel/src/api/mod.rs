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
mod validate;

use std::{borrow::Cow, sync::Arc};

use shequ_kit::{Error, auth::Caller, clock::Clock, paging::PageTokens, regions::Regions};
use shequ_proto::personnel::v1::{self as pb, personnel_service_server::PersonnelService};
use tonic::{Request, Response, Status};

use crate::store::Store;

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) store: Store,
    pub(crate) regions: Cow<'static, Regions>,
    pub(crate) tokens: PageTokens,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The implementation of `shequ.personnel.v1.PersonnelService`.
#[derive(Debug, Clone)]
pub struct PersonnelApi {
    ctx: Arc<Context>,
}

impl PersonnelApi {
    /// An API over `store`, validating regions against `regions`.
    pub fn new(
        store: Store,
        regions: Cow<'static, Regions>,
        tokens: PageTokens,
        clock: Arc<dyn Clock>,
    ) -> Self {
        PersonnelApi {
            ctx: Arc::new(Context {
                store,
                regions,
                tokens,
                clock,
            }),
        }
    }
}

/// Maps a handler's outcome to gRPC, logging refusals without their (possibly personal) inputs.
fn respond<T>(outcome: Result<T, Error>) -> Result<Response<T>, Status> {
    match outcome {
        Ok(response) => Ok(Response::new(response)),
        Err(error) => {
            tracing::info!(code = ?error.code(), error = %error, "call refused");
            Err(error.into_status())
        }
    }
}

/// Implements every RPC by delegating to a handler function `fn(&Context, &Caller, Req)`. The
/// `async_trait` attribute is part of the expansion so that it sees the generated methods.
macro_rules! personnel_service {
    ($($method:ident($req:ty) -> $resp:ty => $handler:path;)+) => {
        #[tonic::async_trait]
        impl PersonnelService for PersonnelApi {
            $(
                async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    let caller = Caller::of(&request)?;
                    respond($handler(&self.ctx, &caller, request.into_inner()).await)
                }
            )+
        }
    };
}

personnel_service! {
    create_secretary(pb::CreateSecretaryRequest) -> pb::Secretary => secretaries::create;
    get_secretary(pb::GetSecretaryRequest) -> pb::Secretary => secretaries::get;
    list_secretaries(pb::ListSecretariesRequest) -> pb::ListSecretariesResponse => secretaries::list;
    update_secretary(pb::UpdateSecretaryRequest) -> pb::Secretary => secretaries::update;
    get_qualification_standard(pb::GetQualificationStandardRequest) -> pb::QualificationStandard => policies::get_standard;
    update_qualification_standard(pb::UpdateQualificationStandardRequest) -> pb::QualificationStandard => policies::update_standard;
    check_secretary_qualification(pb::CheckSecretaryQualificationRequest) -> pb::QualificationCheck => secretaries::check_qualification;
    check_candidate_qualification(pb::CheckCandidateQualificationRequest) -> pb::QualificationCheck => policies::check_candidate;
    get_career_policy(pb::GetCareerPolicyRequest) -> pb::CareerPolicy => policies::get_career_policy;
    update_career_policy(pb::UpdateCareerPolicyRequest) -> pb::CareerPolicy => policies::update_career_policy;
    check_promotion(pb::CheckPromotionRequest) -> pb::PromotionCheck => careers::check_promotion;
    promote_secretary(pb::PromoteSecretaryRequest) -> pb::PromoteSecretaryResponse => careers::promote;
    create_career_event(pb::CreateCareerEventRequest) -> pb::CareerEvent => careers::create_event;
    get_career_event(pb::GetCareerEventRequest) -> pb::CareerEvent => careers::get_event;
    list_career_events(pb::ListCareerEventsRequest) -> pb::ListCareerEventsResponse => careers::list_events;
    list_negative_list_items(pb::ListNegativeListItemsRequest) -> pb::ListNegativeListItemsResponse => policies::list_items;
    get_negative_list_item(pb::GetNegativeListItemRequest) -> pb::NegativeListItem => policies::get_item;
    create_negative_list_item(pb::CreateNegativeListItemRequest) -> pb::NegativeListItem => policies::create_item;
    update_negative_list_item(pb::UpdateNegativeListItemRequest) -> pb::NegativeListItem => policies::update_item;
    create_violation(pb::CreateViolationRequest) -> pb::Violation => careers::create_violation;
    list_violations(pb::ListViolationsRequest) -> pb::ListViolationsResponse => careers::list_violations;
    create_reserve_candidate(pb::CreateReserveCandidateRequest) -> pb::ReserveCandidate => reserve::create;
    get_reserve_candidate(pb::GetReserveCandidateRequest) -> pb::ReserveCandidate => reserve::get;
    list_reserve_candidates(pb::ListReserveCandidatesRequest) -> pb::ListReserveCandidatesResponse => reserve::list;
    update_reserve_candidate(pb::UpdateReserveCandidateRequest) -> pb::ReserveCandidate => reserve::update;
    get_reserve_pool_progress(pb::GetReservePoolProgressRequest) -> pb::ReservePoolProgress => reserve::progress;
    get_workforce_statistics(pb::GetWorkforceStatisticsRequest) -> pb::WorkforceStatistics => reserve::statistics;
}
