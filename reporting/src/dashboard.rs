//! A saved dashboard as a client sends it ([`DashboardInput`]) and checked
//! ([`ValidDashboard`]): a name and an ordered list of [`WidgetSpec`]s,
//! each a [`Widget`] with its parameters, a title and a width.
//!
//! The widgets:
//!
//! - `report_kpis` (`campaign_id`, optional `job_id`): a report's figures;
//! - `funnel` (`campaign_id`, optional `job_id`): its funnel;
//! - `overview_trend` (`granularity`, `periods`): the tenant overview over
//!   the last `periods` days, weeks or months, the current one included;
//! - `campaign_table` (optional `status`, `sort`, `limit`): the tenant's
//!   campaigns, the first `limit` in `sort` order;
//! - `live_counter` (`metric`, optional `campaign_id`): one figure of a
//!   campaign, or summed over the tenant's campaigns;
//! - `alerts` (optional `status`, `severity`, `campaign_id`, `limit`): the
//!   tenant's newest alerts.
//!
//! Like a definition, the parameters are read by hand so that an error
//! names the field at fault (`widgets[2].params.metric: ...`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::definition::{description, granularity, id_value, name, status, Granularity};
use crate::error::{invalid, ValidationError};
use crate::fields;

/// At most this many widgets on a dashboard.
pub const MAX_WIDGETS: usize = 24;
/// At most this many characters in a widget's id.
pub const MAX_WIDGET_ID_CHARS: usize = 64;
/// At most this many characters in a widget's title.
pub const MAX_TITLE_CHARS: usize = 200;
/// The grid a dashboard is laid out on: a widget is 1 to this many
/// columns wide.
pub const GRID_COLUMNS: u8 = 12;
/// At most this many rows in a `campaign_table`.
pub const MAX_TABLE_ROWS: u32 = 100;
/// Rows of a `campaign_table` without a `limit`.
pub const DEFAULT_TABLE_ROWS: u32 = 10;
/// At most this many alerts in an `alerts` widget.
pub const MAX_ALERTS: u32 = 50;
/// Alerts of an `alerts` widget without a `limit`.
pub const DEFAULT_ALERTS: u32 = 10;
/// The alert statuses an `alerts` widget may filter on.
pub const ALERT_STATUSES: [&str; 2] = ["firing", "resolved"];
/// The severities an `alerts` widget may filter on.
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];

/// A dashboard as a client sends it (`POST`, and `PUT`, which replaces).
/// [`ValidDashboard`] serializes to the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardInput {
    /// Required, 1 to 200 characters after trimming.
    pub name: String,
    /// At most 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The widgets, in display order (at most [`MAX_WIDGETS`]), each an
    /// object `{type, params, id?, title?, width?}`.
    #[serde(default)]
    pub widgets: Vec<Value>,
}

/// What a widget shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "params", rename_all = "snake_case")]
pub enum Widget {
    /// A report's figures: of a campaign over all jobs, or of one job.
    ReportKpis {
        /// The campaign.
        campaign_id: String,
        /// One job; none: all jobs.
        #[serde(skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
    },
    /// A report's funnel.
    Funnel {
        /// The campaign.
        campaign_id: String,
        /// One job; none: all jobs.
        #[serde(skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
    },
    /// The tenant overview over its last periods.
    OverviewTrend {
        /// Day, week or month (default day).
        granularity: Granularity,
        /// How many periods, the current one included.
        periods: u32,
    },
    /// The tenant's campaigns, ordered and cut.
    CampaignTable {
        /// Only campaigns with this status.
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// The order: a [`TableSort`] name, `-` before it for descending.
        sort: SortSpec,
        /// At most this many rows.
        limit: u32,
    },
    /// One figure, of a campaign or summed over the tenant's campaigns.
    LiveCounter {
        /// The figure.
        metric: Metric,
        /// The campaign; none: every campaign of the tenant.
        #[serde(skip_serializing_if = "Option::is_none")]
        campaign_id: Option<String>,
    },
    /// The tenant's newest alerts (not dismissed).
    Alerts {
        /// Only `firing` or `resolved` alerts.
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// Only alerts of this severity.
        #[serde(skip_serializing_if = "Option::is_none")]
        severity: Option<String>,
        /// Only alerts of this campaign.
        #[serde(skip_serializing_if = "Option::is_none")]
        campaign_id: Option<String>,
        /// At most this many.
        limit: u32,
    },
}

/// The widget types, as clients name them.
pub const WIDGET_TYPES: [&str; 6] = [
    "report_kpis",
    "funnel",
    "overview_trend",
    "campaign_table",
    "live_counter",
    "alerts",
];

impl Widget {
    /// The type's name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Widget::ReportKpis { .. } => "report_kpis",
            Widget::Funnel { .. } => "funnel",
            Widget::OverviewTrend { .. } => "overview_trend",
            Widget::CampaignTable { .. } => "campaign_table",
            Widget::LiveCounter { .. } => "live_counter",
            Widget::Alerts { .. } => "alerts",
        }
    }

    /// The width a widget of this type gets when none is given.
    fn default_width(&self) -> u8 {
        match self {
            Widget::ReportKpis { .. } | Widget::Funnel { .. } => 6,
            Widget::OverviewTrend { .. } | Widget::CampaignTable { .. } => 12,
            Widget::LiveCounter { .. } => 3,
            Widget::Alerts { .. } => 6,
        }
    }

    /// The most periods an `overview_trend` of `granularity` may show
    /// (two years, like the overview route's range).
    pub fn max_periods(granularity: Granularity) -> u32 {
        match granularity {
            Granularity::Day => 731,
            Granularity::Week => 104,
            Granularity::Month => 24,
        }
    }

    /// The periods an `overview_trend` of `granularity` shows by default.
    fn default_periods(granularity: Granularity) -> u32 {
        match granularity {
            Granularity::Day => 30,
            Granularity::Week | Granularity::Month => 12,
        }
    }

    fn parse(
        kind: &str,
        params: &Map<String, Value>,
        path: &str,
    ) -> Result<Widget, ValidationError> {
        let allowed: &[&str] = match kind {
            "report_kpis" | "funnel" => &["campaign_id", "job_id"],
            "overview_trend" => &["granularity", "periods"],
            "campaign_table" => &["status", "sort", "limit"],
            "live_counter" => &["metric", "campaign_id"],
            "alerts" => &["status", "severity", "campaign_id", "limit"],
            _ => {
                return Err(invalid(format!(
                    "{path}.type: unknown widget type \"{kind}\"; use {}",
                    WIDGET_TYPES.join(", ")
                )))
            }
        };
        let params_path = format!("{path}.params");
        fields::reject_unknown(params, &params_path, allowed)?;
        let at = |key: &str| format!("{params_path}.{key}");
        let given = |key: &str| params.get(key).filter(|v| !v.is_null());
        let id = |key: &str| given(key).map(|v| id_value(v, &at(key))).transpose();
        let required_id = |key: &str| {
            id(key)?.ok_or_else(|| {
                invalid(format!(
                    "{}: missing; the widget shows one campaign",
                    at(key)
                ))
            })
        };
        Ok(match kind {
            "report_kpis" => Widget::ReportKpis {
                campaign_id: required_id("campaign_id")?,
                job_id: id("job_id")?,
            },
            "funnel" => Widget::Funnel {
                campaign_id: required_id("campaign_id")?,
                job_id: id("job_id")?,
            },
            "overview_trend" => {
                let granularity = given("granularity")
                    .map(|v| granularity(v, &at("granularity")))
                    .transpose()?
                    .unwrap_or_default();
                let max = Widget::max_periods(granularity);
                let periods = match given("periods") {
                    None => Widget::default_periods(granularity),
                    Some(v) => count(v, &at("periods"), max)?,
                };
                Widget::OverviewTrend {
                    granularity,
                    periods,
                }
            }
            "campaign_table" => Widget::CampaignTable {
                status: given("status")
                    .map(|v| status(v, &at("status")))
                    .transpose()?,
                sort: given("sort")
                    .map(|v| SortSpec::parse(v, &at("sort")))
                    .transpose()?
                    .unwrap_or_default(),
                limit: given("limit")
                    .map(|v| count(v, &at("limit"), MAX_TABLE_ROWS))
                    .transpose()?
                    .unwrap_or(DEFAULT_TABLE_ROWS),
            },
            "alerts" => Widget::Alerts {
                status: given("status")
                    .map(|v| one_of(v, &at("status"), &ALERT_STATUSES, "status"))
                    .transpose()?,
                severity: given("severity")
                    .map(|v| one_of(v, &at("severity"), &SEVERITIES, "severity"))
                    .transpose()?,
                campaign_id: id("campaign_id")?,
                limit: given("limit")
                    .map(|v| count(v, &at("limit"), MAX_ALERTS))
                    .transpose()?
                    .unwrap_or(DEFAULT_ALERTS),
            },
            _ => Widget::LiveCounter {
                metric: match given("metric") {
                    Some(v) => Metric::parse(v, &at("metric"))?,
                    None => {
                        return Err(invalid(format!(
                            "{}: missing; use {}",
                            at("metric"),
                            Metric::names()
                        )))
                    }
                },
                campaign_id: id("campaign_id")?,
            },
        })
    }
}

/// One of `allowed`.
fn one_of(
    value: &Value,
    path: &str,
    allowed: &[&str],
    what: &str,
) -> Result<String, ValidationError> {
    let text = fields::string(value, path)?;
    if allowed.contains(&text) {
        Ok(text.to_owned())
    } else {
        Err(invalid(format!(
            "{path}: unknown {what} \"{text}\"; use {}",
            allowed.join(", ")
        )))
    }
}

/// A whole number from 1 to `max`.
fn count(value: &Value, path: &str, max: u32) -> Result<u32, ValidationError> {
    value
        .as_u64()
        .filter(|n| (1..=u64::from(max)).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| invalid(format!("{path}: must be a whole number from 1 to {max}")))
}

/// A figure of a report that a counter shows or a table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Users the campaign targets.
    TargetUsers,
    /// Users sent at least one notification.
    SentUsers,
    /// Users who interacted at least once.
    InteractedUsers,
    /// Users who completed the script.
    CompletedUsers,
    /// Interactions, all users.
    TotalInteractions,
    /// Notifications of kind message sent.
    MessagesSent,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 6] = [
        Metric::TargetUsers,
        Metric::SentUsers,
        Metric::InteractedUsers,
        Metric::CompletedUsers,
        Metric::TotalInteractions,
        Metric::MessagesSent,
    ];

    /// The name clients use (the report's field).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::TargetUsers => "target_users",
            Metric::SentUsers => "sent_users",
            Metric::InteractedUsers => "interacted_users",
            Metric::CompletedUsers => "completed_users",
            Metric::TotalInteractions => "total_interactions",
            Metric::MessagesSent => "messages_sent",
        }
    }

    fn names() -> String {
        Metric::ALL.map(Metric::as_str).join(", ")
    }

    fn parse(value: &Value, path: &str) -> Result<Metric, ValidationError> {
        let name = fields::string(value, path)?;
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| {
                invalid(format!(
                    "{path}: unknown metric \"{name}\"; use {}",
                    Metric::names()
                ))
            })
    }
}

/// What a `campaign_table` sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSort {
    /// The campaign id (bytewise).
    CampaignId,
    /// A count.
    Metric(Metric),
    /// Interacted users / sent users.
    InteractionRate,
    /// Completed users / sent users.
    CompletionRate,
    /// The newest event of the campaign.
    LastEventAt,
}

impl TableSort {
    fn name(self) -> &'static str {
        match self {
            TableSort::CampaignId => "campaign_id",
            TableSort::Metric(m) => m.as_str(),
            TableSort::InteractionRate => "interaction_rate",
            TableSort::CompletionRate => "completion_rate",
            TableSort::LastEventAt => "last_event_at",
        }
    }

    fn all() -> impl Iterator<Item = TableSort> {
        [
            TableSort::CampaignId,
            TableSort::InteractionRate,
            TableSort::CompletionRate,
            TableSort::LastEventAt,
        ]
        .into_iter()
        .chain(Metric::ALL.map(TableSort::Metric))
    }
}

/// A table's order: by what, and whether descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortSpec {
    /// What rows are ordered by (ties: by campaign id).
    pub by: TableSort,
    /// Largest first.
    pub descending: bool,
}

impl Default for SortSpec {
    /// The campaigns that reached the most users first.
    fn default() -> Self {
        SortSpec {
            by: TableSort::Metric(Metric::SentUsers),
            descending: true,
        }
    }
}

impl SortSpec {
    fn parse(value: &Value, path: &str) -> Result<SortSpec, ValidationError> {
        let text = fields::string(value, path)?;
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        TableSort::all()
            .find(|s| s.name() == name)
            .map(|by| SortSpec { by, descending })
            .ok_or_else(|| {
                let names: Vec<&str> = TableSort::all().map(TableSort::name).collect();
                invalid(format!(
                    "{path}: unknown sort \"{text}\"; use {} (- before it: descending)",
                    names.join(", ")
                ))
            })
    }
}

impl Serialize for SortSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sign = if self.descending { "-" } else { "" };
        serializer.serialize_str(&format!("{sign}{}", self.by.name()))
    }
}

/// A checked widget: what it shows and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WidgetSpec {
    /// Unique on its dashboard: as given, or `w<n>` (n its position from 1,
    /// or the next free one).
    pub id: String,
    /// Shown above the widget; none: the client names it by type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Columns of the [`GRID_COLUMNS`]-column grid.
    pub width: u8,
    /// What it shows.
    #[serde(flatten)]
    pub widget: Widget,
}

/// A checked [`DashboardInput`], waiting for its id, tenant and version.
/// Serializes to canonical JSON of the input's shape (trimmed text, every
/// widget with its id, width and defaults spelled out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidDashboard {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    widgets: Vec<WidgetSpec>,
}

impl DashboardInput {
    /// Parses a request body; a malformed body is a [`ValidationError`]
    /// carrying serde's description.
    pub fn from_json(body: &str) -> Result<DashboardInput, ValidationError> {
        serde_json::from_str(body).map_err(|e| invalid(format!("invalid dashboard: {e}")))
    }

    /// Checks every field; the first problem found is the error.
    pub fn validate(&self) -> Result<ValidDashboard, ValidationError> {
        let name = name(&self.name)?;
        let description = description(self.description.as_deref())?;
        if self.widgets.len() > MAX_WIDGETS {
            return Err(invalid(format!(
                "widgets: at most {MAX_WIDGETS}, got {}",
                self.widgets.len()
            )));
        }
        let mut given_ids = HashSet::new();
        let mut parsed = Vec::with_capacity(self.widgets.len());
        for (index, value) in self.widgets.iter().enumerate() {
            let path = format!("widgets[{index}]");
            let (id, spec) = widget(value, &path)?;
            if let Some(id) = &id {
                if !given_ids.insert(id.clone()) {
                    return Err(invalid(format!("{path}.id: \"{id}\" is used twice")));
                }
            }
            parsed.push((id, spec));
        }
        let mut next = 0;
        let widgets = parsed
            .into_iter()
            .map(|(id, mut spec)| {
                spec.id = id.unwrap_or_else(|| loop {
                    next += 1;
                    let candidate = format!("w{next}");
                    if !given_ids.contains(&candidate) {
                        break candidate;
                    }
                });
                spec
            })
            .collect();
        Ok(ValidDashboard {
            name,
            description,
            widgets,
        })
    }
}

/// One widget and the id it was given, if any.
fn widget(value: &Value, path: &str) -> Result<(Option<String>, WidgetSpec), ValidationError> {
    let object = fields::object(value, path, "type and params")?;
    fields::reject_unknown(object, path, &["id", "type", "title", "width", "params"])?;
    let given = |key: &str| object.get(key).filter(|v| !v.is_null());
    let id = given("id")
        .map(|v| widget_id(v, &format!("{path}.id")))
        .transpose()?;
    let kind = fields::string(
        fields::required(object, path, "type")?,
        &format!("{path}.type"),
    )?;
    let empty = Map::new();
    let params = match given("params") {
        Some(v) => fields::object(v, &format!("{path}.params"), "the widget's parameters")?,
        None => &empty,
    };
    let widget = Widget::parse(kind, params, path)?;
    let title = given("title")
        .map(|v| title(v, &format!("{path}.title")))
        .transpose()?
        .flatten();
    let width = match given("width") {
        Some(v) => u8::try_from(count(v, &format!("{path}.width"), u32::from(GRID_COLUMNS))?)
            .unwrap_or(GRID_COLUMNS),
        None => widget.default_width(),
    };
    Ok((
        id,
        WidgetSpec {
            id: String::new(),
            title,
            width,
            widget,
        },
    ))
}

/// A widget id: letters, digits, `-` and `_`.
fn widget_id(value: &Value, path: &str) -> Result<String, ValidationError> {
    let id = fields::string(value, path)?;
    let ok = (1..=MAX_WIDGET_ID_CHARS).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(invalid(format!(
            "{path}: 1 to {MAX_WIDGET_ID_CHARS} letters, digits, - or _, got \"{id}\""
        )))
    }
}

/// A title: trimmed, empty is none.
fn title(value: &Value, path: &str) -> Result<Option<String>, ValidationError> {
    let text = fields::string(value, path)?.trim();
    let chars = text.chars().count();
    if chars > MAX_TITLE_CHARS || text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{path}: at most {MAX_TITLE_CHARS} characters without control characters"
        )));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

impl ValidDashboard {
    /// A stored dashboard, checked again: what the database holds is what
    /// an earlier [`ValidDashboard`] serialized to, so an error means it was
    /// changed by hand or by an incompatible version.
    pub fn from_stored(
        name: &str,
        description: Option<&str>,
        widgets: &Value,
    ) -> Result<Self, ValidationError> {
        let widgets = fields::array(widgets, "widgets")?.to_vec();
        DashboardInput {
            name: name.to_owned(),
            description: description.map(str::to_owned),
            widgets,
        }
        .validate()
    }

    /// The trimmed name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trimmed description, if not empty.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The widgets in display order.
    pub fn widgets(&self) -> &[WidgetSpec] {
        &self.widgets
    }

    /// The widgets as canonical JSON (what the database keeps).
    pub fn widgets_json(&self) -> Value {
        serde_json::to_value(&self.widgets).unwrap_or(Value::Array(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid(value: Value) -> ValidDashboard {
        let input: DashboardInput = serde_json::from_value(value).unwrap();
        input.validate().unwrap()
    }

    fn error(value: Value) -> String {
        let input: DashboardInput = serde_json::from_value(value).unwrap();
        input.validate().unwrap_err().to_string()
    }

    #[test]
    fn every_widget_type_with_its_defaults() {
        let d = valid(json!({
            "name": "  Ops  ",
            "widgets": [
                {"type": "report_kpis", "params": {"campaign_id": "c1"}},
                {"type": "funnel", "params": {"campaign_id": "c1", "job_id": "j1"}, "title": " Funnel "},
                {"type": "overview_trend", "params": {"granularity": "week"}},
                {"type": "campaign_table"},
                {"type": "live_counter", "params": {"metric": "sent_users"}, "width": 4}
            ]
        }));
        assert_eq!(d.name(), "Ops");
        assert_eq!(
            d.widgets_json(),
            json!([
                {"id": "w1", "width": 6, "type": "report_kpis", "params": {"campaign_id": "c1"}},
                {"id": "w2", "title": "Funnel", "width": 6, "type": "funnel",
                 "params": {"campaign_id": "c1", "job_id": "j1"}},
                {"id": "w3", "width": 12, "type": "overview_trend",
                 "params": {"granularity": "week", "periods": 12}},
                {"id": "w4", "width": 12, "type": "campaign_table",
                 "params": {"sort": "-sent_users", "limit": 10}},
                {"id": "w5", "width": 4, "type": "live_counter", "params": {"metric": "sent_users"}}
            ])
        );
    }

    #[test]
    fn canonical_json_reads_back_the_same() {
        let d = valid(json!({
            "name": "Exec",
            "description": "weekly",
            "widgets": [
                {"id": "top", "type": "campaign_table",
                 "params": {"status": "RUNNING", "sort": "completion_rate", "limit": 5}},
                {"type": "overview_trend", "params": {"granularity": "month", "periods": 24}},
                {"type": "live_counter", "params": {"metric": "completed_users", "campaign_id": "c9"}},
                {"type": "alerts", "params": {"status": "firing", "severity": "critical", "campaign_id": "c9", "limit": 5}},
                {"type": "alerts"}
            ]
        }));
        assert_eq!(
            d.widgets()[4].widget,
            Widget::Alerts {
                status: None,
                severity: None,
                campaign_id: None,
                limit: DEFAULT_ALERTS
            }
        );
        let again =
            ValidDashboard::from_stored(d.name(), d.description(), &d.widgets_json()).unwrap();
        assert_eq!(again, d);
    }

    #[test]
    fn generated_ids_skip_the_given_ones() {
        let d = valid(json!({
            "name": "x",
            "widgets": [
                {"type": "campaign_table"},
                {"id": "w1", "type": "campaign_table"},
                {"type": "campaign_table"}
            ]
        }));
        let ids: Vec<&str> = d.widgets().iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["w2", "w1", "w3"]);
    }

    #[test]
    fn errors_name_the_widget_and_field() {
        let cases = [
            (
                json!({"type": "pie"}),
                "widgets[0].type: unknown widget type \"pie\"",
            ),
            (
                json!({"type": "funnel"}),
                "widgets[0].params.campaign_id: missing",
            ),
            (
                json!({"type": "funnel", "params": {"campaign_id": ""}}),
                "widgets[0].params.campaign_id: must be 1 to 64",
            ),
            (
                json!({"type": "funnel", "params": {"campaign_id": "c", "x": 1}}),
                "widgets[0].params.x: unknown field",
            ),
            (
                json!({"type": "live_counter"}),
                "widgets[0].params.metric: missing",
            ),
            (
                json!({"type": "live_counter", "params": {"metric": "rate"}}),
                "widgets[0].params.metric: unknown metric \"rate\"",
            ),
            (
                json!({"type": "overview_trend", "params": {"granularity": "year"}}),
                "widgets[0].params.granularity: unknown granularity",
            ),
            (
                json!({"type": "overview_trend", "params": {"granularity": "month", "periods": 25}}),
                "widgets[0].params.periods: must be a whole number from 1 to 24",
            ),
            (
                json!({"type": "overview_trend", "params": {"periods": 0}}),
                "widgets[0].params.periods: must be a whole number from 1 to 731",
            ),
            (
                json!({"type": "campaign_table", "params": {"limit": 101}}),
                "widgets[0].params.limit: must be a whole number from 1 to 100",
            ),
            (
                json!({"type": "campaign_table", "params": {"status": "DONE"}}),
                "widgets[0].params.status: unknown status",
            ),
            (
                json!({"type": "campaign_table", "params": {"sort": "name"}}),
                "widgets[0].params.sort: unknown sort \"name\"",
            ),
            (
                json!({"type": "campaign_table", "width": 13}),
                "widgets[0].width: must be a whole number from 1 to 12",
            ),
            (
                json!({"type": "campaign_table", "id": "a b"}),
                "widgets[0].id: 1 to 64 letters",
            ),
            (
                json!({"type": "campaign_table", "title": "a\u{7}"}),
                "widgets[0].title: at most 200",
            ),
            (
                json!({"type": "campaign_table", "colour": "red"}),
                "widgets[0].colour: unknown field",
            ),
            (json!({"params": {}}), "widgets[0].type: missing"),
            (json!([1]), "widgets[0]: must be an object"),
            (
                json!({"type": "campaign_table", "params": []}),
                "widgets[0].params: must be an object",
            ),
        ];
        for (widget, expected) in cases {
            let message = error(json!({"name": "d", "widgets": [widget]}));
            assert!(
                message.starts_with(expected),
                "{message:?} should start with {expected:?}"
            );
        }
    }

    #[test]
    fn checks_the_dashboard() {
        assert!(error(json!({"name": " "})).starts_with("name: must not be empty"));
        let many: Vec<Value> = (0..=MAX_WIDGETS)
            .map(|_| json!({"type": "campaign_table"}))
            .collect();
        assert!(error(json!({"name": "d", "widgets": many})).starts_with("widgets: at most 24"));
        let twice =
            json!([{"id": "a", "type": "campaign_table"}, {"id": "a", "type": "campaign_table"}]);
        assert!(error(json!({"name": "d", "widgets": twice}))
            .starts_with("widgets[1].id: \"a\" is used twice"));
        assert!(
            DashboardInput::from_json("{\"name\": \"d\", \"layout\": 1}")
                .unwrap_err()
                .to_string()
                .starts_with("invalid dashboard: unknown field")
        );
        assert_eq!(valid(json!({"name": "empty"})).widgets(), &[]);
    }

    #[test]
    fn sorts_read_both_directions() {
        let d = valid(json!({"name": "d", "widgets": [
            {"type": "campaign_table", "params": {"sort": "campaign_id"}},
            {"type": "campaign_table", "params": {"sort": "-last_event_at"}}
        ]}));
        let sorts: Vec<SortSpec> = d
            .widgets()
            .iter()
            .filter_map(|w| match w.widget {
                Widget::CampaignTable { sort, .. } => Some(sort),
                _ => None,
            })
            .collect();
        assert_eq!(
            sorts,
            [
                SortSpec {
                    by: TableSort::CampaignId,
                    descending: false
                },
                SortSpec {
                    by: TableSort::LastEventAt,
                    descending: true
                }
            ]
        );
    }
}
