//! Shared runtime of the Shequ services. Everything here is generic plumbing, no domain rules:
//!
//! - [`config`]: defaults → file → environment, secrets redacted;
//! - [`telemetry`]: tracing, OTLP export, W3C trace context over gRPC;
//! - [`db`]: the `sqlx::Any` pool and per-backend migrations;
//! - [`server`], [`health`], [`shutdown`]: hosting with readiness and graceful shutdown;
//! - [`error`]: the one error type and its `google.rpc.Status` mapping;
//! - [`paging`]: page sizes and sealed page tokens;
//! - [`auth`]: the verified caller (subject, roles, region scope);
//! - [`crypto`]: SM4-GCM field encryption and HMAC-SM3 blind indexes;
//! - [`audit`]: the hash-chained audit log; [`idempotency`]: exactly-once retried writes;
//! - [`rpc`]: audit and idempotency around every call; [`validate`]: field checks;
//! - [`clock`]: injected time;
//! - [`convert`]: identifiers and wire conversions shared by every service.

pub mod aip;
pub mod audit;
pub mod auth;
pub mod call;
pub mod client;
pub mod clock;
pub mod config;
pub mod convert;
pub mod crypto;
pub mod db;
pub mod error;
pub mod feed;
pub mod grants;
pub mod health;
pub mod idempotency;
pub mod names;
pub mod paging;
pub mod rpc;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validate;

pub use error::{Error, Result};
pub use shequ_regions as regions;
