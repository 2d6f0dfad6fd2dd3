//! The Grafana provisioning of deploy/grafana/ against the real components.
//!
//! - The provisioning files parse (YAML through PyYAML, the dashboards as
//!   JSON) and point at each other: the provider's path is the dashboards
//!   directory, every query's datasource is a provisioned one, the scrape
//!   example's ports are the binaries' defaults.
//! - Every ClickHouse query of the dashboards, its macros and variables
//!   expanded as the plugin and Grafana expand them, runs on the local
//!   ClickHouse 18.16 against a database the real processor filled from a
//!   loadgen run, returns rows, and the KPI panels show the oracle's
//!   figures; the same queries run on a current ClickHouse engine (chdb),
//!   which production runs.
//! - Every metric a PromQL expression names is exported by the running
//!   processor or query API (after traffic that touches every labelled
//!   metric the dashboards chart), with its type respected.
//!
//! Grafana itself cannot be installed here (infrastructure.md): what it
//! does with the files is taken from its documentation and the plugin's
//! source (deploy/grafana/README.md).

#[path = "grafana/dashboards.rs"]
mod dashboards;
#[path = "grafana/promql.rs"]
mod promql;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::loadgen::expected_json::ExpectedFile;
use integration_tests::api;
use integration_tests::ingest::{api_env, producer_keys, JsonEvent, Poster};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{
    loadgen_command, log_dir, read_expected, wait_caught_up, ProcessorSpec,
};
use integration_tests::server::free_port;
use integration_tests::{bin, clickhouse_url, fresh_database, unique};
use metadata::testing::TestDatabase;
use serde_json::{json, Value};

use dashboards::{Query, CLICKHOUSE, PROMETHEUS};
use promql::{Exposition, MetricRef};

/// Two tenants in different time zones, several jobs, duplicates and a
/// few poison records (so that dead letters are counted).
#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "43", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "15",
    "--days", "8", "--duplicate-ratio", "0.1", "--poison", "3",
];

const CATCH_UP: Duration = Duration::from_secs(120);

/// The dashboard whose ClickHouse panels are the KPIs.
const KPIS: &str = "campaign-kpis";

/// A Python with PyYAML and chdb: the test venv (deploy/local/env.sh
/// exports VENV_DIR; `make test` installs it), else the system's python3
/// (PyYAML only).
fn python() -> String {
    match std::env::var("VENV_DIR") {
        Ok(dir) => format!("{dir}/bin/python"),
        Err(_) => "python3".into(),
    }
}

/// Run `script` with `python` on `input`; its standard output.
fn run_python(python: &str, script: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}): source deploy/local/env.sh"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).expect("write to python");
    }
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "{python} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Files as JSON, parsed by PyYAML's safe loader.
fn yaml_files(paths: &[&Path]) -> Vec<Value> {
    const SCRIPT: &str = "import json, sys, yaml\n\
        print(json.dumps([yaml.safe_load(open(p)) for p in sys.argv[1:]]))";
    let args: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python(&python(), SCRIPT, &args, "");
    let docs: Vec<Value> = serde_json::from_str(&out).expect("PyYAML's answer is JSON");
    assert_eq!(docs.len(), paths.len());
    docs
}

/// The port of a `[default: HOST:PORT]` in a binary's help after `flag`.
fn default_port(binary: &str, args: &[&str], flag: &str) -> u16 {
    let out = Command::new(bin(binary))
        .args(args)
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let after = help
        .split(flag)
        .nth(1)
        .unwrap_or_else(|| panic!("{binary} {args:?} has no {flag}"));
    let default = after
        .split("[default: ")
        .nth(1)
        .and_then(|d| d.split(']').next())
        .unwrap_or_else(|| panic!("{flag} has no default"));
    default
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{flag}'s default {default} has no port"))
}

#[test]
fn provisioning_files_parse_and_point_at_each_other() {
    let dir = dashboards::grafana_dir();
    let datasources_file = dir.join("provisioning/datasources/campaign-analytics.yaml");
    let providers_file = dir.join("provisioning/dashboards/campaign-analytics.yaml");
    let scrape_file = dir.join("prometheus.yml");
    let docs = yaml_files(&[&datasources_file, &providers_file, &scrape_file]);
    let (datasources, providers, scrape) = (&docs[0], &docs[1], &docs[2]);

    // Datasources: one ClickHouse, one Prometheus, unique uids.
    assert_eq!(datasources["apiVersion"], 1, "{datasources}");
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    for ds in datasources["datasources"].as_array().expect("datasources") {
        let uid = ds["uid"].as_str().expect("every datasource has a uid");
        let kind = ds["type"].as_str().expect("every datasource has a type");
        assert!(ds["name"].is_string(), "{ds}");
        assert_eq!(ds["access"], "proxy", "{ds}");
        assert!(
            ds["url"].as_str().is_some_and(|u| u.starts_with("http")),
            "{ds}"
        );
        assert!(
            uids.insert(uid.into(), kind.into()).is_none(),
            "uid {uid} twice"
        );
    }
    let kinds: BTreeSet<&str> = uids.values().map(String::as_str).collect();
    assert_eq!(kinds, BTreeSet::from([CLICKHOUSE, PROMETHEUS]));

    // The provider reads the dashboards directory once provisioning/ is
    // copied to /etc/grafana/provisioning.
    assert_eq!(providers["apiVersion"], 1, "{providers}");
    let list = providers["providers"].as_array().expect("providers");
    assert_eq!(list.len(), 1, "{providers}");
    assert_eq!(list[0]["type"], "file");
    let path = list[0]["options"]["path"].as_str().expect("options.path");
    let in_tree = path
        .strip_prefix("/etc/grafana/provisioning/")
        .unwrap_or_else(|| panic!("{path} is not under /etc/grafana/provisioning"));
    assert_eq!(
        dir.join("provisioning").join(in_tree).canonicalize().ok(),
        dashboards::dashboards_dir().canonicalize().ok(),
        "the provider's path is the dashboards directory"
    );

    // The scrape example: both binaries, at their default ports.
    let ports = [
        (
            "campaign-processor",
            default_port("processor", &["run", "--help"], "--metrics-addr"),
        ),
        (
            "campaign-query-api",
            default_port("query-api", &["serve", "--help"], "--listen"),
        ),
    ];
    let jobs = scrape["scrape_configs"].as_array().expect("scrape_configs");
    for (job, port) in ports {
        let config = jobs
            .iter()
            .find(|j| j["job_name"] == job)
            .unwrap_or_else(|| panic!("no scrape job {job}"));
        assert_eq!(config["metrics_path"], "/metrics");
        let targets: Vec<&str> = config["static_configs"][0]["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            targets.iter().any(|t| t.ends_with(&format!(":{port}"))),
            "{job}: {targets:?} (default port {port})"
        );
    }

    // Dashboards: unique uids and panel ids, provisioned datasources only,
    // every query readable.
    let mut dashboard_uids = BTreeSet::new();
    for (file, d) in dashboards::load() {
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no uid"));
        assert!(dashboard_uids.insert(uid.to_string()), "uid {uid} twice");
        assert!(d["title"].is_string(), "{file}: no title");
        let mut ids = BTreeSet::new();
        for p in dashboards::panels(&d) {
            let id = p["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{file}: a panel without id"));
            assert!(ids.insert(id), "{file}: panel id {id} twice");
            let sources = [&p["datasource"]].into_iter().chain(
                p["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| &t["datasource"]),
            );
            for ds in sources.filter(|ds| !ds.is_null()) {
                let uid = ds["uid"].as_str().unwrap_or_default();
                assert_eq!(
                    uids.get(uid).map(String::as_str),
                    ds["type"].as_str(),
                    "{file}: {}: datasource {ds} is not a provisioned one",
                    p["title"]
                );
            }
        }
        let names: Vec<&str> = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        let dummy: Vec<(&str, &str)> = names.iter().map(|n| (*n, "x")).collect();
        let vars = dashboards::variables(0, 1, &dummy);
        for q in dashboards::queries(&file, &d) {
            assert!(!q.text.trim().is_empty(), "{}: empty query", q.place);
            match q.datasource.as_str() {
                PROMETHEUS => {
                    let refs =
                        promql::metrics(&q.text).unwrap_or_else(|e| panic!("{}: {e}", q.place));
                    assert!(!refs.is_empty(), "{}: no metric in {}", q.place, q.text);
                }
                CLICKHOUSE => {
                    if let Err(e) = dashboards::expand(&q.text, &vars) {
                        panic!("{}: {e}", q.place);
                    }
                }
                other => panic!("{}: datasource type {other}", q.place),
            }
        }
    }
    assert!(dashboard_uids.contains(KPIS), "{dashboard_uids:?}");
}

/// Every ClickHouse query of every dashboard (variables included).
fn clickhouse_queries() -> Vec<Query> {
    dashboards::load()
        .iter()
        .flat_map(|(file, d)| dashboards::queries(file, d))
        .filter(|q| q.datasource == CLICKHOUSE)
        .collect()
}

#[test]
fn dashboard_sql_runs_on_a_current_clickhouse_engine() {
    // Production runs current ClickHouse: every query, on the migrated
    // (empty) schema in chdb, as tests/python/test_migrations_chdb.py
    // migrates it.
    const SCRIPT: &str = "import json, sys, tempfile\n\
        sys.path.insert(0, 'tests/python')\n\
        import test_migrations_chdb as m\n\
        from chdb import session\n\
        scratch = tempfile.TemporaryDirectory()\n\
        s = session.Session(scratch.name)\n\
        s.query('CREATE DATABASE IF NOT EXISTS analytics')\n\
        m.migrate(s)\n\
        failed = []\n\
        for place, sql in json.load(sys.stdin):\n\
        \x20   try:\n\
        \x20       s.query(sql, 'JSONCompact')\n\
        \x20   except Exception as e:\n\
        \x20       failed.append([place, str(e)[:600]])\n\
        s.close()\n\
        scratch.cleanup()\n\
        print(json.dumps(failed))";
    let venv = std::env::var("VENV_DIR").unwrap_or_else(|_| {
        panic!("VENV_DIR is not set: run through `make test` or source deploy/local/env.sh (chdb is in the test venv)")
    });
    let vars = dashboards::variables(
        1_780_000_000,
        1_800_000_000,
        &[("database", "analytics"), ("tenant", "t0")],
    );
    let queries: Vec<(String, String)> = clickhouse_queries()
        .into_iter()
        .map(|q| {
            let sql = dashboards::expand(&q.text, &vars).unwrap_or_else(|e| panic!("{e}"));
            (q.place, sql)
        })
        .collect();
    assert!(queries.len() >= 5, "{queries:?}");
    let input = serde_json::to_string(&queries).expect("JSON");
    let out = run_python(&format!("{venv}/bin/python"), SCRIPT, &[], &input);
    let failed: Vec<(String, String)> =
        serde_json::from_str(out.trim().lines().last().unwrap_or("[]")).expect("JSON answer");
    assert!(failed.is_empty(), "failed on chdb: {failed:#?}");
}

/// A number of ClickHouse's JSON output (64-bit integers come quoted).
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// What a query returned: its columns in order, its rows as objects.
#[derive(Debug)]
struct Answer {
    columns: Vec<String>,
    rows: Vec<Value>,
}

/// Run `sql` as the plugin does (`FORMAT JSON` appended).
async fn run_sql(client: &clickhouse::Client, place: &str, sql: &str) -> Answer {
    let bytes = match client.query(sql).fetch_bytes("JSON") {
        Ok(mut cursor) => cursor.collect().await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| panic!("{place} fails on ClickHouse: {e}\n{sql}"));
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{place}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer {
        columns: answer["meta"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect(),
        rows: answer["data"].as_array().cloned().unwrap_or_default(),
    }
}

/// The processor's /metrics page.
async fn scrape(addr: &str) -> String {
    let out = tokio::process::Command::new("curl")
        .args(["-fsS", "--max-time", "5", &format!("http://{addr}/metrics")])
        .output()
        .await
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// POST `body` with `key`: the status and the JSON answer.
async fn post_json(poster: &Poster, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = poster
        .post(path, key, body.to_string().into())
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e:#}"));
    let v: Value = r.json().unwrap_or_else(|e| panic!("POST {path}: {e:#}"));
    (r.status, v)
}

/// Requests that touch every labelled metric of the query API the
/// dashboards chart: reads (200, 401, 404), one event accepted and one
/// rejected by HTTP ingestion, one report run.
async fn drive_the_api(
    api: &api::QueryApi,
    keys: &api::Keys,
    producer_key: &str,
    events: &[JsonEvent],
    tenant: &str,
) {
    for (t, key) in &keys.tenants {
        for path in ["/v1/campaigns", "/v1/overview?granularity=day"] {
            let r = api.get_as(path, Some(key), None).await;
            assert_eq!(r.status, 200, "{t}: {path}: {}", r.text());
        }
        let r = api
            .get_as("/v1/campaigns/none/report", Some(key), None)
            .await;
        assert_eq!(r.status, 404, "{}", r.text());
    }
    assert_eq!(api.get_as("/v1/campaigns", None, None).await.status, 401);

    // Ingestion: an event loadgen produced already (a duplicate: no figure
    // changes) and the same with an empty event_id (rejected).
    let poster = Poster::new(&api.base);
    let event = events
        .iter()
        .find(|e| e.tenant == tenant)
        .expect("an event of the tenant");
    let mut bad: Value = serde_json::from_str(&event.json).expect("event JSON");
    bad["event_id"] = json!("");
    let body = format!("{{\"events\":[{},{bad}]}}", event.json);
    let answer = poster
        .ingest("/v1/events/batch", producer_key, body.into())
        .await
        .unwrap_or_else(|e| panic!("POST /v1/events/batch: {e:#}"));
    assert_eq!(answer.accepted, 1, "{answer:?}");
    assert_eq!(answer.rejected.len(), 1, "{answer:?}");

    // One report run, to the end.
    let q = format!("tenant_id={tenant}");
    let (status, definition) = post_json(
        &poster,
        &format!("/v1/report-definitions?{q}"),
        &keys.admin,
        &json!({"name": "Grafana check", "kind": "campaign_reports", "formats": ["csv"]}),
    )
    .await;
    assert_eq!(status, 201, "{definition}");
    let id = definition["id"].as_str().expect("definition id");
    let (status, run) = post_json(
        &poster,
        &format!("/v1/report-definitions/{id}/run?{q}"),
        &keys.admin,
        &json!({}),
    )
    .await;
    assert_eq!(status, 202, "{run}");
    let run_id = run["id"].as_str().expect("run id");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = api
            .get_json(&format!("/v1/report-runs/{run_id}?{q}"), &keys.admin)
            .await;
        match v["state"].as_str() {
            Some("succeeded") => break,
            Some("failed" | "cancelled") => panic!("report run: {v}"),
            _ if Instant::now() > deadline => panic!("report run not done: {v}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_show_the_pipeline_figures_and_name_only_exported_metrics() {
    // Traffic through the real processor into a fresh database.
    let topics = Topics::unique("grafana", 4);
    kafka::create(&topics).await;
    let expected_path = log_dir().join(format!("{}.json", unique("grafana-expected")));
    let events_path = log_dir().join(format!("{}.jsonl", unique("grafana-events")));
    let events_arg = events_path.display().to_string();
    let status = loadgen_command(
        &topics,
        &[TRAFFIC, &["--emit-json", &events_arg]].concat(),
        &expected_path,
    )
    .status()
    .expect("run loadgen");
    assert!(status.success(), "loadgen failed: {status}");
    let exp: ExpectedFile = read_expected(&expected_path);
    let events =
        benches::e2e::ingest::read_json_events(&events_path).unwrap_or_else(|e| panic!("{e:#}"));
    let (db, client) = fresh_database("e2e_grafana").await;
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut spec = ProcessorSpec::new(&topics, &db, &exp);
    spec.extra_env
        .push(("METRICS_ADDR".into(), metrics_addr.clone()));
    let mut processor = spec.start("grafana");
    wait_caught_up(&client, &topics, &exp, CATCH_UP, &mut [&mut processor]).await;

    // The query API with every role: reads, ingestion, alerts and reports.
    let pg = TestDatabase::new("grafana_e2e").await;
    let keys = api::keys(exp.tenants.keys());
    let producers = producer_keys(exp.tenants.keys());
    let keys_file = log_dir().join(format!("{}.toml", unique("grafana-keys")));
    let both = [&keys.path, &producers.path]
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("keys file"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&keys_file, both).expect("write keys");
    let (rules_topic, alerts_topic) = (unique("grafana-rules"), unique("grafana-alerts"));
    kafka::create_topic(&rules_topic, 1).await;
    kafka::create_topic(&alerts_topic, 1).await;
    let mut env: Vec<(String, String)> = api_env(&topics, &producers)
        .into_iter()
        .filter(|(k, _)| k != "API_KEYS_FILE")
        .collect();
    env.extend(
        [
            ("API_KEYS_FILE", keys_file.display().to_string()),
            ("DATABASE_URL", pg.cfg.database_url.clone()),
            ("TOPIC_ALERT_RULES", rules_topic),
            ("TOPIC_ALERTS", alerts_topic),
            ("ALERT_STORE_GROUP", unique("grafana-alert-store")),
            (
                "REPORT_STORAGE",
                log_dir()
                    .join(unique("grafana-reports"))
                    .display()
                    .to_string(),
            ),
            ("REPORT_LINK_SECRET", "grafana-test".into()),
            ("REPORT_POLL_MS", "100".into()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let api =
        api::QueryApi::start_with(&clickhouse_url(), &db, &spec.tenant_timezones, env, true).await;
    let tenant = exp.tenants.keys().next().expect("a tenant").clone();
    let producer_key = producers.of(&tenant).expect("producer key").to_string();
    drive_the_api(&api, &keys, &producer_key, &events, &tenant).await;

    // Every metric of every PromQL expression, on the processor's or the
    // API's page (partition lag comes with librdkafka's statistics, every
    // 5 s: wait for it).
    let prometheus: Vec<(String, MetricRef)> = dashboards::load()
        .iter()
        .flat_map(|(file, d)| dashboards::queries(file, d))
        .filter(|q| q.datasource == PROMETHEUS)
        .flat_map(|q| {
            promql::metrics(&q.text)
                .unwrap_or_else(|e| panic!("{}: {e}", q.place))
                .into_iter()
                .map(move |m| (q.place.clone(), m))
        })
        .collect();
    assert!(prometheus.len() > 20, "{prometheus:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        processor.assert_running();
        let processor_page = Exposition::parse(&scrape(&metrics_addr).await);
        let api_page = Exposition::parse(&api.get_as("/metrics", None, None).await.text());
        let sources = [("processor", &processor_page), ("query API", &api_page)];
        let failures: Vec<String> = prometheus
            .iter()
            .filter_map(|(place, m)| {
                promql::check(m, &sources)
                    .err()
                    .map(|e| format!("{place}: {e}"))
            })
            .collect();
        if failures.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PromQL names metrics the binaries do not export (as used):\n{}",
            failures.join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Every ClickHouse query, per tenant, over a range covering the traffic.
    let first_ms = exp
        .reports
        .iter()
        .map(|r| r.first_event_at)
        .min()
        .expect("reports");
    let last_ms = exp
        .reports
        .iter()
        .map(|r| r.last_event_at)
        .max()
        .expect("reports");
    let (from_s, to_s) = (first_ms / 1000 - 2 * 86_400, last_ms / 1000 + 2 * 86_400);
    let queries = clickhouse_queries();
    let variable = queries
        .iter()
        .find(|q| q.dashboard == KPIS && q.panel == "$tenant")
        .expect("the tenant variable");
    let vars = dashboards::variables(from_s, to_s, &[("database", &db)]);
    let sql = dashboards::expand(&variable.text, &vars).unwrap_or_else(|e| panic!("{e}"));
    let tenants: Vec<String> = run_sql(&client, &variable.place, &sql)
        .await
        .rows
        .iter()
        .filter_map(|row| row["tenant_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        tenants,
        exp.tenants.keys().cloned().collect::<Vec<_>>(),
        "the tenant variable lists the tenants"
    );
    for tenant in &tenants {
        assert!(!tenant.contains('\''), "{tenant}");
        let vars = dashboards::variables(from_s, to_s, &[("database", &db), ("tenant", tenant)]);
        let mut results: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for q in queries.iter().filter(|q| q.panel != "$tenant") {
            let sql = dashboards::expand(&q.text, &vars).unwrap_or_else(|e| panic!("{e}"));
            let Answer { columns, rows } = run_sql(&client, &q.place, &sql).await;
            assert!(!rows.is_empty(), "{} ({tenant}): no row\n{sql}", q.place);
            if q.format.as_deref() == Some("time_series") {
                // The plugin takes the first column as the time in ms, in
                // ascending order.
                let times: Vec<f64> = rows.iter().map(|r| num(&r[&columns[0]])).collect();
                let (low, high) = ((from_s - 86_400) as f64 * 1e3, (to_s + 86_400) as f64 * 1e3);
                assert!(
                    times.iter().all(|t| (low..=high).contains(t))
                        && times.windows(2).all(|w| w[0] < w[1]),
                    "{}: the first column ({}) is not an ascending time in ms: {times:?}",
                    q.place,
                    columns[0]
                );
            }
            if q.dashboard == KPIS {
                results.insert(q.panel.clone(), rows);
            }
        }
        check_kpis(&exp, tenant, &results);
    }
    processor.stop();
}

/// The KPI panels of `tenant` against the oracle's figures.
fn check_kpis(exp: &ExpectedFile, tenant: &str, results: &BTreeMap<String, Vec<Value>>) {
    let panel = |title: &str| -> &Vec<Value> {
        results
            .get(title)
            .unwrap_or_else(|| panic!("no KPI panel {title:?}: {:?}", results.keys()))
    };
    let campaigns: Vec<_> = exp
        .reports
        .iter()
        .filter(|r| r.tenant_id == tenant && r.job_id.is_none())
        .collect();
    assert!(campaigns.len() >= 2, "{tenant} has campaigns");
    let sum = |f: fn(&&benches::loadgen::expected_json::Report) -> u64| -> f64 {
        campaigns.iter().map(f).sum::<u64>() as f64
    };

    // Over the whole traffic, distinct users per campaign summed over
    // campaigns are the campaign reports' figures.
    let totals = &panel("Totals over the time range")[0];
    assert_eq!(
        num(&totals["campaigns"]),
        campaigns.len() as f64,
        "{totals}"
    );
    assert_eq!(
        num(&totals["sent_users"]),
        sum(|r| r.sent_users),
        "{totals}"
    );
    assert_eq!(
        num(&totals["interacted_users"]),
        sum(|r| r.interacted_users),
        "{totals}"
    );
    assert_eq!(
        num(&totals["interactions"]),
        sum(|r| r.total_interactions),
        "{totals}"
    );
    let status = &panel("Campaign status now")[0];
    for (column, symbol) in [
        ("running", "RUNNING"),
        ("completed", "COMPLETED"),
        ("error", "ERROR"),
    ] {
        let want = campaigns
            .iter()
            .filter(|r| r.status.as_deref() == Some(symbol))
            .count();
        assert_eq!(num(&status[column]), want as f64, "{column}: {status}");
    }

    // Per day: the oracle's daily overview.
    let days: Vec<_> = exp
        .rollups
        .day
        .iter()
        .filter(|p| p.tenant_id == tenant)
        .collect();
    let midnight = |p: &&benches::loadgen::expected_json::Period| -> f64 {
        p.period_start
            .and_hms_opt(0, 0, 0)
            .map_or(f64::NAN, |t| t.and_utc().timestamp_millis() as f64)
    };
    for (title, columns) in [
        (
            "Users per day",
            &[
                ("active", "target_users"),
                ("sent", "sent_users"),
                ("interacted", "interacted_users"),
            ][..],
        ),
        (
            "Interactions per day",
            &[
                ("interactions", "interactions"),
                ("active_campaigns", "campaigns"),
            ][..],
        ),
        (
            "Interaction rate per day",
            &[("interaction_rate", "interaction_rate")][..],
        ),
    ] {
        let rows = panel(title);
        assert_eq!(rows.len(), days.len(), "{title}: {rows:?}");
        for (row, day) in rows.iter().zip(&days) {
            assert_eq!(num(&row["t"]), midnight(day), "{title}: {row} vs {day:?}");
            let oracle = serde_json::to_value(day).expect("period JSON");
            for (column, field) in columns {
                assert!(
                    (num(&row[*column]) - num(&oracle[*field])).abs() < 1e-6,
                    "{title}, {}: {column} {} but {field} {}",
                    day.period_start,
                    row[*column],
                    oracle[*field]
                );
            }
        }
    }

    // Completions per UTC day: the step that reached the first end node.
    let mut completed: BTreeMap<i64, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for j in exp.journeys.iter().flatten() {
        if j.tenant_id != tenant || !j.completed {
            continue;
        }
        let exit = j.exit_node.as_deref().unwrap_or_default();
        let step = j
            .steps
            .iter()
            .find(|s| s.node_id == exit)
            .unwrap_or_else(|| panic!("no step at the exit node: {j:?}"));
        let day = step.occurred_at.div_euclid(86_400_000) * 86_400_000;
        completed
            .entry(day)
            .or_default()
            .insert((j.campaign_id.as_str(), j.user_id.as_str()));
    }
    let got: BTreeMap<i64, f64> = panel("Journeys completed per day")
        .iter()
        .map(|r| (num(&r["t"]) as i64, num(&r["completed"])))
        .collect();
    let want: BTreeMap<i64, f64> = completed
        .iter()
        .map(|(d, users)| (*d, users.len() as f64))
        .collect();
    assert_eq!(got, want, "completed journeys per day");

    // The campaign table: the latest report of every campaign.
    let rows = panel("Campaigns");
    assert_eq!(rows.len(), campaigns.len(), "{rows:?}");
    for r in &campaigns {
        let row = rows
            .iter()
            .find(|row| row["campaign_id"] == r.campaign_id.as_str())
            .unwrap_or_else(|| panic!("campaign {} not in the table", r.campaign_id));
        assert_eq!(
            row["current_status"].as_str(),
            Some(r.status.as_deref().unwrap_or_default()),
            "{row}"
        );
        for (column, want) in [
            ("target", r.target_users),
            ("sent", r.sent_users),
            ("interacted", r.interacted_users),
            ("completed", r.completed_users),
            ("interaction_events", r.total_interactions),
            ("messages", r.messages_sent),
            ("warnings", r.warnings_sent),
        ] {
            assert_eq!(
                num(&row[column]),
                want as f64,
                "{}: {column}: {row}",
                r.campaign_id
            );
        }
    }
}
