//! `shequ-personnel`: the personnel service alone, for separate deployment. `shequ-personnel`
//! serves; `shequ-personnel audit-verify` checks the audit chain of the configured database and
//! exits non-zero when it finds a tampered or missing entry.

fn main() -> std::process::ExitCode {
    shequ_kit::service::main::<shequ_personnel::Personnel>()
}
