//! Who may do what in the personnel service (the README's role table is the same rules).
//!
//! Order of checks: the role first (PERMISSION_DENIED, which reveals nothing about records),
//! then the region scope: a region the caller names outside their scope is PERMISSION_DENIED
//! (REGION_OUT_OF_SCOPE); a stored record outside it is NOT_FOUND, exactly like a missing one,
//! so that one district cannot learn what exists in another.

use shequ_kit::{
    Error,
    auth::{Caller, Role},
    regions::RegionCode,
};

use super::names::secretary_name;
use crate::domain::Secretary;

/// Roles that read personnel records within their scope.
pub(crate) const RECORD_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
];
/// Roles that change personnel records within their scope.
pub(crate) const RECORD_WRITERS: &[Role] =
    &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
/// Who may record a career event: the record writers, and a service acting as itself where this
/// service's grant table lets it (evaluation recording a confirmed adjustment).
pub(crate) const EVENT_RECORDERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::Service,
];

/// The roles that may change a secretary through `operation`.
pub(crate) fn writers_of(operation: &str) -> &'static [Role] {
    match operation {
        "CreateCareerEvent" => EVENT_RECORDERS,
        _ => RECORD_WRITERS,
    }
}

/// Roles that may see ID and phone numbers unmasked within their scope.
pub(crate) const UNMASKED_READERS: &[Role] =
    &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
/// Roles that read a province's policies (their own province only).
pub(crate) const POLICY_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
    Role::Secretary,
];
/// Roles that change a province's policies (with a scope of that whole province).
pub(crate) const POLICY_WRITERS: &[Role] = &[Role::ProvinceAdmin];

/// A secretary reading their own record: the token's `secretary` claim names it, and the
/// record lies in the token's scope (a mis-issued token naming a record elsewhere gets nothing).
fn is_own_record(caller: &Caller, secretary: &Secretary) -> bool {
    caller.has_any(&[Role::Secretary])
        && caller.secretary.as_deref() == Some(secretary_name(&secretary.id).as_str())
        && caller.covers(secretary.region)
}

/// Before loading a secretary for reading: the caller must hold a reading role or be a secretary.
pub(crate) fn may_read_secretaries(caller: &Caller, operation: &str) -> Result<(), Error> {
    let mut allowed = RECORD_READERS.to_vec();
    allowed.push(Role::Secretary);
    caller.require_any(&allowed, operation)
}

/// After loading: the record must be in scope, or be the calling secretary's own.
pub(crate) fn check_read(caller: &Caller, secretary: &Secretary) -> Result<(), Error> {
    let staff = caller.has_any(RECORD_READERS) && caller.covers(secretary.region);
    if staff || is_own_record(caller, secretary) {
        Ok(())
    } else {
        Err(Error::not_found(secretary_name(&secretary.id)))
    }
}

/// After loading for a change: the record must be in the writer's scope.
pub(crate) fn check_write(caller: &Caller, secretary: &Secretary) -> Result<(), Error> {
    if caller.covers(secretary.region) {
        Ok(())
    } else {
        Err(Error::not_found(secretary_name(&secretary.id)))
    }
}

/// Whether the caller may see this secretary's personal data unmasked.
pub(crate) fn check_unmasked(caller: &Caller, secretary: &Secretary) -> Result<(), Error> {
    if (caller.has_any(UNMASKED_READERS) && caller.covers(secretary.region))
        || is_own_record(caller, secretary)
    {
        Ok(())
    } else {
        Err(Error::forbidden(
            "UNMASKED_VIEW_NOT_PERMITTED",
            "the UNMASKED view needs a province, city or district administrator role over the record's region",
        ))
    }
}

/// Reading a province's policy: own province only.
pub(crate) fn check_policy_read(
    caller: &Caller,
    province: RegionCode,
    operation: &str,
) -> Result<(), Error> {
    caller.require_any(POLICY_READERS, operation)?;
    own_province(caller, province)
}

/// Reading the progress of a province's reserve pool, a figure of the whole province: the
/// reserve pool's readers (not secretaries, who read only their own record), in their own
/// province.
pub(crate) fn check_pool_progress_read(
    caller: &Caller,
    province: RegionCode,
    operation: &str,
) -> Result<(), Error> {
    caller.require_any(RECORD_READERS, operation)?;
    own_province(caller, province)
}

fn own_province(caller: &Caller, province: RegionCode) -> Result<(), Error> {
    if caller.scope.province() == province {
        Ok(())
    } else {
        caller.require_scope(province, "province")
    }
}

/// Changing a province's policy: a province administrator of that province.
pub(crate) fn check_policy_write(
    caller: &Caller,
    province: RegionCode,
    operation: &str,
) -> Result<(), Error> {
    caller.require_any(POLICY_WRITERS, operation)?;
    caller.require_scope(province, "province")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, scope: &str) -> Caller {
        Caller {
            subject: "user:t".into(),
            roles: vec![role],
            scope: RegionCode::parse(scope).unwrap(),
            secretary: None,
        }
    }

    #[test]
    fn a_district_admin_reads_policies_of_their_province_but_cannot_change_them() {
        let admin = caller(Role::DistrictAdmin, "440305000000");
        let guangdong = RegionCode::parse("440000000000").unwrap();
        assert!(check_policy_read(&admin, guangdong, "read").is_ok());
        assert!(check_policy_write(&admin, guangdong, "write").is_err());
        let zhejiang = RegionCode::parse("330000000000").unwrap();
        assert!(check_policy_read(&admin, zhejiang, "read").is_err());
    }

    #[test]
    fn reserve_pool_progress_is_for_its_readers_in_their_province_not_for_secretaries() {
        let guangdong = RegionCode::parse("440000000000").unwrap();
        let officer = caller(Role::StreetOfficer, "440305001000");
        assert!(check_pool_progress_read(&officer, guangdong, "read").is_ok());
        let secretary = caller(Role::Secretary, "440305001001");
        assert!(check_policy_read(&secretary, guangdong, "read").is_ok());
        assert!(check_pool_progress_read(&secretary, guangdong, "read").is_err());
        let zhejiang = RegionCode::parse("330000000000").unwrap();
        assert!(check_pool_progress_read(&officer, zhejiang, "read").is_err());
    }

    #[test]
    fn a_province_admin_changes_only_their_own_province() {
        let admin = caller(Role::ProvinceAdmin, "440000000000");
        assert!(
            check_policy_write(&admin, RegionCode::parse("440000000000").unwrap(), "w").is_ok()
        );
        assert!(
            check_policy_write(&admin, RegionCode::parse("330000000000").unwrap(), "w").is_err()
        );
    }

    #[test]
    fn auditors_cannot_read_secretaries() {
        assert!(
            may_read_secretaries(&caller(Role::Auditor, "440000000000"), "GetSecretary").is_err()
        );
        assert!(
            may_read_secretaries(&caller(Role::StreetOfficer, "440305001000"), "GetSecretary")
                .is_ok()
        );
    }
}
