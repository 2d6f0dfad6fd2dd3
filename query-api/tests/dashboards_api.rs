//! Saved dashboards through the router, against the real PostgreSQL of
//! the local stack (a scratch database per test) and the in-memory read
//! model: the CRUD routes with roles, tenants and versions, and every
//! widget's data equal to what the JSON routes answer for the same thing.

use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::{Days, Utc};
use http_body_util::BodyExt;
use query_api::read::{Granularity, Period};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;

use common::*;

fn every_widget() -> Value {
    json!({
        "name": "Operations",
        "description": "what runs now",
        "widgets": [
            {"type": "report_kpis", "params": {"campaign_id": "camp-1"}},
            {"type": "funnel", "title": "Job 1", "params": {"campaign_id": "camp-1", "job_id": "job-1"}},
            {"type": "overview_trend", "params": {"granularity": "day", "periods": 7}},
            {"id": "top", "type": "campaign_table", "params": {"sort": "-sent_users", "limit": 1}},
            {"id": "running", "type": "campaign_table", "params": {"status": "RUNNING"}},
            {"id": "sent", "type": "live_counter", "params": {"metric": "sent_users"}},
            {"id": "sent2", "type": "live_counter", "params": {"metric": "messages_sent", "campaign_id": "camp-2"}},
            {"id": "ghost", "type": "report_kpis", "params": {"campaign_id": "nope"}},
            {"id": "firing", "type": "alerts", "params": {"status": "firing"}},
            {"id": "critical", "type": "alerts", "params": {"severity": "critical", "campaign_id": "camp-1", "limit": 1}}
        ]
    })
}

fn widget<'a>(data: &'a Value, id: &str) -> &'a Value {
    data["widgets"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["id"] == id))
        .unwrap_or_else(|| panic!("no widget {id} in {data}"))
}

fn campaign_ids(table: &Value) -> Vec<String> {
    table["data"]["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["campaign_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Create a dashboard with the editor key of a (201); its JSON.
async fn create(app: &Router, body: &Value) -> Value {
    expect(
        app,
        POST,
        "/v1/dashboards",
        EDITOR_A,
        Some(body),
        StatusCode::CREATED,
        "",
    )
    .await
    .json()
}

/// `PUT` with an `If-Match` header.
async fn put_if_match(
    app: &Router,
    uri: &str,
    key: &str,
    etag: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(PUT)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_MATCH, etag)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn dashboards_are_created_changed_and_deleted_with_roles_and_tenants() {
    let s = setup("dash_crud").await;
    let app = &s.app;
    // A viewer reads but does not create; a bad body names the field.
    expect(
        app,
        POST,
        "/v1/dashboards",
        VIEWER_A,
        Some(&every_widget()),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let bad = json!({"name": "x", "widgets": [{"type": "funnel", "params": {}}]});
    let a = expect(
        app,
        POST,
        "/v1/dashboards",
        EDITOR_A,
        Some(&bad),
        StatusCode::BAD_REQUEST,
        "bad_dashboard",
    )
    .await;
    assert!(
        a.message()
            .starts_with("widgets[0].params.campaign_id: missing"),
        "{}",
        a.message()
    );
    expect(
        app,
        POST,
        "/v1/dashboards",
        EDITOR_A,
        Some(&json!({"name": 1})),
        StatusCode::BAD_REQUEST,
        "bad_dashboard",
    )
    .await;

    let created = create(app, &every_widget()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["version"], 1);
    assert_eq!(created["created_by"], "eve");
    let ids: Vec<&str> = created["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["w1", "w2", "w3", "top", "running", "sent", "sent2", "ghost", "firing", "critical"]
    );
    assert_eq!(
        created["widgets"][0]["width"], 6,
        "defaults are spelled out"
    );

    // Read back by the tenant's viewer; the other tenant cannot see it.
    let one = get_json(app, &format!("/v1/dashboards/{id}"), VIEWER_A).await;
    assert_eq!(one, created);
    expect(
        app,
        GET,
        &format!("/v1/dashboards/{id}"),
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        GET,
        &format!("/v1/dashboards/{id}/data"),
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        PUT,
        &format!("/v1/dashboards/{id}"),
        EDITOR_B,
        Some(&every_widget()),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        DELETE,
        &format!("/v1/dashboards/{id}"),
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        GET,
        "/v1/dashboards/not-an-id",
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let b = get_json(app, "/v1/dashboards", EDITOR_B).await;
    assert_eq!(b["dashboards"], json!([]));

    // Pages by name.
    let second = json!({"name": "Alpha"});
    create(app, &second).await;
    let page = get_json(app, "/v1/dashboards?limit=1", VIEWER_A).await;
    assert_eq!(page["dashboards"][0]["name"], "Alpha");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = get_json(
        app,
        &format!("/v1/dashboards?limit=1&cursor={cursor}"),
        VIEWER_A,
    )
    .await;
    assert_eq!(rest["dashboards"][0]["name"], "Operations");
    assert_eq!(rest["next_cursor"], Value::Null);
    let found = get_json(app, "/v1/dashboards?search=RUNS%20NOW", VIEWER_A).await;
    assert_eq!(found["dashboards"].as_array().unwrap().len(), 1);

    // Replace: the version grows; a stale If-Match is a 412, a bad one a 400.
    let uri = format!("/v1/dashboards/{id}");
    let renamed = json!({"name": "Ops", "widgets": [{"type": "campaign_table"}]});
    let (status, body) = put_if_match(app, &uri, EDITOR_A, "\"1\"", &renamed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["version"].clone(), body["name"].clone()),
        (json!(2), json!("Ops"))
    );
    let (status, body) = put_if_match(app, &uri, EDITOR_A, "\"1\"", &renamed).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (status, body) = put_if_match(app, &uri, EDITOR_A, "soon", &renamed).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_query"))
    );
    let (status, _) = put_if_match(app, &uri, EDITOR_A, "*", &renamed).await;
    assert_eq!(status, StatusCode::OK);
    expect(
        app,
        PUT,
        &uri,
        VIEWER_A,
        Some(&renamed),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Delete: gone for every route.
    expect(
        app,
        DELETE,
        &uri,
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect(
        app,
        DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    expect(
        app,
        GET,
        &uri,
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        GET,
        &format!("{uri}/data"),
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Every change is audited.
    let audit = get_json(app, "/v1/audit?entity=dashboard", ADMIN_A).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "update", "create", "create"]);
    s.db.drop().await;
}

#[tokio::test]
async fn every_widget_shows_what_the_json_routes_show() {
    let s = setup("dash_data").await;
    let app = &s.app;
    let today = Utc::now().date_naive();
    let period = |start, sent| Period {
        tenant_id: "a".into(),
        period_start: start,
        campaigns: 2,
        target_users: sent + 4,
        sent_users: sent,
        interacted_users: sent / 2,
        interactions: sent,
        interaction_rate: 50.0,
        campaigns_completed: 1,
        campaigns_running: 1,
        campaigns_error: 0,
    };
    s.reader.add_period(Granularity::Day, period(today, 10));
    s.reader
        .add_period(Granularity::Day, period(today - Days::new(6), 8));
    s.reader
        .add_period(Granularity::Day, period(today - Days::new(7), 99));
    s.reader.set_checkpoint(0, 7);
    s.reader.set_checkpoint(3, 12);

    let created = create(app, &every_widget()).await;
    let id = created["id"].as_str().unwrap();
    let data = get_json(app, &format!("/v1/dashboards/{id}/data"), VIEWER_A).await;
    assert_eq!(data["dashboard_id"], id);
    assert_eq!(data["dashboard_version"], 1);
    assert_eq!(data["cursor"], "0=7,3=12");
    assert_eq!(data["timezone"], "UTC");
    assert_eq!(
        data["as_of"],
        newest_snapshot_of_a(),
        "the newest report read is camp-2's"
    );

    // report_kpis: the report route's answer, field for field.
    let report = get_json(app, "/v1/campaigns/camp-1/report", VIEWER_A).await;
    assert_eq!(widget(&data, "w1")["data"], report);
    assert_eq!(widget(&data, "w1")["type"], "report_kpis");
    // funnel: the job report's funnel.
    let job = get_json(app, "/v1/campaigns/camp-1/jobs/job-1/report", VIEWER_A).await;
    let funnel = widget(&data, "w2");
    assert_eq!(funnel["title"], "Job 1");
    assert_eq!(funnel["data"]["funnel"], job["funnel"]);
    assert_eq!(funnel["data"]["sent_users"], job["sent_users"]);
    assert_eq!(funnel["data"]["job_id"], "job-1");
    // overview_trend: the overview route's periods of the last 7 days.
    let from = today - Days::new(6);
    let overview = get_json(
        app,
        &format!("/v1/overview?granularity=day&from={from}&to={today}"),
        VIEWER_A,
    )
    .await;
    let trend = &widget(&data, "w3")["data"];
    assert_eq!(trend["periods"], overview["periods"]);
    assert_eq!(
        trend["periods"].as_array().unwrap().len(),
        2,
        "the 8th day back is out"
    );
    assert_eq!(trend["from"], from.to_string());
    // campaign_table: ordered, cut and filtered; figures as the list's.
    let top = widget(&data, "top");
    assert_eq!(campaign_ids(top), ["camp-2"]);
    assert_eq!(top["data"]["matching"], 2);
    let list = get_json(app, "/v1/campaigns", VIEWER_A).await;
    let camp2 = list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign_id"] == "camp-2")
        .unwrap();
    for field in [
        "sent_users",
        "interacted_users",
        "completed_users",
        "interaction_rate",
        "completion_rate",
        "status",
        "last_event_at",
    ] {
        assert_eq!(top["data"]["campaigns"][0][field], camp2[field], "{field}");
    }
    assert_eq!(campaign_ids(widget(&data, "running")), ["camp-1"]);
    // live_counter: the sum over the tenant's campaigns (not b's), or one.
    assert_eq!(widget(&data, "sent")["data"]["value"], 8 + 20);
    assert_eq!(widget(&data, "sent")["data"]["campaigns"], 2);
    assert_eq!(
        widget(&data, "sent2")["data"]["value"],
        camp2["messages_sent"]
    );
    // A campaign without a report: that widget says so, the others work.
    let ghost = widget(&data, "ghost");
    assert_eq!(ghost["data"], Value::Null);
    assert_eq!(ghost["error"]["code"], "not_found");

    // alerts: what the alert list shows this key, newest first.
    assert_eq!(widget(&data, "firing")["data"]["alerts"], json!([]));
    for (severity, campaign) in [
        ("critical", "camp-1"),
        ("warning", "camp-1"),
        ("critical", "camp-2"),
    ] {
        let alert = json!({"severity": severity, "message": format!("{severity} on {campaign}"), "campaign_id": campaign});
        expect(
            app,
            POST,
            "/v1/alerts",
            EDITOR_A,
            Some(&alert),
            StatusCode::CREATED,
            "",
        )
        .await;
    }
    let data = get_json(app, &format!("/v1/dashboards/{id}/data"), VIEWER_A).await;
    let listed = get_json(app, "/v1/alerts?status=firing", VIEWER_A).await;
    let firing = &widget(&data, "firing")["data"];
    assert_eq!(firing["alerts"], listed["alerts"]);
    assert_eq!(
        (firing["total"].clone(), firing["unread"].clone()),
        (json!(3), json!(3))
    );
    let critical = &widget(&data, "critical")["data"];
    assert_eq!(critical["total"], 1);
    assert_eq!(critical["alerts"][0]["message"], "critical on camp-1");

    // A newer snapshot changes what the widgets show.
    s.reader
        .put_report(common::report("a", "camp-1", "", "RUNNING", 40, SNAP + 400));
    let data = get_json(app, &format!("/v1/dashboards/{id}/data"), VIEWER_A).await;
    assert_eq!(campaign_ids(widget(&data, "top")), ["camp-1"]);
    assert_eq!(widget(&data, "sent")["data"]["value"], 40 + 20);
    assert_eq!(widget(&data, "w1")["data"]["sent_users"], 40);

    // ClickHouse down: a 503 with a JSON error, not a half-filled page.
    s.reader.set_down(true);
    expect(
        app,
        GET,
        &format!("/v1/dashboards/{id}/data"),
        VIEWER_A,
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    s.db.drop().await;
}

#[tokio::test]
async fn me_tells_a_client_what_its_key_may_do() {
    let s = setup("dash_me").await;
    let app = &s.app;
    let viewer = get_json(app, "/v1/me", VIEWER_A).await;
    assert_eq!(
        viewer,
        json!({"tenant_id": "a", "principal": "ann", "role": "viewer", "can_edit": false, "can_audit": false})
    );
    let editor = get_json(app, "/v1/me", EDITOR_A).await;
    assert_eq!(
        (
            editor["role"].clone(),
            editor["can_edit"].clone(),
            editor["can_audit"].clone()
        ),
        (json!("editor"), json!(true), json!(false))
    );
    let admin = get_json(app, "/v1/me", ADMIN_B).await;
    assert_eq!(
        (
            admin["tenant_id"].clone(),
            admin["role"].clone(),
            admin["can_audit"].clone()
        ),
        (json!("b"), json!("tenant_admin"), json!(true))
    );
    expect(
        app,
        GET,
        "/v1/me",
        NO_KEY,
        None,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        app,
        GET,
        "/v1/me?tenant_id=b",
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    s.db.drop().await;
}
