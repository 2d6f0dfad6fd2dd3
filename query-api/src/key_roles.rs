//! Roles of tenant keys as the tenant's admins changed them
//! (`PUT /v1/keys/{id}/role`), over the keys file's: what every request's
//! [`crate::auth::Scope`] takes its access from. Changes are kept in the
//! metadata database; each API instance applies a change made on it at
//! once and reads the others' every [`SYNC_EVERY`] ([`spawn_sync`]).
//!
//! Only tenant keys (`tenant = "..."`, role viewer, editor or admin) have
//! a changeable role; platform admin and producer keys keep the file's.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use metadata::key_roles::KeyRole;
use metadata::Metadata;
use tokio::task::JoinHandle;

use crate::keys::{Access, ApiKey, Role};

/// How often an instance reads the roles changed elsewhere.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The name of a tenant key's access (`viewer`, `editor`, `admin`); `None`
/// for the platform admin.
pub fn role_name(access: Access) -> Option<&'static str> {
    match access {
        Access::Viewer => Some("viewer"),
        Access::Editor => Some("editor"),
        Access::TenantAdmin => Some("admin"),
        Access::Admin => None,
    }
}

/// The access of a tenant key's role name.
pub fn parse_role(name: &str) -> Option<Access> {
    match name {
        "viewer" => Some(Access::Viewer),
        "editor" => Some(Access::Editor),
        "admin" => Some(Access::TenantAdmin),
        _ => None,
    }
}

/// The changed roles, by (tenant, key id).
#[derive(Debug, Default)]
pub struct KeyRoles {
    changed: RwLock<HashMap<(String, String), Access>>,
}

impl KeyRoles {
    /// What `key` may do: its changed role if it is a tenant key with one,
    /// else the file's.
    pub fn access(&self, key: &ApiKey) -> Access {
        let Role::Tenant(tenant) = &key.role else {
            return key.access;
        };
        let changed = self.changed.read().unwrap_or_else(PoisonError::into_inner);
        if changed.is_empty() {
            return key.access;
        }
        changed
            .get(&(tenant.clone(), key.id()))
            .copied()
            .unwrap_or(key.access)
    }

    /// Whether `key`'s role is a changed one.
    pub fn is_changed(&self, key: &ApiKey) -> bool {
        let Role::Tenant(tenant) = &key.role else {
            return false;
        };
        self.changed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&(tenant.clone(), key.id()))
    }

    /// Apply one change (`None`: back to the file's role).
    pub fn set(&self, tenant: &str, key_id: &str, access: Option<Access>) {
        let mut changed = self.changed.write().unwrap_or_else(PoisonError::into_inner);
        let k = (tenant.to_string(), key_id.to_string());
        match access {
            Some(a) => changed.insert(k, a),
            None => changed.remove(&k),
        };
    }

    /// Replace every change with `rows` (the database's); rows with a role
    /// this release does not know are left out, with an error logged.
    pub fn replace(&self, rows: &[KeyRole]) {
        let next: HashMap<(String, String), Access> = rows
            .iter()
            .filter_map(|r| match parse_role(&r.role) {
                Some(a) => Some(((r.tenant_id.clone(), r.key_id.clone()), a)),
                None => {
                    tracing::error!(tenant = %r.tenant_id, key = %r.key_id, role = %r.role,
                        "a key role of the metadata database is unknown here: the file's applies");
                    None
                }
            })
            .collect();
        *self.changed.write().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

/// Keep `roles` in step with the metadata database: a full read every
/// [`SYNC_EVERY`] when its version moved.
pub fn spawn_sync(metadata: Metadata, roles: Arc<KeyRoles>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = None;
        let mut failing = false;
        loop {
            let round = async {
                let version = metadata.key_roles_version().await?;
                if seen.as_ref() != Some(&version) {
                    roles.replace(&metadata.key_roles().await?);
                    seen = Some(version);
                }
                Ok::<(), metadata::MetadataError>(())
            };
            match round.await {
                Ok(()) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "key roles: reading them failed; retrying");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(SYNC_EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{hash_key, KeyStore};

    fn store() -> KeyStore {
        let text = format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\n\n[[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
             [[keys]]\nrole = \"producer\"\ntenant = \"a\"\nsha256 = \"{}\"\n",
            hash_key("viewer-key-1"),
            hash_key("platform-key-1"),
            hash_key("producer-key-1")
        );
        KeyStore::parse(&text, "test").unwrap()
    }

    fn row(tenant: &str, key: &str, role: &str) -> KeyRole {
        KeyRole {
            tenant_id: tenant.into(),
            key_id: key.into(),
            role: role.into(),
            updated_at: chrono::Utc::now(),
            updated_by: "ada".into(),
        }
    }

    #[test]
    fn a_changed_role_wins_over_the_files_for_its_tenant_only() {
        let keys = store();
        let viewer = &keys.keys()[0];
        let roles = KeyRoles::default();
        assert_eq!(roles.access(viewer), Access::Viewer);
        roles.set("a", &viewer.id(), Some(Access::Editor));
        assert_eq!(roles.access(viewer), Access::Editor);
        assert!(roles.is_changed(viewer));
        // Another tenant's change of the same id does not apply.
        roles.replace(&[row("b", &viewer.id(), "admin")]);
        assert_eq!(roles.access(viewer), Access::Viewer);
        roles.replace(&[row("a", &viewer.id(), "admin"), row("a", "x", "root")]);
        assert_eq!(roles.access(viewer), Access::TenantAdmin);
        roles.set("a", &viewer.id(), None);
        assert_eq!(roles.access(viewer), Access::Viewer);
        assert!(!roles.is_changed(viewer));
    }

    #[test]
    fn platform_admin_and_producer_keys_keep_the_files_role() {
        let keys = store();
        let roles = KeyRoles::default();
        for key in &keys.keys()[1..] {
            roles.set("a", &key.id(), Some(Access::Viewer));
            assert_eq!(roles.access(key), key.access);
            assert!(!roles.is_changed(key));
        }
    }

    #[test]
    fn role_names_round_trip() {
        for name in metadata::key_roles::ROLES {
            let access = parse_role(name).unwrap();
            assert_eq!(role_name(access), Some(name));
        }
        assert_eq!(parse_role("root"), None);
        assert_eq!(role_name(Access::Admin), None);
        assert_ne!(store().keys()[0].id(), store().keys()[1].id());
        assert_eq!(store().keys()[0].id().len(), 16);
    }
}
