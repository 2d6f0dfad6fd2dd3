//! Alert latency: at a steady load, the time from the event that makes a
//! rule fire until the alert is listed by `GET /v1/alerts` and pushed over
//! SSE (`/v1/alerts/stream`).
//!
//! Per repeat: new input topics, new alert-rules (one partition,
//! compacted) and alerts topics, a fresh ClickHouse database, a fresh
//! PostgreSQL database (the alert store), the release processor with
//! `ALERTING=true` and the release query API as the alert service (rule
//! publisher, alert store, SSE). An SSE client of the probe tenant
//! connects first; then one rule is created through `POST /v1/alert-rules`
//! (status ERROR, every campaign of the probe tenant), and a warm-up probe
//! is produced and awaited (the rule reached the processor, the whole
//! alert path is live). Then loadgen's traffic, generated beforehand in
//! this process, is produced at the steady rate while a probe is produced
//! every [`PROBE_EVERY`]: a new campaign of the probe tenant, its CREATED
//! event (RUNNING) and, once acknowledged, its STATUS_CHANGED to ERROR.
//! Probe k's latency runs from just before its ERROR event was handed to
//! the producer until (a) the first `GET /v1/alerts` response (polled
//! every [`POLL_EVERY`]) listing an alert of its campaign, and (b) the SSE
//! client receiving the `fired` transition of its campaign. Afterwards the
//! store must hold exactly one alert per probe campaign, each fired once
//! (no alert id twice, on SSE neither), and every loadgen figure must be
//! exact (the probe tenant left out).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use hyper::body::Bytes;
use metadata::testing::TestDatabase;
use metadata::AlertFilter;
use rdkafka::producer::{FutureProducer, FutureRecord};
use schemas::{CampaignLifecycle, CampaignStatus, Codec, Event, LifecycleKind};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::api::{QueryApi, Settings, Wait};
use super::catchup::timeout_for;
use super::cpu::CpuSeconds;
use super::env::unique;
use super::figures::{self, Checked};
use super::fill::Traffic;
use super::freshness::{
    bound, caught_up_with_probes, cores, measure_window, steady_load, steps_table, Window,
};
use super::ingest::Poster;
use super::machine::load_average;
use super::probe::{self, now_ms};
use super::processor::{Processor, Spec};
use super::sse::SseStream;
use super::steady::SteadyLoad;
use super::timing::{median, percentile};
use super::topics::{self, Topics};
use super::{drop_database, say, Bench};

/// The probes' tenant (no loadgen tenant is named like it).
pub const TENANT: &str = "alert-probe";
/// How often a probe (a new campaign turning to ERROR) is produced.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);
/// How often the poller lists the tenant's alerts.
pub const POLL_EVERY: Duration = Duration::from_millis(50);
/// The rule every probe makes fire (once per campaign: ERROR stays).
pub const RULE: &str = r#"{"name": "probe campaign in ERROR", "severity": "critical", "condition": {"kind": "status", "status": "ERROR"}}"#;
/// The principal of the probe tenant's key.
const USER: &str = "alert-latency@pipeline-bench";
/// The key may ask this often.
const RATE_LIMIT: &str = "10000";
/// How long the warm-up probe's alert may take (the rule is published by
/// the API within a second or so, the processor starts meanwhile).
const LIVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the broker may take to acknowledge a probe record.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Alerts listed per poll (the API's maximum page; newest first).
const LIST_LIMIT: usize = 1000;

/// One produced probe.
#[derive(Debug, Clone)]
pub struct Sent {
    pub campaign: String,
    /// Just before its ERROR event was handed to the producer.
    pub at: Instant,
    /// The same moment, wall clock (ms since the epoch), to set against
    /// the alert's `fired_at` (the snapshot's processing time).
    pub at_ms: i64,
    /// From `at` until the broker acknowledged the ERROR event.
    pub acked: Duration,
}

/// Produces the probe campaigns' lifecycle records, keyed by campaign id
/// like loadgen's (same partitioner), without lingering.
struct Prober {
    producer: FutureProducer,
    codec: Codec,
    topic: String,
    sent: u64,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("topic", &self.topic)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// The campaign of probe `k` (0: the warm-up probe).
pub fn campaign(k: u64) -> String {
    format!("alert-probe-{k:06}")
}

impl Prober {
    fn new(brokers: &str, topics: &Topics) -> anyhow::Result<Self> {
        Ok(Prober {
            producer: probe::producer(brokers)?,
            codec: Codec::new()?,
            topic: topics.lifecycle.clone(),
            sent: 0,
        })
    }

    /// Produce probe `k`: its campaign's CREATED event (RUNNING), then,
    /// once acknowledged, its STATUS_CHANGED to ERROR.
    async fn send(&mut self, k: u64) -> anyhow::Result<Sent> {
        let campaign = campaign(k);
        let created_ms = now_ms();
        let event = |kind: LifecycleKind, status: CampaignStatus, at: i64, name: &str| {
            Event::Lifecycle(CampaignLifecycle {
                event_id: format!("{campaign}-{name}"),
                tenant_id: TENANT.to_owned(),
                campaign_id: campaign.clone(),
                job_id: String::new(),
                occurred_at: at,
                kind,
                status: Some(status),
                audience_size: None,
                script: None,
            })
        };
        self.produce(
            &campaign,
            &event(
                LifecycleKind::Created,
                CampaignStatus::Running,
                created_ms,
                "created",
            ),
        )
        .await?;
        // Later by event time than CREATED: the status is ERROR.
        let at_ms = now_ms().max(created_ms + 1);
        let error = event(
            LifecycleKind::StatusChanged,
            CampaignStatus::Error,
            at_ms,
            "error",
        );
        let at = Instant::now();
        self.produce(&campaign, &error).await?;
        self.sent += 1;
        Ok(Sent {
            campaign,
            at,
            at_ms,
            acked: at.elapsed(),
        })
    }

    async fn produce(&self, key: &str, event: &Event) -> anyhow::Result<()> {
        let payload = self.codec.encode(event)?;
        let record = FutureRecord::to(&self.topic).key(key).payload(&payload);
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map_err(|(e, _)| e)
            .with_context(|| format!("produce a probe record to {}", self.topic))?;
        Ok(())
    }
}

/// When each campaign's alert was first seen (by one observer).
#[derive(Debug, Default)]
pub struct Sightings {
    first: HashMap<String, Instant>,
}

impl Sightings {
    /// Note `campaign` seen at `at` (only its first sighting counts).
    pub fn note(&mut self, campaign: &str, at: Instant) {
        self.first.entry(campaign.to_owned()).or_insert(at);
    }

    pub fn has(&self, campaign: &str) -> bool {
        self.first.contains_key(campaign)
    }

    /// How many of `sent` were seen.
    pub fn seen(&self, sent: &[Sent]) -> usize {
        sent.iter().filter(|s| self.has(&s.campaign)).count()
    }

    /// Per probe: its first sighting minus its production, seconds (`NaN`
    /// for a probe never seen, which the caller prevents).
    pub fn latencies(&self, sent: &[Sent]) -> Vec<f64> {
        sent.iter()
            .map(|s| {
                self.first.get(&s.campaign).map_or(f64::NAN, |at| {
                    at.saturating_duration_since(s.at).as_secs_f64()
                })
            })
            .collect()
    }
}

/// What the alert store holds after the run, against the probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCheck {
    /// Probe campaigns (warm-up included).
    pub probes: usize,
    /// Distinct alerts listed, and `fired` transitions stored.
    pub alerts: usize,
    pub fired: usize,
    /// Probe campaigns without an alert; with more than one.
    pub missing: usize,
    pub several: usize,
    /// Alerts of no probe campaign.
    pub unexpected: usize,
    /// Alert ids with more than one `fired` transition stored; on the SSE
    /// stream.
    pub fired_twice: usize,
    pub sse_twice: usize,
    /// Other transitions (`resolved`, `repeated`): none expected.
    pub other: usize,
    /// `total` of `GET /v1/alerts`.
    pub api_total: i64,
}

impl StoreCheck {
    /// Compare the stored alerts `listed` ((alert id, campaign)), the
    /// stored transitions `events` ((kind, alert id)) and the alert ids of
    /// the SSE `fired` events with the probe `campaigns`.
    pub fn new(
        campaigns: &[String],
        listed: &[(String, String)],
        events: &[(String, String)],
        sse_fired: &[String],
        api_total: i64,
    ) -> Self {
        let mut per_campaign: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (id, campaign) in listed {
            let ids = per_campaign.entry(campaign).or_default();
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        let fired: Vec<&str> = events
            .iter()
            .filter(|(kind, _)| kind == "fired")
            .map(|(_, id)| id.as_str())
            .collect();
        StoreCheck {
            probes: campaigns.len(),
            alerts: per_campaign.values().map(Vec::len).sum(),
            fired: fired.len(),
            missing: campaigns
                .iter()
                .filter(|c| !per_campaign.contains_key(c.as_str()))
                .count(),
            several: per_campaign.values().filter(|ids| ids.len() > 1).count(),
            unexpected: per_campaign
                .keys()
                .filter(|c| !campaigns.iter().any(|p| p == *c))
                .count(),
            fired_twice: repeated(fired.iter().copied()),
            sse_twice: repeated(sse_fired.iter().map(String::as_str)),
            other: events.len() - fired.len(),
            api_total,
        }
    }

    /// One alert per probe campaign, each fired once, nothing else.
    pub fn exact(&self) -> bool {
        self.alerts == self.probes
            && self.fired == self.probes
            && self.missing == 0
            && self.several == 0
            && self.unexpected == 0
            && self.fired_twice == 0
            && self.sse_twice == 0
            && self.other == 0
            && self.api_total == self.probes as i64
    }

    pub fn summary(&self) -> String {
        if self.exact() {
            format!(
                "{} alerts, one per probe, each fired once (store and SSE)",
                self.alerts
            )
        } else {
            format!(
                "STORE NOT EXACT: {} probes, {} alerts ({} listed by the API), {} fired \
                 transitions, {} other; {} probes without an alert, {} with several, {} \
                 unexpected alerts, {} alert ids fired twice, {} twice on SSE",
                self.probes,
                self.alerts,
                self.api_total,
                self.fired,
                self.other,
                self.missing,
                self.several,
                self.unexpected,
                self.fired_twice,
                self.sse_twice
            )
        }
    }
}

/// How many ids occur more than once.
fn repeated<'a>(ids: impl Iterator<Item = &'a str>) -> usize {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for id in ids {
        *n.entry(id).or_default() += 1;
    }
    n.values().filter(|c| **c > 1).count()
}

/// One repeat.
#[derive(Debug)]
pub struct Repeat {
    /// Per probe, in production order: ERROR produced → listed by
    /// `GET /v1/alerts`, and → its `fired` event on SSE, seconds.
    pub api: Vec<f64>,
    pub sse: Vec<f64>,
    /// Per probe: ERROR produced → the alert's `fired_at` (the processing
    /// time of the snapshot that evaluated it), seconds; empty when a
    /// `fired_at` was not read.
    pub to_fired: Vec<f64>,
    /// Per probe: ERROR produced → the broker's acknowledgement.
    pub acks: Vec<f64>,
    /// Load records produced and how long production took.
    pub produced: u64,
    pub produce_seconds: f64,
    pub window: Window,
    /// Answer times of the poller's requests, seconds; failed requests.
    pub polls: Vec<f64>,
    pub poll_errors: u64,
    /// From the rule's creation until the warm-up probe's alert was listed.
    pub live_seconds: f64,
    pub store: StoreCheck,
    pub checked: Checked,
    pub load_start: String,
    pub load_end: String,
}

fn p(values: &[f64], q: f64) -> f64 {
    percentile(values.iter().copied(), q)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

impl Repeat {
    pub fn probes(&self) -> usize {
        self.api.len()
    }

    pub fn produce_rate(&self) -> f64 {
        self.produced as f64 / self.produce_seconds.max(f64::MIN_POSITIVE)
    }

    /// The store and the loadgen figures exact.
    pub fn exact(&self) -> bool {
        self.store.exact() && self.checked.exact()
    }
}

/// The outcome of the alert-latency scenario.
#[derive(Debug)]
pub struct AlertLatency {
    pub partitions: i32,
    /// Asked rate, records/s, and seconds.
    pub rate: u64,
    pub seconds: u64,
    pub snapshot_interval_ms: u64,
    pub traffic_command: String,
    /// Whether the rules topic was created compacted (the broker may
    /// refuse the config).
    pub rules_compacted: bool,
    pub repeats: Vec<Repeat>,
}

impl AlertLatency {
    /// The target: p99 at most the snapshot interval + 1 s.
    pub fn target(&self) -> f64 {
        self.snapshot_interval_ms as f64 / 1000.0 + 1.0
    }

    pub fn api_p99(&self) -> f64 {
        median(self.repeats.iter().map(|r| p(&r.api, 0.99)))
    }

    pub fn sse_p99(&self) -> f64 {
        median(self.repeats.iter().map(|r| p(&r.sse, 0.99)))
    }

    /// Met when the medians over the repeats of both p99 are within the
    /// target.
    pub fn met(&self) -> bool {
        !self.repeats.is_empty()
            && self.api_p99() <= self.target()
            && self.sse_p99() <= self.target()
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
            "#### Alert latency: probes at a steady {} records/s for {} s on {} partitions \
             (target: p99 ≤ snapshot interval + 1 s = {:.1} s, through the API and over SSE): \
             {verdict}\n",
            self.rate,
            self.seconds,
            self.partitions,
            self.target()
        );
        let _ = writeln!(
            s,
            "Load: `{}` (generated in pipeline-bench, then produced from it). Processor with \
             ALERTING=true; release query API as the alert service (rule publisher, alert \
             store in a fresh PostgreSQL database, SSE); rules topic of one partition{}, \
             alerts topic of {} partitions. One rule of tenant `{TENANT}`, created through \
             `POST /v1/alert-rules` before the load: `{RULE}`. A probe every {} ms: a new \
             campaign of that tenant, CREATED (RUNNING), then STATUS_CHANGED to ERROR once \
             acknowledged. Latency: the ERROR event handed to the producer → (API) the first \
             `GET /v1/alerts` response listing its campaign's alert (one poller, every {} ms) \
             and → (SSE) its `fired` event on `/v1/alerts/stream` (one client, connected \
             before the rule was created). Seconds.\n",
            self.traffic_command,
            if self.rules_compacted {
                ", compacted"
            } else {
                " (the broker refused cleanup.policy=compact: not compacted)"
            },
            self.partitions,
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
            "| repeat | probes | API p50 | API p99 | API max | SSE p50 | SSE p99 | SSE max | \
             produced | processor read | behind at end | snapshots: every / mean write / p99 write ≤ | \
             cores busy: processor / broker / ClickHouse (+ pipeline-bench) | alerts | figures | load |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for (i, r) in self.repeats.iter().enumerate() {
            let w = &r.window;
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | **{:.2}** | {:.2} | {:.2} | **{:.2}** | {:.2} | {:.1} k/s | \
                 {:.1} k/s | {} | {:.2} / {:.2} / {} | {} | {} | {} | {} → {} |",
                i + 1,
                r.probes(),
                p(&r.api, 0.5),
                p(&r.api, 0.99),
                max(&r.api),
                p(&r.sse, 0.5),
                p(&r.sse, 0.99),
                max(&r.sse),
                r.produce_rate() / 1000.0,
                w.consumed_rate() / 1000.0,
                w.behind,
                w.cadence(),
                w.mean_write(),
                bound(w.snapshot_p99_bound),
                w.cpu.shares(w.seconds, cores(), w.bench_cpu),
                r.store.summary(),
                r.checked.summary(),
                r.load_start,
                r.load_end
            );
        }
        let med = |f: &dyn Fn(&Repeat) -> f64| median(self.repeats.iter().map(f));
        let _ = writeln!(
            s,
            "| **median** | | {:.2} | **{:.2}** | {:.2} | {:.2} | **{:.2}** | {:.2} | {:.1} k/s | \
             {:.1} k/s | | | | | | |\n",
            med(&|r| p(&r.api, 0.5)),
            self.api_p99(),
            med(&|r| max(&r.api)),
            med(&|r| p(&r.sse, 0.5)),
            self.sse_p99(),
            med(&|r| max(&r.sse)),
            med(&|r| r.produce_rate()) / 1000.0,
            med(&|r| r.window.consumed_rate()) / 1000.0,
        );
        let _ = writeln!(
            s,
            "Where a probe's time goes (per repeat: p50 / p99 of each part; `fired_at` is the \
             processing time of the snapshot that evaluated the ERROR, the same machine's \
             clock), the poller's answer times, and how long after the rule's creation the \
             warm-up probe's alert was listed:\n"
        );
        let _ = writeln!(
            s,
            "| repeat | produce → broker ack | produce → fired_at | fired_at → listed by the API | \
             fired_at → pushed over SSE | GET /v1/alerts answer p50 / p99 (errors) | rule created → warm-up alert listed |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- |");
        for (i, r) in self.repeats.iter().enumerate() {
            let pair = |v: &[f64]| {
                if v.is_empty() {
                    "–".to_owned()
                } else {
                    format!("{:.3} / {:.3}", p(v, 0.5), p(v, 0.99))
                }
            };
            let after = |v: &[f64]| -> Vec<f64> {
                if r.to_fired.len() != v.len() {
                    return Vec::new();
                }
                v.iter().zip(&r.to_fired).map(|(x, f)| x - f).collect()
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} ({}) | {:.1} s |",
                i + 1,
                pair(&r.acks),
                pair(&r.to_fired),
                pair(&after(&r.api)),
                pair(&after(&r.sse)),
                pair(&r.polls),
                r.poll_errors,
                r.live_seconds
            );
        }
        steps_table(
            &mut s,
            self.repeats.iter().map(|r| r.window.steps.as_slice()),
        );
        s.push('\n');
        s
    }
}

/// Run the scenario: `--repeat` repeats, each on new topics and databases.
pub async fn run(bench: &Bench) -> anyhow::Result<AlertLatency> {
    let o = &bench.options;
    let traffic = Traffic::for_records(o.freshness_rate.saturating_mul(o.freshness_seconds))?;
    let mut out = AlertLatency {
        partitions: o.partitions,
        rate: o.freshness_rate,
        seconds: o.freshness_seconds,
        snapshot_interval_ms: o.snapshot_interval_ms,
        traffic_command: String::new(),
        rules_compacted: true,
        repeats: Vec::new(),
    };
    let n = o.repeat.max(1);
    for i in 1..=n {
        let label = format!("alert-latency {i}/{n}");
        let topics = Topics::unique("bench-alerts", o.partitions);
        topics.create(&bench.env.brokers).await?;
        let base = unique("bench-alerts");
        let (rules_topic, alerts_topic) = (format!("{base}-rules"), format!("{base}-out"));
        let compact = [("cleanup.policy", "compact")];
        if let Err(e) = topics::create_topic(&bench.env.brokers, &rules_topic, 1, &compact).await {
            say(
                &bench.env,
                format!("{label}: rules topic not created compacted ({e:#}); without the config"),
            );
            out.rules_compacted = false;
            topics::create_topic(&bench.env.brokers, &rules_topic, 1, &[]).await?;
        }
        topics::create_topic(&bench.env.brokers, &alerts_topic, o.partitions, &[]).await?;
        let alert_topics = (rules_topic.as_str(), alerts_topic.as_str());
        let repeat = one_repeat(bench, &label, &topics, alert_topics, &traffic, &mut out).await;
        if o.delete_topics() {
            topics.delete(&bench.env).await;
            topics::delete_named(&bench.env, &[&rules_topic, &alerts_topic]).await;
        }
        let repeat = repeat?;
        say(
            &bench.env,
            format!(
                "{label}: {} probes; API p50 {:.2} s, p99 {:.2} s, max {:.2} s; SSE p50 {:.2} s, \
                 p99 {:.2} s, max {:.2} s; produced {:.0}/s, processor read {:.0}/s; {}; {}",
                repeat.probes(),
                p(&repeat.api, 0.5),
                p(&repeat.api, 0.99),
                max(&repeat.api),
                p(&repeat.sse, 0.5),
                p(&repeat.sse, 0.99),
                max(&repeat.sse),
                repeat.produce_rate(),
                repeat.window.consumed_rate(),
                repeat.store.summary(),
                repeat.checked.summary()
            ),
        );
        out.repeats.push(repeat);
    }
    Ok(out)
}

/// A keys file with one editor key of the probe tenant (rules need an
/// editor); returns (key, path).
fn write_keys(dir: &std::path::Path) -> anyhow::Result<(String, std::path::PathBuf)> {
    use query_api::keys::hash_key;
    let key = hash_key(&unique("alert-latency-key"));
    let toml = format!(
        "# the key of one alert-latency run (pipeline-bench)\n\
         [[keys]]\ntenant = \"{TENANT}\"\nrole = \"editor\"\nuser = \"{USER}\"\n\
         name = \"alert-latency\"\nsha256 = \"{}\"\n",
        hash_key(&key)
    );
    let path = dir.join(format!("{}.toml", unique("keys")));
    std::fs::write(&path, toml).with_context(|| format!("write {}", path.display()))?;
    Ok((key, path))
}

/// A fresh, migrated PostgreSQL database on the server of DATABASE_URL
/// (its helper panics on failure: caught here as an error).
async fn fresh_pg() -> anyhow::Result<TestDatabase> {
    tokio::spawn(TestDatabase::new("alert_latency"))
        .await
        .map_err(|e| anyhow::anyhow!("a PostgreSQL database at DATABASE_URL: {e}"))
}

/// Parts of `GET /v1/alerts` the poller reads.
#[derive(Debug, Deserialize)]
struct AlertPage {
    alerts: Vec<ListedAlert>,
    total: i64,
}

#[derive(Debug, Deserialize)]
struct ListedAlert {
    id: String,
    campaign_id: Option<String>,
    fired_at: String,
}

/// Parts of an SSE event's data (an AlertEvent).
#[derive(Debug, Deserialize)]
struct StreamEvent {
    kind: String,
    alert: ListedAlert,
}

/// The SSE client: its events, timestamped on arrival, through a channel.
fn spawn_sse(mut stream: SseStream) -> mpsc::UnboundedReceiver<(Instant, String)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(event)) = stream.next().await {
            if tx.send((Instant::now(), event.data)).is_err() {
                break;
            }
        }
    });
    rx
}

/// The observers' record.
#[derive(Debug, Default)]
struct Observed {
    api: Sightings,
    sse: Sightings,
    /// Campaign → its alert's `fired_at`, ms since the epoch.
    fired_at: HashMap<String, i64>,
    /// Alert ids of the SSE `fired` events, in arrival order.
    sse_fired: Vec<String>,
    /// SSE events that were not an AlertEvent.
    sse_unreadable: u64,
    answers: Vec<f64>,
    errors: u64,
    total: i64,
}

impl Observed {
    /// One `GET /v1/alerts`.
    async fn poll(&mut self, api: &QueryApi, key: &str) {
        let asked = Instant::now();
        let path = format!("/v1/alerts?limit={LIST_LIMIT}");
        match api.get(&path, Some(key), None).await {
            Ok(r) if r.status == 200 => {
                let now = Instant::now();
                self.answers.push((now - asked).as_secs_f64());
                match r.json::<AlertPage>() {
                    Ok(page) => {
                        self.total = page.total;
                        for a in page.alerts {
                            self.note_fired_at(&a);
                            if let Some(c) = &a.campaign_id {
                                self.api.note(c, now);
                            }
                        }
                    }
                    Err(_) => self.errors += 1,
                }
            }
            _ => self.errors += 1,
        }
    }

    fn note_fired_at(&mut self, a: &ListedAlert) {
        let (Some(c), Ok(at)) = (
            &a.campaign_id,
            chrono::DateTime::parse_from_rfc3339(&a.fired_at),
        ) else {
            return;
        };
        self.fired_at
            .entry(c.clone())
            .or_insert(at.timestamp_millis());
    }

    /// Take what the SSE client received so far.
    fn drain_sse(&mut self, rx: &mut mpsc::UnboundedReceiver<(Instant, String)>) {
        while let Ok((at, data)) = rx.try_recv() {
            match serde_json::from_str::<StreamEvent>(&data) {
                Ok(e) if e.kind == "fired" => {
                    self.note_fired_at(&e.alert);
                    if let Some(c) = &e.alert.campaign_id {
                        self.sse.note(c, at);
                    }
                    self.sse_fired.push(e.alert.id);
                }
                Ok(_) => {}
                Err(_) => self.sse_unreadable += 1,
            }
        }
    }

    /// Per probe: production → `fired_at`; empty unless known for all.
    fn to_fired(&self, sent: &[Sent]) -> Vec<f64> {
        let v: Option<Vec<f64>> = sent
            .iter()
            .map(|s| {
                self.fired_at
                    .get(&s.campaign)
                    .map(|f| (*f - s.at_ms) as f64 / 1000.0)
            })
            .collect();
        v.unwrap_or_default()
    }
}

async fn one_repeat(
    bench: &Bench,
    label: &str,
    topics: &Topics,
    (rules_topic, alerts_topic): (&str, &str),
    traffic: &Traffic,
    out: &mut AlertLatency,
) -> anyhow::Result<Repeat> {
    let (env, o) = (&bench.env, &bench.options);
    let (query_api, load, expected) =
        steady_load(bench, label, topics, traffic, &mut out.traffic_command).await?;
    let pg = fresh_pg().await?;
    let mut spec = Spec::fresh(topics, &expected, o.snapshot_interval_ms);
    spec.extra_env.extend([
        ("ALERTING", "true".to_owned()),
        ("TOPIC_ALERT_RULES", rules_topic.to_owned()),
        ("TOPIC_ALERTS", alerts_topic.to_owned()),
    ]);
    let db = env.clickhouse().with_database(&spec.database);
    let mut p = spec.spawn(env)?;
    let (key, keys_path) = write_keys(&env.log_dir)?;
    let settings = Settings {
        bin: query_api,
        log_dir: env.log_dir.clone(),
        clickhouse_url: env.clickhouse_url.clone(),
        database: spec.database.clone(),
        tenant_timezones: spec.tenant_timezones.clone(),
        extra_env: [
            ("API_KEYS_FILE", keys_path.display().to_string()),
            ("RATE_LIMIT_PER_SECOND", RATE_LIMIT.into()),
            ("RATE_LIMIT_BURST", RATE_LIMIT.into()),
            ("DATABASE_URL", pg.cfg.database_url.clone()),
            ("KAFKA_BROKERS", env.brokers.clone()),
            ("TOPIC_ALERT_RULES", rules_topic.to_owned()),
            ("TOPIC_ALERTS", alerts_topic.to_owned()),
            ("ALERT_STORE_GROUP", unique("bench-alert-store")),
            ("TOPIC_LIFECYCLE", topics.lifecycle.clone()),
            ("TOPIC_NOTIFICATIONS", topics.notifications.clone()),
            ("TOPIC_INTERACTIONS", topics.interactions.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    let api = QueryApi::start(&settings, Wait::Ready).await?;
    let live = Live {
        p: &mut p,
        api: &api,
        key: &key,
        db: &db,
        pg: &pg,
    };
    let result = measure(bench, label, live, topics, load, &expected).await;
    drop(api);
    let result = match result {
        Ok(mut repeat) => {
            p.stop().await?;
            repeat.checked = figures::check_except(&db, &expected, Some(TENANT)).await?;
            for shown in &repeat.checked.shown {
                say(env, format!("{label}: {shown}"));
            }
            Ok(repeat)
        }
        Err(e) => Err(e),
    };
    // A failed repeat keeps its databases for the post-mortem.
    if result.is_ok() && !o.keep {
        drop_database(env, &spec.database).await;
        pg.drop().await;
    }
    result
}

/// The running pieces of one repeat.
struct Live<'a> {
    p: &'a mut Processor,
    api: &'a QueryApi,
    key: &'a str,
    db: &'a clickhouse::Client,
    pg: &'a TestDatabase,
}

/// The live part of a repeat: rule, warm-up, load with probes, checks of
/// the store. Returns the repeat (loadgen figures not yet checked).
async fn measure(
    bench: &Bench,
    label: &str,
    live: Live<'_>,
    topics: &Topics,
    load: SteadyLoad,
    expected: &crate::loadgen::expected_json::ExpectedFile,
) -> anyhow::Result<Repeat> {
    let Live {
        p,
        api,
        key,
        db,
        pg,
    } = live;
    let (env, o) = (&bench.env, &bench.options);
    // The SSE client first: it sees every transition from now on.
    let stream = SseStream::connect(api.addr(), "/v1/alerts/stream", key, None)
        .await
        .with_context(|| format!("SSE stream; API log: {}", api.log.display()))?;
    let mut sse_rx = spawn_sse(stream);
    let poster = Poster::new(&api.base);
    let rule_created = Instant::now();
    let r = poster
        .post("/v1/alert-rules", key, Bytes::from_static(RULE.as_bytes()))
        .await?;
    ensure!(
        r.status == 201,
        "POST /v1/alert-rules: {} {}; API log: {}",
        r.status,
        r.text(),
        api.log.display()
    );

    // Warm-up: probe 0's alert listed and pushed.
    let mut prober = Prober::new(&env.brokers, topics)?;
    let warm = prober.send(0).await?;
    let mut seen = Observed::default();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        p.check_running()?;
        seen.poll(api, key).await;
        seen.drain_sse(&mut sse_rx);
        if seen.api.has(&warm.campaign) && seen.sse.has(&warm.campaign) {
            break;
        }
        if rule_created.elapsed() > LIVE_TIMEOUT {
            bail!(
                "{label}: the warm-up probe's alert was not listed and pushed within \
                 {LIVE_TIMEOUT:?} (listed: {}, pushed: {}); processor log: {}, API log: {}",
                seen.api.has(&warm.campaign),
                seen.sse.has(&warm.campaign),
                p.log.display(),
                api.log.display()
            );
        }
        tick.tick().await;
    }
    let live_seconds = rule_created.elapsed().as_secs_f64();
    say(
        env,
        format!(
            "{label}: alert path live {live_seconds:.1} s after the rule was created; \
             producing {} records at {}/s with probes",
            load.records, o.freshness_rate
        ),
    );

    let load_start = load_average();
    let before = (p.scrape_settled().await, p.cpu(), Instant::now());
    let bench_cpu = CpuSeconds::now(Some(std::process::id())).reader;
    let records = load.records;
    let producing = tokio::spawn(load.produce());
    let (stop, stopped) = oneshot::channel();
    let probing = tokio::spawn(probe_until(prober, stopped));
    // The warm-up's figures are not the measurement's.
    seen.answers.clear();
    seen.errors = 0;
    let deadline = Instant::now() + Duration::from_secs(o.freshness_seconds) + timeout_for(records);
    while !producing.is_finished() {
        tick.tick().await;
        seen.poll(api, key).await;
        seen.drain_sse(&mut sse_rx);
        p.check_running()?;
        if Instant::now() > deadline {
            bail!("{label}: the load was not produced in time");
        }
    }
    let produced = producing.await??;
    let mut window = measure_window(p, &before).await;
    window.bench_cpu = CpuSeconds::now(Some(std::process::id())).reader - bench_cpu;
    let _ = stop.send(());
    let sent = probing.await??;
    // Until every probe is listed and pushed.
    while seen.api.seen(&sent) < sent.len() || seen.sse.seen(&sent) < sent.len() {
        p.check_running()?;
        if Instant::now() > deadline {
            bail!(
                "{label}: of {} probes {} listed and {} pushed when giving up; processor log: \
                 {}, API log: {}",
                sent.len(),
                seen.api.seen(&sent),
                seen.sse.seen(&sent),
                p.log.display(),
                api.log.display()
            );
        }
        tick.tick().await;
        seen.poll(api, key).await;
        seen.drain_sse(&mut sse_rx);
    }
    let probe_records = 2 * (sent.len() as u64 + 1);
    window.behind = (records + probe_records).saturating_sub(window.consumed_total);
    let load_end = load_average();

    let probes = [probe_records, 0, 0];
    caught_up_with_probes(p, db, expected, topics, probes, label, env.quiet).await?;

    // Every transition is out once the checkpoints cover the input and the
    // next snapshot waited for its acknowledgements; two snapshot intervals
    // and 2 s more let late duplicates (which must not exist) arrive too.
    tokio::time::sleep(Duration::from_millis(o.snapshot_interval_ms) * 2 + Duration::from_secs(2))
        .await;
    seen.poll(api, key).await;
    seen.drain_sse(&mut sse_rx);
    let store = check_store(pg, &warm, &sent, &seen).await?;
    Ok(Repeat {
        api: seen.api.latencies(&sent),
        sse: seen.sse.latencies(&sent),
        to_fired: seen.to_fired(&sent),
        acks: sent.iter().map(|s| s.acked.as_secs_f64()).collect(),
        produced: produced.delivered,
        produce_seconds: produced.elapsed.as_secs_f64(),
        window,
        polls: std::mem::take(&mut seen.answers),
        poll_errors: seen.errors,
        live_seconds,
        store,
        checked: Checked::default(),
        load_start,
        load_end,
    })
}

/// What the store holds (read with the metadata crate, as the API reads
/// it), against the probes (`warm` and `sent`) and what the observers saw.
async fn check_store(
    pg: &TestDatabase,
    warm: &Sent,
    sent: &[Sent],
    seen: &Observed,
) -> anyhow::Result<StoreCheck> {
    let m = &pg.metadata;
    let filter = AlertFilter {
        include_dismissed: true,
        limit: 1_000_000,
        ..AlertFilter::default()
    };
    let listed: Vec<(String, String)> = m
        .list_alerts(TENANT, USER, &filter)
        .await
        .context("list the stored alerts")?
        .alerts
        .into_iter()
        .map(|a| (a.id, a.campaign_id.unwrap_or_default()))
        .collect();
    let events: Vec<(String, String)> = m
        .events_after(TENANT, USER, 0, 1_000_000)
        .await
        .context("read the stored transitions")?
        .into_iter()
        .map(|e| (e.kind, e.alert.id))
        .collect();
    let campaigns: Vec<String> = std::iter::once(warm)
        .chain(sent)
        .map(|s| s.campaign.clone())
        .collect();
    Ok(StoreCheck::new(
        &campaigns,
        &listed,
        &events,
        &seen.sse_fired,
        seen.total,
    ))
}

/// Produce a probe every [`PROBE_EVERY`] until `stop` (probes 1, 2, ...).
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
            _ = tick.tick() => sent.push(prober.send(sent.len() as u64 + 1).await?),
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(k: u64, at: Instant, at_ms: i64) -> Sent {
        Sent {
            campaign: campaign(k),
            at,
            at_ms,
            acked: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_probe_counts_from_its_first_sighting() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let probes = [sent(1, ms(0), 1_000), sent(2, ms(200), 1_200)];
        let mut api = Sightings::default();
        // Probe 2 listed first (another partition), probe 1 later; a
        // later listing changes nothing.
        api.note(&campaign(2), ms(1_100));
        api.note(&campaign(1), ms(1_500));
        api.note(&campaign(1), ms(1_550));
        api.note(&campaign(0), ms(10));
        assert_eq!(api.latencies(&probes), vec![1.5, 0.9]);
        assert_eq!(api.seen(&probes), 2);
        let mut sse = Sightings::default();
        sse.note(&campaign(1), ms(1_250));
        assert_eq!(sse.seen(&probes), 1);
        let l = sse.latencies(&probes);
        assert_eq!(l[0], 1.25);
        assert!(l[1].is_nan());
    }

    #[test]
    fn production_to_fired_at_needs_every_probe() {
        let t0 = Instant::now();
        let probes = [sent(1, t0, 1_000), sent(2, t0, 1_200)];
        let mut seen = Observed::default();
        let alert = |k: u64, fired_at: &str| ListedAlert {
            id: format!("a{k}"),
            campaign_id: Some(campaign(k)),
            fired_at: fired_at.to_owned(),
        };
        seen.note_fired_at(&alert(1, "1970-01-01T00:00:01.800Z"));
        assert!(seen.to_fired(&probes).is_empty());
        seen.note_fired_at(&alert(2, "1970-01-01T00:00:02.100+00:00"));
        // The first `fired_at` seen stays.
        seen.note_fired_at(&alert(2, "1970-01-01T00:00:09Z"));
        assert_eq!(seen.to_fired(&probes), vec![0.8, 0.9]);
    }

    #[test]
    fn sse_events_are_read_as_alert_events() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let at = Instant::now();
        let fired = |id: &str, c: &str| {
            format!(
                r#"{{"seq": 3, "kind": "fired", "at": "2026-01-01T00:00:00Z", "alert": {{"id": "{id}", "campaign_id": "{c}", "fired_at": "2026-01-01T00:00:00Z", "status": "firing"}}}}"#
            )
        };
        tx.send((at, fired("x1", &campaign(1)))).unwrap();
        tx.send((at, fired("x1", &campaign(1)))).unwrap();
        tx.send((at, "{}".to_owned())).unwrap();
        tx.send((
            at,
            fired("x2", &campaign(2)).replace("\"fired\"", "\"resolved\""),
        ))
        .unwrap();
        let mut seen = Observed::default();
        seen.drain_sse(&mut rx);
        assert!(seen.sse.has(&campaign(1)));
        assert!(!seen.sse.has(&campaign(2)));
        assert_eq!(seen.sse_fired, vec!["x1".to_owned(), "x1".to_owned()]);
        assert_eq!(seen.sse_unreadable, 1);
    }

    #[test]
    fn the_store_holds_one_alert_per_probe_fired_once() {
        let campaigns: Vec<String> = (0..3).map(campaign).collect();
        let listed: Vec<(String, String)> =
            (0..3).map(|k| (format!("a{k}"), campaign(k))).collect();
        let fired = |ids: &[&str]| -> Vec<(String, String)> {
            ids.iter()
                .map(|id| ("fired".to_owned(), (*id).to_owned()))
                .collect()
        };
        let ids = ["a0".to_owned(), "a1".to_owned(), "a2".to_owned()];
        let good = StoreCheck::new(&campaigns, &listed, &fired(&["a0", "a1", "a2"]), &ids, 3);
        assert!(good.exact(), "{good:?}");
        assert!(good.summary().starts_with("3 alerts"));

        // A transition stored twice, pushed twice.
        let twice = StoreCheck::new(
            &campaigns,
            &listed,
            &fired(&["a0", "a1", "a1", "a2"]),
            &[ids.to_vec(), vec!["a1".to_owned()]].concat(),
            3,
        );
        assert_eq!((twice.fired_twice, twice.sse_twice), (1, 1));
        assert!(!twice.exact());
        assert!(twice.summary().starts_with("STORE NOT EXACT"));

        // A probe without an alert, one with two, one unexpected alert.
        let odd: Vec<(String, String)> = vec![
            ("a0".into(), campaign(0)),
            ("a1".into(), campaign(1)),
            ("b1".into(), campaign(1)),
            ("z".into(), "other".into()),
        ];
        let c = StoreCheck::new(&campaigns, &odd, &fired(&["a0", "a1", "b1", "z"]), &ids, 4);
        assert_eq!((c.missing, c.several, c.unexpected), (1, 1, 1));
        assert!(!c.exact());

        // A resolved transition is not expected either.
        let mut events = fired(&["a0", "a1", "a2"]);
        events.push(("resolved".into(), "a2".into()));
        let resolved = StoreCheck::new(&campaigns, &listed, &events, &ids, 3);
        assert_eq!(resolved.other, 1);
        assert!(!resolved.exact());
    }
}
