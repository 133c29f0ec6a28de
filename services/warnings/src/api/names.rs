//! Resource names of the warnings API, parsed at the edge (AIP-122).

use shequ_kit::names::region_error;
use shequ_kit::{
    Error,
    names::bad_name,
    regions::{Level, RegionCode, Regions},
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn province_names_must_name_a_known_province() {
        let regions = Regions::shipped();
        assert_eq!(
            province(
                regions,
                "name",
                "provinces/440000000000/warningPolicy",
                Some("warningPolicy")
            )
            .unwrap()
            .to_string(),
            "440000000000"
        );
        for bad in [
            "provinces/440300000000/warningPolicy",
            "provinces/440000000000/careerPolicy",
            "440000000000/warningPolicy",
        ] {
            assert!(
                province(regions, "name", bad, Some("warningPolicy")).is_err(),
                "{bad}"
            );
        }
    }
}
