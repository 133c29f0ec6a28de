//! The gRPC contracts of the Shequ suite: generated messages, clients and servers, and the
//! encoded descriptor set (with `google.api.http` options intact) for reflection and the gateway.
//!
//! Services refer to each other only through these generated types and by resource name.

pub use prost;
pub use tonic;

/// Encoded `FileDescriptorSet` of every contract and its imports, including source comments.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// `shequ.audit.v1`: audit-log messages every service serves under its own path.
pub mod audit {
    /// Version 1 of the audit messages.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
        tonic::include_proto!("shequ.audit.v1");
    }
}

/// `shequ.feed.v1`: the event feed every service serves to the services that follow it.
pub mod feed {
    /// Version 1 of the feed contract.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
        tonic::include_proto!("shequ.feed.v1");
    }
}

/// `shequ.identity.v1`: API keys of integrating systems.
pub mod identity {
    /// Version 1 of the identity contract.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
        tonic::include_proto!("shequ.identity.v1");
    }
}

/// `shequ.personnel.v1`: secretaries, careers, negative list, reserve pool, statistics.
pub mod personnel {
    /// Version 1 of the personnel contract.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
        tonic::include_proto!("shequ.personnel.v1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn descriptor_set_decodes_and_keeps_http_rules() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("decodes");
        assert!(
            set.file.iter().any(|f| f.package() == "shequ.personnel.v1"),
            "personnel contract present"
        );
        // The http option is an extension; prost drops it on decode, but its field number (72295728)
        // must still be present in the raw bytes of the method options.
        let needle = 72_295_728_u32;
        let mut tag = Vec::new();
        prost::encoding::encode_key(needle, prost::encoding::WireType::LengthDelimited, &mut tag);
        assert!(
            FILE_DESCRIPTOR_SET
                .windows(tag.len())
                .any(|w| w == tag.as_slice()),
            "google.api.http options survive in the encoded descriptor set"
        );
    }
}
