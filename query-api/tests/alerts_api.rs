//! The alert routes against the real PostgreSQL of the local stack (a
//! scratch database per test): every route's answers (roles, validation,
//! 404 for unknown and other tenants' ids, 503 without a metadata
//! database), read state per principal, pagination, dismissal, manual
//! alerts, the live stream (SSE and WebSocket), the rule preview over the
//! in-memory reader; and, against the real broker (KAFKA_BROKERS), the rule
//! publisher and the alert store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alerting::{alert_id, RuleInput, Severity, Transition, TransitionKind};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use metadata::testing::TestDatabase;
use metadata::AlertFilter;
use query_api::alerts::Alerts;
use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::MemoryReader;
use runtime::tenants::TenantZones;
use serde_json::{json, Value};
use storage::rows::ReportRow;
use tower::ServiceExt;

const VIEWER_A: &str = "key-a-viewer";
const VIEWER_A2: &str = "key-a-viewer-2";
const EDITOR_A: &str = "key-a-editor";
const EDITOR_B: &str = "key-b-editor";
const ADMIN: &str = "key-admin";

/// "Now" of the router: 2026-11-22T12:00:00Z.
fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn keys() -> KeyStore {
    let text = format!(
        "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\nuser = \"ann\"\n\n\
         [[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\nuser = \"bob\"\n\n\
         [[keys]]\ntenant = \"a\"\nrole = \"editor\"\nsha256 = \"{}\"\nuser = \"eve\"\n\n\
         [[keys]]\ntenant = \"b\"\nrole = \"editor\"\nsha256 = \"{}\"\n\n\
         [[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n",
        hash_key(VIEWER_A),
        hash_key(VIEWER_A2),
        hash_key(EDITOR_A),
        hash_key(EDITOR_B),
        hash_key(ADMIN),
    );
    KeyStore::parse(&text, "test keys").unwrap()
}

fn state(reader: MemoryReader) -> AppState<MemoryReader> {
    AppState::new(
        reader,
        keys(),
        TenantZones::parse("UTC", &[]).unwrap(),
        Limit {
            per_second: 10_000.0,
            burst: 10_000,
        },
        Settings {
            now: Some(now()),
            ..Settings::default()
        },
    )
}

struct Api {
    app: Router,
    alerts: Arc<Alerts>,
    reader: MemoryReader,
    db: TestDatabase,
}

async fn api(name: &str) -> Api {
    let db = TestDatabase::new(name).await;
    let alerts = Arc::new(Alerts::new(db.metadata.clone()));
    let reader = MemoryReader::new();
    let app = router(state(reader.clone()).with_alerts(alerts.clone()));
    Api {
        app,
        alerts,
        reader,
        db,
    }
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    /// The code of a JSON error body, checking its shape.
    fn code(&self) -> String {
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(ct.starts_with("application/json"), "{self:?}");
        let v = self.json();
        let e = v["error"].as_object().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(e.len(), 2, "{v}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        e["code"].as_str().unwrap().to_string()
    }

    fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn send(app: &Router, method: Method, uri: &str, key: &str, body: Option<&str>) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

impl Api {
    async fn call(&self, method: Method, uri: &str, key: &str, body: Option<&str>) -> Answer {
        send(&self.app, method, uri, key, body).await
    }

    async fn get(&self, uri: &str, key: &str) -> Answer {
        self.call(Method::GET, uri, key, None).await
    }

    async fn ok(&self, uri: &str, key: &str) -> Value {
        let a = self.get(uri, key).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
        a.json()
    }

    async fn expect(
        &self,
        method: Method,
        uri: &str,
        key: &str,
        body: Option<&str>,
        status: StatusCode,
        code: &str,
    ) -> Answer {
        let a = self.call(method.clone(), uri, key, body).await;
        assert_eq!(a.status, status, "{method} {uri}: {}", a.text());
        assert_eq!(a.code(), code, "{method} {uri}");
        a
    }
}

fn transition(
    rule_id: &str,
    tenant: &str,
    campaign: &str,
    kind: TransitionKind,
    fired_at_ms: i64,
    at_ms: i64,
) -> Transition {
    Transition {
        alert_id: alert_id(rule_id, tenant, campaign, None, 1),
        kind,
        tenant_id: tenant.into(),
        rule_id: rule_id.into(),
        rule_name: "errors".into(),
        severity: Severity::Critical,
        campaign_id: campaign.into(),
        job_id: None,
        value: Some(3.5),
        threshold: Some(5.0),
        message: format!("campaign {campaign} is failing"),
        fired_at_ms,
        resolved_at_ms: (kind == TransitionKind::Resolved).then_some(at_ms),
        at_ms,
    }
}

fn fired(rule_id: &str, tenant: &str, campaign: &str, fired_at_ms: i64) -> Transition {
    transition(
        rule_id,
        tenant,
        campaign,
        TransitionKind::Fired,
        fired_at_ms,
        fired_at_ms,
    )
}

const T0: i64 = 1_793_527_200_000; // 2026-11-01T10:00:00Z

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------- 503

#[tokio::test]
async fn without_a_metadata_database_every_alert_route_is_503() {
    let app = router(state(MemoryReader::new()));
    let id = uuid();
    let rule = r#"{"name": "n", "condition": {"kind": "status", "status": "ERROR"}}"#;
    let routes: Vec<(Method, String, Option<&str>)> = vec![
        (Method::GET, "/v1/alerts".into(), None),
        (Method::GET, "/v1/alerts/stats".into(), None),
        (Method::GET, "/v1/alerts/unread".into(), None),
        (Method::GET, format!("/v1/alerts/{id}"), None),
        (
            Method::POST,
            "/v1/alerts".into(),
            Some(r#"{"severity": "info", "message": "m"}"#),
        ),
        (Method::POST, format!("/v1/alerts/{id}/resolve"), None),
        (Method::POST, format!("/v1/alerts/{id}/mark-read"), None),
        (Method::POST, "/v1/alerts/mark-all-read".into(), None),
        (Method::POST, format!("/v1/alerts/{id}/dismiss"), None),
        (Method::DELETE, format!("/v1/alerts/{id}"), None),
        (Method::GET, "/v1/alerts/stream".into(), None),
        (Method::GET, "/v1/alert-rules".into(), None),
        (Method::POST, "/v1/alert-rules".into(), Some(rule)),
        (Method::GET, format!("/v1/alert-rules/{id}"), None),
        (Method::PUT, format!("/v1/alert-rules/{id}"), Some(rule)),
        (Method::DELETE, format!("/v1/alert-rules/{id}"), None),
        (Method::POST, format!("/v1/alert-rules/{id}/preview"), None),
        (Method::GET, "/v1/channels".into(), None),
        (
            Method::POST,
            "/v1/channels".into(),
            Some(r#"{"name": "n", "kind": "webhook", "url": "http://127.0.0.1:1/"}"#),
        ),
        (Method::DELETE, format!("/v1/channels/{id}"), None),
        (Method::POST, format!("/v1/channels/{id}/test"), None),
        (Method::GET, "/v1/silences".into(), None),
        (
            Method::POST,
            "/v1/silences".into(),
            Some(r#"{"matchers": {"severity": "info"}, "ends_at": "2099-01-01T00:00:00Z"}"#),
        ),
        (Method::DELETE, format!("/v1/silences/{id}"), None),
    ];
    for (method, uri, body) in routes {
        let a = send(&app, method.clone(), &uri, EDITOR_A, body).await;
        assert_eq!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {uri}: {}",
            a.text()
        );
        assert_eq!(a.code(), "unavailable", "{method} {uri}");
        assert!(a.message().contains("DATABASE_URL"), "{}", a.message());
    }
    // Authentication still comes first.
    let a = send(&app, Method::GET, "/v1/alerts", "nobody", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------- rules

const STATUS_RULE: &str = r#"{"name": "Errors", "severity": "critical",
    "condition": {"kind": "status", "status": "ERROR"}}"#;

#[tokio::test]
async fn rules_are_created_replaced_deleted_validated_and_scoped() {
    let api = api("api_rules").await;
    let m = &api.alerts.metadata;

    // Create (editor): 201 with the rule and its times.
    let a = api
        .call(Method::POST, "/v1/alert-rules", EDITOR_A, Some(STATUS_RULE))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let rule = a.json();
    let id = rule["id"].as_str().unwrap().to_string();
    assert_eq!(rule["tenant_id"], "a");
    assert_eq!(rule["name"], "Errors");
    assert_eq!(rule["severity"], "critical");
    assert_eq!(rule["enabled"], true);
    assert_eq!(
        rule["condition"],
        json!({"kind": "status", "status": "ERROR"})
    );
    assert_eq!(rule["revision"], 1);
    assert_eq!(rule["for_seconds"], 0);
    for t in ["created_at", "updated_at"] {
        let text = rule[t].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{t}: {text}"
        );
    }
    // The change waits in the outbox.
    let pending = m.unpublished_rules(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);

    // A viewer reads rules but does not change them.
    let list = api.ok("/v1/alert-rules", VIEWER_A).await;
    assert_eq!(list["rules"].as_array().unwrap().len(), 1);
    assert_eq!(list["rules"][0]["id"], id.as_str());
    let one = api.ok(&format!("/v1/alert-rules/{id}"), VIEWER_A).await;
    assert_eq!(one, rule);
    api.expect(
        Method::POST,
        "/v1/alert-rules",
        VIEWER_A,
        Some(STATUS_RULE),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.expect(
        Method::PUT,
        &format!("/v1/alert-rules/{id}"),
        VIEWER_A,
        Some(STATUS_RULE),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.expect(
        Method::DELETE,
        &format!("/v1/alert-rules/{id}"),
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Bad input is a 400 naming what is wrong.
    let bad = [
        (
            r#"{"name": "n", "condition": {"kind": "metric_threshold", "metric": "foo", "op": "<", "value": 1}}"#,
            "condition.metric: unknown metric 'foo'",
        ),
        (
            r#"{"name": "n", "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": "lt", "value": 1}}"#,
            "condition.op: unknown op 'lt'",
        ),
        (
            r#"{"name": "n", "condition": {"kind": "status", "status": "error"}}"#,
            "condition.status: unknown status 'error'",
        ),
        (
            r#"{"name": "n", "scope": {"job_id": "j1"}, "condition": {"kind": "status", "status": "ERROR"}}"#,
            "scope.job_id: needs scope.campaign_id",
        ),
        (
            r#"{"name": "", "condition": {"kind": "status", "status": "ERROR"}}"#,
            "name: must not be empty",
        ),
        (
            r#"{"name": "n", "condition": {"kind": "status", "status": "ERROR"}, "colour": "red"}"#,
            "invalid rule: unknown field `colour`",
        ),
        ("not json", "invalid rule:"),
        (
            r#"{"name": "n", "severity": "urgent", "condition": {"kind": "status", "status": "ERROR"}}"#,
            "invalid rule: unknown variant `urgent`",
        ),
    ];
    for (body, message) in bad {
        for (method, uri) in [
            (Method::POST, "/v1/alert-rules".to_string()),
            (Method::PUT, format!("/v1/alert-rules/{id}")),
        ] {
            let a = api
                .expect(
                    method,
                    &uri,
                    EDITOR_A,
                    Some(body),
                    StatusCode::BAD_REQUEST,
                    "bad_rule",
                )
                .await;
            assert!(a.message().starts_with(message), "{body}: {}", a.message());
        }
    }

    // PUT replaces: a new revision, same id.
    let replaced = api
        .call(
            Method::PUT,
            &format!("/v1/alert-rules/{id}"),
            EDITOR_A,
            Some(
                r#"{"name": "Low rate", "scope": {"campaign_id": "c1", "job_id": "j1"},
                   "condition": {"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 5},
                   "for_seconds": 60, "enabled": false}"#,
            ),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text());
    let replaced = replaced.json();
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["revision"], 2);
    assert_eq!(replaced["name"], "Low rate");
    assert_eq!(replaced["severity"], "warning", "the default again");
    assert_eq!(
        replaced["scope"],
        json!({"campaign_id": "c1", "job_id": "j1"})
    );
    assert_eq!(replaced["enabled"], false);
    assert_eq!(replaced["created_at"], rule["created_at"]);

    // Another tenant's rule and unknown ids: 404 on every route.
    let b = api
        .call(Method::POST, "/v1/alert-rules", EDITOR_B, Some(STATUS_RULE))
        .await;
    assert_eq!(b.status, StatusCode::CREATED);
    let b_id = b.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        api.ok("/v1/alert-rules", VIEWER_A).await["rules"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "tenant a does not list b's rule"
    );
    for other in [b_id.as_str(), &uuid(), "not-a-uuid"] {
        let uri = format!("/v1/alert-rules/{other}");
        api.expect(
            Method::GET,
            &uri,
            EDITOR_A,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        api.expect(
            Method::PUT,
            &uri,
            EDITOR_A,
            Some(STATUS_RULE),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        api.expect(
            Method::DELETE,
            &uri,
            EDITOR_A,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        api.expect(
            Method::POST,
            &format!("{uri}/preview"),
            VIEWER_A,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // The admin names the tenant.
    let via_admin = api
        .ok(&format!("/v1/alert-rules/{b_id}?tenant_id=b"), ADMIN)
        .await;
    assert_eq!(via_admin["tenant_id"], "b");
    api.expect(
        Method::GET,
        "/v1/alert-rules",
        ADMIN,
        None,
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;

    // DELETE: 204, then gone; the deletion waits in the outbox too.
    let a = api
        .call(
            Method::DELETE,
            &format!("/v1/alert-rules/{id}"),
            EDITOR_A,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert!(a.body.is_empty());
    api.expect(
        Method::GET,
        &format!("/v1/alert-rules/{id}"),
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    api.expect(
        Method::DELETE,
        &format!("/v1/alert-rules/{id}"),
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let pending = m.unpublished_rules(10).await.unwrap();
    let ours = pending.iter().find(|c| c.id == id).unwrap();
    assert_eq!((ours.revision, ours.rule.is_none()), (3, true));
    // Every change audited with the key's principal.
    let audit: Vec<(String, String)> = m
        .audit_of("a", "alert_rule", &id)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, a, _)| (p, a))
        .collect();
    assert_eq!(
        audit,
        [
            ("eve".to_string(), "create".to_string()),
            ("eve".into(), "replace".into()),
            ("eve".into(), "delete".into())
        ]
    );
    api.db.drop().await;
}

// ---------------------------------------------------------------- alerts

#[tokio::test]
async fn alerts_are_listed_filtered_paged_read_dismissed_and_deleted() {
    let api = api("api_alerts").await;
    let m = &api.alerts.metadata;
    let rule_1 = uuid();
    let rule_2 = uuid();
    // Tenant a: five alerts of rule 1 (c0..c4, a second apart), one of
    // rule 2 (warning, resolved). Tenant b: one.
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = fired(&rule_1, "a", &format!("c{i}"), T0 + i * 1000);
        m.store_transition(&t).await.unwrap().unwrap();
        ids.push(t.alert_id);
    }
    let mut w = fired(&rule_2, "a", "c9", T0 - 60_000);
    w.severity = Severity::Warning;
    m.store_transition(&w).await.unwrap().unwrap();
    let mut resolved = transition(
        &rule_2,
        "a",
        "c9",
        TransitionKind::Resolved,
        T0 - 60_000,
        T0 + 10_000,
    );
    resolved.severity = Severity::Warning;
    m.store_transition(&resolved).await.unwrap().unwrap();
    let b_alert = fired(&rule_1, "b", "c0", T0);
    m.store_transition(&b_alert).await.unwrap().unwrap();

    // The list: newest first, with the counts.
    let v = api.ok("/v1/alerts", VIEWER_A).await;
    assert_eq!(
        (v["total"].as_i64(), v["unread_count"].as_i64()),
        (Some(6), Some(6))
    );
    assert_eq!(v["has_more"], false);
    assert!(v["next_cursor"].is_null());
    let list = v["alerts"].as_array().unwrap();
    let campaigns: Vec<&str> = list
        .iter()
        .map(|a| a["campaign_id"].as_str().unwrap())
        .collect();
    assert_eq!(campaigns, ["c4", "c3", "c2", "c1", "c0", "c9"]);
    let first = &list[0];
    assert_eq!(first["id"], ids[4].as_str());
    assert_eq!(first["tenant_id"], "a");
    assert_eq!(first["rule_id"], rule_1.as_str());
    assert_eq!(first["rule_name"], "errors");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["value"], 3.5);
    assert_eq!(first["threshold"], 5.0);
    assert_eq!(first["message"], "campaign c4 is failing");
    assert_eq!(first["fired_at"], "2026-11-01T10:00:04.000Z");
    assert!(first["resolved_at"].is_null());
    assert!(first["job_id"].is_null());
    assert_eq!(
        (first["read"].as_bool(), first["dismissed"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(list[5]["status"], "resolved");
    assert_eq!(list[5]["resolved_at"], "2026-11-01T10:00:10.000Z");

    // Filters.
    let count = |v: Value| v["total"].as_i64().unwrap();
    assert_eq!(
        count(api.ok("/v1/alerts?severity=warning", VIEWER_A).await),
        1
    );
    assert_eq!(
        count(api.ok("/v1/alerts?status=resolved", VIEWER_A).await),
        1
    );
    assert_eq!(count(api.ok("/v1/alerts?status=firing", VIEWER_A).await), 5);
    assert_eq!(
        count(api.ok("/v1/alerts?campaign_id=c2", VIEWER_A).await),
        1
    );
    assert_eq!(
        count(
            api.ok(&format!("/v1/alerts?rule_id={rule_2}"), VIEWER_A)
                .await
        ),
        1
    );
    assert_eq!(count(api.ok("/v1/alerts?rule_id=nope", VIEWER_A).await), 0);
    assert_eq!(
        count(
            api.ok("/v1/alerts?since=2026-11-01T10:00:03%2B00:00", VIEWER_A)
                .await
        ),
        2
    );
    for (q, code) in [
        ("since=yesterday", "bad_timestamp"),
        ("severity=urgent", "bad_severity"),
        ("status=open", "bad_status"),
        ("unread_only=1", "bad_boolean"),
        ("include_dismissed=yes", "bad_boolean"),
        ("limit=0", "bad_limit"),
        ("limit=1001", "bad_limit"),
        ("cursor=!!", "bad_cursor"),
        ("cursor=bm8tZG90", "bad_cursor"),
        ("colour=red", "bad_query"),
        ("campaign_id=", "bad_id"),
    ] {
        api.expect(
            Method::GET,
            &format!("/v1/alerts?{q}"),
            VIEWER_A,
            None,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }

    // Pagination: every alert once, in order.
    let mut seen = Vec::new();
    let mut uri = "/v1/alerts?limit=2".to_string();
    let mut pages = 0;
    loop {
        let v = api.ok(&uri, VIEWER_A).await;
        pages += 1;
        assert_eq!(v["total"], 6);
        seen.extend(
            v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["campaign_id"].as_str().unwrap().to_string()),
        );
        if v["has_more"] == false {
            assert!(v["next_cursor"].is_null());
            break;
        }
        uri = format!(
            "/v1/alerts?limit=2&cursor={}",
            v["next_cursor"].as_str().unwrap()
        );
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["c4", "c3", "c2", "c1", "c0", "c9"]);

    // One alert; another tenant's or an unknown id is a 404 everywhere.
    let one = api.ok(&format!("/v1/alerts/{}", ids[0]), VIEWER_A).await;
    assert_eq!(one["campaign_id"], "c0");
    // Its rule has no channels: nothing to deliver.
    assert_eq!(one["deliveries"], json!([]));
    for other in [b_alert.alert_id.as_str(), &uuid(), "not-a-uuid"] {
        let base = format!("/v1/alerts/{other}");
        for (method, uri, key) in [
            (Method::GET, base.clone(), VIEWER_A),
            (Method::POST, format!("{base}/mark-read"), VIEWER_A),
            (Method::POST, format!("{base}/dismiss"), VIEWER_A),
            (Method::POST, format!("{base}/resolve"), EDITOR_A),
            (Method::DELETE, base.clone(), EDITOR_A),
        ] {
            api.expect(method, &uri, key, None, StatusCode::NOT_FOUND, "not_found")
                .await;
        }
    }
    // Tenant b sees its own only; the admin names it.
    let vb = api.ok("/v1/alerts?tenant_id=b", ADMIN).await;
    assert_eq!(vb["total"], 1);
    assert_eq!(vb["alerts"][0]["id"], b_alert.alert_id.as_str());
    assert_eq!(api.ok("/v1/alerts", EDITOR_B).await["total"], 1);
    api.expect(
        Method::GET,
        "/v1/alerts?tenant_id=b",
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Read state is per principal.
    let a = api
        .call(
            Method::POST,
            &format!("/v1/alerts/{}/mark-read", ids[4]),
            VIEWER_A,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    // Again: still fine.
    let a = api
        .call(
            Method::POST,
            &format!("/v1/alerts/{}/mark-read", ids[4]),
            VIEWER_A,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.ok(&format!("/v1/alerts/{}", ids[4]), VIEWER_A).await["read"],
        true
    );
    assert_eq!(
        api.ok(&format!("/v1/alerts/{}", ids[4]), VIEWER_A2).await["read"],
        false
    );
    let v = api.ok("/v1/alerts", VIEWER_A).await;
    assert_eq!(
        (v["total"].as_i64(), v["unread_count"].as_i64()),
        (Some(6), Some(5))
    );
    assert_eq!(
        count(api.ok("/v1/alerts?unread_only=true", VIEWER_A).await),
        5
    );
    assert_eq!(
        count(api.ok("/v1/alerts?unread_only=true", VIEWER_A2).await),
        6
    );
    let unread = api.ok("/v1/alerts/unread", VIEWER_A).await;
    let unread_ids: Vec<&str> = unread["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(unread_ids.len(), 5);
    assert!(!unread_ids.contains(&ids[4].as_str()));
    assert_eq!(unread_ids[0], ids[3].as_str(), "newest first");
    assert_eq!(
        api.ok("/v1/alerts/unread?limit=2", VIEWER_A).await["alerts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    api.expect(
        Method::GET,
        "/v1/alerts/unread?limit=x",
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "bad_limit",
    )
    .await;

    // Stats of the caller.
    let stats = api.ok("/v1/alerts/stats", VIEWER_A).await;
    assert_eq!(
        stats,
        json!({
            "total_unread": 5,
            "firing": 5,
            "by_severity": {"critical": 5},
            "by_rule": {rule_1.as_str(): 5},
        })
    );
    assert_eq!(
        api.ok("/v1/alerts/stats", VIEWER_A2).await["total_unread"],
        6
    );

    // Mark all read.
    let a = api
        .call(Method::POST, "/v1/alerts/mark-all-read", VIEWER_A2, None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json(), json!({"marked": 6}));
    let a = api
        .call(Method::POST, "/v1/alerts/mark-all-read", VIEWER_A2, None)
        .await;
    assert_eq!(a.json(), json!({"marked": 0}));
    assert_eq!(
        api.ok("/v1/alerts/stats", VIEWER_A2).await["total_unread"],
        0
    );
    assert_eq!(
        api.ok("/v1/alerts/stats", VIEWER_A).await["total_unread"],
        5
    );
    assert_eq!(
        api.ok("/v1/alerts/stats", EDITOR_B).await["total_unread"],
        1
    );

    // Dismissed alerts leave the lists unless asked for.
    let a = api
        .call(
            Method::POST,
            &format!("/v1/alerts/{}/dismiss", ids[2]),
            VIEWER_A,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let v = api.ok("/v1/alerts", VIEWER_A).await;
    assert_eq!(v["total"], 5);
    assert!(v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["id"] != ids[2].as_str()));
    let v = api.ok("/v1/alerts?include_dismissed=true", VIEWER_A).await;
    assert_eq!(v["total"], 6);
    let dismissed = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == ids[2].as_str())
        .unwrap();
    assert_eq!(dismissed["dismissed"], true);
    assert_eq!(
        api.ok(&format!("/v1/alerts/{}", ids[2]), VIEWER_A).await["dismissed"],
        true,
        "one alert is shown dismissed or not"
    );

    // Delete: an editor's; 204, then gone everywhere.
    api.expect(
        Method::DELETE,
        &format!("/v1/alerts/{}", ids[1]),
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let a = api
        .call(
            Method::DELETE,
            &format!("/v1/alerts/{}", ids[1]),
            EDITOR_A,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    api.expect(
        Method::GET,
        &format!("/v1/alerts/{}", ids[1]),
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        count(api.ok("/v1/alerts?include_dismissed=true", VIEWER_A).await),
        5
    );
    api.db.drop().await;
}

#[tokio::test]
async fn manual_alerts_are_created_and_resolved() {
    let api = api("api_manual").await;
    let a = api
        .call(
            Method::POST,
            "/v1/alerts",
            EDITOR_A,
            Some(
                r#"{"severity": "warning", "message": "  deploy of v2 failed ", "title": "Deploys",
                    "campaign_id": "c1", "job_id": "j1", "value": 2, "threshold": 1}"#,
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let alert = a.json();
    let id = alert["id"].as_str().unwrap().to_string();
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["severity"], "warning");
    assert_eq!(alert["message"], "deploy of v2 failed");
    assert_eq!(alert["rule_name"], "Deploys");
    assert!(alert["rule_id"].is_null());
    assert_eq!(
        (alert["campaign_id"].as_str(), alert["job_id"].as_str()),
        (Some("c1"), Some("j1"))
    );
    assert_eq!(
        (alert["value"].as_f64(), alert["threshold"].as_f64()),
        (Some(2.0), Some(1.0))
    );
    assert!(alert["resolved_at"].is_null());
    let listed = api.ok("/v1/alerts", VIEWER_A).await;
    assert_eq!(listed["alerts"][0]["id"], id.as_str());
    assert_eq!(
        api.ok("/v1/alerts/stats", VIEWER_A).await["by_rule"]["manual"],
        1
    );

    // Only the message and severity are required.
    let a = api
        .call(
            Method::POST,
            "/v1/alerts",
            EDITOR_A,
            Some(r#"{"severity": "info", "message": "m"}"#),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let long = "x".repeat(2001);
    let bodies = [
        r#"{"severity": "info"}"#.to_string(),
        r#"{"severity": "info", "message": "   "}"#.to_string(),
        format!(r#"{{"severity": "info", "message": "{long}"}}"#),
        r#"{"severity": "urgent", "message": "m"}"#.to_string(),
        r#"{"message": "m"}"#.to_string(),
        r#"{"severity": "info", "message": "m", "colour": "red"}"#.to_string(),
        r#"{"severity": "info", "message": "m", "job_id": "j1"}"#.to_string(),
        r#"{"severity": "info", "message": 5}"#.to_string(),
        "not json".to_string(),
    ];
    for body in &bodies {
        api.expect(
            Method::POST,
            "/v1/alerts",
            EDITOR_A,
            Some(body),
            StatusCode::BAD_REQUEST,
            "bad_body",
        )
        .await;
    }
    api.expect(
        Method::POST,
        "/v1/alerts",
        EDITOR_A,
        Some(r#"{"severity": "info", "message": "m", "campaign_id": ""}"#),
        StatusCode::BAD_REQUEST,
        "bad_id",
    )
    .await;
    let exactly = "é".repeat(2000);
    let a = api
        .call(
            Method::POST,
            "/v1/alerts",
            EDITOR_A,
            Some(&format!(
                r#"{{"severity": "critical", "message": "{exactly}"}}"#
            )),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "2000 characters are fine");
    api.expect(
        Method::POST,
        "/v1/alerts",
        VIEWER_A,
        Some(r#"{"severity": "info", "message": "m"}"#),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Resolve: an editor's, manual alerts only, own tenant only.
    api.expect(
        Method::POST,
        &format!("/v1/alerts/{id}/resolve"),
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.expect(
        Method::POST,
        &format!("/v1/alerts/{id}/resolve"),
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let a = api
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/resolve"),
            EDITOR_A,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let resolved = a.json();
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string());
    let rule_alert = fired(&uuid(), "a", "c5", T0);
    api.alerts
        .metadata
        .store_transition(&rule_alert)
        .await
        .unwrap()
        .unwrap();
    api.expect(
        Method::POST,
        &format!("/v1/alerts/{}/resolve", rule_alert.alert_id),
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The stream holds fired then resolved for the manual alert.
    let events = api
        .alerts
        .metadata
        .events_after("a", "ann", 0, 100)
        .await
        .unwrap();
    let of_manual: Vec<&str> = events
        .iter()
        .filter(|e| e.alert.id == id)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(of_manual, ["fired", "resolved"]);
    api.db.drop().await;
}

// ---------------------------------------------------------------- stream

/// One server-sent event.
#[derive(Debug, Clone, Default)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

/// Reads an SSE body until `n` events (comments skipped) arrived.
async fn sse_events(body: &mut Body, buffer: &mut String, n: usize) -> Vec<Sse> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut e = Sse::default();
            let mut is_event = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    e.id = v.to_string();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    e.event = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    e.data = serde_json::from_str(v).unwrap();
                    is_event = true;
                }
            }
            if is_event {
                out.push(e);
            }
        }
        if out.len() >= n {
            return out;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events: {out:?}", out.len()))
            .expect("the stream ended")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buffer.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

async fn open_stream(api: &Api, key: &str, last_event_id: Option<&str>) -> Body {
    let mut req =
        Request::get("/v1/alerts/stream").header(header::AUTHORIZATION, format!("Bearer {key}"));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = api
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    res.into_body()
}

#[tokio::test]
async fn the_stream_resumes_after_last_event_id_then_follows_live() {
    let api = api("api_sse").await;
    let m = &api.alerts.metadata;
    let fanout = query_api::alerts::stream::spawn_fanout(api.alerts.clone());
    let rule = uuid();
    let t1 = fired(&rule, "a", "c1", T0);
    let s1 = m.store_transition(&t1).await.unwrap().unwrap();
    // Another tenant's transition in between: never in a's stream.
    m.store_transition(&fired(&rule, "b", "c1", T0))
        .await
        .unwrap()
        .unwrap();
    let t2 = fired(&rule, "a", "c2", T0 + 1000);
    let s2 = m.store_transition(&t2).await.unwrap().unwrap();

    // From the start: the stored events, in order.
    let mut from_start = open_stream(&api, VIEWER_A, Some("0")).await;
    let mut buf_start = String::new();
    let got = sse_events(&mut from_start, &mut buf_start, 2).await;
    assert_eq!(
        got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [s1.to_string(), s2.to_string()]
    );
    assert_eq!(got[0].event, "fired");
    assert_eq!(got[0].data["seq"], s1);
    assert_eq!(got[0].data["kind"], "fired");
    assert_eq!(got[0].data["at"], "2026-11-01T10:00:00.000Z");
    assert_eq!(got[0].data["alert"]["id"], t1.alert_id.as_str());
    assert_eq!(got[0].data["alert"]["tenant_id"], "a");
    assert_eq!(got[1].data["alert"]["campaign_id"], "c2");

    // Resuming after the first, and a fresh client (no Last-Event-ID).
    let mut resumed = open_stream(&api, VIEWER_A, Some(&s1.to_string())).await;
    let mut buf_resumed = String::new();
    let got = sse_events(&mut resumed, &mut buf_resumed, 1).await;
    assert_eq!(got[0].id, s2.to_string());
    let mut fresh = open_stream(&api, VIEWER_A2, None).await;
    let mut buf_fresh = String::new();

    // A transition stored now reaches every connection.
    let t3 = transition(&rule, "a", "c1", TransitionKind::Resolved, T0, T0 + 5000);
    let s3 = m.store_transition(&t3).await.unwrap().unwrap();
    for (body, buf) in [
        (&mut from_start, &mut buf_start),
        (&mut resumed, &mut buf_resumed),
        (&mut fresh, &mut buf_fresh),
    ] {
        let got = sse_events(body, buf, 1).await;
        assert_eq!(got[0].id, s3.to_string());
        assert_eq!(got[0].event, "resolved");
        assert_eq!(got[0].data["alert"]["status"], "resolved");
        assert_eq!(got[0].data["alert"]["id"], t1.alert_id.as_str());
    }
    // The read state is the caller's.
    m.mark_read("a", "bob", &t2.alert_id).await.unwrap();
    let t4 = fired(&rule, "a", "c4", T0 + 9000);
    m.store_transition(&t4).await.unwrap().unwrap();
    let got = sse_events(&mut fresh, &mut buf_fresh, 1).await;
    assert_eq!(got[0].data["alert"]["id"], t4.alert_id.as_str());
    assert_eq!(got[0].data["alert"]["read"], false);

    // Tenant b's stream holds b's only.
    let mut b = open_stream(&api, EDITOR_B, Some("0")).await;
    let mut buf_b = String::new();
    let got = sse_events(&mut b, &mut buf_b, 1).await;
    assert_eq!(got[0].data["alert"]["tenant_id"], "b");

    for bad in ["-1", "x", "1.5"] {
        let a = send(
            &api.app,
            Method::GET,
            &format!("/v1/alerts/stream?last_event_id={bad}"),
            VIEWER_A,
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.code(), "bad_event_id");
    }
    fanout.abort();
    drop((from_start, resumed, fresh, b));
    api.db.drop().await;
}

/// The next text message of a WebSocket, as JSON.
async fn next_json<S, E>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    use futures_util::StreamExt;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn the_websocket_sends_the_same_events() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let api = api("api_ws").await;
    let m = &api.alerts.metadata;
    let fanout = query_api::alerts::stream::spawn_fanout(api.alerts.clone());
    let rule = uuid();
    let t1 = fired(&rule, "a", "c1", T0);
    let s1 = m.store_transition(&t1).await.unwrap().unwrap();

    // Not an upgrade request: 400.
    api.expect(
        Method::GET,
        "/v1/ws",
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "not_websocket",
    )
    .await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::app::serve(listener, api.app.clone(), async {
        let _ = stopped.await;
    }));
    let mut req = format!("ws://{addr}/v1/ws?last_event_id=0")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {VIEWER_A}").parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let first = next_json(&mut socket).await;
    assert_eq!(first["seq"], s1);
    assert_eq!(first["kind"], "fired");
    assert_eq!(first["alert"]["id"], t1.alert_id.as_str());
    let t2 = fired(&rule, "a", "c2", T0 + 1);
    let s2 = m.store_transition(&t2).await.unwrap().unwrap();
    let second = next_json(&mut socket).await;
    assert_eq!(second["seq"], s2);
    assert_eq!(second["alert"]["campaign_id"], "c2");

    // Without a key: 401, no upgrade.
    let unauthorized = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await;
    assert!(unauthorized.is_err());

    drop(socket);
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    fanout.abort();
    api.db.drop().await;
}

// ---------------------------------------------------------------- preview

fn report(campaign: &str, job: &str, status: &str, rate: f64, last_event_at_ms: i64) -> ReportRow {
    ReportRow {
        tenant_id: "a".into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        partition: 0,
        version: 1,
        status: status.into(),
        target_users: 10,
        sent_users: 8,
        interacted_users: 2,
        completed_users: 1,
        interaction_rate: rate,
        completion_rate: 12.5,
        total_interactions: 3,
        messages_sent: 8,
        warnings_sent: 0,
        avg_completion_seconds: None,
        nodes_json: "[]".into(),
        funnel_json: "[]".into(),
        first_event_at_ms: 0,
        last_event_at_ms,
        snapshot_at: 1_793_527_300,
    }
}

#[tokio::test]
async fn preview_evaluates_the_rule_on_the_current_reports() {
    let api = api("api_preview").await;
    let recent = now().timestamp_millis() - 60_000;
    let idle = now().timestamp_millis() - 7_200_000;
    api.reader
        .add_report(report("c1", "", "ERROR", 2.0, recent));
    api.reader
        .add_report(report("c2", "", "RUNNING", 40.0, idle));
    api.reader
        .add_report(report("c3", "", "RUNNING", 4.0, recent));
    api.reader
        .add_report(report("c1", "j1", "ERROR", 2.0, recent));
    let mut other = report("c9", "", "ERROR", 0.0, recent);
    other.tenant_id = "b".into();
    api.reader.add_report(other);

    let api_ref = &api;
    let create = move |body: &'static str| {
        let api = api_ref;
        async move {
            let a = api
                .call(Method::POST, "/v1/alert-rules", EDITOR_A, Some(body))
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
            a.json()["id"].as_str().unwrap().to_string()
        }
    };
    let preview = move |id: String| {
        let api = api_ref;
        async move {
            let a = api
                .call(
                    Method::POST,
                    &format!("/v1/alert-rules/{id}/preview"),
                    VIEWER_A,
                    None,
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            a.json()
        }
    };
    let status = create(STATUS_RULE).await;
    assert_eq!(
        preview(status).await,
        json!({"firing": [{"campaign_id": "c1", "job_id": null, "value": null}], "evaluated": 3})
    );
    let job = create(
        r#"{"name": "job", "scope": {"campaign_id": "c1", "job_id": "j1"},
            "condition": {"kind": "status", "status": "ERROR"}}"#,
    )
    .await;
    assert_eq!(
        preview(job).await,
        json!({"firing": [{"campaign_id": "c1", "job_id": "j1", "value": null}], "evaluated": 1})
    );
    let campaign = create(
        r#"{"name": "c2", "scope": {"campaign_id": "c2"},
            "condition": {"kind": "status", "status": "ERROR"}}"#,
    )
    .await;
    assert_eq!(
        preview(campaign).await,
        json!({"firing": [], "evaluated": 1})
    );
    let rate = create(
        r#"{"name": "rate", "condition": {"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 5}}"#,
    )
    .await;
    let v = preview(rate).await;
    let hits: Vec<(&str, f64)> = v["firing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["campaign_id"].as_str().unwrap(),
                h["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(hits, [("c1", 2.0), ("c3", 4.0)]);
    let inactive =
        create(r#"{"name": "idle", "condition": {"kind": "inactivity", "seconds": 3600}}"#).await;
    let v = preview(inactive).await;
    assert_eq!(v["firing"].as_array().unwrap().len(), 1);
    assert_eq!(v["firing"][0]["campaign_id"], "c2");
    let gated = create(
        r#"{"name": "gated", "min_sent_users": 100, "condition": {"kind": "status", "status": "ERROR"}}"#,
    )
    .await;
    assert_eq!(
        preview(gated.clone()).await,
        json!({"firing": [], "evaluated": 0})
    );
    // ClickHouse down: 503.
    api.reader.set_down(true);
    api.expect(
        Method::POST,
        &format!("/v1/alert-rules/{gated}/preview"),
        VIEWER_A,
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    api.db.drop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_alert_routes() {
    let app = router(state(MemoryReader::new()));
    let a = send(&app, Method::GET, "/openapi.json", VIEWER_A, None).await;
    let spec = a.json();
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/alerts", "get"),
        ("/v1/alerts", "post"),
        ("/v1/alerts/stats", "get"),
        ("/v1/alerts/unread", "get"),
        ("/v1/alerts/{id}", "get"),
        ("/v1/alerts/{id}", "delete"),
        ("/v1/alerts/{id}/resolve", "post"),
        ("/v1/alerts/{id}/mark-read", "post"),
        ("/v1/alerts/mark-all-read", "post"),
        ("/v1/alerts/{id}/dismiss", "post"),
        ("/v1/alerts/stream", "get"),
        ("/v1/alert-rules", "get"),
        ("/v1/alert-rules", "post"),
        ("/v1/alert-rules/{id}", "get"),
        ("/v1/alert-rules/{id}", "put"),
        ("/v1/alert-rules/{id}", "delete"),
        ("/v1/alert-rules/{id}/preview", "post"),
        ("/v1/channels", "get"),
        ("/v1/channels", "post"),
        ("/v1/channels/{id}", "delete"),
        ("/v1/channels/{id}/test", "post"),
        ("/v1/silences", "get"),
        ("/v1/silences", "post"),
        ("/v1/silences/{id}", "delete"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path}");
        assert_eq!(op["tags"], json!(["alerts"]), "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        for s in ["400", "401", "403", "404", "429", "503"] {
            assert!(responses.contains_key(s), "{method} {path} lacks {s}");
        }
    }
    let schemas = &spec["components"]["schemas"];
    for s in [
        "AlertView",
        "AlertPageView",
        "AlertEvent",
        "AlertRule",
        "AlertRuleInput",
        "Preview",
        "ManualAlertInput",
        "AlertDetail",
        "DeliveryView",
        "AttemptView",
        "ChannelView",
        "ChannelInput",
        "ChannelTest",
        "SilenceView",
        "SilenceInput",
    ] {
        assert!(schemas[s].is_object(), "{s}");
    }
    for code in ["bad_rule", "bad_channel", "bad_silence"] {
        assert!(schemas["ErrorCode"].to_string().contains(code), "{code}");
    }
}

// ---------------------------------------------------------------- Kafka

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

async fn new_topic(name: &str) -> String {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let topic = format!(
        "{name}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    );
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    for r in admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("broker at {} unreachable ({e}); run `make up`", brokers()))
    {
        r.unwrap();
    }
    topic
}

/// Every record of partition 0 of `topic` until `n` arrived: (key, value).
async fn read_records(topic: &str, n: usize) -> Vec<(String, Option<Vec<u8>>)> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} records: {out:?}", out.len()))
            .unwrap();
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        out.push((key, m.payload().map(<[u8]>::to_vec)));
    }
    out
}

fn valid(name: &str) -> alerting::ValidRule {
    RuleInput::from_json(&format!(
        r#"{{"name": "{name}", "condition": {{"kind": "status", "status": "ERROR"}}}}"#
    ))
    .unwrap()
    .validate()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rule_publisher_writes_rules_and_tombstones() {
    use query_api::alerts::publisher::spawn_rule_publisher;
    use query_api::ingest::kafka::KafkaSinkConfig;

    let db = TestDatabase::new("publisher").await;
    let m = &db.metadata;
    let alerts = Arc::new(Alerts::new(m.clone()));
    let kept = m.create_rule("a", "eve", valid("kept")).await.unwrap();
    let gone = m.create_rule("a", "eve", valid("gone")).await.unwrap();
    assert!(m.delete_rule("a", "eve", &gone.rule.id).await.unwrap());
    let topic = new_topic("alert-rules").await;
    let config = KafkaSinkConfig {
        brokers: brokers(),
        idempotence: true,
        delivery_timeout: Duration::from_secs(10),
        linger_ms: 5,
        batch_records: 1,
        partitioner: "murmur2_random".into(),
        properties: Default::default(),
    };
    let task = spawn_rule_publisher(alerts.clone(), config, topic.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !m.unpublished_rules(10).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the outbox was not emptied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records = read_records(&topic, 2).await;
    let rule = records
        .iter()
        .find(|(k, _)| *k == kept.rule.id)
        .expect("the kept rule");
    let published: alerting::Rule = serde_json::from_slice(rule.1.as_ref().unwrap()).unwrap();
    assert_eq!(published, kept.rule);
    let tombstone = records
        .iter()
        .find(|(k, _)| *k == gone.rule.id)
        .expect("the deleted rule");
    assert_eq!(tombstone.1, None, "a tombstone");

    // A change made later is published after the wake-up.
    let later = m.create_rule("b", "bob", valid("later")).await.unwrap();
    alerts.rules_changed();
    let records = read_records(&topic, 3).await;
    assert_eq!(records[2].0, later.rule.id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !m.unpublished_rules(10).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the outbox was not emptied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_store_stores_each_transition_once_and_skips_garbage() {
    use query_api::alerts::store_consumer::{spawn_store_consumer, StoreConsumerConfig};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let db = TestDatabase::new("store").await;
    let m = &db.metadata;
    let topic = new_topic("alerts").await;
    let rule = uuid();
    let fired_t = fired(&rule, "a", "c1", T0);
    let resolved_t = transition(&rule, "a", "c1", TransitionKind::Resolved, T0, T0 + 5000);
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let fired_json = serde_json::to_vec(&fired_t).unwrap();
    let resolved_json = serde_json::to_vec(&resolved_t).unwrap();
    let records: Vec<Option<&[u8]>> = vec![
        Some(b"garbage".as_slice()),
        Some(&fired_json),
        None,
        Some(&fired_json),
        Some(br#"{"alert_id": "x"}"#.as_slice()),
        Some(&resolved_json),
    ];
    for value in records {
        let mut record: FutureRecord<'_, str, [u8]> =
            FutureRecord::to(&topic).key(fired_t.alert_id.as_str());
        if let Some(v) = value {
            record = record.payload(v);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let task = spawn_store_consumer(
        m.clone(),
        &StoreConsumerConfig {
            brokers: brokers(),
            topic: topic.clone(),
            group: format!("{topic}-store"),
            properties: Default::default(),
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = m.events_after("a", "ann", 0, 100).await.unwrap();
        if events.len() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "stored: {events:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing more arrives: each transition once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = m.events_after("a", "ann", 0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["fired", "resolved"]);
    let page = m
        .list_alerts(
            "a",
            "ann",
            &AlertFilter {
                limit: 10,
                ..AlertFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.alerts[0].id, fired_t.alert_id);
    assert_eq!(page.alerts[0].status, "resolved");
    task.abort();
    db.drop().await;
}
