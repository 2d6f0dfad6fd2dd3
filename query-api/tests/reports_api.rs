//! Scheduled reports through the router (`scheduled-reports.md`), against
//! the real PostgreSQL of the local stack (a scratch database per test)
//! and the in-memory read model: definitions, schedules, the scheduler's
//! step, runs rendered by the real worker, signed downloads, the audit log
//! and templates, with roles and tenants.

use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use axum::Router;
use calamine::{Data, Reader as _, Xlsx};
use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Utc, Weekday};
use chrono_tz::Tz;
use query_api::alerts::senders::Senders;
use query_api::reports::metrics::ReportMetrics;
use query_api::reports::{scheduler, worker, ReportSettings, Reports};
use serde_json::{json, Value};

mod common;

use common::*;

// ------------------------------------------------------------- helpers

fn instant(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not an instant: {v}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// A campaign_reports definition of every campaign in `formats`.
fn campaigns_body(name: &str, formats: &[&str]) -> Value {
    json!({"name": name, "kind": "campaign_reports", "formats": formats})
}

/// Create a definition with the editor key of a; its JSON.
async fn create(app: &Router, body: &Value) -> Value {
    let uri = "/v1/report-definitions";
    expect(
        app,
        POST,
        uri,
        EDITOR_A,
        Some(body),
        StatusCode::CREATED,
        "",
    )
    .await
    .json()
}

async fn create_id(app: &Router, body: &Value) -> String {
    str_of(&create(app, body).await["id"])
}

/// Run a definition by hand (202, queued); the run's id.
async fn run_now(app: &Router, definition: &str) -> String {
    let uri = format!("/v1/report-definitions/{definition}/run");
    let run = expect(app, POST, &uri, EDITOR_A, None, StatusCode::ACCEPTED, "")
        .await
        .json();
    assert_eq!(run["state"], "queued", "{run}");
    assert_eq!(run["trigger"], "manual", "{run}");
    assert_eq!(run["definition_id"], definition, "{run}");
    assert_eq!(run["created_by"], "eve", "{run}");
    str_of(&run["id"])
}

/// The run once it is succeeded, failed or cancelled.
async fn finished_run(app: &Router, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let run = get_json(app, &format!("/v1/report-runs/{id}"), VIEWER_A).await;
        if ["succeeded", "failed", "cancelled"].contains(&run["state"].as_str().unwrap()) {
            return run;
        }
        assert!(Instant::now() < deadline, "run {id} did not finish: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A signed link of a run's file (`query` after `format=`).
async fn link(app: &Router, run: &str, query: &str) -> Value {
    let uri = format!("/v1/report-runs/{run}/download?format={query}");
    get_json(app, &uri, VIEWER_A).await
}

/// The path and query of a signed link (the router has no host).
fn path_of(link: &Value) -> String {
    let url = str_of(&link["download_url"]);
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} does not start with {PUBLIC_URL}"))
        .to_owned()
}

/// The bytes behind a signed link, fetched without a key.
async fn fetch(app: &Router, link: &Value) -> Answer {
    let a = expect(app, GET, &path_of(link), NO_KEY, None, StatusCode::OK, "").await;
    assert_eq!(a.body.len() as u64, link["size"].as_u64().unwrap());
    a
}

/// Names of a definition list.
fn names(list: &Value) -> Vec<String> {
    list["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(&d["name"]))
        .collect()
}

async fn list_names(app: &Router, query: &str) -> Vec<String> {
    names(&get_json(app, &format!("/v1/report-definitions?{query}"), VIEWER_A).await)
}

/// Every page of `/v1/{what}?{query}&limit={limit}` by its cursor: the
/// items under `field`, checking each page's size.
async fn all_pages(
    app: &Router,
    what: &str,
    field: &str,
    query: &str,
    limit: usize,
    key: &str,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut uri = format!("/v1/{what}?limit={limit}");
        if !query.is_empty() {
            uri.push_str(&format!("&{query}"));
        }
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(app, &uri, key).await;
        let got = page[field].as_array().unwrap();
        assert!(got.len() <= limit, "{uri}: {page}");
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(got.len(), limit, "a page before the last is full: {page}");
                cursor = Some(c.to_owned());
            }
            None => return items,
        }
    }
    panic!("{what}: more than 100 pages")
}

/// The first instant after `now` at `hour:minute` in `zone` (on
/// `weekday`, if given), computed apart from the product's code.
fn next_local(
    zone: Tz,
    weekday: Option<Weekday>,
    hour: u32,
    minute: u32,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let mut day = now.with_timezone(&zone).date_naive();
    loop {
        if weekday.is_none_or(|w| day.weekday() == w) {
            let local = day.and_hms_opt(hour, minute, 0).unwrap();
            if let Some(t) = local.and_local_timezone(zone).earliest() {
                if t > now {
                    return t.with_timezone(&Utc);
                }
            }
        }
        day = day.succ_opt().unwrap();
    }
}

/// The latest daily `hour:00` UTC at or before `now`.
fn last_daily_utc(hour: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.date_naive().and_hms_opt(hour, 0, 0).unwrap().and_utc();
    if today <= now {
        today
    } else {
        today - chrono::Duration::days(1)
    }
}

// ------------------------------------------------------------- definitions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_are_created_listed_paged_changed_and_deleted() {
    let s = setup("defs").await;
    let app = &s.app;
    let board = json!({
        "name": "Charlie weekly numbers", "description": "For the board",
        "tags": ["board", "weekly"], "kind": "campaign_reports",
        "parameters": {"campaign_ids": ["camp-1"], "status": "RUNNING", "range": {"type": "previous_week"}},
        "formats": ["xlsx", "pdf"],
    });
    let created = create(app, &board).await;
    assert_eq!(created["version"], 1);
    assert_eq!(created["created_by"], "eve");
    assert_eq!(created["tenant_id"], "a");
    assert_eq!(created["name"], "Charlie weekly numbers");
    assert_eq!(created["parameters"], board["parameters"]);
    assert_eq!(created["formats"], json!(["xlsx", "pdf"]));
    assert_eq!(created["tags"], json!(["board", "weekly"]));
    assert_eq!(created["schedule"], Value::Null);
    assert_eq!(created["template_id"], Value::Null);
    let charlie = str_of(&created["id"]);
    let one = format!("/v1/report-definitions/{charlie}");
    assert_eq!(get_json(app, &one, VIEWER_A).await, created);

    let mut ids = vec![charlie.clone()];
    for body in [
        json!({"name": "Alpha journeys", "tags": ["ops"], "kind": "journeys",
               "parameters": {"campaign_id": "camp-1", "job_id": "job-1"}, "formats": ["csv"]}),
        json!({"name": "Echo overview", "description": "Monthly BOARD figures", "kind": "overview",
               "parameters": {"granularity": "month"}, "formats": ["pdf"]}),
        json!({"name": "Bravo campaigns", "tags": ["weekly"], "kind": "campaign_reports", "formats": ["json"]}),
        campaigns_body("Delta campaigns", &["csv", "html"]),
    ] {
        ids.push(create_id(app, &body).await);
    }
    let by_creation = [
        "Charlie weekly numbers",
        "Alpha journeys",
        "Echo overview",
        "Bravo campaigns",
        "Delta campaigns",
    ];
    let by_name = [
        "Alpha journeys",
        "Bravo campaigns",
        "Charlie weekly numbers",
        "Delta campaigns",
        "Echo overview",
    ];

    // Filters and sorts.
    assert_eq!(list_names(app, "").await, by_creation);
    assert_eq!(list_names(app, "kind=journeys").await, ["Alpha journeys"]);
    assert_eq!(
        list_names(app, "tag=weekly").await,
        ["Charlie weekly numbers", "Bravo campaigns"]
    );
    assert_eq!(
        list_names(app, "tag=board").await,
        ["Charlie weekly numbers"]
    );
    assert_eq!(
        list_names(app, "search=bOaRd").await,
        ["Charlie weekly numbers", "Echo overview"]
    );
    assert_eq!(list_names(app, "search=bravo").await, ["Bravo campaigns"]);
    assert_eq!(list_names(app, "search=100%25").await, Vec::<String>::new());
    assert_eq!(list_names(app, "sort=name").await, by_name);
    let mut reversed = by_name;
    reversed.reverse();
    assert_eq!(list_names(app, "sort=-name").await, reversed);
    let uri = "/v1/report-definitions?kind=sales";
    expect(
        app,
        GET,
        uri,
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "bad_query",
    )
    .await;
    let uri = "/v1/report-definitions?sort=owner";
    expect(
        app,
        GET,
        uri,
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "bad_query",
    )
    .await;

    // Pages of two, by every sort.
    for (query, expected) in [("sort=name", by_name), ("sort=created_at", by_creation)] {
        let pages = all_pages(app, "report-definitions", "definitions", query, 2, VIEWER_A).await;
        let got: Vec<String> = pages.iter().map(|d| str_of(&d["name"])).collect();
        assert_eq!(got, expected, "{query}");
    }

    // Update: the version grows, the creator stays.
    let bravo = &ids[3];
    let changed = json!({"name": "Bravo campaigns v2", "tags": ["weekly"], "kind": "campaign_reports",
                         "parameters": {"status": "COMPLETED"}, "formats": ["json", "csv"]});
    let uri = format!("/v1/report-definitions/{bravo}");
    let updated = expect(app, PUT, &uri, EDITOR_A, Some(&changed), StatusCode::OK, "")
        .await
        .json();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "Bravo campaigns v2");
    assert_eq!(updated["parameters"], json!({"status": "COMPLETED"}));
    assert_eq!(updated["formats"], json!(["json", "csv"]));
    assert_eq!(updated["created_by"], "eve");
    assert!(
        instant(&updated["updated_at"]) > instant(&updated["created_at"]),
        "{updated}"
    );
    assert_eq!(get_json(app, &uri, VIEWER_A).await, updated);
    let newest_first = get_json(app, "/v1/report-definitions?sort=-updated_at", VIEWER_A).await;
    assert_eq!(names(&newest_first)[0], "Bravo campaigns v2");
    let times: Vec<DateTime<Utc>> = newest_first["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| instant(&d["updated_at"]))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let pages = all_pages(
        app,
        "report-definitions",
        "definitions",
        "sort=-updated_at",
        2,
        VIEWER_A,
    )
    .await;
    assert_eq!(
        pages,
        newest_first["definitions"].as_array().unwrap().clone()
    );

    // Duplicate.
    let uri = format!("/v1/report-definitions/{charlie}/duplicate");
    let copy = expect(app, POST, &uri, EDITOR_A, None, StatusCode::CREATED, "")
        .await
        .json();
    assert_eq!(copy["name"], "Charlie weekly numbers (copy)");
    assert_ne!(copy["id"], created["id"]);
    assert_eq!(copy["version"], 1);
    for field in ["kind", "parameters", "formats", "tags", "description"] {
        assert_eq!(copy[field], created[field], "{field}");
    }

    // Delete: gone from GET and the lists, once.
    let delta = format!("/v1/report-definitions/{}", ids[4]);
    expect(
        app,
        DELETE,
        &delta,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    expect(
        app,
        GET,
        &delta,
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        DELETE,
        &delta,
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let body = campaigns_body("Delta again", &["csv"]);
    expect(
        app,
        PUT,
        &delta,
        EDITOR_A,
        Some(&body),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let run = format!("{delta}/run");
    expect(
        app,
        POST,
        &run,
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed = list_names(app, "sort=name").await;
    assert!(!listed.iter().any(|n| n.starts_with("Delta")), "{listed:?}");
    assert_eq!(listed.len(), 5, "{listed:?}");
    s.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_are_400s_naming_the_field() {
    let s = setup("defs_bad").await;
    let app = &s.app;
    let base = campaigns_body("x", &["csv"]);
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let between = json!({"range": {"type": "between", "from": "2026-11-08", "to": "2026-11-07"}});
    let cases = [
        (with("kind", json!("sales")), "kind:"),
        (with("formats", json!(["csv", "docx"])), "formats[1]:"),
        (with("formats", json!([])), "formats:"),
        (with("parameters", between), "parameters.range:"),
        (
            with("parameters", json!({"granularity": "day"})),
            "parameters.granularity:",
        ),
        (
            json!({"name": "j", "kind": "journeys", "parameters": {"campaign_id": "camp-1"}, "formats": ["csv"]}),
            "parameters.job_id:",
        ),
        (with("name", json!("  ")), "name:"),
        (
            with("owner", json!("me")),
            "invalid definition: unknown field `owner`",
        ),
    ];
    let id = create_id(app, &base).await;
    let one = format!("/v1/report-definitions/{id}");
    for (body, field) in &cases {
        for (method, uri) in [(POST, "/v1/report-definitions"), (PUT, one.as_str())] {
            let a = expect(
                app,
                method,
                uri,
                EDITOR_A,
                Some(body),
                StatusCode::BAD_REQUEST,
                "bad_definition",
            )
            .await;
            assert!(a.message().starts_with(field), "{body}: {}", a.text());
        }
    }
    // Nothing was created or changed.
    assert_eq!(list_names(app, "").await, ["x"]);
    assert_eq!(get_json(app, &one, VIEWER_A).await["version"], 1);
    s.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_only_read_and_other_tenants_see_nothing() {
    let s = setup("defs_roles").await;
    let app = &s.app;
    let body = campaigns_body("Mine", &["json"]);
    let id = create_id(app, &body).await;
    let one = format!("/v1/report-definitions/{id}");
    let schedule = json!({"preset": {"type": "daily", "time": "08:00"}});
    let changes = [
        (POST, "/v1/report-definitions".to_owned(), Some(&body)),
        (PUT, one.clone(), Some(&body)),
        (DELETE, one.clone(), None),
        (POST, format!("{one}/run"), None),
        (POST, format!("{one}/duplicate"), None),
        (PUT, format!("{one}/schedule"), Some(&schedule)),
    ];
    for (method, uri, body) in &changes {
        expect(
            app,
            method.clone(),
            uri,
            VIEWER_A,
            *body,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_eq!(get_json(app, &one, VIEWER_A).await["name"], "Mine");

    // Tenant b's editor: 404 on a's definition, whatever the route.
    expect(
        app,
        GET,
        &one,
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for (method, uri, body) in changes.iter().skip(1) {
        expect(
            app,
            method.clone(),
            uri,
            EDITOR_B,
            *body,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for action in ["pause", "resume"] {
        let uri = format!("{one}/schedule/{action}");
        expect(
            app,
            POST,
            &uri,
            EDITOR_B,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let theirs = get_json(app, "/v1/report-definitions", EDITOR_B).await;
    assert_eq!(theirs["definitions"], json!([]));
    assert_eq!(
        get_json(app, "/v1/report-runs", EDITOR_B).await["runs"],
        json!([])
    );

    // a's definition is untouched: no schedule, no run, version 1.
    let mine = get_json(app, &one, VIEWER_A).await;
    assert_eq!(
        (mine["version"].clone(), mine["schedule"].clone()),
        (json!(1), Value::Null)
    );
    assert_eq!(
        get_json(app, "/v1/report-runs", VIEWER_A).await["runs"],
        json!([])
    );
    assert_eq!(list_names(app, "").await, ["Mine"]);
    s.db.drop().await;
}

// ------------------------------------------------------------- schedules

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_follow_their_time_zone_and_pause_resume_and_cancel() {
    let s = setup("schedules").await;
    let app = &s.app;
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let weekly = create_id(app, &campaigns_body("Weekly Berlin", &["xlsx"])).await;
    let one = format!("/v1/report-definitions/{weekly}");
    let uri = format!("{one}/schedule");
    let before = Utc::now();
    let body = json!({"preset": {"type": "weekly", "weekday": "Monday", "time": "08:00"},
                      "timezone": "Europe/Berlin",
                      "recipients": ["ops@example.com", "https://hooks.example.com/reports"]});
    let sched = expect(app, PUT, &uri, EDITOR_A, Some(&body), StatusCode::OK, "")
        .await
        .json();
    let next = instant(&sched["next_run_at"]);
    assert_eq!(
        next,
        next_local(berlin, Some(Weekday::Mon), 8, 0, before),
        "{sched}"
    );
    assert!(
        next > Utc::now() && next <= before + chrono::Duration::days(7),
        "{sched}"
    );
    let local = str_of(&sched["next_run_at_local"]);
    assert!(
        local.ends_with("T08:00:00.000+01:00") || local.ends_with("T08:00:00.000+02:00"),
        "{local}"
    );
    let parsed = DateTime::parse_from_rfc3339(&local).unwrap();
    assert_eq!(
        (parsed.with_timezone(&Utc), parsed.weekday()),
        (next, Weekday::Mon)
    );
    assert!(str_of(&sched["description"]).contains("Monday"), "{sched}");
    assert_eq!(
        sched["preset"],
        json!({"type": "weekly", "weekday": "monday", "time": "08:00"})
    );
    assert_eq!(sched["cron"], Value::Null);
    assert_eq!(sched["timezone"], "Europe/Berlin");
    assert_eq!(sched["recipients"], body["recipients"]);
    assert_eq!(
        (sched["enabled"].clone(), sched["missed"].clone()),
        (json!(true), json!("once"))
    );
    assert_eq!(get_json(app, &one, VIEWER_A).await["schedule"], sched);

    // Without a time zone: the tenant's (UTC); a cron expression replaces it.
    let daily = create_id(app, &campaigns_body("Daily", &["csv"])).await;
    let daily_uri = format!("/v1/report-definitions/{daily}/schedule");
    let before = Utc::now();
    let body = json!({"preset": {"type": "daily", "time": "06:30"}});
    let d = expect(
        app,
        PUT,
        &daily_uri,
        EDITOR_A,
        Some(&body),
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(d["timezone"], "UTC");
    assert_eq!(
        instant(&d["next_run_at"]),
        next_local(chrono_tz::UTC, None, 6, 30, before)
    );
    assert!(
        str_of(&d["next_run_at_local"]).ends_with("T06:30:00.000+00:00"),
        "{d}"
    );
    let before = Utc::now();
    let body = json!({"cron": "15 9 * * *", "timezone": "America/New_York"});
    let d = expect(
        app,
        PUT,
        &daily_uri,
        EDITOR_A,
        Some(&body),
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(
        (d["cron"].clone(), d["preset"].clone(), d["version"].clone()),
        (json!("15 9 * * *"), Value::Null, json!(2))
    );
    let new_york: Tz = "America/New_York".parse().unwrap();
    assert_eq!(
        instant(&d["next_run_at"]),
        next_local(new_york, None, 9, 15, before)
    );

    // Bad schedules: 400 naming the field; the schedule is unchanged.
    let preset = json!({"type": "weekly", "weekday": "monday", "time": "08:00"});
    for (body, field) in [
        (json!({"cron": "61 * * * *"}), "cron:"),
        (
            json!({"preset": preset, "timezone": "Mars/Olympus"}),
            "timezone:",
        ),
        (
            json!({"preset": preset, "recipients": ["not-an-address"]}),
            "recipients[0]:",
        ),
        (
            json!({"preset": preset, "recipients": ["ops@example.com", "ftp://x"]}),
            "recipients[1]:",
        ),
        (
            json!({"preset": {"type": "weekly", "weekday": "someday", "time": "08:00"}}),
            "preset.weekday:",
        ),
        (
            json!({"preset": {"type": "daily", "time": "24:00"}}),
            "preset.time:",
        ),
        (
            json!({"preset": preset, "every": "week"}),
            "invalid schedule: unknown field `every`",
        ),
    ] {
        let a = expect(
            app,
            PUT,
            &uri,
            EDITOR_A,
            Some(&body),
            StatusCode::BAD_REQUEST,
            "bad_schedule",
        )
        .await;
        assert!(a.message().starts_with(field), "{body}: {}", a.text());
    }
    assert_eq!(get_json(app, &one, VIEWER_A).await["schedule"], sched);

    // Pause and resume.
    let paused = expect(
        app,
        POST,
        &format!("{uri}/pause"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(paused["enabled"], false);
    assert_eq!(
        (
            paused["next_run_at"].clone(),
            paused["next_run_at_local"].clone()
        ),
        (Value::Null, Value::Null)
    );
    assert_eq!(paused["recipients"], sched["recipients"]);
    let listed = get_json(app, "/v1/schedules", VIEWER_A).await["schedules"].clone();
    let entries: Vec<(String, String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                str_of(&e["definition_id"]),
                str_of(&e["definition_name"]),
                e["schedule"]["enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (daily.clone(), "Daily".into(), true),
            (weekly.clone(), "Weekly Berlin".into(), false)
        ]
    );
    let before = Utc::now();
    let resumed = expect(
        app,
        POST,
        &format!("{uri}/resume"),
        EDITOR_A,
        None,
        StatusCode::OK,
        "",
    )
    .await
    .json();
    assert_eq!(resumed["enabled"], true);
    assert_eq!(
        instant(&resumed["next_run_at"]),
        next_local(berlin, Some(Weekday::Mon), 8, 0, before)
    );
    expect(
        app,
        POST,
        &format!("{uri}/pause"),
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        get_json(app, "/v1/schedules", EDITOR_B).await["schedules"],
        json!([])
    );

    // Cancel: gone, and pausing it is a 404.
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
        POST,
        &format!("{uri}/pause"),
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        POST,
        &format!("{uri}/resume"),
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        DELETE,
        &uri,
        EDITOR_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(get_json(app, &one, VIEWER_A).await["schedule"], Value::Null);
    // Deleting a definition drops its schedule too.
    let daily_one = format!("/v1/report-definitions/{daily}");
    expect(
        app,
        DELETE,
        &daily_one,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    assert_eq!(
        get_json(app, "/v1/schedules", VIEWER_A).await["schedules"],
        json!([])
    );
    s.db.drop().await;
}

// ------------------------------------------------------------- scheduler

/// A definition with a daily 08:00 UTC schedule (`missed` policy), then
/// made due at `due_at` through the metadata API.
async fn due_schedule(s: &Setup, name: &str, missed: &str, due_at: DateTime<Utc>) -> String {
    let id = create_id(&s.app, &campaigns_body(name, &["json"])).await;
    let uri = format!("/v1/report-definitions/{id}/schedule");
    let body = json!({"preset": {"type": "daily", "time": "08:00"}, "missed": missed,
                      "recipients": ["ops@example.com"]});
    expect(&s.app, PUT, &uri, EDITOR_A, Some(&body), StatusCode::OK, "").await;
    set_due(s, &id, due_at).await;
    id
}

async fn set_due(s: &Setup, id: &str, due_at: DateTime<Utc>) {
    let m = &s.db.metadata;
    let stored = m.schedule("a", id).await.unwrap().unwrap();
    let put = m
        .put_schedule("a", "eve", id, &stored.spec, true, Some(due_at))
        .await;
    assert_eq!(put.unwrap().unwrap().next_run_at, Some(due_at));
}

async fn runs_of(app: &Router, definition: &str) -> Vec<Value> {
    let uri = format!("/v1/report-runs?definition_id={definition}");
    get_json(app, &uri, VIEWER_A).await["runs"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_a_missed_schedule_once_and_skips_when_told() {
    let s = setup("scheduler").await;
    let app = &s.app;
    let now = Utc::now().trunc_subsecs(0);
    let three_days_ago = now - chrono::Duration::days(3);
    let once = due_schedule(&s, "Missed, once", "once", three_days_ago).await;
    let skip = due_schedule(&s, "Missed, skip", "skip", three_days_ago).await;
    let on_time_at = now - chrono::Duration::seconds(60);
    let on_time = due_schedule(&s, "On time", "once", on_time_at).await;

    let before = Utc::now();
    let created = scheduler::step(&s.reports).await.unwrap();
    let after = Utc::now();
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(
        scheduler::step(&s.reports).await.unwrap(),
        Vec::<String>::new()
    );

    // Missed three days: one run, for the latest missed 08:00.
    let runs = runs_of(app, &once).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(
        (run["trigger"].clone(), run["state"].clone()),
        (json!("schedule"), json!("queued"))
    );
    let latest = [last_daily_utc(8, before), last_daily_utc(8, after)];
    assert!(latest.contains(&instant(&run["scheduled_for"])), "{run}");
    assert_eq!(run["recipients"], json!(["ops@example.com"]));
    assert!(created.contains(&str_of(&run["id"])));
    // On time: the due instant itself.
    let runs = runs_of(app, &on_time).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(instant(&runs[0]["scheduled_for"]), on_time_at);
    // Skipped: none.
    assert_eq!(runs_of(app, &skip).await, Vec::<Value>::new());

    // Every schedule's next run is in the future, at 08:00 UTC.
    let expected_next = next_local(chrono_tz::UTC, None, 8, 0, after);
    for id in [&once, &skip, &on_time] {
        let sched = get_json(app, &format!("/v1/report-definitions/{id}"), VIEWER_A).await
            ["schedule"]
            .clone();
        let next = instant(&sched["next_run_at"]);
        assert!(next > after, "{sched}");
        assert!(
            next == expected_next || next == next_local(chrono_tz::UTC, None, 8, 0, before),
            "{sched}"
        );
    }
    let sched =
        s.db.metadata
            .schedule("a", &on_time)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(sched.last_scheduled_for, Some(on_time_at));

    // The same instant due again (a second scheduler, a restore): no second run.
    set_due(&s, &on_time, on_time_at).await;
    assert_eq!(
        scheduler::step(&s.reports).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(runs_of(app, &on_time).await.len(), 1);
    // A paused schedule never runs.
    set_due(&s, &skip, on_time_at).await;
    let uri = format!("/v1/report-definitions/{skip}/schedule/pause");
    expect(app, POST, &uri, EDITOR_A, None, StatusCode::OK, "").await;
    assert_eq!(
        scheduler::step(&s.reports).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(runs_of(app, &skip).await, Vec::<Value>::new());
    s.db.drop().await;
}

// ------------------------------------------------------------- runs

/// The rows of one table of a CSV file (no quoted fields in it), by header.
fn csv_rows(text: &str) -> Vec<serde_json::Map<String, Value>> {
    assert!(!text.contains('"'), "quoted fields: {text}");
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{line}");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), json!(c)))
                .collect()
        })
        .collect()
}

/// A cell (CSV text or an XLSX cell as JSON) holds the API's value.
fn same_figure(api: &Value, cell: &Value, what: &str) {
    match (api, cell) {
        (Value::Null, c) => assert!(c.is_null() || c == "", "{what}: {c} for null"),
        (Value::Number(n), Value::String(text)) => {
            assert_eq!(text.parse::<f64>().ok(), n.as_f64(), "{what}")
        }
        (Value::Number(n), Value::Number(c)) => assert_eq!(c.as_f64(), n.as_f64(), "{what}"),
        (a, c) => assert_eq!(a, c, "{what}"),
    }
}

fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().unwrap().into_owned(), text)
        })
        .collect()
}

/// The cells of an XLSX sheet's rows as JSON (numbers as numbers, times
/// as RFC 3339 with milliseconds), by header; asserts each cell's type.
fn xlsx_rows(bytes: &[u8], sheet: &str) -> Vec<serde_json::Map<String, Value>> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range(sheet).unwrap();
    let mut rows = range.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    rows.map(|row| {
        header
            .iter()
            .zip(row)
            .map(|(h, cell)| {
                let value = match cell {
                    Data::Empty => Value::Null,
                    Data::String(s) => json!(s),
                    Data::Float(x) => json!(x),
                    Data::Int(n) => json!(n),
                    Data::Bool(b) => json!(b),
                    Data::DateTime(t) => {
                        let at = t.as_datetime().unwrap().and_utc();
                        // Excel keeps days as a float: round to the millisecond.
                        let ms = (at.timestamp_micros() as f64 / 1000.0).round() as i64;
                        json!(millis(DateTime::from_timestamp_millis(ms).unwrap()))
                    }
                    other => panic!("{sheet}.{h}: unexpected cell {other:?}"),
                };
                (h.clone(), value)
            })
            .collect()
    })
    .collect()
}

/// Every column of `rows` holds the figures of the API's `api` rows (by campaign).
fn same_rows(api: &[Value], rows: &[serde_json::Map<String, Value>], what: &str) {
    assert_eq!(rows.len(), api.len(), "{what}");
    for expected in api {
        let id = &expected["campaign_id"];
        let row = rows
            .iter()
            .find(|r| &r["campaign_id"] == id)
            .unwrap_or_else(|| panic!("{what}: no {id}"));
        let mut compared = 0;
        for (column, cell) in row {
            if let Some(value) = expected.get(column) {
                same_figure(value, cell, &format!("{what} {id} {column}"));
                compared += 1;
            }
        }
        assert!(compared >= 14, "{what}: only {compared} columns compared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_renders_every_format_with_the_api_figures_behind_signed_links() {
    let s = setup("runs").await;
    let app = &s.app;
    let _worker = s.start_worker();
    let formats = ["csv", "json", "xlsx", "pdf", "html"];
    let id = create_id(app, &campaigns_body("All campaigns", &formats)).await;
    let run_id = run_now(app, &id).await;
    let run = finished_run(app, &run_id).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(
        (run["progress"].clone(), run["attempts"].clone()),
        (json!(100), json!(1))
    );
    assert_eq!(run["as_of"], newest_snapshot_of_a(), "{run}");
    // 2 campaigns, 1 job, 3 reports x 2 funnel steps, 2 node choices.
    assert_eq!(run["rows"], 11, "{run}");
    let mut got: Vec<String> = run["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| str_of(&f["format"]))
        .collect();
    got.sort();
    assert_eq!(got, ["csv", "html", "json", "pdf", "xlsx"]);
    assert_eq!(run["deliveries"], json!([]));
    let listed = runs_of(app, &id).await;
    assert_eq!(
        (listed.len(), listed[0]["state"].clone()),
        (1, json!("succeeded"))
    );

    // The API's figures of tenant a.
    let api = get_json(app, "/v1/campaigns", VIEWER_A).await["campaigns"].clone();
    let api = api.as_array().unwrap();
    assert_eq!(api.len(), 2);

    // JSON: the API's JSON.
    let json_link = link(app, &run_id, "json").await;
    let expires = instant(&json_link["expires_at"]);
    assert!(
        expires > Utc::now() + chrono::Duration::minutes(59),
        "{json_link}"
    );
    let file = run["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["format"] == "json")
        .unwrap()
        .clone();
    assert_eq!(
        (json_link["filename"].clone(), json_link["size"].clone()),
        (file["file_name"].clone(), file["size"].clone())
    );
    assert!(
        str_of(&json_link["filename"]).ends_with(".json"),
        "{json_link}"
    );
    let a = fetch(app, &json_link).await;
    assert!(
        a.content_type.starts_with("application/json"),
        "{}",
        a.content_type
    );
    let doc = a.json();
    assert_eq!(doc["tables"]["campaigns"], json!(api), "{doc}");
    assert_eq!(doc["tenant"], "a");
    assert_eq!(
        instant(&doc["as_of"]),
        instant(&run["as_of"]),
        "the file says which snapshot it shows"
    );
    assert_eq!(doc["tables"]["jobs"].as_array().unwrap().len(), 1);
    assert!(!a.text().contains("camp-b"));

    // CSV: a zip of one file per table, the same figures.
    let a = fetch(app, &link(app, &run_id, "csv").await).await;
    let entries = unzip(&a.body);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "campaigns.csv",
            "jobs.csv",
            "funnel.csv",
            "node_choices.csv"
        ]
    );
    same_rows(api, &csv_rows(&entries[0].1), "campaigns.csv");
    let jobs = get_json(app, "/v1/campaigns/camp-1/jobs", VIEWER_A).await;
    let jobs = jobs["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{jobs}"));
    same_rows(&jobs, &csv_rows(&entries[1].1), "jobs.csv");
    assert_eq!(
        entries[2].1.split("\r\n").filter(|l| !l.is_empty()).count(),
        7
    );

    // XLSX: typed cells with the same figures.
    let a = fetch(app, &link(app, &run_id, "xlsx").await).await;
    let book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(a.body.clone())).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["Summary", "Campaigns", "Jobs", "Funnel", "Node choices"]
    );
    let rows = xlsx_rows(&a.body, "Campaigns");
    assert!(
        rows.iter()
            .all(|r| r["sent_users"].is_number() && r["interaction_rate"].is_number()),
        "{rows:?}"
    );
    same_rows(api, &rows, "Campaigns sheet");

    // PDF and HTML.
    let a = fetch(app, &link(app, &run_id, "pdf").await).await;
    assert!(
        a.body.starts_with(b"%PDF"),
        "{:?}",
        &a.body[..16.min(a.body.len())]
    );
    let html = fetch(app, &link(app, &run_id, "html").await).await.text();
    assert!(html.contains("camp-1") && html.contains("camp-2") && !html.contains("camp-b"));

    // Links refused: tampered, another format, expired; bad parameters.
    let path = path_of(&json_link);
    let (head, signature) = path.rsplit_once("signature=").unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{head}signature={flipped}{}", &signature[1..]);
    let other_format = path.replace("/json?", "/csv?");
    let later = path.replace(
        &format!("expires={}", expires.timestamp()),
        &format!("expires={}", expires.timestamp() + 60),
    );
    for uri in [tampered, other_format, later] {
        expect(
            app,
            GET,
            &uri,
            NO_KEY,
            None,
            StatusCode::FORBIDDEN,
            "link_refused",
        )
        .await;
    }
    let short = link(app, &run_id, "pdf&expires_in=1").await;
    let deadline = instant(&short["expires_at"]).timestamp();
    while Utc::now().timestamp() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = expect(
        app,
        GET,
        &path_of(&short),
        NO_KEY,
        None,
        StatusCode::FORBIDDEN,
        "link_refused",
    )
    .await;
    assert!(a.message().contains("expired"), "{}", a.text());
    let uri = format!("/v1/report-runs/{run_id}/download?format=docx");
    expect(
        app,
        GET,
        &uri,
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "bad_format",
    )
    .await;
    for ttl in ["0", "604801", "soon"] {
        let uri = format!("/v1/report-runs/{run_id}/download?format=csv&expires_in={ttl}");
        expect(
            app,
            GET,
            &uri,
            VIEWER_A,
            None,
            StatusCode::BAD_REQUEST,
            "bad_query",
        )
        .await;
    }
    let uri = format!("/v1/report-runs/{run_id}/download?format=csv");
    expect(app, GET, &uri, NO_KEY, None, StatusCode::UNAUTHORIZED, "").await;

    // Another tenant's run is a 404 everywhere; a finished run is not cancelled.
    for (method, uri) in [
        (GET, format!("/v1/report-runs/{run_id}")),
        (
            GET,
            format!("/v1/report-runs/{run_id}/download?format=json"),
        ),
        (POST, format!("/v1/report-runs/{run_id}/cancel")),
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
    let uri = format!("/v1/report-runs/{run_id}/cancel");
    expect(
        app,
        POST,
        &uri,
        EDITOR_A,
        None,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    s.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_cancel_once_and_a_missing_job_fails_without_retries() {
    let s = setup("runs_cancel").await;
    let app = &s.app;
    // No worker yet: the run stays queued.
    let id = create_id(app, &campaigns_body("To cancel", &["csv"])).await;
    let queued = run_now(app, &id).await;
    let cancel = format!("/v1/report-runs/{queued}/cancel");
    expect(
        app,
        POST,
        &cancel,
        VIEWER_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let cancelled = expect(app, POST, &cancel, EDITOR_A, None, StatusCode::OK, "")
        .await
        .json();
    assert_eq!(cancelled["state"], "cancelled");
    let a = expect(
        app,
        POST,
        &cancel,
        EDITOR_A,
        None,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(a.message().contains("cancelled"), "{}", a.text());
    let uri = format!("/v1/report-runs/{queued}/download?format=csv");
    expect(
        app,
        GET,
        &uri,
        VIEWER_A,
        None,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // A job that does not exist fails at once; an existing one exports.
    let journeys = |job: &str| {
        json!({"name": format!("Journeys of {job}"), "kind": "journeys",
               "parameters": {"campaign_id": "camp-1", "job_id": job}, "formats": ["csv"]})
    };
    let missing = run_now(app, &create_id(app, &journeys("no-such-job")).await).await;
    let exported = run_now(app, &create_id(app, &journeys("job-1")).await).await;
    let _worker = s.start_worker();
    let failed = finished_run(app, &missing).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(str_of(&failed["error"]).contains("no-such-job"), "{failed}");
    assert_eq!(
        (failed["attempts"].clone(), failed["files"].clone()),
        (json!(1), json!([]))
    );
    let done = finished_run(app, &exported).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["rows"], 2);
    assert_eq!(
        done["as_of"],
        millis(DateTime::from_timestamp(i64::from(SNAP + 60), 0).unwrap()),
        "a journeys export is as of its job report"
    );
    let text = fetch(app, &link(app, &exported, "csv").await).await.text();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("u1,true,end,") && lines[2].starts_with("u2,false,,"),
        "{text}"
    );
    // The worker never touched the cancelled run.
    let still = get_json(app, &format!("/v1/report-runs/{queued}"), VIEWER_A).await;
    assert_eq!(
        (still["state"].clone(), still["attempts"].clone()),
        (json!("cancelled"), json!(0))
    );

    // Lists by status, and pages of one.
    let by_status = |status: &str| format!("/v1/report-runs?status={status}");
    for (status, id) in [
        ("failed", &missing),
        ("cancelled", &queued),
        ("succeeded", &exported),
    ] {
        let runs = get_json(app, &by_status(status), VIEWER_A).await["runs"].clone();
        assert_eq!(runs.as_array().unwrap().len(), 1, "{status}: {runs}");
        assert_eq!(&runs[0]["id"], id);
    }
    expect(
        app,
        GET,
        &by_status("done"),
        VIEWER_A,
        None,
        StatusCode::BAD_REQUEST,
        "bad_status",
    )
    .await;
    let pages = all_pages(app, "report-runs", "runs", "", 1, VIEWER_A).await;
    let ids: Vec<String> = pages.iter().map(|r| str_of(&r["id"])).collect();
    assert_eq!(ids, [exported.clone(), missing.clone(), queued.clone()]);
    s.db.drop().await;
}

// ------------------------------------------------------------- audit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_holds_every_change_and_download_for_admins_only() {
    let s = setup("audit").await;
    let app = &s.app;
    let _worker = s.start_worker();
    let id = create_id(app, &campaigns_body("Audited", &["json"])).await;
    let one = format!("/v1/report-definitions/{id}");
    let body = campaigns_body("Audited v2", &["json"]);
    expect(app, PUT, &one, EDITOR_A, Some(&body), StatusCode::OK, "").await;
    let run = run_now(app, &id).await;
    assert_eq!(finished_run(app, &run).await["state"], "succeeded");
    fetch(app, &link(app, &run, "json").await).await;
    expect(
        app,
        DELETE,
        &one,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;

    let entries = get_json(app, "/v1/audit", ADMIN_A).await["entries"].clone();
    let entries = entries.as_array().unwrap();
    let got: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                str_of(&e["action"]),
                str_of(&e["entity"]),
                str_of(&e["entity_id"]),
                str_of(&e["principal"]),
            )
        })
        .collect();
    let entry = |action: &str, entity: &str, entity_id: &str, principal: &str| {
        (
            action.to_owned(),
            entity.to_owned(),
            entity_id.to_owned(),
            principal.to_owned(),
        )
    };
    assert_eq!(
        got,
        [
            entry("delete", "report_definition", &id, "eve"),
            entry("download", "report_run", &run, "signed-link"),
            entry("download_link", "report_run", &run, "ann"),
            entry("run", "report_definition", &id, "eve"),
            entry("update", "report_definition", &id, "eve"),
            entry("create", "report_definition", &id, "eve"),
        ]
    );
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert_eq!(entries[2]["detail"]["format"], "json");
    let pages = all_pages(app, "audit", "entries", "", 4, ADMIN_A).await;
    assert_eq!(&pages, entries);
    let runs_only = get_json(app, "/v1/audit?action=run", ADMIN_A).await["entries"].clone();
    assert_eq!(runs_only.as_array().unwrap().len(), 1);

    for key in [VIEWER_A, EDITOR_A, EDITOR_B] {
        expect(
            app,
            GET,
            "/v1/audit",
            key,
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_eq!(
        get_json(app, "/v1/audit", ADMIN_B).await["entries"],
        json!([])
    );
    s.db.drop().await;
}

// ------------------------------------------------------------- templates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_system_and_tenant_make_definitions() {
    let s = setup("templates").await;
    let app = &s.app;
    let systems = [
        "system.weekly-tenant-overview",
        "system.running-campaigns-performance",
        "system.job-journeys-export",
    ];
    let list = get_json(app, "/v1/report-templates", VIEWER_A).await["templates"].clone();
    let ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(&t["id"]))
        .collect();
    assert_eq!(ids, systems);
    let export = get_json(
        app,
        "/v1/report-templates/system.job-journeys-export",
        VIEWER_A,
    )
    .await;
    assert_eq!(
        (
            export["origin"].clone(),
            export["required_parameters"].clone()
        ),
        (json!("system"), json!(["campaign_id", "job_id"]))
    );
    assert_eq!(export["definition"]["kind"], "journeys");
    let uri = "/v1/report-templates/system.no-such";
    expect(
        app,
        GET,
        uri,
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // System templates are read-only.
    let tenant_template = json!({
        "name": "Campaign pack", "description": "Chosen campaigns",
        "definition": {"name": "Pack", "kind": "campaign_reports", "parameters": {"status": "RUNNING"}, "formats": ["csv"]},
        "required_parameters": ["campaign_ids"],
    });
    let system = "/v1/report-templates/system.job-journeys-export";
    expect(
        app,
        PUT,
        system,
        EDITOR_A,
        Some(&tenant_template),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect(
        app,
        DELETE,
        system,
        EDITOR_A,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Instantiating needs the required parameters.
    let instantiate = format!("{system}/instantiate");
    let a = expect(
        app,
        POST,
        &instantiate,
        EDITOR_A,
        Some(&json!({})),
        StatusCode::BAD_REQUEST,
        "bad_definition",
    )
    .await;
    assert!(
        a.message().starts_with("parameters.campaign_id:"),
        "{}",
        a.text()
    );
    let only_campaign = json!({"parameters": {"campaign_id": "camp-1"}});
    let a = expect(
        app,
        POST,
        &instantiate,
        EDITOR_A,
        Some(&only_campaign),
        StatusCode::BAD_REQUEST,
        "bad_definition",
    )
    .await;
    assert!(
        a.message().starts_with("parameters.job_id:"),
        "{}",
        a.text()
    );
    let given = json!({"parameters": {"campaign_id": "camp-1", "job_id": "job-1"}});
    expect(
        app,
        POST,
        &instantiate,
        VIEWER_A,
        Some(&given),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let d = expect(
        app,
        POST,
        &instantiate,
        EDITOR_A,
        Some(&given),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    assert_eq!(d["template_id"], "system.job-journeys-export");
    assert_eq!(
        (d["kind"].clone(), d["name"].clone()),
        (json!("journeys"), json!("Journeys export of a job"))
    );
    assert_eq!(
        d["parameters"],
        json!({"campaign_ids": ["camp-1"], "job_id": "job-1"})
    );
    assert_eq!(
        (d["created_by"].clone(), d["version"].clone()),
        (json!("eve"), json!(1))
    );
    let stored = get_json(
        app,
        &format!("/v1/report-definitions/{}", str_of(&d["id"])),
        VIEWER_A,
    )
    .await;
    assert_eq!(stored, d);

    // A tenant template: created, updated, instantiated, deleted.
    let uri = "/v1/report-templates";
    expect(
        app,
        POST,
        uri,
        VIEWER_A,
        Some(&tenant_template),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let t = expect(
        app,
        POST,
        uri,
        EDITOR_A,
        Some(&tenant_template),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    assert_eq!(
        (t["origin"].clone(), t["version"].clone(), t["name"].clone()),
        (json!("tenant"), json!(1), json!("Campaign pack"))
    );
    assert_eq!(t["required_parameters"], json!(["campaign_ids"]));
    let one = format!("/v1/report-templates/{}", str_of(&t["id"]));
    let mut changed = tenant_template.clone();
    changed["name"] = json!("Campaign pack v2");
    changed["definition"]["formats"] = json!(["csv", "xlsx"]);
    let t2 = expect(app, PUT, &one, EDITOR_A, Some(&changed), StatusCode::OK, "")
        .await
        .json();
    assert_eq!(
        (t2["version"].clone(), t2["name"].clone()),
        (json!(2), json!("Campaign pack v2"))
    );
    assert_eq!(get_json(app, &one, VIEWER_A).await, t2);
    let list = get_json(app, "/v1/report-templates", VIEWER_A).await["templates"].clone();
    let ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(&t["id"]))
        .collect();
    assert_eq!(ids[..3], systems);
    assert_eq!(ids[3..], [str_of(&t["id"])]);
    let bad = json!({"name": "Bad", "definition": {"name": "B", "kind": "overview", "formats": ["csv"]},
                     "required_parameters": ["job_id"]});
    expect(
        app,
        POST,
        uri,
        EDITOR_A,
        Some(&bad),
        StatusCode::BAD_REQUEST,
        "bad_definition",
    )
    .await;

    let instantiate = format!("{one}/instantiate");
    expect(
        app,
        POST,
        &instantiate,
        EDITOR_A,
        Some(&json!({})),
        StatusCode::BAD_REQUEST,
        "bad_definition",
    )
    .await;
    let given = json!({"name": "Pack of camp-2", "parameters": {"campaign_ids": ["camp-2"]}});
    let d = expect(
        app,
        POST,
        &instantiate,
        EDITOR_A,
        Some(&given),
        StatusCode::CREATED,
        "",
    )
    .await
    .json();
    assert_eq!(d["template_id"], t["id"]);
    assert_eq!(d["name"], "Pack of camp-2");
    assert_eq!(
        d["parameters"],
        json!({"campaign_ids": ["camp-2"], "status": "RUNNING"})
    );
    assert_eq!(d["formats"], json!(["csv", "xlsx"]));

    // Tenant b sees only the system templates; a's is a 404 for it.
    let theirs = get_json(app, "/v1/report-templates", EDITOR_B).await["templates"].clone();
    assert_eq!(theirs.as_array().unwrap().len(), 3);
    expect(
        app,
        GET,
        &one,
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        PUT,
        &one,
        EDITOR_B,
        Some(&changed),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        POST,
        &instantiate,
        EDITOR_B,
        Some(&given),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        DELETE,
        &one,
        EDITOR_B,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    expect(
        app,
        DELETE,
        &one,
        EDITOR_A,
        None,
        StatusCode::NO_CONTENT,
        "",
    )
    .await;
    expect(
        app,
        GET,
        &one,
        VIEWER_A,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app,
        POST,
        &instantiate,
        EDITOR_A,
        Some(&given),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list = get_json(app, "/v1/report-templates", VIEWER_A).await["templates"].clone();
    assert_eq!(list.as_array().unwrap().len(), 3);
    s.db.drop().await;
}

#[test]
fn the_expected_instants_are_computed_independently() {
    // Guards the helpers the schedule tests compare with.
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    // Monday 2026-03-30 is summer time, 2026-03-23 winter time.
    let after = at("2026-03-23T07:00:00Z");
    assert_eq!(
        next_local(berlin, Some(Weekday::Mon), 8, 0, after),
        at("2026-03-30T06:00:00Z")
    );
    let after = at("2026-03-20T00:00:00Z");
    assert_eq!(
        next_local(berlin, Some(Weekday::Mon), 8, 0, after),
        at("2026-03-23T07:00:00Z")
    );
    assert_eq!(
        last_daily_utc(8, at("2026-03-20T07:59:59Z")),
        at("2026-03-19T08:00:00Z")
    );
    assert_eq!(
        last_daily_utc(8, at("2026-03-20T08:00:00Z")),
        at("2026-03-20T08:00:00Z")
    );
    assert_eq!(
        NaiveDate::from_ymd_opt(2026, 3, 30).unwrap().weekday(),
        Weekday::Mon
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_past_their_retention_are_removed_and_no_longer_download() {
    let s = setup("retention").await;
    let app = &s.app;
    // The same reports, with files kept 1 ms.
    let short = Arc::new(Reports {
        metadata: s.reports.metadata.clone(),
        store: s.reports.store.clone(),
        links: s.reports.links.clone(),
        zones: s.reports.zones.clone(),
        senders: Senders::default(),
        settings: ReportSettings {
            retention: Duration::from_millis(1),
            ..s.reports.settings.clone()
        },
        metrics: ReportMetrics::new(&prometheus::Registry::new()),
    });
    let _worker = Worker(tokio::spawn(worker::run_worker(
        short.clone(),
        s.reader.clone(),
        0,
    )));
    let id = create_id(app, &campaigns_body("Kept briefly", &["csv", "pdf"])).await;
    let run_id = run_now(app, &id).await;
    let run = finished_run(app, &run_id).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["files"].as_array().map(Vec::len), Some(2));
    let stored = |dir: &Path| -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |d| {
                d.filter_map(Result::ok)
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            count(&p)
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        count(dir)
    };
    let files_dir = s._dir.0.join("files");
    assert_eq!(stored(&files_dir), 2, "both files are in the store");

    let removed = query_api::reports::retention::remove_expired(&short)
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(stored(&files_dir), 0, "the store holds none of them");
    let run = get_json(app, &format!("/v1/report-runs/{run_id}"), VIEWER_A).await;
    assert_eq!(run["files"], json!([]), "{run}");
    assert_eq!(run["state"], "succeeded", "the run stays");
    let gone = call(
        app,
        Method::GET,
        &format!("/v1/report-runs/{run_id}/download?format=csv"),
        VIEWER_A,
        None,
    )
    .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::CONFLICT, "conflict".to_owned())
    );
    // A second round finds nothing more.
    assert_eq!(
        query_api::reports::retention::remove_expired(&short)
            .await
            .unwrap(),
        0
    );
    s.db.drop().await;
}
