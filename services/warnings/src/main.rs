//! `shequ-warnings`: the incident warnings service alone, for separate deployment.
//! `shequ-warnings` serves; `shequ-warnings audit-verify` checks the audit chain of the configured
//! database.

fn main() -> std::process::ExitCode {
    shequ_kit::service::main::<shequ_warnings::Warnings>()
}
