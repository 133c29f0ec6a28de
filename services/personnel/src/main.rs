//! `shequ-personnel`: the personnel service alone, for separate deployment.
//!
//! Configuration: defaults, then the TOML file named by `SHEQU_CONFIG` (if set), then
//! `DATABASE_URL`, then `SHEQU_<SECTION>__<KEY>` variables.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    let config = shequ_kit::config::load(&shequ_personnel::default_config(), file.as_deref())?;
    let telemetry = shequ_kit::telemetry::init(shequ_personnel::SERVICE_NAME, &config.telemetry)?;
    let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
    let result = shequ_personnel::run(config, listener, shequ_kit::shutdown::signal()).await;
    telemetry.shutdown();
    result
}
