//! The cross-cutting duties of every RPC, applied in one place: the verified caller, refusal
//! logging, the audit entry of every write (committed with the change itself through
//! [`crate::audit::commit`], or recorded here for a refusal) and of every read of unmasked personal
//! data, and exactly-once writes for client request ids.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::{
    Error,
    audit::{AuditLog, AuditRecord, OwedEntry, owing, record_for, with_target},
    auth::Caller,
    clock::Clock,
    idempotency::{self, Claim, Idempotency, Outcome},
};

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
        .map_or_else(crate::convert::new_id, str::to_owned)
}

/// The client's idempotency key of a write: the `request_id` field, else the
/// `idempotency-key` metadata.
fn client_request_id<T>(request: &Request<T>, field: impl Fn(&T) -> &str) -> Option<String> {
    let field = field(request.get_ref());
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

/// Runs calls with the suite's cross-cutting duties: audit and idempotency.
#[derive(Debug, Clone)]
pub struct Recorder {
    audit: AuditLog,
    idempotency: Idempotency,
    clock: Arc<dyn Clock>,
}

impl Recorder {
    /// A recorder writing to `audit` and keeping idempotency records in `idempotency`.
    pub fn new(audit: AuditLog, idempotency: Idempotency, clock: Arc<dyn Clock>) -> Self {
        Recorder {
            audit,
            idempotency,
            clock,
        }
    }

    /// Serves a read; audited only when the handler reports personal data returned unmasked.
    pub async fn read<Req, Resp, Fut>(
        &self,
        action: &'static str,
        request: Request<Req>,
        handler: impl FnOnce(Caller, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let caller = Caller::of(&request)?;
        let request_id = request_id(&request);
        let (outcome, target) = with_target(handler(caller.clone(), request.into_inner())).await;
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

    /// Serves a write: exactly once per client request id (the `request_id_field` of the message,
    /// or the `idempotency-key` metadata), and always audited with its outcome.
    pub async fn write<Req, Resp, Fut>(
        &self,
        action: &'static str,
        request: Request<Req>,
        request_id_field: impl Fn(&Req) -> &str,
        handler: impl FnOnce(Caller, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let caller = Caller::of(&request)?;
        let request_id = request_id(&request);
        let idempotency_key = match client_request_id(&request, request_id_field) {
            Some(id) => {
                to_status(idempotency::validate_request_id(&id))?;
                let key = idempotency::key(&caller.subject, &id);
                let fingerprint = idempotency::fingerprint(action, request.get_ref());
                match to_status(
                    self.idempotency
                        .claim::<Resp>(&key, action, &fingerprint, self.clock.now())
                        .await,
                )? {
                    Claim::Replay(Outcome::Done(response)) => return Ok(Response::new(response)),
                    Claim::Replay(Outcome::Failed(status)) => return Err(status),
                    Claim::Run => Some(key),
                }
            }
            None => None,
        };
        let owed = OwedEntry {
            log: self.audit.clone(),
            caller: caller.clone(),
            action,
            request_id: request_id.clone(),
            clock: Arc::clone(&self.clock),
        };
        let ((outcome, target), recorded) = owing(
            owed,
            with_target(handler(caller.clone(), request.into_inner())),
        )
        .await;
        let outcome = to_status(outcome);
        if let Some(key) = idempotency_key {
            let stored = match &outcome {
                Err(status) if !replayable(status) => self.idempotency.release(&key).await,
                _ => self.idempotency.finish(&key, &outcome).await,
            };
            if let Err(error) = stored {
                tracing::error!(%error, "cannot record the outcome of an idempotent call");
            }
        }
        // A change the handler committed carries its entry already; refusals and failures (or a
        // handler that commits without `audit::commit`) are recorded here.
        if !recorded {
            let code = outcome
                .as_ref()
                .map_or_else(Status::code, |_| tonic::Code::Ok);
            self.audit(record_for(&caller, action, &target, &request_id, code))
                .await;
        }
        outcome.map(Response::new)
    }

    async fn audit(&self, record: AuditRecord) {
        if let Err(error) = self.audit.append(record, self.clock.now()).await {
            // The call itself has completed; losing its audit entry is an operational alarm.
            tracing::error!(%error, "AUDIT ENTRY NOT RECORDED");
        }
    }
}

/// Implements a generated tonic service trait by delegating every RPC to a handler
/// `async fn(&Context, &Caller, Request) -> Result<Response, Error>`, through the [`Recorder`] at
/// `self.ctx.recorder` (`self.ctx` is an `Arc<Context>`):
///
/// - `read`: audited only when the handler notes personal data returned unmasked;
/// - `write`: always audited; exactly once per `idempotency-key` metadata;
/// - `create`: as `write`, and the message's `request_id` field also serves as the key.
///
/// The `async_trait` attribute is part of the expansion so that it sees the generated methods.
#[macro_export]
macro_rules! grpc_service {
    (impl $service:ident for $api:ty {
        $($kind:ident $name:literal $method:ident($req:ty) -> $resp:ty => $handler:path;)+
    }) => {
        #[::tonic::async_trait]
        impl $service for $api {
            $(
                async fn $method(
                    &self,
                    request: ::tonic::Request<$req>,
                ) -> ::std::result::Result<::tonic::Response<$resp>, ::tonic::Status> {
                    let ctx = self.ctx.clone();
                    let handler = |caller: $crate::auth::Caller, message: $req| async move {
                        $handler(&ctx, &caller, message).await
                    };
                    $crate::grpc_service!(@call $kind self.ctx.recorder, $name, request, $req, handler)
                }
            )+
        }
    };
    (@call read $recorder:expr, $name:literal, $request:ident, $req:ty, $handler:ident) => {
        $recorder.read($name, $request, $handler).await
    };
    (@call write $recorder:expr, $name:literal, $request:ident, $req:ty, $handler:ident) => {
        $recorder.write($name, $request, |_: &$req| "", $handler).await
    };
    (@call create $recorder:expr, $name:literal, $request:ident, $req:ty, $handler:ident) => {
        $recorder.write($name, $request, |message: &$req| message.request_id.as_str(), $handler).await
    };
}
