//! `Env`: personnel and training on port 0 over fresh databases, on one hand-moved clock, with
//! clients that carry a caller token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shequ_kit::{
    auth::{Caller, Role},
    clock::ManualClock,
    config::DependencyConfig,
    service::default_config,
    testing::{Bearer, TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use shequ_proto::{
    personnel::v1::{self as ppb, personnel_service_client::PersonnelServiceClient},
    training::v1::{self as pb, training_service_client::TrainingServiceClient},
};
use shequ_training::Training;
use tonic::{Status, service::interceptor::InterceptedService, transport::Channel};
use tonic_types::StatusExt;

pub(crate) const NANSHAN: &str = "440305000000";
pub(crate) const NANTOU_COMMUNITY: &str = "440305001001";
pub(crate) const DAXIN_COMMUNITY: &str = "440305001003";
pub(crate) const GUANGDONG: &str = "440000000000";

pub(crate) type Training_ = TrainingServiceClient<InterceptedService<Channel, Bearer>>;
pub(crate) type Personnel_ = PersonnelServiceClient<InterceptedService<Channel, Bearer>>;

/// "Today" at the start of every test: 2026-06-15 in Beijing.
pub(crate) fn start_time() -> DateTime<Utc> {
    "2026-06-15T02:00:00Z".parse().unwrap()
}

pub(crate) struct Env {
    pub(crate) keys: TestKeys,
    pub(crate) clock: ManualClock,
    pub(crate) personnel: TestServer,
    pub(crate) training: Option<TestServer>,
    serial: std::sync::atomic::AtomicU32,
}

pub(crate) fn training_config(
    personnel: &str,
) -> shequ_kit::config::ServiceConfig<shequ_training::Settings> {
    let mut config = default_config::<Training>();
    config.dependencies.insert(
        "personnel".into(),
        DependencyConfig {
            address: personnel.to_owned(),
            deadline_ms: 2_000,
            ..DependencyConfig::default()
        },
    );
    config.service.public_base_url = "https://shequ.example.gov.cn".into();
    config
}

impl Env {
    pub(crate) async fn spawn() -> Env {
        let keys = TestKeys::new();
        let clock = ManualClock::at(start_time());
        let personnel = TestServer::start::<Personnel>(
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        let training = TestServer::start_with::<Training>(
            training_config(&personnel.url()),
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        Env {
            keys,
            clock,
            personnel,
            training: Some(training),
            serial: std::sync::atomic::AtomicU32::new(1),
        }
    }

    pub(crate) fn server(&self) -> &TestServer {
        self.training.as_ref().expect("training runs")
    }

    /// Stops training and starts it again over the same database.
    pub(crate) async fn restart_training(&mut self) {
        let (database, keys, clock) = self.training.take().expect("running").stop().await;
        self.training = Some(
            TestServer::start_with::<Training>(
                training_config(&self.personnel.url()),
                database,
                keys,
                clock,
            )
            .await,
        );
    }

    pub(crate) fn training_as(&self, caller: &Caller) -> Training_ {
        TrainingServiceClient::with_interceptor(
            self.server().channel(),
            Bearer::new(&self.keys.token_for(caller)),
        )
    }

    pub(crate) fn training(&self, role: Role, scope: &str) -> Training_ {
        self.training_as(&shequ_kit::testing::caller(role, scope))
    }

    /// A district administrator of Nanshan.
    pub(crate) fn admin(&self) -> Training_ {
        self.training(Role::DistrictAdmin, NANSHAN)
    }

    /// The secretary `name` with their own token.
    pub(crate) fn secretary(&self, name: &str, community: &str) -> Training_ {
        let mut caller = shequ_kit::testing::caller(Role::Secretary, community);
        caller.secretary = Some(name.to_owned());
        self.training_as(&caller)
    }

    pub(crate) fn personnel(&self) -> Personnel_ {
        PersonnelServiceClient::with_interceptor(
            self.personnel.channel(),
            Bearer::new(&self.keys.token(Role::DistrictAdmin, NANSHAN)),
        )
    }

    /// Appoints a secretary in personnel (in `community`, on `appointed`) and waits until
    /// training has learnt of it from the feed; returns `secretaries/{id}`.
    pub(crate) async fn appoint(&self, community: &str, appointed: &str) -> String {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id_number = id_number(1985, serial);
        let created = self
            .personnel()
            .create_secretary(ppb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(ppb::Secretary {
                    display_name: "王芳".into(),
                    gender: ppb::Gender::Female as i32,
                    birth_date: format!(
                        "{}-{}-{}",
                        &id_number[6..10],
                        &id_number[10..12],
                        &id_number[12..14]
                    ),
                    id_number,
                    phone_number: "13800138000".into(),
                    education: ppb::Education::Bachelor as i32,
                    political_status: ppb::PoliticalStatus::CpcMember as i32,
                    region: community.into(),
                    appointment_date: appointed.into(),
                    community_work_start_date: "2015-07-01".into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("personnel appoints")
            .into_inner();
        self.wait_known(&created.name).await;
        created.name
    }

    /// Waits until training's read model has `secretary` (through the feed).
    pub(crate) async fn wait_known(&self, secretary: &str) {
        let id = secretary.trim_start_matches("secretaries/").to_owned();
        self.wait_for("training to learn of the appointment", || {
            let id = id.clone();
            async move {
                self.count("SELECT COUNT(*) FROM secretaries WHERE id = $1", &id)
                    .await
                    == 1
            }
        })
        .await;
    }

    /// Polls `condition` (a guard of 20 s against a hang, never the thing tested).
    pub(crate) async fn wait_for<F, Fut>(&self, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while !condition().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    /// A count from training's database, with one text parameter.
    pub(crate) async fn count(&self, sql: &str, param: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(self.server().database.url())
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(param)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }

    /// Records a career event in personnel (a departure, a transfer ...).
    pub(crate) async fn career_event(&self, secretary: &str, kind: ppb::CareerEventType, on: &str) {
        self.personnel()
            .create_career_event(ppb::CreateCareerEventRequest {
                parent: secretary.into(),
                career_event: Some(ppb::CareerEvent {
                    r#type: kind as i32,
                    effective_date: on.into(),
                    destination: "街道办事处".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("personnel records the event");
    }

    /// Records a negative-list violation in personnel.
    pub(crate) async fn violation(&self, secretary: &str, item: &str, on: &str) {
        self.personnel()
            .create_violation(ppb::CreateViolationRequest {
                parent: secretary.into(),
                violation: Some(ppb::Violation {
                    negative_list_item: format!("provinces/{GUANGDONG}/negativeListItems/{item}"),
                    occurred_on: on.into(),
                    evidence: "通报".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("personnel records the violation");
    }

    /// Pairs `mentor` with `mentee` as the Nanshan administrator.
    pub(crate) async fn pair(&self, mentor: &str, mentee: &str) -> Result<pb::Mentorship, Status> {
        self.admin()
            .create_mentorship(pb::CreateMentorshipRequest {
                mentorship: Some(pb::Mentorship {
                    mentor: mentor.into(),
                    mentee: mentee.into(),
                    start_date: "2026-06-01".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Records a module exam result.
    pub(crate) async fn exam(
        &self,
        secretary: &str,
        module: pb::ExamModule,
        score: i32,
    ) -> pb::ExamResult {
        self.admin()
            .create_exam_result(pb::CreateExamResultRequest {
                parent: secretary.into(),
                exam_result: Some(pb::ExamResult {
                    module: module as i32,
                    score,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("exam recorded")
            .into_inner()
    }

    /// Asks for a certificate of `level`.
    pub(crate) async fn certify(
        &self,
        secretary: &str,
        level: pb::CertificateLevel,
    ) -> Result<pb::Certificate, Status> {
        self.admin()
            .create_certificate(pb::CreateCertificateRequest {
                parent: secretary.into(),
                certificate: Some(pb::Certificate {
                    level: level as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Passes both modules of `level` and gets its certificate.
    pub(crate) async fn certified(
        &self,
        secretary: &str,
        level: pb::CertificateLevel,
    ) -> pb::Certificate {
        let modules = match level {
            pb::CertificateLevel::Basic => [
                pb::ExamModule::SystemOperation,
                pb::ExamModule::DataInterpretation,
            ],
            pb::CertificateLevel::Advanced => [
                pb::ExamModule::DataAnalysis,
                pb::ExamModule::PlatformDevelopment,
            ],
            _ => [
                pb::ExamModule::SmartDecisionMaking,
                pb::ExamModule::EcosystemBuilding,
            ],
        };
        for module in modules {
            assert!(self.exam(secretary, module, 80).await.passed);
        }
        self.certify(secretary, level)
            .await
            .expect("certificate issued")
    }

    /// Training's own feed, as a follower would read it (personnel is granted it).
    pub(crate) async fn training_events(&self) -> Vec<shequ_proto::feed::v1::Event> {
        use shequ_proto::feed::v1::{
            ListEventsRequest, event_feed_service_client::EventFeedServiceClient,
        };
        let mut client = EventFeedServiceClient::with_interceptor(
            self.server().channel(),
            Bearer::new(&self.keys.service_token("personnel")),
        );
        client
            .list_events(ListEventsRequest {
                after_sequence: 0,
                page_size: 1000,
            })
            .await
            .expect("the feed")
            .into_inner()
            .events
    }

    /// Type names of training's feed events, in order.
    pub(crate) async fn event_types(&self) -> Vec<String> {
        self.training_events()
            .await
            .iter()
            .map(|e| {
                let url = &e.payload.as_ref().unwrap().type_url;
                url.rsplit('.').next().unwrap().to_owned()
            })
            .collect()
    }
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

/// Subjects of each PreconditionFailure violation.
pub(crate) fn preconditions(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .precondition_failure()
        .map(|p| p.violations.iter().map(|v| v.subject.clone()).collect())
        .unwrap_or_default()
}

/// The plan of `secretary` as an administrator reads it.
pub(crate) async fn plan(env: &Env, secretary: &str) -> Result<pb::CultivationPlan, Status> {
    env.admin()
        .get_cultivation_plan(pb::GetCultivationPlanRequest {
            name: format!("{secretary}/cultivationPlan"),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Signs off `step` on `on` as `client`.
pub(crate) async fn sign_off(
    client: &mut Training_,
    secretary: &str,
    step: i32,
    on: &str,
) -> Result<pb::CultivationPlan, Status> {
    client
        .complete_plan_step(pb::CompletePlanStepRequest {
            name: format!("{secretary}/cultivationPlan"),
            step,
            completed_on: on.into(),
            note: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts the code and ErrorInfo reason of a failed call and returns its status.
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: tonic::Code,
    reason: &str,
) -> Status {
    let status = result.expect_err("the call should be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(shequ_kit::testing::reason(&status), reason, "{status:?}");
    status
}
