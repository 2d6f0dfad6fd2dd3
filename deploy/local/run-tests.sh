#!/usr/bin/env bash
# `make test` (and CI): install what is missing, start the local stack
# unless it runs already (broker storage memory://tansu/ unless
# TANSU_STORAGE_TEST says otherwise), run every test of the workspace
# against it, then stop what this run started, also on failure or Ctrl-C.
# Exits non-zero when anything failed; the last line is the summary.
#   TEST_RUNNER=auto|nextest|cargo  auto: cargo-nextest when installed
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)
cd "$REPO_ROOT"

tag=test-$$
results=()
status=0
started=0
finished=0

# shellcheck disable=SC2317 # invoked by cleanup
summary() {
  local r passed failed
  [ ${#results[@]} -gt 0 ] || return 0
  log "── summary"
  for r in "${results[@]}"; do log "$r"; done
  passed=$(printf '%s\n' "${results[@]}" | grep -c '^passed' || true)
  failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAILED' || true)
  echo "make test: $passed passed, $failed failed$1"
}

# On every exit (also failure, Ctrl-C): stop what this run started, then the
# summary as the last line.
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local rc=$? note=""
  trap - EXIT INT TERM
  if [ "$started" = 1 ]; then
    log "── stopping what this run started"
    "$here/stack.sh" down "$tag" || rc=1
  fi
  if [ "$finished" != 1 ]; then
    results+=("FAILED: run did not finish (exit status $rc)")
    note=" (did not finish)"
    [ "$rc" != 0 ] || rc=1
  fi
  summary "$note"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step NAME COMMAND [ARGS...]: run, record the outcome, go on either way.
step() {
  local name=$1
  shift
  log "── $name: $*"
  if "$@"; then
    results+=("passed: $name")
  else
    results+=("FAILED: $name")
    status=1
  fi
}

runner=${TEST_RUNNER:-auto}
case "$runner" in
  auto) if cargo nextest --version >/dev/null 2>&1; then runner=nextest; else runner=cargo; fi ;;
  nextest | cargo) ;;
  *) die "TEST_RUNNER is auto, nextest or cargo, not '$runner'" ;;
esac

log "── install (fast when done)"
"$here/install.sh" all

log "── local stack"
# tansu's memory storage: fast, volatile. It cannot fetch from inside a
# stored batch, so the end-to-end tests produce one record per batch
# (tests/tests/broker.rs). Its sqlite storage has no such limit but was
# slow and unstable under the whole suite (metadata requests timing out).
export TANSU_STORAGE=${TANSU_STORAGE_TEST:-memory://tansu/}
started=1
if ! "$here/stack.sh" up "$tag"; then
  results+=("FAILED: local stack up")
  finished=1
  exit 1
fi
# The tests find the stack through KAFKA_BROKERS and CLICKHOUSE_URL
# (exported by env.sh, with CLICKHOUSE_DATABASE, the TOPIC_* names, and
# CLICKHOUSE_HTTPS_URL and LOCAL_CA_FILE for the TLS tests).
log "stack: Kafka $KAFKA_BROKERS, ClickHouse $CLICKHOUSE_URL${CARGO_TARGET_DIR:+, CARGO_TARGET_DIR $CARGO_TARGET_DIR}"

# The end-to-end tests run the workspace binaries (processor, loadgen, ...).
step "build the workspace binaries" cargo build --workspace --bins --locked
# The upgrade test (tests/tests/upgrade.rs) runs the previous release's
# processor: built once from the git history, then cached.
step "build the previous release's processor (previous-release.sh)" "$here/previous-release.sh"
case "$runner" in
  nextest)
    step "cargo nextest (unit, property, integration, end-to-end; benches once)" \
      cargo nextest run --workspace --all-targets --locked --no-fail-fast
    step "doc tests" cargo test --workspace --doc --locked
    ;;
  cargo)
    step "cargo test (unit, property, integration, end-to-end; benches once)" \
      cargo test --workspace --all-targets --locked --no-fail-fast
    step "doc tests" cargo test --workspace --doc --locked
    ;;
esac

if compgen -G "tests/python/test_*.py" >/dev/null; then
  step "pytest tests/python" "$VENV_DIR/bin/python" -m pytest -q tests/python
else
  log "no tests/python/test_*.py: pytest skipped"
fi

# The operators' tarball, packed from the debug binaries built above, unpacked
# and run against the stack.
step "release tarball (deploy/dist/test-dist.sh)" "$REPO_ROOT/deploy/dist/test-dist.sh"
step "local stack scripts (test-stack.sh)" "$here/test-stack.sh"

finished=1
exit $status
