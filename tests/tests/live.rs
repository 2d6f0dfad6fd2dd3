//! Live streams end to end: events posted over HTTP go through Kafka and
//! the real processor into ClickHouse; the real `query-api` pushes each
//! commit to SSE subscribers. The last state a subscriber holds equals the
//! oracle's figures and what the JSON routes answer; a client that
//! reconnects with its last id catches up without a gap; a report stream's
//! versions only grow; no tenant sees another's campaigns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use benches::e2e::sse::SseStream;
use benches::loadgen::expected_json::{self as expected, ExpectedFile};
use integration_tests::api::{self, QueryApi};
use integration_tests::compare::{assert_no_differences, differences};
use integration_tests::ingest::{
    api_env, batches, loadgen_json, post, producer_keys, JsonEvent, Poster,
};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{wait_caught_up, ProcessorSpec};
use integration_tests::{clickhouse_url, fresh_database};
use serde_json::Value;

#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "41", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "20",
    "--days", "20", "--duplicate-ratio", "0.05", "--poison", "0",
];
const CATCH_UP: Duration = Duration::from_secs(120);
/// How long the last commit may take to reach a subscriber once the
/// checkpoints cover everything (generous: 2 shared cores).
const PUSH: Duration = Duration::from_secs(20);

/// A campaign's report as the oracle spells it.
fn report(v: &Value) -> expected::Report {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a report ({e}): {v}"))
}

/// The all-jobs reports of a tenant, by campaign.
fn campaigns_of(exp: &ExpectedFile, tenant: &str) -> BTreeMap<String, expected::Report> {
    exp.reports
        .iter()
        .filter(|r| r.tenant_id == tenant && r.job_id.is_none())
        .map(|r| (r.campaign_id.clone(), r.clone()))
        .collect()
}

/// What a campaigns stream has told its client so far.
#[derive(Debug, Default)]
struct Held {
    campaigns: BTreeMap<String, Value>,
    synced: bool,
    events: usize,
    /// Campaign events after `synced`: pushed commits.
    pushed: usize,
}

impl Held {
    /// Read events until `done` holds (or fail after `within`).
    async fn follow(&mut self, s: &mut SseStream, within: Duration, done: impl Fn(&Held) -> bool) {
        let until = Instant::now() + within;
        while !done(self) {
            let left = until.saturating_duration_since(Instant::now());
            let e = s
                .next_within(left)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{e:#}; held {} campaigns (synced: {}): {:?}",
                        self.campaigns.len(),
                        self.synced,
                        self.campaigns
                            .values()
                            .map(|v| (
                                v["campaign_id"].clone(),
                                v["sent_users"].clone(),
                                v["total_interactions"].clone(),
                                v["as_of"].clone()
                            ))
                            .collect::<Vec<_>>()
                    )
                })
                .expect("the stream stays open");
            match e.event.as_str() {
                "campaign" => {
                    let v: Value = serde_json::from_str(&e.data).expect("JSON");
                    let id = v["campaign_id"].as_str().expect("campaign_id").to_string();
                    self.campaigns.insert(id, v);
                    self.events += 1;
                    if self.synced {
                        self.pushed += 1;
                    }
                }
                "synced" => self.synced = true,
                other => panic!("unexpected event {other}: {}", e.data),
            }
        }
    }

    /// The figures held equal the oracle's (as the other end-to-end tests
    /// compare them: floats to a relative 1e-9).
    fn equals(&self, want: &BTreeMap<String, expected::Report>) -> bool {
        let want: Vec<expected::Report> = want.values().cloned().collect();
        let got: Vec<expected::Report> = self.campaigns.values().map(report).collect();
        differences("campaign", &want, &got, |r| r.campaign_id.clone()).exact()
    }
}

fn combined_keys(reading: &api::Keys, producing: &std::path::Path) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(&reading.path).expect("keys file");
    text.push('\n');
    text.push_str(&std::fs::read_to_string(producing).expect("producer keys file"));
    let path = integration_tests::procs::log_dir()
        .join(format!("{}.toml", integration_tests::unique("live-keys")));
    std::fs::write(&path, text).expect("write the keys file");
    path
}

async fn post_all(poster: &Poster, events: &[JsonEvent], key: impl Fn(&str) -> String) {
    for b in batches(events, 200) {
        let body = String::from_utf8(b.body.to_vec()).expect("UTF-8");
        let answer = post(poster, "/v1/events/batch", &key(&b.tenant), body).await;
        assert!(answer.rejected.is_empty(), "{:?}", answer.rejected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_commit_reaches_subscribers_in_order_and_a_reconnect_misses_nothing() {
    let topics = Topics::unique("live", 4);
    kafka::create(&topics).await;
    let (db, client) = fresh_database("live").await;
    let (exp, events) = loadgen_json(&topics, TRAFFIC);
    let tenants: Vec<String> = exp.tenants.keys().cloned().collect();
    let (ta, tb) = (&tenants[0], &tenants[1]);

    let spec = ProcessorSpec::new(&topics, &db, &exp);
    let mut processor = spec.start("live-processor");
    let producers = producer_keys(exp.tenants.keys());
    let readers = api::keys(exp.tenants.keys());
    let mut env = api_env(&topics, &producers);
    env.retain(|(k, _)| k != "API_KEYS_FILE");
    env.push((
        "API_KEYS_FILE".into(),
        combined_keys(&readers, &producers.path)
            .display()
            .to_string(),
    ));
    env.push(("LIVE_POLL_MS".into(), "100".into()));
    let api = QueryApi::start_with(&clickhouse_url(), &db, &spec.tenant_timezones, env, true).await;
    let poster = Poster::new(&api.base);
    let producer = |t: &str| producers.of(t).expect("producer key").to_owned();
    let key_a = readers.of(ta).expect("key").to_owned();
    let key_b = readers.of(tb).expect("key").to_owned();

    // The first half of the traffic, then the subscribers join.
    let (first, second) = events.split_at(events.len() / 2);
    post_all(&poster, first, producer).await;
    let want_a = campaigns_of(&exp, ta);
    let watched = want_a
        .keys()
        .next()
        .expect("a campaign of tenant a")
        .clone();

    let addr = api.addr().to_string();
    let mut live_a = SseStream::connect(&addr, "/v1/campaigns/stream", &key_a, None)
        .await
        .expect("stream a");
    let mut held_a = Held::default();
    held_a.follow(&mut live_a, PUSH, |h| h.synced).await;
    let resume_from = live_a
        .last_id()
        .expect("synced carries the cursor")
        .to_string();
    let mut dropped = Held {
        campaigns: held_a.campaigns.clone(),
        ..Held::default()
    };
    let mut live_b = SseStream::connect(&addr, "/v1/campaigns/stream", &key_b, None)
        .await
        .expect("stream b");
    let mut held_b = Held::default();
    held_b.follow(&mut live_b, PUSH, |h| h.synced).await;
    let path = format!("/v1/campaigns/{watched}/report/stream");
    let mut report_stream = SseStream::connect(&addr, &path, &key_a, None)
        .await
        .expect("report stream");
    // Another tenant's key does not reach tenant a's campaign.
    let mut foreign = SseStream::connect(&addr, &path, &key_b, None)
        .await
        .expect("report stream of b");

    // The rest of the traffic; the subscribers follow every commit.
    post_all(&poster, second, producer).await;
    wait_caught_up(&client, &topics, &exp, CATCH_UP, &mut [&mut processor]).await;
    held_a
        .follow(&mut live_a, PUSH, |h| h.equals(&want_a))
        .await;
    let want_b = campaigns_of(&exp, tb);
    held_b
        .follow(&mut live_b, PUSH, |h| h.equals(&want_b))
        .await;
    // The second half was posted after `synced`: its commits were pushed.
    assert!(
        held_a.pushed > 0,
        "commits after the catch-up were pushed: {} events in all",
        held_a.events
    );
    for id in held_b.campaigns.keys() {
        assert!(
            !want_a.contains_key(id) || want_b.contains_key(id),
            "tenant b saw {id} of tenant a"
        );
    }

    // The pushed state is what the JSON routes answer.
    let listed: Value = api.get_json("/v1/campaigns?limit=1000", &key_a).await;
    let listed: Vec<expected::Report> = listed["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .map(report)
        .collect();
    let pushed: Vec<expected::Report> = held_a.campaigns.values().map(report).collect();
    assert_no_differences(&differences("pushed campaign", &listed, &pushed, |r| {
        r.campaign_id.clone()
    }));

    // The report stream: versions only grow; its last report is the oracle's.
    let until = Instant::now() + PUSH;
    let mut last: Option<(u64, Value)> = None;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let e = report_stream
            .next_within(left)
            .await
            .expect("report events")
            .expect("open");
        if e.event == "synced" {
            // After the current report, or first when no commit has
            // brought the campaign yet.
            continue;
        }
        assert_eq!(e.event, "report");
        let version: u64 = e.id.as_deref().expect("an id").parse().expect("a version");
        if let Some((before, _)) = &last {
            assert!(version > *before, "version {version} after {before}");
        }
        let v: Value = serde_json::from_str(&e.data).expect("JSON");
        let done = report_eq(&v, &want_a[&watched]);
        last = Some((version, v));
        if done {
            break;
        }
    }
    let first = foreign.next().await.expect("an event").expect("open");
    assert_eq!(
        first.event, "synced",
        "no report for tenant b: {}",
        first.data
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), foreign.next())
            .await
            .is_err(),
        "tenant b's key gets nothing of tenant a's campaign"
    );

    // A client that dropped after the catch-up and reconnects with its last
    // id gets every campaign that changed since: its state is whole again.
    let mut again = SseStream::connect(&addr, "/v1/campaigns/stream", &key_a, Some(&resume_from))
        .await
        .expect("reconnect");
    dropped.follow(&mut again, PUSH, |h| h.synced).await;
    assert!(
        dropped.equals(&want_a),
        "after the reconnect: {:#?}",
        dropped.campaigns.keys()
    );
    assert!(
        dropped.events > 0 && dropped.events <= want_a.len(),
        "{} events: only what changed, each once",
        dropped.events
    );

    let metrics = api.get_as("/metrics", None, None).await.text();
    assert!(
        metrics.contains("query_api_live_subscriptions{stream=\"campaigns\"}"),
        "{metrics}"
    );
    processor.stop();
}

fn report_eq(v: &Value, want: &expected::Report) -> bool {
    differences("report", std::slice::from_ref(want), &[report(v)], |r| {
        r.campaign_id.clone()
    })
    .exact()
}
