#!/usr/bin/env bash
# `make run`: the local stack, the processor, demo traffic, and where to look.
# Each piece runs when its binary exists in the workspace, so this works
# while parts are still being written. `make down` stops it all.
#   DEMO_SEED (default 42): the same seed gives the same traffic and figures.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"
here=$(cd "$(dirname "$0")" && pwd)
cd "$REPO_ROOT"

"$here/stack.sh" up
storage=$(cat "$TANSU_DIR/tansu.storage" 2>/dev/null || echo "$TANSU_STORAGE")

# Binary targets of the workspace, as "package/binary" lines.
workspace_bins=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"]:
            print(p["name"] + "/" + t["name"])')
has_bin() { grep -qx "$1" <<<"$workspace_bins"; }

build=()
has_bin processor/processor && build+=(-p processor --bin processor)
has_bin benches/loadgen && build+=(-p benches --bin loadgen)
has_bin query-api/query-api && build+=(-p query-api --bin query-api)
if [ ${#build[@]} -gt 0 ]; then
  log "building the release binaries: ${build[*]}"
  cargo build --release --locked "${build[@]}"
fi
target=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release
q() { curl -fsS "$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE" --data-binary "$1"; }

# Have the processor's checkpoints (next offsets per partition) reached the
# latest offsets of the three input topics?
caught_up() {
  local topics checkpoints
  topics=$("$here/kafka-topics.py" --json "$TOPIC_LIFECYCLE" "$TOPIC_NOTIFICATIONS" "$TOPIC_INTERACTIONS") || return 1
  checkpoints=$(q "SELECT partition, argMax(lifecycle_offset, version), argMax(notifications_offset, version),
    argMax(interactions_offset, version) FROM checkpoints GROUP BY partition FORMAT TabSeparated" 2>/dev/null) || return 1
  python3 -c '
import json, sys
topics = json.loads(sys.argv[1])
done = {}
for line in sys.argv[2].splitlines():
    partition, *offsets = map(int, line.split("\t"))
    done[partition] = offsets
for i, topic in enumerate(topics):
    for partition, end in enumerate(topic.get("latest_offsets", [])):
        if done.get(partition, [0, 0, 0])[i] < end:
            sys.exit(1)' "$topics" "$checkpoints"
}

# Demo traffic: the same seed always gives the same records and figures.
DEMO_ARGS=(--seed "${DEMO_SEED:-42}" --tenants 3 --campaigns 8 --jobs 3 --users 200 --poison 10)
expected=$LOCAL_DIR/demo-expected.json
processor_started=0

# tansu's memory storage serves fetches from whole stored batches only: a
# processor that resumes at a checkpoint inside a batch never gets the
# records before the next batch (tests/tests/broker.rs).
if [[ $storage == memory://* ]]; then
  log "warning: the broker runs with $storage: after a processor restart or rebalance, records" \
    "may be skipped (processor_offset_gaps_total counts them). The default sqlite storage has no such problem."
fi
# ClickHouse keeps the processor's checkpoints (Kafka offsets); a volatile
# broker forgets the offsets they point at.
if [[ $storage == memory://* ]] &&
  [ "$(q "SELECT count() FROM checkpoints" 2>/dev/null || echo 0)" -gt 0 ]; then
  log "warning: the broker runs with $storage (volatile) but database $CLICKHOUSE_DATABASE holds" \
    "checkpoints of an earlier broker: the processor resumes at offsets this broker does not have." \
    "Start afresh with: make down && rm -rf $CLICKHOUSE_DATA, or use the default sqlite storage."
fi

# ── HOOK(processor): the stream processor, as a daemon (processor.sh). ──────
if has_bin processor/processor; then
  if has_bin benches/loadgen; then
    # Tenant time zones of the demo traffic, so the rollups use local days.
    "$target/loadgen" "${DEMO_ARGS[@]}" --dry-run --expected "$expected" >/dev/null
    TENANT_TIMEZONES=$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["tenants"]
print(",".join(k + "=" + v["timezone"] for k, v in sorted(t.items())))' "$expected")
    export TENANT_TIMEZONES
  fi
  PROCESSOR_BIN=$target/processor "$here/processor.sh" start
  processor_started=1
else
  log "no processor binary in the workspace yet: not started"
fi

# ── HOOK(loadgen): demo traffic (benches/src/bin/loadgen.rs). ───────────────
if has_bin benches/loadgen; then
  log "producing demo traffic: loadgen ${DEMO_ARGS[*]}"
  "$target/loadgen" "${DEMO_ARGS[@]}" --expected "$expected"
  if [ "$processor_started" = 1 ]; then
    log "waiting for the processor to catch up (its checkpoints reach the end of the input topics)"
    for _ in $(seq 240); do
      caught_up && break
      sleep 0.5
    done
    caught_up || log "warning: the processor has not caught up after 120 s; see $LOCAL_DIR/processor.log"
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["distinct_events"])' "$expected")
    have=$(q "SELECT count() FROM events_raw" 2>/dev/null || echo "?")
    log "events_raw holds $have of $want distinct demo events"
  fi
else
  log "no loadgen binary in the workspace yet: no demo traffic"
fi

# The demo alert rules of a tenant, created unless a rule of that name exists.
#   demo_rules API KEY
demo_rules() {
  local api=$1 key=$2 have name body
  have=$(curl -fsS -H "Authorization: Bearer $key" "$api/v1/alert-rules" 2>/dev/null |
    python3 -c 'import json, sys; print("\n".join(r["name"] for r in json.load(sys.stdin)["rules"]))' 2>/dev/null) || {
    log "warning: the alert routes do not answer ($api/v1/alert-rules); no demo rules"
    return 0
  }
  while IFS='|' read -r name body; do
    grep -qxF "$name" <<<"$have" && continue
    curl -fsS -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -X POST "$api/v1/alert-rules" --data-binary "$body" ||
      log "warning: could not create the demo rule '$name'"
  done <<'RULES'
Low interaction rate|{"name": "Low interaction rate", "severity": "warning", "min_sent_users": 20, "condition": {"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 75}, "message": "{{campaign_id}}: interaction rate {{value}}% is below {{threshold}}%"}
Campaign in ERROR|{"name": "Campaign in ERROR", "severity": "critical", "condition": {"kind": "status", "status": "ERROR"}}
RULES
}

# The demo report of a tenant: the weekly overview from its system template
# with a schedule (Mondays 08:00, made once), and a manual run of it now;
# prints the signed download links of its XLSX and PDF.
#   demo_report API KEY
demo_report() {
  local api=$1 key=$2 id run state links
  local json=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
  id=$(curl -fsS "${json[@]}" "$api/v1/report-definitions?search=Demo%20weekly%20overview" 2>/dev/null |
    python3 -c 'import json, sys; d = json.load(sys.stdin)["definitions"]; print(d[0]["id"] if d else "")' 2>/dev/null) || {
    log "warning: the report routes do not answer ($api/v1/report-definitions); no demo report"
    return 0
  }
  if [ -z "$id" ]; then
    id=$(curl -fsS "${json[@]}" -X POST "$api/v1/report-templates/system.weekly-tenant-overview/instantiate" \
      --data-binary '{"name": "Demo weekly overview", "formats": ["xlsx", "pdf", "csv"], "parameters": {"range": {"type": "last_n_days", "n": 3650}}}' |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') || { log "warning: could not create the demo report"; return 0; }
    curl -fsS -o /dev/null "${json[@]}" -X PUT "$api/v1/report-definitions/$id/schedule" \
      --data-binary '{"preset": {"type": "weekly", "weekday": "monday", "time": "08:00"}}' ||
      log "warning: could not schedule the demo report"
  fi
  run=$(curl -fsS "${json[@]}" -X POST "$api/v1/report-definitions/$id/run" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') || { log "warning: could not run the demo report"; return 0; }
  state=queued
  for _ in $(seq 120); do
    state=$(curl -fsS "${json[@]}" "$api/v1/report-runs/$run" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
    case $state in succeeded|failed|cancelled) break ;; esac
    sleep 0.5
  done
  log "demo report run $run: $state"
  [ "$state" = succeeded ] || return 0
  links=""
  for format in xlsx pdf; do
    links+="  $format: $(curl -fsS "${json[@]}" "$api/v1/report-runs/$run/download?format=$format&expires_in=86400" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["download_url"])')
"
  done
  reports_example="  curl -s -H 'Authorization: Bearer $key' $api/v1/report-definitions/$id
  curl -s -H 'Authorization: Bearer $key' '$api/v1/report-runs?definition_id=$id&limit=5'
  curl -s -H 'Authorization: Bearer $key' $api/v1/report-templates
Download links of the run (no key needed; valid 24 h):
${links%$'\n'}"
}

# ── HOOK(query-api): the dashboards' HTTP API, with demo keys. ─────────────
query_api_line="not started (no query-api binary)"
curl_example=""
alerts_example=""
reports_example=""
if has_bin query-api/query-api; then
  tenants=()
  campaign=""
  if [ -f "$expected" ]; then
    mapfile -t tenants < <(python3 -c '
import json, sys
for t in sorted(json.load(open(sys.argv[1]))["tenants"]): print(t)' "$expected")
    # A campaign of the first tenant, and the weeks its traffic spans.
    read -r campaign from to < <(python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
t = sys.argv[2]
c = min(r["campaign_id"] for r in e["reports"] if r["job_id"] is None and r["tenant_id"] == t)
weeks = [p["period_start"] for p in e["rollups"]["week"] if p["tenant_id"] == t]
print(c, min(weeks), max(weeks))' "$expected" "${tenants[0]}")
  fi
  QUERY_API_BIN=$target/query-api "$here/query-api.sh" start "${tenants[@]}"
  query_api_line=$("$here/query-api.sh" status || true)
  if [ -n "$campaign" ]; then
    key=$("$here/query-api.sh" key "${tenants[0]}")
    api=http://${LISTEN_ADDR:-127.0.0.1:8080}
    curl_example="  open $api/ui/ in a browser and sign in with the key $key (the web dashboard, live)
  curl -s -H 'Authorization: Bearer $key' $api/v1/campaigns/$campaign/report
  curl -N -H 'Authorization: Bearer $key' $api/v1/campaigns/stream    # every commit, pushed (SSE)
  curl -s -H 'Authorization: Bearer $key' '$api/v1/overview?granularity=week&from=$from&to=$to'"
    # ── Alerts: two rules per tenant (made once); the processor evaluates
    # them on the reports it holds, the API stores what fires.
    for t in "${tenants[@]}"; do
      demo_rules "$api" "$("$here/query-api.sh" key "$t")"
    done
    log "waiting for the demo rules to fire (the processor evaluates them at its next snapshot)"
    alerts_total=0
    for _ in $(seq 60); do
      alerts_total=$(curl -fsS -H "Authorization: Bearer $key" "$api/v1/alerts?limit=1" 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])' 2>/dev/null || echo 0)
      [ "$alerts_total" -gt 0 ] && break
      sleep 0.5
    done
    log "tenant ${tenants[0]} has $alerts_total alert(s)"
    # ── Scheduled reports: a definition with a schedule, and a run now.
    demo_report "$api" "$key"
    alerts_example="  curl -s -H 'Authorization: Bearer $key' '$api/v1/alerts?status=firing&limit=5'
  curl -s -H 'Authorization: Bearer $key' $api/v1/alerts/stats
  curl -s -H 'Authorization: Bearer $key' $api/v1/alert-rules
  curl -N -H 'Authorization: Bearer $key' -H 'Last-Event-ID: 0' $api/v1/alerts/stream    # live pushes (SSE)"
  fi
fi

echo
echo "The local stack is running (make status; make down stops it all):"
echo "  Kafka (tansu)  $KAFKA_BROKERS, storage $storage, log $TANSU_DIR/tansu.log"
echo "  ClickHouse     $CLICKHOUSE_URL (native port $CLICKHOUSE_TCP_PORT), database $CLICKHOUSE_DATABASE, logs in $CLICKHOUSE_DATA"
echo "  PostgreSQL     $POSTGRES_HOST:$POSTGRES_PORT, database $POSTGRES_DATABASE (deploy/local/postgres.sh psql), data in $POSTGRES_DATA"
if [ "$processor_started" = 1 ]; then
  echo "  processor      metrics http://${METRICS_ADDR:-127.0.0.1:9464}/metrics, health http://${METRICS_ADDR:-127.0.0.1:9464}/healthz, log $LOCAL_DIR/processor.log"
fi
echo "  query API      $query_api_line"
[ ! -f "$expected" ] || echo "  expected demo figures (computed by loadgen): $expected"
echo
echo "Topics (partitions, messages held, latest offset per partition; again: deploy/local/topics.sh describe):"
"$here/topics.sh" describe | sed 's/^/  /' || true
if [ -n "$curl_example" ]; then
  echo
  echo "Ask the query API (the demo key of tenant ${tenants[0]}; keys: deploy/local/query-api.sh key TENANT):"
  echo "$curl_example"
fi
if [ -n "$alerts_example" ]; then
  echo
  echo "Alerts (rules evaluated by the processor as reports change; stored in PostgreSQL $DATABASE_URL):"
  echo "$alerts_example"
  admin_key=$("$here/query-api.sh" key admin 2>/dev/null || true)
  if [ -n "$admin_key" ]; then
    echo
    echo "Tenants registry (the platform admin key; zone changes reach the processor without a restart):"
    echo "  curl -s -H 'Authorization: Bearer $admin_key' $api/v1/tenants"
  fi
fi
if [ -n "$reports_example" ]; then
  echo
  echo "Scheduled reports (definitions in PostgreSQL, files in ${REPORT_STORAGE:-$LOCAL_DIR/reports}):"
  echo "$reports_example"
fi
echo
if q "EXISTS TABLE campaign_reports" 2>/dev/null | grep -qx 1; then
  cat <<TXT
Look at the data:
  clickhouse-client --port $CLICKHOUSE_TCP_PORT --database $CLICKHOUSE_DATABASE \\
    --query "SELECT tenant_id, campaign_id, status, sent_users, interacted_users, completed_users, round(interaction_rate, 1) AS rate FROM campaign_reports FINAL WHERE job_id = '' ORDER BY tenant_id, campaign_id LIMIT 20"
  curl -s '$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE' --data-binary \\
    "SELECT tenant_id, period_start, uniqExactMerge(sent_users) AS sent, sumMerge(interactions) AS interactions FROM rollup_campaign_weekly GROUP BY tenant_id, period_start ORDER BY tenant_id, period_start"
  curl -s '$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE' --data-binary "SELECT count() FROM events_raw"
TXT
else
  cat <<TXT
ClickHouse (no campaign tables yet: the processor creates them on start):
  clickhouse-client --port $CLICKHOUSE_TCP_PORT --query "SELECT name, engine FROM system.tables WHERE database = '$CLICKHOUSE_DATABASE'"
  curl -s '$CLICKHOUSE_URL/' --data-binary "SELECT version()"
TXT
fi
