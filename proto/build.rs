//! Compiles every contract under `proto/` with protox (no `protoc` needed) and writes the
//! descriptor set that reflection, the gateway and the OpenAPI generator read.

use std::{env, path::PathBuf};

/// Every service contract of the suite. A new service adds its file here.
const CONTRACTS: &[&str] = &[
    "shequ/audit/v1/audit.proto",
    "shequ/feed/v1/feed.proto",
    "shequ/identity/v1/identity.proto",
    "shequ/personnel/v1/personnel.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // build scripts run in the crate directory, which is also the proto root
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(CONTRACTS.iter().map(|c| root.join(c)))?;

    // encode_file_descriptor_set keeps extension options such as google.api.http; a round trip
    // through prost_types::FileDescriptorSet would silently drop them.
    std::fs::write(
        out.join("descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Type names (`prost::Name`) let feed events carry their payload as a `google.protobuf.Any`.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(compiler.file_descriptor_set(), config)?;

    for file in compiler.files() {
        if let Some(path) = file.path() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Ok(())
}
