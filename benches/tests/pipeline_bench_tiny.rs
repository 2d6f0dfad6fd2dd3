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
    assert!(recovery.checked_before.exact() && recovery.checked_after.exact());
    assert_eq!(
        recovery.checked_before.journeys,
        Some(recovery.journeys as usize),
        "every checkpointed journey compared"
    );
    let restart = recovery.restarts.first().expect("a restart");
    assert!(restart.consuming > 0.0 && restart.consuming <= restart.caught_up);
    assert!(restart.assigned.is_some(), "the split comes from the log");

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

    let md = outcome.markdown();
    for heading in ["#### Catch-up", "#### Recovery", "#### Scaling"] {
        assert!(md.contains(heading), "{heading} missing from:\n{md}");
    }
}
