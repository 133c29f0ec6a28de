//! Compiles every contract under `proto/` with protox (no `protoc` needed) and writes the
//! descriptor set that reflection, the gateway and the OpenAPI generator read.

use std::{env, path::PathBuf};

/// Every contract of the suite: each `shequ/<package>/<version>/*.proto` file, found on disk, so a
/// new service's contract needs no line here.
fn contracts(root: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for package in std::fs::read_dir(root.join("shequ"))? {
        for version in std::fs::read_dir(package?.path())? {
            for file in std::fs::read_dir(version?.path())? {
                let path = file?.path();
                if path.extension().is_some_and(|e| e == "proto") {
                    found.push(path);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // build scripts run in the crate directory, which is also the proto root
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(contracts(&root)?)?;
    // a contract added, removed or renamed reruns the build
    println!("cargo:rerun-if-changed={}", root.join("shequ").display());

    // encode_file_descriptor_set keeps extension options such as google.api.http; a round trip
    // through prost_types::FileDescriptorSet would silently drop them.
    std::fs::write(
        out.join("descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Type names (`prost::Name`) let feed events carry their payload as a `google.protobuf.Any`.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    // google.api.HttpBody (a response that is not JSON, such as the warnings service's CAP feed)
    // is the one vendored google message our services return; it is declared by hand in lib.rs,
    // since prost's relative path to it from `shequ.<service>.v1` would climb above the crate.
    config.extern_path(".google.api.HttpBody", "crate::HttpBody");
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
