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
    config.suite.personnel_port = 0;
    config.suite.identity_port = 0;
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
    let channel = Channel::from_shared(format!("http://{}", endpoints.personnel))
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
