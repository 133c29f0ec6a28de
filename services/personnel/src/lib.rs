//! The personnel and careers service (人员与职业发展): secretaries, qualification standards,
//! the two career ladders, career history, the negative list, the reserve pool and workforce
//! statistics (DOMAIN.md §1), served over gRPC as `shequ.personnel.v1.PersonnelService`. Its
//! feed publishes appointments, career events and violations for the services that follow it.
//!
//! Layers: [`api`] (gRPC handlers: authorise, parse, map errors) → [`domain`] (pure rules) →
//! [`store`] (SQL over the service's own database).

pub mod api;
pub mod domain;
pub mod follow;
pub mod store;

use shequ_kit::{
    config::NoSettings,
    db::Migrations,
    feed::FEED_OPERATIONS,
    grants::Grant,
    service::{Kit, Service},
};

pub use api::PersonnelApi;
pub use store::Store;

/// The personnel service (gRPC 50051).
#[derive(Debug)]
pub struct Personnel;

impl Service for Personnel {
    const NAME: &'static str = "personnel";
    const PORT: u16 = 50051;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// Training, evaluation and warnings follow the feed (appointments start cultivation plans,
    /// departures close them, violations revoke certificates, reassignments move scope);
    /// evaluation records a confirmed adjustment (调整) as a career event, as itself.
    const GRANTS: &'static [Grant] = &[
        Grant {
            component: "training",
            operations: FEED_OPERATIONS,
        },
        Grant {
            component: "evaluation",
            operations: FEED_OPERATIONS,
        },
        Grant {
            component: "warnings",
            operations: FEED_OPERATIONS,
        },
        Grant {
            component: "evaluation",
            operations: &["CreateCareerEvent"],
        },
    ];
    /// Where training is deployed, its feed tells the certificates the professional ladder needs
    /// (without it, no certificate is known and those promotions wait); where evaluation is,
    /// its feed tells each secretary's latest ranked result and whether it is in the adjustment
    /// band (without it, no ranking is known).
    const OPTIONAL_DEPENDENCIES: &'static [&'static str] = &["training", "evaluation"];
    type Settings = NoSettings;
    type Api = PersonnelApi;

    fn api(kit: Kit, _: NoSettings) -> anyhow::Result<PersonnelApi> {
        let store = Store::new(kit.database.clone(), kit.keys.clone());
        let training =
            kit.follow_if_configured("training", follow::TrainingFeed::new(store.clone()))?;
        let evaluation =
            kit.follow_if_configured("evaluation", follow::EvaluationFeed::new(store.clone()))?;
        Ok(PersonnelApi::new(api::Context {
            kit,
            store,
            training,
            evaluation,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shequ_kit::grants::Grants;

    #[test]
    fn other_services_get_exactly_what_they_need() {
        let grants = Grants::new(Personnel::GRANTS);
        for follower in ["training", "evaluation", "warnings"] {
            assert!(
                grants.allows(follower, "WatchEvents"),
                "{follower} follows the feed"
            );
            assert!(!grants.allows(follower, "UpdateSecretary"));
        }
        assert!(
            grants.allows("evaluation", "CreateCareerEvent"),
            "records adjustments"
        );
        assert!(!grants.allows("training", "CreateCareerEvent"));
        assert!(
            !grants.allows("gateway", "ListEvents"),
            "the gateway follows identity only"
        );
        assert!(!grants.allows("identity", "ListEvents"));
    }
}
