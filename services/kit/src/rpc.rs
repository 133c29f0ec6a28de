//! The cross-cutting duties of every RPC, applied in one place: the verified caller, the grant
//! check of a component calling as itself, refusal logging, the audit entry of every write
//! (committed with the change by [`crate::call::AuditedTx`], or recorded here for a refusal) and
//! of every read of unmasked personal data, and exactly-once writes for client request ids.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tonic::{Request, Response, Status};

use crate::{
    Error,
    audit::AuditLog,
    auth::{BearerToken, Caller},
    call::{Call, CallStart},
    clock::Clock,
    grants::Grants,
    idempotency::{self, Claim, Idempotency, Outcome},
};

/// Maps a handler's outcome to gRPC, logging refusals without their (possibly personal) inputs.
fn to_status<T>(outcome: Result<T, Error>) -> Result<T, Status> {
    outcome.map_err(|error| {
        tracing::info!(code = ?error.code(), error = %error, "call refused");
        error.into_status()
    })
}

/// A sane id from metadata `key` (1-128 characters, no spaces or controls).
fn metadata_id<T>(request: &Request<T>, key: &str) -> Option<String> {
    request
        .metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
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

/// The `grpc-timeout` the client sent (`<digits><H|M|S|m|u|n>`), as a duration.
fn grpc_timeout<T>(request: &Request<T>) -> Option<Duration> {
    let text = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
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

/// Runs calls with the suite's cross-cutting duties: grants, audit and idempotency.
#[derive(Debug, Clone)]
pub struct Recorder {
    audit: AuditLog,
    idempotency: Idempotency,
    clock: Arc<dyn Clock>,
    grants: Grants,
}

impl Recorder {
    /// A recorder writing to `audit`, keeping idempotency records in `idempotency`, and letting
    /// components call what `grants` allows.
    pub fn new(
        audit: AuditLog,
        idempotency: Idempotency,
        clock: Arc<dyn Clock>,
        grants: Grants,
    ) -> Self {
        Recorder {
            audit,
            idempotency,
            clock,
            grants,
        }
    }

    /// The grant table.
    pub fn grants(&self) -> Grants {
        self.grants
    }

    /// The call a request starts (its caller and token move from the request into the call).
    fn start<T>(&self, action: &'static str, request: &mut Request<T>) -> Result<Call, Error> {
        let caller = request
            .extensions_mut()
            .remove::<Caller>()
            .ok_or(Error::Unauthenticated {
                reason: "TOKEN_MISSING",
                message: "no verified caller on this request".to_owned(),
            })?;
        let token = request
            .extensions_mut()
            .remove::<BearerToken>()
            .map(|t| t.0);
        Ok(Call::new(
            CallStart {
                caller,
                token,
                action,
                request_id: metadata_id(request, "x-request-id")
                    .unwrap_or_else(crate::convert::new_id),
                client_request_id: metadata_id(request, "x-client-request-id"),
                deadline: grpc_timeout(request).map(|t| Instant::now() + t),
            },
            self.audit.clone(),
            Arc::clone(&self.clock),
        ))
    }

    /// Serves a read; audited when the handler reports personal data returned unmasked, and when
    /// it is refused (PERMISSION_DENIED, or NOT_FOUND, which is also how a record of another
    /// district is refused): auditors see who probed what.
    pub async fn read<Req, Resp, Fut>(
        &self,
        action: &'static str,
        mut request: Request<Req>,
        handler: impl FnOnce(Call, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let call = to_status(self.start(action, &mut request))?;
        if let Err(refused) = self.grants.check(call.caller(), action) {
            call.record_outcome(refused.code()).await;
            return Err(to_status::<()>(Err(refused)).unwrap_err());
        }
        let outcome = to_status(handler(call.clone(), request.into_inner()).await);
        let code = outcome
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        let refused = matches!(code, tonic::Code::PermissionDenied | tonic::Code::NotFound);
        if call.is_sensitive_read() || refused {
            call.record_outcome(code).await;
        }
        outcome.map(Response::new)
    }

    /// Starts the call of a client-streaming RPC, whose messages the handler reads itself: the
    /// verified caller and the grant check (a refusal is audited, as for a write). The handler
    /// applies each message in an audited transaction of the call (each commit writes its
    /// entry) and records the outcome with [`Call::record_outcome`] when nothing committed.
    /// Client request ids do not apply to a stream: the service makes its messages idempotent
    /// itself (a sequence number per sender, say).
    pub async fn start_stream<T>(
        &self,
        action: &'static str,
        request: &mut Request<T>,
    ) -> Result<Call, Status> {
        let call = to_status(self.start(action, request))?;
        if let Err(refused) = self.grants.check(call.caller(), action) {
            call.record_outcome(refused.code()).await;
            return Err(to_status::<()>(Err(refused)).unwrap_err());
        }
        Ok(call)
    }

    /// Serves a write: exactly once per client request id (the `request_id_field` of the message,
    /// or the `idempotency-key` metadata), and always audited with its outcome.
    pub async fn write<Req, Resp, Fut>(
        &self,
        action: &'static str,
        mut request: Request<Req>,
        request_id_field: impl Fn(&Req) -> &str,
        handler: impl FnOnce(Call, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let call = to_status(self.start(action, &mut request))?;
        if let Err(refused) = self.grants.check(call.caller(), action) {
            call.record_outcome(refused.code()).await;
            return Err(to_status::<()>(Err(refused)).unwrap_err());
        }
        let idempotency_key = match client_request_id(&request, request_id_field) {
            Some(id) => {
                to_status(idempotency::validate_request_id(&id))?;
                let key = idempotency::key(&call.caller().subject, &id);
                let fingerprint = idempotency::fingerprint(action, request.get_ref());
                match to_status(
                    self.idempotency
                        .claim::<Resp>(&key, action, &fingerprint, &*self.clock)
                        .await,
                )? {
                    Claim::Replay(Outcome::Done(response)) => return Ok(Response::new(response)),
                    Claim::Replay(Outcome::Failed(status)) => return Err(status),
                    Claim::Run => Some(key),
                }
            }
            None => None,
        };
        let outcome = to_status(handler(call.clone(), request.into_inner()).await);
        if let Some(key) = idempotency_key {
            let stored = match &outcome {
                Err(status) if !replayable(status) => self.idempotency.release(&key).await,
                _ => self.idempotency.finish(&key, &outcome).await,
            };
            if let Err(error) = stored {
                tracing::error!(%error, "cannot record the outcome of an idempotent call");
            }
        }
        // A change the handler committed carries its entry already; refusals and failures are
        // recorded here.
        if !call.recorded() {
            let code = outcome
                .as_ref()
                .map_or_else(Status::code, |_| tonic::Code::Ok);
            call.record_outcome(code).await;
        }
        outcome.map(Response::new)
    }
}

/// Declares a service's gRPC API type and implements the generated tonic service trait on it by
/// delegating every RPC to a handler `async fn(&Context, &Call, Request) -> Result<Response,
/// Error>`, through the [`Recorder`] at `context.kit.recorder` (the context must hold the
/// service's [`crate::service::Kit`] as `kit`):
///
/// - `read`: audited only when the handler notes personal data returned unmasked;
/// - `write`: always audited; exactly once per `idempotency-key` metadata;
/// - `create`: as `write`, and the message's `request_id` field also serves as the key.
///
/// A handler written once in the kit for every service takes the [`crate::service::Kit`] instead
/// of the context: `=> @kit shequ_kit::audit::list_entries` (and `verify_log`), which serve the
/// auditors' `ListAuditEntries` and `VerifyAuditLog`.
///
/// It also implements [`crate::service::GrpcApi`], which builds the generated server with the
/// kit's message-size limits, so no service can forget them.
///
/// RPCs that are not unary (a client-streaming ingest, say) are written by hand after the list,
/// in a `by hand { ... }` block whose items go into the same trait implementation; they start
/// their call with [`Recorder::start_stream`] (or use [`Recorder::read`] / [`Recorder::write`]
/// when they need the request's metadata).
///
/// ```ignore
/// shequ_kit::grpc_service! {
///     /// The implementation of `shequ.identity.v1.ApiKeyService`.
///     pub struct IdentityApi(Context): ApiKeyService via ApiKeyServiceServer {
///         create "CreateApiKey" create_api_key(pb::CreateApiKeyRequest) -> pb::CreateApiKeyResponse => create;
///         read "GetApiKey" get_api_key(pb::GetApiKeyRequest) -> pb::ApiKey => get;
///     }
/// }
/// ```
#[macro_export]
macro_rules! grpc_service {
    (
        $(#[$meta:meta])*
        $vis:vis struct $api:ident($ctx:ty): $service:ident via $server:ident {
            $($kind:ident $name:literal $method:ident($req:ty) -> $resp:ty => $(@$on:ident)? $handler:path;)+
        }
        $(by hand { $($manual:tt)* })?
    ) => {
        $(#[$meta])*
        #[derive(Clone)]
        $vis struct $api {
            ctx: ::std::sync::Arc<$ctx>,
        }

        impl $api {
            /// The API over `ctx`.
            pub(crate) fn new(ctx: $ctx) -> Self {
                $api { ctx: ::std::sync::Arc::new(ctx) }
            }
        }

        impl ::std::fmt::Debug for $api {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(stringify!($api))
            }
        }

        impl $crate::service::GrpcApi for $api {
            type Server = $server<$api>;

            fn into_server(self) -> Self::Server {
                $server::new(self)
                    .max_decoding_message_size($crate::server::MAX_REQUEST_BYTES)
                    .max_encoding_message_size($crate::server::MAX_RESPONSE_BYTES)
            }
        }

        #[::tonic::async_trait]
        impl $service for $api {
            $(
                async fn $method(
                    &self,
                    request: ::tonic::Request<$req>,
                ) -> ::std::result::Result<::tonic::Response<$resp>, ::tonic::Status> {
                    let ctx = ::std::sync::Arc::clone(&self.ctx);
                    let handler = |call: $crate::call::Call, message: $req| async move {
                        $crate::grpc_service!(@invoke [$($on)?] $handler, ctx, call, message)
                    };
                    $crate::grpc_service!(@call $kind self.ctx.kit.recorder, $name, request, $req, handler)
                }
            )+
            $($($manual)*)?
        }
    };
    // A service's handler takes its context; a kit handler (`=> @kit path`), the kit.
    (@invoke [] $handler:path, $ctx:ident, $call:ident, $message:ident) => {
        $handler(&*$ctx, &$call, $message).await
    };
    (@invoke [kit] $handler:path, $ctx:ident, $call:ident, $message:ident) => {
        $handler(&$ctx.kit, &$call, $message).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        let with = |value: &str| {
            let mut request = Request::new(());
            request
                .metadata_mut()
                .insert("grpc-timeout", value.parse().unwrap());
            grpc_timeout(&request)
        };
        assert_eq!(with("3S"), Some(Duration::from_secs(3)));
        assert_eq!(with("250m"), Some(Duration::from_millis(250)));
        assert_eq!(with("2M"), Some(Duration::from_secs(120)));
        assert_eq!(with("7u"), Some(Duration::from_micros(7)));
        assert_eq!(with("x"), None);
        assert_eq!(with("5Q"), None);
    }

    #[tokio::test]
    async fn a_stream_starts_its_call_after_the_grant_check_and_audits_a_refusal() {
        use crate::{
            auth::{Role, SERVICE_SUBJECT_PREFIX},
            clock::ManualClock,
            config::{DatabaseConfig, MigrateMode, Secret},
            db::{Database, KIT_MIGRATIONS},
            grants::Grant,
            testing::{TestDatabase, caller},
        };
        let test = TestDatabase::create().await;
        let db = Database::connect(&DatabaseConfig {
            url: Secret::new(test.url()),
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        db.migrate(&KIT_MIGRATIONS, MigrateMode::Run).await.unwrap();
        let log = AuditLog::new(db.clone(), [5; 32]);
        static GRANTS: &[Grant] = &[Grant {
            component: "evaluation",
            operations: &["IngestReadings"],
        }];
        let recorder = Recorder::new(
            log.clone(),
            Idempotency::new(
                db.clone(),
                crate::crypto::Keys::from_master(&crate::crypto::Keys::generate_master())
                    .unwrap()
                    .personal_data,
            ),
            Arc::new(ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap())),
            Grants::new(GRANTS),
        );
        let request = |who: Caller| {
            let mut request = Request::new(());
            request.extensions_mut().insert(who);
            request
        };
        // a person: the call starts with their identity, nothing is recorded yet
        let person = caller(Role::Integration, "440305000000");
        let call = recorder
            .start_stream("IngestReadings", &mut request(person.clone()))
            .await
            .unwrap();
        assert_eq!(call.caller(), &person);
        assert_eq!(call.action(), "IngestReadings");
        // a component without the grant: refused before any handler, and audited
        let training = Caller {
            subject: format!("{SERVICE_SUBJECT_PREFIX}training"),
            roles: vec![Role::Service],
            ..caller(Role::Service, "440000000000")
        };
        let refused = recorder
            .start_stream("IngestReadings", &mut request(training))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        let entries = log
            .query(&crate::audit::AuditFilter::default(), 0, 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].actor.as_str(), entries[0].outcome.as_str()),
            ("service:training", "PERMISSION_DENIED")
        );
        // no verified caller at all
        let anonymous = recorder
            .start_stream("IngestReadings", &mut Request::new(()))
            .await
            .unwrap_err();
        assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    }
}
