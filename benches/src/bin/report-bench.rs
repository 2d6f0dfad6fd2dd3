//! Scheduled report benchmarks against the local stack (ClickHouse,
//! PostgreSQL) and the release `query-api` binary as a child process (one
//! report worker):
//!
//! - `simple`: one campaign (its report, 4 job reports with funnels and
//!   node choices) in all five formats, run `--runs` times through the API;
//!   the time from `POST .../run` to `succeeded` (p50, p95, max).
//! - `journeys`: a journeys export of one job with `--journeys` journeys
//!   (5 steps each) in CSV, JSON and XLSX; the time from `POST .../run` to
//!   `succeeded`, the rows per second, and the peak memory (VmHWM) of the
//!   API process, which must not grow with the row count (compare two
//!   counts in one run: `--journeys 100000,1000000`).
//!
//! The rows are inserted into a scratch ClickHouse database directly (the
//! table layout the processor writes); the database and the metadata
//! database are dropped at the end.
//!
//! ```text
//! cargo build --release -p query-api -p benches --bins
//! target/release/report-bench --scenario simple --runs 20
//! target/release/report-bench --scenario journeys --journeys 100000,1000000
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use benches::e2e::api::{Keys, QueryApi, Settings, Wait};
use clap::Parser;
use serde_json::{json, Value};
use storage::rows::{JourneyRow, ReportRow};

/// Scheduled report benchmarks (see the module documentation).
#[derive(Debug, Parser)]
struct Args {
    /// `simple` or `journeys`.
    #[arg(long, default_value = "simple")]
    scenario: String,
    /// Runs of the simple report.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Journeys of the export, comma-separated for several sizes.
    #[arg(long, default_value = "100000,1000000", value_delimiter = ',')]
    journeys: Vec<u64>,
    /// The query-api binary.
    #[arg(long, default_value = "target/release/query-api")]
    query_api: PathBuf,
}

const TENANT: &str = "bench";
const SNAPSHOT: u32 = 1_793_527_200;

fn report(campaign: &str, job: &str, sent: u64) -> ReportRow {
    let funnel: Vec<Value> = ["welcome", "offer", "question", "end"]
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let users = sent >> i;
            json!({"node_id": node, "users": users,
                   "conversion_from_previous": if i == 0 { 100.0 } else { 50.0 },
                   "drop_off": if i == 0 { 0 } else { users }})
        })
        .collect();
    let nodes = json!([
        {"node_id": "offer", "reached_users": sent / 2, "choices": {"Yes": sent / 3, "No": sent / 6}},
        {"node_id": "end", "reached_users": sent / 8, "choices": {"Done": sent / 8}},
    ]);
    ReportRow {
        tenant_id: TENANT.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        partition: 0,
        version: 1,
        status: "RUNNING".into(),
        target_users: sent + sent / 10,
        sent_users: sent,
        interacted_users: sent / 2,
        completed_users: sent / 8,
        interaction_rate: 50.0,
        completion_rate: 12.5,
        total_interactions: sent * 2,
        messages_sent: sent * 3,
        warnings_sent: sent / 20,
        avg_completion_seconds: Some(321.5),
        nodes_json: nodes.to_string(),
        funnel_json: Value::Array(funnel).to_string(),
        first_event_at_ms: 1_790_000_000_000,
        last_event_at_ms: 1_793_000_000_000,
        snapshot_at: SNAPSHOT,
    }
}

fn journey(job: &str, user: u64) -> JourneyRow {
    let nodes = ["welcome", "offer", "question", "offer", "end"];
    let at = 1_790_000_000_000 + user as i64 * 1000;
    JourneyRow {
        tenant_id: TENANT.into(),
        campaign_id: "c-big".into(),
        job_id: job.into(),
        user_id: format!("user-{user:09}"),
        partition: 0,
        version: 1,
        step_node_ids: nodes.iter().map(|n| (*n).to_owned()).collect(),
        step_choices: nodes.iter().map(|n| format!("btn_{n}")).collect(),
        step_occurred_at_ms: (0..5).map(|i| at + i * 60_000).collect(),
        step_event_ids: (0..5).map(|i| format!("e-{user}-{i}")).collect(),
        total_interactions: 5,
        completed: u8::from(user % 3 == 0),
        exit_node: if user % 3 == 0 {
            "end".into()
        } else {
            String::new()
        },
        completion_seconds: (user % 3 == 0).then_some(240.0),
        snapshot_at: SNAPSHOT,
    }
}

async fn insert<T>(
    client: &clickhouse::Client,
    table: &str,
    rows: impl Iterator<Item = T>,
) -> anyhow::Result<()>
where
    T: clickhouse::Row + clickhouse::RowWrite + for<'a> clickhouse::Row<Value<'a> = T>,
{
    let mut insert = client.insert::<T>(table).await?;
    for row in rows {
        insert.write(&row).await?;
    }
    insert.end().await?;
    Ok(())
}

/// An HTTP call with curl; the JSON answer.
fn call(method: &str, url: &str, key: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail-with-body", "-X", method, url]);
    cmd.args(["-H", &format!("Authorization: Bearer {key}")]);
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"]);
        cmd.arg(body.to_string());
    }
    let out = cmd.output().context("curl")?;
    if !out.status.success() {
        bail!("{method} {url}: {}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Peak resident memory of a process, in MiB.
fn peak_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Bench {
    api: QueryApi,
    key: String,
}

impl Bench {
    async fn start(
        args: &Args,
        database: &str,
        pg_url: &str,
        storage: &std::path::Path,
    ) -> anyhow::Result<Bench> {
        let dir = std::env::temp_dir();
        let keys = Keys::write(&dir, [&TENANT.to_owned()])?;
        let settings = Settings {
            bin: args.query_api.clone(),
            log_dir: dir,
            clickhouse_url: std::env::var("CLICKHOUSE_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
            database: database.to_owned(),
            tenant_timezones: String::new(),
            extra_env: vec![
                ("API_KEYS_FILE".into(), keys.path.display().to_string()),
                ("DATABASE_URL".into(), pg_url.to_owned()),
                ("REPORT_STORAGE".into(), storage.display().to_string()),
                ("REPORT_POLL_MS".into(), "20".into()),
                ("REPORT_LINK_SECRET".into(), "bench".into()),
                ("RUST_LOG".into(), "warn".into()),
            ],
        };
        let api = QueryApi::start(&settings, Wait::Ready).await?;
        Ok(Bench {
            key: keys.admin,
            api,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}?tenant_id={TENANT}", self.api.base)
    }

    fn define(&self, body: Value) -> anyhow::Result<String> {
        let d = call(
            "POST",
            &self.url("/v1/report-definitions"),
            &self.key,
            Some(&body),
        )?;
        Ok(d["id"].as_str().context("definition id")?.to_owned())
    }

    /// Run a definition; the time to `succeeded` and the run.
    async fn run(&self, definition: &str) -> anyhow::Result<(Duration, Value)> {
        let started = Instant::now();
        let run = call(
            "POST",
            &self.url(&format!("/v1/report-definitions/{definition}/run")),
            &self.key,
            Some(&json!({})),
        )?;
        let id = run["id"].as_str().context("run id")?.to_owned();
        loop {
            let run = call(
                "GET",
                &self.url(&format!("/v1/report-runs/{id}")),
                &self.key,
                None,
            )?;
            match run["state"].as_str() {
                Some("succeeded") => return Ok((started.elapsed(), run)),
                Some("failed" | "cancelled") => bail!("run {id}: {run}"),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn simple(
    args: &Args,
    ch: &storage::testing::TestDatabase,
    pg: &str,
    storage: &std::path::Path,
) -> anyhow::Result<()> {
    let client = ch.client();
    insert(
        &client,
        "campaign_reports",
        std::iter::once(report("c-1", "", 5000)),
    )
    .await?;
    insert(
        &client,
        "campaign_reports",
        (1..=4).map(|j| report("c-1", &format!("job-{j}"), 1250)),
    )
    .await?;
    let bench = Bench::start(args, &ch.cfg.database, pg, storage).await?;
    let id = bench.define(json!({
        "name": "One campaign", "kind": "campaign_reports",
        "parameters": {"campaign_ids": ["c-1"]},
        "formats": ["csv", "json", "xlsx", "pdf", "html"],
    }))?;
    bench.run(&id).await?; // warm-up
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        times.push(bench.run(&id).await?.0);
    }
    times.sort();
    println!(
        "simple report (1 campaign, 4 jobs, csv+json+xlsx+pdf+html), {} runs, POST run -> succeeded: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1000.0),
    );
    Ok(())
}

async fn journeys(
    args: &Args,
    ch: &storage::testing::TestDatabase,
    pg: &str,
    storage: &std::path::Path,
) -> anyhow::Result<()> {
    let client = ch.client();
    for &n in &args.journeys {
        let job = format!("job-{n}");
        insert(
            &client,
            "campaign_reports",
            std::iter::once(report("c-big", &job, n)),
        )
        .await?;
        let mut start = 0;
        while start < n {
            let end = (start + 200_000).min(n);
            insert(&client, "journeys", (start..end).map(|u| journey(&job, u))).await?;
            start = end;
        }
        // A fresh API process per size: its peak memory is this export's.
        let bench = Bench::start(args, &ch.cfg.database, pg, storage).await?;
        let id = bench.define(json!({
            "name": format!("Journeys {n}"), "kind": "journeys",
            "parameters": {"campaign_id": "c-big", "job_id": job},
            "formats": ["csv", "json", "xlsx"],
        }))?;
        let before = peak_mib(bench.api.pid());
        let (took, run) = bench.run(&id).await?;
        let peak = peak_mib(bench.api.pid());
        let bytes: i64 = run["files"]
            .as_array()
            .map_or(0, |f| f.iter().filter_map(|f| f["size"].as_i64()).sum());
        println!(
            "journeys export, {n} journeys (csv+json+xlsx, {:.0} MB of files): {:.1} s, {:.0} journeys/s; API peak RSS {:.0} MiB (at start {:.0} MiB)",
            bytes as f64 / 1e6,
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            peak,
            before,
        );
        assert_eq!(
            run["rows"].as_u64(),
            Some(n),
            "every journey exported: {run}"
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ch = storage::testing::TestDatabase::migrated("report_bench").await;
    let pg = metadata::testing::TestDatabase::new("report_bench").await;
    let storage = std::env::temp_dir().join(format!("report-bench-{}", std::process::id()));
    let result = match args.scenario.as_str() {
        "simple" => simple(&args, &ch, &pg.cfg.database_url, &storage).await,
        "journeys" => journeys(&args, &ch, &pg.cfg.database_url, &storage).await,
        other => Err(anyhow::anyhow!(
            "unknown scenario {other:?}: simple or journeys"
        )),
    };
    let _ = std::fs::remove_dir_all(&storage);
    ch.drop().await;
    pg.drop().await;
    result
}
