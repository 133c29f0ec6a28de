//! The identity service: API keys of the government systems that integrate with the suite
//! (create, list, rotate, revoke; secrets shown once, stored as keyed hashes), and their
//! verification for the gateway. Served over gRPC as `shequ.identity.v1.ApiKeyService`.

pub mod api;
pub mod keys;
pub mod store;

use shequ_kit::{
    config::NoSettings,
    db::Migrations,
    feed::FEED_OPERATIONS,
    grants::Grant,
    service::{Kit, Service},
};

pub use api::IdentityApi;

/// The identity service (gRPC 50055).
#[derive(Debug)]
pub struct Identity;

impl Service for Identity {
    const NAME: &'static str = "identity";
    const PORT: u16 = 50055;
    const MIGRATIONS: Migrations = store::MIGRATIONS;
    /// The gateway verifies API keys, and follows the feed to drop revoked keys at once.
    const GRANTS: &'static [Grant] = &[
        Grant {
            component: "gateway",
            operations: &["VerifyApiKey"],
        },
        Grant {
            component: "gateway",
            operations: FEED_OPERATIONS,
        },
    ];
    type Settings = NoSettings;
    type Api = IdentityApi;

    fn api(kit: Kit, _: NoSettings) -> anyhow::Result<IdentityApi> {
        let store = store::Store::new(kit.database.clone(), kit.keys.blind_index.clone());
        Ok(IdentityApi::new(api::Context { kit, store }))
    }
}
