//! Delivery channels (`alerts.md`, "Delivery channels"): the list (any
//! reading key; secrets are never returned), create and delete (editor
//! keys; each change audited), and a test message sent now (editor keys).
//!
//! A channel body that is not a valid channel is a 400 `bad_channel` whose
//! message names the field: an unknown kind, a missing URL (webhook,
//! Slack) or one that is not http(s), missing or malformed recipients
//! (e-mail), a field the kind does not take. Another tenant's channel, or
//! an id that no channel has, is a 404 on every route.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metadata::{Channel, ChannelConfig, ChannelDeletion};
use serde::Deserialize;
use utoipa::ToSchema;

use super::alerts::{body_bytes, enabled, AlertParams};
use super::{check_ids, Ids, Params};
use crate::alerts::model::{AlertView, ChannelList, ChannelTest, ChannelView};
use crate::alerts::senders::{Notification, Senders};
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::model::rfc3339_millis;
use crate::read::Reader;

/// At most this many characters in a channel's name.
pub const MAX_NAME_CHARS: usize = 200;
/// At most this many bytes in a URL.
pub const MAX_URL_BYTES: usize = 2048;
/// At most this many bytes in a webhook secret.
pub const MAX_SECRET_BYTES: usize = 256;
/// At most this many recipients per e-mail channel.
pub const MAX_RECIPIENTS: usize = 50;

/// The body of `POST /v1/channels` (unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `webhook`, `slack` or `email`.
    #[schema(example = "webhook")]
    pub kind: String,
    /// Webhook and Slack (required): an http or https URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook only (optional): bodies are signed with HMAC-SHA256 in
    /// `X-Signature-256: sha256=<hex>`. Never returned.
    #[serde(default)]
    pub secret: Option<String>,
    /// E-mail only (required): 1 to 50 addresses.
    #[serde(default)]
    pub recipients: Option<Vec<String>>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadChannel, message)
}

/// An http(s) URL, or a 400 naming `url`.
fn http_url(url: Option<String>, kind: &str) -> Result<String, ApiError> {
    let Some(url) = url else {
        return Err(bad(format!("url: required for a {kind} channel")));
    };
    let url = url.trim();
    if url.chars().any(char::is_control) {
        return Err(bad("url: must not hold control characters"));
    }
    if url.len() > MAX_URL_BYTES {
        return Err(bad(format!(
            "url: at most {MAX_URL_BYTES} bytes, got {}",
            url.len()
        )));
    }
    let parsed =
        url::Url::parse(url).map_err(|e| bad(format!("url: {url:?} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "url: must be an http or https URL, not {}:",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("url: {url:?} has no host")));
    }
    Ok(url.to_owned())
}

/// The checked name and configuration of a channel body.
pub fn valid_channel(input: ChannelInput) -> Result<(String, ChannelConfig), ApiError> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(bad("name: must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("name: must not hold control characters"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(bad(format!(
            "name: at most {MAX_NAME_CHARS} characters, got {chars}"
        )));
    }
    let kind = input.kind.as_str();
    let not_for = |field: &str| bad(format!("{field}: a {kind} channel does not take it"));
    let config = match kind {
        "webhook" | "slack" => {
            if input.recipients.is_some() {
                return Err(not_for("recipients"));
            }
            let url = http_url(input.url, kind)?;
            if kind == "slack" {
                if input.secret.is_some() {
                    return Err(bad(
                        "secret: only webhook channels sign their bodies; a Slack channel takes a url",
                    ));
                }
                ChannelConfig::Slack { url }
            } else {
                let secret = match input.secret {
                    None => None,
                    Some(s) if s.is_empty() => return Err(bad("secret: must not be empty")),
                    Some(s) if s.len() > MAX_SECRET_BYTES => {
                        return Err(bad(format!("secret: at most {MAX_SECRET_BYTES} bytes")))
                    }
                    Some(s) if s.chars().any(char::is_control) => {
                        return Err(bad("secret: must not hold control characters"))
                    }
                    Some(s) => Some(s),
                };
                ChannelConfig::Webhook { url, secret }
            }
        }
        "email" => {
            if input.url.is_some() {
                return Err(not_for("url"));
            }
            if input.secret.is_some() {
                return Err(not_for("secret"));
            }
            let recipients = input.recipients.unwrap_or_default();
            if recipients.is_empty() {
                return Err(bad("recipients: an e-mail channel needs at least one"));
            }
            if recipients.len() > MAX_RECIPIENTS {
                return Err(bad(format!(
                    "recipients: at most {MAX_RECIPIENTS}, got {}",
                    recipients.len()
                )));
            }
            let mut checked = Vec::with_capacity(recipients.len());
            for r in recipients {
                let r = r.trim();
                if r.parse::<lettre::Address>().is_err() {
                    return Err(bad(format!(
                        "recipients: {r:?} is not an e-mail address (user@domain)"
                    )));
                }
                checked.push(r.to_owned());
            }
            ChannelConfig::Email {
                recipients: checked,
            }
        }
        other => {
            return Err(bad(format!(
                "kind: must be webhook, slack or email, not {other:?}"
            )))
        }
    };
    Ok((name.to_owned(), config))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("channel {id:?} not found"))
}

/// The tenant's channels, oldest first.
#[utoipa::path(
    get,
    path = "/v1/channels",
    tag = "alerts",
    operation_id = "list_channels",
    params(AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The channels (secrets are never returned).", body = ChannelList),
    )
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
) -> Result<Json<ChannelList>, ApiError> {
    let alerts = enabled(&s)?;
    let channels = alerts.metadata.list_channels(&scope.tenant).await?;
    Ok(Json(ChannelList {
        channels: channels.into_iter().map(ChannelView::from).collect(),
    }))
}

/// Create a channel. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/channels",
    tag = "alerts",
    operation_id = "create_channel",
    params(AlertParams),
    request_body(content = ChannelInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The channel, with its id.", body = ChannelView),
    )
)]
pub async fn create<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    let input: ChannelInput = serde_json::from_slice(&body_bytes(body)?)
        .map_err(|e| bad(format!("invalid channel: {e}")))?;
    let (name, config) = valid_channel(input)?;
    let channel = alerts
        .metadata
        .create_channel(&scope.tenant, &scope.principal, &name, config)
        .await?;
    Ok((StatusCode::CREATED, Json(ChannelView::from(channel))).into_response())
}

/// Delete a channel: its pending deliveries fail. A channel that rules
/// still send to is not deleted (409 `conflict`, naming the rules): take it
/// out of them first. Needs an editor key.
#[utoipa::path(
    delete,
    path = "/v1/channels/{id}",
    tag = "alerts",
    operation_id = "delete_channel",
    params(("id" = String, Path, description = "Channel id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "Rules still send to the channel (`conflict`); the message names them.", body = crate::error::ErrorBody),
    )
)]
pub async fn delete<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    check_ids(&[("channel", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    match alerts
        .metadata
        .delete_channel(&scope.tenant, &scope.principal, &id)
        .await?
    {
        ChannelDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        ChannelDeletion::NotFound => Err(not_found(&id)),
        ChannelDeletion::InUse(rules) => {
            let names: Vec<String> = rules
                .iter()
                .map(|r| format!("{:?} ({})", r.name, r.id))
                .collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!(
                    "channel {id} is in use by the rule(s) {}: take it out of them first \
                     (PUT /v1/alert-rules/{{id}}), then delete it",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// A test message to `channel` (kind `test`, severity `info`).
pub fn test_notification(channel: &Channel, senders: &Senders, now_ms: i64) -> Notification {
    let id = uuid::Uuid::new_v4().to_string();
    Notification {
        kind: "test".into(),
        idempotency_key: format!("test:{id}"),
        link: senders.link(&id),
        alert: AlertView {
            id,
            tenant_id: channel.tenant_id.clone(),
            rule_id: None,
            rule_name: Some("test message".into()),
            severity: "info".into(),
            campaign_id: None,
            job_id: None,
            status: "firing".into(),
            value: None,
            threshold: None,
            message: format!(
                "A test message from campaign analytics to the channel {:?}.",
                channel.name
            ),
            fired_at: rfc3339_millis(now_ms),
            resolved_at: None,
            read: false,
            dismissed: false,
        },
    }
}

/// Send a test message to the channel now; the answer says how it went
/// (200 either way). Nothing is logged as a delivery. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/channels/{id}/test",
    tag = "alerts",
    operation_id = "test_channel",
    params(("id" = String, Path, description = "Channel id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether the test message went through.", body = ChannelTest),
    )
)]
pub async fn test<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<ChannelTest>, ApiError> {
    check_ids(&[("channel", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    let channel = alerts
        .metadata
        .channel(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let n = test_notification(
        &channel,
        &alerts.senders,
        chrono::Utc::now().timestamp_millis(),
    );
    // Answer before the request timeout (504) even if the receiver hangs.
    let limit = s
        .settings
        .request_timeout
        .saturating_sub(Duration::from_millis(500))
        .max(Duration::from_secs(1));
    let result = tokio::time::timeout(limit, alerts.senders.send(&channel.config, &n)).await;
    let answer = match result {
        Ok(Ok(sent)) => ChannelTest {
            ok: true,
            http_status: sent.http_status,
            error: None,
        },
        Ok(Err(failure)) => ChannelTest {
            ok: false,
            http_status: failure.http_status,
            error: Some(failure.error),
        },
        Err(_) => ChannelTest {
            ok: false,
            http_status: None,
            error: Some(format!(
                "no answer within {} ms",
                u64::try_from(limit.as_millis()).unwrap_or(u64::MAX)
            )),
        },
    };
    // The audit log keeps who tested what and how it went. The message is
    // sent already: a failure to record it is logged, not answered.
    let detail = serde_json::json!({
        "ok": answer.ok,
        "http_status": answer.http_status,
        "error": answer.error,
    });
    if let Err(e) = alerts
        .metadata
        .record_channel_test(&scope.tenant, &scope.principal, &id, &detail)
        .await
    {
        tracing::warn!(channel = %id, error = %e, "recording a channel test in the audit log failed");
    }
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> ChannelInput {
        ChannelInput {
            name: "ops".into(),
            kind: kind.into(),
            url: None,
            secret: None,
            recipients: None,
        }
    }

    fn refused(input: ChannelInput) -> String {
        let e = valid_channel(input).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadChannel);
        e.message
    }

    #[test]
    fn channels_are_checked_field_by_field() {
        let ok = ChannelInput {
            url: Some(" https://example.com/hook ".into()),
            secret: Some("s".into()),
            ..input("webhook")
        };
        assert_eq!(
            valid_channel(ok).unwrap(),
            (
                "ops".into(),
                ChannelConfig::Webhook {
                    url: "https://example.com/hook".into(),
                    secret: Some("s".into())
                }
            )
        );
        assert!(refused(input("webhook")).starts_with("url: required"));
        assert!(refused(input("slack")).starts_with("url: required"));
        for url in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "example.com/x",
            "http://",
            "http://example.com/\u{0}",
        ] {
            let m = refused(ChannelInput {
                url: Some(url.into()),
                ..input("webhook")
            });
            assert!(m.starts_with("url:"), "{url}: {m}");
        }
        assert!(refused(input("fax")).starts_with("kind:"));
        assert!(refused(ChannelInput {
            name: "a\u{0}b".into(),
            ..input("email")
        })
        .starts_with("name:"));
        assert!(refused(ChannelInput {
            url: Some("https://example.com/".into()),
            secret: Some("a\u{0}".into()),
            ..input("webhook")
        })
        .starts_with("secret:"));
        assert!(refused(ChannelInput {
            name: "  ".into(),
            ..input("email")
        })
        .starts_with("name:"));
        assert!(refused(input("email")).starts_with("recipients:"));
        for recipients in [vec![], vec!["not-an-address".to_string()]] {
            let m = refused(ChannelInput {
                recipients: Some(recipients),
                ..input("email")
            });
            assert!(m.starts_with("recipients:"), "{m}");
        }
        let m = refused(ChannelInput {
            url: Some("https://hooks.slack.com/services/x".into()),
            secret: Some("s".into()),
            ..input("slack")
        });
        assert!(m.starts_with("secret:"), "{m}");
        let m = refused(ChannelInput {
            recipients: Some(vec!["a@example.com".into()]),
            url: Some("https://example.com".into()),
            ..input("email")
        });
        assert!(m.starts_with("url:"), "{m}");
        assert_eq!(
            valid_channel(ChannelInput {
                recipients: Some(vec![" ops@example.com".into()]),
                ..input("email")
            })
            .unwrap()
            .1,
            ChannelConfig::Email {
                recipients: vec!["ops@example.com".into()]
            }
        );
    }
}
