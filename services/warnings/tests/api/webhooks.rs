//! Subscribers: the feed, and webhooks delivered at least once to a real local receiver that
//! fails, times out and recovers, every signature checked; targets restricted against SSRF.

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration;
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use shequ_kit::{auth::Role, testing::Bearer};
use shequ_proto::{
    feed::v1::{self as feed_pb, event_feed_service_client::EventFeedServiceClient},
    warnings::v1 as pb,
};
use shequ_warnings::Settings;
use tonic::Code;

use crate::helpers::*;

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answers (until the sender gives up and drops the connection).
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: http::HeaderMap,
    body: String,
}

/// A real HTTP server on 127.0.0.1 that answers from a script (then 200) and keeps every request.
#[derive(Clone)]
struct Receiver {
    port: u16,
    script: Arc<Mutex<VecDeque<Answer>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            port: listener.local_addr().unwrap().port(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            received: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let this = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let this = this.clone();
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await.unwrap().to_bytes();
                                this.received.lock().unwrap().push(Received {
                                    path: parts.uri.path().to_owned(),
                                    headers: parts.headers,
                                    body: String::from_utf8(body.to_vec()).unwrap(),
                                });
                                let answer = this.script.lock().unwrap().pop_front();
                                let status = match answer.unwrap_or(Answer::Status(200)) {
                                    Answer::Status(status) => status,
                                    Answer::Hang => std::future::pending().await,
                                };
                                Ok::<_, Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(Full::new(bytes::Bytes::from_static(b"ok")))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        receiver
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn until_received(&self, count: usize) -> Vec<Received> {
        for _ in 0..3_000 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the receiver never got {count} requests");
    }
}

fn settings() -> Settings {
    Settings {
        webhook_allow_private_targets: true,
        ..Settings::default()
    }
}

async fn endpoint(app: &TestApp, url: &str) -> (String, String) {
    let created = app
        .admin()
        .create_webhook_endpoint(pb::CreateWebhookEndpointRequest {
            webhook_endpoint: Some(pb::WebhookEndpoint {
                display_name: "区应急指挥平台".into(),
                url: url.into(),
                region: NANSHAN.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("endpoint registered")
        .into_inner();
    (created.webhook_endpoint.unwrap().name, created.secret)
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<pb::WebhookDelivery> {
    app.admin()
        .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
            parent: endpoint.to_owned(),
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

/// Polls the delivery log until `done` holds.
async fn until_log(
    app: &TestApp,
    endpoint: &str,
    done: impl Fn(&[pb::WebhookDelivery]) -> bool,
) -> Vec<pb::WebhookDelivery> {
    for _ in 0..3_000 {
        let log = deliveries(app, endpoint).await;
        if done(&log) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!(
        "the delivery log never got there: {:?}",
        deliveries(app, endpoint).await
    );
}

/// Checks a request's Standard Webhooks signature with the endpoint's secret.
fn signature_valid(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let header = |name: &str| received.headers[name].to_str().unwrap().to_owned();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            header("webhook-id"),
            header("webhook-timestamp"),
            received.body
        )
        .as_bytes(),
    );
    header("webhook-signature") == format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_receiver_that_fails_times_out_and_recovers_gets_every_event_at_least_once_signed() {
    let app = TestApp::spawn_with(settings()).await;
    let receiver = Receiver::start(&[Answer::Status(500), Answer::Hang]).await;
    let (endpoint, secret) = endpoint(
        &app,
        &format!("http://127.0.0.1:{}/hooks/shequ", receiver.port),
    )
    .await;
    let start = shequ_kit::clock::Clock::now(&app.clock).timestamp();
    let mut admin = app.admin();
    let warning = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;

    // attempt 1 at once: 500
    receiver.until_received(1).await;
    until_log(&app, &endpoint, |log| {
        log.first()
            .is_some_and(|d| d.attempts.len() == 1 && d.attempts[0].status_code == 500)
    })
    .await;
    // attempt 2, 10 s later: no answer; given up when 10 s pass on the clock
    app.clock.advance(Duration::seconds(10));
    receiver.until_received(2).await;
    app.clock.advance(Duration::seconds(10));
    let log = until_log(&app, &endpoint, |log| {
        log.first().is_some_and(|d| {
            d.attempts.len() == 2 && d.attempts[1].error.contains("no answer within 10 s")
        })
    })
    .await;
    assert_eq!(log[0].state, pb::DeliveryState::Pending as i32);
    assert_eq!(
        log[0].next_attempt_time,
        Some(shequ_kit::convert::to_timestamp(
            shequ_kit::clock::Clock::now(&app.clock) + Duration::seconds(20)
        )),
        "20 s after the second failure"
    );
    // attempt 3, 20 s later: delivered
    app.clock.advance(Duration::seconds(20));
    receiver.until_received(3).await;
    let log = until_log(&app, &endpoint, |log| {
        log.first()
            .is_some_and(|d| d.state == pb::DeliveryState::Delivered as i32)
    })
    .await;
    let attempts: Vec<(i32, i32)> = log[0]
        .attempts
        .iter()
        .map(|a| (a.number, a.status_code))
        .collect();
    assert_eq!(attempts, [(1, 500), (2, 0), (3, 200)]);

    // a second event, delivered at once
    admin
        .escalate_warning(pb::EscalateWarningRequest {
            name: warning.name.clone(),
            colour: pb::Colour::Red as i32,
            reason: "扩大".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let received = receiver.until_received(4).await;
    until_log(&app, &endpoint, |log| {
        log.len() == 2
            && log
                .iter()
                .all(|d| d.state == pb::DeliveryState::Delivered as i32)
    })
    .await;

    // every request signed; the three attempts of the first event one message (same id, body)
    assert!(received.iter().all(|r| signature_valid(&secret, r)));
    assert!(received.iter().all(|r| r.path == "/hooks/shequ"));
    let id = |r: &Received| r.headers["webhook-id"].to_str().unwrap().to_owned();
    let stamp = |r: &Received| {
        r.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(id(&received[0]), id(&received[2]));
    assert_eq!(received[0].body, received[2].body);
    assert_ne!(id(&received[0]), id(&received[3]));
    assert_eq!(id(&received[0]), log_webhook_id(&app, &endpoint, 1).await);
    assert_eq!(
        received.iter().map(stamp).collect::<Vec<_>>(),
        [start, start + 10, start + 40, start + 40],
        "each attempt signed when made: at once, after 10 s, after the 10 s wait and 20 s more"
    );
    let first: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(first["type"], "warning.raised");
    assert_eq!(first["data"]["warning"]["name"], warning.name);
    assert_eq!(first["data"]["warning"]["colour"], "COLOUR_BLUE");
    let second: serde_json::Value = serde_json::from_str(&received[3].body).unwrap();
    assert_eq!(second["type"], "warning.escalated");
    assert_eq!(second["data"]["fromColour"], "COLOUR_BLUE");
    assert_eq!(second["data"]["warning"]["colour"], "COLOUR_RED");
    // a signature under another secret does not verify
    let (_, other) = self::endpoint(&app, "http://127.0.0.1:9/elsewhere").await;
    assert!(!signature_valid(&other, &received[0]));
    app.stop().await;
}

/// The webhook-id of the `nth` oldest delivery of `endpoint`.
async fn log_webhook_id(app: &TestApp, endpoint: &str, nth: usize) -> String {
    let mut log = deliveries(app, endpoint).await;
    log.reverse();
    log[nth - 1].webhook_id.clone()
}

#[tokio::test]
async fn webhooks_do_not_reach_loopback_private_or_link_local_targets_unless_allowed() {
    let app = TestApp::spawn().await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ] {
        let refused = assert_refused(
            app.admin()
                .create_webhook_endpoint(pb::CreateWebhookEndpointRequest {
                    webhook_endpoint: Some(pb::WebhookEndpoint {
                        display_name: "x".into(),
                        url: url.into(),
                        region: NANSHAN.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await,
            Code::InvalidArgument,
            "WEBHOOK_TARGET_FORBIDDEN",
        );
        assert_eq!(violations(&refused)[0].0, "webhook_endpoint.url", "{url}");
    }
    let refused = assert_refused(
        app.admin()
            .create_webhook_endpoint(pb::CreateWebhookEndpointRequest {
                webhook_endpoint: Some(pb::WebhookEndpoint {
                    display_name: String::new(),
                    url: "ftp://files.example.cn/".into(),
                    region: FUTIAN.into(),
                    event_types: vec![1, 1, 9],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "FIELD_REQUIRED",
    );
    assert_eq!(
        violations(&refused),
        [
            (
                "webhook_endpoint.display_name".to_owned(),
                "FIELD_REQUIRED".to_owned()
            ),
            (
                "webhook_endpoint.url".to_owned(),
                "WEBHOOK_URL_INVALID".to_owned()
            ),
            (
                "webhook_endpoint.event_types[1]".to_owned(),
                "EVENT_TYPE_DUPLICATE".to_owned()
            ),
            (
                "webhook_endpoint.event_types[2]".to_owned(),
                "ENUM_VALUE_UNKNOWN".to_owned()
            ),
        ]
    );
    // a host name is resolved at each delivery: one that resolves to loopback is not called
    let receiver = Receiver::start(&[]).await;
    let (endpoint, _) = endpoint(&app, &format!("http://localhost:{}/hook", receiver.port)).await;
    raise(&app.admin(), flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    let log = until_log(&app, &endpoint, |log| {
        log.first().is_some_and(|d| {
            !d.attempts.is_empty()
                && d.attempts[0].status_code == 0
                && d.attempts[0].error.contains("forbidden")
        })
    })
    .await;
    assert!(
        log[0].attempts[0]
            .error
            .contains("resolves only to forbidden addresses"),
        "{}",
        log[0].attempts[0].error
    );
    assert!(receiver.received().is_empty());
    // deleting the endpoint cancels what is pending: nothing more is attempted
    app.admin()
        .delete_webhook_endpoint(pb::DeleteWebhookEndpointRequest {
            name: endpoint.clone(),
        })
        .await
        .unwrap();
    app.clock.advance(Duration::hours(1));
    let log = deliveries(&app, &endpoint).await;
    assert_eq!(log[0].state, pb::DeliveryState::Cancelled as i32);
    assert_eq!(log[0].attempts.len(), 1);
    assert_refused(
        app.admin()
            .get_webhook_endpoint(pb::GetWebhookEndpointRequest { name: endpoint })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    app.stop().await;
}

#[tokio::test]
async fn evaluation_follows_the_feed_of_raised_escalated_overdue_and_resolved_warnings() {
    let app = TestApp::spawn().await;
    let mut admin = app.admin();
    let warning = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    admin
        .escalate_warning(pb::EscalateWarningRequest {
            name: warning.name.clone(),
            colour: pb::Colour::Yellow as i32,
            reason: "多部门".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.clock.advance(Duration::hours(72));
    app.until_missed(&warning.name, 1).await;
    admin
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: warning.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .create_consultation(pb::CreateConsultationRequest {
            parent: warning.name.clone(),
            consultation: Some(pb::Consultation {
                departments: vec![pb::Department::Water as i32],
                summary: "会商".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    admin
        .resolve_warning(pb::ResolveWarningRequest {
            name: warning.name.clone(),
            resolution: "完成".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let feed = |service: &str| {
        EventFeedServiceClient::with_interceptor(
            app.server.channel(),
            Bearer::new(&app.keys.service_token(service)),
        )
    };
    let events = feed("evaluation")
        .list_events(feed_pb::ListEventsRequest {
            after_sequence: 0,
            page_size: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let types: Vec<String> = events
        .iter()
        .map(|e| {
            e.payload
                .as_ref()
                .unwrap()
                .type_url
                .rsplit('.')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        [
            "WarningRaised",
            "WarningEscalated",
            "WarningOverdue",
            "WarningResolved"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.subject == warning.name && e.region == NANTOU_COMMUNITY)
    );
    let overdue: pb::WarningOverdue = shequ_kit::feed::payload(&events[2]).unwrap();
    assert_eq!(overdue.notification.unwrap().region, NANTOU_STREET);
    // a component without the grant is refused
    let refused = feed("training")
        .list_events(feed_pb::ListEventsRequest {
            after_sequence: 0,
            page_size: 100,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "OPERATION_NOT_GRANTED");
    let _ = Role::Auditor;
    app.stop().await;
}

#[tokio::test]
async fn the_standardwebhooks_python_package_verifies_our_deliveries() {
    let app = TestApp::spawn_with(settings()).await;
    // the package checks the timestamp against real time: run the clock from now
    app.clock.set(chrono::Utc::now());
    let receiver = Receiver::start(&[]).await;
    let (_, secret) = endpoint(&app, &format!("http://127.0.0.1:{}/hook", receiver.port)).await;
    raise(&app.admin(), flood(NANTOU_COMMUNITY, pb::Colour::Red)).await;
    let received = receiver.until_received(1).await;
    let request = &received[0];
    let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
case = json.load(sys.stdin)
payload = Webhook(case["secret"]).verify(case["body"], case["headers"])
print(payload["type"])
"#;
    let case = serde_json::json!({
        "secret": secret,
        "body": request.body,
        "headers": {
            "webhook-id": header("webhook-id"),
            "webhook-timestamp": header("webhook-timestamp"),
            "webhook-signature": header("webhook-signature"),
        },
    });
    let python =
        shequ_kit::testing::python_with(&[("standardwebhooks", "standardwebhooks==1.1.0")]);
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(case.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "standardwebhooks refused the delivery: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "warning.raised"
    );
    // and refuses it under another secret
    let (_, other) = endpoint(&app, "http://127.0.0.1:9/other").await;
    let case =
        serde_json::json!({"secret": other, "body": request.body, "headers": case["headers"]});
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(case.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    assert!(!child.wait_with_output().await.unwrap().status.success());
    app.stop().await;
}
