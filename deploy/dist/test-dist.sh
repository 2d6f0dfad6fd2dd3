#!/usr/bin/env bash
# The operators' tarball (`make dist`), packed from the debug binaries
# (run-tests.sh runs this after building them), against the running local
# stack:
# - it holds what INSTALL.md lists, its checksum verifies, the binaries run
#   and name the workspace version; every key of etc/config.example.toml
#   (commented ones too) is a setting of the binaries; the systemd units pass
#   `systemd-analyze verify` (when systemd is installed)
# - unpacked into a fresh directory: `processor --config
#   etc/config.example.toml config check` and the query API's exit 0 and
#   print the effective settings without the secrets; a bad value and a
#   missing file are refused
# - `processor ... run` and `query-api ... serve` from there, with the stack's
#   settings (env.sh) and a ClickHouse database, consumer groups and ports of
#   their own: the processor's /healthz, the API's /readyz and a keyed request
#   answer; SIGTERM stops both with status 0
# The last line is "N passed, N failed"; the exit status is 0 when none failed.
#   DIST_PROFILE=debug|release  which binaries to pack (default debug)
# shellcheck source-path=SCRIPTDIR/../local
set -euo pipefail
. "$(dirname "$0")/../local/env.sh"
here=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/dist-test.XXXXXX")
check_log=$work/check.log
db=dist_test_$$_$RANDOM
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  curl -fsS --max-time 10 "$CLICKHOUSE_URL/" --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

CHECK_LOG_LINES=30
. "$here/../local/checks.sh"

free_ports() { # N: N distinct free loopback ports
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# ---------------------------------------------------------------- the tarball
echo "== make dist (PROFILE=${DIST_PROFILE:-debug}, the binaries already built)"
if ! tarball=$(PROFILE=${DIST_PROFILE:-debug} BUILD=0 DIST_DIR=$work/dist "$here/build.sh" | tail -n 1) ||
  [ ! -f "$tarball" ]; then
  failed=$((failed + 1))
  echo "FAILED: build.sh made no tarball"
  echo "dist: $passed passed, $failed failed"
  exit 1
fi
passed=$((passed + 1))
echo "ok: build.sh made $(basename "$tarball")"
version=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' "$REPO_ROOT/Cargo.toml")
name_ok() { [[ $(basename "$tarball") =~ ^campaign-analytics-$version-[a-z0-9_]+-linux\.tar\.gz$ ]]; }
check "the name carries the workspace version $version and the architecture" name_ok
sum_ok() { (cd "$(dirname "$tarball")" && sha256sum -c "$(basename "$tarball").sha256"); }
check "its .sha256 verifies" sum_ok

unpacked=$work/unpacked
mkdir -p "$unpacked"
check "it unpacks into a fresh directory" tar -xzf "$tarball" -C "$unpacked"
root=$unpacked/$(basename "$tarball" .tar.gz)
check "one top directory named like the tarball" test -d "$root"

for f in bin/processor bin/query-api; do
  check "$f is executable" test -x "$root/$f"
done
for f in etc/config.example.toml lib/systemd/campaign-analytics-processor.service \
  lib/systemd/campaign-analytics-query-api.service INSTALL.md VERSION \
  share/grafana/README.md share/grafana/prometheus.yml \
  share/grafana/provisioning/dashboards/campaign-analytics/operators.json \
  share/grafana/provisioning/dashboards/campaign-analytics/campaign-kpis.json \
  share/migrations/README.md share/migrations/clickhouse/0001_raw_events.sql \
  share/migrations/postgresql/V1__alerts.sql share/avro/campaign_lifecycle.v1.avsc; do
  check "it holds $f" test -s "$root/$f"
done
same_files() { diff -r "$1" "$2"; }
check "share/grafana is deploy/grafana" same_files "$REPO_ROOT/deploy/grafana" "$root/share/grafana"
check "share/migrations/clickhouse is schemas/clickhouse" same_files "$REPO_ROOT/schemas/clickhouse" "$root/share/migrations/clickhouse"
check "VERSION names the version" grep -qx "campaign-analytics $version" "$root/VERSION"
check "bin/processor --version names it" grep -q "$version" <<<"$("$root/bin/processor" --version 2>&1)"
check "bin/query-api --version names it" grep -q "$version" <<<"$("$root/bin/query-api" --version 2>&1)"
check "bin/processor run --help" "$root/bin/processor" run --help
check "bin/query-api serve --help" "$root/bin/query-api" serve --help

# Every key of the example (also the commented ones) is a setting: its
# environment variable (or, for a *_file key, the variable of a secret that
# takes a file) is in the --help of a binary that reads that section.
"$root/bin/processor" run --help >"$work/help-processor.txt"
"$root/bin/query-api" serve --help >"$work/help-query-api.txt"
keys_known() {
  python3 - "$root/etc/config.example.toml" "$work/help-processor.txt" "$work/help-query-api.txt" <<'PY'
import re, sys, tomllib
path, help_p, help_q = sys.argv[1:4]
text = open(path).read()
conf = tomllib.loads(text)
env = lambda f: set(re.findall(r"\[env: ([A-Z0-9_]+)", open(f).read()))
known = {"processor": env(help_p), "query-api": env(help_q)}
known["common"] = known["processor"] | known["query-api"]
# Settings that also take a file (README: secrets from files).
secrets = {"CLICKHOUSE_PASSWORD", "DATABASE_URL", "SCHEMA_REGISTRY_PASSWORD", "SMTP_URL", "REPORT_LINK_SECRET"}
assert set(conf) == {"common", "processor", "query-api", "kafka-properties"}, sorted(conf)
bad, section, seen = [], None, 0
for line in text.splitlines():
    m = re.match(r"^\[([a-z-]+)\]", line)
    if m:
        section = m.group(1)
        continue
    m = re.match(r"^#? ?([a-z][a-z0-9_]*) = ", line)
    if not m or section == "kafka-properties":
        continue
    seen += 1
    name = m.group(1).upper()
    if name in known[section]:
        continue
    if name.startswith("KAFKA_PROPERTY_") and name.endswith("_FILE"):
        continue
    if name.endswith("_FILE") and name[:-5] in secrets and name[:-5] in known[section]:
        continue
    bad.append(f"[{section}] {m.group(1)}")
assert seen > 40, f"only {seen} keys found"
assert not bad, "not settings of the binaries: " + ", ".join(bad)
print(f"{seen} keys, all settings")
PY
}
check "every key of the example config is a setting of the binaries" keys_known

if command -v systemd-analyze >/dev/null; then
  # verify needs the ExecStart binaries: those of the unpacked tree.
  mkdir -p "$work/units"
  for u in "$root"/lib/systemd/*.service; do
    sed "s|/opt/campaign-analytics/bin/|$root/bin/|" "$u" >"$work/units/$(basename "$u")"
  done
  check "systemd-analyze verify of the units" systemd-analyze verify "$work"/units/*.service
  # The hardening stays: the exposure was 1.4 (of 10) when written.
  for u in "$work"/units/*.service; do
    check "  $(basename "$u"): systemd-analyze security exposure at most 2.0" \
      systemd-analyze security --offline=yes --threshold=20 "$u"
  done
else
  echo "systemd-analyze not installed: the units are not verified"
fi

# ------------------------------------------------------------- config check
config=etc/config.example.toml
read -r metrics_port api_port < <(free_ports 2)
mkdir -p "$work/reports"
# A tenant key for the API.
tenant_key=dist-test-$RANDOM$RANDOM
printf '[[keys]]\ntenant = "dist-test"\nsha256 = "%s"\n' "$("$root/bin/query-api" hash-key "$tenant_key")" >"$work/api-keys.toml"
# Secrets that must not be printed (only for `config check`: the local
# ClickHouse has no password).
ch_secret=ch-secret-$RANDOM$RANDOM
link_secret=link-secret-$RANDOM$RANDOM
printf '%s\n' "$ch_secret" >"$work/clickhouse-password"
printf '%s\n' "$link_secret" >"$work/link-secret"

# Settings of this test, over the file's (env.sh exports the stack's:
# KAFKA_BROKERS, CLICKHOUSE_URL, DATABASE_URL, TOPIC_*). The API renders no
# reports here: a demo API on the same database keeps its runs.
export CLICKHOUSE_DATABASE=$db \
  METRICS_ADDR=127.0.0.1:$metrics_port \
  KAFKA_GROUP_ID=dist-test-$$-$RANDOM \
  LISTEN_ADDR=127.0.0.1:$api_port \
  ALERT_STORE_GROUP=dist-test-alert-store-$$-$RANDOM \
  API_KEYS_FILE=$work/api-keys.toml \
  REPORT_STORAGE=$work/reports \
  REPORT_LINK_SECRET_FILE=$work/link-secret \
  REPORT_WORKERS=0 \
  REPORT_SCHEDULER=false
unset ANALYTICS_CONFIG

in_root() { (cd "$root" && "$@"); }
# config_check BINARY: exit 0, the effective settings (the database name of
# this test) and neither secret in the output.
config_check() {
  local out rc=0
  out=$(in_root env CLICKHOUSE_PASSWORD_FILE="$work/clickhouse-password" \
    "bin/$1" --config "$config" config check 2>&1) || rc=$?
  printf '%s\n' "$out"
  [ "$rc" = 0 ] || { echo "exit status $rc"; return 1; }
  grep -q "$db" <<<"$out" || { echo "the effective clickhouse_database ($db) is not shown"; return 1; }
  if grep -q -e "$ch_secret" -e "$link_secret" <<<"$out"; then
    echo "a secret is printed"
    return 1
  fi
}
check "processor --config $config config check" config_check processor
check "query-api --config $config config check" config_check query-api
check "  also with --config after the subcommand" in_root bin/processor config check --config "$config"

sed 's/^snapshot_interval_ms = .*/snapshot_interval_ms = "often"/' "$root/$config" >"$work/bad-processor.toml"
sed 's/^rate_limit_per_second = .*/rate_limit_per_second = "many"/; s/^# rate_limit_per_second = .*/rate_limit_per_second = "many"/' \
  "$root/$config" >"$work/bad-query-api.toml"
refuse "processor config check refuses snapshot_interval_ms = \"often\"" \
  in_root bin/processor --config "$work/bad-processor.toml" config check
refuse "query-api config check refuses rate_limit_per_second = \"many\"" \
  in_root bin/query-api --config "$work/bad-query-api.toml" config check
refuse "processor refuses a missing config file" in_root bin/processor --config "$work/nope.toml" config check
refuse "query-api refuses a missing config file" in_root bin/query-api --config "$work/nope.toml" config check

# --------------------------------------------------- run from the unpacked tree
echo "== processor run and query-api serve from $root (ClickHouse database $db)"
# start NAME ARGS...: in the background from the unpacked directory, logs in
# $work; its pid in $started.
start() {
  local name=$1
  shift
  (cd "$root" && exec "$@") >"$work/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
}
# wait_http URL SECONDS PID: until the URL answers 2xx; fails early when PID dies.
wait_http() {
  local url=$1 seconds=$2 pid=$3 i
  for ((i = 0; i < seconds * 5; i++)); do
    curl -fsS --max-time 2 "$url" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "the process exited"; return 1; }
    sleep 0.2
  done
  echo "no answer within ${seconds}s"
  return 1
}
# stop PID SECONDS: SIGTERM, then it must exit with status 0 within SECONDS.
stop() {
  local pid=$1 seconds=$2 i rc=0
  kill -TERM "$pid" 2>/dev/null || { echo "not running"; return 1; }
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "still running ${seconds}s after SIGTERM"
    return 1
  fi
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { echo "exit status $rc"; return 1; }
}
show() { tail -n 30 "$work/$1.log"; }

start processor bin/processor --config "$config" run
processor_pid=$started
check "processor /healthz on $METRICS_ADDR" wait_http "http://$METRICS_ADDR/healthz" 120 "$processor_pid"
start query-api bin/query-api --config "$config" serve
api_pid=$started
check "query API /readyz on $LISTEN_ADDR" wait_http "http://$LISTEN_ADDR/readyz" 60 "$api_pid"
keyed() { curl -fsS --max-time 10 -H "Authorization: Bearer $tenant_key" "http://$LISTEN_ADDR$1"; }
check "  a tenant key of API_KEYS_FILE reads /v1/campaigns" keyed /v1/campaigns
check "  the metadata database is connected (/v1/alerts)" keyed /v1/alerts
check "  the processor's /metrics answers" curl -fsS --max-time 5 -o /dev/null "http://$METRICS_ADDR/metrics"
check "query API stops on SIGTERM with status 0" stop "$api_pid" 60
check "processor stops on SIGTERM with status 0" stop "$processor_pid" 120
if [ "$failed" != 0 ]; then
  for n in processor query-api; do
    [ -s "$work/$n.log" ] || continue
    echo "--- last lines of the $n log"
    show "$n"
  done
fi
echo "dist: $passed passed, $failed failed"
[ "$failed" = 0 ]
