//! Every way a gateway request can fail, mapped in one exhaustive `match` onto an HTTP status and
//! an `application/problem+json` body (RFC 9457) that carries the gRPC code name, the
//! `google.rpc.ErrorInfo` reason, domain and metadata, and the `BadRequest` /
//! `PreconditionFailure` violations decoded from `grpc-status-details-bin`.
//!
//! gRPC codes map to HTTP as `google/rpc/code.proto` specifies ([`http_status`]).

use crate::auth::AuthError;
use std::{collections::BTreeMap, time::Duration};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use tonic::Code;
use tonic_types::StatusExt;

/// `ErrorInfo.domain` of errors the gateway itself produces (the services use `shequ`).
pub const GATEWAY_DOMAIN: &str = "gateway.shequ";

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Client input the gateway could not turn into a request message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// UPPER_SNAKE reason, e.g. `UNKNOWN_FIELD`.
    pub reason: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// The offending field, path parameter or query parameter, when known.
    pub field: Option<String>,
}

impl InputError {
    /// An input error about `field`.
    pub fn field(
        reason: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        InputError {
            reason,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// An input error about the request as a whole.
    pub fn general(reason: &'static str, message: impl Into<String>) -> Self {
        InputError {
            reason,
            message: message.into(),
            field: None,
        }
    }
}

/// Every failure of a transcoded request.
#[derive(Debug)]
pub enum GatewayError {
    /// No route has this path.
    RouteNotFound,
    /// The path exists under other methods.
    MethodNotAllowed {
        /// The methods the path accepts.
        allowed: Vec<Method>,
    },
    /// The path, query or body does not make a valid request message.
    BadInput(InputError),
    /// The body is not JSON.
    UnsupportedMediaType {
        /// The content type sent.
        content_type: String,
    },
    /// The body exceeds the configured limit.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The service of the route has no configured backend.
    BackendNotConfigured {
        /// Full gRPC service name.
        service: String,
    },
    /// The backend (or the transport to it) answered with a non-OK status.
    Backend(tonic::Status),
    /// The deadline passed before the backend answered.
    DeadlineExceeded {
        /// The deadline that applied.
        deadline: Duration,
    },
    /// The backend answered with bytes that do not decode as the response message.
    BadBackendResponse(String),
    /// The client could not be authenticated, is locked out or over its rate.
    Auth(crate::auth::AuthError),
}

/// One `BadRequest.FieldViolation`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path, e.g. `secretary.id_number`.
    pub field: String,
    /// What is wrong.
    pub description: String,
    /// UPPER_SNAKE rule, e.g. `ID_NUMBER_CHECK_DIGIT`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One `PreconditionFailure.Violation`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// Kind, e.g. `PREREQUISITE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What failed, e.g. `YEARS_ON_CURRENT_RUNG`.
    pub subject: String,
    /// How it failed.
    pub description: String,
}

/// The `application/problem+json` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `urn:shequ:problem:<REASON>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// The error message.
    pub detail: String,
    /// gRPC code name, e.g. `INVALID_ARGUMENT`.
    pub code: &'static str,
    /// `ErrorInfo.reason`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// `ErrorInfo.domain`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// `ErrorInfo.metadata`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// `BadRequest.field_violations`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_violations: Vec<FieldViolation>,
    /// `PreconditionFailure.violations`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub precondition_violations: Vec<PreconditionViolation>,
    /// `RetryInfo.retry_delay`, whole seconds (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// The request id (also the `x-request-id` response header).
    pub request_id: String,
    #[serde(skip)]
    allow: Vec<Method>,
}

impl Problem {
    fn new(
        status: StatusCode,
        code: Code,
        reason: &str,
        domain: &str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind: String::new(),
            title: String::new(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code_name(code),
            reason: reason.to_owned(),
            domain: domain.to_owned(),
            metadata: BTreeMap::new(),
            field_violations: Vec::new(),
            precondition_violations: Vec::new(),
            retry_after_seconds: None,
            request_id: String::new(),
            allow: Vec::new(),
        }
    }

    /// A problem the gateway produced itself.
    pub fn gateway(
        status: StatusCode,
        code: Code,
        reason: &str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem::new(status, code, reason, GATEWAY_DOMAIN, detail)
    }

    /// HTTP status of the problem.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response, stamped with the request id.
    pub fn into_response_with_id(mut self, request_id: &str) -> Response {
        let status = self.status();
        self.request_id = request_id.to_owned();
        let reason = if self.reason.is_empty() {
            self.code
        } else {
            self.reason.as_str()
        };
        self.kind = format!("urn:shequ:problem:{reason}");
        self.title = title(status).to_owned();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if !self.allow.is_empty() {
            let allow = self
                .allow
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A wait in whole seconds, rounded up so that a client that waits that long is let through.
fn whole_seconds_up(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

impl GatewayError {
    /// The problem describing this error. The one place an error's HTTP meaning is decided.
    pub fn problem(self) -> Problem {
        match self {
            GatewayError::RouteNotFound => Problem::gateway(
                StatusCode::NOT_FOUND,
                Code::NotFound,
                "ROUTE_NOT_FOUND",
                "no API operation has this path; see /openapi.json",
            ),
            GatewayError::MethodNotAllowed { allowed } => {
                let list = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut problem = Problem::gateway(
                    StatusCode::METHOD_NOT_ALLOWED,
                    Code::Unimplemented,
                    "METHOD_NOT_ALLOWED",
                    format!("this path accepts {list}"),
                );
                problem.allow = allowed;
                problem
            }
            GatewayError::BadInput(input) => {
                let mut problem = Problem::gateway(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    input.reason,
                    &input.message,
                );
                if let Some(field) = input.field {
                    problem.field_violations.push(FieldViolation {
                        field,
                        description: input.message,
                        reason: input.reason.to_owned(),
                    });
                }
                problem
            }
            GatewayError::UnsupportedMediaType { content_type } => Problem::gateway(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "UNSUPPORTED_MEDIA_TYPE",
                format!("request bodies must be application/json, not {content_type}"),
            ),
            GatewayError::PayloadTooLarge { limit } => Problem::gateway(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ResourceExhausted,
                "BODY_TOO_LARGE",
                format!("the request body exceeds the limit of {limit} bytes"),
            ),
            GatewayError::BackendNotConfigured { service } => Problem::gateway(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "BACKEND_NOT_CONFIGURED",
                format!("no backend is configured for {service}"),
            ),
            GatewayError::Backend(status) => from_status(&status),
            GatewayError::DeadlineExceeded { deadline } => Problem::gateway(
                StatusCode::GATEWAY_TIMEOUT,
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
                format!(
                    "the backend did not answer within {} ms",
                    deadline.as_millis()
                ),
            ),
            GatewayError::BadBackendResponse(why) => Problem::gateway(
                StatusCode::BAD_GATEWAY,
                Code::Internal,
                "BACKEND_RESPONSE_INVALID",
                format!("the backend's response could not be transcoded: {why}"),
            ),
            GatewayError::Auth(AuthError::Unauthenticated { reason, message }) => Problem::gateway(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                reason,
                message,
            ),
            GatewayError::Auth(AuthError::LockedOut { retry_after }) => {
                let mut problem = Problem::gateway(
                    StatusCode::TOO_MANY_REQUESTS,
                    Code::ResourceExhausted,
                    "AUTH_LOCKED_OUT",
                    "too many failed sign-ins with this credential or from this address; wait \
                     before trying again",
                );
                problem.retry_after_seconds = Some(whole_seconds_up(retry_after));
                problem
            }
            GatewayError::Auth(AuthError::RateLimited { retry_after }) => {
                let mut problem = Problem::gateway(
                    StatusCode::TOO_MANY_REQUESTS,
                    Code::ResourceExhausted,
                    "RATE_LIMITED",
                    "this credential sends more requests than its limit allows",
                );
                problem.retry_after_seconds = Some(whole_seconds_up(retry_after));
                problem
            }
            // Turned into a lockout by the authenticator; mapped the same way should it escape.
            GatewayError::Auth(AuthError::NeedsVerification) => Problem::gateway(
                StatusCode::TOO_MANY_REQUESTS,
                Code::ResourceExhausted,
                "AUTH_LOCKED_OUT",
                "too many failed sign-ins from this address; wait before trying again",
            ),
            GatewayError::Auth(AuthError::Unavailable { message }) => {
                let mut problem = Problem::gateway(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::Unavailable,
                    "AUTH_UNAVAILABLE",
                    message,
                );
                problem.retry_after_seconds = Some(1);
                problem
            }
        }
    }
}

/// The problem for a backend status, with the details of `grpc-status-details-bin`.
fn from_status(status: &tonic::Status) -> Problem {
    let code = status.code();
    let details = status.get_error_details();
    let (reason, domain, metadata) = match details.error_info() {
        Some(info) => (
            info.reason.clone(),
            info.domain.clone(),
            info.metadata.clone().into_iter().collect(),
        ),
        None => (String::new(), String::new(), BTreeMap::new()),
    };
    // A transport failure has no ErrorInfo; name it so clients can tell it from a service's answer.
    let (reason, domain) = if reason.is_empty() {
        let reason = match code {
            Code::Unavailable => "BACKEND_UNAVAILABLE",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            _ => "",
        };
        (
            reason.to_owned(),
            if reason.is_empty() {
                domain
            } else {
                GATEWAY_DOMAIN.to_owned()
            },
        )
    } else {
        (reason, domain)
    };
    let mut problem = Problem::new(http_status(code), code, &reason, &domain, status.message());
    problem.metadata = metadata;
    if let Some(bad) = details.bad_request() {
        problem.field_violations = bad
            .field_violations
            .iter()
            .map(|v| FieldViolation {
                field: v.field.clone(),
                description: v.description.clone(),
                reason: v.reason.clone(),
            })
            .collect();
    }
    if let Some(failure) = details.precondition_failure() {
        problem.precondition_violations = failure
            .violations
            .iter()
            .map(|v| PreconditionViolation {
                kind: v.r#type.clone(),
                subject: v.subject.clone(),
                description: v.description.clone(),
            })
            .collect();
    }
    if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
        problem.retry_after_seconds = Some(delay.as_secs().max(1));
    } else if code == Code::Unavailable {
        problem.retry_after_seconds = Some(1);
    }
    problem
}

/// HTTP status of a gRPC code, as `google/rpc/code.proto` specifies.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The canonical UPPER_SNAKE name of a gRPC code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        499 => "Client Closed Request",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, FieldViolation as PbViolation};

    #[test]
    fn every_grpc_code_maps_as_code_proto_says() {
        let table = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, http) in table {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn status_details_become_problem_fields() {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            "ID_NUMBER_CHECK_DIGIT",
            "shequ",
            [("fields".to_owned(), "secretary.id_number".to_owned())],
        );
        details.set_bad_request(vec![PbViolation {
            field: "secretary.id_number".into(),
            description: "check digit should be 7".into(),
            reason: "ID_NUMBER_CHECK_DIGIT".into(),
            localized_message: None,
        }]);
        details.add_precondition_failure_violation(
            "PREREQUISITE",
            "YEARS_ON_CURRENT_RUNG",
            "needs 3 years",
        );
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid secretary.id_number",
            details,
        );
        let problem = GatewayError::Backend(status).problem();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, "INVALID_ARGUMENT");
        assert_eq!(problem.reason, "ID_NUMBER_CHECK_DIGIT");
        assert_eq!(problem.domain, "shequ");
        assert_eq!(problem.metadata["fields"], "secretary.id_number");
        assert_eq!(problem.field_violations[0].field, "secretary.id_number");
        assert_eq!(
            problem.precondition_violations[0].subject,
            "YEARS_ON_CURRENT_RUNG"
        );
        assert_eq!(problem.detail, "invalid secretary.id_number");
    }

    #[test]
    fn a_transport_failure_is_named_and_retryable() {
        let problem =
            GatewayError::Backend(tonic::Status::unavailable("tcp connect error")).problem();
        assert_eq!(problem.status, 503);
        assert_eq!(problem.reason, "BACKEND_UNAVAILABLE");
        assert_eq!(problem.retry_after_seconds, Some(1));
        let response = problem.into_response_with_id("r1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn gateway_errors_have_their_statuses() {
        let cases = [
            (GatewayError::RouteNotFound, 404),
            (
                GatewayError::MethodNotAllowed {
                    allowed: vec![Method::GET],
                },
                405,
            ),
            (
                GatewayError::BadInput(InputError::general("MALFORMED_JSON", "x")),
                400,
            ),
            (
                GatewayError::UnsupportedMediaType {
                    content_type: "text/plain".into(),
                },
                415,
            ),
            (GatewayError::PayloadTooLarge { limit: 1 }, 413),
            (
                GatewayError::BackendNotConfigured {
                    service: "x".into(),
                },
                503,
            ),
            (
                GatewayError::DeadlineExceeded {
                    deadline: Duration::from_secs(1),
                },
                504,
            ),
            (GatewayError::BadBackendResponse("x".into()), 502),
        ];
        for (error, status) in cases {
            assert_eq!(error.problem().status, status);
        }
    }

    #[test]
    fn method_not_allowed_lists_the_allowed_methods() {
        let response = GatewayError::MethodNotAllowed {
            allowed: vec![Method::GET, Method::PATCH],
        }
        .problem()
        .into_response_with_id("r");
        assert_eq!(response.headers()[header::ALLOW], "GET, PATCH");
    }
}
