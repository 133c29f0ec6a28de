//! `shequ`: the whole suite in one process on SQLite under `./data`.
//!
//! `shequ` (or `shequ serve`) runs the suite; `shequ audit-verify` checks the audit chain of every
//! service's database and exits non-zero when one is broken.
//!
//! Configuration: defaults, then the TOML file named by `SHEQU_CONFIG` (if set), then
//! `SHEQU_<SECTION>__<KEY>` variables (e.g. `SHEQU_SUITE__DATA_DIR=/var/lib/shequ`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    let config = shequ_kit::config::load(&shequ::SuiteConfig::default(), file.as_deref())?;
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => {
            let telemetry = shequ_kit::telemetry::init("shequ", &config.telemetry)?;
            let result = shequ::run(config).await;
            telemetry.shutdown();
            result.map(|()| ExitCode::SUCCESS)
        }
        Some("audit-verify") => shequ::verify_audit(&config).await,
        Some(other) => {
            eprintln!("unknown command {other:?}; usage: shequ [serve | audit-verify]");
            Ok(ExitCode::from(2))
        }
    }
}
