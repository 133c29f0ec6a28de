//! Who may do what in the warnings service (the README's role table is the same rules).
//!
//! Order of checks: the role first (PERMISSION_DENIED, which reveals nothing about records),
//! then the region scope: a region the caller names outside their scope is PERMISSION_DENIED
//! (REGION_OUT_OF_SCOPE); a stored record outside it is NOT_FOUND, exactly like a missing one.

use shequ_kit::{
    Error,
    auth::{Caller, Role},
    regions::RegionCode,
};

/// Read warnings, their history, consultations and task forces: administrators, street officers,
/// secretaries (of their community) and other departments' systems, within their scope.
pub(crate) const WARNING_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
    Role::Integration,
];
/// Raise a warning: the same people and systems, for a community in their scope.
pub(crate) const RAISERS: &[Role] = WARNING_READERS;
/// Handle a warning (acknowledge, start handling, record consultations and task forces, escalate,
/// resolve): the people responsible for it, not other departments' systems.
pub(crate) const HANDLERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
];
/// Close a resolved warning and change its assignee: the levels above the community.
pub(crate) const SUPERVISORS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
];
/// Read a province's catalogue of indicators and threshold rules (own province only).
pub(crate) const CATALOGUE_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
];
/// Register, read and revoke terminals: administrators within their scope.
pub(crate) const ADMINS: &[Role] = &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
/// Send readings: another department's system (the city's sensing platform) whose scope covers
/// the terminal, with the terminal's key.
pub(crate) const INGESTERS: &[Role] = &[Role::Integration];
/// Read warning statistics: administrators, street officers, other departments' systems.
pub(crate) const STATISTICS_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
];
/// Read a province's warning policy (own province only).
pub(crate) const POLICY_READERS: &[Role] = WARNING_READERS;
/// Change a province's policy and its catalogue of indicators and rules.
pub(crate) const PROVINCE_ADMIN: &[Role] = &[Role::ProvinceAdmin];

/// Reading a province's policy or catalogue: `roles`, in their own province.
pub(crate) fn check_province_read(
    caller: &Caller,
    roles: &[Role],
    province: RegionCode,
    operation: &str,
) -> Result<(), Error> {
    caller.require_any(roles, operation)?;
    if caller.scope.province() == province {
        Ok(())
    } else {
        caller.require_scope(province, "province")
    }
}

/// Changing a province's policy or catalogue: a province administrator of that province.
pub(crate) fn check_province_write(
    caller: &Caller,
    province: RegionCode,
    operation: &str,
) -> Result<(), Error> {
    caller.require_any(PROVINCE_ADMIN, operation)?;
    caller.require_scope(province, "province")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shequ_kit::testing::caller;

    #[test]
    fn a_secretary_reads_the_policy_of_their_province_and_changes_nothing() {
        let secretary = caller(Role::Secretary, "440305001001");
        let guangdong = RegionCode::parse("440000000000").unwrap();
        assert!(check_province_read(&secretary, POLICY_READERS, guangdong, "read").is_ok());
        assert!(check_province_write(&secretary, guangdong, "write").is_err());
        let zhejiang = RegionCode::parse("330000000000").unwrap();
        assert!(check_province_read(&secretary, POLICY_READERS, zhejiang, "read").is_err());
    }

    #[test]
    fn other_departments_systems_raise_and_read_but_do_not_handle() {
        let system = caller(Role::Integration, "440305000000");
        assert!(system.require_any(RAISERS, "CreateWarning").is_ok());
        assert!(system.require_any(HANDLERS, "AcknowledgeWarning").is_err());
        let secretary = caller(Role::Secretary, "440305001001");
        assert!(secretary.require_any(HANDLERS, "ResolveWarning").is_ok());
        assert!(secretary.require_any(SUPERVISORS, "CloseWarning").is_err());
        for role in [Role::Auditor, Role::Assessor] {
            assert!(
                caller(role, "440000000000")
                    .require_any(WARNING_READERS, "GetWarning")
                    .is_err()
            );
        }
    }
}
