//! The reference: a bare rdkafka consumer that only reads the same topics,
//! with the processor's fetch settings, counting records until it has
//! every record loadgen produced.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::cpu::CpuSeconds;
use super::env::{unique, Env};
use super::timing::Run;
use super::topics::Topics;

/// Give up when no record arrived for this long.
const STALL: Duration = Duration::from_secs(60);

/// Read every partition of the three input topics from the beginning until
/// `records[t]` records of topic `t` arrived. (The end condition is
/// loadgen's count, not the high watermark: tansu's memory storage reports
/// wrong watermarks.)
pub async fn read_all(env: &Env, topics: &Topics, records: [u64; 3]) -> anyhow::Result<Run> {
    let (brokers, topics) = (env.brokers.clone(), topics.clone());
    tokio::task::spawn_blocking(move || read_blocking(&brokers, &topics, records)).await?
}

fn read_blocking(brokers: &str, topics: &Topics, want: [u64; 3]) -> anyhow::Result<Run> {
    let started = Instant::now();
    let cpu_start = CpuSeconds::now(Some(std::process::id()));
    // The processor's fetch and queue settings (processor/src/kafka/config.rs).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("bench-bare"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "16384")
        .create()
        .context("bare consumer")?;
    let mut tpl = TopicPartitionList::new();
    for topic in topics.inputs() {
        for p in 0..topics.partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .context("partition list")?;
        }
    }
    consumer.assign(&tpl).context("assign")?;
    let names = topics.inputs().map(str::to_owned);
    let mut have = [0u64; 3];
    let mut bytes = 0usize;
    let (mut first, mut last) = (None, Instant::now());
    while have.iter().zip(&want).any(|(h, w)| h < w) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
                if let Some(t) = names.iter().position(|n| n == m.topic()) {
                    have[t] += 1;
                }
                bytes += m.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(e)) => bail!("bare consumer: {e}"),
            None if last.elapsed() > STALL => {
                bail!("bare consumer stalled: {have:?} of {want:?} records per topic")
            }
            None => {}
        }
    }
    let done = Instant::now();
    debug_assert!(bytes > 0 || want.iter().sum::<u64>() == 0);
    Ok(Run {
        records: have.iter().sum(),
        started,
        first_record: first.unwrap_or(done),
        consumed: done,
        done,
        cpu: CpuSeconds::now(Some(std::process::id())).since(&cpu_start),
    })
}
