//! What the router tests against the metadata database share: the keys
//! of two tenants in every role, seeded reports and journeys, an app with
//! scheduled reports on a scratch database, and HTTP helpers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use metadata::testing::TestDatabase;
use query_api::alerts::senders::Senders;
use query_api::alerts::Alerts;
use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::MemoryReader;
use query_api::reports::links::LinkSigner;
use query_api::reports::metrics::ReportMetrics;
use query_api::reports::storage::{FileStore, StoreLocation};
use query_api::reports::{worker, ReportSettings, Reports};
use runtime::tenants::TenantZones;
use serde_json::Value;
use storage::rows::{JourneyRow, ReportRow};
use tower::ServiceExt;

pub const VIEWER_A: &str = "key-a-viewer";
pub const EDITOR_A: &str = "key-a-editor";
pub const ADMIN_A: &str = "key-a-admin";
pub const EDITOR_B: &str = "key-b-editor";
pub const ADMIN_B: &str = "key-b-admin";
/// A platform admin (every tenant, named with `?tenant_id=`).
pub const ADMIN_ALL: &str = "key-platform-admin";
/// No Authorization header (signed links).
pub const NO_KEY: &str = "";
pub const PUBLIC_URL: &str = "http://127.0.0.1:1";
/// The oldest snapshot of the seeded rows (seconds since the epoch).
pub const SNAP: u32 = 1_793_527_200;

pub const GET: Method = Method::GET;
pub const POST: Method = Method::POST;
pub const PUT: Method = Method::PUT;
pub const DELETE: Method = Method::DELETE;

// ------------------------------------------------------------- seeding

pub fn report(
    tenant: &str,
    campaign: &str,
    job: &str,
    status: &str,
    sent: u64,
    snap: u32,
) -> ReportRow {
    let (interacted, completed) = (sent / 2, sent / 4);
    ReportRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        partition: 0,
        version: 1,
        status: status.into(),
        target_users: sent + 2,
        sent_users: sent,
        interacted_users: interacted,
        completed_users: completed,
        interaction_rate: interacted as f64 * 100.0 / sent as f64,
        completion_rate: completed as f64 * 100.0 / sent as f64,
        total_interactions: sent + 1,
        messages_sent: sent * 2,
        warnings_sent: 1,
        avg_completion_seconds: Some(12.5),
        nodes_json: format!(
            r#"[{{"node_id":"end","reached_users":{completed},"choices":{{"yes, please":{completed}}}}}]"#
        ),
        funnel_json: format!(
            r#"[{{"node_id":"start","users":{sent},"conversion_from_previous":100.0,"drop_off":0}},{{"node_id":"end","users":{completed},"conversion_from_previous":25.0,"drop_off":{}}}]"#,
            sent - completed
        ),
        first_event_at_ms: 1_793_527_200_123,
        last_event_at_ms: 1_793_530_800_456,
        snapshot_at: snap,
    }
}

pub fn journey(user: &str, completed: bool) -> JourneyRow {
    JourneyRow {
        tenant_id: "a".into(),
        campaign_id: "camp-1".into(),
        job_id: "job-1".into(),
        user_id: user.into(),
        partition: 0,
        version: 1,
        step_node_ids: vec!["start".into(), if completed { "end" } else { "n2" }.into()],
        step_choices: vec!["go".into(), "on".into()],
        step_occurred_at_ms: vec![1_793_527_200_000, 1_793_527_260_500],
        step_event_ids: vec![format!("e-{user}-1"), format!("e-{user}-2")],
        total_interactions: 2,
        completed: u8::from(completed),
        exit_node: if completed {
            "end".into()
        } else {
            String::new()
        },
        completion_seconds: completed.then_some(60.5),
        snapshot_at: SNAP + 50,
    }
}

/// Tenant a: camp-1 (with job-1 and two journeys) and camp-2, whose
/// snapshot is a's newest; tenant b: camp-b, newer still.
pub fn seed(reader: &MemoryReader) {
    reader.add_report(report("a", "camp-1", "", "RUNNING", 8, SNAP + 100));
    // A job report is at least as new as its journeys (a journey changes
    // its job report in the same snapshot).
    reader.add_report(report("a", "camp-1", "job-1", "RUNNING", 8, SNAP + 60));
    reader.add_report(report("a", "camp-2", "", "COMPLETED", 20, SNAP + 300));
    reader.add_report(report("b", "camp-b", "", "RUNNING", 50, SNAP + 900));
    reader.add_journey(journey("u1", true));
    reader.add_journey(journey("u2", false));
}

/// The run's `as_of` for tenant a's campaign reports: camp-2's snapshot.
pub fn newest_snapshot_of_a() -> String {
    millis(DateTime::from_timestamp(i64::from(SNAP + 300), 0).unwrap())
}

pub fn millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn keys() -> KeyStore {
    let entry = |tenant: &str, role: &str, key: &str, user: &str| {
        format!(
            "[[keys]]\ntenant = \"{tenant}\"\nrole = \"{role}\"\nsha256 = \"{}\"\nuser = \"{user}\"\n\n",
            hash_key(key)
        )
    };
    let text = [
        entry("a", "viewer", VIEWER_A, "ann"),
        entry("a", "editor", EDITOR_A, "eve"),
        entry("a", "admin", ADMIN_A, "ada"),
        entry("b", "editor", EDITOR_B, "bob"),
        entry("b", "admin", ADMIN_B, "bea"),
        format!(
            "[[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\nuser = \"root\"\n\n",
            hash_key(ADMIN_ALL)
        ),
    ]
    .concat();
    KeyStore::parse(&text, "test keys").unwrap()
}

// ------------------------------------------------------------- set-up

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("reports-api-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A worker task, stopped on drop.
pub struct Worker(pub tokio::task::JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn settings(dir: &Path) -> ReportSettings {
    ReportSettings {
        worker_id: "test".into(),
        workers: 1,
        scheduler: false,
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(100),
        missed_grace: Duration::from_secs(300),
        retention: Duration::from_secs(86_400),
        link_ttl: Duration::from_secs(3600),
        link_ttl_max: Duration::from_secs(7 * 86_400),
        max_attachment_bytes: 1 << 20,
        scratch_dir: dir.join("scratch"),
        public_url: PUBLIC_URL.into(),
    }
}

pub struct Setup {
    pub db: TestDatabase,
    pub reader: MemoryReader,
    pub reports: Arc<Reports>,
    pub app: Router,
    pub _dir: TempDir,
}

impl Setup {
    pub fn start_worker(&self) -> Worker {
        let task = worker::run_worker(self.reports.clone(), self.reader.clone(), 0);
        Worker(tokio::spawn(task))
    }
}

pub async fn setup(name: &str) -> Setup {
    let db = TestDatabase::new(name).await;
    let dir = TempDir::new(name);
    let reader = MemoryReader::new();
    seed(&reader);
    let state = AppState::new(
        reader.clone(),
        keys(),
        TenantZones::parse("UTC", &[]).unwrap(),
        Limit {
            per_second: 10_000.0,
            burst: 10_000,
        },
        Settings::default(),
    );
    let reports = Arc::new(Reports {
        metadata: db.metadata.clone(),
        store: FileStore::open(&StoreLocation::Directory(dir.0.join("files"))).unwrap(),
        links: LinkSigner::new("secret"),
        zones: state.zones.clone(),
        senders: Senders::default(),
        settings: settings(&dir.0),
        metrics: ReportMetrics::new(&prometheus::Registry::new()),
    });
    let alerts = Arc::new(Alerts::new(db.metadata.clone()));
    let app = router(state.with_alerts(alerts).with_reports(reports.clone()));
    Setup {
        db,
        reader,
        reports,
        app,
        _dir: dir,
    }
}

// ------------------------------------------------------------- HTTP

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), {}: {}", self.status, self.text()))
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<&Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if !key.is_empty() {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// `method uri` must answer `status` (and the error `code`, if any).
pub async fn expect(
    app: &Router,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<&Value>,
    status: StatusCode,
    code: &str,
) -> Answer {
    let a = call(app, method.clone(), uri, key, body).await;
    assert_eq!(a.status, status, "{method} {uri} {body:?}: {}", a.text());
    if !code.is_empty() {
        assert_eq!(a.code(), code, "{method} {uri} {body:?}: {}", a.text());
    }
    a
}

pub async fn get_json(app: &Router, uri: &str, key: &str) -> Value {
    expect(app, GET, uri, key, None, StatusCode::OK, "")
        .await
        .json()
}
