//! `TestApp`: the evaluation service on port 0 over a fresh database, beside the real
//! personnel, training and warnings services it depends on, all on one hand-moved clock, with
//! clients that carry a caller token.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use shequ_evaluation::{Evaluation, Settings};
pub(crate) use shequ_kit::testing::assert_refused;
use shequ_kit::{
    auth::Role,
    clock::ManualClock,
    config::{DependencyConfig, ServiceConfig},
    service::{Service, default_config},
    testing::{Bearer, TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use shequ_proto::{
    evaluation::v1::evaluation_service_client::EvaluationServiceClient,
    personnel::v1::{self as personnel_pb, personnel_service_client::PersonnelServiceClient},
};
use tonic::{Status, service::interceptor::InterceptedService, transport::Channel};
use tonic_types::StatusExt;

pub(crate) const GUANGDONG: &str = "440000000000";
pub(crate) const NANSHAN: &str = "440305000000";
pub(crate) const FUTIAN: &str = "440304000000";
pub(crate) const NANTOU_STREET: &str = "440305001000";
pub(crate) const NANTOU_COMMUNITY: &str = "440305001001";
pub(crate) const DAXIN_COMMUNITY: &str = "440305001003";
pub(crate) const FUTIAN_COMMUNITY: &str = "440304001020";
pub(crate) const ZHEJIANG: &str = "330000000000";

/// "Now" at the start of every test: 2026-06-15 10:00 in Beijing.
pub(crate) fn start_time() -> DateTime<Utc> {
    "2026-06-15T02:00:00Z".parse().unwrap()
}

pub(crate) type Client = EvaluationServiceClient<InterceptedService<Channel, Bearer>>;
pub(crate) type PersonnelClient = PersonnelServiceClient<InterceptedService<Channel, Bearer>>;

/// The evaluation service and the three it depends on.
pub(crate) struct TestApp {
    pub(crate) keys: TestKeys,
    pub(crate) clock: ManualClock,
    /// Taken out (and put back) by tests that stop it.
    pub(crate) personnel: Option<TestServer>,
    pub(crate) training: Option<TestServer>,
    pub(crate) warnings: Option<TestServer>,
    pub(crate) server: TestServer,
}

fn dependency(address: String) -> DependencyConfig {
    DependencyConfig {
        address,
        ..DependencyConfig::default()
    }
}

/// The configuration of a service following personnel at `personnel`.
fn following<S: Service>(personnel: &TestServer) -> ServiceConfig<S::Settings> {
    let mut config = default_config::<S>();
    config
        .dependencies
        .insert("personnel".to_owned(), dependency(personnel.url()));
    config
}

impl TestApp {
    pub(crate) async fn spawn() -> TestApp {
        let keys = TestKeys::new();
        let clock = ManualClock::at(start_time());
        let personnel = TestServer::start::<Personnel>(
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        let training = TestServer::start_with::<shequ_training::Training>(
            following::<shequ_training::Training>(&personnel),
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        let warnings = TestServer::start_with::<shequ_warnings::Warnings>(
            following::<shequ_warnings::Warnings>(&personnel),
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        let mut config = following::<Evaluation>(&personnel);
        config
            .dependencies
            .insert("training".to_owned(), dependency(training.url()));
        config
            .dependencies
            .insert("warnings".to_owned(), dependency(warnings.url()));
        config.service = Settings::default();
        let server = TestServer::start_with::<Evaluation>(
            config,
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        TestApp {
            keys,
            clock,
            personnel: Some(personnel),
            training: Some(training),
            warnings: Some(warnings),
            server,
        }
    }

    /// An evaluation client acting as `role` over `scope`.
    pub(crate) fn client(&self, role: Role, scope: &str) -> Client {
        EvaluationServiceClient::with_interceptor(
            self.server.channel(),
            Bearer::new(&self.keys.token(role, scope)),
        )
    }

    /// A province administrator of Guangdong.
    pub(crate) fn province_admin(&self) -> Client {
        self.client(Role::ProvinceAdmin, GUANGDONG)
    }

    /// A district administrator of Nanshan.
    pub(crate) fn district(&self) -> Client {
        self.client(Role::DistrictAdmin, NANSHAN)
    }

    /// A personnel client of the Guangdong administrator.
    pub(crate) fn personnel_admin(&self) -> PersonnelClient {
        PersonnelServiceClient::with_interceptor(
            self.personnel.as_ref().expect("personnel runs").channel(),
            Bearer::new(&self.keys.token(Role::ProvinceAdmin, GUANGDONG)),
        )
    }

    pub(crate) async fn stop(self) {
        self.server.stop().await;
        if let Some(w) = self.warnings {
            w.stop().await;
        }
        if let Some(t) = self.training {
            t.stop().await;
        }
        if let Some(p) = self.personnel {
            p.stop().await;
        }
    }
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

/// Appoints a secretary of `community` through personnel; returns `secretaries/{id}`.
pub(crate) async fn appoint(app: &TestApp, community: &str, serial: u32) -> String {
    let id = id_number(1980, serial);
    app.personnel_admin()
        .create_secretary(personnel_pb::CreateSecretaryRequest {
            request_id: String::new(),
            secretary: Some(personnel_pb::Secretary {
                display_name: "王芳".into(),
                gender: personnel_pb::Gender::Female as i32,
                birth_date: format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]),
                id_number: id,
                education: personnel_pb::Education::Bachelor as i32,
                region: community.into(),
                appointment_date: "2020-03-01".into(),
                community_work_start_date: "2015-07-01".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("appointment recorded")
        .into_inner()
        .name
}

impl TestApp {
    /// An evaluation client with `token`.
    pub(crate) fn client_with_token(&self, token: &str) -> Client {
        EvaluationServiceClient::with_interceptor(self.server.channel(), Bearer::new(token))
    }
}

/// Waits until evaluation (its roster), warnings (its roster) and training have all learnt of
/// `secretaries` from personnel's feed.
pub(crate) async fn until_known(app: &TestApp, secretaries: &[&str]) {
    use shequ_proto::{
        training::v1::{self as training_pb, training_service_client::TrainingServiceClient},
        warnings::v1::{self as warnings_pb, warnings_service_client::WarningsServiceClient},
    };
    let token = app.keys.token(Role::ProvinceAdmin, GUANGDONG);
    for secretary in secretaries {
        for attempt in 0.. {
            assert!(attempt < 500, "{secretary} never reached every service");
            let evaluation = app
                .client_with_token(&token)
                .list_quarterly_assessments(
                    shequ_proto::evaluation::v1::ListQuarterlyAssessmentsRequest {
                        parent: (*secretary).to_owned(),
                        year: 2026,
                    },
                )
                .await
                .is_ok();
            let warnings = match &app.warnings {
                Some(w) => {
                    WarningsServiceClient::with_interceptor(w.channel(), Bearer::new(&token))
                        .batch_get_secretary_warning_summaries(
                            warnings_pb::BatchGetSecretaryWarningSummariesRequest {
                                secretaries: vec![(*secretary).to_owned()],
                                year: 2026,
                            },
                        )
                        .await
                        .is_ok()
                }
                None => true,
            };
            let training = match &app.training {
                Some(t) => {
                    TrainingServiceClient::with_interceptor(t.channel(), Bearer::new(&token))
                        .get_learning_progress(training_pb::GetLearningProgressRequest {
                            name: format!("{secretary}/learningProgress"),
                            ..Default::default()
                        })
                        .await
                        .is_ok()
                }
                None => true,
            };
            if evaluation && warnings && training {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
