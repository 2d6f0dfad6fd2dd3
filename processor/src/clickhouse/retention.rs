//! The ClickHouse side of retention: what [`crate::retention::plan`] needs
//! to know, and dropping the months it chose.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::Deserialize;

use crate::retention::{Inputs, Plan, RAW_TABLES, SNAPSHOT_TABLES};
use storage::version::clock_of;

/// An intent this much older than its partition's checkpoint is not a
/// snapshot in flight but one a crash interrupted.
const STALE_TAIL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, clickhouse::Row, Deserialize)]
struct PartRow {
    table: String,
    partition_id: String,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Latest {
    partition: i32,
    version: u64,
    retained_from_ms: i64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct IntentMax {
    partition: i32,
    version: u64,
}

/// Read what the plan needs.
pub async fn inputs(
    client: &Client,
    now_ms: i64,
    horizon_ms: i64,
) -> Result<Inputs, clickhouse::error::Error> {
    let tables: Vec<&str> = RAW_TABLES.iter().chain(&SNAPSHOT_TABLES).copied().collect();
    let parts: Vec<PartRow> = client
        .query(
            "SELECT DISTINCT table, partition_id FROM system.parts \
             WHERE database = currentDatabase() AND active AND has(?, table)",
        )
        .bind(&tables)
        .fetch_all()
        .await?;
    let checkpoints: Vec<Latest> = client
        .query(
            "SELECT partition, v AS version, r AS retained_from_ms FROM ( \
                 SELECT partition, max(version) AS v, argMax(retained_from_ms, version) AS r \
                 FROM checkpoints GROUP BY partition)",
        )
        .fetch_all()
        .await?;
    let intents: Vec<IntentMax> = client
        .query("SELECT partition, max(version) AS version FROM snapshot_intents GROUP BY partition")
        .fetch_all()
        .await?;
    let legacy: Vec<u64> = client
        .query(
            "SELECT max(v) FROM ( \
                 SELECT max(version) AS v, argMax(evicted, version) AS e, \
                        argMax(state_json, version) AS j \
                 FROM campaign_state GROUP BY partition, tenant_id, campaign_id) \
             WHERE e = 1 AND visitParamExtractInt(j, 'rewritten_at') = 0",
        )
        .fetch_all()
        .await?;
    let checkpointed: BTreeMap<i32, u64> = checkpoints
        .iter()
        .map(|c| (c.partition, c.version))
        .collect();
    let stale_tails = intents
        .iter()
        .filter(|i| {
            i.version > checkpointed.get(&i.partition).copied().unwrap_or(0)
                && clock_of(i.version) < now_ms - STALE_TAIL_MS
        })
        .map(|i| i.partition)
        .collect();
    Ok(Inputs {
        now_ms,
        horizon_ms,
        partitions: parts
            .into_iter()
            .map(|p| (p.table, p.partition_id))
            .collect(),
        retained_from: checkpoints
            .iter()
            .map(|c| (c.partition, c.retained_from_ms))
            .collect(),
        // max() of no rows is 0.
        newest_legacy_eviction_ms: legacy.first().copied().filter(|v| *v > 0).map(clock_of),
        stale_tails,
    })
}

/// Drop the months of `plan`: of each month the headers first, so that a
/// reload racing the job finds either a whole campaign or none (an evicted
/// campaign's rows are all of one version, hence of one month).
pub async fn apply(client: &Client, plan: &Plan) -> Result<(), clickhouse::error::Error> {
    let rank = |table: &str| {
        [
            "campaign_state",
            "journeys",
            "campaign_reports",
            "events_raw",
        ]
        .iter()
        .position(|t| *t == table)
        .unwrap_or(usize::MAX)
    };
    let mut drops: Vec<_> = plan.drops.iter().collect();
    drops.sort_by(|a, b| (&a.partition, rank(&a.table)).cmp(&(&b.partition, rank(&b.table))));
    for d in drops {
        // Partition ids of a toYYYYMM key are the month's number.
        let Ok(month) = d.partition.parse::<u32>() else {
            continue;
        };
        client
            .query(&format!("ALTER TABLE `{}` DROP PARTITION {month}", d.table))
            .execute()
            .await?;
        tracing::info!(table = %d.table, partition = %d.partition, "month dropped (retention)");
    }
    Ok(())
}

/// Plan with the wall clock and, unless `dry_run`, drop.
pub async fn run_once(
    client: &Client,
    horizon_ms: i64,
    dry_run: bool,
) -> Result<Plan, clickhouse::error::Error> {
    let now = chrono::Utc::now().timestamp_millis();
    let plan = crate::retention::plan(&inputs(client, now, horizon_ms).await?);
    for h in &plan.held {
        tracing::info!(table = %h.table, partition = %h.partition, reason = %h.reason, "month past the horizon kept");
    }
    if !dry_run {
        apply(client, &plan).await?;
    }
    Ok(plan)
}

/// The retention job of `processor run --retention-days`: now, then every
/// `period`. Every instance may run it: dropping a month twice is a no-op.
pub async fn every(client: Client, horizon_ms: i64, period: std::time::Duration) {
    loop {
        if let Err(e) = run_once(&client, horizon_ms, false).await {
            tracing::warn!(error = %e, "retention job failed; next try in an hour");
        }
        tokio::time::sleep(period).await;
    }
}
