//! `pipeline-bench --tiny`: every end-to-end scenario once, on a few
//! thousand records and 2 partitions, against the running stack
//! (KAFKA_BROKERS, CLICKHOUSE_URL; `make test` starts it), so the
//! benchmarks cannot rot. Nothing here is timed against a target: it only
//! checks that each scenario runs, the figures are exact and the printed
//! measurements are sane.

use benches::e2e::{self, Options};
use clap::Parser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_once_on_tiny_inputs_with_exact_figures() {
    let options = Options::parse_from(["pipeline-bench", "--tiny", "--quiet"]);
    let outcome = e2e::run(options).await.expect(
        "the stack is up (make up) and the binaries are built (cargo build --workspace --bins)",
    );
    assert!(outcome.errors.is_empty(), "failed: {:#?}", outcome.errors);

    let catchup = outcome.catchup.as_ref().expect("catchup ran");
    assert!(catchup.records >= 1_000, "{} records", catchup.records);
    assert!(
        catchup.all_exact(),
        "catchup figures: {:#?}",
        catchup.repeats
    );
    assert!(catchup.bare_rate() > 0.0 && catchup.processor_rate() > 0.0);
    assert!(catchup.ratio().is_finite() && catchup.ratio() > 0.0);

    let recovery = outcome.recovery.as_ref().expect("recovery ran");
    assert!(recovery.journeys > 0);
    assert!(recovery.checked_before.exact());
    assert_eq!(
        recovery.checked_before.journeys,
        Some(recovery.journeys as usize),
        "every checkpointed journey compared"
    );
    let restart = recovery.restarts().first().expect("a restart");
    assert!(restart.consuming > 0.0 && restart.consuming <= restart.caught_up);
    assert!(restart.assigned.is_some(), "the split comes from the log");
    let factors: Vec<u32> = recovery.levels.iter().map(|l| l.factor).collect();
    assert_eq!(
        factors,
        [0, 1, 10],
        "the live state alone, then 1x and 10x history"
    );
    for level in &recovery.levels {
        assert!(
            level.checked.exact(),
            "{}x: {}",
            level.factor,
            level.checked.summary()
        );
        assert_eq!(
            level.rows.live_journeys, recovery.journeys,
            "{}x: history adds no live journey",
            level.factor
        );
        assert_eq!(
            level.rows.all_journeys,
            recovery.journeys + level.history.journeys(),
            "{}x",
            level.factor
        );
        assert_eq!(level.read.users, recovery.journeys, "{}x", level.factor);
        assert_eq!(
            level.read.evicted as u64, level.history.campaigns,
            "{}x: every history campaign is evicted",
            level.factor
        );
        assert!(
            !level.read.queries.is_empty(),
            "{}x: queries logged",
            level.factor
        );
    }
    assert!(recovery.history_ratio().is_some());

    assert!(!outcome.scaling.is_empty());
    for cell in &outcome.scaling {
        assert!(
            cell.all_exact(),
            "scaling cell {} x {}p",
            cell.records,
            cell.partitions
        );
        assert!(cell.processor_rate() > 0.0);
    }

    let freshness = outcome.freshness.as_ref().expect("freshness ran");
    let repeat = freshness.repeats.first().expect("a freshness repeat");
    assert!(repeat.probes() >= 5, "{} probes", repeat.probes());
    assert!(repeat.exact(), "freshness figures: {repeat:#?}");
    assert!(
        repeat.latencies.iter().all(|l| l.is_finite() && *l > 0.0),
        "latencies {:?}",
        repeat.latencies
    );
    assert!(repeat.p50() <= repeat.p99() && repeat.p99() <= repeat.max());
    assert_eq!(
        repeat.to_snapshot.len(),
        repeat.probes(),
        "every probe matched to the snapshot that took it in"
    );
    assert!(repeat.produced > 0 && repeat.produce_rate() > 0.0);
    assert!(repeat.window.consumed > 0);
    assert!(repeat.window.snapshots > 0);

    let dlq = outcome.dlq.as_ref().expect("dlq ran");
    assert_eq!(dlq.poison, 1_000, "the burst of poison records");
    for r in &dlq.repeats {
        assert!(r.checked.exact(), "dlq figures: {}", r.checked.summary());
        assert!(r.topic.complete(), "dead-letter topic: {:?}", r.topic);
        assert!(r.topic.records >= dlq.poison, "{:?}", r.topic);
        assert_eq!(r.burst.poison, dlq.poison);
        assert_eq!(
            r.burst.dead_lettered, dlq.poison,
            "the burst's dead letters, acknowledged by the second processor"
        );
        assert!(r.consumer_rate() > 0.0 && r.dead_letter_rate() > 0.0);
        assert!(r.burst.from < r.burst.to);
    }
    assert!(!dlq.repeats.is_empty() && dlq.ratio().is_finite());

    let rules = outcome.rules.as_ref().expect("rules ran");
    assert_eq!(rules.rules, 20, "two rules for each of the 10 tenants");
    assert!(rules.all_exact(), "rules figures: {:#?}", rules.repeats);
    for r in &rules.repeats {
        assert_eq!(r.without.transitions, 0, "no alerting, no transitions");
        assert!(
            r.with.transitions > 0,
            "the rules fired on the traffic (sent_users >= 4 at least)"
        );
    }
    assert!(rules.ratio().is_finite() && rules.ratio() > 0.0);

    // wrk comes from Debian (deploy/local/install.sh); without it the
    // query scenario is skipped, with a message.
    if benches::e2e::query::wrk_available() {
        let query = outcome.query.as_ref().expect("query ran");
        assert!(query.data.campaigns >= 40 && query.data.journeys >= 500);
        let filled = query
            .data
            .filled
            .as_ref()
            .expect("a database filled by the run");
        assert!(filled.checked.exact(), "{}", filled.checked.summary());
        assert_eq!(query.endpoints.len(), 4, "every endpoint measured");
        for m in &query.endpoints {
            let name = m.endpoint.name();
            assert!(m.paths > 0 && !m.runs.is_empty(), "{name}");
            for r in &m.runs {
                assert_eq!((r.non_2xx, r.errors), (0, 0), "{name}: {r:?}");
                assert!(r.requests > 0 && r.rate() > 0.0, "{name}: {r:?}");
                assert!(r.p50_ms > 0.0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
            }
        }
    } else {
        eprintln!("query scenario skipped: wrk is not installed (deploy/local/install.sh)");
    }

    let md = outcome.markdown();
    if outcome.query.is_some() {
        assert!(md.contains("#### Query latency"), "{md}");
    }
    for heading in [
        "#### Catch-up",
        "#### Recovery",
        "#### Scaling",
        "#### Freshness",
        "#### Dead letters",
    ] {
        assert!(md.contains(heading), "{heading} missing from:\n{md}");
    }
}
