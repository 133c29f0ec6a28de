//! Descriptor sets for the gateway's tests: the suite's contracts and a test-only library API.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use prost_reflect::DescriptorPool;

/// The encoded descriptor set of `tests/protos/library/v1/library.proto`, compiled like
/// `proto/build.rs` does (protox, imports and source info kept, extension options intact).
pub fn library_set() -> Vec<u8> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut compiler = protox::Compiler::new([here.join("tests/protos"), here.join("../proto")])
        .expect("include paths");
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(["library/v1/library.proto"])
        .expect("library.proto compiles");
    compiler.encode_file_descriptor_set()
}

pub fn library_pool() -> DescriptorPool {
    DescriptorPool::decode(library_set().as_slice()).expect("decodes")
}

pub fn suite_pool() -> DescriptorPool {
    DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET).expect("decodes")
}
