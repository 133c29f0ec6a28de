//! `TestApp`: the personnel service on port 0 over a fresh database, with a hand-moved clock and
//! clients that carry a caller token.

use chrono::{DateTime, Utc};
pub(crate) use shequ_kit::testing::{assert_refused, reason};
use shequ_kit::{
    auth::Role,
    clock::ManualClock,
    testing::{Bearer, TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use shequ_proto::personnel::v1::{self as pb, personnel_service_client::PersonnelServiceClient};
use tonic::{Status, service::interceptor::InterceptedService, transport::Channel};
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

pub(crate) const NANSHAN: &str = "440305000000";
pub(crate) const NANTOU_STREET: &str = "440305001000";
pub(crate) const NANTOU_COMMUNITY: &str = "440305001001";
pub(crate) const DAXIN_COMMUNITY: &str = "440305001003";
pub(crate) const FUTIAN_COMMUNITY: &str = "440304001020";
pub(crate) const GUANGDONG: &str = "440000000000";

/// "Today" at the start of every test: 2026-06-15 in Beijing.
pub(crate) fn start_time() -> DateTime<Utc> {
    "2026-06-15T02:00:00Z".parse().unwrap()
}

pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) keys: TestKeys,
    pub(crate) clock: ManualClock,
    channel: Channel,
    server: TestServer,
}

pub(crate) type Client = PersonnelServiceClient<InterceptedService<Channel, Bearer>>;

impl TestApp {
    pub(crate) async fn spawn() -> TestApp {
        Self::spawn_on(
            TestDatabase::create().await,
            TestKeys::new(),
            ManualClock::at(start_time()),
        )
        .await
    }

    /// Starts the service from `config` (the test's database, keys and clock filled in).
    pub(crate) async fn spawn_with(
        config: shequ_kit::config::ServiceConfig<
            <Personnel as shequ_kit::service::Service>::Settings,
        >,
    ) -> TestApp {
        let server = TestServer::start_with::<Personnel>(
            config,
            TestDatabase::create().await,
            TestKeys::new(),
            ManualClock::at(start_time()),
        )
        .await;
        Self::around(server)
    }

    fn around(server: TestServer) -> TestApp {
        TestApp {
            address: server.url(),
            keys: server.keys.clone(),
            clock: server.clock.clone(),
            channel: server.channel(),
            server,
        }
    }

    /// Starts the service over an existing database and keys (for restart tests).
    pub(crate) async fn spawn_on(
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
    ) -> TestApp {
        let server = TestServer::start::<Personnel>(database, keys, clock).await;
        Self::around(server)
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub(crate) fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// A client acting as `role` over `scope`.
    pub(crate) fn client(&self, role: Role, scope: &str) -> Client {
        self.client_with_token(&self.keys.token(role, scope))
    }

    pub(crate) fn client_with_token(&self, token: &str) -> Client {
        PersonnelServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    /// A district administrator of Nanshan.
    pub(crate) fn admin(&self) -> Client {
        self.client(Role::DistrictAdmin, NANSHAN)
    }

    /// Its database, for tests that reach behind the API.
    pub(crate) fn database(&self) -> &TestDatabase {
        &self.server.database
    }

    /// Stops the service and waits for it, returning its database and keys.
    pub(crate) async fn stop(self) -> (TestDatabase, TestKeys, ManualClock) {
        self.server.stop().await
    }
}

/// A valid secretary profile in the Nantou community; `id_number` must be unique per test.
pub(crate) fn secretary(id_number: &str) -> pb::Secretary {
    pb::Secretary {
        display_name: "王芳".into(),
        gender: pb::Gender::Female as i32,
        birth_date: id_birth_date(id_number),
        id_number: id_number.into(),
        phone_number: "13800138000".into(),
        education: pb::Education::Bachelor as i32,
        political_status: pb::PoliticalStatus::CpcMember as i32,
        region: NANTOU_COMMUNITY.into(),
        appointment_date: "2020-03-01".into(),
        community_work_start_date: "2015-07-01".into(),
        ..Default::default()
    }
}

fn id_birth_date(id_number: &str) -> String {
    format!(
        "{}-{}-{}",
        &id_number[6..10],
        &id_number[10..12],
        &id_number[12..14]
    )
}

/// A valid female ID number born in `year` with serial `serial` (0-499), check digit computed.
pub(crate) fn id_number(year: u32, serial: u32) -> String {
    let body = format!("440305{year}0101{:03}", serial * 2 % 1000);
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// Creates a secretary as the Nanshan administrator and returns it.
pub(crate) async fn create(app: &TestApp, profile: pb::Secretary) -> pb::Secretary {
    app.admin()
        .create_secretary(pb::CreateSecretaryRequest {
            request_id: String::new(),
            secretary: Some(profile),
        })
        .await
        .expect("create secretary")
        .into_inner()
}

/// Field and reason of each BadRequest violation.
pub(crate) fn violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| (v.field.clone(), v.reason.clone()))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// Makes Guangdong's professional ladder need no certificate (a province may choose so), for
/// tests of the other prerequisites in a deployment without the training service.
pub(crate) async fn require_no_certificates(app: &TestApp) {
    let mut province = app.client(Role::ProvinceAdmin, GUANGDONG);
    let mut policy = province
        .get_career_policy(pb::GetCareerPolicyRequest {
            name: format!("provinces/{GUANGDONG}/careerPolicy"),
        })
        .await
        .unwrap()
        .into_inner();
    for requirement in &mut policy.rung_requirements {
        requirement.required_certificate = pb::RequiredCertificate::None as i32;
    }
    province
        .update_career_policy(pb::UpdateCareerPolicyRequest {
            career_policy: Some(policy),
            update_mask: mask(&["rung_requirements"]),
        })
        .await
        .unwrap();
}
