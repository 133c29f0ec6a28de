//! The launcher on a fresh data folder: services listen, the development token is accepted, and
//! the keys survive a restart so earlier tokens and encrypted data stay valid.

use shequ_proto::personnel::v1::{self as pb, personnel_service_client::PersonnelServiceClient};
use tokio::sync::oneshot;
use tonic::{Code, Request, transport::Channel};

async fn start(
    data_dir: &std::path::Path,
) -> (
    shequ::Endpoints,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut config = shequ::SuiteConfig::default();
    config.suite.data_dir = data_dir.to_path_buf();
    config.suite.any_port = true;
    let (stop, stopped) = oneshot::channel::<()>();
    let (endpoints, finished) = shequ::start(config, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    (endpoints, stop, tokio::spawn(finished))
}

async fn list_with(
    endpoints: &shequ::Endpoints,
    token: &str,
) -> Result<pb::ListSecretariesResponse, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{}", endpoints.service("personnel")))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = PersonnelServiceClient::new(channel);
    let mut request = Request::new(pb::ListSecretariesRequest {
        parent: "regions/440000000000".into(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    client
        .list_secretaries(request)
        .await
        .map(|r| r.into_inner())
}

/// POSTs or GETs JSON through the gateway with the development token.
async fn rest(
    endpoints: &shequ::Endpoints,
    method: http::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", endpoints.gateway))
        .header("authorization", format!("Bearer {}", endpoints.admin_token))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_readme_first_rest_call_creates_and_reads_back_a_secretary() {
    let dir = tempfile::tempdir().unwrap();
    let (endpoints, stop, finished) = start(&dir.path().join("data")).await;
    let (status, created) = rest(
        &endpoints,
        http::Method::POST,
        "/v1/secretaries",
        Some(serde_json::json!({
            "displayName": "王芳", "gender": "GENDER_FEMALE", "birthDate": "1985-01-01",
            "idNumber": "440305198501010028", "phoneNumber": "13800138000",
            "education": "EDUCATION_BACHELOR", "politicalStatus": "POLITICAL_STATUS_CPC_MEMBER",
            "region": "440305001001", "appointmentDate": "2020-03-01", "communityWorkStartDate": "2015-07-01"
        })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["idNumber"], "440305************");
    assert_eq!(created["birthYear"], 1985);
    let name = created["name"].as_str().unwrap();
    let (status, read) = rest(&endpoints, http::Method::GET, &format!("/v1/{name}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(read["displayName"], "王芳");
    // The launcher runs on the system clock: the create answers the instant that was stored.
    assert_eq!(read["createTime"], created["createTime"]);
    stop.send(()).unwrap();
    finished.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_fresh_data_folder_gets_keys_and_a_working_admin_token_that_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (endpoints, stop, finished) = start(&data).await;
    assert!(data.join("signing-key.pem").exists());
    assert!(data.join("master.key").exists());
    assert!(data.join("personnel.db").exists());
    assert!(data.join("identity.db").exists());
    list_with(&endpoints, &endpoints.admin_token)
        .await
        .expect("the development token is accepted");
    assert_eq!(
        list_with(&endpoints, "forged").await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let first_token = endpoints.admin_token.clone();
    stop.send(()).unwrap();
    finished.await.unwrap().unwrap();

    let (endpoints, stop, finished) = start(&data).await;
    list_with(&endpoints, &first_token)
        .await
        .expect("a token from the first run still verifies");
    stop.send(()).unwrap();
    finished.await.unwrap().unwrap();
}
