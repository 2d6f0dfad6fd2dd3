//! The tenant overview: days, weeks or months of the tenant's calendar.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Days, NaiveDate};

use super::Params;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::export::{items_response, Format};
use crate::model::{Overview, OverviewPeriod};
use crate::params::{parse_date, parse_granularity, OverviewParams};
use crate::read::Reader;

/// Days before `to` that the default `from` lies (a 30-day range).
const DEFAULT_SPAN_DAYS: u64 = 29;

/// The range asked for, with defaults: `to` is today in the tenant's zone,
/// `from` is 29 days before `to`.
fn range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
    max_days: u32,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = to.unwrap_or(today);
    let from = match from {
        Some(f) => f,
        None => to
            .checked_sub_days(Days::new(DEFAULT_SPAN_DAYS))
            .unwrap_or(NaiveDate::MIN),
    };
    if from > to {
        return Err(ApiError::bad_request(
            ErrorCode::BadRange,
            format!("from ({from}) is after to ({to}; today in the tenant's zone when not given)"),
        ));
    }
    let days = (to - from).num_days() + 1;
    if days > i64::from(max_days) {
        return Err(ApiError::bad_request(
            ErrorCode::RangeTooLarge,
            format!("from {from} to {to} is {days} days; at most {max_days} are allowed"),
        ));
    }
    Ok((from, to))
}

/// The tenant's figures per period whose start lies in `[from, to]`
/// (periods without events are left out).
#[utoipa::path(
    get,
    path = "/v1/overview",
    tag = "overview",
    operation_id = "overview",
    params(OverviewParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The overview (JSON), or its periods (CSV/NDJSON).",
         content(
            (Overview = "application/json"),
            (String = "text/csv"),
            (OverviewPeriod = "application/x-ndjson"),
         )),
    )
)]
pub async fn overview<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Params(p): Params<OverviewParams>,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let granularity = parse_granularity(p.granularity.as_deref())?;
    let from = parse_date("from", p.from.as_deref())?;
    let to = parse_date("to", p.to.as_deref())?;
    let zone = s.zones.zone(&scope.tenant);
    let (from, to) = range(
        from,
        to,
        s.settings.today(zone),
        s.settings.max_overview_days,
    )?;
    let periods: Vec<OverviewPeriod> = s
        .reader
        .overview(&scope.tenant, granularity, from, to)
        .await?
        .iter()
        .map(OverviewPeriod::from)
        .collect();
    Ok(match format {
        Format::Json => Json(Overview {
            tenant_id: scope.tenant,
            granularity,
            timezone: zone.name().to_string(),
            periods,
        })
        .into_response(),
        _ => items_response(format, &periods),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_default_to_the_last_30_days() {
        let today = d("2026-11-22");
        assert_eq!(
            range(None, None, today, 731).unwrap(),
            (d("2026-10-24"), today)
        );
        assert_eq!(
            range(None, Some(d("2026-01-30")), today, 731).unwrap(),
            (d("2026-01-01"), d("2026-01-30"))
        );
        assert_eq!(
            range(Some(d("2026-11-01")), None, today, 731).unwrap(),
            (d("2026-11-01"), today)
        );
        assert_eq!(
            range(Some(d("2026-11-23")), None, today, 731)
                .unwrap_err()
                .code,
            ErrorCode::BadRange
        );
        assert!(range(Some(d("2025-01-01")), Some(d("2026-12-31")), today, 731).is_ok());
        assert_eq!(
            range(Some(d("2025-01-01")), Some(d("2027-01-02")), today, 731)
                .unwrap_err()
                .code,
            ErrorCode::RangeTooLarge
        );
        assert_eq!(
            range(Some(d("0001-01-01")), Some(d("9999-12-31")), today, 731)
                .unwrap_err()
                .code,
            ErrorCode::RangeTooLarge
        );
    }
}
