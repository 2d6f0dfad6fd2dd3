//! Watching a processor catch up: its /metrics for records consumed, its
//! checkpoints in ClickHouse for records covered.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::processor::Processor;
use super::timing::{per_second, Run};

/// How often the metrics port and the checkpoints are read.
const POLL: Duration = Duration::from_millis(100);
/// A progress line at most this often.
const PROGRESS: Duration = Duration::from_secs(5);

/// Records per input topic covered by the latest checkpoint of every
/// partition (offsets are contiguous from 0, so the next offsets add up
/// to the records covered). Zero before the processor made the table.
pub async fn checkpointed(db: &clickhouse::Client) -> [u64; 3] {
    let sums = db
        .query(
            "SELECT sum(greatest(l, 0)), sum(greatest(n, 0)), sum(greatest(i, 0)) \
             FROM (SELECT argMax(lifecycle_offset, version) AS l, \
                          argMax(notifications_offset, version) AS n, \
                          argMax(interactions_offset, version) AS i \
                   FROM checkpoints GROUP BY partition)",
        )
        .fetch_one::<(i64, i64, i64)>()
        .await
        .unwrap_or_default();
    [sums.0, sums.1, sums.2].map(|s| u64::try_from(s).unwrap_or(0))
}

/// Wait until the checkpoints cover `want` records per topic, noting when
/// the processor consumed its first and its `consume`-th record (counted
/// from its start). Fails when the processor dies or after `timeout`.
pub async fn caught_up(
    p: &mut Processor,
    db: &clickhouse::Client,
    want: [u64; 3],
    consume: u64,
    timeout: Duration,
    label: &str,
    quiet: bool,
) -> anyhow::Result<Run> {
    let (mut first, mut consumed) = (None, None);
    let (mut last_progress, mut last_read) = (Instant::now(), Instant::now());
    let mut before_first = p.spawned;
    let mut have = [0u64; 3];
    loop {
        p.check_running()?;
        let now = Instant::now();
        let scrape = p.scrape().await.unwrap_or_default();
        // The first record came after the last scrape that saw none: input
        // read whole between two scrapes still has a window, not zero
        // seconds.
        if scrape.consumed == 0 {
            before_first = now;
        } else {
            first.get_or_insert(before_first);
        }
        if scrape.consumed >= consume {
            consumed.get_or_insert(now);
        }
        // Every poll once everything is read, else once a second.
        if consumed.is_some() || now.duration_since(last_read) >= Duration::from_secs(1) {
            have = checkpointed(db).await;
            last_read = now;
        }
        if have.iter().zip(&want).all(|(h, w)| h >= w) {
            let done = Instant::now();
            let cpu = p.cpu();
            return Ok(Run {
                records: consume,
                started: p.spawned,
                first_record: first.unwrap_or(done),
                consumed: consumed.unwrap_or(done),
                done,
                cpu,
            });
        }
        if p.spawned.elapsed() > timeout {
            bail!(
                "{label}: not caught up after {timeout:?}: checkpointed {have:?} of {want:?} \
                 records per topic; log: {}",
                p.log.display()
            );
        }
        if !quiet && now.duration_since(last_progress) >= PROGRESS {
            let since = first.map_or(Duration::ZERO, |f| now.duration_since(f));
            eprintln!(
                "pipeline-bench: {label}: consumed {}/{consume} ({:.0} records/s), checkpointed {}",
                scrape.consumed,
                per_second(scrape.consumed, since),
                have.iter().sum::<u64>()
            );
            last_progress = now;
        }
        tokio::time::sleep(POLL).await;
    }
}
