//! The dashboard (`/ui`) in a real browser: Debian's Chromium, headless,
//! driven over WebDriver (chromedriver, `fantoccini`), against the real
//! binaries (loadgen traffic through the processor into ClickHouse, the
//! query API with HTTP ingestion on).
//!
//! Signing in (a wrong key, an admin key that needs a tenant, a tenant
//! key), the campaign list, a campaign's figures and funnel against the
//! API's JSON, new events showing up on the open page without a reload,
//! the overview's periods per granularity, a journey's steps, the alerts
//! and scheduled reports panels (a metadata database of the test's own),
//! a saved dashboard (its widgets against the API's JSON, kept live by the
//! campaigns stream) and its form (the server's errors, a conflicting
//! edit, delete), and the phone layout. A screenshot of each page is kept
//! under `target/test-artifacts/ui/`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use integration_tests::api::{self, Keys, QueryApi};
use integration_tests::ingest::{api_env, post, producer_keys, Poster};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{loadgen, log_dir, wait_caught_up, ProcessorProc, ProcessorSpec};
use integration_tests::server::free_port;
use integration_tests::{clickhouse_url, fresh_database, unique};
use metadata::testing::TestDatabase;
use serde_json::{json, Value};

/// How long the page may take to show what is waited for.
const WAIT: Duration = Duration::from_secs(20);
/// New events must be on the page within this (polling every 5 s, or the
/// stream; the processor snapshots every 500 ms).
const LIVE_WAIT: Duration = Duration::from_secs(60);

/// chromedriver on a free port, stopped when dropped with the browsers it
/// started (a failing test leaves its sessions open, and chromedriver
/// killed does not end them).
struct Driver {
    child: Child,
    url: String,
    /// The profile directory of each browser: unique, so it names them.
    profiles: std::sync::Mutex<Vec<PathBuf>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let profiles = self.profiles.lock().map(|p| p.clone()).unwrap_or_default();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            let ours = profiles
                .iter()
                .any(|p| cmdline.contains(&format!("--user-data-dir={}", p.display())));
            if ours {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
        for p in &profiles {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let log = log_dir().join(format!("{}.log", unique("chromedriver")));
        let out = File::create(&log).expect("chromedriver log");
        let err = out.try_clone().expect("chromedriver log");
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect(
                "chromedriver runs (apt-get install chromium-driver; deploy/local/install.sh does)",
            );
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver does not listen on {port}; log {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profiles: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A new headless Chromium: a 1366x900 window, or a phone (390x844).
    async fn browser(&self, phone: bool) -> Client {
        let profile = log_dir().join(unique("chromium-profile"));
        if let Ok(mut p) = self.profiles.lock() {
            p.push(profile.clone());
        }
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            "--lang=en-US".into(),
            "--window-size=1366,900".into(),
            "--force-device-scale-factor=1".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut chrome = json!({ "args": args });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            chrome["binary"] = "/usr/bin/chromium".into();
        }
        if phone {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 1.0, "touch": true }
            });
        }
        let caps = json!({ "browserName": "chrome", "goog:chromeOptions": chrome });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session through chromedriver: {e}"))
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR` (or the workspace's
/// `target`) `/test-artifacts/ui`.
fn artifacts() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace.join(t)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let dir = target.join("test-artifacts").join("ui");
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

/// A screenshot of the page; `full`: the whole page (the window grown to
/// its height for the shot).
async fn shot(c: &Client, name: &str, full: bool) {
    // Let charts settle (drawn on the next frame after a resize).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut restore = None;
    if full {
        let v = js(
            c,
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
        )
        .await;
        let height = v[0].as_u64().unwrap_or(900) + v[1].as_u64().unwrap_or(0);
        restore = Some(c.get_window_size().await.expect("window size"));
        c.set_window_size(1366, height.clamp(900, 6000) as u32)
            .await
            .expect("grow the window");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let png = c.screenshot().await.expect("screenshot");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    println!("screenshot: {}", path.display());
    if let Some((w, h)) = restore {
        c.set_window_size(w as u32, h as u32)
            .await
            .expect("window size back");
    }
}

/// Run `script` in the page; its return value.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
}

/// Wait until `script` returns something other than null, false, 0 or "",
/// and return it.
async fn until(c: &Client, what: &str, script: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = js(c, script).await;
        let falsy = v.is_null() || v == Value::Bool(false) || v == json!(0) || v == json!("");
        if !falsy {
            return v;
        }
        if Instant::now() > deadline {
            let text = js(c, "return document.body.innerText.slice(0, 2000)").await;
            panic!("waited {timeout:?} for {what}; the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Click the element `css` selects; found again if the page redrew it in
/// between (live updates replace what changed).
async fn click(c: &Client, css: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let el = c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        match el.click().await {
            Ok(()) => return,
            Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("click {css}: {e}"),
        }
    }
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let el = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

/// Sign in on the sign-in page with `key` (and `tenant` for an admin key).
async fn sign_in(c: &Client, key: &str) {
    type_into(c, "#api-key", key).await;
    click(c, "#signin-submit").await;
}

/// The digits of a shown integer ("1,234" is 1234).
fn digits(text: &str) -> u64 {
    let d: String = text.chars().filter(char::is_ascii_digit).collect();
    d.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

/// The number in a shown rate ("73.9%").
fn rate(text: &str) -> f64 {
    let n: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    n.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a rate"))
}

/// The figures on the page: key → (raw value, text shown).
async fn shown_kpis(c: &Client) -> BTreeMap<String, (String, String)> {
    kpis_in(c, "#kpis").await
}

/// The figures under the element `css` selects: key → (raw value, text
/// shown).
async fn kpis_in(c: &Client, css: &str) -> BTreeMap<String, (String, String)> {
    let v = js(
        c,
        &format!(
            "return [...document.querySelectorAll('{css} [data-kpi]')].map(e => \
             [e.dataset.kpi, e.dataset.value, e.querySelector('.kpi-value').textContent])"
        ),
    )
    .await;
    v.as_array()
        .expect("figures")
        .iter()
        .map(|k| {
            let s = |i: usize| k[i].as_str().unwrap_or_default().to_string();
            (s(0), (s(1), s(2)))
        })
        .collect()
}

/// The figures shown equal the report's (the API's JSON).
fn assert_kpis(shown: &BTreeMap<String, (String, String)>, report: &Value) {
    for key in [
        "target_users",
        "sent_users",
        "interacted_users",
        "completed_users",
        "total_interactions",
    ] {
        let want = report[key].as_u64().expect("a count");
        let (raw, text) = &shown[key];
        assert_eq!(raw, &want.to_string(), "{key}");
        assert_eq!(digits(text), want, "{key} shown as {text}");
    }
    for key in ["interaction_rate", "completion_rate"] {
        let want = report[key].as_f64().expect("a rate");
        let (raw, text) = &shown[key];
        assert_eq!(raw.parse::<f64>().ok(), Some(want), "{key}");
        assert!(
            (rate(text) - want).abs() <= 0.05 + 1e-9,
            "{key}: {text} for {want}"
        );
    }
    let (raw, text) = &shown["avg_completion_seconds"];
    match report["avg_completion_seconds"].as_f64() {
        Some(want) => {
            assert_eq!(raw.parse::<f64>().ok(), Some(want), "avg completion");
            assert!(text.chars().any(|c| c.is_ascii_digit()), "{text}");
        }
        None => assert_eq!((raw.as_str(), text.as_str()), ("", "—")),
    }
}

/// The periods the overview chart shows (with events), and its range.
async fn chart_periods(c: &Client, granularity: &str) -> (Vec<String>, String, String) {
    let v = until(
        c,
        &format!("the {granularity} chart"),
        &format!(
            "const box = document.querySelector('#overview-chart[data-granularity={granularity}]');\
             if (!box || !box.querySelector('svg')) return null;\
             return [[...box.querySelectorAll('g.col:not(.filled)')].map(g => g.dataset.period),\
                     document.getElementById('from').value, document.getElementById('to').value]"
        ),
        WAIT,
    )
    .await;
    let periods = v[0]
        .as_array()
        .expect("periods")
        .iter()
        .map(|p| p.as_str().unwrap_or_default().to_string())
        .collect();
    let s = |i: usize| v[i].as_str().unwrap_or_default().to_string();
    (periods, s(1), s(2))
}

/// POST `body` as JSON with `key`; the answer's JSON (2xx expected).
async fn post_json(poster: &Poster, path: &str, key: &str, body: Value) -> Value {
    let r = poster
        .post(path, key, body.to_string().into())
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e:#}"));
    assert!(
        (200..300).contains(&r.status),
        "POST {path}: {} {}",
        r.status,
        r.text()
    );
    r.json().unwrap_or_else(|e| panic!("POST {path}: {e:#}"))
}

/// A new user of job `jid`: sent the first message, then one choice
/// leading to `target`.
fn newcomer(tenant: &str, cid: &str, jid: &str, first: &Value, target: &Value) -> Value {
    let user = unique("ui-user");
    let now = chrono::Utc::now().timestamp_millis();
    json!({ "events": [
        {
            "type": "notification_sent", "event_id": unique("ui-n"), "tenant_id": tenant,
            "campaign_id": cid, "job_id": jid, "occurred_at": now - 2000, "user_id": user,
            "node_id": first, "first_message": true, "warning_message": false,
        },
        {
            "type": "user_interaction", "event_id": unique("ui-i"), "tenant_id": tenant,
            "campaign_id": cid, "job_id": jid, "occurred_at": now - 1000, "user_id": user,
            "selected_action": "From the browser test", "answer_target": target,
            "answer_title": null, "question": null,
        },
    ]})
}

/// Wait until the page's figures show `sent` and `interacted` users.
async fn until_users(c: &Client, sent: u64, interacted: u64) {
    until(
        c,
        &format!("{sent} users sent to and {interacted} interacted on the page"),
        &format!(
            "const k = document.querySelector('#kpis [data-kpi=sent_users]');\
             const i = document.querySelector('#kpis [data-kpi=interacted_users]');\
             return k && i && k.dataset.value === '{sent}' && i.dataset.value === '{interacted}'"
        ),
        LIVE_WAIT,
    )
    .await;
}

#[rustfmt::skip]
fn traffic(start: &str) -> Vec<String> {
    [
        "--seed", "61", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "15",
        "--days", "20", "--duplicate-ratio", "0.05", "--poison", "0", "--start", start,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The running system and what the test looks at.
struct World {
    api: QueryApi,
    processor: ProcessorProc,
    pg: TestDatabase,
    poster: Poster,
    readers: Keys,
    /// The producer key of `tenant`.
    producer: String,
    /// An editor key of `tenant` (saved dashboards).
    editor: String,
    /// A tenant outside UTC, its reading key and its time zone.
    tenant: String,
    key: String,
    tz: String,
    /// Its campaigns, as the API lists them.
    campaigns: Vec<Value>,
    /// The campaign with the longest funnel, one of its jobs, and a user of
    /// that job with a journey of several steps.
    cid: String,
    jid: String,
    user: String,
    /// A manual alert, a report definition and a run of it.
    alert_id: String,
    definition_id: String,
    run_id: String,
}

impl World {
    /// GET as the tenant, JSON.
    async fn get(&self, path: &str) -> Value {
        self.api.get_json(path, &self.key).await
    }

    /// POST as the tenant's editor: the answer, whatever its status.
    async fn post_editor(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .poster
            .post(path, &self.editor, body.to_string().into())
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e:#}"));
        let json: Value = r.json().unwrap_or_else(|e| panic!("POST {path}: {e:#}"));
        (r.status, json)
    }

    /// POST as the admin, for the tenant; the answer's JSON.
    async fn post_admin(&self, path: &str, body: Value) -> Value {
        let path = format!("{path}?tenant_id={}", self.tenant);
        post_json(&self.poster, &path, &self.readers.admin, body).await
    }

    /// Post a new user of the job (sent to, then one choice leading to the
    /// funnel's second step).
    async fn post_newcomer(&self, report: &Value) {
        let events = newcomer(
            &self.tenant,
            &self.cid,
            &self.jid,
            &report["funnel"][0]["node_id"],
            &report["funnel"][1]["node_id"],
        );
        let answer = post(
            &self.poster,
            "/v1/events/batch",
            &self.producer,
            events.to_string(),
        )
        .await;
        assert_eq!(answer.accepted, 2, "{:?}", answer.rejected);
    }
}

/// Traffic through the processor, which keeps running; the API with
/// ingestion, alerts and scheduled reports on (a metadata database and
/// alert topics of this test only); an alert and a report run.
async fn setup() -> World {
    // Traffic of the last weeks, so the overview's default ranges hold it.
    let start = (chrono::Utc::now() - chrono::Duration::days(40))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let topics = Topics::unique("ui", 4);
    kafka::create(&topics).await;
    let args = traffic(&start);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exp = loadgen(&topics, &args);
    let (db, client) = fresh_database("e2e_ui").await;
    let spec = ProcessorSpec::new(&topics, &db, &exp);
    let mut processor = spec.start("ui");
    wait_caught_up(
        &client,
        &topics,
        &exp,
        Duration::from_secs(120),
        &mut [&mut processor],
    )
    .await;

    let (tenant, info) = exp
        .tenants
        .iter()
        .find(|(_, t)| t.timezone != "UTC")
        .expect("a tenant outside UTC");

    // One keys file: readers (tenant keys, an admin), producers, and an
    // editor of the tenant.
    let readers = api::keys(exp.tenants.keys());
    let producers = producer_keys(exp.tenants.keys());
    let editor = unique("ui-editor-key");
    let keys_file = log_dir().join(format!("{}.toml", unique("ui-keys")));
    let all = std::fs::read_to_string(&readers.path).expect("keys")
        + "\n"
        + &std::fs::read_to_string(&producers.path).expect("producer keys")
        + &format!(
            "\n[[keys]]\ntenant = \"{tenant}\"\nrole = \"editor\"\nname = \"ui editor\"\nsha256 = \"{}\"\n",
            query_api::keys::hash_key(&editor)
        );
    std::fs::write(&keys_file, all).expect("keys file");
    let mut env = api_env(&topics, &producers);
    for (k, v) in &mut env {
        if k == "API_KEYS_FILE" {
            *v = keys_file.display().to_string();
        }
    }
    let pg = TestDatabase::new("e2e_ui").await;
    let (rules_topic, alerts_topic) = (unique("ui-alert-rules"), unique("ui-alerts"));
    kafka::create_topic(&rules_topic, 1).await;
    kafka::create_topic(&alerts_topic, 4).await;
    let files = log_dir().join(unique("ui-report-files"));
    std::fs::create_dir_all(&files).expect("report files directory");
    env.extend(
        [
            ("DATABASE_URL", pg.cfg.database_url.clone()),
            ("TOPIC_ALERT_RULES", rules_topic),
            ("TOPIC_ALERTS", alerts_topic),
            ("ALERT_STORE_GROUP", unique("ui-alert-store")),
            ("REPORT_STORAGE", files.display().to_string()),
            ("REPORT_LINK_SECRET", "e2e-link-secret".to_string()),
            ("REPORT_POLL_MS", "200".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let api = QueryApi::start_with(&clickhouse_url(), &db, &spec.tenant_timezones, env, true).await;
    let key = readers.of(tenant).expect("tenant key").to_string();
    let producer = producers.of(tenant).expect("producer key").to_string();
    let list: Value = api.get_json("/v1/campaigns?limit=100", &key).await;
    let campaigns = list["campaigns"].as_array().expect("campaigns").clone();
    assert!(!campaigns.is_empty(), "{list}");
    let (cid, jid, user) = pick(&api, &key, &campaigns).await;

    let mut world = World {
        poster: Poster::new(&api.base),
        api,
        processor,
        pg,
        readers,
        producer,
        editor,
        tenant: tenant.clone(),
        key,
        tz: info.timezone.clone(),
        campaigns,
        cid,
        jid,
        user,
        alert_id: String::new(),
        definition_id: String::new(),
        run_id: String::new(),
    };
    let alert = world
        .post_admin(
            "/v1/alerts",
            json!({
                "severity": "warning", "title": "Completion rate below target",
                "message": format!("The completion rate of {} is below 90%", world.cid),
                "campaign_id": world.cid, "value": 42.5, "threshold": 90,
            }),
        )
        .await;
    let definition = world
        .post_admin(
            "/v1/report-definitions",
            json!({
                "name": "Weekly campaign digest", "description": "Every campaign, all jobs",
                "kind": "campaign_reports", "formats": ["csv", "pdf"],
            }),
        )
        .await;
    let id = |v: &Value| v["id"].as_str().expect("an id").to_string();
    world.alert_id = id(&alert);
    world.definition_id = id(&definition);
    let run = world
        .post_admin(
            &format!("/v1/report-definitions/{}/run", world.definition_id),
            json!({}),
        )
        .await;
    world.run_id = id(&run);
    world
}

/// The campaign with the longest funnel that has a journey of 2+ steps:
/// (campaign, job, user).
async fn pick(api: &QueryApi, key: &str, campaigns: &[Value]) -> (String, String, String) {
    let mut chosen = None;
    let mut best = 0;
    for c in campaigns {
        let cid = c["campaign_id"].as_str().expect("id");
        let steps = c["funnel"].as_array().map_or(0, Vec::len);
        let jobs: Value = api
            .get_json(&format!("/v1/campaigns/{cid}/jobs"), key)
            .await;
        for j in jobs["jobs"].as_array().expect("jobs") {
            let jid = j["job_id"].as_str().expect("job id");
            let page: Value = api
                .get_json(
                    &format!("/v1/campaigns/{cid}/jobs/{jid}/journeys?limit=1000"),
                    key,
                )
                .await;
            let walker = page["journeys"]
                .as_array()
                .expect("journeys")
                .iter()
                .filter(|x| x["steps"].as_array().map_or(0, Vec::len) >= 2)
                .max_by_key(|x| x["steps"].as_array().map_or(0, Vec::len));
            if let (Some(w), true) = (walker, steps > best) {
                best = steps;
                let user = w["user_id"].as_str().expect("user").to_string();
                chosen = Some((cid.to_string(), jid.to_string(), user));
            }
        }
    }
    assert!(best >= 2, "a funnel of several steps");
    chosen.expect("a campaign with a funnel and a journey of 2+ steps")
}

/// A wrong key is refused; an admin key asks for the tenant and reads it;
/// signing out; the tenant key.
async fn signing_in(c: &Client, w: &World) {
    c.goto(&format!("{}/ui", w.api.base))
        .await
        .expect("open /ui");
    until(
        c,
        "the sign-in form",
        "return !!document.getElementById('api-key')",
        WAIT,
    )
    .await;
    let url = c.current_url().await.expect("url");
    assert!(url.path() == "/ui/", "/ui redirects to /ui/: {url}");
    shot(c, "01-signin", false).await;

    sign_in(c, "not-a-key").await;
    let msg = until(
        c,
        "the refusal",
        "const m = document.getElementById('signin-message');\
         return m && !m.hidden && m.textContent.includes('not accepted') && m.textContent",
        WAIT,
    )
    .await;
    println!("a wrong key: {msg}");

    sign_in(c, &w.readers.admin).await;
    until(
        c,
        "the tenant field for an admin key",
        "const f = document.getElementById('tenant-field'); return f && !f.hidden",
        WAIT,
    )
    .await;
    shot(c, "02-signin-admin", false).await;
    type_into(c, "#tenant", &w.tenant).await;
    click(c, "#signin-submit").await;
    let shown = until(
        c,
        "the admin's tenant in the header",
        "const t = document.getElementById('tenant-id'); return t && t.textContent",
        WAIT,
    )
    .await;
    assert_eq!(shown, w.tenant.as_str());
    click(c, "#signout").await;
    until(
        c,
        "the sign-in page",
        "return !!document.getElementById('api-key')",
        WAIT,
    )
    .await;
    sign_in(c, &w.key).await;
}

/// Every campaign of the tenant with its figures.
async fn campaign_list(c: &Client, w: &World) {
    let rows = until(
        c,
        "the campaign rows",
        "const rows = [...document.querySelectorAll('.campaigns tr[data-key]')];\
         return rows.length && rows.map(r => [r.dataset.key,\
           ...['sent_users', 'interacted_users', 'completed_users'].map(f =>\
             r.querySelector(`td[data-field=${f}]`).textContent)])",
        WAIT,
    )
    .await;
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), w.campaigns.len(), "every campaign on the page");
    for (row, want) in rows.iter().zip(&w.campaigns) {
        assert_eq!(row[0], want["campaign_id"]);
        for (i, f) in ["sent_users", "interacted_users", "completed_users"]
            .iter()
            .enumerate()
        {
            let text = row[i + 1].as_str().unwrap_or_default();
            assert_eq!(digits(text), want[f].as_u64().unwrap_or(u64::MAX), "{f}");
        }
    }
    let tenant = js(c, "return document.getElementById('tenant-id').textContent").await;
    assert_eq!(tenant, w.tenant.as_str());
    shot(c, "03-campaigns", true).await;
}

/// The campaign's figures, funnel chart and jobs equal the API's; returns
/// its report.
async fn campaign_page(c: &Client, w: &World) -> Value {
    click(c, &format!("a.row-link[href='#/campaigns/{}']", w.cid)).await;
    until(
        c,
        "the campaign's figures",
        "return !!document.querySelector('#kpis')",
        WAIT,
    )
    .await;
    let report = w.get(&format!("/v1/campaigns/{}/report", w.cid)).await;
    assert_kpis(&shown_kpis(c).await, &report);
    let funnel = until(
        c,
        "the funnel chart",
        "const steps = [...document.querySelectorAll('#funnel svg g.step')];\
         return steps.length && [steps.map(s => s.dataset.node), steps.map(s => Number(s.dataset.users)),\
           document.querySelectorAll('#funnel svg rect.bar').length,\
           document.querySelectorAll('#funnel svg text.tick').length]",
        WAIT,
    )
    .await;
    let steps = report["funnel"].as_array().expect("funnel");
    let want_nodes: Vec<Value> = steps.iter().map(|f| f["node_id"].clone()).collect();
    let want_users: Vec<Value> = steps.iter().map(|f| f["users"].clone()).collect();
    assert_eq!(
        funnel[0],
        Value::Array(want_nodes),
        "a bar a step, in order"
    );
    assert_eq!(funnel[1], Value::Array(want_users));
    assert_eq!(funnel[2].as_u64(), Some(steps.len() as u64), "a bar a step");
    assert!(funnel[3].as_u64() >= Some(2), "an axis with ticks");

    let jobs = w.get(&format!("/v1/campaigns/{}/jobs", w.cid)).await;
    let shown = until(
        c,
        "the jobs",
        "const r = [...document.querySelectorAll('.jobs tr[data-key]')];\
         return r.length && r.map(x => x.dataset.key)",
        WAIT,
    )
    .await;
    let want: Vec<Value> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["job_id"].clone())
        .collect();
    assert_eq!(shown, Value::Array(want));
    let live = js(c, "return document.getElementById('live').dataset.status").await;
    println!("campaign page updates: {live}");
    shot(c, "04-campaign", true).await;
    report
}

fn count(report: &Value, key: &str) -> u64 {
    report[key].as_u64().expect("a count")
}

/// New events show on the open campaign page (the stream when the server
/// has it, else polling), without a reload.
async fn new_events_on_the_campaign_page(c: &Client, w: &World, report: &Value) {
    js(c, "window.__notReloaded = true; return true").await;
    w.post_newcomer(report).await;
    let seen_at = Instant::now();
    let sent = count(report, "sent_users") + 1;
    until_users(c, sent, count(report, "interacted_users") + 1).await;
    println!(
        "new events on the page {:.1} s after they were posted ({})",
        seen_at.elapsed().as_secs_f64(),
        js(c, "return document.getElementById('live').dataset.status").await
    );
    let reloaded = js(c, "return window.__notReloaded !== true").await;
    assert_eq!(reloaded, false, "the page was not reloaded");
    let after = w.get(&format!("/v1/campaigns/{}/report", w.cid)).await;
    assert_eq!(after["sent_users"].as_u64(), Some(sent));
    // The figures shown are a whole report of the API (no other events
    // came).
    assert_kpis(&shown_kpis(c).await, &after);
    shot(c, "05-campaign-after-new-events", false).await;
}

/// A job's page on a server without streams: its figures poll, and new
/// events show within the polling interval.
async fn job_page_polling(c: &Client, w: &World, report: &Value) {
    // Every stream request answers 404 from now on, as on a server that
    // has none: the views opened next poll.
    js(
        c,
        "const real = window.fetch;\
         window.fetch = (url, o) => String(url).includes('/stream')\
           ? Promise.resolve(new Response('{}', {status: 404, headers: {'content-type': 'application/json'}}))\
           : real(url, o);\
         return true",
    )
    .await;
    click(
        c,
        &format!("a.row-link[href='#/campaigns/{}/jobs/{}']", w.cid, w.jid),
    )
    .await;
    until(
        c,
        "the job's journeys, and polling",
        "return document.querySelectorAll('.journeys tr[data-key]').length > 0\
           && document.getElementById('live').dataset.status === 'polling'",
        WAIT,
    )
    .await;
    let path = format!("/v1/campaigns/{}/jobs/{}/report", w.cid, w.jid);
    let job = w.get(&path).await;
    assert_kpis(&shown_kpis(c).await, &job);
    w.post_newcomer(report).await;
    let seen_at = Instant::now();
    until_users(
        c,
        count(&job, "sent_users") + 1,
        count(&job, "interacted_users") + 1,
    )
    .await;
    println!(
        "new events on the polling page {:.1} s after they were posted",
        seen_at.elapsed().as_secs_f64()
    );
    assert_eq!(js(c, "return window.__notReloaded === true").await, true);
    assert_kpis(&shown_kpis(c).await, &w.get(&path).await);
    shot(c, "06-job-polling", true).await;
}

/// A user found by id: the steps of the journey equal the API's.
async fn journey_page(c: &Client, w: &World) {
    type_into(c, "#find-user", &w.user).await;
    click(c, ".find-user button[type=submit]").await;
    let steps = until(
        c,
        "the journey's steps",
        "const s = [...document.querySelectorAll('#steps li.step')];\
         return s.length && s.map(x => [x.dataset.node, x.dataset.choice,\
           x.querySelector('time').getAttribute('datetime')])",
        WAIT,
    )
    .await;
    let journey = w
        .get(&format!(
            "/v1/campaigns/{}/jobs/{}/journeys/{}",
            w.cid, w.jid, w.user
        ))
        .await;
    let want: Vec<Value> = journey["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| json!([s["node_id"], s["choice"], s["occurred_at"]]))
        .collect();
    assert_eq!(steps, Value::Array(want));
    let shown = shown_kpis(c).await;
    let completed = journey["completed"].as_bool().expect("completed");
    assert_eq!(shown["completed"].0, completed.to_string());
    let exit = journey["exit_node"].as_str().unwrap_or_default();
    assert_eq!(shown["exit_node"].0, exit);
    let time = js(c, "return document.querySelector('.step-meta').textContent").await;
    assert!(
        time.as_str().is_some_and(|t| t.contains(':')),
        "step times are shown: {time}"
    );
    shot(c, "07-journey", true).await;
}

/// The overview's chart shows the API's periods, by day, week and month.
async fn overview_page(c: &Client, w: &World) {
    click(c, "a[data-nav=overview]").await;
    let mut seen = Vec::new();
    for granularity in ["day", "week", "month"] {
        if granularity != "day" {
            let button =
                format!(".segmented[aria-label=Granularity] button[data-value={granularity}]");
            click(c, &button).await;
        }
        let (periods, from, to) = chart_periods(c, granularity).await;
        let o = w
            .get(&format!(
                "/v1/overview?granularity={granularity}&from={from}&to={to}"
            ))
            .await;
        assert_eq!(o["timezone"], w.tz.as_str());
        let want: Vec<String> = o["periods"]
            .as_array()
            .expect("periods")
            .iter()
            .map(|p| p["period_start"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(periods, want, "{granularity} periods from {from} to {to}");
        println!("{granularity}: {} periods from {from} to {to}", want.len());
        shot(c, &format!("08-overview-{granularity}"), true).await;
        seen.push(periods);
    }
    assert!(
        !seen[1].is_empty() && !seen[2].is_empty(),
        "weeks and months with events"
    );
    assert!(
        seen[0] != seen[1] && seen[1] != seen[2],
        "the periods change with the granularity: {seen:?}"
    );
}

/// The alert and its counts; the report definition and its run's files.
async fn alerts_and_reports(c: &Client, w: &World) {
    click(c, "a[data-nav=alerts]").await;
    let shown = until(
        c,
        "the alerts",
        "const r = [...document.querySelectorAll('.alerts tr[data-key]')];\
         const f = document.querySelector('#kpis [data-kpi=firing]');\
         return r.length && f && [r.map(x => x.dataset.key), Number(f.dataset.value)]",
        WAIT,
    )
    .await;
    let stats = w.get("/v1/alerts/stats").await;
    assert_eq!(shown[0], json!([w.alert_id]), "the alert is listed");
    assert_eq!(shown[1], stats["firing"]);
    shot(c, "09-alerts", false).await;

    let deadline = Instant::now() + WAIT;
    loop {
        let r = w.get(&format!("/v1/report-runs/{}", w.run_id)).await;
        if r["state"] == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline && r["state"] != "failed",
            "the run did not succeed: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    click(c, "a[data-nav=reports]").await;
    let shown = until(
        c,
        "the report and its run's files",
        &format!(
            "const d = [...document.querySelectorAll('.definitions tr[data-key]')]\
               .map(x => x.dataset.key);\
             const run = document.querySelector('.runs tr[data-key=\"{}\"]');\
             return d.length && run && run.querySelectorAll('button').length === 2\
               && [d, run.textContent]",
            w.run_id
        ),
        // The page polls every 5 s.
        LIVE_WAIT,
    )
    .await;
    assert_eq!(shown[0], json!([w.definition_id]));
    assert!(
        shown[1].as_str().is_some_and(|t| t.contains("Succeeded")),
        "{shown}"
    );
    shot(c, "10-reports", false).await;
}

/// The widget `id` of a dashboard's data.
fn widget<'a>(data: &'a Value, id: &str) -> &'a Value {
    data["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .find(|w| w["id"] == id)
        .unwrap_or_else(|| panic!("no widget {id} in {data}"))
}

/// The counter `id` on the page.
async fn counter(c: &Client, id: &str) -> u64 {
    let v = js(
        c,
        &format!(
            "const e = document.querySelector('[data-widget={id}] [data-kpi=value]');\
             return e ? e.dataset.value : null"
        ),
    )
    .await;
    v.as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("counter {id}: {v}"))
}

/// A saved dashboard, made through the API with the editor key: listed;
/// its form refused to the viewer; each widget equal to the `/data`
/// answer and to the reports (figures, counters, funnel steps, trend
/// periods, the table's order); a campaign without a report an inline
/// state; new events on the open page without a reload. Ends on the
/// campaign page, through the table's link; returns the dashboard's id.
async fn dashboard_page(c: &Client, w: &World, report: &Value) -> String {
    let cid = w.cid.as_str();
    let (status, created) = w
        .post_editor(
            "/v1/dashboards",
            &json!({
                "name": "Campaign health",
                "description": format!("The tenant's reach and campaign {cid}, live"),
                "widgets": [
                    { "id": "sent", "type": "live_counter", "width": 4, "title": "Sent users, all campaigns",
                      "params": { "metric": "sent_users" } },
                    { "id": "interacted", "type": "live_counter", "width": 4,
                      "params": { "metric": "interacted_users", "campaign_id": cid } },
                    { "id": "completed", "type": "live_counter", "width": 4,
                      "params": { "metric": "completed_users" } },
                    { "id": "kpis", "type": "report_kpis", "params": { "campaign_id": cid } },
                    { "id": "funnel", "type": "funnel", "params": { "campaign_id": cid } },
                    { "id": "trend", "type": "overview_trend",
                      "params": { "granularity": "day", "periods": 45 } },
                    { "id": "table", "type": "campaign_table", "width": 8,
                      "params": { "sort": "-sent_users", "limit": 10 } },
                    { "id": "missing", "type": "report_kpis", "width": 4, "title": "A campaign to come",
                      "params": { "campaign_id": "no-such-campaign" } },
                    { "id": "alerts", "type": "alerts", "params": {} },
                ],
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("dashboard id").to_string();

    // The list; the viewer key is offered no form.
    click(c, "a[data-nav=dashboards]").await;
    let row = until(
        c,
        "the dashboard in the list",
        &format!(
            "const r = document.querySelector('.dashboards tr[data-key=\"{id}\"]');\
             return r && [r.querySelector('td[data-field=name]').textContent,\
               r.querySelector('td[data-field=widgets]').textContent,\
               !!document.getElementById('new-dashboard')]"
        ),
        WAIT,
    )
    .await;
    assert!(
        row[0]
            .as_str()
            .is_some_and(|t| t.starts_with("Campaign health")),
        "{row}"
    );
    assert_eq!(row[1], "9", "its widget count");
    assert_eq!(row[2], false, "no New dashboard button for a viewer");
    shot(c, "05a-dashboards", false).await;
    js(c, "location.hash = '#/dashboards/new'; return true").await;
    let refusal = until(
        c,
        "the viewer's refusal of the form",
        "const m = document.getElementById('viewer-message'); return m && m.textContent",
        WAIT,
    )
    .await;
    assert!(
        refusal.as_str().is_some_and(|t| t.contains("editor key")),
        "{refusal}"
    );
    assert_eq!(
        js(c, "return !!document.getElementById('dashboard-form')").await,
        false
    );
    click(c, "#viewer-message a[href='#/dashboards']").await;

    // The dashboard: every widget drawn, the stream up.
    click(c, &format!("a.row-link[href='#/dashboards/{id}']")).await;
    js(c, "window.__dashboardNotReloaded = true; return true").await;
    until(
        c,
        "every widget, and the live stream",
        "const g = document.getElementById('dashboard-grid');\
         return g && Number(g.dataset.reads) >= 1\
           && g.querySelectorAll('[data-widget]').length === 9\
           && !!g.querySelector('[data-widget=funnel] svg g.step')\
           && !!g.querySelector('[data-widget=trend] svg')\
           && !!g.querySelector('[data-widget=alerts] .alert-row')\
           && document.getElementById('live').dataset.status === 'live'",
        WAIT,
    )
    .await;
    let data = w.get(&format!("/v1/dashboards/{id}/data")).await;
    let fresh = w.get(&format!("/v1/campaigns/{cid}/report")).await;
    let list = w.get("/v1/campaigns?limit=100").await;
    let campaigns = list["campaigns"].as_array().expect("campaigns");

    // Report figures: the /data answer's report, and the report route's.
    let shown = kpis_in(c, "[data-widget=kpis] .kpis").await;
    assert_kpis(&shown, &widget(&data, "kpis")["data"]);
    assert_kpis(&shown, &fresh);
    // Counters: /data's, and the reports' (summed over the campaigns).
    let sum = |key: &str| -> u64 { campaigns.iter().map(|x| x[key].as_u64().unwrap_or(0)).sum() };
    for (wid, want) in [
        ("sent", sum("sent_users")),
        ("interacted", count(&fresh, "interacted_users")),
        ("completed", sum("completed_users")),
    ] {
        assert_eq!(
            widget(&data, wid)["data"]["value"].as_u64(),
            Some(want),
            "{wid}: /data and the reports"
        );
        assert_eq!(counter(c, wid).await, want, "counter {wid} on the page");
    }
    // The funnel: a bar a step, in order.
    let bars = js(
        c,
        "const b = document.querySelector('[data-widget=funnel] .funnel-box');\
         return [[...b.querySelectorAll('svg g.step')].map(s => s.dataset.node),\
           b.querySelectorAll('svg rect.bar').length]",
    )
    .await;
    let steps = widget(&data, "funnel")["data"]["funnel"]
        .as_array()
        .expect("funnel")
        .clone();
    let nodes: Vec<Value> = steps.iter().map(|f| f["node_id"].clone()).collect();
    assert_eq!(
        bars[0],
        Value::Array(nodes.clone()),
        "a bar a step, in order"
    );
    assert_eq!(bars[1].as_u64(), Some(steps.len() as u64));
    let report_nodes: Vec<Value> = fresh["funnel"]
        .as_array()
        .expect("funnel")
        .iter()
        .map(|f| f["node_id"].clone())
        .collect();
    assert_eq!(nodes, report_nodes, "the report's funnel");
    // The trend: the periods with events.
    let periods = js(
        c,
        "return [...document.querySelectorAll('[data-widget=trend] g.col:not(.filled)')]\
           .map(g => g.dataset.period)",
    )
    .await;
    let want: Vec<Value> = widget(&data, "trend")["data"]["periods"]
        .as_array()
        .expect("periods")
        .iter()
        .map(|p| p["period_start"].clone())
        .collect();
    assert!(!want.is_empty(), "days with events");
    assert_eq!(periods, Value::Array(want), "the trend's days");
    // The table: the API's order (most users sent to first, then by id),
    // each row a link to its campaign.
    let rows = js(
        c,
        "return [...document.querySelectorAll('[data-widget=table] tr[data-key]')].map(r =>\
           [r.dataset.key, r.querySelector('a.row-link').getAttribute('href'),\
            r.querySelector('td[data-field=sent_users]').textContent])",
    )
    .await;
    let from_data: Vec<Value> = widget(&data, "table")["data"]["campaigns"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["campaign_id"].clone())
        .collect();
    let mut by_sent: Vec<&Value> = campaigns.iter().collect();
    by_sent.sort_by(|a, b| {
        b["sent_users"]
            .as_u64()
            .cmp(&a["sent_users"].as_u64())
            .then_with(|| a["campaign_id"].as_str().cmp(&b["campaign_id"].as_str()))
    });
    let by_sent: Vec<Value> = by_sent
        .iter()
        .take(10)
        .map(|r| r["campaign_id"].clone())
        .collect();
    assert_eq!(from_data, by_sent, "/data's order");
    let rows = rows.as_array().expect("rows");
    let shown: Vec<Value> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        Value::Array(shown),
        Value::Array(from_data),
        "the table's order"
    );
    for (r, want) in rows.iter().zip(&by_sent) {
        let c = want.as_str().unwrap_or_default();
        assert_eq!(r[1], format!("#/campaigns/{c}").as_str());
        let sent = campaigns
            .iter()
            .find(|x| x["campaign_id"] == c)
            .expect("row");
        assert_eq!(
            digits(r[2].as_str().unwrap_or_default()),
            count(sent, "sent_users")
        );
    }
    // No report yet: said in place, the other widgets drawn.
    let error = &widget(&data, "missing")["error"];
    assert_eq!(error["code"], "not_found", "{data}");
    let state = js(
        c,
        "const s = document.querySelector('[data-widget=missing] .widget-state');\
         return s && [s.dataset.code, s.textContent]",
    )
    .await;
    assert_eq!(state[0], "not_found");
    assert!(
        state[1]
            .as_str()
            .is_some_and(|t| t.contains(error["message"].as_str().unwrap_or("?"))),
        "{state}"
    );
    // The alerts: /data's, newest first (the setup's manual alert), their
    // counts in the widget's header, a link to the alerts page.
    let alerts = &widget(&data, "alerts")["data"];
    let listed = alerts["alerts"].as_array().expect("alerts");
    assert!(!listed.is_empty(), "the setup's alert: {data}");
    assert!(
        listed.iter().any(|a| a["id"] == w.alert_id.as_str()),
        "{alerts}"
    );
    let want: Vec<Value> = listed
        .iter()
        .map(|a| json!([a["id"], a["message"]]))
        .collect();
    let shown = js(
        c,
        "const e = document.querySelector('[data-widget=alerts]');\
         const n = (k) => e.querySelector(`[data-count=${k}]`);\
         return [[...e.querySelectorAll('.alert-row')]\
             .map(r => [r.dataset.key, r.querySelector('.alert-message').textContent]),\
           [n('total').dataset.value, n('total').textContent],\
           [n('unread').dataset.value, n('unread').textContent],\
           e.querySelector('a[data-action=open-alerts]').getAttribute('href')]",
    )
    .await;
    assert_eq!(shown[0], Value::Array(want), "the alerts, in /data's order");
    for (i, key) in [(1, "total"), (2, "unread")] {
        let n = alerts[key].as_u64().expect("a count");
        assert_eq!(shown[i][0], n.to_string().as_str(), "{key}: {shown}");
        assert_eq!(
            digits(shown[i][1].as_str().unwrap_or_default()),
            n,
            "{key} shown: {shown}"
        );
    }
    assert!(
        alerts["total"].as_u64() >= Some(listed.len() as u64),
        "{alerts}"
    );
    assert_eq!(shown[3], "#/alerts", "the link to the alerts page");

    let as_of = js(c, "return document.getElementById('as-of').dataset.asOf").await;
    assert_eq!(as_of, data["as_of"], "the figures' time");
    shot(c, "05b-dashboard", true).await;

    // New events: the stream says so, the data is read again.
    let reads = js(
        c,
        "return Number(document.getElementById('dashboard-grid').dataset.reads)",
    )
    .await;
    let before = counter(c, "sent").await;
    w.post_newcomer(report).await;
    let posted = Instant::now();
    until(
        c,
        "the counter and figures to follow the new events",
        &format!(
            "const v = document.querySelector('[data-widget=sent] [data-kpi=value]');\
             const k = document.querySelector('[data-widget=kpis] [data-kpi=sent_users]');\
             return v && k && v.dataset.value === '{}' && k.dataset.value === '{}'",
            before + 1,
            count(&fresh, "sent_users") + 1
        ),
        LIVE_WAIT,
    )
    .await;
    println!(
        "new events on the dashboard {:.1} s after they were posted ({})",
        posted.elapsed().as_secs_f64(),
        js(c, "return document.getElementById('live').dataset.status").await
    );
    assert_eq!(
        js(c, "return window.__dashboardNotReloaded === true").await,
        true,
        "the page was not reloaded"
    );
    let now = js(
        c,
        "return Number(document.getElementById('dashboard-grid').dataset.reads)",
    )
    .await;
    assert!(now.as_u64() > reads.as_u64(), "read again: {reads} → {now}");
    let after = w.get(&format!("/v1/dashboards/{id}/data")).await;
    assert_eq!(
        counter(c, "sent").await,
        widget(&after, "sent")["data"]["value"]
            .as_u64()
            .unwrap_or(0)
    );
    assert_kpis(
        &kpis_in(c, "[data-widget=kpis] .kpis").await,
        &w.get(&format!("/v1/campaigns/{cid}/report")).await,
    );
    shot(c, "05c-dashboard-after-new-events", false).await;

    // The table's link to the campaign page (where the next step starts).
    click(
        c,
        &format!("[data-widget=table] a.row-link[href='#/campaigns/{cid}']"),
    )
    .await;
    until(
        c,
        "the campaign page",
        "return document.querySelectorAll('.jobs tr[data-key]').length > 0",
        WAIT,
    )
    .await;
    id
}

/// PUT `body` to `path` with `key` from the page (the test has no HTTP
/// client of its own for it): the answer's status.
async fn put_from_page(c: &Client, w: &World, path: &str, key: &str, body: &Value) -> u64 {
    let v = c
        .execute_async(
            "const [url, key, body, done] = arguments;\
             fetch(url, {method: 'PUT', headers: {Authorization: 'Bearer ' + key,\
               'Content-Type': 'application/json'}, body})\
               .then(r => done(r.status), e => done(String(e)));",
            vec![
                json!(format!("{}{path}", w.api.base)),
                json!(key),
                json!(body.to_string()),
            ],
        )
        .await
        .expect("PUT from the page");
    v.as_u64().unwrap_or_else(|| panic!("PUT {path}: {v}"))
}

/// The form with the editor key: a widget without its campaign is the
/// server's 400, shown at the widget; then created (with a counter and
/// the warning alerts); edited while someone
/// else changed it (412: said, their version reloaded), saved again;
/// deleted after a confirmation.
async fn dashboard_form(c: &Client, w: &World) {
    click(c, "#signout").await;
    sign_in(c, &w.editor).await;
    until(
        c,
        "the campaigns, as the editor",
        "return document.querySelectorAll('.campaigns tr[data-key]').length > 0",
        WAIT,
    )
    .await;
    click(c, "a[data-nav=dashboards]").await;
    click(c, "#new-dashboard").await;
    type_into(c, "#dashboard-name", "Made in the browser").await;
    // The first widget is the campaign's figures: no campaign chosen.
    click(c, "#save-dashboard").await;
    let shown = until(
        c,
        "the server's message",
        "const m = document.getElementById('dashboard-form-message');\
         return m && !m.hidden && m.textContent",
        WAIT,
    )
    .await;
    let (status, answer) = w
        .post_editor(
            "/v1/dashboards",
            &json!({ "name": "Made in the browser", "widgets": [{ "type": "report_kpis", "params": {} }] }),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_dashboard");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(message.contains("campaign_id"), "{message}");
    assert_eq!(shown, message, "the server's message, as it said it");
    let at = js(
        c,
        "const b = document.querySelector('.widget-editor.invalid');\
         return b && [b.dataset.index, b.querySelector('.field-error').textContent,\
           b.querySelector('[data-param=campaign_id]').getAttribute('aria-invalid')]",
    )
    .await;
    assert_eq!(at, json!(["0", message, "true"]), "shown at the widget");
    shot(c, "10a-dashboard-form-error", true).await;

    // Fixed, and a counter added.
    type_into(c, "#w0-campaign_id", &w.cid).await;
    js(
        c,
        "document.getElementById('add-widget-type').value = 'live_counter'; return true",
    )
    .await;
    click(c, "#add-widget").await;
    // And the warnings among the alerts.
    js(
        c,
        "document.getElementById('add-widget-type').value = 'alerts'; return true",
    )
    .await;
    click(c, "#add-widget").await;
    js(
        c,
        "const s = document.getElementById('w2-severity');\
         s.value = 'warning'; s.dispatchEvent(new Event('change')); return true",
    )
    .await;
    click(c, "#save-dashboard").await;
    let id = until(
        c,
        "the new dashboard's page",
        "const m = location.hash.match(/^#\\/dashboards\\/([0-9a-f-]{36})$/);\
         const g = document.getElementById('dashboard-grid');\
         return m && g && g.querySelectorAll('[data-widget]').length === 3\
           && Number(g.dataset.reads) >= 1 && m[1]",
        WAIT,
    )
    .await;
    let id = id.as_str().expect("id").to_string();
    let saved = w.get(&format!("/v1/dashboards/{id}")).await;
    assert_eq!(saved["name"], "Made in the browser");
    assert_eq!(saved["version"], 1);
    let types: Vec<&str> = saved["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .map(|x| x["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, ["report_kpis", "live_counter", "alerts"]);
    // The server fills in the default limit.
    assert_eq!(
        saved["widgets"][2]["params"],
        json!({ "severity": "warning", "limit": 10 })
    );
    assert_eq!(saved["widgets"][0]["params"]["campaign_id"], w.cid.as_str());
    assert!(
        js(
            c,
            "return !!document.querySelector('[data-widget=w1] .kpis')"
        )
        .await
            == true,
        "the figures are drawn"
    );

    // Edited here while someone else saves it: 412, their version shown.
    click(c, "#edit-dashboard").await;
    until(
        c,
        "the form with the dashboard",
        "const f = document.getElementById('dashboard-form');\
         return f && f.dataset.version === '1' && document.getElementById('dashboard-name').value",
        WAIT,
    )
    .await;
    type_into(c, "#dashboard-name", "Renamed here").await;
    let mut theirs = saved.clone();
    theirs["name"] = json!("Renamed elsewhere");
    let body = json!({ "name": theirs["name"], "widgets": theirs["widgets"] });
    let status = put_from_page(c, w, &format!("/v1/dashboards/{id}"), &w.editor, &body).await;
    assert_eq!(status, 200);
    click(c, "#save-dashboard").await;
    let warned = until(
        c,
        "the conflict, said",
        "const m = document.getElementById('dashboard-form-message');\
         return m && !m.hidden && m.classList.contains('warn')\
           && [m.textContent, document.getElementById('dashboard-name').value,\
               document.getElementById('dashboard-form').dataset.version]",
        WAIT,
    )
    .await;
    assert!(
        warned[0]
            .as_str()
            .is_some_and(|t| t.contains("Someone else changed")),
        "{warned}"
    );
    assert_eq!(warned[1], "Renamed elsewhere", "their version reloaded");
    assert_eq!(warned[2], "2");
    shot(c, "10b-dashboard-form-conflict", false).await;
    type_into(c, "#dashboard-name", "Renamed here").await;
    click(c, "#save-dashboard").await;
    until(
        c,
        "the renamed dashboard",
        &format!(
            "return location.hash === '#/dashboards/{id}'\
               && document.querySelector('h1.title').textContent === 'Renamed here'"
        ),
        WAIT,
    )
    .await;
    let saved = w.get(&format!("/v1/dashboards/{id}")).await;
    assert_eq!(
        (saved["name"].as_str(), saved["version"].as_i64()),
        (Some("Renamed here"), Some(3))
    );

    // Deleted, after a confirmation.
    click(c, "a[data-nav=dashboards]").await;
    click(c, &format!("[data-confirm=\"{id}\"] [data-action=delete]")).await;
    click(
        c,
        &format!("[data-confirm=\"{id}\"] [data-action=confirm-delete]"),
    )
    .await;
    until(
        c,
        "the dashboard gone from the list",
        &format!(
            "return document.querySelector('.dashboards') !== null\
               && !document.querySelector('.dashboards tr[data-key=\"{id}\"]')"
        ),
        WAIT,
    )
    .await;
    let gone = w
        .api
        .get_as(&format!("/v1/dashboards/{id}"), Some(&w.key), None)
        .await;
    assert_eq!(gone.status, 404);
}

/// The dashboard on a phone: every widget the full width, nothing wider
/// than the screen.
async fn phone_dashboard(p: &Client, id: &str) {
    js(
        p,
        &format!("location.hash = '#/dashboards/{id}'; return true"),
    )
    .await;
    let widths = until(
        p,
        "the dashboard on a phone",
        "const g = document.getElementById('dashboard-grid');\
         return g && g.querySelectorAll('[data-widget]').length === 9\
           && g.querySelector('[data-widget=funnel] svg g.step')\
           && [g.getBoundingClientRect().width,\
               [...g.querySelectorAll('[data-widget]')].map(x => x.getBoundingClientRect().width),\
               document.documentElement.scrollWidth,\
               [...document.querySelectorAll('#dashboard-grid *')]\
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)\
                 .slice(0, 5).map(e => e.tagName + ' ' + (e.getAttribute('class') || ''))]",
        WAIT,
    )
    .await;
    let grid = widths[0].as_f64().expect("grid width");
    for x in widths[1].as_array().expect("widths") {
        assert!(
            (x.as_f64().unwrap_or(0.0) - grid).abs() < 1.0,
            "every widget the full width: {widths}"
        );
    }
    assert!(
        widths[2].as_u64() <= Some(390),
        "nothing wider than the phone (widths, page width, what sticks out): {widths}"
    );
    shot(p, "12b-phone-dashboard", false).await;
}

/// A phone (390x844): nothing wider than the screen, tables as cards.
async fn phone(p: &Client, w: &World) {
    p.goto(&format!("{}/ui/#/campaigns/{}", w.api.base, w.cid))
        .await
        .expect("open");
    sign_in(p, &w.key).await;
    until(
        p,
        "the funnel on a phone",
        "return document.querySelectorAll('#funnel svg g.step').length > 0\
           && document.querySelectorAll('.jobs tr[data-key]').length > 0",
        WAIT,
    )
    .await;
    let layout = js(
        p,
        "return [window.innerWidth, document.documentElement.scrollWidth,\
           getComputedStyle(document.querySelector('.jobs thead')).display]",
    )
    .await;
    assert_eq!(layout[0], 390, "the phone's width");
    assert!(
        layout[1].as_u64() <= Some(390),
        "nothing wider than the phone: {layout}"
    );
    assert_eq!(layout[2], "none", "tables become cards on a phone");
    shot(p, "11-phone-campaign", false).await;
    click(p, "a[data-nav=campaigns]").await;
    until(
        p,
        "the campaign cards",
        "return document.querySelectorAll('.campaigns tr[data-key]').length > 0",
        WAIT,
    )
    .await;
    let width = js(p, "return document.documentElement.scrollWidth").await;
    assert!(width.as_u64() <= Some(390), "{width}");
    shot(p, "12-phone-campaigns", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_apis_figures_and_follows_new_events() {
    let started = Instant::now();
    // Only this run's screenshots.
    for old in std::fs::read_dir(artifacts())
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_file(old.path());
    }
    let w = setup().await;
    let driver = Driver::start();

    let c = driver.browser(false).await;
    signing_in(&c, &w).await;
    campaign_list(&c, &w).await;
    let report = campaign_page(&c, &w).await;
    new_events_on_the_campaign_page(&c, &w, &report).await;
    let dashboard = dashboard_page(&c, &w, &report).await;
    job_page_polling(&c, &w, &report).await;
    journey_page(&c, &w).await;
    overview_page(&c, &w).await;
    alerts_and_reports(&c, &w).await;
    dashboard_form(&c, &w).await;
    c.close().await.expect("close the browser");

    let p = driver.browser(true).await;
    phone(&p, &w).await;
    phone_dashboard(&p, &dashboard).await;
    p.close().await.expect("close the phone");

    let World {
        api, processor, pg, ..
    } = w;
    processor.stop();
    drop(api);
    pg.drop().await;
    println!(
        "screenshots in {}; {:.0} s",
        artifacts().display(),
        started.elapsed().as_secs_f64()
    );
}
