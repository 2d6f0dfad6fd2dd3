//! Live streams benchmark: commit-to-client latency and memory per
//! connection with many concurrent SSE clients (issue 14: p99 at most 1 s
//! with 1,000 and 10,000 clients).
//!
//! A scratch ClickHouse database holds `--tenants` x `--campaigns` campaign
//! reports on 8 partitions; the release `query-api` serves them. For each
//! client count, that many `GET /v1/campaigns/stream` clients (one HTTP
//! connection each, spread over the tenants' keys) connect and read until
//! `synced`. Then `--commits` commits are made as the processor makes them:
//! each changes one campaign per tenant (report rows with a new version,
//! `sent_users` = the commit's number), then writes the checkpoints of
//! every partition with that version. The commit time is when the
//! checkpoint insert returned; a client's latency is from then to the
//! moment it has parsed the event of that commit. Every client must get
//! every commit. Memory per connection: the API's resident memory with
//! the clients connected, minus before, over the clients.
//!
//! Clients, API and ClickHouse share this machine's cores: the latencies
//! include the clients' own parsing.
//!
//! ```text
//! cargo build --release -p query-api -p benches --bins
//! target/release/live-bench --clients 1000,10000
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use benches::e2e::api::{Keys, QueryApi, Settings, Wait};
use benches::e2e::sse::SseStream;
use clap::Parser;
use storage::rows::ReportRow;
use tokio::sync::Semaphore;

/// Live streams benchmark (see the module documentation).
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent SSE clients, comma-separated for several runs.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Commits per run.
    #[arg(long, default_value_t = 20)]
    commits: u64,
    /// Time between two commits, in milliseconds.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Tenants (each client follows one; each commit changes one campaign
    /// of every tenant).
    #[arg(long, default_value_t = 10)]
    tenants: usize,
    /// Campaigns per tenant.
    #[arg(long, default_value_t = 10)]
    campaigns: usize,
    /// The API's LIVE_POLL_MS.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// The query-api binary.
    #[arg(long, default_value = "target/release/query-api")]
    query_api: PathBuf,
}

const PARTITIONS: i32 = 8;
/// Clients connecting at once (as a reconnect storm of a fleet of browsers
/// behind a load balancer would).
const CONNECTING: usize = 200;
/// Versions as the processor makes them: epoch 1, milliseconds below.
const BASE_VERSION: u64 = (1 << 41) + 1_793_527_200_000;

fn report(tenant: &str, campaign: usize, version: u64, sent: u64) -> ReportRow {
    ReportRow {
        tenant_id: tenant.into(),
        campaign_id: format!("c{campaign:03}"),
        job_id: String::new(),
        partition: campaign as i32 % PARTITIONS,
        version,
        status: "RUNNING".into(),
        target_users: 10_000,
        sent_users: sent,
        interacted_users: sent / 2,
        completed_users: sent / 4,
        interaction_rate: 50.0,
        completion_rate: 25.0,
        total_interactions: sent * 2,
        messages_sent: sent * 3,
        warnings_sent: 0,
        avg_completion_seconds: Some(321.5),
        nodes_json: r#"[{"node_id":"offer","reached_users":5,"choices":{"Yes":3,"No":2}}]"#.into(),
        funnel_json: r#"[{"node_id":"welcome","users":10,"conversion_from_previous":100.0,"drop_off":0},{"node_id":"offer","users":5,"conversion_from_previous":50.0,"drop_off":5}]"#.into(),
        first_event_at_ms: 1_790_000_000_000,
        last_event_at_ms: 1_793_000_000_000,
        snapshot_at: 1_793_527_200,
    }
}

#[derive(clickhouse::Row, serde::Serialize)]
struct CheckpointRow {
    partition: i32,
    version: u64,
    lifecycle_offset: i64,
    notifications_offset: i64,
    interactions_offset: i64,
}

async fn commit(
    client: &clickhouse::Client,
    rows: Vec<ReportRow>,
    version: u64,
) -> anyhow::Result<()> {
    let mut insert = client.insert::<ReportRow>("campaign_reports").await?;
    for row in &rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    let mut insert = client.insert::<CheckpointRow>("checkpoints").await?;
    for partition in 0..PARTITIONS {
        insert
            .write(&CheckpointRow {
                partition,
                version,
                lifecycle_offset: -1,
                notifications_offset: -1,
                interactions_offset: -1,
            })
            .await?;
    }
    insert.end().await?;
    Ok(())
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Adds a permit when dropped.
struct Arrived(Arc<Semaphore>);

impl Drop for Arrived {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// One client: connect, read to `synced`, then note when each commit's
/// event arrived (`sent_users` is the commit's number).
async fn client(
    addr: String,
    key: String,
    commits: u64,
    connected: Arc<Semaphore>,
    deadline: Arc<tokio::sync::OnceCell<Instant>>,
) -> anyhow::Result<Vec<(u64, Instant)>> {
    // Counted as arrived once synced, or when it fails before (the run
    // then reports it as failed instead of waiting for it).
    let arrived = Arrived(connected);
    let mut s = SseStream::connect(&addr, "/v1/campaigns/stream", &key, None).await?;
    loop {
        let e = s
            .next_within(Duration::from_secs(120))
            .await?
            .context("stream ended")?;
        if e.event == "synced" {
            break;
        }
    }
    drop(arrived);
    let mut got = Vec::new();
    while (got.len() as u64) < commits {
        // Waits a second at a time (`next` is cancel-safe) until the run's
        // deadline, set after the last commit, has passed.
        if deadline.get().is_some_and(|d| Instant::now() >= *d) {
            break;
        }
        let e = match tokio::time::timeout(Duration::from_secs(1), s.next()).await {
            Err(_) => continue,
            Ok(Ok(Some(e))) => e,
            Ok(Ok(None)) => bail!("the stream ended"),
            Ok(Err(e)) => return Err(e),
        };
        let at = Instant::now();
        if e.event != "campaign" {
            bail!("unexpected event {}: {}", e.event, e.data);
        }
        let v: serde_json::Value = serde_json::from_str(&e.data)?;
        // `sent_users` is the commit's number in this run (0: the initial
        // state, or an earlier run's).
        let k = v["sent_users"].as_u64().context("sent_users")?;
        if k > 0 && k <= commits {
            got.push((k, at));
        }
    }
    Ok(got)
}

async fn run(
    args: &Args,
    db: &storage::testing::TestDatabase,
    keys: &Keys,
    n: usize,
    first_commit: u64,
) -> anyhow::Result<String> {
    let ch = db.client();
    let dir = std::env::temp_dir();
    let settings = Settings {
        bin: args.query_api.clone(),
        log_dir: dir,
        clickhouse_url: std::env::var("CLICKHOUSE_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: db.cfg.database.clone(),
        tenant_timezones: String::new(),
        extra_env: vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("LIVE_POLL_MS".into(), args.poll_ms.to_string()),
            ("RATE_LIMIT_PER_SECOND".into(), "1000000".into()),
            ("RATE_LIMIT_BURST".into(), "1000000".into()),
            ("RUST_LOG".into(), "warn".into()),
        ],
    };
    let api = QueryApi::start(&settings, Wait::Ready).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(api.pid());
    let tenants: Vec<(String, String)> = keys
        .tenants
        .iter()
        .map(|(t, k)| (t.clone(), k.clone()))
        .collect();
    let connected = Arc::new(Semaphore::new(0));
    let deadline = Arc::new(tokio::sync::OnceCell::new());
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (addr, key) = (api.addr().to_string(), tenants[i % tenants.len()].1.clone());
        let (connected, deadline, gate) = (connected.clone(), deadline.clone(), gate.clone());
        let commits = args.commits;
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let c = client(addr, key, commits, connected, deadline);
            drop(permit);
            c.await
        }));
    }
    let all = connected.acquire_many(u32::try_from(n)?).await;
    let connect_seconds = started.elapsed().as_secs_f64();
    drop(all);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(api.pid());
    eprintln!(
        "live-bench: {n} clients connected in {connect_seconds:.1} s; API RSS {} -> {} MiB",
        before / 1024,
        after / 1024
    );

    let mut commit_at = Vec::new();
    for k in 1..=args.commits {
        // Versions grow across runs (a checkpoint that does not move is no
        // commit).
        let version = BASE_VERSION + (first_commit + k) * 1000;
        let rows = tenants
            .iter()
            .map(|(t, _)| report(t, k as usize % args.campaigns, version, k))
            .collect();
        commit(&ch, rows, version).await?;
        commit_at.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    let _ = deadline.set(Instant::now() + Duration::from_secs(10));
    let mut latencies = Vec::with_capacity(n * args.commits as usize);
    let (mut missing, mut failed) = (0u64, 0u64);
    for t in tasks {
        match t.await? {
            Ok(got) => {
                missing += args.commits - got.len() as u64;
                for (k, at) in got {
                    let committed = commit_at[(k - 1) as usize];
                    latencies.push(at.saturating_duration_since(committed).as_secs_f64());
                }
            }
            Err(e) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("live-bench: a client failed: {e:#}");
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let per_conn = (after.saturating_sub(before)) as f64 / n as f64;
    let cpu = std::fs::read_to_string(format!("/proc/{}/stat", api.pid())).unwrap_or_default();
    let ticks: Vec<&str> = cpu
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let cpu_s = ticks
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + ticks
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    let metrics = api.get("/metrics", None, None).await?.text();
    let catch_up_reads = metrics
        .lines()
        .find_map(|l| l.strip_prefix("query_api_live_catch_up_reads_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let row = format!(
        "| {n} | {connect_seconds:.1} s | {catch_up_reads:.0} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} KiB | {} | {} | {:.1} s |",
        latencies.len(),
        percentile(&latencies, 0.5) * 1000.0,
        percentile(&latencies, 0.99) * 1000.0,
        latencies.last().copied().unwrap_or(f64::NAN) * 1000.0,
        per_conn,
        missing,
        failed,
        cpu_s / 100.0,
    );
    drop(api);
    Ok(row)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The API of this bench serves reports only: no alerts, no ingestion
    // (the local stack's env.sh sets both).
    std::env::remove_var("DATABASE_URL");
    std::env::remove_var("KAFKA_BROKERS");
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(0);
    let most = args.clients.iter().copied().max().unwrap_or(0);
    if limit < most + 500 {
        bail!("{most} clients need more open files than this shell allows ({limit}): raise it with `ulimit -n {}`", most + 1000);
    }
    let db = storage::testing::TestDatabase::migrated("live_bench").await;
    let tenants: Vec<String> = (0..args.tenants).map(|t| format!("t{t:02}")).collect();
    let keys = Keys::write(&std::env::temp_dir(), &tenants)?;
    let initial: Vec<ReportRow> = tenants
        .iter()
        .flat_map(|t| (0..args.campaigns).map(move |c| report(t, c, BASE_VERSION, 0)))
        .collect();
    let result = async {
        commit(&db.client(), initial, BASE_VERSION).await?;
        // Each run's row as soon as it is known (a later, larger run may
        // take long or fail).
        println!(
            "| SSE clients | all connected and synced after | catch-up reads | events | p50 commit → client | p99 | max | API memory per connection | events missing | clients failed | API CPU |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for (i, &n) in args.clients.iter().enumerate() {
            let first_commit = i as u64 * args.commits;
            println!("{}", run(&args, &db, &keys, n, first_commit).await?);
        }
        anyhow::Ok(())
    }
    .await;
    db.drop().await;
    result
}
