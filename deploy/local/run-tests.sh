#!/usr/bin/env bash
# `make test`: install what is missing, start what the tests need (unless it
# runs already), run every test of the workspace, stop what this run started.
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)
cd "$REPO_ROOT"

tag=test-$$
# Tests use the fast in-memory broker storage unless told otherwise.
export TANSU_STORAGE=${TANSU_STORAGE_TEST:-memory://tansu/}
cleanup() { "$here/stack.sh" down "$tag" || true; }
trap cleanup EXIT
"$here/stack.sh" up "$tag"

results=()
status=0
step() {
  local name=$1
  shift
  log "── $name"
  if "$@"; then
    results+=("passed: $name")
  else
    results+=("FAILED: $name")
    status=1
  fi
}

step "cargo build (binaries the end-to-end tests run)" cargo build --workspace --bins --locked
step "cargo test (unit, property, integration, end-to-end)" cargo test --workspace --locked --no-fail-fast
step "benchmarks, once each on tiny inputs" cargo test --locked -p benches --benches
if compgen -G "tests/python/test_*.py" >/dev/null; then
  step "pytest (current ClickHouse engine via chdb)" "$VENV_DIR/bin/python" -m pytest -q tests/python
fi
step "local stack scripts" "$here/test-stack.sh"

log "── summary"
for r in "${results[@]}"; do log "$r"; done
passed=$(printf '%s\n' "${results[@]}" | grep -c '^passed' || true)
failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAILED' || true)
echo "make test: $passed passed, $failed failed"
exit $status
