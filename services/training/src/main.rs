//! `shequ-training`: the training and certification service alone, for separate deployment.
//! `shequ-training` serves; `shequ-training audit-verify` checks the audit chain of its database.

fn main() -> std::process::ExitCode {
    shequ_kit::service::main::<shequ_training::Training>()
}
