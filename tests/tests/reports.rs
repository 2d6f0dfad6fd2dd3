//! Scheduled reports end to end: loadgen traffic through the real
//! processor into the real ClickHouse, the real `query-api` binary with
//! its report workers on the real PostgreSQL, files read back with
//! independent readers (openpyxl for XLSX, poppler's `pdftotext` and
//! `pdftoppm` for PDF, the `zip` crate and a CSV split for CSV, Chromium
//! for the HTML and for `/docs`), links
//! fetched with curl, deliveries received by a real SMTP server (aiosmtpd)
//! and an HTTP receiver.
//!
//! - Every format of a run holds the API's figures (and the load
//!   generator's oracle's) for the same parameters.
//! - Signed links work without a key, and are refused (403) once expired
//!   or tampered with.
//! - Two API instances render runs; whichever holds a running run is
//!   SIGKILLed mid-run, every time: every scheduled time still has exactly
//!   one run, succeeded, and each recipient got its e-mail and webhook
//!   exactly once. A schedule missed while everything was down runs once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use benches::loadgen::expected_json::{self as expected, ExpectedFile};
use chrono::{DateTime, Utc};
use integration_tests::api::{keys, QueryApi};
use integration_tests::browser::rendered_text;
use integration_tests::compare::{assert_no_differences, differences};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{loadgen, log_dir, wait_caught_up, ProcessorSpec};
use integration_tests::sinks::{python, script, Sinks};
use integration_tests::{clickhouse_url, fresh_database, unique};
use metadata::testing::TestDatabase;
use serde_json::{json, Value};

const CATCH_UP: Duration = Duration::from_secs(240);

// ------------------------------------------------------------- helpers

/// An HTTP call with curl (a real client); (status, body).
fn curl(method: &str, url: &str, key: Option<&str>, body: Option<&Value>) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(key) = key {
        cmd.args(["-H", &format!("Authorization: Bearer {key}")]);
    }
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"]);
        cmd.arg(body.to_string());
    }
    let out = cmd.output().expect("curl runs");
    assert!(out.status.success(), "curl {method} {url}: {out:?}");
    let mut bytes = out.stdout;
    let cut = bytes.iter().rposition(|b| *b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&bytes[cut + 1..])
        .trim()
        .parse()
        .unwrap_or(0);
    bytes.truncate(cut);
    (status, bytes)
}

fn json_call(method: &str, url: &str, key: &str, body: Option<&Value>, want: u16) -> Value {
    let (status, bytes) = curl(method, url, Some(key), body);
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, want, "{method} {url}: {text}");
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {url} ({e}): {text}"))
}

/// The API of one tenant through an admin key (`?tenant_id=`).
struct Tenant<'a> {
    base: String,
    key: &'a str,
    tenant: &'a str,
}

impl Tenant<'_> {
    fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}tenant_id={}", self.base, self.tenant)
    }

    fn get(&self, path: &str) -> Value {
        json_call("GET", &self.url(path), self.key, None, 200)
    }

    fn post(&self, path: &str, body: &Value, want: u16) -> Value {
        json_call("POST", &self.url(path), self.key, Some(body), want)
    }

    fn put(&self, path: &str, body: &Value) -> Value {
        json_call("PUT", &self.url(path), self.key, Some(body), 200)
    }

    /// Create a definition; its id.
    fn define(&self, body: Value) -> String {
        let d = self.post("/v1/report-definitions", &body, 201);
        d["id"].as_str().expect("definition id").to_owned()
    }

    /// Run a definition now and wait until the run ends; the run.
    async fn run(&self, definition: &str) -> Value {
        let run = self.post(
            &format!("/v1/report-definitions/{definition}/run"),
            &json!({}),
            202,
        );
        let id = run["id"].as_str().expect("run id").to_owned();
        self.wait_run(&id, Duration::from_secs(120)).await
    }

    async fn wait_run(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let run = self.get(&format!("/v1/report-runs/{id}"));
            let state = run["state"].as_str().unwrap_or_default();
            if state == "succeeded" {
                return run;
            }
            assert!(state != "failed" && state != "cancelled", "run {id}: {run}");
            assert!(Instant::now() < deadline, "run {id} not done: {run}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A signed link of a file of a run.
    fn link(&self, run: &str, format: &str, extra: &str) -> Value {
        self.get(&format!(
            "/v1/report-runs/{run}/download?format={format}{extra}"
        ))
    }

    /// Download a file of a run through its link, without a key.
    fn download(&self, run: &str, format: &str) -> Vec<u8> {
        let link = self.link(run, format, "");
        let url = link["download_url"].as_str().expect("download_url");
        let (status, bytes) = curl("GET", url, None, None);
        assert_eq!(
            status,
            200,
            "GET {url}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(link["size"].as_u64(), Some(bytes.len() as u64), "{link}");
        bytes
    }

    /// Every item of a paginated list.
    fn all(&self, path: &str, field: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}&cursor={c}"),
                None => path.to_owned(),
            };
            let page = self.get(&url);
            items.extend(page[field].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = log_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The files of a zip, by name.
fn unzip(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).expect("a zip entry");
        let mut text = String::new();
        f.read_to_string(&mut text).expect("UTF-8 CSV");
        files.insert(f.name().unwrap_or_default().to_string(), text);
    }
    files
}

/// CSV rows as maps (loadgen's ids hold no commas or quotes; a quoted
/// field fails the test).
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            assert!(!line.contains('"'), "unexpected quoting: {line}");
            header
                .iter()
                .map(|h| h.to_string())
                .zip(line.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The XLSX as openpyxl reads it.
fn xlsx(bytes: &[u8], dir: &Path) -> Value {
    let path = dir.join("report.xlsx");
    std::fs::write(&path, bytes).expect("write the workbook");
    let out = Command::new(python())
        .arg(script("xlsx_to_json.py"))
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "openpyxl could not read the workbook: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON of the workbook")
}

/// The text of a PDF (poppler), and the share of dark pixels of page 1.
fn pdf(bytes: &[u8], dir: &Path) -> (String, f64) {
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let path = dir.join("report.pdf");
    std::fs::write(&path, bytes).expect("write the PDF");
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext runs (apt-get install poppler-utils; deploy/local/install.sh does)");
    assert!(text.status.success(), "pdftotext: {text:?}");
    let prefix = dir.join("page");
    let ppm = Command::new("pdftoppm")
        .args(["-r", "40", "-f", "1", "-l", "1", "-gray"])
        .arg(&path)
        .arg(&prefix)
        .output()
        .expect("pdftoppm runs");
    assert!(ppm.status.success(), "pdftoppm: {ppm:?}");
    let page = std::fs::read_dir(dir)
        .expect("the scratch directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pgm"))
        .expect("a rendered page");
    let pgm = std::fs::read(page).expect("the rendered page");
    // P5 <w> <h> <max>\n then one byte a pixel.
    let mut fields = 0;
    let mut start = 0;
    for (i, b) in pgm.iter().enumerate() {
        if b.is_ascii_whitespace() && i > 0 && !pgm[i - 1].is_ascii_whitespace() {
            fields += 1;
            if fields == 4 {
                start = i + 1;
                break;
            }
        }
    }
    let pixels = &pgm[start..];
    let dark = pixels.iter().filter(|p| **p < 160).count();
    (
        String::from_utf8_lossy(&text.stdout).into_owned(),
        dark as f64 / pixels.len().max(1) as f64,
    )
}

/// The cells of the HTML table rows (text between `<td...>` and `</td>`).
fn html_rows(html: &str) -> Vec<Vec<String>> {
    html.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let start = cell.find('>').map_or(0, |i| i + 1);
                    let end = cell.find("</td>").unwrap_or(cell.len());
                    cell[start..end].trim().to_owned()
                })
                .collect::<Vec<_>>()
        })
        .filter(|cells| !cells.is_empty())
        .collect()
}

// --------------------------------------------------- content and links

#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "31", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "30",
    "--days", "12", "--duplicate-ratio", "0.05",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_holds_the_api_figures_and_links_expire() {
    let topics = Topics::unique("reports", 4);
    kafka::create(&topics).await;
    let exp: ExpectedFile = loadgen(&topics, TRAFFIC);
    let (db, client) = fresh_database("reports").await;
    let spec = ProcessorSpec::new(&topics, &db, &exp);
    let mut p = spec.start("processor-reports");
    wait_caught_up(&client, &topics, &exp, CATCH_UP, &mut [&mut p]).await;

    let pg = TestDatabase::new("reports_e2e").await;
    let keys = keys(exp.tenants.keys());
    let storage = scratch("report-files");
    let api = QueryApi::start_with(
        &clickhouse_url(),
        &db,
        &spec.tenant_timezones,
        vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("DATABASE_URL".into(), pg.cfg.database_url.clone()),
            ("REPORT_STORAGE".into(), storage.display().to_string()),
            ("REPORT_LINK_SECRET".into(), "e2e-link-secret".into()),
            ("REPORT_POLL_MS".into(), "100".into()),
        ],
        true,
    )
    .await;
    let tenant = exp.tenants.keys().next().expect("a tenant").clone();
    let t = Tenant {
        base: api.base.clone(),
        key: &keys.admin,
        tenant: &tenant,
    };
    let dir = scratch("report-check");

    // Campaign reports: every format against the API.
    let all_formats = json!(["csv", "json", "xlsx", "pdf", "html"]);
    let campaigns_def = t.define(json!({
        "name": "All campaigns", "kind": "campaign_reports", "formats": all_formats,
    }));
    let run = t.run(&campaigns_def).await;
    assert_eq!(run["files"].as_array().map(Vec::len), Some(5), "{run}");
    assert_eq!(run["progress"], 100);
    let api_campaigns = t.get("/v1/campaigns?limit=1000")["campaigns"].clone();
    let api_campaigns = api_campaigns.as_array().expect("campaigns").clone();
    assert!(api_campaigns.len() >= 2, "traffic has campaigns");
    let newest = api_campaigns
        .iter()
        .filter_map(|c| c["as_of"].as_str())
        .max()
        .expect("as_of");
    let run_as_of: DateTime<Utc> = run["as_of"].as_str().unwrap().parse().unwrap();
    let newest: DateTime<Utc> = newest.parse().unwrap();
    assert_eq!(run_as_of, newest, "as_of is the newest snapshot read");

    // JSON: the API's objects, and the oracle's figures.
    let file: Value = serde_json::from_slice(&t.download(run["id"].as_str().unwrap(), "json"))
        .expect("the JSON file parses");
    assert_eq!(
        file["tables"]["campaigns"],
        Value::Array(api_campaigns.clone())
    );
    let file_as_of: DateTime<Utc> = file["as_of"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        file_as_of, run_as_of,
        "the file says which snapshot it shows"
    );
    let got: Vec<expected::Report> = api_campaigns
        .iter()
        .map(|v| serde_json::from_value(v.clone()).expect("a report"))
        .collect();
    let want: Vec<expected::Report> = exp
        .reports
        .iter()
        .filter(|r| r.tenant_id == tenant && r.job_id.is_none())
        .cloned()
        .collect();
    let key = |r: &expected::Report| (r.campaign_id.clone(), r.job_id.clone());
    assert_no_differences(&differences("report file", &want, &got, key));
    let mut api_jobs = Vec::new();
    for c in &api_campaigns {
        let id = c["campaign_id"].as_str().unwrap();
        api_jobs.extend(
            t.get(&format!("/v1/campaigns/{id}/jobs"))["jobs"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    assert_eq!(file["tables"]["jobs"], Value::Array(api_jobs.clone()));
    let by_id: BTreeMap<&str, &Value> = api_campaigns
        .iter()
        .map(|c| (c["campaign_id"].as_str().unwrap(), c))
        .collect();
    let run_id = run["id"].as_str().unwrap().to_owned();

    // CSV: a zip of one file per table.
    let zip = unzip(&t.download(&run_id, "csv"));
    assert_eq!(
        zip.keys().cloned().collect::<Vec<_>>(),
        [
            "campaigns.csv",
            "funnel.csv",
            "jobs.csv",
            "node_choices.csv"
        ]
    );
    let rows = csv_rows(&zip["campaigns.csv"]);
    assert_eq!(rows.len(), api_campaigns.len());
    for row in &rows {
        let c = by_id[row["campaign_id"].as_str()];
        for field in [
            "sent_users",
            "interacted_users",
            "completed_users",
            "total_interactions",
        ] {
            assert_eq!(row[field], c[field].to_string(), "CSV {field} of {c}");
        }
        for field in ["interaction_rate", "completion_rate"] {
            let got: f64 = row[field].parse().expect("a rate");
            assert!(close(got, number(&c[field])), "CSV {field} {got} of {c}");
        }
    }
    assert_eq!(csv_rows(&zip["jobs.csv"]).len(), api_jobs.len());
    let funnel_steps: usize = api_campaigns
        .iter()
        .chain(&api_jobs)
        .map(|r| r["funnel"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(csv_rows(&zip["funnel.csv"]).len(), funnel_steps);

    // XLSX, read by openpyxl: typed cells, frozen header, the same figures.
    let book = xlsx(&t.download(&run_id, "xlsx"), &dir);
    let sheet = &book["sheets"]["Campaigns"];
    assert_eq!(sheet["frozen"], "A2", "the header row is frozen");
    let table = sheet["rows"].as_array().expect("rows");
    let header: Vec<&str> = table[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap_or_default())
        .collect();
    assert_eq!(table.len() - 1, api_campaigns.len());
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    for (i, row) in table.iter().enumerate().skip(1) {
        let row = row.as_array().unwrap();
        let c = by_id[row[col("campaign_id")].as_str().unwrap()];
        let types = sheet["types"][i].as_array().unwrap();
        assert_eq!(types[col("sent_users")], "int", "numbers are numbers");
        assert_eq!(types[col("last_event_at")], "datetime", "times are times");
        for field in ["sent_users", "interacted_users", "completed_users"] {
            assert_eq!(row[col(field)], c[field], "XLSX {field}");
        }
        assert!(close(
            number(&row[col("completion_rate")]),
            number(&c["completion_rate"])
        ));
        let at: DateTime<Utc> = c["last_event_at"].as_str().unwrap().parse().unwrap();
        let cell = row[col("last_event_at")].as_str().unwrap();
        let cell = chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("XLSX time {cell:?}: {e}"));
        let off = (cell - at.naive_utc()).num_milliseconds().abs();
        assert!(off <= 1, "XLSX last_event_at {cell} vs {at}");
    }

    // PDF: the text holds every campaign with its figures; page 1 is drawn.
    let (text, dark) = pdf(&t.download(&run_id, "pdf"), &dir);
    assert!(text.contains("All campaigns"), "the title");
    assert!(text.contains(&tenant), "the tenant");
    for c in &api_campaigns {
        let id = c["campaign_id"].as_str().unwrap();
        let sent = c["sent_users"].to_string();
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("campaign {id} is not in the PDF:\n{text}"));
        assert!(
            line.split_whitespace().any(|w| w == sent),
            "sent_users of {id} in {line:?}"
        );
    }
    assert!(dark > 0.01, "page 1 is not blank ({dark})");

    // HTML: the campaigns table and the charts; and as a real browser
    // (Chromium) renders it.
    let html = String::from_utf8(t.download(&run_id, "html")).expect("UTF-8 HTML");
    assert!(html.contains("<svg"), "charts are drawn");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).expect("write the page");
    let seen = rendered_text(&format!("file://{}", page.display()), &dir);
    assert!(
        seen.contains("All campaigns") && seen.contains("Funnel of campaign"),
        "{seen}"
    );
    for c in &api_campaigns {
        let id = c["campaign_id"].as_str().unwrap();
        assert!(
            seen.contains(id),
            "campaign {id} is not on the rendered page"
        );
    }
    let cells = html_rows(&html);
    for c in &api_campaigns {
        let id = c["campaign_id"].as_str().unwrap();
        let row = cells
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("campaign {id} is not in the HTML"));
        assert!(row.contains(&c["sent_users"].to_string()), "{row:?}");
    }

    // Overview: the rollups as the API serves them.
    let days: Vec<String> = exp
        .rollups
        .day
        .iter()
        .filter(|d| d.tenant_id == tenant)
        .map(|d| d.period_start.to_string())
        .collect();
    let (from, to) = (
        days.iter().min().unwrap().clone(),
        days.iter().max().unwrap().clone(),
    );
    let overview_def = t.define(json!({
        "name": "Daily overview", "kind": "overview", "formats": ["json", "xlsx"],
        "parameters": {"granularity": "day", "range": {"type": "between", "from": from, "to": to}},
    }));
    let run = t.run(&overview_def).await;
    let file: Value =
        serde_json::from_slice(&t.download(run["id"].as_str().unwrap(), "json")).unwrap();
    let api_overview = t.get(&format!("/v1/overview?granularity=day&from={from}&to={to}"));
    assert_eq!(file["tables"]["overview"], api_overview["periods"]);
    assert!(!api_overview["periods"].as_array().unwrap().is_empty());

    // Journeys of the biggest job.
    let job = api_jobs
        .iter()
        .max_by_key(|j| j["sent_users"].as_u64())
        .expect("a job");
    let (cid, jid) = (
        job["campaign_id"].as_str().unwrap(),
        job["job_id"].as_str().unwrap(),
    );
    let journeys_def = t.define(json!({
        "name": "Journeys", "kind": "journeys", "formats": ["json", "csv"],
        "parameters": {"campaign_id": cid, "job_id": jid},
    }));
    let run = t.run(&journeys_def).await;
    let journeys_run = run["id"].as_str().unwrap().to_owned();
    let file: Value = serde_json::from_slice(&t.download(&journeys_run, "json")).unwrap();
    let api_journeys = t.all(
        &format!("/v1/campaigns/{cid}/jobs/{jid}/journeys?limit=7"),
        "journeys",
    );
    assert!(!api_journeys.is_empty());
    assert_eq!(
        file["tables"]["journeys"],
        Value::Array(api_journeys.clone())
    );
    let csv = String::from_utf8(t.download(&journeys_run, "csv")).unwrap();
    assert_eq!(csv_rows(&csv).len(), api_journeys.len());

    // Links: tampered and expired links are refused.
    let link = t.link(&journeys_run, "csv", "");
    let url = link["download_url"].as_str().unwrap().to_owned();
    let tampered = [
        url.replace("signature=", "signature=0"),
        url.replace("/csv?", "/json?"),
        url.replace("expires=", "expires=9"),
    ];
    for bad in &tampered {
        let (status, body) = curl("GET", bad, None, None);
        assert_eq!(status, 403, "{bad}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "link_refused");
    }
    let short = t.link(&journeys_run, "csv", "&expires_in=1");
    let short_url = short["download_url"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = curl("GET", &short_url, None, None);
    assert_eq!(status, 403, "an expired link");
    let (status, _) = curl("GET", &url, None, None);
    assert_eq!(status, 200, "the hour-long link still works");

    // The API's documentation renders in a browser, offline.
    let docs = rendered_text(&format!("{}/docs", api.base), &dir);
    for text in [
        "Campaign analytics query API",
        "/v1/report-definitions",
        "DefinitionView",
    ] {
        assert!(docs.contains(text), "{text} is not on the rendered /docs");
    }

    // Every download is in the audit log.
    let audit = t.get("/v1/audit?action=download&limit=1000");
    assert!(audit["entries"].as_array().unwrap().len() >= 9, "{audit}");

    p.stop();
    pg.drop().await;
}

// ------------------------------------------------ crashes and delivery

/// One job with many users: a journeys export takes a few seconds in a
/// debug build, time to kill its worker mid-run.
#[rustfmt::skip]
const BIG_JOB: &[&str] = &[
    "--seed", "32", "--tenants", "1", "--campaigns", "1", "--jobs", "1", "--users", "6000",
    "--days", "2", "--duplicate-ratio", "0",
];

fn worker_env(
    keys: &integration_tests::api::Keys,
    pg: &TestDatabase,
    storage: &Path,
    sinks: &Sinks,
) -> Vec<(String, String)> {
    vec![
        ("API_KEYS_FILE".into(), keys.path.display().to_string()),
        ("DATABASE_URL".into(), pg.cfg.database_url.clone()),
        ("REPORT_STORAGE".into(), storage.display().to_string()),
        ("REPORT_LINK_SECRET".into(), "e2e-link-secret".into()),
        ("REPORT_POLL_MS".into(), "200".into()),
        ("REPORT_LEASE_SECONDS".into(), "3".into()),
        ("REPORT_RETRY_BACKOFF_MS".into(), "200".into()),
        (
            "SMTP_URL".into(),
            format!("smtp://127.0.0.1:{}", sinks.smtp_port),
        ),
        ("SMTP_FROM".into(), "reports@example.com".into()),
        // The webhook receiver is on loopback.
        ("DELIVERY_ALLOW_PRIVATE_NETWORKS".into(), "true".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_leave_one_run_per_scheduled_time_delivered_once() {
    let topics = Topics::unique("reports-crash", 2);
    kafka::create(&topics).await;
    let exp: ExpectedFile = loadgen(&topics, BIG_JOB);
    let (db, client) = fresh_database("reports_crash").await;
    let spec = ProcessorSpec::new(&topics, &db, &exp);
    let mut p = spec.start("processor-reports-crash");
    wait_caught_up(&client, &topics, &exp, CATCH_UP, &mut [&mut p]).await;
    p.stop();

    let pg = TestDatabase::new("reports_crash").await;
    let keys = keys(exp.tenants.keys());
    let storage = scratch("report-files");
    let sinks = Sinks::start();
    let env = worker_env(&keys, &pg, &storage, &sinks);
    let tz = spec.tenant_timezones.clone();
    let ch = clickhouse_url();
    let start = || QueryApi::start_with(&ch, &db, &tz, env.clone(), true);
    let mut workers = vec![start().await, start().await];
    let tenant = exp.tenants.keys().next().unwrap().clone();
    let base = workers[0].base.clone();
    let t = Tenant {
        base: base.clone(),
        key: &keys.admin,
        tenant: &tenant,
    };
    let job = exp
        .reports
        .iter()
        .find(|r| r.job_id.is_some())
        .expect("a job");
    let (cid, jid) = (job.campaign_id.clone(), job.job_id.clone().unwrap());

    // A schedule missed while everything was down runs once.
    let missed = t.define(json!({
        "name": "Missed", "kind": "overview", "formats": ["json"],
    }));
    let spec_json = json!({"preset": {"type": "daily", "time": "06:00"}, "timezone": "UTC"});
    let long_ago = Utc::now() - chrono::Duration::days(5);
    pg.metadata
        .put_schedule(&tenant, "test", &missed, &spec_json, true, Some(long_ago))
        .await
        .unwrap()
        .expect("the definition exists");

    // Every minute, to an e-mail address and a webhook.
    let mail = "managers@example.com".to_owned();
    let hook = format!("http://127.0.0.1:{}/reports", sinks.http_port);
    let definition = t.define(json!({
        "name": "Journeys every minute", "kind": "journeys",
        "formats": ["csv", "json", "xlsx", "pdf", "html"],
        "parameters": {"campaign_id": cid, "job_id": jid},
    }));
    let schedule = t.put(
        &format!("/v1/report-definitions/{definition}/schedule"),
        &json!({"cron": "* * * * *", "timezone": "UTC", "recipients": [mail, hook]}),
    );
    assert!(schedule["next_run_at"].is_string(), "{schedule}");

    // For a little over two minutes: whichever instance holds a running
    // run is killed (once per run: a run may be tried 3 times) and
    // restarted.
    let window = Instant::now() + Duration::from_secs(135);
    let mut killed: BTreeSet<String> = BTreeSet::new();
    while Instant::now() < window {
        // Ask an instance that is alive.
        let t = Tenant {
            base: workers[0].base.clone(),
            key: &keys.admin,
            tenant: &tenant,
        };
        let running = t.all(
            &format!("/v1/report-runs?definition_id={definition}&status=running&limit=10"),
            "runs",
        );
        for run in running {
            let id = run["id"].as_str().unwrap().to_owned();
            if killed.contains(&id) {
                continue;
            }
            let holder = workers.iter().position(|w| {
                std::fs::read_to_string(&w.log)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.contains("report run started") && l.contains(&id))
            });
            if let Some(i) = holder {
                let pid = workers[i].pid();
                let status = Command::new("kill").args(["-9", &pid.to_string()]).status();
                assert!(status.is_ok_and(|s| s.success()), "kill -9 {pid}");
                killed.insert(id);
                workers.remove(i);
                workers.push(start().await);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = Tenant {
        base: workers[0].base.clone(),
        key: &keys.admin,
        tenant: &tenant,
    };
    t.post(
        &format!("/v1/report-definitions/{definition}/schedule/pause"),
        &json!({}),
        200,
    );

    // Every run of the schedule ends succeeded, one per scheduled time.
    let deadline = Instant::now() + Duration::from_secs(120);
    let runs = loop {
        let runs = t.all(
            &format!("/v1/report-runs?definition_id={definition}&limit=100"),
            "runs",
        );
        if runs.iter().all(|r| r["state"] == "succeeded") {
            break runs;
        }
        assert!(Instant::now() < deadline, "runs not all done: {runs:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let times: BTreeSet<&str> = runs
        .iter()
        .filter_map(|r| r["scheduled_for"].as_str())
        .collect();
    assert_eq!(
        times.len(),
        runs.len(),
        "one run per scheduled time: {runs:#?}"
    );
    assert!(
        runs.len() >= 2,
        "at least two scheduled times passed: {runs:#?}"
    );
    assert!(runs.iter().all(|r| r["trigger"] == "schedule"));
    assert!(killed.len() >= 2, "workers were killed mid-run: {killed:?}");
    for id in &killed {
        let run = runs
            .iter()
            .find(|r| r["id"] == id.as_str())
            .expect("a killed run");
        assert!(
            run["attempts"].as_i64() >= Some(2),
            "taken over after the kill: {run}"
        );
    }

    // Each recipient got each run exactly once.
    let ids: BTreeSet<String> = runs
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mails = sinks
        .wait_for("mail", runs.len(), Duration::from_secs(60))
        .await;
    let hooks = sinks
        .wait_for("http", runs.len(), Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails_now = sinks.received("mail");
    let hooks_now = sinks.received("http");
    assert_eq!(
        mails_now.len(),
        mails.len().max(runs.len()),
        "no e-mail twice: {mails_now:#?}"
    );
    let mut mailed: BTreeMap<String, usize> = BTreeMap::new();
    for m in &mails_now {
        let message_id = m["message_id"].as_str().unwrap_or_default();
        let run = ids
            .iter()
            .find(|id| message_id.contains(id.as_str()))
            .unwrap_or_else(|| panic!("an e-mail of no run: {m}"));
        *mailed.entry(run.clone()).or_default() += 1;
        assert_eq!(m["rcpt_tos"], json!([mail]));
        assert_eq!(
            m["attachments"].as_array().map(Vec::len),
            Some(5),
            "the five files: {m}"
        );
    }
    assert!(
        mailed.values().all(|n| *n == 1) && mailed.len() == ids.len(),
        "{mailed:?}"
    );
    let mut posted: BTreeMap<String, usize> = BTreeMap::new();
    for h in &hooks_now {
        let key = h["idempotency_key"].as_str().unwrap_or_default().to_owned();
        assert!(ids.contains(&key), "a webhook of no run: {h}");
        assert_eq!(h["body"]["run_id"], key.as_str());
        assert_eq!(h["body"]["files"].as_array().map(Vec::len), Some(5));
        *posted.entry(key).or_default() += 1;
    }
    assert!(
        posted.values().all(|n| *n == 1) && posted.len() == ids.len(),
        "{posted:?}"
    );
    assert_eq!(hooks_now.len(), hooks.len().max(runs.len()));

    // The missed schedule ran once, for its latest missed time.
    let missed_runs = t.all(
        &format!("/v1/report-runs?definition_id={missed}&limit=100"),
        "runs",
    );
    assert_eq!(missed_runs.len(), 1, "{missed_runs:#?}");
    let at: DateTime<Utc> = missed_runs[0]["scheduled_for"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        Utc::now() - at < chrono::Duration::days(1),
        "the latest missed time: {at}"
    );

    drop(workers);
    pg.drop().await;
}
