//! API design helpers every service's handlers share (Google AIPs): update masks (AIP-134),
//! etags (AIP-154), wire enums, and pages whose tokens are bound to the request (AIP-158).

use std::sync::LazyLock;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage as _};
use serde::{Serialize, de::DeserializeOwned};
use sm3::Digest as _;

use crate::{
    Error,
    paging::{PageTokens, page_size},
};

// ------------------------------------------------------------------------------------------------
// Update masks

/// Whether a wire field holds a value (proto3: not the default).
pub trait Populated {
    /// True when set.
    fn populated(&self) -> bool;
}

impl Populated for String {
    fn populated(&self) -> bool {
        !self.is_empty()
    }
}

impl Populated for i32 {
    fn populated(&self) -> bool {
        *self != 0
    }
}

impl Populated for i64 {
    fn populated(&self) -> bool {
        *self != 0
    }
}

impl Populated for bool {
    fn populated(&self) -> bool {
        *self
    }
}

impl Populated for f64 {
    fn populated(&self) -> bool {
        *self != 0.0
    }
}

impl<T> Populated for Option<T> {
    fn populated(&self) -> bool {
        self.is_some()
    }
}

impl<T> Populated for Vec<T> {
    fn populated(&self) -> bool {
        !self.is_empty()
    }
}

/// A field an Update may change.
#[derive(Debug)]
pub struct Mutable<M: 'static> {
    /// Its path in snake_case, e.g. `display_name`.
    pub path: &'static str,
    /// Whether the resource sent with the update sets it.
    pub populated: fn(&M) -> bool,
}

/// The mutable fields of a resource message: `mutable_fields!(pb::Secretary { display_name,
/// gender })`.
#[macro_export]
macro_rules! mutable_fields {
    ($message:ty { $($field:ident),+ $(,)? }) => {
        &[$(
            $crate::aip::Mutable::<$message> {
                path: stringify!($field),
                populated: |m: &$message| $crate::aip::Populated::populated(&m.$field),
            }
        ),+]
    };
}

/// The fields an Update changes (AIP-134): the mask's paths (in either JSON or proto spelling);
/// `*` for every mutable field (a full replacement); no mask, or an empty one, for the fields the
/// sent resource populates. A path that names no mutable field is refused, naming those allowed.
pub fn update_paths<M>(
    mask: Option<&prost_types::FieldMask>,
    resource: &M,
    fields: &'static [Mutable<M>],
) -> Result<Vec<&'static str>, Error> {
    let allowed = || fields.iter().map(|f| f.path).collect::<Vec<_>>().join(", ");
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        let populated: Vec<&'static str> = fields
            .iter()
            .filter(|f| (f.populated)(resource))
            .map(|f| f.path)
            .collect();
        if populated.is_empty() {
            return Err(Error::invalid(
                "update_mask",
                "UPDATE_MASK_EMPTY",
                format!(
                    "nothing to change: set the fields to change, or name them in update_mask (`*` for all); mutable: {}",
                    allowed()
                ),
            ));
        }
        return Ok(populated);
    }
    if paths.iter().any(|p| p == "*") {
        if paths.len() > 1 {
            return Err(Error::invalid(
                "update_mask",
                "UPDATE_MASK_INVALID",
                "`*` replaces every mutable field and stands alone",
            ));
        }
        return Ok(fields.iter().map(|f| f.path).collect());
    }
    let mut chosen = Vec::new();
    for path in paths {
        let snake = camel_to_snake(path);
        let field = fields.iter().find(|f| f.path == snake).ok_or_else(|| {
            Error::invalid(
                "update_mask",
                "UPDATE_MASK_INVALID",
                format!("{path:?} cannot be updated; mutable: {}", allowed()),
            )
        })?;
        if !chosen.contains(&field.path) {
            chosen.push(field.path);
        }
    }
    Ok(chosen)
}

/// The fields an Update changes, by path.
#[derive(Debug, Clone)]
pub struct UpdateMask {
    paths: Vec<&'static str>,
    mutable: Vec<&'static str>,
}

impl UpdateMask {
    /// True when the update changes field `path` (a mutable field's snake_case path).
    pub fn has(&self, path: &str) -> bool {
        debug_assert!(
            self.mutable.contains(&path),
            "{path} is not among the mutable fields {:?}",
            self.mutable
        );
        self.paths.contains(&path)
    }

    /// The changed paths.
    pub fn paths(&self) -> &[&'static str] {
        &self.paths
    }
}

/// The [`UpdateMask`] of an Update request (see [`update_paths`]).
pub fn update_mask<M>(
    mask: Option<&prost_types::FieldMask>,
    resource: &M,
    fields: &'static [Mutable<M>],
) -> Result<UpdateMask, Error> {
    Ok(UpdateMask {
        paths: update_paths(mask, resource, fields)?,
        mutable: fields.iter().map(|f| f.path).collect(),
    })
}

fn camel_to_snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Etags

/// The etag of a stored version.
pub fn etag(version: i64) -> String {
    version.to_string()
}

/// The version an etag the caller sent back names; one is required (writes are conditional).
pub fn parse_etag(field: &str, text: &str) -> Result<i64, Error> {
    if text.is_empty() {
        return Err(Error::invalid(
            field,
            "ETAG_REQUIRED",
            "send the etag of the version you read",
        ));
    }
    text.trim_matches('"')
        .parse()
        .map_err(|_| Error::invalid(field, "ETAG_INVALID", "not an etag this service issued"))
}

// ------------------------------------------------------------------------------------------------
// Wire enums

/// `value` is not a value of the wire enum of `field`.
pub fn unknown_enum(field: &str, value: i32) -> Error {
    Error::invalid(
        field,
        "ENUM_VALUE_UNKNOWN",
        format!("{value} is not a known value"),
    )
}

/// A wire enum that must be set (not UNSPECIFIED).
pub fn required_enum<T>(field: &str, parsed: Result<Option<T>, Error>) -> Result<T, Error> {
    parsed?.ok_or_else(|| {
        Error::invalid(
            field,
            "FIELD_REQUIRED",
            "a value other than UNSPECIFIED is required",
        )
    })
}

/// Declares the two-way mapping between a wire enum and a domain enum: `$to_domain(field, i32)`
/// gives `Ok(None)` for UNSPECIFIED (a value only the wire has) and an error naming the field for
/// an unknown number; `$to_wire(domain)` gives the wire value.
#[macro_export]
macro_rules! wire_enum {
    ($to_domain:ident, $to_wire:ident, $wire:ty, $domain:ty { $($w:ident <=> $d:ident),+ $(,)? }) => {
        /// The domain value of a wire value; `None` for UNSPECIFIED.
        pub(crate) fn $to_domain(
            field: &str,
            value: i32,
        ) -> ::std::result::Result<::std::option::Option<$domain>, $crate::Error> {
            match <$wire>::try_from(value).map_err(|_| $crate::aip::unknown_enum(field, value))? {
                $(<$wire>::$w => Ok(Some(<$domain>::$d)),)+
                #[allow(unreachable_patterns)]
                _ => Ok(None),
            }
        }

        /// The wire value of a domain value.
        pub(crate) fn $to_wire(value: $domain) -> $wire {
            match value { $(<$domain>::$d => <$wire>::$w),+ }
        }
    };
}

// ------------------------------------------------------------------------------------------------
// Pages

static CONTRACTS: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET)
        .expect("the suite's own descriptor set decodes")
});

/// The page a List request asks for: its size, where it starts, and what its token is bound to.
#[derive(Debug)]
pub struct Page<C> {
    /// How many items to return.
    pub size: usize,
    /// Where the previous page ended; `None` on the first page.
    pub cursor: Option<C>,
    binding: String,
    tokens: PageTokens,
}

impl PageTokens {
    /// The page `request` asks for (its `page_size` and `page_token` fields). The token is bound to
    /// every other field of the request (parent, filters, order), by construction: a token used
    /// with any other value of any of them is refused with INVALID_ARGUMENT naming `page_token`.
    pub fn page<R, C>(&self, request: &R) -> Result<Page<C>, Error>
    where
        R: prost::Name,
        C: DeserializeOwned,
    {
        let descriptor = CONTRACTS
            .get_message_by_name(&R::full_name())
            .ok_or_else(|| {
                Error::internal(anyhow::anyhow!(
                    "{} is not in the contracts",
                    R::full_name()
                ))
            })?;
        let mut message = DynamicMessage::decode(descriptor, request.encode_to_vec().as_slice())
            .map_err(Error::internal)?;
        let size = message
            .get_field_by_name("page_size")
            .and_then(|v| v.as_i32())
            .ok_or_else(|| {
                Error::internal(anyhow::anyhow!("{} has no page_size", R::full_name()))
            })?;
        let token = message
            .get_field_by_name("page_token")
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| {
                Error::internal(anyhow::anyhow!("{} has no page_token", R::full_name()))
            })?;
        message.clear_field_by_name("page_size");
        message.clear_field_by_name("page_token");
        let binding = format!(
            "{}|{}",
            message.descriptor().full_name(),
            hex::encode(sm3::Sm3::digest(message.encode_to_vec()))
        );
        Ok(Page {
            size: page_size(size)?,
            cursor: self.open(&token, &binding)?,
            binding,
            tokens: self.clone(),
        })
    }
}

impl<C: Serialize> Page<C> {
    /// How many items to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> usize {
        self.size + 1
    }

    /// Trims `items` (fetched with [`Page::fetch`]) to the page and returns the token of the next
    /// page, sealed from the last item kept, or an empty token on the last page.
    pub fn next<T>(&self, items: &mut Vec<T>, cursor: impl FnOnce(&T) -> C) -> String {
        self.tokens
            .next_page(&self.binding, items, self.size, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keys;
    use shequ_proto::audit::v1::ListAuditEntriesRequest;

    #[derive(Debug, Default, Clone)]
    struct Resource {
        display_name: String,
        gender: i32,
        note: Option<String>,
    }

    const FIELDS: &[Mutable<Resource>] = mutable_fields!(Resource {
        display_name,
        gender,
        note
    });

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_mask_names_fields_in_either_spelling_and_star_means_all() {
        let resource = Resource::default();
        assert_eq!(
            update_paths(Some(&mask(&["displayName", "gender"])), &resource, FIELDS).unwrap(),
            ["display_name", "gender"]
        );
        assert_eq!(
            update_paths(Some(&mask(&["*"])), &resource, FIELDS).unwrap(),
            ["display_name", "gender", "note"]
        );
        assert!(update_paths(Some(&mask(&["*", "gender"])), &resource, FIELDS).is_err());
        let refused = update_paths(Some(&mask(&["status"])), &resource, FIELDS).unwrap_err();
        assert!(
            refused.to_string().contains("display_name, gender, note"),
            "{refused}"
        );
    }

    #[test]
    fn without_a_mask_the_populated_fields_change() {
        let resource = Resource {
            display_name: "王芳".into(),
            ..Resource::default()
        };
        assert_eq!(
            update_paths(None, &resource, FIELDS).unwrap(),
            ["display_name"]
        );
        assert_eq!(
            update_paths(Some(&mask(&[])), &resource, FIELDS).unwrap(),
            ["display_name"]
        );
        assert!(update_paths(None, &Resource::default(), FIELDS).is_err());
    }

    #[test]
    fn etags_round_trip_and_are_required() {
        assert_eq!(parse_etag("etag", &etag(7)).unwrap(), 7);
        assert_eq!(parse_etag("etag", "\"7\"").unwrap(), 7);
        assert!(parse_etag("etag", "").is_err());
        assert!(parse_etag("etag", "W/x").is_err());
    }

    fn tokens() -> PageTokens {
        PageTokens::new(
            Keys::from_master(&Keys::generate_master())
                .unwrap()
                .page_tokens,
        )
    }

    #[test]
    fn a_page_token_is_bound_to_every_other_field_of_the_request() {
        let tokens = tokens();
        let request = ListAuditEntriesRequest {
            parent: "regions/440305000000".into(),
            actor: "user:a".into(),
            page_size: 2,
            ..Default::default()
        };
        let page: Page<i64> = tokens.page(&request).unwrap();
        assert_eq!((page.size, page.fetch(), page.cursor), (2, 3, None));
        let mut items = vec![10_i64, 11, 12];
        let token = page.next(&mut items, |last| *last);
        assert_eq!(items, [10, 11]);
        // the next page of the same query, whatever its size
        let next = ListAuditEntriesRequest {
            page_token: token.clone(),
            page_size: 50,
            ..request.clone()
        };
        let page: Page<i64> = tokens.page(&next).unwrap();
        assert_eq!(page.cursor, Some(11));
        // the same token with another filter is refused
        let other = ListAuditEntriesRequest {
            actor: "user:b".into(),
            ..next
        };
        let refused = tokens.page::<_, i64>(&other).unwrap_err();
        assert!(matches!(
            refused,
            Error::InvalidArgument {
                reason: "PAGE_TOKEN_INVALID",
                ..
            }
        ));
    }
}
