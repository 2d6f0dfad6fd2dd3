//! A tenant's API keys and their roles (`/v1/keys`): a tenant admin (a key
//! with `role = "admin"` and the tenant, or a platform admin naming it
//! with `?tenant_id=`) lists the tenant's keys and changes their roles
//! (`viewer`, `editor`, `admin`) without touching the keys file or
//! restarting; `DELETE .../role` gives a key its file's role again. The
//! keys themselves stay in the file: a key is named by its id, never shown.
//! A key cannot change its own role (no admin locks itself out). Every
//! change is audited; other API instances apply it within a second
//! ([`crate::key_roles`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::alerts::{body_bytes, enabled};
use super::Ids;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::key_roles::{parse_role, role_name};
use crate::keys::{ApiKey, Role};
use crate::read::Reader;

/// One of the tenant's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyView {
    /// The first 16 hex digits of the key's SHA-256.
    pub id: String,
    /// Its `name` in the keys file, or `keys[N]`.
    pub name: String,
    /// Whom it stands for (its `user`, else its name).
    pub principal: String,
    /// What it may do now: `viewer`, `editor` or `admin`.
    pub role: String,
    /// The role the keys file gives it.
    pub file_role: String,
    /// Whether an admin changed its role (`role` differs from the file's
    /// until `DELETE /v1/keys/{id}/role`).
    pub changed: bool,
}

/// The tenant's keys, in file order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// The body of `PUT /v1/keys/{id}/role`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// `viewer`, `editor` or `admin`.
    pub role: String,
}

fn require_admin(scope: &Scope) -> Result<(), ApiError> {
    scope.require_admin().map_err(|_| {
        ApiError::forbidden(
            "managing keys' roles needs an admin key of the tenant (role = \"admin\" with the \
             tenant, or a platform admin naming it with ?tenant_id=)",
        )
    })
}

fn view<R>(s: &AppState<R>, key: &ApiKey) -> KeyView {
    let name = |a| role_name(a).unwrap_or("admin").to_string();
    KeyView {
        id: key.id(),
        name: key.label.clone(),
        principal: key.principal.clone(),
        role: name(s.roles.access(key)),
        file_role: name(key.access),
        changed: s.roles.is_changed(key),
    }
}

/// The tenant keys of `tenant`, in file order.
fn tenant_keys<'s, R>(
    s: &'s AppState<R>,
    tenant: &'s str,
) -> impl Iterator<Item = &'s ApiKey> + 's {
    s.keys
        .keys()
        .iter()
        .filter(move |k| matches!(&k.role, Role::Tenant(t) if t == tenant))
}

/// The tenant's key `id` (404 for any other).
fn key_of<'s, R>(s: &'s AppState<R>, tenant: &'s str, id: &str) -> Result<&'s ApiKey, ApiError> {
    tenant_keys(s, tenant)
        .find(|k| k.id() == id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no key {id:?} of this tenant: GET /v1/keys lists their ids"
            ))
        })
}

/// The tenant's keys with their roles.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "list_keys",
    params(crate::routes::alerts::AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's keys.", body = KeyList))
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
) -> Result<Json<KeyList>, ApiError> {
    require_admin(&scope)?;
    let keys = tenant_keys(&s, &scope.tenant)
        .map(|k| view(&s, k))
        .collect();
    Ok(Json(KeyList { keys }))
}

/// Change the role of one of the tenant's keys (audited). A key cannot
/// change its own role.
#[utoipa::path(
    put,
    path = "/v1/keys/{id}/role",
    tag = "keys",
    operation_id = "set_key_role",
    params(
        ("id" = String, Path, description = "The key's id (GET /v1/keys).", min_length = 1, max_length = 64),
        crate::routes::alerts::AlertParams
    ),
    request_body(content = RoleInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The key.", body = KeyView))
)]
pub async fn set_role<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<KeyView>, ApiError> {
    change(&s, &scope, &id, Some(body)).await
}

/// Give one of the tenant's keys its keys file's role again (audited).
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}/role",
    tag = "keys",
    operation_id = "reset_key_role",
    params(
        ("id" = String, Path, description = "The key's id (GET /v1/keys).", min_length = 1, max_length = 64),
        crate::routes::alerts::AlertParams
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "The key.", body = KeyView))
)]
pub async fn reset_role<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
) -> Result<Json<KeyView>, ApiError> {
    change(&s, &scope, &id, None).await
}

/// Set (`Some(body)`) or reset the role of key `id`.
async fn change<R: Reader>(
    s: &AppState<R>,
    scope: &Scope,
    id: &str,
    body: Option<Result<Bytes, BytesRejection>>,
) -> Result<Json<KeyView>, ApiError> {
    require_admin(scope)?;
    let alerts = enabled(s)?;
    let bad_role = |m: String| ApiError::bad_request(ErrorCode::BadRole, m);
    let access = match body {
        Some(body) => {
            let bytes = body_bytes(body)?;
            let input: RoleInput =
                serde_json::from_slice(&bytes).map_err(|e| bad_role(e.to_string()))?;
            Some(parse_role(&input.role).ok_or_else(|| {
                bad_role(format!(
                    "role: {:?} is not a role; use \"viewer\", \"editor\" or \"admin\"",
                    input.role
                ))
            })?)
        }
        None => None,
    };
    let key = key_of(s, &scope.tenant, id)?;
    if s.keys.get(scope.key).map(ApiKey::id).as_deref() == Some(id) {
        return Err(bad_role(
            "a key cannot change its own role: ask another admin of the tenant".into(),
        ));
    }
    let file_role = role_name(key.access).unwrap_or("admin");
    alerts
        .metadata
        .set_key_role(
            &scope.principal,
            &scope.tenant,
            id,
            access.and_then(role_name),
            file_role,
        )
        .await?;
    s.roles.set(&scope.tenant, id, access);
    Ok(Json(view(s, key)))
}
