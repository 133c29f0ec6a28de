//! What other parts of the suite may do here: each service declares which operations of its own
//! API each other service (calling as itself) and the gateway may call, and nothing else. People
//! and API keys are authorised by their roles in the handlers; a component is authorised here,
//! before any handler runs, and then by the handler's role check like anyone else.

use crate::{Error, auth::Caller};

/// The operations one component may call.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    /// `gateway`, or a service's name such as `evaluation`.
    pub component: &'static str,
    /// RPC names, e.g. `CreateCareerEvent`; [`crate::feed::FEED_OPERATIONS`] for the event feed.
    pub operations: &'static [&'static str],
}

/// A service's grant table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grants(&'static [Grant]);

impl Grants {
    /// The table `grants`.
    pub const fn new(grants: &'static [Grant]) -> Self {
        Grants(grants)
    }

    /// Every grant.
    pub fn all(&self) -> &'static [Grant] {
        self.0
    }

    /// True when `component` may call `operation`.
    pub fn allows(&self, component: &str, operation: &str) -> bool {
        self.0
            .iter()
            .any(|g| g.component == component && g.operations.contains(&operation))
    }

    /// Refuses a component calling an operation it was not granted; people and API keys pass
    /// (their roles are checked by the handler).
    pub fn check(&self, caller: &Caller, operation: &str) -> Result<(), Error> {
        match caller.component() {
            Some(component) if !self.allows(component, operation) => Err(Error::PermissionDenied {
                reason: "OPERATION_NOT_GRANTED",
                message: format!("{component} is not granted {operation} by this service"),
                metadata: vec![
                    ("component", component.to_owned()),
                    ("operation", operation.to_owned()),
                ],
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{auth::Role, testing::caller};

    const TABLE: &[Grant] = &[
        Grant {
            component: "evaluation",
            operations: &["CreateCareerEvent"],
        },
        Grant {
            component: "gateway",
            operations: &["VerifyApiKey"],
        },
    ];

    fn service(name: &str) -> Caller {
        Caller {
            subject: format!("service:{name}"),
            roles: vec![Role::Service],
            ..caller(Role::Service, "440000000000")
        }
    }

    #[test]
    fn a_service_may_call_exactly_what_it_was_granted() {
        let grants = Grants::new(TABLE);
        assert!(
            grants
                .check(&service("evaluation"), "CreateCareerEvent")
                .is_ok()
        );
        let refused = grants.check(&service("evaluation"), "UpdateSecretary");
        assert!(matches!(
            refused,
            Err(Error::PermissionDenied {
                reason: "OPERATION_NOT_GRANTED",
                ..
            })
        ));
        assert!(
            grants
                .check(&service("training"), "CreateCareerEvent")
                .is_err()
        );
        assert!(
            grants
                .check(&caller(Role::Gateway, "440000000000"), "VerifyApiKey")
                .is_ok()
        );
        assert!(
            grants
                .check(&caller(Role::Gateway, "440000000000"), "CreateCareerEvent")
                .is_err()
        );
    }

    #[test]
    fn people_are_left_to_their_roles() {
        let grants = Grants::new(TABLE);
        assert!(
            grants
                .check(
                    &caller(Role::DistrictAdmin, "440305000000"),
                    "UpdateSecretary"
                )
                .is_ok()
        );
    }
}
