//! `Stack`: the personnel and identity services and the gateway in front of them, and an HTTP
//! client.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};
use shequ_gateway::GatewayConfig;
use shequ_kit::{
    auth::Role,
    clock::ManualClock,
    config::DependencyConfig,
    service::ServiceEntry,
    testing::{TestDatabase, TestKeys, TestServer},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub(crate) const PERSONNEL: &str = "shequ.personnel.v1.PersonnelService";
pub(crate) const IDENTITY: &str = "shequ.identity.v1.ApiKeyService";
pub(crate) const GUANGDONG: &str = "440000000000";
pub(crate) const NANSHAN: &str = "440305000000";
pub(crate) const FUTIAN: &str = "440304000000";
pub(crate) const NANTOU_COMMUNITY: &str = "440305001001";
pub(crate) const FUTIAN_COMMUNITY: &str = "440304001020";

/// Every service of the suite (`shequ::services()`), each over its own fresh database, with the
/// addresses of its dependencies, all trusting `keys` and reading `clock`.
pub(crate) async fn start_services(
    keys: &TestKeys,
    clock: &ManualClock,
) -> Vec<(ServiceEntry, TestServer)> {
    let entries = shequ::services();
    let mut listeners = Vec::new();
    for _ in &entries {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
    }
    let addresses: Vec<String> = listeners
        .iter()
        .map(|l| format!("http://{}", l.local_addr().expect("address")))
        .collect();
    let mut started = Vec::new();
    for (entry, listener) in entries.iter().zip(listeners) {
        let mut config = entry.default_config();
        for dependency in entry.all_dependencies() {
            let index = entries
                .iter()
                .position(|e| e.name == dependency)
                .expect("a dependency is a service of the suite");
            config.dependencies.insert(
                dependency.to_owned(),
                DependencyConfig {
                    address: addresses[index].clone(),
                    ..DependencyConfig::default()
                },
            );
        }
        let server = TestServer::launch(
            entry,
            listener,
            config,
            TestDatabase::create().await,
            keys.clone(),
            clock.clone(),
        )
        .await;
        started.push((*entry, server));
    }
    started
}

/// "Today" in every journey: 2026-06-15 in Beijing.
fn start_time() -> DateTime<Utc> {
    "2026-06-15T02:00:00Z".parse().expect("a valid time")
}

/// A server task and the sender that stops it.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

/// The gateway, optionally with the real personnel service behind it.
pub(crate) struct Stack {
    pub(crate) url: String,
    pub(crate) keys: TestKeys,
    /// The suite's time: the gateway's (lockout, rate limits, API-key cache) and the services'.
    /// It stands still unless a test moves it.
    pub(crate) clock: ManualClock,
    client: Client<HttpConnector, Full<Bytes>>,
    gateway: Running,
    /// The services behind the gateway (personnel, identity), stopped after it.
    pub(crate) services: Vec<TestServer>,
}

/// A response: status, headers, JSON body (Null when the body is not JSON).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an `application/problem+json` error and returns its body.
    pub(crate) fn problem(&self, status: u16, code: &str, reason: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["reason"], reason, "{}", self.text);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
        assert_eq!(
            self.body["requestId"],
            self.header("x-request-id"),
            "{}",
            self.text
        );
        &self.body
    }
}

impl Stack {
    /// Personnel over a fresh database, and the gateway in front of it; returns once `/readyz`
    /// says every backend is SERVING.
    pub(crate) async fn spawn() -> Stack {
        Self::spawn_with(|_| {}).await
    }

    /// As [`Stack::spawn`], with the gateway configuration adjusted by `adjust`.
    pub(crate) async fn spawn_with(adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
        let keys = TestKeys::new();
        let clock = ManualClock::at(start_time());
        let services = start_services(&keys, &clock).await;
        let mut gateway = GatewayConfig::with_backends(
            services
                .iter()
                .map(|(entry, server)| (entry.grpc_name, server.url())),
        );
        adjust(&mut gateway);
        let mut stack = Self::gateway_with_clock(gateway, keys, clock).await;
        stack.services = services.into_iter().map(|(_, server)| server).collect();
        stack.wait_until_ready().await;
        stack
    }

    /// The gateway alone, in front of the backends `config` names, on a manual clock of its own.
    pub(crate) async fn gateway_only(config: GatewayConfig, keys: TestKeys) -> Stack {
        Self::gateway_with_clock(config, keys, ManualClock::at(start_time())).await
    }

    /// The gateway alone, reading time from `clock`.
    pub(crate) async fn gateway_with_clock(
        mut config: GatewayConfig,
        keys: TestKeys,
        clock: ManualClock,
    ) -> Stack {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        config.http.shutdown_grace_ms = 2_000;
        // The gateway signs its caller tokens with the key the services trust. Unless a test chose
        // production mode, the tests' own tokens are accepted from clients too (development).
        if config.auth.oidc.is_none() {
            config.auth.mode = shequ_gateway::auth::Mode::Development;
        }
        config.auth.signing_key_pem = Some(shequ_kit::config::Secret::new(
            keys.pair.private_pem.clone(),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(shequ_gateway::run_with_clock(
            config,
            listener,
            async move {
                let _ = stopped.await;
            },
            std::sync::Arc::new(clock.clone()),
        ));
        let stack = Stack {
            url,
            keys,
            clock,
            client: Client::builder(TokioExecutor::new()).build_http(),
            gateway: Running {
                stop: Some(stop),
                task: Some(task),
            },
            services: Vec::new(),
        };
        // the gateway itself is up as soon as /healthz answers
        for _ in 0..200 {
            if stack.get("/healthz", None).await.status == StatusCode::OK {
                return stack;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gateway did not answer /healthz");
    }

    /// Polls `/readyz` until it answers 200 (no sleeping on hope).
    pub(crate) async fn wait_until_ready(&self) {
        for _ in 0..200 {
            if self.get("/readyz", None).await.status == StatusCode::OK {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "gateway never became ready: {}",
            self.get("/readyz", None).await.text
        );
    }

    /// Repeats a GET with `authorization` while it succeeds (a revocation reaches the gateway
    /// through identity's feed), backing off from 5 to 100 ms, at most 150 times (within the
    /// default burst of a credential, as the stack's clock stands still); returns the first
    /// answer that is not 200 and how long it took.
    pub(crate) async fn until_refused(&self, path: &str, authorization: &str) -> (Reply, Duration) {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        for _ in 0..150 {
            let reply = self
                .send(
                    Method::GET,
                    path,
                    None,
                    None,
                    &[("authorization", authorization)],
                )
                .await;
            if reply.status != StatusCode::OK {
                return (reply, started.elapsed());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        panic!(
            "{authorization:.12}… still accepted after {:?}",
            started.elapsed()
        );
    }

    /// A plain GET of any URL (another listener of the gateway): status and body text.
    pub(crate) async fn client_get(url: &str) -> (StatusCode, String) {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(
                Request::builder()
                    .uri(url)
                    .body(Full::new(Bytes::new()))
                    .expect("request"),
            )
            .await
            .expect("the listener answers");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A token for `role` over `scope`.
    pub(crate) fn token(&self, role: Role, scope: &str) -> String {
        self.keys.token(role, scope)
    }

    /// A Nanshan district administrator's token.
    pub(crate) fn admin(&self) -> String {
        self.token(Role::DistrictAdmin, NANSHAN)
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            token,
            Some(body.to_string().into_bytes()),
            &[],
        )
        .await
    }

    /// Sends one request; `body` raw bytes, `headers` extra headers.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let response = self
            .client
            .request(request)
            .await
            .expect("the gateway answers");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    /// Stops the gateway, then the service.
    pub(crate) async fn stop(mut self) {
        self.gateway.stop().await;
        for service in self.services.drain(..) {
            service.stop().await;
        }
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

/// A valid secretary profile in the Nantou community as REST JSON.
pub(crate) fn secretary(id_number: &str) -> Value {
    json!({
        "displayName": "王芳",
        "gender": "GENDER_FEMALE",
        "birthDate": format!("{}-{}-{}", &id_number[6..10], &id_number[10..12], &id_number[12..14]),
        "idNumber": id_number,
        "phoneNumber": "13800138000",
        "education": "EDUCATION_BACHELOR",
        "politicalStatus": "POLITICAL_STATUS_CPC_MEMBER",
        "region": NANTOU_COMMUNITY,
        "appointmentDate": "2020-03-01",
        "communityWorkStartDate": "2015-07-01",
    })
}

/// Creates a secretary as the Nanshan administrator; returns the created resource.
pub(crate) async fn create(stack: &Stack, profile: &Value) -> Value {
    let reply = stack
        .post("/v1/secretaries", Some(&stack.admin()), profile)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}
