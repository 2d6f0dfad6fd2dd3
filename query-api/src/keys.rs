//! API keys: the TOML file of their SHA-256 hashes, validated on start,
//! and the constant-time lookup of a presented key.
//!
//! ```toml
//! [[keys]]
//! tenant = "acme"                 # reads only tenant acme
//! sha256 = "<query-api hash-key KEY>"
//! name = "acme dashboard"         # optional, shown in logs instead of the key
//! user = "maria@acme.example"     # optional: the principal whose alerts'
//!                                 # read state it keeps (default: the name)
//! rate_limit_per_second = 20      # optional, else --rate-limit-per-second
//! burst = 40                      # optional, else --rate-limit-burst
//!
//! [[keys]]
//! tenant = "acme"
//! role = "editor"                 # also creates and changes alert rules,
//! sha256 = "..."                  # channels and silences of acme
//!
//! [[keys]]
//! tenant = "acme"
//! role = "admin"                  # an editor of acme that also reads its
//! sha256 = "..."                  # audit log (a tenant admin)
//!
//! [[keys]]
//! role = "admin"                  # reads any tenant named by ?tenant_id=
//! sha256 = "..."
//!
//! [[keys]]
//! role = "producer"               # posts events of tenant acme only
//! tenant = "acme"                 # (POST /v1/events); reads nothing
//! sha256 = "..."
//! ```
//!
//! A key has one role: `viewer` (the default when `role` is absent; also
//! spelled `tenant`) and `editor` keys read their tenant's reports and
//! alerts, and an editor also manages its alert rules, channels and
//! silences and report definitions, schedules and runs; an `admin` key
//! with a `tenant` is a tenant admin (an editor that also reads the
//! tenant's audit log); `admin` keys without one do all of that for any
//! tenant; `producer` keys
//! only post events (HTTP ingestion) of their tenant. A key of the wrong
//! role answers 403. A tenant's admins may change the role of its tenant
//! keys at runtime (`/v1/keys`, [`crate::key_roles`]): the file's role is
//! the default.
//!
//! Only hashes are stored; a presented key is hashed and compared with
//! every entry without an early exit, so the time taken does not depend
//! on which entry (if any) matches. Keys and hashes are never logged.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::params::validate_id;

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Read only this tenant.
    Tenant(String),
    /// Read any tenant, named on every request with `?tenant_id=`.
    Admin,
    /// Post events of this tenant (HTTP ingestion); read nothing.
    Producer(String),
}

/// What a reading key may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Reads, and keeps its own read/dismissed state of alerts.
    Viewer,
    /// Also manages alert rules, channels, silences and report
    /// definitions, schedules and runs.
    Editor,
    /// An editor that also reads the tenant's audit log (a key with
    /// `role = "admin"` and a `tenant`).
    TenantAdmin,
    /// Everything, for any tenant.
    Admin,
}

/// A per-key rate limit that overrides the server default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyLimit {
    pub per_second: Option<f64>,
    pub burst: Option<u32>,
}

/// One entry of the file.
#[derive(Clone)]
pub struct ApiKey {
    pub role: Role,
    pub access: Access,
    /// How logs name the key: its `name`, or `keys[N]` (never the key).
    pub label: String,
    /// The principal of the key (alerts' read state, the audit log): its
    /// `user`, else its label.
    pub principal: String,
    pub limit: KeyLimit,
    hash: [u8; 32],
}

impl ApiKey {
    /// The key's id: the first 16 hex digits of its SHA-256 (stable across
    /// reorderings of the file; names a key without revealing it).
    pub fn id(&self) -> String {
        hex::encode(&self.hash[..8])
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("role", &self.role)
            .field("access", &self.access)
            .field("label", &self.label)
            .field("principal", &self.principal)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Every key of the file.
#[derive(Debug, Clone)]
pub struct KeyStore {
    keys: Vec<ApiKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(
        "API keys file {path} not found. Create it with one [[keys]] entry per key, e.g.\n\
         [[keys]]\ntenant = \"acme\"\nsha256 = \"<output of `query-api hash-key YOUR_KEY`>\"\n\
         and pass its path with --api-keys or API_KEYS_FILE"
    )]
    Missing { path: String },
    #[error("reading API keys file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("API keys file {path} is not valid TOML for [[keys]] entries: {message}")]
    Toml { path: String, message: String },
    #[error("API keys file {path} has no [[keys]] entry: no request could be authorized")]
    Empty { path: String },
    #[error("API keys file {path}, keys[{index}]: {message}")]
    Entry {
        path: String,
        index: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    keys: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    tenant: Option<String>,
    role: Option<String>,
    sha256: String,
    name: Option<String>,
    user: Option<String>,
    rate_limit_per_second: Option<f64>,
    burst: Option<u32>,
}

/// The hex SHA-256 of a key, as the keys file stores it.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Why a string cannot be an API key (it must be sendable as
/// `Authorization: Bearer KEY`), or `None` when it can.
pub fn unusable_key(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("the key is empty");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("the key must be printable ASCII without spaces");
    }
    None
}

fn parse_hash(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| {
        format!("sha256 is not hex ({e}); use the output of `query-api hash-key KEY`")
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "sha256 has {} bytes, a SHA-256 has 32 (64 hex digits); use the output of `query-api hash-key KEY`",
            bytes.len()
        )
    })
}

fn entry(e: Entry, index: usize) -> Result<ApiKey, String> {
    let hash = parse_hash(&e.sha256)?;
    let mut access = Access::Viewer;
    let role = match (e.role.as_deref(), e.tenant) {
        (Some("admin"), Some(t)) => {
            validate_id("tenant", &t).map_err(|e| e.message)?;
            access = Access::TenantAdmin;
            Role::Tenant(t)
        }
        (Some("admin"), None) => {
            access = Access::Admin;
            Role::Admin
        }
        (None | Some("tenant" | "viewer" | "editor"), None) => {
            return Err(
                "a tenant key needs `tenant = \"...\"` (or `role = \"admin\"` for an admin key)"
                    .into(),
            )
        }
        (None | Some("tenant" | "viewer" | "editor"), Some(t)) => {
            validate_id("tenant", &t).map_err(|e| e.message)?;
            if e.role.as_deref() == Some("editor") {
                access = Access::Editor;
            }
            Role::Tenant(t)
        }
        (Some("producer"), None) => {
            return Err(
                "a producer key posts the events of one tenant and needs `tenant = \"...\"`".into(),
            )
        }
        (Some("producer"), Some(t)) => {
            validate_id("tenant", &t).map_err(|e| e.message)?;
            Role::Producer(t)
        }
        (Some(other), _) => {
            return Err(format!(
                "unknown role {other:?}: use \"viewer\" (the default), \"editor\", \"admin\" or \"producer\""
            ))
        }
    };
    if let Some(r) = e.rate_limit_per_second {
        if !(r.is_finite() && r > 0.0) {
            return Err(format!(
                "rate_limit_per_second must be a positive number, not {r}"
            ));
        }
    }
    if e.burst == Some(0) {
        return Err("burst must be at least 1".into());
    }
    if let Some(user) = &e.user {
        if user.trim().is_empty() || user.len() > 200 {
            return Err("user must be 1 to 200 characters".into());
        }
    }
    let label = e.name.unwrap_or_else(|| format!("keys[{index}]"));
    Ok(ApiKey {
        role,
        access,
        principal: e.user.unwrap_or_else(|| label.clone()),
        label,
        limit: KeyLimit {
            per_second: e.rate_limit_per_second,
            burst: e.burst,
        },
        hash,
    })
}

impl KeyStore {
    /// Read and validate the keys file.
    pub fn load(path: &Path) -> Result<Self, KeysError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                KeysError::Missing {
                    path: shown.clone(),
                }
            } else {
                KeysError::Io {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
        Self::parse(&text, &shown)
    }

    /// Validate the text of a keys file (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Self, KeysError> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| KeysError::Toml {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        if doc.keys.is_empty() {
            return Err(KeysError::Empty {
                path: path.to_string(),
            });
        }
        let mut keys = Vec::with_capacity(doc.keys.len());
        let mut seen = HashSet::new();
        for (index, e) in doc.keys.into_iter().enumerate() {
            let key = entry(e, index).map_err(|message| KeysError::Entry {
                path: path.to_string(),
                index,
                message,
            })?;
            if !seen.insert(key.hash) {
                return Err(KeysError::Entry {
                    path: path.to_string(),
                    index,
                    message: "the same sha256 as an earlier entry: every key must be distinct"
                        .into(),
                });
            }
            keys.push(key);
        }
        Ok(KeyStore { keys })
    }

    /// The keys, in file order (a key's index is its rate-limit bucket).
    pub fn keys(&self) -> &[ApiKey] {
        &self.keys
    }

    /// The index of the entry whose hash is the presented key's, compared
    /// with every entry in constant time.
    pub fn find(&self, presented: &str) -> Option<usize> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = Choice::from(0);
        let mut index = 0u32;
        for (i, key) in self.keys.iter().enumerate() {
            let same = key.hash.ct_eq(&digest);
            index.conditional_assign(&u32::try_from(i).unwrap_or(u32::MAX), same);
            found |= same;
        }
        if bool::from(found) {
            usize::try_from(index).ok()
        } else {
            None
        }
    }

    pub fn get(&self, index: usize) -> Option<&ApiKey> {
        self.keys.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &str) -> Result<KeyStore, KeysError> {
        KeyStore::parse(entries, "keys.toml")
    }

    fn err(entries: &str) -> String {
        file(entries).unwrap_err().to_string()
    }

    #[test]
    fn the_hash_is_hex_sha256() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keys_are_found_by_their_hash() {
        let text = format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\n\n[[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\nname = \"ops\"\nrate_limit_per_second = 5\nburst = 7\n",
            hash_key("key-a"),
            hash_key("key-admin").to_uppercase()
        );
        let store = file(&text).unwrap();
        assert_eq!(store.find("key-a"), Some(0));
        assert_eq!(store.find("key-admin"), Some(1));
        assert_eq!(store.find("key-b"), None);
        assert_eq!(store.find(""), None);
        let admin = store.get(1).unwrap();
        assert_eq!(admin.role, Role::Admin);
        assert_eq!(admin.label, "ops");
        assert_eq!(admin.limit.per_second, Some(5.0));
        assert_eq!(admin.limit.burst, Some(7));
        assert_eq!(store.get(0).unwrap().label, "keys[0]");
        assert_eq!(store.get(0).unwrap().role, Role::Tenant("a".into()));
        let producer = file(&format!(
            "[[keys]]\nrole = \"producer\"\ntenant = \"acme\"\nsha256 = \"{}\"\n",
            hash_key("key-p")
        ))
        .unwrap();
        assert_eq!(producer.find("key-p"), Some(0));
        assert_eq!(producer.get(0).unwrap().role, Role::Producer("acme".into()));
        assert!(!format!("{admin:?}").contains(&hash_key("key-admin")));
    }

    #[test]
    fn bad_files_are_explained() {
        let h = hash_key("k");
        assert!(err("").contains("no [[keys]] entry"));
        assert!(err("[[keys]]\ntenant = \"a\"\nsha256 = \"xyz\"\n").contains("not hex"));
        assert!(err("[[keys]]\ntenant = \"a\"\nsha256 = \"abcd\"\n").contains("2 bytes"));
        assert!(err(&format!(
            "[[keys]]\nrole = \"admin\"\ntenant = \"\"\nsha256 = \"{h}\"\n"
        ))
        .contains("tenant"));
        assert!(err(&format!("[[keys]]\nsha256 = \"{h}\"\n")).contains("needs `tenant"));
        assert!(err(&format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{h}\"\n[[keys]]\ntenant = \"b\"\nsha256 = \"{h}\"\n"
        ))
        .contains("keys[1]: the same sha256"));
        assert!(
            err(&format!("[[keys]]\nrole = \"root\"\nsha256 = \"{h}\"\n")).contains("unknown role")
        );
        assert!(err(&format!(
            "[[keys]]\nrole = \"producer\"\nsha256 = \"{h}\"\n"
        ))
        .contains("producer key posts the events of one tenant"));
        assert!(err(&format!(
            "[[keys]]\nrole = \"producer\"\ntenant = \"a\\u0007\"\nsha256 = \"{h}\"\n"
        ))
        .contains("control character"));
        assert!(
            err(&format!("[[keys]]\ntenant = \"a\"\nsha = \"{h}\"\n")).contains("not valid TOML")
        );
        assert!(err(&format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{h}\"\nrate_limit_per_second = 0\n"
        ))
        .contains("positive"));
        assert!(err(&format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{h}\"\nburst = 0\n"
        ))
        .contains("at least 1"));
        assert!(err(&format!("[[keys]]\ntenant = \"\"\nsha256 = \"{h}\"\n")).contains("empty"));
        let missing = KeyStore::load(Path::new("/nonexistent/keys.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("not found") && missing.contains("hash-key"),
            "{missing}"
        );
    }

    #[test]
    fn unusable_keys_are_named() {
        assert!(unusable_key("").is_some());
        assert!(unusable_key("a b").is_some());
        assert!(unusable_key("ключ").is_some());
        assert!(unusable_key("s3cr3t-KEY_0.9~").is_none());
    }
}
