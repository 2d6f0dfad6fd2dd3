//! The dlq scenario: a burst of poison records (as from a producer deployed
//! with a wrong schema) behind good records. Per repeat, on new topics:
//!
//! 1. loadgen's traffic (good records and its few poison records); the bare
//!    consumer reads it, then the processor catches up from the beginning
//!    (fresh database) and is stopped: the consumer's rate.
//! 2. `--dlq-poison` poison records (loadgen's kinds of poison, keyed by
//!    the traffic's campaigns) are produced to the input topics at once;
//!    a new processor resumes from the checkpoint and reads only them: the
//!    dead-letter rate, from its `processor_dead_lettered_total` (records
//!    the broker acknowledged), sampled every 100 ms.
//!
//! Checked: the figures (poison changes none), and that the dead-letter
//! topic holds every poison record (by source topic and key) and nothing
//! else. (A burst at the head of the partitions would not do: the consumer
//! does not read the partitions in step, so good records would share the
//! dead letters' window.)

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use processor::kafka::dlq;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schemas::{Codec, EventKind};

use super::bare;
use super::catchup::timeout_for;
use super::env::{unique, Env};
use super::figures::{self, Checked};
use super::fill::{fill_new_topics, Filled, Traffic};
use super::machine::load_average;
use super::processor::{Processor, Spec};
use super::timing::{median, per_second, Run};
use super::topics::Topics;
use super::watch::{self, checkpointed};
use super::{drop_database, say, Bench};
use crate::loadgen::poison::{self, PoisonRecord};

/// How often the processor's metrics are sampled.
const POLL: Duration = Duration::from_millis(50);

/// The target: dead letters per second at least this share of the records
/// the processor reads per second.
pub const TARGET: f64 = 0.5;

/// One repeat.
#[derive(Debug)]
pub struct Repeat {
    pub records: u64,
    pub fill_command: String,
    /// The bare consumer on the traffic (before the burst).
    pub bare: Run,
    /// The processor's catch-up on the traffic.
    pub catchup: Run,
    pub burst: Burst,
    pub topic: DeadLetterTopic,
    pub checked: Checked,
    pub load: String,
}

/// The burst and the processor that dead-letters it.
#[derive(Debug)]
pub struct Burst {
    pub poison: u64,
    /// Producing it (not measured).
    pub produce_seconds: f64,
    /// Spawn → checkpoints cover the burst.
    pub processor: Run,
    /// The first dead letter's enqueue (its timestamp on the dead-letter
    /// topic) and the first sample with all of them acknowledged (at most
    /// one sampling period late).
    pub from: Instant,
    pub to: Instant,
    /// `processor_dead_lettered_total` when caught up.
    pub dead_lettered: u64,
}

impl Repeat {
    /// Records per second the processor read in its catch-up, first record
    /// → last.
    pub fn consumer_rate(&self) -> f64 {
        let c = &self.catchup;
        per_second(c.records, c.consumed - c.first_record)
    }

    /// Dead letters acknowledged per second over their window.
    pub fn dead_letter_rate(&self) -> f64 {
        per_second(self.burst.dead_lettered, self.burst.to - self.burst.from)
    }

    /// Dead-letter rate over the processor's read rate.
    pub fn ratio(&self) -> f64 {
        self.dead_letter_rate() / self.consumer_rate().max(f64::MIN_POSITIVE)
    }

    /// Dead-letter rate over the bare consumer's rate.
    pub fn bare_ratio(&self) -> f64 {
        self.dead_letter_rate() / self.bare.rate().max(f64::MIN_POSITIVE)
    }

    pub fn window_seconds(&self) -> f64 {
        (self.burst.to - self.burst.from).as_secs_f64()
    }

    /// Exact figures and every poison record on the dead-letter topic,
    /// nothing else.
    pub fn ok(&self) -> bool {
        self.checked.exact() && self.topic.complete()
    }
}

/// What the dead-letter topic holds after a repeat, against the poison
/// records produced (matched by source topic and key).
#[derive(Debug, Default, Clone)]
pub struct DeadLetterTopic {
    pub records: u64,
    /// Poison records without a dead letter.
    pub missing: u64,
    /// Dead letters of no poison record.
    pub unexpected: u64,
    /// Dead letters of a source offset already seen (allowed after a
    /// crash; none expected here).
    pub duplicates: u64,
    /// Dead letters without the source headers.
    pub without_headers: u64,
    /// The first timestamp (the processor's enqueue time, ms) at or after
    /// the `since` of [`read_dead_letters`].
    pub first_since_ms: Option<i64>,
}

impl DeadLetterTopic {
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.unexpected == 0 && self.without_headers == 0
    }

    pub fn summary(&self) -> String {
        if self.complete() {
            format!(
                "{} dead letters, every poison record ({} duplicates)",
                self.records, self.duplicates
            )
        } else {
            format!(
                "{} dead letters: {} poison MISSING, {} UNEXPECTED, {} without headers",
                self.records, self.missing, self.unexpected, self.without_headers
            )
        }
    }
}

/// The outcome of the scenario.
#[derive(Debug)]
pub struct Dlq {
    pub partitions: i32,
    pub poison: u64,
    pub repeats: Vec<Repeat>,
}

impl Dlq {
    pub fn consumer_rate(&self) -> f64 {
        median(self.repeats.iter().map(Repeat::consumer_rate))
    }

    pub fn dead_letter_rate(&self) -> f64 {
        median(self.repeats.iter().map(Repeat::dead_letter_rate))
    }

    /// The median of the per-repeat ratios.
    pub fn ratio(&self) -> f64 {
        median(self.repeats.iter().map(Repeat::ratio))
    }

    pub fn all_ok(&self) -> bool {
        self.repeats.iter().all(Repeat::ok)
    }

    /// The section of RESULTS.md.
    pub fn markdown(&self, s: &mut String) {
        let met = if self.ratio() >= TARGET {
            "met"
        } else {
            "**not met**"
        };
        let records = self.repeats.first().map_or(0, |r| r.records);
        let _ = writeln!(
            s,
            "#### Dead letters: a burst of {} poison records behind {} records on {} partitions \
             (target: dead letters/s ≥ {:.0} % of the records/s the processor reads): {met}\n",
            self.poison,
            records,
            self.partitions,
            TARGET * 100.0
        );
        if let Some(r) = self.repeats.first() {
            let _ = writeln!(s, "Traffic: `{}`, then the burst.\n", r.fill_command);
        }
        let _ = writeln!(
            s,
            "Processor reads: its catch-up on the traffic, `processor_records_consumed_total` \
             from the first record to the last. Dead letters: a new processor resumes from \
             that checkpoint and reads the burst; its `processor_dead_lettered_total` \
             (acknowledged by the broker), sampled every {} ms, from the first dead letter's \
             timestamp on the dead-letter topic (its enqueue) to the first sample with all of \
             them. Bare consumer: as in the catch-up scenario, \
             on the traffic. Same run, same topics.\n",
            POLL.as_millis()
        );
        let _ = writeln!(
            s,
            "| repeat | processor reads | dead letters | **ratio** | window | bare consumer | dead letters / bare | burst: spawn → checkpointed | dead-letter topic | figures | load |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for (i, r) in self.repeats.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | **{:.2}** | {:.2} s | {} | {:.2} | {:.1} s | {} | {} | {} |",
                i + 1,
                rate(r.consumer_rate()),
                rate(r.dead_letter_rate()),
                r.ratio(),
                r.window_seconds(),
                rate(r.bare.rate()),
                r.bare_ratio(),
                (r.burst.processor.done - r.burst.processor.started).as_secs_f64(),
                r.topic.summary(),
                r.checked.summary(),
                r.load
            );
        }
        let _ = writeln!(
            s,
            "| **median** | **{}** | **{}** | **{:.2}** | | | | | {} | | |\n",
            rate(self.consumer_rate()),
            rate(self.dead_letter_rate()),
            self.ratio(),
            if self.all_ok() {
                "all complete, exact"
            } else {
                "NOT COMPLETE OR NOT EXACT"
            }
        );
    }
}

fn rate(per_second: f64) -> String {
    format!("{:.1} k/s", per_second / 1000.0)
}

/// Run the scenario: about `events` records of traffic, then a burst of
/// `poison` poison records.
pub async fn run(bench: &Bench, events: u64, poison: u32) -> anyhow::Result<Dlq> {
    let partitions = bench.options.partitions;
    let repeats = bench.options.repeats_for(events, false);
    let traffic = Traffic::for_records(events)?;
    let mut out = Dlq {
        partitions,
        poison: u64::from(poison),
        repeats: Vec::new(),
    };
    for i in 1..=repeats {
        let label = format!("dlq {i}/{repeats}");
        let r = one_repeat(bench, &label, &traffic, poison).await?;
        say(
            &bench.env,
            format!(
                "{label}: processor read {:.0}/s, dead letters {:.0}/s, ratio {:.2} (bare {:.0}/s); \
                 {}; {}",
                r.consumer_rate(),
                r.dead_letter_rate(),
                r.ratio(),
                r.bare.rate(),
                r.topic.summary(),
                r.checked.summary()
            ),
        );
        out.repeats.push(r);
    }
    Ok(out)
}

async fn one_repeat(
    bench: &Bench,
    label: &str,
    traffic: &Traffic,
    poison: u32,
) -> anyhow::Result<Repeat> {
    let env = &bench.env;
    let partitions = bench.options.partitions;
    say(
        env,
        format!(
            "{label}: filling {partitions} partitions ({} users per job)",
            traffic.users
        ),
    );
    let (topics, filled) = fill_new_topics(
        env,
        "bench-dlq",
        partitions,
        traffic,
        bench.options.fill_options(),
    )
    .await?;
    let measured = measure(bench, label, traffic, poison, &topics, &filled).await;
    // The topics go also after a failure; a failed repeat's database stays
    // for the post-mortem.
    if bench.options.delete_topics() {
        topics.delete(env).await;
    }
    measured
}

async fn measure(
    bench: &Bench,
    label: &str,
    traffic: &Traffic,
    poison: u32,
    topics: &Topics,
    filled: &Filled,
) -> anyhow::Result<Repeat> {
    let env = &bench.env;
    let load = load_average();
    let bare = bare::read_all(env, topics, filled.records).await?;
    let spec = Spec::fresh(topics, &filled.expected, bench.options.snapshot_interval_ms);
    let db = env.clickhouse().with_database(&spec.database);

    // 1. The processor's catch-up on the traffic.
    let mut p = spec.spawn(env)?;
    let catchup = watch::caught_up(
        &mut p,
        &db,
        filled.records,
        filled.total(),
        timeout_for(filled.total()),
        label,
        env.quiet,
    )
    .await;
    p.stop().await?;
    let catchup = catchup?;

    // 2. The burst, read by a new processor from the checkpoint.
    let records = generate(traffic, poison)?;
    let started = Instant::now();
    let burst_per_topic = produce(env, topics, &records).await?;
    let produce_seconds = started.elapsed().as_secs_f64();
    say(
        env,
        format!(
            "{label}: a burst of {} poison records produced in {produce_seconds:.1} s",
            records.len()
        ),
    );
    let want: [u64; 3] = std::array::from_fn(|t| filled.records[t] + burst_per_topic[t]);
    let mut p = spec.spawn(env)?;
    let (spawned, since_ms) = (p.spawned, p.spawned_wall.timestamp_millis());
    let watched = watch_burst(&mut p, &db, want, records.len() as u64, label, env.quiet).await;
    p.stop().await?;
    let (processor, no_dead_letter_yet, to, dead_lettered) = watched?;

    let checked = figures::check(&db, &filled.expected).await?;
    for shown in &checked.shown {
        say(env, format!("{label}: {shown}"));
    }
    let topic_of = |kind: EventKind| topics.inputs()[kind_index(kind)].to_owned();
    let expected: Vec<(String, String)> = filled
        .expected
        .poison
        .iter()
        .map(|p| (p.topic.clone(), p.key.clone()))
        .chain(records.iter().map(|r| (topic_of(r.kind), r.key.clone())))
        .collect();
    let (brokers, name, partitions) = (env.brokers.clone(), topics.dlq.clone(), topics.partitions);
    let topic = tokio::task::spawn_blocking(move || {
        read_dead_letters(&brokers, &name, partitions, &expected, since_ms)
    })
    .await??;
    // The window opens with the first dead letter's enqueue (its timestamp
    // on the topic, the same clock as `since_ms`), else with the last
    // sample before the first acknowledgement.
    let from = topic
        .first_since_ms
        .and_then(|ms| u64::try_from(ms - since_ms).ok())
        .map(|ms| spawned + Duration::from_millis(ms))
        // The two clocks (wall for the topic's timestamps, monotonic for the
        // samples) may disagree by a millisecond: a window that would close
        // before it opens falls back to the last sample without a dead letter.
        .filter(|from| *from < to)
        .unwrap_or(no_dead_letter_yet);
    if !bench.options.keep {
        drop_database(env, &spec.database).await;
    }
    Ok(Repeat {
        records: filled.total(),
        fill_command: filled.command.clone(),
        bare,
        catchup,
        burst: Burst {
            poison: records.len() as u64,
            produce_seconds,
            processor,
            from,
            to,
            dead_lettered,
        },
        topic,
        checked,
        load,
    })
}

fn kind_index(kind: EventKind) -> usize {
    match kind {
        EventKind::Lifecycle => 0,
        EventKind::Notification => 1,
        EventKind::Interaction => 2,
    }
}

/// `n` poison records of loadgen's kinds, keyed by the traffic's campaigns.
fn generate(traffic: &Traffic, n: u32) -> anyhow::Result<Vec<PoisonRecord>> {
    let generated = crate::loadgen::traffic::generate(&traffic.gen_config());
    let mut rng = ChaCha8Rng::seed_from_u64(traffic.seed ^ 0xdead);
    Ok(poison::generate(&mut rng, n, &generated, &Codec::new()?)?)
}

/// Produce the burst to the input topics (each record to its kind's
/// topic, keyed by its campaign); returns the records per input topic.
async fn produce(env: &Env, topics: &Topics, records: &[PoisonRecord]) -> anyhow::Result<[u64; 3]> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &env.brokers)
        .set("linger.ms", "100")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("partitioner", "murmur2_random")
        .create()
        .context("burst producer")?;
    let names = topics.inputs();
    let mut per_topic = [0u64; 3];
    let mut deliveries = Vec::with_capacity(records.len());
    for r in records {
        let t = kind_index(r.kind);
        per_topic[t] += 1;
        let record = FutureRecord::to(names[t]).key(&r.key).payload(&r.payload);
        let delivery = producer
            .send_result(record)
            .map_err(|(e, _)| e)
            .context("enqueue a poison record")?;
        deliveries.push(delivery);
    }
    for d in deliveries {
        match d.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => bail!("produce a poison record: {e}"),
            Err(_) => bail!("produce a poison record: the producer went away"),
        }
    }
    Ok(per_topic)
}

/// Sample the processor's metrics until its checkpoints cover `want`
/// records per topic and it has acknowledged `poison` dead letters;
/// returns its run and the dead letters' window.
async fn watch_burst(
    p: &mut Processor,
    db: &clickhouse::Client,
    want: [u64; 3],
    poison: u64,
    label: &str,
    quiet: bool,
) -> anyhow::Result<(Run, Instant, Instant, u64)> {
    let timeout = timeout_for(poison * 10);
    let (mut first, mut consumed) = (None, None);
    let mut none_yet = p.spawned;
    let mut before_first = p.spawned;
    let mut all = None;
    let mut last_progress = Instant::now();
    let mut have = [0u64; 3];
    let mut dead_lettered = 0;
    let mut covered_at: Option<Instant> = None;
    loop {
        p.check_running()?;
        let now = Instant::now();
        let scrape = p.scrape().await.unwrap_or_default();
        // The first record came after the last scrape that saw none (as
        // for the dead letters below): a burst read between two scrapes
        // still has a window, not zero seconds.
        if scrape.consumed == 0 {
            before_first = now;
        } else {
            first.get_or_insert(before_first);
        }
        if scrape.consumed >= poison {
            consumed.get_or_insert(now);
        }
        dead_lettered = dead_lettered.max(scrape.dead_lettered);
        if dead_lettered == 0 {
            none_yet = now;
        }
        if dead_lettered >= poison {
            all.get_or_insert(now);
            have = checkpointed(db).await;
        }
        let covered = have.iter().zip(&want).all(|(h, w)| h >= w);
        if let (true, Some(all)) = (covered, all) {
            let done = Instant::now();
            let run = Run {
                records: poison,
                started: p.spawned,
                first_record: first.unwrap_or(done),
                consumed: consumed.unwrap_or(done),
                done,
                cpu: p.cpu(),
            };
            return Ok((run, none_yet, all, dead_lettered));
        }
        // Every dead letter acknowledged and the checkpoints still short:
        // give the next snapshot time, then fail.
        if all.is_none() {
            covered_at = None;
        } else if covered_at.get_or_insert(now).elapsed() > Duration::from_secs(30) {
            bail!(
                "{label}: {dead_lettered} dead letters acknowledged but the checkpoints cover \
                 {have:?} of {want:?} records per topic; log: {}",
                p.log.display()
            );
        }
        if p.spawned.elapsed() > timeout {
            bail!(
                "{label}: not caught up with the burst after {timeout:?}: {dead_lettered} of \
                 {poison} dead letters; log: {}",
                p.log.display()
            );
        }
        if !quiet && now.duration_since(last_progress) >= Duration::from_secs(5) {
            let since = first.map_or(Duration::ZERO, |f| now.duration_since(f));
            eprintln!(
                "pipeline-bench: {label}: burst: consumed {}/{poison} ({:.0} records/s), \
                 {dead_lettered} dead letters",
                scrape.consumed,
                per_second(scrape.consumed, since),
            );
            last_progress = now;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Read the whole dead-letter topic and match it with the poison records
/// produced, by (source topic, key).
fn read_dead_letters(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: &[(String, String)],
    since_ms: i64,
) -> anyhow::Result<DeadLetterTopic> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("bench-dlq-reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("dead-letter reader")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .context("partition list")?;
    }
    consumer.assign(&tpl).context("assign")?;
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for source in expected {
        *want.entry(source.clone()).or_default() += 1;
    }
    let mut out = DeadLetterTopic::default();
    let mut seen = std::collections::HashSet::new();
    let (started, mut last) = (Instant::now(), Instant::now());
    let wanted = expected.len() as u64;
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last = Instant::now();
                out.records += 1;
                if let Some(ms) = m.timestamp().to_millis().filter(|ms| *ms >= since_ms) {
                    out.first_since_ms = Some(out.first_since_ms.map_or(ms, |f| f.min(ms)));
                }
                let header = |name: &str| {
                    m.headers().and_then(|h| {
                        h.iter()
                            .find(|h| h.key == name)
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    })
                };
                let (Some(source), Some(partition), Some(offset)) = (
                    header(dlq::HEADER_TOPIC),
                    header(dlq::HEADER_PARTITION),
                    header(dlq::HEADER_OFFSET),
                ) else {
                    out.without_headers += 1;
                    continue;
                };
                if !seen.insert((source.clone(), partition, offset)) {
                    out.duplicates += 1;
                    continue;
                }
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                match want.get_mut(&(source, key)) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => out.unexpected += 1,
                }
            }
            Some(Err(e)) => bail!("reading the dead-letter topic {topic}: {e}"),
            None => {
                let quiet_for = last.elapsed();
                let enough = out.records >= wanted && quiet_for > Duration::from_secs(2);
                if enough || quiet_for > Duration::from_secs(30) {
                    break;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("reading the dead-letter topic {topic} took more than 10 minutes");
        }
    }
    out.missing = want.values().sum();
    Ok(out)
}
