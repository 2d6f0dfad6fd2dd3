//! Silences (`alerts.md`, "Delivery channels"): the list (active and
//! future ones; `include_expired=true` for all), create and delete (editor
//! keys; each change audited). A silence mutes the notifications of the
//! alerts that all its given matchers match while it is in force; it never
//! changes an alert's state.
//!
//! A body that is not a valid silence is a 400 `bad_silence` naming the
//! field: no matcher, a rule that is not one of the tenant's, a bad
//! severity or time, `ends_at` not after `starts_at` or already past.
//! Another tenant's silence, or an id that no silence has, is a 404.

use alerting::Severity;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use metadata::{NewSilence, SilenceMatchers};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::alerts::{body_bytes, enabled};
use super::{check_ids, Ids, Params};
use crate::alerts::model::{SilenceList, SilenceView};
use crate::alerts::Alerts;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::params::{parse_bool, parse_time, validate_id};
use crate::read::Reader;

/// At most this many characters in a comment.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// What a silence matches (at least one; every given one must match).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SilenceMatchersInput)]
pub struct MatchersInput {
    /// A rule of the tenant.
    #[serde(default)]
    pub rule_id: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// `info`, `warning` or `critical`.
    #[serde(default)]
    pub severity: Option<String>,
}

/// The body of `POST /v1/silences` (unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    pub matchers: MatchersInput,
    /// RFC 3339; default now.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, after `starts_at` and in the future.
    #[schema(format = DateTime)]
    pub ends_at: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Parameters of `GET /v1/silences`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SilenceParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Also silences that ended (`true`/`false`, default false).
    #[param(value_type = Option<bool>)]
    pub include_expired: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadSilence, message)
}

/// The same error as a `bad_silence`.
fn as_bad(e: ApiError) -> ApiError {
    bad(e.message)
}

/// The checked silence of a body, at `now`; the rule matcher is checked
/// against the tenant's rules by the caller.
pub fn valid_silence(input: SilenceInput, now: DateTime<Utc>) -> Result<NewSilence, ApiError> {
    let m = input.matchers;
    let rule_id = match m.rule_id {
        Some(id) => Some(
            uuid::Uuid::parse_str(id.trim())
                .map_err(|_| bad(format!("matchers.rule_id: {id:?} is not a rule id")))?
                .to_string(),
        ),
        None => None,
    };
    if let Some(c) = &m.campaign_id {
        validate_id("matchers.campaign_id: campaign", c).map_err(as_bad)?;
    }
    let severity = match m.severity {
        Some(s) => Some(
            Severity::from_name(&s)
                .ok_or_else(|| {
                    bad(format!(
                        "matchers.severity: must be info, warning or critical, not {s:?}"
                    ))
                })?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let matchers = SilenceMatchers {
        rule_id,
        campaign_id: m.campaign_id,
        severity,
    };
    if matchers.is_empty() {
        return Err(bad(
            "matchers: give at least one of rule_id, campaign_id and severity",
        ));
    }
    let starts_at = parse_time("starts_at", input.starts_at.as_deref()).map_err(as_bad)?;
    let ends_at = parse_time("ends_at", Some(&input.ends_at))
        .map_err(as_bad)?
        .ok_or_else(|| bad("ends_at: required"))?;
    let start = starts_at.unwrap_or(now);
    if ends_at <= start {
        return Err(bad(format!(
            "ends_at: must be after starts_at ({})",
            start.to_rfc3339()
        )));
    }
    if ends_at <= now {
        return Err(bad("ends_at: must be in the future"));
    }
    let comment = input
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        if c.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(bad("comment: must not hold control characters"));
        }
        let chars = c.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(bad(format!(
                "comment: at most {MAX_COMMENT_CHARS} characters, got {chars}"
            )));
        }
    }
    Ok(NewSilence {
        matchers,
        starts_at,
        ends_at,
        comment,
    })
}

/// The rule of a matcher must be one of the tenant's.
async fn check_rule(alerts: &Alerts, tenant: &str, s: &NewSilence) -> Result<(), ApiError> {
    let Some(rule_id) = &s.matchers.rule_id else {
        return Ok(());
    };
    if alerts.metadata.rule(tenant, rule_id).await?.is_none() {
        return Err(bad(format!(
            "matchers.rule_id: no rule {rule_id:?} for this tenant"
        )));
    }
    Ok(())
}

/// The tenant's silences in force or to come (all with
/// `include_expired=true`), by start.
#[utoipa::path(
    get,
    path = "/v1/silences",
    tag = "alerts",
    operation_id = "list_silences",
    params(SilenceParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The silences.", body = SilenceList),
    )
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<SilenceParams>,
) -> Result<Json<SilenceList>, ApiError> {
    let alerts = enabled(&s)?;
    let include_expired =
        parse_bool("include_expired", p.include_expired.as_deref())?.unwrap_or(false);
    let silences = alerts
        .metadata
        .list_silences(&scope.tenant, include_expired)
        .await?;
    Ok(Json(SilenceList {
        silences: silences.into_iter().map(SilenceView::from).collect(),
    }))
}

/// Create a silence. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/silences",
    tag = "alerts",
    operation_id = "create_silence",
    params(SilenceParams),
    request_body(content = SilenceInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The silence, with its id.", body = SilenceView),
    )
)]
pub async fn create<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<SilenceParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    let input: SilenceInput = serde_json::from_slice(&body_bytes(body)?)
        .map_err(|e| bad(format!("invalid silence: {e}")))?;
    let silence = valid_silence(input, Utc::now())?;
    check_rule(alerts, &scope.tenant, &silence).await?;
    let created = alerts
        .metadata
        .create_silence(&scope.tenant, &scope.principal, silence)
        .await?;
    Ok((StatusCode::CREATED, Json(SilenceView::from(created))).into_response())
}

/// Delete a silence (in force, to come or expired). Needs an editor key.
#[utoipa::path(
    delete,
    path = "/v1/silences/{id}",
    tag = "alerts",
    operation_id = "delete_silence",
    params(("id" = String, Path, description = "Silence id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), SilenceParams),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
    )
)]
pub async fn delete<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<SilenceParams>,
) -> Result<StatusCode, ApiError> {
    check_ids(&[("silence", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    if alerts
        .metadata
        .delete_silence(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("silence {id:?} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn input(matchers: MatchersInput, starts: Option<&str>, ends: &str) -> SilenceInput {
        SilenceInput {
            matchers,
            starts_at: starts.map(str::to_owned),
            ends_at: ends.into(),
            comment: None,
        }
    }

    fn campaign() -> MatchersInput {
        MatchersInput {
            campaign_id: Some("c-1".into()),
            ..MatchersInput::default()
        }
    }

    fn refused(i: SilenceInput) -> String {
        let e = valid_silence(i, now()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadSilence);
        e.message
    }

    #[test]
    fn silences_are_checked() {
        let ok = valid_silence(input(campaign(), None, "2026-11-22T13:00:00Z"), now()).unwrap();
        assert_eq!(ok.starts_at, None);
        assert_eq!(ok.matchers.campaign_id.as_deref(), Some("c-1"));
        let m = refused(input(
            MatchersInput::default(),
            None,
            "2026-11-22T13:00:00Z",
        ));
        assert!(m.starts_with("matchers:"), "{m}");
        let m = refused(input(
            campaign(),
            Some("2026-11-22T14:00:00Z"),
            "2026-11-22T13:00:00Z",
        ));
        assert!(m.starts_with("ends_at: must be after"), "{m}");
        let m = refused(input(
            campaign(),
            Some("2026-11-22T13:00:00Z"),
            "2026-11-22T13:00:00Z",
        ));
        assert!(m.starts_with("ends_at: must be after"), "{m}");
        let m = refused(input(
            campaign(),
            Some("2026-11-20T13:00:00Z"),
            "2026-11-21T13:00:00Z",
        ));
        assert!(m.starts_with("ends_at: must be in the future"), "{m}");
        let mut with_nul = input(campaign(), None, "2026-11-23T00:00:00Z");
        with_nul.comment = Some("a\u{0}b".into());
        assert!(refused(with_nul).starts_with("comment:"));
        let m = refused(input(campaign(), None, "tomorrow"));
        assert!(m.contains("ends_at"), "{m}");
        let m = refused(input(
            campaign(),
            Some("2026-13-01T00:00:00Z"),
            "2026-11-23T00:00:00Z",
        ));
        assert!(m.contains("starts_at"), "{m}");
        let m = refused(input(
            MatchersInput {
                severity: Some("fatal".into()),
                ..MatchersInput::default()
            },
            None,
            "2026-11-23T00:00:00Z",
        ));
        assert!(m.starts_with("matchers.severity"), "{m}");
        let m = refused(input(
            MatchersInput {
                rule_id: Some("r-1".into()),
                ..MatchersInput::default()
            },
            None,
            "2026-11-23T00:00:00Z",
        ));
        assert!(m.starts_with("matchers.rule_id"), "{m}");
        let m = refused(input(
            MatchersInput {
                campaign_id: Some(String::new()),
                ..MatchersInput::default()
            },
            None,
            "2026-11-23T00:00:00Z",
        ));
        assert!(m.contains("campaign"), "{m}");
    }
}
