# shellcheck shell=bash
# The check helpers of the test scripts (test-stack.sh, ../dist/test-dist.sh),
# sourced after they set passed=0, failed=0 and check_log (a scratch file).
#   CHECK_LOG_LINES  lines of a failed command's output shown (default 20)

# check DESCRIPTION COMMAND [ARGS...]: the command must succeed.
check() {
  local what=$1
  shift
  if "$@" >"${check_log:?set check_log before sourcing checks.sh}" 2>&1; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
    sed 's/^/    | /' "$check_log" | tail -n "${CHECK_LOG_LINES:-20}"
  fi
}
# refuse DESCRIPTION COMMAND [ARGS...]: the command must fail.
refuse() {
  local what=$1
  shift
  check "$what" negate "$@"
}
negate() { ! "$@"; }
