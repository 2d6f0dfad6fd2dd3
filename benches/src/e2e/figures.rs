//! What landed in ClickHouse against loadgen's expected figures, read
//! through the query API's read model (what a reader sees as of each
//! partition's checkpoint). Exact means: counts and texts equal, floats
//! within 1e-9 relative.

use std::collections::BTreeMap;
use std::fmt::Debug;

use anyhow::Context;
use processor::clickhouse::convert;
use processor::state::{Journey as GotJourney, Report as GotReport};
use query_api::read::{self, Granularity};
use serde::Serialize;
use serde_json::Value;

use crate::loadgen::expected_json as exp;

/// How many differences are described in full.
const SHOWN: usize = 10;

/// The outcome of one comparison.
#[derive(Debug, Default)]
pub struct Checked {
    pub reports: usize,
    /// `None`: journeys not compared (not in the expected file).
    pub journeys: Option<usize>,
    pub periods: usize,
    pub differences: usize,
    /// The first differences, described.
    pub shown: Vec<String>,
}

impl Checked {
    pub fn exact(&self) -> bool {
        self.differences == 0
    }

    /// `reports 298, journeys 19 740, periods 412: exact`.
    pub fn summary(&self) -> String {
        let journeys = self
            .journeys
            .map_or("not compared".to_owned(), |n| n.to_string());
        let verdict = if self.exact() {
            "exact".to_owned()
        } else {
            format!("{} DIFFERENCES", self.differences)
        };
        format!(
            "reports {}, journeys {journeys}, rollup periods {}: {verdict}",
            self.reports, self.periods
        )
    }

    fn diff<T: Serialize + Debug, K: Ord + Debug>(
        &mut self,
        what: &str,
        expected: &[T],
        got: &[T],
        key: impl Fn(&T) -> K,
    ) {
        let mut got: BTreeMap<K, &T> = got.iter().map(|g| (key(g), g)).collect();
        for e in expected {
            let k = key(e);
            match got.remove(&k) {
                None => self.note(format!("{what} {k:?} missing")),
                Some(g) if !close_values(&to_value(e), &to_value(g)) => self.note(format!(
                    "{what} {k:?} differs:\n  expected {e:?}\n  got      {g:?}"
                )),
                Some(_) => {}
            }
        }
        for (k, g) in got {
            self.note(format!("{what} {k:?} unexpected: {g:?}"));
        }
    }

    fn note(&mut self, text: String) {
        self.differences += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(text);
        }
    }
}

/// The differences between two lists of figures matched by `key` (exact as
/// the module says).
pub fn differences<T: Serialize + Debug, K: Ord + Debug>(
    what: &str,
    expected: &[T],
    got: &[T],
    key: impl Fn(&T) -> K,
) -> Checked {
    let mut checked = Checked::default();
    checked.diff(what, expected, got, key);
    checked
}

/// Compare every report, every rollup period and (when the expected file
/// has them) every journey.
pub async fn check(
    db: &clickhouse::Client,
    expected: &exp::ExpectedFile,
) -> anyhow::Result<Checked> {
    check_except(db, expected, None).await
}

/// [`check`], leaving out the reports and periods of tenant `ignored` (one
/// that is not loadgen's, such as the freshness probe's).
pub async fn check_except(
    db: &clickhouse::Client,
    expected: &exp::ExpectedFile,
    ignored: Option<&str>,
) -> anyhow::Result<Checked> {
    let kept = |tenant: &str| Some(tenant) != ignored;
    let mut checked = Checked::default();
    let reports: Vec<exp::Report> = read::visible_reports(db, None)
        .await
        .context("read reports")?
        .iter()
        .map(|row| report(convert::report_of(row)))
        .filter(|r| kept(&r.tenant_id))
        .collect();
    checked.reports = reports.len();
    checked.diff("report", &expected.reports, &reports, |r| {
        (r.tenant_id.clone(), r.campaign_id.clone(), r.job_id.clone())
    });
    if let Some(journeys) = &expected.journeys {
        checked.journeys = Some(check_journeys(db, expected, journeys, &mut checked).await?);
    }
    for (granularity, periods) in [
        (Granularity::Day, &expected.rollups.day),
        (Granularity::Week, &expected.rollups.week),
        (Granularity::Month, &expected.rollups.month),
    ] {
        let starts = periods.iter().map(|p| p.period_start);
        let (Some(from), Some(to)) = (starts.clone().min(), starts.max()) else {
            continue;
        };
        let got = read::overview(db, None, granularity, from, to)
            .await
            .context("read the overview")?;
        let got: Vec<exp::Period> = got
            .iter()
            .map(|p| serde_json::from_value::<exp::Period>(to_value(p)))
            .collect::<Result<Vec<_>, _>>()
            .context("an overview period as the expected file spells it")?
            .into_iter()
            .filter(|p| kept(&p.tenant_id))
            .collect();
        checked.periods += got.len();
        checked.diff(&format!("{granularity:?} period"), periods, &got, |p| {
            (p.tenant_id.clone(), p.period_start)
        });
    }
    Ok(checked)
}

/// Journeys tenant by tenant (a tenant's rows at a time in memory);
/// returns how many were read.
async fn check_journeys(
    db: &clickhouse::Client,
    expected: &exp::ExpectedFile,
    journeys: &[exp::Journey],
    checked: &mut Checked,
) -> anyhow::Result<usize> {
    let mut read_total = 0;
    for tenant in expected.tenants.keys() {
        let got: Vec<exp::Journey> = read::visible_journeys(db, Some(tenant))
            .await
            .context("read journeys")?
            .iter()
            .map(|row| journey(convert::journey_of(row)))
            .collect();
        read_total += got.len();
        let want: Vec<&exp::Journey> = journeys.iter().filter(|j| &j.tenant_id == tenant).collect();
        let got: Vec<&exp::Journey> = got.iter().collect();
        checked.diff("journey", &want, &got, |j| {
            (j.campaign_id.clone(), j.job_id.clone(), j.user_id.clone())
        });
    }
    Ok(read_total)
}

fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Equal, except that two numbers that are not both integers only need to
/// be within 1e-9 relative.
fn close_values(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close_values(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| close_values(v, w)))
        }
        _ => a == b,
    }
}

fn report(r: GotReport) -> exp::Report {
    exp::Report {
        tenant_id: r.tenant_id,
        campaign_id: r.campaign_id,
        job_id: r.job_id,
        status: r.status,
        target_users: r.target_users,
        sent_users: r.sent_users,
        interacted_users: r.interacted_users,
        completed_users: r.completed_users,
        interaction_rate: r.interaction_rate,
        completion_rate: r.completion_rate,
        total_interactions: r.total_interactions,
        messages_sent: r.messages_sent,
        warnings_sent: r.warnings_sent,
        avg_completion_seconds: r.avg_completion_seconds,
        nodes: r
            .nodes
            .into_iter()
            .map(|n| exp::NodeStats {
                node_id: n.node_id,
                reached_users: n.reached_users,
                choices: n.choices,
            })
            .collect(),
        funnel: r
            .funnel
            .into_iter()
            .map(|f| exp::FunnelStep {
                node_id: f.node_id,
                users: f.users,
                conversion_from_previous: f.conversion_from_previous,
                drop_off: f.drop_off,
            })
            .collect(),
        first_event_at: r.first_event_at,
        last_event_at: r.last_event_at,
    }
}

fn journey(j: GotJourney) -> exp::Journey {
    exp::Journey {
        tenant_id: j.tenant_id,
        campaign_id: j.campaign_id,
        job_id: j.job_id,
        user_id: j.user_id,
        steps: j
            .steps
            .into_iter()
            .map(|s| exp::Step {
                node_id: s.node_id,
                choice: s.choice,
                occurred_at: s.occurred_at,
                event_id: s.event_id,
            })
            .collect(),
        total_interactions: j.total_interactions,
        completed: j.completed,
        exit_node: j.exit_node,
        completion_seconds: j.completion_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_close_integers_exact() {
        let a = serde_json::json!({"n": 3, "r": 33.333333333333336, "v": [1.0, 2]});
        let b = serde_json::json!({"n": 3, "r": 33.33333333333333, "v": [1.0, 2]});
        assert!(close_values(&a, &b));
        let c = serde_json::json!({"n": 4, "r": 33.333333333333336, "v": [1.0, 2]});
        assert!(!close_values(&a, &c));
        let d = serde_json::json!({"n": 3, "r": 33.34, "v": [1.0, 2]});
        assert!(!close_values(&a, &d));
    }
}
