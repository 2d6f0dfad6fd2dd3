//! Recovery: restart a processor whose latest checkpoint holds many
//! journeys and time until it consumes again; then again with history
//! behind the same live state (issue 11: a restore reads what is live, so
//! ten times the history may cost at most 1.2 times the restore).
//!
//! The live state alone is restarted `--repeat` times; then, per factor of
//! `--history` (say 1 and 10), history is injected until the database holds
//! that many times the live journeys in completed, evicted campaigns
//! (benches/src/e2e/history.rs: straight into ClickHouse, no Kafka), and the
//! processor is restarted `--repeat` times again.
//!
//! "Consuming again" is defined as: the restarted processor has read a
//! record that lies past its checkpoint. Before each restart one duplicate
//! record per partition is produced (it changes no figure), so the first
//! record the new process reads is such a record; "all partitions" is when
//! it has read all of them.

use std::time::{Duration, Instant};

use anyhow::Context;
use processor::clickhouse::ClickHouseStore;
use processor::store::Store;

use super::catchup::timeout_for;
use super::env::unique;
use super::figures::{self, Checked};
use super::fill::{fill_new_topics, Traffic};
use super::history::{self, History, Injected, TableRows};
use super::machine::load_average;
use super::processor::{LogLine, Processor, Spec};
use super::timing::{median, Run};
use super::topics::Topics;
use super::watch;
use super::{drop_database, say, Bench};

/// One restart.
#[derive(Debug, Clone)]
pub struct Restart {
    /// SIGTERM until the old process exited (its final snapshot).
    pub stop: f64,
    /// Spawn until the first record past the checkpoint was read.
    pub consuming: f64,
    /// Spawn until a record of every partition was read.
    pub all_partitions: f64,
    /// Spawn until the checkpoints covered the new records.
    pub caught_up: f64,
    /// Spawn until the migrations were checked ("schema up to date").
    pub startup: Option<f64>,
    /// Spawn until the partitions were assigned (after the topic check and
    /// the group join).
    pub assigned: Option<f64>,
    /// Assignment until the last partition was restored.
    pub restore: Option<f64>,
    /// Last partition restored until the first record was read.
    pub first_fetch: Option<f64>,
    /// Campaigns in memory after the restore (all partitions).
    pub campaigns: Option<u64>,
    pub load: String,
}

/// The restarts with one amount of history in the database.
#[derive(Debug)]
pub struct Level {
    /// History journeys as a multiple of the live ones (0: none).
    pub factor: u32,
    /// History campaigns and journeys in the database (completed, evicted).
    pub history: History,
    /// What this level added (`None` for the live state alone).
    pub injected: Option<Injected>,
    /// Seconds waited for ClickHouse's merges of the database to stop
    /// before the first restart, and whether they did.
    pub settle: (f64, bool),
    pub rows: TableRows,
    pub restarts: Vec<Restart>,
    /// The restore's store reads, run by pipeline-bench after the restarts.
    pub read: RestoreRead,
    /// Figures of the traffic's tenants after the restarts.
    pub checked: Checked,
}

impl Level {
    pub fn median(&self, f: impl Fn(&Restart) -> f64) -> f64 {
        median(self.restarts.iter().map(f))
    }

    pub fn median_opt(&self, f: impl Fn(&Restart) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.restarts.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    }

    /// Median restore (assigned → last partition restored).
    pub fn restore(&self) -> Option<f64> {
        self.median_opt(|x| x.restore)
    }
}

/// The store's share of a restore: the calls the engine makes for the
/// assigned partitions (`processor::store::Store` on ClickHouse), run by
/// pipeline-bench with nothing applied, each query logged in
/// `system.query_log`.
#[derive(Debug, Clone, Default)]
pub struct RestoreRead {
    /// `checkpoint` and `version_floor` of every partition, one after
    /// another.
    pub checkpoints_seconds: f64,
    /// `partition_rows` of each partition, one after another.
    pub rows_seconds: f64,
    pub live_campaigns: usize,
    pub users: u64,
    pub evicted: usize,
    /// `tail` of every partition, one after another.
    pub tail_seconds: f64,
    pub tail_events: usize,
    /// The queries of these calls as ClickHouse logged them.
    pub queries: Vec<LoggedQuery>,
}

/// One query of [`RestoreRead`] from `system.query_log`.
#[derive(Debug, Clone, Default, clickhouse::Row, serde::Deserialize)]
pub struct LoggedQuery {
    pub query_id: String,
    pub query_duration_ms: u64,
    pub read_rows: u64,
    pub read_bytes: u64,
    pub result_rows: u64,
    pub memory_usage: u64,
    pub query: String,
}

/// The outcome of the recovery scenario.
#[derive(Debug)]
pub struct Recovery {
    pub partitions: i32,
    pub records: u64,
    pub fill_command: String,
    /// Journeys of live campaigns after the first catch-up (what a restore
    /// loads).
    pub journeys: u64,
    /// Resident memory of the caught-up processor, MiB.
    pub rss_mib: f64,
    pub catchup: Run,
    pub checked_before: Checked,
    /// The live state alone (factor 0), then each history factor asked for.
    pub levels: Vec<Level>,
}

impl Recovery {
    /// The restarts with the live state alone.
    pub fn restarts(&self) -> &[Restart] {
        self.levels.first().map_or(&[], |l| &l.restarts)
    }

    /// Figures after the last restarts.
    pub fn checked_after(&self) -> Option<&Checked> {
        self.levels.last().map(|l| &l.checked)
    }

    /// The median restores of the first and the last level with history,
    /// and their ratio (issue 11: ≤ 1.2 from 1x to 10x).
    pub fn history_ratio(&self) -> Option<(&Level, &Level, f64)> {
        let with: Vec<&Level> = self.levels.iter().filter(|l| l.factor > 0).collect();
        let (first, last) = (with.first()?, with.last()?);
        if first.factor == last.factor {
            return None;
        }
        let ratio = last.restore()? / first.restore()?;
        Some((first, last, ratio))
    }
}

/// The history factors of `--history`: increasing, without 0 and repeats.
fn factors(asked: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = asked.iter().copied().filter(|f| *f > 0).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// How long to wait for ClickHouse's merges before a level's restarts.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);

pub async fn run(bench: &Bench) -> anyhow::Result<Recovery> {
    let (env, options) = (&bench.env, &bench.options);
    let traffic = Traffic::for_journeys(options.journeys)?;
    say(
        env,
        format!(
            "recovery: filling {} partitions for about {} journeys ({} users per job)",
            options.partitions, options.journeys, traffic.users
        ),
    );
    let (topics, filled) = fill_new_topics(
        env,
        "bench-recovery",
        options.partitions,
        &traffic,
        options.fill_options(),
    )
    .await?;
    let mut spec = Spec::fresh(&topics, &filled.expected, options.snapshot_interval_ms);
    // The same live state at every restart: a restored campaign counts as
    // idle in processing time (`Campaign::restore` leaves `changed_in`
    // unset), so with eviction on, the first snapshot after a restart drops
    // every completed campaign whose last event is older than a day, most
    // of this traffic (which ends in October 2026). The restore itself
    // reads evicted marks whatever this setting is.
    spec.evict_completed_after_seconds = Some(0);
    let server = env.clickhouse();
    let db = server.clone().with_database(&spec.database);
    let mut want = filled.records;
    let timeout = timeout_for(filled.total());
    say(
        env,
        format!("recovery: {} records; first catch-up", filled.total()),
    );
    let mut p = spec.spawn(env)?;
    let catchup = watch::caught_up(
        &mut p,
        &db,
        want,
        filled.total(),
        timeout,
        "recovery catch-up",
        env.quiet,
    )
    .await?;
    let rss_mib = p.rss_mib();
    let journeys = live_journeys(&db).await?;
    let checked_before =
        figures::check_except(&db, &filled.expected, Some(history::TENANT)).await?;
    say(
        env,
        format!(
            "recovery: caught up at {:.0} records/s, {journeys} live journeys checkpointed, {:.0} MiB resident; {}",
            catchup.rate(),
            rss_mib,
            checked_before.summary()
        ),
    );
    let repeat = options.repeat.max(1);
    let mut levels = Vec::new();
    let mut history = History::default();
    for factor in std::iter::once(0).chain(factors(&options.history)) {
        let mut injected = None;
        let mut settle = (0.0, true);
        let mut restarts = Vec::new();
        for i in 1..=repeat {
            let stop = p.stop().await?;
            if i == 1 {
                if factor > 0 {
                    // As many history journeys as live ones, times the factor.
                    let target = journeys.saturating_mul(u64::from(factor));
                    let campaigns = target.div_ceil(history::USERS_PER_CAMPAIGN).max(1);
                    say(
                        env,
                        format!(
                            "recovery: injecting history up to {factor}x: campaigns {}..{campaigns} of tenant {} ({} journeys each)",
                            history.campaigns,
                            history::TENANT,
                            history::USERS_PER_CAMPAIGN
                        ),
                    );
                    let added = history::inject(
                        &db,
                        &topics,
                        options.partitions,
                        history.campaigns,
                        campaigns,
                    )
                    .await?;
                    history.campaigns = history.campaigns.max(campaigns);
                    say(
                        env,
                        format!(
                            "recovery: {} history journeys and {} raw events injected in {:.1} s",
                            added.journeys, added.raw_events, added.seconds
                        ),
                    );
                    injected = Some(added);
                }
                settle = history::settle_merges(&server, &spec.database, SETTLE_LIMIT).await;
                say(
                    env,
                    format!(
                        "recovery: merges {} after {:.1} s",
                        if settle.1 { "settled" } else { "still running" },
                        settle.0
                    ),
                );
            }
            let added = topics.duplicate_first_interactions(env).await?;
            want[2] += added;
            let load = load_average();
            p = spec.spawn(env)?;
            let run = watch::caught_up(
                &mut p,
                &db,
                want,
                added,
                timeout,
                &format!("restart {i} ({factor}x history)"),
                env.quiet,
            )
            .await?;
            let restart = split(&p, &run, stop, load)?;
            say(
                env,
                format!(
                    "recovery {factor}x history, {i}/{repeat}: consuming again after {:.2} s (all partitions {:.2} s; restore {:.2} s, {} campaigns)",
                    restart.consuming,
                    restart.all_partitions,
                    restart.restore.unwrap_or(f64::NAN),
                    restart.campaigns.map_or("?".to_owned(), |n| n.to_string()),
                ),
            );
            restarts.push(restart);
        }
        let rows = history::table_rows(&db, &spec.database).await?;
        let read = read_like_restore(&db, &topics, options.partitions).await?;
        say(
            env,
            format!(
                "recovery {factor}x history: events_raw {} rows, journeys {} rows ({} live); store reads: partition_rows {:.2} s ({} live campaigns, {} users, {} evicted), tails {:.2} s",
                rows.events_raw,
                rows.journeys,
                rows.live_journeys,
                read.rows_seconds,
                read.live_campaigns,
                read.users,
                read.evicted,
                read.tail_seconds
            ),
        );
        let checked = figures::check_except(&db, &filled.expected, Some(history::TENANT)).await?;
        say(
            env,
            format!("recovery {factor}x history: {}", checked.summary()),
        );
        levels.push(Level {
            factor,
            history,
            injected,
            settle,
            rows,
            restarts,
            read,
            checked,
        });
    }
    p.stop().await?;
    for shown in checked_before
        .shown
        .iter()
        .chain(levels.iter().flat_map(|l| &l.checked.shown))
    {
        say(env, format!("recovery: {shown}"));
    }
    if !options.keep {
        drop_database(env, &spec.database).await;
    }
    if options.delete_topics() {
        topics.delete(env).await;
    }
    Ok(Recovery {
        partitions: options.partitions,
        records: filled.total(),
        fill_command: filled.command,
        journeys,
        rss_mib,
        catchup,
        checked_before,
        levels,
    })
}

/// Make the store calls of the processor's restore of every partition
/// (`processor::store::Store` on ClickHouse, as `Engine::assign` and
/// `restore_from_state` make them: checkpoint and version floor per
/// partition, `partition_rows` once for all, then `tail` per partition),
/// nothing applied; each query logged in `system.query_log`.
async fn read_like_restore(
    db: &clickhouse::Client,
    topics: &Topics,
    partitions: i32,
) -> anyhow::Result<RestoreRead> {
    let tag = unique("restore-read");
    let client = |phase: &str| {
        db.clone()
            .with_setting("log_queries", "1")
            .with_setting("query_id", format!("{tag}-{phase}"))
    };
    let all: Vec<i32> = (0..partitions).collect();
    let mut read = RestoreRead::default();

    let started = Instant::now();
    let mut checkpoints = Vec::new();
    for &p in &all {
        let store = ClickHouseStore::new(client(&format!("checkpoint-{p}")));
        let checkpoint = store
            .checkpoint(p)
            .await
            .with_context(|| format!("read the checkpoint of partition {p}"))?;
        let store = ClickHouseStore::new(client(&format!("floor-{p}")));
        store
            .version_floor(p)
            .await
            .with_context(|| format!("read the version floor of partition {p}"))?;
        checkpoints.push((p, checkpoint));
    }
    read.checkpoints_seconds = started.elapsed().as_secs_f64();

    // One partition at a time, each with a query id of its own (the
    // processor reads groups of partitions concurrently; ClickHouse wants
    // the ids of concurrent queries distinct).
    let started = Instant::now();
    for &p in &all {
        let rows = ClickHouseStore::new(client(&format!("partition-rows-{p}")))
            .partition_rows(&[p])
            .await
            .with_context(|| format!("read the state rows of partition {p}"))?;
        read.live_campaigns += rows.live.len();
        read.users += rows.live.iter().map(|c| c.users.len() as u64).sum::<u64>();
        read.evicted += rows.evicted.len();
    }
    read.rows_seconds = started.elapsed().as_secs_f64();

    let names = [
        topics.lifecycle.clone(),
        topics.notifications.clone(),
        topics.interactions.clone(),
    ];
    let started = Instant::now();
    for (p, checkpoint) in &checkpoints {
        let tail = ClickHouseStore::new(client(&format!("tail-{p}")))
            .tail(*p, checkpoint.as_ref(), &names)
            .await
            .with_context(|| format!("read the tail of partition {p}"))?;
        read.tail_events += tail.len();
    }
    read.tail_seconds = started.elapsed().as_secs_f64();

    // The log is written asynchronously: flush it, then read this run's.
    db.query("SYSTEM FLUSH LOGS")
        .execute()
        .await
        .context("flush the query log")?;
    read.queries = db
        .query(
            "SELECT query_id, query_duration_ms, read_rows, read_bytes, result_rows, \
               memory_usage, query \
             FROM system.query_log \
             WHERE type = 2 AND event_date >= yesterday() AND startsWith(query_id, ?) \
             ORDER BY query_start_time, query_id",
        )
        .bind(tag.as_str())
        .fetch_all()
        .await
        .context("read the query log")?;
    Ok(read)
}

/// Journeys of live (not evicted) campaigns: distinct keys of `journeys`
/// (the current row of a key is the greatest version).
async fn live_journeys(db: &clickhouse::Client) -> anyhow::Result<u64> {
    db.query(
        "SELECT count() FROM ( \
           SELECT DISTINCT tenant_id, campaign_id, job_id, user_id FROM journeys \
           WHERE (tenant_id, campaign_id) IN ( \
             SELECT tenant_id, campaign_id FROM campaign_state \
             GROUP BY tenant_id, campaign_id HAVING argMax(evicted, version) = 0))",
    )
    .fetch_one::<u64>()
    .await
    .context("count live journeys")
}

/// The restart's phases, from the metrics watch and the processor's log.
fn split(p: &Processor, run: &Run, stop: Duration, load: String) -> anyhow::Result<Restart> {
    let lines = p.log_lines()?;
    let since_spawn = |l: &LogLine| {
        (l.at - p.spawned_wall)
            .to_std()
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let at = |message: &str| lines.iter().find(|l| l.message == message).map(since_spawn);
    let restored: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.message == "partition restored")
        .collect();
    let last_restored = restored.iter().map(|l| since_spawn(l)).reduce(f64::max);
    let assigned = at("partitions assigned; restoring their state");
    let campaigns = restored
        .iter()
        .map(|l| {
            l.fields
                .get("campaigns")
                .and_then(serde_json::Value::as_u64)
        })
        .sum::<Option<u64>>()
        .filter(|_| !restored.is_empty());
    let secs = |i: Instant| i.duration_since(run.started).as_secs_f64();
    let consuming = secs(run.first_record);
    Ok(Restart {
        stop: stop.as_secs_f64(),
        consuming,
        all_partitions: secs(run.consumed),
        caught_up: secs(run.done),
        startup: at("schema up to date"),
        assigned,
        restore: assigned.zip(last_restored).map(|(a, r)| r - a),
        first_fetch: last_restored.map(|r| consuming - r),
        campaigns,
        load,
    })
}
