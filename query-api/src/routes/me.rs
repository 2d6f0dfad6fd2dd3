//! Who the key of a request is: its tenant, principal and role, so that a
//! client (the web dashboard) can offer only what the key may do.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::alerts::AlertParams;
use super::Params;
use crate::auth::Scope;
use crate::keys::Access;

/// The key of the request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    /// The tenant the request reads (an admin key names it with
    /// `?tenant_id=`).
    pub tenant_id: String,
    /// Whom the key stands for (its `user`, else its name).
    pub principal: String,
    /// `viewer`, `editor`, `tenant_admin` or `admin`.
    pub role: String,
    /// Whether the key may create and change rules, channels, silences,
    /// reports and dashboards.
    pub can_edit: bool,
    /// Whether the key may read the audit log.
    pub can_audit: bool,
}

/// The key of the request: its tenant and what it may do.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "campaigns",
    operation_id = "me",
    params(AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The key's tenant and role.", body = Me))
)]
pub async fn me(scope: Scope, Params(_): Params<AlertParams>) -> Json<Me> {
    let role = match scope.access {
        Access::Viewer => "viewer",
        Access::Editor => "editor",
        Access::TenantAdmin => "tenant_admin",
        Access::Admin => "admin",
    };
    Json(Me {
        tenant_id: scope.tenant,
        principal: scope.principal,
        role: role.into(),
        can_edit: scope.access >= Access::Editor,
        can_audit: scope.access >= Access::TenantAdmin,
    })
}
