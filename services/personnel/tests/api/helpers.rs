//! `TestApp`: the personnel service on port 0 over a fresh database, with a hand-moved clock and
//! clients that carry a caller token.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use shequ_kit::{
    auth::Role,
    clock::ManualClock,
    config::ServiceConfig,
    testing::{TestDatabase, TestKeys},
};
use shequ_proto::personnel::v1::{self as pb, personnel_service_client::PersonnelServiceClient};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Code, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
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
    pub(crate) database: TestDatabase,
    channel: Channel,
    /// Dropping the sender (with the app) also stops the server.
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

#[derive(Clone)]
pub(crate) struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
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

    /// Starts the service over an existing database and keys (for restart tests).
    pub(crate) async fn spawn_on(
        database: TestDatabase,
        keys: TestKeys,
        clock: ManualClock,
    ) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let mut config: ServiceConfig = shequ_personnel::default_config();
        config.database.url = shequ_kit::config::Secret::new(database.url());
        config.database.max_connections = 4;
        config.database.health_interval_ms = 200;
        config.auth = keys.auth_config();
        config.crypto.master_key = keys.master_key.clone();
        config.server.shutdown_grace_ms = 2_000;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(shequ_personnel::run_with_clock(
            config,
            listener,
            async move {
                let _ = stopped.await;
            },
            Arc::new(clock.clone()),
        ));
        let channel = Channel::from_shared(address.clone())
            .unwrap()
            .connect_lazy();
        let app = TestApp {
            address,
            keys,
            clock,
            database,
            channel,
            stop: Some(stop),
            server: Some(server),
        };
        app.wait_until_serving().await;
        app
    }

    /// Polls gRPC health until the personnel service reports SERVING (no sleeping on hope).
    async fn wait_until_serving(&self) {
        let mut health = HealthClient::new(self.channel.clone());
        for _ in 0..200 {
            let reply = health
                .check(HealthCheckRequest {
                    service: "shequ.personnel.v1.PersonnelService".into(),
                })
                .await;
            if let Ok(reply) = reply
                && reply.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("personnel service did not become SERVING");
    }

    pub(crate) fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// A client acting as `role` over `scope`.
    pub(crate) fn client(&self, role: Role, scope: &str) -> Client {
        self.client_with_token(&self.keys.token(role, scope))
    }

    pub(crate) fn client_with_token(&self, token: &str) -> Client {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        PersonnelServiceClient::with_interceptor(self.channel.clone(), Bearer(value))
    }

    /// A district administrator of Nanshan.
    pub(crate) fn admin(&self) -> Client {
        self.client(Role::DistrictAdmin, NANSHAN)
    }

    /// Stops the service and waits for it, returning its database and keys.
    pub(crate) async fn stop(mut self) -> (TestDatabase, TestKeys, ManualClock) {
        self.shutdown().await;
        let TestApp {
            database,
            keys,
            clock,
            ..
        } = self;
        (database, keys, clock)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
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

/// The reason of a status's ErrorInfo.
pub(crate) fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
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

/// Asserts the code and ErrorInfo reason of a failed call.
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, Status>,
    code: Code,
    expected_reason: &str,
) -> Status {
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), expected_reason, "{status:?}");
    status
}

pub(crate) fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}
