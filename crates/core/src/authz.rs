//! Who may do what. Every use case starts with `principal.require(Permission::...)`.

use crate::error::{CoreError, CoreResult};

pub const GROUP_ADMIN: &str = "admin";
pub const GROUP_CCKM_ADMINS: &str = "CCKM Admins";
pub const GROUP_CCKM_USERS: &str = "CCKM Users";
pub const KNOWN_GROUPS: [&str; 3] = [GROUP_ADMIN, GROUP_CCKM_ADMINS, GROUP_CCKM_USERS];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create, list, change and delete users.
    ManageUsers,
    /// Read the audit trail.
    ReadAudit,
    /// Read AWS connections.
    ReadConnections,
    /// Create, change, test and delete AWS connections.
    ManageConnections,
    /// Read anything under /cckm.
    ReadCckm,
    /// Change anything under /cckm.
    ManageCckm,
    /// Read the vault's keys (`/vault/keys2`: metadata; material is never returned).
    ReadVault,
    /// Create and delete the vault's keys (`/vault/keys2`).
    ManageVault,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub groups: Vec<String>,
}

impl Principal {
    /// The principal used for work Keyward does on its own (start-up, scheduler).
    pub fn system() -> Self {
        Self {
            user_id: "system".into(),
            username: "system".into(),
            groups: vec![GROUP_ADMIN.into()],
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    pub fn may(&self, permission: Permission) -> bool {
        if self.in_group(GROUP_ADMIN) {
            return true;
        }
        match permission {
            Permission::ManageUsers | Permission::ReadAudit => false,
            // The vault holds key material Keyward imports into AWS: the CCKM Admins who run
            // bring-your-own-key need it; CCKM Users (read-only on the inventory) have no
            // business enumerating it.
            Permission::ReadConnections
            | Permission::ManageConnections
            | Permission::ManageCckm
            | Permission::ReadVault
            | Permission::ManageVault => self.in_group(GROUP_CCKM_ADMINS),
            Permission::ReadCckm => {
                self.in_group(GROUP_CCKM_ADMINS) || self.in_group(GROUP_CCKM_USERS)
            }
        }
    }

    pub fn require(&self, permission: Permission) -> CoreResult<()> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "user {} is not allowed to perform this operation ({permission:?})",
                self.username
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(groups: &[&str]) -> Principal {
        Principal {
            user_id: "u".into(),
            username: "u".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn roles_match_the_design() {
        let admin = p(&[GROUP_ADMIN]);
        let cckm_admin = p(&[GROUP_CCKM_ADMINS]);
        let cckm_user = p(&[GROUP_CCKM_USERS]);
        let nobody = p(&[]);
        for perm in [
            Permission::ManageUsers,
            Permission::ReadAudit,
            Permission::ReadConnections,
            Permission::ManageConnections,
            Permission::ReadCckm,
            Permission::ManageCckm,
            Permission::ReadVault,
            Permission::ManageVault,
        ] {
            assert!(admin.may(perm));
            assert!(!nobody.may(perm));
        }
        assert!(cckm_admin.may(Permission::ManageCckm));
        assert!(cckm_admin.may(Permission::ManageConnections));
        assert!(!cckm_admin.may(Permission::ManageUsers));
        assert!(!cckm_admin.may(Permission::ReadAudit));
        assert!(cckm_user.may(Permission::ReadCckm));
        assert!(!cckm_user.may(Permission::ManageCckm));
        assert!(!cckm_user.may(Permission::ReadConnections));
        // The vault: admin and CCKM Admins only, read or write.
        assert!(cckm_admin.may(Permission::ReadVault));
        assert!(cckm_admin.may(Permission::ManageVault));
        assert!(!cckm_user.may(Permission::ReadVault));
        assert!(!cckm_user.may(Permission::ManageVault));
        assert!(matches!(
            cckm_user.require(Permission::ManageCckm),
            Err(CoreError::Forbidden(_))
        ));
    }
}
