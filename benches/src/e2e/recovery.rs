//! Recovery: restart a processor whose latest checkpoint holds many
//! journeys and time until it consumes again.
//!
//! "Consuming again" is defined as: the restarted processor has read a
//! record that lies past its checkpoint. Before each restart one duplicate
//! record per partition is produced (it changes no figure), so the first
//! record the new process reads is such a record; "all partitions" is when
//! it has read all of them.

use std::time::{Duration, Instant};

use anyhow::Context;
use processor::clickhouse::ClickHouseStore;
use processor::store::{RawEvent, Store};

use super::catchup::timeout_for;
use super::figures::{self, Checked};
use super::fill::{fill_new_topics, Traffic};
use super::machine::load_average;
use super::processor::{LogLine, Processor, Spec};
use super::timing::{median, Run};
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
    pub load: String,
}

/// The outcome of the recovery scenario.
#[derive(Debug)]
pub struct Recovery {
    pub partitions: i32,
    pub records: u64,
    pub fill_command: String,
    /// Journeys visible as of the latest checkpoint before the restarts.
    pub journeys: u64,
    /// Resident memory of the caught-up processor, MiB.
    pub rss_mib: f64,
    pub catchup: Run,
    pub checked_before: Checked,
    pub restarts: Vec<Restart>,
    pub checked_after: Checked,
    /// The processor's restore query run by this process for every
    /// partition, rows read and converted but not applied: (rows, seconds).
    pub restore_read: (u64, f64),
}

impl Recovery {
    pub fn median(&self, f: impl Fn(&Restart) -> f64) -> f64 {
        median(self.restarts.iter().map(f))
    }

    pub fn median_opt(&self, f: impl Fn(&Restart) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.restarts.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    }
}

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
    let spec = Spec::fresh(&topics, &filled.expected, options.snapshot_interval_ms);
    let db = env.clickhouse().with_database(&spec.database);
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
    let journeys = checkpointed_journeys(&db).await?;
    let checked_before = figures::check(&db, &filled.expected).await?;
    say(
        env,
        format!(
            "recovery: caught up at {:.0} records/s, {journeys} journeys checkpointed, {:.0} MiB resident; {}",
            catchup.rate(),
            rss_mib,
            checked_before.summary()
        ),
    );
    let mut restarts = Vec::new();
    for i in 1..=options.repeat.max(1) {
        let load = load_average();
        let stop = p.stop().await?;
        let added = topics.duplicate_first_interactions(env).await?;
        want[2] += added;
        p = spec.spawn(env)?;
        let run = watch::caught_up(
            &mut p,
            &db,
            want,
            added,
            timeout,
            &format!("restart {i}"),
            env.quiet,
        )
        .await?;
        let restart = split(&p, &run, stop, load)?;
        say(
            env,
            format!(
                "recovery {i}/{}: consuming again after {:.2} s (all partitions {:.2} s; restore {:.2} s)",
                options.repeat.max(1),
                restart.consuming,
                restart.all_partitions,
                restart.restore.unwrap_or(f64::NAN),
            ),
        );
        restarts.push(restart);
    }
    p.stop().await?;
    let restore_read = read_like_restore(&db, options.partitions).await?;
    let checked_after = figures::check(&db, &filled.expected).await?;
    for shown in checked_before.shown.iter().chain(&checked_after.shown) {
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
        restarts,
        checked_after,
        restore_read,
    })
}

/// Run the processor's restore read (`ClickHouseStore::raw_events`: one
/// read of every raw event of the partitions, converted to events) without
/// applying anything: the store's share of a restore.
async fn read_like_restore(db: &clickhouse::Client, partitions: i32) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let store = ClickHouseStore::new(db.clone());
    let all: Vec<i32> = (0..partitions).collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RawEvent>>(8);
    let count = tokio::spawn(async move {
        let mut rows = 0u64;
        while let Some(batch) = rx.recv().await {
            rows += batch.len() as u64;
        }
        rows
    });
    store
        .raw_events(&all, tx)
        .await
        .context("read raw events")?;
    let rows = count.await.context("count raw events")?;
    Ok((rows, started.elapsed().as_secs_f64()))
}

/// Journeys visible as of the latest checkpoints.
async fn checkpointed_journeys(db: &clickhouse::Client) -> anyhow::Result<u64> {
    db.query(
        "SELECT count() FROM ( \
           SELECT tenant_id, campaign_id, job_id, user_id FROM journeys \
           ANY INNER JOIN (SELECT partition, max(version) AS committed \
                           FROM checkpoints GROUP BY partition) USING partition \
           WHERE version <= committed \
           GROUP BY tenant_id, campaign_id, job_id, user_id)",
    )
    .fetch_one::<u64>()
    .await
    .context("count checkpointed journeys")
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
        load,
    })
}
