//! `shequ`: the whole suite in one process on SQLite under `./data`.
//!
//! Configuration: defaults, then the TOML file named by `SHEQU_CONFIG` (if set), then
//! `SHEQU_<SECTION>__<KEY>` variables (e.g. `SHEQU_SUITE__DATA_DIR=/var/lib/shequ`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    let config = shequ_kit::config::load(&shequ::SuiteConfig::default(), file.as_deref())?;
    let telemetry = shequ_kit::telemetry::init("shequ", &config.telemetry)?;
    let result = shequ::run(config).await;
    telemetry.shutdown();
    result
}
