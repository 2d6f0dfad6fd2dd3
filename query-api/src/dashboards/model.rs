//! The JSON of the dashboard routes: a dashboard, a page of them, the body
//! a client sends, and a dashboard's data with each widget's.

use chrono::NaiveDate;
use metadata::StoredDashboard;
use serde::Serialize;
use serde_json::Value;
use storage::rows::ReportRow;
use utoipa::ToSchema;

use crate::alerts::model::AlertView;
use crate::model::{finite, rfc3339_millis, FunnelStep, OverviewPeriod};
use crate::read::Granularity;
use crate::reports::model::millis;

/// A saved dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DashboardView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// The widgets in display order, each with its id, width and
    /// parameters, defaults spelled out.
    #[schema(value_type = Vec<WidgetDoc>)]
    pub widgets: Value,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Grows with every replace; send it back in `If-Match` to replace
    /// only the version you read.
    pub version: i32,
}

impl From<StoredDashboard> for DashboardView {
    fn from(d: StoredDashboard) -> Self {
        DashboardView {
            id: d.id,
            tenant_id: d.tenant_id,
            name: d.body.name,
            description: d.body.description,
            widgets: d.body.widgets,
            created_by: d.created_by,
            created_at: millis(d.created_at),
            updated_at: millis(d.updated_at),
            version: d.version,
        }
    }
}

/// A page of dashboards, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DashboardList {
    pub dashboards: Vec<DashboardView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The body of `POST /v1/dashboards` and `PUT /v1/dashboards/{id}`.
#[derive(Debug, Clone, ToSchema)]
pub struct DashboardInputDoc {
    /// 1 to 200 characters.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// At most 24, in display order.
    pub widgets: Option<Vec<WidgetDoc>>,
}

/// A widget.
#[derive(Debug, Clone, ToSchema)]
pub struct WidgetDoc {
    /// 1 to 64 letters, digits, `-` or `_`, unique on the dashboard;
    /// default `w<n>`.
    pub id: Option<String>,
    /// `report_kpis`, `funnel`, `overview_trend`, `campaign_table`,
    /// `live_counter` or `alerts`.
    #[schema(rename = "type")]
    pub widget_type: String,
    /// At most 200 characters.
    pub title: Option<String>,
    /// Columns of a 12-column grid, 1 to 12 (default by type: 6 for
    /// report_kpis and funnel, 12 for overview_trend and campaign_table,
    /// 3 for live_counter).
    #[schema(minimum = 1, maximum = 12)]
    pub width: Option<u8>,
    /// By type: `report_kpis` and `funnel`: `campaign_id`, optional
    /// `job_id`; `overview_trend`: `granularity` (day, week, month;
    /// default day), `periods` (default 30 days or 12 weeks or months;
    /// at most 731, 104, 24); `campaign_table`: optional `status`, `sort`
    /// (campaign_id, target_users, sent_users, interacted_users,
    /// completed_users, total_interactions, messages_sent,
    /// interaction_rate, completion_rate, last_event_at; `-` before it for
    /// descending; default `-sent_users`), `limit` (1 to 100, default 10);
    /// `live_counter`: `metric` (target_users, sent_users,
    /// interacted_users, completed_users, total_interactions,
    /// messages_sent), optional `campaign_id` (default: the sum over the
    /// tenant's campaigns); `alerts`: optional `status` (firing,
    /// resolved), `severity` (info, warning, critical), `campaign_id`,
    /// `limit` (1 to 50, default 10).
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
}

/// A dashboard's data as of one moment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DashboardData {
    pub dashboard_id: String,
    /// The dashboard's version the data follows.
    pub dashboard_version: i32,
    /// The newest snapshot among the reports read; null when no widget
    /// shows a report or none exists yet.
    #[schema(required = true, format = DateTime)]
    pub as_of: Option<String>,
    /// The campaigns stream's position just before the read: open
    /// `/v1/campaigns/stream` with it as `Last-Event-ID` to hear of every
    /// commit the data may not include.
    pub cursor: String,
    /// The tenant's IANA time zone (the overview trend's calendar).
    pub timezone: String,
    /// One per widget, in display order.
    pub widgets: Vec<WidgetData>,
}

/// A widget's data, or why it has none.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WidgetData {
    pub id: String,
    #[serde(rename = "type")]
    pub widget_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub width: u8,
    /// By type: `report_kpis`: a report (as `/v1/campaigns/{id}/report`);
    /// `funnel`: a [`FunnelData`]; `overview_trend`: a [`TrendData`];
    /// `campaign_table`: a [`CampaignTableData`]; `live_counter`: a
    /// [`CounterData`]; `alerts`: an [`AlertsData`]. Null when `error` is
    /// set.
    #[schema(value_type = Option<Object>, required = true)]
    pub data: Option<Value>,
    /// Why there is no data (for example a campaign with no report yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WidgetError>,
}

/// Why a widget has no data.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WidgetError {
    /// `not_found`: the campaign or job has no report (yet);
    /// `unavailable`: alerts are off or their database did not answer.
    pub code: String,
    pub message: String,
}

/// A `funnel` widget's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FunnelData {
    pub campaign_id: String,
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// Users sent to: the funnel's top.
    pub sent_users: u64,
    pub funnel: Vec<FunnelStep>,
    #[schema(format = DateTime)]
    pub as_of: String,
}

/// An `overview_trend` widget's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendData {
    pub granularity: Granularity,
    pub timezone: String,
    /// The first day of the first period shown.
    pub from: NaiveDate,
    /// Today in the tenant's zone.
    pub to: NaiveDate,
    /// Periods that had events, ordered by start.
    pub periods: Vec<OverviewPeriod>,
}

/// A `campaign_table` widget's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignTableData {
    /// At most `limit`, in the widget's order.
    pub campaigns: Vec<CampaignRow>,
    /// Campaigns matching the status filter (the table shows the first
    /// `limit`).
    pub matching: u64,
}

/// A campaign's all-jobs figures in a table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignRow {
    pub campaign_id: String,
    #[schema(required = true)]
    pub status: Option<String>,
    pub target_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub completed_users: u64,
    pub interaction_rate: f64,
    pub completion_rate: f64,
    #[schema(format = DateTime)]
    pub last_event_at: String,
}

impl CampaignRow {
    pub fn from_row(r: &ReportRow) -> Self {
        CampaignRow {
            campaign_id: r.campaign_id.clone(),
            status: (!r.status.is_empty()).then(|| r.status.clone()),
            target_users: r.target_users,
            sent_users: r.sent_users,
            interacted_users: r.interacted_users,
            completed_users: r.completed_users,
            interaction_rate: finite(r.interaction_rate),
            completion_rate: finite(r.completion_rate),
            last_event_at: rfc3339_millis(r.last_event_at_ms),
        }
    }
}

/// An `alerts` widget's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertsData {
    /// The newest first, at most `limit`, as `GET /v1/alerts` shows them
    /// to this key.
    pub alerts: Vec<AlertView>,
    /// Alerts matching the widget's filters.
    pub total: u64,
    /// Of those, unread by this key's principal.
    pub unread: u64,
}

/// A `live_counter` widget's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CounterData {
    pub metric: String,
    /// The campaign counted; null: the sum over the tenant's campaigns.
    #[schema(required = true)]
    pub campaign_id: Option<String>,
    pub value: u64,
    /// Campaigns summed.
    pub campaigns: u64,
}
