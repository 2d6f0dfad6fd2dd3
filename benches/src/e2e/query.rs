//! Query latency: wrk against the release `query-api` over a database the
//! release processor filled from loadgen traffic.
//!
//! The data: loadgen traffic of `--query-campaigns` campaigns (4 tenants)
//! with users per job scaled to about `--query-journeys` journeys, through
//! the broker and `processor run` into a fresh database (its figures are
//! compared with loadgen's, as in the other scenarios); the processor is
//! stopped before the measurements, so nothing writes meanwhile. With
//! `--query-database` an earlier run's database (kept with `--keep`) is
//! measured instead.
//!
//! The measurement: per endpoint, a list of request paths over many
//! campaigns, users, pages and date ranges (each with its tenant's key) is
//! checked first (a sample must answer 200 with the expected content), then
//! wrk (`benches/wrk/paced.lua`) sends them paced to a constant rate, once
//! to warm up and then `--repeat` times; figures are medians over the
//! repeats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use serde_json::Value;

use super::api::{Keys, QueryApi, Settings, Wait};
use super::catchup::timeout_for;
use super::cpu::CpuSeconds;
use super::env::{unique, Env};
use super::figures::{self, Checked};
use super::fill::{fill_new_topics, Traffic};
use super::machine::load_average;
use super::processor::Spec;
use super::timing::median;
use super::watch;
use super::{drop_database, say, Bench};
use crate::loadgen::expected_json::{self as exp, ExpectedFile};

/// The wrk script (written next to the run's logs).
const SCRIPT: &str = include_str!("../../wrk/paced.lua");
/// Tenants of the traffic; the campaigns are spread over them.
const TENANTS: u32 = 4;
/// Most request paths per endpoint.
const PATHS: usize = 10_000;
/// Responses of each endpoint checked before it is measured.
const SAMPLE: usize = 20;
/// Days of the overview's range.
const OVERVIEW_DAYS: u64 = 90;
/// The query API's page size (its default).
const PAGE: usize = 50;

/// One endpoint of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Report,
    Journey,
    List,
    Overview,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Report,
        Endpoint::Journey,
        Endpoint::List,
        Endpoint::Overview,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Report => "campaign report",
            Endpoint::Journey => "journey",
            Endpoint::List => "campaign list (page of 50)",
            Endpoint::Overview => "90-day daily overview",
        }
    }

    /// The route, for RESULTS.md.
    pub fn route(self) -> &'static str {
        match self {
            Endpoint::Report => "/v1/campaigns/{c}/report",
            Endpoint::Journey => "/v1/campaigns/{c}/jobs/{j}/journeys/{u}",
            Endpoint::List => "/v1/campaigns?cursor=…",
            Endpoint::Overview => "/v1/overview?granularity=day&from=…&to=…",
        }
    }

    /// The p99 target of the benchmarks issue, milliseconds.
    pub fn target_p99_ms(self) -> Option<f64> {
        match self {
            Endpoint::Report | Endpoint::Journey => Some(25.0),
            Endpoint::Overview => Some(100.0),
            Endpoint::List => None,
        }
    }
}

/// The line `done()` of the wrk script prints (microseconds).
#[derive(Debug, Clone, Deserialize)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    status_errors: u64,
    timeouts: u64,
    mean_us: f64,
    max_us: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
}

/// One wrk run.
#[derive(Debug, Clone)]
pub struct WrkRun {
    pub requests: u64,
    pub seconds: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Responses other than 2xx/3xx.
    pub non_2xx: u64,
    /// Socket errors and timeouts.
    pub errors: u64,
    /// CPU of the query API (`reader`) and ClickHouse during the run.
    pub cpu: CpuSeconds,
    pub load: String,
}

impl WrkRun {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// CPU µs per request of the query API and of ClickHouse.
    pub fn cpu_per_request(&self) -> (f64, f64) {
        let per = |s: f64| s * 1e6 / self.requests.max(1) as f64;
        (per(self.cpu.reader), per(self.cpu.clickhouse))
    }

    fn from_summary(s: &WrkSummary, cpu: CpuSeconds, load: String) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        WrkRun {
            requests: s.requests,
            seconds: s.duration_us as f64 / 1e6,
            mean_ms: s.mean_us / 1000.0,
            p50_ms: ms(s.p50_us),
            p90_ms: ms(s.p90_us),
            p99_ms: ms(s.p99_us),
            p999_ms: ms(s.p999_us),
            max_ms: ms(s.max_us),
            non_2xx: s.status_errors,
            errors: s.connect_errors + s.read_errors + s.write_errors + s.timeouts,
            cpu,
            load,
        }
    }
}

/// One endpoint measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub endpoint: Endpoint,
    /// The rate wrk was paced to, requests/s.
    pub rate: u64,
    pub connections: u64,
    /// Distinct request paths.
    pub paths: usize,
    /// What the sample of responses showed.
    pub verified: String,
    pub runs: Vec<WrkRun>,
}

impl Measured {
    pub fn median(&self, f: impl Fn(&WrkRun) -> f64) -> f64 {
        median(self.runs.iter().map(f))
    }

    /// Whether the target is met: median p99 within it, at least 95 % of
    /// the rate achieved, no error and no non-2xx response in any run.
    /// `None` for endpoints without a target.
    pub fn met(&self) -> Option<bool> {
        let target = self.endpoint.target_p99_ms()?;
        Some(
            self.median(|r| r.p99_ms) <= target
                && self.median(WrkRun::rate) >= 0.95 * self.rate as f64
                && self.runs.iter().all(|r| r.errors == 0 && r.non_2xx == 0),
        )
    }
}

/// Where the data came from.
#[derive(Debug)]
pub struct Data {
    pub database: String,
    /// Filled by this run (`None`: `--query-database`).
    pub filled: Option<FillFacts>,
    /// Campaigns and journeys in the database.
    pub campaigns: u64,
    pub journeys: u64,
}

/// How this run filled its database.
#[derive(Debug)]
pub struct FillFacts {
    pub command: String,
    pub records: u64,
    pub partitions: i32,
    pub fill_seconds: f64,
    /// Processor spawn until its checkpoints covered every record.
    pub process_seconds: f64,
    pub checked: Checked,
}

/// The outcome of the query scenario.
#[derive(Debug)]
pub struct QueryLatency {
    pub data: Data,
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub wrk: String,
    pub endpoints: Vec<Measured>,
}

/// Whether `wrk` is on the PATH.
pub fn wrk_available() -> bool {
    std::process::Command::new("wrk")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

pub async fn run(bench: &Bench) -> anyhow::Result<QueryLatency> {
    let (env, options) = (&bench.env, &bench.options);
    if !wrk_available() {
        bail!("wrk is not installed (deploy/local/install.sh installs Debian's wrk)");
    }
    let bin = env.bin("query-api");
    if !bin.exists() {
        bail!(
            "{} is missing: cargo build --release -p query-api",
            bin.display()
        );
    }
    let traffic = Traffic::shaped(
        TENANTS,
        options.query_campaigns.div_ceil(u64::from(TENANTS)).max(1) as u32,
        options.query_journeys,
    );
    let (data, expected, timezones) = match &options.query_database {
        Some(db) => (existing(env, db).await?, None, traffic.tenant_timezones()),
        None => {
            let (data, expected) = fill(bench, &traffic).await?;
            let zones: Vec<String> = expected
                .tenants
                .iter()
                .map(|(t, info)| format!("{t}={}", info.timezone))
                .collect();
            (data, Some(expected), zones.join(","))
        }
    };
    let measured = measure(bench, &data, expected.as_ref(), &timezones).await;
    if options.query_database.is_none() && !options.keep {
        drop_database(env, &data.database).await;
    } else {
        say(env, format!("query: kept database {}", data.database));
    }
    Ok(QueryLatency {
        data,
        seconds: options.query_seconds,
        warmup_seconds: warmup_seconds(options.query_seconds),
        wrk: wrk_version(),
        endpoints: measured?,
    })
}

fn warmup_seconds(seconds: u64) -> u64 {
    seconds.clamp(1, 5)
}

/// Fill topics, let the processor catch up, stop it, compare its figures.
async fn fill(bench: &Bench, traffic: &Traffic) -> anyhow::Result<(Data, ExpectedFile)> {
    let (env, options) = (&bench.env, &bench.options);
    say(
        env,
        format!(
            "query: filling {} partitions: {} tenants × {} campaigns, {} users per job",
            options.partitions, traffic.tenants, traffic.campaigns, traffic.users
        ),
    );
    let (topics, filled) = fill_new_topics(
        env,
        "bench-query",
        options.partitions,
        traffic,
        options.fill_options(),
    )
    .await?;
    let spec = Spec::fresh(&topics, &filled.expected, options.snapshot_interval_ms);
    let db = env.clickhouse().with_database(&spec.database);
    say(
        env,
        format!(
            "query: {} records after {:.1} s; the processor catches up",
            filled.total(),
            filled.elapsed.as_secs_f64()
        ),
    );
    let mut p = spec.spawn(env)?;
    let run = watch::caught_up(
        &mut p,
        &db,
        filled.records,
        filled.total(),
        timeout_for(filled.total()),
        "query fill",
        env.quiet,
    )
    .await?;
    p.stop().await?;
    let checked = figures::check(&db, &filled.expected).await?;
    for shown in &checked.shown {
        say(env, format!("query: {shown}"));
    }
    if options.delete_topics() {
        topics.delete(env).await;
    }
    let (campaigns, journeys) = counts(&db).await?;
    say(
        env,
        format!(
            "query: {campaigns} campaigns and {journeys} journeys in {} after {:.1} s; {}",
            spec.database,
            (run.done - run.started).as_secs_f64(),
            checked.summary()
        ),
    );
    let data = Data {
        database: spec.database.clone(),
        filled: Some(FillFacts {
            command: filled.command.clone(),
            records: filled.total(),
            partitions: options.partitions,
            fill_seconds: filled.elapsed.as_secs_f64(),
            process_seconds: (run.done - run.started).as_secs_f64(),
            checked,
        }),
        campaigns,
        journeys,
    };
    Ok((data, filled.expected))
}

/// An earlier run's database.
async fn existing(env: &Env, database: &str) -> anyhow::Result<Data> {
    let db = env.clickhouse().with_database(database);
    let (campaigns, journeys) = counts(&db)
        .await
        .with_context(|| format!("read database {database} (--query-database)"))?;
    ensure!(
        campaigns > 0,
        "database {database} holds no campaign report"
    );
    Ok(Data {
        database: database.to_owned(),
        filled: None,
        campaigns,
        journeys,
    })
}

/// Distinct campaigns (all-jobs reports) and journeys in the database.
async fn counts(db: &clickhouse::Client) -> anyhow::Result<(u64, u64)> {
    let campaigns = db
        .query("SELECT uniqExact(tenant_id, campaign_id) FROM campaign_reports WHERE job_id = ''")
        .fetch_one::<u64>()
        .await
        .context("count campaigns")?;
    let journeys = db
        .query("SELECT uniqExact(tenant_id, campaign_id, job_id, user_id) FROM journeys")
        .fetch_one::<u64>()
        .await
        .context("count journeys")?;
    Ok((campaigns, journeys))
}

/// Start the query API over the database and measure every endpoint.
async fn measure(
    bench: &Bench,
    data: &Data,
    expected: Option<&ExpectedFile>,
    timezones: &str,
) -> anyhow::Result<Vec<Measured>> {
    let (env, options) = (&bench.env, &bench.options);
    let db = env.clickhouse().with_database(&data.database);
    let tenants: Vec<String> = db
        .query("SELECT DISTINCT tenant_id FROM campaign_reports ORDER BY tenant_id")
        .fetch_all::<String>()
        .await
        .context("read the tenants")?;
    let keys = Keys::write(&env.log_dir, &tenants)?;
    let rate_limit = (options.query_rate.max(options.query_overview_rate) * 100).to_string();
    let settings = Settings {
        bin: env.bin("query-api"),
        log_dir: env.log_dir.clone(),
        clickhouse_url: env.clickhouse_url.clone(),
        database: data.database.clone(),
        tenant_timezones: timezones.to_owned(),
        extra_env: vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("RATE_LIMIT_PER_SECOND".into(), rate_limit.clone()),
            ("RATE_LIMIT_BURST".into(), rate_limit),
            ("LOG_FORMAT".into(), "json".into()),
        ],
    };
    let api = QueryApi::start(&settings, Wait::Ready).await?;
    let script = env.log_dir.join("paced.lua");
    std::fs::write(&script, SCRIPT).with_context(|| format!("write {}", script.display()))?;
    let mut out = Vec::new();
    for endpoint in Endpoint::ALL {
        let requests = paths(&db, &keys, endpoint).await?;
        ensure!(!requests.is_empty(), "no {} to ask for", endpoint.name());
        let verified = verify(&api, &requests, endpoint, expected).await?;
        say(
            env,
            format!(
                "query: {}: {} paths; {verified}",
                endpoint.name(),
                requests.len()
            ),
        );
        let file = env
            .log_dir
            .join(format!("{}.paths", unique(&format!("{endpoint:?}"))));
        let lines: Vec<String> = requests
            .iter()
            .map(|(key, path)| format!("{key}\t{path}"))
            .collect();
        std::fs::write(&file, lines.join("\n") + "\n")
            .with_context(|| format!("write {}", file.display()))?;
        let rate = match endpoint {
            Endpoint::Overview => options.query_overview_rate,
            _ => options.query_rate,
        }
        .max(1);
        let wrk = Wrk {
            script: &script,
            paths: &file,
            url: &api.base,
            rate,
            connections: connections_for(rate),
            log_dir: &env.log_dir,
            api_pid: api.pid(),
        };
        wrk.run(warmup_seconds(options.query_seconds)).await?;
        let mut runs = Vec::new();
        for i in 1..=options.repeat.max(1) {
            let run = wrk.run(options.query_seconds.max(1)).await?;
            say(
                env,
                format!(
                    "query: {} {i}/{}: {:.0} requests/s (paced to {rate}), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} non-2xx, {} errors",
                    endpoint.name(),
                    options.repeat.max(1),
                    run.rate(),
                    run.p50_ms,
                    run.p99_ms,
                    run.max_ms,
                    run.non_2xx,
                    run.errors
                ),
            );
            runs.push(run);
        }
        out.push(Measured {
            endpoint,
            rate,
            connections: connections_for(rate),
            paths: requests.len(),
            verified,
            runs,
        });
    }
    Ok(out)
}

/// Connections for a paced rate: enough that a connection is free at each
/// send time even when requests take 100 ms.
fn connections_for(rate: u64) -> u64 {
    (rate / 10).clamp(4, 64)
}

/// (key, path) requests of an endpoint over many campaigns, users, pages
/// and ranges, in a pseudo-random order (by hash, so the same database
/// gives the same list).
async fn paths(
    db: &clickhouse::Client,
    keys: &Keys,
    endpoint: Endpoint,
) -> anyhow::Result<Vec<(String, String)>> {
    let key = |tenant: &str| {
        keys.of(tenant)
            .map(str::to_owned)
            .with_context(|| format!("no key for tenant {tenant}"))
    };
    let mut out = Vec::new();
    match endpoint {
        Endpoint::Report => {
            let rows: Vec<(String, String)> = db
                .query(
                    "SELECT tenant_id, campaign_id FROM campaign_reports WHERE job_id = '' \
                     GROUP BY tenant_id, campaign_id \
                     ORDER BY cityHash64(tenant_id, campaign_id) LIMIT ?",
                )
                .bind(PATHS as u64)
                .fetch_all()
                .await
                .context("sample campaigns")?;
            for (t, c) in rows {
                out.push((key(&t)?, format!("/v1/campaigns/{c}/report")));
            }
        }
        Endpoint::Journey => {
            let rows: Vec<(String, String, String, String)> = db
                .query(
                    "SELECT tenant_id, campaign_id, job_id, user_id FROM journeys \
                     GROUP BY tenant_id, campaign_id, job_id, user_id \
                     ORDER BY cityHash64(tenant_id, campaign_id, job_id, user_id) LIMIT ?",
                )
                .bind(PATHS as u64)
                .fetch_all()
                .await
                .context("sample journeys")?;
            for (t, c, j, u) in rows {
                out.push((key(&t)?, format!("/v1/campaigns/{c}/jobs/{j}/journeys/{u}")));
            }
        }
        Endpoint::List => {
            // Pages after random campaigns, none of them short: the cursors
            // leave a full page after them (the first page when a tenant
            // has too few campaigns).
            let rows: Vec<(String, String)> = db
                .query(
                    "SELECT tenant_id, campaign_id FROM campaign_reports WHERE job_id = '' \
                     GROUP BY tenant_id, campaign_id ORDER BY tenant_id, campaign_id",
                )
                .fetch_all()
                .await
                .context("read campaigns")?;
            let mut by_tenant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (t, c) in &rows {
                by_tenant.entry(t).or_default().push(c);
            }
            for (t, campaigns) in &by_tenant {
                let k = key(t)?;
                let cursors = campaigns.len().saturating_sub(PAGE);
                if cursors == 0 {
                    out.push((k, "/v1/campaigns".to_owned()));
                    continue;
                }
                for c in &campaigns[..cursors] {
                    let cursor = query_api::cursor::encode(c);
                    out.push((k.clone(), format!("/v1/campaigns?cursor={cursor}")));
                }
            }
            shuffle(&mut out);
            out.truncate(PATHS);
        }
        Endpoint::Overview => {
            // 90-day ranges starting on every day from 10 days before the
            // first event to 10 days before the last: each covers data.
            let (first, last): (u16, u16) = db
                .query("SELECT toUInt16(min(period_start)), toUInt16(max(period_start)) FROM rollup_campaign_daily")
                .fetch_one()
                .await
                .context("read the rollups' days")?;
            let day = |d: u16| {
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + Days::new(u64::from(d))
            };
            let (first, last) = (day(first), day(last));
            let mut from = first - Days::new(10);
            let until = (last - Days::new(10)).max(from);
            while from <= until {
                let to = from + Days::new(OVERVIEW_DAYS - 1);
                for t in keys.tenants.keys() {
                    out.push((
                        key(t)?,
                        format!("/v1/overview?granularity=day&from={from}&to={to}"),
                    ));
                }
                from = from + Days::new(1);
            }
            shuffle(&mut out);
        }
    }
    Ok(out)
}

/// A fixed pseudo-random order (the same every run).
fn shuffle<T>(items: &mut [T]) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    items.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
}

/// Ask for the first [`SAMPLE`] requests and check their answers: 200 and
/// the content asked for (reports and journeys equal to loadgen's expected
/// figures when this run filled the database).
async fn verify(
    api: &QueryApi,
    requests: &[(String, String)],
    endpoint: Endpoint,
    expected: Option<&ExpectedFile>,
) -> anyhow::Result<String> {
    let sample = &requests[..requests.len().min(SAMPLE)];
    let mut compared = 0usize;
    for (key, path) in sample {
        let r = api.get(path, Some(key), None).await?;
        ensure!(
            r.status == 200,
            "GET {path}: {} {}; log: {}",
            r.status,
            r.text(),
            api.log.display()
        );
        let v: Value = r.json()?;
        compared += usize::from(check_answer(endpoint, path, &v, expected)?);
    }
    let against = if compared > 0 {
        format!(", {compared} equal to loadgen's expected figures")
    } else {
        String::new()
    };
    Ok(format!(
        "{} of {} sampled answers 200 with content{against}",
        sample.len(),
        sample.len()
    ))
}

/// Check one answer; `true` when it was compared with expected figures.
fn check_answer(
    endpoint: Endpoint,
    path: &str,
    v: &Value,
    expected: Option<&ExpectedFile>,
) -> anyhow::Result<bool> {
    match endpoint {
        Endpoint::Report => {
            let got: exp::Report = serde_json::from_value(v.clone())
                .with_context(|| format!("GET {path}: not a report: {v}"))?;
            ensure!(
                got.target_users > 0 && path.contains(&format!("/{}/", got.campaign_id)),
                "GET {path}: an empty or other report: {v}"
            );
            let Some(expected) = expected else {
                return Ok(false);
            };
            let want: Vec<exp::Report> = expected
                .reports
                .iter()
                .filter(|r| {
                    r.tenant_id == got.tenant_id
                        && r.campaign_id == got.campaign_id
                        && r.job_id.is_none()
                })
                .cloned()
                .collect();
            let diff = figures::differences("report", &want, &[got], |r| {
                (r.tenant_id.clone(), r.campaign_id.clone())
            });
            ensure!(diff.exact(), "GET {path}: {}", diff.shown.join("; "));
            Ok(true)
        }
        Endpoint::Journey => {
            let user = path.rsplit('/').next().unwrap_or_default();
            ensure!(
                v["user_id"].as_str() == Some(user) && v["steps"].is_array(),
                "GET {path}: not this user's journey: {v}"
            );
            let Some(journeys) = expected.and_then(|e| e.journeys.as_ref()) else {
                return Ok(false);
            };
            let parts: Vec<&str> = path.split('/').collect();
            let (Some(campaign), Some(job)) = (parts.get(3), parts.get(5)) else {
                bail!("GET {path}: not a journey path");
            };
            let want: Vec<exp::Journey> = journeys
                .iter()
                .filter(|j| j.campaign_id == *campaign && j.job_id == *job && j.user_id == user)
                .cloned()
                .collect();
            let Some(tenant) = want.first().map(|j| j.tenant_id.clone()) else {
                bail!("GET {path}: a journey loadgen does not expect: {v}");
            };
            let mut v = v.clone();
            v["tenant_id"] = tenant.into();
            v["campaign_id"] = (*campaign).into();
            v["job_id"] = (*job).into();
            let got: exp::Journey = serde_json::from_value(v.clone())
                .with_context(|| format!("GET {path}: not a journey: {v}"))?;
            let diff = figures::differences("journey", &want, &[got], |j| {
                (j.campaign_id.clone(), j.job_id.clone(), j.user_id.clone())
            });
            ensure!(diff.exact(), "GET {path}: {}", diff.shown.join("; "));
            Ok(true)
        }
        Endpoint::List => {
            let items = v["campaigns"].as_array().map_or(0, Vec::len);
            ensure!(items > 0, "GET {path}: an empty page: {v}");
            Ok(false)
        }
        Endpoint::Overview => {
            let periods = v["periods"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let sent: u64 = periods
                .iter()
                .filter_map(|p| p["sent_users"].as_u64())
                .sum();
            ensure!(sent > 0, "GET {path}: an empty overview: {v}");
            Ok(false)
        }
    }
}

/// One endpoint's wrk settings.
struct Wrk<'a> {
    script: &'a Path,
    paths: &'a Path,
    url: &'a str,
    rate: u64,
    connections: u64,
    log_dir: &'a Path,
    api_pid: u32,
}

impl Wrk<'_> {
    /// Run wrk for `seconds`; its output goes to a log file.
    async fn run(&self, seconds: u64) -> anyhow::Result<WrkRun> {
        let load = load_average();
        let cpu_before = CpuSeconds::now(Some(self.api_pid));
        let started = Instant::now();
        let output = tokio::process::Command::new("wrk")
            .args(["-t", "1", "-c", &self.connections.to_string()])
            .args(["-d", &format!("{seconds}s"), "--timeout", "5s", "--latency"])
            .arg("-s")
            .arg(self.script)
            .arg(self.url)
            .arg("--")
            .arg(self.paths)
            .args([self.rate.to_string(), "1".into()])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(seconds + 60), output)
            .await
            .context("wrk did not finish")?
            .context("run wrk")?;
        let cpu = CpuSeconds::now(Some(self.api_pid)).since(&cpu_before);
        let log: PathBuf = self.log_dir.join(format!("{}.log", unique("wrk")));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(&log, format!("{text}{stderr}"))
            .with_context(|| format!("write {}", log.display()))?;
        if !output.status.success() {
            bail!(
                "wrk failed ({}): {stderr}; log: {}",
                output.status,
                log.display()
            );
        }
        let summary = parse_summary(&text)
            .with_context(|| format!("wrk's summary line; log: {}", log.display()))?;
        ensure!(
            started.elapsed() >= Duration::from_secs(seconds),
            "wrk ended early; log: {}",
            log.display()
        );
        Ok(WrkRun::from_summary(&summary, cpu, load))
    }
}

fn parse_summary(text: &str) -> anyhow::Result<WrkSummary> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("pipeline-bench-wrk "))
        .context("no pipeline-bench-wrk line")?;
    serde_json::from_str(line).with_context(|| format!("parse {line}"))
}

fn wrk_version() -> String {
    std::process::Command::new("wrk")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

impl QueryLatency {
    /// This scenario's part of the RESULTS.md section.
    pub fn markdown(&self, s: &mut String) {
        use std::fmt::Write as _;
        let d = &self.data;
        let _ = writeln!(
            s,
            "#### Query latency: {} campaigns, {} journeys (targets: report and journey p99 ≤ 25 ms at 500 requests/s; overview p99 ≤ 100 ms)\n",
            d.campaigns, d.journeys
        );
        match &d.filled {
            Some(f) => {
                let _ = writeln!(
                    s,
                    "Data: `{}` on {} partitions ({} records, filled in {:.1} s), through the \
                     release processor (default settings) into a fresh database in {:.1} s (figures: {}); the \
                     processor was stopped before the measurements.\n",
                    f.command,
                    f.partitions,
                    f.records,
                    f.fill_seconds,
                    f.process_seconds,
                    f.checked.summary()
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "Data: database `{}` of an earlier run (`--query-database`).\n",
                    d.database
                );
            }
        }
        let _ = writeln!(
            s,
            "Release `query-api` (rate limit out of the way), wrk {} with `benches/wrk/paced.lua`: \
             one thread, requests paced to a constant rate over the connections, each path with \
             its tenant's key; per endpoint a {} s warm-up, then {} s per repeat. Latency from \
             sending a request to the whole response; medians over the repeats. CPU µs per \
             request of the query API / ClickHouse from /proc. A sample of each endpoint's \
             answers was checked first.\n",
            self.wrk, self.warmup_seconds, self.seconds
        );
        let _ = writeln!(
            s,
            "| endpoint | paths | paced to | achieved | p50 | p90 | p99 | max | non-2xx / errors | CPU µs/request | target | met |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for m in &self.endpoints {
            let (api, ch) = (
                m.median(|r| r.cpu_per_request().0),
                m.median(|r| r.cpu_per_request().1),
            );
            let bad: u64 = m.runs.iter().map(|r| r.non_2xx).sum();
            let errors: u64 = m.runs.iter().map(|r| r.errors).sum();
            let _ = writeln!(
                s,
                "| {} `{}` | {} | {}/s × {} conn. | {:.0}/s | {:.2} ms | {:.2} ms | **{:.2} ms** | {:.1} ms | {bad} / {errors} | {api:.0} / {ch:.0} | {} | {} |",
                m.endpoint.name(),
                m.endpoint.route(),
                m.paths,
                m.rate,
                m.connections,
                m.median(WrkRun::rate),
                m.median(|r| r.p50_ms),
                m.median(|r| r.p90_ms),
                m.median(|r| r.p99_ms),
                m.median(|r| r.max_ms),
                m.endpoint
                    .target_p99_ms()
                    .map_or("–".to_owned(), |t| format!("p99 ≤ {t:.0} ms")),
                match m.met() {
                    Some(true) => "**yes**",
                    Some(false) => "**no**",
                    None => "–",
                }
            );
        }
        s.push('\n');
        let _ = writeln!(
            s,
            "Per repeat (achieved rate, p50 / p99 / max ms, load average):\n"
        );
        for m in &self.endpoints {
            let runs: Vec<String> = m
                .runs
                .iter()
                .map(|r| {
                    format!(
                        "{:.0}/s, {:.2} / {:.2} / {:.1} ({})",
                        r.rate(),
                        r.p50_ms,
                        r.p99_ms,
                        r.max_ms,
                        r.load
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "- {}: {}; sample: {}.",
                m.endpoint.name(),
                runs.join("; "),
                m.verified
            );
        }
        s.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_line_of_the_script() {
        let text = "Running 2s test @ http://127.0.0.1:1\n  Latency Distribution\n\
            pipeline-bench-wrk {\"requests\":200,\"duration_us\":2000000,\"bytes\":1,\
            \"connect_errors\":0,\"read_errors\":0,\"write_errors\":0,\"status_errors\":3,\
            \"timeouts\":1,\"mean_us\":1500.5,\"max_us\":9000,\"p50_us\":1200,\"p90_us\":2000,\
            \"p99_us\":4000,\"p999_us\":8000}\n";
        let s = parse_summary(text).expect("a summary");
        let run = WrkRun::from_summary(&s, CpuSeconds::default(), String::new());
        assert_eq!(run.requests, 200);
        assert!((run.rate() - 100.0).abs() < 1e-9);
        assert!((run.p99_ms - 4.0).abs() < 1e-9);
        assert_eq!((run.non_2xx, run.errors), (3, 1));
        assert!(parse_summary("no line").is_err());
    }

    #[test]
    fn targets_need_the_rate_and_no_errors() {
        let run = |p99_ms: f64, requests: u64, non_2xx: u64| WrkRun {
            requests,
            seconds: 1.0,
            mean_ms: 1.0,
            p50_ms: 1.0,
            p90_ms: 1.0,
            p99_ms,
            p999_ms: p99_ms,
            max_ms: p99_ms,
            non_2xx,
            errors: 0,
            cpu: CpuSeconds::default(),
            load: String::new(),
        };
        let m = |runs| Measured {
            endpoint: Endpoint::Report,
            rate: 500,
            connections: 50,
            paths: 1,
            verified: String::new(),
            runs,
        };
        assert_eq!(m(vec![run(20.0, 490, 0)]).met(), Some(true));
        assert_eq!(m(vec![run(30.0, 490, 0)]).met(), Some(false));
        assert_eq!(m(vec![run(20.0, 400, 0)]).met(), Some(false));
        assert_eq!(m(vec![run(20.0, 490, 1)]).met(), Some(false));
        let list = Measured {
            endpoint: Endpoint::List,
            ..m(vec![run(99.0, 1, 0)])
        };
        assert_eq!(list.met(), None);
    }
}
