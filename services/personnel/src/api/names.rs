//! Resource names of the personnel API, parsed at the edge (AIP-122).

pub(crate) use shequ_kit::names::{region_error, region_parent};
use shequ_kit::{
    Error,
    names::{bad_name, top_level_id, valid_segment},
    regions::{Level, RegionCode, Regions},
};

/// `secretaries/{id}` → id.
pub(crate) fn secretary_id<'a>(field: &str, name: &'a str) -> Result<&'a str, Error> {
    top_level_id(field, name, "secretaries")
}

/// The name of a secretary.
pub(crate) fn secretary_name(id: &str) -> String {
    format!("secretaries/{id}")
}

/// `secretaries/{s}/{collection}/{id}` → (s, id).
pub(crate) fn secretary_child<'a>(
    field: &str,
    name: &'a str,
    collection: &str,
) -> Result<(&'a str, &'a str), Error> {
    let expected = format!("secretaries/{{secretary}}/{collection}/{{id}}");
    let rest = name
        .strip_prefix("secretaries/")
        .ok_or_else(|| bad_name(field, &expected, name))?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(parent), Some(c), Some(id), None)
            if c == collection && valid_segment(parent) && valid_segment(id) =>
        {
            Ok((parent, id))
        }
        _ => Err(bad_name(field, &expected, name)),
    }
}

/// `provinces/{code}` (optionally followed by `/{suffix}`) → a known province code.
pub(crate) fn province(
    regions: &Regions,
    field: &str,
    name: &str,
    suffix: Option<&str>,
) -> Result<RegionCode, Error> {
    let expected = match suffix {
        Some(s) => format!("provinces/{{12-digit province code}}/{s}"),
        None => "provinces/{12-digit province code}".to_owned(),
    };
    let rest = name
        .strip_prefix("provinces/")
        .ok_or_else(|| bad_name(field, &expected, name))?;
    let code = match suffix {
        Some(s) => rest
            .strip_suffix(s)
            .and_then(|r| r.strip_suffix('/'))
            .ok_or_else(|| bad_name(field, &expected, name))?,
        None => rest,
    };
    regions
        .known_at(code, Level::Province)
        .map_err(|e| region_error(field, e))
}

/// `provinces/{p}/negativeListItems/{code}` → (province, code).
pub(crate) fn negative_list_item(
    regions: &Regions,
    field: &str,
    name: &str,
) -> Result<(RegionCode, String), Error> {
    let expected = "provinces/{province}/negativeListItems/{item}";
    let (head, code) = name
        .rsplit_once('/')
        .ok_or_else(|| bad_name(field, expected, name))?;
    let province_part = head
        .strip_suffix("/negativeListItems")
        .ok_or_else(|| bad_name(field, expected, name))?;
    let province = province(regions, field, province_part, None)?;
    if !valid_segment(code) {
        return Err(bad_name(field, expected, name));
    }
    Ok((province, code.to_owned()))
}

/// `reserveCandidates/{id}` → id.
pub(crate) fn candidate_id<'a>(field: &str, name: &'a str) -> Result<&'a str, Error> {
    top_level_id(field, name, "reserveCandidates")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secretary_names_have_one_safe_segment() {
        assert_eq!(secretary_id("name", "secretaries/01abc").unwrap(), "01abc");
        for bad in [
            "secretaries/",
            "secretaries/a/b",
            "people/1",
            "secretaries/../x",
        ] {
            assert!(secretary_id("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn child_names_name_their_collection() {
        assert_eq!(
            secretary_child("name", "secretaries/s1/careerEvents/e1", "careerEvents").unwrap(),
            ("s1", "e1")
        );
        assert!(secretary_child("name", "secretaries/s1/violations/e1", "careerEvents").is_err());
    }

    #[test]
    fn province_names_must_name_a_known_province() {
        let regions = Regions::shipped();
        let p = province(
            regions,
            "name",
            "provinces/440000000000/qualificationStandard",
            Some("qualificationStandard"),
        )
        .unwrap();
        assert_eq!(p.to_string(), "440000000000");
        let err = province(regions, "name", "provinces/440300000000", None).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                reason: "REGION_WRONG_LEVEL",
                ..
            }
        ));
        let err = province(regions, "name", "provinces/990000000000", None).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                reason: "REGION_UNKNOWN",
                ..
            }
        ));
    }

    #[test]
    fn negative_list_item_names_split_into_province_and_code() {
        let (p, code) = negative_list_item(
            Regions::shipped(),
            "name",
            "provinces/440000000000/negativeListItems/NL05",
        )
        .unwrap();
        assert_eq!(
            (p.to_string().as_str(), code.as_str()),
            ("440000000000", "NL05")
        );
    }
}
