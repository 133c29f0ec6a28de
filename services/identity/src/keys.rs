//! API-key rules: the secret's form, who may grant which role, how long a key may live.

use chrono::{DateTime, Utc};
use rand::RngCore;
use shequ_kit::auth::{Caller, Role};

/// Prefix of every secret, so that leaked keys are recognisable by secret scanners.
pub const SECRET_PREFIX: &str = "shq_";
/// Longest lifetime of a key.
pub const MAX_LIFETIME_DAYS: i64 = 730;

/// A freshly generated secret: `shq_{key id}_{43 random characters}`.
pub fn new_secret(key_id: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut random = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    format!("{SECRET_PREFIX}{key_id}_{}", URL_SAFE_NO_PAD.encode(random))
}

/// The public part of a secret, shown in lists: `shq_{key id}`.
pub fn key_prefix(key_id: &str) -> String {
    format!("{SECRET_PREFIX}{key_id}")
}

/// The key id a presented secret names, if it has the right form.
pub fn key_id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(SECRET_PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    (!id.is_empty()
        && id.len() <= 64
        && random.len() == 43
        && id.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some(id)
}

/// Rank of an administrator role; higher grants more.
fn admin_rank(role: Role) -> Option<u8> {
    match role {
        Role::ProvinceAdmin => Some(3),
        Role::CityAdmin => Some(2),
        Role::DistrictAdmin => Some(1),
        _ => None,
    }
}

/// Roles an administrator may manage keys with.
pub const KEY_ADMINS: &[Role] = &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];

/// Why `role` may not be put on a key by `caller`, if it may not.
pub fn grant_refusal(caller: &Caller, role: Role) -> Option<String> {
    match role {
        Role::Secretary => {
            Some("a key cannot act as a secretary; secretaries sign in themselves".to_owned())
        }
        Role::Gateway => Some("the gateway role belongs to the gateway alone".to_owned()),
        Role::Service => Some(
            "the service role belongs to the suite's services, each with its own key".to_owned(),
        ),
        Role::StreetOfficer | Role::Integration | Role::Assessor | Role::Auditor => None,
        admin => {
            let wanted = admin_rank(admin).unwrap_or(u8::MAX);
            let own = caller
                .roles
                .iter()
                .filter_map(|r| admin_rank(*r))
                .max()
                .unwrap_or(0);
            (wanted >= own).then(|| {
                format!("granting {admin} needs a higher administrator role than the caller's")
            })
        }
    }
}

/// Whether a key is usable at `now`.
pub fn usable(
    revoked: bool,
    expire_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    if revoked {
        Err("API_KEY_REVOKED")
    } else if expire_time <= now {
        Err("API_KEY_EXPIRED")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shequ_kit::regions::RegionCode;

    fn admin(role: Role) -> Caller {
        Caller {
            subject: "u".into(),
            roles: vec![role],
            scope: RegionCode::parse("440000000000").unwrap(),
            secretary: None,
        }
    }

    #[test]
    fn a_secret_names_its_key_and_nothing_else_parses() {
        let secret = new_secret("01abc");
        assert_eq!(key_id_of(&secret), Some("01abc"));
        assert_ne!(new_secret("01abc"), secret, "random");
        for bad in [
            "",
            "shq_",
            "shq_01abc",
            "shq_01abc_short",
            "xyz_01abc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(key_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn administrators_grant_only_roles_below_their_own() {
        let district = admin(Role::DistrictAdmin);
        assert!(grant_refusal(&district, Role::Integration).is_none());
        assert!(grant_refusal(&district, Role::DistrictAdmin).is_some());
        let province = admin(Role::ProvinceAdmin);
        assert!(grant_refusal(&province, Role::CityAdmin).is_none());
        assert!(grant_refusal(&province, Role::ProvinceAdmin).is_some());
        assert!(grant_refusal(&province, Role::Secretary).is_some());
        assert!(grant_refusal(&province, Role::Gateway).is_some());
    }

    #[test]
    fn revoked_and_expired_keys_are_unusable() {
        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        assert!(usable(false, now + chrono::Duration::days(1), now).is_ok());
        assert_eq!(usable(false, now, now), Err("API_KEY_EXPIRED"));
        assert_eq!(
            usable(true, now + chrono::Duration::days(1), now),
            Err("API_KEY_REVOKED")
        );
    }
}
