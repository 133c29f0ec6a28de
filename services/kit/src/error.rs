//! One error type for every service, mapped in one exhaustive `match` onto `google.rpc.Status`
//! with `ErrorInfo` (always) and `BadRequest` / `PreconditionFailure` details (when they apply).
//!
//! A new variant does not compile until it is mapped, and the gateway maps the gRPC code to HTTP
//! per `google/rpc/code.proto`, so an error's meaning is decided here exactly once.

use std::collections::HashMap;

use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// `ErrorInfo.domain` of every error the suite produces.
pub const ERROR_DOMAIN: &str = "shequ";

/// A field of the request that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, e.g. `secretary.id_number`.
    pub field: String,
    /// UPPER_SNAKE rule identifier, e.g. `ID_NUMBER_CHECK_DIGIT`.
    pub reason: &'static str,
    /// Human-readable description naming the rule.
    pub description: String,
}

impl Violation {
    /// A violation of `reason` by `field`.
    pub fn new(
        field: impl Into<String>,
        reason: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Violation {
            field: field.into(),
            reason,
            description: description.into(),
        }
    }
}

/// A state of the system that prevents the operation (an unmet prerequisite, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    /// Kind of precondition, e.g. `PREREQUISITE`.
    pub kind: &'static str,
    /// What failed, e.g. `YEARS_ON_CURRENT_RUNG`.
    pub subject: String,
    /// How it failed.
    pub description: String,
}

/// Every way a service call can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a validation rule; nothing was changed.
    #[error("{message}")]
    InvalidArgument {
        /// `ErrorInfo.reason` (the first violation's rule when several).
        reason: &'static str,
        /// Summary.
        message: String,
        /// Every offending field.
        violations: Vec<Violation>,
    },
    /// The resource does not exist, or lies outside the caller's scope (indistinguishable on
    /// purpose so that existence does not leak across districts).
    #[error("{resource} not found")]
    NotFound {
        /// Resource name as the caller gave it.
        resource: String,
    },
    /// A resource with the same identity exists.
    #[error("{message}")]
    AlreadyExists {
        /// `ErrorInfo.reason`.
        reason: &'static str,
        /// Summary.
        message: String,
        /// The conflicting resource, when it may be named.
        resource: Option<String>,
    },
    /// The system is not in a state that allows the operation.
    #[error("{message}")]
    FailedPrecondition {
        /// `ErrorInfo.reason`.
        reason: &'static str,
        /// Summary.
        message: String,
        /// Each unmet precondition.
        preconditions: Vec<Precondition>,
        /// Dynamic parts of the message, for `ErrorInfo.metadata`.
        metadata: Vec<(&'static str, String)>,
    },
    /// A concurrency check failed (stale etag); re-read and retry.
    #[error("{message}")]
    Aborted {
        /// `ErrorInfo.reason`.
        reason: &'static str,
        /// Summary.
        message: String,
    },
    /// The caller is known but may not do this (role or region scope).
    #[error("{message}")]
    PermissionDenied {
        /// `ErrorInfo.reason`.
        reason: &'static str,
        /// Summary.
        message: String,
        /// Dynamic parts of the message.
        metadata: Vec<(&'static str, String)>,
    },
    /// No valid credentials.
    #[error("{message}")]
    Unauthenticated {
        /// `ErrorInfo.reason`.
        reason: &'static str,
        /// Summary.
        message: String,
    },
    /// A dependency (database, another service) cannot be reached; safe to retry later.
    #[error("{message}")]
    Unavailable {
        /// Summary naming the dependency.
        message: String,
    },
    /// Another service this one depends on cannot be reached; safe to retry later.
    #[error("{dependency} is unavailable")]
    DependencyUnavailable {
        /// The dependency, e.g. `personnel`.
        dependency: &'static str,
    },
    /// Another service this one depends on did not answer in time.
    #[error("{dependency} did not answer in time")]
    DependencyDeadline {
        /// The dependency.
        dependency: &'static str,
    },
    /// Another service refused or failed a call for its own reasons; its status is passed on as
    /// it came (code, message and details), so the caller learns what the callee said.
    #[error("{dependency}: {}", status.message())]
    Dependency {
        /// The dependency.
        dependency: &'static str,
        /// What it answered.
        status: Box<tonic::Status>,
    },
    /// A bug or an unexpected failure. The cause is logged, never sent to the client.
    #[error("internal error: {0:#}")]
    Internal(#[source] anyhow::Error),
}

/// The most characters of a client's input an error repeats back.
pub const MAX_ECHO_CHARS: usize = 128;

/// The most field violations one error reports (see [`Error::invalid_all`]).
pub const MAX_VIOLATIONS: usize = 20;

/// `text` as an error may repeat it back to the client: at most [`MAX_ECHO_CHARS`] characters,
/// then how many there were. Errors travel in gRPC trailers, where a client's 4 KB "name" echoed
/// twice would overflow the header limits and turn a plain NOT_FOUND into a transport error.
pub fn echo(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
    }
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(
        field: impl Into<String>,
        reason: &'static str,
        description: impl Into<String>,
    ) -> Self {
        let violation = Violation::new(field, reason, description);
        Error::InvalidArgument {
            reason,
            message: format!("invalid {}: {}", violation.field, violation.description),
            violations: vec![violation],
        }
    }

    /// A validation error carrying the violations found (empty `violations` is a bug): at most
    /// [`MAX_VIOLATIONS`] of them, so that a request with hundreds of bad values (a batch) gets
    /// an answer whose details fit in gRPC metadata; the message says how many were left out.
    pub fn invalid_all(mut violations: Vec<Violation>) -> Self {
        let reason = violations.first().map_or("INVALID_ARGUMENT", |v| v.reason);
        let left_out = violations.len().saturating_sub(MAX_VIOLATIONS);
        violations.truncate(MAX_VIOLATIONS);
        let mut message = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        if left_out > 0 {
            message.push_str(&format!("; and {left_out} more"));
        }
        Error::InvalidArgument {
            reason,
            message: format!("invalid request: {message}"),
            violations,
        }
    }

    /// `resource` does not exist (or is outside the caller's scope).
    pub fn not_found(resource: impl Into<String>) -> Self {
        Error::NotFound {
            resource: echo(&resource.into()),
        }
    }

    /// The state forbids the operation, for one stated reason.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Error::FailedPrecondition {
            reason,
            message: message.into(),
            preconditions: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// The stored resource changed since the caller read it.
    pub fn stale_etag(resource: &str) -> Self {
        Error::Aborted {
            reason: "ETAG_MISMATCH",
            message: format!("{resource} was changed by someone else; read it again and retry"),
        }
    }

    /// The caller's role does not allow the operation.
    pub fn forbidden(reason: &'static str, message: impl Into<String>) -> Self {
        Error::PermissionDenied {
            reason,
            message: message.into(),
            metadata: Vec::new(),
        }
    }

    /// Wraps an unexpected failure.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Error::Internal(error.into())
    }

    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::AlreadyExists { .. } => Code::AlreadyExists,
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::Aborted { .. } => Code::Aborted,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::Unauthenticated { .. } => Code::Unauthenticated,
            Error::Unavailable { .. } | Error::DependencyUnavailable { .. } => Code::Unavailable,
            Error::DependencyDeadline { .. } => Code::DeadlineExceeded,
            Error::Dependency { status, .. } => status.code(),
            Error::Internal(_) => Code::Internal,
        }
    }

    /// Converts into the wire status. Internal causes are logged here and replaced by a generic
    /// message.
    pub fn into_status(self) -> tonic::Status {
        let code = self.code();
        let mut details = ErrorDetails::new();
        let message = match self {
            Error::InvalidArgument {
                reason,
                message,
                violations,
            } => {
                let fields: Vec<String> = violations.iter().map(|v| v.field.clone()).collect();
                details.set_error_info(reason, ERROR_DOMAIN, meta([("fields", fields.join(","))]));
                details.set_bad_request(
                    violations
                        .into_iter()
                        .map(|v| FieldViolation {
                            field: v.field,
                            description: v.description,
                            reason: v.reason.to_owned(),
                            localized_message: None,
                        })
                        .collect::<Vec<_>>(),
                );
                message
            }
            Error::NotFound { resource } => {
                let message = format!("{resource} not found");
                details.set_error_info(
                    "RESOURCE_NOT_FOUND",
                    ERROR_DOMAIN,
                    meta([("resource", resource.clone())]),
                );
                details.set_resource_info(
                    "",
                    resource,
                    "",
                    "not found, or outside the caller's region scope",
                );
                message
            }
            Error::AlreadyExists {
                reason,
                message,
                resource,
            } => {
                details.set_error_info(
                    reason,
                    ERROR_DOMAIN,
                    meta(resource.map(|r| ("resource", r))),
                );
                message
            }
            Error::FailedPrecondition {
                reason,
                message,
                preconditions,
                metadata,
            } => {
                details.set_error_info(reason, ERROR_DOMAIN, meta(metadata));
                for p in preconditions {
                    details.add_precondition_failure_violation(p.kind, p.subject, p.description);
                }
                message
            }
            Error::Aborted { reason, message } | Error::Unauthenticated { reason, message } => {
                details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
                message
            }
            Error::PermissionDenied {
                reason,
                message,
                metadata,
            } => {
                details.set_error_info(reason, ERROR_DOMAIN, meta(metadata));
                message
            }
            Error::Unavailable { message } => {
                details.set_error_info("DEPENDENCY_UNAVAILABLE", ERROR_DOMAIN, HashMap::new());
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                message
            }
            Error::DependencyUnavailable { dependency } => {
                details.set_error_info(
                    "DEPENDENCY_UNAVAILABLE",
                    ERROR_DOMAIN,
                    meta([("dependency", dependency.to_owned())]),
                );
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                format!("{dependency} is unavailable; retry later")
            }
            Error::DependencyDeadline { dependency } => {
                details.set_error_info(
                    "DEPENDENCY_DEADLINE_EXCEEDED",
                    ERROR_DOMAIN,
                    meta([("dependency", dependency.to_owned())]),
                );
                format!("{dependency} did not answer in time")
            }
            Error::Dependency { status, .. } => return *status,
            Error::Internal(cause) => {
                tracing::error!(error.cause_chain = ?cause, error.message = %cause, "internal error");
                details.set_error_info("INTERNAL", ERROR_DOMAIN, HashMap::new());
                "internal error; it has been logged".to_owned()
            }
        };
        tonic::Status::with_error_details(code, message, details)
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        error.into_status()
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            // The pool could not hand out a connection: the database is down or saturated, a state
            // the caller can retry, not a bug.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => {
                tracing::warn!(error = %error, "database unavailable");
                Error::Unavailable {
                    message: "the database is unavailable; retry later".to_owned(),
                }
            }
            sqlx::Error::Database(db) if db.code().is_some_and(|code| unavailable_code(&code)) => {
                tracing::warn!(error = %db, "database unavailable");
                Error::Unavailable {
                    message: "the database is unavailable; retry later".to_owned(),
                }
            }
            other => Error::Internal(other.into()),
        }
    }
}

/// Database error codes that mean "not reachable right now" rather than "this query is wrong":
/// PostgreSQL connection exceptions (08), operator intervention such as a terminated session
/// (57P), insufficient resources (53), a database not accepting connections (55000), and SQLite's
/// busy and locked (5, 6).
pub(crate) fn unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("53")
        || matches!(code, "55000" | "5" | "6")
}

fn meta<K: Into<String>>(pairs: impl IntoIterator<Item = (K, String)>) -> HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

/// Result of service operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_names_the_field_and_rule() {
        let status = Error::invalid(
            "secretary.id_number",
            "ID_NUMBER_CHECK_DIGIT",
            "check digit should be X",
        )
        .into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "ID_NUMBER_CHECK_DIGIT");
        assert_eq!(info.domain, ERROR_DOMAIN);
        let bad = details.bad_request().expect("bad request");
        assert_eq!(bad.field_violations[0].field, "secretary.id_number");
        assert_eq!(bad.field_violations[0].reason, "ID_NUMBER_CHECK_DIGIT");
    }

    #[test]
    fn a_batch_of_bad_values_reports_a_bounded_number_of_violations() {
        // 500 bad names, as a batch request can carry: every one reported would make trailers
        // of ~60 KB, past HTTP/2 header limits (the call then fails as a transport error).
        let violations = (0..500)
            .map(|i| {
                Violation::new(
                    format!("secretaries[{i}]"),
                    "RESOURCE_NAME_INVALID",
                    "expected a resource name of the form secretaries/{id}, got \"\"",
                )
            })
            .collect();
        let status = Error::invalid_all(violations).into_status();
        let bad = status
            .get_error_details()
            .bad_request()
            .cloned()
            .expect("bad request");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS);
        assert!(
            status.message().ends_with("; and 480 more"),
            "{}",
            status.message()
        );
        assert!(
            status.message().len() + status.details().len() < 8 * 1024,
            "{} bytes",
            status.message().len() + status.details().len()
        );
    }

    #[test]
    fn a_long_input_is_echoed_cut_short_with_its_length() {
        assert_eq!(echo("secretaries/01"), "secretaries/01");
        let long = "名".repeat(5_000);
        let echoed = echo(&long);
        assert_eq!(
            echoed.chars().count(),
            MAX_ECHO_CHARS + "… (5000 characters)".chars().count()
        );
        assert!(echoed.ends_with("… (5000 characters)"));
        let Error::NotFound { resource } = Error::not_found(long) else {
            unreachable!()
        };
        assert_eq!(resource, echoed);
    }

    #[test]
    fn internal_causes_are_not_sent_to_the_client() {
        let status = Error::internal(anyhow::anyhow!("secret table xyz broke")).into_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("xyz"));
    }

    #[test]
    fn preconditions_become_precondition_failure_violations() {
        let status = Error::FailedPrecondition {
            reason: "PROMOTION_PREREQUISITES_UNMET",
            message: "not eligible".into(),
            preconditions: vec![Precondition {
                kind: "PREREQUISITE",
                subject: "YEARS_ON_CURRENT_RUNG".into(),
                description: "needs 3 years".into(),
            }],
            metadata: vec![("ladder", "LADDER_MANAGEMENT".into())],
        }
        .into_status();
        let details = status.get_error_details();
        assert_eq!(
            details.error_info().unwrap().metadata["ladder"],
            "LADDER_MANAGEMENT"
        );
        assert_eq!(
            details.precondition_failure().unwrap().violations[0].subject,
            "YEARS_ON_CURRENT_RUNG"
        );
    }

    #[test]
    fn a_lost_database_is_unavailable_not_internal() {
        assert_eq!(
            Error::from(sqlx::Error::PoolTimedOut).code(),
            Code::Unavailable
        );
    }
}
