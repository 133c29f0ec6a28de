//! Resource names (AIP-122) shared by every service: identifier segments, `regions/{code}`
//! parents, and the validation errors that name the field and the expected form.

use crate::{
    Error,
    regions::{RegionCode, RegionError, Regions},
};

/// Turns a region lookup failure into a validation error on `field`.
pub fn region_error(field: &str, error: RegionError) -> Error {
    let reason = match &error {
        RegionError::Malformed(_) | RegionError::BadStructure(_) => "REGION_CODE_INVALID",
        RegionError::Unknown(_) => "REGION_UNKNOWN",
        RegionError::WrongLevel { .. } => "REGION_WRONG_LEVEL",
    };
    Error::invalid(field, reason, error.to_string())
}

/// `field` does not hold a name of the `expected` form.
pub fn bad_name(field: &str, expected: &str, got: &str) -> Error {
    Error::invalid(
        field,
        "RESOURCE_NAME_INVALID",
        format!(
            "expected a resource name of the form {expected}, got {:?}",
            crate::error::echo(got)
        ),
    )
}

/// An identifier segment: 1-64 characters of letters, digits, '-' and '_'.
pub fn valid_segment(segment: &str) -> bool {
    (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `{collection}/{id}` → id.
pub fn top_level_id<'a>(field: &str, name: &'a str, collection: &str) -> Result<&'a str, Error> {
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| valid_segment(id))
        .ok_or_else(|| bad_name(field, &format!("{collection}/{{id}}"), name))
}

/// `regions/{code}` → a known region of any level.
pub fn region_parent(regions: &Regions, field: &str, name: &str) -> Result<RegionCode, Error> {
    let code = name
        .strip_prefix("regions/")
        .ok_or_else(|| bad_name(field, "regions/{12-digit code}", name))?;
    regions.known(code).map_err(|e| region_error(field, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_names_have_one_safe_segment() {
        assert_eq!(
            top_level_id("name", "apiKeys/01abc", "apiKeys").unwrap(),
            "01abc"
        );
        for bad in [
            "apiKeys/",
            "apiKeys/a/b",
            "apiKeysx/1",
            "apiKeys/../x",
            "other/1",
        ] {
            assert!(top_level_id("name", bad, "apiKeys").is_err(), "{bad}");
        }
    }

    #[test]
    fn region_parents_must_be_known_regions() {
        let regions = Regions::shipped();
        assert!(region_parent(regions, "parent", "regions/440305000000").is_ok());
        let err = region_parent(regions, "parent", "regions/990000000000").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                reason: "REGION_UNKNOWN",
                ..
            }
        ));
        let err = region_parent(regions, "parent", "440305000000").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                reason: "RESOURCE_NAME_INVALID",
                ..
            }
        ));
    }
}
