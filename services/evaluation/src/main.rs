//! `shequ-evaluation`: the evaluation service alone, for separate deployment.
//! `shequ-evaluation` serves; `shequ-evaluation audit-verify` checks the audit chain of the
//! configured database.

fn main() -> std::process::ExitCode {
    shequ_kit::service::main::<shequ_evaluation::Evaluation>()
}
