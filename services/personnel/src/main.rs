//! `shequ-personnel`: the personnel service alone, for separate deployment.
//!
//! `shequ-personnel` serves; `shequ-personnel audit-verify` checks the audit chain of the
//! configured database and exits non-zero when it finds a tampered or missing entry.
//!
//! Configuration: defaults, then the TOML file named by `SHEQU_CONFIG` (if set), then
//! `DATABASE_URL`, then `SHEQU_<SECTION>__<KEY>` variables.

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    shequ_kit::foundation::service_main(
        shequ_personnel::SERVICE_NAME,
        shequ_personnel::default_config(),
        shequ_personnel::run,
    )
    .await
}
