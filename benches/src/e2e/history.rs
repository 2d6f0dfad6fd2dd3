//! Synthetic history for the recovery scenario: completed campaigns that
//! the processor evicted long ago, written straight into its ClickHouse
//! database with server-side `INSERT … SELECT … FROM numbers(N)` (no
//! Kafka, no processor), so a restart can be timed with the same live state
//! and more or less history behind it (issue 11).
//!
//! Every history campaign belongs to tenant [`TENANT`] and has one job of
//! [`USERS_PER_CAMPAIGN`] users. Per campaign: three lifecycle events
//! (created with a script, the job running with its audience, completed),
//! two headers in `campaign_state` (version 1 live, version 2 evicted: the
//! latest is evicted, as a campaign the processor dropped from memory),
//! the all-jobs and the job report in `campaign_reports`. Per user: one
//! `journeys` row (two steps, completed, one message key) and three raw
//! events (the first message and the two interactions of the steps). The
//! rollup views are fed by the `events_raw` insert as usual. Versions 1 and
//! 2 are far below any version a processor writes (milliseconds since the
//! epoch), as rows written long ago would be.
//!
//! What is not faithful: the 128-bit keys (message and lifecycle keys) are
//! ClickHouse hashes, not the processor's `event_key`, so a late event of a
//! history campaign would not be recognised as a duplicate; no such event
//! is ever produced.

use std::time::Instant;

use anyhow::Context;
use processor::state::{CampaignHeader, FunnelStep, JobHeader, NodeStats, ScriptInfo, Stamped};
use schemas::{Script, ScriptEdge, ScriptNode};
use serde_json::json;

use super::topics::Topics;

/// The tenant of every history campaign (left out of the figures check).
pub const TENANT: &str = "history";

/// Users (journeys) of each history campaign, all in one job.
pub const USERS_PER_CAMPAIGN: u64 = 1000;

/// Campaigns per INSERT statement (a million journeys, three million raw
/// events at most).
const CAMPAIGNS_PER_STATEMENT: u64 = 1000;

/// The history campaigns' job.
const JOB: &str = "job-0";

/// The created event of history campaign 0: 2025-01-01 00:00 UTC; the
/// campaigns start [`STRIDE_MS`] apart (10,000 campaigns span 7 months).
const BASE_MS: i64 = 1_735_689_600_000;
const STRIDE_MS: i64 = 30 * 60 * 1000;

/// The first message of user `u` is `u` seconds after the job started
/// running; the interactions follow 60 and 120 s after it.
const USER_STEP_MS: i64 = 1000;

/// Placeholders of the header template, replaced per campaign in SQL. The
/// numbers are unlike any real time or key (15 digits, repeated).
const CAMPAIGN: &str = "__CAMPAIGN__";
const CREATED_AT: i64 = 111_111_111_111_111;
const RUNNING_AT: i64 = 222_222_222_222_222;
const COMPLETED_AT: i64 = 333_333_333_333_333;
const LAST_USER_AT: i64 = 444_444_444_444_444;
const KEYS: [u128; 3] = [
    555_555_555_555_555,
    666_666_666_666_666,
    777_777_777_777_777,
];

/// The history campaigns in the database so far: campaigns `0..campaigns`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub campaigns: u64,
}

impl History {
    pub fn journeys(&self) -> u64 {
        self.campaigns * USERS_PER_CAMPAIGN
    }
}

/// What one injection wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Injected {
    pub campaigns: u64,
    pub journeys: u64,
    pub raw_events: u64,
    pub seconds: f64,
}

/// The script of every history campaign, as the processor stores it.
fn script() -> Script {
    let node = |id: &str, node_type: &str| ScriptNode {
        id: id.to_owned(),
        node_type: node_type.to_owned(),
        script_type: "buttons".to_owned(),
    };
    let edge = |source: &str, target: &str, label: &str| ScriptEdge {
        source: source.to_owned(),
        target: target.to_owned(),
        label: Some(label.to_owned()),
    };
    Script {
        nodes: vec![
            node("welcome", "start"),
            node("q1", "question"),
            node("end_ok", "final"),
            node("end_no", "final"),
        ],
        edges: vec![
            edge("welcome", "q1", "Go"),
            edge("q1", "end_ok", "Yes"),
            edge("q1", "end_no", "No"),
        ],
    }
}

/// `script_json` of the created event (the layout of the processor's
/// `script_to_json`).
fn script_json(script: &Script) -> String {
    json!({
        "nodes": script.nodes.iter().map(|n| json!({
            "id": n.id, "type": n.node_type, "script_type": n.script_type,
        })).collect::<Vec<_>>(),
        "edges": script.edges.iter().map(|e| json!({
            "source": e.source, "target": e.target, "label": e.label,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The header of a history campaign as JSON, with placeholders for what
/// differs between campaigns (see [`header_sql`]). Built from the
/// processor's own [`CampaignHeader`], so the processor can read it.
pub fn header_template() -> anyhow::Result<String> {
    let stamped = |at: i64, event: &str, value: String| Stamped {
        at,
        event_id: format!("{CAMPAIGN}-{event}"),
        value,
    };
    let header = CampaignHeader {
        tenant_id: TENANT.to_owned(),
        campaign_id: CAMPAIGN.to_owned(),
        lifecycle_keys: KEYS.to_vec(),
        script: Some(Stamped {
            at: CREATED_AT,
            event_id: format!("{CAMPAIGN}-created"),
            value: ScriptInfo::analyse(&script()),
        }),
        status_any: Some(stamped(COMPLETED_AT, "completed", "COMPLETED".into())),
        status_wide: Some(stamped(COMPLETED_AT, "completed", "COMPLETED".into())),
        audience_wide: None,
        first_at: CREATED_AT,
        last_at: COMPLETED_AT,
        jobs: vec![JobHeader {
            job_id: JOB.to_owned(),
            status: Some(stamped(RUNNING_AT, "running", "RUNNING".into())),
            audience: Some(Stamped {
                at: RUNNING_AT,
                event_id: format!("{CAMPAIGN}-running"),
                value: USERS_PER_CAMPAIGN as i64,
            }),
            first_at: RUNNING_AT,
            last_at: LAST_USER_AT,
        }],
        rewritten_at: COMPLETED_AT,
        alerts: None,
    };
    serde_json::to_string(&header).context("serialize the history header")
}

/// SQL of the times of campaign `c` (a UInt64 expression) and of its
/// users, in milliseconds.
fn created_sql(c: &str) -> String {
    format!("toInt64({BASE_MS} + {c} * {STRIDE_MS})")
}
fn running_sql(c: &str) -> String {
    format!("({} + 60000)", created_sql(c))
}
/// The first message of user `u` of campaign `c`.
fn user_sql(c: &str, u: &str) -> String {
    format!("({} + toInt64({u}) * {USER_STEP_MS})", running_sql(c))
}
fn last_user_sql(c: &str) -> String {
    format!(
        "({} + 120000)",
        user_sql(c, &(USERS_PER_CAMPAIGN - 1).to_string())
    )
}
fn completed_sql(c: &str) -> String {
    format!("({} + 60000)", last_user_sql(c))
}

/// A template cut at its placeholders: literal text and, in between, the
/// index of the value that replaces a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(usize),
}

/// Cut `template` at every occurrence of the `placeholders`.
fn pieces(template: &str, placeholders: &[String]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = template;
    loop {
        let next = placeholders
            .iter()
            .enumerate()
            .filter_map(|(i, p)| rest.find(p.as_str()).map(|at| (at, i, p.len())))
            .min();
        let Some((at, i, len)) = next else {
            if !rest.is_empty() {
                out.push(Piece::Text(rest.to_owned()));
            }
            return out;
        };
        if at > 0 {
            out.push(Piece::Text(rest[..at].to_owned()));
        }
        out.push(Piece::Value(i));
        rest = &rest[at + len..];
    }
}

/// A ClickHouse string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The placeholders of the header template, in [`header_values`] order.
fn header_placeholders() -> Vec<String> {
    let mut out = vec![CAMPAIGN.to_owned()];
    out.extend([CREATED_AT, RUNNING_AT, COMPLETED_AT, LAST_USER_AT].map(|n| n.to_string()));
    out.extend(KEYS.map(|k| k.to_string()));
    out
}

/// SQL of what replaces each placeholder for campaign `c` (id `id`).
fn header_values(c: &str, id: &str) -> Vec<String> {
    vec![
        id.to_owned(),
        format!("toString({})", created_sql(c)),
        format!("toString({})", running_sql(c)),
        format!("toString({})", completed_sql(c)),
        format!("toString({})", last_user_sql(c)),
        format!("toString(sipHash64(concat({id}, '-created')))"),
        format!("toString(sipHash64(concat({id}, '-running')))"),
        format!("toString(sipHash64(concat({id}, '-completed')))"),
    ]
}

/// `state_json` of campaign `c` (SQL): the template's text with the
/// campaign's values (`replaceAll` of 18.16 takes constants only, so it is
/// a `concat` of the pieces).
fn header_sql(template: &str, c: &str, id: &str) -> String {
    let values = header_values(c, id);
    let parts: Vec<String> = pieces(template, &header_placeholders())
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => sql_string(&t),
            Piece::Value(i) => values[i].clone(),
        })
        .collect();
    format!("concat({})", parts.join(", "))
}

/// The campaign id of campaign number `c` (SQL).
fn campaign_id_sql(c: &str) -> String {
    format!("concat('hc-', toString({c}))")
}

/// Write the history campaigns `from..to` (spread over `partitions`
/// partitions by number) into the processor's database `db`.
pub async fn inject(
    db: &clickhouse::Client,
    topics: &Topics,
    partitions: i32,
    from: u64,
    to: u64,
) -> anyhow::Result<Injected> {
    let started = Instant::now();
    let template = header_template()?;
    let report = report_json();
    let mut at = from;
    while at < to {
        let end = (at + CAMPAIGNS_PER_STATEMENT).min(to);
        insert_chunk(db, topics, partitions, at, end, &template, &report)
            .await
            .with_context(|| format!("inject history campaigns {at}..{end}"))?;
        at = end;
    }
    let campaigns = to.saturating_sub(from);
    Ok(Injected {
        campaigns,
        journeys: campaigns * USERS_PER_CAMPAIGN,
        raw_events: campaigns * (3 * USERS_PER_CAMPAIGN + 3),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// (nodes_json, funnel_json) of both reports of a campaign (one job): every
/// user went welcome → q1 → end_ok or end_no (odd users said no).
fn report_json() -> (String, String) {
    let users = USERS_PER_CAMPAIGN;
    let (yes, no) = (users.div_ceil(2), users / 2);
    let nodes = vec![
        NodeStats {
            node_id: "welcome".into(),
            reached_users: users,
            choices: [("Go".to_owned(), users)].into_iter().collect(),
        },
        NodeStats {
            node_id: "q1".into(),
            reached_users: users,
            choices: [("Yes".to_owned(), yes), ("No".to_owned(), no)]
                .into_iter()
                .collect(),
        },
    ];
    let funnel = vec![
        FunnelStep {
            node_id: "welcome".into(),
            users,
            conversion_from_previous: 100.0,
            drop_off: 0,
        },
        FunnelStep {
            node_id: "q1".into(),
            users,
            conversion_from_previous: 100.0,
            drop_off: 0,
        },
    ];
    (
        serde_json::to_string(&nodes).unwrap_or_default(),
        serde_json::to_string(&funnel).unwrap_or_default(),
    )
}

async fn insert_chunk(
    db: &clickhouse::Client,
    topics: &Topics,
    partitions: i32,
    from: u64,
    to: u64,
    template: &str,
    report: &(String, String),
) -> anyhow::Result<()> {
    let campaigns = to - from;
    let users = USERS_PER_CAMPAIGN;
    let journeys = campaigns * users;
    let p = partitions.max(1);
    // Journeys: user u of campaign c is row c * users + u.
    let c = format!("({from} + intDiv(number, {users}))");
    let u = format!("(number % {users})");
    let cid = campaign_id_sql(&c);
    let uid = format!("concat('hu-', toString({u}))");
    let eid = format!("concat('h-', toString({c}), '-', toString({u}))");
    let t = user_sql(&c, &u);
    let yes = format!("({u} % 2 = 0)");
    db.query(&format!(
        "INSERT INTO journeys (tenant_id, campaign_id, job_id, user_id, partition, version, \
           step_node_ids, step_choices, step_occurred_at_ms, step_event_ids, total_interactions, \
           completed, exit_node, completion_seconds, snapshot_at, first_message_at_ms, \
           message_keys, warning_keys) \
         SELECT '{TENANT}', {cid}, '{JOB}', {uid}, toInt32({c} % {p}), toUInt64(2), \
           ['welcome', 'q1'], ['Go', if({yes}, 'Yes', 'No')], [{t} + 60000, {t} + 120000], \
           [concat({eid}, '-i1'), concat({eid}, '-i2')], toUInt64(2), toUInt8(1), \
           if({yes}, 'end_ok', 'end_no'), toNullable(toFloat64(120)), \
           toDateTime(intDiv({completed}, 1000)), toNullable({t}), \
           [sipHash128(concat({eid}, '-n'))], [] \
         FROM numbers({journeys})",
        completed = completed_sql(&c),
    ))
    .execute()
    .await
    .context("insert history journeys")?;

    // Raw events of the users: row 3 * (c * users + u) + k, k = 0 the first
    // message, 1 and 2 the interactions.
    let j = "intDiv(number, 3)";
    let k = "(number % 3)";
    let c = format!("({from} + intDiv({j}, {users}))");
    let u = format!("({j} % {users})");
    let cid = campaign_id_sql(&c);
    let uid = format!("concat('hu-', toString({u}))");
    let eid = format!("concat('h-', toString({c}), '-', toString({u}))");
    let t = format!("({} + toInt64({k}) * 60000)", user_sql(&c, &u));
    let yes = format!("({u} % 2 = 0)");
    db.query(&format!(
        "INSERT INTO events_raw (tenant_id, campaign_id, job_id, user_id, event_id, event_kind, \
           node_id, choice, first_message, warning_message, lifecycle_kind, status, \
           audience_size, script_json, answer_title, question, occurred_at, occurred_at_ms, \
           local_date, kafka_topic, kafka_partition, kafka_offset) \
         SELECT '{TENANT}', {cid}, '{JOB}', {uid}, \
           concat({eid}, ['-n', '-i1', '-i2'][{k} + 1]), \
           if({k} = 0, 'notification', 'interaction'), \
           ['welcome', 'welcome', 'q1'][{k} + 1], \
           ['', 'Go', if({yes}, 'Yes', 'No')][{k} + 1], \
           toUInt8({k} = 0), toUInt8(0), '', '', CAST(NULL AS Nullable(Int64)), '', \
           CAST(NULL AS Nullable(String)), CAST(NULL AS Nullable(String)), \
           toDateTime(intDiv({t}, 1000)), {t}, toDate(toDateTime(intDiv({t}, 1000))), \
           if({k} = 0, ?, ?), toInt32({c} % {p}), toInt64(number) \
         FROM numbers({rows})",
        rows = journeys * 3,
    ))
    .bind(&topics.notifications)
    .bind(&topics.interactions)
    .execute()
    .await
    .context("insert history raw events")?;

    // Lifecycle events: row 3 * c + k, k = 0 created, 1 the job running,
    // 2 completed.
    let c = format!("({from} + intDiv(number, 3))");
    let cid = campaign_id_sql(&c);
    let t = format!(
        "[{}, {}, {}][{k} + 1]",
        created_sql(&c),
        running_sql(&c),
        completed_sql(&c)
    );
    db.query(&format!(
        "INSERT INTO events_raw (tenant_id, campaign_id, job_id, user_id, event_id, event_kind, \
           node_id, choice, first_message, warning_message, lifecycle_kind, status, \
           audience_size, script_json, answer_title, question, occurred_at, occurred_at_ms, \
           local_date, kafka_topic, kafka_partition, kafka_offset) \
         SELECT '{TENANT}', {cid}, ['', '{JOB}', ''][{k} + 1], '', \
           concat({cid}, ['-created', '-running', '-completed'][{k} + 1]), 'lifecycle', \
           '', '', toUInt8(0), toUInt8(0), \
           ['CREATED', 'STATUS_CHANGED', 'COMPLETED'][{k} + 1], \
           ['NEW', 'RUNNING', 'COMPLETED'][{k} + 1], \
           if({k} = 1, toInt64({users}), NULL), \
           if({k} = 0, ?, ''), CAST(NULL AS Nullable(String)), CAST(NULL AS Nullable(String)), \
           toDateTime(intDiv({t}, 1000)), {t}, toDate(toDateTime(intDiv({t}, 1000))), \
           ?, toInt32({c} % {p}), toInt64(number) \
         FROM numbers({rows})",
        rows = campaigns * 3,
    ))
    .bind(script_json(&script()))
    .bind(&topics.lifecycle)
    .execute()
    .await
    .context("insert history lifecycle events")?;

    // Headers: row 2 * c + v, version v + 1, the second one evicted.
    let c = format!("({from} + intDiv(number, 2))");
    let cid = campaign_id_sql(&c);
    db.query(&format!(
        "INSERT INTO campaign_state (partition, tenant_id, campaign_id, version, evicted, \
           state_json) \
         SELECT toInt32({c} % {p}), '{TENANT}', {cid}, toUInt64(number % 2 + 1), \
           toUInt8(number % 2), {state} \
         FROM numbers({rows})",
        state = header_sql(template, &c, &cid),
        rows = campaigns * 2,
    ))
    .execute()
    .await
    .context("insert history headers")?;

    // Reports: row 2 * c + r, r = 0 all jobs, 1 the job.
    let r = "(number % 2)";
    db.query(&format!(
        "INSERT INTO campaign_reports (tenant_id, campaign_id, job_id, partition, version, \
           status, target_users, sent_users, interacted_users, completed_users, \
           interaction_rate, completion_rate, total_interactions, messages_sent, \
           warnings_sent, avg_completion_seconds, nodes_json, funnel_json, \
           first_event_at_ms, last_event_at_ms, snapshot_at) \
         SELECT '{TENANT}', {cid}, if({r} = 0, '', '{JOB}'), toInt32({c} % {p}), toUInt64(2), \
           'COMPLETED', toUInt64({users}), toUInt64({users}), toUInt64({users}), \
           toUInt64({users}), 100.0, 100.0, toUInt64({interactions}), toUInt64({users}), \
           toUInt64(0), toNullable(toFloat64(120)), ?, ?, \
           if({r} = 0, {created}, {running}), {completed}, \
           toDateTime(intDiv({completed}, 1000)) \
         FROM numbers({rows})",
        interactions = 2 * users,
        created = created_sql(&c),
        running = running_sql(&c),
        completed = completed_sql(&c),
        rows = campaigns * 2,
    ))
    .bind(&report.0)
    .bind(&report.1)
    .execute()
    .await
    .context("insert history reports")?;
    Ok(())
}

/// Rows and active parts of the tables a restore reads, and the journeys
/// of live (not evicted) campaigns.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableRows {
    pub events_raw: u64,
    pub events_raw_parts: u64,
    pub journeys: u64,
    pub journeys_parts: u64,
    pub campaign_state: u64,
    /// Distinct (tenant, campaign, job, user) of live campaigns: what a
    /// restore loads.
    pub live_journeys: u64,
    /// Distinct keys of `journeys`, live or evicted.
    pub all_journeys: u64,
}

pub async fn table_rows(db: &clickhouse::Client, database: &str) -> anyhow::Result<TableRows> {
    let count = |table: &str| format!("SELECT count() FROM {table}");
    let events_raw: u64 = db
        .query(&count("events_raw"))
        .fetch_one()
        .await
        .context("count events_raw")?;
    let journeys: u64 = db
        .query(&count("journeys"))
        .fetch_one()
        .await
        .context("count journeys")?;
    let campaign_state: u64 = db
        .query(&count("campaign_state"))
        .fetch_one()
        .await
        .context("count campaign_state")?;
    let parts = |table: &'static str| async move {
        db.query("SELECT count() FROM system.parts WHERE database = ? AND table = ? AND active")
            .bind(database)
            .bind(table)
            .fetch_one::<u64>()
            .await
            .with_context(|| format!("count the parts of {table}"))
    };
    let events_raw_parts = parts("events_raw").await?;
    let journeys_parts = parts("journeys").await?;
    let live_journeys: u64 = db
        .query(
            "SELECT count() FROM ( \
               SELECT DISTINCT tenant_id, campaign_id, job_id, user_id FROM journeys \
               WHERE (tenant_id, campaign_id) IN ( \
                 SELECT tenant_id, campaign_id FROM campaign_state \
                 GROUP BY tenant_id, campaign_id HAVING argMax(evicted, version) = 0))",
        )
        .fetch_one()
        .await
        .context("count live journeys")?;
    let all_journeys: u64 = db
        .query(
            "SELECT count() FROM ( \
               SELECT DISTINCT tenant_id, campaign_id, job_id, user_id FROM journeys)",
        )
        .fetch_one()
        .await
        .context("count journeys")?;
    Ok(TableRows {
        events_raw,
        events_raw_parts,
        journeys,
        journeys_parts,
        campaign_state,
        live_journeys,
        all_journeys,
    })
}

/// Wait until ClickHouse runs no merge of `database` (two looks 0.5 s
/// apart), at most `limit`; returns the seconds waited and whether it
/// settled.
pub async fn settle_merges(
    server: &clickhouse::Client,
    database: &str,
    limit: std::time::Duration,
) -> (f64, bool) {
    let started = Instant::now();
    let mut quiet = 0;
    while started.elapsed() < limit {
        let running = server
            .query("SELECT count() FROM system.merges WHERE database = ?")
            .bind(database)
            .fetch_one::<u64>()
            .await
            .unwrap_or(1);
        quiet = if running == 0 { quiet + 1 } else { 0 };
        if quiet >= 2 {
            return (started.elapsed().as_secs_f64(), true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    (started.elapsed().as_secs_f64(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template cut at its placeholders and filled in (as the SQL
    /// does) is a header the processor reads.
    #[test]
    fn the_header_template_is_a_header_once_filled_in() {
        let template = header_template().expect("template");
        let placeholders = header_placeholders();
        let pieces = pieces(&template, &placeholders);
        for (i, placeholder) in placeholders.iter().enumerate() {
            assert!(
                pieces.contains(&Piece::Value(i)),
                "{placeholder} in {template}"
            );
        }
        let values = [
            "hc-7",
            "1735689600000",
            "1735689660000",
            "1735690780000",
            "1735690720000",
        ];
        let text: String = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Value(i) => values
                    .get(*i)
                    .map_or(u64::MAX.to_string(), |v| (*v).to_owned()),
            })
            .collect();
        let header: CampaignHeader = serde_json::from_str(&text).expect("a header");
        assert_eq!(header.campaign_id, "hc-7");
        assert_eq!(header.tenant_id, TENANT);
        assert_eq!(header.lifecycle_keys, vec![u128::from(u64::MAX); 3]);
        assert_eq!(header.jobs.len(), 1);
        assert_eq!(header.jobs[0].last_at, 1_735_690_720_000);
        assert!(header.script.is_some());
    }

    #[test]
    fn sql_strings_are_escaped() {
        assert_eq!(sql_string(r"a'b\c"), r"'a\'b\\c'");
    }
}
