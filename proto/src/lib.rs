//! The gRPC contracts of the Shequ suite: generated messages, clients and servers, and the
//! encoded descriptor set (with `google.api.http` options intact) for reflection and the gateway.
//!
//! Services refer to each other only through these generated types and by resource name.

pub use prost;
pub use tonic;

/// Encoded `FileDescriptorSet` of every contract and its imports, including source comments.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// `google.api.HttpBody` (vendored `google/api/httpbody.proto`): a response whose body is not
/// proto JSON; the gateway answers with `data` as it is, under `content_type`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpBody {
    /// The body's media type, e.g. `application/atom+xml`.
    #[prost(string, tag = "1")]
    pub content_type: String,
    /// The body.
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
    /// Application-specific metadata (unused by the suite).
    #[prost(message, repeated, tag = "3")]
    pub extensions: Vec<prost_types::Any>,
}

/// Declares the generated code of one contract package as `pub mod <service>::<version>`.
macro_rules! contract {
    ($(#[$doc:meta])* $service:ident :: $version:ident = $package:literal) => {
        $(#[$doc])*
        pub mod $service {
            #[doc = concat!("`", $package, "`.")]
            pub mod $version {
                #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
                tonic::include_proto!($package);
            }
        }
    };
}

contract!(
    /// Audit-log messages every service serves under its own path.
    audit::v1 = "shequ.audit.v1"
);
contract!(
    /// The event feed every service serves to the services that follow it.
    feed::v1 = "shequ.feed.v1"
);
contract!(
    /// Indicator schemes (5+X), assessments, annual results, rankings and adjustment.
    evaluation::v1 = "shequ.evaluation.v1"
);
contract!(
    /// API keys of integrating systems.
    identity::v1 = "shequ.identity.v1"
);
contract!(
    /// Secretaries, careers, negative list, reserve pool, statistics.
    personnel::v1 = "shequ.personnel.v1"
);
contract!(
    /// Curriculum, studios, cultivation plans, mentoring, certificates and credentials.
    training::v1 = "shequ.training.v1"
);
contract!(
    /// Incident warnings (三色预警), deadlines, the community brain, webhooks.
    warnings::v1 = "shequ.warnings.v1"
);

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
