//! The personnel and careers service (人员与职业发展): secretaries, qualification standards,
//! the two career ladders, career history, the negative list, the reserve pool and workforce
//! statistics (DOMAIN.md §1), served over gRPC as `shequ.personnel.v1.PersonnelService`. Its
//! feed publishes appointments, career events and violations for the services that follow it.
//!
//! Layers: [`api`] (gRPC handlers: authorise, parse, map errors) → [`domain`] (pure rules) →
//! [`store`] (SQL over the service's own database).

pub mod api;
pub mod domain;
pub mod store;

use shequ_kit::{
    config::NoSettings,
    db::Migrations,
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
    /// Nothing yet: training, evaluation and warnings will follow the feed.
    const GRANTS: &'static [Grant] = &[];
    type Settings = NoSettings;
    type Api = PersonnelApi;

    fn api(kit: Kit, _: NoSettings) -> anyhow::Result<PersonnelApi> {
        let store = Store::new(kit.database.clone(), kit.keys.clone());
        Ok(PersonnelApi::new(api::Context { kit, store }))
    }
}
