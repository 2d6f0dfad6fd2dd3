//! Who is asking and which tenant they read or write: the [`Scope`]
//! extractor of every read route, the [`ProducerScope`] of the event
//! ingestion routes.
//!
//! In order: `Authorization: Bearer <key>` must name a key of the keys file
//! (401 otherwise), the key must have a token in its rate-limit bucket
//! (429), its role must fit the route (403: a producer key reads no
//! reports, only a producer key posts events), then the tenant: a tenant
//! key reads its own tenant (naming another with `?tenant_id=` answers 404,
//! as if nothing existed); an admin key must name one with `?tenant_id=`
//! (400 otherwise); a producer key writes its own tenant (events of another
//! are rejected one by one).

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::keys::{Access, ApiKey, Role};
use crate::params::{validate_id, TenantParam};
use crate::read::Reader;

/// The tenant a request reads, the index of the key it came with, what
/// the key may change and whom it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant: String,
    pub key: usize,
    pub access: Access,
    pub principal: String,
}

impl Scope {
    /// 403 unless the key may change alert rules, channels and silences.
    pub fn require_editor(&self) -> Result<(), ApiError> {
        if self.access >= Access::Editor {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this key is a viewer: changing rules, channels, silences and reports needs a \
                 key with role = \"editor\" (or an admin key)",
            ))
        }
    }
}

impl Scope {
    /// 403 unless the key is an admin (of the tenant, or of every tenant).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.access >= Access::TenantAdmin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "the audit log needs an admin key (role = \"admin\", with the tenant for a \
                 tenant admin)",
            ))
        }
    }
}

/// The tenant whose events a request may post (a producer key's), and the
/// index of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerScope {
    pub tenant: String,
    pub key: usize,
}

/// A platform admin key (`role = "admin"` without a tenant): manages the
/// tenants registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAdmin {
    pub key: usize,
    pub principal: String,
}

/// Who made a request, for the access log: the key's label (never the
/// key) and the tenant, once the [`Scope`] extractor knows them.
#[derive(Debug, Clone, Default)]
pub struct Caller(Arc<Mutex<CallerInfo>>);

#[derive(Debug, Clone, Default)]
pub struct CallerInfo {
    pub key: Option<String>,
    pub tenant: Option<String>,
}

impl Caller {
    fn update(&self, f: impl FnOnce(&mut CallerInfo)) {
        if let Ok(mut info) = self.0.lock() {
            f(&mut info);
        }
    }

    pub fn get(&self) -> CallerInfo {
        self.0.lock().map(|i| i.clone()).unwrap_or_default()
    }
}

/// The key of an `Authorization: Bearer <key>` header.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let malformed = || {
        ApiError::unauthorized("malformed Authorization header: send `Authorization: Bearer <key>`")
    };
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing Authorization header: send `Authorization: Bearer <key>`")
    })?;
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, key) = text.trim().split_once(' ').ok_or_else(malformed)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(malformed());
    }
    Ok(key)
}

/// The key of a request (401 without a known one) once it has a token in
/// its rate-limit bucket (429 otherwise); the access log learns its label.
fn authenticate<'s, R: Reader>(
    parts: &Parts,
    state: &'s AppState<R>,
    caller: &Caller,
) -> Result<(usize, &'s ApiKey), ApiError> {
    let presented = bearer(&parts.headers)?;
    let index = state
        .keys
        .find(presented)
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    let key = state
        .keys
        .get(index)
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    caller.update(|c| c.key = Some(key.label.clone()));
    if let Err(wait) = state.limiter.check(index) {
        state.metrics.rate_limited.inc();
        return Err(ApiError::rate_limited(wait));
    }
    Ok((index, key))
}

fn caller_of(parts: &Parts) -> Caller {
    parts
        .extensions
        .get::<Caller>()
        .cloned()
        .unwrap_or_default()
}

impl<R: Reader> FromRequestParts<AppState<R>> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<R>,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts);
        let (index, key) = authenticate(parts, state, &caller)?;
        if let Role::Producer(_) = key.role {
            return Err(ApiError::forbidden(
                "a producer key posts events and reads nothing: use a tenant or admin key",
            ));
        }
        let Query(param) = Query::<TenantParam>::try_from_uri(&parts.uri).map_err(|e| {
            ApiError::bad_request(ErrorCode::BadQuery, format!("bad query string: {e}"))
        })?;
        if let Some(t) = &param.tenant_id {
            validate_id("tenant", t)?;
        }
        let tenant = match (&key.role, param.tenant_id) {
            (Role::Tenant(own), None) => own.clone(),
            (Role::Tenant(own), Some(asked)) if asked == *own => asked,
            (Role::Tenant(_), Some(_)) => return Err(ApiError::not_found("tenant not found")),
            (Role::Admin, Some(asked)) => asked,
            (Role::Admin, None) => {
                return Err(ApiError::bad_request(
                    ErrorCode::TenantRequired,
                    "an admin key must name the tenant to read with ?tenant_id=",
                ))
            }
            (Role::Producer(_), _) => {
                return Err(ApiError::forbidden("a producer key reads nothing"))
            }
        };
        caller.update(|c| c.tenant = Some(tenant.clone()));
        Ok(Scope {
            tenant,
            key: index,
            access: state.roles.access(key),
            principal: key.principal.clone(),
        })
    }
}

impl<R: Reader> FromRequestParts<AppState<R>> for ProducerScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<R>,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts);
        let (index, key) = authenticate(parts, state, &caller)?;
        let Role::Producer(tenant) = &key.role else {
            return Err(ApiError::forbidden(
                "only a key with role = \"producer\" posts events; this key reads reports",
            ));
        };
        caller.update(|c| c.tenant = Some(tenant.clone()));
        Ok(ProducerScope {
            tenant: tenant.clone(),
            key: index,
        })
    }
}

impl<R: Reader> FromRequestParts<AppState<R>> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<R>,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts);
        let (index, key) = authenticate(parts, state, &caller)?;
        if key.role != Role::Admin {
            return Err(ApiError::forbidden(
                "managing tenants needs a platform admin key (role = \"admin\" without a \
                 tenant in the keys file)",
            ));
        }
        Ok(PlatformAdmin {
            key: index,
            principal: key.principal.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn bearer_keys_are_parsed() {
        assert_eq!(bearer(&with(b"Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(&with(b"bearer  abc ")).unwrap(), "abc");
        for bad in [
            &b"Basic abc"[..],
            b"Bearer",
            b"Bearer ",
            b"abc",
            b"Bearer \xff",
        ] {
            assert_eq!(
                bearer(&with(bad)).unwrap_err().code,
                ErrorCode::Unauthorized
            );
        }
        assert!(bearer(&HeaderMap::new())
            .unwrap_err()
            .message
            .contains("missing"));
    }
}
