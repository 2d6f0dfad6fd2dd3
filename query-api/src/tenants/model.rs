//! The JSON of the tenant routes: a tenant, a page of them, and the bodies
//! a client sends to create and to change one, with their checks (pure).

use chrono::{DateTime, Utc};
use metadata::tenants::{NewTenant, StoredTenant, TenantPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::reports::model::millis;

/// One entry of a tenant's calendar history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ZoneView {
    /// From this instant on (an event's `occurred_at`), the tenant's days
    /// are this zone's; the first entry applies from the beginning of time
    /// (shown as 1970-01-01T00:00:00.000Z).
    #[schema(format = DateTime)]
    pub effective_from: String,
    /// IANA time zone.
    pub timezone: String,
}

/// A tenant of the registry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub display_name: String,
    /// The zone in effect now.
    pub timezone: String,
    /// Every zone, oldest first, including a change not in effect yet.
    pub zones: Vec<ZoneView>,
    /// Requests per second of the tenant's keys; `null`: the server's
    /// default (a key's own limit in the keys file wins).
    #[schema(required = true)]
    pub rate_limit_per_second: Option<u32>,
    /// Burst of the tenant's keys; `null`: the server's default.
    #[schema(required = true)]
    pub rate_limit_burst: Option<u32>,
    /// Grows with every change.
    pub revision: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl TenantView {
    /// The view of a stored tenant, its current zone as of `now`.
    pub fn of(t: &StoredTenant, now: DateTime<Utc>) -> Self {
        let r = &t.record;
        let timezone = r
            .zones
            .iter()
            .rev()
            .find(|z| z.effective_from <= now)
            .or(r.zones.first())
            .map(|z| z.timezone.clone())
            .unwrap_or_default();
        TenantView {
            id: r.id.clone(),
            display_name: r.display_name.clone(),
            timezone,
            zones: r
                .zones
                .iter()
                .map(|z| ZoneView {
                    effective_from: millis(z.effective_from),
                    timezone: z.timezone.clone(),
                })
                .collect(),
            rate_limit_per_second: r.rate_limit_per_second,
            rate_limit_burst: r.rate_limit_burst,
            revision: r.revision,
            created_at: millis(t.created_at),
            updated_at: millis(t.updated_at),
        }
    }
}

/// A page of tenants, by id.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The longest display name.
pub const MAX_DISPLAY_NAME: usize = 200;
/// The greatest rate limit (per second and burst).
pub const MAX_RATE_LIMIT: u32 = 1_000_000;

/// The body of `POST /v1/tenants`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// The tenant id the keys, events and reports carry (1 to 256 bytes,
    /// no control characters). Ids are never reused.
    pub id: String,
    /// A name for people (default: the id); at most 200 characters.
    #[serde(default)]
    pub display_name: Option<String>,
    /// IANA time zone of the tenant's calendar (rollup days, weeks and
    /// months); default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Requests per second of the tenant's keys (1 to 1,000,000).
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// Burst of the tenant's keys (1 to 1,000,000).
    #[serde(default)]
    pub rate_limit_burst: Option<u32>,
}

/// The body of `PATCH /v1/tenants/{id}`: fields left out stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatchInput {
    #[serde(default)]
    pub display_name: Option<String>,
    /// A new IANA time zone. It applies to events that occur from
    /// `timezone_effective_from` on (default: now + the server's change
    /// delay, `TENANT_ZONE_CHANGE_DELAY_SECONDS`, one hour unless set);
    /// earlier events keep their days. Rebuild the rollups for the new
    /// calendar with `processor tenant rebuild-rollups`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// When the new zone takes effect: at least the change delay from now,
    /// and after every change already made.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub timezone_effective_from: Option<String>,
    /// `null` clears the limit (the server's default applies).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_second: Option<Option<u32>>,
    /// `null` clears the limit (the server's default applies).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_burst: Option<Option<u32>>,
}

/// A field that is there (`null` included) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

fn display_name(name: Option<String>, id: &str) -> Result<String, String> {
    let name = name.map_or_else(|| id.to_string(), |n| n.trim().to_string());
    if name.is_empty() {
        return Err("display_name: must not be empty".into());
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(format!(
            "display_name: at most {MAX_DISPLAY_NAME} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("display_name: holds a control character".into());
    }
    Ok(name)
}

fn zone_name(name: &str) -> Result<String, String> {
    runtime::tenants::zone(name)
        .map(|z| z.name().to_string())
        .map_err(|e| format!("timezone: {e}"))
}

fn rate(field: &str, n: Option<u32>) -> Result<Option<u32>, String> {
    match n {
        Some(n) if n == 0 || n > MAX_RATE_LIMIT => {
            Err(format!("{field}: 1 to {MAX_RATE_LIMIT}, got {n}"))
        }
        n => Ok(n),
    }
}

impl TenantInput {
    /// The tenant to create (the id is checked by the route, as every id).
    pub fn validate(self) -> Result<NewTenant, String> {
        Ok(NewTenant {
            display_name: display_name(self.display_name, &self.id)?,
            timezone: zone_name(self.timezone.as_deref().unwrap_or("UTC"))?,
            rate_limit_per_second: rate("rate_limit_per_second", self.rate_limit_per_second)?,
            rate_limit_burst: rate("rate_limit_burst", self.rate_limit_burst)?,
            id: self.id,
        })
    }
}

impl TenantPatchInput {
    /// The change, a zone change effective at the asked instant or at
    /// `now + delay`; refused when asked earlier than that.
    pub fn validate(
        self,
        id: &str,
        now: DateTime<Utc>,
        delay: chrono::Duration,
    ) -> Result<TenantPatch, String> {
        let earliest = now + delay;
        let zone = match (self.timezone, self.timezone_effective_from) {
            (None, Some(_)) => {
                return Err("timezone_effective_from: only with a new timezone".into())
            }
            (None, None) => None,
            (Some(name), at) => {
                let from = match at {
                    None => earliest,
                    Some(text) => {
                        let at = DateTime::parse_from_rfc3339(&text)
                            .map_err(|_| {
                                format!(
                                    "timezone_effective_from: {text:?} is not an RFC 3339 \
                                     date-time (2026-12-01T00:00:00Z)"
                                )
                            })?
                            .with_timezone(&Utc);
                        if at < earliest {
                            return Err(format!(
                                "timezone_effective_from: at the earliest {} (now + the \
                                 change delay of {} s: every processor must hold a change \
                                 before the first event it applies to)",
                                millis(earliest),
                                delay.num_seconds()
                            ));
                        }
                        at
                    }
                };
                Some((zone_name(&name)?, from))
            }
        };
        Ok(TenantPatch {
            display_name: self
                .display_name
                .map(|n| display_name(Some(n), id))
                .transpose()?,
            zone,
            rate_limit_per_second: self
                .rate_limit_per_second
                .map(|n| rate("rate_limit_per_second", n))
                .transpose()?,
            rate_limit_burst: self
                .rate_limit_burst
                .map(|n| rate("rate_limit_burst", n))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn patch(json: &str) -> Result<TenantPatch, String> {
        serde_json::from_str::<TenantPatchInput>(json)
            .map_err(|e| e.to_string())?
            .validate("acme", now(), chrono::Duration::hours(1))
    }

    #[test]
    fn a_new_tenant_gets_defaults_and_checked_fields() {
        let t: TenantInput = serde_json::from_str(r#"{"id":"acme"}"#).unwrap();
        let t = t.validate().unwrap();
        assert_eq!(
            (t.display_name.as_str(), t.timezone.as_str()),
            ("acme", "UTC")
        );
        for (body, field) in [
            (r#"{"id":"a","timezone":"Mars/Base"}"#, "timezone"),
            (r#"{"id":"a","display_name":"  "}"#, "display_name"),
            (
                r#"{"id":"a","rate_limit_per_second":0}"#,
                "rate_limit_per_second",
            ),
            (
                r#"{"id":"a","rate_limit_burst":1000001}"#,
                "rate_limit_burst",
            ),
        ] {
            let e = serde_json::from_str::<TenantInput>(body)
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(e.starts_with(field), "{body}: {e}");
        }
        assert!(serde_json::from_str::<TenantInput>(r#"{"id":"a","zone":"UTC"}"#).is_err());
    }

    #[test]
    fn a_zone_change_takes_effect_after_the_delay_at_the_earliest() {
        let p = patch(r#"{"timezone":"Europe/Berlin"}"#).unwrap();
        let (zone, from) = p.zone.unwrap();
        assert_eq!(zone, "Europe/Berlin");
        assert_eq!(from, now() + chrono::Duration::hours(1));
        let p = patch(
            r#"{"timezone":"Asia/Tokyo","timezone_effective_from":"2026-12-01T00:00:00+09:00"}"#,
        )
        .unwrap();
        assert_eq!(
            p.zone.unwrap().1,
            "2026-11-30T15:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let early =
            patch(r#"{"timezone":"Asia/Tokyo","timezone_effective_from":"2026-11-30T12:30:00Z"}"#)
                .unwrap_err();
        assert!(
            early.contains("at the earliest 2026-11-30T13:00:00.000Z"),
            "{early}"
        );
        assert!(patch(r#"{"timezone_effective_from":"2026-12-01T00:00:00Z"}"#).is_err());
        assert!(
            patch(r#"{"timezone":"Asia/Tokyo","timezone_effective_from":"tomorrow"}"#)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }

    #[test]
    fn limits_are_kept_cleared_or_set() {
        let p = patch(r#"{"display_name":"Acme Inc."}"#).unwrap();
        assert_eq!(p.rate_limit_per_second, None);
        assert_eq!(p.display_name.as_deref(), Some("Acme Inc."));
        let p = patch(r#"{"rate_limit_per_second":null,"rate_limit_burst":50}"#).unwrap();
        assert_eq!(p.rate_limit_per_second, Some(None));
        assert_eq!(p.rate_limit_burst, Some(Some(50)));
        assert!(patch(r#"{"rate_limit_burst":0}"#).is_err());
    }
}
