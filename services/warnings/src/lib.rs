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
mod retention;
mod roster;
mod scheduler;
pub mod store;
mod webhooks;

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How often the deadline scheduler looks for deadlines other replicas wrote, in
    /// milliseconds (its own changes wake it at once, and it waits for the earliest deadline it
    /// knows of): the longest another replica's deadline waits when its own replica is gone.
    pub scheduler_poll_ms: u64,
    /// Days readings are kept (at least 8: readings up to 7 days old are accepted). On
    /// PostgreSQL whole months are dropped, so a reading stays up to a month longer.
    pub reading_retention_days: u32,
    /// Let webhooks reach loopback, private and link-local addresses (tests, a closed network);
    /// refused by default against server-side request forgery.
    pub webhook_allow_private_targets: bool,
    /// How long a webhook attempt waits for an answer, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Pause after a webhook's first failed attempt, in seconds; doubled after each.
    pub webhook_first_retry_secs: u64,
    /// Longest pause between attempts, in seconds.
    pub webhook_max_retry_secs: u64,
    /// Attempts before a delivery is given up.
    pub webhook_max_attempts: u32,
    /// The services offered through the Open311 GeoReport v2 intake: each a warning category a
    /// service request raises a warning of (`service.open311_services`, a list in the file).
    pub open311_services: Vec<Open311Service>,
    /// `sender` of the CAP alerts (CAP 1.2 §3.2.1: unique to this originator, e.g. a domain or
    /// an address; no spaces, commas, `<` or `&`).
    pub cap_sender: String,
}

/// One service of the Open311 intake: GeoReport's `service_code` is the warning category.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Open311Service {
    /// The category code (1 to 40 lower-case letters, digits or `_`).
    pub code: String,
    /// Its name, at most 100 characters.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The group it is listed under (the responsible department).
    #[serde(default)]
    pub group: String,
    /// Comma-separated keywords.
    #[serde(default)]
    pub keywords: String,
}

/// The services offered by default: the everyday categories of the source departments.
fn default_open311_services() -> Vec<Open311Service> {
    let service =
        |code: &str, name: &str, description: &str, group: &str, keywords: &str| Open311Service {
            code: code.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            group: group.to_owned(),
            keywords: keywords.to_owned(),
        };
    vec![
        service(
            "flood",
            "内涝积水",
            "Standing water, flooding, blocked drains",
            "水务",
            "flood,drain,内涝",
        ),
        service(
            "water_supply",
            "停水",
            "Interrupted or unsafe water supply",
            "水务",
            "water,停水",
        ),
        service(
            "fire_hazard",
            "消防隐患",
            "Blocked fire exits, fire hazards",
            "消防",
            "fire,消防",
        ),
        service(
            "public_order",
            "治安问题",
            "Disorder, disputes in public places",
            "公安",
            "order,治安",
        ),
        service(
            "building_safety",
            "房屋安全",
            "Cracks, loose facades, unsafe buildings",
            "住房和城乡建设",
            "building,房屋",
        ),
        service(
            "public_health",
            "公共卫生",
            "Outbreaks, sanitation hazards",
            "卫生健康",
            "health,卫生",
        ),
        service(
            "urban_management",
            "市容环境",
            "Refuse, illegal structures, street damage",
            "城市管理",
            "street,市容",
        ),
        service(
            "power_outage",
            "停电",
            "Power cuts, exposed wiring",
            "电力",
            "power,停电",
        ),
        service(
            "food_safety",
            "食品安全",
            "Unsafe food sold in the community",
            "市场监管",
            "food,食品",
        ),
        service(
            "vulnerable_residents",
            "困难群众",
            "Residents in need of care or assistance",
            "民政",
            "care,民政",
        ),
    ]
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            scheduler_poll_ms: 10_000,
            reading_retention_days: 90,
            webhook_allow_private_targets: false,
            webhook_timeout_ms: 10_000,
            webhook_first_retry_secs: 10,
            webhook_max_retry_secs: 36_000,
            webhook_max_attempts: 15,
            open311_services: default_open311_services(),
            cap_sender: "shequ-warnings".to_owned(),
        }
    }
}

impl Service for Warnings {
    const NAME: &'static str = "warnings";
    const PORT: u16 = 50054;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// Personnel's feed tells who serves which community (the assignee check).
    const DEPENDENCIES: &'static [&'static str] = &["personnel"];
    /// Evaluation follows the feed (warnings raised, escalated, overdue and resolved feed its
    /// risk-prevention input) and reads each secretary's yearly on-time record (its
    /// governance-effectiveness input).
    const GRANTS: &'static [Grant] = &[
        Grant {
            component: "evaluation",
            operations: shequ_kit::feed::FEED_OPERATIONS,
        },
        Grant {
            component: "evaluation",
            operations: &["BatchGetSecretaryWarningSummaries"],
        },
    ];
    type Settings = Settings;
    type Api = WarningsApi;

    fn api(kit: Kit, settings: Settings) -> anyhow::Result<WarningsApi> {
        use anyhow::Context as _;
        anyhow::ensure!(
            settings.reading_retention_days >= 8,
            "service.reading_retention_days must be at least 8 (readings up to 7 days old are accepted)"
        );
        api::open311::check_services(&settings.open311_services)?;
        anyhow::ensure!(
            domain::cap::valid_sender(&settings.cap_sender),
            "service.cap_sender must be 1 to 200 characters without spaces, commas, '<' or '&'"
        );
        let store = store::Store::new(kit.database.clone());
        kit.follow("personnel", roster::RosterHandler::new())?;
        let identity = kit
            .identity
            .clone()
            .context("the warnings service acts as itself: set auth.service_key_file")?;
        let wakers = std::sync::Arc::new(api::Wakers::default());
        let poll = std::time::Duration::from_millis(settings.scheduler_poll_ms.max(10));
        let scheduler = scheduler::Scheduler {
            store: store.clone(),
            database: kit.database.clone(),
            log: kit.audit.clone(),
            clock: std::sync::Arc::clone(&kit.clock),
            identity: identity.caller().clone(),
            wakers: std::sync::Arc::clone(&wakers),
            poll,
        };
        tokio::spawn(scheduler.run(kit.stop.clone()));
        let retention = retention::Retention {
            database: kit.database.clone(),
            log: kit.audit.clone(),
            clock: std::sync::Arc::clone(&kit.clock),
            identity: identity.caller().clone(),
            days: settings.reading_retention_days,
        };
        tokio::spawn(retention.run(kit.stop.clone()));
        let sender = webhooks::Sender {
            store: store.clone(),
            database: kit.database.clone(),
            log: kit.audit.clone(),
            clock: std::sync::Arc::clone(&kit.clock),
            identity: identity.caller().clone(),
            cipher: kit.keys.personal_data.clone(),
            wakers: std::sync::Arc::clone(&wakers),
            policy: webhooks::Policy {
                allow_private: settings.webhook_allow_private_targets,
                timeout: std::time::Duration::from_millis(settings.webhook_timeout_ms.max(1)),
                first_retry: std::time::Duration::from_secs(
                    settings.webhook_first_retry_secs.max(1),
                ),
                max_retry: std::time::Duration::from_secs(settings.webhook_max_retry_secs.max(1)),
                max_attempts: i64::from(settings.webhook_max_attempts.max(1)),
            },
            poll,
        };
        tokio::spawn(sender.run(kit.stop.clone()));
        Ok(WarningsApi::new(api::Context {
            kit,
            store,
            settings,
            wakers,
        }))
    }
}
