//! `shequ-gateway`: the REST gateway alone, for separate deployment.
//!
//! `shequ-gateway keygen DIR` writes a new signing key pair (see `docs/operations.md`).
//!
//! Configuration: defaults, then the TOML file named by `SHEQU_CONFIG` (if set), then
//! `SHEQU_<SECTION>__<KEY>` variables, e.g. `SHEQU_HTTP__LISTEN=0.0.0.0:8080`,
//! `SHEQU_BACKENDS__PERSONNEL=http://personnel:50051`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("keygen") {
        let dir = std::env::args().nth(2).unwrap_or_else(|| ".".to_owned());
        return shequ_gateway::keygen(std::path::Path::new(&dir));
    }
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    // The gateway's own loader: it ignores DATABASE_URL, which an env file shared with the
    // services may carry.
    let config = shequ_gateway::GatewayConfig::load(file.as_deref())?;
    let telemetry = shequ_kit::telemetry::init(shequ_gateway::SERVICE_NAME, &config.telemetry)?;
    let listener = tokio::net::TcpListener::bind(config.http.listen).await?;
    let result = shequ_gateway::run(config, listener, shequ_kit::shutdown::signal()).await;
    telemetry.shutdown();
    result
}
