//! Delivery of alerts against real receivers and the real PostgreSQL of
//! the local stack (a scratch database per test): HTTP receivers (axum
//! servers on 127.0.0.1:0 in the test) for webhooks and Slack, a real SMTP
//! server (Python aiosmtpd from the test venv, $VENV_DIR) for e-mail.
//! Transitions are stored with `Metadata::store_transition`, as the alert
//! store does; the delivery workers are the API's, with a short backoff.
//! Also the channel and silence routes: roles, validation, tenants,
//! secrets never returned, the test message.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alerting::{alert_id, RuleInput, Severity, Transition, TransitionKind};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use chrono::Utc;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use metadata::testing::TestDatabase;
use metadata::{Delivery, Metadata, NewSilence, SilenceMatchers};
use query_api::alerts::delivery::{spawn_delivery_worker, DeliveryConfig, DeliveryWorker};
use query_api::alerts::metrics::DeliveryMetrics;
use query_api::alerts::senders::{SenderSettings, Senders, SmtpSettings};
use query_api::alerts::Alerts;
use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::MemoryReader;
use runtime::tenants::TenantZones;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;
use tower::ServiceExt;

const VIEWER_A: &str = "key-a-viewer";
const EDITOR_A: &str = "key-a-editor";
const EDITOR_B: &str = "key-b-editor";
const ADMIN: &str = "key-admin";
const SECRET: &str = "hook-secret-0xC0FFEE";

// ---------------------------------------------------------------- set-up

fn keys() -> KeyStore {
    let text = format!(
        "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\nuser = \"ann\"\n\n\
         [[keys]]\ntenant = \"a\"\nrole = \"editor\"\nsha256 = \"{}\"\nuser = \"eve\"\n\n\
         [[keys]]\ntenant = \"b\"\nrole = \"editor\"\nsha256 = \"{}\"\n\n\
         [[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n",
        hash_key(VIEWER_A),
        hash_key(EDITOR_A),
        hash_key(EDITOR_B),
        hash_key(ADMIN),
    );
    KeyStore::parse(&text, "test keys").unwrap()
}

struct Setup {
    db: TestDatabase,
    m: Metadata,
    app: Router,
}

async fn setup(name: &str, senders: Senders) -> Setup {
    let db = TestDatabase::new(name).await;
    let m = db.metadata.clone();
    let alerts = Arc::new(Alerts::new(m.clone()).with_senders(senders));
    let state = AppState::new(
        MemoryReader::new(),
        keys(),
        TenantZones::parse("UTC", &[]).unwrap(),
        Limit {
            per_second: 10_000.0,
            burst: 10_000,
        },
        Settings::default(),
    )
    .with_alerts(alerts);
    Setup {
        db,
        m,
        app: router(state),
    }
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), {}: {}", self.status, self.text))
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn call(app: &Router, method: Method, uri: &str, key: &str, body: Option<&str>) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// `method uri` must answer `status` (and the error `code`, if any).
async fn expect(
    app: &Router,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<&str>,
    status: StatusCode,
    code: &str,
) -> Answer {
    let a = call(app, method.clone(), uri, key, body).await;
    assert_eq!(a.status, status, "{method} {uri} {body:?}: {}", a.text);
    if !code.is_empty() {
        assert_eq!(a.code(), code, "{method} {uri} {body:?}: {}", a.text);
    }
    a
}

/// A worker with a short backoff and a fast poll, allowed to reach the
/// receivers of the test on loopback.
fn worker(m: &Metadata, settings: &SenderSettings, base_ms: u64) -> DeliveryWorker {
    let settings = SenderSettings {
        allow_private_networks: true,
        ..settings.clone()
    };
    strict_worker(m, &settings, base_ms)
}

/// A worker with the settings as given (private networks as they say).
fn strict_worker(m: &Metadata, settings: &SenderSettings, base_ms: u64) -> DeliveryWorker {
    let config = DeliveryConfig {
        backoff_base: Duration::from_millis(base_ms),
        backoff_max: Duration::from_secs(5),
        poll_interval: Duration::from_millis(25),
        ..DeliveryConfig::default()
    };
    DeliveryWorker::new(m.clone(), Senders::new(settings).unwrap(), config)
}

/// Senders that may reach the receivers of the test on loopback.
fn local_senders() -> Senders {
    Senders::new(&SenderSettings {
        allow_private_networks: true,
        ..SenderSettings::default()
    })
    .unwrap()
}

async fn create_channel(app: &Router, body: Value) -> String {
    let a = expect(
        app,
        Method::POST,
        "/v1/channels",
        EDITOR_A,
        Some(&body.to_string()),
        StatusCode::CREATED,
        "",
    )
    .await;
    a.json()["id"].as_str().unwrap().to_owned()
}

/// A rule of tenant `a` (status ERROR) with these channels.
async fn rule(m: &Metadata, name: &str, severity: &str, channels: &[&str]) -> String {
    let mut input = RuleInput::from_json(&format!(
        r#"{{"name": "{name}", "severity": "{severity}",
            "condition": {{"kind": "status", "status": "ERROR"}}}}"#
    ))
    .unwrap();
    input.channels = channels.iter().map(|c| c.to_string()).collect();
    let stored = m
        .create_rule("a", "eve", input.validate().unwrap())
        .await
        .unwrap();
    stored.rule.id
}

fn transition(
    rule_id: &str,
    severity: Severity,
    campaign: &str,
    kind: TransitionKind,
) -> Transition {
    let fired_at_ms = 1_793_527_200_000;
    Transition {
        alert_id: alert_id(rule_id, "a", campaign, None, 1),
        kind,
        tenant_id: "a".into(),
        rule_id: rule_id.into(),
        rule_name: format!("rule {}", severity.as_str()),
        severity,
        campaign_id: campaign.into(),
        job_id: None,
        value: Some(3.5),
        threshold: Some(5.0),
        message: format!("campaign {campaign} is failing"),
        fired_at_ms,
        resolved_at_ms: (kind == TransitionKind::Resolved).then_some(fired_at_ms + 60_000),
        at_ms: fired_at_ms
            + if kind == TransitionKind::Resolved {
                60_000
            } else {
                0
            },
    }
}

/// Store a fired transition; returns the alert id.
async fn fire(m: &Metadata, rule_id: &str, severity: Severity, campaign: &str) -> String {
    let t = transition(rule_id, severity, campaign, TransitionKind::Fired);
    assert!(m.store_transition(&t).await.unwrap().is_some());
    t.alert_id
}

/// The alert's `n` deliveries once none is pending.
async fn settled(m: &Metadata, alert: &str, n: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = m.deliveries_of_alert("a", alert).await.unwrap();
        if d.len() == n && d.iter().all(|d| d.state != "pending") {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries of {alert} still pending: {d:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn outcomes(d: &Delivery) -> Vec<(String, Option<i32>)> {
    d.attempts
        .iter()
        .map(|a| (a.outcome.clone(), a.http_status))
        .collect()
}

fn pairs(list: &[(&str, Option<i32>)]) -> Vec<(String, Option<i32>)> {
    list.iter().map(|(o, s)| (o.to_string(), *s)).collect()
}

// ---------------------------------------------------------------- receivers

#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug, Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// The statuses of the next answers (then 200).
    script: Arc<Mutex<VecDeque<u16>>>,
    delay: Duration,
}

/// An HTTP server that records every request and answers from a script.
struct Receiver {
    url: String,
    state: ReceiverState,
    task: JoinHandle<()>,
}

impl Receiver {
    async fn start(script: &[u16], delay: Duration) -> Receiver {
        let state = ReceiverState {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            delay,
            ..ReceiverState::default()
        };
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}"),
            state,
            task,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(State(s): State<ReceiverState>, req: Request<Body>) -> impl IntoResponse {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    s.hits.lock().unwrap().push(Hit {
        at,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    });
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    let status = s.script.lock().unwrap().pop_front().unwrap_or(200);
    (
        StatusCode::from_u16(status).unwrap(),
        "answer of the test receiver",
    )
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------- webhook

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_retried_with_growing_backoff_and_one_signed_key() {
    let receiver = Receiver::start(&[503, 503], Duration::ZERO).await;
    let s = setup("delivery_webhook", local_senders()).await;
    let channel = create_channel(
        &s.app,
        json!({"name": "ops hook", "kind": "webhook",
               "url": format!("{}/hook", receiver.url), "secret": SECRET}),
    )
    .await;
    let rule_id = rule(&s.m, "errors", "critical", &[&channel]).await;
    let alert = fire(&s.m, &rule_id, Severity::Critical, "c-1").await;
    let registry = prometheus::Registry::new();
    let task = spawn_delivery_worker(
        worker(&s.m, &SenderSettings::default(), 200).with_metrics(DeliveryMetrics::new(&registry)),
    );

    let d = settled(&s.m, &alert, 1).await;
    assert_eq!(d[0].state, "delivered", "{d:#?}");
    assert_eq!(
        outcomes(&d[0]),
        pairs(&[
            ("error", Some(503)),
            ("error", Some(503)),
            ("ok", Some(200))
        ])
    );
    assert!(d[0].attempts[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("503")));

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    let key = format!("{alert}:fired");
    for h in &hits {
        assert_eq!(h.path, "/hook");
        assert_eq!(h.header("idempotency-key"), key);
        assert_eq!(h.header("content-type"), "application/json");
        assert_eq!(
            h.header("x-signature-256"),
            format!("sha256={}", hmac_hex(SECRET, &h.body)),
            "the signature is the HMAC of the exact body"
        );
        let body = h.json();
        assert_eq!(body["kind"], "fired");
        assert_eq!(body["alert"]["id"], alert.as_str());
        assert_eq!(body["alert"]["status"], "firing");
        assert_eq!(body["alert"]["campaign_id"], "c-1");
        assert_eq!(body["alert"]["severity"], "critical");
        assert_eq!(body["alert"]["message"], "campaign c-1 is failing");
    }
    // The backoff grows: 200 ms, then 400 ms.
    let gap1 = hits[1].at - hits[0].at;
    let gap2 = hits[2].at - hits[1].at;
    assert!(gap1 >= Duration::from_millis(200), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(400), "{gap2:?}");
    assert!(gap2 > gap1, "{gap1:?} then {gap2:?}");

    // The resolution is delivered too, with its own key.
    let resolved = transition(
        &rule_id,
        Severity::Critical,
        "c-1",
        TransitionKind::Resolved,
    );
    assert!(s.m.store_transition(&resolved).await.unwrap().is_some());
    let d = settled(&s.m, &alert, 2).await;
    assert_eq!(d[1].event_kind, "resolved");
    assert_eq!(d[1].state, "delivered");
    let last = receiver.hits().pop().unwrap();
    assert_eq!(last.header("idempotency-key"), format!("{alert}:resolved"));
    assert_eq!(last.json()["kind"], "resolved");
    assert_eq!(last.json()["alert"]["status"], "resolved");
    // Every attempt is counted, by kind and outcome, and where it led.
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    for line in [
        r#"alert_delivery_attempts_total{kind="webhook",outcome="error"} 2"#,
        r#"alert_delivery_attempts_total{kind="webhook",outcome="ok"} 2"#,
        r#"alert_delivery_send_seconds_count{kind="webhook"} 4"#,
        r#"alert_delivery_attempt_results_total{next="retry"} 2"#,
        r#"alert_delivery_attempt_results_total{next="delivered"} 2"#,
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }

    // The alert shows its deliveries and every attempt.
    let a = expect(
        &s.app,
        Method::GET,
        &format!("/v1/alerts/{alert}"),
        VIEWER_A,
        None,
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(a["id"], alert.as_str());
    let deliveries = a["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    let first = &deliveries[0];
    assert_eq!(first["channel_id"], channel.as_str());
    assert_eq!(first["channel_name"], "ops hook");
    assert_eq!(first["kind"], "webhook");
    assert_eq!(first["event_kind"], "fired");
    assert_eq!(first["state"], "delivered");
    assert_eq!(first["idempotency_key"], key.as_str());
    let attempts: Vec<(Value, Value)> = first["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["outcome"].clone(), a["http_status"].clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (json!("error"), json!(503)),
            (json!("error"), json!(503)),
            (json!("ok"), json!(200))
        ]
    );
    assert!(first["attempts"][0]["at"].as_str().is_some());
    assert!(first["attempts"][0]["error"].as_str().is_some());
    assert_eq!(first["attempts"][2]["error"], Value::Null);
    // Another tenant does not see the alert.
    expect(
        &s.app,
        Method::GET,
        &format!("/v1/alerts/{alert}"),
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    task.abort();
    s.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_fails_at_once_and_a_429_is_retried() {
    let rejects = Receiver::start(&[400], Duration::ZERO).await;
    let busy = Receiver::start(&[429], Duration::ZERO).await;
    let s = setup("delivery_4xx", local_senders()).await;
    let rejecting = create_channel(
        &s.app,
        json!({"name": "a rejects", "kind": "webhook", "url": rejects.url}),
    )
    .await;
    let limited = create_channel(
        &s.app,
        json!({"name": "b busy", "kind": "webhook", "url": busy.url}),
    )
    .await;
    let rule_id = rule(&s.m, "errors", "warning", &[&rejecting, &limited]).await;
    let alert = fire(&s.m, &rule_id, Severity::Warning, "c-1").await;
    let task = spawn_delivery_worker(worker(&s.m, &SenderSettings::default(), 50));

    let d = settled(&s.m, &alert, 2).await;
    let by_name: BTreeMap<&str, &Delivery> =
        d.iter().map(|d| (d.channel_name.as_str(), d)).collect();
    let failed = by_name["a rejects"];
    assert_eq!(failed.state, "failed");
    assert_eq!(outcomes(failed), pairs(&[("error", Some(400))]));
    let retried = by_name["b busy"];
    assert_eq!(retried.state, "delivered");
    assert_eq!(
        outcomes(retried),
        pairs(&[("error", Some(429)), ("ok", Some(200))])
    );
    // No later attempt on the failed one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rejects.hits().len(), 1);
    assert_eq!(busy.hits().len(), 2);
    // Without a secret there is no signature.
    assert_eq!(busy.hits()[0].header("x-signature-256"), "");
    task.abort();
    s.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_private_addresses_are_refused_by_default() {
    let receiver = Receiver::start(&[200], Duration::ZERO).await;
    let s = setup("delivery_private", local_senders()).await;
    let channel = create_channel(
        &s.app,
        json!({"name": "inside", "kind": "webhook", "url": receiver.url}),
    )
    .await;
    let rule_id = rule(&s.m, "errors", "warning", &[&channel]).await;
    let alert = fire(&s.m, &rule_id, Severity::Warning, "c-1").await;
    // The production default: public addresses only.
    let task = spawn_delivery_worker(strict_worker(&s.m, &SenderSettings::default(), 50));
    let d = settled(&s.m, &alert, 1).await;
    assert_eq!(d[0].state, "failed", "refused at once, not retried: {d:?}");
    assert_eq!(d[0].attempts.len(), 1);
    let error = d[0].attempts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("non-public") && error.contains("DELIVERY_ALLOW_PRIVATE_NETWORKS"),
        "{error}"
    );
    assert!(receiver.hits().is_empty(), "nothing reached the receiver");
    task.abort();
    s.db.drop().await;
}

// ---------------------------------------------------------------- Slack

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_messages_carry_the_colour_of_the_severity() {
    let receiver = Receiver::start(&[], Duration::ZERO).await;
    let s = setup("delivery_slack", local_senders()).await;
    let slack_url = format!("{}/services/T000/B000/XXXXSECRET", receiver.url);
    let channel = create_channel(
        &s.app,
        json!({"name": "slack", "kind": "slack", "url": slack_url}),
    )
    .await;
    // The incoming-webhook URL (a credential) is not shown in full.
    let list = expect(
        &s.app,
        Method::GET,
        "/v1/channels",
        VIEWER_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert!(!list.text.contains("XXXXSECRET"), "{}", list.text);
    assert_eq!(
        list.json()["channels"][0]["url"],
        format!("{}/...", receiver.url)
    );

    let mut alerts = BTreeMap::new();
    for (severity, level, colour) in [
        ("critical", Severity::Critical, "#d00000"),
        ("warning", Severity::Warning, "#f2c744"),
        ("info", Severity::Info, "#439fe0"),
    ] {
        let rule_id = rule(&s.m, severity, severity, &[&channel]).await;
        let alert = fire(&s.m, &rule_id, level, &format!("c-{severity}")).await;
        alerts.insert(alert, (severity, colour));
    }
    let settings = SenderSettings {
        link_template: Some("https://analytics.example.com/alerts/{alert_id}".into()),
        ..SenderSettings::default()
    };
    let task = spawn_delivery_worker(worker(&s.m, &settings, 50));
    for alert in alerts.keys() {
        let d = settled(&s.m, alert, 1).await;
        assert_eq!(d[0].state, "delivered");
        assert_eq!(d[0].channel_kind, "slack");
    }
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for h in &hits {
        assert_eq!(h.path, "/services/T000/B000/XXXXSECRET");
        let key = h.header("idempotency-key");
        let alert = key.strip_suffix(":fired").unwrap();
        let (severity, colour) = alerts[alert];
        let m = h.json();
        let text = m["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("campaign c-{severity} is failing")),
            "{m}"
        );
        let attachment = &m["attachments"][0];
        assert_eq!(attachment["color"], colour, "{m}");
        assert_eq!(
            attachment["title"],
            format!("[{severity}] rule {severity}: fired")
        );
        assert_eq!(
            attachment["title_link"],
            format!("https://analytics.example.com/alerts/{alert}")
        );
        let fields: BTreeMap<String, String> = attachment["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["title"].as_str().unwrap().to_owned(),
                    f["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(fields["campaign"], format!("c-{severity}"));
        assert_eq!(fields["value"], "3.5");
        assert_eq!(fields["threshold"], "5");
        assert_eq!(fields["status"], "firing");
    }
    task.abort();
    s.db.drop().await;
}

// ---------------------------------------------------------------- e-mail

const SMTP_SERVER: &str = r#"
import email, email.policy, json, pathlib, sys
from aiosmtpd.controller import Controller

out = pathlib.Path(sys.argv[1])
port = int(sys.argv[2])

class Handler:
    n = 0

    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "message_id": str(msg["message-id"]),
            "body": msg.get_body(preferencelist=("plain",)).get_content(),
        }
        tmp = out / f"{Handler.n:04}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.rename(out / f"{Handler.n:04}.json")
        return "250 Message accepted for delivery"

controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

/// aiosmtpd on a free port, writing each message it receives as JSON
/// into a directory; killed when dropped.
struct SmtpServer {
    port: u16,
    dir: PathBuf,
    _child: tokio::process::Child,
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        let python = match std::env::var("VENV_DIR") {
            Ok(venv) => Path::new(&venv).join("bin/python"),
            Err(_) => PathBuf::from("python3"),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "smtp-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = tokio::process::Command::new(&python)
            .arg("-c")
            .arg(SMTP_SERVER)
            .arg(&dir)
            .arg(port.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): run `deploy/local/install.sh python` and source \
                     deploy/local/env.sh (VENV_DIR)",
                    python.display()
                )
            });
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(_))) && line.trim() == "ready",
            "aiosmtpd did not start with {} (is aiosmtpd installed in $VENV_DIR? \
             `deploy/local/install.sh python`): {line:?}",
            python.display()
        );
        SmtpServer {
            port,
            dir,
            _child: child,
        }
    }

    /// The messages received so far, in order.
    fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} e-mails", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_mails_reach_a_real_smtp_server() {
    let smtp = SmtpServer::start().await;
    let settings = SenderSettings {
        smtp: Some(SmtpSettings {
            url: format!("smtp://127.0.0.1:{}", smtp.port),
            from: "Campaign alerts <alerts@example.com>".into(),
        }),
        ..SenderSettings::default()
    };
    let s = setup("delivery_email", Senders::new(&settings).unwrap()).await;
    let channel = create_channel(
        &s.app,
        json!({"name": "on call", "kind": "email",
               "recipients": ["ops@example.com", "oncall@example.com"]}),
    )
    .await;
    let rule_id = rule(&s.m, "errors", "critical", &[&channel]).await;
    let alert = fire(&s.m, &rule_id, Severity::Critical, "c-1").await;
    let task = spawn_delivery_worker(worker(&s.m, &settings, 50));
    let d = settled(&s.m, &alert, 1).await;
    assert_eq!(d[0].state, "delivered", "{d:#?}");
    assert_eq!(outcomes(&d[0]), pairs(&[("ok", None)]));

    let mail = &smtp.wait_for(1).await[0];
    assert_eq!(mail["subject"], "[critical] rule critical: fired");
    assert_eq!(mail["mail_from"], "alerts@example.com");
    assert_eq!(
        mail["rcpt_tos"],
        json!(["ops@example.com", "oncall@example.com"])
    );
    assert!(mail["to"].as_str().unwrap().contains("oncall@example.com"));
    assert!(mail["from"].as_str().unwrap().contains("Campaign alerts"));
    let body = mail["body"].as_str().unwrap();
    assert!(body.starts_with("campaign c-1 is failing"), "{body}");
    for line in [
        "campaign: c-1",
        "severity: critical",
        "value: 3.5",
        "threshold: 5",
    ] {
        assert!(body.contains(line), "{line:?} in {body}");
    }
    assert!(mail["message_id"].as_str().unwrap().contains(&alert));

    // The test message of the channel goes out now, through the API.
    let a = expect(
        &s.app,
        Method::POST,
        &format!("/v1/channels/{channel}/test"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(a.json(), json!({"ok": true}));
    let test = &smtp.wait_for(2).await[1];
    assert_eq!(test["subject"], "[info] test message: test");
    assert!(test["body"].as_str().unwrap().contains("on call"));
    task.abort();
    s.db.drop().await;
}

// ---------------------------------------------------------------- silences

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_silence_suppresses_and_another_campaign_is_delivered() {
    let receiver = Receiver::start(&[], Duration::ZERO).await;
    let s = setup("delivery_silence", local_senders()).await;
    let channel = create_channel(
        &s.app,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url}),
    )
    .await;
    let rule_id = rule(&s.m, "errors", "critical", &[&channel]).await;
    let in_an_hour = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let silence = expect(
        &s.app,
        Method::POST,
        "/v1/silences",
        EDITOR_A,
        Some(
            &json!({"matchers": {"rule_id": rule_id, "campaign_id": "c-1"},
                    "ends_at": in_an_hour, "comment": "planned maintenance"})
            .to_string(),
        ),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    assert_eq!(silence["active"], true);
    // Not yet in force: no effect.
    let later = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    expect(
        &s.app,
        Method::POST,
        "/v1/silences",
        EDITOR_A,
        Some(
            &json!({"matchers": {"campaign_id": "c-2"}, "starts_at": in_an_hour,
                    "ends_at": later})
            .to_string(),
        ),
        StatusCode::CREATED,
        "",
    )
    .await;

    let silenced = fire(&s.m, &rule_id, Severity::Critical, "c-1").await;
    let other = fire(&s.m, &rule_id, Severity::Critical, "c-2").await;
    let task = spawn_delivery_worker(worker(&s.m, &SenderSettings::default(), 50));
    let d = settled(&s.m, &silenced, 1).await;
    assert_eq!(d[0].state, "suppressed");
    assert_eq!(outcomes(&d[0]), pairs(&[("suppressed", None)]));
    assert!(d[0].attempts[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains(silence["id"].as_str().unwrap())));
    let d = settled(&s.m, &other, 1).await;
    assert_eq!(d[0].state, "delivered");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "only the other campaign's alert is sent");
    assert_eq!(hits[0].header("idempotency-key"), format!("{other}:fired"));

    // Once the silence is deleted, the next transition is sent.
    let id = silence["id"].as_str().unwrap();
    expect(
        &s.app,
        Method::DELETE,
        &format!("/v1/silences/{id}"),
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    let resolved = transition(
        &rule_id,
        Severity::Critical,
        "c-1",
        TransitionKind::Resolved,
    );
    s.m.store_transition(&resolved).await.unwrap();
    let d = settled(&s.m, &silenced, 2).await;
    assert_eq!(d[1].state, "delivered");
    task.abort();
    s.db.drop().await;
}

// ---------------------------------------------------------------- workers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_send_one_delivery_twice() {
    const N: usize = 40;
    let receiver = Receiver::start(&[], Duration::from_millis(30)).await;
    let s = setup("delivery_workers", local_senders()).await;
    let channel = create_channel(
        &s.app,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url}),
    )
    .await;
    let rule_id = rule(&s.m, "errors", "critical", &[&channel]).await;
    let mut alerts = Vec::new();
    for i in 0..N {
        alerts.push(fire(&s.m, &rule_id, Severity::Critical, &format!("c-{i:02}")).await);
    }
    // Each worker signs its messages with its own link.
    let tasks: Vec<JoinHandle<()>> = ["one", "two"]
        .into_iter()
        .map(|name| {
            let settings = SenderSettings {
                link_template: Some(format!("http://{name}/{{alert_id}}")),
                allow_private_networks: true,
                ..SenderSettings::default()
            };
            let config = DeliveryConfig {
                batch: 4,
                backoff_base: Duration::from_millis(50),
                poll_interval: Duration::from_millis(25),
                ..DeliveryConfig::default()
            };
            let senders = Senders::new(&settings).unwrap();
            spawn_delivery_worker(DeliveryWorker::new(s.m.clone(), senders, config))
        })
        .collect();
    for alert in &alerts {
        let d = settled(&s.m, alert, 1).await;
        assert_eq!(d[0].state, "delivered");
        assert_eq!(d[0].attempts.len(), 1, "{d:#?}");
    }
    // Give a duplicate time to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = receiver.hits();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
    for h in &hits {
        *per_key.entry(h.header("idempotency-key")).or_default() += 1;
        let link = h.json()["link"].as_str().unwrap().to_owned();
        let worker = link.split('/').nth(2).unwrap().to_owned();
        *per_worker.entry(worker).or_default() += 1;
    }
    assert_eq!(hits.len(), N, "{per_key:?}");
    assert_eq!(per_key.len(), N);
    assert!(per_key.values().all(|&n| n == 1), "{per_key:?}");
    assert_eq!(per_worker.len(), 2, "both workers sent: {per_worker:?}");
    for t in tasks {
        t.abort();
    }
    s.db.drop().await;
}

// ---------------------------------------------------------------- routes

#[tokio::test]
async fn channel_routes_check_roles_input_tenants_and_hide_secrets() {
    let ok = Receiver::start(&[], Duration::ZERO).await;
    let down = Receiver::start(&[503], Duration::ZERO).await;
    let s = setup("delivery_channels_api", local_senders()).await;
    let app = &s.app;
    let hook = json!({"name": "ops", "kind": "webhook", "url": ok.url, "secret": SECRET});

    // A viewer may not create; bad bodies are 400 bad_channel.
    expect(
        app,
        Method::POST,
        "/v1/channels",
        VIEWER_A,
        Some(&hook.to_string()),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for bad in [
        json!({"name": "x", "kind": "fax", "url": "http://127.0.0.1:1/"}),
        json!({"name": "x", "kind": "webhook"}),
        json!({"name": "x", "kind": "webhook", "url": "ftp://example.com/x"}),
        json!({"name": "x", "kind": "webhook", "url": "javascript:alert(1)"}),
        json!({"name": "x", "kind": "webhook", "url": "not a url"}),
        json!({"name": "x", "kind": "slack"}),
        json!({"name": "x", "kind": "slack", "url": "https://hooks.slack.com/x", "secret": "s"}),
        json!({"name": "x", "kind": "email"}),
        json!({"name": "x", "kind": "email", "recipients": []}),
        json!({"name": "x", "kind": "email", "recipients": ["nobody"]}),
        json!({"name": "x", "kind": "email", "recipients": ["a@example.com"], "url": "http://x/"}),
        json!({"name": "", "kind": "webhook", "url": "http://127.0.0.1:1/"}),
        json!({"name": "x", "kind": "webhook", "url": "http://127.0.0.1:1/", "colour": "red"}),
        json!({"kind": "webhook", "url": "http://127.0.0.1:1/"}),
        json!(["not", "an", "object"]),
    ] {
        expect(
            app,
            Method::POST,
            "/v1/channels",
            EDITOR_A,
            Some(&bad.to_string()),
            StatusCode::BAD_REQUEST,
            "bad_channel",
        )
        .await;
    }
    expect(
        app,
        Method::POST,
        "/v1/channels",
        EDITOR_A,
        Some("{not json"),
        StatusCode::BAD_REQUEST,
        "bad_channel",
    )
    .await;

    // Created: the secret is never returned, only that it is set.
    let created = expect(
        app,
        Method::POST,
        "/v1/channels",
        EDITOR_A,
        Some(&hook.to_string()),
        StatusCode::CREATED,
        "",
    )
    .await;
    assert!(!created.text.contains(SECRET), "{}", created.text);
    let c = created.json();
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["name"], "ops");
    assert_eq!(c["kind"], "webhook");
    assert_eq!(c["url"], ok.url.as_str());
    assert_eq!(c["secret_set"], true);
    assert!(c.get("secret").is_none());
    let mail = create_channel(
        app,
        json!({"name": "mail", "kind": "email", "recipients": ["ops@example.com"]}),
    )
    .await;
    let list = expect(
        app,
        Method::GET,
        "/v1/channels",
        VIEWER_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert!(!list.text.contains(SECRET));
    let channels = list.json()["channels"].as_array().unwrap().clone();
    assert_eq!(channels.len(), 2);
    assert_eq!(channels[1]["recipients"], json!(["ops@example.com"]));
    assert_eq!(channels[1]["secret_set"], false);
    let admin = expect(
        app,
        Method::GET,
        "/v1/channels?tenant_id=a",
        ADMIN,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(admin.json()["channels"].as_array().unwrap().len(), 2);

    // Another tenant sees nothing and reaches nothing.
    let theirs = expect(
        app,
        Method::GET,
        "/v1/channels",
        EDITOR_B,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(theirs.json(), json!({"channels": []}));
    for (method, uri) in [
        (Method::DELETE, format!("/v1/channels/{id}")),
        (Method::POST, format!("/v1/channels/{id}/test")),
    ] {
        expect(
            app,
            method,
            &uri,
            EDITOR_B,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for unknown in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        expect(
            app,
            Method::DELETE,
            &format!("/v1/channels/{unknown}"),
            EDITOR_A,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }

    // Rules may only name the tenant's channels.
    let b_channel = {
        let a = expect(
            app,
            Method::POST,
            "/v1/channels",
            EDITOR_B,
            Some(&json!({"name": "b", "kind": "webhook", "url": ok.url}).to_string()),
            StatusCode::CREATED,
            "",
        )
        .await;
        a.json()["id"].as_str().unwrap().to_owned()
    };
    let rule_body = |channels: Value| {
        json!({"name": "r", "condition": {"kind": "status", "status": "ERROR"}, "channels": channels})
            .to_string()
    };
    for channels in [
        json!([uuid::Uuid::new_v4().to_string()]),
        json!([b_channel]),
        json!(["not-a-channel"]),
        json!([id, b_channel]),
    ] {
        let a = expect(
            app,
            Method::POST,
            "/v1/alert-rules",
            EDITOR_A,
            Some(&rule_body(channels)),
            StatusCode::BAD_REQUEST,
            "bad_rule",
        )
        .await;
        assert!(a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("channels:"));
    }
    let r = expect(
        app,
        Method::POST,
        "/v1/alert-rules",
        EDITOR_A,
        Some(&rule_body(json!([id.to_uppercase(), mail]))),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    assert_eq!(r["channels"], json!([id, mail]), "stored in canonical form");
    let rule_id = r["id"].as_str().unwrap();
    expect(
        app,
        Method::PUT,
        &format!("/v1/alert-rules/{rule_id}"),
        EDITOR_A,
        Some(&rule_body(json!([b_channel]))),
        StatusCode::BAD_REQUEST,
        "bad_rule",
    )
    .await;

    // The test message: 200 either way, saying how it went.
    let t = expect(
        app,
        Method::POST,
        &format!("/v1/channels/{id}/test"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(t.json(), json!({"ok": true, "http_status": 200}));
    let test_hit = &ok.hits()[0];
    assert_eq!(test_hit.json()["kind"], "test");
    assert_eq!(
        test_hit.header("x-signature-256"),
        format!("sha256={}", hmac_hex(SECRET, &test_hit.body))
    );
    assert!(test_hit.header("idempotency-key").starts_with("test:"));
    let broken = create_channel(
        app,
        json!({"name": "down", "kind": "webhook", "url": down.url}),
    )
    .await;
    let t = expect(
        app,
        Method::POST,
        &format!("/v1/channels/{broken}/test"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(t["ok"], false);
    assert_eq!(t["http_status"], 503);
    assert!(t["error"].as_str().unwrap().contains("503"));
    let t = expect(
        app,
        Method::POST,
        &format!("/v1/channels/{mail}/test"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(t["ok"], false, "no SMTP_URL on this server");
    assert!(t["error"].as_str().unwrap().contains("SMTP_URL"));
    // Nothing listens: the error names the origin, never the URL's path or
    // query (a Slack webhook's path is its secret).
    let closed = integration_free_port();
    let tokened = create_channel(
        app,
        json!({"name": "tokened", "kind": "webhook",
               "url": format!("http://127.0.0.1:{closed}/hooks/T0KEN-path?sig=Q-S3CRET")}),
    )
    .await;
    let t = expect(
        app,
        Method::POST,
        &format!("/v1/channels/{tokened}/test"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await
    .json();
    let error = t["error"].as_str().unwrap_or_default();
    assert_eq!(t["ok"], false, "{t}");
    assert!(
        error.starts_with(&format!("http://127.0.0.1:{closed}: ")),
        "{error}"
    );
    assert!(
        !error.contains("T0KEN") && !error.contains("S3CRET"),
        "{error}"
    );
    expect(
        app,
        Method::POST,
        &format!("/v1/channels/{id}/test"),
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Every test is in the audit log with how it went.
    let tests: Vec<String> =
        s.m.audit_of("a", "channel", &tokened)
            .await
            .unwrap()
            .into_iter()
            .map(|(who, what, _)| format!("{who} {what}"))
            .collect();
    assert_eq!(tests, ["eve create", "eve test"]);

    // Delete: editors only, audited, then gone.
    let uri = format!("/v1/channels/{id}");
    expect(
        app,
        Method::DELETE,
        &uri,
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Not while a rule sends to it: 409 naming the rule, nothing changed.
    let refused = expect(
        app,
        Method::DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("\"r\"") && message.contains(rule_id),
        "{message}"
    );
    let rule_uri = format!("/v1/alert-rules/{rule_id}");
    expect(
        app,
        Method::PUT,
        &rule_uri,
        EDITOR_A,
        Some(&rule_body(json!([mail]))),
        StatusCode::OK,
        "",
    )
    .await;
    expect(
        app,
        Method::DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    // A deleted channel cannot be given to a rule again.
    expect(
        app,
        Method::PUT,
        &rule_uri,
        EDITOR_A,
        Some(&rule_body(json!([id]))),
        StatusCode::BAD_REQUEST,
        "bad_rule",
    )
    .await;
    expect(
        app,
        Method::DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list = expect(
        app,
        Method::GET,
        "/v1/channels",
        VIEWER_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(list.json()["channels"].as_array().unwrap().len(), 3);
    let audit: Vec<String> =
        s.m.audit_of("a", "channel", &id)
            .await
            .unwrap()
            .into_iter()
            .map(|(who, what, _)| format!("{who} {what}"))
            .collect();
    assert_eq!(audit, ["eve create", "eve test", "eve delete"]);
    s.db.drop().await;
}

#[tokio::test]
async fn silence_routes_check_roles_input_and_tenants() {
    let s = setup("delivery_silences_api", local_senders()).await;
    let app = &s.app;
    let rule_id = rule(&s.m, "errors", "critical", &[]).await;
    let b_rule = {
        let input = RuleInput::from_json(
            r#"{"name": "b", "condition": {"kind": "status", "status": "ERROR"}}"#,
        )
        .unwrap();
        s.m.create_rule("b", "bob", input.validate().unwrap())
            .await
            .unwrap()
            .rule
            .id
    };
    let soon = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let later = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let good = json!({"matchers": {"rule_id": rule_id, "severity": "critical"},
                      "ends_at": soon, "comment": "deploy"});
    expect(
        app,
        Method::POST,
        "/v1/silences",
        VIEWER_A,
        Some(&good.to_string()),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for bad in [
        json!({"matchers": {}, "ends_at": soon}),
        json!({"ends_at": soon}),
        json!({"matchers": {"severity": "critical"}}),
        json!({"matchers": {"severity": "fatal"}, "ends_at": soon}),
        json!({"matchers": {"campaign_id": "c-1"}, "ends_at": "tomorrow"}),
        json!({"matchers": {"campaign_id": "c-1"}, "starts_at": "2026-02-30T00:00:00Z", "ends_at": soon}),
        json!({"matchers": {"campaign_id": "c-1"}, "starts_at": later, "ends_at": soon}),
        json!({"matchers": {"campaign_id": "c-1"}, "starts_at": soon, "ends_at": soon}),
        json!({"matchers": {"campaign_id": "c-1"}, "ends_at": past}),
        json!({"matchers": {"campaign_id": ""}, "ends_at": soon}),
        json!({"matchers": {"rule_id": "not-a-rule"}, "ends_at": soon}),
        json!({"matchers": {"rule_id": uuid::Uuid::new_v4().to_string()}, "ends_at": soon}),
        json!({"matchers": {"rule_id": b_rule}, "ends_at": soon}),
        json!({"matchers": {"job_id": "j"}, "ends_at": soon}),
        json!({"matchers": {"campaign_id": "c-1"}, "ends_at": soon, "why": "x"}),
    ] {
        expect(
            app,
            Method::POST,
            "/v1/silences",
            EDITOR_A,
            Some(&bad.to_string()),
            StatusCode::BAD_REQUEST,
            "bad_silence",
        )
        .await;
    }

    let created = expect(
        app,
        Method::POST,
        "/v1/silences",
        EDITOR_A,
        Some(&good.to_string()),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["matchers"],
        json!({"rule_id": rule_id, "campaign_id": null, "severity": "critical"})
    );
    assert_eq!(created["comment"], "deploy");
    assert_eq!(created["created_by"], "eve");
    assert_eq!(created["active"], true);
    let future = expect(
        app,
        Method::POST,
        "/v1/silences",
        EDITOR_A,
        Some(
            &json!({"matchers": {"campaign_id": "c-9"}, "starts_at": soon, "ends_at": later})
                .to_string(),
        ),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    assert_eq!(future["active"], false);
    // An expired one (only the store can make it).
    s.m.create_silence(
        "a",
        "eve",
        NewSilence {
            matchers: SilenceMatchers {
                campaign_id: Some("c-old".into()),
                ..SilenceMatchers::default()
            },
            starts_at: Some(Utc::now() - chrono::Duration::hours(3)),
            ends_at: Utc::now() - chrono::Duration::hours(2),
            comment: None,
        },
    )
    .await
    .unwrap();

    let ids = |v: Value| -> Vec<String> {
        v["silences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = expect(
        app,
        Method::GET,
        "/v1/silences",
        VIEWER_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(
        ids(listed.json()),
        [id.clone(), future["id"].as_str().unwrap().to_owned()]
    );
    let all = expect(
        app,
        Method::GET,
        "/v1/silences?include_expired=true",
        VIEWER_A,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(ids(all.json()).len(), 3);
    expect(
        app,
        Method::GET,
        "/v1/silences?include_expired=maybe",
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "bad_boolean",
    )
    .await;

    // Another tenant sees none and deletes none.
    let theirs = expect(
        app,
        Method::GET,
        "/v1/silences",
        EDITOR_B,
        None,
        StatusCode::OK,
        "",
    )
    .await;
    assert_eq!(theirs.json(), json!({"silences": []}));
    let uri = format!("/v1/silences/{id}");
    expect(
        app,
        Method::DELETE,
        &uri,
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        Method::DELETE,
        &uri,
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect(
        app,
        Method::DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    expect(
        app,
        Method::DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        Method::DELETE,
        "/v1/silences/not-a-uuid",
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let audit: Vec<String> =
        s.m.audit_of("a", "silence", &id)
            .await
            .unwrap()
            .into_iter()
            .map(|(who, what, _)| format!("{who} {what}"))
            .collect();
    assert_eq!(audit, ["eve create", "eve delete"]);
    s.db.drop().await;
}

/// A port nothing listens on.
fn integration_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
