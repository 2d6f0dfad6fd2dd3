//! What a run's files hold, read through the same [`Reader`] and shaped by
//! the same models as the JSON API: each row carries the API's JSON of
//! that row (the `json` format) and its typed cells (the tabular formats).
//! The document is sent item by item to the renderers (a bounded channel:
//! a journeys export is never held whole).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures_util::TryStreamExt;
use report_render::{Cell, Chart, Column, ColumnType, Row, TableSpec};
use serde_json::json;
use storage::rows::{JourneyRow, ReportRow};
use tokio::sync::mpsc::Sender;

use crate::model::{Journey, OverviewPeriod, Report};
use crate::read::{CampaignQuery, Granularity, JourneyQuery, ReadError, Reader};

/// At most this many campaigns get a funnel chart in PDF and HTML (the
/// largest by users sent to); every campaign's funnel is in the tables.
pub const MAX_FUNNEL_CHARTS: usize = 10;

/// What a run reads.
#[derive(Debug, Clone, PartialEq)]
pub enum RunKind {
    /// All-jobs and job reports of some or all campaigns.
    Campaigns {
        campaign_ids: Option<Vec<String>>,
        status: Option<String>,
        /// Only campaigns with events in these local days.
        range: Option<(NaiveDate, NaiveDate)>,
    },
    /// The journeys of one job.
    Journeys {
        campaign_id: String,
        job_id: String,
        completed: Option<bool>,
    },
    /// The tenant overview.
    Overview {
        granularity: Granularity,
        from: NaiveDate,
        to: NaiveDate,
    },
}

/// One item of a document, in order: `Start` (once), charts, then tables
/// (begin, rows, end).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// The snapshot the document is as of, known before anything is
    /// written (the files name it in their header).
    Start {
        as_of: Option<DateTime<Utc>>,
    },
    Chart(Chart),
    Begin(TableSpec),
    Row(Row),
    End,
}

/// Why the data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The run asks for something that does not exist (permanent).
    #[error("{0}")]
    NotFound(String),
    /// The renderers stopped taking items (they failed).
    #[error("the renderer stopped")]
    Closed,
}

/// What was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    /// The newest snapshot among the reports read before the output
    /// started (the files' `as_of`); `None` for the overview (read from
    /// the rollups as of now). A journeys export is as of its job report:
    /// every change of a journey changes its job's report in the same
    /// snapshot, so the job report is at least as new as the journeys.
    pub as_of: Option<DateTime<Utc>>,
    pub rows: u64,
    /// The rows expected, when known ahead (progress).
    pub expected: Option<u64>,
}

/// Sends items, counting rows and the newest snapshot.
struct Out<'a> {
    tx: &'a Sender<Item>,
    produced: Produced,
    on_row: &'a (dyn Fn(u64, u64) + Send + Sync),
}

impl Out<'_> {
    async fn send(&mut self, item: Item) -> Result<(), DataError> {
        if matches!(item, Item::Row(_)) {
            self.produced.rows += 1;
            (self.on_row)(self.produced.rows, self.produced.expected.unwrap_or(0));
        }
        self.tx.send(item).await.map_err(|_| DataError::Closed)
    }

    fn saw_snapshot(&mut self, snapshot_at: u32) {
        let at = DateTime::from_timestamp(i64::from(snapshot_at), 0);
        self.produced.as_of = self.produced.as_of.max(at);
    }

    /// The first item: what the document is as of.
    async fn start(&mut self) -> Result<(), DataError> {
        let as_of = self.produced.as_of;
        self.send(Item::Start { as_of }).await
    }
}

/// Read what `kind` asks for of `tenant` and send it as items. `on_row`
/// is told the rows sent so far and the rows expected (0: not known yet),
/// for progress.
pub async fn produce<R: Reader>(
    reader: &R,
    tenant: &str,
    zone: Tz,
    kind: &RunKind,
    tx: &Sender<Item>,
    on_row: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<Produced, DataError> {
    let mut out = Out {
        tx,
        produced: Produced::default(),
        on_row,
    };
    match kind {
        RunKind::Campaigns {
            campaign_ids,
            status,
            range,
        } => {
            let reports =
                campaign_reports(reader, tenant, zone, campaign_ids, status, *range).await?;
            campaigns(reader, tenant, &reports, &mut out).await?;
        }
        RunKind::Journeys {
            campaign_id,
            job_id,
            completed,
        } => journeys(reader, tenant, campaign_id, job_id, *completed, &mut out).await?,
        RunKind::Overview {
            granularity,
            from,
            to,
        } => overview(reader, tenant, *granularity, *from, *to, &mut out).await?,
    }
    Ok(out.produced)
}

/// The all-jobs reports of the asked campaigns, by campaign id.
async fn campaign_reports<R: Reader>(
    reader: &R,
    tenant: &str,
    zone: Tz,
    campaign_ids: &Option<Vec<String>>,
    status: &Option<String>,
    range: Option<(NaiveDate, NaiveDate)>,
) -> Result<Vec<ReportRow>, DataError> {
    let mut rows = match campaign_ids {
        Some(ids) => {
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(row) = reader.report(tenant, id, None).await? {
                    rows.push(row);
                }
            }
            rows.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
            rows
        }
        None => {
            let query = CampaignQuery {
                tenant: tenant.to_owned(),
                status: status.clone(),
                ..CampaignQuery::default()
            };
            reader.campaigns(query).await?.try_collect().await?
        }
    };
    if let Some(status) = status {
        rows.retain(|r| &r.status == status);
    }
    if let Some((from, to)) = range {
        let (start, end) = local_bounds_ms(zone, from, to);
        rows.retain(|r| r.last_event_at_ms >= start && r.first_event_at_ms < end);
    }
    Ok(rows)
}

/// Milliseconds since the epoch of the start of `from` and of the day
/// after `to`, in `zone`.
pub fn local_bounds_ms(zone: Tz, from: NaiveDate, to: NaiveDate) -> (i64, i64) {
    let start_of = |day: NaiveDate| {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        midnight
            .and_local_timezone(zone)
            .earliest()
            // A day that starts in a gap starts at the gap's end.
            .or_else(|| {
                (midnight + chrono::Duration::hours(1))
                    .and_local_timezone(zone)
                    .earliest()
            })
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
    };
    let after = to.succ_opt().unwrap_or(to);
    (start_of(from), start_of(after))
}

fn col(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.to_owned(),
        ty,
    }
}

fn int(n: u64) -> Cell {
    Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn time_ms(ms: i64) -> Cell {
    DateTime::from_timestamp_millis(ms).map_or(Cell::Null, Cell::DateTime)
}

fn opt_text(s: &str) -> Cell {
    if s.is_empty() {
        Cell::Null
    } else {
        Cell::Text(s.to_owned())
    }
}

fn opt_number(x: Option<f64>) -> Cell {
    x.filter(|x| x.is_finite()).map_or(Cell::Null, Cell::Number)
}

fn report_columns(with_job: bool) -> Vec<Column> {
    use ColumnType::*;
    let mut columns = vec![col("campaign_id", Text)];
    if with_job {
        columns.push(col("job_id", Text));
    }
    columns.extend([
        col("status", Text),
        col("target_users", Integer),
        col("sent_users", Integer),
        col("interacted_users", Integer),
        col("completed_users", Integer),
        col("interaction_rate", Percent),
        col("completion_rate", Percent),
        col("total_interactions", Integer),
        col("messages_sent", Integer),
        col("warnings_sent", Integer),
        col("avg_completion_seconds", Number),
        col("first_event_at", DateTime),
        col("last_event_at", DateTime),
        col("as_of", DateTime),
    ]);
    columns
}

fn report_row(r: &ReportRow, with_job: bool) -> Row {
    let report = Report::from_row(r);
    let mut cells = vec![Cell::Text(r.campaign_id.clone())];
    if with_job {
        cells.push(Cell::Text(r.job_id.clone()));
    }
    cells.extend([
        opt_text(&r.status),
        int(r.target_users),
        int(r.sent_users),
        int(r.interacted_users),
        int(r.completed_users),
        Cell::Number(report.interaction_rate),
        Cell::Number(report.completion_rate),
        int(r.total_interactions),
        int(r.messages_sent),
        int(r.warnings_sent),
        opt_number(report.avg_completion_seconds),
        time_ms(r.first_event_at_ms),
        time_ms(r.last_event_at_ms),
        time_ms(i64::from(r.snapshot_at) * 1000),
    ]);
    Row {
        cells,
        json: serde_json::to_value(&report).unwrap_or_default(),
    }
}

fn table(name: &str, title: &str, columns: Vec<Column>) -> TableSpec {
    TableSpec {
        name: name.to_owned(),
        title: title.to_owned(),
        columns,
    }
}

/// The funnel of a report as bars.
fn funnel_chart(r: &ReportRow) -> Option<Chart> {
    let report = Report::from_row(r);
    if report.funnel.is_empty() {
        return None;
    }
    let what = match report.job_id.as_deref() {
        Some(job) => format!("job {job} of campaign {}", report.campaign_id),
        None => format!("campaign {}", report.campaign_id),
    };
    Some(Chart::Bars {
        title: format!("Funnel of {what}"),
        labels: report.funnel.iter().map(|s| s.node_id.clone()).collect(),
        values: report.funnel.iter().map(|s| s.users as f64).collect(),
        unit: "users".to_owned(),
    })
}

async fn campaigns<R: Reader>(
    reader: &R,
    tenant: &str,
    reports: &[ReportRow],
    out: &mut Out<'_>,
) -> Result<(), DataError> {
    let mut jobs = Vec::new();
    for r in reports {
        jobs.extend(reader.jobs(tenant, &r.campaign_id).await?);
    }
    out.produced.expected = Some(reports.len() as u64 * 2 + jobs.len() as u64);
    for r in reports.iter().chain(&jobs) {
        out.saw_snapshot(r.snapshot_at);
    }
    out.start().await?;
    let mut biggest: Vec<&ReportRow> = reports.iter().collect();
    biggest.sort_by_key(|r| std::cmp::Reverse(r.sent_users));
    for r in biggest.into_iter().take(MAX_FUNNEL_CHARTS) {
        if let Some(chart) = funnel_chart(r) {
            out.send(Item::Chart(chart)).await?;
        }
    }

    out.send(Item::Begin(table(
        "campaigns",
        "Campaigns",
        report_columns(false),
    )))
    .await?;
    for r in reports {
        out.send(Item::Row(report_row(r, false))).await?;
    }
    out.send(Item::End).await?;

    out.send(Item::Begin(table("jobs", "Jobs", report_columns(true))))
        .await?;
    for r in &jobs {
        out.send(Item::Row(report_row(r, true))).await?;
    }
    out.send(Item::End).await?;

    use ColumnType::*;
    let funnel_columns = vec![
        col("campaign_id", Text),
        col("job_id", Text),
        col("step", Integer),
        col("node_id", Text),
        col("users", Integer),
        col("conversion_from_previous", Percent),
        col("drop_off", Integer),
    ];
    out.send(Item::Begin(table("funnel", "Funnel", funnel_columns)))
        .await?;
    for r in reports.iter().chain(&jobs) {
        let report = Report::from_row(r);
        for (i, step) in report.funnel.iter().enumerate() {
            let row = Row {
                cells: vec![
                    Cell::Text(report.campaign_id.clone()),
                    report.job_id.clone().map_or(Cell::Null, Cell::Text),
                    Cell::Int(i as i64 + 1),
                    Cell::Text(step.node_id.clone()),
                    int(step.users),
                    Cell::Number(step.conversion_from_previous),
                    int(step.drop_off),
                ],
                json: json!({
                    "campaign_id": report.campaign_id,
                    "job_id": report.job_id,
                    "step": i + 1,
                    "node_id": step.node_id,
                    "users": step.users,
                    "conversion_from_previous": step.conversion_from_previous,
                    "drop_off": step.drop_off,
                }),
            };
            out.send(Item::Row(row)).await?;
        }
    }
    out.send(Item::End).await?;

    let choice_columns = vec![
        col("campaign_id", Text),
        col("node_id", Text),
        col("reached_users", Integer),
        col("choice", Text),
        col("interactions", Integer),
    ];
    out.send(Item::Begin(table(
        "node_choices",
        "Node choices",
        choice_columns,
    )))
    .await?;
    for r in reports {
        let report = Report::from_row(r);
        for node in &report.nodes {
            for (choice, n) in &node.choices {
                let row = Row {
                    cells: vec![
                        Cell::Text(report.campaign_id.clone()),
                        Cell::Text(node.node_id.clone()),
                        int(node.reached_users),
                        Cell::Text(choice.clone()),
                        int(*n),
                    ],
                    json: json!({
                        "campaign_id": report.campaign_id,
                        "node_id": node.node_id,
                        "reached_users": node.reached_users,
                        "choice": choice,
                        "interactions": n,
                    }),
                };
                out.send(Item::Row(row)).await?;
            }
        }
    }
    out.send(Item::End).await
}

fn journey_row(j: &JourneyRow) -> Row {
    let journey = Journey::from_row(j);
    let path: Vec<&str> = j.step_node_ids.iter().map(String::as_str).collect();
    let first = j.step_occurred_at_ms.iter().min().copied();
    let last = j.step_occurred_at_ms.iter().max().copied();
    Row {
        cells: vec![
            Cell::Text(j.user_id.clone()),
            Cell::Bool(journey.completed),
            journey.exit_node.clone().map_or(Cell::Null, Cell::Text),
            opt_number(journey.completion_seconds),
            int(j.total_interactions),
            Cell::Int(j.step_node_ids.len() as i64),
            first.map_or(Cell::Null, time_ms),
            last.map_or(Cell::Null, time_ms),
            Cell::Text(path.join(" > ")),
        ],
        json: serde_json::to_value(&journey).unwrap_or_default(),
    }
}

async fn journeys<R: Reader>(
    reader: &R,
    tenant: &str,
    campaign_id: &str,
    job_id: &str,
    completed: Option<bool>,
    out: &mut Out<'_>,
) -> Result<(), DataError> {
    let job = reader
        .report(tenant, campaign_id, Some(job_id))
        .await?
        .ok_or_else(|| {
            DataError::NotFound(format!(
                "job {job_id:?} of campaign {campaign_id:?} not found"
            ))
        })?;
    out.produced.expected = Some(job.sent_users.max(1));
    out.saw_snapshot(job.snapshot_at);
    out.start().await?;
    if let Some(chart) = funnel_chart(&job) {
        out.send(Item::Chart(chart)).await?;
    }
    use ColumnType::*;
    let columns = vec![
        col("user_id", Text),
        col("completed", Bool),
        col("exit_node", Text),
        col("completion_seconds", Number),
        col("total_interactions", Integer),
        col("steps", Integer),
        col("first_step_at", DateTime),
        col("last_step_at", DateTime),
        col("path", Text),
    ];
    out.send(Item::Begin(table("journeys", "Journeys", columns)))
        .await?;
    let query = JourneyQuery {
        tenant: tenant.to_owned(),
        campaign: campaign_id.to_owned(),
        job: job_id.to_owned(),
        completed,
        after: None,
        limit: None,
    };
    let mut rows = reader.journeys(query).await?;
    while let Some(j) = rows.try_next().await? {
        out.send(Item::Row(journey_row(&j))).await?;
    }
    out.send(Item::End).await
}

async fn overview<R: Reader>(
    reader: &R,
    tenant: &str,
    granularity: Granularity,
    from: NaiveDate,
    to: NaiveDate,
    out: &mut Out<'_>,
) -> Result<(), DataError> {
    let periods = reader.overview(tenant, granularity, from, to).await?;
    out.produced.expected = Some(periods.len() as u64);
    out.start().await?;
    let views: Vec<OverviewPeriod> = periods.iter().map(OverviewPeriod::from).collect();
    if !views.is_empty() {
        let values = |f: fn(&OverviewPeriod) -> u64| views.iter().map(|p| f(p) as f64).collect();
        out.send(Item::Chart(Chart::Line {
            title: "Users by period".to_owned(),
            labels: views.iter().map(|p| p.period_start.to_string()).collect(),
            series: vec![
                report_render::Series {
                    name: "sent".to_owned(),
                    values: values(|p| p.sent_users),
                },
                report_render::Series {
                    name: "interacted".to_owned(),
                    values: values(|p| p.interacted_users),
                },
            ],
        }))
        .await?;
    }
    use ColumnType::*;
    let columns = vec![
        col("period_start", Date),
        col("campaigns", Integer),
        col("target_users", Integer),
        col("sent_users", Integer),
        col("interacted_users", Integer),
        col("interactions", Integer),
        col("interaction_rate", Percent),
        col("campaigns_completed", Integer),
        col("campaigns_running", Integer),
        col("campaigns_error", Integer),
    ];
    out.send(Item::Begin(table("overview", "Overview", columns)))
        .await?;
    for p in &views {
        let row = Row {
            cells: vec![
                Cell::Date(p.period_start),
                int(p.campaigns),
                int(p.target_users),
                int(p.sent_users),
                int(p.interacted_users),
                int(p.interactions),
                Cell::Number(p.interaction_rate),
                int(p.campaigns_completed),
                int(p.campaigns_running),
                int(p.campaigns_error),
            ],
            json: serde_json::to_value(p).unwrap_or_default(),
        };
        out.send(Item::Row(row)).await?;
    }
    out.send(Item::End).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_bounds_follow_the_zone() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (start, end) = local_bounds_ms(
            chrono_tz::Europe::Berlin,
            day("2026-11-01"),
            day("2026-11-02"),
        );
        assert_eq!(
            DateTime::from_timestamp_millis(start).unwrap().to_rfc3339(),
            "2026-10-31T23:00:00+00:00"
        );
        assert_eq!(
            DateTime::from_timestamp_millis(end).unwrap().to_rfc3339(),
            "2026-11-02T23:00:00+00:00"
        );
    }
}
