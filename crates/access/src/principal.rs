use std::collections::BTreeSet;

use gatehouse_domain::{Permission, UserId, Username};

use crate::AccessError;

/// An authenticated user and what their roles allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user's id.
    pub user_id: UserId,
    /// The user's name.
    pub username: Username,
    /// The union of the user's roles' permissions.
    pub permissions: BTreeSet<Permission>,
}

impl Principal {
    /// Whether the user holds `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// `Ok` if the user holds `permission`, otherwise a `Forbidden` naming it.
    pub fn require(&self, permission: Permission) -> Result<(), AccessError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(AccessError::Forbidden(format!(
                "this requires the {permission} permission"
            )))
        }
    }
}
