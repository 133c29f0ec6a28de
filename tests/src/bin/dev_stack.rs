//! `shequ-dev-stack`: the personnel and identity services and the gateway with throw-away keys, for the OpenAPI
//! check and the gateway benchmark (not for production: the keys live only in this process).
//!
//! ```text
//! shequ-dev-stack [--database-url URL] [--personnel-port N] [--gateway-port N] [--no-gateway]
//!                 [--seed N] [--info-file PATH]
//! ```
//! Prints (and writes to `--info-file`) one JSON line: `{"personnel": url, "services": {name:
//! url}, "gateway": url|null,
//! "token": province-admin token, "secretaries": [names of the seeded secretaries]}`, then runs
//! until SIGTERM or Ctrl-C. Every service of the suite runs; personnel's database is a temporary
//! SQLite file unless `--database-url` is given, the others' always are. Logs (JSON, stdout) only at `warn` unless `RUST_LOG` says otherwise.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};
use shequ_kit::{
    auth::Role,
    clock::SystemClock,
    config::{DependencyConfig, Secret},
    testing::TestKeys,
};
use shequ_proto::personnel::v1::{self as pb, personnel_service_client::PersonnelServiceClient};
use tokio::net::TcpListener;
use tonic::{metadata::MetadataValue, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const PROVINCE: &str = "440000000000";
const COMMUNITY: &str = "440305001001";

#[derive(Debug, Default)]
struct Options {
    database_url: Option<String>,
    personnel_port: u16,
    gateway_port: u16,
    no_gateway: bool,
    seed: u32,
    info_file: Option<PathBuf>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--database-url" => options.database_url = Some(value()?),
            "--personnel-port" => options.personnel_port = value()?.parse()?,
            "--gateway-port" => options.gateway_port = value()?.parse()?,
            "--no-gateway" => options.no_gateway = true,
            "--seed" => options.seed = value()?.parse()?,
            "--info-file" => options.info_file = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other}; see the source header for usage"),
        }
    }
    if options.seed > 2_000 {
        bail!("--seed at most 2000");
    }
    Ok(options)
}

/// A valid ID number: born on 1 January of `year`, serial `serial` (0-499), check digit computed.
fn id_number(year: u32, serial: u32) -> String {
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

async fn seed(personnel: &str, token: &str, count: u32) -> anyhow::Result<Vec<String>> {
    let channel = Channel::from_shared(personnel.to_owned())?
        .connect()
        .await?;
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse()?;
    let mut client =
        PersonnelServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        });
    let mut names = Vec::new();
    for n in 0..count {
        let (year, serial) = (1975 + n / 400, n % 400);
        let id = id_number(year, serial);
        let secretary = pb::Secretary {
            display_name: format!("测试书记{n}"),
            gender: pb::Gender::Female as i32,
            birth_date: format!("{year}-01-01"),
            id_number: id,
            phone_number: "13800138000".into(),
            education: pb::Education::Bachelor as i32,
            political_status: pb::PoliticalStatus::CpcMember as i32,
            region: COMMUNITY.into(),
            appointment_date: "2020-03-01".into(),
            community_work_start_date: "2012-07-01".into(),
            ..Default::default()
        };
        let created = client
            .create_secretary(pb::CreateSecretaryRequest {
                secretary: Some(secretary),
                ..Default::default()
            })
            .await
            .with_context(|| format!("seeding secretary {n}"))?;
        names.push(created.into_inner().name);
    }
    Ok(names)
}

async fn wait_until_serving(url: &str, service: &str) -> anyhow::Result<()> {
    let channel = Channel::from_shared(url.to_owned())?.connect_lazy();
    let mut health = HealthClient::new(channel);
    for _ in 0..400 {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        if let Ok(reply) = health.check(request).await
            && reply.into_inner().status == ServingStatus::Serving as i32
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("{service} did not become SERVING")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let telemetry = shequ_kit::config::TelemetryConfig {
        log_filter: "warn".into(),
        ..Default::default()
    };
    let telemetry = shequ_kit::telemetry::init("shequ-dev-stack", &telemetry)?;

    let keys = TestKeys::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // Every service of the suite: personnel on `--database-url` (or a temporary SQLite file) and
    // on `--personnel-port`, every other one on its own temporary SQLite database (each service
    // owns its database; one URL shared by two would mix their migrations).
    let entries = shequ::services();
    let mut databases = Vec::new();
    let mut listeners = Vec::new();
    for entry in &entries {
        let port = if entry.name == "personnel" {
            options.personnel_port
        } else {
            0
        };
        listeners.push(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?);
    }
    let urls: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| format!("http://{a}")))
        .collect::<Result<_, _>>()?;
    let mut tasks = Vec::new();
    for (entry, listener) in entries.iter().zip(listeners) {
        let mut config = entry.default_config();
        let url = match (&options.database_url, entry.name) {
            (Some(url), "personnel") => url.clone(),
            _ => {
                let database = shequ_kit::testing::TestDatabase::sqlite();
                let url = database.url().to_owned();
                databases.push(database);
                url
            }
        };
        config.database.url = Secret::new(url);
        config.auth = keys.auth_config_for(entry.name);
        config.crypto.master_key = keys.master_key.clone();
        for dependency in entry.all_dependencies() {
            if let Some(index) = entries.iter().position(|e| e.name == dependency) {
                config.dependencies.insert(
                    dependency.to_owned(),
                    DependencyConfig {
                        address: urls[index].clone(),
                        ..DependencyConfig::default()
                    },
                );
            }
        }
        tasks.push(tokio::spawn(entry.run(
            config,
            listener,
            Box::pin(stopped(stop_rx.clone())),
            std::sync::Arc::new(SystemClock),
        )));
    }
    for (entry, url) in entries.iter().zip(&urls) {
        wait_until_serving(url, entry.grpc_name).await?;
    }
    let url_of = |name: &str| {
        entries
            .iter()
            .position(|e| e.name == name)
            .map(|i| urls[i].clone())
    };
    let personnel = url_of("personnel").context("personnel is a service of the suite")?;

    let token = keys.token(Role::ProvinceAdmin, PROVINCE);
    let secretaries = seed(&personnel, &token, options.seed).await?;

    let mut gateway_url = None;
    let gateway_task = if options.no_gateway {
        None
    } else {
        let listener =
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.gateway_port))).await?;
        gateway_url = Some(format!("http://{}", listener.local_addr()?));
        let mut config = shequ_gateway::GatewayConfig::development(
            entries
                .iter()
                .zip(&urls)
                .map(|(entry, url)| (entry.grpc_name, url.clone())),
            &keys.pair.private_pem,
        );
        // The fuzzer and the benchmark drive one credential as hard as they can; the per-credential
        // rate limit (tested on its own) would only measure itself.
        config.auth.rate_per_second = 1_000_000_000.0;
        config.auth.rate_burst = u32::MAX;
        // Likewise the sign-in lockout (tested on its own): schemathesis sends invalid
        // credentials to every operation and expects 401, not the 429 of a locked-out credential.
        config.auth.lockout_failures = u32::MAX;
        Some(tokio::spawn(shequ_gateway::run(
            config,
            listener,
            stopped(stop_rx.clone()),
        )))
    };

    let mut info = serde_json::json!({
        "personnel": personnel,
        "services": entries.iter().map(|e| e.name).zip(&urls).collect::<std::collections::BTreeMap<_, _>>(),
        "gateway": gateway_url,
        "token": token,
        "secretaries": secretaries,
    });
    println!("{info}");
    // The throw-away signing key, for a gateway started as its own process (the benchmark); only
    // in the info file, which the caller keeps in a private temporary folder.
    info["signing_key_pem"] = serde_json::json!(keys.pair.private_pem);
    if let Some(file) = &options.info_file {
        std::fs::write(file, format!("{info}\n"))?;
    }

    shequ_kit::shutdown::signal().await;
    let _ = stop_tx.send(true);
    if let Some(task) = gateway_task {
        task.await??;
    }
    for task in tasks {
        task.await??;
    }
    drop(databases);
    telemetry.shutdown();
    Ok(())
}
