//! `shequ-identity`: the identity service alone, for separate deployment.
//!
//! `shequ-identity` serves; `shequ-identity audit-verify` checks the audit chain of the configured
//! database. Configuration as for every service: defaults, `SHEQU_CONFIG` file, `DATABASE_URL`,
//! `SHEQU_<SECTION>__<KEY>`.

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    shequ_kit::foundation::service_main(
        shequ_identity::SERVICE_NAME,
        shequ_identity::default_config(),
        shequ_identity::run,
    )
    .await
}
