//! The incident warnings service (三色预警, DOMAIN.md §4): warnings in three colours raised by
//! people, by threshold rules over the community brain's readings (社区大脑) and by other
//! departments' systems; their lifecycle, consultations (会商) and task forces (专班) with an
//! append-only history; deadlines kept as rows and a scheduler that marks missed ones overdue
//! and notifies the next level up; and subscribers told of every change, on the kit's feed and
//! by signed webhooks. Served over gRPC as `shequ.warnings.v1.WarningsService`.
//!
//! Layers: [`api`] (gRPC handlers: authorise, parse, map errors) → [`domain`] (pure rules) →
//! [`store`] (SQL over the service's own database).

pub mod api;
pub mod domain;
mod events;
mod roster;
pub mod store;

use serde::{Deserialize, Serialize};
use shequ_kit::{
    db::Migrations,
    grants::Grant,
    service::{Kit, Service},
};

pub use api::WarningsApi;

/// The warnings service (gRPC 50054).
#[derive(Debug)]
pub struct Warnings;

/// The service's own settings, the `[service]` section (`SHEQU_SERVICE__<KEY>`). What a province
/// decides (deadlines per colour) is not here but in its `WarningPolicy`, changed over the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {}

impl Service for Warnings {
    const NAME: &'static str = "warnings";
    const PORT: u16 = 50054;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// Personnel's feed tells who serves which community (the assignee check).
    const DEPENDENCIES: &'static [&'static str] = &["personnel"];
    const GRANTS: &'static [Grant] = &[];
    type Settings = Settings;
    type Api = WarningsApi;

    fn api(kit: Kit, _settings: Settings) -> anyhow::Result<WarningsApi> {
        let store = store::Store::new(kit.database.clone());
        kit.follow("personnel", roster::RosterHandler::new())?;
        let deadlines = std::sync::Arc::new(tokio::sync::Notify::new());
        Ok(WarningsApi::new(api::Context {
            kit,
            store,
            deadlines,
        }))
    }
}
