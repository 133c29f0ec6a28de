//! The training and certification service (培训认证, DOMAIN.md §3): the three-layer curriculum
//! with yearly hour quotas, studios (书记工作室), 三阶九步 cultivation plans made from personnel's
//! appointments, 青蓝工程 mentoring, and the 数字书记 certification whose certificates are W3C
//! Verifiable Credentials anyone can verify offline. Served over gRPC as
//! `shequ.training.v1.TrainingService`; its feed publishes certificates issued, revoked and
//! expired, and plans completed.
//!
//! Layers: [`api`] (authorise, parse, map errors) → [`domain`] and [`credential`] (pure rules) →
//! [`store`] (SQL over the service's own database). [`follow`] applies personnel's feed;
//! [`expiry`] publishes certificates reaching their expiry date.

pub mod api;
pub mod credential;
pub mod domain;
pub mod expiry;
pub mod follow;
pub mod store;

use serde::{Deserialize, Serialize};
use shequ_kit::{
    db::Migrations,
    feed::FEED_OPERATIONS,
    grants::Grant,
    service::{Kit, Service},
};

pub use api::TrainingApi;

/// The operations anyone may use without an account; the gateway serves them unauthenticated
/// and calls them as itself.
pub const PUBLIC_OPERATIONS: &[&str] = &[
    "VerifyCertificate",
    "VerifyCredential",
    "GetStatusList",
    "ListIssuerKeys",
];

/// The training service's own settings (`[service]`, `SHEQU_SERVICE__<KEY>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The public address of the gateway: credentials name their issuer, status lists and
    /// verification page under it, and the QR code points there.
    pub public_base_url: String,
    /// The issuer's name in every credential.
    pub issuer_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            issuer_name: "数字书记认证中心".to_owned(),
        }
    }
}

/// The training service (gRPC 50053).
#[derive(Debug)]
pub struct Training;

impl Service for Training {
    const NAME: &'static str = "training";
    const PORT: u16 = 50053;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// It follows personnel's feed (appointments, career events, violations) and asks personnel
    /// for a holder's name when a certificate is issued.
    const DEPENDENCIES: &'static [&'static str] = &["personnel"];
    /// The gateway serves the public verification operations as itself; evaluation reads the
    /// learning summaries and follows the feed as itself; personnel follows the feed
    /// (certificates for the professional ladder).
    const GRANTS: &'static [Grant] = &[
        Grant {
            component: "gateway",
            operations: PUBLIC_OPERATIONS,
        },
        Grant {
            component: "evaluation",
            operations: &["ListLearningSummaries", "ListEvents", "WatchEvents"],
        },
        Grant {
            component: "personnel",
            operations: FEED_OPERATIONS,
        },
    ];
    type Settings = Settings;
    type Api = TrainingApi;

    fn api(kit: Kit, settings: Settings) -> anyhow::Result<TrainingApi> {
        anyhow::ensure!(
            settings.public_base_url.starts_with("http://")
                || settings.public_base_url.starts_with("https://"),
            "service.public_base_url must be an http(s) URL, got {:?}",
            settings.public_base_url
        );
        let settings = Settings {
            public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
            ..settings
        };
        kit.follow("personnel", follow::PersonnelFeed::new(&kit))?;
        tokio::spawn(expiry::run(kit.clone()));
        Ok(TrainingApi::new(api::Context { kit, settings }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shequ_kit::grants::Grants;

    #[test]
    fn other_components_get_exactly_what_they_need() {
        let grants = Grants::new(Training::GRANTS);
        for operation in PUBLIC_OPERATIONS {
            assert!(grants.allows("gateway", operation));
        }
        assert!(!grants.allows("gateway", "GetCertificate"));
        assert!(grants.allows("evaluation", "ListLearningSummaries"));
        assert!(grants.allows("personnel", "WatchEvents"));
        assert!(!grants.allows("personnel", "ListLearningSummaries"));
        assert!(!grants.allows("warnings", "ListEvents"));
    }
}
