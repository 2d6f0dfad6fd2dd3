//! The router over the in-memory reader: every route with each of its
//! answers (formats, auth, tenant scoping, bad parameters, rate limit,
//! outage, timeout), pagination, metrics, the OpenAPI document, and the
//! binary's `hash-key`.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::{Granularity, MemoryReader, Period};
use runtime::tenants::TenantZones;
use serde_json::Value;
use storage::rows::{JourneyRow, ReportRow};
use tower::ServiceExt;

const KEY_A: &str = "key-tenant-a";
const KEY_B: &str = "key-tenant-b";
const KEY_ADMIN: &str = "key-admin";
const KEY_SLOW: &str = "key-rate-limited";

/// Campaigns of tenant a (c01 has jobs j1, j2 and journeys in j1).
const A_CAMPAIGNS: usize = 7;
const A_USERS: usize = 9;

fn keys() -> KeyStore {
    let text = format!(
        "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\nname = \"tenant a\"\n\n\
         [[keys]]\ntenant = \"b\"\nsha256 = \"{}\"\n\n\
         [[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
         [[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\nrate_limit_per_second = 0.01\nburst = 2\n",
        hash_key(KEY_A),
        hash_key(KEY_B),
        hash_key(KEY_ADMIN),
        hash_key(KEY_SLOW)
    );
    KeyStore::parse(&text, "test keys").unwrap()
}

fn report(tenant: &str, campaign: &str, job: &str, status: &str, snapshot_at: u32) -> ReportRow {
    ReportRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        partition: 0,
        version: 1,
        status: status.into(),
        target_users: 10,
        sent_users: 8,
        interacted_users: 4,
        completed_users: 2,
        interaction_rate: 50.0,
        completion_rate: 25.0,
        total_interactions: 6,
        messages_sent: 9,
        warnings_sent: 1,
        avg_completion_seconds: Some(12.5),
        nodes_json: r#"[{"node_id":"end","reached_users":2,"choices":{"yes, please":2}}]"#.into(),
        funnel_json: r#"[{"node_id":"start","users":8,"conversion_from_previous":100.0,"drop_off":0},{"node_id":"end","users":2,"conversion_from_previous":25.0,"drop_off":6}]"#.into(),
        first_event_at_ms: 1_793_527_200_123,
        last_event_at_ms: 1_793_530_800_456,
        snapshot_at,
    }
}

fn journey(tenant: &str, campaign: &str, job: &str, user: &str, completed: bool) -> JourneyRow {
    JourneyRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        user_id: user.into(),
        partition: 0,
        version: 1,
        step_node_ids: vec!["n1".into(), if completed { "end" } else { "n2" }.into()],
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
        snapshot_at: 1_793_527_300,
    }
}

fn period(tenant: &str, start: &str, campaigns: u64) -> Period {
    Period {
        tenant_id: tenant.into(),
        period_start: start.parse().unwrap(),
        campaigns,
        target_users: 10,
        sent_users: 8,
        interacted_users: 4,
        interactions: 6,
        interaction_rate: 50.0,
        campaigns_completed: 1,
        campaigns_running: 0,
        campaigns_error: 0,
    }
}

/// Tenant a: campaigns c01..c07 (c01..c03 RUNNING, the rest COMPLETED;
/// snapshots one hour apart), c01 with jobs j1, j2 and users u01..u09 in
/// j1 (odd ones completed). Tenant b: its own c01 (same id, other
/// figures) and b-only, with a journey. Periods for both.
fn reader() -> MemoryReader {
    let r = MemoryReader::new();
    for i in 1..=A_CAMPAIGNS {
        let status = if i <= 3 { "RUNNING" } else { "COMPLETED" };
        let at = 1_793_527_200 + 3600 * i as u32;
        r.add_report(report("a", &format!("c{i:02}"), "", status, at));
    }
    r.add_report(report("a", "c01", "j1", "RUNNING", 1_793_530_800));
    r.add_report(report("a", "c01", "j2", "RUNNING", 1_793_530_800));
    for u in 1..=A_USERS {
        r.add_journey(journey("a", "c01", "j1", &format!("u{u:02}"), u % 2 == 1));
    }
    let mut b = report("b", "c01", "", "ERROR", 1_793_527_200);
    b.sent_users = 999;
    r.add_report(b);
    r.add_report(report("b", "c01", "j1", "ERROR", 1_793_527_200));
    r.add_report(report("b", "b-only", "", "NEW", 1_793_527_200));
    r.add_journey(journey("b", "c01", "j1", "u01", true));
    r.add_journey(journey("b", "c01", "j1", "b-user", true));
    for (g, start) in [
        (Granularity::Day, "2026-11-01"),
        (Granularity::Day, "2026-11-02"),
        (Granularity::Week, "2026-10-26"),
        (Granularity::Month, "2026-11-01"),
    ] {
        r.add_period(g, period("a", start, 3));
        r.add_period(g, period("b", start, 77));
    }
    r
}

struct Api {
    app: Router,
    reader: MemoryReader,
}

fn api_with(settings: Settings) -> Api {
    let reader = reader();
    let zones = TenantZones::parse("UTC", &["a=Europe/Berlin".into()]).unwrap();
    let state = AppState::new(
        reader.clone(),
        keys(),
        zones,
        Limit {
            per_second: 1000.0,
            burst: 1000,
        },
        settings,
    );
    Api {
        app: router(state),
        reader,
    }
}

fn api() -> Api {
    api_with(Settings {
        now: Some(Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()),
        ..Settings::default()
    })
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
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

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The error code of a JSON error body (checking its shape).
    fn code(&self) -> String {
        assert!(
            self.content_type().starts_with("application/json"),
            "{}: {:?}",
            self.status,
            self.headers
        );
        let v = self.json();
        let obj = v["error"]
            .as_object()
            .unwrap_or_else(|| panic!("no error: {v}"));
        assert_eq!(obj.len(), 2, "{v}");
        assert!(
            obj["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        obj["code"].as_str().unwrap().to_string()
    }
}

impl Api {
    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str, key: Option<&str>) -> Answer {
        let mut req = Request::get(uri);
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn ok(&self, uri: &str, key: &str) -> Value {
        let a = self.get(uri, Some(key)).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
        assert!(a.content_type().starts_with("application/json"), "{uri}");
        a.json()
    }

    async fn error(&self, uri: &str, key: Option<&str>, status: StatusCode, code: &str) {
        let a = self.get(uri, key).await;
        assert_eq!(a.status, status, "{uri}: {}", a.text());
        assert_eq!(a.code(), code, "{uri}");
    }
}

/// Every /v1 route for tenant a's data.
const V1: &[&str] = &[
    "/v1/campaigns",
    "/v1/campaigns/c01/report",
    "/v1/campaigns/c01/jobs",
    "/v1/campaigns/c01/jobs/j1/report",
    "/v1/campaigns/c01/jobs/j1/journeys",
    "/v1/campaigns/c01/jobs/j1/journeys/u01",
    "/v1/overview?from=2026-10-01&to=2026-11-30",
];

fn with_query(uri: &str, q: &str) -> String {
    if uri.contains('?') {
        format!("{uri}&{q}")
    } else {
        format!("{uri}?{q}")
    }
}

fn check_report(v: &Value, tenant: &str, campaign: &str, job: Option<&str>) {
    assert_eq!(v["tenant_id"], tenant, "{v}");
    assert_eq!(v["campaign_id"], campaign, "{v}");
    assert_eq!(v["job_id"], job.map_or(Value::Null, Value::from), "{v}");
    for field in [
        "status",
        "target_users",
        "sent_users",
        "interacted_users",
        "completed_users",
        "interaction_rate",
        "completion_rate",
        "total_interactions",
        "messages_sent",
        "warnings_sent",
        "avg_completion_seconds",
        "nodes",
        "funnel",
        "first_event_at",
        "last_event_at",
        "as_of",
    ] {
        assert!(v.get(field).is_some(), "{field} missing: {v}");
    }
    assert_eq!(v["first_event_at"], "2026-11-01T10:00:00.123Z");
    assert_eq!(v["last_event_at"], "2026-11-01T11:00:00.456Z");
    assert_eq!(v["nodes"][0]["choices"]["yes, please"], 2);
    assert_eq!(v["funnel"][1]["conversion_from_previous"], 25.0);
    assert_eq!(v["interaction_rate"], 50.0);
}

#[tokio::test]
async fn every_route_answers_json() {
    let api = api();
    let v = api.ok("/v1/campaigns", KEY_A).await;
    let list = v["campaigns"].as_array().unwrap();
    assert_eq!(list.len(), A_CAMPAIGNS);
    assert!(v["next_cursor"].is_null());
    check_report(&list[0], "a", "c01", None);
    assert_eq!(list[0]["as_of"], "2026-11-01T11:00:00.000Z");

    let v = api.ok("/v1/campaigns/c01/report", KEY_A).await;
    check_report(&v, "a", "c01", None);
    assert_eq!(v["sent_users"], 8, "tenant a's c01, not b's");

    let v = api.ok("/v1/campaigns/c01/jobs", KEY_A).await;
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    check_report(&jobs[0], "a", "c01", Some("j1"));
    assert_eq!(jobs[1]["job_id"], "j2");
    let v = api.ok("/v1/campaigns/c02/jobs", KEY_A).await;
    assert_eq!(
        v["jobs"].as_array().unwrap().len(),
        0,
        "a campaign without jobs"
    );

    let v = api.ok("/v1/campaigns/c01/jobs/j1/report", KEY_A).await;
    check_report(&v, "a", "c01", Some("j1"));

    let v = api.ok("/v1/campaigns/c01/jobs/j1/journeys", KEY_A).await;
    let js = v["journeys"].as_array().unwrap();
    assert_eq!(js.len(), A_USERS);
    assert!(v["next_cursor"].is_null());

    let v = api
        .ok("/v1/campaigns/c01/jobs/j1/journeys/u01", KEY_A)
        .await;
    assert_eq!(
        v,
        serde_json::json!({
            "user_id": "u01",
            "steps": [
                {"node_id": "n1", "choice": "go", "occurred_at": "2026-11-01T10:00:00.000Z", "event_id": "e-u01-1"},
                {"node_id": "end", "choice": "on", "occurred_at": "2026-11-01T10:01:00.500Z", "event_id": "e-u01-2"},
            ],
            "total_interactions": 2,
            "completed": true,
            "exit_node": "end",
            "completion_seconds": 60.5,
        })
    );
    let v = api
        .ok("/v1/campaigns/c01/jobs/j1/journeys/u02", KEY_A)
        .await;
    assert_eq!(v["completed"], false);
    assert!(v["exit_node"].is_null() && v["completion_seconds"].is_null());

    let v = api
        .ok(
            "/v1/overview?granularity=day&from=2026-11-01&to=2026-11-30",
            KEY_A,
        )
        .await;
    assert_eq!(v["tenant_id"], "a");
    assert_eq!(v["granularity"], "day");
    assert_eq!(v["timezone"], "Europe/Berlin");
    let periods = v["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[0]["period_start"], "2026-11-01");
    assert_eq!(periods[0]["campaigns"], 3, "tenant a's figures");
    assert!(periods[0].get("tenant_id").is_none());
    for g in ["week", "month"] {
        let v = api
            .ok(
                &format!("/v1/overview?granularity={g}&from=2026-10-01&to=2026-11-30"),
                KEY_A,
            )
            .await;
        assert_eq!(v["periods"].as_array().unwrap().len(), 1, "{g}");
        assert_eq!(v["granularity"], g);
    }
    // Defaults: day, the 30 days ending today (2026-11-22) in Berlin.
    let v = api.ok("/v1/overview", KEY_A).await;
    assert_eq!(v["granularity"], "day");
    assert_eq!(v["periods"].as_array().unwrap().len(), 2);
    let v = api.ok("/v1/overview?to=2026-10-31", KEY_A).await;
    assert_eq!(v["periods"].as_array().unwrap().len(), 0);
    // Tenant b's zone is the default.
    let v = api.ok("/v1/overview", KEY_B).await;
    assert_eq!(v["timezone"], "UTC");
    assert_eq!(v["periods"][0]["campaigns"], 77);
}

#[tokio::test]
async fn exports_answer_csv_and_ndjson() {
    let api = api();
    for uri in V1 {
        for (how, accept) in [("?format=csv", None), ("", Some("text/csv"))] {
            let uri = if how.is_empty() {
                uri.to_string()
            } else {
                with_query(uri, &how[1..])
            };
            let mut req =
                Request::get(&uri).header(header::AUTHORIZATION, format!("Bearer {KEY_A}"));
            if let Some(a) = accept {
                req = req.header(header::ACCEPT, a);
            }
            let a = api.send(req.body(Body::empty()).unwrap()).await;
            assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
            assert!(a.content_type().starts_with("text/csv"), "{uri}");
            let text = a.text();
            let mut lines = text.lines();
            let header = lines.next().unwrap();
            assert!(
                !header.is_empty() && header.contains(','),
                "{uri}: {header}"
            );
            let rows = lines.count();
            let expected = match uri.split('?').next().unwrap() {
                "/v1/campaigns" => A_CAMPAIGNS,
                "/v1/campaigns/c01/jobs" => 2,
                "/v1/campaigns/c01/jobs/j1/journeys" => A_USERS,
                "/v1/overview" => 2,
                _ => 1,
            };
            assert_eq!(rows, expected, "{uri}: {text}");
        }
        let nd = with_query(uri, "format=ndjson");
        let a = api.get(&nd, Some(KEY_A)).await;
        assert_eq!(a.status, StatusCode::OK, "{nd}");
        assert!(a.content_type().starts_with("application/x-ndjson"), "{nd}");
        assert!(!a.text().is_empty(), "{nd}");
        for line in a.text().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v.is_object(), "{nd}: {line}");
        }
        let json = with_query(uri, "format=json");
        let a = api.get(&json, Some(KEY_A)).await;
        assert_eq!(a.status, StatusCode::OK, "{json}");
        assert!(a.content_type().starts_with("application/json"), "{json}");
    }
    // Nested fields are JSON text in CSV.
    let a = api
        .get("/v1/campaigns/c01/report?format=csv", Some(KEY_A))
        .await;
    let text = a.text();
    assert!(
        text.starts_with("tenant_id,campaign_id,job_id,status,"),
        "{text}"
    );
    assert!(
        text.contains(
            r#""[{""node_id"":""end"",""reached_users"":2,""choices"":{""yes, please"":2}}]""#
        ),
        "{text}"
    );
    // An export with a limit, after a cursor.
    let a = api
        .get(
            "/v1/campaigns?format=ndjson&limit=2&cursor=YzAx",
            Some(KEY_A),
        )
        .await;
    let ids: Vec<String> = a
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["campaign_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["c02", "c03"]);
    // Empty exports: a header only / nothing.
    let a = api
        .get(
            "/v1/campaigns/c01/jobs/j1/journeys?format=csv&cursor=dTk5",
            Some(KEY_A),
        )
        .await;
    assert_eq!(a.text().lines().count(), 1);
    let a = api
        .get("/v1/campaigns?format=ndjson&status=ERROR", Some(KEY_A))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_empty());
}

#[tokio::test]
async fn keys_are_required() {
    let api = api();
    for uri in V1 {
        api.error(uri, None, StatusCode::UNAUTHORIZED, "unauthorized")
            .await;
        api.error(
            uri,
            Some("not-a-key"),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        for value in [
            format!("Basic {KEY_A}"),
            "Bearer".to_string(),
            "Bearer ".to_string(),
            KEY_A.to_string(),
            format!("Bearer {KEY_A} extra"),
        ] {
            let req = Request::get(*uri)
                .header(header::AUTHORIZATION, value.as_str())
                .body(Body::empty())
                .unwrap();
            let a = api.send(req).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{uri} with {value:?}");
            assert_eq!(a.code(), "unauthorized");
            assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
        let req = Request::get(*uri)
            .header(
                header::AUTHORIZATION,
                header::HeaderValue::from_bytes(b"Bearer \xffkey").unwrap(),
            )
            .body(Body::empty())
            .unwrap();
        assert_eq!(api.send(req).await.status, StatusCode::UNAUTHORIZED);
    }
    // Without a key, operations routes answer.
    for uri in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"] {
        assert_eq!(api.get(uri, None).await.status, StatusCode::OK, "{uri}");
    }
}

#[tokio::test]
async fn unknown_things_are_404() {
    let api = api();
    for uri in [
        "/v1/campaigns/nope/report",
        "/v1/campaigns/nope/jobs",
        "/v1/campaigns/c01/jobs/nope/report",
        "/v1/campaigns/c01/jobs/nope/journeys",
        "/v1/campaigns/nope/jobs/j1/journeys",
        "/v1/campaigns/c01/jobs/j1/journeys/nope",
        "/v1/campaigns/c01/jobs/j2/journeys/u01",
    ] {
        api.error(uri, Some(KEY_A), StatusCode::NOT_FOUND, "not_found")
            .await;
    }
    for uri in [
        "/nope",
        "/v1",
        "/v1/campaigns/c01",
        "/v1/campaigns/c01/report/x",
        "/",
    ] {
        let a = api.get(uri, Some(KEY_A)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.code(), "not_found");
        let a = api.get(uri, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri} without a key");
    }
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let api = api();
    // b's campaign, job and journeys do not exist for a, exactly like
    // campaigns that exist nowhere.
    let missing = api.get("/v1/campaigns/nowhere/report", Some(KEY_A)).await;
    let of_b = api.get("/v1/campaigns/b-only/report", Some(KEY_A)).await;
    assert_eq!(of_b.status, StatusCode::NOT_FOUND);
    assert_eq!(
        of_b.text().replace("b-only", "X"),
        missing.text().replace("nowhere", "X"),
        "the same answer as for a campaign that does not exist"
    );
    for uri in [
        "/v1/campaigns/b-only/report",
        "/v1/campaigns/b-only/jobs",
        "/v1/campaigns/c01/jobs/j1/journeys/b-user",
    ] {
        api.error(uri, Some(KEY_A), StatusCode::NOT_FOUND, "not_found")
            .await;
    }
    // The shared id c01 shows each tenant its own figures.
    let a = api.ok("/v1/campaigns/c01/report", KEY_A).await;
    let b = api.ok("/v1/campaigns/c01/report", KEY_B).await;
    assert_eq!(
        (a["tenant_id"].clone(), a["sent_users"].clone()),
        ("a".into(), 8.into())
    );
    assert_eq!(
        (b["tenant_id"].clone(), b["sent_users"].clone()),
        ("b".into(), 999.into())
    );
    let b_jobs = api.ok("/v1/campaigns/c01/jobs", KEY_B).await;
    assert_eq!(b_jobs["jobs"].as_array().unwrap().len(), 1);
    let b_users = api.ok("/v1/campaigns/c01/jobs/j1/journeys", KEY_B).await;
    let users: BTreeSet<&str> = b_users["journeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, BTreeSet::from(["b-user", "u01"]));
    let list = api.ok("/v1/campaigns?limit=1000", KEY_B).await;
    assert!(list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["tenant_id"] == "b"));
    // Naming another tenant with a tenant key: 404 on every route, even
    // for the key's own campaigns; its own tenant is fine.
    for uri in V1 {
        for other in ["b", "nobody"] {
            api.error(
                &with_query(uri, &format!("tenant_id={other}")),
                Some(KEY_A),
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        }
        let a = api.get(&with_query(uri, "tenant_id=a"), Some(KEY_A)).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    }
}

#[tokio::test]
async fn admins_name_the_tenant() {
    let api = api();
    for uri in V1 {
        api.error(
            uri,
            Some(KEY_ADMIN),
            StatusCode::BAD_REQUEST,
            "tenant_required",
        )
        .await;
        let a = api
            .get(&with_query(uri, "tenant_id=a"), Some(KEY_ADMIN))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    }
    let v = api.ok("/v1/campaigns?tenant_id=a", KEY_ADMIN).await;
    assert_eq!(v["campaigns"].as_array().unwrap().len(), A_CAMPAIGNS);
    let b = api
        .ok("/v1/campaigns/c01/report?tenant_id=b", KEY_ADMIN)
        .await;
    assert_eq!(b["sent_users"], 999);
    let v = api.ok("/v1/overview?tenant_id=a", KEY_ADMIN).await;
    assert_eq!(v["tenant_id"], "a");
    assert_eq!(v["timezone"], "Europe/Berlin");
    api.error(
        "/v1/campaigns/b-only/report?tenant_id=a",
        Some(KEY_ADMIN),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let v = api.ok("/v1/campaigns?tenant_id=nobody", KEY_ADMIN).await;
    assert_eq!(v["campaigns"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let api = api();
    let long = "x".repeat(257);
    let cases: Vec<(String, &str)> = vec![
        // ids
        (format!("/v1/campaigns/{long}/report"), "bad_id"),
        (
            format!("/v1/campaigns/{}/report", "%C3%A9".repeat(129)),
            "bad_id",
        ),
        ("/v1/campaigns/a%0Ab/report".into(), "bad_id"),
        ("/v1/campaigns/a%7Fb/jobs".into(), "bad_id"),
        ("/v1/campaigns/%FF/report".into(), "bad_id"),
        (format!("/v1/campaigns/c01/jobs/{long}/report"), "bad_id"),
        ("/v1/campaigns/c01/jobs/j%00/journeys".into(), "bad_id"),
        (
            format!("/v1/campaigns/c01/jobs/j1/journeys/{long}"),
            "bad_id",
        ),
        ("/v1/campaigns?tenant_id=".into(), "bad_id"),
        (format!("/v1/overview?tenant_id={long}"), "bad_id"),
        // list parameters
        ("/v1/campaigns?status=running".into(), "bad_status"),
        ("/v1/campaigns?status=".into(), "bad_status"),
        (
            "/v1/campaigns?updated_since=yesterday".into(),
            "bad_timestamp",
        ),
        (
            "/v1/campaigns?updated_since=2026-11-01".into(),
            "bad_timestamp",
        ),
        ("/v1/campaigns?limit=0".into(), "bad_limit"),
        ("/v1/campaigns?limit=1001".into(), "bad_limit"),
        ("/v1/campaigns?limit=ten".into(), "bad_limit"),
        ("/v1/campaigns?limit=-1".into(), "bad_limit"),
        ("/v1/campaigns?cursor=".into(), "bad_cursor"),
        ("/v1/campaigns?cursor=%25%25".into(), "bad_cursor"),
        ("/v1/campaigns?cursor=abcde".into(), "bad_cursor"),
        ("/v1/campaigns?limit=1&limit=2".into(), "bad_query"),
        ("/v1/campaigns?colour=red".into(), "bad_query"),
        (
            "/v1/campaigns/c01/jobs/j1/journeys?completed=yes".into(),
            "bad_boolean",
        ),
        (
            "/v1/campaigns/c01/jobs/j1/journeys?limit=5000".into(),
            "bad_limit",
        ),
        (
            "/v1/campaigns/c01/jobs/j1/journeys?cursor=!".into(),
            "bad_cursor",
        ),
        // formats
        ("/v1/campaigns?format=xml".into(), "bad_format"),
        ("/v1/campaigns/c01/report?format=CSV".into(), "bad_format"),
        ("/v1/campaigns/c01/jobs?format=".into(), "bad_format"),
        (
            "/v1/campaigns/c01/jobs/j1/journeys/u01?format=pdf".into(),
            "bad_format",
        ),
        ("/v1/overview?format=xlsx".into(), "bad_format"),
        // overview
        ("/v1/overview?granularity=year".into(), "bad_granularity"),
        ("/v1/overview?from=2026-02-30".into(), "bad_date"),
        ("/v1/overview?to=26-11-01".into(), "bad_date"),
        (
            "/v1/overview?from=2026-11-02&to=2026-11-01".into(),
            "bad_range",
        ),
        ("/v1/overview?from=2026-12-01".into(), "bad_range"),
        (
            "/v1/overview?from=2020-01-01&to=2026-11-01".into(),
            "range_too_large",
        ),
    ];
    for (uri, code) in &cases {
        api.error(uri, Some(KEY_A), StatusCode::BAD_REQUEST, code)
            .await;
    }
    // The limits themselves are fine.
    for uri in [
        "/v1/campaigns?limit=1",
        "/v1/campaigns?limit=1000",
        "/v1/campaigns?updated_since=2026-11-01T10:00:00.5%2B01:00",
        "/v1/overview?from=2024-11-22&to=2026-11-22",
    ] {
        assert_eq!(
            api.get(uri, Some(KEY_A)).await.status,
            StatusCode::OK,
            "{uri}"
        );
    }
    api.error(
        "/v1/overview?from=2024-11-21&to=2026-11-22",
        Some(KEY_A),
        StatusCode::BAD_REQUEST,
        "range_too_large",
    )
    .await;
}

#[tokio::test]
async fn the_maximum_overview_range_is_configurable() {
    let api = api_with(Settings {
        max_overview_days: 7,
        ..Settings::default()
    });
    api.error(
        "/v1/overview?from=2026-11-01&to=2026-11-08",
        Some(KEY_A),
        StatusCode::BAD_REQUEST,
        "range_too_large",
    )
    .await;
    let a = api
        .get("/v1/overview?from=2026-11-01&to=2026-11-07", Some(KEY_A))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // The default 30-day range is then too large.
    api.error(
        "/v1/overview",
        Some(KEY_A),
        StatusCode::BAD_REQUEST,
        "range_too_large",
    )
    .await;
}

#[tokio::test]
async fn filters_select() {
    let api = api();
    let ids = |v: &Value| -> Vec<String> {
        v["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["campaign_id"].as_str().unwrap().to_string())
            .collect()
    };
    let v = api.ok("/v1/campaigns?status=RUNNING", KEY_A).await;
    assert_eq!(ids(&v), ["c01", "c02", "c03"]);
    let v = api.ok("/v1/campaigns?status=ERROR", KEY_A).await;
    assert!(ids(&v).is_empty());
    // c05's snapshot is at 2026-11-01T15:00:00Z; c06 at 16:00.
    let v = api
        .ok("/v1/campaigns?updated_since=2026-11-01T15:00:00Z", KEY_A)
        .await;
    assert_eq!(ids(&v), ["c05", "c06", "c07"]);
    let v = api
        .ok(
            "/v1/campaigns?updated_since=2026-11-01T15:00:00.001Z",
            KEY_A,
        )
        .await;
    assert_eq!(ids(&v), ["c06", "c07"]);
    let v = api
        .ok(
            "/v1/campaigns?updated_since=2026-11-01T15:00:00%2B01:00&status=COMPLETED",
            KEY_A,
        )
        .await;
    assert_eq!(ids(&v), ["c04", "c05", "c06", "c07"], "14:00Z and later");
    let users = |v: &Value| -> Vec<String> {
        v["journeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["user_id"].as_str().unwrap().to_string())
            .collect()
    };
    let v = api
        .ok("/v1/campaigns/c01/jobs/j1/journeys?completed=true", KEY_A)
        .await;
    assert_eq!(users(&v), ["u01", "u03", "u05", "u07", "u09"]);
    let v = api
        .ok("/v1/campaigns/c01/jobs/j1/journeys?completed=false", KEY_A)
        .await;
    assert_eq!(users(&v), ["u02", "u04", "u06", "u08"]);
}

/// Follow next_cursor from the first page; every item exactly once, in order.
async fn walk(api: &Api, uri: &str, field: &str, key_field: &str) -> Vec<String> {
    walk_from(api, uri, None, field, key_field).await
}

async fn walk_from(
    api: &Api,
    uri: &str,
    mut next: Option<String>,
    field: &str,
    key_field: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page_uri = match &next {
            Some(c) => with_query(uri, &format!("cursor={c}")),
            None => uri.to_string(),
        };
        let v = api.ok(&page_uri, KEY_A).await;
        let items = v[field].as_array().unwrap();
        seen.extend(
            items
                .iter()
                .map(|i| i[key_field].as_str().unwrap().to_string()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => {
                assert!(!items.is_empty(), "an empty page with a cursor");
                next = Some(c.to_string());
            }
            None => return seen,
        }
    }
    panic!("pagination of {uri} does not end");
}

#[tokio::test]
async fn pagination_walks_every_item_once() {
    let api = api();
    for limit in 1..=8 {
        let ids = walk(
            &api,
            &format!("/v1/campaigns?limit={limit}"),
            "campaigns",
            "campaign_id",
        )
        .await;
        let want: Vec<String> = (1..=A_CAMPAIGNS).map(|i| format!("c{i:02}")).collect();
        assert_eq!(ids, want, "limit {limit}");
        let users = walk(
            &api,
            &format!("/v1/campaigns/c01/jobs/j1/journeys?limit={limit}"),
            "journeys",
            "user_id",
        )
        .await;
        let want: Vec<String> = (1..=A_USERS).map(|u| format!("u{u:02}")).collect();
        assert_eq!(users, want, "limit {limit}");
    }
    let users = walk(
        &api,
        "/v1/campaigns/c01/jobs/j1/journeys?limit=2&completed=true",
        "journeys",
        "user_id",
    )
    .await;
    assert_eq!(users, ["u01", "u03", "u05", "u07", "u09"]);
    let ids = walk(
        &api,
        "/v1/campaigns?limit=2&status=COMPLETED",
        "campaigns",
        "campaign_id",
    )
    .await;
    assert_eq!(ids, ["c04", "c05", "c06", "c07"]);
    // The default page is 50; a page of exactly `limit` items with nothing
    // after it has no cursor.
    let v = api.ok("/v1/campaigns?limit=7", KEY_A).await;
    assert!(v["next_cursor"].is_null());

    // Stable while rows come and go: a campaign added before the cursor is
    // not seen, one added after it is, none is repeated.
    let first = api.ok("/v1/campaigns?limit=3", KEY_A).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    api.reader.add_report(report("a", "c00", "", "NEW", 1));
    api.reader.add_report(report("a", "c99", "", "NEW", 1));
    let rest = walk_from(
        &api,
        "/v1/campaigns?limit=3",
        Some(cursor),
        "campaigns",
        "campaign_id",
    )
    .await;
    assert_eq!(rest, ["c04", "c05", "c06", "c07", "c99"]);
}

#[tokio::test]
async fn methods_other_than_get_are_405() {
    let api = api();
    for uri in V1
        .iter()
        .chain(&["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
    {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let req = Request::builder()
                .method(method)
                .uri(*uri)
                .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
                .body(Body::empty())
                .unwrap();
            let a = api.send(req).await;
            assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert_eq!(a.code(), "method_not_allowed");
            let allow = a.headers[header::ALLOW].to_str().unwrap();
            assert!(allow.contains("GET"), "{allow}");
        }
    }
    let req = Request::head("/healthz").body(Body::empty()).unwrap();
    assert_eq!(api.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn keys_are_rate_limited() {
    let api = api();
    // KEY_SLOW: burst 2, then one request per 100 s.
    for _ in 0..2 {
        assert_eq!(
            api.get("/v1/campaigns", Some(KEY_SLOW)).await.status,
            StatusCode::OK
        );
    }
    let a = api.get("/v1/campaigns/c01/report", Some(KEY_SLOW)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.code(), "rate_limited");
    let retry: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    // Other keys of the same tenant have their own bucket.
    assert_eq!(
        api.get("/v1/campaigns", Some(KEY_A)).await.status,
        StatusCode::OK
    );
    let metrics = api.get("/metrics", None).await.text();
    assert!(
        metrics.contains("query_api_rate_limited_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unreachable_clickhouse_is_503() {
    let api = api();
    assert_eq!(api.ok("/readyz", KEY_A).await["status"], "ready");
    api.reader.set_down(true);
    for uri in V1 {
        api.error(
            uri,
            Some(KEY_A),
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        )
        .await;
        for format in ["csv", "ndjson"] {
            api.error(
                &with_query(uri, &format!("format={format}")),
                Some(KEY_A),
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            )
            .await;
        }
    }
    api.error(
        "/readyz",
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    // Liveness does not depend on ClickHouse; auth still comes first.
    assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
    api.error(
        "/v1/campaigns",
        None,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    api.reader.set_down(false);
    assert_eq!(api.get("/readyz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn slow_requests_time_out() {
    let api = api_with(Settings {
        request_timeout: Duration::from_millis(50),
        ..Settings::default()
    });
    api.reader.set_delay(Duration::from_millis(500));
    api.error(
        "/v1/campaigns/c01/report",
        Some(KEY_A),
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
    )
    .await;
    api.reader.set_delay(Duration::ZERO);
    assert_eq!(
        api.get("/v1/campaigns/c01/report", Some(KEY_A))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn request_ids_are_returned() {
    let api = api();
    let a = api.get("/healthz", None).await;
    let generated = a.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(!generated.is_empty());
    let b = api.get("/healthz", None).await;
    assert_ne!(b.headers["x-request-id"], generated.as_str());
    let req = Request::get("/v1/nope")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let a = api.send(req).await;
    assert_eq!(a.headers["x-request-id"], "abc-123");
}

#[tokio::test]
async fn metrics_count_by_route_template_and_status() {
    let api = api();
    api.get("/v1/campaigns/c01/report", Some(KEY_A)).await;
    api.get("/v1/campaigns/nope/report", Some(KEY_A)).await;
    api.get("/v1/campaigns/c01/jobs/j1/journeys/u01", Some(KEY_A))
        .await;
    api.get("/some/unknown/path", None).await;
    let text = api.get("/metrics", None).await.text();
    for line in [
        r#"query_api_requests_total{method="GET",route="/v1/campaigns/{campaign_id}/report",status="200"} 1"#,
        r#"query_api_requests_total{method="GET",route="/v1/campaigns/{campaign_id}/report",status="404"} 1"#,
        r#"query_api_requests_total{method="GET",route="/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys/{user_id}",status="200"} 1"#,
        r#"query_api_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"query_api_request_duration_seconds_count{method="GET",route="/v1/campaigns/{campaign_id}/report",status="200"} 1"#,
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    assert!(
        !text.contains("c01") && !text.contains("u01"),
        "ids are never labels"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let api = api();
    let spec = api.ok("/openapi.json", KEY_A).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/v1/campaigns",
        "/v1/campaigns/{campaign_id}/report",
        "/v1/campaigns/{campaign_id}/jobs",
        "/v1/campaigns/{campaign_id}/jobs/{job_id}/report",
        "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys",
        "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys/{user_id}",
        "/v1/overview",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
    ] {
        let op = &paths[path]["get"];
        assert!(op.is_object(), "{path}");
        let responses = op["responses"].as_object().unwrap();
        let mut statuses = vec!["200", "405", "504"];
        if path.starts_with("/v1/") {
            statuses.extend(["400", "401", "404", "429", "503"]);
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{path}");
            let content = responses["200"]["content"].as_object().unwrap();
            for t in ["application/json", "text/csv", "application/x-ndjson"] {
                assert!(content.contains_key(t), "{path} {t}");
            }
            assert!(responses["429"]["headers"]["Retry-After"].is_object());
        } else {
            assert!(op.get("security").is_none(), "{path}");
        }
        for s in statuses {
            assert!(responses.contains_key(s), "{path} lacks {s}");
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let report = &spec["components"]["schemas"]["Report"];
    assert_eq!(
        report["properties"]["job_id"]["type"],
        serde_json::json!(["string", "null"])
    );
    assert_eq!(report["properties"]["as_of"]["format"], "date-time");
    assert_eq!(report["properties"]["interaction_rate"]["type"], "number");
    assert_eq!(report["properties"]["sent_users"]["type"], "integer");
    let docs = api.get("/docs", None).await;
    assert!(docs.content_type().starts_with("text/html"));
    let page = docs.text();
    assert!(page.contains("/openapi.json"));
    // Every operation is on the page, and nothing is loaded from elsewhere
    // (it works offline).
    for path in spec["paths"].as_object().unwrap().keys() {
        let shown = path.replace('&', "&amp;");
        assert!(
            page.contains(&format!("<code>{shown}</code>")),
            "{path} is not on /docs"
        );
    }
    assert!(page.contains("id=\"schema-Report\""));
    assert!(!page.contains("<script"), "no script");
    assert!(!page.contains("src=\"http"), "nothing from elsewhere");
}

#[tokio::test]
async fn the_server_serves_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = api();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::app::serve(listener, api.app.clone(), async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-request-id"), "{text}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("graceful shutdown")
        .unwrap()
        .unwrap();
}

#[test]
fn hash_key_prints_the_sha256() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_query-api"))
        .args(["hash-key", "abc"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hash_key("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_query-api"))
        .args(["hash-key", ""])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
