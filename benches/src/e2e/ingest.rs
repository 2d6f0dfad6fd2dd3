//! HTTP ingestion (`--scenario ingest`), and what the end-to-end test of
//! it (`tests/tests/ingest_http.rs`) shares: producer keys, the query API's
//! ingestion settings, loadgen traffic as JSON events in batches, a POST
//! client, the records a topic holds.
//!
//! The scenario runs the release `query-api` with ingestion on (its
//! defaults: idempotent producer, `acks=all`, linger 5 ms) against the
//! broker of the local stack, on new topics of `--partitions` partitions:
//!
//! - batches: loadgen traffic (about `--ingest-events` events, no poison)
//!   as JSON, in batches of `--ingest-batch` events of one tenant, posted
//!   by `--ingest-concurrency` clients at once as fast as they are
//!   answered; events/s from the first post to the last answer, every
//!   event accepted (target: ≥ 50,000 events/s into Kafka);
//! - single events: wrk (`benches/wrk/paced.lua`) posting one event a
//!   request paced to `--ingest-rate` requests/s for `--ingest-seconds`
//!   after a warm-up (target: p95 ≤ 50 ms at 1,000 requests/s).
//!
//! Afterwards the topics must hold every event the API reported accepted
//! (its metric; read back from the topics; a few more are possible: the
//! requests wrk leaves in flight at the end of a run), and no event may
//! have been rejected.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use query_api::keys::hash_key;
use query_api::model::IngestResult;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use schemas::EventKind;
use serde::Deserialize;

use super::api::{QueryApi, Response, Settings, Wait};
use super::cpu::CpuSeconds;
use super::env::{unique, Env};
use super::fill::Traffic;
use super::machine::load_average;
use super::query::wrk_available;
use super::timing::{median, percentile};
use super::topics::Topics;
use super::{say, Bench};
use crate::loadgen::ordering::Item;
use crate::loadgen::{self, Generated};

/// The wrk script (written next to the run's logs).
const SCRIPT: &str = include_str!("../../wrk/paced.lua");

/// Producer keys (`role = "producer"`), one per tenant, as a keys file.
#[derive(Debug, Clone)]
pub struct ProducerKeys {
    /// Tenant → key.
    pub tenants: BTreeMap<String, String>,
    pub path: PathBuf,
}

impl ProducerKeys {
    /// Random keys for these tenants, written as a keys file in `dir`.
    pub fn write<'a>(
        dir: &Path,
        tenants: impl IntoIterator<Item = &'a String>,
    ) -> anyhow::Result<Self> {
        let tenants: BTreeMap<String, String> = tenants
            .into_iter()
            .map(|t| (t.clone(), hash_key(&unique(&format!("producer-{t}")))))
            .collect();
        let mut toml = String::from("# producer keys of one run (pipeline-bench or a test)\n");
        for (tenant, key) in &tenants {
            let _ = write!(
                toml,
                "[[keys]]\nrole = \"producer\"\ntenant = \"{tenant}\"\nsha256 = \"{}\"\n\n",
                hash_key(key)
            );
        }
        let path = dir.join(format!("{}.toml", unique("producer-keys")));
        std::fs::write(&path, toml).with_context(|| format!("write {}", path.display()))?;
        Ok(ProducerKeys { tenants, path })
    }

    pub fn of(&self, tenant: &str) -> anyhow::Result<&str> {
        self.tenants
            .get(tenant)
            .map(String::as_str)
            .with_context(|| format!("no producer key for tenant {tenant}"))
    }
}

/// The environment of a `query-api serve` that takes events for `topics`
/// at `brokers` with the keys file `keys` (no rate limit to speak of).
/// `batch_records`: the producer's batch.num.messages (1 for tests whose
/// processors may resume mid-topic on tansu's memory storage).
pub fn ingest_env(
    brokers: &str,
    topics: &Topics,
    keys: &Path,
    batch_records: u32,
) -> Vec<(String, String)> {
    [
        ("API_KEYS_FILE", keys.display().to_string()),
        ("KAFKA_BROKERS", brokers.to_owned()),
        ("TOPIC_LIFECYCLE", topics.lifecycle.clone()),
        ("TOPIC_NOTIFICATIONS", topics.notifications.clone()),
        ("TOPIC_INTERACTIONS", topics.interactions.clone()),
        ("INGEST_BATCH_RECORDS", batch_records.to_string()),
        ("RATE_LIMIT_PER_SECOND", "1000000".to_owned()),
        ("RATE_LIMIT_BURST", "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One event as the JSON that `POST /v1/events` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonEvent {
    pub tenant: String,
    pub kind: EventKind,
    /// One line of JSON.
    pub json: String,
}

/// The events and duplicates of a generated run as JSON, in production
/// order (poison records have no JSON form and are left out).
pub fn json_events(generated: &Generated) -> anyhow::Result<Vec<JsonEvent>> {
    let mut out = Vec::with_capacity(generated.plan.items.len());
    for item in &generated.plan.items {
        let (Item::Event(i) | Item::Duplicate(i)) = item else {
            continue;
        };
        let event = &generated.traffic.events[*i as usize];
        out.push(JsonEvent {
            tenant: event.tenant_id().to_owned(),
            kind: event.kind(),
            json: serde_json::to_string(&schemas::json::event_to_json(event))?,
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Head {
    r#type: String,
    tenant_id: String,
}

/// The events of a file of `loadgen --emit-json` (one JSON event a line).
pub fn read_json_events(path: &Path) -> anyhow::Result<Vec<JsonEvent>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let head: Head =
                serde_json::from_str(line).with_context(|| format!("not an event: {line}"))?;
            let kind = schemas::json::kind_of_type(&head.r#type)
                .with_context(|| format!("unknown type {:?}", head.r#type))?;
            Ok(JsonEvent {
                tenant: head.tenant_id,
                kind,
                json: line.to_owned(),
            })
        })
        .collect()
}

/// A `POST /v1/events/batch` body: events of one tenant.
#[derive(Debug, Clone)]
pub struct Batch {
    pub tenant: String,
    /// `{"events": [...]}`.
    pub body: Bytes,
    pub events: u64,
    /// Events per record kind, in [`EventKind::ALL`] order.
    pub per_kind: [u64; 3],
}

/// `events` in batches of at most `size` events of one tenant each, in
/// order (a tenant's batch goes out when it is full, the rest at the end).
pub fn batches(events: &[JsonEvent], size: usize) -> Vec<Batch> {
    let size = size.max(1);
    let mut open: BTreeMap<&str, Vec<&JsonEvent>> = BTreeMap::new();
    let mut out = Vec::new();
    let close = |tenant: &str, events: &[&JsonEvent]| {
        let mut body = String::from("{\"events\":[");
        let mut per_kind = [0u64; 3];
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&e.json);
            if let Some(k) = EventKind::ALL.iter().position(|k| *k == e.kind) {
                per_kind[k] += 1;
            }
        }
        body.push_str("]}");
        Batch {
            tenant: tenant.to_owned(),
            body: Bytes::from(body),
            events: events.len() as u64,
            per_kind,
        }
    };
    for e in events {
        let batch = open.entry(&e.tenant).or_default();
        batch.push(e);
        if batch.len() >= size {
            out.push(close(&e.tenant, batch));
            batch.clear();
        }
    }
    for (tenant, rest) in open {
        if !rest.is_empty() {
            out.push(close(tenant, &rest));
        }
    }
    out
}

/// POSTs JSON to a query API.
#[derive(Debug, Clone)]
pub struct Poster {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Poster {
    /// For the API at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        Poster {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.to_owned(),
        }
    }

    /// POST `body` (JSON) with a Bearer key, the answer read completely
    /// (30 s at most).
    pub async fn post(&self, path: &str, key: &str, body: Bytes) -> anyhow::Result<Response> {
        let req = hyper::Request::post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .with_context(|| format!("POST {path}: no answer within 30 s"))??;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// POST, expecting 202 and the ingestion answer.
    pub async fn ingest(&self, path: &str, key: &str, body: Bytes) -> anyhow::Result<IngestResult> {
        let r = self.post(path, key, body).await?;
        ensure!(r.status == 202, "POST {path}: {} {}", r.status, r.text());
        r.json()
    }
}

/// Records the topics hold, counted by reading them from the beginning
/// until at least `expected` arrived and nothing more came for 3 s (or
/// `timeout` passed). Not from the end offsets: tansu's memory storage
/// reports an end offset that counts a multi-record batch as one record
/// (its records are all there and are read back). Blocking.
pub fn records_in(
    brokers: &str,
    topics: &[&str],
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("ingest-count"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("consumer to count records")?;
    consumer
        .subscribe(topics)
        .context("subscribe to count records")?;
    let deadline = Instant::now() + timeout;
    let mut count = 0u64;
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => {
                count += 1;
                quiet_since = Instant::now();
            }
            Some(Err(e)) => bail!("reading the topics back: {e}"),
            None if count >= expected && quiet_since.elapsed() > Duration::from_secs(3) => break,
            None => {}
        }
    }
    Ok(count)
}

/// One timed pass of every batch.
#[derive(Debug, Clone)]
pub struct BatchRun {
    pub events: u64,
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The query API's CPU (`reader`), tansu's and ClickHouse's.
    pub cpu: CpuSeconds,
    pub load: String,
}

impl BatchRun {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// One wrk run of single events.
#[derive(Debug, Clone)]
pub struct SingleRun {
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Responses other than 2xx/3xx.
    pub non_2xx: u64,
    /// Socket errors and timeouts.
    pub errors: u64,
    pub cpu: CpuSeconds,
    pub load: String,
}

impl SingleRun {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// The outcome of the ingest scenario.
#[derive(Debug)]
pub struct IngestBench {
    pub traffic: String,
    pub partitions: i32,
    pub events: usize,
    pub batch_size: usize,
    pub concurrency: usize,
    pub batch: Vec<BatchRun>,
    pub rate: u64,
    pub connections: u64,
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub single: Vec<SingleRun>,
    /// Events the API reported accepted (its metric), rejected, and the
    /// records the topics hold at the end.
    pub accepted: u64,
    pub rejected: u64,
    pub in_kafka: u64,
}

impl IngestBench {
    pub fn batch_rate(&self) -> f64 {
        median(self.batch.iter().map(BatchRun::rate))
    }

    pub fn single_p95(&self) -> f64 {
        median(self.single.iter().map(|r| r.p95_ms))
    }

    /// Both targets: batches ≥ 50,000 events/s; single events p95 ≤ 50 ms
    /// with ≥ 95 % of the paced rate achieved and no error or non-2xx.
    pub fn met(&self) -> (bool, bool) {
        let batch = self.batch_rate() >= 50_000.0;
        let single = self.single_p95() <= 50.0
            && median(self.single.iter().map(SingleRun::rate)) >= 0.95 * self.rate as f64
            && self.single.iter().all(|r| r.errors == 0 && r.non_2xx == 0);
        (batch, single)
    }

    pub fn markdown(&self, s: &mut String) {
        let (batch_met, single_met) = self.met();
        let yes = |b: bool| if b { "met" } else { "**not met**" };
        let _ = writeln!(
            s,
            "#### HTTP ingestion (targets: batches ≥ 50,000 events/s into Kafka — {}; single events p95 ≤ 50 ms at 1,000 requests/s — {})\n",
            yes(batch_met),
            yes(single_met)
        );
        let _ = writeln!(
            s,
            "Release `query-api` with ingestion on (idempotent producer, acks=all, linger 5 ms, \
             murmur2_random) into new topics of {} partitions on the broker of the stack. \
             Events: loadgen traffic `{}` as JSON (`loadgen --emit-json` form), {} events. \
             Afterwards the topics held {} records (read back), the API had reported {} events \
             accepted and {} rejected.\n",
            self.partitions, self.traffic, self.events, self.in_kafka, self.accepted, self.rejected
        );
        let _ = writeln!(
            s,
            "Batches of {} events of one tenant, {} clients posting at once as fast as \
             answered (the client runs on the same 2 cores):\n",
            self.batch_size, self.concurrency
        );
        let _ = writeln!(
            s,
            "| repeat | events | seconds | events/s | request p50 | p99 | max | CPU s API / tansu / ClickHouse | load |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (i, r) in self.batch.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} |",
                i + 1,
                r.events,
                r.seconds,
                r.rate(),
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                r.cpu.triple(),
                r.load
            );
        }
        let _ = writeln!(
            s,
            "| **median** | | | **{:.0}** | | | | | |\n",
            self.batch_rate()
        );
        let _ = writeln!(
            s,
            "Single events (`POST /v1/events`), wrk paced to {} requests/s over {} connections, \
             {} s runs after a {} s warm-up:\n",
            self.rate, self.connections, self.seconds, self.warmup_seconds
        );
        let _ = writeln!(
            s,
            "| repeat | requests/s | p50 | p90 | p95 | p99 | max | non-2xx | errors | CPU s API / tansu / ClickHouse | load |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for (i, r) in self.single.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} ms | {} | {} | {} | {} |",
                i + 1,
                r.rate(),
                r.p50_ms,
                r.p90_ms,
                r.p95_ms,
                r.p99_ms,
                r.max_ms,
                r.non_2xx,
                r.errors,
                r.cpu.triple(),
                r.load
            );
        }
        let _ = writeln!(
            s,
            "| **median** | {:.0} | | | **{:.2} ms** | {:.2} ms | | | | | |\n",
            median(self.single.iter().map(SingleRun::rate)),
            self.single_p95(),
            median(self.single.iter().map(|r| r.p99_ms)),
        );
    }
}

/// Run the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<IngestBench> {
    let (env, o) = (&bench.env, &bench.options);
    if !wrk_available() {
        bail!("wrk is not installed (deploy/local/install.sh installs Debian's wrk)");
    }
    let traffic = Traffic {
        poison: Some(0),
        ..Traffic::for_records(o.ingest_events)?
    };
    let generated = loadgen::generate(&traffic.gen_config(), &schemas::Codec::new()?)?;
    let events = json_events(&generated)?;
    ensure!(!events.is_empty(), "no events generated");
    let tenants: Vec<String> = generated.traffic.tenants.keys().cloned().collect();
    drop(generated);
    say(
        env,
        format!(
            "ingest: {} JSON events of {} tenants",
            events.len(),
            tenants.len()
        ),
    );

    let topics = Topics::unique("ingest", o.partitions);
    topics.create(&env.brokers).await?;
    let keys = ProducerKeys::write(&env.log_dir, &tenants)?;
    let mut extra_env = ingest_env(&env.brokers, &topics, &keys.path, 10_000);
    extra_env.push(("LOG_FORMAT".into(), "json".into()));
    let settings = Settings {
        bin: env.bin("query-api"),
        log_dir: env.log_dir.clone(),
        clickhouse_url: env.clickhouse_url.clone(),
        database: "default".into(),
        tenant_timezones: traffic.tenant_timezones(),
        extra_env,
    };
    let api = QueryApi::start(&settings, Wait::Alive).await?;
    let result = measure(env, o, &api, &keys, &events).await;
    let outcome = match result {
        Ok((batch, single)) => {
            let (accepted, rejected) = api_counts(&api).await?;
            let (brokers, names) = (env.brokers.clone(), topics.inputs().map(str::to_owned));
            let timeout = Duration::from_secs(60 + accepted / 20_000);
            let in_kafka = tokio::task::spawn_blocking(move || {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                records_in(&brokers, &names, accepted, timeout)
            })
            .await??;
            ensure!(
                rejected == 0,
                "{rejected} events rejected; log: {}",
                api.log.display()
            );
            // More is possible, not fewer: wrk leaves requests in flight
            // when a run ends, whose records the broker may still take.
            ensure!(
                in_kafka >= accepted,
                "the topics hold {in_kafka} records but the API accepted {accepted} events"
            );
            Ok(IngestBench {
                traffic: traffic.args().join(" "),
                partitions: o.partitions,
                events: events.len(),
                batch_size: usize::try_from(o.ingest_batch).unwrap_or(1000),
                concurrency: o.ingest_concurrency,
                batch,
                rate: o.ingest_rate,
                connections: connections_for(o.ingest_rate),
                seconds: o.ingest_seconds,
                warmup_seconds: warmup_seconds(o.ingest_seconds),
                single,
                accepted,
                rejected,
                in_kafka,
            })
        }
        Err(e) => Err(e.context(format!("query API log: {}", api.log.display()))),
    };
    drop(api);
    if o.delete_topics() {
        topics.delete(env).await;
    }
    outcome
}

async fn measure(
    env: &Env,
    o: &super::Options,
    api: &QueryApi,
    keys: &ProducerKeys,
    events: &[JsonEvent],
) -> anyhow::Result<(Vec<BatchRun>, Vec<SingleRun>)> {
    let poster = Poster::new(&api.base);
    let all = batches(events, usize::try_from(o.ingest_batch).unwrap_or(1000));
    // Warm-up: one batch per tenant (connections, producer id, metadata).
    for tenant in keys.tenants.keys() {
        if let Some(b) = all.iter().find(|b| &b.tenant == tenant) {
            poster
                .ingest("/v1/events/batch", keys.of(tenant)?, b.body.clone())
                .await?;
        }
    }
    let mut batch_runs = Vec::new();
    for i in 1..=o.repeat.max(1) {
        let run = post_batches(&poster, keys, &all, o.ingest_concurrency, api.pid()).await?;
        say(
            env,
            format!(
                "ingest: batches {i}/{}: {} events in {:.2} s, {:.0} events/s, request p99 {:.1} ms",
                o.repeat.max(1),
                run.events,
                run.seconds,
                run.rate(),
                run.p99_ms
            ),
        );
        batch_runs.push(run);
    }

    let script = env.log_dir.join("paced.lua");
    std::fs::write(&script, SCRIPT).with_context(|| format!("write {}", script.display()))?;
    let wanted = (o.ingest_rate * (o.ingest_seconds + warmup_seconds(o.ingest_seconds))) as usize;
    let lines: Vec<String> = events
        .iter()
        .take(wanted.clamp(1, 200_000))
        .map(|e| Ok(format!("{}\t/v1/events\t{}", keys.of(&e.tenant)?, e.json)))
        .collect::<anyhow::Result<_>>()?;
    let requests = env.log_dir.join(format!("{}.requests", unique("ingest")));
    std::fs::write(&requests, lines.join("\n") + "\n")
        .with_context(|| format!("write {}", requests.display()))?;
    let wrk = Wrk {
        script: &script,
        requests: &requests,
        url: &api.base,
        rate: o.ingest_rate.max(1),
        connections: connections_for(o.ingest_rate),
        log_dir: &env.log_dir,
        api_pid: api.pid(),
    };
    wrk.run(warmup_seconds(o.ingest_seconds)).await?;
    let mut single_runs = Vec::new();
    for i in 1..=o.repeat.max(1) {
        let run = wrk.run(o.ingest_seconds.max(1)).await?;
        say(
            env,
            format!(
                "ingest: single events {i}/{}: {:.0} requests/s (paced to {}), p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} non-2xx, {} errors",
                o.repeat.max(1),
                run.rate(),
                o.ingest_rate,
                run.p50_ms,
                run.p95_ms,
                run.p99_ms,
                run.non_2xx,
                run.errors
            ),
        );
        single_runs.push(run);
    }
    Ok((batch_runs, single_runs))
}

/// Post every batch, `concurrency` at a time, each as soon as a client is
/// free; every event must be accepted.
async fn post_batches(
    poster: &Poster,
    keys: &ProducerKeys,
    all: &[Batch],
    concurrency: usize,
    api_pid: u32,
) -> anyhow::Result<BatchRun> {
    let queue = Arc::new(Mutex::new(
        all.iter()
            .map(|b| Ok((keys.of(&b.tenant)?.to_owned(), b.body.clone(), b.events)))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .rev()
            .collect::<Vec<_>>(),
    ));
    let load = load_average();
    let cpu_before = CpuSeconds::now(Some(api_pid));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (queue, poster) = (queue.clone(), poster.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut events = 0u64;
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((key, body, count)) = next else {
                    break;
                };
                let sent = Instant::now();
                let answer = poster.ingest("/v1/events/batch", &key, body).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                ensure!(
                    answer.accepted == count && answer.rejected.is_empty(),
                    "a batch of {count} events: {} accepted, rejected {:?}",
                    answer.accepted,
                    answer.rejected.first()
                );
                events += count;
            }
            Ok::<_, anyhow::Error>((events, latencies))
        }));
    }
    let mut events = 0;
    let mut latencies = Vec::new();
    for c in clients {
        let (n, l) = c.await??;
        events += n;
        latencies.extend(l);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = CpuSeconds::now(Some(api_pid)).since(&cpu_before);
    Ok(BatchRun {
        events,
        requests: latencies.len() as u64,
        seconds,
        p50_ms: percentile(latencies.iter().copied(), 0.5),
        p99_ms: percentile(latencies.iter().copied(), 0.99),
        max_ms: latencies.iter().copied().fold(0.0, f64::max),
        cpu,
        load,
    })
}

/// (accepted, rejected) events, from the API's metrics.
async fn api_counts(api: &QueryApi) -> anyhow::Result<(u64, u64)> {
    let text = api.get("/metrics", None, None).await?.text();
    let sum = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    };
    Ok((
        sum("query_api_ingest_events_accepted_total"),
        sum("query_api_ingest_events_rejected_total"),
    ))
}

fn warmup_seconds(seconds: u64) -> u64 {
    (seconds / 4).clamp(1, 5)
}

/// Enough connections that one is free at each send time even when
/// requests take 50 ms.
fn connections_for(rate: u64) -> u64 {
    (rate / 20).clamp(4, 64)
}

/// The line `done()` of the wrk script prints (microseconds).
#[derive(Debug, Deserialize)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    status_errors: u64,
    timeouts: u64,
    max_us: u64,
    p50_us: u64,
    p90_us: u64,
    p95_us: u64,
    p99_us: u64,
}

struct Wrk<'a> {
    script: &'a Path,
    requests: &'a Path,
    url: &'a str,
    rate: u64,
    connections: u64,
    log_dir: &'a Path,
    api_pid: u32,
}

impl Wrk<'_> {
    async fn run(&self, seconds: u64) -> anyhow::Result<SingleRun> {
        let load = load_average();
        let cpu_before = CpuSeconds::now(Some(self.api_pid));
        let output = tokio::process::Command::new("wrk")
            .args(["-t", "1", "-c", &self.connections.to_string()])
            .args(["-d", &format!("{seconds}s"), "--timeout", "5s", "--latency"])
            .arg("-s")
            .arg(self.script)
            .arg(self.url)
            .arg("--")
            .arg(self.requests)
            .args([self.rate.to_string(), "1".into()])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(seconds + 60), output)
            .await
            .context("wrk did not finish")?
            .context("run wrk")?;
        let cpu = CpuSeconds::now(Some(self.api_pid)).since(&cpu_before);
        let log = self.log_dir.join(format!("{}.log", unique("wrk-ingest")));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(&log, format!("{text}{stderr}"))
            .with_context(|| format!("write {}", log.display()))?;
        ensure!(
            output.status.success(),
            "wrk failed ({}): {stderr}; log: {}",
            output.status,
            log.display()
        );
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("pipeline-bench-wrk "))
            .with_context(|| format!("no summary line from wrk; log: {}", log.display()))?;
        let s: WrkSummary = serde_json::from_str(line).with_context(|| format!("parse {line}"))?;
        let ms = |us: u64| us as f64 / 1000.0;
        Ok(SingleRun {
            requests: s.requests,
            seconds: s.duration_us as f64 / 1e6,
            p50_ms: ms(s.p50_us),
            p90_ms: ms(s.p90_us),
            p95_ms: ms(s.p95_us),
            p99_ms: ms(s.p99_us),
            max_ms: ms(s.max_us),
            non_2xx: s.status_errors,
            errors: s.connect_errors + s.read_errors + s.write_errors + s.timeouts,
            cpu,
            load,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, kind: EventKind, n: u32) -> JsonEvent {
        JsonEvent {
            tenant: tenant.into(),
            kind,
            json: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn batches_hold_one_tenant_in_order() {
        let events = vec![
            event("a", EventKind::Lifecycle, 1),
            event("b", EventKind::Notification, 2),
            event("a", EventKind::Interaction, 3),
            event("a", EventKind::Interaction, 4),
            event("b", EventKind::Notification, 5),
        ];
        let got = batches(&events, 2);
        let summary: Vec<(&str, &[u8], u64, [u64; 3])> = got
            .iter()
            .map(|b| (b.tenant.as_str(), &b.body[..], b.events, b.per_kind))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "a",
                    &b"{\"events\":[{\"n\":1},{\"n\":3}]}"[..],
                    2,
                    [1, 0, 1]
                ),
                (
                    "b",
                    &b"{\"events\":[{\"n\":2},{\"n\":5}]}"[..],
                    2,
                    [0, 2, 0]
                ),
                ("a", &b"{\"events\":[{\"n\":4}]}"[..], 1, [0, 0, 1]),
            ]
        );
    }

    #[test]
    fn json_events_read_back_with_tenant_and_kind() {
        let generated = loadgen::generate(
            &loadgen::GenConfig {
                poison: 3,
                ..loadgen::GenConfig::default()
            },
            &schemas::Codec::new().unwrap(),
        )
        .unwrap();
        let events = json_events(&generated).unwrap();
        let path = std::env::temp_dir().join(format!("{}.jsonl", unique("json-events")));
        let written =
            loadgen::output::write_json_events(&path, &generated.traffic, &generated.plan).unwrap();
        let read = read_json_events(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(written as usize, events.len());
        assert_eq!(read, events);
        assert_eq!(
            events.len(),
            generated.plan.items.len() - 3,
            "every record but the poison"
        );
    }
}
