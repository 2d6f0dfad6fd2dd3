//! Query and path parameters: what each route accepts (the structs also
//! document them in the OpenAPI spec) and their validation. Every value is
//! received as text and checked here, so a bad value is a 400 with a code
//! naming what was wrong, never a panic or a 500.

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorCode};
use crate::read::Granularity;

/// Longest id, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 256;
/// Page size when `limit` is not given (JSON).
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest `limit`.
pub const MAX_LIMIT: u64 = 1000;

/// An id (tenant, campaign, job, user) must be non-empty, at most
/// [`MAX_ID_BYTES`] bytes and free of control characters.
pub fn validate_id(what: &str, id: &str) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::bad_request(ErrorCode::BadId, format!("{what} id {why}"));
    if id.is_empty() {
        return Err(bad("is empty".into()));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(bad(format!(
            "is {} bytes long; at most {MAX_ID_BYTES} are allowed",
            id.len()
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(bad("holds a control character".into()));
    }
    Ok(())
}

/// A campaign status, as the processor records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CampaignStatus {
    New,
    Preparing,
    Waiting,
    Running,
    Completed,
    Error,
}

impl CampaignStatus {
    const ALL: [(&'static str, CampaignStatus); 6] = [
        ("NEW", CampaignStatus::New),
        ("PREPARING", CampaignStatus::Preparing),
        ("WAITING", CampaignStatus::Waiting),
        ("RUNNING", CampaignStatus::Running),
        ("COMPLETED", CampaignStatus::Completed),
        ("ERROR", CampaignStatus::Error),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .unwrap_or("NEW")
    }
}

/// How a list, report or overview is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// `application/json` (the default).
    Json,
    /// `text/csv`: a header line, then one line per item; nested fields
    /// (nodes, funnel, steps) as JSON text.
    Csv,
    /// `application/x-ndjson`: one JSON object per line.
    Ndjson,
}

/// `?tenant_id=`: an admin key must pass it on every /v1 route; a tenant
/// key may pass its own tenant (any other answers 404).
#[derive(Debug, Default, Deserialize)]
pub struct TenantParam {
    pub tenant_id: Option<String>,
}

/// Parameters of `GET /v1/campaigns`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignListParams {
    /// The tenant to read: required for admin keys; a tenant key may only
    /// name its own tenant (any other answers 404). An id: 1 to 256 bytes of
    /// UTF-8 without control characters (the schema says at most 64
    /// characters, which always fit in 256 bytes).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Only campaigns whose latest status is this one.
    #[param(value_type = Option<CampaignStatus>)]
    pub status: Option<String>,
    /// Only campaigns whose report snapshot (`as_of`) is at or after this
    /// RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<String>,
    /// Page size (default 50). For CSV and NDJSON exports without a limit,
    /// every matching campaign is streamed.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, min_length = 2, max_length = 1024, pattern = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{4}|[A-Za-z0-9_-]{2,3})$")]
    pub cursor: Option<String>,
    /// Response format (default json, or `text/csv` when the Accept header
    /// asks for it).
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

/// Parameters of the report and job routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// The tenant to read: required for admin keys; a tenant key may only
    /// name its own tenant (any other answers 404). An id: 1 to 256 bytes of
    /// UTF-8 without control characters (the schema says at most 64
    /// characters, which always fit in 256 bytes).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Response format (default json, or `text/csv` when the Accept header
    /// asks for it).
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

/// Parameters of `GET .../journeys`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JourneyListParams {
    /// The tenant to read: required for admin keys; a tenant key may only
    /// name its own tenant (any other answers 404). An id: 1 to 256 bytes of
    /// UTF-8 without control characters (the schema says at most 64
    /// characters, which always fit in 256 bytes).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Only completed (`true`) or only not completed (`false`) journeys.
    #[param(value_type = Option<bool>)]
    pub completed: Option<String>,
    /// Page size (default 50). For CSV and NDJSON exports without a limit,
    /// every matching journey is streamed.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, min_length = 2, max_length = 1024, pattern = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{4}|[A-Za-z0-9_-]{2,3})$")]
    pub cursor: Option<String>,
    /// Response format (default json, or `text/csv` when the Accept header
    /// asks for it).
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

/// Parameters of `GET /v1/overview`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewParams {
    /// The tenant to read: required for admin keys; a tenant key may only
    /// name its own tenant (any other answers 404). An id: 1 to 256 bytes of
    /// UTF-8 without control characters (the schema says at most 64
    /// characters, which always fit in 256 bytes).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Period length (default `day`).
    #[param(value_type = Option<Granularity>)]
    pub granularity: Option<String>,
    /// First day (tenant-local, inclusive) a period may start on. Default:
    /// 29 days before `to`, so that the default range is 30 days.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day (tenant-local, inclusive) a period may start on. Default:
    /// today in the tenant's time zone. `to - from` must not exceed the
    /// server's maximum (`--max-overview-days`, 731 by default).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Response format (default json, or `text/csv` when the Accept header
    /// asks for it).
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

/// Parameters of `GET .../journeys/{user_id}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JourneyParams {
    /// The tenant to read: required for admin keys; a tenant key may only
    /// name its own tenant (any other answers 404). An id: 1 to 256 bytes of
    /// UTF-8 without control characters (the schema says at most 64
    /// characters, which always fit in 256 bytes).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Response format (default json, or `text/csv` when the Accept header
    /// asks for it).
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

/// `limit`: `None` when absent, else an integer in 1..=[`MAX_LIMIT`].
pub fn parse_limit(text: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            ErrorCode::BadLimit,
            format!("limit must be an integer from 1 to {MAX_LIMIT}, not {text:?}"),
        )
    };
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Some(n)),
        _ => Err(bad()),
    }
}

/// `status`: one of the campaign statuses.
pub fn parse_status(text: Option<&str>) -> Result<Option<CampaignStatus>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    CampaignStatus::ALL
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, s)| Some(*s))
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::BadStatus,
                format!(
                    "status must be one of NEW, PREPARING, WAITING, RUNNING, COMPLETED, ERROR, not {text:?}"
                ),
            )
        })
}

/// Whether `text` has the shape of an RFC 3339 date-time:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
fn rfc3339_shape(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len() && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

/// `updated_since`: an RFC 3339 time, as whole seconds since the epoch
/// rounded up (a snapshot time has whole seconds) and clamped to what a
/// ClickHouse `DateTime` holds.
pub fn parse_updated_since(text: Option<&str>) -> Result<Option<u32>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            ErrorCode::BadTimestamp,
            format!(
                "updated_since must be an RFC 3339 time like 2026-11-01T10:00:00Z, not {text:?}"
            ),
        )
    };
    if !rfc3339_shape(text) {
        return Err(bad());
    }
    let normalized = text.to_ascii_uppercase();
    let at = DateTime::parse_from_rfc3339(&normalized).map_err(|_| bad())?;
    let ms = at.timestamp_millis();
    let secs = ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0);
    Ok(Some(u32::try_from(secs.max(0)).unwrap_or(u32::MAX)))
}

/// An RFC 3339 time parameter named `name` (e.g. `since`), as UTC.
pub fn parse_time(
    name: &str,
    text: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            ErrorCode::BadTimestamp,
            format!("{name} must be an RFC 3339 time like 2026-11-01T10:00:00Z, not {text:?}"),
        )
    };
    if !rfc3339_shape(text) {
        return Err(bad());
    }
    let at = DateTime::parse_from_rfc3339(&text.to_ascii_uppercase()).map_err(|_| bad())?;
    Ok(Some(at.with_timezone(&chrono::Utc)))
}

/// A boolean parameter named `name`: `true` or `false`.
pub fn parse_bool(name: &str, text: Option<&str>) -> Result<Option<bool>, ApiError> {
    match text {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(
            ErrorCode::BadBoolean,
            format!("{name} must be true or false, not {other:?}"),
        )),
    }
}

/// `completed`: `true` or `false`.
pub fn parse_completed(text: Option<&str>) -> Result<Option<bool>, ApiError> {
    parse_bool("completed", text)
}

/// `granularity`: `day` (default), `week` or `month`.
pub fn parse_granularity(text: Option<&str>) -> Result<Granularity, ApiError> {
    let Some(text) = text else {
        return Ok(Granularity::Day);
    };
    Granularity::parse(text).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::BadGranularity,
            format!("granularity must be day, week or month, not {text:?}"),
        )
    })
}

/// A `YYYY-MM-DD` date.
pub fn parse_date(name: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    let date = shape
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten();
    date.map(Some).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::BadDate,
            format!("{name} must be a date like 2026-11-01, not {text:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("campaign", "c-1 ü").is_ok());
        assert!(validate_id("campaign", &"x".repeat(256)).is_ok());
        for bad in [
            "",
            "a\nb",
            "\u{7f}",
            "a\u{85}",
            &"x".repeat(257),
            &"é".repeat(129),
        ] {
            assert_eq!(
                validate_id("campaign", bad).unwrap_err().code,
                ErrorCode::BadId,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits_are_bounded_integers() {
        assert_eq!(parse_limit(None).unwrap(), None);
        assert_eq!(parse_limit(Some("1")).unwrap(), Some(1));
        assert_eq!(parse_limit(Some("1000")).unwrap(), Some(1000));
        for bad in [
            "0",
            "1001",
            "-1",
            "+5",
            "1.0",
            "",
            "abc",
            "99999999999999999999",
        ] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(
            parse_updated_since(Some("1970-01-01T00:00:01Z")).unwrap(),
            Some(1)
        );
        assert_eq!(
            parse_updated_since(Some("1970-01-01T00:00:01.001Z")).unwrap(),
            Some(2)
        );
        assert_eq!(
            parse_updated_since(Some("1970-01-01t01:00:00+01:00")).unwrap(),
            Some(0)
        );
        assert_eq!(
            parse_updated_since(Some("0001-01-01T00:00:00Z")).unwrap(),
            Some(0)
        );
        assert_eq!(
            parse_updated_since(Some("9999-12-31T23:59:59-23:59")).unwrap(),
            Some(u32::MAX)
        );
        for bad in [
            "2026-11-01",
            "2026-11-01 10:00:00Z",
            "2026-11-01T10:00:00",
            "2026-13-01T10:00:00Z",
            "2026-11-01T10:00:00.Z",
            "2026-11-01T10:00:00+0100",
            "x",
        ] {
            assert!(parse_updated_since(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn alert_times_and_flags() {
        let at = parse_time("since", Some("2026-11-01T11:00:00+01:00"))
            .unwrap()
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-01T10:00:00+00:00");
        assert_eq!(parse_time("since", None).unwrap(), None);
        for bad in ["2026-11-01", "yesterday", "2026-11-01T10:00:00"] {
            let e = parse_time("since", Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadTimestamp, "{bad}");
            assert!(e.message.starts_with("since"), "{}", e.message);
        }
        assert_eq!(parse_bool("unread_only", Some("true")).unwrap(), Some(true));
        assert_eq!(parse_bool("unread_only", None).unwrap(), None);
        assert_eq!(
            parse_bool("unread_only", Some("1")).unwrap_err().code,
            ErrorCode::BadBoolean
        );
    }

    #[test]
    fn dates_statuses_and_flags() {
        assert_eq!(
            parse_date("from", Some("2026-02-28")).unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        for bad in ["2026-02-30", "2026-2-28", "20260228", "+2026-02-28", ""] {
            assert!(parse_date("from", Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            parse_status(Some("RUNNING")).unwrap(),
            Some(CampaignStatus::Running)
        );
        assert!(parse_status(Some("running")).is_err());
        assert_eq!(parse_completed(Some("false")).unwrap(), Some(false));
        assert!(parse_completed(Some("1")).is_err());
        assert_eq!(parse_granularity(None).unwrap(), Granularity::Day);
        assert!(parse_granularity(Some("year")).is_err());
        assert_eq!(CampaignStatus::Completed.as_str(), "COMPLETED");
    }
}
