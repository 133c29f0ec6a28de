//! The evaluation service (考核评价, DOMAIN.md §2): 5+X indicator schemes versioned per
//! province and year; quarterly internal assessments by officers and annual external
//! assessments by engaged assessors; annual results that explain every number, with learning
//! and governance inputs read from training and warnings; rankings with the adjustment band.
//! Served over gRPC as `shequ.evaluation.v1.EvaluationService`.
//!
//! Layers: [`api`] (authorise, parse, map errors) → [`domain`] (pure rules) → [`store`] (SQL over
//! the service's own database). [`roster`] follows personnel's feed.

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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {}

impl Service for Evaluation {
    const NAME: &'static str = "evaluation";
    const PORT: u16 = 50052;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// Personnel's feed tells who serves which community; training and warnings give the
    /// learning and governance inputs of the annual results.
    const DEPENDENCIES: &'static [&'static str] = &["personnel", "training", "warnings"];
    const GRANTS: &'static [Grant] = &[];
    type Settings = Settings;
    type Api = EvaluationApi;

    fn api(kit: Kit, _settings: Settings) -> anyhow::Result<EvaluationApi> {
        kit.follow("personnel", roster::RosterHandler::new())?;
        Ok(EvaluationApi::new(api::Context { kit }))
    }
}
