//! The data of a dashboard's widgets: what to read ([`report_set_of`],
//! [`trend_range`]), and each widget's data from what was read
//! ([`widget_data`]), pure; [`read`] does the reading.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, Months, NaiveDate};
use metadata::{AlertFilter, Metadata};
use reporting::{Metric, SortSpec, TableSort, ValidDashboard, Widget, WidgetSpec};
use storage::rows::ReportRow;

use super::model::{
    AlertsData, CampaignRow, CampaignTableData, CounterData, DashboardData, FunnelData, TrendData,
    WidgetData, WidgetError,
};
use crate::alerts::model::AlertView;
use crate::live::cursor::Cursor;
use crate::model::{rfc3339_millis, OverviewPeriod, Report};
use crate::read::{Granularity, Period, ReadError, Reader, ReportSet};
use crate::reports::spec::read_granularity;

/// The reports `widgets` show: every all-jobs report of the tenant if a
/// table or a tenant-wide counter needs them, and the named keys.
pub fn report_set_of(tenant: &str, widgets: &[WidgetSpec]) -> ReportSet {
    let mut all_campaigns = false;
    let mut keys = BTreeSet::new();
    for w in widgets {
        match &w.widget {
            Widget::ReportKpis {
                campaign_id,
                job_id,
            }
            | Widget::Funnel {
                campaign_id,
                job_id,
            } => {
                keys.insert((campaign_id.clone(), job_id.clone().unwrap_or_default()));
            }
            Widget::CampaignTable { .. }
            | Widget::LiveCounter {
                campaign_id: None, ..
            } => all_campaigns = true,
            Widget::LiveCounter {
                campaign_id: Some(c),
                ..
            } => {
                keys.insert((c.clone(), String::new()));
            }
            Widget::OverviewTrend { .. } | Widget::Alerts { .. } => {}
        }
    }
    if all_campaigns {
        keys.retain(|(_, job)| !job.is_empty());
    }
    ReportSet {
        tenant: tenant.to_owned(),
        all_campaigns,
        keys: keys.into_iter().collect(),
    }
}

/// The days an `overview_trend` of `periods` periods covers on `today`:
/// the period holding today and the `periods - 1` before it.
pub fn trend_range(
    granularity: Granularity,
    periods: u32,
    today: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    let back = periods.saturating_sub(1);
    let from = match granularity {
        Granularity::Day => today.checked_sub_days(Days::new(u64::from(back))),
        Granularity::Week => today
            .checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday())))
            .and_then(|monday| monday.checked_sub_days(Days::new(7 * u64::from(back)))),
        Granularity::Month => today
            .with_day(1)
            .and_then(|first| first.checked_sub_months(Months::new(back))),
    };
    (from.unwrap_or(NaiveDate::MIN), today)
}

/// What a dashboard's reads found, by key.
#[derive(Debug, Default)]
pub struct Found {
    /// Reports by (campaign, job) (`""` for all jobs).
    pub reports: BTreeMap<(String, String), ReportRow>,
    /// Overview periods by (granularity, periods asked for).
    pub trends: BTreeMap<(Granularity, u32), Vec<Period>>,
    /// The `alerts` widgets' data by widget id (read from the metadata
    /// database), or why there is none.
    pub alerts: BTreeMap<String, Result<AlertsData, WidgetError>>,
}

fn missing(campaign: &str, job: Option<&str>) -> WidgetError {
    let message = match job {
        Some(job) => format!("job {job:?} of campaign {campaign:?} has no report (yet)"),
        None => format!("campaign {campaign:?} has no report (yet)"),
    };
    WidgetError {
        code: "not_found".into(),
        message,
    }
}

fn metric(row: &ReportRow, metric: Metric) -> u64 {
    match metric {
        Metric::TargetUsers => row.target_users,
        Metric::SentUsers => row.sent_users,
        Metric::InteractedUsers => row.interacted_users,
        Metric::CompletedUsers => row.completed_users,
        Metric::TotalInteractions => row.total_interactions,
        Metric::MessagesSent => row.messages_sent,
    }
}

fn compare(a: &ReportRow, b: &ReportRow, sort: SortSpec) -> Ordering {
    let by = match sort.by {
        TableSort::CampaignId => Ordering::Equal,
        TableSort::Metric(m) => metric(a, m).cmp(&metric(b, m)),
        TableSort::InteractionRate => a.interaction_rate.total_cmp(&b.interaction_rate),
        TableSort::CompletionRate => a.completion_rate.total_cmp(&b.completion_rate),
        TableSort::LastEventAt => a.last_event_at_ms.cmp(&b.last_event_at_ms),
    };
    let by = if sort.descending { by.reverse() } else { by };
    by.then_with(|| {
        let ids = a.campaign_id.as_bytes().cmp(b.campaign_id.as_bytes());
        if sort.descending && sort.by == TableSort::CampaignId {
            ids.reverse()
        } else {
            ids
        }
    })
}

/// The data of one widget from what was read; `timezone` names the
/// tenant's calendar.
pub fn widget_data(
    spec: &WidgetSpec,
    found: &Found,
    timezone: &str,
    today: NaiveDate,
) -> Result<serde_json::Value, WidgetError> {
    let report = |campaign: &str, job: Option<&str>| {
        found
            .reports
            .get(&(campaign.to_owned(), job.unwrap_or_default().to_owned()))
            .ok_or_else(|| missing(campaign, job))
    };
    let all_jobs = || found.reports.values().filter(|r| r.job_id.is_empty());
    let value = match &spec.widget {
        Widget::ReportKpis {
            campaign_id,
            job_id,
        } => serde_json::to_value(Report::from_row(report(campaign_id, job_id.as_deref())?)),
        Widget::Funnel {
            campaign_id,
            job_id,
        } => {
            let r = Report::from_row(report(campaign_id, job_id.as_deref())?);
            serde_json::to_value(FunnelData {
                campaign_id: r.campaign_id,
                job_id: r.job_id,
                sent_users: r.sent_users,
                funnel: r.funnel,
                as_of: r.as_of,
            })
        }
        Widget::OverviewTrend {
            granularity,
            periods,
        } => {
            let g = read_granularity(*granularity);
            let (from, to) = trend_range(g, *periods, today);
            let rows = found.trends.get(&(g, *periods)).map(Vec::as_slice);
            serde_json::to_value(TrendData {
                granularity: g,
                timezone: timezone.to_owned(),
                from,
                to,
                periods: rows
                    .unwrap_or_default()
                    .iter()
                    .map(OverviewPeriod::from)
                    .collect(),
            })
        }
        Widget::CampaignTable {
            status,
            sort,
            limit,
        } => {
            let mut rows: Vec<&ReportRow> = all_jobs()
                .filter(|r| status.as_deref().is_none_or(|s| r.status == s))
                .collect();
            let matching = rows.len() as u64;
            rows.sort_by(|a, b| compare(a, b, *sort));
            rows.truncate(usize::try_from(*limit).unwrap_or(usize::MAX));
            serde_json::to_value(CampaignTableData {
                campaigns: rows.into_iter().map(CampaignRow::from_row).collect(),
                matching,
            })
        }
        Widget::LiveCounter {
            metric: m,
            campaign_id,
        } => {
            let (value, campaigns) = match campaign_id {
                Some(c) => (metric(report(c, None)?, *m), 1),
                None => all_jobs().fold((0u64, 0u64), |(sum, n), r| {
                    (sum.saturating_add(metric(r, *m)), n + 1)
                }),
            };
            serde_json::to_value(CounterData {
                metric: m.as_str().to_owned(),
                campaign_id: campaign_id.clone(),
                value,
                campaigns,
            })
        }
        Widget::Alerts { .. } => match found.alerts.get(&spec.id) {
            Some(Ok(data)) => serde_json::to_value(data),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(off()),
        },
    };
    value.map_err(|e| WidgetError {
        code: "internal".into(),
        message: e.to_string(),
    })
}

fn off() -> WidgetError {
    WidgetError {
        code: "unavailable".into(),
        message: "alerts are off on this server (no metadata database)".into(),
    }
}

/// The filter of an `alerts` widget: the newest `limit` alerts that are
/// not dismissed.
pub fn alert_filter(widget: &Widget) -> Option<AlertFilter> {
    let Widget::Alerts {
        status,
        severity,
        campaign_id,
        limit,
    } = widget
    else {
        return None;
    };
    Some(AlertFilter {
        status: status.clone(),
        severity: severity.clone(),
        campaign_id: campaign_id.clone(),
        limit: i64::from(*limit),
        ..AlertFilter::default()
    })
}

/// Whose dashboard, on which day of which calendar.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub tenant: &'a str,
    /// The principal of the key (whose read state the alerts show).
    pub principal: &'a str,
    /// The tenant's IANA time zone.
    pub timezone: &'a str,
    /// Today in that zone.
    pub today: NaiveDate,
}

/// A dashboard's data: the campaigns stream's cursor, then the reports in
/// one query, then the overview trends.
pub async fn read<R: Reader>(
    reader: &R,
    metadata: Option<&Metadata>,
    viewer: Viewer<'_>,
    id: &str,
    version: i32,
    dashboard: &ValidDashboard,
) -> Result<DashboardData, ReadError> {
    let Viewer {
        tenant,
        principal,
        timezone,
        today,
    } = viewer;
    let cursor = Cursor::from_pairs(reader.checkpoints().await?).encode();
    let widgets = dashboard.widgets();
    let mut found = Found::default();
    for row in reader.report_set(&report_set_of(tenant, widgets)).await? {
        found
            .reports
            .insert((row.campaign_id.clone(), row.job_id.clone()), row);
    }
    for w in widgets {
        if let Widget::OverviewTrend {
            granularity,
            periods,
        } = &w.widget
        {
            let g = read_granularity(*granularity);
            if found.trends.contains_key(&(g, *periods)) {
                continue;
            }
            let (from, to) = trend_range(g, *periods, today);
            let rows = reader.overview(tenant, g, from, to).await?;
            found.trends.insert((g, *periods), rows);
        }
    }
    if let Some(metadata) = metadata {
        for w in widgets {
            if let Some(filter) = alert_filter(&w.widget) {
                let data = match metadata.list_alerts(tenant, principal, &filter).await {
                    Ok(page) => Ok(AlertsData {
                        total: u64::try_from(page.total).unwrap_or(0),
                        unread: u64::try_from(page.unread_count).unwrap_or(0),
                        alerts: page.alerts.into_iter().map(AlertView::from).collect(),
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "dashboard: reading alerts failed");
                        Err(WidgetError {
                            code: "unavailable".into(),
                            message: "the metadata database is unavailable; try again later".into(),
                        })
                    }
                };
                found.alerts.insert(w.id.clone(), data);
            }
        }
    }
    let as_of = found
        .reports
        .values()
        .map(|r| r.snapshot_at)
        .max()
        .map(|s| rfc3339_millis(i64::from(s) * 1000));
    let widgets = widgets
        .iter()
        .map(|w| {
            let (data, error) = match widget_data(w, &found, timezone, today) {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(e)),
            };
            WidgetData {
                id: w.id.clone(),
                widget_type: w.widget.type_name().to_owned(),
                title: w.title.clone(),
                width: w.width,
                data,
                error,
            }
        })
        .collect();
    Ok(DashboardData {
        dashboard_id: id.to_owned(),
        dashboard_version: version,
        as_of,
        cursor,
        timezone: timezone.to_owned(),
        widgets,
    })
}

#[cfg(test)]
mod tests {
    use reporting::DashboardInput;
    use serde_json::json;

    use super::*;

    fn widgets(value: serde_json::Value) -> Vec<WidgetSpec> {
        let input: DashboardInput =
            serde_json::from_value(json!({"name": "d", "widgets": value})).unwrap();
        input.validate().unwrap().widgets().to_vec()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn row(campaign: &str, status: &str, sent: u64, rate: f64, last: i64) -> ReportRow {
        ReportRow {
            tenant_id: "t".into(),
            campaign_id: campaign.into(),
            status: status.into(),
            sent_users: sent,
            interaction_rate: rate,
            last_event_at_ms: last,
            ..ReportRow::default()
        }
    }

    #[test]
    fn the_report_set_names_each_key_once() {
        let set = report_set_of(
            "t",
            &widgets(json!([
                {"type": "report_kpis", "params": {"campaign_id": "c1"}},
                {"type": "funnel", "params": {"campaign_id": "c1"}},
                {"type": "funnel", "params": {"campaign_id": "c1", "job_id": "j"}},
                {"type": "live_counter", "params": {"metric": "sent_users", "campaign_id": "c2"}},
                {"type": "overview_trend"}
            ])),
        );
        assert!(!set.all_campaigns);
        let key = |c: &str, j: &str| (c.to_owned(), j.to_owned());
        assert_eq!(set.keys, [key("c1", ""), key("c1", "j"), key("c2", "")]);
        // With a table, every all-jobs report is read anyway.
        let set = report_set_of(
            "t",
            &widgets(json!([
                {"type": "report_kpis", "params": {"campaign_id": "c1"}},
                {"type": "funnel", "params": {"campaign_id": "c1", "job_id": "j"}},
                {"type": "campaign_table"}
            ])),
        );
        assert!(set.all_campaigns);
        assert_eq!(set.keys, [key("c1", "j")]);
        assert_eq!(set.tenant, "t");
    }

    #[test]
    fn trends_cover_the_current_period_and_those_before() {
        let today = d("2026-11-30"); // a Monday
        assert_eq!(
            trend_range(Granularity::Day, 30, today),
            (d("2026-11-01"), today)
        );
        assert_eq!(trend_range(Granularity::Day, 1, today), (today, today));
        assert_eq!(
            trend_range(Granularity::Week, 2, d("2026-11-29")),
            (d("2026-11-16"), d("2026-11-29"))
        );
        assert_eq!(trend_range(Granularity::Week, 1, today), (today, today));
        assert_eq!(
            trend_range(Granularity::Month, 12, today),
            (d("2025-12-01"), today)
        );
        assert_eq!(
            trend_range(Granularity::Month, 3, d("2026-03-31")),
            (d("2026-01-01"), d("2026-03-31"))
        );
    }

    #[test]
    fn tables_sort_filter_cut_and_break_ties_by_campaign() {
        let mut found = Found::default();
        for r in [
            row("b", "RUNNING", 10, 20.0, 3),
            row("a", "RUNNING", 10, 50.0, 1),
            row("c", "COMPLETED", 30, 10.0, 2),
        ] {
            found
                .reports
                .insert((r.campaign_id.clone(), r.job_id.clone()), r);
        }
        let today = d("2026-11-30");
        let table = |params: serde_json::Value| {
            let w = widgets(json!([{"type": "campaign_table", "params": params}]));
            let data = widget_data(&w[0], &found, "UTC", today).unwrap();
            let ids: Vec<String> = data["campaigns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["campaign_id"].as_str().unwrap().to_owned())
                .collect();
            (ids, data["matching"].as_u64().unwrap())
        };
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(table(json!({})), (ids(&["c", "a", "b"]), 3));
        assert_eq!(
            table(json!({"sort": "sent_users"})),
            (ids(&["a", "b", "c"]), 3)
        );
        assert_eq!(
            table(json!({"sort": "-campaign_id", "limit": 2})),
            (ids(&["c", "b"]), 3)
        );
        assert_eq!(
            table(json!({"sort": "-interaction_rate"})),
            (ids(&["a", "b", "c"]), 3)
        );
        assert_eq!(
            table(json!({"sort": "last_event_at"})),
            (ids(&["a", "c", "b"]), 3)
        );
        assert_eq!(
            table(json!({"status": "RUNNING", "limit": 1})),
            (ids(&["a"]), 2)
        );
        assert_eq!(table(json!({"status": "ERROR"})), (ids(&[]), 0));

        let counter = |params: serde_json::Value| {
            let w = widgets(json!([{"type": "live_counter", "params": params}]));
            widget_data(&w[0], &found, "UTC", today)
        };
        assert_eq!(
            counter(json!({"metric": "sent_users"})).unwrap()["value"],
            50
        );
        assert_eq!(
            counter(json!({"metric": "sent_users", "campaign_id": "c"})).unwrap()["value"],
            30
        );
        let missing = counter(json!({"metric": "sent_users", "campaign_id": "zz"})).unwrap_err();
        assert_eq!(missing.code, "not_found");
        assert!(missing.message.contains("\"zz\""), "{}", missing.message);
    }
}
