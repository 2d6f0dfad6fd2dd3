//! The tenants registry, end to end on the real broker, ClickHouse and
//! PostgreSQL: a platform admin creates a tenant through `/v1/tenants`, a
//! running processor (TENANT_REGISTRY=true) and a running API pick it up
//! from the tenants topic and the metadata database without a restart,
//! and a zone change applies to the events that occur from its
//! `effective_from` on: an event before it keeps its day (also when it
//! arrives after the change), an event after it falls on the new zone's
//! day, in `events_raw` and in the daily rollup the overview reads.
//!
//! The two zones are 26 hours apart (UTC-12 and UTC+14), so their dates
//! differ at every instant: the test means the same whenever it runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::loadgen::expected_json::ExpectedFile;
use chrono::{DateTime, TimeZone, Utc};
use integration_tests::api::{keys, QueryApi};
use integration_tests::compare::{assert_exact, check};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{
    loadgen, loadgen_command, read_expected, wait_caught_up, ProcessorSpec,
};
use integration_tests::{brokers, clickhouse_url, fresh_database, unique};
use metadata::testing::TestDatabase;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use schemas::{Codec, Event, NotificationSent};
use serde_json::{json, Value};

const WEST: &str = "Etc/GMT+12";
const EAST: &str = "Etc/GMT-14";
const TENANT: &str = "acme";
const CAMPAIGN: &str = "registry-campaign";

/// `method path` with the key and a JSON body, through curl (an
/// independent client): (status, body).
fn call(api: &QueryApi, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-X", method, "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {key}"))
        .arg(format!("http://{}{path}", api.addr()));
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(body.to_string());
    }
    let out = cmd.stderr(Stdio::inherit()).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').expect("curl wrote the status");
    let status: u16 = status.trim().parse().expect("an HTTP status");
    let value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
    };
    (status, value)
}

fn date_in(zone: &str, at_ms: i64) -> String {
    let tz: chrono_tz::Tz = zone.parse().expect("zone");
    tz.timestamp_millis_opt(at_ms)
        .single()
        .expect("instant")
        .date_naive()
        .to_string()
}

async fn produce(producer: &FutureProducer, topics: &Topics, n: u32, at_ms: i64) {
    let event_id = format!("{CAMPAIGN}-{n}");
    let user = format!("user-{n}");
    send_notification(
        producer,
        topics,
        (TENANT, CAMPAIGN),
        &event_id,
        &user,
        at_ms,
    )
    .await;
}

/// A first message of `tenant`'s campaign to `user`, keyed by the campaign.
async fn send_notification(
    producer: &FutureProducer,
    topics: &Topics,
    (tenant, campaign): (&str, &str),
    event_id: &str,
    user: &str,
    at_ms: i64,
) {
    let event = Event::Notification(NotificationSent {
        event_id: event_id.into(),
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: "job".into(),
        occurred_at: at_ms,
        user_id: user.into(),
        node_id: None,
        first_message: true,
        warning_message: false,
    });
    let payload = Codec::new().expect("codec").encode(&event).expect("encode");
    producer
        .send(
            FutureRecord::to(&topics.notifications)
                .key(campaign)
                .payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
}

/// (local_date, events) of the tenant's rows in `events_raw` (none while
/// the processor has not made the table yet).
async fn raw_dates(db: &clickhouse::Client) -> Vec<(String, u64)> {
    db.query(
        "SELECT toString(local_date), count() FROM events_raw WHERE tenant_id = ? \
         GROUP BY local_date ORDER BY local_date",
    )
    .bind(TENANT)
    .fetch_all::<(String, u64)>()
    .await
    .unwrap_or_default()
}

async fn wait_for<T: PartialEq + std::fmt::Debug, F, Fut>(what: &str, want: T, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = read().await;
        if got == want || Instant::now() > deadline {
            assert_eq!(got, want, "{what}");
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_change_reaches_the_running_processor_and_api_and_applies_from_its_instant() {
    let topics = Topics::unique("tenants", 2);
    kafka::create(&topics).await;
    let tenants_topic = unique("tenants");
    kafka::create_topic(&tenants_topic, 1).await;
    let (db, client) = fresh_database("e2e_tenants").await;
    let pg = TestDatabase::new("e2e_tenants").await;
    let keys = keys([&TENANT.to_string()]);
    let api = QueryApi::start_with(
        &clickhouse_url(),
        &db,
        // A seed: added to the registry at start.
        "seeded=Asia/Tokyo",
        vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("DATABASE_URL".into(), pg.cfg.database_url.clone()),
            ("KAFKA_BROKERS".into(), brokers()),
            ("TOPIC_TENANTS".into(), tenants_topic.clone()),
            ("TOPIC_ALERT_RULES".into(), unique("rules")),
            ("TOPIC_ALERTS".into(), unique("alerts")),
            ("TENANT_ZONE_CHANGE_DELAY_SECONDS".into(), "3".into()),
        ],
        false,
    )
    .await;
    let admin = keys.admin.clone();
    let tenant_key = keys.of(TENANT).expect("tenant key").to_string();

    // Only platform admins manage tenants.
    let (status, body) = call(&api, "GET", "/v1/tenants", &tenant_key, None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = call(
        &api,
        "POST",
        "/v1/tenants",
        &admin,
        Some(&json!({"id": TENANT, "display_name": "Acme", "timezone": "Mars/Base"})),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_tenant")),
        "{body}"
    );
    let (status, created) = call(
        &api,
        "POST",
        "/v1/tenants",
        &admin,
        Some(
            &json!({"id": TENANT, "display_name": "Acme", "timezone": WEST, "rate_limit_per_second": 50}),
        ),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["timezone"], WEST);
    let (status, _) = call(
        &api,
        "POST",
        "/v1/tenants",
        &admin,
        Some(&json!({"id": TENANT})),
    );
    assert_eq!(status, 409);
    let (status, list) = call(&api, "GET", "/v1/tenants", &admin, None);
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, [TENANT, "seeded"]);

    // Once the tenant is on the tenants topic (a processor that starts
    // before would zone its first events by its seed: ARCHITECTURE.md,
    // "Tenants registry"), the processor follows the registry;
    // TENANT_TIMEZONES says otherwise and loses.
    wait_for("the tenant published", true, || async {
        pg.metadata
            .unpublished_tenants(10)
            .await
            .is_ok_and(|pending| pending.iter().all(|t| t.id != TENANT))
    })
    .await;
    let expected_tz = format!("{TENANT}={EAST}");
    let spec = ProcessorSpec {
        topics: topics.clone(),
        group: unique("e2e-group"),
        database: db.clone(),
        clickhouse_url: clickhouse_url(),
        tenant_timezones: expected_tz,
        extra_env: vec![
            ("TENANT_REGISTRY".into(), "true".into()),
            ("TOPIC_TENANTS".into(), tenants_topic.clone()),
            ("SNAPSHOT_INTERVAL_MS".into(), "200".into()),
        ],
    };
    let mut p = spec.start("tenants");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");

    let before = Utc::now().timestamp_millis();
    produce(&producer, &topics, 1, before).await;
    let west_day = date_in(WEST, before);
    wait_for(
        "the first event, on its western day",
        vec![(west_day.clone(), 1)],
        || raw_dates(&client),
    )
    .await;
    p.assert_running();

    // The change: from at least 3 s ahead.
    let (status, changed) = call(
        &api,
        "PATCH",
        &format!("/v1/tenants/{TENANT}"),
        &admin,
        Some(&json!({"timezone": EAST})),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["timezone"], WEST, "not in effect yet");
    let from: DateTime<Utc> = changed["zones"][1]["effective_from"]
        .as_str()
        .expect("effective_from")
        .parse()
        .expect("RFC 3339");
    assert_eq!(changed["zones"][1]["timezone"], EAST);
    let ahead = from.timestamp_millis() - Utc::now().timestamp_millis();
    assert!((1_000..=3_500).contains(&ahead), "effective in {ahead} ms");
    // A change earlier than the delay allows is refused.
    let (status, body) = call(
        &api,
        "PATCH",
        &format!("/v1/tenants/{TENANT}"),
        &admin,
        Some(&json!({"timezone": "UTC", "timezone_effective_from": Utc::now().to_rfc3339()})),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_tenant")),
        "{body}"
    );

    // Wait until it is in effect; the API sees it without a restart.
    while Utc::now() <= from + chrono::Duration::milliseconds(200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let overview = format!("/v1/overview?tenant_id={TENANT}&granularity=day");
    let (status, body) = call(&api, "GET", &overview, &admin, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timezone"], EAST, "{body}");

    let after = Utc::now().timestamp_millis();
    produce(&producer, &topics, 2, after).await;
    // Late, but it occurred before the change: its day stays western.
    produce(&producer, &topics, 3, before + 1).await;
    let east_day = date_in(EAST, after);
    assert_ne!(east_day, west_day);
    let mut want = vec![(west_day.clone(), 2), (east_day.clone(), 1)];
    want.sort();
    wait_for(
        "events on the day of the zone in effect when they occurred",
        want,
        || raw_dates(&client),
    )
    .await;
    p.assert_running();

    // The overview (daily rollup) shows the same days.
    let body = wait_for("the overview's days", 2, || async {
        let (_, body) = call(&api, "GET", &overview, &admin, None);
        body["periods"].as_array().map_or(0, Vec::len)
    })
    .await;
    assert_eq!(body, 2);
    let (_, body) = call(&api, "GET", &overview, &admin, None);
    let periods: Vec<(String, u64)> = body["periods"]
        .as_array()
        .expect("periods")
        .iter()
        .map(|p| {
            (
                p["period_start"].as_str().unwrap_or_default().to_string(),
                p["sent_users"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut want = vec![(west_day, 2), (east_day, 1)];
    want.sort();
    assert_eq!(periods, want, "{body}");

    // Deleting keeps the calendar; the id is not reused.
    let (status, _) = call(
        &api,
        "DELETE",
        &format!("/v1/tenants/{TENANT}"),
        &admin,
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = call(&api, "GET", &format!("/v1/tenants/{TENANT}"), &admin, None);
    assert_eq!(status, 404);
    let (status, body) = call(
        &api,
        "POST",
        "/v1/tenants",
        &admin,
        Some(&json!({"id": TENANT})),
    );
    assert_eq!(status, 409, "{body}");
    p.stop();
}

/// Small traffic over 40 days: t0 in UTC, t1 in Europe/Berlin.
#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "21", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "30",
    "--days", "40", "--duplicate-ratio", "0.05", "--poison", "0",
];

/// Where the rebuild tests run: a processor following the registry, an
/// API with the registry seeded from loadgen's zones.
struct Registry {
    topics: Topics,
    db: String,
    client: clickhouse::Client,
    spec: ProcessorSpec,
    env: Vec<(String, String)>,
    keys: integration_tests::api::Keys,
    api: QueryApi,
    _pg: TestDatabase,
}

const MOVED: &str = "America/Los_Angeles";

impl Registry {
    /// The topics, the databases and the API; `expected` is loadgen's
    /// (dry run or real) for the zones.
    async fn start(name: &str, topics: Topics, expected: &ExpectedFile) -> Registry {
        let tenants_topic = unique("tenants");
        kafka::create_topic(&tenants_topic, 1).await;
        let (db, client) = fresh_database(name).await;
        let pg = TestDatabase::new(name).await;
        let mut spec = ProcessorSpec::new(&topics, &db, expected);
        spec.extra_env = vec![
            ("TENANT_REGISTRY".into(), "true".into()),
            ("TOPIC_TENANTS".into(), tenants_topic.clone()),
            ("SNAPSHOT_INTERVAL_MS".into(), "200".into()),
        ];
        let keys = keys(expected.tenants.keys());
        let env: Vec<(String, String)> = vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("DATABASE_URL".into(), pg.cfg.database_url.clone()),
            ("KAFKA_BROKERS".into(), brokers()),
            ("TOPIC_TENANTS".into(), tenants_topic),
            ("TOPIC_ALERT_RULES".into(), unique("rules")),
            ("TOPIC_ALERTS".into(), unique("alerts")),
            ("TENANT_ZONE_CHANGE_DELAY_SECONDS".into(), "1".into()),
        ];
        // TENANT_TIMEZONES seeds the registry.
        let api = QueryApi::start_with(
            &clickhouse_url(),
            &db,
            &spec.tenant_timezones,
            env.clone(),
            false,
        )
        .await;
        Registry {
            topics,
            db,
            client,
            spec,
            env,
            keys,
            api,
            _pg: pg,
        }
    }

    /// `PATCH` t1's zone to [`MOVED`].
    fn move_t1(&self) {
        let (status, body) = call(
            &self.api,
            "PATCH",
            "/v1/tenants/t1",
            &self.keys.admin,
            Some(&json!({"timezone": MOVED})),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// `query-api tenant rebuild-rollups --tenant T` with the API's
    /// settings; its output (stdout printed).
    fn rebuild(&self, tenant: &str) -> std::process::Output {
        let out = Command::new(integration_tests::bin("query-api"))
            .args(["tenant", "rebuild-rollups", "--tenant", tenant])
            .args(["--settle-seconds", "2"])
            .env("CLICKHOUSE_URL", clickhouse_url())
            .env("CLICKHOUSE_DATABASE", &self.db)
            .env("TENANT_TIMEZONES", &self.spec.tenant_timezones)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("query-api tenant rebuild-rollups runs");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        out
    }

    /// Run the rebuild of t1, which must succeed and say so.
    fn rebuild_t1(&self) -> String {
        let out = self.rebuild("t1");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("done: t1's rollups are in {MOVED}")),
            "{stdout}"
        );
        stdout
    }
}

/// loadgen's figures for `traffic` (a dry run) with `extra` options.
fn dry_run(traffic: &[&str], extra: &[&str]) -> ExpectedFile {
    let path = integration_tests::procs::log_dir().join(format!("{}.json", unique("dry")));
    let status = Command::new(integration_tests::bin("loadgen"))
        .args(traffic)
        .arg("--dry-run")
        .args(extra)
        .arg("--expected")
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .expect("loadgen dry run");
    assert!(status.success());
    read_expected(&path)
}

/// loadgen's figures for `traffic` with t1 in [`MOVED`].
fn moved_expected(traffic: &[&str]) -> ExpectedFile {
    let moved = dry_run(traffic, &["--expected-timezone", &format!("t1={MOVED}")]);
    assert_eq!(moved.tenants["t1"].timezone, MOVED);
    moved
}

/// After a zone change, `query-api tenant rebuild-rollups` moves the
/// tenant's history to the new calendar, with the processor running: every
/// day, week and month (and the campaigns' statuses in them) equals
/// loadgen's oracle computed in the new zone, and the other tenant's stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_rollups_moves_a_tenants_history_to_its_new_calendar_exactly() {
    let topics = Topics::unique("rebuild", 2);
    kafka::create(&topics).await;
    let expected = loadgen(&topics, TRAFFIC);
    assert_eq!(expected.tenants["t1"].timezone, "Europe/Berlin");
    let r = Registry::start("e2e_rebuild", topics, &expected).await;
    let client = &r.client;
    let mut p = r.spec.start("rebuild");
    wait_caught_up(
        client,
        &r.topics,
        &expected,
        Duration::from_secs(180),
        &mut [&mut p],
    )
    .await;
    assert_exact(client, &expected).await;

    // The figures in the new zone: the same records, t1 dated in MOVED.
    let moved = moved_expected(TRAFFIC);
    let before = check(client, &moved).await.expect("compare");
    assert!(
        before.differences > 0,
        "the new calendar moves some of t1's events to other days"
    );

    r.move_t1();
    let stdout = r.rebuild_t1();
    assert!(
        stdout.contains("rebased t1's calendar on America/Los_Angeles"),
        "{stdout}"
    );

    // Every figure equals the oracle in the new zone (reports, journeys and
    // t0 untouched).
    assert_exact(client, &moved).await;
    // The registry: one zone, for all time; published to the processors.
    let (status, body) = call(&r.api, "GET", "/v1/tenants/t1", &r.keys.admin, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["zones"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["timezone"], MOVED, "{body}");
    // A late event of t1, dated before the change, takes the new calendar.
    let late_ms = chrono::DateTime::parse_from_rfc3339("2026-09-15T03:00:00Z")
        .expect("date")
        .timestamp_millis();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("producer");
    send_notification(
        &producer,
        &r.topics,
        ("t1", "late-campaign"),
        "late-after-rebuild",
        "late-user",
        late_ms,
    )
    .await;
    wait_for("the late event's day", vec![date_in(MOVED, late_ms)], || async {
        client
            .query("SELECT toString(local_date) FROM events_raw WHERE event_id = 'late-after-rebuild'")
            .fetch_all::<String>()
            .await
            .unwrap_or_default()
    })
    .await;
    // Run again: nothing to rebase, the same figures.
    let stdout = r.rebuild_t1();
    assert!(stdout.contains("one zone already"), "{stdout}");
    let late_rollup: Vec<(String, u64)> = client
        .query(
            "SELECT toString(period_start), uniqExactMerge(sent_users) FROM rollup_campaign_daily \
             WHERE tenant_id = 't1' AND campaign_id = 'late-campaign' GROUP BY period_start",
        )
        .fetch_all()
        .await
        .expect("the late campaign's rollup");
    assert_eq!(late_rollup, vec![(date_in(MOVED, late_ms), 1)]);
    // An unknown tenant is a clear error.
    let out = r.rebuild("nobody");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no live tenant \"nobody\""), "{stderr}");
    p.assert_running();
    p.stop();
}

/// The rebuild while the tenant's events stream in: loadgen produces at a
/// steady rate for about 20 s and the zone change and rebuild happen in the
/// middle of it. Once everything is consumed, every figure equals the
/// oracle in the new zone: rows the processors wrote before the new
/// calendar reached them, or while the rows were rewritten, are not left
/// in the old calendar nor counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_rollups_while_events_stream_in_is_exact() {
    let topics = Topics::unique("rebuild_live", 2);
    kafka::create(&topics).await;
    let moved = moved_expected(TRAFFIC);
    let r = Registry::start("e2e_rebuild_live", topics, &dry_run(TRAFFIC, &[])).await;
    let mut p = r.spec.start("rebuild_live");
    let path = integration_tests::procs::log_dir().join(format!("{}.json", unique("live")));
    let mut producer = loadgen_command(&r.topics, &[TRAFFIC, &["--rate", "60"]].concat(), &path)
        .spawn()
        .expect("start loadgen");
    tokio::time::sleep(Duration::from_secs(4)).await;
    r.move_t1();
    r.rebuild_t1();
    assert!(
        producer.try_wait().expect("loadgen").is_none(),
        "the rebuild must end while events still stream in"
    );
    let status = producer.wait().expect("loadgen ends");
    assert!(status.success(), "loadgen failed: {status}");
    let produced = read_expected(&path);
    wait_caught_up(
        &r.client,
        &r.topics,
        &produced,
        Duration::from_secs(180),
        &mut [&mut p],
    )
    .await;
    assert_exact(&r.client, &moved).await;
    p.assert_running();
    p.stop();
}
