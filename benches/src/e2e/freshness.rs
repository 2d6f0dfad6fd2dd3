//! Freshness: at a steady load, the time from an event's production until
//! the query API shows its effect.
//!
//! Per repeat: new topics, a fresh database, the release processor and the
//! release query API. The probe campaign's CREATED event is produced and
//! awaited through the API (the whole pipeline is live). Then loadgen's
//! traffic, generated beforehand in this process, is produced at the
//! steady rate while a probe ([`probe`]) is produced every [`PROBE_EVERY`]
//! and one poller reads the probe campaign's report every [`POLL_EVERY`].
//! Probe k's latency runs from just before it was handed to the producer
//! until the first response counting at least k probes. Afterwards the
//! probe campaign's report versions in ClickHouse split each latency at
//! the snapshot that took the probe in, every loadgen figure is compared
//! with the expected ones (the probe tenant left out), and the probe
//! count must equal the probes produced.
//!
//! [`probe`]: super::probe

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;

use super::api::{Keys, QueryApi, Settings, Wait};
use super::catchup::timeout_for;
use super::cpu::CpuSeconds;
use super::figures::{self, Checked};
use super::fill::Traffic;
use super::machine::load_average;
use super::probe::{self, Prober, Sent};
use super::processor::{Processor, Scrape, Spec};
use super::steady::SteadyLoad;
use super::timing::{median, percentile};
use super::topics::Topics;
use super::watch;
use super::{drop_database, say, Bench};
use crate::loadgen::expected_json::ExpectedFile;

/// How often a probe is produced.
pub const PROBE_EVERY: Duration = Duration::from_millis(150);
/// How often the poller asks the query API.
pub const POLL_EVERY: Duration = Duration::from_millis(20);
/// Every this many polls it also reads the probe campaign's report
/// versions from ClickHouse (before their parts merge away).
const VERSIONS_EVERY: u64 = 5;
/// The probe's key may ask this often (the server's default, 100/s, is
/// about what the poller needs).
const POLL_RATE_LIMIT: &str = "10000";
/// How long the pipeline may take to show the probe campaign at all.
const LIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// What the processor did while the load was produced.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// From the first record produced until the producer's last delivery.
    pub seconds: f64,
    /// Records the processor read in the window.
    pub consumed: u64,
    /// Records the processor had read in all at its end.
    pub consumed_total: u64,
    /// Records produced (load and probes) but not yet read at its end.
    pub behind: u64,
    /// Snapshots written in the window and their total write time.
    pub snapshots: u64,
    pub snapshot_seconds: f64,
    /// The smallest histogram bound that 99 % of the window's snapshot
    /// writes stayed within (`None`: no snapshot).
    pub snapshot_p99_bound: Option<f64>,
    /// The longest write's bucket bound.
    pub snapshot_max_bound: Option<f64>,
    /// CPU of processor, broker and ClickHouse in the window.
    pub cpu: CpuSeconds,
    /// CPU of this process (the load's encoding and producing, probes,
    /// poller) in the window.
    pub bench_cpu: f64,
    /// Snapshot writes by third of the window (from /metrics sampled
    /// once a second).
    pub thirds: Vec<Third>,
    /// Mean time of each step of the window's snapshot writes, in the
    /// order they run (`processor_snapshot_step_seconds`).
    pub steps: Vec<(String, f64)>,
}

/// The snapshots that finished in one third of the load window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Third {
    pub snapshots: u64,
    pub mean_write: f64,
    /// Rows written per snapshot, all tables and journeys alone.
    pub rows_per_snapshot: f64,
    pub journeys_per_snapshot: f64,
}

/// The processor's /metrics sampled during the load: (seconds since the
/// start, scrape).
#[derive(Debug, Default)]
struct Samples(Vec<(f64, Scrape)>);

impl Samples {
    fn thirds(&self) -> Vec<Third> {
        let Some(end) = self.0.last().map(|(t, _)| *t) else {
            return Vec::new();
        };
        // The last sample at or before each boundary.
        let at = |t: f64| self.0.iter().rev().find(|(s, _)| *s <= t).map(|(_, x)| x);
        let rows = |x: &Scrape| x.rows_written.values().sum::<u64>();
        let journeys = |x: &Scrape| x.rows_written.get("journeys").copied().unwrap_or(0);
        (0..3)
            .filter_map(|i| {
                let (a, b) = (
                    at(end * f64::from(i) / 3.0)?,
                    at(end * f64::from(i + 1) / 3.0)?,
                );
                let n = b.snapshots.saturating_sub(a.snapshots);
                let per = |x: u64| x as f64 / n.max(1) as f64;
                Some(Third {
                    snapshots: n,
                    mean_write: (b.snapshot_seconds - a.snapshot_seconds) / n.max(1) as f64,
                    rows_per_snapshot: per(rows(b).saturating_sub(rows(a))),
                    journeys_per_snapshot: per(journeys(b).saturating_sub(journeys(a))),
                })
            })
            .collect()
    }
}

impl Window {
    pub fn consumed_rate(&self) -> f64 {
        self.consumed as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// Mean time between snapshots.
    pub fn cadence(&self) -> f64 {
        self.seconds / self.snapshots.max(1) as f64
    }

    pub fn mean_write(&self) -> f64 {
        self.snapshot_seconds / self.snapshots.max(1) as f64
    }
}

/// One repeat.
#[derive(Debug)]
pub struct Repeat {
    /// Per probe, in production order: production → visible, seconds.
    pub latencies: Vec<f64>,
    /// Per probe: production → the snapshot that took it in (consumption
    /// and waiting for the snapshot), and that snapshot → visible (its
    /// write, the API's read, the poll's granularity). Empty when the
    /// versions could not be matched.
    pub to_snapshot: Vec<f64>,
    pub snapshot_to_visible: Vec<f64>,
    /// Per probe: production → the broker's acknowledgement.
    pub acks: Vec<f64>,
    /// Load records produced and how long production took.
    pub produced: u64,
    pub produce_seconds: f64,
    pub window: Window,
    /// Answer times of the poller's requests, seconds; failed requests.
    pub polls: Vec<f64>,
    pub poll_errors: u64,
    /// The probe campaign's count through the API once caught up.
    pub probe_count: u64,
    pub checked: Checked,
    pub load_start: String,
    pub load_end: String,
}

impl Repeat {
    pub fn probes(&self) -> usize {
        self.latencies.len()
    }

    pub fn p50(&self) -> f64 {
        percentile(self.latencies.iter().copied(), 0.5)
    }

    pub fn p99(&self) -> f64 {
        percentile(self.latencies.iter().copied(), 0.99)
    }

    pub fn max(&self) -> f64 {
        self.latencies.iter().copied().fold(0.0, f64::max)
    }

    pub fn produce_rate(&self) -> f64 {
        self.produced as f64 / self.produce_seconds.max(f64::MIN_POSITIVE)
    }

    /// Every probe counted once caught up, and the loadgen figures exact.
    pub fn exact(&self) -> bool {
        self.probe_count == self.probes() as u64 && self.checked.exact()
    }
}

/// The outcome of the freshness scenario.
#[derive(Debug)]
pub struct Freshness {
    pub partitions: i32,
    /// Asked rate, records/s, and seconds.
    pub rate: u64,
    pub seconds: u64,
    pub snapshot_interval_ms: u64,
    pub traffic_command: String,
    pub repeats: Vec<Repeat>,
}

impl Freshness {
    /// The target: p99 at most the snapshot interval + 1 s.
    pub fn target(&self) -> f64 {
        self.snapshot_interval_ms as f64 / 1000.0 + 1.0
    }

    pub fn p99(&self) -> f64 {
        median(self.repeats.iter().map(Repeat::p99))
    }

    /// Met when the median over the repeats of the p99 is within the target.
    pub fn met(&self) -> bool {
        !self.repeats.is_empty() && self.p99() <= self.target()
    }

    /// Whether every repeat produced at least 90 % of the asked rate.
    pub fn rate_sustained(&self) -> bool {
        self.repeats
            .iter()
            .all(|r| r.produce_rate() >= 0.9 * self.rate as f64)
    }

    /// The section of RESULTS.md.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let verdict = if self.met() { "met" } else { "**not met**" };
        let _ = writeln!(
            s,
            "#### Freshness: probes at a steady {} records/s for {} s on {} partitions \
             (target: p99 ≤ snapshot interval + 1 s = {:.1} s): {verdict}\n",
            self.rate,
            self.seconds,
            self.partitions,
            self.target()
        );
        let _ = writeln!(
            s,
            "Load: `{}` (generated in pipeline-bench, then produced from it). \
             A probe every {} ms; one poller reads the probe campaign's report through \
             the release query API every {} ms. Latency: probe handed to the producer → \
             first response counting it. Seconds.\n",
            self.traffic_command,
            PROBE_EVERY.as_millis(),
            POLL_EVERY.as_millis()
        );
        if !self.rate_sustained() {
            let _ = writeln!(
                s,
                "**The load did not reach the asked rate** (below 90 % of {} records/s in \
                 at least one repeat): see \"produced\".\n",
                self.rate
            );
        }
        let _ = writeln!(
            s,
            "| repeat | probes | p50 | p99 | max | produced | processor read | behind at end | \
             snapshots: every / mean write / p99 write ≤ / max ≤ | API answer p50 / p99 | cores busy: processor / broker / ClickHouse (+ pipeline-bench) | figures | load |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for (i, r) in self.repeats.iter().enumerate() {
            let w = &r.window;
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | **{:.2}** | {:.2} | {:.1} k/s | {:.1} k/s | {} | {:.2} / {:.2} / {} / {} | {:.3} / {:.3} | {} | {} | {} → {} |",
                i + 1,
                r.probes(),
                r.p50(),
                r.p99(),
                r.max(),
                r.produce_rate() / 1000.0,
                w.consumed_rate() / 1000.0,
                w.behind,
                w.cadence(),
                w.mean_write(),
                bound(w.snapshot_p99_bound),
                bound(w.snapshot_max_bound),
                percentile(r.polls.iter().copied(), 0.5),
                percentile(r.polls.iter().copied(), 0.99),
                w.cpu.shares(w.seconds, cores(), w.bench_cpu),
                figures_summary(r),
                r.load_start,
                r.load_end
            );
        }
        let _ = writeln!(
            s,
            "| **median** | | {:.2} | **{:.2}** | {:.2} | {:.1} k/s | {:.1} k/s | | | | | | |\n",
            median(self.repeats.iter().map(Repeat::p50)),
            self.p99(),
            median(self.repeats.iter().map(Repeat::max)),
            median(self.repeats.iter().map(Repeat::produce_rate)) / 1000.0,
            median(self.repeats.iter().map(|r| r.window.consumed_rate())) / 1000.0,
        );
        let _ = writeln!(
            s,
            "Where a probe's time goes (per repeat: p50 / p99 of each part; the split is the \
             version of the first snapshot holding the probe, i.e. the wall clock when that \
             snapshot was taken):\n"
        );
        let _ = writeln!(
            s,
            "| repeat | produce → broker ack | produce → snapshot taken | snapshot taken → visible through the API |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- |");
        for (i, r) in self.repeats.iter().enumerate() {
            let pair = |v: &[f64]| {
                if v.is_empty() {
                    "–".to_owned()
                } else {
                    format!(
                        "{:.3} / {:.3}",
                        percentile(v.iter().copied(), 0.5),
                        percentile(v.iter().copied(), 0.99)
                    )
                }
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                i + 1,
                pair(&r.acks),
                pair(&r.to_snapshot),
                pair(&r.snapshot_to_visible)
            );
        }
        let _ = writeln!(
            s,
            "\nSnapshot writes by third of the load window (from the processor's /metrics, \
             sampled once a second): snapshots finished, mean write time, rows written per \
             snapshot (journey rows among them).\n"
        );
        let _ = writeln!(s, "| repeat | first third | second third | last third |");
        let _ = writeln!(s, "| --- | --- | --- | --- |");
        for (i, r) in self.repeats.iter().enumerate() {
            let cells: Vec<String> = r
                .window
                .thirds
                .iter()
                .map(|t| {
                    format!(
                        "{} × {:.2} s, {:.0} rows ({:.0} journeys)",
                        t.snapshots, t.mean_write, t.rows_per_snapshot, t.journeys_per_snapshot
                    )
                })
                .collect();
            let _ = writeln!(s, "| {} | {} |", i + 1, cells.join(" | "));
        }
        steps_table(
            &mut s,
            self.repeats.iter().map(|r| r.window.steps.as_slice()),
        );
        s.push('\n');
        s
    }
}

fn figures_summary(r: &Repeat) -> String {
    let probes = if r.probe_count == r.probes() as u64 {
        format!("probe count {} exact", r.probe_count)
    } else {
        format!("PROBE COUNT {} OF {} PRODUCED", r.probe_count, r.probes())
    };
    format!("{probes}; {}", r.checked.summary())
}

pub(super) fn bound(b: Option<f64>) -> String {
    match b {
        None => "–".to_owned(),
        Some(b) if b.is_infinite() => "> 60".to_owned(),
        Some(b) => format!("{b}"),
    }
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Run the scenario: `--repeat` repeats, each on new topics.
pub async fn run(bench: &Bench) -> anyhow::Result<Freshness> {
    let o = &bench.options;
    let traffic = Traffic::for_records(o.freshness_rate.saturating_mul(o.freshness_seconds))?;
    let mut out = Freshness {
        partitions: o.partitions,
        rate: o.freshness_rate,
        seconds: o.freshness_seconds,
        snapshot_interval_ms: o.snapshot_interval_ms,
        traffic_command: String::new(),
        repeats: Vec::new(),
    };
    let n = o.repeat.max(1);
    for i in 1..=n {
        let label = format!("freshness {i}/{n}");
        let topics = Topics::unique("bench-freshness", o.partitions);
        topics.create(&bench.env.brokers).await?;
        let repeat = one_repeat(bench, &label, &topics, &traffic, &mut out).await;
        if o.delete_topics() {
            topics.delete(&bench.env).await;
        }
        let repeat = repeat?;
        say(
            &bench.env,
            format!(
                "{label}: {} probes, p50 {:.2} s, p99 {:.2} s, max {:.2} s; produced {:.0}/s, \
                 processor read {:.0}/s; {}",
                repeat.probes(),
                repeat.p50(),
                repeat.p99(),
                repeat.max(),
                repeat.produce_rate(),
                repeat.window.consumed_rate(),
                figures_summary(&repeat)
            ),
        );
        out.repeats.push(repeat);
    }
    Ok(out)
}

async fn one_repeat(
    bench: &Bench,
    label: &str,
    topics: &Topics,
    traffic: &Traffic,
    out: &mut Freshness,
) -> anyhow::Result<Repeat> {
    let (env, o) = (&bench.env, &bench.options);
    let (query_api, load, expected) =
        steady_load(bench, label, topics, traffic, &mut out.traffic_command).await?;
    let spec = Spec::fresh(topics, &expected, o.snapshot_interval_ms);
    let db = env.clickhouse().with_database(&spec.database);
    let mut p = spec.spawn(env)?;
    let keys = Keys::write(&env.log_dir, [&probe::TENANT.to_owned()])?;
    let key = keys
        .of(probe::TENANT)
        .context("the probe tenant's key")?
        .to_owned();
    let settings = Settings {
        bin: query_api,
        log_dir: env.log_dir.clone(),
        clickhouse_url: env.clickhouse_url.clone(),
        database: spec.database.clone(),
        tenant_timezones: spec.tenant_timezones.clone(),
        extra_env: vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("RATE_LIMIT_PER_SECOND".into(), POLL_RATE_LIMIT.into()),
            ("RATE_LIMIT_BURST".into(), POLL_RATE_LIMIT.into()),
        ],
    };
    let api = QueryApi::start(&settings, Wait::Ready).await?;
    let prober = Prober::new(&env.brokers, topics)?;
    prober.create_campaign().await?;
    wait_live(&mut p, &api, &key).await?;
    say(
        env,
        format!(
            "{label}: pipeline live after {:.1} s; producing {} records at {}/s with probes",
            p.spawned.elapsed().as_secs_f64(),
            load.records,
            o.freshness_rate
        ),
    );

    let load_start = load_average();
    let before = (p.scrape_settled().await, p.cpu(), Instant::now());
    let bench_cpu = CpuSeconds::now(Some(std::process::id())).reader;
    let mut samples = Samples(vec![(0.0, before.0.clone())]);
    let records = load.records;
    let producing = tokio::spawn(load.produce());
    let (stop, stopped) = oneshot::channel();
    let probing = tokio::spawn(probe_until(prober, stopped));
    let mut poller = Poller::default();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = Instant::now() + Duration::from_secs(o.freshness_seconds) + timeout_for(records);
    while !producing.is_finished() {
        tick.tick().await;
        poller.poll(&api, &key, &db).await;
        p.check_running()?;
        let since = before.2.elapsed().as_secs_f64();
        if samples.0.last().is_some_and(|(t, _)| since - t >= 1.0) {
            if let Some(scrape) = p.scrape().await {
                samples.0.push((since, scrape));
            }
        }
        if Instant::now() > deadline {
            bail!("{label}: the load was not produced in time");
        }
    }
    let produced = producing.await??;
    let mut window = measure_window(&p, &before).await;
    window.bench_cpu = CpuSeconds::now(Some(std::process::id())).reader - bench_cpu;
    window.thirds = samples.thirds();
    let _ = stop.send(());
    let sent = probing.await??;
    // Until every probe is visible.
    while poller.visible < sent.len() as u64 {
        p.check_running()?;
        if Instant::now() > deadline {
            bail!(
                "{label}: {} of {} probes visible when giving up; processor log: {}",
                poller.visible,
                sent.len(),
                p.log.display()
            );
        }
        tick.tick().await;
        poller.poll(&api, &key, &db).await;
    }
    window.behind = (records + sent.len() as u64 + 1).saturating_sub(window.consumed_total);
    let load_end = load_average();

    // The probe campaign's CREATED event, and the probes.
    let probes = [1, sent.len() as u64, 0];
    caught_up_with_probes(&mut p, &db, &expected, topics, probes, label, env.quiet).await?;
    let probe_count = probe::visible(&api, &key).await?.unwrap_or(0);
    poller.read_versions(&db).await;
    p.stop().await?;
    drop(api);
    let checked = figures::check_except(&db, &expected, Some(probe::TENANT)).await?;
    for shown in &checked.shown {
        say(env, format!("{label}: {shown}"));
    }
    if !o.keep {
        drop_database(env, &spec.database).await;
    }
    let latencies = poller.latencies(&sent);
    let (to_snapshot, snapshot_to_visible) = split(&sent, &latencies, &poller.versions);
    Ok(Repeat {
        acks: sent.iter().map(|s| s.acked.as_secs_f64()).collect(),
        latencies,
        to_snapshot,
        snapshot_to_visible,
        produced: produced.delivered,
        produce_seconds: produced.elapsed.as_secs_f64(),
        window,
        polls: poller.answers,
        poll_errors: poller.errors,
        probe_count,
        checked,
        load_start,
        load_end,
    })
}

/// A repeat's steady load, generated in this process (its command goes to
/// `traffic_command`), once the release query API is known to be there:
/// (the query API binary, the load, the expected figures).
pub(super) async fn steady_load(
    bench: &Bench,
    label: &str,
    topics: &Topics,
    traffic: &Traffic,
    traffic_command: &mut String,
) -> anyhow::Result<(PathBuf, SteadyLoad, ExpectedFile)> {
    let (env, o) = (&bench.env, &bench.options);
    let query_api = env.bin("query-api");
    if !query_api.exists() {
        bail!(
            "{} is missing: build it (cargo build --release -p query-api)",
            query_api.display()
        );
    }
    say(env, format!("{label}: generating the load"));
    let (load, expected) = SteadyLoad::generate(
        &env.brokers,
        topics,
        traffic,
        o.freshness_rate,
        !o.no_journeys,
    )
    .await?;
    traffic_command.clone_from(&load.command);
    Ok((query_api, load, expected))
}

/// Wait until the processor's checkpoints cover the load's records and
/// `probes` more on each input topic (lifecycle, notifications,
/// interactions).
pub(super) async fn caught_up_with_probes(
    p: &mut Processor,
    db: &clickhouse::Client,
    expected: &ExpectedFile,
    topics: &Topics,
    probes: [u64; 3],
    label: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    let loaded = |topic: &str| {
        expected
            .counts
            .per_topic
            .get(topic)
            .map_or(0, |c| c.records)
    };
    let want = [
        loaded(&topics.lifecycle) + probes[0],
        loaded(&topics.notifications) + probes[1],
        loaded(&topics.interactions) + probes[2],
    ];
    let total = want.iter().sum();
    watch::caught_up(p, db, want, total, timeout_for(total), label, quiet).await?;
    Ok(())
}

/// Wait until the probe campaign (its CREATED event) is visible.
async fn wait_live(p: &mut Processor, api: &QueryApi, key: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        p.check_running()?;
        if probe::visible(api, key).await?.is_some() {
            return Ok(());
        }
        if started.elapsed() > LIVE_TIMEOUT {
            bail!(
                "the probe campaign was not visible within {LIVE_TIMEOUT:?}; processor log: {}",
                p.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produce a probe every [`PROBE_EVERY`] until `stop`.
async fn probe_until(
    mut prober: Prober,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<Vec<Sent>> {
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => sent.push(prober.send().await?),
        }
    }
    debug_assert_eq!(sent.len() as u64, prober.count());
    Ok(sent)
}

/// The processor's side of the load window (from `before` until now).
pub(super) async fn measure_window(
    p: &Processor,
    before: &(Scrape, CpuSeconds, Instant),
) -> Window {
    let (s0, cpu0, t0) = before;
    let s1 = p.scrape_settled().await;
    let snapshots = s1.snapshots.saturating_sub(s0.snapshots);
    // The window's own histogram: bucket counts now minus before.
    let buckets: Vec<(f64, u64)> = s1
        .snapshot_buckets
        .iter()
        .map(|&(le, n)| {
            let earlier = s0
                .snapshot_buckets
                .iter()
                .find(|(l, _)| *l == le)
                .map_or(0, |(_, m)| *m);
            (le, n.saturating_sub(earlier))
        })
        .collect();
    let within = |share: f64| {
        (snapshots > 0)
            .then(|| {
                buckets
                    .iter()
                    .find(|(_, n)| *n as f64 >= share * snapshots as f64)
                    .map(|(le, _)| *le)
            })
            .flatten()
    };
    Window {
        seconds: t0.elapsed().as_secs_f64(),
        consumed: s1.consumed.saturating_sub(s0.consumed),
        consumed_total: s1.consumed,
        behind: 0,
        snapshots,
        snapshot_seconds: s1.snapshot_seconds - s0.snapshot_seconds,
        snapshot_p99_bound: within(0.99),
        snapshot_max_bound: within(1.0),
        cpu: p.cpu().since(cpu0),
        steps: step_means(s0, &s1),
        ..Window::default()
    }
}

/// Mean time per snapshot write step between two scrapes, in the order
/// the steps run.
pub(super) fn step_means(s0: &Scrape, s1: &Scrape) -> Vec<(String, f64)> {
    const ORDER: [&str; 8] = [
        "take",
        "intent",
        "raw_and_reports",
        "journeys",
        "headers",
        "checkpoint",
        "epochs",
        "reports_ahead",
    ];
    let rank = |s: &str| ORDER.iter().position(|o| *o == s).unwrap_or(ORDER.len());
    let mut steps: Vec<(String, f64)> = s1
        .snapshot_steps
        .iter()
        .filter_map(|(step, &(sum, count))| {
            let (sum0, count0) = s0.snapshot_steps.get(step).copied().unwrap_or_default();
            let n = count.saturating_sub(count0);
            (n > 0).then(|| (step.clone(), (sum - sum0) / n as f64))
        })
        .collect();
    steps.sort_by_key(|(s, _)| rank(s));
    steps
}

/// The table of the mean step times, a row per repeat.
pub(super) fn steps_table<'a>(s: &mut String, repeats: impl Iterator<Item = &'a [(String, f64)]>) {
    let _ = writeln!(
        s,
        "\nMean time of each snapshot step, seconds (in the order they run: `take` is \
         the engine's part, then the write's steps; `processor_snapshot_step_seconds`):\n"
    );
    let _ = writeln!(s, "| repeat | steps |");
    let _ = writeln!(s, "| --- | --- |");
    for (i, steps) in repeats.enumerate() {
        let _ = writeln!(s, "| {} | {} |", i + 1, steps_cell(steps));
    }
}

/// The mean step times as one table cell: `intent 0.01 · raw_and_reports
/// 0.40 · …` (seconds), or `–` when the processor measured none.
pub(super) fn steps_cell(steps: &[(String, f64)]) -> String {
    if steps.is_empty() {
        return "–".to_owned();
    }
    steps
        .iter()
        .map(|(s, t)| format!("{s} {t:.3}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The poller's record: when the visible count grew, how long each
/// request took, and the probe campaign's report versions.
#[derive(Debug, Default)]
struct Poller {
    /// (response received, probes visible) each time the count grew.
    increases: Vec<(Instant, u64)>,
    visible: u64,
    answers: Vec<f64>,
    errors: u64,
    polls: u64,
    /// (version, probes it holds), oldest first, as read from ClickHouse.
    versions: Vec<(u64, u64)>,
}

impl Poller {
    async fn poll(&mut self, api: &QueryApi, key: &str, db: &clickhouse::Client) {
        self.polls += 1;
        if self.polls % VERSIONS_EVERY == 0 {
            self.read_versions(db).await;
        }
        let asked = Instant::now();
        match probe::visible(api, key).await {
            Ok(n) => {
                let now = Instant::now();
                self.answers.push((now - asked).as_secs_f64());
                let n = n.unwrap_or(0);
                if n > self.visible {
                    self.visible = n;
                    self.increases.push((now, n));
                }
            }
            Err(_) => self.errors += 1,
        }
    }

    /// Add the versions written since the last read (a failed read is
    /// only a gap: the split is diagnostic).
    async fn read_versions(&mut self, db: &clickhouse::Client) {
        let after = self.versions.last().map_or(0, |(v, _)| *v);
        if let Ok(new) = probe::versions(db, after).await {
            self.versions.extend(new);
        }
    }

    /// Probe k's latency: the first response counting k probes minus its
    /// production (`NaN` for a probe never seen, which the caller prevents).
    fn latencies(&self, sent: &[Sent]) -> Vec<f64> {
        sent.iter()
            .enumerate()
            .map(|(i, s)| {
                self.increases
                    .iter()
                    .find(|(_, n)| *n > i as u64)
                    .map_or(f64::NAN, |(at, _)| {
                        at.saturating_duration_since(s.at).as_secs_f64()
                    })
            })
            .collect()
    }
}

/// Each probe's latency split at the first snapshot version holding it.
fn split(sent: &[Sent], latencies: &[f64], versions: &[(u64, u64)]) -> (Vec<f64>, Vec<f64>) {
    let mut to_snapshot = Vec::new();
    let mut after = Vec::new();
    for (i, (s, latency)) in sent.iter().zip(latencies).enumerate() {
        let Some((version, _)) = versions.iter().find(|(_, n)| *n > i as u64) else {
            return (Vec::new(), Vec::new());
        };
        // A version is the owner's epoch above the wall clock it was taken at.
        let taken = (storage::version::clock_of(*version) - s.at_ms) as f64 / 1000.0;
        to_snapshot.push(taken);
        after.push(latency - taken);
    }
    (to_snapshot, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_at(at: Instant, at_ms: i64) -> Sent {
        Sent {
            at,
            at_ms,
            acked: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_probe_is_visible_at_the_first_response_counting_it() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let sent = [
            sent_at(ms(0), 1_000),
            sent_at(ms(150), 1_150),
            sent_at(ms(300), 1_300),
        ];
        let poller = Poller {
            // Probes 1 and 2 together at 1.2 s, probe 3 at 2.3 s.
            increases: vec![(ms(1_200), 2), (ms(2_300), 3)],
            visible: 3,
            ..Poller::default()
        };
        let l = poller.latencies(&sent);
        assert_eq!(l, vec![1.2, 1.05, 2.0]);
        // Probes 1 and 2 were taken in by the snapshot of 1 900 ms, probe 3
        // by that of 2 100 ms.
        let (taken, after) = split(&sent, &l, &[(1_050, 0), (1_900, 2), (2_100, 3)]);
        assert_eq!(taken, vec![0.9, 0.75, 0.8]);
        let rounded: Vec<f64> = after.iter().map(|x| (x * 1000.0).round()).collect();
        assert_eq!(rounded, vec![300.0, 300.0, 1_200.0]);
        // Versions carry their owner's epoch above the clock.
        let epoch = 3 << storage::version::EPOCH_SHIFT;
        let owned = [(epoch | 1_050, 0), (epoch | 1_900, 2), (epoch | 2_100, 3)];
        assert_eq!(split(&sent, &l, &owned).0, taken);
        // A probe in no version: no split at all.
        assert!(split(&sent, &l, &[(1_900, 2)]).0.is_empty());
    }
}
