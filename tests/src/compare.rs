//! What landed in ClickHouse against the load generator's expected figures.
//! Counts must be equal; rates and seconds equal within 1e-9 relative.

use benches::loadgen::expected_json as expected;
use processor::clickhouse::snapshot_rows::{JourneyRow, ReportRow};
use query_api::read::{self, Granularity};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn close_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    }
}

/// A report as the expected file spells it.
pub fn report_from_row(row: &ReportRow) -> expected::Report {
    let r = row.to_report();
    expected::Report {
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
            .map(|n| expected::NodeStats {
                node_id: n.node_id,
                reached_users: n.reached_users,
                choices: n.choices,
            })
            .collect(),
        funnel: r
            .funnel
            .into_iter()
            .map(|f| expected::FunnelStep {
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

pub fn journey_from_row(row: &JourneyRow) -> expected::Journey {
    let j = row.to_journey();
    expected::Journey {
        tenant_id: j.tenant_id,
        campaign_id: j.campaign_id,
        job_id: j.job_id,
        user_id: j.user_id,
        steps: j
            .steps
            .into_iter()
            .map(|s| expected::Step {
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

pub fn report_matches(a: &expected::Report, b: &expected::Report) -> bool {
    let floats = close(a.interaction_rate, b.interaction_rate)
        && close(a.completion_rate, b.completion_rate)
        && close_opt(a.avg_completion_seconds, b.avg_completion_seconds)
        && a.funnel.len() == b.funnel.len()
        && a.funnel.iter().zip(&b.funnel).all(|(x, y)| {
            x.node_id == y.node_id
                && x.users == y.users
                && x.drop_off == y.drop_off
                && close(x.conversion_from_previous, y.conversion_from_previous)
        });
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    for r in [&mut a2, &mut b2] {
        r.interaction_rate = 0.0;
        r.completion_rate = 0.0;
        r.avg_completion_seconds = None;
        r.funnel.clear();
    }
    floats && a2 == b2
}

pub fn journey_matches(a: &expected::Journey, b: &expected::Journey) -> bool {
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    a2.completion_seconds = None;
    b2.completion_seconds = None;
    a2 == b2 && close_opt(a.completion_seconds, b.completion_seconds)
}

pub fn period_matches(a: &expected::Period, b: &expected::Period) -> bool {
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    a2.interaction_rate = 0.0;
    b2.interaction_rate = 0.0;
    a2 == b2 && close(a.interaction_rate, b.interaction_rate)
}

/// Compare two lists by key; describe the differences.
pub fn diff<T: std::fmt::Debug, K: Ord + std::fmt::Debug>(
    what: &str,
    expected: &[T],
    got: &[T],
    key: impl Fn(&T) -> K,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut got_sorted: Vec<&T> = got.iter().collect();
    got_sorted.sort_by_key(|t| key(t));
    let mut exp_sorted: Vec<&T> = expected.iter().collect();
    exp_sorted.sort_by_key(|t| key(t));
    let (mut i, mut j) = (0, 0);
    while i < exp_sorted.len() || j < got_sorted.len() {
        let (e, g) = (exp_sorted.get(i), got_sorted.get(j));
        match (e, g) {
            (Some(e), Some(g)) if key(e) == key(g) => {
                if !same(e, g) {
                    out.push(format!(
                        "{what} {:?} differs:\n  expected {e:?}\n  got      {g:?}",
                        key(e)
                    ));
                }
                i += 1;
                j += 1;
            }
            (Some(e), Some(g)) if key(e) < key(g) => {
                out.push(format!("{what} {:?} missing", key(e)));
                i += 1;
            }
            (Some(e), None) => {
                out.push(format!("{what} {:?} missing", key(e)));
                i += 1;
            }
            (_, Some(g)) => {
                out.push(format!("{what} {:?} unexpected: {g:?}", key(g)));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Every report, journey (when the file has them) and rollup in ClickHouse
/// against the expected figures; the differences, empty when exact.
pub async fn differences(client: &clickhouse::Client, exp: &expected::ExpectedFile) -> Vec<String> {
    let mut out = Vec::new();
    let reports: Vec<expected::Report> = read::visible_reports(client, None)
        .await
        .expect("read reports")
        .iter()
        .map(report_from_row)
        .collect();
    out.extend(diff(
        "report",
        &exp.reports,
        &reports,
        |r| (r.tenant_id.clone(), r.campaign_id.clone(), r.job_id.clone()),
        report_matches,
    ));
    if let Some(journeys) = &exp.journeys {
        let got: Vec<expected::Journey> = read::visible_journeys(client, None)
            .await
            .expect("read journeys")
            .iter()
            .map(journey_from_row)
            .collect();
        out.extend(diff(
            "journey",
            journeys,
            &got,
            |j| {
                (
                    j.tenant_id.clone(),
                    j.campaign_id.clone(),
                    j.job_id.clone(),
                    j.user_id.clone(),
                )
            },
            journey_matches,
        ));
    }
    for (g, periods) in [
        (Granularity::Day, &exp.rollups.day),
        (Granularity::Week, &exp.rollups.week),
        (Granularity::Month, &exp.rollups.month),
    ] {
        let (Some(from), Some(to)) = (
            periods.iter().map(|p| p.period_start).min(),
            periods.iter().map(|p| p.period_start).max(),
        ) else {
            continue;
        };
        let got: Vec<expected::Period> = read::overview(client, None, g, from, to)
            .await
            .expect("read overview")
            .into_iter()
            .map(|p| expected::Period {
                tenant_id: p.tenant_id,
                period_start: p.period_start,
                campaigns: p.campaigns,
                target_users: p.target_users,
                sent_users: p.sent_users,
                interacted_users: p.interacted_users,
                interactions: p.interactions,
                interaction_rate: p.interaction_rate,
                campaigns_completed: p.campaigns_completed,
                campaigns_running: p.campaigns_running,
                campaigns_error: p.campaigns_error,
            })
            .collect();
        out.extend(diff(
            &format!("{g:?} rollup"),
            periods,
            &got,
            |p| (p.tenant_id.clone(), p.period_start),
            period_matches,
        ));
    }
    out
}

/// Panic with the first differences, if any.
pub fn assert_no_differences(diffs: &[String]) {
    if !diffs.is_empty() {
        let shown: Vec<&str> = diffs.iter().take(15).map(String::as_str).collect();
        panic!(
            "{} differences from the expected figures; the first:\n{}",
            diffs.len(),
            shown.join("\n")
        );
    }
}

/// Every figure in ClickHouse equals the expected one (panics with the
/// first differences otherwise).
pub async fn assert_exact(client: &clickhouse::Client, exp: &expected::ExpectedFile) {
    assert_no_differences(&differences(client, exp).await);
}

/// Raw rows and distinct event ids in `events_raw`.
pub async fn raw_counts(client: &clickhouse::Client) -> (u64, u64) {
    client
        .query("SELECT count(), uniqExact(event_id) FROM events_raw")
        .fetch_one::<(u64, u64)>()
        .await
        .expect("count raw events")
}
