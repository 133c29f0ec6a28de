//! `TestApp`: the warnings service on port 0 over a fresh database, beside the real personnel
//! service it follows, both on one hand-moved clock, with clients that carry a caller token.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
pub(crate) use shequ_kit::testing::{assert_refused, reason};
use shequ_kit::{
    auth::Role,
    clock::ManualClock,
    config::{DependencyConfig, ServiceConfig},
    service::default_config,
    testing::{Bearer, TestDatabase, TestKeys, TestServer},
};
use shequ_personnel::Personnel;
use shequ_proto::{
    personnel::v1::{self as personnel_pb, personnel_service_client::PersonnelServiceClient},
    warnings::v1::{self as pb, warnings_service_client::WarningsServiceClient},
};
use shequ_warnings::{Settings, Warnings};
use tonic::{Status, service::interceptor::InterceptedService, transport::Channel};
use tonic_types::StatusExt;

pub(crate) const GUANGDONG: &str = "440000000000";
pub(crate) const SHENZHEN: &str = "440300000000";
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

pub(crate) type Client = WarningsServiceClient<InterceptedService<Channel, Bearer>>;
pub(crate) type PersonnelClient = PersonnelServiceClient<InterceptedService<Channel, Bearer>>;

/// The warnings service and the personnel service it follows.
pub(crate) struct TestApp {
    pub(crate) keys: TestKeys,
    pub(crate) clock: ManualClock,
    pub(crate) personnel: TestServer,
    pub(crate) server: TestServer,
    pub(crate) settings: Settings,
}

impl TestApp {
    pub(crate) async fn spawn() -> TestApp {
        Self::spawn_with(Settings::default()).await
    }

    /// Both services over fresh databases, warnings with `settings`.
    pub(crate) async fn spawn_with(settings: Settings) -> TestApp {
        let keys = TestKeys::new();
        let clock = ManualClock::at(start_time());
        let personnel = TestServer::start::<Personnel>(
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        let server = TestServer::start_with::<Warnings>(
            warnings_config(&personnel, settings.clone()),
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        TestApp {
            keys,
            clock,
            personnel,
            server,
            settings,
        }
    }

    /// The configuration of a warnings replica beside this personnel service.
    pub(crate) fn config(&self) -> ServiceConfig<Settings> {
        warnings_config(&self.personnel, self.settings.clone())
    }

    /// Another replica of the warnings service over the same database.
    pub(crate) async fn replica(&self) -> TestServer {
        TestServer::start_with::<Warnings>(
            self.config(),
            self.server.database.alias(),
            self.keys.clone(),
            self.clock.clone(),
        )
        .await
    }

    /// Stops the warnings service (drained, as a rolling restart does) and starts it again on the
    /// same port and database; personnel keeps running.
    pub(crate) async fn restart(self) -> TestApp {
        let TestApp {
            keys,
            clock,
            personnel,
            server,
            settings,
        } = self;
        let address = server.address;
        let (database, _, _) = server.stop().await;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("same port");
        let server = TestServer::start_on::<Warnings>(
            listener,
            warnings_config(&personnel, settings.clone()),
            database,
            keys.clone(),
            clock.clone(),
        )
        .await;
        TestApp {
            keys,
            clock,
            personnel,
            server,
            settings,
        }
    }

    /// A warnings client acting as `role` over `scope`.
    pub(crate) fn client(&self, role: Role, scope: &str) -> Client {
        self.client_with_token(&self.keys.token(role, scope))
    }

    pub(crate) fn client_with_token(&self, token: &str) -> Client {
        WarningsServiceClient::with_interceptor(self.server.channel(), Bearer::new(token))
    }

    /// A district administrator of Nanshan.
    pub(crate) fn admin(&self) -> Client {
        self.client(Role::DistrictAdmin, NANSHAN)
    }

    /// A province administrator of Guangdong.
    pub(crate) fn province_admin(&self) -> Client {
        self.client(Role::ProvinceAdmin, GUANGDONG)
    }

    /// A personnel client of the Guangdong administrator.
    pub(crate) fn personnel_admin(&self) -> PersonnelClient {
        PersonnelServiceClient::with_interceptor(
            self.personnel.channel(),
            Bearer::new(&self.keys.token(Role::ProvinceAdmin, GUANGDONG)),
        )
    }

    /// The warnings database, for tests that count rows behind the API.
    pub(crate) fn database(&self) -> &TestDatabase {
        &self.server.database
    }

    pub(crate) async fn stop(self) {
        self.server.stop().await;
        self.personnel.stop().await;
    }
}

fn warnings_config(personnel: &TestServer, settings: Settings) -> ServiceConfig<Settings> {
    let mut config = default_config::<Warnings>();
    config.dependencies.insert(
        "personnel".to_owned(),
        DependencyConfig {
            address: personnel.url(),
            ..DependencyConfig::default()
        },
    );
    config.service = settings;
    config
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

/// Waits until personnel's feed has told the warnings service about `secretary` (the roster
/// shows them where `community` says, `Some` in post, `None` gone), polling its database.
pub(crate) async fn until_roster_shows(app: &TestApp, secretary: &str, community: Option<&str>) {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(app.database().url())
        .await
        .expect("the warnings database");
    for _ in 0..2_000 {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT region, active FROM secretary_roster WHERE secretary = $1")
                .bind(secretary)
                .fetch_optional(&mut conn)
                .await
                .expect("roster query");
        let shown = match (&row, community) {
            (Some((region, active)), Some(community)) => *active == 1 && region == community,
            (Some((_, active)), None) => *active == 0,
            (None, _) => false,
        };
        if shown {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the roster never showed {secretary} at {community:?}");
}

/// Counts rows of `table` in the warnings database.
pub(crate) async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(app.database().url())
        .await
        .expect("the warnings database");
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

/// A blue warning about flooding in `community`.
pub(crate) fn flood(community: &str, colour: pb::Colour) -> pb::Warning {
    pb::Warning {
        title: "暴雨积水".into(),
        description: "地下车库入口积水 30 厘米".into(),
        colour: colour as i32,
        category: "flood".into(),
        region: community.into(),
        ..Default::default()
    }
}

/// Raises `warning` as `client`.
pub(crate) async fn raise(client: &Client, warning: pb::Warning) -> pb::Warning {
    client
        .clone()
        .create_warning(pb::CreateWarningRequest {
            warning: Some(warning),
            request_id: String::new(),
        })
        .await
        .expect("warning raised")
        .into_inner()
}

/// The error's ErrorInfo metadata value `key`.
pub(crate) fn metadata(status: &Status, key: &str) -> String {
    status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get(key).cloned())
        .unwrap_or_default()
}

pub(crate) fn time(text: &str) -> prost_types::Timestamp {
    let at: DateTime<Utc> = text.parse().unwrap();
    shequ_kit::convert::to_timestamp(at)
}

pub(crate) fn hours_after_start(hours: i64) -> prost_types::Timestamp {
    shequ_kit::convert::to_timestamp(start_time() + chrono::Duration::hours(hours))
}

impl TestApp {
    /// Reads a warning as the Nanshan administrator.
    pub(crate) async fn warning(&self, name: &str) -> pb::Warning {
        self.admin()
            .get_warning(pb::GetWarningRequest {
                name: name.to_owned(),
            })
            .await
            .expect("warning readable")
            .into_inner()
    }

    /// Polls until the scheduler has marked `name` overdue with `levels` levels notified (the
    /// history's DEADLINE_MISSED entries); returns the warning.
    pub(crate) async fn until_missed(&self, name: &str, levels: usize) -> pb::Warning {
        for _ in 0..3_000 {
            let history = self
                .admin()
                .list_warning_history_entries(pb::ListWarningHistoryEntriesRequest {
                    parent: name.to_owned(),
                    page_size: 500,
                    page_token: String::new(),
                })
                .await
                .expect("history readable")
                .into_inner()
                .history_entries;
            let missed = history
                .iter()
                .filter(|e| e.action == pb::HistoryAction::DeadlineMissed as i32)
                .count();
            if missed >= levels {
                return self.warning(name).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("{name} was never marked missed {levels} times");
    }

    /// Notifications addressed inside `region`, as its administrator (or street officer).
    pub(crate) async fn notifications(&self, role: Role, region: &str) -> Vec<pb::Notification> {
        self.client(role, region)
            .list_notifications(pb::ListNotificationsRequest {
                parent: format!("regions/{region}"),
                page_size: 500,
                page_token: String::new(),
            })
            .await
            .expect("notifications readable")
            .into_inner()
            .notifications
    }
}

/// Sends a caller token and a terminal key with every call.
#[derive(Debug, Clone)]
pub(crate) struct WithTerminalKey {
    bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    key: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl WithTerminalKey {
    /// Sends `token` as the bearer and `key` (if any) as the terminal's key.
    pub(crate) fn new(token: &str, key: Option<&str>) -> WithTerminalKey {
        WithTerminalKey {
            bearer: format!("Bearer {token}").parse().unwrap(),
            key: key.map(|k| k.parse().unwrap()),
        }
    }
}

impl tonic::service::Interceptor for WithTerminalKey {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        if let Some(key) = &self.key {
            request.metadata_mut().insert("x-terminal-key", key.clone());
        }
        Ok(request)
    }
}

pub(crate) type Ingester = WarningsServiceClient<InterceptedService<Channel, WithTerminalKey>>;

/// The community brain of a test: Guangdong's rainfall indicator and rainstorm rule, and a
/// terminal in Nantou with its key.
pub(crate) struct Brain {
    pub(crate) terminal: String,
    pub(crate) key: String,
}

pub(crate) const RAIN: &str = "rain";
pub(crate) const RAINSTORM: &str = "rainstorm";

impl TestApp {
    /// Another department's system over `scope` presenting `key` (if any).
    pub(crate) fn ingester(&self, scope: &str, key: Option<&str>) -> Ingester {
        WarningsServiceClient::with_interceptor(
            self.server.channel(),
            WithTerminalKey {
                bearer: format!("Bearer {}", self.keys.token(Role::Integration, scope))
                    .parse()
                    .unwrap(),
                key: key.map(|k| k.parse().unwrap()),
            },
        )
    }

    /// Guangdong's rainfall indicator (0 to 300 mm) and the rainstorm rule over it (blue 20,
    /// yellow 50, red 100 mm), and a terminal of `community`.
    pub(crate) async fn brain(&self, community: &str) -> Brain {
        let mut province = self.province_admin();
        province
            .create_indicator(pb::CreateIndicatorRequest {
                parent: format!("provinces/{GUANGDONG}"),
                indicator_id: RAIN.into(),
                indicator: Some(pb::Indicator {
                    display_name: "小时降雨量".into(),
                    department: pb::Department::Weather as i32,
                    unit: "mm".into(),
                    min_value: 0.0,
                    max_value: 300.0,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("indicator created");
        province
            .create_threshold_rule(pb::CreateThresholdRuleRequest {
                parent: format!("provinces/{GUANGDONG}"),
                threshold_rule_id: RAINSTORM.into(),
                threshold_rule: Some(pb::ThresholdRule {
                    indicator: format!("provinces/{GUANGDONG}/indicators/{RAIN}"),
                    display_name: "暴雨内涝".into(),
                    direction: pb::ThresholdDirection::Above as i32,
                    blue_threshold: Some(20.0),
                    yellow_threshold: Some(50.0),
                    red_threshold: Some(100.0),
                    category: "flood".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("rule created");
        let (terminal, key) = self.terminal(community).await;
        Brain { terminal, key }
    }

    /// A new terminal of `community` and its key.
    pub(crate) async fn terminal(&self, community: &str) -> (String, String) {
        let created = self
            .admin()
            .create_terminal(pb::CreateTerminalRequest {
                terminal: Some(pb::Terminal {
                    display_name: "南头雨量站".into(),
                    region: community.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("terminal created")
            .into_inner();
        (created.terminal.unwrap().name, created.key)
    }
}

/// A rainfall reading of `mm` measured at `at`.
pub(crate) fn rain(mm: f64, at: prost_types::Timestamp) -> pb::Reading {
    pb::Reading {
        indicator_id: RAIN.into(),
        value: mm,
        observe_time: Some(at),
    }
}

/// Now on the test clock.
pub(crate) fn now(app: &TestApp) -> prost_types::Timestamp {
    shequ_kit::convert::to_timestamp(shequ_kit::clock::Clock::now(&app.clock))
}
