//! The gRPC face of the personnel service: authenticates nothing itself (the kit's interceptor has
//! attached a verified caller), authorises every call, parses the request into domain types, and
//! maps every failure through the kit's one error type.

mod access;
mod audit;
mod careers;
mod convert;
mod names;
mod policies;
mod reserve;
mod secretaries;
mod validate;

use std::{borrow::Cow, sync::Arc};

use shequ_kit::{
    Error,
    audit::{AuditLog, record_for, with_target},
    auth::Caller,
    clock::Clock,
    idempotency::{self, Claim, Idempotency, Outcome},
    paging::PageTokens,
    regions::Regions,
};
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
    pub(crate) audit: AuditLog,
    pub(crate) idempotency: Idempotency,
}

/// The implementation of `shequ.personnel.v1.PersonnelService`.
#[derive(Debug, Clone)]
pub struct PersonnelApi {
    ctx: Arc<Context>,
}

impl PersonnelApi {
    /// An API over `store`, validating regions against `regions`, recording its calls in
    /// `audit`.
    pub fn new(
        store: Store,
        regions: Cow<'static, Regions>,
        tokens: PageTokens,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
    ) -> Self {
        let idempotency = Idempotency::new(store.database().clone());
        PersonnelApi {
            ctx: Arc::new(Context {
                store,
                regions,
                tokens,
                clock,
                audit,
                idempotency,
            }),
        }
    }
}

/// Maps a handler's outcome to gRPC, logging refusals without their (possibly personal) inputs.
fn to_status<T>(outcome: Result<T, Error>) -> Result<T, Status> {
    outcome.map_err(|error| {
        tracing::info!(code = ?error.code(), error = %error, "call refused");
        error.into_status()
    })
}

/// The request id of a call: the gateway's `x-request-id`, or a new one for direct callers.
fn request_id<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(shequ_kit::convert::new_id, str::to_owned)
}

/// The client's idempotency key of a write: the `request_id` field, else the
/// `idempotency-key` metadata.
fn client_request_id<T: HasRequestId>(request: &Request<T>) -> Option<String> {
    let field = request.get_ref().request_id();
    if !field.is_empty() {
        return Some(field.to_owned());
    }
    request
        .metadata()
        .get(idempotency::METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Write requests that may carry a client request id (AIP-155).
trait HasRequestId {
    fn request_id(&self) -> &str {
        ""
    }
}

macro_rules! request_id_field {
    ($($with:ty),* ; $($without:ty),*) => {
        $(impl HasRequestId for $with { fn request_id(&self) -> &str { &self.request_id } })*
        $(impl HasRequestId for $without {})*
    };
}

request_id_field!(
    pb::CreateSecretaryRequest, pb::PromoteSecretaryRequest, pb::CreateCareerEventRequest,
    pb::CreateNegativeListItemRequest, pb::CreateViolationRequest, pb::CreateReserveCandidateRequest;
    pb::UpdateSecretaryRequest, pb::UpdateQualificationStandardRequest, pb::UpdateCareerPolicyRequest,
    pb::UpdateNegativeListItemRequest, pb::UpdateReserveCandidateRequest
);

/// Outcomes worth replaying to a retry: a transient failure is not, the retry should run.
fn replayable(status: &Status) -> bool {
    !matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::Internal
            | tonic::Code::Aborted
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
    )
}

impl PersonnelApi {
    /// Serves a read; audited only when the handler reports personal data returned unmasked.
    async fn read<Req, Resp, Fut>(
        &self,
        action: &'static str,
        request: Request<Req>,
        handler: impl FnOnce(Arc<Context>, Caller, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let caller = Caller::of(&request)?;
        let request_id = request_id(&request);
        let (outcome, target) = with_target(handler(
            self.ctx.clone(),
            caller.clone(),
            request.into_inner(),
        ))
        .await;
        let outcome = to_status(outcome);
        if target.sensitive_read {
            let code = outcome
                .as_ref()
                .map_or_else(Status::code, |_| tonic::Code::Ok);
            self.audit(record_for(&caller, action, &target, &request_id, code))
                .await;
        }
        outcome.map(Response::new)
    }

    /// Serves a write: exactly once per client request id, and always audited with its outcome.
    async fn write<Req, Resp, Fut>(
        &self,
        action: &'static str,
        request: Request<Req>,
        handler: impl FnOnce(Arc<Context>, Caller, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Req: HasRequestId + shequ_proto::prost::Message,
        Resp: shequ_proto::prost::Message + Default,
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let caller = Caller::of(&request)?;
        let request_id = request_id(&request);
        let idempotency_key = match client_request_id(&request) {
            Some(id) => {
                to_status(idempotency::validate_request_id(&id))?;
                let key = idempotency::key(&caller.subject, &id);
                let fingerprint = idempotency::fingerprint(action, request.get_ref());
                match to_status(
                    self.ctx
                        .idempotency
                        .claim::<Resp>(&key, action, &fingerprint, self.ctx.clock.now())
                        .await,
                )? {
                    Claim::Replay(Outcome::Done(response)) => return Ok(Response::new(response)),
                    Claim::Replay(Outcome::Failed(status)) => return Err(status),
                    Claim::Run => Some(key),
                }
            }
            None => None,
        };
        let (outcome, target) = with_target(handler(
            self.ctx.clone(),
            caller.clone(),
            request.into_inner(),
        ))
        .await;
        let outcome = to_status(outcome);
        if let Some(key) = idempotency_key {
            let stored = match &outcome {
                Err(status) if !replayable(status) => self.ctx.idempotency.release(&key).await,
                _ => self.ctx.idempotency.finish(&key, &outcome).await,
            };
            if let Err(error) = stored {
                tracing::error!(%error, "cannot record the outcome of an idempotent call");
            }
        }
        let code = outcome
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.audit(record_for(&caller, action, &target, &request_id, code))
            .await;
        outcome.map(Response::new)
    }

    async fn audit(&self, record: shequ_kit::audit::AuditRecord) {
        if let Err(error) = self.ctx.audit.append(record, self.ctx.clock.now()).await {
            // The call itself has completed; losing its audit entry is an operational alarm.
            tracing::error!(%error, "AUDIT ENTRY NOT RECORDED");
        }
    }
}

/// Implements every RPC by delegating to a handler function `fn(&Context, &Caller, Req)`: `read`
/// RPCs are audited when they return personal data unmasked, `write` RPCs always, and writes honour
/// client request ids. The `async_trait` attribute is part of the expansion so that it sees the
/// generated methods.
macro_rules! personnel_service {
    ($($kind:ident $name:literal $method:ident($req:ty) -> $resp:ty => $handler:path;)+) => {
        #[tonic::async_trait]
        impl PersonnelService for PersonnelApi {
            $(
                async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    self.$kind($name, request, |ctx, caller, message| async move { $handler(&ctx, &caller, message).await }).await
                }
            )+
        }
    };
}

personnel_service! {
    write "CreateSecretary" create_secretary(pb::CreateSecretaryRequest) -> pb::Secretary => secretaries::create;
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
    write "PromoteSecretary" promote_secretary(pb::PromoteSecretaryRequest) -> pb::PromoteSecretaryResponse => careers::promote;
    write "CreateCareerEvent" create_career_event(pb::CreateCareerEventRequest) -> pb::CareerEvent => careers::create_event;
    read "GetCareerEvent" get_career_event(pb::GetCareerEventRequest) -> pb::CareerEvent => careers::get_event;
    read "ListCareerEvents" list_career_events(pb::ListCareerEventsRequest) -> pb::ListCareerEventsResponse => careers::list_events;
    read "ListNegativeListItems" list_negative_list_items(pb::ListNegativeListItemsRequest) -> pb::ListNegativeListItemsResponse => policies::list_items;
    read "GetNegativeListItem" get_negative_list_item(pb::GetNegativeListItemRequest) -> pb::NegativeListItem => policies::get_item;
    write "CreateNegativeListItem" create_negative_list_item(pb::CreateNegativeListItemRequest) -> pb::NegativeListItem => policies::create_item;
    write "UpdateNegativeListItem" update_negative_list_item(pb::UpdateNegativeListItemRequest) -> pb::NegativeListItem => policies::update_item;
    write "CreateViolation" create_violation(pb::CreateViolationRequest) -> pb::Violation => careers::create_violation;
    read "ListViolations" list_violations(pb::ListViolationsRequest) -> pb::ListViolationsResponse => careers::list_violations;
    write "CreateReserveCandidate" create_reserve_candidate(pb::CreateReserveCandidateRequest) -> pb::ReserveCandidate => reserve::create;
    read "GetReserveCandidate" get_reserve_candidate(pb::GetReserveCandidateRequest) -> pb::ReserveCandidate => reserve::get;
    read "ListReserveCandidates" list_reserve_candidates(pb::ListReserveCandidatesRequest) -> pb::ListReserveCandidatesResponse => reserve::list;
    write "UpdateReserveCandidate" update_reserve_candidate(pb::UpdateReserveCandidateRequest) -> pb::ReserveCandidate => reserve::update;
    read "GetReservePoolProgress" get_reserve_pool_progress(pb::GetReservePoolProgressRequest) -> pb::ReservePoolProgress => reserve::progress;
    read "GetWorkforceStatistics" get_workforce_statistics(pb::GetWorkforceStatisticsRequest) -> pb::WorkforceStatistics => reserve::statistics;
    read "ListAuditEntries" list_audit_entries(shequ_proto::audit::v1::ListAuditEntriesRequest) -> shequ_proto::audit::v1::ListAuditEntriesResponse => audit::list;
}
