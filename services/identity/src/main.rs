//! `shequ-identity`: the identity service alone, for separate deployment. `shequ-identity`
//! serves; `shequ-identity audit-verify` checks the audit chain of the configured database.

fn main() -> std::process::ExitCode {
    shequ_kit::service::main::<shequ_identity::Identity>()
}
