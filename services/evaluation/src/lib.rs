//! The evaluation service (考核评价, DOMAIN.md §2): 5+X indicator schemes versioned per
//! province and year; quarterly internal assessments by officers and annual external
//! assessments by engaged assessors; annual results that explain every number, with learning
//! and governance inputs read from training and warnings; rankings with the adjustment band.
//! Served over gRPC as `shequ.evaluation.v1.EvaluationService`.
//!
//! Layers: [`api`] (authorise, parse, map errors) → [`domain`] (pure rules) → [`store`] (SQL over
//! the service's own database). [`roster`] follows personnel's feed.

mod adjust;
pub mod api;
pub mod domain;
mod roster;
pub mod store;

use serde::{Deserialize, Serialize};
use shequ_kit::{
    db::Migrations,
    grants::Grant,
    service::{Kit, Service},
};

pub use api::EvaluationApi;

/// The evaluation service (gRPC 50052).
#[derive(Debug)]
pub struct Evaluation;

/// The service's own settings (`[service]`, `SHEQU_SERVICE__<KEY>`). What a province decides
/// (weights, X cap, band, appeal window) is in its indicator schemes, changed over the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How often the adjustment outbox looks for rows due (other replicas' confirmations,
    /// retries coming due), in milliseconds; its own confirmations wake it at once.
    pub outbox_poll_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            outbox_poll_ms: 1_000,
        }
    }
}

impl Service for Evaluation {
    const NAME: &'static str = "evaluation";
    const PORT: u16 = 50052;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// Personnel's feed tells who serves which community; training and warnings give the
    /// learning and governance inputs of the annual results.
    const DEPENDENCIES: &'static [&'static str] = &["personnel", "training", "warnings"];
    /// Personnel follows the feed (band membership: the promotion prerequisite).
    const GRANTS: &'static [Grant] = &[Grant {
        component: "personnel",
        operations: shequ_kit::feed::FEED_OPERATIONS,
    }];
    type Settings = Settings;
    type Api = EvaluationApi;

    fn api(kit: Kit, settings: Settings) -> anyhow::Result<EvaluationApi> {
        use anyhow::Context as _;
        kit.follow("personnel", roster::RosterHandler::new())?;
        let identity = kit
            .identity
            .clone()
            .context("the evaluation service acts as itself: set auth.service_key_file")?;
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let outbox = adjust::Outbox {
            kit: kit.clone(),
            identity: identity.caller().clone(),
            wake: std::sync::Arc::clone(&wake),
            poll: std::time::Duration::from_millis(settings.outbox_poll_ms.max(10)),
        };
        tokio::spawn(outbox.run(kit.stop.clone()));
        Ok(EvaluationApi::new(api::Context { kit, outbox: wake }))
    }
}
