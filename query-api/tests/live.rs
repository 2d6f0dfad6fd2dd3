//! The live streams over the in-memory reader: a commit (a checkpoint that
//! moved, with the reports its snapshots wrote) reaches SSE and WebSocket
//! subscribers in order, a reconnect with the last id resumes without a
//! gap, tenants stay apart, bad ids are 400s, a client that falls behind
//! is closed with a reason. (tests/tests/live.rs runs them against the
//! real processor and ClickHouse.)

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::live::{self, Feed, Live, Out, Subscription};
use query_api::rate_limit::Limit;
use query_api::read::MemoryReader;
use runtime::tenants::TenantZones;
use serde_json::Value;
use storage::rows::ReportRow;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

const KEY_A: &str = "live-key-a";
const KEY_B: &str = "live-key-b";
const WAIT: Duration = Duration::from_secs(5);

fn row(
    tenant: &str,
    campaign: &str,
    job: &str,
    partition: i32,
    version: u64,
    sent: u64,
    status: &str,
) -> ReportRow {
    ReportRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        partition,
        version,
        status: status.into(),
        target_users: 100,
        sent_users: sent,
        interacted_users: sent / 2,
        completed_users: sent / 4,
        interaction_rate: 50.0,
        completion_rate: 25.0,
        total_interactions: sent,
        messages_sent: sent,
        warnings_sent: 0,
        avg_completion_seconds: None,
        nodes_json: "[]".into(),
        funnel_json: "[]".into(),
        first_event_at_ms: 1_793_527_200_000,
        last_event_at_ms: 1_793_527_200_000,
        snapshot_at: 1_793_527_300,
    }
}

struct Fixture {
    reader: MemoryReader,
    state: AppState<MemoryReader>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Tenant a: c1 (partition 0) and c2 (partition 1) with a job j1 of c1;
/// tenant b: b1. Checkpoints 0=10, 1=11. A poller every 10 ms.
fn fixture(buffer: usize) -> Fixture {
    let keys = KeyStore::parse(
        &format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\n\n[[keys]]\ntenant = \"b\"\nsha256 = \"{}\"\n",
            hash_key(KEY_A),
            hash_key(KEY_B)
        ),
        "test keys",
    )
    .unwrap();
    let reader = MemoryReader::new();
    reader.put_report(row("a", "c1", "", 0, 10, 5, "RUNNING"));
    reader.put_report(row("a", "c1", "j1", 0, 10, 5, "RUNNING"));
    reader.put_report(row("a", "c2", "", 1, 11, 7, "RUNNING"));
    reader.put_report(row("b", "b1", "", 0, 9, 1, "RUNNING"));
    reader.set_checkpoint(0, 10);
    reader.set_checkpoint(1, 11);
    let settings = Settings {
        live_buffer: buffer,
        ..Settings::default()
    };
    let state = AppState::new(
        reader.clone(),
        keys,
        TenantZones::parse("UTC", &[]).unwrap(),
        Limit {
            per_second: 1000.0,
            burst: 1000,
        },
        settings,
    );
    let poller = live::spawn_poller(
        state.live.clone(),
        reader.clone(),
        Duration::from_millis(10),
    );
    Fixture {
        reader,
        state,
        poller,
    }
}

/// A commit: the reports of a snapshot land, then its checkpoint.
fn commit(reader: &MemoryReader, rows: Vec<ReportRow>, partition: i32, version: u64) {
    for r in rows {
        reader.put_report(r);
    }
    reader.set_checkpoint(partition, version);
}

#[derive(Debug, Clone, PartialEq)]
struct Ev {
    event: String,
    id: Option<String>,
    data: Value,
}

/// A text/event-stream body read event by event (comments skipped).
struct Events {
    body: Body,
    buf: String,
}

impl Events {
    async fn next(&mut self) -> Option<Ev> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Ev {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        ev.event = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        ev.data = serde_json::from_str(v).unwrap();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = Some(v.into());
                    }
                }
                if any {
                    return Some(ev);
                }
                continue;
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("an event within 5 s")?;
            if let Ok(data) = frame.unwrap().into_data() {
                self.buf.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
}

async fn open(
    f: &Fixture,
    uri: &str,
    key: &str,
    last_id: Option<&str>,
) -> Result<Events, (StatusCode, Value)> {
    let mut req = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {key}"));
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let resp = router(f.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        return Err((status, serde_json::from_slice(&body).unwrap()));
    }
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    Ok(Events {
        body: resp.into_body(),
        buf: String::new(),
    })
}

async fn ready(f: &Fixture) {
    for _ in 0..500 {
        if f.state.live.subscribe(Duration::ZERO).await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the poller never read the checkpoints");
}

#[tokio::test]
async fn campaigns_stream_sends_the_state_then_every_commit_in_order_and_resumes() {
    let f = fixture(64);
    ready(&f).await;
    let mut s = open(&f, "/v1/campaigns/stream", KEY_A, None).await.unwrap();
    let first = s.next().await.unwrap();
    let second = s.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), first.data["campaign_id"].as_str()),
        ("campaign", Some("c1"))
    );
    assert_eq!(second.data["campaign_id"], "c2");
    assert_eq!(
        first.data["sent_users"], 5,
        "the JSON of the list: {}",
        first.data
    );
    let synced = s.next().await.unwrap();
    assert_eq!(synced.event, "synced");
    assert_eq!(synced.id.as_deref(), Some("0=10,1=11"));

    // Two commits on partition 0, then one on 1; tenant b's change and
    // the job report stay out.
    commit(
        &f.reader,
        vec![
            row("a", "c1", "", 0, 20, 6, "RUNNING"),
            row("a", "c1", "j1", 0, 20, 6, "RUNNING"),
            row("b", "b1", "", 0, 20, 2, "RUNNING"),
        ],
        0,
        20,
    );
    let e = s.next().await.unwrap();
    assert_eq!(
        (
            e.data["campaign_id"].as_str(),
            e.data["sent_users"].as_u64()
        ),
        (Some("c1"), Some(6))
    );
    assert_eq!(e.id.as_deref(), Some("0=20,1=11"));
    commit(
        &f.reader,
        vec![row("a", "c1", "", 0, 30, 8, "RUNNING")],
        0,
        30,
    );
    let e = s.next().await.unwrap();
    assert_eq!(e.data["sent_users"], 8);
    let resume_at = e.id.clone().unwrap();
    commit(
        &f.reader,
        vec![row("a", "c2", "", 1, 31, 9, "COMPLETED")],
        1,
        31,
    );
    let e = s.next().await.unwrap();
    assert_eq!(
        (e.data["campaign_id"].as_str(), e.data["status"].as_str()),
        (Some("c2"), Some("COMPLETED"))
    );
    drop(s);

    // A reconnect from an earlier id gets what committed since, then synced.
    let mut s = open(&f, "/v1/campaigns/stream", KEY_A, Some(&resume_at))
        .await
        .unwrap();
    let e = s.next().await.unwrap();
    assert_eq!(
        (
            e.data["campaign_id"].as_str(),
            e.data["sent_users"].as_u64()
        ),
        (Some("c2"), Some(9))
    );
    let synced = s.next().await.unwrap();
    assert_eq!(
        (synced.event.as_str(), synced.id.as_deref()),
        ("synced", Some("0=30,1=31"))
    );

    // A status filter: c2 left RUNNING (a resumed stream says so), c1 stays.
    let mut s = open(
        &f,
        "/v1/campaigns/stream?status=RUNNING",
        KEY_A,
        Some("0=10,1=11"),
    )
    .await
    .unwrap();
    let events = [
        s.next().await.unwrap(),
        s.next().await.unwrap(),
        s.next().await.unwrap(),
    ];
    assert_eq!(events[0].data["campaign_id"], "c1");
    assert_eq!(
        (
            events[1].event.as_str(),
            events[1].data["campaign_id"].as_str()
        ),
        ("removed", Some("c2"))
    );
    assert_eq!(events[2].event, "synced");

    // Tenant b sees only its own campaign.
    let mut s = open(&f, "/v1/campaigns/stream", KEY_B, None).await.unwrap();
    let e = s.next().await.unwrap();
    assert_eq!(
        (
            e.data["campaign_id"].as_str(),
            e.data["sent_users"].as_u64()
        ),
        (Some("b1"), Some(2))
    );
    assert_eq!(s.next().await.unwrap().event, "synced");
}

#[tokio::test]
async fn report_stream_sends_newer_versions_of_its_report_only() {
    let f = fixture(64);
    ready(&f).await;
    let mut s = open(&f, "/v1/campaigns/c1/report/stream?job_id=j1", KEY_A, None)
        .await
        .unwrap();
    let e = s.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), e.id.as_deref(), e.data["job_id"].as_str()),
        ("report", Some("10"), Some("j1"))
    );
    let synced = s.next().await.unwrap();
    assert_eq!((synced.event.as_str(), synced.id), ("synced", None));
    commit(
        &f.reader,
        vec![row("a", "c1", "", 0, 20, 6, "RUNNING")],
        0,
        20,
    );
    commit(
        &f.reader,
        vec![row("a", "c1", "j1", 0, 25, 7, "RUNNING")],
        0,
        25,
    );
    let e = s.next().await.unwrap();
    assert_eq!(
        (e.id.as_deref(), e.data["sent_users"].as_u64()),
        (Some("25"), Some(7))
    );

    // Resuming at the current version sends nothing until the next commit.
    let mut s = open(
        &f,
        "/v1/campaigns/c1/report/stream?job_id=j1",
        KEY_A,
        Some("25"),
    )
    .await
    .unwrap();
    assert_eq!(s.next().await.unwrap().event, "synced", "and no report");
    commit(
        &f.reader,
        vec![row("a", "c1", "j1", 0, 40, 9, "RUNNING")],
        0,
        40,
    );
    let e = s.next().await.unwrap();
    assert_eq!(e.id.as_deref(), Some("40"));

    // Another tenant's campaign of the same id is not there.
    let mut s = open(&f, "/v1/campaigns/b1/report/stream", KEY_A, None)
        .await
        .unwrap();
    assert_eq!(
        s.next().await.unwrap().event,
        "synced",
        "no report of b1 for a"
    );
    commit(
        &f.reader,
        vec![row("b", "b1", "", 0, 50, 3, "RUNNING")],
        0,
        50,
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.next())
            .await
            .is_err(),
        "nothing of tenant b"
    );
}

#[tokio::test]
async fn bad_requests_are_json_400s_and_a_stream_before_the_first_poll_is_503() {
    let f = fixture(64);
    ready(&f).await;
    for (uri, last) in [
        ("/v1/campaigns/stream", Some("0=1,x")),
        ("/v1/campaigns/stream?last_event_id=-1=2", None),
        ("/v1/campaigns/c1/report/stream", Some("0=1")),
        // An empty parameter is malformed (an empty header is none).
        ("/v1/campaigns/c1/report/stream?last_event_id=", Some("3")),
    ] {
        let (status, body) = open(&f, uri, KEY_A, last).await.err().expect("refused");
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"]["code"], "bad_event_id", "{uri}: {body}");
    }
    let (status, body) = open(&f, "/v1/campaigns/stream?status=running", KEY_A, None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_status"))
    );
    let (status, _) = open(&f, "/v1/campaigns/stream", "no-such-key", None)
        .await
        .err()
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A server whose poller never read the checkpoints (ClickHouse down).
    f.reader.set_down(true);
    let g = fixture(64);
    g.reader.set_down(true);
    let (status, body) = open(&g, "/v1/campaigns/stream", KEY_A, None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
}

#[tokio::test]
async fn a_client_that_falls_behind_is_closed_with_a_reason_and_holds_up_no_one() {
    let f = fixture(2);
    ready(&f).await;
    let live: Arc<Live> = f.state.live.clone();
    let sub = || Subscription::campaigns("a".into(), None, None);
    let mut slow = Feed::start(&live, &f.reader, sub()).await.unwrap();
    let mut fast = Feed::start(&live, &f.reader, sub()).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            fast.next().await,
            Some(Out::Campaign { .. } | Out::Synced { .. })
        ));
    }
    for v in 1..=5u64 {
        commit(
            &f.reader,
            vec![row("a", "c1", "", 0, 100 + v, v, "RUNNING")],
            0,
            100 + v,
        );
        // The fast one takes each commit as it comes.
        let out = tokio::time::timeout(WAIT, fast.next())
            .await
            .unwrap()
            .unwrap();
        let Out::Campaign { json, .. } = out else {
            panic!("{out:?}")
        };
        assert!(json.contains(&format!("\"sent_users\":{v},")), "{json}");
    }
    // The slow one gets its catch-up, then the close, then nothing.
    let mut seen = Vec::new();
    while let Some(out) = slow.next().await {
        seen.push(out);
    }
    let Some(Out::Close { code, message }) = seen.last() else {
        panic!("{seen:?}")
    };
    assert_eq!(*code, "too_slow");
    assert!(message.contains("reconnect"), "{message}");
    let metrics = f.state.metrics.render();
    assert!(
        metrics.contains("query_api_live_closed_slow_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn one_websocket_carries_several_subscriptions() {
    let f = fixture(64);
    ready(&f).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::app::serve(
        listener,
        router(f.state.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    let mut req = format!("ws://{addr}/v1/ws").into_client_request().unwrap();
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {KEY_A}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(
        serde_json::json!({"type": "subscribe", "id": "all", "stream": "campaigns"}),
    ))
    .await
    .unwrap();
    ws.send(send(serde_json::json!({"type": "subscribe", "id": "c1", "stream": "report", "campaign_id": "c1"}))).await.unwrap();
    ws.send(send(serde_json::json!({"type": "subscribe", "id": "bad", "stream": "report", "campaign_id": "c1", "last_event_id": "x"}))).await.unwrap();
    ws.send(Message::Text("not json".into())).await.unwrap();

    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < 9 && tokio::time::Instant::now() < deadline {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{got:#?}"))
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            got.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
        }
    }
    let of = |sub: &str| -> Vec<String> {
        got.iter()
            .filter(|m| m["subscription"] == sub)
            .map(|m| {
                format!(
                    "{}:{}",
                    m["type"].as_str().unwrap(),
                    m["data"]["campaign_id"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        of("all"),
        ["subscribed:", "campaign:c1", "campaign:c2", "synced:"],
        "{got:#?}"
    );
    assert_eq!(
        of("c1"),
        ["subscribed:", "report:c1", "synced:"],
        "{got:#?}"
    );
    let bad: Vec<&Value> = got.iter().filter(|m| m["type"] == "error").collect();
    assert_eq!(bad.len(), 2, "{got:#?}");
    assert!(bad
        .iter()
        .any(|m| m["subscription"] == "bad" && m["error"]["code"] == "bad_event_id"));
    assert!(bad
        .iter()
        .any(|m| m["subscription"].is_null() && m["error"]["code"] == "bad_body"));

    // A commit reaches both subscriptions; after unsubscribing, only one.
    commit(
        &f.reader,
        vec![row("a", "c1", "", 0, 20, 6, "RUNNING")],
        0,
        20,
    );
    let mut two = Vec::new();
    while two.len() < 2 {
        if let Message::Text(t) = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            two.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
        }
    }
    two.sort_by_key(|m| m["subscription"].as_str().unwrap().to_string());
    assert_eq!(
        (two[0]["subscription"].as_str(), two[0]["id"].as_str()),
        (Some("all"), Some("0=20,1=11"))
    );
    assert_eq!(
        (two[1]["subscription"].as_str(), two[1]["id"].as_str()),
        (Some("c1"), Some("20"))
    );
    assert_eq!(two[1]["data"]["sent_users"], 6);
    ws.send(send(serde_json::json!({"type": "unsubscribe", "id": "c1"})))
        .await
        .unwrap();
    loop {
        if let Message::Text(t) = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            let m: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(
                (m["type"].as_str(), m["subscription"].as_str()),
                (Some("unsubscribed"), Some("c1"))
            );
            break;
        }
    }
    commit(
        &f.reader,
        vec![row("a", "c1", "", 0, 30, 8, "RUNNING")],
        0,
        30,
    );
    if let Message::Text(t) = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        let m: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(
            (m["subscription"].as_str(), m["data"]["sent_users"].as_u64()),
            (Some("all"), Some(8))
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), ws.next())
            .await
            .is_err(),
        "no more for c1"
    );
    drop(ws);
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(WAIT, server).await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_live_routes() {
    let f = fixture(64);
    let resp = router(f.state.clone())
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let spec: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    for path in [
        "/v1/campaigns/stream",
        "/v1/campaigns/{campaign_id}/report/stream",
        "/v1/ws",
    ] {
        let op = &spec["paths"][path]["get"];
        assert_eq!(op["tags"], serde_json::json!(["live"]), "{path}: {op}");
        assert!(op["responses"]["401"].is_object(), "{path}");
    }
}
