//! HTTP ingestion through the router, with the in-memory sink: what is
//! accepted goes to its topic keyed by campaign, Avro-encoded as the
//! processor decodes it; every way an event is rejected has its code; roles;
//! 400, 413, 404 and the 503 of a broker that is down; metrics; the OpenAPI
//! document.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use query_api::app::{router, AppState, Settings};
use query_api::ingest::{Ingest, IngestSettings, MemorySink};
use query_api::keys::{hash_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::MemoryReader;
use runtime::tenants::TenantZones;
use schemas::json::event_to_json;
use schemas::{Codec, Event, NotificationSent};
use serde_json::{json, Value};
use tower::ServiceExt;

const PRODUCER_A: &str = "key-producer-a";
const PRODUCER_B: &str = "key-producer-b";
const TENANT_A: &str = "key-tenant-a";
const ADMIN: &str = "key-admin";

/// "Now" of the tests: 2026-11-22T12:00:00Z.
fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn keys() -> KeyStore {
    let text = format!(
        "[[keys]]\nrole = \"producer\"\ntenant = \"a\"\nsha256 = \"{}\"\n\n\
         [[keys]]\nrole = \"producer\"\ntenant = \"b\"\nsha256 = \"{}\"\n\n\
         [[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\n\n\
         [[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n",
        hash_key(PRODUCER_A),
        hash_key(PRODUCER_B),
        hash_key(TENANT_A),
        hash_key(ADMIN),
    );
    KeyStore::parse(&text, "test keys").unwrap()
}

struct Api {
    app: Router,
    sink: MemorySink,
}

fn state() -> AppState<MemoryReader> {
    AppState::new(
        MemoryReader::new(),
        keys(),
        TenantZones::parse("UTC", &[]).unwrap(),
        Limit {
            per_second: 1000.0,
            burst: 1000,
        },
        Settings {
            now: Some(now()),
            ..Settings::default()
        },
    )
}

fn api_with(settings: IngestSettings) -> Api {
    let sink = MemorySink::new();
    let ingest = Ingest::new(Arc::new(sink.clone()), settings).unwrap();
    Api {
        app: router(state().with_ingest(ingest)),
        sink,
    }
}

fn api() -> Api {
    api_with(IngestSettings {
        topics: ["t-lifecycle", "t-notifications", "t-interactions"].map(String::from),
        max_skew_ms: 300_000,
    })
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The code of a JSON error body, checking its shape.
    fn code(&self) -> String {
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
        let v = self.json();
        let e = v["error"].as_object().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(e.len(), 2, "{v}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        e["code"].as_str().unwrap().to_string()
    }

    /// A 202 body: accepted, and (index, code) of each rejected event.
    fn accepted(&self) -> (u64, Vec<(u64, String)>) {
        assert_eq!(
            self.status,
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        let rejected = v["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
                (
                    r["index"].as_u64().unwrap(),
                    r["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (v["accepted"].as_u64().unwrap(), rejected)
    }
}

impl Api {
    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn post(&self, uri: &str, key: Option<&str>, body: impl Into<Body>) -> Answer {
        let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        self.send(req.body(body.into()).unwrap()).await
    }

    async fn post_json(&self, uri: &str, key: &str, body: &Value) -> Answer {
        self.post(uri, Some(key), body.to_string()).await
    }

    async fn get(&self, uri: &str, key: &str) -> Answer {
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }
}

/// A valid event of each record for tenant `tenant` (an hour before now).
fn events(tenant: &str) -> Vec<Value> {
    vec![
        json!({
            "type": "campaign_lifecycle", "event_id": "l1", "tenant_id": tenant,
            "campaign_id": "c1", "job_id": "", "occurred_at": "2026-11-22T11:00:00.250Z",
            "kind": "SCRIPT_UPDATED", "status": "RUNNING", "audience_size": 3,
            "script": {"nodes": [{"id": "start", "type": "message", "script_type": "bot"},
                                 {"id": "end", "type": "message", "script_type": "bot"}],
                       "edges": [{"source": "start", "target": "end", "label": null}]}
        }),
        json!({
            "type": "notification_sent", "event_id": "n1", "tenant_id": tenant,
            "campaign_id": "c2", "job_id": "j1", "occurred_at": 1_795_345_200_000_i64,
            "user_id": "u1", "first_message": true, "warning_message": false
        }),
        json!({
            "type": "user_interaction", "event_id": "i1", "tenant_id": tenant,
            "campaign_id": "c1", "job_id": "j1", "occurred_at": "2026-11-22T12:04:59+00:00",
            "user_id": "u1", "selected_action": "yes", "answer_target": "end",
            "answer_title": null
        }),
    ]
}

#[tokio::test]
async fn accepted_events_go_to_their_topic_keyed_by_campaign_as_avro() {
    let api = api();
    for (i, event) in events("a").into_iter().enumerate() {
        let a = api.post_json("/v1/events", PRODUCER_A, &event).await;
        assert_eq!(a.accepted(), (1, vec![]), "{event}");
        let records = api.sink.records();
        assert_eq!(records.len(), i + 1);
        let r = &records[i];
        let decoded = Codec::new().unwrap().decode(&r.payload).unwrap();
        assert_eq!(r.key, event["campaign_id"].as_str().unwrap());
        assert_eq!(decoded.event_id(), event["event_id"].as_str().unwrap());
        assert_eq!(decoded.tenant_id(), "a");
        let topic = match decoded {
            Event::Lifecycle(_) => "t-lifecycle",
            Event::Notification(_) => "t-notifications",
            Event::Interaction(_) => "t-interactions",
        };
        assert_eq!(&*r.topic, topic);
    }
    // Both forms of occurred_at, to the millisecond.
    let records = api.sink.records();
    let codec = Codec::new().unwrap();
    let times: Vec<i64> = records
        .iter()
        .map(|r| codec.decode(&r.payload).unwrap().occurred_at())
        .collect();
    assert_eq!(
        times,
        [1_795_345_200_250, 1_795_345_200_000, 1_795_349_099_000]
    );
}

#[tokio::test]
async fn the_bytes_are_the_codecs_and_resending_is_harmless() {
    let api = api();
    let event = NotificationSent {
        event_id: "n9".into(),
        tenant_id: "a".into(),
        campaign_id: "c9".into(),
        job_id: "j".into(),
        occurred_at: 1_795_000_000_000,
        user_id: "u".into(),
        node_id: Some("start".into()),
        first_message: false,
        warning_message: true,
    };
    let event = Event::Notification(event);
    let body = json!({"events": [event_to_json(&event), event_to_json(&event)]});
    assert_eq!(
        api.post_json("/v1/events/batch", PRODUCER_A, &body)
            .await
            .accepted(),
        (2, vec![])
    );
    let records = api.sink.records();
    let want = Codec::new().unwrap().encode(&event).unwrap();
    assert_eq!(records.len(), 2);
    // Same event, same bytes: the processor counts it once by event_id.
    assert!(records.iter().all(|r| r.payload == want && r.key == "c9"));
}

#[tokio::test]
async fn a_batch_accepts_the_valid_events_and_names_each_rejected_one() {
    let api = api();
    let valid = events("a");
    let mut missing = valid[1].clone();
    missing.as_object_mut().unwrap().remove("first_message");
    let mut empty_user = valid[2].clone();
    empty_user["user_id"] = "".into();
    let mut bad_kind = valid[0].clone();
    bad_kind["kind"] = "STARTED".into();
    let mut bad_status = valid[0].clone();
    bad_status["status"] = "running".into();
    let mut future = valid[1].clone();
    future["occurred_at"] = "2026-11-22T12:05:00.001Z".into(); // 5 min + 1 ms ahead
    let mut edge = valid[1].clone();
    edge["occurred_at"] = "2026-11-22T12:05:00Z".into(); // exactly the skew: fine
    let mut unknown_field = valid[2].clone();
    unknown_field["questoin"] = "typo".into();
    let mut bad_time = valid[2].clone();
    bad_time["occurred_at"] = "22/11/2026".into();
    let mut wrong_type = valid[1].clone();
    wrong_type["warning_message"] = "no".into();
    let mut bad_script = valid[0].clone();
    bad_script["script"]["nodes"][1] = json!({"id": "end"});
    let body = json!({"events": [
        valid[0], missing, valid[1], empty_user, bad_kind, bad_status, future, edge,
        events("b")[2], unknown_field, bad_time, wrong_type, 42, {"type": "click"},
        bad_script, valid[2],
    ]});
    let a = api.post_json("/v1/events/batch", PRODUCER_A, &body).await;
    let (accepted, rejected) = a.accepted();
    let want: Vec<(u64, String)> = [
        (1, "missing_field"),
        (3, "empty_field"),
        (4, "unknown_symbol"),
        (5, "unknown_symbol"),
        (6, "in_future"),
        (8, "tenant_mismatch"),
        (9, "unknown_field"),
        (10, "bad_timestamp"),
        (11, "wrong_type"),
        (12, "not_an_object"),
        (13, "unknown_type"),
        (14, "missing_field"),
    ]
    .into_iter()
    .map(|(i, c)| (i, c.to_string()))
    .collect();
    assert_eq!(rejected, want);
    assert_eq!(accepted, 4);
    let ids: Vec<String> = api
        .sink
        .records()
        .iter()
        .map(|r| {
            Codec::new()
                .unwrap()
                .decode(&r.payload)
                .unwrap()
                .event_id()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["l1", "n1", "n1", "i1"]);
    // Messages name the field.
    let v = a.json();
    let message = |i: usize| v["rejected"][i]["message"].as_str().unwrap().to_string();
    assert!(message(0).contains("first_message"), "{}", message(0));
    assert!(message(1).contains("user_id"), "{}", message(1));
    assert!(message(11).contains("script.nodes[1]"), "{}", message(11));
    assert!(
        message(5).contains("not this key's tenant"),
        "{}",
        message(5)
    );
}

#[tokio::test]
async fn a_single_rejected_event_is_202_with_its_reason() {
    let api = api();
    let a = api
        .post_json("/v1/events", PRODUCER_B, &events("a")[0])
        .await;
    assert_eq!(a.accepted(), (0, vec![(0, "tenant_mismatch".to_string())]));
    assert!(api.sink.records().is_empty());
}

#[tokio::test]
async fn the_clock_skew_is_configurable() {
    let api = api_with(IngestSettings {
        max_skew_ms: 0,
        ..IngestSettings::default()
    });
    let mut event = events("a")[1].clone();
    event["occurred_at"] = "2026-11-22T12:00:00.001Z".into();
    let a = api.post_json("/v1/events", PRODUCER_A, &event).await;
    assert_eq!(a.accepted(), (0, vec![(0, "in_future".to_string())]));
    event["occurred_at"] = "2026-11-22T12:00:00Z".into();
    let a = api.post_json("/v1/events", PRODUCER_A, &event).await;
    assert_eq!(a.accepted(), (1, vec![]));
    // The default topics.
    assert_eq!(&*api.sink.records()[0].topic, "notifications");
}

#[tokio::test]
async fn only_producer_keys_post_and_they_read_nothing() {
    let api = api();
    let event = events("a")[1].clone();
    for uri in ["/v1/events", "/v1/events/batch"] {
        let body = if uri.ends_with("batch") {
            json!({"events": [event]})
        } else {
            event.clone()
        };
        for key in [TENANT_A, ADMIN] {
            let a = api.post_json(uri, key, &body).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri}");
            assert_eq!(a.code(), "forbidden");
        }
        let a = api.post(uri, None, body.to_string()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.code(), "unauthorized");
        let a = api.post(uri, Some("not-a-key"), body.to_string()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    assert!(api.sink.records().is_empty());
    for uri in [
        "/v1/campaigns",
        "/v1/campaigns/c1/report",
        "/v1/campaigns/c1/jobs",
        "/v1/campaigns/c1/jobs/j1/report",
        "/v1/campaigns/c1/jobs/j1/journeys",
        "/v1/campaigns/c1/jobs/j1/journeys/u1",
        "/v1/overview",
        "/v1/campaigns?tenant_id=a",
    ] {
        let a = api.get(uri, PRODUCER_A).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(a.code(), "forbidden", "{uri}");
    }
    // The tenant key still reads.
    assert_eq!(
        api.get("/v1/campaigns", TENANT_A).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bodies_that_are_not_json_or_not_a_batch_are_400() {
    let api = api();
    for (uri, body) in [
        ("/v1/events", ""),
        ("/v1/events", "{\"type\": "),
        ("/v1/events", "not json"),
        ("/v1/events/batch", ""),
        ("/v1/events/batch", "[1, 2]"),
        ("/v1/events/batch", "{}"),
        ("/v1/events/batch", "{\"events\": {}}"),
        ("/v1/events/batch", "{\"events\": null}"),
        ("/v1/events/batch", "{\"events\": [], \"more\": 1}"),
        ("/v1/events/batch", "{\"events\": [1,]}"),
    ] {
        let a = api.post(uri, Some(PRODUCER_A), body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri} {body:?}");
        assert_eq!(a.code(), "bad_body", "{uri} {body:?}");
    }
    // Valid JSON that is no event object is a rejected event, not a 400.
    let a = api.post("/v1/events", Some(PRODUCER_A), "[1]").await;
    assert_eq!(a.accepted(), (0, vec![(0, "not_an_object".to_string())]));
    let a = api
        .post("/v1/events/batch", Some(PRODUCER_A), "{\"events\": []}")
        .await;
    assert_eq!(a.accepted(), (0, vec![]));
}

#[tokio::test]
async fn over_the_limits_is_413() {
    let api = api();
    let event = events("a")[1].clone();
    let many = json!({"events": vec![event.clone(); 1001]});
    let a = api.post_json("/v1/events/batch", PRODUCER_A, &many).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.code(), "too_large");
    let full = json!({"events": vec![event.clone(); 1000]});
    assert_eq!(
        api.post_json("/v1/events/batch", PRODUCER_A, &full)
            .await
            .accepted(),
        (1000, vec![])
    );
    // Over 1 MiB: a long question.
    let mut big = events("a")[2].clone();
    big["question"] = "x".repeat(1 << 20).into();
    for (uri, body) in [
        ("/v1/events", big.clone()),
        ("/v1/events/batch", json!({"events": [big]})),
    ] {
        let a = api.post_json(uri, PRODUCER_A, &body).await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
        assert_eq!(a.code(), "too_large");
    }
    assert_eq!(api.sink.records().len(), 1000);
}

#[tokio::test]
async fn a_broker_that_is_down_is_503_and_nothing_is_accepted() {
    let api = api();
    api.sink.set_down(true);
    let body = json!({"events": events("a")});
    let a = api.post_json("/v1/events/batch", PRODUCER_A, &body).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.code(), "unavailable");
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("send it again"));
    let a = api
        .post_json("/v1/events", PRODUCER_A, &events("a")[0])
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    // Only rejected events: nothing for the broker to do, still a 202.
    let a = api
        .post_json("/v1/events", PRODUCER_A, &events("b")[0])
        .await;
    assert_eq!(a.accepted(), (0, vec![(0, "tenant_mismatch".to_string())]));
    assert!(api.sink.records().is_empty());
    api.sink.set_down(false);
    let a = api.post_json("/v1/events/batch", PRODUCER_A, &body).await;
    assert_eq!(a.accepted(), (3, vec![]));
}

#[tokio::test]
async fn without_brokers_ingestion_is_404() {
    let app = router(state());
    for uri in ["/v1/events", "/v1/events/batch"] {
        let req = Request::post(uri)
            .header(header::AUTHORIZATION, format!("Bearer {PRODUCER_A}"))
            .body(Body::from("{\"events\": []}"))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("KAFKA_BROKERS"));
    }
}

#[tokio::test]
async fn other_methods_are_405() {
    let api = api();
    for uri in ["/v1/events", "/v1/events/batch"] {
        let a = api.get(uri, PRODUCER_A).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(a.code(), "method_not_allowed");
    }
}

#[tokio::test]
async fn metrics_count_accepted_and_rejected_by_code() {
    let api = api();
    let mut future = events("a")[1].clone();
    future["occurred_at"] = "2030-01-01T00:00:00Z".into();
    let body = json!({"events": [events("a")[1], events("a")[2], events("b")[1], future]});
    api.post_json("/v1/events/batch", PRODUCER_A, &body)
        .await
        .accepted();
    api.sink.set_down(true);
    api.post_json("/v1/events", PRODUCER_A, &events("a")[0])
        .await;
    let text = String::from_utf8(api.get("/metrics", PRODUCER_A).await.body).unwrap();
    for line in [
        "query_api_ingest_events_accepted_total{type=\"notification\"} 1",
        "query_api_ingest_events_accepted_total{type=\"interaction\"} 1",
        "query_api_ingest_events_rejected_total{code=\"tenant_mismatch\"} 1",
        "query_api_ingest_events_rejected_total{code=\"in_future\"} 1",
        "query_api_ingest_events_undelivered_total 1",
        "query_api_ingest_produce_seconds_count{outcome=\"acknowledged\"} 1",
        "query_api_ingest_produce_seconds_count{outcome=\"failed\"} 1",
        "query_api_requests_total{method=\"POST\",route=\"/v1/events/batch\",status=\"202\"} 1",
        "query_api_requests_total{method=\"POST\",route=\"/v1/events\",status=\"503\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    assert!(
        !text.contains("tenant=") && !text.contains("\"a\""),
        "no tenant labels"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_ingestion_routes() {
    let api = api();
    let spec = api.get("/openapi.json", PRODUCER_A).await.json();
    for path in ["/v1/events", "/v1/events/batch"] {
        let op = &spec["paths"][path]["post"];
        assert!(op.is_object(), "{path}");
        assert_eq!(op["security"][0]["bearer"], json!([]), "{path}");
        let responses = op["responses"].as_object().unwrap();
        for s in [
            "202", "400", "401", "403", "404", "405", "413", "429", "503", "504",
        ] {
            assert!(responses.contains_key(s), "{path} lacks {s}");
        }
        assert!(op["requestBody"]["content"]["application/json"]["schema"].is_object());
    }
    // Every read route declares the 403 of a producer key.
    assert!(spec["paths"]["/v1/campaigns"]["get"]["responses"]["403"].is_object());
    let schemas = &spec["components"]["schemas"];
    for name in [
        "Event",
        "EventBatch",
        "CampaignLifecycle",
        "NotificationSent",
        "UserInteraction",
        "IngestResult",
        "RejectedEvent",
    ] {
        assert!(schemas[name].is_object(), "{name}");
    }
    assert_eq!(
        schemas["EventBatch"]["properties"]["events"]["maxItems"],
        1000
    );
    assert_eq!(
        schemas["NotificationSent"]["properties"]["user_id"]["minLength"],
        1
    );
    let required = schemas["NotificationSent"]["required"].as_array().unwrap();
    assert!(required.contains(&json!("first_message")));
    assert!(!required.contains(&json!("node_id")));
}
