//! What one live subscription sends: a pure state machine over the
//! reports each commit changed (no I/O, no clock). The catch-up read and
//! every [`Tick`] go through [`Subscription::catch_up`] and
//! [`Subscription::apply`]; the feed and the HTTP layer only move the
//! results.
//!
//! The rule that keeps a stream in order and gap-free: a row is sent only
//! if its (partition, version) is beyond the subscription's cursor, and
//! the cursor then takes the batch's end. Within a partition versions grow
//! with every commit, so whatever a client saw, a later row of the same
//! key is newer; a reconnect from the cursor reads exactly what committed
//! since (see [`super::cursor`]).

use std::collections::HashSet;
use std::sync::Arc;

use storage::rows::ReportRow;

use super::cursor::Cursor;
use crate::model::Report;
use crate::read::ReportScope;

/// A report as the stream sends it: its key and position, and its JSON
/// (the same object the JSON routes answer), serialized once for every
/// client.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveReport {
    pub tenant: String,
    pub campaign: String,
    pub job: String,
    pub partition: i32,
    pub version: u64,
    pub status: String,
    pub json: Arc<str>,
}

impl LiveReport {
    pub fn from_row(row: &ReportRow) -> Self {
        // Serializing a plain struct of strings and numbers cannot fail.
        let json = serde_json::to_string(&Report::from_row(row)).unwrap_or_default();
        LiveReport {
            tenant: row.tenant_id.clone(),
            campaign: row.campaign_id.clone(),
            job: row.job_id.clone(),
            partition: row.partition,
            version: row.version,
            status: row.status.clone(),
            json: json.into(),
        }
    }

    /// Commit order within a partition, a fixed order across them.
    fn order_key(&self) -> (u64, i32, &str, &str, &str) {
        (
            self.version,
            self.partition,
            &self.tenant,
            &self.campaign,
            &self.job,
        )
    }
}

/// Sorts reports in the order a stream sends them.
pub fn sort(reports: &mut [Arc<LiveReport>]) {
    reports.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// Report rows as a stream sends them: serialized once, in [`sort`] order.
pub fn live_reports(rows: &[ReportRow]) -> Vec<Arc<LiveReport>> {
    let mut reports: Vec<Arc<LiveReport>> = rows
        .iter()
        .map(|r| Arc::new(LiveReport::from_row(r)))
        .collect();
    sort(&mut reports);
    reports
}

/// What one poll of the checkpoints found: the reports committed since the
/// previous tick (greatest version per key) and the cursor after them.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    pub to: Cursor,
    pub reports: Vec<Arc<LiveReport>>,
}

/// Which reports a subscription follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// One report: a campaign's over all its jobs (`job` empty) or one job's.
    Report { campaign: String, job: String },
    /// The tenant's campaigns (all-jobs reports), optionally of one status.
    Campaigns { status: Option<String> },
}

impl Stream {
    pub fn kind(&self) -> &'static str {
        match self {
            Stream::Report { .. } => "report",
            Stream::Campaigns { .. } => "campaigns",
        }
    }
}

/// One message of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// The report of a report stream; its version is the event id.
    Report { version: u64, json: Arc<str> },
    /// A campaign of a campaigns stream; `id` (the cursor) on the last
    /// message of a batch.
    Campaign { json: Arc<str>, id: Option<String> },
    /// A campaign that left a status-filtered stream (its status changed).
    Removed {
        campaign_id: String,
        status: String,
        id: Option<String>,
    },
    /// The catch-up is over: what follows is live. Carries the cursor
    /// (campaigns; a report stream's id stays its report's version).
    Synced { id: Option<String> },
    /// The server ends the stream, and why.
    Close { code: &'static str, message: String },
}

/// A subscription's state.
#[derive(Debug, Clone)]
pub struct Subscription {
    tenant: String,
    stream: Stream,
    cursor: Cursor,
    /// A report stream: the version sent last (a reconnect's
    /// `Last-Event-ID`).
    last_version: u64,
    /// A status-filtered campaigns stream: the campaigns sent that have
    /// the status (to tell the client when one leaves).
    members: HashSet<String>,
    /// Resumed from a client's cursor: a changed campaign without the
    /// status may be one the client holds, so the catch-up says it left.
    resumed: bool,
}

impl Subscription {
    /// A report stream; `after` is the version the client has (its
    /// `Last-Event-ID`): only a newer one is sent.
    pub fn report(tenant: String, campaign: String, job: String, after: Option<u64>) -> Self {
        Subscription {
            tenant,
            stream: Stream::Report { campaign, job },
            cursor: Cursor::default(),
            last_version: after.unwrap_or(0),
            members: HashSet::new(),
            resumed: after.is_some(),
        }
    }

    /// A campaigns stream; `resume` is the cursor the client has (its
    /// `Last-Event-ID`): the catch-up then holds only what changed since.
    pub fn campaigns(tenant: String, status: Option<String>, resume: Option<Cursor>) -> Self {
        Subscription {
            tenant,
            stream: Stream::Campaigns { status },
            resumed: resume.is_some(),
            cursor: resume.unwrap_or_default(),
            last_version: 0,
            members: HashSet::new(),
        }
    }

    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// What the catch-up read asks for.
    pub fn scope(&self) -> ReportScope {
        match &self.stream {
            Stream::Report { campaign, job } => ReportScope {
                tenant: Some(self.tenant.clone()),
                campaign: Some(campaign.clone()),
                job: Some(job.clone()),
            },
            Stream::Campaigns { .. } => ReportScope {
                tenant: Some(self.tenant.clone()),
                campaign: None,
                job: Some(String::new()),
            },
        }
    }

    /// The catch-up: the reports of the scope committed between the
    /// subscription's cursor and `to` (the hub's cursor when it
    /// subscribed), then `Synced`.
    pub fn catch_up(&mut self, mut reports: Vec<Arc<LiveReport>>, to: &Cursor) -> Vec<Out> {
        sort(&mut reports);
        let mut out = self.batch(&reports, to, self.resumed);
        let id = match self.stream {
            Stream::Campaigns { .. } => {
                if let Some(last) = out.last_mut() {
                    set_id(last, None);
                }
                Some(self.cursor.encode())
            }
            Stream::Report { .. } => None,
        };
        out.push(Out::Synced { id });
        out
    }

    /// A tick of the hub.
    pub fn apply(&mut self, tick: &Tick) -> Vec<Out> {
        if self.cursor.covers_all(&tick.to) {
            return Vec::new();
        }
        self.batch(&tick.reports, &tick.to, false)
    }

    fn batch(&mut self, reports: &[Arc<LiveReport>], to: &Cursor, resumed: bool) -> Vec<Out> {
        let mut out = Vec::new();
        for r in reports {
            if r.tenant != self.tenant || self.cursor.covers(r.partition, r.version) {
                continue;
            }
            match &self.stream {
                Stream::Report { campaign, job } => {
                    if r.campaign == *campaign && r.job == *job && r.version > self.last_version {
                        self.last_version = r.version;
                        out.push(Out::Report {
                            version: r.version,
                            json: r.json.clone(),
                        });
                    }
                }
                Stream::Campaigns { status } => {
                    if !r.job.is_empty() {
                        continue;
                    }
                    match status {
                        None => out.push(Out::Campaign {
                            json: r.json.clone(),
                            id: None,
                        }),
                        Some(s) if *s == r.status => {
                            self.members.insert(r.campaign.clone());
                            out.push(Out::Campaign {
                                json: r.json.clone(),
                                id: None,
                            });
                        }
                        Some(_) => {
                            if self.members.remove(&r.campaign) || resumed {
                                out.push(Out::Removed {
                                    campaign_id: r.campaign.clone(),
                                    status: r.status.clone(),
                                    id: None,
                                });
                            }
                        }
                    }
                }
            }
        }
        self.cursor.advance(to);
        if let Some(last) = out.last_mut() {
            set_id(last, Some(self.cursor.encode()));
        }
        out
    }
}

fn set_id(out: &mut Out, value: Option<String>) {
    match out {
        Out::Campaign { id, .. } | Out::Removed { id, .. } => *id = value,
        Out::Report { .. } | Out::Synced { .. } | Out::Close { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        tenant: &str,
        campaign: &str,
        job: &str,
        partition: i32,
        version: u64,
        status: &str,
    ) -> Arc<LiveReport> {
        Arc::new(LiveReport {
            tenant: tenant.into(),
            campaign: campaign.into(),
            job: job.into(),
            partition,
            version,
            status: status.into(),
            json: format!("{campaign}/{job}@{version}").into(),
        })
    }

    fn tick(to: &[(i32, u64)], reports: Vec<Arc<LiveReport>>) -> Tick {
        let mut reports = reports;
        sort(&mut reports);
        Tick {
            to: Cursor::from_pairs(to.iter().copied()),
            reports,
        }
    }

    fn jsons(out: &[Out]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Out::Report { json, .. } | Out::Campaign { json, .. } => json.to_string(),
                Out::Removed { campaign_id, .. } => format!("-{campaign_id}"),
                Out::Synced { .. } => "synced".into(),
                Out::Close { code, .. } => format!("close:{code}"),
            })
            .collect()
    }

    fn ids(out: &[Out]) -> Vec<Option<String>> {
        out.iter()
            .map(|o| match o {
                Out::Campaign { id, .. } | Out::Removed { id, .. } => id.clone(),
                Out::Synced { id } => id.clone(),
                Out::Report { version, .. } => Some(version.to_string()),
                Out::Close { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_campaigns_stream_sends_its_tenants_changes_in_commit_order_with_the_cursor_last() {
        let mut s = Subscription::campaigns("t".into(), None, None);
        let out = s.catch_up(
            vec![
                report("t", "b", "", 1, 20, "RUNNING"),
                report("t", "a", "", 0, 10, "RUNNING"),
            ],
            &Cursor::from_pairs([(0, 10), (1, 20)]),
        );
        assert_eq!(jsons(&out), ["a/@10", "b/@20", "synced"]);
        assert_eq!(ids(&out), [None, None, Some("0=10,1=20".into())]);

        let out = s.apply(&tick(
            &[(0, 30), (1, 20)],
            vec![
                report("t", "a", "", 0, 30, "RUNNING"),
                report("u", "x", "", 0, 30, "RUNNING"),
                report("t", "a", "j1", 0, 30, "RUNNING"),
            ],
        ));
        assert_eq!(
            jsons(&out),
            ["a/@30"],
            "other tenants and job reports stay out"
        );
        assert_eq!(ids(&out), [Some("0=30,1=20".into())]);
        // A tick the cursor covers (seen on another instance) sends nothing.
        assert!(s
            .apply(&tick(
                &[(0, 30)],
                vec![report("t", "a", "", 0, 30, "RUNNING")]
            ))
            .is_empty());
        // A row at or below the cursor is never sent again, even in a later tick.
        let out = s.apply(&tick(
            &[(0, 40), (1, 20)],
            vec![
                report("t", "a", "", 0, 25, "RUNNING"),
                report("t", "c", "", 0, 40, "NEW"),
            ],
        ));
        assert_eq!(jsons(&out), ["c/@40"]);
    }

    #[test]
    fn a_status_filter_says_when_a_campaign_leaves() {
        let mut s = Subscription::campaigns("t".into(), Some("RUNNING".into()), None);
        let out = s.catch_up(
            vec![
                report("t", "a", "", 0, 10, "RUNNING"),
                report("t", "b", "", 0, 11, "COMPLETED"),
            ],
            &Cursor::from_pairs([(0, 11)]),
        );
        assert_eq!(jsons(&out), ["a/@10", "synced"]);
        let out = s.apply(&tick(
            &[(0, 20)],
            vec![
                report("t", "a", "", 0, 19, "COMPLETED"),
                report("t", "b", "", 0, 20, "ERROR"),
            ],
        ));
        assert_eq!(jsons(&out), ["-a"], "b was never in the stream");
        assert_eq!(ids(&out), [Some("0=20".into())]);

        // Resumed: a campaign changed to another status may be one the
        // client holds.
        let mut s = Subscription::campaigns(
            "t".into(),
            Some("RUNNING".into()),
            Some(Cursor::from_pairs([(0, 11)])),
        );
        let out = s.catch_up(
            vec![
                report("t", "a", "", 0, 19, "COMPLETED"),
                report("t", "b", "", 0, 9, "RUNNING"),
            ],
            &Cursor::from_pairs([(0, 20)]),
        );
        assert_eq!(jsons(&out), ["-a", "synced"], "b@9 is before the cursor");
    }

    #[test]
    fn a_report_stream_sends_only_newer_versions_of_its_key() {
        let mut s = Subscription::report("t".into(), "a".into(), "j1".into(), Some(10));
        let out = s.catch_up(
            vec![report("t", "a", "j1", 0, 10, "RUNNING")],
            &Cursor::from_pairs([(0, 10)]),
        );
        assert_eq!(jsons(&out), ["synced"], "the client has version 10");
        assert_eq!(ids(&out), [None], "the id stays the report's version");
        let out = s.apply(&tick(
            &[(0, 15)],
            vec![
                report("t", "a", "j1", 0, 15, "RUNNING"),
                report("t", "a", "", 0, 15, "RUNNING"),
            ],
        ));
        assert_eq!(jsons(&out), ["a/j1@15"]);
        assert_eq!(ids(&out), [Some("15".into())]);
        assert_eq!(
            s.scope(),
            ReportScope {
                tenant: Some("t".into()),
                campaign: Some("a".into()),
                job: Some("j1".into())
            }
        );
    }

    #[test]
    fn a_resumed_cursor_ahead_of_the_hub_never_goes_back() {
        // The client came from an instance that had seen partition 0 up to 50.
        let mut s = Subscription::campaigns("t".into(), None, Some(Cursor::from_pairs([(0, 50)])));
        let out = s.catch_up(Vec::new(), &Cursor::from_pairs([(0, 40)]));
        assert_eq!(jsons(&out), ["synced"]);
        assert_eq!(ids(&out), [Some("0=50".into())]);
        let out = s.apply(&tick(
            &[(0, 60)],
            vec![
                report("t", "a", "", 0, 45, "RUNNING"),
                report("t", "b", "", 0, 60, "RUNNING"),
            ],
        ));
        assert_eq!(
            jsons(&out),
            ["b/@60"],
            "a@45 is older than what the client saw"
        );
    }
}
