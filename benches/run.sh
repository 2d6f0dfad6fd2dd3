#!/usr/bin/env bash
# `make bench`: every benchmark, then a dated section in benches/RESULTS.md.
#   1. the apply path (criterion, benches/benches/apply.rs)
#   2. state memory per entry (processor/tests/memory.rs)
#   3. scheduled reports (report-bench: a one-campaign report in every
#      format, journeys exports of 100k and 1M journeys with peak memory)
#   4. the end-to-end scenarios (pipeline-bench: catch-up against a bare
#      consumer, recovery, scaling, freshness, query latency with wrk)
#      against the local stack, which this
#      script starts with memory storage unless it runs, and stops again
#      (only what it started), also on failure or Ctrl-C.
# Extra arguments go to pipeline-bench (see pipeline-bench --help), e.g.
#   make bench BENCH_ARGS="--scenario catchup --events 5000000 --repeat 2"
# shellcheck source-path=SCRIPTDIR/../deploy/local
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/local/env.sh

target=${CARGO_TARGET_DIR:-target}
logs=$target/bench-logs
mkdir -p "$logs"
quote=$logs/quote.txt
: >"$quote"

log "── apply path: cargo bench -p benches --bench apply"
cargo bench --locked -p benches --bench apply 2>&1 | tee "$logs/apply.txt"
{
  echo "\$ cargo bench -p benches --bench apply"
  grep -E '^apply/|thrpt:' "$logs/apply.txt" || true
} >>"$quote"

log "── state memory: cargo test --release -p processor --test memory -- --nocapture"
cargo test --release --locked -p processor --test memory -- --nocapture 2>&1 | tee "$logs/memory.txt"
{
  echo "\$ cargo test --release -p processor --test memory -- --nocapture"
  grep -E 'per \(campaign, user\) entry' "$logs/memory.txt" || true
} >>"$quote"

log "── end to end: release build"
cargo build --release --locked -p processor -p query-api -p benches --bins

tag=bench-$$
private_tansu=0
private_env=(LOCAL_DIR="$target/bench-stack" KAFKA_PORT="${BENCH_KAFKA_PORT:-19092}" TANSU_STORAGE=memory://tansu/)
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$private_tansu" = 1 ]; then env "${private_env[@]}" deploy/local/tansu.sh stop || rc=1; fi
  deploy/local/stack.sh down "$tag" || rc=1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
TANSU_STORAGE=${TANSU_STORAGE_BENCH:-memory://tansu/} deploy/local/stack.sh up "$tag"

# The figures are for tansu's memory storage. A broker that already ran
# with other storage (sqlite) is left alone: the benchmarks get a private
# memory broker on BENCH_KAFKA_PORT.
storage=$(cat "$TANSU_DIR/tansu.storage" 2>/dev/null || echo unknown)
if [ "$storage" = memory://tansu/ ]; then
  BENCH_BROKER_LABEL="tansu $TANSU_VERSION with $storage (the local stack's, at $KAFKA_BROKERS)"
else
  log "the local stack's broker runs with storage $storage: starting a private memory broker"
  private_tansu=1
  env "${private_env[@]}" deploy/local/tansu.sh start
  KAFKA_BROKERS=127.0.0.1:${BENCH_KAFKA_PORT:-19092}
  BENCH_BROKER_LABEL="tansu $TANSU_VERSION with memory://tansu/ (a private instance at $KAFKA_BROKERS; the stack's ran with $storage)"
fi
export KAFKA_BROKERS BENCH_BROKER_LABEL

log "── scheduled reports: report-bench (one campaign in every format; journeys exports)"
{
  echo "\$ target/release/report-bench --scenario simple --runs 20"
  "$target/release/report-bench" --scenario simple --runs 20 --query-api "$target/release/query-api"
  echo "\$ target/release/report-bench --scenario journeys --journeys 100000,1000000"
  "$target/release/report-bench" --scenario journeys --journeys 100000,1000000 --query-api "$target/release/query-api"
} 2>&1 | tee "$logs/reports.txt" | grep -E '^\$|simple report|journeys export' >>"$quote"

log "── end to end: pipeline-bench $*"
"$target/release/pipeline-bench" --results benches/RESULTS.md --quote "$quote" "$@"
