//! `shequ-personnel`: the personnel service alone, for separate deployment.
//!
//! `shequ-personnel` serves; `shequ-personnel audit-verify` checks the audit chain of the
//! configured database and exits non-zero when it finds a tampered or missing entry.
//!
//! Configuration: defaults, then the TOML file named by `SHEQU_CONFIG` (if set), then
//! `DATABASE_URL`, then `SHEQU_<SECTION>__<KEY>` variables.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let file = std::env::var_os("SHEQU_CONFIG").map(std::path::PathBuf::from);
    let config = shequ_kit::config::load(&shequ_personnel::default_config(), file.as_deref())?;
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => {
            let telemetry =
                shequ_kit::telemetry::init(shequ_personnel::SERVICE_NAME, &config.telemetry)?;
            let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
            let result =
                shequ_personnel::run(config, listener, shequ_kit::shutdown::signal()).await;
            telemetry.shutdown();
            result.map(|()| ExitCode::SUCCESS)
        }
        Some("audit-verify") => {
            let report = shequ_personnel::verify_audit(&config).await?;
            Ok(shequ_kit::audit::print_report("personnel", &report))
        }
        Some(other) => {
            eprintln!("unknown command {other:?}; usage: shequ-personnel [serve | audit-verify]");
            Ok(ExitCode::from(2))
        }
    }
}
